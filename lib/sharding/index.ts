/**
 * Scale-out: shard one controller's objects across replicas on Kubernetes' own primitives
 * (the design of timebertt/kubernetes-controller-sharding). Start with {@link Sharding}.
 */
export { defaultShardName, drainLabel, InvalidShardingError, type RingSpec, SHARDING_DOMAIN, type ShardedTarget, shardLabel, validateRing, validateShardName } from './labels.ts'
export { controllerRefOf, DEFAULT_VIRTUAL_NODES, groupOf, hash32, InvalidRingError, objectKey, Ring, ringKeyOf } from './ring.ts'
export { DEFAULT_SHARDER_CONCURRENCY, DEFAULT_SHARDER_SYNC_PERIOD_MS, type RingStatus, Sharder, type SharderOptions } from './sharder.ts'
export { Sharding, type ShardingOptions } from './shard.ts'
export {
  DEFAULT_ORPHAN_AFTER_MS,
  markShardDead,
  RING_LABEL,
  ShardLease,
  ShardLeaseLock,
  type ShardLeaseOptions,
  type ShardLeaseTiming,
  type ShardState,
  shardState,
} from './shard-lease.ts'
export {
  ShardingWebhook,
  type ShardingWebhookConfigurationOptions,
  type ShardingWebhookOptions,
  shardingAdmission,
  shardingWebhookConfiguration,
  shardingWebhookPath,
  type WebhookClientConfig,
  type WebhookServiceReference,
} from './webhook.ts'
