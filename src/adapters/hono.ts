/**
 * Hono 4 adapter (SPEC section 6): guards are middleware values, the payload is at
 * `c.get('authx')`, the subject at `c.get('authxSubject')`, and authx errors are thrown as
 * `HTTPException`s whose `getResponse()` is the full answer of SPEC section 5.
 * @module
 */
import {
  type AuthenticateOptions,
  type AuthX,
  type AuthXRequest,
  type CookieCallOptions,
  errorResponse,
  isAuthXError,
  isFormContentType,
  isJsonContentType,
  parseCookieHeader,
  renewedCookiesFor,
  type TokenPayload,
} from 'authx'
import type { Context, MiddlewareHandler } from 'hono'
import { HTTPException } from 'hono/http-exception'

declare module 'hono' {
  interface ContextVariableMap {
    /** The verified token payload, set by an authx guard. */
    authx: TokenPayload
    /** The user loaded by `currentSubject`. */
    authxSubject: unknown
  }
}

/** The core's request view over a Hono context; no method throws on client input. */
function view(c: Context): AuthXRequest {
  const contentType = () => c.req.header('content-type')
  return {
    method: c.req.method,
    path: c.req.path,
    header: (name) => c.req.header(name),
    cookie: (name) => parseCookieHeader(c.req.header('cookie')).get(name),
    query: (name) => c.req.query(name),
    // Hono caches the body it reads, so the handler can still call c.req.json() / parseBody().
    json: async () => {
      if (!isJsonContentType(contentType())) return undefined
      try {
        return await c.req.json()
      } catch {
        return undefined // a broken body is not a token
      }
    },
    form: async () => {
      if (!isFormContentType(contentType())) return undefined
      try {
        const out: Record<string, unknown> = Object.create(null)
        for (const [key, value] of Object.entries(await c.req.parseBody({ all: true })))
          out[key] = Array.isArray(value) ? value[0] : value // first value, as the core's Web view
        return out
      } catch {
        return undefined
      }
    },
  }
}

/** Runs a core call, turning an authx error into an `HTTPException` (others pass untouched). */
async function run<T>(call: () => Promise<T>): Promise<T> {
  try {
    return await call()
  } catch (err) {
    if (!isAuthXError(err)) throw err
    const { status, headers, body } = errorResponse(err)
    const res = new Response(JSON.stringify(body), { status, headers })
    throw new HTTPException(status as HTTPException['status'], { res, message: err.message, cause: err })
  }
}

function appendCookies(c: Context, cookies: readonly string[]): void {
  for (const cookie of cookies) c.header('Set-Cookie', cookie, { append: true })
}

/**
 * Hono middleware for an authx instance.
 *
 * @example
 * ```ts
 * import { honoAuthX } from 'authx/hono'
 * const authx = honoAuthX(auth)
 * app.use(authx.implicitRefresh)
 * app.get('/api/profile', authx.accessRequired, (c) => c.json({ user_id: c.get('authx').sub }))
 * app.get('/admin', authx.scopesRequired('admin:*'), (c) => c.json({ ok: true }))
 * ```
 */
export function honoAuthX(auth: AuthX) {
  const guard =
    (options: AuthenticateOptions): MiddlewareHandler =>
    async (c, next) => {
      c.set('authx', (await run(() => auth.authenticate(view(c), options))) as TokenPayload)
      await next()
    }
  return {
    /** Requires a valid access token. */
    accessRequired: guard({}),
    /** Requires a valid refresh token. */
    refreshRequired: guard({ type: 'refresh' }),
    /** Requires a valid, fresh access token. */
    freshRequired: guard({ fresh: true }),
    /** Requires an access token holding every given scope. */
    scopesRequired: (...scopes: string[]): MiddlewareHandler => guard({ scopes }),
    /** Requires an access token holding at least one of the given scopes. */
    anyScopeRequired: (...scopes: string[]): MiddlewareHandler => guard({ scopes, anyScope: true }),
    /** A guard with fixed options (type, fresh, scopes, locations, csrf). */
    tokenRequired: (options: Omit<AuthenticateOptions, 'optional'> = {}): MiddlewareHandler =>
      guard({ ...options, optional: false }),
    /** Sets `authx` to the payload, or `null` without a token; a present but bad token still fails. */
    accessOptional: (async (c, next) => {
      c.set('authx', await run(() => auth.authenticate(view(c), { optional: true })))
      await next()
    }) as MiddlewareHandler<{ Variables: { authx: TokenPayload | null } }>,
    /** Authenticates, sets `authx`, and sets `authxSubject` to the subject getter's result. */
    currentSubject: (async (c, next) => {
      const payload = (await run(() => auth.authenticate(view(c)))) as TokenPayload
      c.set('authx', payload)
      c.set('authxSubject', await run(() => auth.loadSubject(payload)))
      await next()
    }) as MiddlewareHandler,
    /**
     * Renews a cookie access token close to expiry; the cookies are added after the handler,
     * so they reach the response whatever it is (errors from guards included).
     */
    implicitRefresh: (async (c, next) => {
      const cookies = await run(() => auth.implicitRefreshCookies(view(c)))
      await next()
      appendCookies(c, renewedCookiesFor(cookies, c.res.headers.getSetCookie()))
    }) as MiddlewareHandler,
    /** Appends the access token cookie and its CSRF cookie. */
    setAccessCookies: (c: Context, token: string, options?: CookieCallOptions): void =>
      appendCookies(c, auth.accessCookies(token, options)),
    /** Appends the refresh token cookie and its CSRF cookie. */
    setRefreshCookies: (c: Context, token: string, options?: CookieCallOptions): void =>
      appendCookies(c, auth.refreshCookies(token, options)),
    /** Appends cookies deleting every token and CSRF cookie. */
    unsetCookies: (c: Context): void => appendCookies(c, auth.unsetCookies()),
    /** Appends cookies deleting the access cookies. */
    unsetAccessCookies: (c: Context): void => appendCookies(c, auth.unsetAccessCookies()),
    /** Appends cookies deleting the refresh cookies. */
    unsetRefreshCookies: (c: Context): void => appendCookies(c, auth.unsetRefreshCookies()),
    /**
     * An `app.onError` handler: authx errors thrown anywhere (a guard, or `auth.refresh()` in a
     * handler) become their JSON answer; `HTTPException`s answer their own response; anything
     * else is logged and answered 500, as Hono does by default.
     */
    onError: (err: Error, c: Context): Response => {
      if (err instanceof HTTPException) return err.getResponse()
      if (isAuthXError(err)) {
        const { status, headers, body } = errorResponse(err)
        return new Response(JSON.stringify(body), { status, headers })
      }
      console.error(err)
      return c.text('Internal Server Error', 500)
    },
  }
}

/**
 * What `honoAuthX` returns.
 *
 * @example
 * ```ts
 * const authx: HonoAuthX = honoAuthX(auth)
 * ```
 */
export type HonoAuthX = ReturnType<typeof honoAuthX>
