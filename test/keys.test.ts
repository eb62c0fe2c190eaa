import { calculateJwkThumbprint, type JWK } from 'jose'
import { describe, expect, it, vi } from 'vitest'
import { AuthX, type AuthXOptions, ConfigError, InvalidTokenError } from '../src/index.js'
import { ENGINES, type EngineName, onEngine, rejection } from './support/engines.js'
import {
  ASYMMETRIC_ALGORITHMS,
  HMAC_ALGORITHMS,
  jwkOf,
  keyOptions,
  keyPair,
  keyPairFor,
  keysIn,
  MIN_SECRET_BYTES,
  pemOf,
  secretFor,
  segment,
  signToken,
} from './support/keys.js'

// See test/algorithms.test.ts: hiding node:crypto makes `new AuthX()` pick the jose engine.
vi.mock('../src/core/runtime.js', async (orig) => {
  const mod = await orig<typeof import('../src/core/runtime.js')>()
  const { engineNow } = await import('./support/variant-setup.js')
  return { ...mod, nodeCrypto: () => (engineNow() === 'jose' ? undefined : mod.nodeCrypto()) }
})

function thrown(fn: () => unknown): unknown {
  try {
    fn()
  } catch (err) {
    return err
  }
  return new Error('expected a throw, got a result')
}

function expectConfigErrorAt(err: unknown, path: string): void {
  expect(err).toBeInstanceOf(ConfigError)
  expect(err).toMatchObject({ code: 'ERR_CONFIG', status: 500 })
  // The message starts with the option path, e.g. `keys[1].kid: duplicate kid "a"`.
  const message = (err as Error).message
  expect(message.startsWith(`${path}:`), `"${message}" should start with "${path}:"`).toBe(true)
}

/**
 * The ConfigError an invalid configuration produces. The node engine imports keys synchronously,
 * so `new AuthX()` throws. The jose engine imports key material asynchronously (documented in
 * src/core/keys.ts), so there the error may instead reject the first call that needs the keys.
 */
async function configError(engine: EngineName, options: Record<string, unknown>): Promise<unknown> {
  let auth: AuthX
  try {
    auth = onEngine(engine, options)
  } catch (err) {
    return err
  }
  if (engine === 'node') return new Error('new AuthX() did not throw on the node engine')
  return rejection(auth.jwks())
}

async function expectConfigError(
  engine: EngineName,
  options: Record<string, unknown>,
  path: string,
): Promise<void> {
  expectConfigErrorAt(await configError(engine, options), path)
}

async function expectInvalid(promise: Promise<unknown>, reason: string): Promise<void> {
  const err = await rejection(promise)
  expect(err).toBeInstanceOf(InvalidTokenError)
  expect(err).toMatchObject({ code: 'ERR_INVALID_TOKEN', status: 401, reason })
}

function claims(sub = 'u', now = Math.floor(Date.now() / 1000)): Record<string, unknown> {
  return { sub, jti: crypto.randomUUID(), iat: now, exp: now + 600, type: 'access' }
}

const rsa = () => keyPair('rsa2048')
const p256 = () => keyPair('p256')
const p384 = () => keyPair('p384')
const ed = () => keyPair('ed25519')

interface Case {
  name: string
  options: () => Record<string, unknown> | Promise<Record<string, unknown>>
  path: string
}

const INVALID: Case[] = [
  // HMAC secrets: byte lengths per RFC 7518 section 3.2, counted in UTF-8 bytes.
  ...HMAC_ALGORITHMS.flatMap((alg): Case[] => [
    {
      name: `an ASCII ${alg} secret one byte short of ${MIN_SECRET_BYTES[alg]}`,
      options: () => ({ algorithm: alg, secretKey: 'k'.repeat(MIN_SECRET_BYTES[alg] - 1) }),
      path: 'secretKey',
    },
    {
      name: `a Uint8Array ${alg} secret one byte short of ${MIN_SECRET_BYTES[alg]}`,
      options: () => ({ algorithm: alg, secretKey: new Uint8Array(MIN_SECRET_BYTES[alg] - 1).fill(7) }),
      path: 'secretKey',
    },
  ]),
  {
    name: 'an HS256 secret of 16 characters that is 31 UTF-8 bytes',
    options: () => ({ secretKey: `${'\u00e9'.repeat(15)}a` }),
    path: 'secretKey',
  },
  { name: 'an empty secret', options: () => ({ secretKey: '' }), path: 'secretKey' },
  { name: 'a blank secret', options: () => ({ secretKey: ' \t\n'.repeat(30) }), path: 'secretKey' },
  {
    name: 'an empty Uint8Array secret',
    options: () => ({ secretKey: new Uint8Array(0) }),
    path: 'secretKey',
  },
  { name: 'no key at all for HS256', options: () => ({}), path: 'secretKey' },
  // RSA size.
  {
    name: 'a 1024-bit RSA private key for RS256',
    options: () => ({ algorithm: 'RS256', privateKey: pemOf(keyPair('rsa1024')).privateKey }),
    path: 'privateKey',
  },
  {
    name: 'a 1024-bit RSA public key for PS256',
    options: () => ({ algorithm: 'PS256', publicKey: pemOf(keyPair('rsa1024')).publicKey }),
    path: 'publicKey',
  },
  {
    name: 'a 1024-bit RSA JWK for RS512',
    options: () => ({ algorithm: 'RS512', privateKey: jwkOf(keyPair('rsa1024')).privateKey }),
    path: 'privateKey',
  },
  // EC curves.
  {
    name: 'a P-384 key for ES256',
    options: () => ({ algorithm: 'ES256', privateKey: pemOf(p384()).privateKey }),
    path: 'privateKey',
  },
  {
    name: 'a P-256 JWK for ES384',
    options: () => ({ algorithm: 'ES384', privateKey: jwkOf(p256()).privateKey }),
    path: 'privateKey',
  },
  {
    name: 'a P-256 public key for ES512',
    options: () => ({ algorithm: 'ES512', publicKey: pemOf(p256()).publicKey }),
    path: 'publicKey',
  },
  // Key kinds.
  {
    name: 'an EC key for RS256',
    options: () => ({ algorithm: 'RS256', privateKey: pemOf(p256()).privateKey }),
    path: 'privateKey',
  },
  {
    name: 'a P-256 key for EdDSA',
    options: () => ({ algorithm: 'EdDSA', privateKey: pemOf(p256()).privateKey }),
    path: 'privateKey',
  },
  {
    name: 'an RSA key for ES256',
    options: () => ({ algorithm: 'ES256', privateKey: pemOf(rsa()).privateKey }),
    path: 'privateKey',
  },
  {
    name: 'an Ed25519 public JWK for PS256',
    options: () => ({ algorithm: 'PS256', publicKey: jwkOf(ed()).publicKey }),
    path: 'publicKey',
  },
  {
    name: 'an RSA public key for EdDSA',
    options: () => ({ algorithm: 'EdDSA', publicKey: pemOf(rsa()).publicKey }),
    path: 'publicKey',
  },
  {
    name: 'a symmetric (oct) JWK as an RS256 private key',
    options: () => ({ algorithm: 'RS256', privateKey: { kty: 'oct', k: 'a'.repeat(43) } }),
    path: 'privateKey',
  },
  {
    name: 'a string that is not a PEM key',
    options: () => ({ algorithm: 'ES256', privateKey: 'not a key' }),
    path: 'privateKey',
  },
  // Public where private is needed, and the reverse.
  {
    name: 'a public PEM given as privateKey',
    options: () => ({ algorithm: 'RS256', privateKey: pemOf(rsa()).publicKey }),
    path: 'privateKey',
  },
  {
    name: 'a public JWK given as privateKey',
    options: () => ({ algorithm: 'ES256', privateKey: jwkOf(p256()).publicKey }),
    path: 'privateKey',
  },
  {
    name: 'a public CryptoKey given as privateKey',
    options: async () => ({ algorithm: 'EdDSA', privateKey: (await keysIn('cryptokey', 'EdDSA')).publicKey }),
    path: 'privateKey',
  },
  {
    name: 'a private PEM given as publicKey',
    options: () => ({ algorithm: 'RS256', publicKey: pemOf(rsa()).privateKey }),
    path: 'publicKey',
  },
  {
    name: 'a private JWK given as publicKey',
    options: () => ({ algorithm: 'ES256', publicKey: jwkOf(p256()).privateKey }),
    path: 'publicKey',
  },
  {
    name: 'a private CryptoKey given as publicKey',
    options: async () => ({ algorithm: 'ES256', publicKey: (await keysIn('cryptokey', 'ES256')).privateKey }),
    path: 'publicKey',
  },
  // Pairs that do not belong together.
  {
    name: 'an RS256 public key that does not match the private key',
    options: () => ({
      algorithm: 'RS256',
      privateKey: pemOf(rsa()).privateKey,
      publicKey: pemOf(keyPair('rsa2048', 1)).publicKey,
    }),
    path: 'publicKey',
  },
  {
    name: 'an ES256 public JWK that does not match the private JWK',
    options: () => ({
      algorithm: 'ES256',
      privateKey: jwkOf(p256()).privateKey,
      publicKey: jwkOf(keyPair('p256', 1)).publicKey,
    }),
    path: 'publicKey',
  },
  {
    name: 'an EdDSA public key that does not match the private key',
    options: () => ({
      algorithm: 'EdDSA',
      privateKey: pemOf(ed()).privateKey,
      publicKey: pemOf(keyPair('ed25519', 1)).publicKey,
    }),
    path: 'publicKey',
  },
  // Secrets and key pairs crossed with the algorithm family.
  {
    name: 'a secretKey given with RS256',
    options: () => ({ algorithm: 'RS256', secretKey: 'k'.repeat(64), privateKey: pemOf(rsa()).privateKey }),
    path: 'secretKey',
  },
  {
    name: 'a secretKey alone given with ES256',
    options: () => ({ algorithm: 'ES256', secretKey: 'k'.repeat(64) }),
    path: 'secretKey',
  },
  {
    name: 'a privateKey given with HS256',
    options: () => ({ algorithm: 'HS256', secretKey: 'k'.repeat(32), privateKey: pemOf(rsa()).privateKey }),
    path: 'privateKey',
  },
  {
    name: 'a publicKey alone given with HS512',
    options: () => ({ algorithm: 'HS512', publicKey: pemOf(rsa()).publicKey }),
    path: 'publicKey',
  },
  // verify.algorithms.
  {
    name: 'verify.algorithms mixing HS256 and RS256 over a key set holding both',
    options: () => ({
      keys: [
        { kid: 'h', algorithm: 'HS256', secretKey: secretFor('HS256') },
        { kid: 'r', algorithm: 'RS256', publicKey: pemOf(rsa()).publicKey },
      ],
      verify: { algorithms: ['HS256', 'RS256'] },
    }),
    path: 'verify.algorithms',
  },
  {
    name: 'a key set mixing HMAC and RSA keys',
    options: () => ({
      keys: [
        { kid: 'h', algorithm: 'HS256', secretKey: secretFor('HS256') },
        { kid: 'r', algorithm: 'RS256', publicKey: pemOf(rsa()).publicKey },
      ],
    }),
    path: 'keys',
  },
  {
    name: "verify.algorithms naming 'none'",
    options: () => ({ secretKey: secretFor('HS256'), verify: { algorithms: ['none'] } }),
    path: 'verify.algorithms',
  },
  {
    name: 'verify.algorithms naming an algorithm of no key',
    options: () => ({ secretKey: secretFor('HS256'), verify: { algorithms: ['HS256', 'HS384'] } }),
    path: 'verify.algorithms',
  },
  {
    name: 'verify.algorithms naming RS256 for an HS256 secret',
    options: () => ({ secretKey: secretFor('HS256'), verify: { algorithms: ['RS256'] } }),
    path: 'verify.algorithms',
  },
  {
    name: 'an empty verify.algorithms',
    options: () => ({ secretKey: secretFor('HS256'), verify: { algorithms: [] } }),
    path: 'verify.algorithms',
  },
  {
    name: 'an algorithm in the wrong case',
    options: () => ({ algorithm: 'hs256', secretKey: secretFor('HS256') }),
    path: 'algorithm',
  },
  { name: 'an empty kid', options: () => ({ secretKey: secretFor('HS256'), kid: '' }), path: 'kid' },
  // Key sets.
  {
    name: 'a key set with a duplicate kid',
    options: () => ({
      keys: [
        { kid: 'a', algorithm: 'HS256', secretKey: secretFor('HS256') },
        { kid: 'a', algorithm: 'HS256', secretKey: secretFor('HS256', 1) },
      ],
    }),
    path: 'keys[1].kid',
  },
  {
    name: 'a key set entry without kid',
    options: () => ({ keys: [{ algorithm: 'HS256', secretKey: secretFor('HS256') }] }),
    path: 'keys[0].kid',
  },
  {
    name: 'a key set combined with secretKey',
    options: () => ({
      secretKey: secretFor('HS256'),
      keys: [{ kid: 'a', algorithm: 'HS256', secretKey: secretFor('HS256') }],
    }),
    path: 'secretKey',
  },
  {
    name: 'a key set combined with privateKey',
    options: () => ({
      privateKey: pemOf(p256()).privateKey,
      keys: [{ kid: 'a', algorithm: 'ES256', privateKey: pemOf(p256()).privateKey }],
    }),
    path: 'privateKey',
  },
  { name: 'an empty key set', options: () => ({ keys: [] }), path: 'keys' },
  {
    name: 'a key set entry with a short secret',
    options: () => ({
      keys: [
        { kid: 'a', algorithm: 'HS256', secretKey: secretFor('HS256') },
        { kid: 'b', algorithm: 'HS256', secretKey: 'short' },
      ],
    }),
    path: 'keys[1].secretKey',
  },
  {
    name: 'a key set entry with a 1024-bit RSA key',
    options: () => ({
      keys: [
        { kid: 'a', algorithm: 'RS256', privateKey: pemOf(rsa()).privateKey },
        { kid: 'b', algorithm: 'RS256', privateKey: pemOf(keyPair('rsa1024')).privateKey },
      ],
    }),
    path: 'keys[1].privateKey',
  },
  {
    name: 'a key set entry with an unknown option',
    options: () => ({ keys: [{ kid: 'a', algorithm: 'HS256', secretKey: secretFor('HS256'), secret: 'x' }] }),
    path: 'keys[0].secret',
  },
  {
    name: 'a key set entry whose retireAt is not a Date',
    options: () => ({
      keys: [{ kid: 'a', algorithm: 'HS256', secretKey: secretFor('HS256'), retireAt: '2030-01-01' }],
    }),
    path: 'keys[0].retireAt',
  },
  // jwksUrl.
  {
    name: 'jwksUrl combined with secretKey',
    options: () => ({
      jwksUrl: 'https://issuer.example/jwks.json',
      algorithm: 'RS256',
      secretKey: 'k'.repeat(64),
    }),
    path: 'secretKey',
  },
  {
    name: 'jwksUrl combined with privateKey',
    options: () => ({
      jwksUrl: 'https://issuer.example/jwks.json',
      algorithm: 'RS256',
      privateKey: pemOf(rsa()).privateKey,
    }),
    path: 'privateKey',
  },
  {
    name: 'jwksUrl with an HMAC algorithm',
    options: () => ({ jwksUrl: 'https://issuer.example/jwks.json', algorithm: 'HS256' }),
    path: 'algorithm',
  },
  {
    name: 'jwksUrl that is not an http(s) URL',
    options: () => ({ jwksUrl: 'file:///etc/jwks.json', algorithm: 'RS256' }),
    path: 'jwksUrl',
  },
]

for (const engine of ENGINES) {
  describe(`key validation on the ${engine} engine`, () => {
    for (const c of INVALID) {
      it(`refuses ${c.name} with a ConfigError naming ${c.path}`, async () => {
        await expectConfigError(engine, await c.options(), c.path)
      })
    }

    for (const alg of HMAC_ALGORITHMS) {
      it(`accepts an ${alg} secret of exactly ${MIN_SECRET_BYTES[alg]} bytes`, async () => {
        const auth = onEngine(engine, { algorithm: alg, secretKey: 'k'.repeat(MIN_SECRET_BYTES[alg]) })
        expect((await auth.verifyToken(await auth.createAccessToken({ uid: 'u' }))).sub).toBe('u')
      })
    }

    it('counts UTF-8 bytes: 16 two-byte characters are enough for HS256', async () => {
      const secretKey = '\u00e9'.repeat(16)
      expect(secretKey.length).toBe(16)
      const auth = onEngine(engine, { secretKey })
      const token = await auth.createAccessToken({ uid: 'u' })
      expect((await auth.verifyToken(token)).sub).toBe('u')
      // The key really is the UTF-8 encoding of the string.
      const now = Math.floor(Date.now() / 1000)
      const byHand = signToken(
        'HS256',
        Buffer.from(secretKey, 'utf8'),
        { alg: 'HS256', typ: 'JWT' },
        claims('h', now),
      )
      expect((await auth.verifyToken(byHand)).sub).toBe('h')
    })

    it('a verify-only instance (publicKey alone) verifies but refuses to sign with a ConfigError', async () => {
      const signer = onEngine(engine, keyOptions('ES256'))
      const verifier = onEngine(engine, {
        algorithm: 'ES256',
        publicKey: pemOf(keyPairFor('ES256')).publicKey,
      })
      const token = await signer.createAccessToken({ uid: 'u' })
      expect((await verifier.verifyToken(token)).sub).toBe('u')
      expectConfigErrorAt(await rejection(verifier.createAccessToken({ uid: 'u' })), 'privateKey')
      expect(await rejection(verifier.createRefreshToken({ uid: 'u' }))).toBeInstanceOf(ConfigError)
      expect(await rejection(verifier.createTokenPair({ uid: 'u' }))).toBeInstanceOf(ConfigError)
    })

    it('a jwksUrl instance refuses to sign with a ConfigError', async () => {
      const verifier = onEngine(engine, { jwksUrl: 'http://127.0.0.1:9/jwks.json', algorithm: 'RS256' })
      expect(await rejection(verifier.createAccessToken({ uid: 'u' }))).toMatchObject({ code: 'ERR_CONFIG' })
    })
  })
}

describe('jose engine: checks that need no key parsing happen in the constructor', () => {
  // Only PEM/JWK import is asynchronous under Web Crypto; secret lengths and option combinations
  // can and must be refused by `new AuthX()` itself (SPEC section 2), as on the node engine.
  const cases: Case[] = [
    { name: 'a short HS256 secret', options: () => ({ secretKey: 'k'.repeat(31) }), path: 'secretKey' },
    { name: 'a blank secret', options: () => ({ secretKey: ' '.repeat(64) }), path: 'secretKey' },
    {
      name: 'a secretKey given with RS256',
      options: () => ({ algorithm: 'RS256', secretKey: 'k'.repeat(64), privateKey: pemOf(rsa()).privateKey }),
      path: 'secretKey',
    },
    {
      name: 'a privateKey given with HS256',
      options: () => ({ secretKey: 'k'.repeat(32), privateKey: pemOf(rsa()).privateKey }),
      path: 'privateKey',
    },
  ]
  for (const c of cases) {
    it(`new AuthX() throws for ${c.name}`, async () => {
      const options = await c.options()
      expectConfigErrorAt(
        thrown(() => onEngine('jose', options)),
        c.path,
      )
    })
  }
})

for (const engine of ENGINES) {
  describe(`kid on the ${engine} engine`, () => {
    it('HMAC tokens carry no kid by default', async () => {
      const auth = onEngine(engine, keyOptions('HS256'))
      const header = segment(await auth.createAccessToken({ uid: 'u' }), 0)
      expect(header).toEqual({ alg: 'HS256', typ: 'JWT' })
    })

    for (const alg of ASYMMETRIC_ALGORITHMS) {
      it(`${alg} tokens carry the RFC 7638 thumbprint of the public key as kid by default`, async () => {
        const auth = onEngine(engine, keyOptions(alg))
        const expected = await calculateJwkThumbprint(jwkOf(keyPairFor(alg)).publicKey, 'sha256')
        const header = segment(await auth.createAccessToken({ uid: 'u' }), 0)
        expect(header).toEqual({ alg, typ: 'JWT', kid: expected })
      })
    }

    it('the thumbprint kid is the same whichever form the key was given in', async () => {
      const expected = await calculateJwkThumbprint(jwkOf(keyPairFor('ES256')).publicKey, 'sha256')
      for (const form of ['pem', 'jwk', 'cryptokey'] as const) {
        const auth = onEngine(engine, { algorithm: 'ES256', ...(await keysIn(form, 'ES256')) })
        expect(segment(await auth.createAccessToken({ uid: 'u' }), 0).kid).toBe(expected)
      }
    })

    for (const alg of ['HS256', 'RS256', 'EdDSA'] as const) {
      it(`${alg}: an explicit kid goes into every header, and a token with another kid is refused`, async () => {
        const auth = onEngine(engine, { ...keyOptions(alg), kid: 'main-2026' })
        const token = await auth.createAccessToken({ uid: 'u' })
        expect(segment(token, 0).kid).toBe('main-2026')
        expect(segment(await auth.createRefreshToken({ uid: 'u' }), 0).kid).toBe('main-2026')
        expect((await auth.verifyToken(token)).sub).toBe('u')

        const sameKeyOtherKid = onEngine(engine, { ...keyOptions(alg), kid: 'other' })
        await expectInvalid(
          auth.verifyToken(await sameKeyOtherKid.createAccessToken({ uid: 'u' })),
          'signature',
        )
      })

      it(`${alg}: a token without kid, signed with the right key, is accepted`, async () => {
        const key = alg === 'HS256' ? secretFor(alg) : keyPairFor(alg).privateKey
        const noKid = signToken(alg, key, { alg, typ: 'JWT' }, claims('no-kid'))
        expect((await onEngine(engine, { ...keyOptions(alg), kid: 'main' }).verifyToken(noKid)).sub).toBe(
          'no-kid',
        )
        expect((await onEngine(engine, keyOptions(alg)).verifyToken(noKid)).sub).toBe('no-kid')
      })
    }

    it('a token whose kid differs from the default thumbprint is refused, even with the right key', async () => {
      const auth = onEngine(engine, keyOptions('ES256'))
      const token = signToken(
        'ES256',
        keyPairFor('ES256').privateKey,
        { alg: 'ES256', typ: 'JWT', kid: 'not-the-thumbprint' },
        claims(),
      )
      await expectInvalid(auth.verifyToken(token), 'signature')
    })
  })

  describe(`key sets on the ${engine} engine`, () => {
    const es = (slot: number) => pemOf(keyPairFor('ES256', slot))

    it('the first signing key that is not retired signs, with its kid', async () => {
      const auth = onEngine(engine, {
        keys: [
          { kid: 'verify-only', algorithm: 'ES256', publicKey: es(0).publicKey },
          { kid: 'retired', algorithm: 'ES256', ...es(1), retireAt: new Date(Date.now() - 1000) },
          { kid: 'current', algorithm: 'ES256', ...es(2) },
          { kid: 'next', algorithm: 'ES256', ...es(3) },
        ],
      })
      const token = await auth.createAccessToken({ uid: 'u' })
      expect(segment(token, 0)).toEqual({ alg: 'ES256', typ: 'JWT', kid: 'current' })
      // Signed with the 'current' key: a verifier holding only that public key accepts it.
      const verifier = onEngine(engine, {
        keys: [{ kid: 'current', algorithm: 'ES256', publicKey: es(2).publicKey }],
      })
      expect((await verifier.verifyToken(token)).sub).toBe('u')
    })

    it('verification picks the key by kid, across algorithms', async () => {
      const set = onEngine(engine, {
        keys: [
          { kid: 'ec', algorithm: 'ES256', publicKey: es(0).publicKey },
          { kid: 'ed', algorithm: 'EdDSA', publicKey: pemOf(keyPairFor('EdDSA')).publicKey },
          { kid: 'rsa', algorithm: 'RS256', publicKey: pemOf(keyPairFor('RS256')).publicKey },
        ],
      })
      for (const [kid, alg] of [
        ['ec', 'ES256'],
        ['ed', 'EdDSA'],
        ['rsa', 'RS256'],
      ] as const) {
        const signer = onEngine(engine, { ...keyOptions(alg), kid })
        expect((await set.verifyToken(await signer.createAccessToken({ uid: kid }))).sub).toBe(kid)
      }
    })

    it('a token is checked only against the key its kid names, never against the others', async () => {
      const set = onEngine(engine, {
        keys: [
          { kid: 'a', algorithm: 'ES256', publicKey: es(0).publicKey },
          { kid: 'b', algorithm: 'ES256', publicKey: es(1).publicKey },
        ],
      })
      const signedByB = (kid: string | undefined) =>
        signToken(
          'ES256',
          keyPairFor('ES256', 1).privateKey,
          kid === undefined ? { alg: 'ES256', typ: 'JWT' } : { alg: 'ES256', typ: 'JWT', kid },
          claims(),
        )
      expect((await set.verifyToken(signedByB('b'))).sub).toBe('u')
      await expectInvalid(set.verifyToken(signedByB('a')), 'signature')
      await expectInvalid(set.verifyToken(signedByB('unknown')), 'signature')
      // Several keys: a token without kid matches none of them.
      await expectInvalid(set.verifyToken(signedByB(undefined)), 'signature')
    })

    it('a set of exactly one key accepts a token without kid', async () => {
      const set = onEngine(engine, {
        keys: [{ kid: 'only', algorithm: 'HS256', secretKey: secretFor('HS256') }],
      })
      const token = signToken('HS256', secretFor('HS256'), { alg: 'HS256', typ: 'JWT' }, claims('no-kid'))
      expect((await set.verifyToken(token)).sub).toBe('no-kid')
    })

    it('HMAC key sets rotate by kid too', async () => {
      const old = onEngine(engine, { secretKey: secretFor('HS256', 1), kid: 'old' })
      const set = onEngine(engine, {
        keys: [
          { kid: 'new', algorithm: 'HS256', secretKey: secretFor('HS256', 2) },
          { kid: 'old', algorithm: 'HS256', secretKey: secretFor('HS256', 1) },
        ],
      })
      const token = await set.createAccessToken({ uid: 'n' })
      expect(segment(token, 0).kid).toBe('new')
      expect((await set.verifyToken(token)).sub).toBe('n')
      expect((await set.verifyToken(await old.createAccessToken({ uid: 'o' }))).sub).toBe('o')
    })

    it('past retireAt a key neither signs nor verifies, and leaves the JWKS', async () => {
      const start = Date.UTC(2030, 0, 1)
      const retireAt = start + 3_600_000
      let now = start
      const auth = onEngine(engine, {
        clock: () => now,
        accessTokenExpires: '1d',
        keys: [
          { kid: 'old', algorithm: 'ES256', ...es(0), retireAt: new Date(retireAt) },
          { kid: 'new', algorithm: 'ES256', ...es(1) },
        ],
      })
      const oldToken = await auth.createAccessToken({ uid: 'u' })
      expect(segment(oldToken, 0).kid).toBe('old')
      expect((await auth.jwks()).keys.map((k) => k.kid)).toEqual(['old', 'new'])

      now = retireAt - 1000
      expect((await auth.verifyToken(oldToken)).sub).toBe('u')

      now = retireAt + 1000
      await expectInvalid(auth.verifyToken(oldToken), 'signature')
      const newToken = await auth.createAccessToken({ uid: 'u' })
      expect(segment(newToken, 0).kid).toBe('new')
      expect((await auth.verifyToken(newToken)).sub).toBe('u')
      expect((await auth.jwks()).keys.map((k) => k.kid)).toEqual(['new'])
    })

    it('when every signing key is retired, signing is a ConfigError', async () => {
      const auth = onEngine(engine, {
        keys: [{ kid: 'gone', algorithm: 'ES256', ...es(0), retireAt: new Date(Date.now() - 1000) }],
      })
      expect(await rejection(auth.createAccessToken({ uid: 'u' }))).toMatchObject({ code: 'ERR_CONFIG' })
    })
  })
}

describe('decodeUnverified', () => {
  it('returns header and payload synchronously, even for an expired token', async () => {
    const past = Date.now() - 86_400_000
    const issuer = new AuthX({ ...(keyOptions('RS256') as AuthXOptions), clock: () => past })
    const token = await issuer.createAccessToken({ uid: 'expired-user', data: { plan: 'pro' } })
    const auth = new AuthX(keyOptions('RS256') as AuthXOptions)
    expect((await rejection(auth.verifyToken(token))) as Error).toMatchObject({ code: 'ERR_TOKEN_EXPIRED' })

    const result = auth.decodeUnverified(token)
    expect(result).not.toBeInstanceOf(Promise)
    expect(result.header).toEqual({
      alg: 'RS256',
      typ: 'JWT',
      kid: await calculateJwkThumbprint(jwkOf(keyPairFor('RS256')).publicKey as JWK),
    })
    expect(result.payload).toMatchObject({ sub: 'expired-user', type: 'access', plan: 'pro' })
    expect(result.payload.exp).toBe(Math.floor(past / 1000) + 900)
  })

  it('throws InvalidTokenError (malformed) synchronously for garbage', () => {
    const auth = new AuthX(keyOptions('HS256') as AuthXOptions)
    for (const garbage of ['garbage', 'a.b.c', '', `${Buffer.from('[1]').toString('base64url')}.e30.AA`]) {
      const err = thrown(() => auth.decodeUnverified(garbage))
      expect(err).toBeInstanceOf(InvalidTokenError)
      expect(err).toMatchObject({ code: 'ERR_INVALID_TOKEN', status: 401, reason: 'malformed' })
    }
  })
})
