/**
 * The options of `new AuthX(options)` (docs/configuration.md). Every field is optional unless noted;
 * defaults are given in each field's TSDoc. Unknown names are a `ConfigError`.
 * @module
 */
import type { Algorithm } from './algorithms.js'
import type { DPoPOptions } from './dpop/index.js'
import type { Duration } from './duration.js'
import type { KeyInput } from './keys.js'
import type { TokenPayload } from './payload.js'
import type { RemoteKeySetOptions } from './remote-keys.js'
import type { AuthXStore } from './store.js'
import type { TelemetryOptions } from './telemetry.js'
import type { TokenTypesOption } from './token-types.js'

/** Where a token may be read from a request. */
export type TokenLocation = 'headers' | 'cookies' | 'json' | 'query'

/** One key of a rotating key set. */
export interface KeySetEntry {
  /** Key id, written into the header of tokens this key signs. Required and unique. */
  kid: string
  /** The key's one algorithm. */
  algorithm: Algorithm
  secretKey?: string | Uint8Array | undefined
  privateKey?: KeyInput | undefined
  publicKey?: KeyInput | undefined
  /** From this moment the key neither signs nor verifies. */
  retireAt?: Date | undefined
}

/** WebSocket upgrade requests (docs/websocket.md). */
export interface WebSocketOptions {
  /** Query parameter `authenticateWebSocket` reads the token from. Default `'token'`. */
  queryName?: string | undefined
  /**
   * Origins (`https://app.example.com`, scheme, host and port only) whose upgrade requests may
   * authenticate with the access cookie. Unset: cookies are never read for WebSockets.
   */
  allowedOrigins?: string[] | undefined
}

/** Claim checks applied when decoding. */
export interface VerifyOptions {
  /** Expected `iss`. Default: the `issuer` option. */
  issuer?: string | undefined
  /** Accepted audiences. Default: the `audience` option. */
  audience?: string | string[] | undefined
  /** Clock skew allowed for `exp`, `nbf` and `iat`, in seconds, 0..300. Default `0`. */
  leeway?: number | undefined
  /** Algorithms accepted. Default: the algorithm(s) of the configured key(s). */
  algorithms?: Algorithm[] | undefined
  /** Longest token accepted, checked before any decoding. Default `8192`. */
  maxTokenBytes?: number | undefined
  /** Timeout of a remote JWKS fetch (`jwksUrl`), in milliseconds. Default `5000`. */
  jwksTimeoutMs?: number | undefined
}

/** Authorization header settings. */
export interface HeaderOptions {
  /** Default `'Authorization'`. */
  name?: string | undefined
  /** Scheme; `''` means the raw header value is the token. Default `'Bearer'`. */
  type?: string | undefined
}

/** Query-string settings (access tokens only). */
export interface QueryOptions {
  /** Default `'token'`. */
  name?: string | undefined
}

/** JSON body settings. */
export interface JsonOptions {
  /** Default `'access_token'`. */
  accessKey?: string | undefined
  /** Default `'refresh_token'`. */
  refreshKey?: string | undefined
}

/** Token cookie settings. */
export interface CookieOptions {
  /** Default `'access_token_cookie'`. */
  accessName?: string | undefined
  /** Default `'refresh_token_cookie'`. */
  refreshName?: string | undefined
  /** Default `'/'`. */
  accessPath?: string | undefined
  /** Default `'/'`. */
  refreshPath?: string | undefined
  /** Default: none (host-only cookie). */
  domain?: string | undefined
  /** Default `true`. */
  secure?: boolean | undefined
  /** Default `'lax'`; `'none'` requires `secure: true`. */
  sameSite?: 'lax' | 'strict' | 'none' | undefined
  /** Default `true` (token cookies only; CSRF cookies are always readable by scripts). */
  httpOnly?: boolean | undefined
  /** Default: none (session cookie). */
  maxAge?: Duration | undefined
}

/** Double-submit CSRF settings for cookie tokens. */
export interface CsrfOptions {
  /** Default `true`. */
  protect?: boolean | undefined
  /** Methods that require the CSRF value. Default `['POST', 'PUT', 'PATCH', 'DELETE']`. */
  methods?: string[] | undefined
  /** Whether cookie helpers also set the CSRF cookies. Default `true`. */
  inCookies?: boolean | undefined
  /** Default `'csrf_access_token'`. */
  accessCookieName?: string | undefined
  /** Default `'csrf_refresh_token'`. */
  refreshCookieName?: string | undefined
  /** Default `'X-CSRF-TOKEN'`. */
  accessHeaderName?: string | undefined
  /** Default `'X-CSRF-TOKEN'`. */
  refreshHeaderName?: string | undefined
  /** Accept the CSRF value from a form field when the header is absent. Default `false`. */
  checkForm?: boolean | undefined
  /** Default `'csrf_token'`. */
  accessFieldName?: string | undefined
  /** Default `'csrf_token'`. */
  refreshFieldName?: string | undefined
  /**
   * `Path` of the access CSRF cookie. Default `'/'`: the page can read it wherever it is, while
   * the access cookie itself may be narrower.
   */
  accessCookiePath?: string | undefined
  /**
   * `Path` of the refresh CSRF cookie. Default `'/'`: the page reads it to call the refresh and
   * logout routes, while the refresh cookie itself goes only to `cookies.refreshPath`.
   */
  refreshCookiePath?: string | undefined
}

/** Implicit refresh of access cookies close to expiry. */
export interface ImplicitRefreshOptions {
  /** Default `false`. */
  enabled?: boolean | undefined
  /** Refresh when less than this remains. Default `'10m'`. */
  within?: Duration | undefined
  /** Exact paths (no query string) that are refreshed; when given, an allow-list. */
  includeRoutes?: string[] | undefined
  /** Exact paths never refreshed; excludes win. */
  excludeRoutes?: string[] | undefined
  /** Methods that are refreshed; when given, an allow-list. */
  includeMethods?: string[] | undefined
  /** Methods never refreshed. */
  excludeMethods?: string[] | undefined
}

/** Revocation settings. */
export interface RevocationOptions {
  /** Extra revocation check; receives the verified payload; sync or async. */
  isRevoked?: ((payload: TokenPayload) => boolean | Promise<boolean>) | undefined
  /** Bound on every store call and the callback, in milliseconds. Default `500`. */
  timeoutMs?: number | undefined
  /** What an unreachable store means. Only `'closed'` (reject with 503). Default `'closed'`. */
  onStoreError?: 'closed' | undefined
}

/** Refresh-token rotation settings. */
export interface RefreshRotationOptions {
  /** Default `true`. */
  enabled?: boolean | undefined
  /** Seconds in which a replay gets a new pair instead of a reuse error. Default `0`. */
  reuseGraceSeconds?: number | undefined
}

/** Verified-token cache settings. */
export interface CacheOptions {
  /** Number of verified tokens kept; `0` turns the cache off. Default `10000`. */
  verifiedTokens?: number | undefined
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
  algorithm?: Algorithm | undefined
  /** HMAC secret: at least 32/48/64 bytes for HS256/384/512. */
  secretKey?: string | Uint8Array | undefined
  /** Private key for the asymmetric algorithms. */
  privateKey?: KeyInput | undefined
  /** Public key; alone, it makes a verify-only instance. */
  publicKey?: KeyInput | undefined
  /** Key id of a single-key instance. Default: none for HMAC, the RFC 7638 thumbprint otherwise. */
  kid?: string | undefined
  /** A key set for rotation, instead of `algorithm`/`secretKey`/`privateKey`/`publicKey`/`kid`. */
  keys?: KeySetEntry[] | undefined
  /** Verify-only mode against a remote JWKS. */
  jwksUrl?: string | URL | undefined
  /** Default `'15m'`; `false` for access tokens without `exp`. */
  accessTokenExpires?: Duration | false | undefined
  /** Default `'20d'`; `false` for refresh tokens without `exp`. */
  refreshTokenExpires?: Duration | false | undefined
  /**
   * The longest lifetime any token of this instance may have, custom `expiry`, `accessExpiry`,
   * `refreshExpiry` and `Date`s included: a longer one is a `TypeError` at creation. Family and
   * subject revocations live this long (plus leeway), so they outlive every token they cover.
   * Default: the longer of `accessTokenExpires` and `refreshTokenExpires`. Not allowed when a
   * lifetime is `false` (revocations then never expire).
   */
  maxLifetime?: Duration | undefined
  /** Written into every token as `iss`. */
  issuer?: string | undefined
  /** Written into every token as `aud`. */
  audience?: string | string[] | undefined
  verify?: VerifyOptions | undefined
  /** Milliseconds since the epoch; used for every time decision. Default `Date.now`. */
  clock?: (() => number) | undefined
  /** Default `['headers']`. */
  tokenLocation?: TokenLocation[] | undefined
  header?: HeaderOptions | undefined
  query?: QueryOptions | undefined
  json?: JsonOptions | undefined
  cookies?: CookieOptions | undefined
  csrf?: CsrfOptions | undefined
  implicitRefresh?: ImplicitRefreshOptions | undefined
  /** Where revocations and refresh-token use are kept. Default: a new `MemoryStore`. */
  store?: AuthXStore | undefined
  revocation?: RevocationOptions | undefined
  refreshRotation?: RefreshRotationOptions | undefined
  cache?: CacheOptions | undefined
  /**
   * The login type of this instance (docs/login-types.md): every token it creates carries
   * `login_type` with this value, and it accepts only tokens carrying the same.
   */
  loginType?: string | undefined
  websocket?: WebSocketOptions | undefined
  /**
   * Explicit token types (docs/token-types.md): the `typ` header each token type is written with
   * and must carry. Default `'jwt'`: `typ: 'JWT'`, the type read from the `type` claim, as Python
   * AuthX does.
   */
  tokenTypes?: TokenTypesOption | undefined
  /** How the remote key set of `jwksUrl` is fetched and cached (docs/keys.md). */
  jwks?: RemoteKeySetOptions | undefined
  /** DPoP sender-constrained tokens (RFC 9449, docs/dpop.md). Default: off. */
  dpop?: DPoPOptions | false | undefined
  /** OpenTelemetry spans and metrics (docs/telemetry.md). Default: off. */
  telemetry?: TelemetryOptions | undefined
}
