/**
 * The demo (`npm start`): a supervision tree of watchers for several kinds.
 *
 * - Without arguments it starts an embedded Kubernetes API server, a `Churn` process that
 *   creates, updates and deletes objects and injects faults (dropped streams, 410 Gone,
 *   malformed lines, stalls, 500s), and a `Reporter` that prints what each watcher has seen.
 *   When it stops, it checks that every watcher's view equals the server's.
 * - With `--kubeconfig [FILE]` it watches your cluster instead (read-only: nothing is written).
 *
 *   ./dev npm start
 *   ./dev npm start -- --kubeconfig ~/.kube/config
 *   ./dev npm start -- --seconds 20
 *   ./dev npm start -- --observer-port 4000 --observer-actions   (the observer page; --no-observer: off)
 *   ./dev npm start -- --calm   (no periodic faults; `kill -USR2 <pid>` injects one 410 Gone)
 *
 * Ctrl-C stops the tree in order (reporter, churn, watchers) and exits.
 */
import { KubeConfig } from '@kubernetes/client-node'
import pretty from 'pino-pretty'
import {
  type Behaviour,
  CLIENT_GO_BACKOFF,
  controller,
  createLogger,
  dropManagedFields,
  GenServer,
  type KubeObject,
  noreply,
  ok,
  type PendingWait,
  reply,
  Supervisor,
  supervisor,
  Watcher,
  type WatcherBehaviour,
  worker,
} from 'kubevisor'
import { ObserverLogs, startObserver } from 'kubevisor/observer'
import { type ApiServer, startApiServer } from 'kubevisor/testing'

// --- arguments --------------------------------------------------------------------------

const args = process.argv.slice(2)
const flag = (name: string) => args.indexOf(name)
const seconds = Number(flag('--seconds') >= 0 ? args[flag('--seconds') + 1] : (process.env.KUBEVISOR_DEMO_SECONDS ?? 0))
const kubeconfigAt = flag('--kubeconfig')
const kubeconfigFile = kubeconfigAt >= 0 && args[kubeconfigAt + 1] && !args[kubeconfigAt + 1]?.startsWith('--') ? args[kubeconfigAt + 1] : undefined

// The observer page (on unless --no-observer): a free port unless --observer-port; it keeps each process's last log lines.
const observerLogs = flag('--no-observer') >= 0 ? undefined : new ObserverLogs()
const logger = createLogger({
  level: process.env.KUBEVISOR_LOG_LEVEL ?? 'info',
  destination: ((out) => observerLogs?.tee(out) ?? out)(pretty({ colorize: process.stdout.isTTY, ignore: 'hostname', translateTime: 'HH:MM:ss.l', sync: true })),
})

// --- a watcher that tallies what it sees ------------------------------------------------

interface Tally {
  kind: string
  /** key → resourceVersion, the watcher's view of the collection. */
  view: Map<string, string>
  created: number
  modified: number
  deleted: number
}

export interface Summary {
  kind: string
  objects: number
  created: number
  modified: number
  deleted: number
  relists: number
  reconnects: number
  decodeErrors: number
  view: Map<string, string>
}

const keyOf = (o: KubeObject) => (o.metadata?.namespace ? `${o.metadata.namespace}/${o.metadata.name}` : String(o.metadata?.name))

const Tallier: WatcherBehaviour<KubeObject, Tally, { kind: string; quiet: boolean }, 'summary', never, never, Summary> = {
  init: ({ kind }) => ok({ kind, view: new Map(), created: 0, modified: 0, deleted: 0 }),
  handleEvent(type, object, state, ctx) {
    const key = keyOf(object)
    if (type === 'deleted') state.view.delete(key)
    else state.view.set(key, object.metadata?.resourceVersion ?? '')
    state[type]++
    ctx.log.debug({ kind: state.kind, key, rv: object.metadata?.resourceVersion }, type)
    return noreply(state)
  },
  handleSynced(state, ctx) {
    ctx.log.info({ kind: state.kind, objects: state.view.size }, 'synced')
    return noreply(state)
  },
  handleCall(_msg, _from, state, ctx) {
    const c = ctx.counters
    return reply(
      {
        kind: state.kind,
        objects: state.view.size,
        created: state.created,
        modified: state.modified,
        deleted: state.deleted,
        relists: c?.relists ?? 0,
        reconnects: c?.reconnects ?? 0,
        decodeErrors: c?.decodeErrors ?? 0,
        view: new Map(state.view),
      },
      state,
    )
  },
}

const kinds = [
  { name: 'namespaces', apiVersion: 'v1', kind: 'Namespace' },
  { name: 'pods', apiVersion: 'v1', kind: 'Pod' },
  { name: 'configmaps', apiVersion: 'v1', kind: 'ConfigMap' },
  { name: 'deployments', apiVersion: 'apps/v1', kind: 'Deployment' },
] as const

// --- churn: traffic and faults on the embedded server -----------------------------------

const Churn: Behaviour<ApiServer, { server: ApiServer; tick: number; names: Map<string, string[]> }> = {
  init: (server, ctx) => {
    ctx.sendAfter('tick', 50)
    return ok({ server, tick: 0, names: new Map() })
  },
  handleInfo(msg, state, ctx) {
    if (msg !== 'tick') return noreply(state)
    const { server } = state
    const tick = ++state.tick
    const namespace = `team-${tick % 3}`
    if (!server.get({ apiVersion: 'v1', kind: 'Namespace', name: namespace })) {
      server.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace } })
    }
    const kind = (['Pod', 'ConfigMap', 'Deployment'] as const)[tick % 3] as 'Pod' | 'ConfigMap' | 'Deployment'
    const apiVersion = kind === 'Deployment' ? 'apps/v1' : 'v1'
    const names = state.names.get(`${namespace}/${kind}`) ?? []
    state.names.set(`${namespace}/${kind}`, names)
    const roll = Math.random()
    if (roll < 0.5 || names.length === 0) {
      const name = `${kind.toLowerCase()}-${tick}`
      server.create(objectOf(kind, apiVersion, namespace, name))
      names.push(name)
    } else if (roll < 0.8) {
      const name = names[Math.floor(Math.random() * names.length)] as string
      const current = server.get({ apiVersion, kind, name, namespace })
      if (current) server.update({ ...current, metadata: { ...current.metadata, labels: { tick: String(tick) } } })
    } else {
      const name = names.splice(Math.floor(Math.random() * names.length), 1)[0] as string
      server.delete({ apiVersion, kind, name, namespace })
    }
    if (tick % 40 === 0 && flag('--calm') < 0) {
      const fault = (['drop', 'gone', 'malformed', 'error500', 'compact'] as const)[(tick / 40) % 5] as string
      ctx.log.warn({ fault }, 'injecting a fault into the API server')
      if (fault === 'drop') server.dropWatches()
      if (fault === 'gone') server.injectWatchError()
      if (fault === 'malformed') server.sendMalformedLine()
      if (fault === 'error500') server.failNext({ count: 2, code: 500 })
      if (fault === 'compact') {
        server.compact()
        server.dropWatches()
      }
    }
    ctx.sendAfter('tick', 50)
    return noreply(state)
  },
}

function objectOf(kind: string, apiVersion: string, namespace: string, name: string): KubeObject {
  const labels = { app: name }
  const container = { name: 'app', image: 'nginx:1.27' }
  if (kind === 'Pod') return { apiVersion, kind, metadata: { name, namespace, labels }, spec: { containers: [container] } }
  if (kind === 'ConfigMap') return { apiVersion, kind, metadata: { name, namespace, labels }, data: { created: new Date().toISOString() } }
  return {
    apiVersion,
    kind,
    metadata: { name, namespace, labels },
    spec: { replicas: 1, selector: { matchLabels: labels }, template: { metadata: { labels }, spec: { containers: [container] } } },
  }
}

// --- reporter: prints what each watcher has seen ----------------------------------------

async function summaries(): Promise<Summary[]> {
  return Promise.all(kinds.map((k) => GenServer.call<Summary>(k.name, 'summary')))
}

const Reporter: Behaviour<number, null> = {
  init: (everyMs, ctx) => {
    ctx.sendAfter('report', everyMs)
    return ok(null)
  },
  async handleInfo(msg, state, ctx) {
    if (msg !== 'report') return noreply(state)
    for (const s of await summaries()) {
      const { view: _view, ...numbers } = s
      ctx.log.info(numbers, 'watcher summary')
    }
    ctx.sendAfter('report', 2000)
    return noreply(state)
  },
}

// --- the tree ---------------------------------------------------------------------------

const embedded = kubeconfigAt >= 0 ? undefined : await startApiServer({ bookmarkIntervalMs: 1000 })
const kubeConfig = embedded?.kubeConfig ?? new KubeConfig()
if (!embedded) {
  if (kubeconfigFile) kubeConfig.loadFromFile(kubeconfigFile)
  else kubeConfig.loadFromDefault()
}
console.log(embedded ? `demo: embedded API server at ${embedded.url} (kubectl: npx kubevisor apiserver runs one standalone)` : `demo: watching ${kubeConfig.getCurrentCluster()?.server} (read-only)`)

const root = await Supervisor.start(
  [
    supervisor(
      kinds.map((k) =>
        Watcher.childSpec(Tallier, { kind: k.kind, quiet: false }, { kubeConfig, apiVersion: k.apiVersion, kind: k.kind, name: k.name, store: k.kind === 'Pod', transform: dropManagedFields }),
      ),
      { id: 'watchers', strategy: 'one_for_one' },
    ),
    // A controller, so the observer shows a queue: a reconcile of each Deployment that takes 20–80 ms.
    controller('deployment-rollouts', { kubeConfig, logger })
      .for({ apiVersion: 'apps/v1', kind: 'Deployment' })
      .withOptions({ maxConcurrentReconciles: 2 })
      .build(() => new Promise<void>((resolve) => setTimeout(resolve, 20 + Math.random() * 60)))
      .childSpec('rollouts'),
    ...(embedded ? [worker(Churn, embedded, { id: 'churn' })] : []),
    worker(Reporter, 1000, { id: 'reporter' }),
  ],
  { strategy: 'one_for_one', logger },
)

const observerPort = flag('--observer-port') >= 0 ? Number(args[flag('--observer-port') + 1]) : 0
const observer = observerLogs && (await startObserver({ roots: [root], port: observerPort, actions: flag('--observer-actions') >= 0, logs: observerLogs, logger }))
if (observer) console.log(`demo: observer at ${observer.url}${observer.actions ? ' (actions enabled)' : ''}`)

let stopping = false
async function shutdown(why: string): Promise<void> {
  if (stopping) return
  stopping = true
  console.log(`demo: stopping (${why})`)
  if (embedded) {
    // Stop the churn first, then check every watcher converged to the server's state.
    await Supervisor.terminateChild(root, 'churn')
    embedded.clearFaults()
    // A watcher that met repeated faults may be asleep in a backoff of up to 30 s (client-go's
    // cap) when the churn stops. The faults are gone now, so the demo wakes each one, as a
    // user would after a network change (Watcher.reconnectNow), and says what it cut short.
    // Then it waits for the views to match, bounded by the longest backoff plus a margin (a woken
    // watcher that fails again backs off again), printing every second which watcher it
    // still waits for, and why and until when if that watcher is backing off.
    for (const k of kinds) {
      const cut = await Watcher.reconnectNow(k.name)
      if (cut) console.log(`demo: ${k.name} was backing off until ${clockTime(cut.endsAt)} (${waitWhy(cut)}); faults cleared, reconnecting now`)
    }
    const want = (k: (typeof kinds)[number]) => new Map(embedded.list(k.apiVersion, k.kind).map((o) => [keyOf(o), o.metadata?.resourceVersion ?? '']))
    const deadline = Date.now() + CHECK_BOUND_MS
    let matching = 0
    let lastCountdown = Date.now()
    for (;;) {
      const all = await summaries()
      const behind = kinds.filter((k, j) => !sameView((all[j] as Summary).view, want(k)))
      matching = kinds.length - behind.length
      if (behind.length === 0 || Date.now() >= deadline) break
      if (Date.now() - lastCountdown >= 1000) {
        lastCountdown = Date.now()
        const left = Math.ceil((deadline - Date.now()) / 1000)
        for (const k of behind) {
          const waiting = await Watcher.waiting(k.name)
          const what = waiting ? `backing off until ${clockTime(waiting.endsAt)} (${waitWhy(waiting)})` : 'catching up'
          console.log(`demo: waiting for ${k.name} (check ends in ${left} s): ${what}`)
        }
      }
      await new Promise((r) => setTimeout(r, 25))
    }
    for (const s of await summaries()) {
      const { view: _view, ...numbers } = s
      console.log(`demo: ${s.kind}: ${JSON.stringify(numbers)}`)
    }
    console.log(`demo: converged: ${matching}/${kinds.length} watchers match the server`)
    if (matching !== kinds.length) process.exitCode = 1
  }
  await observer?.close()
  await Supervisor.stop(root)
  await embedded?.close()
  console.log('demo: stopped cleanly')
}

/**
 * The final check waits at most the longest backoff plus a margin: the 30 s cap with
 * client-go's jitter 1.0 on top (a delay is base × (1 + jitter × rand)), so 60 s + 5 s.
 */
const CHECK_BOUND_MS = CLIENT_GO_BACKOFF.maxMs * (1 + CLIENT_GO_BACKOFF.jitter) + 5000

const clockTime = (iso: string) => iso.slice(11, 23)
const waitWhy = (w: PendingWait) => `${w.attempt === undefined ? '' : `attempt ${w.attempt}, `}${w.reason}${w.cause ? `: ${w.cause}` : ''}`

function sameView(a: Map<string, string>, b: Map<string, string>): boolean {
  if (a.size !== b.size) return false
  for (const [k, v] of a) if (b.get(k) !== v) return false
  return true
}

process.on('SIGUSR2', () => embedded?.injectWatchError()) // a 410 Gone on every open watch, on demand
process.once('SIGINT', () => void shutdown('Ctrl-C'))
process.once('SIGTERM', () => void shutdown('SIGTERM'))
// unref: a stop by signal before the time is up must not wait for this timer to exit.
if (seconds > 0) setTimeout(() => void shutdown(`${seconds} s elapsed`), seconds * 1000).unref()
else console.log('demo: running; Ctrl-C to stop')
