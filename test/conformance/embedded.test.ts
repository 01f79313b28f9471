// The conformance scenarios (scenarios.ts) against the embedded API server, over HTTP only.
// The same scenarios run against a real kube-apiserver + etcd in test/envtest/conformance.test.ts.
import { after, before, describe } from 'node:test'
import { type ApiServer, startApiServer } from '../../lib/testing/index.ts'
import { conformanceScenarios } from './scenarios.ts'
import type { ConformanceTarget } from './target.ts'

describe('conformance: the embedded API server', () => {
  let server: ApiServer
  let target: ConformanceTarget
  before(async () => {
    // Default options: bookmarks once a minute, plus one 2 s before a watch's deadline.
    server = await startApiServer()
    target = {
      name: 'embedded',
      label: 'embedded',
      kubeConfig: server.kubeConfig,
      // The one capability taken from the in-process API: forgetting history on demand (the
      // real target compacts etcd through its HTTP gateway instead).
      compaction: {
        kubeConfig: server.kubeConfig,
        compact: async () => server.compact(),
      },
      bookmarkWatchTimeoutSeconds: 2,
      patienceMs: 5_000,
      // Its garbage collector and namespace controller (lib/testing/apiserver/gc.ts).
      controllers: true,
    }
  })
  after(async () => {
    await server?.close()
  })
  conformanceScenarios(() => target)
})
