import { bodyParser } from '@koa/bodyparser'
import Router, { type RouterMiddleware } from '@koa/router'
import Koa, { type Context, type DefaultState, type Middleware, type ParameterizedContext } from 'koa'
import { describe, expectTypeOf, it } from 'vitest'
import { type KoaAuthX, type KoaCookieTarget, type KoaMiddleware, koaAuthX } from '../../src/adapters/koa.js'
import { AuthX, type CookieCallOptions, type TokenPayload } from '../../src/index.js'

const authx = koaAuthX(new AuthX({ secretKey: 'type-test-secret-0123456789abcdef-0123' }))

describe('koa adapter types', () => {
  it('ctx.state.authx is a TokenPayload and ctx.state.authxSubject is unknown', () => {
    expectTypeOf<DefaultState['authx']>().toEqualTypeOf<TokenPayload>()
    expectTypeOf<DefaultState['authxSubject']>().toBeUnknown()
    expectTypeOf<Context['state']['authx']>().toEqualTypeOf<TokenPayload>()
    expectTypeOf<ParameterizedContext['state']['authx']['sub']>().toEqualTypeOf<string>()
  })

  it('koaAuthX takes an AuthX and returns the KoaAuthX interface', () => {
    expectTypeOf(authx).toEqualTypeOf<KoaAuthX>()
    expectTypeOf(koaAuthX).parameter(0).toEqualTypeOf<AuthX>()
  })

  it('guard values, implicitRefresh and errorHandler are Koa middleware and @koa/router middleware', () => {
    for (const middleware of [
      authx.accessRequired,
      authx.refreshRequired,
      authx.freshRequired,
      authx.accessOptional,
      authx.currentSubject,
      authx.implicitRefresh,
      authx.errorHandler,
    ]) {
      expectTypeOf(middleware).toEqualTypeOf<KoaMiddleware>()
      expectTypeOf(middleware).toExtend<Middleware>()
      expectTypeOf(middleware).toExtend<RouterMiddleware>()
    }
  })

  it('scopesRequired, anyScopeRequired and tokenRequired return middleware', () => {
    expectTypeOf(authx.scopesRequired).parameters.toEqualTypeOf<string[]>()
    expectTypeOf(authx.scopesRequired('a')).toEqualTypeOf<KoaMiddleware>()
    expectTypeOf(authx.anyScopeRequired).parameters.toEqualTypeOf<string[]>()
    expectTypeOf(authx.anyScopeRequired('a', 'b')).toExtend<RouterMiddleware>()
    expectTypeOf(
      authx.tokenRequired({ type: 'refresh', locations: ['headers'] }),
    ).toEqualTypeOf<KoaMiddleware>()
    // @ts-expect-error scopes are strings
    authx.scopesRequired(1)
  })

  it('tokenRequired does not take the optional flag', () => {
    // @ts-expect-error optional is what accessOptional is for
    authx.tokenRequired({ optional: true })
  })

  it('cookie helpers take a Koa or router context, a token and cookie options', () => {
    expectTypeOf<Context>().toExtend<KoaCookieTarget>()
    expectTypeOf<Parameters<RouterMiddleware>[0]>().toExtend<KoaCookieTarget>()
    expectTypeOf(authx.setAccessCookies).parameters.toEqualTypeOf<
      [KoaCookieTarget, string, (CookieCallOptions | undefined)?]
    >()
    expectTypeOf(authx.setRefreshCookies).parameter(1).toBeString()
    expectTypeOf(authx.unsetCookies).parameters.toEqualTypeOf<[KoaCookieTarget]>()
    expectTypeOf(authx.unsetAccessCookies).returns.toBeVoid()
    expectTypeOf(authx.unsetRefreshCookies).parameters.toEqualTypeOf<[KoaCookieTarget]>()
  })

  it('the middleware fits an app and a router, and handlers read ctx.state.authx without a cast', () => {
    const app = new Koa()
    app.use(authx.errorHandler)
    app.use(bodyParser())
    app.use(authx.implicitRefresh)
    const router = new Router()
    router.get('/users/:id', authx.accessRequired, authx.scopesRequired('users:read'), (ctx) => {
      expectTypeOf(ctx.params.id).toEqualTypeOf<string | undefined>()
      expectTypeOf(ctx.state.authx).toEqualTypeOf<TokenPayload>()
      ctx.body = { sub: ctx.state.authx.sub, id: ctx.params.id }
      authx.setAccessCookies(ctx, 'token', { maxAge: '15m' })
      // @ts-expect-error maxAge is a Duration, not a boolean
      authx.setRefreshCookies(ctx, 'token', { maxAge: true })
    })
    router.get('/me', authx.currentSubject, (ctx) => {
      expectTypeOf(ctx.state.authxSubject).toBeUnknown()
      authx.unsetCookies(ctx)
    })
    app.use(router.routes())
    app.use(authx.accessOptional)
    app.use((ctx) => {
      expectTypeOf(ctx.state.authx.jti).toBeString()
      authx.unsetAccessCookies(ctx)
    })
  })

  it('the middleware fits an app with its own state type; DefaultState & State keeps ctx.state.authx typed', () => {
    const own = new Koa<{ requestId: string }>()
    own.use(authx.errorHandler)
    own.use(authx.accessRequired)
    const app = new Koa<DefaultState & { requestId: string }>()
    app.use(authx.accessRequired)
    app.use((ctx) => {
      expectTypeOf(ctx.state.requestId).toBeString()
      expectTypeOf(ctx.state.authx).toEqualTypeOf<TokenPayload>()
    })
  })
})
