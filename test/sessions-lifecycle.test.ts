/**
 * Sessions end with the logins that end them (docs/sessions.md, "Logging out ends the
 * session"): the logout route, reuse detection and revokeAllForSubject take the session out of
 * the user's list, besides revoking its tokens.
 */
import { describe, expect, it } from 'vitest'
import {
  AuthX,
  type AuthXStore,
  MemoryStore,
  RefreshTokenReusedError,
  RevokedTokenError,
} from '../src/index.js'
import { clockedAuth } from './support/clocked.js'

const SECRET = 'sessions-lifecycle-secret-0123456789abcdef'

function post(headers: Record<string, string>): Request {
  return new Request('http://localhost/auth/logout', { method: 'POST', headers })
}

describe('sessions end with the login', () => {
  it('the logout route ends the session of the token it is given, and says so', async () => {
    const { auth } = clockedAuth(SECRET)
    const phone = await auth.createTokenPair({ uid: 'u1', session: { device: 'phone' } })
    const laptop = await auth.createTokenPair({ uid: 'u1', session: { device: 'laptop' } })
    const { sid } = await auth.verifyToken(phone.accessToken)
    const result = await auth.logoutFromRequest(post({ authorization: `Bearer ${phone.accessToken}` }))
    expect(result.error).toBeUndefined()
    expect(result.revoked.sessions).toEqual([sid])
    expect((await auth.sessions.list('u1')).map((s) => s.device)).toEqual(['laptop'])
    await expect(auth.verifyToken(phone.accessToken)).rejects.toBeInstanceOf(RevokedTokenError)
    await auth.verifyToken(laptop.accessToken)
  })

  it('the logout route of a token without a session ends none', async () => {
    const { auth } = clockedAuth(SECRET)
    await auth.createTokenPair({ uid: 'u1', session: { device: 'phone' } })
    const plain = await auth.createTokenPair({ uid: 'u1' })
    const result = await auth.logoutFromRequest(post({ authorization: `Bearer ${plain.accessToken}` }))
    expect(result.revoked.sessions).toEqual([])
    expect(await auth.sessions.list('u1')).toHaveLength(1)
  })

  it('a store that cannot end the session makes the logout a 503, never a silent success', async () => {
    const store = new MemoryStore()
    const { auth } = clockedAuth(SECRET, { store })
    const pair = await auth.createTokenPair({ uid: 'u1', session: {} })
    store.deleteIndexed = async () => {
      throw new Error('down')
    }
    const result = await auth.logoutFromRequest(post({ authorization: `Bearer ${pair.accessToken}` }))
    expect(result.error?.status).toBe(503)
  })

  it('reuse detection ends the replayed token session', async () => {
    const { auth } = clockedAuth(SECRET)
    const pair = await auth.createTokenPair({ uid: 'u1', session: { device: 'phone' } })
    await auth.refresh(pair.refreshToken)
    await expect(auth.refresh(pair.refreshToken)).rejects.toBeInstanceOf(RefreshTokenReusedError)
    expect(await auth.sessions.list('u1')).toEqual([])
  })

  it('reuse is reported even when the session cannot be ended (the family revocation already ended its tokens)', async () => {
    const store = new MemoryStore()
    const { auth } = clockedAuth(SECRET, { store })
    const pair = await auth.createTokenPair({ uid: 'u1', session: {} })
    const renewed = await auth.refresh(pair.refreshToken)
    const failing: AuthXStore['deleteIndexed'] = async () => {
      throw new Error('down')
    }
    store.deleteIndexed = failing
    await expect(auth.refresh(pair.refreshToken)).rejects.toBeInstanceOf(RefreshTokenReusedError)
    await expect(auth.verifyToken(renewed.accessToken)).rejects.toBeInstanceOf(RevokedTokenError)
  })

  it('revokeAllForSubject ends the sessions it cut off, and keeps a login of the same second', async () => {
    const { auth, advance } = clockedAuth(SECRET)
    await auth.createTokenPair({ uid: 'u1', session: { device: 'phone' } })
    await auth.createTokenPair({ uid: 'u2', session: { device: 'other user' } })
    advance(2000)
    await auth.revokeAllForSubject('u1')
    expect(await auth.sessions.list('u1')).toEqual([])
    expect(await auth.sessions.list('u2')).toHaveLength(1)
    const again = await auth.createTokenPair({ uid: 'u1', session: { device: 'new login' } })
    await auth.revokeAllForSubject('u1') // the same second: the new login keeps its tokens
    await auth.verifyToken(again.accessToken)
    expect((await auth.sessions.list('u1')).map((s) => s.device)).toEqual(['new login'])
  })

  it('the logout route on an instance whose store keeps no sessions revokes the family of a session token', async () => {
    const maker = clockedAuth(SECRET)
    const pair = await maker.auth.createTokenPair({ uid: 'u1', session: {} })
    const plain = new MemoryStore()
    const store: AuthXStore = {
      get: (keys) => plain.get(keys),
      set: (k, v, t) => plain.set(k, v, t),
      setIfAbsent: (k, v, t) => plain.setIfAbsent(k, v, t),
      delete: (k) => plain.delete(k),
    }
    const { auth } = clockedAuth(SECRET, { store })
    const result = await auth.logoutFromRequest(post({ authorization: `Bearer ${pair.accessToken}` }))
    expect(result.error).toBeUndefined()
    expect(result.revoked).toMatchObject({ sessions: [], families: [expect.any(String)] })
    await expect(auth.verifyToken(pair.accessToken)).rejects.toBeInstanceOf(RevokedTokenError)
  })

  it('revokeAllForSubject works on a store without indexed records', async () => {
    const plain: AuthXStore = new MemoryStore()
    const store: AuthXStore = {
      get: (keys) => plain.get(keys),
      set: (k, v, t) => plain.set(k, v, t),
      setIfAbsent: (k, v, t) => plain.setIfAbsent(k, v, t),
      delete: (k) => plain.delete(k),
    }
    const { auth, advance } = clockedAuth(SECRET, { store })
    const pair = await auth.createTokenPair({ uid: 'u1' })
    advance(2000)
    await auth.revokeAllForSubject('u1')
    await expect(auth.verifyToken(pair.accessToken)).rejects.toBeInstanceOf(RevokedTokenError)
  })
})

describe('security: sessions of another login type', () => {
  const secretKey = 'sessions-lifecycle-secret-0123456789abcdef'

  it('an instance of one type neither shows nor ends a session of another type, even of the same sub', async () => {
    const store = new MemoryStore()
    const users = new AuthX({ secretKey, store, loginType: 'user' })
    const admins = new AuthX({ secretKey, store, loginType: 'admin' })
    const admin = await admins.createTokenPair({ uid: '42', session: {} })
    const sid = admins.decodeUnverified(admin.accessToken).payload.sid as string
    expect(await users.sessions.get(sid)).toBeNull()
    expect(await users.sessions.revoke(sid, { sub: '42' })).toBe(false)
    // Without the ownership check too: the entry it writes is the user type's, not the admin's.
    expect(await users.sessions.revoke(sid)).toBe(false)
    await expect(admins.verifyToken(admin.accessToken)).resolves.toMatchObject({ sid })
    await admins.refresh(admin.refreshToken)
    expect((await admins.sessions.list('42')).map((s) => s.sid)).toEqual([sid])
    expect(await admins.sessions.revoke(sid, { sub: '42' })).toBe(true)
    await expect(admins.verifyToken(admin.accessToken)).rejects.toBeInstanceOf(RevokedTokenError)
  })
})
