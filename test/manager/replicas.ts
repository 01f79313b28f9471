/**
 * Runs `examples/operator.ts` as separate OS processes against a test's API server and
 * reads their JSON logs: identity, leadership, timed writes, exit codes.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import assert from 'node:assert/strict'
import { loadAllYaml } from '@kubernetes/client-node'

const root = fileURLToPath(new URL('../../', import.meta.url))

export interface LogLine {
  level: number
  time: number
  msg: string
  identity?: string
  write?: { object: string; what: string; start: number; end: number }
  [k: string]: unknown
}

/** Short lease timings for tests (defaults stay controller-runtime's): 2 s / 1.5 s / 0.3 s. */
export const FAST = { leaseMs: 2_000, renewMs: 1_500, retryMs: 300 }

/**
 * For the lease-loss tests: the same renew deadline and retry with a 3 s lease, so the
 * margin between "the leader gives up" and "the lease expires" (1.2 s; 3 s with
 * controller-runtime's defaults) is not eaten by a loaded test machine's scheduling.
 */
export const LOSS = { leaseMs: 3_000, renewMs: 1_500, retryMs: 300 }

export class Replica {
  readonly proc: ChildProcess
  readonly lines: LogLine[] = []
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>
  stderr = ''

  constructor(args: string[], env: NodeJS.ProcessEnv = {}, script = 'examples/operator.ts') {
    this.proc = spawn(process.execPath, ['--conditions=source', script, ...args], {
      cwd: root,
      env: { ...process.env, KUBEVISOR_LOG_LEVEL: 'info', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let buf = ''
    this.proc.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
      buf += chunk
      let nl = buf.indexOf('\n')
      while (nl >= 0) {
        const line = buf.slice(0, nl)
        buf = buf.slice(nl + 1)
        try {
          this.lines.push(JSON.parse(line) as LogLine)
        } catch {
          // not a log line
        }
        nl = buf.indexOf('\n')
      }
    })
    this.proc.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
      this.stderr += chunk
    })
    this.exited = new Promise((resolve) => this.proc.once('exit', (code, signal) => resolve({ code, signal, at: Date.now() })))
  }

  get identity(): string | undefined {
    return this.lines.find((l) => typeof l.identity === 'string')?.identity
  }

  get alive(): boolean {
    return this.proc.exitCode === null && this.proc.signalCode === null
  }

  /** When it logged that it acquired the lease (ms since epoch). */
  get acquiredAt(): number | undefined {
    return this.lines.find((l) => l.msg === 'successfully acquired lease')?.time
  }

  address(what: 'health probes' | 'metrics'): string | undefined {
    const line = this.lines.find((l) => l.what === what)
    return line ? `http://${String(line.address)}` : undefined
  }

  /** Its writes; each log line names the writer, which must be this replica. */
  get writes(): NonNullable<LogLine['write']>[] {
    return this.lines.flatMap((l) => {
      if (!l.write) return []
      if (l.identity !== this.identity) throw new Error(`a write logged by ${String(l.identity)} in the log of ${String(this.identity)}`)
      return [l.write]
    })
  }

  find(pattern: RegExp): LogLine | undefined {
    return this.lines.find((l) => pattern.test(l.msg))
  }

  /** Logs and stderr, for failure messages. */
  dump(): string {
    return `${this.identity}: ${this.lines.map((l) => `${l.time} ${l.msg}`).join('\n')}\n${this.stderr}`.slice(-4000)
  }

  kill(signal: NodeJS.Signals): number {
    this.proc.kill(signal)
    return Date.now()
  }
}

/** The operator's flags for a test replica. */
export function replicaArgs(
  kubeconfig: string,
  opts: { namespace: string; lease?: boolean; release?: boolean; heartbeat?: string; extra?: string[]; timing?: typeof FAST; leaseNamespace?: string },
): string[] {
  const timing = opts.timing ?? FAST
  const args = [`--kubeconfig=${kubeconfig}`, '--health-probe-bind-address=127.0.0.1:0', '--metrics-bind-address=127.0.0.1:0', `--namespace=${opts.namespace}`]
  if (opts.lease !== false) {
    args.push(
      '--leader-elect',
      `--leader-election-namespace=${opts.leaseNamespace ?? 'default'}`,
      `--leader-election-id=site-operator-${opts.namespace}`,
      `--leader-elect-lease-duration=${timing.leaseMs}ms`,
      `--leader-elect-renew-deadline=${timing.renewMs}ms`,
      `--leader-elect-retry-period=${timing.retryMs}ms`,
    )
  }
  if (opts.release) args.push('--leader-elect-release-on-cancel')
  if (opts.heartbeat) args.push(`--heartbeat=${opts.heartbeat}`)
  return [...args, ...(opts.extra ?? [])]
}

/**
 * The sharded operator's flags for a test shard (`examples/sharded-operator.ts`): leader
 * election in `namespace` (the sharder runs on the leader), the ring named after the
 * namespace, a simulated API call per reconcile (`reconcileDelay`, default `20ms`), and
 * `concurrency` reconciles at once when given (the example's default otherwise). `ring:
 * false` leaves the ring flags out (the unsharded operator, for comparison runs). `role`
 * (the example's `--role`; left out when not given: `all`): `shard` for a shard without a
 * sharder, `sharder` for the sharder-only process (`name` is then its identity).
 */
export function shardArgs(
  kubeconfig: string,
  opts: { namespace: string; name: string; timing?: typeof FAST; ring?: boolean; concurrency?: number; reconcileDelay?: string; role?: 'all' | 'shard' | 'sharder' | (string & {}) },
): string[] {
  const timing = opts.timing ?? FAST
  const args = [
    `--kubeconfig=${kubeconfig}`,
    '--health-probe-bind-address=0',
    '--metrics-bind-address=0',
    `--namespace=${opts.namespace}`,
    '--leader-elect',
    `--leader-election-namespace=${opts.namespace}`,
    `--leader-elect-lease-duration=${timing.leaseMs}ms`,
    `--leader-elect-renew-deadline=${timing.renewMs}ms`,
    `--leader-elect-retry-period=${timing.retryMs}ms`,
  ]
  if (opts.ring !== false) args.push(`--ring=${opts.namespace}`, `--shard-name=${opts.name}`)
  if (opts.concurrency !== undefined) args.push(`--concurrency=${opts.concurrency}`)
  if (opts.role !== undefined) args.push(`--role=${opts.role}`)
  return [...args, `--reconcile-delay=${opts.reconcileDelay ?? '20ms'}`]
}

/** Writes a kubeconfig to a temporary file. */
export function kubeconfigFile(yaml: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'kubevisor-manager-'))
  const file = join(dir, 'kubeconfig')
  writeFileSync(file, yaml)
  return file
}

/** The Site CRD of deploy/crd.yaml. */
export function siteCrd(): Record<string, unknown> {
  return loadAllYaml(readFileSync(join(root, 'deploy/crd.yaml'), 'utf8'))[0] as Record<string, unknown>
}

/** Polls `check` every `everyMs` until it holds; throws naming `what` (and `dump()`) after `ms`. */
export async function waitFor(what: string, check: () => boolean | Promise<boolean>, ms = 20_000, dump?: () => string, everyMs = 25): Promise<void> {
  const end = Date.now() + ms
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}${dump ? `\n${dump()}` : ''}`)
    await new Promise((r) => setTimeout(r, everyMs))
  }
}

/**
 * Writes of the same object by different replicas never overlap in time. Returns the
 * number of (object, writer-change) handovers seen.
 */
export function assertNoOverlappingWriters(replicas: Replica[]): number {
  const byObject = new Map<string, { identity: string; start: number; end: number }[]>()
  for (const r of replicas) {
    for (const w of r.writes) {
      const list = byObject.get(w.object) ?? []
      list.push({ identity: r.identity as string, start: w.start, end: w.end })
      byObject.set(w.object, list)
    }
  }
  let handovers = 0
  for (const [object, writes] of byObject) {
    writes.sort((a, b) => a.start - b.start)
    for (let i = 1; i < writes.length; i++) {
      const prev = writes[i - 1] as (typeof writes)[number]
      const cur = writes[i] as (typeof writes)[number]
      if (prev.identity === cur.identity) continue
      handovers++
      // Every earlier write of another identity ended before this one began.
      const overlapping = writes.slice(0, i).filter((w) => w.identity !== cur.identity && w.end > cur.start)
      if (overlapping.length > 0) throw new Error(`${object}: ${cur.identity} wrote at [${cur.start}, ${cur.end}] while ${overlapping[0]?.identity} wrote until ${overlapping[0]?.end}`)
    }
  }
  return handovers
}

/** A Lease as read. */
export interface Lease {
  metadata?: Record<string, unknown>
  spec?: { holderIdentity?: string; leaseTransitions?: number; [k: string]: unknown }
  [k: string]: unknown
}

/** What the scenarios need from an API server (embedded or real). */
export interface Cluster {
  /** A kubeconfig file for the replicas. */
  kubeconfig: string
  createNamespace(name: string): Promise<void>
  createSite(namespace: string, name: string): Promise<void>
  lease(namespace: string, name: string): Promise<Lease | undefined>
  replaceLease(lease: Lease): Promise<void>
  configMap(namespace: string, name: string): Promise<{ metadata?: { annotations?: Record<string, string> } } | undefined>
}

/** The leader gauge a replica reports on /metrics. */
export async function leaderGauge(r: Replica): Promise<number | undefined> {
  const base = r.address('metrics')
  if (!base || !r.alive) return undefined
  const text = await fetch(`${base}/metrics`).then(
    (res) => res.text(),
    () => '',
  )
  const m = /^leader_election_master_status\{name="[^"]+"\} (\d+)/m.exec(text)
  return m ? Number(m[1]) : undefined
}

/**
 * Three replicas: one leader at a time; kill -9 the leader → another reconciles within
 * lease + retry; SIGTERM with release → the next leads at once; no two writers overlap.
 * Returns the measured failover times.
 */
export async function trioScenario(
  cluster: Cluster,
  ns: string,
  replica: (args: string[]) => Replica,
  opts: { slackMs?: number; leaseNamespace?: string } = {},
): Promise<{ killMs: number; termMs: number }> {
    const slack = opts.slackMs ?? 0
    await cluster.createNamespace(ns)
    await cluster.createSite(ns, 'a')
    await cluster.createSite(ns, 'b')
    const args = replicaArgs(cluster.kubeconfig, { namespace: ns, release: true, heartbeat: '100ms', leaseNamespace: opts.leaseNamespace })
    const trio = [replica(args), replica(args), replica(args)]
    const dump = () => trio.map((r) => r.dump()).join('\n---\n')
    await waitFor('a leader that writes', () => trio.some((r) => r.writes.length > 2), 30_000, dump)
    await waitFor('every replica up', () => trio.every((r) => r.address('metrics') !== undefined), 30_000, dump)
    const first = trio.find((r) => r.acquiredAt !== undefined) as Replica
    // Exactly one leader, as the replicas themselves report it (leader_election_master_status), sampled.
    for (let i = 0; i < 5; i++) {
      const gauges = await Promise.all(trio.map(leaderGauge))
      assert.deepEqual(gauges.filter((g) => g === 1).length, 1, `gauges ${JSON.stringify(gauges)}`)
      await new Promise((r) => setTimeout(r, 100))
    }
    assert.equal((await cluster.lease(opts.leaseNamespace ?? 'default', `site-operator-${ns}`))?.spec?.holderIdentity, first.identity)
    // Standbys said once that they are not the leader.
    for (const r of trio.filter((x) => x !== first)) assert.equal(r.lines.filter((l) => /not the leader/.test(l.msg)).length, 1, r.dump())

    // kill -9 the leader.
    const killedAt = first.kill('SIGKILL')
    assert.equal((await first.exited).signal, 'SIGKILL')
    const rest = trio.filter((r) => r !== first)
    await waitFor('another replica to write', () => rest.some((r) => r.writes.some((w) => w.start > killedAt)), 15_000, dump)
    const second = rest.find((r) => r.acquiredAt !== undefined) as Replica
    const acquiredAfter = (second.acquiredAt as number) - killedAt
    const firstWrite = (second.writes.find((w) => w.start > killedAt)?.end as number) - killedAt
    console.log(`${ns}: kill -9 failover: lease acquired ${acquiredAfter} ms, first write done ${firstWrite} ms after the kill (bound lease + retry = ${FAST.leaseMs + FAST.retryMs} ms)`)
    // The bound is exact on a fake clock (leaderelection.test.ts); here 300 ms covers timers firing late on a loaded machine.
    assert.ok(acquiredAfter <= FAST.leaseMs + FAST.retryMs + 300 + slack, `acquired ${acquiredAfter} ms after the kill`)
    // The reconcile after acquiring: start the controller on the warm caches and write (loaded CI machine: 1.5 s slack).
    assert.ok(firstWrite <= FAST.leaseMs + FAST.retryMs + 1_500 + slack, `first write ${firstWrite} ms after the kill`)

    // SIGTERM the new leader: it drains, releases the lease, exits 0; the third leads at once.
    const termAt = second.kill('SIGTERM')
    const exit = await second.exited
    assert.equal(exit.code, 0, second.dump())
    assert.ok(second.find(/released the lease/), second.dump())
    const third = rest.find((r) => r !== second) as Replica
    await waitFor('the third replica to lead', () => third.acquiredAt !== undefined, 10_000, dump)
    const handover = (third.acquiredAt as number) - termAt
    console.log(`${ns}: SIGTERM + release failover: ${handover} ms (second exited ${exit.at - termAt} ms after SIGTERM)`)
    assert.ok(handover < FAST.leaseMs, `led ${handover} ms after SIGTERM: the release let it in before the lease expired`)
    await waitFor('the third to write', () => third.writes.some((w) => w.start > termAt), 10_000, dump)

    // Leadership intervals never overlap: each leader began after the previous one ended.
    const secondEnded = second.lines.find((l) => /released the lease/.test(l.msg))?.time as number
    assert.ok((second.acquiredAt as number) > killedAt)
    assert.ok((third.acquiredAt as number) >= secondEnded, 'the third acquired after the second released')
    assert.ok(second.writes.every((w) => w.end <= secondEnded), 'the second wrote nothing after releasing')

    third.kill('SIGTERM')
    assert.equal((await third.exited).code, 0, third.dump())
    const handovers = assertNoOverlappingWriters(trio)
    assert.ok(handovers >= 2, `writers changed ${handovers} times`)
    const cm = await cluster.configMap(ns, 'site-a')
    assert.equal(cm?.metadata?.annotations?.['example.com/written-by'], third.identity)
    return { killMs: acquiredAfter, termMs: handover }
}


/** Someone else writes the Lease: the leader reads the new holder at its next renewal and exits 1. */
export async function takenScenario(cluster: Cluster, ns: string, replica: (args: string[]) => Replica): Promise<void> {
  await cluster.createNamespace(ns)
  await cluster.createSite(ns, 'a')
  const taken = replica(replicaArgs(cluster.kubeconfig, { namespace: ns, timing: LOSS }))
  await waitFor('leading', () => taken.acquiredAt !== undefined && taken.writes.length > 0, 30_000, () => taken.dump())
  const lease = (await cluster.lease('default', `site-operator-${ns}`)) as Lease
  const takenAt = Date.now()
  await cluster.replaceLease({ ...lease, spec: { ...lease.spec, holderIdentity: 'intruder', leaseTransitions: Number(lease.spec?.leaseTransitions) + 1 } })
  const exit = await taken.exited
  assert.equal(exit.code, 1, taken.dump())
  assert.ok(exit.at - takenAt <= LOSS.retryMs + 1_000, `exited ${exit.at - takenAt} ms after the takeover`)
  const lastWrite = Math.max(0, ...taken.writes.map((w) => w.end))
  assert.ok(lastWrite <= exit.at)
}

/** One reconcile of examples/sharded-operator.ts as it logs it, with the shard that ran it. */
export interface ShardReconcile {
  object: string
  start: number
  end: number
  rev?: string
  shard: string
}

/** Every reconcile `r` has logged so far (`reconcile` log lines), with its shard's identity. */
export function shardReconciles(r: Replica): ShardReconcile[] {
  return r.lines.flatMap((l) => (l.reconcile ? [{ ...(l.reconcile as Omit<ShardReconcile, 'shard'>), shard: String(l.identity) }] : []))
}

/** The `usage` line examples/sharded-operator.ts logs on SIGUSR2. */
export interface ShardUsage {
  heapUsed: number
  cpuMs: number
  sites: number
  configMaps: number
  /** Objects in its sharder's caches (the leader's or the sharder process's; 0 elsewhere). */
  sharderObjects: number
}

/** Sends SIGUSR2 and returns the `usage` line it answers with (heap after a full GC with --expose-gc, CPU, cached objects). */
export async function shardUsage(r: Replica): Promise<ShardUsage> {
  const before = r.lines.length
  r.kill('SIGUSR2')
  await waitFor('a usage line', () => r.lines.slice(before).some((l) => l.usage !== undefined), 20_000, () => r.dump())
  return r.lines.slice(before).find((l) => l.usage !== undefined)?.usage as ShardUsage
}

/** The in-process object API of an embedded API server, as far as {@link siteWriter} needs it. */
interface SiteStore {
  get(ref: { apiVersion: string; kind: string; namespace: string; name: string }): { metadata: object } | undefined
  create(object: never): unknown
  update(object: never): unknown
}

/**
 * Writes Sites of namespace `ns` straight into an embedded API server: `put(name)` creates
 * the Site, or changes it, with the next `spec.pages.rev` (1, 2, …), which `rev` remembers.
 */
export function siteWriter(server: SiteStore, ns: string): { put(name: string): void; rev: Map<string, number> } {
  const rev = new Map<string, number>()
  const put = (name: string) => {
    const next = (rev.get(name) ?? 0) + 1
    const cur = server.get({ apiVersion: 'example.com/v1', kind: 'Site', namespace: ns, name })
    const spec = { pages: { 'index.html': `<h1>${name}</h1>`, rev: String(next) } }
    if (cur) server.update({ ...cur, spec } as never)
    else server.create({ apiVersion: 'example.com/v1', kind: 'Site', metadata: { name, namespace: ns }, spec } as never)
    rev.set(name, next)
  }
  return { put, rev }
}
