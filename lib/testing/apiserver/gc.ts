/**
 * The two kube-controller-manager controllers every client relies on, run inside the embedded
 * server: the garbage collector (owner references and the `orphan` / `foregroundDeletion`
 * finalizers) and the namespace controller (deleting a namespace's content, its status
 * conditions while it drains, then the `kubernetes` finalizer and the namespace itself).
 *
 * Anchors: k8s.io/kubernetes `pkg/controller/garbagecollector` (garbagecollector.go
 * attemptToDeleteItem / classifyReferences / processDeletingDependentsItem / attemptToOrphan,
 * graph_builder.go reportInvalidNamespaceOwnerRef) and `pkg/controller/namespace/deletion`
 * (namespaced_resources_deleter.go Delete, status_condition_utils.go); the user-facing
 * description is https://kubernetes.io/docs/concepts/architecture/garbage-collection/.
 *
 * Like the real controllers they are asynchronous: a write that needs collection schedules a
 * pass on the server's clock (a 0 ms timer, so the write's response and watch events come
 * first), and every pass works through the same REST layer as a client, so watchers see the
 * same events in the same order as against kube-apiserver + kube-controller-manager:
 * background (owner DELETED, then its dependents), foreground (owner MODIFIED with
 * deletionTimestamp and `foregroundDeletion`, dependents with blockOwnerDeletion DELETED, then
 * the owner), orphan (dependents MODIFIED without the owner reference, then the owner).
 *
 * Cost: every commit updates an owner-uid → dependents index and queues only what it may
 * affect (a new or changed dependent; the dependents of an owner that went or is being
 * deleted; a foreground owner whose dependent changed; a terminating namespace whose content
 * changed), like the real collector's graph builder, so a pass works on that queue and a
 * server with many plain objects pays a few Map operations per write.
 */
import type { Logger } from 'pino'
import type { Clock, TimerHandle } from '../../time/clock.ts'
import type { ResourceDef } from './resources.ts'
import { type Rest, resourceKey } from './rest.ts'
import { ApiServerStatusError } from './status.ts'
import { objectKey, type StoredEvent } from './store.ts'
import type { KubeObject } from './types.ts'

/** The finalizer of an owner whose dependents are orphaned before it goes. */
export const ORPHAN_FINALIZER = 'orphan'
/** The finalizer of an owner whose blocking dependents are deleted before it goes. */
export const FOREGROUND_FINALIZER = 'foregroundDeletion'
/** The namespace controller's entry in a namespace's `spec.finalizers`. */
export const NAMESPACE_FINALIZER = 'kubernetes'

/** The field manager of the controllers' writes (kube-controller-manager's user agent). */
const MANAGER = 'kube-controller-manager'
/** Passes in a row that still changed something before the next waits a little (a loop guard). */
const BUSY_PASSES = 1000

interface OwnerRef {
  apiVersion: string
  kind: string
  name: string
  uid: string
  controller?: boolean
  blockOwnerDeletion?: boolean
}

/** A stored object's address: its storage resource (`group/plural`) and key (`ns/name`). */
interface Address {
  res: string
  key: string
}

const NAMESPACE_CONDITIONS = [
  ['NamespaceDeletionDiscoveryFailure', 'ResourcesDiscovered', 'All resources successfully discovered'],
  ['NamespaceDeletionGroupVersionParsingFailure', 'ParsedGroupVersions', 'All legacy kube types successfully parsed'],
  ['NamespaceDeletionContentFailure', 'ContentDeleted', 'All content successfully deleted, may be waiting on finalization'],
  ['NamespaceContentRemaining', 'ContentRemoved', 'All content successfully removed'],
  ['NamespaceFinalizersRemaining', 'ContentHasNoFinalizers', 'All content-preserving finalizers finished'],
] as const

function ownerRefs(obj: KubeObject | undefined): OwnerRef[] {
  const refs = obj?.metadata.ownerReferences
  if (!Array.isArray(refs)) return []
  return refs.filter((r): r is OwnerRef => typeof r === 'object' && r !== null && typeof (r as OwnerRef).uid === 'string')
}

function hasFinalizer(obj: KubeObject, f: string): boolean {
  return (obj.metadata.finalizers ?? []).includes(f)
}

/** Wall-clock time as metav1.Time (seconds), as the REST layer stamps it. */
function nowTimestamp(): string {
  return new Date().toISOString().replace(/\.\d{3}Z$/, 'Z')
}

/**
 * The garbage collector and namespace controller of one embedded server. Created by
 * `startApiServer` (option `controllers`, default on); {@link ClusterControllers.stop} ends it.
 */
export class ClusterControllers {
  readonly #rest: Rest
  readonly #clock: Clock
  readonly #logger: Logger | undefined
  #timer: TimerHandle | undefined
  #stopped = false
  #busy = 0
  /** Objects with ownerReferences, by `resource\0key`. */
  readonly #dependents = new Map<string, Address>()
  /** Owner uid → the dependents that reference it (the real collector's graph, reduced). */
  readonly #byOwner = new Map<string, Map<string, Address>>()
  /** Objects being deleted with `orphan` or `foregroundDeletion`, and their uids. */
  readonly #deleting = new Map<string, Address>()
  readonly #deletingByUid = new Map<string, string>()
  /** Namespaces being deleted. */
  readonly #terminating = new Set<string>()
  /** Work for the next pass (the real collector's attemptToDelete / attemptToOrphan queues). */
  readonly #dirty = new Set<string>()
  readonly #dirtyOwners = new Set<string>()
  readonly #dirtyNamespaces = new Set<string>()
  /** uid → namespace of the objects of a resource, built on demand within one pass. */
  readonly #uidIndex = new Map<string, Map<string, string | undefined>>()
  /** Dependents already reported with OwnerRefInvalidNamespace (dependent uid / owner uid). */
  readonly #reported = new Set<string>()

  constructor(rest: Rest, clock: Clock, logger?: Logger) {
    this.#rest = rest
    this.#clock = clock
    this.#logger = logger
  }

  /**
   * Observes one committed change (called by the store for every commit): keeps the owner
   * index and queues what the change may affect, so a pass looks only at that.
   */
  observe(ev: StoredEvent): void {
    const id = `${ev.resource}\u0000${ev.key}`
    const before = ownerRefs(ev.prev)
    const after = ev.type === 'DELETED' ? [] : ownerRefs(ev.object)
    if (before.length || after.length) {
      const addr = { res: ev.resource, key: ev.key }
      for (const r of before) this.#byOwner.get(r.uid)?.delete(id)
      for (const r of before) if (this.#byOwner.get(r.uid)?.size === 0) this.#byOwner.delete(r.uid)
      for (const r of after) {
        let deps = this.#byOwner.get(r.uid)
        if (!deps) this.#byOwner.set(r.uid, (deps = new Map()))
        deps.set(id, addr)
      }
      if (after.length) {
        // A new or changed dependent may be dangling.
        this.#dependents.set(id, addr)
        this.#dirty.add(id)
      } else this.#dependents.delete(id)
      // A changed or gone dependent may unblock an owner deleted in the foreground.
      for (const r of before) {
        const owner = this.#deletingByUid.get(r.uid)
        if (owner) this.#dirtyOwners.add(owner)
      }
    }
    const meta = ev.object.metadata
    const uid = meta.uid
    if (ev.type !== 'DELETED' && meta.deletionTimestamp && (hasFinalizer(ev.object, ORPHAN_FINALIZER) || hasFinalizer(ev.object, FOREGROUND_FINALIZER))) {
      this.#deleting.set(id, { res: ev.resource, key: ev.key })
      if (uid) this.#deletingByUid.set(uid, id)
      this.#dirtyOwners.add(id)
    } else if (this.#deleting.delete(id) && uid) this.#deletingByUid.delete(uid)
    // An owner gone or being deleted: its dependents look again.
    if (uid && (ev.type === 'DELETED' || meta.deletionTimestamp)) {
      const deps = this.#byOwner.get(uid)
      if (deps) for (const d of deps.keys()) this.#dirty.add(d)
    }
    // A CRD can make an owner kind served: every dependent looks again (the real collector
    // re-reads discovery every 30 s).
    if (ev.resource === 'apiextensions.k8s.io/customresourcedefinitions') for (const d of this.#dependents.keys()) this.#dirty.add(d)
    if (ev.resource === '/namespaces') {
      if (ev.type !== 'DELETED' && meta.deletionTimestamp) {
        this.#terminating.add(ev.key)
        this.#dirtyNamespaces.add(ev.key)
      } else this.#terminating.delete(ev.key)
    } else if (this.#terminating.size) {
      const slash = ev.key.indexOf('/')
      const ns = slash > 0 ? ev.key.slice(0, slash) : undefined
      if (ns !== undefined && this.#terminating.has(ns)) this.#dirtyNamespaces.add(ns)
    }
    if (this.#dirty.size || this.#dirtyOwners.size || this.#dirtyNamespaces.size) this.#schedule()
  }

  /** Stops scheduling passes (the server is closing). */
  stop(): void {
    this.#stopped = true
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer)
    this.#timer = undefined
  }

  #schedule(): void {
    if (this.#stopped || this.#timer !== undefined) return
    // A pass that keeps changing things (e.g. two writers fighting over a finalizer) is
    // slowed down rather than spinning the event loop.
    const delay = this.#busy > BUSY_PASSES ? 100 : 0
    this.#timer = this.#clock.setTimeout(() => {
      this.#timer = undefined
      const before = this.#rest.store.resourceVersion
      try {
        this.#pass()
      } catch (err) {
        this.#logger?.error({ err }, 'embedded garbage collector pass failed')
      }
      this.#busy = this.#rest.store.resourceVersion !== before ? this.#busy + 1 : 0
    }, delay)
  }

  /** The storage definition (not a converted view) of a `group/plural` resource. */
  #defOf(res: string): ResourceDef | undefined {
    for (const d of this.#rest.registry.all()) if (!d.storage && resourceKey(d) === res) return d
    return undefined
  }

  #get(a: Address): KubeObject | undefined {
    return this.#rest.store.get(a.res, a.key)
  }

  /**
   * Runs a write. A vanished object (404) needs nothing more; a conflict (409) puts `retry`
   * back in its queue for the next pass, as the real collector requeues; anything else is logged.
   */
  #try(what: string, fn: () => void, retry?: () => void): void {
    try {
      fn()
    } catch (err) {
      if (err instanceof ApiServerStatusError && err.status.code === 404) return
      if (err instanceof ApiServerStatusError && err.status.code === 409 && retry) {
        retry()
        this.#schedule()
        return
      }
      this.#logger?.warn({ err, what }, 'embedded garbage collector write failed')
    }
  }

  /** The current dependents of owner `uid`, with their reference to it. */
  #dependentsOf(uid: string): Array<{ addr: Address; obj: KubeObject; ref: OwnerRef }> {
    const out: Array<{ addr: Address; obj: KubeObject; ref: OwnerRef }> = []
    for (const addr of this.#byOwner.get(uid)?.values() ?? []) {
      const obj = this.#get(addr)
      const ref = ownerRefs(obj).find((r) => r.uid === uid)
      if (obj && ref) out.push({ addr, obj, ref })
    }
    return out
  }

  #pass(): void {
    const owners = [...this.#dirtyOwners]
    const dependents = [...this.#dirty]
    const namespaces = [...this.#dirtyNamespaces]
    this.#dirtyOwners.clear()
    this.#dirty.clear()
    this.#dirtyNamespaces.clear()
    this.#uidIndex.clear()
    for (const id of owners) {
      const addr = this.#deleting.get(id)
      if (addr) this.#processDeletingOwner(id, addr)
    }
    for (const id of dependents) {
      const addr = this.#dependents.get(id)
      if (addr) this.#attemptToDelete(id, addr)
    }
    for (const ns of namespaces) if (this.#terminating.has(ns)) this.#drainNamespace(ns)
  }

  /** Owners being deleted with `orphan` (attemptToOrphan) or `foregroundDeletion` (processDeletingDependentsItem). */
  #processDeletingOwner(id: string, addr: Address): void {
    const owner = this.#get(addr)
    const def = this.#defOf(addr.res)
    if (!owner?.metadata.deletionTimestamp || !def) return
    const uid = owner.metadata.uid!
    const deps = this.#dependentsOf(uid)
    const retry = () => this.#dirtyOwners.add(id)
    if (hasFinalizer(owner, ORPHAN_FINALIZER)) {
      for (const d of deps) {
        const depDef = this.#defOf(d.addr.res)
        const current = this.#get(d.addr)
        if (!depDef || !current) continue
        const refs = ownerRefs(current).filter((r) => r.uid !== uid)
        let orphaned = true
        this.#try('orphan a dependent', () => this.#setOwnerRefs(depDef, current, refs), () => {
          orphaned = false
          retry()
        })
        // The owner keeps its finalizer until every dependent is orphaned.
        if (!orphaned) return
      }
      this.#try('remove the orphan finalizer', () => this.#removeFinalizer(def, addr, ORPHAN_FINALIZER), retry)
      return
    }
    if (hasFinalizer(owner, FOREGROUND_FINALIZER)) {
      const blocking = deps.filter((d) => d.ref.blockOwnerDeletion === true && this.#get(d.addr) !== undefined)
      if (blocking.length === 0) this.#try('remove the foregroundDeletion finalizer', () => this.#removeFinalizer(def, addr, FOREGROUND_FINALIZER), retry)
      // Blocking dependents are deleted by #attemptToDelete (their owner waits for them);
      // each DELETED wakes this owner up again.
    }
  }

  /** One dependent (garbagecollector.go attemptToDeleteItem). */
  #attemptToDelete(id: string, addr: Address): void {
    const obj = this.#get(addr)
    const def = this.#defOf(addr.res)
    if (!obj || !def) return
    // Being deleted: nothing to do here (a foreground owner is handled as an owner).
    if (obj.metadata.deletionTimestamp) return
    const refs = ownerRefs(obj)
    if (!refs.length) return
    const solid: OwnerRef[] = []
    const dangling: OwnerRef[] = []
    const waiting: OwnerRef[] = []
    for (const ref of refs) {
      const state = this.#classify(def, obj, ref)
      if (state === 'dangling') dangling.push(ref)
      else if (state === 'waiting') waiting.push(ref)
      else solid.push(ref)
    }
    if (solid.length) {
      if (!dangling.length && !waiting.length) return
      // Some owner still holds it: drop only the references to gone or foreground-deleting owners.
      const gone = new Set([...dangling, ...waiting].map((r) => r.uid))
      this.#try('remove dangling owner references', () => this.#setOwnerRefs(def, obj, refs.filter((r) => !gone.has(r.uid))), () => this.#dirty.add(id))
      return
    }
    let policy: 'Foreground' | 'Background' | 'Orphan'
    if (waiting.length && (this.#byOwner.get(obj.metadata.uid!)?.size ?? 0) > 0) policy = 'Foreground'
    else if (hasFinalizer(obj, ORPHAN_FINALIZER)) policy = 'Orphan'
    else if (hasFinalizer(obj, FOREGROUND_FINALIZER)) policy = 'Foreground'
    else policy = 'Background'
    const ns = obj.metadata.namespace
    this.#try('delete a dependent', () =>
      this.#rest.delete(def, ns, obj.metadata.name!, { propagationPolicy: policy, preconditions: { uid: obj.metadata.uid } }),
    )
  }

  /**
   * An owner reference's state (classifyReferences / isDangling): `dangling` when the owner
   * is absent or has another uid, `waiting` when it is being deleted in the foreground,
   * `solid` otherwise — also when its kind is not served or a cluster-scoped dependent names a
   * namespaced kind (unresolvable: the real collector keeps retrying and never deletes).
   */
  #classify(depDef: ResourceDef, dep: KubeObject, ref: OwnerRef): 'solid' | 'dangling' | 'waiting' {
    const ownerDef = this.#rest.registry.byKind(ref.apiVersion, ref.kind)
    if (!ownerDef) return 'solid'
    const ownerStorage = ownerDef.storage ? this.#defOf(resourceKey(ownerDef)) : ownerDef
    if (!ownerStorage) return 'solid'
    if (ownerDef.namespaced && !depDef.namespaced) {
      this.#reportInvalidNamespace(depDef, dep, ref)
      return 'solid'
    }
    const namespace = ownerDef.namespaced ? dep.metadata.namespace : undefined
    const owner = this.#rest.store.get(resourceKey(ownerStorage), objectKey(namespace, ref.name))
    if (!owner || owner.metadata.uid !== ref.uid) {
      if (ownerDef.namespaced && this.#uidElsewhere(resourceKey(ownerStorage), ref.uid, namespace)) this.#reportInvalidNamespace(depDef, dep, ref)
      return 'dangling'
    }
    if (owner.metadata.deletionTimestamp && hasFinalizer(owner, FOREGROUND_FINALIZER)) return 'waiting'
    return 'solid'
  }

  /** Whether an object with `uid` lives in another namespace than `namespace` (one scan per resource and pass). */
  #uidElsewhere(res: string, uid: string, namespace: string | undefined): boolean {
    let uids = this.#uidIndex.get(res)
    if (!uids) {
      uids = new Map()
      const { keys, objects } = this.#rest.store.snapshot(res)
      for (const k of keys) {
        const o = objects.get(k)
        if (o?.metadata.uid) uids.set(o.metadata.uid, o.metadata.namespace)
      }
      this.#uidIndex.set(res, uids)
    }
    return uids.has(uid) && uids.get(uid) !== namespace
  }

  /** The Warning Event kube-controller-manager records for a cross-namespace owner reference (graph_builder.go). */
  #reportInvalidNamespace(depDef: ResourceDef, dep: KubeObject, ref: OwnerRef): void {
    const once = `${dep.metadata.uid}/${ref.uid}`
    if (this.#reported.has(once)) return
    this.#reported.add(once)
    const eventDef = this.#rest.registry.lookup('', 'v1', 'events')
    const namespace = dep.metadata.namespace || 'default'
    if (!eventDef) return
    const now = nowTimestamp()
    const nsText = dep.metadata.namespace ?? ''
    this.#try('record OwnerRefInvalidNamespace', () =>
      this.#rest.create(
        eventDef,
        namespace,
        {
          apiVersion: 'v1',
          kind: 'Event',
          metadata: { name: `${dep.metadata.name}.${Date.now().toString(16)}${Math.random().toString(16).slice(2, 6)}`, namespace },
          involvedObject: { kind: depDef.kind, apiVersion: depDef.apiVersion, ...(nsText ? { namespace: nsText } : {}), name: dep.metadata.name, uid: dep.metadata.uid },
          reason: 'OwnerRefInvalidNamespace',
          message: `ownerRef [${ref.apiVersion}/${ref.kind}, namespace: ${nsText}, name: ${ref.name}, uid: ${ref.uid}] does not exist in namespace ${JSON.stringify(nsText)}`,
          source: { component: 'garbage-collector-controller' },
          firstTimestamp: now,
          lastTimestamp: now,
          count: 1,
          type: 'Warning',
          reportingComponent: 'garbage-collector-controller',
          reportingInstance: '',
        },
        { fieldManager: MANAGER },
      ),
    )
  }

  #setOwnerRefs(def: ResourceDef, obj: KubeObject, refs: OwnerRef[]): void {
    const metadata = { ...obj.metadata, ownerReferences: refs.length ? refs : undefined }
    if (!refs.length) delete metadata.ownerReferences
    this.#rest.update(def, obj.metadata.namespace, obj.metadata.name!, this.#rest.view(def, { ...obj, metadata }), { fieldManager: MANAGER })
  }

  #removeFinalizer(def: ResourceDef, addr: Address, finalizer: string): void {
    const obj = this.#get(addr)
    if (!obj || !hasFinalizer(obj, finalizer)) return
    const finalizers = (obj.metadata.finalizers ?? []).filter((f) => f !== finalizer)
    const metadata = { ...obj.metadata, finalizers }
    this.#rest.update(def, obj.metadata.namespace, obj.metadata.name!, this.#rest.view(def, { ...obj, metadata }), { fieldManager: MANAGER })
  }

  /** One terminating namespace (namespaced_resources_deleter.go Delete). */
  #drainNamespace(name: string): void {
    const nsDef = this.#rest.registry.lookup('', 'v1', 'namespaces')!
    const ns = this.#rest.store.get('/namespaces', name)
    if (!ns?.metadata.deletionTimestamp) return
    const retry = () => this.#dirtyNamespaces.add(name)
    const specFinalizers: string[] = ((ns.spec as Record<string, any> | undefined)?.finalizers as string[] | undefined) ?? []
    if (!specFinalizers.includes(NAMESPACE_FINALIZER)) {
      // Finalized (by us or by a client's /finalize): delete it when nothing else holds it.
      if (!specFinalizers.length) this.#try('delete the finalized namespace', () => this.#rest.delete(nsDef, undefined, name, { preconditions: { uid: ns.metadata.uid } }), retry)
      return
    }
    // Delete every namespaced object (deletecollection, background propagation), then count what is left.
    const remaining = new Map<string, number>()
    const byFinalizer = new Map<string, number>()
    const seen = new Set<string>()
    for (const d of this.#rest.registry.all()) {
      if (!d.namespaced || d.storage) continue
      const res = resourceKey(d)
      if (seen.has(res)) continue
      seen.add(res)
      if (this.#rest.store.countInNamespace(res, name) === 0) continue
      const { keys, objects } = this.#rest.store.snapshot(res)
      const prefix = `${name}/`
      for (const k of keys.slice(lowerBoundPrefix(keys, prefix))) {
        if (!k.startsWith(prefix)) break
        const obj = objects.get(k)
        if (obj && !obj.metadata.deletionTimestamp)
          this.#try('delete namespace content', () => this.#rest.delete(d, name, obj.metadata.name!, { propagationPolicy: 'Background' }), retry)
      }
      const left = this.#rest.store.snapshot(res)
      for (const k of left.keys.slice(lowerBoundPrefix(left.keys, prefix))) {
        if (!k.startsWith(prefix)) break
        const obj = left.objects.get(k)
        if (!obj) continue
        remaining.set(d.plural + '.' + d.group, (remaining.get(d.plural + '.' + d.group) ?? 0) + 1)
        for (const f of obj.metadata.finalizers ?? []) byFinalizer.set(f, (byFinalizer.get(f) ?? 0) + 1)
      }
    }
    this.#try('update the namespace conditions', () => this.#setConditions(nsDef, name, remaining, byFinalizer), retry)
    if (remaining.size) return
    this.#try('finalize the namespace', () => {
      const current = this.#rest.store.get('/namespaces', name)!
      const spec = { ...(current.spec as object), finalizers: specFinalizers.filter((f) => f !== NAMESPACE_FINALIZER) }
      this.#rest.update(nsDef, undefined, name, { ...current, spec }, { fieldManager: MANAGER })
    }, retry)
  }

  #setConditions(nsDef: ResourceDef, name: string, remaining: Map<string, number>, byFinalizer: Map<string, number>): void {
    const ns = this.#rest.store.get('/namespaces', name)
    if (!ns) return
    const status = (ns.status ?? {}) as Record<string, any>
    const old: Array<Record<string, any>> = Array.isArray(status.conditions) ? status.conditions : []
    const now = nowTimestamp()
    const failing: Record<string, [string, string]> = {}
    if (remaining.size)
      failing.NamespaceContentRemaining = [
        'SomeResourcesRemain',
        `Some resources are remaining: ${[...remaining].sort().map(([r, n]) => `${r} has ${n} resource instances`).join(', ')}`,
      ]
    if (byFinalizer.size)
      failing.NamespaceFinalizersRemaining = [
        'SomeFinalizersRemain',
        `Some content in the namespace has finalizers remaining: ${[...byFinalizer].sort().map(([f, n]) => `${f} in ${n} resource instances`).join(', ')}`,
      ]
    const conditions = NAMESPACE_CONDITIONS.map(([type, okReason, okMessage]) => {
      const [reason, message] = failing[type] ?? [okReason, okMessage]
      const wanted = failing[type] ? 'True' : 'False'
      const prior = old.find((c) => c.type === type)
      if (prior && prior.status === wanted && prior.reason === reason && prior.message === message) return prior
      return { type, status: wanted, lastTransitionTime: prior && prior.status === wanted ? prior.lastTransitionTime : now, reason, message }
    })
    // Unchanged conditions are not written again (status_condition_utils.go updateConditions).
    if (conditions.length === old.length && conditions.every((c, i) => c === old[i])) return
    this.#rest.update(nsDef, undefined, name, { ...ns, status: { ...status, conditions } }, { subresource: 'status', fieldManager: MANAGER })
  }
}

/** First index of a sorted key list at or after `prefix`. */
function lowerBoundPrefix(keys: string[], prefix: string): number {
  let lo = 0
  let hi = keys.length
  while (lo < hi) {
    const mid = (lo + hi) >> 1
    if (keys[mid]! < prefix) lo = mid + 1
    else hi = mid
  }
  return lo
}
