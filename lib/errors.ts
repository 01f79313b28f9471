/**
 * The base of every error kubevisor throws or hands to a supervisor.
 *
 * Each failure has a stable `code` (e.g. `ERR_CALL_TIMEOUT`) that callers can switch on
 * without parsing messages, and carries the underlying failure as the standard `cause`.
 * The layers define their own subclasses next to the code that throws them.
 *
 * @example
 * ```ts
 * try { await GenServer.call('counter', 'get', 100) }
 * catch (err) { if (err instanceof KubevisorError && err.code === 'ERR_CALL_TIMEOUT') retry() }
 * ```
 */
export class KubevisorError extends Error {
  /** A stable, machine-readable identifier of the failure. */
  readonly code: string

  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.code = code
    this.name = new.target.name
  }
}
