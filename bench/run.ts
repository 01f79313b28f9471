// Runs every benchmark script in bench/, each in its own Node process (so one benchmark's
// heap does not skew another's), and prints their tables.
//
//   ./dev npm run bench            # all
//   ./dev npm run bench -- actor   # those whose file name contains "actor"
//   ./dev npm run bench -- --million   # also bench/million.ts (1M objects: ~10 min, ~6 GB; or `npm run bench:million`)
import { spawnSync } from 'node:child_process'
import { readdirSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { machine } from './support.ts'

const dir = fileURLToPath(new URL('.', import.meta.url))
const million = process.argv.includes('--million')
const filters = process.argv.slice(2).filter((a) => a !== '--million')
const skip = new Set(['run.ts', 'support.ts', 'controller-kubevisor.ts', ...(million ? [] : ['million.ts'])])
const files = readdirSync(dir)
  .filter((f) => f.endsWith('.ts') && !skip.has(f))
  .filter((f) => filters.length === 0 || filters.some((x) => f.includes(x)))
  .sort()

console.log(`# kubevisor benchmarks\n\n${machine()}\n`)
let failed = 0
for (const file of files) {
  const t0 = performance.now()
  const heap = file === 'million.ts' ? ['--max-old-space-size=6144'] : []
  const result = spawnSync(process.execPath, ['--conditions=source', '--expose-gc', ...heap, `${dir}${file}`], { stdio: 'inherit' })
  console.log(`\n(${file}: ${((performance.now() - t0) / 1000).toFixed(1)} s${result.status === 0 ? '' : `, exit ${result.status}`})\n`)
  if (result.status !== 0) failed++
}
process.exit(failed === 0 ? 0 : 1)
