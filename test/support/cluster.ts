/**
 * The embedded API server as a test fixture: one server per test file, a fresh namespace
 * per test, and ConfigMap helpers in that namespace.
 */
import { after, before, beforeEach } from 'node:test'
import { type ApiServer, type ApiServerOptions, startApiServer } from '../../lib/testing/index.ts'
import type { KubeObject } from '../../lib/watch/object.ts'

/** What {@link useTestCluster} gives a test file: ConfigMap helpers in the current test's namespace. */
export interface TestCluster {
  /** A ConfigMap `name` in this test's namespace. */
  cm(name: string, data?: Record<string, string>): KubeObject
  /** A reference to the ConfigMap `name` in this test's namespace (for `server.get`/`delete`). */
  ref(name: string): { apiVersion: string; kind: string; name: string; namespace: string }
  /** Replaces the data of the ConfigMap `name` (a new resourceVersion). */
  update(name: string, data: Record<string, string>): KubeObject
}

/**
 * Registers the hooks: start the server before the file's tests (`bookmarkIntervalMs` 200
 * unless `options` say otherwise), close it after them, and create the namespace
 * `<prefix><n>` before each test, then hand both to `bind` (for files that keep them in
 * their own variables). Call it at the top level of a test file.
 *
 * @example
 * ```ts
 * let server: ApiServer
 * let ns: string
 * const { cm, ref } = useTestCluster('loop', (s, n) => ([server, ns] = [s, n]))
 * ```
 */
export function useTestCluster(prefix: string, bind?: (server: ApiServer, ns: string) => void, options: ApiServerOptions = {}): TestCluster {
  let server: ApiServer | undefined
  let ns = ''
  let seq = 0
  before(async () => {
    server = await startApiServer({ bookmarkIntervalMs: 200, ...options })
  })
  after(async () => {
    await server?.close()
  })
  const started = (): ApiServer => {
    if (!server) throw new Error('the test API server is not started yet (use it inside tests or hooks)')
    return server
  }
  beforeEach(() => {
    ns = `${prefix}${++seq}`
    started().create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } })
    bind?.(started(), ns)
  })
  const cluster: TestCluster = {
    cm: (name, data = {}) => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace: ns }, data }),
    ref: (name) => ({ apiVersion: 'v1', kind: 'ConfigMap', name, namespace: ns }),
    update: (name, data) => started().update({ ...(started().get(cluster.ref(name)) as KubeObject), data }),
  }
  return cluster
}
