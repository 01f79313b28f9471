import { Writable } from 'node:stream'
import { createLogger, type Logger } from '../../lib/log.ts'

/** A logger that writes nowhere, for tests that do not look at logs. */
export const silent: Logger = createLogger({ level: 'silent' })

/** A logger that keeps every line as a parsed object, for tests that assert on logs. */
export function captureLogger(level = 'debug'): { logger: Logger; lines: Record<string, any>[]; text: () => string } {
  const raw: string[] = []
  const destination = new Writable({
    write(chunk, _enc, done) {
      raw.push(String(chunk))
      done()
    },
  })
  const logger = createLogger({ level, destination })
  return {
    logger,
    get lines() {
      return raw.join('').split('\n').filter(Boolean).map((l) => JSON.parse(l))
    },
    text: () => raw.join(''),
  }
}
