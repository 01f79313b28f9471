/**
 * `kubevisor/testing`: what users need to test their watchers and controllers without a
 * cluster — a fake clock and an embedded Kubernetes API server.
 */
export { FakeClock, settle } from './fake-clock.ts'
