/**
 * The Events recorder with client-go `tools/events` semantics, on a fake clock and a fake
 * sink: isomorphic events become a series (the second patches `series.count: 2`, later ones
 * only count), a series idle for 6 minutes gets its final count written and ends, open
 * series are refreshed every 30 minutes, a flood is dropped and counted instead of queued
 * without bound, and `event()` never waits. Then the core/v1 fallback over real HTTP against
 * the embedded API server, where `events.k8s.io/v1` is not served.
 */
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { describe, test } from 'node:test'
import { ApiStatusError, NotFoundError } from '../../lib/api/errors.ts'
import { Client, type ObjectRef } from '../../lib/client/client.ts'
import { EventRecorder, type EventsV1Event, SERIES_FINISH_MS, SERIES_REFRESH_MS } from '../../lib/client/events.ts'
import { FakeClock, startApiServer } from '../../lib/testing/index.ts'
import type { KubeObject } from '../../lib/watch/object.ts'
import { eventually } from '../support/mirror.ts'

type Call = { op: 'create'; object: KubeObject } | { op: 'patch'; ref: ObjectRef; patch: Record<string, unknown> }

/** A stand-in for the Client: records creates and patches; `gate` holds writes until opened; `fail` throws for the next writes. */
function fakeSink() {
  const calls: Call[] = []
  const fail: unknown[] = []
  let gate: Promise<void> | undefined
  let open: (() => void) | undefined
  const sink = {
    calls,
    fail,
    hold() {
      gate = new Promise((r) => (open = r))
    },
    release() {
      open?.()
      gate = undefined
    },
    async create(object: KubeObject) {
      await gate
      const err = fail.shift()
      if (err !== undefined) throw err
      calls.push({ op: 'create', object: structuredClone(object) })
      return object
    },
    async patch(ref: ObjectRef, patch: Record<string, unknown>) {
      await gate
      const err = fail.shift()
      if (err !== undefined) throw err
      calls.push({ op: 'patch', ref, patch: structuredClone(patch) })
      return {}
    },
  }
  return sink
}


/** The Event of a create call. */
function created(call: Call | undefined): EventsV1Event {
  assert.ok(call?.op === 'create', `expected a create, got ${call?.op}`)
  return call.object as EventsV1Event
}
/** The series count of a patch call. */
function seriesCount(call: Call | undefined): number {
  assert.ok(call?.op === 'patch', `expected a patch, got ${call?.op}`)
  return (call.patch.series as { count: number }).count
}

const site = { apiVersion: 'example.com/v1', kind: 'Site', metadata: { name: 'blog', namespace: 'web', uid: 'u-1', resourceVersion: '7' } }
const WALL0 = Date.parse('2026-03-01T10:00:00Z')

function recorder(sink: ReturnType<typeof fakeSink>, clock: FakeClock, options: { queueSize?: number } = {}) {
  return new EventRecorder(sink as unknown as Client, {
    reportingController: 'example.com/site-controller',
    reportingInstance: 'site-controller-0',
    api: 'events.k8s.io/v1',
    clock,
    now: () => new Date(WALL0 + clock.now()),
    ...options,
  })
}

describe('EventRecorder: series (client-go tools/events)', () => {
  test('the first event is created as events.k8s.io/v1 with the regarding object, its name <object>.<unix nanos hex>', async () => {
    const sink = fakeSink()
    const clock = new FakeClock()
    const r = recorder(sink, clock)
    r.event(site, 'Normal', 'ConfigMapCreated', 'created ConfigMap site-blog')
    await r.flush()
    assert.equal(sink.calls.length, 1)
    const call = sink.calls[0]
    assert.ok(call?.op === 'create')
    const ev = call.object as EventsV1Event
    assert.match(ev.metadata.name, /^blog\.[0-9a-f]+$/)
    assert.equal(BigInt(`0x${ev.metadata.name.slice(5)}`) / 1_000_000n, BigInt(WALL0))
    assert.deepEqual(
      { ...ev, metadata: { namespace: ev.metadata.namespace } },
      {
        apiVersion: 'events.k8s.io/v1',
        kind: 'Event',
        metadata: { namespace: 'web' },
        eventTime: '2026-03-01T10:00:00.000000Z',
        reportingController: 'example.com/site-controller',
        reportingInstance: 'site-controller-0',
        action: 'ConfigMapCreated',
        reason: 'ConfigMapCreated',
        regarding: { apiVersion: 'example.com/v1', kind: 'Site', name: 'blog', namespace: 'web', uid: 'u-1' },
        note: 'created ConfigMap site-blog',
        type: 'Normal',
      },
    )
    await r.close()
  })

  test('isomorphic events form a series: the second patches count 2, later ones only count; a different reason is its own event', async () => {
    const sink = fakeSink()
    const clock = new FakeClock()
    const r = recorder(sink, clock)
    r.event(site, 'Warning', 'SyncFailed', 'boom 1')
    await r.flush()
    await clock.advance(1000)
    r.event({ ...site, metadata: { ...site.metadata, resourceVersion: '8' } }, 'Warning', 'SyncFailed', 'boom 2')
    await r.flush()
    for (let i = 3; i <= 10; i++) r.event(site, 'Warning', 'SyncFailed', `boom ${i}`)
    r.event(site, 'Normal', 'Synced', 'ok')
    await r.flush()
    assert.deepEqual(
      sink.calls.map((c) => (c.op === 'create' ? `create ${(c.object as EventsV1Event).reason}` : `patch ${JSON.stringify(c.patch)}`)),
      ['create SyncFailed', 'patch {"series":{"count":2,"lastObservedTime":"2026-03-01T10:00:01.000000Z"}}', 'create Synced'],
    )
    const patch = sink.calls[1]
    assert.ok(patch?.op === 'patch')
    assert.equal(patch.ref.name, created(sink.calls[0]).metadata.name, 'the series is patched onto the first Event')
    assert.deepEqual(r.stats, { recorded: 11, aggregated: 8, dropped: 0, invalid: 0, written: 3, failed: 0, queued: 0, cached: 2 })
    await r.close()
  })

  test('a series idle for 6 minutes gets its final count written and ends; the next isomorphic event starts a new Event', async () => {
    const sink = fakeSink()
    const clock = new FakeClock()
    const r = recorder(sink, clock)
    for (let i = 0; i < 5; i++) r.event(site, 'Warning', 'SyncFailed', 'boom')
    await r.flush()
    assert.equal(sink.calls.length, 2)
    await clock.advance(SERIES_FINISH_MS - 1)
    assert.equal(sink.calls.length, 2, 'not yet: the finish check runs every 6 minutes')
    await clock.advance(1)
    await r.flush()
    assert.equal(sink.calls.length, 3)
    assert.deepEqual((sink.calls[2] as { patch: unknown } | undefined)?.patch, { series: { count: 5, lastObservedTime: '2026-03-01T10:00:00.000000Z' } })
    assert.equal(r.stats.cached, 0)
    r.event(site, 'Warning', 'SyncFailed', 'boom again')
    await r.flush()
    const again = sink.calls[3]
    assert.ok(again?.op === 'create')
    assert.notEqual((again.object as EventsV1Event).metadata.name, created(sink.calls[0]).metadata.name)
    await r.close()
  })

  test('a series still observed at the 6-minute check goes on; a singleton is only forgotten', async () => {
    const sink = fakeSink()
    const clock = new FakeClock()
    const r = recorder(sink, clock)
    r.event(site, 'Normal', 'Once', 'x')
    r.event(site, 'Warning', 'Busy', 'x')
    r.event(site, 'Warning', 'Busy', 'x')
    await clock.advance(SERIES_FINISH_MS - 60_000)
    r.event(site, 'Warning', 'Busy', 'x')
    await clock.advance(60_000)
    await r.flush()
    assert.equal(sink.calls.length, 3, 'creates of Once and Busy, the series patch; no write at the check')
    assert.equal(r.stats.cached, 1, 'the singleton is forgotten, the series kept')
    await clock.advance(SERIES_FINISH_MS)
    await r.flush()
    assert.equal(seriesCount(sink.calls[3]), 3)
    await r.close()
  })

  test('open series have their counts written every 30 minutes', async () => {
    const sink = fakeSink()
    const clock = new FakeClock()
    const r = recorder(sink, clock)
    r.event(site, 'Warning', 'Busy', 'x')
    r.event(site, 'Warning', 'Busy', 'x')
    // Keep the series alive: one more event every 5 minutes.
    for (let t = 5; t <= 30; t += 5) {
      await clock.advance(5 * 60_000)
      r.event(site, 'Warning', 'Busy', 'x')
    }
    await r.flush()
    assert.equal(SERIES_REFRESH_MS, 30 * 60_000)
    const patches = sink.calls.filter((c) => c.op === 'patch').map((c) => seriesCount(c))
    assert.deepEqual(patches, [2, 7], 'the count 2 when it became a series, then the refresh at 30 minutes')
    await r.close()
  })

  test('close writes the counts of open series, then ignores further events', async () => {
    const sink = fakeSink()
    const clock = new FakeClock()
    const r = recorder(sink, clock)
    for (let i = 0; i < 4; i++) r.event(site, 'Warning', 'Busy', 'x')
    await r.close()
    assert.equal(seriesCount(sink.calls.at(-1)), 4)
    r.event(site, 'Warning', 'Busy', 'x')
    await r.flush()
    assert.equal(sink.calls.length, 3)
  })
})

describe('EventRecorder: spam and failures', () => {
  test('a flood of distinct events never blocks: beyond queueSize they are dropped and counted, memory stays bounded', async () => {
    const sink = fakeSink()
    const clock = new FakeClock()
    const r = recorder(sink, clock, { queueSize: 10 })
    sink.hold()
    const started = performance.now()
    for (let i = 0; i < 10_000; i++) r.event({ ...site, metadata: { ...site.metadata, name: `obj-${i}` } }, 'Warning', 'Failed', `object ${i} failed`)
    const elapsed = performance.now() - started
    assert.ok(elapsed < 2_000, `10,000 event() calls returned synchronously (${elapsed.toFixed(0)} ms)`)
    const stats = r.stats
    assert.equal(stats.recorded, 10_000)
    assert.equal(stats.dropped, 10_000 - 11, 'one write in flight, 10 waiting')
    assert.equal(stats.queued, 10)
    assert.equal(stats.cached, 11, 'a dropped event is not remembered')
    sink.release()
    await r.flush()
    assert.equal(sink.calls.length, 11)
    await r.close()
  })

  test('a flood of one isomorphic event costs a counter: one create, one patch, the rest aggregated', async () => {
    const sink = fakeSink()
    const clock = new FakeClock()
    const r = recorder(sink, clock, { queueSize: 10 })
    for (let i = 0; i < 100_000; i++) r.event(site, 'Warning', 'CrashLoop', 'again')
    await r.flush()
    assert.equal(sink.calls.length, 2)
    assert.equal(r.stats.aggregated, 100_000 - 2)
    assert.equal(r.stats.dropped, 0)
    await r.close()
    assert.equal(seriesCount(sink.calls.at(-1)), 100_000)
  })

  test('transport failures are retried 10 s apart; a write the server refuses is dropped, not retried', async () => {
    const sink = fakeSink()
    const clock = new FakeClock()
    const r = recorder(sink, clock)
    sink.fail.push(new Error('ECONNRESET'), new Error('ECONNRESET'))
    r.event(site, 'Normal', 'A', 'x')
    await eventually(() => clock.pending > 2)
    await clock.advance(10_000)
    await eventually(() => clock.pending > 2)
    await clock.advance(10_000)
    await r.flush()
    assert.equal(sink.calls.length, 1)
    assert.equal(r.stats.written, 1)
    sink.fail.push(new ApiStatusError(422, 'invalid', { reason: 'Invalid' }))
    r.event(site, 'Normal', 'B', 'x')
    await r.flush()
    assert.equal(sink.calls.length, 1)
    assert.equal(r.stats.failed, 1)
    await r.close()
  })

  test('a series patch that finds its Event gone creates it again, series included', async () => {
    const sink = fakeSink()
    const clock = new FakeClock()
    const r = recorder(sink, clock)
    r.event(site, 'Warning', 'Busy', 'x')
    await r.flush()
    sink.fail.push(new NotFoundError(404, 'events "blog.x" not found', { reason: 'NotFound' }))
    r.event(site, 'Warning', 'Busy', 'x')
    await r.flush()
    const recreated = sink.calls[1]
    assert.ok(recreated?.op === 'create')
    assert.equal((recreated.object as EventsV1Event).series?.count, 2)
    await r.close()
  })

  test('an event without kind or name, or of another type, is counted as invalid and never written', async () => {
    const sink = fakeSink()
    const r = recorder(sink, new FakeClock())
    r.event({ metadata: { name: 'x' } }, 'Normal', 'A', 'x')
    r.event(site, 'Info' as 'Normal', 'A', 'x')
    await r.flush()
    assert.equal(sink.calls.length, 0)
    assert.equal(r.stats.invalid, 2)
    await r.close()
    assert.throws(() => new EventRecorder(sink as unknown as Client, { reportingController: '' }), /reportingController/)
  })
})

describe('EventRecorder: process lifetime', () => {
  test('a recorder that was never closed does not keep the process alive (its series timers are unref-ed)', () => {
    const module = new URL('../../lib/client/events.ts', import.meta.url).href
    const code = `import { EventRecorder } from ${JSON.stringify(module)}; new EventRecorder({}, { reportingController: 'x' }); console.log('started')`
    const run = spawnSync(process.execPath, ['--input-type=module', '-e', code], { encoding: 'utf8', timeout: 30_000 })
    assert.equal(run.signal, null, 'it exited on its own, not killed by the timeout')
    assert.equal(run.status, 0, run.stderr)
    assert.match(run.stdout, /started/)
  })
})

describe('EventRecorder over HTTP', () => {
  test('falls back to core/v1 Events where events.k8s.io/v1 is not served; the series is the count', async () => {
    const server = await startApiServer()
    try {
      server.failNext({ code: 404, count: 5, match: { path: '/apis/events.k8s.io/v1' } })
      server.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'web' } })
      const client = new Client(server.kubeConfig)
      const r = new EventRecorder(client, { reportingController: 'example.com/site-controller' })
      const cm = server.create({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'blog', namespace: 'web' } })
      r.event(cm, 'Warning', 'Busy', 'first')
      r.event(cm, 'Warning', 'Busy', 'second')
      r.event(cm, 'Warning', 'Busy', 'third')
      await r.close()
      const events = server.list('v1', 'Event', 'web') as (KubeObject & { count?: number; reason?: string; message?: string; involvedObject?: { name?: string }; source?: { component?: string } })[]
      assert.equal(events.length, 1)
      const [ev] = events
      assert.deepEqual(
        [ev?.reason, ev?.message, ev?.count, ev?.involvedObject?.name, ev?.source?.component],
        ['Busy', 'first', 3, 'blog', 'example.com/site-controller'],
      )
      assert.ok(server.requestLog.some((q) => q.method === 'PATCH' && q.path.startsWith('/api/v1/namespaces/web/events/')))
    } finally {
      await server.close()
    }
  })
})
