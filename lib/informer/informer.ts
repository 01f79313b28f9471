import type { KubeConfig } from '@kubernetes/client-node'
import { GenServer, noreply, ok, type Pid, Registry } from '../actor/index.ts'
import { asProcess } from '../actor/process.ts'
import { KubevisorError } from '../errors.ts'
import { defaultLogger, type Logger } from '../log.ts'
import { type Indexers, type Store, StoreWriter } from '../store/index.ts'
import { type ChildEnv, type ChildSpec, DynamicSupervisor } from '../supervisor/index.ts'
import type { BackoffPolicy } from '../time/backoff.ts'
import { type Clock, systemClock } from '../time/clock.ts'
import type { ListWatchClient } from '../watch/client.ts'
import { type KubeObject, objectKey, resourceVersionOf } from '../watch/object.ts'
import type { WatchMetrics } from '../watcher/metrics.ts'
import { Watcher, type WatcherBehaviour, type WatcherOptions } from '../watcher/watcher.ts'
import { Subscription } from './subscription.ts'

/** Which collection an informer watches (the Watcher's target options). Equal targets share one informer. */
export type InformerTarget = Pick<WatcherOptions, 'apiVersion' | 'kind' | 'path' | 'namespaced' | 'namespace' | 'labelSelector' | 'fieldSelector' | 'metadataOnly'>

/** The part of an informer its handler process works on. */
interface Core {
  readonly writer: StoreWriter
  /** Subscriptions that joined (receive live changes). Only the handler adds to it. */
  readonly subs: Set<Subscription<any>>
  /** The current handler process (it changes when the watcher restarts it). */
  handler: Pid | undefined
  /** Joins sent before a handler existed; the next handler takes them in its init. */
  readonly early: Subscription<any>[]
}

/** A subscription joining: handled in order with changes, so its first view is consistent. */
class Join {
  readonly sub: Subscription<any>
  constructor(sub: Subscription<any>) {
    this.sub = sub
  }
}

interface FanOutState {
  core: Core
  /** Set while a restarted handler re-lists: what the new list contained so far. */
  resync: Set<string> | undefined
}

function join(core: Core, sub: Subscription<any>): void {
  if (sub.closed) return
  for (const key of core.writer.keys()) sub.push('created', key, core.writer.view.getByKey(key), undefined)
  if (core.writer.view.hasSynced) sub.pushSynced()
  core.subs.add(sub)
}

function fanOut(core: Core, type: 'created' | 'modified' | 'deleted', key: string, object: KubeObject, previous: KubeObject | undefined): void {
  for (const sub of core.subs) sub.push(type, key, object, previous)
}

/**
 * The handler of a shared informer's watcher: it owns the store, updated in the same step
 * as subscribers are notified (as client-go's `HandleDeltas` updates the indexer and then
 * distributes), so a late joiner's first view and the changes after it never overlap.
 */
const FanOut: WatcherBehaviour<KubeObject, FanOutState, Core> = {
  init(core, ctx) {
    core.handler = ctx.self
    // A restarted handler (its watcher was restarted) re-lists: diff against the store so
    // subscribers see only real changes, as if nothing had happened.
    const state: FanOutState = { core, resync: core.writer.size > 0 ? new Set() : undefined }
    for (const sub of core.early.splice(0)) join(core, sub)
    return ok(state)
  },

  handleEvent(type, object, state) {
    const { core, resync } = state
    const key = objectKey(object)
    const previous = core.writer.view.getByKey(key)
    let kind: 'created' | 'modified' | 'deleted' = type
    if (resync !== undefined && type === 'created') {
      resync.add(key)
      if (previous !== undefined && resourceVersionOf(previous) === resourceVersionOf(object)) return noreply(state)
      if (previous !== undefined) kind = 'modified'
    }
    if (kind === 'deleted') {
      if (previous === undefined) return noreply(state)
      core.writer.delete(key)
    } else {
      if (kind === 'modified' && previous === undefined) kind = 'created'
      core.writer.set(key, object)
    }
    const rv = resourceVersionOf(object)
    if (rv) core.writer.setResourceVersion(rv)
    fanOut(core, kind, key, object, previous)
    return noreply(state)
  },

  handleSynced(state, ctx) {
    const { core, resync } = state
    if (resync !== undefined) {
      for (const key of [...core.writer.keys()]) {
        if (resync.has(key)) continue
        const last = core.writer.view.getByKey(key) as KubeObject
        core.writer.delete(key)
        fanOut(core, 'deleted', key, last, undefined)
      }
      state.resync = undefined
    }
    if (!core.writer.view.hasSynced) {
      core.writer.markSynced(ctx.resourceVersion)
      for (const sub of core.subs) sub.pushSynced()
    }
    return noreply(state)
  },

  handleCast(msg, state) {
    if (msg instanceof Join) join(state.core, msg.sub)
    return noreply(state)
  },
}

/** Options shared by the informers of a factory. */
export interface InformerFactoryOptions {
  /** Cluster access for every informer of the factory (required unless `clientFor` is given). */
  kubeConfig?: KubeConfig
  /** Default: kubevisor's default logger. */
  logger?: Logger
  /** Default: the system clock. */
  clock?: Clock
  /** Applied to every object before it is stored, e.g. `dropManagedFields`. */
  transform?: (object: KubeObject) => KubeObject
  /** Watch metrics; each informer reports as `<kind>[/<namespace>][?selectors]`. */
  metrics?: WatchMetrics
  /** Backoff inside each watch connection (default `CLIENT_GO_BACKOFF`). */
  backoff?: BackoffPolicy
  /** Injected IO for tests: makes the client of one target. */
  clientFor?: (target: InformerTarget) => ListWatchClient
}

/** Options of one informer. */
export interface InformerOptions<T> {
  indexers?: Indexers<T>
}

/**
 * One shared watch and store for one target, with any number of subscribers, each at its
 * own pace (see {@link Subscription}). The watch starts with the first subscriber (or
 * `start()`) and stops when the last one leaves (and no `start()` holds it).
 */
export class SharedInformer<T extends KubeObject = KubeObject> {
  /** What it watches: kind, namespace, selectors. */
  readonly target: Readonly<InformerTarget>
  /** A stable id for the target, used to share informers and label metrics. */
  readonly id: string
  readonly #factory: InformerFactory
  readonly #core: Core
  #holds = 0
  /** The watcher tree's pid while running. */
  #pid: Pid | undefined
  /** Serializes starts and stops. */
  #lifecycle: Promise<void> = Promise.resolve()

  /** @internal Created by `InformerFactory.informer`. */
  constructor(factory: InformerFactory, target: InformerTarget, id: string, options: InformerOptions<T>) {
    this.#factory = factory
    this.target = Object.freeze({ ...target })
    this.id = id
    this.#core = { writer: new StoreWriter(options.indexers as Indexers<KubeObject> | undefined), subs: new Set(), handler: undefined, early: [] }
  }

  /** The shared read-only store: filled while the watch runs; `synced` resolves after its list. */
  get store(): Store<T> {
    return this.#core.writer.view as unknown as Store<T>
  }

  /** Live subscriptions. */
  get subscribers(): number {
    return this.#core.subs.size + this.#core.early.length
  }

  /** Whether the watch is running. */
  get running(): boolean {
    return this.#pid?.alive === true
  }

  /**
   * A new subscription: first a `created` for every object in the store, then `synced`
   * (at once if the informer has synced, else when it does), then live changes.
   */
  subscribe(): Subscription<T> {
    const sub = new Subscription<T>((s) => this.#leave(s))
    this.#holds++
    this.#ensureRunning()
    const handler = this.#core.handler
    if (handler?.alive) GenServer.cast(handler, new Join(sub))
    else this.#core.early.push(sub)
    return sub
  }

  /** Keeps the watch running without a subscription (e.g. to read the store); pair with `release()`. */
  hold(): void {
    this.#holds++
    this.#ensureRunning()
  }

  /** Undoes one `hold()`: the watch stops when nothing holds or subscribes to it anymore. */
  release(): void {
    this.#drop()
  }

  #leave(sub: Subscription<T>): void {
    this.#core.subs.delete(sub)
    const early = this.#core.early.indexOf(sub)
    if (early >= 0) this.#core.early.splice(early, 1)
    this.#drop()
  }

  #drop(): void {
    if (this.#holds === 0) return
    this.#holds--
    if (this.#holds === 0) this.#lifecycle = this.#lifecycle.then(() => this.#stop()).catch((err) => this.#lifecycleFailed('stop', err))
  }

  #ensureRunning(): void {
    // The chain never holds a rejection (it would be unhandled): a failed start is logged
    // and the next subscribe tries again.
    this.#lifecycle = this.#lifecycle
      .then(() => (this.#holds > 0 && !this.running ? this.#start() : undefined))
      .catch((err) => this.#lifecycleFailed('start', err))
  }

  #lifecycleFailed(what: 'start' | 'stop', err: unknown): void {
    this.#factory.logger.error({ informer: this.id, err }, `shared informer failed to ${what}; the next subscriber retries`)
  }

  /** @internal Starts the watcher under the factory's supervisor. */
  async #start(): Promise<void> {
    const sup = await this.#factory.supervisorPid()
    const spec = this.#factory.watcherSpec(this.target, this.id, FanOut, this.#core)
    this.#pid = await DynamicSupervisor.startChild(sup, spec)
  }

  /** @internal Restarts after the factory's supervisor was replaced. */
  restartIfNeeded(): void {
    this.#pid = undefined
    this.#core.handler = undefined
    this.#ensureRunning()
  }

  async #stop(): Promise<void> {
    if (this.#holds > 0) return
    const pid = this.#pid
    this.#pid = undefined
    if (pid?.alive) {
      const sup = await this.#factory.supervisorPid()
      await DynamicSupervisor.terminateChild(sup, pid).catch(() => {})
    }
    this.#core.handler = undefined
    this.#core.writer.clear()
  }

  /**
   * @internal The factory is stopping: every subscription ends (its iteration completes),
   * holds are dropped and the store is emptied; the watch stops with the factory's supervisor.
   */
  shutdown(): void {
    const subs = [...this.#core.subs, ...this.#core.early]
    this.#holds = subs.length // each close below drops one
    for (const sub of subs) sub.close()
    this.#holds = 0
    this.#pid = undefined
    this.#core.handler = undefined
    this.#core.writer.clear()
  }

  /** @internal Waits for pending starts and stops (tests and shutdown). */
  settled(): Promise<void> {
    return this.#lifecycle.catch(() => {})
  }
}

/**
 * The id of a target: equal targets share an informer. A `metadataOnly` target is its own
 * informer (`…?metadata`), apart from the full one: its store holds `PartialObjectMetadata`.
 */
export function targetId(t: InformerTarget): string {
  const what = t.path ?? `${t.apiVersion}/${t.kind}`
  const query = [t.labelSelector ? `l=${t.labelSelector}` : '', t.fieldSelector ? `f=${t.fieldSelector}` : '', t.metadataOnly ? 'metadata' : ''].filter(Boolean).join('&')
  return `${what}${t.namespace ? `@${t.namespace}` : ''}${query ? `?${query}` : ''}`
}

/** A bad informer target (`ERR_INVALID_INFORMER`). */
export class InvalidInformerError extends KubevisorError {
  constructor(message: string) {
    super('ERR_INVALID_INFORMER', message)
  }
}

/**
 * Shared informers (client-go's `SharedInformerFactory`): consumers that ask for the same
 * kind, namespace and selectors share one watch and one store. Each informer's watcher
 * runs under the factory's DynamicSupervisor; put the factory itself under your tree
 * with {@link InformerFactory.childSpec}, or let it start on its own on first use.
 *
 * @example
 * ```ts
 * const informers = new InformerFactory({ kubeConfig })
 * const pods = informers.informer({ apiVersion: 'v1', kind: 'Pod', namespace: 'default' })
 * const a = pods.subscribe()        // one watch…
 * const b = pods.subscribe()        // …two consumers, each at its own pace
 * await pods.store.synced
 * ```
 */
export class InformerFactory {
  readonly #options: InformerFactoryOptions
  readonly #informers = new Map<string, SharedInformer<any>>()
  #sup: Pid | undefined
  #starting: Promise<Pid> | undefined
  /** The logger its informers log through. */
  readonly logger: Logger
  /** Names of this factory's informer handlers (`informer:<id>`), apart from any other factory's. */
  readonly registry = new Registry()

  constructor(options: InformerFactoryOptions = {}) {
    if (!options.kubeConfig && !options.clientFor) throw new InvalidInformerError('an InformerFactory needs a kubeConfig')
    this.#options = options
    this.logger = options.logger ?? defaultLogger()
  }

  /** The informer for `target` (the same instance for an equal target). */
  informer<T extends KubeObject = KubeObject>(target: InformerTarget, options: InformerOptions<T> = {}): SharedInformer<T> {
    if (!target.path && !(target.apiVersion && target.kind)) throw new InvalidInformerError('an informer target needs apiVersion and kind, or a path')
    const id = targetId(target)
    let informer = this.#informers.get(id)
    if (!informer) {
      informer = new SharedInformer<T>(this, target, id, options)
      this.#informers.set(id, informer)
    }
    return informer as SharedInformer<T>
  }

  /** The informers made so far. */
  get informers(): SharedInformer<any>[] {
    return [...this.#informers.values()]
  }

  /**
   * A child spec that runs the factory's DynamicSupervisor under your supervisor. If that
   * supervisor restarts it, informers with subscribers start their watches again.
   */
  childSpec(id = 'informers'): ChildSpec {
    return {
      id,
      type: 'supervisor',
      start: async (env: ChildEnv) => {
        const pid = await this.#startSupervisor(env)
        for (const informer of this.#informers.values()) if (informer.subscribers > 0) informer.restartIfNeeded()
        return pid
      },
    }
  }

  /** Stops every informer's watch and the factory's supervisor; every open subscription ends. */
  async stop(): Promise<void> {
    for (const informer of this.#informers.values()) informer.shutdown()
    const sup = this.#sup
    this.#sup = undefined
    this.#starting = undefined
    if (sup?.alive) await GenServer.stop(sup, 'shutdown')
  }

  /** @internal The supervisor informers start under (started standalone on first use). */
  async supervisorPid(): Promise<Pid> {
    if (this.#sup?.alive) return this.#sup
    this.#starting ??= this.#startSupervisor(undefined)
    return this.#starting
  }

  async #startSupervisor(env: ChildEnv | undefined): Promise<Pid> {
    const pid = await DynamicSupervisor.start({
      logger: env?.logger ?? this.logger,
      clock: env?.clock ?? this.#options.clock,
      link: env?.link,
      maxRestarts: 10,
      maxSeconds: 60,
    })
    this.#sup = pid
    this.#starting = Promise.resolve(pid)
    asProcess(pid).onExit(() => {
      if (this.#sup === pid) {
        this.#sup = undefined
        this.#starting = undefined
      }
    })
    return pid
  }

  /** @internal The watcher child spec for one informer. */
  watcherSpec(target: InformerTarget, id: string, behaviour: WatcherBehaviour<KubeObject, any, Core>, core: Core): ChildSpec {
    const o = this.#options
    return Watcher.childSpec(behaviour, core, {
      ...target,
      id,
      kubeConfig: o.kubeConfig,
      client: o.clientFor?.(target),
      transform: o.transform,
      metrics: o.metrics,
      backoff: o.backoff,
      logger: o.logger ?? this.logger,
      clock: o.clock ?? systemClock,
      name: `informer:${id}`,
      registry: this.registry,
      maxRestarts: 10,
      maxSeconds: 60,
    })
  }
}
