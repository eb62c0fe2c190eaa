/**
 * What callers may put into new tokens, pinned down by mutation testing (docs/security.md,
 * "Mutation testing"): audiences, custom data and extra headers of the wrong shape are refused
 * at creation with a `TypeError` whose message starts with the option's path, scopes a refresh
 * token carries are checked before they are minted again, and the nesting limit for custom
 * data is the decoder's, exactly.
 */
import { describe, expect, it } from 'vitest'
import { MAX_JSON_DEPTH } from '../../src/core/decode.js'
import { expectInvalid, forgeHs256, hsAuth, refreshClaims } from './forge.js'

const auth = hsAuth()

/** The TypeError a creation call rejects with, checked to start with `path: `. */
async function refusedNaming(call: () => Promise<unknown>, path: string): Promise<TypeError> {
  let err: unknown
  try {
    await call()
  } catch (caught) {
    err = caught
  }
  expect(err).toBeInstanceOf(TypeError)
  const message = (err as TypeError).message
  expect(message.startsWith(`${path}: `), `${JSON.stringify(message)} should start with '${path}: '`).toBe(
    true,
  )
  return err as TypeError
}

/** Arrays nested `levels` deep, counting the outermost. */
function arrays(levels: number): unknown[] {
  let value: unknown[] = []
  for (let i = 1; i < levels; i++) value = [value]
  return value
}

describe('security: scopes carried over by refresh', () => {
  it('refuses to carry an empty scope from a refresh token into new tokens, as invalid claims', async () => {
    const auth = hsAuth()
    const token = forgeHs256(refreshClaims({ scopes: ['users:read', ''] }))
    const err = await expectInvalid(auth.refresh(token), 'claims', token)
    expect(err.message.trim()).not.toBe('')
    expect(err.cause).toBeInstanceOf(TypeError)
    expect((err.cause as TypeError).message.startsWith('scopes: ')).toBe(true)
    // Nothing was consumed: the same token is refused the same way, not as a reuse.
    await expectInvalid(auth.refresh(token), 'claims', token)
  })

  it('carries the scopes of a refresh token into both new tokens', async () => {
    const auth = hsAuth()
    const pair = await auth.refresh(forgeHs256(refreshClaims({ scopes: ['users:read', 'admin:*'] })))
    expect((await auth.verifyToken(pair.accessToken)).scopes).toEqual(['users:read', 'admin:*'])
  })
})

describe('security: audience given at creation', () => {
  for (const audience of ['', [], [''], ['api', ''], ['api', 5], [5], [['api']], 5, null, { api: true }]) {
    it(`refuses the audience ${JSON.stringify(audience)} with a TypeError naming audience`, async () => {
      await refusedNaming(
        () => auth.createAccessToken({ uid: 'user-1', audience: audience as never }),
        'audience',
      )
    })
  }

  it('writes a valid string or array audience as given', async () => {
    const api = hsAuth({ verify: { audience: ['api', 'web'] } })
    const one = await api.createAccessToken({ uid: 'user-1', audience: 'api' })
    expect(api.decodeUnverified(one).payload.aud).toBe('api')
    const two = await api.createAccessToken({ uid: 'user-1', audience: ['api', 'web'] })
    expect((await api.verifyToken(two)).aud).toEqual(['api', 'web'])
  })
})

describe('security: other creation options of the wrong shape', () => {
  it('refuses an empty uid with a TypeError naming uid', async () => {
    await refusedNaming(() => auth.createAccessToken({ uid: '' }), 'uid')
  })

  it('says how long the refused expiry is when it exceeds maxLifetime', async () => {
    const short = hsAuth({ refreshTokenExpires: '1h', maxLifetime: '1h' })
    const err = await refusedNaming(() => short.createAccessToken({ uid: 'user-1', expiry: '2h' }), 'expiry')
    expect(err.message.startsWith('expiry: 7200 seconds ')).toBe(true)
    expect(err.message).toContain('3600 seconds')
  })

  it('refuses data that is not a plain object with a TypeError naming data', async () => {
    for (const data of [new Date(0), [1], new Map()]) {
      await refusedNaming(() => auth.createAccessToken({ uid: 'user-1', data: data as never }), 'data')
    }
  })
})

describe('security: extra headers', () => {
  for (const headers of [null, 'x', ['a'], new Map([['cty', 'x']]), 5]) {
    it(`refuses headers ${headers instanceof Map ? 'Map' : JSON.stringify(headers)} that are not a plain object`, async () => {
      await refusedNaming(
        () => auth.createAccessToken({ uid: 'user-1', headers: headers as never }),
        'headers',
      )
    })
  }

  it("refuses the header field 'b64' (an unencoded payload would change what is signed)", async () => {
    for (const value of [false, true]) {
      const err = await refusedNaming(
        () => auth.createAccessToken({ uid: 'user-1', headers: { b64: value } }),
        'headers',
      )
      expect(err.message).toContain("'b64'")
    }
  })

  it('names the path of a bad value inside headers', async () => {
    await refusedNaming(
      () => auth.createAccessToken({ uid: 'user-1', headers: { cty: { n: Number.NaN } } }),
      'headers.cty.n',
    )
  })
})

describe('security: custom data is plain JSON, checked with its path', () => {
  it('names the path of a number that is not finite, in objects and in arrays', async () => {
    await refusedNaming(
      () => auth.createAccessToken({ uid: 'user-1', data: { a: { b: Number.POSITIVE_INFINITY } } }),
      'data.a.b',
    )
    await refusedNaming(
      () => auth.createAccessToken({ uid: 'user-1', data: { a: [1, Number.NaN] } }),
      'data.a[1]',
    )
  })

  it('names the path of a value that is not JSON-serialisable', async () => {
    await refusedNaming(
      () => auth.createAccessToken({ uid: 'user-1', data: { a: { when: new Date(0) } } }),
      'data.a.when',
    )
  })

  it('names the path of an object with a symbol key', async () => {
    const data = { a: { [Symbol('s')]: 1 } }
    const err = await refusedNaming(() => auth.createAccessToken({ uid: 'user-1', data }), 'data.a')
    expect(err.message).toContain('symbol')
  })

  it(`accepts data nested exactly ${MAX_JSON_DEPTH} levels deep, arrays included, and refuses one more`, async () => {
    // The claims object is level 1, so the custom claim holds the other levels.
    const token = await auth.createAccessToken({ uid: 'user-1', data: { deep: arrays(MAX_JSON_DEPTH - 1) } })
    expect((await auth.verifyToken(token)).extra.deep).toEqual(arrays(MAX_JSON_DEPTH - 1))
    const err = await refusedNaming(
      () => auth.createAccessToken({ uid: 'user-1', data: { deep: arrays(MAX_JSON_DEPTH) } }),
      `data.deep${'[0]'.repeat(MAX_JSON_DEPTH - 1)}`,
    )
    expect(err.message).toContain(String(MAX_JSON_DEPTH))
  })
})
