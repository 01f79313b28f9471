/**
 * The Manager's webhook server (controller-runtime `pkg/webhook`): HTTPS only, serving
 * `admission.k8s.io/v1` `AdmissionReview` POSTs at registered paths, on every replica
 * (webhooks are not leader-only: any replica behind the Service may be called).
 *
 * - **Certificates**: `tls.crt` and `tls.key` in `certDir` (controller-runtime's `CertDir`,
 *   default `/tmp/k8s-webhook-server/serving-certs`, flag `--webhook-cert-dir`). They are
 *   read at start (a missing or bad pair fails the start) and again whenever the directory
 *   changes (`fs.watch`: cert-manager and the kubelet swap a Secret volume's `..data`
 *   symlink) and every `certPollIntervalMs` (10 s, controller-runtime's certwatcher
 *   polls too, as events can be missed); a changed pair goes live for new connections with
 *   `server.setSecureContext`. A pair that does not load (a key that does not match its
 *   certificate, mid-rotation) is logged and the previous pair kept.
 * - **Requests**: POST with `Content-Type: application/json` and an `AdmissionReview` of
 *   `admission.k8s.io/v1` with a `request.uid`. Anything else is answered with HTTP 400 (405
 *   for another method, 404 for an unregistered path, 413 above 7 MiB, the limit of
 *   controller-runtime's webhook) and a `Status` body naming the problem, and logged; it
 *   never reaches the handler and never stops the server.
 * - **Handlers** return an {@link AdmissionResult}; the server answers with the review's
 *   `uid`, and a JSON Patch base64-encoded with `patchType: JSONPatch`. A handler that
 *   throws (or rejects) gets `allowed: false` with `status.code` 500 and the error's message
 *   (controller-runtime's `admission.Errored`): what the API server does then is the
 *   webhook configuration's `failurePolicy` — `Fail` rejects the write, `Ignore` lets it through
 *   unmutated (only for a failed *call*: an answer of `allowed: false` always rejects).
 *   The API server's `?timeout=10s` (the configuration's `timeoutSeconds`) aborts the
 *   handler's `signal` when it runs out.
 *
 * Readiness: the Manager adds a `webhook` readyz check that dials the server with TLS
 * (controller-runtime's `StartedChecker`).
 */
import { watch as watchDir, type FSWatcher } from 'node:fs'
import { readFile } from 'node:fs/promises'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { createServer, type Server } from 'node:https'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import { connect, createSecureContext } from 'node:tls'
import { KubevisorError } from '../errors.ts'
import { defaultLogger, type Logger } from '../log.ts'
import { type Clock, systemClock } from '../time/clock.ts'
import { parseDuration } from './flags.ts'

/** controller-runtime's default webhook port. */
export const DEFAULT_WEBHOOK_PORT = 9443

/** controller-runtime's default `CertDir`. */
export const DEFAULT_WEBHOOK_CERT_DIR = '/tmp/k8s-webhook-server/serving-certs'

/** How often the certificate files are compared with the ones served (controller-runtime's certwatcher: 10 s). */
export const DEFAULT_CERT_POLL_INTERVAL_MS = 10_000

/** The largest AdmissionReview body read (controller-runtime: 7 MiB); larger ones get 413. */
export const MAX_ADMISSION_REVIEW_BYTES = 7 * 1024 * 1024

/** The webhook server cannot be configured or started as asked (`ERR_INVALID_WEBHOOK`). */
export class InvalidWebhookError extends KubevisorError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_INVALID_WEBHOOK', message, options)
  }
}

/** `metav1.GroupVersionKind` as an AdmissionRequest carries it. */
export interface GroupVersionKind {
  /** The API group (`''` for the core group). */
  group: string
  /** The version (`v1`). */
  version: string
  /** The kind (`ConfigMap`). */
  kind: string
}

/** `metav1.GroupVersionResource` as an AdmissionRequest carries it. */
export interface GroupVersionResource {
  /** The API group (`''` for the core group). */
  group: string
  /** The version (`v1`). */
  version: string
  /** The resource, plural (`configmaps`). */
  resource: string
}

/** Who made the request (`authentication/v1` `UserInfo`). */
export interface AdmissionUserInfo {
  /** The user's name. */
  username?: string
  /** The user's uid. */
  uid?: string
  /** The user's groups. */
  groups?: string[]
  /** Further attributes from the authenticator. */
  extra?: Record<string, string[]>
}

/** The `request` of an `admission.k8s.io/v1` AdmissionReview (the fields kube-apiserver sends). */
export interface AdmissionRequest {
  /** Echoed in the response: it ties the answer to the call. */
  uid: string
  /** The kind of the object as the webhook is asked about it (after `matchPolicy: Equivalent` conversion). */
  kind: GroupVersionKind
  /** The resource being written. */
  resource: GroupVersionResource
  /** `status`, `scale`, ... when a subresource is written. */
  subResource?: string
  /** The kind the client wrote, when it differs from `kind`. */
  requestKind?: GroupVersionKind
  /** The resource the client wrote to, when it differs from `resource`. */
  requestResource?: GroupVersionResource
  /** The object's name; empty on a create with `generateName` (the name is generated after admission). */
  name?: string
  /** The namespace of the request (the object's own `metadata.namespace` may be empty on create). */
  namespace?: string
  /** What is being done. */
  operation: 'CREATE' | 'UPDATE' | 'DELETE' | 'CONNECT'
  /** Who does it. */
  userInfo?: AdmissionUserInfo
  /** The object as it will be stored (CREATE, UPDATE). */
  object?: Record<string, unknown> | null
  /** The stored object (UPDATE, DELETE). */
  oldObject?: Record<string, unknown> | null
  /** A dry run: nothing is persisted (webhooks with side effects must not act). */
  dryRun?: boolean
  /** The operation's options (`CreateOptions`, `UpdateOptions`, `DeleteOptions`). */
  options?: Record<string, unknown> | null
}

/** One JSON Patch (RFC 6902) operation. */
export interface JsonPatchOperation {
  /** The operation. */
  op: 'add' | 'remove' | 'replace' | 'move' | 'copy' | 'test'
  /** A JSON Pointer (RFC 6901: `/` in a key is written `~1`, `~` is `~0`). */
  path: string
  /** The value (`add`, `replace`, `test`). */
  value?: unknown
  /** The source pointer (`move`, `copy`). */
  from?: string
}

/** The `status` of an admission response (a `metav1.Status`'s fields). */
export interface AdmissionStatus {
  /** An HTTP status code (kube-apiserver answers a denial with it; below 400 becomes 400). */
  code?: number
  /** The message the client sees. */
  message?: string
  /** A machine-readable reason (`Forbidden`, ...). */
  reason?: string
}

/** What an {@link AdmissionHandler} decides (controller-runtime `admission.Response`, without the uid). */
export interface AdmissionResult {
  /** Whether the write may proceed. */
  allowed: boolean
  /** Why (a denial's message goes to the client). */
  status?: AdmissionStatus
  /** A mutation, as JSON Patch operations on `request.object`; sent base64 with `patchType: JSONPatch`. */
  patch?: JsonPatchOperation[]
  /** Warnings shown to the client (kubectl prints them). */
  warnings?: string[]
}

/** What a handler gets besides the request. */
export interface AdmissionContext {
  /** Aborted when the API server's `timeout` runs out or the server stops. */
  signal: AbortSignal
  /** A logger naming the webhook path and the request uid. */
  log: Logger
}

/** A webhook: the decision for one AdmissionRequest. Throwing answers `allowed: false` (see the module header). */
export type AdmissionHandler = (request: AdmissionRequest, context: AdmissionContext) => AdmissionResult | Promise<AdmissionResult>

/** Options of {@link WebhookServer} (controller-runtime `webhook.Options`). */
export interface WebhookServerOptions {
  /** Interface to listen on; default every interface (as controller-runtime). Tests: `127.0.0.1`. */
  host?: string
  /** Default {@link DEFAULT_WEBHOOK_PORT}; 0 picks a free port (see {@link WebhookServer.port}). */
  port?: number
  /** Where `tls.crt` and `tls.key` are. Default {@link DEFAULT_WEBHOOK_CERT_DIR}. */
  certDir?: string
  /** Default `tls.crt`. */
  certName?: string
  /** Default `tls.key`. */
  keyName?: string
  /** Default {@link DEFAULT_CERT_POLL_INTERVAL_MS}; 0 turns polling off (the directory watch stays). */
  certPollIntervalMs?: number
  /** The poll timer's clock. Default the system clock. */
  clock?: Clock
  /** Where it logs (the Manager passes its own). Default kubevisor's default logger. */
  logger?: Logger
}

/**
 * An HTTPS server for admission webhooks. A Manager makes one when given `webhook` options
 * (see `Manager.registerWebhook`); it can also run on its own.
 *
 * @example
 * ```ts
 * const server = new WebhookServer({ certDir: '/certs', port: 9443 })
 * server.register('/mutate-sites', (request) => ({ allowed: true, patch: [{ op: 'add', path: '/metadata/labels', value: { team: 'web' } }] }))
 * await server.start()
 * ```
 */
export class WebhookServer {
  readonly #opts: WebhookServerOptions
  readonly #log: Logger
  readonly #clock: Clock
  readonly #hooks = new Map<string, AdmissionHandler>()
  #server: Server | undefined
  #watcher: FSWatcher | undefined
  #timer: unknown
  #pem: { cert: string; key: string } | undefined
  #reloading: Promise<boolean> | undefined
  #closing = new AbortController()

  constructor(options: WebhookServerOptions = {}) {
    const port = options.port ?? DEFAULT_WEBHOOK_PORT
    if (!Number.isInteger(port) || port < 0 || port > 65535) throw new InvalidWebhookError(`webhook port must be an integer 0..65535, got ${String(options.port)}`)
    if (options.certPollIntervalMs !== undefined && !(options.certPollIntervalMs >= 0)) throw new InvalidWebhookError(`certPollIntervalMs must be >= 0, got ${String(options.certPollIntervalMs)}`)
    this.#opts = { ...options, port }
    this.#log = (options.logger ?? defaultLogger()).child({ component: 'webhook-server' })
    this.#clock = options.clock ?? systemClock
  }

  /** The directory certificates are read from. */
  get certDir(): string {
    return this.#opts.certDir ?? DEFAULT_WEBHOOK_CERT_DIR
  }

  /** The port it listens on (the real one once started with port 0). */
  get port(): number {
    const address = this.#server?.address() as AddressInfo | null | undefined
    return address?.port ?? (this.#opts.port as number)
  }

  /** Whether it listens now. */
  get listening(): boolean {
    return this.#server?.listening === true
  }

  /** The registered paths. */
  get paths(): string[] {
    return [...this.#hooks.keys()]
  }

  /** Serves `handler` at `path` (controller-runtime `Server.Register`); a path is registered once. */
  register(path: string, handler: AdmissionHandler): void {
    if (typeof path !== 'string' || !path.startsWith('/') || /[?#\s]/.test(path)) throw new InvalidWebhookError(`a webhook path must start with '/' and hold no '?', '#' or spaces, got ${JSON.stringify(path)}`)
    if (typeof handler !== 'function') throw new InvalidWebhookError(`the webhook at ${path} needs a handler function`)
    if (this.#hooks.has(path)) throw new InvalidWebhookError(`a webhook is registered at ${path} already`)
    this.#hooks.set(path, handler)
  }

  /** Reads the certificate pair, listens, and starts watching the certificate directory. Rejects if the pair is unreadable or the port taken. */
  async start(): Promise<void> {
    if (this.#server) throw new InvalidWebhookError('a webhook server starts once')
    this.#closing = new AbortController()
    const pem = await this.#readPair()
    const server = createServer({ cert: pem.cert, key: pem.key, minVersion: 'TLSv1.2' }, (req, res) => {
      this.#handle(req, res).catch((err: unknown) => {
        this.#log.error({ err }, 'webhook request failed')
        if (!res.headersSent) sendStatus(res, 500, 'InternalError', `internal error: ${(err as Error)?.message ?? String(err)}`)
        else res.destroy()
      })
    })
    server.keepAliveTimeout = 5_000
    // A failed handshake (a client not trusting the CA) is the client's problem: log, never crash.
    server.on('tlsClientError', (err) => this.#log.debug({ err: err.message }, 'webhook TLS handshake failed'))
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(this.#opts.port, this.#opts.host, () => {
        server.off('error', reject)
        resolve()
      })
    })
    // After listening, a server error (e.g. out of file descriptors on accept) is logged, never thrown.
    server.on('error', (err) => this.#log.error({ err }, 'webhook server error'))
    this.#server = server
    this.#pem = pem
    try {
      this.#watcher = watchDir(this.certDir, { persistent: false }, () => void this.reloadCertificate())
      this.#watcher.on('error', (err) => this.#log.warn({ err: err.message }, 'cannot watch the certificate directory; polling only'))
    } catch (err) {
      this.#log.warn({ err: (err as Error).message }, 'cannot watch the certificate directory; polling only')
    }
    this.#schedulePoll()
    this.#log.info({ port: this.port, certDir: this.certDir, paths: this.paths }, 'serving webhooks')
  }

  /** Stops listening (open connections are closed) and stops watching the certificates; in-flight handlers' signals abort. */
  async stop(): Promise<void> {
    const server = this.#server
    this.#server = undefined
    this.#watcher?.close()
    this.#watcher = undefined
    this.#clock.clearTimeout(this.#timer)
    this.#closing.abort(new InvalidWebhookError('the webhook server stopped'))
    if (!server) return
    await new Promise<void>((resolve) => {
      server.close(() => resolve())
      server.closeAllConnections()
    })
  }

  /**
   * Reads the certificate pair again and serves it to new connections if it changed.
   * Resolves `true` when a new pair went live, `false` when nothing changed or the new
   * pair does not load (then the previous one stays, and the failure is logged).
   */
  reloadCertificate(): Promise<boolean> {
    // One read at a time; a change during a read is caught by the next event or poll.
    this.#reloading ??= this.#reload().finally(() => {
      this.#reloading = undefined
    })
    return this.#reloading
  }

  /** Dials the server with TLS and resolves once the handshake completes (the Manager's readiness check). */
  checkServing(timeoutMs = 1_000): Promise<void> {
    if (!this.listening) return Promise.reject(new InvalidWebhookError('the webhook server is not listening'))
    const address = this.#server?.address() as AddressInfo
    const host = !this.#opts.host || address.address === '::' || address.address === '0.0.0.0' ? '127.0.0.1' : address.address
    return new Promise((resolve, reject) => {
      const socket = connect({ host, port: address.port, rejectUnauthorized: false, servername: 'localhost' }, () => {
        socket.end()
        resolve()
      })
      socket.setTimeout(timeoutMs, () => socket.destroy(new InvalidWebhookError(`webhook server TLS handshake took longer than ${timeoutMs} ms`)))
      socket.once('error', reject)
    })
  }

  async #reload(): Promise<boolean> {
    const server = this.#server
    if (!server) return false
    let pem: { cert: string; key: string }
    try {
      pem = await this.#readPair()
    } catch (err) {
      this.#log.error({ err: (err as Error).message }, 'cannot load the new webhook certificate; serving the previous one')
      return false
    }
    if (pem.cert === this.#pem?.cert && pem.key === this.#pem?.key) return false
    server.setSecureContext({ cert: pem.cert, key: pem.key, minVersion: 'TLSv1.2' })
    this.#pem = pem
    this.#log.info({ certDir: this.certDir }, 'webhook certificate reloaded')
    return true
  }

  #schedulePoll(): void {
    const every = this.#opts.certPollIntervalMs ?? DEFAULT_CERT_POLL_INTERVAL_MS
    if (every === 0 || !this.#server) return
    this.#timer = this.#clock.setTimeout(() => {
      void this.reloadCertificate().finally(() => this.#schedulePoll())
    }, every)
  }

  /** Both files, checked to form a usable pair (a key that does not match its certificate throws here). */
  async #readPair(): Promise<{ cert: string; key: string }> {
    const certPath = join(this.certDir, this.#opts.certName ?? 'tls.crt')
    const keyPath = join(this.certDir, this.#opts.keyName ?? 'tls.key')
    let cert: string
    let key: string
    try {
      ;[cert, key] = await Promise.all([readFile(certPath, 'utf8'), readFile(keyPath, 'utf8')])
    } catch (err) {
      throw new InvalidWebhookError(`cannot read the webhook certificate pair ${certPath} and ${keyPath}: ${(err as Error).message}`, { cause: err })
    }
    try {
      createSecureContext({ cert, key })
    } catch (err) {
      throw new InvalidWebhookError(`the webhook certificate pair in ${this.certDir} does not load: ${(err as Error).message}`, { cause: err })
    }
    return { cert, key }
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'https://localhost')
    const handler = this.#hooks.get(url.pathname)
    if (!handler) return sendStatus(res, 404, 'NotFound', `no webhook is registered at ${url.pathname}`)
    if (req.method !== 'POST') return sendStatus(res, 405, 'MethodNotAllowed', `webhooks take POST, got ${req.method}`)
    const contentType = (req.headers['content-type'] ?? '').split(';')[0]?.trim()
    if (contentType !== 'application/json') return this.#bad(res, url.pathname, `contentType=${contentType || '(none)'}, expected application/json`)
    const body = await readBody(req, MAX_ADMISSION_REVIEW_BYTES)
    if (body === undefined) return sendStatus(res, 413, 'RequestEntityTooLarge', `the AdmissionReview exceeds ${MAX_ADMISSION_REVIEW_BYTES} bytes`)
    if (body.length === 0) return this.#bad(res, url.pathname, 'request body is empty')
    const parsed = parseReview(body)
    if (typeof parsed === 'string') return this.#bad(res, url.pathname, parsed)
    const request = parsed
    const timeoutMs = timeoutOf(url.searchParams.get('timeout'))
    const timeout = new AbortController()
    const timer = timeoutMs !== undefined ? this.#clock.setTimeout(() => timeout.abort(new InvalidWebhookError(`the API server's timeout of ${timeoutMs} ms ran out`)), timeoutMs) : undefined
    const log = this.#log.child({ webhook: url.pathname, uid: request.uid })
    let result: AdmissionResult
    try {
      result = await handler(request, { signal: AbortSignal.any([this.#closing.signal, timeout.signal]), log })
      if (!result || typeof result.allowed !== 'boolean') throw new InvalidWebhookError('the handler returned no AdmissionResult ({ allowed: boolean, ... })')
    } catch (err) {
      log.error({ err }, 'webhook handler failed')
      result = { allowed: false, status: { code: 500, message: (err as Error)?.message ?? String(err) } }
    } finally {
      if (timer !== undefined) this.#clock.clearTimeout(timer)
    }
    const response: Record<string, unknown> = { uid: request.uid, allowed: result.allowed }
    if (result.status) response.status = result.status
    if (result.warnings?.length) response.warnings = result.warnings
    if (result.patch?.length) {
      response.patchType = 'JSONPatch'
      response.patch = Buffer.from(JSON.stringify(result.patch)).toString('base64')
    }
    const out = JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response })
    res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(out) })
    res.end(out)
  }

  #bad(res: ServerResponse, path: string, message: string): void {
    this.#log.warn({ webhook: path, problem: message }, 'bad AdmissionReview request')
    sendStatus(res, 400, 'BadRequest', message)
  }
}

/** The AdmissionRequest of a body, or what is wrong with it. */
export function parseReview(body: Buffer | string): AdmissionRequest | string {
  let review: unknown
  try {
    review = JSON.parse(typeof body === 'string' ? body : body.toString('utf8'))
  } catch (err) {
    return `the body is not JSON: ${(err as Error).message}`
  }
  if (!review || typeof review !== 'object' || Array.isArray(review)) return 'the body is not a JSON object'
  const r = review as { apiVersion?: unknown; kind?: unknown; request?: unknown }
  if (r.kind !== 'AdmissionReview' || r.apiVersion !== 'admission.k8s.io/v1') {
    return `expected an AdmissionReview of admission.k8s.io/v1 (set admissionReviewVersions: [v1] in the webhook configuration), got kind ${JSON.stringify(r.kind)} apiVersion ${JSON.stringify(r.apiVersion)}`
  }
  const request = r.request as Partial<AdmissionRequest> | undefined
  if (!request || typeof request !== 'object') return 'the AdmissionReview has no request'
  if (typeof request.uid !== 'string' || request.uid === '') return 'the AdmissionReview request has no uid'
  if (typeof request.operation !== 'string') return 'the AdmissionReview request has no operation'
  if (!request.kind || typeof request.kind.kind !== 'string') return 'the AdmissionReview request has no kind'
  return request as AdmissionRequest
}

/** The API server's `?timeout=` (a Go duration), in ms. */
function timeoutOf(text: string | null): number | undefined {
  if (!text) return undefined
  try {
    const ms = parseDuration(text)
    return ms > 0 ? ms : undefined
  } catch {
    return undefined
  }
}

/** The body, or undefined once it exceeds `limit` bytes (the rest is not read). */
function readBody(req: IncomingMessage, limit: number): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    let size = 0
    req.on('data', (chunk: Buffer) => {
      size += chunk.length
      if (size > limit) {
        req.removeAllListeners('data')
        req.resume()
        resolve(undefined)
        return
      }
      chunks.push(chunk)
    })
    req.on('end', () => resolve(size > limit ? undefined : Buffer.concat(chunks)))
    req.on('error', reject)
  })
}

function sendStatus(res: ServerResponse, code: number, reason: string, message: string): void {
  const body = JSON.stringify({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code })
  res.writeHead(code, { 'Content-Type': 'application/json', 'X-Content-Type-Options': 'nosniff', 'Content-Length': Buffer.byteLength(body) })
  res.end(body)
}
