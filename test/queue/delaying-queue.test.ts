import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { DelayingQueue } from '../../lib/queue/index.ts'
import { FakeClock } from '../../lib/testing/fake-clock.ts'

function drain(queue: DelayingQueue<string>): string[] {
  const out: string[] = []
  for (let k = queue.tryGet(); k !== undefined; k = queue.tryGet()) {
    out.push(k)
    queue.done(k)
  }
  return out
}

// client-go `delaying_queue.go` and its `delaying_queue_test.go` (TestSimpleQueue,
// TestDeduping, TestAddTwoFireEarly, TestCopyShifting).
describe('DelayingQueue', () => {
  it('adds a key once its delay has passed on the injected clock', async () => {
    const clock = new FakeClock()
    const queue = new DelayingQueue<string>({ clock })
    queue.addAfter('a', 50)
    assert.equal(queue.len, 0)
    assert.equal(queue.waiting, 1)
    await clock.advance(49)
    assert.equal(queue.len, 0)
    await clock.advance(1)
    assert.equal(queue.len, 1)
    assert.equal(queue.waiting, 0)
    assert.equal(clock.pending, 0)
  })

  const orderings: { name: string; adds: [string, number][]; expected: string[] }[] = [
    { name: 'by ready time', adds: [['c', 30], ['a', 10], ['b', 20]], expected: ['a', 'b', 'c'] },
    { name: 'equal ready times in scheduling order', adds: [['x', 10], ['y', 10], ['z', 10]], expected: ['x', 'y', 'z'] },
    { name: 'with zero and negative delays first, at once', adds: [['late', 5], ['now', 0], ['past', -5]], expected: ['now', 'past', 'late'] },
    {
      name: 'many keys shuffled',
      adds: [['e', 50], ['b', 20], ['d', 40], ['a', 10], ['f', 60], ['c', 30], ['g', 70]],
      expected: ['a', 'b', 'c', 'd', 'e', 'f', 'g'],
    },
  ]
  for (const { name, adds, expected } of orderings) {
    it(`hands keys out ${name}`, async () => {
      const clock = new FakeClock()
      const queue = new DelayingQueue<string>({ clock })
      for (const [key, ms] of adds) queue.addAfter(key, ms)
      await clock.advance(100)
      assert.deepEqual(drain(queue), expected)
    })
  }

  it('keeps the earliest ready time when a waiting key is added again sooner', async () => {
    const clock = new FakeClock()
    const queue = new DelayingQueue<string>({ clock })
    queue.addAfter('a', 100)
    queue.addAfter('b', 60)
    queue.addAfter('a', 50)
    assert.equal(queue.waiting, 2)
    await clock.advance(50)
    assert.deepEqual(drain(queue), ['a'])
    await clock.advance(50)
    assert.deepEqual(drain(queue), ['b'], 'the later time of a was dropped')
  })

  it('does not postpone a waiting key added again later', async () => {
    const clock = new FakeClock()
    const queue = new DelayingQueue<string>({ clock })
    queue.addAfter('a', 50)
    queue.addAfter('a', 100)
    assert.equal(queue.waiting, 1)
    await clock.advance(50)
    assert.deepEqual(drain(queue), ['a'])
    await clock.advance(100)
    assert.deepEqual(drain(queue), [])
  })

  it('uses one timer for the whole queue', async () => {
    const clock = new FakeClock()
    const queue = new DelayingQueue<string>({ clock })
    for (let i = 0; i < 100; i++) queue.addAfter(`k${i}`, 1000 - i)
    assert.equal(clock.pending, 1)
    assert.equal(clock.nextDue(), 901)
    await clock.advance(950)
    assert.equal(queue.len, 50)
    assert.equal(clock.pending, 1)
    await clock.advance(50)
    assert.equal(queue.len, 100)
    assert.equal(clock.pending, 0)
  })

  it('dedups a delayed key against the same key already queued', async () => {
    const clock = new FakeClock()
    const queue = new DelayingQueue<string>({ clock })
    queue.add('a')
    queue.addAfter('a', 10)
    await clock.advance(10)
    assert.deepEqual(drain(queue), ['a'])
  })

  it('ignores addAfter after shut down and drops keys still waiting', async () => {
    const clock = new FakeClock()
    const queue = new DelayingQueue<string>({ clock })
    queue.addAfter('a', 10)
    queue.shutDown()
    assert.equal(queue.waiting, 0)
    assert.equal(clock.pending, 0, 'the timer is cancelled')
    queue.addAfter('b', 10)
    queue.addAfter('c', 0)
    await clock.advance(100)
    assert.equal(queue.len, 0)
    assert.equal(await queue.get(), undefined)
  })

  it('shutDownWithDrain drops waiting keys too', async () => {
    const clock = new FakeClock()
    const queue = new DelayingQueue<string>({ clock })
    queue.addAfter('a', 10)
    await queue.shutDownWithDrain(100)
    assert.equal(queue.waiting, 0)
  })
})
