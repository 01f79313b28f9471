/**
 * The sharder (timebertt/kubernetes-controller-sharding `pkg/controller/sharder` and
 * `shardlease`): a leader-only child of the Manager that keeps every object of a ring
 * assigned to one live shard.
 *
 * - **Shard Leases**: it reads the ring's Leases (label {@link RING_LABEL}); an `uncertain`
 *   shard's Lease (expired for longer than its duration) is acquired to mark it `dead`;
 *   an `orphaned` one is deleted. Each Lease is looked at again when its state would next
 *   change by time alone.
 * - **Assignment**: the ring is the `ready` shards; an object without a shard label gets
 *   `shard.sharding.kubevisor.dev/<ring>=<shard>` from the ring. An object on a `dead` (or
 *   vanished) shard moves at once. An object on a `ready` shard the ring no longer maps it
 *   to gets the drain label; its shard acknowledges by removing both labels once it has
 *   nothing in flight for it (see `shard.ts`), and only then is the object assigned again.
 *   An object on an `expired` or `uncertain` shard stays until that shard is `dead`.
 * - **Controlled objects** (an operator's children) carry their controller owner's label.
 * - Every label write pins the `resourceVersion` the decision was made on, so a decision
 *   taken on a stale cache fails with a 409 Conflict and is taken again.
 *
 * When the ring changes (a shard joins, becomes ready again, or dies) every object is
 * looked at again; so is every object each `syncPeriodMs` (what a missed event would
 * otherwise leave unassigned).
 *
 * It watches the ring's objects **metadata-only** (`PartialObjectMetadata`, as timebertt's
 * sharder does and controller-runtime's `builder.OnlyMetadata` offers): the server sends
 * names, labels and owner references without `spec`, `status` or `data`, and its caches
 * (its own informer factory, which runs on the leader only) keep them without
 * `managedFields` and annotations (see {@link sharderTransform}). Only the shard Leases are
 * watched in full (their state is in `spec`).
 * A `PartialObjectMetadata`'s `apiVersion` and `kind` are the wrapper's, so every ring key
 * and every label write takes them from the ring's target, never from the cached object.
 */
import type { KubeConfig } from '@kubernetes/client-node'
import { GenServer, noreply, ok } from '../actor/index.ts'
import { isConflict, isNotFound } from '../api/errors.ts'
import { Client } from '../client/client.ts'
import { type Controller, controller } from '../dispatch/controller.ts'
import { enqueueMapped, enqueueObject } from '../dispatch/handlers.ts'
import type { Request } from '../dispatch/request.ts'
import { channel, EventChannel, kind } from '../dispatch/sources.ts'
import { InformerFactory, type InformerTarget, type SharedInformer } from '../informer/informer.ts'
import { defaultLogger, type Logger } from '../log.ts'
import { type ChildSpec, supervisor } from '../supervisor/index.ts'
import { ItemExponentialFailureRateLimiter } from '../queue/index.ts'
import { type Clock, systemClock } from '../time/clock.ts'
import { dropManagedFields, type KubeObject } from '../watch/object.ts'
import { drainLabel, InvalidShardingError, type RingSpec, shardLabel, validateRing } from './labels.ts'
import { controllerRefOf, Ring, type RingObject, ringKeyOf } from './ring.ts'
import { DEFAULT_ORPHAN_AFTER_MS, markShardDead, RING_LABEL, type ShardLeaseObject, type ShardState, shardState } from './shard-lease.ts'

/** How often every object is looked at again without an event (timebertt's sharder resyncs every 5 minutes). */
export const DEFAULT_SHARDER_SYNC_PERIOD_MS = 5 * 60_000
/** Objects the sharder labels at once, by default. */
export const DEFAULT_SHARDER_CONCURRENCY = 8

/** Options of {@link Sharder}. */
export interface SharderOptions {
  /** The cluster: the ring's objects (watched metadata-only, labelled) and its shard Leases. */
  kubeConfig: KubeConfig
  /** The ring to keep assigned (the shards' `Sharding` must be given the same). */
  ring: RingSpec
  /** Who acquires dead shards' Leases (the Manager's identity). */
  identity: string
  /** Default {@link DEFAULT_SHARDER_SYNC_PERIOD_MS}. */
  syncPeriodMs?: number
  /** Dead shard Leases are deleted after this long. Default 1 minute. */
  orphanAfterMs?: number
  /** Virtual nodes per shard on the ring (default the ring's). */
  virtualNodes?: number
  /**
   * Objects labelled at once (the sharder controller's `maxConcurrentReconciles`; default
   * {@link DEFAULT_SHARDER_CONCURRENCY}). Each reconcile is one PATCH; a handover of many
   * objects goes this many PATCHes at a time.
   */
  concurrency?: number
  /**
   * An InformerFactory for the sharder, run by the caller (tests); default its own on
   * `kubeConfig` with the sharder's transform (no `managedFields`, no annotations), which the sharder runs. The sharder asks it for
   * metadata-only targets of the ring's kinds and the full shard Leases.
   */
  informers?: InformerFactory
  /** Timers (requeues, the resync); default the system clock. */
  clock?: Clock
  /** Wall-clock ms: Lease renew times are wall-clock times. Default `Date.now`. */
  wallClock?: () => number
  /** Default kubevisor's default logger. */
  logger?: Logger
}

/** What the sharder knows of the ring now. */
export interface RingStatus {
  /** Each shard Lease's state. */
  shards: Record<string, ShardState>
  /** The shards objects are assigned to (the `ready` ones), sorted. */
  ring: string[]
}

/**
 * What the sharder's caches keep: `managedFields` go (as `dropManagedFields`), and so do a
 * sharded object's annotations, which the sharder never reads and which can be as large as
 * the object itself (`kubectl apply` keeps the whole object in
 * `kubectl.kubernetes.io/last-applied-configuration`). The shard Leases keep theirs: the
 * sharder writes a Lease back in full when it marks its shard dead. Fields are set to
 * `undefined` rather than deleted (see `dropManagedFields`: `delete` costs more heap).
 */
function sharderTransform(object: KubeObject): KubeObject {
  dropManagedFields(object)
  const meta = object.metadata
  if (object.kind === 'PartialObjectMetadata' && meta !== undefined && meta.annotations !== undefined) meta.annotations = undefined
  return object
}

const OWNER_INDEX = 'sharding-owner'

/** The metadata fields the sharder reads, typed. */
function labelsOf(object: KubeObject): { labels?: Record<string, string>; ownerReferences?: { apiVersion: string; kind: string; name: string; controller?: boolean }[] } {
  return (object.metadata ?? {}) as never
}

/**
 * The sharder of one ring. Add {@link childSpec} to a Manager as a leader-only child (the
 * `Sharding` helper does).
 */
export class Sharder {
  /** The ring, as validated. */
  readonly ring: RingSpec
  readonly #opts: SharderOptions
  readonly #client: Client
  readonly #log: Logger
  readonly #clock: Clock
  readonly #concurrency: number
  readonly #wall: () => number
  readonly #shardLabel: string
  readonly #drainLabel: string
  readonly #leaseTarget: InformerTarget
  #ring: Ring = new Ring([])
  #signature = ''
  #informers: InformerFactory | undefined
  #objects: EventChannel<Request> | undefined

  constructor(options: SharderOptions) {
    this.ring = validateRing(options.ring)
    const concurrency = options.concurrency ?? DEFAULT_SHARDER_CONCURRENCY
    if (!Number.isInteger(concurrency) || concurrency < 1) throw new InvalidShardingError(`a sharder's concurrency must be an integer >= 1, got ${String(options.concurrency)}`)
    this.#concurrency = concurrency
    this.#opts = options
    this.#client = new Client(options.kubeConfig, { fieldManager: `kubevisor-sharder-${this.ring.name}`, logger: options.logger })
    this.#log = (options.logger ?? defaultLogger()).child({ sharder: this.ring.name })
    this.#clock = options.clock ?? systemClock
    this.#wall = options.wallClock ?? Date.now
    this.#shardLabel = shardLabel(this.ring.name)
    this.#drainLabel = drainLabel(this.ring.name)
    this.#leaseTarget = { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', namespace: this.ring.leaseNamespace, labelSelector: `${RING_LABEL}=${this.ring.name}` }
  }

  /**
   * The sharder's informers (its caches) while it runs or last ran on this replica — the
   * leader — for status pages and tests; `undefined` before its first start.
   */
  get informers(): InformerFactory | undefined {
    return this.#informers
  }

  /** The ring's shards and their states, as of now (empty before the sharder runs). */
  status(): RingStatus {
    const leases = this.#informers?.informer<ShardLeaseObject & KubeObject>(this.#leaseTarget).store.list() ?? []
    const shards: Record<string, ShardState> = {}
    for (const l of leases) shards[l.metadata?.name as string] = shardState(l, this.#wall(), this.#opts.orphanAfterMs)
    return { shards, ring: Object.entries(shards).flatMap(([n, s]) => (s === 'ready' ? [n] : [])).sort() }
  }

  /**
   * The sharder's tree: its informers, a controller for the shard Leases, one for the
   * objects, and the periodic resync. Each start (each leadership) builds it afresh.
   */
  childSpec(id = `sharder:${this.ring.name}`): ChildSpec {
    return {
      id,
      type: 'supervisor',
      start: (env) => {
        const informers =
          this.#opts.informers ?? new InformerFactory({ kubeConfig: this.#opts.kubeConfig, logger: this.#log, clock: this.#opts.clock, transform: sharderTransform })
        this.#informers = informers
        // A new term starts from the Leases it reads, not from the last term's ring.
        this.#signature = ''
        this.#ring = new Ring([])
        const objects = new EventChannel<Request>()
        this.#objects = objects
        const spec = supervisor(
          [
            ...(this.#opts.informers ? [] : [informers.childSpec('informers')]),
            this.#leasesController(informers).childSpec('leases'),
            this.#objectsController(informers, objects).childSpec('objects'),
            this.#resyncSpec(objects),
          ],
          { id, strategy: 'one_for_all', maxRestarts: 5, maxSeconds: 30 },
        )
        return spec.start(env)
      },
    }
  }

  /** The sharded kind, metadata-only. */
  #resource(): InformerTarget & { apiVersion: string; kind: string } {
    const r = this.ring.resource
    return { apiVersion: r.apiVersion as string, kind: r.kind as string, namespace: r.namespace, namespaced: r.namespaced, metadataOnly: true }
  }

  /** The controlled kinds, metadata-only. */
  #controlledTargets(): (InformerTarget & { apiVersion: string; kind: string })[] {
    return (this.ring.controlled ?? []).map((t) => ({ apiVersion: t.apiVersion as string, kind: t.kind as string, namespace: t.namespace, namespaced: t.namespaced, metadataOnly: true }))
  }

  /** Every sharded object's request, for a ring change or a resync. */
  #enqueueAll(informers: InformerFactory): void {
    const objects = this.#objects
    if (!objects) return
    for (const o of informers.informer(this.#resource()).store.list()) objects.push({ namespace: o.metadata?.namespace, name: o.metadata?.name as string })
  }

  #leasesController(informers: InformerFactory): Controller {
    return controller(`sharder-${this.ring.name}-leases`, { informers, logger: this.#log, clock: this.#opts.clock })
      .for(this.#leaseTarget)
      .build(async ({ namespace, name }, { signal }) => {
        const store = informers.informer<ShardLeaseObject & KubeObject>(this.#leaseTarget).store
        const lease = store.get({ namespace, name })
        let next: number | undefined
        if (lease) {
          const now = this.#wall()
          const state = shardState(lease, now, this.#opts.orphanAfterMs)
          if (state === 'uncertain') {
            try {
              await markShardDead(this.#client, lease, this.#opts.identity, now, signal)
              this.#log.info({ shard: name }, 'shard lease expired for longer than its duration: acquired it, the shard is dead')
            } catch (err) {
              // The shard renewed meanwhile (409), or the Lease is gone: the next event decides.
              if (!isConflict(err) && !isNotFound(err)) throw err
            }
          } else if (state === 'orphaned') {
            await this.#client
              .delete({ apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', namespace, name }, { preconditions: { resourceVersion: lease.metadata?.resourceVersion }, signal })
              .then(
                () => this.#log.info({ shard: name }, 'deleted the lease of a shard dead for long'),
                (err: unknown) => {
                  if (!isConflict(err) && !isNotFound(err)) throw err
                },
              )
          } else next = nextTransition(lease, now, this.#opts.orphanAfterMs ?? DEFAULT_ORPHAN_AFTER_MS)
        }
        this.#refreshRing(informers)
        return next !== undefined ? { requeueAfter: Math.max(1, next) } : undefined
      })
  }

  /** Recomputes the ring from the Leases; when the ready or dead shards changed, every object is looked at again. */
  #refreshRing(informers: InformerFactory): void {
    const status = this.status()
    const signature = JSON.stringify(Object.entries(status.shards).sort().map(([n, s]) => [n, s === 'ready' ? 'r' : s === 'dead' || s === 'orphaned' ? 'd' : 'x']))
    if (signature === this.#signature) return
    this.#signature = signature
    const names = status.ring
    if (names.join(',') !== this.#ring.shards.join(',')) {
      this.#ring = new Ring(names, { virtualNodes: this.#opts.virtualNodes })
      this.#log.info({ ring: names }, 'ring changed')
    }
    this.#enqueueAll(informers)
  }

  #objectsController(informers: InformerFactory, objects: EventChannel<Request>): Controller {
    const resource = this.#resource()
    const owner = { apiVersion: resource.apiVersion, kind: resource.kind }
    const indexers = {
      [OWNER_INDEX]: (o: KubeObject) => {
        const ref = controllerRefOf(o as RingObject, owner)
        return ref ? [`${o.metadata?.namespace ?? ''}/${ref.name}`] : []
      },
    }
    const controlled = this.#controlledTargets().map((t) => ({ target: t, informer: informers.informer(t, { indexers }) as SharedInformer }))
    const builder = controller(`sharder-${this.ring.name}`, { informers, logger: this.#log, clock: this.#opts.clock })
      .for(resource)
      // Shard Leases gate the workers (they wait for every informer-backed watch to sync), so no
      // object is judged against an empty ring; their events reach the objects through #refreshRing.
      .watches(kind(this.#leaseTarget), () => [])
      .watches(channel(objects), enqueueObject())
    for (const c of controlled) {
      builder.watches(
        kind(c.target),
        enqueueMapped((o: KubeObject) => {
          const key = indexers[OWNER_INDEX](o)[0]
          if (!key) return []
          return [{ namespace: o.metadata?.namespace, name: key.slice(key.indexOf('/') + 1) }]
        }),
      )
    }
    // A conflict is not retried on a timer: it means the cache is behind, and the event that
    // brings the newer version enqueues the object again. Other failures back off per object
    // only (no overall 10 qps bucket: a handover of thousands of objects must not queue behind it).
    return builder.withOptions({ maxConcurrentReconciles: this.#concurrency, rateLimiter: new ItemExponentialFailureRateLimiter<string>(5, 30_000) }).build(async (request, { signal }) => {
      const object = informers.informer(resource).store.get(request)
      if (!object) return undefined
      const labels = labelsOf(object).labels ?? {}
      const current = labels[this.#shardLabel]
      const draining = labels[this.#drainLabel] !== undefined
      // Keyed by the ring's kind: the cached object's apiVersion/kind are PartialObjectMetadata's.
      const desired = this.#ring.shardFor(ringKeyOf({ apiVersion: owner.apiVersion, kind: owner.kind, metadata: object.metadata } as RingObject))
      const state = current ? this.status().shards[current] : undefined
      let assigned = current
      if (!current || state === undefined || state === 'dead' || state === 'orphaned') {
        // Unassigned, acknowledged, or on a dead shard: assign now (nothing if no shard is ready).
        if (desired && desired !== current) {
          if (!(await this.#label(object, { [this.#shardLabel]: desired, [this.#drainLabel]: null }, signal))) return undefined
          this.#log.debug({ object: request, from: current, to: desired }, current ? 'moved from a dead shard' : 'assigned')
          assigned = desired
        }
      } else if (state === 'ready' && desired && desired !== current && !draining) {
        await this.#label(object, { [this.#drainLabel]: 'true' }, signal)
        this.#log.debug({ object: request, from: current, to: desired }, 'draining')
      }
      if (assigned) {
        for (const c of controlled) {
          for (const child of c.informer.store.byIndex(OWNER_INDEX, `${request.namespace ?? ''}/${request.name}`)) {
            if (labelsOf(child).labels?.[this.#shardLabel] !== assigned) await this.#label(child, { [this.#shardLabel]: assigned }, signal, c.target)
          }
        }
      }
      return undefined
    })
  }

  /**
   * A merge patch of labels pinned to the resourceVersion the decision was made on, to the
   * object of `target`'s kind (the cached object is a PartialObjectMetadata). Whether the
   * write went through (false on a conflict or when the object is gone).
   */
  async #label(object: KubeObject, labels: Record<string, string | null>, signal: AbortSignal, target: { apiVersion: string; kind: string } = this.#resource()): Promise<boolean> {
    return this.#client
      .patch(
        { apiVersion: target.apiVersion, kind: target.kind, namespace: object.metadata?.namespace, name: object.metadata?.name as string },
        { metadata: { labels, resourceVersion: object.metadata?.resourceVersion } },
        { signal },
      )
      .then(
        () => true,
        (err: unknown) => {
          if (isConflict(err)) this.#log.debug({ object: object.metadata?.name }, 'label write conflicted: the cache is behind; the next event decides again')
          else if (!isNotFound(err)) throw err
          return false
        },
      )
  }

  #resyncSpec(objects: EventChannel<Request>): ChildSpec {
    const period = this.#opts.syncPeriodMs ?? DEFAULT_SHARDER_SYNC_PERIOD_MS
    const clock = this.#clock
    const informers = () => this.#informers
    return {
      id: 'resync',
      start: (env) =>
        GenServer.start(
          {
            init: (_arg: undefined, ctx) => {
              let timer: unknown
              const tick = () => {
                const f = informers()
                if (f && this.#objects === objects) this.#enqueueAll(f)
                timer = clock.setTimeout(tick, period)
              }
              timer = clock.setTimeout(tick, period)
              ctx.log.debug({ periodMs: period }, 'sharder resync scheduled')
              return ok({ clear: () => clock.clearTimeout(timer) })
            },
            handleInfo: (_m: unknown, s: { clear: () => void }) => noreply(s),
            terminate: (_r: unknown, s: { clear: () => void }) => s.clear(),
          },
          undefined,
          env,
        ),
    }
  }
}

/** Ms until a Lease's state changes by time alone (ready → expired → uncertain; dead → orphaned). */
function nextTransition(lease: ShardLeaseObject, nowMs: number, orphanAfterMs: number): number | undefined {
  const durationMs = (lease.spec?.leaseDurationSeconds ?? 0) * 1000
  const renew = Date.parse(lease.spec?.renewTime ?? lease.spec?.acquireTime ?? '')
  if (Number.isNaN(renew)) return undefined
  const state = shardState(lease, nowMs, orphanAfterMs)
  // +1 ms: at the boundary itself the state has changed.
  if (state === 'ready') return renew + durationMs - nowMs + 1
  if (state === 'expired') return renew + 2 * durationMs - nowMs + 1
  if (state === 'dead') return renew + Math.max(orphanAfterMs, durationMs) - nowMs + 1
  return undefined
}
