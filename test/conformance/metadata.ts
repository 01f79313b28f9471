/**
 * Conformance scenarios for metadata-only reads (issue #16 §1): `Accept:
 * application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1` lists,
 * `as=PartialObjectMetadata` gets and watches, the 406 answers of kube-apiserver's content
 * negotiation, and kubevisor's `metadataOnly` Watcher and informers on top. Registered from
 * scenarios.ts, so they run on the embedded server (`npm test`) and on the real
 * kube-apiserver (`npm run test:envtest`) alike, over HTTP only.
 *
 * Anchors: client-go `metadata` client (list `…List`, watch `as=PartialObjectMetadata`),
 * controller-runtime `builder.OnlyMetadata`, kube-rs `metadata_watcher`; apiserver
 * `endpoints/handlers/response.go` (`asPartialObjectMetadata[List]`, NotAcceptable).
 */
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import type { KubeConfig } from '@kubernetes/client-node'
import { GenServer } from '../../lib/actor/index.ts'
import { InformerFactory } from '../../lib/informer/informer.ts'
import { METADATA_LIST_ACCEPT, METADATA_WATCH_ACCEPT } from '../../lib/watch/client.ts'
import type { KubeObject } from '../../lib/watch/object.ts'
import { Watcher, type WatcherRef } from '../../lib/watcher/watcher.ts'
import { silent as logger } from '../support/log.ts'
import { eventually, Mirror, type MirrorState } from '../support/mirror.ts'
import { ok, openWatch, raw, type RawResponse } from './http.ts'
import type { ConformanceTarget } from './target.ts'

const ACCEPTED_TYPES = 'only the following media types are accepted: application/json, application/yaml, application/vnd.kubernetes.protobuf'

function assertNotAcceptable(res: RawResponse, message: string): void {
  assert.equal(res.status, 406, `HTTP status; body: ${res.text}`)
  assert.deepEqual(res.body, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason: 'NotAcceptable', code: 406 })
}

/** The PartialObjectMetadata a server makes of a full object. */
function partialOf(obj: any, apiVersion = 'meta.k8s.io/v1'): unknown {
  return { kind: 'PartialObjectMetadata', apiVersion, metadata: obj.metadata }
}

export function metadataScenarios(getTarget: () => ConformanceTarget): void {
  let target: ConformanceTarget
  let seq = 0
  before(() => {
    target = getTarget()
  })
  const kc = (): KubeConfig => target.kubeConfig

  async function namespace(): Promise<string> {
    const name = `meta-${++seq}-${Math.random().toString(36).slice(2, 7)}`
    await ok(kc(), 'POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name } })
    return name
  }
  const cms = (ns: string) => `/api/v1/namespaces/${ns}/configmaps`
  const createCm = (ns: string, name: string, labels: Record<string, string> = {}) =>
    ok(kc(), 'POST', cms(ns), { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, labels }, data: { big: 'x'.repeat(100) } })
  const get = (path: string, accept: string) => raw(kc(), 'GET', path, undefined, 'application/json', { accept })

  describe('metadata only: PartialObjectMetadata lists, gets and watches', () => {
    test('a list with as=PartialObjectMetadataList has kind PartialObjectMetadataList (meta.k8s.io/v1), each item a PartialObjectMetadata with the whole metadata; pages and selectors as a full list', async () => {
      const ns = await namespace()
      const a = await createCm(ns, 'a', { app: 'web' })
      const b = await createCm(ns, 'b')
      const c = await createCm(ns, 'c', { app: 'web' })
      const full = await ok(kc(), 'GET', cms(ns))
      const res = await get(cms(ns), METADATA_LIST_ACCEPT)
      assert.equal(res.status, 200, res.text)
      assert.match(String(res.headers['content-type']), /^application\/json/)
      assert.equal(res.body.kind, 'PartialObjectMetadataList')
      assert.equal(res.body.apiVersion, 'meta.k8s.io/v1')
      assert.deepEqual(res.body.metadata, { resourceVersion: full.metadata.resourceVersion })
      assert.deepEqual(res.body.items, [partialOf(a), partialOf(b), partialOf(c)])
      // Pagination: same token discipline as a full list.
      const first = await get(`${cms(ns)}?limit=2`, METADATA_LIST_ACCEPT)
      assert.deepEqual(
        first.body.items.map((i: any) => i.metadata.name),
        ['a', 'b'],
      )
      assert.equal(first.body.metadata.remainingItemCount, 1)
      const rest = await get(`${cms(ns)}?limit=2&continue=${encodeURIComponent(first.body.metadata.continue)}`, METADATA_LIST_ACCEPT)
      assert.deepEqual(rest.body.items, [partialOf(c)])
      assert.equal(rest.body.metadata.continue, undefined)
      const selected = await get(`${cms(ns)}?labelSelector=app%3Dweb`, METADATA_LIST_ACCEPT)
      assert.deepEqual(selected.body.items, [partialOf(a), partialOf(c)])
      // meta.k8s.io/v1beta1 is served too.
      const beta = await get(cms(ns), METADATA_LIST_ACCEPT.replace('v=v1', 'v=v1beta1'))
      assert.equal(beta.status, 200, beta.text)
      assert.equal(beta.body.apiVersion, 'meta.k8s.io/v1beta1')
      assert.deepEqual(beta.body.items[0], partialOf(a, 'meta.k8s.io/v1beta1'))
    })

    test('a get with as=PartialObjectMetadata returns the object as PartialObjectMetadata; a missing one is the usual 404', async () => {
      const ns = await namespace()
      const a = await createCm(ns, 'a', { app: 'web' })
      const res = await get(`${cms(ns)}/a`, METADATA_WATCH_ACCEPT)
      assert.equal(res.status, 200, res.text)
      assert.deepEqual(res.body, partialOf(a))
      const missing = await get(`${cms(ns)}/zzz`, METADATA_WATCH_ACCEPT)
      assert.equal(missing.status, 404)
      assert.equal(missing.body.reason, 'NotFound')
    })

    test('406 NotAcceptable: PartialObjectMetadata for a list, PartialObjectMetadataList for one object, an unknown as=, group or version; the next Accept entry is tried after an unknown one', async () => {
      const ns = await namespace()
      await createCm(ns, 'a')
      assertNotAcceptable(await get(cms(ns), METADATA_WATCH_ACCEPT), 'you requested PartialObjectMetadata, but the requested object is a list (*core.ConfigMapList)')
      // The first acceptable entry is chosen before conversion: a plain fallback after it does not help.
      assertNotAcceptable(await get(cms(ns), `${METADATA_WATCH_ACCEPT},application/json`), 'you requested PartialObjectMetadata, but the requested object is a list (*core.ConfigMapList)')
      assertNotAcceptable(await get(`${cms(ns)}/a`, METADATA_LIST_ACCEPT), 'you requested PartialObjectMetadataList, but the requested object is not a list (*core.ConfigMap)')
      for (const accept of [
        'application/json;as=Foo;g=meta.k8s.io;v=v1',
        'application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v2',
        'application/json;as=PartialObjectMetadataList;g=apps;v=v1',
        'application/json;as=PartialObjectMetadataList',
      ]) {
        assertNotAcceptable(await get(cms(ns), accept), ACCEPTED_TYPES)
      }
      const fallback = await get(cms(ns), 'application/json;as=Foo;g=meta.k8s.io;v=v1, application/json')
      assert.equal(fallback.status, 200, fallback.text)
      assert.equal(fallback.body.kind, 'ConfigMapList')
      const watch = await openWatch(kc(), `${cms(ns)}?watch=1`, { accept: 'application/json;as=Foo;g=meta.k8s.io;v=v1' })
      watch.close()
      assert.equal(watch.status, 406)
      assert.equal(watch.errorBody?.message, ACCEPTED_TYPES)
    })

    test('a watch with as=PartialObjectMetadata sends ADDED, MODIFIED and DELETED objects and BOOKMARKs as PartialObjectMetadata', async () => {
      const ns = await namespace()
      const list = await ok(kc(), 'GET', cms(ns))
      const timeout = target.bookmarkWatchTimeoutSeconds
      const w = await openWatch(kc(), `${cms(ns)}?watch=1&allowWatchBookmarks=true&timeoutSeconds=${timeout}&resourceVersion=${list.metadata.resourceVersion}`, {
        accept: METADATA_WATCH_ACCEPT,
      })
      try {
        assert.equal(w.status, 200)
        const a = await createCm(ns, 'a')
        const a2 = await ok(kc(), 'PUT', `${cms(ns)}/a`, { ...a, metadata: { ...a.metadata, labels: { v: '2' } } })
        await ok(kc(), 'DELETE', `${cms(ns)}/a`)
        assert.equal(await w.ended((timeout + 3) * 1000), 'clean')
        const changes = w.events.filter((e) => e.type !== 'BOOKMARK')
        assert.deepEqual(
          changes.map((e) => e.type),
          ['ADDED', 'MODIFIED', 'DELETED'],
        )
        assert.deepEqual(changes[0]?.object, partialOf(a))
        assert.deepEqual(changes[1]?.object, partialOf(a2))
        assert.equal(changes[2]?.object.kind, 'PartialObjectMetadata')
        assert.equal(changes[2]?.object.metadata.uid, a.metadata.uid)
        const bookmarks = w.events.filter((e) => e.type === 'BOOKMARK')
        assert.ok(bookmarks.length >= 1, 'a BOOKMARK before the deadline')
        for (const { object } of bookmarks) {
          assert.deepEqual(Object.keys(object).sort(), ['apiVersion', 'kind', 'metadata'])
          assert.equal(object.kind, 'PartialObjectMetadata')
          assert.equal(object.apiVersion, 'meta.k8s.io/v1')
          assert.deepEqual(Object.keys(object.metadata), ['resourceVersion'])
        }
      } finally {
        w.close()
      }
    })

    test('a streaming list (sendInitialEvents) with as=PartialObjectMetadata: ADDED partials, then a PartialObjectMetadata BOOKMARK annotated k8s.io/initial-events-end', async () => {
      const ns = await namespace()
      const a = await createCm(ns, 'a')
      const w = await openWatch(kc(), `${cms(ns)}?watch=1&allowWatchBookmarks=true&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&timeoutSeconds=30`, {
        accept: METADATA_WATCH_ACCEPT,
      })
      try {
        assert.equal(w.status, 200)
        await w.until((events) => events.some((e) => e.type === 'BOOKMARK' && e.object.metadata.annotations?.['k8s.io/initial-events-end'] === 'true'))
        assert.deepEqual(w.events[0], { type: 'ADDED', object: partialOf(a) })
        const end = w.events.find((e) => e.type === 'BOOKMARK')
        assert.equal(end?.object.kind, 'PartialObjectMetadata')
        assert.equal(end?.object.apiVersion, 'meta.k8s.io/v1')
      } finally {
        w.close()
      }
    })

    test('a watch with as=PartialObjectMetadataList is accepted (200) and ends at once without events', async () => {
      const ns = await namespace()
      const list = await ok(kc(), 'GET', cms(ns))
      const w = await openWatch(kc(), `${cms(ns)}?watch=1&timeoutSeconds=30&resourceVersion=${list.metadata.resourceVersion}`, { accept: METADATA_LIST_ACCEPT })
      try {
        assert.equal(w.status, 200)
        await createCm(ns, 'a')
        assert.equal(await w.ended(5_000), 'clean')
        assert.deepEqual(w.events, [])
      } finally {
        w.close()
      }
    })
  })

  describe('metadata only: Watcher and informers with metadataOnly', () => {
    const running: WatcherRef<any>[] = []
    const factories: InformerFactory[] = []
    after(async () => {
      for (const ref of running.splice(0)) await Watcher.stop(ref).catch(() => {})
      for (const f of factories.splice(0)) await f.stop()
    })

    test('a metadataOnly Watcher delivers PartialObjectMetadata (created, modified, deleted) and stores them under the usual keys', async () => {
      const ns = await namespace()
      const a = await createCm(ns, 'a', { app: 'web' })
      const seen: KubeObject[] = []
      const ref = await Watcher.start<KubeObject, MirrorState>(Mirror, { onEvent: () => {} }, {
        kubeConfig: kc(),
        apiVersion: 'v1',
        kind: 'ConfigMap',
        namespace: ns,
        metadataOnly: true,
        store: true,
        logger,
        transform: (o) => {
          seen.push(o)
          return o
        },
      })
      running.push(ref)
      await ref.store?.synced
      assert.deepEqual(ref.store?.getByKey(`${ns}/a`), partialOf(a))
      const b = await createCm(ns, 'b')
      await ok(kc(), 'DELETE', `${cms(ns)}/a`)
      await eventually(() => ref.store?.getByKey(`${ns}/a`) === undefined && ref.store?.getByKey(`${ns}/b`) !== undefined, target.patienceMs, 'b created and a deleted')
      assert.deepEqual(ref.store?.getByKey(`${ns}/b`), partialOf(b))
      for (const o of seen) assert.equal(o.kind, 'PartialObjectMetadata')
      const expected = [`created ${ns}/a`, 'synced', `created ${ns}/b`, `deleted ${ns}/a`]
      let state: MirrorState | undefined
      await eventually(async () => {
        state = await GenServer.call<MirrorState>(ref, 'view')
        return state.log.length >= expected.length
      }, target.patienceMs, 'the mirror log')
      assert.deepEqual(
        state?.log.map((l) => l.split('@')[0]),
        expected,
      )
      assert.equal(state?.log[0], `created ${ns}/a@${a.metadata.resourceVersion}`)
      assert.deepEqual(state?.violations, [])
    })

    test('a metadataOnly informer is shared apart from the full informer of the same kind: each store holds its own shape', async () => {
      const ns = await namespace()
      const a = await createCm(ns, 'a')
      const informers = new InformerFactory({ kubeConfig: kc(), logger })
      factories.push(informers)
      const meta = informers.informer({ apiVersion: 'v1', kind: 'ConfigMap', namespace: ns, metadataOnly: true })
      const full = informers.informer({ apiVersion: 'v1', kind: 'ConfigMap', namespace: ns })
      assert.notEqual(meta, full)
      assert.equal(informers.informer({ apiVersion: 'v1', kind: 'ConfigMap', namespace: ns, metadataOnly: true }), meta)
      meta.hold()
      full.hold()
      try {
        await Promise.all([meta.store.synced, full.store.synced])
        assert.deepEqual(meta.store.getByKey(`${ns}/a`), partialOf(a))
        assert.equal(full.store.getByKey(`${ns}/a`)?.kind, 'ConfigMap')
        assert.deepEqual((full.store.getByKey(`${ns}/a`) as any)?.data, a.data)
      } finally {
        meta.release()
        full.release()
      }
    })
  })
}
