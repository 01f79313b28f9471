// The command line: `kubevisor apiserver` parses its flags plainly, reports bad ones with
// usage (exit 2), runs in the foreground, writes a kubeconfig a client can load, and
// stops on SIGTERM.
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, test } from 'node:test'
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node'
import { main, parseArgs } from '../../../lib/cli.ts'

describe('kubevisor CLI', () => {
  const ok: Array<[string[], object]> = [
    [['apiserver'], { port: 0, tls: false, token: undefined, kubeconfig: undefined }],
    [['apiserver', '--port', '8080', '--tls'], { port: 8080, tls: true }],
    [['apiserver', '--port=9', '--token=t', '--kubeconfig', 'k.yaml'], { port: 9, token: 't', kubeconfig: 'k.yaml' }],
    [['apiserver', '--history-size', '5'], { historySize: 5 }],
  ]
  for (const [argv, want] of ok) {
    test(`parses ${argv.join(' ')}`, () => {
      const parsed = parseArgs(argv)
      assert.equal(parsed.command, 'apiserver')
      for (const [k, v] of Object.entries(want)) assert.equal((parsed as any)[k], v, k)
    })
  }

  const bad: Array<[string[], RegExp]> = [
    [['apiserver', '--bogus'], /unknown flag "--bogus"/],
    [['apiserver', '--port'], /--port needs a value/],
    [['apiserver', '--port', 'x'], /--port must be an integer/],
    [['apiserver', '--port', '70000'], /between 0 and 65535/],
    [['apiserver', '--tls=yes'], /--tls takes no value/],
    [['frobnicate'], /unknown command "frobnicate"/],
  ]
  for (const [argv, message] of bad) {
    test(`rejects ${argv.join(' ')} with usage and exit code 2`, async () => {
      let err = ''
      const code = await main(argv, { stdout: { write: () => true }, stderr: { write: (s: string) => (err += s) } })
      assert.equal(code, 2)
      assert.match(err, message)
      assert.match(err, /Usage: kubevisor/)
    })
  }

  test('--help prints usage and exits 0', async () => {
    let out = ''
    const code = await main(['apiserver', '--help'], { stdout: { write: (s: string) => (out += s) }, stderr: { write: () => true } })
    assert.equal(code, 0)
    assert.match(out, /--kubeconfig FILE/)
  })

  test('scripts/cli.ts apiserver (the development launcher; the published bin/kubevisor.mjs is tested in test/package) serves in the foreground with a kubeconfig clients load, and stops on SIGTERM', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kubevisor-cli-'))
    const kubeconfig = join(dir, 'config.yaml')
    const child = spawn(process.execPath, [fileURLToPath(new URL('../../../scripts/cli.ts', import.meta.url)), 'apiserver', '--kubeconfig', kubeconfig, '--token', 's3cret'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    try {
      let out = ''
      await new Promise<void>((resolve, reject) => {
        child.stdout.on('data', (d) => {
          out += d
          if (out.includes('kubeconfig written')) resolve()
        })
        child.on('exit', (code) => reject(new Error(`exited early with ${code}: ${out}`)))
      })
      const kc = new KubeConfig()
      kc.loadFromFile(kubeconfig)
      const list = await kc.makeApiClient(CoreV1Api).listNamespace()
      assert.ok(list.items.some((n) => n.metadata!.name === 'kube-system'))
      const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)))
      child.kill('SIGTERM')
      assert.equal(await exited, 0)
      assert.match(out, /stopped/)
    } finally {
      child.kill('SIGKILL')
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
