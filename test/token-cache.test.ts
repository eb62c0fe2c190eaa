/**
 * The verified-token cache (SPEC section 11, docs/performance.md): a hit skips decoding only.
 * Revocation, type, freshness, scopes and CSRF are checked on every use; an entry never outlives
 * `exp`, its key, or (remote keys) a minute; failures are never cached; a cached payload is the
 * same frozen object for every caller, so no caller can change what another sees.
 *
 * Whether decoding ran is seen from node:crypto: the node engine signs and verifies with
 * `createHmac` (HS*) and `verify` (the others) of the very module object tests can spy on.
 */
import crypto from 'node:crypto'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest'
import { TokenCache } from '../src/core/token-cache.js'
import {
  AccessTokenRequiredError,
  AuthX,
  CSRFError,
  FreshTokenRequiredError,
  InsufficientScopeError,
  InvalidTokenError,
  RefreshTokenRequiredError,
  RevokedTokenError,
  TokenExpiredError,
} from '../src/index.js'
import { clockedAuth, START } from './support/clocked.js'
import { rejection } from './support/engines.js'
import { keyOptions, signToken } from './support/keys.js'

const secretKey = 'c'.repeat(32)

afterEach(() => {
  vi.restoreAllMocks()
})

/** Counts HMAC computations (one per HS256 sign or decode) while `work` runs. */
async function hmacsDuring(work: () => Promise<unknown>): Promise<number> {
  const spy = vi.spyOn(crypto, 'createHmac')
  try {
    await work()
    return spy.mock.calls.length
  } finally {
    spy.mockRestore()
  }
}

describe('TokenCache', () => {
  it('holds at most its size, whatever is added', () => {
    for (const size of [1, 2, 3, 4, 7, 100]) {
      const cache = new TokenCache(size)
      for (let i = 0; i < size * 5; i++) {
        cache.set(`t${i}`, Object.freeze({}))
        expect(cache.size).toBeLessThanOrEqual(size)
      }
    }
  })

  it('keeps what was used recently and drops what was not', () => {
    const cache = new TokenCache(4)
    const entry = Object.freeze({ sub: 'a' })
    cache.set('a', entry)
    cache.set('b', entry)
    cache.set('c', entry)
    // 'a' is read before each new token: it stays; 'b' and 'c' are not: they go.
    for (const t of ['d', 'e', 'f', 'g']) {
      expect(cache.get('a')).toBe(entry)
      cache.set(t, entry)
    }
    expect(cache.get('a')).toBe(entry)
    expect(cache.get('b')).toBeUndefined()
    expect(cache.get('c')).toBeUndefined()
    cache.delete('a')
    expect(cache.get('a')).toBeUndefined()
  })
})

describe('verified-token cache', () => {
  it('decodes a repeated token once, and on every call with cache.verifiedTokens: 0', async () => {
    const cached = new AuthX({ secretKey })
    const uncached = new AuthX({ secretKey, cache: { verifiedTokens: 0 } })
    const token = await cached.createAccessToken({ uid: 'u1' })
    expect(await hmacsDuring(() => cached.verifyToken(token))).toBe(1)
    expect(await hmacsDuring(() => cached.verifyToken(token))).toBe(0)
    expect(await hmacsDuring(() => cached.decodeToken(token))).toBe(0)
    expect(await hmacsDuring(() => uncached.verifyToken(token))).toBe(1)
    expect(await hmacsDuring(() => uncached.verifyToken(token))).toBe(1)
  })

  it('is bounded by cache.verifiedTokens: the least recently used token is decoded again', async () => {
    const auth = new AuthX({ secretKey, cache: { verifiedTokens: 4 } })
    const tokens = await Promise.all(
      Array.from({ length: 10 }, (_, i) => auth.createAccessToken({ uid: `u${i}` })),
    )
    for (const token of tokens) await auth.verifyToken(token)
    expect(await hmacsDuring(() => auth.verifyToken(tokens[0]!))).toBe(1)
    expect(await hmacsDuring(() => auth.verifyToken(tokens[9]!))).toBe(0)
  })

  it('never caches a failure: a bad signature is checked again each time', async () => {
    const auth = new AuthX({ secretKey })
    const token = await auth.createAccessToken({ uid: 'u1' })
    const forged = token.slice(0, token.lastIndexOf('.') + 1) + 'A'.repeat(43)
    for (let i = 0; i < 3; i++) {
      const hmacs = await hmacsDuring(async () => {
        const err = await rejection(auth.verifyToken(forged))
        expect(err).toBeInstanceOf(InvalidTokenError)
        expect((err as InvalidTokenError).reason).toBe('signature')
      })
      expect(hmacs).toBe(1)
    }
    // An expired token is refused every time too, and not kept.
    const { auth: clocked, advance } = clockedAuth(secretKey)
    const short = await clocked.createAccessToken({ uid: 'u1', expiry: 60 })
    advance(61_000)
    for (let i = 0; i < 2; i++) {
      expect(await hmacsDuring(() => rejection(clocked.verifyToken(short)))).toBe(1)
    }
  })

  it('rejects a cached token once it is revoked by jti, family or subject', async () => {
    const { auth, advance } = clockedAuth(secretKey)
    for (const revoke of [
      (p: { jti: string }) => auth.revokeToken(p as never),
      (p: { fid?: string }) => auth.revokeFamily(p.fid!),
      (p: { sub: string }) => auth.revokeAllForSubject(p.sub),
    ]) {
      const pair = await auth.createTokenPair({ uid: `u-${Math.random()}` })
      const payload = await auth.verifyToken(pair.accessToken)
      // A subject cut-off covers tokens issued before it: let a second pass first.
      advance(1000)
      await revoke(payload as never)
      // The next verification is a cache hit, and still refused.
      expect(
        await hmacsDuring(() =>
          expect(auth.verifyToken(pair.accessToken)).rejects.toBeInstanceOf(RevokedTokenError),
        ),
      ).toBe(0)
    }
  })

  it('rejects a cached token once it expires, exactly when an uncached decode does', async () => {
    for (const leeway of [0, 5]) {
      const withCache = clockedAuth(secretKey, { verify: { leeway } })
      const without = clockedAuth(secretKey, { verify: { leeway }, cache: { verifiedTokens: 0 } })
      const token = await withCache.auth.createAccessToken({ uid: 'u1', expiry: 60 })
      await withCache.auth.verifyToken(token)
      // Step to one millisecond before the last accepted instant, then across it.
      const last = (60 + leeway) * 1000
      withCache.advance(last - 1)
      without.advance(last - 1)
      await expect(withCache.auth.verifyToken(token)).resolves.toMatchObject({ sub: 'u1' })
      await expect(without.auth.verifyToken(token)).resolves.toMatchObject({ sub: 'u1' })
      withCache.advance(1)
      without.advance(1)
      await expect(withCache.auth.verifyToken(token)).rejects.toBeInstanceOf(TokenExpiredError)
      await expect(without.auth.verifyToken(token)).rejects.toBeInstanceOf(TokenExpiredError)
    }
  })

  it('rejects a cached token while the clock is before its iat or its nbf, as an uncached decode does', async () => {
    const seconds = START / 1000
    const cases = [
      // iat alone (no nbf): the "issued in the future" check
      { claims: { iat: seconds }, message: 'Token was issued in the future' },
      // nbf after iat: the "not valid yet" check
      { claims: { iat: seconds - 100, nbf: seconds }, message: 'Token is not valid yet' },
    ]
    for (const { claims, message } of cases) {
      let now = START
      const auth = new AuthX({ secretKey, clock: () => now })
      const token = signToken(
        'HS256',
        secretKey,
        { alg: 'HS256', typ: 'JWT' },
        {
          sub: 'u1',
          jti: `j-${message}`,
          type: 'access',
          exp: seconds + 900,
          ...claims,
        },
      )
      await expect(auth.verifyToken(token)).resolves.toMatchObject({ sub: 'u1' })
      now = START - 1000
      for (const run of [1, 2]) {
        const err = await rejection(auth.verifyToken(token))
        expect(err, `${message}, attempt ${run}`).toBeInstanceOf(InvalidTokenError)
        expect((err as InvalidTokenError).message).toBe(message)
      }
      now = START
      await expect(auth.verifyToken(token)).resolves.toMatchObject({ sub: 'u1' })
    }
  })

  it('rejects a cached token once its key is retired', async () => {
    let now = START
    const old: Record<string, unknown> = { kid: 'old', ...keyOptions('HS256') }
    const signer = new AuthX({ ...old, clock: () => now })
    const verifier = new AuthX({
      keys: [
        { kid: 'new', ...keyOptions('HS256', 1) },
        {
          kid: 'old',
          algorithm: 'HS256',
          secretKey: old.secretKey as string,
          retireAt: new Date(START + 10_000),
        },
      ],
      clock: () => now,
    } as never)
    const token = await signer.createAccessToken({ uid: 'u1' })
    await expect(verifier.verifyToken(token)).resolves.toMatchObject({ sub: 'u1' })
    now = START + 10_000
    const err = await rejection(verifier.verifyToken(token))
    expect(err).toBeInstanceOf(InvalidTokenError)
    expect((err as InvalidTokenError).message).toBe('Token key is retired')
  })

  it('checks type, freshness and scopes on every hit', async () => {
    const auth = new AuthX({ secretKey })
    const pair = await auth.createTokenPair({ uid: 'u1', scopes: ['read'] })
    await auth.verifyToken(pair.accessToken)
    await auth.verifyToken(pair.refreshToken, { type: 'refresh' })
    expect(
      await hmacsDuring(async () => {
        await expect(auth.verifyToken(pair.accessToken, { type: 'refresh' })).rejects.toBeInstanceOf(
          RefreshTokenRequiredError,
        )
        await expect(auth.verifyToken(pair.refreshToken)).rejects.toBeInstanceOf(AccessTokenRequiredError)
        await expect(auth.verifyToken(pair.accessToken, { fresh: true })).rejects.toBeInstanceOf(
          FreshTokenRequiredError,
        )
        await expect(auth.verifyToken(pair.accessToken, { scopes: ['write'] })).rejects.toBeInstanceOf(
          InsufficientScopeError,
        )
        await expect(auth.verifyToken(pair.accessToken, { scopes: ['read'] })).resolves.toMatchObject({
          sub: 'u1',
        })
      }),
    ).toBe(0)
  })

  it('checks CSRF on every hit', async () => {
    const auth = new AuthX({ secretKey, tokenLocation: ['cookies'] })
    const token = await auth.createAccessToken({ uid: 'u1' })
    const csrf = auth.getCsrfToken(token)!
    const request = (sent: string | undefined) =>
      new Request('http://app.test/p', {
        method: 'POST',
        headers: {
          cookie: `access_token_cookie=${token}`,
          ...(sent === undefined ? {} : { 'x-csrf-token': sent }),
        },
      })
    await expect(auth.authenticate(request(csrf))).resolves.toMatchObject({ sub: 'u1' })
    expect(
      await hmacsDuring(async () => {
        await expect(auth.authenticate(request('wrong'))).rejects.toBeInstanceOf(CSRFError)
        await expect(auth.authenticate(request(undefined))).rejects.toBeInstanceOf(CSRFError)
        await expect(auth.authenticate(request(csrf))).resolves.toMatchObject({ sub: 'u1' })
      }),
    ).toBe(0)
  })

  it('hands every caller payloads around the same deeply frozen claims: no caller can change what another sees', async () => {
    const auth = new AuthX({ secretKey })
    const token = await auth.createAccessToken({
      uid: 'u1',
      scopes: ['read'],
      data: { role: 'user', profile: { tags: ['a'] } },
    })
    const first = await auth.verifyToken(token)
    const attempts: (() => void)[] = [
      () => ((first as { sub: string }).sub = 'admin'),
      () => ((first.claims as Record<string, unknown>).sub = 'admin'),
      () => (first.scopes as string[]).push('admin:*'),
      () => ((first.claims.scopes as string[])[0] = 'admin:*'),
      () => ((first.extra as Record<string, unknown>).role = 'admin'),
      () => (first.extra.profile as { tags: string[] }).tags.push('admin'),
      () => ((first.claims.profile as Record<string, unknown>).extra = 1),
      () => delete (first.claims as Record<string, unknown>).exp,
    ]
    for (const attempt of attempts) expect(attempt).toThrow(TypeError)
    const second = await auth.verifyToken(token)
    // A cache hit (no HMAC), sharing the frozen claims of the first decode.
    expect(await hmacsDuring(() => auth.verifyToken(token))).toBe(0)
    expect(second.claims).toBe(first.claims)
    expect(second.sub).toBe('u1')
    expect(second.scopes).toEqual(['read'])
    expect(second.extra).toEqual({ role: 'user', profile: { tags: ['a'] } })
    expect(second.hasScopes('admin:users')).toBe(false)
  })

  it('decodes a token verified with a remote key again after a minute', async () => {
    const signer = new AuthX(keyOptions('RS256'))
    const jwks = await signer.jwks()
    const server: Server = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(jwks))
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    try {
      let now = Date.now()
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks.json`
      const verifier = new AuthX({ jwksUrl: url, algorithm: 'RS256', clock: () => now })
      const token = await signer.createAccessToken({ uid: 'u1' })
      const verifies = vi.spyOn(crypto, 'verify')
      await verifier.verifyToken(token)
      const afterFirst = verifies.mock.calls.length
      expect(afterFirst).toBeGreaterThan(0)
      now += 59_999
      await verifier.verifyToken(token)
      expect(verifies.mock.calls.length).toBe(afterFirst)
      now += 1
      await verifier.verifyToken(token)
      expect(verifies.mock.calls.length).toBeGreaterThan(afterFirst)
    } finally {
      server.close()
      server.closeAllConnections()
    }
  })
})

afterAll(() => {
  vi.restoreAllMocks()
})
