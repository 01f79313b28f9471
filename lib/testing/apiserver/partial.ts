/**
 * Metadata-only reads (`PartialObjectMetadata`), as kube-apiserver negotiates them from the
 * `Accept` header: `application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1` for a
 * list, `…;as=PartialObjectMetadata;…` for one object and for every object of a watch
 * (client-go's metadata client, controller-runtime's `OnlyMetadata`, kube-rs'
 * `metadata_watcher`).
 *
 * Rules, checked against kube-apiserver v1.34 in the conformance suite (test/conformance/metadata.ts;
 * anchors: apiserver `endpoints/handlers/negotiation` and `handlers/response.go`):
 * - `Accept` entries are tried in order; an entry with an `as=` parameter is acceptable only
 *   as JSON or YAML with `g=meta.k8s.io`, `v=v1` or `v1beta1` and a known `as`
 *   (`PartialObjectMetadata`, `PartialObjectMetadataList`, `Table`); otherwise the next entry
 *   is tried. When none is acceptable: 406 NotAcceptable, "only the following media types
 *   are accepted: …".
 * - The chosen conversion must fit the answer: `PartialObjectMetadata` for a list, or
 *   `PartialObjectMetadataList` for one object, is a 406 naming the Go type; a watch with
 *   `PartialObjectMetadataList` is accepted and then ends without events (the server fails
 *   to convert each event object and closes the stream).
 * - Items and watch objects carry `kind: PartialObjectMetadata` and `apiVersion:
 *   meta.k8s.io/<v>` and the object's whole `metadata` (managedFields included); BOOKMARKs
 *   of such a watch have the same kind.
 *
 * `as=Table` is recognized here only to be left to table.ts, unchanged.
 */
import { ApiServerStatusError, statusFor } from './status.ts'
import type { ResourceDef } from './resources.ts'
import type { KubeObject } from './types.ts'

/** What a request asked its answer to be converted to (`as=`), when it is metadata. */
export interface PartialConversion {
  /** `PartialObjectMetadataList` (lists) or `PartialObjectMetadata` (one object, watch events). */
  readonly as: 'PartialObjectMetadata' | 'PartialObjectMetadataList'
  /** `meta.k8s.io/v1` or `meta.k8s.io/v1beta1`. */
  readonly apiVersion: string
}

const ACCEPTED = 'application/json, application/yaml, application/vnd.kubernetes.protobuf'
const KNOWN_AS = new Set(['PartialObjectMetadata', 'PartialObjectMetadataList', 'Table'])

/** 406 NotAcceptable with kube-apiserver's message. */
export function notAcceptable(message: string): ApiServerStatusError {
  return new ApiServerStatusError(statusFor(406, 'NotAcceptable', message))
}

/**
 * The metadata conversion an `Accept` header asks for: undefined when the first acceptable
 * entry asks for none (a plain type, `as=Table`, or no header). Throws the 406 of
 * kube-apiserver when every entry carries an `as=` this server cannot produce.
 */
export function partialConversion(accept: string | undefined): PartialConversion | undefined {
  // The hot path: plain requests (no `as=` anywhere) cost one substring search.
  if (accept === undefined || !accept.includes('as=')) return undefined
  for (const entry of accept.split(',')) {
    const [type = '', ...params] = entry.split(';').map((p) => p.trim())
    const p = new Map<string, string>()
    for (const param of params) {
      const eq = param.indexOf('=')
      if (eq > 0) p.set(param.slice(0, eq).trim().toLowerCase(), param.slice(eq + 1).trim())
    }
    const as = p.get('as')
    if (as === undefined) return undefined
    const mediaType = type.toLowerCase()
    const json = mediaType === 'application/json' || mediaType === 'application/yaml' || mediaType === '*/*' || mediaType === 'application/*'
    const version = p.get('v')
    if (!json || p.get('g') !== 'meta.k8s.io' || (version !== 'v1' && version !== 'v1beta1') || !KNOWN_AS.has(as)) continue
    if (as === 'Table') return undefined
    return { as: as as PartialConversion['as'], apiVersion: `meta.k8s.io/${version}` }
  }
  throw notAcceptable(`only the following media types are accepted: ${ACCEPTED}`)
}

/** The Go type kube-apiserver names in its 406 messages (`*core.ConfigMapList`, `*unstructured.Unstructured`). */
function goType(def: ResourceDef, list: boolean): string {
  if (def.custom) return list ? '*unstructured.UnstructuredList' : '*unstructured.Unstructured'
  // Internal packages: the core group is `core`, others their group's first label (apps, batch, coordination…).
  const pkg = def.group === '' || def.group === 'events.k8s.io' ? 'core' : (def.group.split('.')[0] ?? def.group)
  return `*${pkg}.${list ? def.listKind : def.kind}`
}

/** Checks that `conversion` fits a list answer (406 for `PartialObjectMetadata`). */
export function checkListConversion(conversion: PartialConversion, def: ResourceDef): void {
  if (conversion.as !== 'PartialObjectMetadataList') {
    throw notAcceptable(`you requested PartialObjectMetadata, but the requested object is a list (${goType(def, true)})`)
  }
}

/** Checks that `conversion` fits a single-object answer (406 for `PartialObjectMetadataList`). */
export function checkObjectConversion(conversion: PartialConversion, def: ResourceDef): void {
  if (conversion.as !== 'PartialObjectMetadata') {
    throw notAcceptable(`you requested PartialObjectMetadataList, but the requested object is not a list (${goType(def, false)})`)
  }
}

const metadataCache = new WeakMap<KubeObject, string>()

/** `JSON.stringify` of a stored (immutable) object's metadata, computed once (as store.ts caches whole objects). */
function metadataJson(obj: KubeObject): string {
  let s = metadataCache.get(obj)
  if (s === undefined) {
    s = JSON.stringify(obj.metadata)
    metadataCache.set(obj, s)
  }
  return s
}

/** One object as `PartialObjectMetadata`. */
export function toPartial(obj: KubeObject, apiVersion: string): { kind: 'PartialObjectMetadata'; apiVersion: string; metadata: KubeObject['metadata'] } {
  return { kind: 'PartialObjectMetadata', apiVersion, metadata: obj.metadata }
}

/** A list body as `PartialObjectMetadataList` (the list's metadata as given: resourceVersion, continue, remainingItemCount). */
export function partialListJson(items: readonly KubeObject[], listMeta: Record<string, unknown>, apiVersion: string): string {
  const head = `{"kind":"PartialObjectMetadata","apiVersion":"${apiVersion}","metadata":`
  let body = ''
  for (const item of items) body += `${body ? ',' : ''}${head}${metadataJson(item)}}`
  return `{"kind":"PartialObjectMetadataList","apiVersion":"${apiVersion}","metadata":${JSON.stringify(listMeta)},"items":[${body}]}`
}
