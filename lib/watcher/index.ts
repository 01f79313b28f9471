export {
  type EventType,
  InvalidWatcherOptionsError,
  type Plain,
  Watcher,
  type WatcherBehaviour,
  type WatcherContext,
  type WatcherOptions,
  type WatcherRef,
} from './watcher.ts'
