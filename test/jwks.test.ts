import { createSign, generateKeyPairSync } from 'node:crypto'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { calculateJwkThumbprint, createLocalJWKSet, jwtVerify } from 'jose'
import { afterAll, describe, expect, it, vi } from 'vitest'
import { InvalidTokenError, StoreUnavailableError } from '../src/index.js'
import { ENGINES, onEngine, rejection } from './support/engines.js'
import {
  ASYMMETRIC_ALGORITHMS,
  HMAC_ALGORITHMS,
  jwkOf,
  keyOptions,
  keyPairFor,
  keysIn,
  pemOf,
  secretFor,
} from './support/keys.js'

// See test/algorithms.test.ts: hiding node:crypto makes `new AuthX()` pick the jose engine.
vi.mock('../src/core/runtime.js', async (orig) => {
  const mod = await orig<typeof import('../src/core/runtime.js')>()
  const { engineNow } = await import('./support/variant-setup.js')
  return { ...mod, nodeCrypto: () => (engineNow() === 'jose' ? undefined : mod.nodeCrypto()) }
})

/** JWK members that carry private or secret key material (RFC 7517, RFC 7518). */
const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k']

for (const engine of ENGINES) {
  describe(`auth.jwks() on the ${engine} engine`, () => {
    for (const alg of ASYMMETRIC_ALGORITHMS) {
      it(`${alg}: publishes only the public key, with kid, alg and use 'sig'`, async () => {
        const auth = onEngine(engine, keyOptions(alg))
        const { keys } = await auth.jwks()
        expect(keys).toHaveLength(1)
        const jwk = keys[0]!
        for (const member of PRIVATE_MEMBERS) expect(jwk).not.toHaveProperty(member)
        const expectedPublic = jwkOf(keyPairFor(alg)).publicKey
        expect(jwk).toMatchObject({ ...expectedPublic, alg, use: 'sig' })
        expect(jwk.kid).toBe(await calculateJwkThumbprint(expectedPublic, 'sha256'))

        // The published set is enough for a third party to verify the instance's tokens.
        const token = await auth.createAccessToken({ uid: 'u' })
        const { payload } = await jwtVerify(token, createLocalJWKSet({ keys }), { algorithms: [alg] })
        expect(payload.sub).toBe('u')
      })
    }

    it('never leaks private material, whichever form the private key was given in', async () => {
      for (const alg of ['RS256', 'ES384', 'EdDSA'] as const) {
        const privateJwk = jwkOf(keyPairFor(alg)).privateKey
        for (const form of ['pem', 'jwk', 'cryptokey'] as const) {
          const { privateKey } = await keysIn(form, alg)
          const json = JSON.stringify(await onEngine(engine, { algorithm: alg, privateKey }).jwks())
          expect(json).not.toContain(privateJwk.d!)
          for (const member of PRIVATE_MEMBERS) expect(json).not.toContain(`"${member}":`)
        }
      }
    })

    for (const alg of HMAC_ALGORITHMS) {
      it(`${alg}: the set is empty, so the secret is never published`, async () => {
        const auth = onEngine(engine, keyOptions(alg))
        expect(await auth.jwks()).toEqual({ keys: [] })
      })
    }

    it('an HMAC key set with kids still publishes nothing', async () => {
      const auth = onEngine(engine, {
        keys: [
          { kid: 'a', algorithm: 'HS256', secretKey: secretFor('HS256') },
          { kid: 'b', algorithm: 'HS512', secretKey: secretFor('HS512') },
        ],
      })
      expect(await auth.jwks()).toEqual({ keys: [] })
    })

    it('a key set publishes every key under its own kid and algorithm, verify-only keys included', async () => {
      const auth = onEngine(engine, {
        keys: [
          { kid: 'rsa', algorithm: 'PS256', ...pemOf(keyPairFor('PS256')) },
          { kid: 'ec', algorithm: 'ES256', publicKey: pemOf(keyPairFor('ES256')).publicKey },
          { kid: 'ed', algorithm: 'EdDSA', privateKey: pemOf(keyPairFor('EdDSA')).privateKey },
        ],
      })
      const { keys } = await auth.jwks()
      expect(keys.map((k) => [k.kid, k.alg, k.kty, k.use])).toEqual([
        ['rsa', 'PS256', 'RSA', 'sig'],
        ['ec', 'ES256', 'EC', 'sig'],
        ['ed', 'EdDSA', 'OKP', 'sig'],
      ])
      for (const jwk of keys) for (const member of PRIVATE_MEMBERS) expect(jwk).not.toHaveProperty(member)
    })

    it('changing a returned set does not change the next one', async () => {
      const auth = onEngine(engine, keyOptions('ES256'))
      const first = await auth.jwks()
      const kid = first.keys[0]!.kid
      try {
        first.keys[0]!.kid = 'tampered'
        ;(first.keys[0] as Record<string, unknown>).d = 'tampered'
      } catch {
        // A frozen JWK is fine too.
      }
      first.keys.push({ kty: 'oct', k: 'tampered' })
      expect((await auth.jwks()).keys).toEqual([expect.objectContaining({ kid })])
      expect((await auth.jwks()).keys[0]).not.toHaveProperty('d')
    })
  })
}

/** A local JWKS endpoint on 127.0.0.1 with a request counter; closed after the file's tests. */
interface JwksServer {
  url: string
  requests: number
  body: unknown
  status: number
  close(): Promise<void>
}

const servers: Server[] = []

async function startServer(body: unknown): Promise<JwksServer> {
  const state = { requests: 0, body, status: 200 }
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    state.requests++
    if (req.url !== '/.well-known/jwks.json') {
      res.writeHead(404).end()
      return
    }
    res.writeHead(state.status, { 'content-type': 'application/json' }).end(JSON.stringify(state.body))
  })
  servers.push(server)
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  const result: JwksServer = {
    url: `http://127.0.0.1:${port}/.well-known/jwks.json`,
    get requests() {
      return state.requests
    },
    get body() {
      return state.body
    },
    set body(value: unknown) {
      state.body = value
    },
    get status() {
      return state.status
    },
    set status(value: number) {
      state.status = value
    },
    close: () => close(server),
  }
  return result
}

function close(server: Server): Promise<void> {
  return new Promise((resolve) => {
    if (!server.listening) resolve()
    else server.close(() => resolve())
    server.closeAllConnections()
  })
}

afterAll(async () => {
  await Promise.all(servers.map(close))
})

for (const engine of ENGINES) {
  describe(`jwksUrl verify-only mode on the ${engine} engine`, () => {
    it('verifies tokens of a signing instance that publishes its JWKS, fetching the set once', async () => {
      const signer = onEngine(engine, {
        keys: [
          { kid: 'rsa-1', algorithm: 'RS256', ...pemOf(keyPairFor('RS256')) },
          { kid: 'ec-1', algorithm: 'ES256', ...pemOf(keyPairFor('ES256')) },
        ],
      })
      const ecSigner = onEngine(engine, { algorithm: 'ES256', ...pemOf(keyPairFor('ES256')), kid: 'ec-1' })
      const server = await startServer(await signer.jwks())
      const verifier = onEngine(engine, { jwksUrl: server.url, verify: { algorithms: ['RS256', 'ES256'] } })

      const rsToken = await signer.createAccessToken({ uid: 'alice', scopes: ['read'] })
      const payload = await verifier.verifyToken(rsToken, { scopes: ['read'] })
      expect(payload.sub).toBe('alice')
      expect((await verifier.verifyToken(await ecSigner.createAccessToken({ uid: 'bob' }))).sub).toBe('bob')
      expect((await verifier.verifyToken(await signer.createAccessToken({ uid: 'carol' }))).sub).toBe('carol')
      // The remote set is cached: one fetch for all three verifications.
      expect(server.requests).toBe(1)
    })

    it('a single-algorithm verifier accepts the algorithm it was given', async () => {
      const signer = onEngine(engine, keyOptions('EdDSA'))
      const server = await startServer(await signer.jwks())
      const verifier = onEngine(engine, { jwksUrl: new URL(server.url), algorithm: 'EdDSA' })
      expect((await verifier.verifyToken(await signer.createAccessToken({ uid: 'u' }))).sub).toBe('u')
    })

    it('refuses a token whose kid is not in the remote set (401, signature)', async () => {
      const signer = onEngine(engine, keyOptions('RS256'))
      const stranger = onEngine(engine, { ...keyOptions('RS256', 1), kid: 'unknown-kid' })
      const server = await startServer(await signer.jwks())
      const verifier = onEngine(engine, { jwksUrl: server.url, algorithm: 'RS256' })
      expect((await verifier.verifyToken(await signer.createAccessToken({ uid: 'u' }))).sub).toBe('u')

      const err = await rejection(verifier.verifyToken(await stranger.createAccessToken({ uid: 'u' })))
      expect(err).toBeInstanceOf(InvalidTokenError)
      expect(err).toMatchObject({ code: 'ERR_INVALID_TOKEN', status: 401, reason: 'signature' })
    })

    it('refuses a token signed by another key under a published kid (401, signature)', async () => {
      const signer = onEngine(engine, keyOptions('ES256'))
      const server = await startServer(await signer.jwks())
      const kid = (await signer.jwks()).keys[0]!.kid!
      const impostor = onEngine(engine, { ...keyOptions('ES256', 1), kid })
      const verifier = onEngine(engine, { jwksUrl: server.url, algorithm: 'ES256' })
      const err = await rejection(verifier.verifyToken(await impostor.createAccessToken({ uid: 'u' })))
      expect(err).toMatchObject({ code: 'ERR_INVALID_TOKEN', status: 401, reason: 'signature' })
    })

    it('refuses an algorithm the verifier was not configured for, even when the set has its key', async () => {
      const signer = onEngine(engine, keyOptions('ES256'))
      const server = await startServer(await signer.jwks())
      const verifier = onEngine(engine, { jwksUrl: server.url, algorithm: 'RS256' })
      const err = await rejection(verifier.verifyToken(await signer.createAccessToken({ uid: 'u' })))
      expect(err).toMatchObject({ code: 'ERR_INVALID_TOKEN', status: 401, reason: 'algorithm' })
      expect(server.requests).toBe(0)
    })

    it('answers StoreUnavailableError (503) when the JWKS server is down', async () => {
      const signer = onEngine(engine, keyOptions('RS256'))
      const server = await startServer(await signer.jwks())
      const url = server.url
      await server.close()
      const verifier = onEngine(engine, { jwksUrl: url, algorithm: 'RS256' })
      const err = await rejection(verifier.verifyToken(await signer.createAccessToken({ uid: 'u' })))
      expect(err).toBeInstanceOf(StoreUnavailableError)
      expect(err).toMatchObject({ code: 'ERR_STORE_UNAVAILABLE', status: 503 })
    })

    it('answers StoreUnavailableError (503) when the JWKS server fails, never accepting the token', async () => {
      const signer = onEngine(engine, keyOptions('RS256'))
      const server = await startServer({ error: 'boom' })
      server.status = 500
      const verifier = onEngine(engine, { jwksUrl: server.url, algorithm: 'RS256' })
      const err = await rejection(verifier.verifyToken(await signer.createAccessToken({ uid: 'u' })))
      expect(err).toBeInstanceOf(StoreUnavailableError)
      expect(err).toMatchObject({ code: 'ERR_STORE_UNAVAILABLE', status: 503 })
      expect(server.requests).toBeGreaterThan(0)
    })

    it('answers StoreUnavailableError (503) when the server sends something that is not a JWK set', async () => {
      const signer = onEngine(engine, keyOptions('RS256'))
      const server = await startServer({ not: 'a key set' })
      const verifier = onEngine(engine, { jwksUrl: server.url, algorithm: 'RS256' })
      const err = await rejection(verifier.verifyToken(await signer.createAccessToken({ uid: 'u' })))
      expect(err).toMatchObject({ code: 'ERR_STORE_UNAVAILABLE', status: 503 })
    })
  })
}

describe('jwksUrl: remote keys are held to the same rules as configured keys, and fetches are bounded', () => {
  /** A token signed by hand with a key authx would never accept as configuration. */
  function weakRsaToken(kid: string): { token: string; jwk: Record<string, unknown> } {
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 1024 })
    const enc = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url')
    const now = Math.floor(Date.now() / 1000)
    const input = `${enc({ alg: 'RS256', typ: 'JWT', kid })}.${enc({
      sub: 'u1',
      jti: 'j1',
      iat: now,
      nbf: now,
      exp: now + 600,
      type: 'access',
      fresh: false,
    })}`
    const signature = createSign('RSA-SHA256').update(input).sign(privateKey).toString('base64url')
    return {
      token: `${input}.${signature}`,
      jwk: { ...publicKey.export({ format: 'jwk' }), kid, alg: 'RS256', use: 'sig' },
    }
  }

  for (const engine of ENGINES) {
    it(`${engine}: refuses a token signed by a remote RSA key under 2048 bits`, async () => {
      const { token, jwk } = weakRsaToken('weak-1')
      const server = await startServer({ keys: [jwk] })
      const auth = onEngine(engine, { jwksUrl: server.url, algorithm: 'RS256' })
      const err = await auth.verifyToken(token).catch((e: unknown) => e)
      expect(err).toBeInstanceOf(InvalidTokenError)
      expect((err as InvalidTokenError).status).toBe(401)
    })

    it(`${engine}: a JWKS URL that never answers is a 503 within verify.jwksTimeoutMs`, async () => {
      const sockets: import('node:net').Socket[] = []
      const hole = createServer(() => {}) // accepts, never answers
      hole.on('connection', (socket) => sockets.push(socket))
      servers.push(hole)
      await new Promise<void>((resolve) => hole.listen(0, '127.0.0.1', resolve))
      const { port } = hole.address() as AddressInfo
      const signer = onEngine(engine, { algorithm: 'RS256', ...pemOf(keyPairFor('RS256')), kid: 'rs-1' })
      const token = await signer.createAccessToken({ uid: 'u1' })
      const auth = onEngine(engine, {
        jwksUrl: `http://127.0.0.1:${port}/jwks.json`,
        algorithm: 'RS256',
        verify: { jwksTimeoutMs: 300 },
      })
      const started = Date.now()
      await expect(auth.verifyToken(token)).rejects.toBeInstanceOf(StoreUnavailableError)
      expect(Date.now() - started).toBeLessThan(3000)
      for (const socket of sockets) socket.destroy()
    })
  }
})
