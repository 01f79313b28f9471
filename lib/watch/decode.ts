import { KubevisorError } from '../errors.ts'
import type { WatchEvent } from './object.ts'

/** How many bytes of a bad line a {@link DecodeError} quotes. */
const SNIPPET_BYTES = 120
/** Longest line accepted before it is dropped as malformed (16 MiB; etcd caps objects at 1.5 MiB). */
const DEFAULT_MAX_LINE_BYTES = 16 * 1024 * 1024
const NEWLINE = 10

/**
 * A line of a watch stream that is not a watch event: bad JSON, no `type`, an unknown
 * `type`, or no `object`. Carries where it was (`offset`, the byte offset of the line in
 * the stream), a short quote (`snippet`, at most 120 bytes, never the whole line) and the
 * line's length. Reported and counted by {@link WatchDecoder}; it never stops the stream.
 */
export class DecodeError extends KubevisorError {
  /** Byte offset of the start of the bad line within the stream. */
  readonly offset: number
  /** Length of the bad line in bytes (without the newline). */
  readonly length: number
  /** The first bytes of the line, decoded, with `…` when truncated. */
  readonly snippet: string

  constructor(reason: string, offset: number, length: number, snippet: string, options?: { cause?: unknown }) {
    super('ERR_WATCH_DECODE', `malformed watch line at byte ${offset} (${length} bytes): ${reason}: ${snippet}`, options)
    this.offset = offset
    this.length = length
    this.snippet = snippet
  }
}

/** Options for {@link WatchDecoder}. */
export interface WatchDecoderOptions {
  /** Called for each malformed line, in stream order, before the next event. Default: none (still counted). */
  onError?: (error: DecodeError) => void
  /**
   * A line still incomplete past this many bytes is dropped as malformed, and the rest of
   * it skipped without buffering, so a runaway line cannot exhaust memory. (A longer line
   * that arrives within one chunk is already in memory and is parsed.) Default 16 MiB.
   */
  maxLineBytes?: number
}

/**
 * A newline-delimited JSON decoder for Kubernetes watch streams: feed it the response's
 * byte chunks with {@link WatchDecoder.push}, get `{type, object}` events in order.
 *
 * When to use: between an HTTP watch response and the engine. It is the hottest path of
 * kubevisor, so it finds newlines on bytes, keeps a partial line as a list of chunk
 * slices (joined once when its newline arrives — no quadratic copying), decodes each
 * complete line to a string once and `JSON.parse`s it once. Objects stay plain JSON.
 *
 * Gotchas: a malformed line is reported through `onError` and counted in `errors`; it
 * never hides the next valid line. Chunks are not copied: do not reuse a chunk's memory
 * for the next read. Call {@link WatchDecoder.end} when the stream ends to flush a last
 * line that had no newline.
 *
 * @example
 * ```ts
 * const decoder = new WatchDecoder({ onError: (err) => log.warn({ err }, 'bad line') })
 * for await (const chunk of response) decoder.push(chunk, (event) => handle(event))
 * decoder.end((event) => handle(event))
 * ```
 */
export class WatchDecoder {
  /** Malformed lines seen so far. */
  errors = 0
  /** Events decoded so far. */
  events = 0
  /** Bytes consumed so far (the stream offset of the next byte). */
  bytes = 0

  readonly #onError: ((error: DecodeError) => void) | undefined
  readonly #maxLineBytes: number
  /** Slices of the current partial line, in order; their total size is `#pendingBytes`. */
  #pending: Buffer[] = []
  #pendingBytes = 0
  /** True while skipping the rest of an over-long line up to its newline. */
  #discarding = false

  constructor(options: WatchDecoderOptions = {}) {
    this.#onError = options.onError
    this.#maxLineBytes = options.maxLineBytes ?? DEFAULT_MAX_LINE_BYTES
  }

  /** Bytes of an incomplete last line held until its newline arrives. */
  get pendingBytes(): number {
    return this.#pendingBytes
  }

  /** Decodes every complete line of `chunk` (with what was pending), calling `emit` per event. */
  push(chunk: Uint8Array, emit: (event: WatchEvent) => void): void {
    const buf = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength)
    const size = buf.length
    const base = this.bytes
    this.bytes = base + size
    let start = 0
    let nl = buf.indexOf(NEWLINE)
    if (nl < 0) {
      this.#hold(buf, base)
      return
    }
    if (this.#pendingBytes > 0 || this.#discarding) {
      // The first newline completes the line that started in an earlier chunk.
      if (this.#discarding) {
        this.#discarding = false
      } else {
        const lineStart = base - this.#pendingBytes
        this.#pending.push(buf.subarray(0, nl))
        const line = Buffer.concat(this.#pending, this.#pendingBytes + nl)
        this.#pending = []
        this.#pendingBytes = 0
        this.#line(line, 0, line.length, lineStart, emit)
      }
      start = nl + 1
      nl = start < size ? buf.indexOf(NEWLINE, start) : -1
    }
    while (nl >= 0) {
      if (nl > start) this.#line(buf, start, nl, base + start, emit)
      start = nl + 1
      nl = start < size ? buf.indexOf(NEWLINE, start) : -1
    }
    if (start < size) this.#hold(buf.subarray(start), base + start)
  }

  /** Flushes a last line that had no trailing newline; the decoder can then be reused. */
  end(emit: (event: WatchEvent) => void): void {
    if (this.#pendingBytes > 0) {
      const lineStart = this.bytes - this.#pendingBytes
      const line = Buffer.concat(this.#pending, this.#pendingBytes)
      this.#pending = []
      this.#pendingBytes = 0
      this.#line(line, 0, line.length, lineStart, emit)
    }
    this.#discarding = false
  }

  /** Keeps `part` (no newline in it) as the beginning or continuation of a partial line. */
  #hold(part: Buffer, offset: number): void {
    if (this.#discarding) return
    if (this.#pendingBytes + part.length > this.#maxLineBytes) {
      const lineStart = offset - this.#pendingBytes
      const head = this.#pending[0] ?? part
      const length = this.#pendingBytes + part.length
      this.#pending = []
      this.#pendingBytes = 0
      this.#discarding = true
      this.#fail(`line longer than ${this.#maxLineBytes} bytes, skipped`, head, 0, head.length, lineStart, length)
      return
    }
    this.#pending.push(part)
    this.#pendingBytes += part.length
  }

  #line(buf: Buffer, start: number, end: number, offset: number, emit: (event: WatchEvent) => void): void {
    let value: unknown
    try {
      value = JSON.parse(buf.toString('utf8', start, end))
    } catch (err) {
      // A lone "\r" (CRLF streams) or blank padding is not an error worth reporting.
      if (isBlank(buf, start, end)) return
      this.#fail(`invalid JSON (${shortMessage(err)})`, buf, start, end, offset, end - start, err)
      return
    }
    const problem = checkEvent(value)
    if (problem !== undefined) {
      this.#fail(problem, buf, start, end, offset, end - start)
      return
    }
    this.events++
    emit(value as WatchEvent)
  }

  #fail(reason: string, buf: Buffer, start: number, end: number, offset: number, length: number, cause?: unknown): void {
    this.errors++
    if (this.#onError === undefined) return
    const cut = Math.min(end, start + SNIPPET_BYTES)
    // Decoding a cut multi-byte character yields U+FFFD, which is fine for a quote.
    const snippet = buf.toString('utf8', start, cut) + (cut < end ? '…' : '')
    this.#onError(new DecodeError(reason, offset, length, snippet, cause === undefined ? undefined : { cause }))
  }
}

/** Why `value` is not a watch event, or `undefined` when it is one. */
function checkEvent(value: unknown): string | undefined {
  if (typeof value !== 'object' || value === null) return 'not a JSON object'
  const { type, object } = value as { type?: unknown; object?: unknown }
  switch (type) {
    case 'ADDED':
    case 'MODIFIED':
    case 'DELETED':
    case 'BOOKMARK':
    case 'ERROR':
      break
    case undefined:
      return 'missing "type"'
    default:
      return `unknown event type ${JSON.stringify(type).slice(0, 40)}`
  }
  if (typeof object !== 'object' || object === null || Array.isArray(object)) return 'missing "object"'
  return undefined
}

function isBlank(buf: Buffer, start: number, end: number): boolean {
  for (let i = start; i < end; i++) {
    const c = buf[i]
    if (c !== 13 && c !== 32 && c !== 9) return false
  }
  return true
}

function shortMessage(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err)
  return message.length > 80 ? `${message.slice(0, 80)}…` : message
}

