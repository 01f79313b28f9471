// Resource event streams, unit tier: the per-key flow, retries and error handlers on a
// fake informer (a real StoreWriter + real Subscriptions) and a FakeClock. The semantics
// pinned here are cilium's `pkg/k8s/resource` (resource.go: "No new events for this key
// will be emitted before Done() is called", "a Delete event is only emitted if the
// observer has seen an Upsert"; retry.go: `AlwaysRetry`, `RetryUpTo`, `ErrorAction`).
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import {
  alwaysRetry,
  type ErrorHandler,
  Resource,
  type ResourceEvent,
  type ResourceEventStream,
  ResourceKey,
  type ResourceSource,
  ResourceStreamStoppedError,
  retryUpTo,
} from '../../lib/dispatch/resource.ts'
import { Subscription } from '../../lib/informer/subscription.ts'
import { ItemExponentialFailureRateLimiter } from '../../lib/queue/index.ts'
import { StoreWriter } from '../../lib/store/index.ts'
import { FakeClock, settle } from '../../lib/testing/fake-clock.ts'
import type { KubeObject } from '../../lib/watch/object.ts'
import { captureLogger, silent as logger } from '../support/log.ts'
import { prng } from '../support/random.ts'
import { collectAll } from '../support/streams.ts'

/** A stand-in for a SharedInformer: the store is updated before subscribers are told, as the real one does. */
function fakeInformer() {
  const writer = new StoreWriter<KubeObject>()
  const subs = new Set<Subscription<KubeObject>>()
  let holds = 0
  let uids = 0
  let rv = 0
  const source: ResourceSource<KubeObject> = {
    id: 'v1/ConfigMap@ns',
    store: writer.view,
    subscribe() {
      const sub = new Subscription<KubeObject>((s) => {
        subs.delete(s)
        holds--
      })
      holds++
      for (const key of writer.keys()) sub.push('created', key, writer.view.getByKey(key) as KubeObject, undefined)
      if (writer.view.hasSynced) sub.pushSynced()
      subs.add(sub)
      return sub
    },
    hold: () => void holds++,
    release: () => void holds--,
  }
  return {
    source,
    get holds() {
      return holds
    },
    /** Creates or updates `ns/name` with `data.v = v`; a new uid when `recreate`. */
    set(name: string, v: string, recreate = false) {
      const key = `ns/${name}`
      const previous = writer.view.getByKey(key)
      const uid = previous && !recreate ? previous.metadata?.uid : `uid-${++uids}`
      const object: KubeObject = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace: 'ns', uid, resourceVersion: String(++rv) }, data: { v } }
      writer.set(key, object)
      for (const sub of subs) sub.push(previous ? 'modified' : 'created', key, object, previous)
    },
    remove(name: string) {
      const key = `ns/${name}`
      const last = writer.view.getByKey(key)
      if (!last) return
      writer.delete(key)
      for (const sub of subs) sub.push('deleted', key, last, undefined)
    },
    sync() {
      writer.markSynced()
      for (const sub of subs) sub.pushSynced()
    },
  }
}

const line = (e: ResourceEvent<KubeObject>) => (e.kind === 'sync' ? 'sync' : `${e.kind} ${e.key}=${(e.object.data as { v: string }).v}`)

/** Takes events as soon as they are emitted (without calling done), keeping them in order. */
function collect(stream: ResourceEventStream<KubeObject>) {
  const c = collectAll(stream)
  return {
    ...c,
    lines: () => c.events.map(line),
    /** The last event for `key` (to call done on). */
    last: (key: string) => [...c.events].reverse().find((e) => String(e.key) === key) as ResourceEvent<KubeObject>,
  }
}

function setup(opts: { errorHandler?: ErrorHandler; delayMs?: number; doneTimeoutMs?: number; logger?: typeof logger } = {}) {
  const clock = new FakeClock()
  const informer = fakeInformer()
  const res = new Resource(informer.source, { clock, logger: opts.logger ?? logger, doneTimeoutMs: opts.doneTimeoutMs })
  const abort = new AbortController()
  const open = (errorHandler = opts.errorHandler) => res.events(abort.signal, { errorHandler, rateLimiter: new ItemExponentialFailureRateLimiter<string>(opts.delayMs ?? 100, 10_000) })
  return { clock, informer, res, abort, open }
}

describe('ResourceKey', () => {
  test('names an object as { namespace?, name } with the namespace/name string form', () => {
    const table: [string, string | undefined, string][] = [
      ['ns/a', 'ns', 'a'],
      ['node-1', undefined, 'node-1'],
    ]
    for (const [text, namespace, name] of table) {
      const key = ResourceKey.parse(text)
      assert.equal(key.namespace, namespace)
      assert.equal(key.name, name)
      assert.equal(String(key), text)
      assert.equal(`${key}`, text)
    }
  })
})

describe('error handlers', () => {
  test('alwaysRetry retries; retryUpTo(n) retries n times then stops (cilium RetryUpTo), or ignores when asked', () => {
    const key = ResourceKey.parse('ns/a')
    const err = new Error('x')
    assert.equal(alwaysRetry(key, err, 1_000), 'retry')
    const table: [ErrorHandler, number, string][] = [
      [retryUpTo(2), 0, 'retry'],
      [retryUpTo(2), 1, 'retry'],
      [retryUpTo(2), 2, 'stop'],
      [retryUpTo(0), 0, 'stop'],
      [retryUpTo(1, 'ignore'), 1, 'ignore'],
    ]
    for (const [handler, numRetries, want] of table) assert.equal(handler(key, err, numRetries), want, `${numRetries} retries`)
    assert.throws(() => retryUpTo(-1), RangeError)
  })
})

describe('Resource event streams (fake informer)', () => {
  test('first an upsert for every existing object, then one sync, then live changes', async () => {
    const { informer, open, abort } = setup()
    informer.set('a', '1')
    informer.set('b', '1')
    informer.sync()
    const c = collect(open())
    await settle()
    assert.deepEqual(c.lines(), ['upsert ns/a=1', 'upsert ns/b=1', 'sync'])
    const sync = c.events[2]!
    assert.equal(sync.object, undefined)
    assert.equal(String(sync.key), '')
    for (const e of c.events) e.done()
    informer.set('c', '1')
    informer.set('a', '2')
    informer.remove('b')
    await settle()
    assert.deepEqual(c.lines().slice(3), ['upsert ns/c=1', 'upsert ns/a=2', 'delete ns/b=1'])
    abort.abort()
    await c.loop
  })

  test('lazy: a resource subscribes to nothing until events() or store()', async () => {
    const { informer, res } = setup()
    assert.equal(informer.holds, 0)
    const abort = new AbortController()
    res.events(abort.signal)
    assert.equal(informer.holds, 1)
    assert.equal(res.streams, 1)
    abort.abort()
    assert.equal(informer.holds, 0)
    assert.equal(res.streams, 0)
    res.events(AbortSignal.abort())
    assert.equal(informer.holds, 0, 'an already aborted signal leaves nothing behind')
  })

  test('a failed sync event is retried like a key (the error handler sees an empty key)', async () => {
    const keys: string[] = []
    const { informer, open, abort, clock } = setup({
      delayMs: 10,
      errorHandler: (key) => {
        keys.push(String(key))
        return 'retry'
      },
    })
    informer.sync()
    const c = collect(open())
    await settle()
    c.last('').done(new Error('not ready'))
    await clock.advance(10)
    assert.deepEqual(c.lines(), ['sync', 'sync'])
    assert.deepEqual(keys, [''])
    abort.abort()
  })

  test('a subscriber that starts before the informer synced gets sync after the initial list', async () => {
    const { informer, open, abort } = setup()
    const c = collect(open())
    informer.set('a', '1')
    await settle()
    assert.deepEqual(c.lines(), ['upsert ns/a=1'])
    informer.sync()
    await settle()
    assert.deepEqual(c.lines(), ['upsert ns/a=1', 'sync'])
    abort.abort()
  })

  test('no new event for a key until done was called for the previous one; other keys keep flowing; then the latest state', async () => {
    const { informer, open, abort } = setup()
    informer.sync()
    const c = collect(open())
    await settle()
    c.last('')?.done()
    informer.set('a', '1')
    await settle()
    informer.set('a', '2')
    informer.set('a', '3')
    informer.set('b', '1')
    await settle()
    assert.deepEqual(c.lines(), ['sync', 'upsert ns/a=1', 'upsert ns/b=1'], 'a is blocked, b flows')
    c.last('ns/a').done()
    await settle()
    assert.deepEqual(c.lines().slice(3), ['upsert ns/a=3'], 'one event with the latest state')
    abort.abort()
  })

  test('done(err) retries the key after the rate limiter delay, with its latest state', async () => {
    const { informer, open, abort, clock } = setup({ delayMs: 100 })
    informer.sync()
    const c = collect(open())
    informer.set('a', '1')
    await settle()
    c.last('ns/a').done(new Error('backend down'))
    informer.set('a', '2')
    await settle()
    // The change while the retry waits is emitted at once (the key is no longer in flight)…
    assert.deepEqual(c.lines(), ['sync', 'upsert ns/a=1', 'upsert ns/a=2'])
    // 2nd failure asks for 200 ms; the retry already waiting (due at 100 ms) is earlier and
    // wins (client-go delaying queue: one entry per key, the earliest ready time).
    c.last('ns/a').done(new Error('still down'))
    await clock.advance(99)
    assert.equal(c.events.length, 3)
    await clock.advance(1)
    assert.deepEqual(c.lines().slice(3), ['upsert ns/a=2'], 'the retry: latest state again')
    c.last('ns/a').done()
    await clock.advance(1_000)
    assert.equal(c.events.length, 4, 'done: nothing more')
    abort.abort()
  })

  test('a retried upsert of an object deleted meanwhile comes back as a delete with the last emitted object', async () => {
    const { informer, open, abort, clock } = setup({ delayMs: 50 })
    informer.set('a', '1')
    informer.sync()
    const c = collect(open())
    await settle()
    c.last('').done()
    const upsert = c.last('ns/a')
    upsert.done(new Error('fail'))
    informer.remove('a')
    await settle()
    assert.deepEqual(c.lines(), ['upsert ns/a=1', 'sync', 'delete ns/a=1'], 'the delete is emitted as soon as the key is free')
    const del = c.last('ns/a')
    assert.equal(del.object, upsert.object, 'the last known object')
    del.done()
    await clock.advance(1_000)
    assert.equal(c.events.length, 3, 'the waiting retry finds nothing to emit: the delete was done')
    abort.abort()
  })

  test('retryUpTo(n) passes the retry count, then stops the stream: the iterator throws ResourceStreamStoppedError with the key', async () => {
    const seen: number[] = []
    const upTo2 = retryUpTo(2)
    const { informer, open, clock } = setup({ delayMs: 10, errorHandler: (key, err, n) => {
        seen.push(n)
        return upTo2(key, err, n)
      },
    })
    informer.set('a', '1')
    informer.set('b', '1')
    informer.sync()
    const c = collect(open())
    await settle()
    for (const e of c.events) if (String(e.key) !== 'ns/a') e.done()
    for (let i = 0; i < 3; i++) {
      c.last('ns/a').done(new Error(`fail ${i}`))
      await clock.advance(1_000)
    }
    await c.loop
    assert.deepEqual(seen, [0, 1, 2])
    assert.deepEqual(c.lines(), ['upsert ns/a=1', 'upsert ns/b=1', 'sync', 'upsert ns/a=1', 'upsert ns/a=1'])
    assert.ok(c.state.failure instanceof ResourceStreamStoppedError)
    assert.equal(c.state.failure.code, 'ERR_RESOURCE_STREAM_STOPPED')
    assert.equal(String(c.state.failure.key), 'ns/a')
    assert.equal((c.state.failure.cause as Error).message, 'fail 2')
    assert.equal(informer.holds, 0, 'the subscription was released')
  })

  test('a custom handler: ignore drops the failure (and forgets its count), the stream goes on', async () => {
    const counts: number[] = []
    const { informer, open, abort, clock } = setup({
      errorHandler: (_k, _e, n) => {
        counts.push(n)
        return 'ignore'
      },
    })
    informer.sync()
    const c = collect(open())
    informer.set('a', '1')
    await settle()
    c.last('ns/a').done(new Error('nope'))
    await clock.advance(60_000)
    assert.deepEqual(c.lines(), ['sync', 'upsert ns/a=1'], 'not retried')
    informer.set('a', '2')
    await settle()
    c.last('ns/a').done(new Error('nope again'))
    assert.deepEqual(counts, [0, 0])
    assert.equal(c.state.ended, false)
    abort.abort()
  })

  test("a custom handler answering 'stop' ends the stream at once; events of other keys in flight are dropped", async () => {
    const { informer, open } = setup({ errorHandler: () => 'stop' })
    informer.set('a', '1')
    informer.set('b', '1')
    informer.sync()
    const c = collect(open())
    await settle()
    c.last('ns/a').done(new Error('fatal'))
    await c.loop
    assert.ok(c.state.failure instanceof ResourceStreamStoppedError)
    assert.equal(String(c.state.failure.key), 'ns/a')
    c.last('ns/b').done() // ignored quietly: the stream has ended
  })

  test('an object created and deleted before the subscriber was sent it yields nothing; a delete goes only to a subscriber that saw the object', async () => {
    const { informer, open, abort } = setup()
    informer.sync()
    const fast = collect(open())
    const slowStream = open() // subscribed, but not reading yet
    await settle()
    fast.last('').done()
    informer.set('gone', '1')
    await settle()
    assert.deepEqual(fast.lines(), ['sync', 'upsert ns/gone=1'])
    informer.remove('gone')
    await settle()
    assert.deepEqual(fast.lines(), ['sync', 'upsert ns/gone=1'], 'the delete waits for the upsert to be done')
    fast.last('ns/gone').done()
    await settle()
    assert.deepEqual(fast.lines(), ['sync', 'upsert ns/gone=1', 'delete ns/gone=1'])
    assert.equal(fast.last('ns/gone').object, fast.events[1]?.object, 'with the last known object')
    const slow = collect(slowStream)
    await settle()
    assert.deepEqual(slow.lines(), ['sync'], 'never sent the object: neither its upsert nor its delete')
    abort.abort()
  })

  test('an object deleted and created again under the same key (new uid) gives the old delete, then the new upsert', async () => {
    const { informer, open, abort } = setup()
    informer.set('a', 'old')
    informer.sync()
    const c = collect(open())
    await settle()
    c.last('').done()
    const first = c.last('ns/a')
    informer.remove('a')
    informer.set('a', 'new', true)
    first.done()
    await settle()
    assert.deepEqual(c.lines().slice(2), ['delete ns/a=old'])
    c.last('ns/a').done()
    await settle()
    assert.deepEqual(c.lines().slice(2), ['delete ns/a=old', 'upsert ns/a=new'])
    abort.abort()
  })

  test('an event never done is reported with its key after the done timeout, again at doubling intervals; the key stays blocked until done', async () => {
    const cap = captureLogger('warn')
    const { informer, open, abort, clock } = setup({ logger: cap.logger, doneTimeoutMs: 60_000 })
    informer.set('stuck', '1')
    informer.sync()
    const stream = open()
    const c = collect(stream)
    await settle()
    c.last('').done()
    informer.set('stuck', '2')
    await clock.advance(59_999)
    assert.equal(stream.overdueWarnings, 0)
    await clock.advance(1)
    assert.equal(stream.overdueWarnings, 1)
    assert.deepEqual(stream.overdue, ['ns/stuck'])
    assert.deepEqual(stream.inFlight, ['ns/stuck'])
    const warning = cap.lines.find((l) => l.msg?.startsWith('event not done'))
    assert.equal(warning?.key, 'ns/stuck')
    assert.equal(warning?.kind, 'upsert')
    assert.equal(warning?.waitedMs, 60_000)
    await clock.advance(120_000)
    assert.equal(stream.overdueWarnings, 2, 'repeated after twice the timeout')
    assert.deepEqual(c.lines(), ['upsert ns/stuck=1', 'sync'], 'blocked meanwhile')
    c.last('ns/stuck').done()
    await settle()
    assert.deepEqual(c.lines().slice(2), ['upsert ns/stuck=2'])
    c.last('ns/stuck').done()
    await clock.advance(600_000)
    assert.equal(stream.overdueWarnings, 2, 'no warning once done')
    assert.deepEqual(stream.overdue, [])
    abort.abort()
  })

  test('calling done twice is ignored with a warning', async () => {
    const cap = captureLogger('warn')
    const { informer, open, abort, clock } = setup({ logger: cap.logger, delayMs: 10 })
    informer.set('a', '1')
    informer.sync()
    const c = collect(open())
    await settle()
    const a = c.last('ns/a')
    a.done(new Error('first'))
    a.done()
    a.done(new Error('third'))
    await clock.advance(10)
    assert.deepEqual(c.lines(), ['upsert ns/a=1', 'sync', 'upsert ns/a=1'], 'one retry: only the first done counted')
    assert.equal(cap.lines.filter((l) => l.msg === 'done() called again for the same event; ignored' && l.key === 'ns/a').length, 2)
    abort.abort()
  })

  test('aborting the signal ends the stream: a waiting next() completes, pending events and waiting retries are dropped, the subscription is released', async () => {
    const { informer, open, abort, clock } = setup({ delayMs: 100 })
    informer.set('a', '1')
    informer.sync()
    const stream = open()
    assert.equal(informer.holds, 1)
    const c = collect(stream)
    await settle()
    c.last('ns/a').done(new Error('retry later'))
    informer.set('b', '1')
    abort.abort()
    await c.loop
    assert.equal(c.state.failure, undefined)
    assert.equal(stream.closed, true)
    assert.equal(informer.holds, 0)
    await clock.advance(1_000)
    informer.set('c', '1')
    await settle()
    assert.equal(await stream.next(), undefined)
    c.last('').done() // after the end: ignored
  })

  test('breaking out of a for-await loop ends the stream and releases the subscription', async () => {
    const { informer, open } = setup()
    informer.set('a', '1')
    informer.sync()
    const stream = open()
    for await (const e of stream) {
      e.done()
      break
    }
    assert.equal(stream.closed, true)
    assert.equal(informer.holds, 0)
  })

  test('the default rate limiter is client-go’s: the first retry comes after 5 ms', async () => {
    const clock = new FakeClock()
    const informer = fakeInformer()
    const res = new Resource(informer.source, { clock, logger })
    const abort = new AbortController()
    informer.set('a', '1')
    informer.sync()
    const c = collect(res.events(abort.signal))
    await settle()
    c.last('ns/a').done(new Error('x'))
    await clock.advance(4)
    assert.equal(c.events.length, 2)
    await clock.advance(1)
    assert.equal(c.events.length, 3)
    abort.abort()
  })

  test('store(signal) resolves once synced, holds the watch until the signal aborts, and rejects if it aborts first', async () => {
    const { informer, res } = setup()
    const early = new AbortController()
    const waiting = res.store(early.signal)
    assert.equal(informer.holds, 1)
    early.abort(new Error('gave up'))
    await assert.rejects(waiting, /gave up/)
    assert.equal(informer.holds, 0)
    const use = new AbortController()
    const pending = res.store(use.signal)
    informer.set('a', '1')
    informer.sync()
    const store = await pending
    assert.deepEqual(store.keys(), ['ns/a'])
    assert.equal(informer.holds, 1)
    use.abort()
    assert.equal(informer.holds, 0)
  })
})

describe('Resource event streams under random schedules', () => {
  test('each subscriber converges to the store, never has two events of a key in flight, and gets deletes only for keys it was sent', async () => {
    for (let seed = 1; seed <= 20; seed++) {
      const random = prng(seed)
      const { informer, res, clock } = setup({ delayMs: 5 })
      const abort = new AbortController()
      const consumers = Array.from({ length: 3 }, () => {
        const stream = res.events(abort.signal, { rateLimiter: new ItemExponentialFailureRateLimiter<string>(5, 50) })
        const applied = new Map<string, string>() // key → uid@rv, on successful done
        const sent = new Set<string>() // keys sent an upsert and not yet deleted successfully
        const inFlight = new Set<string>()
        const violations: string[] = []
        const loop = (async () => {
          for await (const e of stream) {
            const key = String(e.key)
            if (inFlight.has(key)) violations.push(`two events of ${key} in flight`)
            inFlight.add(key)
            if (e.kind === 'upsert') sent.add(key)
            if (e.kind === 'delete' && !sent.has(key)) violations.push(`delete of ${key} never sent`)
            clock.setTimeout(
              () => {
                inFlight.delete(key)
                if (random() < 0.2) return e.done(new Error('random failure'))
                if (e.kind === 'upsert') applied.set(key, `${e.object.metadata?.uid}@${e.object.metadata?.resourceVersion}`)
                if (e.kind === 'delete') {
                  sent.delete(key)
                  if (applied.get(key)?.startsWith(`${e.object.metadata?.uid}@`)) applied.delete(key)
                }
                e.done()
              },
              Math.floor(random() * 20),
            )
          }
        })()
        return { applied, violations, loop }
      })
      informer.sync()
      for (let step = 0; step < 150; step++) {
        const name = `o${Math.floor(random() * 8)}`
        const r = random()
        if (r < 0.5) informer.set(name, String(step))
        else if (r < 0.7) informer.set(name, String(step), true)
        else informer.remove(name)
        await clock.advance(Math.floor(random() * 10))
      }
      for (let i = 0; i < 50; i++) await clock.advance(100)
      const store = new Map(res.source.store.list().map((o) => [`ns/${o.metadata?.name}`, `${o.metadata?.uid}@${o.metadata?.resourceVersion}`]))
      for (const [i, c] of consumers.entries()) {
        assert.deepEqual(c.violations, [], `seed ${seed}, consumer ${i}`)
        assert.deepEqual(new Map([...c.applied].sort()), new Map([...store].sort()), `seed ${seed}, consumer ${i} converged`)
      }
      abort.abort()
      await Promise.all(consumers.map((c) => c.loop))
    }
  })
})
