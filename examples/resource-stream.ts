/**
 * Resource event streams (cilium's `Resource[T]`): a consumer reads upserts, deletes and
 * the sync marker of ConfigMaps, acknowledges each with `done(err)`, and fails once on
 * purpose to show the retry; a second consumer runs under a supervisor (`streamWorker`).
 *
 *   ./dev node --conditions=source examples/resource-stream.ts
 */
import type { V1ConfigMap } from '@kubernetes/client-node'
import { createLogger, InformerFactory, type KubeObject, type Plain, resource, retryUpTo, Supervisor, streamWorker } from 'kubevisor'
import { startApiServer } from 'kubevisor/testing'

// Objects are plain JSON: client-node models typed with their Date fields as strings.
type ConfigMap = Plain<V1ConfigMap>

const server = await startApiServer()
const logger = createLogger({ level: process.env.KUBEVISOR_LOG_LEVEL === 'debug' ? 'debug' : 'warn' })
const informers = new InformerFactory({ kubeConfig: server.kubeConfig, logger })
const route = (name: string, backend: string) => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace: 'default' }, data: { backend } })
server.create(route('web', 'blue'))
server.create(route('api', 'green'))

// Lazy: nothing is watched until the first events() or store().
const routes = resource<ConfigMap>(informers, { apiVersion: 'v1', kind: 'ConfigMap', namespace: 'default' }, { logger })

// 1. A plain consumer loop: each event is acknowledged with done() or done(err).
const table = new Map<string, string>()
const abort = new AbortController()
let failedOnce = false
let synced!: () => void
const initialListDone = new Promise<void>((resolve) => {
  synced = resolve
})
const consumer = (async () => {
  for await (const event of routes.events(abort.signal, { errorHandler: retryUpTo(3) })) {
    if (event.kind === 'sync') {
      console.log('sync: every existing route was upserted')
      synced()
      event.done()
    } else if (event.kind === 'upsert') {
      if (event.key.name === 'api' && !failedOnce) {
        failedOnce = true
        console.log(`upsert ${event.key} failed on purpose; it will be retried`)
        event.done(new Error('backend not ready'))
        continue
      }
      table.set(String(event.key), event.object.data?.backend ?? '?')
      console.log(`upsert ${event.key} → ${event.object.data?.backend}`)
      event.done()
    } else {
      table.delete(String(event.key))
      console.log(`delete ${event.key} (last backend ${event.object.data?.backend})`)
      event.done()
    }
  }
})()

// 2. The same stream contract under a supervisor: a crashed worker is restarted and the
// key it held is emitted again; handle() resolving is done(), throwing is done(err).
let audited = 0
const tree = await Supervisor.start([streamWorker(routes, () => void audited++, { id: 'audit', logger })], { logger })

await initialListDone
// The failed upsert comes back after the rate limiter's delay (5 ms for a first failure).
for (let i = 0; i < 200 && !table.has('default/api'); i++) await new Promise((r) => setTimeout(r, 10))
server.update({ ...(server.get({ apiVersion: 'v1', kind: 'ConfigMap', name: 'web', namespace: 'default' }) as KubeObject), data: { backend: 'purple' } })
server.delete({ apiVersion: 'v1', kind: 'ConfigMap', name: 'api', namespace: 'default' })
server.create(route('db', 'orange'))

const want = JSON.stringify({ 'default/db': 'orange', 'default/web': 'purple' })
const current = () => JSON.stringify(Object.fromEntries([...table].sort()))
for (let i = 0; i < 200 && current() !== want; i++) await new Promise((r) => setTimeout(r, 20))
console.log('routes:', current())

abort.abort() // ends the loop: the stream completes, its subscription is released
await consumer
await Supervisor.stop(tree) // drains the audit worker's stream
console.log(`audit worker handled ${audited} events; stopped cleanly`)
await informers.stop()
await server.close()
