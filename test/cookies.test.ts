/**
 * `Set-Cookie` strings for token and CSRF cookies (SPEC section 5, "Cookies"; catalogue H07-H11).
 */
import { describe, expect, it } from 'vitest'
import { AuthX, type AuthXOptions, ConfigError, InvalidTokenError } from '../src/index.js'

const SECRET = 'cookie-test-secret-0123456789abcdef-xyz'
const START = 1_700_000_000_000
const EPOCH = 'Expires=Thu, 01 Jan 1970 00:00:00 GMT'

function setup(options: AuthXOptions = {}) {
  let now = START
  const auth = new AuthX({ secretKey: SECRET, tokenLocation: ['cookies'], clock: () => now, ...options })
  return {
    auth,
    advance(ms: number) {
      now += ms
    },
  }
}

function csrfOf(auth: AuthX, token: string): string {
  const csrf = auth.decodeUnverified(token).payload.csrf
  expect(typeof csrf).toBe('string')
  return csrf as string
}

/** Name and value of a `Set-Cookie` string. */
function pair(setCookie: string): [string, string] {
  const first = setCookie.split(';')[0]!
  const eq = first.indexOf('=')
  return [first.slice(0, eq), first.slice(eq + 1)]
}

/** The attributes after `name=value`, in order. */
function attributes(setCookie: string): string[] {
  return setCookie.split('; ').slice(1)
}

describe('accessCookies and refreshCookies with the defaults', () => {
  it('sets the access cookie (HttpOnly) and its CSRF cookie (not HttpOnly)', async () => {
    const { auth } = setup()
    const token = await auth.createAccessToken({ uid: 'u1' })
    const csrf = csrfOf(auth, token)
    expect(auth.accessCookies(token)).toEqual([
      `access_token_cookie=${token}; Path=/; Secure; HttpOnly; SameSite=Lax`,
      `csrf_access_token=${csrf}; Path=/; Secure; SameSite=Lax`,
    ])
  })

  it('sets the refresh cookie and its CSRF cookie', async () => {
    const { auth } = setup()
    const token = await auth.createRefreshToken({ uid: 'u1' })
    const csrf = csrfOf(auth, token)
    expect(auth.refreshCookies(token)).toEqual([
      `refresh_token_cookie=${token}; Path=/; Secure; HttpOnly; SameSite=Lax`,
      `csrf_refresh_token=${csrf}; Path=/; Secure; SameSite=Lax`,
    ])
  })

  it('sets no CSRF cookie for a token without a csrf claim', async () => {
    const headersOnly = new AuthX({ secretKey: SECRET })
    const token = await headersOnly.createAccessToken({ uid: 'u1' })
    expect(headersOnly.accessCookies(token)).toEqual([
      `access_token_cookie=${token}; Path=/; Secure; HttpOnly; SameSite=Lax`,
    ])
  })

  it('works on expired tokens', async () => {
    const { auth, advance } = setup()
    const access = await auth.createAccessToken({ uid: 'u1', expiry: 1 })
    const refresh = await auth.createRefreshToken({ uid: 'u1', expiry: 1 })
    advance(60_000)
    await expect(auth.verifyToken(access)).rejects.toMatchObject({ code: 'ERR_TOKEN_EXPIRED' })
    expect(auth.accessCookies(access)).toEqual([
      `access_token_cookie=${access}; Path=/; Secure; HttpOnly; SameSite=Lax`,
      `csrf_access_token=${csrfOf(auth, access)}; Path=/; Secure; SameSite=Lax`,
    ])
    expect(auth.refreshCookies(refresh)).toHaveLength(2)
  })

  it('refuses a string that is not a token', () => {
    const { auth } = setup()
    expect(() => auth.accessCookies('not a token')).toThrow(InvalidTokenError)
    expect(() => auth.refreshCookies('')).toThrow(InvalidTokenError)
  })
})

describe('configured cookie attributes', () => {
  const custom: AuthXOptions = {
    cookies: {
      accessName: 'at',
      refreshName: 'rt',
      accessPath: '/api',
      refreshPath: '/auth/refresh',
      domain: 'example.com',
      secure: false,
      sameSite: 'strict',
      httpOnly: false,
      maxAge: '1h',
    },
    csrf: { accessCookieName: 'xa', refreshCookieName: 'xr' },
  }

  it('applies names, paths, domain, Secure, SameSite, HttpOnly and Max-Age to both access cookies', async () => {
    const { auth } = setup(custom)
    const token = await auth.createAccessToken({ uid: 'u1' })
    expect(auth.accessCookies(token)).toEqual([
      `at=${token}; Path=/api; Domain=example.com; Max-Age=3600; SameSite=Strict`,
      `xa=${csrfOf(auth, token)}; Path=/; Domain=example.com; Max-Age=3600; SameSite=Strict`,
    ])
  })

  it('applies them to both refresh cookies: the refresh path to the token, the CSRF path to its CSRF cookie', async () => {
    const { auth } = setup(custom)
    const token = await auth.createRefreshToken({ uid: 'u1' })
    expect(auth.refreshCookies(token)).toEqual([
      `rt=${token}; Path=/auth/refresh; Domain=example.com; Max-Age=3600; SameSite=Strict`,
      `xr=${csrfOf(auth, token)}; Path=/; Domain=example.com; Max-Age=3600; SameSite=Strict`,
    ])
  })

  it('gives each CSRF cookie its own path (csrf.accessCookiePath, csrf.refreshCookiePath)', async () => {
    const { auth } = setup({
      ...custom,
      csrf: { ...custom.csrf, accessCookiePath: '/app', refreshCookiePath: '/auth' },
    })
    const pair = await auth.createTokenPair({ uid: 'u1' })
    expect(auth.accessCookies(pair.accessToken)[1]).toContain('; Path=/app;')
    expect(auth.refreshCookies(pair.refreshToken)[1]).toContain('; Path=/auth;')
    expect(auth.refreshCookies(pair.refreshToken)[0]).toContain('; Path=/auth/refresh;')
    expect(auth.unsetCookies().map((c) => c.split('; ')[1])).toEqual([
      'Path=/api',
      'Path=/app',
      'Path=/auth/refresh',
      'Path=/auth',
    ])
  })

  it('writes SameSite=None with Secure', async () => {
    const { auth } = setup({ cookies: { sameSite: 'none' } })
    const token = await auth.createAccessToken({ uid: 'u1' })
    expect(auth.accessCookies(token)).toEqual([
      `access_token_cookie=${token}; Path=/; Secure; HttpOnly; SameSite=None`,
      `csrf_access_token=${csrfOf(auth, token)}; Path=/; Secure; SameSite=None`,
    ])
  })

  it('lets a per-call maxAge override the configured one, on both cookies', async () => {
    const { auth } = setup(custom)
    const access = await auth.createAccessToken({ uid: 'u1' })
    const refresh = await auth.createRefreshToken({ uid: 'u1' })
    const [token, csrf] = auth.accessCookies(access, { maxAge: 60 })
    expect(attributes(token!)).toEqual(['Path=/api', 'Domain=example.com', 'Max-Age=60', 'SameSite=Strict'])
    expect(attributes(csrf!)).toEqual(['Path=/', 'Domain=example.com', 'Max-Age=60', 'SameSite=Strict'])
    for (const cookie of auth.refreshCookies(refresh, { maxAge: '2d' })) {
      expect(attributes(cookie)).toContain('Max-Age=172800')
    }
  })

  it('adds Max-Age per call to session cookies', async () => {
    const { auth } = setup()
    const token = await auth.createAccessToken({ uid: 'u1' })
    expect(auth.accessCookies(token, { maxAge: '15m' })).toEqual([
      `access_token_cookie=${token}; Path=/; Max-Age=900; Secure; HttpOnly; SameSite=Lax`,
      `csrf_access_token=${csrfOf(auth, token)}; Path=/; Max-Age=900; Secure; SameSite=Lax`,
    ])
  })

  it('rejects a per-call maxAge that is not a Duration with a TypeError', async () => {
    const { auth } = setup()
    const token = await auth.createAccessToken({ uid: 'u1' })
    for (const maxAge of [-1, 1.5, '1.5h', 'soon', Number.NaN]) {
      expect(() => auth.accessCookies(token, { maxAge: maxAge as 60 })).toThrow(TypeError)
    }
  })

  it('shares Domain, Secure, SameSite and Max-Age between a token cookie and its CSRF cookie', async () => {
    const variants: AuthXOptions[] = [
      {},
      custom,
      { cookies: { accessPath: '/a', refreshPath: '/r', domain: '.example.org', maxAge: 120 } },
      { cookies: { sameSite: 'none', secure: true, httpOnly: false } },
    ]
    for (const options of variants) {
      const { auth } = setup(options)
      const pairTokens = await auth.createTokenPair({ uid: 'u1' })
      for (const [token, csrf] of [
        auth.accessCookies(pairTokens.accessToken),
        auth.refreshCookies(pairTokens.refreshToken),
        auth.accessCookies(pairTokens.accessToken, { maxAge: 30 }),
      ] as [string, string][]) {
        const withoutPath = (c: string) => attributes(c).filter((a) => !a.startsWith('Path='))
        expect(withoutPath(csrf)).toEqual(withoutPath(token).filter((a) => a !== 'HttpOnly'))
        expect(attributes(csrf)).toContain('Path=/')
        expect(attributes(csrf)).not.toContain('HttpOnly')
      }
    }
  })

  it('never makes the CSRF cookie HttpOnly, and the token cookie HttpOnly unless configured', async () => {
    const on = setup().auth
    const off = setup({ cookies: { httpOnly: false } }).auth
    const a = await on.createAccessToken({ uid: 'u1' })
    const [tokenOn, csrfOn] = on.accessCookies(a)
    expect(attributes(tokenOn!)).toContain('HttpOnly')
    expect(attributes(csrfOn!)).not.toContain('HttpOnly')
    const [tokenOff, csrfOff] = off.accessCookies(a)
    expect(attributes(tokenOff!)).not.toContain('HttpOnly')
    expect(attributes(csrfOff!)).not.toContain('HttpOnly')
  })

  it('sets no CSRF cookie with csrf.inCookies false', async () => {
    const { auth } = setup({ csrf: { inCookies: false } })
    const pairTokens = await auth.createTokenPair({ uid: 'u1' })
    // The claim is still there: the client gets the value another way (e.g. the login response).
    csrfOf(auth, pairTokens.accessToken)
    expect(auth.accessCookies(pairTokens.accessToken)).toEqual([
      `access_token_cookie=${pairTokens.accessToken}; Path=/; Secure; HttpOnly; SameSite=Lax`,
    ])
    expect(auth.refreshCookies(pairTokens.refreshToken)).toEqual([
      `refresh_token_cookie=${pairTokens.refreshToken}; Path=/; Secure; HttpOnly; SameSite=Lax`,
    ])
  })

  it('writes __Host- cookies with Secure, Path=/ and no Domain (H07)', async () => {
    const { auth } = setup({
      cookies: { accessName: '__Host-at' },
      csrf: { accessCookieName: '__Host-csrf' },
    })
    const token = await auth.createAccessToken({ uid: 'u1' })
    const cookies = auth.accessCookies(token)
    expect(cookies.map((c) => pair(c)[0])).toEqual(['__Host-at', '__Host-csrf'])
    for (const cookie of cookies) {
      expect(attributes(cookie)).toContain('Secure')
      expect(attributes(cookie)).toContain('Path=/')
      expect(cookie).not.toMatch(/Domain=/)
    }
  })
})

describe('unset cookies', () => {
  it('deletes the access cookies with Max-Age=0', () => {
    const { auth } = setup()
    expect(auth.unsetAccessCookies()).toEqual([
      `access_token_cookie=; Path=/; Max-Age=0; ${EPOCH}; Secure; HttpOnly; SameSite=Lax`,
      `csrf_access_token=; Path=/; Max-Age=0; ${EPOCH}; Secure; SameSite=Lax`,
    ])
  })

  it('deletes the refresh cookies with Max-Age=0', () => {
    const { auth } = setup()
    expect(auth.unsetRefreshCookies()).toEqual([
      `refresh_token_cookie=; Path=/; Max-Age=0; ${EPOCH}; Secure; HttpOnly; SameSite=Lax`,
      `csrf_refresh_token=; Path=/; Max-Age=0; ${EPOCH}; Secure; SameSite=Lax`,
    ])
  })

  it('unsetCookies deletes all four', () => {
    const { auth } = setup()
    expect(auth.unsetCookies()).toEqual([...auth.unsetAccessCookies(), ...auth.unsetRefreshCookies()])
    expect(auth.unsetCookies().map((c) => pair(c)[0])).toEqual([
      'access_token_cookie',
      'csrf_access_token',
      'refresh_token_cookie',
      'csrf_refresh_token',
    ])
  })

  it('uses the same names, paths and domain as the cookies set, and Max-Age=0 despite a configured maxAge (H09)', async () => {
    const { auth } = setup({
      cookies: {
        accessName: 'at',
        refreshName: 'rt',
        accessPath: '/api',
        refreshPath: '/auth/refresh',
        domain: 'example.com',
        secure: false,
        sameSite: 'strict',
        maxAge: '1h',
      },
      csrf: { accessCookieName: 'xa', refreshCookieName: 'xr' },
    })
    expect(auth.unsetCookies()).toEqual([
      `at=; Path=/api; Domain=example.com; Max-Age=0; ${EPOCH}; HttpOnly; SameSite=Strict`,
      `xa=; Path=/; Domain=example.com; Max-Age=0; ${EPOCH}; SameSite=Strict`,
      `rt=; Path=/auth/refresh; Domain=example.com; Max-Age=0; ${EPOCH}; HttpOnly; SameSite=Strict`,
      `xr=; Path=/; Domain=example.com; Max-Age=0; ${EPOCH}; SameSite=Strict`,
    ])
    // Every cookie set is matched by one deletion with the same name, Path and Domain.
    const pairTokens = await auth.createTokenPair({ uid: 'u1' })
    const set = [
      ...auth.accessCookies(pairTokens.accessToken),
      ...auth.refreshCookies(pairTokens.refreshToken),
    ]
    const scope = (c: string) =>
      [pair(c)[0], ...attributes(c).filter((a) => /^(Path|Domain)=/.test(a))].join('|')
    expect(auth.unsetCookies().map(scope)).toEqual(set.map(scope))
  })

  it('deletes no CSRF cookie with csrf.inCookies false', () => {
    const { auth } = setup({ csrf: { inCookies: false } })
    expect(auth.unsetCookies().map((c) => pair(c)[0])).toEqual([
      'access_token_cookie',
      'refresh_token_cookie',
    ])
  })
})

describe('cookies round trip', () => {
  it('a browser that stores the cookies and echoes the CSRF cookie in the header is authenticated', async () => {
    const { auth } = setup()
    const tokens = await auth.createTokenPair({ uid: 'u1' })
    const jar = new Map(
      [...auth.accessCookies(tokens.accessToken), ...auth.refreshCookies(tokens.refreshToken)].map(pair),
    )
    const cookie = [...jar].map(([k, v]) => `${k}=${v}`).join('; ')
    const access = new Request('https://app.test/api', {
      method: 'POST',
      headers: { cookie, 'x-csrf-token': jar.get('csrf_access_token')! },
    })
    expect((await auth.authenticate(access))?.sub).toBe('u1')
    const refresh = new Request('https://app.test/refresh', {
      method: 'POST',
      headers: { cookie, 'x-csrf-token': jar.get('csrf_refresh_token')! },
    })
    expect((await auth.refreshRequired(refresh)).type).toBe('refresh')
  })
})

describe('security: cookie size and attributes', () => {
  /** An access token padded with custom data to roughly `length` characters. */
  async function bigToken(auth: AuthX, length: number): Promise<string> {
    const base = await auth.createAccessToken({ uid: 'u1', data: { pad: '' } })
    return auth.createAccessToken({
      uid: 'u1',
      data: { pad: 'x'.repeat(Math.floor(((length - base.length) * 3) / 4)) },
    })
  }

  it('refuses at issue time a cookie over 4096 bytes, and accepts one of exactly 4096 (H11)', async () => {
    const probe = setup().auth
    const token = await bigToken(probe, 4000)
    // Size the cookie name so that `name=value` is exactly 4096 bytes, then one more.
    const nameLength = 4096 - 1 - token.length
    expect(nameLength).toBeGreaterThan(10)
    const fits = setup({ cookies: { accessName: 'a'.repeat(nameLength) } }).auth
    const [cookie] = fits.accessCookies(token)
    expect(cookie!.split(';')[0]).toHaveLength(4096)
    const tooBig = setup({ cookies: { accessName: 'a'.repeat(nameLength + 1) } }).auth
    expect(() => tooBig.accessCookies(token)).toThrow(TypeError)
    const tooBigRefresh = setup({ cookies: { refreshName: 'r'.repeat(nameLength + 1) } }).auth
    expect(() => tooBigRefresh.refreshCookies(token)).toThrow(TypeError)
  })

  it('refuses a token far over the limit with the default names', async () => {
    const { auth } = setup()
    const token = await bigToken(auth, 6000)
    expect(() => auth.accessCookies(token)).toThrow(TypeError)
    expect(() => auth.accessCookies(token, { maxAge: 60 })).toThrow(TypeError)
  })

  it.each([
    ['SameSite=None without Secure', { sameSite: 'none', secure: false }],
    ['an attribute injected through sameSite', { sameSite: 'Lax; Domain=evil.test' }],
    ['an attribute injected through the path', { accessPath: '/; Domain=evil.test' }],
    ['an attribute injected through the domain', { domain: 'example.com; SameSite=None' }],
  ])('refuses %s with ConfigError (H10)', (_name, cookies) => {
    expect(() => new AuthX({ secretKey: SECRET, cookies: cookies as AuthXOptions['cookies'] })).toThrow(
      ConfigError,
    )
  })
})
