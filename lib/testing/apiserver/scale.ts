/**
 * The `scale` subresource (autoscaling/v1 `Scale`), served for deployments and for custom
 * resources whose CRD declares `subresources.scale` — what `kubectl scale` and autoscalers
 * use. Reading renders the object as a Scale; writing changes only the replicas field
 * (update, JSON/merge/strategic patch, and server-side apply, which owns it on the object).
 */
import { jsonPatch, mergePatch, PatchError } from './patch.ts'
import { PATCH_TYPES, parseApplyBody, type Rest } from './rest.ts'
import { type ResourceDef, readPath } from './resources.ts'
import { badRequest, conflict, unprocessable, unsupportedMediaType } from './status.ts'
import type { KubeObject } from './types.ts'

/** Where a kind keeps its replicas and selector (JSON paths like `.spec.replicas`). */
export interface ScaleSpec {
  specReplicasPath: string
  statusReplicasPath: string
  labelSelectorPath?: string
}

function path(p: string): string[] {
  return p.replace(/^\./, '').split('.').filter(Boolean)
}

function read(obj: unknown, p: string): unknown {
  return readPath(obj, path(p))
}

/** `metav1.FormatLabelSelector` of a LabelSelector (matchLabels and matchExpressions). */
function formatSelector(sel: any): string {
  if (!sel || typeof sel !== 'object') return ''
  const parts: string[] = []
  for (const [k, v] of Object.entries(sel.matchLabels ?? {})) parts.push(`${k}=${v}`)
  for (const e of Array.isArray(sel.matchExpressions) ? sel.matchExpressions : []) {
    const op = String(e?.operator ?? '')
    if (op === 'In' || op === 'NotIn') parts.push(`${e.key} ${op.toLowerCase()} (${(e.values ?? []).join(',')})`)
    else if (op === 'Exists') parts.push(String(e.key))
    else if (op === 'DoesNotExist') parts.push(`!${e.key}`)
  }
  return parts.join(',')
}

/** The Scale view of `obj`. */
export function toScale(def: ResourceDef, obj: KubeObject): KubeObject {
  const spec = def.scale!
  const m = obj.metadata
  const selector =
    def.group === 'apps' && def.plural === 'deployments'
      ? formatSelector((obj.spec as any)?.selector)
      : spec.labelSelectorPath
        ? String(read(obj, spec.labelSelectorPath) ?? '')
        : ''
  return {
    kind: 'Scale',
    apiVersion: 'autoscaling/v1',
    metadata: {
      name: m.name,
      ...(m.namespace ? { namespace: m.namespace } : {}),
      uid: m.uid,
      resourceVersion: m.resourceVersion,
      creationTimestamp: m.creationTimestamp,
    },
    spec: { replicas: Number(read(obj, spec.specReplicasPath) ?? 0) },
    status: { replicas: Number(read(obj, spec.statusReplicasPath) ?? 0), ...(selector ? { selector } : {}) },
  }
}

function withReplicas(obj: KubeObject, p: string, replicas: number): KubeObject {
  const keys = path(p)
  const out = structuredClone(obj) as Record<string, any>
  let cur = out
  for (const k of keys.slice(0, -1)) {
    if (cur[k] === null || typeof cur[k] !== 'object') cur[k] = {}
    cur = cur[k]
  }
  cur[keys[keys.length - 1]!] = replicas
  return out as KubeObject
}

/** GET, PUT or PATCH on `.../{name}/scale`; returns the Scale after the change. */
export function handleScale(
  rest: Rest,
  def: ResourceDef,
  namespace: string | undefined,
  name: string,
  method: 'GET' | 'PUT' | 'PATCH',
  raw: string,
  contentType: string,
  dryRun: boolean,
  fieldManager?: string,
  force = false,
): KubeObject {
  const current = rest.get(def, namespace, name)
  const scale = toScale(def, current)
  if (method === 'GET') return scale
  if (method === 'PATCH' && contentType.split(';')[0]!.trim().toLowerCase() === PATCH_TYPES.apply) {
    // Server-side apply of a Scale: the replicas field is applied to (and owned on) the
    // object itself, by a manager entry with subresource "scale" (as kube-apiserver does).
    const { config } = parseApplyBody(raw, fieldManager)
    if (config.apiVersion !== 'autoscaling/v1' || config.kind !== 'Scale')
      throw badRequest(`the API version in the data (${config.apiVersion}) does not match the expected API version (autoscaling/v1)`)
    // The Scale's replicas is a plain int32: left out, it applies 0 (as kube-apiserver does).
    const replicas = config.spec?.replicas ?? 0
    if (!Number.isInteger(replicas) || replicas < 0)
      throw unprocessable(`Scale.autoscaling "${name}" is invalid: spec.replicas: Invalid value: ${JSON.stringify(replicas)}: must be greater than or equal to 0`)
    const parent: Record<string, any> = { apiVersion: def.apiVersion, kind: def.kind, metadata: { name } }
    const keys = path(def.scale!.specReplicasPath)
    let cur = parent
    for (const k of keys.slice(0, -1)) cur = cur[k] = {}
    cur[keys[keys.length - 1]!] = replicas
    const { object } = rest.applyObject(def, namespace, name, parent, { dryRun, fieldManager, force, managerSubresource: 'scale' })
    return toScale(def, object)
  }
  let wanted: any
  try {
    const body = JSON.parse(raw)
    if (method === 'PUT') wanted = body
    else {
      const type = contentType.split(';')[0]!.trim().toLowerCase()
      if (type === PATCH_TYPES.json) wanted = jsonPatch(scale, body)
      else if (type === PATCH_TYPES.merge || type === PATCH_TYPES.strategic) wanted = mergePatch(scale, body)
      else throw unsupportedMediaType(type, [PATCH_TYPES.json, PATCH_TYPES.merge, PATCH_TYPES.strategic, PATCH_TYPES.apply])
    }
  } catch (err) {
    if (err instanceof SyntaxError) throw badRequest(`the object provided is unrecognized (must be of type Scale): ${err.message}`)
    if (err instanceof PatchError) throw err.kind === 'malformed' ? badRequest(err.message) : unprocessable(err.message)
    throw err
  }
  const replicas = wanted?.spec?.replicas
  if (!Number.isInteger(replicas) || replicas < 0)
    throw unprocessable(`Scale.autoscaling "${name}" is invalid: spec.replicas: Invalid value: ${JSON.stringify(replicas ?? null)}: must be greater than or equal to 0`)
  const rv = wanted?.metadata?.resourceVersion
  if (rv && rv !== current.metadata.resourceVersion) throw conflict({ group: def.group, resource: def.plural }, name)
  const next = withReplicas(current, def.scale!.specReplicasPath, replicas)
  return toScale(def, rest.update(def, namespace, name, next, { dryRun, managerSubresource: 'scale', ...(fieldManager ? { fieldManager } : {}) }))
}
