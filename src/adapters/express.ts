/**
 * Express 4 and 5 adapter (SPEC section 6): guards are middleware, the payload lands on
 * `req.authx`, and `authx.errorHandler` turns authx errors into the responses of section 5.
 *
 * Tokens in the body are read from `req.body`, so add `express.json()` (and
 * `express.urlencoded()` for the CSRF form field) before the guards; without a parser the body
 * locations find nothing.
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

declare global {
  namespace Express {
    // The open interface that the Request of express-serve-static-core 4 and 5 both extend, so
    // one augmentation types `req.authx` for Express 4 and 5 alike.
    interface Request {
      /**
       * The verified token payload, set by the authx guards. `null` after `accessOptional`
       * when the request carries no token; not set on routes without an authx guard.
       */
      authx: TokenPayload
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
  readonly method: string
  readonly path: string
  readonly headers: Readonly<Record<string, string | string[] | undefined>>
  readonly query?: unknown
  readonly body?: unknown
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
 * What `expressAuthX(auth)` returns: middleware values and cookie helpers (SPEC section 6).
 *
 * @example
 * ```ts
 * const authx: ExpressAuthX = expressAuthX(auth)
 * app.post('/auth/refresh', authx.refreshRequired, handler)
 * ```
 */
export interface ExpressAuthX extends AuthXAdapter<ExpressMiddleware, ExpressResponse> {
  /**
   * Renews an access cookie close to expiry (SPEC section 6). `app.use` it on the app before the
   * routes: include/exclude lists match `req.path`, which inside a mounted router is relative.
   */
  readonly implicitRefresh: ExpressMiddleware
  /** Writes authx errors as JSON answers; passes every other error on. Register after the routes. */
  readonly errorHandler: ExpressErrorMiddleware
}

/** The core's view of an Express request. Nothing here throws for client input. */
function requestView(req: ExpressRequest): AuthXRequest {
  return parsedRequestView({
    method: req.method,
    path: () => req.path,
    headers: req.headers,
    query: () => req.query,
    body: () => req.body,
  })
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

/** Middleware running `work`, then `next()`; a rejection goes to `next(err)`, never unhandled. */
function middleware(work: (req: ExpressRequest, res: ExpressResponse) => Promise<void>): ExpressMiddleware {
  return (req, res, next) => {
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
export function expressAuthX(auth: AuthX): ExpressAuthX {
  const guard = (check: (view: AuthXRequest) => Promise<TokenPayload | null>) =>
    middleware(async (req) => {
      req.authx = (await check(requestView(req))) as TokenPayload
    })
  const tokenRequired = (options: Omit<AuthenticateOptions, 'optional'>) => guard(auth.tokenRequired(options))
  return {
    accessRequired: guard(auth.accessRequired),
    refreshRequired: guard(auth.refreshRequired),
    freshRequired: guard(auth.freshRequired),
    accessOptional: guard((view) => auth.authenticate(view, { optional: true })),
    currentSubject: middleware(async (req) => {
      const payload = (await auth.authenticate(requestView(req))) as TokenPayload
      req.authxSubject = await auth.loadSubject(payload)
      req.authx = payload
    }),
    implicitRefresh: middleware(async (req, res) =>
      append(res, await auth.implicitRefreshCookies(requestView(req))),
    ),
    errorHandler: (err, _req, res, next) => {
      if (!isAuthXError(err) || res.headersSent) return next(err)
      const { status, headers, body } = errorResponse(err)
      res.status(status).set(headers).json(body)
    },
    scopesRequired: (...scopes) => tokenRequired({ scopes }),
    anyScopeRequired: (...scopes) => tokenRequired({ scopes, anyScope: true }),
    tokenRequired,
    setAccessCookies: (res, token, options) => append(res, auth.accessCookies(token, options)),
    setRefreshCookies: (res, token, options) => append(res, auth.refreshCookies(token, options)),
    unsetCookies: (res) => append(res, auth.unsetCookies()),
    unsetAccessCookies: (res) => append(res, auth.unsetAccessCookies()),
    unsetRefreshCookies: (res) => append(res, auth.unsetRefreshCookies()),
  }
}
