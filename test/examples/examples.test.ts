// Every example runs, as a user would run it, and prints what it promises.
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { readdirSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { describe, test } from 'node:test'

const root = fileURLToPath(new URL('../../', import.meta.url))

/** What each example must print; an example missing here fails the suite. */
const expectations: Record<string, RegExp[]> = {
  'demo.ts': [/demo: embedded API server at http:\/\/127\.0\.0\.1:\d+/, /demo: observer at http:\/\/127\.0\.0\.1:\d+\//, /demo: converged: 4\/4 watchers match the server/, /demo: stopped cleanly/],
  'event-loop.ts': [
    /configmaps: added default\/app-config \{"mode":"blue"\}/,
    /configmaps: updated default\/app-config \{"mode":"green"\}/,
    /"key":"updated\/pods\/default\/web-0".*"msg":"handler failed; retrying with backoff"/,
    /pods: updated default\/web-0 phase=Running/,
    /configmaps: deleted default\/app-config/,
    /stopped after draining: 5 events, 1 retried/,
  ],
  'operator.ts': [
    /operator: leader=true holder=self caches synced=true/,
    /operator: ConfigMap site-blog written by the leader, owned by Site blog/,
    /operator: Site blog finalizers \["example\.com\/site-cleanup"\]/,
    /operator: controller_runtime_reconcile_total\{controller="site",result="success"\} [1-9]/,
    /operator: Site blog deleted; the finalizer removed ConfigMap site-blog first/,
    /operator: stopped; lease released \(holder ""\)/,
  ],
  'sharded-operator.ts': [
    /sharded-operator: 3 shards, 12 Sites: shard-a=\d+ shard-b=\d+ shard-c=\d+/,
    /sharded-operator: every ConfigMap written by the shard its Site is assigned to/,
    /sharded-operator: shard-d joined; [1-9]\d* Sites handed over \(drain, acknowledge, reassign\), all to shard-d: true/,
    /sharded-operator: stopped; shard Leases released/,
  ],
  'pod-watcher.ts': [/pods per phase: \{ Pending: 1, Running: 2, Succeeded: 1 \}/, /after a deletion and a phase change: \{ Running: 3 \}/],
  'resource-stream.ts': [
    /upsert default\/api failed on purpose; it will be retried/,
    /sync: every existing route was upserted/,
    /upsert default\/api → green/,
    /delete default\/api \(last backend green\)/,
    /routes: \{"default\/db":"orange","default\/web":"purple"\}/,
    /audit worker handled \d+ events; stopped cleanly/,
  ],
  'reconcile.ts': [
    /created CRD sites\.example\.com/,
    /reconcile default\/blog: created ConfigMap site-blog with 1 page\(s\)/,
    /reconcile default\/blog: updated ConfigMap site-blog to 2 page\(s\)/,
    /deleted ConfigMap site-blog by hand/,
    /reconcile default\/blog: created ConfigMap site-blog with 2 page\(s\)/,
    /external event: default\/blog\nreconcile default\/blog: in sync/,
    /stopped; ConfigMap site-blog has about\.html, index\.html/,
    /Site blog: Ready=True \(ConfigMapInSync: 2 page\(s\) served, observedGeneration 2 of 2\)/,
    /events on Site blog: ConfigMapCreated, ConfigMapUpdated \([1-9]\d* written, 0 dropped\)/,
  ],
  'supervision-tree.ts': [/cache greeting = hello/, /the poisoned call failed: .*poisoned message/, /flaky restarted: #\d+\(flaky\) → #\d+\(flaky\); it starts over at 1/, /jobs running: 3/, /stopped; cache alive\? false/],
  'upsert-delete.ts': [
    /background: heartbeat task started/,
    /"key":"default\/web".*"msg":"handling failed; retrying with backoff"/,
    /upsert default\/web ports=80/,
    /synced: true, at resourceVersion known/,
    /upsert default\/api ports=8080/,
    /delete default\/api \(last known ports=8080\)/,
    /background: heartbeat task stopped/,
    /stopped: catalog = \["default\/web"\], heartbeats sent/,
  ],
}

function run(file: string) {
  return spawnSync(process.execPath, ['--conditions=source', `examples/${file}`], {
    cwd: root,
    encoding: 'utf8',
    timeout: 90_000,
    env: { ...process.env, KUBEVISOR_DEMO_SECONDS: '4', KUBEVISOR_LOG_LEVEL: 'info' },
  })
}

describe('examples', () => {
  const files = readdirSync(new URL('../../examples/', import.meta.url)).filter((f) => f.endsWith('.ts')).sort()
  for (const file of files) {
    test(`examples/${file} runs to completion and prints what it shows`, () => {
      const expected = expectations[file]
      assert.ok(expected, `add what examples/${file} must print to test/examples/examples.test.ts`)
      const result = run(file)
      const output = `${result.stdout}\n${result.stderr}`
      assert.equal(result.status, 0, `exit ${result.status} ${result.signal ?? ''}\n${output.slice(-3000)}`)
      for (const pattern of expected) assert.match(output, pattern)
    })
  }
})
