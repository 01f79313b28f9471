/**
 * Go for the tests that run testing/protogen (protogen.test.ts, typedclient.test.ts): the
 * envtest module cache, offline (GOPROXY=off), and whether it holds everything they build.
 *
 * That is asked of Go itself (`go list -deps`), not read off one module's directory: .ci/run
 * builds kubectl from Go modules into the same cache before `npm test`, so on a cold machine
 * the cache held k8s.io/kubernetes but not k8s.io/apiextensions-apiserver, the protogen test
 * took the cache as ready, and failed offline (measured: a cold `.ci/run`). Until the envtest
 * build has filled the cache these tests skip, saying so, and `.ci/run`'s protogen stage,
 * after that build, runs them with KUBEVISOR_PROTOGEN_REQUIRED=1.
 */
import { execFileSync } from 'node:child_process'
import { homedir } from 'node:os'
import { join } from 'node:path'

export const protogenDir = join(import.meta.dirname, '..', '..', 'testing', 'protogen')
const cache = join(process.env.KUBEVISOR_CACHE ?? join(homedir(), '.cache', 'kubevisor'), 'envtest', 'go')

/** The environment for `go` in testing/protogen: the envtest caches, offline. */
export function protogenGoEnv(): NodeJS.ProcessEnv {
  return {
    ...process.env,
    GOMODCACHE: process.env.GOMODCACHE ?? join(cache, 'mod'),
    GOCACHE: process.env.GOCACHE ?? join(cache, 'build'),
    GOFLAGS: '-mod=mod -modcacherw',
    GOPROXY: 'off',
    CGO_ENABLED: '0',
  }
}

/** Whether Go is installed and every package `pkgs` (in testing/protogen) needs is in the cache. */
export function protogenBuildable(pkgs: string[]): boolean {
  try {
    execFileSync('go', ['list', '-deps', ...pkgs], { cwd: protogenDir, env: protogenGoEnv(), stdio: 'ignore', timeout: 120_000 })
    return true
  } catch {
    return false
  }
}
