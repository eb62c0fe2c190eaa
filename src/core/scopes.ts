/**
 * Scope matching: the one rule used everywhere (docs/token-types.md).
 * @module
 */

/**
 * Whether a held scope grants a required scope. Equal strings match (case-sensitive). A held
 * scope ending in `:*` grants its prefix and everything under `prefix:`. `*` alone is not a
 * wildcard, `:*` grants nothing, and the required scope is never treated as a pattern.
 *
 * @example
 * ```ts
 * scopeGrants('admin:*', 'admin:users:edit') // true
 * scopeGrants('admin:*', 'administrator') // false
 * ```
 */
export function scopeGrants(held: string, required: string): boolean {
  if (held === required) return true
  if (held.length < 3 || !held.endsWith(':*')) return false
  const prefix = held.slice(0, -2)
  if (required.length === prefix.length) return required === prefix
  return (
    required.length > prefix.length &&
    required.startsWith(prefix) &&
    required.charCodeAt(prefix.length) === 58
  )
}

/**
 * Whether the held scopes grant every required scope (true when none are required).
 *
 * @example
 * ```ts
 * hasAllScopes(['users:read', 'admin:*'], ['admin:users']) // true
 * ```
 */
export function hasAllScopes(held: readonly string[] | undefined, required: readonly string[]): boolean {
  for (const scope of required) {
    if (held === undefined || !held.some((h) => scopeGrants(h, scope))) return false
  }
  return true
}

/**
 * Whether the held scopes grant at least one required scope (false when none are required).
 *
 * @example
 * ```ts
 * hasSomeScope(['users:read'], ['admin', 'users:read']) // true
 * ```
 */
export function hasSomeScope(held: readonly string[] | undefined, required: readonly string[]): boolean {
  if (held === undefined) return false
  return required.some((scope) => held.some((h) => scopeGrants(h, scope)))
}

/**
 * The `scopes` claim when it is an array of strings, otherwise `undefined` (grants nothing).
 *
 * @example
 * ```ts
 * scopesOf(['a', 'b']) // ['a', 'b']
 * scopesOf('admin') // undefined
 * ```
 */
export function scopesOf(claim: unknown): readonly string[] | undefined {
  if (!Array.isArray(claim)) return undefined
  for (const s of claim) if (typeof s !== 'string') return undefined
  return claim as string[]
}

/**
 * An RFC 9068 `scope` claim (RFC 8693 section 4.2: space-separated scope tokens) as a list, or
 * `undefined` when it is not a string (grants nothing). Only read from RFC 9068 access tokens
 * (docs/token-types.md, "Explicit token types"): elsewhere a `scope` claim is custom data.
 *
 * @example
 * ```ts
 * scopesOfString('users:read admin:*') // ['users:read', 'admin:*']
 * scopesOfString(['admin']) // undefined
 * ```
 */
export function scopesOfString(claim: unknown): readonly string[] | undefined {
  if (typeof claim !== 'string') return undefined
  return claim.split(' ').filter((s) => s.length > 0)
}
