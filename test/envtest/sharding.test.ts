/**
 * Sharding against the real kube-apiserver (`npm run test:envtest`): three replicas of
 * examples/sharded-operator.ts as processes; the real server validates what the embedded
 * one might let through (shard Lease names and label values, merge patches pinned to a
 * resourceVersion); a 4th replica joins while Sites change, one is killed with `kill -9`;
 * each Site is reconciled by one replica at a time and its last change is reconciled.
 */
import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { loadAllYaml } from '@kubernetes/client-node'
import { Client } from '../../lib/client/client.ts'
import { createLogger } from '../../lib/log.ts'
import { drainLabel, shardLabel } from '../../lib/sharding/labels.ts'
import { type KubeApiServer, startKubeApiServer } from '../../lib/testing/kube-apiserver.ts'
import { Replica, shardArgs, waitFor } from '../manager/replicas.ts'
import { envtestSkipReason, inEnvtestTier } from './availability.ts'

const root = fileURLToPath(new URL('../../', import.meta.url))
const skip = inEnvtestTier() ? envtestSkipReason() : undefined
const logger = createLogger({ level: 'silent' })

interface Site {
  metadata: { name: string; namespace?: string; resourceVersion?: string; labels?: Record<string, string> }
  spec?: { pages?: Record<string, string> }
}

if (inEnvtestTier()) {
  describe('sharding against the real kube-apiserver', { skip }, () => {
    let server: KubeApiServer
    let kubeconfig: string
    let client: Client
    const running: Replica[] = []

    before(async () => {
      server = await startKubeApiServer({ logger })
      const ca = Buffer.from(server.caPem).toString('base64')
      kubeconfig = join(mkdtempSync(join(tmpdir(), 'kubevisor-sharding-envtest-')), 'kubeconfig')
      writeFileSync(
        kubeconfig,
        [
          'apiVersion: v1',
          'kind: Config',
          `clusters:\n- name: envtest\n  cluster:\n    server: ${server.url}\n    certificate-authority-data: ${ca}`,
          `users:\n- name: admin\n  user:\n    token: ${server.token}`,
          'contexts:\n- name: envtest\n  context:\n    cluster: envtest\n    user: admin\n    namespace: default',
          'current-context: envtest',
          '',
        ].join('\n'),
      )
      client = new Client(server.kubeConfig, { logger })
      for (const doc of loadAllYaml(readFileSync(join(root, 'deploy/crd.yaml'), 'utf8'))) await client.create(doc as never)
      await waitFor(
        'the Site CRD to be served',
        async () => {
          try {
            await client.list({ apiVersion: 'example.com/v1', kind: 'Site', namespace: 'default' })
            return true
          } catch {
            return false
          }
        },
        30_000,
      )
    })
    after(async () => {
      for (const r of running) if (r.alive) r.kill('SIGKILL')
      await Promise.all(running.map((r) => r.exited))
      await server?.stop()
    })

    test('3 replicas, a 4th joins while Sites change, kill -9 one: one reconciler per Site at a time, every last change reconciled', async () => {
      const ns = 'sharded'
      await client.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } })
      const N = 20
      const names = Array.from({ length: N }, (_, i) => `s${i}`)
      const rev = new Map<string, number>()
      const put = async (name: string) => {
        const next = (rev.get(name) ?? 0) + 1
        rev.set(name, next)
        const pages = { 'index.html': `<h1>${name}</h1>`, rev: String(next) }
        if (next === 1) await client.create({ apiVersion: 'example.com/v1', kind: 'Site', metadata: { name, namespace: ns }, spec: { pages } })
        else await client.patch({ apiVersion: 'example.com/v1', kind: 'Site', namespace: ns, name }, { spec: { pages } })
      }
      for (const n of names) await put(n)
      const spawnShard = (name: string) => {
        const r = new Replica(
          shardArgs(kubeconfig, { namespace: ns, name }),
          {},
          'examples/sharded-operator.ts',
        )
        running.push(r)
        return r
      }
      const replicas = ['e0', 'e1', 'e2'].map(spawnShard)
      const label = shardLabel(ns)
      let sites = new Map<string, Site>()
      const refresh = async () => {
        const list = await client.list<Site>({ apiVersion: 'example.com/v1', kind: 'Site', namespace: ns })
        sites = new Map(list.items.map((s) => [s.metadata.name, s]))
      }
      const reconciles = () => replicas.flatMap((r) => r.lines.flatMap((l) => (l.reconcile ? [{ ...(l.reconcile as { object: string; start: number; end: number; rev?: string }), shard: String(l.identity) }] : [])))
      const dump = () => replicas.map((r) => r.dump()).join('\n---\n')
      const converged = async (live: Set<string>) => {
        await refresh()
        const done = reconciles()
        return names.every((n) => {
          const s = sites.get(n)
          const shard = s?.metadata.labels?.[label]
          if (!shard || !live.has(shard) || s?.metadata.labels?.[drainLabel(ns)] !== undefined) return false
          return done.some((x) => x.object === `${ns}/${n}` && x.shard === shard && x.rev === String(rev.get(n)))
        })
      }
      await waitFor('3 shards converged', async () => (await converged(new Set(['e0', 'e1', 'e2']))) && new Set([...sites.values()].map((s) => s.metadata.labels?.[label])).size === 3, 90_000, dump)
      const leases = await client.list<{ metadata: { name: string } }>({ apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', namespace: ns }, { labelSelector: `sharding.kubevisor.dev/ring=${ns}` })
      assert.deepEqual(leases.items.map((l) => l.metadata.name).sort(), ['e0', 'e1', 'e2'])

      replicas.push(spawnShard('e3'))
      for (let round = 0; round < 6; round++) {
        for (const n of names.filter((_, i) => i % 3 === round % 3)) await put(n)
        await new Promise((r) => setTimeout(r, 300))
      }
      await waitFor('the 4th shard holds Sites, all converged', async () => (await converged(new Set(['e0', 'e1', 'e2', 'e3']))) && [...sites.values()].some((s) => s.metadata.labels?.[label] === 'e3'), 90_000, dump)
      const leads = (r: Replica) => r.lines.some((l) => l.msg === 'successfully acquired lease' && l.lease === `${ns}/${ns}-sharder`)
      const victim = replicas.find((r) => !leads(r) && [...sites.values()].some((s) => s.metadata.labels?.[label] === r.identity)) as Replica
      const killedAt = victim.kill('SIGKILL')
      await victim.exited
      for (const n of names) await put(n)
      const live = new Set(['e0', 'e1', 'e2', 'e3'].filter((x) => x !== victim.identity))
      await waitFor('converged without the killed shard', () => converged(live), 90_000, dump)
      console.log(`real kube-apiserver: the killed shard's Sites reconciled elsewhere ${Date.now() - killedAt} ms after kill -9`)

      const byObject = new Map<string, ReturnType<typeof reconciles>>()
      for (const x of reconciles()) byObject.set(x.object, [...(byObject.get(x.object) ?? []), x])
      let handovers = 0
      for (const [object, list] of byObject) {
        list.sort((a, b) => a.start - b.start)
        for (let i = 1; i < list.length; i++) {
          const cur = list[i] as (typeof list)[number]
          if ((list[i - 1] as (typeof list)[number]).shard !== cur.shard) handovers++
          const clash = list.slice(0, i).find((p) => p.shard !== cur.shard && p.end > cur.start)
          assert.equal(clash, undefined, `${object}: ${cur.shard} began at ${cur.start} while ${clash?.shard} reconciled until ${clash?.end}`)
        }
      }
      assert.ok(handovers > 0, 'Sites changed shard')
      for (const r of replicas) if (r.alive) r.kill('SIGTERM')
      for (const r of replicas) await r.exited
    })
  })
}
