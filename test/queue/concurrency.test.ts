import assert from 'node:assert/strict'
import { it } from 'node:test'
import { WorkQueue } from '../../lib/queue/index.ts'
import { prng } from '../support/random.ts'

/** Yields in one of several real ways: not at all, a microtask, an immediate, a 0 ms timer. */
function randomPause(random: () => number): Promise<void> | undefined {
  const r = random()
  if (r < 0.25) return undefined
  if (r < 0.55) return Promise.resolve()
  if (r < 0.85) return new Promise<void>((resolve) => setImmediate(resolve))
  return new Promise<void>((resolve) => setTimeout(resolve, 0))
}

// client-go's promise ("Stingy: a single item will not be processed multiple times
// concurrently, and if an item is added multiple times before it can be processed, it will
// only be processed once"; an item added while processing is processed again), under real
// interleavings of many producers and several async workers.
for (const seed of [1, 2, 3]) {
  it(`never processes a hammered key concurrently and never loses an add (seed ${seed})`, async () => {
    const random = prng(seed)
    const queue = new WorkQueue<string>()
    const keys = ['hot', 'warm', 'cold']
    const inFlight = new Set<string>()
    /** Per key: adds so far, and the add count seen when each processing started. */
    const adds = new Map<string, number>(keys.map((k) => [k, 0]))
    const lastStartSeenAdds = new Map<string, number>(keys.map((k) => [k, 0]))
    const processings = new Map<string, number>(keys.map((k) => [k, 0]))
    const violations: string[] = []
    let maxInFlight = 0

    const worker = async () => {
      for (;;) {
        const key = random() < 0.5 ? queue.tryGet() ?? (await queue.get()) : await queue.get()
        if (key === undefined) return
        if (inFlight.has(key)) violations.push(`${key} handed to two workers at once`)
        inFlight.add(key)
        maxInFlight = Math.max(maxInFlight, inFlight.size)
        lastStartSeenAdds.set(key, adds.get(key)!)
        processings.set(key, processings.get(key)! + 1)
        await randomPause(random)
        await randomPause(random)
        inFlight.delete(key)
        queue.done(key)
      }
    }
    const producer = async (n: number) => {
      for (let i = 0; i < n; i++) {
        const key = random() < 0.8 ? 'hot' : keys[1 + Math.floor(random() * 2)]!
        adds.set(key, adds.get(key)! + 1)
        queue.add(key)
        await randomPause(random)
      }
    }

    const workers = Array.from({ length: 4 }, worker)
    await Promise.all(Array.from({ length: 16 }, () => producer(250)))
    await queue.shutDownWithDrain(10_000) // a safety net, not a timed assertion
    await Promise.all(workers)
    assert.deepEqual(violations, [])

    for (const key of keys) {
      const total = adds.get(key)!
      if (total === 0) continue
      // Never lost: the last processing started after the last add of the key.
      assert.equal(lastStartSeenAdds.get(key), total, `the last add of ${key} was followed by a processing`)
      // Stingy: no more processings than adds, and dedup happened under load.
      assert.ok(processings.get(key)! <= total)
    }
    assert.ok(processings.get('hot')! < adds.get('hot')!, 'adds of the hot key collapsed')
    assert.ok(processings.get('hot')! > 1, 'the hot key was processed again and again')
    assert.ok(maxInFlight > 1, 'workers really ran at the same time')
    assert.equal(inFlight.size, 0)
    assert.equal(queue.len, 0)
  })
}
