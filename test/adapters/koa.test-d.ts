import { bodyParser } from '@koa/bodyparser'
import Router, { type RouterContext, type RouterMiddleware } from '@koa/router'
import Koa, { type Context, type DefaultState, type Middleware, type ParameterizedContext } from 'koa'
import { describe, expectTypeOf, it } from 'vitest'
import {
  type KoaAuthX,
  type KoaCookieTarget,
  type KoaGuard,
  type KoaMiddleware,
  type KoaStateSource,
  koaAuthX,
} from '../../src/adapters/koa.js'
import {
  type AdapterOptions,
  type AuthManager,
  AuthX,
  type CookieCallOptions,
  type TokenPayload,
} from '../../src/index.js'

const authx = koaAuthX(new AuthX({ secretKey: 'type-test-secret-0123456789abcdef-0123' }))

describe('koa adapter types', () => {
  it('ctx.state.authx is honestly optional (absent without a guard, null after accessOptional)', () => {
    expectTypeOf<DefaultState['authx']>().toEqualTypeOf<TokenPayload | null | undefined>()
    expectTypeOf<DefaultState['authxSubject']>().toBeUnknown()
    expectTypeOf<Context['state']['authx']>().toEqualTypeOf<TokenPayload | null | undefined>()
    expectTypeOf<ParameterizedContext['state']['authx']>().toEqualTypeOf<TokenPayload | null | undefined>()
    const open = (ctx: Context) => {
      // @ts-expect-error: no guard ran, so the payload may be missing
      ctx.state.authx.sub
    }
    expectTypeOf(open).toBeFunction()
  })

  it('koaAuthX takes an AuthX and adapter options, and returns the KoaAuthX interface', () => {
    expectTypeOf(authx).toEqualTypeOf<KoaAuthX>()
    expectTypeOf(koaAuthX).parameter(0).toEqualTypeOf<AuthX | AuthManager>()
    expectTypeOf(koaAuthX).parameter(1).toEqualTypeOf<AdapterOptions | undefined>()
    koaAuthX(new AuthX({ secretKey: 'k'.repeat(32) }), { errorBody: (err) => ({ error: err.code }) })
    // @ts-expect-error: no such option
    koaAuthX(new AuthX({ secretKey: 'k'.repeat(32) }), { errorbody: () => ({}) })
  })

  it('guards are KoaGuard values storing the payload; accessOptional stores it or null', () => {
    for (const guard of [
      authx.accessRequired,
      authx.refreshRequired,
      authx.freshRequired,
      authx.currentSubject,
      authx.scopesRequired('a'),
      authx.anyScopeRequired('a', 'b'),
      authx.tokenRequired({ type: 'refresh', locations: ['headers'] }),
    ]) {
      expectTypeOf(guard).toEqualTypeOf<KoaGuard>()
      expectTypeOf(guard).toEqualTypeOf<Middleware<{ authx: TokenPayload }>>()
    }
    expectTypeOf(authx.accessOptional).toEqualTypeOf<KoaGuard<TokenPayload | null>>()
    expectTypeOf(authx.scopesRequired).parameters.toEqualTypeOf<string[]>()
    expectTypeOf(authx.anyScopeRequired).parameters.toEqualTypeOf<string[]>()
    // @ts-expect-error: scopes are strings
    authx.scopesRequired(1)
  })

  it('tokenRequired does not take the optional flag', () => {
    // @ts-expect-error: optional is what accessOptional is for
    authx.tokenRequired({ optional: true })
  })

  it('implicitRefresh, errorHandler and the ready-made routes are plain Koa and @koa/router middleware', () => {
    for (const middleware of [
      authx.implicitRefresh,
      authx.errorHandler,
      authx.refreshRoute,
      authx.logoutRoute,
      authx.refreshRoute({ scopes: ['a'] }),
      authx.refreshRoute({ data: (payload) => ({ sub: payload.sub }), tokensInBody: false }),
      authx.logoutRoute({}),
    ]) {
      expectTypeOf(middleware).toExtend<KoaMiddleware>()
      expectTypeOf(middleware).toExtend<Middleware>()
      expectTypeOf(middleware).toExtend<RouterMiddleware>()
    }
    expectTypeOf(authx.refreshRoute()).toEqualTypeOf<KoaMiddleware>()
    // @ts-expect-error: no such option
    authx.refreshRoute({ scope: ['a'] })
    // @ts-expect-error: the logout route has no options yet
    authx.logoutRoute({ all: true })
  })

  it('authx.payload(ctx) reads the payload typed as present, from any Koa or router context', () => {
    expectTypeOf(authx.payload).returns.toEqualTypeOf<TokenPayload>()
    expectTypeOf<Context>().toExtend<KoaStateSource>()
    expectTypeOf<RouterContext>().toExtend<KoaStateSource>()
    expectTypeOf<ParameterizedContext<{ requestId: string }>>().toExtend<Parameters<KoaAuthX['payload']>[0]>()
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

  it('in a @koa/router route, the handlers after a guard read ctx.state.authx without a cast', () => {
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
      // @ts-expect-error: maxAge is a Duration, not a boolean
      authx.setRefreshCookies(ctx, 'token', { maxAge: true })
    })
    router.post('/change-password', authx.freshRequired, (ctx) => {
      expectTypeOf(ctx.state.authx.fresh).toBeBoolean()
    })
    router.get('/maybe', authx.accessOptional, (ctx) => {
      expectTypeOf(ctx.state.authx).toEqualTypeOf<TokenPayload | null>()
    })
    router.get('/me', authx.currentSubject, (ctx) => {
      expectTypeOf(ctx.state.authx).toEqualTypeOf<TokenPayload>()
      expectTypeOf(ctx.state.authxSubject).toBeUnknown()
      authx.unsetCookies(ctx)
    })
    router.get('/open', (ctx) => {
      expectTypeOf(ctx.state.authx).toEqualTypeOf<TokenPayload | null | undefined>()
      expectTypeOf(authx.payload(ctx).sub).toBeString()
    })
    router.post('/auth/refresh', authx.refreshRoute)
    router.post('/auth/refresh-narrow', authx.refreshRoute({ scopes: ['narrow'] }))
    router.post('/auth/logout', authx.logoutRoute)
    app.use(router.routes())
  })

  it('app.use of a guard types the chained middleware after it; unchained, payload(ctx) reads it', () => {
    new Koa().use(authx.accessRequired).use((ctx) => {
      expectTypeOf(ctx.state.authx).toEqualTypeOf<TokenPayload>()
    })
    const app = new Koa()
    app.use(authx.accessOptional)
    app.use((ctx) => {
      expectTypeOf(ctx.state.authx).toEqualTypeOf<TokenPayload | null | undefined>()
      expectTypeOf(authx.payload(ctx).jti).toBeString()
      authx.unsetAccessCookies(ctx)
    })
  })

  it('the middleware fits an app and a router with their own state type', () => {
    const own = new Koa<{ requestId: string }>()
    own.use(authx.errorHandler)
    own.use(authx.accessRequired)
    own.use((ctx) => {
      expectTypeOf(authx.payload(ctx)).toEqualTypeOf<TokenPayload>()
    })
    const router = new Router<{ requestId: string }>()
    router.get('/x', authx.accessRequired, (ctx) => {
      expectTypeOf(ctx.state.requestId).toBeString()
      expectTypeOf(ctx.state.authx).toEqualTypeOf<TokenPayload>()
    })
    router.post('/auth/refresh', authx.refreshRoute)
    own.use(router.routes())
    const app = new Koa<DefaultState & { requestId: string }>()
    app.use(authx.accessRequired)
    app.use((ctx) => {
      expectTypeOf(ctx.state.requestId).toBeString()
      expectTypeOf(ctx.state.authx).toEqualTypeOf<TokenPayload | null | undefined>()
    })
  })
})
