/**
 * The Manager: the top of an operator's supervision tree, and what turns it into the
 * process you deploy (controller-runtime `pkg/manager`).
 *
 * Its tree, in start order (so shutdown runs in the reverse):
 *
 * ```
 * manager (Supervisor, one_for_one)
 * ├── http               health probes and /metrics           every replica
 * ├── webhook            admission webhooks (HTTPS), when configured  every replica
 * ├── informers          the shared caches                    every replica
 * ├── <always-on children>  added with needLeaderElection: false
 * ├── leader-election    the elector on a Lease               every replica
 * └── leader             controllers and leader-only children  the leader only, after the caches synced
 * ```
 *
 * Informers created from `mgr.informers` before `start()` run on every replica (warm
 * standby: a new leader does not list from scratch); readiness includes "every one of
 * them synced". Leader-only children start after that, once the lease is held.
 */
import { readFileSync } from 'node:fs'
import type { KubeConfig } from '@kubernetes/client-node'
import { type Behaviour, GenServer, noreply, ok, type Pid } from '../actor/index.ts'
import { controller as buildController, type Controller, type ControllerBuilder } from '../dispatch/controller.ts'
import { prometheusReconcileMetrics, type ReconcileMetricsProvider } from '../dispatch/metrics.ts'
import { KubevisorError } from '../errors.ts'
import { InformerFactory, type SharedInformer } from '../informer/informer.ts'
import { defaultLogger, type Logger } from '../log.ts'
import { type PromClientLike, prometheusQueueMetrics, type QueueMetricsProvider } from '../queue/metrics.ts'
import { type ChildSpec, Supervisor, supervisor } from '../supervisor/index.ts'
import { type Clock, systemClock } from '../time/clock.ts'
import { prometheusWatchMetrics, type WatchMetrics } from '../watcher/metrics.ts'
import type { Checker } from './healthz.ts'
import {
  defaultIdentity,
  LeaderElectionLostError,
  type LeaderElectionStatus,
  LeaderElector,
  type LeaderMetrics,
  validateLeaderElection,
} from './leaderelection.ts'
import { LeaseLock, type ResourceLock } from './resourcelock.ts'
import { type Listening, listen, parseBindAddress } from './server.ts'
import { type AdmissionHandler, WebhookServer, type WebhookServerOptions } from './webhook.ts'

/** controller-runtime's `GracefulShutdownTimeout` default: 30 s. */
export const DEFAULT_GRACEFUL_SHUTDOWN_TIMEOUT_MS = 30_000

/** controller-runtime's `CacheSyncTimeout` default: 2 minutes. */
export const DEFAULT_CACHE_SYNC_TIMEOUT_MS = 120_000

/** The service account namespace file, read for the lease namespace when running in a cluster. */
const IN_CLUSTER_NAMESPACE_FILE = '/var/run/secrets/kubernetes.io/serviceaccount/namespace'

/** A Manager that cannot be built or started as asked (`ERR_INVALID_MANAGER`). */
export class InvalidManagerError extends KubevisorError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_INVALID_MANAGER', message, options)
  }
}

/** Graceful shutdown did not finish in time (`ERR_GRACEFUL_SHUTDOWN_TIMEOUT`); `inFlight` names what was cut off. */
export class GracefulShutdownTimeoutError extends KubevisorError {
  /** The controllers' requests still being reconciled when the grace period ran out, as `controller: namespace/name` (empty when none was). */
  readonly inFlight: string[]
  constructor(timeoutMs: number, inFlight: string[]) {
    super('ERR_GRACEFUL_SHUTDOWN_TIMEOUT', `failed waiting for all runnables to end within grace period of ${timeoutMs} ms; still running: ${inFlight.length ? inFlight.join(', ') : 'unknown'}`)
    this.inFlight = inFlight
  }
}

/**
 * The caches did not sync within `cacheSyncTimeoutMs` after this replica became leader
 * (`ERR_CACHE_SYNC_TIMEOUT`): the Manager fails rather than hold the lease doing nothing.
 */
export class CacheSyncTimeoutError extends KubevisorError {
  constructor(timeoutMs: number, problem: string | undefined) {
    super('ERR_CACHE_SYNC_TIMEOUT', `timed out waiting for cache to be synced after ${timeoutMs} ms: ${problem ?? 'unknown'}`)
  }
}

/** The part of prom-client the Manager uses: the module, passed by the caller. */
export interface ManagerPromClient extends PromClientLike {
  Registry: new () => ManagerPromRegistry
  collectDefaultMetrics?(options: { register: any }): void
}

/** A prom-client `Registry`. */
export interface ManagerPromRegistry {
  getSingleMetric(name: string): unknown
  /** Adds a metric object (the work queue's histograms register this way). */
  registerMetric(metric: never): void
  metrics(): Promise<string>
  readonly contentType: string
}

/** Leader election as controller-runtime's Manager options (`LeaderElection*`), in ms. */
export interface ManagerLeaderElectionOptions {
  /** The Lease name (`LeaderElectionID`). Required. */
  id: string
  /** The Lease namespace. Default: the pod's namespace in a cluster; required outside one. */
  namespace?: string
  /** Default `<hostname>_<uuid>`. */
  identity?: string
  /** Default 15 000. */
  leaseDurationMs?: number
  /** Default 10 000. */
  renewDeadlineMs?: number
  /** Default 2 000. */
  retryPeriodMs?: number
  /** Release the Lease on a clean shutdown so another replica leads at once (`LeaderElectionReleaseOnCancel`). Default false. */
  releaseOnCancel?: boolean
  /** Another lock (tests); default a {@link LeaseLock}. */
  lock?: ResourceLock
}

/** Options of {@link Manager}; see each field for its default. */
export interface ManagerOptions {
  /** The cluster. Required unless `informers` and a leader election `lock` (or none) are given. */
  kubeConfig?: KubeConfig
  /** The shared informers; default: a factory on `kubeConfig` (with watch metrics when `prometheus` is set). */
  informers?: InformerFactory
  /**
   * This replica's identity (logs, status), e.g. a shard's name when it runs without leader
   * election; `leaderElection.identity` wins when set. Default `<hostname>_<uuid>`.
   */
  identity?: string
  /** Where the Manager, its tree and its controllers log (as a child logger with `identity`). Default the shared logger, level from `$KUBEVISOR_LOG_LEVEL` (default `info`). */
  logger?: Logger
  /** Time for leader election, the shutdown deadline, the supervision tree and the informers it creates (tests pass a `FakeClock`). Default the system clock. */
  clock?: Clock
  /** Leader election; off when absent or false (every replica then runs everything). */
  leaderElection?: ManagerLeaderElectionOptions | false
  /** `/healthz` and `/readyz`: `"host:port"`, `":port"` or `"0"` (off). Default `"0"`. */
  healthProbeBindAddress?: string
  /** `/metrics`: same syntax. Default `"0"`. Needs `prometheus`. */
  metricsBindAddress?: string
  /** The prom-client module (`import * as prom from 'prom-client'`): enables metrics. */
  prometheus?: ManagerPromClient
  /** Where metrics go; default a fresh registry with prom-client's default process metrics. */
  registry?: ManagerPromRegistry
  /** How long a signal's shutdown may take before the process exits non-zero. Default 30 000. */
  gracefulShutdownTimeoutMs?: number
  /**
   * How long the leader waits for the caches before it gives up and the Manager fails
   * (controller-runtime's `CacheSyncTimeout`), so a leader that cannot sync (a missing CRD,
   * RBAC) does not hold the lease while doing nothing. Default 120 000.
   */
  cacheSyncTimeoutMs?: number
  /**
   * The admission webhook server (controller-runtime's `WebhookServer`): HTTPS on
   * `port` (default 9443) with `tls.crt`/`tls.key` from `certDir`, reloaded when they
   * change; it runs on every replica, not only the leader. Off when absent. Register
   * webhooks with {@link Manager.registerWebhook}.
   */
  webhook?: WebhookServerOptions
}

/** Options of {@link Manager.add}. */
export interface AddOptions {
  /** Run only on the leader (controller-runtime `LeaderElectionRunnable`). Default true. */
  needLeaderElection?: boolean
}

/** What {@link Manager.status} reports (for status pages; read-only). */
export interface ManagerStatus {
  /** This replica's identity (the lease holder name when it leads). */
  identity: string
  /** `new` (not started), `running`, `stopping` (graceful shutdown), `stopped` (cleanly), or `failed` (a start failure, a lost lease, a cache sync or shutdown timeout). */
  phase: 'new' | 'running' | 'stopping' | 'stopped' | 'failed'
  /** The elector's view of the lease; `undefined` without leader election (or before it starts). */
  leaderElection: LeaderElectionStatus | undefined
  /** Whether this replica runs the leader-only children now (always, without leader election, once started). */
  isLeader: boolean
  /** Whether every cache the Manager holds has synced and runs. */
  cachesSynced: boolean
}

type ResolvedLeaderElection = ManagerLeaderElectionOptions & { leaseDurationMs: number; renewDeadlineMs: number; retryPeriodMs: number; namespace: string }

interface LeaderChild {
  spec: ChildSpec
  controller: Controller | undefined
}

/**
 * The operator process: informers, HTTP probes and metrics on every replica; controllers
 * on the leader only; signals handled with a bounded graceful shutdown.
 *
 * When to use: anything you deploy as a Deployment. Build it, add controllers with
 * `mgr.controller(name)...build(fn)` (they get the Manager's informers, logger and metrics),
 * add your own children with `mgr.add(spec, { needLeaderElection })`, then `mgr.run()`.
 *
 * Guarantees: leader-only children start after the lease is held and the caches synced;
 * when the lease is lost they stop before another replica can take it over (the process
 * exits 1 under `run()`); SIGTERM/SIGINT stop the tree in reverse order — sources, queue
 * drain, in-flight reconciles, lease release (if configured) — then exit 0, or 1 after
 * `gracefulShutdownTimeoutMs` naming what was cut off; a second signal exits at once.
 *
 * @example
 * ```ts
 * import * as prom from 'prom-client'
 * const mgr = new Manager({ kubeConfig, prometheus: prom, healthProbeBindAddress: ':8081', metricsBindAddress: ':8080',
 *   leaderElection: { id: 'site-operator', namespace: 'site-system', releaseOnCancel: true } })
 * mgr.controller('site').for(siteTarget).owns(configMapTarget).build(reconcile)
 * mgr.addHealthzCheck('ping', () => {})
 * await mgr.run() // never returns: exits the process when done
 * ```
 */
export class Manager {
  /** The shared informers every controller of this Manager watches through. */
  readonly informers: InformerFactory
  /** This replica's identity (the lease holder name when it leads). */
  readonly identity: string
  /** The metrics registry, when `prometheus` was given. */
  readonly registry: ManagerPromRegistry | undefined
  /** The admission webhook server, when `webhook` options were given. */
  readonly webhookServer: WebhookServer | undefined
  readonly #opts: ManagerOptions
  readonly #log: Logger
  readonly #clock: Clock
  readonly #graceMs: number
  readonly #healthz = new Map<string, Checker>()
  readonly #readyz = new Map<string, Checker>()
  readonly #alwaysOn: ChildSpec[] = []
  readonly #leaderOnly: LeaderChild[] = []
  readonly #reconcileMetrics: ReconcileMetricsProvider | undefined
  readonly #queueMetrics: QueueMetricsProvider | undefined
  readonly #leaderMetrics: LeaderMetrics | undefined
  readonly #le: ResolvedLeaderElection | undefined
  #held: SharedInformer[] = []
  #root: Pid | undefined
  #leaderPid: Pid | undefined
  #elector: LeaderElector | undefined
  #phase: ManagerStatus['phase'] = 'new'
  #stopping: Promise<void> | undefined
  #lost = false
  #exitOnLost = false
  #done!: (err: Error | undefined) => void
  /** Resolves when the Manager stopped: `undefined` after a clean stop, the error otherwise. */
  readonly done: Promise<Error | undefined>

  constructor(options: ManagerOptions) {
    this.#opts = options
    this.identity = (options.leaderElection || undefined)?.identity ?? options.identity ?? defaultIdentity()
    this.#log = (options.logger ?? defaultLogger()).child({ identity: this.identity })
    this.#clock = options.clock ?? systemClock
    this.#graceMs = options.gracefulShutdownTimeoutMs ?? DEFAULT_GRACEFUL_SHUTDOWN_TIMEOUT_MS
    if (!(this.#graceMs >= 0 && Number.isFinite(this.#graceMs))) throw new InvalidManagerError(`gracefulShutdownTimeoutMs must be a number of ms >= 0, got ${String(options.gracefulShutdownTimeoutMs)}`)
    this.done = new Promise((resolve) => {
      this.#done = resolve
    })
    // Bind addresses are checked now, so a bad flag fails before anything starts.
    parseBindAddress(options.healthProbeBindAddress)
    if (parseBindAddress(options.metricsBindAddress) && !options.prometheus) throw new InvalidManagerError('metricsBindAddress needs the prom-client module as `prometheus`')

    if (options.webhook) this.webhookServer = new WebhookServer({ clock: options.clock, logger: this.#log, ...options.webhook })
    let watchMetrics: WatchMetrics | undefined
    const prom = options.prometheus
    if (prom) {
      const registry = options.registry ?? new prom.Registry()
      if (!options.registry) prom.collectDefaultMetrics?.({ register: registry })
      this.registry = registry
      this.#reconcileMetrics = prometheusReconcileMetrics(prom, { registry })
      this.#queueMetrics = prometheusQueueMetrics(prom, { registry })
      if (!options.informers) watchMetrics = prometheusWatchMetrics(prom, { registry })
      this.#leaderMetrics = leaderMetrics(prom, registry)
    }
    if (options.informers) this.informers = options.informers
    else {
      if (!options.kubeConfig) throw new InvalidManagerError('a Manager needs a kubeConfig (or an InformerFactory)')
      this.informers = new InformerFactory({ kubeConfig: options.kubeConfig, logger: this.#log, clock: options.clock, metrics: watchMetrics })
    }

    const le = options.leaderElection
    if (le) {
      if (!le.id) throw new InvalidManagerError('leader election needs an id (the Lease name)')
      const timing = validateLeaderElection(le)
      const namespace = le.namespace ?? inClusterNamespace()
      if (!namespace) throw new InvalidManagerError('unable to find leader election namespace: not running in-cluster, please specify the namespace')
      if (!le.lock && !options.kubeConfig) throw new InvalidManagerError('leader election on a Lease needs a kubeConfig')
      this.#le = { ...le, ...timing, namespace }
    }
  }

  /**
   * A controller builder wired to this Manager (controller-runtime's
   * `ControllerManagedBy(mgr)`): its informers, logger, clock and metrics. `build()` adds
   * the controller as a leader-only child.
   */
  controller(name: string): ControllerBuilder {
    const builder = buildController(name, {
      informers: this.informers,
      logger: this.#log,
      clock: this.#opts.clock,
      reconcileMetrics: this.#reconcileMetrics,
      queueMetrics: this.#queueMetrics,
    })
    const build = builder.build.bind(builder)
    builder.build = (reconciler) => {
      const ctl = build(reconciler)
      this.add(ctl)
      return ctl
    }
    return builder
  }

  /**
   * Adds a child: a `Controller` (leader-only by default, as every controller-runtime
   * controller) or any child spec. Children are added before `start()`.
   */
  add(child: ChildSpec | Controller, options: AddOptions = {}): void {
    if (this.#phase !== 'new') throw new InvalidManagerError('children are added before the Manager starts')
    const isController = typeof (child as Controller).childSpec === 'function'
    const spec = isController ? (child as Controller).childSpec() : (child as ChildSpec)
    const ids = new Set([...this.#alwaysOn, ...this.#leaderOnly.map((c) => c.spec)].map((s) => s.id))
    if (ids.has(spec.id) || ['http', 'webhook', 'informers', 'leader-election', 'leader'].includes(spec.id)) throw new InvalidManagerError(`a child with id ${JSON.stringify(spec.id)} exists (or is reserved)`)
    if (options.needLeaderElection ?? true) this.#leaderOnly.push({ spec, controller: isController ? (child as Controller) : undefined })
    else this.#alwaysOn.push(spec)
  }

  /**
   * Serves an admission webhook at `path` on the Manager's webhook server
   * (controller-runtime `mgr.GetWebhookServer().Register`). Needs the `webhook` option;
   * paths are registered before `start()`.
   */
  registerWebhook(path: string, handler: AdmissionHandler): void {
    if (!this.webhookServer) throw new InvalidManagerError('registerWebhook needs the Manager\'s `webhook` option (port and certDir)')
    if (this.#phase !== 'new') throw new InvalidManagerError('webhooks are registered before the Manager starts')
    this.webhookServer.register(path, handler)
  }

  /** A liveness check under `/healthz/<name>` (controller-runtime `AddHealthzCheck`). */
  addHealthzCheck(name: string, check: Checker): void {
    addCheck(this.#healthz, name, check)
  }

  /** A readiness check under `/readyz/<name>` (controller-runtime `AddReadyzCheck`). */
  addReadyzCheck(name: string, check: Checker): void {
    addCheck(this.#readyz, name, check)
  }

  /** Read-only status: identity, leadership, caches (for the observer page and probes). */
  status(): ManagerStatus {
    const election = this.#elector?.status()
    return {
      identity: this.identity,
      phase: this.#phase,
      leaderElection: election,
      isLeader: this.#leaderPid?.alive === true || (this.#le === undefined && this.#phase === 'running'),
      cachesSynced: this.#cacheProblem() === undefined,
    }
  }

  /** The running controllers' in-flight requests, as `controller: namespace/name`. */
  inFlight(): string[] {
    return this.#leaderOnly.flatMap((c) => (c.controller ? c.controller.inFlight.map((r) => `${c.controller?.name}: ${r.namespace ? `${r.namespace}/` : ''}${r.name}`) : []))
  }

  /**
   * Starts the tree: HTTP servers and informers (every replica), always-on children, then
   * leader election; leader-only children start once leading and synced. Resolves once the
   * always-on part runs; rejects (after stopping what started) if any of it fails.
   */
  async start(): Promise<void> {
    if (this.#phase !== 'new') throw new InvalidManagerError('a Manager starts once')
    this.#phase = 'running'
    if (!this.#readyz.has('informers')) this.#readyz.set('informers', () => {
      const problem = this.#cacheProblem()
      if (problem) throw new Error(problem)
    })
    const webhook = this.webhookServer
    if (webhook && !this.#readyz.has('webhook')) this.#readyz.set('webhook', () => webhook.checkServing())
    const children: ChildSpec[] = [this.#httpSpec(), ...(webhook ? [webhookSpec(webhook)] : []), this.informers.childSpec('informers'), ...this.#alwaysOn]
    if (this.#le) children.push(this.#electorSpec())
    try {
      this.#root = await Supervisor.start(children, { strategy: 'one_for_one', logger: this.#log, clock: this.#opts.clock })
    } catch (err) {
      this.#phase = 'failed'
      this.#done(err as Error)
      throw err
    }
    GenServer.onExit(this.#root, (reason) => {
      if (this.#stopping || this.#lost) return
      this.#fail(new InvalidManagerError(`the manager's supervisor exited (${String((reason as Error)?.message ?? reason)})`, { cause: reason }))
    })
    // Warm caches on every replica: what was asked of the factory before start runs now.
    this.#held = this.informers.informers
    for (const informer of this.#held) informer.hold()
    this.#log.info({ leaderElection: this.#le ? `${this.#le.namespace}/${this.#le.id}` : false, informers: this.#held.length }, 'manager started')
    if (!this.#le) void this.#startLeaderGroup(new AbortController().signal)
  }

  /**
   * Stops the tree in reverse order — leader-only children (sources, queue drain,
   * in-flight reconciles), the elector (releasing the Lease if configured), always-on
   * children, informers, HTTP — within `gracefulShutdownTimeoutMs`. Rejects with
   * `GracefulShutdownTimeoutError` naming what was still running when time ran out (the
   * Lease is then *not* released: a reconcile may still be running).
   */
  stop(): Promise<void> {
    this.#stopping ??= this.#stop()
    return this.#stopping
  }

  async #stop(): Promise<void> {
    const root = this.#root
    if (!root?.alive) {
      this.#phase = 'stopped'
      this.#done(undefined)
      return
    }
    this.#phase = 'stopping'
    this.#log.info({ gracefulShutdownTimeoutMs: this.#graceMs }, 'stopping: leader-only children first, then leader election, informers and HTTP')
    let timer: unknown
    const timedOut = new Promise<'timeout'>((resolve) => {
      timer = this.#clock.setTimeout(() => resolve('timeout'), this.#graceMs)
    })
    const outcome = await Promise.race([Supervisor.stop(root, 'shutdown').then(() => 'stopped' as const), timedOut])
    this.#clock.clearTimeout(timer)
    if (outcome === 'timeout') {
      const err = new GracefulShutdownTimeoutError(this.#graceMs, this.inFlight())
      this.#log.error({ inFlight: err.inFlight }, err.message)
      this.#phase = 'failed'
      this.#done(err)
      throw err
    }
    this.#phase = 'stopped'
    this.#log.info('manager stopped')
    this.#done(undefined)
  }

  /**
   * Runs the Manager as the process: starts it, handles SIGTERM/SIGINT (graceful stop,
   * exit 0; a second signal exits 1 at once), exits 1 when the lease is lost, the tree
   * fails, or the graceful shutdown times out. Never returns.
   */
  async run(): Promise<never> {
    this.#exitOnLost = true
    let signals = 0
    const onSignal = (signal: NodeJS.Signals) => {
      signals++
      if (signals > 1) {
        this.#log.error({ signal }, 'second signal received; exiting at once')
        process.exit(1)
      }
      this.#log.info({ signal }, 'signal received; shutting down gracefully')
      this.stop().then(
        () => process.exit(0),
        () => process.exit(1),
      )
    }
    process.on('SIGTERM', onSignal)
    process.on('SIGINT', onSignal)
    try {
      await this.start()
    } catch (err) {
      this.#log.error({ err }, 'manager failed to start')
      process.exit(1)
    }
    const err = await this.done
    if (err && !this.#stopping) {
      this.#log.error({ err }, 'manager failed')
      process.exit(1)
    }
    // A signal's stop exits from its handler.
    return new Promise<never>(() => {})
  }

  #fail(err: Error): void {
    if (this.#phase === 'failed' || this.#phase === 'stopped') return
    this.#log.error({ err }, 'manager failed; stopping')
    this.#phase = 'failed'
    const root = this.#root
    const finish = () => this.#done(err)
    if (root?.alive) Supervisor.stop(root, 'shutdown').then(finish, finish)
    else finish()
  }

  /** Why the caches are not ready, or undefined when every held informer runs and synced. */
  #cacheProblem(): string | undefined {
    if (this.#phase === 'new') return 'not started'
    for (const informer of this.#held) {
      if (!informer.running) return `informer ${informer.id} is not running`
      if (!informer.store.hasSynced) return `informer ${informer.id} has not synced`
    }
    return undefined
  }

  /** Waits for the held caches, then starts the leader-only children under the root. */
  async #startLeaderGroup(leadership: AbortSignal): Promise<void> {
    const aborted = new Promise<void>((resolve) => {
      if (leadership.aborted) resolve()
      else leadership.addEventListener('abort', () => resolve(), { once: true })
    })
    const limit = this.#opts.cacheSyncTimeoutMs ?? DEFAULT_CACHE_SYNC_TIMEOUT_MS
    let timer: unknown
    const timedOut = new Promise<'timeout'>((resolve) => {
      timer = this.#clock.setTimeout(() => resolve('timeout'), limit)
    })
    const outcome = await Promise.race([Promise.all(this.#held.map((i) => i.store.synced)), aborted, timedOut])
    this.#clock.clearTimeout(timer)
    const root = this.#root
    if (leadership.aborted || this.#stopping || !root?.alive) return
    if (outcome === 'timeout') {
      this.#fail(new CacheSyncTimeoutError(limit, this.#cacheProblem()))
      return
    }
    this.#log.info({ children: this.#leaderOnly.map((c) => c.spec.id) }, 'caches synced; starting leader-only children')
    const spec = supervisor(
      this.#leaderOnly.map((c) => c.spec),
      { id: 'leader', restart: 'temporary', shutdown: 'infinity', strategy: 'one_for_one', maxRestarts: 3, maxSeconds: 5 },
    )
    try {
      const pid = await Supervisor.startChild(root, spec)
      if (!pid) return
      this.#leaderPid = pid
      GenServer.onExit(pid, (reason) => {
        if (this.#stopping || this.#lost) return
        this.#fail(new InvalidManagerError(`the leader-only children stopped (${String((reason as Error)?.message ?? reason)})`, { cause: reason }))
      })
    } catch (err) {
      if (!this.#stopping) this.#fail(new InvalidManagerError('leader-only children failed to start', { cause: err }))
    }
  }

  /** The lease is gone: leader-only children stop now, before another replica can take over. */
  #onLost(): void {
    this.#lost = true
    const err = new LeaderElectionLostError('leader election lost')
    if (this.#exitOnLost) {
      // controller-runtime: no graceful shutdown when the lease was lost; the process exits.
      this.#log.fatal({ inFlight: this.inFlight() }, 'leader election lost; exiting so that no leader-only work goes on without the lease')
      process.exit(1)
    }
    this.#log.error({ inFlight: this.inFlight() }, 'leader election lost; stopping leader-only children at once')
    const leader = this.#leaderPid
    if (leader?.alive) GenServer.exit(leader, 'kill')
    this.#fail(err)
  }

  #electorSpec(): ChildSpec {
    const le = this.#le as ResolvedLeaderElection
    return {
      id: 'leader-election',
      // Release (one request, bounded by the renew deadline) happens in terminate.
      shutdown: le.renewDeadlineMs + 5_000,
      start: (env) =>
        GenServer.start(
          ElectorProcess,
          {
            make: () => {
              const lock =
                le.lock ?? new LeaseLock(this.#opts.kubeConfig as KubeConfig, { namespace: le.namespace, name: le.id, identity: this.identity })
              this.#elector = new LeaderElector({
                lock,
                name: le.id,
                leaseDurationMs: le.leaseDurationMs,
                renewDeadlineMs: le.renewDeadlineMs,
                retryPeriodMs: le.retryPeriodMs,
                releaseOnCancel: le.releaseOnCancel,
                metrics: this.#leaderMetrics,
                clock: this.#opts.clock,
                logger: this.#log,
                callbacks: {
                  onStartedLeading: (signal) => void this.#startLeaderGroup(signal),
                  onStoppedLeading: (reason) => {
                    if (reason === 'lost') this.#onLost()
                  },
                },
              })
              return this.#elector
            },
          },
          env,
        ),
    }
  }

  #httpSpec(): ChildSpec {
    const health = parseBindAddress(this.#opts.healthProbeBindAddress)
    const metrics = parseBindAddress(this.#opts.metricsBindAddress)
    const registry = this.registry
    const servers: { bind: NonNullable<typeof health>; routes: Parameters<typeof listen>[1]; what: string }[] = []
    if (health) servers.push({ bind: health, routes: { healthz: this.#healthz, readyz: this.#readyz }, what: 'health probes' })
    if (metrics && registry) {
      servers.push({ bind: metrics, routes: { metrics: async () => ({ contentType: registry.contentType, body: await registry.metrics() }) }, what: 'metrics' })
    }
    return { id: 'http', start: (env) => GenServer.start(HttpProcess, { servers, log: this.#log }, env) }
  }
}

function addCheck(checks: Map<string, Checker>, name: string, check: Checker): void {
  if (typeof name !== 'string' || !/^[A-Za-z0-9._-]+$/.test(name)) throw new InvalidManagerError(`a check name must be a path segment of letters, digits, '.', '_' or '-', got ${JSON.stringify(name)}`)
  if (typeof check !== 'function') throw new InvalidManagerError(`check ${name} must be a function`)
  if (checks.has(name)) throw new InvalidManagerError(`a check named ${JSON.stringify(name)} exists`)
  checks.set(name, check)
}

function inClusterNamespace(): string | undefined {
  try {
    return readFileSync(IN_CLUSTER_NAMESPACE_FILE, 'utf8').trim() || undefined
  } catch {
    return undefined
  }
}

/** client-go's `leader_election_master_status{name}` gauge: 1 while leading. */
function leaderMetrics(prom: ManagerPromClient, registry: ManagerPromRegistry): LeaderMetrics {
  const name = 'leader_election_master_status'
  type G = { set(labels: Record<string, string>, v: number): void }
  const gauge = (registry.getSingleMetric(name) as G | undefined) ??
    (new prom.Gauge({
      name,
      help: 'Gauge of if the reporting system is master of the relevant lease, 0 indicates backup, 1 indicates master. \'name\' is the string used to identify the lease. Please make sure to group by name.',
      labelNames: ['name'],
      registers: [registry],
    }) as G)
  return { on: (n) => gauge.set({ name: n }, 1), off: (n) => gauge.set({ name: n }, 0) }
}

interface ElectorArg {
  make: () => LeaderElector
}
interface ElectorState {
  abort: AbortController
  running: Promise<unknown>
}

/** Runs one election; its terminate stops renewing and (if configured) releases the Lease. */
const ElectorProcess: Behaviour<ElectorArg, ElectorState> = {
  init({ make }, ctx) {
    const abort = new AbortController()
    const elector = make()
    const running = elector.run(abort.signal).catch((err: unknown) => ctx.log.error({ err }, 'leader election failed'))
    return ok({ abort, running })
  },
  handleInfo: (_msg, state) => noreply(state),
  async terminate(_reason, state) {
    state.abort.abort()
    await state.running
  },
}

/** The webhook server as a child: listening once init returns, stopped in terminate. */
function webhookSpec(server: WebhookServer): ChildSpec {
  const behaviour: Behaviour<WebhookServer, WebhookServer> = {
    async init(s) {
      await s.start()
      return ok(s)
    },
    async terminate(_reason, s) {
      await s.stop()
    },
  }
  return { id: 'webhook', start: (env) => GenServer.start(behaviour, server, env) }
}

interface HttpArg {
  servers: { bind: { host: string | undefined; port: number }; routes: Parameters<typeof listen>[1]; what: string }[]
  log: Logger
}

/** The HTTP servers: listening once init returns, closed in terminate. */
const HttpProcess: Behaviour<HttpArg, Listening[]> = {
  async init({ servers, log }) {
    const up: Listening[] = []
    try {
      for (const s of servers) {
        const l = await listen(s.bind, s.routes)
        log.info({ address: l.address, what: s.what }, `serving ${s.what}`)
        up.push(l)
      }
    } catch (err) {
      for (const l of up) await l.close()
      throw err
    }
    return ok(up)
  },
  async terminate(_reason, up) {
    for (const l of up) await l.close()
  },
}


