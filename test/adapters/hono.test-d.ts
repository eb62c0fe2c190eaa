import { type Context, Hono, type MiddlewareHandler } from 'hono'
import { describe, expectTypeOf, it } from 'vitest'
import { type HonoAuthX, honoAuthX } from '../../src/adapters/hono.js'
import { AuthX, type CookieCallOptions, type TokenPayload } from '../../src/index.js'

const auth = new AuthX({ secretKey: 'type-test-secret-0123456789abcdef-0123' })
const authx = honoAuthX(auth)
const app = new Hono()

describe('honoAuthX types', () => {
  it('guards are Hono middleware values and factories returning middleware', () => {
    expectTypeOf(authx).toEqualTypeOf<HonoAuthX>()
    expectTypeOf(authx.accessRequired).toEqualTypeOf<MiddlewareHandler>()
    expectTypeOf(authx.refreshRequired).toEqualTypeOf<MiddlewareHandler>()
    expectTypeOf(authx.freshRequired).toEqualTypeOf<MiddlewareHandler>()
    expectTypeOf(authx.currentSubject).toEqualTypeOf<MiddlewareHandler>()
    expectTypeOf(authx.implicitRefresh).toEqualTypeOf<MiddlewareHandler>()
    expectTypeOf(authx.scopesRequired).parameters.toEqualTypeOf<string[]>()
    expectTypeOf(authx.scopesRequired('a')).toEqualTypeOf<MiddlewareHandler>()
    expectTypeOf(authx.anyScopeRequired('a', 'b')).toEqualTypeOf<MiddlewareHandler>()
    expectTypeOf(
      authx.tokenRequired({ type: 'refresh', locations: ['cookies'] }),
    ).toEqualTypeOf<MiddlewareHandler>()
    // @ts-expect-error scopes are strings
    authx.scopesRequired(1)
    // @ts-expect-error a required guard cannot be made optional; use accessOptional
    authx.tokenRequired({ optional: true })
  })

  it('the payload is TokenPayload at c.get("authx") and c.var.authx after a guard', () => {
    app.get('/p', authx.accessRequired, (c) => {
      expectTypeOf(c.get('authx')).toEqualTypeOf<TokenPayload>()
      expectTypeOf(c.var.authx).toEqualTypeOf<TokenPayload>()
      expectTypeOf(c.get('authx').sub).toEqualTypeOf<string>()
      return c.json({ sub: c.get('authx').sub })
    })
  })

  it('accessOptional types the payload as TokenPayload or null on its route', () => {
    app.get('/o', authx.accessOptional, (c) => {
      expectTypeOf(c.get('authx')).toEqualTypeOf<TokenPayload | null>()
      return c.json({ sub: c.get('authx')?.sub ?? null })
    })
  })

  it('the subject is unknown at c.get("authxSubject")', () => {
    app.get('/me', authx.currentSubject, (c) => {
      expectTypeOf(c.get('authxSubject')).toEqualTypeOf<unknown>()
      return c.json({ ok: true })
    })
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
