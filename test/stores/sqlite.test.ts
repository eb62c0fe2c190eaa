/**
 * SqliteStore (issues 4 and 8): the conformance suite on a temporary file, for each driver this
 * runtime has (better-sqlite3 always, `node:sqlite` from Node 22.5), once with `path` and once
 * with an open database; then what is particular to SQLite: choosing the driver, WAL, durability
 * across reopening and across processes, sweeping outside the calls, table names and options,
 * closing, lock contention, and a store answering garbage.
 */
import { execFile } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { build } from 'esbuild'
import { afterAll, describe, expect, it, vi } from 'vitest'
import {
  AuthX,
  type AuthXStore,
  ConfigError,
  errorToResponse,
  RevokedTokenError,
  StoreUnavailableError,
} from '../../src/index.js'
import { type SqliteDriver, SqliteStore } from '../../src/stores/sqlite.js'
import { runStoreConformance, SECRET } from './conformance.js'
import { expectOneRefreshWins, runChild } from './processes.js'
import { DatabaseSync, defaultDriver, drivers, nodeSqliteExpected } from './sqlite-drivers.js'

const root = fileURLToPath(new URL('../..', import.meta.url))
const base = join(tmpdir(), `authx-sqlite-${process.pid}-${randomUUID()}`)
const files: string[] = []
/**
 * The file the tests of each driver share (each test with its own table). One file per driver:
 * two SQLite libraries in one process must never have the same file open at once, since each
 * drops the other's POSIX locks when it closes the file, and the file gets corrupted (SQLite's
 * "How To Corrupt", 2.2.1). Processes of their own may mix drivers freely.
 */
const sharedFiles = new Map(drivers.map(({ name }) => [name, tempFile(`shared-${name.replace(':', '-')}`)]))
function fileOf(driver: SqliteDriver): string {
  return sharedFiles.get(driver) as string
}
/** The file of the driver `new SqliteStore({ path })` picks here. */
const shared = fileOf(defaultDriver)

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

/** What a synchronous call threw. */
function thrown(fn: () => unknown): unknown {
  try {
    fn()
  } catch (err) {
    return err
  }
  throw new Error('expected a throw')
}

describe('SqliteStore: choosing the driver', () => {
  it(`finds node:sqlite on this Node (${process.versions.node}) exactly when it must have it`, () => {
    // Only Node 22.5 to 22.12 and 23.0 to 23.3 have it behind a flag; the matrix runs none of them.
    expect(DatabaseSync !== undefined).toBe(nodeSqliteExpected())
    expect(nodeSqliteExpected('20.19.0')).toBe(false)
    expect(nodeSqliteExpected('22.12.0')).toBe(false)
    expect(nodeSqliteExpected('22.13.0')).toBe(true)
    expect(nodeSqliteExpected('24.0.0')).toBe(true)
  })

  it('opens a path with node:sqlite where the runtime has it, else with better-sqlite3', async () => {
    const store = new SqliteStore({ path: shared, table: table('auto') })
    expect(store.driver).toBe(defaultDriver)
    await store.close()
  })

  it('opens a path with the driver asked for', async () => {
    for (const { name } of drivers) {
      const store = new SqliteStore({ path: fileOf(name), table: table('asked'), driver: name })
      expect(store.driver).toBe(name)
      await store.set('k', name, 60)
      expect(await store.get(['k'])).toEqual([name])
      await store.close()
    }
  })

  it('tells which driver a given database belongs to', async () => {
    for (const driver of drivers) {
      const connection = driver.open(fileOf(driver.name))
      const store = new SqliteStore({ database: connection.database, table: table('given_driver') })
      expect(store.driver).toBe(driver.name)
      await store.close()
      connection.close()
    }
  })

  it.skipIf(DatabaseSync !== undefined)(
    'refuses driver node:sqlite with a ConfigError where the runtime lacks it',
    () => {
      const err = thrown(() => new SqliteStore({ path: shared, driver: 'node:sqlite' }))
      expect(err).toBeInstanceOf(ConfigError)
      expect((err as ConfigError).code).toBe('ERR_CONFIG')
    },
  )

  it('loads better-sqlite3 only where node:sqlite is missing: the store works without it installed on Node 22.5+', async () => {
    // The store and the core bundled into a folder from which better-sqlite3 cannot be resolved.
    const dir = mkdtempSync(join(tmpdir(), 'authx-sqlite-lazy-'))
    try {
      const entry = join(dir, 'entry.ts')
      writeFileSync(
        entry,
        `import { AuthX } from 'authx'
import { SqliteStore } from ${JSON.stringify(join(root, 'src/stores/sqlite.ts'))}
let out
try {
  const store = new SqliteStore({ path: ${JSON.stringify(join(dir, 'lazy.db'))} })
  const auth = new AuthX({ secretKey: ${JSON.stringify(SECRET)}, store })
  const token = await auth.createAccessToken({ uid: 'lazy' })
  await auth.revokeToken(token)
  const revoked = await auth.verifyToken(token).then(() => false, (err) => err.code === 'ERR_TOKEN_REVOKED')
  await auth.close()
  out = { ok: true, driver: store.driver, revoked }
} catch (err) {
  out = { ok: false, code: err.code, message: err.message }
}
console.log(JSON.stringify(out))
`,
      )
      const outfile = join(dir, 'bundle.mjs')
      await build({
        entryPoints: [entry],
        bundle: true,
        platform: 'node',
        format: 'esm',
        target: 'node20',
        outfile,
        alias: { authx: join(root, 'src/index.ts') },
        external: ['better-sqlite3'],
        logLevel: 'silent',
      })
      const stdout = await new Promise<string>((resolve, reject) => {
        execFile(process.execPath, [outfile], { cwd: dir, timeout: 30_000 }, (err, out, stderr) =>
          err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(out),
        )
      })
      const result = JSON.parse(stdout.trim().split('\n').pop() as string)
      if (DatabaseSync !== undefined) {
        expect(result).toEqual({ ok: true, driver: 'node:sqlite', revoked: true })
      } else {
        // Node 20: the store needs better-sqlite3 and says so, as a ConfigError.
        expect(result).toMatchObject({ ok: false, code: 'ERR_CONFIG' })
        expect(result.message).toContain('better-sqlite3')
      }
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  }, 60_000)
})

if (DatabaseSync === undefined) {
  // Shown as skipped, so a run on a Node without node:sqlite says what it did not test.
  describe.skip(`SqliteStore on node:sqlite (Node ${process.versions.node} has no node:sqlite)`, () => {
    it('runs the conformance suite and every driver test on node:sqlite', () => {})
  })
}

for (const driver of drivers) {
  runStoreConformance(
    `SqliteStore (path, ${driver.name})`,
    async () => undefined,
    async () => ({
      make: async () =>
        new SqliteStore({ path: fileOf(driver.name), table: table('conf_path'), driver: driver.name }),
    }),
  )

  runStoreConformance(
    `SqliteStore (database, ${driver.name})`,
    async () => undefined,
    async () => {
      const connection = driver.open(fileOf(driver.name))
      return {
        make: async () => new SqliteStore({ database: connection.database, table: table('conf_db') }),
        // Runs after every store of the suite was closed: the database they were given stays open.
        cleanup: async () => {
          const open = connection.isOpen()
          const works = open && connection.value('SELECT 1') === 1
          if (open) connection.close()
          if (!works) throw new Error('SqliteStore.close() closed a database it was given')
        },
      }
    },
  )
}

describe.each(drivers)('SqliteStore on $name: WAL, durability and sweeping', (driver) => {
  const shared = fileOf(driver.name)
  const store = (options: { path?: string; table?: string; busyTimeoutMs?: number; clock?: () => number }) =>
    new SqliteStore({ path: shared, ...options, driver: driver.name })

  it('puts the file it opens in WAL mode', async () => {
    const path = tempFile(`wal-path-${driver.name.replace(':', '-')}`)
    const opened = store({ path })
    const other = driver.open(path)
    expect(other.journalMode()).toBe('wal')
    other.close()
    await opened.close()
  })

  it('puts a database it is given in WAL mode', async () => {
    const connection = driver.open(tempFile(`wal-db-${driver.name.replace(':', '-')}`))
    expect(connection.journalMode()).toBe('delete')
    const given = new SqliteStore({ database: connection.database })
    expect(connection.journalMode()).toBe('wal')
    await given.close()
    connection.close()
  })

  it('answers reads while another connection holds the write lock (WAL readers are not blocked)', async () => {
    const name = table('wal_read')
    const opened = store({ table: name })
    await opened.set('k', 'v', 60)
    const other = driver.open(shared)
    other.exec('BEGIN EXCLUSIVE')
    other.exec(
      `INSERT INTO ${name} (key, value, expires_at) VALUES ('x', 'uncommitted', ${Date.now() + 60_000})`,
    )
    try {
      expect(await opened.get(['k', 'x'])).toEqual(['v', null])
    } finally {
      other.exec('ROLLBACK')
      other.close()
      await opened.close()
    }
  })

  it('keeps its rows when the file is closed and opened again', async () => {
    const path = tempFile(`reopen-${driver.name.replace(':', '-')}`)
    const first = store({ path })
    const auth = new AuthX({ secretKey: SECRET, store: first })
    const pair = await auth.createTokenPair({ uid: 'reopen-user' })
    await auth.revokeToken(pair.accessToken)
    await first.set('plain', 'value', 60)
    await auth.close()
    // SQLite removes the WAL file when the last connection closes: the store closed its file.
    expect(existsSync(`${path}-wal`)).toBe(false)

    // Opened again with each driver: both read the same file.
    for (const { name } of drivers) {
      const second = new SqliteStore({ path, driver: name })
      expect(await second.get(['plain'])).toEqual(['value'])
      const restarted = new AuthX({ secretKey: SECRET, store: second })
      await expect(restarted.verifyToken(pair.accessToken)).rejects.toBeInstanceOf(RevokedTokenError)
      await expect(restarted.verifyToken(pair.refreshToken, { type: 'refresh' })).resolves.toMatchObject({
        sub: 'reopen-user',
      })
      await restarted.close()
    }
  })

  it('sweeps expired rows after writes, outside the calls, in batches', async () => {
    const name = table('sweep')
    let now = Date.now()
    const opened = store({ table: name, clock: () => now })
    const reader = driver.open(shared)
    const rows = () => Number(reader.value(`SELECT count(*) FROM ${name}`))
    // More writes than the store's sweep interval (1000), all with a 1 s time to live. The calls
    // only await microtasks, so the sweep scheduled at the 1000th write cannot run in between.
    for (let i = 0; i < 1500; i++) await opened.set(`short:${i}`, 'v', 1)
    expect(rows()).toBe(1500)
    now += 2000
    for (let i = 0; i < 1000; i++) await opened.set(`long:${i}`, 'v', 60)
    expect(rows()).toBe(2500)
    // The sweep then runs on its own, in two batches (1000 rows at most each): only the rows
    // written after the expiry are left, the expired ones deleted, not just hidden.
    await vi.waitFor(() => expect(rows()).toBe(1000), { timeout: 5000, interval: 20 })
    reader.close()
    await opened.close()
  })

  it('leaves the synchronous setting of a database it is given as it was', async () => {
    const connection = driver.open(shared)
    connection.exec('PRAGMA synchronous = EXTRA')
    const given = new SqliteStore({ database: connection.database, table: table('sync') })
    expect(Number(connection.value('PRAGMA synchronous'))).toBe(3)
    await given.close()
    connection.close()
  })

  it('indexes expires_at, so a sweep does not read the whole table, also on a table made without the index', async () => {
    const name = table('indexed')
    // A table as an earlier version of the store created it: no index.
    const before = driver.open(shared)
    before.exec(
      `CREATE TABLE ${name} (key TEXT PRIMARY KEY, value TEXT NOT NULL, expires_at INTEGER NOT NULL)`,
    )
    before.close()
    const opened = store({ table: name })
    // A new connection: EXPLAIN does not reload a schema another connection changed.
    const other = driver.open(shared)
    const plan = other
      .all(`EXPLAIN QUERY PLAN SELECT rowid FROM ${name} WHERE expires_at <= ? LIMIT 1000`, Date.now())
      .map((row) => String(row.detail))
      .join('\n')
    expect(plan).toMatch(new RegExp(`USING (COVERING )?INDEX ${name}_expires_at`))
    other.close()
    await opened.close()
  })
})

describe.each(drivers)(
  'security: SqliteStore on $name never reports a committed write as failed',
  (driver) => {
    const shared = fileOf(driver.name)
    // Another process takes the write lock the moment the store reads the clock after its write
    // committed. A sweep inside the call (as before issue 8) then failed with SQLITE_BUSY and the
    // call rejected, though its write had committed: a refresh token consumed, yet a 503 answered.
    for (const method of ['set', 'setIfAbsent'] as const) {
      it(`${method} resolves with the committed result when the sweep after it meets another process's lock`, async () => {
        const name = table(`busy_${method}`)
        const other = driver.open(shared)
        let watched: string | undefined
        let locked = false
        let lockedBySweep = false
        const clock = () => {
          if (
            watched !== undefined &&
            !locked &&
            Number(other.value(`SELECT count(*) FROM ${name} WHERE key = ?`, watched)) === 1
          ) {
            other.exec('BEGIN IMMEDIATE')
            locked = true
          }
          return Date.now()
        }
        const opened = new SqliteStore({
          path: shared,
          table: name,
          driver: driver.name,
          busyTimeoutMs: 50,
          clock,
        })
        try {
          // Past the sweep interval (1000 writes), each write watched.
          for (let i = 0; i < 1001; i++) {
            watched = `k${i}`
            if (method === 'set') await expect(opened.set(watched, 'v', 60)).resolves.toBeUndefined()
            else await expect(opened.setIfAbsent(watched, 'v', 60)).resolves.toBe(true)
            if (locked) {
              other.exec('ROLLBACK')
              locked = false
            }
          }
          // The sweep runs after the calls returned; it meets the lock, and gives up quietly.
          await vi.waitFor(() => expect(locked).toBe(true), { timeout: 2000, interval: 5 })
          lockedBySweep = locked
        } finally {
          if (locked) other.exec('ROLLBACK')
          watched = undefined
        }
        expect(lockedBySweep).toBe(true)
        expect(await opened.get(['k0', 'k1000'])).toEqual(['v', 'v'])
        expect(await opened.setIfAbsent('k1000', 'again', 60)).toBe(false)
        other.close()
        await opened.close()
      })
    }
  },
)

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
    const connection = drivers[0]!.open(':memory:')
    expect(() => new SqliteStore({})).toThrow(TypeError)
    expect(() => new SqliteStore(undefined as never)).toThrow(TypeError)
    expect(() => new SqliteStore({ path: shared, database: connection.database })).toThrow(TypeError)
    connection.close()
  })

  it('rejects an unknown option name with a ConfigError naming it, before touching the file', () => {
    const path = tempFile('typo')
    for (const options of [
      { path, typo: 1 },
      { path, busyTimeout: 50 },
      { path, table: 't', Table: 'u' },
    ]) {
      const err = thrown(() => new SqliteStore(options as never))
      expect(err).toBeInstanceOf(ConfigError)
      expect((err as ConfigError).code).toBe('ERR_CONFIG')
      expect((err as ConfigError).status).toBe(500)
      const name = Object.keys(options).find((key) => !['path', 'table'].includes(key)) as string
      expect((err as ConfigError).message).toContain(name)
    }
    expect(existsSync(path)).toBe(false)
  })

  it('rejects bad option values with a TypeError, before touching the file', () => {
    const path = tempFile('values')
    const connection = drivers[0]!.open(':memory:')
    for (const options of [
      { path: '' },
      { path: 42 },
      { database: {} },
      { database: 'file.db' },
      { path, driver: 'sqlite3' },
      { database: connection.database, driver: 'better-sqlite3' },
      { path, busyTimeoutMs: -1 },
      { path, busyTimeoutMs: Number.NaN },
      { path, busyTimeoutMs: '200' },
      { path, clock: 5 },
    ]) {
      expect(() => new SqliteStore(options as never), JSON.stringify(options)).toThrow(TypeError)
    }
    expect(existsSync(path)).toBe(false)
    connection.close()
  })
})

describe.each(drivers)('SqliteStore on $name: closing', (driver) => {
  const shared = fileOf(driver.name)
  it('may be closed twice, and closes the file it opened', async () => {
    const path = tempFile(`close-twice-${driver.name.replace(':', '-')}`)
    const store = new SqliteStore({ path, driver: driver.name })
    await store.set('k', 'v', 60)
    expect(existsSync(`${path}-wal`)).toBe(true)
    await store.close()
    await store.close()
    expect(existsSync(`${path}-wal`)).toBe(false)
  })

  it('leaves a database it was given open, also when closed twice', async () => {
    const connection = driver.open(shared)
    const store = new SqliteStore({ database: connection.database, table: table('given') })
    await store.set('k', 'v', 60)
    await store.close()
    await store.close()
    expect(connection.isOpen()).toBe(true)
    expect(connection.value('SELECT 1')).toBe(1)
    connection.close()
  })

  it('cancels a pending sweep when closed', async () => {
    const store = new SqliteStore({ path: shared, table: table('close_sweep'), driver: driver.name })
    for (let i = 0; i < 1000; i++) await store.set(`k${i}`, 'v', 60)
    await store.close() // a sweep was scheduled by the 1000th write: it must not run on a closed file
    await sleep(20)
  })

  it('rejects every call once closed, whether it owned the file or was given a database', async () => {
    const connection = driver.open(shared)
    const stores = [
      new SqliteStore({ path: shared, table: table('closed'), driver: driver.name }),
      new SqliteStore({ database: connection.database, table: table('closed') }),
    ]
    for (const store of stores) {
      await store.set('k', 'v', 60)
      await store.close()
      await expect(store.get(['k'])).rejects.toThrow()
      await expect(store.set('k', 'v', 60)).rejects.toThrow()
      await expect(store.setIfAbsent('n', 'v', 60)).rejects.toThrow()
      await expect(store.delete('k')).rejects.toThrow()
    }
    connection.close()
  })

  it('makes AuthX answer 503 for a closed store, never accepting the token', async () => {
    const store = new SqliteStore({ path: shared, table: table('closed_auth'), driver: driver.name })
    const auth = new AuthX({ secretKey: SECRET, store })
    const pair = await auth.createTokenPair({ uid: 'closed-user' })
    expect(await statusOf(auth, pair.accessToken)).toBe(200)
    await store.close()
    expect(await statusOf(auth, pair.accessToken)).toBe(503)
    await expect(auth.revokeToken(pair.accessToken)).rejects.toBeInstanceOf(StoreUnavailableError)
    await expect(auth.refresh(pair.refreshToken)).rejects.toBeInstanceOf(StoreUnavailableError)
  })
})

describe.each(drivers)(
  'security: SqliteStore on $name under lock contention (fail closed, then recover)',
  (driver) => {
    const shared = fileOf(driver.name)
    it('rejects a revocation with StoreUnavailableError while another process holds the write lock, and accepts it afterwards', async () => {
      const name = table('locked')
      const store = new SqliteStore({ path: shared, table: name, busyTimeoutMs: 50, driver: driver.name })
      const auth = new AuthX({ secretKey: SECRET, store, revocation: { timeoutMs: 500 } })
      const pair = await auth.createTokenPair({ uid: 'locked-user' })
      await auth.verifyToken(pair.accessToken)

      const other = driver.open(shared)
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
  },
)

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

  // The children open the file with the driver their Node picks; this process with each driver.
  for (const { name } of drivers) {
    it(`of 50 simultaneous refreshes of one token, 4 in child processes and 46 here on ${name}, exactly one succeeds`, async () => {
      const store = new SqliteStore({ path, busyTimeoutMs: 2000, driver: name })
      const auth = new AuthX({ secretKey: SECRET, store, revocation: { timeoutMs: 5000 } })
      const { refreshToken } = await auth.createTokenPair({ uid: 'cross-rotation' })
      await expectOneRefreshWins(spec, auth, refreshToken, SECRET)
      await auth.close()
    }, 60_000)
  }

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

describe.each(drivers)('SqliteStore on $name: hit and indexed records', (driver) => {
  const shared = fileOf(driver.name)
  const store = (options: { table?: string; busyTimeoutMs?: number; clock?: () => number }) =>
    new SqliteStore({ path: shared, ...options, driver: driver.name })
  const fakeClock = (start: number) => {
    let now = start
    return {
      clock: () => now,
      advance: (ms: number) => {
        now += ms
      },
    }
  }

  it('hit slides on the injected clock, one slot at a time, to the millisecond', async () => {
    const { clock, advance } = fakeClock(1_000_000)
    const s = store({ table: table('hit_clock'), clock })
    expect(await s.hit('rl:k', 10, 2)).toEqual({ allowed: true, count: 1, resetAt: 1_010_000 })
    advance(3_000)
    expect(await s.hit('rl:k', 10, 2)).toEqual({ allowed: true, count: 2, resetAt: 1_010_000 })
    advance(6_999)
    expect(await s.hit('rl:k', 10, 2)).toEqual({ allowed: false, count: 2, resetAt: 1_010_000 })
    advance(1)
    expect(await s.hit('rl:k', 10, 2)).toEqual({ allowed: true, count: 2, resetAt: 1_013_000 })
    expect(await s.hit('rl:k', 10, 2)).toEqual({ allowed: false, count: 2, resetAt: 1_013_000 })
    advance(0.5)
    expect(await s.hit('rl:frac', 0.25, 1)).toEqual({ allowed: true, count: 1, resetAt: 1_010_250.5 })
    await s.close()
  })

  it("keeps a window as a JSON log in its key's row, expiring with the window", async () => {
    const { clock, advance } = fakeClock(2_000_000)
    const name = table('hit_row')
    const s = store({ table: name, clock })
    await s.hit('rl:k', 1.5, 3)
    advance(100)
    await s.hit('rl:k', 1.5, 3)
    const look = driver.open(shared)
    expect(look.all(`SELECT value, expires_at, idx FROM ${name} WHERE key = 'rl:k'`)).toEqual([
      { value: '[2000000,2000100]', expires_at: 2_001_600, idx: null },
    ])
    look.close()
    // Once the row expired the window is empty, whatever the row still holds.
    advance(1_500)
    expect(await s.hit('rl:k', 1.5, 1)).toMatchObject({ allowed: true, count: 1 })
    await s.close()
  })

  it('rejects a hit on a key holding something other than a window, and writes nothing', async () => {
    const s = store({ table: table('hit_garbage') })
    await s.set('rl:k', 'not a window', 60)
    await expect(s.hit('rl:k', 60, 5)).rejects.toThrow()
    await s.set('rl:k2', '[1,"x"]', 60)
    await expect(s.hit('rl:k2', 60, 5)).rejects.toThrow()
    expect(await s.get(['rl:k', 'rl:k2'])).toEqual(['not a window', '[1,"x"]'])
    // The failed hits ended their transactions: the store still writes.
    await s.set('after', 'v', 60)
    expect(await s.hit('rl:fine', 60, 5)).toMatchObject({ allowed: true, count: 1 })
    await s.close()
  })

  it('rejects a hit while another process holds the write lock, and counts it once the lock is free', async () => {
    const s = store({ table: table('hit_locked'), busyTimeoutMs: 50 })
    await s.hit('rl:k', 60, 5)
    const other = driver.open(shared)
    other.exec('BEGIN IMMEDIATE')
    try {
      await expect(s.hit('rl:k', 60, 5)).rejects.toThrow()
    } finally {
      other.exec('COMMIT')
      other.close()
    }
    expect(await s.hit('rl:k', 60, 5)).toMatchObject({ allowed: true, count: 2 })
    await s.close()
  })

  it('adds the idx column and its index to a table made by an earlier version, keeping its rows', async () => {
    const name = table('migrate')
    const before = driver.open(shared)
    before.exec(
      `CREATE TABLE ${name} (key TEXT PRIMARY KEY, value TEXT NOT NULL, expires_at INTEGER NOT NULL)`,
    )
    before.exec(`INSERT INTO ${name} VALUES ('jti:old', 'revoked', ${Date.now() + 60_000})`)
    before.close()
    const first = store({ table: name })
    // A second store on the migrated table finds the column there.
    const second = store({ table: name })
    expect(await first.get(['jti:old'])).toEqual(['revoked'])
    await first.putIndexed('sesx:a', 'ses:1', 'v', 60)
    expect(await second.listIndexed('sesx:a')).toEqual([['ses:1', 'v']])
    const other = driver.open(shared)
    expect(other.all(`PRAGMA table_info(${name})`).map((c) => c.name)).toEqual([
      'key',
      'value',
      'expires_at',
      'idx',
    ])
    const plan = other
      .all(`EXPLAIN QUERY PLAN SELECT key, value FROM ${name} WHERE idx = ? AND expires_at > ?`, 'sesx:a', 0)
      .map((row) => String(row.detail))
      .join('\n')
    expect(plan).toMatch(new RegExp(`USING (COVERING )?INDEX ${name}_idx`))
    other.close()
    await first.close()
    await second.close()
  })

  it('indexed records expire on the injected clock; an update does not revive one', async () => {
    const { clock, advance } = fakeClock(3_000_000)
    const s = store({ table: table('indexed_clock'), clock })
    await s.putIndexed('sesx:a', 'ses:1', 'one', 10)
    await s.putIndexed('sesx:a', 'ses:2', 'two', 20)
    advance(9_999)
    expect(await s.listIndexed('sesx:a')).toHaveLength(2)
    advance(1)
    expect(await s.listIndexed('sesx:a')).toEqual([['ses:2', 'two']])
    expect(await s.updateIndexed('sesx:a', 'ses:1', 'back', 60)).toBe(false)
    expect(await s.get(['ses:1'])).toEqual([null])
    await s.close()
  })

  it('set over a live record keeps it listed; set or setIfAbsent over an expired one does not list it again', async () => {
    const { clock, advance } = fakeClock(4_000_000)
    const s = store({ table: table('indexed_set'), clock })
    await s.putIndexed('sesx:a', 'ses:1', 'v', 10)
    await s.putIndexed('sesx:a', 'ses:2', 'v', 10)
    await s.set('ses:1', 'plain', 10)
    expect((await s.listIndexed('sesx:a')).sort()).toEqual([
      ['ses:1', 'plain'],
      ['ses:2', 'v'],
    ])
    advance(10_000)
    await s.set('ses:1', 'again', 60)
    expect(await s.setIfAbsent('ses:2', 'again', 60)).toBe(true)
    expect(await s.listIndexed('sesx:a')).toEqual([])
    await s.close()
  })

  it('a record moved to another index leaves the first one', async () => {
    const s = store({ table: table('indexed_move') })
    await s.putIndexed('sesx:a', 'ses:1', 'v', 60)
    expect(await s.updateIndexed('sesx:b', 'ses:1', 'w', 60)).toBe(true)
    expect(await s.listIndexed('sesx:a')).toEqual([])
    expect(await s.listIndexed('sesx:b')).toEqual([['ses:1', 'w']])
    await s.close()
  })

  it('rejects every new method once closed', async () => {
    const s = store({ table: table('closed_new') })
    await s.close()
    await expect(s.hit('rl:k', 60, 1)).rejects.toThrow()
    await expect(s.putIndexed('i', 'k', 'v', 60)).rejects.toThrow()
    await expect(s.updateIndexed('i', 'k', 'v', 60)).rejects.toThrow()
    await expect(s.listIndexed('i')).rejects.toThrow()
    await expect(s.deleteIndexed('i', 'k')).rejects.toThrow()
  })
})
