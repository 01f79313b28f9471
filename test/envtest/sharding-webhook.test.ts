/**
 * The sharding admission webhook against the real kube-apiserver (`npm run test:envtest`):
 * the scenario of test/sharding/webhook-scenario.ts (labelled on create with 3 shards and no
 * sharder; webhook down with `failurePolicy: Ignore`: the sharder labels what it missed),
 * with kube-apiserver's MutatingAdmissionWebhook calling the Manager's webhook server.
 * test/sharding/webhook-apiserver.test.ts runs the same scenario on the embedded server.
 */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { loadAllYaml } from '@kubernetes/client-node'
import { Client } from '../../lib/client/client.ts'
import { createLogger } from '../../lib/log.ts'
import { type KubeApiServer, startKubeApiServer } from '../../lib/testing/kube-apiserver.ts'
import { waitFor } from '../manager/replicas.ts'
import { admissionScenario, shardingWebhookScenario } from '../sharding/webhook-scenario.ts'
import { envtestSkipReason, inEnvtestTier } from './availability.ts'

const root = fileURLToPath(new URL('../../', import.meta.url))
const skip = inEnvtestTier() ? envtestSkipReason() : undefined
const logger = createLogger({ level: 'silent' })

if (inEnvtestTier()) {
  describe('sharding webhook against the real kube-apiserver', { skip }, () => {
    let server: KubeApiServer
    const ns = 'webhooked'

    before(async () => {
      server = await startKubeApiServer({ logger })
      const client = new Client(server.kubeConfig, { logger })
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

    test('3 shards ready, no sharder: created Sites arrive labelled (the ring’s shard, balanced), owned ConfigMaps follow their Site, a removed label comes back on that PATCH; webhook down with Ignore: creates succeed and the sharder labels them', async () => {
      await shardingWebhookScenario(server.kubeConfig, ns)
    })

    test('admission semantics the embedded server copies: denial, Fail vs Ignore, rules, selectors, PUT, JSON patch, a bad patch', async () => {
      await admissionScenario(server.kubeConfig)
    })
  })
}
