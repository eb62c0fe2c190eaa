/**
 * `SqliteStore`: a durable store in one SQLite file, for a single machine. It runs on Node's
 * built-in `node:sqlite` where the runtime has it (Node 22.5 and later), and on better-sqlite3 12
 * otherwise; better-sqlite3, a native addon, is loaded only when it is needed.
 * @module
 */
import { type AuthXStore, ConfigError } from 'authx'

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
    sql.set.run(key, value, this.#clock() + ttlMs(ttlSeconds))
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

  async delete(key: string): Promise<void> {
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
  readonly #selects = new Map<number, SqliteStatement>()

  constructor(
    private readonly db: SqliteDatabase,
    private readonly table: string,
  ) {
    const t = table
    this.set = db.prepare(
      `INSERT INTO ${t} (key, value, expires_at) VALUES (?, ?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at`,
    )
    // Atomic: one statement; an expired row counts as absent and is replaced.
    this.setIfAbsent = db.prepare(
      `INSERT INTO ${t} (key, value, expires_at) VALUES (?, ?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at WHERE ${t}.expires_at <= ?`,
    )
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
