/**
 * Fastify 5 adapter (SPEC section 6): a plugin that decorates `app.authx` with `preHandler`
 * guards, puts the payload on `request.authx` and the subject on `request.authxSubject`, and
 * installs an error handler that answers authx errors as SPEC section 5 says.
 *
 * Tokens in the body are read from `request.body`: Fastify parses JSON itself; register
 * `@fastify/formbody` for the CSRF form field.
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
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify'

declare module 'fastify' {
  interface FastifyInstance {
    /** The authx guards and cookie helpers, added by the `fastifyAuthX` plugin. */
    authx: FastifyAuthX
  }
  interface FastifyRequest {
    /**
     * The verified token payload, set by the authx guards. `null` after `accessOptional` when
     * the request carries no token, and on routes without an authx guard.
     */
    authx: TokenPayload
    /** The subject loaded by `app.authx.currentSubject` (what the subject getter returned). */
    authxSubject: unknown
  }
}

/**
 * Options of the `fastifyAuthX` plugin.
 *
 * @example
 * ```ts
 * const options: FastifyAuthXOptions = { auth: new AuthX({ secretKey }) }
 * await app.register(fastifyAuthX, options)
 * ```
 */
export interface FastifyAuthXOptions {
  /** The authx instance every guard uses. */
  auth: AuthX
}

/**
 * An authx hook: a `preHandler` for guards, an `onRequest` hook for `implicitRefresh`.
 *
 * @example
 * ```ts
 * const guard: FastifyAuthXHook = app.authx.accessRequired
 * app.get('/p', { preHandler: guard }, async (request) => ({ sub: request.authx.sub }))
 * ```
 */
export type FastifyAuthXHook = (request: FastifyRequest, reply: FastifyReply) => Promise<void>

/**
 * What the plugin puts on `app.authx` (SPEC section 6).
 *
 * @example
 * ```ts
 * const authx: FastifyAuthX = app.authx
 * app.post('/auth/refresh', { preHandler: authx.refreshRequired }, handler)
 * ```
 */
export interface FastifyAuthX extends AuthXAdapter<FastifyAuthXHook, FastifyReply> {
  /**
   * An `onRequest` hook renewing an access cookie close to expiry. The cookies go on the reply
   * before routing goes on, so every answer carries them, error answers included. Route lists
   * match the registered path of static routes (so encoding, case or trailing-slash variants the
   * router accepts still match), else the decoded request path without the query string.
   */
  readonly implicitRefresh: FastifyAuthXHook
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

/** The core's view of a Fastify request. Nothing here throws for client input. */
function view(request: FastifyRequest): AuthXRequest {
  return parsedRequestView({
    method: request.method,
    path: () => routePath(request),
    headers: request.headers,
    query: () => request.query,
    body: () => request.body,
  })
}

function append(reply: FastifyReply, cookies: string[]): void {
  // Fastify appends to an existing set-cookie header, so cookies set elsewhere survive.
  if (cookies.length > 0) reply.header('set-cookie', cookies)
}

const plugin: FastifyPluginAsync<FastifyAuthXOptions> = async (app, options) => {
  const auth = options?.auth
  if (typeof auth?.authenticate !== 'function')
    throw new TypeError('fastifyAuthX: options.auth must be an AuthX')
  const guard =
    (check: (view: AuthXRequest) => Promise<TokenPayload | null>): FastifyAuthXHook =>
    async (request) => {
      request.authx = (await check(view(request))) as TokenPayload
    }
  const tokenRequired = (o: Omit<AuthenticateOptions, 'optional'>) => guard(auth.tokenRequired(o))
  app.decorateRequest('authx', null, [])
  app.decorateRequest('authxSubject', null, [])
  app.decorate('authx', {
    accessRequired: guard(auth.accessRequired),
    refreshRequired: guard(auth.refreshRequired),
    freshRequired: guard(auth.freshRequired),
    accessOptional: guard((v) => auth.authenticate(v, { optional: true })),
    currentSubject: async (request) => {
      const payload = (await auth.authenticate(view(request))) as TokenPayload
      request.authxSubject = await auth.loadSubject(payload)
      request.authx = payload
    },
    implicitRefresh: async (request, reply) => {
      append(reply, await auth.implicitRefreshCookies(view(request)))
    },
    scopesRequired: (...scopes) => tokenRequired({ scopes }),
    anyScopeRequired: (...scopes) => tokenRequired({ scopes, anyScope: true }),
    tokenRequired,
    setAccessCookies: (reply, token, o) => append(reply, auth.accessCookies(token, o)),
    setRefreshCookies: (reply, token, o) => append(reply, auth.refreshCookies(token, o)),
    unsetCookies: (reply) => append(reply, auth.unsetCookies()),
    unsetAccessCookies: (reply) => append(reply, auth.unsetAccessCookies()),
    unsetRefreshCookies: (reply) => append(reply, auth.unsetRefreshCookies()),
  } satisfies FastifyAuthX)
  // Fastify chains error handlers: one that rejects hands the error to the handler it replaced
  // (the user's, or Fastify's default), so only authx errors are answered here. It is async on
  // purpose: Fastify treats a rejection as an error even when the value is not an Error, whereas
  // a synchronous throw of a non-Error would be sent as a 200 payload.
  app.setErrorHandler(async function authxErrorHandler(err, request, reply) {
    if (!isAuthXError(err)) throw err
    const { status, headers, body } = errorResponse(err)
    if (status >= 500) request.log.error({ err }, 'authx: request failed')
    // A string body: a route's response schema must not reshape the error body.
    return reply.code(status).headers(headers).send(JSON.stringify(body))
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
 * `await app.register(fastifyAuthX, { auth })` returns. Its error handler wraps any handler set
 * before it; a handler you set later in the same scope runs first: rethrow the errors you do
 * not handle.
 *
 * @example
 * ```ts
 * import { fastifyAuthX } from 'authx/fastify'
 * await app.register(fastifyAuthX, { auth })
 * app.addHook('onRequest', app.authx.implicitRefresh)
 * app.get('/api/profile', { preHandler: app.authx.accessRequired }, async (req) => ({ user_id: req.authx.sub }))
 * app.get('/admin', { preHandler: app.authx.scopesRequired('admin:*') }, async () => ({ ok: true }))
 * ```
 */
export const fastifyAuthX: FastifyPluginAsync<FastifyAuthXOptions> = skipOverride(plugin, {
  name: 'authx',
  fastify: '5.x',
})
