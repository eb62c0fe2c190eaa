/**
 * `MemoryStore`: the default store. Bounded, sweeps expired entries, loses everything on
 * restart (and says so once in production). When full of live entries it refuses new keys
 * rather than forget one: a forgotten revocation would make a revoked token valid again.
 * @module
 */
import { ConfigError } from '../core/errors.js'
import { emitWarning, processLike } from '../core/runtime.js'
import type { AuthXStore, RateLimitHit } from '../core/store.js'

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
  /** The index (`putIndexed`) that lists this entry while it lives. */
  readonly index: string | undefined
}

/** The sliding log of one rate-limited key (`hit`). */
interface Window {
  /** Epoch milliseconds of the allowed hits still in the window, oldest first; at most `max`. */
  readonly log: number[]
  /** The window of the last hit, to tell when the key went idle. */
  windowMs: number
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
 * as long as the token it revokes. Overwriting a key it holds always works. Indexed records
 * (sessions, `putIndexed`) are entries like any other and count toward `maxEntries`.
 *
 * Rate-limit windows (`hit`) are kept apart, in a map of their own bounded by the same
 * `maxEntries` number, so rate limiting can never crowd out a revocation. When that map is full, a
 * hit on a new key evicts the window of the key hit least recently. Evicting resets that key's
 * count, which lets it through early; that is acceptable where evicting a revocation is not: an
 * attacker must keep `maxEntries` other keys busier than it to get there, and gains a few hits,
 * never a revoked token.
 *
 * @example
 * ```ts
 * const auth = new AuthX({ secretKey, store: new MemoryStore({ maxEntries: 10_000 }) })
 * ```
 */
export class MemoryStore implements AuthXStore {
  readonly #entries = new Map<string, Entry>()
  readonly #expiries = new ExpiryHeap()
  /** Keys listed by each index; only keys of entries the map holds (so it never outgrows it). */
  readonly #indexes = new Map<string, Set<string>>()
  /** Rate-limit windows, least recently hit first (Map order). */
  readonly #windows = new Map<string, Window>()
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
        this.#remove(entry)
        values[i] = null
      } else values[i] = entry.value
    }
    return values
  }

  async set(key: string, value: string, ttlSeconds: number): Promise<void> {
    // A live indexed entry stays listed (as on the other stores); an expired one is gone.
    this.#put(key, value, ttlSeconds, this.#live(key)?.index)
  }

  async setIfAbsent(key: string, value: string, ttlSeconds: number): Promise<boolean> {
    // No await between the check and the write: atomic within the process.
    const entry = this.#entries.get(key)
    if (entry !== undefined && entry.expiresAt > this.#clock()) return false
    this.#put(key, value, ttlSeconds, undefined)
    return true
  }

  /** Removes the key's value (and its index listing) and forgets its rate-limit window. */
  async delete(key: string): Promise<void> {
    const entry = this.#entries.get(key)
    if (entry !== undefined) this.#remove(entry)
    this.#windows.delete(key)
  }

  /**
   * One hit on the sliding window of `key`: a log of the allowed hits, so the window is exact
   * (never a fixed window or an estimate). Synchronous, so atomic within the process.
   *
   * @example
   * ```ts
   * await store.hit('rl:login:alice', 60, 5) // { allowed: true, count: 1, resetAt: Date.now() + 60_000 }
   * ```
   */
  async hit(key: string, windowSeconds: number, max: number): Promise<RateLimitHit> {
    checkHit(key, windowSeconds, max)
    const now = this.#clock()
    const windowMs = windowSeconds * 1000
    this.#pruneWindows(now)
    let window = this.#windows.get(key)
    if (window === undefined) {
      // Full: evict the least recently hit window, never an entry (see the class comment).
      if (this.#windows.size >= this.#maxEntries) {
        const lru = this.#windows.keys().next()
        if (!lru.done) this.#windows.delete(lru.value)
      }
      window = { log: [], windowMs }
    } else {
      // Moved to the end: the map's order is the order of the last hits.
      this.#windows.delete(key)
    }
    window.windowMs = windowMs
    const { log } = window
    const from = now - windowMs
    let dropped = 0
    while (dropped < log.length && log[dropped]! <= from) dropped++
    log.splice(0, dropped)
    const allowed = log.length < max
    if (allowed) log.push(now)
    // An empty log after a denied hit cannot happen (max >= 1); kept out of the map if it did.
    if (log.length > 0) this.#windows.set(key, window)
    return { allowed, count: log.length, resetAt: (log[0] ?? now) + windowMs }
  }

  /**
   * Stores `value` under `key` (read by `get`) and lists it in `index` while it lives.
   *
   * @example
   * ```ts
   * await store.putIndexed('sesx:iss:alice', 'ses:iss:s1', '{"ip":"203.0.113.7"}', 86_400)
   * ```
   */
  async putIndexed(index: string, key: string, value: string, ttlSeconds: number): Promise<void> {
    this.#put(key, value, ttlSeconds, index)
  }

  /**
   * Replaces the value and time to live of `key` only while it lives; `false`, and nothing
   * written, when it is absent or expired (a deleted record never comes back).
   *
   * @example
   * ```ts
   * await store.updateIndexed('sesx:iss:alice', 'ses:iss:s1', '{"ip":"203.0.113.8"}', 86_400) // true
   * ```
   */
  async updateIndexed(index: string, key: string, value: string, ttlSeconds: number): Promise<boolean> {
    checkTtl(ttlSeconds)
    if (this.#live(key) === undefined) return false
    this.#put(key, value, ttlSeconds, index)
    return true
  }

  /**
   * Every live `[key, value]` listed in `index`; drops the expired ones it meets.
   *
   * @example
   * ```ts
   * await store.listIndexed('sesx:iss:alice') // [['ses:iss:s1', '{"ip":"203.0.113.7"}']]
   * ```
   */
  async listIndexed(index: string): Promise<[string, string][]> {
    const keys = this.#indexes.get(index)
    if (keys === undefined) return []
    const now = this.#clock()
    const found: [string, string][] = []
    for (const key of [...keys]) {
      const entry = this.#entries.get(key)
      if (entry === undefined) keys.delete(key)
      else if (entry.expiresAt <= now) this.#remove(entry)
      else found.push([key, entry.value])
    }
    if (keys.size === 0) this.#indexes.delete(index)
    return found
  }

  /**
   * Removes `key`, its value and its listing.
   *
   * @example
   * ```ts
   * await store.deleteIndexed('sesx:iss:alice', 'ses:iss:s1')
   * ```
   */
  async deleteIndexed(index: string, key: string): Promise<void> {
    const entry = this.#entries.get(key)
    if (entry !== undefined) this.#remove(entry)
    // Defensive: a listing without its entry cannot exist, but must not outlive it if it did.
    const keys = this.#indexes.get(index)
    if (keys?.delete(key) && keys.size === 0) this.#indexes.delete(index)
  }

  async close(): Promise<void> {
    this.#entries.clear()
    this.#expiries.clear()
    this.#indexes.clear()
    this.#windows.clear()
  }

  /** The entry of `key` when it has not expired. */
  #live(key: string): Entry | undefined {
    const entry = this.#entries.get(key)
    return entry !== undefined && entry.expiresAt > this.#clock() ? entry : undefined
  }

  /** Takes an entry out of the map and out of its index, so no index keeps a dead key. */
  #remove(entry: Entry): void {
    this.#entries.delete(entry.key)
    this.#unlist(entry)
  }

  #unlist(entry: Entry): void {
    if (entry.index === undefined) return
    const keys = this.#indexes.get(entry.index)
    if (keys?.delete(entry.key) && keys.size === 0) this.#indexes.delete(entry.index)
  }

  /** Forgets the windows, least recently hit first, whose every hit has left the window. */
  #pruneWindows(now: number): void {
    for (const [key, window] of this.#windows) {
      const newest = window.log[window.log.length - 1]
      if (newest !== undefined && newest > now - window.windowMs) return
      this.#windows.delete(key)
    }
  }

  #put(key: string, value: string, ttlSeconds: number, index: string | undefined): void {
    checkTtl(ttlSeconds)
    const now = this.#clock()
    this.#sweep(now)
    // A key already held takes no room: overwriting it always works.
    if (!this.#entries.has(key) && this.#entries.size >= this.#maxEntries) {
      // Refused, never evicted: an evicted revocation would make a revoked token valid again.
      throw new Error(
        `MemoryStore is full: ${this.#maxEntries} entries that have not expired (maxEntries); the write was refused`,
      )
    }
    const entry: Entry = { key, value, expiresAt: now + ttlSeconds * 1000, index }
    const previous = this.#entries.get(key)
    if (previous !== undefined && previous.index !== index) this.#unlist(previous)
    this.#entries.set(key, entry)
    this.#expiries.push(entry)
    if (index !== undefined) {
      let keys = this.#indexes.get(index)
      if (keys === undefined) {
        keys = new Set()
        this.#indexes.set(index, keys)
      }
      keys.add(key)
    }
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
      if (this.#entries.get(next.key) === next) this.#remove(next)
      next = this.#expiries.peek()
    }
  }
}

function checkTtl(ttlSeconds: number): void {
  if (!Number.isFinite(ttlSeconds) || ttlSeconds <= 0)
    throw new TypeError('ttlSeconds: expected a positive number')
}

/** The arguments of `hit`, checked as on every built-in store (SPEC 9.3). */
function checkHit(key: string, windowSeconds: number, max: number): void {
  if (typeof key !== 'string') throw new TypeError('key: expected a string')
  if (typeof windowSeconds !== 'number' || !Number.isFinite(windowSeconds) || windowSeconds <= 0)
    throw new TypeError('windowSeconds: expected a positive number')
  if (!Number.isSafeInteger(max) || max < 1) throw new TypeError('max: expected a positive whole number')
}
