/**
 * The shape every middleware-style adapter offers (SPEC section 6), written once. Adapters fill
 * in their framework's middleware type and the object their cookie helpers write to.
 * @module
 */
import type { AuthenticateOptions, CookieCallOptions } from './authx.js'

/**
 * Guards and cookie helpers of an adapter: `Guard` is the framework's middleware (or hook)
 * type, `Target` what cookie helpers append `Set-Cookie` values to.
 *
 * @example
 * ```ts
 * export interface ExpressAuthX extends AuthXAdapter<ExpressMiddleware, ExpressResponse> {
 *   readonly errorHandler: ExpressErrorMiddleware
 * }
 * ```
 */
export interface AuthXAdapter<Guard, Target> {
  /** Requires a valid access token and stores its payload. */
  readonly accessRequired: Guard
  /** Requires a valid refresh token (for the refresh route). */
  readonly refreshRequired: Guard
  /** Requires a valid, fresh access token. */
  readonly freshRequired: Guard
  /** Stores the payload, or `null` when no token is sent; a present but bad token still fails. */
  readonly accessOptional: Guard
  /** Authenticates, stores the payload, and loads the subject with the subject getter. */
  readonly currentSubject: Guard
  /** Renews an access cookie close to expiry (SPEC section 6); its cookies reach every answer. */
  readonly implicitRefresh: Guard
  /** Requires an access token holding every given scope. */
  scopesRequired(...scopes: string[]): Guard
  /** Requires an access token holding at least one of the given scopes. */
  anyScopeRequired(...scopes: string[]): Guard
  /** A guard with fixed options (type, fresh, scopes, anyScope, locations, csrf). */
  tokenRequired(options: Omit<AuthenticateOptions, 'optional'>): Guard
  /** Appends the access token cookie and its CSRF cookie. */
  setAccessCookies(target: Target, token: string, options?: CookieCallOptions): void
  /** Appends the refresh token cookie and its CSRF cookie. */
  setRefreshCookies(target: Target, token: string, options?: CookieCallOptions): void
  /** Appends cookies deleting every token and CSRF cookie. */
  unsetCookies(target: Target): void
  /** Appends cookies deleting the access cookies. */
  unsetAccessCookies(target: Target): void
  /** Appends cookies deleting the refresh cookies. */
  unsetRefreshCookies(target: Target): void
}
