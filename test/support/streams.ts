/**
 * Reads an async iterable as soon as it yields (without acknowledging anything), keeping
 * every item in order and how the iteration ended.
 */
export function collectAll<T>(iterable: AsyncIterable<T>): { events: T[]; state: { failure: unknown; ended: boolean }; loop: Promise<void> } {
  const events: T[] = []
  const state: { failure: unknown; ended: boolean } = { failure: undefined, ended: false }
  const loop = (async () => {
    try {
      for await (const e of iterable) events.push(e)
    } catch (err) {
      state.failure = err
    }
    state.ended = true
  })()
  return { events, state, loop }
}
