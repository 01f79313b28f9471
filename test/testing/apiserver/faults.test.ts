// The fault-injection API: what a client sees for each fault, matching the real failure
// it stands for (a dropped connection, a 410 ERROR event, a 429 with Retry-After from
// API Priority and Fairness, a 500, a stalled stream).
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { type ApiServer, FakeClock, startApiServer } from '../../../lib/testing/index.ts'
import { configMap, openWatch, request } from './helpers.ts'

const CM = '/api/v1/namespaces/default/configmaps'

describe('embedded API server: fault injection', () => {
  let server: ApiServer
  let clock: FakeClock

  before(async () => {
    clock = new FakeClock()
    server = await startApiServer({ clock, bookmarkIntervalMs: 1000 })
  })
  after(() => server.close())

  test('dropWatches abrupt destroys the socket: the client sees a network error', async () => {
    const w = await openWatch(server, `${CM}?watch=1&resourceVersion=${server.resourceVersion}`)
    assert.equal(server.dropWatches({ match: { resource: 'configmaps' } }), 1)
    assert.equal(await w.ended(), 'error')
    assert.equal(server.stats.watchesOpen, 0)
  })

  test('dropWatches clean ends the response: the client sees a normal end of stream', async () => {
    const w = await openWatch(server, `${CM}?watch=1&resourceVersion=${server.resourceVersion}`)
    assert.equal(server.dropWatches({ abrupt: false }), 1)
    assert.equal(await w.ended(), 'clean')
  })

  test('dropWatches only touches the matching watches', async () => {
    const cms = await openWatch(server, `${CM}?watch=1&resourceVersion=${server.resourceVersion}`)
    const pods = await openWatch(server, `/api/v1/pods?watch=1&resourceVersion=${server.resourceVersion}`)
    assert.equal(server.dropWatches({ match: (w) => w.resource === 'pods' }), 1)
    assert.equal(await pods.ended(), 'error')
    server.create(configMap('f-still'))
    assert.equal((await cms.next()).object.metadata.name, 'f-still')
    cms.close()
  })

  test('injectWatchError sends a 410 Expired ERROR event by default and closes the stream', async () => {
    const rv = server.resourceVersion
    const w = await openWatch(server, `${CM}?watch=1&resourceVersion=${rv}`)
    assert.equal(server.injectWatchError(), 1)
    const ev = await w.next()
    assert.equal(ev.type, 'ERROR')
    assert.equal(ev.object.code, 410)
    assert.equal(ev.object.reason, 'Expired')
    assert.match(ev.object.message, new RegExp(`^too old resource version: ${rv} \\(\\d+\\)$`))
    assert.equal(await w.ended(), 'clean')
  })

  test('injectWatchError with another code, keeping the stream open', async () => {
    const w = await openWatch(server, `${CM}?watch=1&resourceVersion=${server.resourceVersion}`)
    server.injectWatchError({ code: 500, reason: 'InternalError', message: 'etcd is sad', close: false })
    const ev = await w.next()
    assert.deepEqual([ev.object.code, ev.object.reason, ev.object.message], [500, 'InternalError', 'etcd is sad'])
    server.create(configMap('f-after-error'))
    assert.equal((await w.next()).type, 'ADDED')
    w.close()
  })

  test('sendMalformedLine writes a line that is not JSON and keeps streaming', async () => {
    const w = await openWatch(server, `${CM}?watch=1&resourceVersion=${server.resourceVersion}`)
    assert.equal(server.sendMalformedLine(), 1)
    const bad = await w.next()
    assert.ok(bad.malformed)
    assert.throws(() => JSON.parse(bad.malformed))
    server.create(configMap('f-after-garbage'))
    assert.equal((await w.next()).object.metadata.name, 'f-after-garbage')
    w.close()
  })

  test('stallWatches keeps the stream open with no bytes, not even bookmarks, until resumed', async () => {
    const w = await openWatch(server, `${CM}?watch=1&resourceVersion=${server.resourceVersion}&allowWatchBookmarks=true`)
    const stalled = server.stallWatches()
    assert.equal(stalled.count, 1)
    assert.equal(server.watches()[0]!.stalled, true)
    server.create(configMap('f-during-stall'))
    await clock.advance(5000)
    await new Promise((r) => setTimeout(r, 20))
    assert.deepEqual(w.lines, [])
    stalled.resume()
    const ev = await w.next()
    assert.equal(ev.object.metadata.name, 'f-during-stall')
    w.close()
  })

  test('failNext answers the next N matching requests with 429 + Retry-After, then serves normally', async () => {
    server.failNext({ code: 429, count: 2, retryAfterSeconds: 7, match: { method: 'GET', path: CM } })
    const other = await request(server, 'GET', '/api/v1/namespaces')
    assert.equal(other.status, 200, 'other paths are not affected')
    for (let i = 0; i < 2; i++) {
      const r = await request(server, 'GET', CM)
      assert.equal(r.status, 429)
      assert.equal(r.headers.get('retry-after'), '7')
      assert.equal(r.body.reason, 'TooManyRequests')
      assert.deepEqual(r.body.details, { retryAfterSeconds: 7 })
    }
    assert.equal((await request(server, 'GET', CM)).status, 200)
  })

  test('failNext with 500 answers an InternalError Status, also for watches, and leaves the store alone', async () => {
    const rv = server.resourceVersion
    server.failNext({ code: 500, match: { method: 'POST' } })
    const r = await request(server, 'POST', CM, configMap('f-500'))
    assert.equal(r.status, 500)
    assert.equal(r.body.reason, 'InternalError')
    assert.equal(server.resourceVersion, rv)
    server.failNext({ match: { watch: true } })
    const w = await request(server, 'GET', `${CM}?watch=1`)
    assert.equal(w.status, 500)
  })

  test('delay holds matching responses until the server clock passes the delay', async () => {
    const cancel = server.delay({ ms: 2000, match: { path: '/api/v1/namespaces/default/configmaps/f-slow' } })
    server.create(configMap('f-slow'))
    let done = false
    const pending = request(server, 'GET', `${CM}/f-slow`).then((r) => {
      done = true
      return r
    })
    await new Promise((r) => setTimeout(r, 30))
    assert.equal(done, false)
    await clock.advance(2000)
    assert.equal((await pending).status, 200)
    cancel()
  })

  test('compact makes watches and exact lists from any older resourceVersion answer 410', async () => {
    const rv = server.resourceVersion
    server.create(configMap('f-compact'))
    server.compact()
    const w = await openWatch(server, `${CM}?watch=1&resourceVersion=${rv}`)
    const ev = await w.next()
    assert.equal(ev.object.code, 410)
    const list = await request(server, 'GET', `${CM}?resourceVersion=${rv}&resourceVersionMatch=Exact`)
    assert.equal(list.status, 410)
  })

  test('counters and the request log', async () => {
    const before = server.stats
    const w = await openWatch(server, `${CM}?watch=1&resourceVersion=${server.resourceVersion}`)
    server.create(configMap('f-count'))
    await w.next()
    const after = server.stats
    assert.equal(after.requests, before.requests + 1)
    assert.equal(after.watchesOpened, before.watchesOpened + 1)
    assert.equal(after.watchesOpen, 1)
    assert.equal(after.watchEventsSent, before.watchEventsSent + 1)
    const last = server.requestLog.at(-1)!
    assert.deepEqual([last.method, last.path, last.watch, last.status], ['GET', CM, true, 200])
    w.close()
  })
})
