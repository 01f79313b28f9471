import { KubevisorError } from '../errors.ts'

/**
 * The API server's failures are typed in `lib/api` (shared with the write client); the
 * engine reads `status` and `retryAfterSeconds` of {@link ApiStatusError} to choose between
 * relist, backoff and a terminal {@link WatchError}. Re-exported here for the watch layer's
 * existing imports.
 */
export { ApiStatusError } from '../api/errors.ts'

/** Which step of list/watch failed, as kube-rs `watcher::Error` names them. */
export type WatchPhase = 'list' | 'watch-start' | 'watch'

/**
 * A list/watch failure that the engine will not retry by itself: 401 Unauthorized,
 * 403 Forbidden, 404 Not Found (the resource or namespace does not exist, e.g. a CRD not
 * installed) and other 4xx answers that mean the request itself is wrong.
 *
 * `retryable` is `false` for all of these: repeating the same request fails the same way
 * until something outside the watcher changes (credentials, RBAC, the CRD). They are
 * handed to the owner (the Watcher's supervisor), which may restart it with its own
 * backoff; the engine never spins on them. Transient failures (429, 5xx, network, 410,
 * stalls) never surface as errors: the engine retries them with backoff.
 *
 * Subclasses name the phase like kube-rs: {@link InitialListFailedError},
 * {@link WatchStartFailedError}, {@link WatchFailedError}.
 */
export class WatchError extends KubevisorError {
  /** The phase that failed. */
  readonly phase: WatchPhase
  /** The HTTP status, when the failure was an HTTP answer. */
  readonly status: number | undefined
  /** Whether retrying the same request can succeed without outside change: always `false` for terminal errors. */
  readonly retryable: boolean

  constructor(
    code: string,
    phase: WatchPhase,
    message: string,
    options: { status?: number | undefined; retryable?: boolean; cause?: unknown } = {},
  ) {
    super(code, message, options.cause === undefined ? undefined : { cause: options.cause })
    this.phase = phase
    this.status = options.status
    this.retryable = options.retryable ?? false
  }
}

/** The list (initial or relist) was refused: kube-rs `InitialListFailed`. Code `ERR_WATCH_LIST_FAILED`. */
export class InitialListFailedError extends WatchError {
  constructor(message: string, options: { status?: number | undefined; cause?: unknown } = {}) {
    super('ERR_WATCH_LIST_FAILED', 'list', message, options)
  }
}

/** Opening the watch was refused: kube-rs `WatchStartFailed`. Code `ERR_WATCH_START_FAILED`. */
export class WatchStartFailedError extends WatchError {
  constructor(message: string, options: { status?: number | undefined; cause?: unknown } = {}) {
    super('ERR_WATCH_START_FAILED', 'watch-start', message, options)
  }
}

/**
 * An open watch failed terminally: kube-rs `WatchFailed`. Code `ERR_WATCH_FAILED`.
 * The engine raises none today — once a watch is open, every failure (a cut stream, an
 * ERROR event, a stall) is retried — but the class completes the phase vocabulary so
 * owners can match on all three.
 */
export class WatchFailedError extends WatchError {
  constructor(message: string, options: { status?: number | undefined; cause?: unknown } = {}) {
    super('ERR_WATCH_FAILED', 'watch', message, options)
  }
}

/** How the engine treats an HTTP status from a list or watch request. */
export type StatusClass = 'gone' | 'throttled' | 'terminal' | 'transient'

/**
 * Classifies an HTTP status: 410 → `gone` (relist), 429 → `throttled` (wait
 * `Retry-After`), 4xx other than 408/410/429 → `terminal` (401, 403, 404, 400, 422, ...),
 * everything else (408, 5xx, anything unexpected) → `transient` (backoff and retry).
 */
export function classifyStatus(status: number): StatusClass {
  if (status === 410) return 'gone'
  if (status === 429) return 'throttled'
  if (status >= 400 && status < 500 && status !== 408) return 'terminal'
  return 'transient'
}
