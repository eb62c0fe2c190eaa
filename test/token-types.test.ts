/**
 * Explicit token types (`tokenTypes`, docs/token-types.md "Explicit token types"; RFC 8725
 * section 3.11, RFC 9068): the `typ` each token type is written with and must carry, on both
 * engines, with real instances; RFC 9068 access tokens of an external issuer made with jose.
 */
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import fc from 'fast-check'
import { exportJWK, generateKeyPair, type JWK, SignJWT } from 'jose'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { typType } from '../src/core/token-types.js'
import { type AuthX, InvalidTokenError, type TokenPayload } from '../src/index.js'
import { ENGINES, onEngine, rejection } from './support/engines.js'
import { segment, signToken } from './support/keys.js'

// See test/algorithms.test.ts: hiding node:crypto makes `new AuthX()` pick the jose engine.
vi.mock('../src/core/runtime.js', async (orig) => {
  const mod = await orig<typeof import('../src/core/runtime.js')>()
  const { engineNow } = await import('./support/variant-setup.js')
  return { ...mod, nodeCrypto: () => (engineNow() === 'jose' ? undefined : mod.nodeCrypto()) }
})

const SECRET = 'token-types-test-secret-of-at-least-32-bytes!'
const ISSUER = 'https://issuer.example'
const AUDIENCE = 'https://api.example'

/** An authx-shaped access or refresh claim set, as any holder of the key could sign it. */
function claimsOf(type: 'access' | 'refresh', extra: Record<string, unknown> = {}): Record<string, unknown> {
  const now = Math.floor(Date.now() / 1000)
  return {
    sub: 'user1',
    jti: crypto.randomUUID(),
    iat: now,
    nbf: now,
    exp: now + 600,
    type,
    fresh: false,
    ...extra,
  }
}

/** A token signed with the shared secret and this header (no `typ` key when `typ` is undefined). */
function hs256(typ: unknown, claims: Record<string, unknown>): string {
  const header: Record<string, unknown> = { alg: 'HS256' }
  if (typ !== undefined) header.typ = typ
  return signToken('HS256', SECRET, header, claims)
}

/** The InvalidTokenError of a refused promise, checked to be the 401 kind. */
async function refusal(promise: Promise<unknown>): Promise<InvalidTokenError> {
  const err = await rejection(promise)
  expect(err).toBeInstanceOf(InvalidTokenError)
  expect(err).toMatchObject({ code: 'ERR_INVALID_TOKEN', status: 401 })
  return err as InvalidTokenError
}

for (const engine of ENGINES) {
  const explicit = (more: Record<string, unknown> = {}) =>
    onEngine(engine, { secretKey: SECRET, tokenTypes: 'explicit', ...more })

  describe(`tokenTypes 'explicit' on the ${engine} engine`, () => {
    it('writes at+jwt on access tokens and refresh+jwt on refresh tokens, and verifies both', async () => {
      const auth = explicit()
      const pair = await auth.createTokenPair({ uid: 'user1' })
      expect(segment(pair.accessToken, 0)).toEqual({ alg: 'HS256', typ: 'at+jwt' })
      expect(segment(pair.refreshToken, 0)).toEqual({ alg: 'HS256', typ: 'refresh+jwt' })
      expect((await auth.verifyToken(pair.accessToken)).sub).toBe('user1')
      expect((await auth.verifyToken(pair.refreshToken, { type: 'refresh' })).type).toBe('refresh')
      const next = await auth.refresh(pair.refreshToken)
      expect(segment(next.accessToken, 0).typ).toBe('at+jwt')
      expect(segment(next.refreshToken, 0).typ).toBe('refresh+jwt')
      expect((await auth.verifyToken(next.accessToken)).sub).toBe('user1')
    })

    it('keeps the typ when extra header fields are given', async () => {
      const auth = explicit()
      const token = await auth.createAccessToken({ uid: 'user1', headers: { cty: 'x' } })
      expect(segment(token, 0)).toEqual({ alg: 'HS256', typ: 'at+jwt', cty: 'x' })
      const refresh = await auth.createRefreshToken({ uid: 'user1', headers: { cty: 'x' } })
      expect(segment(refresh, 0).typ).toBe('refresh+jwt')
    })

    it('refuses a same-key JWT whose typ is JWT, missing or of no token type (reason typ)', async () => {
      const auth = explicit()
      for (const typ of [
        undefined,
        'JWT',
        'jwt',
        'application/jwt',
        'at+jwt ',
        'text/at+jwt',
        'at+JWS',
        7,
        null,
        ['at+jwt'],
      ]) {
        for (const type of ['access', 'refresh'] as const) {
          expect((await refusal(auth.decodeToken(hs256(typ, claimsOf(type))))).reason).toBe('typ')
        }
      }
    })

    it("refuses a token of a default-mode instance with the same key (Python AuthX's typ JWT)", async () => {
      const other = onEngine(engine, { secretKey: SECRET })
      const auth = explicit()
      const pair = await other.createTokenPair({ uid: 'user1' })
      expect((await refusal(auth.verifyToken(pair.accessToken))).reason).toBe('typ')
      expect((await refusal(auth.refresh(pair.refreshToken))).reason).toBe('typ')
    })

    it('refuses a token whose type claim is not the type its typ names (reason typ)', async () => {
      const auth = explicit()
      const accessAsRefresh = hs256('refresh+jwt', claimsOf('access'))
      const refreshAsAccess = hs256('at+jwt', claimsOf('refresh'))
      expect((await refusal(auth.decodeToken(accessAsRefresh))).reason).toBe('typ')
      expect((await refusal(auth.verifyToken(accessAsRefresh, { type: 'refresh' }))).reason).toBe('typ')
      expect((await refusal(auth.refresh(accessAsRefresh))).reason).toBe('typ')
      expect((await refusal(auth.decodeToken(refreshAsAccess))).reason).toBe('typ')
      expect((await refusal(auth.verifyToken(refreshAsAccess))).reason).toBe('typ')
      // The matching pairs verify: the refusal is the mismatch alone.
      expect((await auth.decodeToken(hs256('at+jwt', claimsOf('access')))).type).toBe('access')
      expect((await auth.decodeToken(hs256('refresh+jwt', claimsOf('refresh')))).type).toBe('refresh')
    })

    it('refuses a token with the typ of its type but no type claim (no RFC 9068 tokens here)', async () => {
      const auth = explicit()
      const { type: _, ...claims } = claimsOf('access')
      expect((await refusal(auth.decodeToken(hs256('at+jwt', claims)))).reason).toBe('claims')
    })

    it("refuses an instance's access token as a refresh token and its refresh token on an API route", async () => {
      const auth = explicit()
      const pair = await auth.createTokenPair({ uid: 'user1' })
      expect(await rejection(auth.refresh(pair.accessToken))).toMatchObject({
        code: 'ERR_WRONG_TOKEN_TYPE',
        status: 401,
      })
      expect(await rejection(auth.verifyToken(pair.refreshToken))).toMatchObject({
        code: 'ERR_WRONG_TOKEN_TYPE',
      })
    })

    it('accepts typ in any case and with the application/ prefix (RFC 7515 4.1.9, RFC 9068 4)', async () => {
      const auth = explicit()
      for (const typ of [
        'AT+JWT',
        'At+Jwt',
        'application/at+jwt',
        'APPLICATION/AT+JWT',
        'Application/at+JWT',
      ]) {
        expect((await auth.verifyToken(hs256(typ, claimsOf('access')))).type).toBe('access')
      }
      for (const typ of ['REFRESH+JWT', 'application/refresh+jwt', 'Application/Refresh+Jwt']) {
        expect((await auth.decodeToken(hs256(typ, claimsOf('refresh')))).type).toBe('refresh')
      }
      for (const typ of [
        'application/application/at+jwt',
        'applicationat+jwt',
        'application/',
        'x-application/at+jwt',
      ]) {
        expect((await refusal(auth.decodeToken(hs256(typ, claimsOf('access'))))).reason).toBe('typ')
      }
    })

    for (const cache of [0, 100]) {
      it(`keeps the header cache keyed by typ (verified-token cache ${cache})`, async () => {
        const auth = explicit({ cache: { verifiedTokens: cache } })
        const good = hs256('at+jwt', claimsOf('access'))
        const bad = hs256('JWT', claimsOf('access'))
        const swapped = hs256('at+jwt', claimsOf('refresh'))
        expect((await auth.verifyToken(good)).sub).toBe('user1')
        expect((await auth.verifyToken(good)).sub).toBe('user1')
        // Same alg and no kid: only the typ tells these headers apart.
        expect((await refusal(auth.verifyToken(bad))).reason).toBe('typ')
        expect((await refusal(auth.verifyToken(bad))).reason).toBe('typ')
        expect((await refusal(auth.decodeToken(swapped))).reason).toBe('typ')
        expect((await auth.verifyToken(hs256('at+jwt', claimsOf('access')))).sub).toBe('user1')
      })
    }

    it('property: a typ that is not the one of the token type never verifies', async () => {
      const auth = explicit()
      // Near misses of the real values, plus any string and non-strings.
      const nearMiss = fc
        .array(fc.constantFrom(...'aApPlLiIcCtToOnN/+jJwWrReEfFsShH '.split('')), { maxLength: 24 })
        .map((chars) => chars.join(''))
      const typ = fc.oneof(nearMiss, fc.string(), fc.constantFrom(undefined, null, 0, true, {}, ['at+jwt']))
      const normal = (value: unknown) =>
        typeof value === 'string' ? value.toLowerCase().replace(/^application\//, '') : undefined
      await fc.assert(
        fc.asyncProperty(typ, fc.constantFrom('access' as const, 'refresh' as const), async (value, type) => {
          const expected = type === 'access' ? 'at+jwt' : 'refresh+jwt'
          fc.pre(normal(value) !== expected)
          const err = await rejection(auth.decodeToken(hs256(value, claimsOf(type))))
          expect(err).toBeInstanceOf(InvalidTokenError)
          expect((err as InvalidTokenError).reason).toBe('typ')
        }),
        { numRuns: 300 },
      )
    })
  })

  describe(`tokenTypes 'jwt' (the default) on the ${engine} engine`, () => {
    it('writes typ JWT and accepts any typ or none, as before', async () => {
      for (const options of [{}, { tokenTypes: 'jwt' }]) {
        const auth = onEngine(engine, { secretKey: SECRET, ...options })
        const pair = await auth.createTokenPair({ uid: 'user1' })
        expect(segment(pair.accessToken, 0).typ).toBe('JWT')
        expect(segment(pair.refreshToken, 0).typ).toBe('JWT')
        for (const typ of [undefined, 'JWT', 'at+jwt', 'refresh+jwt', 'anything', 42]) {
          expect((await auth.verifyToken(hs256(typ, claimsOf('access')))).type).toBe('access')
          expect((await auth.verifyToken(hs256(typ, claimsOf('refresh')), { type: 'refresh' })).type).toBe(
            'refresh',
          )
        }
      }
    })

    it('accepts a Python AuthX style token, whose scope string grants nothing and whose client_id is data', async () => {
      const auth = onEngine(engine, { secretKey: SECRET })
      const token = signToken(
        'HS256',
        SECRET,
        { alg: 'HS256', typ: 'JWT' },
        claimsOf('access', { fresh: true, csrf: 'c', scope: 'admin:* users:read', client_id: 'app' }),
      )
      const payload = await auth.verifyToken(token, { fresh: true })
      expect(payload.scopes).toBeUndefined()
      expect(payload.hasScopes('users:read')).toBe(false)
      expect(payload.clientId).toBeUndefined()
      expect(payload.extra).toEqual({ scope: 'admin:* users:read', client_id: 'app' })
      expect(await rejection(auth.verifyToken(token, { scopes: ['users:read'] }))).toMatchObject({
        status: 403,
      })
    })

    it('still refuses a token without a type claim, whatever its typ', async () => {
      const auth = onEngine(engine, { secretKey: SECRET })
      const { type: _, ...claims } = claimsOf('access')
      expect((await refusal(auth.decodeToken(hs256('at+jwt', claims)))).reason).toBe('claims')
    })
  })
}

describe('tokenTypes option checks', () => {
  it('refuses an unknown mode', () => {
    for (const tokenTypes of ['JWT', 'Explicit', 'at+jwt', true, {}]) {
      expect(() => onEngine('node', { secretKey: SECRET, tokenTypes })).toThrow(
        expect.objectContaining({ code: 'ERR_CONFIG' }),
      )
    }
  })

  it("refuses 'rfc9068' without verify.issuer or verify.audience (RFC 9068 section 4)", () => {
    for (const verify of [{}, { issuer: ISSUER }, { audience: AUDIENCE }]) {
      expect(() => onEngine('node', { secretKey: SECRET, tokenTypes: 'rfc9068', verify })).toThrow(
        expect.objectContaining({ code: 'ERR_CONFIG', status: 500 }),
      )
    }
    // The instance's own issuer and audience are what verify defaults to.
    const auth = onEngine('node', {
      secretKey: SECRET,
      tokenTypes: 'rfc9068',
      issuer: ISSUER,
      audience: AUDIENCE,
    })
    expect(auth.config.tokenTypes.mode).toBe('rfc9068')
  })

  it('typType names the token type of a typ header and nothing else', () => {
    expect(typType('at+jwt')).toBe('access')
    expect(typType('application/Refresh+JWT')).toBe('refresh')
    expect(typType('JWT')).toBeUndefined()
    expect(typType(undefined)).toBeUndefined()
  })
})

/** An external RFC 9068 issuer: its key pair, its public JWK and a signer of access tokens. */
interface Issuer {
  publicJwk: JWK
  publicKey: CryptoKey
  sign(claims: Record<string, unknown>, header?: Record<string, unknown>): Promise<string>
}

async function makeIssuer(): Promise<Issuer> {
  const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true })
  const publicJwk = { ...(await exportJWK(publicKey)), kid: 'issuer-key-1', alg: 'ES256', use: 'sig' }
  return {
    publicJwk,
    publicKey,
    sign: (claims, header = {}) =>
      new SignJWT(claims)
        .setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', kid: 'issuer-key-1', ...header })
        .sign(privateKey),
  }
}

/** The RFC 9068 section 2.2 claims of an access token from the external issuer. */
function rfc9068Claims(extra: Record<string, unknown> = {}): Record<string, unknown> {
  const now = Math.floor(Date.now() / 1000)
  return {
    iss: ISSUER,
    sub: 'user9',
    aud: AUDIENCE,
    client_id: 'mobile-app',
    iat: now,
    exp: now + 300,
    jti: crypto.randomUUID(),
    scope: 'users:read admin:*',
    ...extra,
  }
}

const REQUIRED = ['iss', 'exp', 'aud', 'sub', 'client_id', 'iat', 'jti'] as const

describe("tokenTypes 'rfc9068': access tokens of an external issuer", () => {
  let issuer: Issuer
  let server: Server
  let jwksUrl: string

  beforeAll(async () => {
    issuer = await makeIssuer()
    server = createServer((req, res) => {
      if (req.url !== '/jwks.json') {
        res.writeHead(404).end()
        return
      }
      res
        .writeHead(200, { 'content-type': 'application/json' })
        .end(JSON.stringify({ keys: [issuer.publicJwk] }))
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    jwksUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks.json`
  })
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())))

  const verifyOptions = { tokenTypes: 'rfc9068', verify: { issuer: ISSUER, audience: AUDIENCE } }

  /** The verifiers under test: a publicKey instance on each engine, and a jwksUrl instance on each. */
  function verifiers(): Array<[string, AuthX]> {
    return ENGINES.flatMap(
      (engine): Array<[string, AuthX]> => [
        [
          `${engine} publicKey`,
          onEngine(engine, {
            algorithm: 'ES256',
            publicKey: issuer.publicKey,
            kid: 'issuer-key-1',
            ...verifyOptions,
          }),
        ],
        [`${engine} jwksUrl`, onEngine(engine, { algorithm: 'ES256', jwksUrl, ...verifyOptions })],
      ],
    )
  }

  it('reads scope into scopes and client_id into clientId; the type is access; wildcards apply', async () => {
    for (const [name, auth] of verifiers()) {
      const token = await issuer.sign(rfc9068Claims())
      // Twice: the second is a verified-token cache hit, which must read the claims the same way.
      for (const round of [1, 2]) {
        const payload: TokenPayload = await auth.verifyToken(token, { scopes: ['admin:users', 'users:read'] })
        expect({ name, round, type: payload.type }).toEqual({ name, round, type: 'access' })
        expect(payload.scopes).toEqual(['users:read', 'admin:*'])
        expect(payload.clientId).toBe('mobile-app')
        expect(payload.sub).toBe('user9')
        expect(payload.extra).toEqual({})
        expect(payload.hasAnyScope('admin:keys')).toBe(true)
      }
      expect(await rejection(auth.verifyToken(token, { scopes: ['billing'] }))).toMatchObject({ status: 403 })
    }
  })

  it('refuses a token missing any RFC 9068 required claim (reason claims)', async () => {
    for (const [, auth] of verifiers()) {
      for (const claim of REQUIRED) {
        const claims = rfc9068Claims()
        delete claims[claim]
        expect({
          claim,
          reason: (await refusal(auth.verifyToken(await issuer.sign(claims)))).reason,
        }).toEqual({
          claim,
          reason: 'claims',
        })
      }
      for (const bad of [{ client_id: '' }, { client_id: 7 }, { scope: ['users:read'] }, { iss: '' }]) {
        expect((await refusal(auth.verifyToken(await issuer.sign(rfc9068Claims(bad))))).reason).toBe('claims')
      }
    }
  })

  it('checks issuer and audience, typ, and never takes an RFC 9068 token for a refresh token', async () => {
    for (const [, auth] of verifiers()) {
      const wrongIss = await issuer.sign(rfc9068Claims({ iss: 'https://other.example' }))
      expect((await refusal(auth.verifyToken(wrongIss))).reason).toBe('issuer')
      const wrongAud = await issuer.sign(rfc9068Claims({ aud: 'https://other-api.example' }))
      expect((await refusal(auth.verifyToken(wrongAud))).reason).toBe('audience')
      expect(
        (await refusal(auth.verifyToken(await issuer.sign(rfc9068Claims(), { typ: 'JWT' })))).reason,
      ).toBe('typ')
      // The refresh typ names no RFC 9068 token, so the missing type claim is what is wrong.
      const refreshTyp = await issuer.sign(rfc9068Claims(), { typ: 'refresh+jwt' })
      expect((await refusal(auth.decodeToken(refreshTyp))).reason).toBe('claims')
      const refreshTyped = await issuer.sign(rfc9068Claims({ type: 'access' }), { typ: 'refresh+jwt' })
      expect((await refusal(auth.decodeToken(refreshTyped))).reason).toBe('typ')
      const token = await issuer.sign(rfc9068Claims())
      expect(await rejection(auth.verifyToken(token, { type: 'refresh' }))).toMatchObject({
        code: 'ERR_WRONG_TOKEN_TYPE',
      })
      expect(await rejection(auth.refresh(token))).toMatchObject({ code: 'ERR_WRONG_TOKEN_TYPE' })
      // The application/ prefix and any case are accepted here too.
      expect(
        (await auth.verifyToken(await issuer.sign(rfc9068Claims(), { typ: 'application/AT+JWT' }))).clientId,
      ).toBe('mobile-app')
    }
  })

  it('is never fresh and reads no scopes array: the issuer states neither', async () => {
    for (const [, auth] of verifiers()) {
      const token = await issuer.sign(
        rfc9068Claims({ fresh: true, scopes: ['billing'], scope: 'users:read' }),
      )
      const payload = await auth.verifyToken(token)
      expect(payload.fresh).toBe(false)
      expect(payload.scopes).toEqual(['users:read'])
      expect(await rejection(auth.verifyToken(token, { fresh: true }))).toMatchObject({ status: 401 })
      const noScope = rfc9068Claims()
      delete noScope.scope
      expect((await auth.verifyToken(await issuer.sign(noScope))).scopes).toBeUndefined()
    }
  })

  it("refuses the same tokens in the 'explicit' and default modes, which take no token without a type claim", async () => {
    for (const engine of ENGINES) {
      for (const tokenTypes of ['explicit', 'jwt']) {
        const auth = onEngine(engine, {
          algorithm: 'ES256',
          publicKey: issuer.publicKey,
          kid: 'issuer-key-1',
          tokenTypes,
          verify: { issuer: ISSUER, audience: AUDIENCE },
        })
        expect((await refusal(auth.verifyToken(await issuer.sign(rfc9068Claims())))).reason).toBe('claims')
      }
    }
  })

  it("writes the instance's own tokens as in 'explicit' and verifies them with their own claims", async () => {
    for (const engine of ENGINES) {
      const auth = onEngine(engine, {
        secretKey: SECRET,
        tokenTypes: 'rfc9068',
        issuer: ISSUER,
        audience: AUDIENCE,
      })
      const pair = await auth.createTokenPair({
        uid: 'user1',
        fresh: true,
        scopes: ['users:read'],
        data: { scope: 'admin:*' },
      })
      expect(segment(pair.accessToken, 0).typ).toBe('at+jwt')
      expect(segment(pair.refreshToken, 0).typ).toBe('refresh+jwt')
      const payload = await auth.verifyToken(pair.accessToken, { fresh: true })
      // An authx token (it has a type claim): scopes from `scopes`, its `scope` data grants nothing.
      expect(payload.scopes).toEqual(['users:read'])
      expect(payload.hasScopes('admin:users')).toBe(false)
      expect(payload.clientId).toBeUndefined()
      expect((await auth.refresh(pair.refreshToken)).accessToken).toBeTypeOf('string')
      expect(
        (await refusal(auth.verifyToken(hs256('JWT', claimsOf('access', { iss: ISSUER, aud: AUDIENCE })))))
          .reason,
      ).toBe('typ')
    }
  })
})
