/**
 * The list/watch engine. Start with {@link WatchRunner} (drives everything, hands out
 * ordered changes); {@link HttpListWatchClient} is its real IO. The pure parts —
 * `step` (the state machine), `diffRelist`/`classifyEvent`, `WatchDecoder` — are usable
 * on their own and are what the tests pin down.
 */
export { type ListPage, type ListWatchClient, HttpListWatchClient, type HttpListWatchClientOptions, METADATA_LIST_ACCEPT, METADATA_WATCH_ACCEPT, parseRetryAfter, type ResolvedResource, type ResourceTarget } from './client.ts'
export { DecodeError, WatchDecoder, type WatchDecoderOptions } from './decode.ts'
export { type Change, classifyEvent, diffRelist, type Knowledge } from './diff.ts'
export {
  DEFAULT_ENGINE_CONFIG,
  type Effect,
  type EngineConfig,
  type EngineCounter,
  type EngineEnv,
  type EngineEvent,
  type EngineInput,
  type Failure,
  INITIAL_EVENTS_END,
  type InitialListStrategy,
  initialState,
  type ListParams,
  type Resume,
  type Step,
  step,
  type WatchParams,
  type WatchState,
  watchTimeoutSeconds,
} from './engine.ts'
export {
  ApiStatusError,
  classifyStatus,
  InitialListFailedError,
  type StatusClass,
  WatchError,
  WatchFailedError,
  type WatchPhase,
  WatchStartFailedError,
} from './errors.ts'
export { InvalidResumeError, type KnownEntry, type KnownObjects, type KnownRecord, type KnownStore, KnownVersions, knownFrom, seedKnown } from './known.ts'
export { dropManagedFields, type KubeObject, type ObjectMeta, objectKey, resourceVersionOf, tombstone, type WatchEvent, type WatchEventType } from './object.ts'
export { failureOf, newWatchCounters, type PendingWait, type ResumePoint, type WatchCounters, type WatchNotification, WatchRunner, type WatchRunnerOptions } from './runner.ts'
