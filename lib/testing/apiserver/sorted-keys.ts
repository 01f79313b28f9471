/**
 * The sorted key index of one resource in the embedded server's store: keys in byte order
 * (JavaScript string order, as etcd's lexicographic key order for ASCII keys), kept in
 * chunks of at most {@link MAX_CHUNK} so that an insert or a delete costs O(log n + chunk)
 * and a paged list can start at any key in O(log n) and count what remains in O(n / chunk)
 * without copying or sorting the whole collection (the layout of Python's
 * `sortedcontainers.SortedList`).
 *
 * Hand-written rather than taken from npm: the well-kept ordered collections there
 * (`sorted-btree`, `@js-sdsl/ordered-map`) have no rank query, which `remainingItemCount`
 * needs, and `functional-red-black-tree` allocates a path per update and is unmaintained.
 *
 * Invariants: every chunk is non-empty and sorted; the chunks are in order (the last key
 * of chunk i is below the first key of chunk i + 1); `maxes[i]` is the last key of
 * `chunks[i]`; `size` is the sum of the chunk lengths.
 */

/** A chunk splits in two past this many keys. */
const MAX_CHUNK = 1024

/** First index in sorted `a` whose element is >= `k` (a.length when none). */
function lowerBound(a: readonly string[], k: string): number {
  let lo = 0
  let hi = a.length
  while (lo < hi) {
    const mid = (lo + hi) >>> 1
    if (a[mid]! < k) lo = mid + 1
    else hi = mid
  }
  return lo
}

/** A position in a {@link SortedKeys}: chunk index and index within the chunk. */
export interface KeyPosition {
  chunk: number
  index: number
}

/** An ordered set of strings with O(log n) lookups and updates and O(n / 1024) rank. */
export class SortedKeys {
  #chunks: string[][] = []
  #maxes: string[] = []
  #size = 0

  /** Builds the index from keys in any order (one sort). */
  static from(keys: Iterable<string>): SortedKeys {
    const all = [...keys].sort()
    const s = new SortedKeys()
    for (let i = 0; i < all.length; i += MAX_CHUNK / 2) {
      const chunk = all.slice(i, i + MAX_CHUNK / 2)
      s.#chunks.push(chunk)
      s.#maxes.push(chunk[chunk.length - 1]!)
    }
    s.#size = all.length
    return s
  }

  /** Number of keys. */
  get size(): number {
    return this.#size
  }

  /** The chunk that holds `k` or would hold it. */
  #chunkFor(k: string): number {
    const c = lowerBound(this.#maxes, k)
    return c === this.#maxes.length ? c - 1 : c
  }

  /** Adds `k`; returns false when it was already there. */
  add(k: string): boolean {
    if (this.#chunks.length === 0) {
      this.#chunks.push([k])
      this.#maxes.push(k)
      this.#size = 1
      return true
    }
    const c = this.#chunkFor(k)
    const chunk = this.#chunks[c]!
    const i = lowerBound(chunk, k)
    if (chunk[i] === k) return false
    chunk.splice(i, 0, k)
    this.#size++
    if (i === chunk.length - 1) this.#maxes[c] = k
    if (chunk.length > MAX_CHUNK) {
      const tail = chunk.splice(MAX_CHUNK / 2)
      this.#chunks.splice(c + 1, 0, tail)
      this.#maxes.splice(c, 1, chunk[chunk.length - 1]!, tail[tail.length - 1]!)
    }
    return true
  }

  /** Removes `k`; returns false when it was not there. */
  delete(k: string): boolean {
    if (this.#chunks.length === 0) return false
    const c = this.#chunkFor(k)
    const chunk = this.#chunks[c]!
    const i = lowerBound(chunk, k)
    if (chunk[i] !== k) return false
    chunk.splice(i, 1)
    this.#size--
    if (chunk.length === 0) {
      this.#chunks.splice(c, 1)
      this.#maxes.splice(c, 1)
    } else if (i === chunk.length) {
      this.#maxes[c] = chunk[chunk.length - 1]!
    }
    return true
  }

  /** Whether `k` is in the set. */
  has(k: string): boolean {
    if (this.#chunks.length === 0) return false
    const chunk = this.#chunks[this.#chunkFor(k)]!
    return chunk[lowerBound(chunk, k)] === k
  }

  /** Number of keys below `k`. */
  rank(k: string): number {
    const c = lowerBound(this.#maxes, k)
    let n = 0
    for (let j = 0; j < c; j++) n += this.#chunks[j]!.length
    return c === this.#chunks.length ? n : n + lowerBound(this.#chunks[c]!, k)
  }

  /** The position of the first key >= `k` (past the end when none). */
  seek(k: string): KeyPosition {
    const c = lowerBound(this.#maxes, k)
    if (c === this.#chunks.length) return { chunk: c, index: 0 }
    return { chunk: c, index: lowerBound(this.#chunks[c]!, k) }
  }

  /** The key at `p` and advances `p`; undefined past the end. Valid while the set is unchanged. */
  next(p: KeyPosition): string | undefined {
    const chunk = this.#chunks[p.chunk]
    if (!chunk) return undefined
    const k = chunk[p.index]!
    if (++p.index === chunk.length) {
      p.chunk++
      p.index = 0
    }
    return k
  }

  /** Every key in order (a copy: O(n), for callers that need an array). */
  toArray(): string[] {
    return this.#chunks.flat()
  }
}
