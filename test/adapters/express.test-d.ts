import express, { type ErrorRequestHandler, type Request, type RequestHandler, type Response } from 'express'
import express4, {
  type ErrorRequestHandler as ErrorRequestHandler4,
  type Request as Request4,
  type RequestHandler as RequestHandler4,
  type Response as Response4,
} from 'express4'
import { describe, expectTypeOf, it } from 'vitest'
import { type ExpressAuthX, type ExpressMiddleware, expressAuthX } from '../../src/adapters/express.js'
import { AuthManager, AuthX, type CookieCallOptions, type TokenPayload } from '../../src/index.js'

const authx = expressAuthX(new AuthX({ secretKey: 'k'.repeat(32) }))

describe('express adapter types', () => {
  it('req.authx is honestly optional (absent without a guard, null after accessOptional), on Express 5 and 4', () => {
    expectTypeOf<Request['authx']>().toEqualTypeOf<TokenPayload | null | undefined>()
    expectTypeOf<Request4['authx']>().toEqualTypeOf<TokenPayload | null | undefined>()
    expectTypeOf<Request['authxSubject']>().toBeUnknown()
    expectTypeOf<Request4['authxSubject']>().toBeUnknown()
  })

  it('expressAuthX returns the ExpressAuthX interface', () => {
    expectTypeOf(authx).toEqualTypeOf<ExpressAuthX>()
    expectTypeOf(expressAuthX).parameter(0).toEqualTypeOf<AuthX | AuthManager>()
  })

  it('loginType(type) and a manager give the same interface; websocketRequired is middleware', () => {
    expectTypeOf(authx.loginType('user')).toEqualTypeOf<ExpressAuthX>()
    expectTypeOf(expressAuthX(new AuthManager()).loginType('admin')).toEqualTypeOf<ExpressAuthX>()
    expectTypeOf(authx.websocketRequired).toEqualTypeOf<ExpressMiddleware>()
  })

  it('guard values are request handlers of Express 5 and Express 4', () => {
    for (const guard of [
      authx.accessRequired,
      authx.refreshRequired,
      authx.freshRequired,
      authx.accessOptional,
      authx.currentSubject,
      authx.implicitRefresh,
    ]) {
      expectTypeOf(guard).toExtend<RequestHandler>()
      expectTypeOf(guard).toExtend<RequestHandler4>()
    }
  })

  it('scopesRequired, anyScopeRequired and tokenRequired return middleware', () => {
    expectTypeOf(authx.scopesRequired).parameters.toEqualTypeOf<string[]>()
    expectTypeOf(authx.scopesRequired('a')).toEqualTypeOf<ExpressMiddleware>()
    expectTypeOf(authx.anyScopeRequired).parameters.toEqualTypeOf<string[]>()
    expectTypeOf(authx.anyScopeRequired('a', 'b')).toExtend<RequestHandler>()
    expectTypeOf(authx.tokenRequired({ type: 'refresh', locations: ['headers'] })).toExtend<RequestHandler4>()
  })

  it('tokenRequired does not take the optional flag', () => {
    // @ts-expect-error: optional is what accessOptional is for
    authx.tokenRequired({ optional: true })
  })

  it('errorHandler is an error request handler of Express 5 and Express 4', () => {
    expectTypeOf(authx.errorHandler).toExtend<ErrorRequestHandler>()
    expectTypeOf(authx.errorHandler).toExtend<ErrorRequestHandler4>()
  })

  it('cookie helpers take an Express 5 or Express 4 response, a token and cookie options', () => {
    expectTypeOf<Response>().toExtend<Parameters<ExpressAuthX['setAccessCookies']>[0]>()
    expectTypeOf<Response4>().toExtend<Parameters<ExpressAuthX['unsetCookies']>[0]>()
    expectTypeOf(authx.setRefreshCookies).parameter(1).toBeString()
    expectTypeOf(authx.setAccessCookies).parameter(2).toEqualTypeOf<CookieCallOptions | undefined>()
    expectTypeOf(authx.unsetAccessCookies).returns.toBeVoid()
  })

  it('authx.payload(req) reads the payload typed as present, on Express 5 and Express 4 requests', () => {
    expectTypeOf<Request>().toExtend<Parameters<ExpressAuthX['payload']>[0]>()
    expectTypeOf<Request4>().toExtend<Parameters<ExpressAuthX['payload']>[0]>()
    expectTypeOf(authx.payload).returns.toEqualTypeOf<TokenPayload>()
  })

  it('refreshRoute and logoutRoute are request handlers, used as values or called with options', () => {
    expectTypeOf(authx.refreshRoute).toExtend<RequestHandler>()
    expectTypeOf(authx.logoutRoute).toExtend<RequestHandler4>()
    expectTypeOf(authx.refreshRoute({ scopes: ['a'] })).toExtend<RequestHandler>()
    expectTypeOf(authx.refreshRoute({ data: (p) => ({ sub: p.sub }) })).toExtend<RequestHandler4>()
    // @ts-expect-error: no such option
    authx.refreshRoute({ scope: ['a'] })
  })

  it('the middleware fits both apps, and handlers after a guard read the payload without a cast', () => {
    const app = express()
    app.use(express.json(), authx.implicitRefresh)
    app.get('/users/:id', authx.accessRequired, authx.scopesRequired('users:read'), (req, res) => {
      expectTypeOf(req.params.id).toBeString()
      res.json({ sub: authx.payload(req).sub, id: req.params.id })
      authx.setAccessCookies(res, 'token')
    })
    app.use(authx.errorHandler)
    const app4 = express4()
    app4.use(authx.implicitRefresh)
    app4.get('/users/:id', authx.accessRequired, (req, res) => {
      res.json({ sub: authx.payload(req).sub, id: req.params.id })
      authx.unsetCookies(res)
    })
    app4.use(authx.errorHandler)
    const router = express.Router()
    router.post('/refresh', authx.refreshRequired, (req, res) => {
      res.send(authx.payload(req).jti)
    })
  })
})
