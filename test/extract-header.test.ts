/**
 * The Authorization header: the shortcut for the common spelling ('<type> <token>', one space,
 * no other whitespace) accepts and refuses exactly what the full pattern does, for any value.
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { AuthX, type AuthXRequest, InvalidTokenError } from '../src/index.js'

const secretKey = 'h'.repeat(32)

function requestWith(value: string): AuthXRequest {
  return {
    method: 'GET',
    header: (name) => (name.toLowerCase() === 'authorization' ? value : undefined),
    cookie: () => undefined,
    query: () => undefined,
    json: async () => undefined,
    form: async () => undefined,
  }
}

/** The rule written out plainly: trimmed, a scheme (any case), spaces, one token. */
function expected(value: string, type: string): string | 'malformed' {
  const match = /^([^\s]+) +([^\s]+)$/.exec(value.trim())
  if (match === null || match[1]!.toLowerCase() !== type.toLowerCase()) return 'malformed'
  return match[2]!
}

async function found(auth: AuthX, value: string): Promise<string | 'malformed'> {
  try {
    const token = await auth.getTokenFromRequest(requestWith(value))
    return token!.token
  } catch (err) {
    expect(err).toBeInstanceOf(InvalidTokenError)
    return 'malformed'
  }
}

describe('Authorization header', () => {
  for (const type of ['Bearer', 'JWT']) {
    it(`finds what the full pattern finds, for any value (type ${type})`, async () => {
      const auth = new AuthX({ secretKey, header: { type } })
      const piece = fc.constantFrom(
        type,
        type.toLowerCase(),
        type.toUpperCase(),
        ' ',
        '  ',
        '\t',
        '\n',
        '\u00a0',
        '\u2028',
        'a.b.c',
        'x',
        '',
      )
      const value = fc.oneof(
        fc.array(piece, { maxLength: 6 }).map((parts) => parts.join('')),
        fc.string({ unit: 'binary', maxLength: 20 }),
        fc
          .tuple(fc.constantFrom(`${type} `, `${type}  `, ` ${type} `), fc.string({ maxLength: 20 }))
          .map(([a, b]) => a + b),
      )
      await fc.assert(
        fc.asyncProperty(value, async (v) => {
          expect(await found(auth, v)).toBe(expected(v, type))
        }),
        { numRuns: 3000 },
      )
    })
  }

  it('takes the token of the common spelling, and refuses whitespace inside it', async () => {
    const auth = new AuthX({ secretKey })
    expect(await found(auth, 'Bearer a.b.c')).toBe('a.b.c')
    expect(await found(auth, 'bearer a.b.c')).toBe('a.b.c')
    expect(await found(auth, 'Bearer  a.b.c ')).toBe('a.b.c')
    expect(await found(auth, 'Bearer a.b c')).toBe('malformed')
    expect(await found(auth, 'Bearer a.b\tc')).toBe('malformed')
    expect(await found(auth, 'Bearer a.b\u00a0c')).toBe('malformed')
    expect(await found(auth, 'Bearer ')).toBe('malformed')
    expect(await found(auth, 'Bearerx a.b.c')).toBe('malformed')
  })
})
