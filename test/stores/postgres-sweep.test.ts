/**
 * PostgresStore sweeping and its index (issue 8, item 5), on the local server: expired rows are
 * swept outside callers' calls, so a sweep that is slow (rows locked by another transaction),
 * hangs or fails never turns a committed `set` or `setIfAbsent` into an error or a timeout, and
 * `expires_at` is indexed, on a new table and on an existing one.
 */
import { randomUUID } from 'node:crypto'
import pg from 'pg'
import { afterAll, describe, expect, it } from 'vitest'
import { AuthX } from '../../src/index.js'
import { type PgPoolLike, PostgresStore } from '../../src/stores/postgres.js'
import { PG_URL, postgresForTests } from '../support/postgres.js'
import { SECRET } from './conformance.js'

const noop = () => {}
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))
/** More writes than the store makes between two sweeps. */
const MANY_WRITES = 2_500

const missing = await postgresForTests('PostgresStore sweep tests')

const run = `authx_s${process.pid}_${randomUUID().slice(0, 8)}`
const created = new Set<string>()
let counter = 0
function tableName(label: string): string {
  counter += 1
  const name = `${run}_${label}_${counter}`
  created.add(name)
  return name
}

const pools: pg.Pool[] = []
/** A pool on the real server, at most 5 connections, with a query timeout; ended after the tests. */
function newPool(config: pg.PoolConfig = {}): pg.Pool {
  const pool = new pg.Pool({ connectionString: PG_URL, max: 5, query_timeout: 3_000, ...config })
  pool.on('error', noop)
  pools.push(pool)
  return pool
}

let adminPool: pg.Pool | undefined
function admin(): pg.Pool {
  adminPool ??= newPool({ max: 3, query_timeout: 30_000 })
  return adminPool
}

afterAll(async () => {
  if (missing === undefined) {
    for (const name of created) await admin().query(`DROP TABLE IF EXISTS "${name}"`)
  }
  for (const pool of pools) await pool.end().catch(noop)
})

/** Rows of `table` that expired before `now`. */
async function expiredRows(table: string, now = Date.now()): Promise<number> {
  const { rows } = await admin().query(`SELECT count(*)::int AS n FROM "${table}" WHERE expires_at <= $1`, [
    now,
  ])
  return rows[0].n as number
}

/** Polls until `probe` gives `expected` (or `withinMs` passes); returns the last answer. */
async function eventually<T>(probe: () => Promise<T>, expected: T, withinMs = 10_000): Promise<T> {
  const deadline = Date.now() + withinMs
  let last = await probe()
  while (last !== expected && Date.now() < deadline) {
    await sleep(100)
    last = await probe()
  }
  return last
}

/** Index definitions on `table` that cover `expires_at`. */
async function expiryIndexes(table: string): Promise<string[]> {
  const { rows } = await admin().query(
    `SELECT i.indexdef FROM pg_indexes i JOIN pg_class c ON c.relname = i.indexname
     JOIN pg_index x ON x.indexrelid = c.oid
     WHERE i.tablename = $1 AND x.indisvalid AND i.indexdef LIKE '%(expires_at)%'`,
    [table],
  )
  return rows.map((r) => r.indexdef as string)
}

/**
 * Runs `count` writes of new keys `<label><i>` (alternately `set` and `setIfAbsent`),
 * `concurrency` at a time; resolves to how each ended and the slowest write's duration.
 */
async function writes(store: PostgresStore, count: number, label = 'w', concurrency = 10) {
  const outcomes: string[] = []
  let slowest = 0
  let next = 0
  const worker = async () => {
    while (next < count) {
      const i = next++
      const started = performance.now()
      const call =
        i % 2 === 0 ? store.set(`${label}${i}`, 'v', 600) : store.setIfAbsent(`${label}${i}`, 'v', 600)
      outcomes.push(
        await call.then(
          (value) => (value === false ? 'not set' : 'ok'),
          (err: unknown) => `failed: ${String(err)}`,
        ),
      )
      slowest = Math.max(slowest, performance.now() - started)
    }
  }
  await Promise.all(Array.from({ length: concurrency }, worker))
  return { failed: outcomes.filter((o) => o !== 'ok'), slowest }
}

/** Fills `table` with `count` rows that expired long ago, in one statement. */
async function insertExpired(table: string, count: number): Promise<void> {
  await admin().query(
    `INSERT INTO "${table}" (key, value, expires_at)
     SELECT 'expired' || g, 'v', 1000 + g FROM generate_series(1, $1::int) AS g`,
    [count],
  )
}

describe.skipIf(missing !== undefined)('PostgresStore: sweeping never fails or delays a write', () => {
  it('with expired rows locked by another transaction (a DELETE of them would block), every write succeeds quickly', async () => {
    const table = tableName('locked')
    const store = new PostgresStore({ pool: newPool(), table })
    await store.get(['create-the-table'])
    await insertExpired(table, 5_000)

    // Another session holds a lock on every expired row, as a long transaction or a slow sweep
    // of another process would.
    const holder = new pg.Client({ connectionString: PG_URL })
    holder.on('error', noop)
    await holder.connect()
    try {
      await holder.query('BEGIN')
      await holder.query(`SELECT key FROM "${table}" WHERE expires_at <= $1 FOR UPDATE`, [Date.now()])

      const { failed, slowest } = await writes(store, MANY_WRITES)
      expect(failed).toEqual([])
      expect(slowest).toBeLessThan(1_500)

      // And through AuthX: a refresh (a consuming setIfAbsent) answers, and its token is consumed.
      const auth = new AuthX({ secretKey: SECRET, store, revocation: { timeoutMs: 2_000 } })
      let { refreshToken } = await auth.createTokenPair({ uid: 'sweep-user' })
      for (let i = 0; i < 20; i++) refreshToken = (await auth.refresh(refreshToken)).refreshToken
    } finally {
      await holder.query('ROLLBACK').catch(noop)
      await holder.end().catch(noop)
    }

    // Once the lock is gone, a later sweep removes the expired rows; live rows stay.
    const { failed } = await writes(store, MANY_WRITES, 'later')
    expect(failed).toEqual([])
    expect(await eventually(() => expiredRows(table), 0)).toBe(0)
    expect(await store.get(['w0', 'w1', `later${MANY_WRITES - 1}`])).toEqual(['v', 'v', 'v'])
    await store.close()
  }, 60_000)

  for (const fault of ['hangs', 'fails'] as const) {
    it(`a sweep that ${fault} neither fails nor delays a write, and at most one runs at a time`, async () => {
      const table = tableName(`sweep_${fault}`)
      const real = newPool()
      let sweeps = 0
      const pool: PgPoolLike = {
        query: (text, values) => {
          if (/^\s*DELETE\b/i.test(text) && /expires_at\s*<=/i.test(text)) {
            sweeps++
            if (fault === 'hangs') return new Promise(noop)
            return Promise.reject(new Error('canceling statement due to lock timeout'))
          }
          return real.query(text, values) as ReturnType<PgPoolLike['query']>
        },
        end: () => real.end(),
      }
      const store = new PostgresStore({ pool, table })
      const { failed, slowest } = await writes(store, MANY_WRITES)
      expect(failed).toEqual([])
      expect(slowest).toBeLessThan(1_500)
      expect(sweeps).toBeGreaterThan(0)
      if (fault === 'hangs') expect(sweeps).toBe(1)
      await store.close()
    }, 60_000)
  }

  it('sweeps expired rows and leaves live ones', async () => {
    const table = tableName('sweeps')
    const store = new PostgresStore({ pool: newPool(), table })
    await store.set('live', 'v', 600)
    await insertExpired(table, 3_000)
    const { failed } = await writes(store, MANY_WRITES)
    expect(failed).toEqual([])
    expect(await eventually(() => expiredRows(table), 0)).toBe(0)
    expect(await store.get(['live', 'w2'])).toEqual(['v', 'v'])
    await store.close()
  }, 60_000)
})

describe.skipIf(missing !== undefined)('PostgresStore: expires_at is indexed', () => {
  it('creates the index with the table', async () => {
    const table = tableName('index_new')
    const store = new PostgresStore({ pool: newPool(), table })
    await store.set('k', 'v', 60)
    expect(await expiryIndexes(table)).toHaveLength(1)
    // A second store on the same table adds nothing.
    const again = new PostgresStore({ pool: newPool(), table })
    await again.get(['k'])
    expect(await expiryIndexes(table)).toHaveLength(1)
    await store.close()
    await again.close()
  })

  it('adds the index to an existing table that lacks it, without failing or delaying calls', async () => {
    const table = tableName('index_old')
    // The table as earlier versions created it.
    await admin().query(
      `CREATE TABLE "${table}" (key text PRIMARY KEY, value text NOT NULL, expires_at bigint NOT NULL)`,
    )
    await insertExpired(table, 2_000)
    expect(await expiryIndexes(table)).toHaveLength(0)
    const store = new PostgresStore({ pool: newPool(), table })
    await store.set('k', 'v', 60)
    expect(await store.get(['k'])).toEqual(['v'])
    expect(await eventually(async () => (await expiryIndexes(table)).length, 1)).toBe(1)
    await store.close()
  })

  it('indexes a table whose name is as long as PostgreSQL allows', async () => {
    const table = `${run}_long_${'x'.repeat(63)}`.slice(0, 63)
    created.add(table)
    const store = new PostgresStore({ pool: newPool(), table })
    await store.set('k', 'v', 60)
    expect(await store.get(['k'])).toEqual(['v'])
    expect(await expiryIndexes(table)).toHaveLength(1)
    await store.close()
  })

  it('lets several stores on separate pools create the same table and index at the same moment', async () => {
    const racers = Array.from({ length: 4 }, () => newPool({ max: 1 }))
    await Promise.all(racers.map((pool) => pool.query('SELECT 1')))
    for (let round = 0; round < 5; round++) {
      const table = tableName('index_race')
      const stores = racers.map((pool) => new PostgresStore({ pool, table }))
      const results = await Promise.allSettled(stores.map((store, i) => store.set(`k${i}`, String(i), 60)))
      expect(results.map((r) => r.status)).toEqual(['fulfilled', 'fulfilled', 'fulfilled', 'fulfilled'])
      expect(await eventually(async () => (await expiryIndexes(table)).length, 1)).toBe(1)
      for (const store of stores) await store.close()
    }
  })
})
