/**
 * Create-or-update in one call, with controller-runtime's `controllerutil.CreateOrUpdate`
 * and `CreateOrPatch` semantics: read the object, let a mutate function bring it to the
 * wanted state, and write only if that changed something — reporting what was done.
 *
 * The comparison is apimachinery's `equality.Semantic.DeepEqual` on JSON: key order does not
 * matter and a key holding `undefined` counts as absent (both serialize the same).
 */
import { generate as mergePatchFrom } from 'json-merge-patch'
import { isNotFound } from '../api/errors.ts'
import { KubevisorError } from '../errors.ts'
import { type Client, type ObjectLike, type ObjectRef, refOf, type WriteOptions } from './client.ts'

/** What {@link createOrUpdate} and {@link createOrPatch} did: controller-runtime's `OperationResult`. */
export type OperationResult = 'created' | 'updated' | 'updatedStatus' | 'updatedStatusOnly' | 'unchanged'

/** A mutate function: brings `object` (the live object, or the given skeleton when it does not exist) to the wanted state, in place. */
export type MutateFn<T> = (object: T) => void | Promise<void>

/** Options of {@link createOrUpdate} and {@link createOrPatch}. */
export interface CreateOrUpdateOptions<T> extends WriteOptions {
  /**
   * Read the current object from this store (an informer's, kept by a watch) instead of a
   * GET, as controller-runtime's cache-backed client does; the object is copied before
   * `mutate` sees it. A store that is behind makes the write conflict, and the caller
   * retries (e.g. the reconcile is requeued).
   */
  store?:
    | {
        /** The object under that key, or `undefined` when the store has none (then it is created). */
        get(ref: { namespace?: string | undefined; name: string }): T | undefined
      }
    | undefined
}

/** The outcome: what was done, and the object as written (or as read, when unchanged). */
export interface MutateResult<T> {
  /** What was written: `created`, `updated`, `updatedStatus`, `updatedStatusOnly` (patch only) or `unchanged`. */
  result: OperationResult
  /** The object as the server answered the last write, or the live object as read when `unchanged`. */
  object: T
}

/** The mutate function changed the object's name or namespace. Code `ERR_MUTATE_CHANGED_KEY`. */
export class MutateKeyChangedError extends KubevisorError {
  constructor(before: ObjectRef, after: ObjectLike) {
    super('ERR_MUTATE_CHANGED_KEY', `MutateFn cannot mutate object name and/or object namespace (was ${before.namespace ?? ''}/${before.name}, now ${after.metadata?.namespace ?? ''}/${after.metadata?.name ?? ''})`)
  }
}

/**
 * `controllerutil.CreateOrUpdate`: gets the object named by `object`; if missing, runs
 * `mutate(object)` and creates it (`created`); else runs `mutate` on the live object and
 * updates it (PUT, optimistic concurrency) only if that changed it (`updated`), otherwise
 * writes nothing (`unchanged`). A `ConflictError` from the update surfaces: wrap the call
 * in {@link retryOnConflict} or let the reconcile be retried.
 *
 * @example
 * ```ts
 * const { result } = await createOrUpdate(client, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'site-blog', namespace: 'default' } }, (cm) => {
 *   cm.data = { 'index.html': '<h1>blog</h1>' }
 * })
 * ```
 */
export async function createOrUpdate<T extends ObjectLike>(client: Client, object: T, mutate: MutateFn<T>, options: CreateOrUpdateOptions<T> = {}): Promise<MutateResult<T>> {
  const key = refOf(object)
  const found = await read(client, key, options)
  if (found === undefined) {
    await mutateChecked(mutate, key, object)
    return { result: 'created', object: await client.create(object, options) }
  }
  const { current } = found
  // From a store, the cached object itself is the unchanged before-image (`current` is a
  // copy of it and the store never changes an object in place): one copy per call, not two.
  const before = found.cached ?? structuredClone(current)
  await mutateChecked(mutate, key, current)
  if (jsonEqual(before, current)) return { result: 'unchanged', object: current }
  return { result: 'updated', object: await client.update(current, options) }
}

/**
 * `controllerutil.CreateOrPatch`: like {@link createOrUpdate}, but writes JSON merge patches
 * of what `mutate` changed — one of the object without its status, then one of the status
 * through the `status` subresource — so fields it did not touch are never sent back.
 * Result `updated` (object only), `updatedStatus` (object and status), `updatedStatusOnly`,
 * `created` or `unchanged`. On create, a status set by `mutate` is not written (the server
 * ignores status on create), as in controller-runtime.
 */
export async function createOrPatch<T extends ObjectLike>(client: Client, object: T, mutate: MutateFn<T>, options: CreateOrUpdateOptions<T> = {}): Promise<MutateResult<T>> {
  const key = refOf(object)
  const found = await read(client, key, options)
  if (found === undefined) {
    await mutateChecked(mutate, key, object)
    return { result: 'created', object: await client.create(object, options) }
  }
  const { current } = found
  const before = toJson(current)
  await mutateChecked(mutate, key, current)
  const after = toJson(current)
  const beforeStatus = before.status
  const afterStatus = after.status
  delete before.status
  delete after.status
  let result: OperationResult = 'unchanged'
  let written: T = current
  const patchOptions = { ...options, type: 'merge' as const }
  const objectPatch = mergePatchFrom(before, after) as Record<string, unknown> | undefined
  if (objectPatch !== undefined && Object.keys(objectPatch).length > 0) {
    written = await client.patch<T>(key, objectPatch, patchOptions)
    result = 'updated'
  }
  if ((beforeStatus !== undefined || afterStatus !== undefined) && !jsonEqual(beforeStatus, afterStatus)) {
    const statusPatch = mergePatchFrom(beforeStatus ?? {}, afterStatus ?? null)
    written = await client.status.patch<T>(key, { status: statusPatch ?? null }, patchOptions)
    result = result === 'updated' ? 'updatedStatus' : 'updatedStatusOnly'
  }
  return { result, object: written }
}

/**
 * The live object (`current`, the caller's to change) and, when it came from a store, the
 * cached object it was copied from (never to be changed).
 */
async function read<T extends ObjectLike>(client: Client, key: ObjectRef, options: CreateOrUpdateOptions<T>): Promise<{ current: T; cached?: T } | undefined> {
  if (options.store !== undefined) {
    const cached = options.store.get({ namespace: key.namespace, name: key.name })
    return cached === undefined ? undefined : { current: structuredClone(cached), cached }
  }
  try {
    return { current: await client.get<T>(key, options) }
  } catch (err) {
    if (isNotFound(err)) return undefined
    throw err
  }
}

async function mutateChecked<T extends ObjectLike>(mutate: MutateFn<T>, key: ObjectRef, object: T): Promise<void> {
  await mutate(object)
  if ((object.metadata?.name ?? '') !== key.name || (object.metadata?.namespace ?? '') !== (key.namespace ?? '')) {
    throw new MutateKeyChangedError(key, object)
  }
}

function toJson(object: unknown): Record<string, unknown> {
  return JSON.parse(JSON.stringify(object)) as Record<string, unknown>
}

/**
 * Deep equality of two JSON values as the API server would see them: objects compare by
 * their keys whatever the order, a key holding `undefined` is absent, arrays in order.
 */
export function jsonEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false
    for (let i = 0; i < a.length; i++) if (!jsonEqual(a[i], b[i])) return false
    return true
  }
  if (Array.isArray(b)) return false
  const x = a as Record<string, unknown>
  const y = b as Record<string, unknown>
  let count = 0
  for (const k in x) {
    const v = x[k]
    if (v === undefined) continue
    count++
    if (!jsonEqual(v, y[k])) return false
  }
  for (const k in y) if (y[k] !== undefined) count--
  return count === 0
}
