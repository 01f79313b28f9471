/**
 * Parses a /metrics scrape with a Prometheus text-format parser nobody here wrote: the
 * official Python client's (`prometheus_client.parser.text_string_to_metric_families`,
 * from PyPI), in a child process. `.ci/run` installs it; without it, a test skips saying
 * so — under CI=1 the missing parser is a failure instead.
 */
import { spawn, spawnSync } from 'node:child_process'

export interface ParsedSample {
  name: string
  labels: Record<string, string>
  value: number
}
export interface ParsedFamily {
  name: string
  type: string
  samples: ParsedSample[]
}

const SCRIPT = `
import json, sys
from prometheus_client.parser import text_string_to_metric_families
out = []
for f in text_string_to_metric_families(sys.stdin.read()):
    out.append({"name": f.name, "type": f.type, "samples": [{"name": s.name, "labels": s.labels, "value": s.value if s.value == s.value else None} for s in f.samples]})
print(json.dumps(out))
`

/** Why the parser cannot run here (undefined when it can); under CI the caller should fail instead of skipping. */
export function parserUnavailable(): string | undefined {
  const probe = spawnSync('python3', ['-c', 'import prometheus_client.parser'], { encoding: 'utf8' })
  if (probe.error) return `python3 is not installed (${probe.error.message})`
  if (probe.status !== 0) return 'the Python package prometheus_client is not installed (pip install prometheus_client)'
  return undefined
}

/**
 * Parses `text`; rejects with the parser's own error when the exposition is invalid.
 * Asynchronous on purpose: a test that holds a lease must not block its event loop while
 * Python starts.
 */
export function parsePrometheusText(text: string): Promise<ParsedFamily[]> {
  return new Promise((resolve, reject) => {
    const child = spawn('python3', ['-c', SCRIPT], { stdio: ['pipe', 'pipe', 'pipe'] })
    let out = ''
    let err = ''
    child.stdout.setEncoding('utf8').on('data', (c: string) => (out += c))
    child.stderr.setEncoding('utf8').on('data', (c: string) => (err += c))
    child.on('error', reject)
    child.on('close', (code) => {
      if (code !== 0) reject(new Error(`prometheus_client rejected the scrape: ${err}`))
      else resolve(JSON.parse(out) as ParsedFamily[])
    })
    child.stdin.end(text)
  })
}
