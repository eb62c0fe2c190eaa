/**
 * Explicit token types (RFC 8725 section 3.11, RFC 9068): which `typ` header each token type is
 * written with and required to carry. The default (`'jwt'`) writes `typ: 'JWT'` and reads the type
 * from the `type` claim only, as Python AuthX does.
 * @module
 */
import { ConfigError } from './errors.js'
import type { TokenType } from './payload.js'

/** The `tokenTypes` option. STUB: filled in by the token-types work. */
export type TokenTypesOption = 'jwt'

/** The resolved `tokenTypes` option. */
export interface ResolvedTokenTypes {
  readonly mode: 'jwt'
}

const DEFAULT: ResolvedTokenTypes = Object.freeze({ mode: 'jwt' })

/**
 * Checks the `tokenTypes` option once, at construction.
 *
 * @example
 * ```ts
 * resolveTokenTypes(undefined).mode // 'jwt'
 * ```
 */
export function resolveTokenTypes(value: unknown): ResolvedTokenTypes {
  if (value === undefined || value === 'jwt') return DEFAULT
  throw new ConfigError(`tokenTypes: expected 'jwt'`)
}

/**
 * The `typ` header a token of this type is written with.
 *
 * @example
 * ```ts
 * headerTyp(resolveTokenTypes(undefined), 'access') // 'JWT'
 * ```
 */
export function headerTyp(_types: ResolvedTokenTypes, _type: TokenType): string {
  return 'JWT'
}
