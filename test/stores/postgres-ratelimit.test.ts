/**
 * PostgresStore's `hit` (sliding-window rate limiting, SPEC 9.3) and indexed records (sessions,
 * SPEC 9.4) beyond the shared conformance suite, on the real PostgreSQL of this machine: hits
 * from two pools and from two processes on one key, a real sliding window, a table of an
 * earlier version migrated in place (also by stores starting together), what plain writes do to
 * an indexed record, the mirror seeing `sid:` entries (also through the trigger function of an
 * earlier version), timeouts, the circuit breaker and a closed store, and wrong-shaped answers.
 */
import { randomBytes } from 'node:crypto'
import pg from 'pg'
import { afterAll, afterEach, describe, expect, it } from 'vitest'
import { StoreUnavailableError } from '../../src/index.js'
import { type PgPoolLike, PostgresStore, type PostgresStoreOptions } from '../../src/stores/postgres.js'
import { PG_URL, postgresForTests, postgresTables } from '../support/postgres.js'
import { tcpProxy } from '../support/tcp-proxy.js'
import { waitFor } from '../support/wait.js'
import type { HitTask } from './postgres-hit-child.js'
import { runScript } from './processes.js'

const noop = () => {}
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

const missing = await postgresForTests('PostgresStore rate-limit and indexed-record tests')

function needPg(ctx: { skip: (note?: string) => void }): void {
  if (missing !== undefined) ctx.skip(missing)
}

/** Tables of this run: short unique names (so trigger names are not cut), all dropped. */
const { tableName, admin, dropAll } = postgresTables(`arl${randomBytes(4).toString('hex')}`)

/** Things to undo after each test, last first. */
const undo: (() => Promise<unknown> | unknown)[] = []
afterEach(async () => {
  while (undo.length > 0) await undo.pop()!()
})

afterAll(async () => {
  if (missing === undefined) await dropAll()
})

/** A pool of its own (at most 5 connections), ended after the test. */
function newPool(): pg.Pool {
  const pool = new pg.Pool({ connectionString: PG_URL, max: 5 })
  pool.on('error', noop)
  undo.push(() => pool.end())
  return pool
}

type Event = [string, Record<string, unknown>]

function makeStore(options: PostgresStoreOptions): { store: PostgresStore; events: Event[] } {
  const store = new PostgresStore(options)
  const events: Event[] = []
  store.onEvent((event, data) => events.push([event, data as unknown as Record<string, unknown>]))
  undo.push(() => store.close())
  return { store, events }
}

/** The hits allowed, and the logged timestamps of the row, as the server holds them. */
async function logOf(table: string, key: string): Promise<number[]> {
  const { rows } = await admin().query(`SELECT value FROM "${table}" WHERE key = $1`, [key])
  return (JSON.parse(rows[0].value as string) as { log: number[] }).log
}

/** Runs the hit child once: `hits` concurrent hits at `startAt`, in a new Node process. */
const runHitChild = (task: HitTask) =>
  runScript<{ ok: boolean; allowed?: number; error?: string }>('postgres-hit-child.ts', task)

describe('PostgresStore hit', () => {
  it('of 50 concurrent hits from two pools on a new key with max 10, exactly 10 are allowed, counted 1 to 10', async (ctx) => {
    needPg(ctx)
    const table = tableName()
    const a = makeStore({ pool: newPool(), table }).store
    const b = makeStore({ pool: newPool(), table }).store
    // Connections open and the table exists before the hits, so they meet at the row.
    await Promise.all([a, b].flatMap((s) => Array.from({ length: 5 }, () => s.get(['warm']))))
    const results = await Promise.all(
      Array.from({ length: 50 }, (_, i) => (i % 2 === 0 ? a : b).hit('rl:t:race', 60, 10)),
    )
    const allowed = results.filter((r) => r.allowed)
    expect(allowed).toHaveLength(10)
    expect(allowed.map((r) => r.count).sort((x, y) => x - y)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10])
    for (const r of results.filter((r) => !r.allowed)) expect(r.count).toBe(10)
    // The log is bounded: only the allowed hits are kept.
    expect(await logOf(table, 'rl:t:race')).toHaveLength(10)
  })

  it('two processes hitting one key together allow exactly max in total', async (ctx) => {
    needPg(ctx)
    const table = tableName()
    // The table exists before the children start, so neither races to create it.
    await makeStore({ connectionString: PG_URL, table }).store.get(['warm'])
    const startAt = Date.now() + 3000
    const task = (): HitTask => ({
      connectionString: PG_URL,
      table,
      key: 'rl:t:procs',
      windowSeconds: 60,
      max: 10,
      hits: 25,
      startAt,
    })
    const results = await Promise.all([runHitChild(task()), runHitChild(task())])
    for (const r of results) expect(r).toMatchObject({ ok: true })
    expect(results.reduce((sum, r) => sum + (r.allowed ?? 0), 0)).toBe(10)
    expect(await logOf(table, 'rl:t:procs')).toHaveLength(10)
  })

  it('slides: when the oldest hit leaves the window one slot frees, not the whole window', async (ctx) => {
    needPg(ctx)
    const { store } = makeStore({ connectionString: PG_URL, table: tableName() })
    const key = 'rl:t:slide'
    const first = await store.hit(key, 2, 2)
    expect(first).toMatchObject({ allowed: true, count: 1 })
    await sleep(1000)
    const second = await store.hit(key, 2, 2)
    expect(second).toMatchObject({ allowed: true, count: 2, resetAt: first.resetAt })
    const denied = await store.hit(key, 2, 2)
    expect(denied).toMatchObject({ allowed: false, count: 2, resetAt: first.resetAt })
    // The server's clock and this process's are the same machine's.
    await sleep(first.resetAt - Date.now() + 100)
    // The first hit left; the second is still in the window (it leaves about 1 s later).
    const third = await store.hit(key, 2, 2)
    expect(third).toMatchObject({ allowed: true, count: 2 })
    expect(third.resetAt).toBeGreaterThan(first.resetAt)
    expect(await store.hit(key, 2, 2)).toMatchObject({ allowed: false, count: 2, resetAt: third.resetAt })
    // delete(key) forgets the window.
    await store.delete(key)
    expect(await store.hit(key, 2, 2)).toMatchObject({ allowed: true, count: 1 })
  })

  it('a live row of another shape under the key counts as an empty window', async (ctx) => {
    needPg(ctx)
    const { store } = makeStore({ connectionString: PG_URL, table: tableName() })
    await store.set('rl:t:other', '1', 60)
    expect(await store.hit('rl:t:other', 60, 1)).toMatchObject({ allowed: true, count: 1 })
    expect(await store.hit('rl:t:other', 60, 1)).toMatchObject({ allowed: false, count: 1 })
  })
})

describe('PostgresStore indexed records', () => {
  it('a table of an earlier version gets the idx column and valid indexes, even from stores starting together over a failed build; old rows stay readable', async (ctx) => {
    needPg(ctx)
    const table = tableName()
    await admin().query(
      `CREATE TABLE "${table}" (key text PRIMARY KEY, value text NOT NULL, expires_at bigint NOT NULL)`,
    )
    const expiresAt = Date.now() + 600_000
    await admin().query(`INSERT INTO "${table}" VALUES ('jti:old', '1', $1), ('jti:old2', '1', $1)`, [
      expiresAt,
    ])
    // A build of an earlier start that failed left an invalid index under the store's name.
    await expect(
      admin().query(`CREATE UNIQUE INDEX CONCURRENTLY "${table}_expires_at_idx" ON "${table}" (expires_at)`),
    ).rejects.toMatchObject({ code: '23505' })
    // Stores starting together all add the column (or find it added).
    const stores = Array.from({ length: 4 }, () => makeStore({ pool: newPool(), table }).store)
    await Promise.all(stores.map((s, i) => s.putIndexed('sesx:i:u', `ses:i:${i}`, `v${i}`, 60)))
    const [store] = stores as [PostgresStore]
    expect(await store.get(['jti:old', 'ses:i:0'])).toEqual(['1', 'v0'])
    const listed = await store.listIndexed('sesx:i:u')
    expect(listed.sort()).toEqual([0, 1, 2, 3].map((i) => [`ses:i:${i}`, `v${i}`]))
    const { rows } = await admin().query(
      `SELECT data_type FROM information_schema.columns WHERE table_name = $1 AND column_name = 'idx'`,
      [table],
    )
    expect(rows).toEqual([{ data_type: 'text' }])
    // Both indexes are built in the background (CONCURRENTLY) and end up valid.
    const valid = async (name: string) => {
      const { rows } = await admin().query(
        'SELECT indisvalid FROM pg_index WHERE indexrelid = to_regclass($1)',
        [`"${name}"`],
      )
      return rows[0]?.indisvalid === true
    }
    await waitFor(() => valid(`${table}_idx_idx`), 'the index on idx')
    await waitFor(() => valid(`${table}_expires_at_idx`), 'the index on expires_at')
    const { rows: indexes } = await admin().query('SELECT indexdef FROM pg_indexes WHERE tablename = $1', [
      table,
    ])
    // Rebuilt as the store makes it (not unique), and nothing built twice.
    expect(indexes.map((r) => String(r.indexdef).replace(/^.* USING /, '')).sort()).toEqual([
      'btree (expires_at)',
      'btree (idx) WHERE (idx IS NOT NULL)',
      'btree (key)',
    ])
  })

  it('a new table is created with the idx column and a partial index on it', async (ctx) => {
    needPg(ctx)
    const table = tableName()
    const { store } = makeStore({ connectionString: PG_URL, table })
    await store.putIndexed('sesx:i:u', 'ses:i:1', 'v', 60)
    const { rows } = await admin().query(`SELECT indexdef FROM pg_indexes WHERE tablename = $1`, [table])
    const defs = rows.map((r) => String(r.indexdef))
    expect(defs.some((d) => /\(idx\) WHERE \(idx IS NOT NULL\)/.test(d))).toBe(true)
    expect(defs.some((d) => /\(expires_at\)/.test(d))).toBe(true)
  })

  it('set keeps a live record listed; a value written over an expired record is in no index', async (ctx) => {
    needPg(ctx)
    const table = tableName()
    const { store } = makeStore({ connectionString: PG_URL, table })
    await store.putIndexed('sesx:i:u', 'ses:i:live', 'a', 60)
    await store.set('ses:i:live', 'b', 60)
    expect(await store.listIndexed('sesx:i:u')).toEqual([['ses:i:live', 'b']])
    await store.putIndexed('sesx:i:u', 'ses:i:gone', 'a', 60)
    await store.putIndexed('sesx:i:u', 'ses:i:gone2', 'a', 60)
    // Expired without a wait: what a clock past the expiry would see.
    await admin().query(`UPDATE "${table}" SET expires_at = $1 WHERE key LIKE 'ses:i:gone%'`, [
      Date.now() - 1000,
    ])
    await store.set('ses:i:gone', 'plain', 60)
    expect(await store.setIfAbsent('ses:i:gone2', 'plain', 60)).toBe(true)
    expect(await store.listIndexed('sesx:i:u')).toEqual([['ses:i:live', 'b']])
    expect(await store.get(['ses:i:gone', 'ses:i:gone2'])).toEqual(['plain', 'plain'])
  })
})

describe('PostgresStore mirror and sid: entries', () => {
  it('a mirrored store sees sid: entries written by another instance, also over a trigger function of an earlier version', async (ctx) => {
    needPg(ctx)
    const table = tableName()
    // The table, function and trigger an earlier version made: its function knew no sid:.
    await admin().query(
      `CREATE TABLE "${table}" (key text PRIMARY KEY, value text NOT NULL, expires_at bigint NOT NULL);
       CREATE FUNCTION "${table}_authx_notify"() RETURNS trigger LANGUAGE plpgsql AS $f$
       DECLARE k text;
       BEGIN
         IF TG_OP = 'DELETE' THEN k := OLD.key; ELSE k := NEW.key; END IF;
         IF left(k, 4) IN ('jti:', 'sub:', 'fid:') THEN
           PERFORM pg_notify('${table}_authx_changes', k);
         END IF;
         RETURN NULL;
       END $f$;
       CREATE TRIGGER "${table}_authx_notify_trg" AFTER INSERT OR UPDATE OR DELETE ON "${table}"
         FOR EACH ROW EXECUTE FUNCTION "${table}_authx_notify"();`,
    )
    await admin().query(`INSERT INTO "${table}" VALUES ('sid:iss:before', '1', $1)`, [Date.now() + 600_000])
    const writer = makeStore({ connectionString: PG_URL, table }).store
    const { store: mirrored, events } = makeStore({ connectionString: PG_URL, table, mirror: true })
    await waitFor(() => events.some(([e]) => e === 'store.mirror_live'), 'store.mirror_live', 15_000)
    // Loaded at start...
    expect(mirrored.getLocal(['sid:iss:before'])).toEqual(['1'])
    // ...and notified after: a session revoked on one instance is seen by the other.
    await writer.set('sid:iss:s1', '1', 60)
    await waitFor(() => mirrored.getLocal(['sid:iss:s1'])?.[0] === '1', 'the sid: entry to reach the mirror')
    await writer.delete('sid:iss:s1')
    await waitFor(() => mirrored.getLocal(['sid:iss:s1'])?.[0] === null, 'the delete to reach the mirror')
    // Session records themselves are not revocation entries: never answered from memory.
    await writer.putIndexed('sesx:iss:u', 'ses:iss:s1', 'v', 60)
    expect(mirrored.getLocal(['ses:iss:s1'])).toBeUndefined()
  })
})

describe('PostgresStore hit and indexed records: faults', () => {
  it('each new call times out on a black-holed server, counts for the circuit breaker, and fails at once while it is open', async (ctx) => {
    needPg(ctx)
    const proxy = await tcpProxy('127.0.0.1', 5432)
    undo.push(() => proxy.close())
    const { store, events } = makeStore({
      connectionString: `postgres://postgres@127.0.0.1:${proxy.port}/test`,
      table: tableName(),
      timeoutMs: 300,
      circuitBreaker: { failures: 4, coolDownMs: 60_000 },
    })
    undo.push(() => proxy.set('refuse'))
    expect(await store.hit('rl:t:f', 60, 5)).toMatchObject({ allowed: true, count: 1 })
    proxy.set('black-hole')
    const calls = [
      () => store.hit('rl:t:f', 60, 5),
      () => store.putIndexed('sesx:i:u', 'ses:i:1', 'v', 60),
      () => store.updateIndexed('sesx:i:u', 'ses:i:1', 'v', 60),
      () => store.listIndexed('sesx:i:u'),
    ]
    for (const call of calls) {
      const err = await call().then(
        () => undefined,
        (e: unknown) => e,
      )
      expect(err).toBeInstanceOf(Error)
      expect(err).not.toBeInstanceOf(StoreUnavailableError)
    }
    expect(events.filter(([e]) => e === 'store.circuit_open')).toHaveLength(1)
    for (const call of [...calls, () => store.deleteIndexed('sesx:i:u', 'ses:i:1')])
      await expect(call()).rejects.toMatchObject({ code: 'ERR_STORE_UNAVAILABLE', status: 503 })
  })

  it('a closed store rejects every new call', async (ctx) => {
    needPg(ctx)
    const { store } = makeStore({ connectionString: PG_URL, table: tableName() })
    await store.putIndexed('sesx:i:u', 'ses:i:1', 'v', 60)
    await store.close()
    await expect(store.hit('rl:t:c', 60, 5)).rejects.toBeInstanceOf(Error)
    await expect(store.putIndexed('sesx:i:u', 'ses:i:2', 'v', 60)).rejects.toBeInstanceOf(Error)
    await expect(store.updateIndexed('sesx:i:u', 'ses:i:1', 'v', 60)).rejects.toBeInstanceOf(Error)
    await expect(store.listIndexed('sesx:i:u')).rejects.toBeInstanceOf(Error)
    await expect(store.deleteIndexed('sesx:i:u', 'ses:i:1')).rejects.toBeInstanceOf(Error)
  })

  /**
   * A pool that answers the table check as a current table, then `answer` for every statement:
   * a real server cannot give a wrong-shaped row, so this is the one place for a stand-in.
   */
  function poolAnswering(answer: Record<string, unknown>[]): PgPoolLike {
    return {
      async query(text: string) {
        if (text.includes('to_regclass'))
          return {
            rows: [{ has_table: true, has_index: true, has_idx_index: true, has_idx: true }],
            rowCount: 1,
          }
        return { rows: answer, rowCount: answer.length }
      },
      async end() {},
    }
  }

  it('a wrong-shaped answer rejects instead of giving garbage', async () => {
    const good = { allowed: true, count: 1, oldest: '1700000000000' }
    // The stand-in answers the shape pg gives: a bigint as a string.
    const ok = new PostgresStore({ pool: poolAnswering([good]), table: 't' })
    expect(await ok.hit('k', 60, 5)).toEqual({ allowed: true, count: 1, resetAt: 1700000060000 })
    for (const rows of [
      [],
      [good, good],
      [{ ...good, allowed: 'true' }],
      [{ ...good, count: 1.5 }],
      [{ ...good, count: 0 }],
      [{ ...good, count: '1' }],
      [{ ...good, oldest: null }],
      [{ ...good, oldest: 'x' }],
    ]) {
      const store = new PostgresStore({ pool: poolAnswering(rows), table: 't', circuitBreaker: false })
      await expect(store.hit('k', 60, 5)).rejects.toBeInstanceOf(Error)
    }
    for (const rows of [[{ key: 1, value: 'v' }], [{ key: 'k', value: null }]]) {
      const store = new PostgresStore({ pool: poolAnswering(rows), table: 't', circuitBreaker: false })
      await expect(store.listIndexed('i')).rejects.toBeInstanceOf(Error)
    }
  })
})
