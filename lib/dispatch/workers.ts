import { type Behaviour, GenServer, noreply, ok, type Pid, stop } from '../actor/index.ts'
import { attachProbe } from '../actor/introspect.ts'
import { asProcess } from '../actor/process.ts'
import { KubevisorError } from '../errors.ts'
import { defaultLogger, type Logger } from '../log.ts'
import type { RateLimitingQueue } from '../queue/index.ts'
import { type ChildEnv, type ChildSpec, Supervisor } from '../supervisor/index.ts'
import { type Clock, systemClock } from '../time/clock.ts'
import type { WorkerPoolSnapshot } from './introspect.ts'

/** What handling a key may ask for next. Returning nothing means: done, forget its failures. */
export interface HandleResult {
  /** Handle the key again after this many ms (its failure count is reset). */
  requeueAfter?: number
  /** Handle the key again, rate limited (counts as a retry). */
  requeue?: boolean
}

/** An error that retrying will not fix: logged and the key dropped, never retried. */
export class TerminalError extends KubevisorError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_TERMINAL', message, options)
  }
}

/** Options of {@link WorkerPool}. */
export interface WorkerPoolOptions<K> {
  /** A name for logs (and the pool's processes). */
  name: string
  /** Where keys come from. The pool shuts it down when it stops. */
  queue: RateLimitingQueue<K>
  /** Handles one key. The same key is never handled by two workers at once (the queue is stingy). */
  // biome-ignore lint/suspicious/noConfusingVoidType: an async handler that returns nothing must type-check
  handle: (key: K, signal: AbortSignal) => HandleResult | undefined | void | Promise<HandleResult | undefined | void>
  /** Workers (threadiness, `maxConcurrentReconciles`). Default 1. */
  concurrency?: number
  /** Retries of a failing key before it is dropped with an error log. Default: unlimited. */
  maxRetries?: number
  /** Errors not worth retrying (default: `TerminalError`). */
  isTerminal?: (err: unknown) => boolean
  logger?: Logger
  clock?: Clock
}

/** The key a worker holds, by worker: given back to the queue if the worker exits with it. */
type Assigned<K> = Map<Pid, K>

/** For introspection: handled and failed counts, and when each worker took its key (by worker). */
interface PoolStats {
  handled: number
  failed: number
  readonly since: Map<Pid, number>
  readonly clock: Clock
}

/** A key handed to a worker by the queue (or `undefined`: the queue is shut down and empty). */
class Work<K> {
  readonly key: K | undefined
  constructor(key: K | undefined) {
    this.key = key
  }
}

interface WorkerState<K> {
  opts: WorkerPoolOptions<K>
  assigned: Assigned<K>
  stats: PoolStats
  abort: AbortController
}

/** Asks the queue for the next key and delivers it to the worker as a message. */
function request<K>(self: Pid, state: WorkerState<K>): void {
  const { queue } = state.opts
  const giveBack = (key: K) => {
    queue.done(key)
    queue.add(key)
  }
  queue.get().then((key) => {
    if (key !== undefined) {
      if (!self.alive) {
        giveBack(key)
        return
      }
      state.assigned.set(self, key)
      state.stats.since.set(self, state.stats.clock.now())
    }
    GenServer.send(self, new Work(key))
  })
}

/**
 * One worker: takes keys from the queue one at a time. It never blocks its mailbox while
 * waiting for a key (the key arrives as a message), so a shutdown is always heard; and
 * whatever way it exits, a key it was holding goes back to the queue (see WorkerPool).
 */
const Worker: Behaviour<WorkerState<any>, WorkerState<any>> = {
  behaviourName: 'Worker',
  formatStatus: (state) => ({ pool: state.opts.name }),
  init(state, ctx) {
    request(ctx.self, state)
    return ok(state)
  },

  async handleInfo(msg, state, ctx) {
    if (!(msg instanceof Work)) return noreply(state)
    if (msg.key === undefined) return stop('normal', state) // shut down and drained
    const key = msg.key
    const { queue, handle, maxRetries = Number.POSITIVE_INFINITY } = state.opts
    const isTerminal = state.opts.isTerminal ?? ((err: unknown) => err instanceof TerminalError)
    let result: HandleResult | undefined
    let failure: { err: unknown } | undefined
    try {
      result = (await handle(key, state.abort.signal)) ?? undefined
    } catch (err) {
      failure = { err }
    }
    // Killed while handling: its exit already gave the key back (and another worker may hold
    // it now), so the queue is no longer this worker's to touch — a `done` here would let
    // the key be handed out twice at once.
    if (!state.assigned.has(ctx.self)) return noreply(state)
    try {
      if (failure) throw failure.err
      if (result?.requeueAfter !== undefined) {
        queue.forget(key)
        queue.addAfter(key, result.requeueAfter)
      } else if (result?.requeue) {
        queue.addRateLimited(key)
      } else {
        queue.forget(key)
      }
    } catch (err) {
      const retries = queue.numRequeues(key)
      if (isTerminal(err)) {
        ctx.log.error({ key: String(key), err }, 'terminal error; not retrying')
        queue.forget(key)
      } else if (queue.shuttingDown) {
        // Draining: the queue takes no more keys, so there is no retry to promise.
        ctx.log.error({ key: String(key), retries, err }, 'handling failed while the queue drains; not retried')
        queue.forget(key)
      } else if (retries < maxRetries) {
        ctx.log.warn({ key: String(key), retries, reason: (err as Error)?.message ?? String(err) }, 'handling failed; retrying with backoff')
        queue.addRateLimited(key)
      } else {
        ctx.log.error({ key: String(key), retries, err }, 'handling failed too many times; dropping the key')
        queue.forget(key)
      }
    } finally {
      state.assigned.delete(ctx.self)
      state.stats.since.delete(ctx.self)
      state.stats.handled++
      if (failure) state.stats.failed++
      queue.done(key)
    }
    request(ctx.self, state)
    return noreply(state)
  },

  terminate(_reason, state) {
    state.abort.abort()
  },
}

/**
 * A pool of worker processes draining a rate-limited work queue — the part every dispatch
 * style stands on. Workers run under their own supervisor: a worker that crashes (or is
 * killed) is restarted, and the key it held is put back in the queue, so nothing is
 * dropped; `stop()` refuses new keys and lets the workers drain what is queued.
 *
 * Handling follows client-go's controller loop: success forgets the key's failures;
 * `{ requeueAfter }` re-adds it later; a thrown error re-adds it rate limited up to
 * `maxRetries`, after which it is dropped with an error log; a terminal error is logged
 * and not retried.
 *
 * @example
 * ```ts
 * const queue = new RateLimitingQueue<string>({ name: 'pods' })
 * const pool = await WorkerPool.start({ name: 'pods', queue, concurrency: 4, handle: reconcile })
 * queue.add('default/web-0')
 * await pool.stop()
 * ```
 */
export class WorkerPool<K> {
  readonly supervisor: Pid
  readonly queue: RateLimitingQueue<K>
  readonly #assigned: Assigned<K>

  private constructor(supervisor: Pid, queue: RateLimitingQueue<K>, assigned: Assigned<K>) {
    this.supervisor = supervisor
    this.queue = queue
    this.#assigned = assigned
  }

  /** Keys being handled right now. */
  get inFlight(): K[] {
    return [...this.#assigned.values()]
  }

  /** Starts the workers (linked to `env.link` when given, e.g. from a child spec). */
  static async start<K>(opts: WorkerPoolOptions<K>, env?: Partial<ChildEnv>): Promise<WorkerPool<K>> {
    const assigned: Assigned<K> = new Map()
    const stats: PoolStats = { handled: 0, failed: 0, since: new Map(), clock: opts.clock ?? env?.clock ?? systemClock }
    const supervisor = await Supervisor.start(workerSpecs(opts, assigned, stats), {
      strategy: 'one_for_one',
      maxRestarts: 10,
      maxSeconds: 10,
      logger: (env?.logger ?? opts.logger ?? defaultLogger()).child({ pool: opts.name }),
      clock: env?.clock ?? opts.clock,
      link: env?.link,
    })
    attachProbe(supervisor, { kind: 'workerPool', read: () => poolSnapshot(opts, assigned, stats) })
    return new WorkerPool(supervisor, opts.queue, assigned)
  }

  /**
   * Stops: the queue refuses new keys, the workers finish what is queued and in flight
   * (up to `timeoutMs`, then the queue's drain error names the keys left), then they exit.
   */
  async stop(timeoutMs = 30_000): Promise<void> {
    let failure: unknown
    await this.queue.shutDownWithDrain(timeoutMs).catch((err) => {
      failure = err
    })
    if (this.supervisor.alive) await Supervisor.stop(this.supervisor, 'shutdown')
    if (failure) throw failure
  }
}

/** The workers' child specs; each worker's exit gives back the key it held. */
function workerSpecs<K>(opts: WorkerPoolOptions<K>, assigned: Assigned<K>, stats: PoolStats): ChildSpec[] {
  const concurrency = opts.concurrency ?? 1
  if (!Number.isInteger(concurrency) || concurrency < 1) throw new RangeError(`concurrency must be an integer >= 1, got ${String(concurrency)}`)
  return Array.from({ length: concurrency }, (_, i) => ({
    id: `worker-${i}`,
    // transient: a worker that exits normally (queue shut down and drained) stays down.
    restart: 'transient' as const,
    shutdown: 30_000,
    start: async (env: ChildEnv) => {
      const abort = new AbortController()
      const pid = await GenServer.start(Worker, { opts, assigned, stats, abort }, env)
      asProcess(pid).onExit(() => {
        // However it exits (a brutal kill skips terminate), a call still running learns it.
        abort.abort()
        stats.since.delete(pid)
        const key = assigned.get(pid)
        if (key === undefined) return
        assigned.delete(pid)
        opts.queue.done(key)
        if (!opts.queue.shuttingDown) opts.queue.add(key)
        else opts.logger?.warn({ key: String(key) }, 'a worker exited with a key while the queue was shutting down; the key is not handled')
      })
      return pid
    },
  }))
}

/** The pool probe's reading (see `inspectWorkerPool`): queue figures, workers busy, keys in flight oldest first. */
function poolSnapshot<K>(opts: WorkerPoolOptions<K>, assigned: Assigned<K>, stats: PoolStats): WorkerPoolSnapshot {
  const { queue } = opts
  const inFlight: { key: string; since: number }[] = []
  for (const [pid, key] of assigned) inFlight.push({ key: String(key), since: stats.since.get(pid) ?? stats.clock.now() })
  inFlight.sort((a, b) => a.since - b.since)
  return {
    name: opts.name,
    maxWorkers: opts.concurrency ?? 1,
    activeWorkers: assigned.size,
    depth: queue.len,
    delayed: queue.waiting,
    processing: queue.processing,
    addsTotal: queue.addsTotal,
    retriesTotal: queue.retriesTotal,
    handledTotal: stats.handled,
    failedTotal: stats.failed,
    oldestInFlightSince: inFlight[0]?.since,
    inFlight: inFlight.slice(0, 10),
    shuttingDown: queue.shuttingDown,
  }
}
