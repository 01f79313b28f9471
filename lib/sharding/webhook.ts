/**
 * The sharding admission webhook (timebertt/kubernetes-controller-sharding `pkg/webhook/sharder`):
 * a mutating webhook served by every replica's Manager that labels a ring's objects as
 * they are created, so they reach their shard's cache with their first event instead of
 * one sharder write later.
 *
 * - On CREATE, and on UPDATE of an object that has no shard label (timebertt's does the
 *   same: an object whose label was removed, e.g. a drain acknowledgement, is assigned
 *   again on that write), it answers a JSON Patch adding
 *   `shard.sharding.kubevisor.dev/<ring>=<shard>` (and removing a stray drain label, as the
 *   sharder's assignment does). An object that has the label is left alone.
 * - The shard comes from the same {@link Ring} and {@link ringKeyOf} as the sharder's, over
 *   the `ready` shard Leases read from a cache (an informer on the Manager's factory:
 *   no request lists Leases). Objects of a `controlled` kind follow their controller
 *   owner of the ring's kind ({@link controllerRefOf}); without one they are left unlabelled,
 *   as the sharder leaves them.
 * - No shard ready, a `generateName` create (the name is generated after admission, so the
 *   key is unknown), a kind the ring does not shard, another namespace than the ring's:
 *   allowed without a label. The sharder assigns what the webhook did not.
 *
 * The webhook is an optimisation, not a requirement: its recommended `failurePolicy` is
 * `Ignore` (the default of {@link shardingWebhookConfiguration}). When no replica answers,
 * writes go through unlabelled and the sharder labels them on their first event, or at its
 * periodic resync if it missed that.
 */
import { defaultLogger, type Logger } from '../log.ts'
import type { LabelSelectorSpec } from '../selector/labels.ts'
import type { AdmissionHandler, AdmissionRequest, AdmissionResult, JsonPatchOperation } from '../manager/webhook.ts'
import { drainLabel, InvalidShardingError, type RingSpec, SHARDING_DOMAIN, type ShardedTarget, shardLabel, validateRing } from './labels.ts'
import { controllerRefOf, groupOf, Ring, type RingObject, ringKeyOf } from './ring.ts'
import { DEFAULT_ORPHAN_AFTER_MS, type ShardLeaseObject, shardState } from './shard-lease.ts'

/** The path a ring's webhook is served at: `/webhooks/sharding/<ring>`. */
export function shardingWebhookPath(ring: string): string {
  return `/webhooks/sharding/${ring}`
}

/** JSON Pointer escaping of one reference token (RFC 6901: `~` → `~0`, `/` → `~1`). */
function pointerToken(token: string): string {
  return token.replace(/~/g, '~0').replace(/\//g, '~1')
}

function sameKind(target: ShardedTarget, group: string, kind: string): boolean {
  return target.kind === kind && groupOf(target.apiVersion as string) === group
}

/**
 * The webhook's decision for one request, given the ring of live shards: pure (no I/O,
 * no clock), so it is tested on its own.
 */
export function shardingAdmission(request: AdmissionRequest, spec: RingSpec, ring: Ring): AdmissionResult {
  if (request.operation !== 'CREATE' && request.operation !== 'UPDATE') return { allowed: true }
  // Writes to a subresource (status, scale) do not carry the object's labels to change.
  if (request.subResource) return { allowed: true }
  const object = request.object as RingObject | null | undefined
  if (!object || typeof object !== 'object') return { allowed: true }
  const meta = (object.metadata ?? {}) as NonNullable<RingObject['metadata']> & { labels?: Record<string, string> }
  const label = shardLabel(spec.name)
  if (meta.labels?.[label]) return { allowed: true }
  const { group, kind } = request.kind
  const namespace = (meta.namespace as string | undefined) || request.namespace || undefined
  const placed: RingObject = { ...object, metadata: { ...meta, namespace } }
  const owner = { apiVersion: spec.resource.apiVersion as string, kind: spec.resource.kind as string }
  let key: string | undefined
  let target: ShardedTarget | undefined
  if (sameKind(spec.resource, group, kind)) {
    target = spec.resource
    if (meta.name) key = ringKeyOf(placed, undefined, owner)
  } else {
    target = spec.controlled?.find((t) => sameKind(t, group, kind))
    if (target && controllerRefOf(placed, owner)) key = ringKeyOf(placed, owner)
  }
  if (!target || key === undefined) return { allowed: true }
  if (target.namespace && target.namespace !== namespace) return { allowed: true }
  const shard = ring.shardFor(key)
  if (!shard) return { allowed: true }
  const patch: JsonPatchOperation[] = meta.labels
    ? [{ op: 'add', path: `/metadata/labels/${pointerToken(label)}`, value: shard }]
    : [{ op: 'add', path: '/metadata/labels', value: { [label]: shard } }]
  if (meta.labels?.[drainLabel(spec.name)] !== undefined) patch.push({ op: 'remove', path: `/metadata/labels/${pointerToken(drainLabel(spec.name))}` })
  return { allowed: true, patch }
}

/** Options of {@link ShardingWebhook}. */
export interface ShardingWebhookOptions {
  /** The ring whose objects it labels. */
  ring: RingSpec
  /**
   * The ring's shard Leases now, from a cache: a store of an informer on
   * `coordination.k8s.io/v1` Leases in `ring.leaseNamespace` selected by
   * `sharding.kubevisor.dev/ring=<ring>` (the `Sharding` helper passes its Manager's).
   */
  leases: () => readonly ShardLeaseObject[]
  /** Virtual nodes per shard (default the ring's; must equal the sharder's). */
  virtualNodes?: number
  /** As the sharder's (a Lease's state depends on it only for `orphaned`). */
  orphanAfterMs?: number
  /** Wall-clock ms for Lease times; default `Date.now`. */
  wallClock?: () => number
  /** Default kubevisor's default logger. */
  logger?: Logger
}

/**
 * The sharding webhook of one ring: {@link handle} is the {@link AdmissionHandler} to
 * register at {@link path} on a Manager's webhook server (`Sharding` does it with its
 * `webhook` option).
 *
 * @example
 * ```ts
 * const webhook = new ShardingWebhook({ ring, leases: () => leaseStore.list() })
 * mgr.registerWebhook(webhook.path, webhook.handle)
 * ```
 */
export class ShardingWebhook {
  /** The ring, as validated. */
  readonly ring: RingSpec
  /** Where to serve it: {@link shardingWebhookPath}. */
  readonly path: string
  /** The handler (bound: pass it as is). */
  readonly handle: AdmissionHandler
  readonly #opts: ShardingWebhookOptions
  readonly #log: Logger
  #current: Ring = new Ring([])

  constructor(options: ShardingWebhookOptions) {
    this.ring = validateRing(options.ring)
    if (typeof options.leases !== 'function') throw new InvalidShardingError('a ShardingWebhook needs `leases`: a function returning the cached shard Leases')
    this.#opts = options
    this.path = shardingWebhookPath(this.ring.name)
    this.#log = (options.logger ?? defaultLogger()).child({ webhook: this.path })
    this.handle = (request) => {
      const result = shardingAdmission(request, this.ring, this.currentRing())
      if (result.patch) this.#log.debug({ object: `${request.namespace ?? ''}/${request.name ?? ''}`, operation: request.operation, patch: result.patch }, 'assigned on admission')
      return result
    }
  }

  /** The ring over the shards whose Leases are `ready` now (rebuilt only when that set changes). */
  currentRing(): Ring {
    const now = (this.#opts.wallClock ?? Date.now)()
    const ready: string[] = []
    for (const lease of this.#opts.leases()) {
      const name = lease.metadata?.name
      if (name && shardState(lease, now, this.#opts.orphanAfterMs ?? DEFAULT_ORPHAN_AFTER_MS) === 'ready') ready.push(name)
    }
    ready.sort()
    if (ready.join(',') !== this.#current.shards.join(',')) this.#current = new Ring(ready, { virtualNodes: this.#opts.virtualNodes })
    return this.#current
  }
}

/**
 * How the API server reaches the webhook (`WebhookClientConfig` without `caBundle`, which is
 * its own option): `{ service }` in the cluster, or `{ url }`.
 */
export type WebhookClientConfig = {
  /** A Service in the cluster. */
  service: WebhookServiceReference
} | {
  /** `https://host:port/path`: a webhook outside the cluster, or in tests. */
  url: string
}

/** A webhook's Service (`admissionregistration.k8s.io/v1` `ServiceReference`). */
export interface WebhookServiceReference {
  /** The Service's namespace. */
  namespace: string
  /** The Service's name. */
  name: string
  /** The Service port. Default 443. */
  port?: number
  /** The path. Default {@link shardingWebhookPath}. */
  path?: string
}

/** Options of {@link shardingWebhookConfiguration}. */
export interface ShardingWebhookConfigurationOptions {
  /** The ring whose kinds the webhook labels. */
  ring: RingSpec
  /** The object's name. Default `sharding-<ring>`. */
  name?: string
  /**
   * How the API server reaches the webhook: a Service in the cluster (path default
   * {@link shardingWebhookPath}, port 443), or a `url` (`https://host:port/path`, for a
   * webhook outside the cluster or tests).
   */
  clientConfig: WebhookClientConfig
  /** The CA that signed the serving certificate (PEM). Leave it out when cert-manager's CA injector fills it. */
  caBundle?: string
  /** `Ignore` (default: the sharder catches what the webhook misses) or `Fail` (writes fail while no replica answers). */
  failurePolicy?: 'Ignore' | 'Fail'
  /** Seconds the API server waits for the webhook. Default 10 (kube's default, its maximum is 30). */
  timeoutSeconds?: number
  /**
   * Which namespaces' writes call the webhook. Default: the ring's namespace if its kinds
   * name one, else every namespace but `kube-system` (as timebertt's default: the cluster's
   * own writes never wait on an operator's webhook).
   */
  namespaceSelector?: LabelSelectorSpec
  /** The resource (plural) names of the ring's kinds, by kind; default client-go's guess (`UnsafeGuessKindToResource`: `Site` → `sites`, `Policy` → `policies`). */
  resources?: Record<string, string>
}

/** client-go `meta.UnsafeGuessKindToResource`: lowercase; `s` → `ses`, `y` → `ies`, else `s`. */
function guessResource(kind: string): string {
  const singular = kind.toLowerCase()
  if (singular.endsWith('s')) return `${singular}es`
  if (singular.endsWith('y')) return `${singular.slice(0, -1)}ies`
  return `${singular}s`
}

/**
 * The `admissionregistration.k8s.io/v1` `MutatingWebhookConfiguration` for a ring's webhook:
 * one webhook for the ring's kind and its controlled kinds, on CREATE and UPDATE, for
 * objects that do not carry the ring's shard label (`objectSelector`), `sideEffects: None`,
 * `admissionReviewVersions: [v1]`, `failurePolicy: Ignore` unless asked otherwise.
 * deploy/sharding-webhook.yaml is its output for examples/sharded-operator.ts.
 */
export function shardingWebhookConfiguration(options: ShardingWebhookConfigurationOptions): Record<string, unknown> {
  const ring = validateRing(options.ring)
  const timeoutSeconds = options.timeoutSeconds ?? 10
  if (!Number.isInteger(timeoutSeconds) || timeoutSeconds < 1 || timeoutSeconds > 30) throw new InvalidShardingError(`timeoutSeconds must be an integer 1..30 (kube-apiserver's range), got ${String(options.timeoutSeconds)}`)
  const failurePolicy = options.failurePolicy ?? 'Ignore'
  if (failurePolicy !== 'Ignore' && failurePolicy !== 'Fail') throw new InvalidShardingError(`failurePolicy must be Ignore or Fail, got ${JSON.stringify(failurePolicy)}`)
  const targets = [ring.resource, ...(ring.controlled ?? [])]
  const namespaces = [...new Set(targets.map((t) => t.namespace))]
  const rules = targets.map((t) => {
    const apiVersion = t.apiVersion as string
    const slash = apiVersion.indexOf('/')
    return {
      apiGroups: [groupOf(apiVersion)],
      apiVersions: [slash < 0 ? apiVersion : apiVersion.slice(slash + 1)],
      operations: ['CREATE', 'UPDATE'],
      resources: [options.resources?.[t.kind as string] ?? guessResource(t.kind as string)],
      scope: t.namespaced === false ? 'Cluster' : t.namespace || t.namespaced ? 'Namespaced' : '*',
    }
  })
  let clientConfig: Record<string, unknown>
  if ('url' in options.clientConfig) {
    if (!/^https:\/\//.test(options.clientConfig.url)) throw new InvalidShardingError(`a webhook url must be https://, got ${JSON.stringify(options.clientConfig.url)}`)
    clientConfig = { url: options.clientConfig.url }
  } else {
    const s = options.clientConfig.service
    clientConfig = { service: { namespace: s.namespace, name: s.name, path: s.path ?? shardingWebhookPath(ring.name), port: s.port ?? 443 } }
  }
  if (options.caBundle) clientConfig.caBundle = Buffer.from(options.caBundle).toString('base64')
  const webhook: Record<string, unknown> = {
    name: `${ring.name}.${SHARDING_DOMAIN}`,
    admissionReviewVersions: ['v1'],
    clientConfig,
    failurePolicy,
    matchPolicy: 'Equivalent',
    objectSelector: { matchExpressions: [{ key: shardLabel(ring.name), operator: 'DoesNotExist' }] },
    reinvocationPolicy: 'Never',
    rules,
    sideEffects: 'None',
    timeoutSeconds,
  }
  webhook.namespaceSelector =
    options.namespaceSelector ??
    (namespaces.length === 1 && namespaces[0]
      ? { matchExpressions: [{ key: 'kubernetes.io/metadata.name', operator: 'In', values: [namespaces[0]] }] }
      : { matchExpressions: [{ key: 'kubernetes.io/metadata.name', operator: 'NotIn', values: ['kube-system'] }] })
  return {
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'MutatingWebhookConfiguration',
    metadata: { name: options.name ?? `sharding-${ring.name}` },
    webhooks: [webhook],
  }
}
