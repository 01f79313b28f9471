/**
 * The pure engine, transition by transition, with fake inputs and a fake clock. The
 * anchors: kube-rs `kube-runtime/src/watcher.rs` (states, Init/InitApply/InitDone,
 * page size 500, bookmarks on) and client-go `tools/cache/reflector.go` (timeoutSeconds
 * in [5, 10) min, re-watch from the last RV on a clean end, relist on 410, backoff
 * 800 ms ×2 → 30 s).
 */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { FakeClock } from '../../lib/testing/fake-clock.ts'
import { Backoff, CLIENT_GO_BACKOFF } from '../../lib/time/backoff.ts'
import { DecodeError } from '../../lib/watch/decode.ts'
import {
  DEFAULT_ENGINE_CONFIG,
  type Effect,
  type EngineConfig,
  type EngineEnv,
  type EngineInput,
  initialState,
  step,
  type WatchState,
} from '../../lib/watch/engine.ts'
import { ApiStatusError, InitialListFailedError, WatchError, WatchStartFailedError } from '../../lib/watch/errors.ts'
import type { KubeObject, WatchEvent } from '../../lib/watch/object.ts'

function pod(name: string, rv: string, namespace = 'default'): KubeObject {
  return { apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace, resourceVersion: rv } }
}

function bookmark(rv: string, initialEventsEnd = false): WatchEvent {
  const metadata: KubeObject['metadata'] = { resourceVersion: rv }
  if (initialEventsEnd) metadata.annotations = { 'k8s.io/initial-events-end': 'true' }
  return { type: 'BOOKMARK', object: { kind: 'Pod', apiVersion: 'v1', metadata } }
}

function statusEvent(code: number, reason: string): WatchEvent {
  return { type: 'ERROR', object: { kind: 'Status', apiVersion: 'v1', status: 'Failure', code, reason, message: `too old resource version: ${reason}` } }
}

/** A fresh engine: random fixed at 0 (timeout 300 s), backoff without jitter on a fake clock. */
function engine(config: Partial<EngineConfig> = {}, random = 0) {
  const clock = new FakeClock()
  const env: EngineEnv = { random: () => random, backoff: new Backoff({ ...CLIENT_GO_BACKOFF, jitter: 0 }, clock) }
  const full: EngineConfig = { ...DEFAULT_ENGINE_CONFIG, ...config }
  let state: WatchState = initialState()
  return {
    clock,
    get state() {
      return state
    },
    feed(input: EngineInput): Effect[] {
      const out = step(state, input, full, env)
      state = out.state
      return out.effects
    },
  }
}

/** Only the effects a test asserts on: requests, waits, emits, closes (not logs or counters). */
const io = (effects: Effect[]) => effects.filter((e) => e.type !== 'log' && e.type !== 'count')
const counters = (effects: Effect[]) => effects.flatMap((e) => (e.type === 'count' ? [e.counter] : []))

/** An engine already watching from rv `10` after a one-page initial list. */
function watching(config: Partial<EngineConfig> = {}) {
  const e = engine(config)
  e.feed({ type: 'start' })
  e.feed({ type: 'listPage', items: [pod('a', '5')], continueToken: undefined, resourceVersion: '10' })
  e.feed({ type: 'watchStarted' })
  return e
}

describe('engine: initial list', () => {
  test('start requests the first page of 500 objects without a resourceVersion (kube-rs page_size, MostRecent)', () => {
    const e = engine()
    assert.deepEqual(io(e.feed({ type: 'start' })), [{ type: 'list', params: { limit: 500 } }])
    assert.equal(e.state.phase, 'Listing')
  })

  test('pages are followed by continue token, then the batch closes and the watch starts from the list resourceVersion', () => {
    const e = engine({ pageSize: 2 })
    e.feed({ type: 'start' })
    const first = e.feed({ type: 'listPage', items: [pod('a', '1'), pod('b', '2')], continueToken: 'c1', resourceVersion: '' })
    assert.deepEqual(io(first), [
      { type: 'emit', event: { type: 'relistStart', initial: true } },
      { type: 'emit', event: { type: 'relistPage', objects: [pod('a', '1'), pod('b', '2')] } },
      { type: 'list', params: { limit: 2, continueToken: 'c1' } },
    ])
    const last = e.feed({ type: 'listPage', items: [pod('c', '3')], continueToken: undefined, resourceVersion: '42' })
    assert.deepEqual(io(last), [
      { type: 'emit', event: { type: 'relistPage', objects: [pod('c', '3')] } },
      { type: 'emit', event: { type: 'relistDone', resourceVersion: '42', initial: true } },
      { type: 'emit', event: { type: 'synced', resourceVersion: '42' } },
      { type: 'watch', params: { resourceVersion: '42', allowWatchBookmarks: true, timeoutSeconds: 300 } },
    ])
    assert.equal(e.state.phase, 'Watching')
    assert.equal(e.state.resourceVersion, '42')
    assert.equal(e.state.synced, true)
  })

  test('an empty collection still closes the batch and syncs', () => {
    const e = engine()
    e.feed({ type: 'start' })
    const effects = io(e.feed({ type: 'listPage', items: [], continueToken: undefined, resourceVersion: '7' }))
    assert.deepEqual(effects.slice(0, 4).map((x) => (x.type === 'emit' ? x.event.type : x.type)), ['relistStart', 'relistPage', 'relistDone', 'synced'])
  })

  test('watch timeoutSeconds is drawn from [300, 600) like client-go reflector minWatchTimeout × (1 + rand)', () => {
    for (const [random, expected] of [
      [0, 300],
      [0.5, 450],
      [0.999999, 599],
    ] as const) {
      const e = engine({}, random)
      e.feed({ type: 'start' })
      const effects = e.feed({ type: 'listPage', items: [], continueToken: undefined, resourceVersion: '1' })
      const watch = effects.find((x) => x.type === 'watch')
      assert.ok(watch?.type === 'watch')
      assert.equal(watch.params.timeoutSeconds, expected)
    }
  })
})

describe('engine: watching', () => {
  test('ADDED, MODIFIED and DELETED are emitted in stream order and advance the resourceVersion', () => {
    const e = watching()
    const out = [
      ...e.feed({ type: 'watchEvent', event: { type: 'ADDED', object: pod('b', '11') } }),
      ...e.feed({ type: 'watchEvent', event: { type: 'MODIFIED', object: pod('a', '12') } }),
      ...e.feed({ type: 'watchEvent', event: { type: 'DELETED', object: pod('b', '13') } }),
    ]
    assert.deepEqual(io(out), [
      { type: 'emit', event: { type: 'added', object: pod('b', '11') } },
      { type: 'emit', event: { type: 'modified', object: pod('a', '12') } },
      { type: 'emit', event: { type: 'deleted', object: pod('b', '13') } },
    ])
    assert.equal(e.state.resourceVersion, '13')
  })

  test('a clean end watches again from the last resourceVersion without relisting', () => {
    const e = watching()
    e.feed({ type: 'watchEvent', event: { type: 'MODIFIED', object: pod('a', '15') } })
    assert.deepEqual(io(e.feed({ type: 'watchEnded' })), [
      { type: 'watch', params: { resourceVersion: '15', allowWatchBookmarks: true, timeoutSeconds: 300 } },
    ])
  })

  test('a watch closed within a second without any event backs off instead of reconnecting at once (client-go "very short watch")', () => {
    const e = watching()
    assert.deepEqual(io(e.feed({ type: 'watchEnded', durationMs: 20, events: 0 })), [{ type: 'wait', ms: 800, reason: 'very short watch' }])
    assert.deepEqual(io(e.feed({ type: 'backoffElapsed' })), [{ type: 'watch', params: { resourceVersion: '10', allowWatchBookmarks: true, timeoutSeconds: 300 } }])
    // a short watch that delivered something, or a long one without events, reconnects at once
    assert.equal(io(e.feed({ type: 'watchEnded', durationMs: 20, events: 1 }))[0]?.type, 'watch')
    assert.equal(io(e.feed({ type: 'watchEnded', durationMs: 300_000, events: 0 }))[0]?.type, 'watch')
  })

  test('bookmarks advance the resourceVersion the next watch starts from (client-go: lastSyncResourceVersion)', () => {
    const e = watching()
    assert.deepEqual(io(e.feed({ type: 'watchEvent', event: bookmark('99') })), [{ type: 'emit', event: { type: 'bookmark', resourceVersion: '99' } }])
    const again = e.feed({ type: 'watchEnded' })
    assert.deepEqual(io(again), [{ type: 'watch', params: { resourceVersion: '99', allowWatchBookmarks: true, timeoutSeconds: 300 } }])
  })

  test('a malformed line is counted and logged, and the valid event after it is still emitted', () => {
    const e = watching()
    const bad = e.feed({ type: 'decodeError', error: new DecodeError('invalid JSON', 120, 30, '{"type":"ADD') })
    assert.deepEqual(counters(bad), ['decodeErrors'])
    assert.ok(bad.some((x) => x.type === 'log' && x.level === 'warn' && x.data?.offset === 120))
    assert.equal(e.state.phase, 'Watching')
    assert.deepEqual(io(e.feed({ type: 'watchEvent', event: { type: 'ADDED', object: pod('z', '11') } })), [
      { type: 'emit', event: { type: 'added', object: pod('z', '11') } },
    ])
  })

  test('a consumer-requested relist closes the watch and lists again', () => {
    const e = watching()
    assert.deepEqual(io(e.feed({ type: 'relist' })), [{ type: 'closeWatch' }, { type: 'list', params: { limit: 500 } }])
  })

  test('inputs that do not fit the phase (late outcomes) change nothing', () => {
    const e = watching()
    const before = e.state
    assert.deepEqual(e.feed({ type: 'listPage', items: [pod('x', '1')], continueToken: undefined, resourceVersion: '1' }), [])
    assert.deepEqual(e.feed({ type: 'backoffElapsed' }), [])
    assert.deepEqual(e.feed({ type: 'start' }), [])
    assert.equal(e.state, before)
  })
})

describe('engine: 410 Gone relists', () => {
  test('410 at watch start relists at once and the relist is not initial (no second synced)', () => {
    const e = watching()
    e.feed({ type: 'watchEnded' })
    const gone = e.feed({ type: 'watchFailed', status: 410, error: new ApiStatusError(410, 'Gone') })
    assert.deepEqual(counters(gone), ['gone'])
    assert.deepEqual(io(gone), [{ type: 'list', params: { limit: 500 } }])
    const done = e.feed({ type: 'listPage', items: [pod('a', '20')], continueToken: undefined, resourceVersion: '30' })
    assert.deepEqual(
      io(done).map((x) => (x.type === 'emit' ? x.event : x.type)),
      [{ type: 'relistStart', initial: false }, { type: 'relistPage', objects: [pod('a', '20')] }, { type: 'relistDone', resourceVersion: '30', initial: false }, 'watch'],
    )
  })

  test('an ERROR event with code 410 in the stream closes the watch and relists', () => {
    const e = watching()
    const effects = e.feed({ type: 'watchEvent', event: statusEvent(410, 'Expired') })
    assert.deepEqual(io(effects), [{ type: 'closeWatch' }, { type: 'list', params: { limit: 500 } }])
    assert.deepEqual(counters(effects), ['gone'])
  })

  test('410s in a row without progress back off instead of relisting in a tight loop', () => {
    const e = watching()
    e.feed({ type: 'watchEvent', event: statusEvent(410, 'Expired') })
    e.feed({ type: 'listPage', items: [], continueToken: undefined, resourceVersion: '30' })
    const second = e.feed({ type: 'watchFailed', status: 410 })
    assert.deepEqual(io(second), [{ type: 'wait', ms: 800, reason: 'repeated 410' }])
    assert.deepEqual(io(e.feed({ type: 'backoffElapsed' })), [{ type: 'list', params: { limit: 500 } }])
  })

  test('progress (an event or a bookmark) resets the 410 streak', () => {
    const e = watching()
    e.feed({ type: 'watchEvent', event: statusEvent(410, 'Expired') })
    e.feed({ type: 'listPage', items: [], continueToken: undefined, resourceVersion: '30' })
    e.feed({ type: 'watchStarted' })
    e.feed({ type: 'watchEvent', event: bookmark('31') })
    assert.deepEqual(io(e.feed({ type: 'watchEvent', event: statusEvent(410, 'Expired') })), [{ type: 'closeWatch' }, { type: 'list', params: { limit: 500 } }])
  })

  test('410 on a later list page (expired continue token) lists again from the first page', () => {
    const e = engine({ pageSize: 1 })
    e.feed({ type: 'start' })
    e.feed({ type: 'listPage', items: [pod('a', '1')], continueToken: 'c1', resourceVersion: '' })
    assert.deepEqual(io(e.feed({ type: 'listFailed', status: 410 })), [{ type: 'list', params: { limit: 1 } }])
    const again = e.feed({ type: 'listPage', items: [pod('a', '1')], continueToken: 'c2', resourceVersion: '' })
    assert.equal(io(again)[0]?.type === 'emit' && (io(again)[0] as { event: { type: string } }).event.type, 'relistStart')
  })
})

describe('engine: failures and backoff', () => {
  test('5xx and network errors back off 800, 1600, 3200 … 30000 ms (client-go reflector) and retry the same request', () => {
    const e = engine({ pageSize: 1 })
    e.feed({ type: 'start' })
    e.feed({ type: 'listPage', items: [pod('a', '1')], continueToken: 'c1', resourceVersion: '' })
    const waits: number[] = []
    for (let i = 0; i < 8; i++) {
      const fail = i % 2 === 0 ? { status: 503 } : { error: new Error('ECONNRESET') }
      const effects = e.feed({ type: 'listFailed', ...fail })
      for (const x of effects) if (x.type === 'wait') waits.push(x.ms)
      assert.deepEqual(io(e.feed({ type: 'backoffElapsed' })), [{ type: 'list', params: { limit: 1, continueToken: 'c1' } }])
    }
    assert.deepEqual(waits, [800, 1600, 3200, 6400, 12800, 25600, 30000, 30000])
  })

  test('429 waits Retry-After seconds, then retries; without Retry-After it backs off', () => {
    const e = watching()
    e.feed({ type: 'watchEnded' })
    const throttled = e.feed({ type: 'watchFailed', status: 429, retryAfterSeconds: 7 })
    assert.deepEqual(io(throttled), [{ type: 'closeWatch' }, { type: 'wait', ms: 7000, reason: 'Retry-After' }])
    assert.deepEqual(counters(throttled), ['throttled'])
    assert.deepEqual(io(e.feed({ type: 'backoffElapsed' })), [{ type: 'watch', params: { resourceVersion: '10', allowWatchBookmarks: true, timeoutSeconds: 300 } }])
    const bare = e.feed({ type: 'watchFailed', status: 429 })
    assert.deepEqual(io(bare), [{ type: 'closeWatch' }, { type: 'wait', ms: 800, reason: 'throttled (429) without Retry-After' }])
  })

  test('a Retry-After beyond maxRetryAfterSeconds waits the cap (never silenced for long); a Retry-After of 0 backs off instead of retrying at once', () => {
    const e = watching()
    e.feed({ type: 'watchEnded' })
    assert.deepEqual(io(e.feed({ type: 'watchFailed', status: 429, retryAfterSeconds: 3600 })), [{ type: 'closeWatch' }, { type: 'wait', ms: 30_000, reason: 'Retry-After' }])
    e.feed({ type: 'backoffElapsed' })
    const zero = [0, 0, 0].map(() => {
      const step = io(e.feed({ type: 'watchFailed', status: 429, retryAfterSeconds: 0 }))
      e.feed({ type: 'backoffElapsed' })
      return step
    })
    assert.deepEqual(
      zero.map((effects) => effects.find((x) => x.type === 'wait')),
      [800, 1600, 3200].map((ms) => ({ type: 'wait', ms, reason: 'throttled (429) with Retry-After 0' })),
    )
    const capped = engine({ maxRetryAfterSeconds: 5 })
    capped.feed({ type: 'start' })
    assert.deepEqual(io(capped.feed({ type: 'listFailed', status: 429, retryAfterSeconds: 9 })), [{ type: 'closeWatch' }, { type: 'wait', ms: 5000, reason: 'Retry-After' }])
  })

  test('429 on a list page keeps the continue token', () => {
    const e = engine({ pageSize: 1 })
    e.feed({ type: 'start' })
    e.feed({ type: 'listPage', items: [pod('a', '1')], continueToken: 'c1', resourceVersion: '' })
    e.feed({ type: 'listFailed', status: 429, retryAfterSeconds: 2 })
    assert.deepEqual(io(e.feed({ type: 'backoffElapsed' })), [{ type: 'list', params: { limit: 1, continueToken: 'c1' } }])
  })

  test('a watch that fails mid-stream resumes from the last resourceVersion after a backoff', () => {
    const e = watching()
    e.feed({ type: 'watchEvent', event: { type: 'ADDED', object: pod('b', '17') } })
    assert.deepEqual(io(e.feed({ type: 'watchFailed', error: new Error('socket hang up') })), [{ type: 'closeWatch' }, { type: 'wait', ms: 800, reason: 'watch failed', cause: 'network error: socket hang up' }])
    assert.deepEqual(io(e.feed({ type: 'backoffElapsed' })), [{ type: 'watch', params: { resourceVersion: '17', allowWatchBookmarks: true, timeoutSeconds: 300 } }])
  })

  test('an ERROR event other than 410 is counted, closes the watch and lists again after a backoff (client-go reflector)', () => {
    // client-go ends the watch on an ERROR event and relists after a backoff: internal errors
    // are retried only within MaxInternalErrorRetryDuration (0 by default). Watching again from
    // the same RV can fail forever (etcd compacted just past it: 500 "PrevKv=nil" every time).
    const e = watching()
    const effects = e.feed({ type: 'watchEvent', event: statusEvent(500, 'InternalError') })
    assert.deepEqual(io(effects), [
      { type: 'closeWatch' },
      { type: 'wait', ms: 800, reason: 'watch ERROR event', cause: 'ERROR event 500 InternalError: too old resource version: InternalError' },
    ])
    assert.deepEqual(counters(effects), ['watchErrors', 'failures'])
    assert.ok(effects.some((x) => x.type === 'log' && x.level === 'warn' && x.data?.code === 500))
    assert.deepEqual(io(e.feed({ type: 'backoffElapsed' })), [{ type: 'list', params: { limit: 500 } }])
  })

  test('a 5xx backoff names its cause: HTTP status, Status reason and message', () => {
    const e = watching()
    const err = new ApiStatusError(500, 'etcd hiccup', { reason: 'InternalError' })
    assert.deepEqual(io(e.feed({ type: 'watchFailed', status: 500, error: err })), [{ type: 'wait', ms: 800, reason: 'watch failed', cause: 'HTTP 500 InternalError: etcd hiccup' }])
  })

  test('a stall closes the watch and resumes from the last resourceVersion after a backoff', () => {
    const e = watching()
    e.feed({ type: 'watchEvent', event: bookmark('12') })
    const effects = e.feed({ type: 'stalled' })
    assert.deepEqual(io(effects), [{ type: 'closeWatch' }, { type: 'wait', ms: 800, reason: 'stalled watch' }])
    assert.ok(counters(effects).includes('stalls'))
    assert.deepEqual(io(e.feed({ type: 'backoffElapsed' })), [{ type: 'watch', params: { resourceVersion: '12', allowWatchBookmarks: true, timeoutSeconds: 300 } }])
  })

  const terminal = [
    [401, 'credentials rejected'],
    [403, 'forbidden'],
    [404, 'not found'],
  ] as const
  for (const [status, words] of terminal) {
    test(`${status} on the list is a terminal InitialListFailedError (phase list, not retryable), and nothing runs after it`, () => {
      const e = engine()
      e.feed({ type: 'start' })
      const effects = e.feed({ type: 'listFailed', status, error: new ApiStatusError(status, `HTTP ${status}`) })
      assert.equal(e.state.phase, 'Failed')
      assert.ok(e.state.phase === 'Failed')
      const err = e.state.error
      assert.ok(err instanceof InitialListFailedError && err instanceof WatchError)
      assert.equal(err.code, 'ERR_WATCH_LIST_FAILED')
      assert.equal(err.phase, 'list')
      assert.equal(err.status, status)
      assert.equal(err.retryable, false)
      assert.match(err.message, new RegExp(words))
      assert.ok(!effects.some((x) => x.type === 'list' || x.type === 'watch' || x.type === 'wait'))
      assert.deepEqual(e.feed({ type: 'backoffElapsed' }), [])
    })

    test(`${status} at watch start is a terminal WatchStartFailedError (phase watch-start)`, () => {
      const e = watching()
      e.feed({ type: 'watchEnded' })
      e.feed({ type: 'watchFailed', status })
      assert.ok(e.state.phase === 'Failed')
      assert.ok(e.state.error instanceof WatchStartFailedError)
      assert.equal(e.state.error.phase, 'watch-start')
      assert.equal(e.state.error.code, 'ERR_WATCH_START_FAILED')
    })
  }
})

describe('engine: resume from a resourceVersion', () => {
  test('watches from the given resourceVersion without listing, and syncs once the watch opens', () => {
    const e = engine({ resourceVersion: '500' })
    assert.deepEqual(io(e.feed({ type: 'start' })), [{ type: 'watch', params: { resourceVersion: '500', allowWatchBookmarks: true, timeoutSeconds: 300 } }])
    assert.deepEqual(io(e.feed({ type: 'watchStarted' })), [{ type: 'emit', event: { type: 'synced', resourceVersion: '500' } }])
    assert.deepEqual(io(e.feed({ type: 'watchStarted' })), [])
  })

  test('a 410 on the resumed watch relists; that relist is the initial one', () => {
    const e = engine({ resourceVersion: '500' })
    e.feed({ type: 'start' })
    assert.deepEqual(io(e.feed({ type: 'watchFailed', status: 410 })), [{ type: 'list', params: { limit: 500 } }])
    const done = io(e.feed({ type: 'listPage', items: [], continueToken: undefined, resourceVersion: '900' }))
    assert.deepEqual(done.slice(2, 4), [
      { type: 'emit', event: { type: 'relistDone', resourceVersion: '900', initial: true } },
      { type: 'emit', event: { type: 'synced', resourceVersion: '900' } },
    ])
  })
})

describe('engine: streaming initial list (KEP-3157 sendInitialEvents)', () => {
  test('one watch streams the objects as the relist batch, ends it at the initial-events-end bookmark and keeps watching', () => {
    const e = engine({ initialList: 'stream' })
    assert.deepEqual(io(e.feed({ type: 'start' })), [
      { type: 'watch', params: { allowWatchBookmarks: true, timeoutSeconds: 300, sendInitialEvents: true, resourceVersionMatch: 'NotOlderThan' } },
    ])
    assert.deepEqual(io(e.feed({ type: 'watchStarted' })), [{ type: 'emit', event: { type: 'relistStart', initial: true } }])
    assert.deepEqual(io(e.feed({ type: 'watchEvent', event: { type: 'ADDED', object: pod('a', '3') } })), [
      { type: 'emit', event: { type: 'relistPage', objects: [pod('a', '3')] } },
    ])
    assert.deepEqual(io(e.feed({ type: 'watchEvent', event: bookmark('8') })), [], 'a plain bookmark inside the stream only moves the RV')
    assert.deepEqual(io(e.feed({ type: 'watchEvent', event: bookmark('9', true) })), [
      { type: 'emit', event: { type: 'relistDone', resourceVersion: '9', initial: true } },
      { type: 'emit', event: { type: 'synced', resourceVersion: '9' } },
    ])
    assert.equal(e.state.phase, 'Watching')
    assert.equal(e.state.streaming, 'supported')
    assert.deepEqual(io(e.feed({ type: 'watchEvent', event: { type: 'ADDED', object: pod('b', '10') } })), [
      { type: 'emit', event: { type: 'added', object: pod('b', '10') } },
    ])
    assert.deepEqual(io(e.feed({ type: 'watchEnded' })), [{ type: 'watch', params: { resourceVersion: '10', allowWatchBookmarks: true, timeoutSeconds: 300 } }])
  })

  for (const status of [400, 422]) {
    test(`a server that rejects the streaming parameters (${status}) gets list+watch, now and for later relists`, () => {
      const e = engine({ initialList: 'stream' })
      e.feed({ type: 'start' })
      assert.deepEqual(io(e.feed({ type: 'watchFailed', status })), [{ type: 'list', params: { limit: 500 } }])
      assert.equal(e.state.streaming, 'unsupported')
      e.feed({ type: 'listPage', items: [], continueToken: undefined, resourceVersion: '5' })
      e.feed({ type: 'watchStarted' })
      assert.deepEqual(io(e.feed({ type: 'watchEvent', event: statusEvent(410, 'Expired') })), [{ type: 'closeWatch' }, { type: 'list', params: { limit: 500 } }])
    })
  }

  test('a streaming list that ends before its bookmark is finished by a paged list after a backoff (client-go reflector: fall back to LIST/WATCH rather than deadlock); later relists stream again', () => {
    const e = engine({ initialList: 'stream' })
    e.feed({ type: 'start' })
    e.feed({ type: 'watchStarted' })
    e.feed({ type: 'watchEvent', event: { type: 'ADDED', object: pod('a', '3') } })
    assert.deepEqual(io(e.feed({ type: 'watchEnded' })), [{ type: 'wait', ms: 800, reason: 'streaming list ended early' }])
    assert.deepEqual(io(e.feed({ type: 'backoffElapsed' })), [{ type: 'list', params: { limit: 500 } }])
    const page = e.feed({ type: 'listPage', items: [pod('a', '3'), pod('b', '4')], continueToken: undefined, resourceVersion: '4' })
    assert.deepEqual(
      page.filter((x) => x.type === 'emit'),
      [
        { type: 'emit', event: { type: 'relistStart', initial: true } },
        { type: 'emit', event: { type: 'relistPage', objects: [pod('a', '3'), pod('b', '4')] } },
        { type: 'emit', event: { type: 'relistDone', resourceVersion: '4', initial: true } },
        { type: 'emit', event: { type: 'synced', resourceVersion: '4' } },
      ],
    )
    assert.equal(e.state.streaming, 'untried')
    e.feed({ type: 'watchStarted' })
    const relist = io(e.feed({ type: 'watchEvent', event: statusEvent(410, 'Expired') }))
    assert.ok(relist[1]?.type === 'watch' && relist[1].params.sendInitialEvents === true, 'the next relist streams again')
  })

  test('a streaming list that stalls or is cut after it opened is finished by a paged list; one that fails before opening streams again', () => {
    for (const lost of [{ type: 'stalled' }, { type: 'watchFailed' }] as const) {
      const e = engine({ initialList: 'stream' })
      e.feed({ type: 'start' })
      e.feed({ type: 'watchStarted' })
      e.feed({ type: 'watchEvent', event: { type: 'ADDED', object: pod('a', '3') } })
      e.feed(lost)
      assert.deepEqual(io(e.feed({ type: 'backoffElapsed' })), [{ type: 'list', params: { limit: 500 } }], lost.type)
    }
    const e = engine({ initialList: 'stream' })
    e.feed({ type: 'start' })
    e.feed({ type: 'watchFailed' })
    const again = io(e.feed({ type: 'backoffElapsed' }))
    assert.ok(again[0]?.type === 'watch' && again[0].params.sendInitialEvents === true)
  })

  test('a 410 while watching after a streaming list relists by streaming again', () => {
    const e = engine({ initialList: 'stream' })
    e.feed({ type: 'start' })
    e.feed({ type: 'watchStarted' })
    e.feed({ type: 'watchEvent', event: bookmark('9', true) })
    const effects = io(e.feed({ type: 'watchEvent', event: statusEvent(410, 'Expired') }))
    assert.equal(effects[1]?.type, 'watch')
    assert.ok(effects[1]?.type === 'watch' && effects[1].params.sendInitialEvents === true && effects[1].params.resourceVersion === undefined)
  })
})
