/**
 * The store interface behind revocation and refresh-token rotation (docs/revocation.md).
 * @module
 */

/**
 * A store of short strings with a time to live. `get` takes every key of one check, so a
 * verification costs one round trip; `setIfAbsent` is atomic (it consumes refresh tokens).
 *
 * @example
 * ```ts
 * const store: AuthXStore = new MemoryStore()
 * await store.set('k', 'v', 60)
 * await store.get(['k']) // ['v']
 * ```
 */
export interface AuthXStore {
  /** Values for the keys, `null` for absent or expired ones, in the same order; one round trip. */
  get(keys: string[]): Promise<(string | null)[]>
  /**
   * Optional: `get` answered at once from memory the store keeps up to date (MemoryStore, a
   * mirror of a shared store), or `undefined` when it cannot answer now, in which case authx
   * calls `get`. authx uses it for the revocation check on every verification, so a store that
   * has it costs no wait and no promise there. A throw counts as the store being unavailable.
   */
  getLocal?(keys: string[]): (string | null)[] | undefined
  /** Sets a value that expires after `ttlSeconds`. */
  set(key: string, value: string, ttlSeconds: number): Promise<void>
  /** Sets the value only when the key is absent; `true` when it was set. Atomic. */
  setIfAbsent(key: string, value: string, ttlSeconds: number): Promise<boolean>
  /** Removes a key. */
  delete(key: string): Promise<void>
  /** Releases what the store opened itself; may be called twice. */
  close?(): Promise<void>
  /**
   * Optional (rate limiting, docs/rate-limiting.md): one hit on the sliding window of `key`,
   * atomic across every client of the store. When fewer than `max` hits were allowed within the
   * last `windowSeconds`, this hit is allowed and recorded; otherwise it is denied and not
   * recorded; `allowed` says which. `count`: the hits allowed in the window, this one included
   * when allowed (so a denied hit answers `count >= max`). `resetAt`: epoch milliseconds at which the oldest hit
   * still in the window leaves it (a slot frees up). `delete(key)` forgets the window. A store
   * without `hit` makes `auth.rateLimiter()` a `ConfigError`.
   */
  hit?(key: string, windowSeconds: number, max: number): Promise<RateLimitHit>
  /**
   * Optional (sessions, docs/sessions.md): stores `value` under `key` for `ttlSeconds` (so `get`
   * reads it) and lists `key` in `index` for as long. Replaces a value already there.
   */
  putIndexed?(index: string, key: string, value: string, ttlSeconds: number): Promise<void>
  /**
   * Optional (sessions): replaces the value of `key`, still listed in `index`, and its time to
   * live, only while it is live; `false` (nothing written) when it is absent or expired, so a
   * deleted record never comes back.
   */
  updateIndexed?(index: string, key: string, value: string, ttlSeconds: number): Promise<boolean>
  /** Optional (sessions): every live `[key, value]` listed in `index`, in any order; one round trip. */
  listIndexed?(index: string): Promise<[string, string][]>
  /** Optional (sessions): removes `key` and its value from `index`. */
  deleteIndexed?(index: string, key: string): Promise<void>
  /**
   * Optional: calls `listener` with the store's own events (circuit breaker, mirror); returns
   * the function that stops it. `new AuthX()` forwards them to `auth.on()` listeners.
   */
  onEvent?(listener: StoreEventListener): () => void
}

/**
 * What a store's `hit` answers (SPEC 9.3, plus `allowed`: with `count` alone a hit that took the
 * last slot and a denied hit at a full window would both answer `count === max`).
 */
export interface RateLimitHit {
  /** Whether this hit was allowed (and recorded). */
  allowed: boolean
  /** Hits allowed within the window, this one included when it was allowed. */
  count: number
  /** Epoch milliseconds at which the oldest hit in the window leaves it. */
  resetAt: number
}

/** Events of the built-in stores that talk to a server (docs/stores.md). */
export interface StoreEvents {
  /** Failures in a row reached the threshold: calls fail at once for `coolDownMs`. */
  'store.circuit_open': { store: string; failures: number; coolDownMs: number }
  /** The cool-down is over: one call goes through as a probe. */
  'store.circuit_half_open': { store: string }
  /** A call succeeded after the circuit was open: calls run again. */
  'store.circuit_closed': { store: string }
  /** The mirror holds every revocation entry and answers reads from memory. */
  'store.mirror_live': { store: string; entries: number }
  /** The mirror stopped answering (reads go to the server) until it has reloaded. */
  'store.mirror_down': { store: string; reason: string }
}

/** A listener of every store event. */
export type StoreEventListener = <E extends keyof StoreEvents>(event: E, data: StoreEvents[E]) => void

/**
 * Whether a value has the methods of an {@link AuthXStore}.
 *
 * @example
 * ```ts
 * isStore(new MemoryStore()) // true
 * ```
 */
export function isStore(value: unknown): value is AuthXStore {
  if (typeof value !== 'object' || value === null) return false
  const store = value as Record<string, unknown>
  return ['get', 'set', 'setIfAbsent', 'delete'].every((m) => typeof store[m] === 'function')
}
