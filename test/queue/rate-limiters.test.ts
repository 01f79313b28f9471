import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import {
  BucketRateLimiter,
  DEFAULT_BUCKET_BURST,
  DEFAULT_BUCKET_QPS,
  DEFAULT_ITEM_BASE_DELAY_MS,
  DEFAULT_ITEM_MAX_DELAY_MS,
  defaultControllerRateLimiter,
  ItemExponentialFailureRateLimiter,
  ItemFastSlowRateLimiter,
  MaxOfRateLimiter,
  type RateLimiter,
} from '../../lib/queue/index.ts'
import { FakeClock } from '../../lib/testing/fake-clock.ts'

const whens = <K>(limiter: RateLimiter<K>, key: K, n: number) => Array.from({ length: n }, () => limiter.when(key))

// The numbers of client-go `util/workqueue/default_rate_limiters.go`:
// DefaultControllerRateLimiter = MaxOf(ItemExponentialFailureRateLimiter(5ms, 1000s),
// BucketRateLimiter{rate.NewLimiter(rate.Limit(10), 100)}).
describe('client-go default numbers', () => {
  it('are 5 ms → 1000 s per item and 10 qps with a burst of 100 overall', () => {
    assert.equal(DEFAULT_ITEM_BASE_DELAY_MS, 5)
    assert.equal(DEFAULT_ITEM_MAX_DELAY_MS, 1000 * 1000)
    assert.equal(DEFAULT_BUCKET_QPS, 10)
    assert.equal(DEFAULT_BUCKET_BURST, 100)
  })

  it('defaultControllerRateLimiter is the max of both', () => {
    const limiter = defaultControllerRateLimiter<string>(new FakeClock())
    assert.ok(limiter instanceof MaxOfRateLimiter)
    const [exp, bucket] = limiter.limiters
    assert.ok(exp instanceof ItemExponentialFailureRateLimiter)
    assert.equal(exp.baseDelayMs, 5)
    assert.equal(exp.maxDelayMs, 1_000_000)
    assert.ok(bucket instanceof BucketRateLimiter)
    assert.equal(bucket.qps, 10)
    assert.equal(bucket.burst, 100)
  })

  it('defaultControllerRateLimiter: per-item backoff while the bucket has tokens, then the bucket', () => {
    const limiter = defaultControllerRateLimiter<string>(new FakeClock())
    assert.deepEqual(whens(limiter, 'a', 3), [5, 10, 20])
    assert.equal(limiter.numRequeues('a'), 3)
    // 3 tokens used by 'a'; 97 more first failures of other keys take the rest of the burst.
    for (let i = 0; i < 97; i++) assert.equal(limiter.when(`k${i}`), 5)
    assert.equal(limiter.when('fresh'), 100, 'bucket empty: 1 token per 100 ms at 10 qps')
    assert.equal(limiter.when('fresh2'), 200)
    limiter.forget('a')
    assert.equal(limiter.numRequeues('a'), 0)
  })
})

describe('ItemExponentialFailureRateLimiter', () => {
  // client-go default_rate_limiters_test.go TestItemExponentialFailureRateLimiter.
  it('doubles per failure of a key and starts over after forget', () => {
    const limiter = new ItemExponentialFailureRateLimiter<string>(1, 1000)
    assert.deepEqual(whens(limiter, 'one', 5), [1, 2, 4, 8, 16])
    assert.equal(limiter.numRequeues('one'), 5)
    assert.deepEqual(whens(limiter, 'two', 2), [1, 2])
    assert.equal(limiter.numRequeues('two'), 2)
    limiter.forget('one')
    assert.equal(limiter.numRequeues('one'), 0)
    assert.equal(limiter.when('one'), 1)
  })

  it('with the defaults: 5 ms × 2ⁿ, capped at 1000 s from the 19th failure', () => {
    const limiter = new ItemExponentialFailureRateLimiter<string>()
    const delays = whens(limiter, 'k', 21)
    const expected = Array.from({ length: 21 }, (_, n) => Math.min(5 * 2 ** n, 1_000_000))
    assert.deepEqual(delays, expected)
    assert.equal(delays[17], 655_360)
    assert.equal(delays[18], 1_000_000)
  })

  // client-go TestItemExponentialFailureRateLimiterOverFlow: huge failure counts stay capped.
  it('stays at the cap, never Infinity or NaN, after thousands of failures', () => {
    const limiter = new ItemExponentialFailureRateLimiter<string>(1, 1_000_000)
    const delays = whens(limiter, 'k', 2000)
    assert.equal(delays.at(-1), 1_000_000)
    assert.ok(delays.every(Number.isFinite))
    const huge = new ItemExponentialFailureRateLimiter<string>(1e300, 1e6)
    assert.deepEqual(whens(huge, 'k', 3), [1e6, 1e6, 1e6])
    const zero = new ItemExponentialFailureRateLimiter<string>(0, 1e6)
    assert.equal(whens(zero, 'k', 2000).at(-1), 0)
  })
})

describe('ItemFastSlowRateLimiter', () => {
  // client-go TestItemFastSlowRateLimiter: NewItemFastSlowRateLimiter(5ms, 10s, 3).
  it('is fast for maxFastAttempts failures, then slow', () => {
    const limiter = new ItemFastSlowRateLimiter<string>(5, 10_000, 3)
    assert.deepEqual(whens(limiter, 'one', 5), [5, 5, 5, 10_000, 10_000])
    assert.equal(limiter.numRequeues('one'), 5)
    assert.deepEqual(whens(limiter, 'two', 2), [5, 5])
    assert.equal(limiter.numRequeues('two'), 2)
    limiter.forget('one')
    assert.equal(limiter.numRequeues('one'), 0)
    assert.equal(limiter.when('one'), 5)
  })
})

describe('MaxOfRateLimiter', () => {
  // client-go TestMaxOfRateLimiter: MaxOf(FastSlow(5ms, 3s, 3), Exponential(1ms, 1s)).
  it('returns the worst delay and the largest requeue count, and forgets in all', () => {
    const limiter = new MaxOfRateLimiter<string>(
      new ItemFastSlowRateLimiter(5, 3000, 3),
      new ItemExponentialFailureRateLimiter(1, 1000),
    )
    assert.deepEqual(whens(limiter, 'one', 5), [5, 5, 5, 3000, 3000])
    assert.equal(limiter.numRequeues('one'), 5)
    assert.deepEqual(whens(limiter, 'two', 2), [5, 5])
    assert.equal(limiter.numRequeues('two'), 2)
    limiter.forget('one')
    assert.equal(limiter.numRequeues('one'), 0)
    assert.equal(limiter.when('one'), 5)
  })

  it('with no limiters never delays', () => {
    assert.equal(new MaxOfRateLimiter<string>().when('a'), 0)
  })
})

describe('BucketRateLimiter', () => {
  // golang.org/x/time/rate `Reserve().Delay()`: a full bucket of `burst` tokens, refilled at
  // `qps` per second; a reservation past the last token waits for its token.
  it('lets a burst through, then spaces calls 1/qps apart', () => {
    const clock = new FakeClock()
    const bucket = new BucketRateLimiter({ clock })
    assert.ok(whens(bucket, 'x', 100).every((d) => d === 0))
    assert.deepEqual(whens(bucket, 'x', 3), [100, 200, 300])
  })

  it('refills with time, up to the burst', async () => {
    const clock = new FakeClock()
    const bucket = new BucketRateLimiter({ qps: 10, burst: 5, clock })
    whens(bucket, 'x', 7) // 2 tokens owed
    await clock.advance(1000) // +10 tokens → 8, capped at 5
    assert.deepEqual(whens(bucket, 'x', 6), [0, 0, 0, 0, 0, 100])
    await clock.advance(60_000)
    assert.deepEqual(whens(bucket, 'x', 6), [0, 0, 0, 0, 0, 100], 'never more than the burst')
  })

  it('tracks no keys', () => {
    const bucket = new BucketRateLimiter({ clock: new FakeClock() })
    bucket.when('a')
    assert.equal(bucket.numRequeues('a'), 0)
    bucket.forget('a')
  })

  it('rejects a non-positive rate or a burst below one', () => {
    assert.throws(() => new BucketRateLimiter({ qps: 0 }), RangeError)
    assert.throws(() => new BucketRateLimiter({ burst: 0 }), RangeError)
  })
})
