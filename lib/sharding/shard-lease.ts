/**
 * Shard membership on `coordination.k8s.io/v1` Leases, as timebertt/kubernetes-controller-sharding
 * (`pkg/shard/lease`, thesis §"Shard Leases"): every replica holds its own Lease, named
 * after its identity and labelled with the ring's name, and renews it as a leader-election
 * lease (kubevisor's {@link LeaderElector}, client-go's semantics). The sharder reads the
 * Leases of a ring and judges each shard's state with {@link shardState}:
 *
 * | state       | when                                                                 | the sharder                      |
 * |-------------|----------------------------------------------------------------------|----------------------------------|
 * | `ready`     | held by the shard and `renewTime + duration` is in the future        | assigns objects to it            |
 * | `expired`   | held by the shard, `renewTime + duration` passed less than a duration ago | keeps its objects, assigns no new ones |
 * | `uncertain` | held by the shard, expired for longer than a duration                | acquires the Lease → `dead`      |
 * | `dead`      | held by someone else or nobody (released on shutdown, or acquired)    | moves its objects at once        |
 * | `orphaned`  | `dead` and not renewed for `orphanAfterMs` (default 1 min)           | deletes the Lease                |
 *
 * Why the guarantee holds: a shard's elector gives up its lease `renewDeadline` after its
 * last successful renewal began, and the shard stops reconciling then (see
 * {@link ShardLease.holding}); the sharder acts on its objects only after
 * `renewTime + 2 × duration` and after it acquired the Lease with an optimistic-concurrency
 * update, which fails if the shard renewed meanwhile. With controller-runtime's 15 s / 10 s
 * timings a shard has stopped 20 s before its objects move, which also absorbs a wall-clock
 * offset of up to that much between the shard and the sharder (`renewTime` is the shard's
 * wall clock, read by the sharder's).
 */
import type { KubeConfig } from '@kubernetes/client-node'
import { type Behaviour, GenServer, noreply, ok } from '../actor/index.ts'
import { isNotFound } from '../api/errors.ts'
import { Client } from '../client/client.ts'
import { defaultLogger, type Logger } from '../log.ts'
import { LeaderElector, validateLeaderElection } from '../manager/leaderelection.ts'
import { type LeaderElectionRecord, leaseSpecToRecord, microTime, type ObservedRecord, type ResourceLock, recordToLeaseSpec } from '../manager/resourcelock.ts'
import type { ChildSpec } from '../supervisor/index.ts'
import { type Clock, sleep, systemClock } from '../time/clock.ts'
import { InvalidShardingError, validateShardName } from './labels.ts'

/** The label on a shard's Lease naming its ring (timebertt: `alpha.sharding.timebertt.dev/controllerring`). */
export const RING_LABEL = 'sharding.kubevisor.dev/ring'

/** How long a dead shard's Lease stays before the sharder deletes it (timebertt: 1 minute). */
export const DEFAULT_ORPHAN_AFTER_MS = 60_000

/** A shard's state as the sharder judges it from its Lease (see the table in this module's header). */
export type ShardState = 'ready' | 'expired' | 'uncertain' | 'dead' | 'orphaned'

/** A Lease as the sharding code reads it. */
export interface ShardLeaseObject {
  apiVersion?: string
  kind?: string
  metadata?: { name?: string; namespace?: string; resourceVersion?: string; labels?: Record<string, string>; [k: string]: unknown }
  spec?: {
    holderIdentity?: string | null
    leaseDurationSeconds?: number | null
    acquireTime?: string | null
    renewTime?: string | null
    leaseTransitions?: number | null
  }
}

/**
 * The state of the shard a Lease stands for at wall-clock time `nowMs` (timebertt
 * `pkg/shard/lease.ToState`). A Lease without a name, duration or renew time is `dead`.
 */
export function shardState(lease: ShardLeaseObject, nowMs: number, orphanAfterMs = DEFAULT_ORPHAN_AFTER_MS): ShardState {
  const name = lease.metadata?.name
  const holder = lease.spec?.holderIdentity ?? ''
  const durationMs = (lease.spec?.leaseDurationSeconds ?? 0) * 1000
  const renew = Date.parse(lease.spec?.renewTime ?? lease.spec?.acquireTime ?? '')
  if (!name || holder !== name || !(durationMs > 0) || Number.isNaN(renew)) {
    if (!Number.isNaN(renew) && nowMs - renew > Math.max(orphanAfterMs, durationMs)) return 'orphaned'
    return 'dead'
  }
  const expiredFor = nowMs - (renew + durationMs)
  if (expiredFor < 0) return 'ready'
  if (expiredFor < durationMs) return 'expired'
  return 'uncertain'
}

/** Lease timings of a shard, in ms (controller-runtime's leader-election defaults: 15 s / 10 s / 2 s). */
export interface ShardLeaseTiming {
  /** How long a Lease stays valid after a renewal. Default 15 000. */
  leaseDurationMs?: number
  /** How long the shard retries a renewal before it stops holding (and reconciling). Default 10 000. */
  renewDeadlineMs?: number
  /** Between renewals. Default 2 000. */
  retryPeriodMs?: number
}

/** Options of {@link ShardLeaseLock}. */
export interface ShardLeaseLockOptions {
  namespace: string
  /** The ring this shard belongs to (the Lease's {@link RING_LABEL}). */
  ring: string
  /** This shard's identity: the Lease's name and holder. */
  identity: string
}

/**
 * A {@link ResourceLock} on the shard's own Lease: as `LeaseLock`, and the Lease it creates
 * carries the ring label, so the sharder finds the ring's members with one label selector.
 */
export class ShardLeaseLock implements ResourceLock {
  readonly #client: Client
  readonly #opts: ShardLeaseLockOptions
  #lease: ShardLeaseObject | undefined

  constructor(kubeConfig: KubeConfig, options: ShardLeaseLockOptions) {
    if (!options.namespace || !options.ring || !options.identity) throw new InvalidShardingError('a ShardLeaseLock needs a namespace, a ring and an identity')
    // The identity names the Lease and is a label value on the ring's objects: checked here, not by a 422 later.
    validateShardName(options.identity)
    this.#client = new Client(kubeConfig, { maxRetries: 0, timeoutMs: 0 })
    this.#opts = options
  }

  async get(signal: AbortSignal): Promise<ObservedRecord | undefined> {
    try {
      this.#lease = await this.#client.get<ShardLeaseObject & { metadata: object }>(
        { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', namespace: this.#opts.namespace, name: this.#opts.identity },
        { signal },
      )
    } catch (err) {
      if (isNotFound(err)) return undefined
      throw err
    }
    const record = leaseSpecToRecord(this.#lease.spec)
    return { record, raw: JSON.stringify(record) }
  }

  async create(record: LeaderElectionRecord, signal: AbortSignal): Promise<void> {
    this.#lease = await this.#client.create(
      {
        apiVersion: 'coordination.k8s.io/v1',
        kind: 'Lease',
        metadata: { name: this.#opts.identity, namespace: this.#opts.namespace, labels: { [RING_LABEL]: this.#opts.ring } },
        spec: recordToLeaseSpec(record),
      },
      { signal },
    )
  }

  async update(record: LeaderElectionRecord, signal: AbortSignal): Promise<void> {
    const current = this.#lease
    if (!current) throw new Error('lease not initialized, call get or create first')
    // The ring label is put back if someone removed it: the Lease is this shard's membership.
    const metadata = { ...current.metadata, labels: { ...current.metadata?.labels, [RING_LABEL]: this.#opts.ring } }
    this.#lease = await this.#client.update({ ...current, metadata, spec: recordToLeaseSpec(record) } as ShardLeaseObject & { metadata: object }, { signal })
  }

  identity(): string {
    return this.#opts.identity
  }

  describe(): string {
    return `${this.#opts.namespace}/${this.#opts.identity}`
  }
}

/** Options of {@link ShardLease}. */
export interface ShardLeaseOptions extends ShardLeaseTiming {
  /** The lock; default a {@link ShardLeaseLock} on `kubeConfig`. */
  lock?: ResourceLock
  kubeConfig?: KubeConfig
  namespace?: string
  ring?: string
  identity?: string
  clock?: Clock
  wallClock?: () => number
  logger?: Logger
}

/**
 * This replica's membership in a ring: holds and renews its shard Lease while it runs,
 * releases it when stopped (so the sharder moves its objects at once instead of waiting
 * for the Lease to expire), and tries to hold it again after losing it.
 *
 * {@link holding} is what the shard's reconciles check: true only while the Lease is held
 * and renewed; {@link signal} aborts the moment it is lost, so a reconcile in flight can stop.
 */
export class ShardLease {
  readonly #lock: ResourceLock
  readonly #timing: { leaseDurationMs: number; renewDeadlineMs: number; retryPeriodMs: number }
  readonly #clock: Clock
  readonly #wall: (() => number) | undefined
  readonly #log: Logger
  #holding: AbortController | undefined
  #elector: LeaderElector | undefined
  readonly #waiters = new Set<() => void>()

  constructor(options: ShardLeaseOptions) {
    this.#timing = validateLeaderElection(options)
    if (options.lock) this.#lock = options.lock
    else {
      if (!options.kubeConfig || !options.namespace || !options.ring || !options.identity) throw new InvalidShardingError('a ShardLease needs a lock, or a kubeConfig, namespace, ring and identity')
      this.#lock = new ShardLeaseLock(options.kubeConfig, { namespace: options.namespace, ring: options.ring, identity: options.identity })
    }
    this.#clock = options.clock ?? systemClock
    this.#wall = options.wallClock
    this.#log = (options.logger ?? defaultLogger()).child({ shardLease: this.#lock.describe() })
  }

  /** The shard's identity (the Lease's name). */
  get identity(): string {
    return this.#lock.identity()
  }

  /**
   * Whether the Lease is held now: the elector leads, and its last successful renewal is
   * less than `renewDeadline` ago on this process's clock. The second part covers a
   * process that was paused (a stopped VM, a long GC pause, SIGSTOP): when it runs again,
   * its renewal timers have not fired yet, but this says "not held" at once, so no reconcile
   * starts on a Lease the sharder may have taken over meanwhile.
   */
  get holding(): boolean {
    if (this.#holding === undefined || this.#holding.signal.aborted) return false
    const renewedAt = this.#elector?.status().observedAt
    return renewedAt !== undefined && this.#clock.now() - renewedAt < this.#timing.renewDeadlineMs
  }

  /** Aborts when the Lease is lost or released; an aborted signal while not holding. */
  get signal(): AbortSignal {
    return this.#holding?.signal ?? AbortSignal.abort(new Error('the shard lease is not held'))
  }

  /** Resolves once the Lease is held (at once if it is), or when `signal` aborts. */
  whenHolding(signal?: AbortSignal): Promise<boolean> {
    if (this.holding) return Promise.resolve(true)
    if (signal?.aborted) return Promise.resolve(false)
    return new Promise((resolve) => {
      const done = (held: boolean) => {
        this.#waiters.delete(wake)
        signal?.removeEventListener('abort', onAbort)
        resolve(held)
      }
      const wake = () => done(true)
      const onAbort = () => done(false)
      this.#waiters.add(wake)
      signal?.addEventListener('abort', onAbort, { once: true })
    })
  }

  /**
   * Holds the Lease until `signal` aborts, then releases it. After a loss (renewals failed
   * for the renew deadline, or the sharder took the Lease over) it waits a retry period and
   * competes for it again: the Lease expires or is deleted as orphaned, and this shard
   * rejoins the ring with its objects handed back through the sharder.
   */
  async run(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      const elector = new LeaderElector({
        lock: this.#lock,
        ...this.#timing,
        releaseOnCancel: true,
        name: `shard ${this.#lock.describe()}`,
        clock: this.#clock,
        wallClock: this.#wall,
        logger: this.#log,
        callbacks: {
          onStartedLeading: (held) => {
            const ctl = new AbortController()
            this.#holding = ctl
            held.addEventListener('abort', () => ctl.abort(held.reason), { once: true })
            this.#log.info('holding the shard lease: this shard is a member of the ring')
            for (const w of [...this.#waiters]) w()
          },
          onStoppedLeading: (reason) => {
            this.#holding?.abort(new Error(`shard lease ${reason}`))
            if (reason === 'lost') this.#log.error('shard lease lost: this shard stops reconciling until it holds the lease again')
          },
        },
      })
      this.#elector = elector
      const outcome = await elector.run(signal)
      if (outcome !== 'lost') return
      await sleep(this.#clock, this.#timing.retryPeriodMs, signal).catch(() => {})
    }
  }

  /** A child spec: holds the Lease while running; its shutdown releases it (bounded by the renew deadline). */
  childSpec(id = 'shard-lease'): ChildSpec {
    return { id, shutdown: this.#timing.renewDeadlineMs + 5_000, start: (env) => GenServer.start(LeaseProcess, { lease: this }, env) }
  }
}

interface LeaseProcessState {
  abort: AbortController
  running: Promise<void>
}

const LeaseProcess: Behaviour<{ lease: ShardLease }, LeaseProcessState> = {
  init({ lease }, ctx) {
    const abort = new AbortController()
    const running = lease.run(abort.signal).catch((err: unknown) => ctx.log.error({ err }, 'shard lease failed'))
    return ok({ abort, running })
  },
  handleInfo: (_msg, state) => noreply(state),
  async terminate(_reason, state) {
    state.abort.abort()
    await state.running
  },
}

/**
 * The sharder's takeover of an `uncertain` shard's Lease (timebertt: "acquire the lease to
 * mark the shard dead"): an update with the Lease's `resourceVersion` naming the sharder as
 * holder, so it fails with a 409 Conflict if the shard renewed meanwhile. From then on the
 * shard is `dead` and its next renewal sees another holder and stops.
 */
export async function markShardDead(client: Client, lease: ShardLeaseObject, sharderIdentity: string, nowMs: number, signal?: AbortSignal): Promise<ShardLeaseObject> {
  const now = microTime(nowMs)
  const spec = {
    ...lease.spec,
    holderIdentity: sharderIdentity,
    acquireTime: now,
    renewTime: now,
    leaseTransitions: (lease.spec?.leaseTransitions ?? 0) + 1,
  }
  return client.update({ ...lease, spec } as ShardLeaseObject & { metadata: object }, { signal })
}
