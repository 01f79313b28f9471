// Sources and lifecycle edges of the reconcile loop: an existing informer as a source,
// channel sources that end or whose handler throws, EventChannel, stopping before the
// caches synced, and a drain that times out. Anchors: controller-runtime pkg/source
// (Informer, Channel), pkg/internal/controller (WaitForCacheSync before workers;
// reconcile requests wait for it), client-go workqueue ShutDownWithDrain.
import assert from 'node:assert/strict'
import { after, before, beforeEach, describe, test } from 'node:test'
import { controller } from '../../lib/dispatch/controller.ts'
import { enqueueMapped, enqueueObject } from '../../lib/dispatch/handlers.ts'
import type { Request } from '../../lib/dispatch/request.ts'
import { channel, EventChannel, informer } from '../../lib/dispatch/sources.ts'
import { InformerFactory } from '../../lib/informer/informer.ts'
import { QueueDrainTimeoutError } from '../../lib/queue/index.ts'
import { type ApiServer, startApiServer } from '../../lib/testing/index.ts'
import { captureLogger, silent as logger } from '../support/log.ts'
import { eventually } from '../support/mirror.ts'

let server: ApiServer
let informers: InformerFactory
let seq = 0
let ns: string
before(async () => {
  server = await startApiServer()
})
after(async () => {
  await informers?.stop()
  await server.close()
})
beforeEach(async () => {
  await informers?.stop()
  informers = new InformerFactory({ kubeConfig: server.kubeConfig, logger })
  ns = `src${++seq}`
  server.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } })
})
const configMaps = () => ({ apiVersion: 'v1', kind: 'ConfigMap', namespace: ns })
const cm = (name: string, labels: Record<string, string> = {}) => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace: ns, labels } })

describe('EventChannel', () => {
  test('delivers pushed items in order and ends after end() once drained', async () => {
    const ch = new EventChannel<number>()
    ch.push(1)
    ch.push(2)
    ch.end()
    ch.push(3)
    const got: number[] = []
    for await (const n of ch) got.push(n)
    assert.deepEqual(got, [1, 2])
  })

  test('a left iterator takes nothing more, even from a pending next(); a new iterator continues', async () => {
    const ch = new EventChannel<string>()
    const first = ch[Symbol.asyncIterator]()
    const pending = first.next()
    await first.return?.()
    ch.push('a')
    assert.deepEqual(await pending, { done: true, value: undefined })
    assert.equal(ch.pending, 1)
    const second = ch[Symbol.asyncIterator]()
    assert.deepEqual(await second.next(), { done: false, value: 'a' })
  })
})

describe('reconcile loop sources', () => {
  test('an existing informer (with its indexers) is a source; the reconciler reads the same store', async () => {
    const byApp = informers.informer(configMaps(), { indexers: { app: (o) => [(o.metadata?.labels as Record<string, string> | undefined)?.app ?? ''] } })
    const seen: string[] = []
    const ctl = controller('indexed', { informers, logger })
      .watches(informer(byApp), enqueueObject())
      .build((req) => {
        const app = (byApp.store.get(req)?.metadata?.labels as Record<string, string> | undefined)?.app ?? ''
        seen.push(`${req.name}:${byApp.store.byIndex('app', app).length}`)
      })
    server.create(cm('a', { app: 'web' }))
    server.create(cm('b', { app: 'web' }))
    await ctl.start()
    await eventually(() => seen.length === 2)
    assert.deepEqual(seen.sort(), ['a:2', 'b:2'])
    await ctl.stop()
  })

  test('a channel that ends stops its source only; a handler that throws on an external event is logged and the next events flow', async () => {
    const cap = captureLogger('error')
    const seen: string[] = []
    const ended = new EventChannel<Request>()
    const webhooks = new EventChannel<Request>()
    const ctl = controller('channels', { informers, logger: cap.logger })
      .for(configMaps())
      .watches(channel(ended), enqueueObject())
      .watches(
        channel(webhooks),
        enqueueMapped((o) => {
          if (o.metadata?.name === 'poison') throw new Error('bad payload')
          return [{ namespace: o.metadata?.namespace, name: o.metadata?.name ?? '' }]
        }),
      )
      .build((req) => {
        seen.push(req.name)
      })
    await ctl.start()
    ended.push({ namespace: ns, name: 'last-words' })
    ended.end()
    webhooks.push({ namespace: ns, name: 'poison' })
    webhooks.push({ namespace: ns, name: 'fine' })
    await eventually(() => seen.includes('last-words') && seen.includes('fine'))
    server.create(cm('still-watching'))
    await eventually(() => seen.includes('still-watching'))
    assert.equal(seen.includes('poison'), false)
    assert.ok(cap.lines.some((l) => l.msg === 'a predicate or handler threw on an external event; event dropped' && l.object === `${ns}/poison`))
    await ctl.stop()
  })
})

describe('reconcile loop lifecycle', () => {
  test('workers wait for the caches: nothing is reconciled before sync, and stopping before it drops the queued requests at once', async () => {
    // Lists of this namespace's ConfigMaps fail, so the informer never syncs.
    server.failNext({ count: 1000, code: 500, match: { path: `/api/v1/namespaces/${ns}/configmaps`, watch: false } })
    const seen: string[] = []
    const webhooks = new EventChannel<Request>()
    const ctl = controller('unsynced', { informers, logger })
      .for(configMaps())
      .watches(channel(webhooks), enqueueObject())
      .build((req) => {
        seen.push(req.name)
      })
    await ctl.start()
    webhooks.push({ namespace: ns, name: 'early' })
    await eventually(() => ctl.inFlight.length === 1 && webhooks.pending === 0)
    assert.equal(ctl.synced, false)
    await ctl.stop()
    assert.deepEqual(seen, [])
    server.clearFaults()
  })

  test('a drain that does not finish in time: stop() rejects with QueueDrainTimeoutError naming the request', async () => {
    const cap = captureLogger('error')
    let release!: () => void
    const ctl = controller('slow', { informers, logger: cap.logger })
      .for(configMaps())
      .withOptions({ drainTimeoutMs: 50 })
      .build(async () => {
        await new Promise<void>((r) => {
          release = r
        })
      })
    server.create(cm('stuck'))
    await ctl.start()
    await eventually(() => ctl.inFlight.length === 1)
    const stopping = ctl.stop()
    await eventually(() => cap.lines.some((l) => l.msg === 'stopping: reconciles did not finish in time'))
    release()
    await assert.rejects(stopping, (err: unknown) => err instanceof QueueDrainTimeoutError && err.code === 'ERR_QUEUE_DRAIN_TIMEOUT' && String(err.inFlight) === `${ns}/stuck`)
    assert.equal(ctl.running, false)
  })

  test('start twice is refused; a stopped controller starts again and reconciles everything again', async () => {
    const seen: string[] = []
    const ctl = controller('again', { informers, logger })
      .for(configMaps())
      .build((req) => {
        seen.push(req.name)
      })
    server.create(cm('x'))
    await ctl.start()
    await assert.rejects(ctl.start(), /already running/)
    await eventually(() => seen.length === 1)
    await ctl.stop()
    await ctl.start()
    await eventually(() => seen.length === 2)
    await ctl.stop()
    assert.deepEqual(seen, ['x', 'x'])
  })
})
