/**
 * Read-only introspection of watchers: the engine's phase, resourceVersions, counters,
 * restarts, the last problem and the store size, read synchronously through the probe a
 * watcher attaches to its own supervisor (see `lib/actor/introspect.ts`). Reading costs
 * one counters sum; nothing is kept per event for it.
 */
import { type Pid, probeOf } from '../actor/index.ts'
import type { RunnerProblem, WatchCounters } from '../watch/runner.ts'

/** What {@link inspectWatcher} reports. */
export interface WatcherSnapshot {
  /** The watcher's name (else its kind, else its path). */
  name: string
  /** `apiVersion/kind`, or the collection path. */
  target: string
  /** The namespace watched; `undefined` when the watcher sees every namespace (or a cluster-scoped kind). */
  namespace: string | undefined
  /**
   * The engine phase: `Listing`, `Streaming`, `Watching`, `Waiting` (backing off until
   * `waitUntil`, because of `lastProblem`), `Failed`, `Empty` (not started), or
   * `Restarting` while its connection process is being restarted by the supervisor.
   */
  phase: 'Empty' | 'Listing' | 'Streaming' | 'Watching' | 'Waiting' | 'Failed' | 'Restarting'
  /** In `Watching`/`Streaming`: whether the stream is open (else requested). */
  open: boolean
  /** In `Waiting`: when the wait ends, on the watcher's clock. */
  waitUntil: number | undefined
  /** The last resourceVersion the engine saw (lists, events, bookmarks). */
  resourceVersion: string | undefined
  /** The last resourceVersion handed to the handler: where a restarted connection resumes. */
  handedResourceVersion: string | undefined
  /** The handler has received the initial state. */
  synced: boolean
  /** Totals since the watcher started, across reconnects and restarts. */
  counters: WatchCounters
  /** Restarts of the connection process by the watcher's supervisor. */
  connectionRestarts: number
  /** Restarts of the handler (each one resyncs from a list). */
  handlerRestarts: number
  /** The last 410, throttle, warning or error, with its time. */
  lastProblem: RunnerProblem | undefined
  /** Objects in the watcher's store, when it keeps one. */
  storeSize: number | undefined
  /** Objects delivered and not deleted (the diff base of a relist). */
  known: number
  /** Changes handed to the handler's mailbox or queued, not yet acknowledged. */
  pending: number
  /** The current handler process. */
  handler: Pid | undefined
}

/** The watcher's live snapshot, given its supervisor (`ref.supervisor`); undefined for any other pid. */
export function inspectWatcher(pid: Pid): WatcherSnapshot | undefined {
  return probeOf<WatcherSnapshot>(pid, 'watcher')?.read()
}

/**
 * Asks a watcher (given its supervisor) to relist now: the list is diffed against what
 * was delivered, so only real changes reach the handler. Returns false for any other pid.
 */
export function forceRelist(pid: Pid): boolean {
  const relist = probeOf(pid, 'watcher')?.actions?.relist
  if (!relist) return false
  relist()
  return true
}
