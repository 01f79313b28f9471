/**
 * Work queue throughput: add/get/done cycles per second for distinct keys (target ≥ 1M/s,
 * DESIGN.md §7), a dedup-heavy load and a retry-heavy load (addRateLimited + forget), each
 * with metrics off and on (prom-client). Prints a markdown table; asserts nothing.
 *
 *   ./dev node --conditions=source --expose-gc bench/queue.ts
 *
 * `run()` returns the table (`bench/support.ts` `BenchTable`, like the other benches) and
 * `measureRows()` the raw rows, for a runner that aggregates several benches.
 */
import * as promClient from 'prom-client'
import { prometheusQueueMetrics, type QueueMetricsProvider, RateLimitingQueue, WorkQueue } from '../lib/queue/index.ts'
import type { Clock, TimerHandle } from '../lib/time/clock.ts'
import { type BenchTable, formatTable } from './support.ts'

/** One measured line of the table. */
export interface QueueBenchRow {
  workload: string
  metrics: 'off' | 'on'
  /** What one op is, e.g. "add/get/done cycle". */
  unit: string
  opsPerSec: number
  /** opsPerSec ÷ the same workload with metrics off. */
  vsMetricsOff: number
  /** opsPerSec ÷ the sync distinct-keys cycle with metrics off (the baseline row). */
  vsBaseline: number
}

/** A clock the bench moves by hand, synchronously (FakeClock settles promises per timer). */
class ManualClock implements Clock {
  #now = 0
  #seq = 0
  #timers = new Map<number, { at: number; fn: () => void }>()
  now(): number {
    return this.#now
  }
  setTimeout(fn: () => void, ms: number): TimerHandle {
    const id = ++this.#seq
    this.#timers.set(id, { at: this.#now + Math.max(0, ms), fn })
    return id
  }
  clearTimeout(handle: TimerHandle): void {
    this.#timers.delete(handle as number)
  }
  /**
   * Jumps to `now + ms`, then fires the timers due by then, earliest first, as after a
   * long pause: a periodic timer (the metrics tick) fires once, not once per period.
   */
  advance(ms: number): void {
    this.#now += ms
    const due = [...this.#timers].filter(([, t]) => t.at <= this.#now).sort((a, b) => a[1].at - b[1].at)
    for (const [id, timer] of due) {
      if (!this.#timers.delete(id)) continue
      timer.fn()
    }
  }
}

const BATCH = 10_000
const keys = Array.from({ length: BATCH }, (_, i) => `namespace-${i % 50}/object-${i}`)

interface Env {
  clock: ManualClock
  metrics: QueueMetricsProvider | undefined
}

let queueSeq = 0
const queueOptions = (env: Env) => ({ name: `bench-${++queueSeq}`, clock: env.clock, metrics: env.metrics })

/** Distinct keys, a worker that takes keys synchronously: add a batch, then tryGet/done it. */
function syncDistinct(env: Env, rounds: number): number {
  const queue = new WorkQueue<string>(queueOptions(env))
  let ops = 0
  for (let r = 0; r < rounds; r++) {
    for (let i = 0; i < BATCH; i++) queue.add(keys[i]!)
    for (let key = queue.tryGet(); key !== undefined; key = queue.tryGet()) {
      queue.done(key)
      ops++
    }
  }
  queue.shutDown()
  return ops
}

/** Distinct keys, 4 async workers each awaiting `get()` per key (a promise per key). */
async function asyncGetDistinct(env: Env, rounds: number): Promise<number> {
  const queue = new WorkQueue<string>(queueOptions(env))
  let ops = 0
  let target = 0
  let wake: (() => void) | undefined
  const worker = async () => {
    for (;;) {
      const key = await queue.get()
      if (key === undefined) return
      queue.done(key)
      if (++ops === target) wake?.()
    }
  }
  const workers = Array.from({ length: 4 }, worker)
  for (let r = 0; r < rounds; r++) {
    target += BATCH
    const round = new Promise<void>((resolve) => (wake = resolve))
    for (let i = 0; i < BATCH; i++) queue.add(keys[i]!)
    await round
  }
  queue.shutDown()
  await Promise.all(workers)
  return ops
}

/** Distinct keys, 4 `worker(fn)` loops (tryGet fast path, an await of `fn` per key). */
async function workerHelperDistinct(env: Env, rounds: number): Promise<number> {
  const queue = new WorkQueue<string>(queueOptions(env))
  let ops = 0
  let target = 0
  let wake: (() => void) | undefined
  const fn = () => {
    if (++ops === target) wake?.()
  }
  const workers = Array.from({ length: 4 }, () => queue.worker(fn))
  for (let r = 0; r < rounds; r++) {
    target += BATCH
    const round = new Promise<void>((resolve) => (wake = resolve))
    for (let i = 0; i < BATCH; i++) queue.add(keys[i]!)
    await round
  }
  queue.shutDown()
  await Promise.all(workers)
  return ops
}

/** 1 000 keys each added 10 times per round before a worker drains them: ops are adds. */
function dedupHeavy(env: Env, rounds: number): number {
  const queue = new WorkQueue<string>(queueOptions(env))
  const hot = keys.slice(0, 1000)
  let ops = 0
  for (let r = 0; r < rounds; r++) {
    for (let rep = 0; rep < 10; rep++) for (let i = 0; i < hot.length; i++) queue.add(hot[i]!)
    ops += 10 * hot.length
    for (let key = queue.tryGet(); key !== undefined; key = queue.tryGet()) queue.done(key)
  }
  queue.shutDown()
  return ops
}

/**
 * Every key fails once: processed, `addRateLimited` (default controller limiter), `done`;
 * the clock jumps past the longest delay; processed again, `forget`, `done`. Ops are
 * processings (two per key).
 */
function retryHeavy(env: Env, rounds: number): number {
  const queue = new RateLimitingQueue<string>(queueOptions(env))
  let ops = 0
  for (let r = 0; r < rounds; r++) {
    for (let i = 0; i < BATCH; i++) queue.add(keys[i]!)
    for (let key = queue.tryGet(); key !== undefined; key = queue.tryGet()) {
      queue.addRateLimited(key)
      queue.done(key)
      ops++
    }
    env.clock.advance(10_000_000) // > 1000 s: every retry is due, the bucket refills
    for (let key = queue.tryGet(); key !== undefined; key = queue.tryGet()) {
      queue.forget(key)
      queue.done(key)
      ops++
    }
  }
  queue.shutDown()
  return ops
}

interface Workload {
  name: string
  unit: string
  rounds: number
  fn: (env: Env, rounds: number) => number | Promise<number>
}

const workloads: Workload[] = [
  { name: 'distinct keys, sync worker (tryGet)', unit: 'add/get/done cycle', rounds: 100, fn: syncDistinct },
  { name: 'distinct keys, 4 async workers (await get)', unit: 'add/get/done cycle', rounds: 40, fn: asyncGetDistinct },
  { name: 'distinct keys, 4 worker(fn) loops', unit: 'add/get/done cycle', rounds: 40, fn: workerHelperDistinct },
  { name: 'dedup-heavy: each key added 10× per drain', unit: 'add', rounds: 100, fn: dedupHeavy },
  { name: 'retry-heavy: fail once, addRateLimited, forget', unit: 'processing', rounds: 10, fn: retryHeavy },
]

async function measure(workload: Workload, metricsOn: boolean): Promise<number> {
  let best = 0
  for (let attempt = 0; attempt < 4; attempt++) {
    const registry = new promClient.Registry()
    const env: Env = {
      clock: new ManualClock(),
      metrics: metricsOn ? prometheusQueueMetrics(promClient, { registry }) : undefined,
    }
    ;(globalThis as { gc?: () => void }).gc?.()
    const start = performance.now()
    const ops = await workload.fn(env, workload.rounds)
    const seconds = (performance.now() - start) / 1000
    if (attempt > 0) best = Math.max(best, ops / seconds) // the first attempt warms up
  }
  return best
}

/** Runs every workload with metrics off and on; returns the raw rows. */
export async function measureRows(): Promise<QueueBenchRow[]> {
  const rows: QueueBenchRow[] = []
  let baseline = 0
  for (const workload of workloads) {
    const off = await measure(workload, false)
    const on = await measure(workload, true)
    if (baseline === 0) baseline = off
    for (const [metrics, opsPerSec] of [
      ['off', off],
      ['on', on],
    ] as const) {
      rows.push({
        workload: workload.name,
        metrics,
        unit: workload.unit,
        opsPerSec,
        vsMetricsOff: opsPerSec / off,
        vsBaseline: opsPerSec / baseline,
      })
    }
  }
  return rows
}

/** Runs the bench and returns its table. */
export async function run(): Promise<BenchTable[]> {
  const rows = await measureRows()
  return [
    {
      title: 'Work queue',
      columns: ['workload', 'metrics', 'op', 'ops/s', '× metrics off', '× baseline'],
      rows: rows.map((r) => [r.workload, r.metrics, r.unit, r.opsPerSec, r.vsMetricsOff, r.vsBaseline]),
      notes: [
        `batches of ${BATCH} keys; best of 3 runs after a warm-up; baseline = first row`,
        'metrics on = prom-client 15 through prometheusQueueMetrics, a fresh Registry per run',
        'target (DESIGN.md §7): ≥ 1M add/get/done cycles/s for distinct keys',
      ],
    },
  ]
}

if (import.meta.main) {
  for (const table of await run()) console.log(`${formatTable(table)}\n`)
}
