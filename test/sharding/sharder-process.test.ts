// The sharder in its own process (timebertt/kubernetes-controller-sharding's deployment
// shape: a sharder Deployment beside the shard replicas), with examples/sharded-operator.ts
// as separate OS processes against one embedded API server: 3 `--role=shard` replicas and
// 1 `--role=sharder` process. Nothing is assigned until the sharder process runs; then every
// Site is labelled and reconciled by exactly one shard, no two shards' reconciles of a Site
// overlap, a shard killed with kill -9 has its Sites moved, the shards hold no sharder
// caches and the sharder holds no Site in a shard cache.
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { type ApiServer, startApiServer } from '../../lib/testing/apiserver/index.ts'
import { drainLabel, shardLabel } from '../../lib/sharding/labels.ts'
import { FAST, kubeconfigFile, Replica, type ShardReconcile, type ShardUsage as Usage, shardArgs, shardReconciles, shardUsage as usage, siteCrd, siteWriter, waitFor } from '../manager/replicas.ts'

let server: ApiServer
let kubeconfig: string
const running: Replica[] = []

function spawn(ns: string, name: string, role: 'shard' | 'sharder' | string): Replica {
  const r = new Replica(shardArgs(kubeconfig, { namespace: ns, name, role }), {}, 'examples/sharded-operator.ts')
  running.push(r)
  return r
}

describe('the sharder as its own process (examples/sharded-operator.ts --role=sharder + --role=shard replicas, embedded API server)', () => {
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

  test('1 sharder process + 3 shard replicas: nothing assigned without the sharder; then each Site on exactly one shard, no overlap, kill -9 moves a shard\'s Sites; no sharder caches on the shards, no Sites on the sharder', async () => {
    const ns = 'split'
    server.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } })
    const N = 24
    const names = Array.from({ length: N }, (_, i) => `s${i}`)
    const { put, rev } = siteWriter(server, ns)
    for (const n of names) put(n)
    const label = shardLabel(ns)
    const siteShard = (n: string) => server.get({ apiVersion: 'example.com/v1', kind: 'Site', namespace: ns, name: n })?.metadata.labels?.[label] as string | undefined
    const shards = ['p0', 'p1', 'p2'].map((n) => spawn(ns, n, 'shard'))
    const everyone: Replica[] = [...shards]
    const all = () => shards.flatMap(shardReconciles)
    const dump = () => everyone.map((r) => r.dump()).join('\n---\n')
    const converged = (live: Set<string>) =>
      names.every((n) => {
        const s = siteShard(n)
        const site = server.get({ apiVersion: 'example.com/v1', kind: 'Site', namespace: ns, name: n })
        if (!s || !live.has(s) || site?.metadata.labels?.[drainLabel(ns)] !== undefined) return false
        return all().some((x) => x.object === `${ns}/${n}` && x.shard === s && x.rev === String(rev.get(n)))
      })

    // The shards alone: each holds its shard Lease, runs no leader election and no sharder, so nothing is assigned.
    await waitFor('3 shards holding their Leases', () => shards.every((r) => r.find(/holding the shard lease/) !== undefined), 30_000, dump)
    await new Promise((r) => setTimeout(r, 1_500))
    assert.deepEqual(names.map(siteShard).filter((s) => s !== undefined), [], 'no Site assigned without a sharder process')
    assert.deepEqual(all(), [], 'no Site reconciled without a sharder process')
    for (const r of shards) assert.equal(r.lines.some((l) => l.lease === `${ns}/${ns}-sharder`), false, `${r.identity} ran leader election`)

    // The sharder process: all three shard Leases are ready, so every Site goes straight to its shard.
    const sharder = spawn(ns, 'sharder-0', 'sharder')
    everyone.push(sharder)
    const three = new Set(['p0', 'p1', 'p2'])
    await waitFor('3 shards converged, each holding Sites', () => converged(three) && new Set(names.map(siteShard)).size === 3, 60_000, dump)
    await waitFor('the sharder to lead', () => sharder.lines.some((l) => l.msg === 'successfully acquired lease' && l.lease === `${ns}/${ns}-sharder`), 10_000, dump)
    assert.equal(sharder.find(/holding the shard lease/), undefined, 'the sharder process holds no shard Lease')
    assert.equal(server.get({ apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', namespace: ns, name: 'sharder-0' }), undefined, 'no shard Lease named after the sharder')
    assert.deepEqual(shardReconciles(sharder), [], 'the sharder process reconciles nothing')
    // Exactly one shard reconciled each Site: the one it is labelled with.
    for (const n of names) assert.deepEqual([...new Set(all().filter((x) => x.object === `${ns}/${n}`).map((x) => x.shard))], [siteShard(n)], `${n}: reconciled by its shard only`)

    // Every ConfigMap written by its Site's shard (the first reconcile only adds the finalizer).
    const written = (n: string) =>
      (server.get({ apiVersion: 'v1', kind: 'ConfigMap', namespace: ns, name: `site-${n}` })?.metadata.annotations as Record<string, string> | undefined)?.['example.com/written-by']
    await waitFor('every ConfigMap written by its shard', () => names.every((n) => written(n) !== undefined && written(n) === siteShard(n)), 30_000, dump)

    // Caches: the shards hold their own Sites and no sharder caches; the sharder holds every Site and ConfigMap (metadata) and no shard cache.
    let shardUsage: Usage[] = []
    await waitFor(
      'each shard caching its own Sites',
      async () => {
        shardUsage = await Promise.all(shards.map(usage))
        return shardUsage.every((u, i) => u.sites === names.filter((n) => siteShard(n) === shards[i]?.identity).length)
      },
      10_000,
      () => JSON.stringify(shardUsage),
    )
    for (const [i, u] of shardUsage.entries()) assert.equal(u.sharderObjects, 0, `${shards[i]?.identity}: no sharder caches`)
    let sharderUsage = await usage(sharder)
    await waitFor(
      'the sharder caching every Site and ConfigMap',
      async () => {
        sharderUsage = await usage(sharder)
        return sharderUsage.sharderObjects >= 2 * N
      },
      10_000,
      () => JSON.stringify(sharderUsage),
    )
    assert.equal(sharderUsage.sites, 0, 'no Site in a shard cache of the sharder process')
    assert.equal(sharderUsage.configMaps, 0)
    console.log(`usage: shards ${shardUsage.map((u) => `${(u.heapUsed / 2 ** 20).toFixed(1)} MB/${u.sites} Sites`).join(', ')}; sharder ${(sharderUsage.heapUsed / 2 ** 20).toFixed(1)} MB, ${sharderUsage.sharderObjects} objects`)

    // kill -9 a shard while Sites change: its Sites move to the other two once its Lease is found dead.
    let changing = true
    const changer = (async () => {
      let i = 0
      while (changing) {
        put(names[i % N] as string)
        i += 5
        await new Promise((r) => setTimeout(r, 50))
      }
    })()
    const victim = shards[1] as Replica
    const itsSites = names.filter((n) => siteShard(n) === victim.identity)
    assert.ok(itsSites.length > 0)
    let movedAfter: number
    try {
      await new Promise((r) => setTimeout(r, 500))
      const killedAt = victim.kill('SIGKILL')
      await victim.exited
      await waitFor("the killed shard's Sites to move", () => names.every((n) => siteShard(n) !== victim.identity), 30_000, dump)
      movedAfter = Date.now() - killedAt
    } finally {
      changing = false
      await changer
    }
    const two = new Set(['p0', 'p2'])
    await waitFor('2 shards converged', () => converged(two), 60_000, dump)
    console.log(`kill -9: the dead shard's ${itsSites.length} Sites moved ${movedAfter} ms after the kill (bound: 2 × lease ${2 * FAST.leaseMs} ms + a renewal period)`)
    assert.ok(movedAfter < 2 * FAST.leaseMs + 3_000, `moved ${movedAfter} ms after the kill`)

    // No two shards' reconciles of one Site overlap in time.
    const byObject = new Map<string, ShardReconcile[]>()
    for (const x of all()) byObject.set(x.object, [...(byObject.get(x.object) ?? []), x])
    let handovers = 0
    for (const [object, list] of byObject) {
      list.sort((a, b) => a.start - b.start)
      for (let i = 1; i < list.length; i++) {
        const cur = list[i] as ShardReconcile
        if ((list[i - 1] as ShardReconcile).shard !== cur.shard) handovers++
        const clash = list.slice(0, i).find((p) => p.shard !== cur.shard && p.end > cur.start)
        assert.equal(clash, undefined, `${object}: ${cur.shard} began at ${cur.start} while ${clash?.shard} reconciled until ${clash?.end}`)
      }
    }
    assert.ok(handovers >= itsSites.length, `${handovers} handovers for ${itsSites.length} moved Sites`)

    for (const r of everyone) if (r.alive) r.kill('SIGTERM')
    for (const r of everyone) await r.exited
    assert.equal((await sharder.exited).code, 0, sharder.dump())
  })

  test('--role other than all, shard or sharder: a typed flag error', async () => {
    const bad = spawn('split', 'x0', 'leader')
    assert.notEqual((await bad.exited).code, 0)
    assert.match(bad.stderr, /ERR_INVALID_FLAG|InvalidFlagError/)
    assert.match(bad.stderr, /--role must be all, shard or sharder/)
  })

  test('--demo with --role=shard: a typed flag error, not a demo that ignores the role', async () => {
    const bad = new Replica(['--demo', '--role=shard'], {}, 'examples/sharded-operator.ts')
    running.push(bad)
    assert.notEqual((await bad.exited).code, 0)
    assert.match(bad.stderr, /ERR_INVALID_FLAG|InvalidFlagError/)
    assert.match(bad.stderr, /--role=shard needs a cluster/)
  })

  test('a bad --reconcile-delay: a typed flag error (the Manager flags\' Go durations)', async () => {
    const bad = new Replica([...shardArgs(kubeconfig, { namespace: 'x1', name: 'x1-a', role: 'shard' }), '--reconcile-delay=soon'], {}, 'examples/sharded-operator.ts')
    running.push(bad)
    assert.notEqual((await bad.exited).code, 0)
    assert.match(bad.stderr, /ERR_INVALID_FLAG|InvalidFlagError/)
    assert.match(bad.stderr, /invalid duration "soon"/)
  })
})
