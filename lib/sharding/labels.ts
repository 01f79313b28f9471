/**
 * The ring's vocabulary: what a ring is (its name, where its shard Leases live, the kind it
 * shards and the kinds that follow their owner), the labels on sharded objects, and the
 * checks on names (timebertt/kubernetes-controller-sharding `ControllerRing`).
 */
import { hostname } from 'node:os'
import { randomBytes } from 'node:crypto'
import { KubevisorError } from '../errors.ts'
import type { InformerTarget } from '../informer/informer.ts'

/** The domain of kubevisor's sharding labels. */
export const SHARDING_DOMAIN = 'sharding.kubevisor.dev'

/** A ring, a shard name or a target that cannot be used as asked (`ERR_INVALID_SHARDING`). */
export class InvalidShardingError extends KubevisorError {
  constructor(message: string) {
    super('ERR_INVALID_SHARDING', message)
  }
}

/** A kind the ring shards: `apiVersion`, `kind` and optionally one namespace (as an informer target). */
export type ShardedTarget = Pick<InformerTarget, 'apiVersion' | 'kind' | 'namespace' | 'namespaced'>

/** A ring (timebertt `ControllerRing`): the shards of one controller and what they share out. */
export interface RingSpec {
  /** The ring's name: a DNS label (lowercase letters, digits, '-'; at most 63 characters). */
  name: string
  /** Where the shard Leases live. */
  leaseNamespace: string
  /** The kind the controller reconciles: each object is assigned by its own key. */
  resource: ShardedTarget
  /** Kinds whose objects follow their controller owner of `resource` (an operator's children). */
  controlled?: ShardedTarget[]
}

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/

/** Checks a ring spec; returns it. */
export function validateRing(ring: RingSpec): RingSpec {
  if (!ring || typeof ring.name !== 'string' || ring.name.length > 63 || !DNS_LABEL.test(ring.name)) throw new InvalidShardingError(`a ring name must be a DNS label of at most 63 characters, got ${JSON.stringify(ring?.name)}`)
  if (!ring.leaseNamespace) throw new InvalidShardingError('a ring needs leaseNamespace (where the shard Leases live)')
  for (const t of [ring.resource, ...(ring.controlled ?? [])]) {
    if (!t?.apiVersion || !t.kind) throw new InvalidShardingError(`ring ${ring.name}: every sharded target needs apiVersion and kind`)
  }
  return ring
}

/** The label naming an object's shard: `shard.sharding.kubevisor.dev/<ring>=<shard>`. */
export function shardLabel(ring: string): string {
  return `shard.${SHARDING_DOMAIN}/${ring}`
}

/** The label asking the current shard to let an object go: `drain.sharding.kubevisor.dev/<ring>=true`. */
export function drainLabel(ring: string): string {
  return `drain.${SHARDING_DOMAIN}/${ring}`
}

/**
 * Checks a shard name: it is a Lease name and a label value, so a DNS label of at most 63
 * characters (lowercase letters, digits, '-').
 */
export function validateShardName(name: string): string {
  if (typeof name !== 'string' || name.length > 63 || !DNS_LABEL.test(name)) throw new InvalidShardingError(`a shard name must be a DNS label of at most 63 characters (it is a Lease name and a label value), got ${JSON.stringify(name)}`)
  return name
}

/**
 * A shard name for this process: the host name (a pod's name in a cluster) cut to fit,
 * and 10 random hex digits, so two processes on one host differ.
 */
export function defaultShardName(): string {
  const host = hostname().toLowerCase().replace(/[^a-z0-9-]/g, '-').replace(/^-+|-+$/g, '').slice(0, 50) || 'shard'
  return `${host}-${randomBytes(5).toString('hex')}`
}
