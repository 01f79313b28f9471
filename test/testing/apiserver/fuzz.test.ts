// Randomized bad input (seeded, so failures reproduce): whatever a client sends, the
// server answers (never a 5xx: no unexpected exception), every failure is a Status whose
// code is the HTTP status, and a rejected
// request never changes the store (its resourceVersion does not move).
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { type ApiServer, startApiServer } from '../../../lib/testing/index.ts'
import { request } from './helpers.ts'
import { prng } from '../../support/random.ts'

describe('embedded API server: randomized bad input', () => {
  let server: ApiServer

  before(async () => {
    server = await startApiServer({ maxBodyBytes: 16 * 1024 })
    server.create({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'target', namespace: 'default' }, data: { a: '1' } })
  })
  after(() => server.close())

  test('400 random requests: always an answer, failures are Status objects, rejected requests change nothing', async () => {
    const random = prng(Number(process.env.KUBEVISOR_FUZZ_SEED ?? 20261121))
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)]!
    const paths = [
      '/api/v1/namespaces/default/configmaps',
      '/api/v1/namespaces/default/configmaps/target',
      '/api/v1/namespaces/default/configmaps/target/status',
      '/api/v1/namespaces/default/pods',
      '/api/v1/namespaces/nope/configmaps',
      '/api/v1/namespaces/default/nothings',
      '/apis/apps/v1/namespaces/default/deployments',
      '/apis/apiextensions.k8s.io/v1/customresourcedefinitions',
      '/api/v1/namespaces',
      '/api/v1/namespaces/default',
      '/api/v1/%zz',
      '/apis/../api/v1',
      '/api/v1/namespaces/default/configmaps/target?labelSelector=%28',
    ]
    const queries = ['', '?watch=maybe', '?limit=-5', '?resourceVersion=x', '?fieldSelector=a', '?dryRun=All', '?continue=%%%']
    const bodies = [
      () => undefined,
      () => '',
      () => 'null',
      () => '[]',
      () => '"string"',
      () => '{',
      () => '{"metadata": 5}',
      () => '{"metadata": {"name": 7}}',
      () => '{"metadata": {"name": "x", "labels": {"bad key": 1}}}',
      () => JSON.stringify({ apiVersion: pick(['v1', 'apps/v1', 'x/y', 7]), kind: pick(['ConfigMap', 'Pod', 'Nope', null]) }),
      () => JSON.stringify([{ op: pick(['add', 'remove', 'bogus', 'test']), path: pick(['/data/zz', '/metadata/uid', '', 'no-slash', 7]), value: 1 }]),
      () => JSON.stringify({ metadata: { resourceVersion: pick(['1', 'abc', '']) }, data: { a: random() } }),
      () => 'x'.repeat(20 * 1024),
      () => String.fromCharCode(...Array.from({ length: 40 }, () => Math.floor(random() * 256))),
    ]
    const types = ['application/json', 'application/merge-patch+json', 'application/json-patch+json', 'application/strategic-merge-patch+json', 'application/apply-patch+yaml', 'application/vnd.kubernetes.protobuf', 'text/plain']
    for (let i = 0; i < 400; i++) {
      const method = pick(['GET', 'POST', 'PUT', 'PATCH', 'DELETE'])
      const path = pick(paths) + (random() < 0.3 ? pick(queries) : '')
      const body = method === 'GET' ? undefined : pick(bodies)()
      const rv = server.resourceVersion
      const res = await request(server, method, path, body, body === undefined ? {} : { 'content-type': pick(types) })
      assert.ok(res.status >= 200 && res.status < 500, `${method} ${path}: ${res.status} ${res.text}`)
      if (res.status >= 400) {
        if (res.body?.kind === 'Status') {
          assert.equal(res.body.code, res.status, `${method} ${path}`)
        }
        assert.equal(server.resourceVersion, rv, `${method} ${path} was rejected (${res.status}) but changed the store`)
      }
    }
    const still = await request(server, 'GET', '/api/v1/namespaces/default')
    assert.equal(still.status, 200)
  })
})
