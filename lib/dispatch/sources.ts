/**
 * Sources: where a controller's events come from (controller-runtime `pkg/source`) — a
 * kind (a shared informer of an {@link InformerFactory}), an informer you already have, or
 * an async iterable of events from outside the cluster (webhooks, timers, other systems).
 */
import type { InformerFactory, InformerTarget, SharedInformer } from '../informer/informer.ts'
import type { Subscription } from '../informer/subscription.ts'
import type { Logger } from '../log.ts'
import type { KubeObject } from '../watch/object.ts'
import type { ControllerEvent, Request } from './request.ts'

/** What a source needs from the controller that opens it. */
export interface SourceContext {
  /** The controller's informer factory. */
  readonly informers: InformerFactory
  /** The controller's logger. */
  readonly logger: Logger
}

/** One run of a source: its events, `'synced'` once for informer sources, `undefined` at the end. */
export interface SourceStream<T = KubeObject> {
  /** The next event, `'synced'` once the informer's store synced, or `undefined` once the run ended. */
  next(): Promise<ControllerEvent<T> | 'synced' | undefined>
  /** Stops the run; a pending `next()` resolves `undefined`. */
  close(): void
}

/**
 * A source of events. `informer` sources replay the objects of their store when reopened
 * (after a restart), take part in the wait for caches to sync, and pass the controller's
 * event filters; `channel` sources do none of these.
 */
export interface Source<T = KubeObject> {
  /** `informer`: backed by a shared informer (replays, syncs, filtered); `channel`: external events. */
  readonly type: 'informer' | 'channel'
  /** For logs: the informer id, or `channel`. */
  readonly description: string
  /** Starts one run (a controller opens it when its source process starts, again after a restart). */
  open(context: SourceContext): SourceStream<T>
}

/**
 * Events of one kind through the controller's {@link InformerFactory}: the watch and store
 * are shared with every other consumer of the same target (controller-runtime `source.Kind`).
 *
 * @example
 * ```ts
 * controller('web', { informers }).watches(kind({ apiVersion: 'v1', kind: 'Secret', namespace: 'web' }), enqueueMapped(secretToApps))
 * ```
 */
export function kind<T extends KubeObject = KubeObject>(target: InformerTarget): Source<T> {
  return {
    type: 'informer',
    description: `${target.path ?? `${target.apiVersion}/${target.kind}${target.namespace ? `@${target.namespace}` : ''}`}${target.metadataOnly ? ' (metadata only)' : ''}`,
    open: (context) => subscriptionStream(context.informers.informer<T>(target).subscribe()),
  }
}

/**
 * Events of a shared informer you already have (controller-runtime `source.Informer`),
 * e.g. one with indexers that your reconciler also reads.
 */
export function informer<T extends KubeObject = KubeObject>(shared: SharedInformer<T>): Source<T> {
  return { type: 'informer', description: shared.id, open: () => subscriptionStream(shared.subscribe()) }
}

/**
 * Events from outside the cluster (controller-runtime `source.Channel`): each item — a
 * request `{ namespace, name }` or an object — becomes a `generic` event for the handler
 * (with `handlers.enqueueObject()`, the named object is reconciled). The source ends when the
 * iterable does.
 *
 * Gotchas: the controller's `withEventFilter` predicates do not apply (as
 * controller-runtime's raw sources); give predicates to `watches` instead. Stopping the
 * controller abandons the item being awaited and calls the iterator's `return()`. After a
 * crash the iterable is iterated again from `[Symbol.asyncIterator]()` — an async
 * generator cannot restart, so feed the channel from something that can ({@link EventChannel} can).
 *
 * @example
 * ```ts
 * const webhooks = new EventChannel<Request>()       // any AsyncIterable
 * controller('web', { informers }).for(target).watches(channel(webhooks), enqueueObject())
 * webhooks.push({ namespace: 'default', name: 'web' })
 * ```
 */
export function channel(events: AsyncIterable<Request | KubeObject>): Source<KubeObject> {
  return {
    type: 'channel',
    description: 'channel',
    open: () => {
      const iterator = events[Symbol.asyncIterator]()
      let closed = false
      let onClose!: () => void
      const closing = new Promise<undefined>((resolve) => {
        onClose = () => resolve(undefined)
      })
      return {
        async next() {
          if (closed) return undefined
          const item = await Promise.race([iterator.next(), closing])
          if (item === undefined || closed || item.done) return undefined
          return { type: 'generic', object: asObject(item.value) }
        },
        close() {
          if (closed) return
          closed = true
          onClose()
          iterator.return?.().catch(() => {})
        },
      }
    },
  }
}

/** A request becomes an object with only its name and namespace; an object stays itself. */
function asObject(item: Request | KubeObject): KubeObject {
  if ('metadata' in item && item.metadata !== undefined) return item as KubeObject
  const request = item as Request
  return { metadata: request.namespace ? { name: request.name, namespace: request.namespace } : { name: request.name } }
}

function subscriptionStream<T extends KubeObject>(sub: Subscription<T>): SourceStream<T> {
  return {
    async next() {
      const e = await sub.next()
      if (e === undefined) return undefined
      if (e.type === 'synced') return 'synced'
      if (e.type === 'modified') return { type: 'modified', object: e.object, previous: e.previous }
      return { type: e.type, object: e.object }
    },
    close: () => sub.close(),
  }
}

/**
 * A minimal push-based async iterable for {@link channel}: `push` from anywhere (an HTTP
 * handler, a timer), `end()` to finish. Unbounded: items wait in memory until taken.
 * Re-iterable: after a controller restart, the new iterator continues with what is queued.
 */
export class EventChannel<T> implements AsyncIterable<T> {
  readonly #items: T[] = []
  readonly #waiters = new Set<() => void>()
  #ended = false

  /** Queues an item (ignored after `end()`). */
  push(item: T): void {
    if (this.#ended) return
    this.#items.push(item)
    this.#wake()
  }

  /** No more items: iterators finish once the queued ones are taken. */
  end(): void {
    this.#ended = true
    this.#wake()
  }

  /** Items queued and not yet taken. */
  get pending(): number {
    return this.#items.length
  }

  /** Iterates the pushed items until `end()`; each iteration takes items from where the last one stopped. */
  [Symbol.asyncIterator](): AsyncIterator<T> {
    // An iterator that was left (`return()`) takes nothing more, even from a pending `next()`.
    let left = false
    return {
      next: async (): Promise<IteratorResult<T>> => {
        for (;;) {
          if (left) return { done: true, value: undefined }
          if (this.#items.length > 0) return { done: false, value: this.#items.shift() as T }
          if (this.#ended) return { done: true, value: undefined }
          await new Promise<void>((resolve) => this.#waiters.add(resolve))
        }
      },
      // Leaving an iterator does not end the channel: another iterator may continue it.
      return: async (): Promise<IteratorResult<T>> => {
        left = true
        this.#wake()
        return { done: true, value: undefined }
      },
    }
  }

  #wake(): void {
    const waiters = [...this.#waiters]
    this.#waiters.clear()
    for (const w of waiters) w()
  }
}
