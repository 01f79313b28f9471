/** An in-memory ResourceLock for elector tests: optimistic concurrency like a Lease, failures on demand. */
import type { LeaderElectionRecord, ObservedRecord, ResourceLock } from '../../lib/manager/resourcelock.ts'

/** The object the locks share (a Lease stand-in). */
export class MemoryLease {
  record: LeaderElectionRecord | undefined
  version = 0
  /** While true, every request fails (the API server refuses or is unreachable). */
  down = false
  /** Requests that hang until aborted (a stalled network). */
  stall = false
  writes: { identity: string; record: LeaderElectionRecord }[] = []

  /** Someone outside the election overwrites the record (e.g. `kubectl edit`). */
  takeOver(holder: string): void {
    this.record = { ...(this.record as LeaderElectionRecord), holderIdentity: holder, renewTime: new Date().toISOString() }
    this.version++
  }
}

export class MemoryLock implements ResourceLock {
  readonly lease: MemoryLease
  readonly #identity: string
  #seen: number | undefined

  constructor(lease: MemoryLease, identity: string) {
    this.lease = lease
    this.#identity = identity
  }

  async #io(signal: AbortSignal): Promise<void> {
    await Promise.resolve()
    if (this.lease.stall) {
      await new Promise((_, reject) => {
        if (signal.aborted) reject(signal.reason)
        signal.addEventListener('abort', () => reject(signal.reason), { once: true })
      })
    }
    signal.throwIfAborted()
    if (this.lease.down) throw new Error('HTTP 500: injected')
  }

  async get(signal: AbortSignal): Promise<ObservedRecord | undefined> {
    await this.#io(signal)
    if (!this.lease.record) return undefined
    this.#seen = this.lease.version
    return { record: { ...this.lease.record }, raw: JSON.stringify(this.lease.record) }
  }

  async create(record: LeaderElectionRecord, signal: AbortSignal): Promise<void> {
    await this.#io(signal)
    if (this.lease.record) throw new Error('HTTP 409: AlreadyExists')
    this.lease.record = { ...record }
    this.#seen = ++this.lease.version
    this.lease.writes.push({ identity: this.#identity, record: { ...record } })
  }

  async update(record: LeaderElectionRecord, signal: AbortSignal): Promise<void> {
    await this.#io(signal)
    if (this.#seen === undefined) throw new Error('lease not initialized, call get or create first')
    if (this.#seen !== this.lease.version) throw new Error('HTTP 409: Conflict')
    this.lease.record = { ...record }
    this.#seen = ++this.lease.version
    this.lease.writes.push({ identity: this.#identity, record: { ...record } })
  }

  identity(): string {
    return this.#identity
  }

  describe(): string {
    return 'test/lease'
  }
}
