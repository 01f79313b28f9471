/**
 * The Manager against the real kube-apiserver (`npm run test:envtest`): deploy/ applied with
 * kubectl and checked object by object; the operator's service account, with exactly the
 * RBAC of deploy/rbac.yaml, runs three replicas of examples/operator.ts (one leader, kill -9
 * and SIGTERM failover, no overlapping writers); a Lease taken by someone else makes the
 * leader exit 1.
 */
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { AppsV1Api, CoordinationV1Api, CoreV1Api, CustomObjectsApi, RbacAuthorizationV1Api } from '@kubernetes/client-node'
import { createLogger } from '../../lib/log.ts'
import { type KubeApiServer, startKubeApiServer } from '../../lib/testing/kube-apiserver.ts'
import { parsePrometheusText, parserUnavailable } from '../manager/prometheus-parser.ts'
import { type Cluster, type Lease, Replica, replicaArgs, takenScenario, trioScenario, waitFor } from '../manager/replicas.ts'
import { envtestSkipReason, inEnvtestTier } from './availability.ts'

const root = fileURLToPath(new URL('../../', import.meta.url))
const skip = inEnvtestTier() ? envtestSkipReason() : undefined
const logger = createLogger({ level: 'silent' })
const SA = 'system:serviceaccount:site-operator-system:site-operator'

function kubeconfigYaml(server: KubeApiServer, token: string): string {
  const ca = Buffer.from(server.caPem).toString('base64')
  return [
    'apiVersion: v1',
    'kind: Config',
    'clusters:',
    `- name: envtest\n  cluster:\n    server: ${server.url}\n    certificate-authority-data: ${ca}`,
    'users:',
    `- name: user\n  user:\n    token: ${token}`,
    'contexts:',
    '- name: envtest\n  context:\n    cluster: envtest\n    user: user\n    namespace: default',
    'current-context: envtest',
    '',
  ].join('\n')
}

function kubectl(kubeconfig: string, args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync('kubectl', [`--kubeconfig=${kubeconfig}`, ...args], { encoding: 'utf8', timeout: 60_000 })
  if (r.error) throw r.error
  return { status: r.status, stdout: r.stdout, stderr: r.stderr }
}

function kubectlAvailable(): string | undefined {
  const r = spawnSync('kubectl', ['version', '--client'], { encoding: 'utf8' })
  if (r.error || r.status !== 0) {
    if (process.env.CI) return undefined // fail below with kubectl's own error
    console.log('skipped: kubectl is not installed (.ci/run installs Debian\'s kubernetes-client)')
    return 'kubectl is not installed'
  }
  return undefined
}

if (inEnvtestTier()) {
  describe('Manager and deploy/ against the real kube-apiserver', { skip: skip ?? kubectlAvailable() }, () => {
    let server: KubeApiServer
    let admin: string
    const running: Replica[] = []
    const replica = (args: string[]) => {
      const r = new Replica(args)
      running.push(r)
      return r
    }

    before(async () => {
      server = await startKubeApiServer({ logger })
      const dir = mkdtempSync(join(tmpdir(), 'kubevisor-manager-envtest-'))
      admin = join(dir, 'admin.kubeconfig')
      writeFileSync(admin, kubeconfigYaml(server, server.token))
    })
    after(async () => {
      for (const r of running) if (r.alive) r.kill('SIGKILL')
      await Promise.all(running.map((r) => r.exited))
      await server?.stop()
    })

    test('kubectl apply -f deploy/ creates every object with the fields the operator relies on', async () => {
      // The namespace and the CRD first (the Deployment and RBAC name the namespace), as a user would.
      for (const file of ['namespace.yaml', 'crd.yaml', 'rbac.yaml', 'deployment.yaml']) {
        const r = kubectl(admin, ['apply', '--server-side', '--field-manager=kubevisor-test', '-f', join(root, 'deploy', file)])
        assert.equal(r.status, 0, `${file}: ${r.stderr}`)
      }
      assert.equal(kubectl(admin, ['wait', '--for=condition=Established', '--timeout=30s', 'crd/sites.example.com']).status, 0)
      const kc = server.kubeConfig
      const core = kc.makeApiClient(CoreV1Api)
      const rbac = kc.makeApiClient(RbacAuthorizationV1Api)
      const apps = kc.makeApiClient(AppsV1Api)
      assert.equal((await core.readNamespace({ name: 'site-operator-system' })).metadata?.name, 'site-operator-system')
      assert.equal((await core.readNamespacedServiceAccount({ name: 'site-operator', namespace: 'site-operator-system' })).metadata?.name, 'site-operator')
      const role = await rbac.readNamespacedRole({ name: 'site-operator-leader-election', namespace: 'site-operator-system' })
      assert.deepEqual(role.rules?.map((r) => [r.apiGroups, r.resources, r.verbs]), [[['coordination.k8s.io'], ['leases'], ['get', 'create', 'update']]])
      const binding = await rbac.readClusterRoleBinding({ name: 'site-operator' })
      assert.deepEqual(binding.subjects?.map((s) => `${s.kind}/${s.namespace}/${s.name}`), ['ServiceAccount/site-operator-system/site-operator'])
      const deployment = await apps.readNamespacedDeployment({ name: 'site-operator', namespace: 'site-operator-system' })
      assert.equal(deployment.spec?.replicas, 2)
      const container = deployment.spec?.template.spec?.containers[0]
      assert.equal(deployment.spec?.template.spec?.serviceAccountName, 'site-operator')
      assert.equal(container?.livenessProbe?.httpGet?.path, '/healthz')
      assert.equal(container?.readinessProbe?.httpGet?.path, '/readyz')
      assert.equal(container?.livenessProbe?.httpGet?.port, 'probes')
      assert.deepEqual(container?.ports?.map((p) => [p.name, p.containerPort]), [
        ['metrics', 8080],
        ['probes', 8081],
      ])
      assert.ok(container?.args?.includes('--leader-elect') && container.args.includes('--health-probe-bind-address=:8081'))
      assert.deepEqual(container?.resources?.requests, { cpu: '10m', memory: '64Mi' })
      assert.ok((deployment.spec?.template.spec?.terminationGracePeriodSeconds ?? 0) > 30, 'the pod outlives the 30 s graceful shutdown')
    })

    test('the RBAC is least privilege: the service account may do what the operator does and nothing else', () => {
      const can = (args: string[]) => kubectl(admin, ['auth', 'can-i', `--as=${SA}`, ...args]).stdout.trim()
      for (const verb of ['get', 'create', 'update']) assert.equal(can([verb, 'leases.coordination.k8s.io', '-n', 'site-operator-system']), 'yes', verb)
      assert.equal(can(['delete', 'leases.coordination.k8s.io', '-n', 'site-operator-system']), 'no')
      assert.equal(can(['create', 'leases.coordination.k8s.io', '-n', 'default']), 'no', 'leases only in its namespace')
      for (const verb of ['list', 'watch', 'update']) assert.equal(can([verb, 'sites.example.com', '-A']), 'yes', verb)
      assert.equal(can(['delete', 'sites.example.com', '-A']), 'no')
      for (const verb of ['create', 'update', 'delete', 'watch']) assert.equal(can([verb, 'configmaps', '-A']), 'yes', verb)
      assert.equal(can(['get', 'secrets', '-A']), 'no')
      assert.equal(can(['create', 'pods', '-n', 'default']), 'no')
    })

    test('three replicas run as the service account (deploy/rbac.yaml) on the real server: one leader, kill -9 and SIGTERM failover, no overlapping writers', async () => {
      const token = kubectl(admin, ['create', 'token', 'site-operator', '-n', 'site-operator-system', '--duration=1h'])
      assert.equal(token.status, 0, token.stderr)
      const saConfig = join(mkdtempSync(join(tmpdir(), 'kubevisor-sa-')), 'kubeconfig')
      writeFileSync(saConfig, kubeconfigYaml(server, token.stdout.trim()))
      const cluster = realCluster(server, saConfig, 'site-operator-system')
      const times = await trioScenario(cluster, 'envtest-trio', replica, { leaseNamespace: 'site-operator-system', slackMs: 300 })
      console.log(`real kube-apiserver: kill -9 failover ${times.killMs} ms, SIGTERM + release ${times.termMs} ms`)
    })

    test('on the real server: /readyz turns 200 once the caches synced, /metrics parses with prometheus_client, and SIGTERM during a busy reconcile lets it finish and exits 0', async (t) => {
      const cluster = realCluster(server, admin, 'default')
      await cluster.createNamespace('envtest-busy')
      const busy = replica(replicaArgs(admin, { namespace: 'envtest-busy', lease: false, extra: ['--reconcile-delay=1500ms'] }))
      await waitFor('the probe server', () => busy.address('health probes') !== undefined, 30_000, () => busy.dump())
      const probes = busy.address('health probes') as string
      await waitFor('ready', async () => (await fetch(`${probes}/readyz`)).status === 200, 30_000, () => busy.dump())
      assert.equal(await (await fetch(`${probes}/readyz?verbose`)).text(), '[+]informers ok\n[+]ping ok\nhealthz check passed\n')
      await cluster.createSite('envtest-busy', 'a')
      await waitFor('a reconcile to begin', () => busy.lines.some((l) => l.reconcile === 'begin'), 10_000, () => busy.dump())
      const missing = parserUnavailable()
      if (missing && process.env.CI) assert.fail(`the Prometheus parser is required in CI: ${missing}`)
      if (!missing) {
        const families = await parsePrometheusText(await (await fetch(`${busy.address('metrics')}/metrics`)).text())
        const names = new Set(families.map((f) => f.name))
        for (const name of ['controller_runtime_reconcile', 'controller_runtime_reconcile_errors', 'controller_runtime_reconcile_time_seconds', 'controller_runtime_active_workers', 'workqueue_depth', 'kubevisor_watch_events']) {
          assert.ok(names.has(name), `${name} in the scrape`)
        }
      } else t.diagnostic(`metrics parse skipped: ${missing}`)
      const termAt = busy.kill('SIGTERM')
      const exit = await busy.exited
      assert.equal(exit.code, 0, busy.dump())
      assert.equal(busy.lines.filter((l) => l.reconcile === 'end').length, 1, 'the busy reconcile completed')
      assert.ok(busy.lines.filter((l) => l.reconcile === 'begin').every((l) => (l.at as number) < termAt), 'nothing began after the signal')
      assert.equal(busy.writes.length, 1, 'its write (the finalizer) went through')
    })

    test('a Lease taken by someone else on the real server: the leader exits 1 at its next renewal', async () => {
      await takenScenario(realCluster(server, admin, 'default'), 'envtest-taken', replica)
    })
  })
}

/** The real server as a Cluster (objects made with the admin's credentials). */
function realCluster(server: KubeApiServer, kubeconfig: string, _leaseNamespace: string): Cluster {
  const kc = server.kubeConfig
  const core = kc.makeApiClient(CoreV1Api)
  const custom = kc.makeApiClient(CustomObjectsApi)
  const coordination = kc.makeApiClient(CoordinationV1Api)
  return {
    kubeconfig,
    createNamespace: async (name) => {
      await core.createNamespace({ body: { metadata: { name } } })
    },
    createSite: async (namespace, name) => {
      await custom.createNamespacedCustomObject({
        group: 'example.com',
        version: 'v1',
        namespace,
        plural: 'sites',
        body: { apiVersion: 'example.com/v1', kind: 'Site', metadata: { name }, spec: { pages: { 'index.html': `<h1>${name}</h1>` } } },
      })
    },
    lease: async (namespace, name) => (await coordination.readNamespacedLease({ namespace, name }).catch(() => undefined)) as Lease | undefined,
    replaceLease: async (lease) => {
      const meta = lease.metadata as { name: string; namespace: string }
      await coordination.replaceNamespacedLease({ name: meta.name, namespace: meta.namespace, body: lease as never })
    },
    configMap: async (namespace, name) => (await core.readNamespacedConfigMap({ namespace, name }).catch(() => undefined)) as never,
  }
}
