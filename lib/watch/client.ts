/**
 * The IO edge of the engine: a tiny list/watch interface ({@link ListWatchClient}) that
 * tests replace with fakes, and its real implementation ({@link HttpListWatchClient}) over
 * the shared HTTP path of `lib/api` (KubeConfig auth, keep-alive agents, discovery, typed
 * `Status` errors — the same path the write client uses). Bodies never go through
 * client-node's generated models or its `Watch` class: list pages are parsed with one
 * `JSON.parse`, watch chunks go straight to the `WatchDecoder`.
 */
import type http from 'node:http'
import type { KubeConfig } from '@kubernetes/client-node'
import { type ResolvedResource, resolveResource } from '../api/discovery.ts'
import { ApiTransport, responseChunks } from '../api/transport.ts'
import type { ListParams, WatchParams } from './engine.ts'
import type { KubeObject } from './object.ts'

export type { ResolvedResource } from '../api/discovery.ts'
export { parseRetryAfter, responseChunks } from '../api/transport.ts'
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
  /**
   * Ask for metadata only: lists as `PartialObjectMetadataList` and watch events as
   * `PartialObjectMetadata` (`apiVersion: meta.k8s.io/v1`), through the `Accept` header
   * (see {@link METADATA_LIST_ACCEPT}). Default false: the full objects.
   */
  metadataOnly?: boolean | undefined
}

/**
 * The `Accept` of a metadata-only list, as client-go's metadata client, controller-runtime's
 * `OnlyMetadata` and kube-rs' `metadata_watcher` send it. No plain `application/json`
 * fallback: a server that cannot convert answers 406, rather than full objects in silence.
 */
export const METADATA_LIST_ACCEPT = 'application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1'
/** The `Accept` of a metadata-only watch: each event's object is a `PartialObjectMetadata`. */
export const METADATA_WATCH_ACCEPT = 'application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1'
const LIST_HEADERS: Readonly<Record<string, string>> = Object.freeze({ Accept: METADATA_LIST_ACCEPT })
const WATCH_HEADERS: Readonly<Record<string, string>> = Object.freeze({ Accept: METADATA_WATCH_ACCEPT })

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
  readonly #transport: ApiTransport
  readonly #target: ResourceTarget
  #resolved: Promise<ResolvedResource> | undefined

  constructor(kc: KubeConfig, target: ResourceTarget, options: HttpListWatchClientOptions = {}) {
    this.#transport = options.agent === undefined && options.maxBodyBytes === undefined ? ApiTransport.for(kc) : new ApiTransport(kc, options)
    this.#target = target
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
    const res = await this.#get(this.#collectionPath(resource), query, signal, this.#target.metadataOnly ? LIST_HEADERS : undefined)
    const body = await this.#transport.readBody(res)
    const list = JSON.parse(body.toString('utf8')) as {
      apiVersion?: string
      kind?: string
      metadata?: { resourceVersion?: string; continue?: string }
      items?: KubeObject[] | null
    }
    const items = list.items ?? []
    // List items carry no apiVersion/kind; fill them in so list and watch objects have one shape.
    // (PartialObjectMetadataList items carry theirs: kind PartialObjectMetadata, apiVersion meta.k8s.io/v1.)
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
    const res = await this.#get(this.#collectionPath(resource), query, signal, this.#target.metadataOnly ? WATCH_HEADERS : undefined)
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
    return resolveResource(this.#transport, target.apiVersion, target.kind)
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

  /** A GET with auth applied; resolves with a 2xx response, throws an `ApiStatusError` otherwise. */
  #get(path: string, query: URLSearchParams, signal: AbortSignal, headers: Record<string, string> | undefined): Promise<http.IncomingMessage> {
    return this.#transport.request({ method: 'GET', path, query, signal, headers })
  }
}
