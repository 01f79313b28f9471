import type { Clock, TimerHandle } from '../time/clock.ts'

interface FakeTimer {
  id: number
  at: number
  seq: number
  fn: () => void
}

/**
 * A clock whose time moves only when a test says so, for checking timeouts, backoff and
 * delays without sleeping. Timers fire in order of due time (ties in scheduling order);
 * between two timers the promise jobs they started are allowed to settle, so async
 * callbacks that schedule further timers are seen within the same `advance`.
 *
 * @example
 * ```ts
 * const clock = new FakeClock()
 * const pid = await GenServer.start(Ticker, undefined, { clock })
 * await clock.advance(1000)   // fires every timer due within the next second
 * ```
 */
export class FakeClock implements Clock {
  #now: number
  #seq = 0
  #timers = new Map<number, FakeTimer>()

  constructor(startMs = 0) {
    this.#now = startMs
  }

  now(): number {
    return this.#now
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    const id = ++this.#seq
    this.#timers.set(id, { id, at: this.#now + Math.max(0, ms), seq: id, fn })
    return id
  }

  clearTimeout(handle: TimerHandle): void {
    this.#timers.delete(handle as number)
  }

  /** Timers scheduled and not yet fired or cleared. */
  get pending(): number {
    return this.#timers.size
  }

  /** Due time of the earliest pending timer, if any. */
  nextDue(): number | undefined {
    return this.#earliest()?.at
  }

  /**
   * Moves time forward by `ms`, firing every timer due on the way in order, settling
   * promise jobs after each.
   */
  async advance(ms: number): Promise<void> {
    const target = this.#now + ms
    await settle()
    for (;;) {
      const timer = this.#earliest()
      if (!timer || timer.at > target) break
      this.#timers.delete(timer.id)
      this.#now = Math.max(this.#now, timer.at)
      timer.fn()
      await settle()
    }
    this.#now = target
  }

  /** Advances to the next pending timer and fires it (and any due at the same time). */
  async next(): Promise<boolean> {
    const due = this.nextDue()
    if (due === undefined) return false
    await this.advance(Math.max(0, due - this.#now))
    return true
  }

  #earliest(): FakeTimer | undefined {
    let best: FakeTimer | undefined
    for (const t of this.#timers.values()) {
      if (!best || t.at < best.at || (t.at === best.at && t.seq < best.seq)) best = t
    }
    return best
  }
}

/**
 * Lets pending promise jobs and immediates run: `turns` rounds of a macrotask, enough for
 * a few levels of `await` in callbacks started before the call.
 */
export async function settle(turns = 5): Promise<void> {
  for (let i = 0; i < turns; i++) await new Promise<void>((resolve) => setImmediate(resolve))
}
