/**
 * `kubevisor/testing`: what users need to test their watchers and controllers without a
 * cluster — a fake clock and an embedded Kubernetes API server.
 */
export { FakeClock, settle } from './fake-clock.ts'
export { type RunUntilAborted, runTestController } from '../dispatch/test-run.ts'
export { ENVTEST_KUBERNETES_VERSION, EnvtestAssetsNotFoundError, EnvtestStartError, findEnvtestAssets, startKubeApiServer, type EnvtestAssets, type EnvtestUser, type KubeApiServer, type StartKubeApiServerOptions } from './kube-apiserver.ts'
export {
  type ApiServer,
  type ApiServerOptions,
  type ApiServerStats,
  ApiServerStatusError,
  type CopyOptions,
  type DelayOptions,
  type FailNextOptions,
  type InjectWatchErrorOptions,
  type KubeObject,
  type KubeObjectInput,
  type ObjectMeta,
  type ObjectRef,
  type RequestInfo,
  type RequestMatcher,
  type RequestRecord,
  type Status,
  type StatusCause,
  startApiServer,
  type WatchInfo,
  type WatchMatcher,
} from './apiserver/index.ts'
export type { ApiServerUser, AuthorizationAttributes, AuthorizationDecision, Authorizer, UserInfo } from './apiserver/index.ts'
