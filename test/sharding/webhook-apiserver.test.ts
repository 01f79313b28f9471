// The sharding webhook scenario (test/sharding/webhook-scenario.ts) on the embedded API
// server, whose mutating admission (lib/testing/apiserver/admission.ts) follows
// kube-apiserver's MutatingAdmissionWebhook; test/envtest/sharding-webhook.test.ts runs the
// same scenario on the real kube-apiserver. Plus what the scenario does not reach: denials,
// failurePolicy Fail, rule and selector matching, a bad patch, JSON patch and PUT.
import { readFileSync } from 'node:fs'
import { after, before, describe, test } from 'node:test'
import { loadAllYaml } from '@kubernetes/client-node'
import { Client } from '../../lib/client/client.ts'
import { createLogger } from '../../lib/log.ts'
import { type ApiServer, startApiServer } from '../../lib/testing/apiserver/index.ts'
import { admissionScenario, shardingWebhookScenario } from './webhook-scenario.ts'

const logger = createLogger({ level: 'silent' })

describe('sharding webhook on the embedded API server', () => {
  let server: ApiServer
  let client: Client
  before(async () => {
    server = await startApiServer()
    client = new Client(server.kubeConfig, { logger })
    for (const doc of loadAllYaml(readFileSync(new URL('../../deploy/crd.yaml', import.meta.url), 'utf8'))) await client.create(doc as never)
  })
  after(async () => {
    await server.close()
  })

  test('the scenario of the real kube-apiserver: labelled on create, owners followed, relabelled on PATCH; webhook down with Ignore: the sharder labels', async () => {
    await client.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'webhooked' } })
    await shardingWebhookScenario(server.kubeConfig, 'webhooked')
  })

  test('admission semantics (kube-apiserver MutatingAdmissionWebhook): denial, Fail vs Ignore, rules, selectors, PUT, JSON patch, a bad patch', async () => {
    await admissionScenario(server.kubeConfig)
  })
})
