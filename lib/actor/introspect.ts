/**
 * Read-only introspection of processes, after Erlang's `erlang:process_info/2` and
 * `sys:get_status/1`: what a debugging tool (the observer page, a REPL, a test) needs to
 * see a running tree without sending it a message — so a stuck process can be inspected
 * too.
 *
 * Cost: nothing unless called. A snapshot reads fields the runtime keeps anyway (status,
 * mailbox length, links) plus two it keeps for this purpose (`startedAt`, set once, and
 * `handled`, one integer increment per message).
 *
 * Probes: a layer above the actor (supervisor, watcher, worker pool) attaches a probe to
 * one of its processes — a function that reads its live figures on demand (children,
 * engine phase, queue depth) and, optionally, actions on it (relist). Probes are held
 * weakly by pid, so they go away with the process; reading one is the probe owner's
 * synchronous code, never a message to the process.
 */
import type { ProcessStatus } from './lifecycle.ts'
import { asProcess } from './process.ts'
import type { ExitReason, Pid } from './types.ts'

/** What {@link inspectProcess} reports about a process, live or exited. Pids are given by their `id`. */
export interface ProcessSnapshot {
  /** The process's {@link Pid.id}: unique within this Node.js process, never reused. */
  id: number
  /** Its registered name, while registered; `undefined` otherwise (and after exit). */
  name: string | undefined
  /** The behaviour's `behaviourName`, else its class name, else `'GenServer'`. */
  behaviour: string
  /** Where it is in its lifecycle: `starting` (in `init`), `running`, `stopping` (in `terminate`) or `exited`. */
  status: ProcessStatus
  /** Messages waiting in the mailbox. */
  mailbox: number
  /** Messages handled since the process started (calls, casts, infos, continues, exit signals). */
  handled: number
  /** `clock.now()` of the process's clock when it was created. A restarted child is a new process. */
  startedAt: number
  /** Whether it traps exits: exit signals from links arrive as messages instead of killing it (supervisors do). */
  trapExit: boolean
  /** The process it was started linked to (its supervisor), if any. */
  parent: number | undefined
  /** The ids of the processes linked to it (both directions: a link is symmetric). */
  links: number[]
  /** Processes this one monitors. */
  monitors: number[]
  /** Processes monitoring this one. */
  monitoredBy: number[]
  /** Set once exited. */
  exitReason: ExitReason
}

/** A snapshot of a process (see {@link ProcessSnapshot}); throws a `TypeError` for a foreign object. */
export function inspectProcess(pid: Pid): ProcessSnapshot {
  const p = asProcess(pid)
  return {
    id: p.id,
    name: p.name,
    behaviour: behaviourNameOf(p.behaviour),
    status: p.status,
    mailbox: p.queueLength,
    handled: p.handled,
    startedAt: p.startedAt,
    trapExit: p.trapping,
    parent: p.parent?.id,
    links: ids(p.links),
    monitors: ids(p.monitors.map((m) => m.pid)),
    monitoredBy: ids(p.monitoredBy),
    exitReason: p.exitReason,
  }
}

/** The figures of a process without its relations (links, monitors): what a periodic sample of many processes needs. */
export type ProcessFigures = Pick<ProcessSnapshot, 'id' | 'name' | 'behaviour' | 'status' | 'mailbox' | 'handled' | 'startedAt'>

/** {@link inspectProcess} without the relation lists: no array is built, for sampling thousands of processes. */
export function processFigures(pid: Pid): ProcessFigures {
  const p = asProcess(pid)
  return { id: p.id, name: p.name, behaviour: behaviourNameOf(p.behaviour), status: p.status, mailbox: p.queueLength, handled: p.handled, startedAt: p.startedAt }
}

/**
 * The process's state as its behaviour wants it shown (OTP's `format_status`): the result
 * of the behaviour's `formatStatus(state)` when it has one, else the state itself. A
 * throwing `formatStatus` yields `{ formatStatusFailed: message }` rather than the raw
 * state, so a broken redaction never leaks what it meant to hide.
 */
export function formatProcessStatus(pid: Pid): unknown {
  const p = asProcess(pid)
  const format = p.behaviour.formatStatus
  if (typeof format !== 'function') return p.state
  try {
    return format.call(p.behaviour, p.state)
  } catch (err) {
    return { formatStatusFailed: err instanceof Error ? err.message : String(err) }
  }
}

/**
 * Processes started linked to `pid` as their parent (`link: pid`) and still linked: the
 * children of a process that is not a supervisor (a supervisor's children are listed by
 * its own probe, in start order).
 */
export function linkedChildren(pid: Pid): Pid[] {
  const p = asProcess(pid)
  return p.links.filter((peer) => asProcess(peer).parent === p)
}

/** The process `pid` was started linked to (its supervisor), if any. */
export function parentOf(pid: Pid): Pid | undefined {
  return asProcess(pid).parent?.pid
}

/** A live view of one process's role, attached by the layer that runs it (see {@link attachProbe}). */
export interface Probe<T = unknown> {
  /** What the process is in that layer, e.g. `'supervisor'`, `'watcher'`, `'workerPool'`. One probe per kind per process. */
  readonly kind: string
  /** Reads the current figures, synchronously. */
  read(): T
  /** Optional operations a debugging tool may offer (e.g. `relist`); each returns at once. */
  readonly actions?: Readonly<Record<string, () => void>>
}

const probes = new WeakMap<Pid, Probe[]>()

/** Attaches `probe` to `pid`, replacing a probe of the same kind. */
export function attachProbe(pid: Pid, probe: Probe): void {
  const list = probes.get(pid)
  if (!list) {
    probes.set(pid, [probe])
    return
  }
  const i = list.findIndex((p) => p.kind === probe.kind)
  if (i >= 0) list[i] = probe
  else list.push(probe)
}

/** The probe of `kind` attached to `pid`, if any. */
export function probeOf<T = unknown>(pid: Pid, kind: string): Probe<T> | undefined {
  return probes.get(pid)?.find((p) => p.kind === kind) as Probe<T> | undefined
}

/** Every probe attached to `pid`. */
export function probesOf(pid: Pid): readonly Probe[] {
  return probes.get(pid) ?? []
}

function behaviourNameOf(behaviour: object): string {
  const named = (behaviour as { behaviourName?: unknown }).behaviourName
  if (typeof named === 'string' && named !== '') return named
  const ctor = Object.getPrototypeOf(behaviour)?.constructor
  if (typeof ctor === 'function' && ctor !== Object && ctor.name) return ctor.name
  return 'GenServer'
}

function ids(pids: Pid[]): number[] {
  const out = new Array<number>(pids.length)
  for (let i = 0; i < pids.length; i++) out[i] = (pids[i] as Pid).id
  return out
}
