import { Hono } from 'hono'
import { HTTPException } from 'hono/http-exception'
import { describe, expect, it, vi } from 'vitest'
import { honoAuthX } from '../../src/adapters/hono.js'
import { AuthX, type AuthXError, CSRFError, MissingTokenError, TokenPayload } from '../../src/index.js'
import {
  bearer,
  cookieHeader,
  expectError,
  fromResponse,
  makeAuth,
  runScenarios,
  type ScenarioAdapterOptions,
  type Send,
  type TestRequest,
  type TestResponse,
} from './scenarios.js'

/** The scenario app of test/adapters/scenarios.ts, built with Hono. */
function buildApp(auth: AuthX, options?: ScenarioAdapterOptions): Hono {
  const authx = honoAuthX(auth, options)
  const app = new Hono()
  app.use(authx.implicitRefresh)
  app.post('/login', async (c) => {
    const { uid, scopes } = await c.req.json<{ uid: string; scopes?: string[] }>()
    const pair = await auth.createTokenPair({ uid, fresh: true, ...(scopes && { scopes }) })
    authx.setAccessCookies(c, pair.accessToken)
    authx.setRefreshCookies(c, pair.refreshToken)
    return c.json({ access_token: pair.accessToken, refresh_token: pair.refreshToken })
  })
  const profile = authx.accessRequired
  app.get('/profile', profile, (c) => c.json({ sub: c.get('authx').sub, fresh: c.get('authx').fresh }))
  app.post('/profile', profile, (c) => c.json({ sub: c.get('authx').sub, fresh: c.get('authx').fresh }))
  app.post('/refresh', authx.refreshRequired, async (c) => {
    const { sub, scopes } = c.get('authx')
    const token = await auth.createAccessToken({
      uid: sub,
      fresh: false,
      ...(scopes && { scopes: [...scopes] }),
    })
    return c.json({ access_token: token })
  })
  app.post('/change-password', authx.freshRequired, (c) => c.json({ ok: true }))
  app.get('/admin', authx.scopesRequired('admin:*'), (c) => c.json({ ok: true }))
  app.get('/any', authx.anyScopeRequired('a', 'b'), (c) => c.json({ ok: true }))
  app.get('/optional', authx.accessOptional, (c) => c.json({ sub: c.get('authx')?.sub ?? null }))
  app.get('/me', authx.currentSubject, (c) => c.json({ subject: c.get('authxSubject') }))
  app.post('/logout', authx.accessRequired, async (c) => {
    await auth.revokeToken(c.get('authx'))
    authx.unsetCookies(c)
    return c.json({ ok: true })
  })
  app.post('/auth/refresh', authx.refreshRoute)
  app.post('/auth/refresh-narrow', authx.refreshRoute({ scopes: ['narrow'] }))
  app.post('/auth/logout', authx.logoutRoute)
  app.get('/payload', authx.accessRequired, (c) => c.json({ sub: authx.payload(c).sub }))
  app.post('/handler-refresh', authx.accessRequired, async (c) => {
    await auth.refresh((await c.req.json<{ refresh_token: string }>()).refresh_token)
    return c.json({ ok: true })
  })
  app.get('/boom', () => {
    throw new Error('boom')
  })
  return app
}

function sender(app: Hono): Send {
  return async ({ method, path, headers, body }: TestRequest) =>
    fromResponse(
      await app.request(`http://localhost${path}`, {
        method,
        ...(headers && { headers }),
        ...(body && { body }),
      }),
    )
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

function renewed(res: TestResponse): string[] {
  return cookies(res).filter((c) => c.startsWith('access_token_cookie='))
}

describe('hono adapter: scenario table', () => {
  runScenarios(async (auth, options) => ({ send: sender(buildApp(auth, options)) }))
})

describe('hono adapter: bodies', () => {
  function echoApp(auth: AuthX) {
    const authx = honoAuthX(auth)
    const app = new Hono()
    app.post('/echo-json', authx.accessRequired, async (c) => c.json({ body: await c.req.json() }))
    app.post('/echo-text', authx.accessRequired, async (c) => c.json({ text: await c.req.text() }))
    app.post('/echo-form', authx.accessRequired, async (c) => c.json({ form: await c.req.parseBody() }))
    app.post('/optional-echo', authx.accessOptional, async (c) => c.json({ text: await c.req.text() }))
    return app
  }

  it('the handler can still call c.req.json() after the guard read the token from the JSON body', async () => {
    const auth = makeAuth()
    const token = await auth.createAccessToken({ uid: 'u1' })
    const body = { access_token: token, note: 'kept' }
    const res = await echoApp(auth).request('/echo-json', {
      method: 'POST',
      headers: { 'content-type': 'application/json; charset=utf-8' },
      body: JSON.stringify(body),
    })
    expect(res.status).toBe(200)
    expect(await res.json()).toEqual({ body })
  })

  it('the handler reads the exact raw text of a JSON body the guard parsed', async () => {
    const auth = makeAuth()
    const token = await auth.createAccessToken({ uid: 'u1' })
    const raw = `{ "access_token" : "${token}", "n": 1 }`
    const res = await echoApp(auth).request('/echo-text', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: raw,
    })
    expect(res.status).toBe(200)
    expect(await res.json()).toEqual({ text: raw })
  })

  it('the handler can still parse a form body the guard read for the CSRF field', async () => {
    const auth = makeAuth({ csrf: { checkForm: true } })
    const token = await auth.createAccessToken({ uid: 'u1' })
    const csrf = auth.decodeUnverified(token).payload.csrf as string
    const res = await echoApp(auth).request('/echo-form', {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        cookie: `access_token_cookie=${token}`,
      },
      body: `csrf_token=${csrf}&name=kept`,
    })
    expect(res.status).toBe(200)
    expect(await res.json()).toEqual({ form: { csrf_token: csrf, name: 'kept' } })
  })

  it('a multipart form CSRF field is accepted', async () => {
    const auth = makeAuth({ csrf: { checkForm: true } })
    const token = await auth.createAccessToken({ uid: 'u1' })
    const form = new FormData()
    form.append('csrf_token', auth.decodeUnverified(token).payload.csrf as string)
    const res = await echoApp(auth).request('/echo-form', {
      method: 'POST',
      headers: { cookie: `access_token_cookie=${token}` },
      body: form,
    })
    expect(res.status).toBe(200)
  })

  it('the first of repeated form CSRF fields is the one checked', async () => {
    const auth = makeAuth({ csrf: { checkForm: true } })
    const token = await auth.createAccessToken({ uid: 'u1' })
    const csrf = auth.decodeUnverified(token).payload.csrf as string
    const send = (body: string) =>
      echoApp(auth).request('/echo-form', {
        method: 'POST',
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          cookie: `access_token_cookie=${token}`,
        },
        body,
      })
    const wrongFirst = await send(`csrf_token=wrong&csrf_token=${csrf}`)
    expect(wrongFirst.status).toBe(403)
    expect(await wrongFirst.json()).toMatchObject({ code: 'ERR_CSRF', reason: 'mismatch' })
    expect((await send(`csrf_token=${csrf}&csrf_token=wrong`)).status).toBe(200)
  })

  it('a form body is not read for a token when the form check is off', async () => {
    const auth = makeAuth()
    const token = await auth.createAccessToken({ uid: 'u1' })
    const csrf = auth.decodeUnverified(token).payload.csrf as string
    const res = await echoApp(auth).request('/echo-form', {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        cookie: `access_token_cookie=${token}`,
      },
      body: `csrf_token=${csrf}`,
    })
    expect(res.status).toBe(403)
    expect(await res.json()).toMatchObject({ code: 'ERR_CSRF', reason: 'missing' })
  })

  for (const [label, body] of [
    ['broken JSON', '{"access_token": '],
    ['an empty body', ''],
    ['a JSON array', '["x"]'],
    ['a JSON string', '"x.y.z"'],
    ['a non-string token', '{"access_token": 42}'],
  ] as const) {
    it(`a JSON body with ${label} is a missing token (401), never a 500`, async () => {
      const res = await echoApp(makeAuth()).request('/echo-json', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body,
      })
      expect(res.status).toBe(401)
      expect(await res.json()).toMatchObject({ code: 'ERR_MISSING_TOKEN' })
    })
  }

  it('a broken JSON body on an optional route leaves the body for the handler', async () => {
    const res = await echoApp(makeAuth()).request('/optional-echo', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{broken',
    })
    expect(res.status).toBe(200)
    expect(await res.json()).toEqual({ text: '{broken' })
  })

  it('a broken multipart body is not a 500', async () => {
    const auth = makeAuth({ csrf: { checkForm: true } })
    const token = await auth.createAccessToken({ uid: 'u1' })
    const res = await echoApp(auth).request('/echo-text', {
      method: 'POST',
      headers: {
        'content-type': 'multipart/form-data; boundary=zzz',
        cookie: `access_token_cookie=${token}`,
      },
      body: '--zzz\r\nbroken',
    })
    expect(res.status).toBe(403)
    expect(await res.json()).toMatchObject({ code: 'ERR_CSRF', reason: 'missing' })
  })

  it('the guard reads the JSON token only with a JSON content type', async () => {
    const auth = makeAuth()
    const token = await auth.createAccessToken({ uid: 'u1' })
    const res = await echoApp(auth).request('/echo-json', {
      method: 'POST',
      headers: { 'content-type': 'application/jsonp' },
      body: JSON.stringify({ access_token: token }),
    })
    expect(res.status).toBe(401)
  })
})

describe('hono adapter: request view', () => {
  it('the payload is the TokenPayload class of authx', async () => {
    const auth = makeAuth()
    const app = new Hono()
    const authx = honoAuthX(auth)
    app.get('/p', authx.accessRequired, (c) => c.json({ instance: c.get('authx') instanceof TokenPayload }))
    const token = await auth.createAccessToken({ uid: 'u1' })
    const res = await app.request('/p', { headers: { authorization: `Bearer ${token}` } })
    expect(await res.json()).toEqual({ instance: true })
  })

  it('the first of repeated query tokens is used', async () => {
    const auth = makeAuth()
    const send = sender(buildApp(auth))
    const token = await auth.createAccessToken({ uid: 'u1' })
    expect((await send({ method: 'GET', path: `/profile?token=${token}&token=bad` })).status).toBe(200)
    expect((await send({ method: 'GET', path: `/profile?token=bad&token=${token}` })).status).toBe(401)
  })

  it('badly percent-encoded query and cookie values are 401, not 500', async () => {
    const send = sender(buildApp(makeAuth()))
    expect((await send({ method: 'GET', path: '/profile?token=%E0%A4%A' })).status).toBe(401)
    const cookie = await send({
      method: 'GET',
      path: '/profile',
      headers: { cookie: 'access_token_cookie=%E0%A4%A' },
    })
    expect(cookie.status).toBe(401)
  })

  it('tokenRequired honours its options (locations, type)', async () => {
    const auth = makeAuth()
    const authx = honoAuthX(auth)
    const app = new Hono()
    app.get('/header-only', authx.tokenRequired({ locations: ['headers'] }), (c) => c.json({ ok: true }))
    app.get('/refresh-only', authx.tokenRequired({ type: 'refresh' }), (c) =>
      c.json({ sub: c.get('authx').sub }),
    )
    const access = await auth.createAccessToken({ uid: 'u1' })
    const refresh = await auth.createRefreshToken({ uid: 'u2' })
    const inQuery = await app.request(`/header-only?token=${access}`)
    expect(inQuery.status).toBe(401)
    expect(await inQuery.json()).toMatchObject({ code: 'ERR_MISSING_TOKEN' })
    expect(
      (await app.request('/header-only', { headers: { authorization: `Bearer ${access}` } })).status,
    ).toBe(200)
    const res = await app.request('/refresh-only', { headers: { authorization: `Bearer ${refresh}` } })
    expect(await res.json()).toEqual({ sub: 'u2' })
    expect(
      (await app.request('/refresh-only', { headers: { authorization: `Bearer ${access}` } })).status,
    ).toBe(401)
  })

  it('a guard mounted in a sub-app sees the full path for implicit refresh routes', async () => {
    let now = Date.now()
    const auth = makeAuth({
      clock: () => now,
      implicitRefresh: { enabled: true, includeRoutes: ['/api/profile'] },
    })
    const authx = honoAuthX(auth)
    const api = new Hono()
    api.get('/profile', authx.accessRequired, (c) => c.json({ sub: c.get('authx').sub }))
    const app = new Hono()
    app.use(authx.implicitRefresh)
    app.route('/api', api)
    const token = await auth.createAccessToken({ uid: 'u1' })
    now += 6 * 60 * 1000
    const res = await fromResponse(
      await app.request('/api/profile', { headers: { cookie: `access_token_cookie=${token}` } }),
    )
    expect(res.status).toBe(200)
    expect(renewed(res)).toHaveLength(1)
  })
})

describe('hono adapter: errors', () => {
  it('a guard throws an HTTPException whose response is the full error answer and whose cause is the AuthX error', async () => {
    const auth = makeAuth()
    const authx = honoAuthX(auth)
    const app = new Hono()
    const seen: unknown[] = []
    app.onError((err, c) => {
      seen.push(err)
      return err instanceof HTTPException ? err.getResponse() : c.text('other', 500)
    })
    app.get('/p', authx.accessRequired, (c) => c.json({ ok: true }))
    const res = await app.request('/p')
    expect(res.status).toBe(401)
    expect(res.headers.get('www-authenticate')).toBe('Bearer')
    expect(res.headers.get('cache-control')).toBe('no-store')
    expect(res.headers.get('content-type')).toContain('application/json')
    expect(await res.json()).toMatchObject({ code: 'ERR_MISSING_TOKEN' })
    expect(seen).toHaveLength(1)
    const err = seen[0] as HTTPException
    expect(err).toBeInstanceOf(HTTPException)
    expect(err.status).toBe(401)
    expect(err.cause).toBeInstanceOf(MissingTokenError)
  })

  it('a CSRF failure keeps its AuthX cause and reason', async () => {
    const auth = makeAuth()
    const authx = honoAuthX(auth)
    const app = new Hono()
    let cause: unknown
    app.onError((err) => {
      cause = err.cause
      return (err as HTTPException).getResponse()
    })
    app.post('/p', authx.accessRequired, (c) => c.json({ ok: true }))
    const token = await auth.createAccessToken({ uid: 'u1' })
    const res = await app.request('/p', {
      method: 'POST',
      headers: { cookie: `access_token_cookie=${token}` },
    })
    expect(res.status).toBe(403)
    expect(cause).toBeInstanceOf(CSRFError)
    expect((cause as CSRFError).reason).toBe('missing')
  })

  it('a store outage is 503 with Retry-After and no-store', async () => {
    const auth = makeAuth({
      revocation: {
        isRevoked: () => {
          throw new Error('down')
        },
      },
    })
    const send = sender(buildApp(auth))
    const token = await auth.createAccessToken({ uid: 'u1' })
    const res = await send({ method: 'GET', path: '/profile', headers: { authorization: `Bearer ${token}` } })
    expect(res.status).toBe(503)
    expect((res.body as { code: string }).code).toBe('ERR_STORE_UNAVAILABLE')
    expect(res.headers['retry-after']).toMatch(/^\d+$/)
    expect(res.headers['cache-control']).toBe('no-store')
  })

  it('an error thrown by the subject getter reaches Hono untouched', async () => {
    const auth = makeAuth()
    const failure = new Error('database down')
    auth.setSubjectGetter(() => {
      throw failure
    })
    const authx = honoAuthX(auth)
    const app = new Hono()
    let seen: unknown
    app.onError((err, c) => {
      seen = err
      return c.text('handled', 500)
    })
    app.get('/me', authx.currentSubject, (c) => c.json({ subject: c.get('authxSubject') }))
    const token = await auth.createAccessToken({ uid: 'u1' })
    const res = await app.request('/me', { headers: { authorization: `Bearer ${token}` } })
    expect(res.status).toBe(500)
    expect(seen).toBe(failure)
  })

  it('currentSubject without a subject getter answers 500 without configuration details', async () => {
    const auth = new AuthX({ secretKey: 'x'.repeat(40) })
    const app = new Hono()
    app.get('/me', honoAuthX(auth).currentSubject, (c) => c.json({ subject: c.get('authxSubject') }))
    const token = await auth.createAccessToken({ uid: 'u1' })
    const res = await app.request('/me', { headers: { authorization: `Bearer ${token}` } })
    expect(res.status).toBe(500)
    const body = (await res.json()) as { code: string; message: string }
    expect(body.code).toBe('ERR_CONFIG')
    expect(body.message).not.toContain('setSubjectGetter')
  })
})

describe('hono adapter: cookie helpers', () => {
  it('each helper appends exactly the Set-Cookie strings the core returns', async () => {
    const auth = makeAuth({ cookies: { maxAge: 600 } })
    const authx = honoAuthX(auth)
    const app = new Hono()
    const access = await auth.createAccessToken({ uid: 'u1' })
    const refresh = await auth.createRefreshToken({ uid: 'u1' })
    app.get('/access', (c) => {
      authx.setAccessCookies(c, access, { maxAge: 60 })
      return c.json({ ok: true })
    })
    app.get('/refresh', (c) => {
      authx.setRefreshCookies(c, refresh)
      return c.json({ ok: true })
    })
    app.get('/unset', (c) => {
      authx.unsetCookies(c)
      return c.json({ ok: true })
    })
    app.get('/unset-access', (c) => {
      authx.unsetAccessCookies(c)
      return c.text('ok')
    })
    app.get('/unset-refresh', (c) => {
      authx.unsetRefreshCookies(c)
      return c.body(null, 204)
    })
    const setCookies = async (path: string) => (await app.request(path)).headers.getSetCookie()
    expect(await setCookies('/access')).toEqual(auth.accessCookies(access, { maxAge: 60 }))
    expect(await setCookies('/refresh')).toEqual(auth.refreshCookies(refresh))
    expect(await setCookies('/unset')).toEqual(auth.unsetCookies())
    expect(await setCookies('/unset-access')).toEqual(auth.unsetAccessCookies())
    expect(await setCookies('/unset-refresh')).toEqual(auth.unsetRefreshCookies())
  })

  it('cookie helpers keep cookies the handler set and work after the response exists', async () => {
    const auth = makeAuth()
    const authx = honoAuthX(auth)
    const app = new Hono()
    app.use(async (c, next) => {
      await next()
      authx.unsetRefreshCookies(c)
    })
    app.get('/', (c) => {
      c.header('Set-Cookie', 'theme=dark', { append: true })
      authx.unsetAccessCookies(c)
      return c.json({ ok: true })
    })
    const res = await app.request('/')
    expect(res.headers.getSetCookie()).toEqual([
      'theme=dark',
      ...auth.unsetAccessCookies(),
      ...auth.unsetRefreshCookies(),
    ])
  })
})

describe('hono adapter: implicit refresh', () => {
  it('the renewed cookies are the core strings, added once, with the CSRF cookie', async () => {
    let now = Date.now()
    const auth = makeAuth({ clock: () => now, implicitRefresh: { enabled: true } })
    const send = sender(buildApp(auth))
    const { cookie } = await loginCookies(send)
    now += 6 * 60 * 1000
    const res = await send({ method: 'GET', path: '/profile', headers: { cookie } })
    const set = cookies(res)
    expect(set.map((c) => c.split('=')[0])).toEqual(['access_token_cookie', 'csrf_access_token'])
    const token = set[0]!.split(';')[0]!.slice('access_token_cookie='.length)
    expect(set).toEqual(auth.accessCookies(token))
  })

  it('needs no CSRF header and still adds the cookie to the CSRF error answer', async () => {
    let now = Date.now()
    const auth = makeAuth({ clock: () => now, implicitRefresh: { enabled: true } })
    const send = sender(buildApp(auth))
    const { cookie } = await loginCookies(send)
    now += 6 * 60 * 1000
    const res = await send({ method: 'POST', path: '/profile', headers: { cookie } })
    expect(res.status).toBe(403)
    expect(renewed(res)).toHaveLength(1)
  })

  it('adds the cookie to a non-AuthX 500 answer, to a redirect with immutable headers and to a custom onError answer', async () => {
    let now = Date.now()
    const auth = makeAuth({ clock: () => now, implicitRefresh: { enabled: true } })
    const authx = honoAuthX(auth)
    const app = buildApp(auth)
    app.get('/redirect', () => Response.redirect('http://localhost/profile', 302))
    const custom = new Hono()
    custom.use(authx.implicitRefresh)
    custom.onError(() => new Response('custom', { status: 418 }))
    custom.get('/admin', authx.scopesRequired('admin'), (c) => c.json({ ok: true }))
    const send = sender(app)
    const { cookie } = await loginCookies(send)
    now += 6 * 60 * 1000
    const boom = await send({ method: 'GET', path: '/boom', headers: { cookie } })
    expect(boom.status).toBe(500)
    expect(renewed(boom)).toHaveLength(1)
    const redirect = await send({ method: 'GET', path: '/redirect', headers: { cookie } })
    expect(redirect.status).toBe(302)
    expect(renewed(redirect)).toHaveLength(1)
    const teapot = await sender(custom)({ method: 'GET', path: '/admin', headers: { cookie } })
    expect(teapot.status).toBe(418)
    expect(renewed(teapot)).toHaveLength(1)
  })

  it('never renews an expired or invalid cookie token', async () => {
    let now = Date.now()
    const auth = makeAuth({ clock: () => now, implicitRefresh: { enabled: true } })
    const send = sender(buildApp(auth))
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
  it('a percent-encoded path that Hono routes to an excluded route is still excluded', async () => {
    let now = Date.now()
    const auth = makeAuth({
      clock: () => now,
      implicitRefresh: { enabled: true, excludeRoutes: ['/profile'] },
    })
    const send = sender(buildApp(auth))
    const { cookie } = await loginCookies(send)
    now += 6 * 60 * 1000
    const res = await send({ method: 'GET', path: '/pro%66ile', headers: { cookie } })
    expect(res.status).toBe(200)
    expect(renewed(res)).toHaveLength(0)
  })

  it('a trailing slash a non-strict app routes to an excluded route is still excluded', async () => {
    let now = Date.now()
    const auth = makeAuth({
      clock: () => now,
      implicitRefresh: { enabled: true, excludeRoutes: ['/auth/logout'] },
    })
    const authx = honoAuthX(auth)
    const app = new Hono({ strict: false })
    app.use(authx.implicitRefresh)
    app.get('/auth/logout', (c) => c.json({ routed: true }))
    app.get('/other', (c) => c.json({ routed: true }))
    const pair = await auth.createTokenPair({ uid: 'u1' })
    const cookie = `access_token_cookie=${pair.accessToken}`
    now += 6 * 60 * 1000
    const excluded = await app.request('/auth/logout/', { headers: { cookie } })
    expect(await excluded.json()).toEqual({ routed: true })
    expect(excluded.headers.getSetCookie()).toHaveLength(0)
    const other = await app.request('/other/', { headers: { cookie } })
    expect(other.headers.getSetCookie().some((c) => c.startsWith('access_token_cookie='))).toBe(true)
  })
})

describe('hono: authx.onError', () => {
  it('answers an authx error thrown inside a handler (auth.refresh on a reused token) with its JSON, not a 500', async () => {
    const auth = makeAuth()
    const authx = honoAuthX(auth)
    const app = new Hono()
    app.onError(authx.onError)
    const { refreshToken } = await auth.createTokenPair({ uid: 'u1' })
    await auth.refresh(refreshToken)
    app.post('/refresh', async (c) => c.json(await auth.refresh(refreshToken)))
    app.get('/boom', () => {
      throw new Error('boom')
    })
    const res = await app.request('/refresh', { method: 'POST' })
    expect(res.status).toBe(401)
    expect(await res.json()).toMatchObject({ code: 'ERR_REFRESH_TOKEN_REUSED' })
    expect(res.headers.get('www-authenticate')).toBe('Bearer error="invalid_token"')
    const spy = vi.spyOn(console, 'error').mockImplementation(() => {})
    expect((await app.request('/boom')).status).toBe(500)
    spy.mockRestore()
  })

  it('reshapes the body with the adapter errorBody, keeping status and headers', async () => {
    const auth = makeAuth()
    const authx = honoAuthX(auth, { errorBody: (err) => ({ error: err.code }) })
    const app = new Hono()
    app.onError(authx.onError)
    const { refreshToken } = await auth.createTokenPair({ uid: 'u1' })
    await auth.refresh(refreshToken)
    app.post('/refresh', async (c) => c.json(await auth.refresh(refreshToken)))
    const res = await app.request('/refresh', { method: 'POST' })
    expect(res.status).toBe(401)
    expect(res.headers.get('www-authenticate')).toBe('Bearer error="invalid_token"')
    expect(res.headers.get('cache-control')).toBe('no-store')
    expect(await res.json()).toEqual({ error: 'ERR_REFRESH_TOKEN_REUSED' })
  })
})

describe('hono adapter: misuse and options', () => {
  it('a guard called as a function (authx.accessRequired()) throws a TypeError where the route is defined', () => {
    const authx = honoAuthX(makeAuth())
    const misuse = authx.accessRequired as unknown as () => void
    expect(() => misuse()).toThrow(/without calling it/)
    expect(() => (authx.scopesRequired('a') as unknown as () => void)()).toThrow(TypeError)
    expect(() => (authx.accessOptional as unknown as () => void)()).toThrow(TypeError)
    expect(() => (authx.currentSubject as unknown as () => void)()).toThrow(TypeError)
    expect(() => (authx.implicitRefresh as unknown as () => void)()).toThrow(TypeError)
    expect(() => new Hono().get('/x', misuse() as never)).toThrow(TypeError)
  })

  it('a ready-made route called without a context throws a TypeError at once', () => {
    const authx = honoAuthX(makeAuth())
    const route = authx.refreshRoute({ scopes: ['a'] }) as unknown as () => unknown
    expect(() => route()).toThrow(/authx\.refreshRoute/)
    expect(() => (authx.logoutRoute() as unknown as () => unknown)()).toThrow(TypeError)
    expect(() => (authx.logoutRoute as unknown as (a: unknown, b: unknown) => unknown)(1, 2)).toThrow(
      TypeError,
    )
  })

  it('options are checked where the adapter and its guards are made', () => {
    const auth = makeAuth()
    expect(() => honoAuthX(auth, { errorbody: () => ({}) } as never)).toThrow(/unknown option 'errorbody'/)
    expect(() => honoAuthX(auth, { errorBody: 'x' as never })).toThrow(TypeError)
    const authx = honoAuthX(auth)
    expect(() => authx.tokenRequired({ freshh: true } as never)).toThrow(/unknown option 'freshh'/)
    expect(() => authx.tokenRequired({ optional: true } as never)).toThrow(/accessOptional/)
    expect(() => authx.scopesRequired(['admin:*'] as never)).toThrow(/separate arguments/)
    expect(() => authx.anyScopeRequired(['a'] as never)).toThrow(TypeError)
    expect(() => authx.refreshRoute({ scope: ['a'] } as never)).toThrow(/unknown option 'scope'/)
    expect(() => authx.logoutRoute({ all: true } as never)).toThrow(/unknown option 'all'/)
  })

  it('payload(c) throws on a route without a guard (a programming error, answered 500 by Hono)', async () => {
    const auth = makeAuth()
    const authx = honoAuthX(auth)
    const app = new Hono()
    app.get('/open', (c) => c.json({ sub: authx.payload(c).sub }))
    app.get('/optional', authx.accessOptional, (c) => c.json({ sub: authx.payload(c).sub }))
    const seen: unknown[] = []
    app.onError((err, c) => {
      seen.push(err)
      return c.text('error', 500)
    })
    expect((await app.request('/open')).status).toBe(500)
    expect((await app.request('/optional')).status).toBe(500)
    expect(seen.map((err) => (err as Error).message)).toEqual([
      expect.stringMatching(/no authx guard/),
      expect.stringMatching(/no authx guard/),
    ])
  })
})

describe('hono adapter: authx errors thrown behind a guard', () => {
  /** An app whose handlers, behind guards, call auth.refresh with a refresh token already used. */
  async function reuseApp(options?: ScenarioAdapterOptions, extra?: (app: Hono) => void) {
    const auth = makeAuth()
    const authx = honoAuthX(auth, options)
    const app = new Hono()
    extra?.(app)
    const access = await auth.createAccessToken({ uid: 'u1', scopes: ['a'] })
    const reuse = async () => {
      const { refreshToken } = await auth.createTokenPair({ uid: 'u1' })
      await auth.refresh(refreshToken)
      await auth.refresh(refreshToken) // reuse: ERR_REFRESH_TOKEN_REUSED
      return new Response('unreachable')
    }
    app.post('/one', authx.accessRequired, reuse)
    app.post('/nested', authx.implicitRefresh, authx.accessRequired, authx.scopesRequired('a'), reuse)
    app.post('/optional', authx.accessOptional, reuse)
    app.post('/subject', authx.currentSubject, reuse)
    app.post('/boom', authx.accessRequired, () => {
      throw new Error('boom')
    })
    const send = async (path: string, headers: Record<string, string> = {}) =>
      fromResponse(await app.request(path, { method: 'POST', headers: { ...bearer(access), ...headers } }))
    return { app, send, authx }
  }

  const quiet = () => vi.spyOn(console, 'error').mockImplementation(() => {})

  it('is answered with authx status, headers and body without app.onError, behind any guard', async () => {
    const spy = quiet()
    const { send } = await reuseApp()
    for (const path of ['/one', '/nested', '/optional', '/subject']) {
      const res = await send(path)
      expectError(res, 401, 'ERR_REFRESH_TOKEN_REUSED', 'Bearer error="invalid_token"')
      expect(res.headers['content-type']).toContain('application/json')
    }
    spy.mockRestore()
  })

  it('applies errorBody, with app.onError(authx.onError) or without it', async () => {
    const errorBody = (err: AuthXError) => ({ error: err.code })
    const bare = await reuseApp({ errorBody })
    const withHandler = await reuseApp({ errorBody }, (app) =>
      app.onError(honoAuthX(makeAuth(), { errorBody }).onError),
    )
    const spy = quiet()
    for (const { send } of [bare, withHandler]) {
      const res = await send('/one')
      expect(res.status).toBe(401)
      expect(res.body).toEqual({ error: 'ERR_REFRESH_TOKEN_REUSED' })
      expect(res.headers['cache-control']).toBe('no-store')
    }
    spy.mockRestore()
  })

  it("keeps headers set before the error (CORS, cookies) while authx's own headers win", async () => {
    const spy = quiet()
    const { send } = await reuseApp(undefined, (app) =>
      app.use(async (c, next) => {
        c.header('Access-Control-Allow-Origin', 'https://app.example')
        c.header('Cache-Control', 'public, max-age=60')
        c.header('Set-Cookie', 'theme=dark', { append: true })
        await next()
      }),
    )
    const res = await send('/one')
    expectError(res, 401, 'ERR_REFRESH_TOKEN_REUSED')
    expect(res.headers['access-control-allow-origin']).toBe('https://app.example')
    expect(res.headers['set-cookie']).toEqual(['theme=dark'])
    spy.mockRestore()
  })

  it('replaces a custom app.onError answer to an authx error, and leaves other errors to it', async () => {
    const { send } = await reuseApp(undefined, (app) => app.onError((_err, c) => c.text('custom', 418)))
    expectError(await send('/one'), 401, 'ERR_REFRESH_TOKEN_REUSED')
    const boom = await send('/boom')
    expect(boom.status).toBe(418)
    expect(boom.body).toBe('custom')
  })

  it('guard errors still reach app.onError as HTTPExceptions carrying the errorBody answer', async () => {
    const auth = makeAuth()
    const authx = honoAuthX(auth, { errorBody: (err) => ({ error: err.code }) })
    const app = new Hono()
    let seen: unknown
    app.onError((err) => {
      seen = err
      return (err as HTTPException).getResponse()
    })
    app.get('/p', authx.accessRequired, (c) => c.json({ ok: true }))
    const res = await app.request('/p')
    expect(seen).toBeInstanceOf(HTTPException)
    expect(res.status).toBe(401)
    expect(await res.json()).toEqual({ error: 'ERR_MISSING_TOKEN' })
  })
})

describe('hono adapter: ready-made routes', () => {
  it("keep headers set before them, authx's cookies and headers winning", async () => {
    const auth = makeAuth()
    const authx = honoAuthX(auth)
    const app = new Hono()
    app.use(async (c, next) => {
      c.header('Set-Cookie', 'theme=dark', { append: true })
      c.header('Set-Cookie', 'access_token_cookie=stale', { append: true })
      c.header('Cache-Control', 'public, max-age=60')
      c.header('X-Request-Id', 'r1')
      await next()
    })
    app.post('/auth/refresh', authx.refreshRoute)
    app.post('/auth/logout', authx.logoutRoute)
    const pair = await auth.createTokenPair({ uid: 'u1' })
    const res = await fromResponse(
      await app.request('/auth/refresh', { method: 'POST', headers: bearer(pair.refreshToken) }),
    )
    expect(res.status).toBe(200)
    expect(res.headers['cache-control']).toBe('no-store')
    expect(res.headers['x-request-id']).toBe('r1')
    const set = cookies(res)
    expect(set[0]).toBe('theme=dark')
    expect(set.filter((c) => c.startsWith('access_token_cookie='))).toEqual([
      expect.stringContaining((res.body as { access_token: string }).access_token),
    ])
    const out = await fromResponse(await app.request('/auth/logout', { method: 'POST' }))
    expect(out.status).toBe(204)
    expect(out.body).toBe('')
    expect(out.headers['content-type']).toBeUndefined()
    expect(cookies(out)).toEqual(['theme=dark', ...auth.unsetCookies()])
  })

  it('answer their errors themselves, without app.onError, with the errorBody', async () => {
    const auth = makeAuth()
    const authx = honoAuthX(auth, { errorBody: (err) => ({ error: err.code }) })
    const app = new Hono()
    app.onError((_err, c) => c.text('not used', 418))
    app.post('/auth/refresh', authx.refreshRoute)
    const res = await fromResponse(await app.request('/auth/refresh', { method: 'POST' }))
    expect(res.status).toBe(401)
    expect(res.body).toEqual({ error: 'ERR_MISSING_TOKEN' })
    expect(res.headers['www-authenticate']).toBe('Bearer')
  })

  it('work when a handler delegates to them, and pass non-authx errors to app.onError', async () => {
    const auth = makeAuth()
    const authx = honoAuthX(auth)
    const app = new Hono()
    let seen: unknown
    app.onError((err, c) => {
      seen = err
      return c.text('handled', 500)
    })
    const failure = new Error('lookup failed')
    const failing = authx.refreshRoute({
      data: () => {
        throw failure
      },
    })
    app.post('/delegate', (c) => authx.refreshRoute(c))
    app.post('/failing', failing)
    const send = sender(app)
    const ok = await send({
      method: 'POST',
      path: '/delegate',
      headers: bearer(await auth.createRefreshToken({ uid: 'u1' })),
    })
    expect(ok.status).toBe(200)
    expect(ok.body).toMatchObject({ token_type: 'bearer' })
    const res = await send({
      method: 'POST',
      path: '/failing',
      headers: bearer(await auth.createRefreshToken({ uid: 'u2' })),
    })
    expect(res.status).toBe(500)
    expect(res.body).toBe('handled')
    expect(seen).toBe(failure)
  })
})
