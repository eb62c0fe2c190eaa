/**
 * Web-standard adapter (docs/adapters.md) for `(Request) => Response` handlers: Next.js route
 * handlers, Bun, Deno, Cloudflare Workers. Guards wrap a handler and pass it the payload as its
 * second argument; authx errors become `Response`s (the guard's own, and those the handler
 * throws after it), every other error is rethrown untouched for the platform to answer.
 *
 * Arguments after the request (a Next.js route context, a Workers `env` and `ctx`) pass through
 * to the handler after the payload, and after the subject for `currentSubject`:
 * `(req, payload, ...rest)` and `(req, payload, subject, ...rest)`.
 *
 * The ready-made routes are plain handlers: `export const POST = authx.refreshRoute`, or
 * `authx.refreshRoute({ scopes })` for options.
 * @module
 */
import {
  type AdapterOptions,
  type AuthenticateOptions,
  type AuthManager,
  type AuthX,
  type AuthXRequest,
  adapterFor,
  adapterOptions,
  type CookieCallOptions,
  type ErrorBodyFormatter,
  errorToResponse,
  fromWebRequest,
  isAuthXError,
  type LogoutRouteOptions,
  ownLoginType,
  type Policy,
  type PolicyGuardOptions,
  policyCheck,
  type RateLimiter,
  type RateLimiterOptions,
  type RefreshRouteOptions,
  type RouteAnswer,
  rateLimitCheck,
  readyMadeRoutes,
  renewedCookiesFor,
  routeOrFactory,
  scopeArguments,
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
 * A ready-made route handler. Arguments after the request (a Next.js route context, a Workers
 * `env` and `ctx`, Bun's server) are accepted and ignored.
 *
 * @example
 * ```ts
 * export const POST: WebRoute = authx.refreshRoute
 * ```
 */
export type WebRoute = (req: Request, ...platform: unknown[]) => Promise<Response>

/**
 * A ready-made route that is also its own factory: `authx.refreshRoute` is the handler,
 * `authx.refreshRoute(options)` makes one with options. The handler's signature comes last, so
 * `Parameters` and `ReturnType` (what Next.js checks of a route export) read the handler.
 *
 * @example
 * ```ts
 * export const POST = authx.refreshRoute({ scopes: ['users:read'] }) satisfies WebRoute
 * ```
 */
export type WebRouteFactory<Options> = ((options?: Options) => WebRoute) & WebRoute

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

/** Sets headers on a Response; copies one whose headers are immutable (redirect, fetch). */
function withHeaders(target: Response, headers: Readonly<Record<string, string>>): Response {
  try {
    for (const [name, value] of Object.entries(headers)) target.headers.set(name, value)
    return target
  } catch {
    let copy: Response
    try {
      const { status, statusText } = target
      copy = new Response(target.body, { status, statusText, headers: target.headers })
    } catch {
      return target // status 0 (Response.error()) or 101 cannot be copied
    }
    return withHeaders(copy, headers)
  }
}

/** A wrapper whose rejected authx errors become their `Response`, shaped by `errorBody`. */
function answering(errorBody: ErrorBodyFormatter | undefined) {
  return <R extends Request, Rest extends unknown[]>(handler: (req: R, ...rest: Rest) => Answer) =>
    async (req: R, ...rest: Rest): Promise<Response> => {
      try {
        return await handler(req, ...rest)
      } catch (err) {
        if (isAuthXError(err)) return errorToResponse(err, errorBody)
        throw err
      }
    }
}

/**
 * A wrapper called without the handler (`authx.accessRequired()`, a middleware habit) throws
 * where the route is defined, not on the first request.
 */
function handlerRequired(name: string, handler: unknown): void {
  if (typeof handler !== 'function') {
    throw new TypeError(
      `authx.${name} wraps a handler: export const GET = authx.${name}(async (req, payload) => Response.json(...))`,
    )
  }
}

/** A route's answer as a `Response`: status, headers, JSON body (none for 204) and cookies. */
function respond({ status, headers, cookies, body }: RouteAnswer): Response {
  return append(new Response(body === undefined ? null : JSON.stringify(body), { status, headers }), cookies)
}

/**
 * Wraps a handler so a thrown authx error becomes its `Response` (docs/locations-and-csrf.md); every other
 * error is rethrown untouched. For handlers that call `auth.authenticate` or `auth.refresh`
 * themselves; the guards of `webAuthX` already do this (with the adapter's `errorBody`).
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
  handlerRequired('withAuthXErrors', handler)
  return answering(undefined)(handler)
}

/**
 * Guards, ready-made routes and cookie helpers for Web `Request`/`Response` handlers. Options:
 * `errorBody` reshapes the JSON body of every error answer it writes.
 *
 * @example
 * ```ts
 * import { webAuthX } from 'authx/web'
 * const authx = webAuthX(auth, { errorBody: (err) => ({ error: err.code }) })
 * export const GET = authx.implicitRefresh(
 *   authx.accessRequired(async (req, payload) => Response.json({ user_id: payload.sub })),
 * )
 * // Next.js: the route context comes after the payload.
 * export const DELETE = authx.scopesRequired('admin:*')(
 *   async (req, payload, { params }: { params: Promise<{ id: string }> }) =>
 *     Response.json({ deleted: (await params).id, by: payload.sub }),
 * )
 * // app/auth/refresh/route.ts
 * export const POST = authx.refreshRoute
 * ```
 */
export function webAuthX(auth: AuthX | AuthManager, options?: AdapterOptions): WebAuthX {
  const { errorBody } = adapterOptions(options, 'webAuthX')
  return adapterFor(
    auth,
    (one) => {
      const adapter: WebAuthX = Object.assign(webAdapter(one, errorBody), {
        loginType: (type: string) => ownLoginType(one, type, adapter, 'webAuthX'),
      })
      return adapter
    },
    'webAuthX',
  )
}

/** The guards, routes and cookie helpers of one instance. */
function webAdapter(auth: AuthX, errorBody: AdapterOptions['errorBody']) {
  const answer = answering(errorBody)
  // Per instance: `payload(req)` never hands out what another instance (another key) verified.
  const payloads = new WeakMap<Request, TokenPayload | null>()
  const wrap =
    <P extends TokenPayload | null>(
      name: string,
      check: (view: AuthXRequest, req: Request) => Promise<P>,
    ): WebGuard<P> =>
    (handler) => {
      handlerRequired(name, handler)
      return answer(async (req, ...rest) => {
        const payload = await check(fromWebRequest(req), req)
        payloads.set(req, payload)
        return handler(req, payload, ...rest)
      })
    }
  const guard = (name: string, options: Omit<AuthenticateOptions, 'optional'>): WebGuard => {
    const checked = auth.guardOptions(options, name)
    return wrap(name, async (view) => (await auth.authenticate(view, checked)) as TokenPayload)
  }
  const routes = readyMadeRoutes(auth, errorBody)
  const route = (answerOf: (view: AuthXRequest) => Promise<RouteAnswer>): WebRoute =>
    answer(async (req: Request) => respond(await answerOf(fromWebRequest(req))))
  return {
    /** Requires a valid access token. */
    accessRequired: guard('accessRequired', {}),
    /** Requires a valid refresh token. */
    refreshRequired: guard('refreshRequired', { type: 'refresh' }),
    /** Requires a valid, fresh access token. */
    freshRequired: guard('freshRequired', { fresh: true }),
    /** Requires an access token holding every given scope. */
    scopesRequired: (...scopes: string[]): WebGuard =>
      guard('scopesRequired', { scopes: scopeArguments(scopes, 'scopesRequired') }),
    /** Requires an access token holding at least one of the given scopes. */
    anyScopeRequired: (...scopes: string[]): WebGuard =>
      guard('anyScopeRequired', { scopes: scopeArguments(scopes, 'anyScopeRequired'), anyScope: true }),
    /** A guard with fixed options (type, fresh, scopes, anyScope, locations, csrf), checked here. */
    tokenRequired: (options: Omit<AuthenticateOptions, 'optional'> = {}): WebGuard =>
      guard('tokenRequired', options),
    /** Passes the payload, or `null` without a token; a present but bad token still fails. */
    accessOptional: wrap('accessOptional', (view) => auth.authenticate(view, { optional: true })),
    /**
     * Authenticates (401 first), then asks the policy (403 `PolicyDeniedError` when denied;
     * docs/policies.md). `resource` may be read from the request: `(req) => new URL(req.url).pathname`.
     */
    policyRequired: <R extends Request = Request>(
      policy: Policy,
      options: PolicyGuardOptions<R>,
    ): WebGuard => {
      const check = policyCheck(auth, policy, options)
      return wrap('policyRequired', (view, req) => check(view, req as R))
    },
    /**
     * Counts the request on a sliding-window limiter (docs/rate-limiting.md) before the handler:
     * a limiter made with `auth.rateLimiter(...)`, or its options. The wrapper passes the
     * handler's arguments through unchanged, so it wraps any handler, guard or ready-made route
     * (`authx.rateLimited(limit)(authx.refreshRoute)`), and adds `RateLimit-Policy` and
     * `RateLimit` to the Response it answers (authx error answers included); over the limit it
     * answers 429 with `Retry-After` without calling the handler. `by: 'subject'` authenticates
     * first (401 first) and records the payload for `authx.payload(req)`; a `by` function
     * receives the request and the payload an outer guard of this adapter recorded.
     *
     * A Web `Request` carries no client address, so `by: 'ip'` counts every request under one
     * shared `ip:unknown` key (limited together, never unlimited): count by address with a `by`
     * function that knows it, such as Bun's `server.requestIP(req)` or Cloudflare's
     * `CF-Connecting-IP` header.
     *
     * @example
     * ```ts
     * const byAddress = (req: Request) => server.requestIP(req)?.address ?? 'unknown'
     * export const POST = authx.rateLimited({ max: 5, window: '1m', by: byAddress, name: 'login' })(login)
     * ```
     */
    rateLimited: (limiter: RateLimiter<Request> | RateLimiterOptions<Request>) => {
      const check = rateLimitCheck(auth, limiter)
      return <R extends Request, Rest extends unknown[]>(handler: (req: R, ...rest: Rest) => Answer) => {
        handlerRequired('rateLimited', handler)
        const inner = answer(handler)
        return answer<R, Rest>(async (req, ...rest) => {
          const input = { request: req, ip: undefined, attached: payloads.get(req) ?? undefined }
          const { payload, headers } = await check(fromWebRequest(req), input)
          if (payload !== undefined) payloads.set(req, payload)
          // After the handler's own authx error became its answer, so that answer has them too.
          return withHeaders(await inner(req, ...rest), headers)
        })
      }
    },
    /**
     * For WebSocket upgrade requests (docs/websocket.md): the access token found as
     * `auth.authenticateWebSocket` finds it, whatever `tokenLocation` says. Upgrade in the handler.
     */
    websocketRequired: wrap('websocketRequired', (_view, req) => auth.authenticateWebSocket(req)),
    /** Authenticates, loads the subject with the subject getter, and passes `(req, payload, subject, ...rest)`. */
    currentSubject: <S = unknown, R extends Request = Request, Rest extends unknown[] = []>(
      handler: (req: R, payload: TokenPayload, subject: S, ...rest: Rest) => Answer,
    ) => {
      handlerRequired('currentSubject', handler)
      return answer<R, Rest>(async (req, ...rest) => {
        const payload = (await auth.authenticate(fromWebRequest(req))) as TokenPayload
        const subject = await auth.loadSubject<S>(payload)
        payloads.set(req, payload)
        return handler(req, payload, subject, ...rest)
      })
    },
    /**
     * Renews a cookie access token close to expiry before the handler runs, and appends the new
     * cookies to whatever it answers (authx error answers included), unless the answer already
     * sets the access cookie (the ready-made routes): one access cookie, theirs. A non-authx
     * error thrown by the handler is rethrown, so the platform's 500 carries no renewed cookie.
     */
    implicitRefresh: <R extends Request, Rest extends unknown[]>(
      handler: (req: R, ...rest: Rest) => Answer,
    ) => {
      handlerRequired('implicitRefresh', handler)
      const inner = answer(handler)
      return async (req: R, ...rest: Rest): Promise<Response> => {
        const cookies = await auth.implicitRefreshCookies(fromWebRequest(req))
        const response = await inner(req, ...rest)
        return append(response, renewedCookiesFor(cookies, response.headers.getSetCookie()))
      }
    },
    /**
     * The ready-made refresh route (docs/adapters.md), a complete handler writing its own errors:
     * `export const POST = authx.refreshRoute`, or `authx.refreshRoute({ scopes, data,
     * tokensInBody })` (options checked here).
     */
    refreshRoute: routeOrFactory((options?: RefreshRouteOptions) =>
      route(routes.refresh(options)),
    ) as WebRouteFactory<RefreshRouteOptions>,
    /**
     * The ready-made logout route (docs/adapters.md): 204 with every cookie cleared, or 503 (cookies
     * still cleared) when the store cannot record the revocation. `export const POST = authx.logoutRoute`.
     */
    logoutRoute: routeOrFactory((options?: LogoutRouteOptions) =>
      route(routes.logout(options)),
    ) as WebRouteFactory<LogoutRouteOptions>,
    /**
     * The payload a guard of this instance passed for this request, typed as present: for code
     * that has the request but not the handler's `payload` argument. The guards record it in a
     * `WeakMap` keyed by the very `Request` object they received (nothing is added to the
     * request), so a copy (`new Request(req)`) is another request. Throws an `Error` when no
     * guard of this instance ran for it, or `accessOptional` found no token.
     *
     * @example
     * ```ts
     * const auditOf = (req: Request) => ({ by: authx.payload(req).sub })
     * ```
     */
    payload: (req: Request): TokenPayload => {
      const payload = payloads.get(req)
      if (payload == null)
        throw new Error('authx.payload(req): no authx guard passed a payload for this request')
      return payload
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
export type WebAuthX = ReturnType<typeof webAdapter> & WebLoginTypes

/**
 * `authx.loginType(type)` of the Web adapter (see `AuthXAdapter.loginType`, docs/login-types.md).
 *
 * @example
 * ```ts
 * export const GET = authx.loginType('admin').accessRequired(async (req, payload) => Response.json({ sub: payload.sub }))
 * ```
 */
export interface WebLoginTypes {
  /** The guards of one login type: those of the manager's instance of that type. */
  loginType(type: string): WebAuthX
}
