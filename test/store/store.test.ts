import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { namespaceIndex, StoreWriter, UnknownIndexError } from '../../lib/store/index.ts'
import type { KubeObject } from '../../lib/watch/object.ts'

const pod = (namespace: string, name: string, rv: string, node?: string): KubeObject => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { namespace, name, resourceVersion: rv, uid: `uid-${name}` },
  spec: node ? { nodeName: node } : {},
})

const byNode = (p: KubeObject) => {
  const node = (p.spec as { nodeName?: string } | undefined)?.nodeName
  return node ? [node] : []
}

describe('Store', () => {
  test('get, getByKey, has, list, keys and size read what the writer stored', () => {
    const w = new StoreWriter()
    w.set('a/x', pod('a', 'x', '1'))
    w.set('b/y', pod('b', 'y', '2'))
    const s = w.view
    assert.equal(s.get({ namespace: 'a', name: 'x' })?.metadata?.resourceVersion, '1')
    assert.equal(s.get(pod('b', 'y', '9'))?.metadata?.resourceVersion, '2')
    assert.equal(s.getByKey('b/y')?.metadata?.name, 'y')
    assert.equal(s.has('a/x'), true)
    assert.deepEqual(s.keys().sort(), ['a/x', 'b/y'])
    assert.equal(s.list().length, 2)
    assert.equal(s.size, 2)
    w.delete('a/x')
    assert.equal(s.get({ namespace: 'a', name: 'x' }), undefined)
    assert.equal(s.size, 1)
  })

  test('the view is read-only: it has no writer methods and cannot be extended', () => {
    const s = new StoreWriter().view as unknown as Record<string, unknown>
    for (const method of ['set', 'delete', 'clear', 'markSynced']) assert.equal(s[method], undefined)
    assert.throws(() => {
      s.set = () => {}
    }, TypeError)
  })

  test('indexes follow updates and deletes (client-go Indexer: ByIndex, IndexKeys, ListIndexFuncValues)', () => {
    const w = new StoreWriter({ namespace: namespaceIndex, node: byNode })
    w.set('a/x', pod('a', 'x', '1', 'n1'))
    w.set('a/y', pod('a', 'y', '1', 'n1'))
    w.set('b/z', pod('b', 'z', '1', 'n2'))
    const s = w.view
    assert.deepEqual(s.indexKeys('node', 'n1').sort(), ['a/x', 'a/y'])
    assert.deepEqual(
      s.byIndex('namespace', 'a').map((p) => p.metadata?.name).sort(),
      ['x', 'y'],
    )
    w.set('a/y', pod('a', 'y', '2', 'n2')) // moved to another node
    assert.deepEqual(s.indexKeys('node', 'n1'), ['a/x'])
    assert.deepEqual(s.indexKeys('node', 'n2').sort(), ['a/y', 'b/z'])
    w.delete('a/x')
    assert.deepEqual(s.indexValues('node'), ['n2'], 'an emptied value leaves the index')
    assert.deepEqual(s.byIndex('namespace', 'nope'), [])
  })

  test('an unknown index name throws UnknownIndexError naming the indexes that exist', () => {
    const s = new StoreWriter({ namespace: namespaceIndex }).view
    assert.throws(() => s.byIndex('node', 'n1'), (e: unknown) => e instanceof UnknownIndexError && e.code === 'ERR_UNKNOWN_INDEX' && /namespace/.test(e.message))
    assert.throws(() => s.indexKeys('node', 'n1'), UnknownIndexError)
    assert.throws(() => s.indexValues('node'), UnknownIndexError)
  })

  test('synced resolves on markSynced; clear() starts a rebuild with a new synced promise', async () => {
    const w = new StoreWriter()
    const s = w.view
    assert.equal(s.hasSynced, false)
    const first = s.synced
    w.set('a/x', pod('a', 'x', '5'))
    w.markSynced('5')
    await first
    assert.equal(s.hasSynced, true)
    assert.equal(s.lastSyncResourceVersion, '5')
    w.setResourceVersion('7')
    assert.equal(s.lastSyncResourceVersion, '7')
    w.clear()
    assert.equal(s.hasSynced, false)
    assert.equal(s.size, 0)
    let resolved = false
    void s.synced.then(() => {
      resolved = true
    })
    await new Promise((r) => setImmediate(r))
    assert.equal(resolved, false)
    w.markSynced()
    await s.synced
  })

  test('as the record of what was delivered it answers with resourceVersion, uid and the object', () => {
    const w = new StoreWriter()
    const p = pod('a', 'x', '3')
    w.set('a/x', p)
    assert.deepEqual(w.get('a/x'), { resourceVersion: '3', uid: 'uid-x', object: p })
    assert.equal(w.get('a/none'), undefined)
  })

  test('list() of 200k objects works (client-node overflows the stack past ~100k)', () => {
    const w = new StoreWriter()
    for (let i = 0; i < 200_000; i++) w.set(`ns/p${i}`, { metadata: { namespace: 'ns', name: `p${i}`, resourceVersion: '1' } })
    assert.equal(w.view.list().length, 200_000)
    assert.equal(w.view.keys().length, 200_000)
  })
})
