/**
 * The HTTP edge: resource resolution through discovery (`/api/v1`,
 * `/apis/{group}/{version}`, CRDs included; Kubernetes API concepts, "Resource URIs"),
 * list pages as plain JSON with `apiVersion`/`kind` filled in, selectors, raw watch
 * chunks, HTTPS with a bearer token through the kubeconfig, and `Retry-After` parsing
 * (RFC 9110 §10.2.3: delay-seconds or an HTTP-date).
 */
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { type ApiServer, startApiServer } from '../../lib/testing/index.ts'
import { PassThrough } from 'node:stream'
import { HttpListWatchClient, parseRetryAfter, responseChunks } from '../../lib/watch/client.ts'
import { ApiStatusError } from '../../lib/watch/errors.ts'
import { crd } from '../testing/apiserver/helpers.ts'

let server: ApiServer

before(async () => {
  server = await startApiServer()
  server.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'team-a' } })
  for (const name of ['one', 'two', 'three']) {
    server.create({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace: 'team-a', labels: { tier: name === 'two' ? 'db' : 'web' } }, data: {} })
  }
})
after(async () => {
  await server.close()
})

const signal = () => AbortSignal.timeout(10_000)

describe('responseChunks', () => {
  test('yields each chunk as written, the same Buffer (no copy), in order, then ends', async () => {
    const body = new PassThrough()
    const a = Buffer.from('{"type":"ADDED"}\n')
    const b = Buffer.from('{"type":"MODIFIED"}\n')
    body.write(a)
    body.write(b)
    body.end()
    const got: Buffer[] = []
    for await (const chunk of responseChunks(body)) got.push(chunk)
    assert.equal(got.length, 2)
    assert.equal(got[0], a)
    assert.equal(got[1], b)
  })

  test('pauses the stream while the consumer has not asked for more, and resumes when it does', async () => {
    const body = new PassThrough()
    const chunks = responseChunks(body)
    const first = chunks.next()
    body.write(Buffer.from('1'))
    assert.equal((await first).value?.toString(), '1')
    body.write(Buffer.from('2'))
    body.write(Buffer.from('3'))
    await new Promise((resolve) => setImmediate(resolve))
    assert.equal(body.isPaused(), true, 'nobody asked: reading stops')
    assert.equal((await chunks.next()).value?.toString(), '2')
    assert.equal((await chunks.next()).value?.toString(), '3')
    body.end()
    assert.equal((await chunks.next()).done, true)
  })

  test('delivers what arrived before a failure, then rejects with the error', async () => {
    const body = new PassThrough()
    const chunks = responseChunks(body)
    body.write(Buffer.from('kept'))
    await new Promise((resolve) => setImmediate(resolve))
    body.destroy(new Error('connection reset'))
    assert.equal((await chunks.next()).value?.toString(), 'kept')
    await assert.rejects(chunks.next(), /connection reset/)
  })

  test('a body closed before its end rejects (premature close), never ends quietly', async () => {
    const body = new PassThrough()
    const chunks = responseChunks(body)
    const pending = chunks.next()
    body.destroy()
    await assert.rejects(pending, { code: 'ERR_STREAM_PREMATURE_CLOSE' })
  })

  test('leaving the loop early destroys the body', async () => {
    const body = new PassThrough()
    body.write(Buffer.from('x'))
    for await (const _ of responseChunks(body)) break
    assert.equal(body.destroyed, true)
  })
})

describe('parseRetryAfter', () => {
  test('reads delay-seconds', () => {
    assert.equal(parseRetryAfter('5'), 5)
    assert.equal(parseRetryAfter(' 0 '), 0)
    assert.equal(parseRetryAfter(['7', '9']), 7)
  })
  test('reads an HTTP-date as the seconds until then (never negative)', () => {
    const now = Date.parse('2026-11-21T10:00:00Z')
    assert.equal(parseRetryAfter('Sat, 21 Nov 2026 10:00:30 GMT', now), 30)
    assert.equal(parseRetryAfter('Sat, 21 Nov 2026 09:00:00 GMT', now), 0)
  })
  test('is undefined when absent or unreadable', () => {
    assert.equal(parseRetryAfter(undefined), undefined)
    assert.equal(parseRetryAfter(''), undefined)
    assert.equal(parseRetryAfter('soon'), undefined)
  })
})

describe('HttpListWatchClient', () => {
  test('resolves a core kind through discovery and scopes it to the namespace', async () => {
    const client = new HttpListWatchClient(server.kubeConfig, { apiVersion: 'v1', kind: 'ConfigMap', namespace: 'team-a' })
    assert.deepEqual(await client.resolve(), { groupVersionPath: '/api/v1', plural: 'configmaps', namespaced: true, apiVersion: 'v1', kind: 'ConfigMap' })
    const page = await client.list({ limit: 500 }, signal())
    assert.deepEqual(page.items.map((o) => o.metadata?.name).sort(), ['one', 'three', 'two'])
    assert.ok(Number(page.resourceVersion) > 0)
    assert.equal(page.continueToken, undefined)
    assert.equal(server.requestLog.at(-1)?.path, '/api/v1/namespaces/team-a/configmaps')
  })

  test('list items get apiVersion and kind, and stay plain JSON (no model classes, no Dates)', async () => {
    const client = new HttpListWatchClient(server.kubeConfig, { apiVersion: 'v1', kind: 'ConfigMap', namespace: 'team-a' })
    const [item] = (await client.list({ limit: 1 }, signal())).items
    assert.ok(item)
    assert.equal(item.apiVersion, 'v1')
    assert.equal(item.kind, 'ConfigMap')
    assert.equal(Object.getPrototypeOf(item), Object.prototype)
    assert.equal(typeof item.metadata?.creationTimestamp, 'string')
  })

  test('pages with limit and continue', async () => {
    const client = new HttpListWatchClient(server.kubeConfig, { apiVersion: 'v1', kind: 'ConfigMap', namespace: 'team-a' })
    const first = await client.list({ limit: 2 }, signal())
    assert.equal(first.items.length, 2)
    assert.ok(first.continueToken)
    const second = await client.list({ limit: 2, continueToken: first.continueToken }, signal())
    assert.equal(second.items.length, 1)
    assert.equal(second.continueToken, undefined)
  })

  test('passes label and field selectors', async () => {
    const client = new HttpListWatchClient(server.kubeConfig, {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      namespace: 'team-a',
      labelSelector: 'tier=web',
      fieldSelector: 'metadata.name!=three',
    })
    const page = await client.list({ limit: 500 }, signal())
    assert.deepEqual(page.items.map((o) => o.metadata?.name), ['one'])
  })

  test('a cluster-scoped kind ignores the namespace; a group kind lives under /apis', async () => {
    const namespaces = new HttpListWatchClient(server.kubeConfig, { apiVersion: 'v1', kind: 'Namespace', namespace: 'team-a' })
    await namespaces.list({ limit: 10 }, signal())
    assert.equal(server.requestLog.at(-1)?.path, '/api/v1/namespaces')
    const deployments = new HttpListWatchClient(server.kubeConfig, { apiVersion: 'apps/v1', kind: 'Deployment', namespace: 'team-a' })
    await deployments.list({ limit: 10 }, signal())
    assert.equal(server.requestLog.at(-1)?.path, '/apis/apps/v1/namespaces/team-a/deployments')
  })

  test('resolves a CRD kind once it is installed', async () => {
    server.create(crd('Namespaced'))
    server.create({ apiVersion: 'example.com/v1', kind: 'Widget', metadata: { name: 'w1', namespace: 'team-a' } })
    const client = new HttpListWatchClient(server.kubeConfig, { apiVersion: 'example.com/v1', kind: 'Widget' })
    const page = await client.list({ limit: 10 }, signal())
    assert.deepEqual(page.items.map((o) => [o.kind, o.metadata?.name]), [['Widget', 'w1']])
    assert.equal(server.requestLog.at(-1)?.path, '/apis/example.com/v1/widgets')
  })

  test('a kind missing from cached discovery is looked up again (a CRD installed later)', async () => {
    const gadgets = () => new HttpListWatchClient(server.kubeConfig, { apiVersion: 'example.com/v1', kind: 'Gadget' })
    await assert.rejects(gadgets().list({ limit: 1 }, signal()), (err: unknown) => err instanceof ApiStatusError && err.status === 404)
    server.create(crd('Cluster'))
    assert.deepEqual(await gadgets().resolve(), { groupVersionPath: '/apis/example.com/v1', plural: 'gadgets', namespaced: false, apiVersion: 'example.com/v1', kind: 'Gadget' })
  })

  test('discovery is cached per server: a second client does not ask again', async () => {
    const before = server.requestLog.filter((r) => r.path === '/api/v1').length
    const client = new HttpListWatchClient(server.kubeConfig, { apiVersion: 'v1', kind: 'ConfigMap' })
    await client.list({ limit: 1 }, signal())
    assert.equal(server.requestLog.filter((r) => r.path === '/api/v1').length, before)
  })

  test('an explicit path skips discovery', async () => {
    const client = new HttpListWatchClient(server.kubeConfig, { path: '/api/v1/configmaps', namespaced: true, namespace: 'team-a' })
    const page = await client.list({ limit: 10 }, signal())
    assert.equal(page.items.length, 3)
    assert.equal(server.requestLog.at(-1)?.path, '/api/v1/namespaces/team-a/configmaps')
  })

  test('a non-2xx answer is an ApiStatusError with status, reason and Retry-After', async () => {
    server.failNext({ code: 429, retryAfterSeconds: 3, match: { path: '/api/v1/namespaces/team-a/configmaps' } })
    const client = new HttpListWatchClient(server.kubeConfig, { apiVersion: 'v1', kind: 'ConfigMap', namespace: 'team-a' })
    await assert.rejects(client.list({ limit: 1 }, signal()), (err: unknown) => {
      assert.ok(err instanceof ApiStatusError)
      assert.equal(err.status, 429)
      assert.equal(err.retryAfterSeconds, 3)
      assert.equal(typeof err.reason, 'string')
      return true
    })
  })

  test('a watch yields the raw NDJSON bytes of the stream and stops on abort', async () => {
    const client = new HttpListWatchClient(server.kubeConfig, { apiVersion: 'v1', kind: 'ConfigMap', namespace: 'team-a' })
    const { resourceVersion } = await client.list({ limit: 500 }, signal())
    const controller = new AbortController()
    const stream = await client.watch({ resourceVersion, allowWatchBookmarks: true, timeoutSeconds: 30 }, controller.signal)
    server.create({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'four', namespace: 'team-a' } })
    let text = ''
    await assert.rejects(
      (async () => {
        for await (const chunk of stream) {
          text += Buffer.from(chunk).toString('utf8')
          if (text.includes('\n')) controller.abort()
        }
      })(),
    )
    const event = JSON.parse(text.slice(0, text.indexOf('\n')))
    assert.equal(event.type, 'ADDED')
    assert.equal(event.object.metadata.name, 'four')
    const watch = server.requestLog.find((r) => r.watch && r.path === '/api/v1/namespaces/team-a/configmaps')
    assert.ok(watch)
    const query = new URLSearchParams(watch.query)
    assert.equal(query.get('allowWatchBookmarks'), 'true')
    assert.equal(query.get('timeoutSeconds'), '30')
    assert.equal(query.get('resourceVersion'), resourceVersion)
  })

  test('metadataOnly lists PartialObjectMetadataList pages and watches PartialObjectMetadata events (client-go metadata client, kube-rs metadata_watcher)', async () => {
    const client = new HttpListWatchClient(server.kubeConfig, { apiVersion: 'v1', kind: 'ConfigMap', namespace: 'team-a', metadataOnly: true })
    const first = await client.list({ limit: 2 }, signal())
    assert.equal(first.items.length, 2)
    for (const item of first.items) {
      assert.deepEqual(Object.keys(item), ['kind', 'apiVersion', 'metadata'])
      assert.equal(item.kind, 'PartialObjectMetadata', 'kept as the server sent it, not relabelled ConfigMap')
      assert.equal(item.apiVersion, 'meta.k8s.io/v1')
      assert.equal(item.metadata?.namespace, 'team-a')
    }
    const rest = await client.list({ limit: 2, continueToken: first.continueToken }, signal())
    assert.equal(rest.continueToken, undefined)
    const controller = new AbortController()
    const stream = await client.watch({ resourceVersion: rest.resourceVersion, allowWatchBookmarks: true, timeoutSeconds: 30 }, controller.signal)
    server.create({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'meta-only', namespace: 'team-a' }, data: { secret: 'not sent' } })
    let text = ''
    await assert.rejects(
      (async () => {
        for await (const chunk of stream) {
          text += Buffer.from(chunk).toString('utf8')
          if (text.includes('\n')) controller.abort()
        }
      })(),
    )
    const event = JSON.parse(text.slice(0, text.indexOf('\n')))
    assert.equal(event.type, 'ADDED')
    assert.equal(event.object.kind, 'PartialObjectMetadata')
    assert.equal(event.object.metadata.name, 'meta-only')
    assert.equal(event.object.data, undefined)
    server.delete({ apiVersion: 'v1', kind: 'ConfigMap', name: 'meta-only', namespace: 'team-a' })
  })

  test('a signal aborted while credentials are applied sends no request: a stopped watcher leaves no open watch (issue #12)', async () => {
    const kc = server.kubeConfig
    const controller = new AbortController()
    const apply = kc.applyToHTTPSOptions.bind(kc)
    kc.applyToHTTPSOptions = async (opts) => {
      await apply(opts)
      controller.abort() // the runner stops right after the list, as the README's Watcher example does
    }
    try {
      const before = server.stats.watchesOpened
      const client = new HttpListWatchClient(kc, { path: '/api/v1/namespaces/team-a/configmaps' })
      await assert.rejects(client.watch({ resourceVersion: '1', allowWatchBookmarks: true, timeoutSeconds: 60 }, controller.signal), { name: 'AbortError' })
      assert.equal(server.stats.watchesOpened, before, 'no watch request reached the server')
    } finally {
      kc.applyToHTTPSOptions = apply
    }
  })

  test('speaks HTTPS with the kubeconfig CA and bearer token', async () => {
    const secured = await startApiServer({ tls: true, token: 's3cret' })
    try {
      const client = new HttpListWatchClient(secured.kubeConfig, { apiVersion: 'v1', kind: 'Namespace' })
      const page = await client.list({ limit: 10 }, signal())
      assert.ok(page.items.some((o) => o.metadata?.name === 'default'))
    } finally {
      await secured.close()
    }
  })
})
