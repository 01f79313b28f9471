/**
 * Read-only introspection of supervisors: flags, restarts within the intensity window and
 * children in start order, read synchronously through the probe each supervisor attaches
 * to itself at `init` (see `lib/actor/introspect.ts`) — so a supervisor busy restarting a
 * child can still be inspected, without a message. Costs nothing unless read.
 */
import { type Pid, probeOf } from '../actor/index.ts'
import type { RestartType, ShutdownPolicy } from './child-spec.ts'

/** One child of a {@link SupervisorSnapshot}. */
export interface ChildSnapshot {
  /** The child spec's id (`#<n>` for children of a DynamicSupervisor). */
  id: string
  /** The running process, or undefined while stopped or restarting. */
  pid: Pid | undefined
  /** A restart is pending (backoff, or a retried failed start). */
  restarting: boolean
  /** Times this child was restarted by the supervisor. */
  restarts: number
  /** The spec's `type`: `'supervisor'` when the child is itself a supervisor (a subtree), else `'worker'`. */
  type: 'worker' | 'supervisor'
  /** The spec's restart type: `permanent` (always restarted), `transient` (only after an abnormal exit) or `temporary` (never). */
  restart: RestartType
  /** How the supervisor stops it: `'brutal_kill'`, a timeout in ms before killing, or `'infinity'`. */
  shutdown: ShutdownPolicy
}

/** What {@link inspectSupervisor} reports. */
export interface SupervisorSnapshot {
  /** `'supervisor'` (Supervisor) or `'dynamic'` (DynamicSupervisor). */
  type: 'supervisor' | 'dynamic'
  /** What a child's failure restarts: itself (`one_for_one`, always for a DynamicSupervisor), every child (`one_for_all`), or it and those started after it (`rest_for_one`). */
  strategy: 'one_for_one' | 'one_for_all' | 'rest_for_one'
  /** The restart intensity: more restarts than this within `maxSeconds` and the supervisor exits (default 3). */
  maxRestarts: number
  /** The intensity window, in seconds (default 5). */
  maxSeconds: number
  /** Restarts within the last `maxSeconds`: the supervisor gives up past `maxRestarts`. */
  restartsInWindow: number
  /** DynamicSupervisor's limit, if any. */
  maxChildren: number | undefined
  /** The children, in start order. */
  children: ChildSnapshot[]
}

/** The supervisor's live snapshot, or undefined when `pid` is not a supervisor. */
export function inspectSupervisor(pid: Pid): SupervisorSnapshot | undefined {
  return probeOf<SupervisorSnapshot>(pid, 'supervisor')?.read()
}
