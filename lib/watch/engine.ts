/**
 * The list/watch engine as a pure state machine, after kube-rs
 * `kube-runtime/src/watcher.rs`: a {@link WatchState} with a documented variant per
 * phase and one {@link step} function that takes the outcome of the last IO
 * ({@link EngineInput}) and returns the next state plus the {@link Effect}s to perform
 * (requests to start, waits, events for the consumer). No IO, timers or randomness
 * inside: the runner (`runner.ts`) performs the effects and feeds back their outcomes;
 * randomness (watch timeouts) and backoff delays come from an injected {@link EngineEnv}.
 *
 * The cycle: paged list (500 per page) → watch from the list's resourceVersion with
 * bookmarks and a random 5–10 min `timeoutSeconds` → on a clean end, watch again from
 * the last resourceVersion seen (bookmarks advance it) without relisting → on 410 Gone
 * (HTTP status or ERROR event) relist, emitted as a batch (`relistStart`, `relistPage`…,
 * `relistDone`) that the consumer diffs against what it delivered (`diffRelist`).
 */
import { ApiStatusError, classifyStatus, InitialListFailedError, WatchStartFailedError } from './errors.ts'
import type { WatchError } from './errors.ts'
import { type KubeObject, resourceVersionOf, type WatchEvent } from './object.ts'
import type { DecodeError } from './decode.ts'

/** The annotation on the bookmark that ends a streaming initial list (KEP-3157). */
export const INITIAL_EVENTS_END = 'k8s.io/initial-events-end'

/** How the initial list (and every relist) is fetched. */
export type InitialListStrategy =
  /** Paged `list`, then `watch` from its resourceVersion (kube-rs `InitialListStrategy::ListWatch`, the default). */
  | 'list'
  /**
   * One `watch` with `sendInitialEvents=true&resourceVersionMatch=NotOlderThan`: the
   * server streams the current objects as ADDED, then a BOOKMARK annotated
   * `k8s.io/initial-events-end: "true"` (kube-rs `StreamingList`, client-go `WatchListClient`).
   * Falls back to `list` for good when the server rejects the parameters (400/422, servers
   * before 1.27 or without the `WatchList` feature).
   */
  | 'stream'

/** Engine configuration, as data with documented defaults (see {@link DEFAULT_ENGINE_CONFIG}). */
export interface EngineConfig {
  /** Objects per list page (`limit`). Default 500: kube-rs `watcher::Config::page_size`, client-go's pager. */
  pageSize: number
  /** How lists are fetched. Default `'list'`. */
  initialList: InitialListStrategy
  /**
   * Resume: watch from this resourceVersion without listing first. A 410 then relists
   * and the consumer diffs against what it already knows. Default: none (list first).
   */
  resourceVersion: string | undefined
  /**
   * Watch `timeoutSeconds` is drawn uniformly from [min, 2×min): client-go's reflector,
   * `minWatchTimeout = 5 * time.Minute`, `timeoutSeconds = min * (rand.Float64() + 1.0)`.
   */
  minWatchTimeoutSeconds: number
  /**
   * The longest `Retry-After` of a 429 that is honoured as sent; a longer one waits this
   * long, so a watcher is never silenced for longer than its longest backoff (default 30,
   * client-go's backoff cap; client-go's reflector ignores Retry-After on a watch 429
   * altogether and backs off). A `Retry-After` of 0 backs off instead, so a server that
   * keeps answering 429 without a delay cannot drive a tight retry loop.
   */
  maxRetryAfterSeconds: number
}

/** Defaults: 500 per page, paged list, no resume, watch timeouts in [300, 600) s, Retry-After honoured up to 30 s. */
export const DEFAULT_ENGINE_CONFIG: Readonly<EngineConfig> = Object.freeze({
  pageSize: 500,
  initialList: 'list',
  resourceVersion: undefined,
  minWatchTimeoutSeconds: 300,
  maxRetryAfterSeconds: 30,
})

/** Where the engine resumes after a wait. */
export type Resume =
  /** The list page at `continueToken` (the first page when undefined). */
  | { to: 'list'; continueToken: string | undefined }
  /** A fresh (re)list from the start: a streaming list when configured and supported, else a paged list. */
  | { to: 'stream' }
  /** A watch from `resourceVersion`. */
  | { to: 'watch'; resourceVersion: string }

/** Fields every state carries. */
interface Common {
  /** The last resourceVersion seen: a list's, an event object's or a bookmark's. */
  readonly resourceVersion: string | undefined
  /** Whether `synced` was emitted (after the first complete list, or the first watch of a resume). */
  readonly synced: boolean
  /** Whether the server accepted a streaming list; `'unsupported'` after a rejection pins `'list'`. */
  readonly streaming: 'untried' | 'supported' | 'unsupported'
  /** 410s in a row without a delivered event in between: the first relists at once, later ones back off. */
  readonly goneStreak: number
}

/**
 * The engine's state. Each variant is a phase with its request in flight (or none).
 * Treat states as immutable values; `step` returns a new one.
 */
export type WatchState = Common &
  (
    | {
        /** Nothing requested yet; `start` leaves it. */
        readonly phase: 'Empty'
      }
    | {
        /** A list page is requested. `continueToken` undefined: the first page of a (re)list. */
        readonly phase: 'Listing'
        readonly continueToken: string | undefined
      }
    | {
        /**
         * A streaming-list watch is requested or open: ADDED events are the listed
         * objects until the `k8s.io/initial-events-end` bookmark.
         */
        readonly phase: 'Streaming'
        readonly open: boolean
      }
    | {
        /** A watch from `resourceVersion` is requested (`open` false) or streaming (`open` true). */
        readonly phase: 'Watching'
        readonly open: boolean
      }
    | {
        /** Waiting `ms` (a backoff or a `Retry-After`); `backoffElapsed` resumes at `resume`. */
        readonly phase: 'Waiting'
        readonly resume: Resume
        readonly ms: number
      }
    | {
        /** A terminal failure; every further input is ignored. */
        readonly phase: 'Failed'
        readonly error: WatchError
      }
  )

/** The outcome of a failed request: an HTTP status, or a network error without one. */
export interface Failure {
  /** HTTP status; absent for network errors, resets and timeouts. */
  status?: number | undefined
  /** `Retry-After` in seconds, when sent. */
  retryAfterSeconds?: number | undefined
  /** The underlying error (kept as `cause` of a terminal error). */
  error?: unknown
}

/** What happened: the outcomes of IO the runner performed, fed to {@link step} in order. */
export type EngineInput =
  /** Begin: list, stream, or (with a resume resourceVersion) watch. */
  | { type: 'start' }
  /** A list page arrived. `continueToken` set: more pages follow. */
  | { type: 'listPage'; items: KubeObject[]; continueToken: string | undefined; resourceVersion: string }
  /** The list request failed. */
  | ({ type: 'listFailed' } & Failure)
  /** The watch request was answered 200; events follow. */
  | { type: 'watchStarted' }
  /** One decoded watch event, in stream order. */
  | { type: 'watchEvent'; event: WatchEvent }
  /** A line of the stream was not an event; it is counted and skipped, the next line is read. */
  | { type: 'decodeError'; error: DecodeError }
  /**
   * The server closed the watch cleanly (its `timeoutSeconds` elapsed, or it closed).
   * `durationMs` and `events` (lines received, bookmarks included) describe the stream that
   * ended; when given, a stream shorter than 1 s without a single event counts as a
   * failure ("very short watch", client-go reflector) so a server or proxy that closes
   * every watch at once meets backoff instead of a reconnect storm.
   */
  | { type: 'watchEnded'; durationMs?: number; events?: number }
  /** The watch request failed, before (`status`) or after it started (network error). */
  | ({ type: 'watchFailed' } & Failure)
  /** No bytes for longer than the watch timeout plus a margin: the runner tore it down. */
  | { type: 'stalled' }
  /** The wait asked for by a `wait` effect is over. */
  | { type: 'backoffElapsed' }
  /** The consumer asks for a fresh list (e.g. its handler restarted and must be resynced). */
  | { type: 'relist' }

/** Parameters of a list request; `limit` always, `continueToken` for later pages. */
export interface ListParams {
  limit: number
  continueToken?: string
  resourceVersion?: string
}

/** Parameters of a watch request. */
export interface WatchParams {
  /** The resourceVersion to start from; absent only for a streaming list (consistent read). */
  resourceVersion?: string
  allowWatchBookmarks: true
  timeoutSeconds: number
  /** Streaming list: `sendInitialEvents=true&resourceVersionMatch=NotOlderThan`. */
  sendInitialEvents?: true
  resourceVersionMatch?: 'NotOlderThan'
}

/**
 * What the engine tells its consumer, in stream order. `added`/`modified`/`deleted`
 * are live watch events. A relist arrives as `relistStart`, then `relistPage`s (objects
 * to be diffed against what was delivered), then `relistDone` with the list's
 * resourceVersion (kube-rs `Init` / `InitApply` / `InitDone`); `initial` marks the very
 * first one. `synced` comes once. `bookmark` advances the resourceVersion only.
 */
export type EngineEvent =
  | { type: 'added' | 'modified' | 'deleted'; object: KubeObject }
  /** `initial`: this is the first list (nothing synced yet). */
  | { type: 'relistStart'; initial: boolean }
  | { type: 'relistPage'; objects: KubeObject[] }
  | { type: 'relistDone'; resourceVersion: string; initial: boolean }
  | { type: 'synced'; resourceVersion: string }
  | { type: 'bookmark'; resourceVersion: string }

/** Counter names the engine reports through `count` effects. */
export type EngineCounter = 'gone' | 'watchErrors' | 'decodeErrors' | 'stalls' | 'throttled' | 'failures'

/** What the runner must do, in order. */
export type Effect =
  | { type: 'list'; params: ListParams }
  | { type: 'watch'; params: WatchParams }
  /** Tear down the current watch connection (it is no longer wanted). */
  | { type: 'closeWatch' }
  /**
   * Wait `ms` before going on: a backoff or a `Retry-After`. `reason` names what failed
   * (`'watch failed'`, `'stalled watch'`, `'Retry-After'`…); `cause`, when a failure came
   * with an error, describes it (`HTTP 500 InternalError: etcd hiccup`, `socket hang up`).
   */
  | { type: 'wait'; ms: number; reason: string; cause?: string }
  | { type: 'emit'; event: EngineEvent }
  | { type: 'count'; counter: EngineCounter }
  | { type: 'log'; level: 'debug' | 'info' | 'warn' | 'error'; msg: string; data?: Record<string, unknown> }

/** The result of one {@link step}. */
export interface Step {
  state: WatchState
  effects: Effect[]
}

/** Injected sources of randomness and delay: the only non-determinism of the engine. */
export interface EngineEnv {
  /** Uniform in [0, 1); draws watch timeouts. */
  random(): number
  /** The backoff for failures: `Backoff(CLIENT_GO_BACKOFF, clock)` in production. */
  backoff: { next(): number }
}

/** The state before `start`. */
export function initialState(): WatchState {
  return { phase: 'Empty', resourceVersion: undefined, synced: false, streaming: 'untried', goneStreak: 0 }
}

/**
 * Advances the engine by one input: the whole list/watch policy in one pure function.
 *
 * When to use: to drive list/watch with your own IO (the `WatchRunner` is the standard
 * driver), or to test a scenario without a network. Perform the returned effects in
 * order; at most one of them starts IO (`list`, `watch` or `wait`), and its outcome is
 * the next input.
 *
 * Gotchas: pure apart from drawing from `env` (a random watch timeout, the next backoff
 * delay). Inputs that do not fit the current phase (a late outcome of a request that was
 * already torn down) leave the state unchanged. After `Failed`, nothing happens anymore.
 *
 * @example
 * ```ts
 * let state = initialState()
 * const env = { random: Math.random, backoff: new Backoff(CLIENT_GO_BACKOFF, systemClock) }
 * let out = step(state, { type: 'start' }, DEFAULT_ENGINE_CONFIG, env)
 * // out.effects: [{ type: 'list', params: { limit: 500 } }]
 * out = step(out.state, { type: 'listPage', items, continueToken: undefined, resourceVersion: '42' }, DEFAULT_ENGINE_CONFIG, env)
 * // relistStart, relistPage, relistDone('42'), synced('42'), watch from '42'
 * ```
 */
export function step(state: WatchState, input: EngineInput, config: EngineConfig, env: EngineEnv): Step {
  if (state.phase === 'Failed') return { state, effects: [] }
  switch (input.type) {
    case 'start':
      if (state.phase !== 'Empty') return { state, effects: [] }
      if (config.resourceVersion !== undefined && config.resourceVersion !== '') {
        return watchFrom({ ...state, resourceVersion: config.resourceVersion }, config, env, [])
      }
      return beginList(state, config, env, [])
    case 'relist':
      return beginList(state, config, env, [{ type: 'closeWatch' }])
    case 'backoffElapsed':
      if (state.phase !== 'Waiting') return { state, effects: [] }
      return resume(state, state.resume, config, env)
    case 'listPage':
      return onListPage(state, input, config, env)
    case 'listFailed':
      return onListFailed(state, input, config, env)
    case 'watchStarted':
      return onWatchStarted(state)
    case 'watchEvent':
      return onWatchEvent(state, input.event, config, env)
    case 'decodeError':
      return {
        state,
        effects: [
          { type: 'count', counter: 'decodeErrors' },
          {
            type: 'log',
            level: 'warn',
            msg: 'skipped a malformed watch line',
            data: { offset: input.error.offset, length: input.error.length, snippet: input.error.snippet, reason: input.error.message },
          },
        ],
      }
    case 'watchEnded':
      return onWatchEnded(state, input, config, env)
    case 'watchFailed':
      return onWatchFailed(state, input, config, env)
    case 'stalled':
      if (state.phase !== 'Watching' && state.phase !== 'Streaming') return { state, effects: [] }
      return backOff(state, resumeAfterWatch(state), 'stalled watch', env, [
        { type: 'closeWatch' },
        { type: 'count', counter: 'stalls' },
        { type: 'log', level: 'warn', msg: 'watch stalled: no bytes within the watch timeout plus margin; reconnecting', data: { resourceVersion: state.resourceVersion } },
      ])
  }
}

/** A random watch timeout in [min, 2×min) seconds, as client-go's reflector. */
export function watchTimeoutSeconds(config: EngineConfig, random: () => number): number {
  return Math.floor(config.minWatchTimeoutSeconds * (1 + random()))
}

function beginList(state: WatchState, config: EngineConfig, env: EngineEnv, effects: Effect[]): Step {
  if (config.initialList === 'stream' && state.streaming !== 'unsupported') {
    const params: WatchParams = {
      allowWatchBookmarks: true,
      timeoutSeconds: watchTimeoutSeconds(config, env.random),
      sendInitialEvents: true,
      resourceVersionMatch: 'NotOlderThan',
    }
    effects.push({ type: 'watch', params })
    return { state: { ...common(state), phase: 'Streaming', open: false }, effects }
  }
  effects.push({ type: 'list', params: { limit: config.pageSize } })
  return { state: { ...common(state), phase: 'Listing', continueToken: undefined }, effects }
}

function watchFrom(state: WatchState, config: EngineConfig, env: EngineEnv, effects: Effect[]): Step {
  const resourceVersion = state.resourceVersion ?? ''
  effects.push({
    type: 'watch',
    params: { resourceVersion, allowWatchBookmarks: true, timeoutSeconds: watchTimeoutSeconds(config, env.random) },
  })
  return { state: { ...common(state), phase: 'Watching', open: false }, effects }
}

function resume(state: WatchState, to: Resume, config: EngineConfig, env: EngineEnv): Step {
  switch (to.to) {
    case 'watch':
      return watchFrom({ ...state, resourceVersion: to.resourceVersion }, config, env, [])
    case 'stream':
      return beginList(state, config, env, [])
    case 'list': {
      const params: ListParams = { limit: config.pageSize }
      if (to.continueToken !== undefined) params.continueToken = to.continueToken
      return { state: { ...common(state), phase: 'Listing', continueToken: to.continueToken }, effects: [{ type: 'list', params }] }
    }
  }
}

function onListPage(state: WatchState, input: Extract<EngineInput, { type: 'listPage' }>, config: EngineConfig, env: EngineEnv): Step {
  if (state.phase !== 'Listing') return { state, effects: [] }
  const effects: Effect[] = []
  if (state.continueToken === undefined) effects.push({ type: 'emit', event: { type: 'relistStart', initial: !state.synced } })
  effects.push({ type: 'emit', event: { type: 'relistPage', objects: input.items } })
  if (input.continueToken) {
    effects.push({ type: 'list', params: { limit: config.pageSize, continueToken: input.continueToken } })
    return { state: { ...common(state), phase: 'Listing', continueToken: input.continueToken }, effects }
  }
  return listComplete(state, input.resourceVersion, effects, config, env, true)
}

/** A (re)list is complete at `resourceVersion`: close the batch, sync once, watch on. */
function listComplete(state: WatchState, resourceVersion: string, effects: Effect[], config: EngineConfig, env: EngineEnv, startWatch: boolean): Step {
  effects.push({ type: 'emit', event: { type: 'relistDone', resourceVersion, initial: !state.synced } })
  if (!state.synced) effects.push({ type: 'emit', event: { type: 'synced', resourceVersion } })
  const next: WatchState = { ...common(state), resourceVersion, synced: true, phase: 'Watching', open: true }
  if (!startWatch) return { state: next, effects }
  return watchFrom(next, config, env, effects)
}

function onListFailed(state: WatchState, input: Failure, config: EngineConfig, env: EngineEnv): Step {
  if (state.phase !== 'Listing') return { state, effects: [] }
  const retry: Resume = { to: 'list', continueToken: state.continueToken }
  if (input.status === undefined) return backOff(state, retry, 'list failed', env, [], causeOf(input))
  switch (classifyStatus(input.status)) {
    case 'gone': {
      // An expired continue token (or a too old resourceVersion): the pager's answer is a full list.
      const effects: Effect[] = [{ type: 'count', counter: 'gone' }, ...failureLog('list expired (410); listing again from the start', input, state, 'info')]
      if (state.continueToken === undefined) return backOff(state, { to: 'list', continueToken: undefined }, 'list gone', env, effects)
      effects.push({ type: 'list', params: { limit: config.pageSize } })
      return { state: { ...common(state), phase: 'Listing', continueToken: undefined }, effects }
    }
    case 'throttled':
      return throttled(state, retry, input, config, env)
    case 'terminal':
      return fail(state, new InitialListFailedError(describe('list', input), { status: input.status, cause: input.error }))
    case 'transient':
      return backOff(state, retry, 'list failed', env, [], causeOf(input))
  }
}

function onWatchStarted(state: WatchState): Step {
  if (state.phase === 'Streaming') {
    if (state.open) return { state, effects: [] }
    return { state: { ...state, open: true }, effects: [{ type: 'emit', event: { type: 'relistStart', initial: !state.synced } }] }
  }
  if (state.phase !== 'Watching' || state.open) return { state, effects: [] }
  const effects: Effect[] = []
  let synced = state.synced
  if (!synced) {
    // Resume without a list: the consumer's view as of the resume resourceVersion counts as synced.
    effects.push({ type: 'emit', event: { type: 'synced', resourceVersion: state.resourceVersion ?? '' } })
    synced = true
  }
  return { state: { ...state, synced, open: true }, effects }
}

function onWatchEvent(state: WatchState, event: WatchEvent, config: EngineConfig, env: EngineEnv): Step {
  if (state.phase !== 'Watching' && state.phase !== 'Streaming') return { state, effects: [] }
  const object = event.object
  switch (event.type) {
    case 'ADDED':
    case 'MODIFIED':
    case 'DELETED': {
      const resourceVersion = resourceVersionOf(object) || state.resourceVersion
      if (state.phase === 'Streaming') {
        if (event.type === 'DELETED') {
          // KEP-3157: initial events are all ADDED; a DELETED here would be a server bug.
          return { state: { ...state, resourceVersion }, effects: [{ type: 'log', level: 'warn', msg: 'ignored a DELETED event inside a streaming list', data: { resourceVersion } }] }
        }
        return { state: { ...state, resourceVersion }, effects: [{ type: 'emit', event: { type: 'relistPage', objects: [object] } }] }
      }
      const type = event.type === 'ADDED' ? 'added' : event.type === 'MODIFIED' ? 'modified' : 'deleted'
      return { state: { ...state, resourceVersion, goneStreak: 0, open: true }, effects: [{ type: 'emit', event: { type, object } }] }
    }
    case 'BOOKMARK': {
      const resourceVersion = resourceVersionOf(object) || state.resourceVersion || ''
      if (state.phase === 'Streaming') {
        if (object.metadata?.annotations?.[INITIAL_EVENTS_END] === 'true') {
          return listComplete({ ...state, streaming: 'supported' }, resourceVersion, [], config, env, false)
        }
        return { state: { ...state, resourceVersion }, effects: [] }
      }
      return { state: { ...state, resourceVersion, goneStreak: 0 }, effects: [{ type: 'emit', event: { type: 'bookmark', resourceVersion } }] }
    }
    case 'ERROR': {
      const status = object as { code?: unknown; reason?: unknown; message?: unknown }
      const code = typeof status.code === 'number' ? status.code : undefined
      const data = { code, reason: status.reason, message: typeof status.message === 'string' ? status.message.slice(0, 300) : undefined, resourceVersion: state.resourceVersion }
      if (code === 410 || status.reason === 'Expired' || status.reason === 'Gone') {
        return gone(state, config, env, [{ type: 'closeWatch' }, { type: 'log', level: 'info', msg: 'watch expired (410 ERROR event); relisting', data }])
      }
      // client-go ends the watch on any other ERROR event and, after a backoff, lists again
      // (reflector.go: internal errors are retried only within MaxInternalErrorRetryDuration,
      // 0 by default). Watching again from the same resourceVersion can fail forever — e.g.
      // etcd compacted to just past it answers every watch with 500 "PrevKv=nil" — while a
      // relist always recovers, and its diff delivers only real changes.
      return backOff(
        state,
        relistResume(state, config),
        'watch ERROR event',
        env,
        [{ type: 'closeWatch' }, { type: 'count', counter: 'watchErrors' }, { type: 'log', level: 'warn', msg: 'watch ERROR event; listing again after a backoff', data }],
        `ERROR event ${code ?? '?'} ${typeof status.reason === 'string' ? status.reason : ''}${data.message ? `: ${data.message}` : ''}`,
      )
    }
  }
}

/** Below this, a clean end without events is a "very short watch" (client-go reflector: 1 s). */
const VERY_SHORT_WATCH_MS = 1000

function onWatchEnded(state: WatchState, input: Extract<EngineInput, { type: 'watchEnded' }>, config: EngineConfig, env: EngineEnv): Step {
  if (state.phase === 'Watching' && input.events === 0 && input.durationMs !== undefined && input.durationMs < VERY_SHORT_WATCH_MS) {
    return backOff(state, resumeAfterWatch(state), 'very short watch', env, [
      { type: 'log', level: 'warn', msg: 'watch closed within a second without any event; backing off', data: { resourceVersion: state.resourceVersion, durationMs: input.durationMs } },
    ])
  }
  if (state.phase === 'Watching') return watchFrom(state, config, env, [{ type: 'log', level: 'debug', msg: 'watch ended; watching again', data: { resourceVersion: state.resourceVersion } }])
  if (state.phase === 'Streaming') {
    return backOff(state, resumeAfterWatch(state), 'streaming list ended early', env, [
      { type: 'log', level: 'warn', msg: 'streaming list ended before its initial-events-end bookmark; listing with pages instead', data: { resourceVersion: state.resourceVersion } },
    ])
  }
  return { state, effects: [] }
}

function onWatchFailed(state: WatchState, input: Failure, config: EngineConfig, env: EngineEnv): Step {
  if (state.phase !== 'Watching' && state.phase !== 'Streaming') return { state, effects: [] }
  const again = resumeAfterWatch(state)
  if (input.status === undefined) return backOff(state, again, 'watch failed', env, [{ type: 'closeWatch' }], causeOf(input))
  if (state.phase === 'Streaming' && (input.status === 400 || input.status === 422 || input.status === 405)) {
    // The server does not take sendInitialEvents/resourceVersionMatch on a watch: list instead, from now on.
    const listing = beginList({ ...state, streaming: 'unsupported' }, config, env, [])
    listing.effects.unshift({ type: 'log', level: 'info', msg: 'streaming list rejected by the server; falling back to list+watch', data: { status: input.status } })
    return listing
  }
  switch (classifyStatus(input.status)) {
    case 'gone':
      return gone(state, config, env, [{ type: 'log', level: 'info', msg: 'watch expired (410 Gone); relisting', data: { resourceVersion: state.resourceVersion } }])
    case 'throttled':
      return throttled(state, again, input, config, env)
    case 'terminal':
      return fail(state, new WatchStartFailedError(describe('watch', input), { status: input.status, cause: input.error }))
    case 'transient':
      return backOff(state, again, 'watch failed', env, [], causeOf(input))
  }
}

/** 410: relist — at once the first time, with backoff when 410s repeat without progress. */
function gone(state: WatchState, config: EngineConfig, env: EngineEnv, effects: Effect[]): Step {
  effects.push({ type: 'count', counter: 'gone' })
  const next: WatchState = { ...state, goneStreak: state.goneStreak + 1 }
  if (state.goneStreak === 0) return beginList(next, config, env, effects)
  return backOff(next, relistResume(state, config), 'repeated 410', env, effects)
}

/** A full relist: streaming when configured and supported, else a paged list from the start. */
function relistResume(state: WatchState, config: EngineConfig): Resume {
  return state.streaming !== 'unsupported' && config.initialList === 'stream' ? { to: 'stream' } : { to: 'list', continueToken: undefined }
}

function throttled(state: WatchState, to: Resume, input: Failure, config: EngineConfig, env: EngineEnv): Step {
  const effects: Effect[] = [{ type: 'closeWatch' }, { type: 'count', counter: 'throttled' }]
  const asked = input.retryAfterSeconds
  if (asked === undefined || !(asked > 0)) {
    return backOff(state, to, asked === undefined ? 'throttled (429) without Retry-After' : 'throttled (429) with Retry-After 0', env, effects)
  }
  const seconds = Math.min(asked, config.maxRetryAfterSeconds)
  const ms = seconds * 1000
  effects.push({ type: 'log', level: 'info', msg: 'throttled (429); waiting Retry-After', data: seconds < asked ? { retryAfterSeconds: asked, waitSeconds: seconds } : { retryAfterSeconds: asked } })
  effects.push({ type: 'wait', ms, reason: 'Retry-After' })
  return { state: { ...common(state), phase: 'Waiting', resume: to, ms }, effects }
}

function backOff(state: WatchState, to: Resume, reason: string, env: EngineEnv, effects: Effect[], cause?: string): Step {
  const ms = env.backoff.next()
  effects.push({ type: 'count', counter: 'failures' }, cause === undefined ? { type: 'wait', ms, reason } : { type: 'wait', ms, reason, cause })
  return { state: { ...common(state), phase: 'Waiting', resume: to, ms }, effects }
}

function fail(state: WatchState, error: WatchError): Step {
  return {
    state: { ...common(state), phase: 'Failed', error },
    effects: [{ type: 'closeWatch' }, { type: 'log', level: 'error', msg: error.message, data: { code: error.code, status: error.status } }],
  }
}

/**
 * After a watch or streaming list is lost: a watch resumes from the last RV. A streaming
 * list lost before it opened starts over; one lost after it opened (ended early, stalled,
 * cut mid-stream) is finished by a paged list instead, once: the same stream could be cut
 * the same way again and again (a collection too large for the server's watch buffers or
 * for the watch timeout), while a paged list always completes. client-go's reflector does
 * the same ("falling back to the standard LIST/WATCH semantics because making progress is
 * better than deadlocking"); later relists try streaming again.
 */
function resumeAfterWatch(state: WatchState): Resume {
  if (state.phase === 'Streaming') return state.open ? { to: 'list', continueToken: undefined } : { to: 'stream' }
  if (state.resourceVersion === undefined) return { to: 'stream' }
  return { to: 'watch', resourceVersion: state.resourceVersion }
}

function common(state: WatchState): Common {
  return { resourceVersion: state.resourceVersion, synced: state.synced, streaming: state.streaming, goneStreak: state.goneStreak }
}

function failureLog(msg: string, input: Failure, state: WatchState, level: 'info' | 'warn' = 'warn'): Effect[] {
  const err = input.error
  const data: Record<string, unknown> = { status: input.status, resourceVersion: state.resourceVersion }
  // The error itself: the logger serializes it whole (class, code, message, stack, cause) and redacted.
  if (err instanceof Error) data.err = err
  return [{ type: 'log', level, msg, data }]
}

/** A failure in a few words for a backoff's log line: `HTTP 500 InternalError: etcd hiccup`, or the network error's message. */
function causeOf(input: Failure): string {
  const err = input.error
  const reason = err instanceof ApiStatusError && err.reason ? ` ${err.reason}` : ''
  // The client's messages may start with the status already ("HTTP 500: …"): say it once.
  const message = (err instanceof Error ? err.message : err === undefined ? '' : String(err)).replace(/^HTTP \d{3}:\s*/, '').slice(0, 300)
  const code = err instanceof Error ? (err as { code?: unknown }).code : undefined
  const head = input.status !== undefined ? `HTTP ${input.status}${reason}` : typeof code === 'string' ? code : 'network error'
  return message ? `${head}: ${message}` : head
}

function describe(what: 'list' | 'watch', input: Failure): string {
  const err = input.error
  const reason = err instanceof ApiStatusError && err.reason ? ` ${err.reason}` : ''
  const detail = err instanceof Error ? `: ${err.message}` : ''
  const hint =
    input.status === 401
      ? ' (credentials rejected)'
      : input.status === 403
        ? ' (forbidden: check RBAC for list/watch on this resource)'
        : input.status === 404
          ? ' (resource or namespace not found: is the CRD installed?)'
          : ''
  return `${what} refused with HTTP ${input.status}${reason}${hint}${detail}`
}
