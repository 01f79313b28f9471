/**
 * A minimal JSON request to the API server for the Lease lock: one method, KubeConfig
 * auth applied per request (tokens and exec credentials refresh), one keep-alive agent,
 * non-2xx answers as `ApiStatusError` with the Status reason.
 *
 * Hand-written, and kept to this one file on purpose: the shared write client (`lib/api`,
 * `lib/client`) was not merged when leader election was built; swapping `KubeRequester`
 * for it touches only `resourcelock.ts`.
 */
import http from 'node:http'
import https from 'node:https'
import type { KubeConfig } from '@kubernetes/client-node'
import { ApiStatusError } from '../watch/errors.ts'
import { responseChunks } from '../watch/client.ts'

const MAX_BODY = 4 * 1024 * 1024

/** JSON requests to the current context's API server. */
export class KubeRequester {
  readonly #kc: KubeConfig
  readonly #server: URL
  #agent: http.Agent | undefined

  constructor(kc: KubeConfig) {
    const cluster = kc.getCurrentCluster()
    if (!cluster) throw new TypeError('kubeconfig has no current cluster')
    this.#kc = kc
    this.#server = new URL(cluster.server)
  }

  /**
   * Sends `body` (JSON) and resolves with the parsed answer. A 404 resolves `undefined`
   * when `notFound: 'undefined'`; other non-2xx answers reject with `ApiStatusError`;
   * `signal` aborts the request (rejecting with its reason).
   */
  async request<T>(method: string, path: string, body: unknown, signal: AbortSignal, opts: { notFound?: 'undefined' } = {}): Promise<T> {
    signal.throwIfAborted()
    const url = new URL(this.#server.href)
    url.pathname = url.pathname.replace(/\/$/, '') + path
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body))
    const headers: Record<string, string> = { Accept: 'application/json' }
    if (payload) {
      headers['Content-Type'] = 'application/json'
      headers['Content-Length'] = String(payload.length)
    }
    const options: https.RequestOptions = { method, headers }
    try {
      await this.#kc.applyToHTTPSOptions(options)
    } catch (err) {
      // client-node refuses plain http without skipTLSVerify only when building its own agent; we bring ours.
      if (!(url.protocol === 'http:' && err instanceof Error && /HTTP protocol is not allowed/.test(err.message))) throw err
    }
    if (!this.#kc.getCurrentCluster()?.proxyUrl) options.agent = this.#agent ??= agentFor(url, options)
    const transport = url.protocol === 'https:' ? https : http
    const res = await new Promise<http.IncomingMessage>((resolve, reject) => {
      const req = transport.request(url, options, resolve)
      const onAbort = () => req.destroy(signal.reason instanceof Error ? signal.reason : new Error('aborted'))
      signal.addEventListener('abort', onAbort, { once: true })
      req.once('close', () => signal.removeEventListener('abort', onAbort))
      req.on('error', reject)
      req.end(payload)
    })
    const onAbort = () => res.destroy(signal.reason instanceof Error ? signal.reason : new Error('aborted'))
    signal.addEventListener('abort', onAbort, { once: true })
    let text: string
    try {
      const chunks: Buffer[] = []
      let size = 0
      for await (const chunk of responseChunks(res)) {
        size += chunk.length
        if (size > MAX_BODY) throw new RangeError(`response body larger than ${MAX_BODY} bytes`)
        chunks.push(chunk)
      }
      text = Buffer.concat(chunks).toString('utf8')
    } finally {
      signal.removeEventListener('abort', onAbort)
    }
    const status = res.statusCode ?? 0
    if (status >= 200 && status < 300) return JSON.parse(text) as T
    if (status === 404 && opts.notFound === 'undefined') return undefined as T
    let reason: string | undefined
    let message = `HTTP ${status}`
    try {
      const parsed = JSON.parse(text) as { reason?: unknown; message?: unknown }
      if (typeof parsed.reason === 'string') reason = parsed.reason
      if (typeof parsed.message === 'string') message = `HTTP ${status}: ${parsed.message.slice(0, 500)}`
    } catch {
      // not a Status body
    }
    throw new ApiStatusError(status, `${method} ${path}: ${message}`, { reason })
  }
}

function agentFor(url: URL, options: https.RequestOptions): http.Agent {
  const common = { keepAlive: true, keepAliveMsecs: 30_000 }
  if (url.protocol !== 'https:') return new http.Agent(common)
  const { ca, cert, key, pfx, passphrase, rejectUnauthorized, servername } = options
  return new https.Agent({ ...common, ca, cert, key, pfx, passphrase, rejectUnauthorized, servername })
}
