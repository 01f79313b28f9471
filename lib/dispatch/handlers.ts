/**
 * Event handlers: which requests an event enqueues (controller-runtime `pkg/handler`).
 * A handler maps an event to requests; the queue collapses duplicates.
 */
import type { KubeObject } from '../watch/object.ts'
import { type ControllerEvent, type Request, requestFor } from './request.ts'

/** Maps an event to the requests it enqueues (none, one or many). */
export type EventHandler<T = KubeObject> = (event: ControllerEvent<T>) => Iterable<Request>

/**
 * Enqueues the event's object itself (controller-runtime `EnqueueRequestForObject`): what
 * `for(target)` uses.
 */
export function enqueueObject<T extends KubeObject = KubeObject>(): EventHandler<T> {
  return (e) => [requestFor(e.object)]
}

/** The owner kind {@link enqueueOwner} looks for. Only the group of `apiVersion` and `kind` are compared. */
export interface OwnerType {
  /** The owner's apiVersion; only its group is compared. */
  apiVersion: string
  /** The owner's kind. */
  kind: string
  /** Whether owners of this kind live in a namespace (default true); cluster-scoped owners are enqueued without one. */
  namespaced?: boolean
}

/** Options of {@link enqueueOwner}. */
export interface EnqueueOwnerOptions {
  /** Only the owner reference with `controller: true` (the first such), as controller-runtime's `OnlyControllerOwner()`. Default false. */
  onlyController?: boolean
}

interface OwnerReference {
  apiVersion?: string
  kind?: string
  name?: string
  controller?: boolean
}

/**
 * Enqueues the owners of the event's object of one kind, from `metadata.ownerReferences`
 * (controller-runtime `EnqueueRequestForOwner`): a Pod event reconciles its ReplicaSet.
 * References match on the group of their `apiVersion` and their `kind` — not the version,
 * so `apps/v1beta1` owners are found for `apps/v1`. A namespaced owner is looked for in the
 * object's namespace (owner references never cross namespaces). On `modified`, the owners
 * of both the previous and the new version are enqueued, so an object moved to another
 * owner reconciles both.
 *
 * @example
 * ```ts
 * // reconcile the Deployment (the controller owner) when one of its ReplicaSets changes
 * enqueueOwner({ apiVersion: 'apps/v1', kind: 'Deployment' }, { onlyController: true })
 * ```
 */
export function enqueueOwner<T extends KubeObject = KubeObject>(owner: OwnerType, options: EnqueueOwnerOptions = {}): EventHandler<T> {
  const group = groupOf(owner.apiVersion)
  const namespaced = owner.namespaced ?? true
  const owners = (object: T): Request[] => {
    const refs = ((object.metadata as { ownerReferences?: OwnerReference[] } | undefined)?.ownerReferences ?? []).filter(Boolean)
    const candidates = options.onlyController ? refs.filter((r) => r.controller === true).slice(0, 1) : refs
    const out: Request[] = []
    for (const ref of candidates) {
      if (ref.kind !== owner.kind || groupOf(ref.apiVersion ?? '') !== group || !ref.name) continue
      const namespace = namespaced ? object.metadata?.namespace : undefined
      out.push(namespace ? { namespace, name: ref.name } : { name: ref.name })
    }
    return out
  }
  return (e) => (e.type === 'modified' ? [...owners(e.previous), ...owners(e.object)] : owners(e.object))
}

/**
 * Enqueues what a function maps the event's object to (controller-runtime
 * `EnqueueRequestsFromMapFunc`): fan out from one kind to objects of another, e.g. every
 * Deployment that mounts a changed ConfigMap. On `modified` both the previous and the new
 * version are mapped, so a label that moves enqueues the old target and the new one.
 *
 * @example
 * ```ts
 * enqueueMapped((cm) => (cm.metadata?.labels?.app ? [{ namespace: cm.metadata.namespace, name: cm.metadata.labels.app }] : []))
 * ```
 */
export function enqueueMapped<T extends KubeObject = KubeObject>(map: (object: T) => Iterable<Request>): EventHandler<T> {
  return (e) => (e.type === 'modified' ? [...map(e.previous), ...map(e.object)] : map(e.object))
}

/** The group of an apiVersion: `''` for `v1`, `apps` for `apps/v1`. */
function groupOf(apiVersion: string): string {
  const slash = apiVersion.indexOf('/')
  return slash < 0 ? '' : apiVersion.slice(0, slash)
}
