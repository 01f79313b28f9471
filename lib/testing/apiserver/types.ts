/** The JSON shapes the embedded server stores and serves (kept loose on purpose: any kind). */

/** `metadata` of a stored object (ObjectMeta). */
export interface ObjectMeta {
  name?: string
  generateName?: string
  namespace?: string
  uid?: string
  resourceVersion?: string
  generation?: number
  creationTimestamp?: string | null
  deletionTimestamp?: string
  deletionGracePeriodSeconds?: number
  labels?: Record<string, string>
  annotations?: Record<string, string>
  finalizers?: string[]
  ownerReferences?: unknown[]
  [key: string]: unknown
}

/** Any Kubernetes object as JSON. */
export interface KubeObject {
  apiVersion?: string
  kind?: string
  metadata: ObjectMeta
  [key: string]: unknown
}

/** An object handed to the server (metadata may be missing: the server then reports what is required). */
export interface KubeObjectInput {
  apiVersion?: string
  kind?: string
  metadata?: ObjectMeta
  [key: string]: unknown
}

/** A watch event type on the wire. */
export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR'
