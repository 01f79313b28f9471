/**
 * A supervised pod watcher that keeps a count of pods per phase and answers a `call`.
 *
 *   ./dev node --conditions=source examples/pod-watcher.ts                 # embedded API server
 *   ./dev node --conditions=source examples/pod-watcher.ts --kubeconfig    # your cluster (read-only)
 */
import { KubeConfig, type V1Pod } from '@kubernetes/client-node'
import { createLogger, GenServer, noreply, ok, reply, Supervisor, Watcher, type WatcherBehaviour } from 'kubevisor'
import { startApiServer } from 'kubevisor/testing'

// The watcher: state is a map of pod key → phase, threaded through the callbacks.
const PodPhases: WatcherBehaviour<V1Pod, Map<string, string>, void, 'counts', never, never, Record<string, number>> = {
  init: () => ok(new Map()),
  handleEvent(type, pod, phases) {
    const key = `${pod.metadata?.namespace}/${pod.metadata?.name}`
    if (type === 'deleted') phases.delete(key)
    else phases.set(key, pod.status?.phase ?? 'Unknown')
    return noreply(phases)
  },
  handleSynced(phases, ctx) {
    ctx.log.info({ pods: phases.size }, 'initial list delivered')
    return noreply(phases)
  },
  handleCall(_msg, _from, phases) {
    const counts: Record<string, number> = {}
    for (const phase of [...phases.values()].sort()) counts[phase] = (counts[phase] ?? 0) + 1
    return reply(counts, phases)
  },
}

// A cluster: yours with --kubeconfig, else an embedded API server with a few pods.
const useReal = process.argv.includes('--kubeconfig')
const embedded = useReal ? undefined : await startApiServer()
const kubeConfig = embedded?.kubeConfig ?? new KubeConfig()
if (!embedded) kubeConfig.loadFromDefault()
// Pods are created Pending (the API server resets status on create); set phases through
// the status subresource, as a kubelet would.
const setPhase = (name: string, phase: string) => {
  const current = embedded?.get({ apiVersion: 'v1', kind: 'Pod', name, namespace: 'default' })
  if (current) embedded?.updateStatus({ ...current, status: { phase } })
}
for (const [name, phase] of [['web-0', 'Running'], ['web-1', 'Running'], ['job-x', 'Succeeded'], ['new-1', 'Pending']] as const) {
  embedded?.create({ apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: 'default' }, spec: { containers: [{ name: 'app', image: 'nginx' }] } })
  setPhase(name, phase)
}

// Under a supervisor, like any other process: if it crashes, it is restarted and resynced.
const logger = createLogger({ level: process.env.KUBEVISOR_LOG_LEVEL ?? 'info' })
const root = await Supervisor.start([Watcher.childSpec(PodPhases, undefined, { kubeConfig, apiVersion: 'v1', kind: 'Pod', name: 'pod-phases' })], { logger })

const counts = () => GenServer.call<Record<string, number>>('pod-phases', 'counts')
for (let i = 0; i < 100 && Object.keys(await counts()).length === 0; i++) await new Promise((r) => setTimeout(r, 20))
console.log('pods per phase:', await counts())

if (embedded) {
  embedded.delete({ apiVersion: 'v1', kind: 'Pod', name: 'job-x', namespace: 'default' })
  setPhase('new-1', 'Running')
  for (let i = 0; i < 100 && (await counts()).Running !== 3; i++) await new Promise((r) => setTimeout(r, 20))
  console.log('after a deletion and a phase change:', await counts())
}

await Supervisor.stop(root)
await embedded?.close()
