/**
 * Conformance scenarios for writing back (issue #14): field ownership (`managedFields`),
 * server-side apply and its conflicts, the status subresource under apply, `dryRun`,
 * delete propagation policies, Events in both API groups and Lease concurrency. Registered
 * from scenarios.ts, so they run on the embedded server (`npm test`) and on the real
 * kube-apiserver (`npm run test:envtest`) alike, over HTTP only.
 *
 * Anchors: Kubernetes "Server-Side Apply" (https://kubernetes.io/docs/reference/using-api/server-side-apply/:
 * field management, conflicts, merge strategy, status subresource), "Dry-run" and "Field
 * validation" in API concepts, "Garbage collection" (foreground, background, orphan).
 */
import assert from 'node:assert/strict'
import { before, describe, test } from 'node:test'
import type { KubeConfig } from '@kubernetes/client-node'
import { ok, openWatch, raw, type RawResponse } from './http.ts'
import type { ConformanceTarget } from './target.ts'

const APPLY = 'application/apply-patch+yaml'
const MERGE = 'application/merge-patch+json'
const GROUP = 'writes.conformance.kubevisor.io'

/** Asserts a failed request's Status: code, reason, and `details` exactly when given. */
function assertFailure(res: RawResponse, code: number, reason: string | undefined, details?: unknown): void {
  assert.equal(res.status, code, `HTTP status; body: ${res.text}`)
  assert.equal(res.body?.kind, 'Status', res.text)
  assert.equal(res.body.status, 'Failure')
  assert.equal(res.body.code, code)
  assert.equal(res.body.reason, reason)
  if (details !== undefined) assert.deepEqual(res.body.details, details, res.text)
}

/** `managedFields` without the times (compared separately: present and RFC 3339 seconds). */
function managers(obj: any): any[] {
  return (obj.metadata.managedFields ?? []).map((m: any) => {
    const { time, ...rest } = m
    if (time !== undefined) assert.match(time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/)
    return rest
  })
}

/** The entry of `manager` (and operation), without its time. */
function entry(obj: any, manager: string, operation = 'Apply'): any {
  return managers(obj).find((m) => m.manager === manager && m.operation === operation)
}

function yaml(lines: string[]): string {
  return `${lines.join('\n')}\n`
}

/** A namespaced CRD with a status subresource and a structural schema with list types. */
function widgetCrd(): unknown {
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `widgets.${GROUP}` },
    spec: {
      group: GROUP,
      scope: 'Namespaced',
      names: { plural: 'widgets', singular: 'widget', kind: 'Widget', listKind: 'WidgetList' },
      versions: [
        {
          name: 'v1',
          served: true,
          storage: true,
          subresources: { status: {} },
          schema: {
            openAPIV3Schema: {
              type: 'object',
              properties: {
                spec: {
                  type: 'object',
                  properties: {
                    size: { type: 'integer' },
                    ports: {
                      type: 'array',
                      'x-kubernetes-list-type': 'map',
                      'x-kubernetes-list-map-keys': ['name'],
                      items: {
                        type: 'object',
                        required: ['name'],
                        properties: { name: { type: 'string' }, port: { type: 'integer' } },
                      },
                    },
                    tags: { type: 'array', items: { type: 'string' } },
                  },
                },
                status: {
                  type: 'object',
                  properties: {
                    ready: { type: 'boolean' },
                    conditions: {
                      type: 'array',
                      'x-kubernetes-list-type': 'map',
                      'x-kubernetes-list-map-keys': ['type'],
                      items: {
                        type: 'object',
                        required: ['type'],
                        properties: { type: { type: 'string' }, status: { type: 'string' } },
                      },
                    },
                  },
                },
              },
            },
          },
        },
      ],
    },
  }
}

/** Registers the write scenarios against `getTarget()`. */
export function writeScenarios(getTarget: () => ConformanceTarget): void {
  let target: ConformanceTarget
  let seq = 0
  before(() => {
    target = getTarget()
  })
  const kc = (): KubeConfig => target.kubeConfig

  async function namespace(): Promise<string> {
    const name = `write-${++seq}-${Math.random().toString(36).slice(2, 7)}`
    await ok(kc(), 'POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name } })
    return name
  }
  const cms = (ns: string) => `/api/v1/namespaces/${ns}/configmaps`
  const apply = (path: string, body: string, manager: string | undefined, extra = '') =>
    raw(kc(), 'PATCH', `${path}${manager === undefined ? '' : `?fieldManager=${manager}`}${extra}`, body, APPLY)
  const cmYaml = (name: string, data: Record<string, string>, labels: Record<string, string> = {}) =>
    yaml([
      'apiVersion: v1',
      'kind: ConfigMap',
      'metadata:',
      `  name: ${name}`,
      ...(Object.keys(labels).length ? ['  labels:', ...Object.entries(labels).map(([k, v]) => `    ${k}: "${v}"`)] : []),
      ...(Object.keys(data).length ? ['data:', ...Object.entries(data).map(([k, v]) => `  ${k}: "${v}"`)] : []),
    ])

  describe('writes: managedFields of ordinary writes', () => {
    test('a create records one Update entry for the User-Agent\'s product name, with the fields it set (FieldsV1)', async () => {
      const ns = await namespace()
      const res = await raw(
        kc(),
        'POST',
        cms(ns),
        { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'a', labels: { app: 'x' } }, data: { k: 'v' } },
        'application/json',
        { 'user-agent': 'conformance-tool/1.2.3 (linux/amd64) kubevisor' },
      )
      assert.equal(res.status, 201, res.text)
      assert.deepEqual(managers(res.body), [
        {
          manager: 'conformance-tool',
          operation: 'Update',
          apiVersion: 'v1',
          fieldsType: 'FieldsV1',
          fieldsV1: { 'f:data': { '.': {}, 'f:k': {} }, 'f:metadata': { 'f:labels': { '.': {}, 'f:app': {} } } },
        },
      ])
      assert.equal(typeof res.body.metadata.managedFields[0].time, 'string')
    })

    test('without fieldManager or User-Agent the manager is "unknown"; an object with no owned fields has no managedFields', async () => {
      const ns = await namespace()
      const a = await ok(kc(), 'POST', cms(ns), { metadata: { name: 'a' }, data: { k: 'v' } })
      assert.deepEqual(
        managers(a).map((m) => m.manager),
        ['unknown'],
      )
      const b = await ok(kc(), 'POST', cms(ns), { metadata: { name: 'b' } })
      assert.equal(b.metadata.managedFields, undefined)
    })

    test('a merge patch with fieldManager adds that manager\'s Update entry; it takes the field from the creator', async () => {
      const ns = await namespace()
      await ok(kc(), 'POST', `${cms(ns)}?fieldManager=creator`, { metadata: { name: 'a' }, data: { k: 'v', keep: '1' } })
      const patched = await ok(kc(), 'PATCH', `${cms(ns)}/a?fieldManager=patcher`, { data: { k: 'w' } }, MERGE)
      assert.deepEqual(entry(patched, 'patcher', 'Update')?.fieldsV1, { 'f:data': { 'f:k': {} } })
      assert.deepEqual(entry(patched, 'creator', 'Update')?.fieldsV1, { 'f:data': { '.': {}, 'f:keep': {} } })
      const same = await ok(kc(), 'PATCH', `${cms(ns)}/a?fieldManager=patcher`, { data: { k: 'w' } }, MERGE)
      assert.equal(same.metadata.resourceVersion, patched.metadata.resourceVersion, 'a no-op patch writes nothing')
    })
  })

  describe('writes: server-side apply', () => {
    test('apply creates a missing object (201) owned by the applier with operation Apply', async () => {
      const ns = await namespace()
      const res = await apply(`${cms(ns)}/a`, cmYaml('a', { x: '1' }, { tier: 'web' }), 'applier')
      assert.equal(res.status, 201, res.text)
      assert.deepEqual(res.body.data, { x: '1' })
      assert.deepEqual(managers(res.body), [
        {
          manager: 'applier',
          operation: 'Apply',
          apiVersion: 'v1',
          fieldsType: 'FieldsV1',
          fieldsV1: { 'f:data': { 'f:x': {} }, 'f:metadata': { 'f:labels': { 'f:tier': {} } } },
        },
      ])
      const again = await apply(`${cms(ns)}/a`, cmYaml('a', { x: '1' }, { tier: 'web' }), 'applier')
      assert.equal(again.status, 200)
      assert.equal(again.body.metadata.resourceVersion, res.body.metadata.resourceVersion, 'the same configuration again changes nothing')
    })

    test('the body is YAML (1.1, as sigs.k8s.io/yaml reads it: the key y is the boolean true); JSON is YAML too', async () => {
      const ns = await namespace()
      const res = await apply(`${cms(ns)}/a`, yaml(['apiVersion: v1', 'kind: ConfigMap', 'metadata: {name: a}', 'data:', '  plain: text', '  "quoted": "1"', '  y: "yes"']), 'm')
      assert.equal(res.status, 201, res.text)
      assert.deepEqual(res.body.data, { plain: 'text', quoted: '1', true: 'yes' })
      const json = await apply(`${cms(ns)}/b`, JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'b' }, data: { j: 'son' } }), 'm')
      assert.equal(json.status, 201, json.text)
      assert.deepEqual(json.body.data, { j: 'son' })
    })

    test('a field another manager set to a different value is a 409 Conflict naming manager and field; force takes it', async () => {
      const ns = await namespace()
      await ok(kc(), 'POST', `${cms(ns)}?fieldManager=creator`, { metadata: { name: 'a', labels: { a: '1' } }, data: { x: '1' } })
      const one = await apply(`${cms(ns)}/a`, cmYaml('a', { x: '2' }), 'applier')
      assertFailure(one, 409, 'Conflict', {
        causes: [{ reason: 'FieldManagerConflict', message: 'conflict with "creator" using v1', field: '.data.x' }],
      })
      assert.equal(one.body.message, 'Apply failed with 1 conflict: conflict with "creator" using v1: .data.x')
      const two = await apply(`${cms(ns)}/a`, cmYaml('a', { x: '2' }, { a: '9' }), 'applier')
      assertFailure(two, 409, 'Conflict')
      assert.equal(
        two.body.message,
        'Apply failed with 2 conflicts: conflicts with "creator" using v1:\n- .data.x\n- .metadata.labels.a',
      )
      assert.deepEqual(
        two.body.details.causes.map((c: any) => c.field),
        ['.data.x', '.metadata.labels.a'],
      )
      const unchanged = await ok(kc(), 'GET', `${cms(ns)}/a`)
      assert.deepEqual(unchanged.data, { x: '1' })
      const forced = await apply(`${cms(ns)}/a`, cmYaml('a', { x: '2' }), 'applier', '&force=true')
      assert.equal(forced.status, 200, forced.text)
      assert.deepEqual(forced.body.data, { x: '2' })
      assert.deepEqual(entry(forced.body, 'applier')?.fieldsV1, { 'f:data': { 'f:x': {} } })
      // The creator keeps the map itself and its label, no longer the key.
      assert.deepEqual(entry(forced.body, 'creator', 'Update')?.fieldsV1, {
        'f:data': {},
        'f:metadata': { 'f:labels': { '.': {}, 'f:a': {} } },
      })
    })

    test('appliers that send the same value share the field; it is removed only when its last owner stops sending it', async () => {
      const ns = await namespace()
      const p = `${cms(ns)}/a`
      assert.equal((await apply(p, cmYaml('a', { shared: 's', mine: 'm' }), 'one')).status, 201)
      const both = await apply(p, cmYaml('a', { shared: 's' }), 'two')
      assert.equal(both.status, 200, both.text)
      assert.deepEqual(entry(both.body, 'two')?.fieldsV1, { 'f:data': { 'f:shared': {} } })
      const dropped = await apply(p, cmYaml('a', {}), 'one')
      assert.equal(dropped.status, 200, dropped.text)
      assert.deepEqual(dropped.body.data, { shared: 's' }, '"mine" had one owner and goes; "shared" stays with "two"')
      assert.equal(entry(dropped.body, 'one'), undefined, 'an applier that owns nothing has no entry')
      const gone = await apply(p, cmYaml('a', {}), 'two')
      assert.equal(gone.body.data, undefined)
    })

    test('an Update takes a field from an applier without conflict; the applier then conflicts with it', async () => {
      const ns = await namespace()
      const p = `${cms(ns)}/a`
      await apply(p, cmYaml('a', { x: '1' }), 'applier')
      const updated = await ok(kc(), 'PATCH', `${p}?fieldManager=editor`, { data: { x: '2' } }, MERGE)
      assert.deepEqual(entry(updated, 'editor', 'Update')?.fieldsV1, { 'f:data': { 'f:x': {} } })
      assert.equal(entry(updated, 'applier'), undefined)
      const res = await apply(p, cmYaml('a', { x: '3' }), 'applier')
      assertFailure(res, 409, 'Conflict', {
        causes: [{ reason: 'FieldManagerConflict', message: 'conflict with "editor" using v1', field: '.data.x' }],
      })
    })

    test('list items merge by key (containers by name): two appliers own one container each', async () => {
      const ns = await namespace()
      const p = `/apis/apps/v1/namespaces/${ns}/deployments/d`
      const base = (containers: string[]) =>
        yaml([
          'apiVersion: apps/v1',
          'kind: Deployment',
          'metadata: {name: d}',
          'spec:',
          '  selector: {matchLabels: {app: d}}',
          '  template:',
          '    metadata: {labels: {app: d}}',
          '    spec:',
          '      containers:',
          ...containers,
        ])
      const first = await apply(p, base(['      - name: a', '        image: img-a']), 'team-a')
      assert.equal(first.status, 201, first.text)
      const second = await apply(
        p,
        yaml(['apiVersion: apps/v1', 'kind: Deployment', 'metadata: {name: d}', 'spec:', '  template:', '    spec:', '      containers:', '      - name: b', '        image: img-b']),
        'team-b',
      )
      assert.equal(second.status, 200, second.text)
      const names = second.body.spec.template.spec.containers.map((c: any) => `${c.name}=${c.image}`)
      assert.deepEqual(names, ['a=img-a', 'b=img-b'])
      assert.deepEqual(entry(second.body, 'team-b')?.fieldsV1, {
        'f:spec': { 'f:template': { 'f:spec': { 'f:containers': { 'k:{"name":"b"}': { '.': {}, 'f:image': {}, 'f:name': {} } } } } },
      })
      const clash = await apply(
        p,
        yaml(['apiVersion: apps/v1', 'kind: Deployment', 'metadata: {name: d}', 'spec:', '  template:', '    spec:', '      containers:', '      - name: a', '        image: other']),
        'team-b',
      )
      assertFailure(clash, 409, 'Conflict', {
        causes: [{ reason: 'FieldManagerConflict', message: 'conflict with "team-a"', field: '.spec.template.spec.containers[name="a"].image' }],
      })
    })

    test('refusals: no fieldManager is 422 Invalid PatchOptions; no apiVersion/kind is 400; an undeclared field is 500 "field not declared in schema"', async () => {
      const ns = await namespace()
      const p = `${cms(ns)}/a`
      assertFailure(await apply(p, cmYaml('a', { x: '1' }), undefined), 422, 'Invalid', {
        group: 'meta.k8s.io',
        kind: 'PatchOptions',
        causes: [{ reason: 'FieldValueRequired', message: 'Required value: is required for apply patch', field: 'fieldManager' }],
      })
      const untyped = await apply(p, yaml(['data:', '  x: "1"']), 'm')
      assertFailure(untyped, 400, 'BadRequest')
      assert.equal(untyped.body.message, 'invalid object type: /, Kind=')
      const unknown = await apply(p, yaml(['apiVersion: v1', 'kind: ConfigMap', 'metadata: {name: a}', 'bogus: 1']), 'm', '&fieldValidation=Ignore')
      assertFailure(unknown, 500, undefined)
      assert.equal(unknown.body.message, 'failed to create typed patch object (/a; /v1, Kind=ConfigMap): .bogus: field not declared in schema')
      const typed = await apply(p, yaml(['apiVersion: v1', 'kind: ConfigMap', 'metadata: {name: a}', 'data:', '  port: 8080']), 'm')
      assertFailure(typed, 500, undefined)
      assert.equal(
        typed.body.message,
        'failed to create typed patch object (/a; /v1, Kind=ConfigMap): .data.port: expected string, got &value.valueUnstructured{Value:8080}',
      )
      assert.equal((await raw(kc(), 'GET', p)).status, 404, 'nothing was created')
      const numeric = await raw(kc(), 'POST', cms(ns), { metadata: { name: 'n' }, data: { port: 8080 } })
      assertFailure(numeric, 400, 'BadRequest')
      assert.equal(numeric.body.message, 'ConfigMap in version "v1" cannot be handled as a ConfigMap: json: cannot unmarshal number into Go struct field ConfigMap.data of type string')
    })

    test('a resourceVersion in the configuration is a precondition (409 Conflict when stale); a fieldManager over 128 bytes is 422', async () => {
      const ns = await namespace()
      const p = `${cms(ns)}/a`
      const created = await apply(p, cmYaml('a', { x: '1' }), 'm')
      await ok(kc(), 'PATCH', p, { data: { y: '2' } }, MERGE)
      const stale = yaml(['apiVersion: v1', 'kind: ConfigMap', 'metadata:', '  name: a', `  resourceVersion: "${created.body.metadata.resourceVersion}"`, 'data:', '  x: "3"'])
      assertFailure(await apply(p, stale, 'm'), 409, 'Conflict', { name: 'a', kind: 'configmaps' })
      assertFailure(await apply(p, cmYaml('a', { x: '1' }), 'x'.repeat(129)), 422, 'Invalid', {
        group: 'meta.k8s.io',
        kind: 'PatchOptions',
        causes: [{ reason: 'FieldValueTooLong', message: 'Too long: may not be more than 128 bytes', field: 'fieldManager' }],
      })
    })

    test('fieldValidation=Strict refuses duplicate keys after the merge (400); a conflict is reported first', async () => {
      const ns = await namespace()
      const p = `${cms(ns)}/a`
      const dup = yaml(['apiVersion: v1', 'kind: ConfigMap', 'metadata: {name: a}', 'data:', '  x: "1"', '  x: "2"'])
      const res = await apply(p, dup, 'm', '&fieldValidation=Strict')
      assertFailure(res, 400, 'BadRequest')
      assert.match(res.body.message, /^error strict decoding YAML: .*key "x" already set in map/s)
      assert.equal((await raw(kc(), 'GET', p)).status, 404)
      const lax = await apply(p, dup, 'm', '&fieldValidation=Ignore')
      assert.equal(lax.status, 201, lax.text)
      assert.deepEqual(lax.body.data, { x: '2' }, 'the last duplicate wins')
    })
  })

  describe('writes: custom resources (schema list types, unknown fields, status apply)', () => {
    const plural = `/apis/${GROUP}/v1`
    before(async () => {
      const res = await raw(kc(), 'POST', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions', widgetCrd())
      if (res.status !== 201 && res.status !== 409) throw new Error(`creating the CRD: ${res.status} ${res.text}`)
      const deadline = Date.now() + target.patienceMs
      for (;;) {
        const probe = await raw(kc(), 'GET', `${plural}/widgets`)
        if (probe.status === 200) break
        if (Date.now() > deadline) throw new Error(`the Widget kind was not served in time: ${probe.status}`)
        await new Promise((r) => setTimeout(r, 100))
      }
    })
    const widgetYaml = (name: string, spec: string[]) =>
      yaml([`apiVersion: ${GROUP}/v1`, 'kind: Widget', `metadata: {name: ${name}}`, 'spec:', ...spec.map((l) => `  ${l}`)])

    test('x-kubernetes-list-type map merges by key; a list without a type is atomic and owned whole', async () => {
      const ns = await namespace()
      const p = `${plural}/namespaces/${ns}/widgets/w`
      const a = await apply(p, widgetYaml('w', ['size: 1', 'ports:', '- {name: http, port: 80}', 'tags: [red, blue]']), 'a')
      assert.equal(a.status, 201, a.text)
      assert.deepEqual(entry(a.body, 'a')?.fieldsV1, {
        'f:spec': { 'f:ports': { 'k:{"name":"http"}': { '.': {}, 'f:name': {}, 'f:port': {} } }, 'f:size': {}, 'f:tags': {} },
      })
      const b = await apply(p, widgetYaml('w', ['ports:', '- {name: grpc, port: 90}']), 'b')
      assert.equal(b.status, 200, b.text)
      assert.deepEqual(b.body.spec.ports, [
        { name: 'http', port: 80 },
        { name: 'grpc', port: 90 },
      ])
      const tags = await apply(p, widgetYaml('w', ['tags: [z]']), 'b')
      assertFailure(tags, 409, 'Conflict', {
        causes: [{ reason: 'FieldManagerConflict', message: 'conflict with "a"', field: '.spec.tags' }],
      })
    })

    test('undeclared fields and wrong types: apply is 500 whatever fieldValidation; create is 400 with Strict, 201 with a Warning and the field dropped by default', async () => {
      const ns = await namespace()
      const p = `${plural}/namespaces/${ns}/widgets`
      const applied = await apply(`${p}/w`, widgetYaml('w', ['size: 1', 'bogus: 2']), 'a', '&fieldValidation=Warn')
      assertFailure(applied, 500, undefined)
      assert.equal(
        applied.body.message,
        `failed to create typed patch object (/w; ${GROUP}/v1, Kind=Widget): .spec.bogus: field not declared in schema`,
      )
      for (const [spec, error] of [
        [['size: big'], '.spec.size: expected numeric (int or float), got string'],
        [['ports:', '- {port: 80}'], '.spec.ports: element 0: associative list with keys has an element that omits all key fields ["name"] (and doesn\'t have default values for any key fields)'],
        [['ports:', '- {name: 5}'], '.spec.ports[name=5].name: expected string, got &value.valueUnstructured{Value:5}'],
      ] as const) {
        const res = await apply(`${p}/t`, widgetYaml('t', [...spec]), 'a')
        assertFailure(res, 500, undefined)
        assert.equal(res.body.message, `failed to create typed patch object (/t; ${GROUP}/v1, Kind=Widget): ${error}`)
      }
      const body = { apiVersion: `${GROUP}/v1`, kind: 'Widget', metadata: { name: 'c' }, spec: { size: 1, bogus: 2 } }
      const strict = await raw(kc(), 'POST', `${p}?fieldValidation=Strict`, body)
      assertFailure(strict, 400, 'BadRequest')
      assert.equal(strict.body.message, 'Widget in version "v1" cannot be handled as a Widget: strict decoding error: unknown field "spec.bogus"')
      const patched = await raw(kc(), 'PATCH', `${p}/t?fieldValidation=Strict`, { spec: { bogus: 1 } }, MERGE)
      assert.equal(patched.status, 404, 'no such object yet')
      await ok(kc(), 'POST', p, { apiVersion: `${GROUP}/v1`, kind: 'Widget', metadata: { name: 'p' }, spec: { size: 1 } })
      const strictPatch = await raw(kc(), 'PATCH', `${p}/p?fieldValidation=Strict`, { spec: { bogus: 1 } }, MERGE)
      // A patch that fails strict decoding is 422 Invalid on "patch" (the patched object in the message).
      assertFailure(strictPatch, 422, 'Invalid')
      assert.deepEqual(
        strictPatch.body.details.causes.map((c: any) => [c.reason, c.field]),
        [['FieldValueInvalid', 'patch']],
      )
      assert.match(strictPatch.body.message, /^ "" is invalid: patch: Invalid value: ".*": strict decoding error: unknown field "spec\.bogus"$/s)
      const warned = await raw(kc(), 'POST', p, body)
      assert.equal(warned.status, 201, warned.text)
      assert.equal(warned.headers.warning, '299 - "unknown field \\"spec.bogus\\""')
      assert.deepEqual(warned.body.spec, { size: 1 })
    })

    test('a create owns spec as a whole (the object had none) and a keyed list; a PUT on /status is an Update entry with subresource status', async () => {
      const ns = await namespace()
      const p = `${plural}/namespaces/${ns}/widgets`
      const created = await ok(kc(), 'POST', `${p}?fieldManager=maker`, {
        apiVersion: `${GROUP}/v1`,
        kind: 'Widget',
        metadata: { name: 'w', labels: { a: 'b' } },
        spec: { size: 2, ports: [{ name: 'http', port: 80 }] },
      })
      assert.deepEqual(entry(created, 'maker', 'Update')?.fieldsV1, {
        'f:metadata': { 'f:labels': { '.': {}, 'f:a': {} } },
        'f:spec': { '.': {}, 'f:ports': { '.': {}, 'k:{"name":"http"}': { '.': {}, 'f:name': {}, 'f:port': {} } }, 'f:size': {} },
      })
      const st = await ok(kc(), 'PUT', `${p}/w/status?fieldManager=statusbot`, { ...created, status: { ready: true } })
      assert.deepEqual(entry(st, 'statusbot', 'Update'), {
        manager: 'statusbot',
        operation: 'Update',
        apiVersion: `${GROUP}/v1`,
        fieldsType: 'FieldsV1',
        fieldsV1: { 'f:status': { '.': {}, 'f:ready': {} } },
        subresource: 'status',
      })
    })

    test('apply to /status owns status only (spec in the body is ignored); status conflicts name the subresource', async () => {
      const ns = await namespace()
      const p = `${plural}/namespaces/${ns}/widgets/w`
      assertFailure(await apply(`${p}/status`, yaml([`apiVersion: ${GROUP}/v1`, 'kind: Widget', 'metadata: {name: w}', 'status: {ready: true}']), 'ctl'), 404, 'NotFound')
      await apply(p, widgetYaml('w', ['size: 1']), 'user')
      const st = await apply(
        `${p}/status`,
        yaml([`apiVersion: ${GROUP}/v1`, 'kind: Widget', 'metadata: {name: w}', 'spec: {size: 5}', 'status:', '  ready: true', '  conditions:', '  - {type: Ready, status: "True"}']),
        'ctl',
      )
      assert.equal(st.status, 200, st.text)
      assert.deepEqual(st.body.spec, { size: 1 })
      assert.deepEqual(st.body.status, { ready: true, conditions: [{ type: 'Ready', status: 'True' }] })
      assert.deepEqual(entry(st.body, 'ctl'), {
        manager: 'ctl',
        operation: 'Apply',
        apiVersion: `${GROUP}/v1`,
        fieldsType: 'FieldsV1',
        fieldsV1: { 'f:status': { 'f:conditions': { 'k:{"type":"Ready"}': { '.': {}, 'f:status': {}, 'f:type': {} } }, 'f:ready': {} } },
        subresource: 'status',
      })
      const clash = await apply(`${p}/status`, yaml([`apiVersion: ${GROUP}/v1`, 'kind: Widget', 'metadata: {name: w}', 'status: {ready: false}']), 'other')
      assertFailure(clash, 409, 'Conflict', {
        causes: [{ reason: 'FieldManagerConflict', message: 'conflict with "ctl" with subresource "status"', field: '.status.ready' }],
      })
      const main = await apply(p, widgetYaml('w', ['size: 2']).replace('spec:', 'status: {ready: false}\nspec:'), 'user')
      assert.equal(main.status, 200, main.text)
      assert.equal(main.body.status.ready, true, 'status in a main-resource apply is ignored')
    })
  })

  describe('writes: the scale subresource', () => {
    test('apply on /scale conflicts with the creator of spec.replicas (named in autoscaling/v1); forced, the applier owns replicas with subresource scale', async () => {
      const ns = await namespace()
      const d = `/apis/apps/v1/namespaces/${ns}/deployments`
      await ok(kc(), 'POST', `${d}?fieldManager=creator`, {
        metadata: { name: 'd' },
        spec: { replicas: 1, selector: { matchLabels: { a: 'b' } }, template: { metadata: { labels: { a: 'b' } }, spec: { containers: [{ name: 'c', image: 'i' }] } } },
      })
      const body = yaml(['apiVersion: autoscaling/v1', 'kind: Scale', 'metadata: {name: d}', 'spec: {replicas: 3}'])
      const clash = await apply(`${d}/d/scale`, body, 'hpa')
      assertFailure(clash, 409, 'Conflict', {
        causes: [{ reason: 'FieldManagerConflict', message: 'conflict with "creator" using autoscaling/v1', field: '.spec.replicas' }],
      })
      const forced = await apply(`${d}/d/scale`, body, 'hpa', '&force=true')
      assert.equal(forced.status, 200, forced.text)
      assert.equal(forced.body.kind, 'Scale')
      assert.deepEqual(forced.body.spec, { replicas: 3 })
      const dep = await ok(kc(), 'GET', `${d}/d`)
      assert.equal(dep.spec.replicas, 3)
      assert.deepEqual(entry(dep, 'hpa'), {
        manager: 'hpa',
        operation: 'Apply',
        apiVersion: 'apps/v1',
        fieldsType: 'FieldsV1',
        fieldsV1: { 'f:spec': { 'f:replicas': {} } },
        subresource: 'scale',
      })
      const patched = await ok(kc(), 'PATCH', `${d}/d/scale?fieldManager=scaler`, { spec: { replicas: 4 } }, MERGE)
      assert.deepEqual(patched.spec, { replicas: 4 })
      const after = await ok(kc(), 'GET', `${d}/d`)
      const scaler = entry(after, 'scaler', 'Update')
      assert.equal(scaler?.subresource, 'scale')
      assert.deepEqual(scaler?.fieldsV1, { 'f:spec': { 'f:replicas': {} } })
      assert.equal(entry(after, 'hpa'), undefined, 'the update took replicas from the applier')
    })
  })

  describe('writes: dryRun=All', () => {
    test('every write path answers as it would and leaves no trace: no change, no resourceVersion bump, no watch event', async () => {
      const ns = await namespace()
      const p = cms(ns)
      const base = await ok(kc(), 'POST', p, { metadata: { name: 'a', finalizers: ['x.io/keep'] }, data: { v: '1' } })
      const watch = await openWatch(kc(), `${p}?watch=1&resourceVersion=${base.metadata.resourceVersion}`)
      try {
        const created = await raw(kc(), 'POST', `${p}?dryRun=All`, { metadata: { name: 'b' }, data: { v: '1' } })
        assert.equal(created.status, 201, created.text)
        assert.equal(created.body.metadata.resourceVersion, undefined, 'a dry-run create has no resourceVersion')
        assert.equal(typeof created.body.metadata.uid, 'string')
        const put = await raw(kc(), 'PUT', `${p}/a?dryRun=All`, { ...base, data: { v: '2' } })
        assert.equal(put.status, 200, put.text)
        assert.deepEqual(put.body.data, { v: '2' })
        const patched = await raw(kc(), 'PATCH', `${p}/a?dryRun=All`, { data: { v: '3' } }, MERGE)
        assert.deepEqual(patched.body.data, { v: '3' })
        const applied = await apply(`${p}/c`, cmYaml('c', { v: '4' }), 'm', '&dryRun=All')
        assert.equal(applied.status, 201, applied.text)
        const deleted = await raw(kc(), 'DELETE', `${p}/a?dryRun=All`)
        assert.equal(deleted.status, 200, deleted.text)
        assert.equal(typeof deleted.body.metadata.deletionTimestamp, 'string', 'the object as it would be: marked for deletion')
        const bad = await raw(kc(), 'POST', `${p}?dryRun=Some`, { metadata: { name: 'x' } })
        assertFailure(bad, 422, 'Invalid', {
          group: 'meta.k8s.io',
          kind: 'CreateOptions',
          causes: [{ reason: 'FieldValueNotSupported', message: 'Unsupported value: ["Some"]: supported values: "All"', field: 'dryRun' }],
        })
        const after = await ok(kc(), 'GET', `${p}/a`)
        assert.equal(after.metadata.resourceVersion, base.metadata.resourceVersion)
        assert.deepEqual(after.data, { v: '1' })
        assert.equal(after.metadata.deletionTimestamp, undefined)
        assert.deepEqual(names(await ok(kc(), 'GET', p)), ['a'])
        // A real write afterwards is the first event the watch sees.
        await ok(kc(), 'PATCH', `${p}/a`, { data: { v: '5' } }, MERGE)
        const evs = await watch.until((e) => e.length >= 1, 10_000, 'the real write')
        assert.deepEqual(
          evs.map((e) => `${e.type} ${e.object.metadata.name} ${e.object.data?.v}`),
          ['MODIFIED a 5'],
        )
      } finally {
        watch.close()
        await ok(kc(), 'PATCH', `${p}/a`, { metadata: { finalizers: null } }, MERGE)
      }
    })
  })

  describe('writes: delete options', () => {
    test('an immediate delete answers a Success Status naming the object (configmaps); a pod answers with the object', async () => {
      const ns = await namespace()
      const cm = await ok(kc(), 'POST', cms(ns), { metadata: { name: 'a' } })
      const res = await raw(kc(), 'DELETE', `${cms(ns)}/a`)
      assert.equal(res.status, 200)
      assert.deepEqual(res.body, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success', details: { name: 'a', kind: 'configmaps', uid: cm.metadata.uid } })
      await ok(kc(), 'POST', `/api/v1/namespaces/${ns}/pods`, { metadata: { name: 'p' }, spec: { containers: [{ name: 'c', image: 'i' }] } })
      const pod = await raw(kc(), 'DELETE', `/api/v1/namespaces/${ns}/pods/p?gracePeriodSeconds=0`)
      assert.equal(pod.status, 200, pod.text)
      assert.equal(pod.body.kind, 'Pod')
    })

    test('a scheduled pod is deleted gracefully: marked for its grace period (30 s, or gracePeriodSeconds), shortened only, removed at 0', async () => {
      const ns = await namespace()
      const p = `/api/v1/namespaces/${ns}/pods`
      await ok(kc(), 'POST', p, { metadata: { name: 'p' }, spec: { nodeName: 'node-1', containers: [{ name: 'c', image: 'i' }] } })
      const first = await raw(kc(), 'DELETE', `${p}/p`)
      assert.equal(first.status, 200, first.text)
      assert.equal(first.body.kind, 'Pod')
      assert.equal(first.body.metadata.deletionGracePeriodSeconds, 30)
      const deadline = Date.parse(first.body.metadata.deletionTimestamp)
      assert.ok(Math.abs(deadline - Date.now() - 30_000) < 5_000, `deletionTimestamp ~30 s ahead: ${first.body.metadata.deletionTimestamp}`)
      const shorter = await ok(kc(), 'DELETE', `${p}/p?gracePeriodSeconds=5`)
      assert.equal(shorter.metadata.deletionGracePeriodSeconds, 5)
      const longer = await ok(kc(), 'DELETE', `${p}/p?gracePeriodSeconds=10`)
      assert.equal(longer.metadata.deletionGracePeriodSeconds, 5, 'a longer grace does not extend it')
      assert.equal(longer.metadata.resourceVersion, shorter.metadata.resourceVersion)
      assert.equal((await raw(kc(), 'GET', `${p}/p`)).status, 200, 'no kubelet: the pod stays')
      const now = await raw(kc(), 'DELETE', `${p}/p?gracePeriodSeconds=0`)
      assert.equal(now.status, 200, now.text)
      assert.equal(now.body.kind, 'Pod')
      assert.equal((await raw(kc(), 'GET', `${p}/p`)).status, 404)
    })

    test('Foreground adds the foregroundDeletion finalizer (200, deletionTimestamp); a later delete without policy keeps it; Background removes it', async () => {
      const ns = await namespace()
      // Another finalizer holds the object, so the garbage collector (which takes
      // foregroundDeletion off an owner without dependents) cannot delete it under the test.
      await ok(kc(), 'POST', cms(ns), { metadata: { name: 'a', finalizers: ['x.io/keep'] } })
      const res = await raw(kc(), 'DELETE', `${cms(ns)}/a`, { kind: 'DeleteOptions', apiVersion: 'v1', propagationPolicy: 'Foreground' })
      assert.equal(res.status, 200, res.text)
      assert.deepEqual(res.body.metadata.finalizers, ['x.io/keep', 'foregroundDeletion'])
      assert.equal(typeof res.body.metadata.deletionTimestamp, 'string')
      const bg = await raw(kc(), 'DELETE', `${cms(ns)}/a?propagationPolicy=Background`)
      assert.equal(bg.status, 200, bg.text)
      assert.deepEqual(bg.body.metadata.finalizers, ['x.io/keep'])
      const again = await raw(kc(), 'DELETE', `${cms(ns)}/a`)
      assert.equal(again.body.metadata.resourceVersion, bg.body.metadata.resourceVersion, 'a delete without policy changes nothing')
      await ok(kc(), 'PATCH', `${cms(ns)}/a`, { metadata: { finalizers: null } }, MERGE)
      assert.equal((await raw(kc(), 'GET', `${cms(ns)}/a`)).status, 404)
    })

    test('Orphan adds the orphan finalizer next to the object\'s own; a later Foreground swaps it', async () => {
      const ns = await namespace()
      await ok(kc(), 'POST', cms(ns), { metadata: { name: 'a', finalizers: ['x.io/keep'] } })
      const orphan = await ok(kc(), 'DELETE', `${cms(ns)}/a?propagationPolicy=Orphan`)
      assert.deepEqual(orphan.metadata.finalizers, ['x.io/keep', 'orphan'])
      const fg = await ok(kc(), 'DELETE', `${cms(ns)}/a`, { propagationPolicy: 'Foreground' })
      assert.deepEqual(fg.metadata.finalizers, ['x.io/keep', 'foregroundDeletion'])
      assert.notEqual(fg.metadata.resourceVersion, orphan.metadata.resourceVersion)
      await ok(kc(), 'PATCH', `${cms(ns)}/a`, { metadata: { finalizers: null } }, MERGE)
      assert.equal((await raw(kc(), 'GET', `${cms(ns)}/a`)).status, 404)
    })

    test('a collection delete takes the same options: Orphan marks every selected object', async () => {
      const ns = await namespace()
      // x.io/keep holds a and b once the garbage collector has orphaned them (and taken `orphan` off).
      for (const n of ['a', 'b']) await ok(kc(), 'POST', cms(ns), { metadata: { name: n, labels: { sel: 'y' }, finalizers: ['x.io/keep'] } })
      const c = await ok(kc(), 'POST', cms(ns), { metadata: { name: 'c' } })
      const w = await openWatch(kc(), `${cms(ns)}?watch=1&resourceVersion=${c.metadata.resourceVersion}`)
      try {
        const res = await raw(kc(), 'DELETE', `${cms(ns)}?labelSelector=sel%3Dy`, { propagationPolicy: 'Orphan' })
        assert.equal(res.status, 200, res.text)
        // The answer lists the selected objects as they were before the deletes (store.go DeleteCollection).
        assert.deepEqual(
          res.body.items.map((o: any) => `${o.metadata.name}:${(o.metadata.finalizers ?? []).join(',')}`),
          ['a:x.io/keep', 'b:x.io/keep'],
        )
        await w.until((evs) => evs.length >= 2, 10_000, 'a and b marked')
        assert.deepEqual(
          w.events.slice(0, 2).map((e) => `${e.type} ${e.object.metadata.name}:${e.object.metadata.finalizers.join(',')}`).sort(),
          ['MODIFIED a:x.io/keep,orphan', 'MODIFIED b:x.io/keep,orphan'],
        )
      } finally {
        w.close()
      }
      const left = await ok(kc(), 'GET', cms(ns))
      assert.deepEqual(left.items.map((o: any) => o.metadata.name), ['a', 'b', 'c'])
      assertFailure(await raw(kc(), 'DELETE', `${cms(ns)}?labelSelector=none%3Dx`, { propagationPolicy: 'Never' }), 422, 'Invalid')
      for (const n of ['a', 'b']) await ok(kc(), 'PATCH', `${cms(ns)}/${n}`, { metadata: { finalizers: null } }, MERGE)
    })

    test('invalid options are 422 Invalid DeleteOptions; gracePeriodSeconds is accepted; a uid precondition mismatch is 409', async () => {
      const ns = await namespace()
      const cm = await ok(kc(), 'POST', cms(ns), { metadata: { name: 'a' } })
      assertFailure(await raw(kc(), 'DELETE', `${cms(ns)}/a`, { propagationPolicy: 'Sometimes' }), 422, 'Invalid', {
        group: 'meta.k8s.io',
        kind: 'DeleteOptions',
        causes: [
          {
            reason: 'FieldValueNotSupported',
            message: 'Unsupported value: "Sometimes": supported values: "Foreground", "Background", "Orphan", "nil"',
            field: 'propagationPolicy',
          },
        ],
      })
      assertFailure(await raw(kc(), 'DELETE', `${cms(ns)}/a`, { propagationPolicy: 'Orphan', orphanDependents: true }), 422, 'Invalid', {
        group: 'meta.k8s.io',
        kind: 'DeleteOptions',
        causes: [
          {
            reason: 'FieldValueInvalid',
            message: 'Invalid value: "Orphan": orphanDependents and deletionPropagation cannot be both set',
            field: 'propagationPolicy',
          },
        ],
      })
      assertFailure(await raw(kc(), 'DELETE', `${cms(ns)}/a`, { preconditions: { uid: 'not-the-uid' } }), 409, 'Conflict')
      const res = await raw(kc(), 'DELETE', `${cms(ns)}/a?gracePeriodSeconds=30`, { preconditions: { uid: cm.metadata.uid, resourceVersion: cm.metadata.resourceVersion } })
      assert.equal(res.status, 200, res.text)
      assert.equal((await raw(kc(), 'GET', `${cms(ns)}/a`)).status, 404)
    })
  })

  describe('writes: Events in events.k8s.io/v1 and core/v1', () => {
    test('both groups serve events; one written in either group reads back in the other (regarding/involvedObject, note/message)', async () => {
      const ns = await namespace()
      const groupList = await ok(kc(), 'GET', '/apis/events.k8s.io/v1')
      assert.ok(groupList.resources.some((r: any) => r.name === 'events' && r.namespaced && r.verbs.includes('create')))
      const created = await raw(kc(), 'POST', `/apis/events.k8s.io/v1/namespaces/${ns}/events`, {
        apiVersion: 'events.k8s.io/v1',
        kind: 'Event',
        metadata: { name: 'e1' },
        eventTime: '2026-01-02T03:04:05.123456Z',
        reportingController: 'kubevisor.io/controller',
        reportingInstance: 'controller-0',
        action: 'Reconcile',
        reason: 'Synced',
        type: 'Normal',
        note: 'all good',
        regarding: { apiVersion: 'v1', kind: 'ConfigMap', namespace: ns, name: 'c' },
      })
      assert.equal(created.status, 201, created.text)
      assert.equal(created.body.apiVersion, 'events.k8s.io/v1')
      assert.equal(created.body.note, 'all good')
      const core = await ok(kc(), 'GET', `/api/v1/namespaces/${ns}/events/e1`)
      assert.equal(core.apiVersion, 'v1')
      assert.equal(core.message, 'all good')
      assert.equal(core.reportingComponent, 'kubevisor.io/controller')
      assert.equal(core.eventTime, '2026-01-02T03:04:05.123456Z')
      assert.deepEqual(core.involvedObject, { apiVersion: 'v1', kind: 'ConfigMap', namespace: ns, name: 'c' })
      await ok(kc(), 'POST', `/api/v1/namespaces/${ns}/events`, {
        metadata: { name: 'e2' },
        involvedObject: { kind: 'ConfigMap', namespace: ns, name: 'c' },
        reason: 'Legacy',
        message: 'from core',
        type: 'Warning',
        count: 2,
      })
      const viaNew = await ok(kc(), 'GET', `/apis/events.k8s.io/v1/namespaces/${ns}/events/e2`)
      assert.equal(viaNew.note, 'from core')
      assert.equal(viaNew.deprecatedCount, 2)
      assert.deepEqual(viaNew.regarding, { kind: 'ConfigMap', namespace: ns, name: 'c' })
      const list = await ok(kc(), 'GET', `/apis/events.k8s.io/v1/namespaces/${ns}/events`)
      assert.deepEqual(names(list), ['e1', 'e2'])
      // A watch in the new group sees an event written in the core group in its own shape.
      const watch = await openWatch(kc(), `/apis/events.k8s.io/v1/namespaces/${ns}/events?watch=1&resourceVersion=${list.metadata.resourceVersion}`)
      try {
        await ok(kc(), 'POST', `/api/v1/namespaces/${ns}/events`, { metadata: { name: 'e3' }, involvedObject: { kind: 'Pod', namespace: ns, name: 'p' }, reason: 'R', message: 'watched' })
        const [ev] = await watch.until((e) => e.length >= 1, 10_000, 'the ADDED event')
        assert.equal(ev!.type, 'ADDED')
        assert.equal(ev!.object.apiVersion, 'events.k8s.io/v1')
        assert.equal(ev!.object.note, 'watched')
        assert.deepEqual(ev!.object.regarding, { kind: 'Pod', namespace: ns, name: 'p' })
      } finally {
        watch.close()
      }
    })

    test('events.k8s.io/v1 requires eventTime and a Normal/Warning type (422); eventTime is a MicroTime (400 otherwise)', async () => {
      const ns = await namespace()
      const p = `/apis/events.k8s.io/v1/namespaces/${ns}/events`
      const res = await raw(kc(), 'POST', p, { apiVersion: 'events.k8s.io/v1', kind: 'Event', metadata: { name: 'bad' } })
      assertFailure(res, 422, 'Invalid', {
        name: 'bad',
        kind: 'Event',
        causes: [
          // legacyValidateEvent: an event without eventTime outside "default" names its object's namespace.
          { reason: 'FieldValueInvalid', message: 'Invalid value: "": does not match event.namespace', field: 'involvedObject.namespace' },
          { reason: 'FieldValueRequired', message: 'Required value', field: 'eventTime' },
          { reason: 'FieldValueInvalid', message: 'Invalid value: "": has invalid value: ', field: 'type' },
        ],
      })
      const micro = await raw(kc(), 'POST', p, { metadata: { name: 'bad2' }, eventTime: '2026-01-02T03:04:05Z', type: 'Normal' })
      assertFailure(micro, 400, 'BadRequest')
      assert.equal(
        micro.body.message,
        'Event in version "v1" cannot be handled as a Event: parsing time "2026-01-02T03:04:05Z" as "2006-01-02T15:04:05.000000Z07:00": cannot parse "Z" as ".000000"',
      )
    })
  })

  describe('writes: Leases (leader election)', () => {
    test('create, get and update with resourceVersion concurrency: a stale update is 409 Conflict naming the lease', async () => {
      const ns = await namespace()
      const p = `/apis/coordination.k8s.io/v1/namespaces/${ns}/leases`
      const lease = await ok(kc(), 'POST', p, {
        apiVersion: 'coordination.k8s.io/v1',
        kind: 'Lease',
        metadata: { name: 'leader' },
        spec: { holderIdentity: 'a', leaseDurationSeconds: 15, acquireTime: '2026-01-02T03:04:05.000001+01:00', renewTime: '2026-01-02T03:04:05.000001Z', leaseTransitions: 0 },
      })
      assert.equal(lease.spec.acquireTime, '2026-01-02T02:04:05.000001Z', 'MicroTime is stored in UTC with six digits')
      const renewed = await ok(kc(), 'PUT', `${p}/leader`, { ...lease, spec: { ...lease.spec, renewTime: '2026-01-02T03:04:15.000000Z' } })
      assert.notEqual(renewed.metadata.resourceVersion, lease.metadata.resourceVersion)
      const stale = await raw(kc(), 'PUT', `${p}/leader`, { ...lease, spec: { ...lease.spec, holderIdentity: 'b' } })
      assertFailure(stale, 409, 'Conflict', { name: 'leader', group: 'coordination.k8s.io', kind: 'leases' })
      assert.equal((await ok(kc(), 'GET', `${p}/leader`)).spec.holderIdentity, 'a')
    })

    test('renewTime and acquireTime must be MicroTime (six fractional digits): 400 BadRequest with Go\'s parse error; bad durations are 422', async () => {
      const ns = await namespace()
      const p = `/apis/coordination.k8s.io/v1/namespaces/${ns}/leases`
      for (const [value, tail] of [
        ['2026-01-02T03:04:05Z', 'cannot parse "Z" as ".000000"'],
        ['2026-01-02T03:04:05.123Z', 'cannot parse ".123Z" as ".000000"'],
        ['yesterday', 'cannot parse "yesterday" as "2006"'],
      ] as const) {
        const res = await raw(kc(), 'POST', p, { metadata: { name: 'l' }, spec: { renewTime: value } })
        assertFailure(res, 400, 'BadRequest')
        assert.equal(
          res.body.message,
          `Lease in version "v1" cannot be handled as a Lease: parsing time ${JSON.stringify(value)} as "2006-01-02T15:04:05.000000Z07:00": ${tail}`,
        )
      }
      const invalidSpec = await raw(kc(), 'POST', p, { metadata: { name: 'l' }, spec: { leaseDurationSeconds: 0, leaseTransitions: -1 } })
      assertFailure(invalidSpec, 422, 'Invalid', {
        name: 'l',
        group: 'coordination.k8s.io',
        kind: 'Lease',
        causes: [
          { reason: 'FieldValueInvalid', message: 'Invalid value: 0: must be greater than 0', field: 'spec.leaseDurationSeconds' },
          { reason: 'FieldValueInvalid', message: 'Invalid value: -1: must be greater than or equal to 0', field: 'spec.leaseTransitions' },
        ],
      })
    })
  })
}

const names = (list: any): string[] => list.items.map((o: any) => o.metadata.name)
