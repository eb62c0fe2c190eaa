/**
 * Sessions linked to tokens (SPEC 9.4, docs/sessions.md): `createTokenPair({ session })` records
 * a session and puts its `sid` in both tokens; `auth.sessions` lists, reads and ends sessions;
 * an ended session's every token fails at once, through one revocation entry read in the same
 * store round trip as the others; refresh and implicit refresh keep the `sid`. First on a
 * MemoryStore on a clock the test moves, then the core flow on every built-in store (and across
 * two mirrored instances of Redis and PostgreSQL).
 */
import { randomBytes, randomUUID } from 'node:crypto'
import { rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  AuthX,
  type AuthXOptions,
  type AuthXStore,
  MemoryStore,
  type Session,
  type TokenPair,
} from '../src/index.js'
import { PostgresStore } from '../src/stores/postgres.js'
import { RedisStore } from '../src/stores/redis.js'
import { SqliteStore } from '../src/stores/sqlite.js'
import { postgresMissing, storesRequired } from './stores/conformance.js'
import { dropPostgresTables } from './support/postgres.js'
import { deleteRedisPrefixes, REDIS_URL, redisMissing } from './support/redis.js'
import { waitFor } from './support/wait.js'

const SECRET = 'sessions-test-secret-0123456789abcdef-xyz'
const START = 1_700_000_000_000
const SECOND = 1000
const MINUTE = 60 * SECOND

/** The instance's record and index keys (no issuer configured: an empty issuer part). */
const recordKey = (sid: string) => `ses::${sid}`
const indexKey = (sub: string) => `sesx::${sub}`

function setup(options: AuthXOptions = {}, wrap?: (inner: MemoryStore) => AuthXStore) {
  let now = START
  const clock = () => now
  const inner = new MemoryStore({ clock })
  const store = wrap === undefined ? inner : wrap(inner)
  const auth = new AuthX({ secretKey: SECRET, clock, store, ...options })
  return {
    auth,
    inner,
    advance(ms: number) {
      now += ms
    },
  }
}

/** A login with a session; its `sid` read off the access token. */
async function login(
  auth: AuthX,
  uid = 'u1',
  session: Record<string, unknown> = {},
): Promise<TokenPair & { sid: string }> {
  const pair = await auth.createTokenPair({ uid, session })
  return { ...pair, sid: auth.decodeUnverified(pair.accessToken).payload.sid as string }
}

/** The `code` and `status` a promise rejects with. */
async function failure(promise: Promise<unknown>): Promise<{ code: unknown; status: unknown; name: string }> {
  try {
    await promise
  } catch (err) {
    const e = err as { code?: unknown; status?: unknown; name: string }
    return { code: e.code, status: e.status, name: e.name }
  }
  throw new Error('expected a rejection')
}

const REVOKED = { code: 'ERR_TOKEN_REVOKED', status: 401 }
const UNAVAILABLE = { code: 'ERR_STORE_UNAVAILABLE', status: 503 }
const CONFIG = { code: 'ERR_CONFIG', status: 500 }

type Call = { method: string; args: unknown[] }

/**
 * A store delegating to a MemoryStore that records every call; `getLocal` only when asked, so
 * both paths of the revocation check can be counted.
 */
function countingStore(inner: MemoryStore, withLocal: boolean): AuthXStore & { calls: Call[] } {
  const calls: Call[] = []
  const counted =
    <A extends unknown[], R>(method: string, fn: (...args: A) => R) =>
    (...args: A): R => {
      calls.push({ method, args })
      return fn(...args)
    }
  const store: AuthXStore & { calls: Call[] } = {
    calls,
    get: counted('get', (keys: string[]) => inner.get(keys)),
    set: counted('set', (key: string, value: string, ttl: number) => inner.set(key, value, ttl)),
    setIfAbsent: counted('setIfAbsent', (key: string, value: string, ttl: number) =>
      inner.setIfAbsent(key, value, ttl),
    ),
    delete: counted('delete', (key: string) => inner.delete(key)),
    putIndexed: counted('putIndexed', (index: string, key: string, value: string, ttl: number) =>
      inner.putIndexed(index, key, value, ttl),
    ),
    updateIndexed: counted('updateIndexed', (index: string, key: string, value: string, ttl: number) =>
      inner.updateIndexed(index, key, value, ttl),
    ),
    listIndexed: counted('listIndexed', (index: string) => inner.listIndexed(index)),
    deleteIndexed: counted('deleteIndexed', (index: string, key: string) => inner.deleteIndexed(index, key)),
  }
  if (withLocal) store.getLocal = counted('getLocal', (keys: string[]) => inner.getLocal(keys))
  return store
}

describe('sessions: a login with a session', () => {
  it('puts one sid in both tokens, and payload.sid reads it', async () => {
    const { auth } = setup()
    const pair = await auth.createTokenPair({ uid: 'u1', session: {} })
    const access = await auth.verifyToken(pair.accessToken)
    const refresh = await auth.verifyToken(pair.refreshToken, { type: 'refresh' })
    expect(access.sid).toMatch(/^[0-9a-f-]{36}$/)
    expect(refresh.sid).toBe(access.sid)
    expect(auth.decodeUnverified(pair.accessToken).payload.sid).toBe(access.sid)
    // Each login is a session of its own.
    const other = await auth.createTokenPair({ uid: 'u1', session: {} })
    expect(auth.decodeUnverified(other.accessToken).payload.sid).not.toBe(access.sid)
  })

  it('a login without a session has no sid and writes no record', async () => {
    const { auth, inner } = setup()
    const pair = await auth.createTokenPair({ uid: 'u1' })
    expect(auth.decodeUnverified(pair.accessToken).payload).not.toHaveProperty('sid')
    expect((await auth.verifyToken(pair.accessToken)).sid).toBeUndefined()
    expect(await inner.listIndexed(indexKey('u1'))).toEqual([])
    expect(await auth.sessions.list('u1')).toEqual([])
  })

  it('records the login: its times on the clock, the fields given, null for the rest', async () => {
    const { auth } = setup()
    const data = { plan: 'pro', seats: [1, 2], nested: { ok: true } }
    const a = await login(auth, 'u1', { userAgent: 'Firefox/128', ip: '203.0.113.7', device: 'phone', data })
    const b = await login(auth, 'u1')
    expect(await auth.sessions.get(a.sid)).toEqual({
      sid: a.sid,
      sub: 'u1',
      createdAt: new Date(START),
      lastSeenAt: new Date(START),
      userAgent: 'Firefox/128',
      ip: '203.0.113.7',
      device: 'phone',
      data,
    } satisfies Session)
    expect(await auth.sessions.get(b.sid)).toEqual({
      sid: b.sid,
      sub: 'u1',
      createdAt: new Date(START),
      lastSeenAt: new Date(START),
      userAgent: null,
      ip: null,
      device: null,
      data: null,
    })
  })

  it('keeps a copy of data: changing the object afterwards changes nothing', async () => {
    const { auth } = setup()
    const data = { plan: 'pro' }
    const { sid } = await login(auth, 'u1', { data })
    data.plan = 'free'
    expect((await auth.sessions.get(sid))?.data).toEqual({ plan: 'pro' })
  })

  it('get answers null for an unknown sid', async () => {
    const { auth } = setup()
    expect(await auth.sessions.get('no-such-session')).toBeNull()
  })
})

describe('sessions: list', () => {
  it('lists the live sessions of this subject alone, newest first', async () => {
    const { auth, advance } = setup()
    const first = await login(auth, 'u1', { device: 'first' })
    advance(SECOND)
    const second = await login(auth, 'u1', { device: 'second' })
    advance(SECOND)
    const third = await login(auth, 'u1', { device: 'third' })
    await login(auth, 'u2', { device: 'someone else' })
    const listed = await auth.sessions.list('u1')
    expect(listed.map((s) => s.sid)).toEqual([third.sid, second.sid, first.sid])
    expect(listed.map((s) => s.device)).toEqual(['third', 'second', 'first'])
    expect(listed.every((s) => s.sub === 'u1')).toBe(true)
    expect(listed[0]?.createdAt).toEqual(new Date(START + 2 * SECOND))
    expect((await auth.sessions.list('u2')).map((s) => s.device)).toEqual(['someone else'])
    expect(await auth.sessions.list('nobody')).toEqual([])
  })

  it('lists logins of the same moment by sid, so the order is stable', async () => {
    const { auth } = setup()
    const sids = [(await login(auth)).sid, (await login(auth)).sid, (await login(auth)).sid]
    expect((await auth.sessions.list('u1')).map((s) => s.sid)).toEqual([...sids].sort())
  })

  it("never lists a record of another subject, even one found under this subject's index", async () => {
    const { auth, inner } = setup()
    const own = await login(auth, 'u1')
    const stray = { sid: 'stray', sub: 'u2', createdAt: START + SECOND, lastSeenAt: START + SECOND }
    await inner.putIndexed(indexKey('u1'), recordKey('stray'), JSON.stringify(stray), 3600)
    expect((await auth.sessions.list('u1')).map((s) => s.sid)).toEqual([own.sid])
    expect(await auth.sessions.revokeAll('u1')).toBe(1)
  })

  it('a session lives as long as the later of its tokens, then is neither listed nor read', async () => {
    const { auth, advance } = setup()
    const short = await auth.createTokenPair({
      uid: 'u1',
      accessExpiry: '1m',
      refreshExpiry: '2m',
      session: { device: 'short' },
    })
    const shortSid = auth.decodeUnverified(short.accessToken).payload.sid as string
    const long = await login(auth, 'u1', { device: 'long' })
    advance(2 * MINUTE - SECOND)
    expect((await auth.sessions.list('u1')).map((s) => s.device).sort()).toEqual(['long', 'short'])
    advance(2 * SECOND)
    expect((await auth.sessions.list('u1')).map((s) => s.sid)).toEqual([long.sid])
    expect(await auth.sessions.get(shortSid)).toBeNull()
  })

  it('keeps the lists of login types apart: user 42 and admin 42 are different people', async () => {
    let now = START
    const clock = () => now
    const store = new MemoryStore({ clock })
    const users = new AuthX({ secretKey: SECRET, clock, store, loginType: 'user' })
    const admins = new AuthX({ secretKey: SECRET, clock, store, loginType: 'admin' })
    const user = await login(users, '42', { device: 'user' })
    now += SECOND
    const admin = await login(admins, '42', { device: 'admin' })
    expect((await users.sessions.list('42')).map((s) => s.sid)).toEqual([user.sid])
    expect((await admins.sessions.list('42')).map((s) => s.sid)).toEqual([admin.sid])
    // Logging the user out of other devices leaves the admin's session alone.
    expect(await users.sessions.revokeAll('42')).toBe(1)
    await expect(admins.verifyToken(admin.accessToken)).resolves.toMatchObject({ sid: admin.sid })
    expect((await admins.sessions.list('42')).map((s) => s.sid)).toEqual([admin.sid])
  })
})

describe('sessions: revoke', () => {
  it('ends the access and refresh tokens of that session only, at once', async () => {
    const { auth } = setup()
    const a = await login(auth, 'u1', { device: 'a' })
    const b = await login(auth, 'u1', { device: 'b' })
    const plain = await auth.createTokenPair({ uid: 'u1' })
    // Verified once before, so a cached verification cannot hide the revocation.
    await auth.verifyToken(a.accessToken)
    await auth.verifyToken(a.refreshToken, { type: 'refresh' })

    expect(await auth.sessions.revoke(a.sid)).toBe(true)

    expect(await failure(auth.verifyToken(a.accessToken))).toMatchObject(REVOKED)
    expect(await failure(auth.verifyToken(a.refreshToken, { type: 'refresh' }))).toMatchObject(REVOKED)
    expect(await failure(auth.refresh(a.refreshToken))).toMatchObject(REVOKED)
    await expect(auth.verifyToken(b.accessToken)).resolves.toMatchObject({ sid: b.sid })
    await expect(auth.refresh(b.refreshToken)).resolves.toHaveProperty('accessToken')
    await expect(auth.verifyToken(plain.accessToken)).resolves.toMatchObject({ sub: 'u1' })
    expect(await auth.sessions.get(a.sid)).toBeNull()
    expect((await auth.sessions.list('u1')).map((s) => s.sid)).toEqual([b.sid])
    // Already ended: nothing live to end.
    expect(await auth.sessions.revoke(a.sid)).toBe(false)
  })

  it('isRevoked answers true for a payload of an ended session', async () => {
    const { auth } = setup()
    const a = await login(auth)
    const payload = await auth.verifyToken(a.accessToken)
    expect(await auth.isRevoked(payload)).toBe(false)
    await auth.sessions.revoke(a.sid)
    expect(await auth.isRevoked(payload)).toBe(true)
  })

  it('with sub, a session of another subject is left alone: false, and its tokens still work', async () => {
    const { auth, inner } = setup()
    const a = await login(auth, 'u1')
    expect(await auth.sessions.revoke(a.sid, { sub: 'u2' })).toBe(false)
    await expect(auth.verifyToken(a.accessToken)).resolves.toMatchObject({ sid: a.sid })
    await expect(auth.refresh(a.refreshToken)).resolves.toHaveProperty('refreshToken')
    expect((await auth.sessions.list('u1')).map((s) => s.sid)).toEqual([a.sid])
    expect(await inner.get([`sid::${a.sid}`])).toEqual([null])
    // The owner can.
    expect(await auth.sessions.revoke(a.sid, { sub: 'u1' })).toBe(true)
    expect(await failure(auth.verifyToken(a.accessToken))).toMatchObject(REVOKED)
  })

  it('with sub, an unknown sid answers false and writes nothing', async () => {
    const { auth, inner } = setup()
    expect(await auth.sessions.revoke('unknown-sid', { sub: 'u1' })).toBe(false)
    expect(await inner.get(['sid::unknown-sid'])).toEqual([null])
  })

  it('without sub, an unknown sid answers false but its revocation entry is written', async () => {
    const { auth, inner } = setup()
    expect(await auth.sessions.revoke('unknown-sid')).toBe(false)
    expect(await inner.get(['sid::unknown-sid'])).toEqual(['1'])
  })

  it('revokeAll ends every session of the subject but `except`, and answers how many', async () => {
    const { auth, advance } = setup()
    const a = await login(auth, 'u1')
    advance(SECOND)
    const b = await login(auth, 'u1')
    advance(SECOND)
    const c = await login(auth, 'u1')
    const other = await login(auth, 'u2')
    expect(await auth.sessions.revokeAll('u1', { except: b.sid })).toBe(2)
    for (const ended of [a, c]) {
      expect(await failure(auth.verifyToken(ended.accessToken))).toMatchObject(REVOKED)
      expect(await failure(auth.refresh(ended.refreshToken))).toMatchObject(REVOKED)
    }
    await expect(auth.verifyToken(b.accessToken)).resolves.toMatchObject({ sid: b.sid })
    await expect(auth.verifyToken(other.accessToken)).resolves.toMatchObject({ sid: other.sid })
    expect((await auth.sessions.list('u1')).map((s) => s.sid)).toEqual([b.sid])
    expect(await auth.sessions.revokeAll('u1')).toBe(1)
    expect(await failure(auth.verifyToken(b.accessToken))).toMatchObject(REVOKED)
    expect(await auth.sessions.revokeAll('u1')).toBe(0)
    expect(await auth.sessions.revokeAll('nobody')).toBe(0)
  })

  it('emits session.revoked with the sid and the subject (null when there was no record)', async () => {
    const { auth } = setup()
    const events: unknown[] = []
    auth.on('session.revoked', (data) => events.push(data))
    const a = await login(auth, 'u1')
    const b = await login(auth, 'u1')
    await auth.sessions.revoke(a.sid, { sub: 'u2' }) // refused: no event
    expect(events).toEqual([])
    await auth.sessions.revoke(a.sid)
    await auth.sessions.revoke('unknown-sid')
    await auth.sessions.revokeAll('u1')
    expect(events).toEqual([
      { sid: a.sid, sub: 'u1' },
      { sid: 'unknown-sid', sub: null },
      { sid: b.sid, sub: 'u1' },
    ])
  })
})

describe('sessions: refresh', () => {
  it('keeps the sid and updates lastSeenAt (createdAt stays)', async () => {
    const { auth, advance } = setup()
    const a = await login(auth, 'u1', { device: 'phone' })
    advance(5 * MINUTE)
    const next = await auth.refresh(a.refreshToken)
    expect(auth.decodeUnverified(next.accessToken).payload.sid).toBe(a.sid)
    expect(auth.decodeUnverified(next.refreshToken).payload.sid).toBe(a.sid)
    expect(await auth.sessions.get(a.sid)).toMatchObject({
      createdAt: new Date(START),
      lastSeenAt: new Date(START + 5 * MINUTE),
      device: 'phone',
    })
    advance(MINUTE)
    // Through a payload the refresh guard verified, too.
    const payload = await auth.verifyToken(next.refreshToken, { type: 'refresh' })
    await auth.refresh(payload)
    expect((await auth.sessions.list('u1'))[0]?.lastSeenAt).toEqual(new Date(START + 6 * MINUTE))
  })

  it('extends the record as long as the new tokens live', async () => {
    const { auth, advance } = setup({ refreshTokenExpires: '1h', accessTokenExpires: '15m' })
    const a = await login(auth)
    advance(50 * MINUTE)
    const next = await auth.refresh(a.refreshToken)
    advance(30 * MINUTE) // 80 minutes after the login: the first record would be gone
    expect(await auth.sessions.get(a.sid)).not.toBeNull()
    expect((await auth.sessions.list('u1')).map((s) => s.sid)).toEqual([a.sid])
    const again = await auth.refresh(next.refreshToken)
    expect(auth.decodeUnverified(again.accessToken).payload.sid).toBe(a.sid)
  })

  it('refuses a session whose record is gone (ERR_TOKEN_REVOKED), and does not bring it back', async () => {
    const { auth, inner } = setup()
    const a = await login(auth)
    await inner.deleteIndexed(indexKey('u1'), recordKey(a.sid))
    expect(await failure(auth.refresh(a.refreshToken))).toMatchObject(REVOKED)
    const payload = await auth.verifyToken(a.refreshToken, { type: 'refresh' })
    expect(await failure(auth.refresh(payload))).toMatchObject(REVOKED)
    expect(await auth.sessions.get(a.sid)).toBeNull()
  })

  it('refuses a session whose record belongs to another subject', async () => {
    const { auth, inner } = setup()
    const a = await login(auth, 'u1')
    const [raw] = await inner.get([recordKey(a.sid)])
    const record = JSON.parse(raw as string) as Record<string, unknown>
    await inner.set(recordKey(a.sid), JSON.stringify({ ...record, sub: 'u2' }), 3600)
    expect(await failure(auth.refresh(a.refreshToken))).toMatchObject(REVOKED)
  })

  it('the tokens a refresh made end with their session', async () => {
    const { auth } = setup()
    const a = await login(auth)
    const next = await auth.refresh(a.refreshToken)
    await auth.sessions.revoke(a.sid)
    expect(await failure(auth.verifyToken(next.accessToken))).toMatchObject(REVOKED)
    expect(await failure(auth.refresh(next.refreshToken))).toMatchObject(REVOKED)
  })

  it('rotation still detects reuse of a session refresh token', async () => {
    const { auth } = setup()
    const a = await login(auth)
    const b = await login(auth)
    const next = await auth.refresh(a.refreshToken)
    expect(await failure(auth.refresh(a.refreshToken))).toMatchObject({ code: 'ERR_REFRESH_TOKEN_REUSED' })
    // The reuse revoked the family: what the first use minted fails too.
    expect(await failure(auth.verifyToken(next.accessToken))).toMatchObject(REVOKED)
    expect(await failure(auth.refresh(next.refreshToken))).toMatchObject(REVOKED)
    await expect(auth.refresh(b.refreshToken)).resolves.toHaveProperty('accessToken')
  })
})

describe('sessions: implicit refresh', () => {
  it('keeps the sid, so the renewed token of an ended session fails too', async () => {
    const { auth, advance } = setup({
      tokenLocation: ['cookies', 'headers'],
      accessTokenExpires: '15m',
      implicitRefresh: { enabled: true, within: '10m' },
    })
    const a = await login(auth)
    advance(9 * MINUTE)
    const request = new Request('https://app.test/api', {
      headers: { cookie: `access_token_cookie=${a.accessToken}` },
    })
    const cookies = await auth.implicitRefreshCookies(request)
    const cookie = cookies.find((c) => c.startsWith('access_token_cookie='))
    const renewed = cookie?.slice('access_token_cookie='.length).split(';')[0] as string
    expect(renewed).toBeDefined()
    expect(renewed).not.toBe(a.accessToken)
    expect((await auth.verifyToken(renewed)).sid).toBe(a.sid)
    await auth.sessions.revoke(a.sid)
    expect(await failure(auth.verifyToken(renewed))).toMatchObject(REVOKED)
  })
})

describe('sessions: input', () => {
  it('sid is a reserved claim: data carrying it is a TypeError', async () => {
    const { auth } = setup()
    await expect(auth.createTokenPair({ uid: 'u1', data: { sid: 'mine' } })).rejects.toBeInstanceOf(TypeError)
    await expect(
      auth.createTokenPair({ uid: 'u1', data: { sid: 'mine' }, session: {} }),
    ).rejects.toBeInstanceOf(TypeError)
    await expect(auth.createAccessToken({ uid: 'u1', data: { sid: 'mine' } })).rejects.toBeInstanceOf(
      TypeError,
    )
    await expect(auth.createRefreshToken({ uid: 'u1', data: { sid: 'mine' } })).rejects.toBeInstanceOf(
      TypeError,
    )
    expect(await auth.sessions.list('u1')).toEqual([])
    // Nor can a refresh put one in; the attempt does not consume the token.
    const a = await login(auth)
    await expect(auth.refresh(a.refreshToken, { data: { sid: 'mine' } })).rejects.toBeInstanceOf(TypeError)
    await expect(auth.refresh(a.refreshToken)).resolves.toHaveProperty('accessToken')
  })

  const circular: Record<string, unknown> = {}
  circular.self = circular
  const bad: [string, unknown][] = [
    ['an unknown key', { userAgent: 'ua', browser: 'x' }],
    ['a userAgent that is not a string', { userAgent: 5 }],
    ['an ip that is not a string', { ip: ['203.0.113.7'] }],
    ['a device that is not a string', { device: { name: 'phone' } }],
    ['a null device', { device: null }],
    ['data that is an array', { data: [1, 2] }],
    ['data that is a string', { data: '{"a":1}' }],
    ['data that is null', { data: null }],
    ['data of more than 4096 bytes', { data: { a: 'x'.repeat(4089) } }],
    ['data of more than 4096 bytes in UTF-8 (fewer characters)', { data: { a: 'é'.repeat(2045) } }],
    ['data holding a function', { data: { f: () => 1 } }],
    ['data holding a bigint', { data: { n: 1n } }],
    ['data holding NaN', { data: { n: Number.NaN } }],
    ['data holding a Date', { data: { at: new Date(0) } }],
    ['data holding undefined', { data: { u: undefined } }],
    ['circular data', { data: circular }],
    ['data that is a class instance', { data: new Map() }],
    ['a session that is a string', 'phone'],
    ['a session that is null', null],
    ['a session that is an array', []],
  ]
  it.each(bad)('%s is a TypeError, and no record is written', async (_name, session) => {
    const { auth, inner } = setup()
    await expect(
      auth.createTokenPair({ uid: 'u1', session: session as Record<string, never> }),
    ).rejects.toBeInstanceOf(TypeError)
    expect(await inner.listIndexed(indexKey('u1'))).toEqual([])
  })

  it('data of exactly 4096 bytes is accepted', async () => {
    const { auth } = setup()
    const ascii = await login(auth, 'u1', { data: { a: 'x'.repeat(4088) } })
    const utf8 = await login(auth, 'u1', { data: { a: 'é'.repeat(2044) } })
    expect((await auth.sessions.get(ascii.sid))?.data).toEqual({ a: 'x'.repeat(4088) })
    expect((await auth.sessions.get(utf8.sid))?.data).toEqual({ a: 'é'.repeat(2044) })
  })

  it('cuts userAgent, ip and device to 512 characters', async () => {
    const { auth } = setup()
    const { sid } = await login(auth, 'u1', {
      userAgent: 'a'.repeat(600),
      ip: 'b'.repeat(513),
      device: 'c'.repeat(512),
    })
    expect(await auth.sessions.get(sid)).toMatchObject({
      userAgent: 'a'.repeat(512),
      ip: 'b'.repeat(512),
      device: 'c'.repeat(512),
    })
  })

  it('sessions methods check their arguments', async () => {
    const { auth } = setup()
    await expect(auth.sessions.list('')).rejects.toBeInstanceOf(TypeError)
    await expect(auth.sessions.list(42 as unknown as string)).rejects.toBeInstanceOf(TypeError)
    await expect(auth.sessions.get('')).rejects.toBeInstanceOf(TypeError)
    await expect(auth.sessions.revoke('')).rejects.toBeInstanceOf(TypeError)
    await expect(auth.sessions.revoke('s', { owner: 'u1' } as never)).rejects.toBeInstanceOf(TypeError)
    await expect(auth.sessions.revoke('s', { sub: 7 } as never)).rejects.toBeInstanceOf(TypeError)
    await expect(auth.sessions.revokeAll('u1', { keep: 's' } as never)).rejects.toBeInstanceOf(TypeError)
    await expect(auth.sessions.revokeAll('u1', { except: 1 } as never)).rejects.toBeInstanceOf(TypeError)
  })
})

describe('sessions: stores that cannot, or do not, answer', () => {
  /** A store with only the methods every store has. */
  function bareStore(inner: MemoryStore): AuthXStore {
    return {
      get: (keys) => inner.get(keys),
      set: (key, value, ttl) => inner.set(key, value, ttl),
      setIfAbsent: (key, value, ttl) => inner.setIfAbsent(key, value, ttl),
      delete: (key) => inner.delete(key),
    }
  }

  it('a store without the indexed methods makes sessions a ConfigError', async () => {
    const { auth } = setup({}, bareStore)
    expect(await failure(auth.createTokenPair({ uid: 'u1', session: {} }))).toMatchObject(CONFIG)
    expect(await failure(auth.sessions.list('u1'))).toMatchObject(CONFIG)
    expect(await failure(auth.sessions.revoke('s1'))).toMatchObject(CONFIG)
    expect(await failure(auth.sessions.revoke('s1', { sub: 'u1' }))).toMatchObject(CONFIG)
    expect(await failure(auth.sessions.revokeAll('u1'))).toMatchObject(CONFIG)
    // Without a session, logins go on as before.
    await expect(auth.createTokenPair({ uid: 'u1' })).resolves.toHaveProperty('accessToken')
  })

  it.each([
    ['throws', 'throw'],
    ['rejects', 'reject'],
  ] as const)('a store that %s: StoreUnavailableError (503) from every session call', async (_name, how) => {
    let failing = false
    const { auth } = setup({}, (inner) => {
      const store = countingStore(inner, true)
      const wrapped: AuthXStore = { ...store }
      for (const method of [
        'get',
        'set',
        'putIndexed',
        'updateIndexed',
        'listIndexed',
        'deleteIndexed',
      ] as const) {
        const real = store[method] as (...args: unknown[]) => Promise<unknown>
        ;(wrapped as unknown as Record<string, unknown>)[method] = (...args: unknown[]) => {
          if (!failing) return real(...args)
          if (how === 'throw') throw new Error('store down')
          return Promise.reject(new Error('store down'))
        }
      }
      // Memory answers never fail; a shared store's do.
      delete wrapped.getLocal
      return wrapped
    })
    const a = await login(auth)
    failing = true
    expect(await failure(auth.createTokenPair({ uid: 'u1', session: {} }))).toMatchObject(UNAVAILABLE)
    expect(await failure(auth.sessions.list('u1'))).toMatchObject(UNAVAILABLE)
    expect(await failure(auth.sessions.get(a.sid))).toMatchObject(UNAVAILABLE)
    expect(await failure(auth.sessions.revoke(a.sid))).toMatchObject(UNAVAILABLE)
    expect(await failure(auth.sessions.revoke(a.sid, { sub: 'u1' }))).toMatchObject(UNAVAILABLE)
    expect(await failure(auth.sessions.revokeAll('u1'))).toMatchObject(UNAVAILABLE)
    expect(await failure(auth.verifyToken(a.accessToken))).toMatchObject(UNAVAILABLE)
    expect(await failure(auth.refresh(a.refreshToken))).toMatchObject(UNAVAILABLE)
    failing = false
    // Nothing was ended while the store was down.
    await expect(auth.verifyToken(a.accessToken)).resolves.toMatchObject({ sid: a.sid })
  })

  it('a revocation entry that cannot be written ends nothing and says so', async () => {
    let failSet = false
    const { auth } = setup({}, (inner) => {
      const store = countingStore(inner, true)
      return {
        ...store,
        set: (key, value, ttl) => (failSet ? Promise.reject(new Error('down')) : store.set(key, value, ttl)),
      }
    })
    const a = await login(auth)
    failSet = true
    expect(await failure(auth.sessions.revoke(a.sid))).toMatchObject(UNAVAILABLE)
    failSet = false
    // The record stays, so the session is still listed and can be ended again.
    expect((await auth.sessions.list('u1')).map((s) => s.sid)).toEqual([a.sid])
    expect(await auth.sessions.revoke(a.sid)).toBe(true)
  })

  const wrongLists: [string, unknown][] = [
    ['not an array', 'ses::x'],
    ['an entry that is not a pair', [['ses::x']]],
    ['a value that is not a string', [['ses::x', 5]]],
    ['a value that is not JSON', [['ses::x', 'not json']]],
    ['a record without its fields', [['ses::x', '{}']]],
    ['a record with a bad time', [['ses::x', '{"sid":"x","sub":"u1","createdAt":"now","lastSeenAt":1}']]],
    ['a record that is null', [['ses::x', 'null']]],
    [
      'an entry of three items',
      [['ses::x', JSON.stringify({ sid: 'x', sub: 'u1', createdAt: START, lastSeenAt: START }), 'more']],
    ],
  ]
  it.each(wrongLists)('a listing with %s: StoreUnavailableError', async (_name, answer) => {
    const { auth } = setup({}, (inner) => ({
      ...countingStore(inner, true),
      listIndexed: async () => answer as [string, string][],
    }))
    expect(await failure(auth.sessions.list('u1'))).toMatchObject(UNAVAILABLE)
    expect(await failure(auth.sessions.revokeAll('u1'))).toMatchObject(UNAVAILABLE)
  })

  const wrongRecords: [string, (sid: string) => string][] = [
    ['not JSON', () => 'not json'],
    ['JSON that is no record', () => '[1,2]'],
    ['a record missing sub', (sid) => JSON.stringify({ sid, createdAt: START, lastSeenAt: START })],
    [
      'a record of another sid',
      () => JSON.stringify({ sid: 'other', sub: 'u1', createdAt: START, lastSeenAt: START }),
    ],
  ]
  it.each(wrongRecords)('a record that is %s: StoreUnavailableError', async (_name, value) => {
    const { auth, inner } = setup()
    const a = await login(auth)
    await inner.set(recordKey(a.sid), value(a.sid), 3600)
    expect(await failure(auth.sessions.get(a.sid))).toMatchObject(UNAVAILABLE)
    expect(await failure(auth.sessions.revoke(a.sid, { sub: 'u1' }))).toMatchObject(UNAVAILABLE)
    expect(await failure(auth.refresh(a.refreshToken))).toMatchObject(UNAVAILABLE)
  })

  it('a get of the wrong shape: StoreUnavailableError', async () => {
    for (const answer of [[], [null, null], [5], 'x', null]) {
      const { auth } = setup({}, (inner) => ({
        ...countingStore(inner, false),
        get: async () => answer as (string | null)[],
      }))
      expect(await failure(auth.sessions.get('s1'))).toMatchObject(UNAVAILABLE)
    }
  })
})

describe('sessions: one store round trip', () => {
  it('verifying a session token reads its four revocation keys in one getLocal call (MemoryStore)', async () => {
    let store: ReturnType<typeof countingStore> | undefined
    const { auth } = setup({}, (inner) => {
      store = countingStore(inner, true)
      return store
    })
    const a = await login(auth)
    const { fid, jti } = auth.decodeUnverified(a.accessToken).payload as { fid: string; jti: string }
    store!.calls.length = 0
    await auth.verifyToken(a.accessToken)
    expect(store!.calls).toEqual([
      { method: 'getLocal', args: [[`jti::${jti}`, 'sub::u1', `fid::${fid}`, `sid::${a.sid}`]] },
    ])
  })

  it('without getLocal, one get of the four keys', async () => {
    let store: ReturnType<typeof countingStore> | undefined
    const { auth } = setup({}, (inner) => {
      store = countingStore(inner, false)
      return store
    })
    const a = await login(auth)
    store!.calls.length = 0
    await auth.verifyToken(a.refreshToken, { type: 'refresh' })
    expect(store!.calls).toHaveLength(1)
    expect(store!.calls[0]?.method).toBe('get')
    const keys = store!.calls[0]?.args[0] as string[]
    expect(keys).toHaveLength(4)
    expect(keys.map((k) => k.split(':')[0])).toEqual(['jti', 'sub', 'fid', 'sid'])
    expect(keys[3]).toBe(`sid::${a.sid}`)
  })

  it('list reads the index in one listIndexed call and nothing else', async () => {
    let store: ReturnType<typeof countingStore> | undefined
    const { auth } = setup({}, (inner) => {
      store = countingStore(inner, true)
      return store
    })
    await login(auth)
    await login(auth)
    await login(auth)
    store!.calls.length = 0
    expect(await auth.sessions.list('u1')).toHaveLength(3)
    expect(store!.calls).toEqual([{ method: 'listIndexed', args: [indexKey('u1')] }])
  })
})

// ---------------------------------------------------------------------------------------------
// The core flow on every built-in store, on the real servers of this machine.

const PG_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test'
const run = `${process.pid}_${randomUUID().slice(0, 8)}`

const redisPrefixes: string[] = []
const pgTables: string[] = []
const sqliteFiles: string[] = []

function redisPrefix(): string {
  const prefix = `authx-test:sessions:${randomBytes(8).toString('hex')}:`
  redisPrefixes.push(prefix)
  return prefix
}

function pgTable(): string {
  const table = `authx_sessions_${run}_${pgTables.length}`
  pgTables.push(table)
  return table
}

function sqliteFile(): string {
  const path = join(tmpdir(), `authx-sessions-${run}-${sqliteFiles.length}.db`)
  sqliteFiles.push(path)
  return path
}

afterAll(async () => {
  for (const path of sqliteFiles) {
    for (const suffix of ['', '-wal', '-shm', '-journal']) rmSync(path + suffix, { force: true })
  }
  if (redisPrefixes.length > 0 && (await redisMissing()) === undefined)
    await deleteRedisPrefixes(redisPrefixes)
  if (pgTables.length > 0 && (await postgresMissing(PG_URL)) === undefined)
    await dropPostgresTables(pgTables, PG_URL)
})

interface StoreKind {
  name: string
  missing(): Promise<string | undefined>
  /** Stores over one shared place (file, prefix, table): an instance each, as separate servers would have. */
  make(clock: () => number): (() => AuthXStore) | Promise<() => AuthXStore>
}

const KINDS: StoreKind[] = [
  {
    name: 'MemoryStore',
    missing: async () => undefined,
    make(clock) {
      const store = new MemoryStore({ clock })
      return () => store
    },
  },
  {
    name: 'SqliteStore',
    missing: async () => undefined,
    make(clock) {
      const path = sqliteFile()
      return () => new SqliteStore({ path, clock, busyTimeoutMs: 5000 })
    },
  },
  {
    name: 'RedisStore',
    missing: redisMissing,
    make() {
      const prefix = redisPrefix()
      return () => new RedisStore({ url: REDIS_URL, prefix, commandTimeoutMs: 5000 })
    },
  },
  {
    name: 'PostgresStore',
    missing: () => postgresMissing(PG_URL),
    async make() {
      const table = pgTable()
      // The table is made before the instances race to make it.
      const first = new PostgresStore({ connectionString: PG_URL, table })
      await first.get(['warm'])
      await first.close()
      return () => new PostgresStore({ connectionString: PG_URL, table })
    },
  },
]

/** Skips (or, where servers are required, fails) when the store's server is missing. */
function requireServer(kind: StoreKind) {
  let missing: string | undefined
  beforeAll(async () => {
    missing = await kind.missing()
    if (missing !== undefined && storesRequired())
      throw new Error(`${kind.name} is required in CI but unavailable: ${missing}`)
    if (missing !== undefined) console.warn(`[skip] ${kind.name} session tests: ${missing}`)
  })
  return (ctx: { skip: (note?: string) => void }) => {
    if (missing !== undefined) ctx.skip(missing)
  }
}

describe.each(KINDS)('sessions on $name', (kind) => {
  const need = requireServer(kind)

  it('two sessions: listed, one revoked (its tokens fail, the other works), refresh, revokeAll except', async (ctx) => {
    need(ctx)
    // A clock near the real one that the test moves: the servers' expiries stay meaningful.
    let now = Date.now()
    const clock = () => now
    const open = await kind.make(clock)
    const store = open()
    const auth = new AuthX({ secretKey: SECRET, clock, store, revocation: { timeoutMs: 5000 } })
    try {
      const sub = `user-${randomUUID()}`
      const phone = await login(auth, sub, { device: 'phone', ip: '203.0.113.7', data: { n: 1 } })
      const createdAt = now
      now += SECOND
      const laptop = await login(auth, sub, { device: 'laptop', userAgent: 'Firefox/128' })
      const listed = await auth.sessions.list(sub)
      expect(listed.map((s) => s.sid)).toEqual([laptop.sid, phone.sid])
      expect(listed[1]).toEqual({
        sid: phone.sid,
        sub,
        createdAt: new Date(createdAt),
        lastSeenAt: new Date(createdAt),
        userAgent: null,
        ip: '203.0.113.7',
        device: 'phone',
        data: { n: 1 },
      })
      expect(await auth.sessions.get(laptop.sid)).toMatchObject({
        device: 'laptop',
        userAgent: 'Firefox/128',
      })

      expect(await auth.sessions.revoke(phone.sid, { sub: 'someone-else' })).toBe(false)
      await auth.verifyToken(phone.accessToken)
      expect(await auth.sessions.revoke(phone.sid, { sub })).toBe(true)
      expect(await failure(auth.verifyToken(phone.accessToken))).toMatchObject(REVOKED)
      expect(await failure(auth.refresh(phone.refreshToken))).toMatchObject(REVOKED)
      await expect(auth.verifyToken(laptop.accessToken)).resolves.toMatchObject({ sid: laptop.sid })
      expect((await auth.sessions.list(sub)).map((s) => s.sid)).toEqual([laptop.sid])
      expect(await auth.sessions.get(phone.sid)).toBeNull()

      now += MINUTE
      const next = await auth.refresh(laptop.refreshToken)
      expect(auth.decodeUnverified(next.accessToken).payload.sid).toBe(laptop.sid)
      expect(await auth.sessions.get(laptop.sid)).toMatchObject({
        createdAt: new Date(createdAt + SECOND),
        lastSeenAt: new Date(now),
      })

      const tablet = await login(auth, sub, { device: 'tablet' })
      expect(await auth.sessions.revokeAll(sub, { except: laptop.sid })).toBe(1)
      expect(await failure(auth.verifyToken(tablet.accessToken))).toMatchObject(REVOKED)
      await expect(auth.verifyToken(next.accessToken)).resolves.toMatchObject({ sid: laptop.sid })
      expect((await auth.sessions.list(sub)).map((s) => s.device)).toEqual(['laptop'])

      // Another instance over the same store sees the same sessions and ends them for everyone.
      const other = new AuthX({ secretKey: SECRET, clock, store: open(), revocation: { timeoutMs: 5000 } })
      try {
        expect((await other.sessions.list(sub)).map((s) => s.sid)).toEqual([laptop.sid])
        expect(await other.sessions.revokeAll(sub)).toBe(1)
        expect(await failure(auth.verifyToken(next.accessToken))).toMatchObject(REVOKED)
        expect(await failure(auth.refresh(next.refreshToken))).toMatchObject(REVOKED)
        expect(await auth.sessions.list(sub)).toEqual([])
      } finally {
        if (other.store !== store) await other.close()
      }
    } finally {
      await auth.close()
    }
  }, 30_000)
})

const MIRRORED: StoreKind[] = [
  {
    name: 'RedisStore',
    missing: redisMissing,
    make() {
      const prefix = redisPrefix()
      return () => new RedisStore({ url: REDIS_URL, prefix, commandTimeoutMs: 5000, mirror: true })
    },
  },
  {
    name: 'PostgresStore',
    missing: () => postgresMissing(PG_URL),
    async make() {
      const table = pgTable()
      const first = new PostgresStore({ connectionString: PG_URL, table })
      await first.get(['warm'])
      await first.close()
      return () => new PostgresStore({ connectionString: PG_URL, table, mirror: true })
    },
  },
]

describe.each(MIRRORED)('sessions on $name with the mirror', (kind) => {
  const need = requireServer(kind)

  it('a session ended by one instance is ended in another mirrored instance', async (ctx) => {
    need(ctx)
    const open = await kind.make(Date.now)
    const a = new AuthX({ secretKey: SECRET, store: open(), revocation: { timeoutMs: 5000 } })
    const b = new AuthX({ secretKey: SECRET, store: open(), revocation: { timeoutMs: 5000 } })
    try {
      const probe = ['sid::probe']
      await waitFor(
        () => a.store.getLocal?.(probe) !== undefined && b.store.getLocal?.(probe) !== undefined,
        'both mirrors to go live',
      )
      const sub = `user-${randomUUID()}`
      const s = await login(a, sub, { device: 'phone' })
      await expect(b.verifyToken(s.accessToken)).resolves.toMatchObject({ sid: s.sid })
      expect((await b.sessions.list(sub)).map((x) => x.sid)).toEqual([s.sid])

      expect(await a.sessions.revoke(s.sid, { sub })).toBe(true)
      // The instance that wrote it knows at once.
      expect(await failure(a.verifyToken(s.accessToken))).toMatchObject(REVOKED)
      // The other within the mirror's lag: its memory learns the entry from the server.
      const key = [`sid::${s.sid}`]
      await waitFor(
        () => b.store.getLocal?.(key)?.[0] === '1',
        "the other mirror to hold the session's entry",
      )
      expect(await failure(b.verifyToken(s.accessToken))).toMatchObject(REVOKED)
      expect(await failure(b.verifyToken(s.refreshToken, { type: 'refresh' }))).toMatchObject(REVOKED)
      expect(await failure(b.refresh(s.refreshToken))).toMatchObject(REVOKED)
      expect(await b.sessions.list(sub)).toEqual([])
    } finally {
      await a.close()
      await b.close()
    }
  }, 30_000)
})
