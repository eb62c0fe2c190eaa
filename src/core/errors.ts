/**
 * Errors thrown by authx. Every error that can result from a request is an {@link AuthXError}
 * with a stable `code`, an HTTP `status` and a message that never contains a token.
 *
 * @example
 * ```ts
 * try {
 *   await auth.verifyToken(token)
 * } catch (err) {
 *   if (err instanceof AuthXError) res.status(err.status).json(err.toJSON())
 * }
 * ```
 * @module
 */

/** Every error code authx uses; `switch (err.code)` narrows on it. */
export type AuthXErrorCode =
  | 'ERR_MISSING_TOKEN'
  | 'ERR_INVALID_TOKEN'
  | 'ERR_TOKEN_EXPIRED'
  | 'ERR_TOKEN_REVOKED'
  | 'ERR_WRONG_TOKEN_TYPE'
  | 'ERR_LOGIN_TYPE_MISMATCH'
  | 'ERR_POLICY_DENIED'
  | 'ERR_FRESH_TOKEN_REQUIRED'
  | 'ERR_REFRESH_TOKEN_REUSED'
  | 'ERR_CSRF'
  | 'ERR_INSUFFICIENT_SCOPE'
  | 'ERR_STORE_UNAVAILABLE'
  | 'ERR_RATE_LIMITED'
  | 'ERR_INVALID_DPOP_PROOF'
  | 'ERR_USE_DPOP_NONCE'
  | 'ERR_CONFIG'

/** Why a token was rejected as invalid (docs/security.md, "Strict decoding"). */
export type InvalidTokenReason =
  | 'malformed'
  | 'signature'
  | 'algorithm'
  | 'audience'
  | 'issuer'
  | 'not_before'
  | 'claims'
  | 'too_large'
  | 'expired'
  /** The `typ` header is not the one required for this token type (docs/token-types.md). */
  | 'typ'
  /**
   * A DPoP-bound token sent as `Bearer`, or an unbound token sent as `DPoP` or where DPoP is
   * required (docs/dpop.md).
   */
  | 'binding'

/** The JSON body an adapter sends for an error. */
export interface AuthXErrorJSON {
  code: AuthXErrorCode
  message: string
  reason?: string
  required?: string[]
  provided?: string[]
  retryAfter?: number
}

/**
 * The brand every authx error carries, under a registry symbol: adapters recognise authx errors
 * by it, so an ESM core with a CJS adapter (or two copies of authx) still map each other's errors.
 */
export const AUTHX_ERROR_BRAND: unique symbol = Symbol.for('authx.error') as never

/**
 * Base class of every authx error.
 *
 * @example
 * ```ts
 * if (err instanceof AuthXError && err.code === 'ERR_TOKEN_EXPIRED') { ... }
 * ```
 */
export class AuthXError extends Error {
  /** Stable machine-readable code. */
  readonly code: AuthXErrorCode
  /** HTTP status an adapter answers with. */
  readonly status: number
  /** See {@link AUTHX_ERROR_BRAND}. */
  readonly [AUTHX_ERROR_BRAND] = true

  constructor(code: AuthXErrorCode, status: number, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.code = code
    this.status = status
    this.name = new.target.name
  }

  /** The same as `status`, under the name Fastify and http-errors read. */
  get statusCode(): number {
    return this.status
  }

  /**
   * The `WWW-Authenticate` header value (RFC 6750, RFC 9470) for 401 and 403 answers,
   * `undefined` for other statuses.
   */
  get wwwAuthenticate(): string | undefined {
    if (this.status !== 401 && this.status !== 403) return undefined
    const challenge = challenges.get(this)
    if (challenge !== undefined) return challenge.www
    const error = this.bearerError
    return error === undefined ? this.scheme : `${this.scheme} error="${error}"`
  }

  /** The auth scheme of the default challenge: `Bearer`, `DPoP` for DPoP errors. */
  protected get scheme(): string {
    return 'Bearer'
  }

  /** The RFC 6750 `error` parameter; none for a missing token or a CSRF failure. */
  protected get bearerError(): string | undefined {
    return undefined
  }

  /** The RFC 6750 / RFC 9449 `error` parameter of this error, if it has one. */
  get challengeError(): string | undefined {
    return this.bearerError
  }

  /** `{ code, message }` plus the fields particular to the error. */
  toJSON(): AuthXErrorJSON {
    return { code: this.code, message: this.message }
  }
}

/** Challenges an instance set on its errors (a DPoP instance answers `DPoP` challenges). */
const challenges = new WeakMap<AuthXError, { www: string; headers: Readonly<Record<string, string>> }>()

/**
 * Sets the `WWW-Authenticate` value (and extra headers, such as `DPoP-Nonce`) an error is
 * answered with, in place of the RFC 6750 `Bearer` challenge. Internal to authx.
 *
 * @example
 * ```ts
 * setChallenge(err, 'DPoP algs="ES256", error="invalid_token"')
 * ```
 */
export function setChallenge(error: AuthXError, www: string, headers: Record<string, string> = {}): void {
  challenges.set(error, { www, headers: Object.freeze({ ...headers }) })
}

/**
 * The extra headers set with {@link setChallenge}, sent by `errorResponse` with the error.
 *
 * @example
 * ```ts
 * challengeHeaders(err) // { 'dpop-nonce': '...' }
 * ```
 */
export function challengeHeaders(error: AuthXError): Readonly<Record<string, string>> | undefined {
  return challenges.get(error)?.headers
}

/**
 * No token was found in any of the locations tried.
 *
 * @example
 * ```ts
 * new MissingTokenError(['headers', 'cookies']).message
 * ```
 */
export class MissingTokenError extends AuthXError {
  /** The locations that were tried, in order. */
  readonly locations: readonly string[]

  constructor(locations: readonly string[] = [], options?: { cause?: unknown }) {
    const where = locations.length > 0 ? locations.join(', ') : 'the request'
    super('ERR_MISSING_TOKEN', 401, `No token found; looked in: ${where}`, options)
    this.locations = Object.freeze([...locations])
  }
}

/**
 * The token is malformed, badly signed or carries claims that fail validation.
 *
 * @example
 * ```ts
 * if (err instanceof InvalidTokenError) console.log(err.reason) // 'signature'
 * ```
 */
export class InvalidTokenError extends AuthXError {
  /** What was wrong with the token. */
  readonly reason: InvalidTokenReason

  constructor(
    reason: InvalidTokenReason,
    message: string,
    options?: { cause?: unknown },
    code: AuthXErrorCode = 'ERR_INVALID_TOKEN',
  ) {
    super(code, 401, message, options)
    this.reason = reason
  }

  protected override get bearerError(): string {
    return 'invalid_token'
  }

  override toJSON(): AuthXErrorJSON {
    return { code: this.code, message: this.message, reason: this.reason }
  }
}

/**
 * The token's `exp` has passed (leeway included).
 *
 * @example
 * ```ts
 * if (err instanceof TokenExpiredError) redirectToRefresh()
 * ```
 */
export class TokenExpiredError extends InvalidTokenError {
  /** When the token expired. */
  readonly expiredAt: Date

  constructor(expiredAt: Date, options?: { cause?: unknown }) {
    super('expired', 'Token has expired', options, 'ERR_TOKEN_EXPIRED')
    this.expiredAt = expiredAt
  }
}

/**
 * The token was revoked (by `jti`, family or subject), or its revocation callback said so.
 *
 * @example
 * ```ts
 * if (err instanceof RevokedTokenError) forceLogin()
 * ```
 */
export class RevokedTokenError extends AuthXError {
  constructor(message = 'Token has been revoked', options?: { cause?: unknown }) {
    super('ERR_TOKEN_REVOKED', 401, message, options)
  }

  protected override get bearerError(): string {
    return 'invalid_token'
  }
}

/**
 * A well-formed token of the other type (a refresh token where an access token is required,
 * or the reverse).
 *
 * @example
 * ```ts
 * if (err instanceof TokenTypeError) console.log(err.expected, err.received)
 * ```
 */
export class TokenTypeError extends AuthXError {
  /**
   * The type the route requires: `'access'` or `'refresh'`; on a `LoginTypeMismatchError`, the
   * login type.
   */
  readonly expected: string
  /** The type the token carries. */
  readonly received: string

  constructor(
    expected: string,
    received: string,
    options?: { cause?: unknown },
    /** For subclasses with a code of their own. */
    detail: { code: AuthXErrorCode; message: string } = {
      code: 'ERR_WRONG_TOKEN_TYPE',
      message: `${expected === 'access' ? 'An access' : 'A refresh'} token is required`,
    },
  ) {
    super(detail.code, 401, detail.message, options)
    this.expected = expected
    this.received = received
  }

  protected override get bearerError(): string {
    return 'invalid_token'
  }
}

/**
 * The token belongs to another login type than the instance (or `AuthManager` type) verifying it
 * (docs/login-types.md): a user token on an admin route. `expected` and `actual` are login types;
 * `actual` is `null` when the token carries none. The answer's body names neither.
 *
 * @example
 * ```ts
 * if (err instanceof LoginTypeMismatchError) console.log(err.expected, err.actual) // 'admin' 'user'
 * ```
 */
export class LoginTypeMismatchError extends TokenTypeError {
  /** The login type the token carries, or `null`. */
  readonly actual: string | null

  constructor(expected: string, actual: string | null, options?: { cause?: unknown }) {
    super(expected, actual ?? '', options, {
      code: 'ERR_LOGIN_TYPE_MISMATCH',
      message: 'The token is not valid for this login type',
    })
    this.actual = actual
  }
}

/**
 * An access token was required and another type was given.
 *
 * @example
 * ```ts
 * err instanceof AccessTokenRequiredError && err instanceof TokenTypeError // true
 * ```
 */
export class AccessTokenRequiredError extends TokenTypeError {
  constructor(received: string, options?: { cause?: unknown }) {
    super('access', received, options)
  }
}

/**
 * A refresh token was required and another type was given.
 *
 * @example
 * ```ts
 * err instanceof RefreshTokenRequiredError && err.code === 'ERR_WRONG_TOKEN_TYPE' // true
 * ```
 */
export class RefreshTokenRequiredError extends TokenTypeError {
  constructor(received: string, options?: { cause?: unknown }) {
    super('refresh', received, options)
  }
}

/**
 * The route requires a fresh token (one minted at login) and the token is not fresh.
 *
 * @example
 * ```ts
 * if (err instanceof FreshTokenRequiredError) askForPasswordAgain()
 * ```
 */
export class FreshTokenRequiredError extends AuthXError {
  constructor(message = 'A fresh token is required', options?: { cause?: unknown }) {
    super('ERR_FRESH_TOKEN_REQUIRED', 401, message, options)
  }

  protected override get bearerError(): string {
    return 'insufficient_user_authentication'
  }
}

/**
 * A refresh token that was already used was presented again; its whole family is revoked.
 *
 * @example
 * ```ts
 * if (err instanceof RefreshTokenReusedError) alertSecurityTeam(err)
 * ```
 */
export class RefreshTokenReusedError extends AuthXError {
  constructor(
    message = 'Refresh token was already used; its family is revoked',
    options?: { cause?: unknown },
  ) {
    super('ERR_REFRESH_TOKEN_REUSED', 401, message, options)
  }

  protected override get bearerError(): string {
    return 'invalid_token'
  }
}

/**
 * Double-submit CSRF check failed for a token read from a cookie.
 *
 * @example
 * ```ts
 * new CSRFError('missing', 'X-CSRF-TOKEN').status // 403
 * ```
 */
export class CSRFError extends AuthXError {
  /** `missing`: no CSRF value was sent; `mismatch`: it did not match the token. */
  readonly reason: 'missing' | 'mismatch'

  constructor(reason: 'missing' | 'mismatch', expected: string, options?: { cause?: unknown }) {
    super(
      'ERR_CSRF',
      403,
      reason === 'missing'
        ? `Missing CSRF token: send it in ${expected}`
        : `CSRF token in ${expected} does not match`,
      options,
    )
    this.reason = reason
  }

  override toJSON(): AuthXErrorJSON {
    return { code: this.code, message: this.message, reason: this.reason }
  }
}

/**
 * The token lacks scopes the route requires.
 *
 * @example
 * ```ts
 * new InsufficientScopeError(['admin'], ['users:read']).toJSON()
 * // { code: 'ERR_INSUFFICIENT_SCOPE', message: ..., required: ['admin'], provided: ['users:read'] }
 * ```
 */
export class InsufficientScopeError extends AuthXError {
  /** Every scope the route requires. */
  readonly required: readonly string[]
  /** The scopes the token holds (`[]` when none). */
  readonly provided: readonly string[]

  constructor(required: readonly string[], provided: readonly string[], options?: { cause?: unknown }) {
    super('ERR_INSUFFICIENT_SCOPE', 403, `Insufficient scope; required: ${required.join(' ')}`, options)
    this.required = Object.freeze([...required])
    this.provided = Object.freeze([...provided])
  }

  protected override get bearerError(): string {
    return 'insufficient_scope'
  }

  override get wwwAuthenticate(): string {
    const challenge = challenges.get(this)
    if (challenge !== undefined) return challenge.www
    // RFC 6750 section 3: the scope attribute lists what the resource needs.
    const scope = this.required.join(' ').replace(/["\\]/g, '')
    return `Bearer error="insufficient_scope", scope="${scope}"`
  }

  override toJSON(): AuthXErrorJSON {
    return {
      code: this.code,
      message: this.message,
      required: [...this.required],
      provided: [...this.provided],
    }
  }
}

/**
 * The revocation store (or the revocation callback) could not answer in time. authx fails
 * closed: the request is refused with 503 and a `Retry-After`.
 *
 * @example
 * ```ts
 * if (err instanceof StoreUnavailableError) res.set('Retry-After', String(err.retryAfter))
 * ```
 */
export class StoreUnavailableError extends AuthXError {
  /** Seconds after which a retry may succeed. */
  readonly retryAfter: number

  constructor(message = 'Revocation store unavailable', options?: { cause?: unknown; retryAfter?: number }) {
    super('ERR_STORE_UNAVAILABLE', 503, message, options)
    this.retryAfter = options?.retryAfter ?? 1
  }

  override toJSON(): AuthXErrorJSON {
    return { code: this.code, message: this.message, retryAfter: this.retryAfter }
  }
}

/**
 * A policy (docs/policies.md) denied the action on the resource: a deny rule matched, no allow
 * rule did, or a condition failed. `reason` is the matching rule's `reason`, if it has one.
 *
 * @example
 * ```ts
 * if (err instanceof PolicyDeniedError) console.log(err.reason)
 * ```
 */
export class PolicyDeniedError extends AuthXError {
  /** Why: the `reason` of the rule that decided, or a fixed text when no rule gave one. */
  readonly reason: string

  constructor(reason = 'Denied by policy', options?: { cause?: unknown }) {
    super('ERR_POLICY_DENIED', 403, 'The action is not allowed', options)
    this.reason = reason
  }

  protected override get bearerError(): string {
    return 'insufficient_scope'
  }

  override toJSON(): AuthXErrorJSON {
    return { code: this.code, message: this.message, reason: this.reason }
  }
}

/**
 * Too many requests for this subject or client.
 *
 * @example
 * ```ts
 * new RateLimitError(30).retryAfter // 30
 * ```
 */
export class RateLimitError extends AuthXError {
  /** Seconds until the window allows another request. */
  readonly retryAfter: number
  /** The limiter's `RateLimit-Policy` and `RateLimit` headers, sent with the 429. */
  readonly headers: Readonly<Record<string, string>>

  constructor(retryAfter: number, options?: { cause?: unknown; headers?: Record<string, string> }) {
    super('ERR_RATE_LIMITED', 429, 'Too many requests', options)
    this.retryAfter = retryAfter
    this.headers = Object.freeze({ ...options?.headers })
  }

  override toJSON(): AuthXErrorJSON {
    return { code: this.code, message: this.message, retryAfter: this.retryAfter }
  }
}

/** Why a DPoP proof was refused (docs/dpop.md). */
export type DPoPProofReason =
  | 'missing'
  | 'malformed'
  | 'typ'
  | 'algorithm'
  | 'jwk'
  | 'signature'
  | 'htm'
  | 'htu'
  | 'iat'
  | 'ath'
  | 'jti'
  | 'replay'
  | 'key'
  | 'nonce'

/**
 * The request's DPoP proof (RFC 9449) is missing, malformed, or does not match the request, the
 * token or the key the token is bound to.
 *
 * @example
 * ```ts
 * if (err instanceof DPoPProofError) console.log(err.reason) // 'replay'
 * ```
 */
export class DPoPProofError extends AuthXError {
  /** What was wrong with the proof. */
  readonly reason: DPoPProofReason

  constructor(reason: DPoPProofReason, message: string, options?: { cause?: unknown }) {
    super('ERR_INVALID_DPOP_PROOF', 401, message, options)
    this.reason = reason
  }

  protected override get scheme(): string {
    return 'DPoP'
  }

  protected override get bearerError(): string {
    return 'invalid_dpop_proof'
  }

  override toJSON(): AuthXErrorJSON {
    return { code: this.code, message: this.message, reason: this.reason }
  }
}

/**
 * The server requires a DPoP nonce (RFC 9449 section 8): the proof carried none, or a stale one.
 * The answer carries a fresh `DPoP-Nonce` for the client to retry with.
 *
 * @example
 * ```ts
 * if (err instanceof DPoPNonceError) retryWith(err.nonce)
 * ```
 */
export class DPoPNonceError extends AuthXError {
  /** The nonce the client must put in its next proof. */
  readonly nonce: string

  constructor(nonce: string, options?: { cause?: unknown }) {
    super('ERR_USE_DPOP_NONCE', 401, 'Authorization server requires nonce in DPoP proof', options)
    this.nonce = nonce
  }

  protected override get scheme(): string {
    return 'DPoP'
  }

  protected override get bearerError(): string {
    return 'use_dpop_nonce'
  }
}

/**
 * Invalid options, found at construction (or a verify-only instance asked to sign).
 * Never sent to clients in detail.
 *
 * @example
 * ```ts
 * new AuthX({ secretKey: 'short' }) // throws ConfigError: secretKey: ...
 * ```
 */
export class ConfigError extends AuthXError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_CONFIG', 500, message, options)
  }

  override toJSON(): AuthXErrorJSON {
    // Configuration details stay on the server.
    return { code: this.code, message: 'Server authentication is misconfigured' }
  }
}
