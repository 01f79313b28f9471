/**
 * Failed API requests as typed errors: {@link ApiStatusError} and one subclass per
 * `metav1.Status` reason a controller branches on, with `isNotFound(err)`-style guards —
 * k8s.io/apimachinery `pkg/api/errors` (`IsNotFound`, `IsConflict`, `SuggestsClientDelay`, ...).
 *
 * Shared by the watch engine (which reads `status` and `retryAfterSeconds` to choose between
 * relist, backoff and a terminal error) and the write client.
 */
import { KubevisorError } from '../errors.ts'

/** One entry of `Status.details.causes`: which field failed and why (`Invalid` answers list one per field). */
export interface StatusCause {
  /** Machine-readable, e.g. `FieldValueRequired`, `FieldValueInvalid`, `FieldManagerConflict`. */
  reason?: string
  /** Human-readable explanation, e.g. `Required value`; for an apply conflict it names the other field manager. */
  message?: string
  /** The field path, e.g. `metadata.name` or `spec.replicas`. */
  field?: string
}

/** `Status.details`: the object a failure is about, its causes and a suggested delay. */
export interface StatusDetails {
  /** The name of the object the failure is about, when it has one. */
  name?: string
  /** The API group of that object's resource (empty for the core group). */
  group?: string
  /** The resource (plural) or kind the failure is about, as the server wrote it. */
  kind?: string
  /** The uid of that object, when the server knew it (e.g. a failed delete precondition). */
  uid?: string
  /** One entry per failed field or cause; `Invalid` and apply `Conflict` answers list them. */
  causes?: StatusCause[]
  /** The server's suggested wait before retrying, in seconds (`ServerTimeout`, `TooManyRequests`). */
  retryAfterSeconds?: number
}

/** A `meta/v1` `Status` body, as every failed request (and some deletes) answer with. */
export interface Status {
  /** Always `Status` (a delete that answers with the object has another kind). */
  kind?: 'Status'
  /** `v1`. */
  apiVersion?: string
  /** List metadata; rarely set on a `Status`. */
  metadata?: {
    /** A continue token, as on a list. */
    continue?: string
    /** A resource version, as on a list. */
    resourceVersion?: string
  }
  /** `Failure` for errors, `Success` for e.g. a delete answered without the object. */
  status?: 'Success' | 'Failure'
  /** Human-readable description of the failure. */
  message?: string
  /** Machine-readable reason (`NotFound`, `AlreadyExists`, `Conflict`, `Invalid`, `Expired`, ...): {@link ApiStatusError.from} picks the error class by it. */
  reason?: string
  /** The object the failure is about, its causes and a suggested retry delay. */
  details?: StatusDetails
  /** The HTTP status code, repeated in the body. */
  code?: number
}

/** Options of {@link ApiStatusError} and its subclasses. */
export interface ApiStatusErrorOptions {
  /** Seconds to wait before retrying: the `Retry-After` header, else `details.retryAfterSeconds`. */
  retryAfterSeconds?: number | undefined
  /** The `Status.reason` (`NotFound`, `Conflict`, `Expired`, ...). */
  reason?: string | undefined
  /** `Status.details`. */
  details?: StatusDetails | undefined
  /** The whole `Status` body, when the server sent one. */
  body?: Status | undefined
  cause?: unknown
}

/**
 * The API server answered with a non-2xx status. Code `ERR_API_STATUS`; the subclasses
 * (one per reason, e.g. {@link NotFoundError}) have codes of their own, and
 * {@link ApiStatusError.from} picks the right one for a response.
 *
 * @example
 * ```ts
 * try { await client.get({ apiVersion: 'v1', kind: 'ConfigMap', namespace: 'default', name: 'x' }) }
 * catch (err) { if (!isNotFound(err)) throw err }
 * ```
 */
export class ApiStatusError extends KubevisorError {
  /** The HTTP status code. */
  readonly status: number
  /** `Retry-After` in seconds when the server sent one (429, sometimes 503 and 500 ServerTimeout). */
  readonly retryAfterSeconds: number | undefined
  /** The `metav1.Status` reason (`Expired`, `Forbidden`, ...), when the body had one. */
  readonly reason: string | undefined
  /** `Status.details`: name, group, kind, causes. */
  readonly details: StatusDetails | undefined
  /** The whole `Status` body, when the server sent one. */
  readonly body: Status | undefined

  constructor(status: number, message: string, options: ApiStatusErrorOptions = {}) {
    super(new.target.code, message, options.cause === undefined ? undefined : { cause: options.cause })
    this.status = status
    this.retryAfterSeconds = options.retryAfterSeconds ?? options.details?.retryAfterSeconds
    this.reason = options.reason
    this.details = options.details
    this.body = options.body
  }

  /** The stable `code` of this class. */
  static readonly code: string = 'ERR_API_STATUS'

  /**
   * The error for a failed response: the subclass for the body's `reason`, else (no or an
   * unknown reason) for the HTTP status, as apimachinery's `reasonAndCodeForError` does;
   * the base class when neither names one.
   */
  static from(status: number, body: Status | undefined, options: { retryAfterSeconds?: number | undefined; message?: string; cause?: unknown } = {}): ApiStatusError {
    const reason = typeof body?.reason === 'string' && body.reason !== '' ? body.reason : undefined
    const Class = (reason !== undefined ? BY_REASON.get(reason) : undefined) ?? BY_STATUS.get(status) ?? ApiStatusError
    const text = options.message ?? (typeof body?.message === 'string' && body.message !== '' ? `HTTP ${status}: ${body.message.slice(0, 2000)}` : `HTTP ${status}`)
    const details = body?.details !== null && typeof body?.details === 'object' ? body.details : undefined
    return new Class(status, text, { retryAfterSeconds: options.retryAfterSeconds, reason, details, body, cause: options.cause })
  }
}

/** 404 `NotFound`: the object (or its namespace, or the resource itself) does not exist. */
export class NotFoundError extends ApiStatusError {
  static override readonly code: string = 'ERR_API_NOT_FOUND'
}

/** 409 `AlreadyExists`: a create named an object that exists. */
export class AlreadyExistsError extends ApiStatusError {
  static override readonly code: string = 'ERR_API_ALREADY_EXISTS'
}

/**
 * 409 `Conflict`: the object changed since it was read (a stale `resourceVersion`), or a
 * server-side apply conflicts with another field manager — then `causes` lists each field
 * with reason `FieldManagerConflict` and the manager in its message. Retry with
 * {@link retryOnConflict} (re-reading first), or apply with `force`.
 */
export class ConflictError extends ApiStatusError {
  static override readonly code: string = 'ERR_API_CONFLICT'

  /** The causes of the conflict (`details.causes`), empty when the server gave none. */
  get causes(): StatusCause[] {
    return this.details?.causes ?? []
  }
}

/** 422 `Invalid`: the object failed validation; {@link InvalidError.causes} names each field. */
export class InvalidError extends ApiStatusError {
  static override readonly code: string = 'ERR_API_INVALID'

  /** One cause per invalid field (`details.causes`), empty when the server gave none. */
  get causes(): StatusCause[] {
    return this.details?.causes ?? []
  }
}

/** 400 `BadRequest`: the request itself is malformed (a bad patch, a missing `fieldManager`, an unknown field under `Strict` validation). */
export class BadRequestError extends ApiStatusError {
  static override readonly code: string = 'ERR_API_BAD_REQUEST'
}

/** 401 `Unauthorized`: the credentials were refused. */
export class UnauthorizedError extends ApiStatusError {
  static override readonly code: string = 'ERR_API_UNAUTHORIZED'
}

/** 403 `Forbidden`: RBAC or an admission plugin refused the request (also: creating in a terminating namespace). */
export class ForbiddenError extends ApiStatusError {
  static override readonly code: string = 'ERR_API_FORBIDDEN'
}

/** 405 `MethodNotAllowed`: the resource does not support the verb. */
export class MethodNotAllowedError extends ApiStatusError {
  static override readonly code: string = 'ERR_API_METHOD_NOT_ALLOWED'
}

/** 415 `UnsupportedMediaType`: e.g. a strategic merge patch sent to a custom resource. */
export class UnsupportedMediaTypeError extends ApiStatusError {
  static override readonly code: string = 'ERR_API_UNSUPPORTED_MEDIA_TYPE'
}

/** 410 `Gone`: the requested resource version is gone. {@link ExpiredError} is its `Expired` form. */
export class GoneError extends ApiStatusError {
  static override readonly code: string = 'ERR_API_GONE'
}

/** 410 `Expired`: a resource version or continue token too old to serve (relist from scratch). */
export class ExpiredError extends GoneError {
  static override readonly code: string = 'ERR_API_EXPIRED'
}

/** 429 `TooManyRequests`: throttled (API priority and fairness); wait {@link ApiStatusError.retryAfterSeconds}. */
export class TooManyRequestsError extends ApiStatusError {
  static override readonly code: string = 'ERR_API_TOO_MANY_REQUESTS'
}

/** 504 `Timeout`: the server could not finish the request in time (it may still complete). */
export class TimeoutError extends ApiStatusError {
  static override readonly code: string = 'ERR_API_TIMEOUT'
}

/** 500 `ServerTimeout`: the server could not serve the request in time, a retry is suggested (`retryAfterSeconds`). */
export class ServerTimeoutError extends ApiStatusError {
  static override readonly code: string = 'ERR_API_SERVER_TIMEOUT'
}

/** 500 `InternalError`: the server failed (an etcd error, a webhook that crashed). */
export class InternalServerError extends ApiStatusError {
  static override readonly code: string = 'ERR_API_INTERNAL'
}

/** 503 `ServiceUnavailable`: the server (or an aggregated API behind it) is not ready. */
export class ServiceUnavailableError extends ApiStatusError {
  static override readonly code: string = 'ERR_API_SERVICE_UNAVAILABLE'
}

/** 413 `RequestEntityTooLarge`: the request body is over the server's limit. */
export class RequestEntityTooLargeError extends ApiStatusError {
  static override readonly code: string = 'ERR_API_ENTITY_TOO_LARGE'
}

type StatusErrorClass = new (status: number, message: string, options?: ApiStatusErrorOptions) => ApiStatusError

/** `metav1.StatusReason` → class (apimachinery `pkg/apis/meta/v1/types.go`). */
const BY_REASON = new Map<string, StatusErrorClass>([
  ['NotFound', NotFoundError],
  ['AlreadyExists', AlreadyExistsError],
  ['Conflict', ConflictError],
  ['Invalid', InvalidError],
  ['BadRequest', BadRequestError],
  ['Unauthorized', UnauthorizedError],
  ['Forbidden', ForbiddenError],
  ['MethodNotAllowed', MethodNotAllowedError],
  ['UnsupportedMediaType', UnsupportedMediaTypeError],
  ['Gone', GoneError],
  ['Expired', ExpiredError],
  ['TooManyRequests', TooManyRequestsError],
  ['Timeout', TimeoutError],
  ['ServerTimeout', ServerTimeoutError],
  ['InternalError', InternalServerError],
  ['ServiceUnavailable', ServiceUnavailableError],
  ['RequestEntityTooLarge', RequestEntityTooLargeError],
])

/** HTTP status → class, for bodies without a (known) reason: apimachinery's `reasonAndCodeForError` fallback. */
const BY_STATUS = new Map<number, StatusErrorClass>([
  [400, BadRequestError],
  [401, UnauthorizedError],
  [403, ForbiddenError],
  [404, NotFoundError],
  [405, MethodNotAllowedError],
  [409, ConflictError],
  [410, GoneError],
  [413, RequestEntityTooLargeError],
  [415, UnsupportedMediaTypeError],
  [422, InvalidError],
  [429, TooManyRequestsError],
  [500, InternalServerError],
  [503, ServiceUnavailableError],
  [504, TimeoutError],
])

/** `IsNotFound`: a 404 / `NotFound` answer. */
export function isNotFound(err: unknown): err is NotFoundError {
  return err instanceof NotFoundError
}
/** `IsAlreadyExists`: a create found the name taken. */
export function isAlreadyExists(err: unknown): err is AlreadyExistsError {
  return err instanceof AlreadyExistsError
}
/** `IsConflict`: a stale `resourceVersion` or a server-side apply field conflict. */
export function isConflict(err: unknown): err is ConflictError {
  return err instanceof ConflictError
}
/** `IsInvalid`: a 422 validation failure. */
export function isInvalid(err: unknown): err is InvalidError {
  return err instanceof InvalidError
}
/** `IsBadRequest`: a 400 answer. */
export function isBadRequest(err: unknown): err is BadRequestError {
  return err instanceof BadRequestError
}
/** `IsUnauthorized`: a 401 answer. */
export function isUnauthorized(err: unknown): err is UnauthorizedError {
  return err instanceof UnauthorizedError
}
/** `IsForbidden`: a 403 answer. */
export function isForbidden(err: unknown): err is ForbiddenError {
  return err instanceof ForbiddenError
}
/**
 * A 410: `Gone` or `Expired`. Differs from apimachinery's `IsGone`, which is true for the
 * `Gone` reason only: both mean "what you asked for is too old, start over". Use
 * {@link isResourceExpired} for `Expired` alone.
 */
export function isGone(err: unknown): err is GoneError {
  return err instanceof GoneError
}
/** `IsResourceExpired`: a 410 `Expired` (a resource version or continue token too old). */
export function isResourceExpired(err: unknown): err is ExpiredError {
  return err instanceof ExpiredError
}
/** `IsTooManyRequests`: throttled; `err.retryAfterSeconds` says how long to wait. */
export function isTooManyRequests(err: unknown): err is TooManyRequestsError {
  return err instanceof TooManyRequestsError
}
/** `IsTimeout`: a 504 `Timeout`, or a request that this process gave up on ({@link RequestTimeoutError}). */
export function isTimeout(err: unknown): err is TimeoutError | RequestTimeoutError {
  return err instanceof TimeoutError || err instanceof RequestTimeoutError
}
/** `IsServerTimeout`: a 500 `ServerTimeout`. */
export function isServerTimeout(err: unknown): err is ServerTimeoutError {
  return err instanceof ServerTimeoutError
}
/** `IsInternalError`: a 500 `InternalError`. */
export function isInternalError(err: unknown): err is InternalServerError {
  return err instanceof InternalServerError
}
/** `IsServiceUnavailable`: a 503. */
export function isServiceUnavailable(err: unknown): err is ServiceUnavailableError {
  return err instanceof ServiceUnavailableError
}

/**
 * `SuggestsClientDelay`: the seconds the server asked to wait before retrying
 * (`Retry-After` or `details.retryAfterSeconds`), or `undefined`.
 */
export function suggestsClientDelay(err: unknown): number | undefined {
  return err instanceof ApiStatusError ? err.retryAfterSeconds : undefined
}

/**
 * The request got no answer within its timeout (the client's own deadline, not a server
 * `Timeout` status). Code `ERR_API_REQUEST_TIMEOUT`. The write may or may not have
 * happened on the server.
 */
export class RequestTimeoutError extends KubevisorError {
  /** The deadline that passed, in ms. */
  readonly timeoutMs: number

  constructor(method: string, path: string, timeoutMs: number, options?: { cause?: unknown }) {
    super('ERR_API_REQUEST_TIMEOUT', `${method} ${path}: no answer within ${timeoutMs} ms`, options)
    this.timeoutMs = timeoutMs
  }
}
