// Runs TypeDoc (the API reference, `npm run docs` / `npm run docs:check`) on TypeScript 6.
//
// Why this wrapper: the project compiles with TypeScript 7 (`typescript` ^7, the Go-native
// compiler), whose npm package has no JavaScript compiler API — its main export is only a
// version stub. TypeDoc needs that API (typedoc 0.28 supports TypeScript 5.0–6.0), so
// TypeScript 6 is installed beside it under the alias `typescript-6`
// (`npm:typescript@^6.0.3`), and this script makes every `import … from 'typescript'`
// inside the TypeDoc run resolve to it, with a module resolve hook (`module.registerHooks`,
// Node >= 22.15). package.json's `overrides` lets typedoc's peer dependency on
// `typescript` be satisfied by the root's TypeScript 7 at install time, so `npm ci` needs
// no `--legacy-peer-deps`; the hook is what TypeDoc actually runs on. Drop both once a
// TypeDoc release supports TypeScript 7.
//
// Arguments are TypeDoc's (configuration: typedoc.json).
import { createRequire, registerHooks } from 'node:module'
import { dirname, join } from 'node:path'
import { pathToFileURL } from 'node:url'

registerHooks({
  resolve(specifier, context, nextResolve) {
    return nextResolve(specifier === 'typescript' ? 'typescript-6' : specifier, context)
  },
})
const require = createRequire(import.meta.url)
const t0 = performance.now()
process.on('exit', (code) => {
  process.stderr.write(`typedoc: ${code === 0 ? 'ok' : `failed (exit ${code})`} in ${((performance.now() - t0) / 1000).toFixed(1)} s\n`)
})
// TypeDoc's own command line (not in its package exports, so by path).
await import(pathToFileURL(join(dirname(require.resolve('typedoc/package.json')), 'dist', 'cli.js')).href)
