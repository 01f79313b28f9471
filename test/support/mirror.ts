import { noreply, ok, reply } from '../../lib/actor/index.ts'
import type { KubeObject } from '../../lib/watch/object.ts'
import { objectKey } from '../../lib/watch/object.ts'
import type { WatcherBehaviour } from '../../lib/watcher/watcher.ts'

/** What a mirror watcher has seen. */
export interface MirrorState {
  /** key → resourceVersion of the last version delivered. */
  view: Map<string, string>
  /** Every callback, in order: `created ns/name@rv`, `synced`, … */
  log: string[]
  /** Broken promises: a `created` for a key already seen, a `modified` without a change, a `deleted` of an unknown key. */
  violations: string[]
  inits: number
  /** The handler's `ctx.resourceVersion`: what to persist with `view` to resume later. */
  resourceVersion?: string | undefined
}

let inits = 0

/**
 * A watcher that mirrors the server's objects and checks kubevisor's delivery promises as
 * it goes. `call('view')` returns a copy of its state; `call('crash')` throws.
 */
export const Mirror: WatcherBehaviour<KubeObject, MirrorState, { onEvent?: (line: string) => void; view?: Map<string, string> } | undefined> = {
  // `view`: what a resumed mirror persisted (key → resourceVersion), to resume with it.
  init: (arg) => ok({ view: new Map(arg?.view ?? []), log: [], violations: [], inits: ++inits }),
  handleEvent: (type, object, state, _ctx) => {
    const key = objectKey(object)
    const rv = object.metadata?.resourceVersion ?? ''
    const line = `${type} ${key}@${rv}`
    state.log.push(line)
    const had = state.view.get(key)
    if (type === 'created' && had !== undefined) state.violations.push(`duplicate created: ${line} (had @${had})`)
    if (type === 'modified' && had === undefined) state.violations.push(`modified of unknown: ${line}`)
    if (type === 'modified' && had === rv) state.violations.push(`modified without a change: ${line}`)
    if (type === 'deleted' && had === undefined) state.violations.push(`deleted of unknown: ${line}`)
    if (type === 'deleted') state.view.delete(key)
    else state.view.set(key, rv)
    return noreply(state)
  },
  handleSynced: (state) => {
    state.log.push('synced')
    return noreply(state)
  },
  handleCall: (msg, _from, state, ctx) => {
    if (msg === 'crash') throw new Error('handler crash on request')
    return reply({ view: new Map(state.view), log: [...state.log], violations: [...state.violations], inits: state.inits, resourceVersion: ctx.resourceVersion }, state)
  },
}

/** Polls `check` until it returns true (or throws its last error after `timeoutMs`). */
export async function eventually(check: () => boolean | Promise<boolean>, timeoutMs = 10_000, what = 'condition'): Promise<void> {
  const deadline = performance.now() + timeoutMs
  let lastError: unknown
  for (;;) {
    try {
      if (await check()) return
    } catch (err) {
      lastError = err
    }
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`, { cause: lastError })
    await new Promise((r) => setTimeout(r, 10))
  }
}

/** The server's objects as key → resourceVersion. */
export function serverView(objects: KubeObject[]): Map<string, string> {
  return new Map(objects.map((o) => [objectKey(o), o.metadata?.resourceVersion ?? '']))
}
