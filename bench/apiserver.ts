/**
 * How fast the embedded API server streams watch events to one client over loopback.
 *
 *   ./dev node --conditions=source bench/apiserver.ts [events=200000] [--writes=2000]
 *
 * The server runs in this process; the client is a child process (so the two share the
 * machine's cores like the watcher benchmarks will), reading with `node:http`:
 * - "count": counts newline-terminated events (what the server can push);
 * - "parse": also `JSON.parse`s every line (a bare client).
 * Scenarios: "replay" resumes a watch from an old resourceVersion and receives the whole
 * history (serialization on the first replay, then writes only); "live" receives events while the server commits
 * them in batches of 1000 (in-process `update` with `zeroCopy` + store commit + fan-out +
 * serialization + writes).
 * A second table compares write request rates over HTTP (one keep-alive connection, one
 * request at a time, client in this process): a GET of the same object (the ceiling: no
 * write), JSON merge patch, strategic merge patch and server-side apply of one changing
 * label, each a real write with its managedFields bookkeeping (`--writes=N` requests each,
 * default 2000). With `--envtest` the same requests also go to kube-apiserver v1.34.4 + etcd
 * (the peer: envtest, `npm run envtest:build`), for the same ratios on the real server.
 * Prints markdown tables; no assertions.
 */
import { spawn } from 'node:child_process'
import { Agent, request } from 'node:http'
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https'
import { fileURLToPath } from 'node:url'
import { createLogger } from '../lib/log.ts'
import { startApiServer } from '../lib/testing/index.ts'
import { ENVTEST_KUBERNETES_VERSION, startKubeApiServer } from '../lib/testing/kube-apiserver.ts'

type Mode = 'count' | 'parse'

async function client(url: string, expected: number, mode: Mode): Promise<void> {
  const started = performance.now()
  let firstAt = 0
  let events = 0
  let bytes = 0
  let rest = ''
  await new Promise<void>((resolve, reject) => {
    const req = request(url, (res) => {
      res.on('data', (chunk: Buffer) => {
        if (!firstAt) firstAt = performance.now()
        bytes += chunk.length
        if (mode === 'count') {
          let i = chunk.indexOf(10)
          while (i >= 0) {
            events++
            i = chunk.indexOf(10, i + 1)
          }
        } else {
          const text = rest + chunk.toString('utf8')
          let start = 0
          let i = text.indexOf('\n')
          while (i >= 0) {
            JSON.parse(text.slice(start, i))
            events++
            start = i + 1
            i = text.indexOf('\n', start)
          }
          rest = text.slice(start)
        }
        if (events >= expected) {
          req.destroy()
          resolve()
        }
      })
      res.on('error', reject)
    })
    req.on('error', (err) => (events >= expected ? resolve() : reject(err)))
    req.end()
  })
  const ended = performance.now()
  process.stdout.write(
    `${JSON.stringify({ events, bytes, ms: ended - (firstAt || started), totalMs: ended - started })}\n`,
  )
}

interface Result {
  events: number
  bytes: number
  ms: number
}

function runClient(url: string, expected: number, mode: Mode): { done: Promise<Result>; ready: Promise<void> } {
  const child = spawn(process.execPath, ['--conditions=source', fileURLToPath(import.meta.url), '--client', url, String(expected), mode], {
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  let out = ''
  child.stdout.on('data', (d) => {
    out += d
  })
  const done = new Promise<Result>((resolve, reject) => {
    child.on('exit', (code) => (code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`client exited ${code}`))))
  })
  return { done, ready: Promise.resolve() }
}

function pod(i: number) {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: `pod-${i}`,
      namespace: 'default',
      labels: { app: 'bench', shard: String(i % 16), 'pod-template-hash': '5d8f7c9b6d' },
      annotations: { 'kubevisor.dev/bench': 'true' },
    },
    spec: {
      nodeName: `node-${i % 50}`,
      containers: [
        {
          name: 'app',
          image: 'registry.example.com/team/app:1.2.3',
          ports: [{ containerPort: 8080, protocol: 'TCP' }],
          env: [{ name: 'MODE', value: 'bench' }],
          resources: { requests: { cpu: '100m', memory: '128Mi' } },
        },
      ],
    },
  }
}

/** Where write requests go: a base URL, its keep-alive agent, and a bearer token (real server). */
interface Target {
  base: string
  agent: Agent
  token?: string
}

/** Sends `count` requests one after another; resolves with the requests per second. */
async function rate(target: Target, count: number, make: (i: number) => { method: string; path: string; type?: string; body?: string }): Promise<number> {
  const send = target.base.startsWith('https:') ? httpsRequest : request
  const one = (i: number) =>
    new Promise<void>((resolve, reject) => {
      const r = make(i)
      const headers: Record<string, string | number> = r.body ? { 'content-type': r.type!, 'content-length': Buffer.byteLength(r.body) } : {}
      if (target.token) headers.authorization = `Bearer ${target.token}`
      const req = send(`${target.base}${r.path}`, { method: r.method, agent: target.agent, headers }, (res) => {
        res.resume()
        res.on('end', () => (res.statusCode! < 300 ? resolve() : reject(new Error(`${r.method} ${r.path}: ${res.statusCode}`))))
      })
      req.on('error', reject)
      req.end(r.body)
    })
  for (let i = 0; i < 50; i++) await one(-1 - i) // warm-up
  const started = performance.now()
  for (let i = 0; i < count; i++) await one(i)
  return (count / (performance.now() - started)) * 1000
}

/** GET (ceiling) vs merge patch vs strategic merge patch vs server-side apply, on one ConfigMap. */
async function writeRates(target: Target, count: number): Promise<string[]> {
  const path = '/api/v1/namespaces/default/configmaps/bench-writes'
  await rate(target, 1, () => ({
    method: 'POST',
    path: '/api/v1/namespaces/default/configmaps',
    type: 'application/json',
    body: JSON.stringify({ metadata: { name: 'bench-writes', labels: { app: 'bench' } }, data: { a: '1', b: '2', c: '3' } }),
  })).catch(() => undefined) // the warm-up sends it again: 409, ignored; the first one creates it
  const label = (prefix: string, i: number) => JSON.stringify({ metadata: { labels: { round: `${prefix}${i}` } } })
  const applied = (i: number) =>
    `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: bench-writes\n  labels:\n    round: "apply${i}"\ndata:\n  a: "1"\n`
  const kinds: Array<[string, (i: number) => { method: string; path: string; type?: string; body?: string }]> = [
    ['GET (no write)', () => ({ method: 'GET', path })],
    ['PATCH merge-patch+json', (i) => ({ method: 'PATCH', path: `${path}?fieldManager=bench`, type: 'application/merge-patch+json', body: label('m', i) })],
    ['PATCH strategic-merge-patch+json', (i) => ({ method: 'PATCH', path: `${path}?fieldManager=bench`, type: 'application/strategic-merge-patch+json', body: label('s', i) })],
    ['PATCH apply-patch+yaml (force)', (i) => ({ method: 'PATCH', path: `${path}?fieldManager=bench-apply&force=true`, type: 'application/apply-patch+yaml', body: applied(i) })],
  ]
  // Rounds interleave the kinds so that load changes on a shared machine hit them alike.
  const rounds = 4
  const ms = kinds.map(() => 0)
  for (let round = 0; round < rounds; round++)
    for (const [k, [, make]] of kinds.entries()) ms[k]! += (count / rounds / (await rate(target, count / rounds, (i) => make(round * count + i)))) * 1000
  const perSec = ms.map((t) => (count / t) * 1000)
  return kinds.map(([name], k) => `| ${name} | ${Math.round(perSec[k]!).toLocaleString('en-US')} | ${(1000 / perSec[k]!).toFixed(3)} | ${(perSec[k]! / perSec[0]!).toFixed(2)} |`)
}

async function main(): Promise<void> {
  const total = Number(process.argv[2] ?? 200_000)
  const server = await startApiServer({ historySize: total + 10 })
  const rows: string[] = []
  const row = (scenario: string, mode: Mode, r: Result) => {
    const perSec = (r.events / r.ms) * 1000
    rows.push(
      `| ${scenario} | ${mode} | ${r.events} | ${(r.bytes / r.events).toFixed(0)} | ${r.ms.toFixed(0)} | ${Math.round(perSec).toLocaleString('en-US')} | ${((r.bytes / r.ms) * 1000 / 1e6).toFixed(0)} |`,
    )
  }
  try {
    const startRv = server.resourceVersion
    const seedStart = performance.now()
    for (let i = 0; i < total; i++) server.create(pod(i), { zeroCopy: true })
    const seedMs = performance.now() - seedStart
    const path = '/api/v1/namespaces/default/pods'
    // The first replay serializes every object (once; the JSON is then shared by every
    // watcher and list); later replays only write.
    for (const [scenario, mode] of [
      ['replay, first (serializes)', 'count'],
      ['replay, again (cached JSON)', 'count'],
      ['replay, again (cached JSON)', 'parse'],
    ] as const) {
      const { done } = runClient(`${server.url}${path}?watch=1&resourceVersion=${startRv}`, total, mode)
      row(scenario, mode, await done)
    }
    for (const mode of ['count', 'parse'] as const) {
      const from = server.resourceVersion
      const { done } = runClient(`${server.url}${path}?watch=1&resourceVersion=${from}`, total, mode)
      await server.waitForWatches(1)
      let i = 0
      while (i < total) {
        const end = Math.min(total, i + 1000)
        for (; i < end; i++) {
          const cur = server.get({ apiVersion: 'v1', kind: 'Pod', name: `pod-${i}`, namespace: 'default' }, { zeroCopy: true })!
          const labels = { ...cur.metadata.labels, round: mode }
          server.update({ ...cur, metadata: { ...cur.metadata, labels } }, { zeroCopy: true })
        }
        await new Promise((r) => setImmediate(r))
      }
      row('live', mode, await done)
    }
    console.log(`\nEmbedded API server watch throughput, ${total} pod events to one client over loopback`)
    console.log(`(seeding ${total} pods in-process took ${seedMs.toFixed(0)} ms; Node ${process.version})\n`)
    console.log('| scenario | client | events | bytes/event | ms | events/s | MB/s |')
    console.log('| --- | --- | ---: | ---: | ---: | ---: | ---: |')
    for (const r of rows) console.log(r)
    const writes = Number(process.argv.find((a) => a.startsWith('--writes='))?.slice('--writes='.length) ?? 2000)
    console.log(`\nWrite requests over HTTP, ${writes} each, one keep-alive connection, one at a time\n`)
    console.log('| request | requests/s | ms/request | × GET |')
    console.log('| --- | ---: | ---: | ---: |')
    const agent = new Agent({ keepAlive: true, maxSockets: 1 })
    for (const line of await writeRates({ base: server.url, agent }, writes)) console.log(line)
    agent.destroy()
    if (process.argv.includes('--envtest')) {
      const real = await startKubeApiServer({ logger: createLogger({ level: 'silent' }) })
      try {
        const tls = new HttpsAgent({ keepAlive: true, maxSockets: 1, ca: real.caPem })
        console.log(`\nThe same against kube-apiserver ${ENVTEST_KUBERNETES_VERSION} + etcd (envtest)\n`)
        console.log('| request | requests/s | ms/request | × GET |')
        console.log('| --- | ---: | ---: | ---: |')
        for (const line of await writeRates({ base: real.url, agent: tls as unknown as Agent, token: real.token }, writes)) console.log(line)
        tls.destroy()
      } finally {
        await real.stop()
      }
    }
  } finally {
    await server.close()
  }
}

if (process.argv[2] === '--client') {
  await client(process.argv[3]!, Number(process.argv[4]), process.argv[5] as Mode)
} else {
  await main()
}
