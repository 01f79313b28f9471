import { AsyncLocalStorage } from 'node:async_hooks'
import { defaultLogger, type Logger, withRedaction } from '../log.ts'
import { type Clock, systemClock, type TimerHandle } from '../time/clock.ts'
import {
  BadResultError,
  CallingSelfError,
  CallTimeoutError,
  describeReason,
  InitIgnoredError,
  MissingCallbackError,
  NoProcessError,
  ProcessExitedError,
  StartError,
  StartTimeoutError,
} from './errors.ts'
import { type LifecycleEvent, nextStatus, type ProcessStatus } from './lifecycle.ts'
import { defaultRegistry, type Registry } from './registry.ts'
import {
  type After,
  type Behaviour,
  Down,
  Exit,
  type ExitReason,
  type From,
  isCleanExit,
  type MonitorRef,
  Pid,
  type ProcessContext,
  pidTarget,
  type StartOptions,
  TIMEOUT,
  type TimerRef,
} from './types.ts'

// Mailbox entry kinds. The mailbox is one flat array of (kind, payload) pairs, so a cast
// or an info message costs two array slots and no allocation.
const CALL = 1
const CAST = 2
const INFO = 3
/** An orderly exit signal: payload is the reason; `terminate` runs when it is reached. */
const SIGNAL = 4
/** Not stored in the mailbox: a pending `continue` runs before the next message. */
const CONTINUE = 5

/** How many messages one turn handles before yielding to the event loop (I/O fairness). */
const BATCH = 512

/**
 * Fairness across processes, after the BEAM's preemption (a process is scheduled out when
 * its reductions run out, and the scheduler polls I/O between slices): BATCH bounds one
 * process's run, but a chain of processes handing each other messages — a worker that
 * takes its next key as a message, two processes in ping-pong, an async callback that
 * resolves at once — schedules every run as a microtask, so without this the chain never
 * yields and timers, sockets and Lease renewals starve until it ends (seen: a sharder's
 * 10,000 no-op reconciles after a ring change held its lease renewal past the deadline).
 * Every process's run therefore shares one slice per event-loop turn: once the message
 * loop has run SLICE_MS in the current turn, runs continue in a later turn (setImmediate).
 * The slice closes in the turn's check phase, so at most two slices separate two polls.
 */
const SLICE_MS = 10
/** When the current slice began (performance.now()), or -1 when none is open. */
let sliceStart = -1
let sliceMessages = 0
let sliceOver = false
const closeSlice = () => {
  sliceStart = -1
  sliceOver = false
}

/** Opens the current turn's slice (the first message of the turn); returns false: not spent. */
function openSlice(): false {
  sliceStart = performance.now()
  sliceMessages = 0
  setImmediate(closeSlice)
  return false
}

/** Every 64th message of a slice: whether it has run SLICE_MS (a clock read costs ~30 ns, a cast ~0.1 µs). */
function sliceElapsed(): boolean {
  sliceOver = performance.now() - sliceStart > SLICE_MS
  return sliceOver
}

let lastId = 0
let lastRef = 0

/**
 * A turn: one run of a process's message loop (or its `init`). The async context carries
 * the turn a callback runs in, so `call` can tell a callback calling its own process —
 * a certain deadlock, which gen_server:call/3 fails with `calling_self` — from any other
 * caller. `enterWith` once per turn costs about 20 ns, not once per message.
 */
interface Turn {
  readonly proc: Process
}
const turns = new AsyncLocalStorage<Turn>()

/** Where an exit came from, for logging a crash exactly once. */
type Origin = 'self' | 'signal' | 'kill'

/** @internal A pending `call`: the promise's settle functions plus its timer. */
export class CallRecord {
  readonly msg: unknown
  readonly #proc: Process
  readonly #resolve: (value: unknown) => void
  readonly #reject: (err: unknown) => void
  timer: TimerHandle | undefined
  settled = false

  constructor(proc: Process, msg: unknown, resolve: (value: unknown) => void, reject: (err: unknown) => void) {
    this.#proc = proc
    this.msg = msg
    this.#resolve = resolve
    this.#reject = reject
  }

  resolve(value: unknown): void {
    if (this.settled) return
    this.#settle()
    this.#resolve(value)
  }

  reject(err: unknown): void {
    if (this.settled) return
    this.#settle()
    this.#reject(err)
  }

  #settle(): void {
    this.settled = true
    if (this.timer !== undefined) this.#proc.clock.clearTimeout(this.timer)
    this.#proc.calls?.delete(this)
  }
}

/**
 * @internal The runtime of one GenServer process. Users see it only as a {@link Pid} and,
 * inside callbacks, as its {@link ProcessContext}; everything else is internal.
 */
export class Process implements ProcessContext {
  readonly id: number
  /** The one public handle on this process: what start, `self`, links, Exit and Down hand out. */
  readonly pid: Pid
  name: string | undefined
  status: ProcessStatus = 'starting'
  readonly clock: Clock
  readonly behaviour: Behaviour
  state: unknown = undefined
  exitReason: ExitReason = undefined
  parent: Process | undefined
  trapping: boolean
  /** Calls delivered to this process and not yet answered; rejected when it exits. */
  calls: Set<CallRecord> | undefined
  /** `clock.now()` when this process was created (a restarted child is a new process). For introspection. */
  readonly startedAt: number
  /** Messages handled so far (calls, casts, infos, continues): one increment per message, for introspection. */
  handled = 0

  readonly #registry: Registry
  readonly #root: Logger
  #log: Logger | undefined
  /** Flat (kind, payload) pairs; entries before #head are consumed. */
  #box: unknown[] = []
  #head = 0
  /**
   * True while a run of the message loop is scheduled, running or waiting on an async
   * callback. Invariant: at most one run at a time — this is what makes handling
   * strictly one message at a time.
   */
  #busy = false
  #continue: { value: unknown } | undefined
  /** Timeout asked for by the last callback; armed only if the mailbox is then empty. */
  #wantTimeout: number | undefined
  #timeoutTimer: TimerHandle | undefined
  #links: Set<Process> | undefined
  /** Who monitors this process: a process (gets a Down message) or a plain callback. */
  #watchers: Map<number, Process | ((reason: ExitReason) => void)> | undefined
  /** Whom this process monitors, to demonitor on exit. */
  #watching: Map<number, Process> | undefined
  #timers: Map<number, TimerHandle> | undefined
  #exitWaiters: ((reason: ExitReason) => void)[] | undefined
  /** The turn whose callback is running or awaited; undefined when idle or between batches. */
  #turn: Turn | undefined
  /** Rejects `start` when the process exits (killed, an exit signal) while `init` runs. */
  #startFailed: ((reason: ExitReason) => void) | undefined
  /** The callback that crashed, for the crash log line. */
  #lastMessageKind: string | undefined
  readonly #drain = () => this.#run()

  constructor(behaviour: Behaviour, opts: StartOptions) {
    this.id = ++lastId
    this.pid = new Pid(this)
    this.behaviour = behaviour
    this.clock = opts.clock ?? systemClock
    this.#registry = opts.registry ?? defaultRegistry
    // A foreign pino logger gets kubevisor's redaction and error serialization on a child.
    this.#root = withRedaction(opts.logger ?? defaultLogger())
    this.trapping = opts.trapExit === true
    this.name = opts.name
    this.startedAt = this.clock.now()
  }

  // --- Pid ---------------------------------------------------------------------------

  get alive(): boolean {
    return this.status !== 'exited'
  }

  toString(): string {
    return this.name === undefined ? `#${this.id}` : `#${this.id}(${this.name})`
  }

  // --- ProcessContext ----------------------------------------------------------------

  get self(): Pid {
    return this.pid
  }

  get log(): Logger {
    this.#log ??= this.#root.child(this.name === undefined ? { pid: this.id } : { pid: this.id, name: this.name })
    return this.#log
  }

  /** The logger handed to children (supervisors pass their root, not their child logger). */
  get rootLogger(): Logger {
    return this.#root
  }

  get registry(): Registry {
    return this.#registry
  }

  trapExit(on: boolean): void {
    this.trapping = on
  }

  link(other: Pid | Process): void {
    const peer = asProcess(other)
    if (peer === this) return
    if (!peer.alive) {
      // erlang:link/1 (OTP 28): exit signals are "triggered due to a link ... when no
      // linkee exist (noproc exit reason)". A trapping caller receives {'EXIT', Pid,
      // noproc}; a non-trapping one dies of it. (Erlang's link/1 raises a noproc exception
      // there instead, "for historical reasons"; its docs call the exit signal "the
      // expected behavior", which is what this does.) Never the old reason: that exit
      // already went to the links the process had.
      this.#linkedExit(peer, 'noproc')
      return
    }
    ;(this.#links ??= new Set()).add(peer)
    ;(peer.#links ??= new Set()).add(this)
  }

  unlink(other: Pid | Process): void {
    const peer = asProcess(other)
    this.#links?.delete(peer)
    peer.#links?.delete(this)
  }

  monitor(other: Pid | Process): MonitorRef {
    const target = asProcess(other)
    const ref = ++lastRef as MonitorRef
    if (!target.alive) {
      // erlang:monitor/2: monitoring a process that does not exist delivers
      // {'DOWN', Ref, process, Pid, noproc} at once, as a message.
      this.deliver(INFO, new Down(ref, target.pid, 'noproc'))
      return ref
    }
    ;(target.#watchers ??= new Map()).set(ref, this)
    ;(this.#watching ??= new Map()).set(ref, target)
    return ref
  }

  demonitor(ref: MonitorRef): void {
    const target = this.#watching?.get(ref)
    if (!target) return
    this.#watching?.delete(ref)
    target.#watchers?.delete(ref)
  }

  sendAfter(msg: unknown, ms: number): TimerRef {
    const ref = ++lastRef as TimerRef
    const timers = (this.#timers ??= new Map())
    timers.set(
      ref,
      this.clock.setTimeout(() => {
        timers.delete(ref)
        this.deliver(INFO, msg)
      }, ms),
    )
    return ref
  }

  cancelTimer(ref: TimerRef): boolean {
    const handle = this.#timers?.get(ref)
    if (handle === undefined) return false
    this.clock.clearTimeout(handle)
    this.#timers?.delete(ref)
    return true
  }

  // --- Outside hooks (used by GenServer, Supervisor) -----------------------------------

  /** Calls `listener` once with the exit reason; at once (async) if already exited. */
  onExit(listener: (reason: ExitReason) => void): () => void {
    if (!this.alive) {
      const reason = this.exitReason
      queueMicrotask(() => listener(reason))
      return () => {}
    }
    const ref = ++lastRef
    ;(this.#watchers ??= new Map()).set(ref, listener)
    return () => this.#watchers?.delete(ref)
  }

  /** Resolves with the exit reason once the process has exited. */
  exited(): Promise<ExitReason> {
    if (!this.alive) return Promise.resolve(this.exitReason)
    return new Promise((resolve) => {
      ;(this.#exitWaiters ??= []).push(resolve)
    })
  }

  /** Messages waiting in the mailbox. */
  get queueLength(): number {
    return (this.#box.length - this.#head) >> 1
  }

  /** Links of this process (for inspection): their pids, never the runtime objects. */
  get links(): Pid[] {
    return this.#links ? [...this.#links].map((p) => p.pid) : []
  }

  /** The processes this one monitors, with the refs `monitor` returned (for inspection). */
  get monitors(): { ref: MonitorRef; pid: Pid }[] {
    return this.#watching ? [...this.#watching].map(([ref, target]) => ({ ref: ref as MonitorRef, pid: target.pid })) : []
  }

  /** The processes monitoring this one (`onExit` listeners are not processes and are not listed). */
  get monitoredBy(): Pid[] {
    const out: Pid[] = []
    if (this.#watchers) for (const w of this.#watchers.values()) if (w instanceof Process) out.push(w.pid)
    return out
  }

  // --- Delivery ----------------------------------------------------------------------

  /** @internal Appends a message; schedules the message loop if idle. */
  deliver(kind: number, payload: unknown): void {
    if (this.status === 'exited') {
      if (kind === CALL) (payload as CallRecord).reject(new NoProcessError(this.toString()))
      return
    }
    if (kind === CALL) (this.calls ??= new Set()).add(payload as CallRecord)
    this.#box.push(kind, payload)
    if (this.#timeoutTimer !== undefined) {
      this.clock.clearTimeout(this.#timeoutTimer)
      this.#timeoutTimer = undefined
    }
    if (!this.#busy && this.status === 'running') {
      this.#busy = true
      queueMicrotask(this.#drain)
    }
  }

  cast(msg: unknown): void {
    this.deliver(CAST, msg)
  }

  info(msg: unknown): void {
    this.deliver(INFO, msg)
  }

  /** True when the caller is this process's own callback, running or awaited (its turn). */
  inOwnCallback(): boolean {
    const turn = turns.getStore()
    return turn !== undefined && turn === this.#turn
  }

  call(msg: unknown, timeoutMs: number): Promise<unknown> {
    if (this.inOwnCallback()) {
      // gen_server:call/3 exits with calling_self: the reply could only come from the
      // callback that is waiting for it.
      return Promise.reject(new CallingSelfError(this.toString()))
    }
    return new Promise((resolve, reject) => {
      const record = new CallRecord(this, msg, resolve, reject)
      if (Number.isFinite(timeoutMs)) {
        record.timer = this.clock.setTimeout(() => record.reject(new CallTimeoutError(this.toString(), timeoutMs)), timeoutMs)
      }
      this.deliver(CALL, record)
    })
  }

  /**
   * An orderly stop: handled in mailbox order; `terminate(reason)` runs, then the process
   * exits with `reason`. This is how supervisors and `GenServer.stop` (gen_server:stop)
   * stop a process, whether or not it traps exits, and how a trapping process handles its
   * parent's EXIT (as gen_server does). Untrapped exit signals do not come here: they kill.
   */
  shutdown(reason: ExitReason): void {
    if (this.status === 'exited' || this.status === 'stopping') return
    this.deliver(SIGNAL, reason)
  }

  /**
   * An exit signal as erlang:exit/2 sends it: `'kill'` kills brutally (untrappable); a
   * trapping process gets an {@link Exit} message at the end of its mailbox; otherwise
   * `'normal'` is ignored and any other reason kills the process at once — before it
   * handles another queued message, discarding the result of a callback in flight, and
   * without `terminate` (gen_server runs terminate only for a trapped exit from its parent).
   */
  exitSignal(reason: ExitReason, from: Process | undefined = turns.getStore()?.proc): void {
    if (this.status === 'exited') return
    if (reason === 'kill') {
      this.kill()
      return
    }
    if (this.trapping) {
      this.deliver(INFO, new Exit(from?.pid, reason))
      return
    }
    if (reason !== 'normal') this.#exit(reason, 'signal', 'kill')
  }

  /** Brutal kill: exits at once with reason `'killed'`; `terminate` does not run. */
  kill(): void {
    if (this.status === 'exited') return
    this.#exit('killed', 'kill', 'kill')
  }

  // --- Start -------------------------------------------------------------------------

  /** Registers, links to the parent, runs `init`; resolves once it returned `ok`. */
  start(arg: unknown, opts: StartOptions): Promise<Pid> {
    if (this.name !== undefined) {
      try {
        this.#registry.register(this.name, this.pid)
      } catch (err) {
        this.status = 'exited'
        return Promise.reject(err)
      }
    }
    return new Promise<Pid>((resolve, reject) => {
      let timer: TimerHandle | undefined
      // Killed, or stopped by an exit signal, while init runs (proc_lib's start_link
      // returns {error, Reason} when the child dies before init_ack).
      this.#startFailed = (reason) => {
        if (timer !== undefined) this.clock.clearTimeout(timer)
        reject(new StartError(this.toString(), reason))
      }
      const timeoutMs = opts.timeout
      if (timeoutMs !== undefined && Number.isFinite(timeoutMs)) {
        timer = this.clock.setTimeout(() => {
          if (this.status !== 'starting') return
          this.#startFailed = undefined
          this.#quietUnlinkParent()
          this.log.error({ timeoutMs }, 'init timed out; killing the process')
          this.kill()
          reject(new StartTimeoutError(this.toString(), timeoutMs))
        }, timeoutMs)
      }
      const fail = (reason: ExitReason, event: LifecycleEvent, err: Error) => {
        if (timer !== undefined) this.clock.clearTimeout(timer)
        if (this.status !== 'starting') return
        this.#startFailed = undefined
        this.#turn = undefined
        this.#quietUnlinkParent()
        this.#exit(reason, event === 'init.ignore' ? 'signal' : 'self', event)
        reject(err)
      }
      const finish = (result: unknown) => {
        if (this.status !== 'starting') return
        const r = result as { tag?: string; state?: unknown; after?: After; reason?: ExitReason } | null
        switch (r?.tag) {
          case 'ok':
            if (timer !== undefined) this.clock.clearTimeout(timer)
            this.#startFailed = undefined
            this.#turn = undefined
            this.state = r.state
            this.status = nextStatus(this.status, 'init.ok') ?? this.status
            this.#after(r.after)
            resolve(this.pid)
            this.#busy = true
            queueMicrotask(this.#drain)
            return
          case 'ignore':
            fail('normal', 'init.ignore', new InitIgnoredError(this.toString()))
            return
          case 'stop':
            fail(r.reason, 'init.failed', new StartError(this.toString(), r.reason))
            return
          default: {
            const err = new BadResultError(this.toString(), 'init', result)
            fail(err, 'init.failed', new StartError(this.toString(), err))
          }
        }
      }
      const crashed = (err: unknown) => fail(err, 'init.failed', new StartError(this.toString(), err))
      if (opts.link) {
        this.parent = asProcess(opts.link)
        // A parent that already exited: a non-trapping process dies here of `noproc`.
        this.link(this.parent)
        if (this.status !== 'starting') return
      }
      let result: unknown
      const turn: Turn = { proc: this }
      this.#turn = turn
      try {
        result = turns.run(turn, () => this.behaviour.init.call(this.behaviour, arg, this))
      } catch (err) {
        crashed(err)
        return
      }
      if (result instanceof Promise) result.then(finish, crashed)
      else finish(result)
    })
  }

  /** A failed start is reported by the rejected promise, not by an exit signal to the parent. */
  #quietUnlinkParent(): void {
    if (this.parent) this.unlink(this.parent)
  }

  // --- The message loop ----------------------------------------------------------------

  #run(): void {
    let budget = BATCH
    // Runs only at the top of its own task (a microtask, an immediate or a promise
    // reaction), so entering the turn's context here cannot leak into a caller.
    const turn: Turn = { proc: this }
    turns.enterWith(turn)
    this.#turn = turn
    for (;;) {
      if (this.status !== 'running') {
        this.#turn = undefined
        this.#busy = false
        return
      }
      let kind: number
      let payload: unknown
      if (this.#continue !== undefined) {
        kind = CONTINUE
        payload = this.#continue.value
        this.#continue = undefined
      } else {
        const box = this.#box
        const head = this.#head
        if (head === box.length) {
          box.length = 0
          this.#head = 0
          this.#turn = undefined
          this.#busy = false
          if (this.#wantTimeout !== undefined) this.#armTimeout()
          return
        }
        // The shared slice, inlined (this runs per message): see SLICE_MS.
        if (--budget < 0 || (sliceStart < 0 ? openSlice() : sliceOver || ((++sliceMessages & 63) === 0 && sliceElapsed()))) {
          this.#turn = undefined
          setImmediate(this.#drain)
          return
        }
        kind = box[head] as number
        payload = box[head + 1]
        box[head] = undefined
        box[head + 1] = undefined
        this.#head = head + 2
        if (head > 2048 && head * 2 > box.length) {
          box.splice(0, this.#head)
          this.#head = 0
        }
      }
      this.#wantTimeout = undefined
      this.handled++
      let result: unknown
      try {
        result = this.#dispatch(kind, payload)
      } catch (err) {
        this.#beginStop(err, 'self', kind, payload)
        return
      }
      // An exit signal that arrived during the callback (it linked to a dead process, its
      // peer died of what it did) killed the process: its result is discarded.
      if (this.status !== 'running') continue
      if (result instanceof Promise) {
        result.then(
          (value) => {
            if (this.status !== 'running') return
            if (this.#apply(kind, payload, value)) this.#run()
          },
          (err) => {
            if (this.status === 'running') this.#beginStop(err, 'self', kind, payload)
          },
        )
        return
      }
      if (!this.#apply(kind, payload, result)) return
    }
  }

  #dispatch(kind: number, payload: unknown): unknown {
    const b = this.behaviour
    switch (kind) {
      case CAST:
        if (!b.handleCast) throw new MissingCallbackError(this.toString(), 'handleCast')
        return b.handleCast(payload, this.state, this)
      case INFO:
        if (!b.handleInfo) {
          if (payload !== TIMEOUT) this.log.warn({ message: describeReason(payload) }, 'dropped a message: the behaviour has no handleInfo')
          return { tag: 'noreply', state: this.state, after: undefined }
        }
        return b.handleInfo(payload, this.state, this)
      case CALL:
        if (!b.handleCall) throw new MissingCallbackError(this.toString(), 'handleCall')
        return b.handleCall((payload as CallRecord).msg, payload as unknown as From<unknown>, this.state, this)
      case CONTINUE:
        if (!b.handleContinue) throw new MissingCallbackError(this.toString(), 'handleContinue')
        return b.handleContinue(payload, this.state, this)
      default:
        // SIGNAL: an orderly exit, handled in mailbox order.
        return { tag: 'stop', reason: payload, state: this.state, reply: undefined, signal: true }
    }
  }

  /** Applies a callback result; returns false when the process is stopping. */
  #apply(kind: number, payload: unknown, result: unknown): boolean {
    const r = result as { tag?: string; state: unknown; after?: After; value?: unknown; reason?: ExitReason; reply?: { value: unknown }; signal?: boolean } | null
    switch (r?.tag) {
      case 'noreply':
        this.state = r.state
        this.#after(r.after)
        return true
      case 'reply':
        if (kind !== CALL) break
        this.state = r.state
        ;(payload as CallRecord).resolve(r.value)
        this.#after(r.after)
        return true
      case 'stop':
        if (r.state !== undefined) this.state = r.state
        if (kind === CALL && r.reply) (payload as CallRecord).resolve(r.reply.value)
        this.#beginStop(r.reason, r.signal === true ? 'signal' : 'self', kind, payload)
        return false
    }
    this.#beginStop(new BadResultError(this.toString(), callbackName(kind), result), 'self', kind, payload)
    return false
  }

  #after(after: After | undefined): void {
    if (after === undefined) return
    if ('continue' in after) this.#continue = { value: after.continue }
    else if (after.timeout !== undefined) this.#wantTimeout = after.timeout
  }

  #armTimeout(): void {
    const ms = this.#wantTimeout as number
    this.#wantTimeout = undefined
    if (!Number.isFinite(ms)) return
    this.#timeoutTimer = this.clock.setTimeout(() => {
      this.#timeoutTimer = undefined
      this.deliver(INFO, TIMEOUT)
    }, ms)
  }

  // --- Stopping and exit -----------------------------------------------------------------

  /** Runs `terminate(reason)` and then exits; the process is `stopping` meanwhile. */
  #beginStop(reason: ExitReason, origin: Origin, kind?: number, _payload?: unknown): void {
    const next = nextStatus(this.status, 'stop')
    if (next === null) return
    this.status = next
    this.#busy = true
    if (origin === 'self' && !isCleanExit(reason)) this.#lastMessageKind = kind === undefined ? undefined : callbackName(kind)
    const terminate = this.behaviour.terminate
    if (!terminate) {
      this.#exit(reason, origin, 'terminated')
      return
    }
    let done: unknown
    try {
      done = terminate.call(this.behaviour, reason, this.state, this)
    } catch (err) {
      this.#terminateFailed(err, reason)
      return
    }
    if (done instanceof Promise) {
      done.then(
        () => this.#exit(reason, origin, 'terminated'),
        (err) => this.#terminateFailed(err, reason),
      )
    } else {
      this.#exit(reason, origin, 'terminated')
    }
  }

  #terminateFailed(err: unknown, reason: ExitReason): void {
    if (this.status === 'exited') return
    this.log.error({ err, reason: describeReason(reason) }, 'terminate threw; exiting with its error')
    this.#exit(err, 'self', 'terminated', true)
  }

  /**
   * An exit signal from a linked process. As erlang:exit/2 puts it: "If P is trapping
   * exits, the exit signal is transformed into a message {'EXIT', From, Reason}", appended
   * to the mailbox; otherwise a non-`normal` reason kills the receiver at once — it handles no further
   * message, even with hundreds queued, and its name is released now, so the parent's
   * immediate restart can take it. gen_server runs `terminate` only for a trapped EXIT
   * from its parent (here: in mailbox order); never for an untrapped signal.
   */
  #linkedExit(from: Process, reason: ExitReason): void {
    if (this.status === 'exited') return
    if (this.trapping) {
      if (from === this.parent) this.shutdown(reason)
      else this.deliver(INFO, new Exit(from.pid, reason))
      return
    }
    if (reason !== 'normal') this.#exit(reason, 'signal', 'kill')
  }

  #exit(reason: ExitReason, origin: Origin, event: LifecycleEvent, logged = false): void {
    if (this.status === 'exited') return
    const startFailed = this.#startFailed
    this.#startFailed = undefined
    this.#turn = undefined
    this.status = nextStatus(this.status, event) ?? 'exited'
    this.exitReason = reason
    this.#busy = true
    if (this.#timeoutTimer !== undefined) this.clock.clearTimeout(this.#timeoutTimer)
    this.#timeoutTimer = undefined
    if (this.#timers) for (const handle of this.#timers.values()) this.clock.clearTimeout(handle)
    this.#timers = undefined
    this.#box = []
    this.#head = 0
    this.#continue = undefined
    if (this.name !== undefined) this.#registry.unregister(this.name, this.pid)

    if (!logged) this.#logExit(reason, origin)

    if (this.calls) {
      const calls = this.calls
      this.calls = undefined
      for (const record of calls) record.reject(new ProcessExitedError(this.toString(), reason))
    }
    if (this.#watching) {
      for (const [ref, target] of this.#watching) target.#watchers?.delete(ref)
      this.#watching = undefined
    }
    const links = this.#links
    this.#links = undefined
    if (links) {
      for (const peer of links) {
        peer.#links?.delete(this)
        peer.#linkedExit(this, reason)
      }
    }
    const watchers = this.#watchers
    this.#watchers = undefined
    if (watchers) {
      for (const [ref, watcher] of watchers) {
        if (typeof watcher === 'function') watcher(reason)
        else {
          watcher.#watching?.delete(ref)
          watcher.deliver(INFO, new Down(ref as MonitorRef, this.pid, reason))
        }
      }
    }
    const waiters = this.#exitWaiters
    this.#exitWaiters = undefined
    if (waiters) for (const resolve of waiters) resolve(reason)
    startFailed?.(reason)
  }

  #logExit(reason: ExitReason, origin: Origin): void {
    if (isCleanExit(reason)) {
      if (this.#root.isLevelEnabled('debug')) this.log.debug({ reason: describeReason(reason) }, 'exited')
      return
    }
    if (origin === 'self') {
      // The one log line of a crash: cause and stack, and which callback it happened in.
      const fields: Record<string, unknown> = { reason: describeReason(reason), callback: this.#lastMessageKind }
      if (reason instanceof Error) fields.err = reason
      this.log.error(fields, 'process crashed')
    } else if (origin === 'kill') {
      this.log.warn('killed')
    } else {
      // Stopped by a signal carrying someone else's crash: that crash was logged where it happened.
      this.log.info({ reason: describeReason(reason) }, 'exited on an exit signal')
    }
  }
}

function callbackName(kind: number): string {
  switch (kind) {
    case CALL:
      return 'handleCall'
    case CAST:
      return 'handleCast'
    case INFO:
      return 'handleInfo'
    case CONTINUE:
      return 'handleContinue'
    default:
      return 'terminate'
  }
}

/** @internal Narrows a public Pid to the runtime; rejects foreign objects. */
export function asProcess(pid: Pid | Process): Process {
  if (pid instanceof Pid) return pidTarget(pid) as Process
  if (pid instanceof Process) return pid
  throw new TypeError(`not a kubevisor process: ${String(pid)}`)
}
