/**
 * The observer: a live web page of a running kubevisor system — the process tree, the
 * watchers and their engine phase, the queues and controllers, leadership — after
 * Erlang's `:observer`. Off unless started; everything it shows comes from the
 * introspection API of the layers below, and nothing below imports it.
 *
 * Start with {@link startObserver}; keep log lines per process with {@link ObserverLogs}.
 */
export { type ObserverChildOptions, observerChildSpec } from './child.ts'
export { type LogLine, ObserverLogs, type ObserverLogsOptions } from './logs.ts'
export { isSecretKey, viewable } from './redact.ts'
export { type LeadershipSource, type LeadershipStatus, type ObserverRoot, type ObserverSample, type PoolRow, type ProcessRow, Sampler, toLeadership, type WatcherRow } from './sample.ts'
export { type Observer, ObserverError, type ObserverOptions, startObserver } from './server.ts'
