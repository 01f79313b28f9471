import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { describe, it } from 'node:test'
import * as promClient from 'prom-client'
import {
  prometheusQueueMetrics,
  RateLimitingQueue,
  UNFINISHED_WORK_UPDATE_PERIOD_MS,
  WORKQUEUE_DURATION_BUCKETS,
  WorkQueue,
} from '../../lib/queue/index.ts'
import { FakeClock } from '../../lib/testing/fake-clock.ts'

async function snapshot(registry: promClient.Registry) {
  const out = new Map<string, { type: string; help: string; values: { labels: Record<string, unknown>; value: number; metricName?: string }[] }>()
  for (const m of await registry.getMetricsAsJSON()) {
    out.set(m.name, { type: String(m.type), help: m.help, values: m.values as never })
  }
  return out
}

function value(snap: Awaited<ReturnType<typeof snapshot>>, name: string, queue: string, metricName = name, le?: number) {
  const metric = snap.get(name)
  assert.ok(metric, `metric ${name} is registered`)
  const found = metric.values.find(
    (v) => v.labels.name === queue && (v.metricName ?? name) === metricName && (le === undefined || v.labels.le === le),
  )
  return found?.value
}

function setup() {
  const clock = new FakeClock()
  const registry = new promClient.Registry()
  const metrics = prometheusQueueMetrics(promClient, { registry })
  return { clock, registry, metrics }
}

// Names, help texts, label and buckets of Kubernetes' component-base
// `metrics/prometheus/workqueue/metrics.go`; meanings of client-go `util/workqueue/metrics.go`.
describe('queue metrics through prom-client', () => {
  it('registers client-go names, types, help and the name label', async () => {
    const { clock, registry, metrics } = setup()
    const queue = new RateLimitingQueue<string>({ name: 'pods', clock, metrics })
    queue.add('a')
    const snap = await snapshot(registry)
    const expected: [string, string][] = [
      ['workqueue_depth', 'gauge'],
      ['workqueue_adds_total', 'counter'],
      ['workqueue_queue_duration_seconds', 'histogram'],
      ['workqueue_work_duration_seconds', 'histogram'],
      ['workqueue_unfinished_work_seconds', 'gauge'],
      ['workqueue_longest_running_processor_seconds', 'gauge'],
      ['workqueue_retries_total', 'counter'],
    ]
    assert.deepEqual(
      [...snap.entries()].map(([name, m]) => [name, m.type]),
      expected,
    )
    assert.equal(snap.get('workqueue_depth')?.help, 'Current depth of workqueue')
    assert.equal(snap.get('workqueue_adds_total')?.help, 'Total number of adds handled by workqueue')
    assert.equal(snap.get('workqueue_retries_total')?.help, 'Total number of retries handled by workqueue')
    assert.equal(value(snap, 'workqueue_depth', 'pods'), 1)
    queue.shutDown()
  })

  it('uses client-go buckets: ExponentialBuckets(10e-7, 10, 10), 1 µs to 1000 s', async () => {
    assert.deepEqual(WORKQUEUE_DURATION_BUCKETS, [1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1, 10, 100, 1000])
    const { clock, registry, metrics } = setup()
    const queue = new WorkQueue<string>({ name: 'q', clock, metrics })
    queue.add('a')
    queue.tryGet()
    const snap = await snapshot(registry)
    const les = snap
      .get('workqueue_queue_duration_seconds')
      ?.values.filter((v) => v.metricName === 'workqueue_queue_duration_seconds_bucket')
      .map((v) => v.labels.le)
    assert.deepEqual(les, [1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1, 10, 100, 1000, '+Inf'])
    queue.shutDown()
  })

  it('counts adds (not duplicates), depth, queue and work durations', async () => {
    const { clock, registry, metrics } = setup()
    const queue = new WorkQueue<string>({ name: 'pods', clock, metrics })
    queue.add('a')
    queue.add('b')
    queue.add('a')
    let snap = await snapshot(registry)
    assert.equal(value(snap, 'workqueue_adds_total', 'pods'), 2)
    assert.equal(value(snap, 'workqueue_depth', 'pods'), 2)

    await clock.advance(1500)
    assert.equal(queue.tryGet(), 'a')
    await clock.advance(250)
    queue.add('a') // while processing: counted, depth includes it (client-go counts dirty keys)
    queue.done('a')
    snap = await snapshot(registry)
    assert.equal(value(snap, 'workqueue_adds_total', 'pods'), 3)
    assert.equal(value(snap, 'workqueue_depth', 'pods'), 2)
    const q = 'workqueue_queue_duration_seconds'
    assert.equal(value(snap, q, 'pods', `${q}_count`), 1)
    assert.equal(value(snap, q, 'pods', `${q}_sum`), 1.5)
    assert.equal(value(snap, q, 'pods', `${q}_bucket`, 1), 0)
    assert.equal(value(snap, q, 'pods', `${q}_bucket`, 10), 1)
    const w = 'workqueue_work_duration_seconds'
    assert.equal(value(snap, w, 'pods', `${w}_count`), 1)
    assert.equal(value(snap, w, 'pods', `${w}_sum`), 0.25)
    queue.shutDown()
  })

  it('updates unfinished work and the longest running processor every 500 ms of the clock', async () => {
    const { clock, registry, metrics } = setup()
    const queue = new WorkQueue<string>({ name: 'pods', clock, metrics })
    assert.equal(UNFINISHED_WORK_UPDATE_PERIOD_MS, 500)
    queue.add('a')
    queue.add('b')
    queue.tryGet()
    await clock.advance(1000)
    queue.tryGet()
    await clock.advance(499)
    let snap = await snapshot(registry)
    assert.equal(value(snap, 'workqueue_unfinished_work_seconds', 'pods'), 1, 'last tick at 1000 ms')
    assert.equal(value(snap, 'workqueue_longest_running_processor_seconds', 'pods'), 1)
    await clock.advance(1)
    snap = await snapshot(registry)
    assert.equal(value(snap, 'workqueue_unfinished_work_seconds', 'pods'), 2, 'a: 1.5 s + b: 0.5 s')
    assert.equal(value(snap, 'workqueue_longest_running_processor_seconds', 'pods'), 1.5)
    queue.done('a')
    queue.done('b')
    await clock.advance(500)
    snap = await snapshot(registry)
    assert.equal(value(snap, 'workqueue_unfinished_work_seconds', 'pods'), 0)
    assert.equal(value(snap, 'workqueue_longest_running_processor_seconds', 'pods'), 0)
    queue.shutDown()
    assert.equal(clock.pending, 0, 'the tick stops at shut down')
  })

  it('counts every addAfter and addRateLimited as a retry', async () => {
    const { clock, registry, metrics } = setup()
    const queue = new RateLimitingQueue<string>({ name: 'pods', clock, metrics })
    queue.addRateLimited('a')
    queue.addAfter('b', 10)
    queue.addAfter('c', 0)
    const snap = await snapshot(registry)
    assert.equal(value(snap, 'workqueue_retries_total', 'pods'), 3)
    queue.shutDown()
  })

  it('labels each queue by its name, sharing one registry', async () => {
    const { clock, registry, metrics } = setup()
    const pods = new WorkQueue<string>({ name: 'pods', clock, metrics })
    const nodes = new WorkQueue<string>({ name: 'nodes', clock, metrics: prometheusQueueMetrics(promClient, { registry }) })
    pods.add('a')
    nodes.add('x')
    nodes.add('y')
    const snap = await snapshot(registry)
    assert.equal(value(snap, 'workqueue_adds_total', 'pods'), 1)
    assert.equal(value(snap, 'workqueue_adds_total', 'nodes'), 2)
    pods.shutDown()
    nodes.shutDown()
  })

  it('uses a workqueue metric the registry already holds from elsewhere', async () => {
    const clock = new FakeClock()
    const registry = new promClient.Registry()
    new promClient.Counter({ name: 'workqueue_adds_total', help: 'mine', labelNames: ['name'], registers: [registry] })
    const queue = new WorkQueue<string>({ name: 'pods', clock, metrics: prometheusQueueMetrics(promClient, { registry }) })
    queue.add('a')
    const snap = await snapshot(registry)
    assert.equal(snap.get('workqueue_adds_total')?.help, 'mine')
    assert.equal(value(snap, 'workqueue_adds_total', 'pods'), 1)
    assert.equal(value(snap, 'workqueue_depth', 'pods'), 1)
    queue.shutDown()
  })

  it('are off by default: no timer, nothing registered', async () => {
    const clock = new FakeClock()
    const registry = new promClient.Registry()
    const queue = new RateLimitingQueue<string>({ name: 'pods', clock })
    queue.add('a')
    assert.equal(clock.pending, 0)
    assert.equal((await registry.getMetricsAsJSON()).length, 0)
  })

  it('never keep a process alive: the tick on the system clock is unref-ed', () => {
    const queueIndex = new URL('../../lib/queue/index.ts', import.meta.url).href
    const script = [
      `import * as promClient from 'prom-client'`,
      `import { prometheusQueueMetrics, WorkQueue } from '${queueIndex}'`,
      `const queue = new WorkQueue({ name: 'alive', metrics: prometheusQueueMetrics(promClient) })`,
      `queue.add('a')`,
      `console.log('started')`,
    ].join('\n')
    // The child exits on its own once its script ends; the timeout only guards against a hang.
    const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], {
      cwd: new URL('../..', import.meta.url),
      timeout: 20_000,
      encoding: 'utf8',
    })
    assert.equal(out.trim(), 'started')
  })

  it('scrape the histograms exactly as prom-client\'s own Histogram would (LocalHistogram)', async () => {
    const { clock, registry, metrics } = setup()
    const queue = new WorkQueue<string>({ name: 'pods', clock, metrics })
    const reference = new promClient.Registry()
    const histogram = (name: string) =>
      new promClient.Histogram({
        name,
        help: (registry.getSingleMetric(name) as unknown as { help: string }).help,
        labelNames: ['name'],
        buckets: [...WORKQUEUE_DURATION_BUCKETS],
        registers: [reference],
      })
    const latency = histogram('workqueue_queue_duration_seconds')
    const work = histogram('workqueue_work_duration_seconds')
    // The same observations through the adapter and through prom-client: on every bucket
    // bound (le is inclusive), between bounds, past the last one (+Inf), and zero.
    const seconds = [0, 1e-6, 2e-6, 1e-5, 0.015, 0.1, 1, 1.5, 10, 100, 999, 1000, 1000.5, 5000, 3.25]
    for (const [i, v] of seconds.entries()) {
      metrics.newLatencyMetric('pods').observe(v)
      latency.observe({ name: 'pods' }, v)
      metrics.newWorkDurationMetric(i % 2 ? 'nodes' : 'pods').observe(v / 3)
      work.observe({ name: i % 2 ? 'nodes' : 'pods' }, v / 3)
    }
    for (const name of ['workqueue_queue_duration_seconds', 'workqueue_work_duration_seconds']) {
      assert.equal(await registry.getSingleMetricAsString(name), await reference.getSingleMetricAsString(name), name)
    }
    assert.deepEqual(
      (await registry.getMetricsAsJSON()).find((m) => m.name === 'workqueue_queue_duration_seconds')?.values,
      (await reference.getMetricsAsJSON()).find((m) => m.name === 'workqueue_queue_duration_seconds')?.values,
    )
    registry.resetMetrics()
    const afterReset = await snapshot(registry)
    assert.equal(value(afterReset, 'workqueue_queue_duration_seconds', 'pods', 'workqueue_queue_duration_seconds_count'), 0)
    queue.add('again')
    queue.tryGet()
    assert.equal(value(await snapshot(registry), 'workqueue_queue_duration_seconds', 'pods', 'workqueue_queue_duration_seconds_count'), 1, 'the queue still counts after a reset')
    queue.shutDown()
  })

  it('need a queue name', () => {
    const { metrics } = setup()
    assert.throws(() => new WorkQueue<string>({ metrics }), /name/)
  })
})
