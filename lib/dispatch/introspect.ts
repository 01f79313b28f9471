/**
 * Read-only introspection of worker pools — the queue and workers under every controller,
 * event loop and resource stream: depth, adds, retries, workers busy, keys in flight and
 * for how long. Read synchronously through the probe a pool attaches to its supervisor
 * (see `lib/actor/introspect.ts`). The pool keeps two counters and one timestamp per key
 * handed out for it; nothing else unless read.
 */
import { type Pid, probeOf } from '../actor/index.ts'

/** What {@link inspectWorkerPool} reports (queue figures after client-go's workqueue metrics). */
export interface WorkerPoolSnapshot {
  /** The pool's name: the controller's name for a controller. */
  name: string
  /** Workers (`maxConcurrentReconciles`). */
  maxWorkers: number
  /** Workers handling a key right now. */
  activeWorkers: number
  /** Keys queued, waiting for a worker (`workqueue_depth`). */
  depth: number
  /** Keys waiting for a delay (retries with backoff, requeue-after). */
  delayed: number
  /** Keys handed out and not yet done. */
  processing: number
  /** `workqueue_adds_total`. */
  addsTotal: number
  /** `workqueue_retries_total`: rate-limited re-adds and requeue-afters. */
  retriesTotal: number
  /** Keys handled (reconciles) so far, successful or not. */
  handledTotal: number
  /** Handlings that threw. */
  failedTotal: number
  /** When the oldest key in flight was taken (the pool's clock), if any: a stuck reconcile shows here. */
  oldestInFlightSince: number | undefined
  /** Up to 10 keys in flight, oldest first. */
  inFlight: {
    /** The key, as a string (`namespace/name` for a controller's requests). */
    key: string
    /** When a worker took it, on the pool's clock (ms). */
    since: number
  }[]
  /** The queue was shut down (the pool is stopping): no new key is accepted, workers finish the ones they hold. */
  shuttingDown: boolean
}

/** The pool's live snapshot, given its supervisor (`pool.supervisor`); undefined for any other pid. */
export function inspectWorkerPool(pid: Pid): WorkerPoolSnapshot | undefined {
  return probeOf<WorkerPoolSnapshot>(pid, 'workerPool')?.read()
}
