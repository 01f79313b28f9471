/**
 * The embedded API server's request rate with JSON vs protobuf bodies, and the memory its
 * protobuf and OpenAPI schemas take (issue #17 §1/§4: "measure and print the cost").
 *
 *   nice -n 10 ./dev node --conditions=source --expose-gc bench/apiserver-protobuf.ts [requests=4000]
 *
 * The server runs in this process; the client is a child process (node:http, keep-alive,
 * 8 requests in flight) sending prepared bodies, so the figures are the server's cost of
 * decoding, storing and encoding, plus loopback HTTP. Each scenario runs JSON and protobuf
 * in alternation, 3 rounds, and prints the median. Ceiling: GET /version (routing and
 * HTTP only, no object work). Prints a markdown table; no assertions.
 */
import { spawn } from 'node:child_process'
import { Agent, request } from 'node:http'
import { fileURLToPath } from 'node:url'
import { encodeProtobuf, hasProtobuf } from '../lib/testing/apiserver/protobuf.ts'
import { startApiServer } from '../lib/testing/index.ts'

const PB = 'application/vnd.kubernetes.protobuf'

interface Plan {
  method: string
  /** `{i}` is replaced by the request number. */
  path: string
  headers: Record<string, string>
  /** base64 bodies, `{i}` replaced in the decoded text for JSON, or one per request. */
  bodies?: string[]
}

async function client(url: string, planFile: string): Promise<void> {
  const plan = JSON.parse(planFile) as Plan & { n: number }
  const agent = new Agent({ keepAlive: true, maxSockets: 8 })
  const bodies = plan.bodies?.map((b) => Buffer.from(b, 'base64'))
  let next = 0
  let done = 0
  const started = performance.now()
  await new Promise<void>((resolve, reject) => {
    const one = () => {
      if (next >= plan.n) return
      const i = next++
      const body = bodies ? bodies[i % bodies.length]! : undefined
      const req = request(
        `${url}${plan.path.replace('{i}', String(i))}`,
        { method: plan.method, agent, headers: { ...plan.headers, ...(body ? { 'content-length': body.length } : {}) } },
        (res) => {
          if (res.statusCode! >= 300) reject(new Error(`${plan.method} ${plan.path}: ${res.statusCode}`))
          res.resume()
          res.on('end', () => {
            if (++done === plan.n) resolve()
            else one()
          })
        },
      )
      req.on('error', reject)
      req.end(body)
    }
    for (let k = 0; k < 8; k++) one()
  })
  process.stdout.write(JSON.stringify({ rate: plan.n / ((performance.now() - started) / 1000) }))
  agent.destroy()
}

function runClient(url: string, plan: Plan & { n: number }): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--conditions=source', fileURLToPath(import.meta.url), '--client', url], {
      stdio: ['pipe', 'pipe', 'inherit'],
    })
    let out = ''
    child.stdout.on('data', (d) => {
      out += d
    })
    child.on('exit', (code) => (code === 0 ? resolve(JSON.parse(out).rate) : reject(new Error(`client exited ${code}`))))
    child.stdin.end(JSON.stringify(plan))
  })
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.floor(s.length / 2)]!
}

function heapMiB(): number {
  globalThis.gc?.()
  globalThis.gc?.()
  return process.memoryUsage().heapUsed / 2 ** 20
}

async function main(): Promise<void> {
  const n = Number(process.argv[2] ?? 4000)
  if (!globalThis.gc) console.log('(run with --expose-gc for the memory figures)')
  const before = heapMiB()
  const rssBefore = process.memoryUsage().rss / 2 ** 20
  hasProtobuf('v1', 'ConfigMap') // loads the schema and builds the protobufjs types
  const afterProto = heapMiB()
  const server = await startApiServer()
  const gvDoc = await fetch(`${server.url}/openapi/v3/apis/apps/v1`).then((r) => r.text()) // loads the OpenAPI schemas
  const afterOpenApi = heapMiB()
  const rssAfter = process.memoryUsage().rss / 2 ** 20

  const cm = (i: number | string) => ({
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: `cm-${i}`, namespace: 'default', labels: { app: 'bench', tier: 'web' } },
    data: { 'config.yaml': 'a: 1\nb: two\nc: [3, 4]\n'.repeat(8), mode: 'fast' },
  })
  const dep = (i: number) => ({
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: `d-${i}`, namespace: 'default', labels: { app: 'web' } },
    spec: {
      replicas: 3,
      selector: { matchLabels: { app: 'web' } },
      template: {
        metadata: { labels: { app: 'web' } },
        spec: {
          containers: [
            {
              name: 'app',
              image: 'nginx:1.27',
              ports: [{ containerPort: 80, protocol: 'TCP' }],
              env: [{ name: 'MODE', value: 'prod' }],
              resources: { limits: { cpu: '500m', memory: '128Mi' } },
            },
          ],
        },
      },
    },
  })
  // Lists read a namespace of their own, so the creates below do not grow them.
  server.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'listed' } })
  for (let i = 0; i < 201; i++) server.create({ ...cm(`seed-${i}`), metadata: { ...cm(`seed-${i}`).metadata, namespace: 'listed' } })
  server.create(cm('one'))
  const accept = { json: 'application/json', pb: `${PB}, application/json` }
  const b64 = (b: Buffer | string) => Buffer.from(b).toString('base64')
  // Creates need distinct names: one prepared body per request.
  const createBodies = (enc: 'json' | 'pb', make: (i: number) => object, tag: string) =>
    Array.from({ length: n }, (_, i) => {
      const o = make(i) as any
      o.metadata.name = `${o.metadata.name}-${tag}-${enc}`
      return b64(enc === 'json' ? JSON.stringify(o) : encodeProtobuf(o)!)
    })
  const rows: [string, () => Plan, () => Plan][] = [
    [
      'GET one ConfigMap',
      () => ({ method: 'GET', path: '/api/v1/namespaces/default/configmaps/cm-one', headers: { accept: accept.json } }),
      () => ({ method: 'GET', path: '/api/v1/namespaces/default/configmaps/cm-one', headers: { accept: accept.pb } }),
    ],
    [
      'LIST 201 ConfigMaps',
      () => ({ method: 'GET', path: '/api/v1/namespaces/listed/configmaps', headers: { accept: accept.json } }),
      () => ({ method: 'GET', path: '/api/v1/namespaces/listed/configmaps', headers: { accept: accept.pb } }),
    ],
  ]
  let round = 0
  const createRow = (label: string, make: (i: number) => object, path: string): [string, () => Plan, () => Plan] => [
    label,
    () => ({
      method: 'POST',
      path,
      headers: { accept: accept.json, 'content-type': 'application/json' },
      bodies: createBodies('json', make, `r${round}`),
    }),
    () => ({ method: 'POST', path, headers: { accept: accept.pb, 'content-type': PB }, bodies: createBodies('pb', make, `r${round}`) }),
  ]
  rows.push(createRow('POST ConfigMap', cm, '/api/v1/namespaces/default/configmaps'))
  rows.push(createRow('POST Deployment', dep, '/apis/apps/v1/namespaces/default/deployments'))

  const ceiling: number[] = []
  const results = rows.map(() => ({ json: [] as number[], pb: [] as number[] }))
  for (round = 0; round < 3; round++) {
    ceiling.push(await runClient(server.url, { method: 'GET', path: '/version', headers: {}, n }))
    for (const [k, [, json, pb]] of rows.entries()) {
      const order = round % 2 === 0 ? (['json', 'pb'] as const) : (['pb', 'json'] as const)
      for (const enc of order) results[k]![enc].push(await runClient(server.url, { ...(enc === 'json' ? json() : pb()), n }))
    }
  }
  await server.close()
  const fmt = (x: number) => `${Math.round(x).toLocaleString('en-US')}/s`
  console.log(`\nEmbedded API server, JSON vs protobuf bodies (${n} requests per cell, 8 in flight, median of 3; Node ${process.versions.node})\n`)
  console.log('| request | JSON | protobuf | protobuf / JSON | ceiling (GET /version) |')
  console.log('| --- | --- | --- | --- | --- |')
  const c = median(ceiling)
  for (const [k, [label]] of rows.entries()) {
    const j = median(results[k]!.json)
    const p = median(results[k]!.pb)
    console.log(`| ${label} | ${fmt(j)} | ${fmt(p)} | ${(p / j).toFixed(2)} | ${fmt(c)} |`)
  }
  console.log(`\nMemory: protobuf schema + protobufjs types ${(afterProto - before).toFixed(1)} MiB heap; OpenAPI schemas ${(afterOpenApi - afterProto).toFixed(1)} MiB heap (apps/v1 document ${(gvDoc.length / 1024).toFixed(0)} KiB); RSS ${rssBefore.toFixed(0)} -> ${rssAfter.toFixed(0)} MiB (server started in between)`)
}

if (process.argv[2] === '--client') {
  let input = ''
  for await (const chunk of process.stdin) input += chunk
  await client(process.argv[3]!, input)
} else {
  await main()
}
