/**
 * Conformance scenarios for garbage collection and namespace lifecycle: what
 * kube-controller-manager's garbage collector and namespace controller do, run against the
 * embedded server (its controllers, lib/testing/apiserver/gc.ts) and against kube-apiserver
 * with a real kube-controller-manager (`startKubeApiServer({ controllerManager: true })`).
 *
 * Both run asynchronously (the real collector reacts to informer events, usually within a
 * second), so scenarios wait with a bound (`patienceMs`) and compare event order (watch
 * events and resourceVersions, which both servers order globally) and final states, never
 * timing.
 *
 * Anchors: https://kubernetes.io/docs/concepts/architecture/garbage-collection/ ("Cascading
 * deletion": foreground, background, orphan; ownerReferences and blockOwnerDeletion;
 * cross-namespace owner references), https://kubernetes.io/docs/concepts/overview/working-with-objects/namespaces/
 * and k8s.io/kubernetes pkg/controller/garbagecollector, pkg/controller/namespace/deletion.
 */
import assert from 'node:assert/strict'
import { before, describe, test, type TestContext } from 'node:test'
import type { KubeConfig } from '@kubernetes/client-node'
import { eventually } from '../support/mirror.ts'
import { ok, openWatch, raw, type RawWatch, type WatchEvent } from './http.ts'
import type { ConformanceTarget } from './target.ts'

const MERGE = 'application/merge-patch+json'

interface Ref {
  apiVersion: string
  kind: string
  name: string
  uid: string
  blockOwnerDeletion?: boolean
  controller?: boolean
}

/** Registers the garbage-collection and namespace-lifecycle scenarios against `target`. */
export function gcScenarios(getTarget: () => ConformanceTarget): void {
  let target: ConformanceTarget
  let seq = 0
  before(() => {
    target = getTarget()
  })
  const kc = (): KubeConfig => target.kubeConfig
  const patience = () => target.patienceMs

  /** Skips (with the reason printed) on a target without the controllers. */
  function needsControllers(t: TestContext): boolean {
    if (target.controllers) return true
    t.skip(`${target.label} runs no garbage collector or namespace controller (start it with controllerManager: true)`)
    return false
  }

  async function namespace(): Promise<string> {
    const name = `gc-${++seq}-${Math.random().toString(36).slice(2, 7)}`
    await ok(kc(), 'POST', '/api/v1/namespaces', { metadata: { name } })
    return name
  }
  const cms = (ns: string) => `/api/v1/namespaces/${ns}/configmaps`
  const ref = (o: any, extra: Partial<Ref> = {}): Ref => ({ apiVersion: o.apiVersion ?? 'v1', kind: o.kind ?? 'ConfigMap', name: o.metadata.name, uid: o.metadata.uid, ...extra })
  const createCm = (ns: string, name: string, owners: Ref[] = [], finalizers?: string[]) =>
    ok(kc(), 'POST', cms(ns), {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name, ...(owners.length ? { ownerReferences: owners } : {}), ...(finalizers ? { finalizers } : {}) },
    })
  const gone = async (path: string, what: string) =>
    eventually(async () => (await raw(kc(), 'GET', path)).status === 404, patience(), what)
  const watchFrom = async (path: string): Promise<RawWatch> => {
    const list = await ok(kc(), 'GET', path)
    return openWatch(kc(), `${path}${path.includes('?') ? '&' : '?'}watch=1&resourceVersion=${list.metadata.resourceVersion}`)
  }
  const seen = (evs: WatchEvent[]) => evs.map((e) => `${e.type} ${e.object?.metadata?.name}`)
  const index = (evs: WatchEvent[], entry: string) => seen(evs).indexOf(entry)

  describe('garbage collection: owner references and propagation policies', () => {
    test('Background (the default): the owner goes at once; its dependents are deleted after it', async (t) => {
      if (!needsControllers(t)) return
      const ns = await namespace()
      const owner = await createCm(ns, 'owner')
      await createCm(ns, 'dep-a', [ref(owner, { blockOwnerDeletion: true, controller: true })])
      await createCm(ns, 'dep-b', [ref(owner)])
      const w = await watchFrom(cms(ns))
      try {
        const del = await raw(kc(), 'DELETE', `${cms(ns)}/owner`)
        assert.equal(del.status, 200, del.text)
        // The owner is removed by the DELETE itself, not by the collector.
        assert.equal((await raw(kc(), 'GET', `${cms(ns)}/owner`)).status, 404)
        await w.until((evs) => evs.filter((e) => e.type === 'DELETED').length >= 3, patience(), 'three DELETED events')
        assert.equal(seen(w.events)[0], 'DELETED owner', 'the owner first')
        assert.deepEqual(seen(w.events).slice(1).sort(), ['DELETED dep-a', 'DELETED dep-b'])
        assert.deepEqual((await ok(kc(), 'GET', cms(ns))).items, [])
      } finally {
        w.close()
      }
    })

    test('Foreground: the owner is marked (deletionTimestamp, foregroundDeletion) and waits for its blockOwnerDeletion dependents, then goes', async (t) => {
      if (!needsControllers(t)) return
      const ns = await namespace()
      const owner = await createCm(ns, 'owner')
      // `blocker` is held by its own finalizer, so the owner must wait for it.
      await createCm(ns, 'blocker', [ref(owner, { blockOwnerDeletion: true })], ['x.io/keep'])
      await createCm(ns, 'free', [ref(owner)])
      const w = await watchFrom(cms(ns))
      try {
        const del = await raw(kc(), 'DELETE', `${cms(ns)}/owner`, { apiVersion: 'v1', kind: 'DeleteOptions', propagationPolicy: 'Foreground' })
        assert.equal(del.status, 200, del.text)
        assert.deepEqual(del.body.metadata.finalizers, ['foregroundDeletion'])
        assert.equal(typeof del.body.metadata.deletionTimestamp, 'string')
        await gone(`${cms(ns)}/free`, 'the non-blocking dependent to be deleted')
        await eventually(
          async () => typeof (await ok(kc(), 'GET', `${cms(ns)}/blocker`)).metadata.deletionTimestamp === 'string',
          patience(),
          'the blocking dependent to be deleted (held by its finalizer)',
        )
        const waiting = await ok(kc(), 'GET', `${cms(ns)}/owner`)
        assert.deepEqual(waiting.metadata.finalizers, ['foregroundDeletion'], 'the owner waits for its blocking dependent')
        await ok(kc(), 'PATCH', `${cms(ns)}/blocker`, { metadata: { finalizers: null } }, MERGE)
        await gone(`${cms(ns)}/owner`, 'the owner to go once its blocking dependent is gone')
        await w.until((evs) => index(evs, 'DELETED owner') >= 0, patience(), 'DELETED owner')
        const order = seen(w.events)
        assert.equal(order[0], 'MODIFIED owner', 'first the owner is marked')
        assert.equal(w.events[0]!.object.metadata.finalizers?.[0], 'foregroundDeletion')
        assert.ok(index(w.events, 'DELETED free') > 0)
        assert.ok(index(w.events, 'DELETED blocker') < index(w.events, 'DELETED owner'), `blocker before owner: ${order.join(', ')}`)
        assert.equal(order.at(-1), 'DELETED owner', 'the owner last')
      } finally {
        w.close()
      }
    })

    test('Orphan: the dependents lose their reference to the owner (other owners stay), then the owner goes', async (t) => {
      if (!needsControllers(t)) return
      const ns = await namespace()
      const owner = await createCm(ns, 'owner')
      const keeper = await createCm(ns, 'keeper')
      await createCm(ns, 'only', [ref(owner, { blockOwnerDeletion: true })])
      await createCm(ns, 'shared', [ref(owner), ref(keeper)])
      const w = await watchFrom(cms(ns))
      try {
        const del = await ok(kc(), 'DELETE', `${cms(ns)}/owner?propagationPolicy=Orphan`)
        assert.deepEqual(del.metadata.finalizers, ['orphan'])
        await gone(`${cms(ns)}/owner`, 'the owner to go')
        const only = await ok(kc(), 'GET', `${cms(ns)}/only`)
        assert.equal(only.metadata.ownerReferences, undefined)
        const shared = await ok(kc(), 'GET', `${cms(ns)}/shared`)
        assert.deepEqual(shared.metadata.ownerReferences.map((r: Ref) => r.name), ['keeper'])
        await w.until((evs) => index(evs, 'DELETED owner') >= 0, patience(), 'DELETED owner')
        const order = seen(w.events)
        assert.equal(order[0], 'MODIFIED owner')
        assert.deepEqual(order.slice(1, 3).sort(), ['MODIFIED only', 'MODIFIED shared'], `dependents orphaned before the owner goes: ${order.join(', ')}`)
        assert.equal(order.at(-1), 'DELETED owner')
      } finally {
        w.close()
      }
    })

    test('an owner reference to an absent owner (no such object, or another uid) is dangling: the dependent is collected; with a live owner too, only the reference goes', async (t) => {
      if (!needsControllers(t)) return
      const ns = await namespace()
      const live = await createCm(ns, 'live')
      const ghost: Ref = { apiVersion: 'v1', kind: 'ConfigMap', name: 'ghost', uid: '0b6c3a8e-0000-4000-8000-000000000001' }
      const stale: Ref = { ...ref(live), uid: '0b6c3a8e-0000-4000-8000-000000000002' }
      await createCm(ns, 'orphan-of-ghost', [ghost])
      await createCm(ns, 'wrong-uid', [stale])
      await createCm(ns, 'mixed', [ghost, ref(live)])
      await gone(`${cms(ns)}/orphan-of-ghost`, 'the dependent of an absent owner to be collected')
      await gone(`${cms(ns)}/wrong-uid`, 'the dependent of an owner with another uid to be collected')
      await eventually(
        async () => (await ok(kc(), 'GET', `${cms(ns)}/mixed`)).metadata.ownerReferences?.length === 1,
        patience(),
        'the dangling reference of a dependent with a live owner to be removed',
      )
      const mixed = await ok(kc(), 'GET', `${cms(ns)}/mixed`)
      assert.deepEqual(mixed.metadata.ownerReferences.map((r: Ref) => r.name), ['live'])
      assert.equal((await raw(kc(), 'GET', `${cms(ns)}/live`)).status, 200, 'the live owner is untouched')
    })

    test('a namespaced owner in another namespace is treated as absent: the dependent is collected and a Warning OwnerRefInvalidNamespace is recorded', async (t) => {
      if (!needsControllers(t)) return
      const home = await namespace()
      const away = await namespace()
      const owner = await createCm(home, 'owner')
      const dep = await createCm(away, 'dep', [ref(owner)])
      await gone(`${cms(away)}/dep`, 'the dependent with a cross-namespace owner to be collected')
      assert.equal((await raw(kc(), 'GET', `${cms(home)}/owner`)).status, 200, 'the owner is untouched')
      await eventually(
        async () => {
          const evs = await ok(kc(), 'GET', `/api/v1/namespaces/${away}/events`)
          return evs.items.some(
            (e: any) => e.reason === 'OwnerRefInvalidNamespace' && e.type === 'Warning' && e.involvedObject?.uid === dep.metadata.uid,
          )
        },
        patience(),
        'a Warning event OwnerRefInvalidNamespace about the dependent',
      )
    })

    test('a cluster-scoped owner (a Namespace) of a namespaced dependent is valid; deleting it collects the dependent', async (t) => {
      if (!needsControllers(t)) return
      const ns = await namespace()
      const ownerNs = await namespace()
      const owner = await ok(kc(), 'GET', `/api/v1/namespaces/${ownerNs}`)
      await createCm(ns, 'held', [{ apiVersion: 'v1', kind: 'Namespace', name: ownerNs, uid: owner.metadata.uid }])
      // A dependent of an absent owner, created after: once it is collected, the collector
      // has seen `held` too and kept it.
      await createCm(ns, 'sentinel', [{ apiVersion: 'v1', kind: 'Namespace', name: `${ownerNs}-absent`, uid: '0b6c3a8e-0000-4000-8000-000000000003' }])
      await gone(`${cms(ns)}/sentinel`, 'the sentinel to be collected')
      assert.equal((await raw(kc(), 'GET', `${cms(ns)}/held`)).status, 200, 'a live cluster-scoped owner holds its dependent')
      await ok(kc(), 'DELETE', `/api/v1/namespaces/${ownerNs}`)
      await gone(`/api/v1/namespaces/${ownerNs}`, 'the owner namespace to go')
      await gone(`${cms(ns)}/held`, 'the dependent to be collected after its owner')
    })

    test('a cascading chain owner → ReplicaSet-like → Pod-like: Foreground deletes bottom-up (pod, then middle, then owner); Background top-down', async (t) => {
      if (!needsControllers(t)) return
      const ns = await namespace()
      const deploys = `/apis/apps/v1/namespaces/${ns}/deployments`
      const pods = `/api/v1/namespaces/${ns}/pods`
      const deployment = (name: string) => ({
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        metadata: { name },
        spec: {
          replicas: 0,
          selector: { matchLabels: { app: name } },
          template: { metadata: { labels: { app: name } }, spec: { containers: [{ name: 'c', image: 'registry.k8s.io/pause:3.10' }] } },
        },
      })
      const pod = (name: string, owner: Ref) => ({
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name, ownerReferences: [owner] },
        spec: { containers: [{ name: 'c', image: 'registry.k8s.io/pause:3.10' }] },
      })
      const chain = async (name: string) => {
        const top = await ok(kc(), 'POST', deploys, deployment(name))
        const mid = await createCm(ns, `${name}-rs`, [ref(top, { apiVersion: 'apps/v1', kind: 'Deployment', blockOwnerDeletion: true, controller: true })])
        await ok(kc(), 'POST', pods, pod(`${name}-pod`, ref(mid, { blockOwnerDeletion: true, controller: true })))
      }
      await chain('fg')
      await chain('bg')
      const watches = await Promise.all([watchFrom(deploys), watchFrom(cms(ns)), watchFrom(pods)])
      try {
        await ok(kc(), 'DELETE', `${deploys}/fg`, { propagationPolicy: 'Foreground' })
        await ok(kc(), 'DELETE', `${deploys}/bg`, { propagationPolicy: 'Background' })
        for (const p of [`${deploys}/fg`, `${cms(ns)}/fg-rs`, `${pods}/fg-pod`, `${deploys}/bg`, `${cms(ns)}/bg-rs`, `${pods}/bg-pod`]) await gone(p, `${p} to be deleted`)
        const deletedAt = (name: string): number => {
          for (const w of watches) {
            const e = w.events.find((ev) => ev.type === 'DELETED' && ev.object.metadata.name === name)
            if (e) return Number(e.object.metadata.resourceVersion)
          }
          return Number.NaN
        }
        await eventually(() => ['fg', 'fg-rs', 'fg-pod', 'bg', 'bg-rs', 'bg-pod'].every((n) => !Number.isNaN(deletedAt(n))), patience(), 'six DELETED events')
        // resourceVersions order writes across resources on both servers (etcd revisions).
        assert.ok(deletedAt('fg-pod') < deletedAt('fg-rs') && deletedAt('fg-rs') < deletedAt('fg'), 'foreground: pod, then middle, then owner')
        assert.ok(deletedAt('bg') < deletedAt('bg-rs') && deletedAt('bg-rs') < deletedAt('bg-pod'), 'background: owner, then middle, then pod')
        // In the foreground chain the middle object is itself deleted in the foreground.
        const midMarked = watches[1]!.events.find((e) => e.type === 'MODIFIED' && e.object.metadata.name === 'fg-rs')
        assert.deepEqual(midMarked?.object.metadata.finalizers, ['foregroundDeletion'])
      } finally {
        for (const w of watches) w.close()
      }
    })
  })

  describe('namespace lifecycle', () => {
    test('deleting a namespace deletes its content; it stays Terminating with conditions while a finalizer holds an object, then goes', async (t) => {
      if (!needsControllers(t)) return
      const ns = await namespace()
      await createCm(ns, 'plain')
      await createCm(ns, 'held', [], ['x.io/keep'])
      await ok(kc(), 'POST', `/api/v1/namespaces/${ns}/secrets`, { metadata: { name: 's' }, stringData: { k: 'v' } })
      const w = await watchFrom(`/api/v1/namespaces?fieldSelector=metadata.name%3D${ns}`)
      try {
        const del = await raw(kc(), 'DELETE', `/api/v1/namespaces/${ns}`)
        assert.equal(del.status, 200, del.text)
        assert.equal(del.body.status.phase, 'Terminating')
        await gone(`${cms(ns)}/plain`, 'the namespace content to be deleted')
        await gone(`/api/v1/namespaces/${ns}/secrets/s`, 'the namespace content to be deleted')
        const conditionsOf = (o: any): Record<string, string> =>
          Object.fromEntries((o.status?.conditions ?? []).map((c: any) => [c.type, `${c.status} ${c.reason}`]))
        await eventually(
          async () => conditionsOf(await ok(kc(), 'GET', `/api/v1/namespaces/${ns}`)).NamespaceFinalizersRemaining === 'True SomeFinalizersRemain',
          patience(),
          'the namespace to report the finalizer that holds it',
        )
        const draining = await ok(kc(), 'GET', `/api/v1/namespaces/${ns}`)
        assert.equal(draining.status.phase, 'Terminating')
        assert.deepEqual(draining.spec.finalizers, ['kubernetes'])
        assert.deepEqual(conditionsOf(draining), {
          NamespaceDeletionDiscoveryFailure: 'False ResourcesDiscovered',
          NamespaceDeletionGroupVersionParsingFailure: 'False ParsedGroupVersions',
          NamespaceDeletionContentFailure: 'False ContentDeleted',
          NamespaceContentRemaining: 'True SomeResourcesRemain',
          NamespaceFinalizersRemaining: 'True SomeFinalizersRemain',
        })
        const remaining = draining.status.conditions.find((c: any) => c.type === 'NamespaceContentRemaining')
        assert.match(remaining.message, /configmaps\. has 1 resource instances/)
        const held = await ok(kc(), 'GET', `${cms(ns)}/held`)
        assert.equal(typeof held.metadata.deletionTimestamp, 'string', 'the held object is marked for deletion')
        await ok(kc(), 'PATCH', `${cms(ns)}/held`, { metadata: { finalizers: null } }, MERGE)
        await gone(`/api/v1/namespaces/${ns}`, 'the namespace to go once empty')
        await w.until((evs) => evs.some((e) => e.type === 'DELETED'), patience(), 'DELETED namespace')
        const types = w.events.map((e) => e.type)
        assert.equal(types[0], 'MODIFIED')
        assert.equal(types.at(-1), 'DELETED')
        assert.equal(types.filter((x) => x === 'DELETED').length, 1)
        // The controller reports the namespace empty, then finalizes it: taking `kubernetes` out
        // of spec.finalizers deletes it in that update (ShouldDeleteNamespaceDuringUpdate), so
        // no MODIFIED without the finalizer is seen and DELETED carries the state before it.
        const last = w.events.at(-1)!.object
        assert.deepEqual(last.spec.finalizers, ['kubernetes'])
        assert.equal(conditionsOf(last).NamespaceContentRemaining, 'False ContentRemoved')
        assert.equal(conditionsOf(last).NamespaceFinalizersRemaining, 'False ContentHasNoFinalizers')
        assert.ok(w.events.every((e) => (e.object.spec.finalizers ?? []).includes('kubernetes')))
      } finally {
        w.close()
      }
    })

    test('an empty namespace that is deleted goes (the namespace controller finalizes it)', async (t) => {
      if (!needsControllers(t)) return
      const ns = await namespace()
      const del = await raw(kc(), 'DELETE', `/api/v1/namespaces/${ns}`)
      assert.equal(del.status, 200, del.text)
      assert.equal(del.body.status.phase, 'Terminating')
      await gone(`/api/v1/namespaces/${ns}`, 'the namespace to go')
    })
  })
}
