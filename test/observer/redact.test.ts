// What the observer puts on the page from a process's state or a log line: bounded,
// JSON-safe, and without credentials even when a behaviour has no formatStatus.
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { GenServer, ok } from '../../lib/actor/index.ts'
import { isSecretKey, ObserverLogs, viewable } from '../../lib/observer/index.ts'
import { silent as logger } from '../support/log.ts'

describe('viewable', () => {
  test('credential-looking keys are redacted at any depth, in objects and Maps', () => {
    const out = viewable({
      token: 't',
      nested: { password: 'p', clientKey: 'k', 'client-key-data': 'kd', apiKey: 'a', authorization: 'h', name: 'web' },
      map: new Map<string, unknown>([
        ['secret', 's'],
        ['ok', 1],
      ]),
    })
    assert.deepEqual(out, {
      token: '[redacted]',
      nested: { password: '[redacted]', clientKey: '[redacted]', 'client-key-data': '[redacted]', apiKey: '[redacted]', authorization: '[redacted]', name: 'web' },
      map: { '[Map]': { secret: '[redacted]', ok: 1 } },
    })
    for (const key of ['bearerToken', 'keyData', 'client-certificate-data', 'cookie', 'credentials']) assert.equal(isSecretKey(key), true, key)
    for (const key of ['name', 'namespace', 'resourceVersion', 'keys', 'monkey']) assert.equal(isSecretKey(key), false, key)
  })

  test('bearer and basic credentials inside strings are removed, PEM blocks dropped whole', () => {
    assert.equal(viewable('GET /api with Authorization: Bearer abc.def-ghi'), 'GET /api with Authorization: Bearer [redacted]')
    assert.equal(viewable('basic dXNlcjpwYXNz'), 'basic [redacted]')
    assert.equal(viewable('-----BEGIN RSA PRIVATE KEY-----\nMIIE...'), '[redacted]')
  })

  test('class instances by name, pids by their text, errors by name and message, cycles marked, sizes bounded', async () => {
    class Agent {
      socket = 'x'
    }
    const pid = await GenServer.start({ init: () => ok(null) }, null, { logger, name: 'viewable-pid' })
    const cyclic: Record<string, unknown> = { a: 1 }
    cyclic.self = cyclic
    const out = viewable({ agent: new Agent(), pid, err: new TypeError('bad'), cyclic, at: new Date(0), n: Number.NaN, big: 10n, fn: function named() {} }) as Record<string, unknown>
    assert.equal(out.agent, '[Agent]')
    assert.equal(out.pid, String(pid))
    assert.deepEqual(out.err, { error: 'TypeError', message: 'bad' })
    assert.deepEqual(out.cyclic, { a: 1, self: '[Circular]' })
    assert.equal(out.at, '1970-01-01T00:00:00.000Z')
    assert.equal(out.n, 'NaN')
    assert.equal(out.big, '10n')
    assert.equal(out.fn, '[Function named]')
    const long = viewable({ list: Array.from({ length: 100 }, (_, i) => i), text: 'x'.repeat(1000) }, { items: 3, chars: 10 }) as Record<string, unknown>
    assert.deepEqual(long.list, [0, 1, 2, '… 97 more'])
    assert.equal(long.text, 'xxxxxxxxxx… (1000 chars)')
    assert.equal(viewable({ a: { b: { c: 1 } } }, { depth: 2 }) instanceof Object, true)
    assert.deepEqual(viewable({ a: { b: { c: 1 } } }, { depth: 2 }), { a: { b: '[…]' } })
    await GenServer.stop(pid)
  })
})

describe('ObserverLogs', () => {
  test('keeps the last lines per pid from pino output split across writes, and forgets the least recent pids', () => {
    const logs = new ObserverLogs({ linesPerProcess: 2, maxProcesses: 2 })
    const line = (pid: number, msg: string) => `${JSON.stringify({ level: 30, time: 1, pid, msg, token: 'x' })}\n`
    const text = line(1, 'a') + line(1, 'b') + line(1, 'c') + line(2, 'd')
    logs.push(text.slice(0, 25))
    logs.push(text.slice(25))
    assert.deepEqual(
      logs.linesOf(1).map((l) => l.msg),
      ['b', 'c'],
    )
    assert.equal(logs.linesOf(1)[0]?.fields.token, '[redacted]')
    assert.equal(logs.linesOf(2)[0]?.level, 'info')
    logs.push(line(3, 'e'))
    assert.deepEqual(logs.linesOf(1), [], 'pid 1 logged least recently: forgotten')
    assert.equal(logs.linesOf(3).length, 1)
    assert.throws(() => new ObserverLogs({ linesPerProcess: 0 }), RangeError)
  })
})
