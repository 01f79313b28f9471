// The Manager's webhook server (controller-runtime `pkg/webhook`, `pkg/certwatcher`):
// AdmissionReview v1 over HTTPS, bad input answered 400 without reaching the handler,
// handler errors as `allowed: false` (admission.Errored), the API server's timeout,
// certificate reloads, and the Manager's `webhook` child and readyz check.
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { request as httpsRequest } from 'node:https'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { connect } from 'node:tls'
import { after, before, describe, test } from 'node:test'
import { Writable } from 'node:stream'
import { Client } from '../../lib/client/client.ts'
import { createLogger } from '../../lib/log.ts'
import { parseManagerFlags } from '../../lib/manager/flags.ts'
import { InvalidManagerError, Manager } from '../../lib/manager/manager.ts'
import { microTime } from '../../lib/manager/resourcelock.ts'
import { type AdmissionRequest, WebhookServer } from '../../lib/manager/webhook.ts'
import { type ApiServer, startApiServer } from '../../lib/testing/apiserver/index.ts'
import { type GeneratedTls, generateTls } from '../../lib/testing/apiserver/tls.ts'
import { FakeClock } from '../../lib/testing/fake-clock.ts'

const logger = createLogger({ level: 'silent' })

async function certDir(tls?: GeneratedTls): Promise<{ dir: string; ca: string; write(t: GeneratedTls): void }> {
  tls ??= await generateTls()
  const dir = mkdtempSync(join(tmpdir(), 'kubevisor-webhook-'))
  const write = (t: GeneratedTls) => {
    writeFileSync(join(dir, 'tls.crt'), t.cert)
    writeFileSync(join(dir, 'tls.key'), t.key)
  }
  write(tls)
  return { dir, ca: tls.caCert, write }
}

interface Answer {
  status: number
  body: string
  json(): any
}

function post(port: number, path: string, body: string, options: { ca: string; contentType?: string; method?: string } = { ca: '' }): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      { host: '127.0.0.1', port, path, method: options.method ?? 'POST', ca: options.ca, servername: 'localhost', headers: { 'Content-Type': options.contentType ?? 'application/json' } },
      (res) => {
        const chunks: Buffer[] = []
        res.on('data', (c: Buffer) => chunks.push(c))
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8')
          resolve({ status: res.statusCode as number, body: text, json: () => JSON.parse(text) })
        })
      },
    )
    req.on('error', reject)
    req.end(body)
  })
}

function admissionReview(request: Partial<AdmissionRequest>): string {
  return JSON.stringify({
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: { uid: 'uid-1', kind: { group: '', version: 'v1', kind: 'ConfigMap' }, resource: { group: '', version: 'v1', resource: 'configmaps' }, operation: 'CREATE', object: {}, ...request },
  })
}

/** Whether a TLS client trusting only `ca` completes a handshake. */
function trusts(port: number, ca: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port, ca, servername: 'localhost' }, () => {
      s.end()
      resolve(true)
    })
    s.on('error', () => resolve(false))
  })
}

describe('WebhookServer', () => {
  let certs: Awaited<ReturnType<typeof certDir>>
  let server: WebhookServer
  let port: number
  const clock = new FakeClock(0)
  let seen: { request: AdmissionRequest; signal: AbortSignal } | undefined
  let release: (() => void) | undefined

  before(async () => {
    certs = await certDir()
    server = new WebhookServer({ host: '127.0.0.1', port: 0, certDir: certs.dir, certPollIntervalMs: 0, clock, logger })
    server.register('/mutate', (request, { signal }) => {
      seen = { request, signal }
      return { allowed: true, patch: [{ op: 'add', path: '/metadata/labels', value: { a: 'b' } }], warnings: ['labelled'] }
    })
    server.register('/deny', () => ({ allowed: false, status: { code: 403, message: 'no' } }))
    server.register('/throws', () => {
      throw new Error('boom: cannot decide')
    })
    server.register('/slow', (_request, { signal }) => {
      return new Promise((resolve, reject) => {
        release = () => resolve({ allowed: true })
        signal.addEventListener('abort', () => reject(signal.reason), { once: true })
      })
    })
    await server.start()
    port = server.port
    assert.ok(port > 0)
  })
  after(async () => {
    await server.stop()
    rmSync(certs.dir, { recursive: true, force: true })
  })

  test('a v1 AdmissionReview gets its uid back and the patch base64-encoded with patchType JSONPatch', async () => {
    const a = await post(port, '/mutate', admissionReview({ uid: 'abc-123', name: 'x', namespace: 'ns' }), { ca: certs.ca })
    assert.equal(a.status, 200)
    const review = a.json()
    assert.equal(review.apiVersion, 'admission.k8s.io/v1')
    assert.equal(review.kind, 'AdmissionReview')
    assert.equal(review.response.uid, 'abc-123')
    assert.equal(review.response.allowed, true)
    assert.equal(review.response.patchType, 'JSONPatch')
    assert.deepEqual(JSON.parse(Buffer.from(review.response.patch, 'base64').toString()), [{ op: 'add', path: '/metadata/labels', value: { a: 'b' } }])
    assert.deepEqual(review.response.warnings, ['labelled'])
    assert.equal(seen?.request.namespace, 'ns')
    const denied = (await post(port, '/deny', admissionReview({}), { ca: certs.ca })).json().response
    assert.deepEqual(denied, { uid: 'uid-1', allowed: false, status: { code: 403, message: 'no' } })
  })

  test('a handler that throws answers allowed: false with status 500 and its message (controller-runtime admission.Errored)', async () => {
    const a = await post(port, '/throws', admissionReview({}), { ca: certs.ca })
    assert.equal(a.status, 200)
    assert.deepEqual(a.json().response, { uid: 'uid-1', allowed: false, status: { code: 500, message: 'boom: cannot decide' } })
  })

  test('bad input: 400 with a Status naming the problem, never reaching a handler; 404, 405; the server keeps serving', async () => {
    const cases: [string, string, RegExp, string?][] = [
      ['/mutate', 'not json{', /not JSON/],
      ['/mutate', '[1,2]', /not a JSON object/],
      ['/mutate', '', /request body is empty/],
      ['/mutate', JSON.stringify({ apiVersion: 'admission.k8s.io/v1beta1', kind: 'AdmissionReview', request: { uid: 'x' } }), /admission\.k8s\.io\/v1.*v1beta1/],
      ['/mutate', JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'Pod' }), /expected an AdmissionReview/],
      ['/mutate', JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview' }), /has no request/],
      ['/mutate', admissionReview({ uid: '' }), /has no uid/],
      ['/mutate', admissionReview({}), /contentType=text\/plain, expected application\/json/, 'text/plain'],
    ]
    seen = undefined
    for (const [path, body, message, contentType] of cases) {
      const a = await post(port, path, body, { ca: certs.ca, contentType })
      assert.equal(a.status, 400, body)
      const status = a.json()
      assert.equal(status.kind, 'Status')
      assert.equal(status.code, 400)
      assert.equal(status.reason, 'BadRequest')
      assert.match(status.message, message)
    }
    assert.equal(seen, undefined, 'no bad request reached the handler')
    assert.equal((await post(port, '/nowhere', admissionReview({}), { ca: certs.ca })).status, 404)
    assert.equal((await post(port, '/mutate', '', { ca: certs.ca, method: 'GET' })).status, 405)
    assert.equal((await post(port, '/mutate', admissionReview({}), { ca: certs.ca })).json().response.allowed, true)
  })

  test("the API server's ?timeout= aborts the handler's signal (on the injected clock); the answer is allowed: false", async () => {
    const answer = post(port, '/slow?timeout=10s', admissionReview({}), { ca: certs.ca })
    while (clock.pending === 0) await new Promise((r) => setImmediate(r))
    await clock.advance(9_999)
    assert.ok(release, 'the handler runs')
    await clock.advance(1)
    const a = (await answer).json().response
    assert.equal(a.allowed, false)
    assert.match(a.status.message, /timeout of 10000 ms ran out/)
    release = undefined
  })

  test('register: paths are checked and registered once', () => {
    assert.throws(() => server.register('nope', () => ({ allowed: true })), { code: 'ERR_INVALID_WEBHOOK' })
    assert.throws(() => server.register('/mutate', () => ({ allowed: true })), { code: 'ERR_INVALID_WEBHOOK' })
    assert.throws(() => new WebhookServer({ port: 70_000 }), { code: 'ERR_INVALID_WEBHOOK' })
  })
})

describe('WebhookServer certificates (controller-runtime certwatcher)', () => {
  test('a missing or mismatched pair fails the start with a typed error', async () => {
    const empty = mkdtempSync(join(tmpdir(), 'kubevisor-webhook-empty-'))
    await assert.rejects(new WebhookServer({ host: '127.0.0.1', port: 0, certDir: empty, logger }).start(), { code: 'ERR_INVALID_WEBHOOK', message: /cannot read/ })
    writeFileSync(join(empty, 'tls.crt'), (await generateTls()).cert)
    writeFileSync(join(empty, 'tls.key'), (await generateTls()).key)
    await assert.rejects(new WebhookServer({ host: '127.0.0.1', port: 0, certDir: empty, logger }).start(), { code: 'ERR_INVALID_WEBHOOK', message: /does not load/ })
    rmSync(empty, { recursive: true, force: true })
  })

  test('a rotated pair is served to new connections: explicitly, on the poll timer, and on a directory change; a bad pair keeps the old one', async () => {
    const first = await generateTls()
    const certs = await certDir(first)
    const clock = new FakeClock(0)
    const server = new WebhookServer({ host: '127.0.0.1', port: 0, certDir: certs.dir, certPollIntervalMs: 10_000, clock, logger })
    await server.start()
    try {
      assert.equal(await trusts(server.port, first.caCert), true)
      assert.equal(await server.reloadCertificate(), false, 'unchanged files: nothing to do')

      // A key that does not match the certificate (a half-written rotation): the old pair stays.
      const second = await generateTls()
      writeFileSync(join(certs.dir, 'tls.crt'), second.cert)
      assert.equal(await server.reloadCertificate(), false)
      assert.equal(await trusts(server.port, first.caCert), true)

      writeFileSync(join(certs.dir, 'tls.key'), second.key)
      assert.equal(await server.reloadCertificate(), true)
      assert.equal(await trusts(server.port, second.caCert), true)
      assert.equal(await trusts(server.port, first.caCert), false)

      // The 10 s poll (FakeClock: no real wait for the timer).
      const third = await generateTls()
      certs.write(third)
      await clock.advance(10_000)
      for (let i = 0; i < 100 && !(await trusts(server.port, third.caCert)); i++) await new Promise((r) => setTimeout(r, 10))
      assert.equal(await trusts(server.port, third.caCert), true)

      // The directory watch alone (polling off).
      await server.stop()
      const watched = new WebhookServer({ host: '127.0.0.1', port: 0, certDir: certs.dir, certPollIntervalMs: 0, logger })
      await watched.start()
      try {
        const fourth = await generateTls()
        certs.write(fourth)
        let ok = false
        for (let i = 0; i < 200 && !ok; i++) {
          ok = await trusts(watched.port, fourth.caCert)
          if (!ok) await new Promise((r) => setTimeout(r, 25))
        }
        assert.ok(ok, 'the new pair is served after the files changed')
      } finally {
        await watched.stop()
      }
    } finally {
      await server.stop()
      rmSync(certs.dir, { recursive: true, force: true })
    }
  })
})

describe('Manager webhook server', () => {
  let api: ApiServer
  before(async () => {
    api = await startApiServer()
  })
  after(async () => {
    await api.close()
  })

  test('flags: --webhook-port (9443) and --webhook-cert-dir (controller-runtime CertDir)', () => {
    const d = parseManagerFlags([])
    assert.equal(d.webhookPort, 9443)
    assert.equal(d.webhookCertDir, '/tmp/k8s-webhook-server/serving-certs')
    const f = parseManagerFlags(['--webhook-port=0', '--webhook-cert-dir=/certs'])
    assert.equal(f.webhookPort, 0)
    assert.equal(f.webhookCertDir, '/certs')
    assert.throws(() => parseManagerFlags(['--webhook-port=http']), { code: 'ERR_INVALID_FLAG' })
  })

  test('runs as the always-on `webhook` child on a non-leader replica, with a `webhook` readyz check; registerWebhook needs the option', async () => {
    assert.throws(() => new Manager({ kubeConfig: api.kubeConfig, logger }).registerWebhook('/x', () => ({ allowed: true })), InvalidManagerError)
    const certs = await certDir()
    // Leader election on a lock nobody can take: this replica never leads, the webhook serves anyway.
    const lines: Record<string, unknown>[] = []
    const captured = createLogger({
      level: 'info',
      destination: new Writable({
        write(chunk, _e, cb) {
          for (const l of String(chunk).split('\n')) if (l) lines.push(JSON.parse(l))
          cb()
        },
      }),
    })
    const mgr = new Manager({
      kubeConfig: api.kubeConfig,
      logger: captured,
      webhook: { host: '127.0.0.1', port: 0, certDir: certs.dir },
      healthProbeBindAddress: '127.0.0.1:0',
      leaderElection: { id: 'webhook-test', namespace: 'default', identity: 'me', leaseDurationMs: 60_000, renewDeadlineMs: 40_000, retryPeriodMs: 10_000 },
    })
    await new Client(api.kubeConfig).create({
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: { name: 'webhook-test', namespace: 'default' },
      spec: { holderIdentity: 'someone-else', leaseDurationSeconds: 3600, renewTime: microTime(Date.now()) },
    })
    mgr.registerWebhook('/hook', (r) => ({ allowed: r.operation === 'CREATE' }))
    await mgr.start()
    try {
      assert.equal(mgr.status().isLeader, false)
      const port = mgr.webhookServer?.port as number
      const a = await post(port, '/hook', admissionReview({}), { ca: certs.ca })
      assert.equal(a.json().response.allowed, true)
      await mgr.webhookServer?.checkServing()
      const health = lines.find((l) => l.what === 'health probes')?.address as string
      const readyz = await fetch(`http://${health}/readyz/webhook`)
      assert.equal(readyz.status, 200)
      assert.equal(await readyz.text(), 'ok')
      assert.throws(() => mgr.registerWebhook('/late', () => ({ allowed: true })), InvalidManagerError)
    } finally {
      await mgr.stop()
      rmSync(certs.dir, { recursive: true, force: true })
    }
    assert.equal(mgr.webhookServer?.listening, false)
    await assert.rejects(mgr.webhookServer?.checkServing() as Promise<void>, { code: 'ERR_INVALID_WEBHOOK' })
  })
})
