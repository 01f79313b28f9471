/**
 * examples/operator.ts's Site → ConfigMap operator, scaled out: every replica is a shard
 * of the ring `sites` and reconciles only the Sites assigned to it (label
 * `shard.sharding.kubevisor.dev/sites=<shard>`); the leader also runs the sharder, which
 * assigns Sites and hands them over when replicas come and go. The ConfigMaps a shard makes
 * carry its label, so they land in its own cache at once and follow their Site.
 *
 *   node --conditions=source examples/sharded-operator.ts --kubeconfig ~/.kube/config --leader-elect \
 *     --leader-election-namespace default --metrics-bind-address :8080 --health-probe-bind-address :8081
 *
 * Flags: a kubebuilder project's, plus `--namespace` (watch one namespace), `--ring`
 * (default `sites`), `--shard-name` (default host name + random suffix),
 * `--reconcile-delay=<duration>` (each reconcile first awaits this long: a simulated API
 * call, for the benchmark), `--concurrency=<n>` (Sites reconciled at once per replica,
 * controller-runtime's `MaxConcurrentReconciles`; default 4), `--webhook` (serve the ring's
 * mutating admission webhook on `--webhook-port`, default 9443, with `tls.crt`/`tls.key` from
 * `--webhook-cert-dir`; deploy deploy/sharding-webhook.yaml with it; off by default). The shard Lease uses the
 * leader-election timings.
 *
 * `--role=all|shard|sharder` (default `all`) picks the deployment shape:
 * - `all`: every replica is a shard, and the leader (`--leader-elect`) also runs the sharder;
 * - `shard`: a shard only (`Sharding`'s `sharder: false`; no leader election), for replicas
 *   whose sharder runs in its own Deployment, as timebertt/kubernetes-controller-sharding's;
 * - `sharder`: the sharder only, under leader election (run two for high availability): no
 *   shard Lease, no Site controller, no webhook.
 * Any other value is an `InvalidFlagError`.
 *
 * On SIGUSR2 it logs its heap (after a full GC when run with `--expose-gc`), CPU time, the
 * number of objects in its caches and in its sharder's (the leader's; 0 elsewhere and in
 * the `shard` role; the `sharder` role has no shard caches: 0 Sites and ConfigMaps)
 * (`bench/sharding.ts` reads it).
 *
 * Every reconcile that finds its Site is logged with its start and end time, the Site's
 * `spec.pages.rev` it saw, and the shard's name, so tests can check that no two replicas
 * ever reconcile one Site at overlapping times and that every change was reconciled.
 *
 * With `--demo` (or without `--kubeconfig` outside a cluster) it runs three shards in one
 * process against the embedded API server, adds a fourth, and stops.
 */
import { readFileSync } from 'node:fs'
import { KubeConfig, loadAllYaml, type V1ConfigMap } from '@kubernetes/client-node'
import * as prom from 'prom-client'
import {
  Client,
  createLogger,
  ignoreNotFound,
  InvalidFlagError,
  type KubeObject,
  type Logger,
  Manager,
  type ManagerFlags,
  type Plain,
  parseDuration,
  parseManagerFlags,
  type RingSpec,
  Sharder,
  Sharding,
} from 'kubevisor'

interface Site extends KubeObject {
  spec?: { pages?: Record<string, string> }
}

const FINALIZER = 'example.com/site-cleanup'
const WRITTEN_BY = 'example.com/written-by'

const flags = parseManagerFlags(process.argv.slice(2), {
  namespace: { type: 'string' },
  ring: { type: 'string', default: 'sites' },
  'shard-name': { type: 'string' },
  'reconcile-delay': { type: 'string' },
  concurrency: { type: 'string', default: '4' },
  demo: { type: 'boolean', default: false },
  webhook: { type: 'boolean', default: false },
  role: { type: 'string', default: 'all' },
})
const logger = createLogger({ base: { app: 'sharded-site-operator' } })
// Checked first, so a bad value fails at once in every mode.
const role = parseRole(String(flags.values.role))


/** `--concurrency`: a whole number of reconciles at once, at least 1. */
function parseConcurrency(text: string): number {
  const n = Number(text)
  if (!Number.isInteger(n) || n < 1) throw new InvalidFlagError(`--concurrency must be a whole number ≥ 1, got ${JSON.stringify(text)}`)
  return n
}

/** What a process of this example runs (see the header). */
type Role = 'all' | 'shard' | 'sharder'

/** `--role`: `all`, `shard` or `sharder`. */
function parseRole(text: string): Role {
  if (text === 'all' || text === 'shard' || text === 'sharder') return text
  throw new InvalidFlagError(`--role must be all, shard or sharder, got ${JSON.stringify(text)}`)
}

/** The ring of `--ring`, its Leases in the leader-election namespace. */
function ringOf(flags: ManagerFlags & { values: Record<string, unknown> }): RingSpec {
  const namespace = flags.values.namespace as string | undefined
  return {
    name: flags.values.ring as string,
    leaseNamespace: flags.leaderElectionNamespace ?? 'default',
    resource: { apiVersion: 'example.com/v1', kind: 'Site', namespace },
    controlled: [{ apiVersion: 'v1', kind: 'ConfigMap', namespace }],
  }
}

/**
 * The `sharder` role: a Manager whose only child is the ring's sharder, leader-only (so of
 * several such processes one assigns at a time). No shard Lease, no controller, no webhook.
 */
function buildSharder(kubeConfig: KubeConfig, flags: ManagerFlags & { values: Record<string, unknown> }, log: Logger): { mgr: Manager; sharder: Sharder } {
  const ring = ringOf(flags)
  const identity = (flags.values['shard-name'] as string | undefined) ?? Sharding.defaultShardName()
  const timing = { leaseDurationMs: flags.leaseDurationMs, renewDeadlineMs: flags.renewDeadlineMs, retryPeriodMs: flags.retryPeriodMs }
  const mgr = new Manager({
    kubeConfig,
    identity,
    logger: log,
    prometheus: prom,
    healthProbeBindAddress: flags.healthProbeBindAddress,
    metricsBindAddress: flags.metricsBindAddress,
    gracefulShutdownTimeoutMs: flags.gracefulShutdownTimeoutMs,
    leaderElection: flags.leaderElect && { id: flags.leaderElectionId ?? `${ring.name}-sharder`, namespace: ring.leaseNamespace, identity, releaseOnCancel: true, ...timing },
  })
  const sharder = new Sharder({ kubeConfig, ring, identity: mgr.identity, logger: log })
  mgr.add(sharder.childSpec(), { needLeaderElection: true })
  process.on('SIGUSR2', () => {
    ;(globalThis as { gc?: () => void }).gc?.()
    const { heapUsed } = process.memoryUsage()
    const { user, system } = process.cpuUsage()
    const sharderObjects = (sharder.informers?.informers ?? []).filter((i) => i.target.kind !== 'Lease').reduce((n, i) => n + i.store.list().length, 0)
    // Objects in the Manager's own caches (a shard's would be there): none, as nothing here asks for them.
    const shardCached = (kind: string) => mgr.informers.informers.filter((i) => i.target.kind === kind).reduce((n, i) => n + i.store.list().length, 0)
    log.info({ identity: mgr.identity, role: 'sharder', usage: { heapUsed, cpuMs: (user + system) / 1000, sites: shardCached('Site'), configMaps: shardCached('ConfigMap'), sharderObjects } }, 'usage')
  })
  mgr.addHealthzCheck('ping', () => {})
  return { mgr, sharder }
}

/** Builds the Manager, the sharding and the Site controller of one replica (`role` `all` or `shard`). */
function buildOperator(kubeConfig: KubeConfig, flags: ManagerFlags & { values: Record<string, unknown> }, log: Logger, role: Role = 'all'): { mgr: Manager; sharding: Sharding } {
  const namespace = flags.values.namespace as string | undefined
  const delayMs = flags.values['reconcile-delay'] ? parseDuration(flags.values['reconcile-delay'] as string) : 0
  const concurrency = parseConcurrency(String(flags.values.concurrency ?? '4'))
  const timing = { leaseDurationMs: flags.leaseDurationMs, renewDeadlineMs: flags.renewDeadlineMs, retryPeriodMs: flags.retryPeriodMs }
  const shardName = flags.values['shard-name'] as string | undefined
  const ring = ringOf(flags)
  const leaseNamespace = ring.leaseNamespace
  // The shard name doubles as the Manager's identity, so every log line names the shard.
  const identity = shardName ?? Sharding.defaultShardName()
  // A `shard` runs nothing leader-only: no leader election (its shard Lease is its membership).
  const leaderElect = role === 'all' && flags.leaderElect
  const mgr = new Manager({
    kubeConfig,
    identity,
    logger: log,
    prometheus: prom,
    healthProbeBindAddress: flags.healthProbeBindAddress,
    metricsBindAddress: flags.metricsBindAddress,
    gracefulShutdownTimeoutMs: flags.gracefulShutdownTimeoutMs,
    // Every replica serves the webhook (not only the leader): new Sites arrive at their shard already labelled.
    webhook: flags.values.webhook ? { port: flags.webhookPort, certDir: flags.webhookCertDir } : undefined,
    leaderElection: leaderElect && { id: flags.leaderElectionId ?? `${ring.name}-sharder`, namespace: leaseNamespace, identity, releaseOnCancel: true, ...timing },
  })
  const sharding = new Sharding(mgr, {
    kubeConfig,
    shardName: identity,
    ring,
    ...timing,
    webhook: flags.values.webhook === true,
    sharder: role === 'all',
    logger: log,
  })
  const client = new Client(kubeConfig, { fieldManager: 'sharded-site-operator', logger: log })
  const siteTarget = sharding.target({ apiVersion: 'example.com/v1', kind: 'Site', namespace })
  const configMapTarget = sharding.target({ apiVersion: 'v1', kind: 'ConfigMap', namespace })
  // Made before start: this shard's caches (its own objects only) are warm, readiness waits for them.
  const sites = mgr.informers.informer<Site>(siteTarget).store
  const configMaps = mgr.informers.informer(configMapTarget).store
  const reconciles = log.child({ identity: mgr.identity })

  sharding
    .controller('site')
    .for(siteTarget)
    .owns(configMapTarget)
    .withOptions({ maxConcurrentReconciles: concurrency })
    .build(async ({ namespace: ns = 'default', name }, { signal }) => {
      const site = sites.get({ namespace: ns, name })
      if (!site) return undefined
      const start = Date.now()
      try {
        if (delayMs > 0) await new Promise((resolve) => setTimeout(resolve, delayMs))
        signal.throwIfAborted()
        const cmName = `site-${name}`
        const finalizers = (site.metadata?.finalizers ?? []) as string[]
        if (site.metadata?.deletionTimestamp) {
          if (!finalizers.includes(FINALIZER)) return undefined
          await client.delete({ apiVersion: 'v1', kind: 'ConfigMap', namespace: ns, name: cmName }).catch(ignoreNotFound)
          await client.update({ ...site, metadata: { ...site.metadata, finalizers: finalizers.filter((f) => f !== FINALIZER) } }).catch(ignoreNotFound)
          return undefined
        }
        if (!finalizers.includes(FINALIZER)) {
          await client.update({ ...site, metadata: { ...site.metadata, finalizers: [...finalizers, FINALIZER] } }, { signal })
          return undefined
        }
        const desired: Plain<V1ConfigMap> = {
          apiVersion: 'v1',
          kind: 'ConfigMap',
          metadata: {
            name: cmName,
            namespace: ns,
            // This shard's label: the ConfigMap is in its cache from the start.
            labels: sharding.labels(),
            annotations: { [WRITTEN_BY]: mgr.identity },
            ownerReferences: [{ apiVersion: 'example.com/v1', kind: 'Site', name, uid: site.metadata?.uid as string, controller: true, blockOwnerDeletion: true }],
          },
          data: { ...(site.spec?.pages ?? {}) },
        }
        const current = configMaps.get({ namespace: ns, name: cmName }) as Plain<V1ConfigMap> | undefined
        if (!current) {
          // Not in this shard's cache: absent, or made by the previous shard and not yet relabelled by the sharder.
          await client.create(desired, { signal }).catch(async (err: { code?: string; status?: number }) => {
            if (err?.status !== 409) throw err
            const live = await client.get<Plain<V1ConfigMap>>({ apiVersion: 'v1', kind: 'ConfigMap', namespace: ns, name: cmName }, { signal })
            await client.update({ ...desired, metadata: { ...desired.metadata, resourceVersion: live.metadata?.resourceVersion } }, { signal })
          })
        } else if (JSON.stringify(current.data ?? {}) !== JSON.stringify(desired.data) || current.metadata?.annotations?.[WRITTEN_BY] !== mgr.identity) {
          await client.update({ ...desired, metadata: { ...desired.metadata, resourceVersion: current.metadata?.resourceVersion } }, { signal })
        }
        return undefined
      } finally {
        reconciles.info({ reconcile: { object: `${ns}/${name}`, start, end: Date.now(), rev: site.spec?.pages?.rev } }, 'reconciled')
      }
    })
  process.on('SIGUSR2', () => {
    ;(globalThis as { gc?: () => void }).gc?.()
    const { heapUsed } = process.memoryUsage()
    const { user, system } = process.cpuUsage()
    const sharderObjects = (sharding.sharder?.informers?.informers ?? []).filter((i) => i.target.kind !== 'Lease').reduce((n, i) => n + i.store.list().length, 0)
    log.info({ identity: mgr.identity, usage: { heapUsed, cpuMs: (user + system) / 1000, sites: sites.list().length, configMaps: configMaps.list().length, sharderObjects } }, 'usage')
  })
  mgr.addHealthzCheck('ping', () => {})
  mgr.addReadyzCheck('shard-lease', () => {
    if (!sharding.lease.holding) throw new Error('the shard lease is not held')
  })
  return { mgr, sharding }
}

/** The demo: the embedded API server, three shards in one process, twelve Sites, a fourth shard joining. */
async function demo(): Promise<void> {
  const { startApiServer } = await import('kubevisor/testing')
  const server = await startApiServer()
  const kc = server.kubeConfig
  const admin = new Client(kc)
  for (const doc of loadAllYaml(readFileSync(new URL('../deploy/crd.yaml', import.meta.url), 'utf8'))) await admin.create(doc)
  const quiet = createLogger({ level: process.env.KUBEVISOR_LOG_LEVEL ?? 'warn' })
  const base = { ...flags, leaderElect: true, leaderElectionNamespace: 'default', leaseDurationMs: 2_000, renewDeadlineMs: 1_500, retryPeriodMs: 300, metricsBindAddress: '0', healthProbeBindAddress: '0' }
  const start = (name: string) => buildOperator(kc, { ...base, values: { ...base.values, 'shard-name': name } }, quiet)
  const replicas = ['shard-a', 'shard-b', 'shard-c'].map(start)
  for (const r of replicas) await r.mgr.start()
  const names = Array.from({ length: 12 }, (_, i) => `site-${i}`)
  for (const n of names) await admin.create({ apiVersion: 'example.com/v1', kind: 'Site', metadata: { name: n, namespace: 'default' }, spec: { pages: { 'index.html': `<h1>${n}</h1>` } } })
  const label = replicas[0]?.sharding.shardLabel as string
  const until = async (what: string, check: () => boolean) => {
    for (let i = 0; i < 750 && !check(); i++) await new Promise((r) => setTimeout(r, 20))
    if (!check()) throw new Error(`timed out waiting for ${what}`)
  }
  const cm = (n: string) => server.get({ apiVersion: 'v1', kind: 'ConfigMap', namespace: 'default', name: `site-${n}` })
  const shardOf = (n: string) => server.get({ apiVersion: 'example.com/v1', kind: 'Site', namespace: 'default', name: n })?.metadata.labels?.[label]
  const live = () => new Set(replicas.map((r) => r.sharding.shardName))
  await until('every Site reconciled by its shard', () => names.every((n) => live().has(shardOf(n) as string) && cm(n)?.metadata.annotations?.[WRITTEN_BY] === shardOf(n)))
  const spread = () => {
    const c: Record<string, number> = {}
    for (const n of names) c[shardOf(n) as string] = (c[shardOf(n) as string] ?? 0) + 1
    return Object.entries(c).sort().map(([s, k]) => `${s}=${k}`).join(' ')
  }
  console.log(`sharded-operator: 3 shards, ${names.length} Sites: ${spread()}`)
  console.log('sharded-operator: every ConfigMap written by the shard its Site is assigned to')
  const before = new Map(names.map((n) => [n, shardOf(n)]))
  const d = start('shard-d')
  replicas.push(d)
  await d.mgr.start()
  await until('the fourth shard to take its share', () => names.some((n) => shardOf(n) === 'shard-d') && names.every((n) => cm(n)?.metadata.annotations?.[WRITTEN_BY] === shardOf(n)))
  const moved = names.filter((n) => before.get(n) !== shardOf(n))
  console.log(`sharded-operator: shard-d joined; ${moved.length} Sites handed over (drain, acknowledge, reassign), all to shard-d: ${moved.every((n) => shardOf(n) === 'shard-d')}`)
  for (const r of [...replicas].reverse()) await r.mgr.stop()
  console.log('sharded-operator: stopped; shard Leases released')
  await server.close()
}

const inCluster = Boolean(process.env.KUBERNETES_SERVICE_HOST)
if (flags.values.demo || process.env.KUBEVISOR_DEMO_SECONDS || (!flags.kubeconfig && !inCluster && !process.env.KUBECONFIG)) {
  // The demo runs every role in one process: a --role for a cluster run is a mistake, not a hint.
  if (role !== 'all') throw new InvalidFlagError(`--role=${role} needs a cluster (--kubeconfig, KUBECONFIG or in-cluster); the demo runs every role in one process`)
  await demo()
} else {
  const kubeConfig = new KubeConfig()
  if (flags.kubeconfig) kubeConfig.loadFromFile(flags.kubeconfig)
  else kubeConfig.loadFromDefault()
  await (role === 'sharder' ? buildSharder(kubeConfig, flags, logger) : buildOperator(kubeConfig, flags, logger, role)).mgr.run()
}
