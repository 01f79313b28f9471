/**
 * The `kubevisor` command line (`npx kubevisor ...`, launched by `bin/kubevisor.mjs`).
 *
 *   kubevisor apiserver [--port N] [--kubeconfig FILE] [--token T] [--tls] [--history-size N]
 *
 * runs the embedded Kubernetes API server in the foreground and writes a kubeconfig for
 * it, so kubectl or any client can be pointed at it. Plain argument parsing, no framework.
 */
import { rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { type ApiServer, startApiServer } from './testing/apiserver/index.ts'

/** Where the CLI writes (injected by tests). */
export interface CliIo {
  stdout: { write(s: string): unknown }
  stderr: { write(s: string): unknown }
}

/** Parsed `apiserver` options. */
export interface ApiserverCommand {
  command: 'apiserver'
  port: number
  kubeconfig: string | undefined
  token: string | undefined
  tls: boolean
  historySize: number | undefined
}

/** What the arguments ask for, or a usage error. */
export type Parsed = ApiserverCommand | { command: 'help'; topic: 'main' | 'apiserver' } | { command: 'error'; message: string }

export const MAIN_USAGE = `Usage: kubevisor <command> [options]

Commands:
  apiserver   run the embedded Kubernetes API server in the foreground

Run 'kubevisor <command> --help' for a command's options.
`

export const APISERVER_USAGE = `Usage: kubevisor apiserver [--port N] [--kubeconfig FILE] [--token T] [--tls] [--history-size N]

Runs the embedded Kubernetes API server on 127.0.0.1 until interrupted (Ctrl-C), and
writes a kubeconfig for it.

Options:
  --port N            TCP port on 127.0.0.1 (default 0: a free port)
  --kubeconfig FILE   where to write the kubeconfig (default: a file in the temp directory,
                      removed on exit)
  --token T           require "Authorization: Bearer T" (401 otherwise)
  --tls               serve HTTPS with a generated CA (written into the kubeconfig)
  --history-size N    watch events kept per resource for resumption (default 10000)
  -h, --help          show this help

Example:
  kubevisor apiserver --kubeconfig /tmp/kv.yaml &
  KUBECONFIG=/tmp/kv.yaml kubectl get namespaces
`

function integer(flag: string, value: string | undefined, min: number, max: number): number | string {
  if (value === undefined || value === '') return `${flag} needs a value`
  if (!/^\d+$/.test(value)) return `${flag} must be an integer, got "${value}"`
  const n = Number(value)
  if (n < min || n > max) return `${flag} must be between ${min} and ${max}, got ${n}`
  return n
}

/** Parses the command line (without `node` and the script). Never throws. */
export function parseArgs(argv: readonly string[]): Parsed {
  const [command, ...rest] = argv
  if (command === undefined || command === '-h' || command === '--help' || command === 'help')
    return { command: 'help', topic: 'main' }
  if (command !== 'apiserver') return { command: 'error', message: `unknown command "${command}"` }
  const out: ApiserverCommand = {
    command: 'apiserver',
    port: 0,
    kubeconfig: undefined,
    token: undefined,
    tls: false,
    historySize: undefined,
  }
  for (let i = 0; i < rest.length; i++) {
    const arg = rest[i]!
    if (arg === '-h' || arg === '--help') return { command: 'help', topic: 'apiserver' }
    const eq = arg.indexOf('=')
    const flag = arg.startsWith('--') && eq > 0 ? arg.slice(0, eq) : arg
    const inline = arg.startsWith('--') && eq > 0 ? arg.slice(eq + 1) : undefined
    const value = () => inline ?? rest[++i]
    switch (flag) {
      case '--port': {
        const n = integer('--port', value(), 0, 65535)
        if (typeof n === 'string') return { command: 'error', message: n }
        out.port = n
        break
      }
      case '--history-size': {
        const n = integer('--history-size', value(), 1, 100_000_000)
        if (typeof n === 'string') return { command: 'error', message: n }
        out.historySize = n
        break
      }
      case '--kubeconfig': {
        const v = value()
        if (!v) return { command: 'error', message: '--kubeconfig needs a file name' }
        out.kubeconfig = v
        break
      }
      case '--token': {
        const v = value()
        if (!v) return { command: 'error', message: '--token needs a value' }
        out.token = v
        break
      }
      case '--tls':
        if (inline !== undefined) return { command: 'error', message: '--tls takes no value' }
        out.tls = true
        break
      default:
        return { command: 'error', message: `unknown flag "${arg}"` }
    }
  }
  return out
}

/** A started `apiserver` command: the server, where its kubeconfig is, and how to stop. */
export interface RunningApiserver {
  server: ApiServer
  kubeconfigPath: string
  stop(): Promise<void>
}

/** Starts the server for a parsed `apiserver` command and writes its kubeconfig. */
export async function runApiserver(cmd: ApiserverCommand, io: CliIo): Promise<RunningApiserver> {
  const server = await startApiServer({
    port: cmd.port,
    tls: cmd.tls,
    ...(cmd.token ? { token: cmd.token } : {}),
    ...(cmd.historySize ? { historySize: cmd.historySize } : {}),
  })
  const temporary = cmd.kubeconfig === undefined
  const kubeconfigPath = cmd.kubeconfig ?? join(tmpdir(), `kubevisor-apiserver-${server.port}.kubeconfig`)
  try {
    writeFileSync(kubeconfigPath, server.kubeConfigYaml(), { mode: 0o600 })
  } catch (err) {
    await server.close()
    throw err
  }
  io.stdout.write(`kubevisor: embedded API server listening on ${server.url}\n`)
  io.stdout.write(`kubevisor: kubeconfig written to ${kubeconfigPath}\n`)
  io.stdout.write(`kubevisor: try  KUBECONFIG=${kubeconfigPath} kubectl get namespaces\n`)
  let stopped = false
  return {
    server,
    kubeconfigPath,
    async stop() {
      if (stopped) return
      stopped = true
      await server.close()
      if (temporary) rmSync(kubeconfigPath, { force: true })
    },
  }
}

/**
 * Runs the command line; resolves with the exit code (0 ok, 1 failure, 2 usage error).
 * `apiserver` resolves only after SIGINT or SIGTERM.
 */
export async function main(argv: readonly string[], io: CliIo = process): Promise<number> {
  const parsed = parseArgs(argv)
  if (parsed.command === 'help') {
    io.stdout.write(parsed.topic === 'main' ? MAIN_USAGE : APISERVER_USAGE)
    return 0
  }
  if (parsed.command === 'error') {
    io.stderr.write(`kubevisor: ${parsed.message}\n\n${argv[0] === 'apiserver' ? APISERVER_USAGE : MAIN_USAGE}`)
    return 2
  }
  let running: RunningApiserver
  try {
    running = await runApiserver(parsed, io)
  } catch (err) {
    io.stderr.write(`kubevisor: cannot start the API server: ${err instanceof Error ? err.message : String(err)}\n`)
    return 1
  }
  await new Promise<void>((resolve) => {
    const onSignal = () => {
      process.off('SIGINT', onSignal)
      process.off('SIGTERM', onSignal)
      resolve()
    }
    process.on('SIGINT', onSignal)
    process.on('SIGTERM', onSignal)
  })
  await running.stop()
  io.stdout.write('kubevisor: stopped\n')
  return 0
}
