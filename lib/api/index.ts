/**
 * One HTTP path to the API server, shared by the watch client and the write client:
 * {@link ApiTransport} (KubeConfig auth, keep-alive agents, bodies as bytes), discovery
 * ({@link resolveResource}) and the typed `Status` errors ({@link ApiStatusError} and one
 * subclass per reason, with `isNotFound(err)`-style guards).
 */
export {
  AlreadyExistsError,
  ApiStatusError,
  type ApiStatusErrorOptions,
  BadRequestError,
  ConflictError,
  ExpiredError,
  ForbiddenError,
  GoneError,
  InternalServerError,
  InvalidError,
  isAlreadyExists,
  isBadRequest,
  isConflict,
  isForbidden,
  isGone,
  isInternalError,
  isInvalid,
  isNotFound,
  isResourceExpired,
  isServerTimeout,
  isServiceUnavailable,
  isTimeout,
  isTooManyRequests,
  isUnauthorized,
  MethodNotAllowedError,
  NotFoundError,
  RequestEntityTooLargeError,
  RequestTimeoutError,
  ServerTimeoutError,
  ServiceUnavailableError,
  type Status,
  type StatusCause,
  type StatusDetails,
  suggestsClientDelay,
  TimeoutError,
  TooManyRequestsError,
  UnauthorizedError,
  UnsupportedMediaTypeError,
} from './errors.ts'
export { discoverGroupVersion, type GroupVersionResources, hasSubresource, invalidateDiscovery, type ResolvedResource, resolveResource, servesGroupVersion } from './discovery.ts'
export { type ApiRequest, ApiTransport, type ApiTransportOptions, KEEP_ALIVE_AGENT_OPTIONS, keepAliveAgent, parseRetryAfter, readBody, responseChunks } from './transport.ts'
export { InvalidThrottleError, type ThrottleOptions, ThrottledTransport } from './throttle.ts'
