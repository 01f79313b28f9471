// The Watcher behaviour on the embedded API server, over real HTTP: the exact sequence of
// callbacks, resume, 410 relist + diff, faults, crashes; the final view equals the server's.
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { GenServer, noreply, ok, type Pid, Registry, reply } from '../../lib/actor/index.ts'
import { Supervisor } from '../../lib/supervisor/index.ts'
import { type ApiServer, startApiServer } from '../../lib/testing/index.ts'
import { dropManagedFields, type KubeObject, objectKey } from '../../lib/watch/object.ts'
import { InvalidWatcherOptionsError, Watcher, type WatcherBehaviour, type WatcherRef } from '../../lib/watcher/watcher.ts'
import { useTestCluster } from '../support/cluster.ts'
import { captureLogger, silent as logger } from '../support/log.ts'
import { eventually, Mirror, type MirrorState, serverView } from '../support/mirror.ts'

let server: ApiServer
let ns: string
const { cm, ref, update } = useTestCluster('ns', (s, n) => {
  server = s
  ns = n
})


async function view(w: WatcherRef): Promise<MirrorState> {
  return GenServer.call<MirrorState>(w, 'view')
}

async function converged(w: WatcherRef): Promise<void> {
  await eventually(async () => {
    const v = await view(w)
    assert.deepEqual(v.view, serverView(server.list('v1', 'ConfigMap', ns)))
    return true
  }, 10_000, 'the watcher to match the server')
  assert.deepEqual((await view(w)).violations, [])
}

function start(opts: Record<string, unknown> = {}): Promise<WatcherRef> {
  return Watcher.start(Mirror, undefined, { kubeConfig: server.kubeConfig, apiVersion: 'v1', kind: 'ConfigMap', namespace: ns, logger, ...opts })
}

describe('Watcher: delivery', () => {
  test('existing objects arrive as created, then synced once, then live changes in stream order', async () => {
    const a = server.create(cm('a'))
    const b = server.create(cm('b'))
    const w = await start()
    await eventually(async () => (await view(w)).log.includes('synced'))
    const c = server.create(cm('c'))
    const a2 = update('a', { x: '1' })
    const bGone = server.delete(ref('b'))
    await converged(w)
    const { log } = await view(w)
    const rv = (o: KubeObject) => o.metadata?.resourceVersion
    assert.deepEqual(log.slice(0, 3).sort(), [`created ${ns}/a@${rv(a)}`, `created ${ns}/b@${rv(b)}`, 'synced'].sort())
    assert.equal(log[2], 'synced')
    assert.deepEqual(log.slice(3), [`created ${ns}/c@${rv(c)}`, `modified ${ns}/a@${rv(a2)}`, `deleted ${ns}/b@${rv(bGone)}`])
    await Watcher.stop(w)
  })

  test('with deliverExisting: false, existing objects are not delivered but later changes are', async () => {
    server.create(cm('old'))
    const w = await start({ deliverExisting: false })
    await eventually(async () => (await view(w)).log.includes('synced'))
    server.create(cm('new'))
    await eventually(async () => (await view(w)).log.length === 2)
    assert.deepEqual(
      (await view(w)).log.map((l) => l.split('@')[0]),
      ['synced', `created ${ns}/new`],
    )
    await Watcher.stop(w)
  })

  test('resuming from a resourceVersion delivers only what came after it, without listing', async () => {
    server.create(cm('before'))
    const from = String(server.resourceVersion)
    server.create(cm('after'))
    const w = await start({ resourceVersion: from })
    await eventually(async () => (await view(w)).view.has(`${ns}/after`))
    const { log } = await view(w)
    assert.deepEqual(log.filter((l) => l !== 'synced').map((l) => l.split('@')[0]), [`created ${ns}/after`])
    assert.equal(server.requestLog.some((r) => !r.watch && r.path.endsWith(`/namespaces/${ns}/configmaps`)), false, 'no list request')
    await Watcher.stop(w)
  })

  test('call, cast and send reach the handler by name and by ref; the name is released on stop', async () => {
    const registry = new Registry()
    const Named: WatcherBehaviour<KubeObject, number> = {
      init: () => ok(0),
      handleEvent: (_t, _o, n) => noreply(n + 1),
      handleCall: (_m, _f, n) => ({ tag: 'reply', value: n, state: n, after: undefined }),
      handleCast: (m: number, n) => noreply(n + m),
      handleInfo: (m: number, n) => noreply(n + m),
    }
    server.create(cm('one'))
    const w = await Watcher.start(Named, undefined, { kubeConfig: server.kubeConfig, apiVersion: 'v1', kind: 'ConfigMap', namespace: ns, logger, name: 'cms', registry })
    await eventually(async () => (await GenServer.call<number>({ registry, name: 'cms' }, 'n')) === 1)
    GenServer.cast(w, 10)
    GenServer.send({ registry, name: 'cms' }, 100)
    assert.equal(await GenServer.call(w, 'n'), 111)
    await Watcher.stop(w)
    assert.equal(registry.whereis('cms'), undefined)
  })

  test('a store keeps the objects, indexed and transformed (managedFields dropped), synced after the list', async () => {
    const managedFields = [{ manager: 'kubectl', operation: 'Update', apiVersion: 'v1', fieldsType: 'FieldsV1', fieldsV1: { 'f:data': {} } }]
    server.create({ ...cm('s1'), metadata: { name: 's1', namespace: ns, labels: { tier: 'web' }, managedFields } })
    server.create({ ...cm('s2'), metadata: { name: 's2', namespace: ns, labels: { tier: 'db' }, managedFields } })
    assert.ok(server.get(ref('s2'))?.metadata?.managedFields, 'the server keeps managedFields, so the transform has something to drop')
    const w = await start({ store: { indexers: { tier: (o: KubeObject) => [String((o.metadata?.labels as Record<string, string>)?.tier)] } }, transform: dropManagedFields })
    const store = w.store!
    await store.synced
    assert.equal(store.size, 2)
    assert.deepEqual(store.indexKeys('tier', 'web'), [`${ns}/s1`])
    assert.equal(store.get({ namespace: ns, name: 's2' })?.metadata?.managedFields, undefined)
    assert.equal((store.get({ namespace: ns, name: 's2' })?.metadata?.labels as Record<string, string> | undefined)?.tier, 'db')
    server.delete(ref('s1'))
    await eventually(() => store.size === 1)
    assert.equal(store.lastSyncResourceVersion, String(server.resourceVersion))
    await Watcher.stop(w)
  })

  test('objects have one plain-JSON shape whether they came from the list or the watch (client-node mixes Date fields and plain objects)', async () => {
    server.create(cm('from-list'))
    const seen: KubeObject[] = []
    const Collect: WatcherBehaviour<KubeObject, null> = {
      init: () => ok(null),
      handleEvent: (_t, o, s) => {
        seen.push(o)
        return noreply(s)
      },
    }
    const w = await Watcher.start(Collect, undefined, { kubeConfig: server.kubeConfig, apiVersion: 'v1', kind: 'ConfigMap', namespace: ns, logger })
    await eventually(() => seen.length === 1)
    server.create(cm('from-watch'))
    await eventually(() => seen.length === 2)
    for (const o of seen) {
      assert.equal(Object.getPrototypeOf(o), Object.prototype)
      assert.equal(typeof o.metadata?.creationTimestamp, 'string')
      assert.equal(o.apiVersion, 'v1')
      assert.equal(o.kind, 'ConfigMap')
    }
    assert.deepEqual(Object.keys(seen[0] as object).sort(), Object.keys(seen[1] as object).sort())
    await Watcher.stop(w)
  })

  test('bad options are rejected with InvalidWatcherOptionsError naming the option', async () => {
    const base = { kubeConfig: server.kubeConfig, apiVersion: 'v1', kind: 'ConfigMap' }
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ apiVersion: 'v1' }, /apiVersion and kind/],
      [{ ...base, kubeConfig: undefined }, /kubeConfig is required/],
      [{ ...base, pageSize: 0 }, /pageSize/],
      [{ ...base, path: 'api/v1/pods' }, /absolute collection path/],
      [{ ...base, transform: 'x' }, /transform/],
      [{ ...base, metadataOnly: 'yes' }, /metadataOnly must be a boolean/],
    ]
    for (const [opts, message] of cases) {
      await assert.rejects(Watcher.start(Mirror, undefined, opts as never), (e: unknown) => e instanceof InvalidWatcherOptionsError && message.test(e.message))
    }
    await assert.rejects(Watcher.start({ init: () => ok(1) } as never, undefined, base), InvalidWatcherOptionsError)
  })
})

describe('Watcher: faults (the final view always equals the server)', () => {
  test('a handler too slow for the stream: the server ends the watch (maxWatchBacklog), the watcher watches again from where it was, nothing lost', async () => {
    const slow = await startApiServer({ maxWatchBacklog: 20 })
    const Slow: WatcherBehaviour<KubeObject, Map<string, string>> = {
      init: () => ok(new Map()),
      async handleEvent(type, object, view) {
        await new Promise((resolve) => setTimeout(resolve, 1))
        if (type === 'deleted') view.delete(objectKey(object))
        else view.set(objectKey(object), object.metadata?.resourceVersion ?? '')
        return noreply(view)
      },
      handleCall: (_msg, _from, view) => reply(new Map(view), view),
    }
    const w = await Watcher.start(Slow, undefined, { kubeConfig: slow.kubeConfig, apiVersion: 'v1', kind: 'ConfigMap', namespace: 'default', maxPending: 4, store: true, logger })
    try {
      await w.store?.synced // every object below comes through the watch
      const big = 'x'.repeat(64 * 1024)
      for (let i = 0; i < 200; i++) slow.create({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: `big-${i}`, namespace: 'default' }, data: { big } })
      await eventually(async () => {
        assert.deepEqual(await GenServer.call(w, 'view'), serverView(slow.list('v1', 'ConfigMap', 'default')))
        return true
      }, 30_000, 'the slow watcher to match the server')
      assert.ok(slow.stats.watchesClosedSlow >= 1, 'the server closed the slow watch at least once')
      assert.equal(w.counters.relists, 0, 'resumed by watching again, without a relist')
    } finally {
      await Watcher.stop(w)
      await slow.close()
    }
  })

  test("initialList 'stream' of 2,000 objects through a server with maxWatchBacklog 100 syncs from one streaming watch, nothing lost", async () => {
    // Regression (bench/million.ts, 100k objects with the default backlog of 10,000): the
    // server counted the initial events as backlog and ended the stream after ~90 objects,
    // and the watcher retried the streaming list forever, idle in its backoff.
    const srv = await startApiServer({ maxWatchBacklog: 100 })
    const n = 2000
    for (let i = 0; i < n; i++) srv.create({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: `s-${i}`, namespace: 'default' }, data: { pad: 'p'.repeat(300) } })
    const w = await Watcher.start(Mirror, undefined, { kubeConfig: srv.kubeConfig, apiVersion: 'v1', kind: 'ConfigMap', namespace: 'default', initialList: 'stream', store: true, logger })
    try {
      await eventually(async () => (await view(w)).log.includes('synced'), 20_000, 'the streaming sync')
      assert.deepEqual((await view(w)).view, serverView(srv.list('v1', 'ConfigMap', 'default')))
      assert.equal(w.store?.size, n)
      assert.equal(srv.stats.watchesClosedSlow, 0)
      assert.equal(w.counters.failures, 0, 'no streaming list was lost')
      assert.equal(srv.requestLog.filter((r) => !r.watch && r.path === '/api/v1/namespaces/default/configmaps').length, 0, 'no list request')
    } finally {
      await Watcher.stop(w)
      await srv.close()
    }
  })

  test('a streaming list cut after it opened, every time, is finished by a paged list (client-go reflector: LIST/WATCH rather than deadlock)', async () => {
    const srv = await startApiServer()
    for (let i = 0; i < 50; i++) srv.create({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: `c-${i}`, namespace: 'default' }, data: { v: String(i) } })
    const streaming = (info: { query: Readonly<Record<string, string>> }) => info.query.sendInitialEvents === 'true'
    let cutting = true
    let cuts = 0
    const cutter = (async () => {
      while (cutting) {
        await Promise.race([srv.waitForWatches(1, streaming), new Promise((resolve) => setTimeout(resolve, 50))])
        cuts += srv.dropWatches({ match: streaming, abrupt: false })
      }
    })()
    const w = await Watcher.start(Mirror, undefined, { kubeConfig: srv.kubeConfig, apiVersion: 'v1', kind: 'ConfigMap', namespace: 'default', initialList: 'stream', logger })
    try {
      await eventually(async () => (await view(w)).log.includes('synced'), 20_000, 'the sync')
      assert.ok(cuts >= 1, 'the streaming list was cut')
      srv.create({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'live', namespace: 'default' } })
      await eventually(async () => {
        assert.deepEqual((await view(w)).view, serverView(srv.list('v1', 'ConfigMap', 'default')))
        return true
      }, 10_000, 'the watcher to match the server')
      assert.deepEqual((await view(w)).violations, [])
      assert.ok(srv.requestLog.some((r) => !r.watch && r.path === '/api/v1/namespaces/default/configmaps'), 'a paged list finished the sync')
    } finally {
      cutting = false
      await cutter
      await Watcher.stop(w)
      await srv.close()
    }
  })

  test('a dropped stream is re-watched from the last resourceVersion, without relisting', async () => {
    server.create(cm('d1'))
    const w = await start()
    await eventually(async () => (await view(w)).log.includes('synced'))
    await server.waitForWatches(1, { path: `/api/v1/namespaces/${ns}/configmaps` })
    const lists = () => server.requestLog.filter((r) => !r.watch && r.path === `/api/v1/namespaces/${ns}/configmaps`).length
    const listsBefore = lists()
    server.dropWatches({ match: { path: `/api/v1/namespaces/${ns}/configmaps` } })
    server.create(cm('d2'))
    await converged(w)
    assert.equal(lists(), listsBefore, 'no relist after a dropped stream')
    await Watcher.stop(w)
  })

  test('410 Gone mid-stream relists and delivers only real changes (nothing for unchanged objects)', async () => {
    server.create(cm('same'))
    server.create(cm('changes'))
    server.create(cm('vanishes'))
    const w = await start()
    await eventually(async () => (await view(w)).log.includes('synced'))
    const match = { path: `/api/v1/namespaces/${ns}/configmaps` }
    await server.waitForWatches(1, match)
    const stalled = server.stallWatches({ match })
    update('changes', { v: '2' })
    server.delete(ref('vanishes'))
    server.create(cm('appears'))
    server.compact()
    server.injectWatchError({ match })
    stalled.resume()
    await converged(w)
    const { log } = await view(w)
    const after = log.slice(log.indexOf('synced') + 1).map((l) => l.split('@')[0]).sort()
    assert.deepEqual(after, [`created ${ns}/appears`, `deleted ${ns}/vanishes`, `modified ${ns}/changes`].sort())
    await Watcher.stop(w)
  })

  test('a malformed line is counted and logged; the valid events after it are delivered', async () => {
    const cap = captureLogger('warn')
    const w = await start({ logger: cap.logger })
    await eventually(async () => (await view(w)).log.includes('synced'))
    const match = { path: `/api/v1/namespaces/${ns}/configmaps` }
    await server.waitForWatches(1, match)
    server.sendMalformedLine({ match })
    server.create(cm('after-garbage'))
    await converged(w)
    assert.equal(w.counters?.decodeErrors, 1)
    assert.ok(cap.lines.some((l) => /malformed|decode/i.test(l.msg)))
    await Watcher.stop(w)
  })

  test('a 429 burst with Retry-After and a 500 burst are ridden out', async () => {
    server.create(cm('r1'))
    server.failNext({ count: 2, code: 429, retryAfterSeconds: 1, match: { path: `/api/v1/namespaces/${ns}/configmaps` } })
    const w = await start({ backoff: { initialMs: 10, maxMs: 50, factor: 2, jitter: 0, resetAfterMs: 0 } })
    await converged(w)
    server.failNext({ count: 3, code: 500, match: { path: `/api/v1/namespaces/${ns}/configmaps` } })
    server.dropWatches({ match: { path: `/api/v1/namespaces/${ns}/configmaps` } })
    server.create(cm('r2'))
    await converged(w)
    assert.ok((w.counters?.throttled ?? 0) >= 1)
    await Watcher.stop(w)
  })

  test('a stalled stream (no bytes, no bookmarks) is torn down and resumed', async () => {
    const w = await start({ watchTimeoutSeconds: 1, stallMarginMs: 300 })
    await eventually(async () => (await view(w)).log.includes('synced'))
    const match = { path: `/api/v1/namespaces/${ns}/configmaps` }
    await server.waitForWatches(1, match)
    const stall = server.stallWatches({ match })
    server.create(cm('during-stall'))
    await converged(w)
    assert.ok((w.counters?.stalls ?? 0) >= 1)
    stall.resume()
    await Watcher.stop(w)
  })

  test('a crash in handleEvent restarts the handler with a fresh init and resyncs it from a list', async () => {
    server.create(cm('k1'))
    server.create(cm('k2'))
    let crashOnce = true
    const Crashy: WatcherBehaviour<KubeObject, MirrorState> = {
      ...Mirror,
      handleEvent: (type, object, state, ctx) => {
        if (crashOnce && object.metadata?.name === 'boom') {
          crashOnce = false
          throw new Error('handler bug')
        }
        return Mirror.handleEvent(type, object, state, ctx)
      },
    }
    const registry = new Registry()
    const w = await Watcher.start(Crashy, undefined, { kubeConfig: server.kubeConfig, apiVersion: 'v1', kind: 'ConfigMap', namespace: ns, logger, name: 'crashy', registry })
    await eventually(async () => (await view(w)).log.includes('synced'))
    const firstInit = (await view(w)).inits
    server.create(cm('boom'))
    await converged(w)
    const v = await view(w)
    assert.ok(v.inits > firstInit, 'a fresh init')
    assert.deepEqual(v.log.map((l) => l.split('@')[0]).filter((l) => l !== 'synced').sort(), [`created ${ns}/boom`, `created ${ns}/k1`, `created ${ns}/k2`])
    await Watcher.stop(w)
  })

  test('a killed connection is restarted and resumes from the last resourceVersion: nothing replayed, nothing skipped', async () => {
    server.create(cm('c1'))
    const w = await start({ restartBackoff: { initialMs: 5, maxMs: 20, factor: 2, jitter: 0, resetAfterMs: 0 } })
    await eventually(async () => (await view(w)).log.includes('synced'))
    const [, connection] = await Supervisor.whichChildren(w.supervisor)
    GenServer.exit(connection?.pid as Pid, 'kill')
    server.create(cm('c2'))
    update('c1', { v: '2' })
    await converged(w)
    await eventually(async () => {
      const [, again] = await Supervisor.whichChildren(w.supervisor)
      return typeof again?.pid === 'object' && again.pid !== connection?.pid
    })
    const { log } = await view(w)
    assert.deepEqual(log.filter((l) => l !== 'synced').map((l) => l.split('@')[0]), [`created ${ns}/c1`, `created ${ns}/c2`, `modified ${ns}/c1`])
    await Watcher.stop(w)
  })

  test('an unknown resource path is a typed error delivered to the supervisor, retried with backoff, not in a tight loop', async () => {
    const cap = captureLogger('warn')
    const w = await Watcher.start(Mirror, undefined, {
      kubeConfig: server.kubeConfig,
      path: '/api/v1/nosuchthings',
      namespaced: false,
      logger: cap.logger,
      restartBackoff: { initialMs: 200, maxMs: 1000, factor: 2, jitter: 0, resetAfterMs: 0 },
      maxRestarts: 100,
    })
    await new Promise((r) => setTimeout(r, 700))
    const attempts = server.requestLog.filter((r) => r.path === '/api/v1/nosuchthings').length
    assert.ok(attempts >= 1 && attempts <= 4, `attempts within 700 ms: ${attempts}`)
    const crash = cap.lines.find((l) => l.msg === 'process crashed')
    assert.ok(crash, 'the connection crash is logged')
    assert.match(crash.reason, /404|NotFound|not found/i)
    await Watcher.stop(w)
  })

  test('under a supervisor through childSpec; stopping the tree runs the handler terminate', async () => {
    let terminated = false
    const registry = new Registry()
    const T: WatcherBehaviour<KubeObject, MirrorState> = { ...Mirror, terminate: () => void (terminated = true) }
    const sup = await Supervisor.start([Watcher.childSpec(T, undefined, { kubeConfig: server.kubeConfig, apiVersion: 'v1', kind: 'ConfigMap', namespace: ns, name: 'child-watcher' })], { logger, registry })
    server.create(cm('x'))
    await eventually(async () => (await GenServer.call<MirrorState>({ registry, name: 'child-watcher' }, 'view')).view.size === 1)
    await Supervisor.stop(sup)
    assert.equal(terminated, true)
  })
})
