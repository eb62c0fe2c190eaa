/**
 * `PostgresStore`: a store shared by every instance of a service, on PostgreSQL (pg 8).
 * @module
 */
import { type AuthXStore, ConfigError } from 'authx'

/** The part of a pg `Pool` the store uses. */
export interface PgPoolLike {
  query(
    text: string,
    values?: unknown[],
  ): Promise<{ rows: Record<string, unknown>[]; rowCount: number | null }>
  end(): Promise<void>
}

/** Options of `new PostgresStore()`: a pg `pool`, or a `connectionString`. */
export interface PostgresStoreOptions {
  /**
   * A pg Pool (left open by `close()`). Give it `connectionTimeoutMillis` and `query_timeout`,
   * and an `'error'` listener: without them a server that stops answering holds its
   * connections forever, and a dropped idle connection crashes the process.
   */
  pool?: PgPoolLike
  /** A connection string; the store creates (and closes) its own Pool. */
  connectionString?: string
  /**
   * For `connectionString`: how long the store's own Pool waits for a connection and for a
   * query's answer, in milliseconds. A server that stops answering then frees its connections,
   * so the store recovers when the server does. Default `5000`.
   */
  timeoutMs?: number
  /** Table name, created on first use when missing. Default `'authx_store'`. */
  table?: string
  /** Milliseconds since the epoch. Default `Date.now`. */
  clock?: () => number
}

const KNOWN_OPTIONS = ['pool', 'connectionString', 'timeoutMs', 'table', 'clock'] as const
const TABLE_RE = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/
/** A sweep starts (in the background) once every this many writes of a store. */
const SWEEP_EVERY = 1000
/** Rows one sweep statement deletes at most, so no statement runs long or locks much... */
const SWEEP_BATCH = 1000
/** ...and statements one sweep runs at most; the next sweep goes on. */
const SWEEP_MAX_BATCHES = 20
const DEFAULT_TIMEOUT_MS = 5000
/** Errors a concurrent `CREATE TABLE IF NOT EXISTS` can raise when another process wins. */
const ALREADY_EXISTS = new Set(['23505', '42P07'])

/**
 * The name of the index on `expires_at`. PostgreSQL cuts names at 63 bytes, so two long table
 * names could share one cut name: those get a hash of the full name instead.
 */
function indexNameOf(table: string): string {
  const name = `${table}_expires_at_idx`
  if (name.length <= 63) return name
  let hash = 0x811c9dc5 // FNV-1a
  for (let i = 0; i < table.length; i++) hash = Math.imul(hash ^ table.charCodeAt(i), 0x01000193)
  return `${table.slice(0, 40)}_${(hash >>> 0).toString(16).padStart(8, '0')}_expires_at_idx`
}

function ttlOf(ttlSeconds: number): number {
  if (!Number.isFinite(ttlSeconds) || ttlSeconds <= 0)
    throw new TypeError('ttlSeconds: expected a positive number')
  return Math.ceil(ttlSeconds * 1000)
}

/**
 * A store in a PostgreSQL table: `get` is one query for all keys, `setIfAbsent` one atomic
 * `INSERT ... ON CONFLICT` statement. Expired rows are swept in the background, never inside a
 * caller's call, through an index on `expires_at`.
 *
 * @example
 * ```ts
 * import pg from 'pg'
 * import { PostgresStore } from 'authx/stores/postgres'
 * const pool = new pg.Pool({ connectionTimeoutMillis: 5000, query_timeout: 5000 })
 * pool.on('error', () => {}) // a dropped idle connection is replaced, not a crash
 * const auth = new AuthX({ secretKey, store: new PostgresStore({ pool }) })
 * ```
 */
export class PostgresStore implements AuthXStore {
  readonly #table: string
  readonly #index: string
  readonly #clock: () => number
  readonly #owned: boolean
  readonly #pool: PgPoolLike | Promise<PgPoolLike>
  #ready: Promise<PgPoolLike> | undefined
  #writes = 0
  #sweeping = false
  #closed = false

  constructor(options: PostgresStoreOptions) {
    for (const name of Object.keys(options ?? {})) {
      // A misspelt option must not pass silently (docs/stores.md), as in `new AuthX()`.
      if (!(KNOWN_OPTIONS as readonly string[]).includes(name))
        throw new ConfigError(`${name}: unknown option of PostgresStore (known: ${KNOWN_OPTIONS.join(', ')})`)
    }
    const { pool, connectionString } = options ?? {}
    if ((pool === undefined) === (connectionString === undefined)) {
      throw new TypeError('PostgresStore: give exactly one of pool or connectionString')
    }
    const table = options.table ?? 'authx_store'
    if (!TABLE_RE.test(table)) throw new TypeError('table: expected an SQL identifier')
    const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS
    if (!Number.isInteger(timeoutMs) || timeoutMs <= 0)
      throw new TypeError('timeoutMs: expected a positive integer')
    this.#table = `"${table}"`
    this.#index = `"${indexNameOf(table)}"`
    this.#clock = options.clock ?? Date.now
    this.#owned = pool === undefined
    if (pool !== undefined) {
      this.#pool = pool
    } else {
      // pg is an optional peer dependency, loaded only for `connectionString`.
      const pending = import('pg').then((mod) => {
        const pg =
          (mod as unknown as { default?: typeof import('pg') }).default ?? (mod as typeof import('pg'))
        // Without timeouts, connections to a server that stopped answering stay pending forever
        // and fill the Pool, so the store would never recover. Without an 'error' listener, an
        // idle connection the server drops (restart, failover) is an uncaught exception.
        const own = new pg.Pool({
          connectionString,
          connectionTimeoutMillis: timeoutMs,
          query_timeout: timeoutMs,
        })
        own.on('error', () => {})
        return own as unknown as PgPoolLike
      })
      pending.catch(() => {})
      this.#pool = pending
    }
  }

  async get(keys: string[]): Promise<(string | null)[]> {
    if (keys.length === 0) return []
    const pool = await this.#db()
    const { rows } = await pool.query(
      `SELECT key, value FROM ${this.#table} WHERE key = ANY($1::text[]) AND expires_at > $2`,
      [keys, this.#clock()],
    )
    const found = new Map(rows.map((r) => [r.key as string, r.value as string]))
    return keys.map((k) => found.get(k) ?? null)
  }

  async set(key: string, value: string, ttlSeconds: number): Promise<void> {
    const pool = await this.#db()
    await pool.query(
      `INSERT INTO ${this.#table} (key, value, expires_at) VALUES ($1, $2, $3)
       ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, expires_at = EXCLUDED.expires_at`,
      [key, value, this.#clock() + ttlOf(ttlSeconds)],
    )
    // Committed: nothing after this may turn the write into a failure.
    this.#sweepSometimes()
  }

  async setIfAbsent(key: string, value: string, ttlSeconds: number): Promise<boolean> {
    const pool = await this.#db()
    const now = this.#clock()
    // One statement, so atomic: a live row wins; an expired row counts as absent and is replaced.
    const result = await pool.query(
      `INSERT INTO ${this.#table} AS t (key, value, expires_at) VALUES ($1, $2, $3)
       ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, expires_at = EXCLUDED.expires_at
       WHERE t.expires_at <= $4`,
      [key, value, now + ttlOf(ttlSeconds), now],
    )
    this.#sweepSometimes()
    return result.rowCount === 1
  }

  async delete(key: string): Promise<void> {
    const pool = await this.#db()
    await pool.query(`DELETE FROM ${this.#table} WHERE key = $1`, [key])
  }

  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    if (this.#owned) await (await this.#pool).end()
  }

  /** The pool, once the table exists; a failed creation is retried on the next call. */
  #db(): Promise<PgPoolLike> {
    if (this.#closed) return Promise.reject(new Error('PostgresStore is closed'))
    this.#ready ??= (async () => {
      const pool = await this.#pool
      const { rows } = await pool.query(
        `SELECT to_regclass($1) IS NOT NULL AS has_table, EXISTS (
           SELECT 1 FROM pg_index x JOIN pg_attribute a ON a.attrelid = x.indrelid AND a.attnum = x.indkey[0]
           WHERE x.indrelid = to_regclass($1) AND a.attname = 'expires_at'
         ) AS has_index`,
        [this.#table],
      )
      if (rows[0]?.has_table !== true) {
        await this.#createTable(pool)
      } else if (rows[0]?.has_index !== true) {
        // A table of an earlier version, possibly large: index it in the background, without
        // blocking writes (CONCURRENTLY); until then, and if that fails, sweeps still work.
        pool
          .query(`CREATE INDEX CONCURRENTLY IF NOT EXISTS ${this.#index} ON ${this.#table} (expires_at)`)
          .catch(() => {})
      }
      return pool
    })()
    const ready = this.#ready
    ready.catch(() => {
      if (this.#ready === ready) this.#ready = undefined
    })
    return ready
  }

  /**
   * Creates the table and its `expires_at` index in one statement list, which PostgreSQL runs as
   * one transaction: another store never sees the table without its index (it would then start a
   * concurrent index build of its own, which can fail against this one and leave no valid index).
   * A table just created holds nothing, so indexing it takes no time.
   */
  async #createTable(pool: PgPoolLike): Promise<void> {
    try {
      await pool.query(
        `CREATE TABLE IF NOT EXISTS ${this.#table} (key text PRIMARY KEY, value text NOT NULL, expires_at bigint NOT NULL); CREATE INDEX IF NOT EXISTS ${this.#index} ON ${this.#table} (expires_at)`,
      )
    } catch (err) {
      // Concurrent creations race in the catalog (unique_violation, duplicate_table, or a
      // concurrent-update error): what matters is whether the table exists now.
      if (!ALREADY_EXISTS.has((err as { code?: string }).code ?? '')) {
        const { rows } = await pool.query('SELECT to_regclass($1) AS t', [this.#table])
        if (rows[0]?.t == null) throw err
      }
    }
  }

  /**
   * Starts a sweep once every {@link SWEEP_EVERY} writes, in the background: a caller never
   * waits for it and its failure never reaches a caller (the write it follows has committed).
   * At most one sweep of this store runs at a time.
   */
  #sweepSometimes(): void {
    if (++this.#writes % SWEEP_EVERY !== 0 || this.#sweeping || this.#closed) return
    this.#sweeping = true
    this.#sweep()
      .catch(() => {
        // Expired rows stay until the next sweep; every read ignores them anyway.
      })
      .finally(() => {
        this.#sweeping = false
      })
  }

  /**
   * Deletes expired rows in batches. `SKIP LOCKED`: rows another session holds (its own sweep,
   * a long transaction) are left for later instead of waited for.
   */
  async #sweep(): Promise<void> {
    const pool = await this.#db()
    for (let batch = 0; batch < SWEEP_MAX_BATCHES && !this.#closed; batch++) {
      const { rowCount } = await pool.query(
        `DELETE FROM ${this.#table} WHERE key IN (
           SELECT key FROM ${this.#table} WHERE expires_at <= $1 LIMIT ${SWEEP_BATCH} FOR UPDATE SKIP LOCKED
         )`,
        [this.#clock()],
      )
      if ((rowCount ?? 0) < SWEEP_BATCH) return
    }
  }
}
