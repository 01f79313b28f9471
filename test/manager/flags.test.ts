// The kubebuilder flags (util.parseArgs) and Go-style bind addresses and durations.
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { InvalidFlagError, parseDuration, parseManagerFlags } from '../../lib/manager/flags.ts'
import { InvalidBindAddressError, parseBindAddress } from '../../lib/manager/server.ts'

describe('parseManagerFlags (a kubebuilder project’s flags)', () => {
  test('defaults: no leader election, metrics on :8080, probes on :8081, controller-runtime’s lease timings and 30 s shutdown', () => {
    const f = parseManagerFlags([])
    assert.equal(f.leaderElect, false)
    assert.equal(f.metricsBindAddress, ':8080')
    assert.equal(f.healthProbeBindAddress, ':8081')
    assert.deepEqual([f.leaseDurationMs, f.renewDeadlineMs, f.retryPeriodMs, f.gracefulShutdownTimeoutMs], [15_000, 10_000, 2_000, 30_000])
    assert.equal(f.releaseOnCancel, false)
  })
  test('every flag, in both --flag=value and --flag value forms', () => {
    const f = parseManagerFlags([
      '--kubeconfig',
      '/tmp/kc',
      '--leader-elect',
      '--leader-election-id=op',
      '--leader-election-namespace=ops',
      '--leader-elect-lease-duration=2s',
      '--leader-elect-renew-deadline=1500ms',
      '--leader-elect-retry-period=0.3s',
      '--leader-elect-release-on-cancel',
      '--metrics-bind-address=0',
      '--health-probe-bind-address=127.0.0.1:0',
      '--graceful-shutdown-timeout=1m30s',
    ])
    assert.deepEqual(
      [f.kubeconfig, f.leaderElect, f.leaderElectionId, f.leaderElectionNamespace, f.leaseDurationMs, f.renewDeadlineMs, f.retryPeriodMs, f.releaseOnCancel, f.metricsBindAddress, f.healthProbeBindAddress, f.gracefulShutdownTimeoutMs],
      ['/tmp/kc', true, 'op', 'ops', 2_000, 1_500, 300, true, '0', '127.0.0.1:0', 90_000],
    )
  })
  test('an unknown flag or a bad duration is an InvalidFlagError, not a silent default', () => {
    assert.throws(() => parseManagerFlags(['--leader-elec']), InvalidFlagError)
    assert.throws(() => parseManagerFlags(['--leader-elect-lease-duration=15']), InvalidFlagError)
    assert.throws(() => parseDuration('1x'), InvalidFlagError)
    assert.throws(() => parseDuration('5s junk'), InvalidFlagError)
  })
  test('extra flags of the operator are parsed alongside', () => {
    const f = parseManagerFlags(['--namespace=web'], { namespace: { type: 'string' } })
    assert.equal(f.values.namespace, 'web')
  })
})

describe('parseBindAddress (Go host:port, "0" disables)', () => {
  test('forms', () => {
    assert.equal(parseBindAddress('0'), undefined)
    assert.equal(parseBindAddress(''), undefined)
    assert.equal(parseBindAddress(undefined), undefined)
    assert.deepEqual(parseBindAddress(':8080'), { host: undefined, port: 8080 })
    assert.deepEqual(parseBindAddress('127.0.0.1:0'), { host: '127.0.0.1', port: 0 })
    assert.deepEqual(parseBindAddress('[::1]:9443'), { host: '::1', port: 9443 })
  })
  test('bad addresses are typed errors', () => {
    for (const bad of ['8080', 'localhost', ':99999', 'a:b:c']) assert.throws(() => parseBindAddress(bad), InvalidBindAddressError, bad)
  })
})
