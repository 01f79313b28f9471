/**
 * The whole controller against controller-runtime (issue #16 §3): the same small controller
 * built twice — kubevisor's reconcile builder (`bench/controller-kubevisor.ts`, which loads
 * kubevisor from the built `dist/` as an installed package does; `--kubevisor-from source`
 * for the TypeScript sources) and
 * controller-runtime v0.22 (bench/controller-runtime/, its own pinned go.mod, built here
 * through the Go module proxy into ~/.cache/kubevisor/bench/, cached by the hash of its
 * sources) — run one after the other, each as its own OS process, against the same real
 * kube-apiserver + etcd of the envtest tier.
 *
 * The controller: Site (example.com/v1, the CRD of examples/reconcile.ts) → one owned
 * ConfigMap `site-<name>` whose data is the Site's spec.pages; `for(Site)` with the
 * generationChanged predicate, `owns(ConfigMap)`; the ConfigMap kept by createOrUpdate
 * against the informer cache; `maxConcurrentReconciles` equal on both sides; the work queue
 * rate limiter each side's default, which is the same one (client-go's
 * DefaultControllerRateLimiter: per-item 5 ms→1000 s, max-of a 10 qps/100 burst bucket).
 *
 * Client-side throttling, set equally on both (`--limits none,qps`): none (controller-runtime
 * with rest.Config QPS -1, client-go's "no limit"; kubevisor's Client as it is), then
 * `--qps`/`--burst` (rest.Config QPS/Burst; kubevisor's Client through ThrottledTransport).
 *
 * The harness measures from the API server side, the same way for both: a kubevisor
 * Watcher on the run's namespace's ConfigMaps records when each one first holds the
 * Site's wanted content.
 * - converge: N Sites exist before the controller starts; time from spawning the
 *   controller process until every ConfigMap holds its Site's pages and a controller
 *   reference to the Site's uid (checked: a run where any is missing fails).
 * - reconciles/s at saturation: during that cold start, ConfigMaps converged per second
 *   from the first to the last one seen.
 * - update→reconcile latency: then every Site is patched (a burst, `--in-flight` writes in
 *   flight); latency from each patch's response to its ConfigMap's new content seen.
 * - RSS (VmRSS of /proc/<pid>/status) and heap (the controller's own report: V8
 *   heapUsed, Go HeapAlloc) at steady state after the burst; CPU seconds (utime+stime of
 *   /proc/<pid>/stat) from the caches synced on, per 1,000 reconciles as each controller
 *   counts them; start-up CPU apart.
 *
 *   ./dev node --conditions=source bench/controller.ts [--objects 1000] [--rounds 1] [--concurrency 2] [--in-flight 32]
 *     [--limits none,qps] [--qps 100] [--burst 150] [--first kubevisor] [--kubevisor-from dist|source] [--compile-cache] [--json FILE]
 *
 * `--compile-cache` starts the kubevisor side with Node's on-disk compile cache
 * (`NODE_COMPILE_CACHE`), warmed first: how an operator image that ran its entry point once
 * at build time starts.
 *
 * Skipped (exit 0, with the reason) when the envtest binaries or Go are missing.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { homedir, tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import type { KubeConfig } from '@kubernetes/client-node'
import { noreply, ok } from '../lib/actor/index.ts'
import { Client } from '../lib/client/index.ts'
import { createLogger } from '../lib/log.ts'
import { EnvtestAssetsNotFoundError, findEnvtestAssets, startKubeApiServer } from '../lib/testing/kube-apiserver.ts'
import type { KubeObject } from '../lib/watch/index.ts'
import { Watcher, type WatcherBehaviour } from '../lib/watcher/watcher.ts'
import { formatTable, machine } from './support.ts'

interface Site extends KubeObject {
  spec?: { pages?: Record<string, string> }
}
interface ConfigMap extends KubeObject {
  data?: Record<string, string>
}

const here = fileURLToPath(new URL('.', import.meta.url))

/** The CRD of examples/reconcile.ts. */
const siteCrd = {
  apiVersion: 'apiextensions.k8s.io/v1',
  kind: 'CustomResourceDefinition',
  metadata: { name: 'sites.example.com' },
  spec: {
    group: 'example.com',
    scope: 'Namespaced',
    names: { plural: 'sites', singular: 'site', kind: 'Site', listKind: 'SiteList' },
    versions: [{ name: 'v1', served: true, storage: true, subresources: { status: {} }, schema: { openAPIV3Schema: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } } }],
  },
}

/** RSS and heap of {@link idle} in a fresh process, and of a bare Node process. */
function fixedCost(): { idle: { rss: number; heapUsed: number }; bare: { rss: number; heapUsed: number } } {
  const run = (args: string[]) => JSON.parse(spawnSync(process.execPath, args, { encoding: 'utf8' }).stdout.trim().split('\n').at(-1) as string)
  return {
    idle: run([...kubevisorArgs(), 'idle']),
    bare: run(['-e', 'setTimeout(() => { const m = process.memoryUsage(); console.log(JSON.stringify({ rss: m.rss, heapUsed: m.heapUsed })) }, 1000)']),
  }
}

// ---------------------------------------------------------------------------------------
// The harness.

interface Stats {
  reconciles: number
  errors: number
  heapUsed: number
}

/** A controller process: its pid, its latest stats line, and when it said it was ready. */
class ControllerProcess {
  readonly proc: ChildProcess
  readonly spawnedAt = performance.now()
  readyAt: number | undefined
  /** CPU seconds spent until the caches synced (start-up: loading modules, listing). */
  cpuAtReady = 0
  stats: Stats | undefined
  readonly exited: Promise<number | null>
  stderr = ''
  constructor(command: string, args: string[]) {
    this.proc = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] })
    this.exited = new Promise((resolve) => this.proc.once('exit', (code) => resolve(code)))
    createInterface({ input: this.proc.stdout as NodeJS.ReadableStream }).on('line', (line) => {
      if (!line.startsWith('{')) return
      const msg = JSON.parse(line) as { ready?: boolean; stats?: Stats }
      if (msg.ready) {
        this.readyAt = performance.now()
        this.cpuAtReady = this.cpuSeconds()
      }
      if (msg.stats) this.stats = msg.stats
    })
    this.proc.stderr?.on('data', (chunk: Buffer) => {
      this.stderr = (this.stderr + chunk.toString()).slice(-4000)
    })
  }
  /** Resident set size in bytes, from /proc. */
  rss(): number {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${this.proc.pid}/status`, 'utf8'))
    return Number(m?.[1]) * 1024
  }
  /** CPU seconds (user + system) so far, from /proc/<pid>/stat. */
  cpuSeconds(): number {
    const stat = readFileSync(`/proc/${this.proc.pid}/stat`, 'utf8')
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    // fields[0] is field 3 (state): utime is field 14, stime field 15.
    return (Number(fields[11]) + Number(fields[12])) / 100 // USER_HZ is 100 on Linux
  }
  async stop(): Promise<void> {
    this.proc.kill('SIGTERM')
    const timer = setTimeout(() => this.proc.kill('SIGKILL'), 10_000)
    await this.exited
    clearTimeout(timer)
  }
}

/** Records, per ConfigMap name, the first time its data.index.html held each value. */
const Seen: WatcherBehaviour<ConfigMap, { seen: Map<string, Map<string, number>>; owners: Map<string, string | undefined>; synced: () => void }> = {
  init: (state) => ok(state),
  handleEvent(type, object, state) {
    if (type === 'deleted') return noreply(state)
    const name = object.metadata?.name as string
    const value = object.data?.['index.html']
    let values = state.seen.get(name)
    if (!values) state.seen.set(name, (values = new Map()))
    if (value !== undefined && !values.has(value)) values.set(value, performance.now())
    const refs = object.metadata?.ownerReferences as { uid: string; controller?: boolean }[] | undefined
    state.owners.set(name, refs?.find((o) => o.controller)?.uid)
    return noreply(state)
  },
  handleSynced(state) {
    state.synced()
    return noreply(state)
  },
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/** Runs `fn` over `items` with at most `limit` in flight. */
async function pool<T>(items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) await fn(items[next++] as T)
    }),
  )
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] as number
}

/** Client-side QPS/burst, the same on both sides; undefined: no client-side limit. */
type Limit = { qps: number; burst: number } | undefined

interface RunResult {
  impl: string
  mode: string
  convergeMs: number
  readyMs: number
  coldRate: number
  p50: number
  p99: number
  burstRate: number
  rss: number
  heap: number
  cpuPer1k: number
  startupCpu: number
  reconciles: number
  errors: number
}

class RunFailedError extends Error {}

/** Extra Node flags for the kubevisor child, e.g. BENCH_NODE_ARGS='--cpu-prof --cpu-prof-dir=/tmp/prof' to profile it. */
const nodeArgs = () => (process.env.BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean)

/**
 * Where the kubevisor child loads kubevisor from: `dist` (default: the built JavaScript, what
 * an installed package runs) or `source` (the TypeScript sources through Node's type
 * stripping, as the tests run).
 */
let kubevisorFrom: 'dist' | 'source' = 'dist'

/** The Node arguments that start `bench/controller-kubevisor.ts`. */
const kubevisorArgs = () => [...nodeArgs(), ...(kubevisorFrom === 'source' ? ['--conditions=source'] : []), join(here, 'controller-kubevisor.ts')]

/** Builds `dist/` when any file under `lib/` is newer than it (`npm run build`). */
function ensureBuilt(): void {
  const root = join(here, '..')
  const newest = (dir: string): number => {
    let t = 0
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name)
      t = Math.max(t, e.isDirectory() ? newest(p) : statSync(p).mtimeMs)
    }
    return t
  }
  const built = existsSync(join(root, 'dist', 'index.js')) ? statSync(join(root, 'dist', 'index.js')).mtimeMs : 0
  if (built > newest(join(root, 'lib'))) return
  console.log('building dist/ (npm run build) for the kubevisor controller …')
  const r = spawnSync('npm', ['run', 'build'], { cwd: root, stdio: ['ignore', 'inherit', 'inherit'] })
  if (r.status !== 0) throw new Error(`npm run build failed (exit ${r.status})`)
}

async function runOne(opts: { impl: 'kubevisor' | 'controller-runtime'; goBinary: string; kubeconfigPath: string; kubeConfig: KubeConfig; client: Client; namespace: string; objects: number; concurrency: number; limit: Limit; inFlight: number; timeoutMs: number }): Promise<RunResult> {
  const { client, namespace, objects } = opts
  await client.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace } })
  const names = Array.from({ length: objects }, (_, i) => `site-${String(i).padStart(5, '0')}`)
  const uids = new Map<string, string>()
  await pool(names, opts.inFlight, async (name) => {
    const site = await client.create<Site>({ apiVersion: 'example.com/v1', kind: 'Site', metadata: { name, namespace }, spec: { pages: { 'index.html': 'v0', 'about.html': `about ${name}` } } })
    uids.set(name, site.metadata?.uid as string)
  })
  const seen = new Map<string, Map<string, number>>()
  const owners = new Map<string, string | undefined>()
  let synced!: () => void
  const watchSynced = new Promise<void>((r) => (synced = r))
  const logger = createLogger({ level: 'error' })
  const watcher = await Watcher.start(Seen, { seen, owners, synced }, { kubeConfig: opts.kubeConfig, apiVersion: 'v1', kind: 'ConfigMap', namespace, logger })
  await watchSynced
  const converged = (value: string) => names.every((n) => seen.get(`site-${n}`)?.has(value))
  const until = async (what: string, check: () => boolean) => {
    const deadline = performance.now() + opts.timeoutMs
    while (!check()) {
      if (performance.now() > deadline) throw new RunFailedError(`${opts.impl}: timed out after ${opts.timeoutMs} ms waiting for ${what}`)
      await sleep(5)
    }
  }

  const args = ['--kubeconfig', opts.kubeconfigPath, '--namespace', namespace, '--concurrency', String(opts.concurrency), `--qps=${opts.limit?.qps ?? -1}`, `--burst=${opts.limit?.burst ?? 0}`]
  const proc =
    opts.impl === 'kubevisor'
      ? new ControllerProcess(process.execPath, [...kubevisorArgs(), 'controller', ...args])
      : new ControllerProcess(opts.goBinary, args)
  try {
    let exitedEarly = false
    void proc.exited.then(() => (exitedEarly = true))
    // 1. Cold start: every Site converged.
    await until('every ConfigMap of the cold start', () => {
      if (exitedEarly) throw new RunFailedError(`${opts.impl} exited early: ${proc.stderr}`)
      return converged('v0')
    })
    const coldTimes = names.map((n) => seen.get(`site-${n}`)?.get('v0') as number).sort((a, b) => a - b)
    const convergeMs = (coldTimes.at(-1) as number) - proc.spawnedAt
    const coldRate = ((objects - 1) / ((coldTimes.at(-1) as number) - (coldTimes[0] as number))) * 1000
    for (const n of names) {
      if (owners.get(`site-${n}`) !== uids.get(n)) throw new RunFailedError(`${opts.impl}: ConfigMap site-${n} has no controller reference to its Site`)
    }
    // 2. A burst of updates.
    const acked = new Map<string, number>()
    await pool(names, opts.inFlight, async (name) => {
      await client.patch({ apiVersion: 'example.com/v1', kind: 'Site', namespace, name }, { spec: { pages: { 'index.html': 'v1' } } })
      acked.set(name, performance.now())
    })
    await until('every ConfigMap of the update burst', () => converged('v1'))
    const latencies = names.map((n) => Math.max(0, (seen.get(`site-${n}`)?.get('v1') as number) - (acked.get(n) as number))).sort((a, b) => a - b)
    const burstEnd = Math.max(...names.map((n) => seen.get(`site-${n}`)?.get('v1') as number))
    const burstStart = Math.min(...acked.values())
    // 3. Steady state.
    await sleep(2000)
    const rss = proc.rss()
    const cpu = proc.cpuSeconds()
    await proc.stop()
    const stats = proc.stats
    if (!stats) throw new RunFailedError(`${opts.impl} printed no stats`)
    return {
      impl: opts.impl,
      mode: opts.limit ? `${opts.limit.qps}/${opts.limit.burst}` : 'none',
      convergeMs,
      readyMs: (proc.readyAt ?? Number.NaN) - proc.spawnedAt,
      coldRate,
      p50: percentile(latencies, 50),
      p99: percentile(latencies, 99),
      burstRate: (objects / (burstEnd - burstStart)) * 1000,
      rss,
      heap: stats.heapUsed,
      cpuPer1k: ((cpu - proc.cpuAtReady) / stats.reconciles) * 1000,
      startupCpu: proc.cpuAtReady,
      reconciles: stats.reconciles,
      errors: stats.errors,
    }
  } finally {
    if (proc.proc.exitCode === null) await proc.stop()
    await Watcher.stop(watcher)
  }
}

/** Builds the controller-runtime binary once per source hash; returns its path. */
function buildGo(): string {
  const dir = join(here, 'controller-runtime')
  const hash = createHash('sha256')
  for (const f of ['go.mod', 'go.sum', 'main.go']) hash.update(readFileSync(join(dir, f)))
  const cache = join(process.env.KUBEVISOR_CACHE ?? join(homedir(), '.cache', 'kubevisor'), 'bench')
  const binary = join(cache, `controller-runtime-${hash.digest('hex').slice(0, 16)}`)
  if (existsSync(binary)) return binary
  mkdirSync(cache, { recursive: true })
  const goCache = join(homedir(), '.cache', 'kubevisor', 'envtest', 'go')
  const env = { ...process.env, GOMODCACHE: process.env.GOMODCACHE ?? join(goCache, 'mod'), GOCACHE: process.env.GOCACHE ?? join(goCache, 'build'), GOFLAGS: '-mod=mod -modcacherw', CGO_ENABLED: '0' }
  console.log(`building the controller-runtime controller into ${binary} …`)
  const r = spawnSync('nice', ['-n', '10', 'go', 'build', '-trimpath', '-o', `${binary}.tmp`, '.'], { cwd: dir, env, stdio: ['ignore', 'inherit', 'inherit'] })
  if (r.status !== 0) throw new Error(`go build failed (exit ${r.status})`)
  spawnSync('mv', [`${binary}.tmp`, binary])
  return binary
}

/** Why this benchmark cannot run here, or undefined. */
function skipReason(): string | undefined {
  if (process.platform !== 'linux') return 'needs Linux (/proc for RSS and CPU time)'
  try {
    findEnvtestAssets()
  } catch (err) {
    if (err instanceof EnvtestAssetsNotFoundError) return 'the envtest kube-apiserver/etcd binaries are not built (npm run envtest:build)'
    throw err
  }
  const go = spawnSync('go', ['version'], { encoding: 'utf8' })
  if (go.error !== undefined || go.status !== 0) return 'Go is not installed (the controller-runtime side is built from Go modules)'
  return undefined
}

const mib = (b: number) => (b / 2 ** 20).toFixed(0)
const range = (xs: number[], digits = 0) => {
  const lo = Math.min(...xs)
  const hi = Math.max(...xs)
  return lo.toFixed(digits) === hi.toFixed(digits) ? lo.toFixed(digits) : `${lo.toFixed(digits)}–${hi.toFixed(digits)}`
}

async function harness(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: { objects: { type: 'string' }, rounds: { type: 'string' }, concurrency: { type: 'string' }, 'in-flight': { type: 'string' }, timeout: { type: 'string' }, json: { type: 'string' }, qps: { type: 'string' }, burst: { type: 'string' }, limits: { type: 'string' }, first: { type: 'string' }, 'kubevisor-from': { type: 'string' }, 'compile-cache': { type: 'boolean' } },
  })
  const objects = Number(values.objects ?? 1000)
  const rounds = Number(values.rounds ?? 1)
  const concurrency = Number(values.concurrency ?? 2)
  const inFlight = Number(values['in-flight'] ?? 32)
  const timeoutMs = Number(values.timeout ?? Math.max(120_000, objects * 60))
  // Client-side limits: 'none' (no limit on either side) and 'qps' (--qps/--burst on both).
  const qps = Number(values.qps ?? 100)
  const burst = Number(values.burst ?? 150)
  const limits: Limit[] = (values.limits ?? 'none,qps').split(',').map((l) => (l === 'none' ? undefined : { qps, burst }))
  const title = `The whole controller against controller-runtime: ${objects.toLocaleString('en-US')} Sites → owned ConfigMaps, kube-apiserver v1.34.4`
  const why = skipReason()
  if (why) {
    console.log(`### ${title}\n\nskipped: ${why}`)
    return
  }
  const goBinary = buildGo()
  const from = values['kubevisor-from'] ?? 'dist'
  if (from !== 'dist' && from !== 'source') throw new TypeError(`--kubevisor-from must be dist or source, not ${JSON.stringify(from)}`)
  kubevisorFrom = from
  if (kubevisorFrom === 'dist') ensureBuilt()
  if (values['compile-cache']) {
    // Node's on-disk compile cache (module.enableCompileCache, NODE_COMPILE_CACHE): what an
    // image that ran its entry point once at build time starts with. Warmed by the fixed-cost
    // process below, which loads the same modules.
    process.env.NODE_COMPILE_CACHE = join(process.env.KUBEVISOR_CACHE ?? join(homedir(), '.cache', 'kubevisor'), 'bench', 'node-compile-cache')
  }
  const fixed = fixedCost()
  const server = await startKubeApiServer({ logger: createLogger({ level: 'warn' }) })
  const dir = mkdtempSync(join(tmpdir(), 'kubevisor-crbench-'))
  const kubeconfigPath = join(dir, 'kubeconfig')
  writeFileSync(kubeconfigPath, server.kubeConfig.exportConfig(), { mode: 0o600 })
  const client = new Client(server.kubeConfig, { fieldManager: 'bench' })
  const results: RunResult[] = []
  try {
    await client.create(siteCrd)
    for (let i = 0; ; i++) {
      try {
        await client.list({ apiVersion: 'example.com/v1', kind: 'Site', namespace: 'default' })
        break
      } catch (err) {
        if (i > 100) throw err
        await sleep(100)
      }
    }
    for (let round = 0; round < rounds; round++) {
      // Alternate which goes first: the later run finds a bigger etcd.
      const order = (round + (values.first === 'kubevisor' ? 1 : 0)) % 2 === 0 ? (['controller-runtime', 'kubevisor'] as const) : (['kubevisor', 'controller-runtime'] as const)
      for (const limit of limits)
      for (const impl of order) {
        const r = await runOne({ impl, goBinary, kubeconfigPath, kubeConfig: server.kubeConfig, client, namespace: `r${round}-${limit ? 'qps' : 'none'}-${impl}`, objects, concurrency, limit, inFlight, timeoutMs })
        console.error(`round ${round + 1}/${rounds} ${impl}, client-side limit ${r.mode}: converge ${(r.convergeMs / 1000).toFixed(2)} s, ${r.coldRate.toFixed(0)}/s, p50 ${r.p50.toFixed(0)} ms, p99 ${r.p99.toFixed(0)} ms, RSS ${mib(r.rss)} MiB, ${r.reconciles} reconciles, ${r.errors} errors`)
        results.push(r)
      }
    }
  } finally {
    await server.stop()
    rmSync(dir, { recursive: true, force: true })
  }
  if (values.json) writeFileSync(values.json, JSON.stringify({ objects, rounds, concurrency, inFlight, machine: machine(), results }, null, 2))
  for (const limit of limits) {
    const mode = limit ? `${limit.qps}/${limit.burst}` : 'none'
    const cr = results.filter((r) => r.impl === 'controller-runtime' && r.mode === mode)
    const kv = results.filter((r) => r.impl === 'kubevisor' && r.mode === mode)
    printTable(`${title}; client-side QPS/burst ${limit ? `${limit.qps}/${limit.burst} on both` : 'unlimited on both'}`, kv, cr, limit, { rounds, concurrency, inFlight })
  }
  console.log(
    `\nFixed cost of the kubevisor process, before any object (the same modules loaded, a KubeConfig made, nothing running): RSS ${mib(fixed.idle.rss)} MiB, heap ${mib(fixed.idle.heapUsed)} MiB; a bare Node process: RSS ${mib(fixed.bare.rss)} MiB, heap ${mib(fixed.bare.heapUsed)} MiB.`,
  )
}

function printTable(title: string, kv: RunResult[], cr: RunResult[], limit: Limit, o: { rounds: number; concurrency: number; inFlight: number }): void {
  const { rounds, concurrency, inFlight } = o
  const row = (label: string, pick: (r: RunResult) => number, digits: number, better: 'higher' | 'lower') => {
    const ratio = pick(median(kv, pick)) / pick(median(cr, pick))
    return [label, range(kv.map(pick), digits), range(cr.map(pick), digits), Number.isFinite(ratio) ? `${ratio.toFixed(2)}× (${better} is better)` : '—']
  }
  console.log(
    formatTable({
      title,
      columns: ['measure', 'kubevisor', 'controller-runtime v0.22.5', 'kubevisor ÷ controller-runtime (medians)'],
      rows: [
        row('time to converge from cold start (s)', (r) => r.convergeMs / 1000, 2, 'lower'),
        row('  of which until caches synced (s)', (r) => r.readyMs / 1000, 2, 'lower'),
        row('reconciles/s at saturation (cold start, ConfigMaps converged/s)', (r) => r.coldRate, 0, 'higher'),
        row('update→reconcile latency p50 (ms)', (r) => r.p50, 0, 'lower'),
        row('update→reconcile latency p99 (ms)', (r) => r.p99, 0, 'lower'),
        row('update burst, ConfigMaps converged/s', (r) => r.burstRate, 0, 'higher'),
        row('RSS at steady state (MiB)', (r) => r.rss / 2 ** 20, 0, 'lower'),
        row('heap at steady state (MiB; V8 heapUsed / Go HeapAlloc)', (r) => r.heap / 2 ** 20, 0, 'lower'),
        row('CPU seconds per 1,000 reconciles (after caches synced)', (r) => r.cpuPer1k, 2, 'lower'),
        row('CPU seconds until caches synced (start-up)', (r) => r.startupCpu, 2, 'lower'),
        row('reconciles counted (cold start + burst + owned events)', (r) => r.reconciles, 0, 'lower'),
        row('reconcile errors (conflicts, requeued)', (r) => r.errors, 0, 'lower'),
      ],
      notes: [
        `${machine()}; ${rounds} round(s), ranges over the rounds; kubevisor loaded from ${kubevisorFrom === 'dist' ? 'dist/ (built JavaScript)' : 'the TypeScript sources'}${process.env.NODE_COMPILE_CACHE ? ', with Node\'s compile cache (NODE_COMPILE_CACHE)' : ''}; maxConcurrentReconciles ${concurrency} on both; default controller rate limiter on both; ${inFlight} harness writes in flight.`,
        limit
          ? `Client-side limit ${limit.qps} qps / burst ${limit.burst}: controller-runtime's rest.Config QPS/Burst (one token bucket per resource type; all writes are ConfigMaps), kubevisor's Client through a ThrottledTransport (its informers' list/watch are not throttled: four requests).`
          : 'No client-side limit: controller-runtime with rest.Config QPS -1 (client-go: none), kubevisor\'s Client without a ThrottledTransport.',
        'Measured from the API server side by one watch on the ConfigMaps; every ConfigMap checked to hold its Site’s pages and a controller reference to it (else the run fails).',
        'The kube-apiserver, etcd, the harness and the controller share the machine: the API server is the bottleneck on 2 cores.',
      ],
    }),
  )
}

function median(rs: RunResult[], pick: (r: RunResult) => number): RunResult {
  const sorted = [...rs].sort((a, b) => pick(a) - pick(b))
  return sorted[Math.floor((sorted.length - 1) / 2)] as RunResult
}

await harness(process.argv.slice(2))
