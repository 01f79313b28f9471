import type { After, ExitReason, InitResult, NoReply, StopResult } from './types.ts'

/** `init` succeeded: run with `state`. */
export function ok<S>(state: S, after?: After): InitResult<S> {
  return { tag: 'ok', state, after }
}

/** `init` declines to run: `start` rejects with `InitIgnoredError`; supervisors keep the spec. */
export function ignore(): InitResult<never> {
  return { tag: 'ignore' }
}

/** `handleCall`: answer `value` now and continue with `state`. */
export function reply<S, R>(value: R, state: S, after?: After): { readonly tag: 'reply'; readonly value: R; readonly state: S; readonly after: After | undefined } {
  return { tag: 'reply', value, state, after }
}

/** Continue with `state` without replying (from `handleCall`: reply later with `GenServer.reply`). */
export function noreply<S>(state: S, after?: After): NoReply<S> {
  return { tag: 'noreply', state, after }
}

/**
 * Stop the process with `reason`: `terminate(reason, state)` runs, then it exits. From
 * `init` pass only the reason. From `handleCall`, `{ reply: value }` answers the caller first.
 */
export function stop<S = never, R = never>(reason: ExitReason, state?: S, opts?: { reply: R }): StopResult<S, R> & { readonly tag: 'stop' } {
  return { tag: 'stop', reason, state: state as S, reply: opts ? { value: opts.reply } : undefined }
}
