import { KubevisorError } from '../errors.ts'
import { type KubeObject, objectKey, resourceVersionOf, tombstone } from './object.ts'

/** What the consumer was last given for one key. */
export interface KnownEntry {
  /** `metadata.resourceVersion` of the last delivered version. */
  readonly resourceVersion: string
  /** `metadata.uid`, for tombstones. */
  readonly uid?: string | undefined
  /** The last delivered object, when the store keeps objects. */
  readonly object?: KubeObject | undefined
}

/**
 * Read access to what was delivered, keyed by `namespace/name` (`name` when
 * cluster-scoped): the input of {@link diffRelist}. The consumer decides what it keeps —
 * versions only, or whole objects (then vanished objects are delivered whole).
 */
export interface KnownObjects {
  get(key: string): KnownEntry | undefined
  /**
   * Optional fast path of `get(key)?.resourceVersion` that allocates nothing: the engine
   * asks it once per watch event.
   */
  versionOf?(key: string): string | undefined
  /** Every known key (iteration order is the order `deleted` changes come out in). */
  keys(): Iterable<string>
  readonly size: number
}

/** A {@link KnownObjects} the runner writes as it hands events to the consumer. */
export interface KnownStore extends KnownObjects {
  set(key: string, object: KubeObject): void
  /**
   * Optional fast path of `versionOf(key)` followed by `set(key, object)`, in one lookup:
   * records `object` and returns the resourceVersion recorded before (`undefined` for a
   * new key). The runner uses it for every live ADDED and MODIFIED event; the known-version
   * record is the largest per-event cost after `JSON.parse` (`bench/pipeline.ts`).
   */
  upsert?(key: string, object: KubeObject): string | undefined
  delete(key: string): void
  /** Forget everything (e.g. before a full resync of a restarted handler). */
  clear(): void
}

/** A {@link KnownEntry} as {@link KnownVersions} keeps it: updated in place by `upsert`. */
interface Entry {
  resourceVersion: string
  uid: string | undefined
  object?: KubeObject | undefined
}

/**
 * The default {@link KnownStore}: a `Map` of key → resourceVersion (+ uid), and the whole
 * object when `keepObjects` is set. Entries are updated in place by `upsert`, so a `get`
 * result reflects later events (read it, do not keep it). Without objects, a relist
 * delivers a vanished object as a tombstone (see `tombstone` in `object.ts`); with them,
 * as its last known version.
 *
 * @example
 * ```ts
 * const known = new KnownVersions({ keepObjects: true })
 * const runner = new WatchRunner({ client, known })
 * ```
 */
export class KnownVersions implements KnownStore {
  readonly #entries = new Map<string, Entry>()
  readonly #keepObjects: boolean

  constructor(options: { keepObjects?: boolean } = {}) {
    this.#keepObjects = options.keepObjects ?? false
  }

  get size(): number {
    return this.#entries.size
  }

  get(key: string): KnownEntry | undefined {
    return this.#entries.get(key)
  }

  versionOf(key: string): string | undefined {
    return this.#entries.get(key)?.resourceVersion
  }

  keys(): Iterable<string> {
    return this.#entries.keys()
  }

  set(key: string, object: KubeObject): void {
    const resourceVersion = resourceVersionOf(object)
    const uid = object.metadata?.uid
    this.#entries.set(key, this.#keepObjects ? { resourceVersion, uid, object } : { resourceVersion, uid })
  }

  upsert(key: string, object: KubeObject): string | undefined {
    const entry = this.#entries.get(key)
    if (entry === undefined) {
      this.set(key, object)
      return undefined
    }
    const previous = entry.resourceVersion
    entry.resourceVersion = resourceVersionOf(object)
    const uid = object.metadata?.uid
    if (entry.uid !== uid) entry.uid = uid // keeps the old string when equal: nothing new to promote
    if (this.#keepObjects) entry.object = object
    return previous
  }

  delete(key: string): void {
    this.#entries.delete(key)
  }

  clear(): void {
    this.#entries.clear()
  }
}

/** The resourceVersion `known` recorded for `key` (through `versionOf` when it has it). */
export function versionIn(known: KnownObjects, key: string): string | undefined {
  return known.versionOf ? known.versionOf(key) : known.get(key)?.resourceVersion
}

/** Convenience for tests and callers: fills a store from objects. */
export function knownFrom(objects: Iterable<KubeObject>, options: { keepObjects?: boolean } = {}): KnownVersions {
  const known = new KnownVersions(options)
  for (const object of objects) known.set(objectKey(object), object)
  return known
}

/**
 * One entry of what a consumer persisted alongside a resume resourceVersion: a
 * `[key, resourceVersion]` pair (e.g. an entry of a `Map<string, string>`), or a whole
 * object (its key is read from `metadata`).
 */
export type KnownRecord = readonly [key: string, resourceVersion: string] | KubeObject

/**
 * A resume point that cannot be used (`ERR_INVALID_RESUME`): an empty resourceVersion, or a
 * {@link KnownRecord} that is neither a `[key, resourceVersion]` pair nor an object with a
 * name and a resourceVersion. The message names the record.
 */
export class InvalidResumeError extends KubevisorError {
  constructor(message: string) {
    super('ERR_INVALID_RESUME', message)
  }
}

/**
 * Records what a consumer already holds into `known`, so that a resumed watch classifies
 * against it: a MODIFIED or a new-version ADDED of a listed key is `modified`, and a relist
 * after 410 reports `deleted` for listed keys that vanished. Pairs are recorded as
 * tombstones (name, namespace, resourceVersion); `objectsOnly` refuses them (a store that
 * hands out the objects it records needs whole objects).
 *
 * @throws {InvalidResumeError} for an entry that is neither form, or a pair when `objectsOnly`.
 * @example
 * ```ts
 * seedKnown(known, new Map([['default/web', '4711']]))   // what the consumer persisted
 * ```
 */
export function seedKnown(known: KnownStore, records: Iterable<KnownRecord>, options: { objectsOnly?: boolean } = {}): number {
  let count = 0
  for (const record of records) {
    if (Array.isArray(record)) {
      const [key, resourceVersion] = record as readonly unknown[]
      if (typeof key !== 'string' || key === '' || typeof resourceVersion !== 'string' || resourceVersion === '') {
        throw new InvalidResumeError(`a known record pair must be [key, resourceVersion] with non-empty strings, got ${JSON.stringify(record)}`)
      }
      if (options.objectsOnly) {
        throw new InvalidResumeError(`known record ${key}: give whole objects, not [key, resourceVersion] pairs, when the watcher keeps a store (the store hands them out)`)
      }
      known.set(key, tombstone(key, { resourceVersion }, {}))
    } else {
      const object = record as KubeObject
      const name = object?.metadata?.name
      const resourceVersion = object?.metadata?.resourceVersion
      if (typeof name !== 'string' || name === '' || typeof resourceVersion !== 'string' || resourceVersion === '') {
        throw new InvalidResumeError('a known record object needs metadata.name and metadata.resourceVersion')
      }
      known.set(objectKey(object), object)
    }
    count++
  }
  return count
}
