// The embedded server's garbage collector and namespace controller (lib/testing/apiserver/gc.ts)
// through the in-process API, on a FakeClock: they act only when the server's clock lets
// their pass run, as kube-controller-manager acts after the write, not inside it. The
// HTTP-level behaviour is in the conformance suite (test/conformance/gc.ts), which also
// runs against a real kube-controller-manager.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { FakeClock, startApiServer } from '../../../lib/testing/index.ts'

const cm = (name: string, namespace: string, extra: Record<string, unknown> = {}) => ({
  apiVersion: 'v1',
  kind: 'ConfigMap',
  metadata: { name, namespace, ...extra },
})
const ref = (o: any, extra: Record<string, unknown> = {}) => ({ apiVersion: 'v1', kind: 'ConfigMap', name: o.metadata.name, uid: o.metadata.uid, ...extra })

test('garbage collection runs on the server clock, after the write (background: the owner first, then its dependent)', async () => {
  const clock = new FakeClock()
  const server = await startApiServer({ clock })
  try {
    server.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'g1' } })
    const owner = server.create(cm('owner', 'g1'))
    server.create(cm('dep', 'g1', { ownerReferences: [ref(owner)] }))
    server.delete({ apiVersion: 'v1', kind: 'ConfigMap', namespace: 'g1', name: 'owner' })
    assert.equal(server.get({ apiVersion: 'v1', kind: 'ConfigMap', namespace: 'g1', name: 'owner' }), undefined)
    assert.ok(server.get({ apiVersion: 'v1', kind: 'ConfigMap', namespace: 'g1', name: 'dep' }), 'the dependent waits for the pass')
    await clock.advance(0)
    assert.equal(server.get({ apiVersion: 'v1', kind: 'ConfigMap', namespace: 'g1', name: 'dep' }), undefined)
  } finally {
    await server.close()
  }
})

test('a foreground chain is collected bottom-up, one pass per level as the collector reacts to its own deletes', async () => {
  const clock = new FakeClock()
  const server = await startApiServer({ clock })
  try {
    server.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'g2' } })
    const top = server.create(cm('top', 'g2'))
    const mid = server.create(cm('mid', 'g2', { ownerReferences: [ref(top, { blockOwnerDeletion: true })] }))
    server.create(cm('leaf', 'g2', { ownerReferences: [ref(mid, { blockOwnerDeletion: true })] }))
    const kc = server.kubeConfig
    const res = await fetch(`${kc.getCurrentCluster()!.server}/api/v1/namespaces/g2/configmaps/top?propagationPolicy=Foreground`, { method: 'DELETE' })
    assert.equal(res.status, 200)
    const get = (name: string) => server.get({ apiVersion: 'v1', kind: 'ConfigMap', namespace: 'g2', name })
    assert.deepEqual(get('top')?.metadata.finalizers, ['foregroundDeletion'])
    for (let i = 0; i < 10 && get('top'); i++) await clock.advance(0)
    assert.equal(get('top'), undefined)
    assert.equal(get('mid'), undefined)
    assert.equal(get('leaf'), undefined)
  } finally {
    await server.close()
  }
})

test('controllers: false behaves like kube-apiserver alone: a deleted namespace stays Terminating, GC finalizers stay', async () => {
  const clock = new FakeClock()
  const server = await startApiServer({ clock, controllers: false })
  try {
    server.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'g3' } })
    const owner = server.create(cm('owner', 'g3'))
    server.create(cm('dep', 'g3', { ownerReferences: [ref(owner)] }))
    server.create(cm('orphan-of-ghost', 'g3', { ownerReferences: [{ apiVersion: 'v1', kind: 'ConfigMap', name: 'ghost', uid: 'nope' }] }))
    const base = server.kubeConfig.getCurrentCluster()!.server
    await fetch(`${base}/api/v1/namespaces/g3/configmaps/owner?propagationPolicy=Orphan`, { method: 'DELETE' })
    await fetch(`${base}/api/v1/namespaces/g3`, { method: 'DELETE' })
    await clock.advance(1_000)
    const ns = server.get<any>({ apiVersion: 'v1', kind: 'Namespace', name: 'g3' })
    assert.equal(ns?.status.phase, 'Terminating')
    assert.equal(ns?.status.conditions, undefined)
    assert.deepEqual(server.get({ apiVersion: 'v1', kind: 'ConfigMap', namespace: 'g3', name: 'owner' })?.metadata.finalizers, ['orphan'])
    assert.ok(server.get({ apiVersion: 'v1', kind: 'ConfigMap', namespace: 'g3', name: 'orphan-of-ghost' }))
    assert.equal(server.list('v1', 'ConfigMap', 'g3').length, 3)
  } finally {
    await server.close()
  }
})

test('a namespace drains on the clock: content deleted, conditions while a finalizer holds an object, gone once released', async () => {
  const clock = new FakeClock()
  const server = await startApiServer({ clock })
  try {
    server.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'g4' } })
    server.create(cm('plain', 'g4'))
    server.create(cm('held', 'g4', { finalizers: ['x.io/keep'] }))
    server.delete({ apiVersion: 'v1', kind: 'Namespace', name: 'g4' })
    assert.equal(server.list('v1', 'ConfigMap', 'g4').length, 2, 'nothing is deleted inside the namespace DELETE')
    await clock.advance(0)
    assert.deepEqual(server.list('v1', 'ConfigMap', 'g4').map((o) => o.metadata.name), ['held'])
    const ns = server.get<any>({ apiVersion: 'v1', kind: 'Namespace', name: 'g4' })
    const byType = Object.fromEntries(ns.status.conditions.map((c: any) => [c.type, `${c.status} ${c.reason}: ${c.message}`]))
    assert.equal(byType.NamespaceContentRemaining, 'True SomeResourcesRemain: Some resources are remaining: configmaps. has 1 resource instances')
    assert.equal(
      byType.NamespaceFinalizersRemaining,
      'True SomeFinalizersRemain: Some content in the namespace has finalizers remaining: x.io/keep in 1 resource instances',
    )
    const marked = server.get<any>({ apiVersion: 'v1', kind: 'ConfigMap', namespace: 'g4', name: 'held' })
    server.update({ ...marked, metadata: { ...marked.metadata, finalizers: [] } })
    await clock.advance(0)
    assert.equal(server.get({ apiVersion: 'v1', kind: 'Namespace', name: 'g4' }), undefined)
  } finally {
    await server.close()
  }
})

test('2000 dependents of one owner are all collected in the one pass after its delete (a queue, not a scan per dependent)', async () => {
  const clock = new FakeClock()
  const server = await startApiServer({ clock })
  try {
    server.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'g5' } })
    const owner = server.create(cm('owner', 'g5'))
    const other = server.create(cm('other', 'g5'))
    for (let i = 0; i < 2000; i++) server.create(cm(`d${i}`, 'g5', { ownerReferences: [ref(owner)] }))
    server.create(cm('kept', 'g5', { ownerReferences: [ref(other)] }))
    await clock.advance(0) // the creates' pass: every owner is alive, nothing changes
    assert.equal(server.list('v1', 'ConfigMap', 'g5').length, 2003)
    server.delete({ apiVersion: 'v1', kind: 'ConfigMap', namespace: 'g5', name: 'owner' })
    await clock.advance(0)
    assert.deepEqual(server.list('v1', 'ConfigMap', 'g5').map((o) => o.metadata.name).sort(), ['kept', 'other'])
  } finally {
    await server.close()
  }
})
