import { type Context, type ContextVariableMap, Hono, type MiddlewareHandler } from 'hono'
import { describe, expectTypeOf, it } from 'vitest'
import { type HonoAuthX, type HonoGuard, type HonoRoute, honoAuthX } from '../../src/adapters/hono.js'
import {
  type AuthManager,
  AuthX,
  type AuthXError,
  type CookieCallOptions,
  type TokenPayload,
} from '../../src/index.js'

const auth = new AuthX({ secretKey: 'type-test-secret-0123456789abcdef-0123' })
const authx = honoAuthX(auth)
const app = new Hono()

describe('honoAuthX types', () => {
  it('honoAuthX takes the auth instance and adapter options, and returns HonoAuthX', () => {
    expectTypeOf(authx).toEqualTypeOf<HonoAuthX>()
    expectTypeOf(honoAuthX).parameter(0).toEqualTypeOf<AuthX | AuthManager>()
    honoAuthX(auth, { errorBody: (err: AuthXError) => ({ error: err.code }) })
    // @ts-expect-error errorBody is a function
    honoAuthX(auth, { errorBody: 'x' })
  })

  it('guards are Hono middleware values and factories returning middleware that store the payload', () => {
    for (const guard of [authx.accessRequired, authx.refreshRequired, authx.freshRequired]) {
      expectTypeOf(guard).toEqualTypeOf<HonoGuard>()
      expectTypeOf(guard).toEqualTypeOf<MiddlewareHandler<{ Variables: { authx: TokenPayload } }>>()
    }
    expectTypeOf(authx.implicitRefresh).toEqualTypeOf<MiddlewareHandler>()
    expectTypeOf(authx.scopesRequired).parameters.toEqualTypeOf<string[]>()
    expectTypeOf(authx.scopesRequired('a')).toEqualTypeOf<HonoGuard>()
    expectTypeOf(authx.anyScopeRequired('a', 'b')).toEqualTypeOf<HonoGuard>()
    expectTypeOf(authx.tokenRequired({ type: 'refresh', locations: ['cookies'] })).toEqualTypeOf<HonoGuard>()
    // @ts-expect-error scopes are strings
    authx.scopesRequired(1)
    // @ts-expect-error a required guard cannot be made optional; use accessOptional
    authx.tokenRequired({ optional: true })
  })

  it('the stored payload is honestly optional where no guard says otherwise', () => {
    expectTypeOf<ContextVariableMap['authx']>().toEqualTypeOf<TokenPayload | null | undefined>()
    app.get('/open', (c) => {
      expectTypeOf(c.get('authx')).toEqualTypeOf<TokenPayload | null | undefined>()
      expectTypeOf(c.var.authx).toEqualTypeOf<TokenPayload | null | undefined>()
      // @ts-expect-error no guard on this route: the payload may be missing
      c.get('authx').sub
      return c.text('ok')
    })
  })

  it('the payload is TokenPayload at c.get("authx") and c.var.authx after a guard, without a cast', () => {
    app.get('/p', authx.accessRequired, (c) => c.text(c.get('authx').sub))
    app.get('/v', authx.accessRequired, (c) => c.text(c.var.authx.sub))
    app.get('/p', authx.accessRequired, (c) => {
      expectTypeOf(c.get('authx')).toEqualTypeOf<TokenPayload>()
      expectTypeOf(c.var.authx).toEqualTypeOf<TokenPayload>()
      expectTypeOf(c.get('authx').sub).toEqualTypeOf<string>()
      return c.json({ sub: c.get('authx').sub })
    })
    app.get('/s', authx.scopesRequired('a'), authx.freshRequired, (c) => c.text(c.var.authx.jti))
    app.post('/t', authx.tokenRequired({ type: 'refresh' }), (c) => c.text(c.get('authx').jti))
    const guarded = new Hono().use(authx.accessRequired)
    guarded.get('/u', (c) => c.text(c.get('authx').sub))
  })

  it('authx.payload(c) reads the payload typed as present from any context', () => {
    expectTypeOf(authx.payload).parameter(0).toEqualTypeOf<Context>()
    expectTypeOf(authx.payload).returns.toEqualTypeOf<TokenPayload>()
    app.get('/payload', (c) => c.text(authx.payload(c).sub))
  })

  it('accessOptional types the payload as TokenPayload or null on its route', () => {
    app.get('/o', authx.accessOptional, (c) => {
      expectTypeOf(c.get('authx')).toEqualTypeOf<TokenPayload | null>()
      expectTypeOf(c.var.authx).toEqualTypeOf<TokenPayload | null>()
      return c.json({ sub: c.get('authx')?.sub ?? null })
    })
  })

  it('currentSubject stores the payload as present and the subject as unknown', () => {
    app.get('/me', authx.currentSubject, (c) => {
      expectTypeOf(c.get('authxSubject')).toEqualTypeOf<unknown>()
      expectTypeOf(c.get('authx')).toEqualTypeOf<TokenPayload>()
      return c.json({ ok: true })
    })
  })

  it('refreshRoute and logoutRoute are Hono handlers, used as values or called with options', () => {
    expectTypeOf(authx.refreshRoute).toExtend<HonoRoute>()
    expectTypeOf(authx.refreshRoute({ scopes: ['a'] })).toEqualTypeOf<HonoRoute>()
    expectTypeOf(authx.refreshRoute({ data: (p) => ({ sub: p.sub }) })).toEqualTypeOf<HonoRoute>()
    expectTypeOf(authx.logoutRoute()).toEqualTypeOf<HonoRoute>()
    app.post('/auth/refresh', authx.refreshRoute)
    app.post('/auth/refresh-narrow', authx.refreshRoute({ scopes: ['narrow'] }))
    app.post('/auth/logout', authx.logoutRoute)
    app.post('/auth/after', authx.implicitRefresh, authx.logoutRoute)
    app.post('/auth/delegate', (c) => authx.refreshRoute(c))
    // @ts-expect-error no such option
    authx.refreshRoute({ scope: ['a'] })
    // @ts-expect-error the logout route takes no options yet
    authx.logoutRoute({ all: true })
  })

  it('onError is an app.onError handler', () => {
    app.onError(authx.onError)
    expectTypeOf(authx.onError).returns.toEqualTypeOf<Response>()
  })

  it('cookie helpers take the context, then the token and cookie options', () => {
    expectTypeOf(authx.setAccessCookies).parameters.toEqualTypeOf<
      [Context, string, (CookieCallOptions | undefined)?]
    >()
    expectTypeOf(authx.setRefreshCookies).returns.toEqualTypeOf<void>()
    expectTypeOf(authx.unsetCookies).parameters.toEqualTypeOf<[Context]>()
    expectTypeOf(authx.unsetAccessCookies).parameters.toEqualTypeOf<[Context]>()
    expectTypeOf(authx.unsetRefreshCookies).parameters.toEqualTypeOf<[Context]>()
    app.post('/login', (c) => {
      authx.setAccessCookies(c, 'token', { maxAge: '15m' })
      // @ts-expect-error maxAge is a Duration, not a boolean
      authx.setRefreshCookies(c, 'token', { maxAge: true })
      return c.json({ ok: true })
    })
  })
})
