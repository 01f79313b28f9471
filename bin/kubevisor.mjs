#!/usr/bin/env node
// Launcher of the `kubevisor` command line (lib/cli.ts). Uses the built dist/cli.js when
// it exists and is not older than the source; otherwise runs lib/cli.ts directly through
// Node's type stripping (Node >= 22.18), which is what a checkout of the repository has.
import { existsSync, statSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

const dist = new URL('../dist/cli.js', import.meta.url)
const source = new URL('../lib/cli.ts', import.meta.url)
const mtime = (url) => statSync(fileURLToPath(url)).mtimeMs
const useDist = existsSync(fileURLToPath(dist)) && (!existsSync(fileURLToPath(source)) || mtime(dist) >= mtime(source))
const cli = await import(useDist ? dist.href : source.href)
process.exitCode = await cli.main(process.argv.slice(2))
