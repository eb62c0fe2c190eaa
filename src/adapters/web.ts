/**
 * Web-standard adapter (SPEC section 6) for `(Request) => Response` handlers: Next.js route
 * handlers, Bun, Deno, Cloudflare Workers. Guards wrap a handler and pass it the payload as its
 * second argument; authx errors become `Response`s, every other error is rethrown untouched.
 *
 * Arguments after the request (a Next.js route context, a Workers `env` and `ctx`) pass through
 * to the handler after the payload, and after the subject for `currentSubject`:
 * `(req, payload, ...rest)` and `(req, payload, subject, ...rest)`.
 * @module
 */
import {
  type AuthenticateOptions,
  type AuthX,
  type AuthXRequest,
  type CookieCallOptions,
  errorToResponse,
  fromWebRequest,
  isAuthXError,
  renewedCookiesFor,
  type TokenPayload,
} from 'authx'

/** What a handler may answer. */
type Answer = Response | Promise<Response>

/**
 * A Web handler wrapped by an authx guard: the payload comes second, then any arguments the
 * platform passed after the request.
 *
 * @example
 * ```ts
 * const handler: WebGuardedHandler<TokenPayload, Request, []> = (req, payload) =>
 *   Response.json({ sub: payload.sub })
 * ```
 */
export type WebGuardedHandler<P, R extends Request, Rest extends unknown[]> = (
  req: R,
  payload: P,
  ...rest: Rest
) => Answer

/**
 * A guard: wraps a handler into a `(req, ...rest) => Promise<Response>` handler.
 *
 * @example
 * ```ts
 * const guard: WebGuard = authx.accessRequired
 * export const GET = guard(async (req, payload) => Response.json({ sub: payload.sub }))
 * ```
 */
export type WebGuard<P = TokenPayload> = <R extends Request = Request, Rest extends unknown[] = []>(
  handler: WebGuardedHandler<P, R, Rest>,
) => (req: R, ...rest: Rest) => Promise<Response>

/**
 * The cookie helpers' return: the `Headers` given, or a `Response` (a new one when the given
 * Response's headers were immutable).
 *
 * @example
 * ```ts
 * const res: CookieTarget<Response> = authx.unsetCookies(Response.json({ ok: true }))
 * ```
 */
export type CookieTarget<T extends Response | Headers> = T extends Headers ? Headers : Response

/** Appends `Set-Cookie` values; copies a Response whose headers are immutable (redirect, fetch). */
function append<T extends Response | Headers>(target: T, cookies: readonly string[]): CookieTarget<T>
function append(target: Response | Headers, cookies: readonly string[]): Response | Headers {
  if (target instanceof Headers) {
    for (const cookie of cookies) target.append('set-cookie', cookie)
    return target
  }
  if (cookies.length === 0) return target
  try {
    append(target.headers, cookies) // throws on the first cookie when the headers are immutable
    return target
  } catch {
    let copy: Response
    try {
      const { status, statusText, headers } = target
      copy = new Response(target.body, { status, statusText, headers })
    } catch {
      return target // status 0 (Response.error()) or 101 cannot be copied: nothing to set a cookie on
    }
    return append(copy, cookies)
  }
}

/**
 * Wraps a handler so a thrown authx error becomes its `Response` (SPEC section 5); every other
 * error is rethrown untouched. For handlers that call `auth.authenticate` or `auth.refresh`
 * themselves; the guards of `webAuthX` already do this.
 *
 * @example
 * ```ts
 * export const POST = withAuthXErrors(async (req) => {
 *   const pair = await auth.refresh(await req.text())
 *   return Response.json(pair)
 * })
 * ```
 */
export function withAuthXErrors<R extends Request, Rest extends unknown[]>(
  handler: (req: R, ...rest: Rest) => Answer,
): (req: R, ...rest: Rest) => Promise<Response> {
  return async (req, ...rest) => {
    try {
      return await handler(req, ...rest)
    } catch (err) {
      if (isAuthXError(err)) return errorToResponse(err)
      throw err
    }
  }
}

/**
 * Guards and cookie helpers for Web `Request`/`Response` handlers.
 *
 * @example
 * ```ts
 * import { webAuthX } from 'authx/web'
 * const authx = webAuthX(auth)
 * export const GET = authx.implicitRefresh(
 *   authx.accessRequired(async (req, payload) => Response.json({ user_id: payload.sub })),
 * )
 * // Next.js: the route context comes after the payload.
 * export const DELETE = authx.scopesRequired('admin:*')(
 *   async (req, payload, { params }: { params: Promise<{ id: string }> }) =>
 *     Response.json({ deleted: (await params).id, by: payload.sub }),
 * )
 * ```
 */
export function webAuthX(auth: AuthX) {
  const wrap =
    <P>(check: (view: AuthXRequest) => Promise<P>): WebGuard<P> =>
    (handler) =>
      withAuthXErrors(async (req, ...rest) => handler(req, await check(fromWebRequest(req)), ...rest))
  const guard = (options: AuthenticateOptions): WebGuard =>
    wrap(async (request) => (await auth.authenticate(request, options)) as TokenPayload)
  return {
    /** Requires a valid access token. */
    accessRequired: guard({}),
    /** Requires a valid refresh token. */
    refreshRequired: guard({ type: 'refresh' }),
    /** Requires a valid, fresh access token. */
    freshRequired: guard({ fresh: true }),
    /** Requires an access token holding every given scope. */
    scopesRequired: (...scopes: string[]): WebGuard => guard({ scopes }),
    /** Requires an access token holding at least one of the given scopes. */
    anyScopeRequired: (...scopes: string[]): WebGuard => guard({ scopes, anyScope: true }),
    /** A guard with fixed options (type, fresh, scopes, anyScope, locations, csrf). */
    tokenRequired: (options: Omit<AuthenticateOptions, 'optional'> = {}): WebGuard =>
      guard({ ...options, optional: false }),
    /** Passes the payload, or `null` without a token; a present but bad token still fails. */
    accessOptional: wrap((request) => auth.authenticate(request, { optional: true })),
    /** Authenticates, loads the subject with the subject getter, and passes `(req, payload, subject, ...rest)`. */
    currentSubject: <S = unknown, R extends Request = Request, Rest extends unknown[] = []>(
      handler: (req: R, payload: TokenPayload, subject: S, ...rest: Rest) => Answer,
    ) =>
      withAuthXErrors<R, Rest>(async (req, ...rest) => {
        const payload = (await auth.authenticate(fromWebRequest(req))) as TokenPayload
        return handler(req, payload, await auth.loadSubject<S>(payload), ...rest)
      }),
    /**
     * Renews a cookie access token close to expiry before the handler runs, and appends the new
     * cookies to whatever it answers (authx error answers included). A non-authx error thrown by
     * the handler is rethrown, so the platform's 500 carries no renewed cookie.
     */
    implicitRefresh: <R extends Request, Rest extends unknown[]>(
      handler: (req: R, ...rest: Rest) => Answer,
    ) => {
      const inner = withAuthXErrors(handler)
      return async (req: R, ...rest: Rest): Promise<Response> => {
        const cookies = await auth.implicitRefreshCookies(fromWebRequest(req))
        const response = await inner(req, ...rest)
        return append(response, renewedCookiesFor(cookies, response.headers.getSetCookie()))
      }
    },
    /** Appends the access token cookie and its CSRF cookie; returns the target (or its copy). */
    setAccessCookies: <T extends Response | Headers>(target: T, token: string, options?: CookieCallOptions) =>
      append(target, auth.accessCookies(token, options)),
    /** Appends the refresh token cookie and its CSRF cookie; returns the target (or its copy). */
    setRefreshCookies: <T extends Response | Headers>(
      target: T,
      token: string,
      options?: CookieCallOptions,
    ) => append(target, auth.refreshCookies(token, options)),
    /** Appends cookies deleting every token and CSRF cookie. */
    unsetCookies: <T extends Response | Headers>(target: T) => append(target, auth.unsetCookies()),
    /** Appends cookies deleting the access cookies. */
    unsetAccessCookies: <T extends Response | Headers>(target: T) =>
      append(target, auth.unsetAccessCookies()),
    /** Appends cookies deleting the refresh cookies. */
    unsetRefreshCookies: <T extends Response | Headers>(target: T) =>
      append(target, auth.unsetRefreshCookies()),
  }
}

/**
 * What `webAuthX` returns.
 *
 * @example
 * ```ts
 * const authx: WebAuthX = webAuthX(auth)
 * ```
 */
export type WebAuthX = ReturnType<typeof webAuthX>
