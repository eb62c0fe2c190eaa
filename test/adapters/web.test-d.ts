import { describe, expectTypeOf, it } from 'vitest'
import {
  type CookieTarget,
  type WebAuthX,
  type WebGuard,
  type WebRoute,
  webAuthX,
  withAuthXErrors,
} from '../../src/adapters/web.js'
import { type AdapterOptions, AuthManager, AuthX, type TokenPayload } from '../../src/index.js'

const auth = new AuthX({ secretKey: 'type-test-secret-0123456789abcdef-0123' })
const authx = webAuthX(auth)

/** A framework request subclass, as Next.js passes a `NextRequest`. */
class FrameworkRequest extends Request {
  readonly nextUrl = new URL(this.url)
}
interface RouteContext {
  params: Promise<{ id: string }>
}

describe('webAuthX types', () => {
  it('loginType(type) gives the same WebAuthX; websocketRequired is a guard', () => {
    expectTypeOf(authx.loginType('user')).toEqualTypeOf<WebAuthX>()
    expectTypeOf(webAuthX(new AuthManager()).loginType('admin')).toEqualTypeOf<WebAuthX>()
    expectTypeOf(authx.websocketRequired).toEqualTypeOf<WebGuard>()
  })

  it('guards are wrapper functions; factories return them', () => {
    expectTypeOf(authx).toEqualTypeOf<WebAuthX>()
    expectTypeOf(authx.accessRequired).toEqualTypeOf<WebGuard>()
    expectTypeOf(authx.refreshRequired).toEqualTypeOf<WebGuard>()
    expectTypeOf(authx.freshRequired).toEqualTypeOf<WebGuard>()
    expectTypeOf(authx.accessOptional).toEqualTypeOf<WebGuard<TokenPayload | null>>()
    expectTypeOf(authx.scopesRequired).parameters.toEqualTypeOf<string[]>()
    expectTypeOf(authx.scopesRequired('a')).toEqualTypeOf<WebGuard>()
    expectTypeOf(authx.anyScopeRequired('a', 'b')).toEqualTypeOf<WebGuard>()
    expectTypeOf(authx.tokenRequired({ type: 'refresh', locations: ['cookies'] })).toEqualTypeOf<WebGuard>()
    // @ts-expect-error scopes are strings
    authx.scopesRequired(1)
    // @ts-expect-error a required guard cannot be made optional; use accessOptional
    authx.tokenRequired({ optional: true })
  })

  it('a plain handler becomes (req: Request) => Promise<Response> with a TokenPayload argument', () => {
    const GET = authx.accessRequired((req, payload) => {
      expectTypeOf(req).toEqualTypeOf<Request>()
      expectTypeOf(payload).toEqualTypeOf<TokenPayload>()
      expectTypeOf(payload.sub).toEqualTypeOf<string>()
      return Response.json({ sub: payload.sub })
    })
    expectTypeOf(GET).toEqualTypeOf<(req: Request) => Promise<Response>>()
    // @ts-expect-error a handler must answer a Response
    authx.accessRequired(() => ({ ok: true }))
  })

  it('accessOptional passes TokenPayload or null', () => {
    authx.accessOptional((_req, payload) => {
      expectTypeOf(payload).toEqualTypeOf<TokenPayload | null>()
      return Response.json({ sub: payload?.sub ?? null })
    })
  })

  it('the request subclass and the arguments after it pass through to the wrapped handler', () => {
    const GET = authx.scopesRequired('admin')(async (req: FrameworkRequest, payload, ctx: RouteContext) => {
      expectTypeOf(req.nextUrl).toEqualTypeOf<URL>()
      expectTypeOf(payload).toEqualTypeOf<TokenPayload>()
      return Response.json({ id: (await ctx.params).id })
    })
    expectTypeOf(GET).toEqualTypeOf<(req: FrameworkRequest, ctx: RouteContext) => Promise<Response>>()
    // @ts-expect-error the route context is required by the handler
    GET(new FrameworkRequest('http://x.test/'))
  })

  it('currentSubject passes the subject third, typed by the handler, then the extra arguments', () => {
    const GET = authx.currentSubject((_req, payload, subject, ctx: RouteContext) => {
      expectTypeOf(payload).toEqualTypeOf<TokenPayload>()
      expectTypeOf(subject).toEqualTypeOf<unknown>()
      expectTypeOf(ctx).toEqualTypeOf<RouteContext>()
      return new Response('ok')
    })
    expectTypeOf(GET).toEqualTypeOf<(req: Request, ctx: RouteContext) => Promise<Response>>()
    authx.currentSubject((_req, _payload, user: { id: string }) => Response.json({ id: user.id }))
  })

  it('implicitRefresh and withAuthXErrors keep the handler signature, answering a promise', () => {
    const inner = authx.accessRequired((_req, _payload, ctx: RouteContext) => Response.json({ ctx }))
    expectTypeOf(authx.implicitRefresh(inner)).toEqualTypeOf<
      (req: Request, ctx: RouteContext) => Promise<Response>
    >()
    expectTypeOf(withAuthXErrors((_req: Request) => new Response())).toEqualTypeOf<
      (req: Request) => Promise<Response>
    >()
  })

  it('cookie helpers take a Response or Headers and return the same kind', () => {
    expectTypeOf(authx.setAccessCookies(new Response(), 't')).toEqualTypeOf<Response>()
    expectTypeOf(authx.setRefreshCookies(new Headers(), 't', { maxAge: '15m' })).toEqualTypeOf<Headers>()
    expectTypeOf(authx.unsetCookies(new Response())).toEqualTypeOf<Response>()
    expectTypeOf(authx.unsetAccessCookies(new Headers())).toEqualTypeOf<Headers>()
    expectTypeOf(authx.unsetRefreshCookies(new Response())).toEqualTypeOf<Response>()
    expectTypeOf<CookieTarget<Response | Headers>>().toEqualTypeOf<Response | Headers>()
    // @ts-expect-error maxAge is a Duration, not a boolean
    authx.setAccessCookies(new Response(), 't', { maxAge: true })
    // @ts-expect-error the target is a Response or Headers
    authx.unsetCookies({})
  })

  it('webAuthX takes the adapter options', () => {
    expectTypeOf(webAuthX).parameter(1).toEqualTypeOf<AdapterOptions | undefined>()
    webAuthX(auth, { errorBody: (err) => ({ error: err.code }) })
    // @ts-expect-error no such adapter option
    webAuthX(auth, { errorbody: () => ({}) })
  })

  it('payload(req) takes a Request (or a subclass) and gives the payload typed as present', () => {
    expectTypeOf(authx.payload).parameter(0).toEqualTypeOf<Request>()
    expectTypeOf(authx.payload).returns.toEqualTypeOf<TokenPayload>()
    authx.accessRequired((req: FrameworkRequest) => Response.json({ sub: authx.payload(req).sub }))
    // @ts-expect-error a Headers is not a request
    authx.payload(new Headers())
  })

  it('refreshRoute and logoutRoute are route handlers as values, and factories with options', () => {
    expectTypeOf(authx.refreshRoute).toExtend<WebRoute>()
    expectTypeOf(authx.logoutRoute).toExtend<
      (req: FrameworkRequest, ctx: RouteContext) => Promise<Response>
    >()
    expectTypeOf(authx.refreshRoute({ scopes: ['a'] })).toEqualTypeOf<WebRoute>()
    expectTypeOf(
      authx.refreshRoute({ data: (p) => ({ sub: p.sub }), tokensInBody: false }),
    ).toEqualTypeOf<WebRoute>()
    expectTypeOf(authx.refreshRoute()).toEqualTypeOf<WebRoute>()
    expectTypeOf(authx.logoutRoute()).toEqualTypeOf<WebRoute>()
    expectTypeOf(authx.refreshRoute(new Request('http://x.test/'))).toEqualTypeOf<Promise<Response>>()
    expectTypeOf(authx.logoutRoute(new FrameworkRequest('http://x.test/'), {})).toEqualTypeOf<
      Promise<Response>
    >()
    // What Next.js reads of a route export: the handler's parameters and return, not the factory's.
    expectTypeOf<Parameters<typeof authx.refreshRoute>[0]>().toEqualTypeOf<Request>()
    expectTypeOf<ReturnType<typeof authx.logoutRoute>>().toEqualTypeOf<Promise<Response>>()
    // Wrapped in implicitRefresh, a route keeps the handler's signature.
    expectTypeOf(authx.implicitRefresh(authx.refreshRoute)).toEqualTypeOf<
      (req: Request, ...platform: unknown[]) => Promise<Response>
    >()
    // @ts-expect-error no such option
    authx.refreshRoute({ scope: ['a'] })
    // @ts-expect-error the logout route has no options yet
    authx.logoutRoute({ all: true })
  })
})
