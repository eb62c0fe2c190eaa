/**
 * `PostgresStore`: a store shared by every instance of a service, on PostgreSQL (pg 8).
 * @module
 */
import { type AuthXStore, ConfigError, type RateLimitHit, type StoreEventListener } from 'authx'
import { CircuitBreaker, type CircuitBreakerOptions, StoreEventHub } from './breaker.js'
import {
  isMirrored,
  MIRRORED_PREFIXES,
  Mirror,
  type MirrorEntry,
  type MirrorFeed,
  type MirrorOptions,
  mirrorOptionsOf,
  timed,
} from './mirror.js'

export type { CircuitBreakerOptions } from './breaker.js'
export type { MirrorOptions } from './mirror.js'

/** The part of a pg `Pool` the store uses. */
export interface PgPoolLike {
  query(
    text: string,
    values?: unknown[],
  ): Promise<{ rows: Record<string, unknown>[]; rowCount: number | null }>
  end(): Promise<void>
  /** Checks out a client; the mirror holds one for its `LISTEN`. */
  connect?(): Promise<PgClientLike>
}

/** The part of a pg `Client` (or a pool's client) the mirror's `LISTEN` uses. */
export interface PgClientLike {
  query(text: string, values?: unknown[]): Promise<{ rows: Record<string, unknown>[] }>
  on(event: string, listener: (...args: unknown[]) => void): unknown
  removeAllListeners(event?: string): unknown
  /** A pool's client: `release(true)` destroys it. */
  release?(destroy?: boolean | Error): void
  /** A client of its own. */
  end?(): Promise<void>
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
   * How long a call may take before it fails and counts for the circuit breaker, in
   * milliseconds; for `connectionString`, also how long the store's own Pool waits for a
   * connection and for a query's answer, so a server that stops answering frees its connections
   * and the store recovers when the server does. Default `5000`.
   */
  timeoutMs?: number
  /** Table name, created on first use when missing. Default `'authx_store'`. */
  table?: string
  /** Milliseconds since the epoch. Default `Date.now`. */
  clock?: () => number
  /**
   * Keep every revocation entry in memory, current through `LISTEN`/`NOTIFY` (a trigger on the
   * table notifies every change, whoever makes it), so the revocation check of a verification
   * costs no query (docs/stores.md, "The mirror"). Holds one connection of its own (with `pool`,
   * one checked out of it). `true`, or options. Default off.
   */
  mirror?: boolean | MirrorOptions
  /**
   * After `failures` failures or calls slower than `timeoutMs` in a row, every call fails at
   * once with `StoreUnavailableError` for `coolDownMs`, then one probe goes through
   * (docs/stores.md). `false` turns it off. Default `{ failures: 5, coolDownMs: 5000 }`.
   */
  circuitBreaker?: CircuitBreakerOptions | false
}

const KNOWN_OPTIONS = [
  'pool',
  'connectionString',
  'timeoutMs',
  'table',
  'clock',
  'mirror',
  'circuitBreaker',
] as const
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
  return `${table.slice(0, 40)}_${hashOf(table)}_expires_at_idx`
}

/** `<table>_<suffix>`, or a cut name with a hash of the table's when that is over 63 bytes. */
function nameOf(table: string, suffix: string): string {
  const name = `${table}_${suffix}`
  if (name.length <= 63) return name
  return `${table.slice(0, 62 - suffix.length - 9)}_${hashOf(table)}_${suffix}`
}

/** FNV-1a of a name, 8 hex digits. */
function hashOf(text: string): string {
  let hash = 0x811c9dc5
  for (let i = 0; i < text.length; i++) hash = Math.imul(hash ^ text.charCodeAt(i), 0x01000193)
  return (hash >>> 0).toString(16).padStart(8, '0')
}

function ttlOf(ttlSeconds: number): number {
  if (!Number.isFinite(ttlSeconds) || ttlSeconds <= 0)
    throw new TypeError('ttlSeconds: expected a positive number')
  return Math.ceil(ttlSeconds * 1000)
}

function windowOf(windowSeconds: number): number {
  if (typeof windowSeconds !== 'number' || !Number.isFinite(windowSeconds) || windowSeconds <= 0)
    throw new TypeError('windowSeconds: expected a positive number')
  return windowSeconds * 1000
}

function maxOf(max: number): number {
  if (!Number.isSafeInteger(max) || max <= 0) throw new TypeError('max: expected a positive safe integer')
  return max
}

/**
 * SQL that is true when the text `expr` starts with one of {@link MIRRORED_PREFIXES}, built from
 * that list so the trigger and the load never lag behind it (they once listed prefixes by hand).
 */
function mirroredSql(expr: string): string {
  const byLength = new Map<number, string[]>()
  for (const prefix of MIRRORED_PREFIXES) {
    const quoted = `'${prefix.replaceAll("'", "''")}'`
    byLength.set(prefix.length, [...(byLength.get(prefix.length) ?? []), quoted])
  }
  return [...byLength]
    .map(([length, list]) => `left(${expr}, ${length}) IN (${list.join(', ')})`)
    .join(' OR ')
}

/**
 * A query that finds a valid index of the table `$1` whose first column is `expires_at` (an
 * invalid one is a build in progress or one that failed, which no query uses).
 */
const INDEX_ON = `SELECT 1 FROM pg_index x JOIN pg_attribute a ON a.attrelid = x.indrelid AND a.attnum = x.indkey[0]
  WHERE x.indrelid = to_regclass($1) AND a.attname = 'expires_at' AND x.indisvalid`

/** The longest key a notification names; a longer one is notified as "unknown keys changed". */
const MAX_NOTIFIED_KEY_BYTES = 7900

/**
 * The PostgreSQL side of the mirror: a trigger that notifies every change of a revocation key,
 * whoever makes it, a `LISTEN` on one held connection, and queries through the pool.
 */
class PostgresFeed implements MirrorFeed {
  readonly #table: string
  readonly #channel: string
  readonly #setup: string
  readonly #timeoutMs: number
  readonly #clock: () => number
  readonly #connect: () => Promise<PgClientLike>
  readonly #pool: () => Promise<PgPoolLike>
  #client: PgClientLike | undefined
  #listeners: [string, (...args: unknown[]) => void][] = []

  constructor(
    table: string,
    timeoutMs: number,
    clock: () => number,
    connect: () => Promise<PgClientLike>,
    pool: () => Promise<PgPoolLike>,
  ) {
    this.#table = `"${table}"`
    this.#channel = nameOf(table, 'authx_changes')
    const fn = nameOf(table, 'authx_notify')
    const trigger = nameOf(table, 'authx_notify_trg')
    // The lock makes concurrent stores create the function and trigger one after the other
    // (a statement list runs as one transaction, which holds the lock to its end).
    const lock = Number.parseInt(hashOf(`authx mirror ${table}`), 16) | 0
    // The connection is named, so an operator (or a test) can find it in pg_stat_activity. The
    // function is replaced at every start, so a table of an earlier version notifies the
    // prefixes of this one (sid: came later).
    this.#setup = `SET application_name TO 'authx-mirror';
SELECT pg_advisory_xact_lock(${lock});
CREATE OR REPLACE FUNCTION "${fn}"() RETURNS trigger LANGUAGE plpgsql AS $authx$
DECLARE k text;
BEGIN
  IF TG_OP = 'DELETE' THEN k := OLD.key; ELSE k := NEW.key; END IF;
  IF ${mirroredSql('k')} THEN
    PERFORM pg_notify('${this.#channel}', CASE WHEN octet_length(k) <= ${MAX_NOTIFIED_KEY_BYTES} THEN k ELSE '' END);
  END IF;
  RETURN NULL;
END
$authx$;
DO $authx$ BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgname = '${trigger}' AND tgrelid = '${this.#table}'::regclass) THEN
    CREATE TRIGGER "${trigger}" AFTER INSERT OR UPDATE OR DELETE ON ${this.#table}
      FOR EACH ROW EXECUTE FUNCTION "${fn}"();
  END IF;
END $authx$;`
    this.#timeoutMs = timeoutMs
    this.#clock = clock
    this.#connect = connect
    this.#pool = pool
  }

  async subscribe(
    onChange: (keys: string[] | null) => void,
    onLost: (reason: string) => void,
  ): Promise<void> {
    this.drop()
    // The table first: the trigger is made on it.
    await timed(this.#pool(), this.#timeoutMs, 'PostgreSQL table')
    const connecting = this.#connect()
    let client: PgClientLike
    try {
      client = await timed(connecting, this.#timeoutMs, 'PostgreSQL mirror connection')
    } catch (err) {
      // A connection that comes after all (a busy pool) must not be held forever.
      connecting.then(closeClient, () => {})
      throw err
    }
    this.#client = client
    const lost = (reason: string) => () => {
      if (this.#client === client) onLost(reason)
    }
    this.#listen(client, 'error', lost('subscription connection failed'))
    this.#listen(client, 'end', lost('subscription connection closed'))
    this.#listen(client, 'notification', (message) => {
      const { channel, payload } = (message ?? {}) as { channel?: unknown; payload?: unknown }
      if (this.#client !== client || channel !== this.#channel) return
      // An empty payload: a key too long to name changed, so everything is reloaded.
      onChange(typeof payload === 'string' && payload !== '' ? [payload] : null)
    })
    await timed(client.query(this.#setup), this.#timeoutMs, 'PostgreSQL mirror trigger')
    await timed(client.query(`LISTEN "${this.#channel}"`), this.#timeoutMs, 'PostgreSQL LISTEN')
  }

  async load(limit: number): Promise<Map<string, MirrorEntry> | null> {
    const pool = await this.#pool()
    const { rows } = await timed(
      pool.query(
        `SELECT key, value, expires_at FROM ${this.#table}
         WHERE expires_at > $1 AND (${mirroredSql('key')}) LIMIT $2`,
        [this.#clock(), limit + 1],
      ),
      this.#timeoutMs * 10,
      'PostgreSQL mirror load',
    )
    if (rows.length > limit) return null
    const entries = new Map<string, MirrorEntry>()
    for (const row of rows) entries.set(row.key as string, entryOf(row))
    return entries
  }

  async fetch(keys: string[]): Promise<(MirrorEntry | null)[]> {
    const pool = await this.#pool()
    const { rows } = await timed(
      pool.query(`SELECT key, value, expires_at FROM ${this.#table} WHERE key = ANY($1::text[])`, [keys]),
      this.#timeoutMs,
      'PostgreSQL mirror read',
    )
    const found = new Map(rows.map((row) => [row.key as string, entryOf(row)]))
    return keys.map((key) => found.get(key) ?? null)
  }

  async ping(): Promise<void> {
    const client = this.#client
    if (client === undefined) throw new Error('no subscription')
    await client.query('SELECT 1')
  }

  drop(): void {
    const client = this.#client
    this.#client = undefined
    if (client === undefined) return
    for (const [event, listener] of this.#listeners) {
      const c = client as {
        off?: (e: string, l: unknown) => unknown
        removeListener?: (e: string, l: unknown) => unknown
      }
      if (typeof c.off === 'function') c.off(event, listener)
      else c.removeListener?.(event, listener)
    }
    this.#listeners = []
    closeClient(client)
  }

  #listen(client: PgClientLike, event: string, listener: (...args: unknown[]) => void): void {
    client.on(event, listener)
    this.#listeners.push([event, listener])
  }
}

/** Closes the mirror's connection: destroyed, not returned to a pool (it holds a LISTEN). */
function closeClient(client: PgClientLike): void {
  // A late error of the closing connection must not crash the process.
  client.on('error', () => {})
  if (typeof client.release === 'function') client.release(true)
  else client.end?.().catch(() => {})
}

function entryOf(row: Record<string, unknown>): MirrorEntry {
  const expiresAt = Number(row.expires_at)
  if (typeof row.value !== 'string' || !Number.isFinite(expiresAt))
    throw new Error('PostgreSQL gave a row of the wrong shape')
  return { value: row.value, expiresAt }
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
  readonly #idxIndex: string
  readonly #clock: () => number
  readonly #owned: boolean
  readonly #pool: PgPoolLike | Promise<PgPoolLike>
  readonly #timeoutMs: number
  readonly #events = new StoreEventHub()
  readonly #breaker: CircuitBreaker
  readonly #mirror: Mirror | undefined
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
    this.#idxIndex = `"${nameOf(table, 'idx_idx')}"`
    this.#clock = options.clock ?? Date.now
    this.#timeoutMs = timeoutMs
    this.#owned = pool === undefined
    this.#breaker = new CircuitBreaker('PostgresStore', options.circuitBreaker, this.#events.emit)
    const mirror = mirrorOptionsOf(options.mirror)
    if (mirror !== undefined && pool !== undefined && typeof pool.connect !== 'function')
      throw new ConfigError('mirror: needs a pg Pool (with connect()) or a connectionString')
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
    if (mirror !== undefined) {
      const listener = async (): Promise<PgClientLike> => {
        if (pool !== undefined) return (pool.connect as () => Promise<PgClientLike>).call(pool)
        const mod = await import('pg')
        const pg =
          (mod as unknown as { default?: typeof import('pg') }).default ?? (mod as typeof import('pg'))
        const client = new pg.Client({ connectionString, connectionTimeoutMillis: timeoutMs })
        // An error before the feed's own listener is attached must not crash the process.
        client.on('error', () => {})
        await client.connect()
        return client as unknown as PgClientLike
      }
      const feed = new PostgresFeed(table, timeoutMs, this.#clock, listener, () => this.#db())
      this.#mirror = new Mirror('PostgresStore', mirror, this.#clock, this.#events.emit, feed)
    }
  }

  /**
   * With `mirror`, the values from memory while the mirror is live and holds every key asked
   * (revocation keys only); otherwise `undefined`, and authx calls `get`.
   */
  getLocal(keys: string[]): (string | null)[] | undefined {
    return this.#mirror?.answer(keys)
  }

  /** Calls `listener` with the store's events (circuit breaker, mirror); returns the stop function. */
  onEvent(listener: StoreEventListener): () => void {
    return this.#events.on(listener)
  }

  async get(keys: string[]): Promise<(string | null)[]> {
    if (keys.length === 0) return []
    const { rows } = await this.#query(
      `SELECT key, value FROM ${this.#table} WHERE key = ANY($1::text[]) AND expires_at > $2`,
      [keys, this.#clock()],
    )
    const found = new Map(rows.map((r) => [r.key as string, r.value as string]))
    return keys.map((k) => found.get(k) ?? null)
  }

  async set(key: string, value: string, ttlSeconds: number): Promise<void> {
    const now = this.#clock()
    const expiresAt = now + ttlOf(ttlSeconds)
    try {
      await this.#query(
        // An expired row is absent: a value written over it is in no index.
        `INSERT INTO ${this.#table} AS t (key, value, expires_at) VALUES ($1, $2, $3)
         ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, expires_at = EXCLUDED.expires_at,
           idx = CASE WHEN t.expires_at > $4 THEN t.idx END`,
        [key, value, expiresAt, now],
      )
    } finally {
      // Applied or maybe applied: read from the server here until the mirror has read it back.
      this.#changed(key)
    }
    // Committed: nothing after this may turn the write into a failure.
    this.#sweepSometimes()
  }

  async setIfAbsent(key: string, value: string, ttlSeconds: number): Promise<boolean> {
    const now = this.#clock()
    const expiresAt = now + ttlOf(ttlSeconds)
    let result: { rowCount: number | null }
    try {
      // One statement, so atomic: a live row wins; an expired row counts as absent and is replaced.
      result = await this.#query(
        `INSERT INTO ${this.#table} AS t (key, value, expires_at) VALUES ($1, $2, $3)
         ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, expires_at = EXCLUDED.expires_at, idx = NULL
         WHERE t.expires_at <= $4`,
        [key, value, expiresAt, now],
      )
    } finally {
      this.#changed(key)
    }
    this.#sweepSometimes()
    return result.rowCount === 1
  }

  async delete(key: string): Promise<void> {
    try {
      await this.#query(`DELETE FROM ${this.#table} WHERE key = $1`, [key])
    } finally {
      this.#changed(key)
    }
  }

  /**
   * One hit on the sliding window of `key`, in ONE statement, so atomic across every client of
   * the table: the row's lock orders concurrent hits, and `ON CONFLICT` turns concurrent first
   * hits into one insert and updates. The row's value is JSON: the log of allowed hits (epoch
   * milliseconds on the server's clock, `clock_timestamp()`, one clock for every instance
   * whatever their own clocks say; the `clock` option does not apply; at most `max` of them) and
   * whether the last hit was allowed. The row expires a window after the last hit, and
   * `delete(key)` forgets the window.
   *
   * @example
   * ```ts
   * const { allowed, resetAt } = await store.hit('rl:login:10.0.0.1', 60, 5)
   * if (!allowed) console.log(`retry at ${new Date(resetAt).toISOString()}`)
   * ```
   */
  async hit(key: string, windowSeconds: number, max: number): Promise<RateLimitHit> {
    const windowMs = windowOf(windowSeconds)
    maxOf(max)
    // The clock is read once, in the inserted row: `now` is EXCLUDED.expires_at minus the window.
    // A row expired on that clock (or of another shape) counts as an empty log. The log is kept
    // sorted, and its oldest hit is still taken with min(): a hit that read the clock before
    // waiting for the row's lock can append a slightly older time. `allowed` is in the row
    // because RETURNING sees only the new row (PostgreSQL before 18 has no OLD there).
    const now = 'EXCLUDED.expires_at - ceil($2::float8)::bigint'
    const { rows } = await this.#query(
      `INSERT INTO ${this.#table} AS t (key, value, expires_at)
       SELECT $1, jsonb_build_object('allowed', true, 'log', jsonb_build_array(c.now))::text,
         c.now + ceil($2::float8)::bigint
       FROM (SELECT floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint AS now) c
       ON CONFLICT (key) DO UPDATE SET
         value = (
           SELECT jsonb_build_object(
             'allowed', count(*) < $3::int,
             'log', CASE WHEN count(*) < $3::int
               THEN coalesce(jsonb_agg(w.ts ORDER BY w.ts), '[]'::jsonb) || jsonb_build_array(${now})
               ELSE jsonb_agg(w.ts ORDER BY w.ts) END
           )::text
           FROM (
             SELECT e::bigint AS ts FROM jsonb_array_elements_text(
               CASE WHEN t.expires_at > ${now} THEN t.value::jsonb -> 'log' END
             ) e
           ) w
           WHERE w.ts > ${now} - $2::float8
         ),
         expires_at = EXCLUDED.expires_at,
         idx = NULL
       RETURNING (value::jsonb ->> 'allowed')::boolean AS allowed,
         jsonb_array_length(value::jsonb -> 'log') AS count,
         (SELECT min(e::bigint) FROM jsonb_array_elements_text(value::jsonb -> 'log') e) AS oldest`,
      [key, windowMs, max],
    )
    this.#sweepSometimes()
    // Allowed: the log holds the earlier hits and this one; denied: the log is unchanged and
    // holds `max` or more hits. Either way its length is the count.
    const row = rows.length === 1 ? rows[0] : undefined
    const { allowed, count } = row ?? {}
    const oldest = row?.oldest == null ? Number.NaN : Number(row.oldest)
    if (
      typeof allowed !== 'boolean' ||
      typeof count !== 'number' ||
      !Number.isInteger(count) ||
      count < 1 ||
      !Number.isFinite(oldest)
    )
      throw new Error('PostgreSQL gave a rate-limit row of the wrong shape')
    return { allowed, count, resetAt: oldest + windowMs }
  }

  /**
   * Stores `value` under `key` (so `get` reads it) and lists it in `index`, in the row's
   * `idx` column, for `ttlSeconds`. One statement.
   *
   * @example
   * ```ts
   * await store.putIndexed('sesx:iss:alice', 'ses:iss:s1', '{"ip":"10.0.0.1"}', 3600)
   * ```
   */
  async putIndexed(index: string, key: string, value: string, ttlSeconds: number): Promise<void> {
    const expiresAt = this.#clock() + ttlOf(ttlSeconds)
    try {
      await this.#query(
        `INSERT INTO ${this.#table} (key, value, expires_at, idx) VALUES ($1, $2, $3, $4)
         ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, expires_at = EXCLUDED.expires_at, idx = EXCLUDED.idx`,
        [key, value, expiresAt, index],
      )
    } finally {
      this.#changed(key)
    }
    this.#sweepSometimes()
  }

  /**
   * Replaces the value and time to live of `key`, listed in `index`, only while it is live; one
   * `UPDATE`, so a record deleted or expired meanwhile is never written back (`false`).
   *
   * @example
   * ```ts
   * const live = await store.updateIndexed('sesx:iss:alice', 'ses:iss:s1', '{"ip":"10.0.0.2"}', 3600)
   * ```
   */
  async updateIndexed(index: string, key: string, value: string, ttlSeconds: number): Promise<boolean> {
    const now = this.#clock()
    const expiresAt = now + ttlOf(ttlSeconds)
    let result: { rowCount: number | null }
    try {
      result = await this.#query(
        `UPDATE ${this.#table} SET value = $2, expires_at = $3, idx = $4 WHERE key = $1 AND expires_at > $5`,
        [key, value, expiresAt, index, now],
      )
    } finally {
      this.#changed(key)
    }
    return result.rowCount === 1
  }

  /**
   * Every live `[key, value]` listed in `index`: one `SELECT` through the partial index on `idx`.
   *
   * @example
   * ```ts
   * for (const [key, value] of await store.listIndexed('sesx:iss:alice')) console.log(key, value)
   * ```
   */
  async listIndexed(index: string): Promise<[string, string][]> {
    const { rows } = await this.#query(
      `SELECT key, value FROM ${this.#table} WHERE idx = $1 AND expires_at > $2`,
      [index, this.#clock()],
    )
    return rows.map((row) => {
      if (typeof row.key !== 'string' || typeof row.value !== 'string')
        throw new Error('PostgreSQL gave a row of the wrong shape')
      return [row.key, row.value]
    })
  }

  /**
   * Removes `key`, its value and its place in `index` (one row); absent is fine.
   *
   * @example
   * ```ts
   * await store.deleteIndexed('sesx:iss:alice', 'ses:iss:s1')
   * ```
   */
  async deleteIndexed(_index: string, key: string): Promise<void> {
    await this.delete(key)
  }

  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    this.#mirror?.close()
    if (this.#owned) await (await this.#pool).end()
  }

  /** One query through the circuit breaker, within `timeoutMs` (table creation included). */
  #query(
    text: string,
    values: unknown[],
  ): Promise<{ rows: Record<string, unknown>[]; rowCount: number | null }> {
    if (this.#closed) return Promise.reject(new Error('PostgresStore is closed'))
    return this.#breaker.run(async () => (await this.#db()).query(text, values), this.#timeoutMs)
  }

  #changed(key: string): void {
    if (this.#mirror !== undefined && isMirrored(key)) this.#mirror.changed([key])
  }

  /** The pool, once the table exists; a failed creation is retried on the next call. */
  #db(): Promise<PgPoolLike> {
    if (this.#closed) return Promise.reject(new Error('PostgresStore is closed'))
    this.#ready ??= (async () => {
      const pool = await this.#pool
      const { rows } = await pool.query(
        `SELECT to_regclass($1) IS NOT NULL AS has_table,
           EXISTS (${INDEX_ON}) AS has_index, EXISTS (${INDEX_ON.replace("'expires_at'", "'idx'")}) AS has_idx_index,
           EXISTS (
             SELECT 1 FROM pg_attribute WHERE attrelid = to_regclass($1) AND attname = 'idx' AND NOT attisdropped
           ) AS has_idx`,
        [this.#table],
      )
      const found = rows[0] ?? {}
      if (found.has_table !== true) {
        await this.#createTable(pool)
        return pool
      }
      if (found.has_idx !== true) await this.#addIdxColumn(pool)
      const missing: [string, string][] = []
      if (found.has_index !== true) missing.push([this.#index, '(expires_at)'])
      if (found.has_idx_index !== true) missing.push([this.#idxIndex, '(idx) WHERE idx IS NOT NULL'])
      if (missing.length > 0) this.#buildIndexes(pool, missing).catch(() => {})
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
        `CREATE TABLE IF NOT EXISTS ${this.#table} (key text PRIMARY KEY, value text NOT NULL, expires_at bigint NOT NULL, idx text);
         CREATE INDEX IF NOT EXISTS ${this.#index} ON ${this.#table} (expires_at);
         CREATE INDEX IF NOT EXISTS ${this.#idxIndex} ON ${this.#table} (idx) WHERE idx IS NOT NULL`,
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
   * Indexes a table of an earlier version, possibly large, in the background and without
   * blocking writes (CONCURRENTLY); until then, and if that fails, sweeps and listings still
   * work, by scanning. Builds on one table from several stores starting together deadlock each
   * other, and a build that loses leaves an invalid index that `IF NOT EXISTS` would keep
   * forever: so one store builds at a time (a session advisory lock on a connection of its
   * own; the others leave it to that one), and the one holding the lock drops an invalid index
   * of that name, which no other store can be building, before building it again. A pool
   * without `connect()` builds without the lock.
   */
  async #buildIndexes(pool: PgPoolLike, missing: [name: string, on: string][]): Promise<void> {
    const build = async (db: Pick<PgClientLike, 'query'>) => {
      for (const [name, on] of missing) {
        const { rows } = await db.query(
          'SELECT indisvalid FROM pg_index WHERE indexrelid = to_regclass($1)',
          [name],
        )
        if (rows[0]?.indisvalid === false) await db.query(`DROP INDEX CONCURRENTLY IF EXISTS ${name}`)
        await db.query(`CREATE INDEX CONCURRENTLY IF NOT EXISTS ${name} ON ${this.#table} ${on}`)
      }
    }
    if (typeof pool.connect !== 'function') return build(pool)
    const client = await pool.connect()
    let broken: unknown
    try {
      const lock = Number.parseInt(hashOf(`authx indexes ${this.#table}`), 16) | 0
      const { rows } = await client.query('SELECT pg_try_advisory_lock($1) AS locked', [lock])
      if (rows[0]?.locked !== true) return
      try {
        await build(client)
      } finally {
        await client.query('SELECT pg_advisory_unlock($1)', [lock])
      }
    } catch (err) {
      broken = err
      throw err
    } finally {
      // A connection that failed, maybe still holding the lock, is closed, which frees the lock.
      client.release?.(broken instanceof Error ? broken : broken !== undefined)
    }
  }

  /**
   * Adds the `idx` column (indexed records) to a table of an earlier version. A nullable column
   * without a default changes only the catalog, but takes the table's strongest lock for that
   * moment: `lock_timeout` bounds the wait behind long transactions, during which every other
   * query of the table would queue behind this one. On failure the next call tries again.
   */
  async #addIdxColumn(pool: PgPoolLike): Promise<void> {
    try {
      await pool.query(
        `SET LOCAL lock_timeout = '${this.#timeoutMs}ms'; ALTER TABLE ${this.#table} ADD COLUMN IF NOT EXISTS idx text`,
      )
    } catch (err) {
      // Another store adding it at the same moment can make this one fail in the catalog.
      const { rows } = await pool.query(
        `SELECT 1 FROM pg_attribute WHERE attrelid = to_regclass($1) AND attname = 'idx' AND NOT attisdropped`,
        [this.#table],
      )
      if (rows.length === 0) throw err
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
