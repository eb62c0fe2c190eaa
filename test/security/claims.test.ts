/**
 * Security catalogue C (claim typing), D (time, with an injected clock only) and E (token
 * kind, freshness, scopes, audience, issuer), plus the checks on what callers may put into new
 * tokens (`data`, `headers`). Forged tokens are MACed with the right secret, so only the claim
 * rule under test can be what rejects them.
 */
import { afterEach, describe, expect, it, vi } from 'vitest'
import {
  AccessTokenRequiredError,
  type AuthX,
  ConfigError,
  FreshTokenRequiredError,
  InsufficientScopeError,
  RefreshTokenRequiredError,
  TokenExpiredError,
  TokenTypeError,
} from '../../src/index.js'
import {
  accessClaims,
  clock,
  expectExpired,
  expectInvalid,
  expectNoLeak,
  forgeHs256,
  hsAuth,
  jsonText,
  lit,
  NOW,
  NOW_MS,
  OMIT,
  raw,
  refreshClaims,
  rejection,
  thrown,
} from './forge.js'

/** An access token whose claims are `overrides` over valid ones; values may be raw JSON literals. */
function tokenWith(overrides: Record<string, unknown>): string {
  return forgeHs256(raw(jsonText(accessClaims(overrides))))
}

/** An instance whose clock can be moved. */
function movableAuth(options: Parameters<typeof hsAuth>[0] = {}): { auth: AuthX; at: (ms: number) => void } {
  let now = NOW_MS
  const auth = hsAuth({ clock: () => now, ...options })
  return { auth, at: (ms) => (now = ms) }
}

const badNumbers: [string, unknown][] = [
  ['the string "9999999999"', '9999999999'],
  ['the string "1e400"', '1e400'],
  ['an empty string', ''],
  ['true', true],
  ['false', false],
  ['null', null],
  ['{}', {}],
  ['[]', []],
  ['[NOW + 60]', [NOW + 60]],
  ['1e400 (Infinity once parsed)', lit('1e400')],
  ['-1e400 (-Infinity once parsed)', lit('-1e400')],
]

describe('security: claim typing', () => {
  const auth = hsAuth()

  it('accepts the control token', async () => {
    const payload = await auth.verifyToken(tokenWith({}))
    expect(payload.sub).toBe('user-1')
  })

  for (const claim of ['exp', 'nbf', 'iat']) {
    for (const [name, value] of badNumbers) {
      it(`rejects ${claim} = ${name} as claims`, async () => {
        const token = tokenWith({ [claim]: value })
        await expectInvalid(auth.decodeToken(token), 'claims', token)
        await expectInvalid(auth.verifyToken(token), 'claims', token)
      })
    }
  }

  it('rejects a missing exp or iat as claims; a missing nbf is fine', async () => {
    for (const claim of ['exp', 'iat']) {
      const token = tokenWith({ [claim]: OMIT })
      await expectInvalid(auth.decodeToken(token), 'claims', token)
    }
    expect((await auth.decodeToken(tokenWith({ nbf: OMIT }))).sub).toBe('user-1')
  })

  it('accepts fractional NumericDates', async () => {
    const payload = await auth.decodeToken(tokenWith({ iat: NOW - 0.5, nbf: NOW - 0.25, exp: NOW + 100.5 }))
    expect(payload.exp).toBe(NOW + 100.5)
  })

  const badStrings: [string, unknown][] = [
    ['missing', OMIT],
    ['empty', ''],
    ['a number', 123],
    ['null', null],
    ['an object {"$ne":null}', { $ne: null }],
    ['an array', ['user-1']],
    ['true', true],
  ]
  for (const claim of ['sub', 'jti']) {
    for (const [name, value] of badStrings) {
      it(`rejects ${claim} ${name} as claims`, async () => {
        const token = tokenWith({ [claim]: value })
        await expectInvalid(auth.decodeToken(token), 'claims', token)
      })
    }
  }

  const badTypes: [string, unknown][] = [
    ['missing', OMIT],
    ['"ACCESS"', 'ACCESS'],
    ['"Access"', 'Access'],
    ['"access "', 'access '],
    ['["access"] (equal under loose ==)', ['access']],
    ['null', null],
    ['1', 1],
    ['"id"', 'id'],
    ['""', ''],
  ]
  for (const [name, value] of badTypes) {
    it(`rejects type ${name} as claims, in decodeToken and in verifyToken for either type`, async () => {
      const token = tokenWith({ type: value })
      await expectInvalid(auth.decodeToken(token), 'claims', token)
      await expectInvalid(auth.verifyToken(token), 'claims', token)
      await expectInvalid(auth.verifyToken(token, { type: 'refresh' }), 'claims', token)
    })
  }

  for (const value of ['true', 'false', 1, 0, {}, [], null, [true]]) {
    it(`rejects fresh ${JSON.stringify(value)} (not a boolean) as claims, even where freshness is not required`, async () => {
      const token = tokenWith({ fresh: value })
      await expectInvalid(auth.decodeToken(token), 'claims', token)
      await expectInvalid(auth.verifyToken(token), 'claims', token)
      await expectInvalid(auth.verifyToken(token, { fresh: true }), 'claims', token)
    })
  }

  it('rejects csrf, fid and iss claims that are not strings', async () => {
    for (const claim of ['csrf', 'fid', 'iss']) {
      for (const value of [1, true, ['x'], { x: 1 }]) {
        const token = tokenWith({ [claim]: value })
        await expectInvalid(auth.decodeToken(token), ['claims', 'issuer'], token)
      }
    }
  })

  it('grants nothing from a scopes claim that is not an array of strings (C03)', async () => {
    for (const scopes of [
      'admin',
      'xadminx',
      { 0: 'admin', length: 1 },
      [1, null],
      ['admin', 1],
      [['admin']],
      null,
    ]) {
      const token = tokenWith({ scopes })
      const payload = await auth.decodeToken(token)
      expect(payload.scopes).toBeUndefined()
      expect(payload.hasScopes('admin')).toBe(false)
      expect(payload.hasAnyScope('admin')).toBe(false)
      for (const anyScope of [false, true]) {
        const err = await rejection(auth.verifyToken(token, { scopes: ['admin'], anyScope }))
        expect(err).toBeInstanceOf(InsufficientScopeError)
        expect((err as InsufficientScopeError).status).toBe(403)
      }
    }
  })
})

describe('security: time and leeway', () => {
  const L = 30

  afterEach(() => {
    vi.restoreAllMocks()
  })

  it('rejects exp == now - leeway as expired and accepts exp == now - leeway + 1 (D05)', async () => {
    const auth = hsAuth({ verify: { leeway: L } })
    const expired = tokenWith({ iat: NOW - 900, nbf: NOW - 900, exp: NOW - L })
    const err = await expectExpired(auth.decodeToken(expired), expired)
    expect(err.expiredAt.getTime()).toBe((NOW - L) * 1000)
    await expectExpired(auth.verifyToken(expired), expired)
    const valid = tokenWith({ iat: NOW - 900, nbf: NOW - 900, exp: NOW - L + 1 })
    expect((await auth.verifyToken(valid)).sub).toBe('user-1')
  })

  it('rejects exp == now with no leeway, accepts exp == now + 1', async () => {
    const auth = hsAuth()
    const expired = tokenWith({ iat: NOW - 60, nbf: NOW - 60, exp: NOW })
    await expectExpired(auth.decodeToken(expired), expired)
    expect((await auth.decodeToken(tokenWith({ exp: NOW + 1 }))).sub).toBe('user-1')
  })

  it('treats exp -1, 0 and -0 as expired (D03)', async () => {
    const auth = hsAuth({ verify: { leeway: 300 } })
    for (const exp of [-1, 0, lit('-0'), lit('0.0'), 1e-7]) {
      const token = tokenWith({ iat: 0, nbf: 0, exp })
      await expectExpired(auth.decodeToken(token), token)
    }
  })

  it('compares fractional exp against the clock to the millisecond', async () => {
    const { auth, at } = movableAuth()
    const token = tokenWith({ exp: NOW + 0.25 })
    at(NOW_MS + 249)
    expect((await auth.decodeToken(token)).sub).toBe('user-1')
    at(NOW_MS + 250)
    await expectExpired(auth.decodeToken(token), token)
  })

  it('accepts nbf == now + leeway and rejects nbf == now + leeway + 1 as not_before (D06)', async () => {
    const auth = hsAuth({ verify: { leeway: L } })
    expect((await auth.decodeToken(tokenWith({ nbf: NOW + L }))).sub).toBe('user-1')
    const early = tokenWith({ nbf: NOW + L + 1 })
    await expectInvalid(auth.decodeToken(early), 'not_before', early)
    await expectInvalid(auth.verifyToken(early), 'not_before', early)
    const strict = hsAuth()
    expect((await strict.decodeToken(tokenWith({ nbf: NOW }))).sub).toBe('user-1')
    const next = tokenWith({ nbf: NOW + 1 })
    await expectInvalid(strict.decodeToken(next), 'not_before', next)
  })

  it('accepts iat == now + leeway and rejects iat later than that as claims (D07)', async () => {
    const auth = hsAuth({ verify: { leeway: L } })
    expect((await auth.decodeToken(tokenWith({ iat: NOW + L, nbf: OMIT }))).sub).toBe('user-1')
    for (const iat of [NOW + L + 1, NOW + 86_400, 1e12]) {
      const token = tokenWith({ iat, nbf: OMIT })
      await expectInvalid(auth.decodeToken(token), 'claims', token)
    }
  })

  it('accepts a +/-30 s clock skew with leeway 30 and rejects 31 s (D09)', async () => {
    const verifier = movableAuth({ verify: { leeway: L }, accessTokenExpires: 600 })
    for (const skew of [L, -L + 1]) {
      const issuer = hsAuth({ clock: () => NOW_MS + skew * 1000, accessTokenExpires: 600 })
      const token = await issuer.createAccessToken({ uid: 'user-1' })
      expect((await verifier.auth.verifyToken(token)).sub).toBe('user-1')
    }
    const ahead = await hsAuth({ clock: () => NOW_MS + (L + 1) * 1000 }).createAccessToken({ uid: 'user-1' })
    await expectInvalid(verifier.auth.verifyToken(ahead), ['claims', 'not_before'], ahead)

    const token = await hsAuth({ accessTokenExpires: 600 }).createAccessToken({ uid: 'user-1' })
    verifier.at(NOW_MS + (600 + L - 1) * 1000)
    expect((await verifier.auth.verifyToken(token)).sub).toBe('user-1')
    verifier.at(NOW_MS + (600 + L) * 1000)
    await expectExpired(verifier.auth.verifyToken(token), token)
  })

  it('changes the outcome with the configured leeway (D10)', async () => {
    const token = tokenWith({ iat: NOW - 900, nbf: NOW - 900, exp: NOW - 10 })
    await expectExpired(hsAuth().decodeToken(token), token)
    await expectExpired(hsAuth({ verify: { leeway: 10 } }).decodeToken(token), token)
    expect((await hsAuth({ verify: { leeway: 11 } }).decodeToken(token)).sub).toBe('user-1')
  })

  it('refuses a leeway that is negative, not finite, not a number, or above 300 (D08)', () => {
    const bad = [
      -1,
      -0.5,
      301,
      300.5,
      Number.NaN,
      Number.POSITIVE_INFINITY,
      Number.NEGATIVE_INFINITY,
      '30',
      null,
      true,
    ]
    for (const leeway of bad) {
      expect(thrown(() => hsAuth({ verify: { leeway: leeway as number } }))).toBeInstanceOf(ConfigError)
    }
    for (const leeway of [0, 1, 300]) expect(hsAuth({ verify: { leeway } }).config.leeway).toBe(leeway)
  })

  it('uses the clock option for every time decision, never Date.now', async () => {
    const auth = hsAuth()
    const token = await auth.createAccessToken({ uid: 'user-1' })
    for (const wallClock of [0, NOW_MS + 10 * 365 * 86_400_000]) {
      vi.spyOn(Date, 'now').mockReturnValue(wallClock)
      const payload = await auth.verifyToken(token)
      expect(payload.iat).toBe(NOW)
      expect(payload.exp).toBe(NOW + 900)
      expect(payload.timeUntilExpiry).toBe(900_000)
      vi.restoreAllMocks()
    }
  })

  it('requires exp unless the lifetime for that token type is false (D01)', async () => {
    const noExp = tokenWith({ exp: OMIT })
    const refreshNoExp = forgeHs256(refreshClaims({ exp: OMIT }))
    await expectInvalid(hsAuth().decodeToken(noExp), 'claims', noExp)
    await expectInvalid(hsAuth().decodeToken(refreshNoExp), 'claims', refreshNoExp)

    const accessForever = hsAuth({ accessTokenExpires: false })
    expect((await accessForever.decodeToken(noExp)).exp).toBeUndefined()
    await expectInvalid(accessForever.decodeToken(refreshNoExp), 'claims', refreshNoExp)
    const refreshForever = hsAuth({ refreshTokenExpires: false })
    expect((await refreshForever.decodeToken(refreshNoExp)).type).toBe('refresh')
    await expectInvalid(refreshForever.decodeToken(noExp), 'claims', noExp)

    const minted = await hsAuth().decodeToken(await hsAuth().createAccessToken({ uid: 'user-1' }))
    expect(minted.exp).toBe(NOW + 900)
  })
})

describe('security: type confusion', () => {
  const auth = hsAuth()

  it('rejects a refresh token where an access token is required (E01)', async () => {
    const refresh = await auth.createRefreshToken({ uid: 'user-1' })
    for (const options of [
      undefined,
      { type: 'access' as const },
      { type: 'access' as const, fresh: true },
    ]) {
      const err = await rejection(auth.verifyToken(refresh, options))
      expect(err).toBeInstanceOf(AccessTokenRequiredError)
      expect(err).toBeInstanceOf(TokenTypeError)
      const typed = err as TokenTypeError
      expect(typed.code).toBe('ERR_WRONG_TOKEN_TYPE')
      expect(typed.status).toBe(401)
      expect(typed.wwwAuthenticate).toBe('Bearer error="invalid_token"')
      expect(typed.expected).toBe('access')
      expect(typed.received).toBe('refresh')
      expectNoLeak(typed, refresh)
    }
  })

  it('rejects an access token where a refresh token is required (E02)', async () => {
    const { accessToken, refreshToken } = await auth.createTokenPair({ uid: 'user-1', fresh: true })
    const err = await rejection(auth.verifyToken(accessToken, { type: 'refresh' }))
    expect(err).toBeInstanceOf(RefreshTokenRequiredError)
    expect(err).toBeInstanceOf(TokenTypeError)
    expect((err as TokenTypeError).code).toBe('ERR_WRONG_TOKEN_TYPE')
    expect((err as TokenTypeError).status).toBe(401)
    expectNoLeak(err, accessToken)
    expect((await auth.verifyToken(refreshToken, { type: 'refresh' })).type).toBe('refresh')
  })

  it('checks the type before scopes and freshness, so a wrong-type token is never a 403', async () => {
    const refresh = await auth.createRefreshToken({ uid: 'user-1', scopes: [] })
    const err = await rejection(auth.verifyToken(refresh, { scopes: ['admin'], fresh: true }))
    expect(err).toBeInstanceOf(TokenTypeError)
  })

  it('refuses a type option other than access or refresh', async () => {
    const token = await auth.createAccessToken({ uid: 'user-1' })
    const err = await rejection(auth.verifyToken(token, { type: 'ACCESS' as never }))
    expect(err).toBeInstanceOf(TypeError)
  })
})

describe('security: freshness and scopes', () => {
  const auth = hsAuth()

  it('requires fresh === true where freshness is required (E03)', async () => {
    const stale = await auth.createAccessToken({ uid: 'user-1' })
    const err = await rejection(auth.verifyToken(stale, { fresh: true }))
    expect(err).toBeInstanceOf(FreshTokenRequiredError)
    expect((err as FreshTokenRequiredError).status).toBe(401)
    expect((err as FreshTokenRequiredError).code).toBe('ERR_FRESH_TOKEN_REQUIRED')
    expect((err as FreshTokenRequiredError).wwwAuthenticate).toBe(
      'Bearer error="insufficient_user_authentication"',
    )
    const withoutClaim = tokenWith({ fresh: OMIT })
    expect(await rejection(auth.verifyToken(withoutClaim, { fresh: true }))).toBeInstanceOf(
      FreshTokenRequiredError,
    )
    const fresh = await auth.createAccessToken({ uid: 'user-1', fresh: true })
    expect((await auth.verifyToken(fresh, { fresh: true })).fresh).toBe(true)
  })

  it('never makes a refresh token fresh', async () => {
    expect(await rejection(auth.createRefreshToken({ uid: 'user-1', fresh: true } as never))).toBeInstanceOf(
      TypeError,
    )
    const refresh = await auth.createRefreshToken({ uid: 'user-1' })
    expect(auth.decodeUnverified(refresh).payload).not.toHaveProperty('fresh')
    expect((await auth.verifyToken(refresh, { type: 'refresh' })).fresh).toBe(false)
  })

  it('never makes the access token minted by refresh() fresh, even from a fresh login (E03)', async () => {
    const { refreshToken } = await auth.createTokenPair({ uid: 'user-1', fresh: true })
    const pair = await auth.refresh(refreshToken)
    expect(await rejection(auth.verifyToken(pair.accessToken, { fresh: true }))).toBeInstanceOf(
      FreshTokenRequiredError,
    )
  })

  async function scoped(scopes: string[] | undefined): Promise<string> {
    return auth.createAccessToken({ uid: 'user-1', ...(scopes === undefined ? {} : { scopes }) })
  }

  async function expectScopeError(token: string, required: string[], anyScope = false): Promise<void> {
    const err = await rejection(auth.verifyToken(token, { scopes: required, anyScope }))
    expect(err).toBeInstanceOf(InsufficientScopeError)
    const scopeErr = err as InsufficientScopeError
    expect(scopeErr.status).toBe(403)
    expect(scopeErr.code).toBe('ERR_INSUFFICIENT_SCOPE')
    expect(scopeErr.wwwAuthenticate).toMatch(/^Bearer error="insufficient_scope"/)
    expectNoLeak(scopeErr, token)
  }

  it('lets admin:* grant admin:users:edit and admin (E04, E05)', async () => {
    const token = await scoped(['admin:*'])
    for (const required of ['admin:users:edit', 'admin:users', 'admin']) {
      expect((await auth.verifyToken(token, { scopes: [required] })).sub).toBe('user-1')
    }
  })

  it('does not let admin:* grant administrator, nor admin:*:x, * or :* grant anything else (E06)', async () => {
    await expectScopeError(await scoped(['admin:*']), ['administrator'])
    await expectScopeError(await scoped(['admin:*']), ['adminx:users'])
    await expectScopeError(await scoped(['admin:*:x']), ['admin:users:x'])
    await expectScopeError(await scoped(['*']), ['admin'])
    await expectScopeError(await scoped(['*']), ['anything'])
    await expectScopeError(await scoped([':*']), [':x'])
    // An empty required scope is a caller error, refused before any comparison.
    await expect(auth.verifyToken(await scoped([':*']), { scopes: [''] })).rejects.toBeInstanceOf(TypeError)
  })

  it('never treats a required scope as a pattern', async () => {
    await expectScopeError(await scoped(['admin:users']), ['admin:*'])
    await expectScopeError(await scoped(['admin']), ['*'])
  })

  it('compares scopes case-sensitively (E07)', async () => {
    await expectScopeError(await scoped(['admin']), ['ADMIN'])
    await expectScopeError(await scoped(['Admin:*']), ['admin:users'])
  })

  it('answers 403 when scopes are missing or empty, and tells all-of from any-of (E08)', async () => {
    await expectScopeError(await scoped(undefined), ['read'])
    await expectScopeError(await scoped([]), ['read'])
    await expectScopeError(await scoped(['read']), ['read', 'write'])
    await expectScopeError(await scoped([]), ['read', 'write'], true)
    expect(
      (await auth.verifyToken(await scoped(['read']), { scopes: ['read', 'write'], anyScope: true })).sub,
    ).toBe('user-1')
    expect((await auth.verifyToken(await scoped(undefined), { scopes: [] })).sub).toBe('user-1')
  })

  it('answers 401, not 403, for an invalid or expired token on a scoped check (E09)', async () => {
    const token = await scoped(['read'])
    const [h, p] = token.split('.')
    const forged = `${h}.${p}.${'A'.repeat(43)}`
    await expectInvalid(auth.verifyToken(forged, { scopes: ['admin'] }), 'signature', forged)
    const expired = tokenWith({ exp: NOW - 1, iat: NOW - 100, nbf: NOW - 100, scopes: [] })
    const err = await rejection(auth.verifyToken(expired, { scopes: ['admin'], fresh: true }))
    expect(err).toBeInstanceOf(TokenExpiredError)
  })
})

describe('security: audience and issuer', () => {
  it('rejects a token carrying aud when no audience is expected (E11)', async () => {
    const auth = hsAuth()
    for (const aud of ['api', ['api'], [], '', ['x', 'y']]) {
      const token = tokenWith({ aud })
      await expectInvalid(auth.decodeToken(token), 'audience', token)
      await expectInvalid(auth.verifyToken(token), 'audience', token)
    }
    const other = hsAuth({ audience: 'api' })
    const minted = await other.createAccessToken({ uid: 'user-1' })
    await expectInvalid(auth.decodeToken(minted), 'audience', minted)
  })

  it("rejects audiences that are not exactly 'api' (E10)", async () => {
    const auth = hsAuth({ verify: { audience: 'api' } })
    const bad: unknown[] = [
      'api.evil',
      'ap',
      '_api_',
      'API',
      ' api',
      'apiapi',
      '',
      [],
      123,
      ['api', 5],
      [['api']],
      { api: true },
      null,
      OMIT,
    ]
    for (const aud of bad) {
      const token = tokenWith({ aud })
      await expectInvalid(auth.decodeToken(token), 'audience', token)
    }
    for (const aud of ['api', ['x', 'api'], ['api']]) {
      expect((await auth.decodeToken(tokenWith({ aud }))).sub).toBe('user-1')
    }
  })

  it('accepts any of several expected audiences and nothing else', async () => {
    const auth = hsAuth({ verify: { audience: ['api', 'web'] } })
    expect((await auth.decodeToken(tokenWith({ aud: 'web' }))).sub).toBe('user-1')
    const token = tokenWith({ aud: ['mobile', 'admin'] })
    await expectInvalid(auth.decodeToken(token), 'audience', token)
  })

  it('accepts its own tokens and rejects a per-token audience it does not expect', async () => {
    const auth = hsAuth({ audience: 'api' })
    expect((await auth.verifyToken(await auth.createAccessToken({ uid: 'user-1' }))).aud).toBe('api')
    const other = await auth.createAccessToken({ uid: 'user-1', audience: 'billing' })
    await expectInvalid(auth.verifyToken(other), 'audience', other)
  })

  it('rejects an issuer that is wrong, missing or not exactly equal (E12)', async () => {
    const auth = hsAuth({ verify: { issuer: 'https://auth.example' } })
    expect((await auth.decodeToken(tokenWith({ iss: 'https://auth.example' }))).sub).toBe('user-1')
    for (const iss of [
      'https://evil.example',
      'https://auth.example/',
      'https://auth.example.evil',
      'https://auth',
      'HTTPS://AUTH.EXAMPLE',
      'xhttps://auth.examplex',
      '',
      OMIT,
    ]) {
      const token = tokenWith({ iss })
      await expectInvalid(auth.decodeToken(token), 'issuer', token)
    }
    for (const iss of [['https://auth.example'], 123, null]) {
      const token = tokenWith({ iss })
      await expectInvalid(auth.decodeToken(token), ['issuer', 'claims'], token)
    }
    const dotted = hsAuth({ verify: { issuer: 'a.b' } })
    const token = tokenWith({ iss: 'aXb' })
    await expectInvalid(dotted.decodeToken(token), 'issuer', token)
  })
})

describe('security: token creation input', () => {
  const auth = hsAuth({ clock })
  const creators: [string, (data: Record<string, unknown>) => Promise<string | object>][] = [
    ['createAccessToken', (data) => auth.createAccessToken({ uid: 'user-1', data })],
    ['createRefreshToken', (data) => auth.createRefreshToken({ uid: 'user-1', data })],
    ['createTokenPair', (data) => auth.createTokenPair({ uid: 'user-1', data })],
  ]

  async function expectTypeErrorNaming(call: () => Promise<unknown>, key: string): Promise<void> {
    let err: unknown
    try {
      await call()
    } catch (caught) {
      err = caught
    }
    expect(err).toBeInstanceOf(TypeError)
    expect((err as TypeError).message).toContain(key)
    expect(({} as Record<string, unknown>).polluted).toBeUndefined()
  }

  const forbiddenKeys = ['__proto__', 'constructor', 'prototype']
  const placements: [string, (key: string) => Record<string, unknown>][] = [
    ['at the top level', (key) => JSON.parse(`{${JSON.stringify(key)}:{"polluted":"yes"}}`)],
    ['one level down', (key) => JSON.parse(`{"a":{${JSON.stringify(key)}:{"polluted":"yes"}}}`)],
    ['three levels down', (key) => JSON.parse(`{"a":{"b":{"c":{${JSON.stringify(key)}:1}}}}`)],
    ['inside an array', (key) => JSON.parse(`{"list":[1,{${JSON.stringify(key)}:{"polluted":"yes"}}]}`)],
  ]
  for (const [creator, create] of creators) {
    for (const key of forbiddenKeys) {
      for (const [where, data] of placements) {
        it(`${creator} rejects data with '${key}' ${where} with a TypeError naming it`, async () => {
          await expectTypeErrorNaming(() => create(data(key)), key)
        })
      }
    }
  }

  const reserved = ['sub', 'jti', 'iat', 'nbf', 'exp', 'iss', 'aud', 'type', 'fresh', 'csrf', 'scopes', 'fid']
  for (const [creator, create] of creators) {
    it(`${creator} rejects every reserved claim in data with a TypeError naming it`, async () => {
      for (const key of reserved) await expectTypeErrorNaming(() => create({ [key]: 'x' }), key)
    })
  }

  it('rejects data that is not plain JSON', async () => {
    for (const data of [
      { n: Number.NaN },
      { n: Number.POSITIVE_INFINITY },
      { d: new Date(0) },
      { f: () => 1 },
      { b: 1n },
      { m: new Map() },
      [] as unknown as Record<string, unknown>,
    ]) {
      expect(await rejection(auth.createAccessToken({ uid: 'user-1', data }))).toBeInstanceOf(TypeError)
    }
  })

  for (const field of ['alg', 'typ', 'kid', 'crit', 'jku', 'jwk', 'x5u', 'x5c']) {
    it(`rejects the header field '${field}' in headers with a TypeError naming it`, async () => {
      for (const value of ['x', 'none', ['x'], { kty: 'oct', k: 'AAAA' }]) {
        await expectTypeErrorNaming(
          () => auth.createAccessToken({ uid: 'user-1', headers: { [field]: value } }),
          field,
        )
        await expectTypeErrorNaming(
          () => auth.createRefreshToken({ uid: 'user-1', headers: { [field]: value } }),
          field,
        )
      }
    })
  }

  it('rejects __proto__ in headers and keeps extra header fields out of alg and kid', async () => {
    await expectTypeErrorNaming(
      () => auth.createAccessToken({ uid: 'user-1', headers: JSON.parse('{"__proto__":{"alg":"none"}}') }),
      '__proto__',
    )
    const token = await auth.createAccessToken({ uid: 'user-1', headers: { cty: 'text' } })
    expect(auth.decodeUnverified(token).header).toEqual({ alg: 'HS256', typ: 'JWT', cty: 'text' })
  })

  it('rejects an empty or non-string uid with a TypeError', async () => {
    for (const uid of ['', 1, null, undefined, ['u']]) {
      expect(await rejection(auth.createAccessToken({ uid } as never))).toBeInstanceOf(TypeError)
    }
  })
})
