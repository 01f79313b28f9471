/**
 * The sharding admission webhook against the real kube-apiserver (`npm run test:envtest`):
 * kube-apiserver calls the Manager's webhook server at https://127.0.0.1:PORT
 * (`clientConfig.url` + `caBundle`), as it calls timebertt/kubernetes-controller-sharding's.
 *
 * - 3 shard Leases ready and the sharder NOT running (this replica's Manager never leads):
 *   Sites come back from the create already labelled, with the shard the sharder's ring
 *   gives them, spread over the 3 shards; ConfigMaps controlled by a Site get their Site's
 *   shard; a Site whose label is removed is labelled again on that UPDATE.
 * - The webhook down, `failurePolicy: Ignore`: creates still succeed, unlabelled; the
 *   sharder, started afterwards, labels them.
 */
import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { loadAllYaml } from '@kubernetes/client-node'
import type { Pid } from '../../lib/actor/index.ts'
import { Client } from '../../lib/client/client.ts'
import { createLogger } from '../../lib/log.ts'
import { Manager } from '../../lib/manager/manager.ts'
import { microTime } from '../../lib/manager/resourcelock.ts'
import { type RingSpec, shardLabel } from '../../lib/sharding/labels.ts'
import { Ring, ringKeyOf } from '../../lib/sharding/ring.ts'
import { Sharding } from '../../lib/sharding/shard.ts'
import { Sharder } from '../../lib/sharding/sharder.ts'
import { RING_LABEL } from '../../lib/sharding/shard-lease.ts'
import { shardingWebhookConfiguration } from '../../lib/sharding/webhook.ts'
import { Supervisor } from '../../lib/supervisor/index.ts'
import { type KubeApiServer, startKubeApiServer } from '../../lib/testing/kube-apiserver.ts'
import { generateTls } from '../../lib/testing/apiserver/tls.ts'
import { waitFor } from '../manager/replicas.ts'
import { envtestSkipReason, inEnvtestTier } from './availability.ts'

const root = fileURLToPath(new URL('../../', import.meta.url))
const skip = inEnvtestTier() ? envtestSkipReason() : undefined
const logger = createLogger({ level: 'silent' })

interface Obj {
  apiVersion?: string
  kind?: string
  metadata: { name: string; namespace?: string; uid?: string; labels?: Record<string, string>; ownerReferences?: { apiVersion: string; kind: string; name: string; controller?: boolean }[] }
}

if (inEnvtestTier()) {
  describe('sharding webhook against the real kube-apiserver', { skip }, () => {
    let server: KubeApiServer
    let client: Client
    const ns = 'webhooked'
    const ring: RingSpec = {
      name: 'sites',
      leaseNamespace: ns,
      resource: { apiVersion: 'example.com/v1', kind: 'Site', namespace: ns },
      controlled: [{ apiVersion: 'v1', kind: 'ConfigMap', namespace: ns }],
    }
    const label = shardLabel(ring.name)

    before(async () => {
      server = await startKubeApiServer({ logger })
      client = new Client(server.kubeConfig, { logger })
      for (const doc of loadAllYaml(readFileSync(join(root, 'deploy/crd.yaml'), 'utf8'))) await client.create(doc as never)
      await client.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } })
      await waitFor(
        'the Site CRD to be served',
        async () => {
          try {
            await client.list({ apiVersion: 'example.com/v1', kind: 'Site', namespace: ns })
            return true
          } catch {
            return false
          }
        },
        30_000,
      )
    })
    after(async () => {
      await server?.stop()
    })

    test('3 shards ready, no sharder: created Sites arrive labelled (the ring’s shard, balanced), owned ConfigMaps follow their Site; webhook down with Ignore: creates succeed and the sharder labels them', async () => {
      // Shards w1 and w2: Leases held by them for an hour. Shard w0: this process's Sharding, which renews its own.
      for (const name of ['w1', 'w2']) {
        await client.create({
          apiVersion: 'coordination.k8s.io/v1',
          kind: 'Lease',
          metadata: { name, namespace: ns, labels: { [RING_LABEL]: ring.name } },
          spec: { holderIdentity: name, leaseDurationSeconds: 3600, acquireTime: microTime(Date.now()), renewTime: microTime(Date.now()) },
        })
      }
      // The sharder's leader-election Lease is someone else's for an hour: this Manager never runs the sharder.
      await client.create({
        apiVersion: 'coordination.k8s.io/v1',
        kind: 'Lease',
        metadata: { name: 'sites-sharder', namespace: ns },
        spec: { holderIdentity: 'elsewhere', leaseDurationSeconds: 3600, renewTime: microTime(Date.now()) },
      })
      const tls = generateTls()
      const certDir = mkdtempSync(join(tmpdir(), 'kubevisor-envtest-webhook-'))
      writeFileSync(join(certDir, 'tls.crt'), tls.cert)
      writeFileSync(join(certDir, 'tls.key'), tls.key)
      const mgr = new Manager({
        kubeConfig: server.kubeConfig,
        logger,
        webhook: { host: '127.0.0.1', port: 0, certDir },
        leaderElection: { id: 'sites-sharder', namespace: ns, identity: 'w0', leaseDurationMs: 15_000, renewDeadlineMs: 10_000, retryPeriodMs: 2_000 },
      })
      const sharding = new Sharding(mgr, { kubeConfig: server.kubeConfig, ring, shardName: 'w0', webhook: true, logger, leaseDurationMs: 15_000, renewDeadlineMs: 10_000, retryPeriodMs: 2_000 })
      let sharderPid: Pid | undefined
      try {
        await mgr.start()
        await waitFor('this replica’s shard Lease and the Lease cache', () => sharding.lease.holding && sharding.webhook?.currentRing().shards.length === 3, 30_000)
        assert.equal(mgr.status().isLeader, false, 'the sharder does not run here')
        const configuration = shardingWebhookConfiguration({
          ring,
          clientConfig: { url: `https://127.0.0.1:${mgr.webhookServer?.port}${sharding.webhook?.path}` },
          caBundle: tls.caCert,
          timeoutSeconds: 5,
        })
        await client.create(configuration as never)
        const expected = (o: Obj, shards: string[]) => new Ring(shards).shardFor(ringKeyOf(o as never, { apiVersion: 'example.com/v1', kind: 'Site' }))
        // kube-apiserver picks up a new webhook configuration from its informer, within about a second.
        let probes = 0
        await waitFor(
          'the API server to call the webhook',
          async () => {
            const probe = await client.create<Obj>({ apiVersion: 'example.com/v1', kind: 'Site', metadata: { name: `probe-${probes++}`, namespace: ns } })
            await client.delete({ apiVersion: 'example.com/v1', kind: 'Site', namespace: ns, name: probe.metadata.name })
            return probe.metadata.labels?.[label] !== undefined
          },
          30_000,
        )

        const N = 90
        const counts = new Map<string, number>()
        const sites: Obj[] = []
        for (let i = 0; i < N; i++) {
          const site = await client.create<Obj>({ apiVersion: 'example.com/v1', kind: 'Site', metadata: { name: `site-${i}`, namespace: ns }, spec: { pages: {} } } as never)
          const shard = site.metadata.labels?.[label]
          assert.equal(shard, expected(site, ['w0', 'w1', 'w2']), `${site.metadata.name}: labelled on create with the ring's shard`)
          counts.set(shard as string, (counts.get(shard as string) ?? 0) + 1)
          sites.push(site)
        }
        assert.deepEqual([...counts.keys()].sort(), ['w0', 'w1', 'w2'])
        for (const [shard, n] of counts) assert.ok(n >= N / 3 / 2 && n <= (N / 3) * 1.5, `balanced: ${shard} got ${n} of ${N} (${JSON.stringify([...counts])})`)

        for (const site of sites.slice(0, 15)) {
          const cm = await client.create<Obj>({
            apiVersion: 'v1',
            kind: 'ConfigMap',
            metadata: { name: `cm-${site.metadata.name}`, namespace: ns, ownerReferences: [{ apiVersion: 'example.com/v1', kind: 'Site', name: site.metadata.name, uid: site.metadata.uid, controller: true } as never] },
          })
          assert.equal(cm.metadata.labels?.[label], site.metadata.labels?.[label], `${cm.metadata.name} follows its Site`)
        }
        const loose = await client.create<Obj>({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'not-owned', namespace: ns } })
        assert.equal(loose.metadata.labels?.[label], undefined, 'a ConfigMap without a Site owner is left alone, as the sharder leaves it')

        // UPDATE that removes the label (as a drain acknowledgement does): assigned again on that write.
        const relabelled = await client.patch<Obj>({ apiVersion: 'example.com/v1', kind: 'Site', namespace: ns, name: 'site-0' }, { metadata: { labels: { [label]: null } } })
        assert.equal(relabelled.metadata.labels?.[label], expected(sites[0] as Obj, ['w0', 'w1', 'w2']))

        // The webhook goes down (this replica stops; its shard Lease w0 is released: dead).
        await mgr.stop()
        const missed: Obj[] = []
        for (let i = 0; i < 12; i++) missed.push(await client.create<Obj>({ apiVersion: 'example.com/v1', kind: 'Site', metadata: { name: `missed-${i}`, namespace: ns } }))
        for (const m of missed) assert.equal(m.metadata.labels?.[label], undefined, `${m.metadata.name}: created unlabelled with failurePolicy Ignore`)

        const sharder = new Sharder({ kubeConfig: server.kubeConfig, ring, identity: 'sharder', logger })
        sharderPid = await Supervisor.start([sharder.childSpec()], { logger })
        const shardOf = async (name: string) => (await client.get<Obj>({ apiVersion: 'example.com/v1', kind: 'Site', namespace: ns, name })).metadata.labels?.[label]
        await waitFor(
          'the sharder to label what the webhook missed',
          async () => {
            for (const m of missed) if ((await shardOf(m.metadata.name)) !== expected(m, ['w1', 'w2'])) return false
            return true
          },
          30_000,
        )
      } finally {
        if (sharderPid) await Supervisor.stop(sharderPid, 'shutdown')
        await mgr.stop()
        rmSync(certDir, { recursive: true, force: true })
      }
    })
  })
}
