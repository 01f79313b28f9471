/** The JSON shapes the embedded server stores and serves (kept loose on purpose: any kind). */

/** `metadata` of a stored object (ObjectMeta). */
export interface ObjectMeta {
  /** The object's name, unique per kind and namespace; required unless `generateName` is given. */
  name?: string
  /** A prefix: the server appends a random suffix to make the name (on create). */
  generateName?: string
  /** The namespace of a namespaced object (`default` when omitted on create). */
  namespace?: string
  /** Set by the server on create; differs between an object and a re-created one of the same name. */
  uid?: string
  /** Set by the server on every write; an update with a stale one gets 409 Conflict. */
  resourceVersion?: string
  /** Set by the server; bumped when the spec changes (not the status or metadata). */
  generation?: number
  /** Set by the server on create (RFC 3339). */
  creationTimestamp?: string | null
  /** Set when a delete waits for finalizers; the object goes once they are gone. */
  deletionTimestamp?: string
  /** Set with `deletionTimestamp` (0: no graceful termination here). */
  deletionGracePeriodSeconds?: number
  /** Labels, matched by label selectors. */
  labels?: Record<string, string>
  /** Annotations: free-form metadata. */
  annotations?: Record<string, string>
  /** While non-empty, a delete only sets `deletionTimestamp`. */
  finalizers?: string[]
  /** Stored and served as given (no garbage collector runs). */
  ownerReferences?: unknown[]
  [key: string]: unknown
}

/** Any Kubernetes object as JSON. */
export interface KubeObject {
  /** e.g. `v1`, `apps/v1`; filled in by the server when absent. */
  apiVersion?: string
  /** e.g. `Pod`; filled in by the server when absent. */
  kind?: string
  /** Name, namespace and what the server sets (uid, resourceVersion, …). */
  metadata: ObjectMeta
  [key: string]: unknown
}

/** An object handed to the server (metadata may be missing: the server then reports what is required). */
export interface KubeObjectInput {
  /** e.g. `v1`, `apps/v1`; must match the resource the object is sent to. */
  apiVersion?: string
  /** e.g. `Pod`. */
  kind?: string
  /** At least a `name` (or `generateName`); the server answers 422 Invalid otherwise. */
  metadata?: ObjectMeta
  [key: string]: unknown
}

/** A watch event type on the wire. */
export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR'
