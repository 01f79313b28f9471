/**
 * Running a resource stream's consumer under a supervisor: `streamWorker` is a child spec
 * whose process owns one stream (subscription + queue) and a WorkerPool draining it. A
 * consumer that crashes is restarted and the keys it had not finished are emitted again;
 * stopping drains.
 */
import { Exit, GenServer, noreply, ok, type Pid, stop } from '../actor/index.ts'
import { defaultLogger, type Logger } from '../log.ts'
import { type ChildEnv, type ChildSpec, type RestartType, Supervisor } from '../supervisor/index.ts'
import type { Behaviour } from '../actor/index.ts'
import type { Clock } from '../time/clock.ts'
import type { KubeObject } from '../watch/object.ts'
import type { EventsOptions, KeyStream, Resource, ResourceEvent, ResourceStreamStoppedError } from './resource.ts'
import { type HandleResult, WorkerPool } from './workers.ts'

/** Handles one event; resolve for `done()`, throw for `done(err)`. */
export type StreamHandler<T> = (event: ResourceEvent<T>, signal: AbortSignal) => unknown

/** Options of {@link streamWorker}. */
export interface StreamWorkerOptions extends EventsOptions {
  /** Child id and log name. Default `'resource-stream'`. */
  id?: string
  /** Events handled at once (never two of one key). Default 1. */
  concurrency?: number
  /** On stop: how long queued and in-flight events may take to finish. Default 30 000 ms. */
  drainTimeoutMs?: number
  /** Default `'permanent'`. A stream stopped by its error handler exits abnormally. */
  restart?: RestartType
  /** `startStreamWorker` only (default: kubevisor's default logger); under your supervisor, its logger is used. */
  logger?: Logger
  /** For the workers' timers (default: the system clock). */
  clock?: Clock
}

interface OwnerArg<T extends KubeObject> {
  resource: Resource<T>
  handle: StreamHandler<T>
  options: StreamWorkerOptions
}

interface OwnerState<T extends KubeObject> {
  core: KeyStream<T>
  pool: WorkerPool<string>
  drainTimeoutMs: number
}

/** The error handler answered `'stop'`. */
class Stopped {
  readonly failure: ResourceStreamStoppedError | undefined
  constructor(failure: ResourceStreamStoppedError | undefined) {
    this.failure = failure
  }
}

/** Handles one key taken from the stream's queue by a pool worker. */
async function handleKey<T extends KubeObject>(core: KeyStream<T>, key: string, signal: AbortSignal, handle: StreamHandler<T>): Promise<HandleResult | undefined> {
  if (core.ended) return undefined
  const d = core.open(key, false)
  if (d === undefined) return undefined
  let failed = false
  let error: unknown
  try {
    await handle(d.event, signal)
  } catch (err) {
    failed = true
    error = err ?? new Error('the stream handler threw without an error')
  }
  if (!d.doneCalled) d.event.done(failed ? error : undefined)
  return d.action === 'retry' ? { requeue: true } : undefined
}

const Owner: Behaviour<OwnerArg<any>, OwnerState<any>> = {
  async init({ resource, handle, options }, ctx) {
    const core = resource.openKeyStream({ errorHandler: options.errorHandler, rateLimiter: options.rateLimiter })
    core.onEnd((failure) => {
      if (failure) GenServer.send(ctx.self, new Stopped(failure))
    })
    try {
      const pool = await WorkerPool.start(
        {
          name: options.id ?? 'resource-stream',
          queue: core.queue,
          concurrency: options.concurrency ?? 1,
          logger: ctx.log,
          clock: options.clock,
          handle: (key, signal) => handleKey(core, key, signal, handle),
        },
        { link: ctx.self, logger: ctx.log, clock: ctx.clock },
      )
      return ok({ core, pool, drainTimeoutMs: options.drainTimeoutMs ?? 30_000 })
    } catch (err) {
      core.end()
      throw err
    }
  },

  handleInfo(msg, state) {
    if (msg instanceof Stopped) return stop(msg.failure ?? 'normal', state)
    if (msg instanceof Exit && msg.from === state.pool.supervisor) return stop(msg.reason, state)
    return noreply(state)
  },

  async terminate(_reason, state, ctx) {
    // Drain: no new changes; what is queued and in flight finishes (retries waiting are dropped).
    const { core, pool } = state
    core.closeIntake()
    try {
      await core.queue.shutDownWithDrain(state.drainTimeoutMs)
      await pool.stop()
    } catch (err) {
      // A handler that never finishes must not hold the shutdown (nor the event loop) any
      // longer: its worker is killed; the key was not done and is lost with the stream.
      ctx.log.warn({ err, inFlight: core.inFlight }, 'resource stream did not drain in time; killing its workers')
      if (pool.supervisor.alive) {
        const workers = await Supervisor.whichChildren(pool.supervisor).catch(() => [])
        GenServer.exit(pool.supervisor, 'kill')
        for (const w of workers) if (typeof w.pid === 'object' && w.pid !== null) GenServer.exit(w.pid, 'kill')
      }
    } finally {
      core.end()
    }
  },
}

/**
 * A child spec that consumes `resource`'s events under your supervisor: one stream (its
 * own subscription and queue) handled by a supervised pool of `concurrency` workers.
 * `handle(event, signal)` resolving means `done()`, throwing means `done(err)` (the error
 * handler decides: retry / ignore / stop); it need not call `done` itself.
 *
 * Failures:
 * - a worker that crashes (is killed, or its handler brings the process down) is restarted
 *   by the pool's supervisor, and the key it held is emitted again — the key's latest
 *   state: an upsert, or the delete if it is gone meanwhile. Nothing is dropped, nothing
 *   is replayed that was done.
 * - the error handler answering `'stop'` ends the stream: the child exits with a
 *   `ResourceStreamStoppedError` (abnormal), so a `permanent` child is restarted with a
 *   fresh stream (every object upserted again); use `restart: 'temporary'` to leave it down.
 * - more worker crashes than the pool's intensity (10 in 10 s) stop the child likewise.
 *
 * Stopping (the parent shuts it down): no new changes are taken; events already queued
 * and in flight are handled (up to `drainTimeoutMs`); retries still waiting are dropped;
 * workers still busy after the drain timeout are killed (a warning names their keys).
 *
 * @example
 * ```ts
 * await Supervisor.start([
 *   informers.childSpec(),
 *   streamWorker(pods, async (event) => {
 *     if (event.kind === 'upsert') await ensureRoute(event.object)
 *     if (event.kind === 'delete') await removeRoute(event.object)
 *   }, { id: 'routes', concurrency: 4, errorHandler: retryUpTo(10, 'ignore') }),
 * ])
 * ```
 */
export function streamWorker<T extends KubeObject>(resource: Resource<T>, handle: StreamHandler<T>, options: StreamWorkerOptions = {}): ChildSpec {
  const drainTimeoutMs = options.drainTimeoutMs ?? 30_000
  return {
    id: options.id ?? 'resource-stream',
    type: 'worker',
    restart: options.restart ?? 'permanent',
    shutdown: drainTimeoutMs + 5_000,
    start: (env: ChildEnv) => GenServer.start(Owner, { resource, handle, options }, { ...env, trapExit: true }),
  }
}

/** A stream worker started on its own ({@link startStreamWorker}). */
export interface StreamWorkerRef {
  /** The supervisor the stream worker runs under. */
  readonly supervisor: Pid
  /** Stops it: drains (see {@link streamWorker}), then resolves. */
  stop(): Promise<void>
}

/**
 * Starts {@link streamWorker} under a supervisor of its own, for scripts and tests.
 *
 * @example
 * ```ts
 * const worker = await startStreamWorker(pods, (event) => console.log(event.kind, String(event.key)))
 * await worker.stop()
 * ```
 */
export async function startStreamWorker<T extends KubeObject>(resource: Resource<T>, handle: StreamHandler<T>, options: StreamWorkerOptions = {}): Promise<StreamWorkerRef> {
  const sup = await Supervisor.start([streamWorker(resource, handle, options)], {
    logger: options.logger ?? defaultLogger(),
    clock: options.clock,
    maxRestarts: 3,
    maxSeconds: 5,
  })
  return {
    supervisor: sup,
    stop: async () => {
      if (sup.alive) await Supervisor.stop(sup, 'shutdown')
    },
  }
}
