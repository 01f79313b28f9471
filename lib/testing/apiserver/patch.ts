/**
 * The three patch formats of `PATCH` requests: JSON merge patch (RFC 7386), JSON patch
 * (RFC 6902) and the strategic merge patch kubectl sends for built-in kinds
 * (k8s.io/apimachinery `pkg/util/strategicpatch`), the last reduced to the merge keys and
 * directives that kubectl's `apply`, `patch` and `edit` use.
 */

/** A patch that cannot be applied; `kind` picks the Status (400 malformed, 422 failed op). */
export class PatchError extends Error {
  readonly kind: 'malformed' | 'failed'
  constructor(kind: 'malformed' | 'failed', message: string) {
    super(message)
    this.kind = kind
  }
}

type Json = null | boolean | number | string | Json[] | { [k: string]: Json }

function isObject(v: unknown): v is Record<string, any> {
  return v !== null && typeof v === 'object' && !Array.isArray(v)
}

/** RFC 7386 JSON merge patch. */
export function mergePatch(target: unknown, patch: unknown): unknown {
  if (!isObject(patch)) return patch
  const out: Record<string, unknown> = isObject(target) ? { ...target } : {}
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k]
    else out[k] = mergePatch(out[k], v)
  }
  return out
}

function unescapePointer(s: string): string {
  return s.replace(/~1/g, '/').replace(/~0/g, '~')
}

function parsePointer(path: unknown): string[] {
  if (typeof path !== 'string') throw new PatchError('malformed', 'path must be a string')
  if (path === '') return []
  if (!path.startsWith('/')) throw new PatchError('failed', `invalid JSON pointer: ${JSON.stringify(path)}`)
  return path.slice(1).split('/').map(unescapePointer)
}

function getAt(doc: unknown, parts: string[]): unknown {
  let cur = doc
  for (const p of parts) {
    if (Array.isArray(cur)) {
      if (!/^\d+$/.test(p)) return undefined
      cur = cur[Number(p)]
    } else if (isObject(cur)) {
      if (!Object.hasOwn(cur, p)) return undefined
      cur = cur[p]
    } else return undefined
  }
  return cur
}

function deepEqual(a: unknown, b: unknown): boolean {
  return JSON.stringify(sortKeys(a)) === JSON.stringify(sortKeys(b))
}

function sortKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortKeys)
  if (isObject(v)) {
    const out: Record<string, unknown> = {}
    for (const k of Object.keys(v).sort()) out[k] = sortKeys(v[k])
    return out
  }
  return v
}

/** RFC 6902 JSON patch (add, remove, replace, move, copy, test), applied atomically. */
export function jsonPatch(target: unknown, ops: unknown): unknown {
  if (!Array.isArray(ops)) throw new PatchError('malformed', 'json patch must be an array of operations')
  let doc: any = structuredClone(target)
  const describe = (op: any) => `${op.op} operation does not apply: doc is missing path: ${op.path}`
  const parentOf = (parts: string[], op: any): { parent: any; last: string } => {
    if (parts.length === 0) throw new PatchError('failed', describe(op))
    const parent = getAt(doc, parts.slice(0, -1))
    if (parent === undefined || (typeof parent !== 'object' && !Array.isArray(parent)) || parent === null)
      throw new PatchError('failed', describe(op))
    return { parent, last: parts[parts.length - 1]! }
  }
  const add = (parts: string[], value: unknown, op: any) => {
    if (parts.length === 0) {
      doc = value
      return
    }
    const { parent, last } = parentOf(parts, op)
    if (Array.isArray(parent)) {
      const idx = last === '-' ? parent.length : Number(last)
      if (!/^(\d+|-)$/.test(last) || idx > parent.length)
        throw new PatchError('failed', `add operation does not apply: index out of bounds: ${op.path}`)
      parent.splice(idx, 0, value)
    } else parent[last] = value
  }
  const remove = (parts: string[], op: any): unknown => {
    const { parent, last } = parentOf(parts, op)
    if (Array.isArray(parent)) {
      const idx = Number(last)
      if (!/^\d+$/.test(last) || idx >= parent.length) throw new PatchError('failed', describe(op))
      return parent.splice(idx, 1)[0]
    }
    if (!Object.hasOwn(parent, last)) throw new PatchError('failed', describe(op))
    const v = parent[last]
    delete parent[last]
    return v
  }
  for (const op of ops as any[]) {
    if (!isObject(op) || typeof op.op !== 'string') throw new PatchError('malformed', 'invalid json patch operation')
    const parts = parsePointer(op.path)
    switch (op.op) {
      case 'add':
        if (!Object.hasOwn(op, 'value')) throw new PatchError('malformed', 'add operation missing value')
        add(parts, structuredClone(op.value), op)
        break
      case 'remove':
        remove(parts, op)
        break
      case 'replace':
        if (!Object.hasOwn(op, 'value')) throw new PatchError('malformed', 'replace operation missing value')
        if (getAt(doc, parts) === undefined) throw new PatchError('failed', describe(op))
        if (parts.length === 0) doc = structuredClone(op.value)
        else {
          const { parent, last } = parentOf(parts, op)
          parent[Array.isArray(parent) ? Number(last) : last] = structuredClone(op.value)
        }
        break
      case 'move': {
        const from = parsePointer(op.from)
        const v = remove(from, { ...op, path: op.from })
        add(parts, v, op)
        break
      }
      case 'copy': {
        const v = getAt(doc, parsePointer(op.from))
        if (v === undefined) throw new PatchError('failed', `copy operation does not apply: doc is missing from path: ${op.from}`)
        add(parts, structuredClone(v), op)
        break
      }
      case 'test':
        if (!deepEqual(getAt(doc, parts), op.value))
          throw new PatchError('failed', `testing value ${op.path} failed: test failed`)
        break
      default:
        throw new PatchError('malformed', `Unexpected kind: ${op.op}`)
    }
  }
  return doc
}

/** Merge keys of the lists the built-in kinds merge by key (`patchMergeKey` in k8s.io/api). */
function mergeKeyFor(field: string, path: string[]): string | undefined {
  switch (field) {
    case 'containers':
    case 'initContainers':
    case 'ephemeralContainers':
    case 'volumes':
    case 'env':
    case 'imagePullSecrets':
    case 'resourceClaims':
      return 'name'
    case 'volumeMounts':
      return 'mountPath'
    case 'volumeDevices':
      return 'devicePath'
    case 'ports':
      return path.some((p) => p === 'containers' || p === 'initContainers' || p === 'ephemeralContainers')
        ? 'containerPort'
        : 'port'
    case 'conditions':
      return 'type'
    case 'ownerReferences':
      return 'uid'
    case 'hostAliases':
      return 'ip'
    case 'topologySpreadConstraints':
      return 'topologyKey'
    default:
      return undefined
  }
}

/** Primitive lists merged as sets (`patchStrategy: merge` on a list of strings). */
const MERGED_PRIMITIVE_LISTS = new Set(['finalizers'])

/**
 * Strategic merge patch for the built-in kinds: maps merge like a merge patch; lists with
 * a merge key merge item by item (`$patch: delete` removes one, `$patch: replace`
 * replaces the list); `$deleteFromPrimitiveList/<field>` removes values;
 * `$setElementOrder/<field>` and `$retainKeys` are accepted and ignored.
 */
export function strategicMergePatch(target: unknown, patch: unknown, path: string[] = []): unknown {
  if (!isObject(patch)) return patch
  if (patch.$patch === 'replace') {
    const { $patch: _, ...rest } = patch
    return stripDirectives(rest)
  }
  if (patch.$patch === 'delete') return undefined
  const out: Record<string, unknown> = isObject(target) ? { ...target } : {}
  for (const [k, v] of Object.entries(patch)) {
    if (k === '$patch' || k === '$retainKeys' || k.startsWith('$setElementOrder/')) continue
    if (k.startsWith('$deleteFromPrimitiveList/')) {
      const field = k.slice('$deleteFromPrimitiveList/'.length)
      const cur = out[field]
      if (Array.isArray(cur) && Array.isArray(v)) out[field] = cur.filter((x) => !v.includes(x as Json))
      continue
    }
    if (v === null) {
      delete out[k]
      continue
    }
    if (Array.isArray(v)) {
      const key = mergeKeyFor(k, path)
      const cur = out[k]
      if (key) out[k] = mergeList(Array.isArray(cur) ? cur : [], v, key, [...path, k])
      else if (MERGED_PRIMITIVE_LISTS.has(k)) {
        const base = Array.isArray(cur) ? [...cur] : []
        for (const x of v) if (!base.includes(x)) base.push(x)
        out[k] = base
      } else out[k] = stripDirectives(v)
      continue
    }
    if (isObject(v)) {
      const merged = strategicMergePatch(out[k], v, [...path, k])
      if (merged === undefined) delete out[k]
      else out[k] = merged
      continue
    }
    out[k] = v
  }
  return out
}

function mergeList(current: unknown[], patch: unknown[], key: string, path: string[]): unknown[] {
  if (patch.some((item) => isObject(item) && item.$patch === 'replace')) {
    return patch.filter((item) => !(isObject(item) && item.$patch === 'replace')).map(stripDirectives)
  }
  const out = [...current]
  for (const item of patch) {
    if (!isObject(item) || !Object.hasOwn(item, key)) {
      out.push(stripDirectives(item))
      continue
    }
    const idx = out.findIndex((c) => isObject(c) && c[key] === item[key])
    if (item.$patch === 'delete') {
      if (idx >= 0) out.splice(idx, 1)
      continue
    }
    if (idx >= 0) out[idx] = strategicMergePatch(out[idx], item, path)
    else out.push(strategicMergePatch({}, item, path))
  }
  return out
}

function stripDirectives(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(stripDirectives)
  if (!isObject(v)) return v
  const out: Record<string, unknown> = {}
  for (const [k, x] of Object.entries(v)) {
    if (k.startsWith('$')) continue
    out[k] = stripDirectives(x)
  }
  return out
}
