// The rest of kubectl against the embedded API server: `explain` (the real v1.34.4 schemas
// of built-in kinds, a CRD's schema once established), `auth can-i` (SelfSubjectAccessReview
// answered from the server's users, groups and authorizer), `auth can-i --list`,
// `auth whoami`, Forbidden errors worded as kube-apiserver's forbiddenMessage, and
// `logs` / `exec` answering what kube-apiserver answers for a pod no kubelet runs
// (pkg/registry/core/pod/strategy.go). kubectl from $KUBECTL, PATH or ~/.cache/kubevisor/bin.
import assert from 'node:assert/strict'
import { execFile, execFileSync } from 'node:child_process'
import { accessSync, constants, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { homedir, tmpdir } from 'node:os'
import { delimiter, join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { type ApiServer, type AuthorizationAttributes, startApiServer } from '../../../lib/testing/index.ts'
import { request } from './helpers.ts'

function findKubectl(): string | undefined {
  for (const c of [
    process.env.KUBECTL,
    ...(process.env.PATH ?? '').split(delimiter).map((d) => join(d, 'kubectl')),
    join(homedir(), '.cache', 'kubevisor', 'bin', 'kubectl'),
  ]) {
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
if (!kubectl) console.log('# kubectl auth/logs tests SKIPPED: no kubectl on $KUBECTL, PATH or ~/.cache/kubevisor/bin')

/** kubectl's client minor version (e.g. 32), or 0 when unknown. */
function kubectlMinor(): number {
  if (!kubectl) return 0
  try {
    const out = execFileSync(kubectl, ['version', '--client', '-o', 'json'], { encoding: 'utf8', timeout: 30_000 })
    return Number.parseInt(String(JSON.parse(out).clientVersion?.minor ?? '0'), 10) || 0
  } catch {
    return 0
  }
}
const minor = kubectlMinor()
// `auth whoami` is kubectl 1.27+ (beta); `explain` reads OpenAPI v3 by default from 1.27,
// older kubectl reads /openapi/v2, which carries no definitions here (README: Known differences).
const v3Explain = minor >= 27
if (kubectl && !v3Explain) console.log(`# kubectl 1.${minor}: explain and auth whoami tests SKIPPED (need kubectl >= 1.27)`)

describe('embedded API server: users, authorizer and SelfSubjectAccessReview over HTTP', () => {
  let server: ApiServer
  const asked: AuthorizationAttributes[] = []
  before(async () => {
    server = await startApiServer({
      token: 'admin',
      users: [{ name: 'alice', token: 'alice-token', groups: ['dev'] }],
      authorizer: (a) => {
        asked.push(a)
        return a.user.groups.includes('dev') && a.resource === 'configmaps' && a.namespace === 'default' && a.verb === 'get'
      },
    })
  })
  after(() => server.close())
  const as = (token: string) => ({ authorization: `Bearer ${token}` })

  test('a user outside system:masters is asked about; refusals are 403 in kube-apiserver words', async () => {
    server.create({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c', namespace: 'default' } })
    assert.equal((await request(server, 'GET', '/api/v1/namespaces/default/configmaps/c', undefined, as('alice-token'))).status, 200)
    const list = await request(server, 'GET', '/api/v1/namespaces/default/configmaps', undefined, as('alice-token'))
    assert.equal(list.status, 403)
    assert.equal(list.body.message, 'configmaps is forbidden: User "alice" cannot list resource "configmaps" in API group "" in the namespace "default"')
    const del = await request(server, 'DELETE', '/apis/apps/v1/namespaces/x/deployments/d', undefined, as('alice-token'))
    assert.equal(del.body.message, 'deployments.apps "d" is forbidden: User "alice" cannot delete resource "deployments" in API group "apps" in the namespace "x"')
    assert.deepEqual(del.body.details, { name: 'd', group: 'apps', kind: 'deployments' })
    const a = asked.find((x) => x.verb === 'list')!
    assert.deepEqual(a.user, { username: 'alice', groups: ['dev', 'system:authenticated'] })
    // The admin token is system:masters; a wrong token is 401.
    assert.equal((await request(server, 'GET', '/api/v1/namespaces/default/configmaps', undefined, as('admin'))).status, 200)
    assert.equal((await request(server, 'GET', '/api/v1/namespaces', undefined, as('nope'))).status, 401)
    // Health and version stay open without a token (system:public-info-viewer), whatever the authorizer says.
    assert.equal((await request(server, 'GET', '/version')).status, 200)
    assert.equal((await request(server, 'GET', '/api')).status, 401)
  })

  test('discovery and the self reviews need no grant (kube-apiserver bootstrap roles)', async () => {
    assert.equal((await request(server, 'GET', '/apis', undefined, as('alice-token'))).status, 200)
    const r = await request(
      server,
      'POST',
      '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews',
      { kind: 'SelfSubjectAccessReview', apiVersion: 'authorization.k8s.io/v1', spec: { resourceAttributes: { verb: 'get', resource: 'configmaps', namespace: 'default' } } },
      as('alice-token'),
    )
    assert.equal(r.status, 201)
    assert.deepEqual(r.body.status, { allowed: true })
    const no = await request(
      server,
      'POST',
      '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews',
      { spec: { resourceAttributes: { verb: 'create', resource: 'pods', namespace: 'default' } } },
      as('alice-token'),
    )
    assert.deepEqual(no.body.status, { allowed: false })
    const bad = await request(server, 'POST', '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews', { spec: {} }, as('alice-token'))
    assert.equal(bad.status, 400)
    const pod = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'two', namespace: 'default' }, spec: { containers: [{ name: 'a', image: 'x' }, { name: 'b', image: 'y' }] } }
    server.create(pod)
    const log = await request(server, 'GET', '/api/v1/namespaces/default/pods/two/log', undefined, as('admin'))
    assert.equal(log.status, 400)
    assert.equal(log.body.message, 'a container name must be specified for pod two, choose one of: [a b]')
    assert.equal((await request(server, 'GET', '/api/v1/namespaces/default/pods/none/log', undefined, as('admin'))).status, 404)
    const who = await request(server, 'POST', '/apis/authentication.k8s.io/v1/selfsubjectreviews', {}, as('alice-token'))
    assert.deepEqual(who.body.status.userInfo, { username: 'alice', groups: ['dev', 'system:authenticated'] })
  })
})

describe('embedded API server: kubectl auth, logs, exec', { skip: kubectl ? false : 'kubectl not found' }, () => {
  let server: ApiServer
  let dir: string
  let alice: string
  let admin: string
  const run = (config: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> =>
    new Promise((resolve) => {
      execFile(kubectl!, ['--kubeconfig', config, '--cache-dir', join(dir, 'cache'), ...args], { timeout: 30_000 }, (err, stdout, stderr) =>
        resolve({ code: err ? ((err as any).code ?? 1) : 0, stdout, stderr }),
      )
    })

  before(async () => {
    // Bearer tokens travel over HTTPS only (client-go does not send them over plain HTTP).
    server = await startApiServer({
      tls: true,
      token: 'admin-token',
      users: [{ name: 'alice', token: 'alice-token', groups: ['dev'] }],
      authorizer: (a) => a.resourceRequest && a.namespace === 'default' && a.resource === 'configmaps' && ['get', 'list', 'watch'].includes(a.verb),
    })
    dir = mkdtempSync(join(tmpdir(), 'kubevisor-kubectl-auth-'))
    admin = join(dir, 'admin.yaml')
    alice = join(dir, 'alice.yaml')
    writeFileSync(admin, server.kubeConfigYaml())
    writeFileSync(alice, server.kubeConfigYaml().replace('"admin-token"', '"alice-token"'))
  })
  after(async () => {
    await server.close()
    rmSync(dir, { recursive: true, force: true })
  })

  test('auth can-i answers from the user, its groups and the authorizer', async () => {
    assert.equal((await run(alice, ['auth', 'can-i', 'list', 'configmaps'])).stdout.trim(), 'yes')
    const no = await run(alice, ['auth', 'can-i', 'create', 'configmaps'])
    assert.equal(no.stdout.trim(), 'no')
    assert.notEqual(no.code, 0)
    assert.equal((await run(alice, ['auth', 'can-i', 'list', 'pods', '-n', 'kube-system'])).stdout.trim(), 'no')
    assert.equal((await run(admin, ['auth', 'can-i', 'delete', 'nodes'])).stdout.trim(), 'yes')
  })

  test('auth can-i --list: everything for system:masters; incomplete, saying why, for a function authorizer', async () => {
    assert.match((await run(admin, ['auth', 'can-i', '--list'])).stdout, /^\*\.\*\s+\[\]\s+\[\]\s+\[\*\]/m)
    const r = await run(alice, ['auth', 'can-i', '--list'])
    assert.match(r.stderr, /may be incomplete: the embedded API server authorizes with a function/)
  })

  test('auth whoami names the user and its groups', { skip: v3Explain ? false : 'kubectl < 1.27' }, async () => {
    const out = (await run(alice, ['auth', 'whoami'])).stdout
    assert.match(out, /Username\s+alice/)
    assert.match(out, /Groups\s+\[dev system:authenticated\]/)
  })

  test('a forbidden command prints kube-apiserver\'s message', async () => {
    const r = await run(alice, ['get', 'pods'])
    assert.match(r.stderr, /Error from server \(Forbidden\): pods is forbidden: User "alice" cannot list resource "pods" in API group "" in the namespace "default"/)
  })

  test('logs of an unscheduled pod: empty, with a warning naming the missing kubelet', async () => {
    await run(admin, ['run', 'web', '--image=nginx'])
    const r = await run(admin, ['logs', 'web'])
    assert.equal(r.code, 0, r.stderr)
    assert.equal(r.stdout, '')
    assert.match(r.stderr, /Warning: pod web has no node \(spec.nodeName\): the embedded API server runs no kubelet/)
    const bad = await run(admin, ['logs', 'web', '-c', 'sidecar'])
    assert.match(bad.stderr, /container sidecar is not valid for pod web/)
  })

  test('exec of an unscheduled pod: 400 "does not have a host assigned", as kube-apiserver', async () => {
    const r = await run(admin, ['exec', 'web', '--', 'true'])
    assert.notEqual(r.code, 0)
    assert.match(r.stderr, /pod web does not have a host assigned/)
  })

  test('logs and exec of a pod bound to a node: 503 naming the missing kubelet', async () => {
    server.create({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'bound', namespace: 'default' },
      spec: { nodeName: 'node-1', containers: [{ name: 'a', image: 'x' }, { name: 'b', image: 'y' }] },
    })
    const which = await run(admin, ['logs', 'bound'])
    assert.match(which.stderr, /Defaulted container "a" out of: a, b/)
    const logs = await run(admin, ['logs', 'bound', '-c', 'a'])
    assert.notEqual(logs.code, 0)
    assert.match(logs.stderr, /no kubelet for node "node-1"/)
    const exec = await run(admin, ['exec', 'bound', '-c', 'b', '--', 'true'])
    assert.match(exec.stderr, /no kubelet for node "node-1"/)
  })
})

describe('embedded API server: kubectl explain', { skip: !kubectl ? 'kubectl not found' : !v3Explain ? 'kubectl < 1.27 reads OpenAPI v2' : false }, () => {
  let server: ApiServer
  let dir: string
  let config: string
  const explain = (args: string[]) =>
    new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
      execFile(kubectl!, ['--kubeconfig', config, '--cache-dir', join(dir, 'cache'), 'explain', ...args], { timeout: 30_000 }, (err, stdout, stderr) =>
        resolve({ code: err ? ((err as any).code ?? 1) : 0, stdout, stderr }),
      )
    })
  before(async () => {
    server = await startApiServer()
    dir = mkdtempSync(join(tmpdir(), 'kubevisor-kubectl-explain-'))
    config = join(dir, 'config.yaml')
    writeFileSync(config, server.kubeConfigYaml())
  })
  after(async () => {
    await server.close()
    rmSync(dir, { recursive: true, force: true })
  })

  test('built-in kinds: descriptions, field types and enums of the pinned version', async () => {
    const pods = await explain(['pods'])
    assert.equal(pods.code, 0, pods.stderr)
    assert.match(pods.stdout, /KIND:\s+Pod/)
    assert.match(pods.stdout, /Pod is a collection of containers that can run on a host/)
    assert.match(pods.stdout, /spec\s+<PodSpec>/)
    const strategy = await explain(['deployment.spec.strategy.type'])
    assert.match(strategy.stdout, /`"Recreate"` Kill all existing pods before creating new ones/)
    const data = await explain(['configmap.data'])
    assert.match(data.stdout, /FIELD: data <map\[string\]string>/)
    const lease = await explain(['lease.spec.renewTime'])
    assert.match(lease.stdout, /renewTime <string>/)
    const missing = await explain(['configmap.nope'])
    assert.notEqual(missing.code, 0)
    assert.match(missing.stderr, /field "nope" does not exist/)
  })

  test("a CRD's schema, once established, with apiVersion/kind/metadata added", async () => {
    const crd = {
      apiVersion: 'apiextensions.k8s.io/v1',
      kind: 'CustomResourceDefinition',
      metadata: { name: 'widgets.example.com' },
      spec: {
        group: 'example.com',
        scope: 'Namespaced',
        names: { plural: 'widgets', singular: 'widget', kind: 'Widget', listKind: 'WidgetList' },
        versions: [
          {
            name: 'v1',
            served: true,
            storage: true,
            schema: {
              openAPIV3Schema: {
                type: 'object',
                description: 'A widget of the example group.',
                properties: { spec: { type: 'object', properties: { size: { type: 'integer', description: 'How big the widget is.' } } } },
              },
            },
          },
        ],
      },
    }
    server.create(crd)
    const w = await explain(['widget'])
    assert.equal(w.code, 0, w.stderr)
    assert.match(w.stdout, /A widget of the example group\./)
    assert.match(w.stdout, /metadata\s+<ObjectMeta>/)
    assert.match((await explain(['widgets.spec.size'])).stdout, /How big the widget is\./)
  })
})

