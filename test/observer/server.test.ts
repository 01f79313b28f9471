// The observer's server over real HTTP on 127.0.0.1: the page and its vendored library,
// the SSE feed, the process detail, the token, the Host check, actions (off by default),
// sampling only while someone watches, and that no credential ever reaches the page or feed.
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { KubeConfig } from '@kubernetes/client-node'
import { type Behaviour, noreply, ok, type Pid } from '../../lib/actor/index.ts'
import { createLogger } from '../../lib/log.ts'
import { type Observer, ObserverError, ObserverLogs, observerChildSpec, startObserver } from '../../lib/observer/index.ts'
import { inspectSupervisor, Supervisor, worker } from '../../lib/supervisor/index.ts'
import { silent as logger } from '../support/log.ts'
import { eventually } from '../support/mirror.ts'

const Idle: Behaviour<null, null> = { behaviourName: 'Idle', init: () => ok(null), handleCast: (_m, s) => noreply(s) }

/** Reads the first `count` SSE `sample` events of `url`, then closes the stream. */
async function readSamples(url: string, count = 1, headers: Record<string, string> = {}): Promise<{ raw: string; samples: any[] }> {
  const controller = new AbortController()
  const res = await fetch(url, { headers, signal: controller.signal })
  assert.equal(res.status, 200)
  assert.match(res.headers.get('content-type') ?? '', /text\/event-stream/)
  const reader = (res.body as ReadableStream<Uint8Array>).getReader()
  const decoder = new TextDecoder()
  let raw = ''
  const samples: any[] = []
  while (samples.length < count) {
    const { value, done } = await reader.read()
    if (done) break
    raw += decoder.decode(value, { stream: true })
    const events = raw.split('\n\n')
    samples.length = 0
    for (const e of events) {
      const data = /^event: sample\ndata: (.*)$/m.exec(e)
      if (data && e.endsWith('}')) samples.push(JSON.parse(data[1] as string))
    }
  }
  controller.abort()
  return { raw, samples }
}

describe('observer server', () => {
  let sup: Pid
  before(async () => {
    sup = await Supervisor.start([worker(Idle, null, { id: 'a', name: 'idle-a' }), worker(Idle, null, { id: 'b' })], { logger })
  })
  after(async () => {
    await Supervisor.stop(sup)
  })

  test('serves the page with a strict CSP, the vendored Preact and htm, and a feed whose first sample is the tree', async () => {
    const observer = await startObserver({ roots: [sup], logger })
    try {
      assert.match(observer.url, /^http:\/\/127\.0\.0\.1:\d+\/$/)
      const page = await fetch(observer.url)
      assert.equal(page.status, 200)
      const csp = page.headers.get('content-security-policy') ?? ''
      assert.match(csp, /default-src 'none'/)
      assert.match(csp, /script-src 'self' 'sha256-/)
      assert.match(await page.text(), /<script type="importmap">/)
      for (const path of ['app.js', 'style.css', 'vendor/preact.mjs', 'vendor/hooks.mjs', 'vendor/htm.mjs']) {
        const res = await fetch(new URL(path, observer.url))
        assert.equal(res.status, 200, path)
        assert.ok((await res.text()).length > 100, path)
      }
      const { samples } = await readSamples(new URL('feed', observer.url).href)
      const rows = samples[0].processes
      assert.deepEqual(
        rows.map((r: any) => [r.depth, r.child ?? null, r.behaviour]),
        [
          [0, null, 'Supervisor'],
          [1, 'a', 'Idle'],
          [1, 'b', 'Idle'],
        ],
      )
      assert.equal(rows[1].name, 'idle-a')
      assert.equal(samples[0].actions, false)
    } finally {
      await observer.close()
    }
  })

  test('samples only while a feed is open (costs nothing when nobody looks)', async () => {
    let samples = 0
    const observer = await startObserver({ roots: [sup], logger, intervalMs: 100, leadership: () => {
        samples++
        return undefined
      },
    })
    try {
      await new Promise((r) => setTimeout(r, 350))
      assert.equal(samples, 0, 'no sample without a client')
      await readSamples(new URL('feed', observer.url).href, 3)
      const seen = samples
      assert.ok(seen >= 3, `${seen} samples while the feed was open`)
      await new Promise((r) => setTimeout(r, 350))
      assert.ok(samples <= seen + 1, 'sampling stops once the feed closes')
    } finally {
      await observer.close()
    }
  })

  test('a token guards the data endpoints (Bearer header or ?token=); the page carries no data and loads without it', async () => {
    const token = 'observer-token-0123456789'
    const observer = await startObserver({ roots: [sup], logger, token })
    try {
      assert.match(observer.url, /\?token=observer-token-0123456789$/)
      const base = observer.url.replace(/\?.*$/, '')
      assert.equal((await fetch(base)).status, 200)
      assert.equal((await fetch(`${base}api/sample`)).status, 401)
      assert.equal((await fetch(`${base}feed`)).status, 401)
      assert.equal((await fetch(`${base}api/sample?token=wrong-token-0123456789`)).status, 401)
      assert.equal((await fetch(`${base}api/sample`, { headers: { authorization: `Bearer ${token}` } })).status, 200)
      assert.equal((await fetch(`${base}api/sample?token=${token}`)).status, 200)
    } finally {
      await observer.close()
    }
  })

  test('on loopback without a token, a foreign Host header is refused (DNS rebinding)', async () => {
    const observer = await startObserver({ roots: [sup], logger })
    try {
      const { request } = await import('node:http')
      const status = await new Promise<number>((resolve, reject) => {
        const req = request({ host: '127.0.0.1', port: observer.port, path: '/api/sample', headers: { host: `attacker.example:${observer.port}` } }, (res) => {
          res.resume()
          resolve(res.statusCode ?? 0)
        })
        req.on('error', reject)
        req.end()
      })
      assert.equal(status, 403)
    } finally {
      await observer.close()
    }
  })

  test('actions are refused unless enabled; enabled, a kill is restarted by the supervisor, and cross-site posts are refused', async () => {
    const off = await startObserver({ roots: [sup], logger })
    const target = inspectSupervisor(sup)?.children[1]?.pid as Pid
    try {
      off.sample()
      const res = await fetch(`${off.url}api/process/${target.id}/kill`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' })
      assert.equal(res.status, 403)
      assert.equal(target.alive, true)
    } finally {
      await off.close()
    }
    const on = await startObserver({ roots: [sup], logger, actions: true })
    try {
      on.sample()
      const form = await fetch(`${on.url}api/process/${target.id}/kill`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'a=1' })
      assert.equal(form.status, 415)
      const cross = await fetch(`${on.url}api/process/${target.id}/kill`, { method: 'POST', headers: { 'content-type': 'application/json', origin: 'http://attacker.example' }, body: '{}' })
      assert.equal(cross.status, 403)
      assert.equal(target.alive, true)
      const kill = await fetch(`${on.url}api/process/${target.id}/kill`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' })
      assert.equal(kill.status, 200)
      await eventually(() => inspectSupervisor(sup)?.children[1]?.restarts === 1 && inspectSupervisor(sup)?.children[1]?.pid?.alive === true, 5_000, 'the restart')
      assert.equal(target.alive, false)
      const unknown = await fetch(`${on.url}api/process/999999/kill`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' })
      assert.equal(unknown.status, 404)
      const notWatcher = await fetch(`${on.url}api/watcher/${sup.id}/relist`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' })
      assert.equal(notWatcher.status, 404)
    } finally {
      await on.close()
    }
  })

  test('bad options are typed errors', async () => {
    await assert.rejects(startObserver({ port: -1 }), ObserverError)
    await assert.rejects(startObserver({ intervalMs: 5 }), ObserverError)
    await assert.rejects(startObserver({ token: 'short' }), ObserverError)
  })
})

describe('observerChildSpec', () => {
  test('runs the observer as a child of the tree it shows, with the Manager-shaped leadership status, and closes it with the tree', async () => {
    let observer: Observer | undefined
    const status = { identity: 'replica-a', phase: 'running', isLeader: true, leaderElection: { identity: 'replica-a', lock: 'ops/my-operator', isLeader: true, holder: 'replica-a', renewTime: '2026-12-03T13:00:00.000000Z' } }
    const sup = await Supervisor.start(
      [
        worker(Idle, null, { id: 'work' }),
        observerChildSpec({
          leadership: () => status,
          onListening: (o) => {
            observer = o
          },
        }),
      ],
      { logger },
    )
    assert.ok(observer)
    const sample: any = await (await fetch(new URL('api/sample', observer.url))).json()
    assert.deepEqual(
      sample.processes.map((r: any) => r.child ?? 'root'),
      ['root', 'work', 'observer'],
      'it shows the whole tree it runs in',
    )
    assert.equal(sample.processes[2].behaviour, 'Observer')
    assert.deepEqual(sample.leadership, { identity: 'replica-a', isLeader: true, holder: 'replica-a', renewTime: '2026-12-03T13:00:00.000000Z', lease: 'ops/my-operator' })
    const url = observer.url
    await Supervisor.stop(sup)
    await assert.rejects(fetch(url), 'the server is closed with the tree')
  })
})

describe('observer: no credential reaches the page or the feed', () => {
  test('bearer tokens, client keys and the fields formatStatus redacts appear in no response', async () => {
    const secrets = {
      bearer: 'sha256~BEARER-TOKEN-abcdef',
      clientKey: 'CLIENT-KEY-DATA-0123456789',
      formatRedacted: 'FORMAT-STATUS-SECRET-42',
      plainSecretField: 'PLAIN-STATE-SECRET-7',
      logged: 'LOGGED-TOKEN-31337',
    }
    const kubeConfig = new KubeConfig()
    kubeConfig.loadFromOptions({
      clusters: [{ name: 'c', server: 'https://127.0.0.1:6443' }],
      users: [{ name: 'u', token: secrets.bearer, keyData: secrets.clientKey }],
      contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
      currentContext: 'x',
    })
    const Holder: Behaviour<null, any> = {
      behaviourName: 'Holder',
      init: (_a, ctx) => {
        ctx.log.info({ token: secrets.logged, headers: { authorization: `Bearer ${secrets.logged}` } }, 'started with a token')
        ctx.log.warn(`sending Authorization: Bearer ${secrets.logged}`)
        return ok({
          kubeConfig,
          user: { token: secrets.bearer, 'client-key-data': secrets.clientKey },
          header: `Bearer ${secrets.bearer}`,
          nested: { apiKey: secrets.plainSecretField, ok: 'visible-value' },
          customerPin: secrets.formatRedacted,
          password: secrets.plainSecretField,
        })
      },
      // A field only the behaviour knows is secret: the observer's own key rules would not catch it.
      formatStatus: (s) => ({ ...s, customerPin: '[hidden by formatStatus]' }),
    }
    const Plain: Behaviour<null, any> = { init: () => ok({ clientKey: secrets.clientKey, credentials: { bearerToken: secrets.bearer }, visible: 'shown' }) }
    const logs = new ObserverLogs()
    const log = createLogger({ level: 'debug', destination: logs.tee() })
    const sup = await Supervisor.start([worker(Holder, null, { id: 'holder' }), worker(Plain, null, { id: 'plain' })], { logger: log })
    const observer = await startObserver({ roots: [sup], logger, logs, actions: true })
    try {
      const bodies: string[] = []
      for (const path of ['', 'app.js', 'api/sample']) bodies.push(await (await fetch(new URL(path, observer.url))).text())
      bodies.push((await readSamples(new URL('feed', observer.url).href, 2)).raw)
      const sample = JSON.parse(bodies[2] as string)
      for (const row of sample.processes) {
        const detail = await (await fetch(new URL(`api/process/${row.id}`, observer.url))).text()
        bodies.push(detail)
      }
      const all = bodies.join('\n')
      for (const [what, secret] of Object.entries(secrets)) assert.ok(!all.includes(secret), `${what} leaked`)
      // ...while the rest of the state and the log lines are shown.
      const holder = sample.processes.find((r: any) => r.behaviour === 'Holder')
      const detail: any = await (await fetch(new URL(`api/process/${holder.id}`, observer.url))).json()
      assert.equal(detail.state.nested.ok, 'visible-value')
      assert.equal(detail.state.customerPin, '[hidden by formatStatus]')
      assert.equal(detail.state.password, '[redacted]', 'credential-looking keys are redacted even without formatStatus')
      assert.equal(detail.state.kubeConfig, '[KubeConfig]')
      assert.deepEqual(
        detail.logs.map((l: any) => l.msg),
        ['started with a token', 'sending Authorization: Bearer [redacted]'],
      )
    } finally {
      await observer.close()
      await Supervisor.stop(sup)
    }
  })
})

