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
  /** `workqueue_depth`: keys waiting to be handed out. */
  newDepthMetric(name: string): GaugeMetric
  /** `workqueue_adds_total`: adds accepted. */
  newAddsMetric(name: string): CounterMetric
  /** `workqueue_queue_duration_seconds`: how long a key waited before it was handed out. */
  newLatencyMetric(name: string): HistogramMetric
  /** `workqueue_work_duration_seconds`: how long processing took (get → done). */
  newWorkDurationMetric(name: string): HistogramMetric
  /** `workqueue_unfinished_work_seconds`: the summed age of in-flight processings. */
  newUnfinishedWorkSecondsMetric(name: string): SettableGaugeMetric
  /** `workqueue_longest_running_processor_seconds`: the age of the oldest in-flight processing. */
  newLongestRunningProcessorSecondsMetric(name: string): SettableGaugeMetric
  /** `workqueue_retries_total`: `addAfter` / `addRateLimited` calls accepted. */
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
  /**
   * Timings of the keys that are waiting or in flight, in ms on the clock: `addedAt` from
   * the add that made the key dirty until `get` (−1 otherwise), `startedAt` from `get`
   * until `done` (−1 otherwise). An entry exists while either is set; one map instead of
   * client-go's two keeps the cost per operation down.
   */
  readonly #timings = new Map<K, { addedAt: number; startedAt: number }>()

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
    const timing = this.#timings.get(key)
    if (timing === undefined) this.#timings.set(key, { addedAt: this.#clock.now(), startedAt: -1 })
    else if (timing.addedAt < 0) timing.addedAt = this.#clock.now()
  }

  /** A key was handed to a worker. */
  get(key: K): void {
    const now = this.#clock.now()
    this.#depth.dec()
    const timing = this.#timings.get(key)
    if (timing === undefined) {
      this.#timings.set(key, { addedAt: -1, startedAt: now })
      return
    }
    timing.startedAt = now
    if (timing.addedAt >= 0) {
      this.#latency.observe((now - timing.addedAt) / 1000)
      timing.addedAt = -1
    }
  }

  /** A worker finished a key. */
  done(key: K): void {
    const timing = this.#timings.get(key)
    if (timing === undefined || timing.startedAt < 0) return
    this.#workDuration.observe((this.#clock.now() - timing.startedAt) / 1000)
    timing.startedAt = -1
    if (timing.addedAt < 0) this.#timings.delete(key)
  }

  /** Sets the unfinished-work and longest-running gauges from the in-flight keys. */
  updateUnfinishedWork(): void {
    const now = this.#clock.now()
    let total = 0
    let oldest = 0
    for (const { startedAt } of this.#timings.values()) {
      if (startedAt < 0) continue
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
  Gauge: new (config: any) => unknown
  Counter: new (config: any) => unknown
  Histogram: new (config: any) => PromLabelled<HistogramMetric>
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
 * two queues with the same name share one series. Counters and gauges are kept as plain
 * numbers and handed to prom-client when it collects (each scrape), because prom-client's
 * labelled children hash their labels on every call; histograms are observed directly.
 * prom-client ≥ 15 is an optional peer dependency: install it yourself.
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
  const m = WORKQUEUE_METRICS
  const common = { labelNames: ['name'], registers: [registry] }
  const buckets = [...WORKQUEUE_DURATION_BUCKETS]

  /**
   * A counter or gauge counted in plain numbers on the hot path and handed to prom-client
   * by the metric's `collect` hook, which prom-client calls on every scrape: labelled
   * prom-client children validate and hash their labels on each call, which would cost
   * more than the queue operation itself. Reused when the registry already has the metric.
   */
  const local = (
    kind: 'counter' | 'gauge',
    spec: { name: string; help: string },
  ): ((name: string) => GaugeMetric & CounterMetric & SettableGaugeMetric) => {
    const existing = registry.getSingleMetric(spec.name) as PromLabelled<LocalCell> | undefined
    let cells = existing && localCells.get(existing)
    // Registered by someone else: use its labelled children directly.
    if (existing !== undefined && cells === undefined) return (name) => existing.labels({ name })
    if (cells === undefined) {
      const fresh = new Map<string, LocalCell>()
      cells = fresh
      if (kind === 'counter') {
        const counter: { inc(labels: Record<string, string>, value: number): void } = new client.Counter({
          ...spec,
          ...common,
          collect: () => {
            for (const [name, cell] of fresh) {
              if (cell.value > 0) counter.inc({ name }, cell.value)
              cell.value = 0
            }
          },
        }) as never
        localCells.set(counter, fresh)
      } else {
        const gauge: { set(labels: Record<string, string>, value: number): void } = new client.Gauge({
          ...spec,
          ...common,
          collect: () => {
            for (const [name, cell] of fresh) gauge.set({ name }, cell.value)
          },
        }) as never
        localCells.set(gauge, fresh)
      }
    }
    const shared = cells
    return (name) => {
      let cell = shared.get(name)
      if (cell === undefined) shared.set(name, (cell = new LocalCell()))
      return cell
    }
  }
  const histogram = (spec: { name: string; help: string }) =>
    (registry.getSingleMetric(spec.name) as PromLabelled<HistogramMetric> | undefined) ??
    new client.Histogram({ ...spec, ...common, buckets })

  const depth = local('gauge', m.depth)
  const adds = local('counter', m.adds)
  const latency = histogram(m.latency)
  const work = histogram(m.workDuration)
  const unfinished = local('gauge', m.unfinishedWork)
  const longest = local('gauge', m.longestRunningProcessor)
  const retries = local('counter', m.retries)
  return {
    newDepthMetric: depth,
    newAddsMetric: adds,
    newLatencyMetric: (name) => latency.labels({ name }),
    newWorkDurationMetric: (name) => work.labels({ name }),
    newUnfinishedWorkSecondsMetric: unfinished,
    newLongestRunningProcessorSecondsMetric: longest,
    newRetriesMetric: retries,
  }
}

/** A counter's increments since the last scrape, or a gauge's value. */
class LocalCell implements GaugeMetric, CounterMetric, SettableGaugeMetric {
  value = 0
  inc(): void {
    this.value++
  }
  dec(): void {
    this.value--
  }
  set(value: number): void {
    this.value = value
  }
}

/** The local cells behind each prom-client metric this adapter created, by metric. */
const localCells = new WeakMap<object, Map<string, LocalCell>>()
