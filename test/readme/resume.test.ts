// The README's "Resuming" paragraph (Watchers), as the code behaves today: what a watcher
// started from a saved resourceVersion delivers. When the resume semantics change, this
// file and that paragraph change together.
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { GenServer } from '../../lib/actor/index.ts'
import type { ApiServer } from '../../lib/testing/index.ts'
import { Watcher, type WatcherRef } from '../../lib/watcher/watcher.ts'
import { useTestCluster } from '../support/cluster.ts'
import { silent as logger } from '../support/log.ts'
import { eventually, Mirror, type MirrorState } from '../support/mirror.ts'

let server: ApiServer
let ns: string
const { cm, ref, update } = useTestCluster('resume', (s, n) => {
  server = s
  ns = n
})

const view = (w: WatcherRef) => GenServer.call<MirrorState>(w, 'view')
const names = (log: string[]) => log.map((l) => l.split('@')[0]?.replace(`${ns}/`, ''))

describe('README "Resuming": a watcher started from a saved resourceVersion', () => {
  test('gets synced first, then every change after it: undelivered objects as created, deletions as deleted, nothing for unchanged ones', async () => {
    server.create(cm('changed'))
    server.create(cm('unchanged'))
    server.create(cm('gone'))
    const from = String(server.resourceVersion)
    update('changed', { x: '1' })
    server.delete(ref('gone'))
    server.create(cm('new'))
    update('new', { y: '1' })
    const w = await Watcher.start(Mirror, undefined, { kubeConfig: server.kubeConfig, apiVersion: 'v1', kind: 'ConfigMap', namespace: ns, logger, resourceVersion: from })
    await eventually(async () => (await view(w)).log.length >= 5, 10_000, 'five callbacks')
    const { log } = await view(w)
    assert.deepEqual(names(log), ['synced', 'created changed', 'deleted gone', 'created new', 'modified new'])
    await Watcher.stop(w)
  })

  test('from a compacted resourceVersion (410): a list diffed against nothing: every object created, deletions in the gap never reported', async () => {
    server.create(cm('kept'))
    server.create(cm('deleted-in-gap'))
    const from = String(server.resourceVersion)
    server.delete(ref('deleted-in-gap'))
    server.create(cm('later'))
    server.compact()
    const w = await Watcher.start(Mirror, undefined, { kubeConfig: server.kubeConfig, apiVersion: 'v1', kind: 'ConfigMap', namespace: ns, logger, resourceVersion: from })
    await eventually(async () => (await view(w)).view.size === 2, 10_000, 'both objects')
    const { log } = await view(w)
    assert.deepEqual(names(log.filter((l) => l !== 'synced')).sort(), ['created kept', 'created later'])
    assert.equal(log.filter((l) => l === 'synced').length, 1)
    assert.ok(w.counters.gone >= 1, 'the resume met a 410')
    await Watcher.stop(w)
  })
})
