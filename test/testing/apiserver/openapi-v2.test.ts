// `/openapi/v2` of the embedded API server (lib/testing/apiserver/openapi-v2.ts): the real
// v1.34.4 definitions of the served kinds in their v2 form (kube-openapi's v2 builder:
// `x-kubernetes-v2-schema` replaces a definition, references point at #/definitions/), an
// established CRD's schema made v2-compatible (apiextensions-apiserver ToStructuralOpenAPIV2),
// as JSON and as gnostic's protobuf Document, which kubectl < 1.27 asks for. The envtest
// tier compares the definitions with kube-apiserver's (test/envtest/protobuf.test.ts).
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { decodeOpenApiV2, OPENAPI_V2_PROTOBUF_CONTENT_TYPE } from '../../../lib/testing/apiserver/openapi-v2.ts'
import { type ApiServer, startApiServer } from '../../../lib/testing/index.ts'
import { crd } from './helpers.ts'

const PB_ACCEPT = 'application/com.github.proto-openapi.spec.v2@v1.0+protobuf'

function refs(v: unknown, out: string[] = []): string[] {
  if (Array.isArray(v)) for (const x of v) refs(x, out)
  else if (v && typeof v === 'object') {
    for (const [k, x] of Object.entries(v)) {
      if (k === '$ref' && typeof x === 'string') out.push(x)
      else refs(x, out)
    }
  }
  return out
}

describe('embedded API server: /openapi/v2', () => {
  let server: ApiServer
  before(async () => {
    server = await startApiServer()
  })
  after(() => server.close())

  const v2 = async () => {
    const r = await fetch(`${server.url}/openapi/v2`, { headers: { accept: 'application/json' } })
    assert.equal(r.status, 200)
    return (await r.json()) as any
  }

  test('JSON: the served kinds with their group-version-kind, every reference resolved inside the document', async () => {
    const doc = await v2()
    assert.equal(doc.swagger, '2.0')
    const defs = doc.definitions
    for (const name of ['io.k8s.api.core.v1.ConfigMap', 'io.k8s.api.core.v1.ConfigMapList', 'io.k8s.api.apps.v1.Deployment', 'io.k8s.api.core.v1.Pod']) {
      assert.ok(defs[name], name)
    }
    assert.deepEqual(defs['io.k8s.api.apps.v1.Deployment']['x-kubernetes-group-version-kind'], [{ group: 'apps', kind: 'Deployment', version: 'v1' }])
    const all = refs(defs)
    assert.ok(all.length > 100)
    for (const r of all) {
      assert.match(r, /^#\/definitions\//)
      assert.ok(defs[r.slice('#/definitions/'.length)], `${r} is defined`)
    }
    // A property named `default` is a schema, its reference rewritten too (JSONSchemaProps).
    const props = defs['io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.JSONSchemaProps'].properties
    assert.equal(props.default.$ref, '#/definitions/io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.JSON')
    // v2 forms of the types with a v3-only schema (IntOrString, Quantity): no oneOf.
    assert.deepEqual(
      [defs['io.k8s.apimachinery.pkg.util.intstr.IntOrString'].type, defs['io.k8s.apimachinery.pkg.util.intstr.IntOrString'].format],
      ['string', 'int-or-string'],
    )
    assert.equal(defs['io.k8s.apimachinery.pkg.api.resource.Quantity'].type, 'string')
    assert.equal(defs['io.k8s.apimachinery.pkg.util.intstr.IntOrString'].oneOf, undefined)
    assert.equal(defs['io.k8s.apimachinery.pkg.api.resource.Quantity'].oneOf, undefined)
    assert.equal(JSON.stringify(defs).includes('x-kubernetes-v2-schema'), false)
    // A $ref keeps its description beside it (v2 has no allOf wrapping).
    assert.equal(defs['io.k8s.api.core.v1.ConfigMap'].properties.metadata.$ref, '#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta')
    assert.match(defs['io.k8s.api.core.v1.ConfigMap'].properties.metadata.description, /Standard object's metadata/)
  })

  test("an established CRD's schema appears, made v2-compatible; a changed schema is a new document", async () => {
    const c = crd('Namespaced') as any
    c.spec.versions[0].schema.openAPIV3Schema = {
      type: 'object',
      properties: {
        spec: {
          type: 'object',
          description: 'The widget spec.',
          properties: {
            size: { type: 'integer', description: 'How big.', minimum: 1 },
            note: { type: 'string', nullable: true },
            port: { 'x-kubernetes-int-or-string': true, anyOf: [{ type: 'integer' }, { type: 'string' }] },
            free: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true, properties: { a: { type: 'string' } } },
          },
        },
      },
    }
    server.create(c)
    const w = (await v2()).definitions['com.example.v1.Widget']
    assert.ok(w, 'com.example.v1.Widget is defined')
    assert.deepEqual(w['x-kubernetes-group-version-kind'], [{ group: 'example.com', kind: 'Widget', version: 'v1' }])
    assert.equal(w.properties.metadata.$ref, '#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta')
    assert.deepEqual(Object.keys(w.properties), ['apiVersion', 'kind', 'metadata', 'spec'])
    const spec = w.properties.spec
    assert.deepEqual(spec.properties.size, { type: 'integer', description: 'How big.', minimum: 1 })
    assert.deepEqual(spec.properties.note, {})
    assert.deepEqual(spec.properties.port, { 'x-kubernetes-int-or-string': true })
    assert.deepEqual(spec.properties.free, { 'x-kubernetes-preserve-unknown-fields': true })

    const cur = server.get({ apiVersion: 'apiextensions.k8s.io/v1', kind: 'CustomResourceDefinition', name: c.metadata.name }) as any
    cur.spec.versions[0].schema.openAPIV3Schema.properties.spec.description = 'Changed.'
    server.update(cur)
    assert.equal((await v2()).definitions['com.example.v1.Widget'].properties.spec.description, 'Changed.')
  })

  test('protobuf: the gnostic Document kubectl < 1.27 reads, with the same definitions', async () => {
    const r = await fetch(`${server.url}/openapi/v2`, { headers: { accept: PB_ACCEPT } })
    assert.equal(r.status, 200)
    assert.equal(r.headers.get('content-type'), OPENAPI_V2_PROTOBUF_CONTENT_TYPE)
    const doc = decodeOpenApiV2(Buffer.from(await r.arrayBuffer()))
    assert.equal(doc.swagger, '2.0')
    const json = await v2()
    const named = new Map<string, any>(doc.definitions.additional_properties.map((d: any) => [d.name, d.value]))
    assert.deepEqual([...named.keys()].sort(), Object.keys(json.definitions).sort())
    const dep = named.get('io.k8s.api.apps.v1.Deployment')
    assert.deepEqual(dep.type.value, ['object'])
    const gvk = dep.vendor_extension.find((e: any) => e.name === 'x-kubernetes-group-version-kind')
    assert.equal(gvk.value.yaml, '- group: apps\n  kind: Deployment\n  version: v1\n') // as Go's yaml.v3 writes it
    const spec = dep.properties.additional_properties.find((p: any) => p.name === 'spec').value
    assert.equal(spec._ref, '#/definitions/io.k8s.api.apps.v1.DeploymentSpec')
    const cm = named.get('io.k8s.api.core.v1.ConfigMap')
    const data = cm.properties.additional_properties.find((p: any) => p.name === 'data').value
    assert.deepEqual(data.additional_properties.schema.type.value, ['string'])
    const widget = named.get('com.example.v1.Widget')
    const size = widget.properties.additional_properties
      .find((p: any) => p.name === 'spec')
      .value.properties.additional_properties.find((p: any) => p.name === 'size').value
    assert.equal(size.minimum, 1)
    assert.equal(size.description, 'How big.')
  })
})
