/**
 * The shared HTTP path (lib/api): requests with bodies and headers through the kubeconfig,
 * a failed answer as the typed error for its Status reason (details and causes kept), a
 * client-side deadline, abort, keep-alive reuse, and discovery with subresources and
 * served group/versions (the events recorder's fallback check).
 */
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { hasSubresource, resolveResource, servesGroupVersion } from '../../lib/api/discovery.ts'
import { AlreadyExistsError, InvalidError, isNotFound, NotFoundError, RequestTimeoutError, TooManyRequestsError } from '../../lib/api/errors.ts'
import { ApiTransport } from '../../lib/api/transport.ts'
import { type ApiServer, startApiServer } from '../../lib/testing/index.ts'

let server: ApiServer

before(async () => {
  server = await startApiServer()
})
after(async () => {
  await server.close()
})

const cm = (name: string) => JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace: 'default' }, data: { a: '1' } })

describe('ApiTransport', () => {
  test('sends a JSON body and parses the JSON answer; objects stay plain', async () => {
    const t = ApiTransport.for(server.kubeConfig)
    const created = await t.json<{ metadata: { name: string; creationTimestamp: unknown } }>({
      method: 'POST',
      path: '/api/v1/namespaces/default/configmaps',
      headers: { 'Content-Type': 'application/json' },
      body: cm('sent'),
    })
    assert.equal(created.metadata.name, 'sent')
    assert.equal(typeof created.metadata.creationTimestamp, 'string')
    assert.equal(Object.getPrototypeOf(created), Object.prototype)
  })

  test('ApiTransport.for is one transport per KubeConfig object', () => {
    assert.equal(ApiTransport.for(server.kubeConfig), ApiTransport.for(server.kubeConfig))
  })

  test('a failed answer is the typed error of its reason, with the Status details', async () => {
    const t = ApiTransport.for(server.kubeConfig)
    await assert.rejects(t.request({ method: 'GET', path: '/api/v1/namespaces/default/configmaps/missing' }), (err: unknown) => {
      assert.ok(err instanceof NotFoundError)
      assert.equal(err.details?.name, 'missing')
      assert.equal(err.details?.kind, 'configmaps')
      assert.equal(err.body?.reason, 'NotFound')
      return true
    })
    await t.request({ method: 'POST', path: '/api/v1/namespaces/default/configmaps', headers: { 'Content-Type': 'application/json' }, body: cm('twice') })
    await assert.rejects(
      t.request({ method: 'POST', path: '/api/v1/namespaces/default/configmaps', headers: { 'Content-Type': 'application/json' }, body: cm('twice') }),
      AlreadyExistsError,
    )
    await assert.rejects(
      t.request({ method: 'POST', path: '/api/v1/namespaces/default/configmaps', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: {} }) }),
      (err: unknown) => err instanceof InvalidError && err.causes.some((c) => c.field === 'metadata.name'),
    )
  })

  test('429 carries Retry-After as retryAfterSeconds', async () => {
    server.failNext({ code: 429, retryAfterSeconds: 4, match: { path: '/api/v1/namespaces/default/configmaps/x' } })
    await assert.rejects(ApiTransport.for(server.kubeConfig).request({ method: 'GET', path: '/api/v1/namespaces/default/configmaps/x' }), (err: unknown) => err instanceof TooManyRequestsError && err.retryAfterSeconds === 4)
  })

  test('no answer within timeoutMs is a RequestTimeoutError; the next request still works', async () => {
    const cancel = server.delay({ ms: 2_000, count: 1, match: { path: '/api/v1/namespaces/default/configmaps/slow' } })
    const t = ApiTransport.for(server.kubeConfig)
    await assert.rejects(t.request({ method: 'GET', path: '/api/v1/namespaces/default/configmaps/slow', timeoutMs: 50 }), (err: unknown) => err instanceof RequestTimeoutError && err.timeoutMs === 50)
    cancel()
    await assert.rejects(t.request({ method: 'GET', path: '/api/v1/namespaces/default/configmaps/slow' }), NotFoundError)
  })

  test('an aborted signal rejects with its reason before sending', async () => {
    const reason = new Error('stop')
    await assert.rejects(ApiTransport.for(server.kubeConfig).request({ method: 'GET', path: '/api/v1/namespaces', signal: AbortSignal.abort(reason) }), (err: unknown) => err === reason)
  })
})

describe('discovery', () => {
  test('resolves kinds, knows subresources, and tells served group/versions apart', async () => {
    const t = ApiTransport.for(server.kubeConfig)
    const deployments = await resolveResource(t, 'apps/v1', 'Deployment')
    assert.equal(deployments.plural, 'deployments')
    assert.equal(await hasSubresource(t, deployments, 'status'), true)
    assert.equal(await hasSubresource(t, deployments, 'scale'), true)
    const cms = await resolveResource(t, 'v1', 'ConfigMap')
    assert.equal(await hasSubresource(t, cms, 'status'), false)
    assert.equal(await servesGroupVersion(t, 'v1'), true)
    assert.equal(await servesGroupVersion(t, 'nothere.example.com/v1'), false)
    await assert.rejects(resolveResource(t, 'nothere.example.com/v1', 'Thing'), (err: unknown) => isNotFound(err) && /is the CRD installed/.test((err as Error).message))
  })
})
