/**
 * The conformance scenarios (test/conformance/scenarios.ts) against a real kube-apiserver +
 * etcd built by `npm run envtest:build`: the same HTTP requests and Watcher runs as against
 * the embedded server in test/conformance/embedded.test.ts. Runs under `npm run
 * test:envtest`, not `npm test`.
 *
 * Two control planes start side by side: the main one as a cluster runs it (watch cache on:
 * bookmarks, streaming lists and consistent reads come from the cache), and one without the
 * watch cache and without automatic etcd compaction for the 410 Expired scenarios — the
 * watch cache keeps serving resourceVersions that etcd has already compacted, so only the
 * uncached server answers them with 410 at once. Compaction is forced through etcd's HTTP
 * gateway (`POST /v3/kv/compaction` at the current revision, physical), as
 * kube-apiserver's own compactor does periodically (apiserver storage/etcd3/compact.go).
 */
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { GenServer } from '../../lib/actor/index.ts'
import { createLogger } from '../../lib/log.ts'
import { ENVTEST_KUBERNETES_VERSION, findEnvtestAssets, type KubeApiServer, startKubeApiServer } from '../../lib/testing/kube-apiserver.ts'
import { Watcher } from '../../lib/watcher/watcher.ts'
import { ok } from '../conformance/http.ts'
import { startTcpProxy } from '../conformance/proxy.ts'
import { conformanceScenarios } from '../conformance/scenarios.ts'
import { eventually, Mirror, type MirrorState } from '../support/mirror.ts'
import type { ConformanceTarget } from '../conformance/target.ts'
import { envtestSkipReason, inEnvtestTier } from './availability.ts'

const logger = createLogger({ level: 'silent' })
const skip = inEnvtestTier() ? envtestSkipReason() : undefined

/** Compacts etcd to its current revision: every older resourceVersion is gone. */
async function compactEtcd(etcdUrl: string): Promise<void> {
  const post = async (path: string, body: unknown) => {
    const res = await fetch(`${etcdUrl}${path}`, { method: 'POST', body: JSON.stringify(body) })
    if (!res.ok) throw new Error(`etcd ${path}: ${res.status} ${await res.text()}`)
    return (await res.json()) as { header?: { revision?: string } }
  }
  // Any range answers with the store's current revision in its header.
  const { header } = await post('/v3/kv/range', { key: Buffer.from('/').toString('base64') })
  if (!header?.revision) throw new Error('etcd did not report its revision')
  await post('/v3/kv/compaction', { revision: header.revision, physical: true })
}

// Only in `npm run test:envtest` (see inEnvtestTier).
if (inEnvtestTier()) {
  describe(`conformance: the real kube-apiserver ${ENVTEST_KUBERNETES_VERSION}`, { skip }, () => {
    let main: KubeApiServer | undefined
    let uncached: KubeApiServer | undefined
    let target: ConformanceTarget
    before(async () => {
      // kube-controller-manager (garbage collector, namespace controller) runs beside the main
      // server when `npm run envtest:build` has built it; gc.ts's scenarios are skipped, with
      // the reason printed, on an older cache without it.
      const controllerManager = findEnvtestAssets().kubeControllerManager !== undefined
      const started = await Promise.allSettled([
        startKubeApiServer({ logger, controllerManager }),
        startKubeApiServer({ logger, watchCache: false, etcdCompactionInterval: '0' }),
      ])
      main = started[0].status === 'fulfilled' ? started[0].value : undefined
      uncached = started[1].status === 'fulfilled' ? started[1].value : undefined
      for (const s of started) if (s.status === 'rejected') throw s.reason
      const compacting = uncached!
      target = {
        name: 'real',
        label: `kube-apiserver ${ENVTEST_KUBERNETES_VERSION}`,
        kubeConfig: main!.kubeConfig,
        compaction: { kubeConfig: compacting.kubeConfig, compact: () => compactEtcd(compacting.etcdUrl) },
        // The watch cache sends a bookmark ~2 s before the deadline (cacher.go nextBookmarkTime).
        bookmarkWatchTimeoutSeconds: 5,
        patienceMs: 20_000,
        controllers: main!.controllerManager,
      }
    })
    after(async () => {
      await Promise.all([main?.stop(), uncached?.stop()])
    })
    conformanceScenarios(() => target)

    // Real-server only: the embedded server has no way to produce this ERROR over HTTP.
    test(
      'a watch that keeps failing with a 500 ERROR event (etcd "PrevKv=nil" after compaction) is given up for a relist, as client-go does',
      async () => {
        const direct = target.compaction.kubeConfig
        const proxy = await startTcpProxy(direct)
        const ns = `prevkv-${Date.now()}`
        await ok(direct, 'POST', '/api/v1/namespaces', { metadata: { name: ns } })
        const path = `/api/v1/namespaces/${ns}/configmaps`
        await ok(direct, 'POST', path, { metadata: { name: 'a' } })
        const w = await Watcher.start(Mirror, undefined, {
          kubeConfig: proxy.kubeConfig,
          apiVersion: 'v1',
          kind: 'ConfigMap',
          namespace: ns,
          logger,
          backoff: { initialMs: 50, maxMs: 200, factor: 2, jitter: 0, resetAfterMs: 0 },
        })
        try {
          await eventually(async () => (await GenServer.call<MirrorState>(w, 'view')).log.includes('synced'), 10_000)
          proxy.pause()
          // Exactly one modification after the watcher's resourceVersion, then compaction at it:
          // the re-watch starts at the compacted revision and etcd no longer has the previous value.
          const current = await ok(direct, 'GET', `${path}/a`)
          const updated = await ok(direct, 'PUT', `${path}/a`, { ...current, data: { v: '2' } })
          await target.compaction.compact()
          proxy.resume()
          await eventually(
            async () => (await GenServer.call<MirrorState>(w, 'view')).view.get(`${ns}/a`) === updated.metadata.resourceVersion,
            6_000,
            'the watcher to see the update',
          )
          assert.ok((w.counters?.relists ?? 0) >= 1)
        } finally {
          await Watcher.stop(w)
          await proxy.close()
        }
      },
    )
  })
}
