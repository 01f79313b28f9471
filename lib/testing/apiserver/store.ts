/**
 * Versioned storage: every object of every resource, one cluster-wide increasing
 * resourceVersion (like etcd's revision), and a bounded event history per resource (like
 * the apiserver's watch cache) from which watches resume and past snapshots are rebuilt.
 *
 * Invariants:
 * - `rv` only increases; every committed change gets `rv + 1`, and that value is both the
 *   object's `metadata.resourceVersion` and the event's `rv`.
 * - `history[r]` holds, in rv order, every change of resource `r` with rv > `compacted[r]`;
 *   a watch or an exact list from rv X is served iff X >= `compacted[r]`.
 * - Stored objects are never mutated after commit (events and snapshots share them).
 */
import { type KeyPosition, SortedKeys } from './sorted-keys.ts'
import type { KubeObject } from './types.ts'

/** One committed change of one object. */
export interface StoredEvent {
  rv: number
  type: 'ADDED' | 'MODIFIED' | 'DELETED'
  /** `group/plural` of the resource. */
  resource: string
  /** Storage key (`ns/name` or `name`). */
  key: string
  /** The object after the change (for DELETED: its last state, with the delete's rv). */
  object: KubeObject
  /** The object before the change (MODIFIED, DELETED). */
  prev: KubeObject | undefined
}

/** Something that receives every committed event of the resources it subscribed to. */
export interface StoreSubscriber {
  onEvent(event: StoredEvent): void
}

interface ResourceData {
  objects: Map<string, KubeObject>
  /**
   * The keys of `objects` in order, built on the first list and then kept up to date by
   * every commit (O(log n) per add or delete; never re-sorted).
   */
  sorted: SortedKeys | undefined
  history: StoredEvent[]
  /** Index in `history` of the first live event (a ring trimmed in bulk). */
  head: number
  compacted: number
  subscribers: Set<StoreSubscriber>
  /** Objects per namespace (keys `ns/name`), to tell in O(1) whether a namespace is empty. */
  perNamespace: Map<string, number>
}

/** A cursor of {@link VersionedStore.cursor}. */
export interface SnapshotCursor {
  /** The next key as of the cursor's rv, or undefined at the end. */
  next(): string | undefined
  /** The object at `key` as of the cursor's rv. */
  get(key: string): KubeObject | undefined
  /** How many keys as of the cursor's rv are >= `from` and < `below` (O(n / 1024 + changes since rv)). */
  countFrom(from: string, below: string): number
}

function lowerBoundOf(a: readonly string[], k: string): number {
  let lo = 0
  let hi = a.length
  while (lo < hi) {
    const mid = (lo + hi) >>> 1
    if (a[mid]! < k) lo = mid + 1
    else hi = mid
  }
  return lo
}

/** The object key used for ordering and continue tokens: `namespace/name` or `name`. */
export function objectKey(namespace: string | undefined, name: string): string {
  return namespace ? `${namespace}/${name}` : name
}

const jsonCache = new WeakMap<KubeObject, string>()

/** `JSON.stringify` of a stored (immutable) object, computed once and shared. */
export function objectJson(obj: KubeObject): string {
  let s = jsonCache.get(obj)
  if (s === undefined) {
    s = JSON.stringify(obj)
    jsonCache.set(obj, s)
  }
  return s
}

/**
 * The wire line of an event as committed. The object's JSON is computed once (and shared
 * with list responses and every watcher); the line around it is a cheap rope that the
 * watcher's batched write flattens, so history keeps one copy of each object's JSON.
 */
export function eventLine(ev: StoredEvent): string {
  return '{"type":"' + ev.type + '","object":' + objectJson(ev.object) + '}\n'
}

/** The versioned store. See the module comment for its invariants. */
export class VersionedStore {
  #rv: number
  #historySize: number
  #data = new Map<string, ResourceData>()
  #observers = new Set<StoreSubscriber>()

  constructor(options: { historySize: number; initialResourceVersion?: number }) {
    this.#historySize = Math.max(1, options.historySize)
    this.#rv = options.initialResourceVersion ?? 1
  }

  /** The latest committed resourceVersion. */
  get resourceVersion(): number {
    return this.#rv
  }

  /** Size of the per-resource event window. */
  get historySize(): number {
    return this.#historySize
  }

  #res(resource: string): ResourceData {
    let d = this.#data.get(resource)
    if (!d) {
      d = {
        objects: new Map(),
        sorted: undefined,
        history: [],
        head: 0,
        compacted: 0,
        subscribers: new Set(),
        perNamespace: new Map(),
      }
      this.#data.set(resource, d)
    }
    return d
  }

  /** The current object at `key`, if any (never mutate it). */
  get(resource: string, key: string): KubeObject | undefined {
    return this.#data.get(resource)?.objects.get(key)
  }

  /** Number of stored objects of a namespaced resource in `namespace`. */
  countInNamespace(resource: string, namespace: string): number {
    return this.#data.get(resource)?.perNamespace.get(namespace) ?? 0
  }

  /** Number of stored objects of a resource. */
  count(resource: string): number {
    return this.#data.get(resource)?.objects.size ?? 0
  }

  /** The oldest rv a watch or exact list of `resource` can start from. */
  compactedRevision(resource: string): number {
    return this.#data.get(resource)?.compacted ?? 0
  }

  /** The sorted key index of `d`, built once. */
  #sorted(d: ResourceData): SortedKeys {
    d.sorted ??= SortedKeys.from(d.objects.keys())
    return d.sorted
  }

  /**
   * State at `rv` of every key changed after `rv` (walking back, the oldest change wins):
   * the object then, or null when the key did not exist then. O(changes since rv), which
   * the history window bounds.
   */
  #overlay(d: ResourceData, rv: number): Map<string, KubeObject | null> | undefined {
    if (rv >= this.#rv || d.history.length === d.head || d.history[d.history.length - 1]!.rv <= rv) return undefined
    const overlay = new Map<string, KubeObject | null>()
    for (let i = d.history.length - 1; i >= d.head; i--) {
      const ev = d.history[i]!
      if (ev.rv <= rv) break
      overlay.set(ev.key, ev.type === 'ADDED' ? null : ev.prev!)
    }
    return overlay
  }

  /**
   * The sorted keys and objects of `resource` as of `rv` (default: now); the caller checks
   * rv bounds. Copies every key (O(n)): for whole-collection walks (namespace deletion,
   * initial events). Paged lists use {@link cursor}, which copies nothing.
   */
  snapshot(resource: string, rv = this.#rv): { keys: string[]; objects: { get(key: string): KubeObject | undefined } } {
    const d = this.#res(resource)
    const cursor = this.cursor(resource, rv, '')
    const keys: string[] = []
    for (let k = cursor.next(); k !== undefined; k = cursor.next()) keys.push(k)
    const overlay = this.#overlay(d, rv)
    const objects = d.objects
    if (!overlay) return { keys, objects }
    return { keys, objects: { get: (k) => (overlay.has(k) ? (overlay.get(k) ?? undefined) : objects.get(k)) } }
  }

  /**
   * A cursor over the keys of `resource` as of `rv` (the caller checks rv bounds), from
   * the first key >= `from`, in order. Memory is O(changes since rv) (bounded by the
   * history window), time O(log n) to start, O(1) per key: a list page costs what it
   * returns, not the size of the collection (client-go pages a million objects in 2,000
   * requests of 500). Valid until the next commit: use it synchronously.
   */
  cursor(resource: string, rv: number, from: string): SnapshotCursor {
    const d = this.#res(resource)
    const sorted = this.#sorted(d)
    const overlay = this.#overlay(d, rv)
    const objects = d.objects
    const pos: KeyPosition = sorted.seek(from)
    if (!overlay) {
      return {
        next: () => sorted.next(pos),
        get: (k) => objects.get(k),
        countFrom: (k, below) => (k < below ? sorted.rank(below) - sorted.rank(k) : 0),
      }
    }
    // Keys that existed at rv but are gone now, and keys present now that did not exist at rv.
    const extra: string[] = []
    const added: string[] = []
    for (const [k, v] of overlay) {
      if (v !== null && !objects.has(k)) extra.push(k)
      else if (v === null && objects.has(k)) added.push(k)
    }
    extra.sort()
    let j = lowerBoundOf(extra, from)
    let cur = sorted.next(pos)
    return {
      next: () => {
        for (;;) {
          let k: string | undefined
          if (j < extra.length && (cur === undefined || extra[j]! < cur)) k = extra[j++]
          else {
            k = cur
            cur = sorted.next(pos)
          }
          if (k === undefined || overlay.get(k) !== null) return k
        }
      },
      get: (k) => (overlay.has(k) ? (overlay.get(k) ?? undefined) : objects.get(k)),
      countFrom: (k, below) => {
        if (k >= below) return 0
        const inRange = (x: string) => x >= k && x < below
        return sorted.rank(below) - sorted.rank(k) + extra.filter(inRange).length - added.filter(inRange).length
      },
    }
  }

  /** Events of `resource` with rv > `after`, in order (caller checks `after >= compacted`). */
  eventsAfter(resource: string, after: number): StoredEvent[] {
    const d = this.#data.get(resource)
    if (!d) return []
    let lo = d.head
    let hi = d.history.length
    while (lo < hi) {
      const mid = (lo + hi) >> 1
      if (d.history[mid]!.rv <= after) lo = mid + 1
      else hi = mid
    }
    return d.history.slice(lo)
  }

  /**
   * Commits a change: assigns the next rv (written into `object.metadata.resourceVersion`),
   * stores or removes the object, records the event and hands it to subscribers.
   */
  commit(resource: string, type: StoredEvent['type'], key: string, object: KubeObject): StoredEvent {
    const d = this.#res(resource)
    const rv = ++this.#rv
    object.metadata.resourceVersion = String(rv)
    const prev = d.objects.get(key)
    const slash = key.indexOf('/')
    const ns = slash > 0 ? key.slice(0, slash) : undefined
    if (type === 'DELETED') {
      if (prev && ns !== undefined) d.perNamespace.set(ns, (d.perNamespace.get(ns) ?? 1) - 1)
      if (d.objects.delete(key)) d.sorted?.delete(key)
    } else {
      if (!prev) {
        d.sorted?.add(key)
        if (ns !== undefined) d.perNamespace.set(ns, (d.perNamespace.get(ns) ?? 0) + 1)
      }
      d.objects.set(key, object)
    }
    const ev: StoredEvent = { rv, type, resource, key, object, prev }
    d.history.push(ev)
    if (d.history.length - d.head > this.#historySize) {
      const dropped = d.history[d.head]!
      d.history[d.head] = undefined as unknown as StoredEvent
      d.head++
      d.compacted = dropped.rv
      // Trim the array in bulk so the ring stays amortized O(1).
      if (d.head > 1024 && d.head * 2 > d.history.length) {
        d.history = d.history.slice(d.head)
        d.head = 0
      }
    }
    for (const s of d.subscribers) s.onEvent(ev)
    for (const s of this.#observers) s.onEvent(ev)
    return ev
  }

  /** Forgets all history: watches and exact lists from any rv older than now get 410. */
  compact(): void {
    for (const d of this.#data.values()) {
      d.history = []
      d.head = 0
      d.compacted = this.#rv
    }
  }

  /** Forgets a resource entirely (its CRD was deleted); returns its objects. */
  drop(resource: string): void {
    const d = this.#data.get(resource)
    if (!d) return
    d.objects.clear()
    d.perNamespace.clear()
    d.sorted = undefined
  }

  /**
   * Observes every committed event of every resource, after the resource's subscribers
   * (the embedded controllers, gc.ts); returns the unsubscribe function.
   */
  observe(s: StoreSubscriber): () => void {
    this.#observers.add(s)
    return () => this.#observers.delete(s)
  }

  /** Subscribes to committed events of `resource`; returns the unsubscribe function. */
  subscribe(resource: string, s: StoreSubscriber): () => void {
    const d = this.#res(resource)
    d.subscribers.add(s)
    return () => d.subscribers.delete(s)
  }

  /** Resource keys (`group/plural`) that have data. */
  resources(): string[] {
    return [...this.#data.keys()]
  }
}
