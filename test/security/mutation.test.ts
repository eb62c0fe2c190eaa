/**
 * Property tests (fast-check): a valid token changed by one character (replaced, deleted or
 * inserted) never verifies, on either engine, and the only errors ever thrown are
 * `InvalidTokenError` and `TokenExpiredError`: never a `TypeError`, a `RangeError` or anything
 * else that would become a 500. Positions next to the dots and at the ends of segments are
 * drawn more often, since that is where lenient base64url decoders and splitters go wrong.
 */
import fc from 'fast-check'
import { describe, expect, it, vi } from 'vitest'
import { type AuthX, InvalidTokenError, TokenExpiredError } from '../../src/index.js'
import {
  ALPHABET,
  ENGINES,
  type Engine,
  ecKeys,
  edKeys,
  hsAuth,
  makeAuth,
  pkcs8Pem,
  rsaKeys,
} from './forge.js'

vi.mock('../../src/core/runtime.js', async (orig) => {
  const mod = await orig<typeof import('../../src/core/runtime.js')>()
  const { engineNow } = await import('../support/variant-setup.js')
  return { ...mod, nodeCrypto: () => (engineNow() === 'jose' ? undefined : mod.nodeCrypto()) }
})

const RUNS = 300

type Mutation =
  | { kind: 'replace'; index: number; char: string }
  | { kind: 'delete'; index: number }
  | { kind: 'insert'; index: number; char: string }

function apply(token: string, m: Mutation): string {
  if (m.kind === 'delete') return token.slice(0, m.index) + token.slice(m.index + 1)
  if (m.kind === 'insert') return token.slice(0, m.index) + m.char + token.slice(m.index)
  const original = token[m.index]!
  // Replacing a character by itself is no mutation: take the next printable character instead.
  const char =
    m.char === original ? String.fromCharCode(((original.charCodeAt(0) - 0x1f) % 95) + 0x20) : m.char
  return token.slice(0, m.index) + char + token.slice(m.index + 1)
}

/** Indexes where parsing is most fragile: both ends, the dots and their neighbours. */
function hotIndexes(token: string): number[] {
  const first = token.indexOf('.')
  const second = token.indexOf('.', first + 1)
  const all = [
    0,
    1,
    first - 1,
    first,
    first + 1,
    second - 1,
    second,
    second + 1,
    token.length - 2,
    token.length - 1,
  ]
  return [...new Set(all.filter((i) => i >= 0 && i < token.length))]
}

function mutations(token: string): fc.Arbitrary<Mutation> {
  const index = fc.oneof(
    { weight: 3, arbitrary: fc.nat({ max: token.length - 1 }) },
    { weight: 1, arbitrary: fc.constantFrom(...hotIndexes(token)) },
  )
  const char = fc.oneof(
    { weight: 2, arbitrary: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)) },
    { weight: 1, arbitrary: fc.constantFrom(...ALPHABET) },
  )
  return fc.oneof(
    fc.record({ kind: fc.constant('replace' as const), index, char }),
    fc.record({ kind: fc.constant('delete' as const), index }),
    fc.record({
      kind: fc.constant('insert' as const),
      index: fc.oneof(fc.nat({ max: token.length }), fc.constantFrom(...hotIndexes(token), token.length)),
      char,
    }),
  )
}

/** The error verification throws; fails when the mutated token verifies. */
async function failure(auth: AuthX, token: string): Promise<unknown> {
  try {
    await auth.verifyToken(token)
  } catch (err) {
    return err
  }
  throw new Error(`a mutated token verified: ${JSON.stringify(token)}`)
}

function expectOnlyInvalidToken(err: unknown): void {
  if (!(err instanceof InvalidTokenError)) throw err
  expect([InvalidTokenError, TokenExpiredError]).toContain(err.constructor)
  expect(err.status).toBe(401)
}

const instances: [string, (engine: Engine) => AuthX][] = [
  ['HS256', (engine) => hsAuth({}, engine)],
  ['RS256', (engine) => makeAuth({ algorithm: 'RS256', privateKey: pkcs8Pem(rsaKeys().privateKey) }, engine)],
  ['ES256', (engine) => makeAuth({ algorithm: 'ES256', privateKey: pkcs8Pem(ecKeys().privateKey) }, engine)],
  ['EdDSA', (engine) => makeAuth({ algorithm: 'EdDSA', privateKey: pkcs8Pem(edKeys().privateKey) }, engine)],
]

describe.each(ENGINES)('security: single-character mutations never verify (%s engine)', (engine) => {
  for (const [alg, create] of instances) {
    it(`rejects every one-character mutation of a valid ${alg} token with InvalidTokenError only`, async () => {
      const auth = create(engine)
      const token = await auth.createAccessToken({ uid: 'user-1', scopes: ['read'], data: { role: 'user' } })
      expect((await auth.verifyToken(token)).sub).toBe('user-1')
      await fc.assert(
        fc.asyncProperty(mutations(token), async (m) => {
          const mutated = apply(token, m)
          expect(mutated).not.toBe(token)
          expectOnlyInvalidToken(await failure(auth, mutated))
        }),
        { numRuns: RUNS },
      )
    })

    it(`rejects every other character in the last position of each ${alg} segment`, async () => {
      const auth = create(engine)
      const token = await auth.createAccessToken({ uid: 'user-1' })
      const ends = hotIndexes(token).filter((i) => i === token.length - 1 || token[i + 1] === '.')
      expect(ends).toHaveLength(3)
      for (const index of ends) {
        for (const char of ALPHABET) {
          if (char === token[index]) continue
          expectOnlyInvalidToken(await failure(auth, apply(token, { kind: 'replace', index, char })))
        }
      }
    })
  }
})
