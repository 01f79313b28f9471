import { AlreadyStartedError } from './errors.ts'
import type { Pid } from './types.ts'

/**
 * Unique names for processes, like Erlang's local name registration. A process started
 * with `{ name }` is registered before its `init` runs and released when it exits, so a
 * restarted child can take its name again. One default registry serves `call('name', …)`;
 * create more for isolation (tests, several trees with the same names) and address
 * their processes with `{ registry, name }`.
 */
export class Registry {
  #names = new Map<string, Pid>()

  /** Registers `name` for `pid`; throws `AlreadyStartedError` if a live process holds it. */
  register(name: string, pid: Pid): void {
    if (typeof name !== 'string' || name.length === 0) throw new TypeError('a process name must be a non-empty string')
    const holder = this.#names.get(name)
    if (holder && holder !== pid) {
      if (holder.alive) throw new AlreadyStartedError(name, holder)
    }
    this.#names.set(name, pid)
  }

  /** Releases `name` if it is held by `pid` (or by anyone, when `pid` is omitted). */
  unregister(name: string, pid?: Pid): void {
    if (pid === undefined || this.#names.get(name) === pid) this.#names.delete(name)
  }

  /** The live process registered under `name`, if any. */
  whereis(name: string): Pid | undefined {
    const pid = this.#names.get(name)
    return pid?.alive ? pid : undefined
  }

  /** Names of live processes. */
  names(): string[] {
    return [...this.#names].filter(([, pid]) => pid.alive).map(([name]) => name)
  }

  /** How many names are registered to live processes. */
  get size(): number {
    return this.names().length
  }
}

/** The registry used when no other is given. */
export const defaultRegistry = new Registry()
