/**
 * The resource types the embedded server serves, and the discovery documents that
 * describe them (`/api`, `/api/v1`, `/apis`, `/apis/{group}`, `/apis/{group}/{version}`).
 * Built-in kinds are fixed; CustomResourceDefinitions add kinds at runtime.
 */
import type { ScaleSpec } from './scale.ts'
import type { KubeObject } from './types.ts'

/** How to read a field for a field selector, e.g. `spec.nodeName` of a Pod. */
export type FieldGetter = (obj: KubeObject) => string

/** One served resource (a plural under a group/version). */
export interface ResourceDef {
  group: string
  version: string
  /** `v1` or `apps/v1`. */
  apiVersion: string
  plural: string
  singular: string
  kind: string
  listKind: string
  namespaced: boolean
  shortNames: string[]
  categories: string[]
  /** Has the `status` subresource: the main resource ignores status, `/status` ignores the rest. */
  hasStatus: boolean
  /** `metadata.generation` is maintained (bumped on spec changes). */
  hasGeneration: boolean
  /** A custom resource (from a CRD): no strategic merge patch, no unconditional update. */
  custom: boolean
  /** Field selectors beyond `metadata.name` / `metadata.namespace`. */
  fields: Record<string, FieldGetter>
  /** Has the `scale` subresource (autoscaling/v1 Scale). */
  scale?: ScaleSpec
  /** A CRD version's `openAPIV3Schema` (unknown-field checks, list types for server-side apply). */
  schema?: unknown
  /**
   * Served from another resource's storage, converted on the way in and out (events.k8s.io/v1
   * Events are core/v1 Events in storage, as in kube-apiserver).
   */
  storage?: { group: string; plural: string; toStorage(obj: Record<string, any>): Record<string, any>; fromStorage(obj: Record<string, any>): Record<string, any> }
}

/** The value at `path` (field names) inside `obj`, or undefined where the path ends early. */
export function readPath(obj: unknown, path: readonly string[]): unknown {
  let cur = obj
  for (const p of path) {
    if (cur === null || typeof cur !== 'object') return undefined
    cur = (cur as Record<string, unknown>)[p]
  }
  return cur
}

function field(path: string, fallback = ''): FieldGetter {
  const parts = path.split('.')
  return (obj) => {
    const v = readPath(obj, parts)
    return v === undefined || v === null ? fallback : String(v)
  }
}

function def(
  partial: Pick<ResourceDef, 'group' | 'version' | 'plural' | 'kind' | 'namespaced'> & Partial<ResourceDef>,
): ResourceDef {
  return {
    singular: partial.kind.toLowerCase(),
    listKind: `${partial.kind}List`,
    shortNames: [],
    categories: [],
    hasStatus: false,
    hasGeneration: false,
    custom: false,
    fields: {},
    ...partial,
    apiVersion: partial.group ? `${partial.group}/${partial.version}` : partial.version,
  }
}

/** The built-in kinds (k8s.io/api core/v1, apps/v1, coordination.k8s.io/v1, apiextensions.k8s.io/v1). */
export function builtinResources(): ResourceDef[] {
  return [
    def({
      group: '',
      version: 'v1',
      plural: 'namespaces',
      kind: 'Namespace',
      namespaced: false,
      shortNames: ['ns'],
      hasStatus: true,
      fields: { 'status.phase': field('status.phase') },
    }),
    def({
      group: '',
      version: 'v1',
      plural: 'pods',
      kind: 'Pod',
      namespaced: true,
      shortNames: ['po'],
      categories: ['all'],
      hasStatus: true,
      hasGeneration: true,
      // pkg/registry/core/pod/strategy.go PodToSelectableFields
      fields: {
        'spec.nodeName': field('spec.nodeName'),
        'spec.restartPolicy': field('spec.restartPolicy'),
        'spec.schedulerName': field('spec.schedulerName'),
        'spec.serviceAccountName': field('spec.serviceAccountName'),
        'spec.hostNetwork': field('spec.hostNetwork', 'false'),
        'status.phase': field('status.phase'),
        'status.podIP': field('status.podIP'),
        'status.nominatedNodeName': field('status.nominatedNodeName'),
      },
    }),
    def({ group: '', version: 'v1', plural: 'configmaps', kind: 'ConfigMap', namespaced: true, shortNames: ['cm'] }),
    def({
      group: '',
      version: 'v1',
      plural: 'secrets',
      kind: 'Secret',
      namespaced: true,
      fields: { type: field('type') },
    }),
    def({
      group: '',
      version: 'v1',
      plural: 'services',
      kind: 'Service',
      namespaced: true,
      shortNames: ['svc'],
      categories: ['all'],
      hasStatus: true,
    }),
    def({
      group: '',
      version: 'v1',
      plural: 'events',
      kind: 'Event',
      namespaced: true,
      shortNames: ['ev'],
      // pkg/registry/core/event/strategy.go ToSelectableFields
      fields: {
        'involvedObject.kind': field('involvedObject.kind'),
        'involvedObject.namespace': field('involvedObject.namespace'),
        'involvedObject.name': field('involvedObject.name'),
        'involvedObject.uid': field('involvedObject.uid'),
        'involvedObject.apiVersion': field('involvedObject.apiVersion'),
        'involvedObject.resourceVersion': field('involvedObject.resourceVersion'),
        'involvedObject.fieldPath': field('involvedObject.fieldPath'),
        reason: field('reason'),
        reportingComponent: field('reportingComponent'),
        source: field('source.component'),
        type: field('type'),
      },
    }),
    def({
      group: 'apps',
      version: 'v1',
      plural: 'deployments',
      kind: 'Deployment',
      namespaced: true,
      shortNames: ['deploy'],
      categories: ['all'],
      hasStatus: true,
      hasGeneration: true,
      scale: { specReplicasPath: '.spec.replicas', statusReplicasPath: '.status.replicas' },
    }),
    def({ group: 'coordination.k8s.io', version: 'v1', plural: 'leases', kind: 'Lease', namespaced: true }),
    // Called on writes by admission.ts (mutating webhooks, as kube-apiserver's MutatingAdmissionWebhook).
    def({ group: 'admissionregistration.k8s.io', version: 'v1', plural: 'mutatingwebhookconfigurations', kind: 'MutatingWebhookConfiguration', namespaced: false }),
    def({
      group: 'events.k8s.io',
      version: 'v1',
      plural: 'events',
      kind: 'Event',
      namespaced: true,
      shortNames: ['ev'],
      storage: { group: '', plural: 'events', toStorage: eventToCore, fromStorage: eventFromCore },
      // pkg/registry/core/event/strategy.go, with the events.k8s.io field names.
      fields: {
        'regarding.kind': field('involvedObject.kind'),
        'regarding.namespace': field('involvedObject.namespace'),
        'regarding.name': field('involvedObject.name'),
        'regarding.uid': field('involvedObject.uid'),
        'regarding.apiVersion': field('involvedObject.apiVersion'),
        'regarding.resourceVersion': field('involvedObject.resourceVersion'),
        'regarding.fieldPath': field('involvedObject.fieldPath'),
        reason: field('reason'),
        reportingController: field('reportingComponent'),
        type: field('type'),
      },
    }),
    def({
      group: 'apiextensions.k8s.io',
      version: 'v1',
      plural: 'customresourcedefinitions',
      kind: 'CustomResourceDefinition',
      namespaced: false,
      shortNames: ['crd', 'crds'],
      categories: ['api-extensions'],
      hasStatus: true,
      hasGeneration: true,
    }),
  ]
}

/** events.k8s.io/v1 field → core/v1 Event field (k8s.io/kubernetes pkg/apis/events/v1 conversion). */
const EVENT_FIELDS: Array<[string, string]> = [
  ['regarding', 'involvedObject'],
  ['note', 'message'],
  ['reportingController', 'reportingComponent'],
  ['deprecatedSource', 'source'],
  ['deprecatedFirstTimestamp', 'firstTimestamp'],
  ['deprecatedLastTimestamp', 'lastTimestamp'],
  ['deprecatedCount', 'count'],
]

function renameFields(obj: Record<string, any>, pairs: Array<[string, string]>): Record<string, any> {
  const out: Record<string, any> = {}
  const rename = new Map(pairs)
  for (const [k, v] of Object.entries(obj)) out[rename.get(k) ?? k] = v
  return out
}

/** An events.k8s.io/v1 Event as the core/v1 Event it is stored as. */
export function eventToCore(obj: Record<string, any>): Record<string, any> {
  const out = renameFields(obj, EVENT_FIELDS)
  if (out.series && typeof out.series === 'object') out.series = { ...out.series }
  out.apiVersion = 'v1'
  return out
}

/** A stored core/v1 Event as events.k8s.io/v1 serves it. */
export function eventFromCore(obj: Record<string, any>): Record<string, any> {
  const out = renameFields(
    obj,
    EVENT_FIELDS.map(([a, b]) => [b, a]),
  )
  out.apiVersion = 'events.k8s.io/v1'
  return out
}

/** The resources a CRD object declares (one per served version), or an error message. */
export function resourcesFromCrd(crd: KubeObject): ResourceDef[] {
  const spec = (crd.spec ?? {}) as Record<string, any>
  const names = (spec.names ?? {}) as Record<string, any>
  const versions = Array.isArray(spec.versions) ? (spec.versions as Record<string, any>[]) : []
  return versions
    .filter((v) => v.served !== false)
    .map((v) =>
      def({
        group: String(spec.group),
        version: String(v.name),
        plural: String(names.plural),
        singular: String(names.singular ?? String(names.kind).toLowerCase()),
        kind: String(names.kind),
        listKind: String(names.listKind ?? `${names.kind}List`),
        namespaced: spec.scope !== 'Cluster',
        shortNames: Array.isArray(names.shortNames) ? names.shortNames.map(String) : [],
        categories: Array.isArray(names.categories) ? names.categories.map(String) : [],
        hasStatus: Boolean(v.subresources?.status),
        hasGeneration: true,
        custom: true,
        ...(v.schema?.openAPIV3Schema ? { schema: v.schema.openAPIV3Schema } : {}),
        ...(v.subresources?.scale?.specReplicasPath
          ? {
              scale: {
                specReplicasPath: String(v.subresources.scale.specReplicasPath),
                statusReplicasPath: String(v.subresources.scale.statusReplicasPath ?? '.status.replicas'),
                ...(v.subresources.scale.labelSelectorPath
                  ? { labelSelectorPath: String(v.subresources.scale.labelSelectorPath) }
                  : {}),
              },
            }
          : {}),
      }),
    )
}

/** The resource types served right now, with discovery rendering. */
export class ResourceRegistry {
  /** key `group/version/plural` → def. */
  #byPath = new Map<string, ResourceDef>()
  /** Which resources each CRD (by name) registered, to remove them with it. */
  #byCrd = new Map<string, ResourceDef[]>()

  constructor() {
    for (const r of builtinResources()) this.#byPath.set(key(r.group, r.version, r.plural), r)
  }

  /** The resource served at `group/version/plural`, if any. */
  lookup(group: string, version: string, plural: string): ResourceDef | undefined {
    return this.#byPath.get(key(group, version, plural))
  }

  /** The resource serving `apiVersion` + `kind`, if any. */
  byKind(apiVersion: string, kind: string): ResourceDef | undefined {
    for (const r of this.#byPath.values()) if (r.apiVersion === apiVersion && r.kind === kind) return r
    return undefined
  }

  /** Every served resource. */
  all(): ResourceDef[] {
    return [...this.#byPath.values()]
  }

  /** Registers (or re-registers) the kinds a CRD declares. */
  registerCrd(crdName: string, defs: ResourceDef[]): void {
    this.unregisterCrd(crdName)
    for (const d of defs) this.#byPath.set(key(d.group, d.version, d.plural), d)
    this.#byCrd.set(crdName, defs)
  }

  /** Removes the kinds a CRD registered; returns them. */
  unregisterCrd(crdName: string): ResourceDef[] {
    const defs = this.#byCrd.get(crdName) ?? []
    for (const d of defs) this.#byPath.delete(key(d.group, d.version, d.plural))
    this.#byCrd.delete(crdName)
    return defs
  }

  /** Group → versions, core group excluded, in registration order. */
  groups(): Map<string, string[]> {
    const out = new Map<string, string[]>()
    for (const r of this.#byPath.values()) {
      if (!r.group) continue
      const vs = out.get(r.group) ?? []
      if (!vs.includes(r.version)) vs.push(r.version)
      out.set(r.group, vs)
    }
    return out
  }

  /** `/apis` (APIGroupList). */
  apiGroupList(): unknown {
    return {
      kind: 'APIGroupList',
      apiVersion: 'v1',
      groups: [...this.groups()].map(([name, versions]) => apiGroup(name, versions)),
    }
  }

  /** `/apis/{group}` (APIGroup), undefined when not served. */
  apiGroup(group: string): unknown {
    const versions = this.groups().get(group)
    return versions ? { kind: 'APIGroup', apiVersion: 'v1', ...apiGroup(group, versions) } : undefined
  }

  /** Whether `group/version` is served: some resource lives there (the core `v1` always is). */
  serves(group: string, version: string): boolean {
    if (group === '' && version === 'v1') return true
    for (const r of this.#byPath.values()) if (r.group === group && r.version === version) return true
    return false
  }

  /** `/api/v1` or `/apis/{g}/{v}` (APIResourceList), undefined when not served. */
  apiResourceList(group: string, version: string): unknown {
    if (!this.serves(group, version)) return undefined
    const defs = this.all().filter((r) => r.group === group && r.version === version)
    const resources: unknown[] = []
    for (const r of defs) {
      resources.push({
        name: r.plural,
        singularName: r.singular,
        namespaced: r.namespaced,
        kind: r.kind,
        verbs: ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'],
        ...(r.shortNames.length ? { shortNames: r.shortNames } : {}),
        ...(r.categories.length ? { categories: r.categories } : {}),
      })
      if (r.hasStatus) {
        resources.push({
          name: `${r.plural}/status`,
          singularName: '',
          namespaced: r.namespaced,
          kind: r.kind,
          verbs: ['get', 'patch', 'update'],
        })
      }
      if (r.scale) {
        resources.push({
          name: `${r.plural}/scale`,
          singularName: '',
          namespaced: r.namespaced,
          group: 'autoscaling',
          version: 'v1',
          kind: 'Scale',
          verbs: ['get', 'patch', 'update'],
        })
      }
    }
    return { kind: 'APIResourceList', apiVersion: 'v1', groupVersion: group ? `${group}/${version}` : version, resources }
  }
}

function apiGroup(name: string, versions: string[]): Record<string, unknown> {
  const vs = versions.map((v) => ({ groupVersion: `${name}/${v}`, version: v }))
  return { name, versions: vs, preferredVersion: vs[0] }
}

function key(group: string, version: string, plural: string): string {
  return `${group}/${version}/${plural}`
}
