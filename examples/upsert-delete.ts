/**
 * The upsert/delete style: mirror Services into an external catalog, as consul-k8s's
 * catalog sync does.
 *
 * - `upsert(key, service)` registers the current Service; its first call fails (the
 *   catalog is "starting up") and is retried with backoff.
 * - `delete(key, lastKnown)` deregisters, with the last version of the deleted Service.
 * - A background task runs for the controller's lifetime (a heartbeat to the catalog);
 *   stopping the controller drains the queue, then aborts the task and waits for it.
 *
 *   ./dev node --conditions=source examples/upsert-delete.ts
 */
import type { V1Service } from '@kubernetes/client-node'
import { createLogger, type Plain, ResourceController } from 'kubevisor'
import { startApiServer } from 'kubevisor/testing'

type Service = Plain<V1Service>

const server = await startApiServer()
const logger = createLogger({ level: process.env.KUBEVISOR_LOG_LEVEL ?? 'warn' })

/** The external system being kept in sync. */
const catalog = new Map<string, number[]>()
let catalogReady = false
let heartbeats = 0

const ports = (svc: Service) => (svc.spec?.ports ?? []).map((p) => p.port)
const controller = new ResourceController<Service>(
  {
    target: { apiVersion: 'v1', kind: 'Service', namespace: 'default' },
    upsert(key, svc) {
      if (!catalogReady) {
        catalogReady = true
        throw new Error('catalog is starting up')
      }
      catalog.set(key, ports(svc))
      console.log(`upsert ${key} ports=${ports(svc).join(',')}`)
    },
    delete(key, lastKnown) {
      catalog.delete(key)
      console.log(`delete ${key} (last known ports=${ports(lastKnown).join(',')})`)
    },
    backgroundTasks: [
      async (signal) => {
        console.log('background: heartbeat task started')
        while (!signal.aborted) {
          heartbeats++
          await new Promise((r) => setTimeout(r, 50))
        }
        console.log('background: heartbeat task stopped')
      },
    ],
  },
  { kubeConfig: server.kubeConfig, logger },
)

const until = async (what: string, check: () => boolean) => {
  for (let i = 0; i < 250 && !check(); i++) await new Promise((r) => setTimeout(r, 20))
  if (!check()) throw new Error(`timed out waiting for ${what}`)
}
const service = (name: string, port: number) => ({ apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: 'default' }, spec: { ports: [{ port }], selector: { app: name } } })

server.create(service('web', 80))
const abort = new AbortController()
const running = controller.run(abort.signal)

await until('the existing service', () => catalog.has('default/web'))
console.log(`synced: ${controller.hasSynced()}, at resourceVersion ${controller.lastSyncResourceVersion() !== '' ? 'known' : 'unknown'}`)
server.create(service('api', 8080))
await until('the new service', () => catalog.has('default/api'))
server.delete({ apiVersion: 'v1', kind: 'Service', name: 'api', namespace: 'default' })
await until('the deletion', () => !catalog.has('default/api'))

abort.abort()
await running
console.log(`stopped: catalog = ${JSON.stringify([...catalog.keys()])}, ${heartbeats > 0 ? 'heartbeats sent' : 'no heartbeat'}`)
await server.close()
