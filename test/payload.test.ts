import { describe, expect, expectTypeOf, it } from 'vitest'
import { AuthX, type AuthXOptions, FreshTokenRequiredError, TokenPayload } from '../src/index.js'

const SECRET = 'x'.repeat(32)
const START = 1_700_000_000_250
const NOW_S = Math.floor(START / 1000)

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

function baseClaims(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { sub: 'u1', jti: 'j1', iat: NOW_S, nbf: NOW_S, exp: NOW_S + 900, type: 'access', ...extra }
}

describe('TokenPayload fields', () => {
  it('exposes every registered claim as a field', async () => {
    const { auth } = setup({ tokenLocation: ['cookies'], issuer: 'iss1', audience: ['a1', 'a2'] })
    const pair = await auth.createTokenPair({ uid: 'u1', fresh: true, scopes: ['s:*'] })
    const p = await auth.verifyToken(pair.accessToken)
    const raw = auth.decodeUnverified(pair.accessToken).payload
    expect(p).toBeInstanceOf(TokenPayload)
    expect(p.sub).toBe('u1')
    expect(p.jti).toBe(raw.jti)
    expect(p.iat).toBe(NOW_S)
    expect(p.nbf).toBe(NOW_S)
    expect(p.exp).toBe(NOW_S + 900)
    expect(p.iss).toBe('iss1')
    expect(p.aud).toEqual(['a1', 'a2'])
    expect(p.type).toBe('access')
    expect(p.fresh).toBe(true)
    expect(p.csrf).toBe(raw.csrf)
    expect(p.scopes).toEqual(['s:*'])
    expect(p.fid).toBe(raw.fid)
  })

  it('leaves optional fields undefined when their claims are absent', async () => {
    const { auth } = setup({ accessTokenExpires: false })
    const p = await auth.verifyToken(await auth.createAccessToken({ uid: 'u1' }))
    for (const field of ['exp', 'iss', 'aud', 'csrf', 'scopes', 'fid'] as const) {
      expect(p[field]).toBeUndefined()
    }
  })

  it('keeps only custom claims in extra and every claim in claims', async () => {
    const { auth } = setup({ tokenLocation: ['cookies'], issuer: 'iss1', audience: 'a1' })
    const data = { role: 'admin', team: { id: 7, tags: ['x'] }, n: null }
    const token = (await auth.createTokenPair({ uid: 'u1', scopes: ['s'], data })).accessToken
    const p = await auth.verifyToken(token)
    expect(p.extra).toEqual(data)
    expect(Object.keys(p.extra)).toEqual(['role', 'team', 'n'])
    expect(p.claims).toEqual(auth.decodeUnverified(token).payload)
    expect(Object.keys(p.claims)).toEqual(Object.keys(auth.decodeUnverified(token).payload))
  })

  it('has an empty extra when there is no custom data', async () => {
    const { auth } = setup()
    const p = await auth.verifyToken(await auth.createAccessToken({ uid: 'u1', scopes: ['a'] }))
    expect(p.extra).toEqual({})
  })

  it('types extra through its generic parameter', async () => {
    const { auth } = setup()
    const token = await auth.createAccessToken({ uid: 'u1', data: { role: 'admin', level: 3 } })
    const p = await auth.verifyToken<{ role: string; level: number }>(token)
    expectTypeOf(p).toEqualTypeOf<TokenPayload<{ role: string; level: number }>>()
    expectTypeOf(p.extra).toEqualTypeOf<Readonly<{ role: string; level: number }>>()
    expectTypeOf(p.extra.role).toEqualTypeOf<string>()
    const decoded = await auth.decodeToken<{ role: string }>(token)
    expectTypeOf(decoded.extra.role).toEqualTypeOf<string>()
    const untyped = await auth.verifyToken(token)
    expectTypeOf(untyped.extra).toEqualTypeOf<Readonly<Record<string, unknown>>>()
    expect(p.extra.role).toBe('admin')
    expect(p.extra.level).toBe(3)
  })

  it('gives issuedAt, notBefore and expiresAt as Dates', async () => {
    const { auth } = setup()
    const p = await auth.verifyToken(await auth.createAccessToken({ uid: 'u1' }))
    expect(p.issuedAt).toBeInstanceOf(Date)
    expect(p.issuedAt.getTime()).toBe(NOW_S * 1000)
    expect(p.notBefore?.getTime()).toBe(NOW_S * 1000)
    expect(p.expiresAt).toBeInstanceOf(Date)
    expect(p.expiresAt?.getTime()).toBe((NOW_S + 900) * 1000)
  })

  it('gives expiresAt and notBefore undefined when the token has no exp or nbf', () => {
    const claims = baseClaims()
    delete claims.exp
    delete claims.nbf
    const p = new TokenPayload(claims, () => START)
    expect(p.expiresAt).toBeUndefined()
    expect(p.notBefore).toBeUndefined()
    expect(p.issuedAt.getTime()).toBe(NOW_S * 1000)
  })
})

describe('TokenPayload times', () => {
  it('computes timeUntilExpiry and timeSinceIssued in milliseconds on the injected clock', async () => {
    const { auth } = setup()
    const p = await auth.verifyToken(await auth.createAccessToken({ uid: 'u1' }))
    // iat is START rounded down to the second: 250 ms have passed since.
    expect(p.timeSinceIssued).toBe(250)
    expect(p.timeUntilExpiry).toBe(900_000 - 250)
  })

  it('recomputes both at each access as the clock moves', async () => {
    const { auth, advance } = setup()
    const p = await auth.verifyToken(await auth.createAccessToken({ uid: 'u1' }))
    advance(60_000)
    expect(p.timeSinceIssued).toBe(60_250)
    expect(p.timeUntilExpiry).toBe(900_000 - 60_250)
    advance(1)
    expect(p.timeSinceIssued).toBe(60_251)
    expect(p.timeUntilExpiry).toBe(900_000 - 60_251)
  })

  it('makes timeUntilExpiry negative once expired', async () => {
    const { auth, advance } = setup()
    const p = await auth.verifyToken(await auth.createAccessToken({ uid: 'u1', expiry: '10s' }))
    advance(10_000)
    expect(p.timeUntilExpiry).toBe(-250)
    advance(5_000)
    expect(p.timeUntilExpiry).toBe(-5_250)
  })

  it('makes timeUntilExpiry Infinity without exp', async () => {
    const { auth, advance } = setup({ accessTokenExpires: false })
    const p = await auth.verifyToken(await auth.createAccessToken({ uid: 'u1' }))
    expect(p.timeUntilExpiry).toBe(Number.POSITIVE_INFINITY)
    advance(10 * 365 * 86_400_000)
    expect(p.timeUntilExpiry).toBe(Number.POSITIVE_INFINITY)
    expect(p.timeSinceIssued).toBe(250 + 10 * 365 * 86_400_000)
  })

  it('uses the clock given to the constructor', () => {
    let now = (NOW_S + 100) * 1000
    const p = new TokenPayload(baseClaims(), () => now)
    expect(p.timeSinceIssued).toBe(100_000)
    expect(p.timeUntilExpiry).toBe(800_000)
    now += 900_000
    expect(p.timeUntilExpiry).toBe(-100_000)
  })
})

describe('TokenPayload immutability', () => {
  it('freezes the instance: assigning or adding a field throws', async () => {
    const { auth } = setup()
    const p = await auth.verifyToken(await auth.createAccessToken({ uid: 'u1', scopes: ['a'] }))
    const writable = p as unknown as Record<string, unknown>
    expect(Object.isFrozen(p)).toBe(true)
    expect(() => {
      writable.sub = 'admin'
    }).toThrow(TypeError)
    expect(() => {
      writable.fresh = true
    }).toThrow(TypeError)
    expect(() => {
      writable.added = 1
    }).toThrow(TypeError)
    expect(() => {
      delete writable.jti
    }).toThrow(TypeError)
    expect(p.sub).toBe('u1')
    expect(p.fresh).toBe(false)
  })

  it('freezes claims and extra, deeply', async () => {
    const { auth } = setup()
    const data = { role: 'user', team: { id: 1, tags: ['a'] } }
    const p = await auth.verifyToken(await auth.createAccessToken({ uid: 'u1', scopes: ['a'], data }))
    const claims = p.claims as Record<string, unknown>
    const extra = p.extra as Record<string, unknown>
    expect(() => {
      claims.sub = 'admin'
    }).toThrow(TypeError)
    expect(() => {
      claims.fresh = true
    }).toThrow(TypeError)
    expect(() => {
      extra.role = 'admin'
    }).toThrow(TypeError)
    expect(() => {
      extra.added = 1
    }).toThrow(TypeError)
    expect(() => {
      ;(extra.team as Record<string, unknown>).id = 2
    }).toThrow(TypeError)
    expect(() => {
      ;((extra.team as Record<string, unknown>).tags as string[]).push('b')
    }).toThrow(TypeError)
    expect(() => {
      ;(p.scopes as string[]).push('admin:*')
    }).toThrow(TypeError)
    expect(p.hasScopes('admin:users')).toBe(false)
    expect(p.extra).toEqual(data)
    expect(p.claims.sub).toBe('u1')
  })
})

describe('TokenPayload fresh and scopes', () => {
  it('counts only a true fresh claim', () => {
    expect(new TokenPayload(baseClaims({ fresh: true })).fresh).toBe(true)
    for (const value of [false, 'true', 1, 'yes', {}, undefined]) {
      expect(new TokenPayload(baseClaims({ fresh: value })).fresh).toBe(false)
    }
  })

  it('refuses a non-fresh token where freshness is required', async () => {
    const { auth } = setup()
    const stale = await auth.createAccessToken({ uid: 'u1' })
    await expect(auth.verifyToken(stale, { fresh: true })).rejects.toBeInstanceOf(FreshTokenRequiredError)
    await expect(auth.verifyToken(stale, { fresh: true })).rejects.toMatchObject({
      code: 'ERR_FRESH_TOKEN_REQUIRED',
      status: 401,
    })
    const fresh = await auth.createAccessToken({ uid: 'u1', fresh: true })
    expect((await auth.verifyToken(fresh, { fresh: true })).fresh).toBe(true)
  })

  it('keeps scopes when the claim is an array of strings', () => {
    expect(new TokenPayload(baseClaims({ scopes: ['a', 'b:*'] })).scopes).toEqual(['a', 'b:*'])
    expect(new TokenPayload(baseClaims({ scopes: [] })).scopes).toEqual([])
  })

  it.each([
    ['a string', 'admin:*'],
    ['an array holding a number', ['admin:*', 1]],
    ['an array holding null', ['admin:*', null]],
    ['an array holding an array', [['admin:*']]],
    ['an object', { 0: 'admin:*', length: 1 }],
    ['a number', 1],
    ['null', null],
  ])('leaves scopes undefined, granting nothing, when the claim is %s', (_name, scopes) => {
    const p = new TokenPayload(baseClaims({ scopes }))
    expect(p.scopes).toBeUndefined()
    expect(p.hasScopes('admin:*')).toBe(false)
    expect(p.hasScopes('admin')).toBe(false)
    expect(p.hasAnyScope('admin:*', 'admin')).toBe(false)
    // The raw claim is still visible in claims, and it is not custom data.
    expect(p.claims.scopes).toEqual(scopes)
    expect(p.extra).not.toHaveProperty('scopes')
  })
})

describe('TokenPayload serialisation', () => {
  it('returns the claims from toJSON', async () => {
    const { auth } = setup({ issuer: 'iss1' })
    const token = await auth.createAccessToken({ uid: 'u1', data: { role: 'r' } })
    const p = await auth.verifyToken(token)
    expect(p.toJSON()).toBe(p.claims)
    expect(p.toJSON()).toEqual(auth.decodeUnverified(token).payload)
  })

  it('serialises with JSON.stringify to exactly the claims', async () => {
    const { auth } = setup()
    const token = await auth.createAccessToken({ uid: 'u1', scopes: ['a'], data: { role: 'r' } })
    const p = await auth.verifyToken(token)
    const json = JSON.stringify(p)
    expect(JSON.parse(json)).toEqual(auth.decodeUnverified(token).payload)
    expect(json).toBe(JSON.stringify(auth.decodeUnverified(token).payload))
    expect(JSON.stringify({ user: p })).toBe(`{"user":${json}}`)
  })
})
