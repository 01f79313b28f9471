// Issue #12 item 6: the demo's own check must converge 4/4 every time. Four 30 s runs of
// the old check printed 3/4, 2/4, 3/4, 2/4: a watcher asleep in a backoff (up to 30 s after
// repeated faults) outlasted its 5 s wait. One real-time run of the demo as a user runs it,
// with its real fault rate (a fault every 2 s: dropped streams, 410s, malformed lines,
// 500s, compactions), long enough for several backoffs in a row. The backoff cap itself is
// reached on a fake clock in test/watch/resume.test.ts.
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { test } from 'node:test'

const root = fileURLToPath(new URL('../../', import.meta.url))

test('examples/demo.ts run for 30 s under its fault injection converges 4/4 and says why each watcher waited', { timeout: 120_000 }, async () => {
  const child = spawn(process.execPath, ['--conditions=source', 'examples/demo.ts'], {
    cwd: root,
    env: { ...process.env, KUBEVISOR_DEMO_SECONDS: '30', KUBEVISOR_LOG_LEVEL: 'info', NO_COLOR: '1' },
  })
  let output = ''
  child.stdout.on('data', (d) => (output += d))
  child.stderr.on('data', (d) => (output += d))
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve))
  assert.equal(code, 0, output.slice(-4000))
  assert.match(output, /demo: converged: 4\/4 watchers match the server/)
  // Every backoff says how long, until when, which attempt and why.
  const backoffs = output.match(/backing off \d+\.\d s until \S+ \(attempt \d+, [^)]+\)/g) ?? []
  assert.ok(backoffs.length > 0, 'the injected faults made watchers back off')
  assert.ok(!/backing off\s*$/m.test(output), 'no bare "backing off" line')
  assert.match(output, /demo: stopped cleanly/)
})
