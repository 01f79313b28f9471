// Field ownership and server-side apply of the embedded server (lib/testing/apiserver/apply.ts),
// pinned to structured-merge-diff's behaviour: typed/tofieldset.go (which paths an applied
// configuration owns), typed/compare.go (what a write changed), merge/update.go (conflicts,
// force, pruning) and fieldpath/serialize.go (the FieldsV1 format). The HTTP contract is in
// test/conformance/writes.ts, against kube-apiserver too.
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import {
  applyConfig,
  builtinShape,
  compare,
  conflictMessage,
  crdShape,
  decodeManagers,
  encodeManagers,
  FieldSet,
  type Manager,
  merge,
  pathString,
  recordUpdate,
  toFieldSet,
  undeclaredFields,
} from '../../../lib/testing/apiserver/apply.ts'
import { parseMicroTime } from '../../../lib/testing/apiserver/rest.ts'
import { managerFromUserAgent } from '../../../lib/testing/apiserver/server.ts'

const pod = builtinShape('Pod')
const clock = () => new Date('2026-01-02T03:04:05.678Z')
const who = (manager: string) => ({ manager, apiVersion: 'v1' })

describe('FieldSet (fieldpath.Set in the FieldsV1 format)', () => {
  test('a member with children serializes with "."; a leaf as {}; element kinds sort f, k, v, i', () => {
    const s = new FieldSet()
    s.insert(['f:spec', 'f:list', 'i:1'])
    s.insert(['f:spec', 'f:list', 'v:"x"'])
    s.insert(['f:spec', 'f:list', 'k:{"name":"a"}'])
    s.insert(['f:spec', 'f:list', 'k:{"name":"a"}', 'f:image'])
    s.insert(['f:spec', 'f:a'])
    assert.deepEqual(JSON.stringify(s.toFieldsV1()), JSON.stringify({
      'f:spec': { 'f:a': {}, 'f:list': { 'k:{"name":"a"}': { '.': {}, 'f:image': {} }, 'v:"x"': {}, 'i:1': {} } },
    }))
    assert.deepEqual(FieldSet.fromFieldsV1(s.toFieldsV1())?.paths(), s.paths())
  })

  test('union, difference and intersection work path by path; an emptied set is empty', () => {
    const a = new FieldSet()
    a.insert(['f:data', 'f:x'])
    a.insert(['f:data', 'f:y'])
    const b = new FieldSet()
    b.insert(['f:data', 'f:y'])
    assert.deepEqual(a.difference(b).paths(), [['f:data', 'f:x']])
    assert.deepEqual(a.intersection(b).paths(), [['f:data', 'f:y']])
    assert.equal(a.difference(a).empty, true)
    assert.equal(b.union(a).paths().length, 2)
  })

  test('conflict paths print as SMD does: .field, [key="v"], [=value], [index]', () => {
    assert.equal(pathString(['f:spec', 'f:containers', 'k:{"name":"a"}', 'f:image']), '.spec.containers[name="a"].image')
    assert.equal(pathString(['f:ports', 'k:{"containerPort":80,"protocol":"TCP"}']), '.ports[containerPort=80,protocol="TCP"]')
    assert.equal(pathString(['f:metadata', 'f:finalizers', 'v:"x"']), '.metadata.finalizers[="x"]')
    assert.equal(pathString(['f:args', 'i:0']), '.args[0]')
  })

  test('malformed FieldsV1 is refused', () => {
    assert.equal(FieldSet.fromFieldsV1({ 'x:y': {} }), undefined)
    assert.equal(FieldSet.fromFieldsV1({ 'f:a': 1 }), undefined)
  })
})

describe('toFieldSet (what an applied configuration owns)', () => {
  test('list-map items by key with ".", container ports keyed by containerPort+protocol (TCP by default), atomic lists whole', () => {
    const set = toFieldSet(
      { spec: { containers: [{ name: 'a', image: 'i', args: ['x'], ports: [{ containerPort: 80 }] }] } },
      pod,
    )
    assert.deepEqual(set.toFieldsV1(), {
      'f:spec': {
        'f:containers': {
          'k:{"name":"a"}': {
            '.': {},
            'f:args': {},
            'f:image': {},
            'f:name': {},
            'f:ports': { 'k:{"containerPort":80,"protocol":"TCP"}': { '.': {}, 'f:containerPort': {} } },
          },
        },
      },
    })
  })

  test('metadata.finalizers is a set (v: elements); a CRD list without x-kubernetes-list-type is atomic', () => {
    assert.deepEqual(toFieldSet({ metadata: { finalizers: ['a'] } }, pod).toFieldsV1(), { 'f:metadata': { 'f:finalizers': { 'v:"a"': {} } } })
    const shape = crdShape({ type: 'object', properties: { spec: { type: 'object', properties: { tags: { type: 'array', items: { type: 'string' } } } } } })
    assert.deepEqual(toFieldSet({ spec: { tags: ['a', 'b'] } }, shape).toFieldsV1(), { 'f:spec': { 'f:tags': {} } })
  })
})

describe('compare and recordUpdate (Update managers)', () => {
  test('a created map is owned with "." (it was absent); a map present in the zero object is not', () => {
    const m = recordUpdate([], { metadata: {} }, { metadata: { labels: { a: '1' } }, data: { k: 'v' } }, builtinShape('ConfigMap'), who('kubectl'), 'all', clock)
    assert.deepEqual(encodeManagers(m), [
      {
        manager: 'kubectl',
        operation: 'Update',
        apiVersion: 'v1',
        time: '2026-01-02T03:04:05Z',
        fieldsType: 'FieldsV1',
        fieldsV1: { 'f:data': { '.': {}, 'f:k': {} }, 'f:metadata': { 'f:labels': { '.': {}, 'f:a': {} } } },
      },
    ])
  })

  test('an Update takes changed fields from everyone; removed fields leave every set; a no-op changes nothing', () => {
    const cm = builtinShape('ConfigMap')
    let m = recordUpdate([], {}, { data: { a: '1', b: '2' } }, cm, who('one'), 'all', clock)
    m = recordUpdate(m, { data: { a: '1', b: '2' } }, { data: { a: 'x' } }, cm, who('two'), 'all', clock)
    const byName = Object.fromEntries(m.map((e) => [e.manager, e.set.toFieldsV1()]))
    assert.deepEqual(byName, { one: { 'f:data': {} }, two: { 'f:data': { 'f:a': {} } } })
    const same = recordUpdate(m, { data: { a: 'x' } }, { data: { a: 'x' } }, cm, who('three'), 'all', clock)
    assert.deepEqual(same.map((e) => e.manager), ['one', 'two'])
  })

  test('compare reports leaves and whole containers', () => {
    const c = compare({ a: 1, m: { x: 1 } }, { a: 2, n: { y: 1 } }, builtinShape('X'))
    assert.deepEqual(c.modified.paths(), [['f:a']])
    assert.deepEqual(c.added.paths(), [['f:n'], ['f:n', 'f:y']])
    assert.deepEqual(c.removed.paths(), [['f:m'], ['f:m', 'f:x']])
  })
})

describe('applyConfig (SMD Updater.Apply)', () => {
  const cm = builtinShape('ConfigMap')
  const base = (): Manager[] => recordUpdate([], {}, { data: { x: '1' } }, cm, who('creator'), 'all', clock)

  test('a different value for another manager\'s field conflicts; the same value is shared; force takes it', () => {
    const live = { data: { x: '1' } }
    const clash = applyConfig(live, { data: { x: '2' } }, base(), cm, who('applier'), 'all', false, clock)
    assert.equal(clash.ok, false)
    if (clash.ok) return
    assert.equal(conflictMessage(clash.conflicts), 'Apply failed with 1 conflict: conflict with "creator" using v1: .data.x')
    const shared = applyConfig(live, { data: { x: '1' } }, base(), cm, who('applier'), 'all', false, clock)
    assert.ok(shared.ok)
    assert.equal(shared.changed, false)
    assert.equal(shared.managers.find((m) => m.manager === 'applier')?.time, undefined, 'no change, no time (as kube-apiserver)')
    const forced = applyConfig(live, { data: { x: '2' } }, base(), cm, who('applier'), 'all', true, clock)
    assert.ok(forced.ok)
    assert.deepEqual(forced.object, { data: { x: '2' } })
    assert.deepEqual(forced.managers.find((m) => m.manager === 'creator')?.set.toFieldsV1(), { 'f:data': {} })
  })

  test('conflicts with several managers are grouped by manager in the message', () => {
    const live = { data: { x: '1', y: '1' } }
    let m = recordUpdate([], {}, { data: { x: '1' } }, cm, who('b-updater'), 'all', clock)
    m = recordUpdate(m, { data: { x: '1' } }, live, cm, who('a-updater'), 'all', clock)
    const clash = applyConfig(live, { data: { x: '2', y: '2' } }, m, cm, who('applier'), 'all', false, clock)
    assert.equal(clash.ok, false)
    if (clash.ok) return
    assert.equal(
      conflictMessage(clash.conflicts),
      'Apply failed with 2 conflicts: conflicts with "a-updater" using v1:\n- .data.y\nconflicts with "b-updater" using v1:\n- .data.x',
    )
  })

  test('fields the applier stops sending are removed unless another manager owns them; list items merge by key', () => {
    const first = applyConfig({}, { spec: { containers: [{ name: 'a', image: '1' }, { name: 'b', image: '2' }] } }, [], pod, who('x'), 'all', false, clock)
    assert.ok(first.ok)
    const other = applyConfig(first.object, { spec: { containers: [{ name: 'b', image: '2' }] } }, first.managers, pod, who('y'), 'all', false, clock)
    assert.ok(other.ok)
    const shrink = applyConfig(other.object, { spec: { containers: [{ name: 'c', image: '3' }] } }, other.managers, pod, who('x'), 'all', false, clock)
    assert.ok(shrink.ok)
    assert.deepEqual(
      (shrink.object as any).spec.containers.map((c: any) => c.name),
      ['b', 'c'],
      '"a" had one owner and goes; "b" stays with y; "c" is new',
    )
  })

  test('merge replaces atomic lists and keeps list-map items of others in place', () => {
    assert.deepEqual(merge({ args: ['a', 'b'] }, { args: ['c'] }, pod), { args: ['c'] })
    assert.deepEqual(
      merge({ spec: { containers: [{ name: 'a', image: '1' }] } }, { spec: { containers: [{ name: 'b', image: '2' }] } }, pod),
      { spec: { containers: [{ name: 'a', image: '1' }, { name: 'b', image: '2' }] } },
    )
  })

  test('managers round-trip through managedFields, sorted by operation, time, manager', () => {
    const m: Manager[] = [
      { manager: 'z', operation: 'Update', apiVersion: 'v1', time: '2026-01-01T00:00:00Z', set: toFieldSet({ a: 1 }, cm) },
      { manager: 'b', operation: 'Apply', apiVersion: 'v1', time: '2026-01-01T00:00:01Z', set: toFieldSet({ b: 1 }, cm) },
      { manager: 'a', operation: 'Apply', apiVersion: 'v1', set: toFieldSet({ c: 1 }, cm) },
      { manager: 'empty', operation: 'Update', apiVersion: 'v1', set: new FieldSet() },
    ]
    const encoded = encodeManagers(m)!
    assert.deepEqual(encoded.map((e) => e.manager), ['a', 'b', 'z'])
    assert.deepEqual(decodeManagers(encoded)?.map((e) => e.set.paths()), [[['f:c']], [['f:b']], [['f:a']]])
  })
})

describe('schemas: undeclared fields', () => {
  test('a structural CRD schema declares its properties; preserve-unknown-fields and additionalProperties accept anything', () => {
    const shape = crdShape({
      type: 'object',
      properties: {
        spec: { type: 'object', properties: { a: { type: 'string' }, free: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true }, m: { type: 'object', additionalProperties: { type: 'string' } } } },
      },
    })
    assert.deepEqual(undeclaredFields({ apiVersion: 'x', kind: 'y', metadata: { name: 'n', bogus: 1 }, spec: { a: 'x', b: 1, free: { any: 1 }, m: { k: 'v' } }, top: 1 }, shape), [
      '.metadata.bogus',
      '.spec.b',
      '.top',
    ])
    assert.deepEqual(undeclaredFields({ spec: { whatever: 1 } }, crdShape(undefined)), [])
  })

  test('built-in kinds are checked at the top level and in metadata', () => {
    assert.deepEqual(undeclaredFields({ apiVersion: 'v1', kind: 'ConfigMap', data: {}, foo: 1 }, builtinShape('ConfigMap')), ['.foo'])
  })
})

describe('request details', () => {
  test('the default manager is the User-Agent up to its first "/", printable, at most 128 bytes; "unknown" when empty (handlers/rest.go prefixFromUserAgent)', () => {
    assert.equal(managerFromUserAgent('kubectl/v1.34.0 (linux/amd64) kubernetes/abc'), 'kubectl')
    assert.equal(managerFromUserAgent('my\u0007tool/1'), 'mytool')
    assert.equal(managerFromUserAgent('x'.repeat(200)).length, 128)
    assert.equal(managerFromUserAgent(undefined), 'unknown')
    assert.equal(managerFromUserAgent('/1.0'), 'unknown')
  })

  test('MicroTime needs six fractional digits and is stored in UTC (metav1.MicroTime, RFC3339Micro)', () => {
    assert.equal(parseMicroTime('2026-01-02T03:04:05.000001+01:00'), '2026-01-02T02:04:05.000001Z')
    assert.throws(() => parseMicroTime('2026-01-02T03:04:05Z'), /cannot parse "Z" as ".000000"/)
    assert.throws(() => parseMicroTime('2026-01-02T03:04:05.1234567Z'), /cannot parse "7Z" as "Z07:00"/)
  })
})

describe('the in-process object API and field ownership (README: "these writes record field manager unknown")', () => {
  test('copying writes record manager "unknown"; zeroCopy writes keep the managedFields they are given (none on a create)', async () => {
    const { startApiServer } = await import('../../../lib/testing/index.ts')
    const server = await startApiServer()
    try {
      const copied = server.create({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'a' }, data: { k: 'v' } })
      assert.deepEqual(
        (copied.metadata.managedFields as any[] | undefined)?.map((m) => [m.manager, m.operation, m.fieldsV1]),
        [['unknown', 'Update', { 'f:data': { '.': {}, 'f:k': {} } }]],
      )
      const fast = server.create({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'b' }, data: { k: 'v' } }, { zeroCopy: true })
      assert.equal(fast.metadata.managedFields, undefined)
      const updated = server.update({ ...copied, data: { k: 'w' } }, { zeroCopy: true })
      assert.deepEqual(updated.metadata.managedFields, copied.metadata.managedFields, 'kept as given')
    } finally {
      await server.close()
    }
  })
})
