/**
 * The command-line flags of a kubebuilder-scaffolded operator, parsed with Node's
 * `util.parseArgs`: `--kubeconfig`, `--leader-elect`, `--metrics-bind-address`,
 * `--health-probe-bind-address`, plus the lease timings under kube-controller-manager's
 * names (`--leader-elect-lease-duration=15s`, `--leader-elect-renew-deadline=10s`,
 * `--leader-elect-retry-period=2s`, `--leader-elect-release-on-cancel`) and
 * `--graceful-shutdown-timeout=30s`, durations in Go's syntax, and the webhook server's
 * `--webhook-port` (9443) and `--webhook-cert-dir` (controller-runtime's `CertDir`).
 */
import { parseArgs } from 'node:util'
import { KubevisorError } from '../errors.ts'
import { LEADER_ELECTION_DEFAULTS } from './leaderelection.ts'
import { DEFAULT_GRACEFUL_SHUTDOWN_TIMEOUT_MS } from './manager.ts'
import { DEFAULT_WEBHOOK_CERT_DIR, DEFAULT_WEBHOOK_PORT } from './webhook.ts'

/** A flag that cannot be parsed (`ERR_INVALID_FLAG`). */
export class InvalidFlagError extends KubevisorError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_INVALID_FLAG', message, options)
  }
}

/** What {@link parseManagerFlags} returns. */
export interface ManagerFlags {
  /** `--kubeconfig`: a kubeconfig file; absent means in-cluster or `$KUBECONFIG`/`~/.kube/config`. */
  kubeconfig: string | undefined
  /** `--leader-elect` (default false, as kubebuilder). */
  leaderElect: boolean
  /** `--leader-election-id`. */
  leaderElectionId: string | undefined
  /** `--leader-election-namespace`. */
  leaderElectionNamespace: string | undefined
  /** `--leader-elect-lease-duration` in ms (default `15s`): how long other candidates wait after the last renewal before taking over. */
  leaseDurationMs: number
  /** `--leader-elect-renew-deadline` in ms (default `10s`): how long the leader keeps retrying a renewal before it gives up leading. */
  renewDeadlineMs: number
  /** `--leader-elect-retry-period` in ms (default `2s`): the wait between two tries to acquire or renew. */
  retryPeriodMs: number
  /** `--leader-elect-release-on-cancel` (default false): release the lease on a clean shutdown so another replica leads at once. */
  releaseOnCancel: boolean
  /** `--metrics-bind-address` (default `:8080`; `0` disables). */
  metricsBindAddress: string
  /** `--health-probe-bind-address` (default `:8081`). */
  healthProbeBindAddress: string
  /** `--graceful-shutdown-timeout` in ms (default `30s`): how long a signal's shutdown may take before the process exits non-zero. */
  gracefulShutdownTimeoutMs: number
  /** `--webhook-port` (default 9443): the admission webhook server's port. */
  webhookPort: number
  /** `--webhook-cert-dir` (default `/tmp/k8s-webhook-server/serving-certs`): where `tls.crt` and `tls.key` are. */
  webhookCertDir: string
  /** Arguments that are not flags. */
  positionals: string[]
}

const UNITS: Record<string, number> = { ns: 1e-6, us: 1e-3, µs: 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 }

/** Parses a Go duration (`1m30s`, `1.5s`, `300ms`) into ms. */
export function parseDuration(text: string): number {
  const re = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)/gy
  if (text === '0') return 0
  let total = 0
  let consumed = 0
  for (let m = re.exec(text); m; m = re.exec(text)) {
    total += Number(m[1]) * (UNITS[m[2] as string] as number)
    consumed = re.lastIndex
  }
  if (consumed === 0 || consumed !== text.length) throw new InvalidFlagError(`invalid duration ${JSON.stringify(text)} (use Go syntax: 15s, 1.5s, 300ms, 1m30s)`)
  return total
}

/**
 * Parses the flags (default: `process.argv.slice(2)`). Unknown flags are errors, so a typo
 * fails the start instead of silently running with defaults.
 *
 * @example
 * ```ts
 * const flags = parseManagerFlags()
 * const mgr = new Manager({ kubeConfig, healthProbeBindAddress: flags.healthProbeBindAddress, ... })
 * ```
 */
export function parseManagerFlags(argv: string[] = process.argv.slice(2), extra: NonNullable<NonNullable<Parameters<typeof parseArgs>[0]>['options']> = {}): ManagerFlags & {
  /** Every parsed flag by its name (`'leader-elect'`, ...), including the `extra` ones, with defaults applied. */
  values: Record<string, unknown>
} {
  let parsed: ReturnType<typeof parseArgs>
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: {
        kubeconfig: { type: 'string' },
        'leader-elect': { type: 'boolean', default: false },
        'leader-election-id': { type: 'string' },
        'leader-election-namespace': { type: 'string' },
        'leader-elect-lease-duration': { type: 'string', default: `${LEADER_ELECTION_DEFAULTS.leaseDurationMs / 1000}s` },
        'leader-elect-renew-deadline': { type: 'string', default: `${LEADER_ELECTION_DEFAULTS.renewDeadlineMs / 1000}s` },
        'leader-elect-retry-period': { type: 'string', default: `${LEADER_ELECTION_DEFAULTS.retryPeriodMs / 1000}s` },
        'leader-elect-release-on-cancel': { type: 'boolean', default: false },
        'metrics-bind-address': { type: 'string', default: ':8080' },
        'health-probe-bind-address': { type: 'string', default: ':8081' },
        'graceful-shutdown-timeout': { type: 'string', default: `${DEFAULT_GRACEFUL_SHUTDOWN_TIMEOUT_MS / 1000}s` },
        'webhook-port': { type: 'string', default: String(DEFAULT_WEBHOOK_PORT) },
        'webhook-cert-dir': { type: 'string', default: DEFAULT_WEBHOOK_CERT_DIR },
        ...extra,
      },
    })
  } catch (err) {
    throw new InvalidFlagError((err as Error).message, { cause: err })
  }
  const v = parsed.values as Record<string, string | boolean | undefined>
  const webhookPort = Number(v['webhook-port'])
  if (!/^\d{1,5}$/.test(String(v['webhook-port'])) || webhookPort > 65535) throw new InvalidFlagError(`--webhook-port must be a port number 0..65535, got ${JSON.stringify(v['webhook-port'])}`)
  return {
    kubeconfig: v.kubeconfig as string | undefined,
    leaderElect: v['leader-elect'] === true,
    leaderElectionId: v['leader-election-id'] as string | undefined,
    leaderElectionNamespace: v['leader-election-namespace'] as string | undefined,
    leaseDurationMs: parseDuration(v['leader-elect-lease-duration'] as string),
    renewDeadlineMs: parseDuration(v['leader-elect-renew-deadline'] as string),
    retryPeriodMs: parseDuration(v['leader-elect-retry-period'] as string),
    releaseOnCancel: v['leader-elect-release-on-cancel'] === true,
    metricsBindAddress: v['metrics-bind-address'] as string,
    healthProbeBindAddress: v['health-probe-bind-address'] as string,
    gracefulShutdownTimeoutMs: parseDuration(v['graceful-shutdown-timeout'] as string),
    webhookPort,
    webhookCertDir: v['webhook-cert-dir'] as string,
    positionals: parsed.positionals,
    values: v,
  }
}
