/**
 * Decoder throughput: kubevisor's `WatchDecoder` against a bare "split lines +
 * JSON.parse" loop (the ceiling) over the same NDJSON bytes of pod watch events (~4 KB
 * each), chunked at 16 KB, 64 KB and a mix of 16–64 KB like real socket reads.
 *
 *   ./dev node --conditions=source --expose-gc bench/decode.ts
 *
 * A third row, for orientation only, runs the whole `WatchRunner` (decode → engine →
 * known versions → bounded queue → `for await`) over an in-memory stream of the same chunks.
 *
 * Prints a markdown table; `run()` returns the rows for an aggregate runner.
 * No assertions: the target (decoder ≥ 0.9× the ceiling) is read off the table.
 */
import { createLogger } from '../lib/log.ts'
import type { ListWatchClient } from '../lib/watch/client.ts'
import { WatchDecoder } from '../lib/watch/decode.ts'
import { WatchRunner } from '../lib/watch/runner.ts'
import { chunked, podWatchStream } from './fixtures/pods.ts'
import { type BenchTable, bareLines, formatTable } from './support.ts'

/** One measured row. */
export interface DecodeBenchRow {
  chunking: string
  reader: string
  eventsPerSecond: number
  ratioToCeiling: number
}

/** The ceiling (`bareLines`): decode text as it streams in, split on '\n', JSON.parse each line. */
function bareReader(chunks: readonly Buffer[]): number {
  let n = 0
  const feed = bareLines((ev) => {
    if (ev.type) n++
    return true
  })
  for (const chunk of chunks) feed(chunk)
  return n
}

function decoderReader(chunks: readonly Buffer[]): number {
  const decoder = new WatchDecoder()
  let n = 0
  const emit = (ev: { type: string }) => {
    if (ev.type) n++
  }
  for (const chunk of chunks) decoder.push(chunk, emit)
  decoder.end(emit)
  return n
}

/**
 * Not the decoder alone: the whole runner (decode → engine step → known versions → bounded
 * queue → `for await`), over an in-memory stream of the same chunks. For orientation; the
 * Watcher's own benchmark measures it over HTTP.
 */
async function runnerReader(chunks: readonly Buffer[]): Promise<number> {
  let served = false
  const client: ListWatchClient = {
    list: async () => ({ items: [], resourceVersion: '1', continueToken: undefined }),
    watch: async () => {
      const once = !served
      served = true
      return (async function* () {
        if (once) yield* chunks
      })()
    },
  }
  const runner = new WatchRunner({ client, logger: createLogger({ level: 'silent' }) })
  let n = 0
  const want = chunks === lastChunks ? lastCount : Number.POSITIVE_INFINITY
  for await (const notification of runner) {
    if (notification.type !== 'synced' && ++n >= want) runner.stop()
  }
  return n
}
let lastChunks: readonly Buffer[] | undefined
let lastCount = 0

async function measure(fn: (chunks: readonly Buffer[]) => number | Promise<number>, chunks: readonly Buffer[], rounds: number): Promise<number> {
  let best = 0
  for (let r = 0; r < rounds; r++) {
    ;(globalThis as { gc?: () => void }).gc?.()
    const t0 = performance.now()
    const n = await fn(chunks)
    const rate = n / ((performance.now() - t0) / 1000)
    if (rate > best) best = rate
  }
  return best
}

/** Measures every reader and returns typed rows (best of `rounds` per cell, readers interleaved). */
export async function measureDecode(options: { events?: number; rounds?: number } = {}): Promise<DecodeBenchRow[]> {
  const events = options.events ?? 20_000
  const rounds = options.rounds ?? 7
  const bytes = podWatchStream(events)
  const chunkings: [string, number[]][] = [
    ['16 KB', [16_384]],
    ['64 KB', [65_536]],
    ['16–64 KB mix', [16_384, 65_536, 40_000, 23_117, 57_301]],
  ]
  const rows: DecodeBenchRow[] = []
  for (const [label, sizes] of chunkings) {
    const chunks = chunked(bytes, sizes)
    // warm up both, then alternate so neither gets a systematically cooler machine
    lastChunks = chunks
    lastCount = bareReader(chunks)
    decoderReader(chunks)
    await runnerReader(chunks)
    let ceiling = 0
    let ours = 0
    let runner = 0
    for (let i = 0; i < 2; i++) {
      ceiling = Math.max(ceiling, await measure(bareReader, chunks, Math.ceil(rounds / 2)))
      ours = Math.max(ours, await measure(decoderReader, chunks, Math.ceil(rounds / 2)))
      runner = Math.max(runner, await measure(runnerReader, chunks, Math.ceil(rounds / 2)))
    }
    rows.push({ chunking: label, reader: 'bare split + JSON.parse (ceiling)', eventsPerSecond: ceiling, ratioToCeiling: 1 })
    rows.push({ chunking: label, reader: 'WatchDecoder', eventsPerSecond: ours, ratioToCeiling: ours / ceiling })
    rows.push({ chunking: label, reader: 'WatchRunner, in-memory stream (info)', eventsPerSecond: runner, ratioToCeiling: runner / ceiling })
  }
  return rows
}

/** The benchmark as tables for the aggregate runner (`bench/run.ts`). */
export async function run(options: { events?: number; rounds?: number } = {}): Promise<BenchTable[]> {
  const rows = await measureDecode(options)
  const bytesPerEvent = podWatchStream(200).length / 200
  return [
    {
      title: `Watch stream decoding: pod events of ~${Math.round(bytesPerEvent)} bytes`,
      columns: ['chunks', 'reader', 'events/s', 'MB/s', '× ceiling'],
      rows: rows.map((r) => [r.chunking, r.reader, r.eventsPerSecond, (r.eventsPerSecond * bytesPerEvent) / 1e6, r.ratioToCeiling]),
      notes: [
        'ceiling: decode text as it streams in, split on newlines, JSON.parse each line',
        'target: WatchDecoder ≥ 0.9× the ceiling; the WatchRunner row is for orientation (in-memory stream)',
      ],
    },
  ]
}

if (import.meta.main) {
  for (const table of await run()) console.log(`${formatTable(table)}\n`)
}
