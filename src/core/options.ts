/**
 * The options of `new AuthX(options)` (SPEC section 2). Every field is optional unless noted;
 * defaults are given in each field's TSDoc. Unknown names are a `ConfigError`.
 * @module
 */
import type { Algorithm } from './algorithms.js'
import type { Duration } from './duration.js'
import type { KeyInput } from './keys.js'
import type { TokenPayload } from './payload.js'
import type { AuthXStore } from './store.js'

/** Where a token may be read from a request. */
export type TokenLocation = 'headers' | 'cookies' | 'json' | 'query'

/** One key of a rotating key set. */
export interface KeySetEntry {
  /** Key id, written into the header of tokens this key signs. Required and unique. */
  kid: string
  /** The key's one algorithm. */
  algorithm: Algorithm
  secretKey?: string | Uint8Array
  privateKey?: KeyInput
  publicKey?: KeyInput
  /** From this moment the key neither signs nor verifies. */
  retireAt?: Date
}

/** Claim checks applied when decoding. */
export interface VerifyOptions {
  /** Expected `iss`. Default: the `issuer` option. */
  issuer?: string
  /** Accepted audiences. Default: the `audience` option. */
  audience?: string | string[]
  /** Clock skew allowed for `exp`, `nbf` and `iat`, in seconds, 0..300. Default `0`. */
  leeway?: number
  /** Algorithms accepted. Default: the algorithm(s) of the configured key(s). */
  algorithms?: Algorithm[]
  /** Longest token accepted, checked before any decoding. Default `8192`. */
  maxTokenBytes?: number
}

/** Authorization header settings. */
export interface HeaderOptions {
  /** Default `'Authorization'`. */
  name?: string
  /** Scheme; `''` means the raw header value is the token. Default `'Bearer'`. */
  type?: string
}

/** Query-string settings (access tokens only). */
export interface QueryOptions {
  /** Default `'token'`. */
  name?: string
}

/** JSON body settings. */
export interface JsonOptions {
  /** Default `'access_token'`. */
  accessKey?: string
  /** Default `'refresh_token'`. */
  refreshKey?: string
}

/** Token cookie settings. */
export interface CookieOptions {
  /** Default `'access_token_cookie'`. */
  accessName?: string
  /** Default `'refresh_token_cookie'`. */
  refreshName?: string
  /** Default `'/'`. */
  accessPath?: string
  /** Default `'/'`. */
  refreshPath?: string
  /** Default: none (host-only cookie). */
  domain?: string
  /** Default `true`. */
  secure?: boolean
  /** Default `'lax'`; `'none'` requires `secure: true`. */
  sameSite?: 'lax' | 'strict' | 'none'
  /** Default `true` (token cookies only; CSRF cookies are always readable by scripts). */
  httpOnly?: boolean
  /** Default: none (session cookie). */
  maxAge?: Duration
}

/** Double-submit CSRF settings for cookie tokens. */
export interface CsrfOptions {
  /** Default `true`. */
  protect?: boolean
  /** Methods that require the CSRF value. Default `['POST', 'PUT', 'PATCH', 'DELETE']`. */
  methods?: string[]
  /** Whether cookie helpers also set the CSRF cookies. Default `true`. */
  inCookies?: boolean
  /** Default `'csrf_access_token'`. */
  accessCookieName?: string
  /** Default `'csrf_refresh_token'`. */
  refreshCookieName?: string
  /** Default `'X-CSRF-TOKEN'`. */
  accessHeaderName?: string
  /** Default `'X-CSRF-TOKEN'`. */
  refreshHeaderName?: string
  /** Accept the CSRF value from a form field when the header is absent. Default `false`. */
  checkForm?: boolean
  /** Default `'csrf_token'`. */
  accessFieldName?: string
  /** Default `'csrf_token'`. */
  refreshFieldName?: string
}

/** Implicit refresh of access cookies close to expiry. */
export interface ImplicitRefreshOptions {
  /** Default `false`. */
  enabled?: boolean
  /** Refresh when less than this remains. Default `'10m'`. */
  within?: Duration
  /** Exact paths (no query string) that are refreshed; when given, an allow-list. */
  includeRoutes?: string[]
  /** Exact paths never refreshed; excludes win. */
  excludeRoutes?: string[]
  /** Methods that are refreshed; when given, an allow-list. */
  includeMethods?: string[]
  /** Methods never refreshed. */
  excludeMethods?: string[]
}

/** Revocation settings. */
export interface RevocationOptions {
  /** Extra revocation check; receives the verified payload; sync or async. */
  isRevoked?: (payload: TokenPayload) => boolean | Promise<boolean>
  /** Bound on every store call and the callback, in milliseconds. Default `500`. */
  timeoutMs?: number
  /** What an unreachable store means. Only `'closed'` (reject with 503). Default `'closed'`. */
  onStoreError?: 'closed'
}

/** Refresh-token rotation settings. */
export interface RefreshRotationOptions {
  /** Default `true`. */
  enabled?: boolean
  /** Seconds in which a replay gets a new pair instead of a reuse error. Default `0`. */
  reuseGraceSeconds?: number
}

/** Verified-token cache settings. */
export interface CacheOptions {
  /** Number of verified tokens kept; `0` turns the cache off. Default `10000`. */
  verifiedTokens?: number
}

/**
 * Options of `new AuthX(options)`.
 *
 * @example
 * ```ts
 * const auth = new AuthX({ secretKey: process.env.JWT_SECRET_KEY, accessTokenExpires: '15m' })
 * ```
 */
export interface AuthXOptions {
  /** Default `'HS256'`. */
  algorithm?: Algorithm
  /** HMAC secret: at least 32/48/64 bytes for HS256/384/512. */
  secretKey?: string | Uint8Array
  /** Private key for the asymmetric algorithms. */
  privateKey?: KeyInput
  /** Public key; alone, it makes a verify-only instance. */
  publicKey?: KeyInput
  /** Key id of a single-key instance. Default: none for HMAC, the RFC 7638 thumbprint otherwise. */
  kid?: string
  /** A key set for rotation, instead of `algorithm`/`secretKey`/`privateKey`/`publicKey`/`kid`. */
  keys?: KeySetEntry[]
  /** Verify-only mode against a remote JWKS. */
  jwksUrl?: string | URL
  /** Default `'15m'`; `false` for access tokens without `exp`. */
  accessTokenExpires?: Duration | false
  /** Default `'20d'`; `false` for refresh tokens without `exp`. */
  refreshTokenExpires?: Duration | false
  /** Written into every token as `iss`. */
  issuer?: string
  /** Written into every token as `aud`. */
  audience?: string | string[]
  verify?: VerifyOptions
  /** Milliseconds since the epoch; used for every time decision. Default `Date.now`. */
  clock?: () => number
  /** Default `['headers']`. */
  tokenLocation?: TokenLocation[]
  header?: HeaderOptions
  query?: QueryOptions
  json?: JsonOptions
  cookies?: CookieOptions
  csrf?: CsrfOptions
  implicitRefresh?: ImplicitRefreshOptions
  /** Where revocations and refresh-token use are kept. Default: a new `MemoryStore`. */
  store?: AuthXStore
  revocation?: RevocationOptions
  refreshRotation?: RefreshRotationOptions
  cache?: CacheOptions
}
