/**
 * bin/kubevisor.mjs, the published `kubevisor` command (issue #12, item 1): it runs only
 * dist/cli.js, says what to do when dist/ is missing (a checkout before `npm run build`),
 * and names the Node it needs instead of failing inside a dependency. Its normal run, from
 * an installed tarball, is in test/package.
 */
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, test } from 'node:test'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('../..', import.meta.url))

/** A package directory holding the launcher, a package.json with `engines`, and optionally a dist/cli.js. */
function packageDir(engines: string, cli?: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'kubevisor-launcher-'))
  mkdirSync(join(dir, 'bin'))
  copyFileSync(join(root, 'bin/kubevisor.mjs'), join(dir, 'bin/kubevisor.mjs'))
  const manifest = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'))
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ ...manifest, engines: { node: engines } }))
  if (cli !== undefined) {
    mkdirSync(join(dir, 'dist'))
    writeFileSync(join(dir, 'dist/cli.js'), cli)
  }
  return dir
}

function launch(dir: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) =>
    execFile(process.execPath, [join(dir, 'bin/kubevisor.mjs'), ...args], (err, stdout, stderr) =>
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    ),
  )
}

const current = process.versions.node.split('.').map(Number) as [number, number, number]
const FAKE_CLI = 'export async function main(argv) { console.log("dist/cli.js ran with " + argv.join(" ")); return 3 }\n'

describe('bin/kubevisor.mjs', () => {
  test('runs dist/cli.js with the arguments and exits with its code', async () => {
    const dir = packageDir(`>=${current[0]}.${current[1]}`, FAKE_CLI)
    try {
      const { code, stdout } = await launch(dir, ['apiserver', '--port', '0'])
      assert.equal(code, 3)
      assert.equal(stdout, 'dist/cli.js ran with apiserver --port 0\n')
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })

  test('without dist/ it exits 1 and says to build, or to run the sources with npm run apiserver', async () => {
    const dir = packageDir(`>=${current[0]}.${current[1]}`)
    try {
      const { code, stderr } = await launch(dir, ['apiserver'])
      assert.equal(code, 1)
      assert.match(stderr, /dist\/cli\.js is missing.*npm run build.*npm run apiserver/s)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })

  const older = [`>=${current[0] + 1}.0`, `>=${current[0]}.${current[1] + 1}`, `>=${current[0]}.${current[1]}.${current[2] + 1}`]
  for (const engines of older) {
    test(`on a Node older than engines (${engines}) it exits 1 naming both versions, before loading dist/`, async () => {
      const dir = packageDir(engines, FAKE_CLI)
      try {
        const { code, stdout, stderr } = await launch(dir, ['apiserver'])
        assert.equal(code, 1)
        assert.equal(stdout, '')
        assert.equal(stderr, `kubevisor: Node ${engines} is required, this is Node ${process.versions.node}\n`)
      } finally {
        rmSync(dir, { recursive: true, force: true })
      }
    })
  }
})
