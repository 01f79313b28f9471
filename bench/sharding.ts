/**
 * Scaling out with sharding (a benchmark script, not a test): the same workload with 1, 2,
 * 3 and 5 replicas of `examples/sharded-operator.ts` as separate processes against one
 * embedded API server (in this process), and for the peer a user would otherwise run, one
 * replica of the unsharded `examples/operator.ts` (leader election, everything in one
 * process).
 *
 * Workload: `--sites` Sites (default 2,000) with `--page-bytes` of pages each (default
 * 2,048), so the caches (Sites and their ConfigMaps) dominate a replica's heap. Each
 * reconcile first awaits a simulated 20 ms API call (`--reconcile-delay=20ms`), 4 at once
 * per replica, then writes the ConfigMap.
 *
 * Per replica count N it reports:
 * - **heap**: each replica's heap after a full GC (SIGUSR2 → its `usage` log line) once
 *   converged, minus the heap of an idle replica with empty caches: the cache heap. Target:
 *   each of N shards ≤ 1.2/N of the single replica's cache heap.
 * - **CPU**: each replica's CPU time over the whole run.
 * - **reconciles/s**: every Site is changed at once; the time until every ConfigMap holds
 *   the new revision gives Sites reconciled per second. Target: ≥ 0.8 × N of one replica's.
 *   The ceiling is N × 4 / 20 ms = N × 200/s (the reconcile's own wait).
 * - **handover** (N = 3): a 4th replica joins — time from its shard Lease being held
 *   (its log) until every Site is on a live shard, drained and reconciled with the current
 *   revision by it; a replica is killed with `kill -9` — time until its Sites were
 *   reconciled elsewhere (bound: 2 × lease duration + the sharder's reaction).
 *
 *   nice -n 10 ./dev node --conditions=source --expose-gc bench/sharding.ts [--sites 2000] [--counts 1,2,3,5]
 *
 * Lease timings are the tests' short ones (2 s / 1.5 s / 0.3 s) so the run takes minutes.
 */
import { parseArgs } from 'node:util'
import { startApiServer } from '../lib/testing/index.ts'
import { kubeconfigFile, Replica, shardArgs, siteCrd, waitFor } from '../test/manager/replicas.ts'
import { formatTable, machine } from './support.ts'

const { values } = parseArgs({
  options: {
    sites: { type: 'string', default: '2000' },
    'page-bytes': { type: 'string', default: '2048' },
    counts: { type: 'string', default: '1,2,3,5' },
    peer: { type: 'boolean', default: true },
  },
})
const SITES = Number(values.sites)
const PAGE = 'x'.repeat(Number(values['page-bytes']))
const COUNTS = String(values.counts).split(',').map(Number)
const TIMING = { leaseMs: 2_000, renewMs: 1_500, retryMs: 300 }

const server = await startApiServer()
const kubeconfig = kubeconfigFile(server.kubeConfigYaml())
server.create(siteCrd() as never)
const env = { NODE_OPTIONS: '--expose-gc', KUBEVISOR_LOG_LEVEL: 'info' }

function spawnShard(ns: string, name: string, script = 'examples/sharded-operator.ts'): Replica {
  const args = shardArgs(kubeconfig, { namespace: ns, name, timing: TIMING, ring: script.includes('sharded') })
  if (!script.includes('sharded')) args.push(`--leader-election-id=site-operator-${ns}`)
  return new Replica(args, env, script)
}

async function usage(r: Replica): Promise<{ heapUsed: number; cpuMs: number; sites: number }> {
  const before = r.lines.length
  r.kill('SIGUSR2')
  await waitFor('a usage line', () => r.lines.slice(before).some((l) => l.usage !== undefined), 20_000, () => r.dump())
  return r.lines.slice(before).find((l) => l.usage !== undefined)?.usage as { heapUsed: number; cpuMs: number; sites: number }
}

function setSites(ns: string, rev: number): void {
  for (let i = 0; i < SITES; i++) {
    const name = `s${i}`
    const spec = { pages: { 'index.html': PAGE, rev: String(rev) } }
    const cur = server.get({ apiVersion: 'example.com/v1', kind: 'Site', namespace: ns, name })
    if (cur) server.update({ ...cur, spec } as never)
    else server.create({ apiVersion: 'example.com/v1', kind: 'Site', metadata: { name, namespace: ns }, spec } as never)
  }
}

function converged(ns: string, rev: number, live?: Set<string>): boolean {
  for (let i = 0; i < SITES; i++) {
    const cm = server.get({ apiVersion: 'v1', kind: 'ConfigMap', namespace: ns, name: `site-s${i}` }) as { data?: Record<string, string>; metadata: { annotations?: Record<string, string> } } | undefined
    if (cm?.data?.rev !== String(rev)) return false
    if (live && !live.has(cm.metadata.annotations?.['example.com/written-by'] as string)) return false
  }
  return true
}

interface Row {
  label: string
  n: number
  cacheHeapMb: number[]
  cpuMs: number[]
  perSec: number
  sites: number[]
}

async function run(n: number, script = 'examples/sharded-operator.ts', label = `sharded × ${n}`): Promise<{ row: Row; replicas: Replica[]; ns: string }> {
  const ns = `bench-${label.replace(/[^a-z0-9]/g, '')}-${n}`
  server.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } })
  const replicas = Array.from({ length: n }, (_, i) => spawnShard(ns, `${ns}-r${i}`, script))
  await waitFor('replicas up', () => replicas.every((r) => r.lines.some((l) => /manager started/.test(l.msg))), 60_000)
  await new Promise((r) => setTimeout(r, 1_500))
  // The idle heap: empty caches (the unsharded peer has no usage dump: throughput only).
  const sharded = script.includes('sharded')
  const idle = sharded ? await Promise.all(replicas.map(usage)) : []
  setSites(ns, 1)
  await waitFor('first convergence', () => converged(ns, 1), 600_000)
  // Every Site changes at once: reconciles per second until all ConfigMaps hold rev 2.
  const t0 = Date.now()
  setSites(ns, 2)
  await waitFor('second convergence', () => converged(ns, 2), 600_000)
  const perSec = SITES / ((Date.now() - t0) / 1000)
  await new Promise((r) => setTimeout(r, 500))
  const full = sharded ? await Promise.all(replicas.map(usage)) : [{ heapUsed: Number.NaN, cpuMs: Number.NaN, sites: SITES }]
  const row: Row = {
    label,
    n,
    cacheHeapMb: full.map((u, i) => (u.heapUsed - (idle[i]?.heapUsed ?? 0)) / 2 ** 20),
    cpuMs: full.map((u) => u.cpuMs),
    perSec,
    sites: full.map((u) => u.sites ?? SITES),
  }
  return { row, replicas, ns }
}

async function stop(replicas: Replica[]): Promise<void> {
  for (const r of replicas) if (r.alive) r.kill('SIGTERM')
  await Promise.all(replicas.map((r) => r.exited))
}

const rows: Row[] = []
const handover: string[] = []
if (values.peer) {
  const peer = await run(1, 'examples/operator.ts', 'unsharded operator.ts')
  rows.push(peer.row)
  await stop(peer.replicas)
}
for (const n of COUNTS) {
  const { row, replicas, ns } = await run(n)
  rows.push(row)
  if (n === 3) {
    // A 4th replica joins.
    const joiner = spawnShard(ns, `${ns}-r3`)
    replicas.push(joiner)
    await waitFor('the joiner to hold its lease', () => joiner.find(/holding the shard lease/) !== undefined, 60_000, () => joiner.dump())
    const heldAt = joiner.find(/holding the shard lease/)?.time as number
    const live = () => new Set(replicas.filter((r) => r.alive).map((r) => r.identity as string))
    const label = `shard.sharding.kubevisor.dev/${ns}`
    const drain = `drain.sharding.kubevisor.dev/${ns}`
    const sites = () => Array.from({ length: SITES }, (_, i) => server.get({ apiVersion: 'example.com/v1', kind: 'Site', namespace: ns, name: `s${i}` })?.metadata.labels ?? {})
    // Handed over: the joiner holds Sites, none is draining or unassigned, and each of the joiner's Sites was reconciled by it.
    await waitFor(
      'the handover to the joiner',
      () => {
        const all = sites()
        const mine = all.filter((l) => l[label] === joiner.identity).length
        const done = new Set(joiner.lines.filter((l) => l.reconcile).map((l) => (l.reconcile as { object: string }).object)).size
        return mine > 0 && done >= mine && all.every((l) => l[label] !== undefined && l[drain] === undefined)
      },
      120_000,
    )
    const moved = sites().filter((l) => l[label] === joiner.identity).length
    handover.push(`join: ${moved} of ${SITES} Sites (ideal ${Math.round(SITES / 4)}) drained, acknowledged, reassigned and reconciled by the 4th replica ${Date.now() - heldAt} ms after its shard Lease was held`)
    setSites(ns, 3)
    await waitFor('converged with the joiner', () => converged(ns, 3, live()), 120_000)
    // kill -9 one of the first three.
    const victim = replicas[1] as Replica
    const victimSites = new Set((await usage(victim)) && victim.lines.filter((l) => l.reconcile).map((l) => (l.reconcile as { object: string }).object))
    const killedAt = victim.kill('SIGKILL')
    await victim.exited
    setSites(ns, 4)
    await waitFor('converged without the victim', () => converged(ns, 4, live()), 120_000)
    handover.push(`kill -9: every Site reconciled on the remaining shards ${Date.now() - killedAt} ms after the kill (bound 2 × lease ${2 * TIMING.leaseMs} ms + sharder reaction; the victim held ~${victimSites.size} Sites)`)
  }
  await stop(replicas)
}
await server.close()

const single = rows.find((r) => r.label === 'sharded × 1') as Row
const singleCache = single.cacheHeapMb[0] as number
console.log(
  formatTable({
    title: `Sharding: ${SITES} Sites × ${PAGE.length} B pages, 20 ms simulated API call per reconcile, 4 concurrent per replica`,
    columns: ['replicas', 'cache heap per replica (MB)', 'max / single', 'target ≤ 1.2/N', 'CPU per replica (ms)', 'Sites per replica', 'reconciles/s', '× single', 'target ≥ 0.8 N', 'ceiling N × 200/s'],
    rows: rows.map((r) => {
      const max = Math.max(...r.cacheHeapMb)
      const measured = !Number.isNaN(max)
      return [
        r.label,
        measured ? r.cacheHeapMb.map((m) => m.toFixed(1)).join(' / ') : '— (no usage dump)',
        measured ? (max / singleCache).toFixed(2) : '—',
        (1.2 / r.n).toFixed(2),
        measured ? r.cpuMs.map((c) => Math.round(c)).join(' / ') : '—',
        r.sites.join(' / '),
        Math.round(r.perSec),
        (r.perSec / single.perSec).toFixed(2),
        (0.8 * r.n).toFixed(1),
        r.n * 200,
      ]
    }),
    notes: [...handover, machine(), 'The API server runs in the benchmark process on the same cores as every replica.'],
  }),
)
