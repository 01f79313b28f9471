/**
 * One sample of a running system, as the page shows it: the process tree walked from the
 * roots, the watchers, the worker pools (queues and controllers) and leadership. Built
 * only from the introspection API of the layers below (`inspectProcess`,
 * `inspectSupervisor`, `inspectWatcher`, `inspectWorkerPool`) — nothing here reaches
 * into a layer's internals.
 *
 * Rates (messages/s, events/s, adds/s, reconciles/s) are differences between two samples
 * over the time between them; the first sample shows 0.
 */
import { linkedChildren, type Pid, processFigures } from '../actor/index.ts'
import { inspectWorkerPool, type WorkerPoolSnapshot } from '../dispatch/introspect.ts'
import { type ChildSnapshot, inspectSupervisor } from '../supervisor/introspect.ts'
import type { Clock } from '../time/clock.ts'
import { inspectWatcher, type WatcherSnapshot } from '../watcher/introspect.ts'

/** What the Manager's leader elector reports, when one runs (see `ObserverOptions.leadership`). */
export interface LeadershipStatus {
  /** This replica's identity. */
  identity: string
  /** Whether this replica leads now (runs the leader-only children). */
  isLeader: boolean
  /** The Lease's current holder, if any. */
  holder: string | undefined
  /** The Lease's last renew time (ISO 8601 or epoch ms). */
  renewTime: string | number | undefined
  /** The Lease's namespace/name, if known. */
  lease?: string
}

/**
 * What a `leadership` provider may return: a {@link LeadershipStatus}, or a status shaped
 * like the Manager's (`{ identity, isLeader, leaderElection?: { holder, renewTime, lock } }`),
 * so `leadership: () => mgr.status()` works as is. Read structurally: the observer does not
 * import the manager.
 */
export type LeadershipSource =
  | LeadershipStatus
  | {
      /** This replica's identity. */
      identity: string
      /** Whether this replica leads now. */
      isLeader: boolean
      /** The elector's view of the Lease; absent without leader election. */
      leaderElection?:
        | {
            /** The holder last observed; empty when the lease is released or unknown. */
            holder?: string
            /** The Lease's last renew time (RFC 3339). */
            renewTime?: string
            /** The Lease's `namespace/name`. */
            lock?: string
          }
        | undefined
    }

/** Normalizes what a `leadership` provider returned (see {@link LeadershipSource}). */
export function toLeadership(source: LeadershipSource | undefined): LeadershipStatus | undefined {
  if (source === undefined || source === null || typeof source !== 'object') return undefined
  if ('leaderElection' in source) {
    const le = source.leaderElection
    return { identity: source.identity, isLeader: source.isLeader, holder: le?.holder || undefined, renewTime: le?.renewTime, lease: le?.lock }
  }
  const s = source as LeadershipStatus
  return { identity: s.identity, isLeader: s.isLeader, holder: s.holder, renewTime: s.renewTime, lease: s.lease }
}

/** A root of the tree: a pid, or anything with a `supervisor` pid (a `WatcherRef`, a `WorkerPool`). */
export type ObserverRoot =
  | Pid
  | {
      /** The supervisor the tree is walked from. */
      readonly supervisor: Pid
    }

/** One row of the tree, in depth-first order. */
export interface ProcessRow {
  /** The pid's id; `null` for a child whose process is being restarted. */
  id: number | null
  /** The parent row's id (`null` for a root). */
  parent: number | null
  /** Nesting level in the tree: 0 for a root, its parent's depth + 1 otherwise. */
  depth: number
  /** The child spec id under its supervisor, when it has one. */
  child: string | undefined
  /** The registered name, while registered. */
  name: string | undefined
  /** The behaviour's name (`'Watcher supervisor'` / `'WorkerPool supervisor'` for those; `'worker'` / `'supervisor'` for a child being restarted). */
  behaviour: string
  /** The process status (`starting`, `running`, `stopping`, `exited`), or `restarting` / `stopped` for a child without a live process. */
  status: string
  /** Messages waiting in its mailbox. */
  mailbox: number
  /** Messages handled since it started. */
  handled: number
  /** Messages handled per second since the last sample. */
  rate: number
  /** Ms since it (re)started. */
  uptimeMs: number
  /** Restart type and restarts, from its supervisor. */
  restart: string | undefined
  /** Times its supervisor restarted this child; `undefined` for a process that is no supervisor's child. */
  restarts: number | undefined
  /** For supervisors: strategy and restarts in the intensity window. */
  supervisor:
    | {
        /** `one_for_one`, `one_for_all` or `rest_for_one`. */
        strategy: string
        /** Restarts within the last `maxSeconds`. */
        restartsInWindow: number
        /** The intensity: more restarts than this within `maxSeconds` and the supervisor exits. */
        maxRestarts: number
        /** The intensity window, in seconds. */
        maxSeconds: number
        /** Number of children. */
        children: number
      }
    | undefined
  /** `'watcher'` / `'workerPool'` when this process is one (see the tables). */
  role: string | undefined
}

/** A watcher row: its snapshot plus rates. */
export interface WatcherRow extends Omit<WatcherSnapshot, 'handler' | 'waitUntil' | 'lastProblem'> {
  /** The watcher's supervisor pid id (the action target for relist). */
  id: number
  /** The connection process's pid id, if running (the action target to kill a connection). */
  connection: number | null
  /** The handler process's pid id (the process the events are delivered to), if running. */
  handler: number | null
  /** Ms until the wait ends, in `Waiting`. */
  waitMs: number | undefined
  /** Events per second by type since the last sample. */
  eventRates: Record<string, number>
  /** The last 410, throttle, warning or error the engine reported, if any. */
  lastProblem:
    | {
        /** Ms since it was reported. */
        ageMs: number
        /** `info`, `warn` or `error`. */
        level: string
        /** What happened. */
        message: string
      }
    | undefined
}

/** A queue/controller row: the pool's snapshot plus rates and ages. */
export interface PoolRow extends Omit<WorkerPoolSnapshot, 'inFlight' | 'oldestInFlightSince'> {
  /** The pool's supervisor pid id. */
  id: number
  /** Keys added to the queue per second since the last sample (`workqueue_adds_total` rate). */
  addsPerSecond: number
  /** Keys handled (reconciles) per second since the last sample. */
  reconcilesPerSecond: number
  /** Handlings that threw, per second since the last sample. */
  errorsPerSecond: number
  /** Age in ms of the oldest key in flight. */
  oldestMs: number | undefined
  /** The slowest keys in flight, with their age in ms. */
  slowest: {
    /** The key, as a string (`namespace/name` for a controller). */
    key: string
    /** Ms since a worker took it. */
    ageMs: number
  }[]
}

/** One sample. */
export interface ObserverSample {
  /** Wall time of the sample (ms since epoch). */
  at: number
  /** The process tree walked from the roots, depth-first, one row per process (and per child being restarted). */
  processes: ProcessRow[]
  /** One row per watcher met in the tree. */
  watchers: WatcherRow[]
  /** One row per worker pool (queue and workers of a controller or event loop) met in the tree. */
  pools: PoolRow[]
  /** What the `leadership` provider returned, normalized; `undefined` without one (or when it threw). */
  leadership: LeadershipStatus | undefined
  /** How long building this sample took (ms). */
  costMs: number
}

interface Previous {
  at: number
  handled: Map<number, number>
  events: Map<number, Record<string, number>>
  pools: Map<number, { adds: number; handled: number; failed: number }>
}

/** Builds samples, remembering the last one for rates and for looking pids up by id. */
export class Sampler {
  readonly #clock: Clock
  #previous: Previous | undefined
  /** Pids of the last walk, by id: what the detail view and actions may address. */
  #pids = new Map<number, Pid>()

  constructor(clock: Clock) {
    this.#clock = clock
  }

  /** A pid seen in the last sample. */
  pid(id: number): Pid | undefined {
    return this.#pids.get(id)
  }

  /**
   * Walks the tree from `roots` (supervisors through their children, other processes
   * through their links) and reads each watcher and pool met on the way; rates are since the
   * previous call (0 on the first). Remembers the pids seen, for {@link Sampler.pid}.
   */
  sample(roots: readonly ObserverRoot[], leadership: (() => LeadershipSource | undefined) | undefined): ObserverSample {
    const started = performance.now()
    const now = this.#clock.now()
    const prev = this.#previous
    const dt = prev ? Math.max(1, now - prev.at) / 1000 : 0
    const next: Previous = { at: now, handled: new Map(), events: new Map(), pools: new Map() }
    const pids = new Map<number, Pid>()
    const processes: ProcessRow[] = []
    const watchers: WatcherRow[] = []
    const pools: PoolRow[] = []

    const rate = (value: number, before: number | undefined) => (prev && before !== undefined && dt > 0 ? Math.max(0, value - before) / dt : 0)

    const visit = (pid: Pid, parent: number | null, depth: number, spec: ChildSnapshot | undefined) => {
      if (pids.has(pid.id)) return
      pids.set(pid.id, pid)
      const p = processFigures(pid)
      next.handled.set(p.id, p.handled)
      const sup = inspectSupervisor(pid)
      const watcher = inspectWatcher(pid)
      const pool = watcher ? undefined : inspectWorkerPool(pid)
      processes.push({
        id: p.id,
        parent,
        depth,
        child: spec?.id,
        name: p.name,
        behaviour: watcher ? 'Watcher supervisor' : pool ? 'WorkerPool supervisor' : p.behaviour,
        status: p.status,
        mailbox: p.mailbox,
        handled: p.handled,
        rate: rate(p.handled, prev?.handled.get(p.id)),
        uptimeMs: Math.max(0, now - p.startedAt),
        restart: spec?.restart,
        restarts: spec?.restarts,
        supervisor: sup && { strategy: sup.strategy, restartsInWindow: sup.restartsInWindow, maxRestarts: sup.maxRestarts, maxSeconds: sup.maxSeconds, children: sup.children.length },
        role: watcher ? 'watcher' : pool ? 'workerPool' : undefined,
      })
      if (watcher) watchers.push(this.#watcherRow(p.id, watcher, sup?.children, now, prev, dt, next))
      if (pool) pools.push(this.#poolRow(p.id, pool, now, prev, dt, next))
      if (sup) {
        for (const child of sup.children) {
          if (child.pid?.alive) visit(child.pid, p.id, depth + 1, child)
          else processes.push(restartingRow(p.id, depth + 1, child))
        }
      } else {
        for (const child of linkedChildren(pid)) visit(child, p.id, depth + 1, undefined)
      }
    }
    for (const root of roots) {
      const pid = 'supervisor' in root && typeof root.supervisor === 'object' ? root.supervisor : (root as Pid)
      visit(pid, null, 0, undefined)
    }
    this.#previous = next
    this.#pids = pids
    let lead: LeadershipStatus | undefined
    try {
      lead = toLeadership(leadership?.())
    } catch {
      lead = undefined
    }
    return { at: Date.now(), processes, watchers, pools, leadership: lead, costMs: performance.now() - started }
  }

  #watcherRow(id: number, w: WatcherSnapshot, children: ChildSnapshot[] | undefined, now: number, prev: Previous | undefined, dt: number, next: Previous): WatcherRow {
    const events = w.counters.events as unknown as Record<string, number>
    const before = prev?.events.get(id)
    next.events.set(id, { ...events })
    const eventRates: Record<string, number> = {}
    for (const [type, n] of Object.entries(events)) eventRates[type] = before && dt > 0 ? Math.max(0, n - (before[type] ?? 0)) / dt : 0
    const connection = children?.find((c) => c.id === 'connection')?.pid
    const { handler, waitUntil, lastProblem, ...rest } = w
    return {
      ...rest,
      id,
      connection: connection?.alive ? connection.id : null,
      handler: handler?.id ?? null,
      waitMs: waitUntil === undefined ? undefined : Math.max(0, waitUntil - now),
      eventRates,
      lastProblem: lastProblem && { ageMs: Math.max(0, now - lastProblem.at), level: lastProblem.level, message: lastProblem.message },
    }
  }

  #poolRow(id: number, pool: WorkerPoolSnapshot, now: number, prev: Previous | undefined, dt: number, next: Previous): PoolRow {
    const before = prev?.pools.get(id)
    next.pools.set(id, { adds: pool.addsTotal, handled: pool.handledTotal, failed: pool.failedTotal })
    const per = (value: number, was: number | undefined) => (was !== undefined && dt > 0 ? Math.max(0, value - was) / dt : 0)
    const { inFlight, oldestInFlightSince, ...rest } = pool
    return {
      ...rest,
      id,
      addsPerSecond: per(pool.addsTotal, before?.adds),
      reconcilesPerSecond: per(pool.handledTotal, before?.handled),
      errorsPerSecond: per(pool.failedTotal, before?.failed),
      oldestMs: oldestInFlightSince === undefined ? undefined : Math.max(0, now - oldestInFlightSince),
      slowest: inFlight.slice(0, 5).map((k) => ({ key: k.key, ageMs: Math.max(0, now - k.since) })),
    }
  }
}

function restartingRow(parent: number, depth: number, child: ChildSnapshot): ProcessRow {
  return {
    id: null,
    parent,
    depth,
    child: child.id,
    name: undefined,
    behaviour: child.type === 'supervisor' ? 'supervisor' : 'worker',
    status: child.restarting ? 'restarting' : 'stopped',
    mailbox: 0,
    handled: 0,
    rate: 0,
    uptimeMs: 0,
    restart: child.restart,
    restarts: child.restarts,
    supervisor: undefined,
    role: undefined,
  }
}
