// The README's example test (section "Testing with the embedded API server"), kept
// runnable so the documentation cannot drift from the API.
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { CoreV1Api, makeInformer, type V1ConfigMap } from '@kubernetes/client-node'
import { type ApiServer, startApiServer } from 'kubevisor/testing'

let server: ApiServer
before(async () => {
  server = await startApiServer()
})
after(() => server.close())

const until = async (ok: () => boolean) => {
  while (!ok()) await new Promise((r) => setTimeout(r, 10))
}

test('the informer relists after a 410 Expired and misses nothing', async () => {
  const core = server.kubeConfig.makeApiClient(CoreV1Api)
  const informer = makeInformer<V1ConfigMap>(server.kubeConfig, '/api/v1/namespaces/default/configmaps', () =>
    core.listNamespacedConfigMap({ namespace: 'default' }),
  )
  let stopped = false
  informer.on('error', () => {
    if (!stopped) setTimeout(() => informer.start(), 50) // client-node's informer stops on errors
  })
  await informer.start()
  await server.waitForWatches(1, { resource: 'configmaps' })

  server.injectWatchError()                          // ERROR event with a 410 Status, stream closed
  server.failNext({ code: 429, match: { method: 'GET' } }) // and the relist is throttled once
  server.create({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'late' } })

  await until(() => informer.list().some((c) => c.metadata?.name === 'late'))
  assert.ok(server.requestLog.some((r) => r.status === 429))
  stopped = true
  await informer.stop()
})
