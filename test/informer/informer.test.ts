// Shared informers on the embedded API server: one watch and one store per target, each
// consumer at its own pace, late joiners, slow consumers, the last consumer leaving, 410.
import assert from 'node:assert/strict'
import { after, describe, test } from 'node:test'
import { GenServer, type Pid } from '../../lib/actor/index.ts'
import { InformerFactory } from '../../lib/informer/informer.ts'
import type { InformerEvent, Subscription } from '../../lib/informer/subscription.ts'
import { namespaceIndex } from '../../lib/store/index.ts'
import { type ApiServer, startApiServer } from '../../lib/testing/index.ts'
import type { KubeObject } from '../../lib/watch/object.ts'
import { useTestCluster } from '../support/cluster.ts'
import { captureLogger, silent as logger } from '../support/log.ts'
import { eventually } from '../support/mirror.ts'

let server: ApiServer
let factory: InformerFactory
let ns: string
// Registered first, so it runs before the cluster's own `after` closes the server.
after(async () => {
  await factory?.stop()
})
const { cm, ref } = useTestCluster('inf', (s, n) => {
  server = s
  ns = n
})

const path = () => `/api/v1/namespaces/${ns}/configmaps`
const watchesOpen = () => server.watches({ path: path() }).length

/** Reads a subscription into a log of `type name@rv` lines (and a key → rv view). */
function reader(sub: Subscription<KubeObject>) {
  const log: string[] = []
  const view = new Map<string, string>()
  let stopped = false
  const done = (async () => {
    for (;;) {
      const e = await sub.next()
      if (!e || stopped) return
      log.push(line(e))
      if (e.type === 'deleted') view.delete(e.key)
      else if (e.type !== 'synced') view.set(e.key, e.object.metadata?.resourceVersion ?? '')
    }
  })()
  return { log, view, done, stop: () => (stopped = true) }
}
function line(e: InformerEvent<KubeObject>): string {
  return e.type === 'synced' ? 'synced' : `${e.type} ${e.object.metadata?.name}`
}
const serverView = () => new Map(server.list('v1', 'ConfigMap', ns).map((o) => [`${ns}/${o.metadata?.name}`, o.metadata?.resourceVersion ?? '']))

describe('shared informers', () => {
  test('consumers of the same target share one watch and one store; each receives the full stream', async () => {
    factory = new InformerFactory({ kubeConfig: server.kubeConfig, logger })
    server.create(cm('a'))
    const informer = factory.informer({ apiVersion: 'v1', kind: 'ConfigMap', namespace: ns })
    assert.equal(factory.informer({ apiVersion: 'v1', kind: 'ConfigMap', namespace: ns }), informer, 'the same informer for an equal target')
    const one = reader(informer.subscribe())
    const two = reader(informer.subscribe())
    await informer.store.synced
    server.create(cm('b'))
    server.delete(ref('a'))
    await eventually(() => one.log.length === 4 && two.log.length === 4)
    assert.deepEqual(one.log, ['created a', 'synced', 'created b', 'deleted a'])
    assert.deepEqual(two.log, one.log)
    assert.equal(watchesOpen(), 1)
    assert.deepEqual(informer.store.keys(), [`${ns}/b`])
    await factory.stop()
  })

  test('a late joiner first receives the current objects, then synced, then live changes', async () => {
    factory = new InformerFactory({ kubeConfig: server.kubeConfig, logger })
    server.create(cm('x'))
    const informer = factory.informer({ apiVersion: 'v1', kind: 'ConfigMap', namespace: ns })
    const early = reader(informer.subscribe())
    await informer.store.synced
    server.create(cm('y'))
    await eventually(() => early.log.length === 3)
    const late = reader(informer.subscribe())
    server.create(cm('z'))
    await eventually(() => late.log.length === 4)
    assert.deepEqual(late.log.slice(0, 3).sort(), ['created x', 'created y', 'synced'].sort())
    assert.equal(late.log[2], 'synced')
    assert.equal(late.log[3], 'created z')
    assert.equal(watchesOpen(), 1)
    await factory.stop()
  })

  test('a slow consumer holds one pending change per object, does not slow the others, and catches up on the latest state', async () => {
    factory = new InformerFactory({ kubeConfig: server.kubeConfig, logger })
    for (let i = 0; i < 5; i++) server.create(cm(`o${i}`))
    const informer = factory.informer({ apiVersion: 'v1', kind: 'ConfigMap', namespace: ns })
    const fast = reader(informer.subscribe())
    const slow = informer.subscribe() // never read until the end
    await informer.store.synced
    // Paced so the fast consumer keeps up and sees every version; the slow one reads nothing.
    for (let round = 0; round < 40; round++) {
      for (let i = 0; i < 5; i++) server.update({ ...(server.get(ref(`o${i}`)) as KubeObject), data: { round: String(round) } })
      await eventually(() => fast.log.length === 6 + 5 * (round + 1), 5_000, `the fast consumer to see round ${round}`)
    }
    assert.ok(slow.pending <= 6, `slow consumer pending: ${slow.pending}`)
    assert.ok(slow.coalesced >= 190)
    const events: InformerEvent<KubeObject>[] = []
    for (let e = slow.tryNext(); e; e = slow.tryNext()) events.push(e)
    assert.equal(events.filter((e) => e.type === 'created').length, 5)
    for (const e of events) if (e.type === 'created') assert.equal((e.object as { data?: { round?: string } }).data?.round, '39', 'the latest version')
    slow.close()
    await factory.stop()
  })

  test('the watch stops when the last consumer leaves, and starts again (fresh) for a new one', async () => {
    factory = new InformerFactory({ kubeConfig: server.kubeConfig, logger })
    server.create(cm('k'))
    const informer = factory.informer({ apiVersion: 'v1', kind: 'ConfigMap', namespace: ns })
    const a = informer.subscribe()
    const b = informer.subscribe()
    await informer.store.synced
    await eventually(() => watchesOpen() === 1)
    a.close()
    await informer.settled()
    assert.equal(informer.running, true, 'one consumer left')
    b.close()
    await informer.settled()
    assert.equal(informer.running, false)
    assert.equal(informer.store.size, 0)
    await eventually(() => watchesOpen() === 0)
    const c = reader(informer.subscribe())
    await eventually(() => c.log.length === 2)
    assert.deepEqual(c.log, ['created k', 'synced'])
    await factory.stop()
  })

  test('a 410 relist reaches every consumer once, with only the real changes', async () => {
    factory = new InformerFactory({ kubeConfig: server.kubeConfig, logger })
    server.create(cm('same'))
    server.create(cm('changes'))
    server.create(cm('vanishes'))
    const informer = factory.informer({ apiVersion: 'v1', kind: 'ConfigMap', namespace: ns })
    const one = reader(informer.subscribe())
    const two = reader(informer.subscribe())
    await informer.store.synced
    await server.waitForWatches(1, { path: path() })
    const match = { path: path() }
    const stall = server.stallWatches({ match })
    server.update({ ...(server.get(ref('changes')) as KubeObject), data: { v: '2' } })
    server.delete(ref('vanishes'))
    server.create(cm('appears'))
    server.compact()
    server.injectWatchError({ match })
    stall.resume()
    await eventually(() => one.view.size === 3 && two.view.size === 3 && one.log.length >= 7 && two.log.length >= 7)
    await new Promise((r) => setTimeout(r, 100))
    for (const r of [one, two]) {
      assert.deepEqual(r.log.slice(4).sort(), ['created appears', 'deleted vanishes', 'modified changes'].sort())
      assert.deepEqual(r.view, serverView())
    }
    await factory.stop()
  })

  test('a restarted informer handler resyncs against its store: consumers see only real changes', async () => {
    factory = new InformerFactory({ kubeConfig: server.kubeConfig, logger })
    server.create(cm('p'))
    server.create(cm('q'))
    const informer = factory.informer({ apiVersion: 'v1', kind: 'ConfigMap', namespace: ns })
    const r = reader(informer.subscribe())
    await informer.store.synced
    await eventually(() => r.log.length === 3)
    const handler = factory.registry.whereis(`informer:${informer.id}`) as Pid
    GenServer.exit(handler, 'kill')
    server.delete(ref('p'))
    server.create(cm('s'))
    await eventually(() => factory.registry.whereis(`informer:${informer.id}`) !== undefined && factory.registry.whereis(`informer:${informer.id}`) !== handler)
    await eventually(() => r.view.size === 2 && r.view.has(`${ns}/s`))
    await new Promise((resolve) => setTimeout(resolve, 100))
    assert.deepEqual(r.log.slice(3).sort(), ['created s', 'deleted p'])
    assert.deepEqual(r.view, serverView())
    await factory.stop()
  })

  test('the shared store is indexed and typed; a bad target is rejected', async () => {
    factory = new InformerFactory({ kubeConfig: server.kubeConfig, logger })
    server.create(cm('i1'))
    const informer = factory.informer({ apiVersion: 'v1', kind: 'ConfigMap' }, { indexers: { namespace: namespaceIndex } })
    informer.hold()
    await informer.store.synced
    assert.ok(informer.store.byIndex('namespace', ns).some((o) => o.metadata?.name === 'i1'))
    informer.release()
    assert.throws(() => factory.informer({ kind: 'Pod' }), /apiVersion and kind/)
    assert.throws(() => new InformerFactory({}), /kubeConfig/)
    await factory.stop()
  })
})

describe('shared informer failures', () => {
  test('a watch that cannot start is logged, does not reject unhandled, and the next subscriber retries', async () => {
    const server = await startApiServer()
    let unhandled = 0
    const onUnhandled = () => unhandled++
    process.on('unhandledRejection', onUnhandled)
    const cap = captureLogger('error')
    // A client whose start always fails: an invalid explicit path.
    const f = new InformerFactory({ kubeConfig: server.kubeConfig, logger: cap.logger })
    const informer = f.informer({ path: 'not-a-path' })
    const sub = informer.subscribe()
    await informer.settled()
    await new Promise((r) => setTimeout(r, 20))
    assert.equal(unhandled, 0)
    assert.ok(cap.lines.some((l) => l.msg === 'shared informer failed to start; the next subscriber retries'))
    assert.equal(informer.running, false)
    sub.close()
    process.off('unhandledRejection', onUnhandled)
    await f.stop()
    await server.close()
  })
})

describe('stopping the factory', () => {
  test('ends every open subscription (a for-await loop completes) and stops the watches', async () => {
    const server = await startApiServer()
    const f = new InformerFactory({ kubeConfig: server.kubeConfig, logger })
    const informer = f.informer({ apiVersion: 'v1', kind: 'ConfigMap', namespace: 'default' })
    const seen: string[] = []
    const loop = (async () => {
      for await (const e of informer.subscribe()) seen.push(e.type)
      return 'ended'
    })()
    await eventually(() => seen.includes('synced'))
    await f.stop()
    assert.equal(await loop, 'ended')
    assert.equal(informer.running, false)
    assert.equal(informer.subscribers, 0)
    await eventually(() => server.watches({ path: '/api/v1/namespaces/default/configmaps' }).length === 0)
    await server.close()
  })
})
