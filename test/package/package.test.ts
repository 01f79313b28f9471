/**
 * Test what users get (issue #12, "First contact"): pack the package exactly as `npm
 * publish` would, install the tarball into an empty project with every dependency from
 * the registry, and use it there the ways a user does:
 *
 * - `npx kubevisor apiserver`, then talk to it over HTTP;
 * - `import` and `require()` of `kubevisor` and `kubevisor/testing` (both must load
 *   dist/, also under `--conditions=source`), on this Node and on the minimum Node that
 *   package.json `engines` claims (fetched as the `node@<version>` package from npm);
 * - `tsc --noEmit` of a consumer under `moduleResolution` `nodenext` and `bundler`, with
 *   `customConditions: ["source"]` (the published exports must not know that condition),
 *   with the TypeScript this repository builds with and with TypeScript 5;
 * - the README's ```ts blocks (the installed copy): each typechecks against dist/*.d.ts, and
 *   each one marked as a program runs from the consumer project.
 *
 * Not part of `npm test`: it needs the registry and takes a minute or two. `.ci/run` runs
 * it as its own stage (`npm run test:package`). The pack happens in a staging copy of the
 * repository, so the checkout's package.json is never swapped while other tests read it.
 */
import assert from 'node:assert/strict'
import { type ChildProcess, execFile, spawn } from 'node:child_process'
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { homedir, tmpdir } from 'node:os'
import { delimiter, dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { after, before, describe, test } from 'node:test'
import semver from 'semver'
import * as sourceMain from '../../lib/index.ts'
import * as sourceTesting from '../../lib/testing/index.ts'
import { BACKUP } from '../../scripts/pack-manifest.ts'
import { type ReadmeBlock, RUN_TIMEOUT_MS, seedReadmePods, tsBlocks } from '../support/readme.ts'

const run = promisify(execFile)
const root = fileURLToPath(new URL('../..', import.meta.url))
const manifest = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'))
const minimumNode = semver.minVersion(manifest.engines.node)!.version
const cache = process.env.KUBEVISOR_CACHE || join(homedir(), '.cache', 'kubevisor')

const work = mkdtempSync(join(tmpdir(), 'kubevisor-package-'))
const stage = join(work, 'stage')
const consumer = join(work, 'consumer')
let tarball = ''
let packedFiles: string[] = []

async function sh(cmd: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = process.env) {
  try {
    return await run(cmd, args, { cwd, env, maxBuffer: 64 * 1024 * 1024 })
  } catch (err) {
    const e = err as Error & { code?: unknown; stdout?: string; stderr?: string }
    // tsc --listFiles prints hundreds of paths: keep the diagnostics and the tail of the rest.
    const out = `${e.stdout ?? ''}\n${e.stderr ?? ''}`
    const errors = out.split('\n').filter((l) => /error|ERR_/.test(l))
    throw new Error(`${cmd} ${args.join(' ')} failed in ${cwd} (exit ${e.code}):\n${errors.join('\n')}\n...\n${out.slice(-4000)}`)
  }
}

/** The `node` binary of the `node@<version>` npm package, installed once into the cache. */
async function nodeBinary(version: string): Promise<string> {
  const dir = join(cache, `node-${version}`)
  const bin = join(dir, 'node_modules', 'node', 'bin', 'node')
  if (!existsSync(bin)) {
    mkdirSync(cache, { recursive: true })
    const tmp = mkdtempSync(join(cache, `.node-${version}-`))
    await sh('npm', ['install', '--no-save', '--no-audit', '--no-fund', '--loglevel=error', `node@${version}`], tmp)
    try {
      renameSync(tmp, dir) // atomic; a concurrent run that won the race leaves its copy in place
    } catch {
      rmSync(tmp, { recursive: true, force: true })
    }
  }
  const { stdout } = await sh(bin, ['--version'], work)
  assert.equal(stdout.trim(), `v${version}`)
  return bin
}

/** Environment whose `node` (and so `#!/usr/bin/env node`) is the given binary. */
function envWithNode(node: string, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return { ...process.env, PATH: `${dirname(node)}${delimiter}${process.env.PATH}`, ...extra }
}

before(async () => {
  // A staging copy of what `npm pack` reads, with the checkout's node_modules (for tsc).
  mkdirSync(stage)
  for (const entry of ['package.json', 'package-lock.json', 'README.md', 'LICENSE', 'tsconfig.json', 'tsconfig.build.json', 'bin', 'lib', 'scripts'])
    cpSync(join(root, entry), join(stage, entry), { recursive: true })
  symlinkSync(join(root, 'node_modules'), join(stage, 'node_modules'), 'dir')
  const { stdout } = await sh('npm', ['pack', '--json', '--loglevel=error', '--pack-destination', work], stage)
  const [packed] = JSON.parse(stdout.slice(stdout.indexOf('[')))
  tarball = join(work, packed.filename)
  packedFiles = packed.files.map((f: { path: string }) => f.path).sort()

  mkdirSync(consumer)
  writeFileSync(join(consumer, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }, null, 2))
  await sh(
    'npm',
    [
      'install',
      '--no-audit',
      '--no-fund',
      '--loglevel=error',
      tarball,
      `typescript@${manifest.devDependencies.typescript}`,
      'typescript5@npm:typescript@5',
      `@types/node@${manifest.devDependencies['@types/node']}`,
      // @kubernetes/client-node's declarations import `ws` (through isomorphic-ws) without
      // depending on its types; a consumer with skipLibCheck: false needs them (README).
      '@types/ws',
      // The optional peer dependency the README's metrics blocks import ("Installing the package").
      `prom-client@${manifest.peerDependencies['prom-client']}`,
    ],
    consumer,
  )
})

after(() => rmSync(work, { recursive: true, force: true }))

describe('the published package (npm pack, installed from the tarball into an empty project)', () => {
  test('npm pack leaves the repository manifest as it was (postpack restores it)', () => {
    assert.equal(readFileSync(join(stage, 'package.json'), 'utf8'), readFileSync(join(root, 'package.json'), 'utf8'))
    assert.equal(existsSync(join(stage, BACKUP)), false)
  })

  test('the tarball holds dist/*.js, dist/*.d.ts, the observer page, the launcher, README, LICENSE, package.json and nothing else', () => {
    const unexpected = packedFiles.filter(
      (f) =>
        !/^dist\/.+\.(js|d\.ts)$/.test(f) &&
        !/^dist\/observer\/page\/[^/]+\.(html|css|js)$/.test(f) &&
        !/^dist\/testing\/apiserver\/data\/[^/]+\.(json|proto)$/.test(f) &&
        !['bin/kubevisor.mjs', 'README.md', 'LICENSE', 'package.json'].includes(f),
    )
    assert.deepEqual(unexpected, [])
    for (const f of [
      'dist/index.js',
      'dist/index.d.ts',
      'dist/testing/index.js',
      'dist/testing/index.d.ts',
      'dist/observer/index.js',
      'dist/observer/page/index.html',
      'dist/observer/page/app.js',
      'dist/observer/page/style.css',
      'dist/testing/apiserver/data/protobuf-schema.json',
      'dist/testing/apiserver/data/openapi-schemas.json',
      'dist/testing/apiserver/data/openapi-v2.proto',
      'dist/cli.js',
      'LICENSE',
    ])
      assert.ok(packedFiles.includes(f), `${f} is packed`)
    assert.match(readFileSync(join(consumer, 'node_modules/kubevisor/LICENSE'), 'utf8'), /Apache License\s+Version 2\.0/)
  })

  test('the installed manifest has no "source" export condition, and every export target exists', () => {
    const installed = JSON.parse(readFileSync(join(consumer, 'node_modules/kubevisor/package.json'), 'utf8'))
    assert.doesNotMatch(JSON.stringify(installed.exports), /"source"/)
    assert.equal(installed.license, 'Apache-2.0')
    assert.ok(installed.repository && installed.homepage && installed.bugs, 'repository, homepage and bugs are set')
    const targets = (v: unknown): string[] => (typeof v === 'string' ? [v] : Object.values(v as object).flatMap(targets))
    for (const target of targets(installed.exports))
      assert.ok(existsSync(join(consumer, 'node_modules/kubevisor', target)), `${target} exists in the installed package`)
  })

  const runtimes: { name: string; node: () => Promise<string> }[] = [
    { name: `this Node (${process.version})`, node: async () => process.execPath },
    { name: `the minimum Node of engines (${minimumNode})`, node: () => nodeBinary(minimumNode) },
  ]

  for (const runtime of runtimes) {
    describe(`on ${runtime.name}`, () => {
      test('`kubevisor apiserver` (the installed bin) serves the Kubernetes API and stops on Ctrl-C', async () => {
        const node = await runtime.node()
        const kubeconfig = join(work, `kubeconfig-${process.pid}-${Math.random()}`)
        // npx on this Node, as the issue's report did; the bin through PATH on the minimum.
        const [cmd, args] =
          node === process.execPath
            ? ['npx', ['--no-install', 'kubevisor', 'apiserver']]
            : [join(consumer, 'node_modules/.bin/kubevisor'), ['apiserver']]
        const child = spawn(cmd, [...args, '--kubeconfig', kubeconfig, '--token', 'T0ken'], {
          cwd: consumer,
          env: envWithNode(node, { NODE_OPTIONS: '--conditions=source' }),
          stdio: ['ignore', 'pipe', 'pipe'],
          detached: true, // its own process group, killed as a whole if the test fails
        })
        try {
          const { url, output } = await listening(child)
          const version = await fetch(`${url}/version`, { headers: { authorization: 'Bearer T0ken' } })
          assert.equal(version.status, 200)
          assert.match(((await version.json()) as { gitVersion: string }).gitVersion, /^v1\./)
          const unauthorized = await fetch(`${url}/api/v1/namespaces`)
          assert.equal(unauthorized.status, 401)
          const list = await fetch(`${url}/api/v1/namespaces`, { headers: { authorization: 'Bearer T0ken' } })
          const names = ((await list.json()) as { items: { metadata: { name: string } }[] }).items.map((n) => n.metadata.name)
          assert.ok(names.includes('kube-system'), `namespaces: ${names}`)
          assert.match(readFileSync(kubeconfig, 'utf8'), /token: "?T0ken"?$/m)
          // The generated schemas ship with dist/: a Go client's protobuf answer, and kubectl
          // explain's OpenAPI v2 document.
          const proto = await fetch(`${url}/api/v1/namespaces/kube-system`, {
            headers: { authorization: 'Bearer T0ken', accept: 'application/vnd.kubernetes.protobuf, application/json' },
          })
          assert.equal(proto.status, 200)
          assert.match(proto.headers.get('content-type') ?? '', /application\/vnd\.kubernetes\.protobuf/)
          assert.deepEqual([...new Uint8Array(await proto.arrayBuffer()).subarray(0, 4)], [0x6b, 0x38, 0x73, 0x00], 'the k8s\\0 envelope')
          const v2 = await fetch(`${url}/openapi/v2`, { headers: { authorization: 'Bearer T0ken', accept: 'application/json' } })
          assert.equal(v2.status, 200)
          const definitions = ((await v2.json()) as { definitions?: Record<string, unknown> }).definitions ?? {}
          assert.ok('io.k8s.api.core.v1.ConfigMap' in definitions, 'the v2 document carries the real definitions')
          const closed = new Promise<[number | null, string | null]>((resolve) => child.on('close', (code, signal) => resolve([code, signal])))
          // Ctrl-C in a terminal: SIGINT to the whole foreground process group. (A SIGTERM to
          // npx alone would not do: npm exits and leaves the server running.) The server stops
          // cleanly, prints "stopped" and exits 0; npx re-raises the signal on itself.
          process.kill(-child.pid!, 'SIGINT')
          const [code, signal] = await closed
          assert.match(output(), /stopped/)
          if (cmd === 'npx') assert.ok(code === 0 || signal === 'SIGINT', `npx: exit code ${code}, signal ${signal}`)
          else assert.equal(code, 0)
          await assert.rejects(fetch(`${url}/version`), 'the server is gone')
        } finally {
          try {
            process.kill(-child.pid!, 'SIGKILL')
          } catch {}
        }
      })

      test('ESM import of kubevisor and kubevisor/testing loads dist/, also with --conditions=source, and runs (HTTP and HTTPS)', async () => {
        const node = await runtime.node()
        writeFileSync(
          join(consumer, 'esm.mjs'),
          `import * as main from 'kubevisor'
import * as testing from 'kubevisor/testing'
const server = await testing.startApiServer()
const res = await fetch(server.url + '/api/v1/namespaces')
const namespaces = (await res.json()).items.map((n) => n.metadata.name)
await server.close()
// HTTPS: the certificates come from a runtime dependency (pkijs), loaded on first use.
const secure = await testing.startApiServer({ tls: true })
const { get } = await import('node:https')
const secureStatus = await new Promise((resolve, reject) => get(secure.url + '/version', { ca: secure.caCert }, (r) => resolve(r.resume().statusCode)).on('error', reject))
await secure.close()
console.log(JSON.stringify({
  main: import.meta.resolve('kubevisor'), testing: import.meta.resolve('kubevisor/testing'),
  mainNames: Object.keys(main), testingNames: Object.keys(testing), namespaces, secureStatus,
  error: new main.KubevisorError('ERR_X', 'x') instanceof Error,
}))
`,
        )
        for (const flags of [[], ['--conditions=source']]) {
          const { stdout } = await sh(node, [...flags, 'esm.mjs'], consumer)
          const got = JSON.parse(stdout)
          assert.match(got.main, /\/node_modules\/kubevisor\/dist\/index\.js$/)
          assert.match(got.testing, /\/node_modules\/kubevisor\/dist\/testing\/index\.js$/)
          assert.deepEqual(got.mainNames.sort(), Object.keys(sourceMain).sort(), 'every runtime export of lib/index.ts')
          assert.deepEqual(got.testingNames.sort(), Object.keys(sourceTesting).sort(), 'every runtime export of lib/testing/index.ts')
          assert.ok(got.namespaces.includes('default'))
          assert.equal(got.secureStatus, 200, 'startApiServer({ tls: true }) serves HTTPS with its generated CA')
          assert.equal(got.error, true)
        }
      })

      test('kubevisor/observer, installed, serves its page, its script, its style and the bundled Preact/htm (no CDN)', async () => {
        const node = await runtime.node()
        writeFileSync(
          join(consumer, 'observer.mjs'),
          `import { Supervisor } from 'kubevisor'
import { startObserver } from 'kubevisor/observer'
const root = await Supervisor.start([])
const observer = await startObserver({ roots: [root] })
const got = {}
for (const path of ['/', '/app.js', '/style.css', '/vendor/preact.mjs', '/vendor/hooks.mjs', '/vendor/htm.mjs']) {
  const res = await fetch(new URL(path, observer.url))
  got[path] = { status: res.status, type: res.headers.get('content-type'), bytes: (await res.arrayBuffer()).byteLength }
}
await observer.close()
await Supervisor.stop(root)
console.log(JSON.stringify({ resolved: import.meta.resolve('kubevisor/observer'), got }))
`,
        )
        const { stdout } = await sh(node, ['observer.mjs'], consumer)
        // The last line: the supervisor's default logger writes its start-up lines to stdout first.
        const { resolved, got } = JSON.parse(stdout.trim().split('\n').at(-1) as string)
        assert.match(resolved, /\/node_modules\/kubevisor\/dist\/observer\/index\.js$/)
        for (const [path, r] of Object.entries(got as Record<string, { status: number; type: string; bytes: number }>)) {
          assert.equal(r.status, 200, `${path} is served`)
          assert.ok(r.bytes > 0, `${path} is not empty`)
        }
        assert.match(got['/'].type, /text\/html/)
      })

      test('require() of kubevisor and kubevisor/testing loads dist/ (require of ESM), also with --conditions=source', async () => {
        const node = await runtime.node()
        writeFileSync(
          join(consumer, 'cjs.cjs'),
          `const main = require('kubevisor')
const testing = require('kubevisor/testing')
console.log(JSON.stringify({
  main: require.resolve('kubevisor'), testing: require.resolve('kubevisor/testing'),
  mainNames: Object.keys(main), testingNames: Object.keys(testing),
}))
`,
        )
        for (const flags of [[], ['--conditions=source']]) {
          const { stdout } = await sh(node, [...flags, 'cjs.cjs'], consumer)
          const got = JSON.parse(stdout)
          assert.match(got.main, /\/node_modules\/kubevisor\/dist\/index\.js$/)
          assert.match(got.testing, /\/node_modules\/kubevisor\/dist\/testing\/index\.js$/)
          // require(esm) returns the namespace object, plus `__esModule` when it has a default export.
          const names = (n: string[]) => n.filter((k) => k !== '__esModule').sort()
          assert.deepEqual(names(got.mainNames), Object.keys(sourceMain).sort())
          assert.deepEqual(names(got.testingNames), Object.keys(sourceTesting).sort())
        }
      })
    })
  }

  const consumerTs = `import { Backoff, CLIENT_GO_BACKOFF, type KubeObject, KubevisorError } from 'kubevisor'
import { FakeClock, startApiServer } from 'kubevisor/testing'

const clock = new FakeClock(1000)
const server = await startApiServer()
const pod: KubeObject = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p', namespace: 'default' } }
const failure = new KubevisorError('ERR_EXAMPLE', 'example')
export const used = [clock.now(), server.url.length, pod, failure.code.length, Backoff, CLIENT_GO_BACKOFF]
await server.close()
// @ts-expect-error the declarations are real types, not \`any\`: a URL is not a number
export const wrong: number = server.url
`
  const consumerCts = `import kubevisor = require('kubevisor')
import testing = require('kubevisor/testing')
export const failure: kubevisor.KubevisorError = new kubevisor.KubevisorError('ERR_EXAMPLE', 'example')
export const clock: testing.FakeClock = new testing.FakeClock(0)
`
  const resolutions = {
    nodenext: { module: 'nodenext', moduleResolution: 'nodenext', files: ['src/consumer.ts', 'src/require.cts'] },
    bundler: { module: 'preserve', moduleResolution: 'bundler', files: ['src/consumer.ts'] },
  }
  const compilers = {
    [`TypeScript ${manifest.devDependencies.typescript}`]: 'node_modules/typescript/bin/tsc',
    'TypeScript 5': 'node_modules/typescript5/bin/tsc',
  }
  for (const [resolution, options] of Object.entries(resolutions)) {
    for (const [compiler, tsc] of Object.entries(compilers)) {
      test(`a TypeScript consumer typechecks with ${compiler} under moduleResolution ${resolution} with customConditions ["source"], against dist/*.d.ts`, async () => {
        mkdirSync(join(consumer, 'src'), { recursive: true })
        writeFileSync(join(consumer, 'src/consumer.ts'), consumerTs)
        writeFileSync(join(consumer, 'src/require.cts'), consumerCts)
        const config = `tsconfig.${resolution}.json`
        writeFileSync(
          join(consumer, config),
          JSON.stringify({
            compilerOptions: {
              target: 'es2022',
              module: options.module,
              moduleResolution: options.moduleResolution,
              customConditions: ['source'],
              types: ['node'],
              strict: true,
              noEmit: true,
              skipLibCheck: false,
            },
            files: options.files,
          }),
        )
        const { stdout } = await sh(process.execPath, [tsc, '-p', config, '--listFiles'], consumer)
        const fromPackage = stdout.split('\n').filter((f) => f.includes('/node_modules/kubevisor/'))
        assert.ok(fromPackage.some((f) => f.endsWith('/node_modules/kubevisor/dist/index.d.ts')), stdout)
        assert.ok(fromPackage.some((f) => f.endsWith('/node_modules/kubevisor/dist/testing/index.d.ts')), stdout)
        assert.deepEqual(
          fromPackage.filter((f) => !/\/node_modules\/kubevisor\/dist\/.+\.d\.ts$/.test(f)),
          [],
          'only declarations from dist/',
        )
      })
    }
  }
})

// The README as a user reads it on npm (the installed copy), against the installed package:
// every ```ts block typechecks against dist/*.d.ts without the "source" condition, and every
// block marked as a complete program runs on this Node from the consumer project, importing
// dist/ (test/readme/readme.test.ts checks the same blocks against the sources).
describe('the README\'s ```ts blocks, against the installed package', () => {
  const readmeDir = join(consumer, 'readme')
  const fileOf = (b: ReadmeBlock) => join(readmeDir, `readme-L${b.line}.ts`)
  let blocks: ReadmeBlock[] = []
  before(() => {
    blocks = tsBlocks(readFileSync(join(consumer, 'node_modules/kubevisor/README.md'), 'utf8'))
    mkdirSync(readmeDir, { recursive: true })
    for (const b of blocks) writeFileSync(fileOf(b), `${b.code}\nexport {}\n`)
  })

  test('every block typechecks as written against dist/*.d.ts (no "source" condition)', async () => {
    assert.ok(blocks.length >= 10, `found only ${blocks.length} blocks`)
    writeFileSync(
      join(consumer, 'tsconfig.readme.json'),
      JSON.stringify({
        compilerOptions: { target: 'es2024', lib: ['es2024', 'esnext.disposable'], module: 'nodenext', moduleResolution: 'nodenext', types: ['node'], strict: true, noEmit: true, skipLibCheck: true },
        include: ['readme/*.ts'],
      }),
    )
    const { stdout } = await sh(process.execPath, ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.readme.json', '--listFiles'], consumer)
    const fromPackage = stdout.split('\n').filter((f) => f.includes('/node_modules/kubevisor/'))
    assert.ok(fromPackage.some((f) => f.endsWith('/node_modules/kubevisor/dist/index.d.ts')), 'the blocks import the installed declarations')
    assert.deepEqual(fromPackage.filter((f) => !/\/node_modules\/kubevisor\/dist\/.+\.d\.ts$/.test(f)), [], 'only declarations from dist/')
  })

  test('every block marked as a program runs against an embedded API server, importing dist/', { timeout: 6 * RUN_TIMEOUT_MS }, async () => {
    const programs = blocks.filter((b) => b.runs)
    assert.ok(programs.length > 0, 'the README marks runnable blocks')
    for (const b of programs) {
      const server = await sourceTesting.startApiServer()
      try {
        seedReadmePods(server)
        const kubeconfig = join(readmeDir, `kubeconfig-L${b.line}.yaml`)
        writeFileSync(kubeconfig, server.kubeConfigYaml())
        const env = { ...process.env, KUBECONFIG: kubeconfig, KUBEVISOR_LOG_LEVEL: 'warn', NODE_OPTIONS: '' }
        try {
          await run(process.execPath, [fileOf(b)], { cwd: consumer, env, timeout: RUN_TIMEOUT_MS })
        } catch (err) {
          const e = err as Error & { stdout?: string; stderr?: string }
          assert.fail(`the program at README.md:${b.line} failed from the installed package:\n${e.stdout ?? ''}${e.stderr ?? e.message}`)
        }
      } finally {
        await server.close()
      }
    }
  })
})

/** Resolves with the server URL the CLI prints (and its output so far), or rejects with its output if it exits first. */
function listening(child: ChildProcess): Promise<{ url: string; output: () => string }> {
  return new Promise((resolve, reject) => {
    let out = ''
    const output = () => out
    child.stdout!.on('data', (d: Buffer) => {
      out += d
      const m = /listening on (\S+)/.exec(out)
      if (m && out.includes('kubeconfig written')) resolve({ url: m[1]!, output })
    })
    child.stderr!.on('data', (d: Buffer) => (out += d))
    child.on('exit', (code) => reject(new Error(`kubevisor apiserver exited with ${code} before serving:\n${out}`)))
  })
}
