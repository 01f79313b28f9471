import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { Backoff, CLIENT_GO_BACKOFF, validateBackoffPolicy } from '../../lib/time/backoff.ts'
import { FakeClock } from '../../lib/testing/fake-clock.ts'

describe('Backoff', () => {
  test('defaults are client-go reflector numbers: 800 ms, x2, 30 s cap, jitter 1.0, reset after 2 min', () => {
    assert.deepEqual({ ...CLIENT_GO_BACKOFF }, {
      initialMs: 800,
      maxMs: 30_000,
      factor: 2,
      jitter: 1,
      resetAfterMs: 120_000,
    })
  })

  test('without jitter the delays double up to the cap and stay there', () => {
    const b = new Backoff({ ...CLIENT_GO_BACKOFF, jitter: 0 }, new FakeClock())
    const delays = Array.from({ length: 9 }, () => b.next())
    assert.deepEqual(delays, [800, 1600, 3200, 6400, 12800, 25600, 30000, 30000, 30000])
    assert.equal(b.attempts, 9)
  })

  test('jitter adds up to jitter x delay on top, as apimachinery wait.Jitter does', () => {
    const lo = new Backoff(CLIENT_GO_BACKOFF, new FakeClock(), () => 0)
    const hi = new Backoff(CLIENT_GO_BACKOFF, new FakeClock(), () => 0.999999)
    assert.equal(lo.next(), 800)
    assert.ok(Math.abs(hi.next() - 1600) < 0.01)
  })

  test('starts over after resetAfterMs of quiet, not before', async () => {
    const clock = new FakeClock()
    const b = new Backoff({ ...CLIENT_GO_BACKOFF, jitter: 0 }, clock)
    b.next()
    b.next()
    await clock.advance(119_999)
    assert.equal(b.next(), 3200)
    await clock.advance(120_000)
    assert.equal(b.next(), 800)
  })

  test('reset() starts over immediately', () => {
    const b = new Backoff({ ...CLIENT_GO_BACKOFF, jitter: 0 }, new FakeClock())
    b.next()
    b.next()
    b.reset()
    assert.equal(b.next(), 800)
  })

  test('rejects a bad policy with a RangeError naming the field', () => {
    assert.throws(() => validateBackoffPolicy({ ...CLIENT_GO_BACKOFF, factor: 0.5 }), /backoff\.factor/)
    assert.throws(() => validateBackoffPolicy({ ...CLIENT_GO_BACKOFF, maxMs: 10 }), /backoff\.maxMs/)
    assert.throws(() => validateBackoffPolicy({ ...CLIENT_GO_BACKOFF, initialMs: Number.NaN }), /backoff\.initialMs/)
    assert.throws(() => validateBackoffPolicy({ ...CLIENT_GO_BACKOFF, jitter: -1 }), /backoff\.jitter/)
  })
})
