/**
 * Turns a process's state (after its behaviour's `formatStatus`) or a log line into plain
 * JSON that is safe to put on the page: bounded in depth and size, and with credentials
 * removed even when a behaviour forgot a `formatStatus`.
 *
 * Hand-written (no library): the rules are ours — which keys count as secrets (the
 * same family as the logger's `REDACTED_PATHS`), that objects of classes are shown by
 * name only (a `KubeConfig`, an HTTP agent or a socket is never walked), and the limits.
 */

/** Keys whose values never leave the process: tokens, passwords, keys, certificates, authorization headers. */
const SECRET_KEY = /token|passw(or)?d|secret|authorization|bearer|cookie|credential|private.?key|client.?key|key.?data|cert(ificate)?.?data|^key$|apikey|api.?key/i

/** Credentials inside any string, whatever its key: a bearer or basic credential, a PEM block (the whole string goes). */
const BEARER = /\b(bearer|basic)(\s+)[A-Za-z0-9._~+/=:-]+/gi
const PEM = /-----BEGIN [A-Z ]*(PRIVATE KEY|CERTIFICATE)-----/

export const REDACTED = '[redacted]'

/** Limits of {@link viewable}. */
export interface ViewLimits {
  /** Nesting levels shown (default 6). */
  depth: number
  /** Keys or items shown per object, array, Map or Set (default 50). */
  items: number
  /** Characters shown per string (default 300). */
  chars: number
}

const DEFAULT_LIMITS: ViewLimits = { depth: 6, items: 50, chars: 300 }

/**
 * Whether a key names a credential, case-insensitively: it contains `token`, `password`
 * (or `passwd`), `secret`, `authorization`, `bearer`, `cookie`, `credential`, `privateKey`,
 * `clientKey`, `keyData`, `certificateData` (or `certData`) or `apiKey` (with or without a
 * separator), or is exactly `key`. {@link viewable} shows such keys' values as `[redacted]`.
 */
export function isSecretKey(key: string): boolean {
  return SECRET_KEY.test(key)
}

/**
 * A JSON-safe, bounded, redacted copy of `value`. Plain objects, arrays, Maps and Sets are
 * walked; class instances are shown as `[ClassName]`, pids as `#id(name)`, errors as
 * their name and message; secret-looking keys and values become `[redacted]`.
 */
export function viewable(value: unknown, limits: Partial<ViewLimits> = {}): unknown {
  return walk(value, { ...DEFAULT_LIMITS, ...limits }, 0, new WeakSet())
}

function walk(value: unknown, limits: ViewLimits, depth: number, seen: WeakSet<object>): unknown {
  switch (typeof value) {
    case 'string':
      return scrub(value, limits.chars)
    case 'number':
      return Number.isFinite(value) ? value : String(value)
    case 'boolean':
      return value
    case 'undefined':
      return undefined
    case 'bigint':
      return `${value}n`
    case 'symbol':
      return value.toString()
    case 'function':
      return `[Function ${value.name || 'anonymous'}]`
  }
  if (value === null) return null
  const obj = value as object
  if (isPid(obj)) return String(obj)
  if (seen.has(obj)) return '[Circular]'
  if (obj instanceof Date) return Number.isNaN(obj.getTime()) ? 'Invalid Date' : obj.toISOString()
  if (obj instanceof Error) return { error: obj.name, message: walk(obj.message, limits, depth + 1, seen) }
  if (depth >= limits.depth) return Array.isArray(obj) ? `[Array(${obj.length})]` : '[…]'
  seen.add(obj)
  try {
    if (Array.isArray(obj)) return list(obj, obj.length, limits, depth, seen)
    if (obj instanceof Set) return { '[Set]': list(obj, obj.size, limits, depth, seen) }
    if (obj instanceof Map) {
      const out: Record<string, unknown> = {}
      let n = 0
      for (const [k, v] of obj) {
        if (n++ >= limits.items) {
          out['…'] = `${obj.size - limits.items} more`
          break
        }
        const key = typeof k === 'string' ? k : String(walk(k, limits, depth + 1, seen))
        out[key] = isSecretKey(key) ? REDACTED : walk(v, limits, depth + 1, seen)
      }
      return { '[Map]': out }
    }
    const proto = Object.getPrototypeOf(obj)
    if (proto !== Object.prototype && proto !== null) return `[${proto?.constructor?.name || 'Object'}]`
    const out: Record<string, unknown> = {}
    const keys = Object.keys(obj)
    for (let i = 0; i < keys.length; i++) {
      if (i >= limits.items) {
        out['…'] = `${keys.length - limits.items} more keys`
        break
      }
      const key = keys[i] as string
      out[key] = isSecretKey(key) ? REDACTED : walk((obj as Record<string, unknown>)[key], limits, depth + 1, seen)
    }
    return out
  } finally {
    seen.delete(obj)
  }
}

/** A string with bearer/basic credentials replaced, `[redacted]` for a PEM block, cut at `chars`. */
function scrub(value: string, chars: number): string {
  if (PEM.test(value)) return REDACTED
  const clean = value.replace(BEARER, `$1$2${REDACTED}`)
  return clean.length > chars ? `${clean.slice(0, chars)}… (${clean.length} chars)` : clean
}

function list(items: Iterable<unknown>, size: number, limits: ViewLimits, depth: number, seen: WeakSet<object>): unknown[] {
  const out: unknown[] = []
  for (const item of items) {
    if (out.length >= limits.items) {
      out.push(`… ${size - limits.items} more`)
      break
    }
    out.push(walk(item, limits, depth + 1, seen))
  }
  return out
}

/** A kubevisor pid: shown by its `#id(name)` text rather than walked. */
function isPid(obj: object): boolean {
  const p = obj as { id?: unknown; alive?: unknown }
  return typeof p.id === 'number' && typeof p.alive === 'boolean' && 'name' in p && typeof (obj as { toString?: unknown }).toString === 'function' && Object.getPrototypeOf(obj) !== Object.prototype
}
