/**
 * The real control plane: startKubeApiServer() against the kube-apiserver and etcd built
 * by `npm run envtest:build`. Runs under `npm run test:envtest`, not `npm test`.
 * Anchor: controller-runtime's envtest (pkg/envtest, KUBEBUILDER_ASSETS), which this
 * mirrors for TypeScript.
 */
import assert from 'node:assert/strict'
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { once } from 'node:events'
import { request } from 'node:https'
import { type AddressInfo, createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { CoreV1Api, type V1ConfigMap, VersionApi, Watch } from '@kubernetes/client-node'
import { createLogger } from '../../lib/log.ts'
import {
  ENVTEST_KUBERNETES_VERSION,
  EnvtestAssetsNotFoundError,
  EnvtestStartError,
  findEnvtestAssets,
  type KubeApiServer,
  startKubeApiServer,
} from '../../lib/testing/kube-apiserver.ts'
import { envtestSkipReason, inEnvtestTier } from './availability.ts'

const logger = createLogger({ level: 'silent' })
const skip = inEnvtestTier() ? envtestSkipReason() : undefined

/** The version testing/envtest/go.mod pins, which the build script compiles in. */
function pinnedVersion(): string {
  const goMod = readFileSync(new URL('../../testing/envtest/go.mod', import.meta.url), 'utf8')
  const match = /^\s*(?:require\s+)?k8s\.io\/kubernetes\s+(v\S+)/m.exec(goMod)
  assert.ok(match, 'testing/envtest/go.mod requires k8s.io/kubernetes')
  return match[1]!
}

/** Is a process with this pid still there? (signal 0 checks without signalling) */
/** GET with certificate verification against `ca` (unlike the startup probe). */
function get(url: string, ca: string, token: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { ca, headers: { authorization: `Bearer ${token}` } }, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (chunk: string) => (body += chunk))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }))
    })
    req.on('error', reject)
    req.end()
  })
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    assert.equal((err as NodeJS.ErrnoException).code, 'ESRCH')
    return false
  }
}

// Only in `npm run test:envtest` (see inEnvtestTier).
if (inEnvtestTier()) {
  describe('startKubeApiServer against the real kube-apiserver', { skip }, () => {
    let server: KubeApiServer

    before(async () => {
      server = await startKubeApiServer({ logger })
    })
    after(async () => {
      await server?.stop()
    })

    test('GET /version reports the Kubernetes release pinned in testing/envtest/go.mod', async () => {
      assert.equal(ENVTEST_KUBERNETES_VERSION, pinnedVersion())
      const version = await server.kubeConfig.makeApiClient(VersionApi).getCode()
      assert.equal(version.gitVersion, ENVTEST_KUBERNETES_VERSION)
    })

    test('serves on 127.0.0.1 with a certificate the returned CA verifies, and answers a wrong token with 401', async () => {
      assert.match(server.url, /^https:\/\/127\.0\.0\.1:\d+$/)
      assert.match(server.etcdUrl, /^http:\/\/127\.0\.0\.1:\d+$/)
      // Kubernetes API docs, "Authenticating": a bearer token no authenticator accepts is a
      // 401 whose body is a Status with reason Unauthorized.
      const res = await get(`${server.url}/api/v1/namespaces`, server.caPem, 'not-the-token')
      assert.equal(res.status, 401)
      const status = JSON.parse(res.body)
      assert.equal(status.kind, 'Status')
      assert.equal(status.reason, 'Unauthorized')
      assert.equal((await get(`${server.url}/readyz`, server.caPem, server.token)).status, 200)
    })

    test('creates, lists and watches ConfigMaps through @kubernetes/client-node', async () => {
      const core = server.kubeConfig.makeApiClient(CoreV1Api)
      const namespace = 'envtest-configmaps'
      await core.createNamespace({ body: { metadata: { name: namespace } } })
      await core.createNamespacedConfigMap({
        namespace,
        body: { metadata: { name: 'first' }, data: { n: '1' } },
      })
      const list = await core.listNamespacedConfigMap({ namespace })
      assert.deepEqual(
        list.items.map((cm) => cm.metadata?.name),
        ['first'],
      )
      const listRv = list.metadata?.resourceVersion
      assert.ok(listRv, 'a list carries the collection resourceVersion to watch from')

      // Watch from the list's resourceVersion: exactly the changes after the list arrive
      // (Kubernetes API concepts, "Efficient detection of changes").
      const events: { type: string; name: string | undefined; data: Record<string, string> | undefined }[] = []
      let onEvent = () => {}
      const watching = await new Watch(server.kubeConfig).watch(
        `/api/v1/namespaces/${namespace}/configmaps`,
        { resourceVersion: listRv },
        (type, obj: V1ConfigMap) => {
          events.push({ type, name: obj.metadata?.name, data: obj.data })
          onEvent()
        },
        () => {},
      )
      try {
        const seenThree = new Promise<void>((resolve) => {
          onEvent = () => events.length >= 3 && resolve()
        })
        await core.createNamespacedConfigMap({ namespace, body: { metadata: { name: 'second' }, data: { n: '2' } } })
        await core.replaceNamespacedConfigMap({
          name: 'first',
          namespace,
          body: { metadata: { name: 'first' }, data: { n: '1b' } },
        })
        await core.deleteNamespacedConfigMap({ name: 'second', namespace })
        await seenThree
      } finally {
        watching.abort()
      }
      assert.deepEqual(events, [
        { type: 'ADDED', name: 'second', data: { n: '2' } },
        { type: 'MODIFIED', name: 'first', data: { n: '1b' } },
        { type: 'DELETED', name: 'second', data: { n: '2' } },
      ])
    })

    test('accepts a Pod although no controller manager created a service account', async () => {
      // With the ServiceAccount admission plugin on, a pod is rejected until the
      // namespace's `default` service account exists, which only kube-controller-manager
      // creates (Kubernetes docs, "Admission controllers reference": ServiceAccount).
      const core = server.kubeConfig.makeApiClient(CoreV1Api)
      const pod = await core.createNamespacedPod({
        namespace: 'default',
        body: { metadata: { name: 'p' }, spec: { containers: [{ name: 'c', image: 'busybox' }] } },
      })
      assert.equal(pod.metadata?.name, 'p')
      assert.equal(pod.status?.phase, 'Pending')
    })

    test('stop() ends both processes by pid and removes the temporary directory', async () => {
      const { pids, dir } = server
      assert.ok(alive(pids.apiServer) && alive(pids.etcd))
      await server.stop()
      assert.equal(alive(pids.apiServer), false, 'kube-apiserver is gone')
      assert.equal(alive(pids.etcd), false, 'etcd is gone')
      assert.equal(existsSync(dir), false, 'the temporary directory is removed')
      await server.stop() // idempotent
    })
  })

  describe('startKubeApiServer with controllerManager: true (kube-controller-manager beside it)', { skip }, () => {
    let server: KubeApiServer
    let startMs = 0

    before(async () => {
      const t0 = performance.now()
      server = await startKubeApiServer({ logger, controllerManager: true })
      startMs = performance.now() - t0
    })
    after(async () => {
      await server?.stop()
    })

    test('starts kube-controller-manager, logging to kube-controller-manager.log, with a synced garbage collector', async (t) => {
      t.diagnostic(`etcd + kube-apiserver + kube-controller-manager ready (probe collected) in ${(startMs / 1000).toFixed(1)} s`)
      assert.equal(server.controllerManager, true)
      assert.ok(server.pids.controllerManager !== undefined && alive(server.pids.controllerManager))
      const log = readFileSync(join(server.dir, 'kube-controller-manager.log'), 'utf8')
      assert.match(log, /garbage/i, 'its log names the garbage collector')
      assert.ok(!log.includes(server.token), 'the token never reaches the log')
      // The start-up probe was collected: the garbage collector works before the first test.
      const core = server.kubeConfig.makeApiClient(CoreV1Api)
      const left = await core.listNamespacedConfigMap({ namespace: 'default' })
      assert.deepEqual(left.items.filter((c) => c.metadata?.name?.startsWith('envtest-gc-probe-')), [])
    })

    test('the namespace controller removes a deleted namespace', async () => {
      const core = server.kubeConfig.makeApiClient(CoreV1Api)
      await core.createNamespace({ body: { metadata: { name: 'kcm-ns' } } })
      await core.deleteNamespace({ name: 'kcm-ns' })
      const deadline = performance.now() + 30_000
      for (;;) {
        const res = await get(`${server.url}/api/v1/namespaces/kcm-ns`, server.caPem, server.token)
        if (res.status === 404) break
        assert.ok(performance.now() < deadline, 'the namespace is gone within 30 s')
        await new Promise((r) => setTimeout(r, 200))
      }
    })

    test('stop() ends all three processes by pid', async () => {
      const { pids } = server
      await server.stop()
      for (const [name, pid] of Object.entries(pids)) assert.equal(alive(pid!), false, `${name} is gone`)
    })
  })

  describe('startKubeApiServer with watchCache: false and a 1s etcd compaction interval', { skip }, () => {
    let server: KubeApiServer

    before(async () => {
      server = await startKubeApiServer({ logger, watchCache: false, etcdCompactionInterval: '1s' })
    })
    after(async () => {
      await server?.stop()
    })

    test('a watch from a compacted resourceVersion gets an ERROR event with a 410 Expired Status', async () => {
      // Kubernetes API concepts, "Resource versions" / "410 Gone responses": a watch from a
      // version etcd has compacted away ends with an ERROR event carrying a 410 Status. This
      // is how the conformance suite forces it on the real server.
      const core = server.kubeConfig.makeApiClient(CoreV1Api)
      const created = await core.createNamespacedConfigMap({ namespace: 'default', body: { metadata: { name: 'old' } } })
      const oldRv = created.metadata?.resourceVersion
      assert.ok(oldRv)
      // Compaction only moves past revisions that exist: keep writing until the old one is gone.
      let expired: { code?: number; reason?: string; kind?: string } | undefined
      for (let attempt = 0; attempt < 60 && expired === undefined; attempt++) {
        await core.replaceNamespacedConfigMap({
          name: 'old',
          namespace: 'default',
          body: { metadata: { name: 'old' }, data: { attempt: String(attempt) } },
        })
        expired = await new Promise((resolve) => {
          let controller: AbortController | undefined
          let settled = false
          const finish = (value: typeof expired) => {
            if (settled) return
            settled = true
            controller?.abort()
            resolve(value)
          }
          new Watch(server.kubeConfig)
            .watch(
              '/api/v1/namespaces/default/configmaps',
              { resourceVersion: oldRv },
              (type, obj) => finish(type === 'ERROR' ? obj : undefined),
              () => finish(undefined),
            )
            .then((c) => {
              controller = c
              if (settled) c.abort()
            }, () => finish(undefined))
        })
        if (expired === undefined) await new Promise((resolve) => setTimeout(resolve, 500))
      }
      assert.ok(expired, 'the old resourceVersion was compacted within 30 s')
      assert.equal(expired.kind, 'Status')
      assert.equal(expired.code, 410)
      assert.equal(expired.reason, 'Expired')
    })
  })

  describe('startKubeApiServer when a process fails to start', { skip }, () => {
    test('throws EnvtestStartError ending with the failing process\'s last log lines', async (t) => {
      // Hold a port and make etcd listen on it: every attempt (three, on fresh ports for the
      // rest) fails to bind, and the error shows etcd's own words.
      const blocker = createServer().listen(0, '127.0.0.1')
      await once(blocker, 'listening')
      t.after(() => blocker.close())
      const port = (blocker.address() as AddressInfo).port
      await assert.rejects(
        startKubeApiServer({ logger, etcdArgs: [`--listen-client-urls=http://127.0.0.1:${port}`] }),
        (err: unknown) =>
          err instanceof EnvtestStartError &&
          err.code === 'ERR_ENVTEST_START' &&
          err.message.includes('etcd exited early') &&
          err.message.includes('--- last 25 lines of etcd') &&
          err.message.includes('address already in use'),
      )
    })
  })

  describe('findEnvtestAssets', () => {
    /** A directory with fake executables named like the binaries. */
    function assetsDir(names: string[]): string {
      const dir = mkdtempSync(join(tmpdir(), 'kubevisor-assets-'))
      for (const name of names) {
        writeFileSync(join(dir, name), '#!/bin/sh\n')
        chmodSync(join(dir, name), 0o755)
      }
      return dir
    }

    test('an assets directory without the binaries throws an error that says to run npm run envtest:build', (t) => {
      const dir = assetsDir(['etcd'])
      t.after(() => rmSync(dir, { recursive: true, force: true }))
      assert.throws(
        () => findEnvtestAssets(dir, {}),
        (err: unknown) =>
          err instanceof EnvtestAssetsNotFoundError &&
          err.code === 'ERR_ENVTEST_ASSETS_NOT_FOUND' &&
          err.message.includes('npm run envtest:build') &&
          err.message.includes(join(dir, 'kube-apiserver')) &&
          !err.message.includes(join(dir, 'etcd ')),
      )
    })

    test('finds kube-controller-manager next to kube-apiserver; controllerManager: true without it says to run npm run envtest:build', async (t) => {
      const with3 = assetsDir(['kube-apiserver', 'etcd', 'kube-controller-manager'])
      const with2 = assetsDir(['kube-apiserver', 'etcd'])
      t.after(() => {
        for (const dir of [with3, with2]) rmSync(dir, { recursive: true, force: true })
      })
      assert.equal(findEnvtestAssets(with3, {}).kubeControllerManager, join(with3, 'kube-controller-manager'))
      assert.equal(findEnvtestAssets(with2, {}).kubeControllerManager, undefined)
      await assert.rejects(
        startKubeApiServer({ assetsDir: with2, controllerManager: true, logger }),
        (err: unknown) =>
          err instanceof EnvtestAssetsNotFoundError &&
          err.message.includes(join(with2, 'kube-controller-manager')) &&
          err.message.includes('npm run envtest:build'),
      )
    })

    test('takes the option, then KUBEVISOR_ENVTEST_ASSETS, then KUBEBUILDER_ASSETS, then the cache', (t) => {
      const full = assetsDir(['kube-apiserver', 'etcd'])
      const other = assetsDir(['kube-apiserver', 'etcd'])
      const cache = mkdtempSync(join(tmpdir(), 'kubevisor-cache-'))
      const cached = join(cache, 'envtest', ENVTEST_KUBERNETES_VERSION)
      mkdirSync(cached, { recursive: true })
      for (const name of ['kube-apiserver', 'etcd']) {
        writeFileSync(join(cached, name), '#!/bin/sh\n')
        chmodSync(join(cached, name), 0o755)
      }
      t.after(() => {
        for (const dir of [full, other, cache]) rmSync(dir, { recursive: true, force: true })
      })
      const cases: [string | undefined, NodeJS.ProcessEnv, string, string][] = [
        [full, { KUBEVISOR_ENVTEST_ASSETS: other, KUBEBUILDER_ASSETS: other }, full, 'option'],
        [undefined, { KUBEVISOR_ENVTEST_ASSETS: full, KUBEBUILDER_ASSETS: other }, full, 'KUBEVISOR_ENVTEST_ASSETS'],
        [undefined, { KUBEBUILDER_ASSETS: full, KUBEVISOR_CACHE: cache }, full, 'KUBEBUILDER_ASSETS'],
        [undefined, { KUBEVISOR_CACHE: cache }, cached, 'cache'],
      ]
      for (const [option, env, dir, source] of cases) {
        const found = findEnvtestAssets(option, env)
        assert.deepEqual(found, { dir, kubeApiServer: join(dir, 'kube-apiserver'), etcd: join(dir, 'etcd'), source })
      }
    })
  })
}
