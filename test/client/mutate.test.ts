/**
 * controller-runtime `controllerutil.CreateOrUpdate` / `CreateOrPatch` and the finalizer
 * writes with conflict retry, against the embedded API server: each reports what it did,
 * and a call that finds nothing to change writes nothing.
 */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import type { V1ConfigMap } from '@kubernetes/client-node'
import type { Plain } from '../../lib/api/object.ts'
import { Client } from '../../lib/client/client.ts'
import { ensureFinalizer, ensureNoFinalizer } from '../../lib/client/finalizers.ts'
import { createOrPatch, createOrUpdate, MutateKeyChangedError } from '../../lib/client/mutate.ts'
import type { ApiServer } from '../../lib/testing/index.ts'
import type { KubeObject } from '../../lib/watch/object.ts'
import { useTestCluster } from '../support/cluster.ts'

let server: ApiServer
let ns: string
const { cm, ref } = useTestCluster('mutate', (s, n) => {
  server = s
  ns = n
})
type ConfigMap = Plain<V1ConfigMap>
const client = () => new Client(server.kubeConfig, { fieldManager: 'test' })
const writes = () => server.requestLog.filter((r) => r.method !== 'GET').length

describe('createOrUpdate', () => {
  test('created, then unchanged (no write), then updated', async () => {
    const c = client()
    const skeleton = (): ConfigMap => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'cu', namespace: ns } })
    const first = await createOrUpdate(c, skeleton(), (o) => {
      o.data = { a: '1' }
    })
    assert.equal(first.result, 'created')
    assert.deepEqual(first.object.data, { a: '1' })
    const before = writes()
    const same = await createOrUpdate(c, skeleton(), (o) => {
      o.data = { a: '1' }
    })
    assert.equal(same.result, 'unchanged')
    assert.equal(writes(), before, 'a createOrUpdate that changes nothing must not write')
    const changed = await createOrUpdate(c, skeleton(), (o) => {
      o.data = { ...o.data, b: '2' }
    })
    assert.equal(changed.result, 'updated')
    assert.deepEqual(changed.object.data, { a: '1', b: '2' })
    assert.equal(server.requestLog.at(-1)?.method, 'PUT')
  })

  test('reads from a store when given one, without changing the stored object', async () => {
    const c = client()
    const live = await c.create<ConfigMap>({ ...cm('st', { a: '1' }) })
    const stored = Object.freeze(structuredClone(live))
    const store = { get: () => stored as ConfigMap }
    const before = server.requestLog.length
    const same = await createOrUpdate(c, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'st', namespace: ns } } as ConfigMap, (o) => {
      o.data = { a: '1' }
    }, { store })
    assert.equal(same.result, 'unchanged')
    assert.equal(server.requestLog.length, before, 'no request at all')
    const upd = await createOrUpdate(c, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'st', namespace: ns } } as ConfigMap, (o) => {
      o.data = { a: '2' }
    }, { store })
    assert.equal(upd.result, 'updated')
    assert.deepEqual(stored.data, { a: '1' })
  })

  test('a mutate function that renames the object is refused', async () => {
    const c = client()
    await c.create(cm('rn'))
    await assert.rejects(
      createOrUpdate(c, cm('rn'), (o) => {
        ;(o.metadata as { name: string }).name = 'other'
      }),
      MutateKeyChangedError,
    )
  })
})

describe('createOrPatch', () => {
  const crd = () =>
    server.create({
      apiVersion: 'apiextensions.k8s.io/v1',
      kind: 'CustomResourceDefinition',
      metadata: { name: 'sites.example.com' },
      spec: {
        group: 'example.com',
        scope: 'Namespaced',
        names: { plural: 'sites', singular: 'site', kind: 'Site', listKind: 'SiteList' },
        versions: [{ name: 'v1', served: true, storage: true, subresources: { status: {} }, schema: { openAPIV3Schema: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } } }],
      },
    })

  test('reports updated, updatedStatus, updatedStatusOnly and unchanged, patching only what mutate changed', async () => {
    if (!server.get({ apiVersion: 'apiextensions.k8s.io/v1', kind: 'CustomResourceDefinition', name: 'sites.example.com' })) crd()
    const c = client()
    const site = (): KubeObject => ({ apiVersion: 'example.com/v1', kind: 'Site', metadata: { name: 'blog', namespace: ns } })
    assert.equal((await createOrPatch(c, site(), (o) => void (o.spec = { pages: 1 }))).result, 'created')
    const objectOnly = await createOrPatch(c, site(), (o) => void (o.spec = { pages: 2 }))
    assert.equal(objectOnly.result, 'updated')
    assert.equal(server.requestLog.at(-1)?.method, 'PATCH')
    const both = await createOrPatch(c, site(), (o) => {
      o.spec = { pages: 3 }
      o.status = { ready: true }
    })
    assert.equal(both.result, 'updatedStatus')
    assert.equal(server.requestLog.at(-1)?.path, `/apis/example.com/v1/namespaces/${ns}/sites/blog/status`)
    const statusOnly = await createOrPatch(c, site(), (o) => void (o.status = { ready: false }))
    assert.equal(statusOnly.result, 'updatedStatusOnly')
    assert.deepEqual(statusOnly.object.status, { ready: false })
    const before = writes()
    const none = await createOrPatch(c, site(), (o) => void (o.spec = { pages: 3 }))
    assert.equal(none.result, 'unchanged')
    assert.equal(writes(), before)
    const stored = server.get({ apiVersion: 'example.com/v1', kind: 'Site', namespace: ns, name: 'blog' }) as KubeObject
    assert.deepEqual([stored.spec, stored.status], [{ pages: 3 }, { ready: false }])
  })
})

describe('finalizers with conflict retry', () => {
  test('ensureFinalizer adds once and is a no-op (no write) when present; ensureNoFinalizer removes, then no-ops, and accepts a gone object', async () => {
    const c = client()
    await c.create(cm('f'))
    const added = await ensureFinalizer(c, ref('f'), 'example.com/cleanup')
    assert.equal(added.changed, true)
    assert.deepEqual((added.object?.metadata as { finalizers?: string[] } | undefined)?.finalizers, ['example.com/cleanup'])
    const before = writes()
    assert.equal((await ensureFinalizer(c, ref('f'), 'example.com/cleanup')).changed, false)
    assert.equal(writes(), before)
    assert.equal((await ensureNoFinalizer(c, ref('f'), 'example.com/cleanup')).changed, true)
    assert.equal((await ensureNoFinalizer(c, ref('f'), 'example.com/cleanup')).changed, false)
    await c.delete(ref('f'))
    assert.deepEqual(await ensureNoFinalizer(c, ref('f'), 'example.com/cleanup'), { object: undefined, changed: false })
  })

  test('a conflicting writer between read and write is retried with a fresh read', async () => {
    const c = client()
    await c.create(cm('race', { a: '1' }))
    let reads = 0
    const racing = new Client(server.kubeConfig)
    const original = c.get.bind(c)
    c.get = (async (r: Parameters<Client['get']>[0], o?: Parameters<Client['get']>[1]) => {
      const got = await original(r, o)
      // The first read is made stale by another writer before the update is sent.
      if (reads++ === 0) await racing.patch(ref('race'), { data: { a: '2' } })
      return got
    }) as Client['get']
    const result = await ensureFinalizer(c, ref('race'), 'example.com/cleanup')
    assert.equal(result.changed, true)
    assert.equal(reads, 2)
    const live = server.get(ref('race')) as KubeObject & { data?: Record<string, string> }
    assert.deepEqual([live.data, (live.metadata as { finalizers?: string[] }).finalizers], [{ a: '2' }, ['example.com/cleanup']])
  })
})
