import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { ItemExponentialFailureRateLimiter, type RateLimiter, RateLimitingQueue } from '../../lib/queue/index.ts'
import { FakeClock } from '../../lib/testing/fake-clock.ts'

// client-go `rate_limiting_queue.go` and `rate_limiting_queue_test.go` (TestRateLimitingQueue).
describe('RateLimitingQueue', () => {
  it('requeues with the limiter delay, growing per failure, and forget starts over', async () => {
    const clock = new FakeClock()
    const queue = new RateLimitingQueue<string>({ clock, rateLimiter: new ItemExponentialFailureRateLimiter(10, 1000) })
    const readyAfter = async (key: string): Promise<number> => {
      const start = clock.now()
      queue.addRateLimited(key)
      while (queue.len === 0) assert.ok(await clock.next(), 'a timer is pending')
      assert.equal(queue.tryGet(), key)
      queue.done(key)
      return clock.now() - start
    }
    assert.deepEqual([await readyAfter('a'), await readyAfter('a'), await readyAfter('a')], [10, 20, 40])
    assert.equal(queue.numRequeues('a'), 3)
    queue.forget('a')
    assert.equal(queue.numRequeues('a'), 0)
    assert.equal(await readyAfter('a'), 10)
  })

  it('uses the default controller limiter when none is given: 5 ms first', async () => {
    const clock = new FakeClock()
    const queue = new RateLimitingQueue<string>({ clock })
    queue.addRateLimited('a')
    assert.equal(clock.nextDue(), 5)
    queue.addRateLimited('b')
    queue.addRateLimited('b')
    assert.equal(queue.numRequeues('b'), 2)
    await clock.advance(5)
    assert.equal(queue.len, 2, "a, and b: its first entry (5 ms) wins over its second (10 ms)")
    assert.equal(queue.waiting, 0)
  })

  it('works with a user-supplied limiter through the RateLimiter interface', async () => {
    const calls: string[] = []
    const limiter: RateLimiter<string> = {
      when: (key) => {
        calls.push(`when ${key}`)
        return 42
      },
      forget: (key) => calls.push(`forget ${key}`),
      numRequeues: () => 7,
    }
    const clock = new FakeClock()
    const queue = new RateLimitingQueue<string>({ clock, rateLimiter: limiter })
    queue.addRateLimited('a')
    assert.equal(clock.nextDue(), 42)
    assert.equal(queue.numRequeues('a'), 7)
    queue.forget('a')
    assert.deepEqual(calls, ['when a', 'forget a'])
    assert.equal(queue.rateLimiter, limiter)
  })

  it('forget does not cancel a retry already waiting', async () => {
    const clock = new FakeClock()
    const queue = new RateLimitingQueue<string>({ clock })
    queue.addRateLimited('a')
    queue.forget('a')
    await clock.advance(5)
    assert.equal(queue.tryGet(), 'a')
  })

  it('ignores addRateLimited after shut down, without consulting the limiter', () => {
    const clock = new FakeClock()
    const queue = new RateLimitingQueue<string>({ clock })
    queue.shutDown()
    queue.addRateLimited('a')
    assert.equal(queue.numRequeues('a'), 0)
    assert.equal(queue.waiting, 0)
    assert.equal(clock.pending, 0)
  })
})
