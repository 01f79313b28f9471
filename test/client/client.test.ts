/**
 * The write client over real HTTP against the embedded API server: every verb, plain
 * objects in and out, objects from an informer's store written back as they are, typed
 * errors, dry-run, the query parameters and content types each write sends
 * (controller-runtime `client.Client`, Kubernetes API concepts: "Server-side apply",
 * "Dry-run", "Field validation"), subresources, and client-go's retry of throttled
 * requests.
 */
import assert from 'node:assert/strict'
import { after, describe, test } from 'node:test'
import type { V1ConfigMap, V1Deployment } from '@kubernetes/client-node'
import { AlreadyExistsError, ConflictError, InvalidError, isNotFound, NotFoundError, UnsupportedMediaTypeError } from '../../lib/api/errors.ts'
import type { Plain } from '../../lib/api/object.ts'
import { Client, ignoreNotFound, InvalidRequestError } from '../../lib/client/client.ts'
import { InformerFactory } from '../../lib/informer/informer.ts'
import type { ApiServer } from '../../lib/testing/index.ts'
import { FakeClock } from '../../lib/testing/index.ts'
import type { KubeObject } from '../../lib/watch/object.ts'
import { useTestCluster } from '../support/cluster.ts'
import { silent as logger } from '../support/log.ts'
import { eventually } from '../support/mirror.ts'

let server: ApiServer
let ns: string
let factory: InformerFactory | undefined
after(async () => {
  await factory?.stop()
})
const { cm, ref } = useTestCluster('client', (s, n) => {
  server = s
  ns = n
})

type ConfigMap = Plain<V1ConfigMap>
const client = () => new Client(server.kubeConfig, { fieldManager: 'test-manager' })
const last = (method: string) => [...server.requestLog].reverse().find((r) => r.method === method)
const lastQuery = (method: string) => new URLSearchParams(last(method)?.query ?? '')

const deployment = (name: string, replicas = 1): Plain<V1Deployment> => ({
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name, namespace: ns },
  spec: {
    replicas,
    selector: { matchLabels: { app: name } },
    template: { metadata: { labels: { app: name } }, spec: { containers: [{ name: 'app', image: 'nginx' }] } },
  },
})

describe('Client: reads and writes', () => {
  test('create, get, update and delete round-trip plain objects typed with Plain<V1ConfigMap>', async () => {
    const c = client()
    const created = await c.create<ConfigMap>({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'a', namespace: ns }, data: { k: 'v' } })
    assert.equal(Object.getPrototypeOf(created), Object.prototype)
    assert.equal(typeof created.metadata?.creationTimestamp, 'string', 'times stay strings, no Date')
    assert.ok(created.metadata?.uid)
    const got = await c.get<ConfigMap>(ref('a'))
    assert.deepEqual(got.data, { k: 'v' })
    got.data = { k: 'w' }
    const updated = await c.update(got)
    assert.deepEqual(updated.data, { k: 'w' })
    assert.notEqual(updated.metadata?.resourceVersion, got.metadata?.resourceVersion)
    assert.equal(lastQuery('PUT').get('fieldManager'), 'test-manager')
    await c.delete<ConfigMap>(ref('a'))
    await assert.rejects(c.get(ref('a')), NotFoundError)
    assert.equal(await c.delete(ref('a')).catch(ignoreNotFound), undefined)
  })

  test('update with a stale resourceVersion is a ConflictError (optimistic concurrency)', async () => {
    const c = client()
    const first = await c.create(cm('b', { n: '1' }))
    await c.update({ ...first, data: { n: '2' } })
    await assert.rejects(c.update({ ...first, data: { n: '3' } }), (err: unknown) => err instanceof ConflictError && err.status === 409)
  })

  test('typed errors: AlreadyExists on a second create, Invalid with causes', async () => {
    const c = client()
    await c.create(cm('dup'))
    await assert.rejects(c.create(cm('dup')), AlreadyExistsError)
    await assert.rejects(c.create({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'Not_Valid', namespace: ns } }), (err: unknown) => {
      assert.ok(err instanceof InvalidError)
      assert.ok(err.causes.some((cause) => cause.field === 'metadata.name'))
      return true
    })
  })

  test('bad input is refused before sending, with InvalidRequestError', async () => {
    const c = client()
    await assert.rejects(c.create({ kind: 'ConfigMap', metadata: { name: 'x', namespace: ns } }), InvalidRequestError)
    await assert.rejects(c.create({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'x' } }), /namespaced: set metadata.namespace/)
    await assert.rejects(c.update({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { namespace: ns } }), /needs metadata.name/)
    await assert.rejects(c.patch(ref('x'), [{ op: 'add' }], { type: 'merge' }), /a merge patch is an object/)
    await assert.rejects(c.patch(ref('x'), { a: 1 }, { type: 'json' }), /array of operations/)
    await assert.rejects(new Client(server.kubeConfig).apply(cm('x')), /needs a fieldManager/)
    await assert.rejects(c.get({ apiVersion: 'example.com/v1', kind: 'Nothing', name: 'x', namespace: ns }), (err: unknown) => isNotFound(err) && /is the CRD installed/.test(String(err)))
  })

  test('list: label selectors as string or map, field selectors, pages with continue, items with apiVersion and kind', async () => {
    const c = client()
    for (const [name, tier] of [['l1', 'web'], ['l2', 'web'], ['l3', 'db']]) {
      await c.create({ ...cm(name as string), metadata: { name, namespace: ns, labels: { tier } } } as KubeObject)
    }
    const web = await c.list({ apiVersion: 'v1', kind: 'ConfigMap', namespace: ns }, { labelSelector: { tier: 'web' } })
    assert.deepEqual(web.items.map((o) => o.metadata?.name), ['l1', 'l2'])
    assert.ok(web.items.every((o) => o.apiVersion === 'v1' && o.kind === 'ConfigMap'))
    const notDb = await c.list({ apiVersion: 'v1', kind: 'ConfigMap', namespace: ns }, { labelSelector: 'tier!=db', fieldSelector: 'metadata.name!=l1' })
    assert.deepEqual(notDb.items.map((o) => o.metadata?.name), ['l2'])
    const page = await c.list({ apiVersion: 'v1', kind: 'ConfigMap', namespace: ns }, { limit: 2 })
    assert.equal(page.items.length, 2)
    assert.ok(page.metadata.continue)
    const all = await c.listAll({ apiVersion: 'v1', kind: 'ConfigMap', namespace: ns }, { limit: 1 })
    assert.deepEqual(all.items.map((o) => o.metadata?.name).filter((n) => n?.startsWith('l')), ['l1', 'l2', 'l3'])
    assert.equal(all.metadata.continue, undefined)
  })

  test('patch: JSON merge, JSON patch and strategic merge send their content types; strategic on a CRD is UnsupportedMediaType', async () => {
    const c = client()
    await c.create(cm('p', { a: '1', b: '2' }))
    const merged = await c.patch<ConfigMap>(ref('p'), { data: { b: null, c: '3' } })
    assert.deepEqual(merged.data, { a: '1', c: '3' })
    const jsonPatched = await c.patch<ConfigMap>(ref('p'), [{ op: 'replace', path: '/data/a', value: 'one' }], { type: 'json' })
    assert.deepEqual(jsonPatched.data, { a: 'one', c: '3' })
    await c.create(deployment('web'))
    const strategic = await c.patch<Plain<V1Deployment>>(
      { apiVersion: 'apps/v1', kind: 'Deployment', namespace: ns, name: 'web' },
      { spec: { template: { spec: { containers: [{ name: 'app', image: 'nginx:2' }] } } } },
      { type: 'strategic' },
    )
    assert.equal(strategic.spec?.template.spec?.containers[0]?.image, 'nginx:2')
    server.create({
      apiVersion: 'apiextensions.k8s.io/v1',
      kind: 'CustomResourceDefinition',
      metadata: { name: 'widgets.example.com' },
      spec: {
        group: 'example.com',
        scope: 'Namespaced',
        names: { plural: 'widgets', singular: 'widget', kind: 'Widget', listKind: 'WidgetList' },
        versions: [{ name: 'v1', served: true, storage: true, subresources: { status: {} }, schema: { openAPIV3Schema: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } } }],
      },
    })
    await c.create({ apiVersion: 'example.com/v1', kind: 'Widget', metadata: { name: 'w', namespace: ns }, spec: { size: 1 } })
    await assert.rejects(c.patch({ apiVersion: 'example.com/v1', kind: 'Widget', namespace: ns, name: 'w' }, { spec: { size: 2 } }, { type: 'strategic' }), UnsupportedMediaTypeError)
    const widget = await c.patch<KubeObject>({ apiVersion: 'example.com/v1', kind: 'Widget', namespace: ns, name: 'w' }, { spec: { size: 2 } })
    assert.deepEqual(widget.spec, { size: 2 })
  })

  test('apply sends application/apply-patch+yaml with fieldManager, fieldValidation=Strict by default, force when asked, and creates a missing object', async () => {
    const c = client()
    const applied = await c.apply<ConfigMap>(cm('ap', { a: '1' }))
    assert.deepEqual(applied.data, { a: '1' })
    let q = lastQuery('PATCH')
    assert.equal(q.get('fieldManager'), 'test-manager')
    assert.equal(q.get('fieldValidation'), 'Strict')
    assert.equal(q.get('force'), null)
    const again = await c.apply<ConfigMap>(cm('ap', { a: '2' }), { force: true, fieldManager: 'other', fieldValidation: 'Ignore' })
    assert.deepEqual(again.data, { a: '2' })
    q = lastQuery('PATCH')
    assert.equal(q.get('fieldManager'), 'other')
    assert.equal(q.get('force'), 'true')
    assert.equal(q.get('fieldValidation'), 'Ignore')
  })

  test('dry-run on every write: nothing persists, the answer is what would have been written', async () => {
    const c = client()
    const dry = await c.create(cm('dry', { a: '1' }), { dryRun: true })
    assert.equal(dry.metadata?.name, 'dry')
    assert.equal(lastQuery('POST').get('dryRun'), 'All')
    await assert.rejects(c.get(ref('dry')), NotFoundError)
    const real = await c.create(cm('dry', { a: '1' }))
    await c.update({ ...real, data: { a: 'u' } }, { dryRun: true })
    await c.patch(ref('dry'), { data: { a: 'p' } }, { dryRun: true })
    await c.apply(cm('dry', { a: 's' }), { dryRun: true, force: true }) // force: create made this manager an Update owner of data.a
    assert.equal(lastQuery('PATCH').get('dryRun'), 'All')
    await c.delete(ref('dry'), { dryRun: true })
    assert.equal(lastQuery('DELETE').get('dryRun'), 'All')
    const still = await c.get<ConfigMap>(ref('dry'))
    assert.deepEqual(still.data, { a: '1' })
    assert.equal(still.metadata?.resourceVersion, real.metadata?.resourceVersion)
  })

  test('delete: a precondition on uid or resourceVersion that fails is a ConflictError; finalizers leave the object with deletionTimestamp', async () => {
    const c = client()
    const obj = await c.create({ ...cm('del'), metadata: { name: 'del', namespace: ns, finalizers: ['example.com/hold'] } } as KubeObject)
    await assert.rejects(c.delete(ref('del'), { preconditions: { uid: 'not-the-uid' } }), ConflictError)
    await assert.rejects(c.delete(ref('del'), { preconditions: { resourceVersion: '1' } }), ConflictError)
    const marked = await c.delete<KubeObject>(ref('del'), { preconditions: { uid: obj.metadata?.uid }, propagationPolicy: 'Foreground', gracePeriodSeconds: 0 })
    assert.equal(typeof marked?.metadata?.deletionTimestamp, 'string')
    await c.patch(ref('del'), { metadata: { finalizers: null } })
    await assert.rejects(c.get(ref('del')), NotFoundError)
  })

  test('an object read from an informer store is written back as it is (update, apply)', async () => {
    const c = client()
    await c.create(cm('s1', { a: '1' }))
    factory = new InformerFactory({ kubeConfig: server.kubeConfig, logger })
    const informer = factory.informer<ConfigMap & KubeObject>({ apiVersion: 'v1', kind: 'ConfigMap', namespace: ns })
    informer.hold()
    await informer.store.synced
    const stored = informer.store.get({ namespace: ns, name: 's1' })
    assert.ok(stored)
    const before = JSON.stringify(stored)
    const updated = await c.update({ ...stored, data: { a: '2' } })
    assert.deepEqual(updated.data, { a: '2' })
    assert.equal(JSON.stringify(stored), before, 'the store object is not changed by the client')
    await eventually(() => informer.store.get({ namespace: ns, name: 's1' })?.data?.a === '2')
    const fresh = informer.store.get({ namespace: ns, name: 's1' })
    assert.ok(fresh)
    // force: the update above made this manager own data.a through an Update operation, which real server-side apply counts as another owner.
    const applied = await c.apply({ ...fresh, data: { a: '3' } }, { force: true })
    assert.deepEqual(applied.data, { a: '3' })
    await factory.stop()
    factory = undefined
  })
})

describe('Client: subresources', () => {
  test('status: update, patch and apply touch the status only', async () => {
    const c = client()
    const d = await c.create(deployment('st'))
    const withStatus = await c.status.update({ ...d, status: { replicas: 1, readyReplicas: 1 } } as Plain<V1Deployment>)
    assert.equal(withStatus.status?.readyReplicas, 1)
    assert.equal(last('PUT')?.path, `/apis/apps/v1/namespaces/${ns}/deployments/st/status`)
    const patched = await c.status.patch<Plain<V1Deployment>>({ apiVersion: 'apps/v1', kind: 'Deployment', namespace: ns, name: 'st' }, { status: { readyReplicas: 0 } })
    assert.equal(patched.status?.readyReplicas, 0)
    const applied = await c.status.apply({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'st', namespace: ns }, status: { observedGeneration: 1 } })
    assert.equal((applied as Plain<V1Deployment>).status?.observedGeneration, 1)
    assert.equal(last('PATCH')?.path, `/apis/apps/v1/namespaces/${ns}/deployments/st/status`)
    const main = await c.get<Plain<V1Deployment>>({ apiVersion: 'apps/v1', kind: 'Deployment', namespace: ns, name: 'st' })
    assert.equal(main.spec?.replicas, 1)
  })

  test('scale: get, update (conditional on resourceVersion) and patch (apply: test/envtest/client.test.ts)', async () => {
    const c = client()
    await c.create(deployment('sc', 2))
    const deploymentRef = { apiVersion: 'apps/v1', kind: 'Deployment', namespace: ns, name: 'sc' }
    const scale = await c.scale.get(deploymentRef)
    assert.equal(scale.kind, 'Scale')
    assert.equal(scale.spec?.replicas, 2)
    const up = await c.scale.update(deploymentRef, 3)
    assert.equal(up.spec?.replicas, 3)
    await assert.rejects(c.scale.update(deploymentRef, 4, { resourceVersion: scale.metadata?.resourceVersion }), ConflictError)
    const patched = await c.scale.patch(deploymentRef, { spec: { replicas: 5 } })
    assert.equal(patched.spec?.replicas, 5)
    const d = await c.get<Plain<V1Deployment>>(deploymentRef)
    assert.equal(d.spec?.replicas, 5)
    assert.throws(() => c.scale.update(deploymentRef, -1), InvalidRequestError)
  })
})

describe('Client: throttling (client-go rest client retries 429 after Retry-After)', () => {
  test('a 429 with Retry-After is retried after the wait on the injected clock; maxRetries 0 surfaces it', async () => {
    const clock = new FakeClock()
    const c = new Client(server.kubeConfig, { fieldManager: 'm', clock })
    await c.create(cm('t'))
    server.failNext({ code: 429, retryAfterSeconds: 2, count: 2, match: { path: `/api/v1/namespaces/${ns}/configmaps/t` } })
    let done = false
    const pending = c.get<ConfigMap>(ref('t')).then((o) => {
      done = true
      return o
    })
    await eventually(() => clock.pending === 1)
    await clock.advance(1999)
    assert.equal(done, false)
    await clock.advance(1)
    await eventually(() => clock.pending === 1)
    await clock.advance(2000)
    assert.equal((await pending).metadata?.name, 't')
    server.failNext({ code: 429, retryAfterSeconds: 1, match: { path: `/api/v1/namespaces/${ns}/configmaps/t` } })
    await assert.rejects(new Client(server.kubeConfig, { maxRetries: 0 }).get(ref('t')), (err: unknown) => (err as { retryAfterSeconds?: number }).retryAfterSeconds === 1)
  })
})
