import Fastify, { type FastifyPluginAsync, type FastifyReply, type FastifyRequest } from 'fastify'
import { describe, expectTypeOf, it } from 'vitest'
import {
  type FastifyAuthX,
  type FastifyAuthXHook,
  type FastifyAuthXOptions,
  type FastifyAuthXRoute,
  fastifyAuthX,
} from '../../src/adapters/fastify.js'
import { AuthX, type AuthXError, type CookieCallOptions, type TokenPayload } from '../../src/index.js'

const auth = new AuthX({ secretKey: 'type-test-secret-0123456789abcdef-0123' })
const app = Fastify()

describe('fastifyAuthX types', () => {
  it('is a Fastify plugin taking { auth, errorBody? }', async () => {
    expectTypeOf(fastifyAuthX).toEqualTypeOf<FastifyPluginAsync<FastifyAuthXOptions>>()
    await app.register(fastifyAuthX, { auth })
    await app.register(fastifyAuthX, { auth, errorBody: (err) => ({ error: err.code }) })
    expectTypeOf<FastifyAuthXOptions['errorBody']>().toEqualTypeOf<
      ((error: AuthXError) => unknown) | undefined
    >()
    // @ts-expect-error errorBody is a function of the error
    await app.register(fastifyAuthX, { auth, errorBody: { code: 'x' } })
    // @ts-expect-error auth is required
    await app.register(fastifyAuthX, {})
    // @ts-expect-error auth must be an AuthX
    await app.register(fastifyAuthX, { auth: 'secret' })
  })

  it('app.authx holds preHandler guards and factories returning them', () => {
    expectTypeOf(app.authx).toEqualTypeOf<FastifyAuthX>()
    expectTypeOf(app.authx.accessRequired).toEqualTypeOf<FastifyAuthXHook>()
    expectTypeOf(app.authx.refreshRequired).toEqualTypeOf<FastifyAuthXHook>()
    expectTypeOf(app.authx.freshRequired).toEqualTypeOf<FastifyAuthXHook>()
    expectTypeOf(app.authx.accessOptional).toEqualTypeOf<FastifyAuthXHook>()
    expectTypeOf(app.authx.currentSubject).toEqualTypeOf<FastifyAuthXHook>()
    expectTypeOf(app.authx.scopesRequired).parameters.toEqualTypeOf<string[]>()
    expectTypeOf(app.authx.scopesRequired('a')).toEqualTypeOf<FastifyAuthXHook>()
    expectTypeOf(app.authx.anyScopeRequired('a', 'b')).toEqualTypeOf<FastifyAuthXHook>()
    expectTypeOf(
      app.authx.tokenRequired({ type: 'refresh', locations: ['cookies'] }),
    ).toEqualTypeOf<FastifyAuthXHook>()
    expectTypeOf<FastifyAuthXHook>().parameters.toEqualTypeOf<[FastifyRequest, FastifyReply]>()
    expectTypeOf<FastifyAuthXHook>().returns.toEqualTypeOf<Promise<void>>()
    // @ts-expect-error scopes are strings
    app.authx.scopesRequired(1)
    // @ts-expect-error a required guard cannot be made optional; use accessOptional
    app.authx.tokenRequired({ optional: true })
  })

  it('guards fit the preHandler option, alone, in arrays and on routes with typed generics', () => {
    app.get('/p', { preHandler: app.authx.accessRequired }, async (request) => ({
      sub: app.authx.payload(request).sub,
    }))
    app.post(
      '/r',
      { preHandler: [app.authx.refreshRequired, app.authx.scopesRequired('a')] },
      async () => ({}),
    )
    app.get<{ Querystring: { page: string }; Params: { id: string } }>(
      '/items/:id',
      { preHandler: app.authx.anyScopeRequired('items:read') },
      async (request) => ({
        id: request.params.id,
        page: request.query.page,
        sub: app.authx.payload(request).sub,
      }),
    )
    app.route({
      method: 'GET',
      url: '/route',
      preHandler: app.authx.freshRequired,
      handler: async () => ({}),
    })
  })

  it('implicitRefresh fits an onRequest hook', () => {
    app.addHook('onRequest', app.authx.implicitRefresh)
    app.route({ method: 'GET', url: '/ir', onRequest: app.authx.implicitRefresh, handler: async () => ({}) })
  })

  it('request.authx is honestly nullable; app.authx.payload(request) reads it typed as present', () => {
    expectTypeOf<FastifyRequest['authx']>().toEqualTypeOf<TokenPayload | null>()
    expectTypeOf<FastifyRequest['authxSubject']>().toBeUnknown()
    expectTypeOf(app.authx.payload).parameters.toEqualTypeOf<[FastifyRequest]>()
    expectTypeOf(app.authx.payload).returns.toEqualTypeOf<TokenPayload>()
    app.get('/me', { preHandler: app.authx.currentSubject }, async (request) => {
      expectTypeOf(request.authx).toEqualTypeOf<TokenPayload | null>()
      // @ts-expect-error null on routes without a guard: read it through payload(request)
      request.authx.sub
      expectTypeOf(app.authx.payload(request).sub).toEqualTypeOf<string>()
      expectTypeOf(app.authx.payload(request).scopes).toEqualTypeOf<readonly string[] | undefined>()
      expectTypeOf(request.authxSubject).toEqualTypeOf<unknown>()
      return {}
    })
    app.get<{ Params: { id: string } }>(
      '/typed/:id',
      { preHandler: app.authx.accessRequired },
      async (request) => expectTypeOf(app.authx.payload(request)).toEqualTypeOf<TokenPayload>(),
    )
  })

  it('refreshRoute and logoutRoute are Fastify handlers, used as values or called with options', () => {
    expectTypeOf<FastifyAuthXRoute>().parameters.toEqualTypeOf<[FastifyRequest, FastifyReply]>()
    expectTypeOf(app.authx.refreshRoute).toExtend<FastifyAuthXRoute>()
    expectTypeOf(app.authx.refreshRoute({ scopes: ['a'] })).toEqualTypeOf<FastifyAuthXRoute>()
    expectTypeOf(app.authx.logoutRoute()).toEqualTypeOf<FastifyAuthXRoute>()
    app.post('/auth/refresh', app.authx.refreshRoute)
    app.post('/auth/refresh-narrow', app.authx.refreshRoute({ scopes: (p) => [...(p.scopes ?? [])] }))
    app.post('/auth/logout', { config: {} }, app.authx.logoutRoute)
    app.route({ method: 'POST', url: '/auth/out', handler: app.authx.logoutRoute })
    // @ts-expect-error no such option
    app.authx.refreshRoute({ scope: ['a'] })
  })

  it('cookie helpers take the reply, then the token and cookie options', () => {
    expectTypeOf(app.authx.setAccessCookies).parameters.toEqualTypeOf<
      [FastifyReply, string, (CookieCallOptions | undefined)?]
    >()
    expectTypeOf(app.authx.setRefreshCookies).returns.toEqualTypeOf<void>()
    expectTypeOf(app.authx.unsetCookies).parameters.toEqualTypeOf<[FastifyReply]>()
    expectTypeOf(app.authx.unsetAccessCookies).parameters.toEqualTypeOf<[FastifyReply]>()
    expectTypeOf(app.authx.unsetRefreshCookies).parameters.toEqualTypeOf<[FastifyReply]>()
    app.post('/login', async (_request, reply) => {
      app.authx.setAccessCookies(reply, 'token', { maxAge: '15m' })
      // @ts-expect-error maxAge is a Duration, not a boolean
      app.authx.setRefreshCookies(reply, 'token', { maxAge: true })
      return {}
    })
  })
})
