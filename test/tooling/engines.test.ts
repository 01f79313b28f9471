/**
 * One minimum Node version, and a true one (issue #12, item 3): package.json `engines` is
 * never below what a production dependency declares (client-node's undici needs 22.19),
 * and the README's Quick start states the same minimum. `./dev` reads `engines` itself
 * (test/tooling/dev.test.ts); test/package runs the installed package on exactly that
 * minimum Node.
 */
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { describe, test } from 'node:test'
import semver from 'semver'

const read = (path: string) => readFileSync(new URL(`../../${path}`, import.meta.url), 'utf8')
const manifest = JSON.parse(read('package.json'))
const lock = JSON.parse(read('package-lock.json'))
const minimum = semver.minVersion(manifest.engines.node)!

describe('the minimum Node version', () => {
  test('engines.node is a plain lower bound that is at least every production dependency’s', () => {
    assert.match(manifest.engines.node, /^>=\d+\.\d+(\.\d+)?$/, './dev and bin/kubevisor.mjs read this form')
    const needs = Object.entries(lock.packages as Record<string, { dev?: boolean; engines?: { node?: string } }>)
      .filter(([path, p]) => path !== '' && !p.dev && p.engines?.node && semver.validRange(p.engines.node))
      .map(([path, p]) => ({ path, min: semver.minVersion(p.engines!.node!)! }))
    assert.ok(needs.some((n) => n.path === 'node_modules/undici'), 'undici (through @kubernetes/client-node) is among them')
    const highest = needs.reduce((a, b) => (semver.gt(b.min, a.min) ? b : a))
    assert.ok(semver.gte(minimum, highest.min), `engines ${manifest.engines.node} is below ${highest.path}'s ${highest.min}`)
  })

  test('the lockfile records the same engines as package.json', () => {
    assert.deepEqual(lock.packages[''].engines, manifest.engines)
  })

  test('the README Quick start states that minimum', () => {
    const readme = read('README.md')
    const quickStart = readme.slice(readme.indexOf('## Quick start'), readme.indexOf('\n## ', readme.indexOf('## Quick start') + 1))
    const stated = [...quickStart.matchAll(/Node (?:≥|>=) ?(\d+(?:\.\d+)*)|older than (\d+(?:\.\d+)*)/g)].map((m) => m[1] ?? m[2])
    assert.ok(stated.length > 0, 'the Quick start names a minimum Node')
    for (const version of stated) assert.equal(version, `${minimum.major}.${minimum.minor}`, `Quick start says Node ${version}`)
  })
})
