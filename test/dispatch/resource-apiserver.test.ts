// Resource event streams on the embedded API server (real HTTP, shared informers): the
// stream contract of cilium's `pkg/k8s/resource` end to end, and `streamWorker` under a
// supervisor (crash → un-done keys re-emitted; stop → drain; error handler 'stop' → exit).
import assert from 'node:assert/strict'
import { after, describe, test } from 'node:test'
import { GenServer, type Pid } from '../../lib/actor/index.ts'
import { type ErrorHandler, type ResourceEvent, type ResourceEventStream, ResourceStreamStoppedError, resource, retryUpTo } from '../../lib/dispatch/resource.ts'
import { startStreamWorker } from '../../lib/dispatch/resource-worker.ts'
import { InformerFactory } from '../../lib/informer/informer.ts'
import { ItemExponentialFailureRateLimiter } from '../../lib/queue/index.ts'
import { Supervisor } from '../../lib/supervisor/index.ts'
import { type ApiServer, FakeClock } from '../../lib/testing/index.ts'
import type { KubeObject } from '../../lib/watch/object.ts'
import { useTestCluster } from '../support/cluster.ts'
import { captureLogger, silent as logger } from '../support/log.ts'
import { eventually } from '../support/mirror.ts'
import { collectAll } from '../support/streams.ts'

let server: ApiServer
let factory: InformerFactory
let ns: string
// Registered first, so it runs before the cluster's own `after` closes the server.
after(async () => {
  await factory?.stop()
})
const cluster = useTestCluster('res', (s, n) => {
  server = s
  ns = n
  factory ??= new InformerFactory({ kubeConfig: s.kubeConfig, logger })
})

const { ref } = cluster
const cm = (name: string, v = '1') => cluster.cm(name, { v })
const update = (name: string, v: string) => cluster.update(name, { v })
const watchesOpen = () => server.watches({ path: `/api/v1/namespaces/${ns}/configmaps` }).length
const configMaps = (opts: Parameters<typeof resource>[2] = {}) => resource(factory, { apiVersion: 'v1', kind: 'ConfigMap', namespace: ns }, { logger, ...opts })
/** A quick limiter on the real clock: retries after 1, 2, 4 … ms. */
const quick = () => new ItemExponentialFailureRateLimiter<string>(1, 50)

const line = (e: ResourceEvent<KubeObject>) => (e.kind === 'sync' ? 'sync' : `${e.kind} ${e.key.name}=${(e.object.data as { v: string }).v}`)

/** Takes events as soon as they are emitted, without calling done. */
function collect(stream: ResourceEventStream<KubeObject>) {
  const c = collectAll(stream)
  return {
    ...c,
    lines: () => c.events.map(line),
    last: (name: string) => [...c.events].reverse().find((e) => e.key.name === name) as ResourceEvent<KubeObject>,
  }
}

/** A consumer that marks every event done as soon as `fail` (which may wait) has answered, and keeps a log. */
function autoDone(stream: ResourceEventStream<KubeObject>, fail?: (e: ResourceEvent<KubeObject>) => unknown) {
  const log: string[] = []
  const loop = (async () => {
    for await (const e of stream) {
      log.push(line(e))
      e.done(await fail?.(e))
    }
  })()
  return { log, loop }
}

describe('Resource event streams on the embedded API server', () => {
  test('lazy: no watch until events(); first an upsert per object, one sync, then live upserts and deletes; abort releases the watch', async () => {
    server.create(cm('a'))
    server.create(cm('b'))
    const res = configMaps()
    await new Promise((r) => setTimeout(r, 50))
    assert.equal(watchesOpen(), 0, 'creating a resource watches nothing')
    const abort = new AbortController()
    const consumer = autoDone(res.events(abort.signal))
    await eventually(() => consumer.log.length === 3)
    assert.deepEqual(consumer.log.slice(0, 2).sort(), ['upsert a=1', 'upsert b=1'])
    assert.equal(consumer.log[2], 'sync')
    await eventually(() => watchesOpen() === 1, 5_000, 'the watch to open (after its list)')
    server.create(cm('c'))
    await eventually(() => consumer.log.includes('upsert c=1'))
    update('a', '2')
    await eventually(() => consumer.log.includes('upsert a=2'))
    server.delete(ref('b'))
    await eventually(() => consumer.log.includes('delete b=1'))
    assert.deepEqual(consumer.log.slice(3), ['upsert c=1', 'upsert a=2', 'delete b=1'])
    abort.abort()
    await consumer.loop
    await eventually(() => watchesOpen() === 0, 5_000, 'the watch to stop with its last consumer')
  })

  test('no new event for a key until done; other keys keep flowing; then one event with the latest state', async () => {
    server.create(cm('a'))
    const abort = new AbortController()
    const c = collect(configMaps().events(abort.signal))
    await eventually(() => c.events.length === 2)
    c.last('').done()
    update('a', '2')
    update('a', '3')
    server.create(cm('b'))
    await eventually(() => c.lines().includes('upsert b=1'))
    await new Promise((r) => setTimeout(r, 100))
    assert.deepEqual(c.lines(), ['upsert a=1', 'sync', 'upsert b=1'], 'a is blocked while its event is not done')
    c.last('a').done()
    await eventually(() => c.events.length === 4)
    assert.equal(c.lines()[3], 'upsert a=3')
    abort.abort()
  })

  test('alwaysRetry (default) re-emits a failed key until it succeeds, with the latest state', async () => {
    server.create(cm('flaky'))
    const abort = new AbortController()
    let failures = 0
    const shared = factory.informer({ apiVersion: 'v1', kind: 'ConfigMap', namespace: ns }).store
    const consumer = autoDone(configMaps().events(abort.signal, { rateLimiter: quick() }), async (e) => {
      if (e.kind === 'upsert' && failures < 3) {
        failures++
        if (failures === 2) {
          update('flaky', '2')
          // The retry re-emits the latest state the stream has seen: wait until the watch
          // brought version 2, or a slow machine retries version 1 once more.
          await eventually(() => (shared.get({ namespace: ns, name: 'flaky' })?.data as { v?: string } | undefined)?.v === '2')
        }
        return new Error(`flaky ${failures}`)
      }
      return undefined
    })
    await eventually(() => consumer.log.filter((l) => l.startsWith('upsert flaky')).length === 4)
    await new Promise((r) => setTimeout(r, 100))
    const flaky = consumer.log.filter((l) => l.startsWith('upsert flaky'))
    assert.deepEqual(flaky, ['upsert flaky=1', 'upsert flaky=1', 'upsert flaky=2', 'upsert flaky=2'], 'three failures, then success on the latest version')
    abort.abort()
  })

  test('retryUpTo(n) stops the stream after n retries: the loop throws with the failing key, the watch is released', async () => {
    server.create(cm('bad'))
    const res = configMaps()
    const stream = res.events(new AbortController().signal, { errorHandler: retryUpTo(2), rateLimiter: quick() })
    const attempts: string[] = []
    await assert.rejects(
      (async () => {
        for await (const e of stream) {
          attempts.push(line(e))
          e.done(e.kind === 'upsert' ? new Error('always fails') : undefined)
        }
      })(),
      (err: unknown) => err instanceof ResourceStreamStoppedError && err.key.name === 'bad' && err.key.namespace === ns,
    )
    assert.deepEqual(attempts.filter((l) => l === 'upsert bad=1').length, 3, 'the first try and two retries')
    assert.equal(res.streams, 0)
    await eventually(() => watchesOpen() === 0, 5_000, 'the watch to stop')
  })

  test('a custom error handler: ignore for one key, stop for another', async () => {
    server.create(cm('skip'))
    const abort = new AbortController()
    const calls: string[] = []
    const handler: ErrorHandler = (key, err, n) => {
      calls.push(`${key.name} ${(err as Error).message} ${n}`)
      return key.name === 'skip' ? 'ignore' : 'stop'
    }
    const stream = configMaps().events(abort.signal, { errorHandler: handler, rateLimiter: quick() })
    const consumer = autoDone(stream, (e) => (e.kind === 'upsert' ? new Error('no') : undefined))
    await eventually(() => consumer.log.includes('sync'))
    await new Promise((r) => setTimeout(r, 50))
    assert.deepEqual(consumer.log, ['upsert skip=1', 'sync'], 'ignored: not retried')
    server.create(cm('fatal'))
    await assert.rejects(consumer.loop, ResourceStreamStoppedError)
    assert.deepEqual(calls, ['skip no 0', 'fatal no 0'])
  })

  test('an event never done is reported with its key on the done timeout (resource clock), and the key stays blocked', async () => {
    const clock = new FakeClock()
    const cap = captureLogger('warn')
    server.create(cm('forgotten'))
    const abort = new AbortController()
    const stream = configMaps({ clock, logger: cap.logger, doneTimeoutMs: 10_000 }).events(abort.signal)
    const c = collect(stream)
    await eventually(() => c.events.length === 2)
    c.last('').done()
    await clock.advance(10_000)
    assert.deepEqual(stream.overdue, [`${ns}/forgotten`])
    const warning = cap.lines.find((l) => l.key === `${ns}/forgotten`)
    assert.match(warning?.msg ?? '', /event not done/)
    assert.equal(warning?.resource, `v1/ConfigMap@${ns}`)
    update('forgotten', '2')
    await new Promise((r) => setTimeout(r, 100))
    assert.equal(c.events.length, 2, 'blocked until done')
    c.last('forgotten').done()
    await eventually(() => c.lines().includes('upsert forgotten=2'))
    abort.abort()
  })

  test('a delete goes only to a subscriber that saw the object; one created and deleted unseen yields nothing', async () => {
    const abort = new AbortController()
    const res = configMaps()
    const seer = autoDone(res.events(abort.signal))
    await eventually(() => seer.log.includes('sync'))
    // Subscribed, but not reading while `blip` lives.
    const lazyStream = res.events(abort.signal)
    server.create(cm('blip'))
    await eventually(() => seer.log.includes('upsert blip=1'))
    server.delete(ref('blip'))
    await eventually(() => seer.log.includes('delete blip=1'))
    await new Promise((r) => setTimeout(r, 50))
    const lazy = autoDone(lazyStream)
    await eventually(() => lazy.log.includes('sync'))
    await new Promise((r) => setTimeout(r, 50))
    assert.deepEqual(lazy.log.filter((l) => l.includes('blip')), [], 'never sent blip: neither upsert nor delete')
    assert.deepEqual(seer.log.filter((l) => l.includes('blip')), ['upsert blip=1', 'delete blip=1'])
    abort.abort()
  })

  test('several subscribers each get the full stream at their own pace, on one watch', async () => {
    server.create(cm('a'))
    const abort = new AbortController()
    const res = configMaps()
    const fast = autoDone(res.events(abort.signal))
    const slow = collect(res.events(abort.signal))
    await eventually(() => fast.log.length === 2 && slow.events.length === 2)
    for (let v = 2; v <= 5; v++) update('a', String(v))
    server.create(cm('b'))
    await eventually(() => fast.log.includes('upsert a=5') && fast.log.includes('upsert b=1'))
    assert.equal(watchesOpen(), 1, 'one watch for both')
    assert.deepEqual(slow.lines().slice(0, 2), ['upsert a=1', 'sync'])
    for (const e of slow.events) e.done()
    await eventually(() => slow.lines().includes('upsert a=5') && slow.lines().includes('upsert b=1'))
    assert.ok(slow.events.length <= 4, `the slow one sees the latest state, not every version: ${slow.lines()}`)
    abort.abort()
  })

  test('store(signal) resolves with the synced store and keeps the watch until the signal aborts', async () => {
    server.create(cm('s1'))
    const res = configMaps()
    const use = new AbortController()
    const store = await res.store(use.signal)
    assert.equal(store.hasSynced, true)
    assert.deepEqual(store.keys(), [`${ns}/s1`])
    server.create(cm('s2'))
    await eventually(() => store.has(`${ns}/s2`))
    assert.equal(watchesOpen(), 1, 'kept while the signal is not aborted')
    use.abort()
    await eventually(() => watchesOpen() === 0, 5_000, 'the watch to stop')
    await assert.rejects(res.store(AbortSignal.abort(new Error('already aborted'))), /already aborted/)
  })
})

/** The workers of a stream worker: its owner's linked pool supervisor's children. */
async function workersOf(sup: Pid): Promise<Pid[]> {
  const [owner] = await Supervisor.whichChildren(sup)
  const ownerPid = owner?.pid as Pid
  const pool = GenServer.info(ownerPid).links.find((p) => p !== sup) as Pid
  return (await Supervisor.whichChildren(pool)).map((c) => c.pid as Pid)
}

describe('streamWorker', () => {
  test('handles every event once done; a failing handler is retried; the latest state wins', async () => {
    server.create(cm('a'))
    server.create(cm('b'))
    const seen: string[] = []
    let failOnce = true
    const worker = await startStreamWorker(
      configMaps(),
      (e) => {
        seen.push(line(e))
        if (e.kind === 'upsert' && e.key.name === 'b' && failOnce) {
          failOnce = false
          throw new Error('b fails once')
        }
      },
      { logger, concurrency: 2, rateLimiter: quick() },
    )
    await eventually(() => seen.includes('sync') && seen.filter((l) => l === 'upsert b=1').length === 2)
    server.delete(ref('a'))
    await eventually(() => seen.includes('delete a=1'))
    await worker.stop()
    await eventually(() => watchesOpen() === 0, 5_000, 'the watch to stop')
  })

  test('a worker killed while handling a key is restarted and the key is emitted again with its latest state', async () => {
    server.create(cm('stuck'))
    const seen: string[] = []
    let block = true
    let release!: () => void
    const worker = await startStreamWorker(
      configMaps(),
      async (e) => {
        seen.push(line(e))
        if (e.key.name === 'stuck' && block) {
          block = false
          await new Promise<void>((r) => {
            release = r
          })
        }
      },
      { logger },
    )
    await eventually(() => seen.includes('upsert stuck=1'))
    update('stuck', '2')
    await new Promise((r) => setTimeout(r, 50))
    assert.deepEqual(seen, ['upsert stuck=1'], 'blocked: not done yet')
    const [pid] = await workersOf(worker.supervisor)
    GenServer.exit(pid as Pid, 'kill')
    release() // the killed worker's handler finishing late changes nothing
    await eventually(() => seen.includes('upsert stuck=2'))
    // The key went back to the end of the queue, behind the sync.
    assert.deepEqual(seen, ['upsert stuck=1', 'sync', 'upsert stuck=2'], 'the un-done key came back to the new worker, at its latest state')
    await worker.stop()
  })

  test('a key deleted while its worker was dying is emitted again as a delete', async () => {
    server.create(cm('doomed'))
    const seen: string[] = []
    let block = true
    const worker = await startStreamWorker(
      configMaps(),
      async (e) => {
        seen.push(line(e))
        if (e.kind === 'upsert' && block) {
          block = false
          await new Promise(() => {}) // never resolves
        }
      },
      { logger },
    )
    await eventually(() => seen.includes('upsert doomed=1'))
    server.delete(ref('doomed'))
    await new Promise((r) => setTimeout(r, 50))
    const [pid] = await workersOf(worker.supervisor)
    GenServer.exit(pid as Pid, 'kill')
    await eventually(() => seen.includes('delete doomed=1'))
    await worker.stop()
  })

  test('a handler that never finishes is reported with its key (resource clock); other keys keep flowing on other workers', async () => {
    const clock = new FakeClock()
    const cap = captureLogger('warn')
    server.create(cm('hangs'))
    server.create(cm('fine'))
    const seen: string[] = []
    const worker = await startStreamWorker(
      configMaps({ clock, logger: cap.logger, doneTimeoutMs: 5_000 }),
      async (e) => {
        seen.push(line(e))
        if (e.key.name === 'hangs') await new Promise(() => {})
      },
      { logger: cap.logger, concurrency: 2, drainTimeoutMs: 100 },
    )
    await eventually(() => seen.includes('upsert fine=1') && seen.includes('sync'))
    await clock.advance(5_000)
    const warning = cap.lines.find((l) => l.msg?.startsWith('event not done'))
    assert.equal(warning?.key, `${ns}/hangs`)
    const stopping = worker.stop()
    await clock.advance(100) // the drain times out on the hung key (the queue runs on the resource clock)
    await stopping
    assert.equal(worker.supervisor.alive, false)
    assert.ok(cap.lines.some((l) => l.msg?.startsWith('resource stream did not drain in time') && l.inFlight?.includes(`${ns}/hangs`)))
  })

  test('stopping drains: events already queued are handled, then it stops', async () => {
    for (let i = 0; i < 5; i++) server.create(cm(`q${i}`))
    const handled: string[] = []
    let started!: () => void
    const first = new Promise<void>((r) => {
      started = r
    })
    const worker = await startStreamWorker(
      configMaps(),
      async (e) => {
        started()
        await new Promise((r) => setTimeout(r, 20))
        handled.push(line(e))
      },
      { logger },
    )
    await first
    await worker.stop()
    assert.deepEqual(handled.slice(0, 5).sort(), ['upsert q0=1', 'upsert q1=1', 'upsert q2=1', 'upsert q3=1', 'upsert q4=1'])
    assert.equal(handled[5], 'sync')
    assert.equal(worker.supervisor.alive, false)
  })

  test("an error handler answering 'stop' makes the child exit abnormally; its supervisor restarts it with a fresh stream", async () => {
    server.create(cm('poison'))
    const seen: string[] = []
    let poisoned = 0
    const worker = await startStreamWorker(
      configMaps(),
      (e) => {
        seen.push(line(e))
        if (e.kind === 'upsert' && poisoned < 1) {
          poisoned++
          throw new Error('poison')
        }
      },
      { logger, errorHandler: () => 'stop' },
    )
    await eventually(() => seen.filter((l) => l === 'upsert poison=1').length === 2 && seen.includes('sync'))
    assert.deepEqual(seen, ['upsert poison=1', 'upsert poison=1', 'sync'], 'the restarted child replays from a fresh subscription')
    await worker.stop()
  })
})
