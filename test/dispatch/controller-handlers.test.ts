// Event handlers and request keys of the reconcile loop, pure.
// Anchors: controller-runtime pkg/handler — enqueue_owner.go (owner references match on
// the group of apiVersion + kind; OnlyControllerOwner takes the controller reference; a
// namespaced owner is looked up in the object's namespace; Update maps old and new) and
// enqueue_mapped.go ("For UpdateEvents which contain both a new and old object, the
// transformation function is run on both objects").
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { enqueueMapped, enqueueObject, enqueueOwner } from '../../lib/dispatch/handlers.ts'
import { type ControllerEvent, parseRequestKey, type Request, requestKey } from '../../lib/dispatch/request.ts'
import type { KubeObject } from '../../lib/watch/object.ts'

const pod = (ownerReferences: unknown[], name = 'web-1'): KubeObject => ({ apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: 'prod', ownerReferences } })
const ref = (apiVersion: string, kind: string, name: string, controller?: boolean) => ({ apiVersion, kind, name, uid: `uid-${name}`, ...(controller === undefined ? {} : { controller }) })
const keys = (requests: Iterable<Request>) => [...requests].map(requestKey).sort()

describe('request keys', () => {
  test('namespace/name for namespaced objects and name for cluster-scoped ones, and back', () => {
    assert.equal(requestKey({ namespace: 'ns', name: 'a' }), 'ns/a')
    assert.equal(requestKey({ name: 'node-1' }), 'node-1')
    assert.deepEqual(parseRequestKey('ns/a'), { namespace: 'ns', name: 'a' })
    assert.deepEqual(parseRequestKey('node-1'), { name: 'node-1' })
  })
})

describe('enqueueObject', () => {
  test('enqueues the object of every event type', () => {
    const h = enqueueObject()
    const o = pod([])
    for (const e of [{ type: 'created', object: o }, { type: 'deleted', object: o }, { type: 'generic', object: o }, { type: 'modified', object: o, previous: o }] as ControllerEvent[]) {
      assert.deepEqual(keys(h(e)), ['prod/web-1'])
    }
    assert.deepEqual(keys(h({ type: 'generic', object: { metadata: { name: 'node-1' } } })), ['node-1'])
  })
})

describe('enqueueOwner', () => {
  const deployment = { apiVersion: 'apps/v1', kind: 'Deployment' }
  test('enqueues every owner of the kind, matching the group of apiVersion and not its version', () => {
    const o = pod([ref('apps/v1', 'Deployment', 'a'), ref('apps/v1beta1', 'Deployment', 'b'), ref('extensions/v1', 'Deployment', 'c'), ref('apps/v1', 'ReplicaSet', 'd')])
    assert.deepEqual(keys(enqueueOwner(deployment)({ type: 'created', object: o })), ['prod/a', 'prod/b'])
  })

  test('with onlyController, only the first reference with controller: true counts', () => {
    const o = pod([ref('apps/v1', 'Deployment', 'a'), ref('apps/v1', 'Deployment', 'b', true), ref('apps/v1', 'Deployment', 'c', true)])
    assert.deepEqual(keys(enqueueOwner(deployment, { onlyController: true })({ type: 'created', object: o })), ['prod/b'])
    assert.deepEqual(keys(enqueueOwner(deployment, { onlyController: true })({ type: 'created', object: pod([ref('apps/v1', 'Deployment', 'a', false)]) })), [])
  })

  test('the controller reference of another kind means no owner of this kind', () => {
    const o = pod([ref('apps/v1', 'ReplicaSet', 'rs', true), ref('apps/v1', 'Deployment', 'a')])
    assert.deepEqual(keys(enqueueOwner(deployment, { onlyController: true })({ type: 'created', object: o })), [])
  })

  test('core kinds have the empty group; cluster-scoped owners are enqueued without a namespace', () => {
    const o = pod([ref('v1', 'Node', 'node-1'), ref('v1', 'ConfigMap', 'cm')])
    assert.deepEqual(keys(enqueueOwner({ apiVersion: 'v1', kind: 'Node', namespaced: false })({ type: 'deleted', object: o })), ['node-1'])
    assert.deepEqual(keys(enqueueOwner({ apiVersion: 'v1', kind: 'ConfigMap' })({ type: 'deleted', object: o })), ['prod/cm'])
  })

  test('a modified object enqueues the owners of both its previous and its new version', () => {
    const h = enqueueOwner(deployment, { onlyController: true })
    const e: ControllerEvent = { type: 'modified', previous: pod([ref('apps/v1', 'Deployment', 'old', true)]), object: pod([ref('apps/v1', 'Deployment', 'new', true)]) }
    assert.deepEqual(keys(h(e)), ['prod/new', 'prod/old'])
  })

  test('objects without owner references enqueue nothing', () => {
    assert.deepEqual(keys(enqueueOwner(deployment)({ type: 'created', object: { metadata: { name: 'x', namespace: 'prod' } } })), [])
  })
})

describe('enqueueMapped', () => {
  const byLabel = enqueueMapped((o) => {
    const target = (o.metadata as { labels?: Record<string, string> } | undefined)?.labels?.target
    return target ? [{ namespace: o.metadata?.namespace, name: target }] : []
  })
  const cm = (target?: string): KubeObject => ({ metadata: { name: 'cm', namespace: 'ns', ...(target ? { labels: { target } } : {}) } })

  test('maps the object of created, deleted and generic events', () => {
    for (const type of ['created', 'deleted', 'generic'] as const) assert.deepEqual(keys(byLabel({ type, object: cm('a') })), ['ns/a'])
  })

  test('a label that moves enqueues the old target and the new one', () => {
    assert.deepEqual(keys(byLabel({ type: 'modified', previous: cm('a'), object: cm('b') })), ['ns/a', 'ns/b'])
    assert.deepEqual(keys(byLabel({ type: 'modified', previous: cm('a'), object: cm() })), ['ns/a'])
  })
})
