// The Manager in one process against the embedded API server: probes (controller-runtime
// pkg/healthz behaviour), metrics (checked by prometheus_client's parser), lease loss and the
// graceful-shutdown deadline.
import assert from 'node:assert/strict'
import { Writable } from 'node:stream'
import { after, before, describe, test } from 'node:test'
import * as prom from 'prom-client'
import { TerminalError } from '../../lib/dispatch/workers.ts'
import { createLogger } from '../../lib/log.ts'
import { LeaderElectionLostError } from '../../lib/manager/leaderelection.ts'
import { GracefulShutdownTimeoutError, InvalidManagerError, Manager } from '../../lib/manager/manager.ts'
import { type ApiServer, startApiServer } from '../../lib/testing/apiserver/index.ts'
import { type ParsedFamily, parsePrometheusText, parserUnavailable } from './prometheus-parser.ts'


async function get(url: string): Promise<{ status: number; body: string; type: string | null }> {
  const res = await fetch(url)
  return { status: res.status, body: await res.text(), type: res.headers.get('content-type') }
}

async function until(what: string, check: () => boolean | Promise<boolean>, ms = 10_000): Promise<void> {
  const end = Date.now() + ms
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 20))
  }
}

/** The address a server logged ("serving health probes" / "serving metrics"). */
function capture(): { logger: ReturnType<typeof createLogger>; lines: Record<string, unknown>[]; address(what: string): string } {
  const lines: Record<string, unknown>[] = []
  const logger = createLogger({
    level: 'debug',
    destination: new Writable({
      write(chunk, _e, cb) {
        for (const l of String(chunk).split('\n')) if (l) lines.push(JSON.parse(l))
        cb()
      },
    }),
  })
  return {
    logger,
    lines,
    address: (what) => {
      const line = lines.find((l) => l.what === what)
      assert.ok(line, `no "serving ${what}" log line`)
      return `http://${line.address}`
    },
  }
}

describe('Manager against the embedded API server', () => {
  let server: ApiServer
  before(async () => {
    server = await startApiServer()
  })
  after(async () => {
    await server.close()
  })

  test('bad configuration fails at construction with typed errors', () => {
    assert.throws(() => new Manager({ kubeConfig: server.kubeConfig, healthProbeBindAddress: 'nope' }), { code: 'ERR_INVALID_BIND_ADDRESS' })
    assert.throws(() => new Manager({ kubeConfig: server.kubeConfig, metricsBindAddress: ':0' }), InvalidManagerError)
    assert.throws(() => new Manager({ kubeConfig: server.kubeConfig, leaderElection: { id: 'x', namespace: 'default', renewDeadlineMs: 2_000, retryPeriodMs: 2_000 } }), {
      code: 'ERR_INVALID_LEADER_ELECTION',
    })
    assert.throws(() => new Manager({ kubeConfig: server.kubeConfig, leaderElection: { id: 'x' } }), /leader election namespace/)
  })

  test('readiness follows the caches: 500 until every informer synced, 200 after, 500 again when an informer stops (pkg/healthz text)', async () => {
    const log = capture()
    const mgr = new Manager({ kubeConfig: server.kubeConfig, logger: log.logger, healthProbeBindAddress: '127.0.0.1:0' })
    const informer = mgr.informers.informer({ apiVersion: 'v1', kind: 'Secret', namespace: 'default' })
    mgr.addHealthzCheck('ping', () => {})
    mgr.addReadyzCheck('ping', () => {})
    mgr.addReadyzCheck('flaky', () => {
      throw new Error('the flaky check says no')
    })
    // Hold the first list of Secrets so the cache cannot sync yet.
    const cancel = server.delay({ ms: 2_000, count: 1, match: { method: 'GET', path: '/api/v1/namespaces/default/secrets', watch: false } })
    await mgr.start()
    const base = log.address('health probes')
    try {
      const unsynced = await get(`${base}/readyz?exclude=flaky`)
      assert.equal(unsynced.status, 500)
      assert.equal(unsynced.body, '[+]flaky excluded: ok\n[-]informers failed: reason withheld\n[+]ping ok\nhealthz check failed\n')
      const why = await get(`${base}/readyz/informers`)
      assert.equal(why.status, 500)
      assert.match(why.body, /^internal server error: informer v1\/Secret@default has not synced\n$/)
      assert.equal(mgr.status().cachesSynced, false)
      cancel()
      server.clearFaults()
      // The delayed list answers after 2 s.
      await until('the cache to sync', async () => (await get(`${base}/readyz/informers`)).status === 200)
      assert.deepEqual(await get(`${base}/readyz?exclude=flaky`).then((r) => [r.status, r.body]), [200, 'ok'])
      const verbose = await get(`${base}/readyz?verbose&exclude=flaky&exclude=nosuch`)
      assert.equal(verbose.body, '[+]flaky excluded: ok\n[+]informers ok\n[+]ping ok\nwarn: some health checks cannot be excluded: no matches for "nosuch"\nhealthz check passed\n')
      assert.equal((await get(`${base}/readyz`)).status, 500, 'the failing check fails the aggregate')
      assert.deepEqual(await get(`${base}/readyz/flaky`).then((r) => [r.status, r.body]), [500, 'internal server error: the flaky check says no\n'])
      assert.equal((await get(`${base}/readyz/nosuch`)).status, 404)
      const healthz = await get(`${base}/healthz`)
      assert.deepEqual([healthz.status, healthz.body, healthz.type], [200, 'ok', 'text/plain; charset=utf-8'])
      assert.equal((await get(`${base}/healthz?verbose`)).body, '[+]ping ok\nhealthz check passed\n')
      // An informer that stops (here: its watch released) makes readiness fail, naming it.
      informer.release()
      await until('readiness to fail', async () => (await get(`${base}/readyz/informers`)).status === 500)
      assert.match((await get(`${base}/readyz/informers`)).body, /informer v1\/Secret@default is not running/)
    } finally {
      cancel()
      server.clearFaults()
      await mgr.stop()
    }
    assert.equal(mgr.status().phase, 'stopped')
    await assert.rejects(get(`${base}/healthz`), 'the probe server is closed after stop')
  })

  test('/metrics parses with prometheus_client and has controller-runtime’s reconcile metrics (pre-initialized), workqueue, watch and leader metrics', async (t) => {
    const missing = parserUnavailable()
    if (missing) {
      if (process.env.CI) assert.fail(`the Prometheus parser is required in CI: ${missing}`)
      t.skip(`skipped: ${missing}`)
      return
    }
    const testStart = Date.now() - 1 // wall clock, as the record's renewTime
    const log = capture()
    const mgr = new Manager({
      kubeConfig: server.kubeConfig,
      logger: log.logger,
      prometheus: prom,
      metricsBindAddress: '127.0.0.1:0',
      leaderElection: { id: 'metrics-test', namespace: 'default', leaseDurationMs: 3_000, renewDeadlineMs: 2_000, retryPeriodMs: 200, releaseOnCancel: true },
    })
    const seen = new Set<string>()
    mgr
      .controller('cm')
      .for({ apiVersion: 'v1', kind: 'ConfigMap', namespace: 'metrics' })
      .build(({ name }) => {
        const first = !seen.has(name)
        seen.add(name)
        if (name === 'fail' && first) throw new Error('transient failure')
        if (name === 'terminal') throw new TerminalError('cannot be fixed by retrying')
        if (name === 'panic' && first) return (undefined as unknown as { x: { y: number } }).x.y > 0 ? undefined : undefined
        if (name === 'later') return { requeueAfter: 3_600_000 }
        if (name === 'again' && first) return { requeue: true }
        return undefined
      })
    server.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'metrics' } })
    await mgr.start()
    const base = log.address('metrics')
    try {
      // Before anything is reconciled every result series exists at 0 (controller-runtime initMetrics).
      await until('leadership', () => mgr.status().isLeader)
      await until('the controller to start', async () => /controller_runtime_reconcile_total\{controller="cm",result="success"\}/.test((await get(`${base}/metrics`)).body))
      const initial = byName(await parsePrometheusText((await get(`${base}/metrics`)).body))
      for (const result of ['success', 'error', 'requeue', 'requeue_after']) {
        assert.equal(sample(initial, 'controller_runtime_reconcile_total', { controller: 'cm', result }), 0, result)
      }
      for (const name of ['fail', 'terminal', 'panic', 'later', 'again', 'fine']) {
        server.create({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace: 'metrics' } })
      }
      await until('every reconcile', () => seen.size === 6 && mgr.inFlight().length === 0)
      await until('the retries', async () => {
        const f = byName(await parsePrometheusText((await get(`${base}/metrics`)).body))
        return (sample(f, 'controller_runtime_reconcile_total', { controller: 'cm', result: 'success' }) ?? 0) >= 4
      })
      const scrape = await get(`${base}/metrics`)
      assert.match(scrape.type ?? '', /^text\/plain; version=0\.0\.4/)
      const families = byName(await parsePrometheusText(scrape.body))
      const cm = { controller: 'cm' }
      assert.equal(sample(families, 'controller_runtime_reconcile_total', { controller: 'cm', result: 'requeue_after' }), 1)
      assert.equal(sample(families, 'controller_runtime_reconcile_total', { controller: 'cm', result: 'requeue' }), 1)
      assert.equal(sample(families, 'controller_runtime_reconcile_total', { controller: 'cm', result: 'error' }), 3)
      assert.equal(sample(families, 'controller_runtime_reconcile_errors_total', cm), 3)
      assert.equal(sample(families, 'controller_runtime_terminal_reconcile_errors_total', cm), 1)
      assert.equal(sample(families, 'controller_runtime_reconcile_panics_total', cm), 1, 'the TypeError counts as a panic')
      assert.equal(sample(families, 'controller_runtime_max_concurrent_reconciles', cm), 1)
      assert.equal(sample(families, 'controller_runtime_active_workers', cm), 0)
      assert.equal(families.get('controller_runtime_reconcile_time_seconds')?.type, 'histogram')
      assert.ok((sample(families, 'controller_runtime_reconcile_time_seconds_count', cm) ?? 0) >= 9)
      const buckets = families.get('controller_runtime_reconcile_time_seconds')?.samples.filter((x) => x.name.endsWith('_bucket')).map((x) => (x.labels.le === '+Inf' ? Number.POSITIVE_INFINITY : Number(x.labels.le)))
      assert.deepEqual(buckets?.slice(0, 3), [0.005, 0.01, 0.025])
      assert.deepEqual(buckets?.slice(-2), [60, Number.POSITIVE_INFINITY])
      assert.equal(sample(families, 'leader_election_master_status', { name: 'metrics-test' }), 1)
      // The read-only status an observer page shows.
      const status = mgr.status()
      assert.equal(status.identity, mgr.identity)
      assert.equal(status.phase, 'running')
      assert.equal(status.cachesSynced, true)
      assert.equal(status.leaderElection?.isLeader, true)
      assert.equal(status.leaderElection?.holder, mgr.identity)
      assert.equal(status.leaderElection?.lock, 'default/metrics-test')
      assert.ok(Date.parse(status.leaderElection?.renewTime as string) >= testStart, 'renewed during this test')
      for (const name of ['workqueue_depth', 'workqueue_adds_total', 'workqueue_queue_duration_seconds', 'workqueue_work_duration_seconds', 'workqueue_retries_total', 'workqueue_unfinished_work_seconds', 'workqueue_longest_running_processor_seconds']) {
        assert.ok(families.has(name.replace(/_total$/, '')), `${name} is exposed`)
      }
      assert.ok((sample(families, 'workqueue_adds_total', { name: 'cm' }) ?? 0) >= 6)
      assert.ok(families.has('kubevisor_watch_events'), 'watch metrics are exposed')
      assert.ok(families.has('process_cpu_seconds'), 'process metrics are exposed')
    } finally {
      await mgr.stop()
    }
  })

  test('a lost lease (renewals refused) stops the leader-only children before the lease could expire for another replica, and the Manager fails with LeaderElectionLostError', async () => {
    const log = capture()
    const timing = { leaseDurationMs: 1_500, renewDeadlineMs: 1_000, retryPeriodMs: 150 }
    const mgr = new Manager({ kubeConfig: server.kubeConfig, logger: log.logger, leaderElection: { id: 'lost-test', namespace: 'default', ...timing } })
    let reconciles = 0
    mgr
      .controller('lost')
      .for({ apiVersion: 'v1', kind: 'ConfigMap', namespace: 'kube-public' })
      .build(() => {
        reconciles++
        return { requeueAfter: 50 }
      })
    server.create({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'tick', namespace: 'kube-public' } })
    await mgr.start()
    await until('leading and reconciling', () => mgr.status().isLeader && reconciles > 2)
    const leader = mgr.status()
    assert.equal(leader.leaderElection?.holder, mgr.identity)
    const leasePath = '/apis/coordination.k8s.io/v1/namespaces/default/leases'
    server.failNext({ count: 100_000, code: 500, match: { path: leasePath } })
    const refusedAt = Date.now()
    const err = await mgr.done
    const lostAt = Date.now()
    server.clearFaults()
    assert.ok(err instanceof LeaderElectionLostError, String(err))
    const after = reconciles
    await new Promise((r) => setTimeout(r, 300))
    assert.equal(reconciles, after, 'no reconcile after the loss')
    // The last successful renewal was at most one retry period before the refusals began.
    assert.ok(lostAt - refusedAt <= timing.retryPeriodMs + timing.renewDeadlineMs + 250, `lost ${lostAt - refusedAt} ms after the refusals began`)
    assert.ok(lostAt - refusedAt < timing.leaseDurationMs, 'stopped before any other replica could acquire the lease')
    assert.equal(mgr.status().isLeader, false)
    assert.ok(log.lines.some((l) => /leader election lost/.test(String(l.msg))))
    assert.equal(mgr.status().phase, 'failed')
  })

  test('a leader whose caches do not sync within cacheSyncTimeoutMs fails (controller-runtime CacheSyncTimeout) and releases the lease instead of holding it idle', async () => {
    const log = capture()
    const mgr = new Manager({
      kubeConfig: server.kubeConfig,
      logger: log.logger,
      cacheSyncTimeoutMs: 300,
      leaderElection: { id: 'unsynced', namespace: 'default', leaseDurationMs: 3_000, renewDeadlineMs: 2_000, retryPeriodMs: 200, releaseOnCancel: true },
    })
    mgr.informers.informer({ apiVersion: 'v1', kind: 'Secret', namespace: 'kube-public' })
    let reconciled = false
    mgr
      .controller('never')
      .for({ apiVersion: 'v1', kind: 'ConfigMap', namespace: 'kube-public' })
      .build(() => {
        reconciled = true
      })
    const cancel = server.delay({ ms: 5_000, count: 1, match: { method: 'GET', path: '/api/v1/namespaces/kube-public/secrets', watch: false } })
    try {
      await mgr.start()
      const err = await mgr.done
      assert.equal((err as { code?: string } | undefined)?.code, 'ERR_CACHE_SYNC_TIMEOUT', String(err))
      assert.match(String((err as Error).message), /informer v1\/Secret@kube-public has not synced/)
      assert.equal(reconciled, false, 'no controller ran on unsynced caches')
      const lease = server.get({ apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', namespace: 'default', name: 'unsynced' }) as { spec?: { holderIdentity?: string } }
      assert.equal(lease.spec?.holderIdentity, '', 'the lease was released for a replica that can sync')
    } finally {
      cancel()
      server.clearFaults()
    }
  })

  test('graceful shutdown: a reconcile that ignores the deadline is cut off and reported by name', async () => {
    const log = capture()
    const mgr = new Manager({ kubeConfig: server.kubeConfig, logger: log.logger, gracefulShutdownTimeoutMs: 400 })
    let started = false
    mgr
      .controller('stuck')
      .for({ apiVersion: 'v1', kind: 'ConfigMap', namespace: 'kube-node-lease' })
      .build(async () => {
        started = true
        await new Promise((r) => setTimeout(r, 20_000).unref())
      })
    server.create({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'slow', namespace: 'kube-node-lease' } })
    await mgr.start()
    await until('the reconcile to start', () => started)
    const t0 = Date.now()
    const err = await mgr.stop().then(
      () => undefined,
      (e: unknown) => e,
    )
    assert.ok(err instanceof GracefulShutdownTimeoutError, String(err))
    assert.deepEqual(err.inFlight, ['stuck: kube-node-lease/slow'])
    assert.ok(Date.now() - t0 < 2_000)
    assert.ok(log.lines.some((l) => l.level === 50 && /grace period of 400 ms/.test(String(l.msg))))
    assert.equal(await mgr.done, err)
  })
})

function byName(families: ParsedFamily[]): Map<string, ParsedFamily> {
  return new Map(families.map((f) => [f.name, f]))
}

/** The value of the sample named `name` whose labels include `labels`. */
function sample(families: Map<string, ParsedFamily>, name: string, labels: Record<string, string>): number | undefined {
  for (const f of families.values()) {
    for (const s of f.samples) {
      if (s.name !== name) continue
      if (Object.entries(labels).every(([k, v]) => s.labels[k] === v)) return s.value
    }
  }
  return undefined
}

