/**
 * The REST semantics of the generic registry (k8s.io/apiserver `registry/generic/registry/store.go`
 * and the built-in strategies), independent of HTTP: create, get, list, update, patch,
 * delete (finalizers), deletecollection, the status subresource, bookkeeping (uid,
 * creationTimestamp, generation, resourceVersion), namespaces and CRDs.
 */
import { randomUUID } from 'node:crypto'
import { parseDocument } from 'yaml'
import {
  applyConfig,
  builtinShape,
  conflictMessage,
  crdShape,
  decodeManagers,
  encodeManagers,
  type Manager,
  pruneUndeclared,
  recordUpdate,
  pathString as pathStringOf,
  printManager as printManagerOf,
  type Shape,
  typedErrors,
  undeclaredFields,
} from './apply.ts'
import { jsonPatch, mergePatch, PatchError, strategicMergePatch } from './patch.ts'
import { type ResourceDef, type ResourceRegistry, resourcesFromCrd } from './resources.ts'
import { InvalidLabelSelectorError, LabelSelector, labelKeyError, labelValueError } from '../../selector/labels.ts'
import { type FieldRequirement, parseFieldSelector, SelectorError } from './selectors.ts'
import {
  alreadyExists,
  applyConflict,
  badRequest,
  unwrappedError,
  conflict,
  expiredContinue,
  type FieldError,
  forbidden,
  forbiddenStatus,
  invalid,
  invalidValue,
  notFound,
  required,
  tooLargeResourceVersion,
  tooOldResourceVersion,
  ApiServerStatusError,
  unsupported,
  unprocessable,
  unsupportedMediaType,
} from './status.ts'
import { objectKey, type VersionedStore } from './store.ts'
import type { KubeObject, ObjectMeta } from './types.ts'

/** Query options of list and watch requests (`metav1.ListOptions`), as strings from the URL. */
export interface ListOptions {
  labelSelector?: string
  fieldSelector?: string
  resourceVersion?: string
  resourceVersionMatch?: string
  limit?: number
  continue?: string
  watch?: boolean
  allowWatchBookmarks?: boolean
  sendInitialEvents?: boolean
  timeoutSeconds?: number
}

/** A list result before rendering. */
export interface ListResult {
  resourceVersion: number
  items: KubeObject[]
  continue?: string
  remainingItemCount?: number
}

/** `DeleteOptions` fields the server honours. */
export interface DeleteOptions {
  preconditions?: { uid?: string; resourceVersion?: string }
  dryRun?: boolean
  /** Deprecated `orphanDependents`; `false` makes a delete that is not immediate answer 202. */
  orphanDependents?: boolean
  /**
   * `Foreground` (finalizer `foregroundDeletion`), `Background` (the default) or `Orphan`
   * (finalizer `orphan`). The server's garbage collector (gc.ts) acts on them after the
   * delete; without it (`controllers: false`) they stay until someone removes them, as with
   * kube-apiserver alone.
   */
  propagationPolicy?: string
  /** Accepted (any integer); no kind the embedded server serves deletes gracefully. */
  gracePeriodSeconds?: number
}

/** What a delete did: the object's last (or marked) state, the HTTP code, whether it is gone. */
export interface DeleteResult {
  object: KubeObject
  code: 200 | 202
  /** The object was removed (not just marked for deletion). */
  removed: boolean
}

/** How unknown fields of a create, update or patch body are handled (`fieldValidation`). */
export type FieldValidation = 'Strict' | 'Warn' | 'Ignore'

/** Options of a write (create, update, patch). */
export interface WriteOptions {
  dryRun?: boolean
  /** The field manager recorded in managedFields (fieldManager, else from the User-Agent). Default `unknown`. */
  fieldManager?: string
  /** `fieldValidation`; default `Warn`, as kube-apiserver without the parameter. */
  fieldValidation?: FieldValidation
  /** Warnings for the response (`Warning: 299 - "..."`) are appended here. */
  warnings?: string[]
  /** Server-side apply: take fields other managers own instead of a 409 Conflict. */
  force?: boolean
  /**
   * Record field ownership in managedFields (default true). The in-process `zeroCopy` fast
   * path turns it off: the object keeps the managedFields it was given.
   */
  trackFields?: boolean
}

/** Options of update and patch: a subresource, and ownership already decided by apply. */
export interface UpdateOptions extends WriteOptions {
  subresource?: 'status'
  /** The subresource recorded on the manager entry when it is not `subresource` (e.g. `scale`). */
  managerSubresource?: string
  /** Managers computed by server-side apply (skips the Update bookkeeping). */
  managers?: Manager[]
  /** The body is the result of a patch (Strict unknown fields are a 422 on the patch). */
  patched?: boolean
}

/** Compiled selectors of a list or watch. */
export interface ObjectFilter {
  namespace: string | undefined
  labels: LabelSelector
  fields: FieldRequirement[]
  def: ResourceDef
}

/** The patch media types and which resources accept them. */
export const PATCH_TYPES = {
  json: 'application/json-patch+json',
  merge: 'application/merge-patch+json',
  strategic: 'application/strategic-merge-patch+json',
  apply: 'application/apply-patch+yaml',
} as const

const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/
const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/
const SUBDOMAIN_MSG =
  "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
const LABEL_MSG =
  "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
const CONTINUE_EXPIRED =
  'The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.'
const GENERATE_CHARS = 'bcdfghjklmnpqrstvwxz2456789'
const PROTECTED_NAMESPACES = new Set(['default', 'kube-system', 'kube-public'])

function isObject(v: unknown): v is Record<string, any> {
  return v !== null && typeof v === 'object' && !Array.isArray(v)
}

function nowTimestamp(): string {
  return new Date().toISOString().replace(/\.\d{3}Z$/, 'Z')
}

/** Structural equality of JSON values, key order ignored; stops at the first difference. */
export function deepEqual(a: unknown, b: unknown, skipTop?: ReadonlySet<string>): boolean {
  if (a === b) return true
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false
    for (let i = 0; i < a.length; i++) if (!deepEqual(a[i], b[i])) return false
    return true
  }
  if (Array.isArray(b)) return false
  const ao = a as Record<string, unknown>
  const bo = b as Record<string, unknown>
  let na = 0
  for (const k in ao) {
    if (skipTop?.has(k)) continue
    if (ao[k] === undefined) continue
    na++
    if (!deepEqual(ao[k], bo[k])) return false
  }
  let nb = 0
  for (const k in bo) {
    if (skipTop?.has(k)) continue
    if (bo[k] !== undefined) nb++
  }
  return na === nb
}

/** Top-level fields that are not "spec" for the purpose of `generation`. */
const NOT_SPEC = new Set(['metadata', 'status', 'apiVersion', 'kind'])

/** The resource's storage key (`group/plural`), shared by all its versions. */
export function resourceKey(def: ResourceDef): string {
  return def.storage ? `${def.storage.group}/${def.storage.plural}` : `${def.group}/${def.plural}`
}

/** The schema shape of a resource for field ownership and unknown-field checks. */
export function shapeOf(def: ResourceDef): Shape {
  if (def.custom) return crdShape(def.schema)
  return builtinShape(def.group ? `${def.group}/${def.kind}` : def.kind)
}

/**
 * What a newly created object is compared against for its first Update entry: the zero
 * value of the Go type, whose non-omitempty struct fields make containers "present" (so
 * they are not owned as a whole), as kube-apiserver's field manager sees it.
 */
function zeroObject(def: ResourceDef): Record<string, unknown> {
  if (def.custom) return {}
  switch (`${def.group}/${def.plural}`) {
    case '/pods':
      return { metadata: {}, spec: { containers: null }, status: {} }
    case '/namespaces':
      return { metadata: {}, spec: {}, status: {} }
    case '/services':
      return { metadata: {}, spec: {}, status: { loadBalancer: {} } }
    case '/events':
      return { metadata: {}, involvedObject: {}, source: {}, firstTimestamp: null, lastTimestamp: null, eventTime: null, reportingComponent: '', reportingInstance: '' }
    case 'events.k8s.io/events':
      return { metadata: {}, eventTime: null, regarding: {}, deprecatedSource: {}, deprecatedFirstTimestamp: null, deprecatedLastTimestamp: null }
    case 'apps/deployments':
      return { metadata: {}, spec: { selector: null, template: { metadata: {}, spec: { containers: null } }, strategy: {} }, status: {} }
    case 'coordination.k8s.io/leases':
      return { metadata: {}, spec: {} }
    case 'apiextensions.k8s.io/customresourcedefinitions':
      return { metadata: {}, spec: { names: {}, versions: null }, status: { acceptedNames: {}, storedVersions: null } }
    default:
      return { metadata: {} }
  }
}

/** The object without managedFields (what field sets describe). */
function withoutManaged(obj: Record<string, any>): Record<string, any> {
  if (!isObject(obj.metadata) || obj.metadata.managedFields === undefined) return obj
  const { managedFields: _, ...metadata } = obj.metadata
  return { ...obj, metadata }
}

/** Sets (or removes) `metadata.managedFields`, last in metadata as kube-apiserver writes it. */
function setManaged(meta: ObjectMeta, managers: Manager[]): void {
  delete meta.managedFields
  const encoded = encodeManagers(managers)
  if (encoded) meta.managedFields = encoded
}

/** metav1.MicroTime's layout (`2006-01-02T15:04:05.000000Z07:00`), element by element, as Go's time.Parse reads it. */
const MICRO_LAYOUT: Array<[string, RegExp]> = [
  ['2006', /^\d{4}/],
  ['-', /^-/],
  ['01', /^\d{2}/],
  ['-', /^-/],
  ['02', /^\d{2}/],
  ['T', /^T/],
  ['15', /^\d{2}/],
  [':', /^:/],
  ['04', /^\d{2}/],
  [':', /^:/],
  ['05', /^\d{2}/],
  ['.000000', /^\.\d{6}/],
  ['Z07:00', /^(Z|[+-]\d{2}:\d{2})/],
]

/**
 * Parses a metav1.MicroTime (exactly six fractional digits) and renders it in UTC as the
 * server stores it; throws the Go parse error text when it is not one.
 */
export function parseMicroTime(value: string): string {
  const layout = '2006-01-02T15:04:05.000000Z07:00'
  let rest = value
  for (const [elem, re] of MICRO_LAYOUT) {
    const m = re.exec(rest)
    if (!m) throw new Error(`parsing time ${JSON.stringify(value)} as ${JSON.stringify(layout)}: cannot parse ${JSON.stringify(rest)} as ${JSON.stringify(elem)}`)
    rest = rest.slice(m[0].length)
  }
  if (rest !== '') throw new Error(`parsing time ${JSON.stringify(value)}: extra text: ${JSON.stringify(rest)}`)
  const micros = value.slice(20, 26)
  const ms = Date.parse(`${value.slice(0, 19)}.${micros.slice(0, 3)}${value.slice(26)}`)
  if (Number.isNaN(ms)) throw new Error(`parsing time ${JSON.stringify(value)}: day out of range`)
  return `${new Date(ms).toISOString().slice(0, 19)}.${micros}Z`
}

/** The MicroTime fields of a kind (metav1.MicroTime in k8s.io/api), as paths. */
function microTimeFields(def: ResourceDef): string[][] {
  if (def.custom) return []
  switch (`${def.group}/${def.plural}`) {
    case 'coordination.k8s.io/leases':
      return [
        ['spec', 'renewTime'],
        ['spec', 'acquireTime'],
      ]
    case '/events':
    case 'events.k8s.io/events':
      return [['eventTime'], ['series', 'lastObservedTime']]
    default:
      return []
  }
}

/** Orders an object's keys as the real server writes them: kind, apiVersion, metadata, rest. */
function normalize(def: ResourceDef, obj: Record<string, any>, metadata: ObjectMeta): KubeObject {
  const { kind: _k, apiVersion: _a, metadata: _m, ...rest } = obj
  return { kind: def.kind, apiVersion: def.apiVersion, metadata, ...rest } as KubeObject
}

/** Why `value` is not a resourceVersion, as kube-apiserver words it; undefined when it is one. */
function rvError(value: string): string | undefined {
  if (/^\d+$/.test(value) && value.length <= 19) return undefined
  const why = /^-?\d+$/.test(value)
    ? `strconv.ParseUint: parsing ${JSON.stringify(value)}: ${value.startsWith('-') ? 'invalid syntax' : 'value out of range'}`
    : `strconv.ParseUint: parsing ${JSON.stringify(value)}: invalid syntax`
  return `resourceVersion: Invalid value: ${JSON.stringify(value)}: ${why}`
}

/** A list's or get's resourceVersion: 400 BadRequest when it does not parse. */
function parseRv(value: string): number {
  const error = rvError(value)
  if (error !== undefined) throw badRequest(`invalid resource version: ${error}`)
  return Number(value)
}

function encodeContinue(rv: number, start: string): string {
  return Buffer.from(JSON.stringify({ v: 'meta.k8s.io/v1', rv, start })).toString('base64')
}

function decodeContinue(token: string): { rv: number; start: string } {
  try {
    const raw = JSON.parse(Buffer.from(token, 'base64').toString('utf8'))
    if (raw?.v !== 'meta.k8s.io/v1' || typeof raw.rv !== 'number' || typeof raw.start !== 'string') throw new Error('bad')
    return { rv: raw.rv, start: raw.start }
  } catch {
    throw badRequest('invalid continue token: continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)')
  }
}

/**
 * Reads the body of an apply patch: `fieldManager` must be set (422 PatchOptions), the body
 * is YAML 1.1 as sigs.k8s.io/yaml reads it (duplicate keys: the last wins) and names its
 * apiVersion and kind (400 otherwise).
 */
export function parseApplyBody(
  rawBody: string,
  fieldManager: string | undefined,
): { config: Record<string, any>; manager: string; group: string; version: string } {
  if (!fieldManager) throw invalid('meta.k8s.io', 'PatchOptions', '', [required('fieldManager', 'is required for apply patch')])
  const doc = parseDocument(rawBody, { version: '1.1', uniqueKeys: false })
  const yamlError = doc.errors[0]
  if (yamlError) throw badRequest(`error decoding YAML: ${yamlError.message.split('\n')[0]}`)
  const config = doc.toJS({ maxAliasCount: 100 }) as unknown
  if (!isObject(config)) throw badRequest('error decoding YAML: the apply patch is not an object')
  const [group = '', version = ''] =
    typeof config.apiVersion === 'string' && config.apiVersion.includes('/') ? config.apiVersion.split('/', 2) : ['', String(config.apiVersion ?? '')]
  if (!config.apiVersion || !config.kind) throw badRequest(`invalid object type: ${group}/${version}, Kind=${config.kind ?? ''}`)
  return { config, manager: fieldManager, group, version }
}

/** The duplicate-key error sigs.k8s.io/yaml's strict decoding reports, or undefined. */
function duplicateKeyError(rawBody: string): string | undefined {
  const doc = parseDocument(rawBody, { version: '1.1', uniqueKeys: true })
  const dup = doc.errors.find((e) => e.code === 'DUPLICATE_KEY')
  if (!dup) return undefined
  const line = dup.linePos?.[0]?.line ?? 0
  const keyText = rawBody.slice(dup.pos[0]).split(/[:\n]/)[0]!.trim()
  return `error converting YAML to JSON: yaml: unmarshal errors:\n  line ${line}: key ${JSON.stringify(keyText)} already set in map`
}

const ORPHAN_FINALIZER = 'orphan'
const FOREGROUND_FINALIZER = 'foregroundDeletion'

/** DeleteOptions validation (apimachinery `ValidateDeleteOptions`): 422 Invalid DeleteOptions. */
function validateDeleteOptions(o: DeleteOptions): void {
  const errs: FieldError[] = []
  const policy = o.propagationPolicy
  if (policy !== undefined && o.orphanDependents !== undefined)
    errs.push(invalidValue('propagationPolicy', policy, 'orphanDependents and deletionPropagation cannot be both set'))
  if (policy !== undefined && policy !== 'Foreground' && policy !== 'Background' && policy !== 'Orphan')
    errs.push(unsupported('propagationPolicy', policy, ['Foreground', 'Background', 'Orphan', 'nil']))
  if (errs.length) throw invalid('meta.k8s.io', 'DeleteOptions', '', errs)
}

/** store.go shouldOrphanDependents (default policy: delete dependents in the background). */
function shouldOrphan(o: DeleteOptions, finalizers: readonly string[]): boolean {
  if (o.orphanDependents !== undefined) return o.orphanDependents
  if (o.propagationPolicy !== undefined) return o.propagationPolicy === 'Orphan'
  for (const f of finalizers) {
    if (f === ORPHAN_FINALIZER) return true
    if (f === FOREGROUND_FINALIZER) return false
  }
  return false
}

/** store.go shouldDeleteDependents. */
function shouldDeleteForeground(o: DeleteOptions, finalizers: readonly string[]): boolean {
  if (o.orphanDependents !== undefined) return false
  if (o.propagationPolicy !== undefined) return o.propagationPolicy === 'Foreground'
  for (const f of finalizers) {
    if (f === FOREGROUND_FINALIZER) return true
    if (f === ORPHAN_FINALIZER) return false
  }
  return false
}

/** Validates ListOptions like `apimachinery/pkg/apis/meta/internalversion/validation`. */
export function validateListOptions(o: ListOptions): void {
  const errs: FieldError[] = []
  const match = o.resourceVersionMatch ?? ''
  if (o.sendInitialEvents !== undefined) {
    if (!o.watch) errs.push(forbidden('sendInitialEvents', 'sendInitialEvents is forbidden for list'))
    else {
      if (match !== 'NotOlderThan')
        errs.push(forbidden('resourceVersionMatch', 'sendInitialEvents requires setting resourceVersionMatch to NotOlderThan'))
      if (!o.allowWatchBookmarks)
        errs.push(forbidden('allowWatchBookmarks', 'sendInitialEvents requires setting allowWatchBookmarks to true'))
    }
  } else if (o.watch && match !== '') {
    errs.push(forbidden('resourceVersionMatch', 'resourceVersionMatch is forbidden for watch unless sendInitialEvents is provided'))
  }
  if (match !== '' && !o.watch) {
    if (!o.resourceVersion)
      errs.push(forbidden('resourceVersionMatch', 'resourceVersionMatch is forbidden unless resourceVersion is provided'))
    if (o.continue) errs.push(forbidden('resourceVersionMatch', 'resourceVersionMatch is forbidden when continue is provided'))
    if (match === 'Exact' && o.resourceVersion === '0')
      errs.push(forbidden('resourceVersionMatch', 'resourceVersionMatch "exact" is forbidden for resourceVersion "0"'))
  }
  if (match !== '' && match !== 'Exact' && match !== 'NotOlderThan')
    errs.push(unsupported('resourceVersionMatch', match, ['Exact', 'NotOlderThan', '']))
  if (errs.length) throw invalid('meta.k8s.io', 'ListOptions', '', errs)
}

/** The REST layer over one store and registry. */
export class Rest {
  readonly store: VersionedStore
  readonly registry: ResourceRegistry
  /** Called after a CRD's kinds stop being served (the server ends their watches). */
  onResourcesRemoved: (defs: ResourceDef[]) => void = () => {}
  #clusterIp = 1

  constructor(store: VersionedStore, registry: ResourceRegistry) {
    this.store = store
    this.registry = registry
  }

  /** Creates the namespaces every cluster starts with. */
  bootstrap(): void {
    const ns = this.registry.lookup('', 'v1', 'namespaces')!
    for (const name of ['default', 'kube-system', 'kube-public', 'kube-node-lease']) {
      this.create(ns, undefined, { metadata: { name } })
    }
  }

  /** The object as served at `def`'s version (CRDs may serve several versions of one object). */
  view(def: ResourceDef, obj: KubeObject): KubeObject {
    if (def.storage) {
      const { kind: _k, apiVersion: _a, metadata, ...rest } = def.storage.fromStorage(obj)
      return { kind: def.kind, apiVersion: def.apiVersion, metadata, ...rest } as KubeObject
    }
    return obj.apiVersion === def.apiVersion ? obj : { ...obj, apiVersion: def.apiVersion }
  }

  /** A body in `def`'s version as the stored object (the inverse of {@link Rest.view}). */
  #toStorage(def: ResourceDef, obj: KubeObject): KubeObject {
    if (!def.storage) return obj
    const stored = def.storage.toStorage(obj)
    const storageDef = this.registry.lookup(def.storage.group, 'v1', def.storage.plural)
    const { kind: _k, apiVersion: _a, metadata, ...rest } = stored
    return { kind: storageDef?.kind ?? def.kind, apiVersion: storageDef?.apiVersion ?? 'v1', metadata, ...rest } as KubeObject
  }

  /**
   * Unknown fields of a create or update body (`fieldValidation`): Strict refuses them (400),
   * Warn (the default) and Ignore drop them, Warn with a warning each. Built-in kinds are
   * checked at the top level and in metadata, custom resources against their schema.
   */
  /** A ConfigMap's data must be strings (the JSON decoder's 400 otherwise). */
  #checkValueTypes(def: ResourceDef, body: Record<string, any>): void {
    if (def.custom || def.group !== '' || def.plural !== 'configmaps' || !isObject(body.data)) return
    for (const v of Object.values(body.data)) {
      if (typeof v === 'string') continue
      const type = v === null ? undefined : Array.isArray(v) ? 'array' : typeof v === 'object' ? 'object' : typeof v === 'boolean' ? 'bool' : typeof v
      if (!type) continue
      throw badRequest(
        `${def.kind} in version "${def.version}" cannot be handled as a ${def.kind}: json: cannot unmarshal ${type} into Go struct field ${def.kind}.data of type string`,
      )
    }
  }

  #checkUnknown(def: ResourceDef, body: Record<string, any>, opts: WriteOptions): void {
    this.#checkValueTypes(def, body)
    const shape = shapeOf(def)
    const unknown = undeclaredFields(body, shape).map((p) => p.slice(1))
    if (unknown.length === 0) return
    const mode = opts.fieldValidation ?? 'Warn'
    if (mode === 'Strict' && (opts as UpdateOptions).patched)
      // apiserver handlers/patch.go: the patched object fails strict decoding.
      throw invalid('', '', '', [
        invalidValue('patch', JSON.stringify(body), `strict decoding error: ${unknown.map((f) => `unknown field ${JSON.stringify(f)}`).join(', ')}`),
      ])
    if (mode === 'Strict')
      throw badRequest(
        `${def.kind} in version "${def.version}" cannot be handled as a ${def.kind}: strict decoding error: ${unknown.map((f) => `unknown field ${JSON.stringify(f)}`).join(', ')}`,
      )
    if (mode === 'Warn') for (const f of unknown) opts.warnings?.push(`unknown field ${JSON.stringify(f)}`)
    pruneUndeclared(body, shape)
  }

  /** Parses the MicroTime fields of `obj` (400 like the decoder) and renders them in UTC. */
  #microTimes(def: ResourceDef, obj: Record<string, any>): void {
    for (const path of microTimeFields(def)) {
      let parent: any = obj
      for (const p of path.slice(0, -1)) parent = isObject(parent) ? parent[p] : undefined
      const last = path[path.length - 1]!
      if (!isObject(parent) || parent[last] === undefined || parent[last] === null) continue
      try {
        if (typeof parent[last] !== 'string') throw new Error(`json: cannot unmarshal ${typeof parent[last]} into Go value of type string`)
        parent[last] = parseMicroTime(parent[last])
      } catch (err) {
        throw badRequest(`${def.kind} in version "${def.version}" cannot be handled as a ${def.kind}: ${(err as Error).message}`)
      }
    }
  }

  #gr(def: ResourceDef) {
    return { group: def.group, resource: def.plural }
  }

  /** Compiles the selectors of a list/watch; 400 on bad syntax or unknown field labels. */
  filter(def: ResourceDef, namespace: string | undefined, o: ListOptions): ObjectFilter {
    let labels: LabelSelector
    let fields: FieldRequirement[]
    try {
      labels = LabelSelector.parse(o.labelSelector ?? '')
      fields = parseFieldSelector(o.fieldSelector ?? '')
    } catch (err) {
      if (err instanceof InvalidLabelSelectorError) throw badRequest(err.reason)
      if (err instanceof SelectorError) throw badRequest(err.message)
      throw err
    }
    for (const f of fields) {
      if (f.field === 'metadata.name' || f.field === 'metadata.namespace' || Object.hasOwn(def.fields, f.field)) continue
      throw badRequest(
        // Kinds without field label conversions (custom resources, configmaps, deployments...)
        // get the generic message; kinds with conversions (pods, secrets...) get theirs.
        def.custom || Object.keys(def.fields).length === 0
          ? `"${f.field}" is not a known field selector: only "metadata.name", "metadata.namespace"`
          : `field label not supported: ${f.field}`,
      )
    }
    return { namespace, labels, fields, def }
  }

  /** Whether `obj` passes a filter (namespace, labels, fields). */
  matches(f: ObjectFilter, obj: KubeObject): boolean {
    if (f.namespace !== undefined && obj.metadata.namespace !== f.namespace) return false
    if (!f.labels.empty && !f.labels.matches(obj.metadata.labels)) return false
    for (const r of f.fields) {
      let v: string
      if (r.field === 'metadata.name') v = obj.metadata.name ?? ''
      else if (r.field === 'metadata.namespace') v = obj.metadata.namespace ?? ''
      else v = f.def.fields[r.field]!(obj)
      if ((v === r.value) !== (r.op === '=')) return false
    }
    return true
  }

  /** Resolves the rv a watch starts after (or 410/400), `undefined` meaning "now, with initial state". */
  checkWatchRv(rv: string | undefined): number | undefined {
    if (rv === undefined || rv === '' || rv === '0') return undefined
    // The watch path hands the parse error up unwrapped: 500 with no reason (kube-apiserver 1.34).
    const error = rvError(rv)
    if (error !== undefined) throw unwrappedError(error)
    return Number(rv)
  }

  /** GET one object. */
  get(def: ResourceDef, namespace: string | undefined, name: string, rv?: string): KubeObject {
    if (rv && rv !== '0') {
      const n = parseRv(rv)
      if (n > this.store.resourceVersion) throw tooLargeResourceVersion(n, this.store.resourceVersion)
    }
    const obj = this.store.get(resourceKey(def), objectKey(def.namespaced ? namespace : undefined, name))
    if (!obj) throw notFound(this.#gr(def), name)
    return this.view(def, obj)
  }

  /** LIST with pagination, resourceVersion semantics and selectors. */
  list(def: ResourceDef, namespace: string | undefined, o: ListOptions): ListResult {
    validateListOptions({ ...o, watch: false })
    const f = this.filter(def, namespace, o)
    const res = resourceKey(def)
    const current = this.store.resourceVersion
    let snapshotRv = current
    let start = ''
    if (o.continue) {
      if (o.resourceVersion && o.resourceVersion !== '0')
        throw badRequest('specifying resource version is not allowed when using continue')
      const token = decodeContinue(o.continue)
      // rv -1: the token of a 410 for a compacted snapshot; it continues at the latest state.
      if (token.rv !== -1) {
        if (token.rv < this.store.compactedRevision(res)) throw expiredContinue(CONTINUE_EXPIRED, encodeContinue(-1, token.start))
        if (token.rv > current) throw tooLargeResourceVersion(token.rv, current)
        snapshotRv = token.rv
      }
      start = token.start
    } else if (o.resourceVersion && o.resourceVersion !== '0') {
      const n = parseRv(o.resourceVersion)
      const exact = o.resourceVersionMatch === 'Exact' || (!o.resourceVersionMatch && o.limit !== undefined && o.limit > 0)
      if (n > current) throw tooLargeResourceVersion(n, current)
      if (exact) {
        const compacted = this.store.compactedRevision(res)
        if (n < compacted) {
          const s = tooOldResourceVersion(n, compacted)
          throw new ApiServerStatusError(s)
        }
        snapshotRv = n
      }
    }
    const prefix = def.namespaced && namespace ? `${namespace}/` : ''
    // Keys of a namespace are exactly those in [`ns/`, `ns0`): '0' follows '/' and
    // namespace names are DNS labels.
    const below = prefix ? `${prefix.slice(0, -1)}0` : '\uffff'
    const from = start > prefix ? start : prefix
    // A cursor, not a copy of the keys: a page costs what it returns (bounded memory per
    // request at a million objects).
    const cursor = this.store.cursor(res, snapshotRv, from)
    // The watch cache serves resourceVersion "0" whole: it ignores limit there (apiserver
    // storage/cacher/cacher.go computeListLimit).
    const limit = o.limit && o.limit > 0 && o.resourceVersion !== '0' ? o.limit : Number.POSITIVE_INFINITY
    const items: KubeObject[] = []
    const selective = !f.labels.empty || f.fields.length > 0
    let lastKey = ''
    let more = false
    for (let key = cursor.next(); key !== undefined; key = cursor.next()) {
      if (key >= below) break
      if (items.length >= limit) {
        more = true
        break
      }
      const obj = cursor.get(key)!
      lastKey = key
      if (selective && !this.matches(f, obj)) continue
      items.push(this.view(def, obj))
    }
    const result: ListResult = { resourceVersion: snapshotRv, items }
    if (more) {
      result.continue = encodeContinue(snapshotRv, `${lastKey}\u0000`)
      if (!selective) result.remainingItemCount = cursor.countFrom(`${lastKey}\u0000`, below)
    }
    return result
  }

  #checkKindAndNamespace(def: ResourceDef, namespace: string | undefined, body: unknown): Record<string, any> {
    if (!isObject(body)) {
      throw badRequest(
        `the object provided is unrecognized (must be of type ${def.kind}): couldn't get version/kind; json parse error: json: cannot unmarshal ${Array.isArray(body) ? 'array' : typeof body} into Go value of type struct { APIVersion string "json:\\"apiVersion,omitempty\\""; Kind string "json:\\"kind,omitempty\\"" }`,
      )
    }
    const [group, version] = typeof body.apiVersion === 'string' && body.apiVersion.includes('/')
      ? body.apiVersion.split('/', 2)
      : ['', body.apiVersion]
    if (body.kind !== undefined && body.kind !== '' && body.kind !== def.kind) {
      throw badRequest(
        `${body.kind} in version "${version ?? def.version}" cannot be handled as a ${def.kind}: converting (${version ?? def.version}.${body.kind}) to (${def.kind}): unknown conversion`,
      )
    }
    if (body.apiVersion !== undefined && body.apiVersion !== '' && (group !== def.group || version !== def.version)) {
      // CRDs may be written at any served version of the same group.
      const sibling = this.registry.lookup(group ?? '', version ?? '', def.plural)
      if (!sibling || sibling.kind !== def.kind)
        throw badRequest(`the API version in the data (${body.apiVersion}) does not match the expected API version (${def.apiVersion})`)
    }
    if (body.metadata !== undefined && !isObject(body.metadata)) {
      throw badRequest(`${def.kind} in version "${def.version}" cannot be handled as a ${def.kind}: json: cannot unmarshal ${typeof body.metadata} into Go struct field ${def.kind}.metadata of type v1.ObjectMeta`)
    }
    const meta = (body.metadata ?? {}) as ObjectMeta
    if (def.namespaced) {
      if (meta.namespace && namespace && meta.namespace !== namespace)
        throw badRequest('the namespace of the provided object does not match the namespace sent on the request')
    }
    return body
  }

  #validateMeta(def: ResourceDef, meta: ObjectMeta): FieldError[] {
    const errs: FieldError[] = []
    const name = meta.name ?? ''
    if (!name) errs.push(required('metadata.name', 'name or generateName is required'))
    else if (def.plural === 'namespaces' || def.plural === 'services') {
      if (name.length > 63) errs.push(invalidValue('metadata.name', name, 'must be no more than 63 characters'))
      else if (!DNS1123_LABEL.test(name)) errs.push(invalidValue('metadata.name', name, LABEL_MSG))
    } else if (name.length > 253) errs.push(invalidValue('metadata.name', name, 'must be no more than 253 characters'))
    else if (!DNS1123_SUBDOMAIN.test(name)) errs.push(invalidValue('metadata.name', name, SUBDOMAIN_MSG))
    if (meta.labels !== undefined) {
      if (!isObject(meta.labels)) errs.push(invalidValue('metadata.labels', String(meta.labels), 'must be a map'))
      else
        for (const [k, v] of Object.entries(meta.labels)) {
          const ke = labelKeyError(k)
          if (ke) errs.push(invalidValue('metadata.labels', k, ke))
          const ve = typeof v === 'string' ? labelValueError(v) : 'must be a string'
          if (ve) errs.push(invalidValue(`metadata.labels`, String(v), ve))
        }
    }
    if (meta.annotations !== undefined && !isObject(meta.annotations))
      errs.push(invalidValue('metadata.annotations', String(meta.annotations), 'must be a map'))
    if (meta.finalizers !== undefined && !Array.isArray(meta.finalizers))
      errs.push(invalidValue('metadata.finalizers', String(meta.finalizers), 'must be a list'))
    return errs
  }

  #validateKind(def: ResourceDef, obj: KubeObject): FieldError[] {
    const errs: FieldError[] = []
    const spec = obj.spec as Record<string, any> | undefined
    if (!def.custom && def.group === '' && def.plural === 'pods') {
      const containers = spec?.containers
      if (!Array.isArray(containers) || containers.length === 0) errs.push(required('spec.containers', ''))
      else
        containers.forEach((c: any, i: number) => {
          if (!c?.name) errs.push(required(`spec.containers[${i}].name`, ''))
          if (!c?.image) errs.push(required(`spec.containers[${i}].image`, ''))
        })
    }
    if (def.group === 'apps' && def.plural === 'deployments') {
      if (!isObject(spec?.selector)) errs.push(required('spec.selector', ''))
    }
    if (def.group === 'coordination.k8s.io' && def.plural === 'leases') {
      // pkg/apis/coordination/validation ValidateLeaseSpec
      const d = spec?.leaseDurationSeconds
      if (typeof d === 'number' && d <= 0) errs.push(invalidValue('spec.leaseDurationSeconds', d, 'must be greater than 0'))
      const t = spec?.leaseTransitions
      if (typeof t === 'number' && t < 0) errs.push(invalidValue('spec.leaseTransitions', t, 'must be greater than or equal to 0'))
    }
    if (def.plural === 'events' && (def.group === '' || def.group === 'events.k8s.io')) {
      // pkg/apis/core/validation/events.go legacyValidateEvent, on the internal (core) shape.
      const e = (def.storage ? def.storage.toStorage(obj) : obj) as Record<string, any>
      const ns = obj.metadata.namespace ?? ''
      const involvedNs = String(e.involvedObject?.namespace ?? '')
      const mismatch = invalidValue('involvedObject.namespace', involvedNs, 'does not match event.namespace')
      const req = (field: string): FieldError => ({ type: 'FieldValueRequired', field, detail: 'Required value' })
      if (!e.eventTime) {
        if (!involvedNs ? ns !== '' && ns !== 'default' : ns !== involvedNs) errs.push(mismatch)
      } else {
        if (!involvedNs && ns !== 'default' && ns !== 'kube-system') errs.push(mismatch)
        if (!e.reportingComponent) errs.push(req(def.group === '' ? 'reportingComponent' : 'reportingController'))
        if (!e.reportingInstance) errs.push(req('reportingInstance'))
        if (!e.action) errs.push(req('action'))
        if (!e.reason) errs.push(req('reason'))
      }
    }
    if (def.group === 'events.k8s.io' && def.plural === 'events') {
      // pkg/apis/core/validation/events.go ValidateEventCreate for events.k8s.io/v1
      const o = obj as Record<string, any>
      if (!o.eventTime) errs.push({ type: 'FieldValueRequired', field: 'eventTime', detail: 'Required value' })
      if (o.type !== 'Normal' && o.type !== 'Warning')
        errs.push(invalidValue('type', '', `has invalid value: ${o.type ?? ''}`))
    }
    if (def.group === 'apiextensions.k8s.io' && def.plural === 'customresourcedefinitions') {
      const s = (spec ?? {}) as Record<string, any>
      const want = `${s.names?.plural}.${s.group}`
      if (obj.metadata.name !== want)
        errs.push(invalidValue('metadata.name', obj.metadata.name, 'must be spec.names.plural+"."+spec.group'))
      if (!s.group) errs.push(required('spec.group', ''))
      if (!s.names?.plural) errs.push(required('spec.names.plural', ''))
      if (!s.names?.kind) errs.push(required('spec.names.kind', ''))
      if (s.scope !== 'Namespaced' && s.scope !== 'Cluster') errs.push(unsupported('spec.scope', String(s.scope ?? ''), ['Cluster', 'Namespaced']))
      if (!Array.isArray(s.versions) || s.versions.length === 0) errs.push(required('spec.versions', 'must have exactly one version marked as storage version'))
      else if (s.versions.filter((v: any) => v?.storage).length !== 1)
        errs.push(invalidValue('spec.versions', '', 'must have exactly one version marked as storage version'))
    }
    return errs
  }

  #applyDefaults(def: ResourceDef, obj: KubeObject): void {
    if (def.custom) return
    const o = obj as Record<string, any>
    switch (`${def.group}/${def.plural}`) {
      case '/namespaces':
        o.spec = { finalizers: ['kubernetes'], ...(o.spec ?? {}) }
        o.status = { phase: 'Active' }
        obj.metadata.labels = { ...(obj.metadata.labels ?? {}), 'kubernetes.io/metadata.name': obj.metadata.name! }
        break
      case '/pods':
        o.spec = {
          restartPolicy: 'Always',
          terminationGracePeriodSeconds: 30,
          dnsPolicy: 'ClusterFirst',
          schedulerName: 'default-scheduler',
          ...(o.spec ?? {}),
        }
        o.status = { phase: 'Pending', qosClass: 'BestEffort' }
        break
      case '/services': {
        const spec = { type: 'ClusterIP', sessionAffinity: 'None', ...(o.spec ?? {}) }
        if (spec.type !== 'ExternalName' && !spec.clusterIP) {
          const n = this.#clusterIp++
          spec.clusterIP = `10.96.${(n >> 8) & 255}.${n & 255}`
          spec.clusterIPs = [spec.clusterIP]
        }
        o.spec = spec
        o.status = { loadBalancer: {} }
        break
      }
      case '/secrets':
        o.type ??= 'Opaque'
        break
      case '/events':
        // The Go type's non-omitempty fields, as the real server serializes a core/v1 Event.
        o.involvedObject ??= {}
        o.source ??= {}
        o.firstTimestamp ??= null
        o.lastTimestamp ??= null
        o.eventTime ??= null
        o.reportingComponent ??= ''
        o.reportingInstance ??= ''
        break
      case 'events.k8s.io/events':
        o.deprecatedSource ??= {}
        o.deprecatedFirstTimestamp ??= null
        o.deprecatedLastTimestamp ??= null
        break
      case 'apps/deployments':
        o.spec = { replicas: 1, ...(o.spec ?? {}) }
        o.status = {}
        break
      case 'apiextensions.k8s.io/customresourcedefinitions':
        o.status = crdStatus(o)
        break
    }
  }

  #namespaceGate(def: ResourceDef, namespace: string | undefined, name: string): void {
    if (!def.namespaced) return
    if (!namespace) throw badRequest('the server could not find the requested resource')
    const ns = this.store.get('/namespaces', namespace)
    if (!ns) throw notFound({ group: '', resource: 'namespaces' }, namespace)
    if (ns.metadata.deletionTimestamp) {
      const message = `unable to create new content in namespace ${namespace} because it is being terminated`
      throw forbiddenStatus(this.#gr(def), name, message, {
        reason: 'NamespaceTerminating',
        message,
        field: 'metadata.namespace',
      })
    }
  }

  /** POST: creates an object (201). `opts.managers` (server-side apply) replaces the Update entry. */
  create(
    def: ResourceDef,
    namespace: string | undefined,
    body: unknown,
    opts: WriteOptions & { managers?: Manager[] } = {},
  ): KubeObject {
    const raw = this.#checkKindAndNamespace(def, namespace, body)
    if (!opts.managers) this.#checkUnknown(def, raw, opts)
    this.#microTimes(def, raw)
    const given = (raw.metadata ?? {}) as ObjectMeta
    const meta: ObjectMeta = { ...given }
    delete meta.resourceVersion
    delete meta.deletionTimestamp
    delete meta.deletionGracePeriodSeconds
    delete meta.selfLink
    if (opts.trackFields !== false) delete meta.managedFields
    if (!meta.name && meta.generateName) {
      let suffix = ''
      for (let i = 0; i < 5; i++) suffix += GENERATE_CHARS[Math.floor(Math.random() * GENERATE_CHARS.length)]
      meta.name = `${meta.generateName}${suffix}`
    }
    if (def.namespaced) meta.namespace = namespace ?? meta.namespace
    else delete meta.namespace
    const obj = normalize(def, raw, meta)
    if (def.hasStatus) delete (obj as Record<string, unknown>).status
    const errs = [...this.#validateMeta(def, meta), ...this.#validateKind(def, obj)]
    if (errs.length) throw invalid(this.#invalidGroup(def), def.kind, meta.name ?? '', errs)
    this.#namespaceGate(def, meta.namespace, meta.name!)
    const key = objectKey(meta.namespace, meta.name!)
    if (this.store.get(resourceKey(def), key)) throw alreadyExists(this.#gr(def), meta.name!)
    meta.uid = randomUUID()
    meta.creationTimestamp = nowTimestamp()
    if (def.hasGeneration) meta.generation = 1
    else delete meta.generation
    this.#applyDefaults(def, obj)
    if (opts.trackFields !== false || opts.managers) {
      const managers =
        opts.managers ??
        recordUpdate([], zeroObject(def), withoutManaged(obj), shapeOf(def), { manager: opts.fieldManager || 'unknown', apiVersion: def.apiVersion }, def.hasStatus ? 'main' : 'all')
      setManaged(meta, managers)
    }
    const stored = this.#toStorage(def, obj)
    if (opts.dryRun) return this.view(def, stored)
    this.store.commit(resourceKey(def), 'ADDED', key, stored)
    if (def.plural === 'customresourcedefinitions' && def.group === 'apiextensions.k8s.io') {
      this.registry.registerCrd(meta.name!, resourcesFromCrd(stored))
    }
    return this.view(def, stored)
  }

  /** The group named in a 422 Invalid (events.k8s.io Events are validated as the internal core Event). */
  #invalidGroup(def: ResourceDef): string {
    return def.storage ? def.storage.group : def.group
  }

  /** PUT: replaces an object (optimistic concurrency on metadata.resourceVersion). */
  update(def: ResourceDef, namespace: string | undefined, name: string, body: unknown, opts: UpdateOptions = {}): KubeObject {
    const raw = this.#checkKindAndNamespace(def, namespace, body)
    const given = (raw.metadata ?? {}) as ObjectMeta
    if (given.name !== name)
      throw badRequest(`the name of the object (${given.name ?? ''}) does not match the name on the URL (${name})`)
    if (!opts.managers && !opts.subresource) this.#checkUnknown(def, raw, opts)
    this.#microTimes(def, raw)
    const res = resourceKey(def)
    const key = objectKey(def.namespaced ? namespace : undefined, name)
    const stored = this.store.get(res, key)
    if (!stored) throw notFound(this.#gr(def), name)
    const old = this.view(def, stored)
    if (given.resourceVersion) {
      if (!/^\d+$/.test(given.resourceVersion))
        throw invalid(def.group, def.kind, name, [
          invalidValue('metadata.resourceVersion', given.resourceVersion, 'must be specified for an update'),
        ])
      if (given.resourceVersion !== old.metadata.resourceVersion) throw conflict(this.#gr(def), name)
    } else if (def.custom) {
      throw invalid(def.group, def.kind, name, [
        { type: 'FieldValueInvalid', field: 'metadata.resourceVersion', detail: 'Invalid value: 0x0: must be specified for an update' },
      ])
    }
    let next: KubeObject
    if (opts.subresource === 'status') {
      next = { ...old, metadata: { ...old.metadata } }
      if (raw.status === undefined) delete (next as Record<string, unknown>).status
      else (next as Record<string, unknown>).status = raw.status
    } else {
      const meta: ObjectMeta = { ...given }
      for (const k of ['uid', 'creationTimestamp', 'deletionTimestamp', 'deletionGracePeriodSeconds', 'generation', 'namespace', 'name'] as const) {
        if (old.metadata[k] === undefined) delete meta[k]
        else (meta as Record<string, unknown>)[k] = old.metadata[k]
      }
      delete meta.selfLink
      next = normalize(def, raw, meta)
      if (def.hasStatus) {
        if (old.status === undefined) delete (next as Record<string, unknown>).status
        else (next as Record<string, unknown>).status = old.status
      }
      const errs = [...this.#validateMeta(def, meta), ...this.#validateKind(def, next)]
      if (old.metadata.deletionTimestamp) {
        const added = (meta.finalizers ?? []).filter((f) => !(old.metadata.finalizers ?? []).includes(f))
        if (added.length)
          errs.push(
            forbidden(
              'metadata.finalizers',
              `no new finalizers can be added if the object is being deleted, found new finalizers []string{${added.map((f) => JSON.stringify(f)).join(', ')}}`,
            ),
          )
      }
      if (errs.length) throw invalid(this.#invalidGroup(def), def.kind, name, errs)
      if (def.hasGeneration && !deepEqual(withoutManaged(next), withoutManaged(old), NOT_SPEC))
        next.metadata.generation = (old.metadata.generation ?? 0) + 1
    }
    next.metadata.resourceVersion = old.metadata.resourceVersion
    // Field ownership (apiserver managedfields): a subresource write, or a body without
    // managedFields, keeps the live object's entries; a body with entries replaces them.
    const sub = opts.subresource ?? opts.managerSubresource
    let managers = opts.managers
    if (!managers && opts.trackFields !== false) {
      const base = (!opts.subresource && decodeManagers(given.managedFields)) || decodeManagers(old.metadata.managedFields) || []
      managers = recordUpdate(
        base,
        withoutManaged(old),
        withoutManaged(next),
        shapeOf(def),
        { manager: opts.fieldManager || 'unknown', apiVersion: def.apiVersion, ...(sub ? { subresource: sub } : {}) },
        opts.subresource === 'status' ? 'status' : def.hasStatus ? 'main' : 'all',
      )
    }
    next.metadata = { ...next.metadata }
    if (managers) setManaged(next.metadata, managers)
    if (deepEqual(next, old)) return old
    const nextStored = this.#toStorage(def, next)
    if (opts.dryRun) return this.view(def, nextStored)
    const isNamespace = def.group === '' && def.plural === 'namespaces'
    const specFinalizers = isNamespace ? (((nextStored.spec as Record<string, any> | undefined)?.finalizers as unknown[] | undefined) ?? []) : []
    if (nextStored.metadata.deletionTimestamp && (nextStored.metadata.finalizers ?? []).length === 0 && specFinalizers.length === 0) {
      // Emptied finalizers of an object being deleted (for a namespace also spec.finalizers,
      // namespace storage.go ShouldDeleteNamespaceDuringUpdate): the update deletes it instead
      // of writing (store.go shouldDeleteDuringUpdate), so the DELETED event carries the
      // state before the update, as etcd's delete does.
      return this.view(def, this.#remove(def, key, stored))
    }
    this.store.commit(res, 'MODIFIED', key, nextStored)
    if (def.plural === 'customresourcedefinitions' && def.group === 'apiextensions.k8s.io') {
      this.registry.registerCrd(name, resourcesFromCrd(nextStored))
    }
    return this.view(def, nextStored)
  }

  /**
   * PATCH: reads, applies the patch, updates (conflicts only if the patch pins a
   * resourceVersion). `application/apply-patch+yaml` is server-side apply (see {@link Rest.apply}).
   */
  patch(
    def: ResourceDef,
    namespace: string | undefined,
    name: string,
    contentType: string,
    rawBody: string,
    opts: UpdateOptions = {},
  ): { object: KubeObject; created: boolean } {
    const type = contentType.split(';')[0]!.trim().toLowerCase()
    const accepted: string[] = [PATCH_TYPES.json, PATCH_TYPES.merge, PATCH_TYPES.apply]
    if (!def.custom) accepted.splice(2, 0, PATCH_TYPES.strategic)
    if (!accepted.includes(type)) throw unsupportedMediaType(type, accepted)
    if (type === PATCH_TYPES.apply) return this.apply(def, namespace, name, rawBody, opts)
    let patch: unknown
    try {
      patch = JSON.parse(rawBody)
    } catch (err) {
      throw badRequest(`error decoding patch: ${(err as Error).message}`)
    }
    const key = objectKey(def.namespaced ? namespace : undefined, name)
    const stored = this.store.get(resourceKey(def), key)
    if (!stored) throw notFound(this.#gr(def), name)
    const old = this.view(def, stored)
    const base = structuredClone(old)
    let result: unknown
    try {
      if (type === PATCH_TYPES.json) result = jsonPatch(base, patch)
      else if (type === PATCH_TYPES.merge) {
        if (!isObject(patch)) throw new PatchError('malformed', 'merge patch must be an object')
        result = mergePatch(base, patch)
      } else {
        if (!isObject(patch)) throw new PatchError('malformed', 'strategic merge patch must be an object')
        result = def.custom ? mergePatch(base, patch) : strategicMergePatch(base, patch)
      }
    } catch (err) {
      if (!(err instanceof PatchError)) throw err
      if (err.kind === 'malformed') throw badRequest(err.message)
      throw unprocessable(err.message)
    }
    if (!isObject(result)) throw badRequest('the patch produced something other than an object')
    const meta = isObject(result.metadata) ? (result.metadata as ObjectMeta) : ({} as ObjectMeta)
    if (meta.name === undefined) meta.name = name
    if (meta.resourceVersion === undefined || meta.resourceVersion === '') meta.resourceVersion = old.metadata.resourceVersion
    result.metadata = meta
    return { object: this.update(def, namespace, name, result, { ...opts, patched: true }), created: false }
  }

  /**
   * Server-side apply (`PATCH` with `application/apply-patch+yaml`): the YAML (1.1, as
   * sigs.k8s.io/yaml reads it) configuration is merged into the object, `fieldManager` owns
   * exactly its fields, fields it stopped sending are removed unless another manager owns
   * them, and fields another manager owns with a different value are a 409 Conflict unless
   * `force`. Creates the object when it does not exist (201). On `status`, only status is
   * applied and owned.
   */
  apply(
    def: ResourceDef,
    namespace: string | undefined,
    name: string,
    rawBody: string,
    opts: UpdateOptions = {},
  ): { object: KubeObject; created: boolean } {
    const { config, manager, group, version } = parseApplyBody(rawBody, opts.fieldManager)
    this.#checkKindAndNamespace(def, namespace, config)
    const meta = isObject(config.metadata) ? (config.metadata as ObjectMeta) : undefined
    if (meta?.name !== undefined && meta.name !== name)
      throw badRequest(`the name of the object (${meta.name}) does not match the name on the URL (${name})`)
    const shape = shapeOf(def)
    const errs = typedErrors(config, shape)
    if (errs.length > 0) {
      throw unwrappedError(
        `failed to create typed patch object (${meta?.namespace ?? ''}/${meta?.name ?? ''}; ${group}/${version}, Kind=${config.kind}): ${errs.length === 1 ? errs[0] : ['errors:', ...errs.map((e) => `  ${e}`)].join('\n')}`,
      )
    }
    this.#microTimes(def, config)
    const strictError = opts.fieldValidation === 'Strict' ? duplicateKeyError(rawBody) : undefined
    return this.applyObject(def, namespace, name, config, { ...opts, fieldManager: manager }, strictError)
  }

  /**
   * Server-side apply of a parsed configuration (see {@link Rest.apply}); `strictError`, when
   * set, is reported (400) after the merge and its conflicts, before anything is stored. With
   * `managerSubresource: 'scale'` the configuration holds the replicas field only (an apply
   * on `/scale`).
   */
  applyObject(
    def: ResourceDef,
    namespace: string | undefined,
    name: string,
    config: Record<string, any>,
    opts: UpdateOptions,
    strictError?: string,
  ): { object: KubeObject; created: boolean } {
    const manager = opts.fieldManager!
    const shape = shapeOf(def)
    const meta = isObject(config.metadata) ? (config.metadata as ObjectMeta) : undefined
    const sub = opts.subresource ?? opts.managerSubresource
    const key = objectKey(def.namespaced ? namespace : undefined, name)
    const stored = this.store.get(resourceKey(def), key)
    const who = { manager, apiVersion: def.apiVersion, ...(sub ? { subresource: sub } : {}) }
    const scope = opts.subresource === 'status' ? 'status' : def.hasStatus ? 'main' : 'all'
    let cfg: Record<string, any> = config
    if (scope === 'status') cfg = { apiVersion: config.apiVersion, kind: config.kind, ...(meta ? { metadata: meta } : {}), ...(config.status !== undefined ? { status: config.status } : {}) }
    else if (scope === 'main') {
      const { status: _, ...rest } = config
      cfg = rest
    }
    let result: { object: KubeObject; created: boolean }
    // The strict check (duplicate keys) runs after the merge, so a conflict is reported first.
    if (!stored) {
      if (sub) throw notFound(this.#gr(def), name)
      const applied = applyConfig({}, cfg, [], shape, who, scope, true)
      if (!applied.ok) throw new Error('unreachable: a create has no other managers')
      if (strictError) throw badRequest(`error strict decoding YAML: ${strictError}`)
      const body = { ...applied.object, metadata: { ...(isObject(applied.object.metadata) ? applied.object.metadata : {}), name } }
      result = { object: this.create(def, namespace, body, { ...opts, managers: applied.managers }), created: true }
    } else {
      const old = this.view(def, stored)
      // A resourceVersion in the configuration is a precondition, as in an update.
      if (meta?.resourceVersion && meta.resourceVersion !== old.metadata.resourceVersion) throw conflict(this.#gr(def), name)
      const managers = decodeManagers(old.metadata.managedFields) ?? []
      const applied = applyConfig(withoutManaged(old), cfg, managers, shape, who, scope, opts.force === true)
      if (!applied.ok) {
        // Managers are named in the version of the request (an apply on /scale speaks autoscaling/v1).
        const conflicts =
          opts.managerSubresource === 'scale'
            ? applied.conflicts.map((c) => ({ ...c, manager: { ...c.manager, apiVersion: 'autoscaling/v1' } }))
            : applied.conflicts
        throw applyConflict(
          conflictMessage(conflicts),
          conflicts.map((c) => ({ manager: printManagerOf(c.manager), field: pathStringOf(c.path) })),
        )
      }
      if (strictError) throw badRequest(`error strict decoding YAML: ${strictError}`)
      // kube-apiserver records an apply through /scale without a time.
      if (opts.managerSubresource === 'scale') for (const m of applied.managers) if (m.subresource === 'scale' && m.operation === 'Apply') delete m.time
      const next = applied.object as KubeObject
      next.metadata = { ...next.metadata, resourceVersion: old.metadata.resourceVersion }
      result = { object: this.update(def, namespace, name, next, { ...opts, managers: applied.managers }), created: false }
    }
    return result
  }

  #remove(def: ResourceDef, key: string, last: KubeObject): KubeObject {
    const gone = { ...last, metadata: { ...last.metadata } }
    this.store.commit(resourceKey(def), 'DELETED', key, gone)
    if (def.group === 'apiextensions.k8s.io' && def.plural === 'customresourcedefinitions') this.#dropCrd(last)
    return gone
  }

  #dropCrd(crd: KubeObject): void {
    const defs = this.registry.unregisterCrd(crd.metadata.name!)
    const seen = new Set<string>()
    for (const d of defs) {
      const res = resourceKey(d)
      if (seen.has(res)) continue
      seen.add(res)
      const { keys, objects } = this.store.snapshot(res)
      for (const k of [...keys]) {
        const obj = objects.get(k)
        if (obj) this.store.commit(res, 'DELETED', k, { ...obj, metadata: { ...obj.metadata } })
      }
      this.store.drop(res)
    }
    this.onResourcesRemoved(defs)
  }

  /** DELETE: removes an object, or marks it (deletionTimestamp) while finalizers remain. */
  delete(def: ResourceDef, namespace: string | undefined, name: string, opts: DeleteOptions = {}): DeleteResult {
    validateDeleteOptions(opts)
    const key = objectKey(def.namespaced ? namespace : undefined, name)
    const res = resourceKey(def)
    const stored = this.store.get(res, key)
    if (!stored) throw notFound(this.#gr(def), name)
    const old = stored
    const pre = opts.preconditions
    if (pre?.uid && pre.uid !== old.metadata.uid)
      // apiserver registry/rest/delete.go BeforeDelete: a Conflict on the kind, not the resource.
      throw conflict(
        { group: def.group, resource: def.kind },
        name,
        `the UID in the precondition (${pre.uid}) does not match the UID in record (${old.metadata.uid}). The object might have been deleted and then recreated`,
      )
    if (pre?.resourceVersion && pre.resourceVersion !== old.metadata.resourceVersion)
      throw conflict(
        { group: def.group, resource: def.kind },
        name,
        `the ResourceVersion in the precondition (${pre.resourceVersion}) does not match the ResourceVersion in record (${old.metadata.resourceVersion}). The object might have been modified`,
      )
    const isNamespace = def.group === '' && def.plural === 'namespaces'
    if (isNamespace && PROTECTED_NAMESPACES.has(name))
      throw forbiddenStatus(this.#gr(def), name, 'this namespace may not be deleted')
    // A delete that does not remove the object at once (finalizers, a terminating namespace)
    // is 200 like any other; 202 only with orphanDependents=false (apiserver handlers/delete.go).
    const pending = opts.orphanDependents === false ? 202 : 200
    if (isNamespace) {
      // pkg/registry/core/namespace/storage/storage.go Delete: a namespace with spec.finalizers
      // is marked Terminating (its content is removed by the namespace controller, gc.ts,
      // which then takes out `kubernetes`); one without is removed, unless metadata.finalizers hold it.
      const specFinalizers = ((old.spec as Record<string, any> | undefined)?.finalizers as string[] | undefined) ?? []
      const held = specFinalizers.length > 0 || (old.metadata.finalizers ?? []).length > 0
      if (old.metadata.deletionTimestamp) {
        if (held) return { object: this.view(def, old), code: pending, removed: false }
        if (opts.dryRun) return { object: this.view(def, old), code: 200, removed: true }
        return { object: this.view(def, this.#remove(def, key, old)), code: 200, removed: true }
      }
      const marked: KubeObject = {
        ...old,
        metadata: { ...old.metadata, deletionTimestamp: nowTimestamp(), deletionGracePeriodSeconds: 0 },
        status: { ...(old.status as object), phase: 'Terminating' },
      }
      if (opts.dryRun) return { object: this.view(def, marked), code: pending, removed: false }
      if (!held) return { object: this.view(def, this.#remove(def, key, old)), code: 200, removed: true }
      this.store.commit(res, 'MODIFIED', key, marked)
      return { object: this.view(def, this.store.get(res, key)!), code: pending, removed: false }
    }
    // Garbage-collection finalizers (apiserver registry/generic/registry/store.go
    // deletionFinalizersForGarbageCollection): Orphan adds `orphan`, Foreground adds
    // `foregroundDeletion`, Background removes both; without a policy the object's own
    // finalizers decide. The garbage collector (gc.ts) removes them later.
    const current = old.metadata.finalizers ?? []
    const finalizers = current.filter((f) => f !== ORPHAN_FINALIZER && f !== FOREGROUND_FINALIZER)
    const graceful = this.#podGrace(def, old, opts)
    if (graceful !== undefined) {
      // A scheduled pod is deleted gracefully (pkg/registry/core/pod/strategy.go
      // CheckGracefulDelete): marked with deletionTimestamp = now + grace, left for its
      // kubelet; a later delete may only shorten the grace; 0 removes it.
      if (shouldOrphan(opts, current)) finalizers.push(ORPHAN_FINALIZER)
      if (shouldDeleteForeground(opts, current)) finalizers.push(FOREGROUND_FINALIZER)
      const prior = old.metadata.deletionGracePeriodSeconds
      if (old.metadata.deletionTimestamp && prior !== undefined && prior <= graceful)
        return { object: this.view(def, old), code: pending, removed: false }
      const deadline = new Date(Date.now() + graceful * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z')
      const marked: KubeObject = {
        ...old,
        metadata: {
          ...old.metadata,
          deletionTimestamp: deadline,
          deletionGracePeriodSeconds: graceful,
          ...(finalizers.length ? { finalizers } : {}),
        },
      }
      if (!finalizers.length) delete marked.metadata.finalizers
      if (!old.metadata.deletionTimestamp && def.hasGeneration) marked.metadata.generation = (old.metadata.generation ?? 0) + 1
      if (opts.dryRun) return { object: this.view(def, marked), code: pending, removed: false }
      this.store.commit(res, 'MODIFIED', key, marked)
      return { object: this.view(def, this.store.get(res, key)!), code: pending, removed: false }
    }
    if (shouldOrphan(opts, current)) finalizers.push(ORPHAN_FINALIZER)
    if (shouldDeleteForeground(opts, current)) finalizers.push(FOREGROUND_FINALIZER)
    const finalizersChanged = new Set(finalizers).size !== new Set(current).size || finalizers.some((f) => !current.includes(f))
    if (old.metadata.deletionTimestamp) {
      if (finalizers.length === 0 && current.length === 0) {
        // A gracefully deleted pod whose grace is cut to 0: it goes now.
        const last: KubeObject = { ...old, metadata: { ...old.metadata, deletionTimestamp: nowTimestamp(), deletionGracePeriodSeconds: 0 } }
        if (opts.dryRun) return { object: this.view(def, last), code: 200, removed: true }
        return { object: this.view(def, this.#remove(def, key, last)), code: 200, removed: true }
      }
      if (!finalizersChanged) return { object: this.view(def, old), code: pending, removed: false }
      const next: KubeObject = { ...old, metadata: { ...old.metadata, finalizers } }
      if (finalizers.length === 0) {
        delete next.metadata.finalizers
        if (opts.dryRun) return { object: this.view(def, next), code: 200, removed: true }
        return { object: this.view(def, this.#remove(def, key, next)), code: 200, removed: true }
      }
      if (!opts.dryRun) this.store.commit(res, 'MODIFIED', key, next)
      return { object: this.view(def, opts.dryRun ? next : this.store.get(res, key)!), code: pending, removed: false }
    }
    if (finalizers.length > 0) {
      const marked: KubeObject = {
        ...old,
        metadata: { ...old.metadata, deletionTimestamp: nowTimestamp(), deletionGracePeriodSeconds: 0, finalizers },
      }
      if (def.hasGeneration) marked.metadata.generation = (old.metadata.generation ?? 0) + 1
      if (opts.dryRun) return { object: this.view(def, marked), code: pending, removed: false }
      this.store.commit(res, 'MODIFIED', key, marked)
      return { object: this.view(def, this.store.get(res, key)!), code: pending, removed: false }
    }
    if (opts.dryRun) return { object: this.view(def, old), code: 200, removed: true }
    const gone = this.#remove(def, key, old)
    return { object: this.view(def, gone), code: 200, removed: true }
  }

  /**
   * The grace period of deleting `pod` gracefully, or undefined to delete at once: only a
   * scheduled pod (spec.nodeName) that has not finished waits, for `gracePeriodSeconds`, else
   * its terminationGracePeriodSeconds (default 30); a negative grace is 1.
   */
  #podGrace(def: ResourceDef, pod: KubeObject, opts: DeleteOptions): number | undefined {
    if (def.group !== '' || def.plural !== 'pods') return undefined
    const spec = (pod.spec ?? {}) as Record<string, any>
    const phase = (pod.status as Record<string, any> | undefined)?.phase
    if (!spec.nodeName || phase === 'Failed' || phase === 'Succeeded') return undefined
    let grace = opts.gracePeriodSeconds ?? (typeof spec.terminationGracePeriodSeconds === 'number' ? spec.terminationGracePeriodSeconds : 30)
    if (grace < 0) grace = 1
    return grace > 0 ? grace : undefined
  }

  /** DELETE on a collection: deletes every object the selectors match (with `opts`, preconditions aside); returns them as a list. */
  deleteCollection(def: ResourceDef, namespace: string | undefined, o: ListOptions, opts: DeleteOptions = {}): ListResult {
    validateDeleteOptions(opts)
    const listed = this.list(def, namespace, { labelSelector: o.labelSelector, fieldSelector: o.fieldSelector })
    // The answer is the list as it was before the deletes (store.go DeleteCollection returns its listObj).
    for (const obj of listed.items) {
      try {
        this.delete(def, obj.metadata.namespace, obj.metadata.name!, opts)
      } catch (err) {
        if (!(err instanceof ApiServerStatusError && err.status.code === 404)) throw err
      }
    }
    return { resourceVersion: listed.resourceVersion, items: listed.items }
  }
}

function crdStatus(crd: Record<string, any>): Record<string, unknown> {
  const now = nowTimestamp()
  const names = crd.spec?.names ?? {}
  return {
    conditions: [
      { type: 'NamesAccepted', status: 'True', lastTransitionTime: now, reason: 'NoConflicts', message: 'no conflicts found' },
      { type: 'Established', status: 'True', lastTransitionTime: now, reason: 'InitialNamesAccepted', message: 'the initial names have been accepted' },
    ],
    acceptedNames: { plural: names.plural, singular: names.singular ?? String(names.kind ?? '').toLowerCase(), kind: names.kind, listKind: names.listKind ?? `${names.kind}List`, ...(names.shortNames ? { shortNames: names.shortNames } : {}) },
    storedVersions: (crd.spec?.versions ?? []).filter((v: any) => v?.storage).map((v: any) => v.name),
  }
}

/** First index in sorted `keys` with `keys[i] >= k`. */
export function lowerBound(keys: string[], k: string): number {
  let lo = 0
  let hi = keys.length
  while (lo < hi) {
    const mid = (lo + hi) >> 1
    if (keys[mid]! < k) lo = mid + 1
    else hi = mid
  }
  return lo
}
