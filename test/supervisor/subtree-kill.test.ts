// Kill and restart whole subtrees, not only single processes: an exit signal must overtake
// a mailbox, as in OTP (erlang:exit/2: "If P is not trapping exits, P exits with exit
// reason Reason" — it does not first handle what is queued). A killed
// subtree's busy, named worker dies at once and frees its name, so the root's immediate
// restart succeeds and the root keeps its restart intensity.
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { type Behaviour, GenServer, noreply, ok, type Pid, Registry, reply } from '../../lib/actor/index.ts'
import { DynamicSupervisor, InvalidChildSpecError, Supervisor, supervisor, worker } from '../../lib/supervisor/index.ts'
import { settle } from '../../lib/testing/fake-clock.ts'
import type { KubeObject } from '../../lib/watch/object.ts'
import { Watcher, type WatcherBehaviour } from '../../lib/watcher/watcher.ts'
import { controller } from '../../lib/dispatch/controller.ts'
import { ResourceController, type UpsertDeleteResource } from '../../lib/dispatch/resource-controller.ts'
import { InformerFactory } from '../../lib/informer/informer.ts'
import { useTestCluster } from '../support/cluster.ts'
import { captureLogger, silent as logger } from '../support/log.ts'
import { eventually } from '../support/mirror.ts'
import type { ApiServer } from '../../lib/testing/index.ts'

let server: ApiServer
let ns: string
const { cm } = useTestCluster('subtree', (s, n) => {
  server = s
  ns = n
})

async function childPid(sup: Pid, id: string): Promise<Pid | 'restarting' | undefined> {
  return (await Supervisor.whichChildren(sup)).find((c) => c.id === id)?.pid
}

describe('a killed subtree under a root supervisor', () => {
  test('pure actors: a supervisor over a named handler with 1000 queued messages, killed: the root restarts it at once, the name is free, intensity kept', async () => {
    const registry = new Registry()
    const cap = captureLogger('info')
    const handled: number[] = [] // messages taken, per incarnation
    const Busy: Behaviour<void, { n: number; i: number }> = {
      init: () => {
        handled.push(0)
        return ok({ n: 0, i: handled.length - 1 })
      },
      handleInfo: async (_m, s) => {
        handled[s.i] = (handled[s.i] ?? 0) + 1 // counted when a message is taken
        await new Promise((r) => setImmediate(r)) // a handler doing IO per message
        return noreply({ ...s, n: s.n + 1 })
      },
      handleCall: (_m, _f, s) => reply(s.n, s),
    }
    const root = await Supervisor.start([supervisor([worker(Busy, undefined, { name: 'events' })], { id: 'watcher' })], {
      logger: cap.logger,
      registry,
      maxRestarts: 3,
      maxSeconds: 5,
    })
    const sub = (await childPid(root, 'watcher')) as Pid
    const handler = registry.whereis('events') as Pid
    for (let i = 0; i < 1000; i++) GenServer.send(handler, { event: i })
    await new Promise((r) => setImmediate(r))
    assert.ok(GenServer.info(handler).queueLength > 900)

    GenServer.exit(sub, 'kill')
    assert.equal(handler.alive, false, 'the handler died with its supervisor')
    assert.equal(registry.whereis('events'), undefined, 'its name is free at once')
    const handledBefore = handled[0]
    await settle()
    const sub2 = (await childPid(root, 'watcher')) as Pid
    assert.equal(root.alive, true, 'the root did not exhaust its intensity')
    assert.ok(sub2 !== sub && sub2.alive, 'the subtree was restarted')
    const handler2 = registry.whereis('events') as Pid
    assert.ok(handler2 !== undefined && handler2 !== handler)
    assert.equal(handled[0], handledBefore, 'the killed handler took no message after the signal')
    assert.ok((handled[0] as number) < 10)
    // The restarted subtree works.
    for (let i = 0; i < 5; i++) GenServer.send('events', i)
    GenServer.send({ registry, name: 'events' }, 'x')
    await eventually(async () => (await GenServer.call({ registry, name: 'events' }, 'count')) === 1, 5000, 'the new handler to work')
    assert.deepEqual(
      cap.lines.filter((l) => /failed to (re)?start|maximum restart intensity/.test(l.msg)).map((l) => l.msg),
      [],
      'no failed restart, no give-up',
    )
    // One restart was counted: two more kills are still within maxRestarts 3.
    for (let k = 0; k < 2; k++) {
      GenServer.exit((await childPid(root, 'watcher')) as Pid, 'kill')
      await settle()
    }
    assert.equal(root.alive, true)
    await Supervisor.stop(root)
  })

  test('the real Watcher on the embedded API server: its supervisor killed while the handler has ~1000 events queued; the root restarts it and it converges', async () => {
    const total = 1100
    for (let i = 0; i < total; i++) server.create(cm(`cm-${i}`))
    const registry = new Registry()
    let incarnation = 0
    let release = () => {}
    const held = new Promise<void>((r) => {
      release = r
    })
    type S = { seen: Set<string>; me: number }
    const Slow: WatcherBehaviour<KubeObject, S> = {
      init: () => ok({ seen: new Set(), me: ++incarnation }),
      handleEvent: async (type, obj, s) => {
        if (s.me === 1) await held // the first incarnation is stuck on its first event
        if (type !== 'deleted') s.seen.add(obj.metadata?.name as string)
        return noreply(s)
      },
      handleCall: (_m, _f, s) => reply(s.seen.size, s),
    }
    const root = await Supervisor.start(
      [
        Watcher.childSpec(Slow, undefined, {
          kubeConfig: server.kubeConfig,
          apiVersion: 'v1',
          kind: 'ConfigMap',
          namespace: ns,
          name: 'cms',
          registry,
          maxPending: 4096,
          logger,
        }),
      ],
      { logger, registry, maxRestarts: 3, maxSeconds: 5 },
    )
    const handler = registry.whereis('cms') as Pid
    await eventually(async () => GenServer.info(handler).queueLength >= 1000, 10_000, 'the handler to have ~1000 events queued')
    await server.waitForWatches(1, { namespace: ns })
    const sub = (await childPid(root, 'cms')) as Pid

    GenServer.exit(sub, 'kill')
    assert.equal(handler.alive, false)
    assert.equal(registry.whereis('cms'), undefined)
    release()
    await eventually(async () => registry.whereis('cms') !== undefined, 5000, 'the root to restart the watcher')
    const handler2 = registry.whereis('cms') as Pid
    assert.notEqual(handler2, handler)
    await eventually(async () => (await GenServer.call<number>({ registry, name: 'cms' }, 'count')) === total, 20_000, 'the restarted watcher to see every object')
    assert.equal(root.alive, true)
    // The killed connection's watch stream was closed (it ran no terminate): one watch open, the new one.
    await eventually(async () => server.watches({ namespace: ns }).length === 1, 5000, 'the old watch to close')
    await Supervisor.stop(root)
  })
})

describe('resources of processes killed with their subtree', () => {
  test('a ResourceController\'s task supervisor killed: its background task is aborted though no terminate ran, and the subtree is restarted', async () => {
    const events: string[] = []
    const resource: UpsertDeleteResource = {
      target: { apiVersion: 'v1', kind: 'ConfigMap', namespace: ns },
      async upsert() {},
      async delete() {},
      backgroundTasks: [
        async (signal) => {
          events.push('task started')
          await new Promise<void>((r) => signal.addEventListener('abort', () => r(), { once: true }))
          events.push('task aborted')
        },
      ],
    }
    const controller = new ResourceController(resource, { kubeConfig: server.kubeConfig, logger })
    const root = await Supervisor.start([controller.childSpec({ id: 'rc' })], { logger, maxRestarts: 3, maxSeconds: 5 })
    await eventually(async () => controller.hasSynced() && events.length === 1, 10_000, 'the controller to sync')
    // The tasks' own supervisor is killed: its children (not trapping) die of the signal.
    const sub = (await childPid((await childPid(root, 'rc')) as Pid, 'background')) as Pid
    GenServer.exit(sub, 'kill')
    await eventually(async () => events.includes('task aborted'), 5000, 'the killed task to be aborted')
    await eventually(async () => events.filter((e) => e === 'task started').length === 2, 5000, 'the restarted task')
    assert.equal(root.alive, true)
    await Supervisor.stop(root)
    assert.deepEqual(events, ['task started', 'task aborted', 'task started', 'task aborted'])
  })

  test("a reconcile controller's tree killed: its source processes leave the informer though no terminate ran, and the root restarts the tree", async () => {
    const informers = new InformerFactory({ kubeConfig: server.kubeConfig, logger })
    const target = { apiVersion: 'v1', kind: 'ConfigMap', namespace: ns }
    server.create(cm('one'))
    const seen: string[] = []
    const ctl = controller('killed', { informers, logger })
      .for(target)
      .build(async (req) => {
        seen.push(req.name)
      })
    const root = await Supervisor.start([informers.childSpec('informers'), ctl.childSpec('ctl')], { logger, maxRestarts: 3, maxSeconds: 5 })
    await eventually(async () => seen.length === 1, 10_000, 'the first reconcile')
    const informer = informers.informer(target)
    assert.equal(informer.subscribers, 1)
    const tree = (await childPid(root, 'ctl')) as Pid
    GenServer.exit(tree, 'kill')
    await eventually(async () => (await childPid(root, 'ctl')) !== tree && seen.length === 2, 10_000, 'the restarted tree to reconcile again')
    assert.equal(informer.subscribers, 1, 'the killed source let go of its subscription; only the new one holds one')
    await Supervisor.stop(root)
  })
})

describe('Supervisor.startChild', () => {
  test('an invalid spec gives a rejected promise (InvalidChildSpecError), never a synchronous throw — as DynamicSupervisor.startChild', async () => {
    const sup = await Supervisor.start([], { logger })
    let result: Promise<unknown> | undefined
    assert.doesNotThrow(() => {
      result = Supervisor.startChild(sup, { id: 'x' } as never)
    })
    await assert.rejects(result as Promise<unknown>, InvalidChildSpecError)
    await Supervisor.stop(sup)
    const dyn = await DynamicSupervisor.start({ logger })
    assert.doesNotThrow(() => {
      result = DynamicSupervisor.startChild(dyn, { start: 'nope' } as never)
    })
    await assert.rejects(result as Promise<unknown>, InvalidChildSpecError)
    await GenServer.stop(dyn)
  })
})
