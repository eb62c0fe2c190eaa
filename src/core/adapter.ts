/**
 * The shape every middleware-style adapter offers (docs/adapters.md), written once. Adapters fill
 * in their framework's middleware type and the object their cookie helpers write to.
 * @module
 */
import type { AuthenticateOptions, AuthX, CookieCallOptions } from './authx.js'
import { checkCallOptions } from './call-options.js'
import { ConfigError } from './errors.js'
import { type AuthManager, isAuthManager } from './manager.js'
import type { TokenPayload } from './payload.js'
import type { Policy, PolicyEnv } from './policy.js'
import { limitRequest, RateLimiter, type RateLimiterOptions } from './rate-limit.js'
import type { AuthXRequest, RequestLike } from './request.js'
import { type ErrorBodyFormatter, errorResponse, isAuthXError } from './response.js'
import {
  type LogoutRouteOptions,
  logoutRouteOptions,
  logoutSuccess,
  type RefreshRouteOptions,
  type RouteAnswer,
} from './routes.js'

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
export interface AuthXAdapter<Guard, Target, Route = Guard, Source = Target, Req = Source> {
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
  /** Renews an access cookie close to expiry (docs/adapters.md); its cookies reach every answer. */
  readonly implicitRefresh: Guard
  /**
   * For WebSocket upgrade routes (docs/websocket.md): an access token found as
   * `auth.authenticateWebSocket` finds it (the query parameter, the header, a
   * `Sec-WebSocket-Protocol` entry, the cookie from `websocket.allowedOrigins` only), whatever
   * `tokenLocation` says, and stores its payload.
   */
  readonly websocketRequired: Guard
  /**
   * Authenticates (401 first), then asks the policy whether the token may do `action` on
   * `resource` (403 `PolicyDeniedError` when not; docs/policies.md). Options are checked here.
   */
  policyRequired<R extends Req = Req>(policy: Policy, options: PolicyGuardOptions<R>): Guard
  /**
   * Counts the request on a sliding-window limiter (docs/rate-limiting.md): a limiter made with
   * `auth.rateLimiter(...)`, or its options. `by: 'subject'` authenticates first (401 first);
   * `'ip'` uses the socket's address (`X-Forwarded-For` only with `trustProxy`); a function
   * receives the framework's request and the payload an earlier guard attached. Every answer
   * carries `RateLimit-Policy` and `RateLimit`; over the limit, 429 with `Retry-After`.
   */
  rateLimited<R extends Req = Req>(limiter: RateLimiter<R> | RateLimiterOptions<R>): Guard
  /**
   * The RFC 7638 thumbprint of the key of the request's DPoP proof, to bind a login's tokens
   * (`createTokenPair({ uid, jkt })`, docs/dpop.md); `undefined` without a proof.
   */
  dpopThumbprint(req: Req): Promise<string | undefined>
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
  /**
   * The ready-made refresh route, its guard included: verifies the refresh token from any
   * enabled location (CSRF included), rotates it, sets both cookies when cookies are a location,
   * and answers `{ access_token, refresh_token, token_type: 'bearer' }` with
   * `Cache-Control: no-store`. Use it as the handler, or call it with options for the new tokens.
   */
  readonly refreshRoute: Route & ((options?: RefreshRouteOptions) => Route)
  /**
   * The ready-made logout route: revokes the family (or the token) of the access token, expired
   * ones included, and of the refresh token the request carries, clears every cookie and answers
   * 204. A missing or invalid token still clears the cookies and answers 204; a store that cannot
   * record the revocation answers 503 (the cookies still cleared).
   */
  readonly logoutRoute: Route & ((options?: LogoutRouteOptions) => Route)
  /**
   * The payload a guard stored on this request, typed as present: for handlers behind a guard.
   * Throws an `Error` when no authx guard ran (a route defined without one).
   */
  payload(source: Source): TokenPayload
  /**
   * The guards of one login type (docs/login-types.md): on an adapter made with an
   * `AuthManager`, those of its instance of that type; on one made with an `AuthX`, the adapter
   * itself when the type is the instance's `loginType`. `ConfigError` otherwise, where the route
   * is defined.
   */
  loginType(type: string): this
}

/**
 * Options every adapter takes (`expressAuthX(auth, options)`, `honoAuthX(auth, options)`, the
 * Fastify plugin's options, ...).
 *
 * @example
 * ```ts
 * const authx = expressAuthX(auth, { errorBody: (err) => ({ error: err.code }) })
 * ```
 */
export interface AdapterOptions {
  /**
   * Reshapes the JSON body of every error answer this adapter writes (status and headers stay
   * authx's). Default: `err.toJSON()`. A formatter that throws or returns `undefined` gets the
   * standard body (and a warning), never a 500.
   */
  errorBody?: ErrorBodyFormatter | undefined
}

/**
 * Checks an adapter's options where the adapter is made.
 *
 * @example
 * ```ts
 * const { errorBody } = adapterOptions(options, 'expressAuthX')
 * ```
 */
export function adapterOptions(options: unknown, call: string): AdapterOptions {
  const checked = checkCallOptions(options, call, { errorBody: isFunction }) as AdapterOptions
  return { errorBody: checked.errorBody }
}

const isFunction = (value: unknown, path: string): void => {
  if (typeof value !== 'function') throw new TypeError(`${path} must be a function`)
}

/**
 * The error for a guard called as a function (`authx.accessRequired()`, express-jwt's habit):
 * thrown where the route is defined, instead of crashing the process on the first request.
 *
 * @example
 * ```ts
 * if (typeof next !== 'function') throw guardMisuse('accessRequired')
 * ```
 */
export function guardMisuse(name: string): TypeError {
  return new TypeError(
    `authx.${name} is already a middleware: pass authx.${name} to the route, without calling it (authx.${name}())`,
  )
}

function isPlainObject(value: unknown): boolean {
  if (typeof value !== 'object' || value === null) return false
  const proto = Object.getPrototypeOf(value)
  return proto === Object.prototype || proto === null
}

/**
 * A ready-made route usable both as the handler itself (`authx.refreshRoute`) and as a factory
 * with options (`authx.refreshRoute({ scopes })`). A call with no argument or one plain object is
 * the factory; a framework calling the handler passes a request (never a plain object).
 *
 * @example
 * ```ts
 * const refreshRoute = routeOrFactory((options) => makeHandler(options))
 * ```
 */
export function routeOrFactory<Options, Handler extends (...args: never[]) => unknown>(
  make: (options: Options | undefined) => Handler,
): Handler & ((options?: Options) => Handler) {
  const byDefault = make(undefined)
  return function route(this: unknown, ...args: unknown[]) {
    if (args.length <= 1 && (args[0] === undefined || isPlainObject(args[0]))) {
      return make(args[0] as Options | undefined)
    }
    return (byDefault as unknown as (...a: unknown[]) => unknown).apply(this, args)
  } as Handler & ((options?: Options) => Handler)
}

/** The two ready-made routes as functions from a request to its whole answer, errors included. */
export interface ReadyMadeRoutes {
  /** The refresh route's answer for these options (checked here, once). */
  refresh(options: RefreshRouteOptions | undefined): (request: RequestLike) => Promise<RouteAnswer>
  /** The logout route's answer (no options are known yet; an object with any name is refused). */
  logout(options: LogoutRouteOptions | undefined): (request: RequestLike) => Promise<RouteAnswer>
}

/**
 * The ready-made refresh and logout routes, written once for every adapter: each resolves to the
 * complete answer (an authx error becomes its answer, reshaped by `errorBody`; a logout whose
 * revocation failed keeps its clearing cookies), so an adapter only writes a `RouteAnswer` in its
 * framework's way. Other errors reject, for the framework's own handling.
 *
 * @example
 * ```ts
 * const routes = readyMadeRoutes(auth, errorBody)
 * const answer = await routes.refresh(undefined)(request)
 * ```
 */
export function readyMadeRoutes(auth: AuthX, errorBody: ErrorBodyFormatter | undefined): ReadyMadeRoutes {
  const failed = (err: unknown, cookies: readonly string[]): RouteAnswer => {
    if (!isAuthXError(err)) throw err
    const { status, headers, body } = errorResponse(err, errorBody)
    return { status, headers, cookies, body }
  }
  return {
    refresh(options) {
      const checked = auth.refreshRouteOptions(options)
      return (request) => auth.refreshFromRequest(request, checked).catch((err: unknown) => failed(err, []))
    },
    logout(options) {
      logoutRouteOptions(options)
      return async (request) => {
        const { cookies, error } = await auth.logoutFromRequest(request)
        return error === undefined ? logoutSuccess(cookies) : failed(error, cookies)
      }
    },
  }
}

/**
 * `adapter.loginType(type)` of an adapter made for one instance: the adapter itself when `type` is
 * the instance's login type, a `ConfigError` otherwise.
 *
 * @example
 * ```ts
 * const adapter = { ...guards, loginType: (type: string) => ownLoginType(auth, type, adapter, 'expressAuthX') }
 * ```
 */
export function ownLoginType<A>(auth: AuthX, type: string, adapter: A, call: string): A {
  const own = auth.config.loginType
  if (type !== own) {
    throw new ConfigError(
      own === undefined
        ? `${call}: loginType(${JSON.stringify(type)}) needs an adapter made with an AuthManager (this instance has no loginType)`
        : `${call}: loginType(${JSON.stringify(type)}): this adapter serves the '${own}' login type only; make it with an AuthManager for several`,
    )
  }
  return adapter
}

/**
 * The adapter of an `AuthManager` (docs/login-types.md): `loginType(type)` gives the adapter of that
 * type's instance (made once, on first use); `payload(source)` reads what any of them stored;
 * the members named in `shared` (error handlers) are those of the first instance's adapter. Every
 * other member throws a `ConfigError` naming `loginType(...)` where the route is defined, so a
 * guard can never be used without saying which login type it admits.
 *
 * @example
 * ```ts
 * if (isAuthManager(auth)) return managedAdapter(auth, (one) => expressAdapter(one, errorBody), 'expressAuthX', ['errorHandler'])
 * ```
 */
export function managedAdapter<A extends { payload(source: never): TokenPayload }>(
  manager: AuthManager,
  make: (auth: AuthX) => A,
  call: string,
  shared: readonly (keyof A & string)[] = [],
): A {
  const instances = manager.instances
  const first = instances[0]
  if (first === undefined) {
    throw new ConfigError(`${call}: the AuthManager has no instance; register the login types first`)
  }
  const made = new Map<AuthX, A>()
  const adapterOf = (auth: AuthX): A => {
    let adapter = made.get(auth)
    if (adapter === undefined) {
      adapter = make(auth)
      made.set(auth, adapter)
    }
    return adapter
  }
  const sample = adapterOf(first)
  const managed: Record<string, unknown> = {
    loginType: (type: string) => adapterOf(manager.get(type)),
    payload: (source: never) => {
      for (const adapter of made.values()) {
        try {
          return adapter.payload(source)
        } catch {}
      }
      return sample.payload(source)
    },
  }
  for (const key of shared) managed[key] = sample[key]
  for (const key of Object.keys(sample)) {
    if (key in managed) continue
    // Not enumerable: spreading or logging the adapter must not throw.
    Object.defineProperty(managed, key, {
      enumerable: false,
      get() {
        throw new ConfigError(
          `${call}: this adapter serves an AuthManager; choose the login type of the route: authx.loginType('${first.config.loginType}').${key}`,
        )
      },
    })
  }
  return managed as A
}

/**
 * Makes an adapter for an `AuthX`, or the managed adapter of an `AuthManager` (see
 * `managedAdapter`).
 *
 * @example
 * ```ts
 * export function expressAuthX(auth: AuthX | AuthManager, options?: AdapterOptions): ExpressAuthX {
 *   const { errorBody } = adapterOptions(options, 'expressAuthX')
 *   return adapterFor(auth, (one) => expressAdapter(one, errorBody), 'expressAuthX', ['errorHandler'])
 * }
 * ```
 */
export function adapterFor<A extends { payload(source: never): TokenPayload }>(
  auth: AuthX | AuthManager,
  make: (auth: AuthX) => A,
  call: string,
  shared: readonly (keyof A & string)[] = [],
): A {
  return isAuthManager(auth) ? managedAdapter(auth, make, call, shared) : make(auth)
}

/**
 * Options of the adapters' `policyRequired`: the action, and the resource as a string or read
 * from the framework's request (`(req: express.Request) => \`posts:${req.params.id}\``; type the
 * parameter with your framework's request type, which the adapter passes).
 */
export interface PolicyGuardOptions<Req> {
  action: string
  resource: string | ((request: Req) => string)
  /** Attributes of the resource for the rules' conditions (its owner...), read from the request. */
  resourceAttrs?: ((request: Req) => Record<string, unknown> | Promise<Record<string, unknown>>) | undefined
}

/**
 * The check of an adapter's `policyRequired`, made where the route is defined (a `TypeError` for
 * bad options): authenticates the request's access token, then authorizes it with the policy.
 *
 * @example
 * ```ts
 * const check = policyCheck(auth, policy, { action: 'posts:edit', resource: 'posts:*' })
 * const payload = await check(view, req)
 * ```
 */
export function policyCheck<Req>(
  auth: AuthX,
  policy: Policy,
  options: PolicyGuardOptions<Req>,
  call = 'policyRequired',
): (view: AuthXRequest, request: Req, env?: Partial<PolicyEnv>) => Promise<TokenPayload> {
  if (typeof (policy as Partial<Policy> | null)?.authorize !== 'function') {
    throw new TypeError(`${call}: expected a policy made with auth.policy(...)`)
  }
  const { action, resource, resourceAttrs } = checkCallOptions(options, call, {
    action: isText,
    resource: isTextOrFunction,
    resourceAttrs: isFunction,
  }) as unknown as PolicyGuardOptions<Req>
  if (action === undefined || resource === undefined) {
    throw new TypeError(`${call}: options { action, resource } are required`)
  }
  return async (view, request, env) => {
    const payload = (await auth.authenticate(view)) as TokenPayload
    await policy.authorize(payload, {
      action,
      resource: typeof resource === 'function' ? resource(request) : resource,
      resourceAttrs: resourceAttrs === undefined ? undefined : await resourceAttrs(request),
      env: { method: view.method, path: view.path, ...env },
    })
    return payload
  }
}

const isText = (value: unknown, path: string): void => {
  if (typeof value !== 'string' || value.length === 0)
    throw new TypeError(`${path} must be a non-empty string`)
}

const isTextOrFunction = (value: unknown, path: string): void => {
  if (typeof value !== 'function') isText(value, path)
}

/** What a `rateLimited` guard learns of one request from its adapter. */
export interface RateLimitedRequest<Req> {
  /** The framework's request (given to a `by` function). */
  readonly request: Req
  /** The socket's address, where the framework knows it. */
  readonly ip: string | undefined
  /** The payload an earlier guard attached, for a `by` function. */
  readonly attached?: TokenPayload | undefined
}

/**
 * The core of every adapter's `rateLimited` guard: takes a limiter or its options (checked
 * now), and per request authenticates when counting by subject, counts the request, and
 * returns the payload it verified (`undefined` otherwise) and the headers for the answer. Over
 * the limit it throws `RateLimitError`, whose answer carries the same headers.
 *
 * @example
 * ```ts
 * const check = rateLimitCheck(auth, { max: 100, window: '1m', by: 'ip' })
 * const { headers } = await check(view, { request: req, ip: req.socket.remoteAddress })
 * ```
 */
export function rateLimitCheck<Req>(
  auth: AuthX,
  limiter: RateLimiter<Req> | RateLimiterOptions<Req>,
  call = 'rateLimited',
): (
  view: AuthXRequest,
  input: RateLimitedRequest<Req>,
) => Promise<{ payload: TokenPayload | undefined; headers: Record<string, string> }> {
  if (typeof limiter !== 'object' || limiter === null)
    throw new TypeError(`${call}: expected a limiter made with auth.rateLimiter(...) or its options`)
  const active = limiter instanceof RateLimiter ? limiter : auth.rateLimiter(limiter)
  return async (view, input) => {
    const payload = active.by === 'subject' ? ((await auth.authenticate(view)) as TokenPayload) : undefined
    const { headers } = await limitRequest(active, {
      request: input.request,
      ip: input.ip,
      forwardedFor: view.header('x-forwarded-for'),
      payload: payload ?? input.attached,
    })
    return { payload, headers }
  }
}
