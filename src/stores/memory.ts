/**
 * `MemoryStore`: the default store. Bounded, sweeps expired entries, loses everything on
 * restart (and says so once in production).
 * @module
 */
import { emitWarning, processLike } from '../core/runtime.js'
import type { AuthXStore } from '../core/store.js'

/** Options of `new MemoryStore()`. */
export interface MemoryStoreOptions {
  /** Most entries kept; when full, the entries that expire soonest are evicted. Default `100000`. */
  maxEntries?: number
  /** Milliseconds since the epoch, for expiry. Default `Date.now`. */
  clock?: () => number
}

interface Entry {
  value: string
  expiresAt: number
}

let warned = false
const SWEEP_EVERY = 1024

/**
 * A bounded in-memory {@link AuthXStore}. Fine for tests and single-process development; use
 * SQLite, Redis or Postgres when revocations must survive a restart or be shared.
 *
 * @example
 * ```ts
 * const auth = new AuthX({ secretKey, store: new MemoryStore({ maxEntries: 10_000 }) })
 * ```
 */
export class MemoryStore implements AuthXStore {
  readonly #entries = new Map<string, Entry>()
  readonly #maxEntries: number
  readonly #clock: () => number
  #writes = 0

  constructor(options: MemoryStoreOptions = {}) {
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
    const now = this.#clock()
    return keys.map((key) => {
      const entry = this.#entries.get(key)
      if (entry === undefined) return null
      if (entry.expiresAt <= now) {
        this.#entries.delete(key)
        return null
      }
      return entry.value
    })
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
  }

  #put(key: string, value: string, ttlSeconds: number): void {
    if (!Number.isFinite(ttlSeconds) || ttlSeconds <= 0)
      throw new TypeError('ttlSeconds: expected a positive number')
    const now = this.#clock()
    this.#entries.delete(key)
    if (++this.#writes % SWEEP_EVERY === 0 || this.#entries.size >= this.#maxEntries) this.#sweep(now)
    if (this.#entries.size >= this.#maxEntries) this.#evict()
    this.#entries.set(key, { value, expiresAt: now + ttlSeconds * 1000 })
  }

  #sweep(now: number): void {
    for (const [key, entry] of this.#entries) if (entry.expiresAt <= now) this.#entries.delete(key)
  }

  /** Evicts the soonest-expiring tenth (at least one) so eviction is amortised. */
  #evict(): void {
    const count = Math.max(1, Math.floor(this.#maxEntries / 10))
    const soonest = [...this.#entries].sort((a, b) => a[1].expiresAt - b[1].expiresAt).slice(0, count)
    for (const [key] of soonest) this.#entries.delete(key)
  }
}
