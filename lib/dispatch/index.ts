/**
 * Dispatch: the ways controllers receive work, on shared informers and work queues.
 * `WorkerPool` is what each style runs its handlers on.
 */
export { type HandleResult, TerminalError, WorkerPool, type WorkerPoolOptions } from './workers.ts'
export { DispatchFailedError } from './dispatch-process.ts'
export { DefaultHandler, type EventKind, EventLoop, type EventLoopOptions, type EventLoopStats, eventKey, type Handler, InvalidHandlerError, parseEventKey } from './event-loop.ts'
export {
  alwaysRetry,
  DEFAULT_DONE_TIMEOUT_MS,
  type ErrorAction,
  type ErrorHandler,
  type EventsOptions,
  Resource,
  type ResourceEvent,
  ResourceEventStream,
  ResourceKey,
  type ResourceOptions,
  type ResourceSource,
  ResourceStreamStoppedError,
  resource,
  retryUpTo,
} from './resource.ts'
export { type StreamHandler, type StreamWorkerOptions, type StreamWorkerRef, startStreamWorker, streamWorker } from './resource-worker.ts'
export {
  type BackgroundTask,
  InvalidResourceError,
  ResourceController,
  type ResourceControllerOptions,
  type ResourceControllerStats,
  type UpsertDeleteResource,
} from './resource-controller.ts'
export { type RunUntilAborted, runTestController } from './test-run.ts'
// The reconcile loop (controller-runtime's model): builder, predicates, handlers, sources.
export {
  Controller,
  ControllerBuilder,
  type ControllerOptions,
  type ControllerRunOptions,
  controller,
  type ForOptions,
  InvalidControllerError,
  type OwnsOptions,
  type ReconcileContext,
  type ReconcileFunc,
  type Reconciler,
  type ReconcileResult,
  type WatchesOptions,
} from './controller.ts'
export type { EnqueueOwnerOptions, EventHandler, OwnerType } from './handlers.ts'
export * as handlers from './handlers.ts'
export { InvalidLabelSelectorError, LabelSelector, type LabelSelectorRequirement, type LabelSelectorSpec } from '../selector/labels.ts'
export type { Predicate, PredicateFuncs } from './predicates.ts'
export * as predicates from './predicates.ts'
export { type ControllerEvent, parseRequestKey, type Request, requestKey } from './request.ts'
export { EventChannel, type Source, type SourceContext, type SourceStream } from './sources.ts'
export * as sources from './sources.ts'
export { inspectWorkerPool, type WorkerPoolSnapshot } from './introspect.ts'
export {
  CONTROLLER_RUNTIME_METRICS,
  isPanicLike,
  prometheusReconcileMetrics,
  RECONCILE_TIME_BUCKETS,
  type ReconcileMetrics,
  type ReconcileMetricsProvider,
  type ReconcileOutcome,
} from './metrics.ts'
