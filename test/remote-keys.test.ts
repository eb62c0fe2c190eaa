import { generateKeyPairSync } from 'node:crypto'
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest'
import { resolveRemoteKeys } from '../src/core/remote-keys.js'
import {
  AuthX,
  type AuthXOptions,
  ConfigError,
  InvalidTokenError,
  StoreUnavailableError,
} from '../src/index.js'
import { ENGINES, type EngineName, onEngine, rejection } from './support/engines.js'
import { startJwksServer, stopJwksServers } from './support/jwks-server.js'
import { keyPairFor, pemOf, signToken } from './support/keys.js'

// See test/algorithms.test.ts: hiding node:crypto makes `new AuthX()` pick the jose engine.
vi.mock('../src/core/runtime.js', async (orig) => {
  const mod = await orig<typeof import('../src/core/runtime.js')>()
  const { engineNow } = await import('./support/variant-setup.js')
  return { ...mod, nodeCrypto: () => (engineNow() === 'jose' ? undefined : mod.nodeCrypto()) }
})

afterAll(stopJwksServers)
afterEach(() => {
  vi.useRealTimers()
  vi.unstubAllGlobals()
})

/** Both sides read the (possibly faked) wall clock, as jose's cache does. */
const clock = () => Date.now()

/** An issuer signing with RS256 under `kid`; slot picks a distinct key pair. */
function issuer(engine: EngineName, kid: string, slot = 0): AuthX {
  return onEngine(engine, { keys: [{ kid, algorithm: 'RS256', ...pemOf(keyPairFor('RS256', slot)) }], clock })
}

function verifier(engine: EngineName, url: string, options: Partial<AuthXOptions> = {}): AuthX {
  return onEngine(engine, { jwksUrl: url, algorithm: 'RS256', clock, ...options })
}

/** A fresh token (the verified-token cache never answers for it). */
function tokenOf(auth: AuthX): Promise<string> {
  return auth.createAccessToken({ uid: 'u1' })
}

/** Moves the wall clock (Date only: sockets and timeouts keep real time). */
function advance(ms: number): void {
  if (!vi.isFakeTimers()) vi.useFakeTimers({ toFake: ['Date'], now: Date.now() })
  vi.setSystemTime(Date.now() + ms)
}

/** Rejects with an Error if `promise` has not settled within `ms`: a bound, not a speed check. */
function settlesWithin<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined
  const hang = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`still pending after ${ms} ms`)), ms)
  })
  return Promise.race([promise, hang]).finally(() => clearTimeout(timer))
}

function expectUnavailable(err: unknown): void {
  expect(err).toBeInstanceOf(StoreUnavailableError)
  expect(err).toMatchObject({ code: 'ERR_STORE_UNAVAILABLE', status: 503 })
}

function expectRefused(err: unknown): void {
  expect(err).toBeInstanceOf(InvalidTokenError)
  expect(err).toMatchObject({ code: 'ERR_INVALID_TOKEN', status: 401 })
}

describe('the jwks option', () => {
  const url = 'https://issuer.example/.well-known/jwks.json'

  it("defaults to jose's cool-down and cache age, and to verify.jwksTimeoutMs or 5000 ms", () => {
    expect(new AuthX({ jwksUrl: url, algorithm: 'RS256' }).config.remoteKeys).toEqual({
      timeoutMs: 5000,
      cooldownMs: 30_000,
      maxAgeMs: 600_000,
      cache: undefined,
    })
    const legacy = new AuthX({ jwksUrl: url, algorithm: 'RS256', verify: { jwksTimeoutMs: 1200 } })
    expect(legacy.config.remoteKeys.timeoutMs).toBe(1200)
  })

  it('reads Durations into milliseconds, and jwks.timeoutMs wins over verify.jwksTimeoutMs', () => {
    const auth = new AuthX({
      jwksUrl: url,
      algorithm: 'RS256',
      verify: { jwksTimeoutMs: 1200 },
      jwks: { timeoutMs: 800, cooldown: '2m', maxAge: 3600 },
    })
    expect(auth.config.remoteKeys).toMatchObject({ timeoutMs: 800, cooldownMs: 120_000, maxAgeMs: 3_600_000 })
  })

  it('refuses the option without jwksUrl, even empty', () => {
    expect(() => new AuthX({ secretKey: 'x'.repeat(32), jwks: {} })).toThrow(ConfigError)
    expect(() => resolveRemoteKeys({ maxAge: '1h' }, 5000, false)).toThrow(ConfigError)
  })

  const bad: [string, unknown][] = [
    ['not an object', 'fast'],
    ['an array', []],
    ['an unknown option', { cacheMaxAge: 1000 }],
    ['a zero timeout', { timeoutMs: 0 }],
    ['a timeout over a minute', { timeoutMs: 60_001 }],
    ['a fractional timeout', { timeoutMs: 1.5 }],
    ['a timeout as a string', { timeoutMs: '500' }],
    ['a zero cool-down (a refetch for every unknown kid)', { cooldown: 0 }],
    ['a negative cool-down', { cooldown: -1 }],
    ['a cool-down that is not a Duration', { cooldown: '1.5m' }],
    ['a maximum age that is not a Duration', { maxAge: 'ten minutes' }],
    ['a cache that is not an object', { cache: 'redis' }],
    ['a cache without load', { cache: { save() {} } }],
    ['a cache without save', { cache: { load() {} } }],
  ]
  for (const [what, jwks] of bad) {
    it(`refuses ${what} (ConfigError)`, () => {
      const err = (() => {
        try {
          new AuthX({ jwksUrl: url, algorithm: 'RS256', jwks: jwks as never })
        } catch (e) {
          return e
        }
      })()
      expect(err).toBeInstanceOf(ConfigError)
      expect(err).toMatchObject({ code: 'ERR_CONFIG' })
    })
  }

  it('keeps the cache hooks bound to their object', async () => {
    class Store {
      saved: unknown[] = []
      load() {
        return undefined
      }
      save(entry: unknown) {
        this.saved.push(entry)
      }
    }
    const store = new Store()
    const { cache } = resolveRemoteKeys({ cache: store }, 5000, true)
    await cache!.save({ uat: 1, jwks: { keys: [] } })
    expect(store.saved).toHaveLength(1)
  })
})

for (const engine of ENGINES) {
  describe(`remote key sets on the ${engine} engine: a slow server`, () => {
    it('a server that never answers is a 503 for every waiting request, within the timeout', async () => {
      const signer = issuer(engine, 'k1')
      const server = await startJwksServer(await signer.jwks())
      server.answer(() => {}) // accepts, never answers
      const auth = verifier(engine, server.url, { jwks: { timeoutMs: 200 } })
      const attempts = await Promise.all(
        [1, 2, 3].map(async () => settlesWithin(rejection(auth.verifyToken(await tokenOf(signer))), 5000)),
      )
      for (const err of attempts) expectUnavailable(err)
    })

    it('the abandoned fetch is aborted: its connection does not stay open', async () => {
      const signer = issuer(engine, 'k1')
      const server = await startJwksServer(await signer.jwks())
      server.answer(() => {})
      const auth = verifier(engine, server.url, { jwks: { timeoutMs: 200 } })
      expectUnavailable(await rejection(auth.verifyToken(await tokenOf(signer))))
      const deadline = Date.now() + 3000
      while (server.closedConnections === 0 && Date.now() < deadline)
        await new Promise((r) => setTimeout(r, 10))
      expect(server.closedConnections).toBeGreaterThan(0)
    })

    it('a server that sends headers and then trickles the body is a 503 within the timeout', async () => {
      const signer = issuer(engine, 'k1')
      const server = await startJwksServer(await signer.jwks())
      const timers: ReturnType<typeof setInterval>[] = []
      server.answer((_req, res) => {
        res.writeHead(200, { 'content-type': 'application/json' })
        res.write('{"keys":[')
        timers.push(setInterval(() => res.write(' '), 50))
      })
      const auth = verifier(engine, server.url, { jwks: { timeoutMs: 300 } })
      try {
        expectUnavailable(await settlesWithin(rejection(auth.verifyToken(await tokenOf(signer))), 5000))
      } finally {
        for (const timer of timers) clearInterval(timer)
      }
    })

    it('a fetch that ignores its abort signal is still cut off at the timeout', async () => {
      const signer = issuer(engine, 'k1')
      const auth = verifier(engine, 'http://127.0.0.1:9/jwks.json', { jwks: { timeoutMs: 200 } })
      // A runtime whose fetch never settles and ignores AbortSignal: no real server can do this.
      vi.stubGlobal('fetch', () => new Promise(() => {}))
      expectUnavailable(await settlesWithin(rejection(auth.verifyToken(await tokenOf(signer))), 5000))
    })
  })

  describe(`remote key sets on the ${engine} engine: a server that is down`, () => {
    it('a refused connection is a 503; once the server is back, tokens verify', async () => {
      const signer = issuer(engine, 'k1')
      const server = await startJwksServer(await signer.jwks())
      await server.stop()
      const auth = verifier(engine, server.url)
      expectUnavailable(await rejection(auth.verifyToken(await tokenOf(signer))))
      await server.restart()
      expect((await auth.verifyToken(await tokenOf(signer))).sub).toBe('u1')
      expect(server.requests).toBe(1)
    })

    it('within maxAge a cached set keeps verifying known kids while the server is down', async () => {
      const signer = issuer(engine, 'k1')
      const server = await startJwksServer(await signer.jwks())
      const auth = verifier(engine, server.url)
      await auth.verifyToken(await tokenOf(signer))
      await server.stop()
      advance(9 * 60_000)
      expect((await auth.verifyToken(await tokenOf(signer))).sub).toBe('u1')
      expect(server.requests).toBe(1)
      // Past the cool-down an unknown kid asks the server, which cannot answer: the set could
      // not be consulted, so a 503 rather than a verdict on the token.
      expectUnavailable(await rejection(auth.verifyToken(await tokenOf(issuer(engine, 'k2', 1)))))
      expect((await auth.verifyToken(await tokenOf(signer))).sub).toBe('u1')
    })

    it('after maxAge the stale set is not used: a 503 while the server is down, then it verifies again', async () => {
      const signer = issuer(engine, 'k1')
      const server = await startJwksServer(await signer.jwks())
      const auth = verifier(engine, server.url)
      await auth.verifyToken(await tokenOf(signer))
      await server.stop()
      advance(10 * 60_000 + 1000)
      expectUnavailable(await rejection(auth.verifyToken(await tokenOf(signer))))
      await server.restart()
      expect((await auth.verifyToken(await tokenOf(signer))).sub).toBe('u1')
      expect(server.requests).toBe(2)
    })
  })

  describe(`remote key sets on the ${engine} engine: a rotating server`, () => {
    it('a new kid inside the cool-down is refused without a refetch; after it, one refetch finds the key', async () => {
      const first = issuer(engine, 'k1')
      const second = issuer(engine, 'k2', 1)
      const server = await startJwksServer(await first.jwks())
      const auth = verifier(engine, server.url)
      await auth.verifyToken(await tokenOf(first))
      expect(server.requests).toBe(1)

      server.serve({ keys: [...(await first.jwks()).keys, ...(await second.jwks()).keys] })
      advance(29_000)
      expectRefused(await rejection(auth.verifyToken(await tokenOf(second))))
      expectRefused(await rejection(auth.verifyToken(await tokenOf(second))))
      expect(server.requests).toBe(1)

      advance(2000)
      expect((await auth.verifyToken(await tokenOf(second))).sub).toBe('u1')
      expect(server.requests).toBe(2)
      // The refetched set also starts a new cool-down: a kid nobody has is refused, no request.
      expectRefused(await rejection(auth.verifyToken(await tokenOf(issuer(engine, 'k3', 2)))))
      expect(server.requests).toBe(2)
    })

    it('the cool-down is the one configured', async () => {
      const first = issuer(engine, 'k1')
      const second = issuer(engine, 'k2', 1)
      const server = await startJwksServer(await first.jwks())
      const auth = verifier(engine, server.url, { jwks: { cooldown: '5m' } })
      await auth.verifyToken(await tokenOf(first))
      server.serve({ keys: [...(await first.jwks()).keys, ...(await second.jwks()).keys] })
      advance(60_000)
      expectRefused(await rejection(auth.verifyToken(await tokenOf(second))))
      expect(server.requests).toBe(1)
      advance(4 * 60_000 + 1000)
      expect((await auth.verifyToken(await tokenOf(second))).sub).toBe('u1')
      expect(server.requests).toBe(2)
    })

    it('a key removed from the set stops verifying once the set is refetched', async () => {
      const first = issuer(engine, 'k1')
      const second = issuer(engine, 'k2', 1)
      const server = await startJwksServer({
        keys: [...(await first.jwks()).keys, ...(await second.jwks()).keys],
      })
      const auth = verifier(engine, server.url)
      await auth.verifyToken(await tokenOf(first))
      server.serve(await second.jwks())
      advance(10 * 60_000 + 1000)
      expectRefused(await rejection(auth.verifyToken(await tokenOf(first))))
      expect(server.requests).toBe(2)
    })
  })

  describe(`remote key sets on the ${engine} engine: cache age`, () => {
    it('the set is used until maxAge, then the server is asked again', async () => {
      const signer = issuer(engine, 'k1')
      const server = await startJwksServer(await signer.jwks())
      const auth = verifier(engine, server.url)
      await auth.verifyToken(await tokenOf(signer))
      advance(9 * 60_000)
      await auth.verifyToken(await tokenOf(signer))
      expect(server.requests).toBe(1)
      advance(60_000 + 1000)
      await auth.verifyToken(await tokenOf(signer))
      expect(server.requests).toBe(2)
    })

    it('the maximum age is the one configured', async () => {
      const signer = issuer(engine, 'k1')
      const server = await startJwksServer(await signer.jwks())
      const auth = verifier(engine, server.url, { jwks: { maxAge: '1h' } })
      await auth.verifyToken(await tokenOf(signer))
      advance(30 * 60_000)
      await auth.verifyToken(await tokenOf(signer))
      expect(server.requests).toBe(1)
      advance(30 * 60_000 + 1000)
      await auth.verifyToken(await tokenOf(signer))
      expect(server.requests).toBe(2)
    })
  })
}

describe('security: a remote key set serving a weak or hostile answer', () => {
  /** A token signed by a 1024-bit RSA key, and that key's public JWK. */
  function weakRsa(kid: string): { token: string; jwk: Record<string, unknown> } {
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 1024 })
    const now = Math.floor(Date.now() / 1000)
    const token = signToken(
      'RS256',
      privateKey,
      { alg: 'RS256', typ: 'JWT', kid },
      { sub: 'u1', jti: 'j1', iat: now, nbf: now, exp: now + 600, type: 'access', fresh: false },
    )
    return { token, jwk: { ...publicKey.export({ format: 'jwk' }), kid, alg: 'RS256', use: 'sig' } }
  }

  for (const engine of ENGINES) {
    it(`${engine}: a token signed by a served RSA 1024 key is refused (401)`, async () => {
      const { token, jwk } = weakRsa('weak')
      const server = await startJwksServer({ keys: [jwk] })
      expectRefused(await rejection(verifier(engine, server.url).verifyToken(token)))
    })

    it(`${engine}: a token signed by an RSA 1024 key from a persisted copy is refused (401)`, async () => {
      const { token, jwk } = weakRsa('weak')
      const server = await startJwksServer({ keys: [] })
      const entry = { uat: Date.now(), jwks: { keys: [jwk] } }
      const auth = verifier(engine, server.url, { jwks: { cache: { load: () => entry, save() {} } } })
      expectRefused(await rejection(auth.verifyToken(token)))
      expect(server.requests).toBe(0)
    })

    /** Each hostile answer, and what the token gets: 503 (the set is unreadable) or 401 (no usable key). */
    const hostile: [
      string,
      401 | 503,
      (set: { keys: unknown[] }) => [number, Record<string, string>, string],
    ][] = [
      [
        'an HTML page',
        503,
        () => [200, { 'content-type': 'text/html' }, '<html><body>Sign in</body></html>'],
      ],
      ['JSON that is not a key set', 503, () => [200, {}, '{"keys":"none"}']],
      ['truncated JSON', 503, (set) => [200, {}, JSON.stringify(set).slice(0, 40)]],
      ['a 500 error', 503, (set) => [500, {}, JSON.stringify(set)]],
      ['a redirect', 503, () => [302, { location: 'http://127.0.0.1:9/elsewhere' }, '']],
      ['a private key in the set', 503, () => [200, {}, JSON.stringify({ keys: [privateJwk()] })]],
      ['a key whose modulus is garbage', 401, () => [200, {}, JSON.stringify({ keys: [garbageJwk()] })]],
      [
        'a valid set padded past 256 KiB',
        503,
        (set) => [200, {}, JSON.stringify({ ...set, padding: 'x'.repeat(300 * 1024) })],
      ],
    ]
    for (const [what, status, answer] of hostile) {
      it(`${engine}: ${what} is a ${status}, never a 500 and never a verified token`, async () => {
        const signer = issuer(engine, 'k1')
        const server = await startJwksServer({})
        const [code, headers, body] = answer(await signer.jwks())
        server.answer((_req, res) => {
          res.writeHead(code, headers).end(body)
        })
        const err = await rejection(verifier(engine, server.url).verifyToken(await tokenOf(signer)))
        if (status === 503) expectUnavailable(err)
        else expectRefused(err)
      })
    }

    it(`${engine}: a valid set streamed past 256 KiB without a declared length is a 503`, async () => {
      const signer = issuer(engine, 'k1')
      const server = await startJwksServer({})
      const body = JSON.stringify({ ...(await signer.jwks()), padding: 'x'.repeat(300 * 1024) })
      server.answer((_req, res) => {
        res.writeHead(200, { 'content-type': 'application/json' }) // chunked: no content-length
        for (let i = 0; i < body.length; i += 16 * 1024) res.write(body.slice(i, i + 16 * 1024))
        res.end()
      })
      expectUnavailable(await rejection(verifier(engine, server.url).verifyToken(await tokenOf(signer))))
    })

    it(`${engine}: a set of a few hundred kilobytes under the cap still verifies`, async () => {
      const signer = issuer(engine, 'k1')
      const server = await startJwksServer({ ...(await signer.jwks()), padding: 'x'.repeat(200 * 1024) })
      expect((await verifier(engine, server.url).verifyToken(await tokenOf(signer))).sub).toBe('u1')
    })
  }

  function privateJwk(): Record<string, unknown> {
    return { ...keyPairFor('RS256').privateKey.export({ format: 'jwk' }), kid: 'k1', alg: 'RS256' }
  }

  function garbageJwk(): Record<string, unknown> {
    return { kty: 'RSA', kid: 'k1', alg: 'RS256', n: '!!not-base64!!', e: 'AQAB' }
  }
})

describe('remote key sets: a persisted copy across serverless invocations', () => {
  /** A storage of one string, as a KV store would keep it. */
  function kv() {
    let stored: string | undefined
    const calls = { load: 0, save: 0 }
    return {
      calls,
      get stored() {
        return stored === undefined ? undefined : JSON.parse(stored)
      },
      cache: {
        load() {
          calls.load++
          return stored === undefined ? undefined : JSON.parse(stored)
        },
        async save(entry: unknown) {
          calls.save++
          stored = JSON.stringify(entry)
        },
      },
    }
  }

  for (const engine of ENGINES) {
    it(`${engine}: a second instance loading the first one's saved set verifies with no request`, async () => {
      const signer = issuer(engine, 'k1')
      const server = await startJwksServer(await signer.jwks())
      const storage = kv()
      const cold = verifier(engine, server.url, { jwks: { cache: storage.cache } })
      await cold.verifyToken(await tokenOf(signer))
      expect(server.requests).toBe(1)
      expect(storage.calls).toEqual({ load: 1, save: 1 })
      expect(storage.stored).toEqual({ uat: expect.any(Number), jwks: await signer.jwks() })

      const warm = verifier(engine, server.url, { jwks: { cache: storage.cache } })
      expect((await warm.verifyToken(await tokenOf(signer))).sub).toBe('u1')
      expect(server.requests).toBe(1)
      // A loaded set is not saved back: only a fetch is.
      expect(storage.calls).toEqual({ load: 2, save: 1 })
    })

    it(`${engine}: load is called once, lazily, and a fetch is saved once however many requests waited`, async () => {
      const signer = issuer(engine, 'k1')
      const server = await startJwksServer(await signer.jwks())
      const storage = kv()
      const auth = verifier(engine, server.url, { jwks: { cache: storage.cache } })
      expect(storage.calls.load).toBe(0)
      const tokens = await Promise.all([1, 2, 3].map(() => tokenOf(signer)))
      await Promise.all(tokens.map((t) => auth.verifyToken(t)))
      await auth.verifyToken(await tokenOf(signer))
      expect(storage.calls).toEqual({ load: 1, save: 1 })
      expect(server.requests).toBe(1)
    })

    it(`${engine}: each refetch after maxAge is saved with its new date`, async () => {
      const signer = issuer(engine, 'k1')
      const server = await startJwksServer(await signer.jwks())
      const storage = kv()
      const auth = verifier(engine, server.url, { jwks: { cache: storage.cache } })
      await auth.verifyToken(await tokenOf(signer))
      const firstUat = storage.stored.uat as number
      advance(10 * 60_000 + 1000)
      await auth.verifyToken(await tokenOf(signer))
      expect(storage.calls.save).toBe(2)
      expect(storage.stored.uat).toBeGreaterThan(firstUat)
    })

    it(`${engine}: a saved set older than maxAge is not used: the server is asked`, async () => {
      const signer = issuer(engine, 'k1')
      const server = await startJwksServer(await signer.jwks())
      const entry = { uat: Date.now() - 10 * 60_000 - 1000, jwks: await signer.jwks() }
      const auth = verifier(engine, server.url, { jwks: { cache: { load: () => entry, save() {} } } })
      await auth.verifyToken(await tokenOf(signer))
      expect(server.requests).toBe(1)
    })

    const unusable: [string, () => unknown][] = [
      ['rejects', () => Promise.reject(new Error('storage down'))],
      ['never settles', () => new Promise(() => {})],
      ['returns a string', () => 'not an entry'],
      ['returns a set without a date', () => ({ jwks: { keys: [] } })],
      ['returns a date that is not a number', () => ({ uat: '2026-01-01', jwks: { keys: [] } })],
      ['returns no key list', () => ({ uat: Date.now(), jwks: {} })],
      ['returns keys that are not objects', () => ({ uat: Date.now(), jwks: { keys: ['k1'] } })],
    ]
    for (const [what, load] of unusable) {
      it(`${engine}: a load that ${what} is ignored: the set is fetched and the token verifies`, async () => {
        const signer = issuer(engine, 'k1')
        const server = await startJwksServer(await signer.jwks())
        const auth = verifier(engine, server.url, { jwks: { timeoutMs: 300, cache: { load, save() {} } } })
        expect((await settlesWithin(auth.verifyToken(await tokenOf(signer)), 5000)).sub).toBe('u1')
        expect(server.requests).toBe(1)
      })
    }

    it(`${engine}: a load that throws synchronously is ignored`, async () => {
      const signer = issuer(engine, 'k1')
      const server = await startJwksServer(await signer.jwks())
      const load = () => {
        throw new Error('storage down')
      }
      const auth = verifier(engine, server.url, { jwks: { cache: { load, save() {} } } })
      expect((await auth.verifyToken(await tokenOf(signer))).sub).toBe('u1')
    })

    it(`${engine}: a saved set dated in the future is ignored (it would outlive maxAge)`, async () => {
      const signer = issuer(engine, 'k1')
      const server = await startJwksServer(await signer.jwks())
      const entry = { uat: Date.now() + 24 * 3600_000, jwks: await signer.jwks() }
      const auth = verifier(engine, server.url, { jwks: { cache: { load: () => entry, save() {} } } })
      await auth.verifyToken(await tokenOf(signer))
      expect(server.requests).toBe(1)
    })

    const failingSaves: [string, () => unknown][] = [
      [
        'throws',
        () => {
          throw new Error('storage down')
        },
      ],
      ['rejects', () => Promise.reject(new Error('storage down'))],
      ['never settles', () => new Promise(() => {})],
    ]
    for (const [what, save] of failingSaves) {
      it(`${engine}: a save that ${what} never fails the request`, async () => {
        const signer = issuer(engine, 'k1')
        const server = await startJwksServer(await signer.jwks())
        const auth = verifier(engine, server.url, {
          jwks: { timeoutMs: 300, cache: { load: () => undefined, save: save as () => void } },
        })
        expect((await settlesWithin(auth.verifyToken(await tokenOf(signer)), 5000)).sub).toBe('u1')
      })
    }
  }
})
