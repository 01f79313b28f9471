/**
 * `/openapi/v2`: the Swagger 2.0 document, with the real definitions of the built-in kinds
 * served and an established CRD's schema, as JSON or as the gnostic protobuf `Document`
 * kubectl before 1.27 asks for (`application/com.github.proto-openapi.spec.v2@v1.0+protobuf`;
 * its `explain`, client-side validation and `apply` patches read it).
 *
 * - built-in kinds: data/openapi-schemas.json (the v1.34.4 definitions testing/protogen
 *   reads), turned into v2 definitions as kube-openapi's v2 builder does
 *   (k8s.io/kube-openapi/pkg/builder/openapi.go buildDefinitionRecursively: a definition
 *   carrying `x-kubernetes-v2-schema` is replaced by it, references point at `#/definitions/`),
 *   without defaults, as kube-aggregator prunes them from the v2 document it serves;
 * - custom resources: the CRD version's `openAPIV3Schema` made v2-compatible as
 *   apiextensions-apiserver's v2 builder does (k8s.io/apiextensions-apiserver/pkg/controller/
 *   openapi/v2/conversion.go ToStructuralOpenAPIV2: no allOf/anyOf/oneOf/not, no defaults; a nullable or
 *   x-kubernetes-preserve-unknown-fields schema loses its type, items and properties, as
 *   kubectl < 1.27 would reject unknown fields below it otherwise), plus `apiVersion`,
 *   `kind` and `metadata`.
 *
 * The protobuf form is written by protobufjs from gnostic's own OpenAPIv2.proto
 * (data/openapi-v2.proto, copied from github.com/google/gnostic-models by testing/protogen);
 * the mapping of JSON schema keys to its fields is gnostic's (openapiv2/OpenAPIv2.go
 * NewSchema): values that are data (default, enum, example, vendor extensions) travel as
 * `Any.yaml`, YAML text (written by the `yaml` package).
 */
import { createHash } from 'node:crypto'
import { existsSync, readFileSync } from 'node:fs'
import protobuf from 'protobufjs'
import { stringify } from 'yaml'
import { crdVersionSchema, crName, refClosure } from './openapi-schemas.ts'
import { readDataFile } from './protobuf.ts'
import type { ResourceDef, ResourceRegistry } from './resources.ts'
import type { KubeObject } from './types.ts'

type Schema = Record<string, any>

/** The content type kube-apiserver answers a protobuf `/openapi/v2` with. */
export const OPENAPI_V2_PROTOBUF_CONTENT_TYPE = 'application/com.github.proto-openapi.spec.v2.v1.0+protobuf'

const V3_PREFIX = '#/components/schemas/'
const V2_PREFIX = '#/definitions/'

let builtins: { schemas: Record<string, Schema>; byGvk: Map<string, string> } | undefined

/** The built-in definitions in their v2 form, by definition name. */
function load() {
  if (builtins) return builtins
  const file = readDataFile('openapi-schemas.json') as { schemas: Record<string, Schema> }
  const schemas: Record<string, Schema> = {}
  const byGvk = new Map<string, string>()
  for (const [name, s] of Object.entries(file.schemas)) {
    schemas[name] = toV2Refs(s['x-kubernetes-v2-schema'] ?? s) as Schema
    for (const g of s['x-kubernetes-group-version-kind'] ?? []) byGvk.set(`${g.group}/${g.version}/${g.kind}`, name)
  }
  builtins = { schemas, byGvk }
  return builtins
}

/**
 * References to `#/definitions/`, and no defaults (kube-apiserver's v2 document has none).
 * `default`, `example` and `enum` are data, but a property may be named so.
 */
function toV2Refs(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(toV2Refs)
  if (!v || typeof v !== 'object') return v
  const out: Schema = {}
  for (const [k, x] of Object.entries(v as Schema)) {
    if (k === '$ref' && typeof x === 'string' && x.startsWith(V3_PREFIX)) out[k] = V2_PREFIX + x.slice(V3_PREFIX.length)
    else if (k === 'default') continue // kube-aggregator prunes defaults from v2 (kube-openapi aggregator.PruneDefaults)
    else if (k === 'example' || k === 'enum') out[k] = x
    else if ((k === 'properties' || k === 'patternProperties') && x && typeof x === 'object') {
      const props: Schema = {}
      for (const [p, y] of Object.entries(x as Schema)) props[p] = toV2Refs(y)
      out[k] = props
    } else out[k] = toV2Refs(x)
  }
  return out
}

function closure(name: string, into: Record<string, Schema>): void {
  refClosure(load().schemas, V2_PREFIX, name, into)
}

/** ToStructuralOpenAPIV2, on a JSON schema. */
function crdSchemaToV2(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(crdSchemaToV2)
  if (!v || typeof v !== 'object') return v
  const s: Schema = {}
  for (const [k, x] of Object.entries(v as Schema)) {
    // v2 publishes no defaults of custom resources (the builder strips them; kubectl < 1.27 would apply them).
    if (k === 'allOf' || k === 'anyOf' || k === 'oneOf' || k === 'not' || k === 'default') continue
    if (k === 'example' || k === 'enum') s[k] = x
    else if (k === 'properties' || k === 'patternProperties') {
      // Sorted by name, as Go writes a map (kube-apiserver's JSON and protobuf alike).
      const props: Schema = {}
      for (const p of Object.keys((x ?? {}) as Schema).sort()) props[p] = crdSchemaToV2((x as Schema)[p])
      s[k] = props
    } else s[k] = crdSchemaToV2(x)
  }
  if (s.nullable === true || s['x-kubernetes-preserve-unknown-fields'] === true) {
    delete s.type
    delete s.items
    delete s.properties
  }
  delete s.nullable
  if (s['x-kubernetes-int-or-string'] === true) delete s.type
  return s
}

function crdSchema(d: ResourceDef, crd: KubeObject | undefined): Schema {
  const raw = crdVersionSchema(crd, d.version)
  const base = (raw ? crdSchemaToV2(structuredClone(raw)) : {}) as Schema
  base.type ??= 'object'
  if (raw?.['x-kubernetes-preserve-unknown-fields'] === true) {
    // Anything goes at the root: kube-apiserver publishes the bare object type (no
    // properties, not even metadata), which kubectl < 1.27 validates nothing against.
    delete base['x-kubernetes-preserve-unknown-fields']
    base['x-kubernetes-group-version-kind'] = [{ group: d.group, kind: d.kind, version: d.version }]
    return base
  }
  base.properties = {
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
      $ref: `${V2_PREFIX}io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta`,
    },
    ...(base.properties ?? {}),
  }
  base.properties = Object.fromEntries(Object.entries(base.properties as Schema).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
  base['x-kubernetes-group-version-kind'] = [{ group: d.group, kind: d.kind, version: d.version }]
  return base
}

/** The Swagger 2.0 document for the resources served now (`crdOf` finds a custom resource's CRD). */
export function openApiV2Document(registry: ResourceRegistry, crdOf: (d: ResourceDef) => KubeObject | undefined = () => undefined): Schema {
  const { byGvk } = load()
  const definitions: Record<string, Schema> = {}
  const defs = registry.all()
  for (const d of defs) {
    if (d.custom) continue
    for (const kind of [d.kind, d.listKind]) {
      const name = byGvk.get(`${d.group}/${d.version}/${kind}`)
      if (name) closure(name, definitions)
    }
  }
  for (const d of defs) {
    if (!d.custom) continue
    closure('io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta', definitions)
    definitions[crName(d)] = crdSchema(d, crdOf(d))
  }
  const sorted: Record<string, Schema> = {}
  for (const k of Object.keys(definitions).sort()) sorted[k] = definitions[k]!
  return { swagger: '2.0', info: { title: 'Kubernetes', version: 'v1.34.4' }, paths: {}, definitions: sorted }
}

// --- protobuf (gnostic openapi_v2.Document) ------------------------------------------

let root: protobuf.Root | undefined

function readProto(): string {
  const here = new URL('./data/openapi-v2.proto', import.meta.url)
  const fromDist = new URL('../../../lib/testing/apiserver/data/openapi-v2.proto', import.meta.url)
  return readFileSync(existsSync(here) ? here : fromDist, 'utf8')
}

function documentType(): protobuf.Type {
  if (!root) {
    root = new protobuf.Root()
    // The proto imports google/protobuf/any.proto: protobufjs ships it as a common type.
    root.addJSON(protobuf.common.get('google/protobuf/any.proto')!.nested!)
    protobuf.parse(readProto(), root, { keepCase: true })
    root.resolveAll()
  }
  return root.lookupType('openapi.v2.Document')
}

/** Data values (default, enum, example, extensions) as gnostic's Any: their YAML text, as Go's yaml.v3 writes it. */
function any(v: unknown): Schema {
  return { yaml: stringify(v) }
}

function extensions(s: Schema): Schema[] {
  const out: Schema[] = []
  for (const [k, v] of Object.entries(s)) if (k.startsWith('x-')) out.push({ name: k, value: any(v) })
  return out
}

const NUMBERS: Record<string, string> = {
  multipleOf: 'multiple_of',
  maximum: 'maximum',
  minimum: 'minimum',
  maxLength: 'max_length',
  minLength: 'min_length',
  maxItems: 'max_items',
  minItems: 'min_items',
  maxProperties: 'max_properties',
  minProperties: 'min_properties',
}

/** A JSON schema as gnostic's openapi_v2.Schema message (NewSchema's mapping). */
function schemaMessage(s: Schema): Schema {
  const m: Schema = {}
  if (typeof s.$ref === 'string') m._ref = s.$ref
  for (const k of ['format', 'title', 'description', 'pattern', 'discriminator'] as const) if (typeof s[k] === 'string') m[k] = s[k]
  for (const [k, f] of Object.entries(NUMBERS)) if (typeof s[k] === 'number') m[f] = s[k]
  if (s.exclusiveMaximum === true) m.exclusive_maximum = true
  if (s.exclusiveMinimum === true) m.exclusive_minimum = true
  if (s.uniqueItems === true) m.unique_items = true
  if (s.readOnly === true) m.read_only = true
  if (s.default !== undefined) m.default = any(s.default)
  if (s.example !== undefined) m.example = any(s.example)
  if (Array.isArray(s.enum)) m.enum = s.enum.map(any)
  if (Array.isArray(s.required)) m.required = s.required.map(String)
  if (s.type !== undefined) m.type = { value: Array.isArray(s.type) ? s.type.map(String) : [String(s.type)] }
  if (s.items !== undefined) m.items = { schema: (Array.isArray(s.items) ? s.items : [s.items]).map(schemaMessage) }
  if (Array.isArray(s.allOf)) m.all_of = s.allOf.map(schemaMessage)
  if (typeof s.additionalProperties === 'boolean') m.additional_properties = { boolean: s.additionalProperties }
  else if (s.additionalProperties && typeof s.additionalProperties === 'object') m.additional_properties = { schema: schemaMessage(s.additionalProperties) }
  if (s.properties && typeof s.properties === 'object') {
    m.properties = { additional_properties: Object.entries(s.properties as Schema).map(([name, v]) => ({ name, value: schemaMessage(v) })) }
  }
  const ext = extensions(s)
  if (ext.length) m.vendor_extension = ext
  return m
}

/** A Swagger 2.0 document (as {@link openApiV2Document} builds it) as gnostic protobuf bytes. */
export function encodeOpenApiV2(doc: Schema): Uint8Array {
  const t = documentType()
  const definitions = Object.entries((doc.definitions ?? {}) as Schema).map(([name, s]) => ({ name, value: schemaMessage(s) }))
  const message = {
    swagger: doc.swagger,
    info: { title: doc.info?.title ?? '', version: doc.info?.version ?? '' },
    paths: {},
    definitions: { additional_properties: definitions },
  }
  return t.encode(t.fromObject(message)).finish()
}

/** Decodes gnostic protobuf bytes (for tests): the Document message as a plain object. */
export function decodeOpenApiV2(bytes: Uint8Array): Schema {
  const t = documentType()
  return t.toObject(t.decode(bytes), { defaults: false, arrays: true }) as Schema
}

/**
 * The served v2 document, JSON text and protobuf, built once per set of served resources
 * (and CRD versions): kubectl fetches it on every command that validates or explains.
 */
export class OpenApiV2Cache {
  #key = ''
  #json = ''
  #pb: Uint8Array | undefined
  #doc: Schema | undefined

  #refresh(registry: ResourceRegistry, crdOf: (d: ResourceDef) => KubeObject | undefined): Schema {
    const h = createHash('sha256')
    for (const d of registry.all()) h.update(`${d.apiVersion}/${d.plural}/${d.kind}/${d.custom ? (crdOf(d)?.metadata.resourceVersion ?? '') : ''};`)
    const key = h.digest('hex')
    if (key !== this.#key || !this.#doc) {
      this.#key = key
      this.#doc = openApiV2Document(registry, crdOf)
      this.#json = ''
      this.#pb = undefined
    }
    return this.#doc
  }

  /** The document as JSON text. */
  json(registry: ResourceRegistry, crdOf: (d: ResourceDef) => KubeObject | undefined): string {
    const doc = this.#refresh(registry, crdOf)
    this.#json ||= JSON.stringify(doc)
    return this.#json
  }

  /** The document as gnostic protobuf. */
  protobuf(registry: ResourceRegistry, crdOf: (d: ResourceDef) => KubeObject | undefined): Uint8Array {
    const doc = this.#refresh(registry, crdOf)
    this.#pb ??= encodeOpenApiV2(doc)
    return this.#pb
  }
}
