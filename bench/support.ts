/** Shared helpers for benchmark scripts. Benchmarks print tables; they never assert. */
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
