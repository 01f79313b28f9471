/**
 * What the conformance scenarios need to know about a server under test, and the named,
 * documented differences between the embedded server and the real kube-apiserver.
 */
import type { KubeConfig } from '@kubernetes/client-node'

/** Which implementation a target is; selects the named exceptions. */
export type TargetName = 'embedded' | 'real'

/** A server the scenarios run against, reached only over HTTP through `kubeConfig`. */
export interface ConformanceTarget {
  name: TargetName
  /** For test names and messages, e.g. `embedded` or `kube-apiserver v1.34.4`. */
  label: string
  kubeConfig: KubeConfig
  /**
   * A server whose history can be compacted on demand, for the 410 Expired scenarios (the
   * real target uses a second kube-apiserver without the watch cache: its watch cache keeps
   * serving old resourceVersions after etcd has compacted them).
   */
  compaction: {
    kubeConfig: KubeConfig
    /** Forgets all history up to now: older resourceVersions get 410 Expired. */
    compact(): Promise<void>
  }
  /**
   * `timeoutSeconds` of the watches that wait for a BOOKMARK or for the server to end them.
   * Both servers send a bookmark 2 s before a watch's deadline (and otherwise once a minute).
   */
  bookmarkWatchTimeoutSeconds: number
  /** Upper bound for things a real control plane does asynchronously (CRD establishment, garbage collection). */
  patienceMs: number
  /**
   * A garbage collector and namespace controller run (the embedded server's own, or a real
   * kube-controller-manager); the scenarios of gc.ts are skipped, with the reason printed, without.
   */
  controllers: boolean
}

/**
 * Named exceptions: scenario id → why this target behaves differently. A scenario with an
 * exception asserts the target's own behaviour explicitly and prints the reason; every entry
 * for `embedded` is also listed in the README ("Known differences from the real
 * kube-apiserver"). Nothing is skipped silently.
 */
export const exceptions: Record<TargetName, Record<string, string>> = {
  embedded: {},
  real: {},
}

/** The reason `target` deviates in scenario `id`, or undefined when it conforms. */
export function exceptionFor(target: ConformanceTarget, id: string): string | undefined {
  return exceptions[target.name][id]
}
