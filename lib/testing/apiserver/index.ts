/**
 * The embedded Kubernetes API server. Start with `startApiServer` (server.ts); the rest
 * of this folder is its parts: versioned storage (store.ts), REST semantics (rest.ts),
 * resource types and discovery (resources.ts), selectors, patches, watch streams,
 * request faults, routing, Table printing and TLS.
 */
export type {
  DelayOptions,
  FailNextOptions,
  RequestInfo,
  RequestMatcher,
  WatchMatcher,
} from './faults.ts'
export {
  type ApiServer,
  type ApiServerOptions,
  type ApiServerStats,
  type CopyOptions,
  type InjectWatchErrorOptions,
  type ObjectRef,
  type RequestRecord,
  startApiServer,
} from './server.ts'
export { ApiServerStatusError, type Status, type StatusCause } from './status.ts'
export type { KubeObject, KubeObjectInput, ObjectMeta } from './types.ts'
export type { WatchInfo } from './watch.ts'
export type { ApiServerUser, AuthorizationAttributes, AuthorizationDecision, Authorizer, UserInfo } from './authz.ts'
