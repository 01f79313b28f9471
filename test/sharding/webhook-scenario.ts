/**
 * The sharding webhook scenario, run on the real kube-apiserver (test/envtest/sharding-webhook.test.ts)
 * and on the embedded server (test/sharding/webhook-apiserver.test.ts): the server reaches the
 * webhook at https://127.0.0.1:PORT (`clientConfig.url` + `caBundle`), as it reaches
 * timebertt/kubernetes-controller-sharding's.
 *
 * - 3 shard Leases ready and the sharder NOT running (this replica's Manager never leads):
 *   Sites come back from the create already labelled, with the shard the sharder's ring
 *   gives them, spread over the 3 shards; ConfigMaps controlled by a Site get their Site's
 *   shard; a Site whose label is removed (a merge PATCH) is labelled again on that UPDATE.
 * - The webhook down, `failurePolicy: Ignore`: creates still succeed, unlabelled; the
 *   sharder, started afterwards, labels them.
 *
 * The Site CRD must be served and the namespace `ns` exist.
 */
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { KubeConfig } from '@kubernetes/client-node'
import type { Pid } from '../../lib/actor/index.ts'
import { Client } from '../../lib/client/client.ts'
import { createLogger } from '../../lib/log.ts'
import { Manager } from '../../lib/manager/manager.ts'
import { type AdmissionHandler, WebhookServer } from '../../lib/manager/webhook.ts'
import { microTime } from '../../lib/manager/resourcelock.ts'
import { type RingSpec, shardLabel } from '../../lib/sharding/labels.ts'
import { Ring, ringKeyOf } from '../../lib/sharding/ring.ts'
import { Sharding } from '../../lib/sharding/shard.ts'
import { Sharder } from '../../lib/sharding/sharder.ts'
import { RING_LABEL } from '../../lib/sharding/shard-lease.ts'
import { shardingWebhookConfiguration } from '../../lib/sharding/webhook.ts'
import { Supervisor } from '../../lib/supervisor/index.ts'
import { generateTls } from '../../lib/testing/apiserver/tls.ts'
import { waitFor } from '../manager/replicas.ts'

const logger = createLogger({ level: 'silent' })

interface Obj {
  apiVersion?: string
  kind?: string
  metadata: { name: string; namespace?: string; uid?: string; labels?: Record<string, string>; ownerReferences?: { apiVersion: string; kind: string; name: string; controller?: boolean }[] }
}

/** Runs the scenario in namespace `ns` of the server `kubeConfig` points at. */
export async function shardingWebhookScenario(kubeConfig: KubeConfig, ns: string): Promise<void> {
  const client = new Client(kubeConfig, { logger })
  const ring: RingSpec = {
    name: 'sites',
    leaseNamespace: ns,
    resource: { apiVersion: 'example.com/v1', kind: 'Site', namespace: ns },
    controlled: [{ apiVersion: 'v1', kind: 'ConfigMap', namespace: ns }],
  }
  const label = shardLabel(ring.name)
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
  const tls = await generateTls()
  const certDir = mkdtempSync(join(tmpdir(), 'kubevisor-envtest-webhook-'))
  writeFileSync(join(certDir, 'tls.crt'), tls.cert)
  writeFileSync(join(certDir, 'tls.key'), tls.key)
  const mgr = new Manager({
    kubeConfig: kubeConfig,
    logger,
    webhook: { host: '127.0.0.1', port: 0, certDir },
    leaderElection: { id: 'sites-sharder', namespace: ns, identity: 'w0', leaseDurationMs: 15_000, renewDeadlineMs: 10_000, retryPeriodMs: 2_000 },
  })
  const sharding = new Sharding(mgr, { kubeConfig: kubeConfig, ring, shardName: 'w0', webhook: true, logger, leaseDurationMs: 15_000, renewDeadlineMs: 10_000, retryPeriodMs: 2_000 })
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

    const sharder = new Sharder({ kubeConfig: kubeConfig, ring, identity: 'sharder', logger })
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
}

/**
 * Mutating admission as kube-apiserver's MutatingAdmissionWebhook does it, on whichever
 * server `kubeConfig` points at: a mutation on CREATE, PUT and JSON patch (UPDATE, with the
 * old object); rules, namespaceSelector and objectSelector; a denial (its code raised to
 * 400, kube's message); a patch that does not apply and an unreachable webhook (500 under
 * `Fail`, the default); `Ignore`. The real server takes up configuration changes from an
 * informer, so each step waits until a probe shows the change.
 */
export async function admissionScenario(kubeConfig: KubeConfig): Promise<void> {
  const client = new Client(kubeConfig, { logger })
  const ns = 'admission'
  await client.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns, labels: { admitted: 'yes' } } })
  await client.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'elsewhere' } })
  const tls = await generateTls()
  const dir = mkdtempSync(join(tmpdir(), 'kubevisor-admission-'))
  writeFileSync(join(dir, 'tls.crt'), tls.cert)
  writeFileSync(join(dir, 'tls.key'), tls.key)
  const hooks = new WebhookServer({ host: '127.0.0.1', port: 0, certDir: dir, logger })
  const calls: string[] = []
  const add =
    (value: string): AdmissionHandler =>
    (r) => {
      if (!r.name?.startsWith('probe-')) calls.push(`${r.operation} ${r.namespace}/${r.name} old=${r.oldObject ? 'yes' : 'no'}`)
      return { allowed: true, patch: [{ op: 'add', path: '/data', value: { stamped: value } }] }
    }
  hooks.register('/stamp', add('1'))
  hooks.register('/deny', () => ({ allowed: false, status: { code: 200, message: 'not today' } }))
  hooks.register('/badpatch', () => ({ allowed: true, patch: [{ op: 'remove', path: '/nope/nothing' }] }))
  await hooks.start()
  const url = (path: string) => `https://127.0.0.1:${hooks.port}${path}`
  const caBundle = Buffer.from(tls.caCert).toString('base64')
  const webhook = (name: string, path: string, extra: Record<string, unknown> = {}) => ({
    name: `${name}.example.com`,
    admissionReviewVersions: ['v1'],
    sideEffects: 'None',
    clientConfig: { url: url(path), caBundle },
    rules: [{ apiGroups: [''], apiVersions: ['v1'], operations: ['CREATE', 'UPDATE'], resources: ['configmaps'] }],
    namespaceSelector: { matchLabels: { admitted: 'yes' } },
    ...extra,
  })
  const configure = async (name: string, w: Record<string, unknown>) => {
    await client.create({ apiVersion: 'admissionregistration.k8s.io/v1', kind: 'MutatingWebhookConfiguration', metadata: { name }, webhooks: [w] } as never)
    return () => client.delete({ apiVersion: 'admissionregistration.k8s.io/v1', kind: 'MutatingWebhookConfiguration', name })
  }
  const cm = (name: string, namespace = ns, labels?: Record<string, string>) => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace, ...(labels ? { labels } : {}) } })
  // What a probe create in `ns` gives now: 'stamped', 'plain', or the rejection's HTTP status.
  let probes = 0
  const probe = async (): Promise<string> => {
    try {
      const o = await client.create<Record<string, any>>(cm(`probe-${probes++}`))
      return o.data?.stamped ? 'stamped' : 'plain'
    } catch (err) {
      return String((err as { status?: number }).status)
    }
  }
  // kube-apiserver sees configuration changes through an informer, within about a second.
  const until = (what: string) => waitFor(`probes to give ${what}`, async () => (await probe()) === what, 30_000)
  try {
    const removeStamp = await configure('stamp', webhook('stamp', '/stamp', { objectSelector: { matchExpressions: [{ key: 'skip', operator: 'DoesNotExist' }] } }))
    await until('stamped')
    // CREATE: mutated; another namespace (namespaceSelector) and a labelled object (objectSelector): not called.
    assert.deepEqual((await client.create<Record<string, any>>(cm('a'))).data, { stamped: '1' })
    assert.equal((await client.create<Record<string, any>>(cm('b', 'elsewhere'))).data, undefined)
    assert.equal((await client.create<Record<string, any>>(cm('c', ns, { skip: 'x' }))).data, undefined)
    // Secrets are not in the rules.
    assert.equal(((await client.create({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 's', namespace: ns } })) as { data?: unknown }).data, undefined)
    // PUT and a JSON patch: UPDATE with the old object, mutated.
    const a = await client.get<Record<string, any>>({ apiVersion: 'v1', kind: 'ConfigMap', namespace: ns, name: 'a' })
    assert.deepEqual((await client.update<Record<string, any>>({ ...a, data: { mine: 'x' } })).data, { stamped: '1' })
    const patched = await client.patch<Record<string, any>>({ apiVersion: 'v1', kind: 'ConfigMap', namespace: ns, name: 'a' }, [{ op: 'add', path: '/metadata/labels', value: { p: 'q' } }], { type: 'json' })
    assert.deepEqual([patched.metadata.labels, patched.data], [{ p: 'q' }, { stamped: '1' }])
    assert.deepEqual(calls, [`CREATE ${ns}/a old=no`, `UPDATE ${ns}/a old=yes`, `UPDATE ${ns}/a old=yes`])
    await removeStamp()
    await until('plain')

    // A denial: the webhook's message, code 400 (its 200 is below 400).
    const removeDeny = await configure('deny', webhook('deny', '/deny'))
    await until('400')
    await assert.rejects(client.create(cm('d')), (err: { status?: number; message?: string }) => {
      assert.equal(err.status, 400)
      assert.match(String(err.message), /admission webhook "deny.example.com" denied the request: not today/)
      return true
    })

    await removeDeny()
    await until('plain')

    // A patch that does not apply: 500 whatever the failure policy (Ignore here).
    const removeBad = await configure('bad', webhook('bad', '/badpatch', { failurePolicy: 'Ignore' }))
    await until('500')
    await assert.rejects(client.create(cm('e')), (err: { status?: number; message?: string }) => {
      assert.equal(err.status, 500)
      assert.match(String(err.message), /Internal error occurred: .*does not apply/)
      return true
    })
    await removeBad()
    await until('plain')
    // An unreachable webhook: ignored under Ignore, 500 under Fail (the default).
    const removeIgnored = await configure('ignored', webhook('ignored', '/stamp', { failurePolicy: 'Ignore' }))
    await until('stamped')
    await hooks.stop()
    assert.equal((await client.create<Record<string, any>>(cm('g'))).data, undefined, 'webhook down, Ignore: created unmutated')
    await removeIgnored()
    const removeDown = await configure('down', webhook('down', '/stamp'))
    await until('500')
    await assert.rejects(client.create(cm('f')), (err: { status?: number; message?: string }) => {
      assert.equal(err.status, 500)
      assert.match(String(err.message), /failed calling webhook "down.example.com"/)
      return true
    })
    await removeDown()
  } finally {
    await hooks.stop()
    rmSync(dir, { recursive: true, force: true })
  }
}
