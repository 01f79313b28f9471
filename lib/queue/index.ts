/**
 * The work queue layer, after client-go `util/workqueue`: each file extends the one before.
 * Start with `RateLimitingQueue` (what a controller uses); `WorkQueue` is the fair, stingy
 * core, `DelayingQueue` adds `addAfter`, the limiters decide retry delays, and metrics are
 * optional (`prometheusQueueMetrics`).
 */
export { DelayingQueue } from './delaying-queue.ts'
export {
  type CounterMetric,
  type GaugeMetric,
  type HistogramMetric,
  type PromClientLike,
  type PromLabelled,
  type PrometheusQueueMetricsOptions,
  type PromRegistryLike,
  prometheusQueueMetrics,
  type QueueMetricsProvider,
  type SettableGaugeMetric,
  UNFINISHED_WORK_UPDATE_PERIOD_MS,
  WORKQUEUE_DURATION_BUCKETS,
  WORKQUEUE_METRICS,
} from './metrics.ts'
export { QueueDrainTimeoutError, WorkQueue, type WorkQueueOptions } from './queue.ts'
export {
  BucketRateLimiter,
  type BucketRateLimiterOptions,
  DEFAULT_BUCKET_BURST,
  DEFAULT_BUCKET_QPS,
  DEFAULT_ITEM_BASE_DELAY_MS,
  DEFAULT_ITEM_MAX_DELAY_MS,
  defaultControllerRateLimiter,
  ItemExponentialFailureRateLimiter,
  ItemFastSlowRateLimiter,
  MaxOfRateLimiter,
  type RateLimiter,
} from './rate-limiters.ts'
export { RateLimitingQueue, type RateLimitingQueueOptions } from './rate-limiting-queue.ts'
