// The verbs through @kubernetes/client-node (typed CoreV1Api/AppsV1Api, generic
// KubernetesObjectApi), pinned to kube-apiserver behaviour: the generic registry
// (k8s.io/apiserver registry/generic/registry/store.go) and the API concepts doc
// (https://kubernetes.io/docs/reference/using-api/api-concepts/).
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import {
  ApiException,
  AppsV1Api,
  CoordinationV1Api,
  CoreV1Api,
  KubernetesObjectApi,
  PatchStrategy,
  setHeaderOptions,
  type V1ConfigMap,
} from '@kubernetes/client-node'
import { type ApiServer, startApiServer } from '../../../lib/testing/index.ts'
import { eventually } from '../../support/mirror.ts'
import { configMap, crd, pod, request } from './helpers.ts'

async function rejects(p: Promise<unknown>): Promise<{ code: number; status: any }> {
  try {
    await p
  } catch (err) {
    assert.ok(err instanceof ApiException, `expected ApiException, got ${err}`)
    return { code: err.code, status: typeof err.body === 'string' ? JSON.parse(err.body) : err.body }
  }
  assert.fail('expected the request to fail')
}

describe('embedded API server: verbs through client-node', () => {
  let server: ApiServer
  let core: CoreV1Api
  let apps: AppsV1Api
  let objects: KubernetesObjectApi

  before(async () => {
    server = await startApiServer()
    core = server.kubeConfig.makeApiClient(CoreV1Api)
    apps = server.kubeConfig.makeApiClient(AppsV1Api)
    objects = KubernetesObjectApi.makeApiClient(server.kubeConfig)
  })
  after(() => server.close())

  test('create fills uid, creationTimestamp and a resourceVersion from one cluster-wide counter', async () => {
    const before = server.resourceVersion
    const a = await core.createNamespacedConfigMap({ namespace: 'default', body: configMap('crud-a') })
    const b = await core.createNamespacedSecret({
      namespace: 'default',
      body: { metadata: { name: 'crud-b' }, stringData: { x: 'y' } },
    })
    assert.match(a.metadata!.uid!, /^[0-9a-f-]{36}$/)
    assert.ok(a.metadata!.creationTimestamp instanceof Date)
    assert.equal(Number(a.metadata!.resourceVersion), before + 1)
    assert.equal(Number(b.metadata!.resourceVersion), before + 2)
    assert.equal(b.type, 'Opaque')
  })

  test('create of an existing name is 409 AlreadyExists', async () => {
    await core.createNamespacedConfigMap({ namespace: 'default', body: configMap('crud-dup') })
    const { code, status } = await rejects(core.createNamespacedConfigMap({ namespace: 'default', body: configMap('crud-dup') }))
    assert.equal(code, 409)
    assert.equal(status.reason, 'AlreadyExists')
    assert.equal(status.message, 'configmaps "crud-dup" already exists')
    assert.deepEqual(status.details, { name: 'crud-dup', kind: 'configmaps' })
  })

  test('generateName appends five random characters', async () => {
    const cm = await core.createNamespacedConfigMap({ namespace: 'default', body: { metadata: { generateName: 'gen-' } } })
    assert.match(cm.metadata!.name!, /^gen-[bcdfghjklmnpqrstvwxz2456789]{5}$/)
  })

  test('get of a missing object is 404 NotFound with the group in the message for grouped kinds', async () => {
    const { code, status } = await rejects(apps.readNamespacedDeployment({ namespace: 'default', name: 'nope' }))
    assert.equal(code, 404)
    assert.equal(status.message, 'deployments.apps "nope" not found')
    assert.deepEqual(status.details, { name: 'nope', group: 'apps', kind: 'deployments' })
  })

  test('update with a stale resourceVersion is 409 Conflict; with the current one it succeeds', async () => {
    const cm = await core.createNamespacedConfigMap({ namespace: 'default', body: configMap('crud-upd', {}, { a: '1' }) })
    const fresh = await core.replaceNamespacedConfigMap({
      namespace: 'default',
      name: 'crud-upd',
      body: { ...cm, data: { a: '2' } },
    })
    assert.ok(Number(fresh.metadata!.resourceVersion) > Number(cm.metadata!.resourceVersion))
    const { code, status } = await rejects(
      core.replaceNamespacedConfigMap({ namespace: 'default', name: 'crud-upd', body: { ...cm, data: { a: '3' } } }),
    )
    assert.equal(code, 409)
    assert.equal(status.reason, 'Conflict')
    assert.equal(
      status.message,
      'Operation cannot be fulfilled on configmaps "crud-upd": the object has been modified; please apply your changes to the latest version and try again',
    )
    const now = await core.readNamespacedConfigMap({ namespace: 'default', name: 'crud-upd' })
    assert.deepEqual(now.data, { a: '2' })
  })

  test('an update that changes nothing keeps the resourceVersion (no write, no event)', async () => {
    const cm = await core.createNamespacedConfigMap({ namespace: 'default', body: configMap('crud-noop', {}, { a: '1' }) })
    const again = await core.replaceNamespacedConfigMap({ namespace: 'default', name: 'crud-noop', body: cm })
    assert.equal(again.metadata!.resourceVersion, cm.metadata!.resourceVersion)
  })

  test('generation starts at 1 and moves on spec changes only, not on metadata or status', async () => {
    const body = {
      metadata: { name: 'crud-gen' },
      spec: {
        selector: { matchLabels: { app: 'x' } },
        template: { metadata: { labels: { app: 'x' } }, spec: { containers: [{ name: 'c', image: 'i' }] } },
      },
    }
    const d = await apps.createNamespacedDeployment({ namespace: 'default', body })
    assert.equal(d.metadata!.generation, 1)
    const labelled = await apps.patchNamespacedDeployment(
      { namespace: 'default', name: 'crud-gen', body: { metadata: { labels: { l: 'v' } } } },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    )
    assert.equal(labelled.metadata!.generation, 1)
    const status = await apps.replaceNamespacedDeploymentStatus({
      namespace: 'default',
      name: 'crud-gen',
      body: { ...labelled, status: { replicas: 1 } },
    })
    assert.equal(status.metadata!.generation, 1)
    assert.equal(status.status!.replicas, 1)
    const scaled = await apps.patchNamespacedDeployment(
      { namespace: 'default', name: 'crud-gen', body: { spec: { replicas: 3 } } },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    )
    assert.equal(scaled.metadata!.generation, 2)
  })

  test('the scale subresource reads and writes a deployment\'s replicas as an autoscaling/v1 Scale', async () => {
    await apps.createNamespacedDeployment({
      namespace: 'default',
      body: {
        metadata: { name: 'crud-scale' },
        spec: {
          replicas: 2,
          selector: { matchLabels: { app: 'scale' } },
          template: { metadata: { labels: { app: 'scale' } }, spec: { containers: [{ name: 'c', image: 'i' }] } },
        },
      },
    })
    const scale = await apps.readNamespacedDeploymentScale({ namespace: 'default', name: 'crud-scale' })
    assert.equal(scale.spec!.replicas, 2)
    assert.equal(scale.status!.selector, 'app=scale')
    const patched = await apps.patchNamespacedDeploymentScale(
      { namespace: 'default', name: 'crud-scale', body: { spec: { replicas: 5 } } },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    )
    assert.equal(patched.spec!.replicas, 5)
    const d = await apps.readNamespacedDeployment({ namespace: 'default', name: 'crud-scale' })
    assert.deepEqual([d.spec!.replicas, d.metadata!.generation], [5, 2])
    const { code } = await rejects(
      apps.replaceNamespacedDeploymentScale({
        namespace: 'default',
        name: 'crud-scale',
        body: { ...scale, spec: { replicas: 1 } },
      }),
    )
    assert.equal(code, 409, 'a Scale with a stale resourceVersion conflicts')
  })

  test('the status subresource changes only status; the main resource ignores status', async () => {
    const p = await core.createNamespacedPod({ namespace: 'default', body: pod('crud-status') })
    assert.equal(p.status!.phase, 'Pending')
    const main = await core.replaceNamespacedPod({
      namespace: 'default',
      name: 'crud-status',
      body: { ...p, status: { phase: 'Running' } },
    })
    assert.equal(main.status!.phase, 'Pending')
    const viaStatus = await core.replaceNamespacedPodStatus({
      namespace: 'default',
      name: 'crud-status',
      body: { ...main, metadata: { ...main.metadata, labels: { ignored: 'yes' } }, status: { phase: 'Running' } },
    })
    assert.equal(viaStatus.status!.phase, 'Running')
    assert.equal(viaStatus.metadata!.labels?.ignored, undefined)
  })

  test('patch: merge, JSON patch and strategic merge (containers merged by name)', async () => {
    await core.createNamespacedPod({
      namespace: 'default',
      body: {
        metadata: { name: 'crud-patch', labels: { a: '1' } },
        spec: { containers: [{ name: 'app', image: 'one' }, { name: 'side', image: 'car' }] },
      },
    })
    const merged = await core.patchNamespacedPod(
      { namespace: 'default', name: 'crud-patch', body: { metadata: { labels: { a: null, b: '2' } } } },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    )
    assert.deepEqual(merged.metadata!.labels, { b: '2' })
    const jsonPatched = await core.patchNamespacedPod(
      { namespace: 'default', name: 'crud-patch', body: [{ op: 'add', path: '/metadata/labels/c', value: '3' }] },
      setHeaderOptions('Content-Type', PatchStrategy.JsonPatch),
    )
    assert.deepEqual(jsonPatched.metadata!.labels, { b: '2', c: '3' })
    const strategic = await core.patchNamespacedPod(
      { namespace: 'default', name: 'crud-patch', body: { spec: { containers: [{ name: 'app', image: 'two' }] } } },
      setHeaderOptions('Content-Type', PatchStrategy.StrategicMergePatch),
    )
    assert.deepEqual(
      strategic.spec!.containers.map((c) => `${c.name}=${c.image}`),
      ['app=two', 'side=car'],
    )
    const removed = await core.patchNamespacedPod(
      { namespace: 'default', name: 'crud-patch', body: { spec: { containers: [{ name: 'side', $patch: 'delete' }] } } },
      setHeaderOptions('Content-Type', PatchStrategy.StrategicMergePatch),
    )
    assert.deepEqual(removed.spec!.containers.map((c) => c.name), ['app'])
  })

  test('a JSON patch whose test operation fails is 422 and changes nothing', async () => {
    const cm = await core.createNamespacedConfigMap({ namespace: 'default', body: configMap('crud-test-op', {}, { a: '1' }) })
    const { code } = await rejects(
      core.patchNamespacedConfigMap(
        {
          namespace: 'default',
          name: 'crud-test-op',
          body: [
            { op: 'replace', path: '/data/a', value: '2' },
            { op: 'test', path: '/data/a', value: '9' },
          ],
        },
        setHeaderOptions('Content-Type', PatchStrategy.JsonPatch),
      ),
    )
    assert.equal(code, 422)
    const now = await core.readNamespacedConfigMap({ namespace: 'default', name: 'crud-test-op' })
    assert.equal(now.metadata!.resourceVersion, cm.metadata!.resourceVersion)
  })

  test('a patch that pins a stale resourceVersion is 409 Conflict', async () => {
    const cm = await core.createNamespacedConfigMap({ namespace: 'default', body: configMap('crud-pin') })
    await core.patchNamespacedConfigMap(
      { namespace: 'default', name: 'crud-pin', body: { data: { x: '1' } } },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    )
    const { code } = await rejects(
      core.patchNamespacedConfigMap(
        { namespace: 'default', name: 'crud-pin', body: { metadata: { resourceVersion: cm.metadata!.resourceVersion }, data: { x: '2' } } },
        setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
      ),
    )
    assert.equal(code, 409)
  })

  test('delete with finalizers sets deletionTimestamp; removing the last finalizer removes the object', async () => {
    await core.createNamespacedConfigMap({
      namespace: 'default',
      body: { metadata: { name: 'crud-fin', finalizers: ['example.com/keep'] } },
    })
    const del = await request(server, 'DELETE', '/api/v1/namespaces/default/configmaps/crud-fin')
    assert.equal(del.status, 200) // 202 only with orphanDependents=false (apiserver handlers/delete.go), like the real server
    const marked = await core.readNamespacedConfigMap({ namespace: 'default', name: 'crud-fin' })
    assert.ok(marked.metadata!.deletionTimestamp)
    const { code, status } = await rejects(
      core.patchNamespacedConfigMap(
        { namespace: 'default', name: 'crud-fin', body: { metadata: { finalizers: ['example.com/keep', 'example.com/new'] } } },
        setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
      ),
    )
    assert.equal(code, 422)
    assert.match(status.message, /no new finalizers can be added if the object is being deleted/)
    await core.patchNamespacedConfigMap(
      { namespace: 'default', name: 'crud-fin', body: { metadata: { finalizers: null } } },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    )
    assert.equal((await rejects(core.readNamespacedConfigMap({ namespace: 'default', name: 'crud-fin' }))).code, 404)
  })

  test('delete preconditions on uid and resourceVersion are 409 Conflict when they do not hold', async () => {
    await core.createNamespacedConfigMap({ namespace: 'default', body: configMap('crud-pre') })
    const { code, status } = await rejects(
      core.deleteNamespacedConfigMap({ namespace: 'default', name: 'crud-pre', body: { preconditions: { uid: 'other' } } }),
    )
    assert.equal(code, 409)
    assert.match(status.message, /the UID in the precondition \(other\) does not match the UID in record/)
  })

  test('deletecollection deletes what the selector matches and nothing else', async () => {
    await core.createNamespace({ body: { metadata: { name: 'crud-coll' } } })
    for (const [name, tier] of [
      ['c1', 'web'],
      ['c2', 'web'],
      ['c3', 'db'],
    ])
      await core.createNamespacedConfigMap({ namespace: 'crud-coll', body: { metadata: { name, labels: { tier: tier! } } } })
    await core.deleteCollectionNamespacedConfigMap({ namespace: 'crud-coll', labelSelector: 'tier=web' })
    const left = await core.listNamespacedConfigMap({ namespace: 'crud-coll' })
    assert.deepEqual(left.items.map((c) => c.metadata!.name), ['c3'])
  })

  test('deleting a namespace deletes its objects, then the namespace (asynchronously, as the namespace controller does)', async () => {
    await core.createNamespace({ body: { metadata: { name: 'crud-gone' } } })
    await core.createNamespacedConfigMap({ namespace: 'crud-gone', body: { metadata: { name: 'x' } } })
    await core.deleteNamespace({ name: 'crud-gone' })
    await eventually(async () => (await rejects(core.readNamespace({ name: 'crud-gone' }))).code === 404, 5_000, 'the namespace to go')
    const { code, status } = await rejects(
      core.createNamespacedConfigMap({ namespace: 'crud-gone', body: { metadata: { name: 'y' } } }),
    )
    assert.equal(code, 404)
    assert.equal(status.message, 'namespaces "crud-gone" not found')
  })

  test('a namespace stays Terminating while an object in it waits on a finalizer, and goes when it is released', async () => {
    server.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'crud-term' } })
    server.create({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'held', namespace: 'crud-term', finalizers: ['x/y'] } })
    await core.deleteNamespace({ name: 'crud-term' })
    const ns = await core.readNamespace({ name: 'crud-term' })
    assert.equal(ns.status!.phase, 'Terminating')
    const refused = await rejects(core.createNamespacedConfigMap({ namespace: 'crud-term', body: { metadata: { name: 'new' } } }))
    assert.equal(refused.code, 403)
    assert.match(refused.status.message, /because it is being terminated/)
    await core.patchNamespacedConfigMap(
      { namespace: 'crud-term', name: 'held', body: { metadata: { finalizers: null } } },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    )
    await eventually(async () => (await rejects(core.readNamespace({ name: 'crud-term' }))).code === 404, 5_000, 'the namespace to go')
  })

  test('the generic KubernetesObjectApi creates, reads, lists, patches and deletes built-in kinds', async () => {
    const created = await objects.create<V1ConfigMap>(configMap('crud-generic', { via: 'generic' }))
    assert.equal(created.kind, 'ConfigMap')
    const read = await objects.read<V1ConfigMap>({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'crud-generic', namespace: 'default' } })
    assert.equal(read.metadata!.uid, created.metadata!.uid)
    const list = await objects.list('v1', 'ConfigMap', 'default', undefined, undefined, undefined, undefined, 'via=generic')
    assert.deepEqual(list.items.map((i) => i.metadata!.name), ['crud-generic'])
    const patched = await objects.patch<V1ConfigMap>(
      { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'crud-generic', namespace: 'default' }, data: { p: '1' } } as V1ConfigMap,
      undefined,
      undefined,
      undefined,
      undefined,
      PatchStrategy.MergePatch,
    )
    assert.deepEqual(patched.data, { p: '1' })
    await objects.delete({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'crud-generic', namespace: 'default' } })
    assert.equal(server.get({ apiVersion: 'v1', kind: 'ConfigMap', name: 'crud-generic' }), undefined)
  })

  test('a CRD registers its kind at runtime, namespaced or cluster-scoped, and deleting it removes its objects', async () => {
    await objects.create(crd('Namespaced'))
    await objects.create(crd('Cluster'))
    const w = await objects.create({ apiVersion: 'example.com/v1', kind: 'Widget', metadata: { name: 'w1', namespace: 'default' }, spec: { size: 1 } } as any)
    assert.equal((w as any).metadata.generation, 1)
    const g = await objects.create({ apiVersion: 'example.com/v1', kind: 'Gadget', metadata: { name: 'g1' }, spec: {} } as any)
    assert.equal(g.metadata!.namespace, undefined)
    const discovery = await request(server, 'GET', '/apis/example.com/v1')
    assert.deepEqual(
      discovery.body.resources.map((r: any) => `${r.name}:${r.namespaced}`).sort(),
      ['gadgets/status:false', 'gadgets:false', 'widgets/status:true', 'widgets:true'],
    )
    const list = await request(server, 'GET', '/apis/example.com/v1/namespaces/default/widgets')
    assert.equal(list.body.kind, 'WidgetList')
    assert.equal(list.body.items[0].kind, 'Widget', 'custom resource lists keep kind on items')
    const unconditional = await request(server, 'PUT', '/apis/example.com/v1/namespaces/default/widgets/w1', {
      apiVersion: 'example.com/v1',
      kind: 'Widget',
      metadata: { name: 'w1', namespace: 'default' },
      spec: { size: 2 },
    })
    assert.equal(unconditional.status, 422, 'custom resources need a resourceVersion on update')
    await objects.delete({ apiVersion: 'apiextensions.k8s.io/v1', kind: 'CustomResourceDefinition', metadata: { name: 'widgets.example.com' } })
    assert.equal((await request(server, 'GET', '/apis/example.com/v1/namespaces/default/widgets')).status, 404)
    assert.equal(server.list('example.com/v1', 'Gadget').length, 1)
  })

  test('leases (coordination.k8s.io/v1) support the optimistic-concurrency loop leader election relies on', async () => {
    const leases = server.kubeConfig.makeApiClient(CoordinationV1Api)
    const lease = await leases.createNamespacedLease({
      namespace: 'default',
      body: { metadata: { name: 'leader' }, spec: { holderIdentity: 'a', leaseDurationSeconds: 15 } },
    })
    const renewed = await leases.replaceNamespacedLease({
      namespace: 'default',
      name: 'leader',
      body: { ...lease, spec: { ...lease.spec, holderIdentity: 'b' } },
    })
    assert.equal(renewed.spec!.holderIdentity, 'b')
    const { code } = await rejects(
      leases.replaceNamespacedLease({ namespace: 'default', name: 'leader', body: { ...lease, spec: { holderIdentity: 'c' } } }),
    )
    assert.equal(code, 409)
  })

  test('events can be selected by involvedObject fields, as kubectl describe does', async () => {
    for (const [name, target] of [
      ['ev-1', 'pod-a'],
      ['ev-2', 'pod-b'],
    ])
      await core.createNamespacedEvent({
        namespace: 'default',
        body: {
          metadata: { name },
          involvedObject: { kind: 'Pod', name: target, namespace: 'default' },
          reason: 'Started',
          type: 'Normal',
        },
      })
    const list = await core.listNamespacedEvent({
      namespace: 'default',
      fieldSelector: 'involvedObject.kind=Pod,involvedObject.name=pod-b',
    })
    assert.deepEqual(list.items.map((e) => e.metadata!.name), ['ev-2'])
  })

  test('services get a cluster IP and default type', async () => {
    const svc = await core.createNamespacedService({
      namespace: 'default',
      body: { metadata: { name: 'svc' }, spec: { ports: [{ port: 80 }], selector: { app: 'x' } } },
    })
    assert.equal(svc.spec!.type, 'ClusterIP')
    assert.match(svc.spec!.clusterIP!, /^10\.96\.\d+\.\d+$/)
  })

  test('the in-process object API goes through the same validation and bookkeeping', async () => {
    const created = server.create(pod('crud-inproc'))
    assert.equal(created.metadata.generation, 1)
    assert.throws(() => server.create(pod('crud-inproc')), /already exists/)
    const got = server.get({ apiVersion: 'v1', kind: 'Pod', name: 'crud-inproc', namespace: 'default' })
    assert.equal(got?.metadata.uid, created.metadata.uid)
    server.delete({ apiVersion: 'v1', kind: 'Pod', name: 'crud-inproc', namespace: 'default' })
    assert.equal(server.get({ apiVersion: 'v1', kind: 'Pod', name: 'crud-inproc', namespace: 'default' }), undefined)
  })

  test('zeroCopy hands objects over and returns the stored (read-only) object itself', () => {
    const created = server.create(pod('crud-zero'), { zeroCopy: true })
    const ref = { apiVersion: 'v1', kind: 'Pod', name: 'crud-zero', namespace: 'default' }
    assert.equal(server.get(ref, { zeroCopy: true }), created)
    assert.notEqual(server.get(ref), created, 'the default is a copy')
    const updated = server.update({ ...created, metadata: { ...created.metadata, labels: { z: '1' } } }, { zeroCopy: true })
    assert.ok(Number(updated.metadata.resourceVersion) > Number(created.metadata.resourceVersion))
    assert.deepEqual(created.metadata.labels, {}, 'the previous stored object is untouched')
    const listed = server.list('v1', 'Pod', 'default', { zeroCopy: true }).find((p) => p.metadata.name === 'crud-zero')
    assert.equal(listed, server.get(ref, { zeroCopy: true }), 'list with zeroCopy returns the stored objects')
    assert.notEqual(server.list('v1', 'Pod', 'default').find((p) => p.metadata.name === 'crud-zero'), listed, 'list copies by default')
  })

  test('discovery lists the core and group resources the way client libraries expect', async () => {
    const api = await request(server, 'GET', '/api')
    assert.deepEqual(api.body.versions, ['v1'])
    const groups = await request(server, 'GET', '/apis')
    const names = groups.body.groups.map((g: any) => g.name)
    for (const g of ['apps', 'coordination.k8s.io', 'apiextensions.k8s.io']) assert.ok(names.includes(g), g)
    const core = await request(server, 'GET', '/api/v1')
    const pods = core.body.resources.find((r: any) => r.name === 'pods')
    assert.deepEqual(pods.verbs, ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'])
    assert.equal(pods.kind, 'Pod')
    assert.ok(core.body.resources.some((r: any) => r.name === 'pods/status'))
    const version = await request(server, 'GET', '/version')
    assert.equal(version.body.major, '1')
  })
})
