// The versioned store: snapshots at past resourceVersions (exact lists, continue pages)
// equal the state that was current at that resourceVersion, whatever happened since, and
// the history window sets the oldest resourceVersion that can be served.
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { SortedKeys } from '../../../lib/testing/apiserver/sorted-keys.ts'
import { VersionedStore } from '../../../lib/testing/apiserver/store.ts'
import type { KubeObject } from '../../../lib/testing/apiserver/types.ts'
import { prng } from '../../support/random.ts'

describe('VersionedStore', () => {
  test('a snapshot at any rv inside the window equals the state recorded at that rv', () => {
    const store = new VersionedStore({ historySize: 10_000 })
    const random = prng(42)
    const states = new Map<number, string>()
    const live = new Map<string, KubeObject>()
    const record = () => {
      const entries = [...live.entries()].sort(([a], [b]) => (a < b ? -1 : 1))
      states.set(store.resourceVersion, JSON.stringify(entries.map(([k, o]) => [k, o.metadata.resourceVersion])))
    }
    record()
    for (let step = 0; step < 600; step++) {
      const key = `ns/o${Math.floor(random() * 40)}`
      const existing = live.get(key)
      if (!existing) {
        const obj: KubeObject = { metadata: { name: key } }
        store.commit('/things', 'ADDED', key, obj)
        live.set(key, obj)
      } else if (random() < 0.5) {
        const obj: KubeObject = { metadata: { ...existing.metadata } }
        store.commit('/things', 'MODIFIED', key, obj)
        live.set(key, obj)
      } else {
        store.commit('/things', 'DELETED', key, { metadata: { ...existing.metadata } })
        live.delete(key)
      }
      record()
    }
    for (const [rv, want] of states) {
      const { keys, objects } = store.snapshot('/things', rv)
      const got = JSON.stringify(keys.map((k) => [k, objects.get(k)!.metadata.resourceVersion]))
      assert.equal(got, want, `rv ${rv}`)
    }
  })

  test('the history window moves the compacted revision; compact() forgets everything before now', () => {
    const store = new VersionedStore({ historySize: 3 })
    const start = store.resourceVersion
    for (let i = 0; i < 5; i++) store.commit('/things', 'ADDED', `k${i}`, { metadata: { name: `k${i}` } })
    assert.equal(store.compactedRevision('/things'), start + 2)
    assert.deepEqual(
      store.eventsAfter('/things', start + 2).map((e) => e.key),
      ['k2', 'k3', 'k4'],
    )
    store.compact()
    assert.equal(store.compactedRevision('/things'), store.resourceVersion)
    assert.deepEqual(store.eventsAfter('/things', start), [])
  })

  // Issue #16 §2: a list page must not copy or sort the whole collection. The key index is
  // kept up to date by every commit (never rebuilt), and a cursor at a past rv overlays
  // only the changes since that rv.
  test('cursors at every rv in the window walk and count the keys of that rv, with the index kept up to date by each commit', () => {
    const store = new VersionedStore({ historySize: 10_000 })
    const random = prng(7)
    store.cursor('/things', store.resourceVersion, '') // builds the index before any commit
    const states = new Map<number, string[]>()
    const live = new Set<string>()
    for (let step = 0; step < 800; step++) {
      const key = `ns${Math.floor(random() * 3)}/o${Math.floor(random() * 60)}`
      if (!live.has(key)) {
        store.commit('/things', 'ADDED', key, { metadata: { name: key } })
        live.add(key)
      } else if (random() < 0.5) {
        store.commit('/things', 'MODIFIED', key, { metadata: { name: key } })
      } else {
        store.commit('/things', 'DELETED', key, { metadata: { name: key } })
        live.delete(key)
      }
      states.set(store.resourceVersion, [...live].sort())
    }
    for (const [rv, want] of states) {
      for (const from of ['', 'ns1/', 'ns1/o3', 'ns2/o59\u0000']) {
        const cursor = store.cursor('/things', rv, from)
        const got: string[] = []
        for (let k = cursor.next(); k !== undefined; k = cursor.next()) got.push(k)
        assert.deepEqual(got, want.filter((k) => k >= from), `rv ${rv} from ${from}`)
        for (const below of ['ns10', '\uffff']) {
          assert.equal(cursor.countFrom(from, below), want.filter((k) => k >= from && k < below).length, `rv ${rv} count [${from}, ${below})`)
        }
      }
    }
  })
})

describe('SortedKeys', () => {
  test('adds, deletes, ranks and walks like a sorted array across chunk splits and merges', () => {
    const random = prng(3)
    const keys = new SortedKeys()
    const ref = new Set<string>()
    for (let step = 0; step < 20_000; step++) {
      const k = `k${Math.floor(random() * 5000)}`
      if (random() < 0.6) {
        assert.equal(keys.add(k), !ref.has(k))
        ref.add(k)
      } else {
        assert.equal(keys.delete(k), ref.has(k))
        ref.delete(k)
      }
      assert.equal(keys.has(k), ref.has(k))
    }
    const sorted = [...ref].sort()
    assert.equal(keys.size, sorted.length)
    assert.deepEqual(keys.toArray(), sorted)
    for (const probe of ['', 'k1', 'k2500', 'k4999', 'k5', 'z']) {
      const rank = sorted.filter((k) => k < probe).length
      assert.equal(keys.rank(probe), rank, `rank ${probe}`)
      const pos = keys.seek(probe)
      assert.equal(keys.next(pos), sorted[rank], `seek ${probe}`)
    }
    assert.deepEqual(SortedKeys.from([...ref]).toArray(), sorted)
  })
})
