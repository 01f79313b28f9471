/**
 * Request-level fault injection: answer the next N matching requests with 429 or 500,
 * or delay matching responses. Watch-level faults act on open {@link WatchStream}s and
 * live on the server object (see `ApiServer`).
 */
import { type ApiServerStatusError, internalError, statusFor, ApiServerStatusError as StatusError, tooManyRequests } from './status.ts'
import type { WatchInfo } from './watch.ts'

/** What request matchers see. */
export interface RequestInfo {
  /** Upper-case HTTP method. */
  readonly method: string
  /** Path without query, e.g. `/api/v1/namespaces/default/pods`. */
  readonly path: string
  /** Query parameters. */
  readonly query: URLSearchParams
  /** True for `?watch=1|true`. */
  readonly watch: boolean
}

/**
 * Selects requests: an object whose given fields must all match (`path` as a prefix
 * string or a RegExp, `method` case-insensitive), or a predicate.
 */
export type RequestMatcher =
  | {
      /** `GET`, `POST`, … (any when absent). */
      method?: string
      /** A path prefix, or a RegExp tested against the path. */
      path?: string | RegExp
      /** Only watches (`true`) or only other requests (`false`). */
      watch?: boolean
    }
  | ((req: RequestInfo) => boolean)

/**
 * Selects open watches: an object whose given fields must all match (`resource` is the
 * plural, e.g. `pods`; `path` a prefix string or RegExp), or a predicate.
 */
export type WatchMatcher =
  | {
      /** The resource plural, e.g. `pods`. */
      resource?: string
      /** The API group (`''` for core). */
      group?: string
      /** The namespace watched. */
      namespace?: string
      /** A path prefix, or a RegExp tested against the path. */
      path?: string | RegExp
    }
  | ((watch: WatchInfo) => boolean)

/** Options of `failNext`. */
export interface FailNextOptions {
  /** How many matching requests fail (default 1). */
  count?: number
  /** 429 (TooManyRequests, with Retry-After) or 500 (InternalError); other codes are sent as given. Default 500. */
  code?: number
  /** `Retry-After` seconds for 429 (default 1). */
  retryAfterSeconds?: number
  /** Which requests; default: every request. */
  match?: RequestMatcher
}

/** Options of `delay`. */
export interface DelayOptions {
  /** Delay before each matching response, in ms (on the server's clock). */
  ms: number
  /** How many requests to delay (default: all until cancelled). */
  count?: number
  /** Which requests; default: every request. */
  match?: RequestMatcher
}

function pathMatches(pattern: string | RegExp | undefined, path: string): boolean {
  if (pattern === undefined) return true
  return typeof pattern === 'string' ? path.startsWith(pattern) : pattern.test(path)
}

/** Whether a request matcher selects `req`. */
export function matchRequest(m: RequestMatcher | undefined, req: RequestInfo): boolean {
  if (!m) return true
  if (typeof m === 'function') return m(req)
  if (m.method && m.method.toUpperCase() !== req.method) return false
  if (m.watch !== undefined && m.watch !== req.watch) return false
  return pathMatches(m.path, req.path)
}

/** Whether a watch matcher selects `w`. */
export function matchWatch(m: WatchMatcher | undefined, w: WatchInfo): boolean {
  if (!m) return true
  if (typeof m === 'function') return m(w)
  if (m.resource !== undefined && m.resource !== w.resource) return false
  if (m.group !== undefined && m.group !== w.group) return false
  if (m.namespace !== undefined && m.namespace !== w.namespace) return false
  return pathMatches(m.path, w.path)
}

interface FailRule {
  left: number
  make: () => ApiServerStatusError
  match: RequestMatcher | undefined
}

interface DelayRule {
  left: number
  ms: number
  match: RequestMatcher | undefined
}

/** The pending request faults, consumed in the order they were added. */
export class RequestFaults {
  #fails: FailRule[] = []
  #delays: DelayRule[] = []

  /** Fails the next `count` matching requests. */
  failNext(o: FailNextOptions = {}): void {
    const code = o.code ?? 500
    const make = (): ApiServerStatusError => {
      if (code === 429) return tooManyRequests(o.retryAfterSeconds ?? 1)
      if (code === 500) return internalError('injected fault')
      return new StatusError(statusFor(code, 'InternalError', `injected fault (${code})`))
    }
    this.#fails.push({ left: o.count ?? 1, make, match: o.match })
  }

  /** Delays matching responses; returns a function that cancels the rule. */
  delay(o: DelayOptions): () => void {
    const rule: DelayRule = { left: o.count ?? Number.POSITIVE_INFINITY, ms: o.ms, match: o.match }
    this.#delays.push(rule)
    return () => {
      this.#delays = this.#delays.filter((r) => r !== rule)
    }
  }

  /** Consumes the faults that apply to `req`. */
  take(req: RequestInfo): { fail: ApiServerStatusError | undefined; delayMs: number } {
    let fail: ApiServerStatusError | undefined
    const f = this.#fails.find((r) => r.left > 0 && matchRequest(r.match, req))
    if (f) {
      f.left--
      fail = f.make()
      if (f.left <= 0) this.#fails = this.#fails.filter((r) => r !== f)
    }
    let delayMs = 0
    const d = this.#delays.find((r) => r.left > 0 && matchRequest(r.match, req))
    if (d) {
      d.left--
      delayMs = d.ms
      if (d.left <= 0) this.#delays = this.#delays.filter((r) => r !== d)
    }
    return { fail, delayMs }
  }

  /** Removes every pending request fault. */
  clear(): void {
    this.#fails = []
    this.#delays = []
  }
}
