import {
  type Behaviour,
  describeReason,
  Exit,
  type ExitReason,
  GenServer,
  InitIgnoredError,
  isCleanExit,
  noreply,
  type NoReplyResult,
  ok,
  type Pid,
  type ProcessContext,
  reply,
  type ServerRef,
  StartError,
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

/**
 * Restart strategies (OTP):
 * - `one_for_one`: only the child that exited is restarted.
 * - `one_for_all`: all other children are terminated, then all are restarted.
 * - `rest_for_one`: the children started after it are terminated, then it and they are
 *   restarted, in start order.
 */
export type Strategy = 'one_for_one' | 'one_for_all' | 'rest_for_one'

/** Supervisor flags, as OTP's, plus the usual process options. */
export interface SupervisorOptions extends Omit<StartOptions, 'trapExit' | 'timeout'> {
  /** Default `'one_for_one'`. */
  strategy?: Strategy
  /** At most this many restarts within `maxSeconds` (default 3). */
  maxRestarts?: number
  /** The intensity window in seconds (default 5). */
  maxSeconds?: number
}

/** One row of {@link Supervisor.whichChildren}. */
export interface ChildInfo {
  id: string | undefined
  /** The running pid, `'restarting'` while a restart is pending, or undefined when stopped. */
  pid: Pid | 'restarting' | undefined
  type: 'worker' | 'supervisor'
  restart: NormalizedSpec['restart']
}

/** What {@link Supervisor.countChildren} reports. */
export interface ChildCounts {
  /** All child specs, running or not. */
  specs: number
  /** Children with a live process. */
  active: number
  supervisors: number
  workers: number
}

interface Child {
  spec: NormalizedSpec
  pid: Pid | undefined
  /** A restart is scheduled (backoff) or will be retried (a failed restart). */
  restarting: boolean
  backoff: Backoff | undefined
  /** For introspection: starts of this child so far (restarts = starts - 1). */
  starts: number
}

interface State {
  strategy: Strategy
  intensity: RestartIntensity
  /** In start order. */
  children: Child[]
  env: ChildEnv
}

/** Self-message: (re)start these children, in start order. */
class RestartGroup {
  readonly ids: string[]
  constructor(ids: string[]) {
    this.ids = ids
  }
}

type Op =
  | { op: 'which' }
  | { op: 'count' }
  | { op: 'terminate'; id: string }
  | { op: 'restart'; id: string }
  | { op: 'delete'; id: string }
  | { op: 'start'; spec: NormalizedSpec }

const STRATEGIES = new Set<Strategy>(['one_for_one', 'one_for_all', 'rest_for_one'])

function envOf(ctx: ProcessContext): ChildEnv {
  const proc = asProcess(ctx.self)
  return { link: ctx.self, logger: proc.rootLogger, clock: ctx.clock, registry: proc.registry }
}

function newChild(spec: NormalizedSpec, state: State): Child {
  return { spec, pid: undefined, restarting: false, backoff: spec.backoff && new Backoff(spec.backoff, state.env.clock), starts: 0 }
}

async function startOne(child: Child, state: State): Promise<void> {
  child.pid = await startChildProcess(child.spec, state.env)
  child.starts++
  child.restarting = false
}

/** Stops children in reverse start order. */
async function terminateChildren(children: Child[], state: State): Promise<void> {
  for (let i = children.length - 1; i >= 0; i--) {
    const child = children[i] as Child
    child.restarting = false
    const pid = child.pid
    if (!pid) continue
    child.pid = undefined
    const reason = await shutdownChild(state.env.link, pid, child.spec.shutdown, state.env.clock)
    if (reason !== 'shutdown' && reason !== 'killed' && !isCleanExit(reason)) {
      asProcess(state.env.link).log.warn({ child: child.spec.id, reason: describeReason(reason) }, 'child exited with an error while being shut down')
    }
  }
}

const SupervisorBehaviour: Behaviour<{ specs: NormalizedSpec[]; strategy: Strategy; maxRestarts: number; maxSeconds: number }, State> = {
  behaviourName: 'Supervisor',
  async init({ specs, strategy, maxRestarts, maxSeconds }, ctx) {
    const state: State = {
      strategy,
      intensity: new RestartIntensity(maxRestarts, maxSeconds, ctx.clock),
      children: [],
      env: envOf(ctx),
    }
    attachProbe(ctx.self, { kind: 'supervisor', read: () => snapshotOf(state, maxRestarts, maxSeconds) })
    // OTP: children are started in order; if one fails, those already started are
    // terminated in reverse order and the supervisor fails with
    // {shutdown, {failed_to_start_child, Id, Reason}}.
    for (const spec of specs) {
      const child = newChild(spec, state)
      try {
        await startOne(child, state)
      } catch (err) {
        if (err instanceof InitIgnoredError) {
          if (spec.restart !== 'temporary') state.children.push(child)
          continue
        }
        ctx.log.error({ child: spec.id, reason: describeReason(err) }, 'child failed to start; stopping the children already started')
        await terminateChildren(state.children, state)
        return stop({ shutdown: err instanceof ChildStartError ? err : new ChildStartError(spec.id, err) })
      }
      state.children.push(child)
    }
    return ok(state)
  },

  async handleInfo(msg, state, ctx) {
    if (msg instanceof Exit) {
      const child = state.children.find((c) => c.pid === msg.from)
      if (!child) return noreply(state) // an exit we already handled (e.g. of a child we shut down)
      child.pid = undefined
      return onChildExit(child, msg.reason, state, ctx)
    }
    if (msg instanceof RestartGroup) return startGroup(msg.ids, state, ctx)
    ctx.log.warn({ message: describeReason(msg) }, 'supervisor dropped an unexpected message')
    return noreply(state)
  },

  async handleCall(msg: Op, _from, state) {
    switch (msg.op) {
      case 'which':
        return reply(
          state.children.map((c): ChildInfo => ({ id: c.spec.id, pid: c.pid ?? (c.restarting ? 'restarting' : undefined), type: c.spec.type, restart: c.spec.restart })),
          state,
        )
      case 'count':
        return reply(countOf(state.children), state)
      case 'terminate': {
        const child = find(state, msg.id)
        if (!child) return reply(notFound(msg.id), state)
        await terminateChildren([child], state)
        if (child.spec.restart === 'temporary') state.children = state.children.filter((c) => c !== child)
        return reply(undefined, state)
      }
      case 'restart': {
        const child = find(state, msg.id)
        if (!child) return reply(notFound(msg.id), state)
        if (child.pid) return reply(new ChildOperationError('ERR_CHILD_RUNNING', `child ${JSON.stringify(msg.id)} is running`, msg.id), state)
        if (child.restarting) return reply(new ChildOperationError('ERR_CHILD_RESTARTING', `child ${JSON.stringify(msg.id)} has a restart pending`, msg.id), state)
        try {
          await startOne(child, state)
          return reply(child.pid, state)
        } catch (err) {
          return reply(err instanceof InitIgnoredError ? undefined : startErrorOf(msg.id, err), state)
        }
      }
      case 'delete': {
        const child = find(state, msg.id)
        if (!child) return reply(notFound(msg.id), state)
        if (child.pid || child.restarting) {
          return reply(new ChildOperationError(child.pid ? 'ERR_CHILD_RUNNING' : 'ERR_CHILD_RESTARTING', `child ${JSON.stringify(msg.id)} must be terminated before it is deleted`, msg.id), state)
        }
        state.children = state.children.filter((c) => c !== child)
        return reply(undefined, state)
      }
      case 'start': {
        const existing = find(state, msg.spec.id)
        if (existing?.pid) return reply(new ChildOperationError('ERR_CHILD_ALREADY_STARTED', `child ${JSON.stringify(msg.spec.id)} is already running as ${String(existing.pid)}`, msg.spec.id), state)
        if (existing) return reply(new ChildOperationError('ERR_CHILD_ALREADY_PRESENT', `child ${JSON.stringify(msg.spec.id)} exists; restartChild or deleteChild it`, msg.spec.id), state)
        const child = newChild(msg.spec, state)
        try {
          await startOne(child, state)
        } catch (err) {
          if (err instanceof InitIgnoredError && msg.spec.restart !== 'temporary') state.children.push(child)
          return reply(err instanceof InitIgnoredError ? undefined : startErrorOf(msg.spec.id, err), state)
        }
        state.children.push(child)
        return reply(child.pid, state)
      }
    }
  },

  async terminate(_reason, state) {
    await terminateChildren(state.children, state)
  },
}

/** The probe's reading: flags, restarts in the intensity window, children in start order. */
function snapshotOf(state: State, maxRestarts: number, maxSeconds: number): SupervisorSnapshot {
  return {
    type: 'supervisor',
    strategy: state.strategy,
    maxRestarts,
    maxSeconds,
    restartsInWindow: state.intensity.recent(),
    maxChildren: undefined,
    children: state.children.map((c) => ({ id: c.spec.id, pid: c.pid, restarting: c.restarting, restarts: Math.max(0, c.starts - 1), type: c.spec.type, restart: c.spec.restart, shutdown: c.spec.shutdown })),
  }
}

function find(state: State, id: string): Child | undefined {
  return state.children.find((c) => c.spec.id === id)
}

function notFound(id: string): ChildOperationError {
  return new ChildOperationError('ERR_CHILD_NOT_FOUND', `no child ${JSON.stringify(id)}`, id)
}

function startErrorOf(id: string, err: unknown): ChildStartError {
  return err instanceof ChildStartError ? err : new ChildStartError(id, err)
}

function countOf(children: { spec: NormalizedSpec; pid: Pid | undefined }[]): ChildCounts {
  let active = 0
  let supervisors = 0
  for (const c of children) {
    if (c.pid) active++
    if (c.spec.type === 'supervisor') supervisors++
  }
  return { specs: children.length, active, supervisors, workers: children.length - supervisors }
}

async function onChildExit(child: Child, reason: ExitReason, state: State, ctx: ProcessContext): Promise<NoReplyResult<State>> {
  const restart = shouldRestart(child.spec.restart, reason)
  const fields = { child: child.spec.id, reason: describeReason(reason), restart: child.spec.restart }
  if (!restart) {
    ctx.log.info(fields, 'child exited; not restarting it')
    if (child.spec.restart === 'temporary') state.children = state.children.filter((c) => c !== child)
    return noreply(state)
  }
  if (isCleanExit(reason)) ctx.log.info(fields, 'child exited; restarting it')
  else ctx.log.warn(fields, 'child terminated; restarting it')
  if (!state.intensity.add()) return giveUp(state, ctx)

  // The group to restart: the child alone, every child, or the child and those after it.
  const index = state.children.indexOf(child)
  const group =
    state.strategy === 'one_for_one' ? [child] : state.strategy === 'one_for_all' ? state.children.slice() : state.children.slice(index)
  await terminateChildren(
    group.filter((c) => c !== child),
    state,
  )
  // OTP: temporary children terminated because a sibling died are not restarted.
  const temporary = new Set(group.filter((c) => c !== child && c.spec.restart === 'temporary'))
  if (temporary.size > 0) state.children = state.children.filter((c) => !temporary.has(c))
  const ids = group.filter((c) => !temporary.has(c)).map((c) => c.spec.id)
  return scheduleOrStart(child, ids, state, ctx)
}

/**
 * Restarts `ids` now, or after the failed child's backoff delay when it has one. A retry
 * after a failed restart goes through a self-message (as OTP's `try_again_restart`), so
 * calls and exits waiting in the mailbox are handled in between.
 */
async function scheduleOrStart(trigger: Child, ids: string[], state: State, ctx: ProcessContext, retry = false): Promise<NoReplyResult<State>> {
  const delay = trigger.backoff?.next() ?? 0
  if (delay > 0) {
    for (const id of ids) {
      const c = find(state, id)
      if (c) c.restarting = true
    }
    ctx.log.info({ child: trigger.spec.id, delayMs: Math.round(delay) }, 'restart delayed by backoff')
    ctx.sendAfter(new RestartGroup(ids), delay)
    return noreply(state)
  }
  if (retry) {
    GenServer.send(ctx.self, new RestartGroup(ids))
    return noreply(state)
  }
  return startGroup(ids, state, ctx)
}

async function startGroup(ids: string[], state: State, ctx: ProcessContext): Promise<NoReplyResult<State>> {
  const order = state.children.filter((c) => ids.includes(c.spec.id))
  for (let i = 0; i < order.length; i++) {
    const child = order[i] as Child
    if (child.pid || !state.children.includes(child)) continue
    try {
      await startOne(child, state)
    } catch (err) {
      if (err instanceof InitIgnoredError) {
        child.restarting = false
        continue
      }
      // OTP: a failed restart counts as a restart and is tried again.
      ctx.log.error({ child: child.spec.id, reason: describeReason(err) }, 'child failed to restart; trying again')
      const rest = order.slice(i)
      for (const c of rest) c.restarting = true
      if (!state.intensity.add()) return giveUp(state, ctx)
      return scheduleOrStart(
        child,
        rest.map((c) => c.spec.id),
        state,
        ctx,
        true,
      )
    }
  }
  return noreply(state)
}

function giveUp(state: State, ctx: ProcessContext): NoReplyResult<State> {
  ctx.log.error(
    { maxRestarts: state.intensity.maxRestarts, maxSeconds: state.intensity.maxSeconds },
    'reached maximum restart intensity; shutting down',
  )
  return stop('shutdown', state)
}

async function callSup<T>(sup: ServerRef, op: Op): Promise<T> {
  const result = await GenServer.call<T | Error>(sup, op, Number.POSITIVE_INFINITY)
  if (result instanceof Error) throw result
  return result as T
}

function validateFlags(opts: SupervisorOptions): { strategy: Strategy; maxRestarts: number; maxSeconds: number } {
  const strategy = opts.strategy ?? 'one_for_one'
  if (!STRATEGIES.has(strategy)) throw new InvalidChildSpecError(`strategy must be one_for_one, one_for_all or rest_for_one, got ${String(strategy)}`)
  const maxRestarts = opts.maxRestarts ?? 3
  const maxSeconds = opts.maxSeconds ?? 5
  if (!Number.isInteger(maxRestarts) || maxRestarts < 0) throw new InvalidChildSpecError(`maxRestarts must be an integer >= 0, got ${String(maxRestarts)}`)
  if (!(typeof maxSeconds === 'number' && maxSeconds > 0)) throw new InvalidChildSpecError(`maxSeconds must be a number > 0, got ${String(maxSeconds)}`)
  return { strategy, maxRestarts, maxSeconds }
}

/**
 * Supervisors, with OTP's semantics: they start children in order, restart them by their
 * restart type and the strategy, give up (exit `shutdown`, escalating to their own
 * supervisor) when restarts exceed the intensity, and stop children in reverse order,
 * honouring each child's shutdown policy.
 *
 * @example
 * ```ts
 * const sup = await Supervisor.start([
 *   worker(Counter, 0, { name: 'counter' }),
 *   supervisor([worker(Cache, {}, { id: 'cache' })], { id: 'caches', strategy: 'one_for_all' }),
 * ], { strategy: 'one_for_one', maxRestarts: 3, maxSeconds: 5 })
 * ```
 *
 * Gotcha: a supervisor handles one thing at a time; a child whose `init` is slow holds up
 * its siblings' restarts (as in OTP). Keep `init` quick, and do slow work in `continue`.
 */
export const Supervisor = {
  /**
   * Starts a supervisor and its children, in order. Rejects with `InvalidChildSpecError`
   * for bad specs or flags, or `ChildStartError` when a child fails to start (the ones
   * already started are stopped first, in reverse order).
   */
  async start(children: ChildSpec[], opts: SupervisorOptions = {}): Promise<Pid> {
    const flags = validateFlags(opts)
    if (!Array.isArray(children)) throw new InvalidChildSpecError('children must be an array of child specs')
    const specs = children.map((c, i) => normalizeSpec(c, `child #${i}`))
    const ids = new Set<string>()
    for (const s of specs) {
      if (ids.has(s.id)) throw new InvalidChildSpecError(`duplicate child id ${JSON.stringify(s.id)}`)
      ids.add(s.id)
    }
    const { strategy: _s, maxRestarts: _r, maxSeconds: _t, ...startOpts } = opts
    try {
      return await GenServer.start(SupervisorBehaviour, { specs, ...flags }, { ...startOpts, trapExit: true })
    } catch (err) {
      const reason = err instanceof StartError ? (err.reason as { shutdown?: unknown } | undefined) : undefined
      if (reason?.shutdown instanceof ChildStartError) throw reason.shutdown
      throw err
    }
  },

  /** The children in start order, with their pids. */
  whichChildren(sup: ServerRef): Promise<ChildInfo[]> {
    return callSup(sup, { op: 'which' })
  },

  /** How many children it has: specs, running ones, and how many are workers or supervisors (OTP `count_children`). */
  countChildren(sup: ServerRef): Promise<ChildCounts> {
    return callSup(sup, { op: 'count' })
  },

  /**
   * Adds a child and starts it. Resolves with its pid (undefined if its init ignored).
   * Rejects with `InvalidChildSpecError` (a malformed spec), `ChildOperationError`
   * (`ERR_CHILD_ALREADY_STARTED` / `ERR_CHILD_ALREADY_PRESENT`) or `ChildStartError`.
   */
  async startChild(sup: ServerRef, spec: ChildSpec): Promise<Pid | undefined> {
    // async: an invalid spec rejects with InvalidChildSpecError, never throws synchronously.
    return callSup(sup, { op: 'start', spec: normalizeSpec(spec, 'startChild') })
  },

  /** Stops a child by its shutdown policy; keeps its spec (removes a temporary one). */
  terminateChild(sup: ServerRef, id: string): Promise<void> {
    return callSup(sup, { op: 'terminate', id })
  },

  /** Starts a stopped child again from its spec; resolves with its new pid. */
  restartChild(sup: ServerRef, id: string): Promise<Pid | undefined> {
    return callSup(sup, { op: 'restart', id })
  },

  /** Removes the spec of a stopped child. */
  deleteChild(sup: ServerRef, id: string): Promise<void> {
    return callSup(sup, { op: 'delete', id })
  },

  /** Stops the supervisor: its children stop in reverse order first. */
  stop(sup: ServerRef, reason: ExitReason = 'normal'): Promise<void> {
    return GenServer.stop(sup, reason)
  },
}

/** Options of {@link supervisor}. */
export interface NestedSupervisorOptions extends SupervisorOptions {
  id: string
  restart?: ChildSpec['restart']
  shutdown?: ChildSpec['shutdown']
  backoff?: ChildSpec['backoff']
}

/**
 * A child spec for a nested supervisor (type `supervisor`, shutdown `infinity` by default).
 */
export function supervisor(children: ChildSpec[], opts: NestedSupervisorOptions): ChildSpec {
  const { id, restart, shutdown, backoff, ...flags } = opts
  return {
    id,
    type: 'supervisor',
    restart,
    shutdown,
    backoff,
    start: (env) => Supervisor.start(children, { ...flags, ...env }),
  }
}
