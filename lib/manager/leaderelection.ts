/**
 * Leader election with client-go's semantics (`tools/leaderelection/leaderelection.go`),
 * as pure logic over a {@link ResourceLock} and an injected clock.
 *
 * - **Acquire**: try at once, then poll every `retryPeriod` with jitter until the lock is
 *   ours. One difference from client-go (whose jitter is ×[1, 2.2)): we poll every
 *   `retryPeriod × (0.5, 1]` and try again exactly when an observed lease expires, so a
 *   crashed leader is replaced within `leaseDuration + retryPeriod` (client-go: up to
 *   `leaseDuration + 4.4 × retryPeriod`). Standbys read the lock at most twice as often.
 * - **Expiry is local**: a record held by someone else is considered valid until
 *   `leaseDuration` after the moment *this* candidate observed it change (client-go's
 *   `observedTime`), never by comparing the record's timestamps with our wall clock. Clock
 *   *offsets* between machines therefore do not matter; clock *rates* do, within the margin
 *   `leaseDuration / renewDeadline` gives.
 * - **Renew**: every `retryPeriod`; one renewal retries every `retryPeriod` until it succeeds
 *   or `renewDeadline` has passed since it began (each request is aborted at the deadline).
 *   A renewal that fails by its deadline means leadership is **lost**. One difference from
 *   client-go: a renewal that reads another holder in the record is lost at once (client-go
 *   keeps retrying until the deadline while the other holder already acts).
 * - **Release on cancel**: when stopped while leading, write a record with no holder and a
 *   1 s duration so another candidate takes over at once.
 *
 * Known limits (as client-go's): there is no fencing token — a leader paused longer than
 * `leaseDuration - renewDeadline` (GC, a stopped VM) can still send a write after another
 * took over; the API server's optimistic concurrency on the objects you write is what
 * protects them. Keep `leaseDuration / renewDeadline` above the worst clock-rate ratio
 * between replicas (15/10 tolerates one clock running 1.5× faster than another).
 */
import { randomUUID } from 'node:crypto'
import { hostname } from 'node:os'
import { KubevisorError } from '../errors.ts'
import { defaultLogger, type Logger } from '../log.ts'
import { type Clock, systemClock } from '../time/clock.ts'
import { InvalidLeaderElectionError, type LeaderElectionRecord, microTime, type ResourceLock } from './resourcelock.ts'

export { InvalidLeaderElectionError }

/** client-go `JitterFactor`: acquire retries wait `retryPeriod × (1 + rand × 1.2)`. */
export const JITTER_FACTOR = 1.2

/** controller-runtime's defaults (`pkg/manager/manager.go`): 15 s / 10 s / 2 s. */
export const LEADER_ELECTION_DEFAULTS = Object.freeze({ leaseDurationMs: 15_000, renewDeadlineMs: 10_000, retryPeriodMs: 2_000 })

/** The lease was lost while leading (`ERR_LEADER_ELECTION_LOST`): leader-only work must stop. */
export class LeaderElectionLostError extends KubevisorError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_LEADER_ELECTION_LOST', message, options)
  }
}

/** Why leading stopped: the lease was lost, or the elector was stopped (`signal` aborted). */
export type StoppedLeadingReason = 'lost' | 'canceled'

/** client-go `LeaderCallbacks`. */
export interface LeaderCallbacks {
  /** Now leading; `signal` aborts when leading stops. */
  onStartedLeading(signal: AbortSignal): void
  /** Leading stopped (called once after `onStartedLeading`, before `run` resolves). */
  onStoppedLeading(reason: StoppedLeadingReason): void
  /** Another holder was observed (or we became it); once per change, not per retry. */
  onNewLeader?(identity: string): void
}

/** Reports leadership to a metric (client-go `leaderMetricsAdapter`: `leader_election_master_status`). */
export interface LeaderMetrics {
  on(name: string): void
  off(name: string): void
}

/** client-go `LeaderElectionConfig`, in milliseconds. */
export interface LeaderElectionConfig {
  lock: ResourceLock
  /** How long non-leaders wait after observing a change before taking over. Default 15 000. */
  leaseDurationMs?: number
  /** How long the leader retries a renewal before giving up. Default 10 000. */
  renewDeadlineMs?: number
  /** Between attempts. Default 2 000. */
  retryPeriodMs?: number
  /** Release the lease when stopped while leading. Default false. */
  releaseOnCancel?: boolean
  /** A name for logs and the metric (controller-runtime uses the lease name). */
  name?: string
  /**
   * How a standby waits between attempts: `'bounded'` (default) polls every
   * `retryPeriod × (0.5, 1]` and tries again at the observed expiry (failover after a crash
   * ≤ lease + retry); `'client-go'` waits `retryPeriod × [1, 2.2)` as `wait.JitterUntil`.
   */
  retryJitter?: 'bounded' | 'client-go'
  callbacks: LeaderCallbacks
  metrics?: LeaderMetrics
  clock?: Clock
  /** Wall-clock ms for the record's timestamps. Default `Date.now`. */
  wallClock?: () => number
  /** In [0, 1), for jitter. Default `Math.random`. */
  random?: () => number
  logger?: Logger
}

/** What the elector knows right now (read-only; for status pages and probes). */
export interface LeaderElectionStatus {
  /** This candidate's identity, as written in `holderIdentity` when it leads. */
  identity: string
  /** The lock, for display: `namespace/name` for a Lease (a {@link ResourceLock}'s `describe()`). */
  lock: string
  /** Whether this candidate leads now (acquired, and not yet lost or released). */
  isLeader: boolean
  /** The holder last observed ('' when released or unknown). */
  holder: string
  /** The observed record's renew time (RFC 3339), if any. */
  renewTime: string | undefined
  /** The observed record's count of changes of holder (0 before any record was observed). */
  leaderTransitions: number
  /** Clock ms when the record was last observed to change. */
  observedAt: number | undefined
}

/**
 * A candidate identity as controller-runtime makes it: `<hostname>_<uuid>`, unique per
 * process even when two replicas share a host name.
 */
export function defaultIdentity(): string {
  return `${hostname()}_${randomUUID()}`
}

/** Checks a configuration as client-go's `NewLeaderElector` does; returns it with defaults. */
export function validateLeaderElection(config: Pick<LeaderElectionConfig, 'leaseDurationMs' | 'renewDeadlineMs' | 'retryPeriodMs'>): {
  leaseDurationMs: number
  renewDeadlineMs: number
  retryPeriodMs: number
} {
  const leaseDurationMs = config.leaseDurationMs ?? LEADER_ELECTION_DEFAULTS.leaseDurationMs
  const renewDeadlineMs = config.renewDeadlineMs ?? LEADER_ELECTION_DEFAULTS.renewDeadlineMs
  const retryPeriodMs = config.retryPeriodMs ?? LEADER_ELECTION_DEFAULTS.retryPeriodMs
  for (const [name, v] of [
    ['leaseDuration', leaseDurationMs],
    ['renewDeadline', renewDeadlineMs],
    ['retryPeriod', retryPeriodMs],
  ] as const) {
    if (!(typeof v === 'number' && Number.isFinite(v) && v >= 1)) throw new InvalidLeaderElectionError(`${name} must be a number of ms >= 1, got ${String(v)}`)
  }
  if (leaseDurationMs <= renewDeadlineMs) throw new InvalidLeaderElectionError(`leaseDuration must be greater than renewDeadline (${leaseDurationMs} <= ${renewDeadlineMs} ms)`)
  if (renewDeadlineMs <= JITTER_FACTOR * retryPeriodMs) {
    throw new InvalidLeaderElectionError(`renewDeadline must be greater than retryPeriod*JitterFactor (${renewDeadlineMs} <= ${JITTER_FACTOR} × ${retryPeriodMs} ms)`)
  }
  return { leaseDurationMs, renewDeadlineMs, retryPeriodMs }
}

/**
 * One candidate in a leader election (client-go `LeaderElector`). `run(signal)` acquires
 * the lock, calls `onStartedLeading`, renews until the lease is lost or `signal` aborts,
 * then calls `onStoppedLeading` (and releases the lock when configured).
 *
 * @example
 * ```ts
 * const lock = new LeaseLock(kubeConfig, { namespace: 'ops', name: 'my-operator', identity: defaultIdentity() })
 * const elector = new LeaderElector({ lock, callbacks: {
 *   onStartedLeading: (signal) => startControllers(signal),
 *   onStoppedLeading: (reason) => { if (reason === 'lost') process.exit(1) },
 * } })
 * await elector.run(shutdown.signal)
 * ```
 */
export class LeaderElector {
  readonly #lock: ResourceLock
  readonly #callbacks: LeaderCallbacks
  readonly #leaseMs: number
  readonly #renewMs: number
  readonly #retryMs: number
  readonly #release: boolean
  readonly #clientGoJitter: boolean
  readonly #name: string
  readonly #metrics: LeaderMetrics | undefined
  readonly #clock: Clock
  readonly #wall: () => number
  readonly #random: () => number
  readonly #log: Logger
  #observed: LeaderElectionRecord | undefined
  #observedRaw: string | undefined
  #observedAt: number | undefined
  #leading = false
  #reportedLeader: string | undefined
  /** The last failure message logged, so a retry loop logs each distinct failure once. */
  #lastFailure: string | undefined
  #running = false

  constructor(config: LeaderElectionConfig) {
    const { leaseDurationMs, renewDeadlineMs, retryPeriodMs } = validateLeaderElection(config)
    if (!config.lock) throw new InvalidLeaderElectionError('Lock must not be nil.')
    if (!config.lock.identity()) throw new InvalidLeaderElectionError('Lock identity is empty')
    if (typeof config.callbacks?.onStartedLeading !== 'function') throw new InvalidLeaderElectionError('OnStartedLeading callback must not be nil')
    if (typeof config.callbacks?.onStoppedLeading !== 'function') throw new InvalidLeaderElectionError('OnStoppedLeading callback must not be nil')
    this.#lock = config.lock
    this.#callbacks = config.callbacks
    this.#leaseMs = leaseDurationMs
    this.#renewMs = renewDeadlineMs
    this.#retryMs = retryPeriodMs
    this.#release = config.releaseOnCancel ?? false
    this.#clientGoJitter = config.retryJitter === 'client-go'
    this.#name = config.name ?? config.lock.describe()
    this.#metrics = config.metrics
    this.#clock = config.clock ?? systemClock
    this.#wall = config.wallClock ?? Date.now
    this.#random = config.random ?? Math.random
    this.#log = (config.logger ?? defaultLogger()).child({ lease: config.lock.describe(), identity: config.lock.identity() })
    this.#metrics?.off(this.#name)
  }

  /** Whether this candidate is leading now (between `onStartedLeading` and `onStoppedLeading`). */
  get isLeader(): boolean {
    return this.#leading
  }

  /** A snapshot for status pages. */
  status(): LeaderElectionStatus {
    return {
      identity: this.#lock.identity(),
      lock: this.#lock.describe(),
      isLeader: this.#leading,
      holder: this.#observed?.holderIdentity ?? '',
      renewTime: this.#observed?.renewTime,
      leaderTransitions: this.#observed?.leaderTransitions ?? 0,
      observedAt: this.#observedAt,
    }
  }

  /**
   * Runs one election: resolves after leading stopped (lost or canceled), or when `signal`
   * aborts before the lock was acquired. An elector runs once.
   */
  async run(signal: AbortSignal): Promise<StoppedLeadingReason | 'not-leading'> {
    if (this.#running) throw new InvalidLeaderElectionError('a LeaderElector runs once')
    this.#running = true
    if (!(await this.#acquire(signal))) return 'not-leading'
    const leadership = new AbortController()
    this.#leading = true
    this.#metrics?.on(this.#name)
    this.#log.info('successfully acquired lease')
    try {
      this.#callbacks.onStartedLeading(leadership.signal)
    } catch (err) {
      this.#log.error({ err }, 'onStartedLeading threw')
    }
    const reason = await this.#renew(signal)
    this.#leading = false
    this.#metrics?.off(this.#name)
    leadership.abort(new LeaderElectionLostError(reason === 'lost' ? 'leader election lost' : 'leader election stopped'))
    if (reason === 'lost') this.#log.error(`failed to renew lease ${this.#lock.describe()}: leader election lost`)
    try {
      this.#callbacks.onStoppedLeading(reason)
    } catch (err) {
      this.#log.error({ err }, 'onStoppedLeading threw')
    }
    if (reason === 'canceled' && this.#release) await this.#releaseLock()
    return reason
  }

  /** Tries at once, then every retryPeriod with jitter, until acquired or aborted. */
  async #acquire(signal: AbortSignal): Promise<boolean> {
    this.#log.info(`attempting to acquire leader lease ${this.#lock.describe()}...`)
    for (;;) {
      if (signal.aborted) return false
      const attempt = this.#attemptSignal(signal, this.#renewMs)
      const ok = (await this.#tryAcquireOrRenew(attempt.signal).finally(attempt.dispose)) === 'ok'
      this.#reportTransition()
      if (ok) return true
      if (!(await this.#wait(this.#nextAttemptIn(), signal))) return false
    }
  }

  /**
   * When a standby tries again. client-go waits `retryPeriod × [1, 2.2)`, so it may observe
   * a crashed leader's last renewal up to 2.2 retry periods late and try again up to 2.2
   * periods after the lease expired: failover up to `leaseDuration + 4.4 × retryPeriod`.
   * We poll every `retryPeriod × (0.5, 1]` (still jittered, so candidates spread) and try
   * again exactly when the observed lease expires, which bounds failover after a crash by
   * `leaseDuration + retryPeriod` — the figure DESIGN.md promises.
   */
  #nextAttemptIn(): number {
    if (this.#clientGoJitter) return this.#retryMs * (1 + this.#random() * JITTER_FACTOR)
    const poll = this.#retryMs * (1 - this.#random() * 0.5)
    if (this.#observedAt === undefined || !this.#observed?.holderIdentity) return poll
    const expiresIn = this.#observedAt + this.#leaseMs - this.#clock.now()
    return expiresIn > 0 && expiresIn < poll ? expiresIn : poll
  }

  /** Renews every retryPeriod; resolves 'lost' when a renewal misses its deadline, 'canceled' on abort. */
  async #renew(signal: AbortSignal): Promise<StoppedLeadingReason> {
    for (;;) {
      if (signal.aborted) return 'canceled'
      const began = this.#clock.now()
      const deadline = this.#attemptSignal(signal, this.#renewMs)
      let renewed = false
      try {
        for (;;) {
          const outcome = await this.#tryAcquireOrRenew(deadline.signal)
          renewed = outcome === 'ok'
          this.#reportTransition()
          // Beyond client-go (which retries until the deadline even then): another holder
          // in the record means the lease is gone now; stop at once rather than act on.
          if (outcome === 'held') return 'lost'
          if (renewed || signal.aborted) break
          const left = began + this.#renewMs - this.#clock.now()
          if (left <= 0 || deadline.signal.aborted) break
          // client-go polls every retryPeriod until the deadline (a last try may run at it).
          if (!(await this.#wait(Math.min(this.#retryMs, left), signal))) break
        }
      } finally {
        deadline.dispose()
      }
      if (signal.aborted) return 'canceled'
      if (!renewed) return 'lost'
      if (!(await this.#wait(this.#retryMs, signal))) return 'canceled'
    }
  }

  /**
   * client-go `tryAcquireOrRenew`: the fast path updates our own valid lease without a
   * read; otherwise read, respect another holder's unexpired lease, and write. Returns
   * 'held' when another holder's unexpired lease stands in the way.
   */
  async #tryAcquireOrRenew(signal: AbortSignal): Promise<'ok' | 'held' | 'failed'> {
    const nowWall = microTime(this.#wall())
    const identity = this.#lock.identity()
    const record: LeaderElectionRecord = {
      holderIdentity: identity,
      leaseDurationSeconds: Math.ceil(this.#leaseMs / 1000),
      renewTime: nowWall,
      acquireTime: nowWall,
      leaderTransitions: 0,
    }
    const observed = this.#observed
    if (this.#isObservedLeader() && this.#leaseValid() && observed) {
      record.acquireTime = observed.acquireTime
      record.leaderTransitions = observed.leaderTransitions
      try {
        await this.#lock.update(record, signal)
        this.#setObserved(record, JSON.stringify(record))
        this.#lastFailure = undefined
        return 'ok'
      } catch (err) {
        this.#failed('failed to update lock optimistically, falling back to slow path', err)
      }
    }
    let old: Awaited<ReturnType<ResourceLock['get']>>
    try {
      old = await this.#lock.get(signal)
    } catch (err) {
      this.#failed(`error retrieving resource lock ${this.#lock.describe()}`, err)
      return 'failed'
    }
    if (old === undefined) {
      try {
        await this.#lock.create(record, signal)
      } catch (err) {
        this.#failed('error initially creating leader election record', err)
        return 'failed'
      }
      this.#setObserved(record, JSON.stringify(record))
      this.#lastFailure = undefined
      return 'ok'
    }
    if (old.raw !== this.#observedRaw) this.#setObserved(old.record, old.raw)
    if (old.record.holderIdentity !== '' && this.#leaseValid() && !this.#isObservedLeader()) {
      this.#failed(`lock is held by ${old.record.holderIdentity} and has not yet expired`)
      return 'held'
    }
    if (this.#isObservedLeader()) {
      record.acquireTime = old.record.acquireTime
      record.leaderTransitions = old.record.leaderTransitions
    } else {
      record.leaderTransitions = old.record.leaderTransitions + 1
    }
    try {
      await this.#lock.update(record, signal)
    } catch (err) {
      this.#failed('failed to update lock', err)
      return 'failed'
    }
    this.#setObserved(record, JSON.stringify(record))
    this.#lastFailure = undefined
    return 'ok'
  }

  /** client-go `release`: an empty holder and a 1 s lease, so the next candidate takes over at once. */
  async #releaseLock(): Promise<void> {
    if (!this.#isObservedLeader()) return
    const now = microTime(this.#wall())
    const record: LeaderElectionRecord = {
      holderIdentity: '',
      leaseDurationSeconds: 1,
      renewTime: now,
      acquireTime: now,
      leaderTransitions: this.#observed?.leaderTransitions ?? 0,
    }
    const attempt = this.#attemptSignal(undefined, this.#renewMs)
    try {
      await this.#lock.update(record, attempt.signal)
      this.#setObserved(record, JSON.stringify(record))
      this.#log.info('released the lease')
    } catch (err) {
      this.#log.error({ err }, 'failed to release lock')
    } finally {
      attempt.dispose()
    }
  }

  #isObservedLeader(): boolean {
    return this.#observed?.holderIdentity === this.#lock.identity()
  }

  /** client-go `isLeaseValid`: observedTime + leaseDuration is after now, on our clock. */
  #leaseValid(): boolean {
    return this.#observedAt !== undefined && this.#observedAt + this.#leaseMs > this.#clock.now()
  }

  #setObserved(record: LeaderElectionRecord, raw: string): void {
    this.#observed = record
    this.#observedRaw = raw
    this.#observedAt = this.#clock.now()
  }

  /** client-go `maybeReportTransition`: tell once per new holder. */
  #reportTransition(): void {
    const holder = this.#observed?.holderIdentity
    if (holder === undefined || holder === this.#reportedLeader) return
    this.#reportedLeader = holder
    if (holder !== '' && holder !== this.#lock.identity()) this.#log.info({ holder }, 'new leader elected; this replica is not the leader')
    try {
      this.#callbacks.onNewLeader?.(holder)
    } catch (err) {
      this.#log.error({ err }, 'onNewLeader threw')
    }
  }

  /** Logs a failure once per distinct message (debug on repeats): a standby replica does not log every retry. */
  #failed(message: string, err?: unknown): void {
    const text = err === undefined ? message : `${message}: ${(err as Error)?.message ?? String(err)}`
    if (text === this.#lastFailure) {
      this.#log.debug(text)
      return
    }
    this.#lastFailure = text
    if (err === undefined) this.#log.info(text)
    else this.#log.warn(text)
  }

  /** A signal aborted by `parent` or after `ms` on the clock; `dispose` clears its timer and listener. */
  #attemptSignal(parent: AbortSignal | undefined, ms: number): { signal: AbortSignal; dispose: () => void } {
    const ctl = new AbortController()
    const timer = this.#clock.setTimeout(() => ctl.abort(new Error(`deadline of ${ms} ms exceeded`)), ms)
    const onParent = () => ctl.abort(parent?.reason)
    if (parent?.aborted) ctl.abort(parent.reason)
    else parent?.addEventListener('abort', onParent, { once: true })
    return {
      signal: ctl.signal,
      dispose: () => {
        this.#clock.clearTimeout(timer)
        parent?.removeEventListener('abort', onParent)
      },
    }
  }

  /** Waits `ms` on the clock; false if `signal` aborted first. */
  #wait(ms: number, signal: AbortSignal): Promise<boolean> {
    if (signal.aborted) return Promise.resolve(false)
    return new Promise((resolve) => {
      const onAbort = () => {
        this.#clock.clearTimeout(timer)
        resolve(false)
      }
      const timer = this.#clock.setTimeout(() => {
        signal.removeEventListener('abort', onAbort)
        resolve(true)
      }, ms)
      signal.addEventListener('abort', onAbort, { once: true })
    })
  }
}
