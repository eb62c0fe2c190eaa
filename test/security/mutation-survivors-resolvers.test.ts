/**
 * Key lookup behaviours pinned down by mutation testing (docs/security.md, "Mutation testing"):
 * a single HMAC key without `kid` takes tokens whatever their `kid`, a remote key set that cannot
 * be read says so and keeps the cause, remote RSA keys under 2048 bits count as no key on both
 * engines alike, and a remote lookup is bounded by `verify.jwksTimeoutMs` without leaving a timer
 * or a stuck fetch behind. Remote sets are served by real HTTP servers on 127.0.0.1.
 */
import { generateKeyPairSync } from 'node:crypto'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest'
import { InvalidTokenError, StoreUnavailableError } from '../../src/index.js'
import { ENGINES, onEngine, rejection } from '../support/engines.js'
import { keyOptions, secretFor, segment, signToken } from '../support/keys.js'

// Hiding node:crypto from the constructor makes it pick the jose engine (test/support/engines.ts).
vi.mock('../../src/core/runtime.js', async (orig) => {
  const mod = await orig<typeof import('../../src/core/runtime.js')>()
  const { engineNow } = await import('../support/variant-setup.js')
  return { ...mod, nodeCrypto: () => (engineNow() === 'jose' ? undefined : mod.nodeCrypto()) }
})

const servers: Server[] = []

/** An HTTP server on 127.0.0.1 answering with `handler`; every server is closed after the file. */
async function serve(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<string> {
  const server = createServer(handler)
  servers.push(server)
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks.json`
}

/** A server that answers every request with the key set. */
function serveKeys(jwks: unknown): Promise<string> {
  return serve((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(jwks))
  })
}

afterEach(() => {
  vi.useRealTimers()
  vi.unstubAllGlobals()
})

afterAll(async () => {
  for (const server of servers) server.closeAllConnections()
  await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))))
})

describe('security: a single HMAC key without kid', () => {
  for (const engine of ENGINES) {
    it(`${engine}: takes a token whatever kid its header carries; a configured kid refuses others`, async () => {
      const auth = onEngine(engine, keyOptions('HS256'))
      const payload = segment(await auth.createAccessToken({ uid: 'u1' }), 1)
      const token = signToken('HS256', secretFor('HS256'), { alg: 'HS256', typ: 'JWT', kid: 'k-2' }, payload)
      expect((await auth.decodeToken(token)).sub).toBe('u1')

      const withKid = onEngine(engine, { ...keyOptions('HS256'), kid: 'k-1' })
      const err = await rejection(withKid.decodeToken(token))
      expect(err).toBeInstanceOf(InvalidTokenError)
      expect(err).toMatchObject({ reason: 'signature' })
    })
  }
})

describe('security: remote key sets', () => {
  /** A token signed by an RSA key of `bits` bits, and the public JWK that verifies it. */
  function rsaToken(alg: 'RS256' | 'PS256', bits: number, kid: string) {
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: bits })
    const now = Math.floor(Date.now() / 1000)
    const claims = { sub: 'u1', jti: `j-${kid}`, iat: now, exp: now + 600, type: 'access', fresh: false }
    return {
      token: signToken(alg, privateKey, { alg, typ: 'JWT', kid }, claims),
      jwk: { ...publicKey.export({ format: 'jwk' }), kid, alg, use: 'sig' },
    }
  }

  for (const engine of ENGINES) {
    it(`${engine}: a set that cannot be read is StoreUnavailableError with a message and the cause`, async () => {
      const url = await serve((_req, res) => res.writeHead(500).end())
      const verifier = onEngine(engine, { jwksUrl: url, algorithm: 'RS256' })
      const signer = onEngine(engine, keyOptions('RS256'))
      const err = await rejection(verifier.decodeToken(await signer.createAccessToken({ uid: 'u1' })))
      expect(err).toBeInstanceOf(StoreUnavailableError)
      expect((err as Error).message).toBe('Remote key set unavailable')
      expect((err as Error).cause).toBeInstanceOf(Error)
    })

    it(`${engine}: an RS256 or PS256 key under 2048 bits is no key, and a 2048-bit one is`, async () => {
      for (const alg of ['RS256', 'PS256'] as const) {
        const weak = rsaToken(alg, 1024, `${alg}-weak`)
        const strong = rsaToken(alg, 2048, `${alg}-strong`)
        const url = await serveKeys({ keys: [weak.jwk, strong.jwk] })
        const verifier = onEngine(engine, { jwksUrl: url, algorithm: alg })
        expect((await verifier.decodeToken(strong.token)).sub).toBe('u1')
        const err = await rejection(verifier.decodeToken(weak.token))
        expect(err).toBeInstanceOf(InvalidTokenError)
        // The same refusal as an unknown kid, on both engines: the key is not used at all.
        expect(err).toMatchObject({ reason: 'signature', message: 'No key matches the token' })
      }
    })
  }
})

describe('security: remote lookups are bounded by verify.jwksTimeoutMs', () => {
  for (const engine of ENGINES) {
    it(`${engine}: a fetch that timed out is abandoned, so the next lookup fetches again`, async () => {
      const signer = onEngine(engine, { ...keyOptions('ES256'), kid: 'es-1' })
      const jwks = await signer.jwks()
      let requests = 0
      // The first request is held open forever; later ones are answered.
      const url = await serve((_req, res) => {
        if (++requests === 1) return
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(jwks))
      })
      const verifier = onEngine(engine, {
        jwksUrl: url,
        algorithm: 'ES256',
        verify: { jwksTimeoutMs: 200 },
        cache: { verifiedTokens: 0 },
      })
      const token = await signer.createAccessToken({ uid: 'u1' })
      expect(await rejection(verifier.decodeToken(token))).toBeInstanceOf(StoreUnavailableError)
      expect((await verifier.decodeToken(token)).sub).toBe('u1')
      expect(requests).toBe(2)
    })

    it(`${engine}: bounds the lookup itself when fetch ignores its abort signal`, async () => {
      // A runtime whose fetch does not honour AbortSignal: the real fetch, without the signal.
      const realFetch = globalThis.fetch
      vi.stubGlobal('fetch', (input: string | URL | Request, init?: RequestInit) =>
        realFetch(input, { ...init, signal: null }),
      )
      const url = await serve(() => {}) // accepts, never answers
      const signer = onEngine(engine, { ...keyOptions('ES256'), kid: 'es-1' })
      const verifier = onEngine(engine, { jwksUrl: url, algorithm: 'ES256', verify: { jwksTimeoutMs: 150 } })
      const err = await rejection(verifier.decodeToken(await signer.createAccessToken({ uid: 'u1' })))
      expect(err).toBeInstanceOf(StoreUnavailableError)
      expect(((err as Error).cause as Error).message).toBe('remote key set did not answer within 150 ms')
    })

    it(`${engine}: leaves no timer behind once the key is found`, async () => {
      const signer = onEngine(engine, { ...keyOptions('ES256'), kid: 'es-1' })
      const url = await serveKeys(await signer.jwks())
      const verifier = onEngine(engine, {
        jwksUrl: url,
        algorithm: 'ES256',
        verify: { jwksTimeoutMs: 60_000 },
        cache: { verifiedTokens: 0 },
      })
      const token = await signer.createAccessToken({ uid: 'u1' })
      expect((await verifier.decodeToken(token)).sub).toBe('u1') // the set is fetched and cached
      vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] })
      expect((await verifier.decodeToken(token)).sub).toBe('u1') // from the cached set
      expect(vi.getTimerCount()).toBe(0)
    })
  }
})
