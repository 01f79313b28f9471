// Supervisor semantics as a matrix, like OTP's supervisor_SUITE. Each block quotes the
// Erlang `supervisor` / Elixir `Supervisor` doc sentence it pins down.
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { type Behaviour, type ExitReason, GenServer, ok, type Pid, Registry, reply, stop } from '../../lib/actor/index.ts'
import {
  type ChildSpec,
  type ChildOperationError,
  ChildStartError,
  InvalidChildSpecError,
  type RestartType,
  type Strategy,
  Supervisor,
  supervisor,
  worker,
} from '../../lib/supervisor/index.ts'
import { FakeClock, settle } from '../../lib/testing/fake-clock.ts'
import { captureLogger, silent } from '../support/log.ts'

const logger = silent

/** A worker that exits with whatever reason it is told, and records its terminate calls. */
function makeWorker(journal: string[] = []) {
  const W: Behaviour<string, string> = {
    init: (id) => {
      journal.push(`start ${id}`)
      return ok(id)
    },
    handleCast: (msg: { exit: ExitReason } | { throw: string }, id) => {
      if ('throw' in msg) throw new Error(msg.throw)
      return stop(msg.exit, id)
    },
    handleCall: (_m, _f, id) => reply(id, id),
    terminate: (_reason, id) => {
      journal.push(`stop ${id}`)
    },
  }
  return W
}

async function pidsOf(sup: Pid): Promise<Record<string, Pid | 'restarting' | undefined>> {
  const rows = await Supervisor.whichChildren(sup)
  return Object.fromEntries(rows.map((r) => [r.id, r.pid]))
}

/** Makes `pid` exit with `reason`: crash by throw, brutal kill, or return stop(reason). */
async function exitWith(pid: Pid, reason: 'normal' | 'shutdown' | '{shutdown}' | 'crash' | 'killed') {
  if (reason === 'crash') GenServer.cast(pid, { throw: 'boom' })
  else if (reason === 'killed') GenServer.exit(pid, 'kill')
  else GenServer.cast(pid, { exit: reason === '{shutdown}' ? { shutdown: 'done' } : reason })
  await GenServer.exited(pid)
}

describe('restart type × exit reason × strategy', () => {
  // "permanent: the child process is always restarted. temporary: never restarted.
  //  transient: restarted only if it terminates abnormally, that is, with an exit reason
  //  other than normal, shutdown, or {shutdown,Term}." (Erlang supervisor docs)
  // "one_for_one - if one child process terminates and is to be restarted, only that child
  //  process is affected. one_for_all - ... all other child processes are terminated and then
  //  all child processes are restarted. rest_for_one - ... the 'rest' of the child processes
  //  (that is, the child processes after the terminated child process in the start order) are
  //  terminated. Then the terminated child process and all child processes after it are restarted."
  const reasons = ['normal', 'shutdown', '{shutdown}', 'crash', 'killed'] as const
  const types: RestartType[] = ['permanent', 'transient', 'temporary']
  const strategies: Strategy[] = ['one_for_one', 'one_for_all', 'rest_for_one']
  const abnormal = new Set(['crash', 'killed'])

  for (const strategy of strategies) {
    for (const restart of types) {
      for (const reason of reasons) {
        const restarts = restart === 'permanent' || (restart === 'transient' && abnormal.has(reason))
        const affected = !restarts ? [] : strategy === 'one_for_one' ? ['b'] : strategy === 'one_for_all' ? ['a', 'b', 'c'] : ['b', 'c']
        test(`${strategy}: a ${restart} child exiting ${reason} → ${restarts ? `restart ${affected.join(',')}` : restart === 'temporary' ? 'spec removed' : 'kept, not running'}`, async () => {
          const W = makeWorker()
          const sup = await Supervisor.start(
            [worker(W, 'a', { id: 'a' }), worker(W, 'b', { id: 'b', restart }), worker(W, 'c', { id: 'c' })],
            { strategy, maxRestarts: 10, logger },
          )
          const before = await pidsOf(sup)
          await exitWith(before.b as Pid, reason)
          const after = await pidsOf(sup)
          for (const id of ['a', 'b', 'c']) {
            if (id === 'b' && !restarts) {
              if (restart === 'temporary') assert.equal(id in after, false, 'temporary spec should be removed')
              else assert.equal(after.b, undefined)
              continue
            }
            const changed = after[id] !== before[id]
            assert.equal(changed, affected.includes(id), `child ${id} restarted=${changed}`)
            assert.equal((after[id] as Pid).alive, true)
          }
          await Supervisor.stop(sup)
        })
      }
    }
  }

  test('one_for_all: temporary siblings terminated because of another child are not restarted', async () => {
    // "temporary ... is never restarted (not even when the supervisor's restart strategy is
    //  rest_for_one or one_for_all and a sibling's death causes the temporary process to be terminated)"
    const W = makeWorker()
    const sup = await Supervisor.start([worker(W, 'a', { id: 'a', restart: 'temporary' }), worker(W, 'b', { id: 'b' })], { strategy: 'one_for_all', logger })
    const before = await pidsOf(sup)
    await exitWith(before.b as Pid, 'crash')
    const after = await pidsOf(sup)
    assert.deepEqual(Object.keys(after), ['b'])
    assert.equal((before.a as Pid).alive, false)
    await Supervisor.stop(sup)
  })
})

describe('restart intensity', () => {
  // "If more than MaxR restarts occur within MaxT seconds, the supervisor terminates all the
  //  child processes and then itself. The termination reason for the supervisor itself in that
  //  case will be shutdown. intensity defaults to 1 and period defaults to 5." (Elixir: 3 and 5.)
  test('defaults are 3 restarts in 5 seconds: the 4th crash within the window shuts the supervisor down with reason shutdown', async () => {
    const clock = new FakeClock()
    const journal: string[] = []
    const W = makeWorker(journal)
    const sup = await Supervisor.start([worker(W, 'a', { id: 'a' }), worker(W, 'b', { id: 'b' })], { logger, clock })
    for (let i = 0; i < 3; i++) {
      await exitWith((await pidsOf(sup)).b as Pid, 'crash')
      await clock.advance(1000)
    }
    assert.equal(sup.alive, true)
    const a = (await pidsOf(sup)).a as Pid
    await exitWith((await pidsOf(sup)).b as Pid, 'crash')
    assert.equal(await GenServer.exited(sup), 'shutdown')
    assert.equal(a.alive, false, 'children are terminated before the supervisor exits')
    assert.equal(journal.at(-1), 'stop a')
  })

  test('restarts older than maxSeconds no longer count', async () => {
    const clock = new FakeClock()
    const sup = await Supervisor.start([worker(makeWorker(), 'a', { id: 'a' })], { logger, clock, maxRestarts: 2, maxSeconds: 5 })
    for (let i = 0; i < 6; i++) {
      await exitWith((await pidsOf(sup)).a as Pid, 'crash')
      await clock.advance(2600) // at most two restarts in any 5 s window
    }
    assert.equal(sup.alive, true)
    await Supervisor.stop(sup)
  })

  test('maxRestarts 0: the first restart is one too many', async () => {
    const sup = await Supervisor.start([worker(makeWorker(), 'a', { id: 'a' })], { logger, maxRestarts: 0 })
    await exitWith((await pidsOf(sup)).a as Pid, 'crash')
    assert.equal(await GenServer.exited(sup), 'shutdown')
  })

  test('a child that exits without being restarted does not count', async () => {
    const sup = await Supervisor.start([worker(makeWorker(), 'a', { id: 'a', restart: 'transient' })], { logger, maxRestarts: 0 })
    await exitWith((await pidsOf(sup)).a as Pid, 'normal')
    assert.equal((await Supervisor.countChildren(sup)).active, 0)
    assert.equal(sup.alive, true)
    await Supervisor.stop(sup)
  })

  test('escalation through two levels: a flapping grandchild shuts down its supervisor, whose restarts then shut down the root', async () => {
    // A supervisor that gives up exits with `shutdown`; its own supervisor restarts it like any
    // permanent child and counts that restart against its own intensity.
    const registry = new Registry()
    const cap = captureLogger('info')
    const W = makeWorker()
    const root = await Supervisor.start([supervisor([worker(W, 'leaf', { id: 'leaf', name: 'leaf' })], { id: 'mid', maxRestarts: 1, name: 'mid' })], {
      maxRestarts: 1,
      logger: cap.logger,
      registry,
    })
    const mids: Pid[] = []
    for (let round = 0; round < 2; round++) {
      const mid = registry.whereis('mid') as Pid
      mids.push(mid)
      await exitWith(registry.whereis('leaf') as Pid, 'crash')
      await exitWith(registry.whereis('leaf') as Pid, 'crash')
      assert.equal(await GenServer.exited(mid), 'shutdown')
      await settle()
    }
    assert.equal(await GenServer.exited(root), 'shutdown')
    assert.notEqual(mids[0], mids[1], 'the root restarted mid once')
    const gaveUp = cap.lines.filter((l) => l.msg === 'reached maximum restart intensity; shutting down')
    assert.equal(gaveUp.length, 3, 'mid twice, then root')
  })
})

describe('start and shutdown order', () => {
  test('children start in order and stop in reverse order on shutdown', async () => {
    // "the children are started in the order in which they are defined ... terminated in reverse start order"
    const journal: string[] = []
    const W = makeWorker(journal)
    const sup = await Supervisor.start(['a', 'b', 'c'].map((id) => worker(W, id, { id })), { logger })
    await Supervisor.stop(sup)
    assert.deepEqual(journal, ['start a', 'start b', 'start c', 'stop c', 'stop b', 'stop a'])
  })

  test('a child failing to start stops those already started, in reverse, and the start fails with ChildStartError', async () => {
    // "If any of the child processes fails to start ... the supervisor terminates all child
    //  processes started so far and returns {error, {shutdown, {failed_to_start_child, ...}}}"
    const journal: string[] = []
    const W = makeWorker(journal)
    const Failing: Behaviour = { init: () => stop('no_config') }
    const err = await Supervisor.start(
      [worker(W, 'a', { id: 'a' }), worker(W, 'b', { id: 'b' }), worker(Failing, undefined, { id: 'bad' }), worker(W, 'c', { id: 'c' })],
      { logger },
    ).catch((e) => e)
    assert.ok(err instanceof ChildStartError)
    assert.equal(err.code, 'ERR_CHILD_START')
    assert.equal(err.childId, 'bad')
    assert.deepEqual(journal, ['start a', 'start b', 'stop b', 'stop a'])
  })

  test("shutdown: a number of ms is an orderly stop, killed when it takes longer; 'brutal_kill' skips terminate", async () => {
    const clock = new FakeClock()
    const journal: string[] = []
    const Hanging: Behaviour<string, string> = {
      init: (id) => ok(id),
      terminate: (_r, id) => {
        journal.push(`terminate ${id}`)
        return new Promise(() => {}) // never finishes
      },
    }
    const sup = await Supervisor.start(
      [worker(Hanging, 'slow', { id: 'slow', shutdown: 2000 }), worker(Hanging, 'brutal', { id: 'brutal', shutdown: 'brutal_kill' })],
      { logger, clock },
    )
    const { slow, brutal } = (await pidsOf(sup)) as Record<string, Pid>
    const stopped = Supervisor.stop(sup)
    await settle()
    assert.equal(brutal?.alive, false)
    assert.equal(await GenServer.exited(brutal as Pid), 'killed')
    assert.deepEqual(journal, ['terminate slow'])
    await clock.advance(1999)
    assert.equal(slow?.alive, true)
    await clock.advance(1)
    await stopped
    assert.equal(await GenServer.exited(slow as Pid), 'killed')
  })

  test("shutdown 'infinity' waits for the child however long terminate takes", async () => {
    const clock = new FakeClock()
    let release!: () => void
    const Slow: Behaviour = { init: () => ok(null), terminate: () => new Promise<void>((r) => { release = r }) }
    const sup = await Supervisor.start([worker(Slow, undefined, { id: 's', shutdown: 'infinity' })], { logger, clock })
    const child = (await pidsOf(sup)).s as Pid
    const stopped = Supervisor.stop(sup)
    await clock.advance(3_600_000)
    assert.equal(child.alive, true)
    release()
    await stopped
    assert.equal(await GenServer.exited(child), 'shutdown')
  })

  test('a supervisor stopped by its own supervisor stops its children first', async () => {
    const journal: string[] = []
    const W = makeWorker(journal)
    const root = await Supervisor.start([supervisor([worker(W, 'x', { id: 'x' }), worker(W, 'y', { id: 'y' })], { id: 'inner' }), worker(W, 'z', { id: 'z' })], { logger })
    await Supervisor.stop(root)
    assert.deepEqual(journal, ['start x', 'start y', 'start z', 'stop z', 'stop y', 'stop x'])
  })

  // A non-trapping gen_server child dies of its killed supervisor's exit signal at once:
  // gen_server runs terminate only for a trapped EXIT from its parent.
  test('when a supervisor is killed, its non-trapping children die of the exit signal through their link at once, without terminate', async () => {
    const journal: string[] = []
    const sup = await Supervisor.start([worker(makeWorker(journal), 'a', { id: 'a' })], { logger })
    const a = (await pidsOf(sup)).a as Pid
    GenServer.exit(sup, 'kill')
    assert.equal(a.alive, false)
    assert.equal(await GenServer.exited(a), 'killed')
    assert.deepEqual(journal, ['start a'])
  })
})

describe('child operations', () => {
  test('whichChildren and countChildren describe specs and running children', async () => {
    const W = makeWorker()
    const sup = await Supervisor.start([worker(W, 'a', { id: 'a' }), supervisor([], { id: 'nested' })], { logger })
    const rows = await Supervisor.whichChildren(sup)
    assert.deepEqual(
      rows.map((r) => [r.id, r.type, r.restart, typeof r.pid]),
      [
        ['a', 'worker', 'permanent', 'object'],
        ['nested', 'supervisor', 'permanent', 'object'],
      ],
    )
    assert.deepEqual(await Supervisor.countChildren(sup), { specs: 2, active: 2, supervisors: 1, workers: 1 })
    await Supervisor.stop(sup)
  })

  test('terminateChild keeps the spec; restartChild starts it again; deleteChild removes a stopped one', async () => {
    const journal: string[] = []
    const sup = await Supervisor.start([worker(makeWorker(journal), 'a', { id: 'a' })], { logger })
    const first = (await pidsOf(sup)).a as Pid
    await assert.rejects(Supervisor.restartChild(sup, 'a'), (e: ChildOperationError) => e.code === 'ERR_CHILD_RUNNING')
    await assert.rejects(Supervisor.deleteChild(sup, 'a'), (e: ChildOperationError) => e.code === 'ERR_CHILD_RUNNING')
    await Supervisor.terminateChild(sup, 'a')
    assert.equal(first.alive, false)
    assert.deepEqual(await Supervisor.countChildren(sup), { specs: 1, active: 0, supervisors: 0, workers: 1 })
    const second = await Supervisor.restartChild(sup, 'a')
    assert.ok(second && second !== first && second.alive)
    await Supervisor.terminateChild(sup, 'a')
    await Supervisor.deleteChild(sup, 'a')
    assert.deepEqual(await Supervisor.whichChildren(sup), [])
    await assert.rejects(Supervisor.terminateChild(sup, 'a'), (e: ChildOperationError) => e.code === 'ERR_CHILD_NOT_FOUND')
    assert.deepEqual(journal, ['start a', 'stop a', 'start a', 'stop a'])
    await Supervisor.stop(sup)
  })

  test('startChild adds a running child; the same id again is refused', async () => {
    const W = makeWorker()
    const sup = await Supervisor.start([], { logger })
    const pid = await Supervisor.startChild(sup, worker(W, 'x', { id: 'x' }))
    assert.ok(pid?.alive)
    await assert.rejects(Supervisor.startChild(sup, worker(W, 'x', { id: 'x' })), (e: ChildOperationError) => e.code === 'ERR_CHILD_ALREADY_STARTED')
    await Supervisor.terminateChild(sup, 'x')
    await assert.rejects(Supervisor.startChild(sup, worker(W, 'x', { id: 'x' })), (e: ChildOperationError) => e.code === 'ERR_CHILD_ALREADY_PRESENT')
    await assert.rejects(Supervisor.startChild(sup, worker({ init: () => stop('nope') }, 1, { id: 'y' })), ChildStartError)
    await Supervisor.stop(sup)
  })

  test('a child whose init ignores is kept as a stopped spec', async () => {
    const sup = await Supervisor.start([{ id: 'maybe', start: (env) => GenServer.start({ init: () => ({ tag: 'ignore' }) }, 1, env) }], { logger })
    assert.deepEqual(await Supervisor.countChildren(sup), { specs: 1, active: 0, supervisors: 0, workers: 1 })
    await Supervisor.stop(sup)
  })

  test('bad specs and flags are rejected before anything starts, naming the field', async () => {
    const W = makeWorker()
    const cases: [ChildSpec[], object, RegExp][] = [
      [[worker(W, 'a', { id: 'a' }), worker(W, 'a', { id: 'a' })], {}, /duplicate child id "a"/],
      [[{ id: '', start: async () => undefined as never }], {}, /id must be a non-empty string/],
      [[{ id: 'x', start: 'nope' as never }], {}, /start must be a function/],
      [[{ ...worker(W, 'a', { id: 'a' }), restart: 'sometimes' as never }], {}, /restart must be permanent/],
      [[{ ...worker(W, 'a', { id: 'a' }), shutdown: -5 }], {}, /shutdown must be/],
      [[{ ...worker(W, 'a', { id: 'a' }), backoff: { initialMs: 10, maxMs: 1, factor: 2, jitter: 0, resetAfterMs: 0 } }], {}, /backoff\.maxMs/],
      [[], { strategy: 'one_for_some' }, /strategy must be/],
      [[], { maxRestarts: -1 }, /maxRestarts/],
      [[], { maxSeconds: 0 }, /maxSeconds/],
    ]
    for (const [children, flags, message] of cases) {
      await assert.rejects(Supervisor.start(children, { logger, ...flags }), (e: unknown) => e instanceof InvalidChildSpecError && message.test(e.message))
    }
  })

  test('a start function that resolves with something other than a pid fails as ChildStartError', async () => {
    const err = await Supervisor.start([{ id: 'odd', start: async () => ({ id: 1 }) as never }], { logger }).catch((e) => e)
    assert.ok(err instanceof ChildStartError)
    assert.match(err.message, /not a pid/)
  })
})

describe('restart backoff (beyond OTP)', () => {
  test('a child with backoff is restarted after a growing delay and shows as restarting meanwhile', async () => {
    const clock = new FakeClock()
    const sup = await Supervisor.start(
      [worker(makeWorker(), 'a', { id: 'a', backoff: { initialMs: 100, maxMs: 1000, factor: 2, jitter: 0, resetAfterMs: 0 } })],
      { logger, clock, maxRestarts: 100 },
    )
    for (const delay of [100, 200, 400]) {
      await exitWith((await pidsOf(sup)).a as Pid, 'crash')
      assert.equal((await pidsOf(sup)).a, 'restarting')
      await assert.rejects(Supervisor.restartChild(sup, 'a'), (e: ChildOperationError) => e.code === 'ERR_CHILD_RESTARTING')
      await clock.advance(delay - 1)
      assert.equal((await pidsOf(sup)).a, 'restarting')
      await clock.advance(1)
      assert.equal(((await pidsOf(sup)).a as Pid).alive, true)
    }
    await Supervisor.stop(sup)
  })

  test('a restart that fails counts against the intensity and is tried again', async () => {
    // OTP: a failed restart is retried ({try_again_restart, ...}) and each attempt is a restart.
    let attempts = 0
    const Flaky: Behaviour = {
      init: () => {
        attempts++
        return attempts === 1 || attempts >= 4 ? ok(null) : stop('not yet')
      },
      handleCast: () => {
        throw new Error('crash')
      },
    }
    const sup = await Supervisor.start([worker(Flaky, undefined, { id: 'f' })], { logger, maxRestarts: 5 })
    GenServer.cast((await pidsOf(sup)).f as Pid, 'x')
    for (let i = 0; i < 20 && attempts < 4; i++) await settle()
    await settle()
    assert.equal(attempts, 4)
    assert.equal(((await pidsOf(sup)).f as Pid).alive, true)
    await Supervisor.stop(sup)
  })

  test('a restart that keeps failing exhausts the intensity instead of spinning', async () => {
    let attempts = 0
    const Broken: Behaviour = {
      init: () => (++attempts === 1 ? ok(null) : stop('still broken')),
      handleCast: () => {
        throw new Error('crash')
      },
    }
    const sup = await Supervisor.start([worker(Broken, undefined, { id: 'b' })], { logger, maxRestarts: 3 })
    GenServer.cast((await pidsOf(sup)).b as Pid, 'x')
    assert.equal(await GenServer.exited(sup), 'shutdown')
    assert.equal(attempts, 4, 'the initial start plus three failed restarts')
  })
})

describe('logging', () => {
  test('a crashing child is logged once with its stack; the supervisor adds one warning without a stack', async () => {
    const cap = captureLogger('info')
    const sup = await Supervisor.start([worker(makeWorker(), 'a', { id: 'a' })], { logger: cap.logger })
    await exitWith((await pidsOf(sup)).a as Pid, 'crash')
    await Supervisor.whichChildren(sup)
    const errors = cap.lines.filter((l) => l.level >= 50)
    assert.equal(errors.length, 1)
    assert.match(errors[0]?.err?.stack ?? '', /boom/)
    const warn = cap.lines.filter((l) => l.level === 40)
    assert.deepEqual(
      warn.map((l) => [l.msg, l.child, l.reason, 'err' in l]),
      [['child terminated; restarting it', 'a', 'Error: boom', false]],
    )
    await Supervisor.stop(sup)
  })
})
