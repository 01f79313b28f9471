/**
 * Leader failover and the Manager's idle overhead (a benchmark script, not a test).
 *
 * 1. Failover of real processes: replicas of `examples/operator.ts` against the embedded
 *    API server; each trial kills the leader (`kill -9`, or SIGTERM with
 *    `--leader-elect-release-on-cancel`) and measures until another replica logs that it
 *    acquired the lease and until its first write. Printed as percentiles beside the bound
 *    (lease duration + retry period for a crash).
 * 2. The same crash failover simulated on a fake clock for the elector's two retry
 *    policies over many random kill phases and jitter draws: kubevisor's bounded polling
 *    and client-go's `JitterUntil(retryPeriod, 1.2)` — the peer a Go user runs.
 * 3. Idle overhead: one replica with leader election and both HTTP servers on, versus the
 *    same operator with both off (the ceiling: nothing the Manager adds), CPU ms per
 *    second (from /proc) and heap (`nodejs_heap_size_used_bytes` / process RSS).
 *
 *   nice -n 10 ./dev node --conditions=source bench/failover.ts [--trials 10] [--defaults]
 *
 * `--defaults` uses controller-runtime's 15 s / 10 s / 2 s (a trial then takes ~17 s);
 * the default is 2 s / 1.5 s / 0.3 s.
 */
import { readFileSync } from 'node:fs'
import { parseArgs } from 'node:util'
import { createLogger } from '../lib/log.ts'
import { LeaderElector } from '../lib/manager/leaderelection.ts'
import { FakeClock } from '../lib/testing/fake-clock.ts'
import { startApiServer } from '../lib/testing/index.ts'
import { MemoryLease, MemoryLock } from '../test/manager/support.ts'
import { kubeconfigFile, Replica, replicaArgs, siteCrd, waitFor } from '../test/manager/replicas.ts'
import { formatTable, machine } from './support.ts'

const { values } = parseArgs({ options: { trials: { type: 'string', default: '10' }, defaults: { type: 'boolean', default: false }, 'idle-seconds': { type: 'string', default: '10' } } })
const trials = Number(values.trials)
const timing = values.defaults ? { leaseMs: 15_000, renewMs: 10_000, retryMs: 2_000 } : { leaseMs: 2_000, renewMs: 1_500, retryMs: 300 }
const bound = timing.leaseMs + timing.retryMs

function percentiles(xs: number[]): { p50: number; p90: number; max: number } {
  const s = [...xs].sort((a, b) => a - b)
  const at = (q: number) => s[Math.min(s.length - 1, Math.floor(q * s.length))] as number
  return { p50: at(0.5), p90: at(0.9), max: s[s.length - 1] as number }
}

const server = await startApiServer()
server.create(siteCrd() as never)
server.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'bench' } })
server.create({ apiVersion: 'example.com/v1', kind: 'Site', metadata: { name: 'a', namespace: 'bench' }, spec: { pages: { 'index.html': 'a' } } })
const kubeconfig = kubeconfigFile(server.kubeConfigYaml())
const all: Replica[] = []
const args = replicaArgs(kubeconfig, { namespace: 'bench', release: true, heartbeat: '100ms', timing })
const spawnReplica = () => {
  const r = new Replica(args)
  all.push(r)
  return r
}

// 1. Real processes: a pool of three; each trial removes the leader and adds a replacement.
const results: Record<'kill' | 'term', { acquire: number[]; write: number[] }> = { kill: { acquire: [], write: [] }, term: { acquire: [], write: [] } }
let pool = [spawnReplica(), spawnReplica(), spawnReplica()]
try {
  for (let i = 0; i < trials * 2; i++) {
    const mode = i % 2 === 0 ? 'kill' : 'term'
    await waitFor('every replica up', () => pool.every((r) => r.address('metrics') !== undefined), 60_000)
    await waitFor('a leader', () => pool.some((r) => r.acquiredAt !== undefined && r.writes.length > 0), 60_000)
    // Let the standbys observe a few renewals, as in steady state.
    await new Promise((r) => setTimeout(r, timing.retryMs * 3 + Math.random() * timing.retryMs))
    const leader = pool.find((r) => r.acquiredAt !== undefined) as Replica
    const t0 = leader.kill(mode === 'kill' ? 'SIGKILL' : 'SIGTERM')
    const rest = pool.filter((r) => r !== leader)
    await waitFor('the next leader to write', () => rest.some((r) => r.writes.some((w) => w.start > t0)), bound * 3 + 10_000)
    const next = rest.find((r) => r.acquiredAt !== undefined) as Replica
    results[mode].acquire.push((next.acquiredAt as number) - t0)
    results[mode].write.push((next.writes.find((w) => w.start > t0)?.end as number) - t0)
    await leader.exited
    pool = [...rest, spawnReplica()]
  }
} finally {
  for (const r of all) if (r.alive) r.kill('SIGKILL')
  await Promise.all(all.map((r) => r.exited))
}

// 2. Simulated crash failover on a fake clock, both retry policies.
async function simulate(policy: 'bounded' | 'client-go', n: number): Promise<number[]> {
  const out: number[] = []
  const silent = createLogger({ level: 'silent' })
  for (let i = 0; i < n; i++) {
    const clock = new FakeClock()
    const lease = new MemoryLease()
    const mk = (id: string) => {
      const abort = new AbortController()
      let startedAt: number | undefined
      const e = new LeaderElector({
        lock: new MemoryLock(lease, id),
        ...{ leaseDurationMs: timing.leaseMs, renewDeadlineMs: timing.renewMs, retryPeriodMs: timing.retryMs },
        retryJitter: policy,
        clock,
        // The record's timestamps must move with the fake clock: a standby notices a renewal by the record changing.
        wallClock: () => 1_700_000_000_000 + clock.now(),
        logger: silent,
        callbacks: { onStartedLeading: () => (startedAt = clock.now()), onStoppedLeading: () => {} },
      })
      const run = e.run(abort.signal)
      return { abort, run, started: () => startedAt }
    }
    const a = mk('a')
    await clock.advance(0)
    const b = mk('b')
    await clock.advance(timing.leaseMs + Math.random() * timing.leaseMs)
    a.abort.abort()
    const killed = clock.now()
    await clock.advance(timing.leaseMs * 4)
    out.push((b.started() as number) - killed)
    b.abort.abort()
    await clock.advance(timing.leaseMs)
  }
  return out
}
const simulated = { bounded: await simulate('bounded', 500), clientGo: await simulate('client-go', 500) }

// 3. Idle overhead: CPU and heap of one idle replica, with and without the Manager's extras.
function cpuMs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? []
  const ticks = Number(fields[11]) + Number(fields[12]) // utime + stime (fields 14, 15)
  return (ticks * 1000) / 100 // USER_HZ = 100 on Linux
}
function rssMiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
  return Number(m?.[1]) / 1024
}
async function idle(withManager: boolean): Promise<{ cpuPerSec: number; rss: number; heap: number | undefined }> {
  server.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: `idle-${withManager}` } })
  const a = withManager
    ? replicaArgs(kubeconfig, { namespace: `idle-${withManager}`, timing: { leaseMs: 15_000, renewMs: 10_000, retryMs: 2_000 } })
    : replicaArgs(kubeconfig, { namespace: `idle-${withManager}`, lease: false }).map((x) => x.replace(/bind-address=.*/, 'bind-address=0'))
  const r = new Replica(a)
  all.push(r)
  await waitFor('running', () => r.find(/caches synced/) !== undefined, 60_000)
  await new Promise((res) => setTimeout(res, 2_000))
  const pid = r.proc.pid as number
  const c0 = cpuMs(pid)
  const t0 = performance.now()
  await new Promise((res) => setTimeout(res, Number(values['idle-seconds']) * 1000))
  const cpuPerSec = (cpuMs(pid) - c0) / ((performance.now() - t0) / 1000)
  const rss = rssMiB(pid)
  let heap: number | undefined
  const base = r.address('metrics')
  if (base) heap = Number(/^nodejs_heap_size_used_bytes (\S+)/m.exec(await (await fetch(`${base}/metrics`)).text())?.[1]) / 1024 / 1024
  r.kill('SIGTERM')
  await r.exited
  return { cpuPerSec, rss, heap }
}
const withExtras = await idle(true)
const without = await idle(false)
await server.close()

const row = (name: string, xs: number[]) => {
  const p = percentiles(xs)
  return [name, xs.length, p.p50, p.p90, p.max, bound, (p.max / bound).toFixed(2)]
}
console.log(`bench/failover.ts — ${machine()}; lease ${timing.leaseMs} ms, renew deadline ${timing.renewMs} ms, retry ${timing.retryMs} ms\n`)
console.log(
  formatTable({
    title: 'Leader failover (ms after the leader was killed)',
    columns: ['case', 'trials', 'p50', 'p90', 'max', 'bound (lease + retry)', 'max / bound'],
    rows: [
      row('kill -9 → lease acquired (processes)', results.kill.acquire),
      row('kill -9 → first write by the new leader (processes)', results.kill.write),
      row('SIGTERM + release → lease acquired (processes)', results.term.acquire),
      row('SIGTERM + release → first write (processes)', results.term.write),
      row('crash, kubevisor polling (simulated, fake clock)', simulated.bounded),
      row('crash, client-go JitterUntil ×[1, 2.2) (simulated, fake clock)', simulated.clientGo),
    ],
    notes: [
      'The bound is for a crash: a standby may observe the last renewal up to one retry period late, and takes over when that observation is one lease duration old.',
      'A kill can land just after a renewal or just before the next one, so acquisitions before `lease` after the kill are expected.',
    ],
  }),
)
console.log()
console.log(
  formatTable({
    title: `Idle overhead of one replica (${values['idle-seconds']} s idle, no Sites)`,
    columns: ['configuration', 'CPU ms per s', 'RSS MiB', 'heap used MiB'],
    rows: [
      ['Manager with leader election (15 s / 10 s / 2 s) + /healthz /readyz /metrics', withExtras.cpuPerSec, withExtras.rss, withExtras.heap ?? 'n/a'],
      ['same operator, no leader election, no HTTP (ceiling)', without.cpuPerSec, without.rss, 'n/a (no /metrics)'],
    ],
  }),
)
