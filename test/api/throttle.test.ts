/**
 * ThrottledTransport: client-go's client-side QPS/Burst (flowcontrol token bucket, as
 * golang.org/x/time/rate): a full bucket lets `burst` requests out at once, then one per
 * 1/qps; idle time refills it up to `burst`; an aborted waiter gives its token back and
 * never reaches the server. The server records the fake clock's time of each arrival.
 */
import assert from 'node:assert/strict'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { after, before, describe, test } from 'node:test'
import { KubeConfig } from '@kubernetes/client-node'
import { InvalidThrottleError, ThrottledTransport } from '../../lib/api/throttle.ts'
import { FakeClock, settle } from '../../lib/testing/fake-clock.ts'

let server: http.Server
let kubeConfig: KubeConfig
let clock: FakeClock
const arrivals: { path: string; at: number }[] = []

before(async () => {
  server = http.createServer((req, res) => {
    arrivals.push({ path: req.url ?? '', at: clock.now() })
    res.setHeader('Content-Type', 'application/json')
    res.end('{}')
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  kubeConfig = new KubeConfig()
  kubeConfig.loadFromOptions({
    clusters: [{ name: 'c', server: `http://127.0.0.1:${port}`, skipTLSVerify: true }],
    users: [{ name: 'u' }],
    contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
    currentContext: 'x',
  })
})
after(async () => {
  await new Promise((resolve) => server.close(resolve))
})

/** Waits (for real I/O, not for a timeout) until `n` requests have arrived. */
async function arrived(n: number): Promise<void> {
  for (let i = 0; i < 2000 && arrivals.length < n; i++) await new Promise((r) => setTimeout(r, 1))
  assert.equal(arrivals.length, n)
}

const get = (t: ThrottledTransport, path: string, signal?: AbortSignal) => t.json({ method: 'GET', path, signal })

describe('ThrottledTransport (client-go rest.Config QPS/Burst)', () => {
  test('a full bucket lets `burst` requests out at once, then one per 1/qps, in arrival order', async () => {
    arrivals.length = 0
    clock = new FakeClock(1000)
    const t = new ThrottledTransport(kubeConfig, { qps: 10, burst: 3, clock })
    const all = Promise.all(['/1', '/2', '/3', '/4', '/5'].map((p) => get(t, p)))
    await arrived(3)
    await settle()
    assert.equal(clock.nextDue(), 1100, 'the fourth waits for its token at +100 ms')
    await clock.advance(99)
    await settle()
    assert.equal(arrivals.length, 3)
    await clock.advance(1)
    await arrived(4)
    await clock.advance(100)
    await arrived(5)
    await all
    assert.deepEqual(
      arrivals.map((a) => [a.path, a.at]),
      [
        ['/1', 1000],
        ['/2', 1000],
        ['/3', 1000],
        ['/4', 1100],
        ['/5', 1200],
      ],
    )
  })

  test('idle time refills the bucket, up to `burst` and no further', async () => {
    arrivals.length = 0
    clock = new FakeClock(0)
    const t = new ThrottledTransport(kubeConfig, { qps: 2, burst: 2, clock })
    await Promise.all([get(t, '/a'), get(t, '/b')])
    await clock.advance(60_000)
    const next = Promise.all([get(t, '/c'), get(t, '/d'), get(t, '/e')])
    await arrived(4)
    await settle()
    assert.equal(arrivals.length, 4, 'a minute idle refills two tokens, not 120')
    assert.equal(clock.nextDue(), 60_500)
    await clock.advance(500)
    await next
    assert.deepEqual(
      arrivals.map((a) => a.at),
      [0, 0, 60_000, 60_000, 60_500],
    )
  })

  test('a request aborted while it waits rejects with the reason, never reaches the server, and gives its token back', async () => {
    arrivals.length = 0
    clock = new FakeClock(0)
    const t = new ThrottledTransport(kubeConfig, { qps: 1, burst: 1, clock })
    await get(t, '/first')
    const abort = new AbortController()
    const waiting = get(t, '/aborted', abort.signal)
    await settle()
    abort.abort(new Error('gave up'))
    await assert.rejects(waiting, /gave up/)
    assert.equal(clock.nextDue(), undefined, 'its timer is cleared')
    await clock.advance(1000)
    const afterwards = get(t, '/after')
    await arrived(2)
    await afterwards
    assert.deepEqual(
      arrivals.map((a) => [a.path, a.at]),
      [
        ['/first', 0],
        ['/after', 1000],
      ],
    )
    await assert.rejects(get(t, '/pre-aborted', AbortSignal.abort(new Error('already'))), /already/)
  })

  test('a rate it cannot keep is a typed error', () => {
    for (const [qps, burst] of [
      [0, 1],
      [-1, 1],
      [Number.POSITIVE_INFINITY, 1],
      [Number.NaN, 1],
      [5, 0],
      [5, 1.5],
    ] as const) {
      assert.throws(
        () => new ThrottledTransport(kubeConfig, { qps, burst }),
        (err: unknown) => err instanceof InvalidThrottleError && err.code === 'ERR_INVALID_THROTTLE',
      )
    }
  })
})
