/**
 * PostgresStore's mirror (issue 10, items 1 and 2) in one process, on the real PostgreSQL of
 * this machine: it goes live with what the table held, answers revocation keys from memory (a
 * verification runs no query), sees its own writes at once and any other client's INSERT,
 * UPDATE and DELETE through the trigger and LISTEN, expires entries on the store's clock, stops
 * answering past its bound, reloads when a key too long to notify changes, creates its trigger
 * once however many stores start together (and on a table of an older version), stops answering
 * within maxLagMs of a black-holed server and recovers, and close() leaves nothing open.
 */
import { execFile } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdirSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { build } from 'esbuild'
import pg from 'pg'
import { afterAll, afterEach, describe, expect, it } from 'vitest'
import { familyKey, jtiKey } from '../../src/core/revocation.js'
import {
  AuthX,
  ConfigError,
  RevokedTokenError,
  StoreUnavailableError,
  type TokenPayload,
} from '../../src/index.js'
import { type PgPoolLike, PostgresStore, type PostgresStoreOptions } from '../../src/stores/postgres.js'
import { PG_URL, postgresForTests, postgresTables } from '../support/postgres.js'
import { tcpProxy } from '../support/tcp-proxy.js'
import { SECRET } from './conformance.js'

const root = fileURLToPath(new URL('../..', import.meta.url))
const noop = () => {}
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

const missing = await postgresForTests('PostgresStore mirror tests')

function needPg(ctx: { skip: (note?: string) => void }): void {
  if (missing !== undefined) ctx.skip(missing)
}

/** Tables of this run: short unique names (so trigger names are not cut), all dropped. */
const { tableName, admin, dropAll } = postgresTables(`amir${randomBytes(4).toString('hex')}`)

/** Things to undo after each test, last first. */
const undo: (() => Promise<unknown> | unknown)[] = []
afterEach(async () => {
  while (undo.length > 0) await undo.pop()!()
})

afterAll(async () => {
  if (missing === undefined) await dropAll()
})

type Event = [string, Record<string, unknown>]

function makeStore(options: PostgresStoreOptions): { store: PostgresStore; events: Event[] } {
  const store = new PostgresStore(options)
  const events: Event[] = []
  store.onEvent((event, data) => events.push([event, data as unknown as Record<string, unknown>]))
  undo.push(() => store.close())
  return { store, events }
}

const named = (events: Event[], name: string) => events.filter(([event]) => event === name)
const downReasons = (events: Event[]) =>
  named(events, 'store.mirror_down').map(([, data]) => String(data.reason))
const isFull = (reason: string) => reason.startsWith('full')

async function waitFor(check: () => boolean, what: string, timeoutMs = 5000): Promise<number> {
  const started = performance.now()
  while (!check()) {
    if (performance.now() - started > timeoutMs)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await sleep(2)
  }
  return performance.now() - started
}

async function liveStore(options: PostgresStoreOptions, lives = 1) {
  const made = makeStore(options)
  await waitFor(() => named(made.events, 'store.mirror_live').length >= lives, 'store.mirror_live', 15_000)
  return made
}

function countGets(store: PostgresStore): () => number {
  const get = store.get.bind(store)
  let calls = 0
  store.get = (keys) => {
    calls++
    return get(keys)
  }
  return () => calls
}

function authOf(store: PostgresStore): AuthX {
  return new AuthX({ secretKey: SECRET, store })
}

const keyOf = (payload: TokenPayload) => jtiKey(payload.iss, payload.jti)

/** A row written by a client that is not authx. */
function insert(table: string, key: string, value = '1', expiresAt = Date.now() + 600_000) {
  return admin().query(
    `INSERT INTO "${table}" (key, value, expires_at) VALUES ($1, $2, $3)
     ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, expires_at = EXCLUDED.expires_at`,
    [key, value, expiresAt],
  )
}

async function triggers(table: string): Promise<number> {
  const { rows } = await admin().query(
    'SELECT count(*)::int AS n FROM pg_trigger WHERE tgrelid = $1::regclass AND NOT tgisinternal',
    [`"${table}"`],
  )
  return rows[0].n as number
}

describe('PostgresStore mirror', () => {
  it('goes live with the rows already there, answers revocation keys from memory, and a verification runs no query', async (ctx) => {
    needPg(ctx)
    const table = tableName()
    // A token revoked through a store without a mirror (which creates the table) before the
    // mirror starts.
    const issuer = authOf(makeStore({ connectionString: PG_URL, table }).store)
    const revoked = await issuer.createTokenPair({ uid: 'revoked' })
    const good = await issuer.createTokenPair({ uid: 'good' })
    await issuer.revokeToken(revoked.accessToken)
    await insert(table, 'jti:pre')
    await insert(table, 'sub:pre', '123')
    await insert(table, 'fid:pre')
    // Not held: not revocation keys, or expired.
    await insert(table, 'used:pre')
    await insert(table, 'jti:expired', '1', Date.now() - 1000)

    const { store, events } = makeStore({ connectionString: PG_URL, table, mirror: true })
    expect(store.getLocal(['jti:pre'])).toBeUndefined()
    await waitFor(() => named(events, 'store.mirror_live').length > 0, 'store.mirror_live', 15_000)
    expect(named(events, 'store.mirror_live')).toEqual([
      ['store.mirror_live', { store: 'PostgresStore', entries: 4 }],
    ])
    expect(store.getLocal(['jti:pre', 'sub:pre', 'fid:pre', 'jti:absent', 'jti:expired'])).toEqual([
      '1',
      '123',
      '1',
      null,
      null,
    ])
    expect(store.getLocal(['used:pre'])).toBeUndefined()
    const { rows } = await admin().query(
      "SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = 'authx-mirror'",
    )
    expect(rows[0].n).toBeGreaterThan(0)

    const auth = authOf(store)
    const gets = countGets(store)
    expect((await auth.verifyToken(good.accessToken)).sub).toBe('good')
    await auth.verifyToken(good.refreshToken, { type: 'refresh' })
    await expect(auth.verifyToken(revoked.accessToken)).rejects.toBeInstanceOf(RevokedTokenError)
    expect(gets()).toBe(0)
  })

  it('own writes: a token or family revoked on this instance is rejected at once, then from memory', async (ctx) => {
    needPg(ctx)
    const { store } = await liveStore({ connectionString: PG_URL, table: tableName(), mirror: true })
    const auth = authOf(store)
    const pair = await auth.createTokenPair({ uid: 'alice' })
    const family = await auth.createTokenPair({ uid: 'bob' })
    const payload = await auth.decodeToken(pair.accessToken)
    await auth.verifyToken(pair.accessToken)
    await auth.revokeToken(pair.accessToken)
    await expect(auth.verifyToken(pair.accessToken)).rejects.toBeInstanceOf(RevokedTokenError)
    const fid = (await auth.decodeToken(family.refreshToken)).fid!
    await auth.revokeFamily(fid)
    await expect(auth.verifyToken(family.accessToken)).rejects.toBeInstanceOf(RevokedTokenError)
    await waitFor(
      () => store.getLocal([keyOf(payload), familyKey(payload.iss, fid)]) !== undefined,
      'the read-back',
    )
    expect(store.getLocal([keyOf(payload), familyKey(payload.iss, fid)])).toEqual(['1', '1'])
    const gets = countGets(store)
    await expect(auth.verifyToken(pair.accessToken)).rejects.toBeInstanceOf(RevokedTokenError)
    await expect(auth.verifyToken(family.refreshToken, { type: 'refresh' })).rejects.toBeInstanceOf(
      RevokedTokenError,
    )
    expect(gets()).toBe(0)
  })

  it('sees an INSERT, an UPDATE and a DELETE made by another client', async (ctx) => {
    needPg(ctx)
    const table = tableName()
    const { store } = await liveStore({ connectionString: PG_URL, table, mirror: true })
    const auth = authOf(store)
    const pair = await auth.createTokenPair({ uid: 'carol' })
    const key = keyOf(await auth.decodeToken(pair.accessToken))
    const delays: number[] = []
    for (let round = 0; round < 5; round++) {
      await insert(table, key)
      delays.push(await waitFor(() => store.getLocal([key])?.[0] === '1', 'the INSERT to reach the mirror'))
      const gets = countGets(store)
      await expect(auth.verifyToken(pair.accessToken)).rejects.toBeInstanceOf(RevokedTokenError)
      await admin().query(`DELETE FROM "${table}" WHERE key = $1`, [key])
      delays.push(await waitFor(() => store.getLocal([key])?.[0] === null, 'the DELETE to reach the mirror'))
      expect((await auth.verifyToken(pair.accessToken)).sub).toBe('carol')
      expect(gets()).toBe(0)
    }
    await insert(table, 'sub:dan', '100')
    await waitFor(() => store.getLocal(['sub:dan'])?.[0] === '100', 'the INSERT')
    await admin().query(`UPDATE "${table}" SET value = '200' WHERE key = 'sub:dan'`)
    await waitFor(() => store.getLocal(['sub:dan'])?.[0] === '200', 'the UPDATE to reach the mirror')
    delays.sort((a, b) => a - b)
    console.log(
      `[postgres mirror] another client's INSERT/DELETE seen by the mirror after (ms, one process, 2 ms polling): median ${delays[5]!.toFixed(1)}, max ${delays.at(-1)!.toFixed(1)}`,
    )
  })

  it("expires entries locally on the store's clock", async (ctx) => {
    needPg(ctx)
    const table = tableName()
    let now = Date.now()
    const { store } = await liveStore({ connectionString: PG_URL, table, clock: () => now, mirror: true })
    await insert(table, 'jti:short', '1', now + 60_000)
    await store.set('jti:own', '1', 120)
    await waitFor(
      () => store.getLocal(['jti:short', 'jti:own'])?.join() === '1,1',
      'the rows to reach the mirror',
    )
    now += 60_000
    // Nothing changed on the server: the mirror drops the entry on its own clock.
    expect(store.getLocal(['jti:short', 'jti:own'])).toEqual([null, '1'])
    now += 60_000
    expect(store.getLocal(['jti:own'])).toEqual([null])
  })

  it('past maxEntries at start: never live, says "full", and verification reads the table, still correct', async (ctx) => {
    needPg(ctx)
    const table = tableName()
    const issuer = authOf(makeStore({ connectionString: PG_URL, table }).store)
    const revoked = await issuer.createTokenPair({ uid: 'revoked' })
    const good = await issuer.createTokenPair({ uid: 'good' })
    await issuer.revokeToken(revoked.accessToken)
    await issuer.revokeToken(revoked.refreshToken)
    await issuer.revokeFamily('some-family')

    const { store, events } = makeStore({ connectionString: PG_URL, table, mirror: { maxEntries: 2 } })
    await waitFor(() => downReasons(events).some(isFull), 'store.mirror_down (full)', 15_000)
    await sleep(300)
    expect(named(events, 'store.mirror_live')).toEqual([])
    expect(store.getLocal(['jti:absent'])).toBeUndefined()
    const auth = authOf(store)
    const gets = countGets(store)
    await expect(auth.verifyToken(revoked.accessToken)).rejects.toBeInstanceOf(RevokedTokenError)
    expect((await auth.verifyToken(good.accessToken)).sub).toBe('good')
    expect(gets()).toBe(2)
  })

  it('past maxEntries while live: goes down with a reason starting "full", verification still correct', async (ctx) => {
    needPg(ctx)
    const table = tableName()
    const { store, events } = await liveStore({ connectionString: PG_URL, table, mirror: { maxEntries: 3 } })
    const auth = authOf(store)
    const revoked = await auth.createTokenPair({ uid: 'revoked' })
    const good = await auth.createTokenPair({ uid: 'good' })
    await auth.revokeToken(revoked.accessToken)
    for (const id of ['a', 'b', 'c']) await insert(table, `jti:${id}`)
    await waitFor(() => downReasons(events).some(isFull), 'store.mirror_down (full)')
    expect(store.getLocal(['jti:a'])).toBeUndefined()
    const gets = countGets(store)
    await expect(auth.verifyToken(revoked.accessToken)).rejects.toBeInstanceOf(RevokedTokenError)
    expect((await auth.verifyToken(good.accessToken)).sub).toBe('good')
    expect(gets()).toBe(2)
  })

  it('reloads everything when a key too long to notify changes, and holds the right state', async (ctx) => {
    needPg(ctx)
    const table = tableName()
    const { store, events } = await liveStore({ connectionString: PG_URL, table, mirror: true })
    // Over the 7900 bytes a notification names; compressible, so the primary key index takes it.
    const long = `jti:${'x'.repeat(8000)}`
    await insert(table, 'jti:before')
    await waitFor(() => store.getLocal(['jti:before'])?.[0] === '1', 'the first INSERT')
    // Only the events from here on (a first sync that failed on a busy machine said so before).
    const later = events.length
    await insert(table, long)
    await waitFor(
      () => named(events.slice(later), 'store.mirror_live').length === 1,
      'the mirror to be live again',
    )
    expect(downReasons(events.slice(later))).toEqual(['the server said unknown keys changed'])
    expect(named(events.slice(later), 'store.mirror_live')[0]![1].entries).toBe(2)
    expect(store.getLocal([long, 'jti:before'])).toEqual(['1', '1'])
    await admin().query(`DELETE FROM "${table}" WHERE key = $1`, [long])
    await waitFor(
      () => named(events.slice(later), 'store.mirror_live').length === 2,
      'the reload after the DELETE',
    )
    expect(store.getLocal([long, 'jti:before'])).toEqual([null, '1'])
  })

  it('stores started together on a new table create the trigger once, and all go live', async (ctx) => {
    needPg(ctx)
    const table = tableName()
    const stores = Array.from({ length: 4 }, () =>
      makeStore({ connectionString: PG_URL, table, mirror: true }),
    )
    for (const { events } of stores)
      await waitFor(() => named(events, 'store.mirror_live').length > 0, 'every store to be live', 20_000)
    expect(await triggers(table)).toBe(1)
    // The setup is serialised (an advisory lock): no store failed against another's and retried.
    expect(stores.flatMap(({ events }) => named(events, 'store.mirror_down'))).toEqual([])
    // Each of them hears a change made by another.
    await stores[0]!.store.set('jti:shared', '1', 60)
    for (const { store } of stores)
      await waitFor(() => store.getLocal(['jti:shared'])?.[0] === '1', 'the change')
  })

  it('adds the trigger to a table made by an older version, and loads its rows', async (ctx) => {
    needPg(ctx)
    const table = tableName()
    await admin().query(
      `CREATE TABLE "${table}" (key text PRIMARY KEY, value text NOT NULL, expires_at bigint NOT NULL)`,
    )
    await insert(table, 'jti:old')
    expect(await triggers(table)).toBe(0)
    const { store, events } = await liveStore({ connectionString: PG_URL, table, mirror: true })
    expect(named(events, 'store.mirror_live')[0]![1].entries).toBe(1)
    expect(await triggers(table)).toBe(1)
    expect(store.getLocal(['jti:old'])).toEqual(['1'])
    await insert(table, 'jti:new')
    await waitFor(() => store.getLocal(['jti:new'])?.[0] === '1', 'the INSERT to reach the mirror')
    // A second store does not add another trigger.
    await liveStore({ connectionString: PG_URL, table, mirror: true })
    expect(await triggers(table)).toBe(1)
  })

  it('stops answering within maxLagMs of a black-holed server, then recovers with what changed meanwhile', async (ctx) => {
    needPg(ctx)
    const table = tableName()
    const proxy = await tcpProxy('127.0.0.1', 5432)
    undo.push(() => proxy.close())
    const maxLagMs = 500
    const { store, events } = await liveStore({
      connectionString: `postgres://postgres@127.0.0.1:${proxy.port}/test`,
      table,
      timeoutMs: 1000,
      mirror: { maxLagMs },
      circuitBreaker: false,
    })
    const auth = authOf(store)
    const pair = await auth.createTokenPair({ uid: 'erin' })
    const key = keyOf(await auth.decodeToken(pair.accessToken))
    await sleep(300)
    expect(store.getLocal([key])).toEqual([null])
    const later = events.length
    proxy.set('black-hole')
    const cutAt = performance.now()
    let answeredUntil = 0
    while (performance.now() - cutAt < maxLagMs + 50) {
      if (store.getLocal([key]) !== undefined) answeredUntil = performance.now() - cutAt
      await sleep(2)
    }
    expect(store.getLocal([key])).toBeUndefined()
    expect(answeredUntil).toBeLessThanOrEqual(maxLagMs)
    await waitFor(() => named(events.slice(later), 'store.mirror_down').length > 0, 'store.mirror_down')
    const downAfter = performance.now() - cutAt
    await expect(auth.verifyToken(pair.accessToken)).rejects.toBeInstanceOf(StoreUnavailableError)
    // Revoked by another client during the outage (not through the proxy).
    await insert(table, key)
    console.log(
      `[postgres mirror] after the black hole: last answer from memory at ${answeredUntil.toFixed(0)} ms, store.mirror_down at ${downAfter.toFixed(0)} ms (maxLagMs ${maxLagMs}; reason: ${downReasons(events.slice(later))[0]})`,
    )
    await sleep(500)
    await expect(auth.verifyToken(pair.accessToken)).rejects.toBeInstanceOf(StoreUnavailableError)
    proxy.set('forward')
    await waitFor(
      () => named(events.slice(later), 'store.mirror_live').length === 1,
      'the mirror to be live again',
      20_000,
    )
    expect(store.getLocal([key])).toEqual(['1'])
    const gets = countGets(store)
    await expect(auth.verifyToken(pair.accessToken)).rejects.toBeInstanceOf(RevokedTokenError)
    expect(gets()).toBe(0)
  })

  it('refuses a pool without connect() and bad mirror options, before opening anything', () => {
    const pool: PgPoolLike = {
      query: async () => ({ rows: [], rowCount: 0 }),
      end: async () => {},
    }
    expect(() => new PostgresStore({ pool, mirror: true })).toThrow(ConfigError)
    expect(new PostgresStore({ pool })).toBeInstanceOf(PostgresStore)
    for (const mirror of [{ bogus: 1 }, { maxEntries: 0 }, { maxLagMs: 5 }, 'yes'])
      expect(
        () => new PostgresStore({ connectionString: PG_URL, mirror: mirror as never }),
        JSON.stringify(mirror),
      ).toThrow(TypeError)
  })

  it("close() destroys the mirror's connection checked out of a passed pool, which stays usable", async (ctx) => {
    needPg(ctx)
    const pool = new pg.Pool({ connectionString: PG_URL, max: 4 })
    pool.on('error', noop)
    undo.push(() => pool.end())
    // The mirror checks its connection out with connect() and no callback; pool.query uses the
    // callback form, which goes through unrecorded.
    const pids: number[] = []
    const connect = pool.connect.bind(pool) as (callback?: unknown) => unknown
    pool.connect = ((callback?: unknown) => {
      if (typeof callback === 'function') return connect(callback)
      return (connect() as Promise<pg.PoolClient>).then((client) => {
        pids.push((client as unknown as { processID: number }).processID)
        return client
      })
    }) as typeof pool.connect
    const { store } = await liveStore({ pool, table: tableName(), mirror: true })
    expect(pids).toHaveLength(1)
    const mirrorPid = async () =>
      (
        await admin().query('SELECT application_name FROM pg_stat_activity WHERE pid = $1', [pids[0]])
      ).rows.map((row) => row.application_name as string)
    expect(await mirrorPid()).toEqual(['authx-mirror'])
    await store.close()
    await expect.poll(mirrorPid, { timeout: 3000 }).toEqual([])
    expect((await pool.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }])
  })

  it('a process whose mirrored store was closed exits by itself', async (ctx) => {
    needPg(ctx)
    const exit = await runScript(`
      import { PostgresStore } from './src/stores/postgres.ts'
      const store = new PostgresStore({ connectionString: ${JSON.stringify(PG_URL)}, table: ${JSON.stringify(tableName())}, mirror: { maxLagMs: 100 } })
      await new Promise((resolve) => store.onEvent((event) => event === 'store.mirror_live' && resolve()))
      await new Promise((resolve) => setTimeout(resolve, 300))
      await store.close()
      console.log('closed')
    `)
    expect(exit).toEqual({ code: 0, stdout: 'closed', timedOut: false })
  })
})

/**
 * Bundles `source` (TypeScript, imports relative to the repository root) and runs it in a new
 * Node process, which must end by itself within 15 s: a timer or connection left open keeps it.
 */
async function runScript(
  source: string,
): Promise<{ code: number | null; stdout: string; timedOut: boolean }> {
  const outdir = join(root, '.tmp')
  mkdirSync(outdir, { recursive: true })
  const outfile = join(outdir, `postgres-mirror-${process.pid}-${randomBytes(4).toString('hex')}.mjs`)
  await build({
    stdin: { contents: source, resolveDir: root, loader: 'ts' },
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    outfile,
    alias: { authx: join(root, 'src/index.ts') },
    external: ['ioredis', 'pg', 'redis', 'better-sqlite3'],
    logLevel: 'silent',
  })
  undo.push(() => rmSync(outfile, { force: true }))
  return new Promise((resolve) => {
    execFile(process.execPath, [outfile], { cwd: root, timeout: 15_000 }, (err, stdout) => {
      const killed = (err as { killed?: boolean } | null)?.killed === true
      resolve({
        code: err ? ((err as { code?: number }).code ?? null) : 0,
        stdout: stdout.trim(),
        timedOut: killed,
      })
    })
  })
}
