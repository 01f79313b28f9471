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

/** A handle on a process. Compare handles with `===`; a handle stays valid (and `alive: false`) after exit. */
export interface Pid {
  /** Unique within this Node.js process, never reused. */
  readonly id: number
  /** The registered name, while registered. */
  readonly name: string | undefined
  /** False once the process has exited. */
  readonly alive: boolean
  /** `#<id>` or `#<id>(<name>)`, for logs. */
  toString(): string
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
   * Trap exits: exit signals from linked processes (other than the parent) arrive as
   * {@link Exit} messages in `handleInfo` instead of stopping this process.
   */
  trapExit(on: boolean): void
  /** Links this process to `other`: when one exits abnormally, the other is told (see `trapExit`). */
  link(other: Pid): void
  /** Removes a link to `other` (no-op if there is none); neither is told when the other exits. */
  unlink(other: Pid): void
  /** Monitors `other`: a {@link Down} message arrives in `handleInfo` when it exits (at once if it has). */
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

/** Sent to a trapping process when a linked process exits. */
export class Exit {
  /** The linked process that exited (undefined when the signal came from outside a process). */
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
 *   throws (reason: the error), and on an orderly exit signal (supervisor shutdown,
 *   `GenServer.stop`, a linked crash when not trapping exits); never on a brutal kill.
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
   * The parent: linked before `init` runs (start_link). An exit signal from the parent
   * always stops the process in order, running `terminate`, even when trapping exits.
   */
  link?: Pid
  /** Start with exits trapped (see {@link ProcessContext.trapExit}). */
  trapExit?: boolean
}
