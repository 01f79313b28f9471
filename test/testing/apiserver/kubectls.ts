/**
 * The kubectl versions the kubectl tests run against (issue #17: every kubectl `.ci/run` can
 * get). From `KUBEVISOR_KUBECTLS` (colon-separated paths; `.ci/run` sets it), else
 * discovered: `$KUBECTL`, the first `kubectl` on PATH, `~/.cache/kubevisor/bin/kubectl*`
 * (kubectl built from Go modules at the pinned version, `kubectl-1.34.4`) and Debian's
 * kubernetes-client extracted into `~/.cache/kubevisor/kubectl-debian/`. Duplicates (same
 * real path) count once.
 *
 * A kubectl listed in `KUBEVISOR_KUBECTLS` that is absent or does not run is a failing test
 * (the list is a requirement: `.ci/run` sets it so that nothing goes missing silently); a
 * discovered one that does not run, or no kubectl at all, fails under CI and skips, saying
 * so, elsewhere.
 */
import { execFileSync } from 'node:child_process'
import { accessSync, constants, readdirSync, realpathSync } from 'node:fs'
import { homedir } from 'node:os'
import { delimiter, join } from 'node:path'
import { test } from 'node:test'

/** One kubectl binary and its client version. */
export interface Kubectl {
  /** Path of the binary. */
  path: string
  /** Its `gitVersion`, e.g. `v1.20.2`. */
  version: string
  /** Its minor version, e.g. 20. */
  minor: number
  /** For test names: `kubectl v1.20.2`. */
  label: string
}

function executable(p: string): boolean {
  try {
    accessSync(p, constants.X_OK)
    return true
  } catch {
    return false
  }
}

function cacheDir(): string {
  return process.env.KUBEVISOR_CACHE ?? join(homedir(), '.cache', 'kubevisor')
}

function discover(): string[] {
  const out: string[] = []
  if (process.env.KUBECTL) out.push(process.env.KUBECTL)
  const onPath = (process.env.PATH ?? '')
    .split(delimiter)
    .filter(Boolean)
    .map((d) => join(d, 'kubectl'))
    .find(executable)
  if (onPath) out.push(onPath)
  const bin = join(cacheDir(), 'bin')
  try {
    for (const f of readdirSync(bin).sort()) if (/^kubectl(-\d+\.\d+\.\d+)?$/.test(f)) out.push(join(bin, f))
  } catch {
    // no cache
  }
  out.push(join(cacheDir(), 'kubectl-debian', 'usr', 'bin', 'kubectl'))
  return out.filter(executable)
}

function versionOf(path: string): { version: string; minor: number } {
  const out = execFileSync(path, ['version', '--client', '-o', 'json'], { encoding: 'utf8', timeout: 30_000, stdio: ['ignore', 'pipe', 'ignore'] })
  const v = JSON.parse(out).clientVersion ?? {}
  const version = String(v.gitVersion ?? '')
  const minor = Number.parseInt(String(v.minor || /^v\d+\.(\d+)/.exec(version)?.[1] || '0'), 10) || 0
  return { version, minor }
}

const listed = process.env.KUBEVISOR_KUBECTLS?.split(':').filter(Boolean)

/** Listed kubectls that are absent or do not run, with the reason. */
export const missingKubectls: string[] = []

/** The kubectls to test with, in order, deduplicated. */
export const kubectls: Kubectl[] = (() => {
  const seen = new Set<string>()
  const out: Kubectl[] = []
  for (const p of listed ?? discover()) {
    if (!executable(p)) {
      missingKubectls.push(`${p}: not found or not executable`)
      continue
    }
    const real = realpathSync(p)
    if (seen.has(real)) continue
    seen.add(real)
    try {
      const { version, minor } = versionOf(p)
      out.push({ path: p, version, minor, label: `kubectl ${version}` })
    } catch (err) {
      missingKubectls.push(`${p}: \`kubectl version --client\` failed: ${(err as Error).message}`)
    }
  }
  return out
})()

/**
 * Registers, once per test file, the check that every listed kubectl is there: a failing
 * test under CI, a skip elsewhere. Also says so when no kubectl exists at all.
 */
export function checkKubectls(suite: string): void {
  const from = listed ? 'KUBEVISOR_KUBECTLS' : 'discovery ($KUBECTL, PATH, ~/.cache/kubevisor)'
  if (missingKubectls.length > 0) {
    const why = `${suite}: kubectl missing from ${from}: ${missingKubectls.join('; ')}`
    test(why, { skip: listed || process.env.CI ? false : why }, () => {
      throw new Error(why)
    })
  }
  if (kubectls.length === 0) {
    const why = `${suite}: no kubectl found (${from}); see .ci/run`
    test(why, { skip: process.env.CI ? false : why }, () => {
      throw new Error(why)
    })
  } else {
    console.log(`# ${suite}: ${kubectls.map((k) => `${k.label} (${k.path})`).join(', ')}`)
  }
}
