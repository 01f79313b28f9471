import type { Behaviour, ExitReason, Pid, StartOptions } from '../actor/index.ts'
import { GenServer, isCleanExit } from '../actor/index.ts'
import type { Logger } from '../log.ts'
import type { BackoffPolicy } from '../time/backoff.ts'
import { RESTART_BACKOFF, validateBackoffPolicy } from '../time/backoff.ts'
import type { Clock } from '../time/clock.ts'
import type { Registry } from '../actor/registry.ts'
import { InvalidChildSpecError } from './errors.ts'

/**
 * When a child is restarted (OTP restart types):
 * - `permanent`: always.
 * - `transient`: only after an abnormal exit (not `normal`, `shutdown` or `{ shutdown: x }`).
 * - `temporary`: never; its spec is removed once it exits.
 */
export type RestartType = 'permanent' | 'transient' | 'temporary'

/**
 * How a child is stopped: `'brutal_kill'` kills it at once (no `terminate`); a number of
 * ms sends an orderly shutdown and kills it if it has not exited by then; `'infinity'`
 * waits for it however long it takes (the default for supervisors).
 */
export type ShutdownPolicy = 'brutal_kill' | number | 'infinity'

/**
 * What a supervisor hands to a child's `start`: spread it into `GenServer.start`'s options
 * so the child is linked to its supervisor (start_link) and shares its logger, clock and
 * registry.
 */
export interface ChildEnv {
  /** The supervisor; pass as `link` so the child is linked before its `init` runs. */
  link: Pid
  /** The supervisor's logger: children log through it. */
  logger: Logger
  /** The supervisor's clock: children's timers run on it. */
  clock: Clock
  /** The registry for the child's name. */
  registry: Registry
}

/**
 * A child specification, as OTP's: data with defaults.
 *
 * @example
 * ```ts
 * const spec: ChildSpec = {
 *   id: 'cache',
 *   start: (env) => GenServer.start(Cache, { size: 100 }, { ...env, name: 'cache' }),
 *   restart: 'permanent',   // default
 *   shutdown: 5000,         // default for workers
 * }
 * ```
 */
export interface ChildSpec {
  /** Unique among the supervisor's children. */
  id: string
  /** Starts the child and resolves with its pid (rejecting fails the start). */
  start: (env: ChildEnv) => Promise<Pid>
  /** Default `'permanent'`. */
  restart?: RestartType
  /** Default 5000 for workers, `'infinity'` for supervisors. */
  shutdown?: ShutdownPolicy
  /** Default `'worker'`. */
  type?: 'worker' | 'supervisor'
  /**
   * Beyond OTP: wait before restarting this child, exponentially with jitter, so a child
   * that fails against a flapping dependency does not spin through the restart budget.
   * `true` uses {@link RESTART_BACKOFF}. Default: restart at once, as OTP.
   */
  backoff?: BackoffPolicy | true
}

/** @internal A spec with its defaults applied. */
export interface NormalizedSpec {
  id: string
  start: (env: ChildEnv) => Promise<Pid>
  restart: RestartType
  shutdown: ShutdownPolicy
  type: 'worker' | 'supervisor'
  backoff: BackoffPolicy | undefined
}

const RESTARTS = new Set(['permanent', 'transient', 'temporary'])

/** @internal Checks a spec and fills in defaults; throws InvalidChildSpecError naming the field. */
export function normalizeSpec(spec: ChildSpec, where: string): NormalizedSpec {
  if (spec === null || typeof spec !== 'object') throw new InvalidChildSpecError(`${where}: a child spec must be an object`)
  const { id, start } = spec
  if (typeof id !== 'string' || id.length === 0) throw new InvalidChildSpecError(`${where}: id must be a non-empty string`)
  const at = `${where}: child ${JSON.stringify(id)}`
  if (typeof start !== 'function') throw new InvalidChildSpecError(`${at}: start must be a function (env) => Promise<Pid>`)
  const restart = spec.restart ?? 'permanent'
  if (!RESTARTS.has(restart)) throw new InvalidChildSpecError(`${at}: restart must be permanent, transient or temporary, got ${String(restart)}`)
  const type = spec.type ?? 'worker'
  if (type !== 'worker' && type !== 'supervisor') throw new InvalidChildSpecError(`${at}: type must be worker or supervisor, got ${String(type)}`)
  const shutdown = spec.shutdown ?? (type === 'supervisor' ? 'infinity' : 5000)
  if (shutdown !== 'brutal_kill' && shutdown !== 'infinity' && !(typeof shutdown === 'number' && shutdown >= 0 && Number.isFinite(shutdown))) {
    throw new InvalidChildSpecError(`${at}: shutdown must be 'brutal_kill', 'infinity' or a number of ms >= 0, got ${String(shutdown)}`)
  }
  let backoff: BackoffPolicy | undefined
  if (spec.backoff === true) backoff = { ...RESTART_BACKOFF }
  else if (spec.backoff !== undefined) {
    try {
      validateBackoffPolicy(spec.backoff)
    } catch (err) {
      throw new InvalidChildSpecError(`${at}: ${(err as Error).message}`)
    }
    backoff = { ...spec.backoff }
  }
  return { id, start, restart, shutdown, type, backoff }
}

/** @internal OTP's restart decision for a child that exited with `reason`. */
export function shouldRestart(restart: RestartType, reason: ExitReason): boolean {
  if (restart === 'permanent') return true
  if (restart === 'temporary') return false
  return !isCleanExit(reason)
}

/** Options of {@link worker}. */
export interface WorkerOptions extends Omit<ChildSpec, 'start' | 'id' | 'type'>, Pick<StartOptions, 'name' | 'timeout' | 'trapExit'> {
  /** Defaults to `name`, else `'worker'`. */
  id?: string
}

/**
 * A child spec for a GenServer: `worker(Counter, 0, { name: 'counter' })` starts
 * `GenServer.start(Counter, 0, { ...env, name: 'counter' })` under the supervisor.
 */
export function worker<A>(behaviour: Behaviour<A>, arg: A, opts: WorkerOptions = {}): ChildSpec {
  const { id, name, timeout, trapExit, ...rest } = opts
  return {
    id: id ?? name ?? 'worker',
    type: 'worker',
    start: (env) => GenServer.start(behaviour, arg, { ...env, name, timeout, trapExit }),
    ...rest,
  }
}
