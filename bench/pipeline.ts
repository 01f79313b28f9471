// The consumers of bench/watch.ts without the network and without the machine's noise:
// each consumer runs in its own worker thread (its own heap and garbage collector) and
// reads the same bytes of a pod watch stream, but they take turns: turn 1 (a few 64 KiB
// chunks, ~60 events, ~2 ms) to every consumer, then turn 2 to every consumer, and so on,
// the order rotated each turn. Each consumer times its own turns; the figures are the
// sums. Why: this machine's speed changes by up to 1.7× from one second to the next (a
// fixed `JSON.parse` loop takes 152–259 ms per round; other VMs share the host), so runs
// one after another, as in bench/watch.ts, differ by ±25% for no reason of their own.
// Turns of a few milliseconds give every consumer the same share of fast and slow moments.
// Turns are timed with the clock (only one consumer runs at a time): thread CPU time on
// this kernel comes in scheduler ticks, too coarse for turns of ~2 ms.
// A second bare reader (the A/A row) shows the noise that is left.
//
// What it measures: the CPU work per watch event of each pipeline (decode → engine →
// known versions or store → actor mailbox → callback) against a bare `split + JSON.parse`
// reader and a bare reader that keeps a `Map`, in steady state with 1,000 pods stored; then
// (the scale table) the consumers that keep objects over 1,000 and over 100,000 pods.
// The process runs with `--single-threaded-gc` (it re-executes itself with the flag), so
// each consumer's garbage collection runs on its own thread and counts in its own time.
// Socket reading is left out for every consumer alike; bench/watch.ts measures it over HTTP.
//
//   ./dev node --conditions=source --expose-gc bench/pipeline.ts [--events=N] [--chunks-per-turn=K] [--only=<part of a name>|…]
//     [--large=100000] [--scale-events=150000] [--scale-only]
import { spawnSync } from 'node:child_process'
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads'
import { noreply, ok } from '../lib/actor/index.ts'
import { createLogger } from '../lib/log.ts'
import { dropManagedFields, type KubeObject, type ListWatchClient, WatchRunner } from '../lib/watch/index.ts'
import { Watcher, type WatcherBehaviour } from '../lib/watcher/watcher.ts'
import { chunked, makePod } from './fixtures/pods.ts'
import { type BenchTable, bareLines, formatTable, machine } from './support.ts'

const PODS = 1000
const CHUNK = 65_536
/** Chunks per turn: ~4 × 64 KiB ≈ 60 events of ~4.2 KB. */
const CHUNKS_PER_TURN = 4

/** A consumer: `feed` hands it the chunks of one turn and resolves once it handled every event they complete. */
interface Pipeline {
  feed(chunks: readonly Uint8Array[], events: number): Promise<void> | void
  /** MODIFIED events handled so far: checked against the stream at the end. */
  handled(): number
}

interface ConsumerDef {
  name: string
  /** Whether it keeps every object (compared with the Map reader). */
  keeps: boolean
  make(list: () => KubeObject[]): Promise<Pipeline>
}

// --- the ceilings --------------------------------------------------------------------------

/** The bare reader (`bareLines`, as in bench/watch.ts); `keep` gets each MODIFIED object. */
function bare(keep?: (object: KubeObject) => void): Pipeline {
  let seen = 0
  const feed = bareLines((ev) => {
    if (ev.type === 'MODIFIED') {
      seen++
      keep?.(ev.object as KubeObject)
    }
    return true
  })
  return {
    feed(chunks) {
      for (const chunk of chunks) feed(chunk as Buffer)
    },
    handled: () => seen,
  }
}

const keyOf = (o: KubeObject) => `${o.metadata?.namespace}/${o.metadata?.name}`

function mapReader(transform?: (o: KubeObject) => KubeObject): ConsumerDef['make'] {
  return async (list) => {
    const map = new Map<string, KubeObject>()
    const keep = (o: KubeObject) => map.set(keyOf(o), transform ? transform(o) : o)
    for (const o of list()) keep(o)
    return bare(keep)
  }
}

// --- kubevisor -----------------------------------------------------------------------------

/** A watch body the driver pushes chunks into: what `ListWatchClient.watch` resolves to. */
class Channel implements AsyncIterable<Uint8Array> {
  #queue: Uint8Array[] = []
  #wake: (() => void) | undefined
  push(chunks: readonly Uint8Array[]): void {
    this.#queue.push(...chunks)
    this.#wake?.()
  }
  async *[Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
    for (;;) {
      const next = this.#queue.shift()
      if (next !== undefined) {
        yield next
        continue
      }
      await new Promise<void>((resolve) => {
        this.#wake = resolve
      })
      this.#wake = undefined
    }
  }
}

/** Lists `list()` once, then serves one watch whose body is `channel`. */
function clientOf(list: () => KubeObject[], channel: Channel): ListWatchClient {
  return {
    list: async () => ({ items: list(), resourceVersion: '1000', continueToken: undefined }),
    watch: async () => channel,
  }
}

/** Counts handled events (`tick`); `until(n)` resolves once `n` more than before were handled. */
class Progress {
  seen = 0
  #target = 0
  #resolve: (() => void) | undefined
  until(events: number): Promise<void> | void {
    this.#target += events
    if (this.seen >= this.#target) return
    return new Promise<void>((resolve) => {
      this.#resolve = resolve
    })
  }
  tick(): void {
    if (++this.seen >= this.#target && this.#resolve) {
      const resolve = this.#resolve
      this.#resolve = undefined
      resolve()
    }
  }
}

const logger = createLogger({ level: 'silent' })

const Counting: WatcherBehaviour<KubeObject, { progress: Progress; synced: () => void }> = {
  init: (state) => ok(state),
  handleEvent(type, _object, state) {
    if (type === 'modified') state.progress.tick()
    return noreply(state)
  },
  handleSynced(state) {
    state.synced()
    return noreply(state)
  },
}

/**
 * A kubevisor consumer on a pushed watch body: `start` wires it to `client`, ticking
 * `progress` per MODIFIED event and calling `synced` after the list.
 */
async function pushed(list: () => KubeObject[], start: (client: ListWatchClient, progress: Progress, synced: () => void) => Promise<unknown> | undefined): Promise<Pipeline> {
  const channel = new Channel()
  const progress = new Progress()
  let synced!: () => void
  const ready = new Promise<void>((resolve) => {
    synced = resolve
  })
  await start(clientOf(list, channel), progress, synced)
  await ready
  return {
    feed(chunks, events) {
      channel.push(chunks)
      return progress.until(events)
    },
    handled: () => progress.seen,
  }
}

function watcher(store: boolean, transform?: (o: KubeObject) => KubeObject): ConsumerDef['make'] {
  return (list) => pushed(list, (client, progress, synced) => Watcher.start(Counting, { progress, synced }, { client, apiVersion: 'v1', kind: 'Pod', store, transform, logger }))
}

const runnerAlone: ConsumerDef['make'] = (list) =>
  pushed(list, (client, progress, synced) => {
    new WatchRunner({
      client,
      logger,
      sink: (n) => {
        if (n.type === 'modified') progress.tick()
        else if (n.type === 'synced') synced()
        return true
      },
    }).start()
    return undefined
  })

const consumers: ConsumerDef[] = [
  { name: 'bare reader: split + JSON.parse', keeps: false, make: async () => bare() },
  { name: 'bare reader again (A/A: the noise left)', keeps: false, make: async () => bare() },
  { name: 'bare reader + Map by namespace/name', keeps: true, make: mapReader() },
  { name: 'bare reader + Map, managedFields dropped', keeps: true, make: mapReader(dropManagedFields) },
  { name: 'kubevisor WatchRunner alone (no actor; info)', keeps: false, make: runnerAlone },
  { name: 'kubevisor Watcher, no store', keeps: false, make: watcher(false) },
  { name: 'kubevisor Watcher + store', keeps: true, make: watcher(true) },
  { name: 'kubevisor Watcher + store + drop managedFields', keeps: true, make: watcher(true, dropManagedFields) },
]

// --- the worker: one consumer --------------------------------------------------------------

interface WorkerInput {
  consumer: number
  /** The listed pods, one JSON document per line. */
  list: SharedArrayBuffer
  stream: SharedArrayBuffer
  /** Per turn: [first chunk, chunk count, MODIFIED events completed by it]. */
  turns: [number, number, number][]
}

async function workerMain(input: WorkerInput): Promise<void> {
  const def = consumers[input.consumer] as ConsumerDef
  const listBytes = Buffer.from(input.list)
  const list = () => {
    const items: KubeObject[] = []
    for (let at = 0, nl = listBytes.indexOf(10); nl >= 0; at = nl + 1, nl = listBytes.indexOf(10, at)) items.push(JSON.parse(listBytes.toString('utf8', at, nl)) as KubeObject)
    return items
  }
  const chunks = chunked(Buffer.from(input.stream), [CHUNK])
  const pipeline = await def.make(list)
  const port = parentPort
  if (!port) throw new Error('not a worker')
  port.on('message', async (turn: number | 'handled') => {
    if (turn === 'handled') {
      port.postMessage(pipeline.handled())
      return
    }
    const [first, count, events] = input.turns[turn] ?? [0, 0, 0]
    const t0 = performance.now()
    await pipeline.feed(chunks.slice(first, first + count), events)
    port.postMessage(performance.now() - t0)
  })
  port.postMessage('ready')
}

// --- the driver ----------------------------------------------------------------------------

/** `pods` pods listed, then `events` MODIFIED events, each of the next pod in turn. */
function dataset(pods: number, events: number): { list: Buffer; stream: Buffer } {
  // Buffers, not one joined string: 100k pods or 150k events exceed V8's longest string.
  const list: Buffer[] = []
  for (let i = 0; i < pods; i++) list.push(Buffer.from(`${JSON.stringify(makePod(i, 1 + i, `ns-${i % 20}`))}\n`))
  const stream: Buffer[] = []
  for (let k = 0; k < events; k++) stream.push(Buffer.from(`${JSON.stringify({ type: 'MODIFIED', object: makePod(k % pods, pods + 1 + k, `ns-${(k % pods) % 20}`) })}\n`))
  return { list: Buffer.concat(list), stream: Buffer.concat(stream) }
}

function shared(bytes: Buffer): SharedArrayBuffer {
  const sab = new SharedArrayBuffer(bytes.length)
  Buffer.from(sab).set(bytes)
  return sab
}

/** Turns of `perTurn` chunks, each with the number of events whose last byte it holds. */
function turnsOf(stream: Buffer, perTurn: number): [number, number, number][] {
  const chunks = chunked(stream, [CHUNK])
  const turns: [number, number, number][] = []
  for (let first = 0; first < chunks.length; first += perTurn) {
    let events = 0
    for (const chunk of chunks.slice(first, first + perTurn)) for (let nl = chunk.indexOf(10); nl >= 0; nl = chunk.indexOf(10, nl + 1)) events++
    turns.push([first, Math.min(perTurn, chunks.length - first), events])
  }
  return turns
}

interface Totals {
  /** Time spent in turns, ms. */
  ms: number
  /** The same per block of turns, for the spread of the ratios. */
  blocks: number[]
}

/** One worker: a consumer reading a stream over `pods` stored pods. */
export interface Entry {
  consumer: ConsumerDef
  pods: number
}

/**
 * Runs every entry over its stream in turns (entries with the same pod count read the same
 * bytes; every stream has `events` events of the same size); returns each one's totals.
 */
export async function measurePipeline(
  entries: readonly Entry[],
  options: { events?: number; perTurn?: number; blocks?: number } = {},
): Promise<{ totals: Totals[]; events: number; eventBytes: number }> {
  const events = options.events ?? 60_000
  const perTurn = options.perTurn ?? CHUNKS_PER_TURN
  const inputs = new Map<number, Omit<WorkerInput, 'consumer'> & { bytes: number }>()
  for (const { pods } of entries) {
    if (inputs.has(pods)) continue
    const { list, stream } = dataset(pods, events)
    inputs.set(pods, { list: shared(list), stream: shared(stream), turns: turnsOf(stream, perTurn), bytes: stream.length })
  }
  const turnCount = Math.max(...[...inputs.values()].map((i) => i.turns.length))
  const workers = entries.map(({ consumer, pods }) => {
    const { list, stream, turns } = inputs.get(pods) as Omit<WorkerInput, 'consumer'>
    return new Worker(new URL(import.meta.url), { workerData: { consumer: consumers.indexOf(consumer), list, stream, turns } satisfies WorkerInput })
  })
  // One request at a time per worker: `ask` resolves with its next message; an error rejects it.
  const asks = workers.map((w) => {
    let pending: { resolve: (m: unknown) => void; reject: (err: unknown) => void } | undefined
    let failed: unknown
    w.on('message', (m) => {
      const p = pending
      pending = undefined
      p?.resolve(m)
    })
    w.on('error', (err) => {
      failed = err
      pending?.reject(err)
    })
    return (msg?: number | 'handled') =>
      new Promise<unknown>((resolve, reject) => {
        if (failed) return reject(failed)
        // A consumer that stops handling events must fail the script, not hang it.
        const timer = setTimeout(() => reject(new Error(`a consumer did not answer ${String(msg)} within 60 s`)), 60_000)
        pending = {
          resolve: (m) => {
            clearTimeout(timer)
            resolve(m)
          },
          reject: (err) => {
            clearTimeout(timer)
            reject(err)
          },
        }
        if (msg !== undefined) w.postMessage(msg)
      })
  })
  try {
    await Promise.all(asks.map((ask) => ask())) // each worker's 'ready'
    const blocks = options.blocks ?? 12
    const perBlock = Math.ceil(turnCount / blocks)
    const totals: Totals[] = entries.map(() => ({ ms: 0, blocks: [] }))
    for (let t = 0; t < turnCount; t++) {
      for (let j = 0; j < workers.length; j++) {
        const i = (j + t) % workers.length
        const ask = asks[i] as (turn: number | 'handled') => Promise<unknown>
        const ms = (await ask(t)) as number
        const total = totals[i] as Totals
        total.ms += ms
        const b = Math.floor(t / perBlock)
        total.blocks[b] = (total.blocks[b] ?? 0) + ms
      }
    }
    // Every event, in full: a consumer that drops events must not look fast.
    for (let i = 0; i < entries.length; i++) {
      const handled = await (asks[i] as (msg: 'handled') => Promise<unknown>)('handled')
      if (handled !== events) throw new Error(`${(entries[i] as Entry).consumer.name} (${(entries[i] as Entry).pods} pods) handled ${String(handled)} of ${events} events`)
    }
    return { totals, events, eventBytes: (inputs.get(entries[0]?.pods ?? PODS)?.bytes ?? 0) / events }
  } finally {
    await Promise.all(workers.map((w) => w.terminate()))
  }
}

const fmt = (x: number) => (Number.isFinite(x) ? x.toFixed(2) : '')

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  const mid = s.length >> 1
  return s.length % 2 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2
}

/** `median (min–max)` of the per-block ratios of time `to / of` (so a rate ratio). */
function blockRatio(of: Totals, to: Totals): string {
  const rs = of.blocks.map((b, i) => (to.blocks[i] ?? Number.NaN) / b)
  return `${fmt(median(rs))} (${fmt(Math.min(...rs))}–${fmt(Math.max(...rs))})`
}

const byName = (part: string) => consumers.find((c) => c.name.includes(part)) as ConsumerDef
const BARE = byName('bare reader: split')
const MAP = byName('bare reader + Map by')

/**
 * Throughput at 1,000 pods: every consumer (or those whose name contains one of `only`;
 * the two ceilings always run, every ratio is to one of them).
 */
async function throughput(options: { events?: number; perTurn?: number; only?: string[] }): Promise<BenchTable> {
  const picked = consumers.filter((c) => c === BARE || c === MAP || !options.only || options.only.some((part) => c.name.includes(part)))
  const { totals, events, eventBytes } = await measurePipeline(
    picked.map((consumer) => ({ consumer, pods: PODS })),
    options,
  )
  const bareT = totals[picked.indexOf(BARE)] as Totals
  const mapT = totals[picked.indexOf(MAP)] as Totals
  const target: Record<string, string> = {
    'kubevisor Watcher, no store': '≥ 0.9× bare',
    'kubevisor Watcher + store': '≥ 1.0× Map',
    'kubevisor Watcher + store + drop managedFields': '> 1.0× Map',
  }
  return {
    title: `Watch pipelines in turns (bench/pipeline.ts): ${events.toLocaleString('en-US')} MODIFIED events of ~${Math.round(eventBytes)} B over ${PODS.toLocaleString('en-US')} pods, each consumer in its own worker`,
    columns: ['consumer', 'µs / event', '× bare reader', 'per block of turns', '× Map reader', 'per block of turns', 'target'],
    rows: picked.map((c, i) => {
      const t = totals[i] as Totals
      return [
        c.name,
        fmt((t.ms * 1000) / events),
        fmt(bareT.ms / t.ms),
        blockRatio(t, bareT),
        c.keeps ? fmt(mapT.ms / t.ms) : '',
        c.keeps ? blockRatio(t, mapT) : '',
        target[c.name] ?? '',
      ]
    }),
    notes: [
      machine(),
      `each consumer gets the stream in turns of ${options.perTurn ?? CHUNKS_PER_TURN} × 64 KiB chunks, every consumer in turn (order rotated), and times its own turns; only one consumer runs at a time, under --single-threaded-gc, so its garbage collection falls in its own turns. Ratios are rates: the bare reader's time over the consumer's. "per block of turns": median (min–max) of the same ratio over 12 blocks of consecutive turns.`,
      'no socket reads: bench/watch.ts has the end-to-end figures over HTTP with the server in another process (and client-node, which cannot be fed from memory).',
    ],
  }
}

/**
 * Scale: the consumers that keep objects, each twice — over 1,000 and over `large` stored
 * pods — in the same turns, so "events/s with 100k stored ÷ with 1k" is free of the
 * machine's drift between two phases. 150,000 events by default: long enough for full
 * collections of the large heap to fall inside the window.
 */
async function scale(options: { events?: number; perTurn?: number; large?: number }): Promise<BenchTable> {
  const large = options.large ?? 100_000
  const keeping = [MAP, byName('Watcher + store'), byName('Watcher + store + drop')]
  const entries = keeping.flatMap((consumer) => [
    { consumer, pods: PODS },
    { consumer, pods: large },
  ])
  const { totals, events } = await measurePipeline(entries, { events: options.events ?? 150_000, perTurn: options.perTurn })
  const k = (n: number) => `${n / 1000}k`
  return {
    title: `Scale in turns (bench/pipeline.ts): ${events.toLocaleString('en-US')} MODIFIED events over ${k(PODS)} and over ${k(large)} stored pods`,
    columns: ['consumer', `µs / event at ${k(PODS)}`, `µs / event at ${k(large)}`, `events/s at ${k(large)} ÷ at ${k(PODS)}`, 'per block of turns', 'target'],
    rows: keeping.map((c, i) => {
      const small = totals[2 * i] as Totals
      const big = totals[2 * i + 1] as Totals
      return [c.name, fmt((small.ms * 1000) / events), fmt((big.ms * 1000) / events), fmt(small.ms / big.ms), blockRatio(big, small), c.name === 'kubevisor Watcher + store' ? '≥ 0.8' : '']
    }),
    notes: [
      `at ${k(large)} pods each event replaces a stored object that has long been promoted, so the old generation fills with garbage and full collections (single-threaded here) walk ~${k(large)} live pods; at ${k(PODS)} they walk 1k. ${events.toLocaleString('en-US')} events replace every pod ${fmt(events / large)} times, so the window holds full collections of the large heap (a steady state); a window of 30,000 events held none and read 1.1–1.3×.`,
    ],
  }
}

/** The benchmark as tables for the aggregate runner (`bench/run.ts`). */
export async function run(options: { events?: number; perTurn?: number; only?: string[]; large?: number; scaleEvents?: number; skipThroughput?: boolean } = {}): Promise<BenchTable[]> {
  const tables = options.skipThroughput ? [] : [await throughput(options)]
  if (!options.only) tables.push(await scale({ perTurn: options.perTurn, large: options.large, events: options.scaleEvents }))
  return tables
}

if (!isMainThread) {
  await workerMain(workerData as WorkerInput)
} else if (import.meta.main) {
  if (!process.execArgv.includes('--single-threaded-gc')) {
    // V8 flags are per process: run again with the flag, so every worker's GC stays on its thread.
    const again = spawnSync(process.execPath, ['--single-threaded-gc', ...process.execArgv, ...process.argv.slice(1)], { stdio: 'inherit' })
    process.exit(again.status ?? 1)
  }
  const args = new Map(process.argv.slice(2).map((a) => a.replace(/^--/, '').split('=') as [string, string]))
  const events = args.has('events') ? Number(args.get('events')) : undefined
  const perTurn = args.has('chunks-per-turn') ? Number(args.get('chunks-per-turn')) : undefined
  const only = args.get('only')?.split('|')
  const large = args.has('large') ? Number(args.get('large')) : undefined
  const scaleEvents = args.has('scale-events') ? Number(args.get('scale-events')) : undefined
  for (const table of await run({ events, perTurn, only, large, scaleEvents, skipThroughput: args.has('scale-only') })) console.log(`${formatTable(table)}\n`)
}
