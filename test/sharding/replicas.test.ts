// examples/sharded-operator.ts as separate OS processes against one embedded API server
// (the scenario, timebertt/kubernetes-controller-sharding's guarantee): 3 replicas
// shard the Sites; scale 3 → 5 → 2 while Sites change, kill -9 a shard on the way; every
// reconcile's interval is logged with its replica, and no two intervals of different
// replicas on one Site overlap; every change is reconciled by someone.
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { type ApiServer, startApiServer } from '../../lib/testing/apiserver/index.ts'
import { drainLabel, shardLabel } from '../../lib/sharding/labels.ts'
import { FAST, kubeconfigFile, Replica, type ShardReconcile, shardArgs, shardReconciles, siteCrd, siteWriter, waitFor } from '../manager/replicas.ts'

let server: ApiServer
let kubeconfig: string
const running: Replica[] = []

function shard(ns: string, name: string): Replica {
  const args = shardArgs(kubeconfig, { namespace: ns, name })
  const r = new Replica(args, {}, 'examples/sharded-operator.ts')
  running.push(r)
  return r
}

describe('replicas of examples/sharded-operator.ts (separate processes, embedded API server)', () => {
  before(async () => {
    server = await startApiServer()
    kubeconfig = kubeconfigFile(server.kubeConfigYaml())
    server.create(siteCrd() as never)
  })
  after(async () => {
    for (const r of running) if (r.alive) r.kill('SIGKILL')
    await Promise.all(running.map((r) => r.exited))
    await server.close()
  })

  test('3 shards; scale 3 → 5 → 2 while Sites change, kill -9 one on the way: each Site reconciled by one replica at a time, every change reconciled', async () => {
    const ns = 'sharded'
    server.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } })
    const N = 30
    const names = Array.from({ length: N }, (_, i) => `s${i}`)
    const sites = siteWriter(server, ns)
    const rev = sites.rev
    const changedAt = new Map<string, number>()
    const put = (name: string) => {
      sites.put(name)
      changedAt.set(name, Date.now())
    }
    for (const n of names) put(n)
    const label = shardLabel(ns)
    const siteShard = (n: string) => server.get({ apiVersion: 'example.com/v1', kind: 'Site', namespace: ns, name: n })?.metadata.labels?.[label] as string | undefined
    const replicas = ['r0', 'r1', 'r2'].map((n) => shard(ns, n))
    const alive = () => replicas.filter((r) => r.alive)
    const all = () => replicas.flatMap(shardReconciles)
    /** Whether a replica ever led the sharder (its shard Lease acquisitions log the same message). */
    const leads = (r: Replica) => r.lines.some((l) => l.msg === 'successfully acquired lease' && l.lease === `${ns}/${ns}-sharder`)
    const dump = () => replicas.map((r) => r.dump()).join('\n---\n')
    /** Every Site on a live shard, no drain label, and its latest rev reconciled by its shard after the change. */
    const converged = () => {
      const live = new Set(alive().map((r) => r.identity))
      const done = all()
      return names.every((n) => {
        const s = siteShard(n)
        const site = server.get({ apiVersion: 'example.com/v1', kind: 'Site', namespace: ns, name: n })
        if (!s || !live.has(s) || site?.metadata.labels?.[drainLabel(ns)] !== undefined) return false
        return done.some((x) => x.object === `${ns}/${n}` && x.shard === s && x.rev === String(rev.get(n)))
      })
    }
    // (The ring may start with the first Leases to be ready, then grow: wait until all three hold Sites.)
    await waitFor('3 shards converged, each holding Sites', () => converged() && new Set(names.map(siteShard)).size === 3, 60_000, dump)

    // Sites keep changing from here on.
    let changing = true
    const changer = (async () => {
      let i = 0
      while (changing) {
        put(names[i % N] as string)
        i += 7
        await new Promise((r) => setTimeout(r, 40))
      }
    })()
    try {
      // 3 → 5.
      replicas.push(shard(ns, 'r3'), shard(ns, 'r4'))
      await waitFor('the new shards to own Sites', () => names.some((n) => siteShard(n) === 'r3') && names.some((n) => siteShard(n) === 'r4'), 60_000, dump)
      await new Promise((r) => setTimeout(r, 1_000))
      // kill -9 a shard that is not the sharder's leader: its Sites move once its Lease is found dead.
      const victim = replicas.find((r) => r.alive && !leads(r) && names.some((n) => siteShard(n) === r.identity)) as Replica
      const killedAt = victim.kill('SIGKILL')
      await victim.exited
      await waitFor('the killed shard\'s Sites to move', () => names.every((n) => siteShard(n) !== victim.identity), 30_000, dump)
      const movedAfter = Date.now() - killedAt
      console.log(`kill -9: the dead shard's Sites moved ${movedAfter} ms after the kill (bound: 2 × lease ${2 * FAST.leaseMs} ms + a renewal period)`)
      assert.ok(movedAfter < 2 * FAST.leaseMs + 3_000, `moved ${movedAfter} ms after the kill`)
      // 4 → 2: SIGTERM two shards that do not lead the sharder; they drain and release their Leases.
      for (const r of alive().filter((x) => !leads(x)).slice(0, 2)) {
        r.kill('SIGTERM')
        assert.equal((await r.exited).code, 0, r.dump())
      }
      assert.equal(alive().length, 2)
    } finally {
      changing = false
      await changer
    }
    await waitFor('2 shards converged, each holding Sites', () => converged() && new Set(names.map(siteShard)).size === 2, 60_000, dump)

    // No two replicas' reconciles of one Site overlap in time.
    const byObject = new Map<string, ShardReconcile[]>()
    for (const x of all()) byObject.set(x.object, [...(byObject.get(x.object) ?? []), x])
    let handovers = 0
    for (const [object, list] of byObject) {
      list.sort((a, b) => a.start - b.start)
      for (let i = 1; i < list.length; i++) {
        const cur = list[i] as ShardReconcile
        if ((list[i - 1] as { shard: string }).shard !== cur.shard) handovers++
        const clash = list.slice(0, i).find((p) => p.shard !== cur.shard && p.end > cur.start)
        assert.equal(clash, undefined, `${object}: ${cur.shard} began at ${cur.start} while ${clash?.shard} reconciled until ${clash?.end}`)
      }
    }
    // Every change was reconciled: each Site's every rev was seen by some reconcile (or superseded by a later rev that was).
    for (const n of names) {
      const seen = all().filter((x) => x.object === `${ns}/${n}`)
      assert.ok(seen.some((x) => x.rev === String(rev.get(n)) && x.end >= (changedAt.get(n) as number)), `${n}: rev ${rev.get(n)} reconciled`)
    }
    console.log(`sharded replicas: ${all().length} reconciles, ${handovers} handovers between replicas, no overlap`)
    assert.ok(handovers >= 5, `${handovers} handovers`)
    for (const r of alive()) r.kill('SIGTERM')
    for (const r of replicas) await r.exited
  })

  test('a shard stalled past its lease (SIGSTOP): its Sites move to the others; resumed (SIGCONT), it starts no reconcile on them, rejoins and gets Sites back by handover; no overlap', async () => {
    const ns = 'stalled'
    server.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } })
    const N = 24
    const names = Array.from({ length: N }, (_, i) => `s${i}`)
    const { put, rev } = siteWriter(server, ns)
    for (const n of names) put(n)
    const label = shardLabel(ns)
    const siteShard = (n: string) => server.get({ apiVersion: 'example.com/v1', kind: 'Site', namespace: ns, name: n })?.metadata.labels?.[label] as string | undefined
    const replicas = ['t0', 't1', 't2'].map((n) => shard(ns, n))
    const all = () => replicas.flatMap(shardReconciles)
    const dump = () => replicas.map((r) => r.dump()).join('\n---\n')
    const leads = (r: Replica) => r.lines.some((l) => l.msg === 'successfully acquired lease' && l.lease === `${ns}/${ns}-sharder`)
    const converged = (live: Set<string>) =>
      names.every((n) => {
        const s = siteShard(n)
        const site = server.get({ apiVersion: 'example.com/v1', kind: 'Site', namespace: ns, name: n })
        if (!s || !live.has(s) || site?.metadata.labels?.[drainLabel(ns)] !== undefined) return false
        return all().some((x) => x.object === `${ns}/${n}` && x.shard === s && x.rev === String(rev.get(n)))
      })
    const everyone = new Set(['t0', 't1', 't2'])
    await waitFor('3 shards converged, each holding Sites', () => converged(everyone) && new Set(names.map(siteShard)).size === 3, 60_000, dump)
    await waitFor('a sharder leader', () => replicas.some(leads), 10_000, dump)
    // Idle now (nothing changes): stall a shard that does not lead the sharder.
    const victim = replicas.find((r) => !leads(r)) as Replica
    const itsSites = names.filter((n) => siteShard(n) === victim.identity)
    assert.ok(itsSites.length > 0)
    // Nothing in flight on it (a reconcile running across a pause is the documented limit, not tested here): 500 ms without one.
    await waitFor('the victim idle', () => Date.now() - Math.max(0, ...shardReconciles(victim).map((x) => x.end)) > 500, 10_000, dump)
    const stoppedAt = victim.kill('SIGSTOP')
    for (const n of itsSites) put(n)
    const others = new Set([...everyone].filter((x) => x !== victim.identity))
    await waitFor("the stalled shard's Sites reconciled by the others", () => itsSites.every((n) => others.has(siteShard(n) as string)) && converged(others), 30_000, dump)
    const movedAfter = Date.now() - stoppedAt
    assert.ok(movedAfter >= 2 * FAST.leaseMs - FAST.renewMs, `moved ${movedAfter} ms after the stall: not before the Lease was uncertain`)
    const resumedAt = victim.kill('SIGCONT')
    // Sites keep changing while the resumed shard finds out it lost its Lease, then rejoins.
    for (let round = 0; round < 10; round++) {
      for (const n of names.filter((_, i) => i % 3 === round % 3)) put(n)
      await new Promise((r) => setTimeout(r, 200))
    }
    await waitFor('the resumed shard to hold Sites again, all converged', () => names.some((n) => siteShard(n) === victim.identity) && converged(everyone), 60_000, dump)
    // It reconciled none of its old Sites between the stall and getting Sites back through a handover.
    const rejoinedAt = Math.min(...victim.lines.filter((l) => /holding the shard lease/.test(l.msg)).map((l) => l.time).filter((t) => t > resumedAt))
    const stale = shardReconciles(victim).filter((x) => x.start >= stoppedAt && x.start < rejoinedAt)
    assert.deepEqual(stale, [], `no reconcile by the stalled shard between the stall (${stoppedAt}), the resume (${resumedAt}) and holding its Lease again (${rejoinedAt})`)
    const byObject = new Map<string, ShardReconcile[]>()
    for (const x of all()) byObject.set(x.object, [...(byObject.get(x.object) ?? []), x])
    for (const [object, list] of byObject) {
      list.sort((a, b) => a.start - b.start)
      for (let i = 1; i < list.length; i++) {
        const cur = list[i] as ShardReconcile
        const clash = list.slice(0, i).find((p) => p.shard !== cur.shard && p.end > cur.start)
        assert.equal(clash, undefined, `${object}: ${cur.shard} began at ${cur.start} while ${clash?.shard} reconciled until ${clash?.end}`)
      }
    }
    console.log(`stall: Sites moved ${movedAfter} ms after SIGSTOP (2 × lease = ${2 * FAST.leaseMs} ms); the resumed shard held its Lease again ${rejoinedAt - resumedAt} ms after SIGCONT`)
    for (const r of replicas) if (r.alive) r.kill('SIGTERM')
    for (const r of replicas) await r.exited
  })
  test('--concurrency N: a shard reconciles at most N Sites at once and reaches N (controller-runtime MaxConcurrentReconciles); a bad value is a typed flag error', async () => {
    const ns = 'concurrency'
    server.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } })
    for (let i = 0; i < 12; i++) server.create({ apiVersion: 'example.com/v1', kind: 'Site', metadata: { name: `c${i}`, namespace: ns }, spec: { pages: { 'index.html': 'x' } } } as never)
    const r = new Replica(shardArgs(kubeconfig, { namespace: ns, name: 'c0', concurrency: 2, reconcileDelay: '150ms' }), {}, 'examples/sharded-operator.ts')
    running.push(r)
    await waitFor('every Site reconciled', () => new Set(shardReconciles(r).map((x) => x.object)).size === 12, 30_000, () => r.dump())
    // The most intervals open at one instant (an interval's end before another's start: not overlapping).
    const edges = shardReconciles(r).flatMap((x) => [
      [x.start, 1],
      [x.end, -1],
    ]) as [number, number][]
    edges.sort((a, b) => a[0] - b[0] || a[1] - b[1])
    let open = 0
    let most = 0
    for (const [, d] of edges) most = Math.max(most, (open += d))
    assert.equal(most, 2, r.dump())
    r.kill('SIGTERM')
    await r.exited

    const bad = new Replica(shardArgs(kubeconfig, { namespace: ns, name: 'c1', concurrency: 0 }), {}, 'examples/sharded-operator.ts')
    running.push(bad)
    assert.notEqual((await bad.exited).code, 0)
    assert.match(bad.stderr, /ERR_INVALID_FLAG|InvalidFlagError/)
    assert.match(bad.stderr, /--concurrency must be a whole number/)
  })
})
