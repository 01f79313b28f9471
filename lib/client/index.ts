/**
 * Writing to the cluster. Start with {@link Client} (get/list/create/update/patch/apply/
 * delete, `status` and `scale`), then the controller helpers: {@link retryOnConflict},
 * {@link createOrUpdate} / {@link createOrPatch}, owner references, finalizers, status
 * conditions, and the {@link EventRecorder}.
 */
export {
  type ApplyOptions,
  Client,
  type ClientOptions,
  type CollectionRef,
  type DeleteOptions,
  type FieldValidation,
  ignoreNotFound,
  InvalidRequestError,
  type ListOptions,
  type ObjectLike,
  type ObjectList,
  type ObjectRef,
  type PatchOptions,
  type PatchType,
  type RequestOptions,
  refOf,
  type Scale,
  ScaleClient,
  StatusWriter,
  type WriteOptions,
} from './client.ts'
export {
  type Condition,
  findStatusCondition,
  formatTime,
  isStatusConditionFalse,
  isStatusConditionPresentAndEqual,
  isStatusConditionTrue,
  removeStatusCondition,
  setStatusCondition,
} from './conditions.ts'
export {
  type EventOptions,
  EventRecorder,
  EventRecorderError,
  type EventRecorderOptions,
  type EventRecorderStats,
  type EventSeries,
  type EventType,
  type EventsV1Event,
  microTime,
  type ObjectReference,
  SERIES_FINISH_MS,
  SERIES_REFRESH_MS,
} from './events.ts'
export {
  addFinalizer,
  containsFinalizer,
  ensureFinalizer,
  ensureNoFinalizer,
  type Finalizable,
  type FinalizerResult,
  type FinalizerWriteOptions,
  removeFinalizer,
} from './finalizers.ts'
export { createOrPatch, createOrUpdate, type CreateOrUpdateOptions, jsonEqual, type MutateFn, MutateKeyChangedError, type MutateResult, type OperationResult } from './mutate.ts'
export {
  AlreadyOwnedError,
  type ControllerReferenceOptions,
  getControllerOf,
  hasControllerReference,
  InvalidOwnerError,
  type Ownable,
  type OwnerReference,
  removeOwnerReference,
  setControllerReference,
  setOwnerReference,
} from './owners.ts'
export { DEFAULT_BACKOFF, DEFAULT_RETRY, onError, type RetryBackoff, type RetryOptions, retryOnConflict } from './retry.ts'
