/**
 * Relist diffs and live-event classification: after a 410 relist only real changes reach
 * the consumer (kube-rs's store swaps its buffer on InitDone; the complaint this answers
 * is client-node #301, an update for every object after each reconnect). Keys are
 * client-go `MetaNamespaceKeyFunc`'s.
 */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { classifyEvent, diffRelist } from '../../lib/watch/diff.ts'
import { KnownVersions, knownFrom } from '../../lib/watch/known.ts'
import { type KubeObject, objectKey, tombstone } from '../../lib/watch/object.ts'

function pod(name: string, rv: string, namespace: string | undefined = 'default', uid = `uid-${name}`): KubeObject {
  const metadata: KubeObject['metadata'] = { name, uid, resourceVersion: rv, labels: { app: 'x' } }
  if (namespace) metadata.namespace = namespace
  return { apiVersion: 'v1', kind: 'Pod', metadata, spec: { nodeName: 'n1' } }
}

describe('objectKey', () => {
  test('is namespace/name for namespaced objects and name for cluster-scoped ones (MetaNamespaceKeyFunc)', () => {
    assert.equal(objectKey(pod('a', '1')), 'default/a')
    assert.equal(objectKey({ kind: 'Node', metadata: { name: 'n1' } }), 'n1')
  })
})

describe('diffRelist', () => {
  test('delivers created for new, modified for changed, deleted for vanished and nothing for unchanged objects', () => {
    const known = knownFrom([pod('same', '1'), pod('changed', '2'), pod('gone', '3')])
    const listed = [pod('same', '1'), pod('changed', '20'), pod('new', '21')]
    const changes = diffRelist(known, listed)
    assert.deepEqual(
      changes.map((c) => [c.type, c.key, c.object.metadata?.resourceVersion]),
      [
        ['modified', 'default/changed', '20'],
        ['created', 'default/new', '21'],
        ['deleted', 'default/gone', '3'],
      ],
    )
  })

  test('with nothing known every listed object is created (the initial list)', () => {
    const changes = diffRelist(new KnownVersions(), [pod('a', '1'), pod('b', '2')])
    assert.deepEqual(changes.map((c) => c.type), ['created', 'created'])
  })

  test('an unchanged world gives no changes at all', () => {
    const objects = [pod('a', '1'), pod('b', '2'), pod('c', '3', '')]
    assert.deepEqual(diffRelist(knownFrom(objects), objects), [])
  })

  test('an empty list deletes everything known', () => {
    const changes = diffRelist(knownFrom([pod('a', '1'), pod('b', '2')]), [])
    assert.deepEqual(changes.map((c) => [c.type, c.key]), [
      ['deleted', 'default/a'],
      ['deleted', 'default/b'],
    ])
  })

  test('a vanished object is delivered whole when the known store keeps objects', () => {
    const last = pod('gone', '3')
    const changes = diffRelist(knownFrom([last], { keepObjects: true }), [])
    assert.equal(changes[0]?.object, last)
  })

  test('without kept objects a vanished object is a minimal tombstone: apiVersion, kind, name, namespace, uid, resourceVersion', () => {
    const changes = diffRelist(knownFrom([pod('gone', '3'), pod('node-x', '4', '')]), [pod('other', '1')])
    assert.deepEqual(changes.filter((c) => c.type === 'deleted').map((c) => c.object), [
      { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'gone', namespace: 'default', uid: 'uid-gone', resourceVersion: '3' } },
      { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'node-x', uid: 'uid-node-x', resourceVersion: '4' } },
    ])
  })

  test('the tombstone kind can be named when the list is empty', () => {
    const changes = diffRelist(knownFrom([pod('gone', '3')]), [], { apiVersion: 'v1', kind: 'Pod' })
    assert.deepEqual(changes[0]?.object, tombstone('default/gone', { resourceVersion: '3', uid: 'uid-gone' }, { apiVersion: 'v1', kind: 'Pod' }))
  })

  test('the same name in two namespaces is two objects', () => {
    const changes = diffRelist(knownFrom([pod('a', '1', 'ns1')]), [pod('a', '1', 'ns1'), pod('a', '2', 'ns2')])
    assert.deepEqual(changes.map((c) => [c.type, c.key]), [['created', 'ns2/a']])
  })
})

describe('classifyEvent', () => {
  // With complete knowledge (after a list, or a resume given what the consumer holds) and with
  // partial knowledge (resumed without it: an unknown key may be one the consumer has).
  const table: [string, 'added' | 'modified' | 'deleted', string | undefined, 'complete' | 'partial', string | undefined][] = [
    ['ADDED of an unknown object is created', 'added', undefined, 'complete', 'created'],
    ['ADDED of a known object at the same version is a duplicate and dropped', 'added', '5', 'complete', undefined],
    ['ADDED of a known object at another version is modified', 'added', '4', 'complete', 'modified'],
    ['MODIFIED of a known object is modified', 'modified', '4', 'complete', 'modified'],
    ['MODIFIED of an unknown object is created', 'modified', undefined, 'complete', 'created'],
    ['DELETED of a known object is deleted', 'deleted', '4', 'complete', 'deleted'],
    ['DELETED of an unknown object is dropped: no deleted for an object never delivered', 'deleted', undefined, 'complete', undefined],
    ['partial: ADDED of an unknown object is created (new since the resume)', 'added', undefined, 'partial', 'created'],
    ['partial: MODIFIED of an unknown object is modified (it existed at the resume point)', 'modified', undefined, 'partial', 'modified'],
    ['partial: DELETED of an unknown object is deleted (it existed at the resume point)', 'deleted', undefined, 'partial', 'deleted'],
    ['partial: ADDED of a known object at the same version is dropped', 'added', '5', 'partial', undefined],
  ]
  for (const [name, type, knownRv, knowledge, expected] of table) {
    test(name, () => {
      const known = knownRv === undefined ? new KnownVersions() : knownFrom([pod('a', knownRv)])
      assert.equal(classifyEvent(known, type, pod('a', '5'), knowledge)?.type, expected)
    })
  }
})
