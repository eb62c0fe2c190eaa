import { createHmac } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { AuthX } from '../src/index.js'

const SECRET = 'implicit-refresh-foreign-secret-0123456789'

function sign(payload: Record<string, unknown>): string {
  const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url')
  const input = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64(payload)}`
  return `${input}.${createHmac('sha256', SECRET).update(input).digest('base64url')}`
}

describe('security: implicit refresh of tokens minted elsewhere', () => {
  it('a verified cookie token whose custom data authx would refuse to mint is not renewed, and nothing throws', async () => {
    const now = 1_800_000_000_000
    const auth = new AuthX({
      secretKey: SECRET,
      tokenLocation: ['cookies'],
      clock: () => now,
      implicitRefresh: { enabled: true },
    })
    const base = {
      sub: 'u1',
      jti: 'j1',
      iat: now / 1000 - 600,
      exp: now / 1000 + 60,
      type: 'access',
      fresh: true,
    }
    const foreign = sign({ ...base, constructor: { prototype: 1 } })
    await expect(auth.decodeToken(foreign)).resolves.toBeDefined()
    const request = new Request('http://x.test/profile', {
      headers: { cookie: `access_token_cookie=${foreign}` },
    })
    await expect(auth.implicitRefreshCookies(request)).resolves.toEqual([])
    // Control: the same token without that key is renewed.
    const plain = sign(base)
    const control = new Request('http://x.test/profile', {
      headers: { cookie: `access_token_cookie=${plain}` },
    })
    expect((await auth.implicitRefreshCookies(control)).length).toBeGreaterThan(0)
  })
})

describe('security: refreshing tokens minted elsewhere', () => {
  it('a refresh token whose custom data authx would refuse to mint is a 401 claims error and is not consumed', async () => {
    const now = 1_800_000_000_000
    const auth = new AuthX({ secretKey: SECRET, clock: () => now })
    const base = {
      sub: 'u1',
      jti: 'r1',
      iat: now / 1000 - 60,
      exp: now / 1000 + 600,
      type: 'refresh',
      fid: 'f1',
    }
    const foreign = sign({ ...base, nested: { prototype: true } })
    const err = await auth.refresh(foreign).catch((e: unknown) => e)
    expect(err).toMatchObject({ code: 'ERR_INVALID_TOKEN', status: 401, reason: 'claims' })
    // Not consumed: with new data given by the server, the same token still refreshes once.
    await expect(auth.refresh(foreign, { data: {} })).resolves.toMatchObject({ tokenType: 'bearer' })
  })
})
