/**
 * Sessions across processes (SPEC 9.4) on SQLite, Redis and PostgreSQL: two Node processes, each
 * with its own AuthX over one store and one secret. A session one process ends is ended at once
 * in the other (its access and refresh tokens fail with ERR_TOKEN_REVOKED) and is no longer
 * listed by either; a session one process makes, the other lists and can end.
 */
import { randomBytes, randomUUID } from 'node:crypto'
import { rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { AuthX, type AuthXStore } from '../../src/index.js'
import { PostgresStore } from '../../src/stores/postgres.js'
import { RedisStore } from '../../src/stores/redis.js'
import { SqliteStore } from '../../src/stores/sqlite.js'
import { dropPostgresTables, PG_URL } from '../support/postgres.js'
import { deleteRedisPrefixes, REDIS_URL, redisMissing } from '../support/redis.js'
import { postgresMissing, SECRET, storesRequired } from './conformance.js'
import { bundleChild, runScript } from './processes.js'
import type { SessionResult, SessionTask } from './sessions-child.js'

const run = `${process.pid}_${randomUUID().slice(0, 8)}`
const REVOKED = 'ERR_TOKEN_REVOKED'

/** Runs one session task in a new Node process and returns its printed result. */
const runChild = (task: SessionTask) => runScript<SessionResult>('sessions-child.ts', task)

const sqlitePath = join(tmpdir(), `authx-sessions-processes-${run}.db`)
const redisPrefix = `authx-test:sessions-processes:${randomBytes(8).toString('hex')}:`
const pgTable = `authx_sessions_processes_${run}`

afterAll(async () => {
  for (const suffix of ['', '-wal', '-shm', '-journal']) rmSync(sqlitePath + suffix, { force: true })
  if ((await redisMissing()) === undefined) await deleteRedisPrefixes([redisPrefix])
  if ((await postgresMissing(PG_URL)) === undefined) await dropPostgresTables([pgTable])
})

interface Kind {
  name: string
  missing(): Promise<string | undefined>
  spec: SessionTask['store']
  /** This process's store over the same file, prefix or table as the child's. */
  open(): AuthXStore
}

const KINDS: Kind[] = [
  {
    name: 'SqliteStore',
    missing: async () => undefined,
    spec: { kind: 'sqlite', path: sqlitePath, table: 'sessions' },
    open: () => new SqliteStore({ path: sqlitePath, table: 'sessions', busyTimeoutMs: 5000 }),
  },
  {
    name: 'RedisStore',
    missing: redisMissing,
    spec: { kind: 'redis', url: REDIS_URL, prefix: redisPrefix },
    open: () => new RedisStore({ url: REDIS_URL, prefix: redisPrefix, commandTimeoutMs: 5000 }),
  },
  {
    name: 'PostgresStore',
    missing: () => postgresMissing(PG_URL),
    spec: { kind: 'postgres', connectionString: PG_URL, table: pgTable },
    open: () => new PostgresStore({ connectionString: PG_URL, table: pgTable }),
  },
]

/** The error code a promise rejects with, or 'resolved'. */
async function codeOf(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => 'resolved',
    (err: { code?: unknown }) => err.code,
  )
}

describe.each(KINDS)('sessions across two processes on $name', (kind) => {
  let missing: string | undefined
  let auth: AuthX | undefined

  beforeAll(async () => {
    missing = await kind.missing()
    if (missing !== undefined) {
      if (storesRequired()) throw new Error(`${kind.name} is required in CI but unavailable: ${missing}`)
      console.warn(`[skip] ${kind.name} session process tests: ${missing}`)
      return
    }
    // This process is A; its store (and table) exist before any child starts.
    auth = new AuthX({ secretKey: SECRET, store: kind.open(), revocation: { timeoutMs: 5000 } })
    await auth.store.get(['warm'])
    await bundleChild('sessions-child.ts')
  }, 30_000)

  afterAll(async () => {
    await auth?.close()
  })

  const task = (fields: Omit<SessionTask, 'store' | 'secret'>): SessionTask => ({
    store: kind.spec,
    secret: SECRET,
    ...fields,
  })

  it('a session ended by process B fails at once in process A, access and refresh token alike', async (ctx) => {
    if (auth === undefined) return ctx.skip(missing)
    const sub = `user-${randomUUID()}`
    const ended = await auth.createTokenPair({ uid: sub, session: { device: 'ended' } })
    const kept = await auth.createTokenPair({ uid: sub, session: { device: 'kept' } })
    const endedSid = auth.decodeUnverified(ended.accessToken).payload.sid as string
    const keptSid = auth.decodeUnverified(kept.accessToken).payload.sid as string
    // Verified in A first, so nothing A remembers can hide the revocation.
    await auth.verifyToken(ended.accessToken)
    await auth.verifyToken(ended.refreshToken, { type: 'refresh' })

    const b = await runChild(task({ action: 'revoke', sub, sid: endedSid }))
    expect(b).toMatchObject({ ok: true, revoked: true })
    expect([...(b.before ?? [])].sort()).toEqual([endedSid, keptSid].sort())
    expect(b.after).toEqual([keptSid])

    expect(await codeOf(auth.verifyToken(ended.accessToken))).toBe(REVOKED)
    expect(await codeOf(auth.verifyToken(ended.refreshToken, { type: 'refresh' }))).toBe(REVOKED)
    expect(await codeOf(auth.refresh(ended.refreshToken))).toBe(REVOKED)
    await expect(auth.verifyToken(kept.accessToken)).resolves.toMatchObject({ sid: keptSid })
    expect((await auth.sessions.list(sub)).map((s) => s.sid)).toEqual([keptSid])
    expect(await auth.sessions.get(endedSid)).toBeNull()
  }, 60_000)

  it('a session made by process B is listed in A, and ended by A for B', async (ctx) => {
    if (auth === undefined) return ctx.skip(missing)
    const sub = `user-${randomUUID()}`
    const login = await runChild(task({ action: 'login', sub }))
    expect(login.ok).toBe(true)
    const sid = login.sid as string
    const [session] = await auth.sessions.list(sub)
    expect(session).toMatchObject({ sid, sub, device: expect.stringMatching(/^pid \d+$/) })
    // B refreshes: the new pair keeps the session, and A sees it was seen.
    const refreshed = await runChild(task({ action: 'refresh', token: login.refreshToken as string }))
    expect(refreshed.ok).toBe(true)
    expect(auth.decodeUnverified(refreshed.accessToken as string).payload.sid).toBe(sid)
    // A process starts in far more than a millisecond, so the refresh came strictly later.
    const seen = await auth.sessions.get(sid)
    expect(seen?.lastSeenAt.getTime()).toBeGreaterThan(session!.createdAt.getTime())
    expect(seen?.createdAt).toEqual(session!.createdAt)

    expect(await auth.sessions.revoke(sid, { sub })).toBe(true)
    expect(
      await runChild(task({ action: 'verify', token: refreshed.accessToken as string, type: 'access' })),
    ).toEqual({ ok: false, code: REVOKED })
    expect(await runChild(task({ action: 'refresh', token: refreshed.refreshToken as string }))).toEqual({
      ok: false,
      code: REVOKED,
    })
    expect(await auth.sessions.list(sub)).toEqual([])
  }, 60_000)
})
