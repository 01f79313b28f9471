/**
 * The conformance scenarios: what kubevisor relies on from a Kubernetes API server, written
 * once and registered against a {@link ConformanceTarget} — the embedded server
 * (test/conformance/embedded.test.ts, in `npm test`) and a real kube-apiserver + etcd
 * (test/envtest/conformance.test.ts, in `npm run test:envtest`). Scenarios speak HTTP only
 * (raw requests through the target's KubeConfig, and kubevisor's Watcher), never the
 * embedded server's in-process API, so both runs are comparable.
 *
 * Assertions compare the contract — status codes, reasons, `details` fields, event types and
 * order, which fields are present — not incidental message text. A target that deviates has
 * a named entry in `exceptions` (target.ts); the scenario then asserts that target's own
 * behaviour and prints the reason.
 *
 * Anchor: Kubernetes API concepts (https://kubernetes.io/docs/reference/using-api/api-concepts/):
 * "Retrieving large results sets in chunks", "Resource versions", "Efficient detection of
 * changes", "Watch bookmarks", "Streaming lists", "Semantics for watch", "410 Gone responses".
 */
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { GenServer } from '../../lib/actor/index.ts'
import { controller } from '../../lib/dispatch/index.ts'
import { InformerFactory } from '../../lib/informer/informer.ts'
import type { Subscription } from '../../lib/informer/subscription.ts'
import type { KubeObject } from '../../lib/watch/object.ts'
import { Watcher, type WatcherRef } from '../../lib/watcher/watcher.ts'
import { silent as logger } from '../support/log.ts'
import { eventually, Mirror, type MirrorState, serverView } from '../support/mirror.ts'
import { brief, ok, openWatch, raw, type RawResponse, type WatchEvent } from './http.ts'
import { startTcpProxy, type TcpProxy } from './proxy.ts'
import type { ConformanceTarget } from './target.ts'
import { gcScenarios } from './gc.ts'
import { metadataScenarios } from './metadata.ts'
import { writeScenarios } from './writes.ts'

const GROUP = 'conformance.kubevisor.io'

/** Asserts a failed request's `Status` body: kind, apiVersion, status, code, reason, a message; `details` exactly when given. */
export function assertStatus(
  res: RawResponse,
  code: number,
  reason: string,
  details?: Record<string, unknown>,
  metadata: Record<string, unknown> = {},
): void {
  assert.equal(res.status, code, `HTTP status; body: ${res.text}`)
  const body = res.body
  assert.ok(body && typeof body === 'object', `a JSON Status body; got: ${res.text}`)
  assert.equal(body.kind, 'Status')
  assert.equal(body.apiVersion, 'v1')
  assert.deepEqual(body.metadata, metadata)
  assert.equal(body.status, 'Failure')
  assert.equal(body.code, code)
  assert.equal(body.reason, reason)
  assert.equal(typeof body.message, 'string')
  assert.ok(body.message.length > 0, 'a message')
  if (details !== undefined) assert.deepEqual(body.details, details, `details of ${res.text}`)
}

/** Asserts a watch ERROR event's object: a Status with code 410 and reason Expired. */
function assertExpiredEvent(event: WatchEvent | undefined): void {
  assert.ok(event, 'an ERROR event')
  assert.equal(event.type, 'ERROR')
  const status = event.object
  assert.equal(status.kind, 'Status')
  assert.equal(status.apiVersion, 'v1')
  assert.equal(status.status, 'Failure')
  assert.equal(status.code, 410)
  assert.equal(status.reason, 'Expired')
  // The watch cache says "too old resource version: X (Y)", etcd "The resourceVersion for
  // the provided watch is too old." — clients match the code and reason, not the words.
  assert.match(status.message, /too old/i)
}

const names = (list: any): string[] => list.items.map((o: any) => o.metadata.name)
const events = (evs: WatchEvent[]): string[] => evs.map((e) => `${e.type} ${e.object?.metadata?.name ?? ''}`.trim())
const rvOf = (o: any): string => o.metadata.resourceVersion

/** Registers every scenario against `target` (call inside or outside a `describe`). */
export function conformanceScenarios(getTarget: () => ConformanceTarget): void {
  writeScenarios(getTarget) // writes.ts: managedFields, server-side apply, dryRun, delete options, Events, Leases
  gcScenarios(getTarget) // gc.ts: owner references, propagation policies, namespace deletion
  metadataScenarios(getTarget) // metadata.ts: PartialObjectMetadata lists, gets and watches; metadataOnly watchers and informers
  let target: ConformanceTarget
  let seq = 0
  before(() => {
    target = getTarget()
  })
  const kc = () => target.kubeConfig

  /** A fresh namespace for one scenario, created over HTTP. */
  async function namespace(on = kc()): Promise<string> {
    const name = `conf-${++seq}-${Math.random().toString(36).slice(2, 7)}`
    await ok(on, 'POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name } })
    return name
  }
  const cms = (ns: string) => `/api/v1/namespaces/${ns}/configmaps`
  const createCm = (ns: string, name: string, extra: Record<string, unknown> = {}, on = kc()) =>
    ok(on, 'POST', cms(ns), { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, ...extra }, data: { v: '1' } })
  const putCm = async (ns: string, name: string, data: Record<string, string>, on = kc()) => {
    const current = await ok(on, 'GET', `${cms(ns)}/${name}`)
    return ok(on, 'PUT', `${cms(ns)}/${name}`, { ...current, data })
  }

  describe('lists: pagination and continue tokens', () => {
    test('limit pages through a consistent snapshot; every page has the first page\'s resourceVersion; the last has no continue', async () => {
      const ns = await namespace()
      for (const n of ['a', 'b', 'c', 'd', 'e']) await createCm(ns, n)
      const first = await ok(kc(), 'GET', `${cms(ns)}?limit=2`)
      assert.deepEqual(names(first), ['a', 'b'])
      assert.equal(typeof first.metadata.continue, 'string')
      assert.ok(first.metadata.continue.length > 0)
      // remainingItemCount is optional in the API; both servers send it for unfiltered lists.
      assert.equal(first.metadata.remainingItemCount, 3)
      await createCm(ns, 'f') // not in the snapshot the token continues
      const second = await ok(kc(), 'GET', `${cms(ns)}?limit=2&continue=${encodeURIComponent(first.metadata.continue)}`)
      assert.deepEqual(names(second), ['c', 'd'])
      assert.equal(second.metadata.remainingItemCount, 1)
      assert.equal(rvOf(second), rvOf(first))
      const last = await ok(kc(), 'GET', `${cms(ns)}?limit=2&continue=${encodeURIComponent(second.metadata.continue)}`)
      assert.deepEqual(names(last), ['e'])
      assert.equal(rvOf(last), rvOf(first))
      assert.equal(last.metadata.continue, undefined, 'the last page has no continue token')
      assert.equal(last.metadata.remainingItemCount, undefined)
    })

    test('a list that fits in one page has no continue token; items of a typed list carry no kind/apiVersion', async () => {
      const ns = await namespace()
      await createCm(ns, 'only')
      const list = await ok(kc(), 'GET', `${cms(ns)}?limit=10`)
      assert.equal(list.kind, 'ConfigMapList')
      assert.equal(list.apiVersion, 'v1')
      assert.deepEqual(names(list), ['only'])
      assert.equal(list.metadata.continue, undefined)
      assert.equal(list.items[0].kind, undefined)
      assert.equal(list.items[0].apiVersion, undefined)
    })

    test('a malformed continue token is 400 BadRequest', async () => {
      const ns = await namespace()
      assertStatus(await raw(kc(), 'GET', `${cms(ns)}?limit=1&continue=not-a-token`), 400, 'BadRequest')
    })
  })

  describe('lists: resourceVersion semantics', () => {
    test('unset serves the latest state, at a resourceVersion not older than any item', async () => {
      const ns = await namespace()
      const a = await createCm(ns, 'a')
      const b = await createCm(ns, 'b')
      const list = await ok(kc(), 'GET', cms(ns))
      assert.deepEqual(names(list), ['a', 'b'])
      assert.ok(BigInt(rvOf(list)) >= BigInt(rvOf(b)) && BigInt(rvOf(b)) > BigInt(rvOf(a)))
    })

    test('"0" serves any recent state (200, a resourceVersion, a subset of the objects)', async () => {
      const ns = await namespace()
      await createCm(ns, 'a')
      const list = await ok(kc(), 'GET', `${cms(ns)}?resourceVersion=0`)
      assert.equal(typeof rvOf(list), 'string')
      for (const n of names(list)) assert.ok(['a'].includes(n))
    })

    test('"0" with a limit is served whole from the watch cache: no continue token', async () => {
      const ns = await namespace()
      for (const n of ['a', 'b', 'c']) await createCm(ns, n)
      await eventually(async () => names(await ok(kc(), 'GET', `${cms(ns)}?resourceVersion=0`)).length === 3, target.patienceMs, 'the cache to hold all three')
      const list = await ok(kc(), 'GET', `${cms(ns)}?resourceVersion=0&limit=1`)
      assert.deepEqual(names(list), ['a', 'b', 'c'])
      assert.equal(list.metadata.continue, undefined)
    })

    test('Exact serves the state at that resourceVersion; NotOlderThan serves the latest', async () => {
      const ns = await namespace()
      await createCm(ns, 'a')
      const then = await ok(kc(), 'GET', cms(ns))
      await createCm(ns, 'b')
      await putCm(ns, 'a', { v: '2' })
      const exact = await ok(kc(), 'GET', `${cms(ns)}?resourceVersion=${rvOf(then)}&resourceVersionMatch=Exact`)
      assert.equal(rvOf(exact), rvOf(then))
      assert.deepEqual(names(exact), ['a'])
      assert.deepEqual(exact.items[0].data, { v: '1' })
      const notOlder = await ok(kc(), 'GET', `${cms(ns)}?resourceVersion=${rvOf(then)}&resourceVersionMatch=NotOlderThan`)
      assert.deepEqual(names(notOlder), ['a', 'b'])
      assert.deepEqual(notOlder.items[0].data, { v: '2' })
      assert.ok(BigInt(rvOf(notOlder)) > BigInt(rvOf(then)))
    })

    test('invalid combinations are 422 Invalid ListOptions with field causes', async () => {
      const ns = await namespace()
      const cases: [string, string][] = [
        ['resourceVersion=0&resourceVersionMatch=Exact', 'resourceVersionMatch'],
        ['resourceVersionMatch=NotOlderThan', 'resourceVersionMatch'],
        ['watch=1&resourceVersionMatch=NotOlderThan', 'resourceVersionMatch'],
        ['watch=1&sendInitialEvents=true&allowWatchBookmarks=true', 'resourceVersionMatch'],
      ]
      for (const [query, field] of cases) {
        const res = await raw(kc(), 'GET', `${cms(ns)}?${query}`)
        assertStatus(res, 422, 'Invalid')
        assert.equal(res.body.details.kind, 'ListOptions', query)
        assert.equal(res.body.details.group, 'meta.k8s.io', query)
        assert.ok(res.body.details.causes.some((c: any) => c.field === field && c.reason === 'FieldValueForbidden'), query)
      }
    })

    test('a resourceVersion newer than the server\'s is 504 Timeout with a ResourceVersionTooLarge cause', async () => {
      const ns = await namespace()
      const res = await raw(kc(), 'GET', `${cms(ns)}?resourceVersion=99999999&resourceVersionMatch=NotOlderThan`)
      assertStatus(res, 504, 'Timeout')
      assert.equal(res.body.details.causes[0].reason, 'ResourceVersionTooLarge')
    })

    test('a resourceVersion that is not a number is 400 BadRequest for a list', async () => {
      const ns = await namespace()
      assertStatus(await raw(kc(), 'GET', `${cms(ns)}?resourceVersion=abc&resourceVersionMatch=NotOlderThan`), 400, 'BadRequest')
    })

    test('a watch from a resourceVersion that is not a number is refused before the stream starts: 500, no reason', async () => {
      const ns = await namespace()
      const w = await openWatch(kc(), `${cms(ns)}?watch=1&resourceVersion=abc`)
      w.close()
      const body = w.errorBody
      assert.equal(body.kind, 'Status')
      assert.equal(body.status, 'Failure')
      assert.equal(body.message, 'resourceVersion: Invalid value: "abc": strconv.ParseUint: parsing "abc": invalid syntax')
      // The watch path returns the parse error unwrapped (unlike a list's 400 BadRequest).
      assert.deepEqual([w.status, body.code, body.reason], [500, 500, undefined])
    })
  })

  describe('watches: resourceVersion semantics', () => {
    test('from a list\'s resourceVersion, only later changes arrive, in order', async () => {
      const ns = await namespace()
      await createCm(ns, 'a')
      await createCm(ns, 'b')
      const list = await ok(kc(), 'GET', cms(ns))
      await createCm(ns, 'c')
      await putCm(ns, 'a', { v: '2' })
      await ok(kc(), 'DELETE', `${cms(ns)}/b`)
      const w = await openWatch(kc(), `${cms(ns)}?watch=1&resourceVersion=${rvOf(list)}`)
      try {
        assert.equal(w.status, 200)
        await w.until((e) => e.length >= 3, target.patienceMs, 'three events')
        assert.deepEqual(events(w.events), ['ADDED c', 'MODIFIED a', 'DELETED b'])
        const deleted = w.events[2]!.object
        assert.equal(deleted.kind, 'ConfigMap', 'watch objects carry kind and apiVersion')
        assert.equal(deleted.apiVersion, 'v1')
        assert.deepEqual(deleted.data, { v: '1' }, 'DELETED carries the last state')
        const rvs = w.events.map((e) => BigInt(rvOf(e.object)))
        assert.ok(rvs.every((rv, i) => i === 0 || rv > rvs[i - 1]!) && rvs[0]! > BigInt(rvOf(list)))
      } finally {
        w.close()
      }
    })

    for (const [label, query] of [['"0"', '&resourceVersion=0'], ['unset', '']] as const) {
      test(`from ${label}, the current objects arrive first as ADDED, then live changes`, async () => {
        const ns = await namespace()
        await createCm(ns, 'a')
        await createCm(ns, 'b')
        const w = await openWatch(kc(), `${cms(ns)}?watch=1${query}`)
        try {
          await w.until((e) => e.length >= 2, target.patienceMs, 'the initial ADDED events')
          assert.deepEqual(events(w.events).sort(), ['ADDED a', 'ADDED b'])
          await createCm(ns, 'c')
          await w.until((e) => e.length >= 3, target.patienceMs, 'the live event')
          assert.deepEqual(events(w.events.slice(2)), ['ADDED c'])
        } finally {
          w.close()
        }
      })
    }

    test('a watch of one object by name (fieldSelector metadata.name) sees only that object', async () => {
      const ns = await namespace()
      const list = await ok(kc(), 'GET', cms(ns))
      const w = await openWatch(kc(), `${cms(ns)}?watch=1&resourceVersion=${rvOf(list)}&fieldSelector=metadata.name%3Dme`)
      try {
        await createCm(ns, 'other')
        await createCm(ns, 'me')
        await putCm(ns, 'me', { v: '2' })
        await w.until((e) => e.length >= 2, target.patienceMs, 'the two events of "me"')
        assert.deepEqual(events(w.events), ['ADDED me', 'MODIFIED me'])
      } finally {
        w.close()
      }
    })
  })

  describe('watches: bookmarks and streaming lists', () => {
    test('with allowWatchBookmarks a BOOKMARK (only kind, apiVersion, metadata.resourceVersion) comes before the deadline; without, none; both end at timeoutSeconds', async () => {
      const ns = await namespace()
      const list = await ok(kc(), 'GET', cms(ns))
      const timeout = target.bookmarkWatchTimeoutSeconds
      const base = `${cms(ns)}?watch=1&resourceVersion=${rvOf(list)}&timeoutSeconds=${timeout}`
      const [withBookmarks, without] = await Promise.all([openWatch(kc(), `${base}&allowWatchBookmarks=true`), openWatch(kc(), base)])
      try {
        await createCm(ns, 'a')
        const [endA, endB] = await Promise.all([withBookmarks.ended((timeout + 3) * 1000), without.ended((timeout + 3) * 1000)])
        assert.deepEqual([endA, endB], ['clean', 'clean'], 'the server ends both watches at timeoutSeconds')
        const bookmarks = withBookmarks.events.filter((e) => e.type === 'BOOKMARK')
        assert.ok(bookmarks.length >= 1, `a BOOKMARK before the deadline; got ${withBookmarks.events.map(brief)}`)
        for (const { object } of bookmarks) {
          assert.deepEqual(Object.keys(object).sort(), ['apiVersion', 'kind', 'metadata'])
          assert.equal(object.kind, 'ConfigMap')
          assert.equal(object.apiVersion, 'v1')
          assert.deepEqual(Object.keys(object.metadata), ['resourceVersion'])
          assert.ok(BigInt(rvOf(object)) >= BigInt(rvOf(list)))
        }
        assert.deepEqual(events(withBookmarks.events.filter((e) => e.type !== 'BOOKMARK')), ['ADDED a'])
        assert.deepEqual(events(without.events), ['ADDED a'], 'no BOOKMARK without allowWatchBookmarks')
      } finally {
        withBookmarks.close()
        without.close()
      }
    })

    test('sendInitialEvents=true streams the objects as ADDED, then a BOOKMARK annotated k8s.io/initial-events-end, then live changes', async () => {
      const ns = await namespace()
      await createCm(ns, 'a')
      await createCm(ns, 'b')
      const list = await ok(kc(), 'GET', cms(ns))
      const w = await openWatch(
        kc(),
        `${cms(ns)}?watch=1&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true&resourceVersion=${rvOf(list)}`,
      )
      try {
        assert.equal(w.status, 200)
        await w.until((e) => e.some((x) => x.type === 'BOOKMARK'), target.patienceMs, 'the initial-events-end bookmark')
        const end = w.events.findIndex((e) => e.type === 'BOOKMARK')
        assert.deepEqual(events(w.events.slice(0, end)).sort(), ['ADDED a', 'ADDED b'])
        const bookmark = w.events[end]!.object
        assert.deepEqual(bookmark.metadata.annotations, { 'k8s.io/initial-events-end': 'true' })
        assert.equal(bookmark.kind, 'ConfigMap')
        assert.ok(BigInt(rvOf(bookmark)) >= BigInt(rvOf(list)), 'the bookmark is not older than the requested resourceVersion')
        await createCm(ns, 'c')
        await w.until((e) => e.some((x) => x.type === 'ADDED' && x.object.metadata.name === 'c'), target.patienceMs, 'the live event')
        assert.deepEqual(events(w.events.slice(end + 1).filter((e) => e.type !== 'BOOKMARK')), ['ADDED c'])
      } finally {
        w.close()
      }
    })

    test('sendInitialEvents=true of a collection larger than any watch buffer (1,200 objects) streams every object and the initial-events-end bookmark, without ending the watch', async () => {
      // kube-apiserver's cacheWatcher.processInterval writes the initial events straight to the
      // client (blocking on it), so the size of the initial state never terminates a watcher;
      // the embedded target runs with maxWatchBacklog 1000, below this collection.
      const ns = await namespace()
      const n = 1200
      for (let i = 0; i < n; i += 50) {
        await Promise.all(Array.from({ length: Math.min(50, n - i) }, (_, j) => createCm(ns, `big-${String(i + j).padStart(4, '0')}`)))
      }
      const w = await openWatch(kc(), `${cms(ns)}?watch=1&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true`)
      try {
        assert.equal(w.status, 200)
        await w.until((e) => e.some((x) => x.type === 'BOOKMARK' && x.object.metadata.annotations?.['k8s.io/initial-events-end'] === 'true'), target.patienceMs * 4, 'the initial-events-end bookmark')
        const end = w.events.findIndex((e) => e.type === 'BOOKMARK' && e.object.metadata.annotations?.['k8s.io/initial-events-end'] === 'true')
        const added = new Set(w.events.slice(0, end).filter((e) => e.type === 'ADDED').map((e) => e.object.metadata.name))
        assert.equal(added.size, n)
        assert.equal(await w.ended(0), 'open', 'the watch stays open for live changes')
      } finally {
        w.close()
      }
    })

    test('sendInitialEvents=false with resourceVersion "0" sends no initial events', async () => {
      const ns = await namespace()
      await createCm(ns, 'a')
      const w = await openWatch(
        kc(),
        `${cms(ns)}?watch=1&sendInitialEvents=false&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true&resourceVersion=0`,
      )
      try {
        assert.equal(w.status, 200)
        await createCm(ns, 'b')
        await w.until((e) => e.some((x) => x.type === 'ADDED'), target.patienceMs, 'the live event')
        assert.deepEqual(events(w.events.filter((e) => e.type !== 'BOOKMARK')), ['ADDED b'])
      } finally {
        w.close()
      }
    })
  })

  describe('410 Expired after compaction', () => {
    const ckc = () => target.compaction.kubeConfig

    test('a watch from a compacted resourceVersion gets 200, one ERROR event (Status 410 Expired), then the end of the stream', async () => {
      const ns = await namespace(ckc())
      const old = await createCm(ns, 'a', {}, ckc())
      // Two later writes: the compaction point lies beyond the watch's first revision. (A
      // watch starting exactly at the compacted revision gets a 500 from the real server:
      // etcd has dropped the previous value it needs, "PrevKv=nil".)
      await putCm(ns, 'a', { v: '2' }, ckc())
      await putCm(ns, 'a', { v: '3' }, ckc())
      await target.compaction.compact()
      const w = await openWatch(ckc(), `${cms(ns)}?watch=1&resourceVersion=${rvOf(old)}`)
      try {
        assert.equal(w.status, 200)
        await w.until((e) => e.length >= 1, target.patienceMs, 'the ERROR event')
        assert.equal(await w.ended(target.patienceMs), 'clean', 'the server closes the stream after the ERROR')
        assert.equal(w.events.length, 1, `only the ERROR event: ${w.events.map(brief)}`)
        assertExpiredEvent(w.events[0])
        assert.deepEqual(Object.keys(w.events[0]!.object).sort(), ['apiVersion', 'code', 'kind', 'message', 'metadata', 'reason', 'status'])
      } finally {
        w.close()
      }
    })

    test('a list with resourceVersionMatch=Exact (or a limit) at a compacted resourceVersion is 410 Expired; NotOlderThan still works', async () => {
      const ns = await namespace(ckc())
      await createCm(ns, 'a', {}, ckc())
      const then = await ok(ckc(), 'GET', cms(ns))
      await putCm(ns, 'a', { v: '2' }, ckc())
      await target.compaction.compact()
      for (const query of [`resourceVersion=${rvOf(then)}&resourceVersionMatch=Exact`, `resourceVersion=${rvOf(then)}&limit=5`]) {
        const res = await raw(ckc(), 'GET', `${cms(ns)}?${query}`)
        assertStatus(res, 410, 'Expired')
        assert.match(res.body.message, /too old/i)
      }
      const notOlder = await ok(ckc(), 'GET', `${cms(ns)}?resourceVersion=${rvOf(then)}&resourceVersionMatch=NotOlderThan`)
      assert.deepEqual(notOlder.items[0].data, { v: '2' })
    })

    test('a continue token of a compacted snapshot is 410 Expired with a continue token that goes on at the latest state', async () => {
      const ns = await namespace(ckc())
      await createCm(ns, 'a', {}, ckc())
      await createCm(ns, 'b', {}, ckc())
      const first = await ok(ckc(), 'GET', `${cms(ns)}?limit=1`)
      await putCm(ns, 'b', { v: '2' }, ckc())
      await target.compaction.compact()
      const res = await raw(ckc(), 'GET', `${cms(ns)}?limit=1&continue=${encodeURIComponent(first.metadata.continue)}`)
      assert.equal(typeof res.body?.metadata?.continue, 'string', res.text)
      assertStatus(res, 410, 'Expired', undefined, { continue: res.body.metadata.continue })
      // "Retrieving large results sets in chunks": the token in the 410 continues the list,
      // inconsistently, at the latest state.
      const rest = await ok(ckc(), 'GET', `${cms(ns)}?limit=1&continue=${encodeURIComponent(res.body.metadata.continue)}`)
      assert.deepEqual(names(rest), ['b'])
      assert.deepEqual(rest.items[0].data, { v: '2' })
    })
  })

  describe('selectors', () => {
    const labelCases: [string, string[]][] = [
      ['env=prod', ['a', 'c']],
      ['env==prod', ['a', 'c']],
      ['env!=prod', ['b', 'd']],
      ['env in (prod,dev)', ['a', 'b', 'c']],
      ['env notin (prod)', ['b', 'd']],
      ['tier', ['a', 'b']],
      ['!tier', ['c', 'd']],
      ['env=prod,tier', ['a']],
      ['env=prod,!tier', ['c']],
    ]
    let ns: string
    before(async () => {
      ns = await namespace()
      const labels: Record<string, Record<string, string>> = {
        a: { env: 'prod', tier: 'web' },
        b: { env: 'dev', tier: 'db' },
        c: { env: 'prod' },
        d: {},
      }
      for (const [name, l] of Object.entries(labels)) await createCm(ns, name, { labels: l })
    })

    test('label selectors: =, ==, !=, in, notin, exists, !exists and their conjunction', async () => {
      for (const [selector, expected] of labelCases) {
        const list = await ok(kc(), 'GET', `${cms(ns)}?labelSelector=${encodeURIComponent(selector)}`)
        assert.deepEqual(names(list), expected, selector)
      }
    })

    test('field selectors on metadata.name and metadata.namespace', async () => {
      const cases: [string, string, string[]][] = [
        [cms(ns), 'metadata.name=b', ['b']],
        [cms(ns), 'metadata.name!=b', ['a', 'c', 'd']],
        ['/api/v1/configmaps', `metadata.namespace=${ns}`, ['a', 'b', 'c', 'd']],
        ['/api/v1/configmaps', `metadata.namespace=${ns},metadata.name=c`, ['c']],
      ]
      for (const [path, selector, expected] of cases) {
        const list = await ok(kc(), 'GET', `${path}?fieldSelector=${encodeURIComponent(selector)}`)
        assert.deepEqual(names(list).filter((n) => n !== 'kube-root-ca.crt'), expected, selector)
      }
    })

    test('a paged list with a label selector pages over matching objects only', async () => {
      const first = await ok(kc(), 'GET', `${cms(ns)}?labelSelector=env%3Dprod&limit=1`)
      assert.deepEqual(names(first), ['a'])
      const rest = await ok(kc(), 'GET', `${cms(ns)}?labelSelector=env%3Dprod&limit=1&continue=${encodeURIComponent(first.metadata.continue)}`)
      assert.deepEqual(names(rest), ['c'])
    })

    test('a watch with a label selector sees objects enter as ADDED and leave as DELETED', async () => {
      const watched = await namespace()
      await createCm(watched, 'x', { labels: { app: 'in' } })
      const list = await ok(kc(), 'GET', `${cms(watched)}?labelSelector=app%3Din`)
      const w = await openWatch(kc(), `${cms(watched)}?watch=1&labelSelector=app%3Din&resourceVersion=${rvOf(list)}`)
      try {
        const relabel = async (name: string, app: string) => {
          const current = await ok(kc(), 'GET', `${cms(watched)}/${name}`)
          await ok(kc(), 'PUT', `${cms(watched)}/${name}`, { ...current, metadata: { ...current.metadata, labels: { app } } })
        }
        await createCm(watched, 'y', { labels: { app: 'out' } })
        await relabel('y', 'in') // enters the selection
        await relabel('x', 'out') // leaves it
        await w.until((e) => e.length >= 2, target.patienceMs, 'ADDED y and DELETED x')
        assert.deepEqual(events(w.events), ['ADDED y', 'DELETED x'])
        // The DELETED of an object leaving a selection carries its last matching state.
        assert.deepEqual(w.events[1]!.object.metadata.labels, { app: 'in' })
      } finally {
        w.close()
      }
    })

    test('invalid selectors are 400 BadRequest', async () => {
      for (const query of ['labelSelector=a%20in%20(', 'labelSelector=-bad-', 'fieldSelector=spec.nothing%3Dx', 'fieldSelector=metadata.name']) {
        assertStatus(await raw(kc(), 'GET', `${cms(ns)}?${query}`), 400, 'BadRequest')
      }
      // The same on a watch: refused before the stream starts.
      const w = await openWatch(kc(), `${cms(ns)}?watch=1&labelSelector=a%20in%20(`)
      assert.equal(w.status, 400)
      assert.equal(w.errorBody.reason, 'BadRequest')
    })
  })

  describe('writes: concurrency, conflicts and error Status bodies', () => {
    test('an update with a stale resourceVersion is 409 Conflict naming the object; the object is unchanged', async () => {
      const ns = await namespace()
      const stale = await createCm(ns, 'a')
      await putCm(ns, 'a', { v: '2' })
      const res = await raw(kc(), 'PUT', `${cms(ns)}/a`, { ...stale, data: { v: 'stale' } })
      assertStatus(res, 409, 'Conflict', { name: 'a', kind: 'configmaps' })
      assert.deepEqual((await ok(kc(), 'GET', `${cms(ns)}/a`)).data, { v: '2' })
    })

    test('a conflict in a named API group names the group in details', async () => {
      const ns = await namespace()
      const path = `/apis/apps/v1/namespaces/${ns}/deployments`
      const stale = await ok(kc(), 'POST', path, deployment('web'))
      await ok(kc(), 'PUT', `${path}/web`, { ...stale, metadata: { ...stale.metadata, labels: { v: '2' } } })
      const res = await raw(kc(), 'PUT', `${path}/web`, { ...stale, metadata: { ...stale.metadata, labels: { v: 'stale' } } })
      assertStatus(res, 409, 'Conflict', { name: 'web', group: 'apps', kind: 'deployments' })
    })

    test('creating an existing name is 409 AlreadyExists; a missing object is 404 NotFound', async () => {
      const ns = await namespace()
      await createCm(ns, 'a')
      assertStatus(await raw(kc(), 'POST', cms(ns), { metadata: { name: 'a' } }), 409, 'AlreadyExists', { name: 'a', kind: 'configmaps' })
      for (const method of ['GET', 'PUT', 'DELETE']) {
        const body = method === 'PUT' ? { metadata: { name: 'missing' } } : undefined
        assertStatus(await raw(kc(), method, `${cms(ns)}/missing`, body), 404, 'NotFound', { name: 'missing', kind: 'configmaps' })
      }
      assertStatus(
        await raw(kc(), 'GET', `/apis/apps/v1/namespaces/${ns}/deployments/missing`),
        404,
        'NotFound',
        { name: 'missing', group: 'apps', kind: 'deployments' },
      )
    })

    test('an invalid object is 422 Invalid with the kind, name and a cause per field', async () => {
      const ns = await namespace()
      const res = await raw(kc(), 'POST', cms(ns), { metadata: { name: 'Not_Valid' } })
      assertStatus(res, 422, 'Invalid')
      assert.equal(res.body.details.name, 'Not_Valid')
      assert.equal(res.body.details.kind, 'ConfigMap')
      assert.ok(res.body.details.causes.some((c: any) => c.field === 'metadata.name' && c.reason === 'FieldValueInvalid'))
    })

    test('a delete precondition on a stale resourceVersion is 409 Conflict', async () => {
      const ns = await namespace()
      const stale = await createCm(ns, 'a')
      await putCm(ns, 'a', { v: '2' })
      const res = await raw(kc(), 'DELETE', `${cms(ns)}/a`, {
        apiVersion: 'v1',
        kind: 'DeleteOptions',
        preconditions: { resourceVersion: rvOf(stale) },
      })
      // apiserver registry/rest/delete.go: the Conflict names the kind, not the resource.
      assertStatus(res, 409, 'Conflict', { name: 'a', kind: 'ConfigMap' })
    })

    test('error messages have kube-apiserver\'s wording (the embedded server copies it, so it is compared too)', async () => {
      const ns = await namespace()
      const dep = `/apis/apps/v1/namespaces/${ns}/deployments`
      const a = await createCm(ns, 'a')
      const a2 = await putCm(ns, 'a', { v: '2' })
      const web = await ok(kc(), 'POST', dep, deployment('web'))
      await ok(kc(), 'PUT', `${dep}/web`, { ...web, metadata: { ...web.metadata, labels: { v: '2' } } })
      const nameRule =
        "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
      const keyRule =
        "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
      const modified = 'the object has been modified; please apply your changes to the latest version and try again'
      const cases: [string, string, unknown, string | RegExp][] = [
        ['GET', `${cms(ns)}/missing`, undefined, 'configmaps "missing" not found'],
        ['GET', `${dep}/missing`, undefined, 'deployments.apps "missing" not found'],
        ['POST', cms(ns), { metadata: { name: 'a' } }, 'configmaps "a" already exists'],
        ['PUT', `${cms(ns)}/a`, { ...a, data: {} }, `Operation cannot be fulfilled on configmaps "a": ${modified}`],
        ['PUT', `${dep}/web`, web, `Operation cannot be fulfilled on deployments.apps "web": ${modified}`],
        ['POST', cms(ns), { metadata: { name: 'Not_Valid' } }, `ConfigMap "Not_Valid" is invalid: metadata.name: Invalid value: "Not_Valid": ${nameRule}`],
        ['POST', cms(ns), { metadata: {} }, 'ConfigMap "" is invalid: metadata.name: Required value: name or generateName is required'],
        ['PUT', `${cms(ns)}/a`, { metadata: { name: 'b' } }, 'the name of the object (b) does not match the name on the URL (a)'],
        ['GET', `${cms(ns)}?labelSelector=${encodeURIComponent('a in (')}`, undefined, "unable to parse requirement: found '', expected: ',', ')' or identifier"],
        ['GET', `${cms(ns)}?labelSelector=-bad-`, undefined, `unable to parse requirement: <nil>: Invalid value: "-bad-": ${keyRule}`],
        ['GET', `${cms(ns)}?fieldSelector=spec.x%3D1`, undefined, '"spec.x" is not a known field selector: only "metadata.name", "metadata.namespace"'],
        ['GET', `/api/v1/namespaces/${ns}/pods?fieldSelector=spec.x%3D1`, undefined, 'field label not supported: spec.x'],
        ['GET', `${cms(ns)}?fieldSelector=metadata.name`, undefined, "invalid selector: 'metadata.name'; can't understand 'metadata.name'"],
        [
          'GET',
          `${cms(ns)}?resourceVersion=0&resourceVersionMatch=Exact`,
          undefined,
          'ListOptions.meta.k8s.io "" is invalid: resourceVersionMatch: Forbidden: resourceVersionMatch "exact" is forbidden for resourceVersion "0"',
        ],
        ['GET', `${cms(ns)}?resourceVersion=99999999&resourceVersionMatch=NotOlderThan`, undefined, /^Timeout: Too large resource version: 99999999, current: \d+$/],
        [
          'DELETE',
          `${cms(ns)}/a`,
          { preconditions: { resourceVersion: rvOf(a) } },
          `Operation cannot be fulfilled on ConfigMap "a": the ResourceVersion in the precondition (${rvOf(a)}) does not match the ResourceVersion in record (${rvOf(a2)}). The object might have been modified`,
        ],
        [
          'DELETE',
          `${cms(ns)}/a`,
          { preconditions: { uid: 'other' } },
          `Operation cannot be fulfilled on ConfigMap "a": the UID in the precondition (other) does not match the UID in record (${a.metadata.uid}). The object might have been deleted and then recreated`,
        ],
        ['DELETE', '/api/v1/namespaces/default', undefined, 'namespaces "default" is forbidden: this namespace may not be deleted'],
      ]
      for (const [method, path, body, message] of cases) {
        const res = await raw(kc(), method, path, body)
        if (typeof message === 'string') assert.equal(res.body?.message, message, `${method} ${path}`)
        else assert.match(res.body?.message, message, `${method} ${path}`)
      }
    })

    test('an unknown resource of a served group version is 404 NotFound with empty details', async () => {
      const ns = await namespace()
      for (const path of [`/api/v1/namespaces/${ns}/nosuchthings`, '/apis/apps/v1/nosuchthings', `${cms(ns)}/x/nosuchsubresource`]) {
        assertStatus(await raw(kc(), 'GET', path), 404, 'NotFound', {})
      }
    })

    test('a path no API serves (an unknown group) is the plain-text 404 of the HTTP mux, not a Status', async () => {
      for (const path of ['/apis/unknown.kubevisor.io/v1/things', '/apis/unknown.kubevisor.io/v1/namespaces/default/things/x', '/apis/unknown.kubevisor.io']) {
        const res = await raw(kc(), 'GET', path)
        assert.deepEqual([res.status, res.text], [404, '404 page not found\n'], path)
      }
    })
  })

  describe('finalizers and deletionTimestamp', () => {
    test('deleting an object with a finalizer marks it (202, deletionTimestamp, MODIFIED); removing the finalizer deletes it (DELETED)', async () => {
      const ns = await namespace()
      await createCm(ns, 'held', { finalizers: ['kubevisor.io/hold'] })
      const list = await ok(kc(), 'GET', cms(ns))
      const w = await openWatch(kc(), `${cms(ns)}?watch=1&resourceVersion=${rvOf(list)}`)
      try {
        // 200, not 202: 202 is reserved for orphanDependents=false (apiserver handlers/delete.go).
        const del = await raw(kc(), 'DELETE', `${cms(ns)}/held`)
        assert.equal(del.status, 200, del.text)
        assert.equal(typeof del.body.metadata.deletionTimestamp, 'string')
        const marked = await ok(kc(), 'GET', `${cms(ns)}/held`)
        assert.equal(marked.metadata.deletionTimestamp, del.body.metadata.deletionTimestamp)
        assert.deepEqual(marked.metadata.finalizers, ['kubevisor.io/hold'])
        // A second delete changes nothing; with orphanDependents=false it answers 202 Accepted.
        const again = await raw(kc(), 'DELETE', `${cms(ns)}/held`)
        assert.equal(again.status, 200)
        assert.equal(again.body.metadata.resourceVersion, marked.metadata.resourceVersion)
        const accepted = await raw(kc(), 'DELETE', `${cms(ns)}/held`, { apiVersion: 'v1', kind: 'DeleteOptions', orphanDependents: false })
        assert.equal(accepted.status, 202, accepted.text)
        // No new finalizers while deleting.
        const adding = await raw(kc(), 'PUT', `${cms(ns)}/held`, {
          ...marked,
          metadata: { ...marked.metadata, finalizers: ['kubevisor.io/hold', 'kubevisor.io/more'] },
        })
        assertStatus(adding, 422, 'Invalid')
        await ok(kc(), 'PUT', `${cms(ns)}/held`, { ...marked, metadata: { ...marked.metadata, finalizers: [] } })
        assertStatus(await raw(kc(), 'GET', `${cms(ns)}/held`), 404, 'NotFound')
        await w.until((e) => e.length >= 2, target.patienceMs, 'MODIFIED then DELETED')
        assert.deepEqual(events(w.events), ['MODIFIED held', 'DELETED held'])
        assert.equal(typeof w.events[0]!.object.metadata.deletionTimestamp, 'string')
      } finally {
        w.close()
      }
    })
  })

  describe('namespaces', () => {
    test('deleting a namespace marks it Terminating (200); creating in it is 403 Forbidden with a NamespaceTerminating cause', async () => {
      const ns = await namespace()
      // A finalizer keeps the namespace from emptying, on either server.
      await createCm(ns, 'held', { finalizers: ['kubevisor.io/hold'] })
      const del = await raw(kc(), 'DELETE', `/api/v1/namespaces/${ns}`)
      assert.equal(del.status, 200, del.text)
      assert.equal(del.body.status.phase, 'Terminating')
      assert.equal(typeof del.body.metadata.deletionTimestamp, 'string')
      const got = await ok(kc(), 'GET', `/api/v1/namespaces/${ns}`)
      assert.equal(got.status.phase, 'Terminating')
      const res = await raw(kc(), 'POST', cms(ns), { metadata: { name: 'late' } })
      assertStatus(res, 403, 'Forbidden')
      assert.deepEqual(
        res.body.details.causes.map((c: any) => [c.reason, c.field]),
        [['NamespaceTerminating', 'metadata.namespace']],
      )
      assert.equal(res.body.details.name, 'late')
      assert.equal(res.body.details.kind, 'configmaps')
    })
  })

  describe('status subresource and generation', () => {
    test('a Deployment: spec through /status and status through the main resource are ignored; generation counts spec changes only', async () => {
      const ns = await namespace()
      const path = `/apis/apps/v1/namespaces/${ns}/deployments`
      const created = await ok(kc(), 'POST', path, { ...deployment('web'), status: { replicas: 7 } })
      assert.equal(created.metadata.generation, 1)
      assert.equal(created.status?.replicas, undefined, 'status is not set on create')
      const viaStatus = await ok(kc(), 'PUT', `${path}/web/status`, {
        ...created,
        spec: { ...created.spec, replicas: 5 },
        status: { ...created.status, observedGeneration: 1 },
      })
      assert.equal(viaStatus.spec.replicas, 1, 'spec through /status is ignored')
      assert.equal(viaStatus.status.observedGeneration, 1)
      assert.equal(viaStatus.metadata.generation, 1)
      const viaMain = await ok(kc(), 'PUT', `${path}/web`, {
        ...viaStatus,
        metadata: { ...viaStatus.metadata, labels: { extra: 'label' } },
        status: { ...viaStatus.status, observedGeneration: 42 },
      })
      assert.equal(viaMain.status.observedGeneration, 1, 'status through the main resource is ignored')
      assert.equal(viaMain.metadata.generation, 1, 'a metadata change does not bump generation')
      const specChange = await ok(kc(), 'PUT', `${path}/web`, { ...viaMain, spec: { ...viaMain.spec, replicas: 3 } })
      assert.equal(specChange.metadata.generation, 2)
      assert.equal(specChange.spec.replicas, 3)
    })
  })

  describe('CustomResourceDefinitions', () => {
    test('a namespaced CRD with a status subresource becomes Established; its kind is served, watched and obeys /status', async () => {
      const plural = 'widgets'
      await ok(kc(), 'POST', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions', crd('Widget', plural, 'Namespaced'))
      await established(`${plural}.${GROUP}`)
      const ns = await namespace()
      const path = `/apis/${GROUP}/v1/namespaces/${ns}/${plural}`
      const list = await eventuallyOk(path)
      assert.equal(list.kind, 'WidgetList')
      assert.equal(list.apiVersion, `${GROUP}/v1`)
      const w = await openWatch(kc(), `${path}?watch=1&resourceVersion=${rvOf(list)}`)
      try {
        const created = await ok(kc(), 'POST', path, {
          apiVersion: `${GROUP}/v1`,
          kind: 'Widget',
          metadata: { name: 'w1' },
          spec: { size: 1 },
          status: { phase: 'ignored on create' },
        })
        assert.equal(created.metadata.generation, 1)
        assert.equal(created.status, undefined, 'status is dropped on create with a status subresource')
        const withStatus = await ok(kc(), 'PUT', `${path}/w1/status`, { ...created, spec: { size: 99 }, status: { phase: 'Ready' } })
        assert.deepEqual(withStatus.spec, { size: 1 })
        assert.deepEqual(withStatus.status, { phase: 'Ready' })
        assert.equal(withStatus.metadata.generation, 1)
        const bigger = await ok(kc(), 'PUT', `${path}/w1`, { ...withStatus, spec: { size: 2 }, status: { phase: 'ignored' } })
        assert.equal(bigger.metadata.generation, 2)
        assert.deepEqual(bigger.status, { phase: 'Ready' })
        // A custom resource update without metadata.resourceVersion is refused.
        const { resourceVersion: _rv, ...noRv } = bigger.metadata
        assertStatus(await raw(kc(), 'PUT', `${path}/w1`, { ...bigger, metadata: noRv }), 422, 'Invalid')
        await w.until((e) => e.length >= 3, target.patienceMs, 'three Widget events')
        assert.deepEqual(events(w.events), ['ADDED w1', 'MODIFIED w1', 'MODIFIED w1'])
        assert.equal(w.events[0]!.object.kind, 'Widget')
        assert.equal(w.events[0]!.object.apiVersion, `${GROUP}/v1`)
        const items = (await ok(kc(), 'GET', path)).items
        assert.equal(items[0].kind, 'Widget', 'custom resource lists keep kind on items')
        assertStatus(await raw(kc(), 'GET', `${path}/nope`), 404, 'NotFound', { name: 'nope', group: GROUP, kind: plural })
      } finally {
        w.close()
      }
    })

    test('a cluster-scoped CRD becomes Established and its objects live outside namespaces', async () => {
      const plural = 'gadgets'
      await ok(kc(), 'POST', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions', crd('Gadget', plural, 'Cluster'))
      await established(`${plural}.${GROUP}`)
      const path = `/apis/${GROUP}/v1/${plural}`
      await eventuallyOk(path)
      const created = await ok(kc(), 'POST', path, { apiVersion: `${GROUP}/v1`, kind: 'Gadget', metadata: { name: 'g1' }, spec: { x: 1 } })
      assert.equal(created.metadata.namespace, undefined)
      assert.deepEqual(names(await ok(kc(), 'GET', path)), ['g1'])
      const namespaced = await raw(kc(), 'GET', `/apis/${GROUP}/v1/namespaces/default/${plural}`)
      assert.deepEqual([namespaced.status, namespaced.text], [404, '404 page not found\n'])
    })

    async function established(name: string): Promise<void> {
      await eventually(
        async () => {
          const got = await ok(kc(), 'GET', `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${name}`)
          return (got.status?.conditions ?? []).some((c: any) => c.type === 'Established' && c.status === 'True')
        },
        target.patienceMs,
        `CRD ${name} to be Established`,
      )
    }

    async function eventuallyOk(path: string): Promise<any> {
      let body: any
      await eventually(
        async () => {
          const res = await raw(kc(), 'GET', path)
          body = res.body
          return res.status === 200
        },
        target.patienceMs,
        `${path} to be served`,
      )
      return body
    }
  })

  describe('the Watcher (kubevisor) against this server', () => {
    async function view(w: WatcherRef): Promise<MirrorState> {
      return GenServer.call<MirrorState>(w, 'view')
    }
    /** Waits until the watcher's view equals the server's objects (except those named in `unseen`). */
    async function converged(w: WatcherRef, on: ConformanceTarget['kubeConfig'], ns: string, unseen: string[] = []): Promise<void> {
      await eventually(
        async () => {
          const items = (await ok(on, 'GET', cms(ns))).items as KubeObject[]
          const expected = items.filter((o) => !unseen.includes(o.metadata?.name ?? ''))
          assert.deepEqual((await view(w)).view, serverView(expected))
          return true
        },
        target.patienceMs,
        'the watcher to match the server',
      )
      assert.deepEqual((await view(w)).violations, [])
    }
    const fast = { initialMs: 20, maxMs: 200, factor: 2, jitter: 0, resetAfterMs: 0 }
    const startWatcher = (on: ConformanceTarget['kubeConfig'], ns: string, opts: Record<string, unknown> = {}, arg?: { view?: Map<string, string> }) =>
      Watcher.start(Mirror, arg, { kubeConfig: on, apiVersion: 'v1', kind: 'ConfigMap', namespace: ns, logger, backoff: fast, ...opts })

    test('resuming from a resourceVersion delivers only what came after it', async () => {
      const ns = await namespace()
      const before = await createCm(ns, 'before')
      await createCm(ns, 'after')
      const w = await startWatcher(kc(), ns, { resourceVersion: rvOf(before) })
      try {
        await eventually(async () => (await view(w)).view.has(`${ns}/after`), target.patienceMs, 'the later object')
        await createCm(ns, 'live')
        await converged(w, kc(), ns, ['before'])
        const log = (await view(w)).log.filter((l) => l !== 'synced').map((l) => l.split('@')[0])
        assert.deepEqual(log, [`created ${ns}/after`, `created ${ns}/live`])
      } finally {
        await Watcher.stop(w)
      }
    })

    // Issue #12 item 13: a watcher resumed with what its handler persisted (the view and
    // ctx.resourceVersion) gets exactly what changed while it was away, whether its
    // resourceVersion can still be watched or has expired (410 → relist diffed against it).
    for (const expired of [false, true]) {
      test(`resume with known ${expired ? 'after compaction (410 → relist)' : 'from a watchable resourceVersion'}: exactly deleted, modified, created for what changed while stopped`, async () => {
        const on = expired ? target.compaction.kubeConfig : kc()
        const ns = await namespace(on)
        for (const name of ['same', 'changes', 'vanishes']) await createCm(ns, name, {}, on)
        const first = await startWatcher(on, ns)
        let persisted: MirrorState
        try {
          await converged(first, on, ns)
          persisted = await view(first)
        } finally {
          await Watcher.stop(first)
        }
        assert.ok(persisted.resourceVersion, 'the handler knows its resourceVersion')
        await putCm(ns, 'changes', { v: '2' }, on)
        await ok(on, 'DELETE', `${cms(ns)}/vanishes`)
        await createCm(ns, 'appears', {}, on)
        if (expired) await target.compaction.compact()
        const w = await startWatcher(on, ns, { resume: { resourceVersion: persisted.resourceVersion, known: persisted.view } }, { view: persisted.view })
        try {
          await converged(w, on, ns)
          const delivered = (await view(w)).log.filter((l) => l !== 'synced').map((l) => l.split('@')[0]).sort()
          assert.deepEqual(delivered, [`created ${ns}/appears`, `deleted ${ns}/vanishes`, `modified ${ns}/changes`])
          if (expired) {
            assert.ok((w.counters.gone ?? 0) >= 1, 'the server answered the persisted resourceVersion with 410')
            assert.equal(w.counters.listPages, 1, 'one relist')
          } else {
            assert.equal(w.counters.listPages, 0, 'no list: the watch replayed what happened')
          }
        } finally {
          await Watcher.stop(w)
        }
      })
    }

    test('resume without known from a watchable resourceVersion: the watch\'s MODIFIED and DELETED of objects held are modified and deleted, not created', async () => {
      const ns = await namespace()
      for (const name of ['same', 'changes', 'vanishes']) await createCm(ns, name)
      const first = await startWatcher(kc(), ns)
      let persisted: MirrorState
      try {
        await converged(first, kc(), ns)
        persisted = await view(first)
      } finally {
        await Watcher.stop(first)
      }
      await putCm(ns, 'changes', { v: '2' })
      await ok(kc(), 'DELETE', `${cms(ns)}/vanishes`)
      await createCm(ns, 'appears')
      const w = await startWatcher(kc(), ns, { resourceVersion: persisted.resourceVersion }, { view: persisted.view })
      try {
        await converged(w, kc(), ns)
        const delivered = (await view(w)).log.filter((l) => l !== 'synced').map((l) => l.split('@')[0])
        assert.deepEqual(delivered, [`modified ${ns}/changes`, `deleted ${ns}/vanishes`, `created ${ns}/appears`])
      } finally {
        await Watcher.stop(w)
      }
    })

    let proxy: TcpProxy | undefined
    after(async () => {
      await proxy?.close()
    })

    test('a broken watch is resumed without loss; after compaction, 410 leads to a relist and only the real changes are delivered', async () => {
      const direct = target.compaction.kubeConfig
      proxy = await startTcpProxy(direct)
      const ns = await namespace(direct)
      for (const name of ['same', 'changes', 'vanishes']) await createCm(ns, name, {}, direct)
      const w = await startWatcher(proxy.kubeConfig, ns)
      try {
        await eventually(async () => (await view(w)).log.includes('synced'), target.patienceMs, 'the initial sync')
        // 1. A dropped connection: re-watch from the last resourceVersion, nothing lost.
        proxy.pause()
        await createCm(ns, 'during-drop', {}, direct)
        proxy.resume()
        await converged(w, direct, ns)
        assert.equal(w.counters?.relists, 0, 'a dropped connection resumes without relisting')
        // 2. Broken again; changes happen and the history is compacted before it reconnects:
        // its watch from the old resourceVersion gets 410, it relists and diffs.
        proxy.pause()
        await putCm(ns, 'changes', { v: '2' }, direct)
        await ok(direct, 'DELETE', `${cms(ns)}/vanishes`)
        await createCm(ns, 'appears', {}, direct)
        await target.compaction.compact()
        const logBefore = (await view(w)).log.length
        proxy.resume()
        await converged(w, direct, ns)
        assert.ok((w.counters?.gone ?? 0) >= 1, 'the server answered the old resourceVersion with 410')
        assert.equal(w.counters?.relists, 1, 'one relist after the 410')
        const { log } = await view(w)
        const delivered = log.slice(logBefore).filter((l) => l !== 'synced').map((l) => l.split('@')[0]).sort()
        assert.deepEqual(delivered, [`created ${ns}/appears`, `deleted ${ns}/vanishes`, `modified ${ns}/changes`].sort())
        assert.equal(
          log.filter((l) => l.startsWith(`created ${ns}/same`)).length,
          1,
          'the unchanged object is not delivered again',
        )
      } finally {
        await Watcher.stop(w)
      }
    })

    test('with initialList "stream", the watcher syncs from one sendInitialEvents watch, without a list request', async () => {
      const ns = await namespace()
      for (const name of ['a', 'b', 'c']) await createCm(ns, name)
      const w = await startWatcher(kc(), ns, { initialList: 'stream' })
      try {
        await eventually(async () => (await view(w)).log.includes('synced'), target.patienceMs, 'the initial sync')
        const { log } = await view(w)
        assert.deepEqual(log.slice(0, 3).map((l) => l.split('@')[0]).sort(), [`created ${ns}/a`, `created ${ns}/b`, `created ${ns}/c`])
        assert.equal(log[3], 'synced')
        assert.equal(w.counters?.listPages, 0, 'no list request: the server streamed the initial state')
        await createCm(ns, 'd')
        await converged(w, kc(), ns)
      } finally {
        await Watcher.stop(w)
      }
    })

    test('a shared informer: subscribers and a late joiner see the server\'s state; after a 410 only the real changes', async () => {
      const direct = target.compaction.kubeConfig
      const via = await startTcpProxy(direct)
      const factory = new InformerFactory({ kubeConfig: via.kubeConfig, logger, backoff: fast })
      try {
        const ns = await namespace(direct)
        for (const name of ['same', 'changes', 'vanishes']) await createCm(ns, name, {}, direct)
        const informer = factory.informer({ apiVersion: 'v1', kind: 'ConfigMap', namespace: ns })
        const one = reader(informer.subscribe())
        const two = reader(informer.subscribe())
        await eventually(() => one.log.includes('synced') && two.log.includes('synced'), target.patienceMs, 'both subscribers synced')
        const late = reader(informer.subscribe())
        await eventually(() => late.log.includes('synced'), target.patienceMs, 'the late joiner synced')
        assert.deepEqual(late.log.slice(0, 3).sort(), ['created changes', 'created same', 'created vanishes'])
        assert.equal(late.log[3], 'synced')
        const before = one.log.length
        via.pause()
        await putCm(ns, 'changes', { v: '2' }, direct)
        await ok(direct, 'DELETE', `${cms(ns)}/vanishes`)
        await createCm(ns, 'appears', {}, direct)
        await target.compaction.compact()
        via.resume()
        const expected = async () => serverView((await ok(direct, 'GET', cms(ns))).items as KubeObject[])
        for (const [name, r] of [['first', one], ['second', two], ['late', late]] as const) {
          await eventually(async () => {
            assert.deepEqual(r.view, await expected())
            return true
          }, target.patienceMs, `the ${name} subscriber to match the server`)
        }
        assert.deepEqual(one.log.slice(before).sort(), ['created appears', 'deleted vanishes', 'modified changes'])
        assert.deepEqual(two.log, one.log)
        assert.deepEqual(informer.store.keys().sort(), [...(await expected()).keys()].sort())
      } finally {
        await factory.stop()
        await via.close()
      }
    })

    test('under churn, the watcher\'s final view equals the server\'s', async () => {
      const ns = await namespace()
      for (let i = 0; i < 5; i++) await createCm(ns, `seed-${i}`)
      const w = await startWatcher(kc(), ns, { pageSize: 2 })
      try {
        for (let i = 0; i < 10; i++) {
          await createCm(ns, `new-${i}`)
          await putCm(ns, `seed-${i % 5}`, { v: String(i) })
          if (i % 3 === 0) await ok(kc(), 'DELETE', `${cms(ns)}/new-${i}`)
        }
        await converged(w, kc(), ns)
      } finally {
        await Watcher.stop(w)
      }
    })
  })

  describe('dispatch (kubevisor) against this server', () => {
    test('the reconcile loop maps owned objects to their owners across kinds (Pods owned by Deployments; only the controller owner when asked)', async () => {
      const ns = await namespace()
      const deployment = (name: string) => ({
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        metadata: { name },
        spec: { selector: { matchLabels: { app: name } }, template: { metadata: { labels: { app: name } }, spec: { containers: [{ name: 'app', image: 'nginx' }] } } },
      })
      const web = await ok(kc(), 'POST', `/apis/apps/v1/namespaces/${ns}/deployments`, deployment('web'))
      const api = await ok(kc(), 'POST', `/apis/apps/v1/namespaces/${ns}/deployments`, deployment('api'))
      const informers = new InformerFactory({ kubeConfig: kc(), logger })
      const seen: Record<string, string[]> = { any: [], controller: [] }
      const ctls = (['any', 'controller'] as const).map((mode) =>
        controller(`owners-${mode}`, { informers, logger })
          .for({ apiVersion: 'apps/v1', kind: 'Deployment', namespace: ns })
          .owns({ apiVersion: 'v1', kind: 'Pod', namespace: ns }, { onlyController: mode === 'controller' })
          .build((req) => {
            seen[mode]?.push(req.name)
          }),
      )
      try {
        for (const c of ctls) await c.start()
        await eventually(() => seen.any?.length === 2 && seen.controller?.length === 2, target.patienceMs, 'the initial reconciles')
        seen.any = []
        seen.controller = []
        const ref = (o: any, controlling: boolean) => ({ apiVersion: 'apps/v1', kind: 'Deployment', name: o.metadata.name, uid: o.metadata.uid, controller: controlling })
        await ok(kc(), 'POST', `/api/v1/namespaces/${ns}/pods`, {
          apiVersion: 'v1',
          kind: 'Pod',
          metadata: { name: 'p', ownerReferences: [ref(web, true), ref(api, false)] },
          spec: { containers: [{ name: 'app', image: 'nginx' }] },
        })
        await eventually(() => seen.any?.length === 2 && seen.controller?.length === 1, target.patienceMs, 'the owners to be reconciled')
        assert.deepEqual([...(seen.any ?? [])].sort(), ['api', 'web'])
        assert.deepEqual(seen.controller, ['web'])
      } finally {
        for (const c of ctls) await c.stop()
        await informers.stop()
      }
    })
  })

}

/** A minimal valid apps/v1 Deployment. */
function deployment(name: string): Record<string, unknown> {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name },
    spec: {
      replicas: 1,
      selector: { matchLabels: { app: name } },
      template: { metadata: { labels: { app: name } }, spec: { containers: [{ name: 'c', image: 'busybox' }] } },
    },
  }
}

/** A CRD in the conformance group with one served version, a permissive schema and a status subresource. */
function crd(kind: string, plural: string, scope: 'Namespaced' | 'Cluster'): Record<string, unknown> {
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `${plural}.${GROUP}` },
    spec: {
      group: GROUP,
      scope,
      names: { kind, plural, singular: kind.toLowerCase(), listKind: `${kind}List` },
      versions: [
        {
          name: 'v1',
          served: true,
          storage: true,
          schema: { openAPIV3Schema: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } },
          subresources: { status: {} },
        },
      ],
    },
  }
}

/** Reads a subscription into a log of `type name` lines and a key → resourceVersion view. */
function reader(sub: Subscription<KubeObject>): { log: string[]; view: Map<string, string> } {
  const log: string[] = []
  const view = new Map<string, string>()
  void (async () => {
    for (;;) {
      const e = await sub.next()
      if (!e) return
      if (e.type === 'synced') {
        log.push('synced')
        continue
      }
      log.push(`${e.type} ${e.object.metadata?.name}`)
      if (e.type === 'deleted') view.delete(e.key)
      else view.set(e.key, e.object.metadata?.resourceVersion ?? '')
    }
  })()
  return { log, view }
}
