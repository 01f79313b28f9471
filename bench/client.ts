/**
 * Write-client round trips against the embedded API server: kubevisor's `Client` side by
 * side with `@kubernetes/client-node`'s generated `CoreV1Api` (the peer a user would pick
 * instead), doing the same operations on ConfigMaps in the same run, rounds interleaved.
 *
 *   ./dev node --conditions=source bench/client.ts [ops=1000] [rounds=3] [--tls]
 *
 * - create (POST), get (GET), update (PUT with the object just read), apply (PATCH
 *   `application/apply-patch+yaml`, fieldManager, force): sequential round trips, one at a
 *   time, ops/s per client; the ratio is kubevisor / client-node (> 1: kubevisor faster).
 * - The server runs in a child process, so client and server do not share an event loop.
 * - Keep-alive: kubevisor shares one `http.Agent`/`https.Agent` per `KubeConfig` (`keepAlive`,
 *   TCP keep-alive probes after 30 s). client-node 2.0.1 as shipped builds a new undici
 *   Agent (`keepAlive`, probes after 30 s) for every request
 *   (`KubeConfig.applySecurityAuthentication` → `createDispatcher`, whenever any TLS option
 *   is set — `insecure-skip-tls-verify` over plain HTTP included), so each of its requests
 *   opens a connection. The third column gives client-node the same keep-alive settings:
 *   its own dispatcher, created once and shared by every request (`createDispatcher`
 *   memoized), as kubevisor shares its agent — the like-for-like comparison.
 * - createOrUpdate that finds nothing to change: its cost per call, reading through the API
 *   (one GET, no write) and from a store (no request), beside a plain get; the object's
 *   resourceVersion is checked to be unchanged afterwards (it must not write).
 * Prints markdown tables; no assertions.
 */
import { spawn } from 'node:child_process'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { CoreV1Api, KubeConfig, PatchStrategy, setHeaderOptions, type V1ConfigMap } from '@kubernetes/client-node'
import { Client } from '../lib/client/client.ts'
import { createOrUpdate } from '../lib/client/mutate.ts'
import { startApiServer } from '../lib/testing/index.ts'
import { type BenchTable, formatTable, machine } from './support.ts'

if (process.argv[2] === '--serve') {
  // The child: an embedded API server; prints its kubeconfig, exits when stdin closes.
  const server = await startApiServer({ tls: process.argv.includes('--tls'), historySize: 1000 })
  process.stdout.write(`${JSON.stringify(server.kubeConfigYaml())}\n`)
  process.stdin.resume()
  process.stdin.on('end', () => void server.close().then(() => process.exit(0)))
} else {
  await main()
}

/** A peer's name as a Kubernetes name part. */
function slug(peer: string): string {
  return peer.replace(/[^a-z0-9]+/g, '-')
}

interface ConfigMapLike {
  apiVersion?: string
  kind?: string
  metadata?: { name?: string; namespace?: string; resourceVersion?: string }
  data?: Record<string, string>
}

async function main(): Promise<void> {
  const args = process.argv.slice(2).filter((a) => !a.startsWith('--'))
  const ops = Number(args[0] ?? 1000)
  const rounds = Number(args[1] ?? 3)
  const tls = process.argv.includes('--tls')
  const child = spawn(process.execPath, ['--conditions=source', fileURLToPath(import.meta.url), '--serve', ...(tls ? ['--tls'] : [])], { stdio: ['pipe', 'pipe', 'inherit'] })
  const firstLine = await new Promise<string>((resolve) => createInterface({ input: child.stdout }).once('line', resolve))
  const kc = new KubeConfig()
  kc.loadFromString(JSON.parse(firstLine) as string)
  const client = new Client(kc, { fieldManager: 'bench' })
  const core = kc.makeApiClient(CoreV1Api)
  // client-node with one dispatcher for all requests: the same keep-alive agent settings, reused.
  const sharedKc = new KubeConfig()
  sharedKc.loadFromString(JSON.parse(firstLine) as string)
  const internals = sharedKc as unknown as { createDispatcher(cluster: unknown, options: unknown): unknown }
  const createDispatcher = internals.createDispatcher.bind(sharedKc)
  let dispatcher: unknown
  internals.createDispatcher = (cluster, options) => (dispatcher ??= createDispatcher(cluster, options))
  const sharedCore = sharedKc.makeApiClient(CoreV1Api)
  await client.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'bench' } })

  const cm = (name: string, value: string): ConfigMapLike => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace: 'bench' }, data: { value, other: 'x'.repeat(200) } })
  const applyOptions = setHeaderOptions('Content-Type', PatchStrategy.ServerSideApply)

  type Op = 'create' | 'get' | 'update' | 'apply'
  const coreV1 = (api: CoreV1Api) => ({
    create: (name: string) => api.createNamespacedConfigMap({ namespace: 'bench', body: cm(name, '0') as V1ConfigMap }),
    get: (name: string) => api.readNamespacedConfigMap({ namespace: 'bench', name }),
    update: (object: V1ConfigMap, value: string) =>
      api.replaceNamespacedConfigMap({ namespace: 'bench', name: object.metadata?.name as string, body: { ...object, data: { ...object.data, value } } }),
    apply: (name: string, value: string) => api.patchNamespacedConfigMap({ namespace: 'bench', name, body: cm(name, value), fieldManager: 'bench', force: true }, applyOptions),
  })
  const peers = {
    kubevisor: {
      create: (name: string) => client.create(cm(name, '0')),
      get: (name: string) => client.get<ConfigMapLike>({ apiVersion: 'v1', kind: 'ConfigMap', namespace: 'bench', name }),
      update: (object: ConfigMapLike, value: string) => client.update({ ...object, data: { ...object.data, value } }),
      apply: (name: string, value: string) => client.apply(cm(name, value), { force: true }),
    },
    'client-node': coreV1(core),
    'client-node shared': coreV1(sharedCore),
  } as const
  type Peer = keyof typeof peers
  const rates: Record<Peer, Record<Op, number[]>> = {
    kubevisor: { create: [], get: [], update: [], apply: [] },
    'client-node': { create: [], get: [], update: [], apply: [] },
    'client-node shared': { create: [], get: [], update: [], apply: [] },
  }

  const runPeer = async (peer: Peer, round: number) => {
    const p = peers[peer] as unknown as {
      create(name: string): Promise<unknown>
      get(name: string): Promise<ConfigMapLike>
      update(object: ConfigMapLike, value: string): Promise<unknown>
      apply(name: string, value: string): Promise<unknown>
    }
    const names = Array.from({ length: ops }, (_, i) => `${slug(peer)}-${round}-${i}`)
    const time = async (op: Op, fn: (name: string, i: number) => Promise<unknown>) => {
      const t0 = performance.now()
      for (let i = 0; i < names.length; i++) await fn(names[i] as string, i)
      rates[peer][op].push((names.length / (performance.now() - t0)) * 1000)
    }
    await time('create', (name) => p.create(name))
    const read: ConfigMapLike[] = []
    await time('get', async (name, i) => {
      read[i] = await p.get(name)
    })
    await time('update', (_, i) => p.update(read[i] as ConfigMapLike, '1'))
    await time('apply', (name) => p.apply(name, '2'))
  }

  // Warm-up: JIT, connections, discovery.
  for (const peer of Object.keys(peers) as Peer[]) {
    const p = peers[peer] as unknown as { create(n: string): Promise<unknown>; get(n: string): Promise<ConfigMapLike> }
    for (let i = 0; i < 50; i++) {
      await p.create(`warm-${slug(peer)}-${i}`)
      await p.get(`warm-${slug(peer)}-${i}`)
    }
  }
  for (let round = 0; round < rounds; round++) {
    const peerNames = Object.keys(peers) as Peer[]
    const order = peerNames.map((_, i) => peerNames[(i + round) % peerNames.length] as Peer)
    for (const peer of order) await runPeer(peer, round)
  }

  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number
  const table: BenchTable = {
    title: `Write client round trips, ${ops} ConfigMaps per operation, ${rounds} rounds (median ops/s), ${tls ? 'HTTPS' : 'HTTP'}`,
    columns: ['operation', 'kubevisor Client', 'client-node as shipped', 'client-node, shared dispatcher', 'kubevisor / shipped', 'kubevisor / shared', 'kubevisor / shared per round'],
    rows: (['create', 'get', 'update', 'apply'] as Op[]).map((op) => {
      const k = rates.kubevisor[op]
      const c = rates['client-node'][op]
      const sh = rates['client-node shared'][op]
      const ratio = (a: number[], b: number[]) => `${(median(a) / median(b)).toFixed(2)}×`
      return [op, median(k), median(c), median(sh), ratio(k, c), ratio(k, sh), k.map((v, i) => (v / (sh[i] as number)).toFixed(2)).join(', ')]
    }),
    notes: [
      'sequential requests (one in flight), server in a child process, rounds rotate the order of the three clients',
      'as shipped, client-node 2.0.1 builds a new undici Agent per request (a new connection each time); "shared dispatcher" memoizes it, so it keeps connections alive with the same settings as kubevisor (keep-alive, probes after 30 s)',
    ],
  }

  // createOrUpdate that finds nothing to change.
  const target = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'steady', namespace: 'bench' } }
  const steady = (await createOrUpdate<ConfigMapLike>(client, { ...target }, (o) => void (o.data = { value: 'same' }))).object
  const stored = structuredClone(steady)
  const store = { get: () => stored }
  const calls = ops
  const measure = async (fn: () => Promise<unknown>) => {
    for (let i = 0; i < 50; i++) await fn()
    const t0 = performance.now()
    for (let i = 0; i < calls; i++) await fn()
    return ((performance.now() - t0) * 1000) / calls
  }
  let unchanged = 0
  const count = async (p: Promise<{ result: string }>) => {
    if ((await p).result === 'unchanged') unchanged++
  }
  const getUs = await measure(() => client.get({ apiVersion: 'v1', kind: 'ConfigMap', namespace: 'bench', name: 'steady' }))
  const viaApiUs = await measure(() => count(createOrUpdate<ConfigMapLike>(client, { ...target }, (o) => void (o.data = { value: 'same' }))))
  const viaStoreUs = await measure(() => count(createOrUpdate<ConfigMapLike>(client, { ...target }, (o) => void (o.data = { value: 'same' }), { store })))
  const after = await client.get<ConfigMapLike>({ apiVersion: 'v1', kind: 'ConfigMap', namespace: 'bench', name: 'steady' })
  const noop: BenchTable = {
    title: 'createOrUpdate that finds nothing to change (µs per call)',
    columns: ['call', 'µs per call', 'requests per call'],
    rows: [
      ['client.get (one GET, for scale)', getUs, 1],
      ['createOrUpdate, read through the API', viaApiUs, 1],
      ['createOrUpdate, read from a store', viaStoreUs, 0],
    ],
    notes: [
      `${unchanged} of ${2 * (calls + 50)} calls reported 'unchanged'; resourceVersion ${steady.metadata?.resourceVersion} → ${after.metadata?.resourceVersion} (${steady.metadata?.resourceVersion === after.metadata?.resourceVersion ? 'no write' : 'WRITTEN'})`,
    ],
  }

  console.log(`${machine()}\n\n${formatTable(table)}\n\n${formatTable(noop)}`)
  child.stdin.end()
  await new Promise((resolve) => child.once('exit', resolve))
}
