/**
 * The observer as a supervised child: a process whose `init` starts the page's server and
 * whose `terminate` closes it, so the observer starts and stops with the tree it shows.
 * Without `roots`, it shows the whole tree it runs in (from its topmost ancestor).
 *
 * With the Manager, one line (the observer runs on every replica, leader or not):
 *
 * ```ts
 * mgr.add(observerChildSpec({ port: 8082, leadership: () => mgr.status() }), { needLeaderElection: false })
 * ```
 */
import { type Behaviour, ok, type Pid, parentOf } from '../actor/index.ts'
import type { ChildSpec } from '../supervisor/index.ts'
import { GenServer } from '../actor/index.ts'
import { type Observer, type ObserverOptions, startObserver } from './server.ts'

/** Options of {@link observerChildSpec}: the observer's, plus the child's id and a listener. */
export interface ObserverChildOptions extends ObserverOptions {
  /** The child spec id (default `'observer'`). */
  id?: string
  /** Called once the server listens (e.g. to print `observer.url`, which carries the token if one is required). */
  onListening?: (observer: Observer) => void
}

interface State {
  observer: Observer
}

const ObserverProcess: Behaviour<ObserverChildOptions, State> = {
  behaviourName: 'Observer',
  async init(options, ctx) {
    let top: Pid = ctx.self
    for (let up = parentOf(top); up !== undefined; up = parentOf(top)) top = up
    const { id: _id, onListening, ...rest } = options
    const observer = await startObserver({ logger: ctx.log, clock: ctx.clock, ...rest, roots: rest.roots ?? [top] })
    onListening?.(observer)
    return ok({ observer })
  },
  async terminate(_reason, state) {
    await state.observer.close()
  },
  // The URL may carry the token: show where it listens, never the token.
  formatStatus: (state) => ({ host: state.observer.host, port: state.observer.port, actions: state.observer.actions }),
}

/** A child spec running the observer under a supervisor (see the module doc). */
export function observerChildSpec(options: ObserverChildOptions = {}): ChildSpec {
  return {
    id: options.id ?? 'observer',
    shutdown: 5000,
    start: (env) => GenServer.start(ObserverProcess, options, env),
  }
}
