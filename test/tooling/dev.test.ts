/**
 * `./dev` (issue #12, item 5): two concurrent first runs must not both run `npm ci` (that
 * left an empty node_modules with a valid stamp, and `tsc: not found` afterwards); a
 * failed install must not be marked installed; the Node it picks must satisfy package.json
 * `engines`.
 *
 * Each test runs the real ./dev in a temporary copy with a temporary cache
 * (KUBEVISOR_CACHE) that already holds a fake npm: `npm ci` there records each start in a
 * log (and whether another `npm ci` was running at that moment), empties node_modules,
 * waits 1.5 s to keep the race window open, then writes node_modules/.bin/tsc. Nothing is
 * fetched from the network.
 */
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { delimiter, dirname, join } from 'node:path'
import { describe, test } from 'node:test'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('../..', import.meta.url))
const NPM_VERSION = '10.9.9' // ./dev's default pin

const FAKE_NPM = `const fs = require('node:fs')
const log = process.env.FAKE_NPM_LOG
const cmd = process.argv[2]
if (cmd === '--version') { console.log('${NPM_VERSION}'); process.exit(0) }
if (cmd !== 'ci') process.exit(0)
let overlap = false
try { fs.mkdirSync(log + '.active') } catch { overlap = true }
fs.appendFileSync(log, 'start' + (overlap ? ' overlap' : '') + '\\n')
fs.rmSync('node_modules', { recursive: true, force: true })
fs.mkdirSync('node_modules/.bin', { recursive: true })
setTimeout(() => {
  if (!overlap) fs.rmSync(log + '.active', { recursive: true })
  if (process.env.FAKE_NPM_FAIL) { fs.appendFileSync(log, 'fail\\n'); process.exit(1) }
  fs.writeFileSync('node_modules/.bin/tsc', '')
  fs.appendFileSync(log, 'done\\n')
}, 1500)
`

interface Sandbox {
  repo: string
  cache: string
  log: string
  env: NodeJS.ProcessEnv
}

function sandbox(extraEnv: NodeJS.ProcessEnv = {}): Sandbox {
  const dir = mkdtempSync(join(tmpdir(), 'kubevisor-dev-'))
  const repo = join(dir, 'repo')
  const cache = join(dir, 'cache')
  mkdirSync(repo)
  for (const f of ['dev', 'package.json', 'package-lock.json']) copyFileSync(join(root, f), join(repo, f))
  chmodSync(join(repo, 'dev'), 0o755)
  const npmBin = join(cache, `npm-${NPM_VERSION}`, 'node_modules', 'npm', 'bin')
  mkdirSync(npmBin, { recursive: true })
  writeFileSync(join(npmBin, 'npm-cli.js'), FAKE_NPM)
  writeFileSync(join(npmBin, 'npx-cli.js'), FAKE_NPM)
  const log = join(dir, 'npm.log')
  const env = { ...process.env, KUBEVISOR_CACHE: cache, KUBEVISOR_NPM_VERSION: NPM_VERSION, FAKE_NPM_LOG: log, ...extraEnv }
  return { repo, cache, log, env }
}

function dev(sb: Sandbox, args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(join(sb.repo, 'dev'), args, { cwd: sb.repo, env: { ...sb.env, ...env } }, (err, stdout, stderr) =>
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    )
  })
}

const npmLog = (sb: Sandbox) => (existsSync(sb.log) ? readFileSync(sb.log, 'utf8').trim().split('\n') : [])
const stamped = (sb: Sandbox) => existsSync(join(sb.repo, 'node_modules/.kubevisor-lock-stamp'))

describe('./dev', () => {
  for (const lock of ['flock', 'perl']) {
    test(`two first runs at once run npm ci once, and both commands see the finished install (${lock} lock)`, async () => {
      const sb = sandbox(lock === 'perl' ? { KUBEVISOR_DEV_LOCK: 'perl' } : {})
      try {
        const check = ['test', '-f', 'node_modules/.bin/tsc']
        const [a, b] = await Promise.all([dev(sb, check), dev(sb, check)])
        assert.deepEqual([a.code, b.code], [0, 0], `${a.stderr}\n${b.stderr}`)
        assert.deepEqual(npmLog(sb), ['start', 'done'], 'one npm ci, never two at once')
        assert.ok(stamped(sb))
      } finally {
        rmSync(dirname(sb.repo), { recursive: true, force: true })
      }
    })
  }

  test('a failed npm ci exits non-zero and leaves no stamp; the next run installs again', async () => {
    const sb = sandbox()
    try {
      const failed = await dev(sb, ['true'], { FAKE_NPM_FAIL: '1' })
      assert.notEqual(failed.code, 0)
      assert.match(failed.stderr, /npm ci failed/)
      assert.equal(stamped(sb), false)
      const retried = await dev(sb, ['test', '-f', 'node_modules/.bin/tsc'])
      assert.equal(retried.code, 0, retried.stderr)
      assert.deepEqual(npmLog(sb), ['start', 'fail', 'start', 'done'])
      assert.ok(stamped(sb))
    } finally {
      rmSync(dirname(sb.repo), { recursive: true, force: true })
    }
  })

  test('an installed checkout is not reinstalled, a changed lockfile is, and the lock is not held by the command', async () => {
    const sb = sandbox()
    try {
      assert.equal((await dev(sb, ['true'])).code, 0)
      // fd 9 carries the lock while installing; the command must not inherit it.
      const again = await dev(sb, ['bash', '-c', '[ ! -e /dev/fd/9 ]'])
      assert.equal(again.code, 0, 'fd 9 (the lock) is closed before the command runs')
      assert.deepEqual(npmLog(sb), ['start', 'done'])
      writeFileSync(join(sb.repo, 'package-lock.json'), `${readFileSync(join(sb.repo, 'package-lock.json'), 'utf8')}\n`)
      assert.equal((await dev(sb, ['true'])).code, 0)
      assert.deepEqual(npmLog(sb), ['start', 'done', 'start', 'done'])
    } finally {
      rmSync(dirname(sb.repo), { recursive: true, force: true })
    }
  })

  const minimum = /^>=(\d+\.\d+)/.exec(JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).engines.node)![1]!
  const [major, minor] = minimum.split('.').map(Number) as [number, number]
  const cases = [
    { machine: `${major}.${minor - 1}.0`, uses: 'the cached node@24' },
    { machine: `${major}.0.0`, uses: 'the cached node@24' },
    { machine: `${major}.${minor}.0`, uses: "the machine's node" },
  ]
  for (const { machine, uses } of cases) {
    test(`with Node ${machine} on the machine (engines: >=${minimum}) it runs ${uses}`, async () => {
      const sb = sandbox()
      try {
        // A fake machine node that only reports its version, and a cached "node@24" that is
        // this test's real Node.
        const fakeBin = join(dirname(sb.repo), 'machine-bin')
        mkdirSync(fakeBin)
        writeFileSync(
          join(fakeBin, 'node'),
          `#!/bin/sh\ncase "$*" in *process.versions.node*) echo ${machine};; *) echo v${machine};; esac\n`,
        )
        chmodSync(join(fakeBin, 'node'), 0o755)
        const node24 = join(sb.cache, 'node24/node_modules/node/bin')
        mkdirSync(node24, { recursive: true })
        symlinkSync(process.execPath, join(node24, 'node'))
        const env = { PATH: `${fakeBin}${delimiter}${process.env.PATH}` }
        const { code, stdout, stderr } = await dev(sb, ['node', '-p', 'process.versions.node'], env)
        assert.equal(code, 0, stderr)
        assert.equal(stdout.trim(), uses === "the machine's node" ? machine : process.versions.node)
      } finally {
        rmSync(dirname(sb.repo), { recursive: true, force: true })
      }
    })
  }
})
