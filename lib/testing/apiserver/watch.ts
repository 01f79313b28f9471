/**
 * One watch response: a chunked stream of newline-delimited JSON watch events (or, for a
 * client that lists protobuf first, length-prefixed protobuf WatchEvent frames: see
 * protobuf.ts encodeWatchFrame), fed by the store's committed events. Built for throughput: each committed event is serialized once
 * and its line shared by every watcher that receives it unchanged; writes are batched
 * (one string of up to ~64 KiB per chunk, encoded once, at most once per macrotask) and stop while the socket is not draining,
 * so a slow client slows only its own queue.
 */
import type { ServerResponse } from 'node:http'
import type { Clock, TimerHandle } from '../../time/clock.ts'
import type { ObjectFilter, Rest } from './rest.ts'
import { encodeWatchFrame, hasProtobuf, PROTOBUF_WATCH_CONTENT_TYPE, prefersProtobuf } from './protobuf.ts'
import type { ResourceDef } from './resources.ts'
import { internalError, type Status } from './status.ts'
import { eventLine, objectJson, type StoreSubscriber, type StoredEvent } from './store.ts'
import type { KubeObject } from './types.ts'

/** What tests see of an open watch (for fault-injection filters and assertions). */
export interface WatchInfo {
  /** Server-unique id, in opening order. */
  readonly id: number
  /** The API group (`''` for core). */
  readonly group: string
  /** The API version, e.g. `v1`. */
  readonly version: string
  /** The resource plural, e.g. `pods`. */
  readonly resource: string
  /** The namespace watched, or undefined for all namespaces / cluster-scoped. */
  readonly namespace: string | undefined
  /** The request path (without query). */
  readonly path: string
  /** The query parameters of the request. */
  readonly query: Readonly<Record<string, string>>
  /** True while stalled by `stallWatches()`. */
  readonly stalled: boolean
}

const CHUNK_CHARS = 64 * 1024

class Transformed {
  readonly type: string
  readonly object: unknown
  constructor(type: string, object: unknown) {
    this.type = type
    this.object = object
  }
}

type Item = StoredEvent | string | Transformed | Buffer

/** A frame whose 3 bytes are no protobuf message (a truncated varint field). */
const MALFORMED_FRAME = Buffer.from([0, 0, 0, 3, 0x0a, 0xff, 0xff])

/** Protobuf frames of committed events, shared by every protobuf watcher that sends them unchanged. */
const frameCache = new WeakMap<StoredEvent, Buffer>()

/**
 * Whether a watch is answered with protobuf frames: the client lists protobuf first in
 * Accept (`application/vnd.kubernetes.protobuf`, with or without `;stream=watch`, as
 * client-go's typed clients do) and the kind has a protobuf encoding. Custom resources and
 * Table watches stay JSON, as kube-apiserver answers them to a client that also accepts JSON.
 */
export function wantsProtobufWatch(accept: string | undefined, def: ResourceDef, table: boolean): boolean {
  return !table && !def.custom && prefersProtobuf(accept) && hasProtobuf(def.apiVersion, def.kind)
}

/** Options of one watch stream. */
export interface WatchStreamOptions {
  id: number
  rest: Rest
  filter: ObjectFilter
  clock: Clock
  path: string
  query: Record<string, string>
  allowBookmarks: boolean
  /** Interval between BOOKMARK events (when allowed). */
  bookmarkIntervalMs: number
  /** Close cleanly after this many seconds. */
  timeoutSeconds: number | undefined
  /** Skip committed events at or before this rv (a watch from a resourceVersion ahead of the store). */
  afterRv?: number
  /**
   * Send protobuf frames (`application/vnd.kubernetes.protobuf;stream=watch`) instead of
   * JSON lines. Only for kinds with a protobuf encoding, and not with `render`.
   */
  protobuf?: boolean
  /** Converts each object before sending (Table output for kubectl). */
  render?: (obj: KubeObject) => unknown
  /** The kind and apiVersion of BOOKMARK objects when not the resource's (`PartialObjectMetadata` watches). */
  bookmarkKind?: { kind: string; apiVersion: string }
  /**
   * Events that may wait while the client is not reading (the socket is not draining)
   * before the stream is closed: kube-apiserver's watch cache likewise closes a watcher
   * whose buffer stays full ("Forcing watcher close due to unresponsiveness"), and the
   * client watches again from its last resourceVersion. Not applied while stalled.
   */
  maxBacklog: number
  onClose: (stream: WatchStream) => void
  onEventsSent: (n: number) => void
  /** Called once when the stream is closed for a backlog over `maxBacklog`. */
  onSlowClient: (stream: WatchStream) => void
}

/** A live watch response. Created by the HTTP layer, steered by the fault API. */
export class WatchStream implements StoreSubscriber {
  readonly #res: ServerResponse
  readonly #o: WatchStreamOptions
  #queue: Item[] = []
  #head = 0
  /**
   * Queued items at the head of the queue that are the initial state (and the bookmark
   * that closes it): they never count toward `maxBacklog`.
   */
  #initialPending = 0
  #scheduled = false
  #blocked = false
  #stalled = false
  #ending = false
  #closed = false
  #bookmarkTimer: TimerHandle | undefined
  #timeoutTimer: TimerHandle | undefined
  #preDeadlineTimer: TimerHandle | undefined
  #simple: boolean
  #info: WatchInfo

  constructor(res: ServerResponse, options: WatchStreamOptions) {
    this.#res = res
    this.#o = options
    const def = options.filter.def
    this.#simple = options.filter.labels.empty && options.filter.fields.length === 0
    const self = this
    this.#info = {
      id: options.id,
      group: def.group,
      version: def.version,
      resource: def.plural,
      namespace: options.filter.namespace,
      path: options.path,
      query: options.query,
      get stalled() {
        return self.#stalled
      },
    }
    res.on('close', () => this.#cleanup())
    res.on('drain', () => {
      this.#blocked = false
      this.#pump()
    })
    res.socket?.setNoDelay(true)
    res.writeHead(200, {
      'Content-Type': options.protobuf ? PROTOBUF_WATCH_CONTENT_TYPE : 'application/json',
      'Cache-Control': 'no-cache, private',
      'Transfer-Encoding': 'chunked',
    })
    res.flushHeaders()
    if (options.allowBookmarks) this.#scheduleBookmark()
    if (options.timeoutSeconds !== undefined && options.timeoutSeconds > 0) {
      this.#timeoutTimer = options.clock.setTimeout(() => this.end(), options.timeoutSeconds * 1000)
      // Like the watch cache (apiserver storage/cacher/cache_watcher.go nextBookmarkTime): one
      // more bookmark 2 s before the deadline, so the client re-watches from a fresh resourceVersion.
      const preDeadlineMs = options.timeoutSeconds * 1000 - 2000
      if (options.allowBookmarks && preDeadlineMs >= 0) {
        this.#preDeadlineTimer = options.clock.setTimeout(() => {
          if (!this.#closed && !this.#stalled && !this.#ending) this.sendBookmark(this.#o.rest.store.resourceVersion)
        }, preDeadlineMs)
      }
    }
  }

  /** Read-only facts about this watch. */
  get info(): WatchInfo {
    return this.#info
  }

  /** Whether the response is finished or the client went away. */
  get closed(): boolean {
    return this.#closed
  }

  #scheduleBookmark(): void {
    this.#bookmarkTimer = this.#o.clock.setTimeout(() => {
      if (this.#closed) return
      if (!this.#stalled && !this.#ending) this.sendBookmark(this.#o.rest.store.resourceVersion)
      this.#scheduleBookmark()
    }, this.#o.bookmarkIntervalMs)
  }

  /** Queues a committed event, applying the filter (selector transitions become ADDED/DELETED). */
  onEvent(ev: StoredEvent): void {
    if (this.#closed || this.#ending) return
    if (this.#o.afterRv !== undefined && ev.rv <= this.#o.afterRv) return
    const f = this.#o.filter
    if (this.#simple) {
      if (f.namespace !== undefined && ev.object.metadata.namespace !== f.namespace) return
      this.#push(ev)
      return
    }
    const rest = this.#o.rest
    if (ev.type === 'ADDED') {
      if (rest.matches(f, ev.object)) this.#push(ev)
      return
    }
    if (ev.type === 'DELETED') {
      if (rest.matches(f, ev.object)) this.#push(ev)
      return
    }
    const cur = rest.matches(f, ev.object)
    const prev = ev.prev !== undefined && rest.matches(f, ev.prev)
    if (cur && prev) this.#push(ev)
    else if (cur) this.#pushTransformed('ADDED', ev.object)
    else if (prev) {
      // cacher.go: "a delete event with the previous object content, but with the event's resource version"
      const old = ev.prev!
      this.#pushTransformed('DELETED', { ...old, metadata: { ...old.metadata, resourceVersion: String(ev.rv) } })
    }
  }

  /**
   * Queues initial state as ADDED events (watch without resourceVersion, or sendInitialEvents).
   * They are exempt from `maxBacklog`: kube-apiserver's cacheWatcher.processInterval writes
   * the initial events straight to the result channel, blocking on the client however
   * slowly it reads; only the events committed after the watch started wait in its bounded
   * input buffer, and only that buffer overflowing terminates the watcher.
   */
  sendInitial(objects: KubeObject[]): void {
    for (const o of objects) {
      this.#pushTransformed('ADDED', o)
      if (!this.#closed) this.#initialPending++
    }
  }

  /** Queues a BOOKMARK at `rv`; `initialEventsEnd` adds the `k8s.io/initial-events-end` annotation. */
  sendBookmark(rv: number, initialEventsEnd = false): void {
    const def = this.#o.bookmarkKind ?? this.#o.filter.def
    if (this.#o.protobuf) {
      const metadata = { resourceVersion: String(rv), ...(initialEventsEnd ? { annotations: { 'k8s.io/initial-events-end': 'true' } } : {}) }
      this.#enqueue(new Transformed('BOOKMARK', { kind: def.kind, apiVersion: def.apiVersion, metadata }))
      return
    }
    const metadata = initialEventsEnd
      ? `{"resourceVersion":"${rv}","annotations":{"k8s.io/initial-events-end":"true"}}`
      : `{"resourceVersion":"${rv}"}`
    this.#enqueue(`{"type":"BOOKMARK","object":{"kind":"${def.kind}","apiVersion":"${def.apiVersion}","metadata":${metadata}}}\n`)
    if (initialEventsEnd && !this.#closed) this.#initialPending++
  }

  /** Queues an ERROR event carrying `status`; closes the stream afterwards when `close` (the real server does). */
  sendError(status: Status, close = true): void {
    if (this.#closed) return
    this.#enqueue(this.#o.protobuf ? new Transformed('ERROR', status) : `{"type":"ERROR","object":${JSON.stringify(status)}}\n`)
    if (close) this.end()
  }

  /** Queues a line that is not valid JSON (on a protobuf stream: a frame that is not a WatchEvent). */
  sendMalformedLine(): void {
    this.#enqueue(this.#o.protobuf ? MALFORMED_FRAME : '{"type":"MODIFIED","object":{"kind":\n')
  }

  /** Stops sending anything (events queue up, no bookmarks) until {@link resume}. */
  stall(): void {
    this.#stalled = true
  }

  /** Ends a stall: queued events flow again. */
  resume(): void {
    this.#stalled = false
    this.#schedule()
  }

  /** Ends the response cleanly after what is queued has been written. */
  end(): void {
    if (this.#closed) return
    this.#ending = true
    this.#schedule()
  }

  /** Drops the stream now: `abrupt` destroys the socket (no terminating chunk), else ends the response. */
  drop(abrupt: boolean): void {
    if (this.#closed) return
    this.#queue = []
    this.#head = 0
    this.#initialPending = 0
    if (abrupt) this.#res.socket?.destroy()
    else this.#res.end()
    this.#cleanup()
  }

  #push(ev: StoredEvent): void {
    if (this.#o.render || ev.object.apiVersion !== this.#o.filter.def.apiVersion) {
      this.#pushTransformed(ev.type, ev.object)
      return
    }
    this.#enqueue(ev)
  }

  #pushTransformed(type: string, object: KubeObject): void {
    const viewed = this.#o.rest.view(this.#o.filter.def, object)
    this.#enqueue(new Transformed(type, this.#o.render ? this.#o.render(viewed) : viewed))
  }

  #enqueue(item: Item): void {
    if (this.#closed) return
    this.#queue.push(item)
    if (!this.#closeIfTooSlow()) this.#schedule()
  }

  /**
   * The client does not keep up: drop what waits and end the response (a clean end after
   * the bytes already written), as the watch cache terminates a blocked watcher.
   */
  #closeIfTooSlow(): boolean {
    if (!this.#blocked || this.#stalled || this.#queue.length - this.#head - this.#initialPending <= this.#o.maxBacklog) return false
    this.#o.onSlowClient(this)
    this.drop(false)
    return true
  }

  #schedule(): void {
    if (this.#scheduled || this.#closed) return
    this.#scheduled = true
    setImmediate(() => this.#pump())
  }

  #line(item: Item): string {
    if (typeof item === 'string') return item
    if (item instanceof Transformed) {
      const json =
        item.object && typeof item.object === 'object' && 'metadata' in item.object
          ? objectJson(item.object as KubeObject)
          : JSON.stringify(item.object)
      return `{"type":"${item.type}","object":${json}}\n`
    }
    if (Buffer.isBuffer(item)) throw new Error('a protobuf frame queued on a JSON watch') // never: JSON streams queue no frames
    return eventLine(item)
  }

  /** The protobuf frame of an item (see protobuf.ts encodeWatchFrame). */
  #frame(item: Item): Buffer {
    if (Buffer.isBuffer(item)) return item
    if (typeof item === 'string') throw new Error('a JSON line queued on a protobuf watch') // never: protobuf streams queue Transformed items
    if (item instanceof Transformed) return this.#encode(item.type, item.object as Record<string, unknown>)
    let frame = frameCache.get(item)
    if (frame === undefined) {
      frame = this.#encode(item.type, item.object as unknown as Record<string, unknown>)
      frameCache.set(item, frame)
    }
    return frame
  }

  #encode(type: string, object: Record<string, unknown>): Buffer {
    // Only kinds with an encoding get protobuf streams (server.ts), so a miss is a bug here:
    // it reaches the client as an ERROR event, not as a silently skipped event.
    return (
      encodeWatchFrame(type, object) ??
      encodeWatchFrame('ERROR', internalError(`no protobuf encoding of ${String(object.apiVersion)}, Kind=${String(object.kind)}`).status as unknown as Record<string, unknown>)!
    )
  }

  #pump(): void {
    this.#scheduled = false
    if (this.#closed || this.#stalled || this.#blocked) return
    if (this.#o.protobuf) {
      this.#pumpFrames()
      return
    }
    const q = this.#queue
    let batch = ''
    let sent = 0
    while (this.#head < q.length) {
      batch += this.#line(q[this.#head]!)
      q[this.#head++] = undefined as unknown as Item
      sent++
      if (batch.length >= CHUNK_CHARS) {
        const ok = this.#res.write(batch)
        batch = ''
        if (!ok) {
          this.#blocked = true
          break
        }
      }
    }
    if (batch.length > 0 && !this.#res.write(batch)) this.#blocked = true
    this.#afterPump(sent)
  }

  /** {@link #pump} for protobuf streams: frames batched into writes of up to ~64 KiB. */
  #pumpFrames(): void {
    const q = this.#queue
    let batch: Buffer[] = []
    let size = 0
    let sent = 0
    while (this.#head < q.length) {
      const frame = this.#frame(q[this.#head]!)
      q[this.#head++] = undefined as unknown as Item
      sent++
      batch.push(frame)
      size += frame.length
      if (size >= CHUNK_CHARS) {
        const ok = this.#res.write(Buffer.concat(batch, size))
        batch = []
        size = 0
        if (!ok) {
          this.#blocked = true
          break
        }
      }
    }
    if (size > 0 && !this.#res.write(Buffer.concat(batch, size))) this.#blocked = true
    this.#afterPump(sent)
  }

  #afterPump(sent: number): void {
    const q = this.#queue
    if (sent) {
      this.#initialPending = Math.max(0, this.#initialPending - sent)
      this.#o.onEventsSent(sent)
    }
    if (this.#closeIfTooSlow()) return
    if (this.#head >= q.length) {
      this.#queue = []
      this.#head = 0
    } else if (this.#head > 4096) {
      this.#queue = q.slice(this.#head)
      this.#head = 0
    }
    if (this.#ending && this.#queue.length === 0) {
      this.#res.end()
      this.#cleanup()
    }
  }

  #cleanup(): void {
    if (this.#closed) return
    this.#closed = true
    this.#o.clock.clearTimeout(this.#bookmarkTimer)
    this.#o.clock.clearTimeout(this.#timeoutTimer)
    this.#o.clock.clearTimeout(this.#preDeadlineTimer)
    this.#queue = []
    this.#head = 0
    this.#initialPending = 0
    this.#o.onClose(this)
  }
}
