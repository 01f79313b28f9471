import assert from 'node:assert/strict'
import { test } from 'node:test'
import * as prom from 'prom-client'
import { GenServer, Registry } from '../../lib/actor/index.ts'
import { startApiServer } from '../../lib/testing/index.ts'
import { prometheusWatchMetrics, WATCH_METRICS } from '../../lib/watcher/metrics.ts'
import { Watcher } from '../../lib/watcher/watcher.ts'
import { silent as logger } from '../support/log.ts'
import { eventually, Mirror, type MirrorState } from '../support/mirror.ts'

async function value(registry: prom.Registry, name: string, labels: Record<string, string>): Promise<number | undefined> {
  const metric = (await registry.getMetricsAsJSON()).find((m) => m.name === name)
  const row = (metric?.values as { labels: Record<string, string | number>; value: number }[] | undefined)?.find((v) =>
    Object.entries(labels).every(([k, want]) => v.labels[k] === want),
  )
  return row?.value
}

test('watch metrics count events by type, 410s, relists, reconnects and malformed lines per watcher, without double counting across scrapes', async () => {
  const server = await startApiServer()
  const registry = new prom.Registry()
  const metrics = prometheusWatchMetrics(prom, { registry })
  assert.throws(() => prometheusWatchMetrics(prom, { registry }), /already registered/)
  server.create({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'a', namespace: 'default' } })
  const w = await Watcher.start(Mirror, undefined, { kubeConfig: server.kubeConfig, apiVersion: 'v1', kind: 'ConfigMap', namespace: 'default', name: 'cms', logger, metrics, registry: new Registry() })
  await eventually(async () => (await GenServer.call<MirrorState>(w, 'view')).log.includes('synced'))
  const match = { path: '/api/v1/namespaces/default/configmaps' }
  await server.waitForWatches(1, match)
  server.create({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'b', namespace: 'default' } })
  await eventually(async () => (await GenServer.call<MirrorState>(w, 'view')).view.size === 2)
  server.sendMalformedLine({ match })
  server.injectWatchError({ match })
  await eventually(() => w.counters.relists === 1 && w.counters.decodeErrors === 1)
  for (let scrape = 0; scrape < 2; scrape++) {
    assert.equal(await value(registry, WATCH_METRICS.events.name, { watcher: 'cms', type: 'ADDED' }), 1)
    assert.equal(await value(registry, WATCH_METRICS.gone.name, { watcher: 'cms' }), 1)
    assert.equal(await value(registry, WATCH_METRICS.relists.name, { watcher: 'cms' }), 1)
    assert.equal(await value(registry, WATCH_METRICS.decodeErrors.name, { watcher: 'cms' }), 1)
    assert.ok(((await value(registry, WATCH_METRICS.reconnects.name, { watcher: 'cms' })) ?? 0) >= 1)
    const age = await value(registry, WATCH_METRICS.lastEventAge.name, { watcher: 'cms' })
    assert.ok(age !== undefined && age >= 0 && age < 60)
  }
  await Watcher.stop(w)
  // A stopped watcher is no longer tracked: the same name can be used again.
  await eventually(() => {
    try {
      metrics.track('cms', () => w.counters, { now: () => 0, setTimeout: () => 0, clearTimeout: () => {} })()
      return true
    } catch {
      return false
    }
  })
  await server.close()
})
