/**
 * Resource event streams, after cilium's `pkg/k8s/resource` (`Resource[T]`): a shared
 * watch seen as an async iterable of `upsert` / `delete` / `sync` events, one key at a
 * time, each acknowledged with `done(err)`, retried by an error handler with rate
 * limiting. Built on a shared informer's subscription (one per stream) and a per-stream
 * rate-limited work queue of keys, which gives dedup, "one event in flight per key" and
 * retries for free.
 */
import { KubevisorError } from '../errors.ts'
import type { InformerFactory, InformerOptions, InformerTarget } from '../informer/informer.ts'
import { type InformerEvent, pullIterator } from '../informer/subscription.ts'
import { defaultLogger, type Logger } from '../log.ts'
import { unrefTimer } from '../queue/metrics.ts'
import { defaultControllerRateLimiter, type RateLimiter, RateLimitingQueue } from '../queue/index.ts'
import type { Store } from '../store/index.ts'
import { type Clock, systemClock, type TimerHandle } from '../time/clock.ts'
import type { KubeObject } from '../watch/object.ts'

// ---------------------------------------------------------------------------------------
// Keys, events, error handlers

/**
 * Names one object of a resource: `{ namespace?, name }`, usable wherever an object
 * reference is (`store.get(key)`); `String(key)` is the stable `namespace/name` form
 * (`name` for cluster-scoped objects), as cilium's `resource.Key`.
 */
export class ResourceKey {
  /** Absent for cluster-scoped objects. */
  readonly namespace: string | undefined
  /** The object's name. */
  readonly name: string
  /** The `namespace/name` form (client-go's `MetaNamespaceKeyFunc`). */
  readonly string: string

  constructor(name: string, namespace?: string) {
    this.name = name
    this.namespace = namespace || undefined
    this.string = this.namespace ? `${this.namespace}/${name}` : name
  }

  /** From the `namespace/name` (or `name`) form. */
  static parse(key: string): ResourceKey {
    const slash = key.indexOf('/')
    return slash < 0 ? new ResourceKey(key) : new ResourceKey(key.slice(slash + 1), key.slice(0, slash))
  }

  /** `namespace/name`, or `name` for cluster-scoped objects. */
  toString(): string {
    return this.string
  }
}

/** The key of a `sync` event: empty, as cilium's `Key{}`. */
const SYNC_EVENT_KEY = new ResourceKey('')

/**
 * One event of a resource stream. `done(err?)` must be called once the event is handled:
 * until then no further event for its key is emitted (other keys keep flowing). `done()`
 * forgets the key's failures; `done(err)` asks the stream's error handler whether to retry
 * (re-emit the key's latest state after the rate limiter's delay), ignore, or stop.
 *
 * - `upsert`: the object exists; `object` is its latest version when the event was taken.
 * - `delete`: the object is gone; `object` is the last version this stream emitted. Sent
 *   only for objects this stream emitted an `upsert` for.
 * - `sync`: once, after an `upsert` for every object that existed when the stream started:
 *   the upserts so far form a consistent snapshot (e.g. time to garbage-collect).
 */
export type ResourceEvent<T> =
  | {
      /** `upsert`: the object exists (created or changed); `delete`: it is gone. */
      readonly kind: 'upsert' | 'delete'
      /** Which object. */
      readonly key: ResourceKey
      /** The latest state when the event was taken; for a delete, the last object this stream emitted. */
      readonly object: T
      /** Acknowledges the event: no error forgets the key's failures, an error asks the error handler. */
      done(err?: unknown): void
    }
  | {
      /** The upserts so far are a consistent snapshot. */
      readonly kind: 'sync'
      /** Empty (`String(key)` is `''`). */
      readonly key: ResourceKey
      /** None. */
      readonly object: undefined
      /** Acknowledges the sync event. */
      done(err?: unknown): void
    }

/** What to do with an event whose `done(err)` reported a failure (cilium's `ErrorAction`). */
export type ErrorAction = 'retry' | 'ignore' | 'stop'

/**
 * Decides what a failed event leads to. `numRetries` is how many times the key was
 * retried since it last succeeded (0 on its first failure). For a `sync` event the key is
 * empty (`name === ''`).
 */
export type ErrorHandler = (key: ResourceKey, err: unknown, numRetries: number) => ErrorAction

/** The default error handler: always retry (rate limited). */
export const alwaysRetry: ErrorHandler = () => 'retry'

/**
 * Retries a key up to `n` times, then `then` — `'stop'` by default, as cilium's
 * `RetryUpTo` ("retries a key up to specified number of times before stopping"); pass
 * `'ignore'` to drop the key and keep the stream going.
 */
export function retryUpTo(n: number, then: 'stop' | 'ignore' = 'stop'): ErrorHandler {
  if (!(n >= 0)) throw new RangeError(`retryUpTo: n must be ≥ 0, got ${n}`)
  return (_key, _err, numRetries) => (numRetries >= n ? then : 'retry')
}

/**
 * A stream ended because its error handler answered `'stop'` (`ERR_RESOURCE_STREAM_STOPPED`).
 * `key` is the key whose failure stopped it; `cause` is the error given to `done`.
 */
export class ResourceStreamStoppedError extends KubevisorError {
  /** The key whose failure the error handler answered with `stop`. */
  readonly key: ResourceKey
  constructor(resource: string, key: ResourceKey, cause: unknown) {
    const reason = cause instanceof Error ? cause.message : String(cause)
    super('ERR_RESOURCE_STREAM_STOPPED', `event stream of ${resource} stopped by its error handler after a failure of ${key.string ? `"${key.string}"` : 'the sync event'}: ${reason}`, { cause })
    this.key = key
  }
}

// ---------------------------------------------------------------------------------------
// Options

/** Where a resource's objects come from: a shared informer (or a test double of one). */
export interface ResourceSource<T extends KubeObject> {
  /** Names the source in logs. */
  readonly id: string
  /** The shared store, updated before subscribers are told of a change. */
  readonly store: Store<T>
  /** A subscription: `created` per stored object, `synced`, then live changes. */
  subscribe(): { next(): Promise<InformerEvent<T> | undefined>; tryNext(): InformerEvent<T> | undefined; close(): void }
  /** Keeps the watch running without a subscription. */
  hold(): void
  release(): void
}

/** Options of a {@link Resource}. */
export interface ResourceOptions {
  /** Default: the factory's logger. */
  logger?: Logger
  /** For retry delays and the done timeout. Default: the system clock. */
  clock?: Clock
  /**
   * How long an event may stay without `done` before a warning names its key; repeated
   * with doubling intervals (up to 30 min) while it stays undone. Default 60 000 ms.
   */
  doneTimeoutMs?: number
}

/** Options of one stream ({@link Resource.events}). */
export interface EventsOptions {
  /** Default {@link alwaysRetry}. */
  errorHandler?: ErrorHandler
  /**
   * Delays of retries. Default: client-go's `defaultControllerRateLimiter` (per key 5 ms →
   * 1000 s, overall 10 qps burst 100) on the resource's clock. Give each stream its own
   * instance: a limiter counts failures per key.
   */
  rateLimiter?: RateLimiter<string>
}

/** Default of {@link ResourceOptions.doneTimeoutMs}. */
export const DEFAULT_DONE_TIMEOUT_MS = 60_000
const MAX_DONE_WARNING_INTERVAL_MS = 30 * 60_000

/** The queue key of the `sync` event; cannot collide with `namespace/name` keys. */
const SYNC = '\u0000sync'

// ---------------------------------------------------------------------------------------
// The per-stream core

/** One event handed out and not yet done. */
interface Delivery<T> {
  readonly key: string
  readonly event: ResourceEvent<T>
  readonly at: number
  /** Whether `done` gives the key back to the queue itself (iterator) or leaves it to a worker pool. */
  readonly releases: boolean
  /** When the next "not done" warning is due (clock ms). */
  dueAt: number
  warnings: number
  /** `done` was called. */
  doneCalled: boolean
  /** Settled: done, or retired (the stream ended, or the key was re-emitted after its consumer exited). */
  finished: boolean
  /** What `done` decided: `undefined` for success. */
  action: ErrorAction | undefined
}

function uidOf(object: unknown): string | undefined {
  return (object as KubeObject | undefined)?.metadata?.uid
}

/**
 * @internal One subscriber's machinery: a subscription feeding a rate-limited queue of
 * keys; a key taken from the queue becomes the event for the key's latest state. Shared by
 * the async iterator ({@link ResourceEventStream}) and `streamWorker` (a WorkerPool on
 * `queue`).
 *
 * Invariants: a key is in `#inFlight` exactly while the queue has it in processing on our
 * behalf (stingy: one event per key at a time); `#lastSent` holds, per key, the last
 * object this stream emitted and whose deletion it has not yet seen done — a `delete` is
 * emitted only for keys in it.
 */
export class KeyStream<T extends KubeObject> {
  readonly queue: RateLimitingQueue<string>
  readonly #source: ResourceSource<T>
  readonly #sub: ReturnType<ResourceSource<T>['subscribe']>
  readonly #lastSent = new Map<string, T>()
  readonly #inFlight = new Map<string, Delivery<T>>()
  readonly #errorHandler: ErrorHandler
  readonly #clock: Clock
  readonly #log: Logger
  readonly #doneTimeoutMs: number
  readonly #onEnd: ((failure: ResourceStreamStoppedError | undefined) => void)[] = []
  #ended = false
  /** `closeIntake` holds the watch (and so the store) until the stream ends, for a drain. */
  #drainHold = false
  #failure: ResourceStreamStoppedError | undefined
  #overdueWarnings = 0
  #watchdog: TimerHandle | undefined
  #watchdogAt = Number.POSITIVE_INFINITY

  constructor(source: ResourceSource<T>, options: EventsOptions, resourceOptions: Required<Pick<ResourceOptions, 'clock' | 'doneTimeoutMs'>> & { logger: Logger }) {
    this.#source = source
    this.#clock = resourceOptions.clock
    this.#log = resourceOptions.logger
    this.#doneTimeoutMs = resourceOptions.doneTimeoutMs
    this.#errorHandler = options.errorHandler ?? alwaysRetry
    this.queue = new RateLimitingQueue<string>({ clock: this.#clock, rateLimiter: options.rateLimiter ?? defaultControllerRateLimiter<string>(this.#clock) })
    this.#sub = source.subscribe()
    void this.#pump()
  }

  get ended(): boolean {
    return this.#ended
  }

  get failure(): ResourceStreamStoppedError | undefined {
    return this.#failure
  }

  get inFlight(): string[] {
    return [...this.#inFlight.keys()].map((k) => (k === SYNC ? '' : k))
  }

  get overdue(): string[] {
    return [...this.#inFlight.values()].filter((d) => d.warnings > 0).map((d) => (d.key === SYNC ? '' : d.key))
  }

  get overdueWarnings(): number {
    return this.#overdueWarnings
  }

  /** Calls `fn` once when the stream ends (with the failure when a `'stop'` ended it). */
  onEnd(fn: (failure: ResourceStreamStoppedError | undefined) => void): void {
    if (this.#ended) fn(this.#failure)
    else this.#onEnd.push(fn)
  }

  /** Moves the subscription's changes into the queue, as keys (the queue dedups). */
  async #pump(): Promise<void> {
    for (;;) {
      const event = this.#sub.tryNext() ?? (await this.#sub.next())
      if (event === undefined) return
      this.queue.add(event.type === 'synced' ? SYNC : event.key)
    }
  }

  /** Stops taking changes from the informer (the queue keeps what it has: for a drain). */
  closeIntake(): void {
    if (this.#ended || this.#drainHold) return
    // Keep the store alive while the queued keys are handled: it is where their latest
    // state is read (the watch would stop, and its store be cleared, with our subscription).
    this.#drainHold = true
    this.#source.hold()
    this.#sub.close()
  }

  /** Ends the stream: no more events; queued keys and waiting retries are dropped. */
  end(failure?: ResourceStreamStoppedError): void {
    if (this.#ended) return
    this.#ended = true
    this.#failure = failure
    this.#sub.close()
    if (this.#drainHold) this.#source.release()
    this.queue.shutDown()
    for (const d of this.#inFlight.values()) this.#retire(d)
    this.#inFlight.clear()
    this.#stopWatchdog()
    this.#lastSent.clear()
    for (const fn of this.#onEnd.splice(0)) fn(failure)
  }

  /**
   * The event for `key`, just taken from the queue, or `undefined` when there is nothing
   * to emit (an object created and deleted before this stream emitted it): the caller
   * then gives the key back to the queue at once.
   */
  open(key: string, releases: boolean): Delivery<T> | undefined {
    const superseded = this.#inFlight.get(key)
    if (superseded !== undefined) {
      // Its consumer exited without `done` and the key came back through the queue.
      this.#retire(superseded)
      this.#inFlight.delete(key)
    }
    if (key === SYNC) return this.#deliver(key, 'sync', undefined, releases)
    const current = this.#source.store.getByKey(key)
    const last = this.#lastSent.get(key)
    if (current !== undefined) {
      const lastUid = uidOf(last)
      const uid = uidOf(current)
      // A new incarnation under the same key: the old one's delete first, then (after its
      // done) an upsert of the new one.
      if (last !== undefined && lastUid !== undefined && uid !== undefined && lastUid !== uid) return this.#deliver(key, 'delete', last, releases)
      this.#lastSent.set(key, current)
      return this.#deliver(key, 'upsert', current, releases)
    }
    if (last !== undefined) return this.#deliver(key, 'delete', last, releases)
    return undefined
  }

  #deliver(key: string, kind: 'sync' | 'upsert' | 'delete', object: T | undefined, releases: boolean): Delivery<T> {
    const d = {
      key,
      at: this.#clock.now(),
      releases,
      dueAt: 0,
      warnings: 0,
      doneCalled: false,
      finished: false,
      action: undefined,
    } as Omit<Delivery<T>, 'event'> as Delivery<T>
    const eventKey = key === SYNC ? SYNC_EVENT_KEY : ResourceKey.parse(key)
    ;(d as { event: ResourceEvent<T> }).event = Object.freeze({ kind, key: eventKey, object, done: (err?: unknown) => this.#done(d, err) }) as ResourceEvent<T>
    d.dueAt = d.at + this.#doneTimeoutMs
    this.#inFlight.set(key, d)
    if (d.dueAt < this.#watchdogAt) this.#armWatchdog(d.dueAt)
    return d
  }

  /**
   * One timer per stream, set for the earliest due warning (not one per event: events are
   * hot, warnings are rare). Deliveries done meanwhile are simply not found when it fires.
   */
  #armWatchdog(at: number): void {
    if (this.#watchdog !== undefined) this.#clock.clearTimeout(this.#watchdog)
    this.#watchdogAt = at
    this.#watchdog = this.#clock.setTimeout(this.#sweep, at - this.#clock.now())
    unrefTimer(this.#watchdog)
  }

  #stopWatchdog(): void {
    if (this.#watchdog !== undefined) this.#clock.clearTimeout(this.#watchdog)
    this.#watchdog = undefined
    this.#watchdogAt = Number.POSITIVE_INFINITY
  }

  /** Warns about every delivery past its due time (with its key), at doubling intervals. */
  readonly #sweep = (): void => {
    this.#watchdog = undefined
    this.#watchdogAt = Number.POSITIVE_INFINITY
    if (this.#ended) return
    const now = this.#clock.now()
    let next = Number.POSITIVE_INFINITY
    for (const d of this.#inFlight.values()) {
      if (d.dueAt <= now) {
        d.warnings++
        this.#overdueWarnings++
        this.#log.warn(
          { resource: this.#source.id, key: d.event.key.string, kind: d.event.kind, waitedMs: Math.round(now - d.at), warnings: d.warnings },
          'event not done: no further event for this key is emitted until done() is called for it',
        )
        d.dueAt = now + Math.min(this.#doneTimeoutMs * 2 ** d.warnings, MAX_DONE_WARNING_INTERVAL_MS)
      }
      if (d.dueAt < next) next = d.dueAt
    }
    if (next < Number.POSITIVE_INFINITY) this.#armWatchdog(next)
  }

  #retire(d: Delivery<T>): void {
    d.finished = true
  }

  #done(d: Delivery<T>, err: unknown): void {
    const key = d.event.key.string
    if (d.doneCalled) {
      this.#log.warn({ resource: this.#source.id, key, kind: d.event.kind }, 'done() called again for the same event; ignored')
      return
    }
    d.doneCalled = true
    // Retired: the stream ended, or the key was re-emitted after this event's consumer exited.
    if (d.finished) return
    this.#retire(d)
    if (this.#inFlight.get(d.key) === d) this.#inFlight.delete(d.key)
    if (this.#ended) return
    let action: ErrorAction | undefined
    if (err !== undefined && err !== null) {
      const numRetries = this.queue.numRequeues(d.key)
      try {
        action = this.#errorHandler(d.event.key, err, numRetries)
      } catch (handlerErr) {
        this.#log.error({ resource: this.#source.id, key, err: handlerErr }, 'error handler threw; retrying the key')
        action = 'retry'
      }
      if (action !== 'retry' && action !== 'ignore' && action !== 'stop') {
        this.#log.error({ resource: this.#source.id, key, action }, 'error handler returned an unknown action; retrying the key')
        action = 'retry'
      }
      this.#log.debug({ resource: this.#source.id, key, kind: d.event.kind, numRetries, action, reason: err instanceof Error ? err.message : String(err) }, 'event failed')
    }
    d.action = action
    if (d.event.kind === 'delete' && action !== 'retry') {
      if (this.#lastSent.get(d.key) === d.event.object) this.#lastSent.delete(d.key)
      // A new incarnation may be waiting for its upsert.
      if (this.#source.store.getByKey(d.key) !== undefined) this.queue.add(d.key)
    }
    if (d.releases) {
      if (action === 'retry') this.queue.addRateLimited(d.key)
      else this.queue.forget(d.key)
      this.queue.done(d.key)
    }
    if (action === 'stop') this.end(new ResourceStreamStoppedError(this.#source.id, d.event.key, err))
  }
}

// ---------------------------------------------------------------------------------------
// The async iterable

/**
 * One subscriber's stream of events (what {@link Resource.events} returns): an async
 * iterable, plus what it is waiting for.
 *
 * Ending: the stream completes (`for await` exits) when its signal aborts or a loop over
 * it `break`s; events not yet taken are dropped, `done` of events already taken is then
 * ignored, and the subscription is released (the watch stops with its last consumer). It
 * throws {@link ResourceStreamStoppedError} when the error handler answered `'stop'`.
 *
 * Several loops over one stream share its events (like goroutines reading one channel);
 * for a full stream each, call `events()` again.
 */
export class ResourceEventStream<T extends KubeObject = KubeObject> implements AsyncIterable<ResourceEvent<T>> {
  readonly #core: KeyStream<T>

  /** @internal Made by `Resource.events`. */
  constructor(core: KeyStream<T>) {
    this.#core = core
  }

  /** Keys (`namespace/name`; `''` for sync) handed out whose `done` has not been called. */
  get inFlight(): string[] {
    return this.#core.inFlight
  }

  /** Keys whose event has waited for `done` longer than the done timeout. */
  get overdue(): string[] {
    return this.#core.overdue
  }

  /** Warnings logged so far about events left without `done`. */
  get overdueWarnings(): number {
    return this.#core.overdueWarnings
  }

  /** Whether the stream has ended (aborted, broken out of, or stopped). */
  get closed(): boolean {
    return this.#core.ended
  }

  /**
   * The next event; `undefined` once the stream has ended normally. Rejects with
   * {@link ResourceStreamStoppedError} if the error handler stopped it.
   */
  async next(): Promise<ResourceEvent<T> | undefined> {
    const core = this.#core
    const queue = core.queue
    for (;;) {
      if (core.ended) {
        if (core.failure) throw core.failure
        return undefined
      }
      const key = queue.tryGet() ?? (await queue.get())
      if (key === undefined) {
        // Shut down: the stream has ended (only `end` shuts the queue down).
        if (core.ended) continue
        return undefined
      }
      if (core.ended) {
        queue.done(key)
        continue
      }
      const d = core.open(key, true)
      if (d !== undefined) return d.event
      queue.forget(key)
      queue.done(key)
    }
  }

  /** Ends the stream (as its signal aborting does). */
  close(): void {
    this.#core.end()
  }

  /** Iterates the events (`for await`); leaving the loop early ends the stream. */
  [Symbol.asyncIterator](): AsyncIterator<ResourceEvent<T>> {
    return pullIterator(this)
  }
}

// ---------------------------------------------------------------------------------------
// The resource

/**
 * A Kubernetes collection seen as streams of events or a read-only store — cilium's
 * `Resource[T]` on kubevisor's shared informers.
 *
 * When to use: for consumers that want "the latest state of each object, one key at a
 * time, acknowledged" — retries and rate limiting included — rather than every change.
 * Each `events()` call is its own subscriber with its own queue and pace; all share one
 * watch and one store.
 *
 * Lazy: nothing is watched until the first `events()` or `store()`; the watch stops when
 * the last stream and store user are gone (their signals aborted).
 *
 * Gotchas: call `done` for every event, or that key is blocked for this stream (a warning
 * names it after `doneTimeoutMs`, again at doubling intervals — the key stays blocked, as
 * in cilium). Objects are shared with the store and every other consumer: do not mutate
 * them. A consumer loop is plain code; to run it under a supervisor (restarted on a
 * crash, its un-done keys re-emitted, drained on stop) use `streamWorker`.
 *
 * @example
 * ```ts
 * const pods = resource<Plain<V1Pod>>(informers, { apiVersion: 'v1', kind: 'Pod', namespace: 'default' })
 * for await (const event of pods.events(signal, { errorHandler: retryUpTo(5) })) {
 *   try {
 *     if (event.kind === 'upsert') await ensureRoute(event.object)
 *     else if (event.kind === 'delete') await removeRoute(event.key)
 *     else markReady()                      // sync: every existing pod was upserted
 *     event.done()
 *   } catch (err) {
 *     event.done(err)                       // retried with backoff (latest state of the key)
 *   }
 * }
 * ```
 */
export class Resource<T extends KubeObject = KubeObject> {
  /** Where its events come from: the shared informer of its target. */
  readonly source: ResourceSource<T>
  readonly #logger: Logger
  readonly #clock: Clock
  readonly #doneTimeoutMs: number
  readonly #streams = new Set<KeyStream<T>>()

  constructor(source: ResourceSource<T>, options: ResourceOptions = {}) {
    this.source = source
    this.#logger = options.logger ?? defaultLogger()
    this.#clock = options.clock ?? systemClock
    this.#doneTimeoutMs = options.doneTimeoutMs ?? DEFAULT_DONE_TIMEOUT_MS
    if (!(this.#doneTimeoutMs > 0)) throw new RangeError(`doneTimeoutMs must be > 0, got ${this.#doneTimeoutMs}`)
  }

  /** Live streams (events() calls not yet ended). */
  get streams(): number {
    return this.#streams.size
  }

  /**
   * A new subscriber: first an `upsert` per existing object, then one `sync`, then live
   * changes, as events to acknowledge with `done(err?)` (see {@link ResourceEvent}).
   * Starts the watch if it is not running. The stream ends when `signal` aborts.
   */
  events(signal: AbortSignal, options: EventsOptions = {}): ResourceEventStream<T> {
    const core = this.openKeyStream(options)
    if (signal.aborted) core.end()
    else {
      const onAbort = () => core.end()
      signal.addEventListener('abort', onAbort, { once: true })
      core.onEnd(() => signal.removeEventListener('abort', onAbort))
    }
    return new ResourceEventStream(core)
  }

  /** @internal A subscriber's core (for `events()` and `streamWorker`). */
  openKeyStream(options: EventsOptions = {}): KeyStream<T> {
    const core = new KeyStream<T>(this.source, options, { clock: this.#clock, doneTimeoutMs: this.#doneTimeoutMs, logger: this.#logger })
    this.#streams.add(core)
    core.onEnd(() => this.#streams.delete(core))
    return core
  }

  /**
   * The read-only store, once it has synced. Starts the watch if needed and keeps it
   * running until `signal` aborts: the signal bounds both the wait and the use of the
   * store. Rejects with the signal's reason if it aborts before the store synced.
   */
  async store(signal: AbortSignal): Promise<Store<T>> {
    signal.throwIfAborted()
    const source = this.source
    source.hold()
    let held = true
    const release = () => {
      if (!held) return
      held = false
      source.release()
    }
    signal.addEventListener('abort', release, { once: true })
    try {
      while (!source.store.hasSynced) {
        await new Promise<void>((resolve, reject) => {
          const onAbort = () => reject(signal.reason)
          signal.addEventListener('abort', onAbort, { once: true })
          source.store.synced.then(() => {
            signal.removeEventListener('abort', onAbort)
            resolve()
          })
        })
      }
    } catch (err) {
      release()
      throw err
    }
    return source.store
  }
}

/**
 * A {@link Resource} on `factory`'s shared informer for `target` (shared with every other
 * consumer of an equal target). `indexers` apply if this call creates the informer.
 *
 * @example
 * ```ts
 * const informers = new InformerFactory({ kubeConfig })
 * const configMaps = resource(informers, { apiVersion: 'v1', kind: 'ConfigMap' }, { logger })
 * ```
 */
export function resource<T extends KubeObject = KubeObject>(factory: InformerFactory, target: InformerTarget, options: ResourceOptions & InformerOptions<T> = {}): Resource<T> {
  const { indexers, ...rest } = options
  return new Resource<T>(factory.informer<T>(target, indexers ? { indexers } : {}), { logger: factory.logger, ...rest })
}
