/**
 * Status → typed error, as k8s.io/apimachinery `pkg/api/errors` classifies it: by
 * `reason` first, by HTTP code when the reason is absent or unknown
 * (`reasonAndCodeForError`), with the `IsNotFound`-style guards and `SuggestsClientDelay`.
 */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import {
  AlreadyExistsError,
  ApiStatusError,
  BadRequestError,
  ConflictError,
  ExpiredError,
  ForbiddenError,
  GoneError,
  InternalServerError,
  InvalidError,
  isAlreadyExists,
  isConflict,
  isForbidden,
  isGone,
  isInvalid,
  isNotFound,
  isResourceExpired,
  isServerTimeout,
  isTimeout,
  isTooManyRequests,
  isUnauthorized,
  NotFoundError,
  RequestTimeoutError,
  ServerTimeoutError,
  ServiceUnavailableError,
  type Status,
  suggestsClientDelay,
  TimeoutError,
  TooManyRequestsError,
  UnauthorizedError,
} from '../../lib/api/errors.ts'
import { KubevisorError } from '../../lib/errors.ts'

const status = (code: number, reason?: string, extra: Partial<Status> = {}): Status => ({ kind: 'Status', apiVersion: 'v1', status: 'Failure', message: `m${code}`, code, ...(reason ? { reason } : {}), ...extra })

describe('ApiStatusError.from: one class per reason', () => {
  const cases: [number, string, typeof ApiStatusError, string][] = [
    [404, 'NotFound', NotFoundError, 'ERR_API_NOT_FOUND'],
    [409, 'AlreadyExists', AlreadyExistsError, 'ERR_API_ALREADY_EXISTS'],
    [409, 'Conflict', ConflictError, 'ERR_API_CONFLICT'],
    [422, 'Invalid', InvalidError, 'ERR_API_INVALID'],
    [400, 'BadRequest', BadRequestError, 'ERR_API_BAD_REQUEST'],
    [401, 'Unauthorized', UnauthorizedError, 'ERR_API_UNAUTHORIZED'],
    [403, 'Forbidden', ForbiddenError, 'ERR_API_FORBIDDEN'],
    [410, 'Gone', GoneError, 'ERR_API_GONE'],
    [410, 'Expired', ExpiredError, 'ERR_API_EXPIRED'],
    [429, 'TooManyRequests', TooManyRequestsError, 'ERR_API_TOO_MANY_REQUESTS'],
    [504, 'Timeout', TimeoutError, 'ERR_API_TIMEOUT'],
    [500, 'ServerTimeout', ServerTimeoutError, 'ERR_API_SERVER_TIMEOUT'],
    [500, 'InternalError', InternalServerError, 'ERR_API_INTERNAL'],
    [503, 'ServiceUnavailable', ServiceUnavailableError, 'ERR_API_SERVICE_UNAVAILABLE'],
  ]
  for (const [code, reason, Class, errCode] of cases) {
    test(`${code} ${reason} → ${Class.name} with code ${errCode}, still an ApiStatusError and a KubevisorError`, () => {
      const err = ApiStatusError.from(code, status(code, reason))
      assert.ok(err instanceof Class)
      assert.ok(err instanceof ApiStatusError)
      assert.ok(err instanceof KubevisorError)
      assert.equal(err.code, errCode)
      assert.equal(err.name, Class.name)
      assert.equal(err.status, code)
      assert.equal(err.reason, reason)
      assert.equal(err.message, `HTTP ${code}: m${code}`)
    })
  }

  test('the reason wins over the code (a 409 AlreadyExists is not a Conflict)', () => {
    const err = ApiStatusError.from(409, status(409, 'AlreadyExists'))
    assert.ok(isAlreadyExists(err))
    assert.ok(!isConflict(err))
  })

  test('no body or an unknown reason falls back to the HTTP code (reasonAndCodeForError)', () => {
    assert.ok(isNotFound(ApiStatusError.from(404, undefined)))
    assert.ok(isConflict(ApiStatusError.from(409, status(409, 'SomethingNew'))))
    assert.ok(isInvalid(ApiStatusError.from(422, status(422, ''))))
    assert.ok(isTimeout(ApiStatusError.from(504, undefined)))
    const plain = ApiStatusError.from(418, undefined)
    assert.equal(plain.constructor, ApiStatusError)
    assert.equal(plain.code, 'ERR_API_STATUS')
    assert.equal(plain.message, 'HTTP 418')
  })

  test('Invalid carries its causes; a server-side apply Conflict carries the conflicting fields', () => {
    const invalid = ApiStatusError.from(
      422,
      status(422, 'Invalid', { details: { name: 'x', kind: 'ConfigMap', causes: [{ reason: 'FieldValueRequired', field: 'metadata.name', message: 'Required value' }] } }),
    )
    assert.ok(invalid instanceof InvalidError)
    assert.deepEqual(invalid.causes, [{ reason: 'FieldValueRequired', field: 'metadata.name', message: 'Required value' }])
    assert.equal(invalid.details?.name, 'x')
    const conflict = ApiStatusError.from(409, status(409, 'Conflict', { details: { causes: [{ reason: 'FieldManagerConflict', field: '.data.a', message: 'conflict with "other"' }] } }))
    assert.ok(conflict instanceof ConflictError)
    assert.equal(conflict.causes[0]?.reason, 'FieldManagerConflict')
    assert.deepEqual((ApiStatusError.from(409, status(409, 'Conflict')) as ConflictError).causes, [])
  })

  test('Retry-After wins over details.retryAfterSeconds; either is suggestsClientDelay', () => {
    const header = ApiStatusError.from(429, status(429, 'TooManyRequests', { details: { retryAfterSeconds: 9 } }), { retryAfterSeconds: 3 })
    assert.ok(isTooManyRequests(header))
    assert.equal(header.retryAfterSeconds, 3)
    const body = ApiStatusError.from(500, status(500, 'ServerTimeout', { details: { retryAfterSeconds: 2 } }))
    assert.ok(isServerTimeout(body))
    assert.equal(suggestsClientDelay(body), 2)
    assert.equal(suggestsClientDelay(new Error('x')), undefined)
  })

  test('410: isGone covers Gone and Expired, isResourceExpired only Expired', () => {
    const expired = ApiStatusError.from(410, status(410, 'Expired'))
    const gone = ApiStatusError.from(410, status(410, 'Gone'))
    assert.ok(isGone(expired) && isGone(gone))
    assert.ok(isResourceExpired(expired))
    assert.ok(!isResourceExpired(gone))
  })

  test('guards are false for other errors and non-errors', () => {
    for (const guard of [isNotFound, isConflict, isForbidden, isUnauthorized, isInvalid, isGone, isTooManyRequests, isTimeout]) {
      assert.equal(guard(new Error('x')), false)
      assert.equal(guard(undefined), false)
      assert.equal(guard(ApiStatusError.from(418, undefined)), false)
    }
  })

  test('the old constructor form (status, message, options) keeps working for the watch layer', () => {
    const err = new ApiStatusError(429, 'slow down', { retryAfterSeconds: 5, reason: 'TooManyRequests' })
    assert.equal(err.status, 429)
    assert.equal(err.retryAfterSeconds, 5)
    assert.equal(err.code, 'ERR_API_STATUS')
  })

  test('a client-side deadline is a RequestTimeoutError and isTimeout', () => {
    const err = new RequestTimeoutError('GET', '/api/v1/pods', 50)
    assert.ok(isTimeout(err))
    assert.equal(err.code, 'ERR_API_REQUEST_TIMEOUT')
    assert.equal(err.timeoutMs, 50)
  })
})
