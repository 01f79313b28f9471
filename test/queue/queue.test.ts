import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { QueueDrainTimeoutError, WorkQueue } from '../../lib/queue/index.ts'
import { KubevisorError } from '../../lib/errors.ts'
import { FakeClock, settle } from '../../lib/testing/fake-clock.ts'

/**
 * Runs a script of queue operations, one per `;`:
 * `add k` · `get k` (tryGet must return k) · `get -` (tryGet must return nothing) ·
 * `done k` · `len n`.
 */
function runScript(queue: WorkQueue<string>, script: string): void {
  for (const step of script.split(';').map((s) => s.trim())) {
    const [op, arg] = step.split(/\s+/)
    switch (op) {
      case 'add':
        queue.add(arg!)
        break
      case 'get':
        assert.equal(queue.tryGet(), arg === '-' ? undefined : arg, `step "${step}" of "${script}"`)
        break
      case 'done':
        queue.done(arg!)
        break
      case 'len':
        assert.equal(queue.len, Number(arg), `step "${step}" of "${script}"`)
        break
      default:
        throw new Error(`bad step ${step}`)
    }
  }
}

// The guarantees of client-go `util/workqueue/queue.go` (its package doc: "Fair",
// "Stingy", "Multiple consumers and producers", and `Done` re-queueing dirty items), and
// the scenarios of its `queue_test.go` (TestAddWhileProcessing, TestLen, TestReinsert).
const semantics: { name: string; script: string }[] = [
  { name: 'adds of a queued key collapse into one', script: 'add a; add a; add a; len 1; get a; get -' },
  { name: 'keys come out in the order they were added (FIFO)', script: 'add a; add b; add c; len 3; get a; get b; get c; get -' },
  {
    name: 'duplicates do not move a key back in line',
    script: 'add a; add b; add a; add b; add c; get a; get b; get c; get -',
  },
  {
    name: 'a key being processed is not handed out again (stingy)',
    script: 'add a; get a; add a; len 0; get -; done a; len 1; get a',
  },
  {
    name: 'adds during processing mean exactly one more processing after done',
    script: 'add a; get a; add a; add a; add a; done a; len 1; get a; done a; len 0; get -',
  },
  {
    name: 'a key re-added during processing goes to the back of the line (fair)',
    script: 'add a; add b; get a; add a; done a; add c; get b; get a; get c; get -',
  },
  { name: 'done without a re-add leaves nothing queued', script: 'add a; get a; done a; len 0; get -' },
  {
    name: 'done of a key that is not being processed is ignored',
    script: 'done x; add a; done a; len 1; get a; done a; done a; len 0; get -',
  },
  {
    name: 'keys re-added while in flight are queued in the order their processing ends',
    script: 'add a; add b; get a; get b; add b; add a; done b; done a; get b; get a; get -',
  },
]

describe('WorkQueue semantics', () => {
  for (const { name, script } of semantics) {
    it(name, () => runScript(new WorkQueue<string>(), script))
  }

  it('accepts any Map key, objects included, by identity', () => {
    const a = { id: 1 }
    const b = { id: 1 }
    const queue = new WorkQueue<object>()
    queue.add(a)
    queue.add(b)
    queue.add(a)
    assert.equal(queue.len, 2)
    assert.equal(queue.tryGet(), a)
    assert.equal(queue.tryGet(), b)
  })

  it('rejects undefined as a key, since it means "no key"', () => {
    assert.throws(() => new WorkQueue<string | undefined>().add(undefined), TypeError)
  })

  it('hands a key added later to a worker already waiting in get()', async () => {
    const queue = new WorkQueue<string>()
    const pending = queue.get()
    queue.add('a')
    assert.equal(await pending, 'a')
    assert.equal(queue.len, 0)
    queue.add('a')
    assert.equal(queue.len, 0, 'the key is in flight: the add waits for done')
    queue.done('a')
    assert.equal(await queue.get(), 'a')
  })

  it('serves waiting workers in the order they called get()', async () => {
    const queue = new WorkQueue<string>()
    const first = queue.get()
    const second = queue.get()
    queue.add('a')
    queue.add('b')
    assert.deepEqual(await Promise.all([first, second]), ['a', 'b'])
  })

  it('hands a key re-queued by done to a waiting worker', async () => {
    const queue = new WorkQueue<string>()
    queue.add('a')
    assert.equal(queue.tryGet(), 'a')
    const waiting = queue.get()
    queue.add('a')
    queue.done('a')
    assert.equal(await waiting, 'a')
  })
})

describe('WorkQueue shutDown', () => {
  it('refuses adds after shutDown', () => {
    const queue = new WorkQueue<string>()
    queue.shutDown()
    queue.add('a')
    assert.equal(queue.len, 0)
    assert.equal(queue.shuttingDown, true)
  })

  it('lets workers drain what is queued, then get() resolves undefined', async () => {
    const queue = new WorkQueue<string>()
    queue.add('a')
    queue.add('b')
    queue.shutDown()
    assert.equal(await queue.get(), 'a')
    assert.equal(await queue.get(), 'b')
    assert.equal(await queue.get(), undefined)
    assert.equal(await queue.get(), undefined, 'and keeps resolving undefined')
  })

  it('wakes every waiting worker with undefined', async () => {
    const queue = new WorkQueue<string>()
    const waiting = [queue.get(), queue.get(), queue.get()]
    queue.shutDown()
    assert.deepEqual(await Promise.all(waiting), [undefined, undefined, undefined])
  })

  it('still processes a key that was re-added during processing before the shut down', () => {
    const queue = new WorkQueue<string>()
    runScript(queue, 'add a; get a; add a')
    queue.shutDown()
    runScript(queue, 'add b; done a; get a; done a; get -')
  })

  it('shutDownWithDrain resolves once every key in flight is done', async () => {
    const clock = new FakeClock()
    const queue = new WorkQueue<string>({ clock })
    runScript(queue, 'add a; add b; get a; get b')
    let drained = false
    const drain = queue.shutDownWithDrain(1000).then(() => (drained = true))
    queue.done('a')
    await settle()
    assert.equal(drained, false, 'b is still in flight')
    queue.done('b')
    await drain
    assert.equal(clock.pending, 0, 'the timeout timer is cleared')
  })

  it('shutDownWithDrain also waits for queued keys to be handed out and done', async () => {
    const clock = new FakeClock()
    const queue = new WorkQueue<string>({ clock })
    runScript(queue, 'add a; add b; get a')
    let drained = false
    const drain = queue.shutDownWithDrain(1000).then(() => (drained = true))
    queue.done('a')
    await settle()
    assert.equal(drained, false, 'b is still queued')
    runScript(queue, 'get b; done b')
    await drain
  })

  it('shutDownWithDrain resolves at once when nothing is queued or in flight', async () => {
    await new WorkQueue<string>({ clock: new FakeClock() }).shutDownWithDrain(10)
  })

  it('shutDownWithDrain rejects on timeout with a typed error naming the keys in flight', async () => {
    const clock = new FakeClock()
    const queue = new WorkQueue<string>({ clock, name: 'pods' })
    runScript(queue, 'add default/web; add default/db; add kube-system/dns; get default/web; get default/db')
    const drain = queue.shutDownWithDrain(5000)
    const outcome = drain.then(
      () => undefined,
      (err: unknown) => err,
    )
    await clock.advance(4999)
    queue.done('default/db')
    await clock.advance(1)
    const err = await outcome
    assert.ok(err instanceof QueueDrainTimeoutError)
    assert.ok(err instanceof KubevisorError)
    assert.equal(err.code, 'ERR_QUEUE_DRAIN_TIMEOUT')
    assert.deepEqual(err.inFlight, ['default/web'])
    assert.equal(err.queued, 1)
    assert.match(err.message, /"pods"/)
    assert.match(err.message, /"default\/web"/)
    assert.match(err.message, /5000 ms/)
  })

  it('shutDown during a pending shutDownWithDrain ends the wait (as client-go ShutDown)', async () => {
    const clock = new FakeClock()
    const queue = new WorkQueue<string>({ clock })
    runScript(queue, 'add a; get a')
    const drain = queue.shutDownWithDrain(1000)
    queue.shutDown()
    await drain
    assert.equal(clock.pending, 0)
  })
})

describe('WorkQueue.worker', () => {
  it('processes keys until the queue is shut down and empty', async () => {
    const queue = new WorkQueue<string>()
    const seen: string[] = []
    const worker = queue.worker(async (key) => {
      seen.push(key)
      await settle(1)
    })
    queue.add('a')
    queue.add('b')
    await settle()
    queue.add('c')
    queue.shutDown()
    await worker
    assert.deepEqual(seen, ['a', 'b', 'c'])
  })

  it('marks the key done and rejects when the function throws', async () => {
    const queue = new WorkQueue<string>()
    queue.add('bad')
    const boom = new Error('boom')
    await assert.rejects(
      queue.worker(() => {
        throw boom
      }),
      boom,
    )
    queue.add('bad')
    assert.equal(queue.tryGet(), 'bad', 'the key is no longer in flight')
  })
})

describe('WorkQueue under volume', () => {
  it('keeps FIFO order across growing and shrinking of its buffer', () => {
    const queue = new WorkQueue<number>()
    let next = 0
    let expected = 0
    // Waves of adds and partial drains, so the ring wraps, grows to 64k slots and shrinks back.
    for (const [adds, takes] of [
      [5000, 3000],
      [40_000, 41_000],
      [10, 20],
      [70_000, 60_000],
      [0, 11_010],
    ] as const) {
      for (let i = 0; i < adds; i++) queue.add(next++)
      for (let i = 0; i < takes; i++) {
        const key = queue.tryGet()
        if (key === undefined) break
        assert.equal(key, expected++)
        queue.done(key)
      }
    }
    assert.equal(expected, next)
    assert.equal(queue.len, 0)
  })
})
