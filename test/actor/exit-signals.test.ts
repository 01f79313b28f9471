// Exit signals overtake the mailbox, and the edge cases of links, monitors and calls, each
// pinned to the Erlang/OTP documentation it follows (erlang:exit/2, erlang:link/1,
// erlang:monitor/2, gen_server:call/3, the reference manual's "Processes" chapter).
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import {
  type Behaviour,
  CallingSelfError,
  CallTimeoutError,
  Down,
  Exit,
  GenServer,
  noreply,
  ok,
  type Pid,
  Registry,
  reply,
  StartError,
} from '../../lib/actor/index.ts'
import { FakeClock, settle } from '../../lib/testing/fake-clock.ts'
import { silent as logger } from '../support/log.ts'

/** A promise with its resolve function, to hold a callback in flight. */
function gate(): { promise: Promise<void>; open: () => void } {
  let open = () => {}
  const promise = new Promise<void>((resolve) => {
    open = resolve
  })
  return { promise, open }
}

/** Counts the casts it handled and records whether terminate ran. */
function counting(opts: { hold?: Promise<void>; trap?: boolean } = {}) {
  const seen = { handled: 0, started: 0, terminated: false }
  const B: Behaviour<void, number> = {
    init: (_a, ctx) => {
      if (opts.trap) ctx.trapExit(true)
      return ok(0)
    },
    handleCast: async (_m, n) => {
      seen.started++
      if (seen.started === 1 && opts.hold) await opts.hold
      seen.handled++
      return noreply(n + 1)
    },
    handleCall: (m: { link?: Pid }, _f, n, ctx) => {
      if (m?.link) ctx.link(m.link)
      return reply(n, n)
    },
    terminate: () => {
      seen.terminated = true
    },
  }
  return { seen, B }
}

const Parent: Behaviour<void, null> = { init: () => ok(null), handleCall: (_m, _f, s) => reply(s, s) }

// erlang:exit/2 (and the same for a link's signal): "If P is not trapping exits, P exits
// with exit reason Reason. If P is trapping exits, the exit signal is transformed into a
// message {'EXIT', From, Reason}".
describe('an exit signal overtakes the mailbox (erlang:exit/2: "P exits with exit reason Reason")', () => {
  test('a linked worker with 500 queued casts dies of its parent\'s kill before handling another; the callback in flight is discarded; no terminate', async () => {
    const registry = new Registry()
    const parent = await GenServer.start(Parent, undefined, { logger })
    const hold = gate()
    const { seen, B } = counting({ hold: hold.promise })
    const w = await GenServer.start(B, undefined, { logger, link: parent, name: 'busy', registry })
    GenServer.cast(w, 0)
    await settle() // the first cast is now in flight, awaiting the gate
    assert.equal(seen.started, 1)
    for (let i = 1; i <= 500; i++) GenServer.cast(w, i)
    assert.equal(GenServer.info(w).queueLength, 500)

    GenServer.exit(parent, 'kill')
    // Dead at once, its name free at once — not after the queue is drained.
    assert.equal(w.alive, false)
    assert.equal(registry.whereis('busy'), undefined)
    hold.open()
    await settle()
    assert.equal(await GenServer.exited(w), 'killed')
    assert.equal(seen.started, 1, 'no queued cast was handled after the exit signal')
    assert.equal(seen.handled, 1, 'the callback in flight finished, but its result went nowhere')
    assert.equal(seen.terminated, false, 'gen_server runs no terminate on an untrapped exit signal')
    // The name can be taken again immediately, as a supervisor's restart does.
    const again = await GenServer.start(B, undefined, { logger, name: 'busy', registry })
    assert.equal(registry.whereis('busy'), again)
    await GenServer.stop(again)
  })

  test('a linked peer (not the parent) crashing kills a non-trapping process with 500 queued casts at once, with the same reason', async () => {
    const { seen, B } = counting()
    const peer = await GenServer.start(Parent, undefined, { logger })
    const w = await GenServer.start(B, undefined, { logger })
    GenServer.cast(w, 'x')
    await settle()
    await GenServer.call(w, { link: peer })
    for (let i = 0; i < 500; i++) GenServer.cast(w, i)
    const boom = new Error('peer crashed')
    GenServer.exit(peer, boom)
    assert.equal(w.alive, false)
    assert.equal(await GenServer.exited(w), boom)
    await settle()
    assert.equal(seen.handled, 1)
  })

  test('a process trapping exits gets the signal as an Exit message at the end of its mailbox, in order ("transformed into a message")', async () => {
    const got: unknown[] = []
    const T: Behaviour<void, null> = {
      init: (_a, ctx) => {
        ctx.trapExit(true)
        return ok(null)
      },
      handleCast: (m, s) => {
        got.push(m)
        return noreply(s)
      },
      handleInfo: (m, s) => {
        got.push(m instanceof Exit ? `exit ${String(m.reason)}` : m)
        return noreply(s)
      },
      handleCall: (m: Pid, _f, s, ctx) => {
        ctx.link(m)
        return reply(s, s)
      },
    }
    const peer = await GenServer.start(Parent, undefined, { logger })
    const t = await GenServer.start(T, undefined, { logger })
    await GenServer.call(t, peer)
    GenServer.cast(t, 1)
    GenServer.cast(t, 2)
    GenServer.exit(peer, 'boom')
    GenServer.exit(t, 'other')
    GenServer.cast(t, 3)
    await settle()
    assert.deepEqual(got, [1, 2, 'exit boom', 'exit other', 3])
    assert.equal(t.alive, true)
    // erlang:exit/2 from inside a process: the Exit names the sender.
    const froms: unknown[] = []
    const Sender: Behaviour<void, null> = {
      init: () => ok(null),
      handleCast: (target: Pid, s) => {
        GenServer.exit(target, 'from-a-process')
        return noreply(s)
      },
    }
    const sender = await GenServer.start(Sender, undefined, { logger })
    const Recorder: Behaviour<void, null> = {
      init: (_a, ctx) => {
        ctx.trapExit(true)
        return ok(null)
      },
      handleInfo: (m, s) => {
        if (m instanceof Exit) froms.push(m.from, m.reason)
        return noreply(s)
      },
    }
    const rec = await GenServer.start(Recorder, undefined, { logger })
    GenServer.cast(sender, rec)
    GenServer.exit(rec, 'from-outside')
    await settle()
    assert.equal(froms.length, 4)
    assert.deepEqual(froms.slice(0, 2), [undefined, 'from-outside'])
    assert.equal(froms[2], sender)
    assert.equal(froms[3], 'from-a-process')
    // kill cannot be trapped.
    GenServer.exit(t, 'kill')
    assert.equal(t.alive, false)
    assert.equal(await GenServer.exited(t), 'killed')
  })

  test("a trapping child stops in order on its parent's exit, running terminate (gen_server: EXIT from the parent)", async () => {
    const parent = await GenServer.start(Parent, undefined, { logger })
    const { seen, B } = counting({ trap: true })
    const w = await GenServer.start(B, undefined, { logger, link: parent })
    for (let i = 0; i < 10; i++) GenServer.cast(w, i)
    GenServer.exit(parent, 'kill')
    assert.equal(await GenServer.exited(w), 'killed')
    assert.equal(seen.handled, 10, 'the messages before the EXIT were handled')
    assert.equal(seen.terminated, true)
  })

  test('an exit signal while init runs kills the process and rejects its start with StartError', async () => {
    const hold = gate()
    const Slow: Behaviour<void, null> = {
      init: async () => {
        await hold.promise
        return ok(null)
      },
    }
    const registry = new Registry()
    const parent = await GenServer.start(Parent, undefined, { logger })
    const starting = GenServer.start(Slow, undefined, { logger, link: parent, name: 'slow', registry })
    await settle()
    GenServer.exit(parent, 'kill')
    await assert.rejects(starting, (e: StartError) => e instanceof StartError && e.reason === 'killed')
    assert.equal(registry.whereis('slow'), undefined)
    hold.open()
    await settle()
  })
})

describe('links and monitors of a process that already exited get noproc', () => {
  const Linker: Behaviour<{ trap: boolean }, unknown[]> = {
    init: ({ trap }, ctx) => {
      ctx.trapExit(trap)
      return ok([])
    },
    handleCall: (m: { link?: Pid; monitor?: Pid }, _f, s, ctx) => {
      if (m.link) ctx.link(m.link)
      if (m.monitor) return reply(ctx.monitor(m.monitor), s)
      return reply(s, s)
    },
    handleInfo: (m, s) => noreply([...s, m]),
  }

  async function deadProcess(): Promise<Pid> {
    const a = await GenServer.start(Parent, undefined, { logger })
    await GenServer.stop(a, 'shutdown')
    return a
  }

  test('erlang:link/1 — a non-trapping process linking to an exited process dies of noproc; its call gets ProcessExitedError', async () => {
    const dead = await deadProcess()
    const w = await GenServer.start(Linker, { trap: false }, { logger })
    await assert.rejects(GenServer.call(w, { link: dead }), (e: Error & { code?: string }) => e.code === 'ERR_EXITED')
    assert.equal(await GenServer.exited(w), 'noproc')
  })

  test("erlang:link/1 — a trapping process linking to an exited process gets {'EXIT', Pid, noproc}, not the old reason", async () => {
    const dead = await deadProcess()
    const w = await GenServer.start(Linker, { trap: true }, { logger })
    await GenServer.call(w, { link: dead })
    const got = (await GenServer.call(w, {})) as Exit[]
    assert.equal(got.length, 1)
    assert.ok(got[0] instanceof Exit)
    assert.equal(got[0].from, dead)
    assert.equal(got[0].reason, 'noproc')
    await GenServer.stop(w)
  })

  test('erlang:monitor/2 — monitoring an exited process delivers Down noproc as a message, after the monitor call returned', async () => {
    const dead = await deadProcess()
    const w = await GenServer.start(Linker, { trap: false }, { logger })
    const ref = await GenServer.call(w, { monitor: dead })
    const got = (await GenServer.call(w, {})) as Down[]
    assert.deepEqual(
      got.map((d) => [d instanceof Down, d.ref, d.pid, d.reason]),
      [[true, ref, dead, 'noproc']],
    )
    await GenServer.stop(w)
  })

  test('a process started with link: to an exited parent does not start: StartError noproc', async () => {
    const dead = await deadProcess()
    await assert.rejects(GenServer.start(Parent, undefined, { logger, link: dead }), (e: StartError) => e instanceof StartError && e.reason === 'noproc')
  })
})

describe('gen_server:call/3 — a call to self fails at once with calling_self', () => {
  const Selfish: Behaviour<void, number> = {
    init: () => ok(0),
    handleCall: async (m: string, _f, n, ctx) => {
      if (m === 'self-sync') {
        try {
          await GenServer.call(ctx.self, 'get')
          return reply('no error', n)
        } catch (e) {
          return reply(e, n)
        }
      }
      if (m === 'self-after-await') {
        await new Promise((r) => setImmediate(r))
        await Promise.resolve()
        try {
          await GenServer.call(ctx.self, 'get', 60_000)
          return reply('no error', n)
        } catch (e) {
          return reply(e, n)
        }
      }
      return reply(n, n)
    },
  }

  test('before and after an await in the callback, by pid: CallingSelfError (ERR_CALLING_SELF, reason calling_self), no timeout waited', async () => {
    const clock = new FakeClock()
    const pid = await GenServer.start(Selfish, undefined, { logger, clock })
    for (const m of ['self-sync', 'self-after-await']) {
      const err = (await GenServer.call(pid, m)) as CallingSelfError
      assert.ok(err instanceof CallingSelfError, `${m}: ${String(err)}`)
      assert.equal(err.code, 'ERR_CALLING_SELF')
      assert.equal(err.reason, 'calling_self')
    }
    assert.equal(clock.now(), 0, 'no time passed: nothing waited for a timeout')
    await GenServer.stop(pid)
  })

  test('by name from init, too; while calls from other processes and plain code keep working', async () => {
    const registry = new Registry()
    let fromInit: unknown
    const Named: Behaviour<void, number> = {
      init: async () => {
        fromInit = await GenServer.call({ registry, name: 'named' }, 'get').catch((e) => e)
        return ok(7)
      },
      handleCall: (_m, _f, n) => reply(n, n),
    }
    const pid = await GenServer.start(Named, undefined, { logger, name: 'named', registry })
    assert.ok(fromInit instanceof CallingSelfError)
    const Caller: Behaviour<void, null> = {
      init: () => ok(null),
      handleCall: async (_m, _f, s) => reply(await GenServer.call(pid, 'x'), s),
    }
    const caller = await GenServer.start(Caller, undefined, { logger })
    assert.equal(await GenServer.call(caller, 'go'), 7)
    assert.equal(await GenServer.call(pid, 'x'), 7)
    await GenServer.stop(caller)
    await GenServer.stop(pid)
  })

  test('gen_server:stop/3 on itself from a callback rejects with CallingSelfError instead of waiting forever', async () => {
    let got: unknown
    const Stopper: Behaviour<void, null> = {
      init: () => ok(null),
      handleCast: async (_m, s, ctx) => {
        got = await GenServer.stop(ctx.self).catch((e) => e)
        return noreply(s)
      },
      handleCall: (_m, _f, s) => reply('alive', s),
    }
    const pid = await GenServer.start(Stopper, undefined, { logger })
    GenServer.cast(pid, 'stop yourself')
    assert.equal(await GenServer.call(pid, 'ping'), 'alive')
    assert.ok(got instanceof CallingSelfError)
    await GenServer.stop(pid)
  })

  test('a timer set up by a callback that later calls its process is not a self-call: it is answered', async () => {
    let answer: unknown
    const Ticker: Behaviour<void, number> = {
      init: () => ok(1),
      handleCast: (_m, n, ctx) => {
        setImmediate(() => {
          GenServer.call(ctx.self, 'get').then(
            (v) => (answer = v),
            (e) => (answer = e),
          )
        })
        return noreply(n + 1)
      },
      handleCall: (_m, _f, n) => reply(n, n),
    }
    const pid = await GenServer.start(Ticker, undefined, { logger })
    GenServer.cast(pid, 'tick')
    await new Promise((r) => setImmediate(r))
    await settle()
    assert.equal(answer, 2)
    await GenServer.stop(pid)
  })

  test('CallTimeoutError still applies to a busy peer (the check is not a false positive)', async () => {
    const clock = new FakeClock()
    const hold = gate()
    const Busy: Behaviour<void, null> = {
      init: () => ok(null),
      handleCall: async (_m, _f, s) => {
        await hold.promise
        return reply('late', s)
      },
    }
    const pid = await GenServer.start(Busy, undefined, { logger, clock })
    void GenServer.call(pid, 'first', Number.POSITIVE_INFINITY)
    const second = GenServer.call(pid, 'second', 100)
    await settle()
    clock.advance(100)
    await assert.rejects(second, CallTimeoutError)
    hold.open()
    await GenServer.stop(pid)
  })
})

describe('GenServer.info', () => {
  test('links are pids (the same handles start returned), never runtime objects with state', async () => {
    const parent = await GenServer.start(Parent, undefined, { logger })
    const { B } = counting()
    const child = await GenServer.start(B, undefined, { logger, link: parent })
    const links = GenServer.info(parent).links
    assert.equal(links.length, 1)
    assert.equal(links[0], child)
    assert.equal(GenServer.info(child).links[0], parent)
    const Monitoring: Behaviour<Pid, null> = {
      init: (target, ctx) => {
        ctx.monitor(target)
        return ok(null)
      },
    }
    const m = await GenServer.start(Monitoring, child, { logger })
    assert.deepEqual(
      GenServer.info(m).monitors.map((x) => [typeof x.ref, x.pid]),
      [['number', child]],
    )
    assert.equal(GenServer.info(m).monitors[0]?.pid, child)
    assert.equal(GenServer.info(child).monitoredBy[0], m)
    for (const l of links) {
      assert.deepEqual(Object.keys(l).sort(), [], 'a pid has no enumerable fields')
      assert.equal((l as unknown as { state?: unknown }).state, undefined)
      assert.equal((l as unknown as { behaviour?: unknown }).behaviour, undefined)
      assert.equal(typeof l.id, 'number')
      assert.equal(l.alive, true)
    }
    GenServer.exit(parent, 'kill')
  })
})
