/**
 * The development launcher of the `kubevisor` command line: runs lib/cli.ts from the
 * TypeScript sources (`npm run apiserver -- ...`, or `node scripts/cli.ts <command>`).
 * The published launcher, bin/kubevisor.mjs, only ever runs the compiled dist/cli.js.
 */
import { main } from '../lib/cli.ts'

process.exitCode = await main(process.argv.slice(2))
