import { describe, expect, it } from 'vitest'
import { webAuthX, withAuthXErrors } from '../../src/adapters/web.js'
import {
  AuthX,
  ConfigError,
  FreshTokenRequiredError,
  MissingTokenError,
  RefreshTokenReusedError,
  TokenPayload,
} from '../../src/index.js'
import {
  cookieHeader,
  fromResponse,
  makeAuth,
  runScenarios,
  type ScenarioAdapterOptions,
  type Send,
  type TestRequest,
  type TestResponse,
} from './scenarios.js'

type Handler = (req: Request) => Promise<Response>

/**
 * A tiny platform: a Map from `METHOD path` to a handler, 404 for anything else, and a 500 of its
 * own for a thrown error (recorded in `thrown`), as Next.js, Bun or Workers would answer.
 */
function platform(routes: Record<string, Handler>): { handle: Handler; thrown: unknown[] } {
  const table = new Map(Object.entries(routes))
  const thrown: unknown[] = []
  const handle = async (req: Request) => {
    const route = table.get(`${req.method} ${new URL(req.url).pathname}`)
    if (route === undefined) return new Response('not found', { status: 404 })
    try {
      return await route(req)
    } catch (err) {
      thrown.push(err)
      return new Response('internal error', { status: 500 })
    }
  }
  return { handle, thrown }
}

const boom = new Error('boom')

/** The scenario app of test/adapters/scenarios.ts, built from wrapped Web handlers. */
function buildApp(auth: AuthX, options?: ScenarioAdapterOptions) {
  const authx = webAuthX(auth, options)
  const profile = authx.accessRequired(async (_req, payload) =>
    Response.json({ sub: payload.sub, fresh: payload.fresh }),
  )
  const routes: Record<string, Handler> = {
    'POST /login': async (req) => {
      const { uid, scopes } = (await req.json()) as { uid: string; scopes?: string[] }
      const pair = await auth.createTokenPair({ uid, fresh: true, ...(scopes && { scopes }) })
      const res = Response.json({ access_token: pair.accessToken, refresh_token: pair.refreshToken })
      return authx.setRefreshCookies(authx.setAccessCookies(res, pair.accessToken), pair.refreshToken)
    },
    'GET /profile': profile,
    'POST /profile': profile,
    'POST /refresh': authx.refreshRequired(async (_req, { sub, scopes }) =>
      Response.json({
        access_token: await auth.createAccessToken({
          uid: sub,
          fresh: false,
          ...(scopes && { scopes: [...scopes] }),
        }),
      }),
    ),
    'POST /change-password': authx.freshRequired(() => Response.json({ ok: true })),
    'GET /admin': authx.scopesRequired('admin:*')(() => Response.json({ ok: true })),
    'GET /any': authx.anyScopeRequired('a', 'b')(() => Response.json({ ok: true })),
    'GET /optional': authx.accessOptional((_req, payload) => Response.json({ sub: payload?.sub ?? null })),
    'GET /me': authx.currentSubject((_req, _payload, subject) => Response.json({ subject })),
    'POST /logout': authx.accessRequired(async (_req, payload) => {
      await auth.revokeToken(payload)
      return authx.unsetCookies(Response.json({ ok: true }))
    }),
    'GET /boom': authx.accessOptional(() => {
      throw boom
    }),
    'POST /auth/refresh': authx.refreshRoute,
    'POST /auth/refresh-narrow': authx.refreshRoute({ scopes: ['narrow'] }),
    'POST /auth/logout': authx.logoutRoute,
    'GET /payload': authx.accessRequired((req) => Response.json({ sub: authx.payload(req).sub })),
    'POST /handler-refresh': authx.accessRequired(async (req) => {
      await auth.refresh(((await req.json()) as { refresh_token: string }).refresh_token)
      return Response.json({ ok: true })
    }),
  }
  // Every route under implicitRefresh, as `app.use(authx.implicitRefresh)` does elsewhere.
  for (const key of Object.keys(routes)) routes[key] = authx.implicitRefresh(routes[key]!)
  return platform(routes)
}

function request({ method, path, headers, body }: TestRequest): Request {
  return new Request(`http://localhost${path}`, {
    method,
    ...(headers && { headers }),
    ...(body && { body }),
  })
}

function sender(handle: Handler): Send {
  return async (req) => fromResponse(await handle(request(req)))
}

function cookies(res: TestResponse): string[] {
  const value = res.headers['set-cookie']
  return value === undefined ? [] : Array.isArray(value) ? value : [value]
}

async function loginCookies(send: Send, uid = 'user1'): Promise<{ access: string; cookie: string }> {
  const res = await send({
    method: 'POST',
    path: '/login',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ uid }),
  })
  return { access: (res.body as { access_token: string }).access_token, cookie: cookieHeader(cookies(res)) }
}

function renewed(res: TestResponse | Response): string[] {
  const all = res instanceof Response ? res.headers.getSetCookie() : cookies(res)
  return all.filter((c) => c.startsWith('access_token_cookie='))
}

const bearer = (token: string) => ({ authorization: `Bearer ${token}` })

describe('web adapter: scenario table', () => {
  runScenarios(async (auth, options) => ({ send: sender(buildApp(auth, options).handle) }))

  it('the 500 of /boom is the platform answering the very error the handler threw', async () => {
    const app = buildApp(makeAuth())
    const res = await app.handle(new Request('http://localhost/boom'))
    expect(res.status).toBe(500)
    expect(app.thrown).toHaveLength(1)
    expect(app.thrown[0]).toBe(boom)
  })

  it('an unknown route is the platform 404, not an authx answer', async () => {
    const res = await buildApp(makeAuth()).handle(new Request('http://localhost/nowhere'))
    expect(res.status).toBe(404)
  })
})

describe('web adapter: bodies', () => {
  const auth = makeAuth({ csrf: { checkForm: true } })
  const authx = webAuthX(auth)

  it('the handler can still read the JSON body after the guard read the token from it', async () => {
    const token = await auth.createAccessToken({ uid: 'u1' })
    const raw = `{ "access_token" : "${token}", "note": "kept" }`
    const handler = authx.accessRequired(async (req, payload) =>
      Response.json({ sub: payload.sub, text: await req.text() }),
    )
    const res = await handler(
      new Request('http://localhost/p', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: raw,
      }),
    )
    expect(res.status).toBe(200)
    expect(await res.json()).toEqual({ sub: 'u1', text: raw })
  })

  it('the handler can still parse a form body the guard read for the CSRF field', async () => {
    const token = await auth.createAccessToken({ uid: 'u1' })
    const csrf = auth.decodeUnverified(token).payload.csrf as string
    const handler = authx.accessRequired(async (req) =>
      Response.json(Object.fromEntries(await req.formData())),
    )
    const res = await handler(
      new Request('http://localhost/p', {
        method: 'POST',
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          cookie: `access_token_cookie=${token}`,
        },
        body: `csrf_token=${csrf}&name=kept`,
      }),
    )
    expect(res.status).toBe(200)
    expect(await res.json()).toEqual({ csrf_token: csrf, name: 'kept' })
  })

  for (const [label, body] of [
    ['broken JSON', '{"access_token": '],
    ['an empty body', ''],
    ['a JSON array', '["x"]'],
    ['a non-string token', '{"access_token": 42}'],
  ] as const) {
    it(`a JSON body with ${label} is a missing token (401), and an optional route leaves it to the handler`, async () => {
      const init = { method: 'POST', headers: { 'content-type': 'application/json' }, body }
      const required = await authx.accessRequired(() => Response.json({ ok: true }))(
        new Request('http://l/p', init),
      )
      expect(required.status).toBe(401)
      expect(await required.json()).toMatchObject({ code: 'ERR_MISSING_TOKEN' })
      const optional = authx.accessOptional(async (req, payload) =>
        Response.json({ payload, text: await req.text() }),
      )
      expect(await (await optional(new Request('http://l/p', init))).json()).toEqual({
        payload: null,
        text: body,
      })
    })
  }

  it('a broken multipart body is a CSRF failure, not a 500', async () => {
    const token = await auth.createAccessToken({ uid: 'u1' })
    const res = await authx.accessRequired(() => Response.json({ ok: true }))(
      new Request('http://localhost/p', {
        method: 'POST',
        headers: {
          'content-type': 'multipart/form-data; boundary=zzz',
          cookie: `access_token_cookie=${token}`,
        },
        body: '--zzz\r\nbroken',
      }),
    )
    expect(res.status).toBe(403)
    expect(await res.json()).toMatchObject({ code: 'ERR_CSRF', reason: 'missing' })
  })
})

describe('web adapter: handlers and errors', () => {
  it('arguments after the request reach the handler after the payload (and after the subject)', async () => {
    const auth = makeAuth()
    const authx = webAuthX(auth)
    const token = await auth.createAccessToken({ uid: 'u1' })
    const context = { params: Promise.resolve({ id: '42' }) }
    const seen: unknown[] = []
    const guarded = authx.accessRequired(async (_req, payload, ctx: typeof context, extra: string) => {
      seen.push(payload.sub, (await ctx.params).id, extra)
      return new Response('ok')
    })
    const subject = authx.implicitRefresh(
      authx.currentSubject(async (_req, payload, user, ctx: typeof context) => {
        seen.push(payload instanceof TokenPayload, user, ctx)
        return new Response('ok')
      }),
    )
    const req = () => new Request('http://localhost/p', { headers: bearer(token) })
    expect((await guarded(req(), context, 'x')).status).toBe(200)
    expect((await subject(req(), context)).status).toBe(200)
    expect(seen).toEqual(['u1', '42', 'x', true, { id: 'u1', name: 'user u1' }, context])
  })

  it('the first of repeated query tokens is used, and badly encoded query or cookie values are 401, not 500', async () => {
    const auth = makeAuth()
    const send = sender(buildApp(auth).handle)
    const token = await auth.createAccessToken({ uid: 'u1' })
    expect((await send({ method: 'GET', path: `/profile?token=${token}&token=bad` })).status).toBe(200)
    expect((await send({ method: 'GET', path: `/profile?token=bad&token=${token}` })).status).toBe(401)
    expect((await send({ method: 'GET', path: '/profile?token=%E0%A4%A' })).status).toBe(401)
    const cookie = { cookie: 'access_token_cookie=%E0%A4%A' }
    expect((await send({ method: 'GET', path: '/profile', headers: cookie })).status).toBe(401)
  })

  it('tokenRequired honours its options (locations, type)', async () => {
    const auth = makeAuth()
    const authx = webAuthX(auth)
    const headerOnly = authx.tokenRequired({ locations: ['headers'] })(() => new Response('ok'))
    const refreshOnly = authx.tokenRequired({ type: 'refresh' })((_req, p) => Response.json({ sub: p.sub }))
    const access = await auth.createAccessToken({ uid: 'u1' })
    const refresh = await auth.createRefreshToken({ uid: 'u2' })
    const inQuery = await headerOnly(new Request(`http://l/p?token=${access}`))
    expect(inQuery.status).toBe(401)
    expect(await inQuery.json()).toMatchObject({ code: 'ERR_MISSING_TOKEN' })
    expect((await headerOnly(new Request('http://l/p', { headers: bearer(access) }))).status).toBe(200)
    expect(await (await refreshOnly(new Request('http://l/p', { headers: bearer(refresh) }))).json()).toEqual(
      { sub: 'u2' },
    )
    expect((await refreshOnly(new Request('http://l/p', { headers: bearer(access) }))).status).toBe(401)
  })

  it('an authx error thrown by a guarded handler is answered like a guard failure', async () => {
    const auth = makeAuth()
    const token = await auth.createAccessToken({ uid: 'u1' })
    const handler = webAuthX(auth).accessRequired(() => {
      throw new FreshTokenRequiredError()
    })
    const res = await handler(new Request('http://l/p', { headers: bearer(token) }))
    expect(res.status).toBe(401)
    expect(res.headers.get('www-authenticate')).toBe('Bearer error="insufficient_user_authentication"')
    expect(res.headers.get('cache-control')).toBe('no-store')
    expect(await res.json()).toMatchObject({ code: 'ERR_FRESH_TOKEN_REQUIRED' })
  })

  it('an error thrown by the subject getter is rethrown untouched', async () => {
    const auth = makeAuth()
    const failure = new Error('database down')
    auth.setSubjectGetter(() => {
      throw failure
    })
    const token = await auth.createAccessToken({ uid: 'u1' })
    const handler = webAuthX(auth).currentSubject(() => new Response('never'))
    await expect(handler(new Request('http://l/p', { headers: bearer(token) }))).rejects.toBe(failure)
  })

  it('an error thrown by a handler under implicitRefresh is rethrown untouched', async () => {
    const failure = new TypeError('bug')
    const handler = webAuthX(makeAuth({ implicitRefresh: { enabled: true } })).implicitRefresh(() => {
      throw failure
    })
    await expect(handler(new Request('http://l/p'))).rejects.toBe(failure)
  })

  it('currentSubject without a subject getter answers 500 without configuration details', async () => {
    const auth = new AuthX({ secretKey: 'x'.repeat(40) })
    const token = await auth.createAccessToken({ uid: 'u1' })
    const res = await webAuthX(auth).currentSubject(() => new Response('never'))(
      new Request('http://l/p', { headers: bearer(token) }),
    )
    expect(res.status).toBe(500)
    const body = (await res.json()) as { code: string; message: string }
    expect(body.code).toBe('ERR_CONFIG')
    expect(body.message).not.toContain('setSubjectGetter')
  })

  it('a store outage is 503 with Retry-After and no-store', async () => {
    const auth = makeAuth({
      revocation: {
        isRevoked: () => {
          throw new Error('down')
        },
      },
    })
    const token = await auth.createAccessToken({ uid: 'u1' })
    const res = await fromResponse(
      await buildApp(auth).handle(new Request('http://l/profile', { headers: bearer(token) })),
    )
    expect(res.status).toBe(503)
    expect((res.body as { code: string }).code).toBe('ERR_STORE_UNAVAILABLE')
    expect(res.headers['retry-after']).toMatch(/^\d+$/)
    expect(res.headers['cache-control']).toBe('no-store')
  })
})

describe('web adapter: definitions, options and payload', () => {
  it('a wrapper called without a handler (authx.accessRequired()) throws a TypeError where the route is defined', () => {
    const authx = webAuthX(makeAuth())
    const call = (wrapper: unknown) => () => (wrapper as () => unknown)()
    for (const wrapper of [
      authx.accessRequired,
      authx.refreshRequired,
      authx.freshRequired,
      authx.accessOptional,
      authx.currentSubject,
      authx.implicitRefresh,
      authx.scopesRequired('a'),
      authx.anyScopeRequired('a'),
      authx.tokenRequired({ type: 'refresh' }),
      withAuthXErrors,
    ]) {
      expect(call(wrapper)).toThrow(TypeError)
    }
    expect(call(authx.accessRequired)).toThrow(/authx\.accessRequired wraps a handler/)
    expect(() => (authx.scopesRequired('a') as (h: unknown) => unknown)({ not: 'a function' })).toThrow(
      /authx\.scopesRequired wraps a handler/,
    )
  })

  it('options are checked where the adapter, its guards and its routes are made', () => {
    const auth = makeAuth()
    expect(() => webAuthX(auth, { errorbody: () => ({}) } as never)).toThrow(/unknown option 'errorbody'/)
    expect(() => webAuthX(auth, { errorBody: 'x' as never })).toThrow(TypeError)
    const authx = webAuthX(auth)
    expect(() => authx.tokenRequired({ freshh: true } as never)).toThrow(/unknown option 'freshh'/)
    expect(() => authx.tokenRequired({ optional: true } as never)).toThrow(/unknown option 'optional'/)
    expect(() => authx.tokenRequired({ fresh: 'yes' } as never)).toThrow(TypeError)
    expect(() => authx.scopesRequired(['admin:*'] as never)).toThrow(/separate arguments/)
    expect(() => authx.anyScopeRequired()).toThrow(TypeError)
    expect(() => authx.refreshRoute({ scope: ['a'] } as never)).toThrow(/unknown option 'scope'/)
    expect(() => authx.logoutRoute({ all: true } as never)).toThrow(/unknown option 'all'/)
  })

  it('payload(req) is the very payload the guard passed, on that Request object only', async () => {
    const auth = makeAuth()
    const authx = webAuthX(auth)
    const token = await auth.createAccessToken({ uid: 'u1' })
    let same = false
    const req = new Request('http://l/p', { headers: bearer(token) })
    const res = await authx.accessRequired((r, payload) => {
      same = authx.payload(r) === payload && r === req
      return new Response('ok')
    })(req)
    expect(res.status).toBe(200)
    expect(same).toBe(true)
    expect(authx.payload(req)).toBeInstanceOf(TokenPayload)
    expect(() => authx.payload(new Request(req))).toThrow(/no authx guard/)
    // Another instance (another key, perhaps) never reads what this one verified.
    expect(() => webAuthX(auth).payload(req)).toThrow(/no authx guard/)
  })

  it('payload(req) throws on a route without a guard (the platform answers 500) and after accessOptional without a token', async () => {
    const authx = webAuthX(makeAuth())
    expect(() => authx.payload(new Request('http://l/p'))).toThrow(/no authx guard/)
    const app = platform({
      'GET /open': async (req) => Response.json(authx.payload(req)),
      'GET /maybe': authx.accessOptional((req) => Response.json(authx.payload(req))),
    })
    for (const path of ['/open', '/maybe']) {
      expect((await app.handle(new Request(`http://l${path}`))).status).toBe(500)
    }
    expect(app.thrown).toHaveLength(2)
    for (const err of app.thrown) {
      expect(err).toBeInstanceOf(Error)
      expect(err).not.toBeInstanceOf(TypeError)
    }
  })

  it('currentSubject records the payload for payload(req) too', async () => {
    const auth = makeAuth()
    const authx = webAuthX(auth)
    const token = await auth.createAccessToken({ uid: 'u3' })
    const res = await authx.currentSubject((req, _payload, subject) =>
      Response.json({ sub: authx.payload(req).sub, subject }),
    )(new Request('http://l/p', { headers: bearer(token) }))
    expect(await res.json()).toEqual({ sub: 'u3', subject: { id: 'u3', name: 'user u3' } })
  })
})

describe('web adapter: ready-made routes', () => {
  it('refreshRoute is the handler when the platform calls it with the request and its own arguments', async () => {
    const auth = makeAuth()
    const authx = webAuthX(auth)
    const pair = await auth.createTokenPair({ uid: 'u1' })
    const post = (token: string) =>
      new Request('http://l/auth/refresh', { method: 'POST', headers: bearer(token) })
    // Next.js passes a route context, Workers pass env and ctx.
    const nextjs = await authx.refreshRoute(post(pair.refreshToken), { params: Promise.resolve({}) })
    expect(nextjs.status).toBe(200)
    const rotated = (await nextjs.json()) as { refresh_token: string }
    const workers = await authx.refreshRoute(post(rotated.refresh_token), {}, { waitUntil() {} })
    expect(workers.status).toBe(200)
    expect(workers.headers.get('cache-control')).toBe('no-store')
  })

  it('refreshRoute options reach the answer: tokensInBody false keeps the tokens in the cookies only', async () => {
    const auth = makeAuth()
    const pair = await auth.createTokenPair({ uid: 'u1' })
    const res = await webAuthX(auth).refreshRoute({ tokensInBody: false })(
      new Request('http://l/r', { method: 'POST', headers: bearer(pair.refreshToken) }),
    )
    expect(res.status).toBe(200)
    const body = (await res.json()) as Record<string, unknown>
    expect(body.token_type).toBe('bearer')
    expect(body).not.toHaveProperty('refresh_token')
    expect(renewed(res)).toHaveLength(1)
  })

  it('a non-authx error inside a route (a throwing scopes function) is rethrown to the platform', async () => {
    const auth = makeAuth()
    const failure = new Error('scopes lookup failed')
    const pair = await auth.createTokenPair({ uid: 'u1' })
    const route = webAuthX(auth).refreshRoute({
      scopes: () => {
        throw failure
      },
    })
    await expect(
      route(new Request('http://l/r', { method: 'POST', headers: bearer(pair.refreshToken) })),
    ).rejects.toBe(failure)
  })

  it('logoutRoute under implicitRefresh leaves exactly one access cookie: the deletion', async () => {
    let now = Date.now()
    const auth = makeAuth({ clock: () => now, implicitRefresh: { enabled: true } })
    const send = sender(buildApp(auth).handle)
    const { access, cookie } = await loginCookies(send)
    now += 6 * 60 * 1000 // within implicit refresh's window
    const csrf = auth.decodeUnverified(access).payload.csrf as string
    const res = await send({
      method: 'POST',
      path: '/auth/logout',
      headers: { cookie, 'x-csrf-token': csrf },
    })
    expect(res.status).toBe(204)
    expect(res.body).toBe('')
    const accessCookies = renewed(res)
    expect(accessCookies).toHaveLength(1)
    expect(accessCookies[0]).toContain('Max-Age=0')
    expect(cookies(res)).toEqual(auth.unsetCookies())
  })

  it('errorBody shapes handler errors, implicitRefresh errors and the logout 503, which keeps its cookies', async () => {
    const auth = makeAuth()
    const errorBody = (err: { code: string }) => ({ failed: err.code })
    const authx = webAuthX(auth, { errorBody })
    const token = await auth.createAccessToken({ uid: 'u1' })
    const thrown = await authx.accessRequired(() => {
      throw new FreshTokenRequiredError()
    })(new Request('http://l/p', { headers: bearer(token) }))
    expect(thrown.status).toBe(401)
    expect(thrown.headers.get('www-authenticate')).toBe('Bearer error="insufficient_user_authentication"')
    expect(await thrown.json()).toEqual({ failed: 'ERR_FRESH_TOKEN_REQUIRED' })
    const inner = await authx.implicitRefresh(() => {
      throw new MissingTokenError(['headers'])
    })(new Request('http://l/p'))
    expect(await inner.json()).toEqual({ failed: 'ERR_MISSING_TOKEN' })
    const store = auth.store as { set: unknown }
    store.set = () => Promise.reject(new Error('down'))
    const out = await authx.logoutRoute(new Request('http://l/o', { method: 'POST', headers: bearer(token) }))
    expect(out.status).toBe(503)
    expect(out.headers.get('retry-after')).toBe('1')
    expect(await out.json()).toEqual({ failed: 'ERR_STORE_UNAVAILABLE' })
    expect(out.headers.getSetCookie()).toEqual(auth.unsetCookies())
  })
})

describe('web adapter: withAuthXErrors', () => {
  it('turns a thrown authx error into its response and passes arguments through', async () => {
    const auth = makeAuth()
    const handler = withAuthXErrors(async (req: Request, tag: string) => {
      if (tag === 'reused') throw new RefreshTokenReusedError()
      const payload = await auth.authenticate(req)
      return Response.json({ sub: payload?.sub, tag })
    })
    const missing = await handler(new Request('http://l/p'), 'x')
    expect(missing.status).toBe(401)
    expect(missing.headers.get('www-authenticate')).toBe('Bearer')
    expect(await missing.json()).toMatchObject({ code: 'ERR_MISSING_TOKEN' })
    const reused = await handler(new Request('http://l/p'), 'reused')
    expect(reused.headers.get('www-authenticate')).toBe('Bearer error="invalid_token"')
    const token = await auth.createAccessToken({ uid: 'u1' })
    expect(await (await handler(new Request('http://l/p', { headers: bearer(token) }), 'x')).json()).toEqual({
      sub: 'u1',
      tag: 'x',
    })
  })

  it('rethrows every other error untouched, including non-Error values', async () => {
    const failure = new Error('db')
    await expect(withAuthXErrors(() => Promise.reject(failure))(new Request('http://l/p'))).rejects.toBe(
      failure,
    )
    await expect(
      withAuthXErrors(() => {
        throw 'string'
      })(new Request('http://l/p')),
    ).rejects.toBe('string')
    // A ConfigError is an authx error: answered 500 with a generic message.
    const config = await withAuthXErrors(() => {
      throw new ConfigError('secret detail')
    })(new Request('http://l/p'))
    expect(config.status).toBe(500)
    expect(await config.text()).not.toContain('secret detail')
  })
})

describe('web adapter: cookie helpers', () => {
  it('each helper appends exactly the strings the core returns, to Headers and to a Response', async () => {
    const auth = makeAuth({ cookies: { maxAge: 600 } })
    const authx = webAuthX(auth)
    const access = await auth.createAccessToken({ uid: 'u1' })
    const refresh = await auth.createRefreshToken({ uid: 'u1' })
    const cases = [
      [
        (t: Headers | Response) => authx.setAccessCookies(t, access, { maxAge: 60 }),
        auth.accessCookies(access, { maxAge: 60 }),
      ],
      [(t: Headers | Response) => authx.setRefreshCookies(t, refresh), auth.refreshCookies(refresh)],
      [(t: Headers | Response) => authx.unsetCookies(t), auth.unsetCookies()],
      [(t: Headers | Response) => authx.unsetAccessCookies(t), auth.unsetAccessCookies()],
      [(t: Headers | Response) => authx.unsetRefreshCookies(t), auth.unsetRefreshCookies()],
    ] as const
    for (const [write, expected] of cases) {
      const headers = new Headers({ 'set-cookie': 'theme=dark' })
      expect(write(headers)).toBe(headers)
      expect(headers.getSetCookie()).toEqual(['theme=dark', ...expected])
      const res = Response.json({ ok: true }, { headers: { 'set-cookie': 'theme=dark' } })
      expect(write(res)).toBe(res)
      expect(res.headers.getSetCookie()).toEqual(['theme=dark', ...expected])
    }
  })

  it('a Response with immutable headers comes back as a copy with the same status and headers plus the cookies', async () => {
    const auth = makeAuth()
    const authx = webAuthX(auth)
    const token = await auth.createAccessToken({ uid: 'u1' })
    const redirect = Response.redirect('http://localhost/home', 303)
    expect(() => redirect.headers.append('x-probe', '1')).toThrow(TypeError)
    const out = authx.setAccessCookies(redirect, token)
    expect(out).not.toBe(redirect)
    expect(out.status).toBe(303)
    expect(out.headers.get('location')).toBe('http://localhost/home')
    expect(out.headers.getSetCookie()).toEqual(auth.accessCookies(token))
  })

  it('a network-error Response, which cannot be copied, is returned as it is', () => {
    const error = Response.error()
    expect(webAuthX(makeAuth()).unsetCookies(error)).toBe(error)
  })
})

describe('web adapter: implicit refresh', () => {
  it('the renewed cookies are the core strings, added once, with the CSRF cookie', async () => {
    let now = Date.now()
    const auth = makeAuth({ clock: () => now, implicitRefresh: { enabled: true } })
    const send = sender(buildApp(auth).handle)
    const { cookie } = await loginCookies(send)
    now += 6 * 60 * 1000
    const set = cookies(await send({ method: 'GET', path: '/profile', headers: { cookie } }))
    expect(set.map((c) => c.split('=')[0])).toEqual(['access_token_cookie', 'csrf_access_token'])
    const token = set[0]!.split(';')[0]!.slice('access_token_cookie='.length)
    expect(set).toEqual(auth.accessCookies(token))
  })

  it('needs no CSRF header and still adds the cookie to the CSRF error answer', async () => {
    let now = Date.now()
    const auth = makeAuth({ clock: () => now, implicitRefresh: { enabled: true } })
    const send = sender(buildApp(auth).handle)
    const { cookie } = await loginCookies(send)
    now += 6 * 60 * 1000
    const res = await send({ method: 'POST', path: '/profile', headers: { cookie } })
    expect(res.status).toBe(403)
    expect(renewed(res)).toHaveLength(1)
  })

  it('adds the cookies to an immutable Response.redirect by copying it', async () => {
    let now = Date.now()
    const auth = makeAuth({ clock: () => now, implicitRefresh: { enabled: true } })
    const authx = webAuthX(auth)
    const token = await auth.createAccessToken({ uid: 'u1' })
    now += 6 * 60 * 1000
    const handler = authx.implicitRefresh(() => Response.redirect('http://localhost/next', 302))
    const res = await handler(
      new Request('http://localhost/go', { headers: { cookie: `access_token_cookie=${token}` } }),
    )
    expect(res.status).toBe(302)
    expect(res.headers.get('location')).toBe('http://localhost/next')
    expect(renewed(res)).toHaveLength(1)
  })

  it('adds the cookies to a fetched response (immutable headers, streamed body) without losing its body', async () => {
    let now = Date.now()
    const auth = makeAuth({ clock: () => now, implicitRefresh: { enabled: true } })
    const token = await auth.createAccessToken({ uid: 'u1' })
    now += 6 * 60 * 1000
    const fetched = await fetch('data:application/json,{"upstream":true}')
    expect(() => fetched.headers.append('x-probe', '1')).toThrow(TypeError)
    const res = await webAuthX(auth).implicitRefresh(() => fetched)(
      new Request('http://localhost/proxy', { headers: { cookie: `access_token_cookie=${token}` } }),
    )
    expect(res).not.toBe(fetched)
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toBe('application/json')
    expect(renewed(res)).toHaveLength(1)
    expect(await res.json()).toEqual({ upstream: true })
  })

  it('adds the cookies to an authx error thrown by the wrapped handler', async () => {
    let now = Date.now()
    const auth = makeAuth({ clock: () => now, implicitRefresh: { enabled: true } })
    const token = await auth.createAccessToken({ uid: 'u1' })
    now += 6 * 60 * 1000
    const res = await webAuthX(auth).implicitRefresh(() => {
      throw new MissingTokenError(['headers'])
    })(new Request('http://localhost/x', { headers: { cookie: `access_token_cookie=${token}` } }))
    expect(res.status).toBe(401)
    expect(renewed(res)).toHaveLength(1)
  })

  it('never renews an expired or invalid cookie token', async () => {
    let now = Date.now()
    const auth = makeAuth({ clock: () => now, implicitRefresh: { enabled: true } })
    const send = sender(buildApp(auth).handle)
    const { cookie } = await loginCookies(send)
    const bad = await send({
      method: 'GET',
      path: '/optional',
      headers: { cookie: 'access_token_cookie=a.b.c' },
    })
    expect(renewed(bad)).toHaveLength(0)
    now += 16 * 60 * 1000
    const expired = await send({ method: 'GET', path: '/profile', headers: { cookie } })
    expect(expired.status).toBe(401)
    expect(renewed(expired)).toHaveLength(0)
  })
})

describe('security: exclusion bypass through path encoding', () => {
  async function renewedAt(path: string, implicitRefresh: Record<string, unknown>): Promise<number> {
    let now = Date.now()
    const auth = makeAuth({ clock: () => now, implicitRefresh: { enabled: true, ...implicitRefresh } })
    const token = await auth.createAccessToken({ uid: 'u1' })
    now += 6 * 60 * 1000
    // A platform that decodes the path before routing, as Next.js does: the handler runs.
    const handler = webAuthX(auth).implicitRefresh(() => Response.json({ ok: true }))
    const res = await handler(
      new Request(`http://localhost${path}`, { headers: { cookie: `access_token_cookie=${token}` } }),
    )
    return renewed(res).length
  }

  it('a percent-encoded path is matched decoded, so it cannot slip past an excluded route', async () => {
    expect(await renewedAt('/logout', { excludeRoutes: ['/logout'] })).toBe(0)
    expect(await renewedAt('/log%6Fut', { excludeRoutes: ['/logout'] })).toBe(0)
    expect(await renewedAt('/log%6Fut', { includeRoutes: ['/logout'] })).toBe(1)
  })

  it('an encoded slash stays encoded and a malformed escape is left as sent, never a 500', async () => {
    expect(await renewedAt('/a%2Fb', { excludeRoutes: ['/a/b'] })).toBe(1)
    expect(await renewedAt('/a%E0%A4%A', { excludeRoutes: ['/a'] })).toBe(1)
  })
})
