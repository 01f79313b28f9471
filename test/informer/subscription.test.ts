import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { type InformerEvent, Subscription } from '../../lib/informer/subscription.ts'

const v = (name: string, rv: string) => ({ metadata: { name, namespace: 'ns', resourceVersion: rv } })
type O = ReturnType<typeof v>
const drain = (s: Subscription<O>) => {
  const out: string[] = []
  for (let e = s.tryNext(); e; e = s.tryNext()) out.push(describeEvent(e))
  return out
}
function describeEvent(e: InformerEvent<O>): string {
  if (e.type === 'synced') return 'synced'
  if (e.type === 'modified') return `modified ${e.key}@${e.object.metadata.resourceVersion} (was @${e.previous.metadata.resourceVersion})`
  return `${e.type} ${e.key}@${e.object.metadata.resourceVersion}`
}

describe('Subscription: a consumer that falls behind holds at most one pending change per object', () => {
  // Each row: the changes pushed while the consumer was not reading → what it then takes.
  const rows: [string, [('created' | 'modified' | 'deleted'), string, string?][], string[]][] = [
    ['created then modified → created, latest', [['created', '1'], ['modified', '2', '1'], ['modified', '3', '2']], ['created ns/a@3']],
    ['created then deleted → nothing (it never saw the object)', [['created', '1'], ['deleted', '2']], []],
    ['modified, modified → one modified, previous is the version it saw', [['modified', '2', '1'], ['modified', '3', '2']], ['modified ns/a@3 (was @1)']],
    ['modified then deleted → deleted', [['modified', '2', '1'], ['deleted', '3']], ['deleted ns/a@3']],
    ['deleted then created → deleted, then created (a new incarnation)', [['deleted', '2'], ['created', '5']], ['deleted ns/a@2', 'created ns/a@5']],
    ['deleted, created, modified → deleted, then created at the latest', [['deleted', '2'], ['created', '5'], ['modified', '6', '5']], ['deleted ns/a@2', 'created ns/a@6']],
    ['deleted, created, deleted → one deleted of the version it saw', [['deleted', '2'], ['created', '5'], ['deleted', '6']], ['deleted ns/a@2']],
  ]
  for (const [name, pushes, expected] of rows) {
    test(name, () => {
      const s = new Subscription<O>(() => {})
      for (const [type, rv, prev] of pushes) s.push(type, 'ns/a', v('a', rv), prev ? v('a', prev) : undefined)
      assert.ok(s.pending <= 1)
      assert.deepEqual(drain(s), expected)
    })
  }

  test('across objects, changes come in the order of their first pending change', () => {
    const s = new Subscription<O>(() => {})
    s.push('created', 'ns/a', v('a', '1'), undefined)
    s.push('created', 'ns/b', v('b', '2'), undefined)
    s.pushSynced()
    s.push('modified', 'ns/a', v('a', '3'), v('a', '1'))
    s.push('created', 'ns/c', v('c', '4'), undefined)
    assert.deepEqual(drain(s), ['created ns/a@3', 'created ns/b@2', 'synced', 'created ns/c@4'])
    assert.equal(s.coalesced, 1)
    assert.equal(s.delivered, 4)
  })

  test('10 000 updates of 10 objects leave at most 10 pending changes', () => {
    const s = new Subscription<O>(() => {})
    for (let i = 0; i < 10_000; i++) s.push(i < 10 ? 'created' : 'modified', `ns/o${i % 10}`, v(`o${i % 10}`, String(i)), undefined)
    assert.equal(s.pending, 10)
    assert.deepEqual(drain(s).slice(0, 2), ['created ns/o0@9990', 'created ns/o1@9991'])
  })

  test('next() waits for a change; close() ends the iteration and calls back once', async () => {
    let closed = 0
    const s = new Subscription<O>(() => closed++)
    const waiting = s.next()
    s.push('created', 'ns/a', v('a', '1'), undefined)
    assert.equal(describeEvent((await waiting) as InformerEvent<O>), 'created ns/a@1')
    const ending = s.next()
    s.close()
    s.close()
    assert.equal(await ending, undefined)
    assert.equal(closed, 1)
    s.push('created', 'ns/b', v('b', '2'), undefined)
    assert.equal(s.pending, 0)
  })
})
