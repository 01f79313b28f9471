/**
 * kubevisor: supervised, actor-style Kubernetes watchers for TypeScript.
 *
 * Start with `GenServer` (processes) and `Supervisor` (trees of them). Testing helpers
 * (the embedded API server, `FakeClock`) live in `kubevisor/testing`.
 */
export { KubevisorError } from './errors.ts'
export { createLogger, type Logger } from './log.ts'
export { Backoff, type BackoffPolicy, CLIENT_GO_BACKOFF, RESTART_BACKOFF } from './time/backoff.ts'
export { type Clock, systemClock } from './time/clock.ts'
