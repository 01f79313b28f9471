/**
 * The package.json that `npm pack` / `npm publish` ship, and the step that swaps it in.
 *
 * In this repository, `exports` carries a `source` condition that maps `kubevisor` and
 * `kubevisor/testing` to `lib/*.ts`, so tests, examples and benchmarks run with
 * `node --conditions=source` import the package by name without a build. That condition
 * must never reach the registry: a consumer running with `--conditions=source` (or a
 * tsconfig with `customConditions: ["source"]`) would be sent to TypeScript files under
 * node_modules, which Node refuses to run (issue #12). npm has no `publishConfig` for
 * `exports`, so the lifecycle scripts swap the manifest around the pack:
 *
 *   prepack:  npm run build && node scripts/pack-manifest.ts publish
 *   postpack: node scripts/pack-manifest.ts restore
 *
 * `publish` keeps the repository's manifest byte for byte in `.package.json.before-pack`
 * and writes the published one; `restore` puts the original back. If a pack was
 * interrupted between the two, `publish` refuses to run until `restore` has been run
 * (`git status` shows both files). Hand-written: a JSON transform of a few lines.
 */
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { KubevisorError } from '../lib/errors.ts'

/** A package.json as far as this script reads it. */
export interface Manifest {
  exports?: unknown
  [field: string]: unknown
}

/** The development-only export condition removed from the published manifest. */
export const DEV_CONDITION = 'source'

/** Thrown when the published manifest would still point at something users cannot run. */
export class PackManifestError extends KubevisorError {
  declare readonly code: 'ERR_PACK_MANIFEST_INVALID' | 'ERR_PACK_INTERRUPTED'
}

function withoutCondition(value: unknown, condition: string): unknown {
  if (Array.isArray(value)) return value.map((v) => withoutCondition(v, condition))
  if (value === null || typeof value !== 'object') return value
  const out: Record<string, unknown> = {}
  for (const [key, v] of Object.entries(value)) if (key !== condition) out[key] = withoutCondition(v, condition)
  return out
}

function targets(value: unknown): string[] {
  if (typeof value === 'string') return [value]
  if (value === null || typeof value !== 'object') return []
  return Object.values(value).flatMap(targets)
}

/**
 * The manifest `npm pack` ships: the repository's, without the `source` export condition.
 * Throws a `PackManifestError` (`ERR_PACK_MANIFEST_INVALID`) if an export would still resolve
 * to a TypeScript source file.
 */
export function publishedManifest(manifest: Manifest): Manifest {
  const published: Manifest = { ...manifest, exports: withoutCondition(manifest.exports, DEV_CONDITION) }
  const sources = targets(published.exports).filter((t) => /\.[cm]?ts$/.test(t) && !/\.d\.[cm]?ts$/.test(t))
  if (sources.length > 0)
    throw new PackManifestError('ERR_PACK_MANIFEST_INVALID', `published exports still map to TypeScript sources: ${sources.join(', ')}`)
  return published
}

/** Where `publish` keeps the repository's manifest until `restore`. */
export const BACKUP = '.package.json.before-pack'

/** Swaps the published manifest in (`publish`) or the repository's back (`restore`) in `root`. */
export function swap(root: string, step: 'publish' | 'restore'): void {
  const manifestPath = join(root, 'package.json')
  const backupPath = join(root, BACKUP)
  if (step === 'restore') {
    if (existsSync(backupPath)) renameSync(backupPath, manifestPath)
    return
  }
  if (existsSync(backupPath))
    throw new PackManifestError(
      'ERR_PACK_INTERRUPTED',
      `${backupPath} exists: an earlier npm pack stopped before postpack, so package.json is the published variant. ` +
        'Run `node scripts/pack-manifest.ts restore`, then pack again.',
    )
  const original = readFileSync(manifestPath, 'utf8')
  const published = publishedManifest(JSON.parse(original) as Manifest)
  writeFileSync(backupPath, original)
  writeFileSync(manifestPath, `${JSON.stringify(published, null, 2)}\n`)
}

// Run as a script (not imported by the tests). Not `import.meta.main`: Node 22.19 lacks it.
if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const step = process.argv[2]
  if (step !== 'publish' && step !== 'restore') {
    process.stderr.write('usage: node scripts/pack-manifest.ts publish|restore\n')
    process.exit(2)
  }
  try {
    swap(process.cwd(), step)
  } catch (err) {
    process.stderr.write(`pack-manifest: ${(err as Error).message}\n`)
    process.exit(1)
  }
}
