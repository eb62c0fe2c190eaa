/**
 * Hono 4 adapter (docs/adapters.md): guards are middleware values, the payload is at
 * `c.get('authx')`, the subject at `c.get('authxSubject')`, and guard failures are thrown as
 * `HTTPException`s whose `getResponse()` is the full answer of docs/locations-and-csrf.md. An authx error a
 * handler throws behind a guard is answered by that guard, and the ready-made routes answer their
 * own errors, so neither needs `app.onError(authx.onError)`.
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
  errorResponse,
  errorToResponse,
  guardMisuse,
  isAuthXError,
  isFormContentType,
  isJsonContentType,
  mergeSetCookies,
  ownLoginType,
  type Policy,
  type PolicyGuardOptions,
  parseCookieHeader,
  policyCheck,
  type RateLimiter,
  type RateLimiterOptions,
  type RouteAnswer,
  rateLimitCheck,
  readyMadeRoutes,
  renewedCookiesFor,
  routeOrFactory,
  scopeArguments,
  type TokenPayload,
} from 'authx'
import type { Context, Env, MiddlewareHandler, Next } from 'hono'
import { HTTPException } from 'hono/http-exception'

declare module 'hono' {
  interface ContextVariableMap {
    /**
     * The verified token payload, set by an authx guard: `null` after `accessOptional` without a
     * token, `undefined` on routes without a guard. Behind a guard the guard's own type says it is
     * there (`c.get('authx').sub`), and `authx.payload(c)` reads it typed as present anywhere.
     */
    authx: TokenPayload | null | undefined
    /** The subject loaded by `currentSubject` (what the subject getter returned). */
    authxSubject: unknown
  }
}

/** A guard: handlers after it read `c.get('authx')` (and `c.var.authx`) as a `TokenPayload`. */
export type HonoGuard = MiddlewareHandler<{ Variables: { authx: TokenPayload } }>
/** A ready-made route: a complete Hono handler. */
export type HonoRoute = (c: Context) => Promise<Response>

/**
 * What `honoAuthX(auth)` returns (docs/adapters.md).
 *
 * @example
 * ```ts
 * const authx: HonoAuthX = honoAuthX(auth)
 * app.post('/auth/refresh', authx.refreshRoute)
 * ```
 */
export interface HonoAuthX
  extends Omit<
    AuthXAdapter<HonoGuard, Context, HonoRoute, Context>,
    'accessOptional' | 'currentSubject' | 'implicitRefresh' | 'loginType' | 'rateLimited'
  > {
  /** The guards of one login type (see `AuthXAdapter.loginType`, docs/login-types.md). */
  loginType(type: string): HonoAuthX
  /** Sets `authx` to the payload, or `null` without a token; a present but bad token still fails. */
  readonly accessOptional: MiddlewareHandler<{ Variables: { authx: TokenPayload | null } }>
  /** Authenticates, sets `authx`, and sets `authxSubject` to the subject getter's result. */
  readonly currentSubject: MiddlewareHandler<{ Variables: { authx: TokenPayload; authxSubject: unknown } }>
  /** Renews an access cookie close to expiry; its cookies are added after the handler, to any answer. */
  readonly implicitRefresh: MiddlewareHandler
  /**
   * Counts the request on a sliding-window limiter (docs/rate-limiting.md): a limiter made with
   * `auth.rateLimiter(...)`, or its options. `by: 'subject'` authenticates first (401 first) and
   * sets `authx`; a `by` function receives the context and the payload an earlier guard set.
   * `by: 'ip'` needs the socket, which only `@hono/node-server` gives (`c.env.incoming`); on
   * other runtimes every request shares one `ip:unknown` count, so use a `by` function there.
   * Every answer carries `RateLimit-Policy` and `RateLimit`; over the limit, 429 with
   * `Retry-After`.
   *
   * @example
   * ```ts
   * app.post('/login', authx.rateLimited({ max: 5, window: '1m', by: 'ip', name: 'login' }), login)
   * ```
   */
  rateLimited<R extends Context = Context>(limiter: RateLimiter<R> | RateLimiterOptions<R>): MiddlewareHandler
  /** An `app.onError` handler: authx errors (and `HTTPException`s) answered, others a logged 500. */
  readonly onError: (err: Error, c: Context) => Response
}

/** The core's request view over a Hono context; no method throws on client input. */
function view(c: Context): AuthXRequest {
  return new HonoView(c)
}

/** The core's view of a Hono request: one object, nothing read until asked for. */
class HonoView implements AuthXRequest {
  readonly #c: Context
  #cookies: Map<string, string> | undefined

  constructor(c: Context) {
    this.#c = c
  }

  get method(): string {
    return this.#c.req.method
  }

  get path(): string {
    return this.#c.req.path
  }

  get url(): string {
    return this.#c.req.url
  }

  header(name: string): string | undefined {
    return this.#c.req.header(name)
  }

  cookie(name: string): string | undefined {
    this.#cookies ??= parseCookieHeader(this.#c.req.header('cookie'))
    return this.#cookies.get(name)
  }

  query(name: string): string | undefined {
    return this.#c.req.query(name)
  }

  // Hono caches the body it reads, so the handler can still call c.req.json() / parseBody().
  async json(): Promise<unknown> {
    if (!isJsonContentType(this.#c.req.header('content-type'))) return undefined
    try {
      return await this.#c.req.json()
    } catch {
      return undefined // a broken body is not a token
    }
  }

  async form(): Promise<Record<string, unknown> | undefined> {
    if (!isFormContentType(this.#c.req.header('content-type'))) return undefined
    try {
      const out: Record<string, unknown> = Object.create(null)
      for (const [key, value] of Object.entries(await this.#c.req.parseBody({ all: true })))
        out[key] = Array.isArray(value) ? value[0] : value // first value, as the core's Web view
      return out
    } catch {
      return undefined
    }
  }
}

/**
 * Makes a JSON answer the response over the headers already set (prepared ones, or the app's
 * error answer's): authx's headers win, route cookies replace earlier ones of the same names.
 */
function respond(
  c: Context,
  status: number,
  headers: Readonly<Record<string, string>>,
  body: unknown,
  cookies: readonly string[] = [],
) {
  const out = new Headers(c.res.headers)
  for (const stale of ['content-length', 'content-type', 'set-cookie']) out.delete(stale)
  for (const [name, value] of Object.entries(headers)) out.set(name, value)
  for (const cookie of mergeSetCookies(c.res.headers.getSetCookie(), cookies))
    out.append('set-cookie', cookie)
  const res = new Response(body === undefined ? null : JSON.stringify(body), { status, headers: out })
  c.res = undefined // Hono's setter copies the old response's headers over the new one's
  c.res = res
  return res
}

/** The client socket's address on `@hono/node-server` (its `incoming` request); elsewhere unknown. */
function socketAddress(c: Context): string | undefined {
  const env = c.env as { incoming?: { socket?: { remoteAddress?: unknown } } } | undefined
  const address = env?.incoming?.socket?.remoteAddress
  return typeof address === 'string' ? address : undefined
}

/** Middleware; called as a function at route definition (`authx.accessRequired()`), it throws there. */
function middleware<E extends Env>(name: string, work: MiddlewareHandler<E>): MiddlewareHandler<E> {
  return (c, next) => {
    if (typeof next !== 'function') throw guardMisuse(name)
    return work(c, next)
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
 * app.post('/auth/refresh', authx.refreshRoute)
 * ```
 */
export function honoAuthX(auth: AuthX | AuthManager, options?: AdapterOptions): HonoAuthX {
  const { errorBody } = adapterOptions(options, 'honoAuthX')
  return adapterFor(auth, (one) => honoAdapter(one, errorBody), 'honoAuthX', ['onError'])
}

function honoAdapter(auth: AuthX, errorBody: AdapterOptions['errorBody']): HonoAuthX {
  const answer = (c: Context, err: AuthXError, cookies?: readonly string[]) => {
    const { status, headers, body } = errorResponse(err, errorBody)
    return respond(c, status, headers, body, cookies)
  }
  /** An authx error as an `HTTPException` carrying authx's answer; any other error unchanged. */
  const rethrown = (err: unknown): never => {
    if (!isAuthXError(err)) throw err
    const res = errorToResponse(err, errorBody)
    throw new HTTPException(err.status as HTTPException['status'], {
      res,
      message: err.message,
      cause: err,
    })
  }
  /** Runs a core call, turning an authx error into an `HTTPException` (others pass untouched). */
  const run = async <T>(call: () => Promise<T>): Promise<T> => {
    try {
      return await call()
    } catch (err) {
      return rethrown(err)
    }
  }
  /** What a guard does once its check passed: the handler, then authx's answer to its authx error. */
  const after = async (c: Context, next: Next): Promise<void> => {
    await next()
    if (isAuthXError(c.error)) answer(c, c.error)
  }
  /**
   * A guard: `store` sets the context variables. Hono hands a handler's error to `app.onError`
   * before `next()` returns here, so an authx error thrown behind the guard (`auth.refresh` with a
   * reused token) is answered here as authx answers it, whatever the app's error handler made of it.
   */
  const guard = <Vars extends object>(name: string, store: (c: Context) => Promise<void>) =>
    middleware<{ Variables: Vars }>(name, async (c, next) => {
      await run(() => store(c))
      await after(c, next)
    })
  // The hot path: one promise step from the check to the handler.
  const payloadGuard = (name: string, options: AuthenticateOptions) =>
    middleware<{ Variables: { authx: TokenPayload } }>(name, (c, next) =>
      auth.authenticate(view(c), options).then((payload) => {
        c.set('authx', payload as TokenPayload)
        return after(c, next)
      }, rethrown),
    )
  const tokenRequired = (options: Omit<AuthenticateOptions, 'optional'>, name = 'tokenRequired') =>
    payloadGuard(name, auth.guardOptions(options, name))
  const routes = readyMadeRoutes(auth, errorBody)
  const route =
    (name: string, answerOf: (view: AuthXRequest) => Promise<RouteAnswer>): HonoRoute =>
    (c) => {
      if (typeof c !== 'object' || c === null || !('req' in c)) throw guardMisuse(name)
      return answerOf(view(c)).then(({ status, headers, body, cookies }) =>
        respond(c, status, headers, body, cookies),
      )
    }
  const adapter: HonoAuthX = {
    loginType: (type) => ownLoginType(auth, type, adapter, 'honoAuthX'),
    accessRequired: payloadGuard('accessRequired', {}),
    refreshRequired: payloadGuard('refreshRequired', { type: 'refresh' }),
    freshRequired: payloadGuard('freshRequired', { fresh: true }),
    scopesRequired: (...scopes) => tokenRequired({ scopes: scopeArguments(scopes, 'scopesRequired') }),
    anyScopeRequired: (...scopes) =>
      tokenRequired({ scopes: scopeArguments(scopes, 'anyScopeRequired'), anyScope: true }),
    tokenRequired: (options) => tokenRequired(options),
    accessOptional: guard('accessOptional', async (c) => {
      c.set('authx', await auth.authenticate(view(c), { optional: true }))
    }),
    policyRequired: <R extends Context>(policy: Policy, options: PolicyGuardOptions<R>) => {
      const check = policyCheck(auth, policy, options)
      return guard<{ authx: TokenPayload }>('policyRequired', async (c) => {
        c.set('authx', await check(view(c), c as R))
      })
    },
    rateLimited: <R extends Context>(limiter: RateLimiter<R> | RateLimiterOptions<R>) => {
      const check = rateLimitCheck(auth, limiter)
      return middleware('rateLimited', async (c, next) => {
        const input = { request: c as R, ip: socketAddress(c), attached: c.get('authx') ?? undefined }
        const { payload, headers } = await run(() => check(view(c), input))
        if (payload !== undefined) c.set('authx', payload)
        await after(c, next)
        // After the handler: a Response it made itself (not with c.json) drops prepared headers.
        for (const [name, value] of Object.entries(headers)) c.header(name, value)
      })
    },
    websocketRequired: guard<{ authx: TokenPayload }>('websocketRequired', async (c) => {
      c.set('authx', await auth.authenticateWebSocket(c.req.raw))
    }),
    currentSubject: guard('currentSubject', async (c) => {
      const payload = (await auth.authenticate(view(c))) as TokenPayload
      c.set('authxSubject', await auth.loadSubject(payload))
      c.set('authx', payload)
    }),
    implicitRefresh: middleware('implicitRefresh', async (c, next) => {
      const cookies = await run(() => auth.implicitRefreshCookies(view(c)))
      await next()
      // After the handler, so the cookies reach any answer; a route that set them wins.
      appendCookies(c, renewedCookiesFor(cookies, c.res.headers.getSetCookie()))
    }),
    refreshRoute: routeOrFactory((options) => route('refreshRoute', routes.refresh(options))),
    logoutRoute: routeOrFactory((options) => route('logoutRoute', routes.logout(options))),
    dpopThumbprint: (c) => auth.dpopThumbprint(view(c)),
    payload: (c) => {
      const payload: TokenPayload | null | undefined = c.get('authx')
      if (payload == null)
        throw new Error('authx.payload(c): no authx guard stored a payload on this request')
      return payload
    },
    setAccessCookies: (c, token, options) => appendCookies(c, auth.accessCookies(token, options)),
    setRefreshCookies: (c, token, options) => appendCookies(c, auth.refreshCookies(token, options)),
    unsetCookies: (c) => appendCookies(c, auth.unsetCookies()),
    unsetAccessCookies: (c) => appendCookies(c, auth.unsetAccessCookies()),
    unsetRefreshCookies: (c) => appendCookies(c, auth.unsetRefreshCookies()),
    onError: (err, c) => {
      if (err instanceof HTTPException) return err.getResponse()
      if (isAuthXError(err)) return errorToResponse(err, errorBody)
      console.error(err)
      return c.text('Internal Server Error', 500)
    },
  }
  return adapter
}
