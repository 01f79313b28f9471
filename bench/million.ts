// A million objects (issue #16 §2): kubevisor `Watcher`s with a store sync 10k, 100k and
// 1,000,000 ConfigMaps (~500 B of JSON each, one namespace) from the embedded API server
// (`startApiServer`, in a child process so that its heap is not the watcher's), paged
// (`limit=500` + continue tokens) and streaming (`sendInitialEvents`). For each size:
// - sync time, and heap per stored object (forced GC before reading, baseline subtracted);
// - events/s in steady state: a burst of MODIFIED events (the server commits them as fast
//   as it can) through the same watcher, with the collection stored;
// - relist after 410: the watch is dropped, 1000 objects modified, 1000 deleted and 1000
//   created, the history compacted; the watcher's watch gets 410 Gone, it relists and
//   must deliver exactly those 3000 changes (nothing else before a marker object created
//   afterwards arrives); time and peak heap (sampled every 20 ms) are printed;
// - the ceiling: a bare paged reader (`node:http`, `JSON.parse`, a `Map`), and the peer:
//   `@kubernetes/client-node`'s informer (`makeInformer` + `listNamespacedConfigMap`),
//   whose failures are caught and printed.
// Every event is counted and every object converged (store size, last resourceVersion), or
// the script fails (exit 1). Targets are printed beside the figures, never asserted.
//
//   ./dev npm run bench:million                       # 10k, 100k, 1M (~10 min, ~6 GB peak)
//   ./dev node --conditions=source --expose-gc --max-old-space-size=6144 bench/million.ts --sizes=10000,100000
//   ./dev node --conditions=source --expose-gc --max-old-space-size=6144 bench/million.ts --kind=pod   # 10k and 200k pods
import { once } from 'node:events'
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import http from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { CoreV1Api, KubeConfig, makeInformer, type V1ConfigMap, type V1Pod } from '@kubernetes/client-node'
import { noreply, ok } from '../lib/actor/index.ts'
import { InformerFactory } from '../lib/informer/index.ts'
import { createLogger } from '../lib/log.ts'
import type { ApiServer } from '../lib/testing/apiserver/server.ts'
import { startApiServer } from '../lib/testing/index.ts'
import type { KubeObject } from '../lib/watch/index.ts'
import { Watcher, type WatcherBehaviour } from '../lib/watcher/watcher.ts'
import { makePod } from './fixtures/pods.ts'
import { type BenchTable, type ForkedServer, forkServer, formatNumber, formatTable, gc, machine, SOURCE_FLAGS, serveRequests } from './support.ts'

const NAMESPACE = 'million'
/**
 * What is stored: `--kind=configmap` (default; ~500 B each) or `--kind=pod` (the ~3.9 KB
 * pods of `bench/fixtures/pods.ts`, with managedFields; default sizes 10k and 200k).
 */
const KIND_ARG = process.argv.find((a) => a.startsWith('--kind='))?.slice('--kind='.length) ?? 'configmap'
if (KIND_ARG !== 'configmap' && KIND_ARG !== 'pod') throw new TypeError(`--kind must be configmap or pod, not ${JSON.stringify(KIND_ARG)}`)
const KIND = KIND_ARG === 'pod' ? { kind: 'Pod', plural: 'pods', label: 'pods of ~3.9 KB (bench/fixtures/pods.ts)' } : { kind: 'ConfigMap', plural: 'configmaps', label: 'ConfigMaps of ~500 B' }
/** Events of the steady-state burst. */
const CHURN = 20_000
/** Changes of each kind in the relist-after-410 check. */
const CHANGES = 1000

// --- the server (child process) --------------------------------------------------------

type Request =
  | { id: number; type: 'load'; count: number }
  | { id: number; type: 'churn'; count: number; flag?: string }
  | { id: number; type: 'gone'; changes: number }
  | { id: number; type: 'marker'; name: string }
  | { id: number; type: 'heap' }

/** A ConfigMap of about 500 B of JSON, distinct content per object. */
function configMap(i: number, version = 0): KubeObject {
  const id = String(i).padStart(7, '0')
  const seed = (i * 2654435761) >>> 0
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: `cm-${id}`, namespace: NAMESPACE, labels: { app: 'million', shard: `s${i % 16}` } },
    data: {
      version: String(version),
      'settings.conf': `id=${id}\nseed=${seed.toString(16)}\n${seed.toString(36).repeat(40).slice(0, 300)}\n`,
    },
  }
}

/** The `i`-th stored object of the run's kind, at `version`. */
function object(i: number, version = 0): KubeObject {
  if (KIND.kind === 'ConfigMap') return configMap(i, version)
  const pod = makePod(i, 0, NAMESPACE) as KubeObject
  const meta = pod.metadata as Record<string, unknown>
  delete meta.resourceVersion
  delete meta.uid
  delete meta.generateName
  // Unscheduled: a scheduled pod's DELETE waits for its kubelet (graceful deletion, as in
  // kube-apiserver), and the relist check needs the deletes to happen.
  delete (pod.spec as Record<string, unknown>).nodeName
  meta.annotations = { ...(meta.annotations as object), 'bench.kubevisor.dev/version': String(version) }
  return pod
}

async function serve(): Promise<void> {
  let api: ApiServer | undefined
  let count = 0
  let next = 0
  /** Every modification writes a new version (an update that changes nothing is a no-op, no event). */
  let version = 0
  const ref = (i: number) => ({ apiVersion: 'v1', kind: KIND.kind, namespace: NAMESPACE, name: object(i).metadata!.name! })
  const modify = (i: number, version: number) => {
    const cur = api!.get(ref(i), { zeroCopy: true })!
    if (KIND.kind === 'ConfigMap') api!.update({ ...cur, metadata: { ...cur.metadata }, data: { ...(cur.data as object), version: String(version) } }, { zeroCopy: true })
    else api!.update({ ...cur, metadata: { ...cur.metadata, annotations: { ...cur.metadata?.annotations, 'bench.kubevisor.dev/version': String(version) } } }, { zeroCopy: true })
  }
  serveRequests(async (raw) => {
    const req = raw as unknown as Request
    if (req.type === 'load') {
      await api?.close()
      api = undefined
      gc()
      // The backlog covers the MODIFIED bursts only: initial events never count toward it
      // (a streaming sync of any size goes through the default of 10,000).
      api = await startApiServer({ historySize: CHURN * 2, maxWatchBacklog: CHURN * 4 })
      api.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: NAMESPACE } })
      const t0 = performance.now()
      for (let i = 0; i < req.count; i++) api.create(object(i), { zeroCopy: true })
      count = req.count
      next = req.count
      return { url: api.url, loadMs: performance.now() - t0, resourceVersion: api.resourceVersion }
    }
    if (req.type === 'churn') {
      // As fast as the server commits, in slices so its watches keep writing.
      const t0 = performance.now()
      const cpu0 = process.cpuUsage()
      for (let done = 0; done < req.count; ) {
        for (const end = Math.min(req.count, done + 500); done < end; done++) modify((done * 7919) % count, ++version)
        if (done < req.count) await new Promise((r) => setImmediate(r))
      }
      const cpu = process.cpuUsage(cpu0)
      if (req.flag) writeFileSync(req.flag, '')
      return { resourceVersion: api!.resourceVersion, commitMs: performance.now() - t0, commitCpuMs: (cpu.user + cpu.system) / 1000 }
    }
    if (req.type === 'gone') {
      // Disconnected watcher, real changes, compaction: its next watch gets 410 Gone.
      api!.dropWatches()
      for (let k = 0; k < req.changes; k++) modify((k * 2 * 7919) % count, ++version)
      const deleted: string[] = []
      for (let k = 0; k < req.changes; k++) {
        const i = ((k * 2 + 1) * 7919) % count
        deleted.push(ref(i).name)
        api!.delete(ref(i))
      }
      for (let k = 0; k < req.changes; k++) api!.create(object(next++), { zeroCopy: true })
      api!.compact()
      return { resourceVersion: api!.resourceVersion, deleted }
    }
    if (req.type === 'marker') {
      const marker = object(next++)
      api!.create({ ...marker, metadata: { ...marker.metadata, name: req.name } })
      return { resourceVersion: api!.resourceVersion }
    }
    if (req.type !== 'heap') throw new TypeError(`million server: unknown request ${JSON.stringify(raw)}`)
    gc()
    return { heapUsed: process.memoryUsage().heapUsed, rss: process.memoryUsage().rss }
  })
}

/** The server child: `--max-old-space-size=4096`; MILLION_SERVER_FLAGS adds node flags, e.g. `--cpu-prof` to profile it. */
function startServer(): Promise<ForkedServer> {
  return forkServer(fileURLToPath(import.meta.url), ['--serve', `--kind=${KIND_ARG}`], {
    execArgv: [...SOURCE_FLAGS, '--max-old-space-size=4096', ...(process.env.MILLION_SERVER_FLAGS?.split(' ').filter(Boolean) ?? [])],
    label: 'million server',
  })
}

// --- the client (this process) ---------------------------------------------------------

const logger = createLogger({ level: 'silent' })

function kubeConfig(url: string): KubeConfig {
  const kc = new KubeConfig()
  kc.loadFromOptions({
    clusters: [{ name: 'bench', server: url, skipTLSVerify: true }],
    users: [{ name: 'bench' }],
    contexts: [{ name: 'bench', cluster: 'bench', user: 'bench' }],
    currentContext: 'bench',
  })
  return kc
}

function heapUsed(): number {
  gc()
  return process.memoryUsage().heapUsed
}

/** Samples heapUsed every 20 ms until stopped; returns the peak. */
function peakSampler(): () => number {
  let peak = process.memoryUsage().heapUsed
  const timer = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage().heapUsed)
  }, 20)
  return () => {
    clearInterval(timer)
    return Math.max(peak, process.memoryUsage().heapUsed)
  }
}

class BenchFailure extends Error {}

function check(cond: boolean, what: string): void {
  if (!cond) throw new BenchFailure(what)
}

/** Resolves when `cond()` holds (polled every 5 ms), rejects after `ms`. */
async function until(cond: () => boolean, ms: number, what: string): Promise<void> {
  const t0 = performance.now()
  while (!cond()) {
    if (performance.now() - t0 > ms) throw new BenchFailure(`timed out after ${ms} ms waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 5))
  }
}

interface Tally {
  created: number
  modified: number
  deleted: number
  synced: boolean
  lastRv: string | undefined
  /** First MODIFIED event of the current burst (0: none yet). */
  burstStartedAt: number
  lastModifiedAt: number
  /** This process's CPU time (µs, all threads) at the first and the last MODIFIED event of the burst. */
  burstCpuStart: number
  lastModifiedCpu: number
  deletedNames: Set<string>
  markers: Set<string>
  /** The watcher's counters when the last marker arrived. */
  counters: Record<string, unknown> | undefined
}

function cpuMicros(): number {
  const u = process.cpuUsage()
  return u.user + u.system
}

const Counting: WatcherBehaviour<KubeObject, Tally> = {
  init: (tally) => ok(tally),
  handleEvent(type, object, tally, ctx) {
    tally.lastRv = object.metadata?.resourceVersion
    if (type === 'created') {
      tally.created++
      if (object.metadata?.name?.startsWith('marker-')) {
        tally.markers.add(object.metadata.name)
        tally.counters = { ...ctx.counters }
      }
    } else if (type === 'modified') {
      tally.modified++
      if (tally.burstStartedAt === 0) {
        tally.burstStartedAt = performance.now()
        tally.burstCpuStart = cpuMicros()
      }
      tally.lastModifiedAt = performance.now()
      if (tally.modified % 256 === 0) tally.lastModifiedCpu = cpuMicros()
    } else {
      tally.deleted++
      tally.deletedNames.add(object.metadata!.name!)
    }
    return noreply(tally)
  },
  handleSynced(tally) {
    tally.synced = true
    return noreply(tally)
  },
}

interface WatcherFigures {
  syncMs: number
  bytesPerObject: number
  eventsPerSec: number
  /** Events per second of this process's CPU time in the same burst (steadier than wall time when the server is the bottleneck or the cores are shared). */
  eventsPerCpuSec: number
  /** How fast the server committed the burst's changes (events/s), in the best burst. */
  serverCommitPerSec: number
  /** Events/s when the whole burst was already waiting (the watcher's capacity), best of 3. */
  drainedPerSec: number
  relistMs: number
  relistPeakOverStored: number
  /** What the relist took: the watcher's counters (list pages, 410s, reconnects, failures) during it. */
  relistCounters: string
}

async function runWatcher(server: ForkedServer, url: string, n: number, mode: 'list' | 'stream'): Promise<WatcherFigures> {
  const tally: Tally = { created: 0, modified: 0, deleted: 0, synced: false, lastRv: undefined, burstStartedAt: 0, lastModifiedAt: 0, burstCpuStart: 0, lastModifiedCpu: 0, deletedNames: new Set(), markers: new Set(), counters: undefined }
  const base = heapUsed()
  const t0 = performance.now()
  const ref = await Watcher.start(Counting, tally, { kubeConfig: kubeConfig(url), apiVersion: 'v1', kind: KIND.kind, namespace: NAMESPACE, store: true, initialList: mode, logger })
  let store: { size: number; get(key: string): KubeObject | undefined } | undefined
  try {
    await until(() => tally.synced, 30 * 60_000, 'sync')
    const syncMs = performance.now() - t0
    check(tally.created === n, `${mode}: created ${tally.created} of ${n}`)
    store = ref.store as typeof store
    check(store!.size === n, `${mode}: store holds ${store!.size} of ${n}`)
    const bytesPerObject = (heapUsed() - base) / n

    // Steady state: bursts of MODIFIED events with everything stored; the best of 3 (the
    // machine is shared).
    let eventsPerSec = 0
    let eventsPerCpuSec = 0
    let serverCommitPerSec = 0
    for (let burst = 0; burst < 3; burst++) {
      const target = tally.modified + CHURN
      const { resourceVersion: churnRv, commitMs } = await server.ask<{ resourceVersion: number; commitMs: number }>({ type: 'churn', count: CHURN })
      await until(() => tally.modified === target, 3 * 60_000, `${CHURN} modified events`)
      tally.lastModifiedCpu = cpuMicros()
      check(tally.modified === target, `${mode}: ${tally.modified - target + CHURN} modified events of ${CHURN}`)
      const rate = (CHURN - 1) / ((tally.lastModifiedAt - tally.burstStartedAt) / 1000)
      if (rate > eventsPerSec) {
        eventsPerSec = rate
        serverCommitPerSec = CHURN / (commitMs / 1000)
      }
      eventsPerCpuSec = Math.max(eventsPerCpuSec, CHURN / ((tally.lastModifiedCpu - tally.burstCpuStart) / 1e6))
      check(tally.lastRv === String(churnRv), `${mode}: last resourceVersion ${tally.lastRv}, server at ${churnRv}`)
      tally.burstStartedAt = 0
    }
    // The same bursts with the whole burst waiting: this process's event loop is held (a
    // blocking wait) until the server has committed all of it, so the events sit in the
    // socket and the server's write buffers and the watcher then reads them as fast as it
    // can. The rate is the watcher's capacity, not the server's commit rate (which falls
    // with the server's own heap and is what the bursts above follow).
    const drainedPerSec = await heldBursts(server, () => tally.modified, () => [tally.burstStartedAt, tally.lastModifiedAt], () => (tally.burstStartedAt = 0), mode)

    // Relist after 410: exactly the real changes.
    const stored = heapUsed() - base
    tally.burstStartedAt = Number.POSITIVE_INFINITY // not a burst any more
    const before = { created: tally.created, modified: tally.modified, deleted: tally.deleted }
    const c0 = { ...ref.counters }
    const peak = peakSampler()
    const r0 = performance.now()
    const gone = await server.ask<{ deleted: string[] }>({ type: 'gone', changes: CHANGES })
    await until(() => tally.created - before.created >= CHANGES && tally.modified - before.modified >= CHANGES && tally.deleted - before.deleted >= CHANGES, 30 * 60_000, 'the relist changes')
    const relistMs = performance.now() - r0
    const relistPeak = peak() - base
    const marker = `marker-${mode}-${n}`
    await server.ask({ type: 'marker', name: marker })
    await until(() => tally.markers.has(marker), 60_000, 'the marker')
    check(tally.created - before.created === CHANGES + 1, `${mode}: relist delivered ${tally.created - before.created - 1} created, want ${CHANGES}`)
    check(tally.modified - before.modified === CHANGES, `${mode}: relist delivered ${tally.modified - before.modified} modified, want ${CHANGES}`)
    check(tally.deleted - before.deleted === CHANGES, `${mode}: relist delivered ${tally.deleted - before.deleted} deleted, want ${CHANGES}`)
    check(gone.deleted.every((name) => tally.deletedNames.has(name)), `${mode}: a deleted object was not reported deleted`)
    check(store!.size === n + 1, `${mode}: store holds ${store!.size} after the relist, want ${n + 1}`)
    const c1 = tally.counters as unknown as typeof c0
    const relistCounters = (['listPages', 'gone', 'relists', 'reconnects', 'failures', 'stalls'] as const).map((k) => `${k} ${c1[k] - c0[k]}`).join(', ')
    return { syncMs, bytesPerObject, eventsPerSec, eventsPerCpuSec, serverCommitPerSec, drainedPerSec, relistMs, relistPeakOverStored: relistPeak / stored, relistCounters }
  } finally {
    await Watcher.stop(ref)
    store = undefined
  }
}

const agent = new http.Agent({ keepAlive: true })

function getJson(url: string): Promise<{ metadata: { continue?: string; resourceVersion: string }; items: KubeObject[] }> {
  return new Promise((resolve, reject) => {
    http
      .get(url, { agent }, (res) => {
        const chunks: Buffer[] = []
        res.on('data', (c: Buffer) => chunks.push(c))
        res.on('end', () => {
          if (res.statusCode !== 200) reject(new Error(`GET ${url}: HTTP ${res.statusCode}`))
          else resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')))
        })
        res.on('error', reject)
      })
      .on('error', reject)
  })
}

/** The ceiling: paged GETs, `JSON.parse`, a `Map` by namespace/name. */
async function runBare(server: ForkedServer, url: string, n: number): Promise<{ syncMs: number; bytesPerObject: number; drainedPerSec: number }> {
  const base = heapUsed()
  const t0 = performance.now()
  let map: Map<string, KubeObject> | undefined = new Map()
  let cont: string | undefined
  let listRv: string | undefined
  do {
    const page = await getJson(`${url}/api/v1/namespaces/${NAMESPACE}/${KIND.plural}?limit=500${cont ? `&continue=${encodeURIComponent(cont)}` : ''}`)
    listRv ??= page.metadata.resourceVersion
    for (const o of page.items) map.set(`${o.metadata?.namespace}/${o.metadata?.name}`, o)
    cont = page.metadata.continue || undefined
  } while (cont)
  const syncMs = performance.now() - t0
  check(map.size === n, `bare reader: ${map.size} of ${n}`)
  const bytesPerObject = (heapUsed() - base) / n
  // The ceiling of the steady state: a bare watch reader (split + JSON.parse + Map.set),
  // fed the same held bursts as the watcher.
  const stored = map
  let modified = 0
  let firstAt = 0
  let lastAt = 0
  const watch = http.get(`${url}/api/v1/namespaces/${NAMESPACE}/${KIND.plural}?watch=1&resourceVersion=${listRv}`)
  const [res] = (await once(watch, 'response')) as [http.IncomingMessage]
  let rest = ''
  res.setEncoding('utf8')
  res.on('data', (chunk: string) => {
    const lines = (rest + chunk).split('\n')
    rest = lines.pop() as string
    for (const line of lines) {
      if (line === '') continue
      const event = JSON.parse(line) as { type: string; object: KubeObject }
      stored.set(`${event.object.metadata?.namespace}/${event.object.metadata?.name}`, event.object)
      if (event.type === 'MODIFIED') {
        modified++
        if (firstAt === 0) firstAt = performance.now()
        lastAt = performance.now()
      }
    }
  })
  let drainedPerSec = 0
  try {
    drainedPerSec = await heldBursts(server, () => modified, () => [firstAt, lastAt], () => (firstAt = 0), 'bare reader')
  } finally {
    watch.destroy()
  }
  map = undefined
  return { syncMs, bytesPerObject, drainedPerSec }
}

/**
 * Three bursts of {@link CHURN} MODIFIED events with the whole burst waiting: this
 * process's event loop is held (a blocking wait) until the server has committed all of
 * it, so the events sit in the socket and the server's write buffers and the reader then
 * takes them as fast as it can. Returns the best events/s, from the first to the last
 * MODIFIED event read (`times()`); `reset()` clears the first time between bursts.
 */
async function heldBursts(server: ForkedServer, count: () => number, times: () => [number, number], reset: () => void, who: string): Promise<number> {
  let best = 0
  const flagDir = mkdtempSync(join(tmpdir(), 'kubevisor-million-'))
  try {
    for (let burst = 0; burst < 3; burst++) {
      const target = count() + CHURN
      reset()
      const flag = join(flagDir, `burst-${burst}`)
      const answer = server.ask<{ resourceVersion: number }>({ type: 'churn', count: CHURN, flag })
      const hold = new Int32Array(new SharedArrayBuffer(4))
      const deadline = performance.now() + 3 * 60_000
      while (!existsSync(flag) && performance.now() < deadline) Atomics.wait(hold, 0, 0, 2)
      await answer
      await until(() => count() === target, 3 * 60_000, `${CHURN} modified events (${who}, held)`)
      check(count() === target, `${who}: ${count() - target + CHURN} modified events of ${CHURN} (held)`)
      const [first, last] = times()
      best = Math.max(best, (CHURN - 1) / ((last - first) / 1000))
    }
  } finally {
    rmSync(flagDir, { recursive: true, force: true })
  }
  return best
}

/** kubevisor's `SharedInformer` (one shared watch and store): sync and heap per object. */
async function runSharedInformer(url: string, n: number): Promise<{ syncMs: number; bytesPerObject: number }> {
  const base = heapUsed()
  const factory = new InformerFactory({ kubeConfig: kubeConfig(url), logger })
  const t0 = performance.now()
  try {
    const informer = factory.informer({ apiVersion: 'v1', kind: KIND.kind, namespace: NAMESPACE })
    informer.hold()
    await informer.store.synced
    const syncMs = performance.now() - t0
    check(informer.store.size === n, `SharedInformer: store holds ${informer.store.size} of ${n}`)
    const bytesPerObject = (heapUsed() - base) / n
    informer.release()
    return { syncMs, bytesPerObject }
  } finally {
    await factory.stop()
  }
}

/** The peer: client-node's informer (an unpaged list, then a watch); failures are results. */
async function runClientNode(url: string, n: number): Promise<{ syncMs: number; bytesPerObject: number } | { failure: string }> {
  const base = heapUsed()
  const kc = kubeConfig(url)
  const api = kc.makeApiClient(CoreV1Api)
  const informer =
    KIND.kind === 'ConfigMap'
      ? makeInformer<V1ConfigMap | V1Pod>(kc, `/api/v1/namespaces/${NAMESPACE}/configmaps`, () => api.listNamespacedConfigMap({ namespace: NAMESPACE }))
      : makeInformer<V1ConfigMap | V1Pod>(kc, `/api/v1/namespaces/${NAMESPACE}/pods`, () => api.listNamespacedPod({ namespace: NAMESPACE }))
  const t0 = performance.now()
  let added = 0
  try {
    await new Promise<void>((resolve, reject) => {
      informer.on('add', () => {
        if (++added === n) resolve()
      })
      informer.on('error', (err) => reject(err))
      informer.start().catch(reject)
      setTimeout(() => reject(new Error(`no sync after 15 min (${added} of ${n} added)`)), 15 * 60_000).unref()
    })
    const syncMs = performance.now() - t0
    check(informer.list().length === n, `client-node: cache holds ${informer.list().length} of ${n}`)
    return { syncMs, bytesPerObject: (heapUsed() - base) / n }
  } catch (err) {
    if (err instanceof BenchFailure) throw err
    const e = err as Error & { code?: number; body?: unknown }
    const detail = [e.name, e.code, e.message?.split('\n')[0]?.slice(0, 160)].filter((x) => x !== undefined && x !== '').join(': ')
    return { failure: `fails after ${((performance.now() - t0) / 1000).toFixed(1)} s (${added} added): ${detail}` }
  } finally {
    await informer.stop()
  }
}

const mib = (b: number) => `${(b / 2 ** 20).toFixed(0)} MiB`

async function main(): Promise<void> {
  const arg = process.argv.find((a) => a.startsWith('--sizes='))
  const sizes = arg ? arg.slice('--sizes='.length).split(',').map(Number) : KIND.kind === 'Pod' ? [10_000, 200_000] : [10_000, 100_000, 1_000_000]
  const skipPeer = process.argv.includes('--no-peer')
  const modesArg = process.argv.find((a) => a.startsWith('--modes='))
  const modes = (modesArg ? modesArg.slice('--modes='.length).split(',') : ['list', 'stream']) as ('list' | 'stream')[]
  if (!gc()) throw new Error('run with --expose-gc (see the header)')
  const server = await startServer()
  const rows: (string | number)[][] = []
  const figures = new Map<string, WatcherFigures>()
  /** The bare watch reader's events/s with the burst waiting, per size. */
  const bareDrained = new Map<number, number>()
  const notes: string[] = []
  try {
    for (const n of sizes) {
      for (const mode of modes) {
        const loaded = await server.ask<{ url: string; loadMs: number }>({ type: 'load', count: n })
        if (mode === 'list') {
          const heap = await server.ask<{ heapUsed: number }>({ type: 'heap' })
          notes.push(`${formatNumber(n)} objects: server loads them in ${(loaded.loadMs / 1000).toFixed(1)} s (in-process \`create\`, zeroCopy); its heap ${mib(heap.heapUsed)}`)
          const bare = await runBare(server, loaded.url, n)
          bareDrained.set(n, bare.drainedPerSec)
          const bareBase = bareDrained.get(sizes[0] as number) as number
          rows.push([formatNumber(n), 'ceiling: bare paged reader + Map; bare watch reader + Map', (bare.syncMs / 1000).toFixed(2), Math.round(bare.bytesPerObject), '', '', '', '', '', Math.round(bare.drainedPerSec), `${(bare.drainedPerSec / bareBase).toFixed(2)}×`, ''])
        }
        const f = await runWatcher(server, loaded.url, n, mode)
        figures.set(`${mode}/${n}`, f)
        const base = figures.get(`${mode}/${sizes[0]}`)!
        rows.push([
          formatNumber(n),
          `kubevisor Watcher + store, ${mode === 'list' ? 'paged list (limit 500)' : 'streaming list (sendInitialEvents)'}`,
          (f.syncMs / 1000).toFixed(2),
          Math.round(f.bytesPerObject),
          `${(f.bytesPerObject / base.bytesPerObject).toFixed(3)}×`,
          Math.round(f.eventsPerSec),
          `${(f.eventsPerSec / base.eventsPerSec).toFixed(2)}×`,
          `${Math.round(f.eventsPerCpuSec)} (${(f.eventsPerCpuSec / base.eventsPerCpuSec).toFixed(2)}×)`,
          Math.round(f.serverCommitPerSec),
          Math.round(f.drainedPerSec),
          `${(f.drainedPerSec / base.drainedPerSec).toFixed(2)}×`,
          `${(f.relistMs / 1000).toFixed(2)} s, peak ${f.relistPeakOverStored.toFixed(2)}× stored (${f.relistCounters})`,
        ])
        console.error(`million: ${mode} ${n} done`)
      }
      if (modes.includes('list')) {
        const loaded = await server.ask<{ url: string }>({ type: 'load', count: n })
        const shared = await runSharedInformer(loaded.url, n)
        rows.push([formatNumber(n), 'kubevisor SharedInformer (InformerFactory), paged list', (shared.syncMs / 1000).toFixed(2), Math.round(shared.bytesPerObject), '', '', '', '', '', '', '', ''])
        console.error(`million: SharedInformer ${n} done`)
      }
      if (!skipPeer) {
        const loaded = await server.ask<{ url: string }>({ type: 'load', count: n })
        const peer = await runClientNode(loaded.url, n)
        rows.push([formatNumber(n), 'peer: client-node makeInformer (unpaged list)', 'failure' in peer ? peer.failure : (peer.syncMs / 1000).toFixed(2), 'failure' in peer ? '' : Math.round(peer.bytesPerObject), '', '', '', '', '', '', '', ''])
        console.error(`million: client-node ${n} done`)
      }
    }
  } finally {
    await server.close()
  }
  const table: BenchTable = {
    title: `A million objects: ${KIND.label} in one namespace, embedded API server in a child process`,
    columns: ['objects', 'consumer', 'sync s', 'heap B/object', 'heap/obj vs smallest (≤ 1.05×)', 'events/s stored, live', 'live vs smallest', 'events per CPU-second of the watcher, live (vs smallest)', 'server commit rate, events/s (same burst)', 'events/s stored, burst waiting', 'burst waiting vs smallest (≥ 0.8×)', `relist after 410 (${CHANGES} mod + ${CHANGES} del + ${CHANGES} new, exact)`],
    rows,
    notes: [
      `${machine()}; steady state: bursts of ${formatNumber(CHURN)} MODIFIED events committed as fast as the server can (in slices of 500 per turn, objects far apart), received through the same watcher, best of 3 — "live": as the server commits them (so the rate follows the server's commit rate, printed beside it), "burst waiting": the watcher's event loop held until the server has committed the whole burst, so the rate is the watcher's own; relist time includes the watcher's reconnect backoff (client-go's, 0.8 s + jitter); relist peak: highest heapUsed sampled every 20 ms during the relist over the heap of the stored collection`,
      ...notes,
    ],
  }
  console.log(formatTable(table))
}

if (process.argv.includes('--serve')) {
  serve()
} else {
  main().catch((err) => {
    console.error(err instanceof BenchFailure ? `FAILED: ${err.message}` : err)
    process.exit(1)
  })
}
