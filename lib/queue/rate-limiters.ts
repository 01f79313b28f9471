/**
 * Rate limiters for retries: how long a key waits before it is retried
 * (`k8s.io/client-go/util/workqueue/default_rate_limiters.go`). The defaults are
 * client-go's, in number.
 */
import { type Clock, systemClock } from '../time/clock.ts'

/**
 * Decides how long a key waits before its next retry (client-go `RateLimiter`). Implement
 * it to plug in your own policy; `RateLimitingQueue` only calls these three methods.
 */
export interface RateLimiter<K = unknown> {
  /** The delay in ms before `key` is retried; records one more failure of `key`. */
  when(key: K): number
  /** Stops tracking `key` (it succeeded, or retrying it was given up). */
  forget(key: K): void
  /** How many failures of `key` are being tracked. */
  numRequeues(key: K): number
}

/** client-go `DefaultControllerRateLimiter`: per-item base delay, 5 ms. */
export const DEFAULT_ITEM_BASE_DELAY_MS = 5
/** client-go `DefaultControllerRateLimiter`: per-item maximum delay, 1000 s. */
export const DEFAULT_ITEM_MAX_DELAY_MS = 1_000_000
/** client-go `DefaultControllerRateLimiter`: overall bucket refill rate, 10 per second. */
export const DEFAULT_BUCKET_QPS = 10
/** client-go `DefaultControllerRateLimiter`: overall bucket size, 100. */
export const DEFAULT_BUCKET_BURST = 100

/**
 * Per-key exponential backoff: the n-th failure of a key (from 0) waits
 * `baseDelayMs × 2ⁿ`, capped at `maxDelayMs` (client-go
 * `ItemExponentialFailureRateLimiter`). Defaults: 5 ms → 1000 s, as in
 * `DefaultControllerRateLimiter`; the cap is reached at the 19th failure.
 *
 * Gotcha: failures are counted until `forget(key)`; call it when the key succeeds, or the
 * next failure (even days later) continues from the long delay.
 *
 * @example
 * ```ts
 * const limiter = new ItemExponentialFailureRateLimiter<string>(5, 1_000_000)
 * limiter.when('a') // 5
 * limiter.when('a') // 10
 * limiter.forget('a')
 * ```
 */
export class ItemExponentialFailureRateLimiter<K = unknown> implements RateLimiter<K> {
  /** Delay after the first failure of a key (default 5 ms). */
  readonly baseDelayMs: number
  /** Cap on a key's delay (default 1 000 000 ms = 1000 s). */
  readonly maxDelayMs: number
  readonly #failures = new Map<K, number>()

  constructor(baseDelayMs = DEFAULT_ITEM_BASE_DELAY_MS, maxDelayMs = DEFAULT_ITEM_MAX_DELAY_MS) {
    if (!(baseDelayMs >= 0)) throw new RangeError(`baseDelayMs must be ≥ 0, got ${baseDelayMs}`)
    if (!(maxDelayMs >= 0)) throw new RangeError(`maxDelayMs must be ≥ 0, got ${maxDelayMs}`)
    this.baseDelayMs = baseDelayMs
    this.maxDelayMs = maxDelayMs
  }

  when(key: K): number {
    const exp = this.#failures.get(key) ?? 0
    this.#failures.set(key, exp + 1)
    if (this.baseDelayMs === 0) return 0 // (0 × 2ⁿ would be NaN once 2ⁿ is Infinity)
    // 2 ** exp grows to Infinity rather than overflowing; the cap takes it.
    return Math.min(this.baseDelayMs * 2 ** exp, this.maxDelayMs)
  }

  forget(key: K): void {
    this.#failures.delete(key)
  }

  numRequeues(key: K): number {
    return this.#failures.get(key) ?? 0
  }
}

/**
 * Per-key fast then slow: the first `maxFastAttempts` failures of a key wait `fastDelayMs`,
 * later ones `slowDelayMs` (client-go `ItemFastSlowRateLimiter`).
 *
 * @example
 * ```ts
 * const limiter = new ItemFastSlowRateLimiter<string>(100, 10_000, 3) // 100, 100, 100, 10 000, …
 * ```
 */
export class ItemFastSlowRateLimiter<K = unknown> implements RateLimiter<K> {
  /** Delay for a key's first `maxFastAttempts` failures. */
  readonly fastDelayMs: number
  /** Delay for every later failure. */
  readonly slowDelayMs: number
  /** How many failures get the fast delay. */
  readonly maxFastAttempts: number
  readonly #failures = new Map<K, number>()

  constructor(fastDelayMs: number, slowDelayMs: number, maxFastAttempts: number) {
    this.fastDelayMs = fastDelayMs
    this.slowDelayMs = slowDelayMs
    this.maxFastAttempts = maxFastAttempts
  }

  when(key: K): number {
    const failures = (this.#failures.get(key) ?? 0) + 1
    this.#failures.set(key, failures)
    return failures <= this.maxFastAttempts ? this.fastDelayMs : this.slowDelayMs
  }

  forget(key: K): void {
    this.#failures.delete(key)
  }

  numRequeues(key: K): number {
    return this.#failures.get(key) ?? 0
  }
}

/** Options of a {@link BucketRateLimiter}. */
export interface BucketRateLimiterOptions {
  /** Tokens added per second; default 10 (client-go's default controller limiter). */
  qps?: number
  /** Bucket size, which is also how many retries may go at once; default 100. */
  burst?: number
  /** Time source; default {@link systemClock}. */
  clock?: Clock
}

/**
 * An overall token bucket shared by all keys (client-go `BucketRateLimiter` over
 * `golang.org/x/time/rate`): the bucket starts full with `burst` tokens and refills at
 * `qps` per second; each `when` takes a token, and when none is left it reserves the next
 * one and returns how long until it exists. Defaults: 10 qps, burst 100.
 *
 * It does not track keys: `numRequeues` is 0 and `forget` does nothing, as in client-go.
 *
 * @example
 * ```ts
 * const bucket = new BucketRateLimiter({ qps: 10, burst: 100, clock })
 * // 100 calls return 0, the 101st returns 100 (ms), the 102nd 200, …
 * ```
 */
export class BucketRateLimiter implements RateLimiter<unknown> {
  /** Tokens added per second (default 10). */
  readonly qps: number
  /** Bucket size: how many adds may go at once (default 100). */
  readonly burst: number
  readonly #clock: Clock
  #tokens: number
  #last: number

  constructor(options: BucketRateLimiterOptions = {}) {
    const { qps = DEFAULT_BUCKET_QPS, burst = DEFAULT_BUCKET_BURST, clock = systemClock } = options
    if (!(qps > 0)) throw new RangeError(`qps must be > 0, got ${qps}`)
    if (!(burst >= 1)) throw new RangeError(`burst must be ≥ 1, got ${burst}`)
    this.qps = qps
    this.burst = burst
    this.#clock = clock
    this.#tokens = burst
    this.#last = clock.now()
  }

  when(_key: unknown): number {
    if (this.qps === Number.POSITIVE_INFINITY) return 0
    const now = this.#clock.now()
    if (now > this.#last) {
      this.#tokens = Math.min(this.burst, this.#tokens + ((now - this.#last) / 1000) * this.qps)
      this.#last = now
    }
    this.#tokens -= 1
    return this.#tokens >= 0 ? 0 : (-this.#tokens / this.qps) * 1000
  }

  forget(_key: unknown): void {}

  numRequeues(_key: unknown): number {
    return 0
  }
}

/**
 * The worst case of several limiters: `when` asks every limiter (each records the failure)
 * and returns the longest delay; `numRequeues` is the largest count; `forget` forgets in
 * all (client-go `MaxOfRateLimiter`).
 *
 * Gotcha (from client-go): with a token bucket inside, the bucket's burst can appear to be
 * exceeded when some keys were separately delayed longer by another limiter.
 *
 * @example
 * ```ts
 * const limiter = new MaxOfRateLimiter(new ItemExponentialFailureRateLimiter(), new BucketRateLimiter())
 * ```
 */
export class MaxOfRateLimiter<K = unknown> implements RateLimiter<K> {
  /** The limiters asked; each answer is the largest of theirs. */
  readonly limiters: readonly RateLimiter<K>[]

  constructor(...limiters: RateLimiter<K>[]) {
    this.limiters = limiters
  }

  when(key: K): number {
    let max = 0
    for (const limiter of this.limiters) {
      const delay = limiter.when(key)
      if (delay > max) max = delay
    }
    return max
  }

  forget(key: K): void {
    for (const limiter of this.limiters) limiter.forget(key)
  }

  numRequeues(key: K): number {
    let max = 0
    for (const limiter of this.limiters) {
      const n = limiter.numRequeues(key)
      if (n > max) max = n
    }
    return max
  }
}

/**
 * client-go's `DefaultControllerRateLimiter` (`DefaultTypedControllerRateLimiter`): the max
 * of a per-key exponential backoff from 5 ms to 1000 s and an overall bucket of 10 qps with
 * a burst of 100. The default of `RateLimitingQueue`.
 *
 * @example
 * ```ts
 * const queue = new RateLimitingQueue<string>({ rateLimiter: defaultControllerRateLimiter(clock) })
 * ```
 */
export function defaultControllerRateLimiter<K = unknown>(clock: Clock = systemClock): RateLimiter<K> {
  return new MaxOfRateLimiter<K>(
    new ItemExponentialFailureRateLimiter<K>(DEFAULT_ITEM_BASE_DELAY_MS, DEFAULT_ITEM_MAX_DELAY_MS),
    new BucketRateLimiter({ qps: DEFAULT_BUCKET_QPS, burst: DEFAULT_BUCKET_BURST, clock }),
  )
}
