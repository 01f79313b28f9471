// examples/sharded-operator.ts --webhook as separate processes on the embedded API server
// (which calls mutating webhooks as kube-apiserver does): Sites are labelled on create and
// reconciled by their shard; with the webhook's replica killed (failurePolicy Ignore),
// creates still succeed and the sharder on the leader labels them.
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { Client } from '../../lib/client/client.ts'
import { createLogger } from '../../lib/log.ts'
import { shardLabel } from '../../lib/sharding/labels.ts'
import { shardingWebhookConfiguration } from '../../lib/sharding/webhook.ts'
import { type ApiServer, startApiServer } from '../../lib/testing/apiserver/index.ts'
import { type GeneratedTls, generateTls } from '../../lib/testing/apiserver/tls.ts'
import { kubeconfigFile, Replica, shardArgs, siteCrd, waitFor } from '../manager/replicas.ts'

const logger = createLogger({ level: 'silent' })

describe('examples/sharded-operator.ts --webhook (separate processes, embedded API server)', () => {
  let server: ApiServer
  let kubeconfig: string
  let certDir: string
  const running: Replica[] = []
  let tls: GeneratedTls

  before(async () => {
    tls = await generateTls()
    server = await startApiServer()
    kubeconfig = kubeconfigFile(server.kubeConfigYaml())
    server.create(siteCrd() as never)
    certDir = mkdtempSync(join(tmpdir(), 'kubevisor-example-webhook-'))
    writeFileSync(join(certDir, 'tls.crt'), tls.cert)
    writeFileSync(join(certDir, 'tls.key'), tls.key)
  })
  after(async () => {
    for (const r of running) if (r.alive) r.kill('SIGKILL')
    await Promise.all(running.map((r) => r.exited))
    await server.close()
    rmSync(certDir, { recursive: true, force: true })
  })

  test('2 replicas serve the webhook: Sites arrive labelled and are reconciled by their shard; the webhook replica killed: creates succeed, the sharder labels them', async () => {
    const ns = 'hooked'
    const client = new Client(server.kubeConfig, { logger })
    await client.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } })
    const spawn = (name: string) => {
      const r = new Replica([...shardArgs(kubeconfig, { namespace: ns, name }), '--webhook', '--webhook-port=0', `--webhook-cert-dir=${certDir}`], {}, 'examples/sharded-operator.ts')
      running.push(r)
      return r
    }
    const replicas = [spawn('h0'), spawn('h1')]
    const port = (r: Replica) => r.lines.find((l) => l.msg === 'serving webhooks')?.port as number | undefined
    // The leader Lease, not a replica's own shard Lease (ns/h0, ns/h1), which logs the same message.
    const leads = (r: Replica) => r.lines.some((l) => l.msg === 'successfully acquired lease' && !/\/h[01]$/.test(String(l.lease)))
    const dump = () => replicas.map((r) => r.dump()).join('\n---\n')
    await waitFor('both replicas serving webhooks, one leading', () => replicas.every((r) => port(r) !== undefined) && replicas.some((r) => leads(r)), 30_000, dump)
    // The webhook of the replica that does not lead: the sharder elsewhere is not what labels.
    const hook = replicas.find((r) => !leads(r)) as Replica
    const ring = { name: ns, leaseNamespace: ns, resource: { apiVersion: 'example.com/v1', kind: 'Site', namespace: ns }, controlled: [{ apiVersion: 'v1', kind: 'ConfigMap', namespace: ns }] }
    await client.create(shardingWebhookConfiguration({ ring, clientConfig: { url: `https://127.0.0.1:${port(hook)}/webhooks/sharding/${ns}` }, caBundle: tls.caCert }) as never)
    const label = shardLabel(ns)
    type Site = { metadata: { name: string; labels?: Record<string, string> } }
    // Once both shard Leases are ready in the webhook's cache, Sites come back from the create labelled, with both shards.
    const shardsSeen = new Set<string>()
    let i = 0
    await waitFor(
      'Sites labelled on create with both shards',
      async () => {
        const s = await client.create<Site>({ apiVersion: 'example.com/v1', kind: 'Site', metadata: { name: `s${i++}`, namespace: ns }, spec: { pages: { 'index.html': 'x' } } } as never)
        const shard = s.metadata.labels?.[label]
        // Unlabelled while the webhook's Lease cache has no ready shard yet (the sharder then labels it).
        if (shard === undefined) return false
        assert.ok(shard === 'h0' || shard === 'h1', `s${i - 1} created with shard label ${shard}`)
        shardsSeen.add(shard)
        return shardsSeen.size === 2
      },
      30_000,
      dump,
    )
    const reconciledBy = (name: string) => replicas.flatMap((r) => r.lines.filter((l) => (l.reconcile as { object?: string } | undefined)?.object === `${ns}/${name}`).map(() => r.identity))
    await waitFor(
      'every Site reconciled by the shard it was labelled with',
      async () => {
        const sites = await client.list<Site>({ apiVersion: 'example.com/v1', kind: 'Site', namespace: ns })
        return sites.items.every((s) => reconciledBy(s.metadata.name).includes(s.metadata.labels?.[label]))
      },
      30_000,
      dump,
    )

    hook.kill('SIGKILL')
    await hook.exited
    const missed = await client.create<Site>({ apiVersion: 'example.com/v1', kind: 'Site', metadata: { name: 'missed', namespace: ns } } as never)
    assert.equal(missed.metadata.labels?.[label], undefined, 'created unlabelled: the webhook is down, failurePolicy Ignore')
    const survivor = replicas.find((r) => r !== hook) as Replica
    await waitFor(
      'the sharder to label the Site the webhook missed',
      async () => (await client.get<Site>({ apiVersion: 'example.com/v1', kind: 'Site', namespace: ns, name: 'missed' })).metadata.labels?.[label] === survivor.identity,
      30_000,
      dump,
    )
    survivor.kill('SIGTERM')
    await survivor.exited
  })
})
