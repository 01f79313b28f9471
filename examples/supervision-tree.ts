/**
 * A GenServer and a supervision tree, end to end.
 *
 * - `Cache` is a GenServer: state threaded through callbacks, `call` for reads and writes,
 *   `sendAfter` + `handleInfo` for a periodic sweep, `terminate` for cleanup.
 * - `Flaky` crashes on a poisoned message; its supervisor restarts it with a fresh state.
 * - A nested `DynamicSupervisor` runs workers started on demand.
 *
 *   ./dev node --conditions=source examples/supervision-tree.ts
 */
import pretty from 'pino-pretty'
import {
  type Behaviour,
  createLogger,
  DynamicSupervisor,
  GenServer,
  noreply,
  ok,
  type Pid,
  reply,
  Supervisor,
  supervisor,
  worker,
} from 'kubevisor'

const logger = createLogger({ level: 'info', destination: pretty({ colorize: false, ignore: 'hostname', sync: true }) })

// --- A GenServer -----------------------------------------------------------------------

type CacheCall = { op: 'get'; key: string } | { op: 'put'; key: string; value: string; ttlMs?: number } | { op: 'size' }
interface CacheState {
  entries: Map<string, { value: string; expiresAt: number }>
  sweepEveryMs: number
}

const Cache: Behaviour<{ sweepEveryMs: number }, CacheState, CacheCall> = {
  init: ({ sweepEveryMs }, ctx) => {
    ctx.sendAfter('sweep', sweepEveryMs)
    return ok({ entries: new Map(), sweepEveryMs })
  },
  handleCall: (msg, _from, state, ctx) => {
    switch (msg.op) {
      case 'get':
        return reply(state.entries.get(msg.key)?.value, state)
      case 'put':
        state.entries.set(msg.key, { value: msg.value, expiresAt: ctx.clock.now() + (msg.ttlMs ?? 60_000) })
        return reply('ok', state)
      case 'size':
        return reply(state.entries.size, state)
    }
  },
  handleInfo: (msg, state, ctx) => {
    if (msg === 'sweep') {
      const now = ctx.clock.now()
      for (const [key, entry] of state.entries) if (entry.expiresAt <= now) state.entries.delete(key)
      ctx.sendAfter('sweep', state.sweepEveryMs)
    }
    return noreply(state)
  },
  terminate: (reason, state, ctx) => {
    ctx.log.info({ reason, entries: state.entries.size }, 'cache stopping')
  },
}

// --- A worker that crashes ----------------------------------------------------------------

const Flaky: Behaviour<void, { handled: number }> = {
  init: () => ok({ handled: 0 }),
  handleCall: (msg, _from, state) => {
    if (msg === 'poison') throw new Error('poisoned message')
    return reply(state.handled + 1, { handled: state.handled + 1 })
  },
}

// --- The tree ---------------------------------------------------------------------------

const root = await Supervisor.start(
  [
    worker(Cache, { sweepEveryMs: 1000 }, { name: 'cache' }),
    worker(Flaky, undefined, { name: 'flaky' }),
    supervisor([], { id: 'jobs-sup', strategy: 'one_for_one' }),
    { id: 'jobs', type: 'supervisor', start: (env) => DynamicSupervisor.start({ ...env, name: 'jobs', maxChildren: 10 }) },
  ],
  { strategy: 'one_for_one', maxRestarts: 3, maxSeconds: 5, logger },
)

await GenServer.call('cache', { op: 'put', key: 'greeting', value: 'hello' })
console.log('cache greeting =', await GenServer.call('cache', { op: 'get', key: 'greeting' }))

const before = GenServer.whereis('flaky') as Pid
console.log('flaky handled', await GenServer.call('flaky', 'work'), 'message(s)')
await GenServer.call('flaky', 'poison').catch((err: Error) => console.log('the poisoned call failed:', err.message))
await GenServer.exited(before)
await Supervisor.whichChildren(root) // handled after the restart: a supervisor does one thing at a time
const after = GenServer.whereis('flaky') as Pid
console.log(`flaky restarted: ${before} → ${after}; it starts over at`, await GenServer.call('flaky', 'work'))

for (const n of [1, 2, 3]) await DynamicSupervisor.startChild('jobs', worker(Cache, { sweepEveryMs: 500 * n }))
console.log('jobs running:', (await DynamicSupervisor.countChildren('jobs')).active)
console.log(
  'tree:',
  (await Supervisor.whichChildren(root)).map((c) => `${c.id}=${String(c.pid)}`),
)

await Supervisor.stop(root) // children stop in reverse order: jobs, jobs-sup, flaky, cache
console.log('stopped; cache alive?', GenServer.whereis('cache') !== undefined)
