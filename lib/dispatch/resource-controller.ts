/**
 * The upsert/delete style (consul-k8s's `helper/controller`): a resource says how to
 * upsert an object and how to delete one, optionally with background tasks; the
 * controller watches, queues keys, retries, and runs the tasks for its lifetime.
 */
import type { KubeConfig } from '@kubernetes/client-node'
import { type Behaviour, GenServer, noreply, ok, stop } from '../actor/index.ts'
import { KubevisorError } from '../errors.ts'
import { InformerFactory, type InformerTarget, type SharedInformer } from '../informer/informer.ts'
import { readSubscription, type Subscription } from '../informer/subscription.ts'
import { defaultLogger, type Logger } from '../log.ts'
import type { QueueMetricsProvider, RateLimiter, RateLimitingQueue } from '../queue/index.ts'
import { type ChildSpec, Supervisor } from '../supervisor/index.ts'
import { type BackoffPolicy, RESTART_BACKOFF } from '../time/backoff.ts'
import type { Clock } from '../time/clock.ts'
import type { KubeObject } from '../watch/object.ts'
import { type DispatchCore, type DispatchSource, dispatchProcessSpec, runSupervised, runOnceSpec } from './dispatch-process.ts'
import { TerminalError } from './workers.ts'

/** A task that runs for a controller's lifetime; it must return (or reject) soon after `signal` aborts. */
export type BackgroundTask = (signal: AbortSignal) => Promise<void>

/**
 * What a {@link ResourceController} manages (consul-k8s's `Resource` + `Backgrounder`).
 *
 * - `upsert(key, object, signal)`: the object exists; `object` is its current version
 *   from the shared store (not the version of the event that queued the key).
 * - `delete(key, lastKnown, signal)`: the object is gone; `lastKnown` is its last version
 *   (the informer's delete event: the server's final state, or the last one seen).
 * - `backgroundTasks`: each runs from the controller's start to its stop, with a signal
 *   that aborts on stop; stop waits for them.
 *
 * Keys are `namespace/name` (`name` for cluster-scoped objects), client-go's
 * `MetaNamespaceKeyFunc`. Either callback may throw: see {@link ResourceController}.
 */
export interface UpsertDeleteResource<T extends KubeObject = KubeObject> {
  /** The collection to watch, through a shared informer. */
  readonly target: InformerTarget
  /** Make `key` exist like `object` (its current version in the store). Throw to retry; throw `TerminalError` to give up. */
  upsert(key: string, object: T, signal: AbortSignal): void | Promise<void>
  /** Make `key` gone; `lastKnown` is the object its delete event carried. Throw to retry. */
  delete(key: string, lastKnown: T, signal: AbortSignal): void | Promise<void>
  /** Run for the controller's lifetime, each restarted with backoff when it rejects; their signals abort on stop. */
  backgroundTasks?: readonly BackgroundTask[]
}

/** Options of a {@link ResourceController}. */
export interface ResourceControllerOptions {
  /** Shared informers to use; or give `kubeConfig` and the controller makes (and supervises) its own. */
  informers?: InformerFactory
  /** Cluster access, when the controller makes its own informers. */
  kubeConfig?: KubeConfig
  /** For logs, the queue's metrics label and the child spec id. Default `'<kind>-controller'`. */
  name?: string
  /** Retries of a failing key before it is dropped with an error log. Default 5 (consul-k8s). */
  maxRetries?: number
  /** Workers. Default 1. */
  concurrency?: number
  /** Retry delays. Default: client-go's `DefaultControllerRateLimiter`. */
  rateLimiter?: RateLimiter<string>
  /** Errors not worth retrying. Default: `TerminalError`. */
  isTerminal?: (err: unknown) => boolean
  /** How long a stop waits for queued and in-flight keys, and for each background task. Default 30 000 ms. */
  drainTimeoutMs?: number
  /** Delay between restarts of a crashed background task. Default `RESTART_BACKOFF` (100 ms → 10 s, ×2, jitter). */
  backgroundBackoff?: BackoffPolicy
  /** Queue metrics (`workqueue_*`, labelled with `name`). Default off. */
  metrics?: QueueMetricsProvider
  /** Default: kubevisor's default logger. */
  logger?: Logger
  /** Default: the system clock. */
  clock?: Clock
}

/** A resource the controller cannot run (`ERR_INVALID_RESOURCE`). */
export class InvalidResourceError extends KubevisorError {
  constructor(message: string) {
    super('ERR_INVALID_RESOURCE', message)
  }
}

/** Counters of a {@link ResourceController}, since it was created. */
export interface ResourceControllerStats {
  upserts: number
  deletes: number
  /** `modified` events skipped because the resourceVersion did not change. */
  unchanged: number
  /** Calls that threw (each retry that fails counts again). */
  failures: number
}

/**
 * A controller that upserts and deletes (consul-k8s's `helper/controller.Controller`):
 * give it a resource with `upsert`, `delete` and optional background tasks, and run it
 * with `run(signal)` or under your tree with `childSpec()`.
 *
 * **Work.** Every change of an object queues its key (`namespace/name`); a key queued
 * twice is handled once, with the latest state. When a worker takes the key: if the store
 * has the object, `upsert(key, current)`; if not, `delete(key, lastKnown)` with the object
 * the delete event carried. An object deleted and created again before its key was handled
 * gets `delete(key, old)` first, then `upsert(key, new)` (told apart by uid). A `modified`
 * event with an unchanged resourceVersion queues nothing. Workers start once the store has
 * synced; the objects that existed then are all upserted.
 *
 * **Failures.** A callback that throws is retried with the rate limiter up to `maxRetries`
 * (default 5), then the key is dropped with an error log (a later change queues it again);
 * a `TerminalError` is dropped at once. A killed worker is restarted and its key handled
 * again (at least once).
 *
 * **Background tasks** run as supervised processes for the controller's lifetime, each
 * with an abort signal. A task that rejects is logged and restarted with backoff
 * (`backgroundBackoff`); one that resolves on its own is done and not restarted. More than
 * 10 restarts within 60 s and the tasks' supervisor gives up, which fails the controller
 * (under `run`, it rejects with `DispatchFailedError`; under your tree, your supervisor
 * decides).
 *
 * **Stop.** Aborting `run`'s signal (or stopping the child) first stops watching and drains
 * the queue — the calls in flight complete and what is queued is handled, failures are not
 * retried then — and then aborts the background tasks and waits for them (each up to
 * `drainTimeoutMs`, then it is killed). `run` resolves after all of that.
 *
 * @example
 * ```ts
 * const controller = new ResourceController<Plain<V1Service>>({
 *   target: { apiVersion: 'v1', kind: 'Service' },
 *   upsert: (key, svc) => catalog.register(key, svc),
 *   delete: (key) => catalog.deregister(key),
 *   backgroundTasks: [(signal) => catalog.syncLoop(signal)],
 * }, { kubeConfig })
 * await controller.run(signal)
 * ```
 */
export class ResourceController<T extends KubeObject = KubeObject> {
  /** For logs, the queue's metrics and the child spec id (default `<kind>-controller`). */
  readonly name: string
  readonly #resource: UpsertDeleteResource<T>
  readonly #options: ResourceControllerOptions
  readonly #informers: InformerFactory
  readonly #ownsInformers: boolean
  readonly #informer: SharedInformer<T>
  readonly #maxRetries: number
  readonly #isTerminal: (err: unknown) => boolean
  readonly #logger: Logger
  /** Keys whose delete event was seen and not yet handled → the object that event carried. */
  readonly #lastKnown = new Map<string, T>()
  readonly #stats: ResourceControllerStats = { upserts: 0, deletes: 0, unchanged: 0, failures: 0 }
  #synced = false
  /** Whether a supervisor from its child spec is running: one run at a time (they share its pending deletes). */
  readonly #run = { running: false }

  constructor(resource: UpsertDeleteResource<T>, options: ResourceControllerOptions) {
    if (!options.informers && !options.kubeConfig) throw new InvalidResourceError('a ResourceController needs informers or a kubeConfig')
    if (typeof resource?.upsert !== 'function' || typeof resource.delete !== 'function') throw new InvalidResourceError('a resource needs upsert and delete functions')
    for (const task of resource.backgroundTasks ?? []) if (typeof task !== 'function') throw new InvalidResourceError('background tasks must be functions (signal) => Promise<void>')
    this.#resource = resource
    this.#options = options
    this.#logger = options.logger ?? defaultLogger()
    this.#ownsInformers = !options.informers
    this.#informers = options.informers ?? new InformerFactory({ kubeConfig: options.kubeConfig, logger: this.#logger, clock: options.clock })
    this.#informer = this.#informers.informer<T>(resource.target)
    this.name = options.name ?? `${(resource.target.kind ?? 'resource').toLowerCase()}-controller`
    this.#maxRetries = options.maxRetries ?? 5
    if (!(this.#maxRetries >= 0)) throw new RangeError(`maxRetries must be >= 0, got ${String(options.maxRetries)}`)
    this.#isTerminal = options.isTerminal ?? ((err) => err instanceof TerminalError)
  }

  /** True while running, once the controller's view of its store has synced (consul-k8s `HasSynced`). */
  hasSynced(): boolean {
    return this.#synced && this.#informer.store.hasSynced
  }

  /** The resourceVersion the store was last brought up to; `''` before the first list. */
  lastSyncResourceVersion(): string {
    return this.#informer.store.lastSyncResourceVersion ?? ''
  }

  /** The shared informer the controller reads (its store holds the current objects). */
  get informer(): SharedInformer<T> {
    return this.#informer
  }

  /** Deletes seen and not handled yet (their last known objects are kept until then). */
  get pendingDeletes(): number {
    return this.#lastKnown.size
  }

  /** Counters since the controller was created. */
  get stats(): Readonly<ResourceControllerStats> {
    return { ...this.#stats }
  }

  /**
   * Runs until `signal` aborts, under a supervisor of its own; resolves after the drain
   * and after the background tasks returned. Rejects with `DispatchFailedError` if that
   * supervisor gives up.
   */
  run(signal: AbortSignal): Promise<void> {
    return runSupervised(this.name, this.childSpec(), signal, this.#logger, this.#options.clock)
  }

  /**
   * A child spec (a supervisor) for your tree: the controller's own informers (if it made
   * them), its background tasks, and its dispatch process, started in that order and
   * stopped in reverse (drain first, then the tasks).
   */
  childSpec(options: { id?: string } = {}): ChildSpec {
    const concurrency = this.#options.concurrency ?? 1
    if (!Number.isInteger(concurrency) || concurrency < 1) throw new RangeError(`concurrency must be an integer >= 1, got ${String(concurrency)}`)
    const drainTimeoutMs = this.#options.drainTimeoutMs ?? 30_000
    const tasks = this.#resource.backgroundTasks ?? []
    const children: ChildSpec[] = []
    if (this.#ownsInformers) children.push(this.#informers.childSpec('informers'))
    if (tasks.length > 0) {
      const backoff = this.#options.backgroundBackoff ?? RESTART_BACKOFF
      const specs = tasks.map((task, i) => backgroundTaskSpec(`task-${i}`, task, backoff, drainTimeoutMs))
      children.push({ id: 'background', type: 'supervisor', start: (env) => Supervisor.start(specs, { ...env, strategy: 'one_for_one', maxRestarts: 10, maxSeconds: 60 }) })
    }
    children.push(dispatchProcessSpec(this.#core(concurrency, drainTimeoutMs), 'dispatch'))
    return runOnceSpec(options.id ?? this.name, children, this.#run, () => new InvalidResourceError(`controller ${JSON.stringify(this.name)} is already running: run it once at a time`))
  }

  #core(concurrency: number, drainTimeoutMs: number): DispatchCore {
    return {
      name: this.name,
      concurrency,
      maxRetries: this.#maxRetries,
      drainTimeoutMs,
      rateLimiter: this.#options.rateLimiter,
      metrics: this.#options.metrics,
      open: (queue, log) => this.#open(queue, log),
      handle: async (queue, key, signal, log) => {
        await this.#handle(queue, key, signal, log)
        return undefined
      },
    }
  }

  #open(queue: RateLimitingQueue<string>, log: Logger): DispatchSource {
    // Deletes seen by an earlier incarnation and not handled yet are not lost.
    for (const key of this.#lastKnown.keys()) queue.add(key)
    this.#informer.hold() // the store must outlive the subscription until the drain is over
    const sub = this.#informer.subscribe() as Subscription<T>
    let onSynced!: () => void
    let onClosed!: (err: unknown) => void
    const ready = new Promise<void>((resolve, reject) => {
      onSynced = resolve
      onClosed = reject
    })
    ready.catch(() => {})
    readSubscription(
      sub,
      {
        synced: () => {
          this.#synced = true
          onSynced()
        },
        change: (type, key, object) => {
          if (type === 'deleted') this.#lastKnown.set(key, object)
          queue.add(key)
        },
        unchanged: () => {
          this.#stats.unchanged++
        },
      },
      log,
    )
    return {
      ready,
      close: () => {
        this.#synced = false
        sub.close()
        onClosed(new Error('closed'))
      },
      release: () => {
        this.#informer.release()
      },
    }
  }

  async #handle(queue: RateLimitingQueue<string>, key: string, signal: AbortSignal, log: Logger): Promise<void> {
    const current = this.#informer.store.getByKey(key)
    const gone = this.#lastKnown.get(key)
    try {
      if (gone !== undefined && (current === undefined || uidOf(current) !== uidOf(gone))) {
        this.#stats.deletes++
        await this.#resource.delete(key, gone, signal)
        if (this.#lastKnown.get(key) === gone) this.#lastKnown.delete(key)
      } else if (gone !== undefined && this.#lastKnown.get(key) === gone) {
        this.#lastKnown.delete(key) // the same object is back in the store: its delete event was stale
      }
      if (current !== undefined) {
        this.#stats.upserts++
        await this.#resource.upsert(key, current, signal)
      }
    } catch (err) {
      this.#stats.failures++
      const terminal = this.#isTerminal(err)
      if (queue.shuttingDown && !terminal) {
        // Draining: nothing is retried. A pending delete stays for the next run; an upsert is
        // redone by the next run's initial sync anyway.
        log.warn({ key, err }, 'failed while the controller drains; not retried, left for the next run')
        return
      }
      // Mirrors the WorkerPool's decision: a dropped key forgets its last known object.
      const dropped = terminal || queue.numRequeues(key) >= this.#maxRetries
      if (dropped && gone !== undefined && this.#lastKnown.get(key) === gone) this.#lastKnown.delete(key)
      throw err
    }
  }
}

function uidOf(object: KubeObject): string | undefined {
  return object.metadata?.uid
}

const TASK_DONE = Symbol('background.done')

class TaskFailed {
  readonly err: unknown
  constructor(err: unknown) {
    this.err = err
  }
}

interface TaskState {
  abort: AbortController
  done: Promise<void>
}

/** One background task as a process: a rejection is a crash (restarted with backoff); terminate aborts it and waits. */
const TaskProcess: Behaviour<BackgroundTask, TaskState> = {
  init(task, ctx) {
    const abort = new AbortController()
    // Killed, or by its killed supervisor's exit signal, no terminate runs: still abort the task.
    GenServer.onExit(ctx.self, () => abort.abort())
    const done = Promise.resolve().then(() => task(abort.signal))
    done.then(
      () => GenServer.send(ctx.self, TASK_DONE),
      (err) => GenServer.send(ctx.self, new TaskFailed(err)),
    )
    return ok({ abort, done })
  },

  handleInfo(msg, state) {
    if (msg === TASK_DONE) return stop('normal', state)
    if (msg instanceof TaskFailed) return stop(msg.err instanceof Error ? msg.err : new Error(String(msg.err)), state)
    return noreply(state)
  },

  async terminate(_reason, state) {
    state.abort.abort()
    await state.done.catch(() => {})
  },
}

function backgroundTaskSpec(id: string, task: BackgroundTask, backoff: BackoffPolicy, shutdownMs: number): ChildSpec {
  return {
    id,
    // transient: a task that returns on its own is done; one that rejects is restarted.
    restart: 'transient',
    backoff,
    shutdown: shutdownMs,
    start: (env) => GenServer.start(TaskProcess, task, env),
  }
}
