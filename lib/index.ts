/**
 * kubevisor: supervised, actor-style Kubernetes watchers for TypeScript.
 *
 * Start with `Watcher` (a supervised GenServer fed by list/watch), `GenServer` and
 * `Supervisor` (trees of processes), the work queue for controllers, and `Client` for
 * writing back (apply, update, status, conflict retry, Events). Testing helpers
 * (the embedded API server, `FakeClock`) live in `kubevisor/testing`.
 */
// Processes: GenServer behaviours, their results, links/monitors, names.
export {
  AlreadyStartedError,
  BadResultError,
  type Behaviour,
  CallingSelfError,
  CallTimeoutError,
  Down,
  Exit,
  type ExitReason,
  type From,
  GenServer,
  ignore,
  InitIgnoredError,
  isCleanExit,
  MissingCallbackError,
  NoProcessError,
  noreply,
  ok,
  type Pid,
  ProcessExitedError,
  type ProcessContext,
  Registry,
  reply,
  type ServerRef,
  StartError,
  type StartOptions,
  StartTimeoutError,
  StopTimeoutError,
  stop,
  TIMEOUT,
  type ViaName,
} from './actor/index.ts'
// Supervision trees.
export {
  type ChildEnv,
  ChildOperationError,
  type ChildSpec,
  ChildStartError,
  DynamicSupervisor,
  InvalidChildSpecError,
  Supervisor,
  type SupervisorOptions,
  supervisor,
  worker,
} from './supervisor/index.ts'
// Work queues for controllers: fair, stingy, delaying, rate limited; optional metrics.
export {
  BucketRateLimiter,
  DelayingQueue,
  defaultControllerRateLimiter,
  ItemExponentialFailureRateLimiter,
  ItemFastSlowRateLimiter,
  MaxOfRateLimiter,
  prometheusQueueMetrics,
  QueueDrainTimeoutError,
  type QueueMetricsProvider,
  type RateLimiter,
  RateLimitingQueue,
  type RateLimitingQueueOptions,
  WorkQueue,
  type WorkQueueOptions,
} from './queue/index.ts'
// Watchers: supervised GenServers fed by list/watch, their stores and typed failures.
export {
  type EventType,
  InvalidWatcherOptionsError,
  type Plain,
  Watcher,
  type WatcherBehaviour,
  type WatcherContext,
  type WatcherOptions,
  type WatcherRef,
  type WatcherResume,
  prometheusWatchMetrics,
  type WatchMetrics,
} from './watcher/index.ts'
export { type IndexFunc, type Indexers, namespaceIndex, type Store, UnknownIndexError } from './store/index.ts'
// Shared watches: one watch and store per target, many consumers at their own pace.
export {
  type InformerEvent,
  InformerFactory,
  type InformerFactoryOptions,
  type InformerTarget,
  InvalidInformerError,
  SharedInformer,
  Subscription,
} from './informer/index.ts'
// Dispatch: the ways controllers receive work, on shared informers and the work queue.
export { DefaultHandler, DispatchFailedError, type EventKind, EventLoop, type EventLoopOptions, eventKey, type Handler, InvalidHandlerError, parseEventKey } from './dispatch/index.ts'
export { type BackgroundTask, InvalidResourceError, ResourceController, type ResourceControllerOptions, type UpsertDeleteResource } from './dispatch/index.ts'
export {
  alwaysRetry,
  type ErrorAction,
  type ErrorHandler,
  type EventsOptions,
  Resource,
  type ResourceEvent,
  ResourceEventStream,
  ResourceKey,
  type ResourceOptions,
  ResourceStreamStoppedError,
  resource,
  retryUpTo,
  type StreamHandler,
  type StreamWorkerOptions,
  type StreamWorkerRef,
  startStreamWorker,
  streamWorker,
} from './dispatch/index.ts'
// The reconcile loop: controller(name).for(...).owns(...).watches(...).build(reconcile).
export {
  Controller,
  type ControllerEvent,
  type ControllerOptions,
  type ControllerRunOptions,
  controller,
  type EventHandler,
  EventChannel,
  handlers,
  InvalidControllerError,
  InvalidLabelSelectorError,
  LabelSelector,
  type LabelSelectorSpec,
  type Predicate,
  predicates,
  type ReconcileContext,
  type Reconciler,
  type ReconcileResult,
  type Request,
  type Source,
  sources,
  TerminalError,
} from './dispatch/index.ts'
export { InitialListFailedError, WatchError, WatchFailedError, WatchStartFailedError } from './watch/errors.ts'
// Writing to the cluster: the client, conflict retry, create-or-update, owners, finalizers, conditions, Events.
export {
  AlreadyOwnedError,
  type ApplyOptions,
  addFinalizer,
  Client,
  type ClientOptions,
  type CollectionRef,
  type Condition,
  type CreateOrUpdateOptions,
  containsFinalizer,
  createOrPatch,
  createOrUpdate,
  DEFAULT_BACKOFF,
  DEFAULT_RETRY,
  type DeleteOptions,
  ensureFinalizer,
  ensureNoFinalizer,
  EventRecorder,
  type EventRecorderOptions,
  type EventRecorderStats,
  type EventType as KubeEventType,
  findStatusCondition,
  getControllerOf,
  hasControllerReference,
  ignoreNotFound,
  InvalidOwnerError,
  InvalidRequestError,
  isStatusConditionFalse,
  isStatusConditionTrue,
  type ListOptions,
  type MutateFn,
  MutateKeyChangedError,
  type MutateResult,
  type ObjectLike,
  type ObjectList,
  type ObjectRef,
  type OperationResult,
  onError,
  type OwnerReference,
  type PatchOptions,
  type PatchType,
  type RetryBackoff,
  refOf,
  removeFinalizer,
  removeOwnerReference,
  removeStatusCondition,
  retryOnConflict,
  type Scale,
  setControllerReference,
  setOwnerReference,
  setStatusCondition,
  type WriteOptions,
} from './client/index.ts'
// The API server's answers as typed errors (shared by watchers and the client), with isNotFound(err)-style guards.
export {
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
} from './api/index.ts'
/** Client-side throttling (client-go's QPS/Burst) for a {@link Client}: `new Client(kc, { transport: new ThrottledTransport(kc, { qps, burst }) })`. */
export { InvalidThrottleError, type ThrottleOptions, ThrottledTransport } from './api/index.ts'
export { dropManagedFields, type KubeObject, type ObjectMeta, type PartialObjectMetadata } from './watch/object.ts'
// Resuming a watcher with what you persisted; a watcher's backoff in progress.
export type { KnownRecord } from './watch/known.ts'
export type { PendingWait } from './watch/runner.ts'
export { KubevisorError } from './errors.ts'
export { createLogger, type Logger } from './log.ts'
export { Backoff, type BackoffPolicy, CLIENT_GO_BACKOFF, RESTART_BACKOFF } from './time/backoff.ts'
export { type Clock, systemClock } from './time/clock.ts'
// Introspection (read-only, synchronous, free unless called): what the observer page shows,
// usable without it. The page itself is the `kubevisor/observer` entry point.
export { formatProcessStatus, inspectProcess, type ProcessSnapshot } from './actor/index.ts'
export { type ChildSnapshot, inspectSupervisor, type SupervisorSnapshot } from './supervisor/index.ts'
export { forceRelist, inspectWatcher, type WatcherSnapshot } from './watcher/index.ts'
export { inspectWorkerPool, type WorkerPoolSnapshot } from './dispatch/index.ts'
// The operator process: Manager (leader election on Leases, probes, metrics, signals).
export {
  CacheSyncTimeoutError,
  type Checker,
  GracefulShutdownTimeoutError,
  InvalidBindAddressError,
  InvalidFlagError,
  InvalidLeaderElectionError,
  InvalidManagerError,
  type LeaderElectionRecord,
  LeaderElectionLostError,
  type LeaderElectionStatus,
  LeaderElector,
  LeaseLock,
  Manager,
  type ManagerFlags,
  type ManagerLeaderElectionOptions,
  type ManagerOptions,
  type ManagerStatus,
  parseManagerFlags,
  type ResourceLock,
} from './manager/index.ts'
export {
  type AdmissionContext,
  type AdmissionHandler,
  type AdmissionRequest,
  type AdmissionResult,
  DEFAULT_WEBHOOK_CERT_DIR,
  DEFAULT_WEBHOOK_PORT,
  InvalidWebhookError,
  type JsonPatchOperation,
  WebhookServer,
  type WebhookServerOptions,
} from './manager/index.ts'
export { prometheusReconcileMetrics, type ReconcileMetricsProvider } from './dispatch/index.ts'
export {
  DEFAULT_VIRTUAL_NODES,
  drainLabel,
  InvalidRingError,
  InvalidShardingError,
  objectKey as ringObjectKey,
  Ring,
  type RingSpec,
  type RingStatus,
  Sharder,
  Sharding,
  type ShardingOptions,
  ShardLease,
  type ShardState,
  shardLabel,
  shardState,
  ShardingWebhook,
  type ShardingWebhookConfigurationOptions,
  shardingWebhookConfiguration,
} from './sharding/index.ts'
