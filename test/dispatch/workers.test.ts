import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { GenServer, type Pid } from '../../lib/actor/index.ts'
import { TerminalError, WorkerPool } from '../../lib/dispatch/workers.ts'
import { ItemExponentialFailureRateLimiter, RateLimitingQueue } from '../../lib/queue/index.ts'
import { Supervisor } from '../../lib/supervisor/index.ts'
import { FakeClock, settle } from '../../lib/testing/fake-clock.ts'
import { countAtTimer } from '../support/fairness.ts'
import { captureLogger, silent as logger } from '../support/log.ts'
import { eventually } from '../support/mirror.ts'

describe('WorkerPool', () => {
  test('with several workers, a key is never handled twice at once and every add is followed by a handling', async () => {
    const queue = new RateLimitingQueue<string>({ name: 'hammer' })
    const active = new Set<string>()
    const violations: string[] = []
    const lastAdd = new Map<string, number>()
    const lastStart = new Map<string, number>()
    let tick = 0
    const pool = await WorkerPool.start({
      name: 'hammer',
      queue,
      concurrency: 4,
      logger,
      handle: async (key) => {
        if (active.has(key)) violations.push(key)
        active.add(key)
        lastStart.set(key, ++tick)
        await new Promise((r) => setTimeout(r, Math.random() * 3))
        active.delete(key)
      },
    })
    for (let i = 0; i < 400; i++) {
      const key = `k${i % 5}`
      lastAdd.set(key, ++tick)
      queue.add(key)
      if (i % 7 === 0) await new Promise((r) => setTimeout(r, 1))
    }
    await eventually(() => [...lastAdd].every(([k, at]) => (lastStart.get(k) ?? 0) > at) && active.size === 0)
    assert.deepEqual(violations, [])
    await pool.stop()
  })

  test('a failing key is retried with the rate limiter up to maxRetries, then dropped with an error log', async () => {
    const clock = new FakeClock()
    const cap = captureLogger('warn')
    const queue = new RateLimitingQueue<string>({ name: 'retry', clock, rateLimiter: new ItemExponentialFailureRateLimiter(10, 1000) })
    let attempts = 0
    const pool = await WorkerPool.start({
      name: 'retry',
      queue,
      maxRetries: 3,
      logger: cap.logger,
      handle: () => {
        attempts++
        throw new Error('flaky backend')
      },
    })
    queue.add('x')
    await eventually(() => attempts === 1)
    for (const delay of [10, 20, 40]) {
      await clock.advance(delay - 1)
      await settle()
      const before = attempts
      await clock.advance(1)
      await eventually(() => attempts === before + 1)
    }
    await clock.advance(10_000)
    await settle()
    assert.equal(attempts, 4, 'the first try and three retries')
    assert.equal(queue.numRequeues('x'), 0, 'forgotten after being dropped')
    assert.ok(cap.lines.some((l) => l.msg === 'handling failed too many times; dropping the key' && l.key === 'x'))
    await pool.stop()
  })

  test('a terminal error is logged and not retried; requeueAfter handles the key again later', async () => {
    const clock = new FakeClock()
    const queue = new RateLimitingQueue<string>({ name: 'terminal', clock })
    const seen: string[] = []
    const pool = await WorkerPool.start({
      name: 'terminal',
      queue,
      logger,
      handle: (key) => {
        seen.push(key)
        if (key === 'bad') throw new TerminalError('invalid spec')
        if (key === 'later' && seen.filter((k) => k === 'later').length === 1) return { requeueAfter: 5000 }
        return undefined
      },
    })
    queue.add('bad')
    queue.add('later')
    await eventually(() => seen.length === 2)
    await clock.advance(4999)
    await settle()
    assert.deepEqual(seen, ['bad', 'later'])
    await clock.advance(1)
    await eventually(() => seen.length === 3)
    await clock.advance(60_000)
    await settle()
    assert.deepEqual(seen, ['bad', 'later', 'later'])
    await pool.stop()
  })

  test('a worker killed while handling a key is restarted and the key is handled again: nothing is dropped', async () => {
    const queue = new RateLimitingQueue<string>({ name: 'crash' })
    const handled: string[] = []
    let release!: () => void
    let blocked = true
    const pool = await WorkerPool.start({
      name: 'crash',
      queue,
      logger,
      handle: async (key) => {
        if (key === 'stuck' && blocked) {
          blocked = false
          await new Promise<void>((r) => {
            release = r
          })
        }
        handled.push(key)
      },
    })
    queue.add('stuck')
    await eventually(() => pool.inFlight.includes('stuck'))
    const [worker] = await Supervisor.whichChildren(pool.supervisor)
    GenServer.exit(worker?.pid as Pid, 'kill')
    await eventually(() => handled.includes('stuck'))
    release()
    assert.deepEqual(handled, ['stuck'], 'handled once by the restarted worker (the killed one never finished)')
    await pool.stop()
  })

  test('a killed worker whose call finishes late does not release the key another worker now holds; its signal is aborted', async () => {
    const queue = new RateLimitingQueue<string>({ name: 'zombie' })
    const releases: (() => void)[] = []
    const signals: AbortSignal[] = []
    let running = 0
    let maxRunning = 0
    const pool = await WorkerPool.start({
      name: 'zombie',
      queue,
      concurrency: 2,
      logger,
      handle: async (_key, signal) => {
        signals.push(signal)
        maxRunning = Math.max(maxRunning, ++running)
        await new Promise<void>((r) => releases.push(r))
        running--
      },
    })
    queue.add('k')
    await eventually(() => releases.length === 1)
    for (const child of await Supervisor.whichChildren(pool.supervisor)) GenServer.exit(child.pid as Pid, 'kill')
    await eventually(() => releases.length === 2, 10_000, 'the key to be handled again by a restarted worker')
    assert.equal(signals[0]?.aborted, true, 'the killed worker’s call is told through its signal')
    releases[0]?.() // the killed worker's call finishes late
    await settle()
    queue.add('k') // while the restarted worker still holds it: one more handling after it, not beside it
    await settle()
    assert.equal(releases.length, 2, 'not handed to a second worker while held')
    releases[1]?.()
    await eventually(() => releases.length === 3)
    releases[2]?.()
    await pool.stop()
    assert.equal(maxRunning, 2, 'only the killed call overlapped the retry')
  })

  test('stop() drains what is queued, then refuses new keys', async () => {
    const queue = new RateLimitingQueue<number>({ name: 'drain' })
    const handled: number[] = []
    const pool = await WorkerPool.start({
      name: 'drain',
      queue,
      concurrency: 2,
      logger,
      handle: async (key) => {
        await new Promise((r) => setTimeout(r, 2))
        handled.push(key)
      },
    })
    for (let i = 0; i < 20; i++) queue.add(i)
    await pool.stop()
    assert.deepEqual([...handled].sort((a, b) => a - b), Array.from({ length: 20 }, (_, i) => i))
    queue.add(99)
    await settle()
    assert.equal(handled.includes(99), false)
    assert.equal(pool.supervisor.alive, false)
  })

  test('a key that fails while the pool drains is logged as not retried, and is not retried', async () => {
    const cap = captureLogger('warn')
    const queue = new RateLimitingQueue<string>({ name: 'drain-fail' })
    let release!: () => void
    let attempts = 0
    const pool = await WorkerPool.start({
      name: 'drain-fail',
      queue,
      logger: cap.logger,
      handle: async () => {
        attempts++
        await new Promise<void>((r) => {
          release = r
        })
        throw new Error('backend down')
      },
    })
    queue.add('k')
    await eventually(() => attempts === 1)
    const stopping = pool.stop()
    release()
    await stopping
    assert.equal(attempts, 1)
    assert.ok(cap.lines.some((l) => l.msg === 'handling failed while the queue drains; not retried' && l.key === 'k'))
    assert.equal(cap.lines.some((l) => l.msg === 'handling failed; retrying with backoff'), false)
  })

  test('concurrency must be a positive integer', async () => {
    const queue = new RateLimitingQueue<string>({ name: 'bad' })
    await assert.rejects(WorkerPool.start({ name: 'bad', queue, concurrency: 0, handle: () => undefined, logger }), RangeError)
  })

  // client-go's workers are goroutines, preempted by the Go scheduler; ours take each key as a
  // message, and a run of keys that need no I/O (a resync, a ring change that moves nothing)
  // must still let timers and sockets run, or the Manager's Lease renewal starves.
  test('100,000 keys that need no I/O, on 8 workers: a 1 ms timer fires long before they are all handled', async () => {
    const TOTAL = 100_000
    const queue = new RateLimitingQueue<number>({ name: 'noio' })
    let handled = 0
    let finish!: () => void
    const finished = new Promise<void>((resolve) => {
      finish = resolve
    })
    const pool = await WorkerPool.start({
      name: 'noio',
      queue,
      concurrency: 8,
      logger,
      handle: async () => {
        if (++handled === TOTAL) finish()
      },
    })
    for (let i = 0; i < TOTAL; i++) queue.add(i)
    const [, atTimer] = await Promise.all([finished, countAtTimer(() => handled)])
    assert.equal(handled, TOTAL)
    assert.ok(atTimer >= 0 && atTimer < TOTAL / 2, `the timer fired after ${atTimer} of ${TOTAL} keys`)
    await pool.stop()
  })
})
