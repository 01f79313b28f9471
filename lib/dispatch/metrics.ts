/**
 * Reconcile metrics with controller-runtime's names, labels and buckets
 * (`pkg/internal/controller/metrics/metrics.go`), so the dashboards and alerts written for
 * Go operators work unchanged:
 *
 * - `controller_runtime_reconcile_total{controller, result}` — result `success`, `error`,
 *   `requeue`, `requeue_after`; every label pair starts at 0 when the controller starts;
 * - `controller_runtime_reconcile_errors_total{controller}`;
 * - `controller_runtime_terminal_reconcile_errors_total{controller}` (a `TerminalError`);
 * - `controller_runtime_reconcile_panics_total{controller}` — JavaScript has no panics; we
 *   count what Go would have panicked on: a thrown `TypeError`, `ReferenceError`,
 *   `RangeError` or `SyntaxError` (e.g. reading a property of `undefined`), or a thrown
 *   value that is not an `Error` at all. They also count as errors, as in controller-runtime;
 * - `controller_runtime_reconcile_time_seconds{controller}` (histogram, every reconcile);
 * - `controller_runtime_max_concurrent_reconciles{controller}`;
 * - `controller_runtime_active_workers{controller}` (reconciles running now).
 *
 * kubevisor never imports prom-client: pass your module (an optional peer dependency).
 */
import type { PromClientLike, PromRegistryLike } from '../queue/metrics.ts'
import { TerminalError } from './workers.ts'

/** How a reconcile ended, as controller-runtime's `result` label. */
export type ReconcileOutcome = 'success' | 'error' | 'requeue' | 'requeue_after'

/** The metrics of one controller, driven by its reconcile loop. */
export interface ReconcileMetrics {
  /** The controller (re)started: every series exists, at 0; the concurrency gauge is set. */
  init(maxConcurrentReconciles: number): void
  /** A reconcile began (active workers + 1). */
  begin(): void
  /** A reconcile ended (active workers − 1) after `seconds`. */
  end(outcome: ReconcileOutcome, seconds: number, error?: unknown): void
}

/** Makes each controller's metrics (once per controller name and provider). */
export interface ReconcileMetricsProvider {
  /** The metrics of the controller named `name` (its `controller` label); a controller calls this once, when built. */
  forController(name: string): ReconcileMetrics
}

/** controller-runtime's `ReconcileTime` buckets, in seconds. */
export const RECONCILE_TIME_BUCKETS: readonly number[] = Object.freeze([
  0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.25, 1.5, 1.75, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5, 6, 7, 8, 9, 10,
  15, 20, 25, 30, 40, 50, 60,
])

/** Names and help texts, as controller-runtime registers them. */
export const CONTROLLER_RUNTIME_METRICS = Object.freeze({
  total: { name: 'controller_runtime_reconcile_total', help: 'Total number of reconciliations per controller' },
  errors: { name: 'controller_runtime_reconcile_errors_total', help: 'Total number of reconciliation errors per controller' },
  terminal: { name: 'controller_runtime_terminal_reconcile_errors_total', help: 'Total number of terminal reconciliation errors per controller' },
  panics: { name: 'controller_runtime_reconcile_panics_total', help: 'Total number of reconciliation panics per controller' },
  time: { name: 'controller_runtime_reconcile_time_seconds', help: 'Length of time per reconciliation per controller' },
  maxConcurrent: { name: 'controller_runtime_max_concurrent_reconciles', help: 'Maximum number of concurrent reconciles per controller' },
  activeWorkers: { name: 'controller_runtime_active_workers', help: 'Number of currently used workers per controller' },
})

const RESULTS: readonly ReconcileOutcome[] = ['success', 'error', 'requeue', 'requeue_after']

/** Whether a thrown value is what Go would have panicked on (see the module doc). */
export function isPanicLike(err: unknown): boolean {
  if (!(err instanceof Error)) return true
  return err instanceof TypeError || err instanceof ReferenceError || err instanceof RangeError || err instanceof SyntaxError
}

type Labelled = { labels(l: Record<string, string>): { inc(v?: number): void; set(v: number): void; observe(v: number): void } }

/**
 * A {@link ReconcileMetricsProvider} on prom-client with controller-runtime's metric names.
 * Pass it as `reconcileMetrics` to `controller(...)` (a Manager does this for controllers
 * it builds). Metrics are registered once per registry and reused.
 *
 * @example
 * ```ts
 * import * as prom from 'prom-client'
 * const registry = new prom.Registry()
 * controller('site', { informers, reconcileMetrics: prometheusReconcileMetrics(prom, { registry }) })
 * ```
 */
export function prometheusReconcileMetrics(client: PromClientLike, options: { registry?: PromRegistryLike } = {}): ReconcileMetricsProvider {
  const registry = options.registry ?? client.register
  const m = CONTROLLER_RUNTIME_METRICS
  const make = (kind: 'Counter' | 'Gauge' | 'Histogram', spec: { name: string; help: string }, labelNames: string[], extra: object = {}): Labelled =>
    (registry.getSingleMetric(spec.name) as Labelled | undefined) ?? (new client[kind]({ ...spec, labelNames, registers: [registry], ...extra }) as Labelled)
  const total = make('Counter', m.total, ['controller', 'result'])
  const errors = make('Counter', m.errors, ['controller'])
  const terminal = make('Counter', m.terminal, ['controller'])
  const panics = make('Counter', m.panics, ['controller'])
  const time = make('Histogram', m.time, ['controller'], { buckets: [...RECONCILE_TIME_BUCKETS] })
  const maxConcurrent = make('Gauge', m.maxConcurrent, ['controller'])
  const active = make('Gauge', m.activeWorkers, ['controller'])
  return {
    forController(name) {
      const c = { controller: name }
      const byResult = new Map(RESULTS.map((r) => [r, total.labels({ controller: name, result: r })]))
      const err = errors.labels(c)
      const term = terminal.labels(c)
      const pan = panics.labels(c)
      const hist = time.labels(c)
      const workers = active.labels(c)
      let running = 0
      return {
        init(concurrency) {
          // controller-runtime `initMetrics`: every series exists from the start, at 0.
          for (const counter of byResult.values()) counter.inc(0)
          err.inc(0)
          term.inc(0)
          pan.inc(0)
          running = 0
          workers.set(0)
          maxConcurrent.labels(c).set(concurrency)
        },
        begin() {
          workers.set(++running)
        },
        end(outcome, seconds, error) {
          workers.set(Math.max(0, --running))
          hist.observe(seconds)
          byResult.get(outcome)?.inc()
          if (outcome !== 'error') return
          err.inc()
          if (error instanceof TerminalError) term.inc()
          if (isPanicLike(error)) pan.inc()
        },
      }
    },
  }
}
