// HTTPS with a generated CA and bearer-token authentication: client-node trusts the CA
// from the returned kubeConfig; a missing or wrong token is 401 Unauthorized with the
// authentication filter's Status (apiserver pkg/endpoints/handlers/responsewriters).
import assert from 'node:assert/strict'
import { X509Certificate } from 'node:crypto'
import { request as httpsRequest } from 'node:https'
import { after, before, describe, test } from 'node:test'
import { ApiException, CoreV1Api, KubeConfig } from '@kubernetes/client-node'
import { type ApiServer, startApiServer } from '../../../lib/testing/index.ts'
import { derUnsignedInteger, generateTls } from '../../../lib/testing/apiserver/tls.ts'

function get(server: ApiServer, path: string, headers: Record<string, string> = {}): Promise<{ status: number; body: any }> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(server.url + path, { ca: server.caCert, headers }, (res) => {
      let text = ''
      res.on('data', (d) => {
        text += d
      })
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text ? JSON.parse(text) : undefined }))
    })
    req.on('error', reject)
    req.end()
  })
}

describe('embedded API server: HTTPS and bearer tokens', () => {
  let server: ApiServer

  before(async () => {
    server = await startApiServer({ tls: true, token: 'test-token' })
  })
  after(() => server.close())

  test('serves HTTPS with a certificate for 127.0.0.1 issued by the generated CA', () => {
    assert.match(server.url, /^https:\/\/127\.0\.0\.1:\d+$/)
    const ca = new X509Certificate(server.caCert!)
    assert.equal(ca.ca, true)
  })

  test('client-node works through the returned kubeConfig (CA and token)', async () => {
    const core = server.kubeConfig.makeApiClient(CoreV1Api)
    const created = await core.createNamespacedConfigMap({ namespace: 'default', body: { metadata: { name: 'tls' } } })
    assert.equal(created.metadata!.name, 'tls')
    const list = await core.listNamespace()
    assert.ok(list.items.some((n) => n.metadata!.name === 'default'))
  })

  test('no token is 401 Unauthorized', async () => {
    const res = await get(server, '/api/v1/namespaces/default/configmaps')
    assert.equal(res.status, 401)
    assert.deepEqual(res.body, {
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message: 'Unauthorized',
      reason: 'Unauthorized',
      code: 401,
    })
  })

  test('a wrong token is 401 Unauthorized, also for client-node', async () => {
    assert.equal((await get(server, '/api/v1/namespaces', { authorization: 'Bearer nope' })).status, 401)
    const wrong = new KubeConfig()
    wrong.loadFromString(server.kubeConfigYaml().replace('"test-token"', '"other"'))
    try {
      await wrong.makeApiClient(CoreV1Api).listNamespace()
      assert.fail('expected 401')
    } catch (err) {
      assert.ok(err instanceof ApiException)
      assert.equal(err.code, 401)
    }
  })

  test('the health and version endpoints answer without a token', async () => {
    assert.equal((await get(server, '/version')).status, 200)
  })
})

describe('generated certificates', () => {
  // A random serial starting with 0x00 0x00–0x7f used to be encoded with its redundant
  // leading zero (1 in 256 certificates), which OpenSSL 3 rejects: "illegal padding".
  test('serial numbers are minimal DER INTEGERs whatever their random bytes', () => {
    const cases: [number[], number[]][] = [
      [[0x00, 0x12, 0x34], [0x02, 0x02, 0x12, 0x34]],
      [[0x00, 0x00, 0x92], [0x02, 0x02, 0x00, 0x92]],
      [[0x92, 0x01], [0x02, 0x03, 0x00, 0x92, 0x01]],
      [[0x7f, 0xff], [0x02, 0x02, 0x7f, 0xff]],
      [[0x00, 0x00], [0x02, 0x01, 0x00]],
    ]
    for (const [magnitude, der] of cases) assert.deepEqual([...derUnsignedInteger(Buffer.from(magnitude))], der, `magnitude ${Buffer.from(magnitude).toString('hex')}`)
  })

  test('the CA and server certificates parse and the server one is issued by the CA', () => {
    const tls = generateTls()
    const ca = new X509Certificate(tls.caCert)
    const cert = new X509Certificate(tls.cert)
    assert.ok(cert.checkIssued(ca))
    assert.ok(cert.verify(ca.publicKey))
    assert.ok(cert.checkIP('127.0.0.1'))
    assert.equal(cert.checkHost('localhost'), 'localhost')
  })
})
