/**
 * `startApiServer`: the embedded Kubernetes API server, in-process over real HTTP(S), and
 * its fault-injection API. See the README section "Testing with the embedded API server".
 */
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { createServer as createHttpsServer } from 'node:https'
import type { AddressInfo } from 'node:net'
import { KubeConfig } from '@kubernetes/client-node'
import type { Logger } from '../../log.ts'
import { type Clock, sleep, systemClock } from '../../time/clock.ts'
import {
  type DelayOptions,
  type FailNextOptions,
  matchWatch,
  RequestFaults,
  type RequestInfo,
  type WatchMatcher,
} from './faults.ts'
import { type DeleteOptions, type FieldValidation, type ListOptions, type ListResult, Rest, resourceKey, validateListOptions, type WriteOptions } from './rest.ts'
import { type ResourceDef, ResourceRegistry } from './resources.ts'
import { openApiDocument, openApiIndex } from './openapi.ts'
import { OPENAPI_V2_PROTOBUF_CONTENT_TYPE, OpenApiV2Cache } from './openapi-v2.ts'
import { checkListConversion, checkObjectConversion, type PartialConversion, partialConversion, partialListJson, toPartial } from './partial.ts'
import { decodeProtobuf, encodeProtobuf, encodeProtobufList, PROTOBUF_CONTENT_TYPE, prefersProtobuf } from './protobuf.ts'
import { route } from './routes.ts'
import {
  type ApiServerUser,
  type Authorizer,
  authenticate,
  decide,
  forbiddenFor,
  isReview,
  requestAttributes,
  review,
  type UserInfo,
} from './authz.ts'
import { handleKubeletSubresource, KUBELET_SUBRESOURCES } from './kubelet.ts'
import { handleScale } from './scale.ts'
import {
  ApiServerStatusError,
  badRequest,
  entityTooLarge,
  internalError,
  invalid,
  methodNotAllowed,
  pageNotFound,
  pathNotFound,
  type Status,
  statusFor,
  tooOldResourceVersion,
  unauthorized,
  unsupported,
  unsupportedMediaType,
} from './status.ts'
import { objectJson, VersionedStore } from './store.ts'
import { type IncludeObject, toTable, wantsTable } from './table.ts'
import { generateTls } from './tls.ts'
import type { KubeObject, KubeObjectInput } from './types.ts'
import { type WatchInfo, WatchStream, wantsProtobufWatch } from './watch.ts'
import { ClusterControllers } from './gc.ts'
import { type AdmissionSource, admit, matchingWebhooks } from './admission.ts'

/** Options of {@link startApiServer}; every field is optional. */
export interface ApiServerOptions {
  /** TCP port on 127.0.0.1; default 0 (a free port). */
  port?: number
  /**
   * Serve HTTPS with a generated CA (the returned kubeConfig trusts it): ECDSA P-256, a server
   * certificate for `127.0.0.1` and `localhost`, valid one year. Default false.
   */
  tls?: boolean
  /** Require `Authorization: Bearer <token>` (401 otherwise). Default: no authentication. */
  token?: string
  /**
   * More users, each with a bearer token and groups (the `token` user is `kubevisor` in
   * `system:masters`). Seen by `authorizer`, SelfSubjectAccessReview and `kubectl auth whoami`.
   */
  users?: ApiServerUser[]
  /**
   * Decides each request of a user outside `system:masters` (403 Forbidden when it answers
   * false) and answers SelfSubjectAccessReview (`kubectl auth can-i`). Default: everything allowed.
   */
  authorizer?: Authorizer
  /** Events kept per resource for watch resumption and exact lists (the watch cache window). Default 10000. */
  historySize?: number
  /** Interval of BOOKMARK events on watches that allow them. Default 60000 ms (about the real server's). */
  bookmarkIntervalMs?: number
  /**
   * Events a watch may have waiting while its client is not reading before the server
   * closes that watch (a clean end; the client watches again from its last resourceVersion),
   * as kube-apiserver's watch cache closes watchers that cannot keep up. Default 10000
   * (the real server's buffers are smaller: 10–1000 events, with a short grace time).
   */
  maxWatchBacklog?: number
  /** Largest request body accepted (413 beyond). Default 3 MiB, like kube-apiserver. */
  maxBodyBytes?: number
  /** Clock for watch timeouts, bookmarks and injected delays. Default: the system clock. */
  clock?: Clock
  /** Logger for unexpected failures (never tokens). Default: none. */
  logger?: Logger
  /** Size of the request log kept for assertions. Default 1000. */
  requestLogSize?: number
  /**
   * Run the garbage collector and namespace controller of kube-controller-manager (gc.ts):
   * owner references are honoured and deleted namespaces drain and go, asynchronously.
   * `false` behaves like kube-apiserver alone: a deleted namespace stays Terminating and
   * `orphan` / `foregroundDeletion` finalizers stay until a client removes them. Default true.
   */
  controllers?: boolean
}

/** Counters useful to tests. */
export interface ApiServerStats {
  /** Requests received (all paths, including failed and faulted ones). */
  requests: number
  /** Watch streams opened since start. */
  watchesOpened: number
  /** Watch streams open now. */
  watchesOpen: number
  /** Watch events written to clients (bookmarks and errors included). */
  watchEventsSent: number
  /** Watches closed because their client did not read fast enough (see `maxWatchBacklog`). */
  watchesClosedSlow: number
}

/** One entry of the request log. */
export interface RequestRecord {
  /** `GET`, `POST`, … */
  method: string
  /** The URL path, e.g. `/api/v1/namespaces/default/pods`. */
  path: string
  /** The query string without `?` (`watch=true&resourceVersion=…`). */
  query: string
  /** HTTP status sent (0 if the connection was dropped before a status). */
  status: number
  /** Whether it was a watch. */
  watch: boolean
}

/** Options of {@link ApiServer.injectWatchError}. */
export interface InjectWatchErrorOptions {
  /** Which open watches get it (default: all). */
  match?: WatchMatcher
  /** HTTP-style code in the Status (default 410). */
  code?: number
  /** Status reason (default `Expired` for 410, else `InternalError`). */
  reason?: string
  /** Status message (default `too old resource version: ...` for 410). */
  message?: string
  /** Close the stream after the event, as the real server does (default true). */
  close?: boolean
}

/**
 * Copying of the in-process object API. By default objects are copied in and out, so
 * callers can mutate what they pass and get. `zeroCopy: true` skips both copies (several
 * times faster, for benchmarks that generate events in the server's process): the server
 * takes ownership of the object passed (do not touch it afterwards) and returns the stored
 * object itself, which must be treated as read-only (mutating it corrupts the store). It
 * also skips field-ownership bookkeeping: the object keeps the `metadata.managedFields` it
 * is given (none on a create), where HTTP writes and copying calls record their manager.
 */
export interface CopyOptions {
  /** Skip the copies (default false). */
  zeroCopy?: boolean
}

/** A reference to one object for the in-process object API. */
export interface ObjectRef {
  /** e.g. `v1`, `apps/v1`. */
  apiVersion: string
  /** e.g. `ConfigMap`. */
  kind: string
  /** The object's name. */
  name: string
  /** Default `default` for namespaced kinds; ignored for cluster-scoped ones. */
  namespace?: string
}

/**
 * A running embedded API server. Talk to it over HTTP with `kubeConfig` (any client, or
 * kubectl with {@link ApiServer.kubeConfigYaml}); seed and inspect it in-process with the
 * object methods; break it on purpose with the fault methods.
 */
export interface ApiServer {
  /** Base URL, e.g. `http://127.0.0.1:41234`. */
  readonly url: string
  /** Port bound on 127.0.0.1. */
  readonly port: number
  /** A client-node KubeConfig for this server (CA and token included), context namespace `default`. */
  readonly kubeConfig: KubeConfig
  /** The CA certificate (PEM) when started with `tls`. */
  readonly caCert: string | undefined
  /** The latest committed resourceVersion (cluster-wide). */
  readonly resourceVersion: number
  /** Counters (a snapshot). */
  readonly stats: ApiServerStats
  /** The last requests (oldest first), for assertions such as "re-watched from rv X". */
  readonly requestLog: readonly RequestRecord[]
  /** The kubeconfig as YAML, for kubectl or a file. */
  kubeConfigYaml(): string
  /** Stops accepting connections, ends open watches and closes every socket. */
  close(): Promise<void>

  /** Creates an object as `POST` would (same validation, events, errors); returns a copy. */
  create<T extends KubeObjectInput = KubeObject>(obj: T, options?: CopyOptions): T & KubeObject
  /** Replaces an object as `PUT` would (409 on a stale resourceVersion); returns a copy. */
  update<T extends KubeObjectInput = KubeObject>(obj: T, options?: CopyOptions): T & KubeObject
  /** Replaces an object's status as `PUT .../status` would; returns a copy. */
  updateStatus<T extends KubeObjectInput = KubeObject>(obj: T, options?: CopyOptions): T & KubeObject
  /** Deletes an object as `DELETE` would (finalizers honoured); returns the last state. */
  delete(ref: ObjectRef): KubeObject
  /** The current object (a copy), or undefined. */
  get<T extends KubeObject = KubeObject>(ref: ObjectRef, options?: CopyOptions): T | undefined
  /** Current objects of a kind, optionally in one namespace (copies, unless `zeroCopy`). */
  list<T extends KubeObject = KubeObject>(apiVersion: string, kind: string, namespace?: string, options?: CopyOptions): T[]

  /** Open watches matching `match`. */
  watches(match?: WatchMatcher): WatchInfo[]
  /** Resolves once at least `count` matching watches are open (default 1). */
  waitForWatches(count?: number, match?: WatchMatcher): Promise<WatchInfo[]>
  /**
   * Drops matching watch streams: `abrupt` (default true) destroys the socket mid-stream
   * (the client sees a network error), otherwise the response ends cleanly. Returns how many.
   */
  dropWatches(options?: { match?: WatchMatcher; abrupt?: boolean }): number
  /** Sends an ERROR event (default: 410 Expired) to matching watches, then closes them. Returns how many. */
  injectWatchError(options?: InjectWatchErrorOptions): number
  /** Sends a line that is not JSON to matching watches (they stay open). Returns how many. */
  sendMalformedLine(options?: { match?: WatchMatcher }): number
  /**
   * Stalls matching watches: open, no bytes at all (no bookmarks) until `resume()`.
   * Returns how many were stalled (`count`) and `resume()`, which lets them send again.
   */
  stallWatches(options?: { match?: WatchMatcher }): {
    /** How many watches were stalled. */
    count: number
    /** Lets them send again. */
    resume(): void
  }
  /** Answers the next `count` matching requests with 429 (+ Retry-After) or 500. */
  failNext(options?: FailNextOptions): void
  /** Delays matching responses by `ms` on the server's clock; returns a cancel function. */
  delay(options: DelayOptions): () => void
  /** Removes pending request faults (failNext, delay). */
  clearFaults(): void
  /** Forgets the event history now: watches or exact lists from any older rv get 410 Expired. */
  compact(): void
}

const DEFAULT_MAX_BODY = 3 * 1024 * 1024

function bodyType(req: IncomingMessage): string {
  return (req.headers['content-type'] ?? 'application/json').split(';')[0]!.trim().toLowerCase()
}

function readBody(req: IncomingMessage, limit: number): Promise<string> {
  return readBodyBytes(req, limit).then((b) => b.toString('utf8'))
}

function readBodyBytes(req: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length'] ?? '0')
    if (declared > limit) {
      req.resume()
      reject(entityTooLarge(limit))
      return
    }
    const chunks: Buffer[] = []
    let size = 0
    let failed = false
    req.on('data', (c: Buffer) => {
      if (failed) return
      size += c.length
      if (size > limit) {
        failed = true
        reject(entityTooLarge(limit))
        return
      }
      chunks.push(c)
    })
    let complete = false
    req.on('end', () => {
      complete = true
      if (!failed) resolve(Buffer.concat(chunks))
    })
    req.on('close', () => {
      // The client went away mid-body: nothing to answer, nothing to change.
      if (!complete && !failed) reject(badRequest('the request body was not received completely'))
    })
    req.on('error', (err) => {
      if (!failed) reject(err)
    })
  })
}

function boolParam(q: URLSearchParams, name: string): boolean | undefined {
  const v = q.get(name)
  if (v === null) return undefined
  if (v === '' || v === 'true' || v === '1') return true
  if (v === 'false' || v === '0') return false
  throw badRequest(`strconv.ParseBool: parsing ${JSON.stringify(v)}: invalid syntax`)
}

function intParam(q: URLSearchParams, name: string): number | undefined {
  const v = q.get(name)
  if (v === null || v === '') return undefined
  if (!/^-?\d+$/.test(v)) throw badRequest(`strconv.ParseInt: parsing ${JSON.stringify(v)}: invalid syntax`)
  return Number(v)
}

/** Registries that answer an immediate delete with the object instead of a Status (ReturnDeletedObject). */
const RETURNS_DELETED_OBJECT = new Set(['/pods', '/services', 'apiextensions.k8s.io/customresourcedefinitions'])

/** The options kind a write method validates (`CreateOptions`, `UpdateOptions`, `PatchOptions`, `DeleteOptions`). */
function optionsKind(method: string): string {
  return method === 'POST' ? 'CreateOptions' : method === 'PUT' ? 'UpdateOptions' : method === 'PATCH' ? 'PatchOptions' : 'DeleteOptions'
}

/** `dryRun`: absent, or `All`; anything else is 422 Invalid on the request's options, as kube-apiserver validates them. */
function dryRunParam(q: URLSearchParams, method: string): boolean {
  const values = q.getAll('dryRun')
  if (values.some((v) => v !== 'All')) {
    const shown = `[${values.map((v) => JSON.stringify(v)).join(' ')}]`
    throw invalid('meta.k8s.io', optionsKind(method), '', [
      { type: 'FieldValueNotSupported', field: 'dryRun', detail: `Unsupported value: ${shown}: supported values: "All"` },
    ])
  }
  return values.length > 0
}

/** `fieldValidation`: Strict, Warn (the default) or Ignore; else 422 Invalid options. */
function fieldValidationParam(q: URLSearchParams, method: string): FieldValidation | undefined {
  const v = q.get('fieldValidation')
  if (v === null || v === '') return undefined
  if (v === 'Strict' || v === 'Warn' || v === 'Ignore') return v
  throw invalid('meta.k8s.io', optionsKind(method), '', [unsupported('fieldValidation', v, ['', 'Ignore', 'Strict', 'Warn'])])
}

/**
 * The field manager of a write without `fieldManager`: the User-Agent up to its first `/`,
 * printable characters only, at most 128 bytes (apiserver handlers/rest.go
 * prefixFromUserAgent); `unknown` when nothing is left, as kube-apiserver records it.
 */
export function managerFromUserAgent(userAgent: string | undefined): string {
  const prefix = (userAgent ?? '').split('/')[0]!
  let out = ''
  for (const ch of prefix) {
    if (!/^[\p{L}\p{M}\p{N}\p{P}\p{S} ]$/u.test(ch)) continue
    if (Buffer.byteLength(out + ch) > 128) break
    out += ch
  }
  return out || 'unknown'
}

/** DeleteOptions from a DELETE's body (JSON, optional) and query parameters; the body wins. */
function deleteOptions(raw: string, q: URLSearchParams, dryRun: boolean): DeleteOptions {
  let body: Record<string, any> = {}
  if (raw.trim() !== '') {
    try {
      body = JSON.parse(raw)
    } catch (err) {
      throw badRequest(`couldn't get version/kind; json parse error: ${(err as Error).message}`)
    }
  }
  const orphan = typeof body?.orphanDependents === 'boolean' ? body.orphanDependents : boolParam(q, 'orphanDependents')
  const policy = typeof body?.propagationPolicy === 'string' ? body.propagationPolicy : (q.get('propagationPolicy') ?? undefined)
  const grace = typeof body?.gracePeriodSeconds === 'number' ? body.gracePeriodSeconds : intParam(q, 'gracePeriodSeconds')
  return {
    preconditions: body?.preconditions,
    dryRun: dryRun || (Array.isArray(body?.dryRun) && body.dryRun.includes('All')),
    ...(orphan !== undefined ? { orphanDependents: orphan } : {}),
    ...(policy !== undefined ? { propagationPolicy: policy } : {}),
    ...(grace !== undefined ? { gracePeriodSeconds: grace } : {}),
  }
}

/** `Warning: 299 - "..."` headers (RFC 7234), one per warning. */
function warningHeaders(warnings: string[] | undefined): Record<string, string | string[]> {
  if (!warnings || warnings.length === 0) return {}
  return { Warning: warnings.map((w) => `299 - ${JSON.stringify(w)}`) }
}

function listOptions(q: URLSearchParams): ListOptions {
  const o: ListOptions = {}
  const s = (k: string) => q.get(k) ?? undefined
  o.labelSelector = s('labelSelector')
  o.fieldSelector = s('fieldSelector')
  o.resourceVersion = s('resourceVersion')
  o.resourceVersionMatch = s('resourceVersionMatch')
  o.continue = s('continue')
  o.limit = intParam(q, 'limit')
  o.timeoutSeconds = intParam(q, 'timeoutSeconds')
  o.watch = boolParam(q, 'watch') ?? false
  o.allowWatchBookmarks = boolParam(q, 'allowWatchBookmarks') ?? false
  o.sendInitialEvents = boolParam(q, 'sendInitialEvents')
  return o
}

/** A private copy of caller input (JSON values only, like a request body). */
function clone<T>(v: T): T {
  return JSON.parse(JSON.stringify(v)) as T
}

function yamlString(s: string): string {
  return JSON.stringify(s)
}

type ResolvedOptions = Required<Pick<ApiServerOptions, 'bookmarkIntervalMs' | 'maxBodyBytes' | 'requestLogSize' | 'maxWatchBacklog'>> &
  ApiServerOptions & { clusterControllers?: ClusterControllers }

class EmbeddedApiServer implements ApiServer {
  readonly url: string
  readonly port: number
  readonly kubeConfig: KubeConfig
  readonly caCert: string | undefined
  readonly #server: Server
  readonly #rest: Rest
  readonly #registry: ResourceRegistry
  readonly #store: VersionedStore
  readonly #opts: ResolvedOptions
  readonly #clock: Clock
  readonly #faults = new RequestFaults()
  readonly #watches = new Set<WatchStream>()
  readonly #openApiV2 = new OpenApiV2Cache()
  /** What mutating admission reads: the stored webhook configurations and namespace labels. */
  readonly #admissionSource: AdmissionSource = {
    configurations: () => {
      const d = this.#registry.lookup('admissionregistration.k8s.io', 'v1', 'mutatingwebhookconfigurations')
      const key = d ? resourceKey(d) : undefined
      if (!key || this.#store.count(key) === 0) return []
      const snap = this.#store.snapshot(key)
      return snap.keys.flatMap((k) => {
        const o = snap.objects.get(k)
        return o ? [o as Record<string, any>] : []
      })
    },
    namespaceLabels: (name) => {
      const d = this.#registry.lookup('', 'v1', 'namespaces')
      const ns = d ? this.#store.get(resourceKey(d), name) : undefined
      return ns ? ((ns.metadata.labels ?? {}) as Record<string, string>) : undefined
    },
  }
  #watchSeq = 0
  #waiters: Array<{ count: number; match: WatchMatcher | undefined; resolve: (w: WatchInfo[]) => void }> = []
  #stats: ApiServerStats = { requests: 0, watchesOpened: 0, watchesOpen: 0, watchEventsSent: 0, watchesClosedSlow: 0 }
  #log: RequestRecord[] = []

  constructor(server: Server, port: number, caCert: string | undefined, rest: Rest, opts: ResolvedOptions) {
    this.#server = server
    this.port = port
    this.caCert = caCert
    this.#rest = rest
    this.#registry = rest.registry
    this.#store = rest.store
    this.#opts = opts
    // Like kube-apiserver tearing down a deleted CRD's storage: its watches end cleanly,
    // after the DELETED events of its objects.
    rest.onResourcesRemoved = (defs) => {
      for (const d of defs) for (const w of this.#selected({ group: d.group, resource: d.plural })) w.end()
    }
    this.#clock = opts.clock ?? systemClock
    this.url = `${caCert ? 'https' : 'http'}://127.0.0.1:${port}`
    this.kubeConfig = new KubeConfig()
    this.kubeConfig.loadFromOptions({
      clusters: [
        {
          name: 'kubevisor',
          server: this.url,
          // client-node refuses plain HTTP unless TLS verification is marked off.
          skipTLSVerify: !caCert,
          ...(caCert ? { caData: Buffer.from(caCert).toString('base64') } : {}),
        },
      ],
      users: [{ name: 'kubevisor', ...(opts.token ? { token: opts.token } : {}) }],
      contexts: [{ name: 'kubevisor', cluster: 'kubevisor', user: 'kubevisor', namespace: 'default' }],
      currentContext: 'kubevisor',
    })
  }

  get resourceVersion(): number {
    return this.#store.resourceVersion
  }

  get stats(): ApiServerStats {
    return { ...this.#stats, watchesOpen: this.#watches.size }
  }

  get requestLog(): readonly RequestRecord[] {
    return [...this.#log]
  }

  kubeConfigYaml(): string {
    const lines = [
      'apiVersion: v1',
      'kind: Config',
      'clusters:',
      '- name: kubevisor',
      '  cluster:',
      `    server: ${yamlString(this.url)}`,
    ]
    if (this.caCert) lines.push(`    certificate-authority-data: ${Buffer.from(this.caCert).toString('base64')}`)
    else lines.push('    insecure-skip-tls-verify: true')
    lines.push('users:', '- name: kubevisor', '  user:')
    lines.push(this.#opts.token ? `    token: ${yamlString(this.#opts.token)}` : '    {}')
    lines.push(
      'contexts:',
      '- name: kubevisor',
      '  context:',
      '    cluster: kubevisor',
      '    user: kubevisor',
      '    namespace: default',
      'current-context: kubevisor',
      '',
    )
    return lines.join('\n')
  }

  async close(): Promise<void> {
    this.#opts.clusterControllers?.stop()
    for (const w of [...this.#watches]) w.drop(false)
    await new Promise<void>((resolve) => {
      this.#server.close(() => resolve())
      this.#server.closeAllConnections()
    })
  }

  // ---- in-process object API ----

  /** A private copy of a stored object (parsing its cached JSON, shared with watch events). */
  #copy<T>(obj: KubeObject): T {
    return JSON.parse(objectJson(obj)) as T
  }

  #defFor(apiVersion: string, kind: string): ResourceDef {
    const def = this.#registry.byKind(apiVersion, kind)
    if (!def) throw pathNotFound()
    return def
  }

  create<T extends KubeObjectInput = KubeObject>(obj: T, options: CopyOptions = {}): T & KubeObject {
    const def = this.#defFor(obj.apiVersion ?? '', obj.kind ?? '')
    const z = options.zeroCopy === true
    const created = this.#rest.create(def, obj.metadata?.namespace ?? (def.namespaced ? 'default' : undefined), z ? obj : clone(obj), { trackFields: !z })
    return z ? (created as T & KubeObject) : this.#copy(created)
  }

  update<T extends KubeObjectInput = KubeObject>(obj: T, options: CopyOptions = {}): T & KubeObject {
    const def = this.#defFor(obj.apiVersion ?? '', obj.kind ?? '')
    const ns = obj.metadata?.namespace ?? (def.namespaced ? 'default' : undefined)
    const z = options.zeroCopy === true
    const updated = this.#rest.update(def, ns, obj.metadata?.name ?? '', z ? obj : clone(obj), { trackFields: !z })
    return z ? (updated as T & KubeObject) : this.#copy(updated)
  }

  updateStatus<T extends KubeObjectInput = KubeObject>(obj: T, options: CopyOptions = {}): T & KubeObject {
    const def = this.#defFor(obj.apiVersion ?? '', obj.kind ?? '')
    const ns = obj.metadata?.namespace ?? (def.namespaced ? 'default' : undefined)
    const z = options.zeroCopy === true
    const updated = this.#rest.update(def, ns, obj.metadata?.name ?? '', z ? obj : clone(obj), { subresource: 'status', trackFields: !z })
    return z ? (updated as T & KubeObject) : this.#copy(updated)
  }

  delete(ref: ObjectRef): KubeObject {
    const def = this.#defFor(ref.apiVersion, ref.kind)
    return this.#copy(this.#rest.delete(def, ref.namespace ?? (def.namespaced ? 'default' : undefined), ref.name).object)
  }

  get<T extends KubeObject = KubeObject>(ref: ObjectRef, options: CopyOptions = {}): T | undefined {
    const def = this.#defFor(ref.apiVersion, ref.kind)
    try {
      const obj = this.#rest.get(def, ref.namespace ?? (def.namespaced ? 'default' : undefined), ref.name)
      return options.zeroCopy ? (obj as T) : this.#copy<T>(obj)
    } catch (err) {
      if (err instanceof ApiServerStatusError && err.status.code === 404) return undefined
      throw err
    }
  }

  list<T extends KubeObject = KubeObject>(apiVersion: string, kind: string, namespace?: string, options: CopyOptions = {}): T[] {
    const def = this.#defFor(apiVersion, kind)
    const items = this.#rest.list(def, def.namespaced ? namespace : undefined, {}).items
    return options.zeroCopy ? (items as T[]) : items.map((o) => this.#copy<T>(o))
  }

  // ---- faults ----

  watches(match?: WatchMatcher): WatchInfo[] {
    return [...this.#watches].filter((w) => !w.closed && matchWatch(match, w.info)).map((w) => w.info)
  }

  waitForWatches(count = 1, match?: WatchMatcher): Promise<WatchInfo[]> {
    const now = this.watches(match)
    if (now.length >= count) return Promise.resolve(now)
    return new Promise((resolve) => this.#waiters.push({ count, match, resolve }))
  }

  #selected(match: WatchMatcher | undefined): WatchStream[] {
    return [...this.#watches].filter((w) => !w.closed && matchWatch(match, w.info))
  }

  dropWatches(options: { match?: WatchMatcher; abrupt?: boolean } = {}): number {
    const ws = this.#selected(options.match)
    for (const w of ws) w.drop(options.abrupt ?? true)
    return ws.length
  }

  injectWatchError(options: InjectWatchErrorOptions = {}): number {
    const ws = this.#selected(options.match)
    const code = options.code ?? 410
    for (const w of ws) {
      let status: Status
      if (code === 410 && options.message === undefined) {
        const requested = Number(w.info.query.resourceVersion || '0') || 0
        status = tooOldResourceVersion(requested, this.#store.resourceVersion)
      } else {
        status = statusFor(
          code,
          options.reason ?? (code === 410 ? 'Expired' : 'InternalError'),
          options.message ?? `injected watch error (${code})`,
        )
      }
      w.sendError(status, options.close ?? true)
    }
    return ws.length
  }

  sendMalformedLine(options: { match?: WatchMatcher } = {}): number {
    const ws = this.#selected(options.match)
    for (const w of ws) w.sendMalformedLine()
    return ws.length
  }

  stallWatches(options: { match?: WatchMatcher } = {}): { count: number; resume(): void } {
    const ws = this.#selected(options.match)
    for (const w of ws) w.stall()
    return {
      count: ws.length,
      resume: () => {
        for (const w of ws) w.resume()
      },
    }
  }

  failNext(options: FailNextOptions = {}): void {
    this.#faults.failNext(options)
  }

  delay(options: DelayOptions): () => void {
    return this.#faults.delay(options)
  }

  clearFaults(): void {
    this.#faults.clear()
  }

  compact(): void {
    this.#store.compact()
  }

  // ---- HTTP ----

  #record(rec: RequestRecord): void {
    this.#log.push(rec)
    if (this.#log.length > this.#opts.requestLogSize) this.#log.splice(0, this.#log.length - this.#opts.requestLogSize)
  }

  /** Entry point for every request; never throws. */
  handle(req: IncomingMessage, res: ServerResponse): void {
    this.#stats.requests++
    let url: URL
    try {
      url = new URL(req.url ?? '/', 'http://127.0.0.1')
    } catch {
      this.#sendStatus(res, badRequest('malformed request URL'))
      return
    }
    const method = (req.method ?? 'GET').toUpperCase()
    const q = url.searchParams
    const watchParam = q.get('watch')
    const info: RequestInfo = {
      method,
      path: url.pathname,
      query: q,
      watch: method === 'GET' && (watchParam === 'true' || watchParam === '1' || watchParam === ''),
    }
    const rec: RequestRecord = { method, path: url.pathname, query: url.search, status: 0, watch: info.watch }
    this.#record(rec)
    res.on('finish', () => {
      rec.status = res.statusCode
    })
    res.on('close', () => {
      if (rec.status === 0 && res.headersSent) rec.status = res.statusCode
    })
    this.#handle(req, res, info)
      .catch((err: unknown) => {
        if (err instanceof ApiServerStatusError) {
          this.#sendStatus(res, err)
          return
        }
        this.#opts.logger?.error({ err, method, path: url.pathname }, 'embedded apiserver: unexpected failure')
        this.#sendStatus(res, internalError(err instanceof Error ? err.message : String(err)))
      })
      .finally(() => {
        // Watches stay open: record their status once the headers are out.
        if (rec.status === 0 && res.headersSent) rec.status = res.statusCode
      })
  }

  #sendStatus(res: ServerResponse, err: ApiServerStatusError): void {
    if (res.headersSent) {
      res.destroy()
      return
    }
    this.#sendJson(res, err.status.code, err.text ?? JSON.stringify(err.status), err.headers)
  }

  /** Sends a whole body, as JSON unless `headers` name another Content-Type. */
  #sendJson(res: ServerResponse, code: number, body: string, headers: Record<string, string | string[]> = {}): void {
    if (res.headersSent || res.destroyed) return
    res.writeHead(code, {
      'Content-Type': 'application/json',
      'Cache-Control': 'no-cache, private',
      'Content-Length': Buffer.byteLength(body),
      ...headers,
    })
    res.end(body)
  }

  async #handle(req: IncomingMessage, res: ServerResponse, info: RequestInfo): Promise<void> {
    const user = authenticate(req, info.path, this.#opts)
    if (!user) {
      req.resume()
      throw unauthorized()
    }
    const fault = this.#faults.take(info)
    if (fault.delayMs > 0) await sleep(this.#clock, fault.delayMs)
    if (fault.fail) {
      req.resume()
      throw fault.fail
    }
    const r = route(info.path)
    const { method } = info
    // Authorization (authz.ts): system:masters, else the configured authorizer.
    const attributes = requestAttributes(user, method, r, info.path, info.query)
    const decision = decide(this.#opts.authorizer, attributes)
    if (!decision.allowed) {
      req.resume()
      throw forbiddenFor(attributes, decision.reason)
    }
    if (r.type === 'resource' && isReview(r)) {
      if (method !== 'POST') {
        req.resume()
        throw methodNotAllowed()
      }
      const body = await this.#readObject(req, { kind: r.plural } as ResourceDef)
      return this.#sendObject(req, res, 201, JSON.stringify(review(this.#opts.authorizer, user, r.plural, body)))
    }
    switch (r.type) {
      case 'version':
        return this.#sendJson(
          res,
          200,
          JSON.stringify({
            major: '1',
            minor: '34',
            gitVersion: 'v1.34.0-kubevisor',
            gitCommit: '0000000000000000000000000000000000000000',
            gitTreeState: 'clean',
            buildDate: '2026-01-01T00:00:00Z',
            goVersion: 'go1.24.0',
            compiler: 'gc',
            platform: `${process.platform}/${process.arch === 'x64' ? 'amd64' : process.arch}`,
          }),
        )
      case 'health':
        res.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8' })
        res.end('ok')
        return
      case 'apiVersions':
        return this.#sendJson(
          res,
          200,
          JSON.stringify({
            kind: 'APIVersions',
            versions: ['v1'],
            serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress: `127.0.0.1:${this.port}` }],
          }),
        )
      case 'groupList':
        return this.#sendJson(res, 200, JSON.stringify(this.#registry.apiGroupList()))
      case 'group': {
        const g = this.#registry.apiGroup(r.group)
        if (!g) throw pageNotFound()
        return this.#sendJson(res, 200, JSON.stringify(g))
      }
      case 'resourceList': {
        const l = this.#registry.apiResourceList(r.group, r.version)
        if (!l) throw pageNotFound()
        return this.#sendJson(res, 200, JSON.stringify(l))
      }
      case 'openapiV2': {
        // kubectl < 1.27 asks for gnostic protobuf (explain, validation, apply patches);
        // others for JSON. Real definitions of the served kinds and CRDs (openapi-v2.ts).
        const crdOf = (d: ResourceDef) => this.#crdOf(d)
        if (/protobuf/.test(req.headers.accept ?? '')) {
          const body = this.#openApiV2.protobuf(this.#registry, crdOf)
          res.writeHead(200, { 'Content-Type': OPENAPI_V2_PROTOBUF_CONTENT_TYPE, 'Content-Length': body.length })
          res.end(body)
          return
        }
        return this.#sendJson(res, 200, this.#openApiV2.json(this.#registry, crdOf))
      }
      case 'openapiIndex':
        return this.#sendJson(res, 200, JSON.stringify(openApiIndex(this.#registry, (d) => this.#crdOf(d))))
      case 'openapiDocument': {
        const doc = openApiDocument(this.#registry, r.gv, (d) => this.#crdOf(d))
        if (!doc) throw pathNotFound()
        return this.#sendJson(res, 200, JSON.stringify(doc))
      }
      case 'notFound':
        req.resume()
        throw pageNotFound()
      case 'resource':
        break
    }
    const def = this.#registry.lookup(r.group, r.version, r.plural)
    if (!def || (r.namespace !== undefined && !def.namespaced)) {
      req.resume()
      // No handler for the path (group version not served, or a namespaced path of a
      // cluster-scoped resource) is the mux's plain 404; a served group version without
      // that resource is the API's NotFound Status.
      if (def || !this.#registry.serves(r.group, r.version)) throw pageNotFound()
      throw pathNotFound()
    }
    if (def.kind === 'Pod' && def.group === '' && r.name !== undefined && KUBELET_SUBRESOURCES.has(r.subresource ?? '')) {
      return handleKubeletSubresource(this.#rest, def, r.namespace, r.name, r.subresource!, method, info.query, req, res)
    }
    const scaled = r.subresource === 'scale' && def.scale !== undefined
    if (r.subresource !== undefined && !(r.subresource === 'status' && def.hasStatus) && !scaled) {
      req.resume()
      throw pathNotFound()
    }
    const ns = def.namespaced ? r.namespace : undefined
    const q = info.query
    const writing = method === 'POST' || method === 'PUT' || method === 'PATCH' || method === 'DELETE'
    const dryRun = writing ? dryRunParam(q, method) : false
    const explicitManager = q.get('fieldManager')
    if (writing && explicitManager && Buffer.byteLength(explicitManager) > 128)
      throw invalid('meta.k8s.io', optionsKind(method), '', [
        { type: 'FieldValueTooLong', field: 'fieldManager', detail: 'Too long: may not be more than 128 bytes' },
      ])
    const write: WriteOptions = {
      dryRun,
      fieldManager: q.get('fieldManager') || managerFromUserAgent(req.headers['user-agent']),
      fieldValidation: writing && method !== 'DELETE' ? fieldValidationParam(q, method) : undefined,
      warnings: [],
      force: boolParam(q, 'force') === true,
    }
    if (scaled && r.name !== undefined) {
      const { method } = info
      if (method !== 'GET' && method !== 'PUT' && method !== 'PATCH') {
        req.resume()
        throw methodNotAllowed()
      }
      // A protobuf Scale (typed clients' UpdateScale) is decoded to its JSON first.
      const proto = method === 'PUT' && bodyType(req) === PROTOBUF_CONTENT_TYPE
      const raw =
        method === 'GET'
          ? ''
          : proto
            ? JSON.stringify(decodeProtobuf(await readBodyBytes(req, this.#opts.maxBodyBytes)))
            : await readBody(req, this.#opts.maxBodyBytes)
      const type = proto ? 'application/json' : (req.headers['content-type'] ?? '')
      const scale = handleScale(this.#rest, def, ns, r.name, method, raw, type, dryRun, q.get('fieldManager') || (/apply-patch/.test(type) ? undefined : write.fieldManager), write.force)
      return this.#sendObject(req, res, 200, JSON.stringify(scale))
    }
    const table = wantsTable(req.headers.accept)
    // Metadata-only reads (`as=PartialObjectMetadata[List]`, partial.ts); a 406 for an `as=` it cannot serve.
    const partial = method === 'GET' ? partialConversion(req.headers.accept) : undefined
    const include = (q.get('includeObject') ?? 'Metadata') as IncludeObject
    const sub = r.subresource === 'status' ? ('status' as const) : undefined

    if (r.name === undefined) {
      if (method === 'GET') {
        const o = listOptions(q)
        // Metadata-only answers are JSON (kube-apiserver has no protobuf for them either way here).
        if (o.watch) return this.#watch(res, def, ns, o, info, table ? include : undefined, !partial && wantsProtobufWatch(req.headers.accept, def, table), partial)
        if (partial) checkListConversion(partial, def)
        const result = this.#rest.list(def, ns, o)
        if (partial) return this.#sendJson(res, 200, partialListJson(result.items, listMeta(result), partial.apiVersion))
        if (table) return this.#sendJson(res, 200, this.#renderTable(result, include))
        return this.#sendList(req, res, def, result)
      }
      if (method === 'POST') {
        if (def.namespaced && ns === undefined) {
          req.resume()
          throw methodNotAllowed()
        }
        const body = await this.#admit(def, 'CREATE', ns, undefined, await this.#readObject(req, def), undefined, dryRun, user)
        const created = this.#rest.create(def, ns, body, write)
        return this.#sendObject(req, res, 201, objectJson(created), created, warningHeaders(write.warnings))
      }
      if (method === 'DELETE') {
        const o = listOptions(q)
        const { preconditions: _, ...options } = deleteOptions(await this.#deleteBody(req), q, dryRun)
        const result = this.#rest.deleteCollection(def, ns, o, options)
        return this.#sendList(req, res, def, result)
      }
      req.resume()
      throw methodNotAllowed()
    }

    const name = r.name
    switch (method) {
      case 'GET': {
        const o = listOptions(q)
        if (o.watch) {
          const field = `metadata.name=${name}`
          o.fieldSelector = o.fieldSelector ? `${o.fieldSelector},${field}` : field
          return this.#watch(res, def, ns, o, info, table ? include : undefined, !partial && wantsProtobufWatch(req.headers.accept, def, table), partial)
        }
        if (partial) checkObjectConversion(partial, def)
        const obj = this.#rest.get(def, ns, name, q.get('resourceVersion') ?? undefined)
        if (partial) return this.#sendJson(res, 200, JSON.stringify(toPartial(obj, partial.apiVersion)))
        const body = table
          ? JSON.stringify(toTable([obj], { resourceVersion: obj.metadata.resourceVersion }, include))
          : objectJson(obj)
        return table ? this.#sendJson(res, 200, body) : this.#sendObject(req, res, 200, body, obj)
      }
      case 'PUT': {
        const given = await this.#readObject(req, def)
        const body = await this.#admit(def, 'UPDATE', ns, sub, given, () => this.#rest.get(def, ns, name), dryRun, user)
        const updated = this.#rest.update(def, ns, name, body, { ...write, subresource: sub })
        return this.#sendObject(req, res, 200, objectJson(updated), updated, warningHeaders(write.warnings))
      }
      case 'PATCH': {
        const raw = await readBody(req, this.#opts.maxBodyBytes)
        const patchOptions = {
          ...write,
          subresource: sub,
          // Apply names its manager explicitly; other patches default to the User-Agent's.
          fieldManager: q.get('fieldManager') || (/apply-patch/.test(req.headers['content-type'] ?? '') ? undefined : write.fieldManager),
        }
        const mutated = await this.#admitPatch(def, ns, name, sub, req.headers['content-type'] ?? '', raw, patchOptions, user)
        if (mutated) return this.#sendObject(req, res, 200, objectJson(mutated), mutated, warningHeaders(write.warnings))
        const { object, created } = this.#rest.patch(def, ns, name, req.headers['content-type'] ?? '', raw, patchOptions)
        return this.#sendObject(req, res, created ? 201 : 200, objectJson(object), object, warningHeaders(write.warnings))
      }
      case 'DELETE': {
        if (sub) {
          req.resume()
          throw methodNotAllowed()
        }
        const options = deleteOptions(await this.#deleteBody(req), q, dryRun)
        const { object, code, removed } = this.#rest.delete(def, ns, name, options)
        if (removed && !RETURNS_DELETED_OBJECT.has(`${def.group}/${def.plural}`)) {
          // Most registries answer an immediate delete with a Success Status naming the
          // object (generic registry ReturnDeletedObject false); pods and services return it.
          const details: Record<string, unknown> = { name }
          if (def.group) details.group = def.group
          details.kind = def.plural
          details.uid = object.metadata.uid
          return this.#sendJson(res, 200, JSON.stringify({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success', details }))
        }
        return this.#sendObject(req, res, code, objectJson(object), object)
      }
      default:
        req.resume()
        throw methodNotAllowed()
    }
  }

  /** The CRD object that declares a custom resource (for its OpenAPI schema). */
  #crdOf(d: ResourceDef): KubeObject | undefined {
    const crds = this.#registry.lookup('apiextensions.k8s.io', 'v1', 'customresourcedefinitions')
    if (!crds) return undefined
    try {
      return this.#rest.get(crds, undefined, `${d.plural}.${d.group}`)
    } catch {
      return undefined
    }
  }

  #checkBodyType(req: IncomingMessage): void {
    const type = bodyType(req)
    if (type === 'application/json' || type === 'application/yaml' || type === '*/*' || type === '') return
    if (type === PROTOBUF_CONTENT_TYPE) return
    req.resume()
    // No CBOR here: client-go falls back to JSON after a 415.
    throw unsupportedMediaType(type, ['application/json', 'application/yaml', PROTOBUF_CONTENT_TYPE])
  }

  /** The object of a create/update body: JSON, or protobuf from typed Go clients (protobuf.ts). */
  /** Mutating admission webhooks (admission.ts) on a create or update body; the body itself when none matches. */
  async #admit(
    def: ResourceDef,
    operation: 'CREATE' | 'UPDATE',
    ns: string | undefined,
    sub: string | undefined,
    body: unknown,
    old: (() => KubeObject) | undefined,
    dryRun: boolean,
    user: UserInfo,
  ): Promise<unknown> {
    const hooks = matchingWebhooks(this.#admissionSource, { def, operation, subresource: sub })
    if (hooks.length === 0 || !body || typeof body !== 'object' || Array.isArray(body)) return body
    const object = structuredClone(body) as Record<string, any>
    object.metadata = { ...(object.metadata ?? {}) }
    if (def.namespaced && ns) object.metadata.namespace = ns
    let oldObject: KubeObject | undefined
    try {
      oldObject = old?.()
    } catch {
      // Not found: the update fails in the REST layer with its own error.
      return body
    }
    const name = object.metadata.name ?? ''
    return admit(this.#admissionSource, hooks, { def, operation, namespace: ns, name, subresource: sub, object, oldObject, dryRun, user })
  }

  /**
   * A patch (not apply) that mutating webhooks match: its result is computed without
   * writing, admitted, and written as an update pinned to the object it was computed on
   * (retried up to 5 times when another write came first and the patch pinned no
   * resourceVersion). `undefined` when no webhook matches or none changed the result:
   * the caller patches as usual.
   */
  async #admitPatch(def: ResourceDef, ns: string | undefined, name: string, sub: 'status' | undefined, type: string, raw: string, options: WriteOptions & { subresource?: 'status' }, user: UserInfo): Promise<KubeObject | undefined> {
    if (/apply-patch/.test(type)) return undefined
    const hooks = matchingWebhooks(this.#admissionSource, { def, operation: 'UPDATE', subresource: sub })
    if (hooks.length === 0) return undefined
    const pinned = /"resourceVersion"/.test(raw)
    for (let attempt = 0; ; attempt++) {
      const old = this.#rest.get(def, ns, name)
      const candidate = this.#rest.patch(def, ns, name, type, raw, { ...options, dryRun: true, warnings: [] }).object as Record<string, any>
      const mutated = await admit(this.#admissionSource, hooks, { def, operation: 'UPDATE', namespace: ns, name, subresource: sub, object: candidate, oldObject: old, dryRun: options.dryRun === true, user })
      if (mutated === candidate) return undefined
      const { managedFields: _, ...metadata } = mutated.metadata ?? {}
      const body = { ...mutated, metadata: { ...metadata, resourceVersion: old.metadata.resourceVersion } }
      try {
        return this.#rest.update(def, ns, name, body, { ...options, patched: true })
      } catch (err) {
        if (pinned || attempt >= 4 || !(err instanceof ApiServerStatusError) || err.status.code !== 409) throw err
      }
    }
  }

  async #readObject(req: IncomingMessage, def: ResourceDef): Promise<unknown> {
    this.#checkBodyType(req)
    if (bodyType(req) === PROTOBUF_CONTENT_TYPE) return decodeProtobuf(await readBodyBytes(req, this.#opts.maxBodyBytes))
    return this.#parseJson(def, await readBody(req, this.#opts.maxBodyBytes))
  }

  /**
   * Sends an object (given as JSON text) as protobuf when the client lists protobuf first
   * in Accept and the kind has a protobuf encoding, else as JSON (kube-apiserver answers
   * custom resources in JSON to a client that accepts both).
   */
  #sendObject(
    req: IncomingMessage,
    res: ServerResponse,
    code: number,
    json: string,
    obj?: object,
    headers: Record<string, string | string[]> = {},
  ): void {
    if (prefersProtobuf(req.headers.accept)) {
      const body = encodeProtobuf((obj ?? JSON.parse(json)) as Record<string, unknown>)
      if (body) {
        this.#sendProtobuf(res, code, body, headers)
        return
      }
    }
    this.#sendJson(res, code, json, headers)
  }

  #sendProtobuf(res: ServerResponse, code: number, body: Buffer, headers: Record<string, string | string[]> = {}): void {
    if (res.headersSent || res.destroyed) return
    res.writeHead(code, { ...headers, 'Content-Type': PROTOBUF_CONTENT_TYPE, 'Cache-Control': 'no-cache, private', 'Content-Length': body.length })
    res.end(body)
  }

  /** A DELETE's body as JSON text: DeleteOptions sent as protobuf by typed Go clients are decoded first. */
  async #deleteBody(req: IncomingMessage): Promise<string> {
    if (bodyType(req) === PROTOBUF_CONTENT_TYPE) return JSON.stringify(decodeProtobuf(await readBodyBytes(req, this.#opts.maxBodyBytes)))
    return readBody(req, this.#opts.maxBodyBytes)
  }

  /** A list, as protobuf (items from their cached bytes) when asked first, else JSON. */
  #sendList(req: IncomingMessage, res: ServerResponse, def: ResourceDef, result: ListResult): void {
    if (prefersProtobuf(req.headers.accept) && !def.custom) {
      const meta: Record<string, unknown> = { resourceVersion: String(result.resourceVersion) }
      if (result.continue !== undefined) meta.continue = result.continue
      if (result.remainingItemCount !== undefined) meta.remainingItemCount = result.remainingItemCount
      const body = encodeProtobufList({ kind: def.listKind, apiVersion: def.apiVersion, metadata: meta }, result.items)
      if (body) {
        this.#sendProtobuf(res, 200, body)
        return
      }
    }
    this.#sendJson(res, 200, this.#renderList(def, result))
  }

  #parseJson(def: ResourceDef, raw: string): unknown {
    try {
      return JSON.parse(raw)
    } catch (err) {
      throw badRequest(
        `the object provided is unrecognized (must be of type ${def.kind}): couldn't get version/kind; json parse error: ${(err as Error).message}`,
      )
    }
  }

  #renderList(def: ResourceDef, result: ListResult): string {
    const meta = listMeta(result)
    // Typed (built-in) lists carry no kind/apiVersion on items; custom resource lists do.
    const prefix = def.custom ? '' : `{"kind":"${def.kind}","apiVersion":"${def.apiVersion}",`
    const items = result.items.map((o) => {
      const json = objectJson(o)
      return prefix && json.startsWith(prefix) ? `{${json.slice(prefix.length)}` : json
    })
    return `{"kind":"${def.listKind}","apiVersion":"${def.apiVersion}","metadata":${JSON.stringify(meta)},"items":[${items.join(',')}]}`
  }

  #renderTable(result: ListResult, include: IncludeObject): string {
    const meta: Record<string, unknown> = { resourceVersion: String(result.resourceVersion) }
    if (result.continue !== undefined) meta.continue = result.continue
    if (result.remainingItemCount !== undefined) meta.remainingItemCount = result.remainingItemCount
    return JSON.stringify(toTable(result.items, meta, include))
  }

  #watch(
    res: ServerResponse,
    def: ResourceDef,
    namespace: string | undefined,
    o: ListOptions,
    info: RequestInfo,
    tableInclude: IncludeObject | undefined,
    protobuf: boolean,
    partial?: PartialConversion,
  ): void {
    validateListOptions(o)
    if (partial?.as === 'PartialObjectMetadataList') {
      // kube-apiserver accepts the watch, fails to convert the first object and ends the stream: 200, no events.
      res.writeHead(200, { 'Content-Type': 'application/json' })
      res.end()
      return
    }
    const filter = this.#rest.filter(def, namespace, o)
    const startRv = this.#rest.checkWatchRv(o.resourceVersion)
    const res_ = resourceKey(def)
    const query: Record<string, string> = {}
    for (const [k, v] of info.query) query[k] = v
    const stream = new WatchStream(res, {
      id: ++this.#watchSeq,
      rest: this.#rest,
      filter,
      clock: this.#clock,
      path: info.path,
      query,
      allowBookmarks: o.allowWatchBookmarks ?? false,
      protobuf,
      bookmarkIntervalMs: this.#opts.bookmarkIntervalMs,
      timeoutSeconds: o.timeoutSeconds,
      ...(startRv !== undefined && o.sendInitialEvents === undefined ? { afterRv: startRv } : {}),
      ...(tableInclude ? { render: (obj: KubeObject) => toTable([obj], { resourceVersion: obj.metadata.resourceVersion }, tableInclude) } : {}),
      ...(partial ? { render: (obj: KubeObject) => toPartial(obj, partial.apiVersion), bookmarkKind: { kind: 'PartialObjectMetadata', apiVersion: partial.apiVersion } } : {}),
      maxBacklog: this.#opts.maxWatchBacklog,
      onClose: (s) => this.#watches.delete(s),
      onEventsSent: (n) => {
        this.#stats.watchEventsSent += n
      },
      onSlowClient: () => {
        this.#stats.watchesClosedSlow++
      },
    })
    this.#stats.watchesOpened++
    const compacted = this.#store.compactedRevision(res_)
    if (startRv !== undefined && startRv < compacted && o.sendInitialEvents !== true) {
      // The watch cache answers 200 and then an ERROR event with 410 Expired.
      stream.sendError(tooOldResourceVersion(startRv, compacted))
      return
    }
    this.#watches.add(stream)
    const current = () => {
      const { keys, objects } = this.#store.snapshot(res_)
      const out: KubeObject[] = []
      for (const k of keys) {
        const obj = objects.get(k)!
        if (this.#rest.matches(filter, obj)) out.push(obj)
      }
      return out
    }
    if (o.sendInitialEvents === true) {
      stream.sendInitial(current())
      stream.sendBookmark(this.#store.resourceVersion, true)
    } else if (startRv === undefined) {
      if (o.sendInitialEvents !== false) stream.sendInitial(current())
    } else {
      for (const ev of this.#store.eventsAfter(res_, startRv)) stream.onEvent(ev)
    }
    const unsubscribe = this.#store.subscribe(res_, stream)
    res.on('close', unsubscribe)
    this.#notifyWaiters()
  }

  #notifyWaiters(): void {
    if (this.#waiters.length === 0) return
    this.#waiters = this.#waiters.filter((w) => {
      const ws = this.watches(w.match)
      if (ws.length < w.count) return true
      w.resolve(ws)
      return false
    })
  }
}

/**
 * Starts an embedded Kubernetes API server on 127.0.0.1 (a free port by default) and
 * resolves once it listens. Use it to test watchers and controllers without a cluster:
 * point any client at `kubeConfig`, seed objects in-process, inject faults.
 *
 * Gotchas: no controllers run (no pods scheduled, no garbage collection, deployments do
 * not create pods); call `close()` in `after`/`afterEach` so the test process can exit.
 *
 * @example
 * ```ts
 * const server = await startApiServer()
 * const core = server.kubeConfig.makeApiClient(CoreV1Api)
 * await core.createNamespacedConfigMap({ namespace: 'default', body: { metadata: { name: 'a' } } })
 * server.dropWatches()            // every open watch sees its connection reset
 * await server.close()
 * ```
 */
export async function startApiServer(options: ApiServerOptions = {}): Promise<ApiServer> {
  if (options.maxWatchBacklog !== undefined && !(Number.isInteger(options.maxWatchBacklog) && options.maxWatchBacklog > 0)) {
    throw new RangeError(`maxWatchBacklog must be a positive integer, got ${String(options.maxWatchBacklog)}`)
  }
  const store = new VersionedStore({ historySize: options.historySize ?? 10_000 })
  const rest = new Rest(store, new ResourceRegistry())
  rest.bootstrap()
  let clusterControllers: ClusterControllers | undefined
  if (options.controllers !== false) {
    const c = new ClusterControllers(rest, options.clock ?? systemClock, options.logger)
    store.observe({ onEvent: (ev) => c.observe(ev) })
    clusterControllers = c
  }
  const tls = options.tls ? await generateTls() : undefined
  let api: EmbeddedApiServer | undefined
  const handler = (req: IncomingMessage, res: ServerResponse) => {
    if (!api) {
      res.writeHead(503).end()
      return
    }
    api.handle(req, res)
  }
  const server = tls
    ? createHttpsServer({ cert: tls.cert, key: tls.key, keepAlive: true }, handler)
    : createHttpServer({ keepAlive: true }, handler)
  server.on('clientError', (_err, socket) => {
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n')
    else socket.destroy()
  })
  // Watches are long-lived; Node's default request timeout (5 min) would cut them.
  server.requestTimeout = 0
  server.headersTimeout = 60_000
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(options.port ?? 0, '127.0.0.1', () => {
      server.off('error', reject)
      resolve()
    })
  })
  const port = (server.address() as AddressInfo).port
  api = new EmbeddedApiServer(server, port, tls?.caCert, rest, {
    ...options,
    bookmarkIntervalMs: options.bookmarkIntervalMs ?? 60_000,
    maxWatchBacklog: options.maxWatchBacklog ?? 10_000,
    maxBodyBytes: options.maxBodyBytes ?? DEFAULT_MAX_BODY,
    requestLogSize: options.requestLogSize ?? 1000,
    clusterControllers,
  })
  return api
}

/** A list's `metadata`: resourceVersion, continue and remainingItemCount when set. */
function listMeta(result: ListResult): Record<string, unknown> {
  const meta: Record<string, unknown> = { resourceVersion: String(result.resourceVersion) }
  if (result.continue !== undefined) meta.continue = result.continue
  if (result.remainingItemCount !== undefined) meta.remainingItemCount = result.remainingItemCount
  return meta
}
