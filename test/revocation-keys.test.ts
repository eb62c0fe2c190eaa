/**
 * Revocation store keys: the fast path that skips `encodeURIComponent` for ids needing no
 * escaping gives the very keys the escaping would, and ids no URI escape can encode (lone
 * surrogates) get keys of their own instead of an exception (a 500).
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { familyKey, jtiKey, subjectKey, usedKey } from '../src/core/revocation.js'
import { AuthX, RevokedTokenError } from '../src/index.js'
import { rejection } from './support/engines.js'

const secretKey = 'r'.repeat(32)

describe('revocation keys', () => {
  it('equal the escaped layout for every well-formed id', () => {
    fc.assert(
      fc.property(fc.option(fc.string({ unit: 'grapheme' })), fc.string({ unit: 'grapheme' }), (iss, id) => {
        const issuer = iss ?? undefined
        const escaped = (v: string | undefined) => encodeURIComponent(v ?? '')
        expect(jtiKey(issuer, id)).toBe(`jti:${escaped(issuer)}:${escaped(id)}`)
        expect(familyKey(issuer, id)).toBe(`fid:${escaped(issuer)}:${escaped(id)}`)
        expect(subjectKey(issuer, id)).toBe(`sub:${escaped(issuer)}:${escaped(id)}`)
        expect(usedKey(issuer, id)).toBe(`used:${escaped(issuer)}:${escaped(id)}`)
      }),
      { numRuns: 3000 },
    )
    expect(jtiKey(undefined, "a-b_c.d!e~f*g'h(i)j")).toBe("jti::a-b_c.d!e~f*g'h(i)j")
    expect(jtiKey('https://i.example', 'a b:c')).toBe('jti:https%3A%2F%2Fi.example:a%20b%3Ac')
  })

  it('are distinct for ids with lone surrogates, and such tokens verify and revoke without a 500', async () => {
    expect(subjectKey(undefined, '\ud800')).not.toBe(subjectKey(undefined, '\ud801'))
    expect(subjectKey(undefined, '\ud800')).not.toBe(subjectKey(undefined, '%ud800'))
    expect(subjectKey(undefined, '\ud800')).not.toBe(subjectKey(undefined, '\ufffd'))
    const auth = new AuthX({ secretKey })
    const lone = await auth.createAccessToken({ uid: '\ud800' })
    const other = await auth.createAccessToken({ uid: '\ud801' })
    expect((await auth.verifyToken(lone)).sub).toBe('\ud800')
    await new Promise((resolve) => setTimeout(resolve, 1000))
    await auth.revokeAllForSubject('\ud800')
    expect(await rejection(auth.verifyToken(lone))).toBeInstanceOf(RevokedTokenError)
    expect((await auth.verifyToken(other)).sub).toBe('\ud801')
  })
})
