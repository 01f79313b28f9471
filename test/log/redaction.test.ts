// Logs never carry a credential, at any depth, and errors log whole: class, code, message,
// cause, stack. A client-node KubeConfig with every kind of secret is logged every way a
// caller or the runtime can log it, and the raw output is searched for each secret.
import assert from 'node:assert/strict'
import { Writable } from 'node:stream'
import { describe, test } from 'node:test'
import { KubeConfig } from '@kubernetes/client-node'
import { pino } from 'pino'
import { type Behaviour, GenServer, noreply, ok } from '../../lib/actor/index.ts'
import { KubevisorError } from '../../lib/errors.ts'
import { createLogger, type Logger, redactString, serializeError } from '../../lib/log.ts'
import { Supervisor, worker } from '../../lib/supervisor/index.ts'

const TOKEN = 'tok-3f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c'
const PASSWORD = 'pw-Sup3rS3cretPassw0rd!'
const ENV_SECRET = 'env-aws-secret-q8w7e6r5t4y3'
const ACCESS_TOKEN = 'oidc-access-9z8y7x6w5v4u'
const REFRESH_TOKEN = 'oidc-refresh-1a2b3c4d5e6f'
const PEM_BODY = 'MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7kubevisorTESTKEY'
const PEM = `-----BEGIN PRIVATE KEY-----\n${PEM_BODY}\n-----END PRIVATE KEY-----\n`
const KEY_DATA = Buffer.from(PEM).toString('base64')
const MSG_TOKEN = 'msgtok-77aa66bb55cc44dd'
const URL_PASSWORD = 'urlpass-0o9i8u7y'

const SECRETS = [TOKEN, PASSWORD, ENV_SECRET, ACCESS_TOKEN, REFRESH_TOKEN, PEM_BODY, KEY_DATA, MSG_TOKEN, URL_PASSWORD]

function kubeConfig(): KubeConfig {
  const kc = new KubeConfig()
  kc.loadFromOptions({
    clusters: [{ name: 'c', server: 'https://127.0.0.1:6443', skipTLSVerify: true }],
    users: [
      { name: 'token-user', token: TOKEN },
      { name: 'cert-user', certData: 'Y2VydA==', keyData: KEY_DATA },
      { name: 'basic-user', username: 'admin', password: PASSWORD },
      {
        name: 'exec-user',
        exec: { apiVersion: 'client.authentication.k8s.io/v1', command: 'aws', args: ['eks', 'get-token'], env: [{ name: 'AWS_SECRET_ACCESS_KEY', value: ENV_SECRET }] },
      },
      { name: 'oidc-user', authProvider: { name: 'oidc', config: { 'access-token': ACCESS_TOKEN, 'refresh-token': REFRESH_TOKEN, 'client-id': 'kubevisor' } } },
    ],
    contexts: [{ name: 'ctx', cluster: 'c', user: 'token-user' }],
    currentContext: 'ctx',
  })
  return kc
}

function capture(make: (destination: Writable) => Logger = (destination) => createLogger({ level: 'debug', destination })) {
  const raw: string[] = []
  const destination = new Writable({
    write(chunk, _enc, done) {
      raw.push(String(chunk))
      done()
    },
  })
  const logger = make(destination)
  return {
    logger,
    text: () => raw.join(''),
    lines: () =>
      raw
        .join('')
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as Record<string, any>),
  }
}

function assertNoSecret(text: string): void {
  for (const secret of SECRETS) assert.ok(!text.includes(secret), `a secret reached the log: ${secret.slice(0, 12)}…\n${text.slice(0, 2000)}`)
}

/** A KubevisorError subclass as the layers define them (code, cause, extra fields). */
class UpstreamError extends KubevisorError {
  readonly status: number
  constructor(message: string, cause?: unknown) {
    super('ERR_UPSTREAM', message, { cause })
    this.status = 401
  }
}

describe('credentials never reach a log line, at any depth', () => {
  test('a whole KubeConfig, its users, nested deep, in arrays, in error fields and causes, in bindings, in messages', () => {
    const kc = kubeConfig()
    const { logger, text, lines } = capture()
    logger.info({ kubeConfig: kc }, 'top level')
    logger.info({ a: { b: { c: { d: { e: { kubeConfig: kc } } } } } }, 'five levels down')
    logger.info({ users: kc.users, user: kc.getCurrentUser(), list: [[{ cfg: kc }]] }, 'users and arrays')
    logger.info({ request: { headers: { Authorization: `Bearer ${TOKEN}`, 'proxy-authorization': `Basic ${Buffer.from(`u:${PASSWORD}`).toString('base64')}` } } }, 'headers')
    logger.info({ url: `https://admin:${URL_PASSWORD}@example.com/api` }, 'url with a password')
    logger.info({ env: [{ name: 'X', value: ENV_SECRET }], exec: { env: { AWS_SECRET_ACCESS_KEY: ENV_SECRET } } }, 'environments')
    logger.info({ pem: PEM, nested: { deeper: [`key: ${PEM}`] } }, 'private keys in strings')
    logger.info({ buf: Buffer.from(TOKEN), map: new Map([['token', TOKEN]]), set: new Set([`Bearer ${MSG_TOKEN}`]) }, 'binary and collections')
    logger.warn(`refused: Authorization: Bearer ${MSG_TOKEN}`)
    const inner = new TypeError(`fetch failed with Bearer ${MSG_TOKEN}`)
    const mid = Object.assign(new Error('request failed', { cause: inner }), { config: kc, headers: { authorization: `Bearer ${TOKEN}` } })
    const outer = new UpstreamError(`list refused (Bearer ${MSG_TOKEN})`, mid)
    logger.error({ err: outer }, 'crash with a cause chain')
    logger.error(outer) // msg taken from err.message by pino
    logger.error({ failure: { nested: { error: outer } } }, 'an error deep in a field')
    logger.child({ kubeConfig: kc, user: kc.getCurrentUser() }).info('a child bound to a kubeconfig')
    logger.child({ name: 'ok' }).child({ auth: { token: TOKEN } }).info({ deeper: { password: PASSWORD } }, 'grandchild')
    let deep: Record<string, unknown> = { secret: `Bearer ${MSG_TOKEN}`, token: TOKEN }
    for (let i = 0; i < 30; i++) deep = { next: deep }
    logger.info({ deep }, 'thirty levels down')

    assertNoSecret(text())
    assert.equal(lines().length, 15)
    // What is not secret stays readable.
    const first = lines()[0] as { kubeConfig: { users: { name: string; token?: string }[]; clusters: { server: string }[] } }
    assert.equal(first.kubeConfig.users[0]?.name, 'token-user')
    assert.equal(first.kubeConfig.users[0]?.token, '[redacted]')
    assert.equal(first.kubeConfig.clusters[0]?.server, 'https://127.0.0.1:6443')
    const exec = lines()[0]?.kubeConfig.users[3].exec
    assert.deepEqual(exec.env, [{ name: 'AWS_SECRET_ACCESS_KEY', value: '[redacted]' }])
    assert.deepEqual(exec.args, ['eks', 'get-token'])
    assert.ok(text().includes('Bearer [redacted]'))
    // Logging did not touch the caller's objects.
    assert.equal(kc.getCurrentUser()?.token, TOKEN)
    assert.equal(mid.config, kc)
  })

  test("processes' loggers: a crash whose error carries a kubeconfig and a token in its message logs none of them, with createLogger or a foreign pino logger", async () => {
    for (const make of [undefined, (destination: Writable) => pino({ level: 'debug' }, destination) as Logger]) {
      const cap = capture(make)
      const kc = kubeConfig()
      const Crashy: Behaviour<void, { kc: KubeConfig }> = {
        init: () => ok({ kc }),
        handleCast: (_m, s) => {
          throw Object.assign(new UpstreamError(`Unauthorized: Bearer ${MSG_TOKEN}`, new Error(`retried with Authorization: Bearer ${TOKEN}`)), { kubeConfig: s.kc, token: TOKEN })
        },
        handleInfo: (_m, s) => noreply(s),
      }
      const sup = await Supervisor.start([worker(Crashy, undefined, { id: 'crashy', restart: 'temporary' })], { logger: cap.logger })
      const [child] = await Supervisor.whichChildren(sup)
      GenServer.cast(child?.pid as never, 'go')
      await GenServer.exited(child?.pid as never)
      await Supervisor.stop(sup)
      const crash = cap.lines().find((l) => l.msg === 'process crashed')
      assert.ok(crash, 'the crash was logged')
      assert.equal(crash.err.type, 'UpstreamError')
      assert.equal(crash.err.code, 'ERR_UPSTREAM')
      assert.equal(crash.err.cause.type, 'Error')
      // The foreign logger's message strings are its own; the objects are redacted either way.
      assertNoSecret(make ? JSON.stringify(cap.lines().map(({ msg: _m, ...rest }) => rest)) : cap.text())
    }
  })
})

describe('errors log with class, code, message, cause and stack', () => {
  test('the message is the error\'s own, never doubled with its causes\' (pino\'s default appends them)', () => {
    const root = new Error('HTTP 401: Unauthorized')
    const err = new UpstreamError('HTTP 401: Unauthorized', root)
    const { logger, lines } = capture()
    logger.error({ err }, 'failed')
    const line = lines()[0] as Record<string, any>
    assert.equal(line.err.type, 'UpstreamError')
    assert.equal(line.err.code, 'ERR_UPSTREAM')
    assert.equal(line.err.message, 'HTTP 401: Unauthorized')
    assert.equal(line.err.status, 401)
    assert.match(line.err.stack, /^UpstreamError: HTTP 401: Unauthorized\n\s+at /)
    assert.equal(line.err.cause.type, 'Error')
    assert.equal(line.err.cause.message, 'HTTP 401: Unauthorized')
    assert.match(line.err.cause.stack, /^Error: HTTP 401/)
    assert.equal(line.err.name, undefined, 'name is not repeated when it is the class')
  })

  test('causes recursively, non-error causes as values, circular causes cut, AggregateError members, codes of system errors', () => {
    const a = new Error('a') as Error & { cause?: unknown }
    const b = new Error('b', { cause: a })
    a.cause = b
    const sys = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED', errno: -111 })
    const agg = new AggregateError([sys, new RangeError('r')], 'several')
    const s = serializeError(new UpstreamError('top', new KubevisorError('ERR_MID', 'mid', { cause: { reason: 'Expired', token: TOKEN } }))) as Record<string, any>
    assert.deepEqual([s.type, s.code, s.cause.type, s.cause.code, s.cause.cause], ['UpstreamError', 'ERR_UPSTREAM', 'KubevisorError', 'ERR_MID', { reason: 'Expired', token: '[redacted]' }])
    const c = serializeError(b) as Record<string, any>
    assert.equal(c.cause.message, 'a')
    assert.equal(c.cause.cause, '[Circular]')
    const g = serializeError(agg) as Record<string, any>
    assert.equal(g.type, 'AggregateError')
    assert.deepEqual(
      g.errors.map((e: Record<string, unknown>) => [e.type, e.code, e.errno]),
      [
        ['Error', 'ECONNREFUSED', -111],
        ['RangeError', undefined, undefined],
      ],
    )
    assert.equal(serializeError('just a string'), 'just a string')
  })

  test('a field whose getter throws does not make the log call throw, and writes nothing of the object', () => {
    const { logger, lines } = capture()
    const hostile = {
      token: TOKEN,
      get boom(): string {
        throw new Error(`getter failed near Bearer ${MSG_TOKEN}`)
      },
    }
    assert.doesNotThrow(() => logger.info({ hostile }, 'hostile object'))
    const line = lines()[0] as Record<string, unknown>
    assert.equal(line.msg, 'hostile object')
    assert.equal(line.hostile, undefined)
    assert.match(String(line.logObjectError), /getter failed near Bearer \[redacted\]/)
    assertNoSecret(JSON.stringify(lines()))
  })

  test('redactString censors credentials in text and leaves ordinary words alone', () => {
    assert.equal(redactString(`Authorization: Bearer ${TOKEN}`), 'Authorization: Bearer [redacted]')
    assert.equal(redactString('a basic setup'), 'a basic setup')
    assert.equal(redactString(`Basic ${Buffer.from('admin:pw-123456').toString('base64')}`), 'Basic [redacted]')
    assert.equal(redactString(`https://u:${URL_PASSWORD}@h/x`), 'https://u:[redacted]@h/x')
    assert.equal(redactString(`x ${PEM} y`), 'x [redacted private key]\n y')
    assert.equal(redactString('nothing to see'), 'nothing to see')
  })
})
