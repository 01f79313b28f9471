/**
 * kubevisor: supervised, actor-style Kubernetes watchers for TypeScript.
 *
 * Start with `GenServer` (processes) and `Supervisor` (trees of them). Testing helpers
 * (the embedded API server, `FakeClock`) live in `kubevisor/testing`.
 */
// Processes: GenServer behaviours, their results, links/monitors, names.
export {
  type Behaviour,
  CallTimeoutError,
  Down,
  Exit,
  type ExitReason,
  type From,
  GenServer,
  ignore,
  isCleanExit,
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
  stop,
  TIMEOUT,
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
export { KubevisorError } from './errors.ts'
export { createLogger, type Logger } from './log.ts'
export { Backoff, type BackoffPolicy, CLIENT_GO_BACKOFF, RESTART_BACKOFF } from './time/backoff.ts'
export { type Clock, systemClock } from './time/clock.ts'
