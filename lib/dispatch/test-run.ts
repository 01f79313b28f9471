/** Something that runs until its signal aborts and resolves once stopped: a `ResourceController`, an `EventLoop`. */
export interface RunUntilAborted {
  /** Runs until `signal` aborts; resolves once stopped, rejects if it failed. */
  run(signal: AbortSignal): Promise<void>
}

/**
 * Runs a controller in the background for a test (consul-k8s's `TestControllerRun`) and
 * returns its stop function: it aborts the run and resolves once the controller has
 * stopped — queued work drained, background tasks awaited. If the controller failed
 * meanwhile (its supervisor gave up), the stop function rejects with that error.
 *
 * @example
 * ```ts
 * const registered = new Set<string>()
 * const services = new ResourceController({
 *   target: { apiVersion: 'v1', kind: 'Service' },
 *   upsert: (key) => void registered.add(key),
 *   delete: (key) => void registered.delete(key),
 * }, { kubeConfig: server.kubeConfig })
 * const stop = runTestController(services)
 * server.create(service('web'))
 * await eventually(() => registered.has('default/web'))
 * await stop()
 * ```
 */
export function runTestController(controller: RunUntilAborted): () => Promise<void> {
  const abort = new AbortController()
  let failure: { err: unknown } | undefined
  const done = controller.run(abort.signal).catch((err: unknown) => {
    failure = { err }
  })
  return async () => {
    abort.abort()
    await done
    if (failure) throw failure.err
  }
}
