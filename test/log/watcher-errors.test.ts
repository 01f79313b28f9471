// The log lines of a real watcher failing against the embedded API server: errors whole
// (class, code, message once, stack, cause), never `{"type":"Object","stack":""}`, never
// the message doubled, never the bearer token the client sent.
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { KubeConfig } from '@kubernetes/client-node'
import { GenServer, noreply, ok } from '../../lib/actor/index.ts'
import { type ApiServer, startApiServer } from '../../lib/testing/index.ts'
import { Watcher } from '../../lib/watcher/watcher.ts'
import { captureLogger } from '../support/log.ts'
import { eventually } from '../support/mirror.ts'

const SERVER_TOKEN = 'server-token-5a4b3c2d1e0f'
const WRONG_TOKEN = 'wrong-token-9f8e7d6c5b4a'

let server: ApiServer
before(async () => {
  server = await startApiServer({ token: SERVER_TOKEN })
})
after(async () => {
  await server.close()
})

const Quiet = { init: () => ok(0), handleEvent: (_t: string, _o: unknown, s: number) => noreply(s) }

describe('a failing watcher logs its errors whole and without credentials', () => {
  test('a 401 crash logs InitialListFailedError with its message once and its typed 401 cause (UnauthorizedError, an ApiStatusError); the token sent is not in any line', async () => {
    const cap = captureLogger('debug')
    const kc = new KubeConfig()
    kc.loadFromString(server.kubeConfigYaml().replace(SERVER_TOKEN, WRONG_TOKEN))
    const w = await Watcher.start(Quiet, undefined, { kubeConfig: kc, apiVersion: 'v1', kind: 'ConfigMap', logger: cap.logger, maxRestarts: 0 })
    try {
      await eventually(() => cap.lines.some((l) => l.msg === 'process crashed'), 10_000, 'the crash to be logged')
      await GenServer.exited(w.supervisor)
    } finally {
      if (w.supervisor.alive) await Watcher.stop(w)
    }
    const crash = cap.lines.find((l) => l.msg === 'process crashed') as Record<string, any>
    assert.equal(crash.err.type, 'InitialListFailedError')
    assert.equal(crash.err.code, 'ERR_WATCH_LIST_FAILED')
    assert.equal(crash.err.message.split('HTTP 401: Unauthorized').length - 1, 1, `the message once: ${crash.err.message}`)
    assert.equal(crash.err.cause.type, 'UnauthorizedError')
    assert.equal(crash.err.cause.code, 'ERR_API_UNAUTHORIZED')
    assert.equal(crash.err.cause.message, 'HTTP 401: Unauthorized')
    assert.match(crash.err.cause.stack, /^UnauthorizedError/)
    for (const l of cap.lines) {
      if (l.err !== undefined) assert.notEqual(l.err.type, 'Object')
    }
    assert.ok(!cap.text().includes(WRONG_TOKEN), 'the bearer token sent never reaches a line')
    assert.ok(!cap.text().includes(SERVER_TOKEN))
  })
})
