/**
 * Refresh-token rotation with reuse detection (SPEC section 8; catalogue section G).
 */
import { describe, expect, it, vi } from 'vitest'
import {
  AuthX,
  type AuthXOptions,
  type AuthXStore,
  MemoryStore,
  RefreshTokenRequiredError,
  RefreshTokenReusedError,
  RevokedTokenError,
  StoreUnavailableError,
  TokenExpiredError,
} from '../src/index.js'

const SECRET = 'rotation-test-secret-0123456789abcdef-xyz'
const START = 1_700_000_000_000
const START_S = START / 1000
const REFRESH_TTL = 20 * 86_400

/** A store delegating to a MemoryStore, every method a spy whose behaviour a test can replace. */
function spyStore(clock: () => number) {
  const inner = new MemoryStore({ clock })
  return {
    inner,
    get: vi.fn((keys: string[]) => inner.get(keys)),
    set: vi.fn((key: string, value: string, ttl: number) => inner.set(key, value, ttl)),
    setIfAbsent: vi.fn((key: string, value: string, ttl: number) => inner.setIfAbsent(key, value, ttl)),
    delete: vi.fn((key: string) => inner.delete(key)),
  } satisfies AuthXStore & { inner: MemoryStore }
}

function setup(options: AuthXOptions = {}) {
  let now = START
  const clock = () => now
  const store = spyStore(clock)
  const auth = new AuthX({ secretKey: SECRET, clock, store, ...options })
  return {
    auth,
    store,
    advance(ms: number) {
      now += ms
    },
  }
}

function claims(auth: AuthX, token: string): Record<string, unknown> {
  return auth.decodeUnverified(token).payload
}

const reused = { code: 'ERR_REFRESH_TOKEN_REUSED', status: 401 }
const revoked = { code: 'ERR_TOKEN_REVOKED', status: 401 }

describe('refresh with rotation on (the default)', () => {
  it('returns a new pair of the bearer type', async () => {
    const { auth } = setup()
    const login = await auth.createTokenPair({ uid: 'u1', fresh: true })
    const next = await auth.refresh(login.refreshToken)
    expect(Object.keys(next).sort()).toEqual(['accessToken', 'refreshToken', 'tokenType'])
    expect(next.tokenType).toBe('bearer')
    expect(next.accessToken).not.toBe(login.accessToken)
    expect(next.refreshToken).not.toBe(login.refreshToken)
    expect((await auth.verifyToken(next.accessToken)).sub).toBe('u1')
    expect((await auth.verifyToken(next.refreshToken, { type: 'refresh' })).sub).toBe('u1')
  })

  it('makes a non-fresh access token carrying the family id', async () => {
    const { auth } = setup()
    const login = await auth.createTokenPair({ uid: 'u1', fresh: true })
    const fid = claims(auth, login.refreshToken).fid
    expect(typeof fid).toBe('string')
    const next = await auth.refresh(login.refreshToken)
    const access = claims(auth, next.accessToken)
    expect(access).toMatchObject({ sub: 'u1', type: 'access', fresh: false, fid })
    await expect(auth.verifyToken(next.accessToken, { fresh: true })).rejects.toMatchObject({
      code: 'ERR_FRESH_TOKEN_REQUIRED',
    })
  })

  it('makes a refresh token of the same family with a new jti and a full lifetime', async () => {
    const { auth, advance } = setup()
    const login = await auth.createTokenPair({ uid: 'u1' })
    const old = claims(auth, login.refreshToken)
    advance(10 * 86_400_000) // ten days later
    const next = claims(auth, (await auth.refresh(login.refreshToken)).refreshToken)
    expect(next.type).toBe('refresh')
    expect(next.fid).toBe(old.fid)
    expect(next.jti).not.toBe(old.jti)
    expect(next.sub).toBe('u1')
    expect(next.iat).toBe(START_S + 10 * 86_400)
    expect(next.exp).toBe(START_S + 10 * 86_400 + REFRESH_TTL)
    expect(next).not.toHaveProperty('fresh')
  })

  it('inherits scopes and custom data when none are given', async () => {
    const { auth } = setup()
    const login = await auth.createTokenPair({
      uid: 'u1',
      scopes: ['a', 'b:*'],
      data: { role: 'admin', n: 1 },
    })
    const next = await auth.refresh(login.refreshToken)
    for (const token of [next.accessToken, next.refreshToken]) {
      const payload = await auth.decodeToken(token)
      expect(payload.scopes).toEqual(['a', 'b:*'])
      expect(payload.extra).toEqual({ role: 'admin', n: 1 })
    }
  })

  it('applies given scopes and data to both new tokens', async () => {
    const { auth } = setup()
    const login = await auth.createTokenPair({ uid: 'u1', scopes: ['a', 'b'], data: { role: 'admin' } })
    const next = await auth.refresh(login.refreshToken, { scopes: ['a'], data: { role: 'user' } })
    for (const token of [next.accessToken, next.refreshToken]) {
      const payload = await auth.decodeToken(token)
      expect(payload.scopes).toEqual(['a'])
      expect(payload.extra).toEqual({ role: 'user' })
    }
    // An empty scope list is a value too.
    const narrowed = await auth.refresh(next.refreshToken, { scopes: [] })
    expect((await auth.decodeToken(narrowed.accessToken)).scopes).toEqual([])
    expect((await auth.decodeToken(narrowed.refreshToken)).scopes).toEqual([])
    expect((await auth.decodeToken(narrowed.refreshToken)).extra).toEqual({ role: 'user' })
  })

  it('writes no scopes claim when the refresh token has none', async () => {
    const { auth } = setup()
    const next = await auth.refresh(await auth.createRefreshToken({ uid: 'u1' }))
    expect(claims(auth, next.accessToken)).not.toHaveProperty('scopes')
    expect(claims(auth, next.refreshToken)).not.toHaveProperty('scopes')
  })

  it('keeps the audience of the refresh token instead of widening it to the instance audience', async () => {
    const { auth } = setup({ audience: ['api1', 'api2'] })
    const refresh = await auth.createRefreshToken({ uid: 'u1', audience: 'api2' })
    const next = await auth.refresh(refresh)
    // A token narrowed to api2 must not come back valid for api1 as well (E10).
    expect(claims(auth, next.accessToken).aud).toBe('api2')
    expect(claims(auth, next.refreshToken).aud).toBe('api2')
  })

  it('keeps the family across several rotations', async () => {
    const { auth } = setup()
    const login = await auth.createTokenPair({ uid: 'u1' })
    const fid = claims(auth, login.refreshToken).fid
    let refresh = login.refreshToken
    for (let i = 0; i < 5; i++) refresh = (await auth.refresh(refresh)).refreshToken
    expect(claims(auth, refresh).fid).toBe(fid)
  })
})

describe('security: reuse of a consumed refresh token (G01)', () => {
  it('rejects a replay with RefreshTokenReusedError and revokes every token of the family', async () => {
    const { auth } = setup()
    const login = await auth.createTokenPair({ uid: 'u1' })
    const next = await auth.refresh(login.refreshToken)
    const err = await auth.refresh(login.refreshToken).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(RefreshTokenReusedError)
    expect(err).toMatchObject(reused)
    for (const token of [login.accessToken, next.accessToken]) {
      await expect(auth.verifyToken(token)).rejects.toMatchObject(revoked)
    }
    await expect(auth.verifyToken(next.refreshToken, { type: 'refresh' })).rejects.toBeInstanceOf(
      RevokedTokenError,
    )
    await expect(auth.refresh(next.refreshToken)).rejects.toMatchObject(revoked)
    await expect(auth.refresh(login.refreshToken)).rejects.toMatchObject(revoked)
  })

  it('leaves other families and other subjects alone', async () => {
    const { auth } = setup()
    const a = await auth.createTokenPair({ uid: 'u1' })
    const b = await auth.createTokenPair({ uid: 'u1' })
    const c = await auth.createTokenPair({ uid: 'u2' })
    await auth.refresh(a.refreshToken)
    await expect(auth.refresh(a.refreshToken)).rejects.toMatchObject(reused)
    expect((await auth.verifyToken(b.accessToken)).sub).toBe('u1')
    expect((await auth.refresh(b.refreshToken)).tokenType).toBe('bearer')
    expect((await auth.refresh(c.refreshToken)).tokenType).toBe('bearer')
  })

  it('detects a replay up to the end of the token lifetime plus leeway', async () => {
    const { auth, advance } = setup({ verify: { leeway: 30 } })
    const refresh = await auth.createRefreshToken({ uid: 'u1', expiry: 3600 })
    await auth.refresh(refresh)
    // One second before the token stops verifying, the consumption entry must still be there.
    advance((3600 + 30 - 1) * 1000)
    await expect(auth.refresh(refresh)).rejects.toMatchObject(reused)
  })

  it('keeps the consumption entry at least until exp - now + leeway (spy on setIfAbsent)', async () => {
    const { auth, store, advance } = setup({ verify: { leeway: 45 } })
    const refresh = await auth.createRefreshToken({ uid: 'u1' })
    const exp = claims(auth, refresh).exp as number
    advance(1_234_500)
    await auth.refresh(refresh)
    expect(store.setIfAbsent).toHaveBeenCalledTimes(1)
    const [key, , ttl] = store.setIfAbsent.mock.calls[0]!
    const now = (START + 1_234_500) / 1000
    expect(ttl).toBeGreaterThanOrEqual(exp - now + 45)
    // The key is built from the jti, never from the token string.
    expect(key).toContain(claims(auth, refresh).jti as string)
    expect(key).not.toContain(refresh.split('.')[2])
  })
})

describe('refresh failures that are not reuse', () => {
  it('rejects an expired refresh token and does not revoke its family (G04)', async () => {
    const { auth, advance, store } = setup()
    // The access token of the pair outlives the refresh token: a sibling that must keep working.
    const login = await auth.createTokenPair({ uid: 'u1', accessExpiry: '1h', refreshExpiry: 60 })
    advance(61_000)
    const err = await auth.refresh(login.refreshToken).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(TokenExpiredError)
    expect(err).toMatchObject({ code: 'ERR_TOKEN_EXPIRED', status: 401 })
    expect((await auth.verifyToken(login.accessToken)).sub).toBe('u1')
    expect(store.setIfAbsent).not.toHaveBeenCalled()
  })

  it('does not treat an expired, already consumed token as reuse', async () => {
    const { auth, advance } = setup()
    const refresh = await auth.createRefreshToken({ uid: 'u1', expiry: 60 })
    const next = await auth.refresh(refresh)
    advance(61_000)
    await expect(auth.refresh(refresh)).rejects.toBeInstanceOf(TokenExpiredError)
    // The successor is of the same family and still works.
    expect((await auth.refresh(next.refreshToken)).tokenType).toBe('bearer')
  })

  it('rejects a revoked refresh token with RevokedTokenError', async () => {
    const { auth } = setup()
    const refresh = await auth.createRefreshToken({ uid: 'u1' })
    await auth.revokeToken(refresh)
    const err = await auth.refresh(refresh).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(RevokedTokenError)
    expect(err).toMatchObject(revoked)
  })

  it('rejects refresh after a logout of the family or of the subject (G05)', async () => {
    const { auth, advance } = setup()
    const a = await auth.createTokenPair({ uid: 'u1' })
    const b = await auth.createTokenPair({ uid: 'u2' })
    await auth.revokeFamily(claims(auth, a.refreshToken).fid as string)
    await expect(auth.refresh(a.refreshToken)).rejects.toMatchObject(revoked)
    advance(1000)
    await auth.revokeAllForSubject('u2')
    await expect(auth.refresh(b.refreshToken)).rejects.toMatchObject(revoked)
  })

  it('rejects an access token with TokenTypeError and consumes nothing', async () => {
    const { auth, store } = setup()
    const login = await auth.createTokenPair({ uid: 'u1' })
    const err = await auth.refresh(login.accessToken).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(RefreshTokenRequiredError)
    expect(err).toMatchObject({ code: 'ERR_WRONG_TOKEN_TYPE', status: 401 })
    expect(store.setIfAbsent).not.toHaveBeenCalled()
    expect((await auth.verifyToken(login.accessToken)).sub).toBe('u1')
  })

  it.each([
    ['data with a reserved claim', { data: { sub: 'admin' } }],
    ['data that is not JSON', { data: { when: new Date(0) } }],
    ['scopes that are not an array', { scopes: 'admin' as unknown as string[] }],
  ])('rejects %s with a TypeError before consuming the token', async (_name, options) => {
    const { auth } = setup()
    const login = await auth.createTokenPair({ uid: 'u1' })
    await expect(
      auth.refresh(login.refreshToken, options as { data?: Record<string, unknown> }),
    ).rejects.toBeInstanceOf(TypeError)
    // A programming error must not burn the token: the corrected call works and nothing is revoked.
    expect((await auth.refresh(login.refreshToken)).tokenType).toBe('bearer')
    expect((await auth.verifyToken(login.accessToken)).sub).toBe('u1')
  })

  it('rejects a forged refresh token without touching the store', async () => {
    const { auth, store } = setup()
    const forged = await new AuthX({ secretKey: 'another-secret-0123456789abcdef-xyz' }).createRefreshToken({
      uid: 'u1',
    })
    await expect(auth.refresh(forged)).rejects.toMatchObject({
      code: 'ERR_INVALID_TOKEN',
      reason: 'signature',
    })
    expect(store.get).not.toHaveBeenCalled()
    expect(store.setIfAbsent).not.toHaveBeenCalled()
    expect(store.set).not.toHaveBeenCalled()
  })
})

describe('the reuse grace window', () => {
  it('gives a replay within reuseGraceSeconds a new pair of the same family', async () => {
    const { auth, advance } = setup({ refreshRotation: { reuseGraceSeconds: 5 } })
    const login = await auth.createTokenPair({ uid: 'u1' })
    const fid = claims(auth, login.refreshToken).fid
    const first = await auth.refresh(login.refreshToken)
    advance(5000)
    const retry = await auth.refresh(login.refreshToken)
    expect(claims(auth, retry.refreshToken).fid).toBe(fid)
    expect(claims(auth, retry.accessToken).fid).toBe(fid)
    expect(retry.refreshToken).not.toBe(first.refreshToken)
    // Nothing was revoked.
    expect((await auth.verifyToken(first.accessToken)).sub).toBe('u1')
    expect((await auth.verifyToken(retry.accessToken)).sub).toBe('u1')
    expect((await auth.refresh(retry.refreshToken)).tokenType).toBe('bearer')
  })

  it('treats a replay after the window as reuse', async () => {
    const { auth, advance } = setup({ refreshRotation: { reuseGraceSeconds: 5 } })
    const login = await auth.createTokenPair({ uid: 'u1' })
    const first = await auth.refresh(login.refreshToken)
    advance(6000)
    await expect(auth.refresh(login.refreshToken)).rejects.toMatchObject(reused)
    await expect(auth.verifyToken(first.accessToken)).rejects.toMatchObject(revoked)
  })

  it('measures the window from the first use, not from the last replay', async () => {
    const { auth, advance } = setup({ refreshRotation: { reuseGraceSeconds: 5 } })
    const refresh = await auth.createRefreshToken({ uid: 'u1' })
    await auth.refresh(refresh)
    advance(3000)
    await auth.refresh(refresh)
    advance(3000)
    await expect(auth.refresh(refresh)).rejects.toMatchObject(reused)
  })

  it('is off by default: an immediate replay is reuse', async () => {
    const { auth } = setup()
    const refresh = await auth.createRefreshToken({ uid: 'u1' })
    await auth.refresh(refresh)
    await expect(auth.refresh(refresh)).rejects.toMatchObject(reused)
  })
})

describe('refresh with rotation off', () => {
  it('makes only a new access token and hands the refresh token back unchanged', async () => {
    const { auth, store } = setup({ refreshRotation: { enabled: false } })
    const login = await auth.createTokenPair({ uid: 'u1', fresh: true, scopes: ['a'], data: { role: 'x' } })
    const fid = claims(auth, login.refreshToken).fid
    const next = await auth.refresh(login.refreshToken)
    expect(next.refreshToken).toBe(login.refreshToken)
    expect(next.tokenType).toBe('bearer')
    expect(claims(auth, next.accessToken)).toMatchObject({
      type: 'access',
      fresh: false,
      fid,
      scopes: ['a'],
      role: 'x',
    })
    expect(store.setIfAbsent).not.toHaveBeenCalled()
  })

  it('lets the refresh token be used again until it expires', async () => {
    const { auth, advance } = setup({ refreshRotation: { enabled: false } })
    const refresh = await auth.createRefreshToken({ uid: 'u1', expiry: 3600 })
    for (let i = 0; i < 3; i++) expect((await auth.refresh(refresh)).refreshToken).toBe(refresh)
    advance(3600_000)
    await expect(auth.refresh(refresh)).rejects.toBeInstanceOf(TokenExpiredError)
  })

  it('still rejects a revoked refresh token', async () => {
    const { auth } = setup({ refreshRotation: { enabled: false } })
    const refresh = await auth.createRefreshToken({ uid: 'u1' })
    await auth.revokeToken(refresh)
    await expect(auth.refresh(refresh)).rejects.toMatchObject(revoked)
  })
})

describe('security: concurrent refreshes (G02)', () => {
  it('of 50 concurrent refreshes of one token on the MemoryStore exactly one succeeds', async () => {
    const auth = new AuthX({ secretKey: SECRET })
    const login = await auth.createTokenPair({ uid: 'u1' })
    const results = await Promise.allSettled(
      Array.from({ length: 50 }, () => auth.refresh(login.refreshToken)),
    )
    const won = results.filter((r) => r.status === 'fulfilled')
    const lost = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected')
    expect(won).toHaveLength(1)
    expect(lost).toHaveLength(49)
    for (const { reason } of lost) {
      expect(reason).toMatchObject({ status: 401 })
      expect(['ERR_REFRESH_TOKEN_REUSED', 'ERR_TOKEN_REVOKED']).toContain(reason.code)
    }
    expect(lost.some(({ reason }) => reason instanceof RefreshTokenReusedError)).toBe(true)
    // Strict mode: the race is reuse, so the family, winner included, is revoked.
    const winner = (won[0] as PromiseFulfilledResult<Awaited<ReturnType<AuthX['refresh']>>>).value
    await expect(auth.verifyToken(winner.accessToken)).rejects.toMatchObject(revoked)
  })

  it('of 50 concurrent refreshes of different tokens all succeed', async () => {
    const auth = new AuthX({ secretKey: SECRET })
    const tokens = await Promise.all(
      Array.from({ length: 50 }, (_, i) => auth.createRefreshToken({ uid: `u${i}` })),
    )
    const results = await Promise.allSettled(tokens.map((t) => auth.refresh(t)))
    expect(results.every((r) => r.status === 'fulfilled')).toBe(true)
  })
})

describe('security: store down during refresh (G07)', () => {
  async function downDuring(fault: (store: ReturnType<typeof spyStore>) => void, options: AuthXOptions = {}) {
    const { auth, store } = setup({ revocation: { timeoutMs: 50 }, ...options })
    const refresh = await auth.createRefreshToken({ uid: 'u1' })
    const created: unknown[] = []
    auth.on('token.created', (e) => created.push(e))
    fault(store)
    const err = await auth.refresh(refresh).catch((e: unknown) => e)
    return { auth, store, refresh, err, created }
  }

  it('fails with StoreUnavailableError and issues nothing when consuming fails', async () => {
    const { err, created, store, auth, refresh } = await downDuring((s) =>
      s.setIfAbsent.mockRejectedValueOnce(new Error('ECONNREFUSED')),
    )
    expect(err).toBeInstanceOf(StoreUnavailableError)
    expect(err).toMatchObject({ code: 'ERR_STORE_UNAVAILABLE', status: 503 })
    expect(created).toEqual([])
    // Nothing was consumed: once the store is back, the same token works (K03).
    expect(store.setIfAbsent).toHaveBeenCalledTimes(1)
    expect((await auth.refresh(refresh)).tokenType).toBe('bearer')
  })

  it('fails with StoreUnavailableError when consuming times out', async () => {
    const { err, created } = await downDuring((s) =>
      s.setIfAbsent.mockImplementationOnce(() => new Promise(() => {})),
    )
    expect(err).toMatchObject({ code: 'ERR_STORE_UNAVAILABLE', status: 503 })
    expect(created).toEqual([])
  })

  it('fails with StoreUnavailableError when the store answers a non-boolean', async () => {
    const { err, created } = await downDuring((s) =>
      s.setIfAbsent.mockResolvedValueOnce('OK' as unknown as boolean),
    )
    expect(err).toMatchObject({ code: 'ERR_STORE_UNAVAILABLE', status: 503 })
    expect(created).toEqual([])
  })

  it('fails with StoreUnavailableError when the revocation read fails', async () => {
    const { err, created, store } = await downDuring((s) => s.get.mockRejectedValueOnce(new Error('down')))
    expect(err).toMatchObject({ code: 'ERR_STORE_UNAVAILABLE', status: 503 })
    expect(created).toEqual([])
    expect(store.setIfAbsent).not.toHaveBeenCalled()
  })

  it('fails with StoreUnavailableError on a replay when the grace check cannot read the store', async () => {
    const { auth, store } = setup({
      refreshRotation: { reuseGraceSeconds: 5 },
      revocation: { timeoutMs: 50 },
    })
    const refresh = await auth.createRefreshToken({ uid: 'u1' })
    await auth.refresh(refresh)
    const created: unknown[] = []
    auth.on('token.created', (e) => created.push(e))
    // The first get (revocation) works, the second (first-use time) fails.
    store.get.mockImplementationOnce((keys) => store.inner.get(keys))
    store.get.mockRejectedValueOnce(new Error('down'))
    await expect(auth.refresh(refresh)).rejects.toMatchObject({ code: 'ERR_STORE_UNAVAILABLE', status: 503 })
    expect(created).toEqual([])
  })

  it.each([
    ['undefined', undefined],
    ['null', null],
    ['an object', { 0: '1' }],
    ['an empty array', []],
    ['a number instead of a string', [42]],
  ])(
    'fails with StoreUnavailableError when the first-use read of a replay answers %s',
    async (_name, answer) => {
      const { auth, store } = setup({
        refreshRotation: { reuseGraceSeconds: 5 },
        revocation: { timeoutMs: 50 },
      })
      const refresh = await auth.createRefreshToken({ uid: 'u1' })
      await auth.refresh(refresh)
      // The first get (revocation) works; the second (time of first use) answers the wrong shape.
      store.get.mockImplementationOnce((keys) => store.inner.get(keys))
      store.get.mockResolvedValueOnce(answer as unknown as (string | null)[])
      const err = await auth.refresh(refresh).catch((e: unknown) => e)
      expect(err).toBeInstanceOf(StoreUnavailableError)
      expect(err).toMatchObject({ code: 'ERR_STORE_UNAVAILABLE', status: 503 })
    },
  )

  it('fails with StoreUnavailableError when the family cannot be revoked after a reuse', async () => {
    const { auth, store } = setup({ revocation: { timeoutMs: 50 } })
    const refresh = await auth.createRefreshToken({ uid: 'u1' })
    await auth.refresh(refresh)
    store.set.mockRejectedValueOnce(new Error('down'))
    // Unknown whether the family is revoked: 503 (retry), never a fake success.
    await expect(auth.refresh(refresh)).rejects.toMatchObject({ code: 'ERR_STORE_UNAVAILABLE', status: 503 })
  })
})
