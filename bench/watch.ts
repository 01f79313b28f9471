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
//   that drops `metadata.managedFields`.
// Then the same at 100k pods: initial sync time, events/s with 100k objects stored vs 1k,
// and heap per stored pod (after forced GC) against plain parsed pods in a Map.
//
//   ./dev node --conditions=source --expose-gc bench/watch.ts [--quick]
//
// Targets (DESIGN.md §7) are printed beside the figures; the script never asserts them.
import http from 'node:http'
import { StringDecoder } from 'node:string_decoder'
import { CoreV1Api, KubeConfig, makeInformer } from '@kubernetes/client-node'
import { noreply, ok } from '../lib/actor/index.ts'
import { createLogger } from '../lib/log.ts'
import type { KubeObject } from '../lib/watch/object.ts'
import { Watcher, type WatcherBehaviour } from '../lib/watcher/watcher.ts'
import { type DataSet, startWatchServer, type WatchServer } from './fixtures/watch-server.ts'
import { type BenchTable, formatTable, gc, machine } from './support.ts'

const logger = createLogger({ level: 'silent' })

/** What one consumer run observed. Times are `performance.now()` ms. */
interface Observed {
  startedAt: number
  /** All listed objects received (equals `startedAt` for consumers that do not list). */
  syncedAt: number
  /** First and last MODIFIED event received. */
  firstAt: number
  lastAt: number
  listed: number
  modified: number
  lastResourceVersion: string | undefined
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
  return { startedAt: now, syncedAt: now, firstAt: 0, lastAt: 0, listed: 0, modified: 0, lastResourceVersion: undefined }
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

/** A bare paged list: fetch each page, `JSON.parse` it, hand each item to `keep`. */
async function bareList(url: string, obs: Observed, keep?: (item: KubeObject) => void): Promise<string> {
  let cont: string | undefined
  let rv = ''
  do {
    const res = await get(`${url}/api/v1/pods?limit=500${cont ? `&continue=${cont}` : ''}`)
    const chunks: Buffer[] = []
    for await (const chunk of res) chunks.push(chunk as Buffer)
    const page = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { metadata: { resourceVersion: string; continue?: string }; items: KubeObject[] }
    for (const item of page.items) {
      obs.listed++
      keep?.(item)
    }
    rv = page.metadata.resourceVersion
    cont = page.metadata.continue || undefined
  } while (cont)
  obs.syncedAt = performance.now()
  return rv
}

/**
 * A bare watch reader: `mode` 'count' only counts lines (the server's ceiling); 'parse'
 * splits lines and `JSON.parse`s each, handing MODIFIED objects to `keep`.
 */
function bareWatch(url: string, rv: string, ds: DataSet, obs: Observed, mode: 'count' | 'parse', keep?: (object: KubeObject) => void): Running {
  const abort = new AbortController()
  const done = (async () => {
    const res = await get(`${url}/api/v1/pods?watch=true&resourceVersion=${rv}&allowWatchBookmarks=true`, abort.signal)
    const expected = ds.events
    const text = new StringDecoder('utf8')
    let rest = ''
    try {
      for await (const chunk of res as AsyncIterable<Buffer>) {
        if (mode === 'count') {
          for (let nl = chunk.indexOf(10); nl >= 0 && obs.modified < expected; nl = chunk.indexOf(10, nl + 1)) {
            if (obs.modified++ === 0) obs.firstAt = performance.now()
          }
        } else {
          const s = rest + text.write(chunk)
          let start = 0
          let nl = s.indexOf('\n')
          while (nl >= 0 && obs.modified < expected) {
            const ev = JSON.parse(s.slice(start, nl)) as { type: string; object: KubeObject }
            if (ev.type === 'MODIFIED') {
              if (obs.modified++ === 0) obs.firstAt = performance.now()
              obs.lastResourceVersion = ev.object.metadata?.resourceVersion
              keep?.(ev.object)
            }
            start = nl + 1
            nl = s.indexOf('\n', start)
          }
          rest = s.slice(start)
        }
        if (obs.modified >= expected) break
      }
    } finally {
      obs.lastAt = performance.now()
      res.destroy()
    }
    if (mode === 'count') obs.lastResourceVersion = ds.lastResourceVersion // lines counted, not read
    return obs
  })()
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
      const done = bareList(url, obs, keep).then((rv) => {
        inner = bareWatch(url, rv, ds, obs, 'parse', keep)
        return inner.done
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
        if (++obs.listed === ds.pods) obs.syncedAt = performance.now()
      })
      informer.on('update', (pod) => {
        if (obs.modified++ === 0) obs.firstAt = performance.now()
        if (obs.modified === ds.events) {
          obs.lastAt = performance.now()
          obs.lastResourceVersion = pod.metadata?.resourceVersion
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
  handleEvent(type, object, tally) {
    const obs = tally.obs
    if (type === 'modified') {
      if (obs.modified++ === 0) obs.firstAt = performance.now()
      if (obs.modified === tally.events) {
        obs.lastAt = performance.now()
        obs.lastResourceVersion = object.metadata?.resourceVersion
        tally.resolve(obs)
      }
    } else if (type === 'created') {
      obs.listed++
    }
    return noreply(tally)
  },
  handleSynced(tally) {
    tally.obs.syncedAt = performance.now()
    return noreply(tally)
  },
}

/** The transform users write to save memory: drop `metadata.managedFields` before storing. */
function dropManagedFields(object: KubeObject): KubeObject {
  if (object.metadata) delete object.metadata.managedFields
  return object
}

function watcher(name: string, store: boolean, transform?: (o: KubeObject) => KubeObject): Consumer {
  return {
    name,
    keeps: store,
    lists: true,
    start(url, ds) {
      const obs = observed()
      let ref: Awaited<ReturnType<typeof Watcher.start>> | undefined
      const done = new Promise<Observed>((resolve, reject) => {
        Watcher.start(Counting, { obs, events: ds.events, resolve }, { kubeConfig: kubeConfig(url), apiVersion: 'v1', kind: 'Pod', store, transform, logger }).then((r) => {
          ref = r
        }, reject)
      })
      return { done, stop: () => (ref ? Watcher.stop(ref) : undefined) }
    },
  }
}

/** The ceiling for the transform's memory: plain pods without managedFields in a Map. */
const mapReaderDropped = mapReaderOf('bare reader + Map, managedFields dropped', dropManagedFields)

const watcherBare = watcher('kubevisor Watcher, no store', false)
const watcherStore = watcher('kubevisor Watcher + store', true)
const watcherTransform = watcher('kubevisor Watcher + store + drop managedFields', true, dropManagedFields)

// --- harness ----------------------------------------------------------------------------

interface Sample {
  syncMs: number
  rate: number
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
  if (obs.modified !== ds.events || obs.listed !== expectListed || obs.lastResourceVersion !== ds.lastResourceVersion) {
    throw new Error(
      `${consumer.name}: received ${obs.listed}/${expectListed} listed and ${obs.modified}/${ds.events} events, last resourceVersion ${obs.lastResourceVersion} (expected ${ds.lastResourceVersion})`,
    )
  }
  let heapPerObject = Number.NaN
  if (heap) {
    gc()
    heapPerObject = (process.memoryUsage().heapUsed - heap0) / ds.pods
  }
  await running.stop()
  return { syncMs: obs.syncedAt - obs.startedAt, rate: ((ds.events - 1) / (obs.lastAt - obs.firstAt)) * 1000, heapPerObject, serverBusy }
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
function ratio(samples: Map<string, Sample[]>, of: Consumer, to: Consumer, field: 'rate' | 'syncMs' | 'heapPerObject'): number {
  const a = samples.get(of.name) ?? []
  const b = samples.get(to.name) ?? []
  return median(a.map((s, i) => s[field] / (b[i]?.[field] ?? Number.NaN)))
}

const fmt = (x: number, digits = 2) => (Number.isFinite(x) ? x.toFixed(digits) : '')
const pct = (x: number) => (Number.isFinite(x) ? `${Math.round(x * 100)}%` : '')

export async function run(options: { quick?: boolean } = {}): Promise<BenchTable[]> {
  const quick = options.quick ?? false
  const small = 1_000
  const large = quick ? 20_000 : 100_000
  const events = quick ? 10_000 : 30_000
  const smallRounds = quick ? 1 : 5
  const largeRounds = quick ? 1 : 2
  const haveGc = gc()
  const server = await startWatchServer()
  try {
    // 1. Throughput with 1k pods.
    const ds1 = await server.setup(small, events)
    const throughputConsumers = [serverCeiling, bareReader, mapReader, clientNode, watcherBare, watcherStore, watcherTransform]
    const s1 = await rounds(server, throughputConsumers, ds1, smallRounds, false)
    // 2. Scale, initial sync and memory with 100k pods.
    const ds2 = await server.setup(large, events)
    const scaleConsumers = [bareReader, mapReader, mapReaderDropped, clientNode, watcherBare, watcherStore, watcherTransform]
    const s2 = await rounds(server, scaleConsumers, ds2, largeRounds, haveGc)

    const rate1 = (c: Consumer) => median((s1.get(c.name) ?? []).map((s) => s.rate))
    const rate2 = (c: Consumer) => median((s2.get(c.name) ?? []).map((s) => s.rate))
    const busy = (c: Consumer) => median((s1.get(c.name) ?? []).map((s) => s.serverBusy))
    const target: Record<string, string> = {
      [clientNode.name]: 'known 0.64–0.78× bare, 0.92–1.05× Map',
      [watcherBare.name]: '≥ 0.9× bare',
      [watcherStore.name]: '≥ 1.0× Map',
      [watcherTransform.name]: '> 1.0× Map',
    }
    const throughput: BenchTable = {
      title: `Watch throughput (bench/watch.ts): ${small.toLocaleString('en-US')} pods, ${events.toLocaleString('en-US')} MODIFIED events of ~${Math.round(ds1.eventBytes)} B, median of ${smallRounds}`,
      columns: ['consumer', 'events/s', '× bare reader', '× Map reader', 'target', 'server CPU'],
      rows: throughputConsumers.map((c) => [
        c.name,
        rate1(c),
        fmt(ratio(s1, c, bareReader, 'rate')),
        c.keeps ? fmt(ratio(s1, c, mapReader, 'rate')) : '',
        target[c.name] ?? '',
        pct(busy(c)),
      ]),
      notes: [
        machine(),
        'server: bench/fixtures/watch-server.ts in a child process (pre-serialized pods, 64 KiB chunked writes); "server CPU" is its CPU time over the consumer\'s run (list + watch) as a share of one core, and the first row is what it can write to a reader that only counts lines.',
        'ratios are medians of per-round ratios (consumers run one after another, order rotated each round); events/s is timed from the first to the last MODIFIED event, after the initial list.',
        'every run checks its count of listed objects and events and the last resourceVersion; a short count fails the script.',
      ],
    }
    const syncTarget: Record<string, string> = { [clientNode.name]: 'known 2.27×', [watcherBare.name]: '≤ 1.2×', [watcherStore.name]: '≤ 1.2×', [watcherTransform.name]: '≤ 1.2×' }
    const scaleTarget: Record<string, string> = { [clientNode.name]: 'known 0.61–0.74×', [watcherStore.name]: '≥ 0.8×', [watcherTransform.name]: '≥ 0.8×' }
    const heapTarget: Record<string, string> = {
      [clientNode.name]: 'known 1.36×',
      [watcherStore.name]: '≤ 1.05×',
      [watcherTransform.name]: `≤ 0.6× (${fmt(ratio(s2, watcherTransform, mapReaderDropped, 'heapPerObject'))}× the dropped Map)`,
    }
    const heapPer = (c: Consumer) => median((s2.get(c.name) ?? []).map((s) => s.heapPerObject))
    const scale: BenchTable = {
      title: `Scale, initial sync and memory (bench/watch.ts): ${large.toLocaleString('en-US')} pods, median of ${largeRounds}`,
      columns: [
        'consumer',
        `sync ${large / 1000}k s`,
        '× bare fetch+parse',
        'sync target',
        `events/s at ${large / 1000}k`,
        `× at ${small / 1000}k`,
        'scale target',
        'heap B/pod',
        '× plain (Map)',
        'heap target',
      ],
      rows: scaleConsumers.map((c) => [
        c.name,
        fmt(median((s2.get(c.name) ?? []).map((s) => s.syncMs)) / 1000),
        fmt(ratio(s2, c, bareReader, 'syncMs')),
        syncTarget[c.name] ?? '',
        rate2(c),
        fmt(rate2(c) / rate1(c)),
        scaleTarget[c.name] ?? '',
        Number.isFinite(heapPer(c)) ? heapPer(c) : '',
        c.keeps && haveGc ? fmt(ratio(s2, c, mapReader, 'heapPerObject')) : '',
        heapTarget[c.name] ?? '',
      ]),
      notes: [
        'sync: from start to every listed object delivered (kubevisor: to handleSynced; client-node: its last `add`; its informer lists in one request, unpaged); kubevisor and the bare readers page by 500.',
        `× at ${small / 1000}k: median events/s here over median events/s in the 1k table (the same ${events.toLocaleString('en-US')} events, now spread over ${large.toLocaleString('en-US')} stored pods).`,
        haveGc
          ? 'heap: heapUsed after forced GC at the end of a run minus before it, per pod; the watcher without a store keeps resourceVersions only.'
          : 'heap: not measured (run with --expose-gc)',
      ],
    }
    return [throughput, scale]
  } finally {
    await server.close()
    agent.destroy()
  }
}

if (import.meta.main) {
  for (const table of await run({ quick: process.argv.includes('--quick') })) console.log(`${formatTable(table)}\n`)
}
