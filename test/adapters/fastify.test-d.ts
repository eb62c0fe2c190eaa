import Fastify, { type FastifyPluginAsync, type FastifyReply, type FastifyRequest } from 'fastify'
import { describe, expectTypeOf, it } from 'vitest'
import {
  type FastifyAuthX,
  type FastifyAuthXHook,
  type FastifyAuthXOptions,
  fastifyAuthX,
} from '../../src/adapters/fastify.js'
import { AuthX, type CookieCallOptions, type TokenPayload } from '../../src/index.js'

const auth = new AuthX({ secretKey: 'type-test-secret-0123456789abcdef-0123' })
const app = Fastify()

describe('fastifyAuthX types', () => {
  it('is a Fastify plugin taking { auth }', async () => {
    expectTypeOf(fastifyAuthX).toEqualTypeOf<FastifyPluginAsync<FastifyAuthXOptions>>()
    await app.register(fastifyAuthX, { auth })
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
    app.get('/p', { preHandler: app.authx.accessRequired }, async (request) => ({ sub: request.authx.sub }))
    app.post(
      '/r',
      { preHandler: [app.authx.refreshRequired, app.authx.scopesRequired('a')] },
      async () => ({}),
    )
    app.get<{ Querystring: { page: string }; Params: { id: string } }>(
      '/items/:id',
      { preHandler: app.authx.anyScopeRequired('items:read') },
      async (request) => ({ id: request.params.id, page: request.query.page, sub: request.authx.sub }),
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

  it('the payload is TokenPayload at request.authx and the subject unknown at request.authxSubject', () => {
    app.get('/me', { preHandler: app.authx.currentSubject }, async (request) => {
      expectTypeOf(request.authx).toEqualTypeOf<TokenPayload>()
      expectTypeOf(request.authx.sub).toEqualTypeOf<string>()
      expectTypeOf(request.authx.scopes).toEqualTypeOf<readonly string[] | undefined>()
      expectTypeOf(request.authxSubject).toEqualTypeOf<unknown>()
      return {}
    })
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
