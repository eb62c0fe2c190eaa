/**
 * SqliteStore (issue 4): the conformance suite on a temporary file (once with `path`, once with
 * an open better-sqlite3 database), then what is particular to SQLite: WAL, durability across
 * reopening and across processes, sweeping, table names, closing, lock contention, and a store
 * answering garbage.
 */
import { randomUUID } from 'node:crypto'
import { existsSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Sqlite from 'better-sqlite3'
import { afterAll, describe, expect, it } from 'vitest'
import {
  AuthX,
  type AuthXStore,
  errorToResponse,
  RevokedTokenError,
  StoreUnavailableError,
} from '../../src/index.js'
import { SqliteStore } from '../../src/stores/sqlite.js'
import { runStoreConformance, SECRET } from './conformance.js'
import { expectOneRefreshWins, runChild } from './processes.js'

const base = join(tmpdir(), `authx-sqlite-${process.pid}-${randomUUID()}`)
const files: string[] = []
/** The file the tests share (each with its own table). */
const shared = tempFile('shared')

/** A new temporary database file name, removed (with its WAL files) after the tests. */
function tempFile(label: string): string {
  const path = `${base}-${label}.db`
  files.push(path)
  return path
}

afterAll(() => {
  for (const path of files) {
    for (const suffix of ['', '-wal', '-shm', '-journal']) rmSync(path + suffix, { force: true })
  }
})

let tables = 0
/** A table name no other test of this file uses. */
function table(label: string): string {
  tables += 1
  return `${label}_${tables}`
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** A bearer request, for answers "through AuthX" as an HTTP status. */
function bearer(token: string): Request {
  return new Request('http://localhost/me', { headers: { authorization: `Bearer ${token}` } })
}

/** The HTTP status AuthX gives a request: 200 when authenticated, else the error's status. */
async function statusOf(auth: AuthX, token: string): Promise<number> {
  try {
    await auth.authenticate(bearer(token))
    return 200
  } catch (err) {
    if (err instanceof StoreUnavailableError) {
      const response = errorToResponse(err)
      expect(response.headers.get('retry-after')).toBe('1')
      return response.status
    }
    throw err
  }
}

runStoreConformance(
  'SqliteStore (path)',
  async () => undefined,
  async () => ({ make: async () => new SqliteStore({ path: shared, table: table('conf_path') }) }),
)

runStoreConformance(
  'SqliteStore (database)',
  async () => undefined,
  async () => {
    const db = new Sqlite(shared)
    return {
      make: async () => new SqliteStore({ database: db, table: table('conf_db') }),
      // Runs after every store of the suite was closed: the database they were given stays open.
      cleanup: async () => {
        const open = db.open
        const works = open && db.prepare('SELECT 1').pluck().get() === 1
        if (open) db.close()
        if (!works) throw new Error('SqliteStore.close() closed a database it was given')
      },
    }
  },
)

describe('SqliteStore: WAL and durability', () => {
  it('puts the file it opens in WAL mode', async () => {
    const path = tempFile('wal-path')
    const store = new SqliteStore({ path })
    const other = new Sqlite(path, { readonly: true })
    expect(other.pragma('journal_mode', { simple: true })).toBe('wal')
    other.close()
    await store.close()
  })

  it('puts a database it is given in WAL mode', async () => {
    const db = new Sqlite(tempFile('wal-db'))
    expect(db.pragma('journal_mode', { simple: true })).toBe('delete')
    const store = new SqliteStore({ database: db })
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal')
    await store.close()
    db.close()
  })

  it('answers reads while another connection holds the write lock (WAL readers are not blocked)', async () => {
    const name = table('wal_read')
    const store = new SqliteStore({ path: shared, table: name })
    await store.set('k', 'v', 60)
    const other = new Sqlite(shared)
    other.exec('BEGIN EXCLUSIVE')
    other
      .prepare(`INSERT INTO ${name} (key, value, expires_at) VALUES ('x', 'uncommitted', ?)`)
      .run(Date.now() + 60_000)
    try {
      expect(await store.get(['k', 'x'])).toEqual(['v', null])
    } finally {
      other.exec('ROLLBACK')
      other.close()
      await store.close()
    }
  })

  it('keeps its rows when the file is closed and opened again', async () => {
    const path = tempFile('reopen')
    const first = new SqliteStore({ path })
    const auth = new AuthX({ secretKey: SECRET, store: first })
    const pair = await auth.createTokenPair({ uid: 'reopen-user' })
    await auth.revokeToken(pair.accessToken)
    await first.set('plain', 'value', 60)
    await auth.close()
    // SQLite removes the WAL file when the last connection closes: the store closed its file.
    expect(existsSync(`${path}-wal`)).toBe(false)

    const second = new SqliteStore({ path })
    expect(await second.get(['plain'])).toEqual(['value'])
    const restarted = new AuthX({ secretKey: SECRET, store: second })
    await expect(restarted.verifyToken(pair.accessToken)).rejects.toBeInstanceOf(RevokedTokenError)
    await expect(restarted.verifyToken(pair.refreshToken, { type: 'refresh' })).resolves.toMatchObject({
      sub: 'reopen-user',
    })
    await restarted.close()
  })

  it('sweeps expired rows from the table as writes happen', async () => {
    const name = table('sweep')
    const store = new SqliteStore({ path: shared, table: name })
    const reader = new Sqlite(shared, { readonly: true })
    const rows = () => reader.prepare(`SELECT count(*) FROM ${name}`).pluck().get() as number
    // More writes than the store's sweep interval (1000), all with a 1 s time to live.
    for (let i = 0; i < 1500; i++) await store.set(`short:${i}`, 'v', 1)
    expect(rows()).toBe(1500)
    await sleep(1100)
    let writes = 0
    while (rows() > writes && writes < 5000) {
      await store.set(`long:${writes}`, 'v', 60)
      writes += 1
    }
    // Only the rows written after the wait are left: the expired ones were deleted, not just hidden.
    expect(rows()).toBe(writes)
    expect(writes).toBeLessThan(5000)
    reader.close()
    await store.close()
  })
})

describe('SqliteStore: construction', () => {
  it('rejects table names that are not plain SQL identifiers, before touching the file', () => {
    const path = tempFile('names')
    for (const bad of [
      'authx; DROP TABLE authx_store',
      'x"y',
      "x'y",
      'two words',
      '1starts_with_digit',
      '',
      'a'.repeat(64),
      'caf\u00e9',
      42 as unknown as string,
    ]) {
      expect(() => new SqliteStore({ path, table: bad })).toThrow(TypeError)
    }
    expect(existsSync(path)).toBe(false)
  })

  it('accepts plain identifiers up to 63 characters', async () => {
    for (const good of ['_x9', 'a'.repeat(63), 'AuthX_Tokens']) {
      const store = new SqliteStore({ path: shared, table: good })
      await store.set('k', 'v', 60)
      expect(await store.get(['k'])).toEqual(['v'])
      await store.close()
    }
  })

  it('needs exactly one of path and database', () => {
    const db = new Sqlite(':memory:')
    expect(() => new SqliteStore({})).toThrow(TypeError)
    expect(() => new SqliteStore(undefined as never)).toThrow(TypeError)
    expect(() => new SqliteStore({ path: shared, database: db })).toThrow(TypeError)
    db.close()
  })
})

describe('SqliteStore: closing', () => {
  it('may be closed twice, and closes the file it opened', async () => {
    const path = tempFile('close-twice')
    const store = new SqliteStore({ path })
    await store.set('k', 'v', 60)
    expect(existsSync(`${path}-wal`)).toBe(true)
    await store.close()
    await store.close()
    expect(existsSync(`${path}-wal`)).toBe(false)
  })

  it('leaves a database it was given open, also when closed twice', async () => {
    const db = new Sqlite(shared)
    const store = new SqliteStore({ database: db, table: table('given') })
    await store.set('k', 'v', 60)
    await store.close()
    await store.close()
    expect(db.open).toBe(true)
    expect(db.prepare('SELECT 1').pluck().get()).toBe(1)
    db.close()
  })

  it('rejects every call once closed, whether it owned the file or was given a database', async () => {
    const db = new Sqlite(shared)
    const stores = [
      new SqliteStore({ path: shared, table: table('closed') }),
      new SqliteStore({ database: db, table: table('closed') }),
    ]
    for (const store of stores) {
      await store.set('k', 'v', 60)
      await store.close()
      await expect(store.get(['k'])).rejects.toThrow()
      await expect(store.set('k', 'v', 60)).rejects.toThrow()
      await expect(store.setIfAbsent('n', 'v', 60)).rejects.toThrow()
      await expect(store.delete('k')).rejects.toThrow()
    }
    db.close()
  })

  it('makes AuthX answer 503 for a closed store, never accepting the token', async () => {
    const store = new SqliteStore({ path: shared, table: table('closed_auth') })
    const auth = new AuthX({ secretKey: SECRET, store })
    const pair = await auth.createTokenPair({ uid: 'closed-user' })
    expect(await statusOf(auth, pair.accessToken)).toBe(200)
    await store.close()
    expect(await statusOf(auth, pair.accessToken)).toBe(503)
    await expect(auth.revokeToken(pair.accessToken)).rejects.toBeInstanceOf(StoreUnavailableError)
    await expect(auth.refresh(pair.refreshToken)).rejects.toBeInstanceOf(StoreUnavailableError)
  })
})

describe('security: SqliteStore under lock contention (fail closed, then recover)', () => {
  it('rejects a revocation with StoreUnavailableError while another process holds the write lock, and accepts it afterwards', async () => {
    const name = table('locked')
    const store = new SqliteStore({ path: shared, table: name, busyTimeoutMs: 50 })
    const auth = new AuthX({ secretKey: SECRET, store, revocation: { timeoutMs: 500 } })
    const pair = await auth.createTokenPair({ uid: 'locked-user' })
    await auth.verifyToken(pair.accessToken) // creates the statements before the lock is taken

    const other = new Sqlite(shared)
    other.exec('BEGIN IMMEDIATE')
    try {
      await expect(auth.revokeToken(pair.accessToken)).rejects.toBeInstanceOf(StoreUnavailableError)
      await expect(auth.refresh(pair.refreshToken)).rejects.toBeInstanceOf(StoreUnavailableError)
      // Reads still answer (WAL), and the failed revocation left nothing behind to trust.
      await expect(auth.verifyToken(pair.accessToken)).resolves.toMatchObject({ sub: 'locked-user' })
    } finally {
      other.exec('COMMIT')
      other.close()
    }

    await auth.revokeToken(pair.accessToken)
    await expect(auth.verifyToken(pair.accessToken)).rejects.toBeInstanceOf(RevokedTokenError)
    // The refresh that failed consumed nothing: the token still rotates once.
    await expect(auth.refresh(pair.refreshToken)).resolves.toMatchObject({ tokenType: 'bearer' })
    await auth.close()
  })
})

/** Wraps a real store and replaces some answers with garbage. */
class GarbageStore implements AuthXStore {
  constructor(
    private readonly inner: AuthXStore,
    private readonly garbage: {
      get?: (keys: string[]) => unknown
      /** Which `get` calls answer garbage. Default: all. */
      getOnly?: (keys: string[]) => boolean
      setIfAbsent?: () => unknown
    },
  ) {}

  get(keys: string[]): Promise<(string | null)[]> {
    const { get: bad, getOnly } = this.garbage
    if (bad === undefined || (getOnly !== undefined && !getOnly(keys))) return this.inner.get(keys)
    return Promise.resolve(bad(keys)) as Promise<(string | null)[]>
  }

  set(key: string, value: string, ttlSeconds: number): Promise<void> {
    return this.inner.set(key, value, ttlSeconds)
  }

  setIfAbsent(key: string, value: string, ttlSeconds: number): Promise<boolean> {
    const bad = this.garbage.setIfAbsent
    return bad === undefined
      ? this.inner.setIfAbsent(key, value, ttlSeconds)
      : (Promise.resolve(bad()) as Promise<boolean>)
  }

  delete(key: string): Promise<void> {
    return this.inner.delete(key)
  }

  close(): Promise<void> {
    return this.inner.close?.() ?? Promise.resolve()
  }
}

describe('security: a SQLite store answering garbage gives 503 through AuthX', () => {
  const garbageGets: [string, (keys: string[]) => unknown][] = [
    ['numbers instead of strings', (keys) => keys.map(() => 0)],
    ['ones instead of strings', (keys) => keys.map(() => 1)],
    ['too few values', () => [null]],
    ['too many values', (keys) => [...keys.map(() => null), null]],
    ['no values', () => []],
    ['objects', (keys) => keys.map(() => ({}))],
    ['a string instead of a list', () => 'null'],
    ['a number instead of a list', () => 0],
    ['null', () => null],
    ['undefined', () => undefined],
    [
      'a subject cut-off that is not a number',
      (keys) => keys.map((k) => (k.startsWith('sub:') ? 'soon' : null)),
    ],
  ]

  it('authenticates through the wrapper when the real store answers (control)', async () => {
    const store = new GarbageStore(new SqliteStore({ path: shared, table: table('garbage') }), {})
    const auth = new AuthX({ secretKey: SECRET, store })
    expect(await statusOf(auth, await auth.createAccessToken({ uid: 'g' }))).toBe(200)
    await auth.close()
  })

  for (const [label, get] of garbageGets) {
    it(`answers 503 when get returns ${label}`, async () => {
      const store = new GarbageStore(new SqliteStore({ path: shared, table: table('garbage') }), { get })
      const auth = new AuthX({ secretKey: SECRET, store })
      const pair = await auth.createTokenPair({ uid: 'garbage-user' })
      expect(await statusOf(auth, pair.accessToken)).toBe(503)
      await expect(auth.refresh(pair.refreshToken)).rejects.toBeInstanceOf(StoreUnavailableError)
      await auth.close()
    })
  }

  for (const [label, answer] of [
    ['a number', 1],
    ['a string', 'true'],
    ['null', null],
    ['undefined', undefined],
  ] as const) {
    it(`refuses to rotate when setIfAbsent returns ${label}`, async () => {
      const store = new GarbageStore(new SqliteStore({ path: shared, table: table('garbage') }), {
        setIfAbsent: () => answer,
      })
      const auth = new AuthX({ secretKey: SECRET, store })
      const { refreshToken } = await auth.createTokenPair({ uid: 'garbage-user' })
      const err = await auth.refresh(refreshToken).catch((e: unknown) => e)
      expect(err).toBeInstanceOf(StoreUnavailableError)
      expect(errorToResponse(err as StoreUnavailableError).status).toBe(503)
      await auth.close()
    })
  }

  // With a grace window, a replay looks up when the token was first used.
  it('gives a replay within the grace window new tokens when the lookup answers (control)', async () => {
    const store = new GarbageStore(new SqliteStore({ path: shared, table: table('garbage_used') }), {})
    const auth = new AuthX({ secretKey: SECRET, store, refreshRotation: { reuseGraceSeconds: 30 } })
    const { refreshToken } = await auth.createTokenPair({ uid: 'garbage-replay' })
    await auth.refresh(refreshToken)
    await expect(auth.refresh(refreshToken)).resolves.toMatchObject({ tokenType: 'bearer' })
    await auth.close()
  })

  for (const [label, get] of [
    ['null', () => null],
    ['undefined', () => undefined],
    ['an empty list', () => []],
    ['a number inside the list', () => [Number.MAX_SAFE_INTEGER]],
  ] as const) {
    it(`refuses a replayed refresh token with 503 when the consumed-token lookup returns ${label}`, async () => {
      // Revocation checks ask for two or three keys; refresh's consumed-token lookup asks for one.
      const store = new GarbageStore(new SqliteStore({ path: shared, table: table('garbage_used') }), {
        get,
        getOnly: (keys) => keys.length === 1,
      })
      const auth = new AuthX({ secretKey: SECRET, store, refreshRotation: { reuseGraceSeconds: 30 } })
      const { refreshToken } = await auth.createTokenPair({ uid: 'garbage-replay' })
      await auth.refresh(refreshToken)
      const replay = await auth.refresh(refreshToken).then(
        () => 'issued new tokens',
        (err: unknown) => err,
      )
      expect(replay).toBeInstanceOf(StoreUnavailableError)
      await auth.close()
    })
  }
})

describe('SqliteStore across processes (same file)', () => {
  const path = tempFile('processes')
  const spec = { kind: 'sqlite' as const, path }

  it('lets a child process verify a token, after building the child once', async () => {
    const auth = new AuthX({ secretKey: SECRET })
    const token = await auth.createAccessToken({ uid: 'warm-up' })
    expect(await runChild({ store: spec, secret: SECRET, action: 'verify', token })).toEqual({
      ok: true,
      sub: 'warm-up',
    })
  }, 60_000)

  it('of 50 simultaneous refreshes of one token, 4 in child processes and 46 here, exactly one succeeds', async () => {
    const store = new SqliteStore({ path, busyTimeoutMs: 2000 })
    const auth = new AuthX({ secretKey: SECRET, store, revocation: { timeoutMs: 5000 } })
    const { refreshToken } = await auth.createTokenPair({ uid: 'cross-rotation' })
    await expectOneRefreshWins(spec, auth, refreshToken, SECRET)
    await auth.close()
  }, 60_000)

  it('keeps a revocation made in one process for a new process, and a token never revoked still verifies there', async () => {
    const auth = new AuthX({ secretKey: SECRET })
    const revoked = await auth.createAccessToken({ uid: 'durable-revoked' })
    const control = await auth.createAccessToken({ uid: 'durable-control' })
    expect(await runChild({ store: spec, secret: SECRET, action: 'revoke', token: revoked })).toEqual({
      ok: true,
    })
    expect(await runChild({ store: spec, secret: SECRET, action: 'verify', token: revoked })).toEqual({
      ok: false,
      code: 'ERR_TOKEN_REVOKED',
    })
    expect(await runChild({ store: spec, secret: SECRET, action: 'verify', token: control })).toEqual({
      ok: true,
      sub: 'durable-control',
    })
  }, 60_000)
})
