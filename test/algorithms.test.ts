import { describe, expect, it, vi } from 'vitest'
import { type AuthX, InvalidTokenError } from '../src/index.js'
import { ENGINES, onEngine, rejection } from './support/engines.js'
import {
  ASYMMETRIC_ALGORITHMS,
  type AsymmetricAlg,
  flipSignatureBit,
  HMAC_ALGORITHMS,
  KEY_FORMS,
  keyOptions,
  keyPairFor,
  keysIn,
  pemOf,
  replacePayload,
  secretFor,
  segment,
  signToken,
} from './support/keys.js'

// The jose engine is what runs where node:crypto is absent. Hiding node:crypto from the runtime
// module while FORCE_JOSE is set makes `new AuthX()` pick it on Node.
vi.mock('../src/core/runtime.js', async (orig) => {
  const mod = await orig<typeof import('../src/core/runtime.js')>()
  const { engineNow } = await import('./support/variant-setup.js')
  return { ...mod, nodeCrypto: () => (engineNow() === 'jose' ? undefined : mod.nodeCrypto()) }
})

async function expectInvalid(promise: Promise<unknown>, reason: string): Promise<void> {
  const err = await rejection(promise)
  expect(err).toBeInstanceOf(InvalidTokenError)
  expect(err).toMatchObject({ code: 'ERR_INVALID_TOKEN', status: 401, reason })
}

/**
 * Signs access and refresh tokens with `signer`, verifies them with `verifier`, and checks that
 * a flipped signature bit and a swapped payload are both refused.
 */
async function roundTrip(signer: AuthX, verifier: AuthX, alg: string): Promise<void> {
  const token = await signer.createAccessToken({
    uid: 'user-1',
    fresh: true,
    scopes: ['orders:*'],
    data: { role: 'admin' },
  })
  expect(segment(token, 0)).toMatchObject({ alg, typ: 'JWT' })
  const payload = await verifier.verifyToken(token, { fresh: true, scopes: ['orders:read'] })
  expect(payload.sub).toBe('user-1')
  expect(payload.type).toBe('access')
  expect(payload.extra).toEqual({ role: 'admin' })

  const refresh = await signer.createRefreshToken({ uid: 'user-1' })
  expect((await verifier.verifyToken(refresh, { type: 'refresh' })).type).toBe('refresh')

  await expectInvalid(verifier.verifyToken(flipSignatureBit(token)), 'signature')
  await expectInvalid(
    verifier.verifyToken(replacePayload(token, { ...segment(token, 1), sub: 'attacker' })),
    'signature',
  )
}

for (const engine of ENGINES) {
  describe(`round trip on the ${engine} engine`, () => {
    for (const alg of HMAC_ALGORITHMS) {
      it(`${alg} signs and verifies with a string secret`, async () => {
        const auth = onEngine(engine, { algorithm: alg, secretKey: secretFor(alg) })
        await roundTrip(auth, auth, alg)
      })

      it(`${alg} signs and verifies with a Uint8Array secret, interchangeable with the same string`, async () => {
        const bytes = new TextEncoder().encode(secretFor(alg))
        const fromBytes = onEngine(engine, { algorithm: alg, secretKey: bytes })
        const fromString = onEngine(engine, { algorithm: alg, secretKey: secretFor(alg) })
        await roundTrip(fromBytes, fromBytes, alg)
        await roundTrip(fromBytes, fromString, alg)
      })

      it(`${alg} refuses tokens signed with another secret`, async () => {
        const signer = onEngine(engine, { algorithm: alg, secretKey: secretFor(alg, 1) })
        const verifier = onEngine(engine, { algorithm: alg, secretKey: secretFor(alg) })
        await expectInvalid(verifier.verifyToken(await signer.createAccessToken({ uid: 'u' })), 'signature')
      })
    }

    for (const alg of ASYMMETRIC_ALGORITHMS) {
      for (const form of KEY_FORMS) {
        it(`${alg} signs and verifies with keys given as ${form}, and a ${form} public key alone verifies`, async () => {
          const keys = await keysIn(form, alg)
          const signer = onEngine(engine, { algorithm: alg, ...keys })
          const verifyOnly = onEngine(engine, { algorithm: alg, publicKey: keys.publicKey })
          await roundTrip(signer, signer, alg)
          await roundTrip(signer, verifyOnly, alg)
        })
      }

      it(`${alg} signs with a private key alone, deriving the public key`, async () => {
        const auth = onEngine(engine, { algorithm: alg, privateKey: pemOf(keyPairFor(alg)).privateKey })
        await roundTrip(auth, auth, alg)
      })

      it(`${alg} refuses tokens signed with another key of the same kind`, async () => {
        const signer = onEngine(engine, { algorithm: alg, ...pemOf(keyPairFor(alg, 1)), kid: 'k' })
        const verifier = onEngine(engine, {
          algorithm: alg,
          publicKey: pemOf(keyPairFor(alg)).publicKey,
          kid: 'k',
        })
        await expectInvalid(verifier.verifyToken(await signer.createAccessToken({ uid: 'u' })), 'signature')
      })
    }
  })
}

describe('differential: the node and jose engines agree', () => {
  for (const alg of [...HMAC_ALGORITHMS, ...ASYMMETRIC_ALGORITHMS]) {
    it(`${alg}: a token signed on either engine verifies on the other, with the same header`, async () => {
      const options = keyOptions(alg)
      const node = onEngine('node', options)
      const jose = onEngine('jose', options)
      const fromNode = await node.createAccessToken({ uid: 'from-node', data: { n: 1 } })
      const fromJose = await jose.createAccessToken({ uid: 'from-jose', data: { n: 2 } })

      expect(segment(fromNode, 0)).toEqual(segment(fromJose, 0))
      expect((await jose.verifyToken(fromNode)).sub).toBe('from-node')
      expect((await node.verifyToken(fromJose)).sub).toBe('from-jose')
      expect((await jose.verifyToken(fromNode)).extra).toEqual({ n: 1 })
      expect((await node.verifyToken(fromJose)).extra).toEqual({ n: 2 })

      await expectInvalid(jose.verifyToken(flipSignatureBit(fromNode)), 'signature')
      await expectInvalid(node.verifyToken(flipSignatureBit(fromJose)), 'signature')
    })
  }

  for (const alg of ASYMMETRIC_ALGORITHMS) {
    it(`${alg}: keys given as JWK publish the same kid and verify each other's tokens on both engines`, async () => {
      const keys = await keysIn('jwk', alg)
      const node = onEngine('node', { algorithm: alg, ...keys })
      const jose = onEngine('jose', { algorithm: alg, ...keys })
      expect((await node.jwks()).keys).toEqual((await jose.jwks()).keys)
      expect((await node.verifyToken(await jose.createAccessToken({ uid: 'j' }))).sub).toBe('j')
      expect((await jose.verifyToken(await node.createAccessToken({ uid: 'n' }))).sub).toBe('n')
    })
  }

  it('a token from an independent node:crypto signer verifies on both engines for every algorithm', async () => {
    const now = Math.floor(Date.now() / 1000)
    for (const alg of [...HMAC_ALGORITHMS, ...ASYMMETRIC_ALGORITHMS]) {
      const key = alg.startsWith('HS')
        ? secretFor(alg as (typeof HMAC_ALGORITHMS)[number])
        : keyPairFor(alg as AsymmetricAlg).privateKey
      const token = signToken(
        alg,
        key,
        { alg, typ: 'JWT' },
        { sub: alg, jti: crypto.randomUUID(), iat: now, exp: now + 60, type: 'access' },
      )
      for (const engine of ENGINES) {
        expect((await onEngine(engine, keyOptions(alg)).verifyToken(token)).sub).toBe(alg)
      }
    }
  })
})

describe('security: algorithm confusion', () => {
  for (const engine of ENGINES) {
    it(`an RS256 instance on the ${engine} engine refuses an HS256 token keyed with its own public key`, async () => {
      const { publicKey } = pemOf(keyPairFor('RS256'))
      const auth = onEngine(engine, { algorithm: 'RS256', publicKey })
      const now = Math.floor(Date.now() / 1000)
      const forged = signToken(
        'HS256',
        publicKey,
        { alg: 'HS256', typ: 'JWT' },
        { sub: 'attacker', jti: 'j', iat: now, exp: now + 60, type: 'access' },
      )
      await expectInvalid(auth.verifyToken(forged), 'algorithm')
    })

    it(`a key is bound to its one algorithm on the ${engine} engine: a PS256 signature under an RS256 kid is refused`, async () => {
      const rsKey = keyPairFor('RS256')
      const auth = onEngine(engine, {
        keys: [
          { kid: 'rs', algorithm: 'RS256', publicKey: pemOf(rsKey).publicKey },
          { kid: 'ps', algorithm: 'PS256', publicKey: pemOf(keyPairFor('PS256', 1)).publicKey },
        ],
      })
      const now = Math.floor(Date.now() / 1000)
      const forged = signToken(
        'PS256',
        rsKey.privateKey,
        { alg: 'PS256', typ: 'JWT', kid: 'rs' },
        { sub: 'attacker', jti: 'j', iat: now, exp: now + 60, type: 'access' },
      )
      await expectInvalid(auth.verifyToken(forged), 'algorithm')
    })

    it(`an ES256 signature in DER form or made of zero bytes is refused on the ${engine} engine`, async () => {
      const auth = onEngine(engine, keyOptions('ES256'))
      const token = await auth.createAccessToken({ uid: 'u' })
      const [header, payload, signature] = token.split('.') as [string, string, string]
      const raw = Buffer.from(signature, 'base64url')
      // DER: SEQUENCE { INTEGER r, INTEGER s } with minimal positive integers.
      const derInt = (bytes: Buffer): Buffer => {
        let i = 0
        while (i < bytes.length - 1 && bytes[i] === 0) i++
        const body =
          bytes[i]! & 0x80 ? Buffer.concat([Buffer.from([0]), bytes.subarray(i)]) : bytes.subarray(i)
        return Buffer.concat([Buffer.from([0x02, body.length]), body])
      }
      const ints = Buffer.concat([derInt(raw.subarray(0, 32)), derInt(raw.subarray(32))])
      const der = Buffer.concat([Buffer.from([0x30, ints.length]), ints])
      await expectInvalid(auth.verifyToken(`${header}.${payload}.${der.toString('base64url')}`), 'signature')
      await expectInvalid(
        auth.verifyToken(`${header}.${payload}.${Buffer.alloc(64).toString('base64url')}`),
        'signature',
      )
      // The untouched token still verifies, so the refusals above are about the signatures.
      expect((await auth.verifyToken(token)).sub).toBe('u')
    })
  }
})
