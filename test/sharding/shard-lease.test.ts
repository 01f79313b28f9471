// Shard Leases (timebertt/kubernetes-controller-sharding pkg/shard/lease): the states the
// sharder reads, and a shard holding, losing, re-acquiring and releasing its Lease on a fake clock.
import assert from 'node:assert/strict'
import { KubeConfig } from '@kubernetes/client-node'
import { describe, test } from 'node:test'
import { createLogger } from '../../lib/log.ts'
import { microTime } from '../../lib/manager/resourcelock.ts'
import { InvalidShardingError } from '../../lib/sharding/labels.ts'
import { RING_LABEL, ShardLease, ShardLeaseLock, shardState } from '../../lib/sharding/shard-lease.ts'
import { startApiServer } from '../../lib/testing/apiserver/index.ts'
import { FakeClock } from '../../lib/testing/fake-clock.ts'
import { MemoryLease, MemoryLock } from '../manager/support.ts'

const silent = createLogger({ level: 'silent' })
const T0 = Date.UTC(2026, 0, 1)

function lease(holder: string, renewAt: number, seconds = 10) {
  return { metadata: { name: 'shard-a' }, spec: { holderIdentity: holder, leaseDurationSeconds: seconds, renewTime: microTime(renewAt) } }
}

describe('shardState (timebertt lease.ToState)', () => {
  test('ready until renewTime + duration; expired for one more duration; then uncertain', () => {
    const l = lease('shard-a', T0)
    assert.equal(shardState(l, T0), 'ready')
    assert.equal(shardState(l, T0 + 9_999), 'ready')
    assert.equal(shardState(l, T0 + 10_000), 'expired')
    assert.equal(shardState(l, T0 + 19_999), 'expired')
    assert.equal(shardState(l, T0 + 20_000), 'uncertain')
    assert.equal(shardState(l, T0 + 3_600_000), 'uncertain')
  })

  test('held by another (the sharder took it) or by nobody (released): dead; orphaned after orphanAfter', () => {
    assert.equal(shardState(lease('sharder-x', T0), T0), 'dead')
    assert.equal(shardState(lease('', T0), T0 + 1), 'dead')
    assert.equal(shardState(lease('', T0), T0 + 60_000), 'dead')
    assert.equal(shardState(lease('', T0), T0 + 60_001), 'orphaned')
    assert.equal(shardState(lease('', T0), T0 + 5_001, 5_000), 'dead', 'never orphaned within one lease duration (10 s)')
    assert.equal(shardState(lease('', T0), T0 + 10_001, 5_000), 'orphaned')
    assert.equal(shardState({ metadata: { name: 'x' } }, T0), 'dead')
  })
})

describe('ShardLease (fake clock, in-memory lock)', () => {
  const timing = { leaseDurationMs: 3_000, renewDeadlineMs: 2_000, retryPeriodMs: 500 }

  test('holds its Lease, loses it when renewals fail for the renew deadline (signal aborts), holds it again, releases it on stop', async () => {
    const clock = new FakeClock()
    const memory = new MemoryLease()
    const shard = new ShardLease({ lock: new MemoryLock(memory, 'shard-a'), ...timing, clock, wallClock: () => T0 + clock.now(), logger: silent })
    const stop = new AbortController()
    const running = shard.run(stop.signal)
    assert.equal(await shard.whenHolding(), true)
    assert.ok(shard.holding)
    const held = shard.signal
    assert.equal(held.aborted, false)
    assert.equal(memory.record?.holderIdentity, 'shard-a')

    // The API server refuses: the shard stops holding within the renew deadline (+ one retry period for the last renewal's start).
    memory.down = true
    const downAt = clock.now()
    while (shard.holding) await clock.advance(50)
    assert.ok(clock.now() - downAt <= timing.renewDeadlineMs + timing.retryPeriodMs, `lost after ${clock.now() - downAt} ms`)
    assert.ok(held.aborted)
    // The shard stopped while its Lease still reads ready; the sharder acts only once it is uncertain (renewTime + 2 × duration).
    const renewedAt = Date.parse(memory.record?.renewTime as string)
    assert.equal(shardState({ metadata: { name: 'shard-a' }, spec: { ...memory.record, holderIdentity: 'shard-a', leaseDurationSeconds: 3 } }, T0 + clock.now()), 'ready')
    assert.ok(T0 + clock.now() < renewedAt + timing.leaseDurationMs)

    // Back up: it competes again and holds it (its own record is still there: it is the observed holder).
    memory.down = false
    const rejoined = shard.whenHolding()
    for (let i = 0; i < 200 && !shard.holding; i++) await clock.advance(100)
    assert.equal(await rejoined, true)

    stop.abort()
    await running
    assert.equal(shard.holding, false)
    assert.equal(memory.record?.holderIdentity, '', 'released on stop')
    assert.equal(shardState({ metadata: { name: 'shard-a' }, spec: { ...memory.record, holderIdentity: '' } }, T0 + clock.now()), 'dead')
  })

  test('a paused process: holding turns false renewDeadline after the last renewal, before its own renewal gives up', async () => {
    const clock = new FakeClock()
    const memory = new MemoryLease()
    const shard = new ShardLease({ lock: new MemoryLock(memory, 'shard-a'), ...timing, clock, wallClock: () => T0 + clock.now(), logger: silent })
    const stop = new AbortController()
    const running = shard.run(stop.signal)
    await shard.whenHolding()
    // Renewals hang from now on (a stalled connection): the elector still leads until its deadline fires.
    memory.stall = true
    const renewedAt = Date.parse(memory.record?.renewTime as string) - T0
    await clock.advance(renewedAt + timing.renewDeadlineMs - 1 - clock.now())
    assert.ok(shard.holding, 'still within the renew deadline')
    await clock.advance(1)
    assert.equal(shard.holding, false, 'renewDeadline since the last renewal: not held, whatever the elector thinks yet')
    memory.stall = false
    stop.abort()
    await running
  })

  test('the sharder took the Lease over: the shard stops holding at its next renewal', async () => {
    const clock = new FakeClock()
    const memory = new MemoryLease()
    const shard = new ShardLease({ lock: new MemoryLock(memory, 'shard-a'), ...timing, clock, wallClock: () => T0 + clock.now(), logger: silent })
    const stop = new AbortController()
    const running = shard.run(stop.signal)
    await shard.whenHolding()
    memory.takeOver('sharder')
    const at = clock.now()
    while (shard.holding) await clock.advance(50)
    assert.ok(clock.now() - at <= timing.retryPeriodMs + 50)
    stop.abort()
    await running
    assert.equal(memory.record?.holderIdentity, 'sharder', 'a lost lease is not released')
  })

  test('whenHolding resolves false when its signal aborts first; bad timings are typed errors', async () => {
    const shard = new ShardLease({ lock: new MemoryLock(new MemoryLease(), 'x'), logger: silent })
    const ctl = new AbortController()
    const waiting = shard.whenHolding(ctl.signal)
    ctl.abort()
    assert.equal(await waiting, false)
    assert.ok(shard.signal.aborted)
    assert.throws(() => new ShardLease({ lock: new MemoryLock(new MemoryLease(), 'x'), leaseDurationMs: 1_000, renewDeadlineMs: 2_000 }), { code: 'ERR_INVALID_LEADER_ELECTION' })
    assert.throws(() => new ShardLease({ logger: silent }), InvalidShardingError)
    assert.throws(() => new ShardLeaseLock(new KubeConfig(), { namespace: 'default', ring: 'sites', identity: '' }), { code: 'ERR_INVALID_SHARDING' })
    assert.throws(() => new ShardLeaseLock(new KubeConfig(), { namespace: 'default', ring: 'sites', identity: 'Shard_A' }), InvalidShardingError)
  })
})

test('ShardLeaseLock creates the Lease named after the shard, labelled with its ring (embedded API server)', async () => {
  const server = await startApiServer()
  try {
    const shard = new ShardLease({ lock: new ShardLeaseLock(server.kubeConfig, { namespace: 'default', ring: 'sites', identity: 'shard-a' }), logger: silent })
    const stop = new AbortController()
    const running = shard.run(stop.signal)
    await shard.whenHolding()
    const got = server.get({ apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', namespace: 'default', name: 'shard-a' }) as { metadata: { labels?: Record<string, string> }; spec: { holderIdentity: string } }
    assert.equal(got.metadata.labels?.[RING_LABEL], 'sites')
    assert.equal(got.spec.holderIdentity, 'shard-a')
    assert.equal(shardState(got, Date.now()), 'ready')
    stop.abort()
    await running
    const released = server.get({ apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', namespace: 'default', name: 'shard-a' }) as never
    assert.equal(shardState(released, Date.now()), 'dead')
  } finally {
    await server.close()
  }
})
