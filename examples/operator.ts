/**
 * A real operator run by a Manager: Site (sites.example.com/v1) → ConfigMap `site-<name>`
 * holding the Site's pages, with an owner reference and a finalizer, deployable with
 * `deploy/` (two replicas, leader election on a Lease, probes, metrics).
 *
 *   node --conditions=source examples/operator.ts --kubeconfig ~/.kube/config --leader-elect \
 *     --leader-election-namespace default --metrics-bind-address :8080 --health-probe-bind-address :8081
 *
 * Flags are a kubebuilder project's (`--kubeconfig`, `--leader-elect`,
 * `--metrics-bind-address`, `--health-probe-bind-address`), the lease timings under
 * kube-controller-manager's names (`--leader-elect-lease-duration=15s`, ...), and for this
 * operator: `--namespace` (watch one namespace), `--heartbeat=<duration>` (re-reconcile
 * each Site that often, writing a heartbeat — used by the failover tests),
 * `--reconcile-delay=<duration>` (a slow reconcile, for the shutdown tests), `--concurrency=<n>`
 * (Sites reconciled at once, controller-runtime's `MaxConcurrentReconciles`; default 2).
 *
 * Every write of a ConfigMap records the writer's identity (annotation
 * `example.com/written-by`) and is logged with its start and end time, so tests can check
 * that no two replicas ever write in overlapping intervals.
 *
 * With `--demo` (or without `--kubeconfig`, outside a cluster and without `$KUBECONFIG`) it
 * runs a short demo against the embedded API server instead, and stops itself.
 */
import { readFileSync } from 'node:fs'
import { KubeConfig, loadAllYaml, type V1ConfigMap } from '@kubernetes/client-node'
import * as prom from 'prom-client'
import { Client, createLogger, ignoreNotFound, InvalidFlagError, type KubeObject, type Logger, Manager, type ManagerFlags, type Plain, parseDuration, parseManagerFlags, type ReconcileResult } from 'kubevisor'

interface Site extends KubeObject {
  spec?: { pages?: Record<string, string> }
}

const FINALIZER = 'example.com/site-cleanup'
const WRITTEN_BY = 'example.com/written-by'

const flags = parseManagerFlags(process.argv.slice(2), {
  namespace: { type: 'string' },
  heartbeat: { type: 'string' },
  'reconcile-delay': { type: 'string' },
  concurrency: { type: 'string', default: '2' },
  demo: { type: 'boolean', default: false },
})
const logger = createLogger({ base: { app: 'site-operator' } })

/** Builds the Manager and the Site controller. */
function buildOperator(kubeConfig: KubeConfig, flags: ManagerFlags & { values: Record<string, unknown> }, log: Logger): Manager {
  const namespace = flags.values.namespace as string | undefined
  const heartbeatMs = flags.values.heartbeat ? parseDuration(flags.values.heartbeat as string) : undefined
  const delayMs = flags.values['reconcile-delay'] ? parseDuration(flags.values['reconcile-delay'] as string) : 0
  const concurrency = Number(flags.values.concurrency ?? '2')
  if (!Number.isInteger(concurrency) || concurrency < 1) throw new InvalidFlagError(`--concurrency must be a whole number ≥ 1, got ${JSON.stringify(flags.values.concurrency)}`)
  const mgr = new Manager({
    kubeConfig,
    logger: log,
    prometheus: prom,
    healthProbeBindAddress: flags.healthProbeBindAddress,
    metricsBindAddress: flags.metricsBindAddress,
    gracefulShutdownTimeoutMs: flags.gracefulShutdownTimeoutMs,
    leaderElection: flags.leaderElect && {
      id: flags.leaderElectionId ?? 'site-operator',
      namespace: flags.leaderElectionNamespace,
      leaseDurationMs: flags.leaseDurationMs,
      renewDeadlineMs: flags.renewDeadlineMs,
      retryPeriodMs: flags.retryPeriodMs,
      releaseOnCancel: flags.releaseOnCancel,
    },
  })
  // Writes go through kubevisor's Client: plain JSON objects, the shape the stores hold.
  const client = new Client(kubeConfig, { fieldManager: 'site-operator', logger: log })
  const siteTarget = { apiVersion: 'example.com/v1', kind: 'Site', namespace }
  const configMapTarget = { apiVersion: 'v1', kind: 'ConfigMap', namespace }
  // Made before start: these caches run on every replica (warm standby), readiness waits for them.
  const sites = mgr.informers.informer<Site>(siteTarget).store
  const configMaps = mgr.informers.informer(configMapTarget).store
  let heartbeat = 0

  /** A write, timed and logged with the writer's identity (checked by the failover tests). */
  const writes = log.child({ identity: mgr.identity })
  const write = async <T>(object: string, what: string, send: () => Promise<T>): Promise<T> => {
    const start = Date.now()
    const result = await send()
    writes.info({ write: { object, what, start, end: Date.now() } }, `wrote ${object}`)
    return result
  }

  mgr
    .controller('site')
    .for(siteTarget)
    .owns(configMapTarget)
    .withOptions({ maxConcurrentReconciles: concurrency })
    .build(async ({ namespace: ns = 'default', name }, { log: rlog, signal }): Promise<ReconcileResult | undefined> => {
      rlog.info({ reconcile: 'begin', at: Date.now() }, 'reconcile begins')
      try {
        if (delayMs > 0) await new Promise((resolve) => setTimeout(resolve, delayMs))
        const site = sites.get({ namespace: ns, name })
        if (!site) return undefined
        const cmName = `site-${name}`
        const finalizers = (site.metadata?.finalizers ?? []) as string[]
        if (site.metadata?.deletionTimestamp) {
          // Being deleted: clean up what we made, then let it go.
          if (!finalizers.includes(FINALIZER)) return undefined
          if (configMaps.get({ namespace: ns, name: cmName })) {
            await write(`${ns}/${cmName}`, 'delete', () => client.delete({ apiVersion: 'v1', kind: 'ConfigMap', namespace: ns, name: cmName })).catch(ignoreNotFound)
          }
          // A 404: gone already (a reconcile of a stale cache entry).
          await write(`${ns}/${name}`, 'remove finalizer', () => client.update({ ...site, metadata: { ...site.metadata, finalizers: finalizers.filter((f) => f !== FINALIZER) } })).catch(
            ignoreNotFound,
          )
          return undefined
        }
        if (!finalizers.includes(FINALIZER)) {
          await write(`${ns}/${name}`, 'add finalizer', () => client.update({ ...site, metadata: { ...site.metadata, finalizers: [...finalizers, FINALIZER] } }))
          return undefined // the update comes back as an event
        }
        const data: Record<string, string> = { ...(site.spec?.pages ?? {}) }
        if (heartbeatMs) data['.heartbeat'] = String(++heartbeat)
        const desired: Plain<V1ConfigMap> = {
          apiVersion: 'v1',
          kind: 'ConfigMap',
          metadata: {
            name: cmName,
            namespace: ns,
            annotations: { [WRITTEN_BY]: mgr.identity },
            ownerReferences: [{ apiVersion: 'example.com/v1', kind: 'Site', name, uid: site.metadata?.uid as string, controller: true, blockOwnerDeletion: true }],
          },
          data,
        }
        const current = configMaps.get({ namespace: ns, name: cmName }) as Plain<V1ConfigMap> | undefined
        signal.throwIfAborted()
        if (!current) {
          await write(`${ns}/${cmName}`, 'create', () => client.create(desired, { signal }))
        } else if (heartbeatMs || JSON.stringify(current.data ?? {}) !== JSON.stringify(data)) {
          await write(`${ns}/${cmName}`, 'update', () => client.update({ ...desired, metadata: { ...desired.metadata, resourceVersion: current.metadata?.resourceVersion } }, { signal }))
        }
        return heartbeatMs ? { requeueAfter: heartbeatMs } : undefined
      } finally {
        rlog.info({ reconcile: 'end', at: Date.now() }, 'reconcile ends')
      }
    })
  mgr.addHealthzCheck('ping', () => {})
  mgr.addReadyzCheck('ping', () => {})
  return mgr
}


/** The demo: the embedded API server, the CRD from deploy/, one Site, one leader. */
async function demo(): Promise<void> {
  const { startApiServer } = await import('kubevisor/testing')
  const server = await startApiServer()
  const kc = server.kubeConfig
  const admin = new Client(kc)
  for (const doc of loadAllYaml(readFileSync(new URL('../deploy/crd.yaml', import.meta.url), 'utf8'))) await admin.create(doc)
  const quiet = createLogger({ level: process.env.KUBEVISOR_LOG_LEVEL ?? 'warn' })
  const mgr = buildOperator(
    kc,
    { ...flags, leaderElect: true, leaderElectionNamespace: 'default', releaseOnCancel: true, metricsBindAddress: '127.0.0.1:0', healthProbeBindAddress: '127.0.0.1:0' },
    quiet,
  )
  await mgr.start()
  console.log(`operator: identity ${mgr.identity}`)
  await admin.create({ apiVersion: 'example.com/v1', kind: 'Site', metadata: { name: 'blog', namespace: 'default' }, spec: { pages: { 'index.html': '<h1>blog</h1>' } } })
  const until = async (what: string, check: () => boolean) => {
    for (let i = 0; i < 500 && !check(); i++) await new Promise((r) => setTimeout(r, 20))
    if (!check()) throw new Error(`timed out waiting for ${what}`)
  }
  const cm = () => server.get({ apiVersion: 'v1', kind: 'ConfigMap', namespace: 'default', name: 'site-blog' })
  await until('the ConfigMap', () => cm() !== undefined)
  const status = mgr.status()
  console.log(`operator: leader=${status.isLeader} holder=${status.leaderElection?.holder === mgr.identity ? 'self' : status.leaderElection?.holder} caches synced=${status.cachesSynced}`)
  console.log(`operator: ConfigMap site-blog written by ${cm()?.metadata.annotations?.[WRITTEN_BY] === mgr.identity ? 'the leader' : 'someone else'}, owned by Site blog`)
  const site = server.get({ apiVersion: 'example.com/v1', kind: 'Site', namespace: 'default', name: 'blog' })
  console.log(`operator: Site blog finalizers ${JSON.stringify(site?.metadata.finalizers)}`)
  const scrape = await mgr.registry?.metrics()
  const total = /controller_runtime_reconcile_total\{controller="site",result="success"\} (\d+)/.exec(scrape ?? '')
  console.log(`operator: controller_runtime_reconcile_total{controller="site",result="success"} ${total?.[1]}`)
  // Deleting the Site: the finalizer removes the ConfigMap, then the Site goes.
  server.delete({ apiVersion: 'example.com/v1', kind: 'Site', namespace: 'default', name: 'blog' })
  await until('the cleanup', () => cm() === undefined && !server.get({ apiVersion: 'example.com/v1', kind: 'Site', namespace: 'default', name: 'blog' }))
  console.log('operator: Site blog deleted; the finalizer removed ConfigMap site-blog first')
  await mgr.stop()
  const lease = server.get({ apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', namespace: 'default', name: 'site-operator' }) as { spec?: { holderIdentity?: string } } | undefined
  console.log(`operator: stopped; lease released (holder ${JSON.stringify(lease?.spec?.holderIdentity)})`)
  await server.close()
}

const inCluster = Boolean(process.env.KUBERNETES_SERVICE_HOST)
// The examples test sets KUBEVISOR_DEMO_SECONDS: a demo run even where $KUBECONFIG names a cluster.
if (flags.values.demo || process.env.KUBEVISOR_DEMO_SECONDS || (!flags.kubeconfig && !inCluster && !process.env.KUBECONFIG)) {
  await demo()
} else {
  const kubeConfig = new KubeConfig()
  if (flags.kubeconfig) kubeConfig.loadFromFile(flags.kubeconfig)
  else kubeConfig.loadFromDefault()
  await buildOperator(kubeConfig, flags, logger).run()
}
