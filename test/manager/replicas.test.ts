// Three replicas of examples/operator.ts as separate OS processes against one embedded API
// server: one leader at a time, failover after kill -9 and after SIGTERM with release,
// never two writers at once; lease loss exits non-zero before anyone else can lead;
// SIGTERM during a busy reconcile. Short lease timings (2 s / 1.5 s / 0.3 s) via flags.
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { type ApiServer, startApiServer } from '../../lib/testing/apiserver/index.ts'
import { assertNoOverlappingWriters, FAST, kubeconfigFile, Replica, replicaArgs, siteCrd, waitFor } from './replicas.ts'

let server: ApiServer
let kubeconfig: string
const running: Replica[] = []

function replica(args: string[]): Replica {
  const r = new Replica(args)
  running.push(r)
  return r
}

function site(namespace: string, name: string): void {
  server.create({ apiVersion: 'example.com/v1', kind: 'Site', metadata: { name, namespace }, spec: { pages: { 'index.html': `<h1>${name}</h1>` } } })
}

function namespace(name: string): void {
  server.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name } })
}

async function leaderGauge(r: Replica): Promise<number | undefined> {
  const base = r.address('metrics')
  if (!base || !r.alive) return undefined
  const text = await fetch(`${base}/metrics`).then((res) => res.text(), () => '')
  const m = /^leader_election_master_status\{name="[^"]+"\} (\d+)/m.exec(text)
  return m ? Number(m[1]) : undefined
}

describe('replicas of examples/operator.ts (separate processes, embedded API server)', () => {
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

  test('three replicas: one leader at a time; kill -9 the leader → another reconciles within lease + retry; SIGTERM with release → the next leads at once; no two writers overlap', async () => {
    namespace('trio')
    site('trio', 'a')
    site('trio', 'b')
    const args = replicaArgs(kubeconfig, { namespace: 'trio', release: true, heartbeat: '100ms' })
    const trio = [replica(args), replica(args), replica(args)]
    const dump = () => trio.map((r) => r.dump()).join('\n---\n')
    await waitFor('a leader that writes', () => trio.some((r) => r.writes.length > 2), 30_000, dump)
    await waitFor('every replica up', () => trio.every((r) => r.address('metrics') !== undefined), 30_000, dump)
    const first = trio.find((r) => r.acquiredAt !== undefined) as Replica
    // Exactly one leader, as the replicas themselves report it (leader_election_master_status), sampled.
    for (let i = 0; i < 5; i++) {
      const gauges = await Promise.all(trio.map(leaderGauge))
      assert.deepEqual(gauges.filter((g) => g === 1).length, 1, `gauges ${JSON.stringify(gauges)}`)
      await new Promise((r) => setTimeout(r, 100))
    }
    const lease = () => server.get({ apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', namespace: 'default', name: 'site-operator-trio' }) as { spec: { holderIdentity: string } }
    assert.equal(lease().spec.holderIdentity, first.identity)
    // Standbys said once that they are not the leader.
    for (const r of trio.filter((x) => x !== first)) assert.equal(r.lines.filter((l) => /not the leader/.test(l.msg)).length, 1, r.dump())

    // kill -9 the leader.
    const killedAt = first.kill('SIGKILL')
    assert.equal((await first.exited).signal, 'SIGKILL')
    const rest = trio.filter((r) => r !== first)
    await waitFor('another replica to write', () => rest.some((r) => r.writes.some((w) => w.start > killedAt)), 15_000, dump)
    const second = rest.find((r) => r.acquiredAt !== undefined) as Replica
    const acquiredAfter = (second.acquiredAt as number) - killedAt
    const firstWrite = (second.writes.find((w) => w.start > killedAt)?.end as number) - killedAt
    console.log(`kill -9 failover: lease acquired ${acquiredAfter} ms, first write done ${firstWrite} ms after the kill (bound lease + retry = ${FAST.leaseMs + FAST.retryMs} ms)`)
    assert.ok(acquiredAfter <= FAST.leaseMs + FAST.retryMs + 150, `acquired ${acquiredAfter} ms after the kill`)
    // The reconcile after acquiring: start the controller on the warm caches and write (loaded CI machine: 1.5 s slack).
    assert.ok(firstWrite <= FAST.leaseMs + FAST.retryMs + 1_500, `first write ${firstWrite} ms after the kill`)

    // SIGTERM the new leader: it drains, releases the lease, exits 0; the third leads at once.
    const termAt = second.kill('SIGTERM')
    const exit = await second.exited
    assert.equal(exit.code, 0, second.dump())
    assert.ok(second.find(/released the lease/), second.dump())
    const third = rest.find((r) => r !== second) as Replica
    await waitFor('the third replica to lead', () => third.acquiredAt !== undefined, 10_000, dump)
    const handover = (third.acquiredAt as number) - termAt
    console.log(`SIGTERM + release failover: ${handover} ms (second exited ${exit.at - termAt} ms after SIGTERM)`)
    assert.ok(handover < FAST.leaseMs, `led ${handover} ms after SIGTERM: the release let it in before the lease expired`)
    await waitFor('the third to write', () => third.writes.some((w) => w.start > termAt), 10_000, dump)

    // Leadership intervals never overlap: each leader began after the previous one ended.
    const secondEnded = second.lines.find((l) => /released the lease/.test(l.msg))?.time as number
    assert.ok((second.acquiredAt as number) > killedAt)
    assert.ok((third.acquiredAt as number) >= secondEnded, 'the third acquired after the second released')
    assert.ok(second.writes.every((w) => w.end <= secondEnded), 'the second wrote nothing after releasing')

    third.kill('SIGTERM')
    assert.equal((await third.exited).code, 0, third.dump())
    const handovers = assertNoOverlappingWriters(trio)
    assert.ok(handovers >= 2, `writers changed ${handovers} times`)
    const cm = server.get({ apiVersion: 'v1', kind: 'ConfigMap', namespace: 'trio', name: 'site-a' })
    assert.equal(cm?.metadata.annotations?.['example.com/written-by'], third.identity)
  })

  test('lease lost because the API server refuses lease requests: the leader stops writing and exits 1 before the standby can acquire; the standby leads once it can', async () => {
    namespace('refused')
    site('refused', 'a')
    const args = replicaArgs(kubeconfig, { namespace: 'refused', heartbeat: '100ms' })
    const pair = [replica(args), replica(args)]
    const dump = () => pair.map((r) => r.dump()).join('\n---\n')
    await waitFor('a leader that writes', () => pair.some((r) => r.writes.length > 2), 30_000, dump)
    await waitFor('both up', () => pair.every((r) => r.address('metrics') !== undefined), 30_000, dump)
    const leader = pair.find((r) => r.acquiredAt !== undefined) as Replica
    const standby = pair.find((r) => r !== leader) as Replica
    const refusedAt = Date.now()
    server.failNext({ count: 1_000_000, code: 500, match: { path: '/apis/coordination.k8s.io/v1/namespaces/default/leases' } })
    const exit = await leader.exited
    assert.equal(exit.code, 1, leader.dump())
    assert.ok(leader.find(/leader election lost/), leader.dump())
    const lostAfter = exit.at - refusedAt
    assert.ok(lostAfter < FAST.leaseMs, `exited ${lostAfter} ms after the refusals began (lease ${FAST.leaseMs} ms)`)
    // Still refused: nobody can lead. Let the standby in after the old lease expired for sure.
    await new Promise((r) => setTimeout(r, FAST.leaseMs))
    assert.equal(standby.acquiredAt, undefined)
    server.clearFaults()
    await waitFor('the standby to lead', () => standby.acquiredAt !== undefined, 10_000, dump)
    await waitFor('the standby to write', () => standby.writes.length > 0, 10_000, dump)
    const lastLeaderWrite = Math.max(...leader.writes.map((w) => w.end))
    assert.ok(lastLeaderWrite <= exit.at && (standby.acquiredAt as number) > exit.at)
    assertNoOverlappingWriters(pair)
    standby.kill('SIGTERM')
    assert.equal((await standby.exited).code, 0)
  })

  test('lease taken by someone else, or the network stalls past the renew deadline: the leader exits 1 (within a retry period, resp. the renew deadline)', async () => {
    namespace('taken')
    site('taken', 'a')
    const taken = replica(replicaArgs(kubeconfig, { namespace: 'taken' }))
    await waitFor('leading', () => taken.acquiredAt !== undefined && taken.writes.length > 0, 30_000, () => taken.dump())
    const ref = { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', namespace: 'default', name: 'site-operator-taken' }
    const lease = server.get(ref) as { spec: Record<string, unknown> }
    const takenAt = Date.now()
    server.update({ ...lease, spec: { ...lease.spec, holderIdentity: 'intruder', leaseTransitions: Number(lease.spec.leaseTransitions) + 1 } } as never)
    const exit = await taken.exited
    assert.equal(exit.code, 1, taken.dump())
    assert.ok(exit.at - takenAt <= FAST.retryMs + 1_000, `exited ${exit.at - takenAt} ms after the takeover`)

    namespace('stalled')
    site('stalled', 'a')
    const stalled = replica(replicaArgs(kubeconfig, { namespace: 'stalled' }))
    await waitFor('leading', () => stalled.acquiredAt !== undefined && stalled.writes.length > 0, 30_000, () => stalled.dump())
    const stallAt = Date.now()
    const cancel = server.delay({ ms: 60_000, match: { path: '/apis/coordination.k8s.io/v1/namespaces/default/leases/site-operator-stalled' } })
    try {
      const exit2 = await stalled.exited
      assert.equal(exit2.code, 1, stalled.dump())
      const after = exit2.at - stallAt
      assert.ok(after <= FAST.retryMs + FAST.renewMs + 700 && after < FAST.leaseMs + 500, `exited ${after} ms after the stall began`)
    } finally {
      cancel()
    }
  })

  test('SIGTERM during a busy reconcile: it completes, nothing starts after the signal, exit 0 within the timeout; one that ignores the deadline is cut off and reported (exit 1); a second signal exits at once', async () => {
    namespace('busy')
    const busy = replica(replicaArgs(kubeconfig, { namespace: 'busy', lease: false, extra: ['--reconcile-delay=1500ms'] }))
    await waitFor('ready', () => busy.find(/caches synced/) !== undefined, 30_000, () => busy.dump())
    site('busy', 'a')
    await waitFor('a reconcile to begin', () => busy.lines.some((l) => l.reconcile === 'begin'), 10_000, () => busy.dump())
    const termAt = busy.kill('SIGTERM')
    const exit = await busy.exited
    assert.equal(exit.code, 0, busy.dump())
    const ends = busy.lines.filter((l) => l.reconcile === 'end')
    assert.equal(ends.length, 1, 'the busy reconcile completed')
    assert.ok(busy.lines.filter((l) => l.reconcile === 'begin').every((l) => (l.at as number) < termAt), 'nothing began after the signal')
    assert.equal(busy.writes.length, 1, 'its write went through')
    assert.ok(exit.at - termAt < 30_000)

    namespace('stuck')
    const stuck = replica(replicaArgs(kubeconfig, { namespace: 'stuck', lease: false, extra: ['--reconcile-delay=60s', '--graceful-shutdown-timeout=1s'] }))
    await waitFor('ready', () => stuck.find(/caches synced/) !== undefined, 30_000, () => stuck.dump())
    site('stuck', 'a')
    await waitFor('a reconcile to begin', () => stuck.lines.some((l) => l.reconcile === 'begin'), 10_000, () => stuck.dump())
    const stuckAt = stuck.kill('SIGTERM')
    const exit2 = await stuck.exited
    assert.equal(exit2.code, 1, stuck.dump())
    assert.ok(exit2.at - stuckAt < 1_000 + 1_500, `exited ${exit2.at - stuckAt} ms after SIGTERM`)
    const report = stuck.lines.find((l) => /grace period/.test(l.msg))
    assert.deepEqual(report?.inFlight, ['site: stuck/a'], stuck.dump())

    namespace('twice')
    const twice = replica(replicaArgs(kubeconfig, { namespace: 'twice', lease: false, extra: ['--reconcile-delay=60s'] }))
    await waitFor('ready', () => twice.find(/caches synced/) !== undefined, 30_000, () => twice.dump())
    site('twice', 'a')
    await waitFor('a reconcile to begin', () => twice.lines.some((l) => l.reconcile === 'begin'), 10_000, () => twice.dump())
    twice.kill('SIGTERM')
    await waitFor('the first signal to be handled', () => twice.find(/shutting down gracefully/) !== undefined, 5_000, () => twice.dump())
    const secondAt = twice.kill('SIGINT')
    const exit3 = await twice.exited
    assert.equal(exit3.code, 1, twice.dump())
    assert.ok(exit3.at - secondAt < 1_000)
  })
})
