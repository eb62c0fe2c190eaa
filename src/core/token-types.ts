/**
 * Explicit token types (RFC 8725 section 3.11, RFC 9068): which `typ` header each token type is
 * written with and required to carry. The default (`'jwt'`) writes `typ: 'JWT'` and reads the type
 * from the `type` claim only, as Python AuthX does.
 * @module
 */
import { ConfigError } from './errors.js'
import type { TokenType } from './payload.js'

/**
 * The `tokenTypes` option (docs/token-types.md, "Explicit token types"):
 * - `'jwt'` (default): `typ: 'JWT'` on every token, any `typ` accepted, the type read from the
 *   `type` claim, as Python AuthX does;
 * - `'explicit'`: access tokens carry `typ: 'at+jwt'` (RFC 9068) and refresh tokens
 *   `typ: 'refresh+jwt'`, and a token without the `typ` of its type is refused;
 * - `'rfc9068'`: `'explicit'`, plus RFC 9068 access tokens of an external issuer (no `type`
 *   claim; `client_id` and `scope` read). Requires `verify.issuer` and `verify.audience`.
 */
export type TokenTypesOption = 'jwt' | 'explicit' | 'rfc9068'

/** The resolved `tokenTypes` option. */
export interface ResolvedTokenTypes {
  readonly mode: TokenTypesOption
  /** The `typ` header written on access tokens. */
  readonly access: string
  /** The `typ` header written on refresh tokens. */
  readonly refresh: string
}

/** The `typ` of access tokens in the explicit modes: RFC 9068 section 2.1. */
export const ACCESS_TYP = 'at+jwt'

/**
 * The `typ` of refresh tokens in the explicit modes. No registry names one; it only has to differ
 * from `at+jwt` (so an RFC 9068 resource server sharing the key never takes a refresh token for an
 * access token) and from `JWT` (so a plain JWT consumer checking `typ` refuses it too).
 */
export const REFRESH_TYP = 'refresh+jwt'

const DEFAULT: ResolvedTokenTypes = Object.freeze({ mode: 'jwt', access: 'JWT', refresh: 'JWT' })
const EXPLICIT: ResolvedTokenTypes = Object.freeze({
  mode: 'explicit',
  access: ACCESS_TYP,
  refresh: REFRESH_TYP,
})
const RFC9068: ResolvedTokenTypes = Object.freeze({
  mode: 'rfc9068',
  access: ACCESS_TYP,
  refresh: REFRESH_TYP,
})

/**
 * Checks the `tokenTypes` option once, at construction.
 *
 * @example
 * ```ts
 * resolveTokenTypes(undefined).mode // 'jwt'
 * resolveTokenTypes('explicit').access // 'at+jwt'
 * ```
 */
export function resolveTokenTypes(value: unknown): ResolvedTokenTypes {
  if (value === undefined || value === 'jwt') return DEFAULT
  if (value === 'explicit') return EXPLICIT
  if (value === 'rfc9068') return RFC9068
  throw new ConfigError(`tokenTypes: expected 'jwt', 'explicit' or 'rfc9068'`)
}

/**
 * The `typ` header a token of this type is written with.
 *
 * @example
 * ```ts
 * headerTyp(resolveTokenTypes(undefined), 'access') // 'JWT'
 * headerTyp(resolveTokenTypes('explicit'), 'refresh') // 'refresh+jwt'
 * ```
 */
export function headerTyp(types: ResolvedTokenTypes, type: TokenType): string {
  return types[type]
}

/**
 * The token type a `typ` header names in the explicit modes, or `undefined` when it names none
 * (missing, not a string, `JWT`, anything else). Media types compare case-insensitively, and
 * `application/at+jwt` is `at+jwt` (RFC 7515 section 4.1.9, RFC 9068 section 4).
 *
 * @example
 * ```ts
 * typType('application/AT+JWT') // 'access'
 * typType('JWT') // undefined
 * ```
 */
export function typType(typ: unknown): TokenType | undefined {
  // Longer than any value named here: not worth lowering.
  if (typeof typ !== 'string' || typ.length > 24) return undefined
  // Media types compare case-insensitively (RFC 2045 section 5.1).
  let media = typ.toLowerCase()
  if (media.startsWith('application/')) media = media.slice('application/'.length)
  if (media === ACCESS_TYP) return 'access'
  if (media === REFRESH_TYP) return 'refresh'
  return undefined
}
