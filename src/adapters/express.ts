/**
 * Express 4 and 5 adapter (docs/adapters.md): guards are middleware, the payload lands on
 * `req.authx`, and `authx.errorHandler` turns authx errors into the responses of section 5.
 *
 * Tokens in the body are read from `req.body`, so add `express.json()` (and
 * `express.urlencoded()` for the CSRF form field) before the guards; without a parser the body
 * locations find nothing.
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

declare global {
  namespace Express {
    // The open interface that the Request of express-serve-static-core 4 and 5 both extend, so
    // one augmentation types `req.authx` for Express 4 and 5 alike.
    interface Request {
      /**
       * The verified token payload, set by the authx guards. `null` after `accessOptional`
       * when the request carries no token; `undefined` on routes without an authx guard. Behind a
       * guard, `authx.payload(req)` reads it typed as present.
       */
      authx?: TokenPayload | null
      /** The subject loaded by `authx.currentSubject` (what the subject getter returned). */
      authxSubject: unknown
    }
  }
}

/**
 * The parts of a request the adapter uses. Express 4's and 5's `Request` both fit, so nothing
 * here depends on which `@types/express` is installed (or whether one resolves at all).
 *
 * @example
 * ```ts
 * const read = (req: ExpressRequest) => req.authx.sub
 * ```
 */
export interface ExpressRequest extends Express.Request {
  /** The application, for its routing settings. */
  readonly app?: { get(setting: string): unknown }
  readonly method: string
  readonly path: string
  readonly headers: Readonly<Record<string, string | string[] | undefined>>
  readonly query?: unknown
  readonly body?: unknown
  /** The client address (Express's `trust proxy` setting applies), for policy conditions. */
  readonly ip?: string | undefined
  /** The connection, for the client's own address (`rateLimited` by `'ip'`). */
  readonly socket?: { readonly remoteAddress?: string | undefined } | undefined
  /** The request URL as received (the query string of WebSocket upgrades). */
  readonly originalUrl?: string
  readonly url?: string
  /** `http` or `https` (Express's `trust proxy` setting applies), for DPoP's `htu`. */
  readonly protocol?: string
}

/**
 * The parts of a response the adapter uses (Express 4 and 5 `Response`).
 *
 * @example
 * ```ts
 * authx.unsetCookies(res satisfies ExpressResponse)
 * ```
 */
export interface ExpressResponse {
  readonly headersSent: boolean
  append(field: string, value: string[]): unknown
  status(code: number): ExpressResponse
  set(headers: Record<string, string>): ExpressResponse
  json(body: unknown): unknown
  getHeader(name: string): number | string | string[] | undefined
  setHeader(name: string, value: string | readonly string[]): unknown
  end(): unknown
}

/**
 * Express middleware, assignable to Express 4's and 5's `RequestHandler`.
 *
 * @example
 * ```ts
 * const guard: ExpressMiddleware = authx.accessRequired
 * ```
 */
export type ExpressMiddleware = (
  req: ExpressRequest,
  res: ExpressResponse,
  next: (err?: unknown) => void,
) => void

/**
 * Express error middleware (four arguments), assignable to `ErrorRequestHandler`.
 *
 * @example
 * ```ts
 * app.use(authx.errorHandler satisfies ExpressErrorMiddleware)
 * ```
 */
export type ExpressErrorMiddleware = (
  err: unknown,
  req: ExpressRequest,
  res: ExpressResponse,
  next: (err?: unknown) => void,
) => void

/**
 * What `expressAuthX(auth)` returns: middleware values and cookie helpers (docs/adapters.md).
 *
 * @example
 * ```ts
 * const authx: ExpressAuthX = expressAuthX(auth)
 * app.post('/auth/refresh', authx.refreshRequired, handler)
 * ```
 */
export interface ExpressAuthX
  extends AuthXAdapter<ExpressMiddleware, ExpressResponse, ExpressMiddleware, ExpressRequest> {
  /**
   * Renews an access cookie close to expiry (docs/adapters.md). `app.use` it on the app before the
   * routes: include/exclude lists match `req.path`, which inside a mounted router is relative.
   */
  readonly implicitRefresh: ExpressMiddleware
  /**
   * Counts the request on a sliding-window limiter (see `AuthXAdapter.rateLimited`,
   * docs/rate-limiting.md). `by: 'ip'` uses the socket's address (`req.socket.remoteAddress`),
   * not `req.ip`, which follows Express's own `trust proxy` setting: `X-Forwarded-For` counts
   * only by the limiter's `trustProxy`. `by: 'subject'` stores the payload on `req.authx`.
   *
   * @example
   * ```ts
   * app.post('/login', authx.rateLimited({ max: 5, window: '1m', by: 'ip', name: 'login' }), login)
   * ```
   */
  rateLimited<R extends ExpressRequest = ExpressRequest>(
    limiter: RateLimiter<R> | RateLimiterOptions<R>,
  ): ExpressMiddleware
  /** Writes authx errors as JSON answers; passes every other error on. Register after the routes. */
  readonly errorHandler: ExpressErrorMiddleware
}

/** How the core reads an Express request. Nothing here throws for client input. */
const READER: RequestReader<ExpressRequest> = {
  method: (req) => req.method,
  path: (req) => req.path,
  headers: (req) => req.headers,
  query: (req) => req.query,
  body: (req) => req.body,
  // Express's own defaults: case-insensitive, and a trailing slash routes to the same handler.
  // Read only when a route list is matched (implicit refresh), not on every request.
  routing: (req) => ({
    caseSensitive: req.app?.get('case sensitive routing') === true,
    strict: req.app?.get('strict routing') === true,
  }),
  // req.protocol follows the app's `trust proxy` setting, as the rest of Express does.
  url: (req) => `${req.protocol ?? 'http'}://${req.headers.host}${req.originalUrl ?? req.url}`,
}

/** The core's view of an Express request: one object, nothing read until asked for. */
function requestView(req: ExpressRequest): AuthXRequest {
  return readerView(req, READER)
}

/** Hands a rejection to Express. A primitive (`undefined`, `'route'`) would not stop the route. */
function fail(next: (err?: unknown) => void): (err: unknown) => void {
  return (err) =>
    next(
      typeof err === 'object' && err !== null
        ? err
        : new Error('authx: rejected with a non-error', { cause: err }),
    )
}

/**
 * Middleware running `work`, then `next()`; a rejection goes to `next(err)`, never unhandled.
 * Called as a function at route definition (`authx.accessRequired()`), it throws there.
 */
function middleware(
  name: string,
  work: (req: ExpressRequest, res: ExpressResponse) => Promise<void>,
): ExpressMiddleware {
  return (req, res, next) => {
    if (typeof next !== 'function') throw guardMisuse(name)
    work(req, res).then(() => next(), fail(next))
  }
}

function append(res: ExpressResponse, cookies: string[]): void {
  // append, not set: cookies the handler or other middleware set survive.
  if (cookies.length > 0) res.append('Set-Cookie', cookies)
}

/**
 * Express middleware for an authx instance (Express 4 and 5).
 *
 * @example
 * ```ts
 * const authx = expressAuthX(auth)
 * app.use(express.json())
 * app.use(authx.implicitRefresh)
 * app.get('/api/profile', authx.accessRequired, (req, res) => res.json({ user_id: req.authx.sub }))
 * app.get('/admin', authx.scopesRequired('admin:*'), (req, res) => res.json({ ok: true }))
 * app.use(authx.errorHandler)
 * ```
 */
export function expressAuthX(auth: AuthX | AuthManager, options?: AdapterOptions): ExpressAuthX {
  const { errorBody } = adapterOptions(options, 'expressAuthX')
  return adapterFor(auth, (one) => expressAdapter(one, errorBody), 'expressAuthX', ['errorHandler'])
}

function expressAdapter(auth: AuthX, errorBody: AdapterOptions['errorBody']): ExpressAuthX {
  // The hot path: one promise step between the check and next().
  const guard =
    (
      name: string,
      check: (view: AuthXRequest, req: ExpressRequest) => Promise<TokenPayload | null>,
    ): ExpressMiddleware =>
    (req, _res, next) => {
      if (typeof next !== 'function') throw guardMisuse(name)
      check(requestView(req), req).then((payload) => {
        req.authx = payload
        next()
      }, fail(next))
    }
  const tokenRequired = (options: Omit<AuthenticateOptions, 'optional'>, name = 'tokenRequired') =>
    guard(name, auth.tokenRequired(auth.guardOptions(options, name)))
  const sendError = (res: ExpressResponse, err: AuthXError) => {
    const { status, headers, body } = errorResponse(err, errorBody)
    res.status(status).set(headers).json(body)
  }
  const routes = readyMadeRoutes(auth, errorBody)
  // A ready-made route writes its whole answer, errors included: it needs no errorHandler.
  const send = (res: ExpressResponse, answer: RouteAnswer) => {
    const existing = res.getHeader('set-cookie')
    const before = existing === undefined ? [] : [existing].flat().map(String)
    if (answer.cookies.length > 0) res.setHeader('Set-Cookie', mergeSetCookies(before, answer.cookies))
    res.status(answer.status).set({ ...answer.headers })
    if (answer.body === undefined) res.end()
    else res.json(answer.body)
  }
  const route =
    (name: string, answer: (view: AuthXRequest) => Promise<RouteAnswer>): ExpressMiddleware =>
    (req, res, next) => {
      if (typeof next !== 'function') throw guardMisuse(name)
      answer(requestView(req)).then((result) => send(res, result), fail(next))
    }
  const adapter: ExpressAuthX = {
    loginType: (type) => ownLoginType(auth, type, adapter, 'expressAuthX'),
    accessRequired: guard('accessRequired', auth.accessRequired),
    refreshRequired: guard('refreshRequired', auth.refreshRequired),
    freshRequired: guard('freshRequired', auth.freshRequired),
    accessOptional: guard('accessOptional', (view) => auth.authenticate(view, { optional: true })),
    policyRequired: <R extends ExpressRequest>(policy: Policy, options: PolicyGuardOptions<R>) => {
      const check = policyCheck(auth, policy, options)
      // The whole path, decoded (req.path is relative inside a mounted router, and still encoded).
      return guard('policyRequired', (view, req) =>
        check(view, req as R, { ip: req.ip, path: decodedPath(req.originalUrl ?? req.url) }),
      )
    },
    rateLimited: <R extends ExpressRequest>(limiter: RateLimiter<R> | RateLimiterOptions<R>) => {
      const check = rateLimitCheck(auth, limiter)
      return (req, res, next) => {
        if (typeof next !== 'function') throw guardMisuse('rateLimited')
        // The socket's address, not req.ip: X-Forwarded-For counts only by the limiter's trustProxy.
        const input = { request: req as R, ip: req.socket?.remoteAddress, attached: req.authx ?? undefined }
        check(requestView(req), input).then(({ payload, headers }) => {
          if (payload !== undefined) req.authx = payload
          for (const [name, value] of Object.entries(headers)) res.setHeader(name, value)
          next()
        }, fail(next))
      }
    },
    websocketRequired: guard('websocketRequired', (_view, req) =>
      auth.authenticateWebSocket({ url: req.originalUrl ?? req.url, headers: req.headers }),
    ),
    currentSubject: middleware('currentSubject', async (req) => {
      const payload = (await auth.authenticate(requestView(req))) as TokenPayload
      req.authxSubject = await auth.loadSubject(payload)
      req.authx = payload
    }),
    implicitRefresh: middleware('implicitRefresh', async (req, res) =>
      append(res, await auth.implicitRefreshCookies(requestView(req))),
    ),
    errorHandler: (err, _req, res, next) => {
      if (!isAuthXError(err) || res.headersSent) return next(err)
      sendError(res, err)
    },
    scopesRequired: (...scopes) => tokenRequired({ scopes: scopeArguments(scopes, 'scopesRequired') }),
    anyScopeRequired: (...scopes) =>
      tokenRequired({ scopes: scopeArguments(scopes, 'anyScopeRequired'), anyScope: true }),
    tokenRequired: (options) => tokenRequired(options),
    refreshRoute: routeOrFactory((options) => route('refreshRoute', routes.refresh(options))),
    logoutRoute: routeOrFactory((options) => route('logoutRoute', routes.logout(options))),
    dpopThumbprint: (req) => auth.dpopThumbprint(requestView(req)),
    payload: (req) => {
      if (req.authx == null)
        throw new Error('authx.payload(req): no authx guard stored a payload on this request')
      return req.authx
    },
    setAccessCookies: (res, token, options) => append(res, auth.accessCookies(token, options)),
    setRefreshCookies: (res, token, options) => append(res, auth.refreshCookies(token, options)),
    unsetCookies: (res) => append(res, auth.unsetCookies()),
    unsetAccessCookies: (res) => append(res, auth.unsetAccessCookies()),
    unsetRefreshCookies: (res) => append(res, auth.unsetRefreshCookies()),
  }
  return adapter
}
