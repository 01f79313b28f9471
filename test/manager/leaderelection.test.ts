// The elector against client-go's tools/leaderelection semantics, on a fake clock.
import assert from 'node:assert/strict'
import { Writable } from 'node:stream'
import { describe, test } from 'node:test'
import { createLogger } from '../../lib/log.ts'
import { InvalidLeaderElectionError, LEADER_ELECTION_DEFAULTS, LeaderElector, type StoppedLeadingReason, validateLeaderElection } from '../../lib/manager/leaderelection.ts'
import { KubeConfig } from '@kubernetes/client-node'
import { LeaseLock, microTime } from '../../lib/manager/resourcelock.ts'
import { FakeClock } from '../../lib/testing/fake-clock.ts'
import { MemoryLease, MemoryLock } from './support.ts'

const silent = createLogger({ level: 'silent' })

interface Candidate {
  elector: LeaderElector
  events: string[]
  abort: AbortController
  run: Promise<unknown>
  startedAt?: number
  stoppedAt?: number
  stopped?: StoppedLeadingReason
}

function candidate(lease: MemoryLease, clock: FakeClock, identity: string, opts: { releaseOnCancel?: boolean; random?: () => number; lines?: string[] } = {}): Candidate {
  const events: string[] = []
  const c = { events, abort: new AbortController() } as Candidate
  const logger = opts.lines
    ? createLogger({ level: 'debug', destination: new Writable({
          write: (chunk, _e, cb) => {
            opts.lines?.push(String(chunk))
            cb()
          },
        }) })
    : silent
  c.elector = new LeaderElector({
    lock: new MemoryLock(lease, identity),
    releaseOnCancel: opts.releaseOnCancel,
    clock,
    wallClock: () => 1_700_000_000_000 + clock.now(),
    random: opts.random ?? (() => 0),
    logger,
    callbacks: {
      onStartedLeading: () => {
        c.startedAt = clock.now()
        events.push('started')
      },
      onStoppedLeading: (reason) => {
        c.stoppedAt = clock.now()
        c.stopped = reason
        events.push(`stopped:${reason}`)
      },
      onNewLeader: (id) => events.push(`leader:${id}`),
    },
  })
  c.run = c.elector.run(c.abort.signal)
  return c
}

describe('leader election configuration (client-go NewLeaderElector checks)', () => {
  test('defaults are controller-runtime’s: 15 s lease, 10 s renew deadline, 2 s retry', () => {
    assert.deepEqual({ ...LEADER_ELECTION_DEFAULTS }, { leaseDurationMs: 15_000, renewDeadlineMs: 10_000, retryPeriodMs: 2_000 })
    assert.deepEqual(validateLeaderElection({}), LEADER_ELECTION_DEFAULTS)
  })
  test('renewDeadline must exceed JitterFactor (1.2) × retryPeriod', () => {
    assert.throws(() => validateLeaderElection({ renewDeadlineMs: 2_400, retryPeriodMs: 2_000 }), InvalidLeaderElectionError)
    assert.doesNotThrow(() => validateLeaderElection({ renewDeadlineMs: 2_401, retryPeriodMs: 2_000 }))
  })
  test('leaseDuration must exceed renewDeadline, and every duration is >= 1 ms', () => {
    assert.throws(() => validateLeaderElection({ leaseDurationMs: 10_000, renewDeadlineMs: 10_000 }), /leaseDuration must be greater than renewDeadline/)
    assert.throws(() => validateLeaderElection({ retryPeriodMs: 0 }), InvalidLeaderElectionError)
    assert.throws(() => validateLeaderElection({ leaseDurationMs: Number.NaN }), InvalidLeaderElectionError)
  })
  test('a LeaseLock without a namespace, name or identity is refused with the typed error', () => {
    const kc = new KubeConfig()
    kc.loadFromOptions({ clusters: [{ name: 'c', server: 'http://127.0.0.1:1' }], users: [{ name: 'u' }], contexts: [{ name: 'x', cluster: 'c', user: 'u' }], currentContext: 'x' })
    assert.throws(() => new LeaseLock(kc, { namespace: '', name: 'lock', identity: 'me' }), InvalidLeaderElectionError)
    assert.throws(() => new LeaseLock(kc, { namespace: 'ns', name: '', identity: 'me' }), InvalidLeaderElectionError)
    assert.throws(() => new LeaseLock(kc, { namespace: 'ns', name: 'lock', identity: '' }), /needs an identity/)
    assert.ok(new LeaseLock(kc, { namespace: 'ns', name: 'lock', identity: 'me' }))
  })
  test('MicroTime has six fractional digits, as a Lease’s acquireTime/renewTime', () => {
    assert.equal(microTime(Date.UTC(2026, 0, 2, 3, 4, 5, 678)), '2026-01-02T03:04:05.678000Z')
  })
})

describe('LeaderElector (client-go leaderelection.go semantics, fake clock)', () => {
  test('the first candidate creates the lock and leads; a second observes and does not', async () => {
    const clock = new FakeClock()
    const lease = new MemoryLease()
    const a = candidate(lease, clock, 'a')
    await clock.advance(0)
    const b = candidate(lease, clock, 'b')
    await clock.advance(10_000)
    assert.deepEqual(a.events, ['leader:a', 'started'])
    assert.equal(a.elector.isLeader, true)
    assert.deepEqual(b.events, ['leader:a'])
    assert.equal(b.elector.status().holder, 'a')
    assert.equal(lease.record?.leaseDurationSeconds, 15)
    // a renewed every retry period (2 s): 1 create + 5 renewals in 10 s, all by a.
    assert.ok(lease.writes.length >= 5 && lease.writes.every((w) => w.identity === 'a'))
    a.abort.abort()
    b.abort.abort()
    await clock.advance(20_000)
    await Promise.all([a.run, b.run])
  })

  test('a crashed leader is replaced no earlier than leaseDuration after the standby observed its last renewal, and within lease + retry of it (DESIGN §7)', async () => {
    const clock = new FakeClock()
    const lease = new MemoryLease()
    const a = candidate(lease, clock, 'a')
    await clock.advance(0)
    const b = candidate(lease, clock, 'b', { random: () => 0 })
    await clock.advance(5_000)
    // a "crashes": it stops renewing without releasing (the lock keeps its record).
    a.abort.abort()
    const lastRenewal = clock.now() // a renewed at 4 s; b observed that within its next retry
    await clock.advance(60_000)
    await a.run
    assert.ok(b.startedAt !== undefined, 'b took over')
    const observedAt = 4_000 // a's last renewal (at 4 s) is first seen by b at its next read, at or after 4 s
    assert.ok(b.startedAt >= observedAt + 15_000, `b started at ${b.startedAt}, before the lease expired`)
    assert.ok(b.startedAt <= lastRenewal + 15_000 + 2_000, `b started at ${b.startedAt}`)
    assert.equal(lease.record?.holderIdentity, 'b')
    assert.equal(lease.record?.leaderTransitions, 1)
    b.abort.abort()
    await clock.advance(5_000)
  })

  test('crash failover stays within leaseDuration + retryPeriod of the kill across jitter draws and kill phases', async () => {
    for (const r of [0, 0.3, 0.7, 0.99]) {
      for (const killAt of [5_000, 5_700, 6_300, 6_999]) {
        const clock = new FakeClock()
        const lease = new MemoryLease()
        const a = candidate(lease, clock, 'a')
        await clock.advance(0)
        const b = candidate(lease, clock, 'b', { random: () => r })
        await clock.advance(killAt)
        a.abort.abort()
        const killed = clock.now()
        await clock.advance(30_000)
        assert.ok(b.startedAt !== undefined && b.startedAt - killed <= 15_000 + 2_000, `r=${r} kill=${killAt}: took ${(b.startedAt ?? Number.NaN) - killed} ms`)
        b.abort.abort()
        await clock.advance(5_000)
      }
    }
  })

  test('release on cancel: the lease is written with no holder and 1 s, and the standby leads at its next retry', async () => {
    const clock = new FakeClock()
    const lease = new MemoryLease()
    const a = candidate(lease, clock, 'a', { releaseOnCancel: true })
    await clock.advance(0)
    const b = candidate(lease, clock, 'b')
    await clock.advance(3_000)
    const canceledAt = clock.now()
    a.abort.abort()
    assert.equal(await a.run, 'canceled')
    assert.equal(lease.record?.holderIdentity, '', 'released: no holder')
    await clock.advance(5_000)
    assert.ok(b.startedAt !== undefined && b.startedAt - canceledAt <= 2_000 * 2.2, `b led ${b.startedAt! - canceledAt} ms after the release`)
    assert.deepEqual(a.events, ['leader:a', 'started', 'stopped:canceled'])
    const released = lease.writes.find((w) => w.identity === 'a' && w.record.holderIdentity === '')
    assert.equal(released?.record.leaseDurationSeconds, 1)
    b.abort.abort()
    await clock.advance(5_000)
  })

  test('renewals refused by the API server: leadership is lost renewDeadline after the failing renewal began, before the lease can expire for anyone else', async () => {
    const clock = new FakeClock()
    const lease = new MemoryLease()
    const a = candidate(lease, clock, 'a')
    await clock.advance(4_000)
    const lastGood = lease.writes.at(-1) as { record: { renewTime?: string } }
    lease.down = true
    await clock.advance(20_000)
    assert.equal(a.stopped, 'lost')
    assert.equal(await a.run, 'lost')
    const lastRenewAt = Date.parse(lastGood.record.renewTime as string) - 1_700_000_000_000
    // The failing renewal began one retry period after the last good one.
    assert.ok((a.stoppedAt as number) <= lastRenewAt + 2_000 + 10_000, `lost at ${a.stoppedAt}`)
    assert.ok((a.stoppedAt as number) < lastRenewAt + 15_000, 'stopped before anyone could take the lease over')
    assert.equal(a.elector.isLeader, false)
  })

  test('a network stall past the renew deadline: each request is aborted at the deadline and leadership is lost', async () => {
    const clock = new FakeClock()
    const lease = new MemoryLease()
    const a = candidate(lease, clock, 'a')
    await clock.advance(2_000)
    lease.stall = true
    await clock.advance(13_000)
    assert.equal(a.stopped, 'lost')
    assert.ok((a.stoppedAt as number) <= 2_000 + 2_000 + 10_000)
  })

  test('the lease taken by someone else: lost at the next renewal, not after the deadline', async () => {
    const clock = new FakeClock()
    const lease = new MemoryLease()
    const a = candidate(lease, clock, 'a')
    await clock.advance(3_000)
    lease.takeOver('intruder')
    const takenAt = clock.now()
    await clock.advance(4_000)
    assert.equal(a.stopped, 'lost')
    assert.ok((a.stoppedAt as number) - takenAt <= 2_000, `lost ${(a.stoppedAt as number) - takenAt} ms after the takeover`)
  })

  test('a standby logs that it is not the leader once, not on every retry', async () => {
    const clock = new FakeClock()
    const lease = new MemoryLease()
    const a = candidate(lease, clock, 'a')
    await clock.advance(0)
    const lines: string[] = []
    const b = candidate(lease, clock, 'b', { lines })
    await clock.advance(30_000)
    const info = lines.map((l) => JSON.parse(l)).filter((l) => l.level >= 30)
    assert.equal(info.filter((l) => /not the leader/.test(l.msg)).length, 1)
    assert.equal(info.filter((l) => /held by a/.test(l.msg)).length, 1, 'the held-by message is logged once at info')
    assert.ok(lines.length > 5, 'retries are still logged, at debug')
    assert.ok(info.every((l) => l.identity === 'b'), 'every line carries the identity')
    a.abort.abort()
    b.abort.abort()
    await clock.advance(30_000)
  })

  test('an elector runs once', async () => {
    const clock = new FakeClock()
    const a = candidate(new MemoryLease(), clock, 'a')
    await assert.rejects(a.elector.run(new AbortController().signal), InvalidLeaderElectionError)
    a.abort.abort()
    await clock.advance(1_000)
  })
})
