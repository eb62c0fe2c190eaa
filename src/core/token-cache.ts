/**
 * The verified-token cache (docs/performance.md): what `decodeToken` learnt about
 * a token string (signature, structure, registered claims) kept for the next request that sends
 * the same string. Type, revocation, CSRF, freshness and scopes are checked on every use; only
 * decoding is skipped. Entries never outlive `exp` (with the leeway), their key's retirement, or,
 * for keys from a remote JWKS, a minute; failures are never cached.
 * @module
 */

/** The claims of a decoded token, validated and deeply frozen. */
export type FrozenClaims = Readonly<Record<string, unknown>>

/**
 * Claims whose entry must be dropped at a given clock time (milliseconds): their key retires, or
 * their key came from a remote JWKS. Other tokens are kept as their claims alone (a smaller
 * entry); their time bounds (`iat`, `nbf`, `exp`) are claims.
 */
export class ExpiringClaims {
  constructor(
    readonly claims: FrozenClaims,
    readonly dropAt: number,
  ) {}
}

/** What the cache holds per token. */
export type CachedToken = FrozenClaims | ExpiringClaims

/**
 * A bounded map from token strings to decoded tokens, least recently used out first. Two
 * generations of half the size each (as in quick-lru): a hit in the newer one costs one lookup,
 * a hit in the older one moves the entry up, and when the newer one fills, the older one is
 * dropped whole. It holds at most `size` entries.
 *
 * @example
 * ```ts
 * const cache = new TokenCache(10_000)
 * cache.set(token, Object.freeze({ sub: 'u1', jti: 'j1', iat: 1700000000, type: 'access' }))
 * cache.get(token) // the claims
 * ```
 */
export class TokenCache {
  readonly #half: number
  #recent = new Map<string, CachedToken>()
  #older = new Map<string, CachedToken>()

  /** @param size Most entries held; at least 1. */
  constructor(size: number) {
    this.#half = Math.ceil(size / 2)
  }

  /** Entries held now. */
  get size(): number {
    return this.#recent.size + this.#older.size
  }

  /** The entry for the token, marked as the most recently used. */
  get(token: string): CachedToken | undefined {
    const entry = this.#recent.get(token)
    if (entry !== undefined) return entry
    const older = this.#older.get(token)
    if (older === undefined) return undefined
    this.#older.delete(token)
    this.#add(token, older)
    return older
  }

  /** Drops the token's entry. */
  delete(token: string): void {
    this.#recent.delete(token)
    this.#older.delete(token)
  }

  /** Keeps a decoded token. */
  set(token: string, entry: CachedToken): void {
    this.#older.delete(token)
    this.#add(token, entry)
  }

  #add(token: string, entry: CachedToken): void {
    this.#recent.set(token, entry)
    if (this.#recent.size >= this.#half) {
      this.#older = this.#recent
      this.#recent = new Map()
    }
  }
}
