import { KubevisorError } from '../errors.ts'
import type { KnownEntry, KnownStore } from '../watch/known.ts'
import { type KubeObject, objectKey } from '../watch/object.ts'

/** Maps an object to the values it is indexed under (client-go's `IndexFunc`). */
export type IndexFunc<T> = (object: T) => readonly string[]

/** Named index functions (client-go's `Indexers`). */
export type Indexers<T> = Record<string, IndexFunc<T>>

/** Indexes objects by `metadata.namespace` (client-go's `MetaNamespaceIndexFunc`); cluster-scoped objects are not indexed. */
export const namespaceIndex: IndexFunc<KubeObject> = (object) => {
  const ns = object.metadata?.namespace
  return ns ? [ns] : []
}

/** `byIndex`/`indexKeys` named an index the store was not created with (`ERR_UNKNOWN_INDEX`). */
export class UnknownIndexError extends KubevisorError {
  constructor(name: string, known: string[]) {
    super('ERR_UNKNOWN_INDEX', `index ${JSON.stringify(name)} does not exist (indexes: ${known.length ? known.join(', ') : 'none'})`)
  }
}

/** Something that names one object: the object itself, or `{ namespace?, name }`. */
export type ObjectRef = { metadata?: { name?: string; namespace?: string } } | { name: string; namespace?: string | undefined }

/**
 * A read-only, typed view of the objects a watch has seen — what client-go calls a
 * `Store`/`Indexer` and cilium a read-only `Store[T]`. Only the watch that owns it
 * writes to it; consumers read.
 *
 * Objects are the plain parsed JSON the API server sent (after the watch's transform, if
 * any); treat them as immutable — they are shared with every reader and callback.
 *
 * Gotchas: right after a watch restarts (its handler crashed), the store is rebuilt from
 * a fresh list and `hasSynced` is false until that list is in.
 *
 * @example
 * ```ts
 * const pod = store.get({ namespace: 'default', name: 'web-0' })
 * const inKubeSystem = store.byIndex('namespace', 'kube-system')
 * await store.synced
 * ```
 */
export interface Store<T extends KubeObject = KubeObject> {
  /** The object named by `ref`, if present. */
  get(ref: ObjectRef): T | undefined
  /** By `namespace/name` (or `name` for cluster-scoped objects). */
  getByKey(key: string): T | undefined
  /** Whether an object with this `namespace/name` key (or `name`) is present. */
  has(key: string): boolean
  /** All objects (a new array; safe with hundreds of thousands of objects). */
  list(): T[]
  /** All keys. */
  keys(): string[]
  /** How many objects it holds. */
  readonly size: number
  /** Objects whose index function returned `value` for index `name`. Throws `UnknownIndexError`. */
  byIndex(name: string, value: string): T[]
  /** Keys of the objects whose index function returned `value` for index `name`. Throws `UnknownIndexError`. */
  indexKeys(name: string, value: string): string[]
  /** The values present in index `name`. Throws `UnknownIndexError`. */
  indexValues(name: string): string[]
  /** True once the initial list is in (and again after a rebuild). */
  readonly hasSynced: boolean
  /** Resolves once `hasSynced` is true. */
  readonly synced: Promise<void>
  /** The resourceVersion the store was last brought up to (list, watch event or bookmark). */
  readonly lastSyncResourceVersion: string | undefined
}

function keyOfRef(ref: ObjectRef): string {
  if ('name' in ref && typeof ref.name === 'string') return ref.namespace ? `${ref.namespace}/${ref.name}` : ref.name
  return objectKey(ref as KubeObject)
}

/**
 * The writable side of a {@link Store}, kept by the watch that owns it. It also serves
 * as that watch's record of what was delivered ({@link KnownStore}), so objects are kept
 * once, not twice.
 */
export class StoreWriter<T extends KubeObject = KubeObject> implements KnownStore {
  readonly #objects = new Map<string, T>()
  readonly #indexers: [string, IndexFunc<T>][]
  /** index name → indexed value → keys. Invariant: mirrors #indexers applied to #objects. */
  readonly #indices = new Map<string, Map<string, Set<string>>>()
  #synced = false
  #syncedPromise!: Promise<void>
  #resolveSynced!: () => void
  #rv: string | undefined
  #rvSource: (() => string | undefined) | undefined
  /** The read-only face handed to consumers. */
  readonly view: Store<T>

  constructor(indexers: Indexers<T> = {}) {
    this.#indexers = Object.entries(indexers)
    for (const [name, fn] of this.#indexers) {
      if (typeof fn !== 'function') throw new TypeError(`indexer ${JSON.stringify(name)} must be a function`)
      this.#indices.set(name, new Map())
    }
    this.#newSyncedPromise()
    this.view = this.#makeView()
  }

  get size(): number {
    return this.#objects.size
  }

  // --- KnownStore (what the watch delivered) -----------------------------------------

  get(key: string): KnownEntry | undefined {
    const object = this.#objects.get(key)
    if (object === undefined) return undefined
    const meta = object.metadata
    return { resourceVersion: meta?.resourceVersion ?? '', uid: meta?.uid, object }
  }

  versionOf(key: string): string | undefined {
    const object = this.#objects.get(key)
    return object === undefined ? undefined : (object.metadata?.resourceVersion ?? '')
  }

  keys(): IterableIterator<string> {
    return this.#objects.keys()
  }

  set(key: string, object: T): void {
    if (this.#indexers.length === 0) {
      this.#objects.set(key, object)
      return
    }
    this.#replace(key, object, this.#objects.get(key))
  }

  upsert(key: string, object: T): string | undefined {
    const old = this.#objects.get(key)
    if (this.#indexers.length === 0) this.#objects.set(key, object)
    else this.#replace(key, object, old)
    return old === undefined ? undefined : (old.metadata?.resourceVersion ?? '')
  }

  /** Stores `object` in place of `old` and moves its index entries. */
  #replace(key: string, object: T, old: T | undefined): void {
    this.#objects.set(key, object)
    if (old !== undefined) this.#unindex(key, old)
    for (const [name, fn] of this.#indexers) {
      const index = this.#indices.get(name) as Map<string, Set<string>>
      for (const value of fn(object)) {
        let keys = index.get(value)
        if (!keys) index.set(value, (keys = new Set()))
        keys.add(key)
      }
    }
  }

  delete(key: string): void {
    const old = this.#objects.get(key)
    if (old === undefined) return
    this.#objects.delete(key)
    if (this.#indexers.length > 0) this.#unindex(key, old)
  }

  /** Empties the store and marks it not synced (a rebuild follows). */
  clear(): void {
    this.#objects.clear()
    for (const index of this.#indices.values()) index.clear()
    if (this.#synced) {
      this.#synced = false
      this.#newSyncedPromise()
    }
  }

  // --- sync bookkeeping --------------------------------------------------------------

  /** Records how far the store has been brought (a list's, event's or bookmark's RV). */
  setResourceVersion(resourceVersion: string): void {
    this.#rv = resourceVersion
  }

  /**
   * Reads the resourceVersion from `source` from now on (e.g. the watch's exact last
   * resourceVersion, which bookmarks advance too), falling back to the last one set.
   */
  followResourceVersion(source: () => string | undefined): void {
    this.#rvSource = source
  }

  /** Marks the initial list as complete. */
  markSynced(resourceVersion?: string): void {
    if (resourceVersion !== undefined) this.#rv = resourceVersion
    if (this.#synced) return
    this.#synced = true
    this.#resolveSynced()
  }

  #newSyncedPromise(): void {
    this.#syncedPromise = new Promise((resolve) => {
      this.#resolveSynced = resolve
    })
  }

  #unindex(key: string, old: T): void {
    for (const [name, fn] of this.#indexers) {
      const index = this.#indices.get(name) as Map<string, Set<string>>
      for (const value of fn(old)) {
        const keys = index.get(value)
        if (!keys) continue
        keys.delete(key)
        if (keys.size === 0) index.delete(value)
      }
    }
  }

  #index(name: string): Map<string, Set<string>> {
    const index = this.#indices.get(name)
    if (!index) throw new UnknownIndexError(name, [...this.#indices.keys()])
    return index
  }

  #makeView(): Store<T> {
    const objects = this.#objects
    const writer = this
    return Object.freeze({
      get: (ref: ObjectRef) => objects.get(keyOfRef(ref)),
      getByKey: (key: string) => objects.get(key),
      has: (key: string) => objects.has(key),
      list: () => Array.from(objects.values()),
      keys: () => Array.from(objects.keys()),
      get size() {
        return objects.size
      },
      byIndex: (name: string, value: string) => {
        const keys = writer.#index(name).get(value)
        const out: T[] = []
        if (keys) for (const key of keys) out.push(objects.get(key) as T)
        return out
      },
      indexKeys: (name: string, value: string) => Array.from(writer.#index(name).get(value) ?? []),
      indexValues: (name: string) => Array.from(writer.#index(name).keys()),
      get hasSynced() {
        return writer.#synced
      },
      get synced() {
        return writer.#syncedPromise
      },
      get lastSyncResourceVersion() {
        return writer.#rvSource?.() ?? writer.#rv
      },
    })
  }
}
