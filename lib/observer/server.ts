/**
 * The observer's HTTP server (node:http): the page, its vendored front-end library, a
 * Server-Sent Events feed of samples, the process detail, and — only when enabled — the
 * actions (kill a process, force a watcher to relist).
 *
 * Safety, by default: bound to 127.0.0.1; a token is required (and generated when not
 * given) when bound anywhere else; data endpoints check it (`Authorization: Bearer` or
 * `?token=`); on loopback without a token, the `Host` header must name the loopback
 * address (no DNS rebinding); actions need a JSON POST from the same origin (no
 * cross-site form posts). The page itself carries no data: it renders the feed.
 *
 * Cost: nothing until a client connects — samples are taken only while at least one feed
 * is open, once per interval, serialized once for all clients.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { fileURLToPath } from 'node:url'
import { formatProcessStatus, GenServer, inspectProcess, probesOf } from '../actor/index.ts'
import { KubevisorError } from '../errors.ts'
import { defaultLogger, type Logger } from '../log.ts'
import { type Clock, systemClock } from '../time/clock.ts'
import { forceRelist } from '../watcher/introspect.ts'
import type { ObserverLogs } from './logs.ts'
import { viewable } from './redact.ts'
import { type LeadershipSource, type ObserverRoot, type ObserverSample, Sampler } from './sample.ts'

/** Options of {@link startObserver}. */
export interface ObserverOptions {
  /** The trees to show: supervisors (or any process), `WatcherRef`s, `WorkerPool`s. More can be added with `addRoot`. */
  roots?: ObserverRoot[]
  /** Port to listen on; default 0 (a free port: read `url`). */
  port?: number
  /** Address to bind; default `127.0.0.1`. Anything but loopback requires a token (generated when not given). */
  host?: string
  /** Token for the data endpoints; default none on loopback, a random one elsewhere. */
  token?: string
  /** Allow killing processes and forcing relists from the page. Default false. */
  actions?: boolean
  /** Sampling interval of the feed in ms (default 1000, at least 100). */
  intervalMs?: number
  /** Leader election status: `() => mgr.status()` with the Manager, or any `() => LeadershipStatus`. */
  leadership?: () => LeadershipSource | undefined
  /** Where process log lines are kept (see {@link ObserverLogs}); without it the detail shows no logs. */
  logs?: ObserverLogs
  /** Clock of the processes (for uptimes and rates); default the system clock. */
  clock?: Clock
  /**
   * Where the observer logs (as a child with `observer: true`): listening, sampling and
   * request failures, and each kill or relist asked from the page. Default the shared
   * logger; under {@link observerChildSpec}, the supervisor's.
   */
  logger?: Logger
}

/** A running observer. */
export interface Observer {
  /** The page's address, with `?token=` when a token is required. */
  readonly url: string
  /** The address bound, as given in `host` (default `127.0.0.1`). */
  readonly host: string
  /** The port bound: the one asked for, or the free port chosen when `port` was 0. */
  readonly port: number
  /** Whether actions are enabled. */
  readonly actions: boolean
  /** Adds a tree to show. */
  addRoot(root: ObserverRoot): void
  /** Takes a sample now (what the feed sends). */
  sample(): ObserverSample
  /** Stops the server and closes every feed. */
  close(): Promise<void>
}

/** Bad observer options, or the port could not be bound (`ERR_OBSERVER`). */
export class ObserverError extends KubevisorError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_OBSERVER', message, options)
  }
}

const PAGE_DIR = new URL('./page/', import.meta.url)

interface Asset {
  type: string
  body: Buffer
}

const IMPORT_MAP = /<script type="importmap">([\s\S]*?)<\/script>/

/** The page and the vendored library, read once. */
function loadAssets(): { assets: Map<string, Asset>; csp: string } {
  const page = (file: string) => readFileSync(new URL(file, PAGE_DIR))
  const vendor = (specifier: string) => readFileSync(fileURLToPath(import.meta.resolve(specifier)))
  const html = page('index.html')
  const map = IMPORT_MAP.exec(html.toString('utf8'))
  if (!map) throw new ObserverError('observer page: index.html has no import map')
  const hash = createHash('sha256').update(map[1] as string).digest('base64')
  const js = 'text/javascript; charset=utf-8'
  const assets = new Map<string, Asset>([
    ['/', { type: 'text/html; charset=utf-8', body: html }],
    ['/app.js', { type: js, body: page('app.js') }],
    ['/style.css', { type: 'text/css; charset=utf-8', body: page('style.css') }],
    ['/vendor/preact.mjs', { type: js, body: vendor('preact') }],
    ['/vendor/hooks.mjs', { type: js, body: vendor('preact/hooks') }],
    ['/vendor/htm.mjs', { type: js, body: vendor('htm') }],
  ])
  const csp = `default-src 'none'; script-src 'self' 'sha256-${hash}'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'`
  return { assets, csp }
}

function isLoopback(host: string): boolean {
  return host === '127.0.0.1' || host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host)
}

function digest(text: string): Buffer {
  return createHash('sha256').update(text).digest()
}

/**
 * Starts the observer: a web page showing the process tree, the watchers, the queues and
 * controllers and leadership, live. Off unless you call this; served on 127.0.0.1.
 *
 * @example
 * ```ts
 * const sup = await Supervisor.start([...])
 * const observer = await startObserver({ roots: [sup], port: 4000 })
 * console.log(`observer: ${observer.url}`)
 * // later
 * await observer.close()
 * ```
 */
export async function startObserver(options: ObserverOptions = {}): Promise<Observer> {
  const host = options.host ?? '127.0.0.1'
  const port = options.port ?? 0
  if (!(Number.isInteger(port) && port >= 0 && port <= 65535)) throw new ObserverError(`port must be an integer in [0, 65535], got ${String(port)}`)
  const intervalMs = options.intervalMs ?? 1000
  if (!(Number.isFinite(intervalMs) && intervalMs >= 100)) throw new ObserverError(`intervalMs must be a number >= 100, got ${String(intervalMs)}`)
  if (options.token !== undefined && (typeof options.token !== 'string' || options.token.length < 16)) throw new ObserverError('token must be a string of at least 16 characters')
  const token = options.token ?? (isLoopback(host) ? undefined : randomBytes(24).toString('base64url'))
  const tokenDigest = token === undefined ? undefined : digest(token)
  const actions = options.actions === true
  const roots: ObserverRoot[] = [...(options.roots ?? [])]
  const log = (options.logger ?? defaultLogger()).child({ observer: true })
  const sampler = new Sampler(options.clock ?? systemClock)
  const { assets, csp } = loadAssets()
  const feeds = new Set<ServerResponse>()
  let timer: NodeJS.Timeout | undefined
  let boundPort = port

  const takeSample = () => sampler.sample(roots, options.leadership)

  const broadcast = () => {
    if (feeds.size === 0) return
    let data: string
    try {
      data = `event: sample\ndata: ${JSON.stringify({ ...takeSample(), actions, intervalMs })}\n\n`
    } catch (err) {
      log.error({ err }, 'observer: sampling failed')
      return
    }
    for (const res of feeds) res.write(data)
  }

  const authorized = (req: IncomingMessage, url: URL): boolean => {
    if (!tokenDigest) return true
    const header = req.headers.authorization
    const given = header?.startsWith('Bearer ') ? header.slice(7) : url.searchParams.get('token')
    return given !== null && given !== undefined && timingSafeEqual(digest(given), tokenDigest)
  }

  const hostAllowed = (req: IncomingMessage): boolean => {
    if (tokenDigest) return true
    const h = req.headers.host ?? ''
    return h === `127.0.0.1:${boundPort}` || h === `localhost:${boundPort}` || h === `[::1]:${boundPort}` || (isLoopback(host) && h === `${host}:${boundPort}`)
  }

  const send = (res: ServerResponse, status: number, body: unknown) => {
    res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store', 'x-content-type-options': 'nosniff' })
    res.end(JSON.stringify(body))
  }

  const detail = (id: number) => {
    const pid = sampler.pid(id)
    if (!pid) return undefined
    const p = inspectProcess(pid)
    const named = (ids: number[]) => ids.map((i) => ({ id: i, name: sampler.pid(i)?.name }))
    return {
      id: p.id,
      name: p.name,
      behaviour: p.behaviour,
      status: p.status,
      mailbox: p.mailbox,
      handled: p.handled,
      trapExit: p.trapExit,
      parent: p.parent,
      links: named(p.links),
      monitors: named(p.monitors),
      monitoredBy: named(p.monitoredBy),
      exitReason: viewable(p.exitReason),
      roles: probesOf(pid).map((probe) => probe.kind),
      state: viewable(formatProcessStatus(pid)),
      logs: options.logs ? options.logs.linesOf(p.id) : null,
    }
  }

  const act = (req: IncomingMessage, res: ServerResponse, path: string) => {
    if (!actions) return send(res, 403, { error: 'actions are disabled: start the observer with { actions: true }' })
    const origin = req.headers.origin
    if (origin !== undefined && origin !== `http://${req.headers.host}`) return send(res, 403, { error: 'cross-origin action refused' })
    if (!(req.headers['content-type'] ?? '').startsWith('application/json')) return send(res, 415, { error: 'actions are JSON POSTs' })
    const kill = /^\/api\/process\/(\d+)\/kill$/.exec(path)
    const relist = /^\/api\/watcher\/(\d+)\/relist$/.exec(path)
    const id = Number((kill ?? relist)?.[1])
    const pid = sampler.pid(id)
    if (!pid || !(kill || relist)) return send(res, 404, { error: `no process #${id} in the last sample` })
    if (kill) {
      log.warn({ target: String(pid) }, 'observer: killing a process on request')
      GenServer.exit(pid, 'kill')
      return send(res, 200, { killed: id })
    }
    if (!forceRelist(pid)) return send(res, 404, { error: `#${id} is not a watcher` })
    log.info({ target: String(pid) }, 'observer: forcing a relist on request')
    return send(res, 200, { relisting: id })
  }

  const handle = (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://observer')
    const path = url.pathname
    if (!hostAllowed(req)) return send(res, 403, { error: 'unexpected Host header' })
    if (req.method === 'GET' || req.method === 'HEAD') {
      if (path === '/favicon.ico') {
        res.writeHead(204)
        res.end()
        return
      }
      const asset = assets.get(path === '/index.html' ? '/' : path)
      if (asset) {
        res.writeHead(200, {
          'content-type': asset.type,
          'cache-control': 'no-cache',
          'x-content-type-options': 'nosniff',
          'referrer-policy': 'no-referrer',
          ...(path === '/' || path === '/index.html' ? { 'content-security-policy': csp, 'x-frame-options': 'DENY' } : {}),
        })
        res.end(req.method === 'HEAD' ? undefined : asset.body)
        return
      }
    }
    if (!authorized(req, url)) return send(res, 401, { error: 'a token is required: Authorization: Bearer <token> or ?token=' })
    if (req.method === 'GET' && path === '/feed') {
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store', connection: 'keep-alive', 'x-content-type-options': 'nosniff' })
      res.write(`retry: 1000\n\n`)
      feeds.add(res)
      req.on('close', () => {
        feeds.delete(res)
        if (feeds.size === 0 && timer) {
          clearInterval(timer)
          timer = undefined
        }
      })
      timer ??= setInterval(broadcast, intervalMs)
      // The first sample at once, so the page renders without waiting a whole interval.
      res.write(`event: sample\ndata: ${JSON.stringify({ ...takeSample(), actions, intervalMs })}\n\n`)
      return
    }
    if (req.method === 'GET' && path === '/api/sample') return send(res, 200, { ...takeSample(), actions, intervalMs })
    const proc = /^\/api\/process\/(\d+)$/.exec(path)
    if (req.method === 'GET' && proc) {
      const d = detail(Number(proc[1]))
      return d ? send(res, 200, d) : send(res, 404, { error: `no process #${proc[1]} in the last sample` })
    }
    if (req.method === 'POST') {
      req.resume()
      return act(req, res, path)
    }
    return send(res, 404, { error: 'not found' })
  }

  const server: Server = createServer((req, res) => {
    try {
      handle(req, res)
    } catch (err) {
      log.error({ err }, 'observer: request failed')
      if (!res.headersSent) send(res, 500, { error: 'internal error' })
      else res.end()
    }
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err) => reject(new ObserverError(`observer could not listen on ${host}:${port}: ${err.message}`, { cause: err })))
    server.listen(port, host, () => resolve())
  })
  boundPort = (server.address() as AddressInfo).port
  const shownHost = host.includes(':') ? `[${host}]` : host === '0.0.0.0' ? '127.0.0.1' : host
  const url = `http://${shownHost}:${boundPort}/${token ? `?token=${encodeURIComponent(token)}` : ''}`
  log.info({ host, port: boundPort, actions, tokenRequired: token !== undefined }, 'observer listening')

  return {
    url,
    host,
    port: boundPort,
    actions,
    addRoot: (root) => {
      roots.push(root)
    },
    sample: takeSample,
    close: () =>
      new Promise<void>((resolve) => {
        if (timer) clearInterval(timer)
        timer = undefined
        for (const res of feeds) res.end()
        feeds.clear()
        server.close(() => resolve())
        server.closeAllConnections()
      }),
  }
}
