/**
 * Server-side apply and field ownership (`metadata.managedFields`), as kube-apiserver does
 * it with sigs.k8s.io/structured-merge-diff (SMD) and k8s.io/apiserver
 * `pkg/util/managedfields/internal`: field sets in the `FieldsV1` format (`f:` field,
 * `k:` list item by key, `v:` set value, `i:` index), Update managers that take the fields
 * they change, Apply managers that own what they send, conflicts between managers (409 with
 * `FieldManagerConflict` causes) unless forced, and pruning of the fields an applier stops
 * sending when no other manager owns them.
 *
 * Hand-written: no maintained JavaScript implementation of structured-merge-diff exists
 * (`npm search structured-merge-diff` finds none; the JS Kubernetes clients only send apply
 * patches). This file follows SMD's algorithms (typed/compare.go, typed/tofieldset.go,
 * merge/update.go `Updater.Apply`/`update`/`prune`, fieldpath/serialize.go) over a reduced
 * schema: list types and map keys of the built-in kinds' common lists, and a CRD's
 * structural schema (`x-kubernetes-list-type`, `x-kubernetes-list-map-keys`,
 * `x-kubernetes-map-type`) when it has one.
 */

type Json = null | boolean | number | string | Json[] | { [k: string]: Json }
type Obj = Record<string, any>

function isObject(v: unknown): v is Obj {
  return v !== null && typeof v === 'object' && !Array.isArray(v)
}

// ---------------------------------------------------------------- schema shapes

/** How a list's items are identified (SMD `ElementRelationship` + map keys). */
export type ListType = { type: 'atomic' } | { type: 'set' } | { type: 'map'; keys: string[]; defaults?: Record<string, Json> }

/**
 * The part of a schema the field manager needs at one node: list types, atomic maps, and
 * which fields are declared (for "field not declared in schema").
 */
export interface Shape {
  /** Lists: how items are identified. */
  list: ListType
  /** Maps/structs merged as one value. */
  atomic: boolean
  /** Undeclared fields are errors here (a structural schema without preserve-unknown-fields). */
  closed: boolean
  /** The shape of field `name`; undefined when not declared (only where `closed`). */
  field(name: string): Shape | undefined
  /** Whether `name` is a declared struct field (not an entry of a map of values). */
  declared(name: string): boolean
  /** The shape of a list's items. */
  item(): Shape
  /** Whether undeclared fields can occur at or below this node (where to look for them). */
  checked: boolean
  /** A scalar's type, where the schema says (SMD's Numeric covers integer and number). */
  scalar?: 'string' | 'numeric' | 'boolean'
}

const ATOMIC: ListType = { type: 'atomic' }

/** Top-level fields of the built-in kinds (unknown ones are refused by apply). */
const BUILTIN_TOP: Record<string, string[]> = {
  ConfigMap: ['data', 'binaryData', 'immutable'],
  Secret: ['data', 'stringData', 'type', 'immutable'],
  Event: [
    'involvedObject', 'reason', 'message', 'source', 'firstTimestamp', 'lastTimestamp', 'count', 'type',
    'eventTime', 'series', 'action', 'related', 'reportingComponent', 'reportingInstance',
  ],
  'events.k8s.io/Event': [
    'eventTime', 'series', 'reportingController', 'reportingInstance', 'action', 'reason', 'regarding',
    'related', 'note', 'type', 'deprecatedSource', 'deprecatedFirstTimestamp', 'deprecatedLastTimestamp',
    'deprecatedCount',
  ],
}

const OBJECT_META = [
  'name', 'generateName', 'namespace', 'selfLink', 'uid', 'resourceVersion', 'generation', 'creationTimestamp',
  'deletionTimestamp', 'deletionGracePeriodSeconds', 'labels', 'annotations', 'ownerReferences', 'finalizers',
  'managedFields',
]

/** Maps of values (entries are not struct fields): each entry is owned on its own. */
const VALUE_MAPS = new Set(['labels', 'annotations', 'data', 'binaryData', 'stringData', 'nodeSelector', 'limits', 'requests', 'matchLabels'])

/** Structs/maps the built-in types mark atomic (`+structType=atomic`, `+mapType=atomic`). */
const ATOMIC_FIELDS = new Set(['involvedObject', 'regarding', 'related', 'selector', 'labelSelector', 'namespaceSelector'])

const CONTAINER_LISTS = new Set(['containers', 'initContainers', 'ephemeralContainers'])

/** List types of the built-in kinds' lists, from k8s.io/api's `+listType`/`+listMapKey` markers. */
function builtinList(path: readonly string[]): ListType {
  const name = path[path.length - 1] ?? ''
  const parent = path[path.length - 2] ?? ''
  switch (name) {
    case 'containers':
    case 'initContainers':
    case 'ephemeralContainers':
    case 'volumes':
    case 'env':
    case 'imagePullSecrets':
    case 'resourceClaims':
    case 'containerStatuses':
    case 'initContainerStatuses':
      return { type: 'map', keys: ['name'] }
    case 'volumeMounts':
      return { type: 'map', keys: ['mountPath'] }
    case 'volumeDevices':
      return { type: 'map', keys: ['devicePath'] }
    case 'ports':
      return CONTAINER_LISTS.has(parent)
        ? { type: 'map', keys: ['containerPort', 'protocol'], defaults: { protocol: 'TCP' } }
        : { type: 'map', keys: ['port', 'protocol'], defaults: { protocol: 'TCP' } }
    case 'conditions':
      return { type: 'map', keys: ['type'] }
    case 'ownerReferences':
      return { type: 'map', keys: ['uid'] }
    case 'finalizers':
      return parent === 'metadata' ? { type: 'set' } : ATOMIC
    case 'hostAliases':
    case 'podIPs':
    case 'hostIPs':
      return { type: 'map', keys: ['ip'] }
    case 'topologySpreadConstraints':
      return { type: 'map', keys: ['topologyKey', 'whenUnsatisfiable'] }
    default:
      return ATOMIC
  }
}

const builtinRoots = new Map<string, Shape>()

/** The shape of a built-in kind at `path` (field names from the root, list items not counted); memoized. */
export function builtinShape(kind: string, path: readonly string[] = []): Shape {
  let root = builtinRoots.get(kind)
  if (!root) {
    root = makeBuiltinShape(kind, [])
    builtinRoots.set(kind, root)
  }
  let shape = root
  for (const f of path) shape = shape.field(f) ?? makeBuiltinShape(kind, [...path])
  return shape
}

function makeBuiltinShape(kind: string, path: readonly string[]): Shape {
  const name = path[path.length - 1] ?? ''
  const top = path.length === 0 ? BUILTIN_TOP[kind] : undefined
  const inMeta = path.length === 1 && name === 'metadata'
  const closedFields = top ? new Set(['apiVersion', 'kind', 'metadata', ...top]) : inMeta ? new Set(OBJECT_META) : undefined
  const children = new Map<string, Shape>()
  const valueMap = VALUE_MAPS.has(name)
  const parent = path[path.length - 2] ?? ''
  // map[string]string values: a ConfigMap's or Secret's data, labels, annotations.
  const stringEntry =
    (path.length === 2 && (parent === 'data' || parent === 'binaryData' || parent === 'stringData') && BUILTIN_TOP[kind] !== undefined) ||
    (path.length === 3 && path[0] === 'metadata' && (parent === 'labels' || parent === 'annotations'))
  const shape: Shape = {
    list: builtinList(path),
    atomic: ATOMIC_FIELDS.has(name),
    closed: closedFields !== undefined,
    checked: path.length === 0 || inMeta || (path.length <= 2 && (name === 'data' || name === 'binaryData' || name === 'stringData' || name === 'labels' || name === 'annotations')) || stringEntry,
    ...(stringEntry ? { scalar: 'string' as const } : {}),
    field: (f) => {
      if (closedFields && !closedFields.has(f)) return undefined
      let child = children.get(f)
      if (!child) {
        child = makeBuiltinShape(kind, [...path, f])
        children.set(f, child)
      }
      return child
    },
    declared: () => !valueMap,
    item: () => shape,
  }
  return shape
}

/** A shape that accepts anything: granular maps, atomic lists (an unstructured object without schema). */
export const OPEN_SHAPE: Shape = {
  list: ATOMIC,
  atomic: false,
  closed: false,
  checked: false,
  field: () => OPEN_SHAPE,
  declared: () => false,
  item: () => OPEN_SHAPE,
}

/** The shape of a custom resource from its version's `openAPIV3Schema` (metadata as the built-in ObjectMeta). */
export function crdShape(schema: unknown): Shape {
  if (!isObject(schema)) return OPEN_SHAPE
  const known = crdShapes.get(schema)
  if (known) return known
  const root = schemaShape(schema)
  const meta = builtinShape('', ['metadata'])
  const shape: Shape = {
    ...root,
    field: (f) => (f === 'metadata' ? meta : f === 'apiVersion' || f === 'kind' ? OPEN_SHAPE : root.field(f)),
    declared: (f) => f === 'metadata' || f === 'apiVersion' || f === 'kind' || root.declared(f),
  }
  crdShapes.set(schema, shape)
  return shape
}

const crdShapes = new WeakMap<Obj, Shape>()

const schemaShapes = new WeakMap<Obj, Shape>()

function schemaShape(s: Obj): Shape {
  let shape = schemaShapes.get(s)
  if (!shape) {
    shape = buildSchemaShape(s)
    schemaShapes.set(s, shape)
  }
  return shape
}

function buildSchemaShape(s: Obj): Shape {
  const props = isObject(s.properties) ? (s.properties as Obj) : undefined
  const additional = s.additionalProperties
  const preserve = s['x-kubernetes-preserve-unknown-fields'] === true
  const isObj = s.type === 'object' || props !== undefined
  const listType = s['x-kubernetes-list-type']
  const keys = s['x-kubernetes-list-map-keys']
  let list: ListType = ATOMIC
  if (listType === 'set') list = { type: 'set' }
  else if (listType === 'map' && Array.isArray(keys) && keys.length > 0) {
    const defaults: Record<string, Json> = {}
    const itemProps = isObject(s.items) && isObject(s.items.properties) ? (s.items.properties as Obj) : {}
    for (const k of keys) if (isObject(itemProps[k]) && itemProps[k].default !== undefined) defaults[k] = itemProps[k].default
    list = { type: 'map', keys: keys.map(String), defaults }
  }
  const closed = isObj && !preserve && additional === undefined && s['x-kubernetes-int-or-string'] !== true
  const scalar = s['x-kubernetes-int-or-string'] === true ? undefined : s.type === 'string' ? 'string' : s.type === 'integer' || s.type === 'number' ? 'numeric' : s.type === 'boolean' ? 'boolean' : undefined
  return {
    list,
    atomic: s['x-kubernetes-map-type'] === 'atomic',
    closed,
    checked: true,
    ...(scalar ? { scalar } : {}),
    field: (f) => {
      if (props && isObject(props[f])) return schemaShape(props[f])
      if (isObject(additional)) return schemaShape(additional)
      if (additional === true || preserve || !isObj) return OPEN_SHAPE
      return undefined
    },
    declared: (f) => Boolean(props && isObject(props[f])),
    item: () => (isObject(s.items) ? schemaShape(s.items) : OPEN_SHAPE),
  }
}

/** The dotted paths (`.spec.foo`) of fields `value` has where `shape` declares none. */
export function undeclaredFields(value: unknown, shape: Shape, prefix = ''): string[] {
  const out: string[] = []
  if (!shape.checked) return out
  if (Array.isArray(value)) {
    for (const v of value) out.push(...undeclaredFields(v, shape.item(), prefix))
    return out
  }
  if (!isObject(value)) return out
  for (const [k, v] of Object.entries(value)) {
    const child = shape.field(k)
    if (child === undefined) {
      if (shape.closed) out.push(`${prefix}.${k}`)
      continue
    }
    out.push(...undeclaredFields(v, child, `${prefix}.${k}`))
  }
  return out
}

/** Go's `%T` of a decoded JSON value. */
function goType(v: unknown): string {
  if (typeof v === 'string') return 'string'
  if (typeof v === 'boolean') return 'bool'
  if (typeof v === 'number') return Number.isInteger(v) ? 'int64' : 'float64'
  if (Array.isArray(v)) return '[]interface {}'
  return v === null ? '<nil>' : 'map[string]interface {}'
}

/** Go's `%v` of a decoded JSON scalar. */
function goValue(v: unknown): string {
  return typeof v === 'string' ? v : Array.isArray(v) || isObject(v) ? JSON.stringify(v) : String(v)
}

/**
 * What structured-merge-diff refuses when it types an applied configuration
 * (`ObjectToTyped`): undeclared fields, scalars of the wrong type, associative-list items
 * without their keys. Each as `path: message`, in SMD's wording.
 */
export function typedErrors(value: unknown, shape: Shape, prefix = ''): string[] {
  const out: string[] = []
  if (value === null || value === undefined) return out
  if (Array.isArray(value)) {
    const list = shape.list
    value.forEach((v, i) => {
      let pe = `[${i}]`
      if (list.type === 'map') {
        const key = keyElement(v, list)
        if (!key) {
          out.push(
            `${prefix}: element ${i}: associative list with keys has an element that omits all key fields ${JSON.stringify(list.keys).replace(/,/g, ' ')} (and doesn't have default values for any key fields)`,
          )
          return
        }
        pe = pathString([key])
      }
      out.push(...typedErrors(v, shape.item(), `${prefix}${pe}`))
    })
    return out
  }
  if (shape.scalar) {
    const v = value
    if (shape.scalar === 'numeric' && typeof v !== 'number') out.push(`${prefix}: expected numeric (int or float), got ${goType(v)}`)
    else if (shape.scalar === 'string' && typeof v !== 'string')
      out.push(`${prefix}: expected string, got &value.valueUnstructured{Value:${typeof v === 'number' || typeof v === 'boolean' ? String(v) : goValue(v)}}`)
    else if (shape.scalar === 'boolean' && typeof v !== 'boolean') out.push(`${prefix}: expected boolean, got &{${goValue(v)}}`)
    return out
  }
  if (!isObject(value) || !shape.checked) return out
  for (const [k, v] of Object.entries(value)) {
    const child = shape.field(k)
    if (child === undefined) {
      if (shape.closed) out.push(`${prefix}.${k}: field not declared in schema`)
      continue
    }
    out.push(...typedErrors(v, child, `${prefix}.${k}`))
  }
  return out
}

/** Removes the fields `shape` does not declare (structural pruning); returns the paths removed. */
export function pruneUndeclared(value: unknown, shape: Shape, prefix = ''): string[] {
  const out: string[] = []
  if (!shape.checked) return out
  if (Array.isArray(value)) {
    for (const v of value) out.push(...pruneUndeclared(v, shape.item(), prefix))
    return out
  }
  if (!isObject(value)) return out
  for (const k of Object.keys(value)) {
    const child = shape.field(k)
    if (child === undefined) {
      if (shape.closed) {
        out.push(`${prefix}.${k}`)
        delete value[k]
      }
      continue
    }
    out.push(...pruneUndeclared(value[k], child, `${prefix}.${k}`))
  }
  return out
}

// ---------------------------------------------------------------- field sets

/**
 * A set of field paths as a tree (SMD `fieldpath.Set`): `self` marks the path itself as a
 * member; children are keyed by their `FieldsV1` path element (`f:name`, `k:{"name":"a"}`,
 * `v:"x"`, `i:0`).
 */
export class FieldSet {
  self = false
  readonly children = new Map<string, FieldSet>()

  /** Whether no path is a member. */
  get empty(): boolean {
    if (this.self) return false
    for (const c of this.children.values()) if (!c.empty) return false
    return true
  }

  /** Adds `path` (path elements from this node). */
  insert(path: readonly string[]): void {
    let node: FieldSet = this
    this.#json = undefined
    for (const pe of path) {
      let next = node.children.get(pe)
      if (!next) {
        next = new FieldSet()
        node.children.set(pe, next)
      }
      node = next
      node.#json = undefined
    }
    node.self = true
  }

  /** The node at `path`, if any. */
  at(path: readonly string[]): FieldSet | undefined {
    let node: FieldSet | undefined = this
    for (const pe of path) {
      node = node.children.get(pe)
      if (!node) return undefined
    }
    return node
  }

  /** Whether `path` is a member. */
  has(path: readonly string[]): boolean {
    return this.at(path)?.self === true
  }

  /** Whether `path` or any path below it is a member. */
  hasPrefix(path: readonly string[]): boolean {
    const n = this.at(path)
    return n !== undefined && !n.empty
  }

  /** Every member path, in FieldsV1 order. */
  paths(prefix: string[] = []): string[][] {
    const out: string[][] = []
    if (this.self) out.push(prefix)
    for (const pe of sortedElements(this.children.keys())) out.push(...this.children.get(pe)!.paths([...prefix, pe]))
    return out
  }

  // The set operations below build new sets and share unchanged subtrees with their
  // inputs: sets are not changed after they are built (insert is for building only).

  union(other: FieldSet): FieldSet {
    if (other.empty) return this
    if (this.empty) return other
    let changed = other.self && !this.self
    const merged = new Map<string, FieldSet>()
    for (const [k, o] of other.children) {
      const c = this.children.get(k)
      const u = c ? c.union(o) : o
      if (u !== c) {
        changed = true
        merged.set(k, u)
      }
    }
    // Unchanged: the same set (so its FieldsV1 rendering is reused).
    if (!changed) return this
    const out = new FieldSet()
    out.self = this.self || other.self
    for (const [k, c] of this.children) out.children.set(k, merged.get(k) ?? c)
    for (const [k, u] of merged) if (!this.children.has(k)) out.children.set(k, u)
    return out
  }

  difference(other: FieldSet): FieldSet {
    if (other.empty || this.empty) return this
    let changed = this.self && other.self
    const kept = new Map<string, FieldSet | undefined>()
    for (const [k, o] of other.children) {
      const c = this.children.get(k)
      if (!c) continue
      const d = c.difference(o)
      if (d !== c) {
        changed = true
        kept.set(k, d.empty ? undefined : d)
      }
    }
    // Unchanged: the same set (so its FieldsV1 rendering is reused).
    if (!changed) return this
    const out = new FieldSet()
    out.self = this.self && !other.self
    for (const [k, c] of this.children) {
      const d = kept.has(k) ? kept.get(k) : c
      if (d) out.children.set(k, d)
    }
    return out
  }

  intersection(other: FieldSet): FieldSet {
    const out = new FieldSet()
    if (this.empty || other.empty) return out
    out.self = this.self && other.self
    const [small, large] = this.children.size <= other.children.size ? [this, other] : [other, this]
    for (const [k, c] of small.children) {
      const o = large.children.get(k)
      if (!o) continue
      const i = c.intersection(o)
      if (!i.empty) out.children.set(k, i)
    }
    return out
  }

  clone(): FieldSet {
    const out = new FieldSet()
    out.self = this.self
    for (const [k, v] of this.children) out.children.set(k, v.clone())
    return out
  }

  /** The `fieldsV1` JSON: `{"f:data":{".":{},"f:a":{}}}`. */
  toFieldsV1(): Obj {
    // Rendered once per node: sets share unchanged subtrees, so a changed set re-renders
    // only its changed path. The result is shared: treat it as read-only.
    if (this.#json) return this.#json
    const out: Obj = {}
    const keys = sortedElements(this.children.keys())
    for (const k of keys) {
      const c = this.children.get(k)!
      if (c.empty) continue
      const inner = c.toFieldsV1()
      if (c.self && Object.keys(inner).length > 0) out[k] = { '.': {}, ...inner }
      else out[k] = inner
    }
    this.#json = out
    return out
  }

  #json: Obj | undefined

  /** Parses a `fieldsV1` object; undefined when it is not one. */
  static fromFieldsV1(v: unknown): FieldSet | undefined {
    if (!isObject(v)) return undefined
    const out = new FieldSet()
    const walk = (node: FieldSet, json: Obj): boolean => {
      for (const [k, child] of Object.entries(json)) {
        if (!isObject(child)) return false
        if (k === '.') {
          node.self = true
          continue
        }
        if (!/^[fkvi]:/.test(k)) return false
        const next = new FieldSet()
        node.children.set(k, next)
        if (Object.keys(child).length === 0) next.self = true
        else if (!walk(next, child)) return false
      }
      return true
    }
    return walk(out, v) ? out : undefined
  }
}

const KIND_ORDER: Record<string, number> = { f: 0, k: 1, v: 2, i: 3 }

function sortedElements(keys: Iterable<string>): string[] {
  return [...keys].sort((a, b) => {
    const ka = KIND_ORDER[a[0]!] ?? 4
    const kb = KIND_ORDER[b[0]!] ?? 4
    if (ka !== kb) return ka - kb
    if (a[0] === 'i') return Number(a.slice(2)) - Number(b.slice(2))
    return a < b ? -1 : a > b ? 1 : 0
  })
}

/** A path as SMD prints it in conflicts: `.spec.containers[name="a"].image`. */
export function pathString(path: readonly string[]): string {
  let out = ''
  for (const pe of path) {
    const body = pe.slice(2)
    switch (pe[0]) {
      case 'f':
        out += `.${body}`
        break
      case 'k': {
        const key = JSON.parse(body) as Obj
        out += `[${Object.keys(key)
          .map((k) => `${k}=${JSON.stringify(key[k])}`)
          .join(',')}]`
        break
      }
      case 'v':
        out += `[=${body}]`
        break
      default:
        out += `[${body}]`
    }
  }
  return out
}

function keyElement(item: unknown, list: ListType & { type: 'map' }): string | undefined {
  if (!isObject(item)) return undefined
  const key: Obj = {}
  for (const k of [...list.keys].sort()) {
    const v = item[k] ?? list.defaults?.[k]
    if (v === undefined) return undefined
    key[k] = v
  }
  return `k:${JSON.stringify(key)}`
}

/** The path element of list item `i`, by the list's type. */
function itemElement(list: ListType, item: unknown, i: number): string {
  if (list.type === 'map') return keyElement(item, list) ?? `i:${i}`
  if (list.type === 'set') return `v:${JSON.stringify(item)}`
  return `i:${i}`
}

/**
 * The fields an applied configuration sets (SMD `ToFieldSet`): every leaf, every list item
 * of an associative list, every map entry that is not a struct field.
 */
export function toFieldSet(value: unknown, shape: Shape): FieldSet {
  const set = new FieldSet()
  const walk = (v: unknown, s: Shape, path: string[]): void => {
    if (Array.isArray(v)) {
      if (s.list.type === 'atomic') {
        set.insert(path)
        return
      }
      v.forEach((item, i) => {
        const p = [...path, itemElement(s.list, item, i)]
        walk(item, s.item(), p)
        set.insert(p)
      })
      return
    }
    if (isObject(v)) {
      if (s.atomic) {
        set.insert(path)
        return
      }
      for (const [k, child] of Object.entries(v)) {
        const p = [...path, `f:${k}`]
        walk(child, s.field(k) ?? OPEN_SHAPE, p)
        if (!s.declared(k)) set.insert(p)
      }
      return
    }
    set.insert(path)
  }
  walk(value, shape, [])
  return set
}

/** What changed between two objects (SMD `Comparison`). */
export interface Comparison {
  added: FieldSet
  modified: FieldSet
  removed: FieldSet
}

function indexList(list: ListType, items: unknown[] | undefined): Map<string, unknown> {
  const out = new Map<string, unknown>()
  if (!items) return out
  items.forEach((item, i) => {
    const pe = itemElement(list, item, i)
    if (!out.has(pe)) out.set(pe, item)
  })
  return out
}

/** Compares `lhs` with `rhs` (SMD `TypedValue.Compare`): leaves and containers added, modified, removed. */
export function compare(lhs: unknown, rhs: unknown, shape: Shape): Comparison {
  const c: Comparison = { added: new FieldSet(), modified: new FieldSet(), removed: new FieldSet() }
  const path: string[] = []
  const leaf = (l: unknown, r: unknown) => {
    if (l === undefined) c.added.insert(path)
    else if (r === undefined) c.removed.insert(path)
    else if (!jsonEqual(l, r)) c.modified.insert(path)
  }
  const walk = (l: unknown, r: unknown, s: Shape): void => {
    if (l === r) return // the same value (or the same object): nothing changed below
    const lList = Array.isArray(l) ? l : undefined
    const rList = Array.isArray(r) ? r : undefined
    const lMap = isObject(l) ? l : undefined
    const rMap = isObject(r) ? r : undefined
    if ((lList || rList) && !(lMap || rMap)) {
      const empty = (lList?.length ?? 0) === 0 && (rList?.length ?? 0) === 0
      if (s.list.type === 'atomic' || empty || (l !== undefined && l !== null && !lList) || (r !== undefined && r !== null && !rList)) {
        leaf(l, r)
        return
      }
      const li = indexList(s.list, lList)
      const ri = indexList(s.list, rList)
      const item = s.item()
      for (const [pe, lv] of li) {
        path.push(pe)
        walk(lv, ri.get(pe), item)
        path.pop()
      }
      for (const [pe, rv] of ri) {
        if (li.has(pe)) continue
        path.push(pe)
        walk(undefined, rv, item)
        path.pop()
      }
    } else if ((lMap || rMap) && !(lList || rList)) {
      let empty = true
      for (const _ in lMap ?? {}) {
        empty = false
        break
      }
      if (empty) for (const _ in rMap ?? {}) {
        empty = false
        break
      }
      if (s.atomic || empty || (l !== undefined && l !== null && !lMap) || (r !== undefined && r !== null && !rMap)) {
        leaf(l, r)
        return
      }
      if (lMap)
        for (const k in lMap) {
          path.push(`f:${k}`)
          walk(lMap[k], rMap?.[k], s.field(k) ?? OPEN_SHAPE)
          path.pop()
        }
      if (rMap)
        for (const k in rMap) {
          if (lMap && Object.hasOwn(lMap, k)) continue
          path.push(`f:${k}`)
          walk(undefined, rMap[k], s.field(k) ?? OPEN_SHAPE)
          path.pop()
        }
    } else {
      leaf(l, r)
      return
    }
    // Containers: added or removed as a whole (the post-item hook of SMD's compare).
    if (path.length > 0) {
      if (l === undefined) c.added.insert(path)
      else if (r === undefined) c.removed.insert(path)
    }
  }
  walk(lhs, rhs, shape)
  return c
}

/** Structural equality of JSON values, key order ignored. */
export function jsonEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false
  if (Array.isArray(a) !== Array.isArray(b)) return false
  if (Array.isArray(a)) {
    const bb = b as unknown[]
    return a.length === bb.length && a.every((x, i) => jsonEqual(x, bb[i]))
  }
  const ak = Object.keys(a)
  const bo = b as Obj
  if (ak.length !== Object.keys(bo).length) return false
  return ak.every((k) => Object.hasOwn(bo, k) && jsonEqual((a as Obj)[k], bo[k]))
}

/**
 * Merges an applied configuration into the live object (SMD `TypedValue.Merge`): leaves
 * take the configuration's value, maps merge by key, associative lists by item key, atomic
 * lists and maps are replaced.
 */
export function merge(live: unknown, config: unknown, shape: Shape): unknown {
  if (config === undefined) return live
  if (Array.isArray(config)) {
    if (shape.list.type === 'atomic' || !Array.isArray(live)) return structuredClone(config)
    const ci = indexList(shape.list, config)
    const out: unknown[] = []
    const seen = new Set<string>()
    live.forEach((item, i) => {
      const pe = itemElement(shape.list, item, i)
      seen.add(pe)
      out.push(ci.has(pe) ? merge(item, ci.get(pe), shape.item()) : item)
    })
    for (const [pe, item] of ci) if (!seen.has(pe)) out.push(structuredClone(item))
    return out
  }
  if (isObject(config)) {
    if (shape.atomic || !isObject(live)) return structuredClone(config)
    const out: Obj = { ...live }
    for (const [k, v] of Object.entries(config)) out[k] = merge(live[k], v, shape.field(k) ?? OPEN_SHAPE)
    return out
  }
  return config
}

/**
 * Removes the value at `path` from `obj` (in place); list items by key, value or index. A
 * map or list left empty goes too (SMD's remove leaves no empty container behind).
 * Returns whether `obj` itself is now empty.
 */
export function removePath(obj: unknown, path: readonly string[], shape: Shape): boolean {
  if (path.length === 0) return false
  const [pe, ...rest] = path as [string, ...string[]]
  if (pe.startsWith('f:')) {
    if (!isObject(obj)) return false
    const k = pe.slice(2)
    if (rest.length === 0 || removePath(obj[k], rest, shape.field(k) ?? OPEN_SHAPE)) delete obj[k]
    return Object.keys(obj).length === 0
  }
  if (!Array.isArray(obj)) return false
  const idx = obj.findIndex((item, i) => itemElement(shape.list, item, i) === pe)
  if (idx < 0) return false
  if (rest.length === 0 || removePath(obj[idx], rest, shape.item())) obj.splice(idx, 1)
  return obj.length === 0
}

// ---------------------------------------------------------------- managers

/** One manager's fields (a decoded `metadata.managedFields` entry). */
export interface Manager {
  manager: string
  operation: 'Apply' | 'Update'
  apiVersion: string
  /** RFC 3339 seconds; absent when the manager's last operation changed nothing. */
  time?: string
  subresource?: string
  set: FieldSet
}

/** The identity of a manager entry (k8s `BuildManagerIdentifier`: appliers ignore the apiVersion). */
export function managerId(m: Pick<Manager, 'manager' | 'operation' | 'apiVersion' | 'subresource'>): string {
  return JSON.stringify([m.manager, m.operation, m.subresource ?? '', m.operation === 'Apply' ? '' : m.apiVersion])
}

/** Managers decoded from the managedFields arrays this module encoded (objects in the store). */
const decoded = new WeakMap<object, Manager[]>()

/** Decodes `metadata.managedFields`; undefined when absent, empty or malformed. Do not change what it returns. */
export function decodeManagers(entries: unknown): Manager[] | undefined {
  if (!Array.isArray(entries) || entries.length === 0) return undefined
  const known = decoded.get(entries)
  if (known) return known
  const out: Manager[] = []
  for (const e of entries) {
    if (!isObject(e)) return undefined
    if (e.operation !== 'Apply' && e.operation !== 'Update') return undefined
    const set = e.fieldsV1 === undefined ? new FieldSet() : FieldSet.fromFieldsV1(e.fieldsV1)
    if (!set) return undefined
    out.push({
      manager: String(e.manager ?? ''),
      operation: e.operation,
      apiVersion: String(e.apiVersion ?? ''),
      // metav1.Time: seconds in UTC, whatever precision the client sent back.
      ...(typeof e.time === 'string' && !Number.isNaN(Date.parse(e.time))
        ? { time: new Date(e.time).toISOString().replace(/\.\d{3}Z$/, 'Z') }
        : {}),
      ...(typeof e.subresource === 'string' && e.subresource ? { subresource: e.subresource } : {}),
      set,
    })
  }
  return out
}

/**
 * Encodes managers as `metadata.managedFields`, in kube-apiserver's order (operation, time,
 * manager, apiVersion, subresource), entries without fields left out; undefined when none.
 */
export function encodeManagers(managers: readonly Manager[]): Obj[] | undefined {
  const encoded = encode(managers)
  if (!encoded) return undefined
  decoded.set(encoded.json, encoded.managers)
  return encoded.json
}

const fieldsJson = new WeakMap<FieldSet, Obj>()

/** A set's FieldsV1 JSON, computed once per (unchanging) set. */
function fieldsV1Of(set: FieldSet): Obj {
  let json = fieldsJson.get(set)
  if (!json) {
    json = set.toFieldsV1()
    fieldsJson.set(set, json)
  }
  return json
}

function encode(managers: readonly Manager[]): { json: Obj[]; managers: Manager[] } | undefined {
  const live = managers.filter((m) => !m.set.empty).map((m) => ({ ...m }))
  if (live.length === 0) return undefined
  const seconds = (t: string | undefined) => (t ? Date.parse(t) / 1000 : 0)
  live.sort((a, b) => {
    if (a.operation !== b.operation) return a.operation < b.operation ? -1 : 1
    if (seconds(a.time) !== seconds(b.time)) return seconds(a.time) - seconds(b.time)
    if (a.manager !== b.manager) return a.manager < b.manager ? -1 : 1
    if (a.apiVersion !== b.apiVersion) return a.apiVersion < b.apiVersion ? -1 : 1
    return (a.subresource ?? '') < (b.subresource ?? '') ? -1 : (a.subresource ?? '') > (b.subresource ?? '') ? 1 : 0
  })
  const json = live.map((m) => ({
    manager: m.manager,
    operation: m.operation,
    apiVersion: m.apiVersion,
    ...(m.time ? { time: m.time } : {}),
    fieldsType: 'FieldsV1',
    fieldsV1: fieldsV1Of(m.set),
    ...(m.subresource ? { subresource: m.subresource } : {}),
  }))
  return { json, managers: live }
}

/**
 * Fields no manager ever owns (k8s `stripmeta.go`): identity and bookkeeping of the object,
 * kept out of every set.
 */
const STRIPPED: string[][] = [
  ['f:apiVersion'],
  ['f:kind'],
  ['f:metadata'],
  ['f:metadata', 'f:name'],
  ['f:metadata', 'f:namespace'],
  ['f:metadata', 'f:creationTimestamp'],
  ['f:metadata', 'f:selfLink'],
  ['f:metadata', 'f:uid'],
  ['f:metadata', 'f:clusterName'],
  ['f:metadata', 'f:generation'],
  ['f:metadata', 'f:managedFields'],
  ['f:metadata', 'f:resourceVersion'],
]

const STRIPPED_SET = (() => {
  const set = new FieldSet()
  for (const p of STRIPPED) set.insert(p)
  return set
})()

/**
 * Keeps only what a request to `subresource` may own (k8s `ResetFieldsStrategy`): the
 * status subresource owns `status` only; the main resource of a kind with a status
 * subresource owns everything but `status`.
 */
export function ownable(set: FieldSet, scope: 'main' | 'status' | 'all'): FieldSet {
  let out = set.difference(STRIPPED_SET)
  if (scope === 'status') {
    const status = out.children.get('f:status')
    out = new FieldSet()
    if (status) out.children.set('f:status', status)
  } else if (scope === 'main' && out.children.has('f:status')) {
    const rest = new FieldSet()
    rest.self = out.self
    for (const [k, c] of out.children) if (k !== 'f:status') rest.children.set(k, c)
    out = rest
  }
  return out
}

/** One field another manager owns that an apply would change (SMD `merge.Conflict`). */
export interface Conflict {
  manager: Manager
  path: string[]
}

/** How a manager is named in conflict messages (k8s `printManager`). */
export function printManager(m: Manager): string {
  let s = JSON.stringify(m.manager)
  if (m.subresource) s = `${s} with subresource ${JSON.stringify(m.subresource)}`
  // The conflict names the manager's identity, which carries no time (BuildManagerIdentifier).
  if (m.operation === 'Update') s = `${s} using ${m.apiVersion}`
  return s
}

/** The message of a 409 apply conflict (k8s `getConflictMessage`). */
export function conflictMessage(conflicts: readonly Conflict[]): string {
  if (conflicts.length === 1) {
    const c = conflicts[0]!
    return `Apply failed with 1 conflict: conflict with ${printManager(c.manager)}: ${pathString(c.path)}`
  }
  const byManager = new Map<string, { m: Manager; paths: string[][] }>()
  for (const c of conflicts) {
    const id = managerId(c.manager)
    const entry = byManager.get(id) ?? { m: c.manager, paths: [] }
    entry.paths.push(c.path)
    byManager.set(id, entry)
  }
  const groups = [...byManager.values()].sort((a, b) => (managerId(a.m) < managerId(b.m) ? -1 : 1))
  const lines: string[] = []
  for (const g of groups) {
    lines.push(`conflicts with ${printManager(g.m)}:`)
    for (const p of g.paths) lines.push(`- ${pathString(p)}`)
  }
  return `Apply failed with ${conflicts.length} conflicts: ${lines.join('\n')}`
}

/**
 * SMD `Updater.update`: the fields `compare` reports as added or modified are taken from
 * every other manager (conflicts when `force` is false: returned, nothing changed), and
 * removed fields leave every other manager's set. Returns the conflicts.
 */
function takeOwnership(managers: Manager[], self: string, cmp: Comparison, force: boolean): Conflict[] {
  const changed = cmp.added.union(cmp.modified)
  const conflicts: Conflict[] = []
  for (const m of managers) {
    if (managerId(m) === self) continue
    for (const p of m.set.intersection(changed).paths()) conflicts.push({ manager: m, path: p })
  }
  if (conflicts.length > 0 && !force) return conflicts
  for (const m of managers) {
    if (managerId(m) === self) continue
    m.set = m.set.difference(changed).difference(cmp.removed)
  }
  return conflicts
}

function now(clock: () => Date): string {
  return clock().toISOString().replace(/\.\d{3}Z$/, 'Z')
}

/**
 * Ownership after a non-apply write (k8s `managedFieldsUpdater.Update`): the manager
 * (operation Update) takes every field the write added or changed, the removed fields leave
 * every set. `lhs`/`rhs` are the objects without managedFields, in the request's version.
 */
export function recordUpdate(
  managers: readonly Manager[],
  lhs: unknown,
  rhs: unknown,
  shape: Shape,
  who: { manager: string; apiVersion: string; subresource?: string },
  scope: 'main' | 'status' | 'all',
  clock: () => Date = () => new Date(),
): Manager[] {
  const out = managers.map((m) => ({ ...m }))
  const raw = compare(lhs, rhs, shape)
  const cmp: Comparison = { added: ownable(raw.added, scope), modified: ownable(raw.modified, scope), removed: raw.removed }
  if (cmp.added.empty && cmp.modified.empty && cmp.removed.empty) return out
  takeOwnership(out, '', cmp, true)
  const mine = cmp.added.union(cmp.modified)
  if (mine.empty) return out
  const id = managerId({ ...who, operation: 'Update' })
  const existing = out.find((m) => managerId(m) === id)
  if (existing) {
    existing.set = existing.set.union(mine)
    existing.time = now(clock)
  } else {
    out.push({
      manager: who.manager,
      operation: 'Update',
      apiVersion: who.apiVersion,
      time: now(clock),
      ...(who.subresource ? { subresource: who.subresource } : {}),
      set: mine,
    })
  }
  return out
}

/** The outcome of {@link applyConfig}. */
export type ApplyResult = { ok: true; object: Obj; managers: Manager[]; changed: boolean } | { ok: false; conflicts: Conflict[] }

/**
 * Server-side apply (SMD `Updater.Apply`): merges `config` into `live`, makes the applier
 * own exactly the configuration's fields, removes the fields it owned before and no longer
 * sends when nobody else owns them, and takes fields from other managers only with `force`
 * (otherwise the conflicts are returned). `live` and `config` carry no managedFields.
 */
export function applyConfig(
  live: Obj,
  config: Obj,
  managers: readonly Manager[],
  shape: Shape,
  who: { manager: string; apiVersion: string; subresource?: string },
  scope: 'main' | 'status' | 'all',
  force: boolean,
  clock: () => Date = () => new Date(),
): ApplyResult {
  const out = managers.map((m) => ({ ...m }))
  const id = managerId({ ...who, operation: 'Apply' })
  const set = ownable(toFieldSet(config, shape), scope)
  const last = out.find((m) => managerId(m) === id)
  let next = merge(live, config, shape) as Obj
  if (last && !last.set.empty) {
    // prune: what the applier owned and no longer sends goes, unless someone else owns it.
    let others = new FieldSet()
    for (const m of out) if (managerId(m) !== id) others = others.union(m.set)
    next = structuredClone(next)
    for (const p of last.set.difference(set).paths()) {
      if (others.hasPrefix(p) || set.hasPrefix(p)) continue
      removePath(next, p, shape)
    }
  }
  const mine: Manager = last ?? { manager: who.manager, operation: 'Apply', apiVersion: who.apiVersion, set }
  mine.set = set
  mine.apiVersion = who.apiVersion
  if (who.subresource) mine.subresource = who.subresource
  if (!last) out.push(mine)
  const raw = compare(live, next, shape)
  const cmp: Comparison = { added: ownable(raw.added, scope), modified: ownable(raw.modified, scope), removed: raw.removed }
  const conflicts = takeOwnership(out, id, cmp, force)
  if (conflicts.length > 0 && !force) return { ok: false, conflicts }
  const changed = !(cmp.added.empty && cmp.modified.empty && cmp.removed.empty)
  if (changed) mine.time = now(clock)
  return { ok: true, object: next, managers: out, changed }
}
