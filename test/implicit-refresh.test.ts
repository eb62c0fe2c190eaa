/**
 * Implicit refresh of cookie sessions (SPEC section 6, "Implicit refresh"; catalogue E03, F08).
 * `auth.implicitRefreshCookies(request)` is the framework-free core the adapters call.
 */
import { createHmac } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import {
  AuthX,
  type AuthXOptions,
  type AuthXRequest,
  type AuthXStore,
  FreshTokenRequiredError,
  MemoryStore,
  type RequestLike,
} from '../src/index.js'

const SECRET = 'implicit-refresh-secret-0123456789abcdef'
const START = 1_700_000_000_000
const MINUTE = 60_000

interface Spec {
  method?: string
  url?: string
  cookie?: string
  headers?: Record<string, string>
}

function web(spec: Spec): Request {
  const headers = new Headers(spec.headers)
  if (spec.cookie !== undefined) headers.set('cookie', spec.cookie)
  return new Request(new URL(spec.url ?? '/api', 'https://app.test'), {
    method: spec.method ?? 'GET',
    headers,
  })
}

function view(spec: Spec): AuthXRequest {
  const url = new URL(spec.url ?? '/api', 'https://app.test')
  const cookies = new Map<string, string>()
  for (const pair of (spec.cookie ?? '').split(';')) {
    const eq = pair.indexOf('=')
    if (eq > 0) cookies.set(pair.slice(0, eq).trim(), pair.slice(eq + 1).trim())
  }
  const headers = new Map(Object.entries(spec.headers ?? {}).map(([k, v]) => [k.toLowerCase(), v]))
  return {
    method: spec.method ?? 'GET',
    path: url.pathname,
    header: (name) => headers.get(name.toLowerCase()),
    cookie: (name) => cookies.get(name),
    query: (name) => url.searchParams.get(name) ?? undefined,
    json: async () => undefined,
    form: async () => undefined,
  }
}

const KINDS: [string, (spec: Spec) => RequestLike][] = [
  ['Web Request', web],
  ['request view', view],
]

function setup(implicitRefresh: AuthXOptions['implicitRefresh'] = {}, options: AuthXOptions = {}) {
  let now = START
  const clock = () => now
  const auth = new AuthX({
    secretKey: SECRET,
    tokenLocation: ['cookies', 'headers'],
    accessTokenExpires: '15m',
    implicitRefresh: { enabled: true, within: '10m', ...implicitRefresh },
    clock,
    store: new MemoryStore({ clock }),
    ...options,
  })
  return {
    auth,
    advance(ms: number) {
      now += ms
    },
  }
}

/** The new access token in the Set-Cookie values, or undefined. */
function newToken(cookies: string[]): string | undefined {
  const cookie = cookies.find((c) => c.startsWith('access_token_cookie='))
  return cookie?.slice('access_token_cookie='.length).split(';')[0]
}

/** A login whose access token is 6 minutes from its 15-minute expiry once `advance` ran. */
async function nearExpiry(auth: AuthX, advance: (ms: number) => void, options = {}) {
  const pair = await auth.createTokenPair({
    uid: 'u1',
    fresh: true,
    scopes: ['users:read', 'admin:*'],
    data: { role: 'admin', tenant: { id: 7 } },
    ...options,
  })
  advance(9 * MINUTE)
  return pair
}

describe.each(KINDS)('implicitRefreshCookies (%s)', (_kind, make) => {
  it('returns [] when implicit refresh is disabled', async () => {
    const { auth, advance } = setup({ enabled: false })
    const { accessToken } = await nearExpiry(auth, advance)
    expect(await auth.implicitRefreshCookies(make({ cookie: `access_token_cookie=${accessToken}` }))).toEqual(
      [],
    )
  })

  it('is disabled by default', async () => {
    const auth = new AuthX({ secretKey: SECRET, tokenLocation: ['cookies'] })
    const token = await auth.createAccessToken({ uid: 'u1', expiry: 5 })
    expect(await auth.implicitRefreshCookies(make({ cookie: `access_token_cookie=${token}` }))).toEqual([])
  })

  it('returns [] for a token far from expiry', async () => {
    const { auth, advance } = setup()
    const { accessToken } = await auth.createTokenPair({ uid: 'u1' })
    advance(4 * MINUTE) // 11 minutes left, within is 10
    expect(await auth.implicitRefreshCookies(make({ cookie: `access_token_cookie=${accessToken}` }))).toEqual(
      [],
    )
  })

  it('refreshes a token exactly `within` from expiry, not one second earlier', async () => {
    const { auth, advance } = setup()
    const token = await auth.createAccessToken({ uid: 'u1' })
    const req = () => make({ cookie: `access_token_cookie=${token}` })
    advance(5 * MINUTE - 1000)
    expect(await auth.implicitRefreshCookies(req())).toEqual([])
    advance(1000)
    expect(await auth.implicitRefreshCookies(req())).toHaveLength(2)
  })

  it('sets a new access cookie and CSRF cookie for a valid token within `within`', async () => {
    const { auth, advance } = setup()
    const { accessToken } = await nearExpiry(auth, advance)
    const cookies = await auth.implicitRefreshCookies(make({ cookie: `access_token_cookie=${accessToken}` }))
    const token = newToken(cookies)
    expect(token).toBeDefined()
    expect(token).not.toBe(accessToken)
    expect(cookies).toEqual(auth.accessCookies(token!))
    const csrf = auth.decodeUnverified(token!).payload.csrf
    expect(cookies[1]).toMatch(new RegExp(`^csrf_access_token=${csrf};`))
    expect(csrf).not.toBe(auth.decodeUnverified(accessToken).payload.csrf)
  })

  it('keeps sub, scopes, fid and custom data; the new token is not fresh and has a full lifetime', async () => {
    // Python AuthX's implicit refresh mints a token from the subject alone and loses the rest.
    const { auth, advance } = setup()
    const { accessToken } = await nearExpiry(auth, advance)
    const old = await auth.verifyToken(accessToken)
    const token = newToken(
      await auth.implicitRefreshCookies(make({ cookie: `access_token_cookie=${accessToken}` })),
    )!
    const payload = await auth.verifyToken(token)
    expect(payload.sub).toBe('u1')
    expect(payload.type).toBe('access')
    expect(payload.fresh).toBe(false)
    expect(payload.scopes).toEqual(['users:read', 'admin:*'])
    expect(payload.fid).toBe(old.fid)
    expect(payload.fid).toBeDefined()
    expect(payload.extra).toEqual({ role: 'admin', tenant: { id: 7 } })
    expect(payload.jti).not.toBe(old.jti)
    expect(payload.exp).toBe(Math.floor((START + 9 * MINUTE) / 1000) + 15 * 60)
    // A refreshed token never passes a fresh-only route (E03).
    await expect(auth.verifyToken(token, { fresh: true })).rejects.toBeInstanceOf(FreshTokenRequiredError)
    // The family link still works: revoking the family ends the refreshed token too.
    await auth.revokeFamily(old.fid!)
    await expect(auth.verifyToken(token)).rejects.toMatchObject({ code: 'ERR_TOKEN_REVOKED' })
  })

  it('keeps the audience of the token instead of widening it to the instance audience', async () => {
    const { auth, advance } = setup({}, { audience: ['api1', 'api2'] })
    const token = await auth.createAccessToken({ uid: 'u1', audience: 'api2' })
    advance(9 * MINUTE)
    const next = newToken(
      await auth.implicitRefreshCookies(make({ cookie: `access_token_cookie=${token}` })),
    )!
    // A cookie narrowed to api2 must not come back valid for api1 as well (E10).
    expect(auth.decodeUnverified(next).payload.aud).toBe('api2')
  })

  it('keeps an empty scopes list and leaves out scopes that were absent', async () => {
    const { auth, advance } = setup()
    const empty = await auth.createAccessToken({ uid: 'u1', scopes: [] })
    const none = await auth.createAccessToken({ uid: 'u1' })
    advance(9 * MINUTE)
    const a = newToken(await auth.implicitRefreshCookies(make({ cookie: `access_token_cookie=${empty}` })))!
    const b = newToken(await auth.implicitRefreshCookies(make({ cookie: `access_token_cookie=${none}` })))!
    expect(auth.decodeUnverified(a).payload.scopes).toEqual([])
    expect(auth.decodeUnverified(b).payload).not.toHaveProperty('scopes')
    expect(auth.decodeUnverified(b).payload).not.toHaveProperty('fid')
  })

  it('needs no CSRF header on a POST: it only reads', async () => {
    const { auth, advance } = setup()
    const { accessToken } = await nearExpiry(auth, advance)
    const cookies = await auth.implicitRefreshCookies(
      make({ method: 'POST', cookie: `access_token_cookie=${accessToken}` }),
    )
    expect(newToken(cookies)).toBeDefined()
  })

  it('returns [] without an access cookie, and never refreshes a header token', async () => {
    const { auth, advance } = setup()
    const { accessToken } = await nearExpiry(auth, advance)
    expect(await auth.implicitRefreshCookies(make({}))).toEqual([])
    expect(await auth.implicitRefreshCookies(make({ cookie: 'access_token_cookie=' }))).toEqual([])
    expect(
      await auth.implicitRefreshCookies(make({ headers: { authorization: `Bearer ${accessToken}` } })),
    ).toEqual([])
  })
})

describe.each(KINDS)('security: implicit refresh never revives a dead token (%s)', (_kind, make) => {
  it('never refreshes a revoked token (F08)', async () => {
    const { auth, advance } = setup()
    const { accessToken } = await nearExpiry(auth, advance)
    await auth.revokeToken(accessToken)
    expect(await auth.implicitRefreshCookies(make({ cookie: `access_token_cookie=${accessToken}` }))).toEqual(
      [],
    )
  })

  it('never refreshes a token whose family or subject was revoked (logout near expiry)', async () => {
    const family = setup()
    const a = await nearExpiry(family.auth, family.advance)
    await family.auth.revokeFamily(family.auth.decodeUnverified(a.refreshToken).payload.fid as string)
    expect(
      await family.auth.implicitRefreshCookies(make({ cookie: `access_token_cookie=${a.accessToken}` })),
    ).toEqual([])
    const subject = setup()
    const b = await nearExpiry(subject.auth, subject.advance)
    await subject.auth.revokeAllForSubject('u1')
    expect(
      await subject.auth.implicitRefreshCookies(make({ cookie: `access_token_cookie=${b.accessToken}` })),
    ).toEqual([])
  })

  it('never refreshes a token the revocation callback revokes', async () => {
    const { auth, advance } = setup({}, { revocation: { isRevoked: () => true } })
    const token = await auth.createAccessToken({ uid: 'u1' })
    advance(9 * MINUTE)
    expect(await auth.implicitRefreshCookies(make({ cookie: `access_token_cookie=${token}` }))).toEqual([])
  })

  it('never refreshes when the store cannot say whether the token is revoked', async () => {
    const down: AuthXStore = {
      get: async () => {
        throw new Error('down')
      },
      set: async () => {},
      setIfAbsent: async () => true,
      delete: async () => {},
    }
    const { auth, advance } = setup({}, { store: down })
    const token = await auth.createAccessToken({ uid: 'u1' })
    advance(9 * MINUTE)
    expect(await auth.implicitRefreshCookies(make({ cookie: `access_token_cookie=${token}` }))).toEqual([])
  })

  it('never refreshes an expired token', async () => {
    const { auth, advance } = setup()
    const token = await auth.createAccessToken({ uid: 'u1' })
    advance(15 * MINUTE)
    expect(await auth.implicitRefreshCookies(make({ cookie: `access_token_cookie=${token}` }))).toEqual([])
    advance(10 * MINUTE)
    expect(await auth.implicitRefreshCookies(make({ cookie: `access_token_cookie=${token}` }))).toEqual([])
  })

  it('never refreshes a token expired past the leeway', async () => {
    const { auth, advance } = setup({}, { verify: { leeway: 30 } })
    const token = await auth.createAccessToken({ uid: 'u1' })
    advance(15 * MINUTE + 30_000)
    expect(await auth.implicitRefreshCookies(make({ cookie: `access_token_cookie=${token}` }))).toEqual([])
  })

  it('never refreshes an invalid token', async () => {
    const { auth, advance } = setup()
    const token = await auth.createAccessToken({ uid: 'u1' })
    advance(9 * MINUTE)
    const [header, payload] = token.split('.')
    const forged = `${header}.${payload}.${createHmac('sha256', 'attacker-secret-0123456789abcdef')
      .update(`${header}.${payload}`)
      .digest('base64url')}`
    const other = await new AuthX({ secretKey: 'another-secret-0123456789abcdef-xyz' }).createAccessToken({
      uid: 'u1',
      expiry: 60,
    })
    for (const bad of [forged, other, 'garbage', 'a.b.c', `${token}x`]) {
      expect(await auth.implicitRefreshCookies(make({ cookie: `access_token_cookie=${bad}` }))).toEqual([])
    }
  })

  it('never refreshes a refresh token placed in the access cookie', async () => {
    const { auth, advance } = setup({ within: '30d' })
    const refresh = await auth.createRefreshToken({ uid: 'u1' })
    advance(MINUTE)
    expect(await auth.implicitRefreshCookies(make({ cookie: `access_token_cookie=${refresh}` }))).toEqual([])
  })
})

describe.each(KINDS)('routes and methods (%s)', (_kind, make) => {
  async function cookieFor(options: AuthXOptions['implicitRefresh']) {
    const { auth, advance } = setup(options)
    const token = await auth.createAccessToken({ uid: 'u1' })
    advance(9 * MINUTE)
    const refreshes = async (url: string, method = 'GET') =>
      (await auth.implicitRefreshCookies(make({ url, method, cookie: `access_token_cookie=${token}` })))
        .length > 0
    return refreshes
  }

  it('includeRoutes is an allow-list of exact paths, the query string ignored', async () => {
    const refreshes = await cookieFor({ includeRoutes: ['/api/profile', '/'] })
    expect(await refreshes('/api/profile')).toBe(true)
    expect(await refreshes('/api/profile?tab=1')).toBe(true)
    expect(await refreshes('/')).toBe(true)
    expect(await refreshes('/api/other')).toBe(false)
    expect(await refreshes('/api/profile/')).toBe(false)
    expect(await refreshes('/api/profile/x')).toBe(false)
    expect(await refreshes('/api')).toBe(false)
    expect(await refreshes('/API/PROFILE')).toBe(false)
  })

  it('excludeRoutes are never refreshed, the query string ignored', async () => {
    const refreshes = await cookieFor({ excludeRoutes: ['/logout'] })
    expect(await refreshes('/logout', 'POST')).toBe(false)
    expect(await refreshes('/logout?next=/')).toBe(false)
    expect(await refreshes('/logout/')).toBe(true)
    expect(await refreshes('/api')).toBe(true)
  })

  it('includeMethods is an allow-list (Python AuthX inverts it)', async () => {
    const refreshes = await cookieFor({ includeMethods: ['GET', 'head'] })
    expect(await refreshes('/api', 'GET')).toBe(true)
    expect(await refreshes('/api', 'HEAD')).toBe(true)
    expect(await refreshes('/api', 'POST')).toBe(false)
    expect(await refreshes('/api', 'DELETE')).toBe(false)
  })

  it('excludeMethods are never refreshed', async () => {
    const refreshes = await cookieFor({ excludeMethods: ['POST'] })
    expect(await refreshes('/api', 'POST')).toBe(false)
    expect(await refreshes('/api', 'GET')).toBe(true)
    expect(await refreshes('/api', 'PUT')).toBe(true)
  })

  it('excludes win over includes', async () => {
    const routes = await cookieFor({ includeRoutes: ['/a', '/b'], excludeRoutes: ['/a'] })
    expect(await routes('/a')).toBe(false)
    expect(await routes('/b')).toBe(true)
    const methods = await cookieFor({ includeMethods: ['GET', 'POST'], excludeMethods: ['POST'] })
    expect(await methods('/api', 'POST')).toBe(false)
    expect(await methods('/api', 'GET')).toBe(true)
  })

  it('combines route and method lists', async () => {
    const refreshes = await cookieFor({ includeRoutes: ['/api'], includeMethods: ['GET'] })
    expect(await refreshes('/api', 'GET')).toBe(true)
    expect(await refreshes('/api', 'POST')).toBe(false)
    expect(await refreshes('/other', 'GET')).toBe(false)
  })
})

describe('request views without a path', () => {
  it('do not match an include list, and do not match an exclude list', async () => {
    const included = setup({ includeRoutes: ['/api'] })
    const excluded = setup({ excludeRoutes: ['/api'] })
    for (const { auth, advance } of [included, excluded]) {
      const token = await auth.createAccessToken({ uid: 'u1' })
      advance(9 * MINUTE)
      const { path: _path, ...rest } = view({ cookie: `access_token_cookie=${token}` })
      const cookies = await auth.implicitRefreshCookies(rest as AuthXRequest)
      expect(cookies.length > 0).toBe(auth === excluded.auth)
    }
  })

  it('read the method in any case', async () => {
    const { auth, advance } = setup({ includeMethods: ['GET'] })
    const token = await auth.createAccessToken({ uid: 'u1' })
    advance(9 * MINUTE)
    const req = view({ method: 'get', cookie: `access_token_cookie=${token}` })
    expect(await auth.implicitRefreshCookies(req)).toHaveLength(2)
  })
})
