/**
 * Logging: pino loggers that serialize errors fully and keep credentials out of every line.
 *
 * pino's own `redact` matches fixed paths (`*.token` reaches one level), so a kubeconfig
 * inside a logged field, an exec plugin's environment or a token inside an error message
 * slipped through. Redaction here is hand-written because it has to walk values (no
 * maintained npm library censors by key at any depth *and* by pattern inside strings
 * without mutating its input): the object of every line is copied with secrets censored
 * by key at any depth, then the finished line is scrubbed of bearer/basic credentials,
 * PEM private keys and URL passwords, which also covers the message and the bindings.
 * Logging is never on the per-message hot path (see bench/log.ts for the cost per line).
 */
import { pino, type Logger } from 'pino'

export type { Logger }

/** What a censored value is replaced with. */
export const CENSOR = '[redacted]'

/**
 * Key names whose values are credentials, compared case-insensitively with `-` and `_`
 * removed (so `client-key-data`, `clientKeyData` and `client_key_data` all match). Any key
 * ending in `token`, `password`, `secret` or `keydata` is censored too.
 */
export const SECRET_KEYS: ReadonlySet<string> = new Set([
  'authorization',
  'proxyauthorization',
  'cookie',
  'setcookie',
  'password',
  'passwd',
  'token',
  'bearertoken',
  'secret',
  'clientsecret',
  'apikey',
  'xapikey',
  'privatekey',
  'clientkey',
  'clientkeydata',
  'keydata',
])

/** Kept for callers of the earlier API: the top-level paths pino used to censor. Redaction now reaches any depth. */
export const REDACTED_PATHS: readonly string[] = ['token', 'password', 'authorization', 'bearerToken', 'clientKey', 'keyData', 'client-key-data']

function isSecretKey(key: string): boolean {
  const k = key.toLowerCase().replace(/[-_]/g, '')
  return SECRET_KEYS.has(k) || k.endsWith('token') || k.endsWith('password') || k.endsWith('secret') || k.endsWith('keydata')
}

/** Credentials inside strings: `Bearer x`, `Basic x`, PEM private keys, `scheme://user:password@`. */
const SECRET_PATTERN =
  /(\bbearer\s+|\bbasic\s+(?=[A-Za-z0-9+/]{8}))[A-Za-z0-9\-._~+/]+=*|-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?(?:-----END [A-Z ]*PRIVATE KEY-----|$)|(\b[a-z][a-z0-9+.-]*:\/\/[^\s:/@]+:)[^\s@/]+@/gi

/** `text` with bearer/basic credentials, PEM private keys and URL passwords censored. */
export function redactString(text: string): string {
  SECRET_PATTERN.lastIndex = 0
  if (!SECRET_PATTERN.test(text)) return text
  SECRET_PATTERN.lastIndex = 0
  return text.replace(SECRET_PATTERN, (match, scheme: string | undefined, userinfo: string | undefined) => {
    if (scheme !== undefined) return `${scheme}${CENSOR}`
    if (userinfo !== undefined) return `${userinfo}${CENSOR}@`
    return match.startsWith('-----BEGIN') ? `[redacted private key]` : CENSOR
  })
}

const MAX_DEPTH = 12

/**
 * A copy of `value` fit for a log line: credentials censored at any depth (by key, and by
 * pattern inside strings), errors serialized by {@link serializeError}, exec-plugin
 * environments blanked, binary data summarized, cycles cut. Never mutates `value`.
 */
export function redactValue(value: unknown): unknown {
  return walk(value, 0, new Set())
}

function walk(value: unknown, depth: number, ancestors: Set<object>): unknown {
  if (typeof value === 'string') return redactString(value)
  if (value === null || typeof value !== 'object') return value
  if (ancestors.has(value)) return '[Circular]'
  if (depth >= MAX_DEPTH) return '[Object: too deep]'
  if (value instanceof Error) return errorObject(value, depth, ancestors)
  if (ArrayBuffer.isView(value) || value instanceof ArrayBuffer) return `[binary ${value.byteLength} bytes]`
  if (value instanceof Date) return value
  ancestors.add(value)
  try {
    if (Array.isArray(value)) return value.map((v) => walk(v, depth + 1, ancestors))
    if (value instanceof Map) return walk(Object.fromEntries([...value].map(([k, v]) => [String(k), v])), depth, ancestors)
    if (value instanceof Set) return walk([...value], depth, ancestors)
    const toJSON = (value as { toJSON?: unknown }).toJSON
    if (typeof toJSON === 'function') return walk(toJSON.call(value), depth + 1, ancestors)
    const out: Record<string, unknown> = {}
    for (const key of Object.keys(value)) {
      out[key] = field(key, (value as Record<string, unknown>)[key], depth, ancestors)
    }
    return out
  } finally {
    ancestors.delete(value)
  }
}

function field(key: string, v: unknown, depth: number, ancestors: Set<object>): unknown {
  if (v === undefined || v === null) return v
  if (isSecretKey(key)) return CENSOR
  // An exec credential plugin's environment ([{ name, value }] in a kubeconfig, or a record).
  if (key === 'env' && typeof v === 'object') {
    if (Array.isArray(v)) return v.map((e) => (e !== null && typeof e === 'object' ? { ...(walk(e, depth + 2, ancestors) as object), value: CENSOR } : CENSOR))
    return Object.fromEntries(Object.keys(v).map((k) => [k, CENSOR]))
  }
  return walk(v, depth + 1, ancestors)
}

/** The serialized form of an error in a log line (see {@link serializeError}). */
export interface SerializedError {
  /** The class name (`ApiStatusError`, `TypeError`). */
  type: string
  message: string
  /** The stable `code`, when the error has one (`ERR_CALL_TIMEOUT`, `ECONNREFUSED`). */
  code?: unknown
  stack?: string
  /** The cause, serialized the same way (an error), or as a value. */
  cause?: unknown
  /** The errors of an AggregateError. */
  errors?: unknown[]
  [field: string]: unknown
}

function errorObject(err: Error, depth: number, ancestors: Set<object>): SerializedError {
  ancestors.add(err)
  try {
    const ctor = (err as { constructor?: { name?: unknown } }).constructor
    const type = typeof ctor?.name === 'string' && ctor.name !== '' ? ctor.name : err.name
    const out: SerializedError = { type, message: redactString(String(err.message)) }
    const code = (err as { code?: unknown }).code
    if (code !== undefined) out.code = walk(code, depth + 1, ancestors)
    if (typeof err.stack === 'string') out.stack = redactString(err.stack)
    for (const key of Object.keys(err)) {
      if (key === 'message' || key === 'stack' || key === 'code' || key === 'cause' || (key === 'name' && (err as { name: unknown }).name === type)) continue
      out[key] = field(key, (err as unknown as Record<string, unknown>)[key], depth, ancestors)
    }
    if (err instanceof AggregateError) out.errors = err.errors.map((e) => walk(e, depth + 1, ancestors))
    if ('cause' in err && err.cause !== undefined) out.cause = walk(err.cause, depth + 1, ancestors)
    return out
  } finally {
    ancestors.delete(err)
  }
}

/**
 * An error as a log field: `type` (its class), `code`, its own `message` (never with the
 * causes' messages appended, unlike pino's default serializer), `stack`, its other own
 * fields, and `cause` serialized the same way, recursively. Credentials are censored.
 * Values that are not errors come back redacted but otherwise as they were.
 */
export function serializeError(err: unknown): unknown {
  return redactValue(err)
}

/** pino `formatters.log`: the merging object of a line, redacted and with errors serialized. */
function formatLog(obj: Record<string, unknown>): Record<string, unknown> {
  try {
    return redactValue(obj) as Record<string, unknown>
  } catch (err) {
    // A getter or toJSON that throws must not turn a log call into a crash; nothing of the
    // object is written, so nothing unredacted either.
    return { logObjectError: err instanceof Error ? redactString(`${err.name}: ${err.message}`) : 'unserializable log object' }
  }
}

/** The `formatters.log` functions that redact: {@link formatLog} and its compositions. */
const redacting = new WeakSet<object>([formatLog])

/** pino's `err` serializer runs after `formatLog`: the value is already serialized. */
function passSerialized(value: unknown): unknown {
  return value
}

const { chindingsSym, formattersSym } = pino.symbols

/** Rewrites a child's bindings when they carry a credential (`logger.child({ kubeConfig })`). */
function redactBindings(child: Logger): void {
  const bindings = child.bindings()
  let after: string
  try {
    after = JSON.stringify(redactValue(bindings))
  } catch {
    after = '{}'
  }
  if (JSON.stringify(bindings) === after) return
  ;(child as unknown as Record<symbol, string>)[chindingsSym] = after === '{}' ? '' : `,${after.slice(1, -1)}`
}

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
 * Creates a pino logger that keeps credentials out of every line and logs errors whole.
 * Pass the result as `logger` to processes, supervisors and watchers; each binds its own
 * name on a child.
 *
 * - Credentials never reach a line, at any depth: values under keys such as `token`,
 *   `password`, `authorization`, `client-key-data`/`keyData`, `*Token`, `*Secret`, an exec
 *   plugin's `env`; and, inside any string (messages and stacks too), `Bearer …`/`Basic …`
 *   credentials, PEM private keys and `scheme://user:password@` URL passwords. Logging a
 *   whole client-node `KubeConfig` is safe.
 * - Errors, at any key and depth, are logged with `type` (the class), `code`, `message`,
 *   `stack` and `cause` (recursively), plus their other fields (`status`, `phase`, …).
 *
 * @example
 * ```ts
 * const logger = createLogger({ level: 'debug' })
 * logger.error({ err, kubeConfig }, 'list failed')  // err whole, the kubeconfig's secrets censored
 * ```
 */
export function createLogger(options: CreateLoggerOptions = {}): Logger {
  const level = options.level ?? process.env.KUBEVISOR_LOG_LEVEL ?? 'info'
  const config: pino.LoggerOptions = {
    level,
    base: options.base === undefined ? {} : (redactValue(options.base) as Record<string, unknown>),
    formatters: { log: formatLog },
    serializers: { err: passSerialized },
    hooks: { streamWrite: redactString },
    onChild: redactBindings,
  }
  return options.destination ? pino(config, options.destination as pino.DestinationStream) : pino(config)
}

/**
 * `logger` itself when it redacts as {@link createLogger}'s do; otherwise a child of it
 * that redacts the object of each line and serializes errors the same way (processes wrap
 * an injected foreign pino logger with this, so their lines are safe whichever logger was
 * given). The message strings of a foreign logger's own lines are its owner's business.
 */
export function withRedaction(logger: Logger): Logger {
  const formatters = (logger as unknown as Record<symbol, { log?: unknown } | undefined>)[formattersSym]
  const theirs = formatters?.log
  if ((typeof theirs === 'function' && redacting.has(theirs)) || typeof logger.child !== 'function') return logger
  try {
    const log: (obj: object) => object =
      typeof theirs === 'function'
        ? (obj) => (theirs as (o: object) => object)(formatLog(obj as Record<string, unknown>))
        : (obj) => formatLog(obj as Record<string, unknown>)
    redacting.add(log)
    return logger.child({}, { formatters: { log }, serializers: { err: passSerialized } })
  } catch {
    return logger
  }
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
