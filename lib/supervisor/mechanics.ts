import type { ExitReason, Pid } from '../actor/index.ts'
import { asProcess } from '../actor/process.ts'
import type { Clock } from '../time/clock.ts'
import { ChildStartError } from './errors.ts'
import type { ChildEnv, NormalizedSpec, ShutdownPolicy } from './child-spec.ts'

/**
 * Restart intensity, as OTP: "If more than MaxR restarts occur in the last MaxT seconds,
 * the supervisor terminates all the child processes and then itself." `add()` records a
 * restart and says whether the supervisor may go on.
 */
export class RestartIntensity {
  readonly maxRestarts: number
  readonly maxSeconds: number
  #clock: Clock
  #at: number[] = []

  constructor(maxRestarts: number, maxSeconds: number, clock: Clock) {
    this.maxRestarts = maxRestarts
    this.maxSeconds = maxSeconds
    this.#clock = clock
  }

  /** Records a restart now; false when that makes more than maxRestarts within maxSeconds. */
  add(): boolean {
    const now = this.#clock.now()
    const window = this.maxSeconds * 1000
    this.#at = this.#at.filter((t) => now - t < window)
    this.#at.push(now)
    return this.#at.length <= this.maxRestarts
  }

  /** Restarts recorded within the last `maxSeconds` (read-only, for introspection). */
  recent(): number {
    const since = this.#clock.now() - this.maxSeconds * 1000
    let n = 0
    for (const t of this.#at) if (t > since) n++
    return n
  }
}

/**
 * @internal Starts a child from its spec and links it to the supervisor. Whatever `start`
 * did about linking, the child ends up linked with the supervisor as its parent: when the
 * supervisor exits, a child trapping exits stops in order (terminate runs), one that does
 * not dies of the exit signal at once.
 */
export async function startChildProcess(spec: NormalizedSpec, env: ChildEnv): Promise<Pid> {
  const pid = await spec.start(env)
  let child: ReturnType<typeof asProcess>
  try {
    child = asProcess(pid)
  } catch {
    throw new ChildStartError(spec.id, new TypeError(`start of child ${JSON.stringify(spec.id)} resolved with ${String(pid)}, not a pid`))
  }
  const sup = asProcess(env.link)
  child.parent ??= sup
  sup.link(child)
  return child.pid
}

/**
 * @internal Stops a child as OTP's supervisor does: stop receiving its exit as a link
 * signal, then `brutal_kill` → kill; ms → orderly shutdown, killed if still alive after
 * the timeout; `infinity` → orderly shutdown and wait. Resolves with its exit reason.
 */
export async function shutdownChild(supervisor: Pid, pid: Pid, policy: ShutdownPolicy, clock: Clock): Promise<ExitReason> {
  const child = asProcess(pid)
  asProcess(supervisor).unlink(child)
  if (!child.alive) return child.exitReason
  const exited = child.exited()
  if (policy === 'brutal_kill') {
    child.kill()
    return exited
  }
  child.shutdown('shutdown')
  if (policy === 'infinity') return exited
  let timer: unknown
  const late = new Promise<'late'>((resolve) => {
    timer = clock.setTimeout(() => resolve('late'), policy)
  })
  const first = await Promise.race([exited, late])
  clock.clearTimeout(timer)
  if (first === 'late') {
    asProcess(supervisor).log.warn({ child: child.toString(), shutdownMs: policy }, 'child did not stop within its shutdown time; killing it')
    child.kill()
    return exited
  }
  return first
}
