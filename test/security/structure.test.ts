/**
 * Security catalogue B (structure and encoding) and C01/C02 (prototype keys): segment counts,
 * strict canonical base64url, JSON objects only, strict UTF-8, the size limit, nesting depth and
 * `__proto__` keys. Every malformed token here is signed with the right key, so only the
 * structural rule under test can be what rejects it.
 */
import { describe, expect, it, vi } from 'vitest'
import { type AuthX, ConfigError, InsufficientScopeError, InvalidTokenError } from '../../src/index.js'
import {
  ALPHABET,
  accessClaims,
  b64u,
  ENGINES,
  ecKeys,
  edKeys,
  expectInvalid,
  forge,
  forgeHs256,
  hmac,
  hsAuth,
  makeAuth,
  nonCanonical,
  pkcs8Pem,
  raw,
  rejection,
  rsaKeys,
  SECRET,
  segments,
  thrown,
} from './forge.js'

vi.mock('../../src/core/runtime.js', async (orig) => {
  const mod = await orig<typeof import('../../src/core/runtime.js')>()
  const { engineNow } = await import('../support/variant-setup.js')
  return { ...mod, nodeCrypto: () => (engineNow() === 'jose' ? undefined : mod.nodeCrypto()) }
})

const HS256 = { alg: 'HS256', typ: 'JWT' }

/** A fresh token of `auth` for which `accept` holds (signatures vary with the random jti). */
async function tokenWhere(auth: AuthX, accept: (token: string) => boolean): Promise<string> {
  for (let i = 0; i < 1000; i++) {
    const token = await auth.createAccessToken({ uid: 'user-1' })
    if (accept(token)) return token
  }
  throw new Error('no token matched')
}

/** A valid token of exactly `length` characters, padded through custom data (and a header field). */
async function tokenOfLength(verifier: AuthX, length: number): Promise<string> {
  // Minted by an instance with the same key and a larger limit: authx refuses to mint a token
  // over its own maxTokenBytes, so an oversized one has to come from elsewhere.
  const auth = hsAuth({ verify: { maxTokenBytes: Math.max(length + 64, verifier.config.maxTokenBytes) } })
  for (let h = 0; h < 4; h++) {
    const extra = h === 0 ? {} : { headers: { p: 'x'.repeat(h) } }
    const base = (await auth.createAccessToken({ uid: 'user-1', data: { pad: '' }, ...extra })).length
    const start = Math.max(0, Math.floor(((length - base) * 3) / 4) - 4)
    for (let n = start; n < start + 16; n++) {
      const token = await auth.createAccessToken({ uid: 'user-1', data: { pad: 'x'.repeat(n) }, ...extra })
      if (token.length === length) return token
      if (token.length > length) break
    }
  }
  throw new Error(`could not build a token of ${length} characters`)
}

/** A valid token whose header and payload segments both have unused low bits in their last character. */
async function tokenWithUnusedBits(auth: AuthX): Promise<string> {
  for (let h = 1; h < 8; h++) {
    for (let d = 0; d < 8; d++) {
      const token = await auth.createAccessToken({
        uid: 'user-1',
        data: { pad: 'x'.repeat(d) },
        headers: { p: 'x'.repeat(h) },
      })
      if (segments(token).every((s) => s.length % 4 !== 0)) return token
    }
  }
  throw new Error('no token with unused bits in every segment')
}

describe('security: structure and segment counts', () => {
  const auth = hsAuth()
  const good = forgeHs256(accessClaims())
  const [h, p, s] = segments(good)

  it('accepts the control token', async () => {
    expect((await auth.decodeToken(good)).sub).toBe('user-1')
  })

  const shapes: [string, string][] = [
    ["''", ''],
    ["'.'", '.'],
    ["'..'", '..'],
    ["'...'", '...'],
    ["'h'", h],
    ["'h.p'", `${h}.${p}`],
    ["'h.p.'", `${h}.${p}.`],
    ["'.p.s'", `.${p}.${s}`],
    ["'h..s'", `${h}..${s}`],
    ["'h.p.s.'", `${h}.${p}.${s}.`],
    ["'h.p.s.x'", `${h}.${p}.${s}.x`],
    ["'.h.p.s'", `.${h}.${p}.${s}`],
    ['5 segments', `${h}.${p}.${s}.${p}.${s}`],
    ['the payload segment twice', `${h}.${p}.${p}.${s}`],
  ]
  for (const [name, token] of shapes) {
    it(`rejects ${name} as malformed`, async () => {
      await expectInvalid(auth.decodeToken(token), 'malformed', token)
      await expectInvalid(auth.verifyToken(token), 'malformed', token)
    })
  }

  it('rejects values that are not strings as malformed, never with a TypeError', async () => {
    for (const value of [undefined, null, 42, {}, [], [good], Buffer.from(good), new String(good), true]) {
      await expectInvalid(auth.decodeToken(value as unknown as string), 'malformed')
      await expectInvalid(auth.verifyToken(value as unknown as string), 'malformed')
    }
  })

  const positions = (segment: string): number[] => [0, segment.length >> 1, segment.length - 1]
  for (const [index, name] of [
    [0, 'header'],
    [1, 'payload'],
    [2, 'signature'],
  ] as const) {
    it(`rejects one character changed at the first, middle and last position of the ${name}`, async () => {
      const parts = segments(good)
      for (const at of positions(parts[index])) {
        const segment = parts[index]
        // Flip one used bit of the character so the segment stays canonical base64url.
        const value = ALPHABET.indexOf(segment[at]!)
        const tail = segment.length % 4
        const bit = at < segment.length - 1 || tail === 0 ? 1 : tail === 2 ? 16 : 4
        const changed = segment.slice(0, at) + ALPHABET[value ^ bit] + segment.slice(at + 1)
        const copy = [...parts]
        copy[index] = changed
        const token = copy.join('.')
        await expectInvalid(auth.decodeToken(token), ['malformed', 'signature', 'algorithm'], token)
      }
    })
  }

  it('rejects a signature that is truncated or extended, without a non-authx error', async () => {
    const sig = Buffer.from(s, 'base64url')
    const variants = [
      b64u(sig.subarray(0, 31)),
      b64u(sig.subarray(0, 16)),
      b64u(sig.subarray(0, 1)),
      b64u(Buffer.concat([sig, Buffer.from([0])])),
      b64u(Buffer.concat([sig, sig])),
      `${s}AAAA`,
    ]
    for (const signature of variants) {
      const token = `${h}.${p}.${signature}`
      await expectInvalid(auth.decodeToken(token), 'signature', token)
    }
    for (const token of [`${h}.${p}.${s}A`, `${h}.${p}.${s.slice(0, -1)}`, `${h}.${p}.${s.slice(0, -4)}`]) {
      await expectInvalid(auth.decodeToken(token), ['malformed', 'signature'], token)
    }
  })
})

describe.each(ENGINES)('security: non-canonical base64url (%s engine)', (engine) => {
  const auth = hsAuth({}, engine)

  it('rejects set unused low bits in the last character of each segment, e.g. ...Q -> ...R', async () => {
    const token = await tokenWithUnusedBits(auth)
    expect((await auth.decodeToken(token)).sub).toBe('user-1')
    const parts = segments(token)
    for (let i = 0; i < 3; i++) {
      for (const allBits of [false, true]) {
        const variant = nonCanonical(parts[i]!, allBits)!
        // The malleability: a lenient decoder reads the same bytes from both spellings.
        expect(Buffer.from(variant, 'base64url').equals(Buffer.from(parts[i]!, 'base64url'))).toBe(true)
        const copy = [...parts]
        copy[i] = variant
        const forged = copy.join('.')
        await expectInvalid(auth.decodeToken(forged), 'malformed', forged)
        await expectInvalid(auth.verifyToken(forged), 'malformed', forged)
      }
    }
  })

  const asymmetric = [
    ['RS256', () => rsaKeys().privateKey],
    ['ES256', () => ecKeys().privateKey],
    ['EdDSA', () => edKeys().privateKey],
  ] as const
  for (const [alg, key] of asymmetric) {
    it(`rejects a ${alg} signature whose last character has unused bits set`, async () => {
      const signer = makeAuth({ algorithm: alg, privateKey: pkcs8Pem(key()) }, engine)
      const token = await signer.createAccessToken({ uid: 'user-1' })
      const [h, p, s] = segments(token)
      expect((await signer.decodeToken(token)).sub).toBe('user-1')
      for (const allBits of [false, true]) {
        const forged = `${h}.${p}.${nonCanonical(s, allBits)}`
        expect(Buffer.from(nonCanonical(s, allBits)!, 'base64url').equals(Buffer.from(s, 'base64url'))).toBe(
          true,
        )
        await expectInvalid(signer.decodeToken(forged), 'malformed', forged)
      }
    })
  }

  it("rejects standard-alphabet '+' and '/' in place of '-' and '_' (same bytes to a lenient decoder)", async () => {
    const swaps: [string, string][] = [
      ['-', '+'],
      ['_', '/'],
    ]
    for (const [from, to] of swaps) {
      const token = await tokenWhere(auth, (t) => segments(t)[2].includes(from))
      const [h, p, s] = segments(token)
      const swapped = s.replaceAll(from, to)
      expect(Buffer.from(swapped, 'base64url').equals(Buffer.from(s, 'base64url'))).toBe(true)
      const forged = `${h}.${p}.${swapped}`
      await expectInvalid(auth.decodeToken(forged), 'malformed', forged)
    }
  })

  it("rejects '=' padding on any segment", async () => {
    const token = await auth.createAccessToken({ uid: 'user-1' })
    const parts = segments(token)
    for (let i = 0; i < 3; i++) {
      for (const pad of ['=', '==', '===']) {
        const copy = [...parts]
        copy[i] = `${parts[i]}${pad}`
        const forged = copy.join('.')
        await expectInvalid(auth.decodeToken(forged), 'malformed', forged)
      }
    }
  })

  const foreign: [string, string][] = [
    ['a space', ' '],
    ['a newline', '\n'],
    ['a CRLF', '\r\n'],
    ['a tab', '\t'],
    ['a backslash', '\\'],
    ['%2B', '%2B'],
    ["'+'", '+'],
    ["'/'", '/'],
    ["'='", '='],
    ['a NUL', '\u0000'],
    ["non-ASCII 'é'", 'é'],
    ['a fullwidth A', '\uFF21'],
  ]
  for (const [name, text] of foreign) {
    it(`rejects ${name} inserted in the header, the payload or the signature`, async () => {
      const token = await auth.createAccessToken({ uid: 'user-1' })
      const parts = segments(token)
      for (let i = 0; i < 3; i++) {
        const segment = parts[i]!
        const at = segment.length >> 1
        const copy = [...parts]
        copy[i] = segment.slice(0, at) + text + segment.slice(at)
        const forged = copy.join('.')
        await expectInvalid(auth.decodeToken(forged), 'malformed', forged)
      }
      const [h, p, s] = parts
      const trailing = `${h}.${p}.${s}${text}`
      await expectInvalid(auth.decodeToken(trailing), 'malformed', trailing)
    })
  }
})

describe('security: header and payload must be JSON objects', () => {
  const auth = hsAuth()
  const notObjects = [
    '{',
    'foo',
    '[]',
    'null',
    '1',
    '"s"',
    'true',
    '',
    ' ',
    '[{"alg":"HS256"}]',
    '{}{}',
    '{"a":1',
  ]

  for (const text of notObjects) {
    it(`rejects the payload ${JSON.stringify(text)} MACed with the right secret`, async () => {
      const token = forgeHs256(raw(text))
      await expectInvalid(auth.decodeToken(token), 'malformed', token)
    })

    it(`rejects the header ${JSON.stringify(text)} MACed with the right secret`, async () => {
      const token = forge(raw(text), accessClaims(), hmac('HS256', SECRET))
      await expectInvalid(auth.decodeToken(token), 'malformed', token)
    })
  }

  it('rejects an array wrapping valid claims (fast-jwt #639)', async () => {
    const token = forgeHs256(raw(JSON.stringify([accessClaims()])))
    await expectInvalid(auth.decodeToken(token), 'malformed', token)
    await expectInvalid(auth.verifyToken(token), 'malformed', token)
  })
})

describe('security: UTF-8', () => {
  const auth = hsAuth()
  const invalid: [string, number[]][] = [
    ['0xFF', [0xff]],
    ['a lone continuation byte', [0x80]],
    ["an overlong '/' (C0 AF)", [0xc0, 0xaf]],
    ["an overlong '/' in three bytes (E0 80 AF)", [0xe0, 0x80, 0xaf]],
    ['an encoded surrogate U+D800 (ED A0 80)', [0xed, 0xa0, 0x80]],
    ['an encoded surrogate U+DFFF (ED BF BF)', [0xed, 0xbf, 0xbf]],
    ['a truncated two-byte sequence', [0xc3]],
    ['a code point above U+10FFFF', [0xf4, 0x90, 0x80, 0x80]],
  ]

  function withBytes(json: string, marker: string, bytes: number[]): Uint8Array {
    const [before, after] = json.split(marker)
    return Buffer.concat([Buffer.from(before!), Buffer.from(bytes), Buffer.from(after!)])
  }

  for (const [name, bytes] of invalid) {
    it(`rejects ${name} inside a payload string, MACed with the right secret`, async () => {
      const json = JSON.stringify(accessClaims({ sub: 'user-@@' }))
      const token = forgeHs256(raw(withBytes(json, '@@', bytes)))
      await expectInvalid(auth.decodeToken(token), 'malformed', token)
    })

    it(`rejects ${name} inside a header string, MACed with the right secret`, async () => {
      const json = JSON.stringify({ ...HS256, cty: 'x@@' })
      const token = forge(raw(withBytes(json, '@@', bytes)), accessClaims(), hmac('HS256', SECRET))
      await expectInvalid(auth.decodeToken(token), 'malformed', token)
    })
  }

  it('accepts valid multi-byte UTF-8 and returns it unchanged', async () => {
    const token = forgeHs256(accessClaims({ sub: 'José 😀 東京' }))
    expect((await auth.decodeToken(token)).sub).toBe('José 😀 東京')
  })
})

describe('security: size limit', () => {
  it('accepts a valid token of exactly maxTokenBytes (default 8192) and rejects one byte more as too_large', async () => {
    const auth = hsAuth()
    const exact = await tokenOfLength(auth, 8192)
    expect(exact).toHaveLength(8192)
    expect((await auth.verifyToken(exact)).sub).toBe('user-1')
    const over = await tokenOfLength(auth, 8193)
    await expectInvalid(auth.decodeToken(over), 'too_large', over)
    await expectInvalid(auth.verifyToken(over), 'too_large', over)
    const appended = `${exact}A`
    await expectInvalid(auth.decodeToken(appended), 'too_large', appended)
  })

  it('honours a configured maxTokenBytes exactly', async () => {
    const auth = hsAuth({ verify: { maxTokenBytes: 1024 } })
    const exact = await tokenOfLength(auth, 1024)
    expect((await auth.decodeToken(exact)).sub).toBe('user-1')
    const over = await tokenOfLength(auth, 1025)
    await expectInvalid(auth.decodeToken(over), 'too_large', over)
  })

  it('refuses to mint a token over its own maxTokenBytes, with a TypeError at creation', async () => {
    const auth = hsAuth({ verify: { maxTokenBytes: 1024 } })
    await expect(auth.createAccessToken({ uid: 'user-1', data: { pad: 'x'.repeat(2000) } })).rejects.toThrow(
      /over verify\.maxTokenBytes/,
    )
    await expect(
      auth.createTokenPair({ uid: 'user-1', data: { pad: 'x'.repeat(2000) } }),
    ).rejects.toBeInstanceOf(TypeError)
    expect((await auth.verifyToken(await tokenOfLength(auth, 1024))).sub).toBe('user-1')
  })

  it('checks the size before decoding: oversized garbage is too_large, not malformed', async () => {
    const auth = hsAuth()
    const garbage = [
      'x'.repeat(1_000_000),
      '.'.repeat(8193),
      '='.repeat(8193),
      `${'!'.repeat(4000)}.${'?'.repeat(4000)}.${'*'.repeat(200)}`,
      'é'.repeat(9000),
    ]
    for (const token of garbage) {
      await expectInvalid(auth.decodeToken(token), 'too_large', token)
      await expectInvalid(auth.verifyToken(token), 'too_large', token)
    }
  })

  it('refuses a maxTokenBytes that is not a whole number in range', () => {
    for (const maxTokenBytes of [0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, '8192', 100_000_000]) {
      expect(thrown(() => hsAuth({ verify: { maxTokenBytes: maxTokenBytes as number } }))).toBeInstanceOf(
        ConfigError,
      )
    }
  })
})

describe('security: nesting depth', () => {
  function nested(depth: number, open: string, close: string, leaf = '1'): string {
    return `${open.repeat(depth)}${leaf}${close.repeat(depth)}`
  }

  it('accepts moderately nested custom claims', async () => {
    const auth = hsAuth()
    const token = forgeHs256(
      raw(JSON.stringify(accessClaims()).replace(/}$/, `,"d":${nested(8, '{"a":', '}')}}`)),
    )
    expect((await auth.decodeToken(token)).sub).toBe('user-1')
  })

  it('rejects a claim nested 1,000 levels deep (within the size limit) as malformed', async () => {
    const auth = hsAuth({ verify: { maxTokenBytes: 16_384 } })
    const body = JSON.stringify(accessClaims()).replace(/}$/, `,"d":${nested(1000, '{"a":', '}')}}`)
    const token = forgeHs256(raw(body))
    expect(token.length).toBeLessThanOrEqual(16_384)
    await expectInvalid(auth.decodeToken(token), 'malformed', token)
  })

  it('rejects 5,000 and 200,000 nested arrays without crashing', async () => {
    const auth = hsAuth({ verify: { maxTokenBytes: 1_048_576 } })
    for (const depth of [5000, 200_000]) {
      const body = JSON.stringify(accessClaims()).replace(/}$/, `,"d":${nested(depth, '[', ']')}}`)
      const token = forgeHs256(raw(body))
      await expectInvalid(auth.decodeToken(token), 'malformed', token)
    }
  })

  it('rejects a header nested 1,000 levels deep as malformed', async () => {
    const auth = hsAuth()
    const header = JSON.stringify(HS256).replace(/}$/, `,"x":${nested(1000, '[', ']')}}`)
    const token = forge(raw(header), accessClaims(), hmac('HS256', SECRET))
    await expectInvalid(auth.decodeToken(token), 'malformed', token)
  })
})

describe('security: prototype keys', () => {
  const auth = hsAuth()
  const claimsJson = JSON.stringify(accessClaims()).slice(1, -1)
  const polluter = '{"polluted":"yes","admin":true,"scopes":["admin:*"]}'

  function expectNoPollution(): void {
    expect(({} as Record<string, unknown>).polluted).toBeUndefined()
    expect(({} as Record<string, unknown>).admin).toBeUndefined()
    expect(({} as Record<string, unknown>).isAdmin).toBeUndefined()
    expect(Object.hasOwn(Object.prototype, 'polluted')).toBe(false)
  }

  const payloads: [string, string][] = [
    ['a top-level __proto__', `{"__proto__":${polluter},${claimsJson}}`],
    ['a top-level __proto__ after the claims', `{${claimsJson},"__proto__":${polluter}}`],
    ['__proto__ inside a custom claim', `{${claimsJson},"data":{"__proto__":${polluter}}}`],
    ['__proto__ three levels down', `{${claimsJson},"a":{"b":{"c":{"__proto__":${polluter}}}}}`],
    ['__proto__ inside an array', `{${claimsJson},"list":[1,{"__proto__":${polluter}}]}`],
    ['__proto__ inside scopes', `{${claimsJson},"scopes":[{"__proto__":${polluter}}]}`],
    ['__proto__ spelt with a \\u005f escape', `{"\\u005f_proto__":${polluter},${claimsJson}}`],
    [
      '__proto__ spelt with \\u005F escapes',
      `{${claimsJson},"x":{"\\u005F\\u005Fproto\\u005F\\u005F":${polluter}}}`,
    ],
    ['__proto__ with an escaped letter', `{"__pr\\u006fto__":${polluter},${claimsJson}}`],
    ['__proto__ set to null', `{"__proto__":null,${claimsJson}}`],
  ]
  for (const [name, body] of payloads) {
    it(`rejects ${name} in the payload as malformed, and nothing is polluted`, async () => {
      const token = forgeHs256(raw(body))
      await expectInvalid(auth.decodeToken(token), 'malformed', token)
      const err = await rejection(auth.verifyToken(token, { scopes: ['admin'] }))
      expect(err).toBeInstanceOf(InvalidTokenError)
      expect(err).not.toBeInstanceOf(InsufficientScopeError)
      expectNoPollution()
    })
  }

  const headers: [string, string][] = [
    ['a top-level __proto__', `{"alg":"HS256","typ":"JWT","__proto__":{"alg":"none","polluted":"yes"}}`],
    ['a nested __proto__', `{"alg":"HS256","typ":"JWT","x":{"__proto__":{"polluted":"yes"}}}`],
    [
      '__proto__ spelt with a \\u005f escape',
      `{"alg":"HS256","typ":"JWT","\\u005f_proto__":{"polluted":"yes"}}`,
    ],
  ]
  for (const [name, header] of headers) {
    it(`rejects ${name} in the header as malformed, and nothing is polluted`, async () => {
      const token = forge(raw(header), accessClaims(), hmac('HS256', SECRET))
      await expectInvalid(auth.decodeToken(token), 'malformed', token)
      expectNoPollution()
    })
  }

  it('never lets {"constructor":{"prototype":...}} reach Object.prototype or the payload (C02)', async () => {
    for (const body of [
      `{${claimsJson},"constructor":{"prototype":{"isAdmin":true,"polluted":"yes"}}}`,
      `{${claimsJson},"prototype":{"isAdmin":true}}`,
    ]) {
      const token = forgeHs256(raw(body))
      const outcome = await auth.decodeToken(token).catch((err: unknown) => err)
      if (outcome instanceof Error) {
        expect(outcome).toBeInstanceOf(InvalidTokenError)
      } else {
        const payload = outcome as Awaited<ReturnType<AuthX['decodeToken']>>
        expect((payload as unknown as Record<string, unknown>).isAdmin).toBeUndefined()
        expect((payload.extra as Record<string, unknown>).isAdmin).toBeUndefined()
        expect(payload.claims.isAdmin).toBeUndefined()
      }
      expectNoPollution()
    }
  })
})
