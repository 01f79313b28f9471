/**
 * The probe of the fairness tests (`lib/actor/process.ts` SLICE_MS): a 1 ms timer that
 * records how much work had been done when the event loop first gave timers a turn.
 * Started just before a long run of messages, it resolves with `count()` at that moment —
 * the whole run when processes never yield.
 */
export function countAtTimer(count: () => number): Promise<number> {
  return new Promise((resolve) => setTimeout(() => resolve(count()), 1))
}
