// Issue #12: the Watcher's `resume` option (item 13) and its backoff made visible and
// cuttable (item 6: `Watcher.waiting`, `Watcher.reconnectNow`), over a fake list/watch
// backend and a fake clock — no real waiting for a 30 s backoff.
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { GenServer } from '../../lib/actor/index.ts'
import { FakeClock, settle } from '../../lib/testing/fake-clock.ts'
import { CLIENT_GO_BACKOFF } from '../../lib/time/backoff.ts'
import { ApiStatusError } from '../../lib/watch/errors.ts'
import { InvalidWatcherOptionsError, Watcher, type WatcherRef } from '../../lib/watcher/watcher.ts'
import { silent as logger } from '../support/log.ts'
import { Mirror, type MirrorState } from '../support/mirror.ts'
import { FakeListWatch } from '../watch/fake-list-watch.ts'

const view = (w: WatcherRef) => GenServer.call<MirrorState>(w, 'view')
const changes = async (w: WatcherRef) => (await view(w)).log.filter((l) => l !== 'synced').map((l) => l.split('@')[0])

function start(server: FakeListWatch, clock: FakeClock, opts: Record<string, unknown> = {}, arg?: { view?: Map<string, string> }) {
  return Watcher.start(Mirror, arg, { client: server, apiVersion: 'v1', kind: 'ConfigMap', logger, clock, ...opts })
}

describe('Watcher: resume with known', () => {
  test('a held object changed while away is modified, a vanished one deleted after the 410 relist, a new one created; the mirror sees no broken promise', async () => {
    const server = new FakeListWatch()
    for (const name of ['a', 'b', 'c']) server.put(name)
    const held = new Map([...server.objects].map(([k, o]) => [k, o.metadata?.resourceVersion as string]))
    const at = String(server.rv)
    server.remove('a')
    server.put('b', { v: '2' })
    server.put('d')
    server.compact()
    const clock = new FakeClock()
    const w = await start(server, clock, { resume: { resourceVersion: at, known: held } }, { view: held })
    await settle(20)
    assert.deepEqual((await changes(w)).sort(), ['created default/d', 'deleted default/a', 'modified default/b'])
    assert.deepEqual((await view(w)).violations, [])
    await Watcher.stop(w)
  })

  test('resume as an async function is called at each start, so a restarted watcher resumes from what was persisted last', async () => {
    const server = new FakeListWatch()
    for (const name of ['a', 'b']) server.put(name)
    const persisted = { resourceVersion: String(server.rv), known: new Map([...server.objects].map(([k, o]) => [k, o.metadata?.resourceVersion as string])) }
    let calls = 0
    const load = async () => {
      calls++
      return { resourceVersion: persisted.resourceVersion, known: new Map(persisted.known) }
    }
    server.remove('a')
    const w = await start(server, new FakeClock(), { resume: load }, { view: persisted.known })
    await settle(10)
    assert.equal(calls, 1)
    assert.deepEqual(await changes(w), ['deleted default/a'])
    assert.deepEqual(server.requests.map((r) => r.kind), ['watch'])
    await Watcher.stop(w)
    // Returning undefined lists from scratch.
    const fresh = await start(server, new FakeClock(), { resume: () => undefined })
    await settle(10)
    assert.deepEqual(await changes(fresh), ['created default/b'])
    await Watcher.stop(fresh)
  })

  test('bad resume options are typed errors naming the option', async () => {
    const server = new FakeListWatch()
    const clock = new FakeClock()
    await assert.rejects(start(server, clock, { resourceVersion: '5', resume: { resourceVersion: '5' } }), /either resourceVersion or resume/)
    await assert.rejects(start(server, clock, { resume: { resourceVersion: '' } }), InvalidWatcherOptionsError)
    await assert.rejects(start(server, clock, { resourceVersion: '5', resume: () => undefined }), /either resourceVersion or resume/)
    await assert.rejects(start(server, clock, { resume: () => Promise.reject(new Error('state store unreachable')) }), /state store unreachable/)
    await assert.rejects(start(server, clock, { resume: { resourceVersion: '5', known: 42 } }), /resume.known must be an iterable/)
    await assert.rejects(start(server, clock, { resume: { resourceVersion: '5', known: [['default/a', '4']] }, store: true }), /give whole objects/)
  })

  test('with a store, known objects fill it: the store holds what the handler held at the resume point', async () => {
    const server = new FakeListWatch()
    const a = server.put('a')
    const w = await start(server, new FakeClock(), { resume: { resourceVersion: String(server.rv), known: [a] }, store: true })
    await settle(10)
    assert.deepEqual(w.store?.keys(), ['default/a'])
    await Watcher.stop(w)
  })
})

describe('Watcher: resume without known', () => {
  test('partial knowledge survives a restarted connection: a MODIFIED of an object not seen since the resume is still modified', async () => {
    const server = new FakeListWatch()
    for (const name of ['a', 'b']) server.put(name)
    const held = new Map([...server.objects].map(([k, o]) => [k, o.metadata?.resourceVersion as string]))
    const clock = new FakeClock()
    const fast = { initialMs: 100, maxMs: 100, factor: 1, jitter: 0, resetAfterMs: 0 }
    const w = await start(server, clock, { resourceVersion: String(server.rv), backoff: fast, restartBackoff: fast }, { view: held })
    await settle(10)
    // The stream breaks and the re-watch is refused (403): the connection crashes and its
    // supervisor starts a new one, which resumes from the last resourceVersion handed over.
    server.watchFaults.push(new ApiStatusError(403, 'configmaps is forbidden', { reason: 'Forbidden' }))
    server.stream?.fail(new Error('connection reset'))
    for (let i = 0; i < 20 && !(server.streams.length >= 2 && server.stream); i++) {
      await clock.advance(100)
      await settle(10)
    }
    assert.ok(server.streams.length >= 2 && server.stream, 'a new connection watches again')
    assert.ok(server.requests.every((r) => r.kind === 'watch'), 'no list: resumed from the last resourceVersion')
    server.put('a', { v: '2' })
    server.remove('b')
    await settle(10)
    assert.deepEqual(await changes(w), ['modified default/a', 'deleted default/b'])
    assert.deepEqual((await view(w)).violations, [])
    await Watcher.stop(w)
  })
})

describe('Watcher: a backoff is visible and can be cut short', () => {
  test('after repeated 500s the watcher waits at the 30 s cap; waiting says why and until when; reconnectNow resumes at once', async () => {
    const server = new FakeListWatch()
    server.put('a')
    const clock = new FakeClock()
    // No jitter, so the delays are client-go's bases: 0.8, 1.6, 3.2, 6.4, 12.8, 25.6, 30 s.
    const w = await start(server, clock, { backoff: { ...CLIENT_GO_BACKOFF, jitter: 0 } })
    await settle(10)
    for (let i = 0; i < 7; i++) server.watchFaults.push(new ApiStatusError(500, 'etcd hiccup', { reason: 'InternalError' }))
    server.stream?.fail(new Error('connection reset'))
    await settle(10)
    for (let i = 0; i < 7; i++) {
      const waiting = await Watcher.waiting(w)
      assert.ok(waiting, `backing off after failure ${i + 1}`)
      await clock.advance(waiting.ms)
      await settle(10)
    }
    const waiting = await Watcher.waiting(w)
    assert.ok(waiting)
    assert.equal(waiting.ms, 30_000, 'the cap')
    assert.equal(waiting.attempt, 8)
    assert.equal(waiting.cause, 'HTTP 500 InternalError: etcd hiccup')
    server.put('b')
    // The old demo check waited 5 s: the watcher would still be asleep.
    await clock.advance(5000)
    await settle(10)
    assert.deepEqual(await changes(w), ['created default/a'])
    const cut = await Watcher.reconnectNow(w)
    assert.equal(cut?.until, waiting.until)
    await settle(10)
    assert.deepEqual(await changes(w), ['created default/a', 'created default/b'])
    assert.equal(await Watcher.waiting(w), undefined)
    assert.equal(await Watcher.reconnectNow(w), undefined, 'nothing to cut short while watching')
    await Watcher.stop(w)
  })
})
