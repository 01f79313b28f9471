/**
 * The delaying queue: a {@link WorkQueue} whose keys can be added after a delay
 * (`k8s.io/client-go/util/workqueue/delaying_queue.go`).
 */
import { type Clock, systemClock, type TimerHandle } from '../time/clock.ts'
import type { CounterMetric } from './metrics.ts'
import { WorkQueue, type WorkQueueOptions } from './queue.ts'

/** A key waiting for its time; `index` is its slot in the heap. */
interface Waiting<K> {
  key: K
  readyAt: number
  /** Insertion order, to keep equal ready times first-in first-out. */
  seq: number
  index: number
}

/**
 * A {@link WorkQueue} with `addAfter(key, ms)`: the key is added once `ms` have passed on
 * the injected clock.
 *
 * When to use: to requeue a key later ("check again in 30 s"), or as the base of a
 * rate-limited retry (see `RateLimitingQueue`).
 *
 * Semantics: a key already waiting keeps one entry; the earliest ready time wins (client-go
 * `insert`: "if the entry is already in our queue, only update its time if it's earlier").
 * Keys with equal ready times are added in the order they were scheduled. One timer serves
 * the whole queue: it is set for the earliest entry of a min-heap. `ms <= 0` adds at once.
 *
 * Gotchas: after `shutDown`, `addAfter` does nothing and keys still waiting are dropped
 * (client-go stops its waiting loop the same way). A pending delay keeps a Node process
 * alive, as any timer does, until it fires or the queue is shut down.
 *
 * @example
 * ```ts
 * const queue = new DelayingQueue<string>()
 * queue.addAfter('default/web', 30_000)   // handed to a worker in about 30 s
 * ```
 */
export class DelayingQueue<K = string> extends WorkQueue<K> {
  readonly #clock: Clock
  /**
   * Keys waiting for their time, as a binary min-heap on (`readyAt`, `seq`). Invariant:
   * each key appears at most once, and `#waitingByKey` maps exactly these keys to their
   * entries.
   */
  #heap: Waiting<K>[] = []
  readonly #waitingByKey = new Map<K, Waiting<K>>()
  #seq = 0
  /** The one timer, set for `#timerAt` = the heap's earliest `readyAt`; `undefined` if none. */
  #timer: TimerHandle | undefined
  #timerAt = Number.POSITIVE_INFINITY
  readonly #retries: CounterMetric | undefined

  constructor(options: WorkQueueOptions = {}) {
    super(options)
    this.#clock = options.clock ?? systemClock
    this.#retries = options.metrics?.newRetriesMetric(this.name)
  }

  /** `addAfter` calls so far (retries and requeue-afters), for introspection; client-go's `workqueue_retries_total`. */
  retriesTotal = 0

  /** Number of keys waiting for their delay to pass (not yet in the queue). */
  get waiting(): number {
    return this.#heap.length
  }

  /**
   * Adds `key` after `ms` milliseconds; at once when `ms <= 0`. If the key is already
   * waiting, the earlier of the two ready times is kept. Ignored after shut down. Counts as
   * a retry in the metrics (`workqueue_retries_total`), as in client-go.
   */
  addAfter(key: K, ms: number): void {
    if (this.shuttingDown) return
    this.#retries?.inc()
    this.retriesTotal++
    if (!(ms > 0)) {
      this.add(key)
      return
    }
    const readyAt = this.#clock.now() + ms
    const existing = this.#waitingByKey.get(key)
    if (existing !== undefined) {
      if (readyAt >= existing.readyAt) return
      existing.readyAt = readyAt
      this.#siftUp(existing.index)
    } else {
      const entry: Waiting<K> = { key, readyAt, seq: this.#seq++, index: this.#heap.length }
      this.#heap.push(entry)
      this.#waitingByKey.set(key, entry)
      this.#siftUp(entry.index)
    }
    this.#arm()
  }

  /** Shuts down (see {@link WorkQueue.shutDown}), cancels the timer and drops waiting keys. */
  override shutDown(): void {
    if (this.#timer !== undefined) {
      this.#clock.clearTimeout(this.#timer)
      this.#timer = undefined
      this.#timerAt = Number.POSITIVE_INFINITY
    }
    this.#heap = []
    this.#waitingByKey.clear()
    super.shutDown()
  }

  /** Sets the timer for the earliest entry, unless it is already set that early. */
  #arm(): void {
    const top = this.#heap[0]
    if (top === undefined || top.readyAt >= this.#timerAt) return
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer)
    this.#timerAt = top.readyAt
    this.#timer = this.#clock.setTimeout(this.#fire, top.readyAt - this.#clock.now())
  }

  /** Adds every key whose time has come, then re-arms for the next one. */
  readonly #fire = (): void => {
    this.#timer = undefined
    this.#timerAt = Number.POSITIVE_INFINITY
    const now = this.#clock.now()
    const heap = this.#heap
    for (let top = heap[0]; top !== undefined && top.readyAt <= now; top = heap[0]) {
      this.#popTop()
      this.#waitingByKey.delete(top.key)
      this.add(top.key)
    }
    this.#arm()
  }

  #less(a: Waiting<K>, b: Waiting<K>): boolean {
    return a.readyAt < b.readyAt || (a.readyAt === b.readyAt && a.seq < b.seq)
  }

  #popTop(): void {
    const heap = this.#heap
    const last = heap.pop()!
    if (heap.length === 0) return
    heap[0] = last
    last.index = 0
    this.#siftDown(0)
  }

  #siftUp(i: number): void {
    const heap = this.#heap
    const entry = heap[i]!
    while (i > 0) {
      const parentIndex = (i - 1) >> 1
      const parent = heap[parentIndex]!
      if (!this.#less(entry, parent)) break
      heap[i] = parent
      parent.index = i
      i = parentIndex
    }
    heap[i] = entry
    entry.index = i
  }

  #siftDown(i: number): void {
    const heap = this.#heap
    const n = heap.length
    const entry = heap[i]!
    for (;;) {
      const left = 2 * i + 1
      if (left >= n) break
      const right = left + 1
      let child = left
      if (right < n && this.#less(heap[right]!, heap[left]!)) child = right
      const smaller = heap[child]!
      if (!this.#less(smaller, entry)) break
      heap[i] = smaller
      smaller.index = i
      i = child
    }
    heap[i] = entry
    entry.index = i
  }
}
