// Three replicas of examples/operator.ts as separate OS processes against one embedded API
// server: one leader at a time, failover after kill -9 and after SIGTERM with release,
// never two writers at once; lease loss exits non-zero before anyone else can lead;
// SIGTERM during a busy reconcile. Short lease timings (2 s / 1.5 s / 0.3 s) via flags.
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { type ApiServer, startApiServer } from '../../lib/testing/apiserver/index.ts'
import { assertNoOverlappingWriters, type Cluster, kubeconfigFile, LOSS, type Lease, Replica, replicaArgs, siteCrd, takenScenario, trioScenario, waitFor } from './replicas.ts'

let server: ApiServer
let kubeconfig: string
const running: Replica[] = []

function replica(args: string[]): Replica {
  const r = new Replica(args)
  running.push(r)
  return r
}

/** The embedded server as a {@link Cluster}. */
function embedded(): Cluster {
  return {
    kubeconfig,
    createNamespace: async (name) => namespace(name),
    createSite: async (ns, name) => site(ns, name),
    lease: async (ns, name) => server.get({ apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', namespace: ns, name }) as Lease | undefined,
    replaceLease: async (lease) => {
      server.update(lease as never)
    },
    configMap: async (ns, name) => server.get({ apiVersion: 'v1', kind: 'ConfigMap', namespace: ns, name }),
  }
}

function site(namespace: string, name: string): void {
  server.create({ apiVersion: 'example.com/v1', kind: 'Site', metadata: { name, namespace }, spec: { pages: { 'index.html': `<h1>${name}</h1>` } } })
}

function namespace(name: string): void {
  server.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name } })
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
    await trioScenario(embedded(), 'trio', replica)
  })

  test('lease lost because the API server refuses lease requests: the leader stops writing and exits 1 before the standby can acquire; the standby leads once it can', async () => {
    namespace('refused')
    site('refused', 'a')
    const args = replicaArgs(kubeconfig, { namespace: 'refused', heartbeat: '100ms', timing: LOSS })
    const pair = [replica(args), replica(args)]
    const dump = () => pair.map((r) => r.dump()).join('\n---\n')
    await waitFor('a leader that writes', () => pair.some((r) => r.writes.length > 2), 30_000, dump)
    await waitFor('both up', () => pair.every((r) => r.address('metrics') !== undefined), 30_000, dump)
    const leader = pair.find((r) => r.acquiredAt !== undefined) as Replica
    const standby = pair.find((r) => r !== leader) as Replica
    const refusedAt = Date.now()
    server.failNext({ count: 1_000_000, code: 500, match: { path: '/apis/coordination.k8s.io/v1/namespaces/default/leases' } })
    try {
      const exit = await leader.exited
      assert.equal(exit.code, 1, leader.dump())
      assert.ok(leader.find(/leader election lost/), leader.dump())
      const lostAfter = exit.at - refusedAt
      assert.ok(lostAfter < LOSS.leaseMs, `exited ${lostAfter} ms after the refusals began (lease ${LOSS.leaseMs} ms)`)
      // Still refused: nobody can lead. Let the standby in after the old lease expired for sure.
      await new Promise((r) => setTimeout(r, LOSS.leaseMs))
      assert.equal(standby.acquiredAt, undefined)
    } finally {
      server.clearFaults()
    }
    const exit = await leader.exited
    await waitFor('the standby to lead', () => standby.acquiredAt !== undefined, 10_000, dump)
    await waitFor('the standby to write', () => standby.writes.length > 0, 10_000, dump)
    const lastLeaderWrite = Math.max(0, ...leader.writes.map((w) => w.end))
    assert.ok(lastLeaderWrite <= exit.at && Number(standby.acquiredAt) > exit.at)
    assertNoOverlappingWriters(pair)
    standby.kill('SIGTERM')
    assert.equal((await standby.exited).code, 0)
  })

  test('lease taken by someone else, or the network stalls past the renew deadline: the leader exits 1 (within a retry period, resp. the renew deadline)', async () => {
    await takenScenario(embedded(), 'taken', replica)

    namespace('stalled')
    site('stalled', 'a')
    const stalled = replica(replicaArgs(kubeconfig, { namespace: 'stalled', timing: LOSS }))
    await waitFor('leading', () => stalled.acquiredAt !== undefined && stalled.writes.length > 0, 30_000, () => stalled.dump())
    const stallAt = Date.now()
    const cancel = server.delay({ ms: 60_000, match: { path: '/apis/coordination.k8s.io/v1/namespaces/default/leases/site-operator-stalled' } })
    try {
      const exit2 = await stalled.exited
      assert.equal(exit2.code, 1, stalled.dump())
      const after = exit2.at - stallAt
      assert.ok(after < LOSS.leaseMs, `exited ${after} ms after the stall began`)
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
    // The reconcile's own write (the finalizer) comes back as a Site event after the signal: had
    // it been enqueued, the drain would have reconciled it — a second begin/end pair.
    assert.equal(ends.length, 1, 'the busy reconcile completed, and nothing was enqueued after the drain began')
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
