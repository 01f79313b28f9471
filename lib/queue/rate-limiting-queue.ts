/**
 * The rate-limiting queue: a {@link DelayingQueue} whose retries wait as long as a
 * {@link RateLimiter} says (`k8s.io/client-go/util/workqueue/rate_limiting_queue.go`).
 */
import { systemClock } from '../time/clock.ts'
import { DelayingQueue } from './delaying-queue.ts'
import type { WorkQueueOptions } from './queue.ts'
import { defaultControllerRateLimiter, type RateLimiter } from './rate-limiters.ts'

/** Options of a {@link RateLimitingQueue}. */
export interface RateLimitingQueueOptions<K> extends WorkQueueOptions {
  /**
   * Decides retry delays; default {@link defaultControllerRateLimiter} on the queue's clock
   * (per key 5 ms → 1000 s, overall 10 qps burst 100, as client-go).
   */
  rateLimiter?: RateLimiter<K>
}

/**
 * A {@link DelayingQueue} with rate-limited retries: `addRateLimited(key)` adds the key
 * after the delay the rate limiter gives it, `forget(key)` clears its failure history,
 * `numRequeues(key)` reads it. The queue used by controllers.
 *
 * When to use: a worker's processing of a key failed and should be retried with backoff,
 * without a hot loop and without retries of many keys overwhelming the API server.
 *
 * Gotchas: call `forget(key)` when a key succeeds (or when you give up on it), otherwise
 * its next failure continues from the long delay. `forget` does not cancel a retry that is
 * already waiting. After shut down, `addRateLimited` does nothing and does not consult the
 * limiter.
 *
 * @example
 * ```ts
 * const queue = new RateLimitingQueue<string>({ name: 'pods' })
 * queue.worker(async (key) => {
 *   try {
 *     await reconcile(key)
 *     queue.forget(key)
 *   } catch (err) {
 *     if (queue.numRequeues(key) < 5) queue.addRateLimited(key)
 *     else queue.forget(key) // give up
 *   }
 * })
 * ```
 */
export class RateLimitingQueue<K = string> extends DelayingQueue<K> {
  /** The limiter deciding retry delays. */
  readonly rateLimiter: RateLimiter<K>

  constructor(options: RateLimitingQueueOptions<K> = {}) {
    super(options)
    this.rateLimiter = options.rateLimiter ?? defaultControllerRateLimiter<K>(options.clock ?? systemClock)
  }

  /** Adds `key` after the delay the rate limiter decides (recording one more failure). */
  addRateLimited(key: K): void {
    if (this.shuttingDown) return
    this.addAfter(key, this.rateLimiter.when(key))
  }

  /** Forgets the failures of `key` in the rate limiter; a waiting retry still happens. */
  forget(key: K): void {
    this.rateLimiter.forget(key)
  }

  /** How many times `key` was retried since it was last forgotten. */
  numRequeues(key: K): number {
    return this.rateLimiter.numRequeues(key)
  }
}
