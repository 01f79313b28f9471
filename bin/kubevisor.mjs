#!/usr/bin/env node
// Launcher of the `kubevisor` command line. It runs the compiled dist/cli.js and nothing
// else: an installed package never runs TypeScript (Node refuses to strip types under
// node_modules, ERR_UNSUPPORTED_NODE_MODULES_TYPE_STRIPPING, issue #12). In a checkout of
// the repository, `npm run apiserver` runs lib/cli.ts through scripts/cli.ts instead, and
// `npm run build` produces dist/.
//
// Plain JavaScript on purpose: it must start on any Node so that it can say which Node it
// needs (package.json `engines`) instead of failing somewhere inside a dependency.
import { existsSync, readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

const manifest = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'))
const minimum = /^>=\s*(\d+)\.(\d+)(?:\.(\d+))?$/.exec(manifest.engines?.node ?? '')
if (minimum) {
  const want = minimum.slice(1).map((n) => Number(n ?? 0))
  const have = process.versions.node.split('.').map(Number)
  const older = want.findIndex((n, i) => have[i] !== n)
  if (older !== -1 && have[older] < want[older]) {
    process.stderr.write(`kubevisor: Node ${manifest.engines.node} is required, this is Node ${process.versions.node}\n`)
    process.exit(1)
  }
}

const dist = new URL('../dist/cli.js', import.meta.url)
if (!existsSync(fileURLToPath(dist))) {
  process.stderr.write(
    `kubevisor: ${fileURLToPath(dist)} is missing. In a checkout of the repository run ` +
      '`npm run build` first, or `npm run apiserver -- ...` to run the TypeScript sources.\n',
  )
  process.exit(1)
}
const cli = await import(dist.href)
process.exitCode = await cli.main(process.argv.slice(2))
