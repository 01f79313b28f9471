/**
 * `Status` objects shaped like the real kube-apiserver's (k8s.io/apimachinery
 * `pkg/api/errors/errors.go`): the same `code`, `reason`, `message` wording and `details`,
 * so clients (and a later conformance run against a real server) see the same failures.
 */
import { KubevisorError } from '../../errors.ts'

/** One cause inside `Status.details.causes`. */
export interface StatusCause {
  /** Why, e.g. `FieldValueRequired`, `FieldValueInvalid`. */
  reason?: string
  /** Human-readable detail. */
  message?: string
  /** The field path it is about, e.g. `metadata.name`. */
  field?: string
}

/** The `meta/v1` `Status` object every failed request answers with. */
export interface Status {
  /** Always `Status`. */
  kind: 'Status'
  /** Always `v1`. */
  apiVersion: 'v1'
  /** Empty, except `continue` on a 410 for an expired continue token. */
  metadata: {
    /** A token continuing the list at the latest state (only on a 410 for an expired continue token). */
    continue?: string
  }
  /** `Failure` for every error answer. */
  status: 'Failure' | 'Success'
  /** Human-readable, worded as kube-apiserver words it. */
  message: string
  /** Machine-readable: `NotFound`, `AlreadyExists`, `Conflict`, `Invalid`, `Expired`, `TooManyRequests`, … */
  reason: string
  /** What the failure is about. */
  details?: {
    /** The name of the object concerned. */
    name?: string
    /** Its API group (absent for the core group). */
    group?: string
    /** Its resource (plural, e.g. `pods`), or kind for `Invalid`. */
    kind?: string
    /** Its uid, when known. */
    uid?: string
    /** Field-level causes (e.g. of a 422 Invalid). */
    causes?: StatusCause[]
    /** For 429 and some 5xx: when to try again (also sent as `Retry-After`). */
    retryAfterSeconds?: number
  }
  /** The HTTP status code. */
  code: number
}

/**
 * A failed request to the embedded API server, carrying the `Status` object it answers
 * with. Thrown inside the server's request handling and turned into the HTTP response;
 * `code` is `ERR_APISERVER_STATUS`.
 *
 * Not to be confused with `ApiStatusError` from `kubevisor`, which is what a *client*
 * (the watch engine) throws when a server answered non-2xx: a numeric HTTP `status`,
 * `ERR_API_STATUS`.
 */
export class ApiServerStatusError extends KubevisorError {
  /** The Status body sent to the client. */
  readonly status: Status
  /** Extra response headers (e.g. `Retry-After`). */
  readonly headers: Record<string, string>

  /** When set, the response body is this text instead of the Status JSON (with a Content-Type in `headers`). */
  readonly text: string | undefined

  constructor(status: Status, headers: Record<string, string> = {}, text?: string) {
    super('ERR_APISERVER_STATUS', status.message)
    this.status = status
    this.headers = headers
    this.text = text
  }
}

/** Group + resource (plural), as in Go's `schema.GroupResource`. */
export interface GroupResource {
  group: string
  resource: string
}

function qualified(gr: GroupResource): string {
  return gr.group ? `${gr.resource}.${gr.group}` : gr.resource
}

function failure(code: number, reason: string, message: string, details?: Status['details']): Status {
  // Same key order as the real server's JSON: ..., reason, details, code.
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, ...(details ? { details } : {}), code }
}

function detailsFor(gr: GroupResource, name: string): NonNullable<Status['details']> {
  const d: NonNullable<Status['details']> = { name }
  if (gr.group) d.group = gr.group
  d.kind = gr.resource
  return d
}

/** 404 `pods "x" not found`. */
export function notFound(gr: GroupResource, name: string): ApiServerStatusError {
  return new ApiServerStatusError(failure(404, 'NotFound', `${qualified(gr)} "${name}" not found`, detailsFor(gr, name)))
}

/** 404 for a resource a served group version does not have (a Status, as the real server's API handlers answer). */
export function pathNotFound(): ApiServerStatusError {
  return new ApiServerStatusError(failure(404, 'NotFound', 'the server could not find the requested resource', {}))
}

/**
 * 500 with no reason: how kube-apiserver answers an error that is not an API status
 * (`responsewriters.ErrorToAPIStatus` of a plain error), e.g. a watch from a
 * resourceVersion that does not parse.
 */
export function unwrappedError(message: string): ApiServerStatusError {
  return new ApiServerStatusError({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, code: 500 } as Status)
}

/**
 * 404 for a path no API handler serves (an unknown group or version, a namespaced path of
 * a cluster-scoped resource, anything else): kube-apiserver's HTTP mux answers these with
 * Go's `http.NotFound`, the plain text `404 page not found`, not a Status. Clients read both
 * as NotFound.
 */
export function pageNotFound(): ApiServerStatusError {
  return new ApiServerStatusError(failure(404, 'NotFound', '404 page not found', {}), { 'Content-Type': 'text/plain; charset=utf-8', 'X-Content-Type-Options': 'nosniff' }, '404 page not found\n')
}

/** 409 `pods "x" already exists`. */
export function alreadyExists(gr: GroupResource, name: string): ApiServerStatusError {
  return new ApiServerStatusError(failure(409, 'AlreadyExists', `${qualified(gr)} "${name}" already exists`, detailsFor(gr, name)))
}

/** 409 Conflict on a stale resourceVersion (optimistic concurrency). */
export function conflict(gr: GroupResource, name: string, why?: string): ApiServerStatusError {
  const reason = why ?? 'the object has been modified; please apply your changes to the latest version and try again'
  return new ApiServerStatusError(
    failure(409, 'Conflict', `Operation cannot be fulfilled on ${qualified(gr)} "${name}": ${reason}`, detailsFor(gr, name)),
  )
}

/** One field error, as `field.Error` renders it. */
export interface FieldError {
  /** e.g. `FieldValueRequired`, `FieldValueInvalid`, `FieldValueForbidden`, `FieldValueNotSupported`. */
  type: 'FieldValueRequired' | 'FieldValueInvalid' | 'FieldValueForbidden' | 'FieldValueNotSupported' | 'FieldValueTooLong'
  field: string
  /** The full rendered message after `field: `, e.g. `Required value: name is required`. */
  detail: string
}

/** `Required value: ...` */
export function required(field: string, detail: string): FieldError {
  return { type: 'FieldValueRequired', field, detail: `Required value: ${detail}` }
}

/** `Invalid value: "x": ...` */
export function invalidValue(field: string, value: unknown, detail: string): FieldError {
  const shown = typeof value === 'string' ? JSON.stringify(value) : String(value)
  return { type: 'FieldValueInvalid', field, detail: `Invalid value: ${shown}: ${detail}` }
}

/** `Forbidden: ...` */
export function forbidden(field: string, detail: string): FieldError {
  return { type: 'FieldValueForbidden', field, detail: `Forbidden: ${detail}` }
}

/** `Unsupported value: "x": supported values: ...` */
export function unsupported(field: string, value: string, supported: string[]): FieldError {
  return {
    type: 'FieldValueNotSupported',
    field,
    detail: `Unsupported value: ${JSON.stringify(value)}: supported values: ${supported.map((s) => JSON.stringify(s)).join(', ')}`,
  }
}

function renderErrors(errs: FieldError[]): string {
  const parts = errs.map((e) => `${e.field}: ${e.detail}`)
  return parts.length === 1 ? parts[0]! : `[${parts.join(', ')}]`
}

/** 422 `Pod "x" is invalid: metadata.name: Required value: ...` (group-qualified kind). */
export function invalid(group: string, kind: string, name: string, errs: FieldError[]): ApiServerStatusError {
  const gk = group ? `${kind}.${group}` : kind
  // Go's omitempty: an options object (ListOptions, PatchOptions...) has no name.
  const details: NonNullable<Status['details']> = name ? { name } : {}
  if (group) details.group = group
  if (kind) details.kind = kind
  details.causes = errs.map((e) => ({ reason: e.type, message: e.detail, field: e.field }))
  return new ApiServerStatusError(failure(422, 'Invalid', `${gk} "${name}" is invalid: ${renderErrors(errs)}`, details))
}

/** 400 BadRequest with a free message. */
export function badRequest(message: string): ApiServerStatusError {
  return new ApiServerStatusError(failure(400, 'BadRequest', message))
}

/** 410 Expired (`NewResourceExpired`): too old resourceVersion or continue token. */
export function expired(message: string): ApiServerStatusError {
  return new ApiServerStatusError(failure(410, 'Expired', message))
}

/**
 * 410 Expired for a continue token of a compacted snapshot. Like the real server
 * (apiserver storage/etcd3 `handleCompactedErrorForPaging`), `metadata.continue` holds a token
 * that continues from the same key at the latest state (an inconsistent continuation).
 */
export function expiredContinue(message: string, inconsistentContinue: string): ApiServerStatusError {
  const status = failure(410, 'Expired', message)
  status.metadata = { continue: inconsistentContinue }
  return new ApiServerStatusError(status)
}

/** The Status of a 410 watch ERROR event, as the watch cache sends it. */
export function tooOldResourceVersion(requested: number, oldest: number): Status {
  return failure(410, 'Expired', `too old resource version: ${requested} (${oldest})`)
}

/** 405 MethodNotAllowed. */
export function methodNotAllowed(): ApiServerStatusError {
  return new ApiServerStatusError(failure(405, 'MethodNotAllowed', 'the server does not allow this method on the requested resource', {}))
}

/** 415 UnsupportedMediaType for a patch type the resource does not accept. */
export function unsupportedMediaType(contentType: string, accepted: string[]): ApiServerStatusError {
  return new ApiServerStatusError(
    failure(
      415,
      'UnsupportedMediaType',
      `the body of the request was in an unknown format - accepted media types include: ${accepted.join(', ')}`,
      { causes: [{ reason: 'UnexpectedHeader', message: contentType, field: 'Content-Type' }] },
    ),
  )
}

/** 413 RequestEntityTooLarge. */
export function entityTooLarge(limit: number): ApiServerStatusError {
  return new ApiServerStatusError(failure(413, 'RequestEntityTooLarge', `Request entity too large: limit is ${limit}`))
}

/** 401 Unauthorized, as the authentication filter answers. */
export function unauthorized(): ApiServerStatusError {
  return new ApiServerStatusError(failure(401, 'Unauthorized', 'Unauthorized'))
}

/** 429 TooManyRequests with `Retry-After`. */
export function tooManyRequests(retryAfterSeconds: number): ApiServerStatusError {
  return new ApiServerStatusError(
    failure(429, 'TooManyRequests', 'Too many requests, please try again later.', { retryAfterSeconds }),
    { 'Retry-After': String(retryAfterSeconds) },
  )
}

/** 500 InternalError (`NewInternalError`). */
export function internalError(message: string): ApiServerStatusError {
  return new ApiServerStatusError(
    failure(500, 'InternalError', `Internal error occurred: ${message}`, { causes: [{ message }] }),
  )
}

/** 504 Timeout for a resourceVersion newer than the server has (watch cache `Too large resource version`). */
export function tooLargeResourceVersion(requested: number, current: number): ApiServerStatusError {
  return new ApiServerStatusError(
    failure(504, 'Timeout', `Timeout: Too large resource version: ${requested}, current: ${current}`, {
      causes: [{ reason: 'ResourceVersionTooLarge', message: 'Too large resource version' }],
      retryAfterSeconds: 1,
    }),
  )
}

/** An arbitrary Status with the given code (for injected watch errors). */
export function statusFor(code: number, reason: string, message: string): Status {
  return failure(code, reason, message)
}

/** 403 `pods "x" is forbidden: ...` (admission refusals such as a terminating namespace). */
export function forbiddenStatus(gr: GroupResource, name: string, message: string, cause?: StatusCause): ApiServerStatusError {
  const details = detailsFor(gr, name)
  if (cause) details.causes = [cause]
  return new ApiServerStatusError(failure(403, 'Forbidden', `${qualified(gr)} "${name}" is forbidden: ${message}`, details))
}

/** 422 Invalid with a free message (a JSON patch operation that does not apply). */
export function unprocessable(message: string): ApiServerStatusError {
  return new ApiServerStatusError(failure(422, 'Invalid', message))
}

/**
 * 409 Conflict of a server-side apply (`errors.NewApplyConflict`): the message lists the
 * conflicting managers and fields; each cause is a `FieldManagerConflict` naming one.
 */
export function applyConflict(message: string, causes: Array<{ manager: string; field: string }>): ApiServerStatusError {
  return new ApiServerStatusError(
    failure(409, 'Conflict', message, {
      causes: causes.map((c) => ({ reason: 'FieldManagerConflict', message: `conflict with ${c.manager}`, field: c.field })),
    }),
  )
}
