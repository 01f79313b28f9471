/**
 * Pure functions that turn the engine's output into what a consumer sees: a relist batch
 * diffed against what was delivered ({@link diffRelist}), and live watch events checked
 * against it ({@link classifyEvent}). Together they give "never an event twice, never an
 * update without a change": a reconnect or a 410 relist delivers real changes only
 * (the complaint of client-node #301).
 */
import { type KnownObjects, versionIn } from './known.ts'
import { type KubeObject, objectKey, resourceVersionOf, tombstone } from './object.ts'

/** A change for the consumer. `key` is `namespace/name` (or `name`). */
export interface Change {
  type: 'created' | 'modified' | 'deleted'
  key: string
  object: KubeObject
}

/**
 * Diffs a complete list against what was delivered: `created` for keys not known,
 * `modified` for known keys whose resourceVersion differs, nothing for known keys with
 * the same resourceVersion, and `deleted` for known keys the list lacks — carrying the
 * last known object when `known` keeps objects, else a minimal tombstone (`apiVersion`,
 * `kind`, `metadata.{name, namespace, uid, resourceVersion}` of the last delivered version).
 *
 * Order: `created`/`modified` in list order, then `deleted` in `known`'s key order.
 * `type` names the kind for tombstones; by default it is read from the listed objects.
 *
 * @example
 * ```ts
 * const changes = diffRelist(known, listed)   // after a 410: only what really changed
 * ```
 */
export function diffRelist(
  known: KnownObjects,
  listed: Iterable<KubeObject>,
  type: { apiVersion?: string | undefined; kind?: string | undefined } = {},
): Change[] {
  const changes: Change[] = []
  const seen = new Set<string>()
  const kind = { apiVersion: type.apiVersion, kind: type.kind }
  for (const object of listed) {
    kind.apiVersion ??= object.apiVersion
    kind.kind ??= object.kind
    const change = classifyListed(known, seen, object)
    if (change !== undefined) changes.push(change)
  }
  for (const change of vanished(known, seen, kind)) changes.push(change)
  return changes
}

/**
 * One object of a list, diffed against what was delivered: `created` for an unknown key,
 * `modified` for another resourceVersion, nothing for the same one (or a key already seen
 * in this list). Records the key in `seen`. The streaming form of {@link diffRelist}: a
 * relist can be diffed page by page, keeping only keys, never the listed objects.
 */
export function classifyListed(known: KnownObjects, seen: Set<string>, object: KubeObject): Change | undefined {
  const key = objectKey(object)
  if (seen.has(key)) return undefined
  seen.add(key)
  const version = versionIn(known, key)
  if (version === undefined) return { type: 'created', key, object }
  if (version !== resourceVersionOf(object)) return { type: 'modified', key, object }
  return undefined
}

/**
 * The `deleted` changes after a complete list: every known key the list did not contain,
 * with the last known object, or a tombstone of the given kind. In `known`'s key order.
 */
export function vanished(known: KnownObjects, seen: Set<string>, type: { apiVersion?: string | undefined; kind?: string | undefined }): Change[] {
  const changes: Change[] = []
  for (const key of known.keys()) {
    if (seen.has(key)) continue
    const entry = known.get(key)
    if (entry === undefined) continue
    // A record seeded from a persisted `[key, resourceVersion]` pair has no kind: a tombstone of the given kind instead.
    const object = entry.object !== undefined && entry.object.kind !== undefined ? entry.object : tombstone(key, entry, type)
    changes.push({ type: 'deleted', key, object })
  }
  return changes
}

/**
 * How much of the consumer's state `known` holds: `'complete'` after a list (or a resume
 * given what the consumer holds), `'partial'` after a resume without it — then `known`
 * holds only what arrived since, and an object missing from it may still be one the
 * consumer has (it existed at the resume point).
 */
export type Knowledge = 'complete' | 'partial'

/**
 * Classifies one live watch event against what was delivered, so a replayed or
 * reordered-by-reconnect event never reaches the consumer twice: ADDED of a known key
 * with the same resourceVersion → nothing (a duplicate), ADDED of a known key with
 * another version → `modified`, MODIFIED of an unknown key → `created` (`modified` with
 * `'partial'` knowledge), DELETED of a known key → `deleted` with the event's object (the
 * final state the server sent), DELETED of an unknown key → nothing ("no `deleted` for an
 * object never delivered"; `deleted` with `'partial'` knowledge).
 */
export function classifyEvent(
  known: KnownObjects,
  type: 'added' | 'modified' | 'deleted',
  object: KubeObject,
  knowledge: Knowledge = 'complete',
): Change | undefined {
  const key = objectKey(object)
  const previous = versionIn(known, key)
  if (type === 'deleted') return liveDelete(previous, knowledge) ? { type: 'deleted', key, object } : undefined
  const change = liveChange(type, previous, resourceVersionOf(object), knowledge)
  return change === undefined ? undefined : { type: change, key, object }
}

/**
 * {@link classifyEvent}'s rule for a live ADDED or MODIFIED event, given the version
 * recorded before it (`previous`, undefined for an unknown key) and the event's own:
 * `created` for an unknown key (a MODIFIED of one is `modified` with `'partial'`
 * knowledge: it existed at the resume point, else an ADDED would have come first), nothing
 * for an ADDED at the recorded version (a replay), `modified` otherwise.
 */
export function liveChange(type: 'added' | 'modified', previous: string | undefined, version: string, knowledge: Knowledge = 'complete'): 'created' | 'modified' | undefined {
  if (previous === undefined) return type === 'modified' && knowledge === 'partial' ? 'modified' : 'created'
  if (type === 'added' && previous === version) return undefined
  return 'modified'
}

/** {@link classifyEvent}'s rule for a live DELETED: delivered for a known key, or any key with `'partial'` knowledge. */
export function liveDelete(previous: string | undefined, knowledge: Knowledge = 'complete'): boolean {
  return previous !== undefined || knowledge === 'partial'
}
