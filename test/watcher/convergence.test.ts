// Randomized convergence: seeded create/update/delete traffic interleaved with random
// faults (dropped streams, 410s, other ERROR events, malformed lines, 5xx/429 bursts,
// compaction, stalls, killed connections, handler crashes). At quiescence the watcher's
// view equals the server's, with no duplicate `created`, no `modified` without a change,
// and no `deleted` of an unknown object. Re-run a failure with KUBEVISOR_SEED=<seed>.
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { GenServer, type Pid } from '../../lib/actor/index.ts'
import { Supervisor } from '../../lib/supervisor/index.ts'
import { startApiServer } from '../../lib/testing/index.ts'
import type { KubeObject } from '../../lib/watch/object.ts'
import { Watcher } from '../../lib/watcher/watcher.ts'
import { silent as logger } from '../support/log.ts'
import { eventually, Mirror, type MirrorState, serverView } from '../support/mirror.ts'
import { prng } from '../support/random.ts'

const fixedSeed = process.env.KUBEVISOR_SEED ? Number(process.env.KUBEVISOR_SEED) : undefined
const seeds = fixedSeed !== undefined ? [fixedSeed] : Array.from({ length: 3 }, () => Math.floor(Math.random() * 2 ** 31))

describe('randomized convergence under faults', () => {
  for (const seed of seeds) {
    test(`seed ${seed}: the watcher converges to the server's state with no duplicate or empty events`, async () => {
      const random = prng(seed)
      const pick = <T>(xs: T[]): T => xs[Math.floor(random() * xs.length)] as T
      const server = await startApiServer({ historySize: 40, bookmarkIntervalMs: 100 })
      const ns = 'chaos'
      server.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } })
      const match = { path: `/api/v1/namespaces/${ns}/configmaps` }
      const names: string[] = []
      let created = 0
      const stalls: { resume(): void }[] = []
      const trace: string[] = []
      for (let i = 0; i < 5; i++) {
        const name = `seed-${i}`
        server.create({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace: ns }, data: { v: '0' } })
        names.push(name)
      }
      const w = await Watcher.start(Mirror, undefined, {
        kubeConfig: server.kubeConfig,
        apiVersion: 'v1',
        kind: 'ConfigMap',
        namespace: ns,
        logger,
        store: true,
        watchTimeoutSeconds: 2,
        stallMarginMs: 300,
        backoff: { initialMs: 5, maxMs: 100, factor: 2, jitter: 0.5, resetAfterMs: 1000 },
        restartBackoff: { initialMs: 5, maxMs: 100, factor: 2, jitter: 0.5, resetAfterMs: 1000 },
        maxRestarts: 1000,
        maxSeconds: 1,
        maxPending: 8,
      })
      try {
        for (let step = 0; step < 400; step++) {
          const r = random()
          if (r < 0.3 || names.length === 0) {
            const name = `cm-${created++}`
            server.create({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace: ns }, data: { v: '0' } })
            names.push(name)
            trace.push(`create ${name}`)
          } else if (r < 0.55) {
            const name = pick(names)
            const current = server.get({ apiVersion: 'v1', kind: 'ConfigMap', name, namespace: ns }) as KubeObject
            server.update({ ...current, data: { v: String(step) } })
            trace.push(`update ${name}`)
          } else if (r < 0.7) {
            const name = pick(names)
            names.splice(names.indexOf(name), 1)
            server.delete({ apiVersion: 'v1', kind: 'ConfigMap', name, namespace: ns })
            trace.push(`delete ${name}`)
          } else {
            const fault = pick(['drop', 'dropClean', 'gone', 'error500', 'malformed', 'fail500', 'fail429', 'compact', 'stall', 'killConnection', 'crashHandler'])
            trace.push(`fault ${fault}`)
            switch (fault) {
              case 'drop':
                server.dropWatches({ match, abrupt: true })
                break
              case 'dropClean':
                server.dropWatches({ match, abrupt: false })
                break
              case 'gone':
                server.injectWatchError({ match })
                break
              case 'error500':
                server.injectWatchError({ match, code: 500, reason: 'InternalError', message: 'etcd hiccup' })
                break
              case 'malformed':
                server.sendMalformedLine({ match })
                break
              case 'fail500':
                server.failNext({ count: 1 + Math.floor(random() * 3), code: 500, match })
                break
              case 'fail429':
                server.failNext({ count: 1, code: 429, retryAfterSeconds: 0, match })
                break
              case 'compact':
                server.compact()
                break
              case 'stall':
                stalls.push(server.stallWatches({ match }))
                break
              case 'killConnection': {
                const rows = await Supervisor.whichChildren(w.supervisor)
                const connection = rows.find((c) => c.id === 'connection')?.pid
                if (typeof connection === 'object') GenServer.exit(connection as Pid, 'kill')
                break
              }
              case 'crashHandler':
                await GenServer.call(w, 'crash').catch(() => {})
                break
            }
          }
          if (random() < 0.3) await new Promise((resolve) => setTimeout(resolve, Math.floor(random() * 15)))
          if (stalls.length > 0 && random() < 0.2) stalls.shift()?.resume()
        }
        for (const s of stalls) s.resume()
        server.clearFaults()
        const expected = () => serverView(server.list('v1', 'ConfigMap', ns))
        await eventually(
          async () => {
            const v = await GenServer.call<MirrorState>(w, 'view')
            assert.deepEqual(v.view, expected())
            return true
          },
          20_000,
          `convergence (seed ${seed})`,
        ).catch((err) => {
          throw new Error(`seed ${seed} did not converge; last steps: ${trace.slice(-15).join(', ')}`, { cause: err })
        })
        const final = await GenServer.call<MirrorState>(w, 'view')
        assert.deepEqual(final.violations, [], `seed ${seed}: delivery promises broken`)
        // The store equals the server as well.
        await w.store?.synced
        assert.deepEqual(
          new Map(w.store?.list().map((o) => [`${o.metadata?.namespace}/${o.metadata?.name}`, o.metadata?.resourceVersion])),
          expected(),
          `seed ${seed}: store diverged`,
        )
      } finally {
        await Watcher.stop(w)
        await server.close()
      }
    })
  }
})
