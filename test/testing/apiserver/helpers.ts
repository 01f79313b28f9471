/** Raw HTTP helpers for the embedded API server tests (what any client sends on the wire). */
import type { ApiServer } from '../../../lib/testing/index.ts'

export interface RawResponse {
  status: number
  headers: Headers
  body: any
  text: string
}

/** One request with a JSON body (or raw string), parsed JSON response. */
export async function request(
  server: ApiServer,
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<RawResponse> {
  const init: RequestInit = { method, headers: { ...headers } }
  if (body !== undefined) {
    init.body = typeof body === 'string' ? body : JSON.stringify(body)
    ;(init.headers as Record<string, string>)['content-type'] ??= 'application/json'
  }
  const res = await fetch(server.url + path, init)
  const text = await res.text()
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch {
    parsed = undefined
  }
  return { status: res.status, headers: res.headers, body: parsed, text }
}

/** An open raw watch: read parsed events one by one; `lines` keeps the raw lines. */
export interface RawWatch {
  status: number
  next(): Promise<any | undefined>
  /** Reads `n` events. */
  take(n: number): Promise<any[]>
  /** Resolves when the server ends the stream (`clean`) or the connection breaks. */
  ended(): Promise<'clean' | 'error'>
  lines: string[]
  close(): void
}

/** Opens `path` (which must include `watch=1`) and exposes its lines. */
export async function openWatch(server: ApiServer, path: string, headers: Record<string, string> = {}): Promise<RawWatch> {
  const ac = new AbortController()
  const res = await fetch(server.url + path, { headers, signal: ac.signal })
  const reader = res.body!.getReader()
  const decoder = new TextDecoder()
  let buf = ''
  const lines: string[] = []
  let end: 'clean' | 'error' | undefined
  const queue: string[] = []
  const readLine = async (): Promise<string | undefined> => {
    for (;;) {
      if (queue.length) return queue.shift()
      if (end) return undefined
      let chunk: Awaited<ReturnType<typeof reader.read>>
      try {
        chunk = await reader.read()
      } catch {
        end = 'error'
        return undefined
      }
      if (chunk.done) {
        end = 'clean'
        return undefined
      }
      buf += decoder.decode(chunk.value, { stream: true })
      let i = buf.indexOf('\n')
      while (i >= 0) {
        const line = buf.slice(0, i)
        buf = buf.slice(i + 1)
        lines.push(line)
        queue.push(line)
        i = buf.indexOf('\n')
      }
    }
  }
  const w: RawWatch = {
    status: res.status,
    lines,
    async next() {
      const line = await readLine()
      if (line === undefined) return undefined
      try {
        return JSON.parse(line)
      } catch {
        return { malformed: line }
      }
    },
    async take(n) {
      const out = []
      for (let i = 0; i < n; i++) {
        const ev = await w.next()
        if (ev === undefined) break
        out.push(ev)
      }
      return out
    },
    async ended() {
      while ((await readLine()) !== undefined) {
        // drain
      }
      return end!
    },
    close() {
      ac.abort()
    },
  }
  return w
}

/** A ConfigMap body. */
export function configMap(name: string, labels: Record<string, string> = {}, data: Record<string, string> = {}) {
  return { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace: 'default', labels }, data }
}

/** A minimal valid Pod body. */
export function pod(name: string, extra: { labels?: Record<string, string>; nodeName?: string; namespace?: string } = {}) {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: extra.namespace ?? 'default', labels: extra.labels ?? {} },
    spec: { containers: [{ name: 'app', image: 'busybox' }], ...(extra.nodeName ? { nodeName: extra.nodeName } : {}) },
  }
}

/** A namespaced CRD `widgets.example.com` (or cluster-scoped `gadgets.example.com`). */
export function crd(scope: 'Namespaced' | 'Cluster' = 'Namespaced') {
  const [plural, kind] = scope === 'Namespaced' ? ['widgets', 'Widget'] : ['gadgets', 'Gadget']
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `${plural}.example.com` },
    spec: {
      group: 'example.com',
      scope,
      names: { plural, singular: kind.toLowerCase(), kind, listKind: `${kind}List` },
      versions: [
        {
          name: 'v1',
          served: true,
          storage: true,
          subresources: { status: {} },
          schema: { openAPIV3Schema: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } },
        },
      ],
    },
  }
}
