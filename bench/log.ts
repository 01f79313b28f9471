// The cost of a log line with kubevisor's deep redaction and error serialization, beside
// the ceiling (bare pino: no redaction, pino's default err serializer) and the peer a user
// would pick instead (pino's own `redact` with fixed paths, which misses nested secrets),
// in one run. Lines go to a stream that discards them, so the figure is pino's work plus
// ours. Logging is not on the per-message path of processes or watchers (a process logs
// on start/exit/crash; the watch engine on failures), so µs per line is what to read.
//
//   ./dev node --conditions=source bench/log.ts
import { Writable } from 'node:stream'
import { KubeConfig } from '@kubernetes/client-node'
import { pino, type Logger } from 'pino'
import { KubevisorError } from '../lib/errors.ts'
import { createLogger } from '../lib/log.ts'
import { type BenchTable, bestOf, formatTable, machine } from './support.ts'

const sink = () =>
  new Writable({
    write(_chunk, _enc, done) {
      done()
    },
  })

// The configuration createLogger had before deep redaction: pino's fixed-path redact.
const PEER_PATHS = ['token', '*.token', 'password', '*.password', 'authorization', '*.authorization', 'headers.authorization', '*.headers.authorization', 'keyData', '*.keyData']

const loggers: [string, Logger][] = [
  ['bare pino (ceiling)', pino({ level: 'info', base: {} }, sink())],
  ['pino redact paths (peer)', pino({ level: 'info', base: {}, redact: { paths: PEER_PATHS, censor: '[redacted]' } }, sink())],
  ['createLogger (deep)', createLogger({ level: 'info', destination: sink() })],
]

const kc = new KubeConfig()
kc.loadFromOptions({
  clusters: [{ name: 'c', server: 'https://127.0.0.1:6443' }],
  users: [{ name: 'u', token: 'secret-token-value' }],
  contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
  currentContext: 'x',
})
const crash = new KubevisorError('ERR_WATCH_LIST_FAILED', 'list refused with HTTP 401', { cause: Object.assign(new Error('HTTP 401: Unauthorized'), { status: 401 }) })

const shapes: [string, (log: Logger) => void][] = [
  ['process line (child bindings + 1 field)', (log) => log.info({ reason: 'shutdown' }, 'exited on an exit signal')],
  ['crash line (error with a cause)', (log) => log.error({ reason: 'ERR_WATCH_LIST_FAILED', callback: 'handleInfo', err: crash }, 'process crashed')],
  ['a whole KubeConfig in a field', (log) => log.info({ kubeConfig: kc }, 'config')],
]

async function perLine(log: Logger, shape: (log: Logger) => void, n: number): Promise<number> {
  const child = log.child({ pid: 7, name: 'pods' })
  const ms = await bestOf(5, () => {
    for (let i = 0; i < n; i++) shape(child)
  })
  return (ms * 1000) / n
}

export async function run(): Promise<BenchTable[]> {
  const n = 20_000
  const rows: (string | number)[][] = []
  for (const [shapeName, shape] of shapes) {
    const us: number[] = []
    for (const [, log] of loggers) us.push(await perLine(log, shape, n))
    const [ceiling, peer, ours] = us as [number, number, number]
    rows.push([shapeName, ceiling.toFixed(2), peer.toFixed(2), ours.toFixed(2), (ours / ceiling).toFixed(2), (ours / peer).toFixed(2)])
  }
  return [
    {
      title: 'Log lines (bench/log.ts), µs per line',
      columns: ['line', 'bare pino (ceiling)', 'pino redact paths (peer)', 'createLogger (deep)', '× ceiling', '× peer'],
      rows,
      notes: [machine(), `best of 5 runs of ${n} lines each, written to a discarding stream`],
    },
  ]
}

if (import.meta.main) {
  for (const table of await run()) console.log(`${formatTable(table)}\n`)
}
