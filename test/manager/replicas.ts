/**
 * Runs `examples/operator.ts` as separate OS processes against a test's API server and
 * reads their JSON logs: identity, leadership, timed writes, exit codes.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
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

export class Replica {
  readonly proc: ChildProcess
  readonly lines: LogLine[] = []
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>
  stderr = ''

  constructor(args: string[], env: NodeJS.ProcessEnv = {}) {
    this.proc = spawn(process.execPath, ['--conditions=source', 'examples/operator.ts', ...args], {
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

  get writes(): NonNullable<LogLine['write']>[] {
    return this.lines.flatMap((l) => (l.write ? [l.write] : []))
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
export function replicaArgs(kubeconfig: string, opts: { namespace: string; lease?: boolean; release?: boolean; heartbeat?: string; extra?: string[] }): string[] {
  const args = [`--kubeconfig=${kubeconfig}`, '--health-probe-bind-address=127.0.0.1:0', '--metrics-bind-address=127.0.0.1:0', `--namespace=${opts.namespace}`]
  if (opts.lease !== false) {
    args.push(
      '--leader-elect',
      '--leader-election-namespace=default',
      `--leader-election-id=site-operator-${opts.namespace}`,
      `--leader-elect-lease-duration=${FAST.leaseMs}ms`,
      `--leader-elect-renew-deadline=${FAST.renewMs}ms`,
      `--leader-elect-retry-period=${FAST.retryMs}ms`,
    )
  }
  if (opts.release) args.push('--leader-elect-release-on-cancel')
  if (opts.heartbeat) args.push(`--heartbeat=${opts.heartbeat}`)
  return [...args, ...(opts.extra ?? [])]
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

export async function waitFor(what: string, check: () => boolean | Promise<boolean>, ms = 20_000, dump?: () => string): Promise<void> {
  const end = Date.now() + ms
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}${dump ? `\n${dump()}` : ''}`)
    await new Promise((r) => setTimeout(r, 25))
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
