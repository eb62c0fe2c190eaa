/**
 * `MemoryStore`: the default store. Bounded, sweeps expired entries, loses everything on
 * restart (and says so once in production). When full of live entries it refuses new keys
 * rather than forget one: a forgotten revocation would make a revoked token valid again.
 * @module
 */
import { ConfigError } from '../core/errors.js'
import { emitWarning, processLike } from '../core/runtime.js'
import type { AuthXStore } from '../core/store.js'

/** Options of `new MemoryStore()`. */
export interface MemoryStoreOptions {
  /**
   * Most entries kept. When the store is full of entries that have not expired, a write of a
   * new key is refused (it rejects, so authx answers 503) instead of evicting one: evicting a
   * revocation would make the token it revoked valid again. Default `100000`.
   */
  maxEntries?: number
  /** Milliseconds since the epoch, for expiry. Default `Date.now`. */
  clock?: () => number
}

const KNOWN_OPTIONS = ['maxEntries', 'clock'] as const

interface Entry {
  readonly key: string
  readonly value: string
  readonly expiresAt: number
}

let warned = false

/**
 * A min-heap of entries by expiry, so expired entries are found without scanning the store.
 * An entry overwritten or deleted in the map stays here until it expires or the heap is
 * rebuilt; the map is the truth (an entry counts only while the map holds that very object).
 */
class ExpiryHeap {
  #items: Entry[] = []

  get length(): number {
    return this.#items.length
  }

  /** The soonest-expiring entry, or `undefined` when empty. */
  peek(): Entry | undefined {
    return this.#items[0]
  }

  push(entry: Entry): void {
    const items = this.#items
    items.push(entry)
    let i = items.length - 1
    while (i > 0) {
      const parent = (i - 1) >> 1
      if (items[parent]!.expiresAt <= entry.expiresAt) break
      items[i] = items[parent]!
      i = parent
    }
    items[i] = entry
  }

  pop(): Entry | undefined {
    const items = this.#items
    const top = items[0]
    const last = items.pop()
    if (top === undefined || last === undefined || items.length === 0) return top
    let i = 0
    for (;;) {
      const left = 2 * i + 1
      if (left >= items.length) break
      const right = left + 1
      const child = right < items.length && items[right]!.expiresAt < items[left]!.expiresAt ? right : left
      if (items[child]!.expiresAt >= last.expiresAt) break
      items[i] = items[child]!
      i = child
    }
    items[i] = last
    return top
  }

  /** Replaces the contents with `entries` (an array sorted by expiry is a valid heap). */
  rebuild(entries: Iterable<Entry>): void {
    this.#items = [...entries].sort((a, b) => a.expiresAt - b.expiresAt)
  }

  clear(): void {
    this.#items = []
  }
}

/**
 * A bounded in-memory {@link AuthXStore}. Fine for tests and single-process development; use
 * SQLite, Redis or Postgres when revocations must survive a restart or be shared.
 *
 * When it holds `maxEntries` entries that have not expired, writing a new key rejects (authx
 * answers 503, `StoreUnavailableError`) and nothing is evicted: a revocation, once written, lasts
 * as long as the token it revokes. Overwriting a key it holds always works.
 *
 * @example
 * ```ts
 * const auth = new AuthX({ secretKey, store: new MemoryStore({ maxEntries: 10_000 }) })
 * ```
 */
export class MemoryStore implements AuthXStore {
  readonly #entries = new Map<string, Entry>()
  readonly #expiries = new ExpiryHeap()
  readonly #maxEntries: number
  readonly #clock: () => number

  constructor(options: MemoryStoreOptions = {}) {
    if (typeof options !== 'object' || options === null)
      throw new TypeError('MemoryStore: expected an options object')
    for (const name of Object.keys(options)) {
      // A misspelt option must not pass silently (docs/stores.md), as in `new AuthX()`.
      if (!(KNOWN_OPTIONS as readonly string[]).includes(name))
        throw new ConfigError(`${name}: unknown option of MemoryStore (known: ${KNOWN_OPTIONS.join(', ')})`)
    }
    const maxEntries = options.maxEntries ?? 100_000
    if (!Number.isSafeInteger(maxEntries) || maxEntries < 1) {
      throw new TypeError('maxEntries: expected a positive whole number')
    }
    this.#maxEntries = maxEntries
    this.#clock = options.clock ?? Date.now
    if (!warned && processLike()?.env?.NODE_ENV === 'production') {
      warned = true
      emitWarning(
        'authx MemoryStore keeps revocations in memory: they are lost on restart and not shared between instances. Use SqliteStore, RedisStore or PostgresStore in production.',
        'AUTHX_MEMORY_STORE',
      )
    }
  }

  /** Number of live and not yet swept entries. */
  get size(): number {
    return this.#entries.size
  }

  async get(keys: string[]): Promise<(string | null)[]> {
    return this.#read(keys)
  }

  /**
   * `get`, answered at once: every entry is in memory. authx reads revocations this way, so a
   * verification on a MemoryStore waits for nothing. When `get` is replaced (a subclass, or a
   * wrapper set on the instance), this answers `undefined`, so authx calls that `get`.
   *
   * @example
   * ```ts
   * store.getLocal(['jti::abc']) // [null]
   * ```
   */
  getLocal(keys: string[]): (string | null)[] | undefined {
    if (this.get !== MemoryStore.prototype.get) return undefined
    return this.#read(keys)
  }

  #read(keys: string[]): (string | null)[] {
    const now = this.#clock()
    const values: (string | null)[] = new Array(keys.length)
    for (let i = 0; i < keys.length; i++) {
      const key = keys[i]!
      const entry = this.#entries.get(key)
      if (entry === undefined) values[i] = null
      else if (entry.expiresAt <= now) {
        this.#entries.delete(key)
        values[i] = null
      } else values[i] = entry.value
    }
    return values
  }

  async set(key: string, value: string, ttlSeconds: number): Promise<void> {
    this.#put(key, value, ttlSeconds)
  }

  async setIfAbsent(key: string, value: string, ttlSeconds: number): Promise<boolean> {
    // No await between the check and the write: atomic within the process.
    const entry = this.#entries.get(key)
    if (entry !== undefined && entry.expiresAt > this.#clock()) return false
    this.#put(key, value, ttlSeconds)
    return true
  }

  async delete(key: string): Promise<void> {
    this.#entries.delete(key)
  }

  async close(): Promise<void> {
    this.#entries.clear()
    this.#expiries.clear()
  }

  #put(key: string, value: string, ttlSeconds: number): void {
    if (!Number.isFinite(ttlSeconds) || ttlSeconds <= 0)
      throw new TypeError('ttlSeconds: expected a positive number')
    const now = this.#clock()
    this.#sweep(now)
    // A key already held takes no room: overwriting it always works.
    if (!this.#entries.has(key) && this.#entries.size >= this.#maxEntries) {
      // Refused, never evicted: an evicted revocation would make a revoked token valid again.
      throw new Error(
        `MemoryStore is full: ${this.#maxEntries} entries that have not expired (maxEntries); the write was refused`,
      )
    }
    const entry: Entry = { key, value, expiresAt: now + ttlSeconds * 1000 }
    this.#entries.set(key, entry)
    this.#expiries.push(entry)
    // Overwritten and deleted entries linger in the heap until they expire; rebuilding it from
    // the map when it holds twice as many as the map (and more than the bound) keeps memory
    // bounded, at a cost amortised over at least `maxEntries` writes.
    if (this.#expiries.length > 2 * Math.max(this.#entries.size, this.#maxEntries))
      this.#expiries.rebuild(this.#entries.values())
  }

  /** Drops every expired entry; costs only the entries dropped (logarithmic each). */
  #sweep(now: number): void {
    for (let next = this.#expiries.peek(); next !== undefined && next.expiresAt <= now; ) {
      this.#expiries.pop()
      // Only if the map still holds this very entry (not a newer one under the same key).
      if (this.#entries.get(next.key) === next) this.#entries.delete(next.key)
      next = this.#expiries.peek()
    }
  }
}
