/**
 * Fastify 5 adapter (docs/adapters.md): a plugin that decorates `app.authx` with `preHandler`
 * guards and ready-made routes, puts the payload on `request.authx` and the subject on
 * `request.authxSubject`, and answers authx errors as docs/locations-and-csrf.md says without taking the
 * application's error handler (see `fastifyAuthX`).
 *
 * Tokens in the body are read from `request.body`: Fastify parses JSON itself; register
 * `@fastify/formbody` for the CSRF form field.
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
  guardMisuse,
  isAuthManager,
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
import type { FastifyPluginAsync, FastifyReply, FastifyRequest, RouteOptions } from 'fastify'

declare module 'fastify' {
  interface FastifyInstance {
    /** The authx guards, routes and cookie helpers, added by the `fastifyAuthX` plugin. */
    authx: FastifyAuthX
  }
  interface FastifyRequest {
    /**
     * The verified token payload, set by the authx guards: `null` on routes without an authx
     * guard and after `accessOptional` when the request carries no token. Behind a guard,
     * `app.authx.payload(request)` reads it typed as present.
     */
    authx: TokenPayload | null
    /** The subject loaded by `app.authx.currentSubject` (what the subject getter returned). */
    authxSubject: unknown
  }
}

/**
 * Options of the `fastifyAuthX` plugin: the authx instance and the adapter options. Any other
 * name is a `TypeError` at registration (Fastify's `prefix` and `logLevel` included: the plugin
 * runs in the scope it is registered in, so they would do nothing).
 *
 * @example
 * ```ts
 * const options: FastifyAuthXOptions = { auth, errorBody: (err) => ({ error: err.code }) }
 * await app.register(fastifyAuthX, options)
 * ```
 */
export interface FastifyAuthXOptions extends AdapterOptions {
  /**
   * The authx instance every guard uses, or an `AuthManager`: then `app.authx.loginType('admin')`
   * gives the guards of each login type (docs/login-types.md).
   */
  auth: AuthX | AuthManager
}

/**
 * An authx hook: a `preHandler` for guards, an `onRequest` hook for `implicitRefresh`. A guard
 * that refuses the request writes the error answer itself and resolves once it is sent, so
 * Fastify runs neither the later hooks nor the handler.
 *
 * @example
 * ```ts
 * const guard: FastifyAuthXHook = app.authx.accessRequired
 * app.get('/p', { preHandler: guard }, async (request) => ({ sub: app.authx.payload(request).sub }))
 * ```
 */
export type FastifyAuthXHook = (request: FastifyRequest, reply: FastifyReply) => Promise<void>

/**
 * A ready-made route: a Fastify handler writing its whole answer, errors included.
 *
 * @example
 * ```ts
 * const route: FastifyAuthXRoute = app.authx.refreshRoute({ scopes: ['users:read'] })
 * app.post('/auth/refresh', route)
 * ```
 */
export type FastifyAuthXRoute = (request: FastifyRequest, reply: FastifyReply) => Promise<void>

/**
 * What the plugin puts on `app.authx` (docs/adapters.md).
 *
 * @example
 * ```ts
 * const authx: FastifyAuthX = app.authx
 * app.post('/auth/refresh', authx.refreshRoute)
 * ```
 */
export interface FastifyAuthX
  extends AuthXAdapter<FastifyAuthXHook, FastifyReply, FastifyAuthXRoute, FastifyRequest> {
  /**
   * An `onRequest` hook renewing an access cookie close to expiry. The cookies go on the reply
   * before routing goes on, so every answer carries them, error answers included. Route lists
   * match the registered path of static routes (so encoding, case or trailing-slash variants the
   * router accepts still match), else the decoded request path without the query string.
   */
  readonly implicitRefresh: FastifyAuthXHook
  /**
   * A `preHandler` (or `onRequest`) hook counting the request on a sliding-window limiter (see
   * `AuthXAdapter.rateLimited`, docs/rate-limiting.md). `by: 'ip'` uses the socket's address
   * (`request.raw.socket`), not `request.ip`, which follows Fastify's own `trustProxy`:
   * `X-Forwarded-For` counts only by the limiter's `trustProxy`. `by: 'subject'` stores the
   * payload on `request.authx`.
   *
   * @example
   * ```ts
   * const limit = app.authx.rateLimited({ max: 5, window: '1m', by: 'ip', name: 'login' })
   * app.post('/login', { preHandler: limit }, login)
   * ```
   */
  rateLimited<R extends FastifyRequest = FastifyRequest>(
    limiter: RateLimiter<R> | RateLimiterOptions<R>,
  ): FastifyAuthXHook
}

/** The path implicit-refresh route lists are matched against; see `implicitRefresh`. */
function routePath(request: FastifyRequest): string {
  const pattern = request.routeOptions.url
  // A static route's registered path is what the router matched, whatever the spelling sent.
  if (typeof pattern === 'string' && !/[:*]/.test(pattern)) return pattern
  const url = request.url
  const end = url.search(/[?#]/)
  const raw = end < 0 ? url : url.slice(0, end)
  try {
    return decodeURI(raw)
  } catch {
    return raw
  }
}

/** How the core reads a Fastify request. Nothing here throws for client input. */
const READER: RequestReader<FastifyRequest> = {
  method: (request) => request.method,
  path: routePath,
  headers: (request) => request.headers,
  query: (request) => request.query,
  body: (request) => request.body,
  // protocol and host follow the server's `trustProxy` setting, as the rest of Fastify does.
  url: (request) => `${request.protocol}://${request.host}${request.url}`,
}

/** The core's view of a Fastify request: one object, nothing read until asked for. */
function view(request: FastifyRequest): AuthXRequest {
  return readerView(request, READER)
}

function append(reply: FastifyReply, cookies: string[]): void {
  // Fastify appends to an existing set-cookie header, so cookies set elsewhere survive.
  if (cookies.length > 0) reply.header('set-cookie', cookies)
}

/** A route's cookies replace earlier ones of the same names (implicit refresh's). */
function replaceCookies(reply: FastifyReply, cookies: readonly string[]): void {
  if (cookies.length === 0) return
  const existing = reply.getHeader('set-cookie')
  const before = existing === undefined ? [] : [existing].flat().map(String)
  reply.removeHeader('set-cookie').header('set-cookie', mergeSetCookies(before, cookies))
}

/**
 * Waits until the answer written on `reply` is sent: a hook or handler that has answered must
 * not resolve earlier, or Fastify would go on with the request (Fastify's "return reply").
 */
async function sent(reply: FastifyReply): Promise<void> {
  await reply
}

const WRAPPED = Symbol('authx.handler')

/** How authx errors are answered on a reply, reshaped by `errorBody`. */
function errorAnswers(errorBody: AdapterOptions['errorBody']) {
  const sendError = (reply: FastifyReply, err: AuthXError) => {
    const { status, headers, body } = errorResponse(err, errorBody)
    if (status >= 500) reply.log.error({ err }, 'authx: request failed')
    // A string body: a route's response schema must not reshape the error body.
    reply.code(status).headers(headers).send(JSON.stringify(body))
    return sent(reply)
  }
  // An authx error is answered here; anything else goes on to the application's error handler.
  const answerError = (reply: FastifyReply, err: unknown) => {
    if (!isAuthXError(err) || reply.sent) throw err
    return sendError(reply, err)
  }
  const rescue = (reply: FastifyReply) => (err: unknown) => answerError(reply, err)
  return { answerError, rescue }
}

/** `app.authx` for one instance. */
function fastifyAdapter(auth: AuthX, errorBody: AdapterOptions['errorBody']): FastifyAuthX {
  const { answerError, rescue } = errorAnswers(errorBody)
  // Called as a function at route definition (`app.authx.accessRequired()`), it throws there.
  const hook =
    (name: string, work: (request: FastifyRequest, reply: FastifyReply) => Promise<unknown>) =>
    (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
      if (typeof reply?.code !== 'function') throw guardMisuse(name)
      return work(request, reply).then(() => undefined, rescue(reply))
    }
  // The hot path: one promise step between the check and Fastify's next hook.
  const guard =
    (name: string, check: (view: AuthXRequest, request: FastifyRequest) => Promise<TokenPayload | null>) =>
    (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
      if (typeof reply?.code !== 'function') throw guardMisuse(name)
      return check(view(request), request).then(
        (payload) => {
          request.authx = payload
        },
        (err: unknown) => answerError(reply, err),
      )
    }
  const tokenRequired = (o: Omit<AuthenticateOptions, 'optional'>, name = 'tokenRequired') =>
    guard(name, auth.tokenRequired(auth.guardOptions(o, name)))
  const answer = (reply: FastifyReply, { status, headers, cookies, body }: RouteAnswer) => {
    replaceCookies(reply, cookies)
    reply.code(status).headers({ ...headers })
    reply.send(body === undefined ? undefined : JSON.stringify(body))
    return sent(reply)
  }
  const routes = readyMadeRoutes(auth, errorBody)
  const route = (name: string, answerOf: (view: AuthXRequest) => Promise<RouteAnswer>) =>
    hook(name, async (request, reply) => answer(reply, await answerOf(view(request))))
  const adapter: FastifyAuthX = {
    loginType: (type) => ownLoginType(auth, type, adapter, 'fastifyAuthX'),
    accessRequired: guard('accessRequired', auth.accessRequired),
    refreshRequired: guard('refreshRequired', auth.refreshRequired),
    freshRequired: guard('freshRequired', auth.freshRequired),
    accessOptional: guard('accessOptional', (v) => auth.authenticate(v, { optional: true })),
    policyRequired: <R extends FastifyRequest>(policy: Policy, options: PolicyGuardOptions<R>) => {
      const check = policyCheck(auth, policy, options)
      return guard('policyRequired', (v, request) => check(v, request as R, { ip: request.ip }))
    },
    rateLimited: <R extends FastifyRequest>(limiter: RateLimiter<R> | RateLimiterOptions<R>) => {
      const check = rateLimitCheck(auth, limiter)
      return hook('rateLimited', async (request, reply) => {
        // The socket's address, not request.ip: X-Forwarded-For counts only by the limiter's trustProxy.
        const ip = request.raw.socket?.remoteAddress
        const input = { request: request as R, ip, attached: request.authx ?? undefined }
        const { payload, headers } = await check(view(request), input)
        if (payload !== undefined) request.authx = payload
        reply.headers(headers)
      })
    },
    websocketRequired: guard('websocketRequired', (_v, request) => auth.authenticateWebSocket(request.raw)),
    currentSubject: hook('currentSubject', async (request) => {
      const payload = (await auth.authenticate(view(request))) as TokenPayload
      request.authxSubject = await auth.loadSubject(payload)
      request.authx = payload
    }),
    implicitRefresh: hook('implicitRefresh', async (request, reply) =>
      append(reply, await auth.implicitRefreshCookies(view(request))),
    ),
    scopesRequired: (...scopes) => tokenRequired({ scopes: scopeArguments(scopes, 'scopesRequired') }),
    anyScopeRequired: (...scopes) =>
      tokenRequired({ scopes: scopeArguments(scopes, 'anyScopeRequired'), anyScope: true }),
    tokenRequired: (o) => tokenRequired(o),
    refreshRoute: routeOrFactory((options) => route('refreshRoute', routes.refresh(options))),
    logoutRoute: routeOrFactory((options) => route('logoutRoute', routes.logout(options))),
    dpopThumbprint: (request) => auth.dpopThumbprint(view(request)),
    payload: (request) => {
      if (request.authx == null)
        throw new Error('app.authx.payload(request): no authx guard stored a payload on this request')
      return request.authx
    },
    setAccessCookies: (reply, token, o) => append(reply, auth.accessCookies(token, o)),
    setRefreshCookies: (reply, token, o) => append(reply, auth.refreshCookies(token, o)),
    unsetCookies: (reply) => append(reply, auth.unsetCookies()),
    unsetAccessCookies: (reply) => append(reply, auth.unsetAccessCookies()),
    unsetRefreshCookies: (reply) => append(reply, auth.unsetRefreshCookies()),
  }
  return adapter
}

const plugin: FastifyPluginAsync<FastifyAuthXOptions> = async (app, options) => {
  const { auth, ...rest } = options ?? {}
  if (typeof (auth as Partial<AuthX> | undefined)?.authenticate !== 'function' && !isAuthManager(auth))
    throw new TypeError('fastifyAuthX: options.auth must be an AuthX or an AuthManager')
  const { errorBody } = adapterOptions(rest, 'fastifyAuthX')
  const { rescue } = errorAnswers(errorBody)
  app.decorateRequest('authx', null)
  app.decorateRequest('authxSubject', null)
  app.decorate(
    'authx',
    adapterFor(auth, (one) => fastifyAdapter(one, errorBody), 'fastifyAuthX'),
  )
  // Handlers of the routes defined from here on (this scope and its children) answer the authx
  // errors they throw, before any error handler sees them; see `fastifyAuthX`.
  app.addHook('onRoute', (route: RouteOptions) => {
    const handler = route.handler as RouteOptions['handler'] & { [WRAPPED]?: true }
    if (typeof handler !== 'function' || handler[WRAPPED]) return
    route.handler = Object.assign(
      function authxHandler(this: unknown, request: FastifyRequest, reply: FastifyReply) {
        let result: unknown
        try {
          result = handler.call(this as never, request, reply)
        } catch (err) {
          return rescue(reply)(err)
        }
        // A synchronous handler's value is handed back as it is (Fastify sends it). A thenable
        // (a promise, or the reply itself: `return reply`) becomes a promise, as Fastify treats it.
        const thenable = result as PromiseLike<unknown> | undefined
        return typeof thenable?.then === 'function' ? Promise.resolve(thenable).catch(rescue(reply)) : result
      },
      { [WRAPPED]: true as const },
    ) as RouteOptions['handler']
  })
}

/**
 * Marks a plugin the way fastify-plugin 5 does, with the symbols Fastify itself reads
 * (fastify/lib/plugin-utils.js), so `authx/fastify` needs nothing but `fastify`:
 * `skip-override` makes Fastify run the plugin in the scope it is registered in, not a child
 * one (so `app.authx` is visible to the caller); `plugin-meta` gives its name (for
 * `app.hasPlugin('authx')` and other plugins' `dependencies`) and the Fastify versions it
 * accepts (checked at registration); `fastify.display-name` names it in errors and logs.
 */
function skipOverride<T extends object>(fn: T, meta: { name: string; fastify: string }): T {
  return Object.assign(fn, {
    [Symbol.for('skip-override')]: true,
    [Symbol.for('fastify.display-name')]: meta.name,
    [Symbol.for('plugin-meta')]: meta,
  })
}

/**
 * The authx plugin for Fastify 5. It applies to the scope it is registered in, not a child one
 * (as a plugin wrapped with fastify-plugin does), so `app.authx` is there once
 * `await app.register(fastifyAuthX, { auth })` returns.
 *
 * Errors: the plugin never calls `setErrorHandler`, so the error handler stays yours: set it
 * before or after the plugin, on an app made with `allowErrorHandlerOverride: false` too, and it
 * gets every error that is not authx's. authx errors are answered where they happen, with the status,
 * headers and body (reshaped by `errorBody`) of docs/locations-and-csrf.md: a guard that refuses a request
 * writes the answer and stops the request there; the ready-made routes write their own answers;
 * and the handlers of routes defined after the plugin (in its scope and child scopes) are
 * wrapped through an `onRoute` hook, so an authx error they throw or reject with (a handler
 * calling `auth.refresh`) is answered before any error handler runs. Fastify offers no other way
 * to change a handler error's answer without an error handler: `onError` hooks may not send, and
 * an `onSend` hook would run after your handler had answered, and overwrite it. An authx error raised anywhere else (your
 * own hooks, `reply.send(err)`) reaches your error handler; it carries `statusCode`, which
 * Fastify's default handler answers with, and `errorResponse(err)` from `authx` gives the full
 * answer for your own handler.
 *
 * @example
 * ```ts
 * import { fastifyAuthX } from 'authx/fastify'
 * await app.register(fastifyAuthX, { auth })
 * app.addHook('onRequest', app.authx.implicitRefresh)
 * app.get('/api/profile', { preHandler: app.authx.accessRequired }, async (request) => ({
 *   user_id: app.authx.payload(request).sub,
 * }))
 * app.get('/admin', { preHandler: app.authx.scopesRequired('admin:*') }, async () => ({ ok: true }))
 * app.post('/auth/refresh', app.authx.refreshRoute)
 * app.post('/auth/logout', app.authx.logoutRoute)
 * ```
 */
export const fastifyAuthX: FastifyPluginAsync<FastifyAuthXOptions> = skipOverride(plugin, {
  name: 'authx',
  fastify: '5.x',
})
