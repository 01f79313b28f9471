/**
 * Resume that keeps its promise (issue #12, item 13), and a backoff that says why and until
 * when (item 6), on the runner over an in-memory list/watch backend and a fake clock.
 *
 * The resume matrix: the consumer persisted a resourceVersion and what it held there
 * (`a`, `b`, `c`); while it was away `a` was deleted, `b` modified, `d` created. Resumed
 * with `known`, it gets exactly `deleted a`, `modified b`, `created d` — whether the
 * resourceVersion is still watchable or expired (410 → relist diffed against `known`, as
 * client-go's reflector and kube-rs's watcher diff against their store). Without `known`
 * the runner's knowledge is partial; what it can and cannot deliver is pinned down too.
 */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { createLogger } from '../../lib/log.ts'
import { FakeClock, settle } from '../../lib/testing/fake-clock.ts'
import { ApiStatusError } from '../../lib/watch/errors.ts'
import { InvalidResumeError, type KnownRecord, KnownVersions } from '../../lib/watch/known.ts'
import type { KubeObject } from '../../lib/watch/object.ts'
import { type WatchNotification, WatchRunner, type WatchRunnerOptions } from '../../lib/watch/runner.ts'
import { FakeListWatch } from './fake-list-watch.ts'

const silent = createLogger({ level: 'silent' })

/** a@101, b@102, c@103 persisted at 103; then a deleted (104), b modified (105), d created (106). */
function away(expired: boolean) {
  const server = new FakeListWatch()
  const held = ['a', 'b', 'c'].map((name) => server.put(name))
  const persistedAt = String(server.rv)
  server.remove('a')
  server.put('b', { v: '2' })
  server.put('d')
  if (expired) server.compact()
  return { server, held, persistedAt }
}

function run(server: FakeListWatch, options: Partial<WatchRunnerOptions>) {
  const clock = new FakeClock()
  const known = new KnownVersions()
  const runner = new WatchRunner({ client: server, clock, random: () => 0, logger: silent, known, ...options })
  const got: string[] = []
  const objects: WatchNotification[] = []
  const consumed = (async () => {
    for await (const n of runner) {
      objects.push(n)
      got.push(n.type === 'synced' ? 'synced' : `${n.type} ${n.key}@${n.object.metadata?.resourceVersion}`)
    }
  })()
  return { clock, runner, got, objects, known, consumed }
}

const pairs = (objects: KubeObject[]): KnownRecord[] => objects.map((o) => [`default/${o.metadata?.name}`, o.metadata?.resourceVersion as string] as const)

describe('resume with known: exactly what changed while away', () => {
  for (const expired of [false, true]) {
    for (const form of ['[key, resourceVersion] pairs', 'objects'] as const) {
      test(`${expired ? 'expired (410 → relist diffed against known)' : 'still watchable'}, known as ${form}: deleted a, modified b, created d, nothing for c`, async () => {
        const { server, held, persistedAt } = away(expired)
        const t = run(server, { resume: { resourceVersion: persistedAt, known: form === 'objects' ? held : pairs(held) } })
        await settle(10)
        assert.equal(t.runner.knowledge, 'complete')
        const changes = t.got.filter((l) => l !== 'synced').sort()
        assert.deepEqual(changes, expired ? ['created default/d@106', 'deleted default/a@101', 'modified default/b@105'] : ['created default/d@106', 'deleted default/a@104', 'modified default/b@105'])
        assert.deepEqual(
          server.requests.map((r) => r.kind),
          expired ? ['watch', 'list', 'watch'] : ['watch'],
          expired ? 'a 410 on the resume watch, one relist' : 'no list: the watch replays what happened',
        )
        if (expired) {
          // The vanished object comes as a tombstone of the listed kind, at the version the consumer held.
          const deleted = t.objects.find((n) => n.type === 'deleted')
          assert.ok(deleted && deleted.type === 'deleted')
          assert.deepEqual({ kind: deleted.object.kind, apiVersion: deleted.object.apiVersion, name: deleted.object.metadata?.name, namespace: deleted.object.metadata?.namespace }, { kind: 'ConfigMap', apiVersion: 'v1', name: 'a', namespace: 'default' })
        }
        // Afterwards the record equals the server: live events classify as usual.
        server.put('c', { v: '2' })
        await settle()
        assert.equal(t.got.at(-1), 'modified default/c@107')
        assert.deepEqual([...t.known.keys()].sort(), [...server.objects.keys()].sort())
        t.runner.stop()
        await t.consumed
      })
    }
  }

  test('an ADDED of a held key at the held version is nothing, at a new version `modified`; a DELETED of a key not held is dropped', async () => {
    const server = new FakeListWatch()
    const a = server.put('a')
    const t = run(server, { resume: { resourceVersion: String(server.rv), known: [['default/a', '101']] } })
    await settle()
    server.stream?.pushLine({ type: 'ADDED', object: a })
    server.stream?.pushLine({ type: 'ADDED', object: { ...a, metadata: { ...a.metadata, resourceVersion: '120' } } })
    server.stream?.pushLine({ type: 'DELETED', object: { ...a, metadata: { ...a.metadata, name: 'never-held', resourceVersion: '121' } } })
    server.put('b')
    await settle()
    assert.deepEqual(t.got, ['synced', 'modified default/a@120', 'created default/b@102'])
    t.runner.stop()
  })

  test('with existingAsCreated false, a resume whose watch is answered 410 still delivers what is new (it is not a first list)', async () => {
    const { server, held, persistedAt } = away(true)
    const t = run(server, { existingAsCreated: false, resume: { resourceVersion: persistedAt, known: held } })
    await settle(10)
    assert.deepEqual(t.got.filter((l) => l !== 'synced').sort(), ['created default/d@106', 'deleted default/a@101', 'modified default/b@105'])
    t.runner.stop()
  })

  test('bad records are a typed error at construction, naming what is wrong', () => {
    const server = new FakeListWatch()
    assert.throws(() => run(server, { resume: { resourceVersion: '1', known: [['default/a', '']] } }), InvalidResumeError)
    assert.throws(() => run(server, { resume: { resourceVersion: '1', known: [{ metadata: { name: 'a' } }] } }), /metadata.name and metadata.resourceVersion/)
    assert.throws(() => run(server, { resume: { resourceVersion: '' } }), InvalidResumeError)
  })
})

describe('resume without known: partial knowledge, documented outcomes', () => {
  test('still watchable: ADDED → created, MODIFIED of an object not seen since → modified (not created), DELETED → deleted', async () => {
    const { server, persistedAt } = away(false)
    const t = run(server, { resume: { resourceVersion: persistedAt } })
    await settle(10)
    assert.deepEqual(t.got, ['synced', 'deleted default/a@104', 'modified default/b@105', 'created default/d@106'])
    assert.equal(t.runner.knowledge, 'partial')
    t.runner.stop()
  })

  test('expired: the relist can only say created for what it has not seen, and no deleted for what vanished; knowledge is complete after it', async () => {
    const { server, persistedAt } = away(true)
    const t = run(server, { resume: { resourceVersion: persistedAt } })
    await settle(10)
    assert.deepEqual(t.got.filter((l) => l !== 'synced').sort(), ['created default/b@105', 'created default/c@103', 'created default/d@106'])
    assert.equal(t.runner.knowledge, 'complete')
    // From now on a DELETED of an unknown key is dropped, as after any list.
    server.stream?.pushLine({ type: 'DELETED', object: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'zz', namespace: 'default', resourceVersion: '200' } } })
    server.remove('c')
    await settle()
    assert.equal(t.got.at(-1), 'deleted default/c@107')
    assert.ok(!t.got.some((l) => l.includes('zz')))
    t.runner.stop()
  })

  test('config.resourceVersion alone resumes with the given known as complete (a replacement runner with the same known)', async () => {
    const { server, persistedAt } = away(false)
    const t = run(server, { config: { resourceVersion: persistedAt } })
    await settle(10)
    assert.equal(t.runner.knowledge, 'complete')
    // Nothing was recorded: a MODIFIED of an unknown key is created, a DELETED of one dropped.
    assert.deepEqual(t.got, ['synced', 'created default/b@105', 'created default/d@106'])
    t.runner.stop()
  })
})

describe('a backoff says why and until when, and retryNow cuts it short', () => {
  test('repeated 500s reach the 30 s cap (client-go: 800 ms ×2 → 30 s); waiting names reason, cause and attempt; retryNow reconnects at once', async () => {
    const server = new FakeListWatch()
    server.put('a')
    const t = run(server, {})
    await settle()
    const fault = () => new ApiStatusError(500, 'etcd hiccup', { reason: 'InternalError' })
    const delays: number[] = []
    // A broken stream, then every re-watch answered 500 seven times.
    for (let i = 0; i < 7; i++) server.watchFaults.push(fault())
    server.stream?.fail(new Error('connection reset'))
    await settle()
    for (let i = 0; i < 8; i++) {
      const waiting = t.runner.waiting
      assert.ok(waiting, `waiting after failure ${i + 1}`)
      assert.equal(waiting.until - waiting.since, waiting.ms)
      assert.equal(waiting.attempt, i + 1)
      delays.push(waiting.ms)
      if (i < 7) await t.clock.advance(waiting.ms)
      await settle()
    }
    assert.deepEqual(delays, [800, 1600, 3200, 6400, 12_800, 25_600, 30_000, 30_000])
    const waiting = t.runner.waiting
    assert.ok(waiting)
    assert.equal(waiting.attempt, 8)
    assert.equal(waiting.reason, 'watch failed')
    assert.equal(waiting.cause, 'HTTP 500 InternalError: etcd hiccup')
    assert.match(waiting.endsAt, /^\d{4}-\d\d-\d\dT/)
    const watches = server.requests.length
    server.put('b')
    assert.deepEqual(t.runner.retryNow(), waiting)
    await settle()
    assert.equal(server.requests.length, watches + 1, 'reconnected without the clock moving')
    assert.equal(t.runner.waiting, undefined)
    assert.equal(t.got.at(-1), 'created default/b@102')
    assert.equal(t.runner.retryNow(), undefined, 'nothing to cut short while watching: no request is interrupted')
    await settle()
    assert.equal(server.requests.length, watches + 1)
    t.runner.stop()
  })

  test('the backoff is logged once, with how long, until when, the attempt and the cause', async () => {
    const lines: Record<string, unknown>[] = []
    const logger = createLogger({ level: 'info', destination: { write: (s: string) => lines.push(JSON.parse(s)) > 0 } as unknown as NodeJS.WritableStream })
    const server = new FakeListWatch()
    server.watchFaults.push(new ApiStatusError(503, 'apiserver is shutting down', { reason: 'ServiceUnavailable' }))
    const t = run(server, { logger })
    await settle()
    const backoff = lines.filter((l) => String(l.msg).includes('backing off'))
    assert.equal(backoff.length, 1)
    assert.match(String(backoff[0]?.msg), /^backing off 0\.8 s until \d{4}-.*Z \(attempt 1, watch failed: HTTP 503 ServiceUnavailable: apiserver is shutting down\)$/)
    assert.equal(backoff[0]?.waitMs, 800)
    assert.equal(backoff[0]?.attempt, 1)
    assert.equal(backoff[0]?.level, 40)
    t.runner.stop()
  })
})
