import { createHmac } from 'node:crypto'
import { describe, expect, it, vi } from 'vitest'
import {
  AuthX,
  type AuthXOptions,
  type AuthXStore,
  InvalidTokenError,
  MemoryStore,
  RevokedTokenError,
  StoreUnavailableError,
  TokenExpiredError,
  TokenPayload,
} from '../src/index.js'

const SECRET = 'x'.repeat(32)
const START = 1_700_000_000_000

function setup(options: AuthXOptions = {}, start = START) {
  let now = start
  const clock = () => now
  const auth = new AuthX({ secretKey: SECRET, clock, ...options })
  return {
    auth,
    clock,
    advance(ms: number) {
      now += ms
    },
  }
}

/** A store that delegates to a MemoryStore, with spies on every method. */
function spyStore(clock: () => number = Date.now) {
  const inner = new MemoryStore({ clock })
  return {
    inner,
    get: vi.fn((keys: string[]) => inner.get(keys)),
    set: vi.fn((key: string, value: string, ttl: number) => inner.set(key, value, ttl)),
    setIfAbsent: vi.fn((key: string, value: string, ttl: number) => inner.setIfAbsent(key, value, ttl)),
    delete: vi.fn((key: string) => inner.delete(key)),
  } satisfies AuthXStore & { inner: MemoryStore }
}

/** Re-signs the token's own header and payload with another key: a forgery carrying the same jti. */
function forge(token: string): string {
  const [header, payload] = token.split('.')
  const signature = createHmac('sha256', 'attacker'.repeat(8))
    .update(`${header}.${payload}`)
    .digest('base64url')
  return `${header}.${payload}.${signature}`
}

const revoked = { code: 'ERR_TOKEN_REVOKED', status: 401 }
const unavailable = { code: 'ERR_STORE_UNAVAILABLE', status: 503 }

describe('revokeToken with the default MemoryStore', () => {
  it('revokes a token given as a payload', async () => {
    const { auth } = setup()
    const token = await auth.createAccessToken({ uid: 'u1' })
    const payload = await auth.verifyToken(token)
    await auth.revokeToken(payload)
    await expect(auth.verifyToken(token)).rejects.toBeInstanceOf(RevokedTokenError)
    await expect(auth.verifyToken(token)).rejects.toMatchObject(revoked)
  })

  it('revokes a token given as a string', async () => {
    const { auth } = setup()
    const token = await auth.createAccessToken({ uid: 'u1' })
    await auth.revokeToken(token)
    await expect(auth.verifyToken(token)).rejects.toMatchObject(revoked)
  })

  it('revokes refresh tokens', async () => {
    const { auth } = setup()
    const token = await auth.createRefreshToken({ uid: 'u1' })
    await auth.revokeToken(token)
    await expect(auth.verifyToken(token, { type: 'refresh' })).rejects.toMatchObject(revoked)
  })

  it('revokes only that token', async () => {
    const { auth } = setup()
    const a = await auth.createAccessToken({ uid: 'u1' })
    const b = await auth.createAccessToken({ uid: 'u1' })
    await auth.revokeToken(a)
    expect((await auth.verifyToken(b)).sub).toBe('u1')
  })

  it('refuses a forged string with InvalidTokenError and revokes nothing', async () => {
    const { auth, clock } = setup()
    const store = spyStore(clock)
    const withSpy = new AuthX({ secretKey: SECRET, clock, store })
    const genuine = await withSpy.createAccessToken({ uid: 'u1' })
    const forged = forge(genuine)
    await expect(withSpy.revokeToken(forged)).rejects.toBeInstanceOf(InvalidTokenError)
    await expect(withSpy.revokeToken(forged)).rejects.toMatchObject({
      code: 'ERR_INVALID_TOKEN',
      reason: 'signature',
    })
    expect(store.set).not.toHaveBeenCalled()
    // The genuine token with the same jti still verifies.
    expect((await withSpy.verifyToken(genuine)).sub).toBe('u1')
    await expect(auth.revokeToken('not.a.token')).rejects.toMatchObject({ code: 'ERR_INVALID_TOKEN' })
  })

  it('refuses a forged string even when it is expired', async () => {
    const { advance, clock } = setup()
    const store = spyStore(clock)
    const withSpy = new AuthX({ secretKey: SECRET, clock, store })
    const forged = forge(await withSpy.createAccessToken({ uid: 'u1', expiry: '1s' }))
    advance(10_000)
    await expect(withSpy.revokeToken(forged)).rejects.toMatchObject({ reason: 'signature' })
    expect(store.set).not.toHaveBeenCalled()
  })

  it('revokes an expired token string', async () => {
    const { auth, advance } = setup()
    const token = await auth.createAccessToken({ uid: 'u1', expiry: '10s' })
    advance(60_000)
    await expect(auth.verifyToken(token)).rejects.toBeInstanceOf(TokenExpiredError)
    await expect(auth.revokeToken(token)).resolves.toBeUndefined()
    const payload = new TokenPayload(auth.decodeUnverified(token).payload)
    await expect(auth.isRevoked(payload)).resolves.toBe(true)
  })

  it('keeps the entry until exp plus leeway: the token is never accepted again', async () => {
    const { auth, advance } = setup({ verify: { leeway: 30 } })
    const token = await auth.createAccessToken({ uid: 'u1', expiry: '60s' })
    await auth.revokeToken(token)
    // exp + leeway - 1 ms: still inside the leeway, so only revocation keeps the token out.
    advance(60_000 + 30_000 - 1)
    await expect(auth.verifyToken(token)).rejects.toMatchObject(revoked)
    advance(1)
    await expect(auth.verifyToken(token)).rejects.toBeInstanceOf(TokenExpiredError)
  })

  it('passes set a TTL of at least exp - now + leeway', async () => {
    let now = START + 400
    const clock = () => now
    const store = spyStore(clock)
    const auth = new AuthX({ secretKey: SECRET, clock, store, verify: { leeway: 30 }, maxLifetime: '3w' })
    const token = await auth.createAccessToken({ uid: 'u1' })
    const exp = auth.decodeUnverified(token).payload.exp as number
    now += 100_300
    await auth.revokeToken(token)
    expect(store.set).toHaveBeenCalledTimes(1)
    const ttl = store.set.mock.calls[0]![2]
    expect(ttl).toBeGreaterThanOrEqual(exp - now / 1000 + 30)
    expect(Number.isFinite(ttl)).toBe(true)
    store.set.mockClear()
    await auth.revokeToken(await auth.verifyToken(await auth.createAccessToken({ uid: 'u1', expiry: '3w' })))
    expect(store.set.mock.calls[0]![2]).toBeGreaterThanOrEqual(3 * 604_800 + 30)
  })

  it('keeps the entry of a token without exp for at least the longest lifetime', async () => {
    const { clock } = setup()
    const store = spyStore(clock)
    const auth = new AuthX({
      secretKey: SECRET,
      clock,
      store,
      accessTokenExpires: false,
      refreshTokenExpires: '30d',
    })
    await auth.revokeToken(await auth.createAccessToken({ uid: 'u1' }))
    expect(store.set.mock.calls[0]![2]).toBeGreaterThanOrEqual(30 * 86_400)
    const never = new AuthX({
      secretKey: SECRET,
      clock,
      store,
      accessTokenExpires: false,
      refreshTokenExpires: false,
    })
    store.set.mockClear()
    await never.revokeToken(await never.createAccessToken({ uid: 'u1' }))
    expect(store.set.mock.calls[0]![2]).toBeGreaterThanOrEqual(365 * 86_400)
  })
})

describe('revokeFamily', () => {
  it('revokes the refresh and the access token of a pair', async () => {
    const { auth } = setup()
    const pair = await auth.createTokenPair({ uid: 'u1' })
    const other = await auth.createTokenPair({ uid: 'u1' })
    const fid = (await auth.verifyToken(pair.refreshToken, { type: 'refresh' })).fid!
    await auth.revokeFamily(fid)
    await expect(auth.verifyToken(pair.refreshToken, { type: 'refresh' })).rejects.toMatchObject(revoked)
    await expect(auth.verifyToken(pair.accessToken)).rejects.toMatchObject(revoked)
    expect((await auth.verifyToken(other.accessToken)).sub).toBe('u1')
    expect((await auth.verifyToken(other.refreshToken, { type: 'refresh' })).sub).toBe('u1')
  })

  it('passes set a TTL of at least refreshTokenExpires plus leeway', async () => {
    const store = spyStore()
    const auth = new AuthX({ secretKey: SECRET, store, refreshTokenExpires: '7d', verify: { leeway: 60 } })
    await auth.revokeFamily('some-family')
    expect(store.set.mock.calls[0]![2]).toBeGreaterThanOrEqual(7 * 86_400 + 60)
  })

  it('rejects an empty or non-string fid with a TypeError', async () => {
    const { auth } = setup()
    await expect(auth.revokeFamily('')).rejects.toBeInstanceOf(TypeError)
    await expect(auth.revokeFamily(undefined as unknown as string)).rejects.toBeInstanceOf(TypeError)
  })
})

describe('revokeAllForSubject', () => {
  it('revokes tokens issued in an earlier second, keeps the same second, leaves other subjects alone', async () => {
    const { auth, advance } = setup({}, START + 999)
    const early = await auth.createAccessToken({ uid: 'u1' })
    const earlyRefresh = await auth.createRefreshToken({ uid: 'u1' })
    const otherSubject = await auth.createAccessToken({ uid: 'u2' })
    advance(1) // START + 1000: the next second
    const sameSecond = await auth.createAccessToken({ uid: 'u1' })
    advance(500)
    await auth.revokeAllForSubject('u1')
    const afterCutoff = await auth.createAccessToken({ uid: 'u1' })
    await expect(auth.verifyToken(early)).rejects.toMatchObject(revoked)
    await expect(auth.verifyToken(earlyRefresh, { type: 'refresh' })).rejects.toMatchObject(revoked)
    expect((await auth.verifyToken(sameSecond)).sub).toBe('u1')
    expect((await auth.verifyToken(afterCutoff)).sub).toBe('u1')
    expect((await auth.verifyToken(otherSubject)).sub).toBe('u2')
    advance(5_000)
    expect((await auth.verifyToken(await auth.createAccessToken({ uid: 'u1' }))).sub).toBe('u1')
  })

  it('moves the cut-off forward when called again later', async () => {
    const { auth, advance } = setup()
    await auth.revokeAllForSubject('u1')
    const token = await auth.createAccessToken({ uid: 'u1' })
    expect((await auth.verifyToken(token)).sub).toBe('u1')
    advance(2_000)
    await auth.revokeAllForSubject('u1')
    await expect(auth.verifyToken(token)).rejects.toMatchObject(revoked)
  })

  it('passes set a TTL of at least the longest lifetime plus leeway', async () => {
    const store = spyStore()
    const auth = new AuthX({
      secretKey: SECRET,
      store,
      accessTokenExpires: '1h',
      refreshTokenExpires: '30d',
      verify: { leeway: 10 },
    })
    await auth.revokeAllForSubject('u1')
    expect(store.set.mock.calls[0]![2]).toBeGreaterThanOrEqual(30 * 86_400 + 10)
  })

  it('rejects an empty or non-string subject with a TypeError', async () => {
    const { auth } = setup()
    await expect(auth.revokeAllForSubject('')).rejects.toBeInstanceOf(TypeError)
    await expect(auth.revokeAllForSubject(42 as unknown as string)).rejects.toBeInstanceOf(TypeError)
  })
})

describe('decodeToken, verifyToken and isRevoked', () => {
  it('decodeToken does not check revocation but verifyToken does', async () => {
    const { clock } = setup()
    const store = spyStore(clock)
    const auth = new AuthX({ secretKey: SECRET, clock, store })
    const token = await auth.createAccessToken({ uid: 'u1' })
    await auth.revokeToken(token)
    store.get.mockClear()
    expect((await auth.decodeToken(token)).sub).toBe('u1')
    expect(store.get).not.toHaveBeenCalled()
    await expect(auth.verifyToken(token)).rejects.toMatchObject(revoked)
    expect(store.get).toHaveBeenCalledTimes(1)
  })

  it('auth.isRevoked resolves to false for a live token and true for a revoked one', async () => {
    const { auth } = setup()
    const payload = await auth.decodeToken(await auth.createAccessToken({ uid: 'u1' }))
    await expect(auth.isRevoked(payload)).resolves.toBe(false)
    await auth.revokeToken(payload)
    await expect(auth.isRevoked(payload)).resolves.toBe(true)
  })

  it('auth.isRevoked throws only StoreUnavailableError, and a TypeError for a non-payload', async () => {
    const store = new MemoryStore()
    store.get = async () => {
      throw new Error('down')
    }
    const auth = new AuthX({ secretKey: 'k'.repeat(32), store })
    const payload = await auth.decodeToken(await auth.createAccessToken({ uid: 'u1' }))
    await expect(auth.isRevoked(payload)).rejects.toBeInstanceOf(StoreUnavailableError)
    await expect(auth.isRevoked({ sub: 'u1' } as never)).rejects.toBeInstanceOf(TypeError)
  })

  it('auth.isRevoked checks family and subject too', async () => {
    const { auth, advance } = setup()
    const pair = await auth.createTokenPair({ uid: 'u1' })
    const access = await auth.decodeToken(pair.accessToken)
    await auth.revokeFamily(access.fid!)
    await expect(auth.isRevoked(access)).resolves.toBe(true)
    const single = await auth.decodeToken(await auth.createAccessToken({ uid: 'u2' }))
    advance(1_000)
    await auth.revokeAllForSubject('u2')
    await expect(auth.isRevoked(single)).resolves.toBe(true)
  })

  it('auth.isRevoked consults the callback', async () => {
    const { auth } = setup({ revocation: { isRevoked: (p) => p.sub === 'banned' } })
    await expect(
      auth.isRevoked(await auth.decodeToken(await auth.createAccessToken({ uid: 'ok' }))),
    ).resolves.toBe(false)
    const banned = await auth.decodeToken(await auth.createAccessToken({ uid: 'banned' }))
    await expect(auth.isRevoked(banned)).resolves.toBe(true)
  })

  it('reads every revocation key of a token in one store call', async () => {
    const store = spyStore()
    const auth = new AuthX({ secretKey: SECRET, store })
    const pair = await auth.createTokenPair({ uid: 'u1' })
    await auth.verifyToken(pair.accessToken)
    expect(store.get).toHaveBeenCalledTimes(1)
    // jti, subject and family.
    expect(store.get.mock.calls[0]![0]).toHaveLength(3)
  })
})

describe('the revocation.isRevoked callback', () => {
  it.each([
    ['sync true', () => true, true],
    ['sync false', () => false, false],
    ['async true', async () => true, true],
    ['async false', async () => false, false],
    ['a delayed true', () => new Promise<boolean>((resolve) => setTimeout(() => resolve(true), 20)), true],
  ])('answering %s decides revocation', async (_name, isRevoked, expected) => {
    const { auth } = setup({ revocation: { isRevoked } })
    const token = await auth.createAccessToken({ uid: 'u1' })
    if (expected) await expect(auth.verifyToken(token)).rejects.toMatchObject(revoked)
    else expect((await auth.verifyToken(token)).sub).toBe('u1')
  })

  it('receives the TokenPayload of the verified token', async () => {
    const isRevoked = vi.fn((_p: TokenPayload) => false)
    const { auth } = setup({ revocation: { isRevoked } })
    const token = await auth.createAccessToken({ uid: 'u1', data: { role: 'r' } })
    await auth.verifyToken(token)
    expect(isRevoked).toHaveBeenCalledTimes(1)
    const received = isRevoked.mock.calls[0]![0]
    expect(received).toBeInstanceOf(TokenPayload)
    expect(received.sub).toBe('u1')
    expect(received.jti).toBe(auth.decodeUnverified(token).payload.jti)
    expect(received.extra).toEqual({ role: 'r' })
  })

  it('is not asked when the store already says revoked, and is asked on every verification otherwise', async () => {
    const isRevoked = vi.fn(() => false)
    const { auth } = setup({ revocation: { isRevoked } })
    const token = await auth.createAccessToken({ uid: 'u1' })
    await auth.verifyToken(token)
    await auth.verifyToken(token)
    expect(isRevoked).toHaveBeenCalledTimes(2)
    await auth.revokeToken(token)
    await expect(auth.verifyToken(token)).rejects.toMatchObject(revoked)
  })

  it('throwing gives StoreUnavailableError 503, not acceptance', async () => {
    const { auth } = setup({
      revocation: {
        isRevoked: () => {
          throw new Error('db down')
        },
      },
    })
    const token = await auth.createAccessToken({ uid: 'u1' })
    await expect(auth.verifyToken(token)).rejects.toBeInstanceOf(StoreUnavailableError)
    await expect(auth.verifyToken(token)).rejects.toMatchObject(unavailable)
  })

  it('rejecting gives StoreUnavailableError', async () => {
    const { auth } = setup({ revocation: { isRevoked: () => Promise.reject(new Error('db down')) } })
    await expect(auth.verifyToken(await auth.createAccessToken({ uid: 'u1' }))).rejects.toMatchObject(
      unavailable,
    )
  })

  it('answering beyond timeoutMs gives StoreUnavailableError', async () => {
    const { auth } = setup({
      revocation: {
        timeoutMs: 50,
        isRevoked: () => new Promise<boolean>((resolve) => setTimeout(() => resolve(false), 1000)),
      },
    })
    await expect(auth.verifyToken(await auth.createAccessToken({ uid: 'u1' }))).rejects.toMatchObject(
      unavailable,
    )
  })

  it.each([
    ['undefined', undefined],
    ['a string', 'false'],
    ['a number', 0],
    ['null', null],
  ])(
    'answering %s instead of a boolean gives StoreUnavailableError, never acceptance',
    async (_name, answer) => {
      const isRevoked = (() => answer) as unknown as (p: TokenPayload) => boolean
      const { auth } = setup({ revocation: { isRevoked } })
      await expect(auth.verifyToken(await auth.createAccessToken({ uid: 'u1' }))).rejects.toMatchObject(
        unavailable,
      )
    },
  )

  it('gives StoreUnavailableError a retryAfter', async () => {
    const { auth } = setup({ revocation: { isRevoked: () => Promise.reject(new Error('x')) } })
    const err = await auth.verifyToken(await auth.createAccessToken({ uid: 'u1' })).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(StoreUnavailableError)
    expect((err as StoreUnavailableError).retryAfter).toBeGreaterThanOrEqual(1)
  })
})

describe('security: store failures fail closed', () => {
  function brokenStore(get: (keys: string[]) => Promise<unknown>): AuthXStore {
    const inner = new MemoryStore()
    return {
      get: get as AuthXStore['get'],
      set: (k, v, t) => inner.set(k, v, t),
      setIfAbsent: (k, v, t) => inner.setIfAbsent(k, v, t),
      delete: (k) => inner.delete(k),
    }
  }

  async function verifyWith(store: AuthXStore, timeoutMs = 500) {
    const auth = new AuthX({ secretKey: SECRET, store, revocation: { timeoutMs } })
    return auth.verifyToken(await auth.createAccessToken({ uid: 'u1' }))
  }

  it('a store whose get rejects gives StoreUnavailableError 503', async () => {
    await expect(
      verifyWith(brokenStore(() => Promise.reject(new Error('ECONNREFUSED')))),
    ).rejects.toMatchObject(unavailable)
  })

  it('a store whose get throws synchronously gives StoreUnavailableError', async () => {
    const store = brokenStore(() => {
      throw new Error('boom')
    })
    await expect(verifyWith(store)).rejects.toBeInstanceOf(StoreUnavailableError)
  })

  it('a store that never answers gives StoreUnavailableError after timeoutMs', async () => {
    await expect(
      verifyWith(
        brokenStore(() => new Promise(() => {})),
        50,
      ),
    ).rejects.toMatchObject(unavailable)
  })

  it.each([
    ['not an array', 'revoked'],
    ['an object', { 0: null, 1: null, length: 2 }],
    ['undefined', undefined],
    ['null', null],
    ['a shorter array', [null]],
    ['an empty array', []],
    ['a longer array', [null, null, null, null]],
    ['numbers', [0, 0]],
    ['a number and a null', [null, 0]],
    ['booleans', [false, false]],
    ['undefined values', [undefined, undefined]],
    ['objects', [{}, {}]],
  ])('a store answering %s gives StoreUnavailableError, never acceptance', async (_name, answer) => {
    // An access token without fid: two keys (jti and subject).
    await expect(verifyWith(brokenStore(async () => answer))).rejects.toMatchObject(unavailable)
  })

  it('a store answering a non-numeric subject cut-off gives StoreUnavailableError', async () => {
    const store = brokenStore(async (keys) => keys.map((k) => (k.startsWith('sub:') ? 'garbage' : null)))
    await expect(verifyWith(store)).rejects.toMatchObject(unavailable)
  })

  it('a well-shaped answer of nulls is accepted (control)', async () => {
    const store = brokenStore(async (keys) => keys.map(() => null))
    expect((await verifyWith(store)).sub).toBe('u1')
  })

  it.each([
    ['revokeToken', (auth: AuthX, token: string) => auth.revokeToken(token)],
    ['revokeFamily', (auth: AuthX) => auth.revokeFamily('fam')],
    ['revokeAllForSubject', (auth: AuthX) => auth.revokeAllForSubject('u1')],
  ] as const)('%s while the store set rejects gives StoreUnavailableError', async (_name, revoke) => {
    const inner = new MemoryStore()
    const store: AuthXStore = {
      get: (keys) => inner.get(keys),
      set: () => Promise.reject(new Error('READONLY')),
      setIfAbsent: (k, v, t) => inner.setIfAbsent(k, v, t),
      delete: (k) => inner.delete(k),
    }
    const auth = new AuthX({ secretKey: SECRET, store })
    const token = await auth.createAccessToken({ uid: 'u1' })
    await expect(revoke(auth, token)).rejects.toMatchObject(unavailable)
  })

  it('revoking while the store set never answers gives StoreUnavailableError', async () => {
    const inner = new MemoryStore()
    const store: AuthXStore = {
      get: (keys) => inner.get(keys),
      set: () => new Promise(() => {}),
      setIfAbsent: (k, v, t) => inner.setIfAbsent(k, v, t),
      delete: (k) => inner.delete(k),
    }
    const auth = new AuthX({ secretKey: SECRET, store, revocation: { timeoutMs: 50 } })
    await expect(auth.revokeToken(await auth.createAccessToken({ uid: 'u1' }))).rejects.toMatchObject(
      unavailable,
    )
  })
})

describe('security: tokens that fail verification never reach the store or the callback', () => {
  async function spied() {
    const store = spyStore()
    const isRevoked = vi.fn(() => false)
    const auth = new AuthX({ secretKey: SECRET, store, revocation: { isRevoked } })
    const token = await auth.createAccessToken({ uid: 'u1' })
    return { store, isRevoked, auth, token }
  }

  it('a valid token reaches both once (control)', async () => {
    const { store, isRevoked, auth, token } = await spied()
    await auth.verifyToken(token)
    expect(store.get).toHaveBeenCalledTimes(1)
    expect(isRevoked).toHaveBeenCalledTimes(1)
  })

  it('a token with a bad signature makes 0 store and 0 callback calls', async () => {
    const { store, isRevoked, auth, token } = await spied()
    await expect(auth.verifyToken(forge(token))).rejects.toMatchObject({ reason: 'signature' })
    const other = new AuthX({ secretKey: 'o'.repeat(32) })
    await expect(auth.verifyToken(await other.createAccessToken({ uid: 'u1' }))).rejects.toMatchObject({
      reason: 'signature',
    })
    expect(store.get).toHaveBeenCalledTimes(0)
    expect(isRevoked).toHaveBeenCalledTimes(0)
  })

  it('malformed, oversized and alg-none tokens make 0 store and 0 callback calls', async () => {
    const { store, isRevoked, auth, token } = await spied()
    const [, payload] = token.split('.')
    const none = `${Buffer.from('{"alg":"none","typ":"JWT"}').toString('base64url')}.${payload}.`
    for (const bad of ['garbage', 'a.b.c', `${token}.x`, none, `${token}${'A'.repeat(9000)}`]) {
      await expect(auth.verifyToken(bad)).rejects.toBeInstanceOf(InvalidTokenError)
    }
    expect(store.get).toHaveBeenCalledTimes(0)
    expect(isRevoked).toHaveBeenCalledTimes(0)
  })

  it('an expired token makes 0 store and 0 callback calls', async () => {
    let now = START
    const store = spyStore(() => now)
    const isRevoked = vi.fn(() => false)
    const auth = new AuthX({ secretKey: SECRET, clock: () => now, store, revocation: { isRevoked } })
    const token = await auth.createAccessToken({ uid: 'u1', expiry: '1s' })
    now += 5_000
    await expect(auth.verifyToken(token)).rejects.toBeInstanceOf(TokenExpiredError)
    expect(store.get).toHaveBeenCalledTimes(0)
    expect(isRevoked).toHaveBeenCalledTimes(0)
  })
})

describe('security: revocation keys follow the verified claims', () => {
  it('revoking a token string revokes every other string carrying its iss and jti', async () => {
    const { auth } = setup({ issuer: 'iss1' })
    const token = await auth.createAccessToken({ uid: 'u1' })
    // Same claims, different bytes (whitespace), validly signed: a different string, the same token.
    const [header] = token.split('.')
    const body = Buffer.from(JSON.stringify(auth.decodeUnverified(token).payload, null, 1)).toString(
      'base64url',
    )
    const signature = createHmac('sha256', SECRET).update(`${header}.${body}`).digest('base64url')
    const variant = `${header}.${body}.${signature}`
    expect(variant).not.toBe(token)
    expect((await auth.verifyToken(variant)).jti).toBe(auth.decodeUnverified(token).payload.jti)
    await auth.revokeToken(token)
    await expect(auth.verifyToken(variant)).rejects.toMatchObject(revoked)
  })

  it('revokeAllForSubject reaches tokens carrying an iss when the instance pins no issuer', async () => {
    // One secret, two services: the verifier pins no issuer, so it accepts the issuer's tokens.
    const store = new MemoryStore()
    let now = START
    const clock = () => now
    const issuer = new AuthX({ secretKey: SECRET, clock, issuer: 'https://login.example', store })
    const verifier = new AuthX({ secretKey: SECRET, clock, store })
    const token = await issuer.createAccessToken({ uid: 'u1' })
    expect((await verifier.verifyToken(token)).iss).toBe('https://login.example')
    now += 1_000
    await verifier.revokeAllForSubject('u1')
    await expect(verifier.verifyToken(token)).rejects.toMatchObject(revoked)
  })

  it('revokeFamily reaches tokens carrying an iss when the instance pins no issuer', async () => {
    const store = new MemoryStore()
    const issuer = new AuthX({ secretKey: SECRET, issuer: 'https://login.example', store })
    const verifier = new AuthX({ secretKey: SECRET, store })
    const pair = await issuer.createTokenPair({ uid: 'u1' })
    const fid = (await verifier.verifyToken(pair.refreshToken, { type: 'refresh' })).fid!
    await verifier.revokeFamily(fid)
    await expect(verifier.verifyToken(pair.refreshToken, { type: 'refresh' })).rejects.toMatchObject(revoked)
    await expect(verifier.verifyToken(pair.accessToken)).rejects.toMatchObject(revoked)
  })

  it('an issuer-pinned instance revokes its own subjects and families', async () => {
    const { auth, advance } = setup({ issuer: 'https://login.example' })
    const pair = await auth.createTokenPair({ uid: 'u1' })
    const single = await auth.createAccessToken({ uid: 'u2' })
    await auth.revokeFamily((await auth.decodeToken(pair.refreshToken)).fid!)
    advance(1_000)
    await auth.revokeAllForSubject('u2')
    await expect(auth.verifyToken(pair.accessToken)).rejects.toMatchObject(revoked)
    await expect(auth.verifyToken(single)).rejects.toMatchObject(revoked)
  })
})
