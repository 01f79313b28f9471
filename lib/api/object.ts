/**
 * Kubernetes objects as plain parsed JSON — the one shape that watchers, stores, reconcilers
 * and the write client hand around — and {@link Plain}, which types such an object with a
 * `@kubernetes/client-node` model.
 */

/** The part of `metadata` kubevisor reads. Everything else passes through untouched. */
export interface ObjectMeta {
  name?: string
  namespace?: string
  uid?: string
  resourceVersion?: string
  annotations?: Record<string, string>
  [field: string]: unknown
}

/**
 * A Kubernetes object exactly as `JSON.parse` produced it: no model classes, no `Date`
 * conversion, one shape whether it came from a list or a watch.
 */
export interface KubeObject {
  apiVersion?: string
  kind?: string
  metadata?: ObjectMeta
  [field: string]: unknown
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

