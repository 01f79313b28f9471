/**
 * The IO edge of the engine: a tiny list/watch interface ({@link ListWatchClient}) that
 * tests replace with fakes, and its real implementation over `node:http`/`node:https`
 * ({@link HttpListWatchClient}). `@kubernetes/client-node`'s `KubeConfig` is used for
 * configuration and auth only (server, CA, client certificates, tokens, exec plugins);
 * bodies never go through its generated models or its `Watch` class: list pages are
 * parsed with one `JSON.parse`, watch chunks go straight to the `WatchDecoder`.
 */
import http from 'node:http'
import https from 'node:https'
import { finished, type Readable } from 'node:stream'
import type { KubeConfig } from '@kubernetes/client-node'
import { ApiStatusError } from './errors.ts'
import type { ListParams, WatchParams } from './engine.ts'
import type { KubeObject } from './object.ts'

/** One page of a list response. */
export interface ListPage {
  /** The items, each with `apiVersion` and `kind` filled in from the list (the server omits them). */
  items: KubeObject[]
  /** The list's `metadata.resourceVersion`. */
  resourceVersion: string
  /** `metadata.continue`: set when more pages follow. */
  continueToken: string | undefined
}

/**
 * What the engine needs from the network. Implementations throw {@link ApiStatusError}
 * for non-2xx answers and any other error for network failures; they stop and reject
 * (or end the iterable) when `signal` aborts.
 */
export interface ListWatchClient {
  /** Fetches one page. */
  list(params: ListParams, signal: AbortSignal): Promise<ListPage>
  /**
   * Opens a watch. Resolves once the server answered 200, with the raw body as byte
   * chunks (newline-delimited JSON events); the iterable ends when the server closes the
   * stream cleanly and throws when the connection fails.
   */
  watch(params: WatchParams, signal: AbortSignal): Promise<AsyncIterable<Uint8Array>>
}

/** Which collection to list and watch. */
export type ResourceTarget = (
  | {
      /** e.g. `v1`, `apps/v1`, `example.com/v1alpha1`; resolved through discovery. */
      apiVersion: string
      kind: string
      path?: undefined
    }
  | {
      /**
       * An explicit collection path without the namespace part, e.g. `/api/v1/pods` or
       * `/apis/apps/v1/deployments`; `namespaced` says whether `namespace` applies.
       */
      path: string
      namespaced?: boolean
      apiVersion?: string | undefined
      kind?: string | undefined
    }
) & {
  /** Watch one namespace; all namespaces when absent. */
  namespace?: string | undefined
  labelSelector?: string | undefined
  fieldSelector?: string | undefined
}

/** A resource as discovery describes it. */
export interface ResolvedResource {
  /** `/api/v1` or `/apis/{group}/{version}`. */
  groupVersionPath: string
  /** The plural resource name, e.g. `pods`. */
  plural: string
  namespaced: boolean
  apiVersion: string | undefined
  kind: string | undefined
}

/** Options of {@link HttpListWatchClient}. */
export interface HttpListWatchClientOptions {
  /**
   * The agent for requests. Default: a keep-alive agent built from the kubeconfig's TLS
   * settings, shared by every client made from the same `KubeConfig` object, without a
   * socket cap (each open watch holds one socket). A kubeconfig `proxy-url` uses
   * client-node's proxy agent instead.
   */
  agent?: http.Agent
  /** Largest list or error body read, in bytes. Default 512 MiB. */
  maxBodyBytes?: number
}

/** Discovery results per server, shared by all clients of a process: `server → apiVersion → kind → resource`. */
const discoveryCache = new Map<string, Map<string, Promise<Map<string, ResolvedResource>>>>()

/**
 * The real {@link ListWatchClient}: HTTP(S) to the API server of a `KubeConfig`'s
 * current context, auth applied per request (so exec-plugin and token-file credentials
 * refresh), one keep-alive agent, discovery to resolve `apiVersion` + `kind` (cached).
 *
 * @example
 * ```ts
 * const kc = new KubeConfig(); kc.loadFromDefault()
 * const client = new HttpListWatchClient(kc, { apiVersion: 'v1', kind: 'Pod', namespace: 'default' })
 * const page = await client.list({ limit: 500 }, AbortSignal.timeout(30_000))
 * ```
 */
export class HttpListWatchClient implements ListWatchClient {
  readonly #kc: KubeConfig
  readonly #target: ResourceTarget
  readonly #server: URL
  readonly #maxBodyBytes: number
  #agent: http.Agent | undefined
  #resolved: Promise<ResolvedResource> | undefined

  constructor(kc: KubeConfig, target: ResourceTarget, options: HttpListWatchClientOptions = {}) {
    const cluster = kc.getCurrentCluster()
    if (!cluster) throw new TypeError('kubeconfig has no current cluster')
    this.#kc = kc
    this.#target = target
    this.#server = new URL(cluster.server)
    this.#maxBodyBytes = options.maxBodyBytes ?? 512 * 1024 * 1024
    this.#agent = options.agent
  }

  /** Resolves (once, cached) the resource path through discovery or the explicit path. */
  resolve(): Promise<ResolvedResource> {
    this.#resolved ??= this.#resolve()
    // A failed discovery is retried on the next request, not cached.
    this.#resolved.catch(() => {
      this.#resolved = undefined
    })
    return this.#resolved
  }

  async list(params: ListParams, signal: AbortSignal): Promise<ListPage> {
    const resource = await this.resolve()
    const query = new URLSearchParams()
    query.set('limit', String(params.limit))
    if (params.continueToken !== undefined) query.set('continue', params.continueToken)
    if (params.resourceVersion !== undefined) query.set('resourceVersion', params.resourceVersion)
    this.#selectors(query)
    const res = await this.#get(this.#collectionPath(resource), query, signal)
    const body = await readBody(res, this.#maxBodyBytes)
    const list = JSON.parse(body.toString('utf8')) as {
      apiVersion?: string
      kind?: string
      metadata?: { resourceVersion?: string; continue?: string }
      items?: KubeObject[] | null
    }
    const items = list.items ?? []
    // List items carry no apiVersion/kind; fill them in so list and watch objects have one shape.
    const apiVersion = list.apiVersion ?? resource.apiVersion
    const kind = list.kind?.endsWith('List') ? list.kind.slice(0, -4) : resource.kind
    for (const item of items) {
      if (item.apiVersion === undefined && apiVersion !== undefined) item.apiVersion = apiVersion
      if (item.kind === undefined && kind !== undefined) item.kind = kind
    }
    return { items, resourceVersion: list.metadata?.resourceVersion ?? '', continueToken: list.metadata?.continue || undefined }
  }

  async watch(params: WatchParams, signal: AbortSignal): Promise<AsyncIterable<Uint8Array>> {
    const resource = await this.resolve()
    const query = new URLSearchParams()
    query.set('watch', 'true')
    if (params.resourceVersion !== undefined) query.set('resourceVersion', params.resourceVersion)
    query.set('allowWatchBookmarks', 'true')
    query.set('timeoutSeconds', String(params.timeoutSeconds))
    if (params.sendInitialEvents) query.set('sendInitialEvents', 'true')
    if (params.resourceVersionMatch) query.set('resourceVersionMatch', params.resourceVersionMatch)
    this.#selectors(query)
    const res = await this.#get(this.#collectionPath(resource), query, signal)
    return { [Symbol.asyncIterator]: () => responseChunks(res) }
  }

  async #resolve(): Promise<ResolvedResource> {
    const target = this.#target
    if (target.path !== undefined) {
      const path = target.path.replace(/\/+$/, '')
      const slash = path.lastIndexOf('/')
      return {
        groupVersionPath: path.slice(0, slash),
        plural: path.slice(slash + 1),
        namespaced: target.namespaced ?? true,
        apiVersion: target.apiVersion,
        kind: target.kind,
      }
    }
    let found = (await this.#discover(target.apiVersion)).get(target.kind)
    if (!found) {
      // The cached answer may predate a CRD installed since: ask once more.
      discoveryCache.get(this.#server.href)?.delete(target.apiVersion)
      found = (await this.#discover(target.apiVersion)).get(target.kind)
    }
    if (!found) {
      throw new ApiStatusError(404, `the server has no resource of kind ${target.kind} in ${target.apiVersion} (is the CRD installed?)`, {
        reason: 'NotFound',
      })
    }
    return found
  }

  #discover(apiVersion: string): Promise<Map<string, ResolvedResource>> {
    let perServer = discoveryCache.get(this.#server.href)
    if (!perServer) discoveryCache.set(this.#server.href, (perServer = new Map()))
    let pending = perServer.get(apiVersion)
    if (!pending) {
      pending = this.#fetchDiscovery(apiVersion)
      perServer.set(apiVersion, pending)
      pending.catch(() => perServer.delete(apiVersion))
    }
    return pending
  }

  async #fetchDiscovery(apiVersion: string): Promise<Map<string, ResolvedResource>> {
    const groupVersionPath = apiVersion.includes('/') ? `/apis/${apiVersion}` : `/api/${apiVersion}`
    const res = await this.#get(groupVersionPath, new URLSearchParams(), AbortSignal.timeout(30_000))
    const body = JSON.parse((await readBody(res, 16 * 1024 * 1024)).toString('utf8')) as {
      resources?: { name: string; kind: string; namespaced: boolean }[]
    }
    const byKind = new Map<string, ResolvedResource>()
    for (const r of body.resources ?? []) {
      if (r.name.includes('/')) continue // subresources such as pods/status
      byKind.set(r.kind, { groupVersionPath, plural: r.name, namespaced: r.namespaced, apiVersion, kind: r.kind })
    }
    return byKind
  }

  #collectionPath(resource: ResolvedResource): string {
    const namespace = this.#target.namespace
    if (namespace && resource.namespaced) {
      return `${resource.groupVersionPath}/namespaces/${encodeURIComponent(namespace)}/${resource.plural}`
    }
    return `${resource.groupVersionPath}/${resource.plural}`
  }

  #selectors(query: URLSearchParams): void {
    if (this.#target.labelSelector) query.set('labelSelector', this.#target.labelSelector)
    if (this.#target.fieldSelector) query.set('fieldSelector', this.#target.fieldSelector)
  }

  /** A GET with auth applied; resolves with a 2xx response, throws `ApiStatusError` otherwise. */
  async #get(path: string, query: URLSearchParams, signal: AbortSignal): Promise<http.IncomingMessage> {
    signal.throwIfAborted()
    const url = new URL(this.#server.href)
    url.pathname = joinPath(url.pathname, path)
    url.search = query.toString()
    const options: https.RequestOptions = { method: 'GET', headers: { Accept: 'application/json' } }
    await applyAuth(this.#kc, options, url)
    // Stopped while credentials were applied (an exec plugin may take seconds): send nothing,
    // or a watch would outlive its runner's stop and keep the process alive.
    signal.throwIfAborted()
    const agent = (this.#agent ??= sharedAgent(this.#kc, url, options))
    // A proxy agent from client-node wins over ours; otherwise use the shared keep-alive agent.
    const hasProxy = Boolean(this.#kc.getCurrentCluster()?.proxyUrl)
    if (!hasProxy) options.agent = agent
    const transport = url.protocol === 'https:' ? https : http
    const res = await new Promise<http.IncomingMessage>((resolve, reject) => {
      // Not `signal` as a request option: Node keeps that listener after the response ended,
      // and a late abort would then destroy a keep-alive socket already serving another request.
      let response: http.IncomingMessage | undefined
      const req = transport.request(url, options, (res) => {
        response = res
        resolve(res)
      })
      const onAbort = () => {
        // A response already read to its end has handed its socket back to the agent: leave it.
        if (response?.complete) return
        const reason = signal.reason instanceof Error ? signal.reason : new Error('aborted')
        if (response) response.destroy(reason)
        else req.destroy(reason)
      }
      signal.addEventListener('abort', onAbort, { once: true })
      req.once('close', () => signal.removeEventListener('abort', onAbort))
      req.on('error', reject)
      req.end()
    })
    // Aborting a request destroys its response with an AbortError; whoever reads the body
    // sees it through the iterator, so an otherwise unobserved 'error' must not crash the process.
    res.on('error', ignore)
    const status = res.statusCode ?? 0
    if (status >= 200 && status < 300) return res
    throw await statusError(res, status)
  }
}

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

/** Keep-alive agents per KubeConfig and server origin, shared by the clients built from one KubeConfig. */
const agents = new WeakMap<KubeConfig, Map<string, http.Agent>>()

function sharedAgent(kc: KubeConfig, url: URL, options: https.RequestOptions): http.Agent {
  let perOrigin = agents.get(kc)
  if (!perOrigin) agents.set(kc, (perOrigin = new Map()))
  let agent = perOrigin.get(url.origin)
  if (!agent) perOrigin.set(url.origin, (agent = keepAliveAgent(url, options)))
  return agent
}

function keepAliveAgent(url: URL, options: https.RequestOptions): http.Agent {
  // No maxSockets: every open watch holds a socket for minutes; a cap would queue the rest.
  const common = { keepAlive: true, keepAliveMsecs: 30_000 }
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

async function readBody(res: http.IncomingMessage, max: number): Promise<Buffer> {
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

/** Builds an `ApiStatusError` from a non-2xx response, reading a `metav1.Status` body if any. */
async function statusError(res: http.IncomingMessage, status: number): Promise<ApiStatusError> {
  const retryAfter = parseRetryAfter(res.headers['retry-after'])
  let reason: string | undefined
  let message = `HTTP ${status}`
  try {
    const body = await readBody(res, 64 * 1024)
    const parsed = JSON.parse(body.toString('utf8')) as { reason?: unknown; message?: unknown }
    if (typeof parsed.reason === 'string') reason = parsed.reason
    if (typeof parsed.message === 'string') message = `HTTP ${status}: ${parsed.message.slice(0, 500)}`
  } catch {
    // Not a Status body (a proxy's HTML page, a cut connection): the status code says enough.
  }
  return new ApiStatusError(status, message, { retryAfterSeconds: retryAfter, reason })
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
