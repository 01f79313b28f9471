/**
 * Time, injected. Every component that waits (process timeouts, call timeouts,
 * supervisor intensity windows, backoff, queue delays) reads time and schedules timers
 * through a `Clock`, so tests drive time with `FakeClock` from `kubevisor/testing`
 * instead of sleeping for real.
 */

/** An opaque handle returned by {@link Clock.setTimeout}. */
export type TimerHandle = unknown

/** The source of time and timers. `now()` is monotonic milliseconds. */
export interface Clock {
  /** Monotonic milliseconds; only differences are meaningful. */
  now(): number
  /** Calls `fn` once after `ms` milliseconds (0 or negative: as soon as possible). */
  setTimeout(fn: () => void, ms: number): TimerHandle
  /** Cancels a timer; a handle that already fired or was cleared is ignored. */
  clearTimeout(handle: TimerHandle): void
}

/** The real clock: `performance.now()` and Node's timers. */
export const systemClock: Clock = {
  now: () => performance.now(),
  setTimeout: (fn, ms) => setTimeout(fn, Math.max(0, ms)),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
}

/**
 * Resolves after `ms` on `clock`; rejects with the signal's reason if `signal` aborts first.
 */
export function sleep(clock: Clock, ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason)
      return
    }
    const onAbort = () => {
      clock.clearTimeout(handle)
      reject(signal?.reason)
    }
    const handle = clock.setTimeout(() => {
      signal?.removeEventListener('abort', onAbort)
      resolve()
    }, ms)
    signal?.addEventListener('abort', onAbort, { once: true })
  })
}
