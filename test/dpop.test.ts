/**
 * The DPoP module (RFC 9449) against proofs of a real jose client: options, every check of
 * section 4.3, the replay check on the store, nonces, the binding rules and the challenges.
 */

import * as nodeCrypto from 'node:crypto'
import {
  createHmac,
  createPrivateKey,
  generateKeyPairSync,
  type JsonWebKey as NodeJwk,
  sign,
} from 'node:crypto'
import fc from 'fast-check'
import { beforeEach, describe, expect, it, vi } from 'vitest'
import { DPoP, type DPoPOptions, dpopChallenge, resolveDpop } from '../src/core/dpop/index.js'
import {
  type AuthXError,
  ConfigError,
  DPoPNonceError,
  DPoPProofError,
  InsufficientScopeError,
  InvalidTokenError,
  MissingTokenError,
  StoreUnavailableError,
} from '../src/core/errors.js'
import { TokenPayload } from '../src/core/payload.js'
import type { AuthXRequest } from '../src/core/request.js'
import type { AuthXStore } from '../src/core/store.js'
import { MemoryStore } from '../src/stores/memory.js'
import { type DPoPClient, type DPoPClientAlg, dpopClient } from './support/dpop-client.js'

const START = 1_700_000_000_000
let now = START
const clock = () => now
let store: MemoryStore

beforeEach(() => {
  now = START
  store = new MemoryStore({ clock })
})

const URL_ME = 'https://api.example.com/me'
const SECRET = 'a nonce secret of at least thirty-two bytes'
const ACCESS = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1c2VyIn0.access-token-signature'
const REFRESH = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1c2VyIn0.refresh-token-signature'

/**
 * node:crypto verifies proofs as AuthX passes it on Node; the jose variant of the suite
 * (scripts/ci/variants.sh, AUTHX_TEST_ENGINE=jose) runs every test here on jose, as off Node.
 */
const CRYPTO = process.env.AUTHX_TEST_ENGINE === 'jose' ? undefined : nodeCrypto

function dpop(options: DPoPOptions = {}, context: Partial<ConstructorParameters<typeof DPoP>[1]> = {}): DPoP {
  return new DPoP(resolveDpop(options)!, { store, clock, timeoutMs: 1000, crypto: CRYPTO, ...context })
}

/** A request view as an adapter builds one. */
function request(
  method: string,
  url: string | undefined,
  headers: Record<string, string> = {},
): AuthXRequest {
  const lower = new Map(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v]))
  return {
    method,
    url,
    path: url === undefined ? '/me' : new URL(url).pathname,
    header: (name) => lower.get(name.toLowerCase()),
    cookie: () => undefined,
    query: () => undefined,
    json: async () => undefined,
    form: async () => undefined,
  }
}

function payload(type: 'access' | 'refresh', jkt?: string): TokenPayload {
  return new TokenPayload(
    { sub: 'user', jti: 'token-id', iat: START / 1000, type, ...(jkt === undefined ? {} : { cnf: { jkt } }) },
    clock,
  )
}

const clients = new Map<DPoPClientAlg, Promise<DPoPClient>>()
/** One client per algorithm for the whole file (key generation is the slow part). */
function client(alg: DPoPClientAlg = 'ES256'): Promise<DPoPClient> {
  let made = clients.get(alg)
  if (made === undefined) {
    made = dpopClient(alg, clock)
    clients.set(alg, made)
  }
  return made
}

/** The error a call throws or rejects with. */
async function failure(call: () => unknown): Promise<AuthXError> {
  try {
    await call()
  } catch (err) {
    return err as AuthXError
  }
  throw new Error('expected a failure')
}

async function proofReason(call: () => unknown): Promise<string> {
  const err = await failure(call)
  expect(err).toBeInstanceOf(DPoPProofError)
  expect(err.code).toBe('ERR_INVALID_DPOP_PROOF')
  expect(err.status).toBe(401)
  return (err as DPoPProofError).reason
}

/** Checks an access token bound to `c` sent as `DPoP` with `proof` to GET `url`. */
function checkAccess(instance: DPoP, c: DPoPClient, proof: string | undefined, url = URL_ME, method = 'GET') {
  const headers: Record<string, string> = proof === undefined ? {} : { dpop: proof }
  return instance.check(request(method, url, headers), ACCESS, payload('access', c.jkt), 'dpop')
}

const b64json = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url')

/** A proof built by hand: for what jose refuses to sign (alg none, HS256, small RSA keys). */
function forge(
  header: Record<string, unknown>,
  claims: Record<string, unknown>,
  signer: (input: string) => Buffer = () => Buffer.from('signature'),
): string {
  const input = `${b64json(header)}.${b64json(claims)}`
  return `${input}.${signer(input).toString('base64url')}`
}

function claimsNow(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { jti: crypto.randomUUID(), htm: 'GET', htu: URL_ME, iat: now / 1000, ...extra }
}

describe('resolveDpop', () => {
  it('is off for undefined and false', () => {
    expect(resolveDpop(undefined)).toBeUndefined()
    expect(resolveDpop(false)).toBeUndefined()
  })

  it('fills in the defaults', () => {
    expect(resolveDpop({})).toEqual({
      required: false,
      algorithms: ['ES256', 'ES384', 'EdDSA', 'PS256', 'RS256'],
      maxAge: 60,
      leeway: 5,
      origin: undefined,
      nonce: undefined,
    })
  })

  it('reads every option, durations and the origin in normal form', () => {
    const resolved = resolveDpop({
      required: true,
      algorithms: ['ES256', 'ES256', 'RS512'],
      maxAge: '2m',
      leeway: 0,
      origin: 'HTTPS://API.Example.com:443/',
      nonce: { secret: SECRET, lifetime: '10m' },
    })!
    expect(resolved).toMatchObject({ required: true, algorithms: ['ES256', 'RS512'], maxAge: 120, leeway: 0 })
    expect(resolved.origin).toBe('https://api.example.com')
    expect(resolved.nonce?.lifetime).toBe(600)
    expect(resolved.nonce?.secret).toEqual(new TextEncoder().encode(SECRET))
  })

  it.each([
    ['a non-object', true],
    ['an array', []],
    ['an unknown option', { require: true }],
    ['a non-boolean required', { required: 'yes' }],
    ['HS256', { algorithms: ['HS256'] }],
    ['none', { algorithms: ['none'] }],
    ['an unknown algorithm', { algorithms: ['ES256K'] }],
    ['an empty algorithm list', { algorithms: [] }],
    ['a maxAge that is no Duration', { maxAge: '1.5m' }],
    ['a maxAge over an hour', { maxAge: '2h' }],
    ['a negative leeway', { leeway: -1 }],
    ['a leeway over a minute', { leeway: 61 }],
    ['an origin with a path', { origin: 'https://api.example.com/v1' }],
    ['an origin with a query', { origin: 'https://api.example.com/?a=1' }],
    ['an origin of another scheme', { origin: 'ftp://api.example.com' }],
    ['an origin with userinfo', { origin: 'https://user@api.example.com' }],
    ['a relative origin', { origin: '/api' }],
    ['a short nonce secret', { nonce: { secret: 'too short' } }],
    ['a short binary nonce secret', { nonce: { secret: new Uint8Array(31) } }],
    ['a nonce without a secret', { nonce: {} }],
    ['an unknown nonce option', { nonce: { secret: SECRET, ttl: 60 } }],
    ['a nonce lifetime over a day', { nonce: { secret: SECRET, lifetime: '2d' } }],
  ])('refuses %s with ConfigError', (_name, value) => {
    const err = (() => {
      try {
        resolveDpop(value)
      } catch (e) {
        return e as AuthXError
      }
      return undefined
    })()
    expect(err).toBeInstanceOf(ConfigError)
    expect(err?.code).toBe('ERR_CONFIG')
  })

  it('accepts a binary nonce secret of 32 bytes and copies it', () => {
    const secret = new Uint8Array(32).fill(7)
    const resolved = resolveDpop({ nonce: { secret } })!
    secret.fill(0)
    expect(resolved.nonce?.secret).toEqual(new Uint8Array(32).fill(7))
  })
})

describe('DPoP construction', () => {
  it('refuses a store without an atomic hit with ConfigError', () => {
    const noHit: AuthXStore = {
      get: (keys) => store.get(keys),
      set: (k, v, t) => store.set(k, v, t),
      setIfAbsent: (k, v, t) => store.setIfAbsent(k, v, t),
      delete: (k) => store.delete(k),
    }
    expect(() => dpop({}, { store: noHit })).toThrow(ConfigError)
  })
})

describe('valid proofs', () => {
  it.each<DPoPClientAlg>(['ES256', 'ES384', 'EdDSA', 'PS256', 'RS256'])(
    'a %s proof at login gives the key thumbprint',
    async (alg) => {
      const c = await client(alg)
      const proof = await c.proof({ htm: 'POST', htu: 'https://api.example.com/login' })
      const jkt = await dpop().thumbprint(request('POST', 'https://api.example.com/login', { dpop: proof }))
      expect(jkt).toBe(c.jkt)
    },
  )

  it('a bound access token with a proof of its key and ath passes', async () => {
    const c = await client()
    const proof = await c.proof({ htm: 'GET', htu: URL_ME, accessToken: ACCESS })
    await expect(checkAccess(dpop(), c, proof)).resolves.toBeUndefined()
  })

  it('a bound refresh token needs no ath (token endpoint proofs carry none)', async () => {
    const c = await client()
    const proof = await c.proof({ htm: 'POST', htu: 'https://api.example.com/refresh' })
    const req = request('POST', 'https://api.example.com/refresh', { dpop: proof })
    await expect(dpop().check(req, REFRESH, payload('refresh', c.jkt), undefined)).resolves.toBeUndefined()
  })

  it('a login ignores an ath in the proof', async () => {
    const c = await client()
    const proof = await c.proof({ htm: 'POST', htu: URL_ME, claims: { ath: 'anything' } })
    expect(await dpop().thumbprint(request('POST', URL_ME, { dpop: proof }))).toBe(c.jkt)
  })

  it('computes ath as RFC 9449 section 7.1 shows', async () => {
    const { accessTokenHash } = await import('../src/core/dpop/index.js')
    expect(await accessTokenHash('Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU')).toBe(
      'fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo',
    )
  })
})

describe('security: replayed proofs', () => {
  it('refuses a proof used a second time, on the same instance', async () => {
    const c = await client()
    const instance = dpop()
    const proof = await c.proof({ htm: 'GET', htu: URL_ME, accessToken: ACCESS })
    await checkAccess(instance, c, proof)
    expect(await proofReason(() => checkAccess(instance, c, proof))).toBe('replay')
  })

  it('refuses a proof used again on another instance sharing the store', async () => {
    const c = await client()
    const proof = await c.proof({ htm: 'POST', htu: URL_ME })
    const req = request('POST', URL_ME, { dpop: proof })
    await dpop().thumbprint(req)
    expect(await proofReason(() => dpop().thumbprint(req))).toBe('replay')
  })

  it('still refuses the replay at the end of the proof acceptance window', async () => {
    const c = await client()
    const instance = dpop({ maxAge: 60, leeway: 5 })
    // iat 5 s ahead: accepted from now until iat + maxAge, 65 s later.
    const proof = await c.proof({ htm: 'GET', htu: URL_ME, accessToken: ACCESS, iat: now / 1000 + 5 })
    await checkAccess(instance, c, proof)
    now += 65_000
    expect(await proofReason(() => checkAccess(instance, c, proof))).toBe('replay')
  })

  it('records the jti per key: two clients may pick the same jti', async () => {
    const [a, b] = [await client('ES256'), await client('EdDSA')]
    const instance = dpop()
    await checkAccess(
      instance,
      a,
      await a.proof({ htm: 'GET', htu: URL_ME, accessToken: ACCESS, jti: 'same' }),
    )
    await checkAccess(
      instance,
      b,
      await b.proof({ htm: 'GET', htu: URL_ME, accessToken: ACCESS, jti: 'same' }),
    )
  })

  it('writes nothing for a refused proof (a wrong ath does not burn the jti)', async () => {
    const c = await client()
    const instance = dpop()
    const jti = crypto.randomUUID()
    const bad = await c.proof({ htm: 'GET', htu: URL_ME, accessToken: 'another token', jti })
    expect(await proofReason(() => checkAccess(instance, c, bad))).toBe('ath')
    const good = await c.proof({ htm: 'GET', htu: URL_ME, accessToken: ACCESS, jti })
    await expect(checkAccess(instance, c, good)).resolves.toBeUndefined()
  })

  it('asks the store for one hit in a window covering maxAge and twice the leeway', async () => {
    const c = await client()
    const hit = vi.spyOn(store, 'hit')
    await checkAccess(
      dpop({ maxAge: 30, leeway: 4 }),
      c,
      await c.proof({ htm: 'GET', htu: URL_ME, accessToken: ACCESS }),
    )
    expect(hit).toHaveBeenCalledTimes(1)
    expect(hit.mock.calls[0]![0]).toMatch(/^dpop:[0-9a-f]{64}$/)
    expect(hit.mock.calls[0]!.slice(1)).toEqual([38, 1])
  })
})

describe('security: replay store failures fail closed', () => {
  async function withStore(partial: Partial<AuthXStore>, timeoutMs = 1000) {
    const c = await client()
    const broken: AuthXStore = {
      get: (keys) => store.get(keys),
      set: (k, v, t) => store.set(k, v, t),
      setIfAbsent: (k, v, t) => store.setIfAbsent(k, v, t),
      delete: (k) => store.delete(k),
      ...partial,
    }
    const proof = await c.proof({ htm: 'GET', htu: URL_ME, accessToken: ACCESS })
    return failure(() => checkAccess(dpop({}, { store: broken, timeoutMs }), c, proof))
  }

  it('a store whose hit rejects gives StoreUnavailableError (503)', async () => {
    const err = await withStore({ hit: () => Promise.reject(new Error('down')) })
    expect(err).toBeInstanceOf(StoreUnavailableError)
    expect(err.status).toBe(503)
  })

  it('a store whose hit never answers gives StoreUnavailableError after timeoutMs', async () => {
    const err = await withStore({ hit: () => new Promise(() => {}) }, 20)
    expect(err.code).toBe('ERR_STORE_UNAVAILABLE')
  })

  it('a store whose hit answers nonsense gives StoreUnavailableError', async () => {
    const err = await withStore({ hit: async () => ({ count: 1, resetAt: 0 }) as never })
    expect(err.code).toBe('ERR_STORE_UNAVAILABLE')
  })
})

describe('security: proof age', () => {
  it.each([
    ['61 s old', -61, 'iat'],
    ['6 s in the future', 6, 'iat'],
  ])('refuses a proof %s', async (_name, offset, reason) => {
    const c = await client()
    const proof = await c.proof({ htm: 'GET', htu: URL_ME, accessToken: ACCESS, iat: now / 1000 + offset })
    expect(await proofReason(() => checkAccess(dpop(), c, proof))).toBe(reason)
  })

  it.each([
    ['exactly maxAge old', -60],
    ['exactly leeway ahead', 5],
  ])('accepts a proof %s', async (_name, offset) => {
    const c = await client()
    const proof = await c.proof({ htm: 'GET', htu: URL_ME, accessToken: ACCESS, iat: now / 1000 + offset })
    await expect(checkAccess(dpop(), c, proof)).resolves.toBeUndefined()
  })

  it('follows maxAge and leeway', async () => {
    const c = await client()
    const old = await c.proof({ htm: 'GET', htu: URL_ME, accessToken: ACCESS, iat: now / 1000 - 100 })
    await expect(checkAccess(dpop({ maxAge: '2m' }), c, old)).resolves.toBeUndefined()
    const ahead = await c.proof({ htm: 'GET', htu: URL_ME, accessToken: ACCESS, iat: now / 1000 + 1 })
    expect(await proofReason(() => checkAccess(dpop({ leeway: 0 }), c, ahead))).toBe('iat')
  })

  it.each([
    ['missing', undefined],
    ['a string', String(START / 1000)],
    ['not finite', null],
  ])('refuses an iat that is %s', async (_name, iat) => {
    const c = await client()
    const proof = await c.proof({ htm: 'GET', htu: URL_ME, accessToken: ACCESS, claims: { iat } })
    expect(await proofReason(() => checkAccess(dpop(), c, proof))).toBe('iat')
  })
})

describe('security: method and URL', () => {
  it.each([
    ['another method', 'POST'],
    ['the method in another case', 'get'],
  ])('refuses a proof for %s', async (_name, htm) => {
    const c = await client()
    const proof = await c.proof({ htm, htu: URL_ME, accessToken: ACCESS })
    expect(await proofReason(() => checkAccess(dpop(), c, proof))).toBe('htm')
  })

  it.each([
    ['another path', 'https://api.example.com/admin'],
    ['another host', 'https://evil.example.com/me'],
    ['another scheme', 'http://api.example.com/me'],
    ['another port', 'https://api.example.com:8443/me'],
    ['a trailing slash', 'https://api.example.com/me/'],
    ['an encoded slash', 'https://api.example.com/a%2Fb'],
    ['userinfo', 'https://user@api.example.com/me'],
    ['another scheme than http', 'wss://api.example.com/me'],
    ['a newline the URL parser would drop', 'https://api.example.com/m\ne'],
    ['a backslash the URL parser would turn into a slash', 'https://api.example.com\\me'],
    ['not a URL', 'me'],
  ])('refuses a proof for %s', async (_name, htu) => {
    const c = await client()
    const url = htu.includes('%2F') ? 'https://api.example.com/a/b' : URL_ME
    const proof = await c.proof({ htm: 'GET', htu, accessToken: ACCESS })
    expect(await proofReason(() => checkAccess(dpop(), c, proof, url))).toBe('htu')
  })

  it.each([
    ['a query and fragment in htu', 'https://api.example.com/me?a=1#top', URL_ME],
    ['a query in the request', URL_ME, 'https://api.example.com/me?a=1'],
    ['scheme and host case', 'HTTPS://API.Example.COM/me', URL_ME],
    ['the default https port', 'https://api.example.com:443/me', URL_ME],
    ['the default http port', 'http://api.example.com/me', 'http://api.example.com:80/me'],
    ['dot segments', 'https://api.example.com/a/./b/../../me', URL_ME],
    ['encoded dot segments', 'https://api.example.com/a/%2e%2E/me', URL_ME],
    ['an encoded unreserved character', 'https://api.example.com/%6De', URL_ME],
    ['an encoded tilde', 'https://api.example.com/~me', 'https://api.example.com/%7Eme'],
    ['percent-encoding case', 'https://api.example.com/a%2fb', 'https://api.example.com/a%2Fb'],
    ['an empty path', 'https://api.example.com', 'https://api.example.com/'],
  ])('accepts %s', async (_name, htu, url) => {
    const c = await client()
    const proof = await c.proof({ htm: 'GET', htu, accessToken: ACCESS })
    await expect(checkAccess(dpop(), c, proof, url)).resolves.toBeUndefined()
  })

  it('with origin, compares htu with the public origin and the request path', async () => {
    const c = await client()
    const instance = dpop({ origin: 'https://api.example.com' })
    const inside = 'http://10.0.0.5:3000/me?x=1'
    await expect(
      checkAccess(instance, c, await c.proof({ htm: 'GET', htu: URL_ME, accessToken: ACCESS }), inside),
    ).resolves.toBeUndefined()
    const internal = await c.proof({ htm: 'GET', htu: 'http://10.0.0.5:3000/me', accessToken: ACCESS })
    expect(await proofReason(() => checkAccess(instance, c, internal, inside))).toBe('htu')
    // Without the option, the server's own view of its URL is the one compared.
    const plain = await c.proof({ htm: 'GET', htu: URL_ME, accessToken: ACCESS })
    expect(await proofReason(() => checkAccess(dpop(), c, plain, inside))).toBe('htu')
  })

  it('without a request URL, refuses the proof, or uses origin and path when an origin is set', async () => {
    const c = await client()
    const proof = () => c.proof({ htm: 'GET', htu: URL_ME, accessToken: ACCESS })
    // An htu that is no URL must not match an unknown request URL.
    const junk = await c.proof({ htm: 'GET', htu: 'not a URL', accessToken: ACCESS })
    expect(
      await proofReason(() =>
        dpop().check(request('GET', undefined, { dpop: junk }), ACCESS, payload('access', c.jkt), 'dpop'),
      ),
    ).toBe('htu')
    const req = async () => request('GET', undefined, { dpop: await proof() })
    const instance = dpop({ origin: 'https://api.example.com' })
    await expect(
      instance.check(await req(), ACCESS, payload('access', c.jkt), 'dpop'),
    ).resolves.toBeUndefined()
    expect(
      await proofReason(async () => dpop().check(await req(), ACCESS, payload('access', c.jkt), 'dpop')),
    ).toBe('htu')
  })
})

describe('security: key and access token', () => {
  it('refuses a proof made with another key than the token is bound to', async () => {
    const [owner, thief] = [await client('ES256'), await client('EdDSA')]
    const proof = await thief.proof({ htm: 'GET', htu: URL_ME, accessToken: ACCESS })
    expect(await proofReason(() => checkAccess(dpop(), owner, proof))).toBe('key')
  })

  it('refuses a proof for another access token (wrong ath)', async () => {
    const c = await client()
    const proof = await c.proof({ htm: 'GET', htu: URL_ME, accessToken: `${ACCESS}x` })
    expect(await proofReason(() => checkAccess(dpop(), c, proof))).toBe('ath')
  })

  it('refuses a proof without ath for an access token', async () => {
    const c = await client()
    const proof = await c.proof({ htm: 'GET', htu: URL_ME })
    expect(await proofReason(() => checkAccess(dpop(), c, proof))).toBe('ath')
  })
  // An HttpOnly cookie's token is out of the page's reach, so its proof cannot carry ath.
  it('accepts a proof without ath for an access token that came in a cookie', async () => {
    const c = await client()
    const proof = await c.proof({ htm: 'GET', htu: URL_ME })
    const req = request('GET', URL_ME, { dpop: proof })
    await expect(
      dpop().check(req, ACCESS, payload('access', c.jkt), undefined, 'cookies'),
    ).resolves.toBeUndefined()
  })

  it('still checks an ath present in the proof of a cookie token', async () => {
    const c = await client()
    const proof = await c.proof({ htm: 'GET', htu: URL_ME, accessToken: `${ACCESS}x` })
    const req = request('GET', URL_ME, { dpop: proof })
    const check = () => dpop().check(req, ACCESS, payload('access', c.jkt), undefined, 'cookies')
    expect(await proofReason(check)).toBe('ath')
  })

  it('requires ath for an access token from the query string or a JSON body, which the client holds', async () => {
    const c = await client()
    for (const location of ['query', 'json', 'headers']) {
      const proof = await c.proof({ htm: 'GET', htu: URL_ME })
      const req = request('GET', URL_ME, { dpop: proof })
      const check = () => dpop().check(req, ACCESS, payload('access', c.jkt), undefined, location)
      expect(await proofReason(check)).toBe('ath')
    }
  })
})

describe('security: proof header and key', () => {
  it('refuses a proof that carries its private key', async () => {
    for (const alg of ['ES256', 'RS256'] as const) {
      const c = await client(alg)
      const proof = await c.proof({
        htm: 'GET',
        htu: URL_ME,
        accessToken: ACCESS,
        header: { jwk: c.privateJwk },
      })
      expect(await proofReason(() => checkAccess(dpop(), c, proof))).toBe('jwk')
    }
  })

  it.each(['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'])(
    'refuses a jwk with a private member %s',
    async (member) => {
      const c = await client()
      const jwk = { ...c.jwk, [member]: 'AQAB' }
      const proof = await c.proof({ htm: 'GET', htu: URL_ME, accessToken: ACCESS, header: { jwk } })
      expect(await proofReason(() => checkAccess(dpop(), c, proof))).toBe('jwk')
    },
  )

  it('refuses a proof without a jwk, or with a jwk of another type, curve, alg or use', async () => {
    const c = await client('ES256')
    const rsa = await client('RS256')
    const p384 = await client('ES384')
    for (const jwk of [
      undefined,
      'a string',
      rsa.jwk,
      p384.jwk,
      { ...c.jwk, alg: 'ES384' },
      { ...c.jwk, use: 'enc' },
      { ...c.jwk, x: undefined },
      { ...c.jwk, x: 'not base64url!' },
    ]) {
      const proof = await c.proof({ htm: 'GET', htu: URL_ME, accessToken: ACCESS, header: { jwk } })
      expect(await proofReason(() => checkAccess(dpop(), c, proof))).toBe('jwk')
    }
  })

  it('refuses a jwk of the wrong type, curve or encoding itself, before any key import', async () => {
    const es256 = await client('ES256')
    const ed448 = generateKeyPairSync('ed448').publicKey.export({ format: 'jwk' })
    for (const [alg, jwk] of [
      ['ES256', (await client('RS256')).jwk],
      ['ES256', (await client('ES384')).jwk],
      ['ES256', { ...es256.jwk, x: 'not base64url!' }],
      ['EdDSA', ed448],
      ['EdDSA', es256.jwk],
      ['RS256', { ...(await client('RS256')).jwk, n: 'not base64url!' }],
    ] as const) {
      const proof = forge({ typ: 'dpop+jwt', alg, jwk }, claimsNow())
      const err = await failure(() => dpop().thumbprint(request('GET', URL_ME, { dpop: proof })))
      expect((err as DPoPProofError).reason).toBe('jwk')
      // No cause: refused by the module's own checks, not by the key import that follows.
      expect(err.cause).toBeUndefined()
    }
  })

  it('refuses an iat that JSON makes infinite', async () => {
    const c = await client('ES256')
    const key = createPrivateKey({ key: c.privateJwk as NodeJwk, format: 'jwk' })
    const header = b64json({ typ: 'dpop+jwt', alg: 'ES256', jwk: c.jwk })
    for (const iat of ['1e400', '-1e400']) {
      const claims = `{"jti":"${crypto.randomUUID()}","htm":"GET","htu":"${URL_ME}","iat":${iat}}`
      const input = `${header}.${Buffer.from(claims).toString('base64url')}`
      const signature = sign('sha256', Buffer.from(input), { key, dsaEncoding: 'ieee-p1363' })
      const proof = `${input}.${signature.toString('base64url')}`
      expect(await proofReason(() => dpop().thumbprint(request('GET', URL_ME, { dpop: proof })))).toBe('iat')
    }
  })

  it('refuses an EC jwk whose point is not on the curve', async () => {
    const c = await client('ES256')
    const jwk = { ...c.jwk, y: c.jwk.x }
    const proof = await c.proof({ htm: 'GET', htu: URL_ME, accessToken: ACCESS, header: { jwk } })
    expect(await proofReason(() => checkAccess(dpop(), c, proof))).toBe('jwk')
  })

  it('refuses an RSA key under 2048 bits', async () => {
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 1024 })
    const jwk = publicKey.export({ format: 'jwk' })
    const proof = forge({ typ: 'dpop+jwt', alg: 'RS256', jwk }, claimsNow(), (input) =>
      sign('sha256', Buffer.from(input), privateKey),
    )
    expect(await proofReason(() => dpop().thumbprint(request('GET', URL_ME, { dpop: proof })))).toBe('jwk')
  })

  it.each([
    ['none', { alg: 'none' }],
    ['HS256', { alg: 'HS256' }],
    ['no alg', { alg: undefined }],
  ])('refuses alg %s', async (_name, header) => {
    const c = await client()
    const proof = forge({ typ: 'dpop+jwt', jwk: c.jwk, ...header }, claimsNow(), (input) =>
      header.alg === 'none' ? Buffer.from('any') : createHmac('sha256', 'secret').update(input).digest(),
    )
    expect(await proofReason(() => dpop().thumbprint(request('GET', URL_ME, { dpop: proof })))).toBe(
      'algorithm',
    )
  })

  it('refuses an HS256 proof keyed with the jwk it carries (the oct key never gets a look)', async () => {
    const jwk = { kty: 'oct', k: Buffer.from('secret').toString('base64url') }
    const proof = forge({ typ: 'dpop+jwt', alg: 'HS256', jwk }, claimsNow(), (input) =>
      createHmac('sha256', 'secret').update(input).digest(),
    )
    expect(await proofReason(() => dpop().thumbprint(request('GET', URL_ME, { dpop: proof })))).toBe(
      'algorithm',
    )
  })

  it('refuses an asymmetric alg left out of the allow-list', async () => {
    const es512 = await client('ES512')
    const proof = await es512.proof({ htm: 'GET', htu: URL_ME })
    expect(await proofReason(() => dpop().thumbprint(request('GET', URL_ME, { dpop: proof })))).toBe(
      'algorithm',
    )
    const rs = await client('RS256')
    const rsProof = await rs.proof({ htm: 'GET', htu: URL_ME })
    expect(
      await proofReason(() =>
        dpop({ algorithms: ['ES256'] }).thumbprint(request('GET', URL_ME, { dpop: rsProof })),
      ),
    ).toBe('algorithm')
    const opted = await es512.proof({ htm: 'GET', htu: URL_ME })
    expect(await dpop({ algorithms: ['ES512'] }).thumbprint(request('GET', URL_ME, { dpop: opted }))).toBe(
      es512.jkt,
    )
  })

  it.each([
    ['JWT', 'JWT'],
    ['missing', undefined],
    ['in another case', 'DPoP+JWT'],
    ['the media type form', 'application/dpop+jwt'],
  ])('refuses typ %s', async (_name, typ) => {
    const c = await client()
    const proof = await c.proof({ htm: 'GET', htu: URL_ME, accessToken: ACCESS, header: { typ } })
    expect(await proofReason(() => checkAccess(dpop(), c, proof))).toBe('typ')
  })

  it('refuses a proof with crit (an extension such as b64 would change what is signed)', async () => {
    const c = await client()
    const proof = forge({ typ: 'dpop+jwt', alg: 'ES256', jwk: c.jwk, crit: ['b64'], b64: false }, claimsNow())
    expect(await proofReason(() => dpop().thumbprint(request('GET', URL_ME, { dpop: proof })))).toBe(
      'malformed',
    )
  })

  it('refuses a proof signed with another key than its jwk', async () => {
    const [c, other] = [await client('ES256'), await dpopClient('ES256')]
    const proof = await other.proof({ htm: 'GET', htu: URL_ME, accessToken: ACCESS, header: { jwk: c.jwk } })
    expect(await proofReason(() => checkAccess(dpop(), c, proof))).toBe('signature')
  })

  it('refuses a proof whose claims were changed after signing', async () => {
    const c = await client()
    const proof = await c.proof({ htm: 'GET', htu: 'https://api.example.com/other', accessToken: ACCESS })
    const [header, , signature] = proof.split('.')
    const claims = JSON.parse(Buffer.from(proof.split('.')[1]!, 'base64url').toString())
    const changed = `${header}.${b64json({ ...claims, htu: URL_ME })}.${signature}`
    expect(await proofReason(() => checkAccess(dpop(), c, changed))).toBe('signature')
  })
})

describe('security: malformed proofs', () => {
  it('refuses values that are not one compact JWS', async () => {
    const c = await client()
    const proof = await c.proof({ htm: 'GET', htu: URL_ME, accessToken: ACCESS })
    const [h, p, s] = proof.split('.') as [string, string, string]
    for (const value of [
      '',
      'abc',
      `${h}.${p}`,
      `${h}.${p}.`,
      `${proof}.${s}`,
      `${proof}, ${proof}`,
      `${proof},${proof}`,
      ` ${proof}`,
      `${h}.${p}.${s}=`,
      `${b64json([1])}.${p}.${s}`,
      `${Buffer.from('not json').toString('base64url')}.${p}.${s}`,
      `${h}.${Buffer.from('"a string"').toString('base64url')}.${s}`,
    ]) {
      expect(await proofReason(() => checkAccess(dpop(), c, value))).toBe('malformed')
    }
  })

  it('refuses non-canonical base64url (unused low bits set)', async () => {
    const c = await client()
    const proof = await c.proof({ htm: 'GET', htu: URL_ME, accessToken: ACCESS })
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'
    // An ES256 signature is 64 bytes: 86 characters, the last carrying 4 unused bits.
    const last = proof.at(-1)!
    const twin = alphabet[alphabet.indexOf(last) ^ 1]!
    expect(await proofReason(() => checkAccess(dpop(), c, proof.slice(0, -1) + twin))).toBe('malformed')
  })

  it('refuses a proof over 8 KB before verifying it', async () => {
    const c = await client()
    const proof = await c.proof({
      htm: 'GET',
      htu: URL_ME,
      accessToken: ACCESS,
      claims: { pad: 'x'.repeat(8192) },
    })
    expect(await proofReason(() => checkAccess(dpop(), c, proof))).toBe('malformed')
  })

  it.each([
    ['no jti', { jti: undefined }, 'jti'],
    ['an empty jti', { jti: '' }, 'jti'],
    ['a numeric jti', { jti: 7 }, 'jti'],
    ['a jti over 256 characters', { jti: 'j'.repeat(257) }, 'jti'],
    ['no htm', { htm: undefined }, 'htm'],
    ['no htu', { htu: undefined }, 'htu'],
    ['a numeric htu', { htu: 7 }, 'htu'],
  ])('refuses a proof with %s', async (_name, claims, reason) => {
    const c = await client()
    const proof = await c.proof({ htm: 'GET', htu: URL_ME, accessToken: ACCESS, claims })
    expect(await proofReason(() => checkAccess(dpop(), c, proof))).toBe(reason)
  })

  it('never puts the token or the proof in a message', async () => {
    const c = await client()
    const proof = await c.proof({ htm: 'POST', htu: URL_ME, accessToken: ACCESS })
    const err = await failure(() => checkAccess(dpop(), c, proof))
    expect(JSON.stringify(err.toJSON())).not.toContain(ACCESS)
    expect(JSON.stringify(err.toJSON())).not.toContain(proof.split('.')[2])
  })

  it('a proof changed by one character never passes (property)', async () => {
    const c = await client()
    const instance = dpop()
    const proof = await c.proof({ htm: 'GET', htu: URL_ME, accessToken: ACCESS })
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.,= '
    await fc.assert(
      fc.asyncProperty(
        fc.nat({ max: proof.length - 1 }),
        fc.constantFrom(...alphabet),
        fc.constantFrom('replace', 'insert', 'delete'),
        async (at, char, edit) => {
          const mutated =
            edit === 'replace'
              ? proof.slice(0, at) + char + proof.slice(at + 1)
              : edit === 'insert'
                ? proof.slice(0, at) + char + proof.slice(at)
                : proof.slice(0, at) + proof.slice(at + 1)
          fc.pre(mutated !== proof)
          const err = await failure(() => checkAccess(instance, c, mutated))
          expect(err).toBeInstanceOf(DPoPProofError)
        },
      ),
      { numRuns: 300 },
    )
    // The proof itself was never consumed by a mutant: it still passes once.
    await expect(checkAccess(instance, c, proof)).resolves.toBeUndefined()
  })
})

describe('nonces', () => {
  const NONCE = { secret: SECRET, lifetime: '5m' } as const

  it('asks for a nonce when the proof has none, and accepts the retry with it', async () => {
    const c = await client()
    const instance = dpop({ nonce: NONCE })
    const err = await failure(async () =>
      checkAccess(instance, c, await c.proof({ htm: 'GET', htu: URL_ME, accessToken: ACCESS })),
    )
    expect(err).toBeInstanceOf(DPoPNonceError)
    expect(err.code).toBe('ERR_USE_DPOP_NONCE')
    expect(err.status).toBe(401)
    const nonce = (err as DPoPNonceError).nonce
    expect(nonce).toMatch(/^[A-Za-z0-9_-]{43}$/)
    expect(await instance.currentNonce()).toBe(nonce)
    const retry = await c.proof({ htm: 'GET', htu: URL_ME, accessToken: ACCESS, nonce })
    await expect(checkAccess(instance, c, retry)).resolves.toBeUndefined()
  })

  it('asks for a nonce at login too', async () => {
    const c = await client()
    const err = await failure(async () =>
      dpop({ nonce: NONCE }).thumbprint(
        request('POST', URL_ME, { dpop: await c.proof({ htm: 'POST', htu: URL_ME }) }),
      ),
    )
    expect(err.code).toBe('ERR_USE_DPOP_NONCE')
  })

  it('accepts a nonce of the previous step and refuses an older one with a fresh nonce', async () => {
    const c = await client()
    const instance = dpop({ nonce: NONCE })
    const nonce = (await instance.currentNonce())!
    now += 5 * 60_000
    const fresh = (await instance.currentNonce())!
    expect(fresh).not.toBe(nonce)
    await expect(
      checkAccess(instance, c, await c.proof({ htm: 'GET', htu: URL_ME, accessToken: ACCESS, nonce })),
    ).resolves.toBeUndefined()
    now += 5 * 60_000
    const err = await failure(async () =>
      checkAccess(instance, c, await c.proof({ htm: 'GET', htu: URL_ME, accessToken: ACCESS, nonce })),
    )
    expect(err).toBeInstanceOf(DPoPNonceError)
    expect((err as DPoPNonceError).nonce).toBe(await instance.currentNonce())
    expect((err as DPoPNonceError).nonce).not.toBe(nonce)
  })

  it.each([
    ['made up', 'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA'],
    ['not a string', 42],
  ])('refuses a nonce that is %s', async (_name, nonce) => {
    const c = await client()
    const proof = await c.proof({ htm: 'GET', htu: URL_ME, accessToken: ACCESS, claims: { nonce } })
    expect((await failure(() => checkAccess(dpop({ nonce: NONCE }), c, proof))).code).toBe(
      'ERR_USE_DPOP_NONCE',
    )
  })

  it('two instances with one secret accept each other nonces; another secret or lifetime does not', async () => {
    const c = await client()
    const nonce = (await dpop({ nonce: NONCE }).currentNonce())!
    const other = dpop({ nonce: NONCE }, { store: new MemoryStore({ clock }) })
    await expect(
      checkAccess(other, c, await c.proof({ htm: 'GET', htu: URL_ME, accessToken: ACCESS, nonce })),
    ).resolves.toBeUndefined()
    for (const nonceOptions of [
      { secret: `${SECRET}, but another`, lifetime: '5m' as const },
      { secret: SECRET, lifetime: '6m' as const },
    ]) {
      const proof = await c.proof({ htm: 'GET', htu: URL_ME, accessToken: ACCESS, nonce })
      expect((await failure(() => checkAccess(dpop({ nonce: nonceOptions }), c, proof))).code).toBe(
        'ERR_USE_DPOP_NONCE',
      )
    }
  })

  it('has no nonce when nonces are off, and ignores a nonce claim then', async () => {
    const c = await client()
    expect(await dpop().currentNonce()).toBeUndefined()
    const proof = await c.proof({ htm: 'GET', htu: URL_ME, accessToken: ACCESS, nonce: 'whatever' })
    await expect(checkAccess(dpop(), c, proof)).resolves.toBeUndefined()
  })
})

describe('binding rules', () => {
  async function bindingFailure(call: () => unknown) {
    const err = await failure(call)
    expect(err).toBeInstanceOf(InvalidTokenError)
    expect(err.code).toBe('ERR_INVALID_TOKEN')
    expect(err.status).toBe(401)
    expect((err as InvalidTokenError).reason).toBe('binding')
  }

  it('refuses a bound token sent as Bearer, even with a valid proof', async () => {
    const c = await client()
    const proof = await c.proof({ htm: 'GET', htu: URL_ME, accessToken: ACCESS })
    await bindingFailure(() =>
      dpop().check(request('GET', URL_ME, { dpop: proof }), ACCESS, payload('access', c.jkt), 'bearer'),
    )
  })

  it('refuses a bound token without a proof', async () => {
    const c = await client()
    for (const scheme of ['dpop', undefined] as const) {
      const err = await failure(() =>
        dpop().check(request('GET', URL_ME), ACCESS, payload('access', c.jkt), scheme),
      )
      expect((err as DPoPProofError).reason).toBe('missing')
      expect(err.code).toBe('ERR_INVALID_DPOP_PROOF')
    }
  })

  it('accepts a bound token from elsewhere than the Authorization header with a proof', async () => {
    const c = await client()
    const proof = await c.proof({ htm: 'GET', htu: URL_ME, accessToken: ACCESS })
    await expect(
      dpop().check(request('GET', URL_ME, { dpop: proof }), ACCESS, payload('access', c.jkt), undefined),
    ).resolves.toBeUndefined()
  })

  it('refuses an unbound token sent as DPoP', async () => {
    await bindingFailure(() => dpop().check(request('GET', URL_ME), ACCESS, payload('access'), 'dpop'))
  })

  it('refuses an unbound token wherever it comes from when DPoP is required', async () => {
    for (const scheme of ['bearer', 'dpop', undefined] as const) {
      await bindingFailure(() =>
        dpop({ required: true }).check(request('GET', URL_ME), ACCESS, payload('access'), scheme),
      )
    }
  })

  it('passes an unbound Bearer token at once where DPoP is optional, ignoring a stray DPoP header', () => {
    const req = request('GET', URL_ME, { dpop: 'not a proof' })
    expect(dpop().check(req, ACCESS, payload('access'), 'bearer')).toBeUndefined()
    expect(dpop().check(req, ACCESS, payload('access'), undefined)).toBeUndefined()
  })

  it('at login: no proof gives no binding where optional, and a missing-proof error where required', async () => {
    expect(await dpop().thumbprint(request('POST', URL_ME))).toBeUndefined()
    expect(await proofReason(() => dpop({ required: true }).thumbprint(request('POST', URL_ME)))).toBe(
      'missing',
    )
  })

  it('at login: a bad proof is refused, not ignored', async () => {
    expect(await proofReason(() => dpop().thumbprint(request('POST', URL_ME, { dpop: 'garbage' })))).toBe(
      'malformed',
    )
  })
})

describe('challenges', () => {
  const ALGS = 'algs="ES256 ES384 EdDSA PS256 RS256"'

  function answered(error: AuthXError, options: DPoPOptions = {}) {
    dpop(options).challenge(error)
    return error.wwwAuthenticate
  }

  it('optional DPoP: a Bearer challenge, then the DPoP one', () => {
    expect(answered(new MissingTokenError(['headers']))).toBe(`Bearer, DPoP ${ALGS}`)
    expect(answered(new InvalidTokenError('signature', 'bad'))).toBe(
      `Bearer error="invalid_token", DPoP error="invalid_token", ${ALGS}`,
    )
    expect(answered(new DPoPProofError('htu', 'bad'))).toBe(
      `Bearer, DPoP error="invalid_dpop_proof", ${ALGS}`,
    )
  })

  it('required DPoP: the DPoP challenge alone', () => {
    const options = { required: true }
    expect(answered(new MissingTokenError(['headers']), options)).toBe(`DPoP ${ALGS}`)
    expect(answered(new InvalidTokenError('binding', 'bad'), options)).toBe(
      `DPoP error="invalid_token", ${ALGS}`,
    )
    expect(answered(new DPoPProofError('replay', 'bad'), options)).toBe(
      `DPoP error="invalid_dpop_proof", ${ALGS}`,
    )
  })

  it('names the configured algorithms', () => {
    expect(answered(new MissingTokenError(), { required: true, algorithms: ['ES256', 'EdDSA'] })).toBe(
      'DPoP algs="ES256 EdDSA"',
    )
  })

  it('a nonce error says use_dpop_nonce and carries the DPoP-Nonce header', async () => {
    const { challengeHeaders } = await import('../src/core/errors.js')
    const err = new DPoPNonceError('the-nonce')
    expect(answered(err, { required: true })).toBe(`DPoP error="use_dpop_nonce", ${ALGS}`)
    expect(challengeHeaders(err)).toEqual({ 'dpop-nonce': 'the-nonce' })
    const proofError = new DPoPProofError('iat', 'old')
    answered(proofError)
    expect(challengeHeaders(proofError)).toEqual({})
  })

  it('an insufficient scope names the scopes on both challenges', () => {
    expect(dpopChallenge(resolveDpop({})!, new InsufficientScopeError(['admin', 'a"b'], []))?.www).toBe(
      `Bearer error="insufficient_scope", scope="admin ab", DPoP error="insufficient_scope", scope="admin ab", ${ALGS}`,
    )
  })

  it('leaves errors that are neither 401 nor 403 alone', () => {
    const err = new StoreUnavailableError()
    dpop().challenge(err)
    expect(err.wwwAuthenticate).toBeUndefined()
  })
})
