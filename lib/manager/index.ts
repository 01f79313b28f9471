/**
 * The operator process: leader election on Leases, health/ready/metrics HTTP, signals and
 * graceful shutdown, leader-only vs always-on children. Start with {@link Manager}.
 */
export { type Checker, ping, serveHealth } from './healthz.ts'
export { InvalidFlagError, type ManagerFlags, parseDuration, parseManagerFlags } from './flags.ts'
export {
  defaultIdentity,
  InvalidLeaderElectionError,
  JITTER_FACTOR,
  type LeaderCallbacks,
  type LeaderElectionConfig,
  LeaderElectionLostError,
  type LeaderElectionStatus,
  LeaderElector,
  type LeaderMetrics,
  LEADER_ELECTION_DEFAULTS,
  type StoppedLeadingReason,
  validateLeaderElection,
} from './leaderelection.ts'
export {
  type AddOptions,
  CacheSyncTimeoutError,
  DEFAULT_CACHE_SYNC_TIMEOUT_MS,
  DEFAULT_GRACEFUL_SHUTDOWN_TIMEOUT_MS,
  GracefulShutdownTimeoutError,
  InvalidManagerError,
  Manager,
  type ManagerLeaderElectionOptions,
  type ManagerOptions,
  type ManagerPromClient,
  type ManagerPromRegistry,
  type ManagerStatus,
} from './manager.ts'
export { type LeaderElectionRecord, LeaseLock, type LeaseLockOptions, type ObservedRecord, type ResourceLock } from './resourcelock.ts'
export { InvalidBindAddressError, parseBindAddress } from './server.ts'
export {
  type AdmissionContext,
  type AdmissionHandler,
  type AdmissionRequest,
  type AdmissionResult,
  type AdmissionStatus,
  type AdmissionUserInfo,
  DEFAULT_CERT_POLL_INTERVAL_MS,
  DEFAULT_WEBHOOK_CERT_DIR,
  DEFAULT_WEBHOOK_PORT,
  type GroupVersionKind,
  type GroupVersionResource,
  InvalidWebhookError,
  type JsonPatchOperation,
  MAX_ADMISSION_REVIEW_BYTES,
  parseReview,
  WebhookServer,
  type WebhookServerOptions,
} from './webhook.ts'
