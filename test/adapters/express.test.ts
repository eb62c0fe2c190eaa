import http from 'node:http'
import express, { type Express, type NextFunction, type Request, type Response } from 'express'
import express4 from 'express4'
import { afterEach, describe, expect, it } from 'vitest'
import { expressAuthX } from '../../src/adapters/express.js'
import { AuthX, type AuthXStore, TokenPayload } from '../../src/index.js'
import {
  cookieHeader,
  expectError,
  jsonBody,
  login,
  makeAuth,
  runScenarios,
  type ScenarioAdapterOptions,
  SECRET,
  type Send,
  setCookies,
  supertestSender,
  type TestResponse,
} from './scenarios.js'

/**
 * Both Express majors are driven through Express 5's types: `@types/express4` brings its own
 * copy of express-serve-static-core, so the two `Express` types are nominally different even
 * though the apps behave the same for everything used here.
 */
type Factory = typeof express
const VERSIONS: [string, Factory][] = [
  ['express 5', express],
  ['express 4', express4 as unknown as Factory],
]

type Handler = (req: Request, res: Response) => Promise<unknown>

/** Express 4 does not catch rejected promises: every async handler goes through this. */
function wrap(fn: Handler) {
  return (req: Request, res: Response, next: NextFunction) => {
    fn(req, res).catch(next)
  }
}

/** The scenario app of test/adapters/scenarios.ts. `extra` adds routes before the error handler. */
function scenarioApp(
  factory: Factory,
  auth: AuthX,
  extra?: (app: Express) => void,
  options?: ScenarioAdapterOptions,
): Express {
  const app = factory()
  const authx = expressAuthX(auth, options)
  app.use(factory.json())
  app.use(factory.urlencoded({ extended: false }))
  app.use(authx.implicitRefresh)
  app.post(
    '/login',
    wrap(async (req, res) => {
      const { uid, scopes } = req.body as { uid: string; scopes?: string[] }
      const pair = await auth.createTokenPair({
        uid,
        fresh: true,
        ...(scopes === undefined ? {} : { scopes }),
      })
      authx.setAccessCookies(res, pair.accessToken)
      authx.setRefreshCookies(res, pair.refreshToken)
      res.json({ access_token: pair.accessToken, refresh_token: pair.refreshToken })
    }),
  )
  const profile = (req: Request, res: Response) =>
    res.json({ sub: authx.payload(req).sub, fresh: authx.payload(req).fresh })
  app.get('/profile', authx.accessRequired, profile)
  app.post('/profile', authx.accessRequired, profile)
  app.post(
    '/refresh',
    authx.refreshRequired,
    wrap(async (req, res) => {
      const { sub, scopes } = authx.payload(req)
      const token = await auth.createAccessToken({
        uid: sub,
        fresh: false,
        ...(scopes ? { scopes: [...scopes] } : {}),
      })
      res.json({ access_token: token })
    }),
  )
  app.post('/change-password', authx.freshRequired, (_req, res) => res.json({ ok: true }))
  app.get('/admin', authx.scopesRequired('admin:*'), (_req, res) => res.json({ ok: true }))
  app.get('/any', authx.anyScopeRequired('a', 'b'), (_req, res) => res.json({ ok: true }))
  app.get('/optional', authx.accessOptional, (req, res) => res.json({ sub: req.authx?.sub ?? null }))
  app.get('/me', authx.currentSubject, (req, res) => res.json({ subject: req.authxSubject }))
  app.post(
    '/logout',
    authx.accessRequired,
    wrap(async (req, res) => {
      await auth.revokeToken(authx.payload(req))
      authx.unsetCookies(res)
      res.json({ ok: true })
    }),
  )
  app.post('/auth/refresh', authx.refreshRoute)
  app.post('/auth/refresh-narrow', authx.refreshRoute({ scopes: ['narrow'] }))
  app.post('/auth/logout', authx.logoutRoute)
  app.get('/payload', authx.accessRequired, (req, res) => res.json({ sub: authx.payload(req).sub }))
  app.post(
    '/handler-refresh',
    authx.accessRequired,
    wrap(async (req, res) => {
      await auth.refresh((req.body as { refresh_token: string }).refresh_token)
      res.json({ ok: true })
    }),
  )
  app.get('/boom', () => {
    throw new Error('boom')
  })
  extra?.(app)
  app.use(authx.errorHandler)
  return app
}

let servers: http.Server[] = []

afterEach(async () => {
  await Promise.all(servers.map(close))
  servers = []
})

async function listen(app: Express): Promise<http.Server> {
  const server = http.createServer(app)
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  servers.push(server)
  return server
}

function close(server: http.Server): Promise<void> {
  server.closeAllConnections()
  return new Promise((resolve) => server.close(() => resolve()))
}

async function serve(factory: Factory, auth: AuthX, extra?: (app: Express) => void): Promise<Send> {
  return supertestSender(await listen(scenarioApp(factory, auth, extra)))
}

function renewed(res: TestResponse): boolean {
  return setCookies(res).some((c) => c.startsWith('access_token_cookie='))
}

/** A store whose every call fails, as an unreachable Redis would. */
function brokenStore(): AuthXStore {
  const down = () => Promise.reject(new Error('connection refused'))
  return { get: down, set: down, setIfAbsent: down, delete: down }
}

for (const [label, factory] of VERSIONS) {
  describe(`${label}: scenario table`, () => {
    runScenarios(async (auth, options) => {
      const server = await listen(scenarioApp(factory, auth, undefined, options))
      return { send: supertestSender(server) }
    })
  })

  describe(`${label}: guards and request payload`, () => {
    it('accessRequired stores a TokenPayload instance of the core on req.authx', async () => {
      const auth = makeAuth()
      let seen: unknown
      const send = await serve(factory, auth, (app) =>
        app.get('/seen', expressAuthX(auth).accessRequired, (req, res) => {
          seen = req.authx
          res.json({ ok: true })
        }),
      )
      const { access } = await login(send)
      expect(
        (await send({ method: 'GET', path: '/seen', headers: { authorization: `Bearer ${access}` } })).status,
      ).toBe(200)
      expect(seen).toBeInstanceOf(TokenPayload)
      expect((seen as TokenPayload).sub).toBe('user123')
    })

    it('accessOptional stores null on req.authx when no token is sent', async () => {
      const auth = makeAuth()
      let seen: unknown = 'unset'
      const send = await serve(factory, auth, (app) =>
        app.get('/maybe', expressAuthX(auth).accessOptional, (req, res) => {
          seen = req.authx
          res.json({ ok: true })
        }),
      )
      expect((await send({ method: 'GET', path: '/maybe' })).status).toBe(200)
      expect(seen).toBeNull()
    })

    it('a guard called as a function (authx.accessRequired()) throws a TypeError where the route is defined', () => {
      const authx = expressAuthX(makeAuth())
      const misuse = authx.accessRequired as unknown as () => void
      expect(() => misuse()).toThrow(/without calling it/)
      expect(() => (authx.scopesRequired('a') as unknown as () => void)()).toThrow(TypeError)
      expect(() => (authx.implicitRefresh as unknown as () => void)()).toThrow(TypeError)
      expect(() => factory().get('/x', misuse() as never)).toThrow(TypeError)
    })

    it('options are checked where the adapter and its guards are made', () => {
      const auth = makeAuth()
      expect(() => expressAuthX(auth, { errorbody: () => ({}) } as never)).toThrow(
        /unknown option 'errorbody'/,
      )
      expect(() => expressAuthX(auth, { errorBody: 'x' as never })).toThrow(TypeError)
      const authx = expressAuthX(auth)
      expect(() => authx.tokenRequired({ freshh: true } as never)).toThrow(/unknown option 'freshh'/)
      expect(() => authx.scopesRequired(['admin:*'] as never)).toThrow(/separate arguments/)
      expect(() => authx.refreshRoute({ scope: ['a'] } as never)).toThrow(/unknown option 'scope'/)
      expect(() => authx.logoutRoute({ all: true } as never)).toThrow(/unknown option 'all'/)
    })

    it('payload(req) throws on a route without a guard (a programming error, answered 500 by Express)', async () => {
      const auth = makeAuth()
      const authx = expressAuthX(auth)
      expect(() => authx.payload({} as never)).toThrow(/no authx guard/)
      const send = await serve(factory, auth, (app) =>
        app.get('/open', (req, res) => res.json(authx.payload(req))),
      )
      expect((await send({ method: 'GET', path: '/open' })).status).toBe(500)
    })

    it('currentSubject stores both the payload and the subject', async () => {
      const auth = makeAuth()
      const send = await serve(factory, auth, (app) =>
        app.get('/who', expressAuthX(auth).currentSubject, (req, res) =>
          res.json({ sub: req.authx?.sub, subject: req.authxSubject }),
        ),
      )
      const { access } = await login(send, 'u7')
      const res = await send({ method: 'GET', path: '/who', headers: { authorization: `Bearer ${access}` } })
      expect(res.body).toEqual({ sub: 'u7', subject: { id: 'u7', name: 'user u7' } })
    })

    it('tokenRequired applies its options: a header-only refresh guard ignores the refresh cookie', async () => {
      const auth = makeAuth()
      const send = await serve(factory, auth, (app) =>
        app.get(
          '/r',
          expressAuthX(auth).tokenRequired({ type: 'refresh', locations: ['headers'] }),
          (req, res) => res.json({ type: req.authx?.type }),
        ),
      )
      const { refresh, cookies } = await login(send)
      expectError(
        await send({ method: 'GET', path: '/r', headers: { cookie: cookieHeader(cookies) } }),
        401,
        'ERR_MISSING_TOKEN',
      )
      const ok = await send({ method: 'GET', path: '/r', headers: { authorization: `Bearer ${refresh}` } })
      expect(ok.body).toEqual({ type: 'refresh' })
    })

    it('a store that cannot be reached is 503 with Retry-After, never acceptance', async () => {
      const auth = makeAuth({ store: brokenStore(), revocation: { timeoutMs: 50 } })
      const token = await auth.createAccessToken({ uid: 'u1' })
      const send = await serve(factory, auth)
      const res = await send({
        method: 'GET',
        path: '/profile',
        headers: { authorization: `Bearer ${token}` },
      })
      expectError(res, 503, 'ERR_STORE_UNAVAILABLE')
      expect(res.headers['retry-after']).toBe('1')
    })

    it('currentSubject without a subject getter answers 500 ERR_CONFIG', async () => {
      const auth = new AuthX({ secretKey: SECRET })
      const token = await auth.createAccessToken({ uid: 'u1' })
      const send = await serve(factory, auth, (app) =>
        app.get('/who', expressAuthX(auth).currentSubject, (_req, res) => res.json({ ok: true })),
      )
      const res = await send({ method: 'GET', path: '/who', headers: { authorization: `Bearer ${token}` } })
      expectError(res, 500, 'ERR_CONFIG')
    })
  })

  describe(`${label}: bodies and query strings`, () => {
    it('a JSON body with a charset parameter is read', async () => {
      const send = await serve(factory, makeAuth())
      const { access } = await login(send)
      const res = await send({
        method: 'POST',
        path: '/profile',
        headers: { 'content-type': 'application/json; charset=utf-8' },
        body: JSON.stringify({ access_token: access }),
      })
      expect(res.status).toBe(200)
    })

    it('without express.json() the JSON body location finds nothing (401 ERR_MISSING_TOKEN)', async () => {
      const auth = makeAuth()
      const token = await auth.createAccessToken({ uid: 'u1' })
      const app = factory()
      const authx = expressAuthX(auth)
      app.post('/p', authx.accessRequired, (_req, res) => res.json({ ok: true }))
      app.use(authx.errorHandler)
      const send = supertestSender(await listen(app))
      expectError(
        await send({ method: 'POST', path: '/p', ...jsonBody({ access_token: token }) }),
        401,
        'ERR_MISSING_TOKEN',
      )
    })

    it('a body a parser accepted under a text/plain content type is not read as JSON', async () => {
      const auth = makeAuth()
      const token = await auth.createAccessToken({ uid: 'u1' })
      const app = factory()
      const authx = expressAuthX(auth)
      app.use(factory.json({ type: '*/*' }))
      app.post('/p', authx.accessRequired, (_req, res) => res.json({ ok: true }))
      app.use(authx.errorHandler)
      const send = supertestSender(await listen(app))
      const res = await send({
        method: 'POST',
        path: '/p',
        headers: { 'content-type': 'text/plain' },
        body: JSON.stringify({ access_token: token }),
      })
      expectError(res, 401, 'ERR_MISSING_TOKEN')
    })

    it('a urlencoded body is not a JSON body', async () => {
      const send = await serve(factory, makeAuth())
      const { access } = await login(send)
      const res = await send({
        method: 'POST',
        path: '/profile',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: `access_token=${access}`,
      })
      expectError(res, 401, 'ERR_MISSING_TOKEN')
    })

    it('with checkForm, the CSRF field of a urlencoded body is read, and a JSON field of that name is not', async () => {
      const auth = makeAuth({ csrf: { checkForm: true } })
      const send = await serve(factory, auth)
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
      const send = await serve(factory, makeAuth())
      const { access } = await login(send)
      expectError(
        await send({ method: 'GET', path: `/profile?token=${access}&token=${access}` }),
        401,
        'ERR_MISSING_TOKEN',
      )
      expectError(
        await send({ method: 'GET', path: `/profile?token[a]=${access}` }),
        401,
        'ERR_MISSING_TOKEN',
      )
    })
  })

  describe(`${label}: implicit refresh`, () => {
    /** An app whose clock the test moves; `login` then 6 minutes pass (9 of 15 left). */
    async function nearExpiry(implicitRefresh: Record<string, unknown>, extra?: (app: Express) => void) {
      let now = Date.now()
      const auth = makeAuth({ clock: () => now, implicitRefresh: { enabled: true, ...implicitRefresh } })
      const send = await serve(factory, auth, extra)
      const { access, cookies } = await login(send)
      now += 6 * 60 * 1000
      const cookie = cookieHeader(cookies)
      const csrf = auth.decodeUnverified(access).payload.csrf as string
      return { send, cookie, csrf, advance: (ms: number) => (now += ms) }
    }

    it('the renewed cookie survives cookies the handler sets afterwards', async () => {
      const { send, cookie } = await nearExpiry({}, (app) =>
        app.get('/theme', (_req, res) => {
          res.cookie('theme', 'dark')
          res.json({ ok: true })
        }),
      )
      const res = await send({ method: 'GET', path: '/theme', headers: { cookie } })
      expect(renewed(res)).toBe(true)
      expect(setCookies(res).some((c) => c.startsWith('theme=dark'))).toBe(true)
    })

    it('the renewed cookie keeps cookies set by middleware before it', async () => {
      let now = Date.now()
      const auth = makeAuth({ clock: () => now, implicitRefresh: { enabled: true } })
      const authx = expressAuthX(auth)
      const app = factory()
      app.use((_req, res, next) => {
        res.cookie('session_hint', '1')
        next()
      })
      app.use(authx.implicitRefresh)
      app.get('/x', (_req, res) => res.json({ ok: true }))
      const send = supertestSender(await listen(app))
      const token = await auth.createAccessToken({ uid: 'u1' })
      now += 6 * 60 * 1000
      const res = await send({
        method: 'GET',
        path: '/x',
        headers: { cookie: `access_token_cookie=${token}` },
      })
      expect(renewed(res)).toBe(true)
      expect(setCookies(res).some((c) => c.startsWith('session_hint=1'))).toBe(true)
    })

    it('the renewed cookie survives an error Express answers itself', async () => {
      const { send, cookie } = await nearExpiry({})
      const res = await send({ method: 'GET', path: '/boom', headers: { cookie } })
      expect(res.status).toBe(500)
      expect(renewed(res)).toBe(true)
    })

    it('an expired cookie token is not renewed', async () => {
      const { send, cookie, advance } = await nearExpiry({})
      advance(10 * 60 * 1000)
      const res = await send({ method: 'GET', path: '/optional', headers: { cookie } })
      expectError(res, 401, 'ERR_TOKEN_EXPIRED')
      expect(renewed(res)).toBe(false)
    })
  })

  describe(`${label}: cookie helpers`, () => {
    it('setAccessCookies and setRefreshCookies write exactly the core strings, passing maxAge on', async () => {
      const auth = makeAuth()
      const pair = await auth.createTokenPair({ uid: 'u1' })
      const authx = expressAuthX(auth)
      const send = await serve(factory, auth, (app) =>
        app.get('/set', (_req, res) => {
          authx.setAccessCookies(res, pair.accessToken, { maxAge: 60 })
          authx.setRefreshCookies(res, pair.refreshToken)
          res.json({ ok: true })
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
      const authx = expressAuthX(auth)
      const send = await serve(factory, auth, (app) => {
        app.get('/unset/all', (_req, res) => {
          authx.unsetCookies(res)
          res.json({})
        })
        app.get('/unset/access', (_req, res) => {
          authx.unsetAccessCookies(res)
          res.json({})
        })
        app.get('/unset/refresh', (_req, res) => {
          authx.unsetRefreshCookies(res)
          res.json({})
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

    it('cookie helpers keep cookies set before them', async () => {
      const auth = makeAuth()
      const token = await auth.createAccessToken({ uid: 'u1' })
      const authx = expressAuthX(auth)
      const send = await serve(factory, auth, (app) =>
        app.get('/both', (_req, res) => {
          res.cookie('theme', 'dark')
          authx.setAccessCookies(res, token)
          res.json({ ok: true })
        }),
      )
      const cookies = setCookies(await send({ method: 'GET', path: '/both' }))
      expect(cookies[0]).toMatch(/^theme=dark/)
      expect(cookies.slice(1)).toEqual(auth.accessCookies(token))
    })
  })

  describe(`${label}: error handler`, () => {
    /** An app with a capturing error handler registered after authx.errorHandler. */
    async function capturing(route: (app: Express) => void) {
      const auth = makeAuth()
      const authx = expressAuthX(auth)
      const app = factory()
      route(app)
      const seen: unknown[] = []
      app.use(authx.errorHandler)
      app.use((err: unknown, _req: Request, res: Response, _next: NextFunction) => {
        seen.push(err)
        if (!res.headersSent) res.status(418).json({ captured: true })
        else res.end()
      })
      return { send: supertestSender(await listen(app)), seen }
    }

    it('passes a non-AuthX error on to the next error handler unchanged', async () => {
      const original = new Error('not ours')
      const { send, seen } = await capturing((app) =>
        app.get('/fail', () => {
          throw original
        }),
      )
      const res = await send({ method: 'GET', path: '/fail' })
      expect(res.status).toBe(418)
      expect(seen).toEqual([original])
      expect(seen[0]).toBe(original)
    })

    it('passes an AuthX error on when the response has already started', async () => {
      const { send, seen } = await capturing((app) =>
        app.get('/late', (req, res, next) => {
          res.write('partial')
          expressAuthX(makeAuth()).accessRequired(req, res, next)
        }),
      )
      await send({ method: 'GET', path: '/late' })
      expect(seen).toHaveLength(1)
      expect((seen[0] as { code?: string }).code).toBe('ERR_MISSING_TOKEN')
    })
  })

  describe(`security (${label}): a subject getter cannot skip the guard by rejecting with a non-error`, () => {
    for (const [what, value] of [
      ['undefined', undefined],
      ["'route'", 'route'],
      ["'router'", 'router'],
    ] as const) {
      it(`a getter rejecting with ${what} answers 500 and runs neither the handler nor a later route`, async () => {
        const auth = makeAuth()
        auth.setSubjectGetter(() => Promise.reject(value))
        const authx = expressAuthX(auth)
        const app = factory()
        let ran = false
        app.get('/me', authx.currentSubject, (_req, res) => {
          ran = true
          res.json({ guarded: true })
        })
        app.get('/me', (_req, res) => {
          ran = true
          res.json({ leaked: true })
        })
        app.use(authx.errorHandler)
        const send = supertestSender(await listen(app))
        const token = await auth.createAccessToken({ uid: 'u1' })
        const res = await send({ method: 'GET', path: '/me', headers: { authorization: `Bearer ${token}` } })
        expect(res.status).toBe(500)
        expect(ran).toBe(false)
      })
    }
  })
}
