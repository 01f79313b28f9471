// Watchers end to end: every consumer reads the same list and the same watch stream of pod
// MODIFIED events (~4.2 KB each: labels, annotations, managedFields, spec, status) from a
// server in another process over loopback HTTP, one consumer after another, rotated and
// repeated; each must receive every event (counted, last resourceVersion checked) or the
// script fails. Figures are ratios to ceilings measured in the same run:
// - the server's own ceiling: a reader that only counts lines (shows what the server can write);
// - a bare reader: `node:http` GET, split lines, `JSON.parse` (and a bare paged list);
// - a bare reader that also keeps the parsed objects in a `Map` by namespace/name;
// - `@kubernetes/client-node` 2.x's informer (`makeInformer` + `listPodForAllNamespaces`; it always caches);
// - kubevisor `Watcher`s: without a store, with a store, with a store and a transform
//   that drops `metadata.managedFields`;
// - kubevisor `Watcher`s with `metadataOnly` (the server sends each pod as a
//   `PartialObjectMetadata`), without and with a store, against the full-object Watchers
//   over the same changes (issue #16 §1).
// Then the same at 100k pods: initial sync time, events/s with 100k objects stored vs 1k,
// and heap per stored pod (after forced GC) against plain parsed pods in a Map.
//
//   ./dev node --conditions=source --expose-gc bench/watch.ts [--quick] [--rounds=9,3]
//
// Targets (DESIGN.md §7) are printed beside the figures; the script never asserts them.
import http from 'node:http'
import { CoreV1Api, KubeConfig, makeInformer } from '@kubernetes/client-node'
import { noreply, ok } from '../lib/actor/index.ts'
import { createLogger } from '../lib/log.ts'
import { dropManagedFields, HttpListWatchClient, type KubeObject, WatchRunner } from '../lib/watch/index.ts'
import { Watcher, type WatcherBehaviour } from '../lib/watcher/watcher.ts'
import { type DataSet, startWatchServer, type WatchServer } from './fixtures/watch-server.ts'
import { type BenchTable, bareLines, formatTable, gc, machine } from './support.ts'

const logger = createLogger({ level: 'silent' })

/** What one consumer run observed. Times are `performance.now()` ms. */
interface Observed {
  startedAt: number
  /** All listed objects received (equals `startedAt` for consumers that do not list). */
  syncedAt: number
  /** First and last MODIFIED event received. */
  firstAt: number
  lastAt: number
  /** The same instants in this process's CPU time (all threads, GC helpers included). */
  cpuStartedAt: number
  cpuSyncedAt: number
  cpuFirstAt: number
  cpuLastAt: number
  listed: number
  modified: number
  lastResourceVersion: string | undefined
  /** Objects the consumer holds at the end (its Map, cache or store), -1 when it keeps none. */
  stored: number
}

/** This process's CPU time (user + system, all threads) in ms. */
function cpuNow(): number {
  const { user, system } = process.cpuUsage()
  return (user + system) / 1000
}

/** A running consumer: `done` settles once every event arrived; `stop` tears it down. */
interface Running {
  done: Promise<Observed>
  stop(): Promise<void> | void
}

interface Consumer {
  name: string
  /** Whether it keeps every object (compared with the Map reader, measured for heap). */
  keeps: boolean
  /** Whether it lists first (the server ceiling does not). */
  lists: boolean
  start(url: string, ds: DataSet): Running
}

function observed(): Observed {
  const now = performance.now()
  const cpu = cpuNow()
  return { startedAt: now, syncedAt: now, firstAt: 0, lastAt: 0, cpuStartedAt: cpu, cpuSyncedAt: cpu, cpuFirstAt: 0, cpuLastAt: 0, listed: 0, modified: 0, lastResourceVersion: undefined, stored: -1 }
}

function firstEvent(obs: Observed): void {
  obs.firstAt = performance.now()
  obs.cpuFirstAt = cpuNow()
}

function lastEvent(obs: Observed): void {
  obs.lastAt = performance.now()
  obs.cpuLastAt = cpuNow()
}

/**
 * Records the end of the initial list, then forces a full GC (with --expose-gc) before the
 * first watch event is handled, so the watch phase measures the steady state with the
 * objects stored, not the collection of the heap the list just grew. Every consumer calls
 * it before it handles its first watch event.
 */
function synced(obs: Observed): void {
  obs.syncedAt = performance.now()
  obs.cpuSyncedAt = cpuNow()
  gc()
}

// --- bare readers (the ceilings) --------------------------------------------------------

const agent = new http.Agent({ keepAlive: true })

function get(url: string, signal?: AbortSignal): Promise<http.IncomingMessage> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent, signal }, (res) => {
      if (res.statusCode !== 200) reject(new Error(`GET ${url}: HTTP ${res.statusCode}`))
      else resolve(res)
    })
    req.on('error', reject)
  })
}

/** Reads a whole body the direct way ('data' events, one concat). */
function readAll(res: http.IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    res.on('data', (chunk: Buffer) => chunks.push(chunk))
    res.on('end', () => resolve(Buffer.concat(chunks)))
    res.on('error', reject)
  })
}

/** A bare paged list: fetch each page, `JSON.parse` it, hand each item to `keep`. */
async function bareList(url: string, obs: Observed, keep?: (item: KubeObject) => void): Promise<string> {
  let cont: string | undefined
  let rv = ''
  do {
    const res = await get(`${url}/api/v1/pods?limit=500${cont ? `&continue=${cont}` : ''}`)
    const page = JSON.parse((await readAll(res)).toString('utf8')) as { metadata: { resourceVersion: string; continue?: string }; items: KubeObject[] }
    for (const item of page.items) {
      obs.listed++
      keep?.(item)
    }
    rv = page.metadata.resourceVersion
    cont = page.metadata.continue || undefined
  } while (cont)
  synced(obs)
  return rv
}

/**
 * A bare watch reader: `mode` 'count' only counts lines (the server's ceiling); 'parse' is
 * `bareLines` (split lines, `JSON.parse` each), handing MODIFIED objects to `keep`.
 */
function bareWatch(url: string, rv: string, ds: DataSet, obs: Observed, mode: 'count' | 'parse', keep?: (object: KubeObject) => void): Running {
  const abort = new AbortController()
  const done = get(`${url}/api/v1/pods?watch=true&resourceVersion=${rv}&allowWatchBookmarks=true`, abort.signal).then(
    (res) =>
      new Promise<Observed>((resolve, reject) => {
        const expected = ds.events
        const parse = bareLines((ev) => {
          if (ev.type === 'MODIFIED') {
            if (obs.modified++ === 0) firstEvent(obs)
            obs.lastResourceVersion = ev.object.metadata?.resourceVersion
            keep?.(ev.object as KubeObject)
          }
          return obs.modified < expected
        })
        const finish = () => {
          lastEvent(obs)
          if (mode === 'count') obs.lastResourceVersion = ds.lastResourceVersion // lines counted, not read
          res.destroy()
          resolve(obs)
        }
        res.on('error', (err) => (obs.modified >= expected ? undefined : reject(err)))
        res.on('end', () => reject(new Error(`watch ended after ${obs.modified} of ${expected} events`)))
        // 'data' events: each chunk as the socket delivered it, no re-buffering.
        res.on('data', (chunk: Buffer) => {
          if (obs.modified >= expected) return
          if (mode === 'count') {
            for (let nl = chunk.indexOf(10); nl >= 0 && obs.modified < expected; nl = chunk.indexOf(10, nl + 1)) {
              if (obs.modified++ === 0) firstEvent(obs)
            }
          } else {
            parse(chunk)
          }
          if (obs.modified >= expected) finish()
        })
      }),
  )
  return { done, stop: () => abort.abort() }
}

const keyOf = (o: KubeObject) => `${o.metadata?.namespace}/${o.metadata?.name}`

const serverCeiling: Consumer = {
  name: 'server ceiling: count lines only',
  keeps: false,
  lists: false,
  start: (url, ds) => bareWatch(url, ds.listResourceVersion, ds, observed(), 'count'),
}

const bareReader: Consumer = {
  name: 'bare reader: split + JSON.parse',
  keeps: false,
  lists: true,
  start(url, ds) {
    const obs = observed()
    let inner: Running | undefined
    const done = bareList(url, obs).then((rv) => {
      inner = bareWatch(url, rv, ds, obs, 'parse')
      return inner.done
    })
    return { done, stop: () => inner?.stop() }
  },
}

function mapReaderOf(name: string, transform?: (o: KubeObject) => KubeObject): Consumer {
  return {
    name,
    keeps: true,
    lists: true,
    start(url, ds) {
      const obs = observed()
      let map: Map<string, KubeObject> | undefined = new Map<string, KubeObject>()
      const keep = (o: KubeObject) => map?.set(keyOf(o), transform ? transform(o) : o)
      let inner: Running | undefined
      const done = bareList(url, obs, keep).then(async (rv) => {
        inner = bareWatch(url, rv, ds, obs, 'parse', keep)
        await inner.done
        obs.stored = map?.size ?? -1
        return obs
      })
      return {
        done,
        stop: () => {
          inner?.stop()
          map = undefined
        },
      }
    },
  }
}

const mapReader = mapReaderOf('bare reader + Map by namespace/name')

// --- @kubernetes/client-node's informer -------------------------------------------------

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

const clientNode: Consumer = {
  name: 'client-node informer (caches)',
  keeps: true,
  lists: true,
  start(url, ds) {
    const obs = observed()
    const kc = kubeConfig(url)
    const api = kc.makeApiClient(CoreV1Api)
    const informer = makeInformer(kc, '/api/v1/pods', () => api.listPodForAllNamespaces())
    const done = new Promise<Observed>((resolve, reject) => {
      informer.on('add', () => {
        if (++obs.listed === ds.pods) synced(obs)
      })
      informer.on('update', (pod) => {
        if (obs.modified++ === 0) firstEvent(obs)
        if (obs.modified === ds.events) {
          lastEvent(obs)
          obs.lastResourceVersion = pod.metadata?.resourceVersion
          obs.stored = informer.list().length
          resolve(obs)
        }
      })
      informer.on('error', reject)
      informer.start().catch(reject)
    })
    return { done, stop: () => informer.stop() }
  },
}

// --- kubevisor watchers -----------------------------------------------------------------

interface Tally {
  obs: Observed
  events: number
  resolve: (obs: Observed) => void
}

/** Counts events; keeps nothing itself (the store, when asked for, keeps the objects). */
const Counting: WatcherBehaviour<KubeObject, Tally> = {
  init: (tally) => ok(tally),
  handleEvent(type, object, tally, ctx) {
    const obs = tally.obs
    if (type === 'modified') {
      if (obs.modified++ === 0) firstEvent(obs)
      if (obs.modified === tally.events) {
        lastEvent(obs)
        obs.lastResourceVersion = object.metadata?.resourceVersion
        obs.stored = ctx.store?.size ?? -1
        tally.resolve(obs)
      }
    } else if (type === 'created') {
      obs.listed++
    }
    return noreply(tally)
  },
  handleSynced(tally) {
    synced(tally.obs)
    return noreply(tally)
  },
}

function watcher(name: string, store: boolean, transform?: (o: KubeObject) => KubeObject, metadataOnly = false): Consumer {
  return {
    name,
    keeps: store,
    lists: true,
    start(url, ds) {
      const obs = observed()
      let ref: Awaited<ReturnType<typeof Watcher.start>> | undefined
      const done = new Promise<Observed>((resolve, reject) => {
        Watcher.start(Counting, { obs, events: ds.events, resolve }, { kubeConfig: kubeConfig(url), apiVersion: 'v1', kind: 'Pod', store, transform, metadataOnly, logger }).then((r) => {
          ref = r
        }, reject)
      })
      return { done, stop: () => (ref ? Watcher.stop(ref) : undefined) }
    },
  }
}

/**
 * For orientation, not a target: the list/watch engine alone (`WatchRunner` in push mode
 * over `HttpListWatchClient`, no processes), so the table separates the engine's cost
 * from the actor delivery's.
 */
const runnerAlone: Consumer = {
  name: 'kubevisor WatchRunner alone (no actor; info)',
  keeps: false,
  lists: true,
  start(url, ds) {
    const obs = observed()
    let resolve: (obs: Observed) => void = () => {}
    const done = new Promise<Observed>((r) => {
      resolve = r
    })
    const runner = new WatchRunner({
      client: new HttpListWatchClient(kubeConfig(url), { apiVersion: 'v1', kind: 'Pod' }),
      logger,
      sink: (n) => {
        if (n.type === 'modified') {
          if (obs.modified++ === 0) firstEvent(obs)
          if (obs.modified === ds.events) {
            lastEvent(obs)
            obs.lastResourceVersion = n.object.metadata?.resourceVersion
            resolve(obs)
          }
        } else if (n.type === 'created') {
          obs.listed++
        } else if (n.type === 'synced') {
          synced(obs)
        }
        return true
      },
    })
    runner.start()
    return { done, stop: () => runner.stop() }
  },
}

/** The ceiling for the transform's memory: plain pods without managedFields in a Map. */
const mapReaderDropped = mapReaderOf('bare reader + Map, managedFields dropped', dropManagedFields)

const watcherBare = watcher('kubevisor Watcher, no store', false)
const watcherStore = watcher('kubevisor Watcher + store', true)
const watcherTransform = watcher('kubevisor Watcher + store + drop managedFields', true, dropManagedFields)
const watcherMetaBare = watcher('kubevisor Watcher metadataOnly, no store', false, undefined, true)
const watcherMetaStore = watcher('kubevisor Watcher metadataOnly + store', true, undefined, true)
const watcherMetaDropped = watcher('kubevisor Watcher metadataOnly + store + drop managedFields', true, dropManagedFields, true)

// --- harness ----------------------------------------------------------------------------

interface Sample {
  syncMs: number
  /** CPU ms this process spent on the sync. */
  syncCpuMs: number
  /** MODIFIED events per second of wall time (first to last event). */
  rate: number
  /** MODIFIED events per second of this process's CPU time: steadier on a shared machine. */
  cpuRate: number
  /** Heap bytes per listed object still held at the end (after GC), when measured. */
  heapPerObject: number
  /** Share of one core the server used over the run. */
  serverBusy: number
}

async function measure(server: WatchServer, consumer: Consumer, ds: DataSet, heap: boolean): Promise<Sample> {
  // Let the previous consumer's sockets and timers wind down, so its garbage is collectable.
  await new Promise((resolve) => setTimeout(resolve, 100))
  gc()
  const heap0 = process.memoryUsage().heapUsed
  const cpu0 = await server.cpuMs()
  const t0 = performance.now()
  const running = consumer.start(server.url, ds)
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${consumer.name}: no completion within 180 s`)), 180_000)
  })
  let obs: Observed
  try {
    obs = await Promise.race([running.done, timeout])
  } finally {
    clearTimeout(timer)
  }
  const wall = performance.now() - t0
  const serverBusy = ((await server.cpuMs()) - cpu0) / wall
  // Every event, in full: a consumer that drops events must not look fast.
  const expectListed = consumer.lists ? ds.pods : 0
  const expectStored = consumer.keeps ? ds.pods : -1
  if (obs.modified !== ds.events || obs.listed !== expectListed || obs.lastResourceVersion !== ds.lastResourceVersion || obs.stored !== expectStored) {
    throw new Error(
      `${consumer.name}: received ${obs.listed}/${expectListed} listed and ${obs.modified}/${ds.events} events, last resourceVersion ${obs.lastResourceVersion} (expected ${ds.lastResourceVersion}), holds ${obs.stored}/${expectStored}`,
    )
  }
  let heapPerObject = Number.NaN
  if (heap) {
    gc()
    heapPerObject = (process.memoryUsage().heapUsed - heap0) / ds.pods
  }
  await running.stop()
  return {
    syncMs: obs.syncedAt - obs.startedAt,
    syncCpuMs: obs.cpuSyncedAt - obs.cpuStartedAt,
    rate: ((ds.events - 1) / (obs.lastAt - obs.firstAt)) * 1000,
    cpuRate: ((ds.events - 1) / (obs.cpuLastAt - obs.cpuFirstAt)) * 1000,
    heapPerObject,
    serverBusy,
  }
}

function median(xs: readonly number[]): number {
  const s = xs.filter((x) => !Number.isNaN(x)).sort((a, b) => a - b)
  if (s.length === 0) return Number.NaN
  const mid = s.length >> 1
  return s.length % 2 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2
}

/** Runs every consumer `rounds` times, the order rotated each round; samples by consumer name. */
async function rounds(server: WatchServer, consumers: readonly Consumer[], ds: DataSet, n: number, heap: boolean): Promise<Map<string, Sample[]>> {
  const out = new Map<string, Sample[]>(consumers.map((c) => [c.name, []]))
  for (let r = 0; r < n; r++) {
    for (let j = 0; j < consumers.length; j++) {
      const c = consumers[(j + r) % consumers.length] as Consumer
      const sample = await measure(server, c, ds, heap)
      out.get(c.name)?.push(sample)
      if (process.env.BENCH_VERBOSE) console.error(`${ds.pods} pods · ${c.name}: ${JSON.stringify(sample)}`)
    }
  }
  return out
}

/** Median over rounds of the per-round ratio `of[i] / to[i]` (both measured in the same round). */
function ratio(samples: Map<string, Sample[]>, of: Consumer, to: Consumer, field: Exclude<keyof Sample, 'serverBusy'>): number {
  const a = samples.get(of.name) ?? []
  const b = samples.get(to.name) ?? []
  return median(a.map((s, i) => s[field] / (b[i]?.[field] ?? Number.NaN)))
}

/** `median (min–max)` of the per-round ratios, for figures that vary a lot between rounds. */
function ratioRange(samples: Map<string, Sample[]>, of: Consumer, to: Consumer, field: Exclude<keyof Sample, 'serverBusy'>): string {
  const a = samples.get(of.name) ?? []
  const b = samples.get(to.name) ?? []
  const rs = a.map((s, i) => s[field] / (b[i]?.[field] ?? Number.NaN)).filter((x) => Number.isFinite(x))
  if (rs.length === 0) return ''
  if (rs.length === 1) return fmt(rs[0] as number)
  return `${fmt(median(rs))} (${fmt(Math.min(...rs))}–${fmt(Math.max(...rs))})`
}

const fmt = (x: number, digits = 2) => (Number.isFinite(x) ? x.toFixed(digits) : '')
const pct = (x: number) => (Number.isFinite(x) ? `${Math.round(x * 100)}%` : '')

const both = (wall: number, cpu: number) => (Number.isFinite(wall) ? `${fmt(wall)} / ${fmt(cpu)}` : '')

/**
 * Runs the benchmark: throughput with 1k pods (`smallRounds` rounds), then scale, initial
 * sync and memory with 100k pods (`largeRounds` rounds). `quick` shrinks everything for a
 * smoke run.
 */
export async function run(options: { quick?: boolean; smallRounds?: number; largeRounds?: number } = {}): Promise<BenchTable[]> {
  const quick = options.quick ?? false
  const small = 1_000
  const large = quick ? 20_000 : 100_000
  const memoryPods = quick ? 5_000 : 20_000
  const smallEvents = quick ? 5_000 : 40_000
  const largeEvents = quick ? 5_000 : 150_000 // every pod replaced 1.5×: full collections of the large heap fall inside the window
  const smallRounds = options.smallRounds ?? (quick ? 1 : 9)
  const largeRounds = options.largeRounds ?? (quick ? 1 : 3)
  const haveGc = gc()
  const server = await startWatchServer()
  try {
    // 1. Throughput with 1k pods.
    const ds1 = await server.setup(small, smallEvents, 150)
    const throughputConsumers = [serverCeiling, bareReader, mapReader, clientNode, runnerAlone, watcherBare, watcherStore, watcherTransform, watcherMetaBare, watcherMetaStore]
    const s1 = await rounds(server, throughputConsumers, ds1, smallRounds, false)
    // 2. Scale and initial sync with 100k pods.
    const ds2 = await server.setup(large, largeEvents, 1000)
    const scaleConsumers = [bareReader, mapReader, clientNode, watcherBare, watcherStore, watcherMetaBare, watcherMetaStore]
    const s2 = await rounds(server, scaleConsumers, ds2, largeRounds, false)
    // 3. Memory: heap per pod does not depend on the count (the same within 0.3% at 20k and 100k), so fewer pods do.
    const ds3 = await server.setup(memoryPods, 1_000)
    const memoryConsumers = [bareReader, mapReader, mapReaderDropped, clientNode, watcherBare, watcherStore, watcherTransform, watcherMetaStore, watcherMetaDropped]
    const s3 = haveGc ? await rounds(server, memoryConsumers, ds3, 1, true) : new Map<string, Sample[]>()

    const med = (samples: Map<string, Sample[]>, c: Consumer, field: keyof Sample) => median((samples.get(c.name) ?? []).map((s) => s[field]))
    const target: Record<string, string> = {
      [clientNode.name]: 'known 0.64–0.78× bare, 0.92–1.05× Map',
      [watcherBare.name]: '≥ 0.9× bare',
      [watcherStore.name]: '≥ 1.0× Map',
      [watcherTransform.name]: '> 1.0× Map',
    }
    const throughput: BenchTable = {
      title: `Watch throughput (bench/watch.ts): ${small.toLocaleString('en-US')} pods, ${smallEvents.toLocaleString('en-US')} MODIFIED events of ~${Math.round(ds1.eventBytes)} B, median of ${smallRounds}`,
      columns: ['consumer', 'events/s', '× bare reader (wall / CPU)', '× Map reader (wall / CPU)', 'target', 'server CPU'],
      rows: throughputConsumers.map((c) => [
        c.name,
        med(s1, c, 'rate'),
        both(ratio(s1, c, bareReader, 'rate'), ratio(s1, c, bareReader, 'cpuRate')),
        c.keeps ? both(ratio(s1, c, mapReader, 'rate'), ratio(s1, c, mapReader, 'cpuRate')) : '',
        target[c.name] ?? '',
        pct(med(s1, c, 'serverBusy')),
      ]),
      notes: [
        machine(),
        'server: bench/fixtures/watch-server.ts in a child process (pre-serialized pods, 64 KiB chunked writes). "server CPU" is its CPU time over the consumer\'s run as a share of one core; the first row is what it writes to a reader that only counts lines.',
        'events/s: from the first to the last MODIFIED event. The server holds a watch\'s events back briefly (150 ms; 1 s at 100k) and each consumer forces a full GC once its list is in, so every consumer starts the watch phase settled. Ratios are medians of per-round ratios (consumers one after another, order rotated each round): "wall" by elapsed time, "CPU" by this process\'s CPU time (all threads, GC helpers included), steadier when other processes share the cores.',
        'every run checks its counts of listed objects and events, the last resourceVersion and the number of objects held; a short count fails the script.',
      ],
    }
    const syncTarget: Record<string, string> = { [clientNode.name]: 'known 2.27×', [watcherBare.name]: '≤ 1.2×', [watcherStore.name]: '≤ 1.2×' }
    const scaleTarget: Record<string, string> = { [clientNode.name]: 'known 0.61–0.74×', [watcherStore.name]: '≥ 0.8×' }
    const heapTarget: Record<string, string> = { [clientNode.name]: 'known 1.36×', [watcherStore.name]: '≤ 1.05×', [watcherTransform.name]: '≤ 0.6×', [watcherMetaStore.name]: '≤ 0.25×' }
    const k = (n: number) => `${n / 1000}k`
    const scale: BenchTable = {
      title: `Scale and initial sync (bench/watch.ts): ${large.toLocaleString('en-US')} pods, ${largeEvents.toLocaleString('en-US')} events, median (range) of ${largeRounds}`,
      columns: [
        'consumer',
        `sync ${k(large)} s`,
        '× bare fetch+parse (wall)',
        '× bare fetch+parse (CPU)',
        '× fetch+parse+Map (wall)',
        'sync target',
        `events/s at ${k(large)}`,
        `${k(large)} vs ${k(small)} (wall / CPU)`,
        'scale target',
      ],
      rows: scaleConsumers.map((c) => [
        c.name,
        fmt(med(s2, c, 'syncMs') / 1000),
        ratioRange(s2, c, bareReader, 'syncMs'),
        ratioRange(s2, c, bareReader, 'syncCpuMs'),
        ratioRange(s2, c, mapReader, 'syncMs'),
        syncTarget[c.name] ?? '',
        med(s2, c, 'rate'),
        c === bareReader
          ? `raw ${both(med(s2, c, 'rate') / med(s1, c, 'rate'), med(s2, c, 'cpuRate') / med(s1, c, 'cpuRate'))}`
          : both(ratio(s2, c, bareReader, 'rate') / ratio(s1, c, bareReader, 'rate'), ratio(s2, c, bareReader, 'cpuRate') / ratio(s1, c, bareReader, 'cpuRate')),
        scaleTarget[c.name] ?? '',
      ]),
      notes: [
        'sync: from start until every listed object was delivered (kubevisor: `handleSynced`; client-node: its last `add`; its informer lists in one unpaged request); kubevisor and the bare readers page by 500. The bare fetch+parse keeps nothing; the Map reader keeps every pod, as a store must, so its column shows what keeping 100k objects costs by itself (garbage collection).',
        `${k(large)} vs ${k(small)}: the consumer's events/s relative to the bare reader in the same round, at ${k(large)} stored pods over the same at ${k(small)} (events now spread over ${large.toLocaleString('en-US')} stored pods, so replaced objects die in the old generation). The bare reader keeps nothing, so its own change between the two phases ("raw") is the machine's drift, which this cancels.`,
      ],
    }
    const heapPer = (c: Consumer) => med(s3, c, 'heapPerObject')
    const memory: BenchTable = {
      title: `Memory (bench/watch.ts): heap per stored pod, ${memoryPods.toLocaleString('en-US')} pods`,
      columns: ['consumer', 'heap B/pod', '× plain pod in a Map', 'target'],
      rows: memoryConsumers.map((c) => [c.name, haveGc ? heapPer(c) : '', haveGc ? fmt(heapPer(c) / heapPer(mapReader)) : '', heapTarget[c.name] ?? '']),
      notes: [
        haveGc
          ? 'heapUsed after forced GC at the end of a run (list, then 1,000 events) minus before it, per pod. "bare reader + Map, managedFields dropped" is the floor for any transform that drops only managedFields from these pods; the watcher without a store keeps resourceVersions only.'
          : 'not measured: run with --expose-gc',
      ],
    }
    // 4. Metadata-only watches against the full-object Watchers, from the runs above (issue #16 §1).
    const metaPairs: [string, Consumer, Consumer][] = [
      ['no store', watcherMetaBare, watcherBare],
      ['+ store', watcherMetaStore, watcherStore],
      ['+ store + drop managedFields', watcherMetaDropped, watcherStore],
    ]
    const metadata: BenchTable = {
      title: 'Metadata-only watches (bench/watch.ts): `metadataOnly: true` over the full-object Watcher, same changes, same run',
      columns: ['watcher', `events/s × full (wall / CPU), ${k(small)}`, `events/s × full (wall / CPU), ${k(large)}`, `sync ${k(large)} × full (wall / CPU)`, 'heap/pod × plain pod in a Map', 'heap/pod × full Watcher + store'],
      rows: [
        ...metaPairs.map(([what, meta, full]) => [
          `kubevisor Watcher metadataOnly, ${what}`,
          s1.has(meta.name) ? both(ratio(s1, meta, full, 'rate'), ratio(s1, meta, full, 'cpuRate')) : '',
          s2.has(meta.name) ? both(ratio(s2, meta, full, 'rate'), ratio(s2, meta, full, 'cpuRate')) : '',
          s2.has(meta.name) ? both(ratio(s2, meta, full, 'syncMs'), ratio(s2, meta, full, 'syncCpuMs')) : '',
          meta.keeps && haveGc ? fmt(heapPer(meta) / heapPer(mapReader)) : '',
          meta.keeps && haveGc ? fmt(heapPer(meta) / heapPer(full)) : '',
        ]),
        ['target', '≥ 2×', '≥ 2×', '≤ 0.4×', '≤ 0.25×', ''],
      ],
      notes: [
        'the server sends the same MODIFIED events either way; with metadataOnly each pod is a PartialObjectMetadata (its whole metadata: labels, annotations, owner references, managedFields), as kube-apiserver answers `Accept: application/json;as=PartialObjectMetadata[List];g=meta.k8s.io;v=v1`.',
        'ratios are medians of per-round ratios against the full-object Watcher with the same store setting, measured in the same rounds as the tables above.',
      ],
    }
    return [throughput, scale, memory, metadata]
  } finally {
    await server.close()
    agent.destroy()
  }
}

/**
 * For profiling consumers: `--only=<part of a consumer's name>[|<another part>…] [--pods=N] [--events=M]
 * [--rounds=R]` prints each run's raw sample, e.g.
 * `node --conditions=source --expose-gc --cpu-prof bench/watch.ts --only="Watcher + store" --pods=100000`.
 */
async function probe(args: Map<string, string>): Promise<void> {
  const only = (args.get('only') ?? '').split('|')
  const all = [serverCeiling, bareReader, mapReader, mapReaderDropped, clientNode, runnerAlone, watcherBare, watcherStore, watcherTransform, watcherMetaBare, watcherMetaStore, watcherMetaDropped]
  const picked = all.filter((c) => only.some((part) => c.name.includes(part)))
  const server = await startWatchServer()
  try {
    const pods = Number(args.get('pods') ?? 1000)
    const ds = await server.setup(pods, Number(args.get('events') ?? 30_000), pods > 10_000 ? 1000 : 150)
    for (let r = 0; r < Number(args.get('rounds') ?? 1); r++) {
      for (const c of picked) console.log(`${ds.pods} pods · ${c.name}: ${JSON.stringify(await measure(server, c, ds, gc()))}`)
    }
  } finally {
    await server.close()
    agent.destroy()
  }
}

if (import.meta.main) {
  const args = new Map(process.argv.slice(2).map((a) => a.replace(/^--/, '').split('=') as [string, string]))
  if (args.has('only')) await probe(args)
  else {
    // `--rounds=S,L`: fewer rounds (1k pods, 100k pods) on a busy machine.
    const [smallRounds, largeRounds] = (args.get('rounds') ?? '').split(',').map((n) => (n ? Number(n) : undefined))
    for (const table of await run({ quick: args.has('quick'), smallRounds, largeRounds })) console.log(`${formatTable(table)}\n`)
  }
}
