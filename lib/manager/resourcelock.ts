/**
 * The lock leader election runs on, in client-go's shape
 * (`tools/leaderelection/resourcelock/interface.go`): a {@link LeaderElectionRecord} kept
 * in some object, read and written through a {@link ResourceLock}. The elector depends on
 * this interface only, so tests drive it with an in-memory lock and a fake clock, and
 * {@link LeaseLock} keeps the record in a `coordination.k8s.io/v1` Lease
 * (`resourcelock/leaselock.go`).
 */
import type { KubeConfig } from '@kubernetes/client-node'
import { isNotFound } from '../api/errors.ts'
import { Client } from '../client/client.ts'
import { KubevisorError } from '../errors.ts'

/**
 * What the lock holds (client-go `LeaderElectionRecord`). Times are RFC 3339 strings with
 * microseconds, as a Lease's `MicroTime` fields; they are informative only: the elector
 * judges expiry by its own clock from the moment it *observed* a change (see
 * {@link LeaderElector}), never by comparing these with its wall clock.
 */
export interface LeaderElectionRecord {
  /** The holder's identity; empty when released. */
  holderIdentity: string
  /** How long, in whole seconds, other candidates wait after observing a renewal before taking over (the elector's `leaseDurationMs`, rounded up; 1 when released). */
  leaseDurationSeconds: number
  /** When the current holder acquired the lease (kept across its renewals); `undefined` when the object has none. */
  acquireTime: string | undefined
  /** When the holder last renewed the lease; `undefined` when the object has none. */
  renewTime: string | undefined
  /** How many times the lease changed hands: incremented by each new holder, kept on renewal and release. */
  leaderTransitions: number
  /** Coordinated leader election fields (client-go ≥ 1.31); kept as read, never set here. */
  strategy?: string | undefined
  /** Coordinated leader election: the identity the coordinator prefers as holder; kept as read, never set here. */
  preferredHolder?: string | undefined
}

/** A record as read, with its serialized form (the elector compares raw records to notice changes). */
export interface ObservedRecord {
  record: LeaderElectionRecord
  raw: string
}

/**
 * Where a {@link LeaderElectionRecord} is stored (client-go `resourcelock.Interface`).
 * Implementations throw on failures (the elector logs them and retries); `update`
 * must fail when the object changed since it was last read or written (optimistic
 * concurrency, a 409 Conflict for Kubernetes objects); every call stops when `signal`
 * aborts.
 */
export interface ResourceLock {
  /** The current record, or `undefined` when the lock object does not exist. */
  get(signal: AbortSignal): Promise<ObservedRecord | undefined>
  /** Creates the lock object with `record`; fails if it exists. */
  create(record: LeaderElectionRecord, signal: AbortSignal): Promise<void>
  /** Replaces the record of the object last read or written. */
  update(record: LeaderElectionRecord, signal: AbortSignal): Promise<void>
  /** This candidate's identity. */
  identity(): string
  /** For logs: e.g. `kube-system/my-operator`. */
  describe(): string
}

/** The Lease object's fields the lock reads and writes. */
interface Lease {
  apiVersion: string
  kind: string
  metadata: { name?: string; namespace?: string; resourceVersion?: string; [k: string]: unknown }
  spec?: {
    holderIdentity?: string | null
    leaseDurationSeconds?: number | null
    acquireTime?: string | null
    renewTime?: string | null
    leaseTransitions?: number | null
    strategy?: string | null
    preferredHolder?: string | null
  }
}

/** client-go `LeaseSpecToLeaderElectionRecord`. */
export function leaseSpecToRecord(spec: Lease['spec']): LeaderElectionRecord {
  return {
    holderIdentity: spec?.holderIdentity ?? '',
    leaseDurationSeconds: spec?.leaseDurationSeconds ?? 0,
    acquireTime: spec?.acquireTime ?? undefined,
    renewTime: spec?.renewTime ?? undefined,
    leaderTransitions: spec?.leaseTransitions ?? 0,
    strategy: spec?.strategy ?? undefined,
    preferredHolder: spec?.preferredHolder ?? undefined,
  }
}

/** client-go `LeaderElectionRecordToLeaseSpec`. */
export function recordToLeaseSpec(record: LeaderElectionRecord): NonNullable<Lease['spec']> {
  const spec: NonNullable<Lease['spec']> = {
    holderIdentity: record.holderIdentity,
    leaseDurationSeconds: record.leaseDurationSeconds,
    acquireTime: record.acquireTime ?? null,
    renewTime: record.renewTime ?? null,
    leaseTransitions: record.leaderTransitions,
  }
  if (record.strategy !== undefined) spec.strategy = record.strategy
  if (record.preferredHolder !== undefined) spec.preferredHolder = record.preferredHolder
  return spec
}

/** A wall-clock time as a Kubernetes `MicroTime`: `2006-01-02T15:04:05.000000Z`. */
export function microTime(epochMs: number): string {
  const iso = new Date(epochMs).toISOString() // ms precision, `...ss.mmmZ`
  const micros = String(Math.floor((epochMs * 1000) % 1000)).padStart(3, '0')
  return `${iso.slice(0, -1)}${micros}Z`
}

/** Options of {@link LeaseLock}. */
export interface LeaseLockOptions {
  /** The Lease's namespace. */
  namespace: string
  /** The Lease's name (controller-runtime's `LeaderElectionID`). */
  name: string
  /** This candidate's identity (see `defaultIdentity`). */
  identity: string
}

/**
 * A leader election configuration that client-go would refuse, or a lock without a
 * namespace, name or identity (`ERR_INVALID_LEADER_ELECTION`).
 */
export class InvalidLeaderElectionError extends KubevisorError {
  constructor(message: string) {
    super('ERR_INVALID_LEADER_ELECTION', message)
  }
}

/**
 * A {@link ResourceLock} on a `coordination.k8s.io/v1` Lease (client-go `LeaseLock`):
 * `get` reads the Lease, `create` POSTs one, `update` PUTs the Lease last read or written
 * with its `resourceVersion`, so a concurrent writer makes it fail with 409 Conflict.
 * Requests go through kubevisor's `Client` without its 429 retries: the elector retries on
 * its own schedule, and every request stops at the renew deadline.
 *
 * The service account needs `get`, `create` and `update` on `leases` in the namespace
 * (see `deploy/rbac.yaml`).
 */
export class LeaseLock implements ResourceLock {
  readonly #client: Client
  readonly #opts: LeaseLockOptions
  /** The Lease as last read or written (client-go keeps it to update with its resourceVersion). */
  #lease: Lease | undefined

  constructor(kubeConfig: KubeConfig, options: LeaseLockOptions) {
    if (!options.namespace || !options.name) throw new InvalidLeaderElectionError('a LeaseLock needs a namespace and a name')
    if (!options.identity) throw new InvalidLeaderElectionError('a LeaseLock needs an identity')
    // No client-side timeout of its own: the elector's signal carries the renew deadline.
    this.#client = new Client(kubeConfig, { maxRetries: 0, timeoutMs: 0 })
    this.#opts = options
  }

  async get(signal: AbortSignal): Promise<ObservedRecord | undefined> {
    let lease: Lease
    try {
      lease = await this.#client.get<Lease>({ apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', namespace: this.#opts.namespace, name: this.#opts.name }, { signal })
    } catch (err) {
      if (isNotFound(err)) return undefined
      throw err
    }
    this.#lease = lease
    const record = leaseSpecToRecord(lease.spec)
    return { record, raw: JSON.stringify(record) }
  }

  async create(record: LeaderElectionRecord, signal: AbortSignal): Promise<void> {
    const body: Lease = {
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: { name: this.#opts.name, namespace: this.#opts.namespace },
      spec: recordToLeaseSpec(record),
    }
    this.#lease = await this.#client.create(body, { signal })
  }

  async update(record: LeaderElectionRecord, signal: AbortSignal): Promise<void> {
    const current = this.#lease
    if (!current) throw new Error('lease not initialized, call get or create first')
    const body: Lease = { ...current, spec: recordToLeaseSpec(record) }
    this.#lease = await this.#client.update(body, { signal })
  }

  identity(): string {
    return this.#opts.identity
  }

  describe(): string {
    return `${this.#opts.namespace}/${this.#opts.name}`
  }
}
