import type { KubeConfig } from '@kubernetes/client-node'
import {
  type Behaviour,
  type CallResult,
  type ExitReason,
  type From,
  GenServer,
  type InitResult,
  MissingCallbackError,
  type MonitorRef,
  type NoReplyResult,
  noreply,
  ok,
  type Pid,
  type ProcessContext,
  Registry,
  reply,
  stop,
  type TimerRef,
  type ViaName,
} from '../actor/index.ts'
import { attachProbe } from '../actor/introspect.ts'
import { defaultRegistry } from '../actor/registry.ts'
import { asProcess, type Process } from '../actor/process.ts'
import { KubevisorError } from '../errors.ts'
import { defaultLogger, type Logger } from '../log.ts'
import { type Indexers, type Store, StoreWriter } from '../store/index.ts'
import { type ChildEnv, type ChildSpec, Supervisor } from '../supervisor/index.ts'
import { type BackoffPolicy, CLIENT_GO_BACKOFF } from '../time/backoff.ts'
import { type Clock, systemClock } from '../time/clock.ts'
import { HttpListWatchClient, type ListWatchClient, type ResourceTarget } from '../watch/client.ts'
import type { EngineConfig, InitialListStrategy } from '../watch/engine.ts'
import { InvalidResumeError, type KnownRecord, type KnownStore, KnownVersions, seedKnown } from '../watch/known.ts'
import type { KubeObject } from '../watch/object.ts'
import type { Plain } from '../api/object.ts'
import { newWatchCounters, type PendingWait, type RunnerProblem, type WatchCounters, type WatchNotification, WatchRunner } from '../watch/runner.ts'
import type { WatcherSnapshot } from './introspect.ts'
import type { WatchMetrics } from './metrics.ts'

export type { Plain } from '../api/object.ts'

/** What happened to an object, from the watcher's point of view. */
export type EventType = 'created' | 'modified' | 'deleted'

/** The context of a watcher's callbacks: a process context plus the watcher's store. */
export interface WatcherContext<T = KubeObject> extends ProcessContext {
  /** The watcher's read-only store when started with `store`, else undefined. */
  readonly store: Store<Plain<T> & KubeObject> | undefined
  /** Counters since the watcher started, across reconnects and restarts (relists, 410s, reconnects, decode errors, events by type…). */
  readonly counters: WatchCounters
  /**
   * The resourceVersion of the last change (or sync) this handler has processed — what to
   * persist, together with the keys and resourceVersions your state holds at that moment,
   * to resume later with `resume: { resourceVersion, known }`.
   */
  readonly resourceVersion: string | undefined
}

type Awaitable<T> = T | Promise<T>

/**
 * The Watcher behaviour: a GenServer that receives the changes of one Kubernetes
 * collection, modeled on Elixir's `Kubereq.Watcher`. kubevisor owns everything between the
 * API server and these callbacks — paged list, watch with bookmarks, resume, relist and
 * diff on 410, backoff, stalls — and delivers each change once, in stream order, one at a
 * time.
 *
 * - `init(arg, ctx)` → `ok(state)` · `ignore()` · `stop(reason)`, as GenServer.
 * - `handleEvent(type, object, state, ctx)` → `noreply(state, after?)` · `stop(reason, state)`.
 *   `type` is `'created'` (first seen: in the initial list, a watch ADDED, or new in a
 *   relist), `'modified'` (its resourceVersion changed) or `'deleted'` (with the final
 *   object the server sent, or, when vanished during a relist, the last one delivered —
 *   a tombstone with only name/namespace/uid/resourceVersion when no store is kept).
 * - `handleSynced(state, ctx)`: once, after the existing objects were delivered.
 * - `handleCall`, `handleCast`, `handleInfo`, `handleContinue`, `terminate`: as GenServer.
 *
 * A thrown error or `stop` ends the handler; its supervisor restarts it with a fresh
 * `init` and a full resync from a list (every object `created` again).
 */
export interface WatcherBehaviour<T = KubeObject, S = any, A = any, Call = any, Cast = any, Info = any, R = any> {
  /** The first state: `ok(state)` · `ignore()` · `stop(reason)`; runs again, fresh, after a handler restart. */
  init(arg: A, ctx: WatcherContext<T>): Awaitable<InitResult<S>>
  /** One change, in stream order: `noreply(state, after?)` · `stop(reason, state)`. */
  handleEvent(type: EventType, object: Plain<T>, state: S, ctx: WatcherContext<T>): Awaitable<NoReplyResult<S>>
  /** Once, after the objects that existed at start were delivered (or when a resumed watch was accepted). */
  handleSynced?(state: S, ctx: WatcherContext<T>): Awaitable<NoReplyResult<S>>
  /** A `GenServer.call` to the watcher, as GenServer's `handleCall`. */
  handleCall?(msg: Call, from: From<R>, state: S, ctx: WatcherContext<T>): Awaitable<CallResult<S, R>>
  /** A `GenServer.cast` to the watcher, as GenServer's `handleCast`. */
  handleCast?(msg: Cast, state: S, ctx: WatcherContext<T>): Awaitable<NoReplyResult<S>>
  /** Other messages (`send`, `sendAfter` timers, `TIMEOUT`), as GenServer's `handleInfo`; missing: logged and dropped. */
  handleInfo?(msg: Info, state: S, ctx: WatcherContext<T>): Awaitable<NoReplyResult<S>>
  /** Runs before the next message after a result with `{ continue: arg }`. */
  handleContinue?(arg: any, state: S, ctx: WatcherContext<T>): Awaitable<NoReplyResult<S>>
  /** Cleans up when the handler stops or crashes (not on a brutal kill). */
  terminate?(reason: ExitReason, state: S, ctx: WatcherContext<T>): Awaitable<void>
  /** Optional, for introspection (OTP's `format_status`): the state as the observer may show it, secrets removed. */
  formatStatus?(state: S): unknown
}

/** Options of {@link Watcher.start}: which collection, how to watch it, and process options. */
export interface WatcherOptions<T = KubeObject> {
  /** Cluster access (`loadFromDefault()`, in-cluster, files, exec plugins). Required unless `client` is given. */
  kubeConfig?: KubeConfig
  /** e.g. `'v1'`, `'apps/v1'`, `'example.com/v1'`, resolved through discovery (CRDs included). */
  apiVersion?: string
  /** e.g. `Pod`, `Deployment`, or a custom resource's kind; with `apiVersion`. */
  kind?: string
  /** Or an explicit collection path, e.g. `/api/v1/pods`; set `namespaced` with it. */
  path?: string
  /** With `path`: whether the collection is namespaced (default true). */
  namespaced?: boolean
  /** Watch one namespace; all namespaces when absent. */
  namespace?: string
  /** Only objects whose labels match, e.g. `app=web,tier!=db` (server-side). */
  labelSelector?: string
  /** Only objects whose fields match, e.g. `metadata.name=web` (server-side). */
  fieldSelector?: string
  /**
   * Watch metadata only (default false): the server sends each object as a
   * `PartialObjectMetadata` — `{ kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1',
   * metadata }`, exactly as it sent it (client-go's metadata informer,
   * controller-runtime's `metav1.PartialObjectMetadata`, kube-rs' `metadata_watcher`). Keys,
   * names, namespaces, labels, annotations, owner references, finalizers and
   * resourceVersions work as with full objects; `spec`, `status` and `data` are absent, and
   * `kind` is not the watched kind (it is in `apiVersion`/`kind` of the options). Smaller
   * objects to decode and keep: ~0.2× the heap of a stored pod (`bench/watch.ts`). Type the
   * watcher with `PartialObjectMetadata` from `kubevisor`.
   */
  metadataOnly?: boolean
  /**
   * Resume from this resourceVersion instead of listing first, without telling the watcher
   * what you hold: the same as `resume: { resourceVersion }` (see `resume` for what that
   * can and cannot deliver). Give `resume` with `known` instead to keep every promise.
   */
  resourceVersion?: string
  /**
   * Resume from `resourceVersion` instead of listing first, with `known`: what your state
   * holds at that resourceVersion — `[key, resourceVersion]` pairs (e.g. the
   * `Map<string, string>` you persisted; key `namespace/name`, or `name` when
   * cluster-scoped) or the whole objects (required with `store`, which hands them out).
   * Persist them together with `ctx.resourceVersion`, from the same moment.
   *
   * With `known`, events after the resume are classified against it: a change of an object
   * you hold is `modified`, never `created`; a DELETED of an object you do not hold is not
   * delivered; and when `resourceVersion` has expired (410), the relist is diffed against
   * it: `deleted` for what vanished while you were away, `modified`/`created` for what
   * changed or appeared, nothing for what did not change.
   *
   * Without `known`, the watcher knows only what it delivers after the resume: a watch
   * ADDED is `created`, a MODIFIED is `modified` and a DELETED is `deleted` (such an object
   * existed at `resourceVersion`, so you had it); but after a 410, objects not seen since
   * the resume come as `created` even if you had them, and objects deleted while you were
   * away are never reported (a warning is logged).
   *
   * A function (sync or async) is called at every start of the watcher — also when a
   * parent supervisor restarts it through `childSpec` — so it can load what you persisted
   * last; return undefined to list from scratch. A rejection rejects the start. (A crash of
   * your handler alone restarts it with a fresh `init` and a full list, as without resume.)
   *
   * @example
   * ```ts
   * // handleEvent keeps state.view (key → resourceVersion); persist it with ctx.resourceVersion:
   * await save({ resourceVersion: ctx.resourceVersion, view: [...state.view] })
   * // later, in a new process:
   * const { resourceVersion, view } = await load()
   * await Watcher.start(Mirror, { view }, { kubeConfig, apiVersion: 'v1', kind: 'ConfigMap', resume: { resourceVersion, known: view } })
   * ```
   */
  resume?: WatcherResume | (() => WatcherResume | undefined | Promise<WatcherResume | undefined>)
  /** Deliver the objects that exist at start as `created` (default true). */
  deliverExisting?: boolean
  /** Objects per list page (default 500). */
  pageSize?: number
  /** `'list'` (default) or `'stream'` (sendInitialEvents, falling back to list). */
  initialList?: InitialListStrategy
  /** Backoff for 5xx, network errors and stalls inside the connection (default client-go's). */
  backoff?: BackoffPolicy
  /** Backoff between restarts of a failed connection by its supervisor (default client-go's). */
  restartBackoff?: BackoffPolicy
  /** Keep a read-only store of the objects (`true`, or with indexers). */
  store?:
    | boolean
    | {
        /** Index functions by name, for `store.byIndex(name, value)`. */
        indexers?: Indexers<Plain<T> & KubeObject>
      }
  /**
   * Applied to every object before it is stored or delivered, e.g. `dropManagedFields` to
   * save memory (0.6× the heap of a stored pod). Must return an object with the same
   * metadata name, namespace and resourceVersion.
   */
  transform?: (object: KubeObject) => KubeObject
  /** Changes delivered to the handler ahead of its processing before reading pauses (default 1024). */
  maxPending?: number
  /**
   * Advanced: each watch asks the server for a `timeoutSeconds` drawn from
   * [this, 2 × this) (default 300, client-go's 5–10 min).
   */
  watchTimeoutSeconds?: number
  /** Advanced: silence tolerated beyond a watch's timeout before it is torn down as stalled (default 30 000 ms). */
  stallMarginMs?: number
  /** Register the handler under this name, so `GenServer.call(name, …)` reaches it. */
  name?: string
  /** The registry for `name` (default: the default registry). */
  registry?: Registry
  /** Every process of the watcher logs through a child of it, bound to the watcher's name. */
  logger?: Logger
  /** Time for backoff, stall detection and timers (default: the system clock; `FakeClock` in tests). */
  clock?: Clock
  /** The parent to link the watcher's supervisor to (set by supervisors through `childSpec`). */
  link?: Pid
  /** Restart intensity of the watcher's own supervisor (default 3 in 5 s). */
  maxRestarts?: number
  /** The window of `maxRestarts`, in seconds (default 5). */
  maxSeconds?: number
  /** The list/watch IO; default: HTTP(S) through `kubeConfig`. Tests may inject a fake. */
  client?: ListWatchClient
  /** Report this watcher's counters (see `prometheusWatchMetrics`); labelled by `name`, else the kind. */
  metrics?: WatchMetrics
}

/** Where a watcher resumes and what its handler holds there: see {@link WatcherOptions.resume}. */
export interface WatcherResume {
  /** The handler's `ctx.resourceVersion` you persisted. */
  resourceVersion: string
  /** What the handler held at `resourceVersion`: `[key, resourceVersion]` pairs or objects. */
  known?: Iterable<KnownRecord> | undefined
}

/** Bad watcher options (`ERR_INVALID_WATCHER_OPTIONS`); the message names the option. */
export class InvalidWatcherOptionsError extends KubevisorError {
  constructor(message: string) {
    super('ERR_INVALID_WATCHER_OPTIONS', message)
  }
}

/**
 * A running watcher. It is a `{ registry, name }` reference to the handler process, so
 * `GenServer.call(ref, …)`, `cast` and `send` always reach the current handler, across
 * restarts.
 */
export interface WatcherRef<T = KubeObject> extends ViaName {
  /** The watcher's own supervisor (handler + connection). */
  readonly supervisor: Pid
  /** The read-only store, when started with `store`. */
  readonly store: Store<Plain<T> & KubeObject> | undefined
  /** Counters since the watcher started, across reconnects and restarts. */
  readonly counters: WatchCounters
}

// --- the shared state of one watcher tree ------------------------------------------------

/** One watcher tree's state shared by its handler and its connection (both in this process). */
interface Shared {
  readonly client: ListWatchClient
  readonly known: KnownStore
  readonly store: StoreWriter | undefined
  readonly engine: Partial<EngineConfig>
  readonly deliverExisting: boolean
  readonly backoff: BackoffPolicy
  readonly transform: ((object: KubeObject) => KubeObject) | undefined
  readonly maxPending: number
  readonly stallMarginMs: number | undefined
  /** Where a new connection starts watching: the previous connection's last handed-over RV. */
  resumeFrom: string | undefined
  /**
   * `'partial'` while `known` holds only what was delivered since a resume without `known`
   * (until a connection's relist completes); `'complete'` otherwise.
   */
  knowledge: 'complete' | 'partial'
  /** The runner of the current connection: its lastResourceVersion is exact (sink mode). */
  runner: WatchRunner | undefined
  /** Counters of the runners replaced so far, so totals survive reconnects and restarts. */
  retired: WatchCounters
  /** The current handler incarnation. */
  handler: Process | undefined
  handlerStarts: number
  /** For introspection: connections started (the first, then one per restart by the supervisor). */
  connectionStarts: number
  /** For introspection: whether the current handler has been synced. */
  synced: boolean
  /** For introspection: the last problem of any runner so far, or a connection's terminal error. */
  lastProblem: RunnerProblem | undefined
}

/** Adds `from` into `into` (numbers summed, event counts by type, the later lastEventAt). */
function addCounters(into: WatchCounters, from: WatchCounters): WatchCounters {
  for (const k of ['relists', 'gone', 'reconnects', 'decodeErrors', 'watchErrors', 'stalls', 'throttled', 'failures', 'listPages', 'bytes'] as const) into[k] += from[k]
  for (const t of Object.keys(into.events) as (keyof WatchCounters['events'])[]) into.events[t] += from.events[t]
  if (from.lastEventAt !== undefined && (into.lastEventAt === undefined || from.lastEventAt > into.lastEventAt)) into.lastEventAt = from.lastEventAt
  return into
}

/** The watcher's counters since it started: retired runners plus the current one. */
function totalCounters(shared: Shared): WatchCounters {
  const total = addCounters(newWatchCounters(), shared.retired)
  return shared.runner ? addCounters(total, shared.runner.counters) : total
}

/** Replaces the current runner: stops it and keeps its counters in the totals. */
function retireRunner(shared: Shared): WatchRunner | undefined {
  const previous = shared.runner
  if (previous) {
    shared.lastProblem = laterProblem(shared.lastProblem, previous.lastProblem)
    previous.stop()
    addCounters(shared.retired, previous.counters)
    shared.runner = undefined
  }
  return previous
}

/** A change (or the synced signal) on its way from the connection to the handler. */
class Delivery {
  readonly n: WatchNotification
  constructor(n: WatchNotification) {
    this.n = n
  }
}

/** Answered by the handler once everything delivered before it was handled. */
const BARRIER = Symbol('kubevisor.watcher.barrier')

/** Asks the handler to cut its connection's backoff short (`Watcher.reconnectNow`). */
const RECONNECT_NOW = Symbol('kubevisor.watcher.reconnectNow')
/** Asks the handler for its connection's wait in progress (`Watcher.waiting`). */
const WAITING = Symbol('kubevisor.watcher.waiting')

/** The connection tells itself that its runner ended. */
class RunnerEnded {
  readonly error: unknown
  constructor(error: unknown) {
    this.error = error
  }
}

// --- the handler process: runs the user's behaviour ------------------------------------------

interface HandlerState {
  shared: Shared
  /** The user's behaviour and its current state. */
  behaviour: WatcherBehaviour
  user: unknown
  synced: boolean
  /** The resourceVersion of the last change or sync handled. */
  resourceVersion: string | undefined
  ctx: WatcherContext<unknown>
}

function watcherContext(ctx: ProcessContext, shared: Shared, holder: { resourceVersion: string | undefined }): WatcherContext<unknown> {
  return {
    get resourceVersion() {
      return holder.resourceVersion
    },
    get self() {
      return ctx.self
    },
    get log() {
      return ctx.log
    },
    get clock() {
      return ctx.clock
    },
    trapExit: (on: boolean) => ctx.trapExit(on),
    link: (other: Pid) => ctx.link(other),
    unlink: (other: Pid) => ctx.unlink(other),
    monitor: (other: Pid): MonitorRef => ctx.monitor(other),
    demonitor: (ref: MonitorRef) => ctx.demonitor(ref),
    sendAfter: (msg: unknown, ms: number): TimerRef => ctx.sendAfter(msg, ms),
    cancelTimer: (ref: TimerRef) => ctx.cancelTimer(ref),
    store: shared.store?.view as Store<any> | undefined,
    get counters() {
      return totalCounters(shared)
    },
  }
}

/** Re-wraps a user callback's result around the handler's state holder. */
function mapResult(result: unknown, holder: HandlerState): any {
  const r = result as { tag?: string; state?: unknown } | null
  if (r === null || typeof r !== 'object') return result
  switch (r.tag) {
    case 'noreply':
    case 'reply':
      holder.user = r.state
      return { ...r, state: holder }
    case 'stop':
      if (r.state !== undefined) holder.user = r.state
      return { ...r, state: holder }
    default:
      return result // not a result: the runtime reports BadResultError
  }
}

function then<T>(value: T | Promise<T>, fn: (value: T) => any): any {
  return value instanceof Promise ? value.then(fn) : fn(value)
}

const HandlerAdapter: Behaviour<{ shared: Shared; user: WatcherBehaviour; arg: unknown }, HandlerState> = {
  behaviourName: 'Watcher',
  formatStatus: (holder) => (holder.behaviour.formatStatus ? holder.behaviour.formatStatus(holder.user) : holder.user),
  init({ shared, user, arg }, ctx) {
    // A fresh handler knows nothing: forget what was delivered, so the connection that
    // starts after it lists again and every object arrives as `created`.
    shared.handlerStarts++
    // A connection killed without its terminate may have left its runner going: stop it
    // before anything is forgotten, so it cannot write into the fresh record.
    retireRunner(shared)
    if (shared.handlerStarts > 1) {
      shared.synced = false
      shared.known.clear()
      shared.resumeFrom = undefined
      shared.knowledge = 'complete'
    }
    shared.handler = asProcess(ctx.self)
    const holder = { shared, behaviour: user, user: undefined, synced: false, resourceVersion: undefined } as unknown as HandlerState
    holder.ctx = watcherContext(ctx, shared, holder)
    return then(user.init(arg, holder.ctx), (result: InitResult<unknown>) => {
      if (result?.tag !== 'ok') return result
      holder.user = result.state
      return ok<HandlerState>(holder, result.after)
    })
  },

  handleInfo(msg, holder) {
    const user = holder.behaviour
    if (msg instanceof Delivery) {
      const n = msg.n
      holder.resourceVersion = n.type === 'synced' ? n.resourceVersion : (n.object.metadata?.resourceVersion ?? holder.resourceVersion)
      if (n.type === 'synced') {
        if (holder.synced) return noreply(holder)
        holder.synced = true
        if (!user.handleSynced) return noreply(holder)
        return then(user.handleSynced(holder.user, holder.ctx), (r) => mapResult(r, holder))
      }
      return then(user.handleEvent(n.type, n.object as never, holder.user, holder.ctx), (r) => mapResult(r, holder))
    }
    if (!user.handleInfo) {
      holder.ctx.log.warn('dropped a message: the watcher has no handleInfo')
      return noreply(holder)
    }
    return then(user.handleInfo(msg, holder.user, holder.ctx), (r) => mapResult(r, holder))
  },

  handleCall(msg, from, holder, ctx) {
    if (msg === BARRIER) return reply(true, holder)
    if (msg === RECONNECT_NOW) return reply(holder.shared.runner?.retryNow(), holder)
    if (msg === WAITING) return reply(holder.shared.runner?.waiting, holder)
    const user = holder.behaviour
    if (!user.handleCall) throw new MissingCallbackError(String(ctx.self), 'handleCall')
    return then(user.handleCall(msg, from, holder.user, holder.ctx), (r) => mapResult(r, holder))
  },

  handleCast(msg, holder, ctx) {
    const user = holder.behaviour
    if (!user.handleCast) throw new MissingCallbackError(String(ctx.self), 'handleCast')
    return then(user.handleCast(msg, holder.user, holder.ctx), (r) => mapResult(r, holder))
  },

  handleContinue(arg, holder, ctx) {
    const user = holder.behaviour
    if (!user.handleContinue) throw new MissingCallbackError(String(ctx.self), 'handleContinue')
    return then(user.handleContinue(arg, holder.user, holder.ctx), (r) => mapResult(r, holder))
  },

  terminate(reason, holder) {
    // The connection stops first (rest_for_one stops in reverse start order); a connection
    // that was killed instead left its runner going: stop it here so nothing outlives the watcher.
    holder.shared.runner?.stop()
    const user = holder.behaviour
    return user.terminate?.(reason, holder.user, holder.ctx)
  },
}

// --- the connection process: runs the list/watch engine ---------------------------------------

interface ConnectionState {
  shared: Shared
  runner: WatchRunner | undefined
}

const Connection: Behaviour<{ shared: Shared }, ConnectionState> = {
  behaviourName: 'WatchConnection',
  formatStatus: (state) => ({ phase: state.runner?.state.phase, lastResourceVersion: state.runner?.lastResourceVersion, pending: state.runner?.pending }),
  init({ shared }) {
    // Start the runner after init returns, so the supervisor is not held up by IO.
    return ok({ shared, runner: undefined }, { continue: 'start' })
  },

  handleContinue(_arg, state, ctx) {
    const { shared } = state
    const handler = shared.handler
    shared.connectionStarts++
    if (!handler?.alive) return stop(new KubevisorError('ERR_NO_HANDLER', 'the watcher handler is not running'), state)
    // Resume exactly where the previous connection's runner handed over — however that
    // connection ended (even killed, without terminate) — and make sure it has stopped.
    const previous = retireRunner(shared)
    if (previous) {
      shared.resumeFrom = previous.lastResourceVersion ?? shared.resumeFrom
      shared.knowledge = previous.knowledge
    }
    // Resumed without `known` and not relisted since: the next runner knows as little.
    const partial = shared.knowledge === 'partial' && shared.resumeFrom !== undefined
    const self = ctx.self
    let sent = 0
    let waiting = false
    // Sink mode: a change is handed to the handler's mailbox at the very moment the runner
    // records it as delivered (known + lastResourceVersion), so a connection that dies
    // between the two can neither lose nor replay a change. Every `maxPending` changes the
    // connection waits until the handler has caught up (a call answered in mailbox order).
    const runner: WatchRunner = new WatchRunner({
      client: shared.client,
      known: shared.known,
      config: { ...shared.engine, resourceVersion: shared.resumeFrom },
      resume: partial ? { resourceVersion: shared.resumeFrom as string } : undefined,
      existingAsCreated: shared.deliverExisting,
      backoff: shared.backoff,
      clock: ctx.clock,
      logger: ctx.log,
      transform: shared.transform,
      stallMarginMs: shared.stallMarginMs,
      sink: (n) => {
        if (n.type === 'synced') {
          shared.synced = true
          shared.store?.markSynced(n.resourceVersion)
        }
        handler.info(new Delivery(n))
        if (++sent < shared.maxPending) return true
        if (!waiting) {
          waiting = true
          GenServer.call(handler.pid, BARRIER, Number.POSITIVE_INFINITY).then(
            () => {
              sent = 0
              waiting = false
              runner.resume()
            },
            () => {}, // the handler is gone: this connection is being shut down too
          )
        }
        return false
      },
    })
    shared.runner = runner
    shared.store?.followResourceVersion(() => runner.lastResourceVersion)
    // However this process ends — also killed, or by its killed supervisor's exit signal,
    // when no terminate runs — its watch stream must not outlive it.
    asProcess(self).onExit(() => runner.stop())
    runner.start()
    runner.done.then(
      () => GenServer.send(self, new RunnerEnded(undefined)),
      (err) => GenServer.send(self, new RunnerEnded(err)),
    )
    return noreply({ shared, runner })
  },

  handleInfo(msg, state, ctx) {
    if (msg instanceof RunnerEnded) {
      // A terminal failure (401/403/404…): crash, so the supervisor restarts the connection
      // with backoff, resuming from the last resourceVersion handed to the handler.
      if (msg.error !== undefined) {
        const message = msg.error instanceof Error ? msg.error.message : String(msg.error)
        state.shared.lastProblem = { at: ctx.clock.now(), level: 'error', message, data: undefined }
        return stop(msg.error, state)
      }
      return stop('normal', state)
    }
    return noreply(state)
  },

  terminate(_reason, state) {
    state.runner?.stop()
  },
}

// --- introspection ---------------------------------------------------------------------------

function laterProblem(a: RunnerProblem | undefined, b: RunnerProblem | undefined): RunnerProblem | undefined {
  if (a === undefined) return b
  if (b === undefined) return a
  return b.at >= a.at ? b : a
}

/** The watcher probe's reading (see `inspectWatcher`). */
function snapshotOf(shared: Shared, name: string, opts: WatcherOptions<unknown>): WatcherSnapshot {
  const runner = shared.runner
  const state = runner?.state
  return {
    name,
    target: `${opts.path ?? `${opts.apiVersion}/${opts.kind}`}${opts.metadataOnly ? ' (metadata only)' : ''}`,
    namespace: opts.namespace,
    phase: state?.phase ?? 'Restarting',
    open: state !== undefined && (state.phase === 'Watching' || state.phase === 'Streaming') ? state.open : false,
    waitUntil: runner?.waitUntil,
    resourceVersion: state?.resourceVersion ?? shared.resumeFrom,
    handedResourceVersion: runner?.lastResourceVersion ?? shared.resumeFrom,
    synced: shared.synced,
    counters: totalCounters(shared),
    connectionRestarts: Math.max(0, shared.connectionStarts - 1),
    handlerRestarts: Math.max(0, shared.handlerStarts - 1),
    lastProblem: laterProblem(shared.lastProblem, runner?.lastProblem),
    storeSize: shared.store?.size,
    known: shared.known.size,
    pending: runner?.pending ?? 0,
    handler: shared.handler?.alive ? shared.handler.pid : undefined,
  }
}

// --- public API -----------------------------------------------------------------------------

function targetOf(opts: WatcherOptions<unknown>): ResourceTarget {
  if (opts.metadataOnly !== undefined && typeof opts.metadataOnly !== 'boolean') throw new InvalidWatcherOptionsError(`metadataOnly must be a boolean, got ${String(opts.metadataOnly)}`)
  const common = { namespace: opts.namespace, labelSelector: opts.labelSelector, fieldSelector: opts.fieldSelector, metadataOnly: opts.metadataOnly === true }
  if (opts.path !== undefined) {
    if (typeof opts.path !== 'string' || !opts.path.startsWith('/')) throw new InvalidWatcherOptionsError(`path must be an absolute collection path such as /api/v1/pods, got ${String(opts.path)}`)
    return { path: opts.path, namespaced: opts.namespaced, apiVersion: opts.apiVersion, kind: opts.kind, ...common }
  }
  if (typeof opts.apiVersion !== 'string' || opts.apiVersion === '' || typeof opts.kind !== 'string' || opts.kind === '') {
    throw new InvalidWatcherOptionsError('give apiVersion and kind (e.g. { apiVersion: "v1", kind: "Pod" }) or an explicit path')
  }
  return { apiVersion: opts.apiVersion, kind: opts.kind, ...common }
}

/** The resume point of one start: `resume` (called when a function) or `resourceVersion` alone. */
async function resumeOf(opts: WatcherOptions<unknown>): Promise<WatcherResume | undefined> {
  if (opts.resume !== undefined && opts.resourceVersion !== undefined) {
    throw new InvalidWatcherOptionsError('give either resourceVersion or resume: { resourceVersion, known }, not both')
  }
  if (typeof opts.resume === 'function') return (await opts.resume()) ?? undefined
  return opts.resume ?? (opts.resourceVersion !== undefined ? { resourceVersion: opts.resourceVersion } : undefined)
}

function sharedOf(opts: WatcherOptions<unknown>, resume: WatcherResume | undefined): Shared {
  if (opts.pageSize !== undefined && !(Number.isInteger(opts.pageSize) && opts.pageSize > 0)) {
    throw new InvalidWatcherOptionsError(`pageSize must be a positive integer, got ${String(opts.pageSize)}`)
  }
  if (opts.maxPending !== undefined && !(Number.isInteger(opts.maxPending) && opts.maxPending > 0)) {
    throw new InvalidWatcherOptionsError(`maxPending must be a positive integer, got ${String(opts.maxPending)}`)
  }
  if (opts.transform !== undefined && typeof opts.transform !== 'function') throw new InvalidWatcherOptionsError('transform must be a function')
  const target = targetOf(opts)
  let client = opts.client
  if (!client) {
    if (!opts.kubeConfig) throw new InvalidWatcherOptionsError('kubeConfig is required (e.g. const kc = new KubeConfig(); kc.loadFromDefault())')
    try {
      client = new HttpListWatchClient(opts.kubeConfig, target)
    } catch (err) {
      throw new InvalidWatcherOptionsError(`kubeConfig is not usable: ${(err as Error).message}`)
    }
  }
  const store = opts.store ? new StoreWriter(typeof opts.store === 'object' ? (opts.store.indexers as Indexers<KubeObject>) : {}) : undefined
  if (resume !== undefined) {
    if (resume === null || typeof resume !== 'object' || typeof resume.resourceVersion !== 'string' || resume.resourceVersion === '') {
      throw new InvalidWatcherOptionsError(`resume.resourceVersion (or resourceVersion) must be a non-empty string, got ${String(resume?.resourceVersion)}`)
    }
    const known = resume.known
    if (known !== undefined && (known === null || typeof (known as Iterable<KnownRecord>)[Symbol.iterator] !== 'function')) {
      throw new InvalidWatcherOptionsError('resume.known must be an iterable of [key, resourceVersion] pairs or objects (e.g. a Map<string, string>)')
    }
  }
  const engine: Partial<EngineConfig> = {}
  if (opts.pageSize !== undefined) engine.pageSize = opts.pageSize
  if (opts.initialList !== undefined) engine.initialList = opts.initialList
  if (opts.watchTimeoutSeconds !== undefined) {
    if (!(opts.watchTimeoutSeconds >= 1)) throw new InvalidWatcherOptionsError(`watchTimeoutSeconds must be >= 1, got ${String(opts.watchTimeoutSeconds)}`)
    engine.minWatchTimeoutSeconds = opts.watchTimeoutSeconds
  }
  if (opts.stallMarginMs !== undefined && !(opts.stallMarginMs >= 0)) throw new InvalidWatcherOptionsError(`stallMarginMs must be >= 0, got ${String(opts.stallMarginMs)}`)
  const known: KnownStore = store ?? new KnownVersions()
  if (resume?.known !== undefined) {
    try {
      seedKnown(known, resume.known, { objectsOnly: store !== undefined })
    } catch (err) {
      if (err instanceof InvalidResumeError) throw new InvalidWatcherOptionsError(`resume.known: ${err.message}`)
      throw err
    }
  }
  return {
    client,
    known,
    store,
    engine,
    deliverExisting: opts.deliverExisting ?? true,
    backoff: opts.backoff ?? CLIENT_GO_BACKOFF,
    transform: opts.transform,
    maxPending: opts.maxPending ?? 1024,
    stallMarginMs: opts.stallMarginMs,
    resumeFrom: resume?.resourceVersion,
    knowledge: resume !== undefined && resume.known === undefined ? 'partial' : 'complete',
    runner: undefined,
    retired: newWatchCounters(),
    handler: undefined,
    handlerStarts: 0,
    connectionStarts: 0,
    synced: false,
    lastProblem: undefined,
  }
}

/**
 * Watchers: supervised GenServers fed by a list/watch of one collection.
 *
 * A watcher is a small supervision tree: its own supervisor (`rest_for_one`) over the
 * handler process (your callbacks) and the connection process (list/watch). An expected
 * end of a watch (timeout, server close, 410) is handled inside the connection without
 * spending restarts; a failed connection is restarted with backoff and resumes from the
 * last resourceVersion handed to the handler; a crash of your callbacks restarts the
 * handler with a fresh `init`, and a new connection resyncs it from a list.
 *
 * @example
 * ```ts
 * const PodCounter: WatcherBehaviour<V1Pod, Record<string, number>> = {
 *   init: () => ok({}),
 *   handleEvent: (type, pod, counts) => noreply(tally(counts, type, pod)),
 *   handleCall: (_msg, _from, counts) => reply(counts, counts),
 * }
 * const pods = await Watcher.start(PodCounter, undefined, { kubeConfig, apiVersion: 'v1', kind: 'Pod', name: 'pods', store: true })
 * await pods.store?.synced             // the pods that existed at start were delivered
 * await GenServer.call('pods', 'counts')
 * await Watcher.stop(pods)
 * ```
 */
export const Watcher = {
  /**
   * Starts a watcher; resolves once its handler's `init` ran and its connection started
   * (not once synced: use `handleSynced` or `ref.store.synced`). Rejects with
   * `InvalidWatcherOptionsError` for bad options, or `ChildStartError` when `init` fails.
   */
  async start<T = KubeObject, S = any, A = any>(behaviour: WatcherBehaviour<T, S, A>, arg: A, opts: WatcherOptions<T>): Promise<WatcherRef<T>> {
    if (behaviour === null || typeof behaviour !== 'object' || typeof behaviour.init !== 'function' || typeof behaviour.handleEvent !== 'function') {
      throw new InvalidWatcherOptionsError('a watcher behaviour needs init(arg, ctx) and handleEvent(type, object, state, ctx)')
    }
    if (opts === null || typeof opts !== 'object') throw new InvalidWatcherOptionsError('options are required')
    const shared = sharedOf(opts as WatcherOptions<unknown>, await resumeOf(opts as WatcherOptions<unknown>))
    const registry = opts.name !== undefined ? (opts.registry ?? undefined) : new Registry()
    const name = opts.name ?? 'watcher'
    const supervisor = await Supervisor.start(
      [
        {
          id: 'handler',
          start: (env: ChildEnv) => GenServer.start(HandlerAdapter, { shared, user: behaviour as WatcherBehaviour, arg }, { ...env, name, registry: registry ?? env.registry }),
        },
        {
          id: 'connection',
          start: (env: ChildEnv) => GenServer.start(Connection, { shared }, { ...env }),
          backoff: opts.restartBackoff ?? CLIENT_GO_BACKOFF,
          shutdown: 5000,
        },
      ],
      {
        strategy: 'rest_for_one',
        maxRestarts: opts.maxRestarts ?? 3,
        maxSeconds: opts.maxSeconds ?? 5,
        // Every process of the tree logs with the watcher's name (or its kind) bound.
        logger: (opts.logger ?? defaultLogger()).child({ watcher: opts.name ?? opts.kind ?? opts.path }),
        clock: opts.clock,
        registry: opts.registry,
        link: opts.link,
      },
    )
    const watcherName = opts.name ?? opts.kind ?? opts.path ?? 'watcher'
    attachProbe(supervisor, {
      kind: 'watcher',
      read: () => snapshotOf(shared, watcherName, opts as WatcherOptions<unknown>),
      actions: { relist: () => shared.runner?.relist() },
    })
    if (opts.metrics) {
      const untrack = opts.metrics.track(opts.name ?? opts.kind ?? opts.path ?? 'watcher', () => totalCounters(shared), opts.clock ?? systemClock)
      GenServer.onExit(supervisor, untrack)
    }
    return {
      registry: registry ?? opts.registry ?? defaultRegistry,
      name,
      supervisor,
      store: shared.store?.view as Store<Plain<T> & KubeObject> | undefined,
      get counters() {
        return totalCounters(shared)
      },
    }
  },

  /**
   * A child spec that runs a watcher under a supervisor (type `supervisor`). Give it a
   * `name` to reach the handler with `GenServer.call(name, …)`.
   */
  childSpec<T = KubeObject, S = any, A = any>(
    behaviour: WatcherBehaviour<T, S, A>,
    arg: A,
    opts: WatcherOptions<T> & { id?: string; restart?: ChildSpec['restart'] },
  ): ChildSpec {
    const { id, restart, ...watcherOpts } = opts
    return {
      id: id ?? opts.name ?? `watcher:${opts.kind ?? opts.path}`,
      type: 'supervisor',
      restart,
      start: async (env) => {
        const ref = await Watcher.start(behaviour, arg, {
          ...watcherOpts,
          link: env.link,
          logger: watcherOpts.logger ?? env.logger,
          clock: watcherOpts.clock ?? env.clock,
          registry: watcherOpts.registry ?? env.registry,
        })
        return ref.supervisor
      },
    }
  },

  /**
   * Cuts the watcher's backoff short: if its connection is waiting (after failures, or for
   * a 429's `Retry-After`), it reconnects now instead of at the wait's end. For when you
   * know the cause is gone — a network change, a fault cleared, a server back up. The
   * backoff sequence is not reset, so a failure right after still backs off longer.
   * Resolves to the wait it cut short (why, until when, which attempt), or undefined when
   * the connection was not waiting (then nothing happens). A message to the handler: it is
   * answered after the changes already in the handler's mailbox.
   */
  reconnectNow(ref: WatcherRef<any> | ViaName | string, timeoutMs?: number): Promise<PendingWait | undefined> {
    return GenServer.call<PendingWait | undefined>(ref, RECONNECT_NOW, timeoutMs)
  },

  /**
   * The watcher's backoff or `Retry-After` wait in progress — why (`reason`, `cause`),
   * since and until when (`clock.now()` time), which attempt — or undefined while it lists
   * or watches. Read-only; answered by the handler after the changes in its mailbox.
   * Not covered: the supervisor's `restartBackoff` before it restarts a connection that
   * ended with a terminal error (401/403/404), which is logged by the supervisor.
   */
  waiting(ref: WatcherRef<any> | ViaName | string, timeoutMs?: number): Promise<PendingWait | undefined> {
    return GenServer.call<PendingWait | undefined>(ref, WAITING, timeoutMs)
  },

  /** Stops a watcher: its connection closes, then its handler's `terminate` runs. */
  stop(ref: WatcherRef<any>, reason: ExitReason = 'normal'): Promise<void> {
    return Supervisor.stop(ref.supervisor, reason)
  },
}
