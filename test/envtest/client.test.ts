/**
 * The write client against the real kube-apiserver + etcd (`npm run test:envtest`): what
 * the embedded server's tests cannot prove — server-side apply conflicts between field
 * managers and `force`, apply with Strict field validation, status and scale apply,
 * dry-run that persists nothing, delete propagation (Foreground leaves the owner with the
 * `foregroundDeletion` finalizer; no garbage collector runs here), preconditions, typed
 * errors as the real server words them, and the Events recorder writing
 * `events.k8s.io/v1` series.
 */
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { BadRequestError, ConflictError, InternalServerError, InvalidError, NotFoundError } from '../../lib/api/errors.ts'
import { Client } from '../../lib/client/client.ts'
import { type Condition, setStatusCondition } from '../../lib/client/conditions.ts'
import { EventRecorder } from '../../lib/client/events.ts'
import { createOrUpdate } from '../../lib/client/mutate.ts'
import { setControllerReference } from '../../lib/client/owners.ts'
import { createLogger } from '../../lib/log.ts'
import { ENVTEST_KUBERNETES_VERSION, type KubeApiServer, startKubeApiServer } from '../../lib/testing/kube-apiserver.ts'
import type { KubeObject } from '../../lib/watch/object.ts'
import { eventually } from '../support/mirror.ts'
import { envtestSkipReason, inEnvtestTier } from './availability.ts'

const logger = createLogger({ level: 'silent' })
const skip = inEnvtestTier() ? envtestSkipReason() : undefined

type ConfigMap = KubeObject & { data?: Record<string, string> }
type Managed = { manager?: string; operation?: string; subresource?: string }

if (inEnvtestTier()) {
  describe(`client: the real kube-apiserver ${ENVTEST_KUBERNETES_VERSION}`, { skip }, () => {
    let api: KubeApiServer
    let alice: Client
    let bob: Client
    let n = 0
    let ns = ''
    before(async () => {
      api = await startKubeApiServer({ logger })
      alice = new Client(api.kubeConfig, { fieldManager: 'alice' })
      bob = new Client(api.kubeConfig, { fieldManager: 'bob' })
    })
    after(async () => {
      await api?.stop()
    })
    const namespace = async () => {
      ns = `client-${++n}`
      await alice.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } })
      return ns
    }
    const cm = (name: string, data: Record<string, string>): ConfigMap => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace: ns }, data })
    const ref = (name: string) => ({ apiVersion: 'v1', kind: 'ConfigMap', namespace: ns, name })

    test('server-side apply: a field owned by another manager is a ConflictError naming it; force takes it over', async () => {
      await namespace()
      await alice.apply(cm('shared', { a: 'alice' }))
      await assert.rejects(bob.apply(cm('shared', { a: 'bob' })), (err: unknown) => {
        assert.ok(err instanceof ConflictError)
        assert.ok(err.causes.some((c) => c.reason === 'FieldManagerConflict' && c.field === '.data.a' && /alice/.test(c.message ?? '')), JSON.stringify(err.causes))
        return true
      })
      const forced = await bob.apply<ConfigMap>(cm('shared', { a: 'bob' }), { force: true })
      assert.equal(forced.data?.a, 'bob')
      const managers = ((forced.metadata?.managedFields ?? []) as Managed[]).map((m) => `${m.manager}/${m.operation}`)
      assert.deepEqual(managers, ['bob/Apply'])
      // A field alice no longer sends is removed only if she still owns it.
      await alice.apply(cm('shared', { b: 'alice' }))
      const after2 = await alice.get<ConfigMap>(ref('shared'))
      assert.deepEqual(after2.data, { a: 'bob', b: 'alice' })
    })

    test('unknown fields: apply refuses them (kube-apiserver answers 500 "field not declared in schema" for built-in kinds), create with Strict is a BadRequestError; an object read back applies as it is', async () => {
      await namespace()
      await assert.rejects(alice.apply({ ...cm('strict', {}), nonsense: 1 } as ConfigMap), (err: unknown) => err instanceof InternalServerError && /field not declared in schema/.test(err.message))
      await assert.rejects(alice.create({ ...cm('strict', {}), nonsense: 1 } as ConfigMap, { fieldValidation: 'Strict' }), (err: unknown) => err instanceof BadRequestError && /unknown field "nonsense"/.test(err.message))
      const created = await alice.apply<ConfigMap>(cm('strict', { a: '1' }))
      // managedFields, uid, resourceVersion... as read: the client leaves managedFields out.
      const again = await alice.apply<ConfigMap>({ ...created, data: { a: '2' } })
      assert.equal(again.data?.a, '2')
    })

    test('dry-run on every write persists nothing', async () => {
      await namespace()
      await alice.create(cm('dry', { a: '1' }), { dryRun: true })
      await assert.rejects(alice.get(ref('dry')), NotFoundError)
      const live = await alice.create<ConfigMap>(cm('dry', { a: '1' }))
      await alice.update({ ...live, data: { a: 'u' } }, { dryRun: true })
      await alice.patch(ref('dry'), { data: { a: 'p' } }, { dryRun: true })
      await alice.apply(cm('dry', { a: 's' }), { dryRun: true, force: true })
      await alice.delete(ref('dry'), { dryRun: true })
      const still = await alice.get<ConfigMap>(ref('dry'))
      assert.deepEqual(still.data, { a: '1' })
      assert.equal(still.metadata?.resourceVersion, live.metadata?.resourceVersion)
    })

    test('status and scale subresources: update, patch and apply; apply records the subresource in managedFields', async () => {
      await namespace()
      const deployment = {
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        metadata: { name: 'web', namespace: ns },
        spec: { replicas: 1, selector: { matchLabels: { app: 'web' } }, template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'app', image: 'nginx' }] } } },
      }
      await alice.apply(deployment)
      const dref = { apiVersion: 'apps/v1', kind: 'Deployment', namespace: ns, name: 'web' }
      const status = await alice.status.apply<KubeObject & { status?: { replicas?: number } }>({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'web', namespace: ns }, status: { replicas: 1 } })
      assert.equal(status.status?.replicas, 1)
      assert.ok(((status.metadata?.managedFields ?? []) as Managed[]).some((m) => m.manager === 'alice' && m.subresource === 'status'))
      const patched = await alice.status.patch<KubeObject & { status?: { replicas?: number } }>(dref, { status: { replicas: 2 } })
      assert.equal(patched.status?.replicas, 2)
      assert.equal((await alice.scale.get(dref)).spec?.replicas, 1)
      assert.equal((await alice.scale.update(dref, 3)).spec?.replicas, 3)
      assert.equal((await bob.scale.apply(dref, 4, { force: true })).spec?.replicas, 4)
      assert.equal((await alice.scale.patch(dref, { spec: { replicas: 5 } })).spec?.replicas, 5)
      await assert.rejects(alice.scale.update(dref, 6, { resourceVersion: '1' }), ConflictError)
    })

    test('delete: preconditions, Foreground propagation (the owner waits with foregroundDeletion), Orphan', async () => {
      await namespace()
      const owner = await alice.create<ConfigMap>(cm('owner', {}))
      const child = cm('child', {})
      setControllerReference(owner, child)
      await alice.create(child)
      await assert.rejects(alice.delete(ref('owner'), { preconditions: { uid: 'not-it' } }), ConflictError)
      const deleting = await alice.delete<ConfigMap>(ref('owner'), { propagationPolicy: 'Foreground', preconditions: { uid: owner.metadata?.uid } })
      assert.equal(typeof deleting?.metadata?.deletionTimestamp, 'string')
      assert.deepEqual(deleting?.metadata?.finalizers, ['foregroundDeletion'])
      const other = await alice.create<ConfigMap>(cm('orphaned', {}))
      const orphaning = await alice.delete<ConfigMap>(ref('orphaned'), { propagationPolicy: 'Orphan' })
      assert.deepEqual(orphaning?.metadata?.finalizers, ['orphan'])
      assert.equal(orphaning?.metadata?.uid, other.metadata?.uid)
      // An immediate delete of a ConfigMap answers with a Status (its strategy returns no object).
      assert.equal(await alice.delete<ConfigMap>(ref('child')), undefined)
      await assert.rejects(alice.get(ref('child')), NotFoundError)
    })

    test('typed errors as the real server answers: Invalid with causes, Conflict on a stale update', async () => {
      await namespace()
      await assert.rejects(alice.create(cm('Bad_Name', {})), (err: unknown) => err instanceof InvalidError && err.causes.some((c) => c.field === 'metadata.name'))
      const live = await alice.create<ConfigMap>(cm('stale', { a: '1' }))
      await alice.update({ ...live, data: { a: '2' } })
      await assert.rejects(alice.update({ ...live, data: { a: '3' } }), ConflictError)
    })

    test('createOrUpdate: created, unchanged (no write: the resourceVersion stays), updated', async () => {
      await namespace()
      const skeleton = (): ConfigMap => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'cou', namespace: ns } })
      assert.equal((await createOrUpdate(alice, skeleton(), (o) => void (o.data = { a: '1' }))).result, 'created')
      const same = await createOrUpdate(alice, skeleton(), (o) => void (o.data = { a: '1' }))
      assert.equal(same.result, 'unchanged')
      const live = await alice.get<ConfigMap>(ref('cou'))
      assert.equal(live.metadata?.resourceVersion, same.object.metadata?.resourceVersion)
      assert.equal((await createOrUpdate(alice, skeleton(), (o) => void (o.data = { a: '2' }))).result, 'updated')
    })

    test('the Events recorder writes events.k8s.io/v1 Events; isomorphic ones become a series', async () => {
      await namespace()
      const target = await alice.create<ConfigMap>(cm('evented', {}))
      const recorder = new EventRecorder(alice, { reportingController: 'example.com/test-controller', reportingInstance: 'test-0' })
      recorder.event(target, 'Warning', 'SyncFailed', 'first')
      recorder.event(target, 'Warning', 'SyncFailed', 'second')
      recorder.event(target, 'Warning', 'SyncFailed', 'third')
      recorder.event(target, 'Normal', 'Synced', 'done', { action: 'Reconcile' })
      await recorder.close()
      assert.deepEqual({ ...recorder.stats }, { recorded: 4, aggregated: 1, dropped: 0, invalid: 0, written: 4, failed: 0, queued: 0, cached: 0 })
      type Ev = KubeObject & { reason?: string; note?: string; action?: string; series?: { count: number }; regarding?: { name?: string; uid?: string } }
      let events: Ev[] = []
      await eventually(async () => {
        events = (await alice.list<Ev>({ apiVersion: 'events.k8s.io/v1', kind: 'Event', namespace: ns })).items
        return events.length === 2
      })
      const failed = events.find((e) => e.reason === 'SyncFailed')
      assert.deepEqual([failed?.note, failed?.series?.count, failed?.regarding?.uid], ['first', 3, target.metadata?.uid])
      assert.equal(events.find((e) => e.reason === 'Synced')?.action, 'Reconcile')
    })

    test('status conditions round-trip through a CRD status subresource apply', async () => {
      await namespace()
      await alice.apply({
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
      const site = { apiVersion: 'example.com/v1', kind: 'Site', metadata: { name: 'blog', namespace: ns }, spec: { pages: 1 } }
      await eventually(async () => {
        try {
          await alice.apply(site)
          return true
        } catch (err) {
          if (err instanceof NotFoundError) return false
          throw err
        }
      })
      const conditions: Condition[] = []
      setStatusCondition(conditions, { type: 'Ready', status: 'True', reason: 'InSync', observedGeneration: 1 })
      const written = await alice.status.apply<KubeObject & { status?: { conditions?: Condition[] } }>({ ...site, status: { conditions } })
      assert.deepEqual(written.status?.conditions, conditions)
    })
  })
}
