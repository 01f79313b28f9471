/**
 * The last log lines of each process, for the observer's process detail. Every kubevisor
 * process logs through a pino child bound to its `pid`; this keeps the newest lines per
 * pid in a small ring, parsed from the JSON lines pino writes.
 *
 * Wire it where the logger is made: `createLogger({ destination: logs.tee(stdout) })`.
 * Lines still go to the destination unchanged; the copy kept here is redacted again
 * (see `redact.ts`) on top of the logger's own redaction. Costs one `JSON.parse` per log
 * line — logs are not on the per-event path.
 */
import { Writable } from 'node:stream'
import { viewable } from './redact.ts'

/** One kept line: pino's time, level name, message and the other fields (redacted). */
export interface LogLine {
  /** pino's `time`: epoch ms (the time the line was kept, when it had none). */
  time: number
  /** The level's name: `trace`, `debug`, `info`, `warn`, `error` or `fatal` (a custom level as its number). */
  level: string
  /** The message, redacted. */
  msg: string
  /** Every other field of the line but `pid` and `hostname`, redacted and bounded (3 levels, 20 items, 200 characters). */
  fields: Record<string, unknown>
}

/** Options of {@link ObserverLogs}. */
export interface ObserverLogsOptions {
  /** Lines kept per process (default 50). */
  linesPerProcess?: number
  /** Processes kept; the least recently logging are forgotten first (default 10 000). */
  maxProcesses?: number
}

const LEVELS: Record<number, string> = { 10: 'trace', 20: 'debug', 30: 'info', 40: 'warn', 50: 'error', 60: 'fatal' }

/** Keeps the last lines each process logged. */
export class ObserverLogs {
  /** Lines kept per process (option `linesPerProcess`, default 50); older lines are dropped. */
  readonly linesPerProcess: number
  /** Processes kept (option `maxProcesses`, default 10 000); the least recently logging are forgotten first. */
  readonly maxProcesses: number
  readonly #byPid = new Map<number, LogLine[]>()
  #partial = ''

  constructor(options: ObserverLogsOptions = {}) {
    this.linesPerProcess = options.linesPerProcess ?? 50
    this.maxProcesses = options.maxProcesses ?? 10_000
    if (!(Number.isInteger(this.linesPerProcess) && this.linesPerProcess > 0)) throw new RangeError('linesPerProcess must be a positive integer')
    if (!(Number.isInteger(this.maxProcesses) && this.maxProcesses > 0)) throw new RangeError('maxProcesses must be a positive integer')
  }

  /**
   * A writable stream for pino that keeps the lines and passes them on to `destination`
   * (stdout, a pino-pretty stream, a file) when given.
   */
  tee(destination?: NodeJS.WritableStream): Writable {
    return new Writable({
      write: (chunk: Buffer | string, _encoding, callback) => {
        this.push(typeof chunk === 'string' ? chunk : chunk.toString('utf8'))
        if (destination) destination.write(chunk, () => callback())
        else callback()
      },
    })
  }

  /** Takes raw pino output (one or more JSON lines, possibly split across calls). */
  push(text: string): void {
    const lines = (this.#partial + text).split('\n')
    this.#partial = lines.pop() ?? ''
    if (this.#partial.length > 65_536) this.#partial = ''
    for (const line of lines) if (line) this.#line(line)
  }

  /** The kept lines of process `pid` (oldest first). */
  linesOf(pid: number): LogLine[] {
    return this.#byPid.get(pid)?.slice() ?? []
  }

  #line(line: string): void {
    let parsed: Record<string, unknown>
    try {
      parsed = JSON.parse(line)
    } catch {
      return
    }
    const pid = parsed.pid
    if (typeof pid !== 'number' || parsed === null) return
    const { time, level, msg, pid: _pid, hostname: _h, ...rest } = parsed
    const kept: LogLine = {
      time: typeof time === 'number' ? time : Date.now(),
      level: typeof level === 'number' ? (LEVELS[level] ?? String(level)) : String(level),
      msg: String(viewable(typeof msg === 'string' ? msg : '')),
      fields: viewable(rest, { depth: 3, items: 20, chars: 200 }) as Record<string, unknown>,
    }
    let ring = this.#byPid.get(pid)
    if (ring) this.#byPid.delete(pid)
    else ring = []
    this.#byPid.set(pid, ring) // most recent last, for eviction
    ring.push(kept)
    if (ring.length > this.linesPerProcess) ring.shift()
    if (this.#byPid.size > this.maxProcesses) {
      const oldest = this.#byPid.keys().next().value
      if (oldest !== undefined) this.#byPid.delete(oldest)
    }
  }
}
