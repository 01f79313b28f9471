/**
 * A minimal OpenAPI v3 discovery (`/openapi/v3` and `/openapi/v3/{api/v1|apis/g/v}`):
 * one PATCH operation per resource carrying `x-kubernetes-group-version-kind` and the
 * `fieldValidation` query parameter. That is what kubectl looks for to leave validation
 * to the server (`--validate=strict`, its default). `components.schemas` carries the real
 * schemas of the built-in kinds (v1.34.4) and of established CRDs (openapi-schemas.ts),
 * which `kubectl explain` reads.
 */
import { createHash } from 'node:crypto'
import { schemasFor } from './openapi-schemas.ts'
import type { ResourceDef, ResourceRegistry } from './resources.ts'
import type { KubeObject } from './types.ts'

function gvPath(group: string, version: string): string {
  return group ? `apis/${group}/${version}` : `api/${version}`
}

function hashOf(defs: ResourceDef[], crdOf: (d: ResourceDef) => KubeObject | undefined): string {
  const h = createHash('sha256')
  // A CRD's resourceVersion: a changed schema is a new document (kubectl caches by hash).
  for (const d of defs) h.update(`${d.apiVersion}/${d.plural}/${d.kind}/${d.namespaced}/${d.custom ? (crdOf(d)?.metadata.resourceVersion ?? '') : ''};`)
  return h.digest('hex').slice(0, 32).toUpperCase()
}

/** `/openapi/v3`: the list of group-versions with their document URLs. */
export function openApiIndex(registry: ResourceRegistry, crdOf: (d: ResourceDef) => KubeObject | undefined = () => undefined): unknown {
  const byGv = new Map<string, ResourceDef[]>()
  for (const d of registry.all()) {
    const k = gvPath(d.group, d.version)
    byGv.set(k, [...(byGv.get(k) ?? []), d])
  }
  const paths: Record<string, unknown> = {}
  for (const [k, defs] of byGv) paths[k] = { serverRelativeURL: `/openapi/v3/${k}?hash=${hashOf(defs, crdOf)}` }
  return { paths }
}

/**
 * `/openapi/v3/{gv}`: the document for one group-version, or undefined. Its
 * `components.schemas` carry the real schemas (openapi-schemas.ts); `crdOf` finds the CRD
 * of a custom resource.
 */
export function openApiDocument(
  registry: ResourceRegistry,
  gv: string,
  crdOf: (d: ResourceDef) => KubeObject | undefined = () => undefined,
): unknown {
  const defs = registry.all().filter((d) => gvPath(d.group, d.version) === gv)
  if (defs.length === 0) return undefined
  const paths: Record<string, unknown> = {}
  for (const d of defs) {
    const base = d.group ? `/apis/${d.group}/${d.version}` : `/api/${d.version}`
    const path = d.namespaced ? `${base}/namespaces/{namespace}/${d.plural}/{name}` : `${base}/${d.plural}/{name}`
    const content: Record<string, unknown> = {
      'application/json-patch+json': { schema: { type: 'object' } },
      'application/merge-patch+json': { schema: { type: 'object' } },
      'application/apply-patch+yaml': { schema: { type: 'object' } },
    }
    paths[path] = {
      patch: {
        operationId: `patch${d.kind}`,
        'x-kubernetes-action': 'patch',
        'x-kubernetes-group-version-kind': { group: d.group, version: d.version, kind: d.kind },
        parameters: [
          { name: 'dryRun', in: 'query', schema: { type: 'string', uniqueItems: true } },
          { name: 'fieldManager', in: 'query', schema: { type: 'string', uniqueItems: true } },
          { name: 'fieldValidation', in: 'query', schema: { type: 'string', uniqueItems: true } },
          { name: 'force', in: 'query', schema: { type: 'boolean', uniqueItems: true } },
        ],
        requestBody: { content, required: true },
        responses: { '200': { description: 'OK' }, '201': { description: 'Created' } },
      },
    }
  }
  return {
    openapi: '3.0.0',
    info: { title: 'Kubernetes', version: 'v1.34.0' },
    paths,
    components: { schemas: schemasFor(defs, crdOf) },
  }
}

/** `/openapi/v2` as JSON: a valid Swagger 2.0 document without schemas. */
export function openApiV2(): unknown {
  return { swagger: '2.0', info: { title: 'Kubernetes', version: 'v1.34.0' }, paths: {}, definitions: {} }
}
