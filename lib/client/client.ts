/**
 * The write client: get, list, create, update, patch, server-side apply and delete of any
 * kind (CRDs included), plus the `status` and `scale` subresources — plain JSON objects in
 * and out, the same shape watchers and stores hand out, so an object read from a store can
 * be written back as it is. Built on the shared HTTP path of `lib/api` (the watcher's
 * `KubeConfig` auth, keep-alive agent, discovery and typed `Status` errors).
 *
 * Modeled on controller-runtime's `client.Client` (`pkg/client`), with client-go's rest
 * client retry of throttled requests (`Retry-After`, at most 10 retries). Differences, and
 * why:
 * - Objects are returned, never filled in place: the input may be a store's object, which
 *   must not change under the store.
 * - Reads go to the API server; a cache-backed read is the informer's store (pass one to
 *   `createOrUpdate`).
 * - A namespaced kind without `metadata.namespace` is refused before sending
 *   ({@link InvalidRequestError}), where client-go sends it and the server answers 404/405.
 */
import type { KubeConfig } from '@kubernetes/client-node'
import { type ResolvedResource, resolveResource } from '../api/discovery.ts'
import { ApiStatusError, type Status } from '../api/errors.ts'
import type { KubeObject } from '../api/object.ts'
import { type ApiRequest, ApiTransport } from '../api/transport.ts'
import { KubevisorError } from '../errors.ts'
import type { Logger } from '../log.ts'
import { type Clock, sleep, systemClock } from '../time/clock.ts'

/**
 * The least an object must have to be written: `apiVersion`, `kind` and `metadata.name`
 * (and `metadata.namespace` for namespaced kinds). Any plain object type fits, e.g. a
 * {@link KubeObject}, `Plain<V1ConfigMap>`, or a store's object.
 */
export interface ObjectLike {
  /** The group/version, e.g. `v1`, `apps/v1`; required by every write. */
  apiVersion?: string | undefined
  /** The kind, e.g. `ConfigMap`; required by every write (resolved to its REST collection through discovery). */
  kind?: string | undefined
  /** The object's metadata: the fields the client reads to address and condition a write. */
  metadata?:
    | {
        /** The object's name; required by every write but `create` (where the server may generate it from `generateName`). */
        name?: string | undefined
        /** The namespace; required for namespaced kinds (else {@link InvalidRequestError} before sending). */
        namespace?: string | undefined
        /** Set on every object read from the server or a store; makes `update` conditional (`ConflictError` when stale). */
        resourceVersion?: string | undefined
        /** The server-assigned unique id of this incarnation of the object. */
        uid?: string | undefined
      }
    | undefined
}

/** Names one object. */
export interface ObjectRef {
  /** e.g. `v1`, `apps/v1`, `example.com/v1`. */
  apiVersion: string
  /** The kind, e.g. `Deployment`; with `apiVersion` it is resolved to a REST resource through discovery. */
  kind: string
  /** The object's `metadata.name`; required (an empty name is refused with {@link InvalidRequestError}). */
  name: string
  /** Required for namespaced kinds; ignored for cluster-scoped ones. */
  namespace?: string | undefined
}

/** Names a collection (all namespaces when `namespace` is absent). */
export interface CollectionRef {
  /** e.g. `v1`, `apps/v1`, `example.com/v1`. */
  apiVersion: string
  /** The kind of the items, e.g. `ConfigMap` (not `ConfigMapList`). */
  kind: string
  /** Lists this namespace only; absent: every namespace (for cluster-scoped kinds, always). */
  namespace?: string | undefined
}

/** Options every request takes. */
export interface RequestOptions {
  /** Aborts the request. */
  signal?: AbortSignal | undefined
  /** Client-side deadline for the answer's headers, in ms; overrides the client's `timeoutMs`. */
  timeoutMs?: number | undefined
}

/** `fieldValidation`: what the server does with unknown or duplicate fields. */
export type FieldValidation = 'Strict' | 'Warn' | 'Ignore'

/** Options of create, update and patch (and their subresource forms). */
export interface WriteOptions extends RequestOptions {
  /** Validate and answer as if written, persist nothing (`dryRun=All`). */
  dryRun?: boolean | undefined
  /** The field manager recorded in `managedFields`; default the client's `fieldManager`. */
  fieldManager?: string | undefined
  /** Unknown/duplicate field handling; default: the server's (`Warn` on current servers). */
  fieldValidation?: FieldValidation | undefined
}

/** The patch formats: JSON merge (RFC 7386), JSON patch (RFC 6902), strategic merge (built-in kinds only). */
export type PatchType = 'merge' | 'json' | 'strategic'

/** Options of {@link Client.patch}. */
export interface PatchOptions extends WriteOptions {
  /** Default `merge`. */
  type?: PatchType | undefined
}

/** Options of {@link Client.apply} (server-side apply). */
export interface ApplyOptions extends RequestOptions {
  /** The field manager that owns the applied fields. Required here or as the client's `fieldManager`. */
  fieldManager?: string | undefined
  /** Take ownership of fields another manager owns instead of failing with a `ConflictError`. */
  force?: boolean | undefined
  /** Default `Strict`: an unknown field fails the apply (`BadRequestError`) instead of being dropped. */
  fieldValidation?: FieldValidation | undefined
  /** Validate and answer with the applied result, persist nothing (`dryRun=All`). Default false. */
  dryRun?: boolean | undefined
}

/** `metav1.DeleteOptions` as options of {@link Client.delete}. */
export interface DeleteOptions extends RequestOptions {
  /** Delete only if the object still has this uid / resourceVersion (else `ConflictError`). */
  preconditions?:
    | {
        /** Delete only this incarnation: a same-named object created since has another uid. */
        uid?: string | undefined
        /** Delete only if nobody changed the object since this version was read. */
        resourceVersion?: string | undefined
      }
    | undefined
  /** `Background` (the server's default for most kinds), `Foreground` (dependents first) or `Orphan`. */
  propagationPolicy?: 'Background' | 'Foreground' | 'Orphan' | undefined
  /** Seconds before the object is deleted (pods); 0 = immediately. */
  gracePeriodSeconds?: number | undefined
  /** Validate and answer as if deleted, delete nothing (`dryRun=All`). Default false. */
  dryRun?: boolean | undefined
}

/** Options of {@link Client.list}. */
export interface ListOptions extends RequestOptions {
  /** A label selector: `app=web,tier!=db` or `{ app: 'web' }` (all must match). */
  labelSelector?: string | Record<string, string> | undefined
  /** A field selector, e.g. `metadata.name=web-0`. */
  fieldSelector?: string | undefined
  /** Page size; the answer's `metadata.continue` names the next page. Unset: everything at once. */
  limit?: number | undefined
  /** The continue token of the previous page. */
  continue?: string | undefined
  /**
   * Which version of the collection to read. Unset (default): the most recent, read from
   * etcd (a quorum read); `'0'`: any version, usually the server's watch cache (cheaper, may
   * be stale); another value: interpreted by `resourceVersionMatch`.
   */
  resourceVersion?: string | undefined
  /**
   * How `resourceVersion` is matched: `Exact` (that version precisely; 410 `Expired` once
   * compacted) or `NotOlderThan` (that version or newer). Only with `resourceVersion` set.
   */
  resourceVersionMatch?: 'Exact' | 'NotOlderThan' | undefined
}

/** One page of a list: plain items with `apiVersion` and `kind` filled in. */
export interface ObjectList<T> {
  /** The collection's group/version, e.g. `v1`. */
  apiVersion: string
  /** The list kind, e.g. `ConfigMapList`. */
  kind: string
  /** The list's metadata (`metav1.ListMeta`); `{}` when the server sent none. */
  metadata: {
    /** The collection's version when it was read: start a watch here to see every later change. */
    resourceVersion?: string
    /** Set when more pages follow: pass it as {@link ListOptions.continue} for the next one. */
    continue?: string
    /** Estimated number of items after this page, when the server can tell. */
    remainingItemCount?: number
  }
  /** The items of this page (every item for an unpaged list); `[]` when none. */
  items: T[]
}

/** `autoscaling/v1` `Scale`, the `scale` subresource. */
export interface Scale extends KubeObject {
  /** The wanted scale. */
  spec?: {
    /** The desired number of replicas. */
    replicas?: number
  }
  /** The observed scale, as the owning controller last reported it. */
  status?: {
    /** The number of replicas observed. */
    replicas: number
    /** The label selector of the pods counted, in string form (e.g. for a HorizontalPodAutoscaler). */
    selector?: string
  }
}

/** Options of {@link Client}. */
export interface ClientOptions {
  /**
   * The default field manager of every write (`fieldManager` query parameter) and of
   * server-side apply. Default none: the server then names the manager after the user agent
   * for create/update/patch, and {@link Client.apply} requires one per call.
   */
  fieldManager?: string | undefined
  /** Client-side deadline of each request, in ms. Default 60 000 (kube-apiserver's own request timeout). 0 = none. */
  timeoutMs?: number | undefined
  /**
   * How often a request answered 429, or 5xx with `Retry-After`, is sent again after
   * waiting the suggested delay: client-go's rest client default, 10. 0 = never.
   */
  maxRetries?: number | undefined
  /** Longest `Retry-After` wait honoured before giving up with the error, in seconds. Default 60. */
  maxRetryAfterSeconds?: number | undefined
  /** The transport; default the shared one of the `KubeConfig` (the watchers' keep-alive agent). */
  transport?: ApiTransport | undefined
  /** Time for `Retry-After` waits. Default the system clock. */
  clock?: Clock | undefined
  /** Receives the server's `Warning` headers (deprecated APIs, unknown fields under `Warn`); default: logged at `warn` when a logger is given. */
  onWarning?: ((warning: string) => void) | undefined
  /** Logs the server's `Warning` headers at `warn` when no `onWarning` is given. Default none: warnings are dropped. */
  logger?: Logger | undefined
}

/** A request the client refuses before sending: a missing kind, name, namespace or field manager. Code `ERR_CLIENT_INVALID_REQUEST`. */
export class InvalidRequestError extends KubevisorError {
  constructor(message: string) {
    super('ERR_CLIENT_INVALID_REQUEST', message)
  }
}

const PATCH_CONTENT_TYPES: Record<PatchType | 'apply', string> = {
  merge: 'application/merge-patch+json',
  json: 'application/json-patch+json',
  strategic: 'application/strategic-merge-patch+json',
  apply: 'application/apply-patch+yaml',
}

/** Which part of an object a request addresses. */
type Subresource = 'status' | 'scale' | undefined

/**
 * A typed client for any kind. Pass the object's type (e.g. `Plain<V1ConfigMap>` or your
 * own interface extending `KubeObject`) as the type parameter, as for informers.
 *
 * Failures are typed: `NotFoundError`, `AlreadyExistsError`, `ConflictError`, `InvalidError`
 * (with `causes`), `ForbiddenError`, ... with guards `isNotFound(err)` etc.
 *
 * @example
 * ```ts
 * const client = new Client(kubeConfig, { fieldManager: 'site-controller' })
 * const cm = await client.apply({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'a', namespace: 'default' }, data: { k: 'v' } })
 * await client.delete({ apiVersion: 'v1', kind: 'ConfigMap', namespace: 'default', name: 'a' }, { propagationPolicy: 'Foreground' })
 * ```
 */
export class Client {
  /** The transport requests go through. */
  readonly transport: ApiTransport
  /** The default field manager, if any. */
  readonly fieldManager: string | undefined
  /** `client.status.update(obj)`, `.patch(ref, patch)`, `.apply(obj)`: the `status` subresource. */
  readonly status: StatusWriter
  /** `client.scale.get(ref)`, `.update(ref, replicas)`, `.patch(...)`, `.apply(...)`: the `scale` subresource. */
  readonly scale: ScaleClient
  readonly #timeoutMs: number
  readonly #maxRetries: number
  readonly #maxRetryAfterSeconds: number
  readonly #clock: Clock
  readonly #onWarning: ((warning: string) => void) | undefined

  constructor(kubeConfig: KubeConfig, options: ClientOptions = {}) {
    this.transport = options.transport ?? ApiTransport.for(kubeConfig)
    this.fieldManager = options.fieldManager
    this.#timeoutMs = options.timeoutMs ?? 60_000
    this.#maxRetries = options.maxRetries ?? 10
    this.#maxRetryAfterSeconds = options.maxRetryAfterSeconds ?? 60
    this.#clock = options.clock ?? systemClock
    const logger = options.logger
    this.#onWarning = options.onWarning ?? (logger ? (warning) => logger.warn({ warning }, 'API server warning') : undefined)
    this.status = new StatusWriter(this)
    this.scale = new ScaleClient(this)
  }

  /** Reads one object. `NotFoundError` when it does not exist. */
  get<T extends ObjectLike = KubeObject>(ref: ObjectRef, options: RequestOptions & { resourceVersion?: string } = {}): Promise<T> {
    return this.getObject<T>(ref, undefined, options)
  }

  /**
   * Lists one page (`limit` set) or the whole collection. Items get `apiVersion` and `kind`
   * like the watchers' objects. For every page of a large collection use {@link Client.listAll}.
   */
  async list<T extends ObjectLike = KubeObject>(ref: CollectionRef, options: ListOptions = {}): Promise<ObjectList<T>> {
    const resource = await this.resolve(ref)
    const query = new URLSearchParams()
    const labels = options.labelSelector
    if (labels !== undefined) query.set('labelSelector', typeof labels === 'string' ? labels : formatLabels(labels))
    if (options.fieldSelector !== undefined) query.set('fieldSelector', options.fieldSelector)
    if (options.limit !== undefined) query.set('limit', String(options.limit))
    if (options.continue !== undefined) query.set('continue', options.continue)
    if (options.resourceVersion !== undefined) query.set('resourceVersion', options.resourceVersion)
    if (options.resourceVersionMatch !== undefined) query.set('resourceVersionMatch', options.resourceVersionMatch)
    const list = await this.#send<ObjectList<T>>('GET', this.#collectionPath(resource, ref.namespace), query, options)
    list.items ??= []
    list.metadata ??= {}
    const kind = list.kind?.endsWith('List') ? list.kind.slice(0, -4) : ref.kind
    for (const item of list.items as ObjectLike[]) {
      item.apiVersion ??= list.apiVersion ?? ref.apiVersion
      item.kind ??= kind
    }
    return list
  }

  /**
   * Every item of a collection, fetched in pages of `limit` (default 500) as one snapshot.
   * When the snapshot expires between pages (410 `Expired`), it lists again without paging,
   * as client-go's `pager` falls back to a full list.
   */
  async listAll<T extends ObjectLike = KubeObject>(ref: CollectionRef, options: Omit<ListOptions, 'continue'> = {}): Promise<ObjectList<T>> {
    const limit = options.limit ?? 500
    let page = await this.list<T>(ref, { ...options, limit })
    const items = [...page.items]
    while (page.metadata.continue) {
      try {
        page = await this.list<T>(ref, { ...options, limit, continue: page.metadata.continue, resourceVersion: undefined, resourceVersionMatch: undefined })
      } catch (err) {
        if (!(err instanceof ApiStatusError && err.status === 410)) throw err
        return this.list<T>(ref, { ...options, limit: undefined })
      }
      items.push(...page.items)
    }
    return { ...page, metadata: { ...page.metadata, continue: undefined } as ObjectList<T>['metadata'], items }
  }

  /** Creates an object. `AlreadyExistsError` when the name is taken; `InvalidError` when it fails validation. */
  async create<T extends ObjectLike>(object: T, options: WriteOptions = {}): Promise<T> {
    const { ref, resource } = await this.#target(object, false)
    return this.#send<T>('POST', this.#collectionPath(resource, ref.namespace), this.#writeQuery(options), options, jsonBody(object))
  }

  /**
   * Replaces an object (PUT). With `metadata.resourceVersion` set (as on every object read
   * from the server or a store) the write succeeds only if nobody changed the object since:
   * otherwise `ConflictError` — re-read and retry with {@link retryOnConflict}.
   */
  async update<T extends ObjectLike>(object: T, options: WriteOptions = {}): Promise<T> {
    return this.writeObject('PUT', object, undefined, options)
  }

  /**
   * Patches an object: `merge` (default, RFC 7386), `json` (RFC 6902 operations) or
   * `strategic` (built-in kinds; custom resources answer `UnsupportedMediaTypeError`).
   */
  async patch<T extends ObjectLike = KubeObject>(ref: ObjectRef, patch: unknown, options: PatchOptions = {}): Promise<T> {
    return this.patchObject<T>(ref, patch, undefined, options)
  }

  /**
   * Server-side apply: sends `object` as the field manager's whole intent
   * (`application/apply-patch+yaml`), creating the object if missing. Fields it owns and no
   * longer sends are removed; fields another manager owns fail with a `ConflictError` whose
   * `causes` name them, unless `force`. `metadata.managedFields` of the input is left out, so
   * an object read from a store can be applied as it is; a `metadata.resourceVersion` left in
   * makes the apply conditional, as the API server defines.
   */
  async apply<T extends ObjectLike>(object: T, options: ApplyOptions = {}): Promise<T> {
    return this.applyObject(object, undefined, options)
  }

  /**
   * Deletes an object. Resolves with the object as the server answered (with
   * `deletionTimestamp` while finalizers or a grace period hold it), or `undefined` when the
   * server answered with a `Status`. `NotFoundError` when it is already gone
   * (`.catch(ignoreNotFound)` to accept that); `ConflictError` when a precondition fails.
   */
  async delete<T extends ObjectLike = KubeObject>(ref: ObjectRef, options: DeleteOptions = {}): Promise<T | undefined> {
    const resource = await this.resolve(ref)
    const body: Record<string, unknown> = { apiVersion: 'v1', kind: 'DeleteOptions' }
    if (options.preconditions !== undefined) body.preconditions = options.preconditions
    if (options.propagationPolicy !== undefined) body.propagationPolicy = options.propagationPolicy
    if (options.gracePeriodSeconds !== undefined) body.gracePeriodSeconds = options.gracePeriodSeconds
    if (options.dryRun) body.dryRun = ['All']
    const query = new URLSearchParams()
    if (options.dryRun) query.set('dryRun', 'All')
    const answer = await this.#send<T | Status>('DELETE', this.#objectPath(resource, ref), query, options, JSON.stringify(body))
    return (answer as Status).kind === 'Status' ? undefined : (answer as T)
  }

  /** Resolves a kind to its REST collection through discovery (cached per server). */
  resolve(ref: { apiVersion: string; kind: string }): Promise<ResolvedResource> {
    if (!ref.apiVersion || !ref.kind) throw new InvalidRequestError(`apiVersion and kind are required, got ${JSON.stringify({ apiVersion: ref.apiVersion, kind: ref.kind })}`)
    return resolveResource(this.transport, ref.apiVersion, ref.kind)
  }

  /** GET of an object or its subresource. @internal */
  async getObject<T>(ref: ObjectRef, subresource: Subresource, options: RequestOptions & { resourceVersion?: string }): Promise<T> {
    const resource = await this.resolve(ref)
    const query = new URLSearchParams()
    if (options.resourceVersion !== undefined) query.set('resourceVersion', options.resourceVersion)
    return this.#send<T>('GET', this.#objectPath(resource, ref, subresource), query, options)
  }

  /** PUT of an object or its subresource; `target` names the object when `object` is a subresource's (a Scale). @internal */
  async writeObject<T extends ObjectLike>(method: 'PUT', object: T, subresource: Subresource, options: WriteOptions, target?: ObjectRef): Promise<T> {
    const { ref, resource } = target ? { ref: target, resource: await this.resolve(target) } : await this.#target(object, true)
    return this.#send<T>(method, this.#objectPath(resource, ref, subresource), this.#writeQuery(options), options, jsonBody(object))
  }

  /** PATCH of an object or its subresource. @internal */
  async patchObject<T>(ref: ObjectRef, patch: unknown, subresource: Subresource, options: PatchOptions): Promise<T> {
    const type = options.type ?? 'merge'
    const contentType = PATCH_CONTENT_TYPES[type]
    if (contentType === undefined) throw new InvalidRequestError(`unknown patch type ${JSON.stringify(type)}: use merge, json or strategic (or apply())`)
    if (type === 'json' ? !Array.isArray(patch) : patch === null || typeof patch !== 'object' || Array.isArray(patch)) {
      throw new InvalidRequestError(type === 'json' ? 'a JSON patch is an array of operations' : `a ${type} patch is an object`)
    }
    const resource = await this.resolve(ref)
    checkRef(ref, resource)
    return this.#send<T>('PATCH', this.#objectPath(resource, ref, subresource), this.#writeQuery(options), options, JSON.stringify(patch), contentType)
  }

  /** Server-side apply of an object or its subresource. @internal */
  async applyObject<T extends ObjectLike>(object: T, subresource: Subresource, options: ApplyOptions, target?: ObjectRef): Promise<T> {
    const fieldManager = options.fieldManager ?? this.fieldManager
    if (!fieldManager) throw new InvalidRequestError('server-side apply needs a fieldManager: pass one to apply() or to new Client(kubeConfig, { fieldManager })')
    const { ref, resource } = target ? { ref: target, resource: await this.resolve(target) } : await this.#target(object, true)
    checkRef(ref, resource)
    const query = this.#writeQuery({ ...options, fieldManager, fieldValidation: options.fieldValidation ?? 'Strict' })
    if (options.force) query.set('force', 'true')
    return this.#send<T>('PATCH', this.#objectPath(resource, ref, subresource), query, options, applyBody(object), PATCH_CONTENT_TYPES.apply)
  }

  async #target(object: ObjectLike, named: boolean): Promise<{ ref: ObjectRef; resource: ResolvedResource }> {
    if (object === null || typeof object !== 'object') throw new InvalidRequestError('expected an object')
    const { apiVersion, kind } = object
    if (!apiVersion || !kind) throw new InvalidRequestError(`the object needs apiVersion and kind (got ${JSON.stringify({ apiVersion, kind })})`)
    const name = object.metadata?.name
    if (named && !name) throw new InvalidRequestError(`${kind} needs metadata.name`)
    const ref: ObjectRef = { apiVersion, kind, name: name ?? '', namespace: object.metadata?.namespace }
    const resource = await this.resolve(ref)
    if (resource.namespaced && !ref.namespace) throw new InvalidRequestError(`${kind} is namespaced: set metadata.namespace`)
    return { ref, resource }
  }

  #writeQuery(options: WriteOptions): URLSearchParams {
    const query = new URLSearchParams()
    if (options.dryRun) query.set('dryRun', 'All')
    const fieldManager = options.fieldManager ?? this.fieldManager
    if (fieldManager) query.set('fieldManager', fieldManager)
    if (options.fieldValidation) query.set('fieldValidation', options.fieldValidation)
    return query
  }

  #collectionPath(resource: ResolvedResource, namespace: string | undefined): string {
    if (resource.namespaced && namespace) return `${resource.groupVersionPath}/namespaces/${encodeURIComponent(namespace)}/${resource.plural}`
    return `${resource.groupVersionPath}/${resource.plural}`
  }

  #objectPath(resource: ResolvedResource, ref: ObjectRef, subresource?: Subresource): string {
    checkRef(ref, resource)
    const path = `${this.#collectionPath(resource, ref.namespace)}/${encodeURIComponent(ref.name)}`
    return subresource ? `${path}/${subresource}` : path
  }

  /** Sends, retrying throttled answers (429, or 5xx with `Retry-After`) like client-go's rest client. */
  async #send<T>(method: ApiRequest['method'], path: string, query: URLSearchParams, options: RequestOptions, body?: string, contentType = 'application/json'): Promise<T> {
    const timeoutMs = options.timeoutMs ?? this.#timeoutMs
    const request: ApiRequest = {
      method,
      path,
      query,
      signal: options.signal,
      timeoutMs: timeoutMs > 0 ? timeoutMs : undefined,
      headers: body === undefined ? undefined : { 'Content-Type': contentType },
      body,
    }
    for (let attempt = 0; ; attempt++) {
      try {
        const res = await this.transport.request(request)
        const warning = res.headers.warning
        if (warning !== undefined && this.#onWarning) for (const w of Array.isArray(warning) ? warning : [warning]) this.#onWarning(w)
        const text = (await this.transport.readBody(res)).toString('utf8')
        return JSON.parse(text) as T
      } catch (err) {
        const wait = retryAfter(err)
        if (wait === undefined || attempt >= this.#maxRetries || wait > this.#maxRetryAfterSeconds) throw err
        await sleep(this.#clock, wait * 1000, options.signal)
      }
    }
  }
}

/** The wait (seconds) before retrying a throttled answer, or undefined when it is not one client-go retries. */
function retryAfter(err: unknown): number | undefined {
  if (!(err instanceof ApiStatusError) || err.retryAfterSeconds === undefined) return undefined
  if (err.status === 429 || err.status >= 500) return err.retryAfterSeconds
  return undefined
}

function checkRef(ref: ObjectRef, resource: ResolvedResource): void {
  if (!ref.name) throw new InvalidRequestError(`${ref.kind} needs a name`)
  if (resource.namespaced && !ref.namespace) throw new InvalidRequestError(`${ref.kind} ${ref.name} is namespaced: give its namespace`)
}

function jsonBody(object: unknown): string {
  return JSON.stringify(object)
}

/** The apply body: the object without `metadata.managedFields` (the server refuses an apply that sets them). */
function applyBody(object: ObjectLike): string {
  const meta = object.metadata as Record<string, unknown> | undefined
  if (meta?.managedFields === undefined) return JSON.stringify(object)
  return JSON.stringify(object, (key, value) => (key === 'managedFields' && value === meta.managedFields ? undefined : value))
}

/** `{ app: 'web', tier: 'db' }` → `app=web,tier=db`. */
function formatLabels(labels: Record<string, string>): string {
  return Object.entries(labels)
    .map(([k, v]) => `${k}=${v}`)
    .join(',')
}

/** The names of an object: `{ apiVersion, kind, name, namespace }`, for `get`, `patch` and `delete`. */
export function refOf(object: ObjectLike): ObjectRef {
  const { apiVersion, kind } = object
  const name = object.metadata?.name
  if (!apiVersion || !kind || !name) throw new InvalidRequestError(`the object needs apiVersion, kind and metadata.name (got ${JSON.stringify({ apiVersion, kind, name })})`)
  return { apiVersion, kind, name, namespace: object.metadata?.namespace }
}

/**
 * `client.IgnoreNotFound`: returns `undefined` for a `NotFoundError` and rethrows anything
 * else, for `await client.delete(ref).catch(ignoreNotFound)`.
 */
export function ignoreNotFound(err: unknown): undefined {
  if (err instanceof ApiStatusError && err.status === 404) return undefined
  throw err
}

/** The `status` subresource: writes that touch `.status` only (and ignore everything else of the object). */
export class StatusWriter {
  readonly #client: Client
  constructor(client: Client) {
    this.#client = client
  }

  /** PUT `.../status`: replaces the status; optimistic concurrency through `metadata.resourceVersion`. */
  update<T extends ObjectLike>(object: T, options: WriteOptions = {}): Promise<T> {
    return this.#client.writeObject('PUT', object, 'status', options)
  }

  /** PATCH `.../status`, e.g. `client.status.patch(ref, { status: { phase: 'Ready' } })`. */
  patch<T extends ObjectLike = KubeObject>(ref: ObjectRef, patch: unknown, options: PatchOptions = {}): Promise<T> {
    return this.#client.patchObject<T>(ref, patch, 'status', options)
  }

  /** Server-side apply of the status: `object` carries `apiVersion`, `kind`, `metadata.name`/`namespace` and the `status` fields this manager owns. */
  apply<T extends ObjectLike>(object: T, options: ApplyOptions = {}): Promise<T> {
    return this.#client.applyObject(object, 'status', options)
  }
}

/** The `scale` subresource (`autoscaling/v1` `Scale`) of deployments, stateful sets, replica sets and CRDs that declare it. */
export class ScaleClient {
  readonly #client: Client
  constructor(client: Client) {
    this.#client = client
  }

  /** Reads the Scale of an object: `spec.replicas`, `status.replicas`, `status.selector`. */
  get(ref: ObjectRef, options: RequestOptions = {}): Promise<Scale> {
    return this.#client.getObject<Scale>(ref, 'scale', options)
  }

  /**
   * Sets the replica count (PUT `.../scale`). With `resourceVersion` the write is
   * conditional (`ConflictError` when the object changed since).
   */
  update(ref: ObjectRef, replicas: number, options: WriteOptions & { resourceVersion?: string } = {}): Promise<Scale> {
    if (!Number.isInteger(replicas) || replicas < 0) throw new InvalidRequestError(`replicas must be an integer ≥ 0, got ${replicas}`)
    const metadata: Record<string, string> = { name: ref.name }
    if (ref.namespace) metadata.namespace = ref.namespace
    if (options.resourceVersion) metadata.resourceVersion = options.resourceVersion
    const scale: Scale = { apiVersion: 'autoscaling/v1', kind: 'Scale', metadata, spec: { replicas } }
    return this.#client.writeObject('PUT', scale, 'scale', options, ref)
  }

  /** PATCH `.../scale`, e.g. `client.scale.patch(ref, { spec: { replicas: 3 } })`. */
  patch(ref: ObjectRef, patch: unknown, options: PatchOptions = {}): Promise<Scale> {
    return this.#client.patchObject<Scale>(ref, patch, 'scale', options)
  }

  /** Server-side apply of the replica count as `autoscaling/v1` `Scale` (`spec.replicas` owned by the field manager). */
  apply(ref: ObjectRef, replicas: number, options: ApplyOptions = {}): Promise<Scale> {
    const metadata: Record<string, string> = { name: ref.name }
    if (ref.namespace) metadata.namespace = ref.namespace
    return this.#client.applyObject({ apiVersion: 'autoscaling/v1', kind: 'Scale', metadata, spec: { replicas } }, 'scale', options, ref)
  }
}
