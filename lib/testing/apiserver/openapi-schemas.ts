/**
 * The schemas of the OpenAPI v3 documents (`components.schemas`), so that `kubectl explain`
 * and other schema readers see real ones:
 *
 * - built-in kinds: the definitions kube-apiserver v1.34.4 publishes, generated from the
 *   pinned k8s.io/kubernetes/pkg/generated/openapi by testing/protogen
 *   (data/openapi-schemas.json), closed over their references;
 * - custom resources: the established CRD version's `openAPIV3Schema`, with `apiVersion`,
 *   `kind` and `metadata` added as apiextensions-apiserver's builder adds them
 *   (k8s.io/apiextensions-apiserver/pkg/controller/openapi/builder).
 *
 * References are written the v3 way kube-openapi writes them: a `$ref` with siblings
 * (description, default) becomes `allOf: [{$ref}]` beside them.
 */
import { readDataFile } from './protobuf.ts'
import type { ResourceDef } from './resources.ts'
import type { KubeObject } from './types.ts'

type Schema = Record<string, any>

let builtins: { schemas: Record<string, Schema>; byGvk: Map<string, string> } | undefined

function load() {
  if (builtins) return builtins
  const file = readDataFile('openapi-schemas.json') as { schemas: Record<string, Schema> }
  const schemas: Record<string, Schema> = {}
  const byGvk = new Map<string, string>()
  for (const [name, s] of Object.entries(file.schemas)) {
    schemas[name] = toV3(s) as Schema
    for (const g of s['x-kubernetes-group-version-kind'] ?? []) byGvk.set(`${g.group}/${g.version}/${g.kind}`, name)
  }
  builtins = { schemas, byGvk }
  return builtins
}

/** `$ref` with siblings -> `allOf: [{$ref}]` with the siblings, recursively. */
function toV3(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(toV3)
  if (!v || typeof v !== 'object') return v
  const o = v as Schema
  const out: Schema = {}
  for (const [k, x] of Object.entries(o)) {
    // Examples and defaults are data, not schemas.
    out[k] = k === 'default' || k === 'example' || k === 'enum' ? x : toV3(x)
  }
  if (typeof out.$ref === 'string' && Object.keys(out).length > 1) {
    const { $ref, ...rest } = out
    return { ...rest, allOf: [{ $ref }] }
  }
  return out
}

const PREFIX = '#/components/schemas/'

/** Adds `name` and every schema it references to `into`. */
function closure(name: string, into: Record<string, Schema>): void {
  refClosure(load().schemas, PREFIX, name, into)
}

/**
 * Adds `schemas[name]` and every schema it references through `$ref`s starting with
 * `prefix`, transitively, to `into`. Shared by the v3 documents (this file) and v2
 * (`openapi-v2.ts`), which differ only in their schema sets and reference prefixes.
 */
export function refClosure(schemas: Record<string, Schema>, prefix: string, name: string, into: Record<string, Schema>): void {
  if (into[name] || !schemas[name]) return
  into[name] = schemas[name]!
  const walk = (v: unknown): void => {
    if (Array.isArray(v)) for (const x of v) walk(x)
    else if (v && typeof v === 'object') {
      for (const [k, x] of Object.entries(v)) {
        if (k === '$ref' && typeof x === 'string' && x.startsWith(prefix)) refClosure(schemas, prefix, x.slice(prefix.length), into)
        else walk(x)
      }
    }
  }
  walk(schemas[name])
}

/** The schema name kube-apiserver gives a custom resource (v2 and v3): reversed group, version, kind. */
export function crName(d: ResourceDef): string {
  return [...d.group.split('.').reverse(), d.version, d.kind].join('.')
}

/** The `openAPIV3Schema` a CRD declares for `version` (or its legacy top-level `validation`). */
export function crdVersionSchema(crd: KubeObject | undefined, version: string): Schema | undefined {
  const spec = (crd?.spec ?? {}) as Schema
  const v = (spec.versions ?? []).find((x: Schema) => x?.name === version)
  return v?.schema?.openAPIV3Schema ?? spec.validation?.openAPIV3Schema
}

/**
 * `components.schemas` for the resources of one group-version: the real definitions of
 * built-in kinds (and what they reference), and the schema of each custom resource,
 * read from its CRD by `crdOf`.
 */
export function schemasFor(defs: ResourceDef[], crdOf: (d: ResourceDef) => KubeObject | undefined): Record<string, Schema> {
  const { byGvk } = load()
  const out: Record<string, Schema> = {}
  for (const d of defs) {
    if (!d.custom) {
      for (const kind of [d.kind, d.listKind]) {
        const name = byGvk.get(`${d.group}/${d.version}/${kind}`)
        if (name) closure(name, out)
      }
      continue
    }
    const schema = crdVersionSchema(crdOf(d), d.version)
    closure('io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta', out)
    const props: Schema = {
      apiVersion: {
        description:
          'APIVersion defines the versioned schema of this representation of an object. Servers should convert recognized schemas to the latest internal value, and may reject unrecognized values. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#resources',
        type: 'string',
      },
      kind: {
        description:
          'Kind is a string value representing the REST resource this object represents. Servers may infer this from the endpoint the client submits requests to. Cannot be updated. In CamelCase. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#types-kinds',
        type: 'string',
      },
      metadata: {
        description: "Standard object's metadata. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata",
        allOf: [{ $ref: `${PREFIX}io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta` }],
      },
    }
    const base: Schema = schema ? structuredClone(schema) : { type: 'object', 'x-kubernetes-preserve-unknown-fields': true }
    base.type ??= 'object'
    base.properties = { ...props, ...(base.properties ?? {}) }
    base['x-kubernetes-group-version-kind'] = [{ group: d.group, kind: d.kind, version: d.version }]
    out[crName(d)] = base
  }
  return out
}
