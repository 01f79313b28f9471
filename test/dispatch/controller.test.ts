// The reconcile loop on the embedded API server (real HTTP, shared informers).
// Anchors: controller-runtime pkg/builder (For → EnqueueRequestForObject, Owns →
// EnqueueRequestForOwner with OnlyControllerOwner, WithEventFilter on every watch),
// pkg/internal/controller (reconcileHandler: error → AddRateLimited, RequeueAfter →
// Forget + AddAfter, TerminalError → not requeued; WaitForCacheSync before workers start),
// pkg/source (Channel → generic events), client-go workqueue (one key never processed
// twice at once; an add while processing means one more processing).
import assert from 'node:assert/strict'
import { after, before, beforeEach, describe, test } from 'node:test'
import { GenServer, type Pid } from '../../lib/actor/index.ts'
import { controller } from '../../lib/dispatch/controller.ts'
import { enqueueMapped, enqueueObject } from '../../lib/dispatch/handlers.ts'
import { generationChanged, labelSelector } from '../../lib/dispatch/predicates.ts'
import type { Request } from '../../lib/dispatch/request.ts'
import { channel, EventChannel, kind } from '../../lib/dispatch/sources.ts'
import { TerminalError } from '../../lib/dispatch/workers.ts'
import { InformerFactory } from '../../lib/informer/informer.ts'
import { ItemExponentialFailureRateLimiter } from '../../lib/queue/index.ts'
import { Supervisor } from '../../lib/supervisor/index.ts'
import { FakeClock, settle } from '../../lib/testing/fake-clock.ts'
import { type ApiServer, startApiServer } from '../../lib/testing/index.ts'
import type { KubeObject } from '../../lib/watch/object.ts'
import { captureLogger, silent as logger } from '../support/log.ts'
import { eventually } from '../support/mirror.ts'

let server: ApiServer
let informers: InformerFactory
let seq = 0
let ns: string

before(async () => {
  server = await startApiServer()
  server.create({
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: 'sites.example.com' },
    spec: {
      group: 'example.com',
      scope: 'Namespaced',
      names: { plural: 'sites', singular: 'site', kind: 'Site', listKind: 'SiteList' },
      versions: [{ name: 'v1', served: true, storage: true, subresources: { status: {} }, schema: { openAPIV3Schema: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } } }],
    },
  })
})
after(async () => {
  await server.close()
})
beforeEach(async () => {
  await informers?.stop()
  informers = new InformerFactory({ kubeConfig: server.kubeConfig, logger })
  ns = `ctl${++seq}`
  server.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } })
})

const configMaps = () => ({ apiVersion: 'v1', kind: 'ConfigMap', namespace: ns })
const sites = () => ({ apiVersion: 'example.com/v1', kind: 'Site', namespace: ns })
const cm = (name: string, data: Record<string, string> = {}, metadata: Record<string, unknown> = {}) => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace: ns, ...metadata }, data })
const site = (name: string, spec: Record<string, unknown> = {}, metadata: Record<string, unknown> = {}) => ({ apiVersion: 'example.com/v1', kind: 'Site', metadata: { name, namespace: ns, ...metadata }, spec })
const get = (apiVersion: string, kind: string, name: string) => server.get({ apiVersion, kind, name, namespace: ns }) as KubeObject
const ownerRef = (owner: KubeObject, controller: boolean) => ({ apiVersion: owner.apiVersion, kind: owner.kind, name: owner.metadata?.name, uid: owner.metadata?.uid, controller })
const count = (log: string[], entry: string) => log.filter((l) => l === entry).length

describe('reconcile loop', () => {
  test('reconciles objects that exist at start and each create, update and delete, after the caches synced', async () => {
    server.create(cm('pre', { v: '0' }))
    const store = informers.informer(configMaps()).store
    const seen: string[] = []
    const ctl = controller('cms', { informers, logger })
      .for(configMaps())
      .build((req) => {
        assert.ok(store.hasSynced, 'reconciles run on a synced store')
        const obj = store.get(req) as { data?: { v?: string } } | undefined
        seen.push(`${req.namespace}/${req.name}:${obj ? obj.data?.v : 'gone'}`)
      })
    await ctl.start()
    await eventually(() => seen.includes(`${ns}/pre:0`))
    assert.equal(ctl.synced, true)
    server.create(cm('a', { v: '1' }))
    await eventually(() => seen.includes(`${ns}/a:1`))
    server.update({ ...get('v1', 'ConfigMap', 'a'), data: { v: '2' } })
    await eventually(() => seen.includes(`${ns}/a:2`))
    server.delete({ apiVersion: 'v1', kind: 'ConfigMap', name: 'a', namespace: ns })
    await eventually(() => seen.includes(`${ns}/a:gone`))
    await ctl.stop()
    assert.equal(ctl.running, false)
  })

  test('requeueAfter reconciles the object again after that long on the clock', async () => {
    const clock = new FakeClock()
    const times: number[] = []
    const ctl = controller('requeue', { informers, logger, clock })
      .for(configMaps())
      .build(() => {
        times.push(clock.now())
        return times.length === 1 ? { requeueAfter: 5_000 } : undefined
      })
    server.create(cm('x'))
    await ctl.start()
    await eventually(() => times.length === 1)
    await clock.advance(4_999)
    await settle()
    assert.equal(times.length, 1)
    await clock.advance(1)
    await eventually(() => times.length === 2)
    assert.deepEqual(times, [0, 5_000])
    await clock.advance(60_000)
    await settle()
    assert.equal(times.length, 2, 'done: not requeued again')
    await ctl.stop()
  })

  test('a failing reconcile is retried with the rate limiter; a TerminalError is logged and not retried', async () => {
    const clock = new FakeClock()
    const cap = captureLogger('warn')
    const attempts: string[] = []
    const ctl = controller('retry', { informers, logger: cap.logger, clock })
      .for(configMaps())
      .withOptions({ rateLimiter: new ItemExponentialFailureRateLimiter(10, 1_000) })
      .build((req, { retries }) => {
        attempts.push(`${req.name}#${retries}@${clock.now()}`)
        if (req.name === 'bad') throw new TerminalError('spec.size must be positive')
        if (retries < 2) throw new Error('backend unavailable')
      })
    server.create(cm('bad'))
    server.create(cm('flaky'))
    await ctl.start()
    await eventually(() => attempts.length === 2)
    await clock.advance(10)
    await eventually(() => attempts.length === 3)
    await clock.advance(20)
    await eventually(() => attempts.length === 4)
    await clock.advance(100_000)
    await settle()
    assert.deepEqual(attempts, ['bad#0@0', 'flaky#0@0', 'flaky#1@10', 'flaky#2@30'])
    const lines = cap.lines
    assert.ok(lines.some((l) => l.msg === 'terminal error; not retrying' && l.key === `${ns}/bad` && l.controller === 'retry'))
    assert.equal(lines.filter((l) => l.msg === 'handling failed; retrying with backoff' && l.key === `${ns}/flaky`).length, 2)
    await ctl.stop()
  })

  test('maxRetries drops a request that keeps failing', async () => {
    const clock = new FakeClock()
    const cap = captureLogger('error')
    let attempts = 0
    const ctl = controller('give-up', { informers, logger: cap.logger, clock })
      .for(configMaps())
      .withOptions({ maxRetries: 2, rateLimiter: new ItemExponentialFailureRateLimiter(1, 10) })
      .build(() => {
        attempts++
        throw new Error('always')
      })
    server.create(cm('x'))
    await ctl.start()
    // Delays 1 ms, 2 ms: advance exactly to each retry.
    await eventually(() => attempts === 1)
    await clock.advance(1)
    await eventually(() => attempts === 2)
    await clock.advance(2)
    await eventually(() => attempts === 3)
    await clock.advance(1_000)
    await settle()
    assert.equal(attempts, 3, 'a first try and two retries')
    assert.ok(cap.lines.some((l) => l.msg === 'handling failed too many times; dropping the key'))
    await ctl.stop()
  })

  test('owns: an owned ConfigMap created, changed or deleted reconciles its controller owner (a custom kind), not other owners', async () => {
    const seen: string[] = []
    const ctl = controller('sites', { informers, logger })
      .for(sites())
      .owns(configMaps())
      .build((req) => {
        seen.push(req.name)
      })
    const s1 = server.create(site('s1'))
    const s2 = server.create(site('s2'))
    await ctl.start()
    await eventually(() => seen.includes('s1') && seen.includes('s2'))
    seen.length = 0
    server.create(cm('child', {}, { ownerReferences: [ownerRef(s1, true)] }))
    await eventually(() => count(seen, 's1') === 1, 3000, `s1 once: ${seen}`)
    server.create(cm('not-controlled', {}, { ownerReferences: [ownerRef(s2, false)] }))
    server.create(cm('unowned'))
    server.update({ ...get('v1', 'ConfigMap', 'child'), data: { k: 'v' } })
    await eventually(() => count(seen, 's1') === 2, 3000, `s1 twice: ${seen}`)
    server.delete({ apiVersion: 'v1', kind: 'ConfigMap', name: 'child', namespace: ns })
    await eventually(() => count(seen, 's1') === 3)
    assert.deepEqual(seen, ['s1', 's1', 's1'], 'a non-controller owner reference and an unowned object reconcile nothing')
    await ctl.stop()
  })

  test('owns with metadataOnly (controller-runtime builder.OnlyMetadata): owned ConfigMaps are watched as PartialObjectMetadata, their owner references still reconcile the owner', async () => {
    const seen: string[] = []
    const owned = { ...configMaps(), metadataOnly: true }
    const ctl = controller('sites-meta', { informers, logger })
      .for(sites())
      .owns(owned)
      .build((req) => {
        seen.push(req.name)
      })
    const s1 = server.create(site('m1'))
    await ctl.start()
    await eventually(() => seen.includes('m1'))
    seen.length = 0
    server.create(cm('meta-child', {}, { ownerReferences: [ownerRef(s1, true)] }))
    await eventually(() => count(seen, 'm1') === 1, 3000, `m1 once: ${seen}`)
    const stored = informers.informer(owned).store.getByKey(`${ns}/meta-child`)
    assert.equal(stored?.kind, 'PartialObjectMetadata', 'the owns informer keeps metadata only')
    assert.equal(stored?.apiVersion, 'meta.k8s.io/v1')
    assert.equal((stored as KubeObject & { data?: unknown }).data, undefined)
    assert.notEqual(informers.informer(owned), informers.informer(configMaps()), 'a separate informer from the full ConfigMaps one')
    server.delete({ apiVersion: 'v1', kind: 'ConfigMap', name: 'meta-child', namespace: ns })
    await eventually(() => count(seen, 'm1') === 2)
    await ctl.stop()
  })

  test('owns with onlyController: false: Pods reconcile every Deployment that owns them', async () => {
    const seen: string[] = []
    const deployments = { apiVersion: 'apps/v1', kind: 'Deployment', namespace: ns }
    const ctl = controller('deployments', { informers, logger })
      .for(deployments)
      .owns({ apiVersion: 'v1', kind: 'Pod', namespace: ns }, { onlyController: false })
      .build((req) => {
        seen.push(req.name)
      })
    const deployment = (name: string) => ({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name, namespace: ns },
      spec: { selector: { matchLabels: { app: name } }, template: { metadata: { labels: { app: name } }, spec: { containers: [{ name: 'app', image: 'nginx' }] } } },
    })
    const web = server.create(deployment('web'))
    const api = server.create(deployment('api'))
    await ctl.start()
    await eventually(() => seen.length === 2)
    seen.length = 0
    server.create({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p', namespace: ns, ownerReferences: [ownerRef(web, true), ownerRef(api, false)] }, spec: { containers: [{ name: 'app', image: 'nginx' }] } })
    await eventually(() => seen.length === 2)
    assert.deepEqual(seen.sort(), ['api', 'web'])
    await ctl.stop()
  })

  test('a map function enqueues the old and the new target when a label moves', async () => {
    const seen: string[] = []
    const bySiteLabel = enqueueMapped((o) => {
      const target = (o.metadata?.labels as Record<string, string> | undefined)?.site
      return target ? [{ namespace: o.metadata?.namespace, name: target }] : []
    })
    const ctl = controller('mapped', { informers, logger })
      .for(sites())
      .watches(kind(configMaps()), bySiteLabel)
      .build((req) => {
        seen.push(req.name)
      })
    server.create(site('a'))
    server.create(site('b'))
    server.create(cm('shared', {}, { labels: { site: 'a' } }))
    await ctl.start()
    await eventually(() => count(seen, 'a') >= 1 && count(seen, 'b') === 1)
    await eventually(() => ctl.inFlight.length === 0)
    const before = { a: count(seen, 'a'), b: count(seen, 'b') }
    server.update({ ...get('v1', 'ConfigMap', 'shared'), metadata: { ...get('v1', 'ConfigMap', 'shared').metadata, labels: { site: 'b' } } })
    await eventually(() => count(seen, 'a') === before.a + 1 && count(seen, 'b') === before.b + 1)
    await ctl.stop()
  })

  test('withEventFilter(generationChanged): a status-only write reconciles nothing, a spec change does', async () => {
    const seen: string[] = []
    const store = informers.informer(sites()).store
    const ctl = controller('generation', { informers, logger })
      .for(sites())
      .withEventFilter(generationChanged)
      .build((req) => {
        seen.push(`${req.name}@${(store.get(req)?.metadata as { generation?: number } | undefined)?.generation}`)
      })
    server.create(site('s', { size: 1 }))
    await ctl.start()
    await eventually(() => seen.length === 1)
    server.updateStatus({ ...get('example.com/v1', 'Site', 's'), status: { ready: true } })
    // A later create is enqueued after the status write's event (one subscription, in
    // order; one worker, FIFO): once it is reconciled, the status write was filtered out.
    server.create(site('sentinel'))
    await eventually(() => seen.includes('sentinel@1'))
    assert.deepEqual(seen, ['s@1', 'sentinel@1'])
    server.update({ ...get('example.com/v1', 'Site', 's'), spec: { size: 2 } })
    await eventually(() => seen.includes('s@2'))
    await ctl.stop()
  })

  test('a label selector predicate on one watch reconciles only matching objects', async () => {
    const seen: string[] = []
    const ctl = controller('selected', { informers, logger })
      .for(configMaps(), { predicates: [labelSelector('app in (web,api),!legacy')] })
      .build((req) => {
        seen.push(req.name)
      })
    server.create(cm('web', {}, { labels: { app: 'web' } }))
    server.create(cm('db', {}, { labels: { app: 'db' } }))
    server.create(cm('old', {}, { labels: { app: 'web', legacy: 'true' } }))
    server.create(cm('api', {}, { labels: { app: 'api' } }))
    await ctl.start()
    await eventually(() => seen.length === 2)
    await ctl.stop()
    assert.deepEqual(seen.sort(), ['api', 'web'])
  })

  test('a channel source: external requests and objects are reconciled; the controller event filters do not apply to them', async () => {
    const seen: string[] = []
    const webhooks = new EventChannel<Request | KubeObject>()
    const ctl = controller('external', { informers, logger })
      .for(configMaps())
      .watches(channel(webhooks), enqueueObject())
      .withEventFilter(labelSelector('app=web'))
      .build((req) => {
        seen.push(`${req.namespace}/${req.name}`)
      })
    await ctl.start()
    webhooks.push({ namespace: ns, name: 'from-webhook' })
    webhooks.push({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'as-object', namespace: ns } })
    webhooks.push({ name: 'cluster-scoped' })
    await eventually(() => seen.length === 3)
    assert.deepEqual(seen, [`${ns}/from-webhook`, `${ns}/as-object`, 'undefined/cluster-scoped'])
    await ctl.stop()
    assert.equal(webhooks.pending, 0)
  })

  test('stopping stops the sources, then reconciles everything queued and running, then the workers', async () => {
    for (let i = 0; i < 20; i++) server.create(cm(`o${i}`))
    const done: string[] = []
    let started = 0
    const ctl = controller('drain', { informers, logger })
      .for(configMaps())
      .withOptions({ maxConcurrentReconciles: 2 })
      .build(async (req) => {
        started++
        await new Promise((r) => setTimeout(r, 3))
        done.push(req.name)
      })
    await ctl.start()
    await eventually(() => started > 0)
    await ctl.stop()
    assert.equal(done.length, 20, 'everything queued was reconciled before stop resolved')
    assert.equal(informers.informer(configMaps()).subscribers, 0, 'the source left the informer')
    server.create(cm('late'))
    await new Promise((r) => setTimeout(r, 20))
    assert.equal(done.includes('late'), false)
  })

  test('under a supervisor: the controller runs as a child, and stopping the tree drains it', async () => {
    const done: string[] = []
    const ctl = controller('child', { informers, logger })
      .for(configMaps())
      .build(async (req) => {
        await new Promise((r) => setTimeout(r, 2))
        done.push(req.name)
      })
    for (let i = 0; i < 10; i++) server.create(cm(`c${i}`))
    const root = await Supervisor.start([informers.childSpec(), ctl.childSpec()], { logger })
    await eventually(() => done.length > 0)
    await Supervisor.stop(root, 'shutdown')
    assert.equal(done.length, 10)
  })

  test('a worker killed mid-reconcile is restarted and the request reconciled again', async () => {
    let release!: () => void
    let blocked = true
    let killedSignal: AbortSignal | undefined
    const done: string[] = []
    const ctl = controller('killed', { informers, logger })
      .for(configMaps())
      .build(async (req, { signal }) => {
        if (req.name === 'stuck' && blocked) {
          blocked = false
          killedSignal = signal
          await new Promise<void>((r) => {
            release = r
          })
        }
        done.push(req.name)
      })
    server.create(cm('stuck'))
    await ctl.start()
    await eventually(() => ctl.inFlight.some((r) => r.name === 'stuck'))
    const workers = (await Supervisor.whichChildren(ctl.supervisor as Pid)).find((c) => c.id === 'workers')?.pid as Pid
    const [worker] = await Supervisor.whichChildren(workers)
    GenServer.exit(worker?.pid as Pid, 'kill')
    await eventually(() => done.includes('stuck'))
    assert.deepEqual(done, ['stuck'], 'reconciled once by the restarted worker (the killed one never finished)')
    assert.equal(killedSignal?.aborted, true, "the killed reconcile's signal aborted")
    release()
    await ctl.stop()
  })

  test('a source whose handler throws is restarted and replays its store: nothing is lost', async () => {
    const seen: string[] = []
    let throws = 1
    const flaky = enqueueMapped<KubeObject>((o) => {
      if (o.metadata?.name === 'boom' && throws-- > 0) throw new Error('handler bug')
      return [{ namespace: o.metadata?.namespace, name: o.metadata?.name ?? '' }]
    })
    const ctl = controller('replay', { informers, logger })
      .watches(kind(configMaps()), flaky)
      .build((req) => {
        seen.push(req.name)
      })
    await ctl.start()
    server.create(cm('boom'))
    server.create(cm('after'))
    await eventually(() => seen.includes('boom') && seen.includes('after'))
    await ctl.stop()
  })

  test('a controller built with a kubeConfig runs its own informers in its tree and stops them with it', async () => {
    const seen: string[] = []
    const ctl = controller('own-informers', { kubeConfig: server.kubeConfig, logger })
      .for(configMaps())
      .build((req) => {
        seen.push(req.name)
      })
    server.create(cm('x'))
    await ctl.start()
    await eventually(() => seen.includes('x'))
    // The list delivered x; the watch that follows it opens a moment later.
    await eventually(() => server.watches({ namespace: ns, resource: 'configmaps' }).length === 1)
    await ctl.stop()
    await eventually(() => server.watches({ namespace: ns, resource: 'configmaps' }).length === 0)
  })

  test('the builder rejects what cannot work', () => {
    assert.throws(() => controller('x', { informers }).build(() => undefined), /nothing to watch/)
    assert.throws(() => controller('x', { informers }).for(configMaps()).for(configMaps()), /once/)
    assert.throws(() => controller('x', { informers }).owns(configMaps()).build(() => undefined), /owns\(\.\.\.\) needs for/)
    assert.throws(() => controller('x', { informers }).for(configMaps()).withOptions({ maxConcurrentReconciles: 0 }).build(() => undefined), /maxConcurrentReconciles/)
    assert.throws(() => controller('x', {}).for(configMaps()).build(() => undefined), /informers .* or a kubeConfig/)
  })
})
