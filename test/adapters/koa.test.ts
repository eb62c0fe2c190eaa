import http from 'node:http'
import { bodyParser } from '@koa/bodyparser'
import Router from '@koa/router'
import Koa from 'koa'
import { afterEach, describe, expect, it } from 'vitest'
import { koaAuthX } from '../../src/adapters/koa.js'
import { AuthX, type AuthXStore, TokenPayload } from '../../src/index.js'
import {
  bearer,
  cookieHeader,
  csrfOf,
  expectError,
  jsonBody,
  login,
  makeAuth,
  runScenarios,
  type ScenarioAdapterOptions,
  SECRET,
  setCookies,
  supertestSender,
  type TestResponse,
} from './scenarios.js'

/** A Koa app whose unhandled errors are collected instead of logged. */
function newApp(): { app: Koa; errors: unknown[] } {
  const app = new Koa()
  const errors: unknown[] = []
  // A listener replaces Koa's default logger; Koa still answers the request itself.
  app.on('error', (err: unknown) => errors.push(err))
  return { app, errors }
}

/**
 * The scenario app of test/adapters/scenarios.ts: errorHandler first, then the body parser,
 * implicit refresh and the router. `extra` adds routes to the router.
 */
function scenarioApp(auth: AuthX, extra?: (router: Router) => void, options?: ScenarioAdapterOptions) {
  const { app, errors } = newApp()
  const authx = koaAuthX(auth, options)
  const router = new Router()
  app.use(authx.errorHandler)
  app.use(bodyParser())
  app.use(authx.implicitRefresh)
  router.post('/login', async (ctx) => {
    const { uid, scopes } = ctx.request.body as { uid: string; scopes?: string[] }
    const pair = await auth.createTokenPair({ uid, fresh: true, ...(scopes === undefined ? {} : { scopes }) })
    authx.setAccessCookies(ctx, pair.accessToken)
    authx.setRefreshCookies(ctx, pair.refreshToken)
    ctx.body = { access_token: pair.accessToken, refresh_token: pair.refreshToken }
  })
  // A handler defined apart from its route reads the payload through authx.payload(ctx).
  const profile = (ctx: Koa.Context) => {
    ctx.body = { sub: authx.payload(ctx).sub, fresh: authx.payload(ctx).fresh }
  }
  router.get('/profile', authx.accessRequired, profile)
  router.post('/profile', authx.accessRequired, profile)
  router.post('/refresh', authx.refreshRequired, async (ctx) => {
    const { sub, scopes } = ctx.state.authx
    const token = await auth.createAccessToken({
      uid: sub,
      fresh: false,
      ...(scopes ? { scopes: [...scopes] } : {}),
    })
    ctx.body = { access_token: token }
  })
  router.post('/change-password', authx.freshRequired, (ctx) => {
    ctx.body = { ok: true }
  })
  router.get('/admin', authx.scopesRequired('admin:*'), (ctx) => {
    ctx.body = { ok: true }
  })
  router.get('/any', authx.anyScopeRequired('a', 'b'), (ctx) => {
    ctx.body = { ok: true }
  })
  router.get('/optional', authx.accessOptional, (ctx) => {
    ctx.body = { sub: ctx.state.authx?.sub ?? null }
  })
  router.get('/me', authx.currentSubject, (ctx) => {
    ctx.body = { subject: ctx.state.authxSubject }
  })
  router.post('/logout', authx.accessRequired, async (ctx) => {
    await auth.revokeToken(ctx.state.authx)
    authx.unsetCookies(ctx)
    ctx.body = { ok: true }
  })
  router.post('/auth/refresh', authx.refreshRoute)
  router.post('/auth/refresh-narrow', authx.refreshRoute({ scopes: ['narrow'] }))
  router.post('/auth/logout', authx.logoutRoute)
  router.get('/payload', authx.accessRequired, (ctx) => {
    ctx.body = { sub: authx.payload(ctx).sub }
  })
  router.post('/handler-refresh', authx.accessRequired, async (ctx) => {
    await auth.refresh((ctx.request.body as { refresh_token: string }).refresh_token)
    ctx.body = { ok: true }
  })
  router.get('/boom', () => {
    throw new Error('boom')
  })
  extra?.(router)
  app.use(router.routes())
  return { app, errors, authx }
}

let servers: http.Server[] = []

afterEach(async () => {
  await Promise.all(servers.map(close))
  servers = []
})

async function listen(app: Koa): Promise<http.Server> {
  const server = http.createServer(app.callback())
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  servers.push(server)
  return server
}

function close(server: http.Server): Promise<void> {
  server.closeAllConnections()
  return new Promise((resolve) => server.close(() => resolve()))
}

async function serve(auth: AuthX, extra?: (router: Router) => void) {
  const built = scenarioApp(auth, extra)
  return { send: supertestSender(await listen(built.app)), errors: built.errors, authx: built.authx }
}

function renewed(res: TestResponse): boolean {
  return setCookies(res).some((c) => c.startsWith('access_token_cookie='))
}

/** A store whose every call fails, as an unreachable Redis would. */
function brokenStore(): AuthXStore {
  const down = () => Promise.reject(new Error('connection refused'))
  return { get: down, set: down, setIfAbsent: down, delete: down }
}

describe('koa: scenario table', () => {
  runScenarios(async (auth, options) => ({
    send: supertestSender(await listen(scenarioApp(auth, undefined, options).app)),
  }))
})

describe('koa: guards and ctx.state', () => {
  it('accessRequired stores a TokenPayload instance of the core on ctx.state.authx', async () => {
    const auth = makeAuth()
    let seen: unknown
    const { send } = await serve(auth, (router) =>
      router.get('/seen', koaAuthX(auth).accessRequired, (ctx) => {
        seen = ctx.state.authx
        ctx.body = { ok: true }
      }),
    )
    const { access } = await login(send)
    expect((await send({ method: 'GET', path: '/seen', headers: bearer(access) })).status).toBe(200)
    expect(seen).toBeInstanceOf(TokenPayload)
    expect((seen as TokenPayload).sub).toBe('user123')
  })

  it('accessOptional stores null on ctx.state.authx when no token is sent', async () => {
    const auth = makeAuth()
    let seen: unknown = 'unset'
    const { send } = await serve(auth, (router) =>
      router.get('/maybe', koaAuthX(auth).accessOptional, (ctx) => {
        seen = ctx.state.authx
        ctx.body = { ok: true }
      }),
    )
    expect((await send({ method: 'GET', path: '/maybe' })).status).toBe(200)
    expect(seen).toBeNull()
  })

  it('a failing guard runs neither the handler nor sets ctx.state.authx', async () => {
    const auth = makeAuth()
    let ran = false
    let state: unknown = 'unset'
    const { app } = newApp()
    const authx = koaAuthX(auth)
    app.use(authx.errorHandler)
    app.use(async (ctx, next) => {
      try {
        await next()
      } finally {
        state = ctx.state.authx
      }
    })
    app.use(authx.accessRequired)
    app.use((ctx) => {
      ran = true
      ctx.body = { leaked: true }
    })
    const send = supertestSender(await listen(app))
    expectError(await send({ method: 'GET', path: '/', headers: bearer('a.b.c') }), 401, 'ERR_INVALID_TOKEN')
    expect(ran).toBe(false)
    expect(state).toBeUndefined()
  })

  it('currentSubject stores both the payload and the subject', async () => {
    const auth = makeAuth()
    const { send } = await serve(auth, (router) =>
      router.get('/who', koaAuthX(auth).currentSubject, (ctx) => {
        ctx.body = { sub: ctx.state.authx.sub, subject: ctx.state.authxSubject }
      }),
    )
    const { access } = await login(send, 'u7')
    const res = await send({ method: 'GET', path: '/who', headers: bearer(access) })
    expect(res.body).toEqual({ sub: 'u7', subject: { id: 'u7', name: 'user u7' } })
  })

  it('currentSubject verifies the token once: the revocation store is asked once per request', async () => {
    let lookups = 0
    const auth = makeAuth({
      revocation: {
        isRevoked: () => {
          lookups += 1
          return false
        },
      },
    })
    const token = await auth.createAccessToken({ uid: 'u1' })
    const { send } = await serve(auth)
    expect((await send({ method: 'GET', path: '/me', headers: bearer(token) })).status).toBe(200)
    expect(lookups).toBe(1)
  })

  it('tokenRequired applies its options: a header-only refresh guard ignores the refresh cookie', async () => {
    const auth = makeAuth()
    const { send } = await serve(auth, (router) =>
      router.get('/r', koaAuthX(auth).tokenRequired({ type: 'refresh', locations: ['headers'] }), (ctx) => {
        ctx.body = { type: ctx.state.authx.type }
      }),
    )
    const { refresh, cookies } = await login(send)
    expectError(
      await send({ method: 'GET', path: '/r', headers: { cookie: cookieHeader(cookies) } }),
      401,
      'ERR_MISSING_TOKEN',
    )
    expect((await send({ method: 'GET', path: '/r', headers: bearer(refresh) })).body).toEqual({
      type: 'refresh',
    })
  })

  it('tokenRequired refuses the optional flag where the guard is made (accessOptional is for that)', () => {
    const options = { optional: true } as Parameters<ReturnType<typeof koaAuthX>['tokenRequired']>[0]
    expect(() => koaAuthX(makeAuth()).tokenRequired(options)).toThrow(/unknown option 'optional'/)
  })

  it('a guard called as a function (authx.accessRequired()) throws a TypeError where the route is defined', () => {
    const authx = koaAuthX(makeAuth())
    const misuse = authx.accessRequired as unknown as () => void
    expect(() => misuse()).toThrow(/without calling it/)
    for (const value of [
      authx.accessOptional,
      authx.currentSubject,
      authx.scopesRequired('a'),
      authx.tokenRequired({ fresh: true }),
      authx.implicitRefresh,
      authx.errorHandler,
      authx.refreshRoute({ scopes: ['a'] }),
      authx.logoutRoute(),
    ]) {
      expect(() => (value as unknown as () => void)()).toThrow(/without calling it/)
    }
    // Called with a context but no next function: the same error, not a rejected promise.
    const ctx = new Koa().createContext({} as never, {} as never)
    expect(() => (authx.refreshRoute as unknown as (ctx: unknown) => void)(ctx)).toThrow(TypeError)
    expect(() => new Router().get('/x', misuse() as never)).toThrow(TypeError)
    expect(() => new Koa().use(misuse() as never)).toThrow(TypeError)
  })

  it('options are checked where the adapter, its guards and its routes are made', () => {
    const auth = makeAuth()
    expect(() => koaAuthX(auth, { errorbody: () => ({}) } as never)).toThrow(/unknown option 'errorbody'/)
    expect(() => koaAuthX(auth, { errorBody: 'x' as never })).toThrow(TypeError)
    const authx = koaAuthX(auth)
    expect(() => authx.tokenRequired({ freshh: true } as never)).toThrow(/unknown option 'freshh'/)
    expect(() => authx.scopesRequired(['admin:*'] as never)).toThrow(/separate arguments/)
    expect(() => authx.anyScopeRequired(['a'] as never)).toThrow(/separate arguments/)
    expect(() => authx.refreshRoute({ scope: ['a'] } as never)).toThrow(/unknown option 'scope'/)
    expect(() => authx.logoutRoute({ all: true } as never)).toThrow(/unknown option 'all'/)
  })

  it("payload(ctx) throws on a route without a guard (a programming error, Koa's 500)", async () => {
    const auth = makeAuth()
    const authx = koaAuthX(auth)
    expect(() => authx.payload({ state: {} })).toThrow(/no authx guard/)
    expect(() => authx.payload({ state: { authx: null } })).toThrow(/no authx guard/)
    const { send, errors } = await serve(auth, (router) =>
      router.get('/open', (ctx) => {
        ctx.body = authx.payload(ctx)
      }),
    )
    const res = await send({ method: 'GET', path: '/open' })
    expect(res.status).toBe(500)
    expect(errors).toHaveLength(1)
  })

  it('a store that cannot be reached is 503 with Retry-After, never acceptance', async () => {
    const auth = makeAuth({ store: brokenStore(), revocation: { timeoutMs: 50 } })
    const token = await auth.createAccessToken({ uid: 'u1' })
    const { send } = await serve(auth)
    const res = await send({ method: 'GET', path: '/profile', headers: bearer(token) })
    expectError(res, 503, 'ERR_STORE_UNAVAILABLE')
    expect(res.headers['retry-after']).toBe('1')
  })

  it('currentSubject without a subject getter answers 500 ERR_CONFIG as JSON', async () => {
    const auth = new AuthX({ secretKey: SECRET })
    const token = await auth.createAccessToken({ uid: 'u1' })
    const { send } = await serve(auth)
    expectError(await send({ method: 'GET', path: '/me', headers: bearer(token) }), 500, 'ERR_CONFIG')
  })
})

describe('koa: ready-made routes', () => {
  /** An app with the routes and no errorHandler: the routes must answer by themselves. */
  async function bare(auth: AuthX, before?: Koa.Middleware) {
    const { app, errors } = newApp()
    const authx = koaAuthX(auth, { errorBody: (err) => ({ failed: err.code }) })
    if (before !== undefined) app.use(before)
    app.use(authx.implicitRefresh)
    const router = new Router()
    router.post('/auth/refresh', authx.refreshRoute)
    router.post('/auth/logout', authx.logoutRoute)
    app.use(router.routes())
    return { send: supertestSender(await listen(app)), errors }
  }

  const traced: Koa.Middleware = async (ctx, next) => {
    ctx.set('X-Trace', 'abc')
    ctx.append('Set-Cookie', 'theme=dark; Path=/')
    await next()
  }

  it('refreshRoute answers its errors itself, without errorHandler, reshaped and with the headers set before', async () => {
    const auth = makeAuth()
    const { send, errors } = await bare(auth, traced)
    const res = await send({ method: 'POST', path: '/auth/refresh', headers: bearer('x.y.z') })
    expect(res.status).toBe(401)
    expect(res.body).toEqual({ failed: 'ERR_INVALID_TOKEN' })
    expect(res.headers['www-authenticate']).toBe('Bearer error="invalid_token"')
    expect(res.headers['cache-control']).toBe('no-store')
    expect(res.headers['x-trace']).toBe('abc')
    expect(setCookies(res)).toEqual(['theme=dark; Path=/'])
    expect(errors).toEqual([])
  })

  it('refreshRoute keeps cookies set before it and replaces the implicitly renewed access cookie', async () => {
    let now = Date.now()
    const auth = makeAuth({ clock: () => now, implicitRefresh: { enabled: true } })
    const pair = await auth.createTokenPair({ uid: 'u1' })
    now += 6 * 60 * 1000
    const { send } = await bare(auth, traced)
    const cookies = [...auth.accessCookies(pair.accessToken), ...auth.refreshCookies(pair.refreshToken)]
    const res = await send({
      method: 'POST',
      path: '/auth/refresh',
      headers: { cookie: cookieHeader(cookies), 'x-csrf-token': csrfOf(auth, pair.refreshToken) },
    })
    expect(res.status, JSON.stringify(res.body)).toBe(200)
    const body = res.body as { access_token: string; refresh_token: string }
    expect(setCookies(res)).toEqual([
      'theme=dark; Path=/',
      ...auth.accessCookies(body.access_token),
      ...auth.refreshCookies(body.refresh_token),
    ])
  })

  it('logoutRoute without errorHandler: a 503 keeps the clearing cookies and the headers set before it', async () => {
    const auth = makeAuth()
    const pair = await auth.createTokenPair({ uid: 'u1' })
    ;(auth.store as { set: unknown }).set = () => Promise.reject(new Error('down'))
    const { send, errors } = await bare(auth, traced)
    const res = await send({ method: 'POST', path: '/auth/logout', headers: bearer(pair.accessToken) })
    expect(res.status).toBe(503)
    expect(res.body).toEqual({ failed: 'ERR_STORE_UNAVAILABLE' })
    expect(res.headers['retry-after']).toBe('1')
    expect(res.headers['x-trace']).toBe('abc')
    expect(setCookies(res)).toEqual(['theme=dark; Path=/', ...auth.unsetCookies()])
    expect(errors).toEqual([])
  })

  it('logoutRoute answers 204 with no body, even over a body set before it', async () => {
    const auth = makeAuth()
    const { send } = await bare(auth, async (ctx, next) => {
      ctx.body = { stale: true }
      await next()
    })
    const res = await send({ method: 'POST', path: '/auth/logout' })
    expect(res.status).toBe(204)
    expect(res.body).toBe('')
    expect(res.headers['content-type']).toBeUndefined()
    expect(setCookies(res)).toEqual(auth.unsetCookies())
  })

  it('the routes are terminal: the middleware after them does not run', async () => {
    const auth = makeAuth()
    let ran = false
    const { app } = newApp()
    const authx = koaAuthX(auth)
    app.use(authx.logoutRoute)
    app.use((ctx) => {
      ran = true
      ctx.body = { after: true }
    })
    const res = await supertestSender(await listen(app))({ method: 'POST', path: '/' })
    expect(res.status).toBe(204)
    expect(ran).toBe(false)
  })

  it('an error that is not an authx error goes to Koa', async () => {
    const auth = makeAuth()
    const pair = await auth.createTokenPair({ uid: 'u1' })
    const { app, errors } = newApp()
    const authx = koaAuthX(auth)
    app.use(authx.errorHandler)
    app.use(
      authx.refreshRoute({
        data: () => {
          throw new Error('data lookup failed')
        },
      }),
    )
    const res = await supertestSender(await listen(app))({
      method: 'POST',
      path: '/',
      headers: bearer(pair.refreshToken),
    })
    expect(res.status).toBe(500)
    expect((errors[0] as Error).message).toBe('data lookup failed')
  })
})

describe('koa: errorBody', () => {
  for (const [what, value] of [
    ['a string', 'denied'],
    ['null', null],
    ['a number', 7],
  ] as const) {
    it(`a formatter returning ${what} is sent as JSON with authx's status and headers`, async () => {
      const auth = makeAuth()
      const { app } = newApp()
      const authx = koaAuthX(auth, { errorBody: () => value })
      app.use(authx.errorHandler)
      app.use(authx.accessRequired)
      const res = await supertestSender(await listen(app))({ method: 'GET', path: '/' })
      expect(res.status).toBe(401)
      expect(res.headers['content-type']).toBe('application/json; charset=utf-8')
      expect(res.body).toEqual(value)
      expect(res.headers['www-authenticate']).toBe('Bearer')
    })
  }

  it('an authx error thrown by a handler behind a guard is reshaped too', async () => {
    const auth = makeAuth()
    const pair = await auth.createTokenPair({ uid: 'u1' })
    const built = scenarioApp(auth, undefined, { errorBody: (err) => ({ failed: err.code }) })
    const send = supertestSender(await listen(built.app))
    const request = {
      method: 'POST',
      path: '/handler-refresh',
      headers: { ...bearer(pair.accessToken), 'content-type': 'application/json' },
      body: JSON.stringify({ refresh_token: pair.refreshToken }),
    }
    expect((await send(request)).status).toBe(200)
    const again = await send(request)
    expect(again.status).toBe(401)
    expect(again.body).toEqual({ failed: 'ERR_REFRESH_TOKEN_REUSED' })
  })
})

describe('koa: errorHandler', () => {
  it('registered first, it keeps headers and implicit-refresh cookies set before an AuthX error', async () => {
    let now = Date.now()
    const auth = makeAuth({ clock: () => now, implicitRefresh: { enabled: true } })
    const { send } = await serve(auth, (router) =>
      router.get(
        '/traced',
        async (ctx, next) => {
          ctx.set('X-Trace', 'abc')
          await next()
        },
        koaAuthX(auth).scopesRequired('admin'),
        (ctx) => {
          ctx.body = { ok: true }
        },
      ),
    )
    const { cookies } = await login(send)
    now += 6 * 60 * 1000
    const res = await send({ method: 'GET', path: '/traced', headers: { cookie: cookieHeader(cookies) } })
    expectError(res, 403, 'ERR_INSUFFICIENT_SCOPE')
    expect(res.headers['www-authenticate']).toContain('error="insufficient_scope"')
    expect(res.headers['x-trace']).toBe('abc')
    expect(renewed(res)).toBe(true)
  })

  it('replaces a body the handler had set before an AuthX error with the JSON error', async () => {
    const auth = makeAuth()
    const { send } = await serve(auth, (router) =>
      router.get(
        '/late',
        async (ctx, next) => {
          ctx.type = 'text/html'
          ctx.body = '<p>secret</p>'
          await next()
        },
        koaAuthX(auth).accessRequired,
      ),
    )
    const res = await send({ method: 'GET', path: '/late' })
    expectError(res, 401, 'ERR_MISSING_TOKEN')
    expect(JSON.stringify(res.body)).not.toContain('secret')
  })

  it('rethrows a non-AuthX error unchanged, so Koa answers its own 500 and emits the same error', async () => {
    const original = new Error('not ours')
    const { app, errors } = newApp()
    app.use(koaAuthX(makeAuth()).errorHandler)
    app.use(() => {
      throw original
    })
    const res = await supertestSender(await listen(app))({ method: 'GET', path: '/' })
    expect(res.status).toBe(500)
    expect(res.body).toBe('Internal Server Error')
    expect(errors).toHaveLength(1)
    expect(errors[0]).toBe(original)
  })

  it("leaves Koa's HTTP errors (ctx.throw) to Koa", async () => {
    const { app } = newApp()
    app.use(koaAuthX(makeAuth()).errorHandler)
    app.use((ctx) => ctx.throw(418, 'teapot'))
    const res = await supertestSender(await listen(app))({ method: 'GET', path: '/' })
    expect(res.status).toBe(418)
    expect(res.body).toBe('teapot')
  })

  it('rethrows an AuthX error once the response has started, instead of writing a second answer', async () => {
    const seen: unknown[] = []
    const { app } = newApp()
    const authx = koaAuthX(makeAuth())
    app.use(async (ctx, next) => {
      try {
        await next()
      } catch (err) {
        seen.push(err)
        ctx.res.end()
      }
    })
    app.use(authx.errorHandler)
    app.use(async (ctx, next) => {
      ctx.respond = false
      ctx.res.writeHead(200, { 'content-type': 'text/plain' })
      ctx.res.write('partial')
      await next()
    })
    app.use(authx.accessRequired)
    const res = await supertestSender(await listen(app))({ method: 'GET', path: '/' })
    expect(res.status).toBe(200)
    expect(res.body).toBe('partial')
    expect(seen).toHaveLength(1)
    expect((seen[0] as { code?: string }).code).toBe('ERR_MISSING_TOKEN')
  })
})

describe('koa: bodies and query strings', () => {
  it('a JSON body with a charset parameter is read', async () => {
    const { send } = await serve(makeAuth())
    const { access } = await login(send)
    const res = await send({
      method: 'POST',
      path: '/profile',
      headers: { 'content-type': 'application/json; charset=utf-8' },
      body: JSON.stringify({ access_token: access }),
    })
    expect(res.status).toBe(200)
  })

  it('the handler still reads ctx.request.body after the guard took the token from it', async () => {
    const auth = makeAuth()
    const token = await auth.createAccessToken({ uid: 'u1' })
    const { send } = await serve(auth, (router) =>
      router.post('/echo', koaAuthX(auth).accessRequired, (ctx) => {
        ctx.body = { body: ctx.request.body }
      }),
    )
    const body = { access_token: token, note: 'kept' }
    expect((await send({ method: 'POST', path: '/echo', ...jsonBody(body) })).body).toEqual({ body })
  })

  it('without a body parser a JSON token is simply missing (401 ERR_MISSING_TOKEN)', async () => {
    const auth = makeAuth()
    const token = await auth.createAccessToken({ uid: 'u1' })
    const { app } = newApp()
    const authx = koaAuthX(auth)
    app.use(authx.errorHandler)
    app.use(authx.accessRequired)
    app.use((ctx) => {
      ctx.body = { ok: true }
    })
    const send = supertestSender(await listen(app))
    expectError(
      await send({ method: 'POST', path: '/', ...jsonBody({ access_token: token }) }),
      401,
      'ERR_MISSING_TOKEN',
    )
  })

  it("a broken JSON body is @koa/bodyparser's 400, never a 500, and the answer does not echo the token", async () => {
    const { send } = await serve(makeAuth())
    const { access } = await login(send)
    const res = await send({
      method: 'POST',
      path: '/profile',
      headers: { 'content-type': 'application/json' },
      body: `{"access_token": "${access}"`,
    })
    expect(res.status).toBe(400)
    expect(res.body).toBe('Bad Request')
    expect(JSON.stringify(res.body)).not.toContain(access)
  })

  it("a JSON body that is a bare string is @koa/bodyparser's 400 (strict JSON)", async () => {
    const { send } = await serve(makeAuth())
    const { access } = await login(send)
    const res = await send({ method: 'POST', path: '/profile', ...jsonBody(access) })
    expect(res.status).toBe(400)
  })

  it('a JSON array body holds no token', async () => {
    const { send } = await serve(makeAuth())
    const { access } = await login(send)
    expectError(
      await send({ method: 'POST', path: '/profile', ...jsonBody([{ access_token: access }]) }),
      401,
      'ERR_MISSING_TOKEN',
    )
  })

  it('a JSON token whose value is not a string is missing', async () => {
    const { send } = await serve(makeAuth())
    const { access } = await login(send)
    expectError(
      await send({ method: 'POST', path: '/profile', ...jsonBody({ access_token: [access] }) }),
      401,
      'ERR_MISSING_TOKEN',
    )
  })

  it('a body a parser accepted under a text/plain content type is not read as JSON', async () => {
    const auth = makeAuth()
    const token = await auth.createAccessToken({ uid: 'u1' })
    const { app } = newApp()
    const authx = koaAuthX(auth)
    app.use(authx.errorHandler)
    app.use(bodyParser({ extendTypes: { json: ['text/plain'] } }))
    let parsed: unknown
    app.use(async (ctx, next) => {
      parsed = ctx.request.body
      await next()
    })
    app.use(authx.accessRequired)
    app.use((ctx) => {
      ctx.body = { ok: true }
    })
    const send = supertestSender(await listen(app))
    const res = await send({
      method: 'POST',
      path: '/',
      headers: { 'content-type': 'text/plain' },
      body: JSON.stringify({ access_token: token }),
    })
    expect(parsed).toEqual({ access_token: token }) // the parser did take it as JSON
    expectError(res, 401, 'ERR_MISSING_TOKEN')
  })

  it('a urlencoded body is not a JSON body', async () => {
    const { send } = await serve(makeAuth())
    const { access } = await login(send)
    const res = await send({
      method: 'POST',
      path: '/profile',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: `access_token=${access}`,
    })
    expectError(res, 401, 'ERR_MISSING_TOKEN')
  })

  it('@koa/bodyparser skips DELETE bodies by default, so a JSON token there is missing until parsedMethods lists DELETE', async () => {
    const auth = makeAuth()
    const token = await auth.createAccessToken({ uid: 'u1' })
    const build = async (parser: Koa.Middleware) => {
      const { app } = newApp()
      const authx = koaAuthX(auth)
      app.use(authx.errorHandler)
      app.use(parser)
      app.use(authx.accessRequired)
      app.use((ctx) => {
        ctx.body = { sub: authx.payload(ctx).sub }
      })
      return supertestSender(await listen(app))
    }
    const del = { method: 'DELETE', path: '/', ...jsonBody({ access_token: token }) }
    expectError(await (await build(bodyParser()))(del), 401, 'ERR_MISSING_TOKEN')
    const parsedDelete = await build(bodyParser({ parsedMethods: ['POST', 'PUT', 'PATCH', 'DELETE'] }))
    expect((await parsedDelete(del)).body).toEqual({ sub: 'u1' })
  })

  it('with checkForm, the CSRF field of a urlencoded body is read, and a JSON field of that name is not', async () => {
    const auth = makeAuth({ csrf: { checkForm: true } })
    const { send } = await serve(auth)
    const { access, cookies } = await login(send)
    const csrf = auth.decodeUnverified(access).payload.csrf as string
    const cookie = cookieHeader(cookies)
    const form = (body: string) => ({
      method: 'POST',
      path: '/profile',
      headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' },
      body,
    })
    expect((await send(form(`csrf_token=${csrf}`))).status).toBe(200)
    const wrong = await send(form('csrf_token=nope'))
    expectError(wrong, 403, 'ERR_CSRF')
    expect(wrong.body).toMatchObject({ reason: 'mismatch' })
    // Repeated form fields: the first counts, as in every adapter (it must still match the claim).
    expect((await send(form(`csrf_token=${csrf}&csrf_token=nope`))).status).toBe(200)
    expectError(await send(form(`csrf_token=nope&csrf_token=${csrf}`)), 403, 'ERR_CSRF')
    const nested = await send(form(`csrf_token[a]=${csrf}`))
    expectError(nested, 403, 'ERR_CSRF')
    expect(nested.body).toMatchObject({ reason: 'missing' })
    const asJson = await send({
      method: 'POST',
      path: '/profile',
      headers: { cookie, 'content-type': 'application/json' },
      body: JSON.stringify({ csrf_token: csrf }),
    })
    expectError(asJson, 403, 'ERR_CSRF')
    expect(asJson.body).toMatchObject({ reason: 'missing' })
  })

  it('a repeated or nested token query parameter is not a token', async () => {
    const { send } = await serve(makeAuth())
    const { access } = await login(send)
    expectError(
      await send({ method: 'GET', path: `/profile?token=${access}&token=${access}` }),
      401,
      'ERR_MISSING_TOKEN',
    )
    expectError(await send({ method: 'GET', path: `/profile?token[a]=${access}` }), 401, 'ERR_MISSING_TOKEN')
  })

  it('a percent-encoded query token is decoded', async () => {
    const { send } = await serve(makeAuth())
    const { access } = await login(send)
    const encoded = access.replace(/\./g, '%2E')
    expect((await send({ method: 'GET', path: `/profile?token=${encoded}` })).status).toBe(200)
  })
})

describe('koa: implicit refresh', () => {
  /** An app whose clock the test moves; `login` then 6 minutes pass (9 of 15 left). */
  async function nearExpiry(implicitRefresh: Record<string, unknown>, extra?: (router: Router) => void) {
    let now = Date.now()
    const auth = makeAuth({ clock: () => now, implicitRefresh: { enabled: true, ...implicitRefresh } })
    const { send } = await serve(auth, extra)
    const { access, cookies } = await login(send)
    now += 6 * 60 * 1000
    const cookie = cookieHeader(cookies)
    const csrf = auth.decodeUnverified(access).payload.csrf as string
    return { auth, send, cookie, csrf, advance: (ms: number) => (now += ms) }
  }

  it('the renewed cookies are exactly the access and CSRF cookies of a token for the same subject', async () => {
    const { auth, send, cookie } = await nearExpiry({})
    const res = await send({ method: 'GET', path: '/profile', headers: { cookie } })
    const cookies = setCookies(res)
    expect(cookies.map((c) => c.split('=', 1)[0])).toEqual(['access_token_cookie', 'csrf_access_token'])
    const token = cookies[0]!.split(';')[0]!.slice('access_token_cookie='.length)
    expect(cookies).toEqual(auth.accessCookies(token))
    expect((await auth.verifyToken(token)).sub).toBe('user123')
  })

  it('the cookie reaches a 404 answer for an unknown route', async () => {
    const { send, cookie } = await nearExpiry({})
    const res = await send({ method: 'GET', path: '/nowhere', headers: { cookie } })
    expect(res.status).toBe(404)
    expect(renewed(res)).toBe(true)
  })

  it('the renewed cookie survives cookies the handler sets afterwards with ctx.cookies', async () => {
    const { send, cookie } = await nearExpiry({}, (router) =>
      router.get('/theme', (ctx) => {
        ctx.cookies.set('theme', 'dark')
        ctx.body = { ok: true }
      }),
    )
    const res = await send({ method: 'GET', path: '/theme', headers: { cookie } })
    expect(renewed(res)).toBe(true)
    expect(setCookies(res).some((c) => c.startsWith('theme=dark'))).toBe(true)
  })

  it('the renewed cookie is put back when the handler replaces Set-Cookie with other cookies', async () => {
    const { send, cookie } = await nearExpiry({}, (router) =>
      router.get('/replace', (ctx) => {
        ctx.set('Set-Cookie', ['theme=dark; Path=/'])
        ctx.body = { ok: true }
      }),
    )
    const res = await send({ method: 'GET', path: '/replace', headers: { cookie } })
    const cookies = setCookies(res)
    expect(cookies[0]).toBe('theme=dark; Path=/')
    expect(renewed(res)).toBe(true)
    expect(cookies.filter((c) => c.startsWith('access_token_cookie='))).toHaveLength(1)
  })

  it('the renewed cookie is put back when an inner error middleware clears every header', async () => {
    const { send, cookie } = await nearExpiry({}, (router) =>
      router.get(
        '/inner',
        async (ctx, next) => {
          try {
            await next()
          } catch {
            for (const name of ctx.res.getHeaderNames()) ctx.res.removeHeader(name)
            ctx.status = 500
            ctx.body = { failed: true }
          }
        },
        () => {
          throw new Error('inner')
        },
      ),
    )
    const res = await send({ method: 'GET', path: '/inner', headers: { cookie } })
    expect(res.status).toBe(500)
    expect(renewed(res)).toBe(true)
  })

  it('a handler deleting the access cookie wins: deletions come after the renewed cookies', async () => {
    const { send, cookie } = await nearExpiry({}, (router) =>
      router.get('/bye', (ctx) => {
        koaAuthX(makeAuth()).unsetAccessCookies(ctx)
        ctx.body = { ok: true }
      }),
    )
    const res = await send({ method: 'GET', path: '/bye', headers: { cookie } })
    const access = setCookies(res).filter((c) => c.startsWith('access_token_cookie='))
    expect(access).toHaveLength(2)
    expect(access[0]).not.toContain('Max-Age=0')
    expect(access[1]).toMatch(/^access_token_cookie=;.*Max-Age=0/)
  })

  it('a handler replacing Set-Cookie with a deletion of the access cookie is not overridden', async () => {
    const { send, cookie } = await nearExpiry({}, (router) =>
      router.get('/replace-bye', (ctx) => {
        ctx.set('Set-Cookie', makeAuth().unsetAccessCookies())
        ctx.body = { ok: true }
      }),
    )
    const res = await send({ method: 'GET', path: '/replace-bye', headers: { cookie } })
    expect(setCookies(res)).toEqual(makeAuth().unsetAccessCookies())
  })

  it('the renewed cookie keeps cookies set by middleware before it', async () => {
    let now = Date.now()
    const auth = makeAuth({ clock: () => now, implicitRefresh: { enabled: true } })
    const authx = koaAuthX(auth)
    const { app } = newApp()
    app.use(authx.errorHandler)
    app.use(async (ctx, next) => {
      ctx.append('Set-Cookie', 'session_hint=1; Path=/')
      await next()
    })
    app.use(authx.implicitRefresh)
    app.use((ctx) => {
      ctx.body = { ok: true }
    })
    const send = supertestSender(await listen(app))
    const token = await auth.createAccessToken({ uid: 'u1' })
    now += 6 * 60 * 1000
    const res = await send({ method: 'GET', path: '/x', headers: { cookie: `access_token_cookie=${token}` } })
    expect(renewed(res)).toBe(true)
    expect(setCookies(res)[0]).toBe('session_hint=1; Path=/')
  })

  it('an expired cookie token is not renewed', async () => {
    const { send, cookie, advance } = await nearExpiry({})
    advance(10 * 60 * 1000)
    const res = await send({ method: 'GET', path: '/optional', headers: { cookie } })
    expectError(res, 401, 'ERR_TOKEN_EXPIRED')
    expect(renewed(res)).toBe(false)
  })

  it('a refresh token in the access cookie is not renewed', async () => {
    const { send } = await nearExpiry({})
    const { refresh } = await login(send, 'r1')
    const res = await send({
      method: 'GET',
      path: '/optional',
      headers: { cookie: `access_token_cookie=${refresh}` },
    })
    expectError(res, 401, 'ERR_WRONG_TOKEN_TYPE')
    expect(renewed(res)).toBe(false)
  })
})

describe('koa: cookie helpers', () => {
  it('setAccessCookies and setRefreshCookies write exactly the core strings, passing maxAge on', async () => {
    const auth = makeAuth()
    const pair = await auth.createTokenPair({ uid: 'u1' })
    const { send, authx } = await serve(auth, (router) =>
      router.get('/set', (ctx) => {
        authx.setAccessCookies(ctx, pair.accessToken, { maxAge: 60 })
        authx.setRefreshCookies(ctx, pair.refreshToken)
        ctx.body = { ok: true }
      }),
    )
    const res = await send({ method: 'GET', path: '/set' })
    expect(setCookies(res)).toEqual([
      ...auth.accessCookies(pair.accessToken, { maxAge: 60 }),
      ...auth.refreshCookies(pair.refreshToken),
    ])
    expect(setCookies(res)[0]).toContain('Max-Age=60')
  })

  it('the unset helpers write exactly the core strings', async () => {
    const auth = makeAuth()
    const { send, authx } = await serve(auth, (router) => {
      router.get('/unset/all', (ctx) => {
        authx.unsetCookies(ctx)
        ctx.body = {}
      })
      router.get('/unset/access', (ctx) => {
        authx.unsetAccessCookies(ctx)
        ctx.body = {}
      })
      router.get('/unset/refresh', (ctx) => {
        authx.unsetRefreshCookies(ctx)
        ctx.body = {}
      })
    })
    expect(setCookies(await send({ method: 'GET', path: '/unset/all' }))).toEqual(auth.unsetCookies())
    expect(setCookies(await send({ method: 'GET', path: '/unset/access' }))).toEqual(
      auth.unsetAccessCookies(),
    )
    expect(setCookies(await send({ method: 'GET', path: '/unset/refresh' }))).toEqual(
      auth.unsetRefreshCookies(),
    )
  })

  it('cookie helpers keep cookies set before them, and Secure cookies are written over plain HTTP', async () => {
    const auth = makeAuth()
    const token = await auth.createAccessToken({ uid: 'u1' })
    const { send, authx } = await serve(auth, (router) =>
      router.get('/both', (ctx) => {
        ctx.cookies.set('theme', 'dark')
        authx.setAccessCookies(ctx, token)
        ctx.body = { ok: true }
      }),
    )
    const cookies = setCookies(await send({ method: 'GET', path: '/both' }))
    expect(cookies[0]).toMatch(/^theme=dark/)
    expect(cookies.slice(1)).toEqual(auth.accessCookies(token))
    expect(cookies[1]).toContain('Secure')
  })
})

describe('security: callbacks rejecting with a non-error cannot skip the guard or hang the request', () => {
  for (const [what, value] of [
    ['undefined', undefined],
    ['null', null],
  ] as const) {
    it(`a revocation callback rejecting with ${what} is answered, and the handler does not run`, async () => {
      const auth = makeAuth({ revocation: { isRevoked: () => Promise.reject(value) } })
      let ran = false
      const { send } = await serve(auth, (router) =>
        router.get('/guarded', koaAuthX(auth).accessRequired, (ctx) => {
          ran = true
          ctx.body = { leaked: true }
        }),
      )
      const token = await auth.createAccessToken({ uid: 'u1' })
      const res = await send({ method: 'GET', path: '/guarded', headers: bearer(token) })
      expectError(res, 503, 'ERR_STORE_UNAVAILABLE')
      expect(ran).toBe(false)
    })
  }

  for (const [what, value] of [
    ['undefined', undefined],
    ['null', null],
    ['a string', 'route'],
  ] as const) {
    it(`a subject getter rejecting with ${what} is Koa's 500, not a hung request, and the handler does not run`, async () => {
      const auth = makeAuth()
      auth.setSubjectGetter(() => Promise.reject(value))
      let ran = false
      const { send } = await serve(auth, (router) =>
        router.get('/who', koaAuthX(auth).currentSubject, (ctx) => {
          ran = true
          ctx.body = { leaked: true }
        }),
      )
      const token = await auth.createAccessToken({ uid: 'u1' })
      const res = await send({ method: 'GET', path: '/who', headers: bearer(token) })
      expect(res.status).toBe(500)
      expect(ran).toBe(false)
    })
  }
})
