/**
 * Kubernetes objects as plain parsed JSON — the one shape that watchers, stores, reconcilers
 * and the write client hand around — and {@link Plain}, which types such an object with a
 * `@kubernetes/client-node` model.
 */

/** The part of `metadata` kubevisor reads. Everything else passes through untouched. */
export interface ObjectMeta {
  /** The object's name. */
  name?: string
  /** Its namespace; absent for cluster-scoped objects. */
  namespace?: string
  /** Tells an object from a re-created one of the same name. */
  uid?: string
  /** Changes on every write; what watches resume from. */
  resourceVersion?: string
  /** Annotations (the engine reads `k8s.io/initial-events-end` on bookmarks). */
  annotations?: Record<string, string>
  [field: string]: unknown
}

/**
 * A Kubernetes object exactly as `JSON.parse` produced it: no model classes, no `Date`
 * conversion, one shape whether it came from a list or a watch.
 */
export interface KubeObject {
  /** e.g. `v1`; filled in for list items, which the server sends without it. */
  apiVersion?: string
  /** e.g. `Pod`; filled in for list items. */
  kind?: string
  /** Name, namespace, uid, resourceVersion, and everything else as sent. */
  metadata?: ObjectMeta
  [field: string]: unknown
}

/**
 * An object's metadata alone (`meta.k8s.io/v1` `PartialObjectMetadata`), what a watcher,
 * informer or controller source with `metadataOnly: true` receives, exactly as the server
 * sent it — like controller-runtime's `metav1.PartialObjectMetadata`. `kind` and
 * `apiVersion` are those of the wrapper, not of the watched kind.
 */
export interface PartialObjectMetadata extends KubeObject {
  kind: 'PartialObjectMetadata'
  /** `meta.k8s.io/v1`. */
  apiVersion: string
  metadata: ObjectMeta
}

/**
 * An object as the API server sent it: plain parsed JSON. Typing a watcher with a
 * `@kubernetes/client-node` model (`Watcher<V1Pod>`) gives callbacks `Plain<V1Pod>`: the
 * same fields, with `Date` fields typed as the strings they are on the wire (objects are
 * never converted into model classes on the hot path).
 */
export type Plain<T> = T extends Date
  ? string
  : T extends readonly (infer U)[]
    ? Plain<U>[]
    : T extends (...args: never[]) => unknown
      ? never
      : T extends object
        ? { [K in keyof T]: Plain<T[K]> }
        : T

