/**
 * The runner over an in-memory list/watch backend and a fake clock: the exact sequence
 * of notifications through initial sync, reconnects, 410 relists, faults and stalls,
 * and that what the consumer knows at the end equals the backend's objects.
 */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { createLogger } from '../../lib/log.ts'
import { FakeClock, settle } from '../../lib/testing/fake-clock.ts'
import { ApiStatusError, WatchStartFailedError } from '../../lib/watch/errors.ts'
import { StoreWriter } from '../../lib/store/store.ts'
import { KnownVersions, type KnownStore } from '../../lib/watch/known.ts'
import { type WatchNotification, WatchRunner, type WatchRunnerOptions } from '../../lib/watch/runner.ts'
import { FakeListWatch } from './fake-list-watch.ts'

const silent = createLogger({ level: 'silent' })

function setup(options: Partial<WatchRunnerOptions> = {}) {
  const clock = new FakeClock()
  const server = new FakeListWatch()
  const known = options.known ?? new KnownVersions({ keepObjects: true })
  const runner = new WatchRunner({ client: server, clock, random: () => 0, logger: silent, known, ...options })
  const got: string[] = []
  const seen: WatchNotification[] = []
  let error: unknown
  const consumed = (async () => {
    try {
      for await (const n of runner) {
        seen.push(n)
        got.push(n.type === 'synced' ? `synced@${n.resourceVersion}` : `${n.type} ${n.key}@${n.object.metadata?.resourceVersion}`)
      }
    } catch (err) {
      error = err
    }
  })()
  /** What the consumer knows equals what the server has: same keys, same versions. */
  const converged = () => {
    const want = [...server.objects.entries()].map(([k, o]) => [k, o.metadata?.resourceVersion]).sort()
    const have = [...known.keys()].map((k) => [k, known.get(k)?.resourceVersion]).sort()
    assert.deepEqual(have, want)
  }
  return { clock, server, runner, got, seen, known, consumed, converged, error: () => error }
}

describe('WatchRunner', () => {
  test('delivers existing objects as created, then synced, then live changes in order', async () => {
    const t = setup({ config: { pageSize: 2 } })
    t.server.put('a')
    t.server.put('b')
    t.server.put('c')
    await settle()
    assert.deepEqual(t.server.requests.map((r) => r.kind), ['list', 'list', 'watch'])
    t.server.put('a', { v: '2' })
    t.server.remove('b')
    await settle()
    assert.deepEqual(t.got, ['created default/a@101', 'created default/b@102', 'created default/c@103', 'synced@103', 'modified default/a@104', 'deleted default/b@105'])
    t.converged()
    assert.equal(t.runner.lastResourceVersion, '105', 'the for-await loop asked for the next one: everything is acknowledged')
    t.runner.stop()
    await t.consumed
    assert.equal(t.error(), undefined)
  })

  test('paging asks for the next page while the current one is handed on: one page ahead, never more', async () => {
    const clock = new FakeClock()
    const server = new FakeListWatch()
    for (const name of ['a', 'b', 'c']) server.put(name)
    const handed: string[] = []
    const handedWhenRequested: number[] = []
    const list = server.list.bind(server)
    server.list = (params, signal) => {
      handedWhenRequested.push(handed.length)
      return list(params, signal)
    }
    const runner = new WatchRunner({ client: server, clock, random: () => 0, logger: silent, config: { pageSize: 1 }, sink: (n) => {
      handed.push(n.type === 'synced' ? 'synced' : `${n.type} ${n.key}`)
      return true
    } })
    runner.start()
    await settle()
    // Without prefetching: [0, 1, 2]. Page 2 is asked for before page 1's object is handed on.
    assert.deepEqual(handedWhenRequested, [0, 0, 1])
    assert.deepEqual(handed, ['created default/a', 'created default/b', 'created default/c', 'synced'])
    runner.stop()
  })

  test('a prefetched page that fails is retried by the real request after a backoff, and nothing is lost', async () => {
    const t = setup({ config: { pageSize: 1 } })
    for (const name of ['a', 'b', 'c']) t.server.put(name)
    // The first request succeeds; the second — the prefetch of page 2 — fails.
    t.server.listFaults.push(undefined as never, new Error('connection reset'))
    await settle()
    assert.deepEqual(t.got, ['created default/a@101'], 'page 2 failed: waiting for the backoff')
    await t.clock.advance(1600)
    await settle()
    assert.deepEqual(t.got.filter((g) => g.startsWith('created')).sort(), ['created default/a@101', 'created default/b@102', 'created default/c@103'])
    t.converged()
    t.runner.stop()
  })

  test('with existingAsCreated off the first list only fills known; changes after it are delivered', async () => {
    const t = setup({ existingAsCreated: false })
    t.server.put('a')
    await settle()
    t.server.put('b')
    await settle()
    assert.deepEqual(t.got, ['synced@101', 'created default/b@102'])
    t.converged()
    t.runner.stop()
  })

  test('a clean end reconnects from the last resourceVersion without relisting or replaying', async () => {
    const t = setup()
    t.server.put('a')
    await settle()
    t.server.put('b')
    t.server.bookmark()
    await settle()
    t.server.stream?.end()
    await settle()
    t.server.put('c')
    await settle()
    assert.deepEqual(t.server.requests.map((r) => r.kind), ['list', 'watch', 'watch'])
    const second = t.server.requests[2]
    assert.ok(second?.kind === 'watch')
    assert.equal(second.params.resourceVersion, '102')
    assert.deepEqual(t.got, ['created default/a@101', 'synced@101', 'created default/b@102', 'created default/c@103'])
    assert.equal(t.runner.counters.reconnects, 1)
    assert.equal(t.runner.counters.relists, 0)
    t.runner.stop()
  })

  test('410 mid-stream relists and delivers only the real differences (created, modified, deleted; nothing for unchanged)', async () => {
    const t = setup()
    for (const name of ['same', 'changed', 'gone']) t.server.put(name)
    await settle()
    // The watch breaks; meanwhile the server changes and compacts, so resuming answers 410.
    t.server.stream?.fail(new Error('ECONNRESET'))
    await settle()
    t.server.put('changed', { v: '2' })
    t.server.remove('gone')
    t.server.put('new')
    t.server.compact()
    await t.clock.advance(800)
    await settle()
    // diffRelist order: created/modified in list order, then deleted
    assert.deepEqual(t.got.slice(4), ['modified default/changed@104', 'created default/new@106', 'deleted default/gone@103'])
    assert.equal(t.runner.counters.gone, 1)
    assert.equal(t.runner.counters.relists, 1)
    t.converged()
    t.runner.stop()
  })

  test('an ERROR 410 event in the stream relists; deleted objects carry the last known object', async () => {
    const t = setup()
    t.server.put('a')
    t.server.put('b')
    await settle()
    t.server.stream?.pushLine({ type: 'ERROR', object: { kind: 'Status', apiVersion: 'v1', code: 410, reason: 'Expired', message: 'too old' } })
    t.server.objects.delete('default/b') // vanished while the watch could not tell
    await settle()
    const deleted = t.seen.find((n) => n.type === 'deleted')
    assert.ok(deleted && deleted.type === 'deleted')
    assert.equal(deleted.object.metadata?.resourceVersion, '102')
    assert.deepEqual((deleted.object as { data: unknown }).data, {})
    t.converged()
    t.runner.stop()
  })

  test('a malformed line is counted and the valid event after it is delivered', async () => {
    const t = setup()
    await settle()
    t.server.stream?.pushRaw('{"type":"ADDED","object":{oops}\n')
    t.server.put('a')
    await settle()
    assert.deepEqual(t.got, ['synced@100', 'created default/a@101'])
    assert.equal(t.runner.counters.decodeErrors, 1)
    t.runner.stop()
  })

  // The runner records live events with one `upsert` when the store has it, and with
  // `versionOf` + `set` otherwise; the rules must not depend on which.
  const withoutUpsert = (): KnownStore => {
    const inner = new KnownVersions({ keepObjects: true })
    return { get: (k) => inner.get(k), versionOf: (k) => inner.versionOf(k), keys: () => inner.keys(), get size() { return inner.size }, set: (k, o) => inner.set(k, o), delete: (k) => inner.delete(k), clear: () => inner.clear() }
  }
  const stores: [string, () => KnownStore][] = [
    ['KnownVersions', () => new KnownVersions()],
    ['StoreWriter with an index', () => new StoreWriter({ byName: (o) => [o.metadata?.name ?? ''] })],
    ['a KnownStore without upsert', withoutUpsert],
  ]
  for (const [name, make] of stores) {
    test(`live events against what was delivered (${name}): a replayed ADDED is dropped, MODIFIED of an unknown object is created`, async () => {
      const t = setup({ known: make() })
      t.server.put('a')
      await settle()
      const a = t.server.objects.get('default/a')
      t.server.stream?.pushLine({ type: 'ADDED', object: a }) // the same version again: a duplicate
      t.server.stream?.pushLine({ type: 'MODIFIED', object: { ...a, metadata: { ...a?.metadata, name: 'ghost', uid: 'uid-ghost', resourceVersion: '150' } } })
      t.server.stream?.pushLine({ type: 'ADDED', object: { ...a, metadata: { ...a?.metadata, resourceVersion: '151' } } }) // known, another version
      t.server.put('b')
      await settle()
      assert.deepEqual(t.got, ['created default/a@101', 'synced@101', 'created default/ghost@150', 'modified default/a@151', 'created default/b@102'])
      assert.equal(t.known.versionOf?.('default/a') ?? t.known.get('default/a')?.resourceVersion, '151')
      assert.equal(t.known.get('default/ghost')?.uid, 'uid-ghost')
      assert.equal(t.runner.lastResourceVersion, '102')
      t.runner.stop()
      await t.consumed
    })
  }

  test('500 bursts on list back off 800, 1600, 3200 ms on the clock, then succeed', async () => {
    const t = setup()
    t.server.put('a')
    t.server.listFaults.push(new ApiStatusError(500, 'boom'), new ApiStatusError(503, 'boom'), new Error('ECONNREFUSED'))
    await settle()
    assert.equal(t.server.requests.length, 1)
    await t.clock.advance(799)
    assert.equal(t.server.requests.length, 1)
    await t.clock.advance(1)
    assert.equal(t.server.requests.length, 2)
    await t.clock.advance(1600)
    assert.equal(t.server.requests.length, 3)
    await t.clock.advance(3200)
    assert.deepEqual(t.got, ['created default/a@101', 'synced@101'])
    assert.equal(t.runner.counters.failures, 3)
    t.runner.stop()
  })

  test('a list that never answers is abandoned after listTimeoutMs and retried after a backoff', async () => {
    const t = setup({ listTimeoutMs: 60_000 })
    t.server.put('a')
    t.server.listHangs = true
    await settle()
    await t.clock.advance(59_999)
    assert.equal(t.server.requests.length, 1)
    await t.clock.advance(1)
    assert.equal(t.runner.counters.failures, 1)
    t.server.listHangs = false
    await t.clock.advance(800)
    assert.deepEqual(t.got, ['created default/a@101', 'synced@101'])
    t.runner.stop()
  })

  test('429 on the watch waits exactly Retry-After', async () => {
    const t = setup()
    await settle()
    t.server.watchFaults.push(new ApiStatusError(429, 'slow down', { retryAfterSeconds: 5 }))
    t.server.bookmark() // a watch that saw something ends normally, not as a "very short watch"
    t.server.stream?.end()
    await settle()
    const before = t.server.requests.length
    await t.clock.advance(4999)
    assert.equal(t.server.requests.length, before)
    await t.clock.advance(1)
    assert.equal(t.server.requests.length, before + 1)
    assert.equal(t.runner.counters.throttled, 1)
    t.runner.stop()
  })

  test('a server that closes every watch at once meets backoff, not a reconnect storm', async () => {
    const t = setup()
    await settle()
    const watches = () => t.server.requests.filter((r) => r.kind === 'watch').length
    t.server.stream?.end()
    await settle()
    assert.equal(watches(), 1, 'no immediate reconnect')
    await t.clock.advance(800)
    assert.equal(watches(), 2)
    t.server.stream?.end()
    await t.clock.advance(1599)
    assert.equal(watches(), 2, 'the backoff grows')
    await t.clock.advance(1)
    assert.equal(watches(), 3)
    t.runner.stop()
  })

  test('a stalled stream (no bytes past timeoutSeconds + margin) is torn down and resumed from the last resourceVersion', async () => {
    const t = setup({ stallMarginMs: 30_000 })
    t.server.put('a')
    await settle()
    const stream = t.server.stream
    await t.clock.advance(300_000 + 29_999)
    assert.equal(stream?.closed, false, 'silence within timeout + margin is fine')
    await t.clock.advance(1)
    assert.equal(stream?.closed, true)
    assert.equal(t.runner.counters.stalls, 1)
    await t.clock.advance(800)
    const last = t.server.requests.at(-1)
    assert.ok(last?.kind === 'watch')
    assert.equal(last.params.resourceVersion, '101')
    t.server.put('b')
    await settle()
    assert.deepEqual(t.got, ['created default/a@101', 'synced@101', 'created default/b@102'])
    t.runner.stop()
  })

  test('a streaming list that goes silent mid-initial-stream is torn down after timeoutSeconds + margin and finished by a paged list', async () => {
    const t = setup({ stallMarginMs: 30_000, config: { initialList: 'stream' } })
    for (const name of ['a', 'b', 'c', 'd']) t.server.put(name)
    t.server.initialEventsSilentAfter = 2
    await settle()
    const stream = t.server.stream
    assert.ok(stream?.params.sendInitialEvents)
    await t.clock.advance(300_000 + 29_999)
    assert.equal(stream.closed, false, 'silence within timeout + margin is fine')
    await t.clock.advance(1)
    assert.equal(stream.closed, true, 'the stall timeout applies while the initial events stream')
    assert.equal(t.runner.counters.stalls, 1)
    await t.clock.advance(800)
    await settle()
    assert.deepEqual(t.server.requests.map((r) => r.kind), ['watch', 'list', 'watch'])
    assert.deepEqual(t.got, ['created default/a@101', 'created default/b@102', 'created default/c@103', 'created default/d@104', 'synced@104'])
    t.converged()
    t.runner.stop()
  })

  test('403 at watch start is a typed terminal error thrown to the consumer after what was queued; no retry loop', async () => {
    const t = setup()
    t.server.put('a')
    t.server.watchFaults.push(new ApiStatusError(403, 'pods is forbidden', { reason: 'Forbidden' }))
    await t.consumed
    assert.deepEqual(t.got, ['created default/a@101', 'synced@101'])
    const err = t.error()
    assert.ok(err instanceof WatchStartFailedError)
    assert.equal(err.status, 403)
    assert.equal(err.retryable, false)
    await assert.rejects(t.runner.done, WatchStartFailedError)
    await t.clock.advance(120_000)
    assert.equal(t.server.requests.length, 2)
  })

  test('resume: watches from the given resourceVersion without listing, diffing a later 410 relist against known', async () => {
    const known = new KnownVersions()
    const t = setup({ config: { resourceVersion: '101' }, known })
    const a = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'a', namespace: 'default', uid: 'uid-a', resourceVersion: '101' } }
    known.set('default/a', a)
    t.server.objects.set('default/a', a)
    t.server.rv = 101
    t.server.compactedBefore = 101
    await settle()
    assert.deepEqual(t.server.requests.map((r) => r.kind), ['watch'])
    t.server.put('b')
    await settle()
    assert.deepEqual(t.got, ['synced@101', 'created default/b@102'])
    t.runner.stop()
  })

  test('never holds more than maxPending unacknowledged notifications, and lastResourceVersion follows acknowledgements', async () => {
    const clock = new FakeClock()
    const server = new FakeListWatch()
    for (let i = 0; i < 50; i++) server.put(`o${String(i).padStart(2, '0')}`)
    const runner = new WatchRunner({ client: server, clock, random: () => 0, logger: silent, maxPending: 4 })
    const it = runner[Symbol.asyncIterator]()
    let peak = 0
    const seen: string[] = []
    for (;;) {
      await settle(2)
      peak = Math.max(peak, runner.pending)
      const { value, done } = await it.next()
      if (done || value.type === 'synced') break
      // mid-relist the consumer has not reached any consistent resourceVersion yet
      assert.equal(runner.lastResourceVersion, undefined)
      seen.push(value.key)
    }
    assert.equal(seen.length, 50)
    assert.equal(runner.lastResourceVersion, '150', 'acknowledging the last created reaches the list resourceVersion')
    assert.ok(peak <= 5, `peak ${peak} ≤ maxPending + the one in flight`)
    runner.stop()
    assert.deepEqual(await it.next(), { done: true, value: undefined })
  })

  test('aborting the signal ends the iteration without an error and closes the stream', async () => {
    const controller = new AbortController()
    const t = setup({ signal: controller.signal })
    t.server.put('a')
    await settle()
    const stream = t.server.stream
    assert.ok(stream)
    controller.abort()
    await t.consumed
    await settle()
    assert.equal(t.error(), undefined)
    assert.equal(stream.closed, true)
    await t.runner.done
  })

  test('relist() resyncs from a list: with known cleared everything is created again', async () => {
    const t = setup()
    t.server.put('a')
    await settle()
    t.known.clear()
    t.runner.relist()
    await settle()
    assert.deepEqual(t.got, ['created default/a@101', 'synced@101', 'created default/a@101'])
    assert.equal(t.runner.counters.relists, 1)
    t.runner.stop()
  })

  test('streaming initial list delivers the same sequence as list+watch, and falls back when rejected', async () => {
    for (const supported of [true, false]) {
      const t = setup({ config: { initialList: 'stream' } })
      t.server.streamingSupported = supported
      t.server.put('a')
      t.server.put('b')
      await settle()
      t.server.put('c')
      await settle()
      assert.deepEqual(t.got, ['created default/a@101', 'created default/b@102', 'synced@102', 'created default/c@103'], `streaming supported: ${supported}`)
      assert.deepEqual(t.server.requests.map((r) => r.kind), supported ? ['watch'] : ['watch', 'list', 'watch'])
      t.converged()
      t.runner.stop()
    }
  })
})
