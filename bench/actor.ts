// Actor hot paths: cast throughput through one mailbox, call round trips, memory of idle
// processes, restart latency under a supervisor. Each figure is set beside a ceiling
// measured in the same run (a bare array queue and direct function calls), so the ratio
// is what to read: absolute numbers move with the machine's load.
//
//   ./dev node --conditions=source --expose-gc bench/actor.ts
import { type Behaviour, GenServer, noreply, ok, type Pid, reply } from '../lib/actor/index.ts'
import { createLogger } from '../lib/log.ts'
import { Supervisor, worker } from '../lib/supervisor/index.ts'
import { type BenchTable, bestOf, formatTable, gc, machine } from './support.ts'

const logger = createLogger({ level: 'silent' })

const Counter: Behaviour<number, number> = {
  init: (n) => ok(n),
  handleCast: (_m, n) => noreply(n + 1),
  handleCall: (_m, _f, n) => reply(n, n),
}

/** The ceiling for a mailbox: push onto an array, then shift each through a handler. */
function bareQueue(n: number): void {
  const box: unknown[] = []
  let state = 0
  const handle = (_m: unknown, s: number) => ({ tag: 'noreply', state: s + 1 })
  for (let i = 0; i < n; i++) box.push(1, i)
  for (let i = 0; i < box.length; i += 2) state = handle(box[i + 1], state).state
  if (state !== n) throw new Error('lost messages')
}

async function castThroughput(n: number): Promise<{ perSec: number; bare: number }> {
  const pid = await GenServer.start(Counter, 0, { logger })
  let expected = 0
  const ms = await bestOf(3, async () => {
    for (let i = 0; i < n; i++) GenServer.cast(pid, i)
    expected += n
    const got = await GenServer.call<number>(pid, 'get', Number.POSITIVE_INFINITY)
    if (got !== expected) throw new Error(`lost casts: ${got} != ${expected}`)
  })
  await GenServer.stop(pid)
  const bareMs = await bestOf(3, () => bareQueue(n))
  return { perSec: (n / ms) * 1000, bare: (n / bareMs) * 1000 }
}

async function callRoundTrips(n: number): Promise<{ perSec: number; bare: number }> {
  const pid = await GenServer.start(Counter, 0, { logger })
  const ms = await bestOf(3, async () => {
    for (let i = 0; i < n; i++) await GenServer.call(pid, 'get')
  })
  await GenServer.stop(pid)
  // Ceiling: an awaited promise per round trip, no process.
  const bareMs = await bestOf(3, async () => {
    for (let i = 0; i < n; i++) await new Promise((resolve) => queueMicrotask(() => resolve(i)))
  })
  return { perSec: (n / ms) * 1000, bare: (n / bareMs) * 1000 }
}

async function idleMemory(n: number): Promise<{ bytesPer: number; plainBytesPer: number; startPerSec: number }> {
  const Idle: Behaviour<number, number> = { init: (i) => ok(i), handleCall: (_m, _f, s) => reply(s, s) }
  gc()
  const before = process.memoryUsage().heapUsed
  const pids: Pid[] = []
  const t0 = performance.now()
  for (let i = 0; i < n; i++) pids.push(await GenServer.start(Idle, i, { logger }))
  const startMs = performance.now() - t0
  gc()
  const after = process.memoryUsage().heapUsed
  // Every process still answers.
  const sample = await GenServer.call<number>(pids[n - 1] as Pid, 'get')
  if (sample !== n - 1) throw new Error('idle process lost its state')
  // For scale: a plain object with a similar number of fields per process.
  gc()
  const b2 = process.memoryUsage().heapUsed
  const plain = Array.from({ length: n }, (_, i) => ({ id: i, state: i, box: [] as unknown[], a: 0, b: 0, c: undefined, d: undefined, e: false }))
  gc()
  const plainBytes = process.memoryUsage().heapUsed - b2
  if (plain.length !== n) throw new Error('unreachable')
  await Promise.all(pids.map((p) => GenServer.stop(p)))
  return { bytesPer: (after - before) / n, plainBytesPer: plainBytes / n, startPerSec: (n / startMs) * 1000 }
}

async function restartLatency(n: number): Promise<{ meanUs: number; p99Us: number }> {
  const Crashy: Behaviour<void, null> = {
    init: () => ok(null),
    handleCast: () => {
      throw new Error('crash')
    },
  }
  const sup = await Supervisor.start([worker(Crashy, undefined, { id: 'c' })], { logger, maxRestarts: n + 10, maxSeconds: 3600 })
  const samples: number[] = []
  for (let i = 0; i < n; i++) {
    const [row] = await Supervisor.whichChildren(sup)
    const pid = row?.pid as Pid
    const t0 = performance.now()
    GenServer.cast(pid, 'boom')
    await GenServer.exited(pid)
    // whichChildren is handled after the restart: the supervisor handles one message at a time.
    const [next] = await Supervisor.whichChildren(sup)
    samples.push(performance.now() - t0)
    const restarted = next?.pid
    if (typeof restarted !== 'object' || !restarted.alive) throw new Error('not restarted')
  }
  await Supervisor.stop(sup)
  samples.sort((a, b) => a - b)
  const mean = samples.reduce((a, b) => a + b, 0) / n
  return { meanUs: mean * 1000, p99Us: (samples[Math.floor(n * 0.99)] as number) * 1000 }
}

export async function run(): Promise<BenchTable[]> {
  const cast = await castThroughput(1_000_000)
  const call = await callRoundTrips(100_000)
  const mem = await idleMemory(10_000)
  const restart = await restartLatency(2_000)
  return [
    {
      title: 'Actors (bench/actor.ts)',
      columns: ['measure', 'kubevisor', 'ceiling', 'ratio'],
      rows: [
        ['cast msgs/s through one mailbox', cast.perSec, cast.bare, (cast.perSec / cast.bare).toFixed(2)],
        ['call round trips/s', call.perSec, call.bare, (call.perSec / call.bare).toFixed(2)],
        ['heap bytes per idle process (10k)', mem.bytesPer, mem.plainBytesPer, (mem.bytesPer / mem.plainBytesPer).toFixed(2)],
        ['process starts/s (sequential)', mem.startPerSec, '', ''],
        ['restart latency, mean µs (crash → new pid running)', restart.meanUs, '', ''],
        ['restart latency, p99 µs', restart.p99Us, '', ''],
      ],
      notes: [
        machine(),
        'ceilings: cast = array push + direct handler calls (no process); call = one awaited microtask per round trip; memory = a plain object with a similar number of fields.',
        gc() ? 'memory measured after forced GC' : 'run with --expose-gc for stable memory figures',
      ],
    },
  ]
}

if (import.meta.main) {
  for (const table of await run()) console.log(`${formatTable(table)}\n`)
}
