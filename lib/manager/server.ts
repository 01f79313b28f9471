/**
 * The Manager's HTTP servers: health probes (`/healthz`, `/readyz`) and metrics
 * (`/metrics`), each on its own bind address as controller-runtime's
 * `--health-probe-bind-address` and `--metrics-bind-address`.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { KubevisorError } from '../errors.ts'
import { type Checker, serveHealth } from './healthz.ts'

/** A bind address that cannot be parsed (`ERR_INVALID_BIND_ADDRESS`). */
export class InvalidBindAddressError extends KubevisorError {
  constructor(message: string) {
    super('ERR_INVALID_BIND_ADDRESS', message)
  }
}

/**
 * Parses a Go-style bind address: `"0"` (or `""`) disables the server; `":8080"` listens on
 * every interface; `"127.0.0.1:8080"`, `"[::1]:8080"` on one; port 0 picks a free port.
 */
export function parseBindAddress(address: string | undefined): { host: string | undefined; port: number } | undefined {
  if (address === undefined || address === '' || address === '0') return undefined
  const m = /^(?:\[([^\]]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(address)
  const port = m ? Number(m[3]) : Number.NaN
  if (!m || !(port >= 0 && port <= 65535)) throw new InvalidBindAddressError(`bind address must be "host:port", ":port" or "0" (disabled), got ${JSON.stringify(address)}`)
  const host = m[1] ?? m[2]
  return { host: host === '' ? undefined : host, port }
}

/** The routes one server answers. */
export interface Routes {
  healthz?: ReadonlyMap<string, Checker>
  readyz?: ReadonlyMap<string, Checker>
  /** Renders `/metrics`: the exposition text and its content type. */
  metrics?: () => Promise<{ contentType: string; body: string }>
}

/** A listening server and the address it got (the real port when 0 was asked). */
export interface Listening {
  server: Server
  address: string
  close(): Promise<void>
}

function send(res: ServerResponse, status: number, body: string, contentType = 'text/plain; charset=utf-8'): void {
  res.writeHead(status, { 'Content-Type': contentType, 'X-Content-Type-Options': 'nosniff', 'Content-Length': Buffer.byteLength(body) })
  res.end(body)
}

async function handle(routes: Routes, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://localhost')
  if (req.method !== 'GET' && req.method !== 'HEAD') return send(res, 405, 'method not allowed\n')
  const path = url.pathname
  for (const kind of ['healthz', 'readyz'] as const) {
    const checks = routes[kind]
    if (!checks) continue
    if (path === `/${kind}` || path.startsWith(`/${kind}/`)) {
      const answer = await serveHealth(kind, checks, path.slice(kind.length + 1), url.searchParams)
      return send(res, answer.status, answer.body)
    }
  }
  if (routes.metrics && path === '/metrics') {
    const { contentType, body } = await routes.metrics()
    return send(res, 200, body, contentType)
  }
  send(res, 404, '404 page not found\n')
}

/** Starts a server for `routes` on `bind`; rejects if the address is taken. */
export async function listen(bind: { host: string | undefined; port: number }, routes: Routes): Promise<Listening> {
  const server = createServer((req, res) => {
    handle(routes, req, res).catch((err: unknown) => {
      if (!res.headersSent) send(res, 500, `internal server error: ${(err as Error)?.message ?? String(err)}\n`)
      else res.destroy()
    })
  })
  // Probes and scrapes are short; do not let an idle keep-alive socket hold shutdown up.
  server.keepAliveTimeout = 5_000
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(bind.port, bind.host, () => {
      server.off('error', reject)
      resolve()
    })
  })
  const info = server.address() as AddressInfo
  const host = info.family === 'IPv6' ? `[${info.address}]` : info.address
  return {
    server,
    address: `${host}:${info.port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve())
        server.closeAllConnections()
      }),
  }
}
