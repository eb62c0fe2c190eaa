/**
 * What a new user meets first (issue 7): per-call options are checked, `refresh` takes a
 * verified payload, pairs carry their CSRF values, the ready-made refresh and logout routes'
 * core, clear messages, error bodies that can be reshaped, and authx errors recognised by brand.
 */
import { describe, expect, it, vi } from 'vitest'
import {
  AuthX,
  AuthXError,
  type AuthXOptions,
  CSRFError,
  errorResponse,
  InvalidTokenError,
  isAuthXError,
  RefreshTokenRequiredError,
  RefreshTokenReusedError,
  RevokedTokenError,
  StoreUnavailableError,
  TokenPayload,
} from '../src/index.js'
import { clockedAuth, START } from './support/clocked.js'

const SECRET = 'first-contact-secret-0123456789abcdef'

const setup = (options: AuthXOptions = {}) => clockedAuth(SECRET, options)

const cookieOptions: AuthXOptions = { tokenLocation: ['cookies'], cookies: { secure: false } }

function post(path: string, headers: Record<string, string> = {}): Request {
  return new Request(`http://localhost${path}`, { method: 'POST', headers })
}

function cookieHeader(cookies: Record<string, string>): string {
  return Object.entries(cookies)
    .map(([k, v]) => `${k}=${v}`)
    .join('; ')
}

describe('options of method calls are checked (no silent typos)', () => {
  it('verifyToken rejects an unknown option name with a TypeError naming it', async () => {
    const { auth } = setup()
    const token = await auth.createAccessToken({ uid: 'u1' })
    await expect(auth.verifyToken(token, { freshh: true } as never)).rejects.toThrow(
      /unknown option 'freshh'/,
    )
    await expect(auth.verifyToken(token, { scope: ['x'] } as never)).rejects.toThrow(/unknown option 'scope'/)
    await expect(auth.verifyToken(token, { fresh: true })).rejects.toMatchObject({
      code: 'ERR_FRESH_TOKEN_REQUIRED',
    })
  })

  it('verifyToken rejects options of the wrong type', async () => {
    const { auth } = setup()
    const token = await auth.createAccessToken({ uid: 'u1', scopes: ['admin'] })
    await expect(auth.verifyToken(token, { scopes: 'admin' as never })).rejects.toThrow(TypeError)
    await expect(auth.verifyToken(token, { scopes: 'admin' as never })).rejects.toThrow(/'scopes'/)
    await expect(auth.verifyToken(token, { fresh: 'yes' as never })).rejects.toThrow(/'fresh'/)
    await expect(auth.verifyToken(token, { type: 'id' as never })).rejects.toThrow(/'type'/)
    await expect(auth.verifyToken(token, 'access' as never)).rejects.toThrow(TypeError)
  })

  it('createTokenPair refuses expiry (it takes accessExpiry and refreshExpiry)', async () => {
    const { auth } = setup()
    await expect(auth.createTokenPair({ uid: 'u1', expiry: '1s' } as never)).rejects.toThrow(
      /createTokenPair: unknown option 'expiry'/,
    )
    await expect(auth.createTokenPair({ uid: 'u1', accessExpiry: 'soon' as never })).rejects.toThrow(
      /'accessExpiry'/,
    )
    const pair = await auth.createTokenPair({ uid: 'u1', accessExpiry: '1s' })
    expect((await auth.decodeToken(pair.accessToken)).exp).toBe(START / 1000 + 1)
  })

  it('createAccessToken and createRefreshToken check their option names and types', async () => {
    const { auth } = setup()
    await expect(auth.createAccessToken({ uid: 'u1', expires: '1h' } as never)).rejects.toThrow(/'expires'/)
    await expect(auth.createAccessToken({ uid: 'u1', fresh: 1 as never })).rejects.toThrow(/'fresh'/)
    await expect(auth.createAccessToken({ uid: 'u1', scopes: 'a' as never })).rejects.toThrow(/'scopes'/)
    await expect(auth.createRefreshToken({ uid: 'u1', scope: ['a'] } as never)).rejects.toThrow(/'scope'/)
  })

  it('tokenRequired and scopesRequired fail where the guard is made, not per request', () => {
    const { auth } = setup()
    expect(() => auth.tokenRequired({ freshh: true } as never)).toThrow(/unknown option 'freshh'/)
    expect(() => auth.tokenRequired({ scopes: 'admin' as never })).toThrow(TypeError)
    expect(() => auth.scopesRequired(['admin:*'] as never)).toThrow(/separate arguments/)
    expect(() => auth.scopesRequired()).toThrow(TypeError)
  })

  it('authenticate, getTokenFromRequest, refresh and the cookie helpers check theirs', async () => {
    const { auth } = setup()
    const req = post('/x')
    await expect(auth.authenticate(req, { optionl: true } as never)).rejects.toThrow(/'optionl'/)
    await expect(auth.getTokenFromRequest(req, { type: 'id' as never })).rejects.toThrow(/'type'/)
    const pair = await auth.createTokenPair({ uid: 'u1' })
    await expect(auth.refresh(pair.refreshToken, { scope: ['a'] } as never)).rejects.toThrow(/'scope'/)
    expect(() => auth.accessCookies(pair.accessToken, { maxage: 1 } as never)).toThrow(/'maxage'/)
    // Nothing was consumed by the refused call.
    await expect(auth.refresh(pair.refreshToken)).resolves.toMatchObject({ tokenType: 'bearer' })
  })
})

describe('refresh(payload): a payload this instance verified', () => {
  it('rotates the payload a refresh guard produced', async () => {
    const { auth } = setup(cookieOptions)
    const pair = await auth.createTokenPair({ uid: 'u1', scopes: ['a'] })
    const request = new Request('http://localhost/auth/refresh', {
      headers: { cookie: `refresh_token_cookie=${pair.refreshToken}` },
    })
    const payload = (await auth.refreshRequired(request)) as TokenPayload
    const next = await auth.refresh(payload)
    const access = await auth.verifyToken(next.accessToken)
    expect(access.fid).toBe(payload.fid)
    expect(access.scopes).toEqual(['a'])
    // The same payload again is reuse, and revokes the family.
    await expect(auth.refresh(payload)).rejects.toBeInstanceOf(RefreshTokenReusedError)
    await expect(auth.verifyToken(next.accessToken)).rejects.toBeInstanceOf(RevokedTokenError)
  })

  it('treats a second use of the same verified payload as reuse', async () => {
    const { auth } = setup()
    const pair = await auth.createTokenPair({ uid: 'u1' })
    const payload = await auth.verifyToken(pair.refreshToken, { type: 'refresh' })
    await auth.refresh(payload)
    await expect(auth.refresh(payload)).rejects.toBeInstanceOf(RefreshTokenReusedError)
  })

  it('refuses a hand-made payload, even one with valid-looking claims', async () => {
    const { auth } = setup()
    const pair = await auth.createTokenPair({ uid: 'u1' })
    const forged = new TokenPayload(auth.decodeUnverified(pair.refreshToken).payload)
    await expect(auth.refresh(forged)).rejects.toThrow(TypeError)
    await expect(auth.refresh({ sub: 'u1', type: 'refresh' } as never)).rejects.toThrow(TypeError)
  })

  it('refuses a payload another instance verified, even with the same secret', async () => {
    const { auth } = setup()
    const { auth: other } = setup()
    const pair = await auth.createTokenPair({ uid: 'u1' })
    const elsewhere = await other.verifyToken(pair.refreshToken, { type: 'refresh' })
    await expect(auth.refresh(elsewhere)).rejects.toThrow(TypeError)
    await expect(other.refresh(elsewhere)).resolves.toMatchObject({ tokenType: 'bearer' })
  })

  it('refuses a decoded (not verified by type) payload and an access payload', async () => {
    const { auth } = setup()
    const pair = await auth.createTokenPair({ uid: 'u1' })
    await expect(auth.refresh(await auth.decodeToken(pair.refreshToken))).rejects.toThrow(TypeError)
    await expect(auth.refresh(await auth.verifyToken(pair.accessToken))).rejects.toBeInstanceOf(
      RefreshTokenRequiredError,
    )
  })

  it('checks revocation again: a family revoked after the guard ran fails', async () => {
    const { auth } = setup()
    const pair = await auth.createTokenPair({ uid: 'u1' })
    const payload = await auth.verifyToken(pair.refreshToken, { type: 'refresh' })
    await auth.revokeFamily(payload.fid as string)
    await expect(auth.refresh(payload)).rejects.toBeInstanceOf(RevokedTokenError)
  })

  it('returns the token string that was verified when rotation is off', async () => {
    const { auth } = setup({ refreshRotation: { enabled: false } })
    const pair = await auth.createTokenPair({ uid: 'u1' })
    const payload = await auth.verifyToken(pair.refreshToken, { type: 'refresh' })
    expect((await auth.refresh(payload)).refreshToken).toBe(pair.refreshToken)
  })

  it('gives a refresh token without fid (Python AuthX) a family derived from issuer and jti', async () => {
    const { auth } = setup()
    const legacy = await auth.createRefreshToken({ uid: 'u1' })
    // Strip fid as Python AuthX would mint it: same secret, no family claim.
    const claims = { ...auth.decodeUnverified(legacy).payload }
    delete claims.fid
    const { createHmac } = await import('node:crypto')
    const enc = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url')
    const body = `${enc({ alg: 'HS256', typ: 'JWT' })}.${enc(claims)}`
    const token = `${body}.${createHmac('sha256', SECRET).update(body).digest('base64url')}`
    const first = await auth.refresh(token)
    const second = await auth.refresh(first.refreshToken)
    // Replaying the family-less token revokes what its first use minted, down the chain.
    await expect(auth.refresh(token)).rejects.toBeInstanceOf(RefreshTokenReusedError)
    await expect(auth.verifyToken(first.accessToken)).rejects.toBeInstanceOf(RevokedTokenError)
    await expect(auth.verifyToken(second.accessToken)).rejects.toBeInstanceOf(RevokedTokenError)
  })
})

describe('CSRF values with the pair', () => {
  it('createTokenPair returns the csrf claims of both tokens when cookies and CSRF are on', async () => {
    const { auth } = setup(cookieOptions)
    const pair = await auth.createTokenPair({ uid: 'u1' })
    expect(pair.csrf).toEqual({
      access: (await auth.decodeToken(pair.accessToken)).csrf,
      refresh: (await auth.decodeToken(pair.refreshToken)).csrf,
    })
    expect(auth.getCsrfToken(pair.accessToken)).toBe(pair.csrf?.access)
    const next = await auth.refresh(pair.refreshToken)
    expect(next.csrf?.refresh).toBe(auth.getCsrfToken(next.refreshToken))
  })

  it('has no csrf without cookies (or with CSRF protection off)', async () => {
    expect('csrf' in (await setup().auth.createTokenPair({ uid: 'u1' }))).toBe(false)
    const off = setup({ ...cookieOptions, csrf: { protect: false } }).auth
    expect((await off.createTokenPair({ uid: 'u1' })).csrf).toBeUndefined()
    expect(setup().auth.getCsrfToken(await setup().auth.createAccessToken({ uid: 'u' }))).toBeUndefined()
    expect(() => setup().auth.getCsrfToken(42 as never)).toThrow(TypeError)
  })
})

describe('refreshFromRequest (the refresh route)', () => {
  it('rotates the refresh cookie, sets both cookies and answers the pair with no-store', async () => {
    const { auth } = setup(cookieOptions)
    const pair = await auth.createTokenPair({ uid: 'u1' })
    const answer = await auth.refreshFromRequest(
      post('/auth/refresh', {
        cookie: cookieHeader({ refresh_token_cookie: pair.refreshToken }),
        'x-csrf-token': pair.csrf!.refresh,
      }),
    )
    expect(answer.status).toBe(200)
    expect(answer.headers['cache-control']).toBe('no-store')
    const body = answer.body as Record<string, string>
    expect(body.token_type).toBe('bearer')
    expect(answer.cookies.map((c) => c.split('=')[0])).toEqual([
      'access_token_cookie',
      'csrf_access_token',
      'refresh_token_cookie',
      'csrf_refresh_token',
    ])
    expect(answer.cookies[2]).toContain(body.refresh_token)
    expect((await auth.verifyToken(body.refresh_token!, { type: 'refresh' })).fid).toBe(
      (await auth.decodeToken(pair.refreshToken)).fid,
    )
  })

  it('requires the refresh CSRF value: missing is 403, the access value does not pass', async () => {
    const { auth } = setup(cookieOptions)
    const pair = await auth.createTokenPair({ uid: 'u1' })
    const cookie = cookieHeader({ refresh_token_cookie: pair.refreshToken })
    await expect(auth.refreshFromRequest(post('/r', { cookie }))).rejects.toMatchObject({
      code: 'ERR_CSRF',
      status: 403,
    })
    await expect(
      auth.refreshFromRequest(post('/r', { cookie, 'x-csrf-token': pair.csrf!.access })),
    ).rejects.toBeInstanceOf(CSRFError)
    // Nothing was consumed by the refused calls.
    await expect(
      auth.refreshFromRequest(post('/r', { cookie, 'x-csrf-token': pair.csrf!.refresh })),
    ).resolves.toMatchObject({ status: 200 })
  })

  it('takes data and scopes as values or functions of the payload', async () => {
    const { auth } = setup()
    const pair = await auth.createTokenPair({ uid: 'u1', scopes: ['a'], data: { role: 'x' } })
    const req = () => post('/r', { authorization: `Bearer ${pair.refreshToken}` })
    const answer = await auth.refreshFromRequest(req(), {
      scopes: (p) => [...(p.scopes ?? []), 'b'],
      data: { role: 'y' },
    })
    const access = await auth.verifyToken((answer.body as { access_token: string }).access_token)
    expect(access.scopes).toEqual(['a', 'b'])
    expect(access.extra).toEqual({ role: 'y' })
    expect(() => auth.refreshRouteOptions({ scope: [] } as never)).toThrow(/'scope'/)
    expect(() => auth.refreshRouteOptions({ scopes: 'a' as never })).toThrow(/'scopes'/)
  })

  it('keeps token strings out of the body with tokensInBody: false', async () => {
    const { auth } = setup(cookieOptions)
    const pair = await auth.createTokenPair({ uid: 'u1' })
    const answer = await auth.refreshFromRequest(
      post('/r', {
        cookie: cookieHeader({ refresh_token_cookie: pair.refreshToken }),
        'x-csrf-token': pair.csrf!.refresh,
      }),
      { tokensInBody: false },
    )
    const body = answer.body as Record<string, unknown>
    expect(Object.keys(body).sort()).toEqual(['csrf', 'token_type'])
    expect(JSON.stringify(body)).not.toContain('.')
  })

  it('answers an access token with a 401 wrong-type error', async () => {
    const { auth } = setup()
    const pair = await auth.createTokenPair({ uid: 'u1' })
    await expect(
      auth.refreshFromRequest(post('/r', { authorization: `Bearer ${pair.accessToken}` })),
    ).rejects.toMatchObject({ code: 'ERR_WRONG_TOKEN_TYPE', message: 'A refresh token is required' })
  })
})

describe('logoutFromRequest (the logout route)', () => {
  it('revokes the family of an expired access token and clears every cookie', async () => {
    const { auth, advance } = setup(cookieOptions)
    const pair = await auth.createTokenPair({ uid: 'u1' })
    advance(16 * 60_000) // the access token has expired: an idle user
    const result = await auth.logoutFromRequest(
      post('/auth/logout', {
        cookie: cookieHeader({ access_token_cookie: pair.accessToken }),
        'x-csrf-token': pair.csrf!.access,
      }),
    )
    expect(result.error).toBeUndefined()
    expect(result.revoked.families).toEqual([(await auth.decodeToken(pair.refreshToken)).fid])
    expect(result.cookies).toEqual(auth.unsetCookies())
    await expect(auth.refresh(pair.refreshToken)).rejects.toBeInstanceOf(RevokedTokenError)
  })

  it('revokes with the refresh token alone (the access cookie already gone)', async () => {
    const { auth } = setup(cookieOptions)
    const pair = await auth.createTokenPair({ uid: 'u1' })
    const result = await auth.logoutFromRequest(
      post('/auth/logout', {
        cookie: cookieHeader({ refresh_token_cookie: pair.refreshToken }),
        'x-csrf-token': pair.csrf!.refresh,
      }),
    )
    expect(result.revoked.families).toHaveLength(1)
    await expect(auth.verifyToken(pair.accessToken)).rejects.toBeInstanceOf(RevokedTokenError)
  })

  it('revokes a token without family by its jti', async () => {
    const { auth } = setup()
    const access = await auth.createAccessToken({ uid: 'u1' })
    const result = await auth.logoutFromRequest(post('/o', { authorization: `Bearer ${access}` }))
    expect(result.revoked.tokens).toEqual([(await auth.decodeToken(access)).jti])
    await expect(auth.verifyToken(access)).rejects.toBeInstanceOf(RevokedTokenError)
  })

  it('revokes nothing for a forged, missing or cross-site (no CSRF) token, and still clears cookies', async () => {
    const { auth, store } = setup(cookieOptions)
    const set = vi.spyOn(store, 'set')
    const pair = await auth.createTokenPair({ uid: 'u1' })
    const forged = `${pair.accessToken.slice(0, -4)}AAAA`
    for (const request of [
      post('/o'),
      post('/o', {
        cookie: cookieHeader({ access_token_cookie: forged }),
        'x-csrf-token': pair.csrf!.access,
      }),
      post('/o', { cookie: cookieHeader({ access_token_cookie: pair.accessToken }) }),
      post('/o', { cookie: cookieHeader({ access_token_cookie: 'garbage' }) }),
    ]) {
      const result = await auth.logoutFromRequest(request)
      expect(result.error).toBeUndefined()
      expect(result.cookies).toEqual(auth.unsetCookies())
    }
    expect(set).not.toHaveBeenCalled()
    await expect(auth.verifyToken(pair.accessToken)).resolves.toBeInstanceOf(TokenPayload)
  })

  it('reports a key set that cannot be fetched instead of a logout that revoked nothing', async () => {
    const { generateKeyPairSync } = await import('node:crypto')
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 })
    const signer = new AuthX({ algorithm: 'RS256', privateKey })
    const token = await signer.createAccessToken({ uid: 'u1' })
    // Port 9 (discard) on loopback: nothing listens, the fetch fails at once.
    const verifier = new AuthX({ jwksUrl: 'http://127.0.0.1:9/jwks.json', algorithm: 'RS256' })
    const result = await verifier.logoutFromRequest(post('/o', { authorization: `Bearer ${token}` }))
    expect(result.error).toBeInstanceOf(StoreUnavailableError)
  })

  it('reports a store that cannot record the revocation, with the cookies still cleared', async () => {
    const { auth, store } = setup()
    store.set = async () => {
      throw new Error('down')
    }
    const pair = await auth.createTokenPair({ uid: 'u1' })
    const result = await auth.logoutFromRequest(post('/o', { authorization: `Bearer ${pair.accessToken}` }))
    expect(result.error).toBeInstanceOf(StoreUnavailableError)
    expect(result.cookies).toEqual([])
  })
})

describe('messages', () => {
  it('says "A refresh token" and "An access token"', async () => {
    const { auth } = setup()
    const pair = await auth.createTokenPair({ uid: 'u1' })
    await expect(auth.verifyToken(pair.accessToken, { type: 'refresh' })).rejects.toThrow(
      /^A refresh token is required$/,
    )
    await expect(auth.verifyToken(pair.refreshToken)).rejects.toThrow(/^An access token is required$/)
  })

  it('answers a Basic header saying that Bearer is expected', async () => {
    const { auth } = setup()
    const err = await auth.authenticate(post('/x', { authorization: 'Basic dXNlcjpwYXNz' })).catch((e) => e)
    expect(err).toBeInstanceOf(InvalidTokenError)
    expect(err.message).toBe("Authorization header must be 'Bearer <token>'")
    const raw = setup({ header: { type: '' } }).auth
    const err2 = await raw.authenticate(post('/x', { authorization: 'a b' })).catch((e) => e)
    expect(err2.message).toBe('Authorization header must be the token alone')
  })
})

describe('error bodies and brands', () => {
  it('errorResponse reshapes the body with errorBody, keeping status and headers', () => {
    const err = new RevokedTokenError()
    const shaped = errorResponse(err, (e) => ({ error: e.code }))
    expect(shaped).toEqual({ ...errorResponse(err), body: { error: 'ERR_TOKEN_REVOKED' } })
  })

  it('falls back to the standard body, with a warning, when errorBody throws', () => {
    const warn = vi.spyOn(process, 'emitWarning').mockImplementation(() => {})
    try {
      const err = new RevokedTokenError()
      const shaped = errorResponse(err, () => {
        throw new Error('bug')
      })
      expect(shaped.body).toEqual(err.toJSON())
      expect(warn).toHaveBeenCalledWith(expect.stringContaining('errorBody threw'), expect.anything())
    } finally {
      warn.mockRestore()
    }
  })

  it('recognises an authx error from another copy of authx by its Symbol.for brand', () => {
    const foreign = Object.assign(new Error('revoked'), {
      [Symbol.for('authx.error')]: true,
      code: 'ERR_TOKEN_REVOKED',
      status: 401,
    })
    expect(isAuthXError(foreign)).toBe(true)
    expect(isAuthXError(new Error('x'))).toBe(false)
    expect(isAuthXError(null)).toBe(false)
    expect(isAuthXError(new RevokedTokenError())).toBe(true)
    expect(new RevokedTokenError() instanceof AuthXError).toBe(true)
  })
})
