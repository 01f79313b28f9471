/**
 * What a reconcile loop works on: a {@link Request} (namespace + name, as controller-runtime's
 * `reconcile.Request`) and the {@link ControllerEvent}s that handlers turn into requests.
 */
import type { KubeObject } from '../watch/object.ts'

/**
 * The object to reconcile: its namespace (absent for cluster-scoped objects) and name.
 * A request names an object, not a version of it: the reconciler reads the current state.
 */
export interface Request {
  /** Absent for cluster-scoped objects. */
  readonly namespace?: string
  /** The object's name. */
  readonly name: string
}

/**
 * An event as predicates and handlers see it: `created`, `modified` (with the `previous`
 * version this controller saw), `deleted` (the last known object), or `generic` — an event
 * from outside the cluster (a channel source), as controller-runtime's `GenericEvent`.
 */
export type ControllerEvent<T = KubeObject> =
  | {
      /** First seen by the source's informer. */
      readonly type: 'created'
      /** The new object. */
      readonly object: T
    }
  | {
      /** Changed. */
      readonly type: 'modified'
      /** The new version. */
      readonly object: T
      /** The version seen before. */
      readonly previous: T
    }
  | {
      /** Gone. */
      readonly type: 'deleted'
      /** The last known version. */
      readonly object: T
    }
  | {
      /** From a channel source: not a change of a watched object. */
      readonly type: 'generic'
      /** What the channel delivered (a request's namespace and name as an object's metadata). */
      readonly object: T
    }

/** The queue key of a request: `namespace/name`, or `name` when cluster-scoped (client-go's key format). */
export function requestKey(request: Request): string {
  return request.namespace ? `${request.namespace}/${request.name}` : request.name
}

/** The request of a queue key made by {@link requestKey}. */
export function parseRequestKey(key: string): Request {
  const slash = key.indexOf('/')
  return slash < 0 ? { name: key } : { namespace: key.slice(0, slash), name: key.slice(slash + 1) }
}

/** The request naming `object` (its namespace and name). */
export function requestFor(object: KubeObject): Request {
  const meta = object.metadata
  return meta?.namespace ? { namespace: meta.namespace, name: meta.name ?? '' } : { name: meta?.name ?? '' }
}
