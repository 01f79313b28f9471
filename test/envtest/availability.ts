/**
 * Whether the real-server tier can run here. It runs whenever the binaries are found; it
 * is skipped, with the reason printed, only on a machine without Go (where `npm run
 * envtest:build` cannot build them). Under CI it never skips: a missing binary fails the
 * test with the error that says how to build it.
 */
import { spawnSync } from 'node:child_process'
import { EnvtestAssetsNotFoundError, findEnvtestAssets } from '../../lib/testing/kube-apiserver.ts'

/**
 * False when an npm script other than `test:envtest` runs this file: `npm test`'s
 * glob of all test files also matches `test/envtest/`, but the real-server tier is
 * not part of `npm test`. Run directly (`node --test test/envtest/...`) it is true.
 */
export function inEnvtestTier(): boolean {
  const script = process.env.npm_lifecycle_event
  return script === undefined || script === 'test:envtest'
}

/** `undefined` to run; otherwise the reason to skip, already printed as `skipped: <why>`. */
export function envtestSkipReason(): string | undefined {
  try {
    findEnvtestAssets()
    return undefined
  } catch (err) {
    if (!(err instanceof EnvtestAssetsNotFoundError)) throw err
    if (process.env.CI) return undefined
    const go = spawnSync('go', ['version'], { encoding: 'utf8' })
    if (go.error === undefined && go.status === 0) return undefined
    const reason =
      'Go is not installed, so the kube-apiserver/etcd binaries cannot be built (`npm run envtest:build`) ' +
      'and none were found (KUBEVISOR_ENVTEST_ASSETS, KUBEBUILDER_ASSETS, ~/.cache/kubevisor/envtest); ' +
      'with CI set this is a failure instead'
    console.log(`skipped: ${reason}`)
    return reason
  }
}
