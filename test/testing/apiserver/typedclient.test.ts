// client-go's typed clientset, speaking protobuf, against the embedded API server: the
// Go program testing/protogen/typedclient creates, gets, lists, updates (and is refused a
// stale update), watches, scales a Deployment, asks a SelfSubjectAccessReview and deletes
// with uid preconditions, exiting non-zero at the first difference. Needs Go and the
// envtest module cache (offline, GOPROXY=off; test/support/protogen-go.ts); skips, saying so, without them unless
// KUBEVISOR_PROTOGEN_REQUIRED=1.
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { startApiServer } from '../../../lib/testing/index.ts'
import { protogenBuildable, protogenDir, protogenGoEnv } from '../../support/protogen-go.ts'

const available = protogenBuildable(['./typedclient'])
const required = process.env.KUBEVISOR_PROTOGEN_REQUIRED === '1'
if (!available && !required) console.log('# typed client-go test SKIPPED: no Go, or the module cache at ~/.cache/kubevisor/envtest/go lacks what testing/protogen/typedclient needs')

const go = (args: string[], cwd: string) =>
  new Promise<{ code: number; stdout: string; stderr: string }>((resolve) =>
    execFile(
      'nice',
      ['-n', '10', 'go', ...args],
      {
        cwd,
        timeout: 15 * 60_000,
        env: protogenGoEnv(),
      },
      (err, stdout, stderr) => resolve({ code: err ? ((err as any).code ?? 1) : 0, stdout, stderr }),
    ),
  )

test(
  'client-go typed clientset over protobuf: create, get, list, update, conflict, watch, scale, access review, delete',
  { skip: available || required ? false : 'Go or module cache missing', timeout: 15 * 60_000 },
  async () => {
    assert.ok(available, 'KUBEVISOR_PROTOGEN_REQUIRED=1 but Go or its module cache is missing')
    const dir = mkdtempSync(join(tmpdir(), 'kubevisor-typedclient-'))
    const server = await startApiServer()
    try {
      const bin = join(dir, 'typedclient')
      const build = await go(['build', '-o', bin, './typedclient'], protogenDir)
      assert.equal(build.code, 0, build.stderr)
      const config = join(dir, 'config.yaml')
      writeFileSync(config, server.kubeConfigYaml())
      const r = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) =>
        execFile(bin, [config], { timeout: 60_000 }, (err, stdout, stderr) => resolve({ code: err ? ((err as any).code ?? 1) : 0, stdout, stderr })),
      )
      assert.equal(r.code, 0, r.stderr)
      assert.equal(r.stdout.trim(), 'ok')
      // It spoke protobuf: the server saw its writes.
      assert.ok(server.requestLog.some((x) => x.method === 'PUT' && x.path.endsWith('/deployments/typed/scale') && x.status === 200))
    } finally {
      await server.close()
      rmSync(dir, { recursive: true, force: true })
    }
  },
)
