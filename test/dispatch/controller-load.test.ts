// Load test of the reconcile loop's central promise, on the embedded API server:
// with maxConcurrentReconciles > 1, one object is never reconciled twice at once, and
// every object's final state is reconciled after its last change (client-go workqueue:
// "stingy" processing set + dirty set; controller-runtime MaxConcurrentReconciles).
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { controller } from '../../lib/dispatch/controller.ts'
import { enqueueObject } from '../../lib/dispatch/handlers.ts'
import type { Request } from '../../lib/dispatch/request.ts'
import { channel, EventChannel } from '../../lib/dispatch/sources.ts'
import { InformerFactory } from '../../lib/informer/informer.ts'
import { type ApiServer, startApiServer } from '../../lib/testing/index.ts'
import type { KubeObject } from '../../lib/watch/object.ts'
import { silent as logger } from '../support/log.ts'
import { eventually } from '../support/mirror.ts'
import { prng } from '../support/random.ts'

let server: ApiServer
before(async () => {
  server = await startApiServer()
  server.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'load' } })
})
after(() => server.close())

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

test('4 concurrent reconcilers, 40 objects, 600 updates and deletes, plus external events: never one object twice at once, and each final state reconciled', async (t) => {
  const seed = Number(process.env.SEED ?? Date.now() % 100_000)
  const random = prng(seed)
  const objects = 40
  const names = Array.from({ length: objects }, (_, i) => `o${i}`)
  for (const name of names) server.create({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace: 'load' }, data: { n: '0' } })

  const informers = new InformerFactory({ kubeConfig: server.kubeConfig, logger })
  const target = { apiVersion: 'v1', kind: 'ConfigMap', namespace: 'load' }
  const store = informers.informer(target).store
  const external = new EventChannel<Request>()
  const active = new Set<string>()
  const violations: string[] = []
  /** key → the resourceVersion (or 'gone') the latest reconcile of it read when it started. */
  const lastSeen = new Map<string, string>()
  let reconciles = 0
  let maxActive = 0

  const ctl = controller('load', { informers, logger })
    .for(target)
    .watches(channel(external), enqueueObject())
    .withOptions({ maxConcurrentReconciles: 4 })
    .build(async (req) => {
      const key = `${req.namespace}/${req.name}`
      if (active.has(key)) violations.push(key)
      active.add(key)
      maxActive = Math.max(maxActive, active.size)
      reconciles++
      lastSeen.set(key, store.get(req)?.metadata?.resourceVersion ?? 'gone')
      await sleep(random() * 3)
      active.delete(key)
    })
  await ctl.start()

  // Writers: updates in random order with random pauses; external requests for the same
  // objects at the same time; the last objects deleted at the end.
  for (let i = 0; i < 600; i++) {
    const name = names[Math.floor(random() * (objects - 5))] as string
    const current = server.get({ apiVersion: 'v1', kind: 'ConfigMap', name, namespace: 'load' }) as KubeObject
    server.update({ ...current, data: { n: String(i) } })
    // External requests only in the first half, so they cannot mask a lost final change.
    if (i < 300 && random() < 0.3) external.push({ namespace: 'load', name: names[Math.floor(random() * objects)] as string })
    if (random() < 0.1) await sleep(random() * 4)
  }
  for (const name of names.slice(objects - 5)) server.delete({ apiVersion: 'v1', kind: 'ConfigMap', name, namespace: 'load' })

  const serverState = () => new Map(names.map((n) => [`load/${n}`, (server.get({ apiVersion: 'v1', kind: 'ConfigMap', name: n, namespace: 'load' }) as KubeObject | undefined)?.metadata?.resourceVersion ?? 'gone']))
  try {
    await eventually(
      () => [...serverState()].every(([key, rv]) => lastSeen.get(key) === rv) && active.size === 0,
      20_000,
      `every object's final state reconciled (seed ${seed})`,
    )
  } finally {
    await ctl.stop()
    await informers.stop()
  }

  t.diagnostic(`seed ${seed}: ${reconciles} reconciles for 600 updates, 5 deletes and the external requests; at most ${maxActive} at once`)
  assert.deepEqual(violations, [], `objects reconciled twice at once (seed ${seed})`)
  assert.ok(maxActive > 1, `reconciles ran concurrently (max ${maxActive})`)
  assert.ok(reconciles < 600 + objects + 200, `changes to one object collapse while it waits (${reconciles} reconciles)`)
})
