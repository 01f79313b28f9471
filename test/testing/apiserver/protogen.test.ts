// Drift check of the generated protobuf/OpenAPI data: testing/protogen regenerates it from
// the pinned Kubernetes Go modules into a temporary directory, and every committed file
// must match byte for byte. Needs Go and the module cache that the envtest build fills
// (~/.cache/kubevisor/envtest/go, offline: GOPROXY=off; test/support/protogen-go.ts asks Go
// whether it holds everything); skips, saying so, without them,
// unless KUBEVISOR_PROTOGEN_REQUIRED=1 (.ci/run's protogen stage), where it fails instead.
// Warm: a few seconds; cold (empty build cache): minutes, so the timeout is generous.
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { protogenBuildable, protogenDir, protogenGoEnv } from '../../support/protogen-go.ts'

const root = join(import.meta.dirname, '..', '..', '..')
const required = process.env.KUBEVISOR_PROTOGEN_REQUIRED === '1'
const available = protogenBuildable(['.'])
if (!available && !required) {
  console.log('# protogen drift check SKIPPED: no Go, or the module cache at ~/.cache/kubevisor/envtest/go lacks what testing/protogen needs (npm run envtest:build fills it)')
}

const generated = [
  'lib/testing/apiserver/data/protobuf-schema.json',
  'lib/testing/apiserver/data/openapi-schemas.json',
  'lib/testing/apiserver/data/openapi-v2.proto',
  ...readdirSync(join(root, 'test/testing/apiserver/fixtures/protobuf')).map((f) => `test/testing/apiserver/fixtures/protobuf/${f}`),
]

test(
  'the committed protobuf schema, OpenAPI schemas, OpenAPI v2 proto and golden fixtures match testing/protogen at the pinned version',
  { skip: available || required ? false : 'Go or module cache missing', timeout: 15 * 60_000 },
  async () => {
    assert.ok(available, 'KUBEVISOR_PROTOGEN_REQUIRED=1 but Go or its module cache is missing')
    const out = mkdtempSync(join(tmpdir(), 'kubevisor-protogen-'))
    try {
      await new Promise<void>((resolve, reject) =>
        execFile(
          'nice',
          ['-n', '10', 'go', 'run', '.', '-out', out],
          {
            cwd: protogenDir,
            env: protogenGoEnv(),
            timeout: 15 * 60_000,
          },
          (err, _stdout, stderr) => (err ? reject(new Error(`go run testing/protogen failed: ${stderr}`)) : resolve()),
        ),
      )
      for (const f of generated) {
        assert.ok(existsSync(join(out, f)), `${f} is committed but no longer generated`)
        assert.ok(readFileSync(join(out, f)).equals(readFileSync(join(root, f))), `${f} drifted: run (cd testing/protogen && go run . -out ../..)`)
      }
      const fresh = readdirSync(join(out, 'test/testing/apiserver/fixtures/protobuf')).map((f) => `test/testing/apiserver/fixtures/protobuf/${f}`)
      assert.deepEqual(
        fresh.filter((f) => !generated.includes(f)),
        [],
        'the generator writes fixtures that are not committed',
      )
      const data = readdirSync(join(out, 'lib/testing/apiserver/data')).map((f) => `lib/testing/apiserver/data/${f}`)
      assert.deepEqual(
        data.filter((f) => !generated.includes(f)),
        [],
        'the generator writes data files the check does not compare',
      )
    } finally {
      rmSync(out, { recursive: true, force: true })
    }
  },
)
