import { CallingSelfError, NoProcessError, StopTimeoutError } from './errors.ts'
import type { ProcessStatus } from './lifecycle.ts'
import { asProcess, type CallRecord, Process } from './process.ts'
import { defaultRegistry } from './registry.ts'
import { type Behaviour, type ExitReason, type From, type MonitorRef, Pid, type ServerRef, type StartOptions } from './types.ts'

/** Default `call` timeout, as in Elixir and Erlang. */
export const DEFAULT_CALL_TIMEOUT = 5000

function lookup(ref: ServerRef | Process): Process | undefined {
  if (typeof ref === 'string') return found(defaultRegistry.whereis(ref))
  if (ref instanceof Pid) return asProcess(ref)
  if (ref instanceof Process) return ref
  if (ref !== null && typeof ref === 'object' && 'registry' in ref) return found(ref.registry.whereis(ref.name))
  return undefined
}

function found(pid: Pid | undefined): Process | undefined {
  return pid === undefined ? undefined : asProcess(pid)
}

function refText(ref: ServerRef): string {
  if (typeof ref === 'string') return JSON.stringify(ref)
  if (ref instanceof Pid) return ref.toString()
  if (ref !== null && typeof ref === 'object' && 'name' in ref) return JSON.stringify(ref.name)
  return String(ref)
}

/** What `GenServer.info` reports about a live or exited process. */
export interface ProcessInfo {
  id: number
  name: string | undefined
  status: ProcessStatus
  /** Messages waiting in the mailbox. */
  queueLength: number
  /** Linked processes, as pids. */
  links: Pid[]
  /** Processes this one monitors (erlang:process_info `monitors`), with the monitor refs. */
  monitors: { ref: MonitorRef; pid: Pid }[]
  /** Processes monitoring this one (erlang:process_info `monitored_by`). */
  monitoredBy: Pid[]
  trapExit: boolean
  /** Set once exited. */
  exitReason: ExitReason
}

/**
 * GenServer processes: start them, message them, stop them.
 *
 * A process runs a {@link Behaviour}; messages reach it one at a time, in order. Address a
 * process by its {@link Pid}, by a name registered at start (`{ name: 'counter' }`), or by
 * `{ registry, name }`.
 *
 * @example
 * ```ts
 * import { GenServer, ok, reply, noreply, type Behaviour } from 'kubevisor'
 *
 * const Counter: Behaviour<number, number> = {
 *   init: (start) => ok(start),
 *   handleCall: (msg, _from, n) => reply(n, n),        // 'get' → current value
 *   handleCast: (msg, n) => noreply(n + 1),            // 'inc'
 * }
 * const pid = await GenServer.start(Counter, 0, { name: 'counter' })
 * GenServer.cast('counter', 'inc')
 * await GenServer.call('counter', 'get')  // → 1
 * await GenServer.stop(pid)
 * ```
 */
export const GenServer = {
  /**
   * Starts a process running `behaviour` and resolves with its pid once `init` returned
   * `ok`. Rejects with `StartError` (init threw or returned `stop`), `InitIgnoredError`
   * (`ignore`), `StartTimeoutError` (`opts.timeout` passed; the process was killed) or
   * `AlreadyStartedError` (the name is taken).
   */
  start<A, S>(behaviour: Behaviour<A, S>, arg: A, opts: StartOptions = {}): Promise<Pid> {
    if (behaviour === null || typeof behaviour !== 'object' || typeof behaviour.init !== 'function') {
      return Promise.reject(new TypeError('GenServer.start: behaviour must be an object with an init(arg, ctx) function'))
    }
    return new Process(behaviour, opts).start(arg, opts)
  },

  /**
   * Sends `msg` to `handleCall` and waits for the reply. Rejects with `NoProcessError` if
   * no such process is alive, `CallTimeoutError` after `timeoutMs` (default 5000;
   * `Infinity` waits forever), `ProcessExitedError` if it exits before replying, or at
   * once with `CallingSelfError` when a callback calls its own process.
   */
  call<R = unknown>(ref: ServerRef, msg: unknown, timeoutMs: number = DEFAULT_CALL_TIMEOUT): Promise<R> {
    const proc = lookup(ref)
    if (!proc?.alive) return Promise.reject(new NoProcessError(refText(ref)))
    return proc.call(msg, timeoutMs) as Promise<R>
  },

  /** Sends `msg` to `handleCast`. Never throws, even when no such process is alive. */
  cast(ref: ServerRef, msg: unknown): void {
    lookup(ref)?.cast(msg)
  },

  /** Sends `msg` to `handleInfo` (a plain message, Erlang's `!`). Never throws. */
  send(ref: ServerRef, msg: unknown): void {
    lookup(ref)?.info(msg)
  },

  /** Answers a `call` that was left pending with `noreply`. Later or second replies are ignored. */
  reply<R>(from: From<R>, value: R): void {
    ;(from as unknown as CallRecord).resolve(value)
  },

  /**
   * Stops a process in order: once the messages already queued are handled, `terminate`
   * runs with `reason` (default `'normal'`) and the process exits. Resolves when it has
   * exited; rejects with `NoProcessError` if it was not alive, `StopTimeoutError`
   * after `timeoutMs` (the process is then left running, as with Elixir's `GenServer.stop`),
   * or `CallingSelfError` when a callback stops its own process (return `stop(...)` instead).
   */
  async stop(ref: ServerRef, reason: ExitReason = 'normal', timeoutMs = Number.POSITIVE_INFINITY): Promise<void> {
    const proc = lookup(ref)
    if (!proc?.alive) throw new NoProcessError(refText(ref))
    // gen_server:stop/3 on self() exits with calling_self: the stop waits behind the callback awaiting it.
    if (proc.inOwnCallback()) throw new CallingSelfError(refText(ref))
    const exited = proc.exited()
    proc.shutdown(reason)
    if (!Number.isFinite(timeoutMs)) {
      await exited
      return
    }
    let timer: unknown
    const timedOut = new Promise<'timeout'>((resolve) => {
      timer = proc.clock.setTimeout(() => resolve('timeout'), timeoutMs)
    })
    const outcome = await Promise.race([exited, timedOut])
    proc.clock.clearTimeout(timer)
    if (outcome === 'timeout' && proc.alive) throw new StopTimeoutError(refText(ref), timeoutMs)
  },

  /**
   * Sends an exit signal, as Erlang's `exit/2`: `'kill'` kills at once (untrappable, no
   * `terminate`, reason `'killed'`); a process trapping exits receives an `Exit` message
   * at the end of its mailbox; otherwise `'normal'` is ignored and any other reason kills
   * it at once with that reason — before it handles another queued message, without
   * `terminate`. Its name is free as soon as this returns. Use `GenServer.stop` for an
   * orderly stop.
   */
  exit(ref: ServerRef, reason: ExitReason): void {
    lookup(ref)?.exitSignal(reason)
  },

  /** The live process registered under `name` in the default registry. */
  whereis(name: string): Pid | undefined {
    return defaultRegistry.whereis(name)
  },

  /** Resolves with the exit reason once the process has exited (at once if it has). */
  exited(pid: Pid): Promise<ExitReason> {
    return asProcess(pid).exited()
  },

  /**
   * Calls `listener` with the exit reason when `pid` exits — a monitor for code that is
   * not a process. Returns a function that cancels it.
   */
  onExit(pid: Pid, listener: (reason: ExitReason) => void): () => void {
    return asProcess(pid).onExit(listener)
  },

  /**
   * A snapshot of a process's status, mailbox length, links and monitors, for debugging.
   * Other processes appear as pids, never as runtime objects: nothing here exposes their state.
   */
  info(pid: Pid): ProcessInfo {
    const p = asProcess(pid)
    return {
      id: p.id,
      name: p.name,
      status: p.status,
      queueLength: p.queueLength,
      links: p.links,
      monitors: p.monitors,
      monitoredBy: p.monitoredBy,
      trapExit: p.trapping,
      exitReason: p.exitReason,
    }
  },
}
