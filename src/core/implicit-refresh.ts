/**
 * Implicit refresh (docs/cookies.md#implicit-refresh): renewing an access cookie close to expiry
 * on an ordinary request. `AuthX.implicitRefreshCookies` hands over here.
 * @module
 */
import type { TokenSpec } from './claims.js'
import type { ResolvedConfig } from './config.js'
import { checkLoginType } from './login-types.js'
import type { TokenPayload } from './payload.js'
import { type RequestLike, toRequestView } from './request.js'
import { audienceOf } from './rotation.js'

/** What implicit refresh needs of the instance. */
export interface ImplicitRefreshContext {
  readonly config: ResolvedConfig
  decode(token: string): TokenPayload | Promise<TokenPayload>
  checkRevoked(payload: TokenPayload): void | Promise<void>
  create(spec: TokenSpec): string | Promise<string>
  accessCookies(token: string): string[]
}

/**
 * When implicit refresh is enabled and the request's access cookie holds a valid, unrevoked
 * access token (of the instance's login type) expiring within `implicitRefresh.within`, the
 * `Set-Cookie` values of a new, non-fresh access token with the same subject, scopes, family and
 * custom data; otherwise `[]`. Never throws for request input; it reads only (no CSRF check).
 *
 * @example
 * ```ts
 * const cookies = await implicitRefreshCookies(context, request)
 * ```
 */
export async function implicitRefreshCookies(
  context: ImplicitRefreshContext,
  request: RequestLike,
): Promise<string[]> {
  const { config } = context
  const settings = config.implicitRefresh
  if (!settings.enabled) return []
  const view = toRequestView(request)
  const method = typeof view.method === 'string' ? view.method.toUpperCase() : ''
  const path = view.path
  if (settings.includeMethods !== undefined && !settings.includeMethods.includes(method)) return []
  if (settings.excludeMethods.includes(method)) return []
  // Routes are matched as the framework's router matches them where the view knows how
  // (Express: `/Auth/Logout/` is `/auth/logout`), so a spelling variant cannot slip past.
  const named =
    typeof view.routeMatches === 'function'
      ? (route: string) => (view.routeMatches as (r: string) => boolean)(route)
      : (route: string) => route === path
  if (settings.includeRoutes !== undefined && (path === undefined || !settings.includeRoutes.some(named)))
    return []
  if (path !== undefined && settings.excludeRoutes.some(named)) return []
  const token = view.cookie(config.cookies.accessName)
  if (typeof token !== 'string' || token === '') return []
  let payload: TokenPayload
  try {
    payload = await context.decode(token)
    if (payload.type !== 'access') return []
    checkLoginType(config.loginType, payload)
    // The cheap window check first: most requests carry a token far from expiry, and those
    // must not cost a store round trip here.
    if (payload.timeUntilExpiry > settings.within * 1000) return []
    await context.checkRevoked(payload)
  } catch {
    return []
  }
  try {
    const renewed = await context.create({
      type: 'access',
      uid: payload.sub,
      fresh: false,
      data: { ...payload.extra },
      scopes: payload.scopes && [...payload.scopes],
      audience: audienceOf(payload),
      fid: payload.fid,
      // The session too: a renewed token of an ended session must fail as the old one does.
      sid: payload.sid,
      jkt: payload.jkt,
    })
    return context.accessCookies(renewed)
  } catch {
    // A token from another issuer may carry data authx would not mint (a `constructor` key,
    // a value too deep): then it is simply not renewed, and the request goes on.
    return []
  }
}
