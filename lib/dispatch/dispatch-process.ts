/**
 * The process the EventLoop and the ResourceController run their work on: it owns one
 * incarnation of a rate-limited queue, feeds it from shared informers, starts a
 * {@link WorkerPool} once everything the style waits for has synced, and drains on stop.
 * Internal to `lib/dispatch`; users see `run(signal)` and `childSpec()` of each style.
 */
import { type Behaviour, GenServer, noreply, ok, type Pid } from '../actor/index.ts'
import { KubevisorError } from '../errors.ts'
import type { Logger } from '../log.ts'
import { type QueueMetricsProvider, type RateLimiter, RateLimitingQueue } from '../queue/index.ts'
import { type ChildEnv, type ChildSpec, Supervisor } from '../supervisor/index.ts'
import type { Clock } from '../time/clock.ts'
import { type HandleResult, WorkerPool } from './workers.ts'

/** What one incarnation of a dispatch process reads from: started by its `init`, closed by its `terminate`. */
export interface DispatchSource {
  /** Resolves once every cache the style waits for has synced; workers start then. */
  readonly ready: Promise<void>
  /** Stops feeding the queue (closes subscriptions, ends sync waits). */
  close(): void
  /**
   * After the drain: lets go of the informers. Until then they stay held, so the stores
   * the handlers read during the drain are not torn down with the last subscription.
   */
  release(): void
}

/** @internal What a dispatch style plugs into its process. */
export interface DispatchCore {
  readonly name: string
  readonly concurrency: number
  /** The WorkerPool's retry bound; `Infinity` when the style decides retries itself. */
  readonly maxRetries: number
  readonly drainTimeoutMs: number
  readonly rateLimiter: RateLimiter<string> | undefined
  readonly metrics: QueueMetricsProvider | undefined
  /** A new incarnation: subscribe and start adding keys to `queue`. */
  open(queue: RateLimitingQueue<string>, log: Logger): DispatchSource
  /** Handles one key (see `WorkerPoolOptions.handle`). */
  handle(queue: RateLimitingQueue<string>, key: string, signal: AbortSignal, log: Logger): Promise<HandleResult | undefined>
  /** After the final drain of an incarnation. */
  drained?(log: Logger): void
}

interface State {
  core: DispatchCore
  queue: RateLimitingQueue<string>
  source: DispatchSource
  pool: WorkerPool<string> | undefined
  logger: Logger
  stopping: boolean
}

const READY = Symbol('dispatch.ready')

class SourceFailed {
  readonly err: unknown
  constructor(err: unknown) {
    this.err = err
  }
}

/**
 * One incarnation: a fresh queue fed by the core's source; a worker pool linked to this
 * process once the source is ready. Its mailbox never waits for the caches, so a
 * shutdown is heard at any time.
 */
const DispatchProcess: Behaviour<{ core: DispatchCore; logger: Logger }, State> = {
  init({ core, logger }, ctx) {
    const queue = new RateLimitingQueue<string>({ name: core.name, clock: ctx.clock, rateLimiter: core.rateLimiter, metrics: core.metrics })
    const source = core.open(queue, ctx.log)
    const state: State = { core, queue, source, pool: undefined, logger, stopping: false }
    // A brutal kill skips terminate: still stop reading and let go of the informers (no drain).
    GenServer.onExit(ctx.self, () => {
      if (state.stopping) return
      state.stopping = true
      source.close()
      queue.shutDown()
      source.release()
    })
    source.ready.then(
      () => GenServer.send(ctx.self, READY),
      (err) => {
        if (!state.stopping) GenServer.send(ctx.self, new SourceFailed(err))
      },
    )
    return ok(state)
  },

  async handleInfo(msg, state, ctx) {
    if (msg instanceof SourceFailed) throw msg.err
    if (msg !== READY || state.pool) return noreply(state)
    const { core, queue } = state
    state.pool = await WorkerPool.start(
      {
        name: core.name,
        queue,
        concurrency: core.concurrency,
        maxRetries: core.maxRetries,
        handle: (key, signal) => core.handle(queue, key, signal, ctx.log),
      },
      { link: ctx.self, logger: state.logger, clock: ctx.clock },
    )
    ctx.log.info({ dispatch: core.name, workers: core.concurrency, queued: queue.len }, 'caches synced; workers started')
    return noreply(state)
  },

  async terminate(_reason, state, ctx) {
    state.stopping = true
    state.source.close()
    const pool = state.pool
    if (pool?.supervisor.alive) {
      try {
        await pool.stop(state.core.drainTimeoutMs)
      } catch (err) {
        ctx.log.error({ dispatch: state.core.name, err }, 'the drain timed out; keys still in flight were abandoned')
      }
    } else {
      state.queue.shutDown() // no workers (not synced yet, or the pool gave up): nothing to drain with
    }
    state.source.release()
    state.core.drained?.(ctx.log)
  },
}

/** @internal The child spec of a dispatch process. */
export function dispatchProcessSpec(core: DispatchCore, id: string): ChildSpec {
  return {
    id,
    // The drain runs in terminate: give it its time, plus a margin to stop the pool.
    shutdown: core.drainTimeoutMs + 5_000,
    start: (env: ChildEnv) => GenServer.start(DispatchProcess, { core, logger: env.logger }, env),
  }
}

/**
 * A dispatch style's supervisor gave up (its children kept crashing past the restart
 * intensity) while it ran standalone (`run`): `ERR_DISPATCH_FAILED`, with the exit
 * reason as `cause`.
 */
export class DispatchFailedError extends KubevisorError {
  constructor(name: string, cause: unknown) {
    super('ERR_DISPATCH_FAILED', `${name}: its supervisor gave up`, { cause })
  }
}

/**
 * Runs `spec` under a supervisor of its own until `signal` aborts, then stops it in order
 * (so the drain completes before this resolves). Rejects with {@link DispatchFailedError}
 * if the supervisor itself exits first.
 */
export async function runSupervised(name: string, spec: ChildSpec, signal: AbortSignal, logger: Logger, clock: Clock | undefined): Promise<void> {
  if (signal.aborted) return
  const sup: Pid = await Supervisor.start([spec], { logger, clock })
  let onAbort: (() => void) | undefined
  const aborted = new Promise<void>((resolve) => {
    onAbort = () => resolve()
    signal.addEventListener('abort', onAbort, { once: true })
  })
  const exited = GenServer.exited(sup)
  const outcome = await Promise.race([aborted.then(() => 'aborted' as const), exited.then((reason) => ({ reason }))])
  if (onAbort) signal.removeEventListener('abort', onAbort)
  if (outcome === 'aborted') {
    if (sup.alive) await Supervisor.stop(sup, 'shutdown')
    return
  }
  throw new DispatchFailedError(name, outcome.reason)
}

/**
 * A supervisor child spec for one dispatcher (an event loop or a controller) that refuses
 * a second start while one is running: each runs once at a time. `guard.running` is true
 * from a successful start until that supervisor exits.
 */
export function runOnceSpec(id: string, children: ChildSpec[], guard: { running: boolean }, alreadyRunning: () => Error): ChildSpec {
  return {
    id,
    type: 'supervisor',
    start: async (env: ChildEnv) => {
      if (guard.running) throw alreadyRunning()
      guard.running = true
      try {
        const pid = await Supervisor.start(children, { ...env, strategy: 'one_for_one' })
        GenServer.onExit(pid, () => {
          guard.running = false
        })
        return pid
      } catch (err) {
        guard.running = false
        throw err
      }
    },
  }
}
