// The README's code is a test (issue #12, "First contact"): every ```ts block typechecks as
// written against the package, and every block marked as a complete program runs.
//
// - Typecheck: each block is written, unchanged, into a temporary directory inside the
//   repository as its own module (`export {}` is appended so blocks never see each other's
//   declarations) and compiled with the project's tsc and tsconfig. The directory sits in
//   the package, so `import … from 'kubevisor'` and `'kubevisor/testing'` resolve the way a
//   user's do: through the package's `exports`, with the `source` condition onto lib/.
// - Run: a block preceded by the line `<!-- readme: runs -->` is a complete program. It
//   runs with Node (type stripping, `--conditions=source`) with `KUBECONFIG` pointing at a
//   fresh embedded API server holding a few pods, and must exit 0 within RUN_TIMEOUT_MS.
//
// A failure names the block by its README line and prints tsc's diagnostics (or the
// program's output), so a section added later is covered without touching this file.
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { fileURLToPath } from 'node:url'
import * as kubevisor from 'kubevisor'
import * as testing from 'kubevisor/testing'
import { type ReadmeBlock, RUN_MARKER, RUN_TIMEOUT_MS, seedReadmePods, TS_FENCE, tsBlocks } from '../support/readme.ts'

const repo = join(dirname(fileURLToPath(import.meta.url)), '..', '..')

function run(cmd: string, args: string[], options: { env?: NodeJS.ProcessEnv; timeout?: number; cwd?: string } = {}) {
  return new Promise<{ code: number | null; signal: NodeJS.Signals | null; out: string }>((resolve) => {
    execFile(cmd, args, { cwd: options.cwd ?? repo, env: options.env ?? process.env, timeout: options.timeout, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      const e = err as (Error & { code?: number | string; signal?: NodeJS.Signals }) | null
      resolve({ code: e ? (typeof e.code === 'number' ? e.code : 1) : 0, signal: e?.signal ?? null, out: `${stdout}${stderr}` })
    })
  })
}

const fileOf = (b: ReadmeBlock) => `readme-L${b.line}.ts`

const readme = await readFile(join(repo, 'README.md'), 'utf8')
const blocks = tsBlocks(readme)
let dir = ''
/** tsc's diagnostics per block file, with positions translated to README lines. */
const diagnostics = new Map<string, string[]>()
let tscOutput = ''

before(async () => {
  dir = await mkdtemp(join(repo, '.readme-'))
  for (const b of blocks) await writeFile(join(dir, fileOf(b)), `${b.code}\nexport {}\n`)
  await writeFile(
    join(dir, 'tsconfig.json'),
    JSON.stringify({ extends: join(repo, 'tsconfig.json'), compilerOptions: { noEmit: true }, include: ['*.ts'] }),
  )
  const tsc = join(repo, 'node_modules', 'typescript', 'bin', 'tsc')
  const { out } = await run(process.execPath, [tsc, '-p', join(dir, 'tsconfig.json'), '--pretty', 'false'])
  tscOutput = out
  // `readme-L12.ts(3,7): error TS2304: Cannot find name 'x'.` → README.md:14:7 (line 12 + 3 - 1 + 1).
  // Indented lines continue the diagnostic above them (elaborations of a type error).
  let last: string[] | undefined
  for (const row of out.split('\n')) {
    const m = /^(?:.*[\\/])?(readme-L(\d+)\.ts)\((\d+),(\d+)\): (.*)$/.exec(row)
    if (!m) {
      if (last && /^\s+\S/.test(row)) last.push(row)
      else last = undefined
      continue
    }
    const readmeLine = Number(m[2]) + Number(m[3])
    const list = diagnostics.get(m[1] as string) ?? []
    list.push(`README.md:${readmeLine}:${m[4]}: ${m[5]}`)
    diagnostics.set(m[1] as string, list)
    last = list
  }
})

after(async () => {
  if (dir) await rm(dir, { recursive: true, force: true })
})

describe('README ```ts blocks', () => {
  test('the extractor finds every block, with the line of its fence', () => {
    assert.ok(blocks.length >= 10, `found only ${blocks.length} blocks`)
    const fences = readme.split('\n').filter((l) => TS_FENCE.test(l)).length
    assert.equal(blocks.length, fences)
    for (const b of blocks) assert.match(readme.split('\n')[b.line - 1] ?? '', TS_FENCE)
    const parsed = tsBlocks(['text', RUN_MARKER, '```ts', 'const a = 1', '```', '```typescript', 'b()', '```', '- item', '  ```ts', '  c()', '  ```', '```sh', 'ls', '```'].join('\n'))
    assert.deepEqual(parsed, [
      { line: 3, code: 'const a = 1', runs: true },
      { line: 6, code: 'b()', runs: false },
      { line: 10, code: '  c()', runs: false },
    ])
  })

  test('tsc ran over the blocks (its output is understood)', () => {
    // A tsc that failed to start, or an output format this test does not parse, must not pass silently.
    const unparsed = tscOutput.split('\n').filter((l) => l.trim() !== '' && !/readme-L\d+\.ts\(\d+,\d+\): /.test(l) && !/^\s/.test(l))
    assert.deepEqual(unparsed, [], `tsc printed something that is not a block diagnostic:\n${tscOutput}`)
  })

  for (const b of blocks) {
    test(`README.md:${b.line} typechecks as written`, () => {
      const found = diagnostics.get(fileOf(b)) ?? []
      assert.equal(found.length, 0, `the \`\`\`ts block at README.md:${b.line} does not compile:\n${found.join('\n')}`)
    })
  }

  for (const b of blocks.filter((x) => x.runs)) {
    test(`README.md:${b.line} runs as a complete program`, { timeout: RUN_TIMEOUT_MS + 10_000 }, async () => {
      const server = await testing.startApiServer()
      try {
        seedReadmePods(server)
        const kubeconfig = join(dir, `kubeconfig-L${b.line}.yaml`)
        await writeFile(kubeconfig, server.kubeConfigYaml())
        const env = { ...process.env, KUBECONFIG: kubeconfig, KUBEVISOR_LOG_LEVEL: 'warn' }
        const res = await run(process.execPath, ['--conditions=source', join(dir, fileOf(b))], { env, timeout: RUN_TIMEOUT_MS, cwd: dir })
        assert.ok(res.signal === null, `the program at README.md:${b.line} did not exit within ${RUN_TIMEOUT_MS} ms; output:\n${res.out}`)
        assert.equal(res.code, 0, `the program at README.md:${b.line} exited with ${res.code}; output:\n${res.out}`)
      } finally {
        await server.close()
      }
    })
  }
})

describe('README: named errors are importable', () => {
  test('every `…Error` the README names is a KubevisorError class exported by kubevisor or kubevisor/testing', () => {
    const named = [...new Set([...readme.matchAll(/`([A-Z][A-Za-z]*Error)`/g)].map((m) => m[1] as string))]
    assert.ok(named.length > 10)
    const exported = { ...testing, ...kubevisor } as Record<string, unknown>
    // Not kubevisor's to export: JavaScript's own error classes (the reconcile metrics count
    // thrown TypeErrors as panics) and Kubernetes Status reasons (`InternalError`).
    const notOurs = (n: string) => typeof (globalThis as Record<string, unknown>)[n] === 'function' || n === 'InternalError'
    const missing = named.filter((n) => {
      if (notOurs(n)) return false
      const cls = exported[n]
      return !(typeof cls === 'function' && (cls === kubevisor.KubevisorError || cls.prototype instanceof kubevisor.KubevisorError))
    })
    assert.deepEqual(missing, [])
  })

  test('the client error and the embedded server error have distinct names and codes (issue #12)', () => {
    assert.equal('ApiStatusError' in testing, false)
    assert.equal(new kubevisor.ApiStatusError(404, 'x').code, 'ERR_API_STATUS')
    const status = { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: 'x', reason: 'NotFound', code: 404 } as const
    assert.equal(new testing.ApiServerStatusError(status).code, 'ERR_APISERVER_STATUS')
    for (const n of ['InitIgnoredError', 'StartTimeoutError', 'AlreadyStartedError', 'StopTimeoutError', 'BadResultError', 'MissingCallbackError']) {
      assert.equal(typeof (kubevisor as Record<string, unknown>)[n], 'function', `${n} is exported by kubevisor`)
    }
  })
})
