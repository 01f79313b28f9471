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
import type { TimerHandle } from '../time/clock.ts'

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
 * The metrics of one queue (client-go `defaultQueueMetrics`), driven by the queue. Internal
 * to the queue layer; a queue without a provider has none, so metrics off costs one
 * `undefined` check per operation.
 *
 * Differs from client-go in where the timings live: client-go keeps two more maps here
 * (`addTimes`, `processingStartTimes`) beside the queue's own `dirty` and `processing`
 * sets; the queue here keeps each key's times as the values of its `dirty` and
 * `processing` maps, so a cycle with metrics on pays for no extra map operation
 * (`bench/queue.ts`).
 */
export class QueueMetrics {
  readonly #depth: GaugeMetric
  readonly #adds: CounterMetric
  readonly #latency: HistogramMetric
  readonly #workDuration: HistogramMetric
  readonly #unfinished: SettableGaugeMetric
  readonly #longestRunning: SettableGaugeMetric

  constructor(provider: QueueMetricsProvider, name: string) {
    this.#depth = provider.newDepthMetric(name)
    this.#adds = provider.newAddsMetric(name)
    this.#latency = provider.newLatencyMetric(name)
    this.#workDuration = provider.newWorkDurationMetric(name)
    this.#unfinished = provider.newUnfinishedWorkSecondsMetric(name)
    this.#longestRunning = provider.newLongestRunningProcessorSecondsMetric(name)
  }

  /** A key became dirty. */
  add(): void {
    this.#adds.inc()
    this.#depth.inc()
  }

  /** A key that became dirty at `addedAt` (ms on the queue's clock) was handed to a worker at `now`. */
  get(addedAt: number, now: number): void {
    this.#depth.dec()
    this.#latency.observe((now - addedAt) / 1000)
  }

  /** A worker that took a key at `startedAt` finished it at `now`. */
  done(startedAt: number, now: number): void {
    this.#workDuration.observe((now - startedAt) / 1000)
  }

  /** Sets the unfinished-work and longest-running gauges from the start times of the keys in flight. */
  updateUnfinishedWork(startTimes: Iterable<number>, now: number): void {
    let total = 0
    let oldest = 0
    for (const startedAt of startTimes) {
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
  /** Used by the reconcile metrics (`prometheusReconcileMetrics`); the queue's histograms are {@link LocalHistogram}s. */
  Histogram: new (config: any) => unknown
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
  /** Adds a metric object; used for the histograms, see {@link prometheusQueueMetrics}. */
  registerMetric(metric: never): void
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
 * two queues with the same name share one series. Everything is counted in plain numbers
 * on the hot path and handed to the registry when it collects (each scrape), because
 * prom-client's labelled children validate and hash their labels on every call (its
 * histogram's `observe` cost more than a whole queue cycle, `bench/queue.ts`): counters
 * and gauges through prom-client's `collect` hook, the two histograms as
 * `LocalHistogram` metric objects that serialize exactly as prom-client's
 * `Histogram` does. A workqueue metric that the registry already holds from elsewhere is
 * used through its own labelled children instead.
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
  const histogram = (spec: { name: string; help: string }): PromLabelled<HistogramMetric> => {
    const existing = registry.getSingleMetric(spec.name) as PromLabelled<HistogramMetric> | undefined
    if (existing !== undefined) return existing
    const created = new LocalHistogram(spec.name, spec.help, 'name', WORKQUEUE_DURATION_BUCKETS)
    registry.registerMetric(created as never)
    return created
  }

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

/** One label value's observations of a {@link LocalHistogram}. */
class HistogramCell implements HistogramMetric {
  /** Observations per bucket, not cumulative; the last slot counts those above every bound (+Inf). */
  readonly counts: Float64Array
  sum = 0
  count = 0
  readonly #bounds: readonly number[]

  constructor(bounds: readonly number[]) {
    this.#bounds = bounds
    this.counts = new Float64Array(bounds.length + 1)
  }

  observe(value: number): void {
    const bounds = this.#bounds
    let i = 0
    while (i < bounds.length && value > bounds[i]!) i++
    this.counts[i]!++
    this.sum += value
    this.count++
  }
}

/**
 * A histogram with one label, counted in plain numbers and serialized on collection in
 * exactly the form of prom-client's `Histogram` (`_bucket` per bound with `le` first and
 * cumulative counts, `+Inf`, `_sum`, `_count`; `test/queue/metrics.test.ts` compares the
 * two scrapes line by line). It implements the metric-object contract a prom-client
 * `Registry` reads (`name`, `help`, `type`, `aggregator`, `get()`, `reset()`), so it is
 * registered with `registerMetric` like prom-client's own metrics and scraped, reset and
 * merged with them.
 *
 * Hand-written because prom-client's `Histogram.observe` validates the labels, hashes them
 * and converts the bucket bound to a property key on every call (about 0.2 µs, more than a
 * whole add/get/done cycle of the queue), and prom-client offers no way to add a batch of
 * observations to a histogram.
 */
export class LocalHistogram implements PromLabelled<HistogramMetric> {
  readonly name: string
  readonly help: string
  readonly type = 'histogram'
  readonly aggregator = 'sum'
  readonly #label: string
  readonly #bounds: readonly number[]
  readonly #cells = new Map<string, HistogramCell>()

  constructor(name: string, help: string, label: string, bounds: readonly number[]) {
    this.name = name
    this.help = help
    this.#label = label
    this.#bounds = bounds
  }

  /** The cell of one label value, created (at zero, so it is scraped) on first use. */
  labels(labels: Record<string, string>): HistogramMetric {
    const value = labels[this.#label]
    if (value === undefined) throw new TypeError(`${this.name}: the label "${this.#label}" is required`)
    let cell = this.#cells.get(value)
    if (cell === undefined) this.#cells.set(value, (cell = new HistogramCell(this.#bounds)))
    return cell
  }

  /** The registry's view: what prom-client's `Histogram.get()` returns for the same observations. */
  get(): Promise<{ name: string; help: string; type: string; aggregator: string; values: HistogramValue[] }> {
    const values: HistogramValue[] = []
    const bucket = `${this.name}_bucket`
    for (const [labelValue, cell] of this.#cells) {
      let cumulative = 0
      for (let i = 0; i < this.#bounds.length; i++) {
        cumulative += cell.counts[i]!
        values.push({ labels: { le: this.#bounds[i]!, [this.#label]: labelValue }, value: cumulative, metricName: bucket, exemplar: null })
      }
      values.push({ labels: { le: '+Inf', [this.#label]: labelValue }, value: cell.count, metricName: bucket, exemplar: null })
      values.push({ labels: { [this.#label]: labelValue }, value: cell.sum, metricName: `${this.name}_sum`, exemplar: undefined })
      values.push({ labels: { [this.#label]: labelValue }, value: cell.count, metricName: `${this.name}_count`, exemplar: undefined })
    }
    return Promise.resolve({ name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values })
  }

  /**
   * `Registry.resetMetrics()`: every series back to zero. Differs from prom-client, whose
   * reset drops the series until the next observation: queues keep their cells, so the
   * series stay and read zero.
   */
  reset(): void {
    for (const cell of this.#cells.values()) {
      cell.counts.fill(0)
      cell.sum = 0
      cell.count = 0
    }
  }
}

/** One line of a {@link LocalHistogram} scrape. */
interface HistogramValue {
  labels: Record<string, string | number>
  value: number
  metricName: string
  exemplar: null | undefined
}
