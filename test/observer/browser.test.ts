// The observer as a person uses it: headless Chromium (Debian's `chromium`, driven by
// playwright-core) opens the page of the running demo (`npm start`, the real script), finds
// the watchers and their phases, kills a watcher's connection process from the page and
// sees it restarted with its restart count incremented, injects a 410 on the demo's embedded
// API server and sees the relist counter move, checks the page fits 1280×800 without
// scrolling sideways, and saves a screenshot as a test artifact.
//
// Chromium missing: fails when CI is set (.ci/run installs it), skips with a message
// otherwise. Screenshot: test-artifacts/observer.png; with KUBEVISOR_UPDATE_SCREENSHOT=1 it
// also replaces docs/observer.png (the README's figure).
import assert from 'node:assert/strict'
import { type ChildProcess, spawn } from 'node:child_process'
import { copyFileSync, existsSync, mkdirSync } from 'node:fs'
import { after, before, describe, test } from 'node:test'
import { fileURLToPath } from 'node:url'

// Code inside page.evaluate / waitForFunction runs in the browser, where `document` exists.
declare const document: any

const ROOT = fileURLToPath(new URL('../../', import.meta.url))
const CHROMIUM = process.env.KUBEVISOR_CHROMIUM ?? ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((p) => existsSync(p))
const ARTIFACTS = `${ROOT}test-artifacts`
const skip = CHROMIUM === undefined && !process.env.CI ? 'chromium is not installed (apt-get install chromium); .ci/run installs it and CI never skips this' : false

describe('observer page in a browser (headless Chromium)', { skip }, () => {
  let demo: ChildProcess
  let url = ''
  let output = ''
  let browser: any
  let page: any

  before(async () => {
    assert.ok(CHROMIUM, 'chromium is required in CI: .ci/run installs Debian\'s chromium package')
    demo = spawn(process.execPath, ['--conditions=source', 'examples/demo.ts', '--seconds', '120', '--calm', '--observer-port', '0', '--observer-actions'], {
      cwd: ROOT,
      env: { ...process.env, KUBEVISOR_LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    demo.stdout?.on('data', (chunk) => {
      output += String(chunk)
    })
    demo.stderr?.on('data', (chunk) => {
      output += String(chunk)
    })
    const deadline = Date.now() + 30_000
    while (!url) {
      const found = /observer at (http:\/\/127\.0\.0\.1:\d+\/)/.exec(output)
      if (found) url = found[1] as string
      else if (Date.now() > deadline || demo.exitCode !== null) throw new Error(`the demo did not print its observer URL:\n${output}`)
      else await new Promise((r) => setTimeout(r, 100))
    }
    const { chromium } = await import('playwright-core')
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] })
    page = await browser.newPage({ viewport: { width: 1280, height: 800 } })
  })

  after(async () => {
    await browser?.close()
    if (demo && demo.exitCode === null) {
      const exited = new Promise((resolve) => demo.once('exit', resolve))
      demo.kill('SIGTERM')
      await exited
    }
  })

  /** The watcher row's numeric cell `field`. */
  const cell = async (watcher: string, field: string): Promise<number> => Number(await page.locator(`tr[data-watcher="${watcher}"] [data-field="${field}"]`).textContent())

  test('finds the tree, the watchers with their engine phase, and the queue', async () => {
    await page.goto(url)
    await page.locator('[data-connection="live"]').waitFor({ timeout: 15_000 })
    for (const name of ['namespaces', 'pods', 'configmaps', 'deployments']) {
      const row = page.locator(`tr[data-watcher="${name}"]`)
      await row.waitFor({ timeout: 10_000 })
    }
    // Every watcher reaches Watching once the initial lists are in.
    await page.waitForFunction(
      () => {
        const rows = [...document.querySelectorAll('tr[data-watcher]')] as { getAttribute(name: string): string | null }[]
        return rows.length >= 4 && rows.every((r) => r.getAttribute('data-phase') === 'Watching')
      },
      undefined,
      { timeout: 20_000 },
    )
    assert.equal(await page.locator('tr[data-watcher="pods"]').getAttribute('data-phase'), 'Watching')
    assert.ok((await page.locator('[data-section="tree"] tbody tr').count()) >= 20, 'the tree shows the demo processes')
    await page.locator('tr[data-queue="deployment-rollouts"]').waitFor({ timeout: 10_000 })
  })

  test("kills a watcher's connection process from the page and sees it restarted, its restart count incremented", async () => {
    const row = page.locator('tr[data-watcher="pods"]')
    const before = Number(await row.locator('[data-field="restarts"]').getAttribute('data-connection-restarts'))
    await row.locator('button[data-action="kill-connection"]').click()
    await page.waitForFunction(
      (was: number) => Number(document.querySelector('tr[data-watcher="pods"] [data-field="restarts"]')?.getAttribute('data-connection-restarts')) === was + 1,
      before,
      { timeout: 20_000 },
    )
    await page.waitForFunction(() => document.querySelector('tr[data-watcher="pods"]')?.getAttribute('data-phase') === 'Watching', undefined, { timeout: 20_000 })
  })

  test('a 410 injected on the embedded API server moves the relist counter', async () => {
    const before = await cell('configmaps', 'relists')
    const goneBefore = await cell('configmaps', 'gone')
    demo.kill('SIGUSR2') // the demo injects a 410 Gone ERROR event into every open watch
    await page.waitForFunction(
      (was: number) => Number(document.querySelector('tr[data-watcher="configmaps"] [data-field="relists"]')?.textContent) > was,
      before,
      { timeout: 20_000 },
    )
    assert.ok((await cell('configmaps', 'gone')) > goneBefore, 'the 410 is counted too')
  })

  test('the detail of a process shows its state through formatStatus, its links and log lines', async () => {
    await page.locator('tr[data-watcher="pods"] td.name button').click()
    const drawer = page.locator('[data-section="detail"]')
    await drawer.waitFor({ timeout: 5_000 })
    await drawer.locator('pre.state').waitFor({ timeout: 5_000 })
    assert.match(await drawer.textContent(), /Watcher supervisor|Supervisor/)
    assert.match(await drawer.textContent(), /Links/)
    await drawer.locator('button.close').click()
  })

  test('is readable at 1280×800: tree, watchers and queues in view, nothing scrolls sideways; saves the screenshot', async () => {
    await page.waitForTimeout(1500) // a couple of samples with rates
    // The artifact first, so a failing layout can be looked at.
    mkdirSync(ARTIFACTS, { recursive: true })
    await page.screenshot({ path: `${ARTIFACTS}/observer.png` })
    const layout = await page.evaluate(() => {
      const box = (sel: string) => {
        const r = document.querySelector(sel)?.getBoundingClientRect()
        return r ? { top: r.top, left: r.left, right: r.right, bottom: r.bottom } : undefined
      }
      const panels = ([...document.querySelectorAll('.panel')] as { scrollWidth: number; clientWidth: number }[]).map((p) => ({ scroll: p.scrollWidth, client: p.clientWidth, section: (p as unknown as { querySelector(s: string): { getAttribute(n: string): string } | null }).querySelector('[data-section]')?.getAttribute('data-section') }))
      return { width: document.documentElement.scrollWidth, tree: box('[data-section="tree"]'), watchers: box('[data-section="watchers"]'), queues: box('[data-section="queues"]'), panels }
    })
    assert.ok(layout.width <= 1280, `the page is ${layout.width} px wide`)
    for (const p of layout.panels) assert.ok(p.scroll <= p.client + 1, `the ${p.section} panel scrolls sideways (${p.scroll} > ${p.client})`)
    for (const section of ['tree', 'watchers', 'queues'] as const) {
      const b = layout[section]
      assert.ok(b, `${section} is on the page`)
      assert.ok(b.top < 800 && b.right <= 1280 && b.left >= 0, `${section} is in view: ${JSON.stringify(b)}`)
    }
    if (process.env.KUBEVISOR_UPDATE_SCREENSHOT === '1') copyFileSync(`${ARTIFACTS}/observer.png`, `${ROOT}docs/observer.png`)
  })
})
