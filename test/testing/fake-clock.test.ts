import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { FakeClock } from '../../lib/testing/fake-clock.ts'
import { sleep } from '../../lib/time/clock.ts'

describe('FakeClock', () => {
  test('fires timers in due order, ties in scheduling order, and only when advanced past them', async () => {
    const clock = new FakeClock()
    const fired: string[] = []
    clock.setTimeout(() => fired.push('b@20'), 20)
    clock.setTimeout(() => fired.push('a@10'), 10)
    clock.setTimeout(() => fired.push('c@20'), 20)
    await clock.advance(9)
    assert.deepEqual(fired, [])
    await clock.advance(11)
    assert.deepEqual(fired, ['a@10', 'b@20', 'c@20'])
    assert.equal(clock.now(), 20)
  })

  test('sees timers that async work schedules during the same advance', async () => {
    const clock = new FakeClock()
    const seen: number[] = []
    const loop = async () => {
      for (let i = 0; i < 3; i++) {
        await sleep(clock, 100)
        seen.push(clock.now())
      }
    }
    const done = loop()
    await clock.advance(300)
    await done
    assert.deepEqual(seen, [100, 200, 300])
  })

  test('a cleared timer never fires', async () => {
    const clock = new FakeClock()
    let fired = false
    const h = clock.setTimeout(() => {
      fired = true
    }, 5)
    clock.clearTimeout(h)
    await clock.advance(10)
    assert.equal(fired, false)
    assert.equal(clock.pending, 0)
  })

  test('sleep rejects with the abort reason when the signal aborts first', async () => {
    const clock = new FakeClock()
    const ac = new AbortController()
    const p = sleep(clock, 1000, ac.signal)
    ac.abort(new Error('stop'))
    await assert.rejects(p, /stop/)
    assert.equal(clock.pending, 0)
  })
})
