/**
 * The README's ```ts blocks, for the tests that check them: test/readme/readme.test.ts (against
 * the sources, through the package's exports) and test/package/package.test.ts (against the
 * packed tarball installed in an empty project).
 */
import type { ApiServer } from '../../lib/testing/index.ts'

/** The line before a block that makes it a complete program, run by the tests. */
export const RUN_MARKER = '<!-- readme: runs -->'
/** An opening fence of TypeScript: ```ts or ```typescript, also indented (inside a list). */
export const TS_FENCE = /^\s*```(?:ts|typescript)\s*$/
const CLOSING_FENCE = /^\s*```\s*$/

/** One ```ts block of the README: `line` is the 1-based line of its opening fence. */
export interface ReadmeBlock {
  line: number
  code: string
  runs: boolean
}

/** Every ```ts block of `markdown`, in order, with the line of its fence and its run marker. */
export function tsBlocks(markdown: string): ReadmeBlock[] {
  const lines = markdown.split('\n')
  const blocks: ReadmeBlock[] = []
  for (let i = 0; i < lines.length; i++) {
    if (!TS_FENCE.test(lines[i] ?? '')) continue
    const start = i
    const body: string[] = []
    for (i++; i < lines.length && !CLOSING_FENCE.test(lines[i] ?? ''); i++) body.push(lines[i] ?? '')
    if (i >= lines.length) throw new Error(`README.md:${start + 1}: a \`\`\`ts block is never closed`)
    blocks.push({ line: start + 1, code: body.join('\n'), runs: (lines[start - 1] ?? '').trim() === RUN_MARKER })
  }
  return blocks
}

/** Milliseconds a README program may run. */
export const RUN_TIMEOUT_MS = 60_000

/**
 * What a runnable README block finds in its cluster: pods web-0 and web-1 Running and
 * worker-0 Pending in `default`.
 */
export function seedReadmePods(server: ApiServer): void {
  for (const [phase, name] of [['Running', 'web-0'], ['Running', 'web-1'], ['Pending', 'worker-0']] as const) {
    server.create({ apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: 'default' }, spec: { containers: [{ name: 'c', image: 'busybox' }] } })
    const pod = server.get({ apiVersion: 'v1', kind: 'Pod', name, namespace: 'default' })
    server.updateStatus({ ...pod, status: { phase } } as never)
  }
}
