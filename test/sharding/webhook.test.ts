// The sharding admission webhook's decision (timebertt/kubernetes-controller-sharding
// `pkg/webhook/sharder`): pure, on a fixed ring; the cached-Lease ring; the
// MutatingWebhookConfiguration builder and deploy/sharding-webhook.yaml.
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { describe, test } from 'node:test'
import { parseAllDocuments } from 'yaml'
import { createLogger } from '../../lib/log.ts'
import type { AdmissionRequest } from '../../lib/manager/webhook.ts'
import { drainLabel, type RingSpec, shardLabel } from '../../lib/sharding/labels.ts'
import { objectKey, Ring, ringKeyOf } from '../../lib/sharding/ring.ts'
import type { ShardLeaseObject } from '../../lib/sharding/shard-lease.ts'
import { ShardingWebhook, shardingAdmission, shardingWebhookConfiguration } from '../../lib/sharding/webhook.ts'

const spec: RingSpec = {
  name: 'sites',
  leaseNamespace: 'ops',
  resource: { apiVersion: 'example.com/v1', kind: 'Site' },
  controlled: [{ apiVersion: 'v1', kind: 'ConfigMap' }],
}
const ring = new Ring(['shard-a', 'shard-b', 'shard-c'])
const label = shardLabel('sites')
const logger = createLogger({ level: 'silent' })

function site(name: string, labels?: Record<string, string>, namespace = 'web'): Record<string, unknown> {
  return { apiVersion: 'example.com/v1', kind: 'Site', metadata: { name, namespace, ...(labels ? { labels } : {}) } }
}

function review(object: Record<string, unknown> | null, over: Partial<AdmissionRequest> = {}): AdmissionRequest {
  const meta = (object?.metadata ?? {}) as { name?: string; namespace?: string }
  const kind = object?.kind === 'ConfigMap' ? { group: '', version: 'v1', kind: 'ConfigMap' } : { group: 'example.com', version: 'v1', kind: 'Site' }
  return { uid: 'u-1', kind, resource: { group: kind.group, version: 'v1', resource: `${kind.kind.toLowerCase()}s` }, name: meta.name, namespace: meta.namespace, operation: 'CREATE', object, ...over }
}

/** The shard a result's patch assigns (it must have one). */
function assigned(r: { patch?: { value?: unknown }[] }): string | undefined {
  assert.ok(r.patch?.[0], 'a patch')
  return (r.patch[0].value as Record<string, string>)[label]
}

describe('shardingAdmission (pure)', () => {
  test('CREATE of a Site without labels: adds /metadata/labels with the ring shard of its key, as the sharder computes it', () => {
    const r = shardingAdmission(review(site('blog')), spec, ring)
    const want = ring.shardFor(objectKey({ group: 'example.com', kind: 'Site', namespace: 'web', name: 'blog' }))
    assert.ok(want)
    assert.deepEqual(r, { allowed: true, patch: [{ op: 'add', path: '/metadata/labels', value: { [label]: want } }] })
    assert.equal(want, ring.shardFor(ringKeyOf(site('blog'))))
  })

  test('CREATE of a Site with other labels: adds one label, its "/" escaped as ~1 (RFC 6901)', () => {
    const r = shardingAdmission(review(site('blog', { team: 'web' })), spec, ring)
    assert.deepEqual(r.patch, [{ op: 'add', path: '/metadata/labels/shard.sharding.kubevisor.dev~1sites', value: ring.shardFor(ringKeyOf(site('blog'))) }])
  })

  test('the namespace comes from the request when the object has none (a create into the URL namespace)', () => {
    const obj = { apiVersion: 'example.com/v1', kind: 'Site', metadata: { name: 'blog' } }
    const r = shardingAdmission(review(obj, { namespace: 'web' }), spec, ring)
    assert.equal(assigned(r), ring.shardFor(ringKeyOf(site('blog', undefined, 'web'))))
  })

  test('UPDATE of an object without the shard label is assigned (timebertt); with it, left alone', () => {
    assert.ok(shardingAdmission(review(site('blog'), { operation: 'UPDATE' }), spec, ring).patch)
    assert.deepEqual(shardingAdmission(review(site('blog', { [label]: 'shard-z' }), { operation: 'UPDATE' }), spec, ring), { allowed: true })
    assert.deepEqual(shardingAdmission(review(site('blog', { [label]: 'shard-z' })), spec, ring), { allowed: true })
  })

  test('an unassigned object still carrying the drain label loses it, as the sharder assignment does', () => {
    const r = shardingAdmission(review(site('blog', { [drainLabel('sites')]: 'true' }), { operation: 'UPDATE' }), spec, ring)
    assert.deepEqual(r.patch?.[1], { op: 'remove', path: '/metadata/labels/drain.sharding.kubevisor.dev~1sites' })
  })

  test('a ConfigMap controlled by a Site follows its owner; without such an owner it is left unlabelled (as the sharder leaves it)', () => {
    const owned = {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'site-blog', namespace: 'web', ownerReferences: [{ apiVersion: 'example.com/v1', kind: 'Site', name: 'blog', uid: 'x', controller: true }] },
    }
    const r = shardingAdmission(review(owned), spec, ring)
    assert.equal(assigned(r), ring.shardFor(ringKeyOf(site('blog'))))
    const notController = { ...owned, metadata: { ...owned.metadata, ownerReferences: [{ ...owned.metadata.ownerReferences[0], controller: false }] } }
    assert.deepEqual(shardingAdmission(review(notController), spec, ring), { allowed: true })
    const plain = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'loose', namespace: 'web' } }
    assert.deepEqual(shardingAdmission(review(plain), spec, ring), { allowed: true })
  })

  test('owned objects spread like their owners: 300 Sites and their ConfigMaps land on the same shards', () => {
    for (let i = 0; i < 300; i++) {
      const s = shardingAdmission(review(site(`s${i}`)), spec, ring)
      const cm = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: `site-s${i}`, namespace: 'web', ownerReferences: [{ apiVersion: 'example.com/v2', kind: 'Site', name: `s${i}`, uid: 'x', controller: true }] } }
      assert.deepEqual(shardingAdmission(review(cm), spec, ring).patch, s.patch)
    }
  })

  test('allowed without a label: no shard alive, generateName create, DELETE, a subresource, a kind the ring does not shard, another namespace', () => {
    assert.deepEqual(shardingAdmission(review(site('blog')), spec, new Ring([])), { allowed: true })
    const generated = { apiVersion: 'example.com/v1', kind: 'Site', metadata: { generateName: 'blog-', namespace: 'web' } }
    assert.deepEqual(shardingAdmission(review(generated), spec, ring), { allowed: true })
    assert.deepEqual(shardingAdmission(review(null, { operation: 'DELETE', oldObject: site('blog') }), spec, ring), { allowed: true })
    assert.deepEqual(shardingAdmission(review(site('blog'), { operation: 'UPDATE', subResource: 'status' }), spec, ring), { allowed: true })
    const secret = review({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'x', namespace: 'web' } }, { kind: { group: '', version: 'v1', kind: 'Secret' } })
    assert.deepEqual(shardingAdmission(secret, spec, ring), { allowed: true })
    const oneNamespace = { ...spec, resource: { ...spec.resource, namespace: 'web' } }
    assert.ok(shardingAdmission(review(site('blog')), oneNamespace, ring).patch)
    assert.deepEqual(shardingAdmission(review(site('blog', undefined, 'other')), oneNamespace, ring), { allowed: true })
  })
})

describe('ShardingWebhook', () => {
  const now = Date.parse('2026-01-01T00:00:00Z')
  const lease = (name: string, renewAgoS: number, holder = name): ShardLeaseObject => ({
    metadata: { name, namespace: 'ops' },
    spec: { holderIdentity: holder, leaseDurationSeconds: 10, renewTime: new Date(now - renewAgoS * 1000).toISOString() },
  })

  test('the ring is the ready shard Leases of the cache (expired and dead ones excluded), rebuilt only when that set changes', async () => {
    let leases = [lease('shard-a', 1), lease('shard-b', 2), lease('shard-c', 15), lease('shard-d', 1, 'sharder')]
    const webhook = new ShardingWebhook({ ring: spec, leases: () => leases, wallClock: () => now, logger })
    const first = webhook.currentRing()
    assert.deepEqual(first.shards, ['shard-a', 'shard-b'])
    assert.equal(webhook.currentRing(), first, 'same set: same Ring object')
    const r = await webhook.handle(review(site('blog')), { signal: new AbortController().signal, log: logger })
    assert.equal(assigned(r), new Ring(['shard-a', 'shard-b']).shardFor(ringKeyOf(site('blog'))))
    leases = [lease('shard-a', 1), lease('shard-b', 2), lease('shard-c', 1)]
    assert.deepEqual(webhook.currentRing().shards, ['shard-a', 'shard-b', 'shard-c'])
    leases = []
    assert.deepEqual(await webhook.handle(review(site('blog')), { signal: new AbortController().signal, log: logger }), { allowed: true })
    assert.equal(webhook.path, '/webhooks/sharding/sites')
  })
})

describe('shardingWebhookConfiguration', () => {
  test('one webhook for the ring kind and its controlled kinds: CREATE/UPDATE, objectSelector "label absent", sideEffects None, v1 reviews, failurePolicy Ignore by default', () => {
    const cfg = shardingWebhookConfiguration({ ring: spec, clientConfig: { service: { namespace: 'ops', name: 'sharder' } }, caBundle: 'PEM' }) as {
      webhooks: Record<string, unknown>[]
      metadata: { name: string }
    }
    assert.equal(cfg.metadata.name, 'sharding-sites')
    const w = cfg.webhooks[0] as Record<string, unknown>
    assert.equal(w.name, 'sites.sharding.kubevisor.dev')
    assert.equal(w.failurePolicy, 'Ignore')
    assert.equal(w.sideEffects, 'None')
    assert.deepEqual(w.admissionReviewVersions, ['v1'])
    assert.equal(w.timeoutSeconds, 10)
    assert.deepEqual(w.objectSelector, { matchExpressions: [{ key: label, operator: 'DoesNotExist' }] })
    assert.deepEqual(w.clientConfig, { service: { namespace: 'ops', name: 'sharder', path: '/webhooks/sharding/sites', port: 443 }, caBundle: Buffer.from('PEM').toString('base64') })
    assert.deepEqual(w.rules, [
      { apiGroups: ['example.com'], apiVersions: ['v1'], operations: ['CREATE', 'UPDATE'], resources: ['sites'], scope: '*' },
      { apiGroups: [''], apiVersions: ['v1'], operations: ['CREATE', 'UPDATE'], resources: ['configmaps'], scope: '*' },
    ])
    assert.deepEqual(w.namespaceSelector, { matchExpressions: [{ key: 'kubernetes.io/metadata.name', operator: 'NotIn', values: ['kube-system'] }] })
  })

  test('options: url, Fail, timeout, plural override, a ring in one namespace selects it; bad values are typed errors', () => {
    const one: RingSpec = { ...spec, resource: { apiVersion: 'example.com/v1', kind: 'Policy', namespace: 'web' }, controlled: [] }
    const w = (shardingWebhookConfiguration({ ring: one, clientConfig: { url: 'https://127.0.0.1:9443/x' }, failurePolicy: 'Fail', timeoutSeconds: 3 }) as { webhooks: Record<string, unknown>[] }).webhooks[0] as Record<string, unknown>
    assert.deepEqual(w.clientConfig, { url: 'https://127.0.0.1:9443/x' })
    assert.equal(w.failurePolicy, 'Fail')
    assert.equal(w.timeoutSeconds, 3)
    assert.deepEqual((w.rules as { resources: string[]; scope: string }[])[0]?.resources, ['policies'])
    assert.deepEqual(w.namespaceSelector, { matchExpressions: [{ key: 'kubernetes.io/metadata.name', operator: 'In', values: ['web'] }] })
    const plural = shardingWebhookConfiguration({ ring: one, clientConfig: { url: 'https://h/x' }, resources: { Policy: 'policyz' } }) as { webhooks: { rules: { resources: string[] }[] }[] }
    assert.deepEqual(plural.webhooks[0]?.rules[0]?.resources, ['policyz'])
    assert.throws(() => shardingWebhookConfiguration({ ring: spec, clientConfig: { url: 'http://h/x' } }), { code: 'ERR_INVALID_SHARDING' })
    assert.throws(() => shardingWebhookConfiguration({ ring: spec, clientConfig: { url: 'https://h/x' }, timeoutSeconds: 31 }), { code: 'ERR_INVALID_SHARDING' })
    assert.throws(() => shardingWebhookConfiguration({ ring: spec, clientConfig: { url: 'https://h/x' }, failurePolicy: 'Maybe' as never }), { code: 'ERR_INVALID_SHARDING' })
  })

  test('deploy/sharding-webhook.yaml holds what the builder makes for examples/sharded-operator.ts, and a Service to the webhook port', () => {
    const docs = parseAllDocuments(readFileSync(new URL('../../deploy/sharding-webhook.yaml', import.meta.url), 'utf8')).map((d) => d.toJS())
    const mwc = docs.find((d) => d?.kind === 'MutatingWebhookConfiguration')
    const service = docs.find((d) => d?.kind === 'Service')
    const ring: RingSpec = { name: 'sites', leaseNamespace: 'site-operator-system', resource: { apiVersion: 'example.com/v1', kind: 'Site' }, controlled: [{ apiVersion: 'v1', kind: 'ConfigMap' }] }
    const built = shardingWebhookConfiguration({ ring, clientConfig: { service: { namespace: 'site-operator-system', name: 'site-operator-webhook' } } }) as { metadata: Record<string, unknown> }
    const { annotations: _, ...metadata } = mwc.metadata
    assert.deepEqual({ ...mwc, metadata }, built)
    assert.equal(service.metadata.name, 'site-operator-webhook')
    assert.equal(service.metadata.namespace, 'site-operator-system')
    assert.deepEqual(service.spec.ports, [{ name: 'webhook', port: 443, targetPort: 9443 }])
  })
})
