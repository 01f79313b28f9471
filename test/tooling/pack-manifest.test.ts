/**
 * scripts/pack-manifest.ts, the prepack/postpack swap that keeps the development-only
 * `source` export condition out of the published package (issue #12, item 1). The whole
 * path (npm pack, install, use) is test/package; these are its edge cases.
 */
import assert from 'node:assert/strict'
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, test } from 'node:test'
import { BACKUP, PackManifestError, publishedManifest, swap } from '../../scripts/pack-manifest.ts'

const repoManifest = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8'))

describe('the published manifest', () => {
  test('is the repository manifest without the source condition, every other field kept', () => {
    const published = publishedManifest(repoManifest)
    const exports = repoManifest.exports as Record<string, string | Record<string, string>>
    assert.deepEqual(Object.keys(published.exports as object), Object.keys(exports), 'every entry point stays')
    for (const [entry, target] of Object.entries(exports)) {
      const { source, ...rest } = typeof target === 'string' ? { source: undefined } : target
      assert.deepEqual((published.exports as Record<string, unknown>)[entry], typeof target === 'string' ? target : rest, entry)
      if (typeof target !== 'string') assert.match(source ?? '', /^\.\/lib\/.+\.ts$/, `${entry}: the repository maps source to lib/`)
    }
    assert.deepEqual({ ...published, exports: undefined }, { ...repoManifest, exports: undefined })
    assert.ok(JSON.stringify(repoManifest.exports).includes('"source"'), 'the repository keeps it')
  })

  test('refuses exports that would still send users to TypeScript sources', () => {
    const manifest = { exports: { '.': { import: './lib/index.ts', types: './dist/index.d.ts' } } }
    assert.throws(() => publishedManifest(manifest), (err) => err instanceof PackManifestError && err.code === 'ERR_PACK_MANIFEST_INVALID' && /lib\/index\.ts/.test(err.message))
  })

  test('publish then restore gives back the manifest byte for byte; an interrupted pack is refused', () => {
    const dir = mkdtempSync(join(tmpdir(), 'kubevisor-pack-manifest-'))
    try {
      const original = `${JSON.stringify(repoManifest, null, '\t')}\n` // any formatting survives
      writeFileSync(join(dir, 'package.json'), original)
      swap(dir, 'publish')
      assert.doesNotMatch(readFileSync(join(dir, 'package.json'), 'utf8'), /"source"/)
      assert.ok(existsSync(join(dir, BACKUP)))
      assert.throws(() => swap(dir, 'publish'), (err) => err instanceof PackManifestError && err.code === 'ERR_PACK_INTERRUPTED')
      swap(dir, 'restore')
      assert.equal(readFileSync(join(dir, 'package.json'), 'utf8'), original)
      assert.equal(existsSync(join(dir, BACKUP)), false)
      swap(dir, 'restore') // nothing to restore: a no-op
      assert.equal(readFileSync(join(dir, 'package.json'), 'utf8'), original)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
