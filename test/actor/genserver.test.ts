// GenServer semantics, each test pinned to the Elixir GenServer / Erlang gen_server docs.
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import {
  AlreadyStartedError,
  type Behaviour,
  type Pid,
  BadResultError,
  CallTimeoutError,
  Down,
  Exit,
  GenServer,
  InitIgnoredError,
  MissingCallbackError,
  NoProcessError,
  ProcessExitedError,
  Registry,
  StartError,
  StartTimeoutError,
  StopTimeoutError,
  TIMEOUT,
  ignore,
  noreply,
  ok,
  reply,
  stop,
} from '../../lib/actor/index.ts'
import { FakeClock, settle } from '../../lib/testing/fake-clock.ts'
import { countAtTimer } from '../support/fairness.ts'
import { captureLogger, silent } from '../support/log.ts'

const logger = silent

/** A counter with a recorder of every callback, for asserting order. */
function recorder() {
  const seen: string[] = []
  const Counter: Behaviour<number, number> = {
    init: (n) => {
      seen.push(`init ${n}`)
      return ok(n)
    },
    handleCall: (msg, _from, n) => {
      seen.push(`call ${msg}`)
      if (msg === 'get') return reply(n, n)
      if (msg === 'boom') throw new Error('call boom')
      return reply('?', n)
    },
    handleCast: (msg, n) => {
      seen.push(`cast ${msg}`)
      if (msg === 'boom') throw new Error('cast boom')
      return noreply(n + 1)
    },
    handleInfo: (msg, n) => {
      seen.push(`info ${String(msg)}`)
      return noreply(n)
    },
    terminate: (reason, n) => {
      seen.push(`terminate ${reason instanceof Error ? reason.message : String(reason)} ${n}`)
    },
  }
  return { seen, Counter }
}

describe('GenServer.start and init', () => {
  test('start resolves only after init returned ok, and the state is threaded through callbacks', async () => {
    let initDone = false
    const B: Behaviour<number, number> = {
      init: async (n) => {
        await settle(1)
        initDone = true
        return ok(n * 10)
      },
      handleCall: (_m, _f, s) => reply(s, s),
      handleCast: (m: number, s) => noreply(s + m),
    }
    const pid = await GenServer.start(B, 4, { logger })
    assert.equal(initDone, true)
    GenServer.cast(pid, 1)
    GenServer.cast(pid, 2)
    assert.equal(await GenServer.call(pid, 'get'), 43)
    await GenServer.stop(pid)
  })

  test('init returning stop(reason) rejects with StartError carrying the reason; terminate does not run', async () => {
    // gen_server: "If Module:init/1 fails with Reason ... the function returns {error,Reason}" and terminate is not called.
    let terminated = false
    const B: Behaviour = { init: () => stop('bad_config'), terminate: () => void (terminated = true) }
    const err = await GenServer.start(B, undefined, { logger }).catch((e) => e)
    assert.ok(err instanceof StartError)
    assert.equal(err.code, 'ERR_START')
    assert.equal(err.reason, 'bad_config')
    assert.equal(terminated, false)
  })

  test('init throwing rejects with StartError whose cause is the error', async () => {
    const boom = new Error('init boom')
    const err = await GenServer.start({ init: () => { throw boom } }, undefined, { logger }).catch((e) => e)
    assert.ok(err instanceof StartError)
    assert.equal(err.cause, boom)
  })

  test('init returning ignore rejects with InitIgnoredError and releases the name', async () => {
    const registry = new Registry()
    const err = await GenServer.start({ init: () => ignore() }, undefined, { logger, registry, name: 'x' }).catch((e) => e)
    assert.ok(err instanceof InitIgnoredError)
    assert.equal(registry.whereis('x'), undefined)
  })

  test('an init slower than the start timeout is killed and start rejects with StartTimeoutError', async () => {
    // gen_server: "If the initialization is not completed within the specified time, the gen_server process is terminated and the start function returns {error,timeout}."
    const clock = new FakeClock()
    let release!: () => void
    const slow: Behaviour = { init: () => new Promise((r) => { release = () => r(ok(0)) }) }
    const started = GenServer.start(slow, undefined, { logger, clock, timeout: 1000, name: 'slow', registry: new Registry() })
    const outcome = started.catch((e) => e)
    await clock.advance(999)
    await clock.advance(1)
    const err = await outcome
    assert.ok(err instanceof StartTimeoutError)
    assert.equal(err.code, 'ERR_START_TIMEOUT')
    release()
    await settle()
  })

  test('a taken name fails the start with AlreadyStartedError naming the holder', async () => {
    const registry = new Registry()
    const { Counter } = recorder()
    const first = await GenServer.start(Counter, 0, { logger, registry, name: 'c' })
    const err = await GenServer.start(Counter, 0, { logger, registry, name: 'c' }).catch((e) => e)
    assert.ok(err instanceof AlreadyStartedError)
    assert.equal(err.pid, first)
    await GenServer.stop(first)
  })

  test('a behaviour without init is rejected with a TypeError', async () => {
    await assert.rejects(GenServer.start({} as Behaviour, 1), TypeError)
  })
})

describe('messages', () => {
  test('are handled one at a time, in arrival order, even when callbacks are async', async () => {
    const log: string[] = []
    let active = 0
    const B: Behaviour<void, null> = {
      init: () => ok(null),
      handleCast: async (m: number, s) => {
        active++
        assert.equal(active, 1, 'two callbacks ran at once')
        log.push(`start ${m}`)
        await new Promise((r) => setTimeout(r, m % 3))
        log.push(`end ${m}`)
        active--
        return noreply(s)
      },
      handleCall: (_m, _f, s) => reply('done', s),
    }
    const pid = await GenServer.start(B, undefined, { logger })
    for (let i = 0; i < 6; i++) GenServer.cast(pid, i)
    assert.equal(await GenServer.call(pid, 'sync'), 'done')
    assert.deepEqual(log, [0, 1, 2, 3, 4, 5].flatMap((i) => [`start ${i}`, `end ${i}`]))
    await GenServer.stop(pid)
  })

  test('messages sent while init runs wait and are handled in order after it', async () => {
    const registry = new Registry()
    const { seen, Counter } = recorder()
    const slow: Behaviour<number, number> = {
      ...Counter,
      init: async (n) => {
        await settle(1)
        seen.push(`init ${n}`)
        return ok(n)
      },
    }
    const started = GenServer.start(slow, 0, { logger, registry, name: 'early' })
    GenServer.cast({ registry, name: 'early' }, 'a')
    const pid = await started
    GenServer.cast(pid, 'b')
    assert.equal(await GenServer.call(pid, 'get'), 2)
    assert.deepEqual(seen, ['init 0', 'cast a', 'cast b', 'call get'])
    await GenServer.stop(pid)
  })

  test('call to an unknown or exited process rejects with NoProcessError; cast and send never throw', async () => {
    const err = await GenServer.call('nobody-has-this-name', 'x').catch((e) => e)
    assert.ok(err instanceof NoProcessError)
    assert.equal(err.code, 'ERR_NOPROC')
    const { Counter } = recorder()
    const pid = await GenServer.start(Counter, 0, { logger })
    await GenServer.stop(pid)
    await assert.rejects(GenServer.call(pid, 'get'), NoProcessError)
    GenServer.cast(pid, 'x')
    GenServer.send(pid, 'x')
    GenServer.cast('nobody-has-this-name', 'x')
    GenServer.send({ registry: new Registry(), name: 'none' }, 'x')
  })

  test('call times out after 5000 ms by default with CallTimeoutError; the process keeps running', async () => {
    // Elixir: "timeout ... defaults to 5000"; the late reply is discarded.
    const clock = new FakeClock()
    const B: Behaviour<void, null> = { init: () => ok(null), handleCall: (_m, _f, s) => noreply(s) }
    const pid = await GenServer.start(B, undefined, { logger, clock })
    const p = GenServer.call(pid, 'never').catch((e) => e)
    await clock.advance(4999)
    await clock.advance(1)
    const err = await p
    assert.ok(err instanceof CallTimeoutError)
    assert.equal(err.timeoutMs, 5000)
    assert.equal(pid.alive, true)
    await GenServer.stop(pid)
  })

  test('noreply leaves the caller waiting until GenServer.reply answers it; a second reply is ignored', async () => {
    type S = { waiting: any[] }
    const B: Behaviour<void, S> = {
      init: () => ok({ waiting: [] }),
      handleCall: (msg, from, s) => {
        if (msg === 'wait') return noreply({ waiting: [...s.waiting, from] })
        for (const f of s.waiting) {
          GenServer.reply(f, 'released')
          GenServer.reply(f, 'twice')
        }
        return reply(s.waiting.length, { waiting: [] })
      },
    }
    const pid = await GenServer.start(B, undefined, { logger })
    const a = GenServer.call(pid, 'wait')
    const b = GenServer.call(pid, 'wait')
    assert.equal(await GenServer.call(pid, 'release'), 2)
    assert.deepEqual(await Promise.all([a, b]), ['released', 'released'])
    await GenServer.stop(pid)
  })

  test('a missing handleInfo logs and drops the message; a missing handleCast crashes with MissingCallbackError', async () => {
    const cap = captureLogger()
    const B: Behaviour<void, null> = { init: () => ok(null), handleCall: (_m, _f, s) => reply('ok', s) }
    const pid = await GenServer.start(B, undefined, { logger: cap.logger })
    GenServer.send(pid, { hello: 1 })
    assert.equal(await GenServer.call(pid, 'ping'), 'ok')
    assert.ok(cap.lines.some((l) => l.msg.includes('no handleInfo')))
    GenServer.cast(pid, 'x')
    const reason = await GenServer.exited(pid)
    assert.ok(reason instanceof MissingCallbackError)
  })

  test('a callback returning something that is not a result crashes the process with BadResultError', async () => {
    const B: Behaviour<void, null> = { init: () => ok(null), handleCast: () => 42 as never }
    const pid = await GenServer.start(B, undefined, { logger })
    GenServer.cast(pid, 'x')
    assert.ok((await GenServer.exited(pid)) instanceof BadResultError)
  })

  test('reply from handleCast is not a valid result', async () => {
    const B: Behaviour<void, null> = { init: () => ok(null), handleCast: (_m, s) => reply(1, s) as never }
    const pid = await GenServer.start(B, undefined, { logger })
    GenServer.cast(pid, 'x')
    assert.ok((await GenServer.exited(pid)) instanceof BadResultError)
  })
})

describe('timeout and continue', () => {
  test('a timeout in a result delivers TIMEOUT to handleInfo when no message arrives in time', async () => {
    // Elixir: "if no messages are received within the timeout, handle_info(:timeout, state) is called".
    const clock = new FakeClock()
    const seen: unknown[] = []
    const B: Behaviour<void, number> = {
      init: () => ok(0, { timeout: 100 }),
      handleInfo: (m, s) => {
        seen.push(m)
        return noreply(s + 1)
      },
      handleCall: (_m, _f, s) => reply(s, s, { timeout: 100 }),
    }
    const pid = await GenServer.start(B, undefined, { logger, clock })
    await clock.advance(99)
    assert.deepEqual(seen, [])
    await clock.advance(1)
    assert.deepEqual(seen, [TIMEOUT])
    // A message before the period ends cancels the timeout it follows.
    const p = GenServer.call(pid, 'get')
    await settle()
    assert.equal(await p, 1)
    await clock.advance(50)
    GenServer.send(pid, 'other')
    await clock.advance(200)
    assert.deepEqual(seen, [TIMEOUT, 'other'])
    await GenServer.stop(pid)
  })

  test('continue runs handleContinue before any message already waiting', async () => {
    const order: string[] = []
    const B: Behaviour<void, null> = {
      init: () => ok(null, { continue: 'warm-up' }),
      handleContinue: (arg, s) => {
        order.push(`continue ${arg}`)
        return noreply(s)
      },
      handleCast: (m, s) => {
        order.push(`cast ${m}`)
        return m === 'again' ? noreply(s, { continue: 'after-again' }) : noreply(s)
      },
      handleCall: (_m, _f, s) => reply(order.slice(), s),
    }
    const started = GenServer.start(B, undefined, { logger, name: 'cont', registry: new Registry() })
    const pid = await started
    GenServer.cast(pid, 'again')
    GenServer.cast(pid, 'last')
    assert.deepEqual(await GenServer.call(pid, 'order'), ['continue warm-up', 'cast again', 'continue after-again', 'cast last'])
    await GenServer.stop(pid)
  })
})

describe('stopping', () => {
  test('stop from a callback runs terminate with the reason and the state, then exits with the reason', async () => {
    const { seen, Counter } = recorder()
    const B: Behaviour<number, number> = { ...Counter, handleCast: (m, n) => (m === 'quit' ? stop('normal', n + 100) : noreply(n + 1)) }
    const pid = await GenServer.start(B, 1, { logger })
    GenServer.cast(pid, 'quit')
    assert.equal(await GenServer.exited(pid), 'normal')
    assert.deepEqual(seen, ['init 1', 'terminate normal 101'])
  })

  test('stop from handleCall can reply before terminating; other pending calls get ProcessExitedError', async () => {
    const B: Behaviour<void, null> = {
      init: () => ok(null),
      handleCall: async (m, _f, s) => {
        if (m === 'slow') await settle(1)
        return stop('shutdown', s, { reply: 'bye' })
      },
    }
    const pid = await GenServer.start(B, undefined, { logger })
    const first = GenServer.call(pid, 'quit')
    const second = GenServer.call(pid, 'slow').catch((e) => e)
    assert.equal(await first, 'bye')
    const err = await second
    assert.ok(err instanceof ProcessExitedError)
    assert.equal(err.reason, 'shutdown')
  })

  test('a thrown error crashes the process: terminate gets the error, and the crash is logged once with its stack', async () => {
    const cap = captureLogger()
    const { seen, Counter } = recorder()
    const pid = await GenServer.start(Counter, 5, { logger: cap.logger })
    const pending = GenServer.call(pid, 'boom').catch((e) => e)
    const err = await pending
    assert.ok(err instanceof ProcessExitedError)
    const reason = await GenServer.exited(pid)
    assert.ok(reason instanceof Error && reason.message === 'call boom')
    assert.deepEqual(seen.slice(-1), ['terminate call boom 5'])
    const crashes = cap.lines.filter((l) => l.level === 50)
    assert.equal(crashes.length, 1)
    assert.equal(crashes[0]?.msg, 'process crashed')
    assert.equal(crashes[0]?.callback, 'handleCall')
    assert.match(crashes[0]?.err?.stack ?? '', /call boom/)
  })

  test('GenServer.stop handles the messages already queued, runs terminate, and resolves once exited', async () => {
    const { seen, Counter } = recorder()
    const pid = await GenServer.start(Counter, 0, { logger })
    GenServer.cast(pid, 'a')
    GenServer.cast(pid, 'b')
    await GenServer.stop(pid, 'shutdown')
    assert.equal(pid.alive, false)
    assert.deepEqual(seen, ['init 0', 'cast a', 'cast b', 'terminate shutdown 2'])
    await assert.rejects(GenServer.stop(pid), NoProcessError)
  })

  test('GenServer.stop rejects with StopTimeoutError when terminate outlasts the timeout', async () => {
    const clock = new FakeClock()
    let finish!: () => void
    const B: Behaviour<void, null> = { init: () => ok(null), terminate: () => new Promise<void>((r) => { finish = r }) }
    const pid = await GenServer.start(B, undefined, { logger, clock })
    const p = GenServer.stop(pid, 'normal', 1000).catch((e) => e)
    await clock.advance(1000)
    assert.ok((await p) instanceof StopTimeoutError)
    finish()
    assert.equal(await GenServer.exited(pid), 'normal')
  })

  test("exit(pid, 'kill') kills at once: terminate does not run and the reason is 'killed'", async () => {
    const { seen, Counter } = recorder()
    const pid = await GenServer.start(Counter, 0, { logger })
    GenServer.exit(pid, 'kill')
    assert.equal(await GenServer.exited(pid), 'killed')
    assert.deepEqual(seen, ['init 0'])
  })

  test('a terminate that throws makes its error the exit reason', async () => {
    const boom = new Error('terminate boom')
    const B: Behaviour<void, null> = { init: () => ok(null), terminate: () => { throw boom } }
    const pid = await GenServer.start(B, undefined, { logger })
    await GenServer.stop(pid)
    assert.equal(pid.alive, false)
    assert.equal(GenServer.info(pid).exitReason, boom)
  })
})

describe('links, monitors and exit signals', () => {
  /** A process that links or monitors what it is told to and records what it receives. */
  const Watcher: Behaviour<{ trap: boolean }, unknown[]> = {
    init: ({ trap }, ctx) => {
      ctx.trapExit(trap)
      return ok([])
    },
    handleCall: (m: { link?: any; monitor?: any; get?: true }, _f, s, ctx) => {
      if (m.link) ctx.link(m.link)
      if (m.monitor) return reply(ctx.monitor(m.monitor), s)
      return reply(s, s)
    },
    handleInfo: (m, s) => noreply([...s, m]),
  }

  // Erlang reference manual, Processes: "A process can also be terminated if it receives an
  // exit signal with another exit reason than normal"; Elixir's GenServer: it "will exit
  // abruptly with the same reason and so not call terminate/2".
  test('an abnormal exit propagates through a link and kills a non-trapping process with the same reason, without its terminate', async () => {
    let terminatedWith: unknown
    const Peer: Behaviour<void, null> = {
      init: () => ok(null),
      handleCall: (m: any, _f, s, ctx) => {
        ctx.link(m)
        return reply('linked', s)
      },
      terminate: (r) => void (terminatedWith = r),
    }
    const { Counter } = recorder()
    const a = await GenServer.start(Counter, 0, { logger })
    const b = await GenServer.start(Peer, undefined, { logger })
    await GenServer.call(b, a)
    GenServer.cast(a, 'boom')
    const reason = await GenServer.exited(b)
    assert.ok(reason instanceof Error && reason.message === 'cast boom')
    assert.equal(terminatedWith, undefined)
  })

  test('a normal exit does not stop a linked process', async () => {
    const { Counter } = recorder()
    const a = await GenServer.start(Counter, 0, { logger })
    const w = await GenServer.start(Watcher, { trap: false }, { logger })
    await GenServer.call(w, { link: a })
    await GenServer.stop(a, 'normal')
    await settle()
    assert.equal(w.alive, true)
    await GenServer.stop(w)
  })

  test('a process trapping exits receives Exit messages from linked processes instead of stopping', async () => {
    const { Counter } = recorder()
    const a = await GenServer.start(Counter, 0, { logger })
    const w = await GenServer.start(Watcher, { trap: true }, { logger })
    await GenServer.call(w, { link: a })
    GenServer.exit(a, 'kill')
    await GenServer.exited(a)
    const got = (await GenServer.call(w, { get: true })) as unknown[]
    assert.equal(got.length, 1)
    assert.ok(got[0] instanceof Exit)
    assert.equal((got[0] as Exit).from, a)
    assert.equal((got[0] as Exit).reason, 'killed')
    await GenServer.stop(w)
  })

  // erlang:monitor/2: Info in the 'DOWN' message is "noproc (process or port did not exist
  // at the time of monitor creation)"
  test('erlang:monitor/2 — a monitor delivers Down with the exit reason, and Down noproc at once for a process that already exited', async () => {
    const { Counter } = recorder()
    const a = await GenServer.start(Counter, 0, { logger })
    const w = await GenServer.start(Watcher, { trap: false }, { logger })
    const ref = await GenServer.call(w, { monitor: a })
    await GenServer.stop(a, 'shutdown')
    const ref2 = await GenServer.call(w, { monitor: a })
    const got = (await GenServer.call(w, { get: true })) as Down[]
    assert.deepEqual(
      got.map((d) => [d instanceof Down, d.ref, d.pid, d.reason]),
      [
        [true, ref, a, 'shutdown'],
        [true, ref2, a, 'noproc'],
      ],
    )
    await GenServer.stop(w)
  })

  // erlang:exit/2: "If Reason is any term other than normal or kill ... and Pid is not
  // trapping exits, Pid exits with exit reason Reason."
  test('erlang:exit/2 — normal is ignored by a non-trapping process; another reason kills it at once, without terminate and before its queued messages', async () => {
    const { seen, Counter } = recorder()
    const pid = await GenServer.start(Counter, 0, { logger, name: 'exit-2-target' })
    GenServer.exit(pid, 'normal')
    assert.equal(await GenServer.call(pid, 'get'), 0)
    GenServer.cast(pid, 'queued')
    GenServer.exit(pid, { shutdown: 'rebalance' })
    // Dead and unnamed as soon as exit/2 returns: the name is free for a new process.
    assert.equal(pid.alive, false)
    assert.equal(GenServer.whereis('exit-2-target'), undefined)
    assert.deepEqual(await GenServer.exited(pid), { shutdown: 'rebalance' })
    assert.deepEqual(seen, ['init 0', 'call get'])
  })

  test('the crash is logged once where it happened; a process stopped by the propagated signal logs no second stack', async () => {
    const cap = captureLogger()
    const { Counter } = recorder()
    const a = await GenServer.start(Counter, 0, { logger: cap.logger })
    const w = await GenServer.start(Watcher, { trap: false }, { logger: cap.logger })
    await GenServer.call(w, { link: a })
    GenServer.cast(a, 'boom')
    await GenServer.exited(w)
    assert.equal(cap.lines.filter((l) => l.level >= 50).length, 1)
    assert.ok(cap.lines.some((l) => l.pid === w.id && l.msg === 'exited on an exit signal'))
  })
})

describe('timers and names', () => {
  test('sendAfter delivers to handleInfo after the delay on the process clock; cancelTimer prevents it', async () => {
    const clock = new FakeClock()
    const B: Behaviour<void, string[]> = {
      init: (_a, ctx) => {
        ctx.sendAfter('tick', 1000)
        const cancelled = ctx.sendAfter('never', 500)
        assert.equal(ctx.cancelTimer(cancelled), true)
        assert.equal(ctx.cancelTimer(cancelled), false)
        return ok([])
      },
      handleInfo: (m, s) => noreply([...s, String(m)]),
      handleCall: (_m, _f, s) => reply(s, s),
    }
    const pid = await GenServer.start(B, undefined, { logger, clock })
    await clock.advance(999)
    assert.deepEqual(await GenServer.call(pid, 'get'), [])
    await clock.advance(1)
    assert.deepEqual(await GenServer.call(pid, 'get'), ['tick'])
    await GenServer.stop(pid)
    assert.equal(clock.pending, 0)
  })

  test('a name is released when its process exits, so a new process can take it', async () => {
    const registry = new Registry()
    const { Counter } = recorder()
    const a = await GenServer.start(Counter, 0, { logger, registry, name: 'svc' })
    assert.equal(registry.whereis('svc'), a)
    assert.deepEqual(registry.names(), ['svc'])
    GenServer.exit(a, 'kill')
    await GenServer.exited(a)
    assert.equal(registry.whereis('svc'), undefined)
    const b = await GenServer.start(Counter, 7, { logger, registry, name: 'svc' })
    assert.equal(await GenServer.call({ registry, name: 'svc' }, 'get'), 7)
    await GenServer.stop(b)
  })

  test('the default registry serves plain string names', async () => {
    const { Counter } = recorder()
    const pid = await GenServer.start(Counter, 3, { logger, name: 'genserver-test-default' })
    assert.equal(GenServer.whereis('genserver-test-default'), pid)
    assert.equal(await GenServer.call('genserver-test-default', 'get'), 3)
    await GenServer.stop('genserver-test-default')
  })

  test('info reports the lifecycle status: running, then exited with its reason', async () => {
    const { Counter } = recorder()
    const pid = await GenServer.start(Counter, 0, { logger })
    assert.equal(GenServer.info(pid).status, 'running')
    await GenServer.stop(pid, 'shutdown')
    assert.deepEqual({ ...GenServer.info(pid), links: [] }, {
      id: pid.id,
      name: undefined,
      status: 'exited',
      queueLength: 0,
      links: [],
      monitors: [],
      monitoredBy: [],
      trapExit: false,
      exitReason: 'shutdown',
    })
  })

  test('state is never logged: a crashing process holding a token leaves no trace of it in the logs', async () => {
    const cap = captureLogger()
    const B: Behaviour<void, { token: string }> = {
      init: () => ok({ token: 'sekret-token-value' }),
      handleCast: () => {
        throw new Error('crash with a secret in state')
      },
    }
    const pid = await GenServer.start(B, undefined, { logger: cap.logger })
    GenServer.cast(pid, { authorization: 'Bearer sekret-token-value' })
    await GenServer.exited(pid)
    assert.ok(cap.lines.length > 0)
    assert.equal(cap.text().includes('sekret-token-value'), false)
  })
})

// The BEAM preempts a process when its reductions run out and polls I/O between slices; a
// chain of processes handing each other messages must likewise let timers and sockets run
// (lib/actor/process.ts SLICE_MS), or a busy controller starves its own Lease renewals.
describe('fairness: message chains across processes yield to the event loop', () => {
  for (const mode of ['sync', 'async'] as const) {
    test(`a ping-pong of 1,000,000 messages (${mode} callbacks) lets a 1 ms timer fire long before it ends, and loses no message`, async () => {
      const TOTAL = 1_000_000
      let handled = 0
      let finish!: () => void
      const finished = new Promise<void>((resolve) => {
        finish = resolve
      })
      type S = { peer?: Pid }
      const handle = (msg: unknown, s: S) => {
        if (typeof msg === 'object' && msg !== null && 'peer' in msg) return noreply({ peer: (msg as { peer: Pid }).peer })
        if (++handled === TOTAL) finish()
        else GenServer.send(s.peer as Pid, 'ping')
        return noreply(s)
      }
      const b: Behaviour<S, S> = { init: (s) => ok(s), handleInfo: mode === 'sync' ? handle : async (m, s) => handle(m, s) }
      const one = await GenServer.start(b, {}, { logger: silent })
      const two = await GenServer.start(b, {}, { logger: silent })
      GenServer.send(one, { peer: two })
      GenServer.send(two, { peer: one })
      await new Promise((r) => setTimeout(r, 5))
      const timer = countAtTimer(() => handled)
      GenServer.send(one, 'ping')
      const [, atTimer] = await Promise.all([finished, timer])
      assert.equal(handled, TOTAL)
      // Without the shared slice the timer fires only once all 1,000,000 are handled.
      assert.ok(atTimer >= 0 && atTimer < TOTAL / 2, `the timer fired after ${atTimer} of ${TOTAL} messages`)
      await GenServer.stop(one)
      await GenServer.stop(two)
    })
  }
})
