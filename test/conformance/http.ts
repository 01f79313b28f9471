/**
 * Raw HTTP for the conformance suite: exact status codes, bodies and watch lines, with the
 * credentials and TLS settings of a client-node `KubeConfig`. The same code talks to the
 * embedded server (plain HTTP) and to the real kube-apiserver (HTTPS + bearer token).
 */
import { type IncomingMessage, request as httpRequest, type RequestOptions } from 'node:http'
import { request as httpsRequest } from 'node:https'
import type { KubeConfig } from '@kubernetes/client-node'

/** A response with its status code and JSON body (undefined when the body is not JSON). */
export interface RawResponse {
  status: number
  body: any
  text: string
  /** Response headers (lower-case names). */
  headers: IncomingMessage['headers']
}

async function options(kc: KubeConfig, method: string): Promise<{ url: URL; opts: RequestOptions }> {
  const server = kc.getCurrentCluster()?.server
  if (!server) throw new Error('the kubeconfig has no current cluster')
  const url = new URL(server)
  const opts: RequestOptions = { method, headers: { accept: 'application/json' } }
  try {
    await kc.applyToHTTPSOptions(opts)
  } catch (err) {
    // client-node refuses to build an agent for plain http; headers are applied before that.
    if (!(url.protocol === 'http:' && err instanceof Error && /HTTP protocol is not allowed/.test(err.message))) throw err
  }
  delete (opts as { agent?: unknown }).agent
  return { url, opts }
}

function send(
  kc: KubeConfig,
  method: string,
  path: string,
  body: string | undefined,
  contentType: string,
  extraHeaders: Record<string, string> = {},
): Promise<IncomingMessage> {
  return options(kc, method).then(
    ({ url, opts }) =>
      new Promise<IncomingMessage>((resolve, reject) => {
        const target = new URL(path, url)
        Object.assign(opts.headers as Record<string, string>, extraHeaders)
        if (body !== undefined) {
          const headers = opts.headers as Record<string, string | number>
          headers['content-type'] = contentType
          // Node sends a DELETE body neither chunked nor sized unless told its length.
          headers['content-length'] = Buffer.byteLength(body)
        }
        const req = (target.protocol === 'https:' ? httpsRequest : httpRequest)(target, opts, resolve)
        req.on('error', reject)
        if (body !== undefined) req.write(body)
        req.end()
      }),
  )
}

/** One request; `body` is sent as JSON unless it is a string. */
export async function raw(
  kc: KubeConfig,
  method: string,
  path: string,
  body?: unknown,
  contentType = 'application/json',
  headers: Record<string, string> = {},
): Promise<RawResponse> {
  const payload = body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body)
  const res = await send(kc, method, path, payload, contentType, headers)
  let text = ''
  res.setEncoding('utf8')
  for await (const chunk of res) text += chunk
  let parsed: any
  try {
    parsed = JSON.parse(text)
  } catch {
    parsed = undefined
  }
  return { status: res.statusCode ?? 0, body: parsed, text, headers: res.headers }
}

/** Like {@link raw} but fails unless the status is 2xx; returns the body. */
export async function ok(kc: KubeConfig, method: string, path: string, body?: unknown, contentType?: string): Promise<any> {
  const res = await raw(kc, method, path, body, contentType)
  if (res.status < 200 || res.status > 299) throw new Error(`${method} ${path}: ${res.status} ${res.text}`)
  return res.body
}

/** One watch event as sent on the wire. */
export interface WatchEvent {
  type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR'
  object: any
}

/** An open watch: events arrive in `events`; wait for them with {@link RawWatch.until}. */
export interface RawWatch {
  status: number
  /** Every event so far, in stream order. */
  readonly events: WatchEvent[]
  /** Resolves with the events once `check(events)` holds; rejects after `timeoutMs`. */
  until(check: (events: WatchEvent[]) => boolean, timeoutMs?: number, what?: string): Promise<WatchEvent[]>
  /** Resolves when the server ends the stream (`'clean'`) or it breaks (`'error'`), or after `timeoutMs` with `'open'`. */
  ended(timeoutMs?: number): Promise<'clean' | 'error' | 'open'>
  /** The error body when the status is not 200. */
  errorBody: any
  close(): void
}

/** Opens a watch (the path must include `watch=1`); non-200 answers are returned with their body. `headers`: e.g. an `accept`. */
export async function openWatch(kc: KubeConfig, path: string, headers: Record<string, string> = {}): Promise<RawWatch> {
  const res = await send(kc, 'GET', path, undefined, '', headers)
  const events: WatchEvent[] = []
  const listeners = new Set<() => void>()
  let end: 'clean' | 'error' | undefined
  let buf = ''
  const notify = () => {
    for (const l of [...listeners]) l()
  }
  res.setEncoding('utf8')
  const status = res.statusCode ?? 0
  let errorText = ''
  res.on('data', (chunk: string) => {
    if (status !== 200) {
      errorText += chunk
      return
    }
    buf += chunk
    for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
      const line = buf.slice(0, i)
      buf = buf.slice(i + 1)
      if (line.trim() !== '') events.push(JSON.parse(line) as WatchEvent)
    }
    notify()
  })
  res.on('end', () => {
    end ??= 'clean'
    notify()
  })
  res.on('error', () => {
    end ??= 'error'
    notify()
  })
  res.on('close', () => {
    end ??= 'error'
    notify()
  })
  if (status !== 200) await new Promise<void>((resolve) => res.once('end', resolve).once('close', resolve))
  const wait = <T>(get: () => T | undefined, timeoutMs: number, onTimeout: () => T | Error): Promise<T> =>
    new Promise((resolve, reject) => {
      const check = () => {
        const value = get()
        if (value === undefined) return
        listeners.delete(check)
        clearTimeout(timer)
        resolve(value)
      }
      const timer = setTimeout(() => {
        listeners.delete(check)
        const fallback = onTimeout()
        if (fallback instanceof Error) reject(fallback)
        else resolve(fallback)
      }, timeoutMs)
      listeners.add(check)
      check()
    })
  let errorBody: any
  try {
    errorBody = errorText ? JSON.parse(errorText) : undefined
  } catch {
    errorBody = undefined
  }
  return {
    status,
    events,
    errorBody,
    until: async (check, timeoutMs = 10_000, what = 'watch events') => {
      const got = () => JSON.stringify(events.map(brief))
      const outcome = await wait(
        () => (check(events) ? 'ok' : end !== undefined ? 'ended' : undefined),
        timeoutMs,
        () => new Error(`timed out after ${timeoutMs} ms waiting for ${what}; got ${got()}`),
      )
      if (outcome === 'ended') throw new Error(`the watch ended (${end}) before ${what}; got ${got()}`)
      return events
    },
    ended: (timeoutMs = 10_000) => wait(() => end, timeoutMs, () => 'open' as const),
    close: () => res.destroy(),
  }
}

/** `TYPE name` for messages, or the whole object for BOOKMARK/ERROR. */
export function brief(e: WatchEvent): string {
  if (e.type === 'BOOKMARK' || e.type === 'ERROR') return `${e.type} ${JSON.stringify(e.object)}`
  return `${e.type} ${e.object?.metadata?.name}@${e.object?.metadata?.resourceVersion}`
}
