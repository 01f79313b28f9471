/**
 * The reconcile loop (controller-runtime's model): a controller for a custom kind, Site,
 * that owns one ConfigMap per Site holding its pages.
 *
 * - The Site CRD is created first; the controller is `for(Site).owns(ConfigMap)`, plus a
 *   channel source for external events (as a webhook would send).
 * - The reconciler is level-triggered: it reads the Site and its ConfigMap from the shared
 *   informers' stores and creates or updates the ConfigMap through the API (client-node).
 * - Deleting the owned ConfigMap by hand reconciles its Site, which re-creates it.
 * - Everything runs under one supervisor; stopping it drains the controller.
 *
 *   ./dev node --conditions=source examples/reconcile.ts
 */
import { ApiextensionsV1Api, CoreV1Api, CustomObjectsApi, type V1ConfigMap } from '@kubernetes/client-node'
import { controller, createLogger, EventChannel, handlers, InformerFactory, type KubeObject, type Request, sources, Supervisor } from 'kubevisor'
import { startApiServer } from 'kubevisor/testing'

const server = await startApiServer()
const kubeConfig = server.kubeConfig
const logger = createLogger({ level: process.env.KUBEVISOR_LOG_LEVEL ?? 'warn' })
const core = kubeConfig.makeApiClient(CoreV1Api)
const custom = kubeConfig.makeApiClient(CustomObjectsApi)

// The custom kind: sites.example.com/v1, Site { spec: { pages: { [file]: content } } }.
await kubeConfig.makeApiClient(ApiextensionsV1Api).createCustomResourceDefinition({
  body: {
    metadata: { name: 'sites.example.com' },
    spec: {
      group: 'example.com',
      scope: 'Namespaced',
      names: { plural: 'sites', singular: 'site', kind: 'Site', listKind: 'SiteList' },
      versions: [{ name: 'v1', served: true, storage: true, subresources: { status: {} }, schema: { openAPIV3Schema: { type: 'object', x_kubernetes_preserve_unknown_fields: true } } }],
    },
  },
})
console.log('created CRD sites.example.com')

interface Site extends KubeObject {
  spec?: { pages?: Record<string, string> }
}
const siteTarget = { apiVersion: 'example.com/v1', kind: 'Site', namespace: 'default' }
const configMapTarget = { apiVersion: 'v1', kind: 'ConfigMap', namespace: 'default' }
const informers = new InformerFactory({ kubeConfig, logger })
const siteStore = informers.informer<Site>(siteTarget).store
const configMapStore = informers.informer(configMapTarget).store
const webhooks = new EventChannel<Request>()
const log: string[] = []
const say = (line: string) => {
  log.push(line)
  console.log(line)
}

// The reconciler: make the Site's ConfigMap hold exactly its pages.
const sitePages = controller('site-pages', { informers, logger })
  .for(siteTarget)
  .owns(configMapTarget)
  .watches(sources.channel(webhooks), handlers.enqueueObject())
  .withOptions({ maxConcurrentReconciles: 2 })
  .build(async ({ namespace = 'default', name }) => {
    const site = siteStore.get({ namespace, name })
    if (!site) {
      say(`reconcile ${namespace}/${name}: no such Site (its ConfigMap is left to the garbage collector)`)
      return
    }
    const desired: V1ConfigMap = {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: {
        name: `site-${name}`,
        namespace,
        ownerReferences: [{ apiVersion: 'example.com/v1', kind: 'Site', name, uid: site.metadata?.uid as string, controller: true }],
      },
      data: site.spec?.pages ?? {},
    }
    const current = configMapStore.get({ namespace, name: `site-${name}` }) as V1ConfigMap | undefined
    if (!current) {
      await core.createNamespacedConfigMap({ namespace, body: desired })
      say(`reconcile ${namespace}/${name}: created ConfigMap site-${name} with ${Object.keys(desired.data ?? {}).length} page(s)`)
    } else if (JSON.stringify(current.data ?? {}) !== JSON.stringify(desired.data)) {
      await core.replaceNamespacedConfigMap({ name: `site-${name}`, namespace, body: { ...desired, metadata: { ...desired.metadata, resourceVersion: current.metadata?.resourceVersion } } })
      say(`reconcile ${namespace}/${name}: updated ConfigMap site-${name} to ${Object.keys(desired.data ?? {}).length} page(s)`)
    } else {
      say(`reconcile ${namespace}/${name}: in sync`)
    }
  })

const root = await Supervisor.start([informers.childSpec(), sitePages.childSpec()], { logger })

const until = async (what: string, check: () => boolean) => {
  for (let i = 0; i < 250 && !check(); i++) await new Promise((r) => setTimeout(r, 20))
  if (!check()) throw new Error(`timed out waiting for ${what}`)
}
const site = (pages: Record<string, string>) => ({ apiVersion: 'example.com/v1', kind: 'Site', metadata: { name: 'blog', namespace: 'default' }, spec: { pages } })
const siteApi = { group: 'example.com', version: 'v1', namespace: 'default', plural: 'sites' }

// 1. A new Site: its ConfigMap is created.
await custom.createNamespacedCustomObject({ ...siteApi, body: site({ 'index.html': '<h1>blog</h1>' }) })
await until('the ConfigMap', () => configMapStore.get({ namespace: 'default', name: 'site-blog' }) !== undefined)

// 2. The Site changes: the ConfigMap follows.
const current = siteStore.get({ namespace: 'default', name: 'blog' }) as Site
await custom.replaceNamespacedCustomObject({ ...siteApi, name: 'blog', body: { ...site({ 'index.html': '<h1>blog</h1>', 'about.html': 'about' }), metadata: { ...current.metadata } } })
await until('the update', () => log.some((l) => l.includes('updated ConfigMap')))

// 3. Someone deletes the owned ConfigMap: the owner is reconciled and re-creates it.
await core.deleteNamespacedConfigMap({ name: 'site-blog', namespace: 'default' })
console.log('deleted ConfigMap site-blog by hand')
await until('the re-creation', () => log.filter((l) => l.includes('created ConfigMap site-blog')).length === 2)

// 4. An external event (e.g. a webhook from the CMS) asks for a reconcile. (Each write of
//    the ConfigMap above came back as an event of an owned object: one "in sync" each.)
const inSync = () => log.filter((l) => l.endsWith('in sync')).length
await until('the re-created ConfigMap to be seen', () => inSync() === 3)
webhooks.push({ namespace: 'default', name: 'blog' })
console.log('external event: default/blog')
await until('the external reconcile', () => inSync() === 4)

// Stop the tree: sources first, then the queue drains, then the informers.
await Supervisor.stop(root, 'shutdown')
const cm = server.get({ apiVersion: 'v1', kind: 'ConfigMap', name: 'site-blog', namespace: 'default' }) as { data?: Record<string, string> } | undefined
console.log(`stopped; ConfigMap site-blog has ${Object.keys(cm?.data ?? {}).sort().join(', ')}`)
await server.close()
