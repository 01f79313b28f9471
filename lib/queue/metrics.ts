/**
 * Work queue metrics: optional, off by default, free when off.
 *
 * The shape is client-go's `util/workqueue/metrics.go`: a {@link QueueMetricsProvider} hands
 * each named queue its seven metrics, and the queue drives them from `add`, `get`, `done`,
 * `addAfter` and a periodic tick. {@link prometheusQueueMetrics} is the adapter to
 * prom-client, with the names, help texts, label and buckets of Kubernetes'
 * `component-base/metrics/prometheus/workqueue/metrics.go`. kubevisor never imports
 * prom-client itself: the caller passes its own module (an optional peer dependency).
 */
import type { Clock, TimerHandle } from '../time/clock.ts'

/** A value that goes up and down by one (client-go `GaugeMetric`). */
export interface GaugeMetric {
  inc(): void
  dec(): void
}

/** A value that is set outright (client-go `SettableGaugeMetric`). */
export interface SettableGaugeMetric {
  set(value: number): void
}

/** A value that only goes up (client-go `CounterMetric`). */
export interface CounterMetric {
  inc(): void
}

/** A distribution of observations, in seconds here (client-go `HistogramMetric`). */
export interface HistogramMetric {
  observe(value: number): void
}

/**
 * Makes the metrics of one queue, given its name (client-go `MetricsProvider`). Each method
 * is called once per queue, when the queue is constructed.
 *
 * Implement it to feed another metrics system; use {@link prometheusQueueMetrics} for
 * prom-client. What each metric means:
 * - depth: keys waiting to be handed out (dirty keys, including those that will be
 *   queued again when their current processing ends);
 * - adds: keys accepted by `add` that were not already waiting (duplicates are not counted);
 * - latency: seconds from a key's first accepted `add` to the `get` that hands it out;
 * - work duration: seconds from `get` to `done`;
 * - unfinished work: sum of the ages of all in-flight processings, updated on a tick;
 * - longest running processor: age of the oldest in-flight processing, on the same tick;
 * - retries: calls to `addAfter` (and so `addRateLimited`) accepted while not shut down.
 */
export interface QueueMetricsProvider {
  newDepthMetric(name: string): GaugeMetric
  newAddsMetric(name: string): CounterMetric
  newLatencyMetric(name: string): HistogramMetric
  newWorkDurationMetric(name: string): HistogramMetric
  newUnfinishedWorkSecondsMetric(name: string): SettableGaugeMetric
  newLongestRunningProcessorSecondsMetric(name: string): SettableGaugeMetric
  newRetriesMetric(name: string): CounterMetric
}

/**
 * How often in-flight work is measured, in ms: client-go `queue.go`
 * `defaultUnfinishedWorkUpdatePeriod = 500 * time.Millisecond`.
 */
export const UNFINISHED_WORK_UPDATE_PERIOD_MS = 500

/**
 * The per-queue bookkeeping behind the metrics (client-go `defaultQueueMetrics`). Internal
 * to the queue layer; a queue without a provider has none, so metrics off costs one
 * `undefined` check per operation.
 */
export class QueueMetrics<K> {
  readonly #clock: Clock
  readonly #depth: GaugeMetric
  readonly #adds: CounterMetric
  readonly #latency: HistogramMetric
  readonly #workDuration: HistogramMetric
  readonly #unfinished: SettableGaugeMetric
  readonly #longestRunning: SettableGaugeMetric
  /** When each waiting key was first added (ms on the clock); removed when it is handed out. */
  readonly #addTimes = new Map<K, number>()
  /** When each in-flight key was handed out (ms on the clock); removed on `done`. */
  readonly #startTimes = new Map<K, number>()

  constructor(provider: QueueMetricsProvider, name: string, clock: Clock) {
    this.#clock = clock
    this.#depth = provider.newDepthMetric(name)
    this.#adds = provider.newAddsMetric(name)
    this.#latency = provider.newLatencyMetric(name)
    this.#workDuration = provider.newWorkDurationMetric(name)
    this.#unfinished = provider.newUnfinishedWorkSecondsMetric(name)
    this.#longestRunning = provider.newLongestRunningProcessorSecondsMetric(name)
  }

  /** A key became dirty. */
  add(key: K): void {
    this.#adds.inc()
    this.#depth.inc()
    if (!this.#addTimes.has(key)) this.#addTimes.set(key, this.#clock.now())
  }

  /** A key was handed to a worker. */
  get(key: K): void {
    const now = this.#clock.now()
    this.#depth.dec()
    this.#startTimes.set(key, now)
    const addedAt = this.#addTimes.get(key)
    if (addedAt !== undefined) {
      this.#latency.observe((now - addedAt) / 1000)
      this.#addTimes.delete(key)
    }
  }

  /** A worker finished a key. */
  done(key: K): void {
    const startedAt = this.#startTimes.get(key)
    if (startedAt !== undefined) {
      this.#workDuration.observe((this.#clock.now() - startedAt) / 1000)
      this.#startTimes.delete(key)
    }
  }

  /** Sets the unfinished-work and longest-running gauges from the in-flight keys. */
  updateUnfinishedWork(): void {
    const now = this.#clock.now()
    let total = 0
    let oldest = 0
    for (const startedAt of this.#startTimes.values()) {
      const age = (now - startedAt) / 1000
      total += age
      if (age > oldest) oldest = age
    }
    this.#unfinished.set(total)
    this.#longestRunning.set(oldest)
  }
}

/**
 * Keeps a Node timer from holding the process open, when the clock's handle is one. A
 * metrics tick should never be the reason a process does not exit.
 */
export function unrefTimer(handle: TimerHandle): void {
  const timer = handle as { unref?: () => void } | null
  if (timer !== null && typeof timer === 'object' && typeof timer.unref === 'function') timer.unref()
}

// ---------------------------------------------------------------------------------------
// prom-client adapter

/**
 * The parts of the `prom-client` module the adapter uses; pass the module itself
 * (`import * as promClient from 'prom-client'`). Structural, so kubevisor needs no
 * prom-client types or code at load time.
 */
export interface PromClientLike {
  Gauge: new (config: any) => PromLabelled<{ inc(): void; dec(): void; set(value: number): void }>
  Counter: new (config: any) => PromLabelled<{ inc(): void }>
  Histogram: new (config: any) => PromLabelled<{ observe(value: number): void }>
  /** prom-client's global default registry. */
  register: PromRegistryLike
}

/** A prom-client metric with labels. */
export interface PromLabelled<Child> {
  labels(labels: Record<string, string>): Child
}

/** The parts of a prom-client `Registry` the adapter uses. */
export interface PromRegistryLike {
  getSingleMetric(name: string): unknown
}

/** Options for {@link prometheusQueueMetrics}. */
export interface PrometheusQueueMetricsOptions {
  /** Where the metrics are registered; default: the module's global `register`. */
  registry?: PromRegistryLike
}

/**
 * Histogram buckets of both duration metrics, in seconds: 1 µs × 10ⁿ for n = 0..9 —
 * component-base `workqueue/metrics.go` `ExponentialBuckets(10e-7, 10, 10)`.
 */
export const WORKQUEUE_DURATION_BUCKETS: readonly number[] = Object.freeze(
  Array.from({ length: 10 }, (_, i) => Number((1e-6 * 10 ** i).toPrecision(1))),
)

/**
 * Metric names and help texts, as Kubernetes registers them (component-base
 * `metrics/prometheus/workqueue/metrics.go`, subsystem `workqueue`, label `name`).
 */
export const WORKQUEUE_METRICS = Object.freeze({
  depth: { name: 'workqueue_depth', help: 'Current depth of workqueue' },
  adds: { name: 'workqueue_adds_total', help: 'Total number of adds handled by workqueue' },
  latency: {
    name: 'workqueue_queue_duration_seconds',
    help: 'How long in seconds an item stays in workqueue before being requested.',
  },
  workDuration: {
    name: 'workqueue_work_duration_seconds',
    help: 'How long in seconds processing an item from workqueue takes.',
  },
  unfinishedWork: {
    name: 'workqueue_unfinished_work_seconds',
    help:
      'How many seconds of work has done that is in progress and hasn\'t been observed by work_duration. ' +
      'Large values indicate stuck threads. One can deduce the number of stuck threads by observing the ' +
      'rate at which this increases.',
  },
  longestRunningProcessor: {
    name: 'workqueue_longest_running_processor_seconds',
    help: 'How many seconds has the longest running processor for workqueue been running.',
  },
  retries: { name: 'workqueue_retries_total', help: 'Total number of retries handled by workqueue' },
})

/**
 * A {@link QueueMetricsProvider} backed by prom-client, with client-go's metric names
 * (`workqueue_depth`, `workqueue_adds_total`, `workqueue_queue_duration_seconds`,
 * `workqueue_work_duration_seconds`, `workqueue_unfinished_work_seconds`,
 * `workqueue_longest_running_processor_seconds`, `workqueue_retries_total`), each labelled
 * `name` with the queue's name.
 *
 * When to use: you already expose prom-client metrics and want dashboards and alerts
 * written for Kubernetes controllers to work on kubevisor queues.
 *
 * Gotchas: the metrics are created in the registry on the first call and reused on later
 * calls with the same registry, so several providers (and queues) can share a registry;
 * two queues with the same name share one series. prom-client ≥ 15 is an optional peer
 * dependency: install it yourself.
 *
 * @example
 * ```ts
 * import * as promClient from 'prom-client'
 * const metrics = prometheusQueueMetrics(promClient)
 * const queue = new RateLimitingQueue<string>({ name: 'pods', metrics })
 * // GET /metrics → await promClient.register.metrics()
 * ```
 */
export function prometheusQueueMetrics(
  client: PromClientLike,
  options: PrometheusQueueMetricsOptions = {},
): QueueMetricsProvider {
  const registry = options.registry ?? client.register
  const labelNames = ['name']
  const registers = [registry]
  const reuse = <M>(name: string, make: () => M): M => (registry.getSingleMetric(name) as M | undefined) ?? make()
  const m = WORKQUEUE_METRICS
  const buckets = [...WORKQUEUE_DURATION_BUCKETS]
  const depth = reuse(m.depth.name, () => new client.Gauge({ ...m.depth, labelNames, registers }))
  const adds = reuse(m.adds.name, () => new client.Counter({ ...m.adds, labelNames, registers }))
  const latency = reuse(m.latency.name, () => new client.Histogram({ ...m.latency, labelNames, registers, buckets }))
  const work = reuse(m.workDuration.name, () => new client.Histogram({ ...m.workDuration, labelNames, registers, buckets }))
  const unfinished = reuse(m.unfinishedWork.name, () => new client.Gauge({ ...m.unfinishedWork, labelNames, registers }))
  const longest = reuse(m.longestRunningProcessor.name, () => new client.Gauge({ ...m.longestRunningProcessor, labelNames, registers }))
  const retries = reuse(m.retries.name, () => new client.Counter({ ...m.retries, labelNames, registers }))
  return {
    newDepthMetric: (name) => depth.labels({ name }),
    newAddsMetric: (name) => adds.labels({ name }),
    newLatencyMetric: (name) => latency.labels({ name }),
    newWorkDurationMetric: (name) => work.labels({ name }),
    newUnfinishedWorkSecondsMetric: (name) => unfinished.labels({ name }),
    newLongestRunningProcessorSecondsMetric: (name) => longest.labels({ name }),
    newRetriesMetric: (name) => retries.labels({ name }),
  }
}
