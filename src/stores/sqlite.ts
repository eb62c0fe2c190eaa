/**
 * `SqliteStore`: a durable store in one SQLite file, for a single machine. It runs on Node's
 * built-in `node:sqlite` where the runtime has it (Node 22.5 and later), and on better-sqlite3 12
 * otherwise; better-sqlite3, a native addon, is loaded only when it is needed.
 * @module
 */
import { type AuthXStore, ConfigError, type RateLimitHit } from 'authx'

/** The value types the store binds to its statements. */
type SqlValue = string | number

/** A prepared statement of either driver: the two calls the store makes. */
export interface SqliteStatement {
  run(...params: SqlValue[]): { changes: number | bigint }
  all(...params: SqlValue[]): unknown[]
}

/**
 * An open database: a better-sqlite3 `Database` or a `node:sqlite` `DatabaseSync`. The store uses
 * only what both have in common.
 *
 * @example
 * ```ts
 * import Database from 'better-sqlite3'
 * const database: SqliteDatabase = new Database('./authx.db')
 * ```
 */
export interface SqliteDatabase {
  exec(sql: string): unknown
  prepare(sql: string): SqliteStatement
  close(): unknown
}

/** Which library a store talks to SQLite through. */
export type SqliteDriver = 'node:sqlite' | 'better-sqlite3'

/** Options of `new SqliteStore()`: a file `path`, or an open `database`. */
export interface SqliteStoreOptions {
  /** Database file; created when missing. The store opens it and closes it in `close()`. */
  path?: string
  /**
   * An open database: a better-sqlite3 `Database` or a `node:sqlite` `DatabaseSync`. It is left
   * open by `close()`.
   */
  database?: SqliteDatabase
  /**
   * For `path`: which library opens the file. `'auto'` takes `node:sqlite` where the runtime has
   * it (Node 22.5 and later; before 22.13 only with `--experimental-sqlite`), else better-sqlite3.
   * Default `'auto'`.
   */
  driver?: SqliteDriver | 'auto'
  /** Table name. Default `'authx_store'`. */
  table?: string
  /**
   * How long a write waits for another process's lock, in milliseconds. Both drivers are
   * synchronous, so keep this below `revocation.timeoutMs`. Default `200`.
   */
  busyTimeoutMs?: number
  /** Milliseconds since the epoch. Default `Date.now`. */
  clock?: () => number
}

const KNOWN_OPTIONS = ['path', 'database', 'driver', 'table', 'busyTimeoutMs', 'clock'] as const
const TABLE_RE = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/
/** Writes between two sweeps of expired rows. */
const SWEEP_EVERY = 1000
/** Rows one sweep deletes at most, so a sweep holds the write lock and the event loop briefly. */
const SWEEP_BATCH = 1000
/** SQLite's default limit on bound parameters is 32766; chunk far below it. */
const MAX_KEYS_PER_QUERY = 500

interface ProcessLike {
  getBuiltinModule?: (id: string) => unknown
}

interface NodeSqliteModule {
  DatabaseSync: new (path: string) => SqliteDatabase
}

type DatabaseConstructor = new (path: string) => SqliteDatabase

let nodeSqlite: NodeSqliteModule | null | undefined
let betterSqlite3: DatabaseConstructor | undefined

/**
 * `node:sqlite` when this runtime has it, found at run time: `process.getBuiltinModule` answers
 * `undefined` (or throws) where the module does not exist, or needs a flag that was not given.
 */
function loadNodeSqlite(): NodeSqliteModule | undefined {
  if (nodeSqlite === undefined) {
    try {
      const proc = (globalThis as { process?: ProcessLike }).process
      const mod = proc?.getBuiltinModule?.('node:sqlite') as Partial<NodeSqliteModule> | undefined
      nodeSqlite = typeof mod?.DatabaseSync === 'function' ? (mod as NodeSqliteModule) : null
    } catch {
      nodeSqlite = null
    }
  }
  return nodeSqlite ?? undefined
}

/** better-sqlite3's `Database`, loaded on first use (an optional peer dependency, and native). */
function loadBetterSqlite3(): DatabaseConstructor {
  if (betterSqlite3 === undefined) {
    let mod: unknown
    try {
      // Resolved from this file, as an import would be (the CommonJS build gets import.meta.url
      // from tsup's shim).
      const proc = (globalThis as { process?: ProcessLike }).process
      const nodeModule = proc?.getBuiltinModule?.('node:module') as typeof import('node:module')
      mod = nodeModule.createRequire(import.meta.url)('better-sqlite3')
    } catch (cause) {
      throw new ConfigError(
        'SqliteStore: this runtime has no node:sqlite (Node 22.5 or later), so it needs better-sqlite3 12, which could not be loaded (npm install better-sqlite3)',
        { cause },
      )
    }
    betterSqlite3 = ((mod as { default?: unknown }).default ?? mod) as DatabaseConstructor
  }
  return betterSqlite3
}

/** Opens `path` with the driver asked for. */
function open(path: string, driver: SqliteDriver | 'auto'): { db: SqliteDatabase; driver: SqliteDriver } {
  const builtin = driver === 'better-sqlite3' ? undefined : loadNodeSqlite()
  if (builtin !== undefined) return { db: new builtin.DatabaseSync(path), driver: 'node:sqlite' }
  if (driver === 'node:sqlite') {
    throw new ConfigError(
      'driver: node:sqlite is not available in this runtime (Node 22.5 or later; before 22.13 with --experimental-sqlite)',
    )
  }
  return { db: new (loadBetterSqlite3())(path), driver: 'better-sqlite3' }
}

function isDatabase(value: unknown): value is SqliteDatabase {
  const db = value as Partial<Record<keyof SqliteDatabase, unknown>> | null
  return (
    typeof db === 'object' &&
    db !== null &&
    typeof db.exec === 'function' &&
    typeof db.prepare === 'function' &&
    typeof db.close === 'function'
  )
}

/** Checks the options once; the store's calls do no option parsing. */
function checkOptions(options: SqliteStoreOptions): void {
  if (typeof options !== 'object' || options === null)
    throw new TypeError('SqliteStore: expected an options object with path or database')
  for (const name of Object.keys(options)) {
    if (!(KNOWN_OPTIONS as readonly string[]).includes(name))
      throw new ConfigError(`${name}: unknown option of SqliteStore (known: ${KNOWN_OPTIONS.join(', ')})`)
  }
  const { path, database, driver, table, busyTimeoutMs, clock } = options
  if ((path === undefined) === (database === undefined))
    throw new TypeError('SqliteStore: give exactly one of path or database')
  if (path !== undefined && (typeof path !== 'string' || path === ''))
    throw new TypeError('path: expected a file name')
  if (database !== undefined && !isDatabase(database))
    throw new TypeError('database: expected an open better-sqlite3 Database or node:sqlite DatabaseSync')
  if (driver !== undefined) {
    if (driver !== 'auto' && driver !== 'node:sqlite' && driver !== 'better-sqlite3')
      throw new TypeError("driver: expected 'auto', 'node:sqlite' or 'better-sqlite3'")
    if (database !== undefined) throw new TypeError('driver: applies only with path')
  }
  if (table !== undefined && !TABLE_RE.test(table)) throw new TypeError('table: expected an SQL identifier')
  if (busyTimeoutMs !== undefined && !(Number.isFinite(busyTimeoutMs) && busyTimeoutMs >= 0))
    throw new TypeError('busyTimeoutMs: expected a number of milliseconds, 0 or more')
  if (clock !== undefined && typeof clock !== 'function') throw new TypeError('clock: expected a function')
}

/**
 * A store in a SQLite file, in WAL mode: durable across restarts, shared by the processes of one
 * machine (each opens the same file). Expired rows are swept in the background after every
 * thousand writes, never inside a call: a write that committed is never reported as failed.
 *
 * Rate-limit windows (`hit`) and indexed records (sessions) are rows of the same table: a window
 * is a JSON array of hit times in its key's value, and an indexed record names its index in the
 * `idx` column (added to a table made by an earlier version).
 *
 * @example
 * ```ts
 * import { SqliteStore } from 'authx/stores/sqlite'
 * const auth = new AuthX({ secretKey, store: new SqliteStore({ path: './authx.db' }) })
 * ```
 */
export class SqliteStore implements AuthXStore {
  /** The library this store talks to SQLite through. */
  readonly driver: SqliteDriver
  readonly #db: SqliteDatabase
  readonly #owned: boolean
  readonly #clock: () => number
  readonly #busyTimeoutMs: number
  readonly #sql: Statements
  #writes = 0
  #sweep: ReturnType<typeof setTimeout> | undefined
  #closed = false

  constructor(options: SqliteStoreOptions) {
    checkOptions(options)
    const { path, database } = options
    const table = options.table ?? 'authx_store'
    this.#clock = options.clock ?? Date.now
    this.#busyTimeoutMs = Math.floor(options.busyTimeoutMs ?? 200)
    this.#owned = database === undefined
    if (database === undefined) {
      const opened = open(path as string, options.driver ?? 'auto')
      this.#db = opened.db
      this.driver = opened.driver
    } else {
      this.#db = database
      // better-sqlite3's Database has `pragma()`; node:sqlite's DatabaseSync does not.
      this.driver =
        typeof (database as { pragma?: unknown }).pragma === 'function' ? 'better-sqlite3' : 'node:sqlite'
    }
    try {
      // The busy timeout first: the statements after it may wait for another process's lock.
      this.#db.exec(`PRAGMA busy_timeout = ${this.#busyTimeoutMs}`)
      this.#db.exec('PRAGMA journal_mode = WAL')
      // A file the store opens gets what better-sqlite3 is built to use in WAL mode, whichever
      // driver opened it: a crashed process loses no committed write; only a power loss can drop
      // the last ones. (node:sqlite would fsync every write, several milliseconds each, blocking.)
      if (this.#owned) this.#db.exec('PRAGMA synchronous = NORMAL')
      this.#db.exec(
        `CREATE TABLE IF NOT EXISTS ${table} (key TEXT PRIMARY KEY, value TEXT NOT NULL, expires_at INTEGER NOT NULL)`,
      )
      // Sweeps find expired rows through this index, not by reading the whole table; it is also
      // added to a table made by an earlier version.
      this.#db.exec(`CREATE INDEX IF NOT EXISTS ${table}_expires_at ON ${table} (expires_at)`)
      addIndexColumn(this.#db, table)
      // Partial: revocation rows (most of the table) stay out of it.
      this.#db.exec(`CREATE INDEX IF NOT EXISTS ${table}_idx ON ${table} (idx) WHERE idx IS NOT NULL`)
      this.#sql = new Statements(this.#db, table)
    } catch (err) {
      if (this.#owned) this.#db.close()
      throw err
    }
  }

  async get(keys: string[]): Promise<(string | null)[]> {
    const sql = this.#open()
    if (keys.length === 0) return []
    const now = this.#clock()
    const found = new Map<string, string>()
    for (let i = 0; i < keys.length; i += MAX_KEYS_PER_QUERY) {
      const chunk = keys.slice(i, i + MAX_KEYS_PER_QUERY)
      for (const row of sql.select(chunk.length).all(...chunk, now) as { key: string; value: string }[])
        found.set(row.key, row.value)
    }
    return keys.map((key) => found.get(key) ?? null)
  }

  async set(key: string, value: string, ttlSeconds: number): Promise<void> {
    const sql = this.#open()
    const now = this.#clock()
    sql.set.run(key, value, now + ttlMs(ttlSeconds), now)
    this.#wrote()
  }

  async setIfAbsent(key: string, value: string, ttlSeconds: number): Promise<boolean> {
    const sql = this.#open()
    const now = this.#clock()
    // The answer is the committed statement's: nothing after it can turn it into a failure.
    const won = Number(sql.setIfAbsent.run(key, value, now + ttlMs(ttlSeconds), now).changes) === 1
    this.#wrote()
    return won
  }

  /** Removes a key: a value, an indexed record (and its listing) or a rate-limit window. */
  async delete(key: string): Promise<void> {
    this.#open().delete.run(key)
  }

  /**
   * One hit on the sliding window of `key`, in one `BEGIN IMMEDIATE` transaction: the window is
   * the JSON array of the allowed hits' times in the key's row, read and written under the write
   * lock, so processes sharing the file never let more than `max` through.
   *
   * @example
   * ```ts
   * await store.hit('rl:login:alice', 60, 5) // { allowed: true, count: 1, resetAt: Date.now() + 60_000 }
   * ```
   */
  async hit(key: string, windowSeconds: number, max: number): Promise<RateLimitHit> {
    checkHit(key, windowSeconds, max)
    const sql = this.#open()
    const windowMs = windowSeconds * 1000
    // Synchronous from BEGIN to COMMIT: nothing else of this process runs in between.
    this.#db.exec('BEGIN IMMEDIATE')
    let result: RateLimitHit
    try {
      // The clock is read under the lock, so the times in one log only grow.
      const now = this.#clock()
      const rows = sql.getRow.all(key) as { value: unknown; expires_at: unknown }[]
      const row = rows[0]
      const log = row === undefined || Number(row.expires_at) <= now ? [] : parseLog(row.value)
      const from = now - windowMs
      const kept = log.filter((t) => t > from)
      const allowed = kept.length < max
      if (allowed) {
        kept.push(now)
        sql.putLog.run(key, JSON.stringify(kept), Math.ceil(now + windowMs))
      }
      this.#db.exec('COMMIT')
      result = { allowed, count: kept.length, resetAt: (kept[0] ?? now) + windowMs }
    } catch (err) {
      try {
        this.#db.exec('ROLLBACK')
      } catch {
        // Already rolled back by SQLite (some errors end the transaction themselves).
      }
      throw err
    }
    this.#wrote()
    return result
  }

  /**
   * Stores `value` under `key` (read by `get`) and lists it in `index` while it lives.
   *
   * @example
   * ```ts
   * await store.putIndexed('sesx:iss:alice', 'ses:iss:s1', '{"ip":"203.0.113.7"}', 86_400)
   * ```
   */
  async putIndexed(index: string, key: string, value: string, ttlSeconds: number): Promise<void> {
    const sql = this.#open()
    sql.putIndexed.run(key, value, this.#clock() + ttlMs(ttlSeconds), index)
    this.#wrote()
  }

  /**
   * Replaces the value and time to live of `key` only while its row lives, in one statement;
   * `false`, and nothing written, when it is absent or expired (a deleted record never comes
   * back).
   *
   * @example
   * ```ts
   * await store.updateIndexed('sesx:iss:alice', 'ses:iss:s1', '{"ip":"203.0.113.8"}', 86_400) // true
   * ```
   */
  async updateIndexed(index: string, key: string, value: string, ttlSeconds: number): Promise<boolean> {
    const sql = this.#open()
    const now = this.#clock()
    const updated =
      Number(sql.updateIndexed.run(value, now + ttlMs(ttlSeconds), index, key, now).changes) === 1
    this.#wrote()
    return updated
  }

  /**
   * Every live `[key, value]` listed in `index`: one SELECT through the `idx` index.
   *
   * @example
   * ```ts
   * await store.listIndexed('sesx:iss:alice') // [['ses:iss:s1', '{"ip":"203.0.113.7"}']]
   * ```
   */
  async listIndexed(index: string): Promise<[string, string][]> {
    const sql = this.#open()
    const rows = sql.listIndexed.all(index, this.#clock()) as { key: unknown; value: unknown }[]
    return rows.map((row) => {
      if (typeof row.key !== 'string' || typeof row.value !== 'string')
        throw new Error('SqliteStore: an indexed row is not a pair of strings')
      return [row.key, row.value]
    })
  }

  /**
   * Removes `key`, its value and its listing.
   *
   * @example
   * ```ts
   * await store.deleteIndexed('sesx:iss:alice', 'ses:iss:s1')
   * ```
   */
  async deleteIndexed(_index: string, key: string): Promise<void> {
    // The listing is the row's own idx column: deleting the row removes both.
    this.#open().delete.run(key)
  }

  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    clearTimeout(this.#sweep)
    this.#sweep = undefined
    if (this.#owned) this.#db.close()
  }

  #open(): Statements {
    if (this.#closed) throw new Error('SqliteStore is closed')
    return this.#sql
  }

  /** Counts a write; every SWEEP_EVERY writes, schedules a sweep to run after the call returned. */
  #wrote(): void {
    if (++this.#writes < SWEEP_EVERY || this.#sweep !== undefined) return
    this.#writes = 0
    this.#scheduleSweep()
  }

  #scheduleSweep(): void {
    const timer = setTimeout(() => this.#sweepNow(), 0)
    // A pending sweep must not keep the process alive (Deno's timers are plain numbers).
    ;(timer as { unref?: () => void }).unref?.()
    this.#sweep = timer
  }

  /**
   * Deletes up to SWEEP_BATCH expired rows, without waiting for a lock another process holds: a
   * sweep that cannot run now is skipped (reads ignore expired rows anyway) and tried again after
   * the next SWEEP_EVERY writes. Nothing here can throw into a caller.
   */
  #sweepNow(): void {
    this.#sweep = undefined
    if (this.#closed) return
    let deleted = 0
    try {
      this.#db.exec('PRAGMA busy_timeout = 0')
      try {
        deleted = Number(this.#sql.sweep.run(this.#clock(), SWEEP_BATCH).changes)
      } finally {
        this.#db.exec(`PRAGMA busy_timeout = ${this.#busyTimeoutMs}`)
      }
    } catch {
      return
    }
    if (deleted >= SWEEP_BATCH) this.#scheduleSweep()
  }
}

/**
 * Adds the `idx` column to a table made by an earlier version. Two processes may both find it
 * missing: the second ALTER fails, and is fine when the column is there afterwards.
 */
function addIndexColumn(db: SqliteDatabase, table: string): void {
  const hasIdx = () =>
    (db.prepare(`PRAGMA table_info(${table})`).all() as { name: unknown }[]).some((c) => c.name === 'idx')
  if (hasIdx()) return
  try {
    db.exec(`ALTER TABLE ${table} ADD COLUMN idx TEXT`)
  } catch (err) {
    if (!hasIdx()) throw err
  }
}

/** The hit times in a window's row; anything else under the key is an error, never a window. */
function parseLog(value: unknown): number[] {
  let log: unknown
  try {
    log = typeof value === 'string' ? JSON.parse(value) : undefined
  } catch {
    log = undefined
  }
  if (!Array.isArray(log) || !log.every((t) => typeof t === 'number' && Number.isFinite(t)))
    throw new Error('SqliteStore: the value under this key is not a rate-limit window')
  return log as number[]
}

/** The arguments of `hit`, checked as on every built-in store (SPEC 9.3). */
function checkHit(key: string, windowSeconds: number, max: number): void {
  if (typeof key !== 'string') throw new TypeError('key: expected a string')
  if (typeof windowSeconds !== 'number' || !Number.isFinite(windowSeconds) || windowSeconds <= 0)
    throw new TypeError('windowSeconds: expected a positive number')
  if (!Number.isSafeInteger(max) || max < 1) throw new TypeError('max: expected a positive whole number')
}

function ttlMs(ttlSeconds: number): number {
  if (!Number.isFinite(ttlSeconds) || ttlSeconds <= 0)
    throw new TypeError('ttlSeconds: expected a positive number')
  return Math.ceil(ttlSeconds * 1000)
}

/** The store's prepared statements, in SQL both drivers run alike. */
class Statements {
  readonly set: SqliteStatement
  readonly setIfAbsent: SqliteStatement
  readonly delete: SqliteStatement
  readonly sweep: SqliteStatement
  readonly getRow: SqliteStatement
  readonly putLog: SqliteStatement
  readonly putIndexed: SqliteStatement
  readonly updateIndexed: SqliteStatement
  readonly listIndexed: SqliteStatement
  readonly #selects = new Map<number, SqliteStatement>()

  constructor(
    private readonly db: SqliteDatabase,
    private readonly table: string,
  ) {
    const t = table
    // A live indexed row stays listed (as on the other stores); an expired one is not revived.
    this.set = db.prepare(
      `INSERT INTO ${t} (key, value, expires_at) VALUES (?, ?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at, idx = CASE WHEN ${t}.expires_at > ? THEN ${t}.idx END`,
    )
    // Atomic: one statement; an expired row counts as absent and is replaced.
    this.setIfAbsent = db.prepare(
      `INSERT INTO ${t} (key, value, expires_at) VALUES (?, ?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at, idx = NULL WHERE ${t}.expires_at <= ?`,
    )
    this.getRow = db.prepare(`SELECT value, expires_at FROM ${t} WHERE key = ?`)
    this.putLog = db.prepare(
      `INSERT INTO ${t} (key, value, expires_at) VALUES (?, ?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at, idx = NULL`,
    )
    this.putIndexed = db.prepare(
      `INSERT INTO ${t} (key, value, expires_at, idx) VALUES (?, ?, ?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at, idx = excluded.idx`,
    )
    // One statement: only a live row is updated, so a deleted or expired record stays gone.
    this.updateIndexed = db.prepare(
      `UPDATE ${t} SET value = ?, expires_at = ?, idx = ? WHERE key = ? AND expires_at > ?`,
    )
    this.listIndexed = db.prepare(`SELECT key, value FROM ${t} WHERE idx = ? AND expires_at > ?`)
    this.delete = db.prepare(`DELETE FROM ${t} WHERE key = ?`)
    this.sweep = db.prepare(
      `DELETE FROM ${t} WHERE rowid IN (SELECT rowid FROM ${t} WHERE expires_at <= ? LIMIT ?)`,
    )
  }

  /** One SELECT for `count` keys (and the current time), prepared once per count. */
  select(count: number): SqliteStatement {
    let statement = this.#selects.get(count)
    if (statement === undefined) {
      const marks = Array.from({ length: count }, () => '?').join(', ')
      statement = this.db.prepare(
        `SELECT key, value FROM ${this.table} WHERE key IN (${marks}) AND expires_at > ?`,
      )
      this.#selects.set(count, statement)
    }
    return statement
  }
}
