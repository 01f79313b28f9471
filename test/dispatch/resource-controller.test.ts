// The upsert/delete style (consul-k8s control-plane/helper/controller: Resource.Upsert /
// Delete with the event's last object, Backgrounder, NumRequeues < 5 then drop,
// TestControllerRun) on the embedded API server.
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { GenServer, type Pid } from '../../lib/actor/index.ts'
import { DispatchFailedError } from '../../lib/dispatch/dispatch-process.ts'
import { InvalidResourceError, ResourceController, type UpsertDeleteResource } from '../../lib/dispatch/resource-controller.ts'
import { runTestController } from '../../lib/dispatch/test-run.ts'
import { TerminalError } from '../../lib/dispatch/workers.ts'
import { InformerFactory } from '../../lib/informer/informer.ts'
import type { Subscription } from '../../lib/informer/subscription.ts'
import { ItemExponentialFailureRateLimiter } from '../../lib/queue/index.ts'
import { Supervisor } from '../../lib/supervisor/index.ts'
import type { ApiServer } from '../../lib/testing/index.ts'
import type { KubeObject } from '../../lib/watch/object.ts'
import { useTestCluster } from '../support/cluster.ts'
import { captureLogger, silent as logger } from '../support/log.ts'
import { eventually } from '../support/mirror.ts'

let server: ApiServer
let ns: string
const { cm, ref, update } = useTestCluster('rc', (s, n) => {
  server = s
  ns = n
})

const touch = (name: string, v: string) => update(name, { v })
const target = () => ({ apiVersion: 'v1', kind: 'ConfigMap', namespace: ns })
const fastRetries = () => new ItemExponentialFailureRateLimiter(1, 20)
const fastBackoff = { initialMs: 1, maxMs: 20, factor: 2, jitter: 0, resetAfterMs: 0 }
const dataOf = (o: KubeObject) => JSON.stringify((o as { data?: unknown }).data ?? {})

/** A resource that records `upsert key data` / `delete key data uid` lines, with an optional hook. */
function recorder(hook?: (op: 'upsert' | 'delete', key: string, object: KubeObject, signal: AbortSignal) => void | Promise<void>) {
  const log: string[] = []
  const uids: string[] = []
  const resource: UpsertDeleteResource = {
    target: target(),
    async upsert(key, object, signal) {
      await hook?.('upsert', key, object, signal)
      log.push(`upsert ${key.slice(ns.length + 1)} ${dataOf(object)}`)
    },
    async delete(key, lastKnown, signal) {
      await hook?.('delete', key, lastKnown, signal)
      log.push(`delete ${key.slice(ns.length + 1)} ${dataOf(lastKnown)}`)
      uids.push(lastKnown.metadata?.uid ?? '')
    },
  }
  return { resource, log, uids }
}

describe('ResourceController', () => {
  test('upserts what exists once synced, then each change with the current object, and deletes with the last known object; hasSynced and lastSyncResourceVersion follow the store', async () => {
    server.create(cm('a', { v: '0' }))
    const { resource, log } = recorder()
    const controller = new ResourceController(resource, { kubeConfig: server.kubeConfig, logger })
    assert.equal(controller.hasSynced(), false)
    assert.equal(controller.lastSyncResourceVersion(), '')
    assert.equal(controller.name, 'configmap-controller')
    const stop = runTestController(controller)
    await eventually(() => controller.hasSynced() && log.length === 1)
    assert.deepEqual(log, ['upsert a {"v":"0"}'])
    assert.notEqual(controller.lastSyncResourceVersion(), '')
    touch('a', '1')
    await eventually(() => log.length === 2)
    server.create(cm('b', { v: 'b' }))
    await eventually(() => log.length === 3)
    server.delete(ref('a'))
    await eventually(() => log.length === 4)
    assert.deepEqual(log, ['upsert a {"v":"0"}', 'upsert a {"v":"1"}', 'upsert b {"v":"b"}', 'delete a {"v":"1"}'])
    assert.equal(controller.pendingDeletes, 0)
    await stop()
    assert.equal(controller.hasSynced(), false, 'not synced once stopped')
  })

  test('an object deleted and created again before its key was handled is deleted (old uid) and then upserted (new object)', async () => {
    server.create(cm('x', { gen: '1' }))
    let release!: () => void
    const gate = new Promise<void>((r) => {
      release = r
    })
    const { resource, log, uids } = recorder(async (_op, key) => {
      if (key.endsWith('/blocker')) await gate
    })
    const controller = new ResourceController(resource, { kubeConfig: server.kubeConfig, logger, concurrency: 1 })
    const stop = runTestController(controller)
    await eventually(() => log.length === 1)
    const oldUid = server.get(ref('x'))?.metadata?.uid
    server.create(cm('blocker'))
    await eventually(() => controller.stats.upserts === 2) // the only worker is now held by `blocker`
    server.delete(ref('x'))
    await eventually(() => controller.pendingDeletes === 1)
    server.create(cm('x', { gen: '2' }))
    await eventually(() => controller.informer.store.getByKey(`${ns}/x`)?.metadata?.uid !== oldUid && controller.informer.store.has(`${ns}/x`))
    release()
    await eventually(() => log.length === 4)
    assert.deepEqual(log.slice(1), ['upsert blocker {}', 'delete x {"gen":"1"}', 'upsert x {"gen":"2"}'])
    assert.deepEqual(uids, [oldUid])
    await stop()
  })

  test('a failing key is retried with rate limiting up to 5 times by default, then dropped with a log line; a terminal error is dropped at once; a dropped delete forgets its object', async () => {
    const cap = captureLogger('warn')
    const calls = new Map<string, number>()
    const { resource, log } = recorder((op, key) => {
      const name = key.slice(ns.length + 1)
      const n = (calls.get(`${op} ${name}`) ?? 0) + 1
      calls.set(`${op} ${name}`, n)
      if (name === 'flaky' && n <= 2) throw new Error('consul unavailable')
      if (name === 'broken') throw new Error('always broken')
      if (name === 'invalid') throw new TerminalError('cannot work')
    })
    const controller = new ResourceController(resource, { kubeConfig: server.kubeConfig, logger: cap.logger, rateLimiter: fastRetries() })
    const stop = runTestController(controller)
    await eventually(() => controller.hasSynced())
    server.create(cm('flaky'))
    server.create(cm('broken'))
    server.create(cm('invalid'))
    await eventually(() => log.includes('upsert flaky {}') && calls.get('upsert broken') === 6 && calls.get('upsert invalid') === 1)
    server.delete(ref('broken'))
    await eventually(() => calls.get('delete broken') === 6 && controller.pendingDeletes === 0)
    await new Promise((r) => setTimeout(r, 50))
    assert.equal(calls.get('upsert flaky'), 3, 'two failures, then success')
    assert.equal(calls.get('upsert broken'), 6, 'the first call and five retries')
    assert.equal(calls.get('delete broken'), 6)
    assert.equal(calls.get('upsert invalid'), 1)
    const lines = cap.lines
    assert.equal(lines.filter((l) => l.msg === 'handling failed too many times; dropping the key' && l.key === `${ns}/broken`).length, 2)
    assert.ok(lines.some((l) => l.msg === 'terminal error; not retrying' && l.key === `${ns}/invalid`))
    await stop()
  })

  test('updates with an unchanged resourceVersion queue nothing', async () => {
    server.create(cm('same'))
    const informers = new InformerFactory({ kubeConfig: server.kubeConfig, logger })
    const { resource, log } = recorder()
    const controller = new ResourceController(resource, { informers, logger })
    let sub: Subscription<KubeObject> | undefined
    const subscribe = controller.informer.subscribe.bind(controller.informer)
    controller.informer.subscribe = () => {
      sub = subscribe()
      return sub
    }
    const stop = runTestController(controller)
    await eventually(() => log.length === 1)
    const same = controller.informer.store.getByKey(`${ns}/same`) as KubeObject
    sub?.push('modified', `${ns}/same`, { ...same }, same) // a resync-style update without a new resourceVersion
    server.create(cm('marker'))
    await eventually(() => log.length === 2)
    assert.deepEqual(log, ['upsert same {}', 'upsert marker {}'])
    assert.equal(controller.stats.unchanged, 1)
    await stop()
    await informers.stop()
  })

  test('stop drains (the call in flight completes, queued keys are handled, later changes are not), then aborts the background tasks and waits for them', async () => {
    let release!: () => void
    const gate = new Promise<void>((r) => {
      release = r
    })
    const order: string[] = []
    const { resource, log } = recorder(async (_op, key) => {
      if (key.endsWith('/slow')) await gate
    })
    resource.backgroundTasks = [
      async (signal) => {
        order.push('task started')
        await new Promise<void>((r) => signal.addEventListener('abort', () => r(), { once: true }))
        order.push(`task aborted after ${log.length} calls`)
        await new Promise((r) => setTimeout(r, 30)) // cleanup that takes a while
        order.push('task cleaned up')
      },
    ]
    const controller = new ResourceController(resource, { kubeConfig: server.kubeConfig, logger })
    const stop = runTestController(controller)
    await eventually(() => controller.hasSynced() && order.length === 1)
    server.create(cm('slow'))
    await eventually(() => controller.stats.upserts === 1)
    server.create(cm('queued'))
    await eventually(() => controller.informer.store.has(`${ns}/queued`))
    await new Promise((r) => setTimeout(r, 20))
    let stopped = false
    const stopping = stop().then(() => {
      stopped = true
    })
    await eventually(() => controller.informer.subscribers === 0, 10_000, 'the controller to stop watching')
    server.create(cm('after-stop'))
    await new Promise((r) => setTimeout(r, 50))
    assert.equal(stopped, false, 'stop waits for the call in flight')
    assert.deepEqual(order, ['task started'], 'tasks are aborted after the drain')
    release()
    await stopping
    assert.deepEqual(log, ['upsert slow {}', 'upsert queued {}'])
    assert.deepEqual(order, ['task started', 'task aborted after 2 calls', 'task cleaned up'])
  })

  test('a delete that fails while the controller drains is kept, and delivered with its last known object by the next run', async () => {
    server.create(cm('x', { v: 'last' }))
    let release!: () => void
    const gate = new Promise<void>((r) => {
      release = r
    })
    let failDeletes = true
    const { resource, log } = recorder(async (op, key) => {
      if (key.endsWith('/blocker')) await gate
      if (op === 'delete' && failDeletes) throw new Error('catalog down')
    })
    const controller = new ResourceController(resource, { kubeConfig: server.kubeConfig, logger })
    const stop = runTestController(controller)
    await eventually(() => log.length === 1)
    server.create(cm('blocker'))
    await eventually(() => controller.stats.upserts === 2)
    server.delete(ref('x'))
    await eventually(() => controller.pendingDeletes === 1)
    await new Promise((r) => setTimeout(r, 20))
    const stopping = stop()
    await eventually(() => controller.informer.subscribers === 0)
    release()
    await stopping
    assert.equal(controller.stats.deletes, 1, 'tried once while draining')
    assert.equal(controller.pendingDeletes, 1, 'kept for the next run')
    failDeletes = false
    const stopAgain = runTestController(controller)
    await eventually(() => log.includes('delete x {"v":"last"}'))
    assert.equal(controller.pendingDeletes, 0)
    await stopAgain()
  })

  test('a background task that rejects is logged and restarted with backoff; one that resolves on its own is not restarted', async () => {
    const cap = captureLogger('warn')
    let crashes = 0
    let finishes = 0
    const signals: AbortSignal[] = []
    const { resource } = recorder()
    resource.backgroundTasks = [
      async (signal) => {
        signals.push(signal)
        if (signals.length <= 2) {
          crashes++
          throw new Error(`background sync failed #${crashes}`)
        }
        await new Promise<void>((r) => signal.addEventListener('abort', () => r(), { once: true }))
      },
      async () => {
        finishes++
      },
    ]
    const controller = new ResourceController(resource, { kubeConfig: server.kubeConfig, logger: cap.logger, backgroundBackoff: fastBackoff })
    const stop = runTestController(controller)
    await eventually(() => signals.length === 3)
    await new Promise((r) => setTimeout(r, 30))
    assert.equal(finishes, 1, 'a task that returned is done')
    assert.ok(cap.lines.some((l) => l.err?.message === 'background sync failed #1'), 'the crash is logged with its error')
    assert.notEqual(signals[0], signals[2], 'each start gets a fresh signal')
    await stop()
    assert.equal(signals[2]?.aborted, true)
  })

  test('a background task that keeps failing exhausts its supervisor: run rejects with DispatchFailedError', async () => {
    const { resource } = recorder()
    resource.backgroundTasks = [() => Promise.reject(new Error('never works'))]
    const controller = new ResourceController(resource, { kubeConfig: server.kubeConfig, logger, backgroundBackoff: fastBackoff })
    const abort = new AbortController()
    await assert.rejects(controller.run(abort.signal), DispatchFailedError)
  })

  test('under your supervisor, a worker killed in the middle of an upsert is restarted and the key handled again', async () => {
    const releases: (() => void)[] = []
    const { resource, log } = recorder(async (_op, key) => {
      if (key.endsWith('/victim') && releases.length < 2) await new Promise<void>((r) => releases.push(r))
    })
    const informers = new InformerFactory({ kubeConfig: server.kubeConfig, logger })
    const controller = new ResourceController(resource, { informers, logger })
    const root = await Supervisor.start([informers.childSpec(), controller.childSpec()], { logger })
    await eventually(() => controller.hasSynced())
    server.create(cm('victim'))
    await eventually(() => releases.length === 1)
    const [, ctrl] = await Supervisor.whichChildren(root)
    const [dispatch] = await Supervisor.whichChildren(ctrl?.pid as Pid)
    const pool = GenServer.info(dispatch?.pid as Pid).links.find((p) => p !== ctrl?.pid) as Pid
    for (const worker of await Supervisor.whichChildren(pool)) GenServer.exit(worker.pid as Pid, 'kill')
    await eventually(() => releases.length === 2, 10_000, 'the key to be handled again')
    for (const release of releases) release()
    await eventually(() => log.length === 2)
    assert.deepEqual(log, ['upsert victim {}', 'upsert victim {}'], 'at least once: the killed call finished too')
    await Supervisor.stop(root)
  })

  test('a resource needs upsert and delete, and a kubeConfig or informers', () => {
    const { resource } = recorder()
    assert.throws(() => new ResourceController(resource, { logger }), InvalidResourceError)
    assert.throws(() => new ResourceController({ target: target() } as unknown as UpsertDeleteResource, { kubeConfig: server.kubeConfig }), InvalidResourceError)
    assert.throws(() => new ResourceController(resource, { kubeConfig: server.kubeConfig, concurrency: 0 }).childSpec(), RangeError)
  })

  test('a controller runs once at a time: a second run while the first is running fails to start', async () => {
    const { resource } = recorder()
    const controller = new ResourceController(resource, { kubeConfig: server.kubeConfig, logger })
    const stop = runTestController(controller)
    await eventually(() => controller.hasSynced())
    await assert.rejects(controller.run(new AbortController().signal), /already running/)
    await stop()
  })
})
