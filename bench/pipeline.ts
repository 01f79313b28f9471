// The consumers of bench/watch.ts without the network and without the machine's noise:
// each consumer runs in its own worker thread (its own heap and garbage collector) and
// reads the same bytes of a pod watch stream, but they take turns: slice 1 (a few 64 KiB
// chunks, ~60 events, ~2 ms) to every consumer, then slice 2 to every consumer, and so on,
// the order rotated each slice. Each consumer times its own slices; the figures are the
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
// reader and a bare reader that keeps a `Map`, in steady state with 1,000 pods stored.
// The process runs with `--single-threaded-gc` (it re-executes itself with the flag), so
// each consumer's garbage collection runs on its own thread and counts in its own time.
// Socket reading is left out for every consumer alike; bench/watch.ts measures it over HTTP.
//
//   ./dev node --conditions=source --expose-gc bench/pipeline.ts [--events=N] [--chunks-per-turn=K] [--only=<part of a name>|…]
import { spawnSync } from 'node:child_process'
import { StringDecoder } from 'node:string_decoder'
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads'
import { noreply, ok } from '../lib/actor/index.ts'
import { createLogger } from '../lib/log.ts'
import { dropManagedFields, type KubeObject, type ListWatchClient, WatchRunner } from '../lib/watch/index.ts'
import { Watcher, type WatcherBehaviour } from '../lib/watcher/watcher.ts'
import { chunked, makePod } from './fixtures/pods.ts'
import { type BenchTable, formatTable, machine } from './support.ts'

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

/** Split lines and `JSON.parse` each, as bench/watch.ts's bare reader does; `keep` gets each object. */
function bare(keep?: (object: KubeObject) => void): Pipeline {
  const text = new StringDecoder('utf8')
  let rest = ''
  let seen = 0
  return {
    feed(chunks) {
      for (const chunk of chunks) {
        const s = rest + text.write(chunk as Buffer)
        let start = 0
        let nl = s.indexOf('\n')
        while (nl >= 0) {
          const ev = JSON.parse(s.slice(start, nl)) as { type: string; object: KubeObject }
          if (ev.type === 'MODIFIED') {
            seen++
            keep?.(ev.object)
          }
          start = nl + 1
          nl = s.indexOf('\n', start)
        }
        rest = s.slice(start)
      }
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

/** Resolves when `count()` reaches `target`; `tick()` is called after each event. */
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

function watcher(store: boolean, transform?: (o: KubeObject) => KubeObject): ConsumerDef['make'] {
  return async (list) => {
    const channel = new Channel()
    const progress = new Progress()
    let synced!: () => void
    const ready = new Promise<void>((resolve) => {
      synced = resolve
    })
    await Watcher.start(Counting, { progress, synced }, { client: clientOf(list, channel), apiVersion: 'v1', kind: 'Pod', store, transform, logger })
    await ready
    return {
      feed(chunks, events) {
        channel.push(chunks)
        return progress.until(events)
      },
      handled: () => progress.seen,
    }
  }
}

async function runnerAlone(list: () => KubeObject[]): Promise<Pipeline> {
  const channel = new Channel()
  const progress = new Progress()
  let synced!: () => void
  const ready = new Promise<void>((resolve) => {
    synced = resolve
  })
  const runner = new WatchRunner({
    client: clientOf(list, channel),
    logger,
    sink: (n) => {
      if (n.type === 'modified') progress.tick()
      else if (n.type === 'synced') synced()
      return true
    },
  })
  runner.start()
  await ready
  return {
    feed(chunks, events) {
      channel.push(chunks)
      return progress.until(events)
    },
    handled: () => progress.seen,
  }
}

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
  list: SharedArrayBuffer
  stream: SharedArrayBuffer
  /** Per turn: [first chunk, chunk count, MODIFIED events completed by it]. */
  turns: [number, number, number][]
}

async function workerMain(input: WorkerInput): Promise<void> {
  const def = consumers[input.consumer] as ConsumerDef
  const listBytes = Buffer.from(input.list)
  const list = () => JSON.parse(listBytes.toString('utf8')) as KubeObject[]
  const chunks = chunked(Buffer.from(input.stream), [CHUNK])
  const pipeline = await def.make(list)
  const port = parentPort
  if (!port) throw new Error('not a worker')
  port.on('message', async (turn: number | 'handled') => {
    if (turn === 'handled') {
      port.postMessage(pipeline.handled())
      return
    }
    const [first, count, events] = input.turns[turn] as [number, number, number]
    const t0 = performance.now()
    await pipeline.feed(chunks.slice(first, first + count), events)
    port.postMessage(performance.now() - t0)
  })
  port.postMessage('ready')
}

// --- the driver ----------------------------------------------------------------------------

/** The stream: 1,000 pods listed, then `events` MODIFIED events, each of the next pod in turn. */
function dataset(events: number): { list: Buffer; stream: Buffer } {
  const pods = Array.from({ length: PODS }, (_, i) => makePod(i, 1 + i, `ns-${i % 20}`))
  const parts: string[] = []
  for (let k = 0; k < events; k++) parts.push(`${JSON.stringify({ type: 'MODIFIED', object: makePod(k % PODS, 1001 + k, `ns-${(k % PODS) % 20}`) })}\n`)
  return { list: Buffer.from(JSON.stringify(pods)), stream: Buffer.from(parts.join('')) }
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

/** Runs every consumer over the stream in turns; returns each one's totals. */
export async function measurePipeline(
  options: { events?: number; perTurn?: number; blocks?: number; only?: string[] } = {},
): Promise<{ totals: Map<ConsumerDef, Totals>; events: number; eventBytes: number }> {
  const events = options.events ?? 60_000
  const { list, stream } = dataset(events)
  const turns = turnsOf(stream, options.perTurn ?? CHUNKS_PER_TURN)
  const input = { list: shared(list), stream: shared(stream), turns }
  // The two ceilings always run: every ratio is to one of them.
  const picked = consumers.filter((c, i) => i === 0 || i === 2 || !options.only || options.only.some((part) => c.name.includes(part)))
  const workers = picked.map((c) => new Worker(new URL(import.meta.url), { workerData: { ...input, consumer: consumers.indexOf(c) } satisfies WorkerInput }))
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
    const perBlock = Math.ceil(turns.length / blocks)
    const totals: Totals[] = picked.map(() => ({ ms: 0, blocks: [] }))
    for (let t = 0; t < turns.length; t++) {
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
    for (let i = 0; i < picked.length; i++) {
      const handled = await (asks[i] as (msg: 'handled') => Promise<unknown>)('handled')
      if (handled !== events) throw new Error(`${(picked[i] as ConsumerDef).name} handled ${String(handled)} of ${events} events`)
    }
    return { totals: new Map(picked.map((c, i) => [c, totals[i] as Totals])), events, eventBytes: stream.length / events }
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

/** The benchmark as a table for the aggregate runner (`bench/run.ts`). */
export async function run(options: { events?: number; perTurn?: number; only?: string[] } = {}): Promise<BenchTable[]> {
  const { totals, events, eventBytes } = await measurePipeline(options)
  const bareT = totals.get(consumers[0] as ConsumerDef) as Totals
  const mapT = totals.get(consumers[2] as ConsumerDef) as Totals
  const target: Record<string, string> = {
    'kubevisor Watcher, no store': '≥ 0.9× bare',
    'kubevisor Watcher + store': '≥ 1.0× Map',
    'kubevisor Watcher + store + drop managedFields': '> 1.0× Map',
  }
  return [
    {
      title: `Watch pipelines in turns (bench/pipeline.ts): ${events.toLocaleString('en-US')} MODIFIED events of ~${Math.round(eventBytes)} B over ${PODS.toLocaleString('en-US')} pods, each consumer in its own worker`,
      columns: ['consumer', 'µs / event', '× bare reader', 'per block of turns', '× Map reader', 'per block of turns', 'target'],
      rows: [...totals].map(([c, t]) => {
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
    },
  ]
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
  for (const table of await run({ events, perTurn, only })) console.log(`${formatTable(table)}\n`)
}
