/**
 * The EventLoop style (kubehandler's model): handlers named by kind of event, called with
 * a namespace and a name, on one rate-limited queue drained by `threadiness` workers.
 */
import type { KubeConfig } from '@kubernetes/client-node'
import { KubevisorError } from '../errors.ts'
import { defaultLogger, type Logger } from '../log.ts'
import { InformerFactory, type InformerTarget, type SharedInformer } from '../informer/informer.ts'
import { readSubscription, type Subscription } from '../informer/subscription.ts'
import type { QueueMetricsProvider, RateLimiter, RateLimitingQueue } from '../queue/index.ts'
import type { Store } from '../store/index.ts'
import type { ChildSpec } from '../supervisor/index.ts'
import { type Clock, sleep, systemClock } from '../time/clock.ts'
import type { KubeObject } from '../watch/object.ts'
import { type DispatchCore, type DispatchSource, dispatchProcessSpec, runSupervised, runOnceSpec } from './dispatch-process.ts'
import { type HandleResult, TerminalError } from './workers.ts'

/** The kind of change a handler is called for. */
export type EventKind = 'added' | 'updated' | 'deleted'

/**
 * A handler of the {@link EventLoop} (kubehandler's `EventHandler`): a name, the shared
 * watch it listens to, a synced check, and one callback per kind of change. Callbacks
 * get the object's namespace (`''` for cluster-scoped objects) and name, not the object:
 * read the current state from the informer's store (see {@link DefaultHandler.store}),
 * as kubehandler handlers read their lister.
 *
 * A callback that throws (or rejects) is retried with rate limiting up to the loop's
 * `maxRetries`, then the event is dropped with an error log; a {@link TerminalError} is
 * dropped at once. `signal` aborts when the worker running the call exits (its process
 * was killed, or the loop stopped while the call ran past the drain timeout).
 *
 * Extend {@link DefaultHandler} rather than implementing this from scratch.
 */
export interface Handler<T extends KubeObject = KubeObject> {
  /** Unique within a loop; part of every queue key, so it must not contain `/`. */
  readonly name: string
  /** The collection to watch; handlers with equal targets share one watch and store. */
  readonly target: InformerTarget
  /**
   * Extra readiness beyond the handler's own cache (e.g. other stores it reads). The loop
   * starts its workers once every handler's cache has synced and this returns true
   * (polled every 100 ms, as client-go's `WaitForCacheSync`). Default: always true.
   */
  synced?(): boolean
  /** Called once by `register` with the shared informer of `target`. */
  attach?(informer: SharedInformer<T>): void
  /** The object was created (or existed when the loop started). */
  added(signal: AbortSignal, namespace: string, name: string): void | Promise<void>
  /** The object changed (a new resourceVersion). */
  updated(signal: AbortSignal, namespace: string, name: string): void | Promise<void>
  /** The object was deleted; it is no longer in the store. */
  deleted(signal: AbortSignal, namespace: string, name: string): void | Promise<void>
}

/**
 * A handler that accepts every event and does nothing (kubehandler's `DefaultHandler`):
 * extend it and override only the callbacks you need. Once registered it holds its
 * informer, so `this.store` reads the current objects.
 *
 * @example
 * ```ts
 * class Pods extends DefaultHandler<Plain<V1Pod>> {
 *   constructor() { super('pods', { apiVersion: 'v1', kind: 'Pod' }) }
 *   override async added(signal: AbortSignal, namespace: string, name: string) {
 *     const pod = this.store.get({ namespace, name })
 *     if (pod) await register(pod, signal)
 *   }
 * }
 * loop.register(new Pods())
 * ```
 */
export class DefaultHandler<T extends KubeObject = KubeObject> implements Handler<T> {
  readonly name: string
  readonly target: InformerTarget
  #informer: SharedInformer<T> | undefined

  constructor(name: string, target: InformerTarget) {
    this.name = name
    this.target = target
  }

  attach(informer: SharedInformer<T>): void {
    this.#informer = informer
  }

  /** The shared informer; throws if the handler was not registered with a loop yet. */
  get informer(): SharedInformer<T> {
    if (!this.#informer) throw new InvalidHandlerError(`handler ${JSON.stringify(this.name)} is not registered with an EventLoop`)
    return this.#informer
  }

  /** The shared store of the handler's target (read-only). */
  get store(): Store<T> {
    return this.informer.store
  }

  /** True once the handler's store has synced. */
  synced(): boolean {
    return this.#informer?.store.hasSynced === true
  }

  added(_signal: AbortSignal, _namespace: string, _name: string): void | Promise<void> {}
  updated(_signal: AbortSignal, _namespace: string, _name: string): void | Promise<void> {}
  deleted(_signal: AbortSignal, _namespace: string, _name: string): void | Promise<void> {}
}

/** A handler that cannot be registered (`ERR_INVALID_HANDLER`): bad or duplicate name, or registered too late. */
export class InvalidHandlerError extends KubevisorError {
  constructor(message: string) {
    super('ERR_INVALID_HANDLER', message)
  }
}

/**
 * The queue key of one event: `<kind>/<handler>/<namespace>/<name>`, e.g.
 * `deleted/pods/default/web-0`, or `added/nodes//node-1` for a cluster-scoped object.
 * Unambiguous: Kubernetes names and namespaces never contain `/` (apimachinery's path
 * segment rule), and handler names are refused if they do, so splitting on `/` gives
 * exactly the four parts back ({@link parseEventKey}).
 */
export function eventKey(kind: EventKind, handler: string, namespace: string, name: string): string {
  return `${kind}/${handler}/${namespace}/${name}`
}

const KINDS: ReadonlySet<string> = new Set<EventKind>(['added', 'updated', 'deleted'])

/** The parts of an {@link eventKey}, or `undefined` if `key` is not one. */
export function parseEventKey(key: string):
  | {
      /** `added`, `updated` or `deleted`. */
      kind: EventKind
      /** The handler's name. */
      handler: string
      /** `''` for cluster-scoped objects. */
      namespace: string
      /** The object's name. */
      name: string
    }
  | undefined {
  const parts = key.split('/')
  if (parts.length !== 4) return undefined
  const [kind, handler, namespace, name] = parts as [string, string, string, string]
  if (!KINDS.has(kind) || handler === '' || name === '') return undefined
  return { kind: kind as EventKind, handler, namespace, name }
}

/** Options of an {@link EventLoop}. */
export interface EventLoopOptions {
  /** Shared informers to use; or give `kubeConfig` and the loop makes (and supervises) its own. */
  informers?: InformerFactory
  /** Cluster access, when the loop makes its own informers. */
  kubeConfig?: KubeConfig
  /** For logs, the queue's metrics label and the child spec id. Default `'event-loop'`. */
  name?: string
  /** Retries of a failing call before its event is dropped with an error log. Default 5. */
  maxRetries?: number
  /** Retry delays. Default: client-go's `DefaultControllerRateLimiter` (5 ms → 1000 s per key, 10 qps burst 100 overall). */
  rateLimiter?: RateLimiter<string>
  /** Errors not worth retrying. Default: `TerminalError`. */
  isTerminal?: (err: unknown) => boolean
  /** How long a stop waits for queued and in-flight events. Default 30 000 ms. */
  drainTimeoutMs?: number
  /** Queue metrics (`workqueue_*`, labelled with `name`). Default off. */
  metrics?: QueueMetricsProvider
  /** Default: kubevisor's default logger. */
  logger?: Logger
  /** Default: the system clock. */
  clock?: Clock
}

/** Counters of an {@link EventLoop}, since it was created. */
export interface EventLoopStats {
  /** Events put in line for a handler. */
  events: number
  /** `modified` events skipped because the resourceVersion did not change. */
  unchanged: number
  /** Events merged into an identical one already waiting for the same object. */
  collapsed: number
  /** Failed calls retried. */
  retries: number
  /** Events dropped after `maxRetries` failures or a terminal error. */
  dropped: number
}

interface Registered {
  handler: Handler<any>
  informer: SharedInformer<any>
}

/** The events of one object for one handler still to deliver, in order; the head is in the queue. */
interface Line {
  handler: string
  namespace: string
  name: string
  kinds: EventKind[]
  /** The token of the call of the head in progress, 0 when none. */
  attempt: number
}

/** client-go `WaitForCacheSync` polls every 100 ms (`tools/cache/shared_informer.go`, `syncedPollPeriod`). */
const SYNCED_POLL_MS = 100

/**
 * An event loop with handlers (kubehandler's `EventLoop`): `register` handlers, then
 * `run(signal, threadiness)` — it waits for every handler's cache to sync, then runs
 * `threadiness` supervised workers on one rate-limited queue, until `signal` aborts;
 * then it stops watching, lets the workers finish what is queued and in flight, and
 * resolves. `childSpec()` runs the same under your supervision tree.
 *
 * **Queue keys** carry the event kind, the handler and the object:
 * `<kind>/<handler>/<namespace>/<name>` ({@link eventKey}).
 *
 * **Order per object.** For one handler and one object, calls never overlap and come in
 * the order the changes happened, retries included: the loop keeps the object's pending
 * events in a short line and only the first is in the queue; the next one is queued when
 * the first was handled (or dropped). So `added` then `deleted` of one object both reach
 * the handler, in that order, even with several workers. Two changes of the same kind
 * waiting next to each other collapse into one (two `updated` → one call, which reads the
 * latest state); the first of them may already be running, then both are called. Across
 * objects and handlers there is no order: the queue is fair, first pending first served.
 *
 * **Skipped updates.** A `modified` event whose resourceVersion equals the last one the
 * handler's subscription saw is skipped, so a relist (410) or a restarted watch never
 * causes `updated` calls for unchanged objects.
 *
 * **Failures.** A failing call is retried with the rate limiter, up to `maxRetries`
 * (default 5), then dropped with an error log; a `TerminalError` is dropped at once. A
 * killed worker is restarted and its event handled again (at least once). If the loop's
 * own process restarts, its subscriptions start over: every existing object is `added`
 * again, and events not yet delivered (deletes included) are kept and delivered.
 *
 * **Stop.** Aborting `signal` stops the subscriptions (no new events), delivers what is
 * already in line — failures are no longer retried then, their events are kept for a
 * later `run` — and `run` resolves after that drain (at most `drainTimeoutMs`).
 *
 * @example
 * ```ts
 * const loop = new EventLoop({ kubeConfig })
 * loop.register(new Pods())          // a DefaultHandler subclass
 * const abort = new AbortController()
 * process.once('SIGTERM', () => abort.abort())
 * await loop.run(abort.signal, 4)     // resolves after the drain
 * ```
 */
export class EventLoop {
  /** For logs, metrics and its child spec id (default `event-loop`). */
  readonly name: string
  readonly #informers: InformerFactory
  readonly #ownsInformers: boolean
  readonly #registered = new Map<string, Registered>()
  readonly #lines = new Map<string, Line>()
  readonly #maxRetries: number
  readonly #isTerminal: (err: unknown) => boolean
  readonly #options: EventLoopOptions
  readonly #logger: Logger
  readonly #clock: Clock
  readonly #stats: EventLoopStats = { events: 0, unchanged: 0, collapsed: 0, retries: 0, dropped: 0 }
  #queue: RateLimitingQueue<string> | undefined
  #attempts = 0
  #started = false
  /** Whether a supervisor from its child spec is running: one run at a time (they share its lines and pending work). */
  readonly #run = { running: false }

  constructor(options: EventLoopOptions) {
    if (!options.informers && !options.kubeConfig) throw new InvalidHandlerError('an EventLoop needs informers or a kubeConfig')
    this.#options = options
    this.name = options.name ?? 'event-loop'
    this.#logger = options.logger ?? defaultLogger()
    this.#clock = options.clock ?? systemClock
    this.#ownsInformers = !options.informers
    this.#informers = options.informers ?? new InformerFactory({ kubeConfig: options.kubeConfig, logger: this.#logger, clock: options.clock })
    this.#maxRetries = options.maxRetries ?? 5
    if (!(this.#maxRetries >= 0)) throw new RangeError(`maxRetries must be >= 0, got ${String(options.maxRetries)}`)
    this.#isTerminal = options.isTerminal ?? ((err) => err instanceof TerminalError)
  }

  /** Counters since the loop was created. */
  get stats(): Readonly<EventLoopStats> {
    return { ...this.#stats }
  }

  /** Objects with events not yet delivered (their lines). */
  get pending(): number {
    return this.#lines.size
  }

  /**
   * Adds a handler (before `run`): attaches the shared informer of its target to it and
   * returns that informer. Throws `InvalidHandlerError` for an empty name, a name with
   * `/`, a name already registered, or a loop that already ran.
   */
  register<T extends KubeObject>(handler: Handler<T>): SharedInformer<T> {
    const { name } = handler
    if (this.#started) throw new InvalidHandlerError(`handler ${JSON.stringify(name)}: register handlers before the loop runs`)
    if (typeof name !== 'string' || name === '' || name.includes('/')) throw new InvalidHandlerError(`a handler name must be non-empty and without '/', got ${JSON.stringify(name)}`)
    if (this.#registered.has(name)) throw new InvalidHandlerError(`a handler named ${JSON.stringify(name)} is already registered`)
    const informer = this.#informers.informer<T>(handler.target)
    handler.attach?.(informer)
    this.#registered.set(name, { handler, informer })
    return informer
  }

  /**
   * Runs the loop until `signal` aborts, under a supervisor of its own; resolves after the
   * drain. Rejects with `DispatchFailedError` if that supervisor gives up.
   */
  run(signal: AbortSignal, threadiness = 1): Promise<void> {
    return runSupervised(this.name, this.childSpec({ threadiness }), signal, this.#logger, this.#options.clock)
  }

  /**
   * A child spec (a supervisor) that runs the loop under your tree: the loop's process
   * (and the loop's own informers, when it made them). Stopping it drains the loop.
   */
  childSpec(options: { threadiness?: number; id?: string } = {}): ChildSpec {
    const threadiness = options.threadiness ?? 1
    if (!Number.isInteger(threadiness) || threadiness < 1) throw new RangeError(`threadiness must be an integer >= 1, got ${String(threadiness)}`)
    this.#started = true
    const children = [...(this.#ownsInformers ? [this.#informers.childSpec('informers')] : []), dispatchProcessSpec(this.#core(threadiness), 'loop')]
    return runOnceSpec(options.id ?? this.name, children, this.#run, () => new InvalidHandlerError(`event loop ${JSON.stringify(this.name)} is already running: run it once at a time`))
  }

  #core(threadiness: number): DispatchCore {
    return {
      name: this.name,
      concurrency: threadiness,
      maxRetries: Number.POSITIVE_INFINITY, // the loop decides, per event (see #handle)
      drainTimeoutMs: this.#options.drainTimeoutMs ?? 30_000,
      rateLimiter: this.#options.rateLimiter,
      metrics: this.#options.metrics,
      open: (queue, log) => this.#open(queue, log),
      handle: (queue, key, signal, log) => this.#handle(queue, key, signal, log),
      drained: (log) => {
        if (this.#lines.size > 0) log.warn({ objects: this.#lines.size }, 'stopped with events not delivered; they are delivered when the loop runs again')
      },
    }
  }

  #open(queue: RateLimitingQueue<string>, log: Logger): DispatchSource {
    this.#queue = queue
    // A new incarnation: what an earlier one left in line is queued again, in line order.
    for (const line of this.#lines.values()) {
      line.attempt = 0
      queue.add(eventKey(line.kinds[0] as EventKind, line.handler, line.namespace, line.name))
    }
    const abort = new AbortController()
    const subs: Subscription<KubeObject>[] = []
    const synced: Promise<void>[] = []
    const informers = [...this.#registered.values()].map((r) => r.informer)
    for (const informer of informers) informer.hold()
    for (const { handler, informer } of this.#registered.values()) {
      const sub = informer.subscribe() as Subscription<KubeObject>
      subs.push(sub)
      synced.push(this.#pump(handler.name, sub, log))
    }
    const ready = (async () => {
      const aborted = new Promise<never>((_, reject) => abort.signal.addEventListener('abort', () => reject(abort.signal.reason), { once: true }))
      aborted.catch(() => {})
      await Promise.race([Promise.all(synced), aborted])
      while (![...this.#registered.values()].every(({ handler }) => handler.synced?.() ?? true)) await sleep(this.#clock, SYNCED_POLL_MS, abort.signal)
    })()
    return {
      ready,
      close: () => {
        abort.abort()
        for (const sub of subs) sub.close()
      },
      release: () => {
        for (const informer of informers) informer.release()
      },
    }
  }

  /** Turns one subscription's events into lines; resolves when the subscription has synced. */
  #pump(handler: string, sub: Subscription<KubeObject>, log: Logger): Promise<void> {
    let onSynced!: () => void
    const synced = new Promise<void>((resolve) => {
      onSynced = resolve
    })
    const kinds = { created: 'added', modified: 'updated', deleted: 'deleted' } as const
    readSubscription(
      sub,
      {
        synced: () => onSynced(),
        change: (type, _key, object) => this.#push(handler, kinds[type], object),
        unchanged: () => {
          this.#stats.unchanged++
        },
      },
      log,
      { handler },
    )
    return synced
  }

  #push(handler: string, kind: EventKind, object: KubeObject): void {
    const namespace = object.metadata?.namespace ?? ''
    const name = object.metadata?.name ?? ''
    const id = `${handler}/${namespace}/${name}`
    this.#stats.events++
    const line = this.#lines.get(id)
    if (line === undefined) {
      this.#lines.set(id, { handler, namespace, name, kinds: [kind], attempt: 0 })
      this.#queue?.add(eventKey(kind, handler, namespace, name))
      return
    }
    const last = line.kinds.length - 1
    // Collapse into an identical waiting event, never into the call already running.
    if (line.kinds[last] === kind && !(last === 0 && line.attempt !== 0)) {
      this.#stats.collapsed++
      return
    }
    line.kinds.push(kind)
  }

  async #handle(queue: RateLimitingQueue<string>, key: string, signal: AbortSignal, log: Logger): Promise<HandleResult | undefined> {
    let event = parseEventKey(key)
    while (event !== undefined) {
      const id = `${event.handler}/${event.namespace}/${event.name}`
      const line = this.#lines.get(id)
      const handler = this.#registered.get(event.handler)?.handler
      // Stale: the event was already delivered by a killed worker's call that finished late.
      if (line === undefined || line.kinds[0] !== event.kind || handler === undefined) return undefined
      const token = ++this.#attempts
      line.attempt = token
      let failure: { err: unknown } | undefined
      try {
        await call(handler, event.kind, signal, event.namespace, event.name)
      } catch (err) {
        failure = { err }
      }
      // A newer attempt owns the line (this call's worker was killed and the event retried).
      if (line.attempt !== token || this.#lines.get(id) !== line) return undefined
      line.attempt = 0
      if (failure !== undefined) {
        const retries = queue.numRequeues(key)
        const terminal = this.#isTerminal(failure.err)
        if (queue.shuttingDown && !terminal) {
          log.warn({ key, err: failure.err }, 'handler failed while the loop drains; the event is kept for the next run')
          return undefined
        }
        if (!terminal && retries < this.#maxRetries) {
          this.#stats.retries++
          log.warn({ key, retries, reason: (failure.err as Error)?.message ?? String(failure.err) }, 'handler failed; retrying with backoff')
          return { requeue: true }
        }
        this.#stats.dropped++
        log.error({ key, retries, err: failure.err }, terminal ? 'handler failed with a terminal error; dropping the event' : 'handler failed too many times; dropping the event')
      }
      queue.forget(key)
      line.kinds.shift()
      const next = line.kinds[0]
      if (next === undefined) {
        this.#lines.delete(id)
        return undefined
      }
      key = eventKey(next, line.handler, line.namespace, line.name)
      if (!queue.shuttingDown) {
        queue.add(key)
        return undefined
      }
      // Draining: the queue takes no more keys; deliver the rest of this line here, in order.
      event = { kind: next, handler: line.handler, namespace: line.namespace, name: line.name }
    }
    return undefined
  }
}

function call(handler: Handler<any>, kind: EventKind, signal: AbortSignal, namespace: string, name: string): void | Promise<void> {
  switch (kind) {
    case 'added':
      return handler.added(signal, namespace, name)
    case 'updated':
      return handler.updated(signal, namespace, name)
    case 'deleted':
      return handler.deleted(signal, namespace, name)
  }
}
