/**
 * The kubevisor side of `bench/controller.ts`: the same small controller as
 * `bench/controller-runtime/main.go` (`for(Site)` with the generationChanged predicate,
 * `.owns(ConfigMap)`, the ConfigMap kept by createOrUpdate against the informer cache with
 * a controller reference), run as its own process by the harness.
 *
 * It imports kubevisor by its package name, as a user's operator does: run plainly it loads
 * the built JavaScript of `dist/` (what `npm install kubevisor` gives), the way the Go side
 * runs a compiled binary; with `--conditions=source` it loads the TypeScript sources
 * instead (`bench/controller.ts --kubevisor-from source`).
 *
 *   node bench/controller-kubevisor.ts controller --kubeconfig F --namespace NS [--concurrency 2] [--qps -1] [--burst 0]
 *   node bench/controller-kubevisor.ts idle     # the fixed cost: modules loaded, a KubeConfig made, nothing running
 *
 * Prints `{"ready":true}` once its caches are synced, then a `{"stats":…}` line every
 * `--stats` ms (default 1000) and once more at SIGTERM.
 */
import { parseArgs } from 'node:util'
import { KubeConfig } from '@kubernetes/client-node'
import { Client, controller, createLogger, createOrUpdate, InformerFactory, type KubeObject, predicates, Supervisor, setControllerReference, ThrottledTransport } from 'kubevisor'

interface Site extends KubeObject {
  spec?: { pages?: Record<string, string> }
}
interface ConfigMap extends KubeObject {
  data?: Record<string, string>
}

async function run(argv: string[]): Promise<void> {
  const { values } = parseArgs({ args: argv, options: { kubeconfig: { type: 'string' }, namespace: { type: 'string' }, concurrency: { type: 'string' }, qps: { type: 'string' }, burst: { type: 'string' }, stats: { type: 'string' } } })
  const kubeConfig = new KubeConfig()
  kubeConfig.loadFromFile(values.kubeconfig as string)
  const namespace = values.namespace as string
  const logger = createLogger({ level: process.env.BENCH_DEBUG ? 'debug' : 'error' })
  // Client-side throttling as client-go's rest.Config QPS/Burst; qps -1 means none (as client-go).
  const qps = Number(values.qps ?? -1)
  const transport = qps > 0 ? new ThrottledTransport(kubeConfig, { qps, burst: Number(values.burst ?? 1) }) : undefined
  const client = new Client(kubeConfig, { logger, transport })
  const informers = new InformerFactory({ kubeConfig, logger })
  const sites = informers.informer<Site>({ apiVersion: 'example.com/v1', kind: 'Site', namespace }).store
  const configMaps = informers.informer<ConfigMap>({ apiVersion: 'v1', kind: 'ConfigMap', namespace }).store
  let reconciles = 0
  let errors = 0
  const sitePages = controller('site-pages', { informers, logger })
    .for({ apiVersion: 'example.com/v1', kind: 'Site', namespace }, { predicates: [predicates.generationChanged] })
    .owns({ apiVersion: 'v1', kind: 'ConfigMap', namespace })
    .withOptions({ maxConcurrentReconciles: Number(values.concurrency ?? 2) })
    .build(async ({ namespace: ns = namespace, name }) => {
      reconciles++
      const site = sites.get({ namespace: ns, name })
      if (!site) return // the ConfigMap is left to the garbage collector
      try {
        await createOrUpdate(
          client,
          { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: `site-${name}`, namespace: ns } } as ConfigMap,
          (cm) => {
            setControllerReference(site, cm)
            cm.data = { ...site.spec?.pages }
          },
          { store: configMaps },
        )
      } catch (err) {
        errors++
        throw err
      }
    })
  const stats = () => {
    const m = process.memoryUsage()
    console.log(JSON.stringify({ stats: { reconciles, errors, heapUsed: m.heapUsed, heapTotal: m.heapTotal, external: m.external } }))
  }
  const root = await Supervisor.start([informers.childSpec(), sitePages.childSpec()], { logger })
  await Promise.all([sites.synced, configMaps.synced])
  console.log(JSON.stringify({ ready: true }))
  const timer = setInterval(stats, Number(values.stats ?? 1000))
  process.once('SIGTERM', async () => {
    clearInterval(timer)
    await Supervisor.stop(root, 'shutdown')
    stats()
    process.exit(0)
  })
}

/** The fixed cost: the modules loaded, a KubeConfig made, nothing running. */
async function idle(): Promise<void> {
  new KubeConfig().loadFromOptions({ clusters: [], users: [], contexts: [] })
  // Touch the entry points so nothing is left unloaded that the controller loads.
  void [Client, controller, InformerFactory, Supervisor]
  await new Promise((r) => setTimeout(r, 1000))
  const m = process.memoryUsage()
  console.log(JSON.stringify({ rss: m.rss, heapUsed: m.heapUsed }))
}

if (process.argv[2] === 'controller') await run(process.argv.slice(3))
else if (process.argv[2] === 'idle') await idle()
else {
  console.error('usage: node bench/controller-kubevisor.ts controller|idle …')
  process.exit(2)
}
