// Sharding in one process against the embedded API server: three Managers, each a shard
// (timebertt/kubernetes-controller-sharding's design): assignment, a fourth shard joining
// (drain → acknowledgement → reassignment), a shard stopping (objects move at once), and
// no two shards ever reconciling one object at the same time.
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { createLogger } from '../../lib/log.ts'
import { Manager } from '../../lib/manager/manager.ts'
import { drainLabel, InvalidShardingError, shardLabel, validateShardName } from '../../lib/sharding/labels.ts'
import { Ring, type RingObject, ringKeyOf } from '../../lib/sharding/ring.ts'
import { Sharding } from '../../lib/sharding/shard.ts'
import { Sharder } from '../../lib/sharding/sharder.ts'
import { type ApiServer, startApiServer } from '../../lib/testing/apiserver/index.ts'

const silent = createLogger({ level: process.env.KUBEVISOR_TEST_LOG ?? 'silent' })
const TIMING = { leaseDurationMs: 2_000, renewDeadlineMs: 1_500, retryPeriodMs: 300 }
const CM = { apiVersion: 'v1', kind: 'ConfigMap' }

interface Interval {
  object: string
  shard: string
  start: number
  end: number
}

let server: ApiServer

async function waitFor(what: string, check: () => boolean, ms = 20_000): Promise<void> {
  const end = Date.now() + ms
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 25))
  }
}

interface Replica {
  mgr: Manager
  sharding: Sharding
  name: string
  /** Its controller's `for` target. */
  target: ReturnType<Sharding['target']>
}

/** A shard; `metadataOnly`: its controller watches its objects as PartialObjectMetadata. */
function replica(ns: string, name: string, intervals: Interval[], metadataOnly = false): Replica {
  const mgr = new Manager({
    kubeConfig: server.kubeConfig,
    logger: silent,
    leaderElection: { id: `sharder-${ns}`, namespace: ns, releaseOnCancel: true, ...TIMING },
  })
  const sharding = new Sharding(mgr, {
    kubeConfig: server.kubeConfig,
    shardName: name,
    ring: { name: ns, leaseNamespace: ns, resource: { ...CM, namespace: ns } },
    ...TIMING,
    logger: silent,
  })
  const target = sharding.target({ ...CM, namespace: ns, metadataOnly })
  sharding
    .controller('cm')
    .for(target)
    .withOptions({ maxConcurrentReconciles: 4 })
    .build(async ({ name: object }, { signal }) => {
      const start = Date.now()
      await new Promise((r) => setTimeout(r, 40))
      signal.throwIfAborted()
      intervals.push({ object, shard: name, start, end: Date.now() })
    })
  return { mgr, sharding, name, target }
}

function labelsOf(ns: string, name: string): Record<string, string> {
  return (server.get({ ...CM, namespace: ns, name })?.metadata.labels ?? {}) as Record<string, string>
}

function assertNoOverlap(intervals: Interval[]): number {
  const by = new Map<string, Interval[]>()
  for (const i of intervals) by.set(i.object, [...(by.get(i.object) ?? []), i])
  let handovers = 0
  for (const [object, list] of by) {
    list.sort((a, b) => a.start - b.start)
    for (let i = 1; i < list.length; i++) {
      const cur = list[i] as Interval
      if ((list[i - 1] as Interval).shard !== cur.shard) handovers++
      const clash = list.slice(0, i).find((p) => p.shard !== cur.shard && p.end > cur.start)
      assert.equal(clash, undefined, `${object}: ${cur.shard} began at ${cur.start} while ${clash?.shard} reconciled until ${clash?.end}`)
    }
  }
  return handovers
}

describe('Sharding (in-process Managers, embedded API server)', () => {
  before(async () => {
    server = await startApiServer()
  })
  after(async () => {
    await server.close()
  })

  test('3 shards: every object assigned and reconciled by its shard only; a 4th joins (drain, acknowledge, reassign); one stops (objects move at once); intervals never overlap', async () => {
    const ns = 'ring-a'
    server.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } })
    const N = 60
    // Annotations as `kubectl apply` leaves them (the whole object again): the sharder does not keep them.
    const applied = (i: number) => ({ 'kubectl.kubernetes.io/last-applied-configuration': JSON.stringify({ ...CM, metadata: { name: `o-${i}` }, data: { v: '0', pad: 'p'.repeat(512) } }) })
    for (let i = 0; i < N; i++) server.create({ ...CM, metadata: { name: `o-${i}`, namespace: ns, annotations: applied(i) }, data: { v: '0' } })
    const intervals: Interval[] = []
    // s-b's controller watches metadata-only: its drain acknowledgements must still reach the ConfigMaps.
    const replicas = ['s-a', 's-b', 's-c'].map((n) => replica(ns, n, intervals, n === 's-b'))
    await Promise.all(replicas.map((r) => r.mgr.start()))
    try {
      const label = shardLabel(ns)
      const live = () => new Set(replicas.map((r) => r.name))
      const assignedToLive = () => Array.from({ length: N }, (_, i) => labelsOf(ns, `o-${i}`)[label]).every((s) => s !== undefined && live().has(s))
      await waitFor('every object assigned to a live shard', assignedToLive)
      await waitFor('every object reconciled by its shard', () => Array.from({ length: N }, (_, i) => `o-${i}`).every((o) => intervals.some((x) => x.object === o && x.shard === labelsOf(ns, o)[label])))
      const counts = new Map<string, number>()
      for (let i = 0; i < N; i++) counts.set(labelsOf(ns, `o-${i}`)[label] as string, (counts.get(labelsOf(ns, `o-${i}`)[label] as string) ?? 0) + 1)
      assert.equal(counts.size, 3, `all three shards got objects: ${JSON.stringify([...counts])}`)
      // Each shard's cache holds its own objects only.
      for (const r of replicas) {
        const cached = r.mgr.informers.informer(r.target).store.list()
        assert.equal(cached.length, counts.get(r.name), `${r.name} caches ${cached.length}`)
      }
      // The leader's sharder watches the ring's objects metadata-only (timebertt's sharder,
      // controller-runtime's builder.OnlyMetadata): PartialObjectMetadata, no managedFields or annotations;
      // only the shard Leases are full. The others' sharders never ran.
      const leaders = replicas.filter((r) => r.mgr.status().isLeader)
      assert.equal(leaders.length, 1)
      const sharderInformers = (leaders[0] as Replica).sharding.sharder?.informers?.informers ?? []
      for (const r of replicas.filter((x) => !leaders.includes(x))) assert.equal(r.sharding.sharder?.informers, undefined, `${r.name} ran a sharder`)
      const objectInformers = sharderInformers.filter((i) => i.target.kind !== 'Lease')
      assert.deepEqual(
        objectInformers.map((i) => [i.target.kind, i.target.metadataOnly]),
        [['ConfigMap', true]],
      )
      const metas = objectInformers[0]?.store.list() ?? []
      assert.equal(metas.length, N)
      for (const m of metas) {
        assert.equal(m.kind, 'PartialObjectMetadata')
        assert.equal(m.data, undefined)
        assert.equal(m.metadata?.managedFields, undefined)
        assert.equal(m.metadata?.annotations, undefined)
        assert.equal(typeof m.metadata?.labels?.[label], 'string')
      }
      assert.ok(sharderInformers.find((i) => i.target.kind === 'Lease')?.store.list().every((l) => l.spec !== undefined), 'shard Leases are full')
      // Placed by the object's own key (group/kind/namespace/name of a ConfigMap, as a webhook
      // would compute it from the full object), not by the PartialObjectMetadata wrapper's kind.
      const ring = new Ring(['s-a', 's-b', 's-c'])
      for (let i = 0; i < N; i++) {
        const full = server.get({ ...CM, namespace: ns, name: `o-${i}` })
        assert.equal(full?.metadata.labels?.[label], ring.shardFor(ringKeyOf(full as RingObject)), `o-${i}`)
      }

      const before = Array.from({ length: N }, (_, i) => labelsOf(ns, `o-${i}`)[label])
      // Objects change while a 4th shard joins.
      const d = replica(ns, 's-d', intervals)
      replicas.push(d)
      await d.mgr.start()
      let changes = 0
      const changing = (async () => {
        for (let round = 1; round <= 20; round++) {
          for (let i = 0; i < N; i += 3) {
            const cur = server.get({ ...CM, namespace: ns, name: `o-${i}` })
            if (cur) server.update({ ...cur, data: { v: String(round) } } as never)
            changes++
          }
          await new Promise((r) => setTimeout(r, 30))
        }
      })()
      await waitFor('the 4th shard to own objects', () => Array.from({ length: N }, (_, i) => labelsOf(ns, `o-${i}`)[label]).some((s) => s === 's-d'))
      await changing
      await waitFor('no drain label left, all assigned', () => assignedToLive() && Array.from({ length: N }, (_, i) => labelsOf(ns, `o-${i}`)[drainLabel(ns)]).every((x) => x === undefined))
      const moved = Array.from({ length: N }, (_, i) => labelsOf(ns, `o-${i}`)[label]).filter((s) => s === 's-d').length
      assert.ok(moved > 0 && moved <= N / 2, `${moved} of ${N} moved to the new shard`)
      const fromB = before.filter((s, i) => s === 's-b' && labelsOf(ns, `o-${i}`)[label] === 's-d').length
      assert.ok(fromB > 0, 'the metadata-only shard s-b handed objects over (acknowledged drains)')
      // Every last change was reconciled after it was made, by the object's shard.
      await waitFor('the last version of each changed object reconciled by its shard', () =>
        Array.from({ length: N }, (_, i) => i)
          .filter((i) => i % 3 === 0)
          .every((i) => intervals.some((x) => x.object === `o-${i}` && x.shard === labelsOf(ns, `o-${i}`)[label])),
      )

      // A shard stops cleanly: it releases its Lease, its objects move at once (well within a lease duration).
      const b = replicas.find((r) => r.name === 's-b') as Replica
      const stoppedAt = Date.now()
      await b.mgr.stop()
      replicas.splice(replicas.indexOf(b), 1)
      await waitFor('s-b objects reassigned', assignedToLive, 10_000)
      const tookMs = Date.now() - stoppedAt
      assert.ok(tookMs < TIMING.leaseDurationMs + 1_000, `moved ${tookMs} ms after the stop`)
      const handovers = assertNoOverlap(intervals)
      assert.ok(handovers > 0, 'some objects changed shard')
      assert.ok(changes > 0)
    } finally {
      await Promise.all(replicas.map((r) => r.mgr.stop()))
    }
  })

  test('sharder: false (timebertt\'s separate sharder Deployment): the shard runs without a sharder and assigns nothing; a Manager whose only child is the Sharder assigns its objects', async () => {
    const ns = 'ring-split'
    server.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } })
    for (const n of ['x', 'y', 'z']) server.create({ ...CM, metadata: { name: n, namespace: ns } } as never)
    const ring = { name: ns, leaseNamespace: ns, resource: { ...CM, namespace: ns } }
    // The shard: no leader election (nothing leader-only to run), its name as the Manager's identity.
    const mgr = new Manager({ kubeConfig: server.kubeConfig, identity: 'solo', logger: silent })
    assert.equal(mgr.identity, 'solo')
    const sharding = new Sharding(mgr, { kubeConfig: server.kubeConfig, shardName: 'solo', ring, ...TIMING, sharder: false, logger: silent })
    assert.equal(sharding.sharder, undefined)
    const intervals: Interval[] = []
    const target = sharding.target({ ...CM, namespace: ns })
    sharding
      .controller('cm')
      .for(target)
      .build(async ({ name: object }) => {
        intervals.push({ object, shard: 'solo', start: Date.now(), end: Date.now() })
      })
    const sharderMgr = new Manager({ kubeConfig: server.kubeConfig, logger: silent, leaderElection: { id: `${ns}-sharder`, namespace: ns, releaseOnCancel: true, ...TIMING } })
    // One label PATCH at a time (the default is DEFAULT_SHARDER_CONCURRENCY).
    const sharder = new Sharder({ kubeConfig: server.kubeConfig, ring, identity: sharderMgr.identity, concurrency: 1, logger: silent })
    sharderMgr.add(sharder.childSpec(), { needLeaderElection: true })
    try {
      await mgr.start()
      await waitFor('the shard Lease held', () => sharding.lease.holding)
      await new Promise((r) => setTimeout(r, 500))
      assert.deepEqual(['x', 'y', 'z'].map((n) => labelsOf(ns, n)[shardLabel(ns)]), [undefined, undefined, undefined], 'nothing assigned without a sharder')
      assert.equal(intervals.length, 0, 'nothing reconciled without a sharder')
      await sharderMgr.start()
      await waitFor('every object assigned to the shard and reconciled', () => ['x', 'y', 'z'].every((n) => labelsOf(ns, n)[shardLabel(ns)] === 'solo' && intervals.some((i) => i.object === n)))
      assert.deepEqual(Object.keys(sharder.status().shards), ['solo'])
      assert.equal(sharderMgr.status().isLeader, true)
    } finally {
      await sharderMgr.stop()
      await mgr.stop()
    }
  })

  test('bad shard names and rings are typed errors', () => {
    assert.throws(() => validateShardName('Has_Underscore'), InvalidShardingError)
    assert.throws(() => validateShardName('x'.repeat(64)), InvalidShardingError)
    const mgr = new Manager({ kubeConfig: server.kubeConfig, logger: silent })
    assert.throws(() => new Sharding(mgr, { kubeConfig: server.kubeConfig, shardName: 'ok', ring: { name: 'Bad Ring', leaseNamespace: 'x', resource: CM } }), InvalidShardingError)
    assert.throws(() => new Sharding(mgr, { kubeConfig: server.kubeConfig, shardName: 'ok', ring: { name: 'r', leaseNamespace: '', resource: CM } }), InvalidShardingError)
    const ring = { name: 'r', leaseNamespace: 'x', resource: CM }
    for (const concurrency of [0, 1.5, Number.NaN]) {
      assert.throws(() => new Sharder({ kubeConfig: server.kubeConfig, ring, identity: 'me', concurrency }), InvalidShardingError)
      assert.throws(() => new Sharding(mgr, { kubeConfig: server.kubeConfig, shardName: 'ok', ring, sharderConcurrency: concurrency }), /concurrency must be an integer >= 1/)
    }
  })
})
