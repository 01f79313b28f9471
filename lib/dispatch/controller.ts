/**
 * The reconcile loop (controller-runtime's model): watches feed requests into a
 * rate-limited queue through predicates and handlers; `maxConcurrentReconciles` workers
 * reconcile one request at a time each, and never the same object twice at once.
 */
import type { KubeConfig } from '@kubernetes/client-node'
import { type Behaviour, GenServer, noreply, ok, type Pid, stop } from '../actor/index.ts'
import { KubevisorError } from '../errors.ts'
import { InformerFactory, type InformerTarget, type SharedInformer } from '../informer/informer.ts'
import { defaultLogger, type Logger } from '../log.ts'
import { type QueueMetricsProvider, type RateLimiter, RateLimitingQueue } from '../queue/index.ts'
import { type ChildEnv, type ChildSpec, Supervisor } from '../supervisor/index.ts'
import { type Clock, systemClock } from '../time/clock.ts'
import type { KubeObject } from '../watch/object.ts'
import { enqueueObject, enqueueOwner, type EventHandler } from './handlers.ts'
import type { ReconcileMetricsProvider, ReconcileOutcome } from './metrics.ts'
import type { Predicate } from './predicates.ts'
import { type ControllerEvent, parseRequestKey, type Request, requestKey } from './request.ts'
import { kind, type Source, type SourceContext, type SourceStream } from './sources.ts'
import { type HandleResult, WorkerPool } from './workers.ts'

/** What a reconcile may ask for next; nothing means done (its failure history is forgotten). */
export interface ReconcileResult extends HandleResult {
  /** Reconcile this object again after this many ms (its failure count is reset). */
  requeueAfter?: number
  /** Reconcile again, rate limited (counts as a retry). */
  requeue?: boolean
}

/** What a reconcile gets besides its request. */
export interface ReconcileContext {
  /** Aborted when the worker is stopped (after the drain) or killed. */
  readonly signal: AbortSignal
  /** The controller's logger, bound to the request's key. */
  readonly log: Logger
  /** Failed attempts of this request so far (0 on a first try or after a success). */
  readonly retries: number
}

/**
 * Brings the object a request names to its desired state. Read the current state (a
 * store, the API server), act, and return; throw to retry with rate limiting, throw a
 * `TerminalError` to give up at once.
 */
export type ReconcileFunc = (
  request: Request,
  context: ReconcileContext,
  // biome-ignore lint/suspicious/noConfusingVoidType: an async reconciler that returns nothing must type-check
) => ReconcileResult | undefined | void | Promise<ReconcileResult | undefined | void>

/** A reconcile function, or an object with a `reconcile` method (controller-runtime's `Reconciler` interface). */
export type Reconciler =
  | ReconcileFunc
  | {
      /** Brings one object to its desired state (see `ReconcileFunc`). */
      reconcile: ReconcileFunc
    }

/** Where a controller gets its watches, and how it logs. */
export interface ControllerOptions {
  /** Shared informers to watch through (shared with your other consumers; you run and stop the factory). */
  informers?: InformerFactory
  /** Or a cluster: the controller makes its own factory and runs it in its tree. */
  kubeConfig?: KubeConfig
  /** Default: kubevisor's default logger. */
  logger?: Logger
  /** Default: the system clock (requeueAfter and retry delays run on it). */
  clock?: Clock
  /** controller-runtime's reconcile metrics (see `prometheusReconcileMetrics`). Default off. */
  reconcileMetrics?: ReconcileMetricsProvider
  /** Work queue metrics for this controller's queue when `withOptions` gives none. Default off. */
  queueMetrics?: QueueMetricsProvider
}

/** How a controller runs its reconciles (controller-runtime `controller.Options`). */
export interface ControllerRunOptions {
  /** Reconciles running at once, never two of the same object. Default 1. */
  maxConcurrentReconciles?: number
  /** Retry delays; default client-go's (per key 5 ms → 1000 s, overall 10 qps burst 100). */
  rateLimiter?: RateLimiter<string>
  /** Retries of a failing request before it is dropped with an error log. Default: unlimited (as controller-runtime). */
  maxRetries?: number
  /** How long stopping waits for queued and running reconciles. Default 30 000 ms. */
  drainTimeoutMs?: number
  /** Work queue metrics (labelled with the controller's name). Default off. */
  metrics?: QueueMetricsProvider
}

/** Options of `for`. */
export interface ForOptions {
  /** Predicates for this watch only, after the controller's event filters. */
  predicates?: Predicate[]
}

/** Options of `owns`. */
export interface OwnsOptions {
  /** Only the controller owner reference (`controller: true`) counts. Default true (as controller-runtime's `Owns`). */
  onlyController?: boolean
  predicates?: Predicate[]
}

/** Options of `watches`. */
export interface WatchesOptions {
  predicates?: Predicate[]
}

/** A controller that cannot be built or started as asked (`ERR_INVALID_CONTROLLER`). */
export class InvalidControllerError extends KubevisorError {
  constructor(message: string) {
    super('ERR_INVALID_CONTROLLER', message)
  }
}

interface Watch {
  readonly source: Source
  readonly handler: EventHandler
  readonly predicates: readonly Predicate[]
}

/**
 * Builds a controller step by step: `for` the kind it reconciles, `owns` the kinds it
 * creates, `watches` anything else, `withEventFilter`, `withOptions`, then `build`.
 * Made by {@link controller}.
 */
export class ControllerBuilder {
  readonly #name: string
  readonly #options: ControllerOptions
  #for: InformerTarget | undefined
  readonly #watches: { source: Source; handler: EventHandler; predicates: Predicate[]; owner?: OwnsOptions }[] = []
  readonly #filters: Predicate[] = []
  #run: ControllerRunOptions = {}

  /** @internal Use {@link controller}. */
  constructor(name: string, options: ControllerOptions) {
    this.#name = name
    this.#options = options
  }

  /**
   * The kind this controller reconciles: each of its objects' events enqueues the object
   * itself (`kind(target)` + `enqueueObject()`). Once per controller. For a cluster-scoped
   * kind with owned objects, set `namespaced: false` so owners are enqueued without a
   * namespace.
   */
  for(target: InformerTarget, options: ForOptions = {}): this {
    if (this.#for) throw new InvalidControllerError(`controller ${this.#name}: for(...) may be called once`)
    this.#for = target
    this.#watches.push({ source: kind(target), handler: enqueueObject(), predicates: [...(options.predicates ?? [])] })
    return this
  }

  /**
   * A kind this controller creates and owns: an event of one of its objects enqueues the
   * owner of the `for` kind named in its `metadata.ownerReferences` (by default only the
   * controller reference), so a deleted or changed child reconciles its parent.
   *
   * Only the children's metadata is needed for that: `owns({ ..., metadataOnly: true })`
   * watches them as `PartialObjectMetadata` (controller-runtime's `Owns(obj,
   * builder.OnlyMetadata)`, kube-rs' metadata watcher), a fraction of the memory. The
   * default stays the full objects, because of controller-runtime's warning: a metadata-only
   * informer is a second cache, apart from the full one — if the reconciler also reads the
   * same kind in full (`informers.informer({ apiVersion, kind })`), both watches run and both
   * stores are kept, which costs more than the full one alone.
   */
  owns(target: InformerTarget, options: OwnsOptions = {}): this {
    this.#watches.push({ source: kind(target), handler: enqueueObject(), predicates: [...(options.predicates ?? [])], owner: options })
    return this
  }

  /** Any source with any handler (e.g. `kind(...)` + `enqueueMapped(...)`, or `channel(...)` + `enqueueObject()`). */
  watches<T extends KubeObject = KubeObject>(source: Source<T>, handler: EventHandler<T>, options: WatchesOptions = {}): this {
    this.#watches.push({ source: source as unknown as Source, handler: handler as unknown as EventHandler, predicates: [...(options.predicates ?? [])] })
    return this
  }

  /** A predicate every informer-backed watch applies before its own (not `channel` sources, as controller-runtime's raw sources). */
  withEventFilter(predicate: Predicate): this {
    this.#filters.push(predicate)
    return this
  }

  /** How reconciles run; see {@link ControllerRunOptions} for defaults. */
  withOptions(options: ControllerRunOptions): this {
    this.#run = { ...this.#run, ...options }
    return this
  }

  /** The controller (not started: `start()` it, or run its `childSpec()` under your supervisor). */
  build(reconciler: Reconciler): Controller {
    const reconcile = typeof reconciler === 'function' ? reconciler : reconciler?.reconcile?.bind(reconciler)
    if (typeof reconcile !== 'function') throw new InvalidControllerError(`controller ${this.#name}: build needs a reconcile function or an object with reconcile()`)
    if (this.#watches.length === 0) throw new InvalidControllerError(`controller ${this.#name}: nothing to watch; call for(...) or watches(...)`)
    const concurrency = this.#run.maxConcurrentReconciles ?? 1
    if (!Number.isInteger(concurrency) || concurrency < 1) throw new InvalidControllerError(`controller ${this.#name}: maxConcurrentReconciles must be an integer >= 1, got ${String(concurrency)}`)
    if (!this.#options.informers && !this.#options.kubeConfig) throw new InvalidControllerError(`controller ${this.#name}: give informers (an InformerFactory) or a kubeConfig`)
    const owner = this.#for
    const watches: Watch[] = this.#watches.map((w) => {
      let handler = w.handler
      if (w.owner) {
        if (!owner?.apiVersion || !owner.kind) throw new InvalidControllerError(`controller ${this.#name}: owns(...) needs for(...) with apiVersion and kind`)
        handler = enqueueOwner({ apiVersion: owner.apiVersion, kind: owner.kind, namespaced: owner.namespaced }, { onlyController: w.owner.onlyController ?? true })
      }
      const predicates = w.source.type === 'informer' ? [...this.#filters, ...w.predicates] : w.predicates
      return { source: w.source, handler, predicates }
    })
    return new Controller(this.#name, this.#options, this.#run, watches, reconcile, owner)
  }
}

/**
 * A reconcile loop in the style of controller-runtime: declare what it watches, give it a
 * function that makes one object right, run it under your supervisor.
 *
 * When to use: a controller whose work is "make this object's world match its spec",
 * level-triggered — the reconciler reads current state and does not care which event woke
 * it. Events for one object collapse in the queue; a failing reconcile is retried with
 * rate limiting (client-go's delays), a `TerminalError` is logged and not retried;
 * `{ requeueAfter }` reconciles again later.
 *
 * Guarantees: one object is never reconciled twice at once, however many
 * `maxConcurrentReconciles`; a change that arrives during a reconcile of its object means
 * one more reconcile after it; workers wait until every informer-backed watch has synced
 * (as controller-runtime's `WaitForCacheSync`), so reconcilers never read a half-filled
 * store. A crashed worker is restarted and its request requeued; a source process that
 * crashes re-subscribes and replays its store. Stopping stops the sources first, then
 * reconciles what is queued and running (up to `drainTimeoutMs`), then the workers.
 *
 * @example
 * ```ts
 * const ctl = controller('site', { informers, logger })
 *   .for({ apiVersion: 'example.com/v1', kind: 'Site' })
 *   .owns({ apiVersion: 'v1', kind: 'ConfigMap' })
 *   .withEventFilter(generationChanged)
 *   .withOptions({ maxConcurrentReconciles: 4 })
 *   .build(async ({ namespace, name }, { log }) => {
 *     const site = sites.store.get(name, namespace)
 *     if (!site) return                              // deleted: owned objects are garbage collected
 *     await ensureConfigMap(site)
 *     return { requeueAfter: 60_000 }
 *   })
 * await Supervisor.start([informers.childSpec(), ctl.childSpec()])
 * ```
 */
export function controller(name: string, options: ControllerOptions): ControllerBuilder {
  if (typeof name !== 'string' || name.length === 0) throw new InvalidControllerError('a controller needs a name')
  return new ControllerBuilder(name, options)
}

/** One run of a controller's tree: its queue and its wait for caches to sync. */
class Run {
  readonly queue: RateLimitingQueue<string>
  pool: WorkerPool<string> | undefined
  drainError: unknown
  /** Informer-backed watches (by index) not synced yet. */
  readonly #unsynced: Set<number>
  #synced: boolean
  #abandoned = false
  readonly #waiters = new Set<(ok: boolean) => void>()

  constructor(queue: RateLimitingQueue<string>, informerWatches: number[]) {
    this.queue = queue
    this.#unsynced = new Set(informerWatches)
    this.#synced = this.#unsynced.size === 0
  }

  get synced(): boolean {
    return this.#synced
  }

  markSynced(watch: number): void {
    if (!this.#unsynced.delete(watch) || this.#unsynced.size > 0) return
    this.#synced = true
    this.#release(true)
  }

  /** Resolves true once synced, false if the run stops first or the signal aborts. */
  waitForSync(signal: AbortSignal): Promise<boolean> {
    if (this.#synced) return Promise.resolve(true)
    if (this.#abandoned || signal.aborted) return Promise.resolve(false)
    return new Promise((resolve) => {
      const done = (ok: boolean) => {
        signal.removeEventListener('abort', onAbort)
        this.#waiters.delete(done)
        resolve(ok)
      }
      const onAbort = () => done(false)
      signal.addEventListener('abort', onAbort, { once: true })
      this.#waiters.add(done)
    })
  }

  /** Stopping before the caches synced: queued requests are dropped, not reconciled on a partial view. */
  abandon(): void {
    this.#abandoned = true
    this.#release(false)
  }

  #release(ok: boolean): void {
    for (const w of [...this.#waiters]) w(ok)
  }
}

/** A reconcile loop built by {@link controller}. */
export class Controller {
  /** The name given to `controller(name)`: logs, metrics, process names. */
  readonly name: string
  readonly #options: ControllerOptions
  readonly #run: ControllerRunOptions
  readonly #watches: readonly Watch[]
  readonly #reconcile: ReconcileFunc
  readonly #for: InformerTarget | undefined
  readonly #informers: InformerFactory
  readonly #ownsFactory: boolean
  readonly #log: Logger
  readonly #clock: Clock
  #current: Run | undefined
  #pid: Pid | undefined
  readonly #metrics: ReturnType<ReconcileMetricsProvider['forController']> | undefined

  /** @internal Made by {@link ControllerBuilder.build}. */
  constructor(name: string, options: ControllerOptions, run: ControllerRunOptions, watches: Watch[], reconcile: ReconcileFunc, forTarget: InformerTarget | undefined) {
    this.name = name
    this.#options = options
    this.#run = run
    this.#watches = watches
    this.#reconcile = reconcile
    this.#for = forTarget
    this.#log = (options.logger ?? defaultLogger()).child({ controller: name })
    this.#clock = options.clock ?? systemClock
    this.#ownsFactory = !options.informers
    this.#metrics = options.reconcileMetrics?.forController(name)
    this.#informers = options.informers ?? new InformerFactory({ kubeConfig: options.kubeConfig, logger: options.logger, clock: options.clock })
  }

  /** The shared informer of the `for` kind: its store holds the objects this controller reconciles. */
  get informer(): SharedInformer | undefined {
    return this.#for ? this.#informers.informer(this.#for) : undefined
  }

  /** The informer factory the controller watches through (its own when built with a kubeConfig). */
  get informers(): InformerFactory {
    return this.#informers
  }

  /** The root of the controller's tree while it runs (its children: `informers` when it owns them, `workers`, `drain`, `source-<i>`). */
  get supervisor(): Pid | undefined {
    return this.#pid
  }

  /** Whether the controller's tree is running. */
  get running(): boolean {
    return this.#pid?.alive === true
  }

  /** Whether every informer-backed watch has synced (workers reconcile only then). */
  get synced(): boolean {
    return this.#current?.synced === true
  }

  /** Requests being reconciled right now. */
  get inFlight(): Request[] {
    return (this.#current?.pool?.inFlight ?? []).map(parseRequestKey)
  }

  /**
   * A child spec for your supervision tree (a supervisor: the controller's own tree). Each
   * start makes a fresh queue and re-subscribes, so a restarted controller reconciles
   * every object again and loses nothing.
   */
  childSpec(id = `controller:${this.name}`): ChildSpec {
    return { id, type: 'supervisor', start: (env) => this.#startTree(env) }
  }

  /** Starts standalone (scripts and tests); pair with {@link stop}. */
  async start(): Promise<void> {
    if (this.running) throw new InvalidControllerError(`controller ${this.name} is already running`)
    await this.#startTree(undefined)
  }

  /**
   * Stops what {@link start} started: sources first, then the queued and running
   * reconciles are finished (up to `drainTimeoutMs`), then the workers. Rejects with the
   * queue's `QueueDrainTimeoutError` if the drain timed out.
   */
  async stop(): Promise<void> {
    const pid = this.#pid
    const run = this.#current
    if (pid?.alive) await Supervisor.stop(pid, 'shutdown')
    if (run?.drainError) {
      const err = run.drainError
      run.drainError = undefined
      throw err
    }
  }

  async #startTree(env: ChildEnv | undefined): Promise<Pid> {
    const informerWatches = this.#watches.flatMap((w, i) => (w.source.type === 'informer' ? [i] : []))
    const queue = new RateLimitingQueue<string>({ name: this.name, clock: this.#clock, rateLimiter: this.#run.rateLimiter, metrics: this.#run.metrics ?? this.#options.queueMetrics })
    this.#metrics?.init(this.#run.maxConcurrentReconciles ?? 1)
    const run = new Run(queue, informerWatches)
    this.#current = run
    const context: SourceContext = { informers: this.#informers, logger: this.#log }
    const children: ChildSpec[] = []
    if (this.#ownsFactory) children.push(this.#informers.childSpec('informers'))
    children.push(this.#workersSpec(run))
    const drainMs = this.#run.drainTimeoutMs ?? 30_000
    children.push({
      id: 'drain',
      shutdown: drainMs + 5_000,
      start: (e) => GenServer.start(Drain, { run, timeoutMs: drainMs, log: this.#log }, e),
    })
    this.#watches.forEach((watch, index) => {
      children.push({
        id: `source-${index}`,
        // A source that ends (a finished channel) stays down; a crashed one re-opens.
        restart: 'transient',
        start: (e) => GenServer.start(Pump, { run, watch, index, context }, e),
      })
    })
    const pid = await Supervisor.start(children, {
      strategy: 'one_for_one',
      maxRestarts: 10,
      maxSeconds: 60,
      logger: env?.logger.child({ controller: this.name }) ?? this.#log,
      clock: env?.clock ?? this.#options.clock,
      link: env?.link,
    })
    this.#pid = pid
    return pid
  }

  #workersSpec(run: Run): ChildSpec {
    const log = this.#log
    const reconcile = this.#reconcile
    return {
      id: 'workers',
      type: 'supervisor',
      start: async (env) => {
        const pool = await WorkerPool.start(
          {
            name: this.name,
            queue: run.queue,
            concurrency: this.#run.maxConcurrentReconciles ?? 1,
            maxRetries: this.#run.maxRetries,
            logger: log,
            clock: this.#clock,
            handle: async (key, signal) => {
              if (!run.synced && !(await run.waitForSync(signal))) {
                log.debug({ key }, 'stopped before the caches synced; request dropped')
                return undefined
              }
              const context = { signal, log: log.child({ key }), retries: run.queue.numRequeues(key) }
              const metrics = this.#metrics
              if (!metrics) return reconcile(parseRequestKey(key), context)
              const began = this.#clock.now()
              metrics.begin()
              let result: ReconcileResult | undefined
              try {
                result = (await reconcile(parseRequestKey(key), context)) ?? undefined
              } catch (err) {
                metrics.end('error', (this.#clock.now() - began) / 1000, err)
                throw err
              }
              metrics.end(outcomeOf(result), (this.#clock.now() - began) / 1000)
              return result
            },
          },
          env,
        )
        run.pool = pool
        return pool.supervisor
      },
    }
  }
}

/** controller-runtime's `result` label of a reconcile that returned (`reconcileHandler`). */
function outcomeOf(result: ReconcileResult | undefined): ReconcileOutcome {
  if (result?.requeueAfter !== undefined && result.requeueAfter > 0) return 'requeue_after'
  if (result?.requeue || result?.requeueAfter !== undefined) return 'requeue'
  return 'success'
}

interface DrainArg {
  run: Run
  timeoutMs: number
  log: Logger
}

/**
 * Started after the workers and before the sources, so an orderly shutdown reaches it
 * when the sources have stopped and before the workers do: its `terminate` lets the
 * workers finish what is queued and running.
 */
const Drain: Behaviour<DrainArg, DrainArg> = {
  init: (arg) => ok(arg),
  async terminate(_reason, { run, timeoutMs, log }) {
    if (!run.synced) run.abandon()
    if (!run.pool?.supervisor.alive) {
      run.queue.shutDown()
      return
    }
    try {
      await run.queue.shutDownWithDrain(timeoutMs)
    } catch (err) {
      log.error({ err }, 'stopping: reconciles did not finish in time')
      run.drainError = err
    }
  },
}

interface PumpArg {
  run: Run
  watch: Watch
  index: number
  context: SourceContext
}

interface PumpState extends PumpArg {
  stream: SourceStream
  stopped: boolean
}

/** The loop of a source process failed; crash so the supervisor restarts it. */
class PumpFailed {
  readonly error: unknown
  constructor(error: unknown) {
    this.error = error
  }
}
const PUMP_ENDED = Symbol('source ended')

/**
 * One watch: reads its source outside the mailbox (so a shutdown is heard at once),
 * filters each event through the predicates and enqueues what the handler maps it to.
 */
const Pump: Behaviour<PumpArg, PumpState> = {
  init(arg, ctx) {
    const state: PumpState = { ...arg, stream: arg.watch.source.open(arg.context), stopped: false }
    // Killed, or by its killed supervisor's exit signal, no terminate runs: still close the stream.
    GenServer.onExit(ctx.self, () => {
      if (state.stopped) return
      state.stopped = true
      state.stream.close()
    })
    void pump(state, ctx.self, ctx.log)
    return ok(state)
  },
  handleInfo(msg, state) {
    if (msg instanceof PumpFailed) throw msg.error
    if (msg === PUMP_ENDED) return stop('normal', state)
    return noreply(state)
  },
  terminate(_reason, state) {
    state.stopped = true
    state.stream.close()
  },
}

async function pump(state: PumpState, self: Pid, log: Logger): Promise<void> {
  const { run, watch, index, stream } = state
  const replayable = watch.source.type === 'informer'
  try {
    for (;;) {
      const event = await stream.next()
      if (state.stopped) return
      if (event === undefined) {
        if (replayable) log.warn({ source: watch.source.description }, 'a watch ended (its informer stopped); this watch is down until the controller restarts')
        GenServer.send(self, PUMP_ENDED)
        return
      }
      if (event === 'synced') {
        run.markSynced(index)
        continue
      }
      try {
        dispatch(run, watch, event)
      } catch (err) {
        // An informer source replays its store when re-opened: crash and lose nothing.
        // An external event cannot be replayed: log it and go on.
        if (replayable) throw err
        log.error({ err, source: watch.source.description, object: requestKey({ namespace: event.object.metadata?.namespace, name: event.object.metadata?.name ?? '' }) }, 'a predicate or handler threw on an external event; event dropped')
      }
    }
  } catch (err) {
    if (!state.stopped) GenServer.send(self, new PumpFailed(err))
  }
}

function dispatch(run: Run, watch: Watch, event: ControllerEvent): void {
  for (const predicate of watch.predicates) if (!predicate(event)) return
  // One add per distinct request of an event (controller-runtime collects them in a set):
  // a second add of a key a worker already took would reconcile it twice.
  const keys = new Set<string>()
  for (const request of watch.handler(event)) keys.add(requestKey(request))
  for (const key of keys) run.queue.add(key)
}
