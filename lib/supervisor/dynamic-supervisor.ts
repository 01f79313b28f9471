import {
  type Behaviour,
  describeReason,
  Exit,
  GenServer,
  InitIgnoredError,
  isCleanExit,
  type NoReplyResult,
  noreply,
  ok,
  type Pid,
  type ProcessContext,
  reply,
  type ServerRef,
  type StartOptions,
  stop,
} from '../actor/index.ts'
import { attachProbe } from '../actor/introspect.ts'
import { asProcess } from '../actor/process.ts'
import { Backoff } from '../time/backoff.ts'
import { type ChildEnv, type ChildSpec, type NormalizedSpec, normalizeSpec, shouldRestart } from './child-spec.ts'
import { ChildOperationError, ChildStartError, InvalidChildSpecError } from './errors.ts'
import type { SupervisorSnapshot } from './introspect.ts'
import { RestartIntensity, shutdownChild, startChildProcess } from './mechanics.ts'
import type { ChildCounts, ChildInfo } from './supervisor.ts'

/** Options of {@link DynamicSupervisor.start}. */
export interface DynamicSupervisorOptions extends Omit<StartOptions, 'trapExit' | 'timeout'> {
  /** Refuse `startChild` beyond this many children (default: no limit). */
  maxChildren?: number
  /** At most this many restarts within `maxSeconds` (default 3). */
  maxRestarts?: number
  /** Default 5. */
  maxSeconds?: number
}

interface Child {
  /** Stable across restarts (the pid changes). */
  key: number
  spec: NormalizedSpec
  pid: Pid | undefined
  backoff: Backoff | undefined
  /** For introspection: restarts of this child so far. */
  restarts: number
}

interface State {
  children: Map<number, Child>
  maxChildren: number
  intensity: RestartIntensity
  env: ChildEnv
  lastKey: number
}

class RestartChild {
  readonly key: number
  constructor(key: number) {
    this.key = key
  }
}

type Op = { op: 'start'; spec: NormalizedSpec } | { op: 'terminate'; pid: Pid } | { op: 'which' } | { op: 'count' }

function envOf(ctx: ProcessContext): ChildEnv {
  const proc = asProcess(ctx.self)
  return { link: ctx.self, logger: proc.rootLogger, clock: ctx.clock, registry: proc.registry }
}

function byPid(state: State, pid: Pid | undefined): Child | undefined {
  if (!pid) return undefined
  for (const child of state.children.values()) if (child.pid === pid) return child
  return undefined
}

const DynamicBehaviour: Behaviour<{ maxChildren: number; maxRestarts: number; maxSeconds: number }, State> = {
  behaviourName: 'DynamicSupervisor',
  init({ maxChildren, maxRestarts, maxSeconds }, ctx) {
    const state: State = { children: new Map(), maxChildren, intensity: new RestartIntensity(maxRestarts, maxSeconds, ctx.clock), env: envOf(ctx), lastKey: 0 }
    attachProbe(ctx.self, {
      kind: 'supervisor',
      read: (): SupervisorSnapshot => ({
        type: 'dynamic',
        strategy: 'one_for_one',
        maxRestarts,
        maxSeconds,
        restartsInWindow: state.intensity.recent(),
        maxChildren: Number.isFinite(maxChildren) ? maxChildren : undefined,
        children: [...state.children.values()].map((c) => ({ id: `#${c.key}`, pid: c.pid, restarting: c.pid === undefined, restarts: c.restarts, type: c.spec.type, restart: c.spec.restart, shutdown: c.spec.shutdown })),
      }),
    })
    return ok(state)
  },

  async handleCall(msg: Op, _from, state) {
    switch (msg.op) {
      case 'start': {
        if (state.children.size >= state.maxChildren) {
          return reply(new ChildOperationError('ERR_MAX_CHILDREN', `the supervisor already has its maximum of ${state.maxChildren} children`), state)
        }
        let pid: Pid
        try {
          pid = await startChildProcess(msg.spec, state.env)
        } catch (err) {
          if (err instanceof InitIgnoredError) return reply(undefined, state)
          return reply(err instanceof ChildStartError ? err : new ChildStartError(undefined, err), state)
        }
        const key = ++state.lastKey
        state.children.set(key, { key, spec: msg.spec, pid, backoff: msg.spec.backoff && new Backoff(msg.spec.backoff, state.env.clock), restarts: 0 })
        return reply(pid, state)
      }
      case 'terminate': {
        const child = byPid(state, msg.pid)
        if (!child) return reply(new ChildOperationError('ERR_CHILD_NOT_FOUND', `${String(msg.pid)} is not a child of this supervisor`), state)
        state.children.delete(child.key)
        await shutdownChild(state.env.link, child.pid as Pid, child.spec.shutdown, state.env.clock)
        return reply(undefined, state)
      }
      case 'which':
        return reply(
          [...state.children.values()].map((c): ChildInfo => ({ id: undefined, pid: c.pid ?? 'restarting', type: c.spec.type, restart: c.spec.restart })),
          state,
        )
      case 'count': {
        const all = [...state.children.values()]
        const supervisors = all.filter((c) => c.spec.type === 'supervisor').length
        const counts: ChildCounts = { specs: all.length, active: all.filter((c) => c.pid).length, supervisors, workers: all.length - supervisors }
        return reply(counts, state)
      }
    }
  },

  async handleInfo(msg, state, ctx): Promise<NoReplyResult<State>> {
    if (msg instanceof Exit) {
      const child = byPid(state, msg.from)
      if (!child) return noreply(state)
      child.pid = undefined
      const fields = { child: String(msg.from), reason: describeReason(msg.reason), restart: child.spec.restart }
      if (!shouldRestart(child.spec.restart, msg.reason)) {
        ctx.log.info(fields, 'child exited; not restarting it')
        state.children.delete(child.key)
        return noreply(state)
      }
      if (isCleanExit(msg.reason)) ctx.log.info(fields, 'child exited; restarting it')
      else ctx.log.warn(fields, 'child terminated; restarting it')
      return restart(child, state, ctx, false)
    }
    if (msg instanceof RestartChild) {
      const child = state.children.get(msg.key)
      if (!child || child.pid) return noreply(state)
      try {
        child.pid = await startChildProcess(child.spec, state.env)
        child.restarts++
      } catch (err) {
        if (err instanceof InitIgnoredError) {
          state.children.delete(child.key)
          return noreply(state)
        }
        ctx.log.error({ reason: describeReason(err) }, 'child failed to restart; trying again')
        return restart(child, state, ctx, true)
      }
      return noreply(state)
    }
    return noreply(state)
  },

  async terminate(_reason, state) {
    // DynamicSupervisor stops its children concurrently, each by its own shutdown policy.
    const children = [...state.children.values()]
    state.children.clear()
    await Promise.all(children.map((c) => (c.pid ? shutdownChild(state.env.link, c.pid, c.spec.shutdown, state.env.clock) : undefined)))
  },
}

function restart(child: Child, state: State, ctx: ProcessContext, _retry: boolean): NoReplyResult<State> {
  if (!state.intensity.add()) {
    ctx.log.error({ maxRestarts: state.intensity.maxRestarts, maxSeconds: state.intensity.maxSeconds }, 'reached maximum restart intensity; shutting down')
    return stop('shutdown', state)
  }
  const delay = child.backoff?.next() ?? 0
  if (delay > 0) ctx.sendAfter(new RestartChild(child.key), delay)
  else GenServer.send(ctx.self, new RestartChild(child.key))
  return noreply(state)
}

async function callSup<T>(sup: ServerRef, op: Op): Promise<T> {
  const result = await GenServer.call<T | Error>(sup, op, Number.POSITIVE_INFINITY)
  if (result instanceof Error) throw result
  return result as T
}

/**
 * A supervisor for children started on demand, all alike (Elixir's DynamicSupervisor):
 * one_for_one, children addressed by pid, an optional `maxChildren`, and shutdown of all
 * children at once rather than in order.
 *
 * @example
 * ```ts
 * const pool = await DynamicSupervisor.start({ maxChildren: 100, name: 'watchers' })
 * const pid = await DynamicSupervisor.startChild('watchers', worker(PodWatcher, { namespace: 'a' }))
 * ```
 */
export const DynamicSupervisor = {
  /** Starts an empty dynamic supervisor. Rejects with `InvalidChildSpecError` for bad options. */
  start(opts: DynamicSupervisorOptions = {}): Promise<Pid> {
    const { maxChildren = Number.POSITIVE_INFINITY, maxRestarts = 3, maxSeconds = 5, ...startOpts } = opts
    if (!(maxChildren === Number.POSITIVE_INFINITY || (Number.isInteger(maxChildren) && maxChildren >= 0))) {
      return Promise.reject(new InvalidChildSpecError(`maxChildren must be an integer >= 0, got ${String(maxChildren)}`))
    }
    if (!Number.isInteger(maxRestarts) || maxRestarts < 0) return Promise.reject(new InvalidChildSpecError(`maxRestarts must be an integer >= 0, got ${String(maxRestarts)}`))
    if (!(maxSeconds > 0)) return Promise.reject(new InvalidChildSpecError(`maxSeconds must be a number > 0, got ${String(maxSeconds)}`))
    return GenServer.start(DynamicBehaviour, { maxChildren, maxRestarts, maxSeconds }, { ...startOpts, trapExit: true })
  },

  /**
   * Starts a child under the supervisor; resolves with its pid (undefined if its init
   * ignored). Rejects with `ChildOperationError` `ERR_MAX_CHILDREN` or `ChildStartError`.
   */
  async startChild(sup: ServerRef, spec: ChildSpec | Omit<ChildSpec, 'id'>): Promise<Pid | undefined> {
    const normalized = normalizeSpec({ id: 'dynamic', ...spec } as ChildSpec, 'startChild')
    return callSup(sup, { op: 'start', spec: normalized })
  },

  /** Stops a child by its shutdown policy and forgets it. */
  terminateChild(sup: ServerRef, pid: Pid): Promise<void> {
    return callSup(sup, { op: 'terminate', pid })
  },

  /** The running children, in start order, with their pids. */
  whichChildren(sup: ServerRef): Promise<ChildInfo[]> {
    return callSup(sup, { op: 'which' })
  },

  /** How many children run, and how many are workers or supervisors (OTP `count_children`). */
  countChildren(sup: ServerRef): Promise<ChildCounts> {
    return callSup(sup, { op: 'count' })
  },
}
