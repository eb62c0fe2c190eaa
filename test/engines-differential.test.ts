/**
 * Differential tests of the two signing engines (issue 9, item 1): node:crypto
 * (src/core/engine/node.ts) and jose (src/core/engine/jose.ts), with the same keys.
 *
 * - For every algorithm, a token made by either engine, or by an independent node:crypto signer,
 *   verifies on both engines through `decodeToken` and `verifyToken`, with the same claims.
 * - With fast-check, thousands of mutated tokens (bit flips, character substitutions,
 *   truncations, segment swaps and splices in header, payload and signature, and tokens re-signed
 *   with a wrong key or under another algorithm) are rejected by BOTH engines with the same
 *   error class, code, reason and message.
 * - The verified-token cache works alike on both engines (hits skip the signature check, a
 *   revoked or expired token is refused even when cached), and the known divergences between
 *   the engines are written down.
 *
 * The file also checks the suite variant itself (test/support/variant-setup.ts): that plain
 * instances get the engine and cache size the environment asks for.
 */
import nodeCrypto, { generateKeyPairSync } from 'node:crypto'
import fc from 'fast-check'
import { afterEach, describe, expect, it, vi } from 'vitest'
import {
  AuthX,
  AuthXError,
  ConfigError,
  InvalidTokenError,
  MemoryStore,
  RevokedTokenError,
  TokenExpiredError,
} from '../src/index.js'
import { ENGINES, type EngineName, onEngine } from './support/engines.js'
import {
  ALGORITHMS,
  type Alg,
  base64urlJson,
  isHmacAlg,
  keyOptions,
  keyPairFor,
  pemOf,
  secretFor,
  signToken,
} from './support/keys.js'
import { defaultCacheSize, variant } from './support/variant-setup.js'

// The suite's setup file registers this mock too; registered here as well so the file also runs
// under a configuration without that setup file (see test/support/engines.ts).
vi.mock('../src/core/runtime.js', async (orig) => {
  const mod = await orig<typeof import('../src/core/runtime.js')>()
  const { engineNow } = await import('./support/variant-setup.js')
  return { ...mod, nodeCrypto: () => (engineNow() === 'jose' ? undefined : mod.nodeCrypto()) }
})

/** Mutated tokens per algorithm (13 algorithms, each checked on both engines). */
const MUTATION_RUNS = 500
/** Re-signed tokens per algorithm. */
const RESIGN_RUNS = 100

const NOW_MS = 1_700_000_000_000
const clock = (): number => NOW_MS
const SECRET = 's'.repeat(32)

type Engines = Record<EngineName, AuthX>
type Signer = EngineName | 'oracle'
type Method = 'decodeToken' | 'verifyToken'

const instances = new Map<Alg, Engines>()

/** One instance per engine for `alg`, with the same default keys and a fixed clock. */
function enginesFor(alg: Alg): Engines {
  let pair = instances.get(alg)
  if (pair === undefined) {
    const options = { ...keyOptions(alg), clock }
    pair = { node: onEngine('node', options), jose: onEngine('jose', options) }
    instances.set(alg, pair)
  }
  return pair
}

/** The signing key of `alg` in `slot` (slot 0 is the instances' own key). */
function signingKey(alg: Alg, slot: number): Parameters<typeof signToken>[1] {
  return isHmacAlg(alg) ? secretFor(alg, slot) : keyPairFor(alg, slot).privateKey
}

function headerOf(token: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(token.split('.')[0]!, 'base64url').toString('utf8'))
}

function claimsOf(token: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString('utf8'))
}

const GRANTS = { fresh: true, scopes: ['read', 'write'], data: { role: 'admin', n: 1 } }

/** An access token for `uid` made by one engine, or by the node:crypto signer of test/support. */
async function accessToken(alg: Alg, signer: Signer, uid: string): Promise<string> {
  const engines = enginesFor(alg)
  if (signer !== 'oracle') return engines[signer].createAccessToken({ uid, ...GRANTS })
  // Same header (kid included) and claim layout as authx writes, signed outside authx.
  const template = await engines.node.createAccessToken({ uid, ...GRANTS })
  const claims = { ...claimsOf(template), jti: `oracle-${uid}` }
  return signToken(alg, signingKey(alg, 0), headerOf(template), claims)
}

describe('the suite variant (test/support/variant-setup.ts)', () => {
  it('gives plain instances the engine and cache size the environment asks for', () => {
    const auth = new AuthX({ secretKey: SECRET })
    expect(auth.engine).toBe(variant().engine)
    expect(auth.config.cacheSize).toBe(defaultCacheSize())
    expect(defaultCacheSize()).toBe(variant().cache === 'off' ? 0 : 10_000)
  })

  it('keeps a cache size the caller set, in every variant', () => {
    expect(new AuthX({ secretKey: SECRET, cache: { verifiedTokens: 123 } }).config.cacheSize).toBe(123)
    expect(new AuthX({ secretKey: SECRET, cache: { verifiedTokens: 0 } }).config.cacheSize).toBe(0)
    expect(new AuthX({ secretKey: SECRET, cache: {} }).config.cacheSize).toBe(defaultCacheSize())
  })

  it('leaves the unmocked default of cache.verifiedTokens at 10000', async () => {
    const actual = await vi.importActual<typeof import('../src/core/config.js')>('../src/core/config.js')
    expect(actual.resolveConfig({ secretKey: SECRET }).config.cacheSize).toBe(10_000)
  })

  it('lets a test pick either engine whatever the variant', () => {
    for (const engine of ENGINES) expect(onEngine(engine, { secretKey: SECRET }).engine).toBe(engine)
    // FORCE_* are cleared again: the next plain instance follows the variant.
    expect(new AuthX({ secretKey: SECRET }).engine).toBe(variant().engine)
  })

  it('keeps node APIs for the rest of the code on the jose engine (MemoryStore, cookies)', async () => {
    const auth = onEngine('jose', { secretKey: SECRET, tokenLocation: ['headers', 'cookies'] })
    const pair = await auth.createTokenPair({ uid: 'u' })
    const payload = await auth.verifyToken(pair.accessToken)
    await auth.revokeToken(payload)
    expect(await auth.isRevoked(payload)).toBe(true)
    expect(auth.accessCookies(pair.accessToken).length).toBeGreaterThan(0)
  })
})

describe.each(ALGORITHMS)('%s: tokens cross the engines', (alg) => {
  it('both engines write the same header', async () => {
    const { node, jose } = enginesFor(alg)
    const fromNode = headerOf(await node.createAccessToken({ uid: 'u' }))
    expect(headerOf(await jose.createAccessToken({ uid: 'u' }))).toEqual(fromNode)
    expect(fromNode.alg).toBe(alg)
  })

  it.each(['node', 'jose', 'oracle'] as const)(
    'an access token signed by %s verifies on both engines (decodeToken and verifyToken)',
    async (signer) => {
      const token = await accessToken(alg, signer, `user-${signer}`)
      const claims = claimsOf(token)
      expect(claims.sub).toBe(`user-${signer}`)
      for (const engine of ENGINES) {
        const auth = enginesFor(alg)[engine]
        const decoded = await auth.decodeToken(token)
        expect(decoded.claims).toEqual(claims)
        const verified = await auth.verifyToken(token, { fresh: true, scopes: ['read', 'write'] })
        expect(verified.claims).toEqual(claims)
        expect(verified.extra).toEqual({ role: 'admin', n: 1 })
      }
    },
  )

  it.each(ENGINES)('a refresh token signed by %s verifies on both engines', async (signer) => {
    const token = await enginesFor(alg)[signer].createRefreshToken({ uid: 'r' })
    for (const engine of ENGINES) {
      const auth = enginesFor(alg)[engine]
      expect((await auth.decodeToken(token)).type).toBe('refresh')
      expect((await auth.verifyToken(token, { type: 'refresh' })).claims).toEqual(claimsOf(token))
    }
  })
})

describe('known divergences between the engines', () => {
  it('both engines refuse an asymmetric algorithm without any key in the constructor', () => {
    expect(() => onEngine('node', { algorithm: 'RS256' })).toThrow(ConfigError)
    expect(() => onEngine('jose', { algorithm: 'RS256' })).toThrow(ConfigError)
  })

  it('rsa-pss keys: the node engine signs and verifies with them, the jose engine refuses them', async () => {
    // Web Crypto cannot import id-RSASSA-PSS keys, so on the jose engine they are a ConfigError at
    // the first call that needs the keys, never a token accepted.
    const keys = generateKeyPairSync('rsa-pss', { modulusLength: 2048 })
    const node = onEngine('node', { algorithm: 'PS256', ...keys, clock })
    const token = await node.createAccessToken({ uid: 'u' })
    expect((await node.verifyToken(token)).sub).toBe('u')
    const jose = onEngine('jose', { algorithm: 'PS256', ...keys, clock })
    await expect(jose.verifyToken(token)).rejects.toBeInstanceOf(ConfigError)
    await expect(jose.createAccessToken({ uid: 'u' })).rejects.toBeInstanceOf(ConfigError)
  })
})

describe.each(ENGINES)('the verified-token cache on the %s engine', (engine) => {
  // Signature checks of ES256, counted where each engine makes them: node:crypto `verify` or
  // Web Crypto `subtle.verify` (test/token-cache.test.ts covers the cache itself on node:crypto).
  // The cache size is set explicitly, so these run with the cache on whatever the suite variant.
  function signatureChecks(): { count: () => number } {
    const spy =
      engine === 'node' ? vi.spyOn(nodeCrypto, 'verify') : vi.spyOn(globalThis.crypto.subtle, 'verify')
    return { count: () => spy.mock.calls.length }
  }
  afterEach(() => {
    vi.restoreAllMocks()
  })

  function instance(verifiedTokens: number, now: { ms: number }): AuthX {
    const clockOf = () => now.ms
    const store = new MemoryStore({ clock: clockOf })
    return onEngine(engine, { ...keyOptions('ES256'), clock: clockOf, store, cache: { verifiedTokens } })
  }

  it('checks the signature of a repeated token once, and on every call with the cache off', async () => {
    const now = { ms: NOW_MS }
    const cached = instance(100, now)
    const uncached = instance(0, now)
    const token = await cached.createAccessToken({ uid: 'u1' })
    const checks = signatureChecks()
    await cached.verifyToken(token)
    expect(checks.count()).toBe(1)
    await cached.verifyToken(token)
    await cached.decodeToken(token)
    expect(checks.count()).toBe(1)
    await uncached.verifyToken(token)
    await uncached.verifyToken(token)
    expect(checks.count()).toBe(3)
  })

  it('rejects a cached token once it is revoked (a cache hit) and once it expires', async () => {
    const now = { ms: NOW_MS }
    const auth = instance(100, now)
    const revoked = await auth.createAccessToken({ uid: 'u1' })
    const expiring = await auth.createAccessToken({ uid: 'u2', expiry: 60 })
    const payload = await auth.verifyToken(revoked)
    await auth.verifyToken(expiring)
    const checks = signatureChecks()
    await auth.revokeToken(payload)
    await expect(auth.verifyToken(revoked)).rejects.toBeInstanceOf(RevokedTokenError)
    expect(checks.count()).toBe(0)
    now.ms += 59_999
    await expect(auth.verifyToken(expiring)).resolves.toMatchObject({ sub: 'u2' })
    expect(checks.count()).toBe(0)
    now.ms += 1
    await expect(auth.verifyToken(expiring)).rejects.toBeInstanceOf(TokenExpiredError)
  })

  it('keeps a cached payload from being changed by one caller for the next', async () => {
    const auth = instance(100, { ms: NOW_MS })
    const token = await auth.createAccessToken({ uid: 'u1', scopes: ['read'], data: { role: 'user' } })
    const first = await auth.verifyToken(token)
    expect(() => ((first.extra as Record<string, unknown>).role = 'admin')).toThrow(TypeError)
    expect(() => (first.scopes as string[]).push('admin:*')).toThrow(TypeError)
    expect(() => ((first.claims as Record<string, unknown>).sub = 'admin')).toThrow(TypeError)
    const checks = signatureChecks()
    const second = await auth.verifyToken(token)
    expect(checks.count()).toBe(0)
    expect(second.sub).toBe('u1')
    expect(second.scopes).toEqual(['read'])
    expect(second.extra).toEqual({ role: 'user' })
  })
})

// ---------------------------------------------------------------------------------------------
// Mutations

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'

type Segment = 0 | 1 | 2
type Mutation =
  | { kind: 'bitflip'; segment: Segment; at: number; bit: number }
  | { kind: 'substitute'; segment: Segment; at: number; char: string }
  | { kind: 'truncate'; segment: Segment; keep: number }
  | { kind: 'truncateToken'; keep: number }
  | { kind: 'swap'; a: Segment; b: Segment }
  | { kind: 'splice'; segment: Segment; donor: number }

const segmentArb = fc.constantFrom<Segment>(0, 1, 2)
const charArb = fc.oneof(
  { weight: 2, arbitrary: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)) },
  { weight: 1, arbitrary: fc.constantFrom(...ALPHABET) },
)
const mutationArb: fc.Arbitrary<Mutation> = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.record({ kind: fc.constant('bitflip'), segment: segmentArb, at: fc.nat(), bit: fc.nat(7) }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('substitute'),
      segment: segmentArb,
      at: fc.nat(),
      char: charArb,
    }),
  },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('truncate'), segment: segmentArb, keep: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('truncateToken'), keep: fc.nat() }) },
  {
    weight: 1,
    arbitrary: fc
      .record({ kind: fc.constant('swap'), a: segmentArb, b: segmentArb })
      .filter(({ a, b }) => a !== b),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('splice'), segment: segmentArb, donor: fc.nat() }) },
) as fc.Arbitrary<Mutation>

/** `token` changed by `m`; `donors` are other valid tokens whose segments a splice takes. */
function mutate(token: string, m: Mutation, donors: readonly string[]): string {
  const parts = token.split('.') as [string, string, string]
  switch (m.kind) {
    case 'bitflip': {
      const bytes = Buffer.from(parts[m.segment], 'base64url')
      const index = m.at % bytes.length
      bytes[index] = bytes[index]! ^ (1 << m.bit)
      parts[m.segment] = bytes.toString('base64url')
      break
    }
    case 'substitute': {
      const text = parts[m.segment]
      const index = m.at % text.length
      // The same character is no substitution: take the next one of the alphabet instead.
      const char =
        m.char === text[index] ? ALPHABET[(ALPHABET.indexOf(m.char) + 1) % ALPHABET.length]! : m.char
      parts[m.segment] = text.slice(0, index) + char + text.slice(index + 1)
      break
    }
    case 'truncate':
      parts[m.segment] = parts[m.segment].slice(0, m.keep % parts[m.segment].length)
      break
    case 'truncateToken':
      return token.slice(0, m.keep % token.length)
    case 'swap':
      ;[parts[m.a], parts[m.b]] = [parts[m.b], parts[m.a]]
      break
    case 'splice':
      parts[m.segment] = donors[m.donor % donors.length]!.split('.')[m.segment]!
      break
  }
  return parts.join('.')
}

type Outcome =
  | { accepted: true; sub: string }
  | { accepted: false; error: string; code?: string; status?: number; reason?: unknown; message: string }

/** What one engine makes of a token: accepted, or the error, reduced to comparable fields. */
async function outcome(
  auth: AuthX,
  method: Method,
  token: string,
  type: 'access' | 'refresh',
): Promise<Outcome> {
  try {
    const payload =
      method === 'decodeToken' ? await auth.decodeToken(token) : await auth.verifyToken(token, { type })
    return { accepted: true, sub: payload.sub }
  } catch (err) {
    if (!(err instanceof AuthXError)) return { accepted: false, error: String(err), message: String(err) }
    return {
      accepted: false,
      error: err.constructor.name,
      code: err.code,
      status: err.status,
      reason: (err as { reason?: unknown }).reason,
      message: err.message,
    }
  }
}

/** Both engines reject `token` as an invalid token, with the same class, code, reason and message. */
async function expectSameRejection(
  alg: Alg,
  method: Method,
  token: string,
  type: 'access' | 'refresh',
): Promise<void> {
  const { node, jose } = enginesFor(alg)
  const [onNode, onJose] = await Promise.all([
    outcome(node, method, token, type),
    outcome(jose, method, token, type),
  ])
  expect(onJose, `jose and node disagree on ${JSON.stringify(token)}`).toEqual(onNode)
  expect(onNode, `${JSON.stringify(token)} was accepted`).toMatchObject({
    accepted: false,
    error: InvalidTokenError.name,
    code: 'ERR_INVALID_TOKEN',
    status: 401,
  })
}

interface Original {
  readonly token: string
  readonly type: 'access' | 'refresh'
}

/** Valid tokens of `alg` from every signer, an access and a refresh token. */
async function originals(alg: Alg): Promise<Original[]> {
  const list: Original[] = []
  for (const signer of ['node', 'jose', 'oracle'] as const) {
    list.push({ token: await accessToken(alg, signer, `m-${signer}`), type: 'access' })
  }
  for (const engine of ENGINES) {
    list.push({
      token: await enginesFor(alg)[engine].createRefreshToken({ uid: `r-${engine}` }),
      type: 'refresh',
    })
  }
  // Every original is valid on both engines, so each rejection below is the mutation's doing.
  for (const { token, type } of list) {
    for (const engine of ENGINES) await enginesFor(alg)[engine].verifyToken(token, { type })
  }
  return list
}

const methodArb = fc.constantFrom<Method>('decodeToken', 'verifyToken')

describe.each(ALGORITHMS)('%s: mutated tokens are rejected alike by both engines', (alg) => {
  it(`rejects ${MUTATION_RUNS} bit flips, substitutions, truncations, swaps and splices`, async () => {
    const valid = await originals(alg)
    // Donors: this algorithm's other tokens, and tokens of a different algorithm and key.
    const other: Alg = alg === 'HS256' ? 'ES256' : 'HS256'
    const donors = [
      ...valid.map((o) => o.token),
      await enginesFor(other).node.createAccessToken({ uid: 'donor' }),
      await enginesFor(other).jose.createRefreshToken({ uid: 'donor' }),
    ]
    let checked = 0
    await fc.assert(
      fc.asyncProperty(fc.nat(valid.length - 1), mutationArb, methodArb, async (i, m, method) => {
        const { token, type } = valid[i]!
        const mutated = mutate(token, m, donors)
        fc.pre(mutated !== token)
        await expectSameRejection(alg, method, mutated, type)
        checked += 1
      }),
      { numRuns: MUTATION_RUNS },
    )
    expect(checked).toBe(MUTATION_RUNS)
  })

  it(`rejects ${RESIGN_RUNS} tokens re-signed with a wrong key or under another algorithm`, async () => {
    const valid = await originals(alg)
    const publicPem = isHmacAlg(alg) ? undefined : pemOf(keyPairFor(alg)).publicKey
    const others = ALGORITHMS.filter((a) => a !== alg)
    const resignArb = fc.record({
      original: fc.nat(valid.length - 1),
      // Mostly the instance's own algorithm (so the signature check decides), else any other.
      alg: fc.oneof(
        { weight: 3, arbitrary: fc.constant<Alg | 'none'>(alg) },
        { weight: 2, arbitrary: fc.constantFrom<Alg | 'none'>(...others, 'none') },
      ),
      // HMAC under a public key used as the secret: the classic algorithm confusion.
      key: fc.constantFrom('wrong', 'public-as-secret'),
      claims: fc.constantFrom('same', 'escalated', 'no-exp'),
      kid: fc.constantFrom('keep', 'drop'),
      method: methodArb,
    })
    let checked = 0
    await fc.assert(
      fc.asyncProperty(resignArb, async (r) => {
        const { token, type } = valid[r.original]!
        const header: Record<string, unknown> = { ...headerOf(token), alg: r.alg }
        if (r.kid === 'drop') delete header.kid
        const claims = claimsOf(token)
        if (r.claims === 'escalated')
          Object.assign(claims, { sub: 'admin', scopes: ['admin:*'], fresh: true })
        if (r.claims === 'no-exp') delete claims.exp
        let resigned: string
        if (r.alg === 'none') {
          resigned = `${base64urlJson(header)}.${base64urlJson(claims)}.${token.split('.')[2]}`
        } else if (isHmacAlg(r.alg) && r.key === 'public-as-secret' && publicPem !== undefined) {
          resigned = signToken(r.alg, publicPem, header, claims)
        } else {
          resigned = signToken(r.alg, signingKey(r.alg, 1), header, claims)
        }
        await expectSameRejection(alg, r.method, resigned, type)
        checked += 1
      }),
      { numRuns: RESIGN_RUNS },
    )
    expect(checked).toBe(RESIGN_RUNS)
  })
})
