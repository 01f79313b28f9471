// HTTPS with a generated CA and bearer-token authentication: client-node trusts the CA
// from the returned kubeConfig; a missing or wrong token is 401 Unauthorized with the
// authentication filter's Status (apiserver pkg/endpoints/handlers/responsewriters).
import assert from 'node:assert/strict'
import { createPrivateKey, X509Certificate } from 'node:crypto'
import { request as httpsRequest } from 'node:https'
import { after, before, describe, test } from 'node:test'
import { ApiException, CoreV1Api, KubeConfig } from '@kubernetes/client-node'
import { type ApiServer, startApiServer } from '../../../lib/testing/index.ts'
import { generateTls } from '../../../lib/testing/apiserver/tls.ts'

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
  test('a CA and a server certificate for 127.0.0.1 and localhost, ECDSA P-256, one year, with a PKCS#8 key', async () => {
    const tls = await generateTls()
    const ca = new X509Certificate(tls.caCert)
    const cert = new X509Certificate(tls.cert)
    assert.equal(ca.ca, true, 'basicConstraints CA:true')
    assert.equal(cert.ca, false)
    // OpenSSL's X509_check_issued: names, the CA's keyUsage has keyCertSign, and the
    // authorityKeyIdentifier matches the CA's subjectKeyIdentifier.
    assert.ok(cert.checkIssued(ca))
    assert.ok(cert.verify(ca.publicKey))
    assert.ok(ca.verify(ca.publicKey), 'the CA is self-signed')
    assert.deepEqual(cert.keyUsage, ['1.3.6.1.5.5.7.3.1'], 'extendedKeyUsage serverAuth')
    assert.equal(cert.subjectAltName, 'IP Address:127.0.0.1, DNS:localhost')
    assert.ok(cert.checkIP('127.0.0.1'))
    assert.equal(cert.checkHost('localhost'), 'localhost')
    assert.equal(cert.publicKey.asymmetricKeyDetails?.namedCurve, 'prime256v1')
    assert.equal(cert.validToDate.getTime() - cert.validFromDate.getTime(), (365 * 24 + 1) * 3600_000)
    assert.match(tls.key, /^-----BEGIN PRIVATE KEY-----\n/)
    assert.ok(cert.checkPrivateKey(createPrivateKey(tls.key)), 'the key belongs to the server certificate')
    assert.notEqual(cert.serialNumber, ca.serialNumber)
  })
})
