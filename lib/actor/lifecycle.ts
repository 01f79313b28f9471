import { setup, transition } from 'xstate'

/**
 * The lifecycle of a process, as an explicit statechart:
 *
 * ```
 * starting --init.ok--> running --stop--> stopping --terminated--> exited
 *    |  \--init.ignore / init.failed--> exited        (kill from any state --> exited)
 *
 * `kill` is also the event of an untrapped exit signal (a linked process's crash,
 * `GenServer.exit(pid, reason)`): the process exits at once, from any state, without
 * handling another message and without `terminate`, as in Erlang.
 * ```
 *
 * - `starting`: `init` is running; messages queue up.
 * - `running`: messages are handled one at a time.
 * - `stopping`: a callback returned `stop`, threw, or an exit signal was handled;
 *   `terminate` is running; new messages are dropped.
 * - `exited`: final; links and monitors have been told.
 *
 * The machine is the source of truth for which transitions exist. Processes store only
 * the state name; {@link nextStatus} asks the machine (memoized, so the cost is paid once
 * per state × event pair, never per message).
 */
export const processLifecycle = setup({
  types: {
    events: {} as
      | { type: 'init.ok' }
      | { type: 'init.ignore' }
      | { type: 'init.failed' }
      | { type: 'stop' }
      | { type: 'terminated' }
      | { type: 'kill' },
  },
}).createMachine({
  id: 'process',
  initial: 'starting',
  states: {
    starting: { on: { 'init.ok': 'running', 'init.ignore': 'exited', 'init.failed': 'exited', kill: 'exited' } },
    running: { on: { stop: 'stopping', kill: 'exited' } },
    stopping: { on: { terminated: 'exited', kill: 'exited' } },
    exited: { type: 'final' },
  },
})

export type ProcessStatus = 'starting' | 'running' | 'stopping' | 'exited'
export type LifecycleEvent = 'init.ok' | 'init.ignore' | 'init.failed' | 'stop' | 'terminated' | 'kill'

const memo = new Map<string, ProcessStatus | null>()

/**
 * The status after `event` in `status`, or `null` when the machine does not accept the
 * event there (the caller treats that as a no-op).
 */
export function nextStatus(status: ProcessStatus, event: LifecycleEvent): ProcessStatus | null {
  const key = `${status}|${event}`
  let next = memo.get(key)
  if (next === undefined) {
    const from = processLifecycle.resolveState({ value: status, context: undefined as never })
    const [to] = transition(processLifecycle, from, { type: event })
    next = to === from || to.value === status ? null : (to.value as ProcessStatus)
    memo.set(key, next)
  }
  return next
}
