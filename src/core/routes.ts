/**
 * The two routes every application writes, done once (docs/adapters.md): the refresh route
 * (verify the refresh token from any enabled location, CSRF included, rotate, set cookies) and
 * the logout route (revoke what the request proves it holds, always clear the cookies).
 * Adapters only write the answer these functions compute.
 * @module
 */
import { checkCallOptions, isAny, isBoolean, isScopeList } from './call-options.js'
import type { TokenPair } from './claims.js'
import type { ResolvedConfig } from './config.js'
import { constantTimeEqual } from './csrf.js'
import { AuthXError, StoreUnavailableError } from './errors.js'
import { extractToken } from './extract.js'
import type { TokenPayload, TokenType } from './payload.js'
import { type RequestLike, toRequestView } from './request.js'
import type { RefreshOptions } from './rotation.js'

/** A value, or a function of the refresh token's payload that gives it. */
export type FromPayload<T> = T | ((payload: TokenPayload) => T | Promise<T>)

/**
 * Options of the ready-made refresh route.
 *
 * @example
 * ```ts
 * app.post('/auth/refresh', authx.refreshRoute({ scopes: (payload) => scopesOf(payload.sub) }))
 * ```
 */
export interface RefreshRouteOptions<Data extends Record<string, unknown> = Record<string, unknown>> {
  /** Custom data of the new tokens (or a function of the refresh payload). Default: inherited. */
  data?: FromPayload<Data> | undefined
  /** Scopes of the new tokens (or a function of the refresh payload). Default: inherited. */
  scopes?: FromPayload<string[]> | undefined
  /**
   * Whether the JSON answer carries the token strings. Default `true`. With cookies as the only
   * location, `false` keeps the refresh token out of reach of the page's scripts (the cookies are
   * HttpOnly), so an XSS cannot carry it away; the answer is then `{ token_type, csrf }`.
   */
  tokensInBody?: boolean | undefined
}

/** Options of the ready-made logout route: none yet (an object with any name is a `TypeError`). */
export type LogoutRouteOptions = Record<string, never>

/**
 * Checks the logout route's options (none are known yet).
 *
 * @example
 * ```ts
 * logoutRouteOptions(undefined)
 * ```
 */
export function logoutRouteOptions(options: unknown): LogoutRouteOptions {
  checkCallOptions(options, 'logoutRoute', {})
  return {}
}

/** What a ready-made route answers; adapters write it in their framework's way. */
export interface RouteAnswer {
  /** HTTP status. */
  readonly status: number
  /** Headers besides `Set-Cookie` (lower-case names). */
  readonly headers: Readonly<Record<string, string>>
  /** `Set-Cookie` values; they replace any the response already holds under the same names. */
  readonly cookies: readonly string[]
  /** The JSON body, or `undefined` for an empty answer (204). */
  readonly body: unknown
}

/** What the logout route computed: the cookies to clear, and the error if revocation failed. */
export interface LogoutAnswer {
  /** `Set-Cookie` values deleting every token and CSRF cookie (when cookies are a location). */
  readonly cookies: readonly string[]
  /** Set when the store could not record the revocation: answer it (503), cookies still cleared. */
  readonly error?: AuthXError
  /** What was revoked: family ids, token ids, and the live sessions ended (docs/sessions.md). */
  readonly revoked: {
    readonly families: readonly string[]
    readonly tokens: readonly string[]
    readonly sessions: readonly string[]
  }
}

/** What the routes need of their `AuthX` instance. */
export interface RouteContext {
  readonly config: ResolvedConfig
  authenticate(request: RequestLike, options: { type: TokenType }): Promise<TokenPayload | null>
  refresh(payload: TokenPayload, options: RefreshOptions): Promise<TokenPair>
  accessCookies(token: string): string[]
  refreshCookies(token: string): string[]
  unsetCookies(): string[]
  /** Signature and structure checked, expiry not required. */
  decodeIgnoringExpiry(token: string): Promise<TokenPayload>
  isRevoked(payload: TokenPayload): Promise<boolean>
  revokeFamily(fid: string): Promise<void>
  revokeToken(payload: TokenPayload): Promise<void>
  /** Ends a session (its record leaves the user's list, its every token fails); whether it lived. */
  endSession(sid: string): Promise<boolean>
}

const ROUTE_CHECKS = { data: isAny, scopes: isAny, tokensInBody: isBoolean }
const JSON_HEADERS = Object.freeze({
  'content-type': 'application/json; charset=utf-8',
  'cache-control': 'no-store',
})

/**
 * Checks the refresh route's options once, where the route is made.
 *
 * @example
 * ```ts
 * const options = refreshRouteOptions({ scopes: ['users:read'] })
 * ```
 */
export function refreshRouteOptions(options: unknown): RefreshRouteOptions {
  const checked = checkCallOptions(options, 'refreshRoute', ROUTE_CHECKS) as RefreshRouteOptions
  if (checked.data !== undefined && typeof checked.data !== 'function' && typeof checked.data !== 'object') {
    throw new TypeError("refreshRoute: option 'data' must be an object or a function of the payload")
  }
  if (checked.scopes !== undefined && typeof checked.scopes !== 'function') {
    isScopeList(checked.scopes, "refreshRoute: option 'scopes'")
  }
  return Object.freeze({ ...checked })
}

async function resolve<T>(value: FromPayload<T> | undefined, payload: TokenPayload): Promise<T | undefined> {
  return typeof value === 'function' ? await (value as (p: TokenPayload) => T | Promise<T>)(payload) : value
}

/**
 * The refresh route: verifies the request's refresh token (any enabled location, CSRF
 * included), rotates it, and answers the new pair with `Cache-Control: no-store`, setting both
 * cookies when cookies are a location. Throws the usual `AuthXError`s (401, 403, 503).
 *
 * @example
 * ```ts
 * const answer = await refreshAnswer(context, request, {})
 * ```
 */
export async function refreshAnswer(
  ctx: RouteContext,
  request: RequestLike,
  options: RefreshRouteOptions,
): Promise<RouteAnswer> {
  const payload = (await ctx.authenticate(request, { type: 'refresh' })) as TokenPayload
  const refreshOptions: RefreshOptions = {}
  const data = await resolve(options.data, payload)
  const scopes = await resolve(options.scopes, payload)
  if (data !== undefined) refreshOptions.data = data
  if (scopes !== undefined) refreshOptions.scopes = scopes
  const pair = await ctx.refresh(payload, refreshOptions)
  const cookies = ctx.config.locations.includes('cookies')
    ? [...ctx.accessCookies(pair.accessToken), ...ctx.refreshCookies(pair.refreshToken)]
    : []
  const body: Record<string, unknown> =
    options.tokensInBody === false
      ? { token_type: pair.tokenType }
      : { access_token: pair.accessToken, refresh_token: pair.refreshToken, token_type: pair.tokenType }
  if (options.tokensInBody === false && pair.csrf !== undefined) body.csrf = { ...pair.csrf }
  return { status: 200, headers: JSON_HEADERS, cookies, body }
}

/**
 * The token of one type the request proves it holds, for logout: signature and structure
 * checked, expiry not required (an idle user whose access token expired can still log out),
 * and the CSRF value checked for cookie tokens on protected methods. `null` when there is none
 * or it does not verify: logout then revokes nothing for it.
 */
async function provenToken(
  ctx: RouteContext,
  request: RequestLike,
  type: TokenType,
): Promise<TokenPayload | null> {
  try {
    const found = await extractToken(ctx.config, toRequestView(request), { type, optional: true })
    if (found === null) return null
    const payload = await ctx.decodeIgnoringExpiry(found.token)
    if (payload.type !== type) return null
    if (found.csrfRequired) {
      // A cross-site request cannot make the server revoke anything (the cookies still go).
      if (
        found.csrf === undefined ||
        payload.csrf === undefined ||
        !constantTimeEqual(found.csrf, payload.csrf)
      )
        return null
    }
    return payload
  } catch (err) {
    // A token that does not verify revokes nothing; a key set that cannot be fetched (remote
    // JWKS down) is not an answer about the token, and must not pass for a completed logout.
    if (err instanceof AuthXError && !(err instanceof StoreUnavailableError)) return null
    throw err
  }
}

/**
 * The logout route: ends the session of a token that has one, and revokes the family (or, for
 * a token without one, the token) of the access token and of the refresh token the request carries, expired access tokens included, and
 * always clears the cookies. A missing or invalid token revokes nothing and is not an error. The
 * only error is a store that cannot record the revocation (`error`, 503): the cookies are still
 * cleared, and the client is told the revocation is unknown.
 *
 * @example
 * ```ts
 * const { cookies, error } = await logoutAnswer(context, request)
 * ```
 */
export async function logoutAnswer(ctx: RouteContext, request: RequestLike): Promise<LogoutAnswer> {
  const cookies = ctx.config.locations.includes('cookies') ? ctx.unsetCookies() : []
  const families: string[] = []
  const tokens: string[] = []
  const sessions: string[] = []
  try {
    for (const type of ['access', 'refresh'] as const) {
      const payload = await provenToken(ctx, request, type)
      if (payload === null) continue
      // A session's logout ends the session: it leaves the user's list of devices.
      if (payload.sid !== undefined && !sessions.includes(payload.sid)) {
        if (await ctx.endSession(payload.sid)) sessions.push(payload.sid)
      }
      if (payload.fid !== undefined) {
        if (families.includes(payload.fid)) continue
        await ctx.revokeFamily(payload.fid)
        families.push(payload.fid)
      } else if (!(await ctx.isRevoked(payload))) {
        await ctx.revokeToken(payload)
        tokens.push(payload.jti)
      }
    }
  } catch (err) {
    const error =
      err instanceof AuthXError
        ? err
        : new StoreUnavailableError('Revocation store unavailable', { cause: err })
    return { cookies, error, revoked: { families, tokens, sessions } }
  }
  return { cookies, revoked: { families, tokens, sessions } }
}

/**
 * The `Set-Cookie` values a response ends with when a route sets `route`: earlier values under
 * the same cookie names (implicit refresh's renewed access cookie) are dropped, so the route's
 * cookies win.
 *
 * @example
 * ```ts
 * res.setHeader('Set-Cookie', mergeSetCookies(existing, answer.cookies))
 * ```
 */
export function mergeSetCookies(existing: readonly string[], route: readonly string[]): string[] {
  const nameOf = (cookie: string) => cookie.slice(0, Math.max(0, cookie.indexOf('='))).trim()
  const taken = new Set(route.map(nameOf))
  return [...existing.filter((cookie) => !taken.has(nameOf(cookie))), ...route]
}

/**
 * The 204 answer of a logout whose revocation succeeded (or had nothing to revoke).
 *
 * @example
 * ```ts
 * const answer = logoutSuccess(cookies)
 * ```
 */
export function logoutSuccess(cookies: readonly string[]): RouteAnswer {
  return { status: 204, headers: { 'cache-control': 'no-store' }, cookies, body: undefined }
}
