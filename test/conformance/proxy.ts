/**
 * A TCP proxy on 127.0.0.1 in front of an API server, so a scenario can break a client's
 * connections the same way on both servers (the embedded server's fault injection is
 * in-process and the real one has none): `pause()` destroys every open connection (the
 * client sees a network error mid-stream) and holds new ones, unanswered, until `resume()`
 * forwards them. Bytes pass through untouched, so TLS to the real server still verifies.
 */
import { createServer, type Server, type Socket, connect } from 'node:net'
import { KubeConfig } from '@kubernetes/client-node'

export interface TcpProxy {
  /** A copy of the kubeconfig whose server is the proxy. */
  kubeConfig: KubeConfig
  /** Destroys open connections and holds new ones until {@link TcpProxy.resume}. */
  pause(): void
  /** Forwards the held connections and every new one. */
  resume(): void
  /** Connections held now (clients waiting on a paused proxy). */
  readonly held: number
  close(): Promise<void>
}

/** Starts a proxy to the server of `kc` and returns a kubeconfig that goes through it. */
export async function startTcpProxy(kc: KubeConfig): Promise<TcpProxy> {
  const cluster = kc.getCurrentCluster()
  if (!cluster) throw new Error('the kubeconfig has no current cluster')
  const upstream = new URL(cluster.server)
  const upstreamPort = Number(upstream.port || (upstream.protocol === 'https:' ? 443 : 80))
  const open = new Set<Socket>()
  /** Connections accepted while paused: their bytes wait in `buffered` until `resume()`. */
  let held: { client: Socket; buffered: Buffer[]; onData: (chunk: Buffer) => void }[] = []
  let paused = false

  const forward = (client: Socket, buffered: Buffer[]) => {
    const server = connect(upstreamPort, upstream.hostname)
    open.add(client)
    open.add(server)
    for (const chunk of buffered) server.write(chunk)
    client.pipe(server)
    server.pipe(client)
    const done = () => {
      client.destroy()
      server.destroy()
      open.delete(client)
      open.delete(server)
    }
    client.on('close', done).on('error', done)
    server.on('close', done).on('error', done)
  }

  const proxy: Server = createServer((client) => {
    if (!paused) {
      forward(client, [])
      return
    }
    const buffered: Buffer[] = []
    const entry = { client, buffered, onData: (chunk: Buffer) => void buffered.push(chunk) }
    client.on('data', entry.onData)
    client.on('close', () => {
      held = held.filter((h) => h !== entry)
    })
    client.on('error', () => {})
    held.push(entry)
  })
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve))
  const port = (proxy.address() as { port: number }).port

  const proxied = new URL(cluster.server)
  proxied.port = String(port)
  const kubeConfig = new KubeConfig()
  kubeConfig.loadFromOptions({
    clusters: kc.clusters.map((c) => (c.name === cluster.name ? { ...c, server: proxied.origin } : c)),
    users: kc.users,
    contexts: kc.contexts,
    currentContext: kc.getCurrentContext(),
  })

  return {
    kubeConfig,
    pause() {
      paused = true
      for (const s of [...open]) s.destroy()
    },
    resume() {
      paused = false
      const waiting = held
      held = []
      for (const { client, buffered, onData } of waiting) {
        client.off('data', onData)
        if (!client.destroyed) forward(client, buffered)
      }
    },
    get held() {
      return held.length
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of [...open]) s.destroy()
        for (const h of held) h.client.destroy()
        proxy.close(() => resolve())
      }),
  }
}
