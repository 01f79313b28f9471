/**
 * The reconcile loop (controller-runtime's model): a controller for a custom kind, Site,
 * that owns one ConfigMap per Site holding its pages.
 *
 * - The Site CRD is created first; the controller is `for(Site).owns(ConfigMap)`, plus a
 *   channel source for external events (as a webhook would send). Site events pass the
 *   `generationChanged` predicate, so the controller's own status writes do not wake it.
 * - The reconciler is level-triggered: it reads the Site from the shared informer's store,
 *   brings its ConfigMap to the wanted state with `createOrUpdate` (reading the ConfigMap
 *   from the store too; nothing is written when it is already right), records an Event
 *   on the Site for each change, and keeps the Site's `Ready` condition.
 * - All writes go through kubevisor's `Client`: plain JSON objects, the same shape the
 *   stores hand out. Changing the Site from outside is a read-modify-write under
 *   `retryOnConflict`, re-reading from the API server on each try (the controller writes
 *   the Site's status at the same time).
 * - Deleting the owned ConfigMap by hand reconciles its Site, which re-creates it.
 * - Everything runs under one supervisor; stopping it drains the controller.
 *
 *   ./dev node --conditions=source examples/reconcile.ts
 */
import {
  Client,
  type Condition,
  controller,
  createLogger,
  createOrUpdate,
  DEFAULT_BACKOFF,
  EventChannel,
  EventRecorder,
  findStatusCondition,
  handlers,
  InformerFactory,
  type KubeObject,
  predicates,
  type Request,
  retryOnConflict,
  sources,
  Supervisor,
  setControllerReference,
  setStatusCondition,
} from 'kubevisor'
import { startApiServer } from 'kubevisor/testing'

const server = await startApiServer()
const kubeConfig = server.kubeConfig
const logger = createLogger({ level: process.env.KUBEVISOR_LOG_LEVEL ?? 'warn' })
const client = new Client(kubeConfig, { fieldManager: 'site-controller', logger })
const recorder = new EventRecorder(client, { reportingController: 'example.com/site-controller', logger })

// The custom kind: sites.example.com/v1, Site { spec: { pages: { [file]: content } }, status: { conditions } }.
await client.create({
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
console.log('created CRD sites.example.com')

interface Site extends KubeObject {
  spec?: { pages?: Record<string, string> }
  status?: { conditions?: Condition[] }
}
interface ConfigMap extends KubeObject {
  data?: Record<string, string>
}
const siteTarget = { apiVersion: 'example.com/v1', kind: 'Site', namespace: 'default' }
const configMapTarget = { apiVersion: 'v1', kind: 'ConfigMap', namespace: 'default' }
const informers = new InformerFactory({ kubeConfig, logger })
const siteStore = informers.informer<Site>(siteTarget).store
const configMapStore = informers.informer<ConfigMap>(configMapTarget).store
const webhooks = new EventChannel<Request>()
const log: string[] = []
const say = (line: string) => {
  log.push(line)
  console.log(line)
}

// The reconciler: make the Site's ConfigMap hold exactly its pages, and say so in its status.
const sitePages = controller('site-pages', { informers, logger })
  .for(siteTarget, { predicates: [predicates.generationChanged] })
  .owns(configMapTarget)
  .watches(sources.channel(webhooks), handlers.enqueueObject())
  .withOptions({ maxConcurrentReconciles: 2 })
  .build(async ({ namespace = 'default', name }) => {
    const site = siteStore.get({ namespace, name })
    if (!site) {
      say(`reconcile ${namespace}/${name}: no such Site (its ConfigMap is left to the garbage collector)`)
      return
    }
    const pages = site.spec?.pages ?? {}
    const skeleton: ConfigMap = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: `site-${name}`, namespace } }
    const { result } = await createOrUpdate(
      client,
      skeleton,
      (cm) => {
        setControllerReference(site, cm)
        cm.data = { ...pages }
      },
      { store: configMapStore },
    )
    const count = Object.keys(pages).length
    if (result === 'created') {
      say(`reconcile ${namespace}/${name}: created ConfigMap site-${name} with ${count} page(s)`)
      recorder.event(site, 'Normal', 'ConfigMapCreated', `created ConfigMap site-${name} with ${count} page(s)`)
    } else if (result === 'updated') {
      say(`reconcile ${namespace}/${name}: updated ConfigMap site-${name} to ${count} page(s)`)
      recorder.event(site, 'Normal', 'ConfigMapUpdated', `updated ConfigMap site-${name} to ${count} page(s)`)
    } else {
      say(`reconcile ${namespace}/${name}: in sync`)
    }
    // The Ready condition: written only when it changes (its lastTransitionTime only when the status does).
    const conditions = structuredClone(site.status?.conditions ?? [])
    const ready = { type: 'Ready', status: 'True', reason: 'ConfigMapInSync', message: `${count} page(s) served`, observedGeneration: site.metadata?.generation as number | undefined } as const
    if (setStatusCondition(conditions, ready)) {
      await client.status.patch({ apiVersion: 'example.com/v1', kind: 'Site', namespace, name }, { status: { conditions } })
    }
  })

const root = await Supervisor.start([informers.childSpec(), sitePages.childSpec()], { logger })

const until = async (what: string, check: () => boolean) => {
  for (let i = 0; i < 250 && !check(); i++) await new Promise((r) => setTimeout(r, 20))
  if (!check()) throw new Error(`timed out waiting for ${what}`)
}
const site = (pages: Record<string, string>): Site => ({ apiVersion: 'example.com/v1', kind: 'Site', metadata: { name: 'blog', namespace: 'default' }, spec: { pages } })
const blog = { apiVersion: 'example.com/v1', kind: 'Site', namespace: 'default', name: 'blog' }

// 1. A new Site: its ConfigMap is created.
await client.create(site({ 'index.html': '<h1>blog</h1>' }))
await until('the ConfigMap', () => configMapStore.get({ namespace: 'default', name: 'site-blog' }) !== undefined)

// 2. The Site changes: the ConfigMap follows. A read-modify-write of the Site races the
//    controller, which writes the Site's status meanwhile: the update carries the
//    resourceVersion it read, so a write in between makes it fail with 409 Conflict. Re-read
//    and retry, as client-go's RetryOnConflict example does — and re-read from the API
//    server, not from the informer's store: the store may not have seen the write that caused
//    the conflict yet (it lags behind the server, more so under load), and a retry with the
//    same stale object conflicts again until the tries run out.
await until('the Ready condition', () => findStatusCondition(siteStore.get({ namespace: 'default', name: 'blog' })?.status?.conditions, 'Ready') !== undefined)
await retryOnConflict(DEFAULT_BACKOFF, async () => {
  const current = await client.get<Site>(blog)
  current.spec = { ...current.spec, pages: { 'index.html': '<h1>blog</h1>', 'about.html': 'about' } }
  return client.update(current)
})
await until('the update', () => log.some((l) => l.includes('updated ConfigMap')))

// 3. Someone deletes the owned ConfigMap: the owner is reconciled and re-creates it.
await client.delete({ apiVersion: 'v1', kind: 'ConfigMap', namespace: 'default', name: 'site-blog' })
console.log('deleted ConfigMap site-blog by hand')
await until('the re-creation', () => log.filter((l) => l.includes('created ConfigMap site-blog')).length === 2)

// 4. An external event (e.g. a webhook from the CMS) asks for a reconcile. (Each write of
//    the ConfigMap above came back as an event of an owned object: one "in sync" each.)
const inSync = () => log.filter((l) => l.endsWith('in sync')).length
await until('the re-created ConfigMap to be seen', () => inSync() === 3)
webhooks.push({ namespace: 'default', name: 'blog' })
console.log('external event: default/blog')
await until('the external reconcile', () => inSync() === 4)

// Stop the tree: sources first, then the queue drains, then the informers; then the Events go out.
await Supervisor.stop(root, 'shutdown')
await recorder.close()
const cm = await client.get<ConfigMap>({ apiVersion: 'v1', kind: 'ConfigMap', namespace: 'default', name: 'site-blog' })
console.log(`stopped; ConfigMap site-blog has ${Object.keys(cm.data ?? {}).sort().join(', ')}`)
const final = await client.get<Site>(blog)
const ready = findStatusCondition(final.status?.conditions, 'Ready')
console.log(`Site blog: Ready=${ready?.status} (${ready?.reason}: ${ready?.message}, observedGeneration ${ready?.observedGeneration} of ${final.metadata?.generation})`)
const events = await client.list<KubeObject & { reason?: string }>({ apiVersion: 'v1', kind: 'Event', namespace: 'default' })
const reasons = [...new Set(events.items.map((e) => e.reason))].sort()
console.log(`events on Site blog: ${reasons.join(', ')} (${recorder.stats.written} written, ${recorder.stats.dropped} dropped)`)
await server.close()
