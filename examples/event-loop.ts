/**
 * The EventLoop style: handlers called with a namespace and a name for each added,
 * updated and deleted object, on one rate-limited queue with two workers.
 *
 * - `ConfigMaps` overrides all three callbacks and reads the current object from the
 *   shared store.
 * - `Pods` overrides only `updated`, and its first call fails (a simulated outage): the
 *   loop retries it with backoff.
 * - Aborting the signal stops watching, drains what is queued, and `run` resolves.
 *
 *   ./dev node --conditions=source examples/event-loop.ts
 */
import type { V1ConfigMap, V1Pod } from '@kubernetes/client-node'
import { createLogger, DefaultHandler, EventLoop, type Plain } from 'kubevisor'
import { startApiServer } from 'kubevisor/testing'

// Objects are plain JSON: client-node models typed with their Date fields as strings.
type ConfigMap = Plain<V1ConfigMap>
type Pod = Plain<V1Pod>

const server = await startApiServer()
const logger = createLogger({ level: process.env.KUBEVISOR_LOG_LEVEL ?? 'warn' })
const seen: string[] = []
const print = (line: string) => {
  seen.push(line)
  console.log(line)
}

class ConfigMaps extends DefaultHandler<ConfigMap> {
  constructor() {
    super('configmaps', { apiVersion: 'v1', kind: 'ConfigMap', namespace: 'default' })
  }
  override added(_signal: AbortSignal, namespace: string, name: string) {
    print(`configmaps: added ${namespace}/${name} ${JSON.stringify(this.store.get({ namespace, name })?.data ?? {})}`)
  }
  override updated(_signal: AbortSignal, namespace: string, name: string) {
    print(`configmaps: updated ${namespace}/${name} ${JSON.stringify(this.store.get({ namespace, name })?.data ?? {})}`)
  }
  override deleted(_signal: AbortSignal, namespace: string, name: string) {
    print(`configmaps: deleted ${namespace}/${name}`)
  }
}

class Pods extends DefaultHandler<Pod> {
  #outage = true
  constructor() {
    super('pods', { apiVersion: 'v1', kind: 'Pod', namespace: 'default' })
  }
  override updated(_signal: AbortSignal, namespace: string, name: string) {
    if (this.#outage) {
      this.#outage = false
      throw new Error('downstream unavailable')
    }
    print(`pods: updated ${namespace}/${name} phase=${this.store.get({ namespace, name })?.status?.phase}`)
  }
}

const until = async (what: string, check: () => boolean) => {
  for (let i = 0; i < 250 && !check(); i++) await new Promise((r) => setTimeout(r, 20))
  if (!check()) throw new Error(`timed out waiting for ${what}`)
}
const ref = (kind: string, name: string) => ({ apiVersion: 'v1', kind, name, namespace: 'default' })

server.create({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'app-config', namespace: 'default' }, data: { mode: 'blue' } })
server.create({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'web-0', namespace: 'default' }, spec: { containers: [{ name: 'app', image: 'nginx' }] } })

const loop = new EventLoop({ kubeConfig: server.kubeConfig, logger, name: 'example' })
loop.register(new ConfigMaps())
loop.register(new Pods())
const abort = new AbortController()
const running = loop.run(abort.signal, 2)

await until('the existing config map', () => seen.length === 1)
const config = server.get(ref('ConfigMap', 'app-config'))
if (config) server.update({ ...config, data: { mode: 'green' } })
const pod = server.get(ref('Pod', 'web-0'))
if (pod) server.updateStatus({ ...pod, status: { phase: 'Running' } })
await until('the update', () => seen.some((l) => l.startsWith('configmaps: updated')))
server.delete(ref('ConfigMap', 'app-config'))
await until('the pod update, after its retry', () => seen.some((l) => l.startsWith('pods: updated')) && seen.some((l) => l.startsWith('configmaps: deleted')))

abort.abort()
await running
const { events, retries } = loop.stats
console.log(`stopped after draining: ${events} events, ${retries} retried`)
await server.close()
