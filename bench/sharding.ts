/**
 * Scaling out with sharding (a benchmark script, not a test): the same workload with 1, 2,
 * 3 and 5 replicas of `examples/sharded-operator.ts` as separate processes against one
 * embedded API server (in a child process, so the harness's own reads and writes never hold
 * back the replicas' watches and Lease renewals), and for the peer a user would otherwise run, one
 * replica of the unsharded `examples/operator.ts` (leader election, everything in one
 * process) with the same concurrency and reconcile delay.
 *
 * Workload: `--sites` Sites (default 2,000) with `--page-bytes` of pages each (default
 * 2,048), so the caches (Sites and their ConfigMaps) dominate a replica's heap. Each
 * reconcile first awaits a simulated API call (`--reconcile-delay`, default 20ms), then
 * writes the ConfigMap; `--concurrency` reconciles at once per replica (default 4; 1 is
 * controller-runtime's default `MaxConcurrentReconciles`). Both flags are passed to every
 * replica (`--concurrency`, `--reconcile-delay` of the examples).
 *
 * Per replica count N it reports:
 * - **cache heap**: the heap the cached objects hold. Each replica logs its heap after a
 *   full GC on SIGUSR2 (its `usage` line). Once converged, the heap is taken (`converged`);
 *   then every Site is deleted (the operator's finalizer removes each ConfigMap), and once
 *   the API server holds no Site and no ConfigMap and the replica's caches — its shard's
 *   and, on the leader, its sharder's — report 0 objects, the heap is taken again
 *   (`emptied`): the same process, after the same work, with empty caches. Cache heap =
 *   converged − emptied. Target: each of N shards ≤ 1.2/N of the single replica's.
 *   For comparison the old figure is printed beside it: converged − `idle`, the heap of the
 *   replica before it had seen any object. That baseline is taken before the process did
 *   any work, so code the JIT compiled, the queue's and workers' structures, metrics
 *   children and the like land in it as if they were cache (the README once fitted a
 *   ≈ 2.6 MB per-process term to it that does not divide with N). `emptied − idle` is that
 *   residue. The leader (L) also holds its sharder's metadata-only caches of every Site and
 *   ConfigMap. Every replica runs with V8's bytecode flushing off
 *   (`bench/fixtures/pin-bytecode.mjs`): otherwise, most likely, code compiled for the burst of changes
 *   just before the `converged` reading is flushed by the `emptied` one and counted as
 *   cache (measured: up to 11 MB per shard at 10,000 Sites, N = 3; with flushing off the
 *   first reading and the refill check differ by at most 3.1 MB on 12 of 15 shards over five
 *   runs, README "Scaling out"). Each
 *   replica's `emptied` heap itself (what a process carries besides its objects) is printed
 *   in a note, for sizing pods.
 * - **CPU**: each replica's CPU time from its start until converged (before the deletion).
 * - **reconciles/s**: every Site is changed at once; the time until every ConfigMap holds
 *   the new revision gives Sites reconciled per second. Target: ≥ 0.8 × N of one replica's.
 *   The ceiling is N × concurrency / reconcile delay (N × 200/s with 4 and 20 ms, N × 50/s
 *   with 1 and 20 ms) — reachable only while the cores keep up.
 *   With N = 3 the Sites are then created again and the heap once converged minus the
 *   emptied heap is printed as a check (it should give the cache heap again).
 * - **handover** (N = 3, after the Sites are created again): a 4th replica joins — time
 *   from its shard Lease being held (its log) until every Site is on a live shard, drained
 *   and reconciled with the current revision by it; a replica is killed with `kill -9` —
 *   time until its Sites were reconciled elsewhere (bound: 2 × lease duration + the
 *   sharder's reaction).
 *
 * - **`--sharder-process`**: the sharder in its own process (timebertt's deployment shape):
 *   every replica runs with `--role=shard` and one extra process with `--role=sharder`. The
 *   heap, CPU and Sites columns then hold the shards only; the sharder process's cache heap
 *   (converged − emptied, the same way) and CPU are printed in a note per N.
 *
 *   nice -n 10 ./dev node --conditions=source --expose-gc bench/sharding.ts [--sites 2000] [--counts 1,2,3,5]
 *     [--concurrency 4] [--reconcile-delay 20ms] [--page-bytes 2048] [--no-peer] [--sharder-process] [--lease 2s]
 *
 * Progress goes to stderr; a replica that exits unasked (one that lost its Lease exits by
 * design) ends the run with its log. SHARDING_REPLICA_FLAGS and SHARDING_SERVER_FLAGS add
 * node flags to the replicas and to the API server's process (e.g. `--cpu-prof`, or
 * `--import=<file>` of an event-loop-delay monitor).
 *
 * Lease timings default to the tests' short ones (2 s / 1.5 s / 0.3 s) so the run takes
 * minutes; `--lease` sets the duration (renew deadline 3/4, retry 3/20 of it) for large runs.
 */
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import type { ApiServer } from '../lib/testing/apiserver/server.ts'
import { startApiServer } from '../lib/testing/index.ts'
import type { KubeObject } from '../lib/watch/index.ts'
import { kubeconfigFile, Replica, type ShardUsage as Usage, shardArgs, shardUsage as usage, siteCrd, waitFor } from '../test/manager/replicas.ts'
import { forkServer, formatTable, machine, type ServerRequest, SOURCE_FLAGS, serveRequests } from './support.ts'

const { values } = parseArgs({
  allowNegative: true,
  options: {
    sites: { type: 'string', default: '2000' },
    'page-bytes': { type: 'string', default: '2048' },
    counts: { type: 'string', default: '1,2,3,5' },
    peer: { type: 'boolean', default: true },
    concurrency: { type: 'string', default: '4' },
    'reconcile-delay': { type: 'string', default: '20ms' },
    'sharder-process': { type: 'boolean', default: false },
    lease: { type: 'string', default: '2s' },
    serve: { type: 'boolean', default: false },
  },
})

/** A whole number ≥ `min` from a flag, or exit with a message. */
function wholeFlag(name: string, text: string, min: number): number {
  const n = Number(text)
  if (!Number.isInteger(n) || n < min) throw new TypeError(`--${name} must be a whole number ≥ ${min}, got ${JSON.stringify(text)}`)
  return n
}

const SITES = wholeFlag('sites', String(values.sites), 1)
const PAGE = 'x'.repeat(wholeFlag('page-bytes', String(values['page-bytes']), 0))
const COUNTS = String(values.counts).split(',').map((c) => wholeFlag('counts', c, 1))
const CONCURRENCY = wholeFlag('concurrency', String(values.concurrency), 1)
const DELAY = String(values['reconcile-delay'])
/** Milliseconds of a duration flag such as `20ms` or `0.5s`, or exit with a message. */
function durationFlag(name: string, text: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s)$/.exec(text)
  if (!m) throw new TypeError(`--${name} must be a duration such as 20ms or 0.5s, got ${JSON.stringify(text)}`)
  return Number(m[1]) * (m[2] === 's' ? 1000 : 1)
}
const DELAY_MS = durationFlag('reconcile-delay', DELAY)
/** Reconciles per second one replica can reach at most: its concurrency over the simulated call. */
const CEILING = DELAY_MS > 0 ? (CONCURRENCY * 1000) / DELAY_MS : Number.POSITIVE_INFINITY
/**
 * Shard and leader Leases: `--lease` (default 2s, the tests' short timings) with the renew
 * deadline at 3/4 and the retry period at 3/20 of it, the ratios of controller-runtime's
 * defaults (15 s / 10 s / 2 s is 2/3 and 2/15; the tests' 2 s / 1.5 s / 0.3 s keep a little
 * more room to renew).
 */
const LEASE_MS = durationFlag('lease', String(values.lease))
const TIMING = { leaseMs: LEASE_MS, renewMs: Math.round(LEASE_MS * 0.75), retryMs: Math.round(LEASE_MS * 0.15) }
/** The sharder in its own process: shards run `--role=shard`, one more process `--role=sharder`. */
const SHARDER_PROCESS = values['sharder-process'] === true

// --- the API server (a child process) --------------------------------------------------

/**
 * The child: the embedded API server and the harness's reads and writes of it, done in
 * process (no HTTP), in slices of 250 with a turn of the event loop between them so the
 * server keeps answering the replicas' watches and Lease renewals while 10,000 Sites are
 * written or checked.
 */
async function serve(): Promise<void> {
  // The default history (10,000 events): a larger one kept every version of every 2 KB Site
  // alive, and the heap's full GCs then paused the server for up to 1.9 s (seen at 10,000 Sites).
  const api: ApiServer = await startApiServer()
  api.create(siteCrd() as never)
  const site = (ns: string, i: number) => ({ apiVersion: 'example.com/v1', kind: 'Site', namespace: ns, name: `s${i}` })
  const turn = (i: number) => (i % 250 === 249 ? new Promise((r) => setImmediate(r)) : undefined)
  serveRequests(async (req) => {
    const ns = req.ns as string
    switch (req.type) {
      case 'kubeconfig':
        return api.kubeConfigYaml()
      case 'namespace':
        api.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } })
        return true
      case 'setSites': {
        // Creates or changes every Site.
        for (let i = 0; i < SITES; i++) {
          await turn(i)
          const spec = { pages: { 'index.html': PAGE, rev: String(req.rev) } }
          const cur = api.get(site(ns, i), { zeroCopy: true })
          if (cur) api.update({ ...cur, spec } as KubeObject)
          else api.create({ apiVersion: 'example.com/v1', kind: 'Site', metadata: { name: `s${i}`, namespace: ns }, spec } as KubeObject)
        }
        return true
      }
      case 'converged': {
        // Every Site's ConfigMap holds the revision (written by a live replica when `live` is given).
        const live = req.live ? new Set(req.live as string[]) : undefined
        for (let i = 0; i < SITES; i++) {
          await turn(i)
          const cm = api.get({ apiVersion: 'v1', kind: 'ConfigMap', namespace: ns, name: `site-s${i}` }, { zeroCopy: true }) as { data?: Record<string, string>; metadata: { annotations?: Record<string, string> } } | undefined
          if (cm?.data?.rev !== String(req.rev)) return false
          if (live && !live.has(cm.metadata.annotations?.['example.com/written-by'] as string)) return false
        }
        return true
      }
      case 'deleteSites': {
        let deleted = 0
        for (const s of api.list('example.com/v1', 'Site', ns, { zeroCopy: true })) {
          await turn(deleted++)
          api.delete({ apiVersion: 'example.com/v1', kind: 'Site', namespace: ns, name: s.metadata.name as string })
        }
        return true
      }
      case 'gone':
        return api.list('example.com/v1', 'Site', ns, { zeroCopy: true }).length === 0 && !api.list('v1', 'ConfigMap', ns, { zeroCopy: true }).some((c) => c.metadata.name?.startsWith('site-'))
      case 'assignment': {
        // Sites per shard label value, and how many are unassigned or draining.
        const label = `shard.sharding.kubevisor.dev/${ns}`
        const drain = `drain.sharding.kubevisor.dev/${ns}`
        const byShard: Record<string, number> = {}
        let unassigned = 0
        let draining = 0
        for (let i = 0; i < SITES; i++) {
          await turn(i)
          const labels = api.get(site(ns, i), { zeroCopy: true })?.metadata?.labels ?? {}
          const shard = labels[label]
          if (shard === undefined) unassigned++
          else byShard[shard] = (byShard[shard] ?? 0) + 1
          if (labels[drain] !== undefined) draining++
        }
        return { byShard, unassigned, draining }
      }
      default:
        throw new TypeError(`sharding server: unknown request ${JSON.stringify(req)}`)
    }
  })
}

if (values.serve) {
  await serve()
} else {
  await main()
}

async function main(): Promise<void> {
const server = await forkServer(fileURLToPath(import.meta.url), ['--serve', ...process.argv.slice(2)], {
  execArgv: [...SOURCE_FLAGS, ...(process.env.SHARDING_SERVER_FLAGS?.split(' ').filter(Boolean) ?? [])],
  label: 'sharding API server',
})
const ask = <T>(req: ServerRequest) => server.ask<T>(req)
const kubeconfig = kubeconfigFile(await ask<string>({ type: 'kubeconfig' }))
// --no-flush-bytecode (bench/fixtures/pin-bytecode.mjs): code stays put between the heap readings.
const PIN_BYTECODE = new URL('./fixtures/pin-bytecode.mjs', import.meta.url).href
const env = { NODE_OPTIONS: `--expose-gc --import=${PIN_BYTECODE} ${process.env.SHARDING_REPLICA_FLAGS ?? ''}`.trim(), KUBEVISOR_LOG_LEVEL: 'info' }

function spawnShard(ns: string, name: string, script = 'examples/sharded-operator.ts', role?: 'shard' | 'sharder'): Replica {
  const sharded = script.includes('sharded')
  const args = shardArgs(kubeconfig, {
    namespace: ns,
    name,
    timing: TIMING,
    ring: sharded,
    concurrency: CONCURRENCY,
    reconcileDelay: DELAY,
    role: role ?? (sharded && SHARDER_PROCESS ? 'shard' : undefined),
  })
  if (!script.includes('sharded')) args.push(`--leader-election-id=site-operator-${ns}`)
  const replica = new Replica(args, env, script)
  everyReplica.add(replica)
  // A replica that exits unasked (a shard or the sharder that lost its Lease exits by design)
  // would leave the run waiting for a convergence that cannot come: say so and stop.
  replica.exited.then(({ code, signal }) => {
    if (stopping.has(replica)) return
    console.error(`sharding: ${name} exited unasked (${code ?? signal}); its log:\n${replica.dump()}`)
    process.exit(1)
  })
  return replica
}

/** Replicas this script stops or kills on purpose. */
const stopping = new Set<Replica>()
/** Every replica started: none outlives the script, however it ends. */
const everyReplica = new Set<Replica>()
process.on('exit', () => {
  for (const r of everyReplica) if (r.alive) r.kill('SIGKILL')
})
const progress = (msg: string) => console.error(`sharding: ${new Date().toISOString().slice(11, 19)} ${msg}`)


/** Creates or changes every Site (in the server's process). */
const setSites = (ns: string, rev: number) => ask<boolean>({ type: 'setSites', ns, rev })
/** Waits until every ConfigMap holds `rev`, polled every 250 ms (each check reads every ConfigMap in the server's process). */
async function converged(what: string, ns: string, rev: number, live?: () => Set<string>): Promise<void> {
  const t0 = Date.now()
  await waitFor(what, () => ask<boolean>({ type: 'converged', ns, rev, live: live ? [...live()] : undefined }), 600_000, undefined, 250)
  progress(`${ns}: ${what} in ${((Date.now() - t0) / 1000).toFixed(1)} s`)
}

/**
 * Deletes every Site (the replicas' finalizer deletes each ConfigMap), waits until the API
 * server holds none of either and every replica's caches are empty, and returns each
 * replica's heap then: the `emptied` baseline.
 */
async function emptied(ns: string, replicas: Replica[]): Promise<Usage[]> {
  await ask({ type: 'deleteSites', ns })
  await waitFor('every Site and ConfigMap gone', () => ask<boolean>({ type: 'gone', ns }), 600_000, undefined, 250)
  let last: Usage[] = []
  await waitFor(
    'empty caches',
    async () => {
      await new Promise((r) => setTimeout(r, 250))
      last = await Promise.all(replicas.map(usage))
      return last.every((u) => u.sites === 0 && u.configMaps === 0 && u.sharderObjects === 0)
    },
    60_000,
    () => JSON.stringify(last),
  )
  return last
}

interface Row {
  label: string
  n: number
  /** converged − emptied, MB (the heap the cached objects hold). */
  cacheHeapMb: number[]
  /** converged − idle, MB (the old figure). */
  oldCacheHeapMb: number[]
  cpuMs: number[]
  perSec: number
  sites: number[]
  /** Index of the replica that ran the sharder. */
  leader: number
  /** Each replica's emptied heap, bytes. */
  emptiedHeap: number[]
  /** With `--sharder-process`: the sharder process's cache heap (MB, converged − emptied) and CPU (ms, until converged). */
  sharder?: { cacheHeapMb: number; cpuMs: number; objects: number }
}

const MB = 2 ** 20

async function run(n: number, script = 'examples/sharded-operator.ts', label = `sharded × ${n}`): Promise<{ row: Row; replicas: Replica[]; ns: string; sharder?: Replica }> {
  const ns = `bench-${label.replace(/[^a-z0-9]/g, '')}-${n}`
  await ask({ type: 'namespace', ns })
  const replicas = Array.from({ length: n }, (_, i) => spawnShard(ns, `${ns}-r${i}`, script))
  const sharder = script.includes('sharded') && SHARDER_PROCESS ? spawnShard(ns, `${ns}-sharder`, script, 'sharder') : undefined
  const everyone = sharder ? [...replicas, sharder] : replicas
  await waitFor('replicas up', () => everyone.every((r) => r.lines.some((l) => /manager started/.test(l.msg))), 60_000)
  await new Promise((r) => setTimeout(r, 1_500))
  // The idle heap: before any object (the unsharded peer has no usage dump: throughput only).
  const sharded = script.includes('sharded')
  const idle = sharded ? await Promise.all(replicas.map(usage)) : []
  await setSites(ns, 1)
  await converged('first convergence', ns, 1)
  // Every Site changes at once: reconciles per second until all ConfigMaps hold rev 2.
  const t0 = Date.now()
  await setSites(ns, 2)
  await converged('second convergence', ns, 2)
  const perSec = SITES / ((Date.now() - t0) / 1000)
  await new Promise((r) => setTimeout(r, 500))
  if (!sharded) {
    const row: Row = { label, n, cacheHeapMb: [Number.NaN], oldCacheHeapMb: [Number.NaN], cpuMs: [Number.NaN], perSec, sites: [SITES], leader: -1, emptiedHeap: [] }
    return { row, replicas, ns }
  }
  const full = await Promise.all(replicas.map(usage))
  const sharderFull = sharder ? await usage(sharder) : undefined
  const emptiedAll = await emptied(ns, everyone)
  const empty = emptiedAll.slice(0, replicas.length)
  const sharderEmpty = sharder ? (emptiedAll[replicas.length] as Usage) : undefined
  const row: Row = {
    label,
    n,
    cacheHeapMb: full.map((u, i) => (u.heapUsed - (empty[i] as Usage).heapUsed) / MB),
    oldCacheHeapMb: full.map((u, i) => (u.heapUsed - (idle[i] as Usage).heapUsed) / MB),
    cpuMs: full.map((u) => u.cpuMs),
    perSec,
    sites: full.map((u) => u.sites),
    leader: full.findIndex((u) => u.sharderObjects > 0),
    emptiedHeap: empty.map((u) => u.heapUsed),
    sharder:
      sharderFull && sharderEmpty
        ? { cacheHeapMb: (sharderFull.heapUsed - sharderEmpty.heapUsed) / MB, cpuMs: sharderFull.cpuMs, objects: sharderFull.sharderObjects }
        : undefined,
  }
  return { row, replicas, ns, sharder }
}

async function stop(replicas: Replica[]): Promise<void> {
  for (const r of replicas) stopping.add(r)
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
  const { row, replicas, ns, sharder } = await run(n)
  rows.push(row)
  if (n === 3) {
    // The Sites again (the cache heap deleted them), then a 4th replica joins.
    await setSites(ns, 3)
    await converged('convergence with the Sites created again', ns, 3)
    // The check on the emptied baseline: full again, the same objects on the same shards, each
    // replica's heap minus its emptied heap should be its cache heap again (not more: no work left behind).
    await new Promise((r) => setTimeout(r, 500))
    const refilled = await Promise.all(replicas.map(usage))
    handover.push(
      `refill check (N = 3): converged again after the Sites were created anew − emptied = ${refilled.map((u, i) => ((u.heapUsed - (row.emptiedHeap[i] as number)) / MB).toFixed(1)).join(' / ')} MB (first time ${row.cacheHeapMb.map((m) => m.toFixed(1)).join(' / ')} MB) for ${refilled.map((u) => u.sites).join(' / ')} Sites`,
    )
    const joiner = spawnShard(ns, `${ns}-r3`)
    replicas.push(joiner)
    await waitFor('the joiner to hold its lease', () => joiner.find(/holding the shard lease/) !== undefined, 60_000, () => joiner.dump())
    const heldAt = joiner.find(/holding the shard lease/)?.time as number
    const live = () => new Set(replicas.filter((r) => r.alive).map((r) => r.identity as string))
    type Assignment = { byShard: Record<string, number>; unassigned: number; draining: number }
    let moved = 0
    // Handed over: the joiner holds Sites, none is draining or unassigned, and each of the
    // joiner's Sites was reconciled by it (polled every 100 ms: the figure's resolution).
    await waitFor(
      'the handover to the joiner',
      async () => {
        const a = await ask<Assignment>({ type: 'assignment', ns })
        moved = a.byShard[joiner.identity as string] ?? 0
        const done = new Set(joiner.lines.filter((l) => l.reconcile).map((l) => (l.reconcile as { object: string }).object)).size
        return moved > 0 && done >= moved && a.unassigned === 0 && a.draining === 0
      },
      120_000,
      undefined,
      100,
    )
    handover.push(`join: ${moved} of ${SITES} Sites (ideal ${Math.round(SITES / 4)}) drained, acknowledged, reassigned and reconciled by the 4th replica ${Date.now() - heldAt} ms after its shard Lease was held`)
    await setSites(ns, 4)
    await converged('converged with the joiner', ns, 4, live)
    // kill -9 one of the first three.
    const victim = replicas[1] as Replica
    const victimSites = (await usage(victim)).sites
    stopping.add(victim)
    const killedAt = victim.kill('SIGKILL')
    await victim.exited
    await setSites(ns, 5)
    await converged('converged without the victim', ns, 5, live)
    handover.push(`kill -9: every Site reconciled on the remaining shards ${Date.now() - killedAt} ms after the kill (bound 2 × lease ${2 * TIMING.leaseMs} ms + sharder reaction; the victim held ${victimSites} Sites)`)
  }
  await stop(sharder ? [...replicas, sharder] : replicas)
}
await server.close()

const single = rows.find((r) => r.label === 'sharded × 1')
const singleCache = single?.cacheHeapMb[0] ?? Number.NaN
const singleOld = single?.oldCacheHeapMb[0] ?? Number.NaN
const mb = (r: Row, list: number[]) => list.map((m, i) => `${m.toFixed(1)}${i === r.leader && r.n > 1 ? ' (L)' : ''}`).join(' / ')
const ceiling = (n: number) => (Number.isFinite(CEILING) ? Math.round(n * CEILING) : '—')
console.log(
  formatTable({
    title: `Sharding: ${SITES} Sites × ${PAGE.length} B pages, ${DELAY} simulated API call per reconcile, ${CONCURRENCY} concurrent per replica`,
    columns: [
      'replicas',
      'cache heap per replica (MB): converged − emptied',
      'max / single',
      'target ≤ 1.2/N',
      'old figure: converged − idle (MB)',
      'old max / single',
      'CPU per replica (ms)',
      'Sites per replica',
      'reconciles/s',
      '× single',
      'target ≥ 0.8 N',
      `ceiling N × ${Number.isFinite(CEILING) ? Math.round(CEILING) : '∞'}/s`,
    ],
    rows: rows.map((r) => {
      const measured = !Number.isNaN(Math.max(...r.cacheHeapMb))
      return [
        r.label,
        measured ? mb(r, r.cacheHeapMb) : '— (no usage dump)',
        measured && single ? (Math.max(...r.cacheHeapMb) / singleCache).toFixed(2) : '—',
        (1.2 / r.n).toFixed(2),
        measured ? mb(r, r.oldCacheHeapMb) : '—',
        measured && single ? (Math.max(...r.oldCacheHeapMb) / singleOld).toFixed(2) : '—',
        measured ? r.cpuMs.map((c) => Math.round(c)).join(' / ') : '—',
        r.sites.join(' / '),
        Math.round(r.perSec),
        single ? (r.perSec / single.perSec).toFixed(2) : '—',
        (0.8 * r.n).toFixed(1),
        ceiling(r.n),
      ]
    }),
    notes: [
      ...handover,
      ...rows.flatMap((r) =>
        r.sharder
          ? [
              `sharder process (N = ${r.n}, --sharder-process): cache heap ${r.sharder.cacheHeapMb.toFixed(1)} MB (converged − emptied, ${r.sharder.objects} objects metadata-only), CPU ${Math.round(r.sharder.cpuMs)} ms until converged; not a shard row: the shards (--role=shard) hold no sharder caches`,
            ]
          : [],
      ),
      ...rows
        .filter((r) => r.emptiedHeap.length > 0)
        .map((r) => `${r.label}: each replica's own heap, with its caches empty (the emptied reading, what it carries besides its objects): ${r.emptiedHeap.map((b) => (b / MB).toFixed(1)).join(' / ')} MB`),
      SHARDER_PROCESS
        ? 'With --sharder-process every replica runs --role=shard and the sharder runs in one more process (--role=sharder): no (L) row.'
        : '(L): the replica that ran the sharder (its metadata-only caches of every Site and ConfigMap are in its figure).',
      'Cache heap: heap after a full GC once converged, minus the same process\'s heap after every Site was deleted and its caches emptied (old figure: minus its heap before it had seen any object); replicas run with V8 bytecode flushing off (bench/fixtures/pin-bytecode.mjs).',
      machine(),
      `The API server runs in its own process (the harness's reads and writes of it too, in slices of 250) on the same cores as every replica; leases ${TIMING.leaseMs} / ${TIMING.renewMs} / ${TIMING.retryMs} ms (duration / renew deadline / retry).`,
    ],
  }),
)
}
