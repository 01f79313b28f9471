// kubectl as a real client nobody here wrote: get (server-side Table printing), apply
// (client-side apply: GET + strategic merge PATCH, and server-side field validation
// discovered through /openapi/v3; server-side apply with its conflicts), patch (merge, json, strategic), delete, get -w, CRDs,
// and HTTPS with a bearer token. Runs once per kubectl of kubectls.ts (KUBEVISOR_KUBECTLS or
// the ones found: PATH, the one built from Go modules, Debian's; see .ci/run).
import assert from 'node:assert/strict'
import { execFile, spawn } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { type ApiServer, startApiServer } from '../../../lib/testing/index.ts'
import { crd } from './helpers.ts'
import { checkKubectls, kubectls } from './kubectls.ts'

checkKubectls('kubectl')

for (const k of kubectls) {
describe(`embedded API server: kubectl, ${k.label}`, () => {
  const kubectl = k.path
  let server: ApiServer
  let dir: string
  let kubeconfig: string

  const run = (args: string[], input?: string, config = kubeconfig): Promise<{ code: number; stdout: string; stderr: string }> =>
    new Promise((resolve) => {
      const child = execFile(
        kubectl,
        ['--kubeconfig', config, '--cache-dir', join(dir, 'cache'), ...args],
        { timeout: 30_000 },
        (err, stdout, stderr) => resolve({ code: err ? ((err as any).code ?? 1) : 0, stdout, stderr }),
      )
      if (input !== undefined) child.stdin!.end(input)
    })

  const ok = async (args: string[], input?: string) => {
    const r = await run(args, input)
    assert.equal(r.code, 0, `kubectl ${args.join(' ')} failed: ${r.stderr}`)
    return r.stdout
  }

  before(async () => {
    server = await startApiServer()
    dir = mkdtempSync(join(tmpdir(), 'kubevisor-kubectl-'))
    kubeconfig = join(dir, 'config.yaml')
    writeFileSync(kubeconfig, server.kubeConfigYaml())
  })
  after(async () => {
    await server.close()
    rmSync(dir, { recursive: true, force: true })
  })

  test('kubectl get lists namespaces through server-side Table printing', async () => {
    const out = await ok(['get', 'namespaces'])
    assert.match(out, /^NAME\s+CREATED AT/)
    for (const ns of ['default', 'kube-system']) assert.match(out, new RegExp(`^${ns}\\s`, 'm'))
  })

  test('kubectl apply --server-side: creates, owns its fields, and reports another manager\'s conflict unless --force-conflicts', async () => {
    // kubectl 1.21 hid managedFields from -o json behind --show-managed-fields; 1.20 prints them.
    const showManaged = k.minor >= 21 ? ['--show-managed-fields'] : []
    const cm = (value: string) => `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ssa\n  namespace: default\ndata:\n  key: "${value}"\n`
    assert.match(await ok(['apply', '--server-side', '-f', '-'], cm('1')), /configmap\/ssa serverside-applied/)
    const owned = JSON.parse(await ok(['get', 'configmap', 'ssa', '-o', 'json', ...showManaged]))
    assert.deepEqual(
      owned.metadata.managedFields.map((m: any) => [m.manager, m.operation, m.fieldsV1]),
      [['kubectl', 'Apply', { 'f:data': { 'f:key': {} } }]],
    )
    const clash = await run(['apply', '--server-side', '--field-manager', 'other', '-f', '-'], cm('2'))
    assert.notEqual(clash.code, 0)
    assert.match(clash.stderr, /Apply failed with 1 conflict: conflict with "kubectl": \.data\.key/)
    assert.match(await ok(['apply', '--server-side', '--field-manager', 'other', '--force-conflicts', '-f', '-'], cm('2')), /serverside-applied/)
    const taken = JSON.parse(await ok(['get', 'configmap', 'ssa', '-o', 'json', ...showManaged]))
    assert.equal(taken.data.key, '2')
    assert.deepEqual(taken.metadata.managedFields.map((m: any) => m.manager), ['other'])
    await ok(['delete', 'configmap', 'ssa']) // later tests watch the namespace's configmaps
  })

  test('kubectl apply creates, then configures with a strategic merge patch', async () => {
    const manifest = (image: string, env: string) => `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {app: web}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: app
        image: ${image}
        env: [{name: MODE, value: "${env}"}]
`
    assert.match(await ok(['apply', '-f', '-'], manifest('nginx:1', 'a')), /deployment.apps\/web created/)
    assert.match(await ok(['apply', '-f', '-'], manifest('nginx:2', 'b')), /deployment.apps\/web configured/)
    const d = server.get({ apiVersion: 'apps/v1', kind: 'Deployment', name: 'web' }) as any
    assert.equal(d.spec.template.spec.containers[0].image, 'nginx:2')
    assert.deepEqual(d.spec.template.spec.containers[0].env, [{ name: 'MODE', value: 'b' }])
    assert.equal(d.metadata.generation, 2)
    assert.ok(d.metadata.annotations['kubectl.kubernetes.io/last-applied-configuration'])
    assert.match(await ok(['apply', '-f', '-'], manifest('nginx:2', 'b')), /deployment.apps\/web unchanged/)
  })

  test('kubectl scale goes through the scale subresource', async () => {
    assert.match(await ok(['scale', 'deployment', 'web', '--replicas=4']), /deployment.apps\/web scaled/)
    const d = server.get({ apiVersion: 'apps/v1', kind: 'Deployment', name: 'web' }) as any
    assert.equal(d.spec.replicas, 4)
  })

  test('kubectl patch with merge, json and strategic patches', async () => {
    server.create({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'kc-patch', namespace: 'default' }, data: { a: '1' } })
    await ok(['patch', 'configmap', 'kc-patch', '--type=merge', '-p', '{"data":{"b":"2"}}'])
    await ok(['patch', 'configmap', 'kc-patch', '--type=json', '-p', '[{"op":"remove","path":"/data/a"}]'])
    await ok(['patch', 'configmap', 'kc-patch', '-p', '{"metadata":{"labels":{"via":"strategic"}}}'])
    const cm = server.get({ apiVersion: 'v1', kind: 'ConfigMap', name: 'kc-patch' }) as any
    assert.deepEqual(cm.data, { b: '2' })
    assert.deepEqual(cm.metadata.labels, { via: 'strategic' })
  })

  test('kubectl get -o json returns the stored object; a missing one is the real NotFound error', async () => {
    const cm = JSON.parse(await ok(['get', 'configmap', 'kc-patch', '-o', 'json']))
    assert.equal(cm.metadata.name, 'kc-patch')
    const missing = await run(['get', 'configmap', 'nope'])
    assert.notEqual(missing.code, 0)
    assert.match(missing.stderr, /Error from server \(NotFound\): configmaps "nope" not found/)
  })

  test('kubectl delete removes the object', async () => {
    assert.match(await ok(['delete', 'configmap', 'kc-patch']), /configmap "kc-patch" deleted/)
    assert.equal(server.get({ apiVersion: 'v1', kind: 'ConfigMap', name: 'kc-patch' }), undefined)
  })

  test('kubectl get -w prints objects as they change', async () => {
    const child = spawn(
      kubectl,
      ['--kubeconfig', kubeconfig, '--cache-dir', join(dir, 'cache'), 'get', 'configmaps', '-w', '--output-watch-events', '-o', 'json'],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    )
    try {
      let out = ''
      child.stdout.on('data', (d) => {
        out += d
      })
      await server.waitForWatches(1, { resource: 'configmaps' })
      server.create({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'kc-watch', namespace: 'default' } })
      server.delete({ apiVersion: 'v1', kind: 'ConfigMap', name: 'kc-watch' })
      // One compact JSON watch event per line.
      const events = () =>
        out
          .split('\n')
          .slice(0, -1)
          .map((l) => JSON.parse(l))
          .map((e) => `${e.type}:${e.object.metadata.name}`)
      const deadline = Date.now() + 15_000
      while (!events().includes('DELETED:kc-watch') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20))
      assert.deepEqual(events(), ['ADDED:kc-watch', 'DELETED:kc-watch'])
    } finally {
      child.kill('SIGKILL')
    }
  })

  test('kubectl applies a CRD, then custom resources of the new kind', async () => {
    await ok(['apply', '-f', '-'], JSON.stringify(crd('Namespaced')))
    await ok(['apply', '-f', '-'], 'apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w1}\nspec: {size: 1}\n')
    await ok(['apply', '-f', '-'], 'apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w1}\nspec: {size: 2}\n')
    const out = await ok(['get', 'widgets'])
    assert.match(out, /^w1\s/m)
    const w = server.get({ apiVersion: 'example.com/v1', kind: 'Widget', name: 'w1' }) as any
    assert.deepEqual([w.spec.size, w.metadata.generation], [2, 2])
  })

  test('kubectl talks HTTPS with the generated CA and a bearer token', async () => {
    const secure = await startApiServer({ tls: true, token: 'kubectl-token' })
    try {
      const config = join(dir, 'secure.yaml')
      writeFileSync(config, secure.kubeConfigYaml())
      const r = await run(['get', 'namespace', 'default', '-o', 'name'], undefined, config)
      assert.equal(r.code, 0, r.stderr)
      assert.equal(r.stdout.trim(), 'namespace/default')
      writeFileSync(config, secure.kubeConfigYaml().replace('"kubectl-token"', '"wrong"'))
      const denied = await run(['get', 'namespaces'], undefined, config)
      assert.notEqual(denied.code, 0)
      assert.match(denied.stderr, /Unauthorized|must be logged in/)
    } finally {
      await secure.close()
    }
  })
})
}
