// The embedded API server's protobuf codec (lib/testing/apiserver/protobuf.ts), checked
// against objects encoded by the real Go types (fixtures written by testing/protogen from
// k8s.io/api v0.34.4: `<name>.pb` is the protobuf envelope, `<name>.json` encoding/json's
// output of the same object), and over HTTP as a typed client-go client speaks it
// (k8s.io/apimachinery/pkg/runtime/serializer/protobuf).
import assert from 'node:assert/strict'
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { decodeProtobuf, encodeProtobuf, formatDuration, parseDuration, prefersProtobuf } from '../../../lib/testing/apiserver/protobuf.ts'
import { ApiServerStatusError } from '../../../lib/testing/apiserver/status.ts'
import { type ApiServer, startApiServer } from '../../../lib/testing/index.ts'
import { crd } from './helpers.ts'

const fixtures = join(import.meta.dirname, 'fixtures', 'protobuf')
const names = readdirSync(fixtures)
  .filter((f) => f.endsWith('.pb'))
  .map((f) => f.slice(0, -3))

const PB = 'application/vnd.kubernetes.protobuf'

describe('protobuf codec against Go-encoded golden objects', () => {
  test('fixtures exist (namespace, configmap, secret, deployment, lease)', () => {
    assert.deepEqual(names.sort(), ['configmap', 'deployment', 'lease', 'namespace', 'secret'])
  })
  for (const name of names) {
    test(`${name}: decoding Go's protobuf gives Go's JSON, key order included`, () => {
      const got = decodeProtobuf(readFileSync(join(fixtures, `${name}.pb`)))
      const want = JSON.parse(readFileSync(join(fixtures, `${name}.json`), 'utf8'))
      assert.deepEqual(got, want)
      assert.equal(JSON.stringify(got), JSON.stringify(want))
    })
    test(`${name}: JSON -> protobuf -> JSON is the identity`, () => {
      const want = JSON.parse(readFileSync(join(fixtures, `${name}.json`), 'utf8'))
      const bytes = encodeProtobuf(want)!
      assert.deepEqual([...bytes.subarray(0, 4)], [0x6b, 0x38, 0x73, 0x00])
      assert.equal(JSON.stringify(decodeProtobuf(bytes)), JSON.stringify(want))
    })
  }

  test('special types: Time, MicroTime, Quantity, IntOrString, bytes, RawExtension survive a round trip', () => {
    const d = JSON.parse(readFileSync(join(fixtures, 'deployment.json'), 'utf8'))
    assert.equal(d.spec.strategy.rollingUpdate.maxUnavailable, '25%')
    assert.equal(d.spec.strategy.rollingUpdate.maxSurge, 1)
    assert.equal(d.spec.template.spec.containers[0].resources.limits.memory, '128Mi')
    const l = decodeProtobuf(readFileSync(join(fixtures, 'lease.pb')))
    assert.equal(l.spec.renewTime, '2026-01-02T03:04:05.123456Z')
    const status = {
      kind: 'Status',
      apiVersion: 'meta.k8s.io/v1',
      metadata: {},
      status: 'Failure',
      message: 'x',
      reason: 'NotFound',
      details: { name: 'a', kind: 'pods', causes: [{ reason: 'FieldValueInvalid', message: 'm', field: 'f' }] },
      code: 404,
    }
    assert.deepEqual(decodeProtobuf(encodeProtobuf(status)!), status)
    const ev = { kind: 'WatchEvent', apiVersion: 'meta.k8s.io/v1', type: 'ADDED', object: { kind: 'ConfigMap', apiVersion: 'v1', data: { a: 'b' } } }
    assert.deepEqual(decodeProtobuf(encodeProtobuf(ev)!), ev)
  })

  test('managedFields keep their FieldsV1 JSON (metav1.FieldsV1 is raw JSON on both wires)', () => {
    const cm = {
      kind: 'ConfigMap',
      apiVersion: 'v1',
      metadata: {
        name: 'm',
        managedFields: [
          {
            manager: 'kubectl',
            operation: 'Apply',
            apiVersion: 'v1',
            time: '2026-01-02T03:04:05Z',
            fieldsType: 'FieldsV1',
            fieldsV1: { 'f:data': { 'f:a': {} } },
          },
        ],
      },
      data: { a: 'b' },
    }
    assert.deepEqual(decodeProtobuf(encodeProtobuf(cm)!).metadata.managedFields, cm.metadata.managedFields)
  })

  test('a CRD with an OpenAPI schema (JSONSchemaProps unions) survives a round trip', () => {
    const c = crd('Namespaced') as any
    const obj = { ...c, metadata: { name: c.metadata.name } }
    const schema = obj.spec.versions[0].schema.openAPIV3Schema
    schema.additionalProperties = false
    schema.properties = { list: { type: 'array', items: { type: 'string' } }, spec: { type: 'object', required: ['size'] } }
    const back = decodeProtobuf(encodeProtobuf(JSON.parse(JSON.stringify(obj)))!)
    const s = back.spec.versions[0].schema.openAPIV3Schema
    assert.equal(s.additionalProperties, false)
    assert.deepEqual(s.properties.list, { type: 'array', items: { type: 'string' } })
    assert.deepEqual(s.properties.spec, { type: 'object', required: ['size'] })
    assert.equal(s['x-kubernetes-preserve-unknown-fields'], true)
    assert.equal(back.spec.names.kind, c.spec.names.kind)
  })

  test('bad bodies are 400 BadRequest with a reason', () => {
    assert.throws(
      () => decodeProtobuf(Buffer.from('{"kind":"ConfigMap"}')),
      (e: unknown) => e instanceof ApiServerStatusError && e.status.code === 400 && /magic prefix/.test(e.status.message),
    )
    const widget = encodeProtobuf({ kind: 'ConfigMap', apiVersion: 'v1' })!
    // Rewrite the kind inside the envelope: a kind without a protobuf encoding here.
    const other = Buffer.from(widget.toString('latin1').replace('ConfigMap', 'WidgetMap'), 'latin1')
    assert.throws(() => decodeProtobuf(other), (e: unknown) => e instanceof ApiServerStatusError && e.status.code === 400)
    assert.throws(() => decodeProtobuf(Buffer.from([0x6b, 0x38, 0x73, 0x00, 0xff, 0xff])), ApiServerStatusError)
  })

  test('custom resources have no protobuf encoding (the server answers JSON)', () => {
    assert.equal(encodeProtobuf({ kind: 'Widget', apiVersion: 'example.com/v1' }), undefined)
  })

  test('Duration: Go time.Duration String and ParseDuration', () => {
    assert.equal(formatDuration(0), '0s')
    assert.equal(formatDuration(3_600_000_000_000 + 90_000_000_000), '1h1m30s')
    assert.equal(formatDuration(1_500_000), '1.5ms')
    assert.equal(parseDuration('1h1m30s'), 3_690_000_000_000)
    assert.equal(parseDuration('-1.5s'), -1_500_000_000)
    assert.throws(() => parseDuration('soon'), ApiServerStatusError)
  })

  test('Accept negotiation: protobuf only when listed first', () => {
    assert.equal(prefersProtobuf('application/vnd.kubernetes.protobuf, application/json'), true)
    assert.equal(prefersProtobuf('application/json, application/vnd.kubernetes.protobuf'), false)
    assert.equal(prefersProtobuf(undefined), false)
  })
})

describe('embedded API server: protobuf bodies over HTTP', () => {
  let server: ApiServer
  before(async () => {
    server = await startApiServer()
  })
  after(() => server.close())

  const send = async (method: string, path: string, body: Buffer | string | undefined, headers: Record<string, string>) => {
    const res = await fetch(server.url + path, { method, headers, ...(body !== undefined ? { body } : {}) })
    return { status: res.status, type: res.headers.get('content-type'), body: Buffer.from(await res.arrayBuffer()) }
  }

  test('POST with a Go-encoded ConfigMap creates it; the answer is protobuf when asked first', async () => {
    const body = readFileSync(join(fixtures, 'configmap.pb'))
    const r = await send('POST', '/api/v1/namespaces/default/configmaps', body, { 'content-type': PB, accept: `${PB}, application/json` })
    assert.equal(r.status, 201)
    assert.equal(r.type, PB)
    const created = decodeProtobuf(r.body)
    assert.equal(created.metadata.name, 'x')
    assert.match(created.metadata.creationTimestamp, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/)
    assert.deepEqual(created.binaryData, { bin: 'AAEC/w==' })
    const stored = server.get({ apiVersion: 'v1', kind: 'ConfigMap', name: 'x' }) as any
    assert.deepEqual(stored.data, { a: 'b', c: '' })
    assert.equal(stored.metadata.resourceVersion, created.metadata.resourceVersion)
  })

  test('GET one and list answer protobuf to a protobuf-first Accept, JSON otherwise', async () => {
    for (const n of ['y', 'z']) server.create({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: n, namespace: 'default' }, data: { n } })
    const one = await send('GET', '/api/v1/namespaces/default/configmaps/x', undefined, { accept: `${PB}, application/json` })
    assert.equal(one.type, PB)
    assert.equal(decodeProtobuf(one.body).data.a, 'b')
    const list = await send('GET', '/api/v1/namespaces/default/configmaps', undefined, { accept: `${PB}, application/json` })
    const l = decodeProtobuf(list.body)
    assert.equal(l.kind, 'ConfigMapList')
    assert.ok(l.items.some((i: any) => i.metadata.name === 'x'))
    // The same list as JSON, item for item (items carry no kind/apiVersion in either).
    const jsonList = await send('GET', '/api/v1/namespaces/default/configmaps', undefined, { accept: 'application/json' })
    const jl = JSON.parse(jsonList.body.toString())
    assert.equal(l.items.length, 3)
    assert.equal(l.items.length, jl.items.length)
    assert.deepEqual(l.items, jl.items)
    assert.deepEqual(l.metadata, jl.metadata)
    const json = await send('GET', '/api/v1/namespaces/default/configmaps/x', undefined, { accept: 'application/json' })
    assert.equal(json.type, 'application/json')
  })

  test('PUT with protobuf updates; DELETE with protobuf DeleteOptions honours preconditions', async () => {
    const cur = server.get({ apiVersion: 'v1', kind: 'ConfigMap', name: 'x' }) as any
    const next = encodeProtobuf({ ...cur, kind: 'ConfigMap', apiVersion: 'v1', data: { a: 'changed' } })!
    const put = await send('PUT', '/api/v1/namespaces/default/configmaps/x', next, { 'content-type': PB, accept: 'application/json' })
    assert.equal(put.status, 200, put.body.toString())
    assert.equal(JSON.parse(put.body.toString()).data.a, 'changed')
    const wrong = encodeProtobuf({ kind: 'DeleteOptions', apiVersion: 'meta.k8s.io/v1', preconditions: { uid: 'not-it' } })!
    const conflict = await send('DELETE', '/api/v1/namespaces/default/configmaps/x', wrong, { 'content-type': PB })
    assert.equal(conflict.status, 409)
    const right = encodeProtobuf({ kind: 'DeleteOptions', apiVersion: 'meta.k8s.io/v1', preconditions: { uid: cur.metadata.uid } })!
    const del = await send('DELETE', '/api/v1/namespaces/default/configmaps/x', right, { 'content-type': PB })
    assert.equal(del.status, 200)
    assert.equal(server.get({ apiVersion: 'v1', kind: 'ConfigMap', name: 'x' }), undefined)
  })

  test('a custom resource asked for protobuf-first is answered in JSON, as kube-apiserver does', async () => {
    server.create(crd('Namespaced'))
    server.create({ apiVersion: 'example.com/v1', kind: 'Widget', metadata: { name: 'w', namespace: 'default' }, spec: { size: 1 } })
    const r = await send('GET', '/apis/example.com/v1/namespaces/default/widgets/w', undefined, { accept: `${PB}, application/json` })
    assert.equal(r.status, 200)
    assert.equal(r.type, 'application/json')
  })

  test('a garbage protobuf body is a 400 Status, not a crash', async () => {
    const r = await send('POST', '/api/v1/namespaces/default/configmaps', Buffer.from('nope'), { 'content-type': PB })
    assert.equal(r.status, 400)
    assert.equal(JSON.parse(r.body.toString()).reason, 'BadRequest')
  })
})
