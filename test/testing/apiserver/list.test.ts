// Lists: pagination, resourceVersion semantics and selectors, as the API concepts doc
// describes them (https://kubernetes.io/docs/reference/using-api/api-concepts/#the-resourceversion-parameter,
// #retrieving-large-results-sets-in-chunks) and apimachinery's selector grammar
// (pkg/labels/selector.go, pkg/fields/selector.go).
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { parseFieldSelector } from '../../../lib/testing/apiserver/selectors.ts'
import { type ApiServer, startApiServer } from '../../../lib/testing/index.ts'
import { pod, request } from './helpers.ts'

describe('field selector grammar', () => {
  test('parses =, == and != terms with escapes', () => {
    assert.deepEqual(parseFieldSelector('metadata.name=a\\,b,status.phase!=Running,spec.nodeName==n1'), [
      { field: 'metadata.name', op: '=', value: 'a,b' },
      { field: 'status.phase', op: '!=', value: 'Running' },
      { field: 'spec.nodeName', op: '=', value: 'n1' },
    ])
  })
  test('rejects a term without an operator', () => {
    assert.throws(() => parseFieldSelector('metadata.name'), /invalid selector/)
  })
})

describe('embedded API server: lists', () => {
  let server: ApiServer
  let firstRv: number

  before(async () => {
    server = await startApiServer()
    server.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'other' } })
    firstRv = server.resourceVersion
    for (let i = 0; i < 7; i++) {
      const p = pod(`p${i}`, { labels: { app: i % 2 ? 'odd' : 'even' }, nodeName: i < 3 ? 'n1' : 'n2' })
      server.create(p)
    }
    server.create(pod('elsewhere', { namespace: 'other', labels: { app: 'odd' } }))
  })
  after(() => server.close())

  test('limit and continue page through a consistent snapshot, with remainingItemCount', async () => {
    const names: string[] = []
    let token: string | undefined
    const first = await request(server, 'GET', '/api/v1/namespaces/default/pods?limit=3')
    assert.equal(first.body.metadata.remainingItemCount, 4)
    token = first.body.metadata.continue
    names.push(...first.body.items.map((p: any) => p.metadata.name))
    // A change after the first page is not visible on later pages (same snapshot).
    server.create(pod('p9'))
    while (token) {
      const page = await request(server, 'GET', `/api/v1/namespaces/default/pods?limit=3&continue=${encodeURIComponent(token)}`)
      assert.equal(page.body.metadata.resourceVersion, first.body.metadata.resourceVersion)
      names.push(...page.body.items.map((p: any) => p.metadata.name))
      token = page.body.metadata.continue
    }
    assert.deepEqual(names, ['p0', 'p1', 'p2', 'p3', 'p4', 'p5', 'p6'])
    server.delete({ apiVersion: 'v1', kind: 'Pod', name: 'p9', namespace: 'default' })
  })

  test('typed lists omit kind and apiVersion on items, like the real server', async () => {
    const list = await request(server, 'GET', '/api/v1/namespaces/default/pods?limit=1')
    assert.equal(list.body.kind, 'PodList')
    assert.equal(list.body.items[0].kind, undefined)
  })

  test('resourceVersion unset and "0" serve the latest state', async () => {
    for (const rv of ['', '&resourceVersion=0']) {
      const list = await request(server, 'GET', `/api/v1/pods?x=1${rv}`)
      assert.equal(list.body.metadata.resourceVersion, String(server.resourceVersion))
      assert.equal(list.body.items.length, 8)
    }
  })

  test('resourceVersionMatch=Exact serves the past state at that resourceVersion', async () => {
    const list = await request(server, 'GET', `/api/v1/namespaces/default/pods?resourceVersion=${firstRv + 2}&resourceVersionMatch=Exact`)
    assert.deepEqual(list.body.items.map((p: any) => p.metadata.name), ['p0', 'p1'])
    assert.equal(list.body.metadata.resourceVersion, String(firstRv + 2))
  })

  test('resourceVersion with limit and no match is exact (legacy semantics)', async () => {
    const list = await request(server, 'GET', `/api/v1/namespaces/default/pods?resourceVersion=${firstRv + 1}&limit=10`)
    assert.deepEqual(list.body.items.map((p: any) => p.metadata.name), ['p0'])
  })

  test('NotOlderThan serves the latest state; a future resourceVersion is 504 Timeout "Too large resource version"', async () => {
    const ok = await request(server, 'GET', `/api/v1/pods?resourceVersion=${firstRv}&resourceVersionMatch=NotOlderThan`)
    assert.equal(ok.body.items.length, 8)
    const future = server.resourceVersion + 100
    const tooNew = await request(server, 'GET', `/api/v1/pods?resourceVersion=${future}&resourceVersionMatch=NotOlderThan`)
    assert.equal(tooNew.status, 504)
    assert.equal(tooNew.body.reason, 'Timeout')
    assert.match(tooNew.body.message, /Too large resource version/)
  })

  test('label selectors: =, !=, in, notin, exists, !exists', async () => {
    const cases: Array<[string, string[]]> = [
      ['app=odd', ['p1', 'p3', 'p5']],
      ['app!=odd', ['p0', 'p2', 'p4', 'p6']],
      ['app in (odd,none)', ['p1', 'p3', 'p5']],
      ['app notin (odd)', ['p0', 'p2', 'p4', 'p6']],
      ['app', ['p0', 'p1', 'p2', 'p3', 'p4', 'p5', 'p6']],
      ['!app', []],
    ]
    for (const [sel, want] of cases) {
      const list = await request(server, 'GET', `/api/v1/namespaces/default/pods?labelSelector=${encodeURIComponent(sel)}`)
      assert.deepEqual(list.body.items.map((p: any) => p.metadata.name), want, sel)
    }
  })

  test('field selectors: metadata.name, metadata.namespace and pod fields', async () => {
    const cases: Array<[string, string[]]> = [
      ['metadata.name=p3', ['p3']],
      ['metadata.namespace=other', ['elsewhere']],
      ['spec.nodeName=n1', ['p0', 'p1', 'p2']],
      ['spec.nodeName!=n1,metadata.namespace=default', ['p3', 'p4', 'p5', 'p6']],
      ['status.phase=Pending,metadata.name=p6', ['p6']],
    ]
    for (const [sel, want] of cases) {
      const list = await request(server, 'GET', `/api/v1/pods?fieldSelector=${encodeURIComponent(sel)}`)
      assert.deepEqual(list.body.items.map((p: any) => p.metadata.name), want, sel)
    }
  })

  test('a selector with a limit still fills pages and paginates over matching objects', async () => {
    const page = await request(server, 'GET', `/api/v1/namespaces/default/pods?labelSelector=app%3Dodd&limit=2`)
    assert.deepEqual(page.body.items.map((p: any) => p.metadata.name), ['p1', 'p3'])
    assert.ok(page.body.metadata.continue)
    assert.equal(page.body.metadata.remainingItemCount, undefined, 'no count with a selector')
  })

  test('an exact list or a continue token older than the history window is 410 Expired', async () => {
    const s = await startApiServer({ historySize: 2 })
    try {
      const rv0 = s.resourceVersion
      for (let i = 0; i < 4; i++) s.create({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: `c${i}`, namespace: 'default' } })
      const exact = await request(s, 'GET', `/api/v1/namespaces/default/configmaps?resourceVersion=${rv0 + 1}&resourceVersionMatch=Exact`)
      assert.equal(exact.status, 410)
      assert.equal(exact.body.reason, 'Expired')
      const first = await request(s, 'GET', '/api/v1/namespaces/default/configmaps?limit=1')
      s.create({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'later', namespace: 'default' } })
      s.compact()
      const next = await request(s, 'GET', `/api/v1/namespaces/default/configmaps?limit=1&continue=${encodeURIComponent(first.body.metadata.continue)}`)
      assert.equal(next.status, 410)
      assert.match(next.body.message, /The provided continue parameter is too old/)
    } finally {
      await s.close()
    }
  })
})
