/**
 * Koa 2 and 3 adapter (SPEC section 6): guards are middleware values, the payload lands on
 * `ctx.state.authx`, the subject on `ctx.state.authxSubject`, and `authx.errorHandler`
 * (registered first) turns authx errors into the responses of SPEC section 5.
 *
 * Tokens in the body are read from `ctx.request.body`, so add a body parser (`@koa/bodyparser`,
 * `koa-body`, ...) before the guards; without one the body locations find nothing.
 * @module
 */
import {
  type AuthenticateOptions,
  type AuthX,
  type AuthXAdapter,
  type AuthXRequest,
  errorResponse,
  isAuthXError,
  parsedRequestView,
  type TokenPayload,
} from 'authx'
import type { Context, Middleware } from 'koa'

declare module 'koa' {
  interface DefaultState {
    /**
     * The verified token payload, set by the authx guards. `null` after `accessOptional` when
     * the request carries no token; not set on routes without an authx guard.
     */
    authx: TokenPayload
    /** The subject loaded by `authx.currentSubject` (what the subject getter returned). */
    authxSubject: unknown
  }
}

/**
 * Koa middleware as the adapter hands it out (Koa's own `Middleware` type).
 *
 * @example
 * ```ts
 * const guard: KoaMiddleware = authx.accessRequired
 * ```
 */
export type KoaMiddleware = Middleware

/**
 * What the cookie helpers need of a context: Koa's `ctx.append`. Any Koa or router context fits.
 *
 * @example
 * ```ts
 * authx.unsetCookies(ctx satisfies KoaCookieTarget)
 * ```
 */
export type KoaCookieTarget = Pick<Context, 'append'>

/**
 * What `koaAuthX(auth)` returns: middleware values and cookie helpers (SPEC section 6).
 *
 * @example
 * ```ts
 * const authx: KoaAuthX = koaAuthX(auth)
 * router.post('/auth/refresh', authx.refreshRequired, handler)
 * ```
 */
export interface KoaAuthX extends AuthXAdapter<KoaMiddleware, KoaCookieTarget> {
  /**
   * Renews an access cookie close to expiry (SPEC section 6). `app.use` it after `errorHandler`
   * and before the routes; include/exclude lists match `ctx.path` (relative under `koa-mount`).
   * The cookies reach every answer written by the app, `errorHandler` included; an error left
   * to Koa itself is answered with Koa's bare 500, which drops every header (the old cookie
   * then stays in use until the next request renews it).
   */
  readonly implicitRefresh: KoaMiddleware
  /**
   * Writes authx errors as JSON answers and rethrows every other error to Koa. Register it
   * first: Koa's own error handling clears every header, renewed cookies included.
   */
  readonly errorHandler: KoaMiddleware
}

/** The core's view of a Koa request. Nothing here throws for client input. */
function requestView(ctx: Context): AuthXRequest {
  return parsedRequestView({
    method: ctx.method,
    path: () => ctx.path,
    headers: ctx.headers,
    query: () => ctx.query,
    // Set by a body parser; Koa itself has no `request.body`.
    body: () => (ctx.request as { body?: unknown }).body,
  })
}

/**
 * Awaits a core call. Koa's `ctx.onerror` ignores a `null` or `undefined` rejection and then
 * never answers, so a subject getter rejecting with nothing would leave the request hanging:
 * such values become an `Error` (Koa's own 500), everything else passes untouched.
 */
async function settle<T>(work: Promise<T>): Promise<T> {
  try {
    return await work
  } catch (err) {
    throw typeof err === 'object' && err !== null
      ? err
      : new Error('authx: rejected with a non-error', { cause: err })
  }
}

function append(ctx: KoaCookieTarget, cookies: string[]): void {
  // append, not set: cookies the handler or other middleware set survive.
  if (cookies.length > 0) ctx.append('Set-Cookie', cookies)
}

/** The cookie names a response's `Set-Cookie` header currently mentions. */
function setCookieNames(ctx: Context): Set<string> {
  const value = ctx.response.get('Set-Cookie') as unknown
  const list = Array.isArray(value) ? value : typeof value === 'string' && value !== '' ? [value] : []
  return new Set(list.map((cookie) => String(cookie).split('=', 1)[0]!.trim()))
}

/**
 * Koa middleware for an authx instance (Koa 2 and 3).
 *
 * @example
 * ```ts
 * import Koa from 'koa'
 * import { bodyParser } from '@koa/bodyparser'
 * import Router from '@koa/router'
 * import { koaAuthX } from 'authx/koa'
 *
 * const authx = koaAuthX(auth)
 * const app = new Koa()
 * const router = new Router()
 * app.use(authx.errorHandler) // first, so error answers keep their headers
 * app.use(bodyParser())
 * app.use(authx.implicitRefresh)
 * router.get('/api/profile', authx.accessRequired, (ctx) => {
 *   ctx.body = { user_id: ctx.state.authx.sub }
 * })
 * router.get('/admin', authx.scopesRequired('admin:*'), (ctx) => {
 *   ctx.body = { ok: true }
 * })
 * app.use(router.routes())
 * ```
 */
export function koaAuthX(auth: AuthX): KoaAuthX {
  const guard =
    (check: (view: AuthXRequest) => Promise<TokenPayload | null>): KoaMiddleware =>
    async (ctx, next) => {
      ctx.state.authx = (await settle(check(requestView(ctx)))) as TokenPayload
      await next()
    }
  const tokenRequired = (options: Omit<AuthenticateOptions, 'optional'>) => guard(auth.tokenRequired(options))
  return {
    accessRequired: guard(auth.accessRequired),
    refreshRequired: guard(auth.refreshRequired),
    freshRequired: guard(auth.freshRequired),
    accessOptional: guard((view) => auth.authenticate(view, { optional: true })),
    currentSubject: async (ctx, next) => {
      // What auth.getCurrentSubject does, split so the token is verified once and kept too.
      const payload = (await settle(auth.authenticate(requestView(ctx)))) as TokenPayload
      ctx.state.authxSubject = await settle(auth.loadSubject(payload))
      ctx.state.authx = payload
      await next()
    },
    implicitRefresh: async (ctx, next) => {
      const cookies = await settle(auth.implicitRefreshCookies(requestView(ctx)))
      if (cookies.length === 0) return next()
      // Appended before the handler, so a handler that unsets the cookies (logout) comes later
      // in the header and wins in the browser.
      append(ctx, cookies)
      try {
        await next()
      } finally {
        // Put them back if something replaced or cleared Set-Cookie, unless the response now
        // says something itself about these cookies.
        const names = setCookieNames(ctx)
        if (!ctx.headerSent && !cookies.some((cookie) => names.has(cookie.split('=', 1)[0]!))) {
          append(ctx, cookies)
        }
      }
    },
    errorHandler: async (ctx, next) => {
      try {
        await next()
      } catch (err) {
        if (!isAuthXError(err) || ctx.headerSent || !ctx.writable) throw err
        // Answered here rather than by Koa's ctx.onerror, which first removes every header.
        const { status, headers, body } = errorResponse(err)
        ctx.status = status
        ctx.body = body
        ctx.set(headers)
      }
    },
    scopesRequired: (...scopes) => tokenRequired({ scopes }),
    anyScopeRequired: (...scopes) => tokenRequired({ scopes, anyScope: true }),
    tokenRequired,
    setAccessCookies: (ctx, token, options) => append(ctx, auth.accessCookies(token, options)),
    setRefreshCookies: (ctx, token, options) => append(ctx, auth.refreshCookies(token, options)),
    unsetCookies: (ctx) => append(ctx, auth.unsetCookies()),
    unsetAccessCookies: (ctx) => append(ctx, auth.unsetAccessCookies()),
    unsetRefreshCookies: (ctx) => append(ctx, auth.unsetRefreshCookies()),
  }
}
