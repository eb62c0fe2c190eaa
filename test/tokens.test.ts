import { generateKeyPairSync } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { AuthX, type AuthXOptions, ConfigError, InvalidTokenError } from '../src/index.js'

const SECRET = 'x'.repeat(32)
const START = 1_700_000_000_250
const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/

function fakeClock(start = START) {
  let now = start
  return {
    clock: () => now,
    advance(ms: number) {
      now += ms
    },
    set(ms: number) {
      now = ms
    },
  }
}

function makeAuth(options: AuthXOptions = {}, start = START): { auth: AuthX; advance: (ms: number) => void } {
  const c = fakeClock(start)
  return { auth: new AuthX({ secretKey: SECRET, clock: c.clock, ...options }), advance: c.advance }
}

function claimsOf(auth: AuthX, token: string): Record<string, unknown> {
  return auth.decodeUnverified(token).payload
}

const NOW_S = Math.floor(START / 1000)

describe('claims of access tokens', () => {
  it('writes exactly sub jti iat nbf exp type fresh, in that order, by default', async () => {
    const { auth } = makeAuth()
    const claims = claimsOf(auth, await auth.createAccessToken({ uid: 'u1' }))
    expect(Object.keys(claims)).toEqual(['sub', 'jti', 'iat', 'nbf', 'exp', 'type', 'fresh'])
    expect(claims.sub).toBe('u1')
    expect(claims.type).toBe('access')
    expect(claims.fresh).toBe(false)
  })

  it('writes fresh: true when asked', async () => {
    const { auth } = makeAuth()
    const claims = claimsOf(auth, await auth.createAccessToken({ uid: 'u1', fresh: true }))
    expect(claims.fresh).toBe(true)
  })

  it('adds csrf after fresh when cookies are a location and CSRF protection is on', async () => {
    const { auth } = makeAuth({ tokenLocation: ['headers', 'cookies'] })
    const first = claimsOf(auth, await auth.createAccessToken({ uid: 'u1' }))
    const second = claimsOf(auth, await auth.createAccessToken({ uid: 'u1' }))
    expect(Object.keys(first)).toEqual(['sub', 'jti', 'iat', 'nbf', 'exp', 'type', 'fresh', 'csrf'])
    expect(typeof first.csrf).toBe('string')
    expect((first.csrf as string).length).toBeGreaterThanOrEqual(16)
    expect(first.csrf).not.toBe(second.csrf)
  })

  it('writes no csrf claim when CSRF protection is off', async () => {
    const { auth } = makeAuth({ tokenLocation: ['cookies'], csrf: { protect: false } })
    const claims = claimsOf(auth, await auth.createAccessToken({ uid: 'u1' }))
    expect(claims).not.toHaveProperty('csrf')
    expect(Object.keys(claims)).toEqual(['sub', 'jti', 'iat', 'nbf', 'exp', 'type', 'fresh'])
  })

  it('writes no csrf claim when cookies are not a location', async () => {
    const { auth } = makeAuth({ tokenLocation: ['headers', 'json', 'query'] })
    const claims = claimsOf(auth, await auth.createAccessToken({ uid: 'u1' }))
    expect(claims).not.toHaveProperty('csrf')
  })

  it('writes scopes when given, even an empty list', async () => {
    const { auth } = makeAuth()
    const empty = claimsOf(auth, await auth.createAccessToken({ uid: 'u1', scopes: [] }))
    expect(Object.keys(empty)).toEqual(['sub', 'jti', 'iat', 'nbf', 'exp', 'type', 'fresh', 'scopes'])
    expect(empty.scopes).toEqual([])
    const some = claimsOf(auth, await auth.createAccessToken({ uid: 'u1', scopes: ['a:read', 'b:*'] }))
    expect(some.scopes).toEqual(['a:read', 'b:*'])
  })

  it('writes iss and aud when configured', async () => {
    const { auth } = makeAuth({ issuer: 'https://issuer.example', audience: ['api', 'web'] })
    const claims = claimsOf(auth, await auth.createAccessToken({ uid: 'u1' }))
    expect(Object.keys(claims)).toEqual(['sub', 'jti', 'iat', 'nbf', 'exp', 'type', 'fresh', 'iss', 'aud'])
    expect(claims.iss).toBe('https://issuer.example')
    expect(claims.aud).toEqual(['api', 'web'])
  })

  it('puts every optional claim in the documented order, custom data last', async () => {
    const { auth } = makeAuth({ tokenLocation: ['cookies'], issuer: 'iss1', audience: 'aud1' })
    const claims = claimsOf(
      auth,
      await auth.createAccessToken({ uid: 'u1', scopes: ['s'], data: { role: 'admin', team: { id: 7 } } }),
    )
    expect(Object.keys(claims)).toEqual([
      'sub',
      'jti',
      'iat',
      'nbf',
      'exp',
      'type',
      'fresh',
      'csrf',
      'scopes',
      'iss',
      'aud',
      'role',
      'team',
    ])
    expect(claims.role).toBe('admin')
    expect(claims.team).toEqual({ id: 7 })
  })

  it('uses the per-call audience instead of the configured one', async () => {
    const { auth } = makeAuth({ audience: 'default-aud', verify: { audience: ['default-aud', 'other'] } })
    const single = await auth.createAccessToken({ uid: 'u1', audience: 'other' })
    expect(claimsOf(auth, single).aud).toBe('other')
    const list = await auth.createAccessToken({ uid: 'u1', audience: ['other', 'third'] })
    expect(claimsOf(auth, list).aud).toEqual(['other', 'third'])
    expect((await auth.verifyToken(single)).aud).toBe('other')
    const refresh = await auth.createRefreshToken({ uid: 'u1', audience: 'other' })
    expect(claimsOf(auth, refresh).aud).toBe('other')
  })

  it('gives every token a random UUID jti', async () => {
    const { auth } = makeAuth()
    const jtis = new Set<unknown>()
    for (let i = 0; i < 20; i++) {
      const jti = claimsOf(auth, await auth.createAccessToken({ uid: 'u1' })).jti
      expect(jti).toMatch(UUID_RE)
      jtis.add(jti)
    }
    expect(jtis.size).toBe(20)
  })

  it('writes iat, nbf and exp as whole seconds from the injected clock, with nbf equal to iat', async () => {
    const { auth } = makeAuth({}, 1_700_000_123_999)
    const claims = claimsOf(auth, await auth.createAccessToken({ uid: 'u1' }))
    expect(claims.iat).toBe(1_700_000_123)
    expect(claims.nbf).toBe(claims.iat)
    for (const name of ['iat', 'nbf', 'exp']) expect(Number.isInteger(claims[name])).toBe(true)
  })

  it('gives access tokens 900 seconds and refresh tokens 20 days by default', async () => {
    const { auth } = makeAuth()
    const access = claimsOf(auth, await auth.createAccessToken({ uid: 'u1' }))
    const refresh = claimsOf(auth, await auth.createRefreshToken({ uid: 'u1' }))
    expect(access.iat).toBe(NOW_S)
    expect(access.exp).toBe(NOW_S + 900)
    expect(refresh.iat).toBe(NOW_S)
    expect(refresh.exp).toBe(NOW_S + 20 * 86_400)
  })

  it('uses the configured lifetimes', async () => {
    const { auth } = makeAuth({ accessTokenExpires: '5m', refreshTokenExpires: 3600 })
    expect(claimsOf(auth, await auth.createAccessToken({ uid: 'u1' })).exp).toBe(NOW_S + 300)
    expect(claimsOf(auth, await auth.createRefreshToken({ uid: 'u1' })).exp).toBe(NOW_S + 3600)
  })

  it.each([
    ['30s', 30],
    [60, 60],
    ['2h', 7200],
    ['3d', 3 * 86_400],
    ['1w', 604_800],
  ] as const)('sets exp from the expiry Duration %j', async (expiry, seconds) => {
    const { auth } = makeAuth()
    const claims = claimsOf(auth, await auth.createAccessToken({ uid: 'u1', expiry }))
    expect(claims.exp).toBe(NOW_S + seconds)
    const refresh = claimsOf(auth, await auth.createRefreshToken({ uid: 'u1', expiry }))
    expect(refresh.exp).toBe(NOW_S + seconds)
  })

  it('sets exp to an absolute Date, in whole seconds', async () => {
    const { auth } = makeAuth()
    const at = new Date(START + 3_600_000 + 700)
    const claims = claimsOf(auth, await auth.createAccessToken({ uid: 'u1', expiry: at }))
    expect(claims.exp).toBe(Math.floor(at.getTime() / 1000))
    expect(Number.isInteger(claims.exp)).toBe(true)
    const payload = await auth.verifyToken(await auth.createAccessToken({ uid: 'u1', expiry: at }))
    expect(payload.exp).toBe(NOW_S + 3600)
  })

  it('writes no exp when the lifetime is false, and such tokens verify', async () => {
    const { auth } = makeAuth({ accessTokenExpires: false, refreshTokenExpires: false })
    const access = await auth.createAccessToken({ uid: 'u1' })
    const refresh = await auth.createRefreshToken({ uid: 'u1' })
    expect(Object.keys(claimsOf(auth, access))).toEqual(['sub', 'jti', 'iat', 'nbf', 'type', 'fresh'])
    expect(claimsOf(auth, refresh)).not.toHaveProperty('exp')
    expect((await auth.verifyToken(access)).exp).toBeUndefined()
    expect((await auth.verifyToken(refresh, { type: 'refresh' })).exp).toBeUndefined()
  })

  it('still honours a per-call expiry when the lifetime is false', async () => {
    const { auth } = makeAuth({ accessTokenExpires: false })
    const claims = claimsOf(auth, await auth.createAccessToken({ uid: 'u1', expiry: '1h' }))
    expect(claims.exp).toBe(NOW_S + 3600)
  })

  it('rejects a token without exp (reason claims) when the lifetime for its type is set', async () => {
    const clock = () => START
    const noExp = new AuthX({
      secretKey: SECRET,
      clock,
      accessTokenExpires: false,
      refreshTokenExpires: false,
    })
    const strict = new AuthX({ secretKey: SECRET, clock })
    const access = await noExp.createAccessToken({ uid: 'u1' })
    const refresh = await noExp.createRefreshToken({ uid: 'u1' })
    await expect(strict.verifyToken(access)).rejects.toMatchObject({
      code: 'ERR_INVALID_TOKEN',
      reason: 'claims',
    })
    await expect(strict.decodeToken(refresh)).rejects.toMatchObject({ reason: 'claims' })
    // Only the access lifetime is false: a refresh token without exp is still refused.
    const accessOnly = new AuthX({ secretKey: SECRET, clock, accessTokenExpires: false })
    expect((await accessOnly.verifyToken(access)).sub).toBe('u1')
    await expect(accessOnly.decodeToken(refresh)).rejects.toBeInstanceOf(InvalidTokenError)
    await expect(accessOnly.decodeToken(refresh)).rejects.toMatchObject({ reason: 'claims' })
  })

  it('round-trips through verifyToken', async () => {
    const { auth } = makeAuth()
    const payload = await auth.verifyToken(await auth.createAccessToken({ uid: 'u1', data: { n: 1 } }))
    expect(payload.sub).toBe('u1')
    expect(payload.type).toBe('access')
    expect(payload.extra).toEqual({ n: 1 })
  })
})

describe('claims of refresh tokens', () => {
  it('writes sub jti iat nbf exp type fid, with type refresh and no fresh', async () => {
    const { auth } = makeAuth()
    const claims = claimsOf(auth, await auth.createRefreshToken({ uid: 'u1' }))
    expect(Object.keys(claims)).toEqual(['sub', 'jti', 'iat', 'nbf', 'exp', 'type', 'fid'])
    expect(claims.type).toBe('refresh')
    expect(claims).not.toHaveProperty('fresh')
    expect(claims.fid).toMatch(UUID_RE)
  })

  it('carries csrf after type, like access tokens, when cookies are a location and CSRF protection is on', async () => {
    const { auth } = makeAuth({ tokenLocation: ['cookies'] })
    const claims = claimsOf(auth, await auth.createRefreshToken({ uid: 'u1' }))
    expect(Object.keys(claims)).toEqual(['sub', 'jti', 'iat', 'nbf', 'exp', 'type', 'csrf', 'fid'])
    expect(typeof claims.csrf).toBe('string')
    const off = makeAuth({ tokenLocation: ['cookies'], csrf: { protect: false } }).auth
    expect(claimsOf(off, await off.createRefreshToken({ uid: 'u1' }))).not.toHaveProperty('csrf')
  })

  it('puts scopes, iss, aud, fid and then custom data in order', async () => {
    const { auth } = makeAuth({ issuer: 'iss1', audience: 'aud1' })
    const claims = claimsOf(
      auth,
      await auth.createRefreshToken({ uid: 'u1', scopes: ['s'], data: { role: 'r' } }),
    )
    expect(Object.keys(claims)).toEqual([
      'sub',
      'jti',
      'iat',
      'nbf',
      'exp',
      'type',
      'scopes',
      'iss',
      'aud',
      'fid',
      'role',
    ])
  })

  it('starts a new family for every refresh token', async () => {
    const { auth } = makeAuth()
    const a = claimsOf(auth, await auth.createRefreshToken({ uid: 'u1' }))
    const b = claimsOf(auth, await auth.createRefreshToken({ uid: 'u1' }))
    expect(a.fid).not.toBe(b.fid)
    expect(a.jti).not.toBe(b.jti)
  })

  it('rejects fresh with a TypeError', async () => {
    const { auth } = makeAuth()
    const options = { uid: 'u1', fresh: true } as unknown as Parameters<AuthX['createRefreshToken']>[0]
    await expect(auth.createRefreshToken(options)).rejects.toBeInstanceOf(TypeError)
  })
})

describe('createTokenPair', () => {
  it('returns two tokens of one family and tokenType bearer', async () => {
    const { auth } = makeAuth()
    const pair = await auth.createTokenPair({ uid: 'u1' })
    expect(Object.keys(pair).sort()).toEqual(['accessToken', 'refreshToken', 'tokenType'])
    expect(pair.tokenType).toBe('bearer')
    const access = claimsOf(auth, pair.accessToken)
    const refresh = claimsOf(auth, pair.refreshToken)
    expect(access.type).toBe('access')
    expect(refresh.type).toBe('refresh')
    expect(access.fid).toMatch(UUID_RE)
    expect(access.fid).toBe(refresh.fid)
    expect(access.jti).not.toBe(refresh.jti)
    expect(Object.keys(access)).toEqual(['sub', 'jti', 'iat', 'nbf', 'exp', 'type', 'fresh', 'fid'])
    expect(Object.keys(refresh)).toEqual(['sub', 'jti', 'iat', 'nbf', 'exp', 'type', 'fid'])
  })

  it('uses a new family for every pair', async () => {
    const { auth } = makeAuth()
    const a = claimsOf(auth, (await auth.createTokenPair({ uid: 'u1' })).refreshToken)
    const b = claimsOf(auth, (await auth.createTokenPair({ uid: 'u1' })).refreshToken)
    expect(a.fid).not.toBe(b.fid)
  })

  it('applies fresh to the access token only', async () => {
    const { auth } = makeAuth()
    const pair = await auth.createTokenPair({ uid: 'u1', fresh: true })
    expect(claimsOf(auth, pair.accessToken).fresh).toBe(true)
    expect(claimsOf(auth, pair.refreshToken)).not.toHaveProperty('fresh')
    const stale = await auth.createTokenPair({ uid: 'u1' })
    expect(claimsOf(auth, stale.accessToken).fresh).toBe(false)
  })

  it('writes scopes and data into both tokens', async () => {
    const { auth } = makeAuth()
    const pair = await auth.createTokenPair({ uid: 'u1', scopes: ['a'], data: { role: 'r' } })
    for (const token of [pair.accessToken, pair.refreshToken]) {
      const claims = claimsOf(auth, token)
      expect(claims.scopes).toEqual(['a'])
      expect(claims.role).toBe('r')
    }
  })

  it('honours accessExpiry and refreshExpiry', async () => {
    const { auth } = makeAuth()
    const pair = await auth.createTokenPair({ uid: 'u1', accessExpiry: '2m', refreshExpiry: '1d' })
    expect(claimsOf(auth, pair.accessToken).exp).toBe(NOW_S + 120)
    expect(claimsOf(auth, pair.refreshToken).exp).toBe(NOW_S + 86_400)
    const dated = await auth.createTokenPair({ uid: 'u1', refreshExpiry: new Date(START + 10_000_000) })
    expect(claimsOf(auth, dated.accessToken).exp).toBe(NOW_S + 900)
    expect(claimsOf(auth, dated.refreshToken).exp).toBe(Math.floor((START + 10_000_000) / 1000))
  })

  it('gives tokens that verify as their own types', async () => {
    const { auth } = makeAuth()
    const pair = await auth.createTokenPair({ uid: 'u1' })
    expect((await auth.verifyToken(pair.accessToken)).fid).toBeDefined()
    expect((await auth.verifyToken(pair.refreshToken, { type: 'refresh' })).type).toBe('refresh')
  })

  it('rejects bad arguments with a TypeError', async () => {
    const { auth } = makeAuth()
    await expect(auth.createTokenPair({ uid: '' })).rejects.toBeInstanceOf(TypeError)
    await expect(auth.createTokenPair({ uid: 'u1', data: { sub: 'x' } })).rejects.toBeInstanceOf(TypeError)
    await expect(auth.createTokenPair({ uid: 'u1', accessExpiry: '1.5h' as never })).rejects.toBeInstanceOf(
      TypeError,
    )
    await expect(auth.createTokenPair({ uid: 'u1', refreshExpiry: '0s' as never })).rejects.toBeInstanceOf(
      TypeError,
    )
    await expect(auth.createTokenPair({ uid: 'u1', scopes: [1] as never })).rejects.toBeInstanceOf(TypeError)
  })
})

describe('JOSE header', () => {
  it('is exactly { alg, typ: JWT } for an HMAC instance', async () => {
    const { auth } = makeAuth()
    const { header } = auth.decodeUnverified(await auth.createAccessToken({ uid: 'u1' }))
    expect(header).toEqual({ alg: 'HS256', typ: 'JWT' })
    expect(Object.keys(header)).toEqual(['alg', 'typ'])
  })

  it('uses the configured algorithm', async () => {
    const { auth } = makeAuth({ algorithm: 'HS512', secretKey: 'y'.repeat(64) })
    const { header } = auth.decodeUnverified(await auth.createRefreshToken({ uid: 'u1' }))
    expect(header).toEqual({ alg: 'HS512', typ: 'JWT' })
  })

  it('adds the caller headers fields', async () => {
    const { auth } = makeAuth()
    const token = await auth.createAccessToken({ uid: 'u1', headers: { cty: 'example', 'x-tenant': 't1' } })
    expect(auth.decodeUnverified(token).header).toEqual({
      alg: 'HS256',
      typ: 'JWT',
      cty: 'example',
      'x-tenant': 't1',
    })
    expect((await auth.verifyToken(token)).sub).toBe('u1')
    const refresh = await auth.createRefreshToken({ uid: 'u1', headers: { cty: 'r' } })
    expect(auth.decodeUnverified(refresh).header.cty).toBe('r')
  })

  it.each(['alg', 'typ', 'kid', 'crit', 'jku', 'jwk', 'x5u', 'x5c'])(
    'refuses to let the caller set the %s header field',
    async (field) => {
      const { auth } = makeAuth()
      await expect(
        auth.createAccessToken({ uid: 'u1', headers: { [field]: field === 'crit' ? ['exp'] : 'x' } }),
      ).rejects.toBeInstanceOf(TypeError)
    },
  )
})

describe('bad arguments are TypeErrors', () => {
  const { auth } = makeAuth()
  type AccessOptions = Parameters<AuthX['createAccessToken']>[0]

  it.each([
    ['an empty uid', { uid: '' }],
    ['a missing uid', {}],
    ['a numeric uid', { uid: 42 }],
    ['a null uid', { uid: null }],
    ['an object uid', { uid: { id: 'u1' } }],
  ])('rejects %s', async (_name, options) => {
    await expect(auth.createAccessToken(options as unknown as AccessOptions)).rejects.toBeInstanceOf(
      TypeError,
    )
    await expect(auth.createRefreshToken(options as unknown as AccessOptions)).rejects.toBeInstanceOf(
      TypeError,
    )
  })

  it('rejects missing options', async () => {
    await expect(auth.createAccessToken(undefined as unknown as AccessOptions)).rejects.toBeInstanceOf(
      TypeError,
    )
    await expect(auth.createTokenPair(undefined as never)).rejects.toBeInstanceOf(TypeError)
  })

  class Point {
    x = 1
  }
  const cyclic: Record<string, unknown> = { a: 1 }
  cyclic.self = cyclic
  const cyclicDeep: Record<string, unknown> = { list: [] }
  ;(cyclicDeep.list as unknown[]).push({ back: cyclicDeep })

  it.each([
    ['a function', { f: () => 1 }],
    ['an undefined value', { u: undefined }],
    ['a Symbol value', { s: Symbol('s') }],
    ['a Symbol key', { [Symbol('k')]: 1 }],
    ['a BigInt', { b: 10n }],
    ['NaN', { n: Number.NaN }],
    ['Infinity', { n: Number.POSITIVE_INFINITY }],
    ['-Infinity', { n: Number.NEGATIVE_INFINITY }],
    ['a Date', { d: new Date(0) }],
    ['a Map', { m: new Map([['a', 1]]) }],
    ['a Set', { s: new Set([1]) }],
    ['a class instance', { p: new Point() }],
    ['a nested function', { a: { b: [1, { c: () => 1 }] } }],
    ['an undefined array element', { a: [1, undefined] }],
    ['a cyclic object', cyclic],
    ['a cycle through an array', cyclicDeep],
  ])('rejects data holding %s (not JSON-serialisable)', async (_name, data) => {
    await expect(auth.createAccessToken({ uid: 'u1', data })).rejects.toBeInstanceOf(TypeError)
    await expect(auth.createRefreshToken({ uid: 'u1', data })).rejects.toBeInstanceOf(TypeError)
  })

  it.each([
    ['a class instance', new Point()],
    ['a Map', new Map()],
    ['an array', [1, 2]],
    ['a string', 'role=admin'],
  ])('rejects data that is %s instead of a plain object', async (_name, data) => {
    await expect(
      auth.createAccessToken({ uid: 'u1', data } as unknown as AccessOptions),
    ).rejects.toBeInstanceOf(TypeError)
  })

  it('accepts JSON data of every kind, including null and an object without prototype', async () => {
    const bare = Object.create(null) as Record<string, unknown>
    bare.k = 'v'
    const data = { s: 'x', n: -1.5, t: true, z: null, list: [1, 'a', [null]], obj: { deep: { er: 0 } }, bare }
    const payload = await auth.verifyToken(await auth.createAccessToken({ uid: 'u1', data }))
    expect(payload.extra).toEqual({ ...data, bare: { k: 'v' } })
  })

  it.each(['sub', 'jti', 'iat', 'nbf', 'exp', 'iss', 'aud', 'type', 'fresh', 'csrf', 'scopes', 'fid'])(
    'rejects the reserved claim %s in data',
    async (key) => {
      await expect(auth.createAccessToken({ uid: 'u1', data: { [key]: 'x' } })).rejects.toBeInstanceOf(
        TypeError,
      )
      await expect(auth.createRefreshToken({ uid: 'u1', data: { [key]: 'x' } })).rejects.toBeInstanceOf(
        TypeError,
      )
      await expect(auth.createTokenPair({ uid: 'u1', data: { [key]: 'x' } })).rejects.toBeInstanceOf(
        TypeError,
      )
    },
  )

  it('allows reserved claim names below the top level of data', async () => {
    const token = await auth.createAccessToken({ uid: 'u1', data: { profile: { sub: 'x', type: 'y' } } })
    expect(auth.decodeUnverified(token).payload.sub).toBe('u1')
  })

  function withOwnKey(key: string, value: unknown): Record<string, unknown> {
    const obj: Record<string, unknown> = {}
    Object.defineProperty(obj, key, { value, enumerable: true, configurable: true, writable: true })
    return obj
  }

  it.each([
    ['__proto__ at the top (JSON.parse)', () => JSON.parse('{"__proto__": {"admin": true}}')],
    ['__proto__ nested (JSON.parse)', () => JSON.parse('{"a": {"b": {"__proto__": {"admin": true}}}}')],
    ['__proto__ inside an array (JSON.parse)', () => JSON.parse('{"a": [1, {"__proto__": 1}]}')],
    ['__proto__ at the top (defineProperty)', () => withOwnKey('__proto__', { admin: true })],
    ['__proto__ nested (defineProperty)', () => ({ a: withOwnKey('__proto__', 1) })],
    ['constructor at the top', () => ({ constructor: { prototype: { admin: true } } })],
    ['constructor nested', () => ({ a: { b: { constructor: 1 } } })],
    ['constructor inside an array', () => ({ a: [{ constructor: 'x' }] })],
    ['prototype at the top', () => ({ prototype: 1 })],
    ['prototype nested', () => ({ a: { prototype: { x: 1 } } })],
  ])('rejects %s in data', async (_name, make) => {
    await expect(auth.createAccessToken({ uid: 'u1', data: make() })).rejects.toBeInstanceOf(TypeError)
    await expect(auth.createRefreshToken({ uid: 'u1', data: make() })).rejects.toBeInstanceOf(TypeError)
    await expect(auth.createTokenPair({ uid: 'u1', data: make() })).rejects.toBeInstanceOf(TypeError)
  })

  it.each([
    ['1.5h'],
    ['01h'],
    ['1H'],
    [' 1h'],
    ['1h '],
    ['1y'],
    ['10'],
    [''],
    ['0s'],
    ['-5m'],
    [0],
    [-60],
    [1.5],
    [Number.NaN],
    [Number.POSITIVE_INFINITY],
    [null],
    [true],
    [new Date(Number.NaN)],
  ])('rejects the malformed expiry %j', async (expiry) => {
    const bad = { uid: 'u1', expiry } as unknown as AccessOptions
    await expect(auth.createAccessToken(bad)).rejects.toBeInstanceOf(TypeError)
    await expect(auth.createRefreshToken(bad)).rejects.toBeInstanceOf(TypeError)
  })

  it.each([
    ['a string', 'admin'],
    ['an object', { admin: true }],
    ['an array with a number', ['a', 1]],
    ['an array with null', [null]],
    ['an array with a nested array', [['a']]],
    ['null', null],
  ])('rejects scopes that are %s', async (_name, scopes) => {
    const bad = { uid: 'u1', scopes } as unknown as AccessOptions
    await expect(auth.createAccessToken(bad)).rejects.toBeInstanceOf(TypeError)
    await expect(auth.createRefreshToken(bad)).rejects.toBeInstanceOf(TypeError)
  })

  it('rejects a non-boolean fresh', async () => {
    await expect(
      auth.createAccessToken({ uid: 'u1', fresh: 'yes' } as unknown as AccessOptions),
    ).rejects.toBeInstanceOf(TypeError)
  })
})

describe('verify-only instances', () => {
  it('reject signing with a ConfigError when they only have a public key', async () => {
    const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' })
    const auth = new AuthX({
      algorithm: 'ES256',
      publicKey: publicKey.export({ format: 'pem', type: 'spki' }) as string,
    })
    await expect(auth.createAccessToken({ uid: 'u1' })).rejects.toBeInstanceOf(ConfigError)
    await expect(auth.createRefreshToken({ uid: 'u1' })).rejects.toMatchObject({ code: 'ERR_CONFIG' })
    await expect(auth.createTokenPair({ uid: 'u1' })).rejects.toBeInstanceOf(ConfigError)
  })

  it('reject signing with a ConfigError when they verify against a remote JWKS', async () => {
    const auth = new AuthX({ jwksUrl: 'https://keys.example/jwks.json', algorithm: 'RS256' })
    await expect(auth.createAccessToken({ uid: 'u1' })).rejects.toBeInstanceOf(ConfigError)
  })

  it('sign with the private key of the same pair', async () => {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' })
    const signer = new AuthX({ algorithm: 'ES256', privateKey })
    const verifier = new AuthX({ algorithm: 'ES256', publicKey })
    const token = await signer.createAccessToken({ uid: 'u1' })
    expect((await verifier.verifyToken(token)).sub).toBe('u1')
  })
})
