/**
 * DPoP as AuthX wires it (docs/dpop.md): binding at creation, bound tokens refused wherever no
 * proof can be checked, the binding kept by refresh, rotation and implicit refresh, and the
 * instance's challenges on every 401/403. The proof checks themselves are in test/dpop.test.ts,
 * and the adapters in test/adapters/dpop*.test.ts.
 */
import { describe, expect, it } from 'vitest'
import { AuthX, type AuthXOptions } from '../src/index.js'
import { type DPoPClient, dpopClient } from './support/dpop-client.js'

const SECRET = 'a-secret-of-at-least-thirty-two-bytes!!'
const ORIGIN = 'http://api.test'

function instance(options: AuthXOptions = {}): AuthX {
  return new AuthX({ secretKey: SECRET, dpop: {}, ...options })
}

async function failure(promise: Promise<unknown>): Promise<Record<string, unknown>> {
  return promise.then(
    () => expect.fail('expected a rejection'),
    (err: unknown) => err as Record<string, unknown>,
  )
}

/** A login request carrying a proof of `client`'s key, and the pair it binds. */
async function boundPair(auth: AuthX, client: DPoPClient) {
  const proof = await client.proof({ htm: 'POST', htu: `${ORIGIN}/login` })
  const jkt = await auth.dpopThumbprint(
    new Request(`${ORIGIN}/login`, { method: 'POST', headers: { dpop: proof } }),
  )
  return auth.createTokenPair({ uid: 'u1', jkt })
}

async function me(client: DPoPClient, token: string, init: { scheme?: string } = {}) {
  const proof = await client.proof({ htm: 'GET', htu: `${ORIGIN}/me`, accessToken: token })
  const headers = { authorization: `${init.scheme ?? 'DPoP'} ${token}`, dpop: proof }
  return new Request(`${ORIGIN}/me`, { headers })
}

describe('binding at creation', () => {
  it('a login with a proof gets a pair bound to its key, token_type DPoP', async () => {
    const auth = instance()
    const client = await dpopClient()
    const pair = await boundPair(auth, client)
    expect(pair.tokenType).toBe('DPoP')
    for (const token of [pair.accessToken, pair.refreshToken]) {
      expect(auth.decodeUnverified(token).payload.cnf).toEqual({ jkt: client.jkt })
    }
    const payload = await auth.authenticate(await me(client, pair.accessToken))
    expect(payload?.jkt).toBe(client.jkt)
  })

  it('a login without a proof gets an unbound bearer pair where DPoP is optional', async () => {
    const auth = instance()
    const jkt = await auth.dpopThumbprint(new Request(`${ORIGIN}/login`, { method: 'POST' }))
    expect(jkt).toBeUndefined()
    const pair = await auth.createTokenPair({ uid: 'u1', jkt })
    expect(pair.tokenType).toBe('bearer')
    expect(auth.decodeUnverified(pair.accessToken).payload.cnf).toBeUndefined()
  })

  it('refuses jkt on an instance without dpop, which could never check the binding', async () => {
    const auth = new AuthX({ secretKey: SECRET })
    const { jkt } = await dpopClient()
    await expect(auth.createTokenPair({ uid: 'u1', jkt })).rejects.toThrow(TypeError)
    await expect(auth.createAccessToken({ uid: 'u1', jkt })).rejects.toThrow(TypeError)
    await expect(auth.dpopThumbprint(new Request(`${ORIGIN}/login`))).rejects.toMatchObject({
      code: 'ERR_CONFIG',
    })
  })

  it('refuses an unbound token on an instance where DPoP is required', async () => {
    const auth = instance({ dpop: { required: true } })
    await expect(auth.createTokenPair({ uid: 'u1' })).rejects.toThrow(TypeError)
    await expect(auth.createRefreshToken({ uid: 'u1' })).rejects.toThrow(TypeError)
    const err = await failure(auth.dpopThumbprint(new Request(`${ORIGIN}/login`, { method: 'POST' })))
    expect(err).toMatchObject({ code: 'ERR_INVALID_DPOP_PROOF', status: 401, reason: 'missing' })
  })

  it('refuses a jkt that is not a SHA-256 thumbprint, and cnf in data', async () => {
    const auth = instance()
    await expect(auth.createAccessToken({ uid: 'u1', jkt: 'short' })).rejects.toThrow(TypeError)
    await expect(auth.createAccessToken({ uid: 'u1', data: { cnf: { jkt: 'x' } } })).rejects.toThrow(
      TypeError,
    )
  })
})

describe('security: bound tokens without a proof', () => {
  it('verifyToken refuses a bound token (no request, no proof)', async () => {
    const auth = instance()
    const pair = await boundPair(auth, await dpopClient())
    const err = await failure(auth.verifyToken(pair.accessToken))
    expect(err).toMatchObject({ code: 'ERR_INVALID_TOKEN', reason: 'binding', status: 401 })
    await expect(auth.refresh(pair.refreshToken)).rejects.toMatchObject({ reason: 'binding' })
  })

  it('an instance without dpop refuses a bound token it can verify (same key)', async () => {
    const auth = instance()
    const client = await dpopClient()
    const pair = await boundPair(auth, client)
    const plain = new AuthX({ secretKey: SECRET })
    const err = await failure(plain.authenticate(await me(client, pair.accessToken, { scheme: 'Bearer' })))
    expect(err).toMatchObject({ code: 'ERR_INVALID_TOKEN', reason: 'binding' })
  })

  it('a bound token sent as Bearer is refused, with both challenges', async () => {
    const auth = instance()
    const client = await dpopClient()
    const pair = await boundPair(auth, client)
    const err = await failure(auth.authenticate(await me(client, pair.accessToken, { scheme: 'Bearer' })))
    expect(err).toMatchObject({ code: 'ERR_INVALID_TOKEN', reason: 'binding' })
    expect(err.wwwAuthenticate).toMatch(/^Bearer error="invalid_token", DPoP error="invalid_token", algs="/)
  })

  it('a malformed cnf claim is refused', async () => {
    const auth = instance()
    const token = await new AuthX({ secretKey: SECRET }).createAccessToken({ uid: 'u1' })
    const [h, p, _s] = token.split('.')
    const claims = JSON.parse(Buffer.from(p as string, 'base64url').toString())
    const forged = `${h}.${Buffer.from(JSON.stringify({ ...claims, cnf: 'x' })).toString('base64url')}.x`
    await expect(auth.decodeToken(forged)).rejects.toMatchObject({ code: 'ERR_INVALID_TOKEN' })
  })
})

describe('the binding is kept', () => {
  it('refreshFromRequest with a proof of the same key rotates into a pair bound to the same key', async () => {
    const auth = instance({ tokenLocation: ['headers', 'json'] })
    const client = await dpopClient()
    const pair = await boundPair(auth, client)
    const refresh = async (who: DPoPClient) =>
      new Request(`${ORIGIN}/refresh`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          dpop: await who.proof({ htm: 'POST', htu: `${ORIGIN}/refresh` }),
        },
        body: JSON.stringify({ refresh_token: pair.refreshToken }),
      })
    const thief = await dpopClient()
    const stolen = await failure(auth.refreshFromRequest(await refresh(thief)))
    expect(stolen).toMatchObject({ code: 'ERR_INVALID_DPOP_PROOF', reason: 'key' })
    const answer = await auth.refreshFromRequest(await refresh(client))
    const body = answer.body as Record<string, string>
    expect(body.token_type).toBe('DPoP')
    expect(auth.decodeUnverified(body.access_token as string).payload.cnf).toEqual({ jkt: client.jkt })
    expect(auth.decodeUnverified(body.refresh_token as string).payload.cnf).toEqual({ jkt: client.jkt })
  })

  it('implicit refresh renews a bound access cookie still bound', async () => {
    let now = 1_700_000_000_000
    const auth = instance({
      clock: () => now,
      tokenLocation: ['cookies'],
      implicitRefresh: { enabled: true, within: '10m' },
      accessTokenExpires: '15m',
    })
    const client = await dpopClient('ES256', () => now)
    const pair = await boundPair(auth, client)
    now += 6 * 60_000
    const cookies = await auth.implicitRefreshCookies(
      new Request(`${ORIGIN}/me`, { headers: { cookie: `access_token_cookie=${pair.accessToken}` } }),
    )
    const renewed = cookies
      .find((c) => c.startsWith('access_token_cookie='))
      ?.split(';')[0]
      ?.split('=')[1]
    expect(renewed).toBeDefined()
    expect(auth.decodeUnverified(renewed as string).payload.cnf).toEqual({ jkt: client.jkt })
  })
})

describe('challenges of a DPoP instance', () => {
  it('a missing token is answered with Bearer and DPoP challenges (DPoP alone where required)', async () => {
    const optional = await failure(instance().authenticate(new Request(`${ORIGIN}/me`)))
    expect(optional).toMatchObject({ code: 'ERR_MISSING_TOKEN' })
    expect(optional.wwwAuthenticate).toMatch(/^Bearer, DPoP algs="ES256 /)
    const required = await failure(
      instance({ dpop: { required: true } }).authenticate(new Request(`${ORIGIN}/me`)),
    )
    expect(required.wwwAuthenticate).toMatch(/^DPoP algs="/)
  })

  it('an insufficient scope carries the scope on the DPoP challenge too', async () => {
    const auth = instance()
    const client = await dpopClient()
    const pair = await boundPair(auth, client)
    const err = await failure(auth.authenticate(await me(client, pair.accessToken), { scopes: ['admin'] }))
    expect(err).toMatchObject({ code: 'ERR_INSUFFICIENT_SCOPE', status: 403 })
    expect(err.wwwAuthenticate).toMatch(/DPoP error="insufficient_scope", scope="admin"/)
  })

  it('an instance without dpop keeps the plain Bearer challenge', async () => {
    const err = await failure(new AuthX({ secretKey: SECRET }).authenticate(new Request(`${ORIGIN}/me`)))
    expect(err.wwwAuthenticate).toBe('Bearer')
  })
})
