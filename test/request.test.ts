/**
 * Reading tokens from requests (SPEC section 5; catalogue sections E, F, I): locations, header
 * forms, JSON bodies, query strings, guards, subjects, the order of checks, cookie parsing and
 * error answers. Every request test runs with a Web `Request` and with a hand-made request view.
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  AccessTokenRequiredError,
  AuthX,
  type AuthXError,
  AuthXError as AuthXErrorClass,
  type AuthXOptions,
  type AuthXRequest,
  ConfigError,
  CSRFError,
  errorResponse,
  errorToResponse,
  FreshTokenRequiredError,
  InsufficientScopeError,
  InvalidTokenError,
  MissingTokenError,
  parseCookieHeader,
  RateLimitError,
  RefreshTokenRequiredError,
  RefreshTokenReusedError,
  RevokedTokenError,
  StoreUnavailableError,
  TokenExpiredError,
  TokenPayload,
  TokenTypeError,
} from '../src/index.js'
import { anyUtf16, KINDS, type Spec, view, web } from './support/requests.js'

const SECRET = 'request-test-secret-0123456789abcdef'
const OTHER_SECRET = 'another-secret-0123456789abcdef-xyz'
const START = 1_700_000_000_000
const ALL_LOCATIONS = ['headers', 'cookies', 'json', 'query'] as const

function setup(options: AuthXOptions = {}) {
  let now = START
  const auth = new AuthX({ secretKey: SECRET, clock: () => now, ...options })
  return {
    auth,
    advance(ms: number) {
      now += ms
    },
  }
}

/** A token signed with another secret: well-formed, bad signature. */
async function forged(uid = 'u1'): Promise<string> {
  return new AuthX({ secretKey: OTHER_SECRET, tokenLocation: ['cookies'] }).createAccessToken({ uid })
}

const jsonHeaders = { 'content-type': 'application/json; charset=utf-8' }

describe.each(KINDS)('the Authorization header (%s)', (_kind, make) => {
  it('reads a Bearer token by default', async () => {
    const { auth } = setup()
    const token = await auth.createAccessToken({ uid: 'u1' })
    const found = await auth.getTokenFromRequest(make({ headers: { authorization: `Bearer ${token}` } }))
    expect(found).toMatchObject({ token, type: 'access', location: 'headers', csrfRequired: false })
    const payload = await auth.authenticate(make({ headers: { Authorization: `Bearer ${token}` } }))
    expect(payload).toBeInstanceOf(TokenPayload)
    expect(payload?.sub).toBe('u1')
  })

  it.each(['bearer', 'BEARER', 'bEaReR'])('compares the scheme case-insensitively (%s)', async (scheme) => {
    const { auth } = setup()
    const token = await auth.createAccessToken({ uid: 'u1' })
    const payload = await auth.authenticate(make({ headers: { authorization: `${scheme} ${token}` } }))
    expect(payload?.sub).toBe('u1')
  })

  it.each([
    ['another scheme', (t: string) => `Basic ${t}`],
    ['Basic x', () => 'Basic x'],
    ['a bare token', (t: string) => t],
    ['two tokens after the scheme', (t: string) => `Bearer ${t} ${t}`],
    ['Bearer a b', () => 'Bearer a b'],
    ['the scheme and a space only', () => 'Bearer '],
    ['the scheme only', () => 'Bearer'],
    ['an empty string', () => ''],
    ['a tab as separator', (t: string) => `Bearer\t${t}`],
    ['a comma-joined second token', (t: string) => `Bearer ${t}, Bearer ${t}`],
  ])('rejects %s as a malformed token', async (_name, value) => {
    const { auth } = setup()
    const token = await auth.createAccessToken({ uid: 'u1' })
    const req = () => make({ headers: { authorization: value(token) } })
    await expect(auth.getTokenFromRequest(req())).rejects.toBeInstanceOf(InvalidTokenError)
    await expect(auth.authenticate(req())).rejects.toMatchObject({
      code: 'ERR_INVALID_TOKEN',
      status: 401,
      reason: 'malformed',
    })
    // Even optional authentication fails: the header is present.
    await expect(auth.authenticate(req(), { optional: true })).rejects.toMatchObject({ reason: 'malformed' })
  })

  it('reads a custom header name and scheme', async () => {
    const { auth } = setup({ header: { name: 'X-Auth', type: 'Token' } })
    const token = await auth.createAccessToken({ uid: 'u1' })
    expect((await auth.authenticate(make({ headers: { 'x-auth': `Token ${token}` } })))?.sub).toBe('u1')
    expect((await auth.authenticate(make({ headers: { 'X-AUTH': `token ${token}` } })))?.sub).toBe('u1')
    await expect(auth.authenticate(make({ headers: { 'x-auth': `Bearer ${token}` } }))).rejects.toMatchObject(
      {
        reason: 'malformed',
      },
    )
    // The default header is no longer read.
    await expect(
      auth.authenticate(make({ headers: { authorization: `Token ${token}` } })),
    ).rejects.toBeInstanceOf(MissingTokenError)
  })

  it("uses the raw header value as the token with type ''", async () => {
    const { auth } = setup({ header: { name: 'X-Api-Token', type: '' } })
    const token = await auth.createAccessToken({ uid: 'u1' })
    const found = await auth.getTokenFromRequest(make({ headers: { 'x-api-token': token } }))
    expect(found).toMatchObject({ token, location: 'headers' })
    expect((await auth.authenticate(make({ headers: { 'x-api-token': token } })))?.sub).toBe('u1')
    for (const value of [`Bearer ${token}`, `${token} ${token}`, '']) {
      await expect(auth.authenticate(make({ headers: { 'x-api-token': value } }))).rejects.toMatchObject({
        code: 'ERR_INVALID_TOKEN',
        reason: 'malformed',
      })
    }
  })
})

describe.each(KINDS)('locations in order (%s)', (_kind, make) => {
  it('uses the first location in tokenLocation that holds a token', async () => {
    const headerFirst = setup({ tokenLocation: ['headers', 'cookies'] }).auth
    const cookieFirst = setup({ tokenLocation: ['cookies', 'headers'] }).auth
    const a = await headerFirst.createAccessToken({ uid: 'from-header' })
    const b = await headerFirst.createAccessToken({ uid: 'from-cookie' })
    const spec = { headers: { authorization: `Bearer ${a}`, cookie: `access_token_cookie=${b}` } }
    expect((await headerFirst.authenticate(make(spec)))?.sub).toBe('from-header')
    expect((await cookieFirst.authenticate(make(spec)))?.sub).toBe('from-cookie')
    expect(await cookieFirst.getTokenFromRequest(make(spec))).toMatchObject({ token: b, location: 'cookies' })
  })

  it('moves on to the next location when one is empty', async () => {
    const { auth } = setup({ tokenLocation: ['headers', 'cookies', 'query'] })
    const token = await auth.createAccessToken({ uid: 'u1' })
    expect(
      await auth.getTokenFromRequest(make({ headers: { cookie: `access_token_cookie=${token}` } })),
    ).toMatchObject({ location: 'cookies' })
    expect(await auth.getTokenFromRequest(make({ url: `/api?token=${token}` }))).toMatchObject({
      location: 'query',
    })
    // An empty cookie value is no token.
    expect(
      await auth.getTokenFromRequest(
        make({ url: `/api?token=${token}`, headers: { cookie: 'access_token_cookie=' } }),
      ),
    ).toMatchObject({ location: 'query' })
  })

  it('does not fall back to a valid cookie past a malformed header', async () => {
    const { auth } = setup({ tokenLocation: ['headers', 'cookies'] })
    const token = await auth.createAccessToken({ uid: 'u1' })
    const req = make({ headers: { authorization: 'Basic x', cookie: `access_token_cookie=${token}` } })
    await expect(auth.authenticate(req)).rejects.toMatchObject({
      code: 'ERR_INVALID_TOKEN',
      status: 401,
      reason: 'malformed',
    })
  })

  it('does not fall back to a valid cookie past a badly signed header token', async () => {
    const { auth } = setup({ tokenLocation: ['headers', 'cookies'] })
    const token = await auth.createAccessToken({ uid: 'u1' })
    const bad = await forged()
    const req = make({ headers: { authorization: `Bearer ${bad}`, cookie: `access_token_cookie=${token}` } })
    await expect(auth.authenticate(req)).rejects.toMatchObject({ status: 401, reason: 'signature' })
  })

  it('does not fall back to a valid header past an expired cookie', async () => {
    const { auth, advance } = setup({ tokenLocation: ['cookies', 'headers'] })
    const old = await auth.createAccessToken({ uid: 'u1', expiry: 60 })
    advance(61_000)
    const token = await auth.createAccessToken({ uid: 'u1' })
    const req = make({ headers: { authorization: `Bearer ${token}`, cookie: `access_token_cookie=${old}` } })
    await expect(auth.authenticate(req)).rejects.toBeInstanceOf(TokenExpiredError)
  })

  it('lets the locations option override tokenLocation', async () => {
    const { auth } = setup()
    const token = await auth.createAccessToken({ uid: 'u1' })
    const req = () => make({ url: `/api?token=${token}` })
    await expect(auth.authenticate(req())).rejects.toBeInstanceOf(MissingTokenError)
    expect((await auth.authenticate(req(), { locations: ['query'] }))?.sub).toBe('u1')
    expect(await auth.getTokenFromRequest(req(), { locations: ['cookies', 'query'] })).toMatchObject({
      location: 'query',
    })
  })

  it('rejects an unknown location in the locations option with a TypeError', async () => {
    const { auth } = setup()
    await expect(
      auth.getTokenFromRequest(make({}), { locations: ['body' as 'json'] }),
    ).rejects.toBeInstanceOf(TypeError)
  })
})

describe.each(KINDS)('MissingTokenError and optional (%s)', (_kind, make) => {
  it('lists every location tried, in order', async () => {
    const { auth } = setup({ tokenLocation: [...ALL_LOCATIONS] })
    const err = await auth.authenticate(make({})).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(MissingTokenError)
    expect(err).toMatchObject({ code: 'ERR_MISSING_TOKEN', status: 401 })
    expect((err as MissingTokenError).locations).toEqual([
      'Authorization header',
      'access_token_cookie cookie',
      'JSON body key access_token',
      'token query parameter',
    ])
  })

  it('lists the locations of the order configured, with custom names', async () => {
    const { auth } = setup({
      tokenLocation: ['query', 'cookies', 'headers'],
      query: { name: 'jwt' },
      cookies: { accessName: 'sid' },
      header: { name: 'X-Auth' },
    })
    const err = (await auth.authenticate(make({})).catch((e: unknown) => e)) as MissingTokenError
    expect(err.locations).toEqual(['jwt query parameter', 'sid cookie', 'X-Auth header'])
  })

  it('does not list the query string for refresh tokens', async () => {
    const { auth } = setup({ tokenLocation: [...ALL_LOCATIONS] })
    const err = (await auth.authenticate(make({}), { type: 'refresh' }).catch((e: unknown) => e)) as
      | MissingTokenError
      | undefined
    expect(err).toBeInstanceOf(MissingTokenError)
    expect(err?.locations).toEqual([
      'Authorization header',
      'refresh_token_cookie cookie',
      'JSON body key refresh_token',
    ])
  })

  it('returns null with optional only when no token is present', async () => {
    const { auth, advance } = setup({ tokenLocation: ['headers', 'cookies'] })
    expect(await auth.authenticate(make({}), { optional: true })).toBeNull()
    expect(await auth.getTokenFromRequest(make({}), { optional: true })).toBeNull()
    const expired = await auth.createAccessToken({ uid: 'u1', expiry: 1 })
    advance(2000)
    await expect(
      auth.authenticate(make({ headers: { authorization: `Bearer ${expired}` } }), { optional: true }),
    ).rejects.toBeInstanceOf(TokenExpiredError)
    await expect(
      auth.authenticate(make({ headers: { cookie: `access_token_cookie=${await forged()}` } }), {
        optional: true,
      }),
    ).rejects.toMatchObject({ reason: 'signature' })
    const refresh = await auth.createRefreshToken({ uid: 'u1' })
    await expect(
      auth.authenticate(make({ headers: { authorization: `Bearer ${refresh}` } }), { optional: true }),
    ).rejects.toBeInstanceOf(TokenTypeError)
  })
})

describe.each(KINDS)('JSON bodies (%s)', (_kind, make) => {
  const post = (body: unknown, headers: Record<string, string> = jsonHeaders) =>
    make({ method: 'POST', headers, body: typeof body === 'string' ? body : JSON.stringify(body) })

  it('reads the access key with application/json and parameters', async () => {
    const { auth } = setup({ tokenLocation: ['json'] })
    const token = await auth.createAccessToken({ uid: 'u1' })
    expect(await auth.getTokenFromRequest(post({ access_token: token }))).toMatchObject({
      token,
      location: 'json',
      csrfRequired: false,
    })
    expect(
      (await auth.authenticate(post({ access_token: token }, { 'content-type': 'application/json' })))?.sub,
    ).toBe('u1')
    expect(
      (
        await auth.authenticate(
          post({ access_token: token }, { 'content-type': 'Application/JSON;charset=UTF-8' }),
        )
      )?.sub,
    ).toBe('u1')
  })

  it('reads the refresh key for refresh tokens and custom keys', async () => {
    const { auth } = setup({ tokenLocation: ['json'], json: { accessKey: 'at', refreshKey: 'rt' } })
    const pair = await auth.createTokenPair({ uid: 'u1' })
    const body = { at: pair.accessToken, rt: pair.refreshToken, access_token: 'x', refresh_token: 'y' }
    expect(await auth.getTokenFromRequest(post(body))).toMatchObject({ token: pair.accessToken })
    expect(await auth.getTokenFromRequest(post(body), { type: 'refresh' })).toMatchObject({
      token: pair.refreshToken,
      type: 'refresh',
    })
    expect((await auth.authenticate(post(body), { type: 'refresh' }))?.type).toBe('refresh')
  })

  it.each([
    ['an array', ['x']],
    ['a string', '"x"'],
    ['null', 'null'],
    ['a number', '42'],
    ['an object without the key', { other: 'x' }],
    ['a number value', { access_token: 42 }],
    ['an object value', { access_token: { token: 'x' } }],
    ['an array value', { access_token: ['x'] }],
    ['an empty string value', { access_token: '' }],
    ['a null value', { access_token: null }],
    ['the key only on the prototype', '{"__proto__": {"access_token": "x"}}'],
    ['invalid JSON', '{"access_token": '],
  ])('treats a body that is %s as no token', async (_name, body) => {
    const { auth } = setup({ tokenLocation: ['json'] })
    await expect(auth.authenticate(post(body))).rejects.toMatchObject({
      code: 'ERR_MISSING_TOKEN',
      status: 401,
    })
    expect(await auth.authenticate(post(body), { optional: true })).toBeNull()
  })
})

describe('JSON bodies of a Web Request', () => {
  it.each([
    ['text/plain', 'text/plain'],
    ['text/plain with a charset', 'text/plain;charset=UTF-8'],
    ['a urlencoded form', 'application/x-www-form-urlencoded'],
    ['no content type', undefined],
    ['application/jsonx', 'application/jsonx'],
  ])('does not read the body sent as %s', async (_name, contentType) => {
    const { auth } = setup({ tokenLocation: ['json'] })
    const token = await auth.createAccessToken({ uid: 'u1' })
    // A cross-site "simple" request can send text/plain or a form without a CORS preflight (I04).
    const body = JSON.stringify({ access_token: token })
    const req = new Request('https://app.test/api', { method: 'POST', body })
    if (contentType === undefined) req.headers.delete('content-type')
    else req.headers.set('content-type', contentType)
    await expect(auth.authenticate(req)).rejects.toBeInstanceOf(MissingTokenError)
  })

  it('does not read a urlencoded form field named like the JSON key', async () => {
    const { auth } = setup({ tokenLocation: ['json'] })
    const token = await auth.createAccessToken({ uid: 'u1' })
    const req = web({
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: `access_token=${token}`,
    })
    await expect(auth.authenticate(req)).rejects.toBeInstanceOf(MissingTokenError)
  })

  it('leaves the body readable for the handler after authenticate read it', async () => {
    const { auth } = setup({ tokenLocation: ['json'] })
    const token = await auth.createAccessToken({ uid: 'u1' })
    const body = { access_token: token, name: 'x' }
    const req = web({ method: 'POST', headers: jsonHeaders, body: JSON.stringify(body) })
    expect((await auth.authenticate(req))?.sub).toBe('u1')
    expect(req.bodyUsed).toBe(false)
    expect(await req.json()).toEqual(body)
  })

  it('treats a body the handler already consumed as no token, without throwing', async () => {
    const { auth } = setup({ tokenLocation: ['json'] })
    const token = await auth.createAccessToken({ uid: 'u1' })
    const req = web({ method: 'POST', headers: jsonHeaders, body: JSON.stringify({ access_token: token }) })
    await req.text()
    await expect(auth.authenticate(req)).rejects.toBeInstanceOf(MissingTokenError)
  })
})

describe.each(KINDS)('the query string (%s)', (_kind, make) => {
  it('reads access tokens from the configured parameter', async () => {
    const { auth } = setup({ tokenLocation: ['query'], query: { name: 'jwt' } })
    const token = await auth.createAccessToken({ uid: 'u1' })
    expect(await auth.getTokenFromRequest(make({ url: `/api?jwt=${token}` }))).toMatchObject({
      token,
      location: 'query',
      csrfRequired: false,
    })
    await expect(auth.authenticate(make({ url: `/api?token=${token}` }))).rejects.toBeInstanceOf(
      MissingTokenError,
    )
  })

  it('never reads the query string for refresh tokens', async () => {
    const { auth } = setup({ tokenLocation: ['query', 'headers'] })
    const refresh = await auth.createRefreshToken({ uid: 'u1' })
    const req = () => make({ url: `/api?token=${refresh}` })
    await expect(auth.authenticate(req(), { type: 'refresh' })).rejects.toBeInstanceOf(MissingTokenError)
    expect(await auth.getTokenFromRequest(req(), { type: 'refresh', optional: true })).toBeNull()
    // Not even when the caller names the query location.
    await expect(auth.authenticate(req(), { type: 'refresh', locations: ['query'] })).rejects.toBeInstanceOf(
      MissingTokenError,
    )
    expect(
      await auth.authenticate(req(), { type: 'refresh', locations: ['query'], optional: true }),
    ).toBeNull()
  })

  it('rejects a refresh token sent in the query of an access route with the type check', async () => {
    const { auth } = setup({ tokenLocation: ['query'] })
    const refresh = await auth.createRefreshToken({ uid: 'u1' })
    await expect(auth.authenticate(make({ url: `/api?token=${refresh}` }))).rejects.toMatchObject({
      code: 'ERR_WRONG_TOKEN_TYPE',
      status: 401,
    })
  })

  it('is not read when query is not a location (the default)', async () => {
    const { auth } = setup()
    const token = await auth.createAccessToken({ uid: 'u1' })
    await expect(auth.authenticate(make({ url: `/api?token=${token}` }))).rejects.toBeInstanceOf(
      MissingTokenError,
    )
  })
})

describe.each(KINDS)('cookies (%s)', (_kind, make) => {
  it('reads the access or refresh cookie by type', async () => {
    const { auth } = setup({ tokenLocation: ['cookies'] })
    const pair = await auth.createTokenPair({ uid: 'u1' })
    const spec = {
      headers: {
        cookie: `refresh_token_cookie=${pair.refreshToken}; access_token_cookie=${pair.accessToken}`,
      },
    }
    expect(await auth.getTokenFromRequest(make(spec))).toMatchObject({
      token: pair.accessToken,
      location: 'cookies',
      csrfRequired: false,
    })
    expect(await auth.getTokenFromRequest(make(spec), { type: 'refresh' })).toMatchObject({
      token: pair.refreshToken,
      type: 'refresh',
    })
    expect((await auth.refreshRequired(make(spec))).type).toBe('refresh')
  })

  it('reports the CSRF value sent with a cookie token on a protected method', async () => {
    const { auth } = setup({ tokenLocation: ['cookies'] })
    const token = await auth.createAccessToken({ uid: 'u1' })
    const found = await auth.getTokenFromRequest(
      make({ method: 'POST', headers: { cookie: `access_token_cookie=${token}`, 'x-csrf-token': 'abc' } }),
    )
    expect(found).toMatchObject({ token, location: 'cookies', csrf: 'abc', csrfRequired: true })
  })

  it('answers 401, never 500, for a corrupt cookie (I05)', async () => {
    const { auth } = setup({ tokenLocation: ['cookies'] })
    for (const value of ['%E0%A4%A', 'a.b.c', '"x"', 'e30.e30.e30', '%00']) {
      const err = await auth
        .authenticate(make({ headers: { cookie: `access_token_cookie=${value}` } }))
        .catch((e: unknown) => e)
      expect(err).toBeInstanceOf(InvalidTokenError)
      expect(err).toMatchObject({ status: 401 })
    }
  })
})

describe.each(KINDS)('guards (%s)', (_kind, make) => {
  const bearer = (token: string) => make({ headers: { authorization: `Bearer ${token}` } })

  it('accessRequired accepts access tokens and rejects refresh tokens, also when detached', async () => {
    const { auth } = setup()
    const pair = await auth.createTokenPair({ uid: 'u1' })
    const guard = auth.accessRequired
    expect((await guard(bearer(pair.accessToken))).sub).toBe('u1')
    const err = await guard(bearer(pair.refreshToken)).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(AccessTokenRequiredError)
    expect(err).toMatchObject({ code: 'ERR_WRONG_TOKEN_TYPE', status: 401 })
    await expect(guard(make({}))).rejects.toBeInstanceOf(MissingTokenError)
  })

  it('refreshRequired accepts refresh tokens and rejects access tokens', async () => {
    const { auth } = setup()
    const pair = await auth.createTokenPair({ uid: 'u1' })
    const guard = auth.refreshRequired
    expect((await guard(bearer(pair.refreshToken))).type).toBe('refresh')
    const err = await guard(bearer(pair.accessToken)).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(RefreshTokenRequiredError)
    expect(err).toMatchObject({ code: 'ERR_WRONG_TOKEN_TYPE', status: 401 })
  })

  it('freshRequired accepts fresh tokens only', async () => {
    const { auth } = setup()
    const guard = auth.freshRequired
    expect((await guard(bearer(await auth.createAccessToken({ uid: 'u1', fresh: true })))).fresh).toBe(true)
    const err = await guard(bearer(await auth.createAccessToken({ uid: 'u1' }))).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(FreshTokenRequiredError)
    expect(err).toMatchObject({ code: 'ERR_FRESH_TOKEN_REQUIRED', status: 401 })
  })

  it('scopesRequired needs every scope, with wildcards', async () => {
    const { auth } = setup()
    const guard = auth.scopesRequired('users:read', 'users:write')
    const both = await auth.createAccessToken({ uid: 'u1', scopes: ['users:read', 'users:write'] })
    const wildcard = await auth.createAccessToken({ uid: 'u1', scopes: ['users:*'] })
    const one = await auth.createAccessToken({ uid: 'u1', scopes: ['users:read'] })
    const none = await auth.createAccessToken({ uid: 'u1' })
    expect((await guard(bearer(both))).sub).toBe('u1')
    expect((await guard(bearer(wildcard))).sub).toBe('u1')
    const err = await guard(bearer(one)).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(InsufficientScopeError)
    expect(err).toMatchObject({
      code: 'ERR_INSUFFICIENT_SCOPE',
      status: 403,
      required: ['users:read', 'users:write'],
      provided: ['users:read'],
    })
    await expect(guard(bearer(none))).rejects.toMatchObject({ status: 403, provided: [] })
  })

  it('tokenRequired fixes its options, and anyScope needs one scope', async () => {
    const { auth } = setup()
    const guard = auth.tokenRequired({ scopes: ['a', 'b'], anyScope: true, fresh: true })
    expect(
      (await guard(bearer(await auth.createAccessToken({ uid: 'u1', fresh: true, scopes: ['b'] })))).sub,
    ).toBe('u1')
    await expect(
      guard(bearer(await auth.createAccessToken({ uid: 'u1', fresh: true, scopes: ['c'] }))),
    ).rejects.toMatchObject({ status: 403 })
    await expect(
      guard(bearer(await auth.createAccessToken({ uid: 'u1', scopes: ['a'] }))),
    ).rejects.toBeInstanceOf(FreshTokenRequiredError)
  })

  it('tokenRequired refuses optional with a TypeError: a guard always requires a token', () => {
    const { auth } = setup()
    expect(() => auth.tokenRequired({ optional: true } as Parameters<AuthX['tokenRequired']>[0])).toThrow(
      /unknown option 'optional'/,
    )
  })

  it('tokenRequired with type refresh reads refresh tokens', async () => {
    const { auth } = setup({ tokenLocation: ['cookies'] })
    const refresh = await auth.createRefreshToken({ uid: 'u1' })
    const guard = auth.tokenRequired({ type: 'refresh' })
    expect((await guard(make({ headers: { cookie: `refresh_token_cookie=${refresh}` } }))).type).toBe(
      'refresh',
    )
  })
})

describe.each(KINDS)('subjects (%s)', (_kind, make) => {
  it('getCurrentSubject and loadSubject throw ConfigError without a getter', async () => {
    const { auth } = setup()
    const token = await auth.createAccessToken({ uid: 'u1' })
    const err = await auth
      .getCurrentSubject(make({ headers: { authorization: `Bearer ${token}` } }))
      .catch((e: unknown) => e)
    expect(err).toBeInstanceOf(ConfigError)
    expect(err).toMatchObject({ code: 'ERR_CONFIG', status: 500 })
    const payload = await auth.verifyToken(token)
    await expect(auth.loadSubject(payload)).rejects.toBeInstanceOf(ConfigError)
  })

  it('getCurrentSubject loads the subject of the verified token', async () => {
    const { auth } = setup()
    const calls: [string, TokenPayload][] = []
    auth.setSubjectGetter(async (uid, payload) => {
      calls.push([uid, payload])
      return { id: uid, role: payload.extra.role }
    })
    const token = await auth.createAccessToken({ uid: 'u1', data: { role: 'admin' } })
    const subject = await auth.getCurrentSubject(make({ headers: { authorization: `Bearer ${token}` } }))
    expect(subject).toEqual({ id: 'u1', role: 'admin' })
    expect(calls).toHaveLength(1)
    expect(calls[0]![0]).toBe('u1')
    expect(calls[0]![1]).toBeInstanceOf(TokenPayload)
    const payload = await auth.verifyToken(token)
    expect(await auth.loadSubject(payload)).toEqual({ id: 'u1', role: 'admin' })
  })

  it('getCurrentSubject authenticates first and does not call the getter for a bad request', async () => {
    const { auth } = setup()
    let calls = 0
    auth.setSubjectGetter((uid) => {
      calls++
      return uid
    })
    await expect(auth.getCurrentSubject(make({}))).rejects.toBeInstanceOf(MissingTokenError)
    await expect(auth.getCurrentSubject(make({}), { optional: true })).rejects.toBeInstanceOf(
      MissingTokenError,
    )
    await expect(
      auth.getCurrentSubject(make({ headers: { authorization: `Bearer ${await forged()}` } })),
    ).rejects.toMatchObject({ reason: 'signature' })
    const refresh = await auth.createRefreshToken({ uid: 'u1' })
    await expect(
      auth.getCurrentSubject(make({ headers: { authorization: `Bearer ${refresh}` } })),
    ).rejects.toBeInstanceOf(TokenTypeError)
    expect(calls).toBe(0)
  })

  it('getCurrentSubject passes its options on', async () => {
    const { auth } = setup()
    auth.setSubjectGetter((uid) => uid)
    const token = await auth.createAccessToken({ uid: 'u1' })
    await expect(
      auth.getCurrentSubject(make({ headers: { authorization: `Bearer ${token}` } }), { fresh: true }),
    ).rejects.toBeInstanceOf(FreshTokenRequiredError)
  })

  it('setSubjectGetter rejects a value that is not a function', () => {
    const { auth } = setup()
    expect(() => auth.setSubjectGetter('nope' as unknown as () => unknown)).toThrow(TypeError)
  })
})

describe.each(KINDS)('order of checks (%s)', (_kind, make) => {
  it('answers 401 for a revoked token on a scoped route, not 403', async () => {
    const { auth } = setup()
    const token = await auth.createAccessToken({ uid: 'u1', scopes: ['users:read'] })
    await auth.revokeToken(token)
    const err = await auth
      .scopesRequired('admin')(make({ headers: { authorization: `Bearer ${token}` } }))
      .catch((e: unknown) => e)
    expect(err).toBeInstanceOf(RevokedTokenError)
    expect(err).toMatchObject({ status: 401 })
  })

  it('answers 401 for an invalid or expired token on a scoped route (E09)', async () => {
    const { auth, advance } = setup()
    const guard = auth.scopesRequired('admin')
    await expect(
      guard(make({ headers: { authorization: `Bearer ${await forged()}` } })),
    ).rejects.toMatchObject({ status: 401, reason: 'signature' })
    const expired = await auth.createAccessToken({ uid: 'u1', expiry: 1 })
    advance(2000)
    await expect(guard(make({ headers: { authorization: `Bearer ${expired}` } }))).rejects.toMatchObject({
      status: 401,
      code: 'ERR_TOKEN_EXPIRED',
    })
  })

  it('answers 401 for an invalid cookie token sent without a CSRF header', async () => {
    const { auth } = setup({ tokenLocation: ['cookies'] })
    const err = await auth
      .authenticate(make({ method: 'POST', headers: { cookie: `access_token_cookie=${await forged()}` } }))
      .catch((e: unknown) => e)
    expect(err).toBeInstanceOf(InvalidTokenError)
    expect(err).toMatchObject({ status: 401, reason: 'signature' })
  })

  it('answers 401 for an expired, wrong-type or revoked cookie token sent without a CSRF header', async () => {
    const { auth, advance } = setup({ tokenLocation: ['cookies'] })
    const post = (token: string) =>
      make({ method: 'POST', headers: { cookie: `access_token_cookie=${token}` } })
    const expired = await auth.createAccessToken({ uid: 'u1', expiry: 1 })
    const refresh = await auth.createRefreshToken({ uid: 'u1' })
    const revoked = await auth.createAccessToken({ uid: 'u1' })
    await auth.revokeToken(revoked)
    advance(2000)
    await expect(auth.authenticate(post(expired))).rejects.toBeInstanceOf(TokenExpiredError)
    await expect(auth.authenticate(post(refresh))).rejects.toBeInstanceOf(TokenTypeError)
    await expect(auth.authenticate(post(revoked))).rejects.toBeInstanceOf(RevokedTokenError)
  })

  it('checks CSRF before freshness and scopes', async () => {
    const { auth } = setup({ tokenLocation: ['cookies'] })
    const token = await auth.createAccessToken({ uid: 'u1' })
    const err = await auth
      .authenticate(make({ method: 'POST', headers: { cookie: `access_token_cookie=${token}` } }), {
        fresh: true,
        scopes: ['admin'],
      })
      .catch((e: unknown) => e)
    expect(err).toBeInstanceOf(CSRFError)
    expect(err).toMatchObject({ status: 403, reason: 'missing' })
  })

  it('checks freshness before scopes', async () => {
    const { auth } = setup()
    const token = await auth.createAccessToken({ uid: 'u1', scopes: ['users:read'] })
    await expect(
      auth.authenticate(make({ headers: { authorization: `Bearer ${token}` } }), {
        fresh: true,
        scopes: ['admin'],
      }),
    ).rejects.toMatchObject({ code: 'ERR_FRESH_TOKEN_REQUIRED', status: 401 })
  })

  it('checks the type before revocation', async () => {
    const { auth } = setup()
    const refresh = await auth.createRefreshToken({ uid: 'u1' })
    await auth.revokeToken(refresh)
    await expect(
      auth.authenticate(make({ headers: { authorization: `Bearer ${refresh}` } })),
    ).rejects.toBeInstanceOf(TokenTypeError)
  })
})

describe('security: no request input produces a 500', () => {
  it('every failure for arbitrary header, cookie and query values is a 401 or 403 AuthXError', async () => {
    const { auth } = setup({ tokenLocation: [...ALL_LOCATIONS] })
    const token = await auth.createAccessToken({ uid: 'u1' })
    const piece = fc.oneof(
      fc.string(),
      fc.constant(token),
      fc.constant(`Bearer ${token}`),
      fc.string().map((s) => `Bearer ${s}`),
      fc.string().map((s) => `${token}${s}`),
    )
    await fc.assert(
      fc.asyncProperty(
        piece,
        piece,
        piece,
        fc.constantFrom('GET', 'POST', 'delete', ''),
        async (authorization, cookie, query, method) => {
          const req: AuthXRequest = {
            method,
            header: (name) => (name.toLowerCase() === 'authorization' ? authorization : undefined),
            cookie: (name) => (name === 'access_token_cookie' ? cookie : undefined),
            query: (name) => (name === 'token' ? query : undefined),
            json: async () => ({ access_token: cookie }),
            form: async () => undefined,
          }
          try {
            const payload = await auth.authenticate(req)
            expect(payload?.sub).toBe('u1')
          } catch (err) {
            expect(err).toBeInstanceOf(AuthXErrorClass)
            expect([401, 403]).toContain((err as AuthXError).status)
          }
        },
      ),
      { numRuns: 300 },
    )
  })
})

describe('security: error hygiene', () => {
  it('no error message or JSON body contains the token', async () => {
    const { auth, advance } = setup({ tokenLocation: ['headers', 'cookies'] })
    const forgedToken = await forged()
    const expired = await auth.createAccessToken({ uid: 'u1', expiry: 1 })
    const refresh = await auth.createRefreshToken({ uid: 'u1' })
    const cookieToken = await auth.createAccessToken({ uid: 'u1' })
    advance(2000)
    const requests: [Spec, string][] = [
      [{ headers: { authorization: `Basic ${cookieToken}` } }, cookieToken],
      [{ headers: { authorization: `Bearer ${cookieToken} x` } }, cookieToken],
      [{ headers: { authorization: `Bearer ${forgedToken}` } }, forgedToken],
      [{ headers: { authorization: `Bearer ${expired}` } }, expired],
      [{ headers: { authorization: `Bearer ${refresh}` } }, refresh],
      [{ method: 'POST', headers: { cookie: `access_token_cookie=${cookieToken}` } }, cookieToken],
      [
        { method: 'POST', headers: { cookie: `access_token_cookie=${cookieToken}`, 'x-csrf-token': 'nope' } },
        cookieToken,
      ],
    ]
    for (const [spec, token] of requests) {
      const err = (await auth.authenticate(view(spec)).catch((e: unknown) => e)) as AuthXError
      expect(err).toBeInstanceOf(AuthXErrorClass)
      const [, payload, signature] = token.split('.')
      for (const text of [err.message, JSON.stringify(err.toJSON()), String(err.stack)]) {
        expect(text).not.toContain(payload)
        expect(text).not.toContain(signature)
      }
    }
  })
})

describe('parseCookieHeader', () => {
  it('reads name=value pairs separated by semicolons, trimming spaces', () => {
    const cookies = parseCookieHeader(' a=1;b=2 ;  c = 3 ')
    expect([...cookies]).toEqual([
      ['a', '1'],
      ['b', '2'],
      ['c', '3'],
    ])
  })

  it('returns an empty map for an absent or empty header', () => {
    expect(parseCookieHeader(undefined).size).toBe(0)
    expect(parseCookieHeader(null).size).toBe(0)
    expect(parseCookieHeader('').size).toBe(0)
  })

  it('keeps the first value of a repeated name', () => {
    expect(parseCookieHeader('a=first; a=second').get('a')).toBe('first')
  })

  it('strips one pair of surrounding double quotes', () => {
    const cookies = parseCookieHeader('a="quoted"; b=""; c="; d="x')
    expect(cookies.get('a')).toBe('quoted')
    expect(cookies.get('b')).toBe('')
    expect(cookies.get('c')).toBe('"')
    expect(cookies.get('d')).toBe('"x')
  })

  it('percent-decodes values and keeps a value that fails decoding as sent', () => {
    const cookies = parseCookieHeader('a=x%20y; b=%E0%A4%A; c=100%; d=%zz')
    expect(cookies.get('a')).toBe('x y')
    expect(cookies.get('b')).toBe('%E0%A4%A')
    expect(cookies.get('c')).toBe('100%')
    expect(cookies.get('d')).toBe('%zz')
  })

  it("skips pairs without '=' or with an empty name, and keeps '=' inside values", () => {
    const cookies = parseCookieHeader('flag; =orphan; a=b=c; ; b=')
    expect([...cookies]).toEqual([
      ['a', 'b=c'],
      ['b', ''],
    ])
  })

  it('never throws, whatever the header', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          anyUtf16(200),
          fc
            .array(fc.constantFrom('a', '=', ';', ' ', '"', '%', 'E0', '%2', 'ÿ'), { maxLength: 40 })
            .map((p) => p.join('')),
        ),
        (header) => parseCookieHeader(header) instanceof Map,
      ),
    )
  })
})

describe('errorResponse and errorToResponse', () => {
  const invalid = 'Bearer error="invalid_token"'
  const cases: [string, AuthXError, number, string | undefined, string | undefined][] = [
    ['MissingTokenError', new MissingTokenError(['Authorization header']), 401, 'Bearer', undefined],
    ['InvalidTokenError', new InvalidTokenError('malformed', 'bad'), 401, invalid, undefined],
    ['TokenExpiredError', new TokenExpiredError(new Date(0)), 401, invalid, undefined],
    ['RevokedTokenError', new RevokedTokenError(), 401, invalid, undefined],
    ['TokenTypeError', new TokenTypeError('access', 'refresh'), 401, invalid, undefined],
    ['AccessTokenRequiredError', new AccessTokenRequiredError('refresh'), 401, invalid, undefined],
    ['RefreshTokenRequiredError', new RefreshTokenRequiredError('access'), 401, invalid, undefined],
    [
      'FreshTokenRequiredError',
      new FreshTokenRequiredError(),
      401,
      'Bearer error="insufficient_user_authentication"',
      undefined,
    ],
    ['RefreshTokenReusedError', new RefreshTokenReusedError(), 401, invalid, undefined],
    ['CSRFError', new CSRFError('missing', 'the X-CSRF-TOKEN header'), 403, 'Bearer', undefined],
    ['StoreUnavailableError', new StoreUnavailableError(), 503, undefined, '1'],
    [
      'StoreUnavailableError with retryAfter',
      new StoreUnavailableError('x', { retryAfter: 7 }),
      503,
      undefined,
      '7',
    ],
    ['RateLimitError', new RateLimitError(30), 429, undefined, '30'],
    ['ConfigError', new ConfigError('secretKey: too short'), 500, undefined, undefined],
  ]

  it.each(cases)('answers %s with its status and headers', async (_name, error, status, www, retryAfter) => {
    const parts = errorResponse(error)
    expect(parts.status).toBe(status)
    expect(parts.body).toEqual(error.toJSON())
    expect(parts.headers['cache-control']).toBe('no-store')
    expect(parts.headers['content-type']).toMatch(/^application\/json\b/)
    expect(parts.headers['www-authenticate']).toBe(www)
    expect(parts.headers['retry-after']).toBe(retryAfter)

    const response = errorToResponse(error)
    expect(response.status).toBe(status)
    expect(response.headers.get('cache-control')).toBe('no-store')
    expect(response.headers.get('content-type')).toMatch(/^application\/json\b/)
    expect(response.headers.get('www-authenticate')).toBe(www ?? null)
    expect(response.headers.get('retry-after')).toBe(retryAfter ?? null)
    expect(await response.json()).toEqual(error.toJSON())
  })

  it('answers InsufficientScopeError with 403 insufficient_scope and the scopes in the body', async () => {
    const error = new InsufficientScopeError(['admin', 'users:write'], ['users:read'])
    const parts = errorResponse(error)
    expect(parts.status).toBe(403)
    expect(parts.headers['cache-control']).toBe('no-store')
    expect(parts.headers['www-authenticate']).toMatch(/^Bearer error="insufficient_scope"(, |$)/)
    expect(parts.headers['retry-after']).toBeUndefined()
    expect(parts.body).toMatchObject({
      code: 'ERR_INSUFFICIENT_SCOPE',
      required: ['admin', 'users:write'],
      provided: ['users:read'],
    })
    const response = errorToResponse(error)
    expect(response.status).toBe(403)
    expect(response.headers.get('www-authenticate')).toBe(parts.headers['www-authenticate'])
    expect(await response.json()).toEqual(parts.body)
  })

  it('puts the reason in the body of invalid-token and CSRF errors, retryAfter for 429 and 503', () => {
    expect(errorResponse(new InvalidTokenError('signature', 'x')).body).toMatchObject({
      code: 'ERR_INVALID_TOKEN',
      reason: 'signature',
    })
    expect(errorResponse(new TokenExpiredError(new Date(0))).body).toMatchObject({
      code: 'ERR_TOKEN_EXPIRED',
      reason: 'expired',
    })
    expect(errorResponse(new CSRFError('mismatch', 'x')).body).toMatchObject({
      code: 'ERR_CSRF',
      reason: 'mismatch',
    })
    expect(errorResponse(new RateLimitError(30)).body).toMatchObject({ retryAfter: 30 })
    expect(errorResponse(new StoreUnavailableError()).body).toMatchObject({ retryAfter: 1 })
  })

  it('never sends configuration details to the client', () => {
    const body = errorResponse(new ConfigError('secretKey: the secret hunter2 is too short')).body
    expect(JSON.stringify(body)).not.toContain('hunter2')
    expect(body.code).toBe('ERR_CONFIG')
  })

  it('answers the errors authenticate throws with the matching headers', async () => {
    const { auth } = setup()
    const missing = (await auth.authenticate(view({})).catch((e: unknown) => e)) as AuthXError
    expect(errorToResponse(missing).headers.get('www-authenticate')).toBe('Bearer')
    const bad = (await auth
      .authenticate(view({ headers: { authorization: 'Bearer a.b.c' } }))
      .catch((e: unknown) => e)) as AuthXError
    const response = errorToResponse(bad)
    expect(response.status).toBe(401)
    expect(response.headers.get('www-authenticate')).toBe(invalid)
  })
})
