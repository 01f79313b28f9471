/**
 * The work queue: fair (FIFO) and stingy, with client-go's guarantees
 * (`k8s.io/client-go/util/workqueue/queue.go`). The delaying and rate-limiting queues
 * extend it.
 */
import { KubevisorError } from '../errors.ts'
import { type Clock, systemClock, type TimerHandle } from '../time/clock.ts'
import { QueueMetrics, type QueueMetricsProvider, UNFINISHED_WORK_UPDATE_PERIOD_MS, unrefTimer } from './metrics.ts'

/** Options of a {@link WorkQueue}; the delaying and rate-limiting queues add their own. */
export interface WorkQueueOptions {
  /**
   * The queue's name: the `name` label of its metrics. Required when `metrics` is set
   * (client-go silently drops metrics of unnamed queues; here that is an error).
   */
  name?: string
  /** Time source for metrics and delays; default {@link systemClock}. */
  clock?: Clock
  /** Metrics provider; default none (metrics off, no cost). See `prometheusQueueMetrics`. */
  metrics?: QueueMetricsProvider
}

/**
 * `shutDownWithDrain` ran out of time: some keys were still being processed (or still
 * queued with no worker to take them). `inFlight` names the keys handed out by `get` and
 * not yet `done`; `queued` counts keys still waiting.
 */
export class QueueDrainTimeoutError extends KubevisorError {
  /** Keys handed to workers whose `done` had not been called when the timeout expired. */
  readonly inFlight: readonly unknown[]
  /** Keys still queued when the timeout expired. */
  readonly queued: number

  constructor(name: string, timeoutMs: number, inFlight: readonly unknown[], queued: number) {
    const shown = inFlight.slice(0, 20).map((k) => (typeof k === 'string' ? JSON.stringify(k) : String(k)))
    const more = inFlight.length > shown.length ? `, … (${inFlight.length} in all)` : ''
    super(
      'ERR_QUEUE_DRAIN_TIMEOUT',
      `work queue${name ? ` "${name}"` : ''} did not drain within ${timeoutMs} ms: ` +
        `${inFlight.length} key(s) in flight [${shown.join(', ')}${more}], ${queued} still queued`,
    )
    this.inFlight = inFlight
    this.queued = queued
  }
}

/**
 * A FIFO ring buffer that doubles when full and halves when a quarter full (above 1024
 * slots); `shift` clears the slot so keys can be collected. Internal to the queue.
 */
class Fifo<T> {
  #items: (T | undefined)[] = new Array(16)
  #mask = 15
  #head = 0
  #size = 0

  get size(): number {
    return this.#size
  }

  push(item: T): void {
    if (this.#size > this.#mask) this.#grow()
    this.#items[(this.#head + this.#size) & this.#mask] = item
    this.#size++
  }

  /** Removes and returns the oldest item; the caller checks `size > 0` first. */
  shift(): T {
    const i = this.#head
    const item = this.#items[i] as T
    this.#items[i] = undefined
    this.#head = (i + 1) & this.#mask
    this.#size--
    // Give memory back after a burst: halve when a quarter full (amortized O(1)).
    if (this.#mask > 1023 && this.#size <= this.#mask >> 2) this.#resize((this.#mask + 1) >> 1)
    return item
  }

  #grow(): void {
    this.#resize((this.#mask + 1) * 2)
  }

  #resize(capacity: number): void {
    const old = this.#items
    const next: (T | undefined)[] = new Array(capacity)
    for (let i = 0; i < this.#size; i++) next[i] = old[(this.#head + i) & this.#mask]
    this.#items = next
    this.#mask = capacity - 1
    this.#head = 0
  }
}

interface Drain {
  resolve: () => void
  timer: TimerHandle
}

/**
 * A work queue of keys with client-go's guarantees: fair (keys are handed out in the
 * order they became pending), stingy (a key is never handed to two workers at once, and
 * adding a key that is already waiting does nothing) and never forgetful (a key added
 * while it is being processed is processed once more after `done`).
 *
 * When to use: to decouple event producers (watch callbacks) from reconcile workers, so a
 * burst of events for one object becomes one reconcile of its latest state. Keys are
 * usually `namespace/name` strings; any value usable as a `Map` key works except
 * `undefined` (it means "no key" from `get`/`tryGet`).
 *
 * Gotchas: every key handed out by `get`/`tryGet` must be given back with `done(key)`,
 * or it is never handed out again. `shutDown` does not drop queued keys: workers keep
 * receiving them until the queue is empty, then `get` resolves `undefined`.
 *
 * @example
 * ```ts
 * const queue = new WorkQueue<string>()
 * informer.on('event', (obj) => queue.add(`${obj.metadata.namespace}/${obj.metadata.name}`))
 * for (let i = 0; i < 4; i++) queue.worker(async (key) => reconcile(key))
 * // later
 * await queue.shutDownWithDrain(30_000)
 * ```
 */
export class WorkQueue<K = string> {
  /** The queue's name (the `name` label of its metrics); `''` when unnamed. */
  readonly name: string

  /**
   * The order in which keys will be handed out. Invariant: every key in `#queue` is in
   * `#dirty` and not in `#processing`, and appears in `#queue` exactly once.
   */
  readonly #queue = new Fifo<K>()

  /**
   * Every key that needs processing: added and not yet handed out since. Invariant: a key
   * is added to `#queue` only when it enters `#dirty` while not in `#processing`, or when
   * its processing ends (`done`) while it is in `#dirty`; so adds of a dirty key collapse
   * into one processing ("dedup"), and an add during processing is never lost.
   * The value is when the key became dirty, on the queue's clock, when metrics are on (the
   * queue-duration metric); 0 otherwise.
   */
  readonly #dirty = new Map<K, number>()

  /**
   * Keys handed out by `get`/`tryGet` whose `done` has not been called. Invariant: a key in
   * `#processing` is never in `#queue`, so it is never handed to a second worker ("stingy").
   * It may be in `#dirty` at the same time: then `done` queues it again.
   * The value is when it was handed out, when metrics are on (work duration, unfinished
   * work); 0 otherwise.
   */
  readonly #processing = new Map<K, number>()

  /**
   * Workers suspended in `get()`, oldest first. Invariant: non-empty only while `#queue` is
   * empty and the queue is not shut down — a key arriving is handed straight to the
   * oldest waiter.
   */
  readonly #waiters = new Fifo<(key: K | undefined) => void>()

  /** Pending `shutDownWithDrain` calls, resolved once `#queue` and `#processing` are empty. */
  readonly #drains = new Set<Drain>()

  #shuttingDown = false
  readonly #clock: Clock
  /** Metrics bookkeeping; `undefined` when metrics are off (the default). */
  readonly #metrics: QueueMetrics | undefined
  #metricsTimer: TimerHandle | undefined

  constructor(options: WorkQueueOptions = {}) {
    this.name = options.name ?? ''
    this.#clock = options.clock ?? systemClock
    if (options.metrics) {
      if (!this.name) throw new TypeError('WorkQueue: metrics need a queue name (options.name) for their `name` label')
      this.#metrics = new QueueMetrics(options.metrics, this.name)
      this.#scheduleMetricsTick()
    }
  }

  /** Keys accepted by `add` so far (dedup'd adds not counted), for introspection; client-go's `workqueue_adds_total`. */
  addsTotal = 0

  /** Keys handed out and not yet `done`. */
  get processing(): number {
    return this.#processing.size
  }

  /** Number of keys waiting to be handed out (not counting keys being processed). */
  get len(): number {
    return this.#queue.size
  }

  /** Whether `shutDown` or `shutDownWithDrain` was called; adds are refused from then on. */
  get shuttingDown(): boolean {
    return this.#shuttingDown
  }

  /**
   * Marks `key` as needing processing. Does nothing if the key is already waiting (dedup),
   * or after shut down. If the key is being processed, it is queued again when its
   * processing ends.
   */
  add(key: K): void {
    if (this.#shuttingDown) return
    const dirty = this.#dirty
    if (dirty.has(key)) return
    if (key === undefined) throw new TypeError('WorkQueue: undefined is not a valid key')
    const metrics = this.#metrics
    if (metrics === undefined) dirty.set(key, 0)
    else {
      metrics.add()
      dirty.set(key, this.#clock.now())
    }
    this.addsTotal++
    if (this.#processing.has(key)) return
    if (this.#waiters.size > 0) this.#waiters.shift()(this.#take(key))
    else this.#queue.push(key)
  }

  /**
   * Takes the next key without waiting, or `undefined` if none is queued. The caller owns
   * the key until it calls `done(key)`. The synchronous fast path for workers that drain
   * several keys per turn.
   */
  tryGet(): K | undefined {
    return this.#queue.size > 0 ? this.#take(this.#queue.shift()) : undefined
  }

  /**
   * Waits for the next key. Resolves `undefined` once the queue is shut down and has no
   * queued key left: the worker should then stop. The caller owns the key until it calls
   * `done(key)`. Waiting workers are served in the order they called `get`.
   */
  get(): Promise<K | undefined> {
    if (this.#queue.size > 0) return Promise.resolve(this.#take(this.#queue.shift()))
    if (this.#shuttingDown) return Promise.resolve(undefined)
    return new Promise<K | undefined>((resolve) => this.#waiters.push(resolve))
  }

  /**
   * Marks the processing of `key` as finished. If the key was added again meanwhile, it is
   * queued again (at the back). A key that is not being processed is ignored.
   */
  done(key: K): void {
    const metrics = this.#metrics
    if (metrics === undefined) {
      if (!this.#processing.delete(key)) return
    } else {
      const startedAt = this.#processing.get(key)
      if (startedAt === undefined) return
      this.#processing.delete(key)
      metrics.done(startedAt, this.#clock.now())
    }
    if (this.#dirty.has(key)) {
      if (this.#waiters.size > 0) this.#waiters.shift()(this.#take(key))
      else this.#queue.push(key)
    } else if (this.#drains.size > 0 && this.#processing.size === 0 && this.#queue.size === 0) {
      this.#resolveDrains()
    }
  }

  /**
   * Refuses further adds; workers keep receiving what is queued, then `get` resolves
   * `undefined`. Keys in flight may still be `done` (a key added during its processing is
   * queued once more). Also ends any pending `shutDownWithDrain` early, as client-go's
   * `ShutDown` does. Idempotent.
   */
  shutDown(): void {
    this.#shuttingDown = true
    if (this.#metricsTimer !== undefined) {
      this.#clock.clearTimeout(this.#metricsTimer)
      this.#metricsTimer = undefined
    }
    // Waiters exist only while the queue is empty: tell them to stop.
    while (this.#waiters.size > 0) this.#waiters.shift()(undefined)
    this.#resolveDrains()
  }

  /**
   * Shuts down (see `shutDown`) and waits until every queued key has been handed out and
   * every key in flight is `done`. Rejects with {@link QueueDrainTimeoutError}, naming the
   * keys still in flight, if that takes longer than `timeoutMs` on the queue's clock.
   *
   * Differs from client-go's `ShutDownWithDrain`, which waits for the processing set only:
   * here the queued keys count too, since a worker between `done` and its next `get` would
   * otherwise let the drain finish with work left.
   */
  shutDownWithDrain(timeoutMs: number): Promise<void> {
    this.shutDown()
    if (this.#processing.size === 0 && this.#queue.size === 0) return Promise.resolve()
    return new Promise<void>((resolve, reject) => {
      const drain: Drain = {
        resolve,
        timer: this.#clock.setTimeout(() => {
          this.#drains.delete(drain)
          reject(new QueueDrainTimeoutError(this.name, timeoutMs, [...this.#processing.keys()], this.#queue.size))
        }, timeoutMs),
      }
      this.#drains.add(drain)
    })
  }

  /**
   * Runs a worker loop: takes keys (synchronously while some are queued), awaits
   * `fn(key)`, calls `done(key)`, until the queue is shut down and empty. Start several
   * for concurrency; a key is still never handed to two of them at once.
   *
   * Gotcha: `fn` should handle its own errors (e.g. `addRateLimited` on failure). If it
   * throws, the key is marked done and the returned promise rejects: that worker stops.
   */
  async worker(fn: (key: K) => unknown): Promise<void> {
    for (;;) {
      let key = this.tryGet()
      if (key === undefined) {
        key = await this.get()
        if (key === undefined) return
      }
      try {
        await fn(key)
      } finally {
        this.done(key)
      }
    }
  }

  /** Moves a key (just removed from `#queue`, or about to skip it) into processing. */
  #take(key: K): K {
    const metrics = this.#metrics
    if (metrics === undefined) this.#processing.set(key, 0)
    else {
      const now = this.#clock.now()
      metrics.get(this.#dirty.get(key)!, now)
      this.#processing.set(key, now)
    }
    this.#dirty.delete(key)
    return key
  }

  #resolveDrains(): void {
    for (const drain of this.#drains) {
      this.#clock.clearTimeout(drain.timer)
      drain.resolve()
    }
    this.#drains.clear()
  }

  #scheduleMetricsTick(): void {
    this.#metricsTimer = this.#clock.setTimeout(() => {
      this.#metricsTimer = undefined
      if (this.#shuttingDown) return
      this.#metrics?.updateUnfinishedWork(this.#processing.values(), this.#clock.now())
      this.#scheduleMetricsTick()
    }, UNFINISHED_WORK_UPDATE_PERIOD_MS)
    unrefTimer(this.#metricsTimer)
  }
}
