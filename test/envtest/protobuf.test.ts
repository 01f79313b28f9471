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
import { createLogger } from '../../lib/log.ts'
import { decodeProtobuf, encodeProtobuf } from '../../lib/testing/apiserver/protobuf.ts'
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
    }
  })
}
