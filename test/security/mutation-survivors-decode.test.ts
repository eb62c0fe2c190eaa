/**
 * Decoding behaviours pinned down by mutation testing (docs/security.md, "Mutation testing"):
 * the exact nesting limit, a byte-order mark, non-string `kid`s, characters just outside the
 * base64url alphabet, and the rule that every refusal explains itself. Each test states a
 * behaviour the rest of the suite exercised only around its edges.
 */
import { describe, expect, it } from 'vitest'
import { MAX_JSON_DEPTH } from '../../src/core/decode.js'
import type { AuthX } from '../../src/index.js'
import {
  accessClaims,
  b64u,
  ecKeys,
  edKeys,
  expectInvalid,
  forge,
  forgeHs256,
  hmac,
  hsAuth,
  jsonText,
  makeAuth,
  NOW_MS,
  OTHER_SECRET,
  raw,
  SECRET,
  segments,
  spkiPem,
} from './forge.js'

/** An object nested `levels` deep, counting itself: `nest(1)` is `{}`, `nest(2)` is `{ a: {} }`. */
function nest(levels: number): Record<string, unknown> {
  let value: Record<string, unknown> = {}
  for (let i = 1; i < levels; i++) value = { a: value }
  return value
}

/**
 * A valid access token whose payload segment has `length % 4 === tail`, padded with a filler
 * claim, so the last base64url group has the wanted size.
 */
function tokenWithPayloadTail(tail: 2 | 3): string {
  for (let pad = 0; pad < 8; pad++) {
    const token = forgeHs256(raw(jsonText(accessClaims({ pad: 'x'.repeat(pad) }))))
    if (segments(token)[1].length % 4 === tail) return token
  }
  throw new Error('unreachable: eight paddings cover every length modulo 4')
}

/** The token with the character at `index` of its payload segment replaced, not re-signed. */
function replaceInPayload(token: string, index: number, char: string): string {
  const [h, p, s] = segments(token)
  const at = index < 0 ? p.length + index : index
  return `${h}.${p.slice(0, at)}${char}${p.slice(at + 1)}.${s}`
}

describe('security: nesting limit, exactly', () => {
  const auth = hsAuth()

  it(`accepts a payload nested exactly ${MAX_JSON_DEPTH} levels deep and rejects one level more as malformed`, async () => {
    // The payload object is level 1, so the custom claim holds the other levels.
    const deepest = forgeHs256(accessClaims({ deep: nest(MAX_JSON_DEPTH - 1) }))
    expect((await auth.decodeToken(deepest)).sub).toBe('user-1')
    const tooDeep = forgeHs256(accessClaims({ deep: nest(MAX_JSON_DEPTH) }))
    await expectInvalid(auth.decodeToken(tooDeep), 'malformed', tooDeep)
  })

  it('counts nested arrays as levels too', async () => {
    let arrays: unknown = []
    for (let i = 2; i < MAX_JSON_DEPTH; i++) arrays = [arrays]
    expect(await auth.decodeToken(forgeHs256(accessClaims({ deep: arrays })))).toBeDefined()
    const tooDeep = forgeHs256(accessClaims({ deep: [arrays] }))
    await expectInvalid(auth.decodeToken(tooDeep), 'malformed', tooDeep)
  })
})

describe('security: byte-order mark', () => {
  const auth = hsAuth()
  const BOM = new Uint8Array([0xef, 0xbb, 0xbf])
  const withBom = (json: string) => raw(new Uint8Array([...BOM, ...new TextEncoder().encode(json)]))

  it('rejects a payload starting with a UTF-8 byte-order mark, MACed with the right secret', async () => {
    const token = forgeHs256(withBom(jsonText(accessClaims())))
    await expectInvalid(auth.decodeToken(token), 'malformed', token)
  })

  it('rejects a header starting with a UTF-8 byte-order mark, MACed with the right secret', async () => {
    const token = forge(withBom('{"alg":"HS256","typ":"JWT"}'), accessClaims(), hmac('HS256', SECRET))
    await expectInvalid(auth.decodeToken(token), 'malformed', token)
  })
})

describe('security: kid must be a string', () => {
  it('rejects a non-string kid as malformed even when the only key has no kid and would accept any', async () => {
    const auth = hsAuth()
    for (const kid of [7, 0, null, true, ['k'], { k: 1 }]) {
      const token = forgeHs256(accessClaims(), { alg: 'HS256', typ: 'JWT', kid })
      await expectInvalid(auth.decodeToken(token), 'malformed', token)
    }
  })
})

describe('security: characters next to the base64url alphabet', () => {
  const auth = hsAuth()

  it('rejects a foreign character opening the last two-character group of a segment', async () => {
    const token = tokenWithPayloadTail(2)
    expect((await auth.decodeToken(token)).sub).toBe('user-1')
    for (const char of ['+', '/', '=', '*', '.', ' ', '\u0080', '\u00e9', '\uffff']) {
      const bad = replaceInPayload(token, -2, char)
      await expectInvalid(auth.decodeToken(bad), 'malformed', bad)
    }
  })

  it('rejects U+0080, the first code point past ASCII, anywhere in a segment', async () => {
    for (const tail of [2, 3] as const) {
      const token = tokenWithPayloadTail(tail)
      for (const index of [0, 5, -3, -2, -1]) {
        const bad = replaceInPayload(token, index, '\u0080')
        await expectInvalid(auth.decodeToken(bad), 'malformed', bad)
      }
    }
  })
})

describe('security: every refusal says why', () => {
  const auth = hsAuth()
  const tokenWith = (overrides: Record<string, unknown>) => forgeHs256(accessClaims(overrides))
  const mixed = makeAuth({
    keys: [
      { kid: 'e', algorithm: 'ES256', publicKey: spkiPem(ecKeys().publicKey) },
      { kid: 'd', algorithm: 'EdDSA', publicKey: spkiPem(edKeys().publicKey) },
    ],
  })
  const retired = makeAuth({
    clock: () => NOW_MS + 120_000,
    keys: [
      { kid: 'new', algorithm: 'HS256', secretKey: SECRET },
      { kid: 'old', algorithm: 'HS256', secretKey: OTHER_SECRET, retireAt: new Date(NOW_MS + 60_000) },
    ],
  })
  const valid = tokenWith({})
  const [h, p, s] = segments(valid)

  const cases: [string, AuthX, unknown, string][] = [
    ['a token that is not a string', auth, 42, 'malformed'],
    ['a token over maxTokenBytes', auth, `${h}.${p}.${s}${'A'.repeat(9000)}`, 'too_large'],
    ['a token of two segments', auth, `${h}.${p}`, 'malformed'],
    ['an empty signature', auth, `${h}.${p}.`, 'malformed'],
    ['a non-canonical signature', auth, `${h}.${p}.${s.slice(0, -1)}*`, 'malformed'],
    [
      'a header that is not JSON',
      auth,
      forge(raw('not json'), accessClaims(), hmac('HS256', SECRET)),
      'malformed',
    ],
    ['an unknown algorithm', auth, forgeHs256(accessClaims(), { alg: 'none' }), 'algorithm'],
    ['a crit header', auth, forgeHs256(accessClaims(), { alg: 'HS256', crit: ['x'], x: 1 }), 'algorithm'],
    ['a kid that is not a string', auth, forgeHs256(accessClaims(), { alg: 'HS256', kid: 1 }), 'malformed'],
    ['a kid no key has', mixed, forge({ alg: 'EdDSA', kid: 'nope' }, accessClaims(), 'AAAA'), 'signature'],
    [
      'a kid of a key for another algorithm',
      mixed,
      forge({ alg: 'EdDSA', kid: 'e' }, accessClaims(), 'AAAA'),
      'algorithm',
    ],
    [
      'a retired key',
      retired,
      forge({ alg: 'HS256', kid: 'old' }, accessClaims(), hmac('HS256', OTHER_SECRET)),
      'signature',
    ],
    ['a non-canonical payload', auth, `${h}.${p.slice(0, 4)}*${p.slice(5)}.${s}`, 'malformed'],
    ['a wrong signature', auth, `${h}.${p}.${b64u(new Uint8Array(32))}`, 'signature'],
    ['a payload that is not a JSON object', auth, forgeHs256(raw('[1]')), 'malformed'],
    ['a bad type claim', auth, tokenWith({ type: 'id' }), 'claims'],
    ['an empty sub', auth, tokenWith({ sub: '' }), 'claims'],
    ['an empty jti', auth, tokenWith({ jti: '' }), 'claims'],
    ['a string iat', auth, tokenWith({ iat: 'now' }), 'claims'],
    ['a string exp', auth, tokenWith({ exp: 'later' }), 'claims'],
    ['a string nbf', auth, tokenWith({ nbf: 'now' }), 'claims'],
    ['a string fresh', auth, tokenWith({ fresh: 'yes' }), 'claims'],
    ['a numeric csrf', auth, tokenWith({ csrf: 1 }), 'claims'],
    ['a wrong issuer', hsAuth({ verify: { issuer: 'me' } }), tokenWith({ iss: 'them' }), 'issuer'],
    ['an unexpected audience', auth, tokenWith({ aud: 'api' }), 'audience'],
    ['a wrong audience', hsAuth({ verify: { audience: 'api' } }), tokenWith({ aud: 'web' }), 'audience'],
    ['an iat in the future', auth, tokenWith({ iat: NOW_MS / 1000 + 3600 }), 'claims'],
    ['an nbf in the future', auth, tokenWith({ nbf: NOW_MS / 1000 + 3600 }), 'not_before'],
  ]

  for (const [name, instance, token, reason] of cases) {
    it(`refuses ${name} as ${reason} with a message that is not empty`, async () => {
      const err = await expectInvalid(instance.decodeToken(token as string), reason as never, token)
      expect(err.message.trim()).not.toBe('')
    })
  }
})
