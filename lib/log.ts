import { pino, type Logger } from 'pino'

export type { Logger }

/**
 * Paths pino removes from every log line, so credentials never reach logs even when a
 * caller logs a request, a kubeconfig user or a header bag by mistake.
 */
export const REDACTED_PATHS: readonly string[] = [
  'token',
  '*.token',
  'password',
  '*.password',
  'authorization',
  '*.authorization',
  'headers.authorization',
  'headers.Authorization',
  '*.headers.authorization',
  '*.headers.Authorization',
  'bearerToken',
  '*.bearerToken',
  'clientKey',
  '*.clientKey',
  'keyData',
  '*.keyData',
  'client-key-data',
  '*.client-key-data',
]

/** Options for {@link createLogger}. */
export interface CreateLoggerOptions {
  /** pino level; defaults to `$KUBEVISOR_LOG_LEVEL`, else `info`. */
  level?: string
  /** Bindings added to every line. */
  base?: Record<string, unknown>
  /** Where lines go; defaults to stdout. */
  destination?: NodeJS.WritableStream
}

/**
 * Creates a pino logger with kubevisor's redaction of credentials. Pass the result as
 * `logger` to processes, supervisors and watchers; each binds its own name on a child.
 */
export function createLogger(options: CreateLoggerOptions = {}): Logger {
  const level = options.level ?? process.env.KUBEVISOR_LOG_LEVEL ?? 'info'
  const config = {
    level,
    base: options.base ?? {},
    redact: { paths: [...REDACTED_PATHS], censor: '[redacted]' },
  }
  return options.destination ? pino(config, options.destination as pino.DestinationStream) : pino(config)
}

let fallback: Logger | undefined

/**
 * The logger used where none was injected: created on first use from
 * `$KUBEVISOR_LOG_LEVEL` (default `info`). Prefer injecting your own.
 */
export function defaultLogger(): Logger {
  fallback ??= createLogger()
  return fallback
}
