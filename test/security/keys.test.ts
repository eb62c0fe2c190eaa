/**
 * Security catalogue A08/A09 (kid handling) and J01-J05 (key configuration and rotation): keys
 * are found by `kid` only, with no try-every-key fallback, hostile kids find nothing and touch
 * neither the store nor the network, retired keys stop verifying, and weak or mismatched keys
 * are refused.
 */
import { generateKeyPairSync } from 'node:crypto'
import { afterEach, beforeEach, describe, expect, it, type MockInstance, vi } from 'vitest'
import { type AuthX, type AuthXStore, ConfigError, MemoryStore } from '../../src/index.js'
import {
  accessClaims,
  clock,
  ENGINES,
  ecKeys,
  edKeys,
  expectInvalid,
  forge,
  hmac,
  makeAuth,
  NOW_MS,
  OTHER_SECRET,
  pkcs8Pem,
  rejection,
  rsaKeys,
  SECRET,
  signer,
  spkiPem,
  thrown,
} from './forge.js'

vi.mock('../../src/core/runtime.js', async (orig) => {
  const mod = await orig<typeof import('../../src/core/runtime.js')>()
  const { engineNow } = await import('../support/variant-setup.js')
  return { ...mod, nodeCrypto: () => (engineNow() === 'jose' ? undefined : mod.nodeCrypto()) }
})

/** A store that counts every call, to prove rejected tokens never reach it. */
class CountingStore implements AuthXStore {
  calls = 0
  readonly #inner = new MemoryStore({ clock })
  get(keys: string[]): Promise<(string | null)[]> {
    this.calls++
    return this.#inner.get(keys)
  }
  set(key: string, value: string, ttl: number): Promise<void> {
    this.calls++
    return this.#inner.set(key, value, ttl)
  }
  setIfAbsent(key: string, value: string, ttl: number): Promise<boolean> {
    this.calls++
    return this.#inner.setIfAbsent(key, value, ttl)
  }
  delete(key: string): Promise<void> {
    this.calls++
    return this.#inner.delete(key)
  }
}

const HS = (kid: string, secretKey: string, retireAt?: Date) => ({
  kid,
  algorithm: 'HS256' as const,
  secretKey,
  ...(retireAt ? { retireAt } : {}),
})

describe.each(ENGINES)('security: kid handling (%s engine)', (engine) => {
  let fetchSpy: MockInstance<typeof fetch>
  beforeEach(() => {
    fetchSpy = vi.spyOn(globalThis, 'fetch').mockRejectedValue(new Error('no network in this test'))
  })
  afterEach(() => {
    fetchSpy.mockRestore()
  })

  const hostile: [string, unknown][] = [
    ['__proto__', '__proto__'],
    ['constructor', 'constructor'],
    ['toString', 'toString'],
    ['hasOwnProperty', 'hasOwnProperty'],
    ['valueOf', 'valueOf'],
    ['prototype', 'prototype'],
    ['__defineGetter__', '__defineGetter__'],
    ['../../dev/null', '../../dev/null'],
    ["' OR '1'='1", "' OR '1'='1"],
    ['k\\u0000', 'k\u0000'],
    ['current\\u0000', 'current\u0000'],
    ['CURRENT', 'CURRENT'],
    ["'current ' (trailing space)", 'current '],
    ["'' (empty)", ''],
    ['10 KB long', 'k'.repeat(10_240)],
    ['a URL', 'https://attacker.example/key.json'],
    ['the number 123', 123],
    ['the number 0', 0],
    ['an object', {}],
    ["an object with toString 'current'", { toString: 'current' }],
    ['an empty array', []],
    ["['current']", ['current']],
    ['null', null],
    ['true', true],
  ]

  function verifiers(store: AuthXStore, isRevoked: () => boolean): [string, AuthX][] {
    const common = { store, revocation: { isRevoked }, verify: { maxTokenBytes: 65_536 } }
    return [
      [
        'a two-key set',
        makeAuth({ ...common, keys: [HS('current', SECRET), HS('previous', OTHER_SECRET)] }, engine),
      ],
      ['a one-key set', makeAuth({ ...common, keys: [HS('current', SECRET)] }, engine)],
      ["a single key with kid 'current'", makeAuth({ ...common, secretKey: SECRET, kid: 'current' }, engine)],
    ]
  }

  for (const [name, kid] of hostile) {
    it(`rejects kid ${name} on a correctly MACed token, without store, callback or network calls`, async () => {
      const store = new CountingStore()
      const isRevoked = vi.fn(() => false)
      for (const [, auth] of verifiers(store, isRevoked)) {
        const token = forge({ alg: 'HS256', typ: 'JWT', kid }, accessClaims(), hmac('HS256', SECRET))
        await expectInvalid(auth.decodeToken(token), ['signature', 'malformed'], token)
        await expectInvalid(auth.verifyToken(token), ['signature', 'malformed'], token)
        // Control: the same token with the right kid passes and does reach the store.
        const control = forge(
          { alg: 'HS256', typ: 'JWT', kid: 'current' },
          accessClaims(),
          hmac('HS256', SECRET),
        )
        expect(store.calls).toBe(0)
        expect(isRevoked).not.toHaveBeenCalled()
        expect((await auth.verifyToken(control)).sub).toBe('user-1')
        expect(store.calls).toBeGreaterThan(0)
        store.calls = 0
        isRevoked.mockClear()
      }
      expect(fetchSpy).not.toHaveBeenCalled()
    })
  }

  it('rejects an unknown kid and leaves Object.prototype alone', async () => {
    const auth = makeAuth({ keys: [HS('current', SECRET), HS('previous', OTHER_SECRET)] }, engine)
    for (const secret of [SECRET, OTHER_SECRET]) {
      const token = forge({ alg: 'HS256', typ: 'JWT', kid: 'unknown' }, accessClaims(), hmac('HS256', secret))
      await expectInvalid(auth.decodeToken(token), 'signature', token)
    }
    expect(({} as Record<string, unknown>).alg).toBeUndefined()
  })
})

describe.each(ENGINES)('security: key rotation (%s engine)', (engine) => {
  const retireAt = new Date(NOW_MS + 60_000)
  let now = NOW_MS
  const movingClock = () => now
  afterEach(() => {
    now = NOW_MS
  })

  const oldSigner = makeAuth({ keys: [HS('old', OTHER_SECRET)], accessTokenExpires: '1h' }, engine)
  const newSigner = makeAuth({ keys: [HS('new', SECRET)], accessTokenExpires: '1h' }, engine)

  it('accepts a token of a key before its retireAt and rejects it from retireAt on (J04)', async () => {
    const auth = makeAuth(
      {
        clock: movingClock,
        accessTokenExpires: '1h',
        keys: [HS('new', SECRET), HS('old', OTHER_SECRET, retireAt)],
      },
      engine,
    )
    const oldToken = await oldSigner.createAccessToken({ uid: 'user-1' })
    const newToken = await newSigner.createAccessToken({ uid: 'user-1' })
    for (const at of [NOW_MS, retireAt.getTime() - 1]) {
      now = at
      expect((await auth.verifyToken(oldToken)).sub).toBe('user-1')
    }
    for (const at of [retireAt.getTime(), retireAt.getTime() + 1000]) {
      now = at
      await expectInvalid(auth.decodeToken(oldToken), 'signature', oldToken)
      await expectInvalid(auth.verifyToken(oldToken), 'signature', oldToken)
      expect((await auth.verifyToken(newToken)).sub).toBe('user-1')
    }
  })

  it('signs with the first key that is not retired, and refuses to sign when all are', async () => {
    const auth = makeAuth(
      { clock: movingClock, keys: [HS('a', SECRET, retireAt), HS('b', OTHER_SECRET)] },
      engine,
    )
    expect(auth.decodeUnverified(await auth.createAccessToken({ uid: 'u' })).header.kid).toBe('a')
    now = retireAt.getTime()
    expect(auth.decodeUnverified(await auth.createAccessToken({ uid: 'u' })).header.kid).toBe('b')
    const retired = makeAuth({ clock: movingClock, keys: [HS('a', SECRET, retireAt)] }, engine)
    expect(await rejection(retired.createAccessToken({ uid: 'u' }))).toBeInstanceOf(ConfigError)
  })

  it('drops a retired asymmetric key from the published key set', async () => {
    const auth = makeAuth(
      {
        clock: movingClock,
        keys: [
          { kid: 'new', algorithm: 'ES256', privateKey: pkcs8Pem(ecKeys().privateKey) },
          {
            kid: 'old',
            algorithm: 'ES256',
            publicKey: spkiPem(generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey),
            retireAt,
          },
        ],
      },
      engine,
    )
    expect((await auth.jwks()).keys.map((k) => k.kid)).toEqual(['new', 'old'])
    now = retireAt.getTime()
    expect((await auth.jwks()).keys.map((k) => k.kid)).toEqual(['new'])
  })

  it('rejects a removed kid, a kid with the other key MAC, and no try-every-key fallback (J05)', async () => {
    const current = makeAuth({ keys: [HS('new', SECRET)] }, engine)
    const oldToken = await oldSigner.createAccessToken({ uid: 'user-1' })
    await expectInvalid(current.decodeToken(oldToken), 'signature', oldToken)

    const both = makeAuth({ keys: [HS('new', SECRET), HS('old', OTHER_SECRET)] }, engine)
    expect((await both.decodeToken(oldToken)).sub).toBe('user-1')
    for (const [kid, secret] of [
      ['new', OTHER_SECRET],
      ['old', SECRET],
    ] as const) {
      const token = forge({ alg: 'HS256', typ: 'JWT', kid }, accessClaims(), hmac('HS256', secret))
      await expectInvalid(both.decodeToken(token), 'signature', token)
    }
  })

  it('rejects a token without kid while several keys exist, and accepts it with exactly one', async () => {
    const both = makeAuth({ keys: [HS('new', SECRET), HS('old', OTHER_SECRET)] }, engine)
    for (const secret of [SECRET, OTHER_SECRET]) {
      const token = forge({ alg: 'HS256', typ: 'JWT' }, accessClaims(), hmac('HS256', secret))
      await expectInvalid(both.decodeToken(token), 'signature', token)
      await expectInvalid(both.verifyToken(token), 'signature', token)
    }
    const one = makeAuth({ keys: [HS('new', SECRET)] }, engine)
    const noKid = forge({ alg: 'HS256', typ: 'JWT' }, accessClaims(), hmac('HS256', SECRET))
    expect((await one.decodeToken(noKid)).sub).toBe('user-1')
    const single = makeAuth({ secretKey: SECRET, kid: 'main' }, engine)
    expect((await single.decodeToken(noKid)).sub).toBe('user-1')
    const otherKid = forge({ alg: 'HS256', typ: 'JWT', kid: 'other' }, accessClaims(), hmac('HS256', SECRET))
    await expectInvalid(single.decodeToken(otherKid), 'signature', otherKid)
  })

  it('binds each kid to its one algorithm in a mixed RS256/ES256 key set', async () => {
    const rsa = rsaKeys()
    const ec = ecKeys()
    const auth = makeAuth(
      {
        keys: [
          { kid: 'rs', algorithm: 'RS256', privateKey: pkcs8Pem(rsa.privateKey) },
          { kid: 'es', algorithm: 'ES256', privateKey: pkcs8Pem(ec.privateKey) },
        ],
      },
      engine,
    )
    const control = forge(
      { alg: 'ES256', typ: 'JWT', kid: 'es' },
      accessClaims(),
      signer('ES256', ec.privateKey),
    )
    expect((await auth.decodeToken(control)).sub).toBe('user-1')
    const forged = [
      forge({ alg: 'ES256', typ: 'JWT', kid: 'rs' }, accessClaims(), signer('ES256', ec.privateKey)),
      forge({ alg: 'RS256', typ: 'JWT', kid: 'es' }, accessClaims(), signer('RS256', rsa.privateKey)),
      forge({ alg: 'PS256', typ: 'JWT', kid: 'rs' }, accessClaims(), signer('PS256', rsa.privateKey)),
      forge({ alg: 'HS256', typ: 'JWT', kid: 'rs' }, accessClaims(), hmac('HS256', spkiPem(rsa.publicKey))),
    ]
    for (const token of forged) await expectInvalid(auth.decodeToken(token), 'algorithm', token)
  })
})

describe('security: key configuration', () => {
  function expectConfigError(options: Parameters<typeof makeAuth>[0]): void {
    expect(thrown(() => makeAuth(options))).toBeInstanceOf(ConfigError)
  }

  /**
   * For key material that must be parsed to be judged. The node engine refuses it in the
   * constructor; the jose engine imports key material asynchronously (src/core/keys.ts), so there
   * the refusal may come at the first call that needs the keys (makeAuth runs on the suite
   * variant's engine, test/support/variant-setup.ts).
   */
  async function expectKeyRefused(options: Parameters<typeof makeAuth>[0]): Promise<void> {
    let auth: AuthX
    try {
      auth = makeAuth(options)
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError)
      return
    }
    expect(auth.engine, 'only the jose engine may refuse a key after construction').toBe('jose')
    expect(await rejection(auth.jwks())).toBeInstanceOf(ConfigError)
  }

  it('refuses HMAC secrets shorter than the hash output, and accepts exactly that length (J01)', () => {
    for (const [algorithm, min] of [
      ['HS256', 32],
      ['HS384', 48],
      ['HS512', 64],
    ] as const) {
      expectConfigError({ algorithm, secretKey: 'k'.repeat(min - 1) })
      expectConfigError({ algorithm, secretKey: new Uint8Array(min - 1).fill(7) })
      expectConfigError({ keys: [{ kid: 'a', algorithm, secretKey: 'k'.repeat(min - 1) }] })
      expect(makeAuth({ algorithm, secretKey: 'k'.repeat(min) }).config.algorithms).toEqual([algorithm])
      expect(makeAuth({ algorithm, secretKey: new Uint8Array(min).fill(7) }).config.algorithms).toEqual([
        algorithm,
      ])
    }
    // Bytes, not characters: 15 'é' are 30 UTF-8 bytes, 16 are 32.
    expectConfigError({ secretKey: 'é'.repeat(15) })
    expect(makeAuth({ secretKey: 'é'.repeat(16) }).config.algorithms).toEqual(['HS256'])
  })

  it('refuses an empty, blank, missing or non-string HMAC secret (J01)', () => {
    for (const secretKey of ['', ' '.repeat(64), '\t\n'.repeat(32), new Uint8Array(0), 42, null, {}]) {
      expectConfigError({ secretKey: secretKey as string })
    }
    expectConfigError({})
    expectConfigError({ algorithm: 'HS256' })
  })

  it('refuses RSA keys under 2048 bits and EC curves that do not match the algorithm (J02)', async () => {
    const rsa1024 = generateKeyPairSync('rsa', { modulusLength: 1024 })
    const p384 = generateKeyPairSync('ec', { namedCurve: 'P-384' })
    const p256 = ecKeys()
    const ed = edKeys()
    const rsa = rsaKeys()
    const cases: [
      string,
      {
        privateKey: ReturnType<typeof generateKeyPairSync>['privateKey']
        publicKey: ReturnType<typeof generateKeyPairSync>['publicKey']
      },
    ][] = [
      ['RS256', rsa1024],
      ['PS256', rsa1024],
      ['ES256', p384],
      ['ES384', p256],
      ['ES512', p384],
      ['RS256', p256],
      ['ES256', rsa],
      ['EdDSA', p256],
      ['ES256', ed],
      ['EdDSA', rsa],
    ]
    for (const [algorithm, pair] of cases) {
      await expectKeyRefused({ algorithm: algorithm as 'RS256', publicKey: spkiPem(pair.publicKey) })
      await expectKeyRefused({ algorithm: algorithm as 'RS256', privateKey: pkcs8Pem(pair.privateKey) })
      await expectKeyRefused({ algorithm: algorithm as 'RS256', publicKey: pair.publicKey })
      await expectKeyRefused({
        keys: [{ kid: 'k', algorithm: algorithm as 'RS256', privateKey: pkcs8Pem(pair.privateKey) }],
      })
    }
  })

  it('refuses the wrong kind of key for the algorithm or the option (J03)', async () => {
    const rsa = rsaKeys()
    const other = generateKeyPairSync('rsa', { modulusLength: 2048 })
    const publicPem = spkiPem(rsa.publicKey)
    const privatePem = pkcs8Pem(rsa.privateKey)
    const privateJwk = rsa.privateKey.export({ format: 'jwk' })
    const publicJwk = rsa.publicKey.export({ format: 'jwk' })
    // Refused from the options alone: in the constructor, on either engine.
    for (const options of [
      { algorithm: 'HS256' as const, publicKey: publicPem },
      { algorithm: 'HS256' as const, secretKey: SECRET, publicKey: publicPem },
      { algorithm: 'HS256' as const, privateKey: privatePem },
      { algorithm: 'RS256' as const, secretKey: SECRET },
      { algorithm: 'RS256' as const, secretKey: publicPem },
      { algorithm: 'RS256' as const },
    ]) {
      expectConfigError(options as Parameters<typeof makeAuth>[0])
    }
    // Refused once the key material is parsed.
    for (const options of [
      { algorithm: 'RS256' as const, publicKey: privatePem },
      { algorithm: 'RS256' as const, privateKey: publicPem },
      { algorithm: 'RS256' as const, publicKey: privateJwk },
      { algorithm: 'RS256' as const, privateKey: publicJwk },
      {
        algorithm: 'RS256' as const,
        publicKey: { kty: 'oct', k: Buffer.from(SECRET).toString('base64url') },
      },
      { algorithm: 'RS256' as const, privateKey: rsa.publicKey },
      { algorithm: 'RS256' as const, publicKey: rsa.privateKey },
      { algorithm: 'RS256' as const, privateKey: privatePem, publicKey: spkiPem(other.publicKey) },
      { algorithm: 'RS256' as const, publicKey: 'not a key' },
    ]) {
      await expectKeyRefused(options as Parameters<typeof makeAuth>[0])
    }
  })

  it('refuses a key set that mixes HMAC with asymmetric algorithms, repeats a kid, or lacks one (A07)', () => {
    const rsaPem = pkcs8Pem(rsaKeys().privateKey)
    expectConfigError({ keys: [HS('h', SECRET), { kid: 'r', algorithm: 'RS256', privateKey: rsaPem }] })
    expectConfigError({ keys: [HS('a', SECRET), HS('a', OTHER_SECRET)] })
    expectConfigError({ keys: [{ algorithm: 'HS256', secretKey: SECRET } as never] })
    expectConfigError({ keys: [] })
    expectConfigError({ keys: [HS('a', SECRET)], secretKey: SECRET })
    expectConfigError({ keys: [HS('a', SECRET)], retireAt: new Date() } as never)
    expectConfigError({ keys: [{ ...HS('a', SECRET), retireAt: 'tomorrow' } as never] })
  })

  it('refuses a too-short HMAC secret at construction on the jose engine too', () => {
    for (const secretKey of ['k'.repeat(31), '', ' '.repeat(40)]) {
      expect(thrown(() => makeAuth({ secretKey }, 'jose'))).toBeInstanceOf(ConfigError)
    }
  })

  it('never accepts a token on the jose engine when an asymmetric key is refused after construction', async () => {
    const rsa1024 = generateKeyPairSync('rsa', { modulusLength: 1024 })
    const auth = makeAuth({ algorithm: 'RS256', publicKey: spkiPem(rsa1024.publicKey) }, 'jose')
    const token = forge({ alg: 'RS256', typ: 'JWT' }, accessClaims(), signer('RS256', rsa1024.privateKey))
    expect(await rejection(auth.decodeToken(token))).toBeInstanceOf(ConfigError)
    expect(await rejection(auth.verifyToken(token))).toBeInstanceOf(ConfigError)
  })
})
