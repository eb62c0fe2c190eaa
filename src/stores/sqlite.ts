/**
 * `SqliteStore`: a durable store in one SQLite file (better-sqlite3 12), for a single machine.
 * @module
 */
import type { AuthXStore } from 'authx'
import Sqlite from 'better-sqlite3'

type Database = Sqlite.Database
type Statements = ReturnType<typeof prepare>

/** Options of `new SqliteStore()`: a file `path`, or an open better-sqlite3 `database`. */
export interface SqliteStoreOptions {
  /** Database file; created when missing. */
  path?: string
  /** An open better-sqlite3 database (left open by `close()`). */
  database?: Database
  /** Table name. Default `'authx_store'`. */
  table?: string
  /**
   * How long a write waits for another process's lock, in milliseconds. better-sqlite3 is
   * synchronous, so keep this below `revocation.timeoutMs`. Default `200`.
   */
  busyTimeoutMs?: number
  /** Milliseconds since the epoch. Default `Date.now`. */
  clock?: () => number
}

const TABLE_RE = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/
const SWEEP_EVERY = 1000
/** SQLite's default limit on bound parameters is 32766; chunk far below it. */
const MAX_KEYS_PER_QUERY = 500

/**
 * A store in a SQLite file, in WAL mode: durable across restarts, shared by the processes of one
 * machine (each opens the same file). Expired rows are swept as writes happen.
 *
 * @example
 * ```ts
 * import { SqliteStore } from 'authx/stores/sqlite'
 * const auth = new AuthX({ secretKey, store: new SqliteStore({ path: './authx.db' }) })
 * ```
 */
export class SqliteStore implements AuthXStore {
  readonly #db: Database
  readonly #owned: boolean
  readonly #clock: () => number
  readonly #table: string
  #writes = 0
  #closed = false
  #statements: Statements | undefined

  constructor(options: SqliteStoreOptions) {
    const { path, database } = options ?? {}
    if ((path === undefined) === (database === undefined))
      throw new TypeError('SqliteStore: give exactly one of path or database')
    const table = options.table ?? 'authx_store'
    if (!TABLE_RE.test(table)) throw new TypeError('table: expected an SQL identifier')
    this.#table = table
    this.#clock = options.clock ?? Date.now
    this.#owned = database === undefined
    this.#db = database ?? new Sqlite(path as string)
    this.#db.pragma('journal_mode = WAL')
    this.#db.pragma(`busy_timeout = ${Math.max(0, Math.floor(options.busyTimeoutMs ?? 200))}`)
    this.#db.exec(
      `CREATE TABLE IF NOT EXISTS ${table} (key TEXT PRIMARY KEY, value TEXT NOT NULL, expires_at INTEGER NOT NULL)`,
    )
  }

  get #sql() {
    if (this.#closed) throw new Error('SqliteStore is closed')
    this.#statements ??= prepare(this.#db, this.#table)
    return this.#statements
  }

  async get(keys: string[]): Promise<(string | null)[]> {
    const sql = this.#sql
    const now = this.#clock()
    const read = this.#db.transaction((list: string[]) =>
      list.map((key) => (sql.get.get(key, now) as string | undefined) ?? null),
    )
    const out: (string | null)[] = []
    for (let i = 0; i < keys.length; i += MAX_KEYS_PER_QUERY)
      out.push(...read(keys.slice(i, i + MAX_KEYS_PER_QUERY)))
    return out
  }

  async set(key: string, value: string, ttlSeconds: number): Promise<void> {
    this.#sql.set.run(key, value, this.#expiry(ttlSeconds))
    this.#maybeSweep()
  }

  async setIfAbsent(key: string, value: string, ttlSeconds: number): Promise<boolean> {
    const result = this.#sql.setIfAbsent.run(key, value, this.#expiry(ttlSeconds), this.#clock())
    this.#maybeSweep()
    return result.changes === 1
  }

  async delete(key: string): Promise<void> {
    this.#sql.delete.run(key)
  }

  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    if (this.#owned) this.#db.close()
  }

  #expiry(ttlSeconds: number): number {
    if (!Number.isFinite(ttlSeconds) || ttlSeconds <= 0)
      throw new TypeError('ttlSeconds: expected a positive number')
    return this.#clock() + Math.ceil(ttlSeconds * 1000)
  }

  #maybeSweep(): void {
    if (++this.#writes % SWEEP_EVERY === 0) this.#sql.sweep.run(this.#clock())
  }
}

function prepare(db: Database, t: string) {
  return {
    get: db.prepare(`SELECT value FROM ${t} WHERE key = ? AND expires_at > ?`).pluck(),
    set: db.prepare(
      `INSERT INTO ${t} (key, value, expires_at) VALUES (?, ?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at`,
    ),
    // Atomic: one statement; an expired row counts as absent and is replaced.
    setIfAbsent: db.prepare(
      `INSERT INTO ${t} (key, value, expires_at) VALUES (?, ?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at WHERE ${t}.expires_at <= ?`,
    ),
    delete: db.prepare(`DELETE FROM ${t} WHERE key = ?`),
    sweep: db.prepare(`DELETE FROM ${t} WHERE expires_at <= ?`),
  }
}
