import { Writable } from 'node:stream'
import cookiePlugin from '@fastify/cookie'
import formbody from '@fastify/formbody'
import Fastify, {
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
  type FastifyServerOptions,
} from 'fastify'
import { describe, expect, it } from 'vitest'
import { fastifyAuthX } from '../../src/adapters/fastify.js'
import { AuthX, type AuthXStore, CSRFError, MissingTokenError, TokenPayload } from '../../src/index.js'
import {
  bearer,
  cookieHeader,
  csrfOf,
  expectError,
  injectSender,
  makeAuth,
  runScenarios,
  type ScenarioAdapterOptions,
  type Send,
  setCookies,
  type TestRequest,
  type TestResponse,
} from './scenarios.js'

/** The scenario app of test/adapters/scenarios.ts. `extra` adds routes before `ready()`. */
async function buildApp(
  auth: AuthX,
  extra?: (app: FastifyInstance) => unknown,
  options: FastifyServerOptions = {},
  adapter: ScenarioAdapterOptions = {},
): Promise<FastifyInstance> {
  const app = Fastify(options)
  await app.register(formbody)
  await app.register(fastifyAuthX, { auth, ...adapter })
  const { authx } = app
  app.addHook('onRequest', authx.implicitRefresh)
  app.post('/login', async (request, reply) => {
    const { uid, scopes } = request.body as { uid: string; scopes?: string[] }
    const pair = await auth.createTokenPair({ uid, fresh: true, ...(scopes && { scopes }) })
    authx.setAccessCookies(reply, pair.accessToken)
    authx.setRefreshCookies(reply, pair.refreshToken)
    return { access_token: pair.accessToken, refresh_token: pair.refreshToken }
  })
  const profile = async (request: FastifyRequest) => ({
    sub: authx.payload(request).sub,
    fresh: authx.payload(request).fresh,
  })
  app.get('/profile', { preHandler: authx.accessRequired }, profile)
  app.post('/profile', { preHandler: authx.accessRequired }, profile)
  app.post('/refresh', { preHandler: authx.refreshRequired }, async (request) => {
    const { sub, scopes } = authx.payload(request)
    const token = await auth.createAccessToken({
      uid: sub,
      fresh: false,
      ...(scopes && { scopes: [...scopes] }),
    })
    return { access_token: token }
  })
  app.post('/change-password', { preHandler: authx.freshRequired }, async () => ({ ok: true }))
  app.get('/admin', { preHandler: authx.scopesRequired('admin:*') }, async () => ({ ok: true }))
  app.get('/any', { preHandler: authx.anyScopeRequired('a', 'b') }, async () => ({ ok: true }))
  app.get('/optional', { preHandler: authx.accessOptional }, async (request) => ({
    sub: request.authx?.sub ?? null,
  }))
  app.get('/me', { preHandler: authx.currentSubject }, async (request) => ({ subject: request.authxSubject }))
  app.post('/logout', { preHandler: authx.accessRequired }, async (request, reply) => {
    await auth.revokeToken(authx.payload(request))
    authx.unsetCookies(reply)
    return { ok: true }
  })
  app.get('/boom', async () => {
    throw new Error('boom')
  })
  app.post('/auth/refresh', authx.refreshRoute)
  app.post('/auth/refresh-narrow', authx.refreshRoute({ scopes: ['narrow'] }))
  app.post('/auth/logout', authx.logoutRoute)
  app.get('/payload', { preHandler: authx.accessRequired }, async (request) => ({
    sub: authx.payload(request).sub,
  }))
  app.post('/handler-refresh', { preHandler: authx.accessRequired }, async (request) => {
    await auth.refresh((request.body as { refresh_token: string }).refresh_token)
    return { ok: true }
  })
  await extra?.(app)
  await app.ready()
  return app
}

async function serve(auth: AuthX, extra?: (app: FastifyInstance) => unknown): Promise<Send> {
  return injectSender(await buildApp(auth, extra))
}

function renewed(res: TestResponse): string[] {
  return setCookies(res).filter((c) => c.startsWith('access_token_cookie='))
}

async function loginCookies(send: Send, uid = 'user1'): Promise<{ access: string; cookie: string }> {
  const res = await send({
    method: 'POST',
    path: '/login',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ uid }),
  })
  return {
    access: (res.body as { access_token: string }).access_token,
    cookie: cookieHeader(setCookies(res)),
  }
}

/** An auth whose clock the test moves, with implicit refresh on, and a login 9 minutes before expiry. */
async function nearExpiry(
  implicitRefresh: Record<string, unknown> = {},
  extra?: (app: FastifyInstance) => unknown,
) {
  let now = Date.now()
  const auth = makeAuth({ clock: () => now, implicitRefresh: { enabled: true, ...implicitRefresh } })
  const send = await serve(auth, extra)
  const { access, cookie } = await loginCookies(send)
  now += 6 * 60 * 1000
  return { auth, send, access, cookie, csrf: csrfOf(auth, access), advance: (ms: number) => (now += ms) }
}

describe('fastify adapter: scenario table', () => {
  runScenarios(async (auth, options) => {
    const app = await buildApp(auth, undefined, {}, options)
    return { send: injectSender(app), close: () => app.close() }
  })
})

describe('fastify adapter: guards and request payload', () => {
  it('accessRequired stores a TokenPayload instance of the core on request.authx', async () => {
    const auth = makeAuth()
    let seen: unknown
    const send = await serve(auth, (app) =>
      app.get('/stored', { preHandler: app.authx.accessRequired }, async (request) => {
        seen = request.authx
        return { ok: true }
      }),
    )
    const token = await auth.createAccessToken({ uid: 'u1' })
    expect((await send({ method: 'GET', path: '/stored', headers: bearer(token) })).status).toBe(200)
    expect(seen).toBeInstanceOf(TokenPayload)
    expect((seen as TokenPayload).sub).toBe('u1')
  })

  it('request.authx and request.authxSubject are null on a route without a guard and after accessOptional without a token', async () => {
    const seen: unknown[] = []
    const send = await serve(makeAuth(), (app) => {
      app.get('/open', async (request) => {
        seen.push(request.authx, request.authxSubject)
        return { ok: true }
      })
      app.get('/maybe', { preHandler: app.authx.accessOptional }, async (request) => {
        seen.push(request.authx)
        return { ok: true }
      })
    })
    expect((await send({ method: 'GET', path: '/open' })).status).toBe(200)
    expect((await send({ method: 'GET', path: '/maybe' })).status).toBe(200)
    expect(seen).toEqual([null, null, null])
  })

  it('currentSubject stores both the payload and the subject', async () => {
    const auth = makeAuth()
    let seen: unknown[] = []
    const send = await serve(auth, (app) =>
      app.get('/whoami', { preHandler: app.authx.currentSubject }, async (request) => {
        seen = [request.authx, request.authxSubject]
        return { ok: true }
      }),
    )
    const token = await auth.createAccessToken({ uid: 'u7' })
    expect((await send({ method: 'GET', path: '/whoami', headers: bearer(token) })).status).toBe(200)
    expect((seen[0] as TokenPayload).sub).toBe('u7')
    expect(seen[1]).toEqual({ id: 'u7', name: 'user u7' })
  })

  it('tokenRequired honours its options (locations, type)', async () => {
    const auth = makeAuth()
    const send = await serve(auth, (app) => {
      app.get(
        '/header-only',
        { preHandler: app.authx.tokenRequired({ locations: ['headers'] }) },
        async () => ({ ok: true }),
      )
      app.get(
        '/refresh-only',
        { preHandler: app.authx.tokenRequired({ type: 'refresh' }) },
        async (request) => ({
          sub: app.authx.payload(request).sub,
        }),
      )
    })
    const access = await auth.createAccessToken({ uid: 'u1' })
    const refresh = await auth.createRefreshToken({ uid: 'u2' })
    expectError(await send({ method: 'GET', path: `/header-only?token=${access}` }), 401, 'ERR_MISSING_TOKEN')
    expect((await send({ method: 'GET', path: '/header-only', headers: bearer(access) })).status).toBe(200)
    expect((await send({ method: 'GET', path: '/refresh-only', headers: bearer(refresh) })).body).toEqual({
      sub: 'u2',
    })
    expectError(
      await send({ method: 'GET', path: '/refresh-only', headers: bearer(access) }),
      401,
      'ERR_WRONG_TOKEN_TYPE',
    )
  })

  it('guards compose with other preHandler hooks in an array, in order', async () => {
    const auth = makeAuth()
    const order: string[] = []
    const send = await serve(auth, (app) =>
      app.get(
        '/chain',
        {
          preHandler: [
            app.authx.accessRequired,
            async (request) => {
              order.push(`after guard: ${app.authx.payload(request).sub}`)
            },
          ],
        },
        async () => ({ ok: true }),
      ),
    )
    expectError(await send({ method: 'GET', path: '/chain' }), 401, 'ERR_MISSING_TOKEN')
    expect(order).toEqual([])
    const token = await auth.createAccessToken({ uid: 'u1' })
    expect((await send({ method: 'GET', path: '/chain', headers: bearer(token) })).status).toBe(200)
    expect(order).toEqual(['after guard: u1'])
  })

  it('a refusal stops the request, later hooks and handler included, even behind asynchronous onSend hooks', async () => {
    const ran: string[] = []
    const logged: string[] = []
    const stream = new Writable({
      write(chunk, _encoding, done) {
        logged.push(String(chunk))
        done()
      },
    })
    const build = (extra: (app: FastifyInstance) => unknown) =>
      buildApp(makeAuth(), extra, { logger: { level: 'warn', stream } })
    const send = injectSender(
      await build((app) => {
        app.addHook('onSend', async (_request, _reply, payload) => {
          await new Promise((resolve) => setTimeout(resolve, 10))
          return payload
        })
        app.get(
          '/slow-send',
          {
            preHandler: [
              app.authx.accessRequired,
              async () => {
                ran.push('hook')
              },
            ],
          },
          async () => {
            ran.push('handler')
            return { ok: true }
          },
        )
        app.post('/slow-route', app.authx.refreshRoute)
        app.get('/slow-handler', async () => {
          await makeAuth().verifyToken('a.b.c')
        })
      }),
    )
    expectError(await send({ method: 'GET', path: '/slow-send' }), 401, 'ERR_MISSING_TOKEN')
    expectError(await send({ method: 'POST', path: '/slow-route' }), 401, 'ERR_MISSING_TOKEN')
    expectError(await send({ method: 'GET', path: '/slow-handler' }), 401, 'ERR_INVALID_TOKEN')
    await new Promise((resolve) => setTimeout(resolve, 30))
    expect(ran).toEqual([])
    // Nothing answered twice ("Reply was already sent") nor logged as an error.
    expect(logged).toEqual([])
  })

  it('a repeated token query parameter is not a token', async () => {
    const auth = makeAuth()
    const send = await serve(auth)
    const token = await auth.createAccessToken({ uid: 'u1' })
    expectError(
      await send({ method: 'GET', path: `/profile?token=${token}&token=${token}` }),
      401,
      'ERR_MISSING_TOKEN',
    )
    expect((await send({ method: 'GET', path: `/profile?token=${token}&other=1` })).status).toBe(200)
  })

  it('badly percent-encoded query and cookie values are 401, not 500', async () => {
    const send = await serve(makeAuth())
    expect((await send({ method: 'GET', path: '/profile?token=%E0%A4%A' })).status).toBe(401)
    const cookie = await send({
      method: 'GET',
      path: '/profile',
      headers: { cookie: 'access_token_cookie=%E0%A4%A' },
    })
    expect(cookie.status).toBe(401)
  })

  it('registering the plugin without an AuthX instance fails at registration', async () => {
    for (const options of [{}, { auth: {} }]) {
      const app = Fastify()
      // @ts-expect-error the options are wrong on purpose
      await expect(app.register(fastifyAuthX, options).ready()).rejects.toBeInstanceOf(TypeError)
    }
  })

  it('a guard called as a function (app.authx.accessRequired()) throws a TypeError where the route is defined', async () => {
    const app = Fastify()
    await app.register(fastifyAuthX, { auth: makeAuth() })
    const misuse = app.authx.accessRequired as unknown as () => void
    expect(() => misuse()).toThrow(/without calling it/)
    expect(() => (app.authx.scopesRequired('a') as unknown as () => void)()).toThrow(TypeError)
    expect(() => (app.authx.implicitRefresh as unknown as () => void)()).toThrow(TypeError)
    expect(() => (app.authx.currentSubject as unknown as (r: unknown) => void)({})).toThrow(TypeError)
    expect(() => app.get('/x', { preHandler: misuse() as never }, async () => ({}))).toThrow(TypeError)
  })

  it('options are checked where the plugin is registered and where guards and routes are made', async () => {
    const auth = makeAuth()
    const register = (options: object) =>
      Fastify()
        .register(fastifyAuthX, options as never)
        .ready()
    await expect(register({ auth, errorbody: () => ({}) })).rejects.toThrow(/unknown option 'errorbody'/)
    await expect(register({ auth, errorBody: 'x' })).rejects.toBeInstanceOf(TypeError)
    await expect(register({ auth, prefix: '/api' })).rejects.toThrow(/unknown option 'prefix'/)
    const app = Fastify()
    await app.register(fastifyAuthX, { auth })
    const { authx } = app
    expect(() => authx.tokenRequired({ freshh: true } as never)).toThrow(/unknown option 'freshh'/)
    expect(() => authx.scopesRequired(['admin:*'] as never)).toThrow(/separate arguments/)
    expect(() => authx.anyScopeRequired()).toThrow(TypeError)
    expect(() => authx.refreshRoute({ scope: ['a'] } as never)).toThrow(/unknown option 'scope'/)
    expect(() => authx.logoutRoute({ all: true } as never)).toThrow(/unknown option 'all'/)
  })

  it('payload(request) throws a plain Error on a route without a guard (answered 500 by Fastify)', async () => {
    const app = Fastify()
    await app.register(fastifyAuthX, { auth: makeAuth() })
    let seen: unknown
    app.setErrorHandler((err, _request, reply) => {
      seen = err
      return reply.code(500).send({ failed: true })
    })
    app.get('/open', async (request) => ({ sub: app.authx.payload(request).sub }))
    const res = await injectSender(app)({ method: 'GET', path: '/open' })
    expect(res.status).toBe(500)
    expect(seen).toBeInstanceOf(Error)
    expect((seen as Error).message).toMatch(/no authx guard/)
    expect((seen as { code?: unknown }).code).toBeUndefined()
  })

  it('the plugin carries the name authx, so dependent plugins can declare it', async () => {
    const app = Fastify()
    await app.register(fastifyAuthX, { auth: makeAuth() })
    expect(app.hasPlugin('authx')).toBe(true)
    // What fastify-plugin would write, without depending on it.
    const dependent = Object.assign(async () => {}, {
      [Symbol.for('skip-override')]: true,
      [Symbol.for('plugin-meta')]: { name: 'needs-authx', dependencies: ['authx'] },
    })
    await app.register(dependent)
    expect(app.hasPlugin('needs-authx')).toBe(true)
    await expect(Fastify().register(dependent).ready()).rejects.toThrow(/authx/)
  })
})

describe('fastify adapter: bodies', () => {
  async function echoApp(auth: AuthX) {
    return serve(auth, (app) => {
      app.post('/echo', { preHandler: app.authx.accessRequired }, async (request) => ({ body: request.body }))
      app.post('/optional-echo', { preHandler: app.authx.accessOptional }, async (request) => ({
        sub: request.authx?.sub ?? null,
      }))
    })
  }

  it('a JSON token is read with a charset parameter and the handler still gets the parsed body', async () => {
    const auth = makeAuth()
    const token = await auth.createAccessToken({ uid: 'u1' })
    const body = { access_token: token, note: 'kept' }
    const res = await (await echoApp(auth))({
      method: 'POST',
      path: '/echo',
      headers: { 'content-type': 'application/json; charset=utf-8' },
      body: JSON.stringify(body),
    })
    expect(res.status).toBe(200)
    expect(res.body).toEqual({ body })
  })

  for (const [label, body] of [
    ['a JSON array', '["x"]'],
    ['a JSON string', '"x.y.z"'],
    ['a JSON null', 'null'],
    ['a non-string token', '{"access_token": 42}'],
  ] as const) {
    it(`a JSON body with ${label} is a missing token (401)`, async () => {
      const res = await (await echoApp(makeAuth()))({
        method: 'POST',
        path: '/echo',
        headers: { 'content-type': 'application/json' },
        body,
      })
      expectError(res, 401, 'ERR_MISSING_TOKEN')
    })
  }

  for (const [label, body, code] of [
    ['malformed JSON', '{"access_token": ', 'FST_ERR_CTP_INVALID_JSON_BODY'],
    ['an empty body', '', 'FST_ERR_CTP_EMPTY_JSON_BODY'],
    ['a __proto__ key', '{"__proto__": {"access_token": "x"}}', undefined],
  ] as const) {
    it(`a JSON body with ${label} on a JSON-token route gets Fastify's own 400, never a 500`, async () => {
      for (const path of ['/echo', '/optional-echo']) {
        const res = await (await echoApp(makeAuth()))({
          method: 'POST',
          path,
          headers: { 'content-type': 'application/json' },
          body,
        })
        expect(res.status, path).toBe(400)
        if (code !== undefined) expect((res.body as { code: string }).code).toBe(code)
        expect(res.headers['www-authenticate']).toBeUndefined()
      }
    })
  }

  it('a body Fastify parses under another content type is not read as JSON (text/plain, unknown type is 415)', async () => {
    const auth = makeAuth()
    const token = await auth.createAccessToken({ uid: 'u1' })
    const send = await echoApp(auth)
    const plain = await send({
      method: 'POST',
      path: '/echo',
      headers: { 'content-type': 'text/plain' },
      body: JSON.stringify({ access_token: token }),
    })
    expectError(plain, 401, 'ERR_MISSING_TOKEN')
    const form = await send({
      method: 'POST',
      path: '/echo',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: `access_token=${token}`,
    })
    expectError(form, 401, 'ERR_MISSING_TOKEN')
    const jsonp = await send({
      method: 'POST',
      path: '/echo',
      headers: { 'content-type': 'application/jsonp' },
      body: JSON.stringify({ access_token: token }),
    })
    expect(jsonp.status).toBe(415)
  })

  it('with checkForm, the CSRF field of a urlencoded body is read; the first of repeated fields counts', async () => {
    const auth = makeAuth({ csrf: { checkForm: true } })
    const token = await auth.createAccessToken({ uid: 'u1' })
    const csrf = csrfOf(auth, token)
    const send = await echoApp(auth)
    const post = (body: string) =>
      send({
        method: 'POST',
        path: '/echo',
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          cookie: `access_token_cookie=${token}`,
        },
        body,
      })
    const ok = await post(`csrf_token=${csrf}&name=kept`)
    expect(ok.status).toBe(200)
    expect(ok.body).toEqual({ body: { csrf_token: csrf, name: 'kept' } })
    const wrongFirst = await post(`csrf_token=wrong&csrf_token=${csrf}`)
    expectError(wrongFirst, 403, 'ERR_CSRF')
    expect(wrongFirst.body).toMatchObject({ reason: 'mismatch' })
    expect((await post(`csrf_token=${csrf}&csrf_token=wrong`)).status).toBe(200)
    expect((await post('other=1')).body).toMatchObject({ code: 'ERR_CSRF', reason: 'missing' })
  })

  it('a JSON field named like the CSRF form field is not a form field', async () => {
    const auth = makeAuth({ csrf: { checkForm: true } })
    const token = await auth.createAccessToken({ uid: 'u1' })
    const res = await (await echoApp(auth))({
      method: 'POST',
      path: '/echo',
      headers: { 'content-type': 'application/json', cookie: `access_token_cookie=${token}` },
      body: JSON.stringify({ csrf_token: csrfOf(auth, token) }),
    })
    expectError(res, 403, 'ERR_CSRF')
  })

  it('a form body is not read for the CSRF field when the form check is off', async () => {
    const auth = makeAuth()
    const token = await auth.createAccessToken({ uid: 'u1' })
    const res = await (await echoApp(auth))({
      method: 'POST',
      path: '/echo',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        cookie: `access_token_cookie=${token}`,
      },
      body: `csrf_token=${csrfOf(auth, token)}`,
    })
    expectError(res, 403, 'ERR_CSRF')
    expect(res.body).toMatchObject({ reason: 'missing' })
  })
})

describe('fastify adapter: errors', () => {
  it('an authx error answer has the status, headers and exact body of the core', async () => {
    const auth = makeAuth()
    const send = await serve(auth)
    const res = await send({ method: 'GET', path: '/profile' })
    expect(res.status).toBe(401)
    expect(res.headers['www-authenticate']).toBe('Bearer')
    expect(res.headers['cache-control']).toBe('no-store')
    expect(res.headers['content-type']).toBe('application/json; charset=utf-8')
    const err = await auth.authenticate(new Request('http://localhost/profile')).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(MissingTokenError)
    expect(res.body).toEqual((err as MissingTokenError).toJSON())
  })

  it("a route's response schema for the error status does not reshape the authx error body", async () => {
    const auth = makeAuth()
    const send = await serve(auth, (app) =>
      app.get(
        '/schema',
        {
          preHandler: app.authx.scopesRequired('admin'),
          schema: { response: { 403: { type: 'object', properties: { code: { type: 'string' } } } } },
        },
        async () => ({ ok: true }),
      ),
    )
    const token = await auth.createAccessToken({ uid: 'u1', scopes: ['users'] })
    const res = await send({ method: 'GET', path: '/schema', headers: bearer(token) })
    expectError(res, 403, 'ERR_INSUFFICIENT_SCOPE')
    expect(res.body).toMatchObject({ required: ['admin'], provided: ['users'] })
  })

  it('a guard answers a refusal itself: error handlers of the application, even in the route scope, never see it', async () => {
    const auth = makeAuth()
    const seen: unknown[] = []
    const send = await serve(auth, (app) =>
      app.register(async (child) => {
        child.setErrorHandler((err, _request, reply) => {
          seen.push(err)
          return reply.code(418).send({ mine: true })
        })
        child.post('/child', { preHandler: child.authx.accessRequired }, async () => ({ ok: true }))
      }),
    )
    const token = await auth.createAccessToken({ uid: 'u1' })
    const res = await send({
      method: 'POST',
      path: '/child',
      headers: { cookie: `access_token_cookie=${token}` },
    })
    expectError(res, 403, 'ERR_CSRF', 'Bearer')
    expect(res.body).toMatchObject({ reason: 'missing' })
    expect(seen).toEqual([])
  })

  it('the plugin leaves the error handler to the application: one set before and one set after it handle every other error', async () => {
    for (const when of ['before', 'after'] as const) {
      const auth = makeAuth()
      const app = Fastify()
      const mine = (err: Error, _request: FastifyRequest, reply: FastifyReply) =>
        reply.code(418).send({ mine: err.message })
      if (when === 'before') app.setErrorHandler(mine)
      await app.register(fastifyAuthX, { auth })
      if (when === 'after') app.setErrorHandler(mine)
      app.get('/boom', async () => {
        throw new Error('boom')
      })
      app.get('/p', { preHandler: app.authx.accessRequired }, async () => ({ ok: true }))
      await app.ready()
      expect(app.errorHandler.name, when).toBe('bound mine')
      const send = injectSender(app)
      const boom = await send({ method: 'GET', path: '/boom' })
      expect(boom.status, when).toBe(418)
      expect(boom.body, when).toEqual({ mine: 'boom' })
      expectError(await send({ method: 'GET', path: '/p' }), 401, 'ERR_MISSING_TOKEN', 'Bearer')
    }
  })

  it('an app made with allowErrorHandlerOverride: false can set its handler before or after the plugin', async () => {
    const mine = (_err: Error, _request: FastifyRequest, reply: FastifyReply) => reply.code(418).send('mine')
    const before = Fastify({ allowErrorHandlerOverride: false })
    before.setErrorHandler(mine)
    await before.register(fastifyAuthX, { auth: makeAuth() })
    const after = Fastify({ allowErrorHandlerOverride: false })
    await after.register(fastifyAuthX, { auth: makeAuth() })
    after.setErrorHandler(mine)
    for (const app of [before, after]) {
      app.get('/boom', async () => {
        throw new Error('boom')
      })
      app.get('/p', { preHandler: app.authx.accessRequired }, async () => ({ ok: true }))
      await app.ready()
      expect((await injectSender(app)({ method: 'GET', path: '/boom' })).status).toBe(418)
      expectError(await injectSender(app)({ method: 'GET', path: '/p' }), 401, 'ERR_MISSING_TOKEN')
    }
  })

  it('authx errors of guards, ready-made routes and handlers are answered by authx, even under an error handler that answers everything', async () => {
    const auth = makeAuth()
    const seen: unknown[] = []
    const app = Fastify()
    await app.register(fastifyAuthX, { auth, errorBody: (err) => ({ error: err.code }) })
    app.setErrorHandler((err, _request, reply) => {
      seen.push(err)
      return reply.code(500).send({ swallowed: true })
    })
    app.get('/guarded', { preHandler: app.authx.scopesRequired('admin') }, async () => ({ ok: true }))
    app.post('/auth/refresh', app.authx.refreshRoute)
    app.get('/async', async (request) => {
      await auth.verifyToken(String((request.query as { t?: string }).t))
      return { ok: true }
    })
    app.get('/sync', (request) => {
      auth.decodeUnverified(String((request.query as { t?: string }).t))
      return { ok: true }
    })
    app.get('/plain', async () => {
      throw new Error('mine')
    })
    const send = injectSender(app)
    const token = await auth.createAccessToken({ uid: 'u1', scopes: ['users'] })
    const scoped = await send({ method: 'GET', path: '/guarded', headers: bearer(token) })
    expect([scoped.status, scoped.body]).toEqual([403, { error: 'ERR_INSUFFICIENT_SCOPE' }])
    expect(scoped.headers['www-authenticate']).toContain('insufficient_scope')
    const route = await send({ method: 'POST', path: '/auth/refresh' })
    expect([route.status, route.body]).toEqual([401, { error: 'ERR_MISSING_TOKEN' }])
    const rejected = await send({ method: 'GET', path: '/async?t=a.b.c' })
    expect([rejected.status, rejected.body]).toEqual([401, { error: 'ERR_INVALID_TOKEN' }])
    expect(rejected.headers['www-authenticate']).toBe('Bearer error="invalid_token"')
    expect(rejected.headers['cache-control']).toBe('no-store')
    const thrown = await send({ method: 'GET', path: '/sync?t=x' })
    expect([thrown.status, thrown.body]).toEqual([401, { error: 'ERR_INVALID_TOKEN' }])
    expect(seen).toEqual([])
    expect((await send({ method: 'GET', path: '/plain' })).body).toEqual({ swallowed: true })
    expect(seen).toHaveLength(1)
  })

  it('handlers keep their own ways of answering: a returned value, reply.send later, a hijacked reply, a route errorHandler for other errors', async () => {
    const send = await serve(makeAuth(), (app) => {
      app.get('/value', () => ({ sync: true }))
      app.get('/sync-reply', (_request, reply) => reply.code(201).send({ replied: true }))
      app.get('/async-reply', async (_request, reply) => {
        setTimeout(() => reply.send({ async: true }), 5)
        return reply
      })
      app.get('/later', (_request, reply) => {
        setTimeout(() => reply.send({ later: true }), 5)
      })
      app.get('/hijack', (_request, reply) => {
        reply.hijack()
        reply.raw.end('raw')
      })
      app.route({
        method: 'GET',
        url: '/own-handler',
        errorHandler: (_err, _request, reply) => reply.code(422).send({ route: true }),
        handler: async () => {
          throw new RangeError('out')
        },
      })
    })
    expect((await send({ method: 'GET', path: '/value' })).body).toEqual({ sync: true })
    expect((await send({ method: 'GET', path: '/later' })).body).toEqual({ later: true })
    const replied = await send({ method: 'GET', path: '/sync-reply' })
    expect([replied.status, replied.body]).toEqual([201, { replied: true }])
    expect((await send({ method: 'GET', path: '/async-reply' })).body).toEqual({ async: true })
    expect((await send({ method: 'GET', path: '/hijack' })).body).toBe('raw')
    const own = await send({ method: 'GET', path: '/own-handler' })
    expect([own.status, own.body]).toEqual([422, { route: true }])
  })

  it("an authx error raised outside authx's reach (the app's own hook) reaches the app's error handler with statusCode", async () => {
    const auth = makeAuth()
    const seen: unknown[] = []
    const send = await serve(auth, (app) =>
      app.register(async (child) => {
        child.setErrorHandler((err) => {
          seen.push(err)
          throw err
        })
        child.get(
          '/own-hook',
          {
            preHandler: async (request) => {
              await auth.verifyToken(String((request.query as { t?: string }).t))
            },
          },
          async () => ({ ok: true }),
        )
      }),
    )
    const res = await send({ method: 'GET', path: '/own-hook?t=a.b.c' })
    // Fastify's default handler answers with the error's statusCode (a getter of AuthXError).
    expect(res.status).toBe(401)
    expect(seen).toHaveLength(1)
    expect((seen[0] as { code?: string }).code).toBe('ERR_INVALID_TOKEN')
    expect((seen[0] as { statusCode: number }).statusCode).toBe(401)
    expect(Object.hasOwn(seen[0] as object, 'statusCode')).toBe(false)
    expect(new CSRFError('missing', 'X-CSRF-TOKEN').statusCode).toBe(403)
  })

  it('a user error handler in a child scope handles its own errors while authx errors are still answered', async () => {
    const auth = makeAuth()
    const send = await serve(auth, (app) =>
      app.register(async (child) => {
        child.setErrorHandler((err, _request, reply) => {
          if (err instanceof RangeError) return reply.code(422).send({ range: true })
          throw err
        })
        child.get('/range', { preHandler: child.authx.accessOptional }, async () => {
          throw new RangeError('out')
        })
        child.get('/guarded', { preHandler: child.authx.accessRequired }, async () => ({ ok: true }))
      }),
    )
    const range = await send({ method: 'GET', path: '/range' })
    expect(range.status).toBe(422)
    expect(range.body).toEqual({ range: true })
    expectError(await send({ method: 'GET', path: '/guarded' }), 401, 'ERR_MISSING_TOKEN')
  })

  it("Fastify's own 404 passes through untouched", async () => {
    const res = await (await serve(makeAuth()))({ method: 'GET', path: '/nowhere' })
    expect(res.status).toBe(404)
    expect(res.body).toMatchObject({ statusCode: 404 })
    expect(res.headers['www-authenticate']).toBeUndefined()
  })

  it('a store outage is 503 with Retry-After and no-store', async () => {
    const down = () => Promise.reject(new Error('connection refused'))
    const store: AuthXStore = { get: down, set: down, setIfAbsent: down, delete: down }
    const auth = makeAuth({ store })
    const send = await serve(auth)
    const token = await auth.createAccessToken({ uid: 'u1' })
    const res = await send({ method: 'GET', path: '/profile', headers: bearer(token) })
    expectError(res, 503, 'ERR_STORE_UNAVAILABLE')
    expect(res.headers['retry-after']).toMatch(/^\d+$/)
  })

  it('an error thrown by the subject getter reaches Fastify untouched', async () => {
    const auth = makeAuth()
    const failure = new Error('database down')
    auth.setSubjectGetter(() => {
      throw failure
    })
    const app = Fastify()
    let seen: unknown
    app.setErrorHandler((err, _request, reply) => {
      seen = err
      return reply.code(500).send({ handled: true })
    })
    await app.register(fastifyAuthX, { auth })
    app.get('/me', { preHandler: app.authx.currentSubject }, async (request) => ({
      subject: request.authxSubject,
    }))
    const token = await auth.createAccessToken({ uid: 'u1' })
    const res = await injectSender(app)({ method: 'GET', path: '/me', headers: bearer(token) })
    expect(res.status).toBe(500)
    expect(res.body).toEqual({ handled: true })
    expect(seen).toBe(failure)
    expect('statusCode' in failure).toBe(false)
  })

  it('currentSubject without a subject getter answers 500 ERR_CONFIG without configuration details', async () => {
    const auth = new AuthX({ secretKey: 'x'.repeat(40) })
    const app = Fastify()
    await app.register(fastifyAuthX, { auth })
    app.get('/me', { preHandler: app.authx.currentSubject }, async (request) => ({
      subject: request.authxSubject,
    }))
    const token = await auth.createAccessToken({ uid: 'u1' })
    const res = await injectSender(app)({ method: 'GET', path: '/me', headers: bearer(token) })
    expectError(res, 500, 'ERR_CONFIG')
    expect((res.body as { message: string }).message).not.toContain('setSubjectGetter')
  })
})

describe('fastify adapter: ready-made routes', () => {
  it('refreshRoute and logoutRoute write their whole answers: no error handler, hook or schema reshapes them', async () => {
    const auth = makeAuth()
    const send = await serve(auth, (app) =>
      app.register(async (child) => {
        child.setErrorHandler((_err, _request, reply) => reply.code(418).send('not authx'))
        child.addHook('preSerialization', async () => ({ wrapped: true }))
        const schema = {
          response: { 200: { type: 'object', properties: { token_type: { type: 'string' } } } },
        }
        child.post('/r', { schema }, child.authx.refreshRoute({ scopes: ['r'] }))
        child.post('/o', child.authx.logoutRoute())
      }),
    )
    const pair = await auth.createTokenPair({ uid: 'u1' })
    const ok = await send({ method: 'POST', path: '/r', headers: bearer(pair.refreshToken) })
    expect(ok.status).toBe(200)
    expect(ok.body).toMatchObject({ token_type: 'bearer', access_token: expect.any(String) })
    expect((await auth.verifyToken((ok.body as { access_token: string }).access_token)).scopes).toEqual(['r'])
    expectError(
      await send({ method: 'POST', path: '/r', headers: bearer('x.y.z') }),
      401,
      'ERR_INVALID_TOKEN',
    )
    const out = await send({ method: 'POST', path: '/o' })
    expect(out.status).toBe(204)
    expect(out.body).toBe('')
  })

  it("a route's cookies replace earlier ones of the same names and keep the others", async () => {
    const auth = makeAuth()
    const send = await serve(auth, (app) => {
      app.post(
        '/set-then-refresh',
        {
          preHandler: async (_request, reply) => {
            reply.header('set-cookie', ['theme=dark', 'access_token_cookie=stale; Path=/'])
          },
        },
        app.authx.refreshRoute,
      )
      app.post(
        '/set-then-logout',
        {
          preHandler: async (_request, reply) => {
            reply.header('set-cookie', 'theme=dark')
          },
        },
        app.authx.logoutRoute,
      )
    })
    const pair = await auth.createTokenPair({ uid: 'u1' })
    const res = await send({ method: 'POST', path: '/set-then-refresh', headers: bearer(pair.refreshToken) })
    expect(res.status).toBe(200)
    const cookies = setCookies(res)
    expect(cookies[0]).toBe('theme=dark')
    expect(cookies.filter((c) => c.startsWith('access_token_cookie='))).toHaveLength(1)
    expect(cookies.some((c) => c.startsWith('access_token_cookie=stale'))).toBe(false)
    const out = setCookies(await send({ method: 'POST', path: '/set-then-logout' }))
    expect(out).toEqual(['theme=dark', ...auth.unsetCookies()])
  })
})

describe('fastify adapter: encapsulation', () => {
  it('the plugin registered in a child context protects and answers for the routes of that context only', async () => {
    const auth = makeAuth()
    const app = Fastify()
    await app.register(
      async (api) => {
        await api.register(fastifyAuthX, { auth })
        api.get('/profile', { preHandler: api.authx.accessRequired }, async (request) => ({
          sub: api.authx.payload(request).sub,
        }))
        api.get('/boom', async () => {
          throw new Error('boom')
        })
      },
      { prefix: '/api' },
    )
    app.get('/public', async () => ({ decorated: app.hasDecorator('authx') }))
    const send = injectSender(app)
    const token = await auth.createAccessToken({ uid: 'u1' })
    expectError(await send({ method: 'GET', path: '/api/profile' }), 401, 'ERR_MISSING_TOKEN')
    expect((await send({ method: 'GET', path: '/api/profile', headers: bearer(token) })).body).toEqual({
      sub: 'u1',
    })
    expect((await send({ method: 'GET', path: '/api/boom' })).status).toBe(500)
    expect((await send({ method: 'GET', path: '/public' })).body).toEqual({ decorated: false })
  })

  it('registering the plugin twice in one scope is refused', async () => {
    const app = Fastify()
    await app.register(fastifyAuthX, { auth: makeAuth() })
    await expect(app.register(fastifyAuthX, { auth: makeAuth() }).ready()).rejects.toThrow()
  })
})

describe('fastify adapter: cookie helpers', () => {
  it('each helper appends exactly the Set-Cookie strings the core returns', async () => {
    const auth = makeAuth({ cookies: { maxAge: 600 } })
    const access = await auth.createAccessToken({ uid: 'u1' })
    const refresh = await auth.createRefreshToken({ uid: 'u1' })
    const send = await serve(auth, (app) => {
      const { authx } = app
      app.get('/c/access', async (_request, reply) => {
        authx.setAccessCookies(reply, access, { maxAge: 60 })
        return { ok: true }
      })
      app.get('/c/refresh', async (_request, reply) => {
        authx.setRefreshCookies(reply, refresh)
        return { ok: true }
      })
      app.get('/c/unset', async (_request, reply) => {
        authx.unsetCookies(reply)
        return { ok: true }
      })
      app.get('/c/unset-access', async (_request, reply) => {
        authx.unsetAccessCookies(reply)
        return 'ok'
      })
      app.get('/c/unset-refresh', async (_request, reply) => {
        authx.unsetRefreshCookies(reply)
        return reply.code(204).send()
      })
    })
    const cookies = async (path: string) => setCookies(await send({ method: 'GET', path }))
    expect(await cookies('/c/access')).toEqual(auth.accessCookies(access, { maxAge: 60 }))
    expect(await cookies('/c/refresh')).toEqual(auth.refreshCookies(refresh))
    expect(await cookies('/c/unset')).toEqual(auth.unsetCookies())
    expect(await cookies('/c/unset-access')).toEqual(auth.unsetAccessCookies())
    expect(await cookies('/c/unset-refresh')).toEqual(auth.unsetRefreshCookies())
  })

  it('cookie helpers keep cookies set before and after them, by reply.header and by @fastify/cookie', async () => {
    const auth = makeAuth()
    const send = await serve(auth, async (app) => {
      await app.register(cookiePlugin)
      app.get('/mixed', async (_request, reply) => {
        reply.header('set-cookie', 'theme=dark')
        app.authx.unsetAccessCookies(reply)
        reply.setCookie('lang', 'en')
        app.authx.unsetRefreshCookies(reply)
        return { ok: true }
      })
    })
    const set = setCookies(await send({ method: 'GET', path: '/mixed' }))
    expect(set.slice(0, -1)).toEqual([
      'theme=dark',
      ...auth.unsetAccessCookies(),
      ...auth.unsetRefreshCookies(),
    ])
    expect(set.at(-1)).toMatch(/^lang=en;/)
  })
})

describe('fastify adapter: implicit refresh', () => {
  it('a route inside a prefixed plugin is matched by its full path', async () => {
    const { send, cookie } = await nearExpiry({ includeRoutes: ['/api/profile'] }, (app) =>
      app.register(
        async (api) => {
          api.get('/profile', { preHandler: api.authx.accessRequired }, async (request) => ({
            sub: api.authx.payload(request).sub,
          }))
        },
        { prefix: '/api' },
      ),
    )
    const res = await send({ method: 'GET', path: '/api/profile', headers: { cookie } })
    expect(res.status).toBe(200)
    expect(renewed(res)).toHaveLength(1)
  })

  it('the renewed cookies are the core strings, added once, with the CSRF cookie', async () => {
    const { auth, send, cookie } = await nearExpiry()
    const set = setCookies(await send({ method: 'GET', path: '/profile', headers: { cookie } }))
    expect(set.map((c) => c.split('=')[0])).toEqual(['access_token_cookie', 'csrf_access_token'])
    const token = set[0]!.split(';')[0]!.slice('access_token_cookie='.length)
    expect(set).toEqual(auth.accessCookies(token))
  })

  it('needs no CSRF header and still adds the cookie to the CSRF error answer', async () => {
    const { send, cookie } = await nearExpiry()
    const res = await send({ method: 'POST', path: '/profile', headers: { cookie } })
    expectError(res, 403, 'ERR_CSRF')
    expect(renewed(res)).toHaveLength(1)
  })

  it("adds the cookie to a 500, a 404, Fastify's 400 for a broken body, a redirect and a user error handler's answer", async () => {
    const { send, cookie } = await nearExpiry({}, (app) => {
      app.get('/redirect', async (_request, reply) => reply.redirect('/profile'))
      app.register(async (child) => {
        child.setErrorHandler((_err, _request, reply) => reply.code(418).send('custom'))
        child.get('/teapot', async () => {
          throw new Error('not authx')
        })
      })
      app.post('/echo', { preHandler: app.authx.accessOptional }, async (request) => ({ body: request.body }))
    })
    const cases: [TestRequest, number][] = [
      [{ method: 'GET', path: '/boom' }, 500],
      [{ method: 'GET', path: '/nowhere' }, 404],
      [
        { method: 'POST', path: '/echo', headers: { 'content-type': 'application/json' }, body: '{broken' },
        400,
      ],
      [{ method: 'GET', path: '/redirect' }, 302],
      [{ method: 'GET', path: '/teapot' }, 418],
    ]
    for (const [request, status] of cases) {
      const res = await send({ ...request, headers: { ...request.headers, cookie } })
      expect(res.status, request.path).toBe(status)
      expect(renewed(res), request.path).toHaveLength(1)
    }
  })

  it('keeps cookies the handler sets, whether before or after it in time', async () => {
    const { send, cookie } = await nearExpiry({}, async (app) => {
      await app.register(cookiePlugin)
      app.get('/cookies', async (_request, reply) => {
        reply.header('set-cookie', 'theme=dark')
        reply.setCookie('lang', 'en')
        return { ok: true }
      })
    })
    const set = setCookies(await send({ method: 'GET', path: '/cookies', headers: { cookie } }))
    expect(set.map((c) => c.split('=')[0])).toEqual([
      'access_token_cookie',
      'csrf_access_token',
      'theme',
      'lang',
    ])
  })

  it('never renews an expired or invalid cookie token', async () => {
    const { send, cookie, advance } = await nearExpiry()
    const bad = await send({
      method: 'GET',
      path: '/optional',
      headers: { cookie: 'access_token_cookie=a.b.c' },
    })
    expect(renewed(bad)).toHaveLength(0)
    advance(10 * 60 * 1000)
    const expired = await send({ method: 'GET', path: '/profile', headers: { cookie } })
    expectError(expired, 401, 'ERR_TOKEN_EXPIRED')
    expect(renewed(expired)).toHaveLength(0)
  })
})

describe('security: implicit refresh exclusion bypass through spellings the router accepts', () => {
  async function excluded(
    path: string,
    options: FastifyServerOptions,
    excludeRoutes: string[],
    route?: string,
  ) {
    let now = Date.now()
    const auth = makeAuth({ clock: () => now, implicitRefresh: { enabled: true, excludeRoutes } })
    const app = await buildApp(
      auth,
      (a) => {
        if (route)
          a.get(route, { preHandler: a.authx.accessRequired }, async (request) => ({
            sub: a.authx.payload(request).sub,
          }))
      },
      options,
    )
    const send = injectSender(app)
    const { cookie } = await loginCookies(send)
    now += 6 * 60 * 1000
    const res = await send({ method: 'GET', path, headers: { cookie } })
    expect(res.status, path).toBe(200)
    return renewed(res).length
  }

  it('a percent-encoded path routed to an excluded static route is still excluded', async () => {
    expect(await excluded('/pro%66ile', {}, ['/profile'])).toBe(0)
    expect(await excluded('/profile', {}, ['/other'])).toBe(1)
  })

  it('another case, a trailing slash, doubled slashes or a semicolon the router ignores are still excluded', async () => {
    const routerOptions = {
      caseSensitive: false,
      ignoreTrailingSlash: true,
      ignoreDuplicateSlashes: true,
      useSemicolonDelimiter: true,
    }
    for (const path of ['/PROFILE', '/profile/', '//profile', '/profile;x=1']) {
      expect(await excluded(path, { routerOptions }, ['/profile']), path).toBe(0)
    }
  })

  it('a parametric route is matched by the decoded request path', async () => {
    expect(await excluded('/users/%34%32', {}, ['/users/42'], '/users/:id')).toBe(0)
    expect(await excluded('/users/43', {}, ['/users/42'], '/users/:id')).toBe(1)
  })
})

describe('security: a subject getter cannot skip the guard by rejecting with a non-error', () => {
  for (const [what, value] of [
    ['undefined', undefined],
    ['null', null],
    ["a string 'route'", 'route'],
    ['an object', { ok: true }],
  ] as const) {
    it(`a getter rejecting with ${what} answers 500 and never runs the handler`, async () => {
      const auth = makeAuth()
      auth.setSubjectGetter(() => Promise.reject(value))
      let ran = false
      const send = await serve(auth, (app) =>
        app.get('/guarded-me', { preHandler: app.authx.currentSubject }, async () => {
          ran = true
          return { guarded: true }
        }),
      )
      const token = await auth.createAccessToken({ uid: 'u1' })
      const res = await send({ method: 'GET', path: '/guarded-me', headers: bearer(token) })
      expect(res.status).toBe(500)
      expect(ran).toBe(false)
    })
  }
})
