/**
 * Revocation that outlives what it revokes, and the faults around it (issue 8): tokens without
 * `exp`, custom expiries capped by `maxLifetime`, a consumption that timed out but committed,
 * async listeners, bad arguments, and the cheap implicit-refresh check before the store.
 */
import { generateKeyPairSync } from 'node:crypto'
import { describe, expect, it, vi } from 'vitest'
import {
  AuthX,
  type AuthXOptions,
  type AuthXStore,
  MemoryStore,
  RefreshTokenReusedError,
  RevokedTokenError,
  StoreUnavailableError,
} from '../src/index.js'
import { clockedAuth, START } from './support/clocked.js'
import { onEngine } from './support/engines.js'

const SECRET = 'lifetimes-secret-0123456789abcdef-xyz'
const DAY = 86_400_000

const setup = (options: AuthXOptions = {}) => clockedAuth(SECRET, options)

describe('tokens without exp: their revocations never expire', () => {
  it('revokeFamily, revokeToken and revokeAllForSubject still hold a year later', async () => {
    const { auth, advance } = setup({ refreshTokenExpires: false, accessTokenExpires: false })
    const a = await auth.createTokenPair({ uid: 'u1' })
    const b = await auth.createAccessToken({ uid: 'u2' })
    const c = await auth.createAccessToken({ uid: 'u3' })
    advance(1000)
    await auth.revokeFamily((await auth.decodeToken(a.refreshToken)).fid as string)
    await auth.revokeToken(b)
    await auth.revokeAllForSubject('u3')
    advance(16 * 60_000) // the other configured lifetime used to end them here
    advance(365 * DAY)
    await expect(auth.verifyToken(a.accessToken)).rejects.toBeInstanceOf(RevokedTokenError)
    await expect(auth.verifyToken(a.refreshToken, { type: 'refresh' })).rejects.toBeInstanceOf(
      RevokedTokenError,
    )
    await expect(auth.verifyToken(b)).rejects.toBeInstanceOf(RevokedTokenError)
    await expect(auth.verifyToken(c)).rejects.toBeInstanceOf(RevokedTokenError)
  })

  it('a consumed refresh token without exp is still reuse a year later', async () => {
    const { auth, advance } = setup({ refreshTokenExpires: false })
    const pair = await auth.createTokenPair({ uid: 'u1' })
    await auth.refresh(pair.refreshToken)
    advance(365 * DAY)
    await expect(auth.refresh(pair.refreshToken)).rejects.toBeInstanceOf(RefreshTokenReusedError)
  })
})

describe('maxLifetime: family and subject entries outlive every token they cover', () => {
  it('refuses a custom expiry longer than maxLifetime (default: the longest lifetime)', async () => {
    const { auth } = setup()
    await expect(auth.createTokenPair({ uid: 'u1', refreshExpiry: '30d' })).rejects.toThrow(/maxLifetime/)
    await expect(auth.createAccessToken({ uid: 'u1', expiry: '21d' })).rejects.toThrow(TypeError)
    await expect(auth.createRefreshToken({ uid: 'u1', expiry: new Date(START + 40 * DAY) })).rejects.toThrow(
      /maxLifetime/,
    )
    await expect(auth.createAccessToken({ uid: 'u1', expiry: '20d' })).resolves.toBeTypeOf('string')
  })

  it('with a longer maxLifetime, a revoked family stays revoked for the longest token', async () => {
    const { auth, advance } = setup({ maxLifetime: '60d' })
    const pair = await auth.createTokenPair({ uid: 'u1', refreshExpiry: '60d', accessExpiry: '45d' })
    await auth.revokeFamily((await auth.decodeToken(pair.refreshToken)).fid as string)
    advance(21 * DAY) // past refreshTokenExpires (20d), where the entry used to end
    await expect(auth.verifyToken(pair.accessToken)).rejects.toBeInstanceOf(RevokedTokenError)
    advance(38 * DAY) // day 59: the refresh token still verifies by its exp...
    await expect(auth.verifyToken(pair.refreshToken, { type: 'refresh' })).rejects.toBeInstanceOf(
      RevokedTokenError,
    )
  })

  it('the subject cut-off lives maxLifetime too', async () => {
    const { auth, advance } = setup({ maxLifetime: '60d' })
    const token = await auth.createAccessToken({ uid: 'u1', expiry: '60d' })
    advance(1000)
    await auth.revokeAllForSubject('u1')
    advance(59 * DAY)
    await expect(auth.verifyToken(token)).rejects.toBeInstanceOf(RevokedTokenError)
  })
})

describe('a consumption that timed out but committed is not reuse for the retry', () => {
  /** A store whose next setIfAbsent commits and then never answers (the caller times out). */
  function lossyStore(clock: () => number) {
    const inner = new MemoryStore({ clock })
    let dropNext = false
    const store: AuthXStore & { dropNext(): void } = {
      get: (keys) => inner.get(keys),
      set: (k, v, t) => inner.set(k, v, t),
      delete: (k) => inner.delete(k),
      async setIfAbsent(key, value, ttl) {
        const result = await inner.setIfAbsent(key, value, ttl)
        if (!dropNext) return result
        dropNext = false
        return new Promise<boolean>(() => {}) // committed, answer lost
      },
      dropNext() {
        dropNext = true
      },
    }
    return store
  }

  it('the client retry after a 503 gets a new pair of the same family; a later replay is reuse', async () => {
    let now = START
    const store = lossyStore(() => now)
    const auth = new AuthX({ secretKey: SECRET, clock: () => now, store, revocation: { timeoutMs: 50 } })
    const pair = await auth.createTokenPair({ uid: 'u1' })
    store.dropNext()
    await expect(auth.refresh(pair.refreshToken)).rejects.toBeInstanceOf(StoreUnavailableError)
    now += 2000
    const retried = await auth.refresh(pair.refreshToken)
    expect((await auth.verifyToken(retried.accessToken)).fid).toBe(
      (await auth.decodeToken(pair.refreshToken)).fid,
    )
    await expect(auth.refresh(pair.refreshToken)).rejects.toBeInstanceOf(RefreshTokenReusedError)
  })

  it('a failed consumption that did not commit leaves no way around reuse detection', async () => {
    let now = START
    const inner = new MemoryStore({ clock: () => now })
    let fail = true
    const store: AuthXStore = {
      get: (keys) => inner.get(keys),
      set: (k, v, t) => inner.set(k, v, t),
      delete: (k) => inner.delete(k),
      setIfAbsent: (k, v, t) => (fail ? Promise.reject(new Error('down')) : inner.setIfAbsent(k, v, t)),
    }
    const auth = new AuthX({ secretKey: SECRET, clock: () => now, store })
    const pair = await auth.createTokenPair({ uid: 'u1' })
    await expect(auth.refresh(pair.refreshToken)).rejects.toBeInstanceOf(StoreUnavailableError)
    fail = false
    await auth.refresh(pair.refreshToken) // the retry is the real first use
    now += 1000
    await expect(auth.refresh(pair.refreshToken)).rejects.toBeInstanceOf(RefreshTokenReusedError)
  })

  it('the allowance ends after the retry window', async () => {
    let now = START
    const store = lossyStore(() => now)
    const auth = new AuthX({ secretKey: SECRET, clock: () => now, store, revocation: { timeoutMs: 50 } })
    const pair = await auth.createTokenPair({ uid: 'u1' })
    store.dropNext()
    await expect(auth.refresh(pair.refreshToken)).rejects.toBeInstanceOf(StoreUnavailableError)
    now += 31_000
    await expect(auth.refresh(pair.refreshToken)).rejects.toBeInstanceOf(RefreshTokenReusedError)
  })
})

describe('nothing a caller does crashes the process', () => {
  it('an async listener that rejects is reported with emitWarning, not an unhandled rejection', async () => {
    const warn = vi.spyOn(process, 'emitWarning').mockImplementation(() => {})
    const unhandled = vi.fn()
    process.on('unhandledRejection', unhandled)
    try {
      const { auth } = setup()
      auth.on('verify.failed', async () => {
        throw new Error('audit database down')
      })
      await expect(auth.verifyToken('x.y.z')).rejects.toThrow()
      await new Promise((resolve) => setTimeout(resolve, 20))
      expect(unhandled).not.toHaveBeenCalled()
      expect(warn).toHaveBeenCalledWith(
        expect.stringContaining('audit database down'),
        expect.objectContaining({ code: 'AUTHX_LISTENER_ERROR' }),
      )
    } finally {
      process.off('unhandledRejection', unhandled)
      warn.mockRestore()
    }
  })

  it('revokeToken with something that is neither a token nor a payload is a TypeError naming it', async () => {
    const { auth, store } = setup()
    const set = vi.spyOn(store, 'set')
    await expect(auth.revokeToken({} as never)).rejects.toThrow(/revokeToken/)
    await expect(auth.revokeToken(null as never)).rejects.toThrow(TypeError)
    await expect(auth.revokeToken(undefined as never)).rejects.toThrow(TypeError)
    expect(set).not.toHaveBeenCalled()
  })
})

describe('implicit refresh checks the expiry window before the store', () => {
  it('a token far from expiry costs no store read', async () => {
    const { auth, store } = setup({ tokenLocation: ['cookies'], implicitRefresh: { enabled: true } })
    const token = await auth.createAccessToken({ uid: 'u1' })
    const get = vi.spyOn(store, 'get')
    const request = new Request('http://localhost/p', { headers: { cookie: `access_token_cookie=${token}` } })
    expect(await auth.implicitRefreshCookies(request)).toEqual([])
    expect(get).not.toHaveBeenCalled()
  })
})

describe('fromEnv and keys', () => {
  it('JWT_HEADER_TYPE= (empty) means raw tokens, as in Python AuthX', async () => {
    const auth = AuthX.fromEnv({ JWT_SECRET_KEY: SECRET, JWT_HEADER_TYPE: '' })
    expect(auth.config.header.type).toBe('')
    const token = await auth.createAccessToken({ uid: 'u1' })
    const request = new Request('http://localhost/p', { headers: { authorization: token } })
    expect((await auth.authenticate(request))?.sub).toBe('u1')
  })

  // rsa-pss keys (id-RSASSA-PSS) are node engine only: Web Crypto, which the jose engine imports
  // keys with, refuses them ("Invalid key type"), so these two tests pin the node engine whatever
  // the suite variant (test/support/variant-setup.ts).
  it.each(['PS256', 'PS384', 'PS512'] as const)(
    '%s accepts an rsa-pss key and its tokens verify',
    async (alg) => {
      const { privateKey, publicKey } = generateKeyPairSync('rsa-pss', { modulusLength: 2048 })
      const auth = onEngine('node', { algorithm: alg, privateKey, publicKey })
      const token = await auth.createAccessToken({ uid: 'u1' })
      expect((await auth.verifyToken(token)).sub).toBe('u1')
    },
  )

  it('refuses an rsa-pss key for RS256, and one restricted to another hash', () => {
    const pss = generateKeyPairSync('rsa-pss', { modulusLength: 2048 })
    expect(() => onEngine('node', { algorithm: 'RS256', ...pss })).toThrow(/needs an RSA key/)
    // A key bound to SHA-256 (id-RSASSA-PSS parameters in the key itself).
    const restricted = {
      modulusLength: 2048,
      hashAlgorithm: 'sha256',
      mgf1HashAlgorithm: 'sha256',
      saltLength: 32,
    }
    const bound = generateKeyPairSync('rsa-pss', restricted as { modulusLength: number })
    expect(() => onEngine('node', { algorithm: 'PS384', ...bound })).toThrow(/restricted to sha256/)
    expect(() => onEngine('node', { algorithm: 'PS256', ...bound })).not.toThrow()
  })
})
