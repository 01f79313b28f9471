/**
 * An in-memory list/watch backend for runner tests: a tiny model of the API server's
 * semantics (a resourceVersion counter, a bounded event history, paged lists, watches
 * from a resourceVersion that answer 410 once it was compacted away) behind the
 * `ListWatchClient` interface, with hooks to inject faults. Streams are byte chunks of
 * NDJSON so the real decoder runs.
 */
import type { ListPage, ListWatchClient } from '../../lib/watch/client.ts'
import type { ListParams, WatchParams } from '../../lib/watch/engine.ts'
import { ApiStatusError } from '../../lib/watch/errors.ts'
import { type KubeObject, objectKey } from '../../lib/watch/object.ts'

interface StoredEvent {
  rv: number
  type: 'ADDED' | 'MODIFIED' | 'DELETED'
  object: KubeObject
}

/** A controllable watch stream: push lines or raw bytes, end it, break it. */
export class FakeStream {
  readonly params: WatchParams
  #chunks: (Uint8Array | Error | null)[] = []
  #wake: (() => void) | undefined
  closed = false

  constructor(params: WatchParams) {
    this.params = params
  }

  pushLine(value: unknown): void {
    this.pushRaw(`${typeof value === 'string' ? value : JSON.stringify(value)}\n`)
  }

  pushRaw(text: string | Uint8Array): void {
    if (this.closed) return
    this.#chunks.push(typeof text === 'string' ? Buffer.from(text) : text)
    this.#wake?.()
  }

  end(): void {
    if (this.closed) return
    this.#chunks.push(null)
    this.#wake?.()
  }

  fail(err: Error): void {
    if (this.closed) return
    this.#chunks.push(err)
    this.#wake?.()
  }

  async *iterate(signal: AbortSignal): AsyncGenerator<Uint8Array> {
    const onAbort = () => this.#wake?.()
    signal.addEventListener('abort', onAbort)
    try {
      for (;;) {
        if (signal.aborted) throw signal.reason ?? new Error('aborted')
        const next = this.#chunks.shift()
        if (next === undefined) {
          await new Promise<void>((resolve) => {
            this.#wake = resolve
          })
          this.#wake = undefined
          continue
        }
        if (next === null) return
        if (next instanceof Error) throw next
        yield next
      }
    } finally {
      this.closed = true
      signal.removeEventListener('abort', onAbort)
    }
  }
}

/** A fault answered instead of the next list or watch request. */
export type Fault = ApiStatusError | Error

export class FakeListWatch implements ListWatchClient {
  objects = new Map<string, KubeObject>()
  history: StoredEvent[] = []
  rv = 100
  /** Events older than this resourceVersion are compacted: a watch from before answers 410. */
  compactedBefore = 0
  /** Every request, in order. */
  requests: ({ kind: 'list'; params: ListParams } | { kind: 'watch'; params: WatchParams })[] = []
  /** Open streams, newest last. */
  streams: FakeStream[] = []
  listFaults: Fault[] = []
  watchFaults: Fault[] = []
  /** When set, list requests never answer (until aborted). */
  listHangs = false
  /** Whether watch requests with sendInitialEvents are understood (else 422). */
  streamingSupported = true
  /** When set, a streaming list sends only this many initial events, then goes silent (no bookmark). */
  initialEventsSilentAfter: number | undefined

  get stream(): FakeStream | undefined {
    const last = this.streams[this.streams.length - 1]
    return last && !last.closed ? last : undefined
  }

  put(name: string, data: Record<string, unknown> = {}, namespace = 'default'): KubeObject {
    const key = `${namespace}/${name}`
    const rv = ++this.rv
    const existing = this.objects.get(key)
    const object: KubeObject = {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name, namespace, uid: `uid-${name}`, resourceVersion: String(rv) },
      data,
    }
    this.objects.set(key, object)
    this.#publish({ rv, type: existing ? 'MODIFIED' : 'ADDED', object })
    return object
  }

  remove(name: string, namespace = 'default'): void {
    const key = `${namespace}/${name}`
    const existing = this.objects.get(key)
    if (!existing) return
    this.objects.delete(key)
    const rv = ++this.rv
    this.#publish({ rv, type: 'DELETED', object: { ...existing, metadata: { ...existing.metadata, resourceVersion: String(rv) } } })
  }

  /** Compacts history: watches from an older resourceVersion get 410. */
  compact(): void {
    this.compactedBefore = this.rv + 1
    this.history = []
  }

  bookmark(): void {
    this.stream?.pushLine({ type: 'BOOKMARK', object: { kind: 'ConfigMap', apiVersion: 'v1', metadata: { resourceVersion: String(this.rv) } } })
  }

  async list(params: ListParams, signal: AbortSignal): Promise<ListPage> {
    this.requests.push({ kind: 'list', params })
    await Promise.resolve()
    signal.throwIfAborted()
    if (this.listHangs) {
      await new Promise((_, reject) => signal.addEventListener('abort', () => reject(signal.reason), { once: true }))
    }
    const fault = this.listFaults.shift()
    if (fault) throw fault
    const all = [...this.objects.values()].sort((a, b) => objectKey(a).localeCompare(objectKey(b)))
    const start = params.continueToken ? Number(params.continueToken) : 0
    const items = all.slice(start, start + params.limit).map((o) => structuredClone(o))
    const more = start + params.limit < all.length
    return { items, resourceVersion: String(this.rv), continueToken: more ? String(start + params.limit) : undefined }
  }

  async watch(params: WatchParams, signal: AbortSignal): Promise<AsyncIterable<Uint8Array>> {
    this.requests.push({ kind: 'watch', params })
    await Promise.resolve()
    signal.throwIfAborted()
    const fault = this.watchFaults.shift()
    if (fault) throw fault
    if (params.sendInitialEvents && !this.streamingSupported) throw new ApiStatusError(422, 'resourceVersionMatch is forbidden for watch')
    const stream = new FakeStream(params)
    if (params.sendInitialEvents && this.initialEventsSilentAfter !== undefined) {
      for (const object of [...this.objects.values()].slice(0, this.initialEventsSilentAfter)) stream.pushLine({ type: 'ADDED', object })
    } else if (params.sendInitialEvents) {
      for (const object of this.objects.values()) stream.pushLine({ type: 'ADDED', object })
      stream.pushLine({
        type: 'BOOKMARK',
        object: { kind: 'ConfigMap', apiVersion: 'v1', metadata: { resourceVersion: String(this.rv), annotations: { 'k8s.io/initial-events-end': 'true' } } },
      })
    } else {
      const from = Number(params.resourceVersion ?? this.rv)
      if (from < this.compactedBefore - 1) throw new ApiStatusError(410, 'too old resource version', { reason: 'Expired' })
      for (const ev of this.history) if (ev.rv > from) stream.pushLine({ type: ev.type, object: ev.object })
    }
    this.streams.push(stream)
    return stream.iterate(signal)
  }

  #publish(event: StoredEvent): void {
    this.history.push(event)
    for (const stream of this.streams) stream.pushLine({ type: event.type, object: event.object })
  }
}
