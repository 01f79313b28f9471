/**
 * Finalizers, with controller-runtime's `controllerutil` semantics (`AddFinalizer`,
 * `RemoveFinalizer`, `ContainsFinalizer`: pure, return whether the object changed), and
 * their server-side forms that read, change and write the object under
 * {@link retryOnConflict} — and write nothing when it is already in the wanted state.
 */
import { isNotFound } from '../api/errors.ts'
import type { Client, ObjectLike, ObjectRef, RequestOptions } from './client.ts'
import { DEFAULT_RETRY, type RetryBackoff, type RetryOptions, retryOnConflict } from './retry.ts'

/** An object whose `metadata.finalizers` can be read and set. */
export interface Finalizable extends ObjectLike {
  metadata?: (ObjectLike['metadata'] & { finalizers?: string[] | undefined }) | undefined
}

/** Whether `object` carries `finalizer`. */
export function containsFinalizer(object: Finalizable, finalizer: string): boolean {
  return object.metadata?.finalizers?.includes(finalizer) ?? false
}

/** Adds `finalizer` unless present; returns whether the object changed. */
export function addFinalizer(object: Finalizable, finalizer: string): boolean {
  if (containsFinalizer(object, finalizer)) return false
  object.metadata ??= {}
  object.metadata.finalizers = [...(object.metadata.finalizers ?? []), finalizer]
  return true
}

/** Removes every occurrence of `finalizer`; returns whether the object changed. */
export function removeFinalizer(object: Finalizable, finalizer: string): boolean {
  const finalizers = object.metadata?.finalizers
  if (!finalizers?.includes(finalizer)) return false
  ;(object.metadata as NonNullable<Finalizable['metadata']>).finalizers = finalizers.filter((f) => f !== finalizer)
  return true
}

/** Options of {@link ensureFinalizer} and {@link ensureNoFinalizer}. */
export interface FinalizerWriteOptions extends RequestOptions, RetryOptions {
  /** Conflict retry; default client-go's `DefaultRetry` (5 tries, 10 ms apart). */
  backoff?: RetryBackoff | undefined
  dryRun?: boolean | undefined
}

/** What {@link ensureFinalizer} and {@link ensureNoFinalizer} did: the object as last read or written, and whether it was written. */
export interface FinalizerResult<T> {
  /** The object after the write, or as read when nothing was written; `undefined` when it does not exist (removal only). */
  object: T | undefined
  changed: boolean
}

/**
 * Makes sure the object has `finalizer`: reads it, adds the finalizer and updates it
 * (optimistic concurrency), re-reading and retrying on conflict. No write when it is
 * already there. `NotFoundError` when the object does not exist.
 */
export async function ensureFinalizer<T extends Finalizable>(client: Client, ref: ObjectRef, finalizer: string, options: FinalizerWriteOptions = {}): Promise<FinalizerResult<T>> {
  return retryOnConflict(
    options.backoff ?? DEFAULT_RETRY,
    async () => {
      const object = await client.get<T>(ref, options)
      if (!addFinalizer(object, finalizer)) return { object, changed: false }
      return { object: await client.update(object, options), changed: true }
    },
    options,
  )
}

/**
 * Makes sure the object no longer has `finalizer` (typically the last step of a
 * reconciler's cleanup): reads it, removes the finalizer and updates it, retrying on
 * conflict. No write when it is absent; `{ object: undefined, changed: false }` when the
 * object is already gone.
 */
export async function ensureNoFinalizer<T extends Finalizable>(client: Client, ref: ObjectRef, finalizer: string, options: FinalizerWriteOptions = {}): Promise<FinalizerResult<T>> {
  return retryOnConflict(
    options.backoff ?? DEFAULT_RETRY,
    async () => {
      let object: T
      try {
        object = await client.get<T>(ref, options)
      } catch (err) {
        if (isNotFound(err)) return { object: undefined, changed: false }
        throw err
      }
      if (!removeFinalizer(object, finalizer)) return { object, changed: false }
      try {
        return { object: await client.update(object, options), changed: true }
      } catch (err) {
        // Removing the last finalizer of a deleting object may race with its deletion.
        if (isNotFound(err)) return { object: undefined, changed: true }
        throw err
      }
    },
    options,
  )
}
