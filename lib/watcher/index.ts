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
} from './watcher.ts'
export { prometheusWatchMetrics, type PromClientForWatch, WATCH_METRICS, type WatchMetrics } from './metrics.ts'
export { forceRelist, inspectWatcher, type WatcherSnapshot } from './introspect.ts'
