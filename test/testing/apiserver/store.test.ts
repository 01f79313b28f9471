// The versioned store: snapshots at past resourceVersions (exact lists, continue pages)
// equal the state that was current at that resourceVersion, whatever happened since, and
// the history window sets the oldest resourceVersion that can be served.
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
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
})
