/**
 * Randomized convergence of the runner (fast-check, seeded; a failure prints its seed and
 * the shrunk schedule): create/update/delete traffic interleaved with faults — clean and
 * broken stream ends, 410 ERROR events, compaction (410 at watch start), malformed lines,
 * 5xx/429 answers, stalls, consumer-requested relists. At quiescence what the consumer
 * knows equals the backend, and the notification stream never says `created` for a key
 * the consumer has, `modified` without a new resourceVersion, or `deleted` for a key it
 * does not have.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import fc from 'fast-check'
import { createLogger } from '../../lib/log.ts'
import { FakeClock, settle } from '../../lib/testing/fake-clock.ts'
import { ApiStatusError } from '../../lib/watch/errors.ts'
import { KnownVersions } from '../../lib/watch/known.ts'
import { WatchRunner } from '../../lib/watch/runner.ts'
import { FakeListWatch } from './fake-list-watch.ts'

const silent = createLogger({ level: 'silent' })
const names = ['a', 'b', 'c', 'd', 'e']

type Op =
  | { op: 'put' | 'remove'; name: string }
  | { op: 'bookmark' | 'end' | 'break' | 'gone' | 'compact' | 'malformed' | 'listFault' | 'watchFault' | 'throttle' | 'stall' | 'relist' | 'tick' }

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ op: fc.constantFrom('put' as const, 'remove' as const), name: fc.constantFrom(...names) }) },
  {
    weight: 4,
    arbitrary: fc.record({
      op: fc.constantFrom(
        'bookmark' as const,
        'end' as const,
        'break' as const,
        'gone' as const,
        'compact' as const,
        'malformed' as const,
        'listFault' as const,
        'watchFault' as const,
        'throttle' as const,
        'stall' as const,
        'relist' as const,
        'tick' as const,
      ),
    }),
  },
)

test('under random traffic and faults the consumer converges to the backend with no duplicate or empty notifications', async () => {
  await fc.assert(
    fc.asyncProperty(fc.array(opArb, { minLength: 5, maxLength: 60 }), fc.integer({ min: 1, max: 4 }), async (ops, pageSize) => {
      const clock = new FakeClock()
      const server = new FakeListWatch()
      const known = new KnownVersions()
      const runner = new WatchRunner({
        client: server,
        clock,
        known,
        logger: silent,
        random: () => 0.5,
        config: { pageSize },
        backoff: { initialMs: 100, maxMs: 1000, factor: 2, jitter: 0, resetAfterMs: 0 },
      })
      // The consumer's own view, built only from notifications, checked as it goes.
      const view = new Map<string, string>()
      const problems: string[] = []
      const consumed = runner.run((n) => {
        if (n.type === 'synced') return
        const rv = n.object.metadata?.resourceVersion ?? ''
        const had = view.get(n.key)
        if (n.type === 'created' && had !== undefined) problems.push(`created ${n.key} it already had`)
        if (n.type === 'modified' && had === undefined) problems.push(`modified ${n.key} it did not have`)
        if (n.type === 'modified' && had === rv) problems.push(`modified ${n.key} without a change`)
        if (n.type === 'deleted' && had === undefined) problems.push(`deleted ${n.key} it did not have`)
        if (n.type === 'deleted') view.delete(n.key)
        else view.set(n.key, rv)
      })
      let version = 0
      for (const step of ops) {
        switch (step.op) {
          case 'put':
            server.put(step.name, { v: String(++version) })
            break
          case 'remove':
            server.remove(step.name)
            break
          case 'bookmark':
            server.bookmark()
            break
          case 'end':
            server.stream?.end()
            break
          case 'break':
            server.stream?.fail(new Error('ECONNRESET'))
            break
          case 'gone':
            server.stream?.pushLine({ type: 'ERROR', object: { kind: 'Status', apiVersion: 'v1', code: 410, reason: 'Expired' } })
            break
          case 'compact':
            server.compact()
            break
          case 'malformed':
            server.stream?.pushRaw('{"type":"MODIFIED","object":{\n')
            break
          case 'listFault':
            server.listFaults.push(new ApiStatusError(500, 'etcdserver: leader changed'))
            break
          case 'watchFault':
            server.watchFaults.push(new ApiStatusError(503, 'unavailable'))
            break
          case 'throttle':
            server.watchFaults.push(new ApiStatusError(429, 'slow down', { retryAfterSeconds: 1 }))
            break
          case 'stall':
            await clock.advance(331_000)
            break
          case 'relist':
            runner.relist()
            break
          case 'tick':
            await clock.advance(500)
            break
        }
        await settle(2)
      }
      // Quiesce: no more faults, let every backoff run out, until a watch is open and idle.
      server.listFaults = []
      server.watchFaults = []
      for (let i = 0; i < 40 && !(runner.state.phase === 'Watching' && runner.state.open && server.stream); i++) {
        await clock.advance(1000)
        await settle(3)
      }
      await settle(5)
      const want = [...server.objects.entries()].map(([k, o]) => [k, o.metadata?.resourceVersion ?? '']).sort()
      assert.deepEqual([...view.entries()].sort(), want, 'the consumer view equals the backend')
      assert.deepEqual([...known.keys()].map((k) => [k, known.get(k)?.resourceVersion ?? '']).sort(), want, 'known equals the backend')
      assert.deepEqual(problems, [])
      runner.stop()
      await consumed
    }),
    { numRuns: 200, seed: process.env.KUBEVISOR_SEED ? Number(process.env.KUBEVISOR_SEED) : undefined },
  )
})
