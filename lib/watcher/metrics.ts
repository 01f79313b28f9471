/**
 * Watch metrics: optional, off by default, and free on the hot path — a watcher keeps
 * plain counters (`WatchCounters`) and prom-client reads them when it is scraped.
 *
 * Names use the `kubevisor_watch_` prefix (client-go's reflector metrics were removed
 * upstream, so there is no standard to follow), labelled `watcher` by the watcher's name
 * (or kind). kubevisor never imports prom-client: pass your module, as for queue metrics.
 */
import type { Clock } from '../time/clock.ts'
import type { WatchCounters } from '../watch/runner.ts'

/** The names and help texts of the watch metrics. */
export const WATCH_METRICS = {
  relists: { name: 'kubevisor_watch_relists_total', help: 'Relists after the initial list (410 Gone, forced resyncs).' },
  gone: { name: 'kubevisor_watch_gone_total', help: 'Watches or lists answered 410 Gone (status or ERROR event).' },
  reconnects: { name: 'kubevisor_watch_reconnects_total', help: 'Watch requests after the first one (timeouts, closes, failures, stalls).' },
  decodeErrors: { name: 'kubevisor_watch_decode_errors_total', help: 'Malformed watch stream lines skipped.' },
  watchErrors: { name: 'kubevisor_watch_error_events_total', help: 'ERROR events other than 410 Gone.' },
  stalls: { name: 'kubevisor_watch_stalls_total', help: 'Watch streams torn down after a silence longer than their timeout plus a margin.' },
  throttled: { name: 'kubevisor_watch_throttled_total', help: '429 Too Many Requests answers.' },
  events: { name: 'kubevisor_watch_events_total', help: 'Watch events received, by type.' },
  lastEventAge: { name: 'kubevisor_watch_last_event_age_seconds', help: 'Seconds since the last watch event was received (bookmarks included).' },
} as const

/** The part of prom-client the adapter uses (its module, passed by the caller). */
export interface PromClientForWatch {
  Counter: new (config: any) => unknown
  Gauge: new (config: any) => unknown
  register: { getSingleMetric(name: string): unknown }
}

type PromCounter = { inc(labels: Record<string, string>, value: number): void }
type PromGauge = { set(labels: Record<string, string>, value: number): void }

/** Where watchers report their counters; created by {@link prometheusWatchMetrics}. */
export interface WatchMetrics {
  /** Adds a watcher's counters under `name`; returns the function that removes them. */
  track(name: string, counters: () => WatchCounters, clock: Clock): () => void
}

interface Tracked {
  counters: () => WatchCounters
  clock: Clock
  /** What was last handed to prom-client, per metric key, to add only the difference. */
  reported: Map<string, number>
}

/**
 * Watch metrics for prom-client. Pass the result as `metrics` to `Watcher.start`.
 *
 * @example
 * ```ts
 * import * as prom from 'prom-client'
 * const metrics = prometheusWatchMetrics(prom)
 * await Watcher.start(PodWatcher, undefined, { kubeConfig, apiVersion: 'v1', kind: 'Pod', name: 'pods', metrics })
 * ```
 */
export function prometheusWatchMetrics(client: PromClientForWatch, options: { registry?: { getSingleMetric(name: string): unknown } } = {}): WatchMetrics {
  const registry = options.registry ?? client.register
  const watchers = new Map<string, Tracked>()
  const existing = registry.getSingleMetric(WATCH_METRICS.relists.name)
  if (existing) throw new TypeError(`watch metrics are already registered in this registry (${WATCH_METRICS.relists.name}); create them once and share the result`)

  const counterKeys = ['relists', 'gone', 'reconnects', 'decodeErrors', 'watchErrors', 'stalls', 'throttled'] as const
  for (const key of counterKeys) {
    const spec = WATCH_METRICS[key]
    const counter: PromCounter = new client.Counter({
      ...spec,
      labelNames: ['watcher'],
      registers: [registry],
      collect: () => {
        for (const [name, w] of watchers) {
          const value = w.counters()[key]
          const delta = value - (w.reported.get(key) ?? 0)
          if (delta > 0) counter.inc({ watcher: name }, delta)
          w.reported.set(key, value)
        }
      },
    }) as PromCounter
  }
  const events: PromCounter = new client.Counter({
    ...WATCH_METRICS.events,
    labelNames: ['watcher', 'type'],
    registers: [registry],
    collect: () => {
      for (const [name, w] of watchers) {
        for (const [type, value] of Object.entries(w.counters().events)) {
          const key = `events:${type}`
          const delta = value - (w.reported.get(key) ?? 0)
          if (delta > 0) events.inc({ watcher: name, type }, delta)
          w.reported.set(key, value)
        }
      }
    },
  }) as PromCounter
  const age: PromGauge = new client.Gauge({
    ...WATCH_METRICS.lastEventAge,
    labelNames: ['watcher'],
    registers: [registry],
    collect: () => {
      for (const [name, w] of watchers) {
        const at = w.counters().lastEventAt
        if (at !== undefined) age.set({ watcher: name }, (w.clock.now() - at) / 1000)
      }
    },
  }) as PromGauge
  return {
    track(name, counters, clock) {
      if (watchers.has(name)) throw new TypeError(`a watcher named ${JSON.stringify(name)} is already tracked by these metrics`)
      watchers.set(name, { counters, clock, reported: new Map() })
      return () => watchers.delete(name)
    },
  }
}
