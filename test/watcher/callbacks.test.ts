// A watcher's missing optional callbacks fail the way a GenServer's do (issue #12: the
// error classes the docs name are the ones thrown): a cast or call without handleCast /
// handleCall crashes the handler with MissingCallbackError (`ERR_NO_CALLBACK`).
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { GenServer, MissingCallbackError, noreply, ok, Registry } from '../../lib/actor/index.ts'
import type { ApiServer } from '../../lib/testing/index.ts'
import type { KubeObject } from '../../lib/watch/object.ts'
import { Watcher, type WatcherBehaviour } from '../../lib/watcher/watcher.ts'
import { useTestCluster } from '../support/cluster.ts'
import { silent as logger } from '../support/log.ts'

let server: ApiServer
let ns: string
useTestCluster('callbacks', (s, n) => {
  server = s
  ns = n
})

const Minimal: WatcherBehaviour<KubeObject, null> = { init: () => ok(null), handleEvent: (_t, _o, s) => noreply(s) }

for (const [callback, send] of [
  ['handleCast', (ref: { registry: Registry; name: string }) => GenServer.cast(ref, 'hello')],
  ['handleCall', (ref: { registry: Registry; name: string }) => void GenServer.call(ref, 'hello').catch(() => {})],
] as const) {
  test(`a message for a missing ${callback} crashes the watcher's handler with MissingCallbackError, as in a GenServer`, async () => {
    const registry = new Registry()
    const w = await Watcher.start(Minimal, undefined, { kubeConfig: server.kubeConfig, apiVersion: 'v1', kind: 'ConfigMap', namespace: ns, logger, name: 'minimal', registry })
    try {
      const handler = registry.whereis('minimal')
      assert.ok(handler)
      send({ registry, name: 'minimal' })
      const reason = await GenServer.exited(handler)
      assert.ok(reason instanceof MissingCallbackError, `exit reason: ${String(reason)}`)
      assert.equal(reason.code, 'ERR_NO_CALLBACK')
      assert.match(reason.message, new RegExp(callback))
    } finally {
      await Watcher.stop(w)
    }
  })
}
