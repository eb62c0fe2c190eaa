/**
 * Building the claims and header of new tokens (docs/token-types.md).
 * @module
 */

import { MAX_JSON_DEPTH } from './decode.js'
import { type Duration, durationSeconds } from './duration.js'
import { REGISTERED_CLAIMS, type TokenType } from './payload.js'
import type { SessionInput } from './sessions.js'

/**
 * Options of `createAccessToken`.
 *
 * @example
 * ```ts
 * await auth.createAccessToken({ uid: 'user123', fresh: true, scopes: ['users:read'], data: { role: 'admin' } })
 * ```
 */
export interface CreateAccessTokenOptions<Data extends Record<string, unknown> = Record<string, unknown>> {
  /** The subject (user id); a non-empty string. */
  uid: string
  /** Minted at login. Default `false`. */
  fresh?: boolean
  /** Lifetime from now, or an absolute expiry. Default: the instance's lifetime for the type. */
  expiry?: Duration | Date
  /** Custom claims; no reserved claim names, no `__proto__`/`constructor`/`prototype`. */
  data?: Data
  /** Granted scopes (written even when empty). */
  scopes?: string[]
  /** `aud` for this token, instead of the instance's `audience`. */
  audience?: string | string[]
  /** Extra JOSE header fields; `alg`, `typ`, `kid`, `crit`, `jku`, `jwk`, `x5u`, `x5c`, `b64` are refused. */
  headers?: Record<string, unknown>
  /**
   * Binds the token to a DPoP key (docs/dpop.md): the RFC 7638 thumbprint of the login request's
   * proof key, from `auth.dpopThumbprint(request)`. Only on an instance with the `dpop` option.
   */
  jkt?: string | undefined
}

/** Options of `createRefreshToken`: those of access tokens without `fresh`. */
export type CreateRefreshTokenOptions<Data extends Record<string, unknown> = Record<string, unknown>> = Omit<
  CreateAccessTokenOptions<Data>,
  'fresh'
>

/**
 * Options of `createTokenPair`.
 *
 * @example
 * ```ts
 * await auth.createTokenPair({ uid: 'user123', fresh: true, accessExpiry: '5m' })
 * ```
 */
export interface CreateTokenPairOptions<Data extends Record<string, unknown> = Record<string, unknown>> {
  uid: string
  fresh?: boolean
  data?: Data
  scopes?: string[]
  accessExpiry?: Duration | Date
  refreshExpiry?: Duration | Date
  /** Binds both tokens to a DPoP key (see `CreateAccessTokenOptions.jkt`, docs/dpop.md). */
  jkt?: string | undefined
  /**
   * Records a session for this login (docs/sessions.md): both tokens carry its id as `sid`, and
   * `auth.sessions` lists and ends it.
   */
  session?: SessionInput
}

/** What a login or refresh returns. */
export interface TokenPair {
  accessToken: string
  refreshToken: string
  /** `'DPoP'` for a DPoP-bound pair (RFC 9449 section 5), else `'bearer'`. */
  tokenType: 'bearer' | 'DPoP'
  /**
   * The double-submit CSRF values of both tokens (their `csrf` claims), present when cookies are
   * a location and CSRF protection is on: what the page sends back in `X-CSRF-TOKEN`.
   */
  csrf?: { access: string; refresh: string }
}

/** Header fields a caller may not set: they choose keys or algorithms, or change semantics. */
export const FORBIDDEN_HEADERS: ReadonlySet<string> = new Set([
  'alg',
  'typ',
  'kid',
  'crit',
  'jku',
  'jwk',
  'x5u',
  'x5c',
  'b64',
])
const FORBIDDEN_KEYS: ReadonlySet<string> = new Set(['__proto__', 'constructor', 'prototype'])

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null) return false
  const proto = Object.getPrototypeOf(value)
  return proto === Object.prototype || proto === null
}

/**
 * Checks that a value is plain JSON (strings, finite numbers, booleans, null, arrays, plain
 * objects) with no forbidden key at any depth; throws a `TypeError` naming the path.
 */
export function assertJsonValue(value: unknown, path: string, depth = 1): void {
  if (depth > MAX_JSON_DEPTH) throw new TypeError(`${path}: nested deeper than ${MAX_JSON_DEPTH} levels`)
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new TypeError(`${path}: numbers must be finite to be JSON`)
    return
  }
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) assertJsonValue(value[i], `${path}[${i}]`, depth + 1)
    return
  }
  if (!isPlainObject(value)) throw new TypeError(`${path}: is not JSON-serialisable`)
  for (const key of Reflect.ownKeys(value)) {
    if (typeof key === 'symbol') throw new TypeError(`${path}: symbol keys are not JSON-serialisable`)
    if (FORBIDDEN_KEYS.has(key)) throw new TypeError(`${path}: key '${key}' is not allowed`)
    assertJsonValue(value[key], `${path}.${key}`, depth + 1)
  }
}

function expirySeconds(
  expiry: Duration | Date | undefined,
  lifetime: number | false,
  now: number,
): number | undefined {
  if (expiry instanceof Date) {
    const ms = expiry.getTime()
    if (Number.isNaN(ms)) throw new TypeError('expiry: invalid Date')
    return Math.floor(ms / 1000)
  }
  if (expiry !== undefined) return now + durationSeconds(expiry, 'expiry')
  return lifetime === false ? undefined : now + lifetime
}

function scopesClaim(scopes: unknown): string[] | undefined {
  if (scopes === undefined) return undefined
  if (!Array.isArray(scopes) || !scopes.every((s) => typeof s === 'string' && s.length > 0)) {
    throw new TypeError('scopes: expected an array of non-empty strings')
  }
  return [...scopes]
}

function audienceClaim(audience: unknown): string | string[] | undefined {
  if (audience === undefined) return undefined
  if (typeof audience === 'string' && audience.length > 0) return audience
  if (
    Array.isArray(audience) &&
    audience.length > 0 &&
    audience.every((a) => typeof a === 'string' && a.length > 0)
  ) {
    return [...audience]
  }
  throw new TypeError('audience: expected a non-empty string or array of non-empty strings')
}

/** Instance settings the claim builder reads. */
export interface ClaimSettings {
  readonly accessTtl: number | false
  readonly refreshTtl: number | false
  readonly maxLifetime: number | false
  readonly issuer: string | undefined
  readonly audience: string | readonly string[] | undefined
  readonly csrfClaim: boolean
  readonly clock: () => number
  readonly loginType: string | undefined
}

/** Everything a new token needs besides its key. */
export interface TokenSpec {
  type: TokenType
  uid: unknown
  fresh?: unknown
  expiry?: Duration | Date | undefined
  data?: unknown
  scopes?: unknown
  audience?: unknown
  fid?: string | undefined
  sid?: string | undefined
  /** The DPoP key thumbprint the token is bound to (`cnf.jkt`, docs/dpop.md). */
  jkt?: string | undefined
}

/**
 * Builds the claims of a new token in the documented order; throws `TypeError` for bad input.
 *
 * @example
 * ```ts
 * buildClaims(settings, { type: 'access', uid: 'u1', fresh: true })
 * ```
 */
export function buildClaims(settings: ClaimSettings, spec: TokenSpec): Record<string, unknown> {
  if (typeof spec.uid !== 'string' || spec.uid.length === 0)
    throw new TypeError('uid: expected a non-empty string')
  if (spec.fresh !== undefined && typeof spec.fresh !== 'boolean')
    throw new TypeError('fresh: expected a boolean')
  const data = spec.data ?? {}
  if (!isPlainObject(data)) throw new TypeError('data: expected a plain object')
  for (const key of Reflect.ownKeys(data)) {
    if (typeof key === 'string' && REGISTERED_CLAIMS.has(key)) {
      throw new TypeError(`data: key '${key}' is a reserved claim`)
    }
  }
  assertJsonValue(data, 'data')
  const scopes = scopesClaim(spec.scopes)
  const audience = audienceClaim(spec.audience) ?? settings.audience

  const now = Math.floor(settings.clock() / 1000)
  const exp = expirySeconds(
    spec.expiry,
    spec.type === 'access' ? settings.accessTtl : settings.refreshTtl,
    now,
  )
  if (exp !== undefined && settings.maxLifetime !== false && exp - now > settings.maxLifetime) {
    // Family and subject revocations live maxLifetime: a longer token would outlive them.
    throw new TypeError(
      `expiry: ${exp - now} seconds is longer than maxLifetime (${settings.maxLifetime} seconds); raise maxLifetime to allow it`,
    )
  }
  const claims: Record<string, unknown> = { sub: spec.uid, jti: crypto.randomUUID(), iat: now, nbf: now }
  if (exp !== undefined) claims.exp = exp
  claims.type = spec.type
  if (spec.type === 'access') claims.fresh = spec.fresh === true
  if (settings.csrfClaim) claims.csrf = crypto.randomUUID()
  if (scopes !== undefined) claims.scopes = scopes
  if (settings.issuer !== undefined) claims.iss = settings.issuer
  if (audience !== undefined) claims.aud = typeof audience === 'string' ? audience : [...audience]
  if (spec.fid !== undefined) claims.fid = spec.fid
  if (spec.sid !== undefined) claims.sid = spec.sid
  if (spec.jkt !== undefined) {
    // An RFC 7638 SHA-256 thumbprint: 32 bytes in base64url.
    if (typeof spec.jkt !== 'string' || !/^[A-Za-z0-9_-]{43}$/.test(spec.jkt)) {
      throw new TypeError('jkt: expected an RFC 7638 SHA-256 thumbprint (43 base64url characters)')
    }
    claims.cnf = { jkt: spec.jkt }
  }
  if (settings.loginType !== undefined) claims.login_type = settings.loginType
  return Object.assign(claims, data)
}

/**
 * Checks caller-supplied header fields; throws `TypeError` naming a forbidden or bad field.
 *
 * @example
 * ```ts
 * extraHeaders({ cty: 'x' }) // { cty: 'x' }
 * extraHeaders({ alg: 'none' }) // throws TypeError: headers: field 'alg' cannot be set
 * ```
 */
export function extraHeaders(headers: unknown): Record<string, unknown> | undefined {
  if (headers === undefined) return undefined
  if (!isPlainObject(headers)) throw new TypeError('headers: expected a plain object')
  for (const key of Object.keys(headers)) {
    if (FORBIDDEN_HEADERS.has(key)) throw new TypeError(`headers: field '${key}' cannot be set`)
  }
  assertJsonValue(headers, 'headers')
  return headers
}
