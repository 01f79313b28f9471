// Watch streams, pinned to the API concepts doc (https://kubernetes.io/docs/reference/using-api/api-concepts/#efficient-detection-of-changes,
// #watch-bookmarks, #streaming-lists) and the watch cache (apiserver pkg/storage/cacher:
// "too old resource version: X (Y)" as a 410 ERROR event; selector transitions become
// ADDED/DELETED; bookmarks carry only kind, apiVersion and metadata.resourceVersion).
import assert from 'node:assert/strict'
import http from 'node:http'
import { after, before, describe, test } from 'node:test'
import { type KubernetesObject, makeInformer, Watch, CoreV1Api, type V1ConfigMap } from '@kubernetes/client-node'
import { FakeClock, type ApiServer, startApiServer } from '../../../lib/testing/index.ts'
import { configMap, crd, openWatch } from './helpers.ts'

const CM = '/api/v1/namespaces/default/configmaps'

describe('embedded API server: watch', () => {
  let server: ApiServer
  let clock: FakeClock

  before(async () => {
    clock = new FakeClock()
    server = await startApiServer({ clock, bookmarkIntervalMs: 1000, historySize: 50 })
  })
  after(() => server.close())

  test('a watch without resourceVersion starts with ADDED for every existing object, then live events', async () => {
    server.create(configMap('w-a1'))
    const w = await openWatch(server, `${CM}?watch=1&labelSelector=`)
    const first = await w.next()
    assert.equal(first.type, 'ADDED')
    assert.equal(first.object.kind, 'ConfigMap')
    assert.equal(first.object.apiVersion, 'v1')
    server.update({ ...server.get({ apiVersion: 'v1', kind: 'ConfigMap', name: 'w-a1' })!, data: { x: '1' } })
    server.delete({ apiVersion: 'v1', kind: 'ConfigMap', name: 'w-a1' })
    const [mod, del] = await w.take(2)
    assert.equal(mod.type, 'MODIFIED')
    assert.equal(del.type, 'DELETED')
    assert.ok(Number(del.object.metadata.resourceVersion) > Number(mod.object.metadata.resourceVersion))
    w.close()
  })

  test('a watch from a resourceVersion replays exactly the events after it, in order', async () => {
    const start = server.resourceVersion
    for (let i = 0; i < 5; i++) server.create(configMap(`w-r${i}`))
    const mid = server.resourceVersion - 2
    const w = await openWatch(server, `${CM}?watch=true&resourceVersion=${mid}`)
    const evs = await w.take(2)
    assert.deepEqual(
      evs.map((e) => `${e.type}:${e.object.metadata.name}:${e.object.metadata.resourceVersion}`),
      [`ADDED:w-r3:${start + 4}`, `ADDED:w-r4:${start + 5}`],
    )
    w.close()
  })

  test('a watch from a resourceVersion older than the history window gets 200 and an ERROR 410 Expired event, then ends', async () => {
    const s = await startApiServer({ historySize: 3 })
    try {
      const rv0 = s.resourceVersion
      for (let i = 0; i < 6; i++) s.create(configMap(`old-${i}`))
      const w = await openWatch(s, `${CM}?watch=1&resourceVersion=${rv0}`)
      assert.equal(w.status, 200)
      const ev = await w.next()
      assert.equal(ev.type, 'ERROR')
      assert.deepEqual(ev.object, {
        kind: 'Status',
        apiVersion: 'v1',
        metadata: {},
        status: 'Failure',
        message: `too old resource version: ${rv0} (${rv0 + 3})`,
        reason: 'Expired',
        code: 410,
      })
      assert.equal(await w.ended(), 'clean')
    } finally {
      await s.close()
    }
  })

  test('a watch from a resourceVersion ahead of the store sees only events after it', async () => {
    const ahead = server.resourceVersion + 2
    const w = await openWatch(server, `${CM}?watch=1&resourceVersion=${ahead}`)
    for (let i = 0; i < 3; i++) server.create(configMap(`w-ahead-${i}`))
    const ev = await w.next()
    assert.equal(ev.object.metadata.name, 'w-ahead-2')
    assert.equal(ev.object.metadata.resourceVersion, String(ahead + 1))
    w.close()
  })

  test('objects entering or leaving a label selector arrive as ADDED and DELETED', async () => {
    server.create(configMap('w-sel', { team: 'a' }))
    const w = await openWatch(server, `${CM}?watch=1&resourceVersion=${server.resourceVersion}&labelSelector=team%3Db`)
    const cur = server.get({ apiVersion: 'v1', kind: 'ConfigMap', name: 'w-sel' })!
    const moved = server.update({ ...cur, metadata: { ...cur.metadata, labels: { team: 'b' } } })
    const moved2 = server.update({ ...moved, data: { v: '2' } })
    const back = server.update({ ...moved2, metadata: { ...moved2.metadata, labels: { team: 'a' } } })
    const evs = await w.take(3)
    assert.deepEqual(
      evs.map((e) => e.type),
      ['ADDED', 'MODIFIED', 'DELETED'],
    )
    // cacher.go: the DELETED carries the previous content with the event's resourceVersion.
    assert.equal(evs[2].object.metadata.labels.team, 'b')
    assert.equal(evs[2].object.metadata.resourceVersion, back.metadata.resourceVersion)
    w.close()
  })

  test('bookmarks come every interval when allowed, with only kind, apiVersion and resourceVersion', async () => {
    const w = await openWatch(server, `${CM}?watch=1&resourceVersion=${server.resourceVersion}&allowWatchBookmarks=true`)
    await clock.advance(1000)
    const ev = await w.next()
    assert.deepEqual(ev, {
      type: 'BOOKMARK',
      object: { kind: 'ConfigMap', apiVersion: 'v1', metadata: { resourceVersion: String(server.resourceVersion) } },
    })
    w.close()
  })

  test('no bookmarks unless allowWatchBookmarks', async () => {
    const w = await openWatch(server, `${CM}?watch=1&resourceVersion=${server.resourceVersion}&timeoutSeconds=5`)
    await clock.advance(3000)
    await clock.advance(2000)
    assert.equal(await w.ended(), 'clean')
    assert.deepEqual(w.lines, [])
  })

  test('timeoutSeconds ends the stream cleanly at the deadline, not before', async () => {
    const w = await openWatch(server, `${CM}?watch=1&resourceVersion=${server.resourceVersion}&timeoutSeconds=30`)
    await clock.advance(29_000)
    assert.equal(server.watches({ resource: 'configmaps' }).length, 1)
    await clock.advance(1000)
    assert.equal(await w.ended(), 'clean')
  })

  test('sendInitialEvents streams the current objects, then a bookmark annotated k8s.io/initial-events-end', async () => {
    server.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'w-init' } })
    server.create({ ...configMap('i1'), metadata: { name: 'i1', namespace: 'w-init' } })
    server.create({ ...configMap('i2'), metadata: { name: 'i2', namespace: 'w-init' } })
    const rv = server.resourceVersion
    const w = await openWatch(
      server,
      '/api/v1/namespaces/w-init/configmaps?watch=1&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true',
    )
    const evs = await w.take(3)
    assert.deepEqual(
      evs.map((e) => `${e.type}:${e.object.metadata.name ?? ''}`),
      ['ADDED:i1', 'ADDED:i2', 'BOOKMARK:'],
    )
    assert.deepEqual(evs[2].object.metadata, {
      resourceVersion: String(rv),
      annotations: { 'k8s.io/initial-events-end': 'true' },
    })
    w.close()
  })

  test('a watch on a named object sees only that object', async () => {
    server.create(configMap('w-named'))
    server.create(configMap('w-other'))
    const w = await openWatch(server, `${CM}/w-named?watch=1`)
    const ev = await w.next()
    assert.equal(ev.object.metadata.name, 'w-named')
    server.delete({ apiVersion: 'v1', kind: 'ConfigMap', name: 'w-other' })
    server.delete({ apiVersion: 'v1', kind: 'ConfigMap', name: 'w-named' })
    const del = await w.next()
    assert.equal(del.type, 'DELETED')
    assert.equal(del.object.metadata.name, 'w-named')
    w.close()
  })

  test('deleting a CRD ends the watches on its kind after DELETED events for its objects', async () => {
    server.create(crd('Namespaced'))
    server.create({ apiVersion: 'example.com/v1', kind: 'Widget', metadata: { name: 'doomed' }, spec: {} })
    const w = await openWatch(server, `/apis/example.com/v1/namespaces/default/widgets?watch=1&resourceVersion=${server.resourceVersion}`)
    server.delete({ apiVersion: 'apiextensions.k8s.io/v1', kind: 'CustomResourceDefinition', name: 'widgets.example.com' })
    const ev = await w.next()
    assert.deepEqual([ev.type, ev.object.metadata.name], ['DELETED', 'doomed'])
    assert.equal(await w.ended(), 'clean')
  })

  test('a client that stops reading gets its watch ended once maxWatchBacklog events wait (a clean end, as the watch cache does)', async () => {
    const slow = await startApiServer({ maxWatchBacklog: 20 })
    try {
      const res = await new Promise<http.IncomingMessage>((resolve, reject) => {
        http.get(`${slow.url}${CM}?watch=1&resourceVersion=${slow.resourceVersion}`, resolve).on('error', reject)
      })
      res.pause() // reads nothing: the socket fills, then the server's backlog
      const big = 'x'.repeat(64 * 1024)
      const created = 200 // ~13 MB: more than the socket buffers hold
      for (let i = 0; i < created; i++) slow.create({ ...configMap(`slow-${i}`), data: { big } })
      for (let i = 0; i < 500 && slow.stats.watchesClosedSlow === 0; i++) await new Promise((resolve) => setTimeout(resolve, 10))
      assert.equal(slow.stats.watchesClosedSlow, 1)
      assert.equal(slow.watches().length, 0)
      // Reading again: what was already written arrives, then the stream ends cleanly.
      let lines = 0
      let buffered = ''
      res.setEncoding('utf8')
      res.on('data', (text: string) => {
        buffered += text
        let nl = buffered.indexOf('\n')
        while (nl >= 0) {
          assert.equal(JSON.parse(buffered.slice(0, nl)).type, 'ADDED')
          lines++
          buffered = buffered.slice(nl + 1)
          nl = buffered.indexOf('\n')
        }
      })
      res.resume()
      await new Promise<void>((resolve, reject) => {
        res.on('end', resolve)
        res.on('error', reject)
      })
      assert.ok(lines > 0 && lines < created, `${lines} of ${created} events before the end`)
      assert.equal(buffered, '')
    } finally {
      await slow.close()
    }
  })

  for (const initial of ['sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true', 'allowWatchBookmarks=true'] as const) {
    test(`initial events never count toward maxWatchBacklog (cacheWatcher.processInterval blocks on the client): 2,000 objects through a backlog of 100, ${initial.startsWith('send') ? 'sendInitialEvents' : 'watch without resourceVersion'}`, async () => {
      // Regression: the whole initial state was queued at once and counted as backlog, so the
      // server ended every such watch after its first chunk (~92 of 2,000 objects), and a
      // streaming list (`initialList: 'stream'`) of more objects than the backlog never completed.
      const srv = await startApiServer({ maxWatchBacklog: 100 })
      try {
        const n = 2000
        for (let i = 0; i < n; i++) srv.create({ ...configMap(`init-${i}`), data: { pad: 'p'.repeat(300) } })
        const res = await new Promise<http.IncomingMessage>((resolve, reject) => {
          http.get(`${srv.url}${CM}?watch=1&${initial}`, resolve).on('error', reject)
        })
        res.pause() // a slow reader: the socket fills before it reads anything
        await new Promise((resolve) => setTimeout(resolve, 50))
        const names = new Set<string>()
        let endBookmark = false
        let buffered = ''
        res.setEncoding('utf8')
        const done = new Promise<void>((resolve, reject) => {
          res.on('data', (text: string) => {
            buffered += text
            let nl = buffered.indexOf('\n')
            while (nl >= 0) {
              const ev = JSON.parse(buffered.slice(0, nl))
              buffered = buffered.slice(nl + 1)
              nl = buffered.indexOf('\n')
              if (ev.type === 'ADDED') names.add(ev.object.metadata.name)
              if (ev.type === 'BOOKMARK' && ev.object.metadata.annotations?.['k8s.io/initial-events-end'] === 'true') endBookmark = true
              if (names.size === n && (endBookmark || !initial.startsWith('send'))) resolve()
            }
          })
          res.on('end', () => reject(new Error(`the watch ended after ${names.size} of ${n} initial events`)))
          res.on('error', reject)
        })
        res.resume()
        await done
        assert.equal(names.size, n)
        assert.equal(srv.stats.watchesClosedSlow, 0)
        assert.equal(srv.watches().length, 1, 'still open for live events')
        srv.create(configMap('init-live'))
        await new Promise<void>((resolve) => {
          const check = () => (names.has('init-live') ? resolve() : setTimeout(check, 5))
          check()
        })
        res.destroy()
      } finally {
        await srv.close()
      }
    })
  }

  test('maxWatchBacklog must be a positive integer', async () => {
    await assert.rejects(startApiServer({ maxWatchBacklog: 0 }), RangeError)
    await assert.rejects(startApiServer({ maxWatchBacklog: 1.5 }), RangeError)
  })

  test("client-node's Watch receives the events", async () => {
    const watch = new Watch(server.kubeConfig)
    const seen: string[] = []
    let resolve!: () => void
    const got = new Promise<void>((r) => {
      resolve = r
    })
    const ctl = await watch.watch(
      CM,
      { resourceVersion: String(server.resourceVersion) },
      (type, obj: KubernetesObject) => {
        seen.push(`${type}:${obj.metadata?.name}`)
        if (seen.length === 2) resolve()
      },
      () => {},
    )
    await server.waitForWatches(1, { resource: 'configmaps', path: CM })
    server.create(configMap('cn-1'))
    server.delete({ apiVersion: 'v1', kind: 'ConfigMap', name: 'cn-1' })
    await got
    assert.deepEqual(seen, ['ADDED:cn-1', 'DELETED:cn-1'])
    ctl.abort()
  })

  test("client-node's informer lists, watches, and relists after a 410", async () => {
    const core = server.kubeConfig.makeApiClient(CoreV1Api)
    server.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'inf' } })
    server.create({ ...configMap('inf-1'), metadata: { name: 'inf-1', namespace: 'inf' } })
    const informer = makeInformer<V1ConfigMap>(server.kubeConfig, '/api/v1/namespaces/inf/configmaps', () =>
      core.listNamespacedConfigMap({ namespace: 'inf' }),
    )
    const added: string[] = []
    informer.on('add', (o) => added.push(o.metadata!.name!))
    informer.on('error', () => {})
    await informer.start()
    await server.waitForWatches(1, { namespace: 'inf' })
    server.create({ ...configMap('inf-2'), metadata: { name: 'inf-2', namespace: 'inf' } })
    while (added.length < 2) await new Promise((r) => setImmediate(r))
    assert.deepEqual(added.sort(), ['inf-1', 'inf-2'])
    assert.equal(server.injectWatchError({ match: { namespace: 'inf' } }), 1)
    // The informer relists (a list request) after the 410; it watches again.
    const lists = () => server.requestLog.filter((r) => r.path === '/api/v1/namespaces/inf/configmaps' && !r.watch).length
    const before = lists()
    while (lists() === before) await new Promise((r) => setImmediate(r))
    await informer.stop()
    assert.deepEqual(informer.list().map((o) => o.metadata!.name).sort(), ['inf-1', 'inf-2'])
  })
})
