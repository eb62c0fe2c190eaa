import { describe, expect, it } from 'vitest'
import { AuthX } from '../src/index.js'

describe('smoke', () => {
  it('round-trips an access token', async () => {
    const auth = new AuthX({ secretKey: 'x'.repeat(32) })
    const token = await auth.createAccessToken({ uid: 'u1', fresh: true, scopes: ['a:*'], data: { role: 'r' } })
    const p = await auth.verifyToken(token, { fresh: true, scopes: ['a:b'] })
    expect(p.sub).toBe('u1')
    expect(p.extra).toEqual({ role: 'r' })
    expect(auth.engine).toBe('node')
  })
})
