/**
 * The shard side of a ring, on a Manager (timebertt/kubernetes-controller-sharding
 * `pkg/shard`: the shard lease, the label-selected controller sources and the
 * `shardcontroller.Reconciler` wrapper), and the one-call setup {@link Sharding}.
 *
 * Every replica runs, always-on (not leader-only): its shard Lease ({@link ShardLease}) and
 * its controllers, whose watches select `shard.sharding.kubevisor.dev/<ring>=<me>`, so its
 * caches hold its own objects only and an object whose label moves away arrives as a
 * delete. The leader also runs the {@link Sharder}, unless `sharder: false` (the sharder
 * then runs in its own process, as timebertt's sharder Deployment).
 *
 * Each reconcile of a shard goes through a wrapper that, like timebertt's:
 * - skips objects this shard's cache does not hold with its own label (not assigned here,
 *   or moved away: their reconcile is someone else's);
 * - acknowledges a drain: an object carrying the drain label has both labels removed
 *   (pinned to the version read) instead of being reconciled. The work queue never hands
 *   out a key that is being processed, so when the acknowledgement runs, no reconcile of
 *   that object is in flight on this shard, and none starts after it (the object has left
 *   this shard's cache by the time the sharder gives it to another shard);
 * - runs nothing while the shard Lease is not held, and aborts the reconcile's signal the
 *   moment the Lease is lost.
 */
import type { KubeConfig } from '@kubernetes/client-node'
import { isConflict, isNotFound } from '../api/errors.ts'
import { Client } from '../client/client.ts'
import { controller as buildController, type ControllerBuilder, type ReconcileContext, type ReconcileFunc, type Reconciler } from '../dispatch/controller.ts'
import type { InformerTarget, SharedInformer } from '../informer/informer.ts'
import { defaultLogger, type Logger } from '../log.ts'
import type { Manager } from '../manager/manager.ts'
import type { Clock } from '../time/clock.ts'
import { drainLabel, defaultShardName, type RingSpec, shardLabel, validateRing, validateShardName } from './labels.ts'
import type { DEFAULT_VIRTUAL_NODES } from './ring.ts'
import { Sharder } from './sharder.ts'
import { RING_LABEL, ShardLease, ShardLeaseLock, type ShardLeaseObject, type ShardLeaseTiming } from './shard-lease.ts'
import { ShardingWebhook } from './webhook.ts'
import type { KubeObject } from '../watch/object.ts'

/** Options of {@link Sharding}. */
export interface ShardingOptions extends ShardLeaseTiming {
  /** The cluster (the shard Lease, the acknowledgements, the sharder's watches and labels). */
  kubeConfig: KubeConfig
  /** The ring this replica is a shard of. */
  ring: RingSpec
  /** This replica's shard name (a DNS label: it names a Lease and is a label value). Default: host name + random suffix. */
  shardName?: string
  /** The sharder's resync period (see {@link Sharder}). */
  syncPeriodMs?: number
  /** Dead shard Leases are deleted after this long. Default 1 minute. */
  orphanAfterMs?: number
  /** Objects the sharder labels at once (see {@link SharderOptions.concurrency}). */
  sharderConcurrency?: number
  /** Virtual nodes per shard on the ring (default {@link DEFAULT_VIRTUAL_NODES}). */
  virtualNodes?: number
  /** Timers (lease renewals); default the system clock. */
  clock?: Clock
  /** Wall-clock ms for Lease times; default `Date.now`. */
  wallClock?: () => number
  /** Default kubevisor's default logger. */
  logger?: Logger
  /**
   * Serve the ring's mutating admission webhook ({@link ShardingWebhook}) on the Manager's
   * webhook server (the Manager needs its `webhook` option), at `/webhooks/sharding/<ring>`.
   * Default false. Deploy its configuration with `shardingWebhookConfiguration`.
   */
  webhook?: boolean
  /**
   * Run the ring's {@link Sharder} on this Manager, as a leader-only child. Default `true`:
   * the leading replica is also the sharder, and so caches the metadata of every object of
   * the ring (about 1 KB each) besides its own shard's objects.
   *
   * With `false` this replica runs its shard only (its Lease, label-selected watches and
   * drain acknowledgements) and no sharder, as timebertt/kubernetes-controller-sharding's
   * shards do; {@link Sharding.sharder} is then `undefined`. The sharder must then run
   * elsewhere — one more Deployment: a Manager with leader election whose only child is
   * the sharder:
   *
   * ```ts
   * const mgr = new Manager({ kubeConfig, leaderElection: { id: 'sites-sharder', namespace: 'ops' } })
   * mgr.add(new Sharder({ kubeConfig, ring, identity: mgr.identity }).childSpec(), { needLeaderElection: true })
   * await mgr.run()
   * ```
   *
   * Without a sharder running somewhere, no object is ever assigned (nor handed over when a
   * shard dies): every shard then reconciles nothing.
   */
  sharder?: boolean
}

/**
 * Sharding for one ring on a Manager: adds this replica's shard Lease (always-on), the
 * sharder (leader-only), and builds sharded controllers.
 *
 * When to use: an operator that one process cannot carry (cache memory, reconcile
 * throughput). Run N replicas; each reconciles about 1/N of the objects.
 *
 * Guarantee: an object is reconciled by at most one replica at a time — handovers wait for
 * the old shard's acknowledgement, and a shard's objects move without one only after its
 * Lease has expired for two lease durations and the sharder acquired it, by which time the
 * shard stopped (it stops `renewDeadline` after its last renewal). Reconciles must honour
 * their `signal` (aborted when the Lease is lost) and finish within
 * `2 × leaseDuration − renewDeadline − retryPeriod` (18 s with the 15/10/2 s defaults).
 *
 * @example
 * ```ts
 * const mgr = new Manager({ kubeConfig, leaderElection: { id: 'site-operator', namespace: 'ops' } })
 * const sharding = new Sharding(mgr, { kubeConfig, ring: { name: 'sites', leaseNamespace: 'ops',
 *   resource: { apiVersion: 'example.com/v1', kind: 'Site' }, controlled: [{ apiVersion: 'v1', kind: 'ConfigMap' }] } })
 * const sites = mgr.informers.informer(sharding.target({ apiVersion: 'example.com/v1', kind: 'Site' })).store
 * sharding.controller('site').for(sharding.target(siteTarget)).owns(sharding.target(configMapTarget)).build(reconcile)
 * await mgr.run()
 * ```
 */
export class Sharding {
  /** This replica's shard name. */
  readonly shardName: string
  /** The ring, as validated. */
  readonly ring: RingSpec
  /** This replica's membership. */
  readonly lease: ShardLease
  /** The sharder (runs on the leader only); `undefined` with `sharder: false` (it runs in another process). */
  readonly sharder: Sharder | undefined
  /** The admission webhook, when the `webhook` option is set. */
  readonly webhook: ShardingWebhook | undefined
  /** `shard.sharding.kubevisor.dev/<ring>`. */
  readonly shardLabel: string
  /** `drain.sharding.kubevisor.dev/<ring>`. */
  readonly drainLabel: string
  readonly #mgr: Manager
  readonly #client: Client
  readonly #log: Logger
  readonly #retryMs: number

  /** A shard name for this process (see `defaultShardName`). */
  static defaultShardName(): string {
    return defaultShardName()
  }

  constructor(mgr: Manager, options: ShardingOptions) {
    this.ring = validateRing(options.ring)
    this.shardName = validateShardName(options.shardName ?? defaultShardName())
    this.shardLabel = shardLabel(this.ring.name)
    this.drainLabel = drainLabel(this.ring.name)
    this.#mgr = mgr
    this.#log = (options.logger ?? defaultLogger()).child({ ring: this.ring.name, shard: this.shardName })
    this.#client = new Client(options.kubeConfig, { fieldManager: `kubevisor-shard-${this.ring.name}`, logger: options.logger })
    this.#retryMs = options.retryPeriodMs ?? 2_000
    this.lease = new ShardLease({
      lock: new ShardLeaseLock(options.kubeConfig, { namespace: this.ring.leaseNamespace, ring: this.ring.name, identity: this.shardName }),
      leaseDurationMs: options.leaseDurationMs,
      renewDeadlineMs: options.renewDeadlineMs,
      retryPeriodMs: options.retryPeriodMs,
      clock: options.clock,
      wallClock: options.wallClock,
      logger: options.logger,
    })
    this.sharder = options.sharder === false ? undefined : new Sharder({
      kubeConfig: options.kubeConfig,
      ring: this.ring,
      identity: mgr.identity,
      syncPeriodMs: options.syncPeriodMs,
      orphanAfterMs: options.orphanAfterMs,
      virtualNodes: options.virtualNodes,
      concurrency: options.sharderConcurrency,
      clock: options.clock,
      wallClock: options.wallClock,
      logger: options.logger,
    })
    // The Lease starts before this replica's controllers and stops after them (children stop in reverse order),
    // so a clean shutdown releases it only once nothing is in flight; the sharder then moves the objects at once.
    mgr.add(this.lease.childSpec(`shard-lease:${this.ring.name}`), { needLeaderElection: false })
    if (this.sharder) mgr.add(this.sharder.childSpec(), { needLeaderElection: true })
    if (options.webhook) {
      // Made before start, so the Leases are cached on every replica and readiness waits for them.
      const leases = mgr.informers.informer<ShardLeaseObject & KubeObject>({
        apiVersion: 'coordination.k8s.io/v1',
        kind: 'Lease',
        namespace: this.ring.leaseNamespace,
        labelSelector: `${RING_LABEL}=${this.ring.name}`,
      }).store
      this.webhook = new ShardingWebhook({
        ring: this.ring,
        leases: () => leases.list(),
        virtualNodes: options.virtualNodes,
        orphanAfterMs: options.orphanAfterMs,
        wallClock: options.wallClock,
        logger: options.logger,
      })
      mgr.registerWebhook(this.webhook.path, this.webhook.handle)
    }
  }

  /** `target` restricted to this shard's objects (its label selector; an existing selector is kept, ANDed). */
  target<T extends InformerTarget>(target: T): T {
    const mine = `${this.shardLabel}=${this.shardName}`
    return { ...target, labelSelector: target.labelSelector ? `${target.labelSelector},${mine}` : mine }
  }

  /** The label to put on objects this shard creates for an object it reconciles (so its own caches see them at once). */
  labels(): Record<string, string> {
    return { [this.shardLabel]: this.shardName }
  }

  /**
   * A controller builder on the Manager's informers whose `build` wraps the reconciler
   * (see this module's header) and adds the controller to the Manager as an always-on
   * child: every shard reconciles. Give it targets made with {@link target}.
   */
  controller(name: string): ControllerBuilder {
    const builder = buildController(name, { informers: this.#mgr.informers, logger: this.#log })
    const build = builder.build.bind(builder)
    let informer: SharedInformer | undefined
    builder.build = (reconciler: Reconciler) => {
      const inner: ReconcileFunc = typeof reconciler === 'function' ? reconciler : reconciler?.reconcile?.bind(reconciler)
      const ctl = build(this.wrap(inner, () => informer))
      informer = ctl.informer
      this.#mgr.add(ctl, { needLeaderElection: false })
      return ctl
    }
    return builder
  }

  /** The shard's reconcile wrapper around `reconcile`, reading objects from `informer()` (the `for` kind's). */
  wrap(reconcile: ReconcileFunc, informer: () => SharedInformer | undefined): ReconcileFunc {
    return async (request, context: ReconcileContext) => {
      if (!this.lease.holding) {
        context.log.debug('shard lease not held: not reconciling')
        return { requeueAfter: this.#retryMs }
      }
      const source = informer()
      const object = source?.store.get(request)
      const labels = (object?.metadata?.labels ?? {}) as Record<string, string>
      if (!object || labels[this.shardLabel] !== this.shardName) return undefined
      if (labels[this.drainLabel] !== undefined) {
        // The watched kind, not the object's: a metadata-only `for` caches PartialObjectMetadata.
        const apiVersion = (source?.target.apiVersion ?? object.apiVersion) as string
        const kind = (source?.target.kind ?? object.kind) as string
        try {
          await this.#client.patch(
            { apiVersion, kind, namespace: object.metadata?.namespace, name: object.metadata?.name as string },
            { metadata: { labels: { [this.shardLabel]: null, [this.drainLabel]: null }, resourceVersion: object.metadata?.resourceVersion } },
            { signal: context.signal },
          )
          context.log.info({ drained: true }, 'drained: handed the object back to the sharder')
        } catch (err) {
          // Gone: nothing to hand back. A conflict: the cache is behind; the event bringing the newer version decides.
          if (!isNotFound(err) && !isConflict(err)) throw err
        }
        return undefined
      }
      const signal = AbortSignal.any([context.signal, this.lease.signal])
      return reconcile(request, { ...context, signal })
    }
  }
}
