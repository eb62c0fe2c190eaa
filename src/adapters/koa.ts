/**
 * Koa 2 and 3 adapter (docs/adapters.md): guards are middleware values, the payload lands on
 * `ctx.state.authx`, the subject on `ctx.state.authxSubject`, and `authx.errorHandler`
 * (registered first) turns authx errors into the responses of docs/locations-and-csrf.md.
 *
 * Tokens in the body are read from `ctx.request.body`, so add a body parser (`@koa/bodyparser`,
 * `koa-body`, ...) before the guards; without one the body locations find nothing.
 * @module
 */
import {
  type AdapterOptions,
  type AuthenticateOptions,
  type AuthManager,
  type AuthX,
  type AuthXAdapter,
  type AuthXError,
  type AuthXRequest,
  adapterFor,
  adapterOptions,
  decodedPath,
  errorResponse,
  guardMisuse,
  isAuthXError,
  mergeSetCookies,
  ownLoginType,
  type Policy,
  type PolicyGuardOptions,
  policyCheck,
  type RateLimiter,
  type RateLimiterOptions,
  type RequestReader,
  type RouteAnswer,
  rateLimitCheck,
  readerView,
  readyMadeRoutes,
  routeOrFactory,
  scopeArguments,
  type TokenPayload,
} from 'authx'
import type { Context, DefaultState, Middleware, ParameterizedContext } from 'koa'

declare module 'koa' {
  interface DefaultState {
    /**
     * The verified token payload, set by the authx guards. `null` after `accessOptional` when
     * the request carries no token; `undefined` on routes without an authx guard. Handlers
     * after a guard in a `@koa/router` route see it typed as present, and so does
     * `authx.payload(ctx)`.
     */
    authx?: TokenPayload | null | undefined
    /** The subject loaded by `authx.currentSubject` (what the subject getter returned). */
    authxSubject?: unknown
  }
}

/**
 * Koa middleware as the adapter hands it out (Koa's own `Middleware` type).
 *
 * @example
 * ```ts
 * const handler: KoaMiddleware = authx.refreshRoute
 * ```
 */
export type KoaMiddleware = Middleware

/**
 * A guard: Koa middleware that stores `Payload` on `ctx.state.authx` for what runs after it, so
 * `@koa/router` types the handlers after it with the payload present.
 *
 * @example
 * ```ts
 * const guard: KoaGuard = authx.accessRequired
 * const optional: KoaGuard<TokenPayload | null> = authx.accessOptional
 * ```
 */
export type KoaGuard<Payload extends TokenPayload | null = TokenPayload> = Middleware<{ authx: Payload }>

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
 * What `authx.payload(ctx)` reads: any Koa or router context, whatever its state type.
 *
 * @example
 * ```ts
 * const sub = authx.payload(ctx satisfies KoaStateSource).sub
 * ```
 */
export interface KoaStateSource {
  readonly state: object
}

/**
 * What `koaAuthX(auth)` returns: middleware values and cookie helpers (docs/adapters.md).
 *
 * @example
 * ```ts
 * const authx: KoaAuthX = koaAuthX(auth)
 * router.post('/auth/refresh', authx.refreshRoute)
 * ```
 */
export interface KoaAuthX
  extends AuthXAdapter<KoaGuard, KoaCookieTarget, KoaMiddleware, KoaStateSource, ParameterizedContext> {
  /** Stores the payload, or `null` when no token is sent; a present but bad token still fails. */
  readonly accessOptional: KoaGuard<TokenPayload | null>
  /**
   * Renews an access cookie close to expiry (docs/adapters.md). `app.use` it after `errorHandler`
   * and before the routes; include/exclude lists match `ctx.path` (relative under `koa-mount`).
   * The cookies reach every answer written by the app, `errorHandler` included; an error left
   * to Koa itself is answered with Koa's bare 500, which drops every header (the old cookie
   * then stays in use until the next request renews it).
   */
  readonly implicitRefresh: KoaMiddleware
  /**
   * Counts the request on a sliding-window limiter (see `AuthXAdapter.rateLimited`,
   * docs/rate-limiting.md). `by: 'ip'` uses the socket's address (`ctx.req.socket`), not
   * `ctx.ip`, which follows Koa's own `proxy` setting: `X-Forwarded-For` counts only by the
   * limiter's `trustProxy`. `by: 'subject'` stores the payload on `ctx.state.authx`; other
   * limiters store nothing, so handlers after them are not typed with a payload.
   *
   * @example
   * ```ts
   * router.post('/login', authx.rateLimited({ max: 5, window: '1m', by: 'ip', name: 'login' }), login)
   * ```
   */
  rateLimited<R extends ParameterizedContext = ParameterizedContext>(
    limiter: RateLimiter<R> | RateLimiterOptions<R>,
  ): KoaMiddleware
  /**
   * Writes authx errors as JSON answers (guards' and handlers' alike) and rethrows every other
   * error to Koa. Register it first: Koa's own error handling clears every header, renewed
   * cookies included.
   */
  readonly errorHandler: KoaMiddleware
}

type AnyContext = ParameterizedContext<object>

/** @koa/router's defaults (sensitive: false, strict: false): route lists match what it routes. */
const KOA_ROUTING = { caseSensitive: false, strict: false } as const

/** How the core reads a Koa request. Nothing here throws for client input. */
const READER: RequestReader<AnyContext> = {
  method: (ctx) => ctx.method,
  path: (ctx) => ctx.path,
  headers: (ctx) => ctx.headers,
  query: (ctx) => ctx.query,
  // Set by a body parser; Koa itself has no `request.body`.
  body: (ctx) => (ctx.request as { body?: unknown }).body,
  routing: () => KOA_ROUTING,
  // ctx.href follows the app's `proxy` setting, as the rest of Koa does.
  url: (ctx) => ctx.href,
}

/** The core's view of a Koa request: one object, nothing read until asked for. */
function requestView(ctx: AnyContext): AuthXRequest {
  return readerView(ctx, READER)
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

/** Middleware that throws `guardMisuse` when called without `next` (`authx.accessRequired()`). */
function middleware<State>(name: string, run: Middleware<State>): Middleware<State> {
  return (ctx, next) => {
    if (typeof next !== 'function') throw guardMisuse(name)
    return run(ctx, next)
  }
}

function append(ctx: KoaCookieTarget, cookies: readonly string[]): void {
  // append, not set: cookies the handler or other middleware set survive.
  if (cookies.length > 0) ctx.append('Set-Cookie', [...cookies])
}

/** The response's `Set-Cookie` values so far. */
function setCookies(ctx: AnyContext): string[] {
  const value = ctx.response.get('Set-Cookie') as unknown
  return Array.isArray(value) ? value.map(String) : typeof value === 'string' && value !== '' ? [value] : []
}

/** Writes a whole answer; `headers` first, so the JSON content type holds for any body. */
function write(ctx: AnyContext, status: number, headers: Readonly<Record<string, string>>, body: unknown) {
  ctx.set({ ...headers })
  ctx.status = status
  // A string or `null` from errorBody would go out as plain text, or turn the answer into a 204,
  // under Koa's rules: encoded here. `undefined` stays so (a 204, whose status drops any body).
  ctx.body = typeof body === 'object' && body !== null ? body : JSON.stringify(body)
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
 * router.post('/auth/refresh', authx.refreshRoute)
 * router.post('/auth/logout', authx.logoutRoute)
 * app.use(router.routes())
 * ```
 */
export function koaAuthX(auth: AuthX | AuthManager, options?: AdapterOptions): KoaAuthX {
  const { errorBody } = adapterOptions(options, 'koaAuthX')
  return adapterFor(auth, (one) => koaAdapter(one, errorBody), 'koaAuthX', ['errorHandler'])
}

function koaAdapter(auth: AuthX, errorBody: AdapterOptions['errorBody']): KoaAuthX {
  const guard = <P extends TokenPayload | null>(
    name: string,
    check: (view: AuthXRequest, ctx: AnyContext) => Promise<P>,
  ) =>
    middleware<{ authx: P }>(name, async (ctx, next) => {
      ctx.state.authx = await settle(check(requestView(ctx), ctx))
      await next()
    })
  const tokenRequired = (options: Omit<AuthenticateOptions, 'optional'>, name = 'tokenRequired') =>
    guard(name, auth.tokenRequired(auth.guardOptions(options, name)))
  const sendError = (ctx: AnyContext, err: AuthXError) => {
    const { status, headers, body } = errorResponse(err, errorBody)
    write(ctx, status, headers, body)
  }
  // Route cookies replace earlier ones of the same names (implicit refresh's renewed cookie).
  const sendCookies = (ctx: AnyContext, cookies: readonly string[]) => {
    if (cookies.length > 0) ctx.set('Set-Cookie', mergeSetCookies(setCookies(ctx), cookies))
  }
  const routes = readyMadeRoutes(auth, errorBody)
  // A ready-made route writes its whole answer, errors included: it needs no errorHandler, and
  // nothing is thrown to Koa, whose error handling would drop the cookies.
  const route = (name: string, answer: (view: AuthXRequest) => Promise<RouteAnswer>) =>
    middleware<DefaultState>(name, async (ctx) => {
      const result = await settle(answer(requestView(ctx)))
      sendCookies(ctx, result.cookies)
      write(ctx, result.status, result.headers, result.body)
    })
  const adapter: KoaAuthX = {
    loginType: (type) => ownLoginType(auth, type, adapter, 'koaAuthX'),
    accessRequired: guard('accessRequired', auth.accessRequired),
    refreshRequired: guard('refreshRequired', auth.refreshRequired),
    freshRequired: guard('freshRequired', auth.freshRequired),
    accessOptional: guard('accessOptional', (view) => auth.authenticate(view, { optional: true })),
    policyRequired: <R extends ParameterizedContext>(policy: Policy, options: PolicyGuardOptions<R>) => {
      const check = policyCheck(auth, policy, options)
      return guard('policyRequired', (view, ctx) =>
        check(view, ctx as R, { ip: ctx.ip, path: decodedPath(ctx.originalUrl) }),
      )
    },
    rateLimited: <R extends ParameterizedContext>(limiter: RateLimiter<R> | RateLimiterOptions<R>) => {
      const check = rateLimitCheck(auth, limiter)
      return middleware<DefaultState>('rateLimited', async (ctx, next) => {
        const state = ctx.state as DefaultState
        const input = {
          request: ctx as R,
          ip: ctx.req.socket?.remoteAddress,
          attached: state.authx ?? undefined,
        }
        const { payload, headers } = await settle(check(requestView(ctx), input))
        if (payload !== undefined) state.authx = payload
        ctx.set(headers)
        await next()
      })
    },
    websocketRequired: guard('websocketRequired', (_view, ctx) => auth.authenticateWebSocket(ctx.req)),
    currentSubject: middleware('currentSubject', async (ctx, next) => {
      // What auth.getCurrentSubject does, split so the token is verified once and kept too.
      const payload = (await settle(auth.authenticate(requestView(ctx)))) as TokenPayload
      ;(ctx.state as DefaultState).authxSubject = await settle(auth.loadSubject(payload))
      ctx.state.authx = payload
      await next()
    }),
    implicitRefresh: middleware('implicitRefresh', async (ctx, next) => {
      const cookies = await settle(auth.implicitRefreshCookies(requestView(ctx)))
      if (cookies.length === 0) return next()
      // Appended before the handler, so a handler that unsets the cookies (logout) comes later
      // in the header and wins in the browser.
      append(ctx, cookies)
      try {
        await next()
      } finally {
        // Put them back if something replaced or cleared Set-Cookie, unless the response now
        // says something itself about these cookies (a ready-made route's own cookies).
        const names = new Set(setCookies(ctx).map((cookie) => cookie.split('=', 1)[0]!.trim()))
        if (!ctx.headerSent && !cookies.some((cookie) => names.has(cookie.split('=', 1)[0]!))) {
          append(ctx, cookies)
        }
      }
    }),
    errorHandler: middleware('errorHandler', async (ctx, next) => {
      try {
        await next()
      } catch (err) {
        if (!isAuthXError(err) || ctx.headerSent || !ctx.writable) throw err
        // Answered here rather than by Koa's ctx.onerror, which first removes every header.
        sendError(ctx, err)
      }
    }),
    scopesRequired: (...scopes) => tokenRequired({ scopes: scopeArguments(scopes, 'scopesRequired') }),
    anyScopeRequired: (...scopes) =>
      tokenRequired({ scopes: scopeArguments(scopes, 'anyScopeRequired'), anyScope: true }),
    tokenRequired: (options) => tokenRequired(options),
    refreshRoute: routeOrFactory((options) => route('refreshRoute', routes.refresh(options))),
    logoutRoute: routeOrFactory((options) => route('logoutRoute', routes.logout(options))),
    dpopThumbprint: (ctx) => auth.dpopThumbprint(requestView(ctx)),
    payload: (ctx) => {
      const payload = (ctx.state as DefaultState).authx
      if (payload == null) throw new Error('authx.payload(ctx): no authx guard stored a payload on ctx.state')
      return payload
    },
    setAccessCookies: (ctx, token, options) => append(ctx, auth.accessCookies(token, options)),
    setRefreshCookies: (ctx, token, options) => append(ctx, auth.refreshCookies(token, options)),
    unsetCookies: (ctx) => append(ctx, auth.unsetCookies()),
    unsetAccessCookies: (ctx) => append(ctx, auth.unsetAccessCookies()),
    unsetRefreshCookies: (ctx) => append(ctx, auth.unsetRefreshCookies()),
  }
  return adapter
}
