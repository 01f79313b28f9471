import type { Clock } from './clock.ts'

/**
 * An exponential backoff policy, as data. Delays grow from `initialMs` by `factor` up to
 * `maxMs`; each returned delay adds a uniformly random extra of up to `jitter` × the
 * delay, and the sequence starts over once `resetAfterMs` has passed since the previous
 * delay was handed out (a run of quiet health clears the penalty).
 *
 * The semantics are apimachinery's `wait.Backoff` ("the sleep at each iteration is the
 * duration plus an additional amount chosen uniformly at random from the interval between
 * zero and jitter*duration") and its `ExponentialBackoffManager` (reset after a quiet
 * period).
 */
export interface BackoffPolicy {
  /** First delay, in ms. */
  initialMs: number
  /** Cap on the un-jittered delay, in ms. */
  maxMs: number
  /** Multiplier applied after each delay (≥ 1). */
  factor: number
  /** Extra random delay as a fraction of the delay: 0 = none, 1 = up to double. */
  jitter: number
  /** Start over from `initialMs` when this long passed since the last delay; 0 = never. */
  resetAfterMs: number
}

/**
 * client-go's reflector backoff for list/watch failures: 800 ms, ×2, capped at 30 s,
 * jitter 1.0, reset after 2 min of quiet — `k8s.io/client-go/tools/cache/reflector.go`,
 * `wait.NewExponentialBackoffManager(800*time.Millisecond, 30*time.Second, 2*time.Minute,
 * 2.0, 1.0, clock)`.
 */
export const CLIENT_GO_BACKOFF: Readonly<BackoffPolicy> = Object.freeze({
  initialMs: 800,
  maxMs: 30_000,
  factor: 2,
  jitter: 1,
  resetAfterMs: 120_000,
})

/**
 * A default for restarting crashed supervised children when backoff is asked for:
 * 100 ms, ×2, capped at 10 s, jitter 0.5, reset after 30 s of quiet.
 */
export const RESTART_BACKOFF: Readonly<BackoffPolicy> = Object.freeze({
  initialMs: 100,
  maxMs: 10_000,
  factor: 2,
  jitter: 0.5,
  resetAfterMs: 30_000,
})

/** Validates a policy, throwing a `RangeError` that names the bad field. */
export function validateBackoffPolicy(policy: BackoffPolicy): void {
  const { initialMs, maxMs, factor, jitter, resetAfterMs } = policy
  const fail = (field: string, value: number, want: string) => {
    throw new RangeError(`backoff.${field} must be ${want}, got ${value}`)
  }
  if (!(initialMs >= 0) || !Number.isFinite(initialMs)) fail('initialMs', initialMs, 'a finite number ≥ 0')
  if (!(maxMs >= initialMs) || !Number.isFinite(maxMs)) fail('maxMs', maxMs, `a finite number ≥ initialMs (${initialMs})`)
  if (!(factor >= 1) || !Number.isFinite(factor)) fail('factor', factor, 'a finite number ≥ 1')
  if (!(jitter >= 0) || !Number.isFinite(jitter)) fail('jitter', jitter, 'a finite number ≥ 0')
  if (!(resetAfterMs >= 0)) fail('resetAfterMs', resetAfterMs, 'a number ≥ 0')
}

/**
 * A stateful exponential backoff driven by a {@link BackoffPolicy}. Not a timer: `next()`
 * returns how long to wait, the caller waits on its own clock.
 *
 * @example
 * ```ts
 * const backoff = new Backoff(CLIENT_GO_BACKOFF, clock)
 * await sleep(clock, backoff.next())   // 800..1600 ms, then 1600..3200 ms, ...
 * backoff.reset()                      // after a success
 * ```
 */
export class Backoff {
  /** The policy it follows (a copy). */
  readonly policy: Readonly<BackoffPolicy>
  #clock: Clock
  #random: () => number
  #current: number
  #lastAt: number | undefined
  #attempts = 0

  constructor(policy: BackoffPolicy, clock: Clock, random: () => number = Math.random) {
    validateBackoffPolicy(policy)
    this.policy = { ...policy }
    this.#clock = clock
    this.#random = random
    this.#current = policy.initialMs
  }

  /** How many delays were handed out since the last reset. */
  get attempts(): number {
    return this.#attempts
  }

  /** The next delay in ms; advances the sequence. */
  next(): number {
    const now = this.#clock.now()
    const { resetAfterMs, factor, maxMs, jitter } = this.policy
    if (this.#lastAt !== undefined && resetAfterMs > 0 && now - this.#lastAt >= resetAfterMs) this.reset()
    this.#lastAt = now
    const base = this.#current
    this.#current = Math.min(maxMs, base * factor)
    this.#attempts++
    return jitter > 0 ? base + this.#random() * jitter * base : base
  }

  /** Starts the sequence over from `initialMs`. */
  reset(): void {
    this.#current = this.policy.initialMs
    this.#attempts = 0
    this.#lastAt = undefined
  }
}
