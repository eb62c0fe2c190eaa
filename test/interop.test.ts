import { execFileSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { importSPKI, jwtVerify, SignJWT } from 'jose'
import { describe, expect, it } from 'vitest'
import { AuthX, type AuthXOptions, TokenExpiredError, TokenPayload } from '../src/index.js'
import { keyOptions, keyPairFor, pemOf, secretFor, segment, signToken } from './support/keys.js'

const ISSUER = 'https://auth.example'
const AUDIENCE = 'orders-api'

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => new Error('expected a rejection, got a result'),
    (err: unknown) => err,
  )
}

describe('authx tokens verify with jose.jwtVerify', () => {
  for (const alg of ['HS256', 'RS256', 'ES256', 'EdDSA'] as const) {
    it(`${alg}: jose accepts the token with the issuer, audience and type it carries`, async () => {
      const auth = new AuthX({ ...(keyOptions(alg) as AuthXOptions), issuer: ISSUER, audience: AUDIENCE })
      const token = await auth.createAccessToken({ uid: 'user-42', fresh: true, scopes: ['orders:read'] })
      const key =
        alg === 'HS256'
          ? new TextEncoder().encode(secretFor(alg))
          : await importSPKI(pemOf(keyPairFor(alg)).publicKey, alg)
      const { payload, protectedHeader } = await jwtVerify(token, key, {
        algorithms: [alg],
        issuer: ISSUER,
        audience: AUDIENCE,
        typ: 'JWT',
        requiredClaims: ['jti', 'iat', 'nbf', 'exp'],
      })
      expect(protectedHeader.alg).toBe(alg)
      expect(payload).toMatchObject({ sub: 'user-42', type: 'access', fresh: true, scopes: ['orders:read'] })
      for (const claim of ['iat', 'nbf', 'exp'] as const) expect(Number.isInteger(payload[claim])).toBe(true)
    })
  }
})

describe('jose-signed tokens verify with authx', () => {
  for (const alg of ['HS256', 'RS256', 'ES256', 'EdDSA'] as const) {
    it(`${alg}: a token made with jose.SignJWT and the same key verifies`, async () => {
      const auth = new AuthX(keyOptions(alg) as AuthXOptions)
      const key = alg === 'HS256' ? new TextEncoder().encode(secretFor(alg)) : keyPairFor(alg).privateKey
      const token = await new SignJWT({ type: 'access', fresh: false, role: 'clerk' })
        .setProtectedHeader({ alg, typ: 'JWT' })
        .setSubject('from-jose')
        .setJti(crypto.randomUUID())
        .setIssuedAt()
        .setExpirationTime('5m')
        .sign(key)
      const payload = await auth.verifyToken(token)
      expect(payload.sub).toBe('from-jose')
      expect(payload.extra).toEqual({ role: 'clerk' })
    })
  }
})

describe('tokens shaped like Python AuthX', () => {
  // Python AuthX writes `exp` as a float with microseconds, `iat` as an int, `csrf: ""`, no nbf.
  const iat = 1767225000
  const exp = 1767225600.123456
  const secret = secretFor('HS256')
  const pythonPayload = (jti: string) => ({
    sub: 'py-user',
    jti,
    type: 'access',
    fresh: false,
    csrf: '',
    iat,
    exp,
  })

  it('a hand-made HS256 token verifies, and its payload keeps the fractional exp', async () => {
    let now = (iat + 300) * 1000
    const auth = new AuthX({ secretKey: secret, clock: () => now })
    const token = signToken('HS256', secret, { alg: 'HS256', typ: 'JWT' }, pythonPayload(crypto.randomUUID()))

    const payload = await auth.verifyToken(token)
    expect(payload).toBeInstanceOf(TokenPayload)
    expect(payload.sub).toBe('py-user')
    expect(payload.exp).toBe(1767225600.123456)
    expect(payload.iat).toBe(iat)
    expect(payload.nbf).toBeUndefined()
    expect(payload.csrf).toBe('')
    expect(payload.fresh).toBe(false)
    expect(payload.extra).toEqual({})
    expect(payload.expiresAt?.getTime()).toBe(1767225600123)

    // The fraction takes part in the expiry decision: 100 ms past the whole second is still valid,
    // 200 ms past it is not.
    now = 1767225600_100
    expect(payload.timeUntilExpiry).toBeCloseTo(23.456, 3)
    expect((await auth.verifyToken(token)).sub).toBe('py-user')
    now = 1767225600_200
    const err = await rejection(auth.verifyToken(token))
    expect(err).toBeInstanceOf(TokenExpiredError)
    expect(err).toMatchObject({ code: 'ERR_TOKEN_EXPIRED', status: 401 })
  })

  const PYTHON = '/usr/bin/python3'
  const pythonMissing = ((): string | undefined => {
    if (!existsSync(PYTHON)) return `${PYTHON} not found`
    try {
      execFileSync(PYTHON, ['-c', 'import jwt'], { stdio: 'pipe' })
    } catch {
      return `${PYTHON} has no jwt module (PyJWT)`
    }
    return undefined
  })()

  function python(script: string, input: unknown): string {
    return execFileSync(PYTHON, ['-c', script], {
      input: JSON.stringify(input),
      encoding: 'utf8',
      stdio: ['pipe', 'pipe', 'pipe'],
    }).trim()
  }

  it('a token encoded by PyJWT with the same secret verifies with authx', async (ctx) => {
    if (pythonMissing) {
      console.warn(`skipped: ${pythonMissing}`)
      ctx.skip(pythonMissing)
    }
    const jti = crypto.randomUUID()
    const token = python(
      [
        'import json, sys, jwt',
        'data = json.load(sys.stdin)',
        "print(jwt.encode(data['payload'], data['secret'], algorithm='HS256'))",
      ].join('\n'),
      { payload: pythonPayload(jti), secret },
    )
    const auth = new AuthX({ secretKey: secret, clock: () => (iat + 60) * 1000 })
    expect(auth.decodeUnverified(token).header).toEqual({ alg: 'HS256', typ: 'JWT' })
    const payload = await auth.verifyToken(token)
    expect(payload.jti).toBe(jti)
    expect(payload.exp).toBe(1767225600.123456)
    expect(payload.claims).toEqual(pythonPayload(jti))
  })

  it('PyJWT decodes and verifies an authx token with the same secret', async (ctx) => {
    if (pythonMissing) {
      console.warn(`skipped: ${pythonMissing}`)
      ctx.skip(pythonMissing)
    }
    const auth = new AuthX({ secretKey: secret })
    const token = await auth.createAccessToken({ uid: 'to-python', fresh: true, data: { role: 'admin' } })
    const decoded = JSON.parse(
      python(
        [
          'import json, sys, jwt',
          'data = json.load(sys.stdin)',
          "print(json.dumps(jwt.decode(data['token'], data['secret'], algorithms=['HS256'])))",
        ].join('\n'),
        { token, secret },
      ),
    )
    expect(decoded).toEqual(segment(token, 1))
    expect(decoded).toMatchObject({ sub: 'to-python', type: 'access', fresh: true, role: 'admin' })
    // PyJWT really checks the signature: another secret makes it fail.
    expect(() =>
      python(
        [
          'import json, sys, jwt',
          'data = json.load(sys.stdin)',
          "jwt.decode(data['token'], data['secret'], algorithms=['HS256'])",
        ].join('\n'),
        { token, secret: secretFor('HS256', 1) },
      ),
    ).toThrow()
  })
})
