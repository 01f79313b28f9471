// kubectl's typed-client commands against the embedded API server. kubectl 1.32 (and any
// client-go typed client) sends `Content-Type: application/vnd.kubernetes.protobuf` and
// `Accept: application/vnd.kubernetes.protobuf,application/json` for built-in kinds; older
// kubectl (Debian's 1.20) sends JSON. Each command is checked through the server's state,
// not only kubectl's exit code. kubectl comes from $KUBECTL, PATH or ~/.cache/kubevisor/bin
// (see .ci/run); the suite skips, saying so, when none exists.
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { accessSync, chmodSync, constants, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { homedir, tmpdir } from 'node:os'
import { delimiter, join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { type ApiServer, startApiServer } from '../../../lib/testing/index.ts'

function findKubectl(): string | undefined {
  const candidates = [
    process.env.KUBECTL,
    ...(process.env.PATH ?? '').split(delimiter).map((d) => join(d, 'kubectl')),
    join(homedir(), '.cache', 'kubevisor', 'bin', 'kubectl'),
  ]
  for (const c of candidates) {
    if (!c) continue
    try {
      accessSync(c, constants.X_OK)
      return c
    } catch {
      // next
    }
  }
  return undefined
}

const kubectl = findKubectl()
if (!kubectl) console.log('# kubectl typed-client tests SKIPPED: no kubectl on $KUBECTL, PATH or ~/.cache/kubevisor/bin')

describe('embedded API server: kubectl typed-client commands (protobuf bodies)', { skip: kubectl ? false : 'kubectl not found' }, () => {
  let server: ApiServer
  let dir: string
  let kubeconfig: string

  const run = (args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> =>
    new Promise((resolve) => {
      execFile(
        kubectl!,
        ['--kubeconfig', kubeconfig, '--cache-dir', join(dir, 'cache'), ...args],
        { timeout: 30_000, env: { ...process.env, ...env } },
        (err, stdout, stderr) => resolve({ code: err ? ((err as any).code ?? 1) : 0, stdout, stderr }),
      )
    })
  const ok = async (args: string[], env?: Record<string, string>) => {
    const r = await run(args, env)
    assert.equal(r.code, 0, `kubectl ${args.join(' ')} failed: ${r.stderr}`)
    return r.stdout
  }
  const get = (apiVersion: string, kind: string, name: string, namespace = 'default') =>
    server.get({ apiVersion, kind, name, ...(kind === 'Namespace' ? {} : { namespace }) }) as any

  before(async () => {
    server = await startApiServer()
    dir = mkdtempSync(join(tmpdir(), 'kubevisor-kubectl-typed-'))
    kubeconfig = join(dir, 'config.yaml')
    writeFileSync(kubeconfig, server.kubeConfigYaml())
  })
  after(async () => {
    await server.close()
    rmSync(dir, { recursive: true, force: true })
  })

  test('create namespace (the request body is protobuf when kubectl sends it)', async () => {
    const r = await run(['create', 'namespace', 'demo', '-v=8'])
    assert.equal(r.code, 0, r.stderr)
    const sentProtobuf = /Content-Type: application\/vnd\.kubernetes\.protobuf/.test(r.stderr)
    console.log(`# kubectl create namespace sent ${sentProtobuf ? 'protobuf' : 'JSON'}`)
    assert.ok(get('v1', 'Namespace', 'demo'))
  })

  test('create configmap --from-literal', async () => {
    assert.match(await ok(['create', 'configmap', 'x', '--from-literal=a=b']), /configmap\/x created/)
    assert.deepEqual(get('v1', 'ConfigMap', 'x').data, { a: 'b' })
  })

  test('create secret generic: bytes arrive base64-encoded, as over JSON', async () => {
    await ok(['create', 'secret', 'generic', 's', '--from-literal=password=hunter2'])
    const s = get('v1', 'Secret', 's')
    assert.equal(Buffer.from(s.data.password, 'base64').toString(), 'hunter2')
    assert.equal(s.type, 'Opaque')
  })

  test('create deployment, run, expose', async () => {
    await ok(['create', 'deployment', 'web', '--image=nginx:1.27', '--replicas=2', '--port=80'])
    const d = get('apps/v1', 'Deployment', 'web')
    assert.equal(d.spec.replicas, 2)
    assert.deepEqual(d.spec.selector.matchLabels, { app: 'web' })
    assert.equal(d.spec.template.spec.containers[0].ports[0].containerPort, 80)
    await ok(['run', 'solo', '--image=busybox', '--labels=app=solo', '--', 'sleep', '3600'])
    const p = get('v1', 'Pod', 'solo')
    assert.deepEqual(p.spec.containers[0].args, ['sleep', '3600'])
    await ok(['expose', 'deployment', 'web', '--port=8080', '--target-port=80'])
    const svc = get('v1', 'Service', 'web')
    assert.deepEqual(
      svc.spec.ports.map((x: any) => [x.port, x.targetPort]),
      [[8080, 80]],
    )
    assert.deepEqual(svc.spec.selector, { app: 'web' })
  })

  test('scale and rollout restart', async () => {
    await ok(['scale', 'deployment', 'web', '--replicas=5'])
    assert.equal(get('apps/v1', 'Deployment', 'web').spec.replicas, 5)
    await ok(['rollout', 'restart', 'deployment', 'web'])
    const d = get('apps/v1', 'Deployment', 'web')
    assert.match(d.spec.template.metadata.annotations['kubectl.kubernetes.io/restartedAt'], /^\d{4}-/)
  })

  test('label and annotate', async () => {
    await ok(['label', 'configmap', 'x', 'tier=gold'])
    await ok(['annotate', 'configmap', 'x', 'note=hello'])
    const cm = get('v1', 'ConfigMap', 'x')
    assert.equal(cm.metadata.labels.tier, 'gold')
    assert.equal(cm.metadata.annotations.note, 'hello')
  })

  test('edit, non-interactively through KUBE_EDITOR', async () => {
    const editor = join(dir, 'editor.sh')
    writeFileSync(editor, '#!/bin/sh\nsed -i "s/^  a: b$/  a: edited/" "$1"\n')
    chmodSync(editor, 0o755)
    await ok(['edit', 'configmap', 'x'], { KUBE_EDITOR: editor, EDITOR: editor })
    assert.equal(get('v1', 'ConfigMap', 'x').data.a, 'edited')
  })

  test('delete', async () => {
    await ok(['delete', 'configmap', 'x'])
    await ok(['delete', 'secret', 's'])
    await ok(['delete', 'namespace', 'demo'])
    assert.equal(get('v1', 'ConfigMap', 'x'), undefined)
    assert.equal(get('v1', 'Secret', 's'), undefined)
  })
})
