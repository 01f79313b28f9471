// Drift check of the generated protobuf/OpenAPI data: testing/protogen regenerates it from
// the pinned Kubernetes Go modules into a temporary directory, and every committed file
// must match byte for byte. Needs Go and the module cache that the envtest build fills
// (~/.cache/kubevisor/envtest/go, offline: GOPROXY=off); skips, saying so, without them,
// unless KUBEVISOR_PROTOGEN_REQUIRED=1 (.ci/run's protogen stage), where it fails instead.
// Warm: a few seconds; cold (empty build cache): minutes, so the timeout is generous.
import assert from 'node:assert/strict'
import { execFile, execFileSync } from 'node:child_process'
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { homedir, tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'

const root = join(import.meta.dirname, '..', '..', '..')
const cache = join(process.env.KUBEVISOR_CACHE ?? join(homedir(), '.cache', 'kubevisor'), 'envtest', 'go')

function goAvailable(): boolean {
  try {
    execFileSync('go', ['version'], { stdio: 'ignore' })
    return existsSync(join(cache, 'mod', 'k8s.io', 'kubernetes@v1.34.4'))
  } catch {
    return false
  }
}

const required = process.env.KUBEVISOR_PROTOGEN_REQUIRED === '1'
const available = goAvailable()
if (!available && !required) {
  console.log('# protogen drift check SKIPPED: no Go or no module cache at ~/.cache/kubevisor/envtest/go (run .ci/run)')
}

const generated = [
  'lib/testing/apiserver/data/protobuf-schema.json',
  'lib/testing/apiserver/data/openapi-schemas.json',
  ...readdirSync(join(root, 'test/testing/apiserver/fixtures/protobuf')).map((f) => `test/testing/apiserver/fixtures/protobuf/${f}`),
]

test(
  'the committed protobuf schema, OpenAPI schemas and golden fixtures match testing/protogen at the pinned version',
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
            cwd: join(root, 'testing', 'protogen'),
            env: {
              ...process.env,
              GOMODCACHE: process.env.GOMODCACHE ?? join(cache, 'mod'),
              GOCACHE: process.env.GOCACHE ?? join(cache, 'build'),
              GOFLAGS: '-mod=mod -modcacherw',
              GOPROXY: 'off',
              CGO_ENABLED: '0',
            },
            timeout: 15 * 60_000,
          },
          (err, _stdout, stderr) => (err ? reject(new Error(`go run testing/protogen failed: ${stderr}`)) : resolve()),
        ),
      )
      for (const f of generated) {
        assert.ok(existsSync(join(out, f)), `${f} is committed but no longer generated`)
        assert.ok(readFileSync(join(out, f)).equals(readFileSync(join(root, f))), `${f} drifted: run (cd testing/protogen && go run . -out ../..)`)
      }
      const fresh = readdirSync(join(out, 'test/testing/apiserver/fixtures/protobuf')).length
      assert.equal(fresh, generated.length - 2, 'the generator writes fixtures that are not committed')
    } finally {
      rmSync(out, { recursive: true, force: true })
    }
  },
)
