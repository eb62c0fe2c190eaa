/**
 * Revocation and rotation behaviours pinned down by mutation testing (docs/security.md,
 * "Mutation testing"): store keys and lifetimes, errors that keep their cause and say why, no
 * timer left behind, the families of tokens minted without `fid`, audiences carried over, the
 * retry window after a failed consumption, and store answers of the wrong shape.
 */
import { afterEach, describe, expect, it, vi } from 'vitest'
import {
  AuthX,
  type AuthXOptions,
  type AuthXStore,
  MemoryStore,
  RefreshTokenReusedError,
  RevokedTokenError,
  StoreUnavailableError,
} from '../../src/index.js'
import { accessClaims, forgeHs256, NOW, NOW_MS, OMIT, refreshClaims, rejection, SECRET } from './forge.js'

/** A MemoryStore behind spies a test can override, on a clock the test moves. */
function setup(options: AuthXOptions = {}) {
  let now = NOW_MS
  const clock = () => now
  const inner = new MemoryStore({ clock })
  const store = {
    get: vi.fn((keys: string[]) => inner.get(keys)),
    set: vi.fn((key: string, value: string, ttl: number) => inner.set(key, value, ttl)),
    setIfAbsent: vi.fn((key: string, value: string, ttl: number) => inner.setIfAbsent(key, value, ttl)),
    delete: vi.fn((key: string) => inner.delete(key)),
  } satisfies AuthXStore
  const auth = new AuthX({ secretKey: SECRET, clock, store, ...options })
  return {
    auth,
    store,
    inner,
    advance: (ms: number) => {
      now += ms
    },
  }
}

afterEach(() => {
  vi.useRealTimers()
})

describe('security: revocation store keys and answers', () => {
  it('keys a revoked token without issuer as jti::<jti>, the same layout every instance reads', async () => {
    const { auth, store } = setup()
    const token = await auth.createAccessToken({ uid: 'user-1' })
    const { jti } = await auth.verifyToken(token)
    await auth.revokeToken(token)
    expect(store.set.mock.calls.map(([key]) => key)).toContain(`jti::${jti}`)
  })

  it('asks the store only for the jti and subject entries of a token without a family', async () => {
    const { auth, store } = setup()
    const token = await auth.createAccessToken({ uid: 'user-1' })
    store.get.mockClear()
    await auth.verifyToken(token)
    expect(store.get).toHaveBeenCalledTimes(1)
    expect(store.get.mock.calls[0]![0]).toHaveLength(2)
  })

  it('does not take a subject without a cut-off for one at 0: a token with a negative iat still verifies', async () => {
    const { auth } = setup()
    const token = forgeHs256(accessClaims({ iat: -1, nbf: OMIT }))
    expect((await auth.verifyToken(token)).iat).toBe(-1)
  })

  it('turns a store failure into StoreUnavailableError that keeps the original error as its cause', async () => {
    const { auth, store } = setup()
    const token = await auth.createAccessToken({ uid: 'user-1' })
    const down = new Error('ECONNREFUSED')
    store.get.mockRejectedValueOnce(down)
    const err = (await rejection(auth.verifyToken(token))) as StoreUnavailableError
    expect(err).toBeInstanceOf(StoreUnavailableError)
    expect(err.status).toBe(503)
    expect(err.cause).toBe(down)
    expect(err.message.trim()).not.toBe('')
  })

  it('says how long it waited when the store does not answer in time', async () => {
    const { auth, store } = setup({ revocation: { timeoutMs: 20 } })
    const token = await auth.createAccessToken({ uid: 'user-1' })
    store.get.mockImplementationOnce(() => new Promise(() => {}))
    const err = (await rejection(auth.verifyToken(token))) as StoreUnavailableError
    expect(err).toBeInstanceOf(StoreUnavailableError)
    expect((err.cause as Error).message).toContain('20 ms')
  })

  it('arms one shared timer for many store calls, and none once their deadline has passed', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] })
    const { auth } = setup()
    const token = await auth.createAccessToken({ uid: 'user-1' })
    for (let i = 0; i < 20; i++) await auth.verifyToken(token)
    await Promise.all(Array.from({ length: 20 }, () => auth.verifyToken(token)))
    expect(vi.getTimerCount()).toBe(1)
    vi.advanceTimersByTime(auth.config.revocation.timeoutMs + 1)
    expect(vi.getTimerCount()).toBe(0)
  })

  it('gives every refusal and store failure a message that is not empty', async () => {
    const { auth, store } = setup()
    const pair = await auth.createTokenPair({ uid: 'user-1' })
    const { fid } = await auth.verifyToken(pair.accessToken)
    const messages: string[] = []
    const refusal = async (promise: Promise<unknown>, type: abstract new (...args: never[]) => Error) => {
      const err = await rejection(promise)
      expect(err).toBeInstanceOf(type)
      messages.push((err as Error).message)
    }

    store.get.mockResolvedValueOnce(['x'])
    await refusal(auth.verifyToken(pair.accessToken), StoreUnavailableError)
    store.get.mockResolvedValueOnce([null, 'not a number', null])
    await refusal(auth.verifyToken(pair.accessToken), StoreUnavailableError)
    const callback = setup({ revocation: { isRevoked: () => 'yes' as unknown as boolean } })
    await refusal(
      callback.auth.verifyToken(await callback.auth.createAccessToken({ uid: 'user-1' })),
      StoreUnavailableError,
    )
    await auth.revokeFamily(fid!)
    await refusal(auth.verifyToken(pair.accessToken), RevokedTokenError)
    const subject = setup()
    const token = await subject.auth.createAccessToken({ uid: 'user-2' })
    subject.advance(1000)
    await subject.auth.revokeAllForSubject('user-2')
    await refusal(subject.auth.verifyToken(token), RevokedTokenError)

    for (const message of messages) expect(message.trim()).not.toBe('')
  })
})

describe('security: families of refresh tokens minted elsewhere', () => {
  it('derives the family of a token without fid from its issuer and jti, so a reuse revokes what it minted', async () => {
    const jti = 'python-minted-jti'
    const plain = setup()
    const next = await plain.auth.refresh(forgeHs256(refreshClaims({ fid: OMIT, jti })))
    expect((await plain.auth.verifyToken(next.accessToken)).fid).toBe(`jti::${jti}`)

    const issued = setup({ issuer: 'https://auth.example/a b' })
    const token = forgeHs256(refreshClaims({ fid: OMIT, jti, iss: 'https://auth.example/a b' }))
    const fromIssuer = await issued.auth.refresh(token)
    expect((await issued.auth.verifyToken(fromIssuer.accessToken)).fid).toBe(
      `jti:${encodeURIComponent('https://auth.example/a b')}:${jti}`,
    )
  })

  it('carries an array audience of a refresh token into both new tokens, unchanged', async () => {
    const { auth } = setup({ verify: { audience: ['api', 'web'] } })
    const pair = await auth.refresh(forgeHs256(refreshClaims({ aud: ['api', 'web'] })))
    expect((await auth.verifyToken(pair.accessToken)).aud).toEqual(['api', 'web'])
    expect((await auth.verifyToken(pair.refreshToken, { type: 'refresh' })).aud).toEqual(['api', 'web'])
  })

  it('with rotation off, mints an access token that verifies as one', async () => {
    const { auth } = setup({ refreshRotation: { enabled: false } })
    const refresh = await auth.createRefreshToken({ uid: 'user-1' })
    const next = await auth.refresh(refresh)
    expect((await auth.verifyToken(next.accessToken)).type).toBe('access')
  })
})

describe('security: consumption entries and the retry window', () => {
  it('keeps the consumption entry exactly until exp plus leeway', async () => {
    const { auth, store, advance } = setup({ verify: { leeway: 45 } })
    const refresh = forgeHs256(refreshClaims({ exp: NOW + 3600 }))
    advance(600_000)
    await auth.refresh(refresh)
    const [, value, ttl] = store.setIfAbsent.mock.calls[0]!
    expect(value).toBe(String(NOW + 600))
    expect(ttl).toBe(3600 - 600 + 45)
  })

  it('treats the retry of a failed consumption as first use up to 30 s later, and as reuse after', async () => {
    for (const [wait, outcome] of [
      [30_000, 'first use'],
      [31_000, 'reuse'],
    ] as const) {
      const { auth, store, inner, advance } = setup()
      const pair = await auth.createTokenPair({ uid: 'user-1' })
      // The write commits but its answer is lost.
      store.setIfAbsent.mockImplementationOnce(async (key, value, ttl) => {
        await inner.setIfAbsent(key, value, ttl)
        throw new Error('connection reset')
      })
      await expect(auth.refresh(pair.refreshToken)).rejects.toBeInstanceOf(StoreUnavailableError)
      advance(wait)
      const retry = auth.refresh(pair.refreshToken)
      if (outcome === 'first use') expect((await retry).tokenType).toBe('bearer')
      else await expect(retry).rejects.toBeInstanceOf(RefreshTokenReusedError)
    }
  })

  it('keeps the retry window of every interrupted refresh, not only the latest', async () => {
    const { auth, store, inner } = setup()
    const first = await auth.createTokenPair({ uid: 'user-1' })
    const second = await auth.createTokenPair({ uid: 'user-2' })
    const lose = async (key: string, value: string, ttl: number): Promise<boolean> => {
      await inner.setIfAbsent(key, value, ttl)
      throw new Error('connection reset')
    }
    store.setIfAbsent.mockImplementationOnce(lose).mockImplementationOnce(lose)
    await expect(auth.refresh(first.refreshToken)).rejects.toBeInstanceOf(StoreUnavailableError)
    await expect(auth.refresh(second.refreshToken)).rejects.toBeInstanceOf(StoreUnavailableError)
    expect((await auth.refresh(first.refreshToken)).tokenType).toBe('bearer')
    expect((await auth.refresh(second.refreshToken)).tokenType).toBe('bearer')
  })
})

describe('security: the reuse grace window asks the store for one entry', () => {
  it('fails closed when the store answers the grace lookup with more than one value', async () => {
    const { auth, store } = setup({ refreshRotation: { reuseGraceSeconds: 5 } })
    const pair = await auth.createTokenPair({ uid: 'user-1' })
    await auth.refresh(pair.refreshToken)
    store.get.mockImplementation(async (keys) => (keys.length === 1 ? ['0', '0'] : keys.map(() => null)))
    const err = await rejection(auth.refresh(pair.refreshToken))
    expect(err).toBeInstanceOf(StoreUnavailableError)
    expect((err as Error).message.trim()).not.toBe('')
  })

  it('treats a consumption entry gone by the grace lookup as reuse, not as a store failure', async () => {
    const { auth, store } = setup({ refreshRotation: { reuseGraceSeconds: 5 } })
    const pair = await auth.createTokenPair({ uid: 'user-1' })
    await auth.refresh(pair.refreshToken)
    store.get.mockImplementation(async (keys) => keys.map(() => null))
    await expect(auth.refresh(pair.refreshToken)).rejects.toBeInstanceOf(RefreshTokenReusedError)
  })

  it('says why when setIfAbsent answers something other than a boolean', async () => {
    const { auth, store } = setup()
    const pair = await auth.createTokenPair({ uid: 'user-1' })
    store.setIfAbsent.mockResolvedValueOnce('OK' as unknown as boolean)
    const err = await rejection(auth.refresh(pair.refreshToken))
    expect(err).toBeInstanceOf(StoreUnavailableError)
    expect((err as Error).message.trim()).not.toBe('')
  })
})
