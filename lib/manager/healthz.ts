/**
 * Health and readiness endpoints with controller-runtime's behaviour (`pkg/healthz`):
 *
 * - `GET /healthz` (or `/readyz`) runs every named check: `200 ok` when all pass; with
 *   `?verbose` (or on any failure) one line per check — `[+]name ok`, `[+]name excluded: ok`,
 *   `[-]name failed: reason withheld` — then `healthz check passed` / `healthz check failed`
 *   (500). The reasons are withheld because the endpoint is public; ask the check's
 *   subpath for it.
 * - `?exclude=name` (repeatable) skips a check; unknown names get a `warn:` line.
 * - `GET /healthz/<name>` runs one check: `200 ok`, or `500 internal server error: <reason>`;
 *   an unknown name is 404.
 * - With no checks registered, a `ping` check answers (controller-runtime's default).
 */

/** A check: resolve (or return) to pass, throw to fail. Checks should answer within a second. */
export type Checker = () => void | Promise<void>

/** One endpoint's answer. */
export interface HealthAnswer {
  status: number
  body: string
}

/** controller-runtime `healthz.Ping`: always passes. */
export const ping: Checker = () => {}

/** Runs a check, failing it when it takes longer than `timeoutMs` (a hung check must not hang the probe). */
async function runCheck(check: Checker, timeoutMs: number): Promise<Error | undefined> {
  let timer: NodeJS.Timeout | undefined
  try {
    await Promise.race([
      Promise.resolve().then(check),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`check timed out after ${timeoutMs} ms`)), timeoutMs)
        timer.unref?.()
      }),
    ])
    return undefined
  } catch (err) {
    return err instanceof Error ? err : new Error(String(err))
  } finally {
    clearTimeout(timer)
  }
}

/**
 * Answers one request to a health endpoint. `subpath` is what follows the endpoint
 * (`''` or `'/'` for the aggregate, `'/name'` for one check).
 */
export async function serveHealth(kind: 'healthz' | 'readyz', checks: ReadonlyMap<string, Checker>, subpath: string, query: URLSearchParams, timeoutMs = 10_000): Promise<HealthAnswer> {
  const path = subpath === '' ? '/' : subpath
  if (path === '/') return aggregate(kind, checks, query, timeoutMs)
  const name = path.slice(1)
  const check = checks.size === 0 && name === 'ping' ? ping : checks.get(name)
  if (!check) return { status: 404, body: '404 page not found\n' }
  const err = await runCheck(check, timeoutMs)
  return err ? { status: 500, body: `internal server error: ${err.message}\n` } : { status: 200, body: 'ok' }
}

async function aggregate(_kind: string, checks: ReadonlyMap<string, Checker>, query: URLSearchParams, timeoutMs: number): Promise<HealthAnswer> {
  const excluded = new Set(query.getAll('exclude'))
  const parts: { name: string; healthy: boolean; excluded: boolean }[] = []
  let failed = false
  const runs = [...checks].map(async ([name, check]) => {
    if (excluded.has(name)) {
      excluded.delete(name)
      parts.push({ name, healthy: true, excluded: true })
      return
    }
    const err = await runCheck(check, timeoutMs)
    if (err) failed = true
    parts.push({ name, healthy: !err, excluded: false })
  })
  await Promise.all(runs)
  if (checks.size === 0) parts.push({ name: 'ping', healthy: true, excluded: false })
  parts.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
  const verbose = query.has('verbose')
  if (!failed && !verbose) return { status: 200, body: 'ok' }
  let body = ''
  for (const p of parts) {
    if (p.excluded) body += `[+]${p.name} excluded: ok\n`
    else if (p.healthy) body += `[+]${p.name} ok\n`
    else body += `[-]${p.name} failed: reason withheld\n`
  }
  if (excluded.size > 0) body += `warn: some health checks cannot be excluded: no matches for ${[...excluded].sort().map((n) => `"${n}"`).join(',')}\n`
  // controller-runtime writes "healthz" for both endpoints.
  body += failed ? "healthz check failed\n" : "healthz check passed\n"
  return { status: failed ? 500 : 200, body }
}
