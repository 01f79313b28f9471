/** Shared helpers for benchmark scripts. Benchmarks print tables; they never assert. */
import { type ChildProcess, fork } from 'node:child_process'
import { once } from 'node:events'
import { StringDecoder } from 'node:string_decoder'

export interface BenchTable {
  title: string
  columns: string[]
  rows: (string | number)[][]
  notes?: string[]
}

/** Formats a table as GitHub markdown. */
export function formatTable(t: BenchTable): string {
  const cell = (v: string | number) => (typeof v === 'number' ? formatNumber(v) : v)
  const lines = [`### ${t.title}`, '', `| ${t.columns.join(' | ')} |`, `| ${t.columns.map(() => '---').join(' | ')} |`]
  for (const row of t.rows) lines.push(`| ${row.map(cell).join(' | ')} |`)
  if (t.notes?.length) lines.push('', ...t.notes.map((n) => `- ${n}`))
  return lines.join('\n')
}

export function formatNumber(v: number): string {
  if (!Number.isFinite(v)) return String(v)
  if (Math.abs(v) >= 1000) return Math.round(v).toLocaleString('en-US')
  if (Math.abs(v) >= 10) return v.toFixed(1)
  return v.toFixed(2)
}

/** Runs `fn` `repeat` times after a warm-up and returns the best (least disturbed) duration in ms. */
export async function bestOf(repeat: number, fn: () => Promise<void> | void): Promise<number> {
  await fn()
  let best = Number.POSITIVE_INFINITY
  for (let i = 0; i < repeat; i++) {
    const t0 = performance.now()
    await fn()
    best = Math.min(best, performance.now() - t0)
  }
  return best
}

/** Forces a full GC when node runs with --expose-gc; returns false otherwise. */
export function gc(): boolean {
  const g = (globalThis as { gc?: () => void }).gc
  if (!g) return false
  g()
  g()
  return true
}

/** A line describing the machine, for quoting results. */
export function machine(): string {
  const os = process.platform
  return `Node ${process.version}, ${os}/${process.arch}, ${navigator.hardwareConcurrency} cores`
}

/**
 * The ceiling every watch benchmark measures against, so they all mean the same thing by
 * "bare reader": decode the bytes to text as they stream in, split on newlines,
 * `JSON.parse` each non-empty line. Returns the function to feed chunks to; `onEvent` gets
 * each parsed line and returns `false` to skip the rest of the chunk (the run is over).
 */
export function bareLines(onEvent: (event: { type: string; object: { metadata?: { resourceVersion?: string } } }) => boolean | undefined): (chunk: Buffer) => void {
  const text = new StringDecoder('utf8')
  let rest = ''
  return (chunk) => {
    const s = rest + text.write(chunk)
    let start = 0
    let nl = s.indexOf('\n')
    while (nl >= 0) {
      if (nl > start && onEvent(JSON.parse(s.slice(start, nl))) === false) break
      start = nl + 1
      nl = s.indexOf('\n', start)
    }
    rest = s.slice(start)
  }
}

/** A request to a benchmark's child process: its `type` names the operation. */
export type ServerRequest = { type: string } & Record<string, unknown>

/** A benchmark's server in a child process (see {@link forkServer}). */
export interface ForkedServer<R = unknown> {
  child: ChildProcess
  /** What the child passed to {@link serveRequests} when it became ready (e.g. its port). */
  readonly ready: R
  /** Sends a request and resolves with the child's answer (requests may overlap). */
  ask<T>(req: ServerRequest): Promise<T>
  /** Stops the child (SIGTERM) and waits for it to exit. */
  close(): Promise<void>
}

/** Node flags for a child that imports kubevisor from its sources and measures its heap. */
export const SOURCE_FLAGS = ['--conditions=source', '--expose-gc']

/**
 * Forks `script` (a benchmark that calls {@link serveRequests} when it finds one of `args`)
 * so that a server runs in its own process: its heap is not the measured process's, and
 * the harness's work cannot hold back the server's event loop (nor the Lease renewals of
 * the replicas it serves). `execArgv` is the child's whole set of Node flags (none are
 * inherited, so a profiler or `--expose-gc` of the parent stays in the parent). The
 * benchmark exits if the child dies unasked.
 */
export async function forkServer<R = unknown>(script: string, args: string[], opts: { execArgv: string[]; label: string }): Promise<ForkedServer<R>> {
  const { execArgv, label } = opts
  const child = fork(script, args, { execArgv, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
  const pending = new Map<number, (r: unknown) => void>()
  let nextId = 1
  const ready = await new Promise<R>((resolve, reject) => {
    child.once('error', reject)
    child.once('exit', (code) => reject(new Error(`${label} exited early (${code})`)))
    child.on('message', (msg: { type?: string; ready?: R; id?: number; result?: unknown }) => {
      if (msg.type === 'ready') resolve(msg.ready as R)
      else pending.get(msg.id as number)?.(msg.result)
    })
  })
  child.removeAllListeners('exit')
  child.once('exit', (code, signal) => {
    if (code !== 0 && signal !== 'SIGTERM') {
      console.error(`${label} died (${code ?? signal})`)
      process.exit(1)
    }
  })
  return {
    child,
    ready,
    ask: <T>(req: ServerRequest) =>
      new Promise<T>((resolve) => {
        const id = nextId++
        pending.set(id, (r) => {
          pending.delete(id)
          resolve(r as T)
        })
        child.send({ ...req, id })
      }),
    close: async () => {
      child.removeAllListeners('exit')
      const exited = once(child, 'exit')
      child.kill('SIGTERM')
      await exited
    },
  }
}

/**
 * The child's side of {@link forkServer}: answers each request with what `handle` returns
 * (or resolves to), then tells the parent it is ready, passing `ready` (e.g. its port). A
 * request that throws ends the child; so does the parent's exit.
 */
export function serveRequests(handle: (req: ServerRequest) => unknown, ready?: unknown): void {
  process.on('message', async (req: ServerRequest & { id: number }) => {
    const result = await handle(req)
    if (process.connected) process.send?.({ id: req.id, result })
  })
  // The benchmark ended (or died): so does its server.
  process.on('disconnect', () => process.exit(0))
  process.send?.({ type: 'ready', ready })
}
