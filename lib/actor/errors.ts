import { KubevisorError } from '../errors.ts'
import type { ExitReason } from './types.ts'

/** A call, cast or send named a process that does not exist or has exited (`ERR_NOPROC`). */
export class NoProcessError extends KubevisorError {
  /** The pid or name that was asked for. */
  readonly ref: string
  constructor(ref: string) {
    super('ERR_NOPROC', `no process ${ref}: it was never started or has exited`)
    this.ref = ref
  }
}

/** A `call` got no reply within its timeout (`ERR_CALL_TIMEOUT`). The process keeps running. */
export class CallTimeoutError extends KubevisorError {
  /** The timeout that passed. */
  readonly timeoutMs: number
  constructor(ref: string, timeoutMs: number) {
    super('ERR_CALL_TIMEOUT', `call to ${ref} got no reply within ${timeoutMs} ms`)
    this.timeoutMs = timeoutMs
  }
}

/**
 * A callback called its own process (`ERR_CALLING_SELF`, `reason` `'calling_self'`): the
 * reply could only come from the callback that waits for it, so the call fails at once
 * instead of waiting out its timeout, as gen_server:call/3 exits with `calling_self`.
 */
export class CallingSelfError extends KubevisorError {
  /** Always `'calling_self'`, the exit reason gen_server:call/3 gives for this mistake. */
  readonly reason = 'calling_self'
  constructor(ref: string) {
    super('ERR_CALLING_SELF', `${ref} called itself from its own callback: that call could never be answered (calling_self)`)
  }
}

/** The process exited before it replied to a `call` (`ERR_EXITED`); `reason` is its exit reason. */
export class ProcessExitedError extends KubevisorError {
  /** The exit reason of the process. */
  readonly reason: ExitReason
  constructor(ref: string, reason: ExitReason) {
    super('ERR_EXITED', `${ref} exited before replying (${describeReason(reason)})`, { cause: reason })
    this.reason = reason
  }
}

/** `init` returned `stop(reason)` or threw (`ERR_START`); `reason` is what it gave. */
export class StartError extends KubevisorError {
  /** What `init` gave as `stop(reason)`, or the error it threw. */
  readonly reason: ExitReason
  constructor(ref: string, reason: ExitReason) {
    super('ERR_START', `${ref} failed to start: ${describeReason(reason)}`, { cause: reason })
    this.reason = reason
  }
}

/** `init` did not return within the start timeout; the process was killed (`ERR_START_TIMEOUT`). */
export class StartTimeoutError extends KubevisorError {
  constructor(ref: string, timeoutMs: number) {
    super('ERR_START_TIMEOUT', `${ref} did not finish init within ${timeoutMs} ms and was killed`)
  }
}

/** `init` returned `ignore()` (`ERR_IGNORED`): no process runs. Supervisors keep the child spec. */
export class InitIgnoredError extends KubevisorError {
  constructor(ref: string) {
    super('ERR_IGNORED', `${ref} returned ignore from init`)
  }
}

/** The name is taken by a live process (`ERR_ALREADY_STARTED`); `pid` is that process. */
export class AlreadyStartedError extends KubevisorError {
  /** The live process that holds the name. */
  readonly pid: unknown
  constructor(name: string, pid: unknown) {
    super('ERR_ALREADY_STARTED', `name ${JSON.stringify(name)} is already registered to ${String(pid)}`)
    this.pid = pid
  }
}

/** `GenServer.stop` waited longer than its timeout for the process to exit (`ERR_STOP_TIMEOUT`). */
export class StopTimeoutError extends KubevisorError {
  constructor(ref: string, timeoutMs: number) {
    super('ERR_STOP_TIMEOUT', `${ref} did not exit within ${timeoutMs} ms of being asked to stop`)
  }
}

/** A behaviour lacks the callback a message needs (`ERR_NO_CALLBACK`); the process crashes with it. */
export class MissingCallbackError extends KubevisorError {
  constructor(ref: string, callback: string) {
    super('ERR_NO_CALLBACK', `${ref} received a message for ${callback}, which its behaviour does not define`)
  }
}

/** A callback returned something that is not a result of the expected form (`ERR_BAD_RESULT`). */
export class BadResultError extends KubevisorError {
  constructor(ref: string, callback: string, result: unknown) {
    super('ERR_BAD_RESULT', `${ref}: ${callback} returned ${describeValue(result)}, not a GenServer result (use ok/reply/noreply/stop)`)
  }
}

/** A short, log-safe description of an exit reason. */
export function describeReason(reason: ExitReason): string {
  if (reason instanceof Error) return `${reason.name}: ${reason.message}`
  return describeValue(reason)
}

function describeValue(value: unknown): string {
  if (typeof value === 'string') return value
  try {
    const text = JSON.stringify(value)
    if (text === undefined) return String(value)
    return text.length > 200 ? `${text.slice(0, 200)}…` : text
  } catch {
    return Object.prototype.toString.call(value)
  }
}
