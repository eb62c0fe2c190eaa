/**
 * Key import behaviours pinned down by mutation testing (docs/security.md, "Mutation testing"):
 * the exact message of each key refusal on both engines, the synchronous checks of the jose
 * engine, values that are not keys at all, JWKs without a prototype, keys of a neighbouring kind
 * (Ed448, X25519, an EC key for PS256), RSA-PSS keys restricted to another hash, and causes kept.
 */
import { generateKeyPairSync, type KeyObject } from 'node:crypto'
import { describe, expect, it, vi } from 'vitest'
import { type AuthX, ConfigError } from '../../src/index.js'
import { ENGINES, type EngineName, onEngine, rejection } from '../support/engines.js'
import { cryptoKeysOf, jwkOf, keyPair, keyPairFor, pemOf } from '../support/keys.js'

// Hiding node:crypto from the constructor makes it pick the jose engine (test/support/engines.ts).
vi.mock('../../src/core/runtime.js', async (orig) => {
  const mod = await orig<typeof import('../../src/core/runtime.js')>()
  const { engineNow } = await import('../support/variant-setup.js')
  return { ...mod, nodeCrypto: () => (engineNow() === 'jose' ? undefined : mod.nodeCrypto()) }
})

/**
 * The ConfigError a key configuration gets: from the constructor, or on the jose engine (which
 * imports key material asynchronously) from the first call that needs the keys.
 */
async function refusal(engine: EngineName, options: Record<string, unknown>): Promise<ConfigError> {
  let auth: AuthX
  try {
    auth = onEngine(engine, options)
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError)
    return err as ConfigError
  }
  expect(engine, 'the node engine refuses every key in the constructor').toBe('jose')
  const err = await rejection(auth.jwks())
  expect(err).toBeInstanceOf(ConfigError)
  return err as ConfigError
}

/** The ConfigError the constructor throws (on either engine: no key parsing needed). */
function constructorRefusal(engine: EngineName, options: Record<string, unknown>): ConfigError {
  try {
    onEngine(engine, options)
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError)
    return err as ConfigError
  }
  throw new Error(`new AuthX() on the ${engine} engine did not throw`)
}

/** The instance signs, and verifies what it signed. */
async function works(auth: AuthX): Promise<void> {
  const token = await auth.createAccessToken({ uid: 'u1' })
  expect((await auth.decodeToken(token)).sub).toBe('u1')
}

const rsa = () => keyPair('rsa2048')
const p256 = () => keyPair('p256')

describe('security: key refusals name the option and the reason, on both engines', () => {
  for (const engine of ENGINES) {
    it(`${engine}: an asymmetric algorithm without any key, in the constructor`, () => {
      expect(constructorRefusal(engine, { algorithm: 'RS256' }).message).toBe(
        'publicKey: RS256 needs a publicKey or a privateKey',
      )
      expect(constructorRefusal(engine, { keys: [{ kid: 'a', algorithm: 'ES256' }] }).message).toBe(
        'keys[0].publicKey: ES256 needs a publicKey or a privateKey',
      )
    })

    it(`${engine}: values that are no key at all`, async () => {
      // A function that looks like a KeyObject is still not one: only objects are taken for keys.
      const lookalike = Object.assign(() => undefined, {
        type: 'public',
        export: () => jwkOf(p256()).publicKey,
      })
      for (const value of [null, 42, true, lookalike]) {
        const expected =
          engine === 'node'
            ? 'expected a PEM string, JWK object, KeyObject or CryptoKey'
            : 'expected a PEM string, JWK object or CryptoKey'
        const priv = await refusal(engine, { algorithm: 'ES256', privateKey: value })
        expect(priv.message).toBe(`privateKey: ${expected}`)
        const pub = await refusal(engine, { algorithm: 'ES256', publicKey: value })
        expect(pub.message).toBe(`publicKey: ${expected}`)
      }
    })

    it(`${engine}: a symmetric (oct) JWK given as an asymmetric key`, async () => {
      const oct = { kty: 'oct', k: Buffer.alloc(32, 7).toString('base64url') }
      for (const name of ['privateKey', 'publicKey']) {
        const err = await refusal(engine, { algorithm: 'ES256', [name]: oct })
        expect(err.message).toBe(`${name}: a symmetric (oct) JWK is not an asymmetric key`)
      }
    })

    it(`${engine}: a public JWK given as the private key`, async () => {
      const err = await refusal(engine, { algorithm: 'ES256', privateKey: jwkOf(p256()).publicKey })
      expect(err.message).toBe('privateKey: expected a private key, got a public key')
    })

    it(`${engine}: a public JWK with a stray private member given as the private key`, async () => {
      // `p` makes it look private, but without `d` it imports as a public key (or not at all).
      const err = await refusal(engine, {
        algorithm: 'ES256',
        privateKey: { ...jwkOf(p256()).publicKey, p: 'AQAB' },
      })
      expect(err.message).toBe(
        engine === 'node'
          ? 'privateKey: could not be imported as a private key'
          : 'privateKey: expected a private key, got a public key',
      )
    })

    it(`${engine}: a private PEM given as the public key`, async () => {
      const err = await refusal(engine, { algorithm: 'RS256', publicKey: pemOf(rsa()).privateKey })
      expect(err.message).toBe('publicKey: holds a private key; give the public key')
    })

    it(`${engine}: material that cannot be parsed keeps the parser's error as its cause`, async () => {
      const garbage = '-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----\n'
      const err = await refusal(engine, { algorithm: 'ES256', privateKey: garbage })
      expect(err.message).toMatch(/^privateKey: could not be imported as a private key/)
      expect(err.cause).toBeInstanceOf(Error)
    })

    it(`${engine}: an RSA key under 2048 bits, with its size`, async () => {
      const err = await refusal(engine, { algorithm: 'RS256', ...pemOf(keyPair('rsa1024')) })
      expect(err.message).toBe('privateKey: RSA keys must be at least 2048 bits, got 1024')
    })

    it(`${engine}: accepts a JWK object without a prototype, as a plain one`, async () => {
      const bare = (jwk: object) => Object.assign(Object.create(null), jwk)
      const { privateKey, publicKey } = jwkOf(p256())
      await works(onEngine(engine, { algorithm: 'ES256', privateKey: bare(privateKey) }))
      await works(
        onEngine(engine, { algorithm: 'ES256', privateKey: bare(privateKey), publicKey: bare(publicKey) }),
      )
    })

    it(`${engine}: refuses Ed448 and X25519 keys for EdDSA`, async () => {
      for (const kind of ['ed448', 'x25519'] as const) {
        const pair = generateKeyPairSync(kind as 'ed448')
        const err = await refusal(engine, { algorithm: 'EdDSA', publicKey: spki(pair.publicKey) })
        expect(err.message).toMatch(/^publicKey: /)
        if (engine === 'node') expect(err.message).toMatch(/EdDSA needs an Ed25519 key, got /)
      }
    })
  }
})

describe('security: the jose engine refuses key material of the wrong kind in the constructor', () => {
  // The node engine parses keys in the constructor; the jose engine cannot (Web Crypto is
  // asynchronous), so what can be judged without parsing is checked there synchronously.
  it('a private PEM, JWK or CryptoKey where the public key goes, a public one where the private goes', async () => {
    const pair = keyPairFor('ES256')
    const jwk = jwkOf(pair)
    const web = await cryptoKeysOf('ES256', pair)
    const cases: [Record<string, unknown>, string][] = [
      [{ publicKey: pemOf(pair).privateKey }, 'publicKey: holds a private key; give the public key'],
      [{ publicKey: jwk.privateKey }, 'publicKey: holds private key material; give the public key'],
      [{ privateKey: jwk.publicKey }, 'privateKey: expected a private key, got a public key'],
      [{ publicKey: web.privateKey }, 'publicKey: expected a public key, got a private key'],
      [{ privateKey: web.publicKey }, 'privateKey: expected a private key, got a public key'],
    ]
    for (const [keys, message] of cases) {
      expect(constructorRefusal('jose', { algorithm: 'ES256', ...keys }).message).toBe(message)
    }
  })
})

describe('security: key shapes refused by the node engine, with the reason', () => {
  it('an EC key for a PS algorithm, an RSA key for an ES algorithm, a curve of another size', () => {
    expect(constructorRefusal('node', { algorithm: 'PS256', ...pemOf(p256()) }).message).toBe(
      'privateKey: PS256 needs an RSA key, got EC',
    )
    expect(constructorRefusal('node', { algorithm: 'ES256', ...pemOf(rsa()) }).message).toBe(
      'privateKey: ES256 needs an EC key, got RSA',
    )
    expect(constructorRefusal('node', { algorithm: 'ES256', ...pemOf(keyPair('p384')) }).message).toBe(
      'privateKey: ES256 needs curve P-256, got P-384',
    )
  })

  it('an RSA-PSS key restricted to another hash or another MGF1 hash', async () => {
    // Hash SHA-256, MGF1 with SHA-384: fits neither PS256 (MGF1) nor PS384 (hash).
    const mixed = generateKeyPairSync('rsa-pss', {
      modulusLength: 2048,
      hashAlgorithm: 'sha256',
      mgf1HashAlgorithm: 'sha384',
    })
    const pem = { privateKey: pkcs8(mixed.privateKey), publicKey: spki(mixed.publicKey) }
    expect(constructorRefusal('node', { algorithm: 'PS256', ...pem }).message).toBe(
      'privateKey: this RSA-PSS key is restricted to sha256; PS256 needs sha256',
    )
    expect(constructorRefusal('node', { algorithm: 'PS384', ...pem }).message).toBe(
      'privateKey: this RSA-PSS key is restricted to sha256; PS384 needs sha384',
    )
    expect(constructorRefusal('node', { algorithm: 'PS256', publicKey: pem.publicKey }).message).toBe(
      'publicKey: this RSA-PSS key is restricted to sha256; PS256 needs sha256',
    )
  })
})

describe('security: CryptoKeys and PEM text on the jose engine', () => {
  it('asks for the public key next to a private CryptoKey that cannot be exported', async () => {
    const { privateKey, publicKey } = await cryptoKeysOf('ES256', p256(), { extractable: false })
    const err = await refusal('jose', { algorithm: 'ES256', privateKey })
    expect(err.message).toBe('publicKey: required with a non-extractable privateKey')
    await works(onEngine('jose', { algorithm: 'ES256', privateKey, publicKey }))
  })

  it('takes a public CryptoKey that cannot be exported, next to a private key', async () => {
    // Nothing to compare the private key with and nothing to publish: no thumbprint, no JWKS entry.
    const pair = p256()
    const spkiDer = Uint8Array.from(pair.publicKey.export({ format: 'der', type: 'spki' }))
    const publicKey = await globalThis.crypto.subtle.importKey(
      'spki',
      spkiDer,
      { name: 'ECDSA', namedCurve: 'P-256' },
      false,
      ['verify'],
    )
    const auth = onEngine('jose', { algorithm: 'ES256', privateKey: pemOf(pair).privateKey, publicKey })
    await works(auth)
    expect(await auth.jwks()).toEqual({ keys: [] })
  })

  it('takes PEM text with blank lines and spaces around it', async () => {
    const { privateKey, publicKey } = pemOf(rsa())
    const padded = (pem: string) => `\n  ${pem}\n\n`
    await works(onEngine('jose', { algorithm: 'RS256', privateKey: padded(privateKey) }))
    await works(
      onEngine('jose', { algorithm: 'RS256', privateKey: padded(privateKey), publicKey: padded(publicKey) }),
    )
  })
})

function spki(key: KeyObject): string {
  return key.export({ format: 'pem', type: 'spki' }) as string
}

function pkcs8(key: KeyObject): string {
  return key.export({ format: 'pem', type: 'pkcs8' }) as string
}
