/**
 * `TokenPayload`: the verified claims of a token with typed fields and helpers.
 * @module
 */
import { hasAllScopes, hasSomeScope, scopesOf, scopesOfString } from './scopes.js'

/** Claims authx registers; everything else is custom data (`extra`). */
export const REGISTERED_CLAIMS: ReadonlySet<string> = new Set([
  'sub',
  'jti',
  'iat',
  'nbf',
  'exp',
  'iss',
  'aud',
  'type',
  'fresh',
  'csrf',
  'scopes',
  'fid',
  'sid',
  'login_type',
  'cnf',
])

/**
 * Records that `verifier` verified the payload from `token` (private fields, so the mark cannot be
 * forged from outside authx, and a frozen payload can carry it). Internal to authx.
 */
export let markVerified: (payload: TokenPayload, verifier: object, token: string) => void
/** The token string `verifier` verified this payload from, or `undefined`. Internal to authx. */
export let verifiedToken: (payload: TokenPayload, verifier: object) => string | undefined

/** A token's kind. */
export type TokenType = 'access' | 'refresh'

/**
 * How a payload reads its claims (docs/token-types.md, "Explicit token types"): `'authx'` for the
 * tokens authx makes (and Python AuthX's), `'rfc9068'` for an RFC 9068 access token of an external
 * issuer, which the decoder accepts only with `tokenTypes: 'rfc9068'`.
 */
export type ClaimsProfile = 'authx' | 'rfc9068'

/** Claims an RFC 9068 access token registers besides authx's (RFC 9068 section 2.2). */
const RFC9068_CLAIMS: ReadonlySet<string> = new Set([...REGISTERED_CLAIMS, 'client_id', 'scope'])

/**
 * The verified claims of a token. Instances are frozen; `timeUntilExpiry` and
 * `timeSinceIssued` are computed at each access from the instance's clock.
 *
 * @example
 * ```ts
 * const payload = await auth.verifyToken(token)
 * payload.sub // 'user123'
 * payload.hasScopes('users:read')
 * payload.timeUntilExpiry // milliseconds
 * ```
 */
export class TokenPayload<Extra extends Record<string, unknown> = Record<string, unknown>> {
  /** Subject: the user id given as `uid`. */
  readonly sub: string
  /** Unique token id. */
  readonly jti: string
  /** Issued at, seconds since the epoch. */
  readonly iat: number
  /** Expiry, seconds since the epoch; absent for tokens made without expiry. */
  readonly exp?: number
  /** Not before, seconds since the epoch. */
  readonly nbf?: number
  readonly iss?: string
  readonly aud?: string | readonly string[]
  /** `'access'` or `'refresh'`. */
  readonly type: TokenType
  /** Whether the token was minted at login. Only a `true` claim counts. */
  readonly fresh: boolean
  /** Double-submit CSRF value (tokens made for cookie locations). */
  readonly csrf?: string
  /** Granted scopes; absent when the claim is missing or is not an array of strings. */
  readonly scopes?: readonly string[]
  /** Refresh family id. */
  readonly fid?: string
  /** Session id (`sid` claim) of a pair made with `createTokenPair({ session })` (docs/sessions.md). */
  readonly sid?: string
  /** The login type (`login_type` claim) of an instance with `loginType`, else `undefined`. */
  readonly loginType?: string
  /**
   * The RFC 7638 thumbprint of the key a DPoP-bound token is bound to (`cnf.jkt`, docs/dpop.md),
   * else `undefined`.
   */
  readonly jkt?: string
  /**
   * The OAuth client the token was issued to (`client_id`) of an RFC 9068 access token
   * (`tokenTypes: 'rfc9068'`, docs/token-types.md), else `undefined`.
   */
  readonly clientId?: string
  /** Every claim as received. */
  readonly claims: Readonly<Record<string, unknown>>
  readonly #clock: () => number
  /** Claims left out of `extra`. */
  readonly #registered: ReadonlySet<string>
  /** `extra`, built on first use: most requests never read it, and cached payloads stay small. */
  #extra: Readonly<Extra> | undefined
  /** The instance that verified this payload and the token string, for `auth.refresh(payload)`. */
  #verifiedBy: object | undefined
  #token: string | undefined

  static {
    markVerified = (payload, verifier, token) => {
      payload.#verifiedBy = verifier
      payload.#token = token
    }
    verifiedToken = (payload, verifier) => (payload.#verifiedBy === verifier ? payload.#token : undefined)
  }

  /**
   * Wraps claims that the decoder has already validated. Users get instances from
   * `decodeToken`/`verifyToken`; constructing one does not verify anything. The `'rfc9068'`
   * profile is for a decoded RFC 9068 access token: its type is `'access'` (the `typ` header said
   * so), its scopes come from the `scope` string, and it is never fresh (freshness is an authx
   * login fact another issuer cannot state).
   */
  constructor(
    claims: Record<string, unknown>,
    clock: () => number = Date.now,
    profile: ClaimsProfile = 'authx',
  ) {
    const frozen = deepFreeze(claims)
    this.claims = frozen
    this.sub = frozen.sub as string
    this.jti = frozen.jti as string
    this.iat = frozen.iat as number
    if (frozen.exp !== undefined) this.exp = frozen.exp as number
    if (frozen.nbf !== undefined) this.nbf = frozen.nbf as number
    if (frozen.iss !== undefined) this.iss = frozen.iss as string
    if (frozen.aud !== undefined) this.aud = frozen.aud as string | readonly string[]
    const rfc9068 = profile === 'rfc9068'
    this.type = rfc9068 ? 'access' : (frozen.type as TokenType)
    this.fresh = !rfc9068 && frozen.fresh === true
    if (typeof frozen.csrf === 'string') this.csrf = frozen.csrf
    // Each profile has one scope claim: a `scope` string in an authx token grants nothing.
    const scopes = rfc9068 ? scopesOfString(frozen.scope) : scopesOf(frozen.scopes)
    if (scopes !== undefined) this.scopes = Object.freeze(scopes)
    if (typeof frozen.fid === 'string') this.fid = frozen.fid
    if (typeof frozen.sid === 'string') this.sid = frozen.sid
    if (typeof frozen.login_type === 'string') this.loginType = frozen.login_type
    const cnf = frozen.cnf as { jkt?: unknown } | undefined
    if (typeof cnf?.jkt === 'string') this.jkt = cnf.jkt
    if (rfc9068 && typeof frozen.client_id === 'string') this.clientId = frozen.client_id
    this.#registered = rfc9068 ? RFC9068_CLAIMS : REGISTERED_CLAIMS
    this.#clock = clock
    Object.freeze(this)
  }

  /** Custom claims only (everything not registered), frozen. */
  get extra(): Readonly<Extra> {
    if (this.#extra === undefined) {
      const extra: Record<string, unknown> = {}
      for (const key of Object.keys(this.claims))
        if (!this.#registered.has(key)) extra[key] = this.claims[key]
      this.#extra = Object.freeze(extra) as Readonly<Extra>
    }
    return this.#extra
  }

  /** `iat` as a Date. */
  get issuedAt(): Date {
    return new Date(this.iat * 1000)
  }

  /** `exp` as a Date, or `undefined` for a token without expiry. */
  get expiresAt(): Date | undefined {
    return this.exp === undefined ? undefined : new Date(this.exp * 1000)
  }

  /** `nbf` as a Date, or `undefined`. */
  get notBefore(): Date | undefined {
    return this.nbf === undefined ? undefined : new Date(this.nbf * 1000)
  }

  /** Milliseconds until expiry on the instance's clock; negative once expired, `Infinity` without `exp`. */
  get timeUntilExpiry(): number {
    return this.exp === undefined ? Number.POSITIVE_INFINITY : this.exp * 1000 - this.#clock()
  }

  /** Milliseconds since the token was issued, on the instance's clock. */
  get timeSinceIssued(): number {
    return this.#clock() - this.iat * 1000
  }

  /**
   * Whether every required scope is granted (`true` when none is required).
   *
   * @example
   * ```ts
   * payload.hasScopes('admin:users', 'users:read')
   * ```
   */
  hasScopes(...required: string[]): boolean {
    return hasAllScopes(this.scopes, required)
  }

  /**
   * Whether at least one required scope is granted (`false` when none is given).
   *
   * @example
   * ```ts
   * payload.hasAnyScope('admin', 'moderator')
   * ```
   */
  hasAnyScope(...required: string[]): boolean {
    return hasSomeScope(this.scopes, required)
  }

  /** The claims, for `JSON.stringify`. */
  toJSON(): Record<string, unknown> {
    return this.claims as Record<string, unknown>
  }
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value)
    for (const child of Object.values(value)) deepFreeze(child)
  }
  return value
}
