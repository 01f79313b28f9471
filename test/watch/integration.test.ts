/**
 * The runner over real HTTP against the embedded API server (`kubevisor/testing`) and
 * its fault injection: dropped streams, 410 mid-stream and at watch start, a malformed
 * line, 429/500 bursts, a stall, 403/404. Each test asserts the exact notification
 * sequence and that what the consumer knows equals the server's objects at the end.
 * The runner's time is a FakeClock (backoffs and the stall detector); the IO is real.
 */
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { KubeConfig } from '@kubernetes/client-node'
import { createLogger } from '../../lib/log.ts'
import { FakeClock } from '../../lib/testing/fake-clock.ts'
import { type ApiServer, startApiServer } from '../../lib/testing/index.ts'
import { HttpListWatchClient, type ResourceTarget } from '../../lib/watch/client.ts'
import { InitialListFailedError } from '../../lib/watch/errors.ts'
import { KnownVersions } from '../../lib/watch/known.ts'
import { WatchRunner, type WatchRunnerOptions } from '../../lib/watch/runner.ts'

const silent = createLogger({ level: 'silent' })
/** A fixed 100 ms backoff, so tests advance the fake clock in small, known steps. */
const TEST_BACKOFF = { initialMs: 100, maxMs: 100, factor: 1, jitter: 0, resetAfterMs: 0 }

let server: ApiServer
let nsCounter = 0

before(async () => {
  server = await startApiServer()
})
after(async () => {
  await server.close()
})

/** Polls `cond` on real time (IO is real), advancing the runner's fake clock a little each turn. */
async function until(cond: () => boolean, clock?: FakeClock, what = 'condition'): Promise<void> {
  for (let i = 0; i < 1000; i++) {
    if (cond()) return
    if (clock) await clock.advance(100)
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
  throw new Error(`timed out waiting for ${what}`)
}

function configMap(namespace: string, name: string, data: Record<string, string> = {}) {
  return { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace }, data }
}

function start(namespace: string, options: Partial<WatchRunnerOptions> = {}, target: Partial<ResourceTarget> = {}) {
  const clock = new FakeClock()
  const known = new KnownVersions({ keepObjects: true })
  const client = new HttpListWatchClient(server.kubeConfig, { apiVersion: 'v1', kind: 'ConfigMap', namespace, ...target } as ResourceTarget)
  const runner = new WatchRunner({ client, clock, known, logger: silent, backoff: TEST_BACKOFF, random: () => 0, ...options })
  const got: string[] = []
  let error: unknown
  const consumed = runner
    .run((n) => {
      got.push(n.type === 'synced' ? 'synced' : `${n.type} ${n.object.metadata?.name}@${n.object.metadata?.resourceVersion}`)
    })
    .catch((err) => {
      error = err
    })
  const rvOf = (name: string) => server.get({ apiVersion: 'v1', kind: 'ConfigMap', namespace, name })?.metadata.resourceVersion
  const converged = () => {
    const want = server.list('v1', 'ConfigMap', namespace).map((o) => [`${namespace}/${o.metadata.name}`, o.metadata.resourceVersion]).sort()
    const have = [...known.keys()].map((k) => [k, known.get(k)?.resourceVersion]).sort()
    assert.deepEqual(have, want)
  }
  const stop = async () => {
    runner.stop()
    await consumed
  }
  return { clock, runner, got, known, rvOf, converged, stop, error: () => error, consumed }
}

/** A namespace per test, so tests do not see each other's objects or watches. */
function freshNamespace(): string {
  const name = `it-${++nsCounter}`
  server.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name } })
  return name
}

const watchesOf = (namespace: string) => ({ resource: 'configmaps', namespace })

describe('WatchRunner on the embedded API server', () => {
  test('pages the initial list, syncs, then delivers live changes in order', async () => {
    const ns = freshNamespace()
    for (const name of ['a', 'b', 'c']) server.create(configMap(ns, name))
    const t = start(ns, { config: { pageSize: 2 } })
    await until(() => t.got.includes('synced'), undefined, 'synced')
    await server.waitForWatches(1, watchesOf(ns))
    server.update({ ...configMap(ns, 'a', { v: '2' }), metadata: { name: 'a', namespace: ns } })
    server.delete({ apiVersion: 'v1', kind: 'ConfigMap', namespace: ns, name: 'b' })
    server.create(configMap(ns, 'd'))
    await until(() => t.got.length === 7, undefined, '7 notifications')
    assert.deepEqual(t.got.slice(0, 4).map((s) => s.replace(/@\d+/, '')), ['created a', 'created b', 'created c', 'synced'])
    assert.deepEqual(t.got.slice(4).map((s) => s.replace(/@\d+/, '')), ['modified a', 'deleted b', 'created d'])
    const lists = server.requestLog.filter((r) => !r.watch && r.path.endsWith(`/namespaces/${ns}/configmaps`))
    assert.equal(lists.length, 2, 'two pages of 2')
    t.converged()
    await t.stop()
  })

  test('a dropped stream resumes from the last resourceVersion: no relist, no replay, nothing skipped', async () => {
    const ns = freshNamespace()
    server.create(configMap(ns, 'a'))
    const t = start(ns)
    await server.waitForWatches(1, watchesOf(ns))
    await until(() => t.got.includes('synced'))
    server.create(configMap(ns, 'b'))
    await until(() => t.got.length === 3)
    assert.equal(server.dropWatches({ match: watchesOf(ns) }), 1)
    server.create(configMap(ns, 'c'))
    await until(() => t.got.length === 4, t.clock, 'c after the drop')
    assert.deepEqual(t.got.map((s) => s.replace(/@\d+/, '')), ['created a', 'synced', 'created b', 'created c'])
    const watches = server.requestLog.filter((r) => r.watch && r.path.endsWith(`/namespaces/${ns}/configmaps`))
    assert.equal(watches.length, 2)
    assert.match(watches[1]?.query ?? '', new RegExp(`resourceVersion=${t.rvOf('b')}`))
    assert.equal(t.runner.counters.relists, 0)
    t.converged()
    await t.stop()
  })

  test('a 410 ERROR event mid-stream relists and delivers only the differences', async () => {
    const ns = freshNamespace()
    for (const name of ['same', 'changed', 'gone']) server.create(configMap(ns, name))
    const t = start(ns)
    await server.waitForWatches(1, watchesOf(ns))
    await until(() => t.got.includes('synced'))
    // The ERROR goes out first; changes made after it sit behind it on the same stream, which
    // the client abandons at the ERROR — so it can only learn them from the relist.
    const stall = server.stallWatches({ match: watchesOf(ns) })
    assert.equal(server.injectWatchError({ match: watchesOf(ns) }), 1)
    server.update({ ...configMap(ns, 'changed', { v: '2' }), metadata: { name: 'changed', namespace: ns } })
    server.delete({ apiVersion: 'v1', kind: 'ConfigMap', namespace: ns, name: 'gone' })
    server.create(configMap(ns, 'new'))
    stall.resume()
    await until(() => t.got.length >= 7, t.clock, 'the relist diff')
    const { ADDED, MODIFIED, DELETED, ERROR } = t.runner.counters.events
    assert.deepEqual({ ADDED, MODIFIED, DELETED, ERROR }, { ADDED: 0, MODIFIED: 0, DELETED: 0, ERROR: 1 }, 'the changes came from the relist, not the stream')
    assert.equal(t.runner.counters.gone, 1)
    assert.equal(t.runner.counters.relists, 1)
    t.converged()
    // diffRelist order: created/modified in list order (by name), then deleted
    assert.deepEqual(t.got.slice(4).map((s) => s.replace(/@\d+/, '')), ['modified changed', 'created new', 'deleted gone'])
    assert.ok(!t.got.slice(4).some((s) => s.includes(' same')), 'nothing for the unchanged object')
    await t.stop()
  })

  test('410 at watch start (history compacted while disconnected) relists and converges', async () => {
    const ns = freshNamespace()
    server.create(configMap(ns, 'a'))
    server.create(configMap(ns, 'b'))
    const t = start(ns)
    await server.waitForWatches(1, watchesOf(ns))
    await until(() => t.got.includes('synced'))
    const stall = server.stallWatches({ match: watchesOf(ns) })
    server.delete({ apiVersion: 'v1', kind: 'ConfigMap', namespace: ns, name: 'a' })
    server.create(configMap(ns, 'c'))
    server.compact()
    server.dropWatches({ match: watchesOf(ns) })
    stall.resume()
    await until(() => t.got.length === 5, t.clock, 'relist after 410 at watch start')
    assert.deepEqual(t.got.slice(3).map((s) => s.replace(/@\d+/, '')), ['created c', 'deleted a'])
    assert.equal(t.runner.counters.gone, 1)
    assert.equal(t.runner.counters.relists, 1)
    t.converged()
    await t.stop()
  })

  test('a malformed line is counted and the next event is delivered', async () => {
    const ns = freshNamespace()
    const t = start(ns)
    await server.waitForWatches(1, watchesOf(ns))
    await until(() => t.got.includes('synced'))
    assert.equal(server.sendMalformedLine({ match: watchesOf(ns) }), 1)
    server.create(configMap(ns, 'after'))
    await until(() => t.got.length === 2)
    assert.deepEqual(t.got.map((s) => s.replace(/@\d+/, '')), ['synced', 'created after'])
    assert.equal(t.runner.counters.decodeErrors, 1)
    await t.stop()
  })

  test('a 500 burst on list and a 429 on watch are retried (backoff, Retry-After) and converge', async () => {
    const ns = freshNamespace()
    server.create(configMap(ns, 'a'))
    server.failNext({ count: 3, code: 500, match: { path: `/api/v1/namespaces/${ns}/configmaps`, watch: false } })
    server.failNext({ count: 1, code: 429, retryAfterSeconds: 2, match: { path: `/api/v1/namespaces/${ns}/configmaps`, watch: true } })
    const t = start(ns)
    await until(() => t.got.includes('synced'), t.clock, 'sync after 500s')
    assert.equal(t.runner.counters.failures, 3)
    await until(() => t.runner.counters.throttled === 1, undefined, 'the 429')
    server.create(configMap(ns, 'b'))
    await until(() => t.got.length === 3, t.clock, 'b after Retry-After')
    assert.deepEqual(t.got.map((s) => s.replace(/@\d+/, '')), ['created a', 'synced', 'created b'])
    t.converged()
    await t.stop()
  })

  test('a stalled stream is torn down after timeoutSeconds + margin and resumed from the last resourceVersion', async () => {
    const ns = freshNamespace()
    server.create(configMap(ns, 'a'))
    const t = start(ns, { stallMarginMs: 30_000 })
    await server.waitForWatches(1, watchesOf(ns))
    await until(() => t.got.includes('synced'))
    const stall = server.stallWatches({ match: watchesOf(ns) })
    server.create(configMap(ns, 'b'))
    await t.clock.advance(300_000 + 30_000)
    await until(() => t.runner.counters.stalls === 1, undefined, 'stall detected')
    await until(() => t.got.length === 3, t.clock, 'b after the stall')
    stall.resume()
    assert.deepEqual(t.got.map((s) => s.replace(/@\d+/, '')), ['created a', 'synced', 'created b'])
    assert.equal(t.runner.counters.relists, 0)
    t.converged()
    await t.stop()
  })

  test('streaming initial list (sendInitialEvents) gives the same sequence as list+watch', async () => {
    const ns = freshNamespace()
    for (const name of ['a', 'b']) server.create(configMap(ns, name))
    const t = start(ns, { config: { initialList: 'stream' } })
    await until(() => t.got.includes('synced'))
    server.create(configMap(ns, 'c'))
    await until(() => t.got.length === 4)
    assert.deepEqual(t.got.map((s) => s.replace(/@\d+/, '')), ['created a', 'created b', 'synced', 'created c'])
    const requests = server.requestLog.filter((r) => r.path.endsWith(`/namespaces/${ns}/configmaps`))
    assert.deepEqual(requests.map((r) => r.watch), [true], 'one request: no list')
    t.converged()
    await t.stop()
  })

  test('an unknown kind is a typed terminal error from discovery (404), without a retry loop', async () => {
    const t = start(freshNamespace(), {}, { apiVersion: 'example.com/v1', kind: 'Nope' })
    await t.consumed
    const err = t.error()
    assert.ok(err instanceof InitialListFailedError, String(err))
    assert.equal(err.status, 404)
    assert.equal(err.retryable, false)
  })

  test('a rejected token (401) is a typed terminal error', async () => {
    const secured = await startApiServer({ token: 'right' })
    try {
      const kc = new KubeConfig()
      kc.loadFromString(secured.kubeConfigYaml())
      const user = kc.getCurrentUser()
      assert.ok(user)
      ;(user as { token?: string }).token = 'wrong'
      const runner = new WatchRunner({
        client: new HttpListWatchClient(kc, { apiVersion: 'v1', kind: 'ConfigMap', namespace: 'default' }),
        clock: new FakeClock(),
        logger: silent,
      })
      await assert.rejects(runner.run(() => {}), (err: unknown) => err instanceof InitialListFailedError && err.status === 401)
    } finally {
      await secured.close()
    }
  })
})
