// The introspection API under the observer, layer by layer: processes (erlang:process_info,
// sys:get_status / format_status), supervisors (children, restarts in the intensity window),
// worker pools (queue figures, keys in flight) and watchers (engine phase, counters, relist).
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import {
  type Behaviour,
  formatProcessStatus,
  GenServer,
  inspectProcess,
  linkedChildren,
  noreply,
  ok,
  type Pid,
  probesOf,
  reply,
} from '../../lib/actor/index.ts'
import { asProcess } from '../../lib/actor/process.ts'
import { inspectWorkerPool, WorkerPool } from '../../lib/dispatch/index.ts'
import { RateLimitingQueue } from '../../lib/queue/index.ts'
import { DynamicSupervisor, inspectSupervisor, Supervisor, worker } from '../../lib/supervisor/index.ts'
import { FakeClock, settle } from '../../lib/testing/fake-clock.ts'
import { forceRelist, inspectWatcher, Watcher } from '../../lib/watcher/index.ts'
import { useTestCluster } from '../support/cluster.ts'
import { silent as logger } from '../support/log.ts'
import { eventually, Mirror } from '../support/mirror.ts'

const Counter: Behaviour<number, { n: number; password: string }> = {
  behaviourName: 'Counter',
  init: (n) => ok({ n, password: 'hunter2' }),
  handleCast: (_msg, s) => noreply({ ...s, n: s.n + 1 }),
  handleCall: (_msg, _from, s) => reply(s.n, s),
  formatStatus: (s) => ({ n: s.n, password: '[hidden]' }),
}

describe('inspectProcess (erlang:process_info)', () => {
  test('reports behaviour name, status, messages handled, start time, links and monitors', async () => {
    const clock = new FakeClock(1_000)
    const a = await GenServer.start(Counter, 0, { clock, logger })
    await clock.advance(500)
    const b = await GenServer.start(Counter, 0, { clock, logger, link: a })
    asContext(b).monitor(a)
    for (let i = 0; i < 3; i++) GenServer.cast(a, 'inc')
    assert.equal(await GenServer.call(a, 'get'), 3)
    const info = inspectProcess(a)
    assert.equal(info.behaviour, 'Counter')
    assert.equal(info.status, 'running')
    assert.equal(info.handled, 4, 'three casts and one call')
    assert.equal(info.startedAt, 1_000)
    assert.equal(inspectProcess(b).startedAt, 1_500)
    assert.deepEqual(info.links, [b.id])
    assert.deepEqual(info.monitoredBy, [b.id])
    assert.deepEqual(inspectProcess(b).monitors, [a.id])
    assert.equal(inspectProcess(b).parent, a.id)
    assert.deepEqual(linkedChildren(a), [b])
    await GenServer.stop(b)
    await GenServer.stop(a)
    assert.equal(inspectProcess(a).status, 'exited')
  })

  test('a behaviour without a name is a GenServer; its mailbox length is what waits', async () => {
    let release: () => void = () => {}
    const Slow: Behaviour<null, null> = {
      init: () => ok(null),
      handleCast: async (_m, s) => {
        await new Promise<void>((r) => {
          release = r
        })
        return noreply(s)
      },
    }
    const pid = await GenServer.start(Slow, null, { logger })
    for (let i = 0; i < 5; i++) GenServer.cast(pid, 'x')
    await settle()
    const info = inspectProcess(pid)
    assert.equal(info.behaviour, 'GenServer')
    assert.equal(info.mailbox, 4, 'one is being handled, four wait')
    GenServer.exit(pid, 'kill')
    release()
  })
})

describe('formatProcessStatus (OTP format_status)', () => {
  test('shows the state through formatStatus, so a behaviour can redact a secret', async () => {
    const pid = await GenServer.start(Counter, 7, { logger })
    assert.deepEqual(formatProcessStatus(pid), { n: 7, password: '[hidden]' })
    await GenServer.stop(pid)
  })

  test('without formatStatus the state itself; a throwing formatStatus never falls back to the raw state', async () => {
    const Plain: Behaviour<number, { n: number }> = { init: (n) => ok({ n }) }
    const Broken: Behaviour<number, { secret: string }> = {
      init: () => ok({ secret: 's3cr3t' }),
      formatStatus: () => {
        throw new Error('redaction failed')
      },
    }
    const plain = await GenServer.start(Plain, 1, { logger })
    const broken = await GenServer.start(Broken, 1, { logger })
    assert.deepEqual(formatProcessStatus(plain), { n: 1 })
    assert.deepEqual(formatProcessStatus(broken), { formatStatusFailed: 'redaction failed' })
    await GenServer.stop(plain)
    await GenServer.stop(broken)
  })
})

describe('inspectSupervisor', () => {
  test('lists children in start order with restart type, and counts restarts per child and in the intensity window', async () => {
    const clock = new FakeClock()
    const sup = await Supervisor.start([worker(Counter, 0, { id: 'a' }), worker(Counter, 0, { id: 'b', restart: 'transient' })], { clock, logger, maxRestarts: 5, maxSeconds: 10 })
    let snap = inspectSupervisor(sup)
    assert.ok(snap)
    assert.equal(snap.strategy, 'one_for_one')
    assert.deepEqual(
      snap.children.map((c) => [c.id, c.restart, c.restarts]),
      [
        ['a', 'permanent', 0],
        ['b', 'transient', 0],
      ],
    )
    const first = snap.children[0]?.pid as Pid
    GenServer.exit(first, 'kill')
    await eventually(() => inspectSupervisor(sup)?.children[0]?.pid?.alive === true && inspectSupervisor(sup)?.children[0]?.pid !== first, 5_000, 'the restart')
    snap = inspectSupervisor(sup)
    assert.equal(snap?.children[0]?.restarts, 1)
    assert.equal(snap?.restartsInWindow, 1)
    await clock.advance(10_001)
    assert.equal(inspectSupervisor(sup)?.restartsInWindow, 0, 'the window moved past the restart')
    assert.equal(inspectSupervisor(first), undefined, 'a worker is not a supervisor')
    assert.deepEqual(
      probesOf(sup).map((p) => p.kind),
      ['supervisor'],
    )
    await Supervisor.stop(sup)
  })

  test('a DynamicSupervisor reports its children and limit', async () => {
    const sup = await DynamicSupervisor.start({ logger, maxChildren: 4 })
    await DynamicSupervisor.startChild(sup, worker(Counter, 0))
    const snap = inspectSupervisor(sup)
    assert.equal(snap?.type, 'dynamic')
    assert.equal(snap?.maxChildren, 4)
    assert.equal(snap?.children.length, 1)
    await Supervisor.stop(sup)
  })
})

describe('inspectWorkerPool', () => {
  test('shows depth, adds, retries, busy workers and the keys in flight with their start time', async () => {
    const clock = new FakeClock(5_000)
    const queue = new RateLimitingQueue<string>({ clock })
    const gates = new Map<string, () => void>()
    let calls = 0
    const pool = await WorkerPool.start({
      name: 'pods',
      queue,
      concurrency: 2,
      clock,
      logger,
      handle: (key) => {
        calls++
        if (key === 'bad' && calls < 10) throw new Error('boom')
        return new Promise<undefined>((resolve) => gates.set(key, () => resolve(undefined)))
      },
    })
    queue.add('a')
    queue.add('b')
    queue.add('c')
    await eventually(() => gates.size === 2, 5_000, 'two keys in flight')
    await clock.advance(250)
    let snap = inspectWorkerPool(pool.supervisor)
    assert.ok(snap)
    assert.equal(snap.name, 'pods')
    assert.equal(snap.maxWorkers, 2)
    assert.equal(snap.activeWorkers, 2)
    assert.equal(snap.depth, 1)
    assert.equal(snap.addsTotal, 3)
    assert.equal(snap.oldestInFlightSince, 5_000)
    assert.deepEqual(
      snap.inFlight.map((k) => k.key),
      ['a', 'b'],
    )
    gates.get('a')?.()
    gates.get('b')?.()
    await eventually(() => gates.has('c'), 5_000, 'c taken')
    gates.get('c')?.()
    queue.add('bad')
    await eventually(() => (inspectWorkerPool(pool.supervisor)?.failedTotal ?? 0) >= 1, 5_000, 'a failure')
    snap = inspectWorkerPool(pool.supervisor)
    assert.equal(snap?.retriesTotal, 1, 'the failed key was re-added rate limited')
    assert.equal(snap?.handledTotal, 4)
    assert.equal(inspectWorkerPool(pool.supervisor)?.shuttingDown, false)
    queue.shutDown()
    for (const open of gates.values()) open()
    await Supervisor.stop(pool.supervisor)
  })
})

describe('inspectWatcher (on the embedded API server)', () => {
  let server: import('../../lib/testing/index.ts').ApiServer
  let ns: string
  const { cm } = useTestCluster('intro', (s, n) => {
    server = s
    ns = n
  })

  test('shows the engine phase, counters and store size; forceRelist relists; a killed connection counts as a restart', async () => {
    server.create(cm('one'))
    server.create(cm('two'))
    const w = await Watcher.start(Mirror, undefined, { kubeConfig: server.kubeConfig, apiVersion: 'v1', kind: 'ConfigMap', namespace: ns, logger, store: true, name: `intro-${ns}` })
    await eventually(() => inspectWatcher(w.supervisor)?.phase === 'Watching' && inspectWatcher(w.supervisor)?.synced === true, 10_000, 'watching and synced')
    let snap = inspectWatcher(w.supervisor)
    assert.ok(snap)
    assert.equal(snap.target, 'v1/ConfigMap')
    assert.equal(snap.namespace, ns)
    assert.equal(snap.storeSize, 2)
    assert.equal(snap.connectionRestarts, 0)
    assert.ok(snap.resourceVersion)

    assert.equal(forceRelist(w.supervisor), true)
    await eventually(() => (inspectWatcher(w.supervisor)?.counters.relists ?? 0) === 1, 10_000, 'a relist')

    // After the relist the watch reopens: inject only once the server has it open (the
    // injection returns how many watches got it), or a loaded machine races it.
    await eventually(() => server.injectWatchError({ match: { namespace: ns } }) > 0, 10_000, 'an open watch to inject a 410 into')
    await eventually(() => (inspectWatcher(w.supervisor)?.counters.gone ?? 0) >= 1, 10_000, 'a 410 counted')
    assert.match(inspectWatcher(w.supervisor)?.lastProblem?.message ?? '', /410/)

    const connection = inspectSupervisor(w.supervisor)?.children.find((c) => c.id === 'connection')?.pid as Pid
    GenServer.exit(connection, 'kill')
    await eventually(() => inspectWatcher(w.supervisor)?.connectionRestarts === 1, 10_000, 'the connection restarted')
    await eventually(() => inspectWatcher(w.supervisor)?.phase === 'Watching', 10_000, 'watching again')
    snap = inspectWatcher(w.supervisor)
    assert.equal(snap?.handlerRestarts, 0)
    assert.equal(forceRelist(connection), false, 'only a watcher relists')
    await Watcher.stop(w)
  })
})

/** The process behind a pid, for calling `monitor` from outside the process (as its context would). */
function asContext(pid: Pid): { monitor(other: Pid): unknown } {
  return asProcess(pid)
}
