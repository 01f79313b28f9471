// The EventLoop style (kubehandler: github.com/cloudflare/kubehandler — EventHandler,
// DefaultHandler, EventLoop.Register/Run(threadiness)) on the embedded API server.
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { GenServer, type Pid } from '../../lib/actor/index.ts'
import { DefaultHandler, EventLoop, eventKey, type Handler, InvalidHandlerError, parseEventKey } from '../../lib/dispatch/event-loop.ts'
import { TerminalError } from '../../lib/dispatch/workers.ts'
import { InformerFactory, type SharedInformer } from '../../lib/informer/informer.ts'
import type { Subscription } from '../../lib/informer/subscription.ts'
import { ItemExponentialFailureRateLimiter } from '../../lib/queue/index.ts'
import { Supervisor } from '../../lib/supervisor/index.ts'
import { type ApiServer, FakeClock, settle } from '../../lib/testing/index.ts'
import type { KubeObject } from '../../lib/watch/object.ts'
import { useTestCluster } from '../support/cluster.ts'
import { captureLogger, silent as logger } from '../support/log.ts'
import { eventually } from '../support/mirror.ts'

let server: ApiServer
let ns: string
const { cm, ref, update } = useTestCluster('loop', (s, n) => {
  server = s
  ns = n
})

const touch = (name: string, v: string) => update(name, { v })
const target = () => ({ apiVersion: 'v1', kind: 'ConfigMap', namespace: ns })
const fastRetries = () => new ItemExponentialFailureRateLimiter(1, 20)

/** A handler that records `kind name` lines, optionally with a hook per call. */
class Recorder extends DefaultHandler {
  readonly log: string[] = []
  hook: ((kind: string, name: string, signal: AbortSignal) => void | Promise<void>) | undefined
  constructor(name = 'cms', hook?: Recorder['hook']) {
    super(name, target())
    this.hook = hook
  }
  override async added(signal: AbortSignal, _namespace: string, name: string) {
    await this.hook?.('added', name, signal)
    this.log.push(`added ${name}`)
  }
  override async updated(signal: AbortSignal, _namespace: string, name: string) {
    await this.hook?.('updated', name, signal)
    this.log.push(`updated ${name}`)
  }
  override async deleted(signal: AbortSignal, _namespace: string, name: string) {
    await this.hook?.('deleted', name, signal)
    this.log.push(`deleted ${name}`)
  }
}

/** Makes one change and waits until the loop has taken its event (so the subscription never merges two changes). */
async function paced(loop: EventLoop, change: () => void): Promise<void> {
  const seen = () => loop.stats.events + loop.stats.unchanged
  const before = seen()
  change()
  await eventually(() => seen() > before, 10_000, 'the loop to take the event')
}

/** Runs `loop` in the background; `stop()` aborts and resolves once `run` resolved. */
function start(loop: EventLoop, threadiness = 1) {
  const abort = new AbortController()
  const done = loop.run(abort.signal, threadiness)
  return {
    done,
    stop: async () => {
      abort.abort()
      await done
    },
  }
}

/** The workers of a loop started under `root` (root → loop supervisor → loop process ⇄ pool supervisor → workers). */
async function workersOf(root: Pid): Promise<Pid[]> {
  const [loopSup] = await Supervisor.whichChildren(root)
  const children = await Supervisor.whichChildren(loopSup?.pid as Pid)
  const loopProc = children.find((c) => c.id === 'loop')?.pid as Pid
  const pool = GenServer.info(loopProc).links.find((p) => p !== loopSup?.pid) as Pid
  return (await Supervisor.whichChildren(pool)).map((c) => c.pid as Pid)
}

describe('event keys', () => {
  test('carry kind, handler, namespace and name, and parse back unambiguously', () => {
    const cases: [Parameters<typeof eventKey>, string][] = [
      [['added', 'pods', 'default', 'web-0'], 'added/pods/default/web-0'],
      [['deleted', 'nodes', '', 'node-1.example.com'], 'deleted/nodes//node-1.example.com'],
      [['updated', 'h:1', 'kube-system', 'a.b-c'], 'updated/h:1/kube-system/a.b-c'],
    ]
    for (const [[kind, handler, namespace, name], key] of cases) {
      assert.equal(eventKey(kind, handler, namespace, name), key)
      assert.deepEqual(parseEventKey(key), { kind, handler, namespace, name })
    }
    for (const bad of ['added/pods/default', 'created/pods/default/x', 'added//default/x', 'added/pods/default/', 'added/pods/a/b/c']) {
      assert.equal(parseEventKey(bad), undefined, bad)
    }
  })

  test('handler names are refused when empty, containing "/", duplicated, or registered after the loop started', () => {
    const loop = new EventLoop({ kubeConfig: server.kubeConfig, logger })
    assert.throws(() => loop.register(new Recorder('')), InvalidHandlerError)
    assert.throws(() => loop.register(new Recorder('a/b')), InvalidHandlerError)
    loop.register(new Recorder('one'))
    assert.throws(() => loop.register(new Recorder('one')), /already registered/)
    loop.childSpec()
    assert.throws(() => loop.register(new Recorder('two')), /before the loop runs/)
    assert.throws(() => new EventLoop({ logger }), InvalidHandlerError)
    assert.throws(() => loop.childSpec({ threadiness: 0 }), RangeError)
  })
})

describe('EventLoop', () => {
  test('waits for every cache to sync, then delivers existing objects as added and later changes in order; handlers on one target share one watch', async () => {
    server.create(cm('a'))
    server.create(cm('b'))
    const informers = new InformerFactory({ kubeConfig: server.kubeConfig, logger })
    const loop = new EventLoop({ informers, logger })
    let readyChecks = 0
    let extraReady = false
    const calledBeforeReady: string[] = []
    const one = new Recorder('one', (kind, name) => {
      if (!extraReady) calledBeforeReady.push(`${kind} ${name}`)
    })
    // A second handler with an extra readiness condition (e.g. another cache it reads).
    const two = new Recorder('two')
    const twoWithExtra: Handler = Object.assign(two, {
      synced: () => {
        readyChecks++
        return extraReady
      },
    })
    loop.register(one)
    loop.register(twoWithExtra)
    const run = start(loop, 2)
    await eventually(() => readyChecks >= 2, 10_000, 'the loop to poll the extra readiness')
    assert.deepEqual(one.log, [], 'no call before every handler is ready')
    extraReady = true
    await eventually(() => one.log.length === 2 && two.log.length === 2)
    assert.deepEqual(calledBeforeReady, [])
    assert.deepEqual([...one.log].sort(), ['added a', 'added b'])
    server.create(cm('c'))
    await eventually(() => one.log.includes('added c'))
    touch('c', '1')
    await eventually(() => one.log.includes('updated c'))
    server.delete(ref('c'))
    await eventually(() => one.log.includes('deleted c') && two.log.includes('deleted c'))
    for (const r of [one, two]) assert.deepEqual(r.log.slice(2), ['added c', 'updated c', 'deleted c'])
    assert.equal(server.watches({ path: `/api/v1/namespaces/${ns}/configmaps` }).length, 1, 'one shared watch')
    assert.equal(one.store.get({ namespace: ns, name: 'a' })?.metadata?.name, 'a', 'handlers read the shared store')
    await run.stop()
    await informers.stop()
  })

  test('for one object, added then deleted both reach the handler, in order and never overlapping, even with several workers; waiting updates collapse', async () => {
    const loop = new EventLoop({ kubeConfig: server.kubeConfig, logger })
    let release!: () => void
    const gate = new Promise<void>((r) => {
      release = r
    })
    let running = 0
    let overlap = false
    const h = new Recorder('cms', async (kind, name) => {
      if (++running > 1) overlap = true
      if (kind === 'added' && name === 'x') await gate
      running--
    })
    loop.register(h)
    const run = start(loop, 4)
    await h.informer.store.synced
    await paced(loop, () => server.create(cm('x')))
    for (let i = 0; i < 5; i++) await paced(loop, () => touch('x', String(i))) // while `added x` runs: one updated after it
    await paced(loop, () => server.delete(ref('x')))
    await paced(loop, () => server.create(cm('x', { again: 'yes' })))
    await paced(loop, () => server.delete(ref('x')))
    assert.deepEqual(h.log, [])
    release()
    await eventually(() => loop.pending === 0)
    assert.deepEqual(h.log, ['added x', 'updated x', 'deleted x', 'added x', 'deleted x'])
    assert.equal(overlap, false)
    assert.equal(loop.stats.collapsed, 4)
    await run.stop()
  })

  test('a failing call is retried with rate limiting up to maxRetries, then dropped with an error log; a terminal error is not retried; later events of the object still come', async () => {
    const cap = captureLogger('warn')
    const loop = new EventLoop({ kubeConfig: server.kubeConfig, logger: cap.logger, maxRetries: 2, rateLimiter: fastRetries() })
    const attempts = new Map<string, number>()
    const h = new Recorder('cms', (kind, name) => {
      const n = (attempts.get(`${kind} ${name}`) ?? 0) + 1
      attempts.set(`${kind} ${name}`, n)
      if (name === 'flaky' && n <= 2) throw new Error('backend hiccup')
      if (name === 'broken' && kind === 'added') throw new Error('always broken')
      if (name === 'invalid') throw new TerminalError('cannot ever work')
    })
    loop.register(h)
    const run = start(loop)
    await h.informer.store.synced
    await paced(loop, () => server.create(cm('flaky')))
    await paced(loop, () => server.create(cm('broken')))
    await paced(loop, () => server.create(cm('invalid')))
    await paced(loop, () => server.delete(ref('broken')))
    await eventually(() => h.log.includes('deleted broken') && h.log.includes('added flaky') && loop.stats.dropped === 2)
    assert.equal(attempts.get('added flaky'), 3, 'two failures, then success')
    assert.equal(attempts.get('added broken'), 3, 'the first call and two retries')
    assert.equal(attempts.get('added invalid'), 1)
    assert.deepEqual(
      h.log.filter((l) => l.endsWith('broken')),
      ['deleted broken'],
      'the dropped added came first; the delete was delivered after it',
    )
    const lines = cap.lines
    assert.equal(lines.filter((l) => l.msg === 'handler failed; retrying with backoff').length, 4)
    assert.ok(lines.some((l) => l.msg === 'handler failed too many times; dropping the event' && l.key === eventKey('added', 'cms', ns, 'broken')))
    assert.ok(lines.some((l) => l.msg === 'handler failed with a terminal error; dropping the event' && l.key === eventKey('added', 'cms', ns, 'invalid')))
    await run.stop()
  })

  test('a retry waits for the rate limiter’s delay on the loop’s clock (client-go ItemExponentialFailureRateLimiter: base × 2^n)', async () => {
    const clock = new FakeClock()
    const informers = new InformerFactory({ kubeConfig: server.kubeConfig, logger }) // watches on real time
    const loop = new EventLoop({ informers, logger, clock, rateLimiter: new ItemExponentialFailureRateLimiter(100, 10_000), maxRetries: 3 })
    let calls = 0
    const h = new Recorder('cms', () => {
      calls++
      throw new Error('down')
    })
    loop.register(h)
    const run = start(loop)
    await h.informer.store.synced
    await paced(loop, () => server.create(cm('r')))
    await eventually(() => calls === 1)
    for (const [i, delay] of [100, 200, 400].entries()) {
      await clock.advance(delay - 1)
      await settle()
      assert.equal(calls, i + 1, `not retried before ${delay} ms`)
      await clock.advance(1)
      await eventually(() => calls === i + 2)
    }
    await clock.advance(60_000)
    await settle()
    assert.equal(calls, 4, 'the first call and three retries, then dropped')
    assert.equal(loop.stats.dropped, 1)
    await run.stop()
    await informers.stop()
  })

  test('updates with an unchanged resourceVersion are skipped: a 410 relist and a restarted informer cause no updated calls', async () => {
    server.create(cm('same'))
    server.create(cm('changes'))
    const informers = new InformerFactory({ kubeConfig: server.kubeConfig, logger })
    const loop = new EventLoop({ informers, logger })
    const h = new Recorder()
    let sub: Subscription<KubeObject> | undefined
    const informer = loop.register(h) as SharedInformer<KubeObject>
    const subscribe = informer.subscribe.bind(informer)
    informer.subscribe = () => {
      sub = subscribe()
      return sub
    }
    const run = start(loop)
    await eventually(() => h.log.length === 2)
    // A 410: the watch relists and diffs; only the object that changed is updated.
    const path = `/api/v1/namespaces/${ns}/configmaps`
    await server.waitForWatches(1, { path })
    const stall = server.stallWatches({ match: { path } })
    touch('changes', '2')
    server.compact()
    server.injectWatchError({ match: { path } })
    stall.resume()
    await eventually(() => h.log.includes('updated changes'))
    // The informer's handler restarts and relists against its store.
    const handlerPid = informers.registry.whereis(`informer:${informer.id}`) as Pid
    GenServer.exit(handlerPid, 'kill')
    await eventually(() => {
      const now = informers.registry.whereis(`informer:${informer.id}`)
      return now !== undefined && now !== handlerPid && informer.store.hasSynced
    })
    // A modified event without a new resourceVersion (a resync as client-go's periodic one) is skipped at the loop.
    const same = informer.store.getByKey(`${ns}/same`) as KubeObject
    sub?.push('modified', `${ns}/same`, { ...same }, same)
    server.create(cm('marker'))
    await eventually(() => h.log.includes('added marker'))
    assert.deepEqual(h.log.slice(2), ['updated changes', 'added marker'])
    assert.equal(loop.stats.unchanged, 1)
    await run.stop()
    await informers.stop()
  })

  test('aborting the signal stops watching and drains: the call in flight completes, queued events are delivered, new changes are not; run resolves after', async () => {
    const loop = new EventLoop({ kubeConfig: server.kubeConfig, logger })
    let release!: () => void
    const gate = new Promise<void>((r) => {
      release = r
    })
    let inFlightFinished = false
    const readsDuringDrain: boolean[] = []
    const h = new Recorder('cms', async (_kind, name, signal) => {
      if (name.startsWith('queued')) readsDuringDrain.push(h.store.has(`${ns}/${name}`))
      if (name === 'slow') {
        await gate
        assert.equal(signal.aborted, false, 'a draining call is not aborted')
        inFlightFinished = true
      }
    })
    loop.register(h)
    const run = start(loop, 1)
    await h.informer.store.synced
    await paced(loop, () => server.create(cm('slow')))
    await paced(loop, () => server.create(cm('queued-1')))
    await paced(loop, () => server.create(cm('queued-2')))
    let resolved = false
    const stopped = run.stop().then(() => {
      resolved = true
    })
    await eventually(() => h.informer.subscribers === 0, 10_000, 'the loop to stop watching')
    server.create(cm('after-abort'))
    await new Promise((r) => setTimeout(r, 50))
    assert.equal(resolved, false, 'run waits for the call in flight')
    release()
    await stopped
    assert.equal(inFlightFinished, true)
    assert.deepEqual(h.log, ['added slow', 'added queued-1', 'added queued-2'])
    assert.deepEqual(readsDuringDrain, [true, true], 'the store stays up while the loop drains')
    assert.equal(loop.pending, 0)
    await eventually(() => !h.informer.running, 10_000, 'the watch to stop after the drain')
  })

  test('when the loop process itself is killed, its supervisor restarts it: events not delivered yet (a delete included) are kept, existing objects are added again', async () => {
    const informers = new InformerFactory({ kubeConfig: server.kubeConfig, logger })
    const loop = new EventLoop({ informers, logger })
    const releases: (() => void)[] = []
    const h = new Recorder('cms', async (kind, name) => {
      if (kind === 'added' && name === 'blocker' && releases.length < 2) await new Promise<void>((r) => releases.push(r))
    })
    loop.register(h)
    const root = await Supervisor.start([loop.childSpec({ threadiness: 1 })], { logger })
    await h.informer.store.synced
    await paced(loop, () => server.create(cm('x')))
    await eventually(() => h.log.includes('added x'))
    await paced(loop, () => server.create(cm('blocker'))) // holds the only worker
    await eventually(() => releases.length === 1)
    await paced(loop, () => server.delete(ref('x'))) // waits in the queue
    const [loopSup] = await Supervisor.whichChildren(root)
    const before = (await Supervisor.whichChildren(loopSup?.pid as Pid)).find((c) => c.id === 'loop')?.pid as Pid
    GenServer.exit(before, 'kill')
    await eventually(() => releases.length === 2, 10_000, 'the restarted loop to handle blocker again')
    for (const release of releases) release()
    await eventually(() => h.log.includes('deleted x'))
    await eventually(() => loop.pending === 0)
    assert.deepEqual(h.log.filter((l) => l.endsWith(' x')), ['added x', 'deleted x'])
    assert.equal(h.informer.subscribers, 1, 'the killed incarnation let go of its subscription')
    await Supervisor.stop(root)
    await eventually(() => !h.informer.running, 10_000, 'the watch to stop with its last consumer')
    await informers.stop()
  })

  test('a worker killed in the middle of a call is restarted and the event handled again; the late finish of the killed call changes nothing', async () => {
    const informers = new InformerFactory({ kubeConfig: server.kubeConfig, logger })
    const loop = new EventLoop({ informers, logger })
    const releases: (() => void)[] = []
    const signals: AbortSignal[] = []
    const h = new Recorder('cms', async (kind, name, signal) => {
      if (kind === 'added' && name === 'victim') {
        signals.push(signal)
        await new Promise<void>((r) => releases.push(r))
      }
    })
    loop.register(h)
    const root = await Supervisor.start([loop.childSpec({ threadiness: 1 })], { logger })
    await h.informer.store.synced
    await paced(loop, () => server.create(cm('victim')))
    await eventually(() => releases.length === 1)
    for (const worker of await workersOf(root)) GenServer.exit(worker, 'kill')
    await eventually(() => releases.length === 2, 10_000, 'the event to be handled again')
    assert.equal(signals[0]?.aborted, true, 'the killed call is told')
    releases[0]?.() // the killed call finishes late (its side effects happen: at least once), and changes nothing in the loop
    await paced(loop, () => server.delete(ref('victim')))
    await new Promise((r) => setTimeout(r, 20))
    assert.deepEqual(h.log, ['added victim'], 'the delete waits for the retried added')
    releases[1]?.()
    await eventually(() => h.log.length === 3)
    assert.deepEqual(h.log, ['added victim', 'added victim', 'deleted victim'])
    await Supervisor.stop(root)
    await informers.stop()
  })
})
