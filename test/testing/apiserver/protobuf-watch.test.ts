// Protobuf watch streams of the embedded API server (lib/testing/apiserver/watch.ts,
// protobuf.ts encodeWatchFrame): a watch whose Accept lists protobuf first gets
// `application/vnd.kubernetes.protobuf;stream=watch` and length-prefixed bare
// metav1.WatchEvent frames whose object is the full `k8s\0` envelope, as kube-apiserver
// v1.34.4 answers (fixtures/kube-apiserver-watch-configmap.stream is the real server's answer to
// such a watch, captured from the envtest tier; test/envtest/protobuf.test.ts compares
// the two servers live). Anchors: k8s.io/apiserver/pkg/endpoints/handlers/watch.go,
// k8s.io/apimachinery/pkg/runtime/serializer/protobuf (RawSerializer, LengthDelimitedFramer),
// client-go rest/request.go (the stream decoder chosen by the response Content-Type).
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { request } from 'node:http'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import {
  type DecodedWatchEvent,
  decodeProtobuf,
  decodeWatchFrames,
  encodeWatchFrame,
  PROTOBUF_WATCH_CONTENT_TYPE,
} from '../../../lib/testing/apiserver/protobuf.ts'
import { ApiServerStatusError } from '../../../lib/testing/apiserver/status.ts'
import { type ApiServer, startApiServer } from '../../../lib/testing/index.ts'
import { crd } from './helpers.ts'

const PB = 'application/vnd.kubernetes.protobuf'
const fixture = join(import.meta.dirname, 'fixtures', 'kube-apiserver-watch-configmap.stream')

describe('protobuf watch frames', () => {
  test("kube-apiserver's own protobuf watch stream decodes: bare WatchEvent frames, the object in its k8s envelope", () => {
    const bytes = readFileSync(fixture)
    // The first frame: a 4-byte big-endian length, then WatchEvent field 1 (type) — no magic.
    const len = bytes.readUInt32BE(0)
    assert.equal(bytes[4], 0x0a)
    assert.notDeepEqual([...bytes.subarray(4, 8)], [0x6b, 0x38, 0x73, 0x00])
    const { events, rest } = decodeWatchFrames(bytes)
    assert.equal(rest.length, 0)
    assert.equal(4 + len < bytes.length, true)
    assert.deepEqual(
      events.map((e) => e.type),
      ['ADDED', 'BOOKMARK'],
    )
    assert.equal(events[0]!.object.kind, 'ConfigMap')
    assert.deepEqual(events[0]!.object.data, { k: 'v' })
    assert.deepEqual(events[1]!.object.metadata.annotations, { 'k8s.io/initial-events-end': 'true' })
  })

  test('encodeWatchFrame round-trips, and frames split across reads wait for their rest', () => {
    const a = encodeWatchFrame('ADDED', { kind: 'ConfigMap', apiVersion: 'v1', metadata: { name: 'a', namespace: 'n' }, data: { x: 'y' } })!
    const b = encodeWatchFrame('DELETED', { kind: 'Secret', apiVersion: 'v1', metadata: { name: 'b' }, type: 'Opaque' })!
    const all = Buffer.concat([a, b])
    const first = decodeWatchFrames(all.subarray(0, a.length + 3))
    assert.deepEqual(
      first.events.map((e) => [e.type, e.object.kind, e.object.metadata.name]),
      [['ADDED', 'ConfigMap', 'a']],
    )
    assert.equal(first.rest.length, 3)
    const second = decodeWatchFrames(Buffer.concat([first.rest, all.subarray(a.length + 3)]))
    assert.deepEqual(
      second.events.map((e) => [e.type, e.object.kind, e.object.type]),
      [['DELETED', 'Secret', 'Opaque']],
    )
    // The object inside is exactly what a GET would carry: the k8s envelope.
    const inner = decodeProtobuf(a.subarray(a.indexOf(Buffer.from('k8s\0', 'latin1'))))
    assert.equal(inner.kind, 'ConfigMap')
  })

  test('a custom resource has no protobuf frame; a frame that is not a WatchEvent is a 400', () => {
    assert.equal(encodeWatchFrame('ADDED', { kind: 'Widget', apiVersion: 'example.com/v1', metadata: { name: 'w' } }), undefined)
    assert.throws(() => decodeWatchFrames(Buffer.from([0, 0, 0, 3, 0x0a, 0xff, 0xff])), ApiServerStatusError)
  })
})

/** An open watch: its response headers and the events decoded so far. */
interface OpenWatch {
  status: number
  type: string
  events: DecodedWatchEvent[]
  raw: Buffer[]
  ended: Promise<void>
  until(n: number): Promise<DecodedWatchEvent[]>
  close(): void
}

function openWatch(server: ApiServer, path: string, accept: string): Promise<OpenWatch> {
  return new Promise((resolve, reject) => {
    const req = request(server.url + path, { headers: { accept } }, (res) => {
      const type = String(res.headers['content-type'])
      const pb = type === PROTOBUF_WATCH_CONTENT_TYPE
      let pending: Buffer = Buffer.alloc(0)
      let waiters: Array<() => void> = []
      const w: OpenWatch = {
        status: res.statusCode ?? 0,
        type,
        events: [],
        raw: [],
        ended: new Promise((r) => res.on('close', () => r())),
        until: async (n) => {
          while (w.events.length < n) await new Promise<void>((r) => waiters.push(r))
          return w.events.slice(0, n)
        },
        close: () => req.destroy(),
      }
      res.on('data', (chunk: Buffer) => {
        w.raw.push(chunk)
        pending = Buffer.concat([pending, chunk])
        if (pb) {
          try {
            const { events, rest } = decodeWatchFrames(pending)
            w.events.push(...events)
            pending = rest
          } catch {
            pending = Buffer.alloc(0) // the malformed-frame test reads w.raw itself
          }
        } else {
          let nl = pending.indexOf(10)
          while (nl >= 0) {
            w.events.push(JSON.parse(pending.subarray(0, nl).toString()))
            pending = pending.subarray(nl + 1)
            nl = pending.indexOf(10)
          }
        }
        const ws = waiters
        waiters = []
        for (const f of ws) f()
      })
      resolve(w)
    })
    req.on('error', (err) => {
      if ((err as NodeJS.ErrnoException).code !== 'ECONNRESET') reject(err)
    })
    req.end()
  })
}

describe('embedded API server: protobuf watch streams', () => {
  let server: ApiServer
  const open: OpenWatch[] = []
  before(async () => {
    server = await startApiServer()
    server.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'pw' } })
  })
  after(async () => {
    for (const w of open) w.close()
    await server.close()
  })
  const watch = async (path: string, accept: string) => {
    const w = await openWatch(server, path, accept)
    assert.equal(w.status, 200)
    open.push(w)
    return w
  }

  for (const accept of [`${PB}, application/json`, `${PB};stream=watch`]) {
    test(`Accept "${accept}": ADDED, MODIFIED, DELETED as protobuf frames carrying the stored objects`, async () => {
      const name = accept.includes('stream') ? 'b' : 'a'
      const w = await watch(`/api/v1/namespaces/pw/configmaps?watch=true&fieldSelector=metadata.name%3D${name}`, accept)
      assert.equal(w.status, 200)
      assert.equal(w.type, PROTOBUF_WATCH_CONTENT_TYPE)
      server.create({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace: 'pw' }, data: { v: '1' }, binaryData: { b: 'AP8=' } })
      server.update({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace: 'pw' }, data: { v: '2' } })
      const stored = server.get({ apiVersion: 'v1', kind: 'ConfigMap', namespace: 'pw', name })
      server.delete({ apiVersion: 'v1', kind: 'ConfigMap', namespace: 'pw', name })
      const evs = await w.until(3)
      assert.deepEqual(
        evs.map((e) => e.type),
        ['ADDED', 'MODIFIED', 'DELETED'],
      )
      assert.deepEqual(evs[0]!.object.binaryData, { b: 'AP8=' })
      // The MODIFIED object is the stored one, field for field (as its JSON would be).
      assert.deepEqual(evs[1]!.object, JSON.parse(JSON.stringify(stored)))
      // Nothing but whole frames was written.
      assert.equal(decodeWatchFrames(Buffer.concat(w.raw)).rest.length, 0)
    })
  }

  test('JSON-first, JSON-only and Table watches stay newline-delimited JSON', async () => {
    for (const accept of ['application/json', `application/json, ${PB}`, 'application/json;as=Table;v=v1;g=meta.k8s.io,application/json']) {
      const w = await watch('/api/v1/namespaces/pw/configmaps?watch=true&fieldSelector=metadata.name%3Dj', accept)
      assert.equal(w.type, 'application/json', accept)
      w.close()
    }
    const w = await watch('/api/v1/namespaces/pw/configmaps?watch=true&fieldSelector=metadata.name%3Dj', 'application/json')
    server.create({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'j', namespace: 'pw' } })
    const [ev] = await w.until(1)
    assert.equal(ev!.type, 'ADDED')
    assert.equal(ev!.object.metadata.name, 'j')
  })

  test('initial events and their end BOOKMARK (sendInitialEvents): protobuf frames of the watched kind', async () => {
    server.create({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 's1', namespace: 'pw' }, data: { k: 'dg==' } })
    const w = await watch(
      '/api/v1/namespaces/pw/secrets?watch=true&allowWatchBookmarks=true&sendInitialEvents=true&resourceVersionMatch=NotOlderThan',
      `${PB}, application/json`,
    )
    assert.equal(w.type, PROTOBUF_WATCH_CONTENT_TYPE)
    const [added, bookmark] = await w.until(2)
    assert.equal(added!.type, 'ADDED')
    assert.equal(added!.object.kind, 'Secret')
    assert.deepEqual(added!.object.data, { k: Buffer.from('v').toString('base64') })
    assert.equal(bookmark!.type, 'BOOKMARK')
    assert.deepEqual(bookmark!.object, {
      kind: 'Secret',
      apiVersion: 'v1',
      metadata: { resourceVersion: bookmark!.object.metadata.resourceVersion, annotations: { 'k8s.io/initial-events-end': 'true' } },
    })
    assert.match(bookmark!.object.metadata.resourceVersion, /^\d+$/)
  })

  test('ERROR events carry a v1 Status frame: a too-old resourceVersion, and an injected error', async () => {
    server.create({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'old', namespace: 'pw' } })
    const rv = (server.get({ apiVersion: 'v1', kind: 'ConfigMap', namespace: 'pw', name: 'old' }) as any).metadata.resourceVersion
    server.create({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'newer', namespace: 'pw' } })
    server.compact()
    const w = await watch(`/api/v1/namespaces/pw/configmaps?watch=true&resourceVersion=${rv}`, `${PB}, application/json`)
    assert.equal(w.status, 200)
    assert.equal(w.type, PROTOBUF_WATCH_CONTENT_TYPE)
    const [err] = await w.until(1)
    await w.ended
    assert.equal(err!.type, 'ERROR')
    assert.equal(err!.object.kind, 'Status')
    assert.equal(err!.object.code, 410)
    assert.equal(err!.object.reason, 'Expired')

    const live = await watch('/api/v1/namespaces/pw/configmaps?watch=true&fieldSelector=metadata.name%3Dinj', `${PB}, application/json`)
    assert.equal(server.injectWatchError({ code: 500, match: (x) => x.query.fieldSelector === 'metadata.name=inj' }), 1)
    const [injected] = await live.until(1)
    assert.equal(injected!.type, 'ERROR')
    assert.equal(injected!.object.code, 500)
  })

  test('a malformed frame is not a WatchEvent to the reader; the stream stays open', async () => {
    const w = await watch('/api/v1/namespaces/pw/configmaps?watch=true&fieldSelector=metadata.name%3Dm', `${PB}, application/json`)
    assert.equal(server.sendMalformedLine({ match: (x) => x.query.fieldSelector === 'metadata.name=m' }), 1)
    server.create({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'm', namespace: 'pw' } })
    while (Buffer.concat(w.raw).length <= 7) await new Promise((r) => setTimeout(r, 5))
    const bytes = Buffer.concat(w.raw)
    assert.throws(() => decodeWatchFrames(bytes), ApiServerStatusError)
    // After the 7-byte bad frame, the ADDED event follows as a good frame.
    assert.deepEqual(
      decodeWatchFrames(bytes.subarray(7)).events.map((e) => [e.type, e.object.metadata.name]),
      [['ADDED', 'm']],
    )
  })

  test('custom resources are watched in JSON even when protobuf is asked first (kube-apiserver has no CR protobuf)', async () => {
    server.create(crd('Namespaced'))
    const w = await watch('/apis/example.com/v1/namespaces/pw/widgets?watch=true', `${PB}, application/json`)
    assert.equal(w.type, 'application/json')
    server.create({ apiVersion: 'example.com/v1', kind: 'Widget', metadata: { name: 'w', namespace: 'pw' }, spec: { size: 1 } })
    const [ev] = await w.until(1)
    assert.equal(ev!.object.kind, 'Widget')
  })
})
