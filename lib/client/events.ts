/**
 * A Kubernetes Events recorder for reconcilers: `recorder.event(object, 'Warning',
 * 'Reason', 'message')` returns at once; the Event is written in the background.
 *
 * Semantics of client-go `tools/events` (`event_broadcaster.go`, `recorder.go`):
 * - `events.k8s.io/v1` Events named `<object name>.<unix nanos in hex>`, in the object's
 *   namespace (`default` for cluster-scoped objects), with `reportingController`,
 *   `reportingInstance`, `action`, `reason`, `note`, `type`, `regarding`, `related`.
 * - Isomorphic events — same type, action, reason, reporting controller and instance,
 *   regarding and related object (`getKey`; the note is not part of it) — form a series:
 *   the second one patches `series: { count: 2, lastObservedTime }` onto the first Event,
 *   later ones only count in memory. Every 6 minutes (`finishTime`) a series idle for 6
 *   minutes gets its final count written and is forgotten (a singleton is forgotten after
 *   6 minutes), and every 30 minutes (`refreshTime`) open series get their counts written.
 * - A series patch that finds its Event gone (404) creates it again. A write the server
 *   refuses is dropped; a transport failure is retried up to 12 tries, 10 s apart
 *   (`maxTriesPerEvent`, `defaultSleepDuration`).
 * - Where `events.k8s.io/v1` is not served (discovery says 404), `core/v1` Events are
 *   written instead (`involvedObject`, `source.component`, `count`, `firstTimestamp`,
 *   `lastTimestamp`), with the same series behaviour on `count` — as client-go's
 *   `NewEventBroadcasterAdapter` falls back to the legacy recorder.
 *
 * Where we differ, and why:
 * - Aggregation happens when `event()` is called, before the queue: a flood of identical
 *   events costs a counter, not a queue slot. The queue holds writes only, at most
 *   `queueSize` (1000, client-go's `maxQueuedEvents`); a write that does not fit is dropped
 *   and counted in `stats.dropped`, never awaited, so memory stays bounded.
 * - `regarding` carries no `resourceVersion`: client-go's references do, so an object whose
 *   status a reconciler writes between two identical events never forms a series.
 * - The legacy fallback uses this series logic, not client-go `record`'s EventCorrelator
 *   (its per-object token bucket and message aggregation).
 * - Writes go one at a time, in order.
 */
import { hostname } from 'node:os'
import { servesGroupVersion } from '../api/discovery.ts'
import { ApiStatusError, isNotFound } from '../api/errors.ts'
import type { KubeObject } from '../api/object.ts'
import { KubevisorError } from '../errors.ts'
import type { Logger } from '../log.ts'
import { type Clock, sleep, systemClock, type TimerHandle } from '../time/clock.ts'
import { type Client, InvalidRequestError, type ObjectLike } from './client.ts'

/** `Normal` or `Warning`, the only types the API server accepts. */
export type EventType = 'Normal' | 'Warning'

/** `corev1.ObjectReference` as written into `regarding` / `related`. */
export interface ObjectReference {
  apiVersion?: string
  kind?: string
  name?: string
  namespace?: string
  uid?: string
  fieldPath?: string
}

/** `eventsv1.EventSeries`. */
export interface EventSeries {
  count: number
  /** MicroTime, RFC 3339 with microseconds. */
  lastObservedTime: string
}

/** An `events.k8s.io/v1` Event as this recorder writes it. */
export interface EventsV1Event extends KubeObject {
  apiVersion: 'events.k8s.io/v1'
  kind: 'Event'
  metadata: { name: string; namespace: string }
  eventTime: string
  series?: EventSeries
  reportingController: string
  reportingInstance: string
  action: string
  reason: string
  regarding: ObjectReference
  related?: ObjectReference
  note?: string
  type: EventType
}

/** Options of {@link EventRecorder}. */
export interface EventRecorderOptions {
  /** The controller's name, e.g. `example.com/site-controller` (`reportingController`, at most 128 characters). */
  reportingController: string
  /** This process: default `<reportingController>-<hostname>` (`reportingInstance`). */
  reportingInstance?: string | undefined
  /** Which API to write: `auto` (default: `events.k8s.io/v1` when served, else `core/v1`), or one of them. */
  api?: 'auto' | 'events.k8s.io/v1' | 'v1' | undefined
  /** Largest number of writes waiting; beyond it events are dropped and counted. Default 1000. */
  queueSize?: number | undefined
  /** Timers (series finish and refresh, retry waits). Default the system clock. */
  clock?: Clock | undefined
  /** Wall-clock time for `eventTime` and series times. Default `() => new Date()`. */
  now?: (() => Date) | undefined
  /** Tries of a write that fails in transport (not refused by the server). Default 12. */
  maxTries?: number | undefined
  /** Wait between two tries, in ms. Default 10 000. */
  retryDelayMs?: number | undefined
  /**
   * Logs an invalid event (`error`: no object, bad type or empty reason) and a write given up
   * (`warn`: refused by the server, or out of tries). Default none: both are only counted in
   * {@link EventRecorder.stats}. Queue overflow is counted, never logged.
   */
  logger?: Logger | undefined
}

/** Options of one {@link EventRecorder.event} call. */
export interface EventOptions {
  /** What was done (`action`), e.g. `Reconcile`, `Create`. Default: the reason. */
  action?: string | undefined
  /** A second object the event is about (`related`). */
  related?: ObjectLike | undefined
}

/** Counters of an {@link EventRecorder}. */
export interface EventRecorderStats {
  /** `event()` calls accepted. */
  recorded: number
  /** Events counted into an open series without a write. */
  aggregated: number
  /** Events or series updates dropped because the queue was full. */
  dropped: number
  /** Events refused before any write (a bad type, an object without kind or name). */
  invalid: number
  /** Writes that reached the server: creates and series patches. */
  written: number
  /** Writes that failed for good (refused by the server, or out of tries). */
  failed: number
  /** Writes waiting now. */
  queued: number
  /** Events and series remembered for aggregation now. */
  cached: number
}

/** A Kubernetes-side failure of the recorder's setup. Code `ERR_EVENT_RECORDER`. */
export class EventRecorderError extends KubevisorError {
  constructor(message: string) {
    super('ERR_EVENT_RECORDER', message)
  }
}

/** client-go `tools/events`: a series ends (and a singleton is forgotten) after 6 minutes without a new event. */
export const SERIES_FINISH_MS = 6 * 60_000
/** client-go `tools/events`: open series have their counts written every 30 minutes. */
export const SERIES_REFRESH_MS = 30 * 60_000

interface CacheEntry {
  event: EventsV1Event
  /** Monotonic time of the event, or of the series' last observation. */
  lastSeenAt: number
}

/** One write: create the event, or write the series count of the cached entry. */
interface Write {
  kind: 'create' | 'series'
  entry: CacheEntry
}

/**
 * Records Kubernetes Events without ever blocking the caller. Start one per controller,
 * call `event()` from reconcilers, `close()` on shutdown.
 *
 * @example
 * ```ts
 * const recorder = new EventRecorder(client, { reportingController: 'example.com/site-controller' })
 * recorder.event(site, 'Normal', 'ConfigMapCreated', `created ConfigMap site-${name}`)
 * await recorder.close()
 * ```
 */
export class EventRecorder {
  readonly #client: Client
  readonly #controller: string
  readonly #instance: string
  readonly #clock: Clock
  readonly #now: () => Date
  readonly #queueSize: number
  readonly #maxTries: number
  readonly #retryDelayMs: number
  readonly #logger: Logger | undefined
  readonly #apiChoice: 'auto' | 'events.k8s.io/v1' | 'v1'
  /** Isomorphic key → the first event of its kind, with its series once a second one came. */
  readonly #cache = new Map<string, CacheEntry>()
  /** Writes waiting, in order; never longer than `queueSize`. */
  readonly #queue: Write[] = []
  #head = 0
  #draining: Promise<void> | undefined
  #api: Promise<'events.k8s.io/v1' | 'v1'> | undefined
  #finishTimer: TimerHandle | undefined
  #refreshTimer: TimerHandle | undefined
  #closed = false
  #nameSeq = 0
  readonly #stats: Omit<EventRecorderStats, 'queued' | 'cached'> = { recorded: 0, aggregated: 0, dropped: 0, invalid: 0, written: 0, failed: 0 }
  readonly #stop = new AbortController()

  constructor(client: Client, options: EventRecorderOptions) {
    if (!options.reportingController || options.reportingController.length > 128) {
      throw new EventRecorderError(`reportingController must be 1 to 128 characters, got ${JSON.stringify(options.reportingController)}`)
    }
    this.#client = client
    this.#controller = options.reportingController
    this.#instance = (options.reportingInstance ?? `${options.reportingController}-${hostname()}`).slice(0, 128)
    this.#clock = options.clock ?? systemClock
    this.#now = options.now ?? (() => new Date())
    this.#queueSize = options.queueSize ?? 1000
    this.#maxTries = options.maxTries ?? 12
    this.#retryDelayMs = options.retryDelayMs ?? 10_000
    this.#logger = options.logger
    this.#apiChoice = options.api ?? 'auto'
    this.#finishTimer = unref(this.#clock.setTimeout(() => this.#finishSeries(), SERIES_FINISH_MS))
    this.#refreshTimer = unref(this.#clock.setTimeout(() => this.#refreshSeries(), SERIES_REFRESH_MS))
  }

  /**
   * Records an event about `object`; returns at once. `type` is `Normal` or `Warning`,
   * `reason` a short CamelCase word (`ConfigMapCreated`), `note` a human message
   * (at most 1 kB is kept). Never throws for a bad event: it is counted in `stats.invalid`
   * and logged.
   */
  event(object: ObjectLike, type: EventType, reason: string, note: string, options: EventOptions = {}): void {
    if (this.#closed) return
    const regarding = referenceOf(object)
    if (regarding === undefined || (type !== 'Normal' && type !== 'Warning') || !reason) {
      this.#stats.invalid++
      this.#logger?.error({ type, reason, kind: object?.kind, name: object?.metadata?.name }, 'event dropped: it needs an object with apiVersion, kind and name, type Normal or Warning, and a reason')
      return
    }
    this.#stats.recorded++
    const related = options.related === undefined ? undefined : referenceOf(options.related)
    const action = options.action ?? reason
    const key = JSON.stringify([type, action, reason, this.#controller, this.#instance, regarding, related ?? null])
    const entry = this.#cache.get(key)
    const at = this.#clock.now()
    if (entry !== undefined) {
      const series = entry.event.series
      if (series !== undefined) {
        // A running series: count it; the count is written when the series ends or is refreshed.
        series.count++
        series.lastObservedTime = microTime(this.#now())
        entry.lastSeenAt = at
        this.#stats.aggregated++
        return
      }
      // The second isomorphic event turns the first into a series (written by a patch).
      if (!this.#enqueue({ kind: 'series', entry })) return
      entry.event.series = { count: 2, lastObservedTime: microTime(this.#now()) }
      entry.lastSeenAt = at
      return
    }
    const wall = this.#now()
    const event: EventsV1Event = {
      apiVersion: 'events.k8s.io/v1',
      kind: 'Event',
      metadata: { name: `${regarding.name}.${this.#uniqueNanos(wall)}`, namespace: regarding.namespace || 'default' },
      eventTime: microTime(wall),
      reportingController: this.#controller,
      reportingInstance: this.#instance,
      action,
      reason,
      regarding,
      note: note.length > 1024 ? note.slice(0, 1024) : note,
      type,
    }
    if (related !== undefined) event.related = related
    const created: CacheEntry = { event, lastSeenAt: at }
    if (!this.#enqueue({ kind: 'create', entry: created })) return
    this.#cache.set(key, created)
  }

  /** Counters since start. */
  get stats(): EventRecorderStats {
    return { ...this.#stats, queued: this.#queue.length - this.#head, cached: this.#cache.size }
  }

  /** Resolves once every write queued so far is done (written or failed). */
  async flush(): Promise<void> {
    while (this.#draining !== undefined) await this.#draining
  }

  /**
   * Stops recording: writes the counts of open series, waits for queued writes up to
   * `timeoutMs` (default 5 s, on the recorder's clock), then drops what is left and stops
   * retrying. Later `event()` calls are ignored.
   */
  async close(timeoutMs = 5_000): Promise<void> {
    if (this.#closed) return
    for (const entry of this.#cache.values()) if (entry.event.series !== undefined) this.#enqueue({ kind: 'series', entry })
    this.#closed = true
    this.#clock.clearTimeout(this.#finishTimer)
    this.#clock.clearTimeout(this.#refreshTimer)
    let timer: TimerHandle | undefined
    await Promise.race([this.flush(), new Promise<void>((resolve) => (timer = this.#clock.setTimeout(resolve, timeoutMs)))])
    this.#clock.clearTimeout(timer)
    this.#stop.abort(new EventRecorderError('event recorder closed'))
    this.#stats.dropped += this.#queue.length - this.#head
    this.#queue.length = 0
    this.#head = 0
    this.#cache.clear()
  }

  /** Unix nanoseconds in hex, unique within this recorder even for events in the same millisecond. */
  #uniqueNanos(wall: Date): string {
    this.#nameSeq = (this.#nameSeq + 1) % 1_000_000
    return (BigInt(wall.getTime()) * 1_000_000n + BigInt(this.#nameSeq)).toString(16)
  }

  #enqueue(write: Write): boolean {
    if (this.#queue.length - this.#head >= this.#queueSize) {
      this.#stats.dropped++
      return false
    }
    this.#queue.push(write)
    this.#draining ??= this.#drain()
    return true
  }

  async #drain(): Promise<void> {
    try {
      while (this.#head < this.#queue.length) {
        const write = this.#queue[this.#head] as Write
        this.#queue[this.#head++] = undefined as unknown as Write
        if (this.#head > 1024 && this.#head * 2 > this.#queue.length) {
          this.#queue.splice(0, this.#head)
          this.#head = 0
        }
        await this.#write(write)
      }
      this.#queue.length = 0
      this.#head = 0
    } finally {
      this.#draining = undefined
    }
  }

  /** One write with client-go's tries: transport failures are retried, server refusals are not. */
  async #write(write: Write): Promise<void> {
    for (let tries = 1; ; tries++) {
      try {
        await this.#send(write)
        this.#stats.written++
        return
      } catch (err) {
        const refused = err instanceof ApiStatusError || err instanceof InvalidRequestError
        if (refused || tries >= this.#maxTries || this.#stop.signal.aborted) {
          this.#stats.failed++
          this.#logger?.warn({ err, reason: write.entry.event.reason, regarding: write.entry.event.regarding }, refused ? 'event refused by the server (will not retry)' : 'event not written (out of tries)')
          return
        }
        try {
          // client-go sleeps a random part of the delay before the first retry, the whole delay after.
          await sleep(this.#clock, tries === 1 ? Math.random() * this.#retryDelayMs : this.#retryDelayMs, this.#stop.signal)
        } catch {
          this.#stats.failed++
          return
        }
      }
    }
  }

  async #send(write: Write): Promise<void> {
    const api = await this.#whichApi()
    const event = write.entry.event
    if (write.kind === 'series' && event.series !== undefined) {
      const patch = api === 'v1' ? { count: event.series.count, lastTimestamp: rfc3339(event.series.lastObservedTime) } : { series: event.series }
      try {
        await this.#client.patch({ apiVersion: api, kind: 'Event', namespace: event.metadata.namespace, name: event.metadata.name }, patch, { signal: this.#stop.signal })
        return
      } catch (err) {
        // The Event is gone (expired by its TTL, deleted): create it again, series included.
        if (!isNotFound(err)) throw err
      }
    }
    await this.#client.create(api === 'v1' ? toCoreV1(event) : event, { signal: this.#stop.signal })
  }

  #whichApi(): Promise<'events.k8s.io/v1' | 'v1'> {
    if (this.#apiChoice !== 'auto') return Promise.resolve(this.#apiChoice)
    this.#api ??= servesGroupVersion(this.#client.transport, 'events.k8s.io/v1').then((served) => (served ? 'events.k8s.io/v1' : 'v1'))
    // A failed discovery is asked again on the next write.
    this.#api.catch(() => {
      this.#api = undefined
    })
    return this.#api
  }

  /** client-go `finishSeries`: write the final count of series idle for 6 minutes and forget them; forget singletons older than that. */
  #finishSeries(): void {
    if (this.#closed) return
    const horizon = this.#clock.now() - SERIES_FINISH_MS
    for (const [key, entry] of this.#cache) {
      if (entry.lastSeenAt > horizon) continue
      if (entry.event.series !== undefined) this.#enqueue({ kind: 'series', entry })
      this.#cache.delete(key)
    }
    this.#finishTimer = unref(this.#clock.setTimeout(() => this.#finishSeries(), SERIES_FINISH_MS))
  }

  /** client-go `refreshExistingEventSeries`: write the counts of open series. */
  #refreshSeries(): void {
    if (this.#closed) return
    for (const entry of this.#cache.values()) if (entry.event.series !== undefined) this.#enqueue({ kind: 'series', entry })
    this.#refreshTimer = unref(this.#clock.setTimeout(() => this.#refreshSeries(), SERIES_REFRESH_MS))
  }
}

/** The series timers must not keep a process alive that has nothing else to do (Node timers have `unref`; a fake clock's handles do not). */
function unref(handle: TimerHandle): TimerHandle {
  ;(handle as { unref?: () => void } | null)?.unref?.()
  return handle
}

function referenceOf(object: ObjectLike | undefined): ObjectReference | undefined {
  if (object === null || typeof object !== 'object') return undefined
  const { apiVersion, kind } = object
  const name = object.metadata?.name
  if (!apiVersion || !kind || !name) return undefined
  const ref: ObjectReference = { apiVersion, kind, name }
  const namespace = object.metadata?.namespace
  if (namespace) ref.namespace = namespace
  const uid = object.metadata?.uid
  if (uid) ref.uid = uid
  return ref
}

/** `metav1.MicroTime`: RFC 3339 with six fractional digits, UTC. */
export function microTime(date: Date): string {
  return `${date.toISOString().slice(0, 23)}000Z`
}

/** `metav1.Time` from a MicroTime: whole seconds. */
function rfc3339(micro: string): string {
  return `${micro.slice(0, 19)}Z`
}

/** The same event as a `core/v1` Event, for servers without `events.k8s.io/v1`. */
function toCoreV1(event: EventsV1Event): KubeObject {
  const first = rfc3339(event.eventTime)
  const core: KubeObject = {
    apiVersion: 'v1',
    kind: 'Event',
    metadata: { ...event.metadata },
    involvedObject: event.regarding,
    reason: event.reason,
    message: event.note ?? '',
    type: event.type,
    source: { component: event.reportingController },
    firstTimestamp: first,
    lastTimestamp: event.series ? rfc3339(event.series.lastObservedTime) : first,
    count: event.series?.count ?? 1,
  }
  if (event.related !== undefined) core.related = event.related
  return core
}
