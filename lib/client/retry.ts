/**
 * Retrying a read-modify-write on conflict: client-go `util/retry` (`RetryOnConflict`,
 * `OnError`, `DefaultRetry`, `DefaultBackoff`) over apimachinery's `wait.ExponentialBackoff`.
 */
import { isConflict } from '../api/errors.ts'
import { type Clock, sleep, systemClock } from '../time/clock.ts'

/**
 * apimachinery's `wait.Backoff` for a bounded number of tries: `fn` runs at most `steps`
 * times; between two tries the wait is `durationMs`, then × `factor` (capped at `capMs`),
 * each plus a uniformly random extra of up to `jitter` × the wait.
 */
export interface RetryBackoff {
  /** How many times `fn` may run in all (≥ 1). */
  steps: number
  /** The first wait, in ms. */
  durationMs: number
  /** Multiplier of the wait after each try (1 = constant). */
  factor: number
  /** Random extra of up to `jitter` × the wait (0 = none). */
  jitter: number
  /** Largest wait before jitter, in ms; default none. */
  capMs?: number | undefined
}

/**
 * client-go `retry.DefaultRetry`: 5 tries, 10 ms apart, factor 1.0, jitter 0.1 — "the
 * recommended retry for a conflict where multiple clients are making changes to the same
 * resource".
 */
export const DEFAULT_RETRY: Readonly<RetryBackoff> = Object.freeze({ steps: 5, durationMs: 10, factor: 1.0, jitter: 0.1 })

/**
 * client-go `retry.DefaultBackoff`: 4 tries, 10 ms then ×5, jitter 0.1 — "for a conflict
 * where a client is known to be updating the same object" (e.g. a controller's own status).
 */
export const DEFAULT_BACKOFF: Readonly<RetryBackoff> = Object.freeze({ steps: 4, durationMs: 10, factor: 5.0, jitter: 0.1 })

/** Options of {@link onError} and {@link retryOnConflict}. */
export interface RetryOptions {
  /** Time for the waits between tries; default the system clock. */
  clock?: Clock | undefined
  /** Stops waiting (rejects with the signal's reason) when it aborts. */
  signal?: AbortSignal | undefined
  /** The jitter's random source, in [0, 1); default `Math.random`. */
  random?: (() => number) | undefined
}

/**
 * client-go `retry.OnError`: runs `fn` until it succeeds, fails with an error `retriable`
 * rejects (returned at once), or `backoff.steps` tries are used up (then the last error is
 * thrown). Resolves with `fn`'s result.
 */
export async function onError<R>(backoff: RetryBackoff, retriable: (err: unknown) => boolean, fn: () => Promise<R> | R, options: RetryOptions = {}): Promise<R> {
  if (!(Number.isInteger(backoff.steps) && backoff.steps >= 1)) throw new RangeError(`backoff.steps must be an integer ≥ 1, got ${backoff.steps}`)
  const clock = options.clock ?? systemClock
  const random = options.random ?? Math.random
  let duration = backoff.durationMs
  for (let step = 1; ; step++) {
    try {
      return await fn()
    } catch (err) {
      if (!retriable(err) || step >= backoff.steps) throw err
    }
    // wait.Backoff.Step: the wait is the current duration (jittered); the next one grows by factor, up to the cap.
    let wait = duration
    if (backoff.factor !== 0) {
      duration *= backoff.factor
      if (backoff.capMs !== undefined && duration > backoff.capMs) duration = backoff.capMs
    }
    if (backoff.jitter > 0) wait += random() * backoff.jitter * wait
    await sleep(clock, wait, options.signal)
  }
}

/**
 * client-go `retry.RetryOnConflict`: runs `fn` again while it fails with a `ConflictError`
 * (409 `Conflict`: someone changed the object since it was read), up to `backoff.steps`
 * tries. `fn` must re-read the object on each try — a retry with the same stale object
 * conflicts again.
 *
 * @example
 * ```ts
 * await retryOnConflict(DEFAULT_RETRY, async () => {
 *   const cm = await client.get<Plain<V1ConfigMap>>({ apiVersion: 'v1', kind: 'ConfigMap', namespace: 'default', name: 'a' })
 *   cm.data = { ...cm.data, seen: 'yes' }
 *   return client.update(cm)
 * })
 * ```
 */
export function retryOnConflict<R>(backoff: RetryBackoff, fn: () => Promise<R> | R, options: RetryOptions = {}): Promise<R> {
  return onError(backoff, isConflict, fn, options)
}
