import type { Logger } from '../log.ts'
import { type KubeObject, resourceVersionOf } from '../watch/object.ts'

/** What a subscriber of a shared informer receives. */
export type InformerEvent<T = KubeObject> =
  | {
      /** First seen by this subscriber. */
      readonly type: 'created'
      /** `namespace/name` (`name` when cluster-scoped). */
      readonly key: string
      /** The object's latest version. */
      readonly object: T
    }
  | {
      /** Changed since this subscriber saw it (several changes it had not taken yet collapse into one). */
      readonly type: 'modified'
      /** `namespace/name` (`name` when cluster-scoped). */
      readonly key: string
      /** The object's latest version. */
      readonly object: T
      /** The version this subscriber saw last. */
      readonly previous: T
    }
  | {
      /** Gone. */
      readonly type: 'deleted'
      /** `namespace/name` (`name` when cluster-scoped). */
      readonly key: string
      /** The last version: the server's final state, or the last one known. */
      readonly object: T
    }
  | {
      /** Once: everything that existed when the watch (or this subscription) started was delivered. */
      readonly type: 'synced'
    }

interface Pending<T> {
  type: 'created' | 'modified' | 'deleted'
  object: T
  previous: T | undefined
  /** After `deleted`: the object was created again (a new incarnation). */
  recreated: T | undefined
}

const SYNCED = Symbol('synced')
/** Cannot collide with `namespace/name` keys. */
const SYNCED_KEY = '\u0000synced'

/**
 * One consumer's view of a shared informer, at its own pace.
 *
 * Memory stays bounded however far behind the consumer falls: it holds at most one
 * pending change per object. Changes to an object the consumer has not taken yet collapse
 * into one — the latest version, with `previous` still the version it saw last; a create
 * followed by a delete it never saw disappears; a delete followed by a re-create keeps
 * both steps. Across objects, changes come in the order of their first pending change.
 * So a slow consumer sees fewer, newer events — never an older state after a newer one,
 * never a change lost — and does not slow the other consumers or the watch.
 *
 * @example
 * ```ts
 * const sub = informer.subscribe()
 * for await (const event of sub) {
 *   if (event.type === 'synced') continue
 *   reconcile(event.key)
 * }
 * ```
 */
export class Subscription<T = KubeObject> implements AsyncIterable<InformerEvent<T>> {
  /** Insertion-ordered: the order in which keys first had a pending change. */
  readonly #pending = new Map<string, Pending<T> | typeof SYNCED>()
  readonly #onClose: (sub: Subscription<T>) => void
  #waiter: (() => void) | undefined
  #closed = false
  #coalesced = 0
  #delivered = 0

  /** @internal Created by `SharedInformer.subscribe`. */
  constructor(onClose: (sub: Subscription<T>) => void) {
    this.#onClose = onClose
  }

  /** Changes waiting to be taken (at most one per object, plus a pending `synced`). */
  get pending(): number {
    return this.#pending.size
  }

  /** Changes collapsed into a pending one because this consumer had not taken it yet. */
  get coalesced(): number {
    return this.#coalesced
  }

  /** Events taken so far. */
  get delivered(): number {
    return this.#delivered
  }

  /** Whether the subscription ended (`close()`, or its informer stopped); no more events come. */
  get closed(): boolean {
    return this.#closed
  }

  /** @internal A change, from the informer's handler. */
  push(type: 'created' | 'modified' | 'deleted', key: string, object: T, previous: T | undefined): void {
    if (this.#closed) return
    const p = this.#pending.get(key) as Pending<T> | undefined
    if (p === undefined) {
      this.#pending.set(key, { type, object, previous, recreated: undefined })
      this.#wake()
      return
    }
    this.#coalesced++
    switch (p.type) {
      case 'created':
        if (type === 'deleted') this.#pending.delete(key) // never seen: nothing happened, for this consumer
        else p.object = object
        return
      case 'modified':
        if (type === 'deleted') {
          p.type = 'deleted'
          p.object = object
          p.previous = undefined
        } else p.object = object
        return
      case 'deleted':
        // The consumer last saw the old incarnation; remember the new one after the delete.
        if (type === 'deleted') p.recreated = undefined
        else p.recreated = object
        return
    }
  }

  /** @internal The `synced` signal, from the informer's handler. */
  pushSynced(): void {
    if (this.#closed || this.#pending.has(SYNCED_KEY)) return
    this.#pending.set(SYNCED_KEY, SYNCED)
    this.#wake()
  }

  /** Takes the next event if one is waiting, without waiting. */
  tryNext(): InformerEvent<T> | undefined {
    const first = this.#pending.entries().next()
    if (first.done) return undefined
    const [key, p] = first.value
    this.#delivered++
    if (p === SYNCED) {
      this.#pending.delete(key)
      return { type: 'synced' }
    }
    if (p.type === 'deleted' && p.recreated !== undefined) {
      // Deliver the delete now; the re-created object stays pending, in place.
      const deleted = p.object
      p.type = 'created'
      p.object = p.recreated
      p.recreated = undefined
      return { type: 'deleted', key, object: deleted }
    }
    this.#pending.delete(key)
    if (p.type === 'modified') return { type: 'modified', key, object: p.object, previous: p.previous as T }
    return { type: p.type, key, object: p.object }
  }

  /** The next event; `undefined` once the subscription is closed. */
  async next(): Promise<InformerEvent<T> | undefined> {
    for (;;) {
      const event = this.tryNext()
      if (event !== undefined) return event
      if (this.#closed) return undefined
      await new Promise<void>((resolve) => {
        this.#waiter = resolve
      })
    }
  }

  /** Leaves the informer: pending changes are dropped; when the last subscriber leaves, the watch stops. */
  close(): void {
    if (this.#closed) return
    this.#closed = true
    this.#pending.clear()
    this.#wake()
    this.#onClose(this)
  }

  /** Iterates the events (`for await`); leaving the loop early (`break`, a throw) closes the subscription. */
  [Symbol.asyncIterator](): AsyncIterator<InformerEvent<T>> {
    return pullIterator(this)
  }

  #wake(): void {
    const waiter = this.#waiter
    if (waiter) {
      this.#waiter = undefined
      waiter()
    }
  }
}

/**
 * An async iterator over a pull source whose `next()` resolves `undefined` once it has
 * ended; leaving a `for await` early (`return`) closes the source.
 */
export function pullIterator<T>(source: { next(): Promise<T | undefined>; close(): void }): AsyncIterator<T> {
  return {
    next: async () => {
      const value = await source.next()
      return value === undefined ? { done: true, value: undefined } : { done: false, value }
    },
    return: async () => {
      source.close()
      return { done: true, value: undefined }
    },
  }
}

/** What {@link readSubscription} calls, in the subscription's order. */
export interface SubscriptionReader<T> {
  /** After each `synced`. */
  synced(): void
  /** Each change, except a `modified` at the resourceVersion the reader saw last. */
  change(type: 'created' | 'modified' | 'deleted', key: string, object: T): void
  /** A `modified` at the resourceVersion the reader saw last (a no-op update): skipped. */
  unchanged(): void
}

/**
 * Reads `sub` until it is closed, in the background, handing each event to `reader`.
 * A `modified` whose object has the resourceVersion of its `previous` is not a change
 * (kubehandler's rule: an update with an unchanged resourceVersion is skipped). A reader
 * that throws is logged with `context` and stops the reading.
 */
export function readSubscription<T extends KubeObject>(sub: Subscription<T>, reader: SubscriptionReader<T>, log: Logger, context: Record<string, unknown> = {}): void {
  void (async () => {
    for (;;) {
      const event = await sub.next()
      if (event === undefined) return
      if (event.type === 'synced') reader.synced()
      else if (event.type === 'modified' && isUnchanged(event.object, event.previous)) reader.unchanged()
      else reader.change(event.type, event.key, event.object)
    }
  })().catch((err) => log.error({ ...context, err }, 'reading the shared informer failed'))
}

function isUnchanged(object: KubeObject, previous: KubeObject): boolean {
  const rv = resourceVersionOf(object)
  return rv !== '' && rv === resourceVersionOf(previous)
}
