/**
 * Protobuf bodies on both servers: the embedded API server and the real kube-apiserver
 * v1.34.4 (built by `npm run envtest:build`) get the same protobuf requests, and the
 * decoder of lib/testing/apiserver/protobuf.ts must read the real server's protobuf answers
 * as exactly the JSON that server answers for the same object (managedFields, defaults and
 * all), while the real server must accept what the encoder writes. Runs under
 * `npm run test:envtest`, not `npm test`.
 */
import assert from 'node:assert/strict'
import { request as httpRequest, type RequestOptions } from 'node:http'
import { request as httpsRequest } from 'node:https'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import type { KubeConfig } from '@kubernetes/client-node'
import { parse as parseYaml } from 'yaml'
import { createLogger } from '../../lib/log.ts'
import { decodeOpenApiV2 } from '../../lib/testing/apiserver/openapi-v2.ts'
import { decodeProtobuf, decodeWatchFrames, encodeProtobuf, PROTOBUF_WATCH_CONTENT_TYPE } from '../../lib/testing/apiserver/protobuf.ts'
import { type ApiServer, startApiServer } from '../../lib/testing/index.ts'
import { ENVTEST_KUBERNETES_VERSION, type KubeApiServer, startKubeApiServer } from '../../lib/testing/kube-apiserver.ts'
import { envtestSkipReason, inEnvtestTier } from './availability.ts'

const PB = 'application/vnd.kubernetes.protobuf'
const fixtures = join(import.meta.dirname, '..', 'testing', 'apiserver', 'fixtures', 'protobuf')

interface Reply {
  status: number
  type: string
  body: Buffer
}

async function send(kc: KubeConfig, method: string, path: string, body?: Buffer | string, headers: Record<string, string> = {}): Promise<Reply> {
  const url = new URL(kc.getCurrentCluster()!.server)
  const opts: RequestOptions = { method, headers: { ...headers } }
  try {
    await kc.applyToHTTPSOptions(opts)
  } catch (err) {
    if (!(url.protocol === 'http:' && err instanceof Error && /HTTP protocol is not allowed/.test(err.message))) throw err
  }
  delete (opts as { agent?: unknown }).agent
  const target = new URL(path, url)
  if (body !== undefined) (opts.headers as Record<string, string | number>)['content-length'] = Buffer.byteLength(body)
  return new Promise((resolve, reject) => {
    const req = (target.protocol === 'https:' ? httpsRequest : httpRequest)(target, opts, async (res) => {
      const chunks: Buffer[] = []
      for await (const c of res) chunks.push(c as Buffer)
      resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type'] ?? ''), body: Buffer.concat(chunks) })
    })
    req.on('error', reject)
    req.end(body)
  })
}

const skip = inEnvtestTier() ? envtestSkipReason() : undefined

if (inEnvtestTier()) {
  describe(`/openapi/v2: embedded vs kube-apiserver ${ENVTEST_KUBERNETES_VERSION}`, { skip }, () => {
    let real: KubeApiServer | undefined
    let embedded: ApiServer | undefined
    before(async () => {
      ;[real, embedded] = await Promise.all([startKubeApiServer({ logger: createLogger({ level: 'silent' }) }), startApiServer()])
    })
    after(async () => {
      await Promise.allSettled([real?.stop(), embedded?.close()])
    })

    test("the served kinds' v2 definitions and an established CRD's are kube-apiserver's", async () => {
      const schema = {
        type: 'object',
        properties: {
          spec: {
            type: 'object',
            description: 'The spec.',
            required: ['size'],
            properties: {
              size: { type: 'integer', format: 'int32', description: 'How big.', minimum: 1, default: 2 },
              tags: { type: 'array', items: { type: 'string' } },
              labels: { type: 'object', additionalProperties: { type: 'string' } },
              mode: { type: 'string', enum: ['a', 'b'] },
              note: { type: 'string', nullable: true },
              port: { 'x-kubernetes-int-or-string': true, anyOf: [{ type: 'integer' }, { type: 'string' }] },
              free: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true },
            },
          },
        },
      }
      const crd = {
        apiVersion: 'apiextensions.k8s.io/v1',
        kind: 'CustomResourceDefinition',
        metadata: { name: 'gizmos.example.com' },
        spec: {
          group: 'example.com',
          scope: 'Namespaced',
          names: { plural: 'gizmos', singular: 'gizmo', kind: 'Gizmo', listKind: 'GizmoList' },
          versions: [{ name: 'v1', served: true, storage: true, schema: { openAPIV3Schema: schema } }],
        },
      }
      // A CRD whose root keeps unknown fields (anything goes): published without properties.
      const open = structuredClone(crd) as any
      open.metadata.name = 'gadgets.example.com'
      open.spec.names = { plural: 'gadgets', singular: 'gadget', kind: 'Gadget', listKind: 'GadgetList' }
      open.spec.versions[0].schema.openAPIV3Schema = { type: 'object', 'x-kubernetes-preserve-unknown-fields': true }
      const docs: any[] = []
      for (const kc of [real!.kubeConfig, embedded!.kubeConfig]) {
        for (const c of [crd, open]) {
          const made = await send(kc, 'POST', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions', JSON.stringify(c), { 'content-type': 'application/json' })
          assert.equal(made.status, 201, made.body.toString())
        }
        let doc: any
        for (let i = 0; i < 60; i++) {
          doc = JSON.parse((await send(kc, 'GET', '/openapi/v2', undefined, { accept: 'application/json' })).body.toString())
          if (doc.definitions?.['com.example.v1.Gizmo'] && doc.definitions?.['com.example.v1.Gadget']) break
          await new Promise((r) => setTimeout(r, 500))
        }
        docs.push(doc)
      }
      const [want, got] = docs
      const names = Object.keys(got.definitions)
      assert.ok(names.length > 150)
      assert.deepEqual(got.definitions['com.example.v1.Gadget'], {
        type: 'object',
        'x-kubernetes-group-version-kind': [{ group: 'example.com', kind: 'Gadget', version: 'v1' }],
      })
      // The protobuf form kubectl < 1.27 reads: the same messages, data values (Any.yaml) read as YAML.
      const A = 'application/com.github.proto-openapi.spec.v2@v1.0+protobuf'
      const yamlRead = (v: unknown): unknown =>
        Array.isArray(v)
          ? v.map(yamlRead)
          : v && typeof v === 'object'
            ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k, k === 'yaml' ? parseYaml(String(x)) : yamlRead(x)]))
            : v
      const [wantPb, gotPb] = await Promise.all(
        [real!.kubeConfig, embedded!.kubeConfig].map(async (kc) => {
          const r = await send(kc, 'GET', '/openapi/v2', undefined, { accept: A })
          assert.equal(r.status, 200)
          const doc = decodeOpenApiV2(r.body)
          return new Map<string, unknown>(doc.definitions.additional_properties.map((d: any) => [d.name, yamlRead(d.value)]))
        }),
      )
      assert.deepEqual([...gotPb!.keys()].sort(), names.slice().sort())
      for (const [n, v] of gotPb!) assert.deepEqual(v, wantPb!.get(n), n)

      // Built-in definitions are the same text (key order included); the CRD's the same value.
      for (const n of names) {
        if (n.startsWith('com.example.')) assert.deepEqual(got.definitions[n], want.definitions[n], n)
        else assert.equal(JSON.stringify(got.definitions[n]), JSON.stringify(want.definitions[n]), n)
      }
    })
  })

  describe(`protobuf bodies: embedded vs kube-apiserver ${ENVTEST_KUBERNETES_VERSION}`, { skip }, () => {
    let real: KubeApiServer | undefined
    let embedded: ApiServer | undefined
    const targets: [string, () => KubeConfig][] = [
      ['embedded', () => embedded!.kubeConfig],
      ['real', () => real!.kubeConfig],
    ]
    before(async () => {
      ;[real, embedded] = await Promise.all([startKubeApiServer({ logger: createLogger({ level: 'silent' }) }), startApiServer()])
    })
    after(async () => {
      await Promise.allSettled([real?.stop(), embedded?.close()])
    })

    for (const [name, kc] of targets) {
      test(`${name}: accepts the encoder's ConfigMap and Go's Deployment; protobuf answers decode to the server's own JSON`, async () => {
        const ns = `pb-${name}`
        assert.equal((await send(kc(), 'POST', '/api/v1/namespaces', JSON.stringify({ metadata: { name: ns } }), { 'content-type': 'application/json' })).status, 201)
        const cm = {
          apiVersion: 'v1',
          kind: 'ConfigMap',
          metadata: { name: 'enc', namespace: ns, labels: { a: 'b' } },
          data: { k: 'v', empty: '' },
          binaryData: { bin: Buffer.from([0, 1, 255]).toString('base64') },
        }
        const created = await send(kc(), 'POST', `/api/v1/namespaces/${ns}/configmaps`, encodeProtobuf(cm), { 'content-type': PB, accept: `${PB}, application/json` })
        assert.equal(created.status, 201, created.body.toString())
        assert.equal(created.type, PB)
        const c = decodeProtobuf(created.body)
        assert.deepEqual([c.data, c.binaryData, c.metadata.labels], [cm.data, cm.binaryData, cm.metadata.labels])

        const goDeployment = Buffer.from(readFileSync(join(fixtures, 'deployment.pb')))
        const path = `/apis/apps/v1/namespaces/default/deployments`
        const dep = await send(kc(), 'POST', path, goDeployment, { 'content-type': PB, accept: `${PB}, application/json` })
        assert.equal(dep.status, 201, dep.body.toString())
        const d = decodeProtobuf(dep.body)
        assert.equal(d.spec.replicas, 3)
        assert.deepEqual(d.spec.strategy.rollingUpdate, { maxUnavailable: '25%', maxSurge: 1 })
        assert.deepEqual(d.spec.template.spec.containers[0].resources, { limits: { cpu: '500m', memory: '128Mi' } })

        // The same objects read as protobuf and as JSON: identical after decoding.
        for (const p of [`/api/v1/namespaces/${ns}/configmaps/enc`, `${path}/web`, `/api/v1/namespaces/${ns}/configmaps`, '/api/v1/namespaces']) {
          const asPb = await send(kc(), 'GET', p, undefined, { accept: `${PB}, application/json` })
          const asJson = await send(kc(), 'GET', p, undefined, { accept: 'application/json' })
          assert.equal(asPb.type, PB, p)
          const fromPb = decodeProtobuf(asPb.body)
          const fromJson = JSON.parse(asJson.body.toString())
          // A list's resourceVersion may move between the two reads on the real server.
          if (fromJson.metadata?.resourceVersion && fromJson.items) fromPb.metadata.resourceVersion = fromJson.metadata.resourceVersion
          assert.deepEqual(fromPb, fromJson, p)
        }

        // DeleteOptions in protobuf, with a failing then a matching uid precondition.
        const wrong = encodeProtobuf({ apiVersion: 'v1', kind: 'DeleteOptions', preconditions: { uid: '00000000-0000-0000-0000-000000000000' } })
        const conflict = await send(kc(), 'DELETE', `/api/v1/namespaces/${ns}/configmaps/enc`, wrong, { 'content-type': PB })
        assert.equal(conflict.status, 409)
        const right = encodeProtobuf({ apiVersion: 'v1', kind: 'DeleteOptions', preconditions: { uid: c.metadata.uid } })
        assert.equal((await send(kc(), 'DELETE', `/api/v1/namespaces/${ns}/configmaps/enc`, right, { 'content-type': PB })).status, 200)

        // A body that is not a protobuf object: 400 on both.
        const bad = await send(kc(), 'POST', `/api/v1/namespaces/${ns}/configmaps`, Buffer.from('k8s\0\xff\xff', 'latin1'), { 'content-type': PB })
        assert.equal(bad.status, 400, bad.body.toString())
      })

      test(`${name}: a protobuf-first watch is length-prefixed bare WatchEvent frames around enveloped objects; custom resources stay JSON`, async () => {
        const ns = `pbw-${name}`
        assert.equal((await send(kc(), 'POST', '/api/v1/namespaces', JSON.stringify({ metadata: { name: ns } }), { 'content-type': 'application/json' })).status, 201)
        const cm = JSON.stringify({ metadata: { name: 'w' }, data: { k: 'v' }, binaryData: { b: 'AP8=' } })
        assert.equal((await send(kc(), 'POST', `/api/v1/namespaces/${ns}/configmaps`, cm, { 'content-type': 'application/json' })).status, 201)
        const asJson = JSON.parse((await send(kc(), 'GET', `/api/v1/namespaces/${ns}/configmaps/w`)).body.toString())
        const q = 'watch=true&allowWatchBookmarks=true&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&timeoutSeconds=1'
        for (const accept of [`${PB}, application/json`, `${PB};stream=watch`]) {
          const w = await send(kc(), 'GET', `/api/v1/namespaces/${ns}/configmaps?${q}`, undefined, { accept })
          assert.equal(w.status, 200, w.body.toString())
          assert.equal(w.type, PROTOBUF_WATCH_CONTENT_TYPE)
          // Frame = 4-byte big-endian length + WatchEvent (field 1, the type: 0x0a), no k8s magic.
          assert.equal(w.body[4], 0x0a)
          assert.equal(w.body.subarray(6, 11).toString(), 'ADDED')
          const { events, rest } = decodeWatchFrames(w.body)
          assert.equal(rest.length, 0)
          assert.deepEqual(
            events.slice(0, 2).map((e) => e.type),
            ['ADDED', 'BOOKMARK'],
          )
          assert.deepEqual(events[0]!.object, asJson)
          assert.deepEqual(events[1]!.object.metadata.annotations, { 'k8s.io/initial-events-end': 'true' })
          assert.deepEqual(Object.keys(events[1]!.object), ['kind', 'apiVersion', 'metadata'])
        }
        // A custom resource: JSON to a client that also accepts JSON (the real server may
        // answer 429 while the new CRD's storage initializes).
        const crdName = `pbws${name}.example.com`
        const crd = {
          apiVersion: 'apiextensions.k8s.io/v1',
          kind: 'CustomResourceDefinition',
          metadata: { name: crdName },
          spec: {
            group: 'example.com',
            scope: 'Namespaced',
            names: { plural: `pbws${name}`, singular: `pbw${name}`, kind: `Pbw${name}`, listKind: `Pbw${name}List` },
            versions: [{ name: 'v1', served: true, storage: true, schema: { openAPIV3Schema: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } } }],
          },
        }
        assert.equal((await send(kc(), 'POST', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions', JSON.stringify(crd), { 'content-type': 'application/json' })).status, 201)
        let cr: Reply | undefined
        for (let i = 0; i < 60; i++) {
          cr = await send(kc(), 'GET', `/apis/example.com/v1/namespaces/${ns}/pbws${name}?watch=true&timeoutSeconds=1`, undefined, { accept: `${PB}, application/json` })
          if (cr.status !== 429 && cr.status !== 404) break
          await new Promise((r) => setTimeout(r, 500))
        }
        assert.equal(cr!.status, 200, cr!.body.toString())
        assert.equal(cr!.type, 'application/json')
      })
    }
  })
}
