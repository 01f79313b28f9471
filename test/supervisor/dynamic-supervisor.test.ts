// DynamicSupervisor, pinned to Elixir's DynamicSupervisor docs.
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { type Behaviour, GenServer, ok, type Pid, reply, stop } from '../../lib/actor/index.ts'
import { type ChildOperationError, ChildStartError, DynamicSupervisor, InvalidChildSpecError, worker } from '../../lib/supervisor/index.ts'
import { settle } from '../../lib/testing/fake-clock.ts'
import { silent as logger } from '../support/log.ts'

const W: Behaviour<string, string> = {
  init: (id) => ok(id),
  handleCall: (_m, _f, id) => reply(id, id),
  handleCast: (msg: 'crash' | 'quit', id) => {
    if (msg === 'crash') throw new Error('crash')
    return stop('normal', id)
  },
}

describe('DynamicSupervisor', () => {
  test('starts children on demand and restarts a crashed permanent one with a new pid', async () => {
    const sup = await DynamicSupervisor.start({ logger })
    const a = (await DynamicSupervisor.startChild(sup, worker(W, 'a'))) as Pid
    assert.equal(await GenServer.call(a, 'id'), 'a')
    GenServer.cast(a, 'crash')
    await GenServer.exited(a)
    const rows = await DynamicSupervisor.whichChildren(sup)
    assert.equal(rows.length, 1)
    const b = rows[0]?.pid as Pid
    assert.notEqual(b, a)
    assert.equal(await GenServer.call(b, 'id'), 'a', 'restarted from the same spec')
    await GenServer.stop(sup)
  })

  test('a transient child that exits normally is forgotten; a temporary one is never restarted', async () => {
    const sup = await DynamicSupervisor.start({ logger })
    const t = (await DynamicSupervisor.startChild(sup, worker(W, 't', { restart: 'transient' }))) as Pid
    const tmp = (await DynamicSupervisor.startChild(sup, worker(W, 'tmp', { restart: 'temporary' }))) as Pid
    GenServer.cast(t, 'quit')
    GenServer.cast(tmp, 'crash')
    await GenServer.exited(t)
    await GenServer.exited(tmp)
    assert.deepEqual(await DynamicSupervisor.countChildren(sup), { specs: 0, active: 0, supervisors: 0, workers: 0 })
    await GenServer.stop(sup)
  })

  test('maxChildren: "the maximum amount of children to be running under this supervisor at the same time"', async () => {
    const sup = await DynamicSupervisor.start({ logger, maxChildren: 2 })
    await DynamicSupervisor.startChild(sup, worker(W, 'a'))
    const b = (await DynamicSupervisor.startChild(sup, worker(W, 'b'))) as Pid
    await assert.rejects(DynamicSupervisor.startChild(sup, worker(W, 'c')), (e: ChildOperationError) => e.code === 'ERR_MAX_CHILDREN')
    await DynamicSupervisor.terminateChild(sup, b)
    assert.equal(b.alive, false)
    assert.ok(await DynamicSupervisor.startChild(sup, worker(W, 'c')))
    await assert.rejects(DynamicSupervisor.terminateChild(sup, b), (e: ChildOperationError) => e.code === 'ERR_CHILD_NOT_FOUND')
    await GenServer.stop(sup)
  })

  test('a child that fails to start is reported as ChildStartError and not kept', async () => {
    const sup = await DynamicSupervisor.start({ logger })
    await assert.rejects(DynamicSupervisor.startChild(sup, worker({ init: () => stop('nope') }, 1)), ChildStartError)
    assert.equal((await DynamicSupervisor.countChildren(sup)).specs, 0)
    await GenServer.stop(sup)
  })

  test('shuts its children down concurrently, not one after another', async () => {
    let inTerminate = 0
    let maxConcurrent = 0
    let release!: () => void
    const gate = new Promise<void>((r) => {
      release = r
    })
    const Slow: Behaviour = {
      init: () => ok(null),
      terminate: async () => {
        inTerminate++
        maxConcurrent = Math.max(maxConcurrent, inTerminate)
        await gate
        inTerminate--
      },
    }
    const sup = await DynamicSupervisor.start({ logger })
    for (let i = 0; i < 3; i++) await DynamicSupervisor.startChild(sup, worker(Slow, undefined))
    const stopped = GenServer.stop(sup)
    await settle()
    assert.equal(maxConcurrent, 3)
    release()
    await stopped
  })

  test('exceeding the restart intensity shuts it down with reason shutdown', async () => {
    const sup = await DynamicSupervisor.start({ logger, maxRestarts: 1 })
    await DynamicSupervisor.startChild(sup, worker(W, 'a'))
    for (let i = 0; i < 2; i++) {
      const pid = (await DynamicSupervisor.whichChildren(sup))[0]?.pid as Pid
      GenServer.cast(pid, 'crash')
      await GenServer.exited(pid)
    }
    assert.equal(await GenServer.exited(sup), 'shutdown')
  })

  test('bad options are rejected with InvalidChildSpecError', async () => {
    await assert.rejects(DynamicSupervisor.start({ maxChildren: -1 }), InvalidChildSpecError)
    await assert.rejects(DynamicSupervisor.start({ maxRestarts: 1.5 }), InvalidChildSpecError)
    await assert.rejects(DynamicSupervisor.start({ maxSeconds: 0 }), InvalidChildSpecError)
  })
})
