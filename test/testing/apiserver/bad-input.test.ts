// Bad input gets the real server's Status (code, reason, message shape) and never
// changes the store: apimachinery pkg/api/errors, apiserver endpoints/handlers
// (request body limit 3 MiB → 413, decoding errors → 400) and ListOptions validation
// (apimachinery pkg/apis/meta/internalversion/validation → 422 Invalid).
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { type ApiServer, startApiServer } from '../../../lib/testing/index.ts'
import { configMap, request } from './helpers.ts'

describe('embedded API server: bad input', () => {
  let server: ApiServer
  let snapshot: () => Promise<string>

  before(async () => {
    server = await startApiServer({ maxBodyBytes: 64 * 1024 })
    server.create(configMap('existing', { a: 'b' }, { k: 'v' }))
    snapshot = async () => {
      const list = await request(server, 'GET', '/api/v1/configmaps')
      return JSON.stringify({ rv: server.resourceVersion, items: list.body.items })
    }
  })
  after(() => server.close())

  const cases: Array<{
    name: string
    method: string
    path: string
    body?: unknown
    headers?: Record<string, string>
    code: number
    reason: string
    message?: RegExp
  }> = [
    {
      name: 'a malformed JSON body',
      method: 'POST',
      path: '/api/v1/namespaces/default/configmaps',
      body: '{"metadata": {"name": ',
      code: 400,
      reason: 'BadRequest',
      message: /^the object provided is unrecognized \(must be of type ConfigMap\): couldn't get version\/kind; json parse error/,
    },
    {
      name: 'a body that is not an object',
      method: 'POST',
      path: '/api/v1/namespaces/default/configmaps',
      body: '[1,2]',
      code: 400,
      reason: 'BadRequest',
    },
    {
      name: 'the wrong kind for the path',
      method: 'POST',
      path: '/api/v1/namespaces/default/configmaps',
      body: { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'x' } },
      code: 400,
      reason: 'BadRequest',
      message: /^Secret in version "v1" cannot be handled as a ConfigMap/,
    },
    {
      name: 'the wrong apiVersion for the path',
      method: 'POST',
      path: '/api/v1/namespaces/default/configmaps',
      body: { apiVersion: 'apps/v1', kind: 'ConfigMap', metadata: { name: 'x' } },
      code: 400,
      reason: 'BadRequest',
      message: /does not match the expected API version \(v1\)/,
    },
    {
      name: 'a namespace in the body different from the path',
      method: 'POST',
      path: '/api/v1/namespaces/default/configmaps',
      body: { metadata: { name: 'x', namespace: 'kube-system' } },
      code: 400,
      reason: 'BadRequest',
      message: /the namespace of the provided object does not match the namespace sent on the request/,
    },
    {
      name: 'a missing name',
      method: 'POST',
      path: '/api/v1/namespaces/default/configmaps',
      body: { metadata: {} },
      code: 422,
      reason: 'Invalid',
      message: /^ConfigMap "" is invalid: metadata.name: Required value: name or generateName is required$/,
    },
    {
      name: 'an invalid name',
      method: 'POST',
      path: '/api/v1/namespaces/default/configmaps',
      body: { metadata: { name: 'Not_Valid' } },
      code: 422,
      reason: 'Invalid',
      message: /a lowercase RFC 1123 subdomain/,
    },
    {
      name: 'a pod without containers',
      method: 'POST',
      path: '/api/v1/namespaces/default/pods',
      body: { metadata: { name: 'p' }, spec: {} },
      code: 422,
      reason: 'Invalid',
      message: /^Pod "p" is invalid: spec.containers: Required value/,
    },
    {
      name: 'a namespace that does not exist',
      method: 'POST',
      path: '/api/v1/namespaces/nope/configmaps',
      body: { metadata: { name: 'x' } },
      code: 404,
      reason: 'NotFound',
      message: /^namespaces "nope" not found$/,
    },
    {
      name: 'an unknown resource',
      method: 'GET',
      path: '/api/v1/namespaces/default/widgets',
      code: 404,
      reason: 'NotFound',
      message: /^the server could not find the requested resource$/,
    },
    {
      name: 'an unknown subresource',
      method: 'GET',
      path: '/api/v1/namespaces/default/configmaps/existing/status',
      code: 404,
      reason: 'NotFound',
    },
    {
      name: 'an oversized body',
      method: 'POST',
      path: '/api/v1/namespaces/default/configmaps',
      body: { metadata: { name: 'big' }, data: { k: 'x'.repeat(70 * 1024) } },
      code: 413,
      reason: 'RequestEntityTooLarge',
      message: /^Request entity too large: limit is 65536$/,
    },
    {
      name: 'an invalid label selector',
      method: 'GET',
      path: `/api/v1/configmaps?labelSelector=${encodeURIComponent('a b')}`,
      code: 400,
      reason: 'BadRequest',
      message: /^unable to parse requirement/,
    },
    {
      name: 'an invalid field selector',
      method: 'GET',
      path: `/api/v1/configmaps?fieldSelector=${encodeURIComponent('metadata.name')}`,
      code: 400,
      reason: 'BadRequest',
      message: /invalid selector/,
    },
    {
      name: 'an unsupported field label',
      method: 'GET',
      path: `/api/v1/configmaps?fieldSelector=${encodeURIComponent('spec.nodeName=x')}`,
      code: 400,
      reason: 'BadRequest',
      // kube-apiserver 1.34: configmaps have no field label conversions, so the generic message.
      message: /^"spec.nodeName" is not a known field selector: only "metadata.name", "metadata.namespace"$/,
    },
    {
      name: 'a non-numeric resourceVersion',
      method: 'GET',
      path: '/api/v1/configmaps?resourceVersion=abc',
      code: 400,
      reason: 'BadRequest',
      message: /^invalid resource version: resourceVersion: Invalid value: "abc"/,
    },
    {
      name: 'resourceVersionMatch without resourceVersion',
      method: 'GET',
      path: '/api/v1/configmaps?resourceVersionMatch=NotOlderThan',
      code: 422,
      reason: 'Invalid',
      message: /^ListOptions.meta.k8s.io "" is invalid: resourceVersionMatch: Forbidden: resourceVersionMatch is forbidden unless resourceVersion is provided$/,
    },
    {
      name: 'an unsupported resourceVersionMatch',
      method: 'GET',
      path: '/api/v1/configmaps?resourceVersion=1&resourceVersionMatch=Newest',
      code: 422,
      reason: 'Invalid',
      message: /Unsupported value: "Newest"/,
    },
    {
      name: 'Exact with resourceVersion 0',
      method: 'GET',
      path: '/api/v1/configmaps?resourceVersion=0&resourceVersionMatch=Exact',
      code: 422,
      reason: 'Invalid',
    },
    {
      name: 'sendInitialEvents without NotOlderThan',
      method: 'GET',
      path: '/api/v1/configmaps?watch=1&sendInitialEvents=true&allowWatchBookmarks=true',
      code: 422,
      reason: 'Invalid',
      message: /sendInitialEvents requires setting resourceVersionMatch to NotOlderThan/,
    },
    {
      name: 'a garbage continue token',
      method: 'GET',
      path: '/api/v1/configmaps?limit=1&continue=garbage',
      code: 400,
      reason: 'BadRequest',
      message: /^invalid continue token/,
    },
    {
      name: 'a non-integer limit',
      method: 'GET',
      path: '/api/v1/configmaps?limit=many',
      code: 400,
      reason: 'BadRequest',
    },
    {
      name: 'an unknown patch type',
      method: 'PATCH',
      path: '/api/v1/namespaces/default/configmaps/existing',
      body: '{}',
      headers: { 'content-type': 'application/x-nope' },
      code: 415,
      reason: 'UnsupportedMediaType',
    },
    {
      name: 'a malformed merge patch',
      method: 'PATCH',
      path: '/api/v1/namespaces/default/configmaps/existing',
      body: '{"data": ',
      headers: { 'content-type': 'application/merge-patch+json' },
      code: 400,
      reason: 'BadRequest',
    },
    {
      name: 'a name in the body different from the URL',
      method: 'PUT',
      path: '/api/v1/namespaces/default/configmaps/existing',
      body: { metadata: { name: 'other' } },
      code: 400,
      reason: 'BadRequest',
      message: /^the name of the object \(other\) does not match the name on the URL \(existing\)$/,
    },
    {
      name: 'POST on a named object',
      method: 'POST',
      path: '/api/v1/namespaces/default/configmaps/existing',
      body: {},
      code: 405,
      reason: 'MethodNotAllowed',
    },
    {
      name: 'deleting a protected namespace',
      method: 'DELETE',
      path: '/api/v1/namespaces/default',
      code: 403,
      reason: 'Forbidden',
    },
  ]

  for (const c of cases) {
    test(`${c.name} → ${c.code} ${c.reason}, store unchanged`, async () => {
      const before = await snapshot()
      const res = await request(server, c.method, c.path, c.body, c.headers)
      assert.equal(res.status, c.code, res.text)
      assert.equal(res.body.kind, 'Status')
      assert.equal(res.body.status, 'Failure')
      assert.equal(res.body.code, c.code)
      assert.equal(res.body.reason, c.reason)
      if (c.message) assert.match(res.body.message, c.message)
      assert.equal(await snapshot(), before)
    })
  }

  test('a watch from a resourceVersion that does not parse is 500 with no reason (the watch path does not wrap the error), store unchanged', async () => {
    const before = await snapshot()
    const res = await request(server, 'GET', '/api/v1/configmaps?watch=1&resourceVersion=-1')
    assert.equal(res.status, 500, res.text)
    assert.deepEqual(res.body, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: 'resourceVersion: Invalid value: "-1": strconv.ParseUint: parsing "-1": invalid syntax', code: 500 })
    assert.equal(await snapshot(), before)
  })

  test('a path no API serves (an unknown group, an unknown path) is the plain-text 404 page, store unchanged', async () => {
    const before = await snapshot()
    for (const path of ['/apis/nope.example.com/v1/things', '/apis/nope.example.com', '/nothing/here']) {
      const res = await request(server, 'GET', path)
      assert.deepEqual([res.status, res.text], [404, '404 page not found\n'], path)
    }
    assert.equal(await snapshot(), before)
  })

  test('the server keeps serving after a client sends garbage on the socket', async () => {
    const { connect } = await import('node:net')
    const sock = connect(server.port, '127.0.0.1')
    await new Promise<void>((resolve) => sock.on('connect', () => resolve()))
    sock.resume()
    sock.write('THIS IS NOT HTTP\r\n\r\n')
    await new Promise<void>((resolve) => sock.on('close', () => resolve()))
    const res = await request(server, 'GET', '/api/v1/namespaces/default/configmaps/existing')
    assert.equal(res.status, 200)
  })
})
