import type { Logger } from '../log.ts'
import type { Clock } from '../time/clock.ts'
import type { Registry } from './registry.ts'

/**
 * Why a process exited. `'normal'`, `'shutdown'` and `{ shutdown: x }` are clean exits;
 * anything else — a thrown `Error`, `'killed'` after a brutal kill, any other value given
 * to `stop` — is a crash: logged once with its cause, and restarted by `transient`
 * supervision.
 */
export type ExitReason = 'normal' | 'shutdown' | { shutdown: unknown } | 'killed' | Error | unknown

/** True for the clean exit reasons: `'normal'`, `'shutdown'`, `{ shutdown: x }`. */
export function isCleanExit(reason: ExitReason): boolean {
  return (
    reason === 'normal' ||
    reason === 'shutdown' ||
    (typeof reason === 'object' && reason !== null && !(reason instanceof Error) && 'shutdown' in reason)
  )
}

/** What a {@link Pid} stands for inside the runtime. */
interface PidTarget {
  readonly id: number
  readonly name: string | undefined
  readonly alive: boolean
  toString(): string
}

let targetOf: (pid: Pid) => PidTarget

/**
 * A handle on a process, as an Erlang pid: it identifies the process and says whether it
 * is alive, and nothing more — no state, no mailbox. Each process has exactly one, so
 * compare handles with `===`; a handle stays valid (and `alive: false`) after exit.
 * Only the runtime creates them.
 */
export class Pid {
  readonly #target: PidTarget

  /** @internal Created by the runtime, one per process. */
  constructor(target: PidTarget) {
    this.#target = target
  }

  static {
    targetOf = (pid) => pid.#target
  }

  /** Unique within this Node.js process, never reused. */
  get id(): number {
    return this.#target.id
  }

  /** The registered name, while registered. */
  get name(): string | undefined {
    return this.#target.name
  }

  /** False once the process has exited. */
  get alive(): boolean {
    return this.#target.alive
  }

  /** `#<id>` or `#<id>(<name>)`, for logs. */
  toString(): string {
    return this.#target.toString()
  }

  /** The same `#<id>` / `#<id>(<name>)` string as {@link Pid.toString}, so a pid in a logged or serialized object reads as its handle, never as process state. */
  toJSON(): string {
    return this.#target.toString()
  }

  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return `Pid<${this.#target.toString()}>`
  }
}

/** @internal The runtime object behind a pid (the runtime narrows it to its process). */
export function pidTarget(pid: Pid): PidTarget {
  return targetOf(pid)
}

/** A name in a specific registry, for processes registered outside the default one. */
export interface ViaName {
  /** The registry the name lives in. */
  readonly registry: Registry
  /** The name registered there. */
  readonly name: string
}

/** What `call`, `cast`, `send` and `stop` accept: a pid, a name in the default registry, or a {@link ViaName}. */
export type ServerRef = Pid | string | ViaName

/** The opaque sender of a `call`; pass it to `GenServer.reply` to answer later (after `noreply`). */
export interface From<R = unknown> {
  /** @internal brand */
  readonly __replyType?: R
}

/** Optional follow-up of a callback: a GenServer `timeout` or a `continue`. */
export interface After {
  /**
   * If no message arrives within this many ms, `handleInfo(TIMEOUT)` runs. Any message
   * cancels it. Mutually exclusive with `continue`.
   */
  timeout?: number
  /** Run `handleContinue(value)` before the next message. */
  continue?: unknown
}

/** `init` results. */
export type InitResult<S> =
  | { readonly tag: 'ok'; readonly state: S; readonly after: After | undefined }
  | { readonly tag: 'ignore' }
  | { readonly tag: 'stop'; readonly reason: ExitReason }

/** `handleCall` results. */
export type CallResult<S, R> =
  | { readonly tag: 'reply'; readonly value: R; readonly state: S; readonly after: After | undefined }
  | NoReply<S>
  | StopResult<S, R>

/** `handleCast`, `handleInfo` and `handleContinue` results. */
export type NoReplyResult<S> = NoReply<S> | StopResult<S, never>

export interface NoReply<S> {
  readonly tag: 'noreply'
  readonly state: S
  readonly after: After | undefined
}

export interface StopResult<S, R> {
  readonly tag: 'stop'
  readonly reason: ExitReason
  readonly state: S
  /** For `handleCall`: a reply sent before `terminate` runs. */
  readonly reply: { value: R } | undefined
}

/** Everything a callback can do besides returning a result. One object per process. */
export interface ProcessContext {
  /** This process. */
  readonly self: Pid
  /** A pino child logger bound to this process's pid and name. */
  readonly log: Logger
  /** The clock the process runs on. */
  readonly clock: Clock
  /**
   * Trap exits: exit signals from linked processes (other than the parent) and from
   * `GenServer.exit` arrive as {@link Exit} messages at the end of the mailbox, in
   * `handleInfo`, instead of killing this process. `'kill'` cannot be trapped.
   */
  trapExit(on: boolean): void
  /**
   * Links this process to `other`: when one exits abnormally, the other is told (see
   * `trapExit`). Linking to a process that already exited sends this one an exit signal
   * `'noproc'` (erlang:link/1): it dies of it unless trapping exits.
   */
  link(other: Pid): void
  /** Removes a link to `other` (no-op if there is none); neither is told when the other exits. */
  unlink(other: Pid): void
  /**
   * Monitors `other`: a {@link Down} message arrives in `handleInfo` when it exits, with
   * its reason; with reason `'noproc'` at once if it already has (erlang:monitor/2).
   */
  monitor(other: Pid): MonitorRef
  /** Stops a monitor: no {@link Down} message for it arrives afterwards. */
  demonitor(ref: MonitorRef): void
  /** Delivers `msg` to this process's `handleInfo` after `ms` on its clock. */
  sendAfter(msg: unknown, ms: number): TimerRef
  /** Cancels a `sendAfter`; returns false if it already fired or was cancelled. */
  cancelTimer(ref: TimerRef): boolean
}

/** Returned by `monitor`. */
export type MonitorRef = number & { readonly __monitor?: true }
/** Returned by `sendAfter`. */
export type TimerRef = number & { readonly __timer?: true }

/** Sent to a trapping process when a linked process exits, or on `GenServer.exit`. */
export class Exit {
  /** The process the signal came from; undefined for `GenServer.exit` called outside any process. */
  readonly from: Pid | undefined
  /** Its exit reason. */
  readonly reason: ExitReason
  constructor(from: Pid | undefined, reason: ExitReason) {
    this.from = from
    this.reason = reason
  }
}

/** Sent to a monitoring process when the monitored one exits. */
export class Down {
  /** What `monitor` returned. */
  readonly ref: MonitorRef
  /** The monitored process. */
  readonly pid: Pid
  /** Its exit reason (also when it had already exited when monitored: Erlang would say `noproc`). */
  readonly reason: ExitReason
  constructor(ref: MonitorRef, pid: Pid, reason: ExitReason) {
    this.ref = ref
    this.pid = pid
    this.reason = reason
  }
}

/** The info message delivered when a `timeout` from a callback result expires. */
export const TIMEOUT: unique symbol = Symbol('kubevisor.timeout')

type Awaitable<T> = T | Promise<T>

/**
 * A GenServer behaviour: the callbacks a process runs, in the style of Elixir's
 * `GenServer` / Erlang's `gen_server`. State is threaded through: each callback gets the
 * current state and returns a result carrying the next one.
 *
 * - `init(arg, ctx)` → `ok(state, after?)` · `ignore()` · `stop(reason)`. `start` resolves
 *   only after it returns; a throw is a failed start (terminate does not run).
 * - `handleCall(msg, from, state, ctx)` → `reply(value, state, after?)` · `noreply(state, after?)`
 *   (answer later with `GenServer.reply(from, value)`) · `stop(reason, state, { reply }?)`.
 * - `handleCast(msg, state, ctx)`, `handleInfo(msg, state, ctx)`, `handleContinue(arg, state, ctx)`
 *   → `noreply(state, after?)` · `stop(reason, state)`.
 * - `terminate(reason, state, ctx)` runs when a callback returns `stop`, when a callback
 *   throws (reason: the error), on an orderly stop (supervisor shutdown, `GenServer.stop`)
 *   and, when trapping exits, on its parent's exit. Never on a kill, nor on an untrapped
 *   exit signal (a linked process's crash, `GenServer.exit`): as in Erlang, that process
 *   dies at once, before handling another message. Release outside resources that must
 *   not outlive the process in a `GenServer.onExit` listener, or trap exits.
 *
 * Callbacks may be async; messages are handled one at a time, in arrival order. A missing
 * `handleCall`/`handleCast` crashes the process when such a message arrives (as in Elixir);
 * a missing `handleInfo` logs and drops the message.
 */
export interface Behaviour<A = any, S = any, Call = any, Cast = any, Info = any, R = any> {
  /** Builds the first state from `arg`: `ok(state, after?)`, `ignore()` or `stop(reason)`. `start` resolves after it returns. */
  init(arg: A, ctx: ProcessContext): Awaitable<InitResult<S>>
  /** Answers a `call`: `reply(value, state)`, `noreply(state)` (answer later with `GenServer.reply(from, …)`) or `stop(reason, state, { reply }?)`. */
  handleCall?(msg: Call, from: From<R>, state: S, ctx: ProcessContext): Awaitable<CallResult<S, R>>
  /** Handles a `cast` (no answer): `noreply(state)` or `stop(reason, state)`. */
  handleCast?(msg: Cast, state: S, ctx: ProcessContext): Awaitable<NoReplyResult<S>>
  /** Handles everything else: `send`, `sendAfter` timers, {@link TIMEOUT}, {@link Exit} (when trapping exits), {@link Down}. */
  handleInfo?(msg: Info | Exit | Down | typeof TIMEOUT, state: S, ctx: ProcessContext): Awaitable<NoReplyResult<S>>
  /** Runs before the next message after a result with `{ continue: arg }`. */
  handleContinue?(arg: any, state: S, ctx: ProcessContext): Awaitable<NoReplyResult<S>>
  /** Cleans up on `stop`, on a thrown callback error and on an orderly shutdown; never on a brutal kill. */
  terminate?(reason: ExitReason, state: S, ctx: ProcessContext): Awaitable<void>
  /**
   * Optional, for introspection only (OTP's `format_status`): what `GenServer.inspect`
   * and the observer show of the state. Return a copy with secrets removed or replaced;
   * without it the state is shown as is (after the observer's own redaction of
   * credential-looking fields). Must be synchronous and must not mutate the state.
   */
  formatStatus?(state: S): unknown
  /** Optional, for introspection only: a short name of the behaviour (OTP's `initial_call` module), e.g. `'Counter'`. */
  readonly behaviourName?: string
}

/** Options of `GenServer.start`. */
export interface StartOptions {
  /** Register under this name (in `registry`, or the default one). Taken names fail the start. */
  name?: string
  /** The registry for `name`; defaults to the process-wide default registry. */
  registry?: Registry
  /** Root logger; the process logs through a child bound to its pid and name. */
  logger?: Logger
  /** Clock for timeouts and timers; defaults to the system clock. */
  clock?: Clock
  /** Max ms for `init`; on expiry the process is killed and start rejects. Default: no limit. */
  timeout?: number
  /**
   * The parent: linked before `init` runs (start_link). When the parent exits, a process
   * trapping exits stops in mailbox order, running `terminate` (as gen_server does); one
   * not trapping dies at once with the parent's reason (unless it is `normal`).
   */
  link?: Pid
  /** Start with exits trapped (see {@link ProcessContext.trapExit}). */
  trapExit?: boolean
}
