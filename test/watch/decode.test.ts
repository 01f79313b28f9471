/**
 * The watch stream decoder: newline-delimited JSON as the API server writes it
 * (Kubernetes API concepts, "Efficient detection of changes": one JSON-encoded event per
 * line). Chunk boundaries fall anywhere, UTF-8 characters may be split, bad lines are
 * reported and skipped without losing the next event.
 */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { DecodeError, WatchDecoder } from '../../lib/watch/decode.ts'
import type { WatchEvent } from '../../lib/watch/object.ts'
import { prng } from '../support/random.ts'

function line(type: string, name: string, rv: string, extra: Record<string, unknown> = {}): string {
  return JSON.stringify({ type, object: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace: 'default', resourceVersion: rv }, ...extra } })
}

/** Decodes `chunks` and returns events and errors, in order. */
function decode(chunks: Uint8Array[], options: { maxLineBytes?: number } = {}) {
  const out: (WatchEvent | DecodeError)[] = []
  const decoder = new WatchDecoder({ ...options, onError: (err) => out.push(err) })
  for (const chunk of chunks) decoder.push(chunk, (ev) => out.push(ev))
  decoder.end((ev) => out.push(ev))
  return { out, decoder, events: out.filter((x): x is WatchEvent => !(x instanceof DecodeError)), errors: out.filter((x) => x instanceof DecodeError) }
}

const sample = [
  line('ADDED', 'a', '1', { data: { greeting: 'héllo wörld ✓', emoji: '🚀🛰️', cjk: '監視者' } }),
  line('MODIFIED', 'a', '2', { data: { k: 'v'.repeat(300) } }),
  JSON.stringify({ type: 'BOOKMARK', object: { kind: 'ConfigMap', apiVersion: 'v1', metadata: { resourceVersion: '3' } } }),
  line('DELETED', 'a', '4'),
].join('\n') + '\n'

describe('WatchDecoder', () => {
  test('yields every event of a stream in order whatever the split position of two chunks', () => {
    const bytes = Buffer.from(sample)
    const expected = sample.trim().split('\n').map((l) => JSON.parse(l))
    for (let at = 0; at <= bytes.length; at++) {
      const { events, errors } = decode([bytes.subarray(0, at), bytes.subarray(at)])
      assert.deepEqual(events, expected, `split at byte ${at}`)
      assert.equal(errors.length, 0)
    }
  })

  test('yields the same events when fed one byte at a time (multi-byte UTF-8 split across chunks)', () => {
    const bytes = Buffer.from(sample)
    const chunks = Array.from(bytes, (_, i) => bytes.subarray(i, i + 1))
    const { events } = decode(chunks)
    assert.equal(events.length, 4)
    assert.deepEqual((events[0]!.object as { data: unknown }).data, { greeting: 'héllo wörld ✓', emoji: '🚀🛰️', cjk: '監視者' })
  })

  test('accepts plain Uint8Array chunks, not only Buffers', () => {
    const bytes = new TextEncoder().encode(sample)
    const { events } = decode([bytes.subarray(0, 10), bytes.subarray(10)])
    assert.equal(events.length, 4)
  })

  test('a malformed line is reported with its byte offset and a short snippet, and the next valid line is delivered', () => {
    const good1 = line('ADDED', 'a', '1')
    const bad = '{"type":"MODIFIED","object":{"metadata":' + 'x'.repeat(500)
    const good2 = line('MODIFIED', 'a', '2')
    const { out, decoder } = decode([Buffer.from(`${good1}\n${bad}\n${good2}\n`)])
    assert.equal(out.length, 3)
    assert.ok(!(out[0] instanceof DecodeError))
    const err = out[1]
    assert.ok(err instanceof DecodeError)
    assert.equal(err.code, 'ERR_WATCH_DECODE')
    assert.equal(err.offset, Buffer.byteLength(good1) + 1)
    assert.equal(err.length, Buffer.byteLength(bad))
    assert.ok(err.snippet.length <= 121, 'the snippet is truncated')
    assert.ok(err.snippet.endsWith('…'))
    assert.ok(!err.message.includes('x'.repeat(200)), 'the message never carries the whole line')
    assert.deepEqual(out[2], JSON.parse(good2))
    assert.equal(decoder.errors, 1)
    assert.equal(decoder.events, 2)
  })

  const malformed: [string, string][] = [
    ['bad JSON', '{"type": ADDED}'],
    ['a JSON value that is not an object', '[1,2,3]'],
    ['a missing type', '{"object":{"metadata":{}}}'],
    ['an unknown type', '{"type":"UPSERTED","object":{}}'],
    ['a missing object', '{"type":"ADDED"}'],
    ['an object that is not an object', '{"type":"ADDED","object":"pod"}'],
  ]
  for (const [what, text] of malformed) {
    test(`${what} is a decode error that does not hide the next event`, () => {
      const { events, errors } = decode([Buffer.from(`${text}\n${line('ADDED', 'b', '9')}\n`)])
      assert.equal(errors.length, 1)
      assert.deepEqual(events.map((e) => e.object.metadata?.name), ['b'])
    })
  }

  test('blank lines and CRLF line ends are not errors', () => {
    const { events, errors } = decode([Buffer.from(`\n${line('ADDED', 'a', '1')}\r\n\r\n${line('ADDED', 'b', '2')}\n\n`)])
    assert.equal(errors.length, 0)
    assert.equal(events.length, 2)
  })

  test('a very long line split over many chunks is joined once and decoded', () => {
    const big = line('ADDED', 'big', '1', { data: { blob: 'y'.repeat(3_000_000) } })
    const bytes = Buffer.from(`${big}\n${line('ADDED', 'after', '2')}\n`)
    const chunks: Buffer[] = []
    for (let at = 0; at < bytes.length; at += 16_384) chunks.push(bytes.subarray(at, at + 16_384))
    const { events, decoder } = decode(chunks)
    assert.deepEqual(events.map((e) => e.object.metadata?.name), ['big', 'after'])
    assert.equal(decoder.pendingBytes, 0)
    assert.equal(decoder.bytes, bytes.length)
  })

  test('a line longer than maxLineBytes is dropped without buffering it, and the stream goes on', () => {
    const big = line('ADDED', 'big', '1', { data: { blob: 'y'.repeat(10_000) } })
    const bytes = Buffer.from(`${line('ADDED', 'before', '0')}\n${big}\n${line('ADDED', 'after', '2')}\n`)
    const chunks: Buffer[] = []
    for (let at = 0; at < bytes.length; at += 1000) chunks.push(bytes.subarray(at, at + 1000))
    const { events, errors } = decode(chunks, { maxLineBytes: 4096 })
    assert.deepEqual(events.map((e) => e.object.metadata?.name), ['before', 'after'])
    assert.equal(errors.length, 1)
    assert.match(errors[0]?.message ?? '', /longer than 4096 bytes/)
  })

  test('end() flushes a last line without a newline; a truncated last line is an error', () => {
    assert.equal(decode([Buffer.from(line('ADDED', 'a', '1'))]).events.length, 1)
    const cut = line('ADDED', 'a', '1').slice(0, 30)
    assert.equal(decode([Buffer.from(cut)]).errors.length, 1)
  })

  test('random streams in random chunks: the same events, and every bad line with its exact byte offset, length and quote', () => {
    // A reference that sees the whole byte stream at once: split on newline bytes, decode, parse.
    const reference = (bytes: Buffer) => {
      const out: ({ event: unknown } | { offset: number; length: number; snippet: string })[] = []
      for (let from = 0; from < bytes.length; ) {
        let to = bytes.indexOf(10, from)
        if (to < 0) to = bytes.length
        const text = bytes.toString('utf8', from, to)
        if (text.trim() !== '') {
          let value: { type?: unknown; object?: unknown } | undefined
          try {
            value = JSON.parse(text)
          } catch {}
          const ok = typeof value === 'object' && value !== null && ['ADDED', 'MODIFIED', 'DELETED', 'BOOKMARK', 'ERROR'].includes(value.type as string) && typeof value.object === 'object' && value.object !== null && !Array.isArray(value.object)
          if (ok) out.push({ event: value })
          else {
            const cut = Math.min(to, from + 120)
            out.push({ offset: from, length: to - from, snippet: bytes.toString('utf8', from, cut) + (cut < to ? '…' : '') })
          }
        }
        from = to + 1
      }
      return out
    }
    const pieces = [
      () => line('ADDED', 'a', '1'),
      () => line('MODIFIED', 'ü-b', '2', { data: { text: 'grüße 監視者 🚀'.repeat(20) } }),
      () => `{"type":"MODIFIED","object":{"metadata":{"name":"${'ö'.repeat(90)}"`, // cut JSON, non-ASCII around byte 120
      () => '{"type":"UPSERTED","object":{}}',
      () => '[1,2]',
      () => '  \r',
      () => '',
      () => `${line('DELETED', 'c', '3')}\r`,
      () => `not json ✓ ${'x'.repeat(200)}`,
    ]
    for (let seed = 1; seed <= 40; seed++) {
      const rand = prng(seed)
      const lines = Array.from({ length: 30 }, () => (pieces[Math.floor(rand() * pieces.length)] as () => string)())
      const bytes = Buffer.from(`${lines.join('\n')}${rand() < 0.5 ? '\n' : ''}`)
      const chunks: Buffer[] = []
      for (let at = 0; at < bytes.length; ) {
        const size = 1 + Math.floor(rand() * (rand() < 0.2 ? 4 : 700))
        chunks.push(bytes.subarray(at, at + size))
        at += size
      }
      const { out, decoder } = decode(chunks)
      const got = out.map((x) => (x instanceof DecodeError ? { offset: x.offset, length: x.length, snippet: x.snippet } : { event: x }))
      assert.deepEqual(got, reference(bytes), `seed ${seed}`)
      assert.equal(decoder.bytes, bytes.length, `seed ${seed}`)
      assert.equal(decoder.pendingBytes, 0, `seed ${seed}`)
    }
  })

  test('with a small maxLineBytes in random chunks: every line within the limit arrives, a dropped line is reported at its start, nothing else changes', () => {
    const max = 600
    for (let seed = 1; seed <= 40; seed++) {
      const rand = prng(seed)
      const lines = Array.from({ length: 40 }, (_, i) => {
        const size = Math.floor(rand() * 1200)
        return line('ADDED', `p${i}`, String(i), { data: { text: 'ü✓x'.repeat(Math.ceil(size / 6)).slice(0, size / 3) } })
      })
      const bytes = Buffer.from(`${lines.join('\n')}\n`)
      const starts: number[] = []
      for (let at = 0; at < bytes.length; at = bytes.indexOf(10, at) + 1) starts.push(at)
      const chunks: Buffer[] = []
      for (let at = 0; at < bytes.length; ) {
        const size = 1 + Math.floor(rand() * 900)
        chunks.push(bytes.subarray(at, at + size))
        at += size
      }
      const { events, errors, decoder } = decode(chunks, { maxLineBytes: max })
      const names = new Set(events.map((e) => e.object.metadata?.name))
      lines.forEach((text, i) => {
        const size = Buffer.byteLength(text)
        if (size <= max) assert.ok(names.has(`p${i}`), `seed ${seed}: line ${i} (${size} bytes) is within the limit and must arrive`)
      })
      assert.equal(events.length + errors.length, lines.length, `seed ${seed}: every line is an event or one error`)
      for (const err of errors) {
        assert.match(err.message, /longer than 600 bytes/, `seed ${seed}`)
        assert.ok(starts.includes(err.offset), `seed ${seed}: error offset ${err.offset} is the start of a line`)
        assert.ok(err.length > max, `seed ${seed}: the dropped part already exceeded the limit`)
      }
      assert.equal(decoder.pendingBytes, 0, `seed ${seed}`)
    }
  })

  test('a stream that ends inside a UTF-8 character reports its last line with every byte counted', () => {
    const bytes = Buffer.from(`${line('ADDED', 'a', '1')}\n{"type":"ADDED","object":{"metadata":{"name":"ü`)
    const cut = bytes.subarray(0, bytes.length - 1) // the second byte of "ü" never arrives
    const { events, errors, decoder } = decode([cut.subarray(0, 50), cut.subarray(50)])
    assert.equal(events.length, 1)
    assert.equal(errors.length, 1)
    assert.equal(errors[0]?.offset, Buffer.byteLength(line('ADDED', 'a', '1')) + 1)
    assert.equal(errors[0]?.length, cut.length - (Buffer.byteLength(line('ADDED', 'a', '1')) + 1))
    assert.equal(decoder.pendingBytes, 0)
  })

  test('objects are plain parsed JSON: timestamps stay strings', () => {
    const { events } = decode([Buffer.from(line('ADDED', 'a', '1', { status: { startTime: '2026-11-21T10:00:00Z' } }) + '\n')])
    const status = (events[0]!.object as { status: { startTime: unknown } }).status
    assert.equal(typeof status.startTime, 'string')
    assert.equal(Object.getPrototypeOf(events[0]?.object), Object.prototype)
  })
})
