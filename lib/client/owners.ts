/**
 * Owner references, with controller-runtime's `controllerutil` semantics
 * (`SetControllerReference`, `SetOwnerReference`, `RemoveOwnerReference`,
 * `HasControllerReference`): pure functions on plain objects, applied in place to the
 * object you are about to write.
 */
import { KubevisorError } from '../errors.ts'
import type { ObjectLike } from './client.ts'

/** `metav1.OwnerReference`. */
export interface OwnerReference {
  /** The owner's group/version, e.g. `example.com/v1`. */
  apiVersion: string
  /** The owner's kind, e.g. `Site`. */
  kind: string
  /** The owner's name (in the object's own namespace: owners never cross namespaces). */
  name: string
  /** The owner's uid: the garbage collector deletes the object once no owner with this uid exists. */
  uid: string
  /** True on the one reference that names the managing controller (at most one per object). */
  controller?: boolean
  /** True: a foreground deletion of the owner waits until this object is deleted. */
  blockOwnerDeletion?: boolean
}

/** An object whose `metadata.ownerReferences` can be read and set. */
export interface Ownable extends ObjectLike {
  metadata?: (ObjectLike['metadata'] & { ownerReferences?: OwnerReference[] | undefined }) | undefined
}

/**
 * `controllerutil.AlreadyOwnedError`: the object already has a controller owner other than
 * the one being set. Code `ERR_ALREADY_OWNED`. `owner` is the existing controller reference.
 */
export class AlreadyOwnedError extends KubevisorError {
  /** The controller reference already on the object. */
  readonly owner: OwnerReference
  constructor(object: ObjectLike, owner: OwnerReference) {
    super('ERR_ALREADY_OWNED', `Object ${describe(object)} is already owned by another ${owner.kind} controller ${owner.name}`)
    this.owner = owner
  }
}

/** The owner and the object cannot be linked: a namespaced owner of a cluster-scoped object, or owners across namespaces. Code `ERR_INVALID_OWNER`. */
export class InvalidOwnerError extends KubevisorError {
  constructor(message: string) {
    super('ERR_INVALID_OWNER', message)
  }
}

/** Options of {@link setControllerReference}. */
export interface ControllerReferenceOptions {
  /** `blockOwnerDeletion` on the reference (foreground deletion waits for this object). Default true, as controller-runtime. */
  blockOwnerDeletion?: boolean | undefined
}

/**
 * Makes `owner` the controller of `object`: adds (or replaces the existing reference to the
 * same owner with) `{ apiVersion, kind, name, uid, controller: true, blockOwnerDeletion: true }`.
 * Throws {@link AlreadyOwnedError} when another owner is already the controller — an object
 * has at most one — and {@link InvalidOwnerError} for a namespaced owner of a cluster-scoped
 * object or an owner in another namespace (the garbage collector would ignore it).
 *
 * @example
 * ```ts
 * const cm = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'site-blog', namespace: 'default' }, data: {} }
 * setControllerReference(site, cm)
 * await client.apply(cm)
 * ```
 */
export function setControllerReference(owner: ObjectLike, object: Ownable, options: ControllerReferenceOptions = {}): void {
  const ref = referenceTo(owner)
  validateOwner(owner, object)
  const existing = object.metadata?.ownerReferences?.find((r) => r.controller === true)
  if (existing && !sameOwner(existing, ref)) throw new AlreadyOwnedError(object, existing)
  upsert(object, { ...ref, controller: true, blockOwnerDeletion: options.blockOwnerDeletion ?? true })
}

/**
 * Adds `owner` to `object`'s owner references (not as controller), replacing an existing
 * reference to the same owner (same group, kind and name) — as controller-runtime's
 * `SetOwnerReference`, that replacement drops a `controller` flag the old reference had.
 */
export function setOwnerReference(owner: ObjectLike, object: Ownable): void {
  const ref = referenceTo(owner)
  validateOwner(owner, object)
  upsert(object, ref)
}

/** Removes the reference to `owner` (same group, kind and name); returns whether one was there. */
export function removeOwnerReference(owner: ObjectLike, object: Ownable): boolean {
  const refs = object.metadata?.ownerReferences
  if (!refs) return false
  const ref = referenceTo(owner, false)
  const kept = refs.filter((r) => !sameOwner(r, ref))
  if (kept.length === refs.length) return false
  ;(object.metadata as NonNullable<Ownable['metadata']>).ownerReferences = kept
  return true
}

/** The controller reference of `object` (`controller: true`), if any. */
export function getControllerOf(object: Ownable): OwnerReference | undefined {
  return object.metadata?.ownerReferences?.find((r) => r.controller === true)
}

/** Whether `object` has a controller owner. */
export function hasControllerReference(object: Ownable): boolean {
  return getControllerOf(object) !== undefined
}

function referenceTo(owner: ObjectLike, needUid = true): OwnerReference {
  const { apiVersion, kind } = owner
  const name = owner.metadata?.name
  const uid = owner.metadata?.uid
  if (!apiVersion || !kind || !name || (needUid && !uid)) {
    throw new InvalidOwnerError(`an owner needs apiVersion, kind, metadata.name and metadata.uid (read it from the server first); got ${JSON.stringify({ apiVersion, kind, name, uid })}`)
  }
  return { apiVersion, kind, name, uid: uid ?? '' }
}

/** controller-runtime `validateOwner`. */
function validateOwner(owner: ObjectLike, object: ObjectLike): void {
  const ownerNs = owner.metadata?.namespace
  if (!ownerNs) return
  const objectNs = object.metadata?.namespace
  if (!objectNs) throw new InvalidOwnerError(`cluster-scoped resource must not have a namespace-scoped owner, owner's namespace ${ownerNs}`)
  if (ownerNs !== objectNs) throw new InvalidOwnerError(`cross-namespace owner references are disallowed, owner's namespace ${ownerNs}, obj's namespace ${objectNs}`)
}

/** Same group (the version may differ), kind and name: controller-runtime `referSameObject`. */
function sameOwner(a: OwnerReference, b: OwnerReference): boolean {
  return groupOf(a.apiVersion) === groupOf(b.apiVersion) && a.kind === b.kind && a.name === b.name
}

function groupOf(apiVersion: string): string {
  const slash = apiVersion.indexOf('/')
  return slash < 0 ? '' : apiVersion.slice(0, slash)
}

function upsert(object: Ownable, ref: OwnerReference): void {
  object.metadata ??= {}
  const refs = object.metadata.ownerReferences ?? []
  const index = refs.findIndex((r) => sameOwner(r, ref))
  const next = [...refs]
  if (index >= 0) next[index] = ref
  else next.push(ref)
  object.metadata.ownerReferences = next
}

function describe(object: ObjectLike): string {
  const ns = object.metadata?.namespace
  return `${ns ? `${ns}/` : ''}${object.metadata?.name ?? ''}`
}
