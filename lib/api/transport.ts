/**
 * One HTTP path to the API server, shared by the watch client and the write client:
 * `@kubernetes/client-node`'s `KubeConfig` for configuration and auth only (server, CA,
 * client certificates, tokens, exec plugins — applied per request, so refreshed
 * credentials are picked up), one keep-alive agent per `KubeConfig` and server origin,
 * bodies read as raw bytes (no generated models, no `Date` conversion), and non-2xx answers
 * turned into typed {@link ApiStatusError}s.
 *
 * Hand-written over `node:http` rather than through client-node's `fetch`-based generated
 * APIs: the watch path needs the socket's chunks as they arrive (see {@link responseChunks})
 * and the write path wants plain JSON in and out.
 */
import http from 'node:http'
import https from 'node:https'
import { finished, type Readable } from 'node:stream'
import type { KubeConfig } from '@kubernetes/client-node'
import { ApiStatusError, RequestTimeoutError, type Status } from './errors.ts'

/** Options of {@link ApiTransport}. */
export interface ApiTransportOptions {
  /**
   * The agent for requests. Default: a keep-alive agent built from the kubeconfig's TLS
   * settings, shared by every transport made from the same `KubeConfig` object, without a
   * socket cap (each open watch holds one socket). A kubeconfig `proxy-url` uses
   * client-node's proxy agent instead.
   */
  agent?: http.Agent | undefined
  /** Largest body read by {@link ApiTransport.readBody} by default, in bytes. Default 512 MiB. */
  maxBodyBytes?: number | undefined
}

/** One request. */
export interface ApiRequest {
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE'
  /** Absolute path on the server, e.g. `/api/v1/namespaces/default/pods`. */
  path: string
  query?: URLSearchParams | undefined
  /** Extra headers; `Accept: application/json` is always sent unless given here. */
  headers?: Record<string, string> | undefined
  /** The request body, already serialized. */
  body?: string | Buffer | undefined
  /** Aborts the request (and the response body) when it fires. */
  signal?: AbortSignal | undefined
  /**
   * Fails with {@link RequestTimeoutError} when the response headers have not arrived
   * within this many ms. Not for watches: it covers the headers only.
   */
  timeoutMs?: number | undefined
}

/**
 * HTTP(S) to the API server of a `KubeConfig`'s current context.
 *
 * @example
 * ```ts
 * const transport = ApiTransport.for(kubeConfig)
 * const namespaces = await transport.json<{ items: KubeObject[] }>({ method: 'GET', path: '/api/v1/namespaces' })
 * ```
 */
export class ApiTransport {
  /** The kubeconfig whose current context this transport talks to. */
  readonly kubeConfig: KubeConfig
  /** The server URL of the current cluster. */
  readonly server: URL
  readonly #maxBodyBytes: number
  readonly #hasProxy: boolean
  #agent: http.Agent | undefined

  constructor(kc: KubeConfig, options: ApiTransportOptions = {}) {
    const cluster = kc.getCurrentCluster()
    if (!cluster) throw new TypeError('kubeconfig has no current cluster')
    this.kubeConfig = kc
    this.server = new URL(cluster.server)
    this.#maxBodyBytes = options.maxBodyBytes ?? 512 * 1024 * 1024
    this.#agent = options.agent
    this.#hasProxy = Boolean(cluster.proxyUrl)
  }

  /** A transport for `kc` with the default (shared keep-alive) agent; cached per `KubeConfig` object. */
  static for(kc: KubeConfig): ApiTransport {
    let transport = defaultTransports.get(kc)
    if (transport === undefined) defaultTransports.set(kc, (transport = new ApiTransport(kc)))
    return transport
  }

  /**
   * Sends a request with auth applied. Resolves with the response once a 2xx status
   * arrived (its body unread), and rejects with an {@link ApiStatusError} subclass for any
   * other status, with {@link RequestTimeoutError} after `timeoutMs`, with the signal's
   * reason on abort, and with the network error otherwise.
   */
  async request(req: ApiRequest): Promise<http.IncomingMessage> {
    const signal = req.signal
    signal?.throwIfAborted()
    const url = new URL(this.server.href)
    url.pathname = joinPath(url.pathname, req.path)
    if (req.query !== undefined) url.search = req.query.toString()
    const headers: Record<string, string | number> = { Accept: 'application/json', ...req.headers }
    if (req.body !== undefined) headers['Content-Length'] = Buffer.byteLength(req.body)
    const options: https.RequestOptions = { method: req.method, headers }
    await applyAuth(this.kubeConfig, options, url)
    const agent = (this.#agent ??= sharedAgent(this.kubeConfig, url, options))
    // A proxy agent from client-node wins over ours; otherwise use the shared keep-alive agent.
    if (!this.#hasProxy) options.agent = agent
    const transport = url.protocol === 'https:' ? https : http
    const res = await new Promise<http.IncomingMessage>((resolve, reject) => {
      // Not `signal` as a request option: Node keeps that listener after the response ended,
      // and a late abort would then destroy a keep-alive socket already serving another request.
      let response: http.IncomingMessage | undefined
      let timer: NodeJS.Timeout | undefined
      const request = transport.request(url, options, (res) => {
        response = res
        if (timer !== undefined) clearTimeout(timer)
        resolve(res)
      })
      if (signal !== undefined) {
        const onAbort = () => {
          // A response already read to its end has handed its socket back to the agent: leave it.
          if (response?.complete) return
          const reason = signal.reason instanceof Error ? signal.reason : new Error('aborted')
          if (response) response.destroy(reason)
          else request.destroy(reason)
        }
        signal.addEventListener('abort', onAbort, { once: true })
        request.once('close', () => signal.removeEventListener('abort', onAbort))
      }
      const timeoutMs = req.timeoutMs
      if (timeoutMs !== undefined && timeoutMs > 0 && Number.isFinite(timeoutMs)) {
        timer = setTimeout(() => request.destroy(new RequestTimeoutError(req.method, req.path, timeoutMs)), timeoutMs)
        request.once('close', () => clearTimeout(timer))
      }
      request.on('error', reject)
      request.end(req.body)
    })
    // Aborting a request destroys its response with an AbortError; whoever reads the body
    // sees it through the iterator, so an otherwise unobserved 'error' must not crash the process.
    res.on('error', ignore)
    const status = res.statusCode ?? 0
    if (status >= 200 && status < 300) return res
    throw await statusError(res, status)
  }

  /** Sends a request and parses the 2xx answer's JSON body (at most `maxBodyBytes`). */
  async json<T>(req: ApiRequest, maxBodyBytes: number = this.#maxBodyBytes): Promise<T> {
    const res = await this.request(req)
    const body = await readBody(res, maxBodyBytes)
    return JSON.parse(body.toString('utf8')) as T
  }

  /** Reads a response body whole, failing past `max` bytes (default: the transport's `maxBodyBytes`). */
  readBody(res: http.IncomingMessage, max: number = this.#maxBodyBytes): Promise<Buffer> {
    return readBody(res, max)
  }
}

const defaultTransports = new WeakMap<KubeConfig, ApiTransport>()

function ignore(): void {}

/** Applies the kubeconfig's credentials and TLS settings to `options`. */
async function applyAuth(kc: KubeConfig, options: https.RequestOptions, url: URL): Promise<void> {
  try {
    await kc.applyToHTTPSOptions(options)
  } catch (err) {
    // client-node applies headers and TLS fields first, then refuses to build an agent for
    // plain http without skipTLSVerify; we bring our own agent, so that refusal is moot.
    if (url.protocol === 'http:' && err instanceof Error && /HTTP protocol is not allowed/.test(err.message)) return
    throw err
  }
}

/** Keep-alive agents per KubeConfig and server origin, shared by the transports built from one KubeConfig. */
const agents = new WeakMap<KubeConfig, Map<string, http.Agent>>()

/** The keep-alive agent that transports of `kc` use for `origin` (created on first use). */
function sharedAgent(kc: KubeConfig, url: URL, options: https.RequestOptions): http.Agent {
  let perOrigin = agents.get(kc)
  if (!perOrigin) agents.set(kc, (perOrigin = new Map()))
  let agent = perOrigin.get(url.origin)
  if (!agent) perOrigin.set(url.origin, (agent = keepAliveAgent(url, options)))
  return agent
}

/** The keep-alive settings of the shared agent: keep-alive on, probe after 30 s, no socket cap. */
export const KEEP_ALIVE_AGENT_OPTIONS: Readonly<http.AgentOptions> = Object.freeze({ keepAlive: true, keepAliveMsecs: 30_000 })

/** A keep-alive agent for `url`'s protocol with the TLS material of `options` (CA, client certificate, servername). */
export function keepAliveAgent(url: URL, options: https.RequestOptions): http.Agent {
  // No maxSockets: every open watch holds a socket for minutes; a cap would queue the rest.
  const common = { ...KEEP_ALIVE_AGENT_OPTIONS }
  if (url.protocol !== 'https:') return new http.Agent(common)
  const tls: https.AgentOptions = { ...common }
  if (options.ca !== undefined) tls.ca = options.ca
  if (options.cert !== undefined) tls.cert = options.cert
  if (options.key !== undefined) tls.key = options.key
  if (options.pfx !== undefined) tls.pfx = options.pfx
  if (options.passphrase !== undefined) tls.passphrase = options.passphrase
  if (options.rejectUnauthorized !== undefined) tls.rejectUnauthorized = options.rejectUnauthorized
  if (options.servername !== undefined) tls.servername = options.servername
  return new https.Agent(tls)
}

function joinPath(base: string, path: string): string {
  return base.endsWith('/') ? base.slice(0, -1) + path : base + path
}

/**
 * The body's chunks exactly as the socket delivered them, through `'data'` events; reading
 * pauses while the consumer has not asked for the next chunk. Not the stream's own async
 * iterator: that one's `read()` concatenates every buffered chunk into a new Buffer on
 * each step, a copy of the whole stream (2–3% of a watch's CPU in `bench/watch.ts`).
 * Ends with the body; fails with the stream's error, or `ERR_STREAM_PREMATURE_CLOSE` when
 * the connection closed early. Leaving the loop early destroys the response.
 */
export function responseChunks(res: Readable): AsyncIterableIterator<Buffer> {
  const queue: Buffer[] = []
  let head = 0
  /** Set once the body ended (`null`) or failed (the error). */
  let outcome: Error | null | undefined
  let waiting: { resolve: (r: IteratorResult<Buffer>) => void; reject: (err: unknown) => void } | undefined
  const onData = (chunk: Buffer) => {
    const w = waiting
    if (w !== undefined) {
      waiting = undefined
      w.resolve({ value: chunk, done: false })
      return
    }
    queue.push(chunk)
    res.pause()
  }
  const cleanup = finished(res, (err) => {
    outcome = err ?? null
    const w = waiting
    if (w === undefined) return
    waiting = undefined
    if (outcome === null) w.resolve({ value: undefined, done: true })
    else w.reject(outcome)
  })
  res.on('data', onData)
  const close = () => {
    res.off('data', onData)
    cleanup()
  }
  return {
    next(): Promise<IteratorResult<Buffer>> {
      if (head < queue.length) {
        const value = queue[head++] as Buffer
        if (head === queue.length) {
          queue.length = 0
          head = 0
        }
        return Promise.resolve({ value, done: false })
      }
      if (outcome === null) {
        close()
        return Promise.resolve({ value: undefined, done: true })
      }
      if (outcome !== undefined) {
        close()
        return Promise.reject(outcome)
      }
      return new Promise((resolve, reject) => {
        waiting = { resolve, reject }
        res.resume()
      })
    },
    return(): Promise<IteratorResult<Buffer>> {
      close()
      if (outcome === undefined) res.destroy()
      return Promise.resolve({ value: undefined, done: true })
    },
    [Symbol.asyncIterator]() {
      return this
    },
  }
}

/** Reads a body whole; a body over `max` bytes destroys the response and fails with a `RangeError`. */
export async function readBody(res: Readable, max: number): Promise<Buffer> {
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of responseChunks(res)) {
    size += chunk.length
    if (size > max) {
      res.destroy()
      throw new RangeError(`response body larger than ${max} bytes`)
    }
    chunks.push(chunk)
  }
  return Buffer.concat(chunks, size)
}

/** Builds the typed error for a non-2xx response, reading a `metav1.Status` body if any. */
async function statusError(res: http.IncomingMessage, status: number): Promise<ApiStatusError> {
  const retryAfter = parseRetryAfter(res.headers['retry-after'])
  let body: Status | undefined
  try {
    const parsed = JSON.parse((await readBody(res, 256 * 1024)).toString('utf8')) as unknown
    if (parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed)) body = parsed as Status
  } catch {
    // Not a Status body (a proxy's HTML page, a cut connection): the status code says enough.
  }
  return ApiStatusError.from(status, body, { retryAfterSeconds: retryAfter })
}

/** `Retry-After` as seconds: delta-seconds or an HTTP date; `undefined` when absent or unreadable. */
export function parseRetryAfter(value: string | string[] | undefined, now: number = Date.now()): number | undefined {
  const raw = Array.isArray(value) ? value[0] : value
  if (raw === undefined || raw.trim() === '') return undefined
  if (/^\s*\d+\s*$/.test(raw)) return Number(raw)
  const at = Date.parse(raw)
  if (Number.isNaN(at)) return undefined
  return Math.max(0, Math.ceil((at - now) / 1000))
}
