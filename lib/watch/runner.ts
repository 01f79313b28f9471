/**
 * The runner drives the pure engine (`engine.ts`) with real IO: it performs each
 * {@link Effect} through a {@link ListWatchClient}, waits on an injected {@link Clock},
 * detects stalled streams, turns relist batches into real changes (`diffRelist`) and
 * hands the consumer an ordered, bounded, acknowledged stream of notifications.
 */
import { type Logger, defaultLogger } from '../log.ts'
import { Backoff, type BackoffPolicy, CLIENT_GO_BACKOFF } from '../time/backoff.ts'
import { type Clock, type TimerHandle, sleep, systemClock } from '../time/clock.ts'
import { ApiStatusError, type WatchError } from './errors.ts'
import type { ListPage, ListWatchClient } from './client.ts'
import { WatchDecoder } from './decode.ts'
import { classifyListed, type Knowledge, liveChange, liveDelete, vanished } from './diff.ts'
import {
  DEFAULT_ENGINE_CONFIG,
  type Effect,
  type EngineConfig,
  type EngineEnv,
  type EngineEvent,
  type EngineInput,
  type Failure,
  initialState,
  type ListParams,
  step,
  type WatchParams,
  type WatchState,
} from './engine.ts'
import { InvalidResumeError, type KnownRecord, KnownVersions, type KnownStore, seedKnown, versionIn } from './known.ts'
import { type KubeObject, objectKey, resourceVersionOf, type WatchEvent, type WatchEventType } from './object.ts'

/** What the consumer receives, in order. */
export type WatchNotification =
  | {
      type: 'created' | 'modified' | 'deleted'
      /** `namespace/name`, or `name` for cluster-scoped objects. */
      key: string
      /** Plain parsed JSON; for `deleted` after a relist, the last known object or a tombstone. */
      object: KubeObject
    }
  | {
      /** Once, after the initial list was delivered (or the first watch of a resume opened). */
      type: 'synced'
      resourceVersion: string
    }

/** Counters for observability; read them any time from {@link WatchRunner.counters}. */
export interface WatchCounters {
  /** Relists after the initial list (410s, consumer-requested resyncs). */
  relists: number
  /** 410 Gone answers and ERROR events. */
  gone: number
  /** Watch requests after the first one (clean ends, failures, stalls). */
  reconnects: number
  /** Malformed lines skipped. */
  decodeErrors: number
  /** ERROR events other than 410. */
  watchErrors: number
  /** Streams torn down for silence. */
  stalls: number
  /** 429 answers. */
  throttled: number
  /** Failures that led to a backoff. */
  failures: number
  /** List pages received. */
  listPages: number
  /** Watch events received, by type. */
  events: Record<WatchEventType, number>
  /** Bytes received on watch streams. */
  bytes: number
  /** `clock.now()` when the last watch event arrived, if any. */
  lastEventAt: number | undefined
}

/** Counters at zero. */
export function newWatchCounters(): WatchCounters {
  return {
    relists: 0,
    gone: 0,
    reconnects: 0,
    decodeErrors: 0,
    watchErrors: 0,
    stalls: 0,
    throttled: 0,
    failures: 0,
    listPages: 0,
    events: { ADDED: 0, MODIFIED: 0, DELETED: 0, BOOKMARK: 0, ERROR: 0 },
    bytes: 0,
    lastEventAt: undefined,
  }
}

/** The last 410, throttle, warning or error of a runner's engine (see {@link WatchRunner.lastProblem}). */
export interface RunnerProblem {
  /** `clock.now()` when it was reported. */
  at: number
  level: 'info' | 'warn' | 'error'
  message: string
  data: Record<string, unknown> | undefined
}

/** Options of {@link WatchRunner}. */
export interface WatchRunnerOptions {
  /** The list/watch IO; `HttpListWatchClient` for a real server, a fake in tests. */
  client: ListWatchClient
  /** Engine settings: page size (500), initial list strategy, resume resourceVersion, watch timeouts. */
  config?: Partial<EngineConfig>
  /** Deliver the objects of the first list as `created` (default `true`); `false` only records them in `known`. */
  existingAsCreated?: boolean
  /** What was delivered (written by the runner as it hands out changes). Default: a fresh `KnownVersions`. */
  known?: KnownStore
  /** Backoff for 5xx, network errors, stalls and repeated 410s. Default `CLIENT_GO_BACKOFF`. */
  backoff?: BackoffPolicy
  /** Time and timers. Default `systemClock`. */
  clock?: Clock
  /** Randomness for watch timeouts and backoff jitter. Default `Math.random`. */
  random?: () => number
  logger?: Logger
  /** Silence tolerated beyond the watch's `timeoutSeconds` before it counts as stalled. Default 30 000 ms. */
  stallMarginMs?: number
  /** A list request with no answer for this long is abandoned and retried with backoff. Default 60 000 ms. */
  listTimeoutMs?: number
  /**
   * Most notifications queued and not yet acknowledged (default 128: parsed objects held
   * in a queue outlive the young generation, so a deep queue costs GC time). When full, the
   * runner stops reading the stream; at most one decoded network chunk (≤ its own
   * events) is held beyond it.
   */
  maxPending?: number
  /**
   * Resume from a resourceVersion without listing, knowing what the consumer holds there.
   * With `known`, every event is classified against it: a MODIFIED (or an ADDED at a new
   * version) of a held key is `modified`, a DELETED of a key not held is dropped, and a
   * relist after 410 reports `deleted` for held keys that vanished. Without `known` the
   * runner's knowledge is `'partial'` until its first complete relist: a MODIFIED of a key
   * not seen since the resume is `modified` and a DELETED is `deleted` (the object existed
   * at the resume point, so the consumer had it), and the relist after a 410 can only
   * report `created` for keys not seen since the resume (they may be ones the consumer
   * had) and cannot report what was deleted while the consumer was away.
   * `config.resourceVersion` alone resumes with `known` as given (`knowledge: 'complete'`),
   * as a replacement runner with the same `known` does.
   */
  resume?: ResumePoint
  /** Stops the runner; the notification stream then ends without an error. */
  signal?: AbortSignal
  /**
   * Push mode, instead of iterating: each notification is handed to `sink` synchronously,
   * at the very moment `known` records it, and `lastResourceVersion` advances right then.
   * So a consumer that forwards notifications (e.g. into a process's mailbox) never has a
   * change recorded as delivered that it did not get, even if it dies mid-stream. Return
   * `false` to pause reading until {@link WatchRunner.resume}; time paused is not counted
   * as a stalled stream.
   */
  sink?: (notification: WatchNotification) => boolean
  /**
   * Applied to every object (listed or watched) before it is recorded in `known` or
   * handed out, e.g. to drop `metadata.managedFields`. It must keep the metadata name,
   * namespace, uid and resourceVersion.
   */
  transform?: (object: KubeObject) => KubeObject
}

/**
 * Where to resume, and what the consumer already holds there: see
 * {@link WatchRunnerOptions.resume}.
 */
export interface ResumePoint {
  /** The resourceVersion the consumer's state is at (e.g. `lastResourceVersion`, persisted). */
  resourceVersion: string
  /**
   * What the consumer holds at `resourceVersion`: `[key, resourceVersion]` pairs (a
   * `Map<string, string>` will do) or whole objects, all of them. Read once, at start.
   * Without it, the runner knows only what it delivers from now on (see `knowledge`).
   */
  known?: Iterable<KnownRecord> | undefined
}

/** A backoff or `Retry-After` wait in progress (read-only; see `WatchRunner.waiting` and `Watcher.waiting`). */
export interface PendingWait {
  /** What failed: `'watch failed'`, `'list failed'`, `'stalled watch'`, `'repeated 410'`, `'Retry-After'`… */
  readonly reason: string
  /** The error that caused it, in a few words (`HTTP 500 InternalError: etcd hiccup`), when there was one. */
  readonly cause: string | undefined
  /** The wait, in ms. */
  readonly ms: number
  /** `clock.now()` (monotonic) when it began. */
  readonly since: number
  /** `clock.now()` (monotonic) when it ends. */
  readonly until: number
  /** When it ends in wall-clock time (ISO 8601), for logs and pages. */
  readonly endsAt: string
  /** The backoff's attempt number since its last reset (1 = first delay); undefined for a `Retry-After`. */
  readonly attempt: number | undefined
}

interface Entry {
  notification: WatchNotification
  /** The resourceVersion the consumer has reached once it acknowledged this entry (if it advances it). */
  resourceVersion: string | undefined
}

type IoEffect = Extract<Effect, { type: 'list' | 'watch' | 'wait' }>

const nothing = (): void => {}

/**
 * Runs list/watch for one collection and hands each change to one consumer, in order,
 * at most `maxPending` ahead of it.
 *
 * When to use: underneath a Watcher (which the supervisor owns), or alone for a plain
 * ordered stream of changes. Consume with `for await` (each `next()` acknowledges the
 * previous notification) or {@link WatchRunner.run} with a handler. A terminal
 * {@link WatchError} (401/403/404…) is thrown from the iteration after every queued
 * notification was consumed; transient failures are retried inside and never seen.
 *
 * Gotchas: {@link WatchRunner.lastResourceVersion} only advances on acknowledgement, so a
 * new runner started with it (and the same `known`) neither replays nor skips. `known`
 * is updated when a change is queued — the consumer will process the queue in order.
 *
 * @example
 * ```ts
 * const runner = new WatchRunner({ client: new HttpListWatchClient(kc, { apiVersion: 'v1', kind: 'Pod' }) })
 * for await (const n of runner) {
 *   if (n.type === 'synced') ready()
 *   else console.log(n.type, n.key)
 * }
 * ```
 */
export class WatchRunner implements AsyncIterable<WatchNotification> {
  /** What was delivered: key → resourceVersion (and object when kept). */
  readonly known: KnownStore
  readonly counters: WatchCounters = newWatchCounters()

  readonly #client: ListWatchClient
  readonly #config: EngineConfig
  readonly #env: EngineEnv
  readonly #backoff: Backoff
  readonly #clock: Clock
  readonly #log: Logger
  readonly #existingAsCreated: boolean
  readonly #stallMarginMs: number
  readonly #listTimeoutMs: number
  readonly #maxPending: number
  readonly #sink: ((notification: WatchNotification) => boolean) | undefined
  readonly #transform: ((object: KubeObject) => KubeObject) | undefined
  readonly #abort = new AbortController()

  #state: WatchState = initialState()
  #started = false
  #watches = 0
  /**
   * The relist in progress: keys listed so far (a relist is diffed page by page against
   * `known`, so only keys are kept, never the listed objects) and the kind for tombstones.
   */
  #relist: { seen: Set<string>; initial: boolean; apiVersion: string | undefined; kind: string | undefined } | undefined
  /** Aborts the IO in progress (list, watch or wait) to act on a consumer request. */
  #io: AbortController | undefined
  /** The next list page, requested ahead while the current one is handed on. */
  #prefetch: { continueToken: string; limit: number; controller: AbortController; page: Promise<ListPage> } | undefined
  #relistRequested = false
  /** `retryNow()` cut the current wait short: go on as if it had elapsed. */
  #wakeRequested = false
  /** Aborts the wait in progress (the `#io` of a wait). */
  #waitIo: AbortController | undefined
  /** The backoff or Retry-After wait in progress. */
  #waiting: PendingWait | undefined
  /**
   * Whether `known` holds everything the consumer has (`complete`), or only what was
   * delivered since a resume without `known` (`partial`, until a relist completes).
   */
  #knowledge: Knowledge = 'complete'
  /** For introspection: the last 410, throttle, warning or error the engine reported, with its time. */
  #lastProblem: RunnerProblem | undefined

  /** Queued, not yet handed out; `#head` is the next one. Invariant: `#queue.length - #head ≤ #maxPending`. */
  #queue: Entry[] = []
  #head = 0
  /** Handed out by `next()`, not yet acknowledged (the next `next()` acknowledges it). */
  #inFlight: Entry | undefined
  #lastResourceVersion: string | undefined
  #finished = false
  #error: WatchError | undefined
  #wakeConsumer: (() => void) | undefined
  #wakeProducer: (() => void) | undefined
  #done: Promise<void>
  #resolveDone: () => void = nothing
  #rejectDone: (err: unknown) => void = nothing

  constructor(options: WatchRunnerOptions) {
    this.#client = options.client
    this.#config = { ...DEFAULT_ENGINE_CONFIG, ...options.config }
    this.#clock = options.clock ?? systemClock
    const random = options.random ?? Math.random
    this.#backoff = new Backoff(options.backoff ?? CLIENT_GO_BACKOFF, this.#clock, random)
    this.#env = { random, backoff: this.#backoff }
    this.#log = options.logger ?? defaultLogger()
    this.#existingAsCreated = options.existingAsCreated ?? true
    this.#stallMarginMs = options.stallMarginMs ?? 30_000
    this.#listTimeoutMs = options.listTimeoutMs ?? 60_000
    this.#maxPending = Math.max(1, options.maxPending ?? 128)
    this.#sink = options.sink
    this.#transform = options.transform
    this.known = options.known ?? new KnownVersions()
    const resume = options.resume
    if (resume !== undefined) {
      if (typeof resume.resourceVersion !== 'string' || resume.resourceVersion === '') {
        throw new InvalidResumeError(`resume.resourceVersion must be a non-empty string, got ${String(resume.resourceVersion)}`)
      }
      this.#config.resourceVersion = resume.resourceVersion
      if (resume.known === undefined) this.#knowledge = 'partial'
      else seedKnown(this.known, resume.known)
    }
    this.#lastResourceVersion = this.#config.resourceVersion
    this.#done = new Promise<void>((resolve, reject) => {
      this.#resolveDone = resolve
      this.#rejectDone = reject
    })
    this.#done.catch(nothing)
    const signal = options.signal
    if (signal) {
      if (signal.aborted) this.#abort.abort(signal.reason)
      else signal.addEventListener('abort', () => this.stop(), { once: true })
    }
  }

  /** The engine's current state (phase, last resourceVersion seen, synced). */
  get state(): WatchState {
    return this.#state
  }

  /**
   * The last resourceVersion the consumer has processed (acknowledged): start a new
   * runner from it (with the same `known`) to resume without replay or gap.
   */
  get lastResourceVersion(): string | undefined {
    return this.#lastResourceVersion
  }

  /**
   * `'complete'`: `known` holds everything the consumer has (after a list, or a resume with
   * `known`). `'partial'`: resumed without `known`, it holds only what arrived since; the
   * first complete relist makes it complete.
   */
  get knowledge(): Knowledge {
    return this.#knowledge
  }

  /**
   * The backoff (or `Retry-After`) wait in progress: why, since and until when
   * (`clock.now()` time), and the attempt number. Undefined while listing or watching.
   */
  get waiting(): PendingWait | undefined {
    return this.#waiting
  }

  /**
   * Cuts a backoff or `Retry-After` wait short: the runner goes on at once as if it had
   * elapsed (the backoff sequence is not reset: a failure right after backs off longer).
   * For when the consumer knows the cause is gone — a network change, a fault cleared.
   * Returns the wait it cut short, or undefined when nothing was waiting (then it does
   * nothing: a list or watch in progress is never interrupted).
   */
  retryNow(): PendingWait | undefined {
    const waiting = this.#waiting
    if (waiting === undefined || this.#abort.signal.aborted) return undefined
    // The wait may be decided but not begun yet (`#wait` then skips it).
    this.#wakeRequested = true
    this.#waitIo?.abort()
    return waiting
  }

  /** While the engine waits (phase `Waiting`): when the wait ends, on the runner's clock (`waiting.until`). */
  get waitUntil(): number | undefined {
    return this.#state.phase === 'Waiting' ? this.#waiting?.until : undefined
  }

  /** The last warning or error the engine reported (410, failure, stall, ERROR event…), with its time: why it waits or relisted. */
  get lastProblem(): RunnerProblem | undefined {
    return this.#lastProblem
  }

  /** Notifications queued and not yet acknowledged (≤ `maxPending` + one in flight). */
  get pending(): number {
    return this.#queue.length - this.#head + (this.#inFlight ? 1 : 0)
  }

  /** Settles when the runner ends: resolves on `stop()`, rejects with the terminal `WatchError`. */
  get done(): Promise<void> {
    return this.#done
  }

  /** Starts listing and watching (idempotent; iterating starts it too). */
  start(): this {
    if (this.#started) return this
    this.#started = true
    this.#drive().then(
      () => this.#finish(undefined),
      (err) => this.#finish(err),
    )
    return this
  }

  /** Stops: aborts the request in flight and ends the notification stream (queued notifications are dropped). */
  stop(): void {
    if (!this.#abort.signal.aborted) this.#abort.abort()
    this.#cancelPrefetch()
    this.#io?.abort()
    this.resume()
    if (!this.#started) this.#finish(undefined)
  }

  /** In push mode (`sink`), continues reading after the sink returned `false`. */
  resume(): void {
    const wake = this.#wakeProducer
    if (wake) {
      this.#wakeProducer = undefined
      wake()
    }
  }

  /** Asks for a full relist, diffed against `known` (e.g. after clearing it for a restarted handler). */
  relist(): void {
    this.#relistRequested = true
    this.#cancelPrefetch()
    this.#io?.abort()
  }

  /** Consumes every notification with `handler`, one at a time; resolves on stop, rejects on a terminal error. */
  async run(handler: (notification: WatchNotification) => void | Promise<void>): Promise<void> {
    for await (const notification of this) await handler(notification)
  }

  [Symbol.asyncIterator](): AsyncIterator<WatchNotification> {
    this.start()
    return {
      next: () => this.#next(),
      return: async () => {
        this.#ack()
        this.stop()
        return { done: true, value: undefined }
      },
    }
  }

  // ── consumer side ────────────────────────────────────────────────────────────────

  async #next(): Promise<IteratorResult<WatchNotification>> {
    this.#ack()
    for (;;) {
      if (this.#head < this.#queue.length) {
        const entry = this.#queue[this.#head] as Entry
        this.#queue[this.#head++] = undefined as unknown as Entry
        if (this.#head > 1024 && this.#head * 2 > this.#queue.length) {
          this.#queue = this.#queue.slice(this.#head)
          this.#head = 0
        }
        this.#inFlight = entry
        return { done: false, value: entry.notification }
      }
      if (this.#finished) {
        if (this.#error) throw this.#error
        return { done: true, value: undefined }
      }
      await new Promise<void>((resolve) => {
        this.#wakeConsumer = resolve
      })
      this.#wakeConsumer = undefined
    }
  }

  #ack(): void {
    const entry = this.#inFlight
    if (!entry) return
    this.#inFlight = undefined
    if (entry.resourceVersion !== undefined) this.#lastResourceVersion = entry.resourceVersion
    // Hysteresis: a blocked producer resumes once the queue is down to half, not after
    // every acknowledgement, so a full queue does not ping-pong one event at a time.
    const wake = this.#wakeProducer
    if (wake && this.#queue.length - this.#head <= this.#maxPending >> 1) {
      this.#wakeProducer = undefined
      wake()
    }
  }

  /**
   * Hands a notification on: to the sink (push mode) or into the queue. Synchronous when
   * there is room — the per-event path allocates no promise; returns a promise only when
   * the producer has to wait (queue full, or the sink asked for a pause).
   */
  #offer(notification: WatchNotification, resourceVersion: string | undefined): Promise<void> | undefined {
    const sink = this.#sink
    if (sink !== undefined) {
      if (this.#abort.signal.aborted) return undefined
      const more = sink(notification)
      if (resourceVersion !== undefined) this.#lastResourceVersion = resourceVersion
      if (more || this.#abort.signal.aborted) return undefined
      return new Promise<void>((resolve) => {
        this.#wakeProducer = resolve
      })
    }
    if (this.#queue.length - this.#head >= this.#maxPending) return this.#pushWhenRoom(notification, resourceVersion)
    this.#push(notification, resourceVersion)
    return undefined
  }

  async #pushWhenRoom(notification: WatchNotification, resourceVersion: string | undefined): Promise<void> {
    while (this.#queue.length - this.#head >= this.#maxPending) {
      if (this.#abort.signal.aborted) return
      await new Promise<void>((resolve) => {
        this.#wakeProducer = resolve
      })
    }
    this.#push(notification, resourceVersion)
  }

  #push(notification: WatchNotification, resourceVersion: string | undefined): void {
    this.#queue.push({ notification, resourceVersion })
    const wake = this.#wakeConsumer
    if (wake) {
      this.#wakeConsumer = undefined
      wake()
    }
  }

  /** The consumer reaches `resourceVersion` after what is queued now (or at once when nothing is). */
  #advance(resourceVersion: string): void {
    const last = this.#head < this.#queue.length ? this.#queue[this.#queue.length - 1] : this.#inFlight
    if (last) last.resourceVersion = resourceVersion
    else this.#lastResourceVersion = resourceVersion
  }

  #finish(err: unknown): void {
    if (this.#finished) return
    this.#finished = true
    if (err !== undefined && !this.#abort.signal.aborted) {
      this.#error = err as WatchError
      this.#rejectDone(err)
    } else {
      this.#resolveDone()
    }
    if (this.#abort.signal.aborted) {
      this.#queue = []
      this.#head = 0
    }
    this.#wakeConsumer?.()
  }

  // ── producer side: the engine loop ───────────────────────────────────────────────

  async #drive(): Promise<void> {
    let io = await this.#feed({ type: 'start' })
    while (io !== undefined && !this.#abort.signal.aborted) {
      switch (io.type) {
        case 'list':
          io = await this.#list(io.params)
          break
        case 'watch':
          io = await this.#watch(io.params)
          break
        case 'wait':
          io = await this.#wait(io.ms)
          break
      }
    }
    if (this.#state.phase === 'Failed') throw this.#state.error
  }

  /** Steps the engine and performs the non-IO effects; returns the IO effect to perform next, if any. */
  async #feed(input: EngineInput): Promise<IoEffect | undefined> {
    return this.#step(input)
  }

  /** {@link #feed} without a promise unless the producer has to wait for the consumer: the per-event path. */
  #step(input: EngineInput): IoEffect | undefined | Promise<IoEffect | undefined> {
    const { state, effects } = step(this.#state, input, this.#config, this.#env)
    this.#state = state
    return this.#perform(effects, 0, undefined)
  }

  #perform(effects: Effect[], from: number, io: IoEffect | undefined): IoEffect | undefined | Promise<IoEffect | undefined> {
    for (let i = from; i < effects.length; i++) {
      const effect = effects[i] as Effect
      switch (effect.type) {
        case 'emit': {
          const wait = this.#emit(effect.event)
          if (wait !== undefined) return wait.then(() => this.#perform(effects, i + 1, io))
          break
        }
        case 'closeWatch':
          this.#io?.abort()
          break
        case 'count':
          this.counters[effect.counter]++
          break
        case 'log':
          this.#log[effect.level](effect.data ?? {}, effect.msg)
          if (effect.level !== 'debug') this.#lastProblem = { at: this.#clock.now(), level: effect.level, message: effect.msg, data: effect.data }
          break
        case 'watch':
          if (this.#watches++ > 0) this.counters.reconnects++
          io = effect
          break
        case 'wait':
          this.#beginWait(effect)
          io = effect
          break
        default:
          io = effect
      }
    }
    return io
  }

  /**
   * Records a wait as {@link waiting} and logs it in one line: how long, until when, the
   * attempt, and what caused it — so a watcher that is quiet says why and until when.
   */
  #beginWait(effect: Extract<Effect, { type: 'wait' }>): void {
    const since = this.#clock.now()
    const retryAfter = effect.reason === 'Retry-After'
    const waiting: PendingWait = {
      reason: effect.reason,
      cause: effect.cause,
      ms: effect.ms,
      since,
      until: since + effect.ms,
      endsAt: new Date(Date.now() + effect.ms).toISOString(),
      attempt: retryAfter ? undefined : this.#backoff.attempts,
    }
    this.#waiting = waiting
    const seconds = (effect.ms / 1000).toFixed(1)
    const until = waiting.endsAt
    const why = `${effect.reason}${effect.cause ? `: ${effect.cause}` : ''}`
    const msg = retryAfter ? `waiting ${seconds} s until ${until} (Retry-After)` : `backing off ${seconds} s until ${until} (attempt ${waiting.attempt}, ${why})`
    const data: Record<string, unknown> = { reason: effect.reason, waitMs: Math.round(effect.ms), until, resourceVersion: this.#state.resourceVersion }
    if (effect.cause !== undefined) data.cause = effect.cause
    if (waiting.attempt !== undefined) data.attempt = waiting.attempt
    this.#log[retryAfter ? 'info' : 'warn'](data, msg)
  }

  /** Applies an engine event on the consumer side; returns a promise only when it has to wait. */
  #emit(event: EngineEvent): Promise<void> | undefined {
    switch (event.type) {
      case 'added':
      case 'modified':
      case 'deleted': {
        // Nothing is recorded once stopped: a replacement runner may own `known` already.
        if (this.#abort.signal.aborted) return
        const object = this.#transform ? this.#transform(event.object) : event.object
        const key = objectKey(object)
        const version = resourceVersionOf(object)
        const resourceVersion = version || undefined
        const known = this.known
        if (event.type === 'deleted') {
          // A DELETED of a key never delivered is dropped ("no deleted for an object never
          // delivered") — unless the runner resumed without knowing what the consumer holds:
          // then the object existed at the resume point, so the consumer had it.
          if (!liveDelete(versionIn(known, key), this.#knowledge)) {
            if (resourceVersion !== undefined) this.#advance(resourceVersion)
            return
          }
          known.delete(key)
          return this.#offer({ type: 'deleted', key, object }, resourceVersion)
        }
        // One lookup when the store records and answers at once (`upsert`; a replayed ADDED
        // is recorded again, unchanged); else look up, and record only a real change.
        const previous = known.upsert ? known.upsert(key, object) : versionIn(known, key)
        // Resumed without `known`: a MODIFIED of a key not seen since existed at the resume
        // point (else an ADDED would have come first), so the consumer has it: `modified`.
        const type = liveChange(event.type, previous, version, this.#knowledge)
        if (type === undefined) {
          if (resourceVersion !== undefined) this.#advance(resourceVersion)
          return
        }
        if (!known.upsert) known.set(key, object)
        return this.#offer({ type, key, object }, resourceVersion)
      }
      case 'bookmark':
        this.#advance(event.resourceVersion)
        return
      case 'relistStart':
        if (!event.initial && this.#relist === undefined) this.counters.relists++
        if (this.#knowledge === 'partial' && this.#relist === undefined) {
          this.#log.warn(
            { resourceVersion: this.#state.resourceVersion, seenSinceResume: this.known.size },
            'relisting after a resume without known: objects not seen since the resume come as created (the consumer may hold them already) and objects deleted while it was away cannot be reported; resume with known to get them',
          )
        }
        this.#relist = { seen: new Set(), initial: event.initial, apiVersion: undefined, kind: undefined }
        return
      case 'relistPage':
        return this.#relistPage(event.objects)
      case 'relistDone':
        return this.#relistDone(event)
      case 'synced':
        return this.#offer({ type: 'synced', resourceVersion: event.resourceVersion }, event.resourceVersion)
    }
  }

  /**
   * Diffs one page of a relist against `known` and hands on its `created` / `modified`
   * changes at once; what vanished is known only at the end ({@link #relistDone}).
   */
  #relistPage(objects: readonly KubeObject[]): Promise<void> | undefined {
    const relist = (this.#relist ??= { seen: new Set(), initial: !this.#state.synced, apiVersion: undefined, kind: undefined })
    // A resumed runner (or a replacement one) never starts from nothing: a relist before its
    // first watch opened (a 410 on the resume watch) still delivers what is new.
    const silentCreates = relist.initial && !this.#existingAsCreated && this.#config.resourceVersion === undefined
    const transform = this.#transform
    for (let i = 0; i < objects.length; i++) {
      if (this.#abort.signal.aborted) return undefined
      const object = transform ? transform(objects[i] as KubeObject) : (objects[i] as KubeObject)
      relist.apiVersion ??= object.apiVersion
      relist.kind ??= object.kind
      const change = classifyListed(this.known, relist.seen, object)
      if (change === undefined) continue
      this.known.set(change.key, change.object)
      if (silentCreates && change.type === 'created') continue
      const wait = this.#offer({ type: change.type, key: change.key, object: change.object }, undefined)
      if (wait !== undefined) return wait.then(() => this.#relistPage(objects.slice(i + 1)))
    }
    return undefined
  }

  /** After the last page: `deleted` for every known key the list did not contain. */
  async #relistDone(event: Extract<EngineEvent, { type: 'relistDone' }>): Promise<void> {
    if (this.#abort.signal.aborted) return
    const relist = this.#relist ?? { seen: new Set<string>(), initial: event.initial, apiVersion: undefined, kind: undefined }
    this.#relist = undefined
    for (const change of vanished(this.known, relist.seen, relist)) {
      if (this.#abort.signal.aborted) return
      this.known.delete(change.key)
      const wait = this.#offer({ type: change.type, key: change.key, object: change.object }, undefined)
      if (wait !== undefined) await wait
    }
    // A complete list: `known` now holds everything the consumer has.
    this.#knowledge = 'complete'
    this.#advance(event.resourceVersion)
  }

  /** Starts an IO operation: its controller aborts on stop, on `closeWatch` and on `relist()`. */
  #beginIo(): AbortController {
    const controller = new AbortController()
    this.#io = controller
    if (this.#abort.signal.aborted || this.#relistRequested) controller.abort()
    return controller
  }

  /** When an IO operation was interrupted by the consumer or stop: what to do instead. */
  async #interrupted(): Promise<IoEffect | undefined> {
    if (this.#abort.signal.aborted) return undefined
    if (this.#relistRequested) {
      this.#relistRequested = false
      this.#wakeRequested = false
      this.#relist = undefined
      return this.#feed({ type: 'relist' })
    }
    if (this.#wakeRequested) {
      this.#wakeRequested = false
      if (this.#state.phase === 'Waiting') return this.#feed({ type: 'backoffElapsed' })
    }
    return undefined
  }

  /**
   * Takes the prefetched page if it is exactly the one asked for; otherwise cancels it.
   * Aborting `signal` cancels a taken prefetch too.
   */
  #takePrefetch(params: ListParams, signal: AbortSignal): Promise<ListPage> | undefined {
    const prefetch = this.#prefetch
    this.#prefetch = undefined
    if (!prefetch) return undefined
    if (prefetch.continueToken !== params.continueToken || prefetch.limit !== params.limit || params.resourceVersion !== undefined) {
      prefetch.controller.abort()
      return undefined
    }
    signal.addEventListener('abort', () => prefetch.controller.abort(), { once: true })
    return prefetch.page
  }

  /**
   * Starts fetching the page after `page` while this one is handed on, so paging does not
   * wait a round trip per page. At most one page is fetched ahead.
   */
  #startPrefetch(params: ListParams, continueToken: string): void {
    const controller = new AbortController()
    const next: ListParams = { limit: params.limit, continueToken }
    const page = this.#client.list(next, controller.signal)
    page.catch(() => {}) // a prefetch that fails is retried by the real request
    this.#prefetch = { continueToken, limit: params.limit, controller, page }
  }

  #cancelPrefetch(): void {
    this.#prefetch?.controller.abort()
    this.#prefetch = undefined
  }

  async #list(params: ListParams): Promise<IoEffect | undefined> {
    const io = this.#beginIo()
    let timedOut = false
    const timer = this.#clock.setTimeout(() => {
      timedOut = true
      io.abort()
    }, this.#listTimeoutMs)
    try {
      const page = await (this.#takePrefetch(params, io.signal) ?? this.#client.list(params, io.signal))
      this.#clock.clearTimeout(timer)
      if (io.signal.aborted && !timedOut) return this.#interrupted()
      this.counters.listPages++
      if (page.continueToken !== undefined && !this.#abort.signal.aborted) this.#startPrefetch(params, page.continueToken)
      return this.#feed({ type: 'listPage', items: page.items, continueToken: page.continueToken, resourceVersion: page.resourceVersion })
    } catch (err) {
      this.#clock.clearTimeout(timer)
      if (!timedOut && io.signal.aborted) return this.#interrupted()
      return this.#feed({ type: 'listFailed', ...failureOf(timedOut ? new Error(`list timed out after ${this.#listTimeoutMs} ms`) : err) })
    } finally {
      if (this.#io === io) this.#io = undefined
    }
  }

  async #wait(ms: number): Promise<IoEffect | undefined> {
    const io = this.#beginIo()
    this.#waitIo = io
    if (this.#wakeRequested) io.abort()
    try {
      await sleep(this.#clock, ms, io.signal)
    } catch {
      this.#waiting = undefined
      return this.#interrupted()
    } finally {
      if (this.#io === io) this.#io = undefined
      if (this.#waitIo === io) this.#waitIo = undefined
    }
    this.#waiting = undefined
    this.#wakeRequested = false
    return this.#feed({ type: 'backoffElapsed' })
  }

  async #watch(params: WatchParams): Promise<IoEffect | undefined> {
    const io = this.#beginIo()
    const clock = this.#clock
    const stallMs = params.timeoutSeconds * 1000 + this.#stallMarginMs
    let lastByteAt = clock.now()
    let stalled = false
    let timer: TimerHandle | undefined
    const check = () => {
      // Time spent waiting for the consumer (queue full) is not silence of the server.
      if (this.#wakeProducer !== undefined) lastByteAt = clock.now()
      const idle = clock.now() - lastByteAt
      if (idle >= stallMs) {
        stalled = true
        io.abort()
      } else {
        timer = clock.setTimeout(check, stallMs - idle)
      }
    }
    timer = clock.setTimeout(check, stallMs)
    try {
      let stream: AsyncIterable<Uint8Array>
      try {
        stream = await this.#client.watch(params, io.signal)
      } catch (err) {
        if (stalled) return this.#feed({ type: 'stalled' })
        if (io.signal.aborted) return this.#interrupted()
        return this.#feed({ type: 'watchFailed', ...failureOf(err) })
      }
      let next = await this.#feed({ type: 'watchStarted' })
      if (next !== undefined || io.signal.aborted) return next ?? this.#interrupted()
      const openedAt = clock.now()
      let received = 0
      const batch: EngineInput[] = []
      const decoder = new WatchDecoder({
        onError: (error) => {
          batch.push({ type: 'decodeError', error })
        },
      })
      const collect = (event: WatchEvent) => {
        batch.push({ type: 'watchEvent', event })
      }
      const drain = async (): Promise<IoEffect | 'left' | undefined> => {
        for (let i = 0; i < batch.length; i++) {
          const input = batch[i] as EngineInput
          if (input.type === 'watchEvent') {
            received++
            this.counters.events[input.event.type]++
            this.counters.lastEventAt = lastByteAt // it arrived with its chunk
          }
          const result = this.#step(input)
          next = result instanceof Promise ? await result : result
          const phase = this.#state.phase
          if (next !== undefined || (phase !== 'Watching' && phase !== 'Streaming') || io.signal.aborted) {
            batch.length = 0
            return next ?? 'left'
          }
        }
        batch.length = 0
        return undefined
      }
      try {
        for await (const chunk of stream) {
          lastByteAt = clock.now()
          this.counters.bytes += chunk.byteLength
          decoder.push(chunk, collect)
          const outcome = await drain()
          if (outcome === 'left') return stalled ? this.#feed({ type: 'stalled' }) : this.#interrupted()
          if (outcome !== undefined) return outcome
        }
        decoder.end(collect)
        const outcome = await drain()
        if (outcome === 'left') return stalled ? this.#feed({ type: 'stalled' }) : this.#interrupted()
        if (outcome !== undefined) return outcome
      } catch (err) {
        if (stalled) return this.#feed({ type: 'stalled' })
        if (io.signal.aborted) return this.#interrupted()
        return this.#feed({ type: 'watchFailed', ...failureOf(err) })
      }
      if (stalled) return this.#feed({ type: 'stalled' })
      if (io.signal.aborted) return this.#interrupted()
      return this.#feed({ type: 'watchEnded', durationMs: clock.now() - openedAt, events: received })
    } finally {
      clock.clearTimeout(timer)
      io.abort()
      if (this.#io === io) this.#io = undefined
    }
  }
}

/** Reads an error into the engine's failure shape: HTTP status and Retry-After when it was an answer. */
export function failureOf(err: unknown): Failure {
  if (err instanceof ApiStatusError) return { status: err.status, retryAfterSeconds: err.retryAfterSeconds, error: err }
  return { error: err }
}

