/**
 * PostgresStore (issue 4): the conformance suite on the local server (once with a pg Pool, once
 * with a connection string), then what is particular to PostgreSQL: table creation, table
 * names, atomic setIfAbsent across pools, closing, server faults (refused, black-holed, dropped
 * connections) with recovery without a restart, a store answering garbage, and cross-process
 * rotation and durability.
 */
import { randomUUID } from 'node:crypto'
import net, { type AddressInfo } from 'node:net'
import pg from 'pg'
import { afterAll, describe, expect, it, vi } from 'vitest'
import {
  AuthX,
  AuthXError,
  type AuthXStore,
  ConfigError,
  errorToResponse,
  RevokedTokenError,
  StoreUnavailableError,
} from '../../src/index.js'
import { PostgresStore } from '../../src/stores/postgres.js'
import { PG_URL, postgresForTests } from '../support/postgres.js'
import { runStoreConformance, SECRET } from './conformance.js'
import { expectOneRefreshWins, runChild } from './processes.js'

const noop = () => {}
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

const missing = await postgresForTests('PostgresStore tests')

/** Tables of this run: unique names, all dropped at the end. */
const run = `authx_t${process.pid}_${randomUUID().slice(0, 8)}`
const created = new Set<string>()
let counter = 0
function tableName(label: string): string {
  counter += 1
  const name = `${run}_${label}_${counter}`
  created.add(name)
  return name
}

/** A pool for setup and inspection (not the stores under test unless a test says so). */
let adminPool: pg.Pool | undefined
function admin(): pg.Pool {
  if (adminPool === undefined) {
    adminPool = new pg.Pool({ connectionString: PG_URL, max: 4 })
    adminPool.on('error', noop)
  }
  return adminPool
}

/**
 * Opens the pool's connections (10 by default) and creates the table before a test uses the
 * store: on a loaded machine, ten cold connections can take longer than the 500 ms default
 * `revocation.timeoutMs` of the conformance suite's AuthX instances.
 */
async function warm(store: PostgresStore): Promise<PostgresStore> {
  await Promise.all(Array.from({ length: 10 }, (_, i) => store.get([`warm${i}`])))
  return store
}

/**
 * A new pool on the real server; ended after the tests. At most 5 connections each, so this
 * file stays far below the server's max_connections (100) even beside other test files.
 */
const pools: pg.Pool[] = []
function newPool(config: pg.PoolConfig = { connectionString: PG_URL }): pg.Pool {
  const pool = new pg.Pool({ max: 5, ...config })
  pool.on('error', noop)
  pools.push(pool)
  return pool
}

afterAll(async () => {
  for (const pool of pools) await pool.end().catch(noop)
  if (missing !== undefined) return
  for (const name of created) await admin().query(`DROP TABLE IF EXISTS "${name}"`)
  await admin().end()
})

async function tableExists(name: string): Promise<boolean> {
  const { rows } = await admin().query('SELECT to_regclass($1) IS NOT NULL AS found', [`"${name}"`])
  return rows[0].found === true
}

async function connectionsNamed(applicationName: string): Promise<number> {
  const { rows } = await admin().query(
    'SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = $1',
    [applicationName],
  )
  return rows[0].n as number
}

/** Whether the store's circuit breaker answered (the call never reached the server). */
function circuitOpen(err: unknown): boolean {
  for (let e = err; e instanceof Error; e = e.cause) if (/circuit open/.test(e.message)) return true
  return false
}

/** The HTTP status AuthX gives a bearer request: 200 when authenticated, else the error's status. */
async function statusOf(auth: AuthX, token: string): Promise<number> {
  const request = new Request('http://localhost/me', { headers: { authorization: `Bearer ${token}` } })
  try {
    await auth.authenticate(request)
    return 200
  } catch (err) {
    if (!(err instanceof AuthXError)) throw err
    const response = errorToResponse(err)
    // 1 s, or, once the circuit breaker has opened, the time its cool-down has left (default 5 s).
    if (err instanceof StoreUnavailableError)
      expect(response.headers.get('retry-after')).toMatch(circuitOpen(err) ? /^[1-5]$/ : /^1$/)
    return response.status
  }
}

/** Asserts that the call rejects with StoreUnavailableError within `timeoutMs` + 400 ms. */
async function unavailableWithin(call: () => Promise<unknown>, timeoutMs: number): Promise<void> {
  const started = performance.now()
  const outcome = await call().then(
    () => 'succeeded',
    (err: unknown) => err,
  )
  const elapsed = performance.now() - started
  expect(outcome).toBeInstanceOf(StoreUnavailableError)
  expect(elapsed).toBeLessThan(timeoutMs + 400)
}

/** Polls until `probe` gives `expected` (or `withinMs` passes); returns the last answer. */
async function eventually<T>(probe: () => Promise<T>, expected: T, withinMs = 5000): Promise<T> {
  const deadline = Date.now() + withinMs
  let last = await probe()
  while (last !== expected && Date.now() < deadline) {
    await sleep(100)
    last = await probe()
  }
  return last
}

/** A port nothing listens on. */
async function closedPort(): Promise<number> {
  const server = net.createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  await new Promise<void>((resolve) => server.close(() => resolve()))
  return port
}

/**
 * A TCP proxy in front of the real server that can be switched between forwarding and a black
 * hole (connections accepted, never answered). Going dark either cuts the open connections
 * (`drop`) or leaves them open and silent (`freeze`), as a dead network path does.
 */
class SwitchableProxy {
  #mode: 'forward' | 'blackhole' = 'blackhole'
  readonly #server = net.createServer((socket) => this.#accept(socket))
  readonly #pairs = new Set<{ client: net.Socket; upstream?: net.Socket }>()
  port = 0

  static async start(mode: 'forward' | 'blackhole'): Promise<SwitchableProxy> {
    const proxy = new SwitchableProxy()
    proxy.#mode = mode
    await new Promise<void>((resolve) => proxy.#server.listen(0, '127.0.0.1', resolve))
    proxy.port = (proxy.#server.address() as AddressInfo).port
    return proxy
  }

  forward(): void {
    this.#mode = 'forward'
  }

  /** New connections hang; open ones are cut (`drop`) or stop passing bytes (`freeze`). */
  dark(open: 'drop' | 'freeze'): void {
    this.#mode = 'blackhole'
    for (const { client, upstream } of this.#pairs) {
      if (open === 'drop') {
        client.destroy()
      } else if (upstream !== undefined) {
        client.unpipe(upstream)
        upstream.unpipe(client)
        client.pause()
        upstream.pause()
      }
    }
  }

  async close(): Promise<void> {
    this.#mode = 'blackhole'
    for (const { client, upstream } of this.#pairs) {
      client.destroy()
      upstream?.destroy()
    }
    await new Promise<void>((resolve) => this.#server.close(() => resolve()))
  }

  #accept(client: net.Socket): void {
    const pair: { client: net.Socket; upstream?: net.Socket } = { client }
    this.#pairs.add(pair)
    client.on('error', noop)
    client.on('close', () => {
      this.#pairs.delete(pair)
      pair.upstream?.destroy()
    })
    if (this.#mode === 'blackhole') return // accepted; nothing is read or written
    const upstream = net.connect(5432, '127.0.0.1')
    pair.upstream = upstream
    upstream.on('error', noop)
    upstream.on('close', () => client.destroy())
    client.pipe(upstream)
    upstream.pipe(client)
  }
}

runStoreConformance(
  'PostgresStore (pool)',
  async () => missing,
  async () => {
    const pool = newPool()
    const table = tableName('conf_pool')
    return {
      make: () => warm(new PostgresStore({ pool, table })),
      // Runs after every store of the suite was closed: the pool they were given still works.
      cleanup: async () => {
        const { rows } = await pool.query('SELECT 1 AS one')
        expect(rows[0].one).toBe(1)
        await pool.query(`DROP TABLE IF EXISTS "${table}"`)
      },
    }
  },
)

runStoreConformance(
  'PostgresStore (connectionString)',
  async () => missing,
  async () => {
    const table = tableName('conf_url')
    return {
      make: () => warm(new PostgresStore({ connectionString: PG_URL, table })),
      cleanup: async () => {
        await admin().query(`DROP TABLE IF EXISTS "${table}"`)
      },
    }
  },
)

describe.skipIf(missing !== undefined)('PostgresStore: its table', () => {
  it('creates its table on first use when it is missing, also after the table was dropped', async () => {
    const table = tableName('create')
    expect(await tableExists(table)).toBe(false)
    const first = new PostgresStore({ pool: admin(), table })
    await first.set('k', 'v', 60)
    expect(await tableExists(table)).toBe(true)
    await first.close()

    await admin().query(`DROP TABLE "${table}"`)
    expect(await tableExists(table)).toBe(false)
    const second = new PostgresStore({ pool: admin(), table })
    expect(await second.get(['k'])).toEqual([null])
    expect(await tableExists(table)).toBe(true)
    await second.set('k', 'again', 60)
    expect(await second.get(['k'])).toEqual(['again'])
    await second.close()
  })

  it('lets several stores on separate pools create the same table at the same moment', async () => {
    const racers = Array.from({ length: 4 }, () => newPool({ connectionString: PG_URL, max: 1 }))
    await Promise.all(racers.map((pool) => pool.query('SELECT 1'))) // connected before the race
    for (let round = 0; round < 8; round++) {
      const table = tableName('race')
      const stores = racers.map((pool) => new PostgresStore({ pool, table }))
      const writes = await Promise.allSettled(stores.map((store, i) => store.set(`k${i}`, String(i), 60)))
      expect(writes.map((w) => w.status)).toEqual(['fulfilled', 'fulfilled', 'fulfilled', 'fulfilled'])
      expect(await stores[0]!.get(['k0', 'k1', 'k2', 'k3'])).toEqual(['0', '1', '2', '3'])
    }
  })

  it('quotes the table name, so a mixed-case name is kept as given', async () => {
    const table = tableName('Mixed_Case')
    const store = new PostgresStore({ pool: admin(), table })
    await store.set('k', 'v', 60)
    expect(await tableExists(table)).toBe(true)
    const { rows } = await admin().query('SELECT count(*)::int AS n FROM pg_tables WHERE tablename = $1', [
      table,
    ])
    expect(rows[0].n).toBe(1)
  })
})

describe('security: PostgresStore table names and options', () => {
  it('rejects a table name that is not a plain SQL identifier at construction, before any query', () => {
    const pool = { query: vi.fn(), end: vi.fn() }
    for (const bad of [
      'authx_store"; DROP TABLE users; --',
      'authx_store; DROP TABLE users',
      "x' OR '1'='1",
      'public.authx_store',
      'two words',
      '1starts_with_digit',
      '',
      'a'.repeat(64),
      'caf\u00e9',
      42 as unknown as string,
    ]) {
      expect(() => new PostgresStore({ pool, table: bad })).toThrow(TypeError)
    }
    expect(pool.query).not.toHaveBeenCalled()
  })

  it('needs exactly one of pool and connectionString, and a positive whole timeoutMs', () => {
    const pool = { query: vi.fn(), end: vi.fn() }
    expect(() => new PostgresStore({})).toThrow(TypeError)
    expect(() => new PostgresStore(undefined as never)).toThrow(TypeError)
    expect(() => new PostgresStore({ pool, connectionString: PG_URL })).toThrow(TypeError)
    for (const timeoutMs of [0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) {
      expect(() => new PostgresStore({ connectionString: PG_URL, timeoutMs })).toThrow(TypeError)
    }
    expect(pool.query).not.toHaveBeenCalled()
  })

  it('refuses an unknown option name with a ConfigError naming it, before any query', () => {
    const pool = { query: vi.fn(), end: vi.fn() }
    for (const [name, options] of [
      ['tabel', { pool, tabel: 'authx_store' }],
      ['timeout', { connectionString: PG_URL, timeout: 100 }],
      ['sweep', { pool, sweep: false }],
    ] as const) {
      let error: unknown
      try {
        new PostgresStore(options as never)
      } catch (err) {
        error = err
      }
      expect(error).toBeInstanceOf(ConfigError)
      expect(error).toMatchObject({ code: 'ERR_CONFIG', status: 500 })
      expect((error as Error).message).toContain(name)
    }
    expect(pool.query).not.toHaveBeenCalled()
    expect(() => new PostgresStore({ pool, table: 't', timeoutMs: 100, clock: Date.now })).not.toThrow()
  })
})

describe.skipIf(missing !== undefined)('PostgresStore: setIfAbsent is one atomic statement', () => {
  it('of 50 concurrent setIfAbsent calls on one key across two pools, exactly one wins', async () => {
    const table = tableName('atomic')
    const [a, b] = [newPool(), newPool()].map((pool) => new PostgresStore({ pool, table })) as [
      PostgresStore,
      PostgresStore,
    ]
    await a.get(['warm']) // the table exists before the race
    const results = await Promise.all(
      Array.from({ length: 50 }, (_, i) => (i % 2 === 0 ? a : b).setIfAbsent('race', `v${i}`, 60)),
    )
    expect(results.filter(Boolean)).toHaveLength(1)
    expect(await a.get(['race'])).toEqual([`v${results.indexOf(true)}`])
  })

  it('of 50 concurrent setIfAbsent calls on a key whose row expired, exactly one wins', async () => {
    const table = tableName('atomic_exp')
    const writer = new PostgresStore({ pool: admin(), table })
    await writer.set('race', 'old', 60)
    // Two minutes later, the row has expired but is still in the table.
    const later = () => Date.now() + 120_000
    const [a, b] = [newPool(), newPool()].map((pool) => new PostgresStore({ pool, table, clock: later })) as [
      PostgresStore,
      PostgresStore,
    ]
    expect(await a.get(['race'])).toEqual([null])
    const results = await Promise.all(
      Array.from({ length: 50 }, (_, i) => (i % 2 === 0 ? a : b).setIfAbsent('race', `v${i}`, 60)),
    )
    expect(results.filter(Boolean)).toHaveLength(1)
    expect(await a.get(['race'])).toEqual([`v${results.indexOf(true)}`])
  })
})

describe.skipIf(missing !== undefined)('PostgresStore: closing', () => {
  it('leaves a pool it was given open, and rejects calls once closed', async () => {
    const pool = newPool()
    const store = new PostgresStore({ pool, table: tableName('close_pool') })
    await store.set('k', 'v', 60)
    await store.close()
    await store.close()
    const { rows } = await pool.query('SELECT 1 AS one')
    expect(rows[0].one).toBe(1)
    await expect(store.get(['k'])).rejects.toThrow()
    await expect(store.set('k', 'v', 60)).rejects.toThrow()
    await expect(store.setIfAbsent('n', 'v', 60)).rejects.toThrow()
    await expect(store.delete('k')).rejects.toThrow()
  })

  it('ends the pool it opened for a connection string, and may be closed twice', async () => {
    const name = `${run}_own`
    const store = new PostgresStore({
      connectionString: `${PG_URL}?application_name=${name}`,
      table: tableName('close_own'),
    })
    await Promise.all([store.set('a', 'v', 60), store.set('b', 'v', 60)])
    expect(await connectionsNamed(name)).toBeGreaterThan(0)
    await store.close()
    await store.close()
    expect(await eventually(() => connectionsNamed(name), 0, 3000)).toBe(0)
    await expect(store.get(['a'])).rejects.toThrow()
  })
})

describe.skipIf(missing !== undefined)(
  'security: PostgresStore server faults (fail closed, recover without restart)',
  () => {
    it('answers 503 within timeoutMs + 400 ms when the server refuses connections, and revoking rejects', async () => {
      const timeoutMs = 300
      const pool = newPool({
        host: '127.0.0.1',
        port: await closedPort(),
        user: 'postgres',
        database: 'test',
        connectionTimeoutMillis: 200,
      })
      const table = tableName('refused')
      const auth = new AuthX({
        secretKey: SECRET,
        store: new PostgresStore({ pool, table }),
        revocation: { timeoutMs },
      })
      const pair = await auth.createTokenPair({ uid: 'refused-user' })

      await unavailableWithin(() => auth.verifyToken(pair.accessToken), timeoutMs)
      expect(await statusOf(auth, pair.accessToken)).toBe(503)
      await unavailableWithin(() => auth.revokeToken(pair.accessToken), timeoutMs)
      await unavailableWithin(() => auth.revokeFamily('some-family'), timeoutMs)
      await unavailableWithin(() => auth.revokeAllForSubject('refused-user'), timeoutMs)
      await unavailableWithin(() => auth.refresh(pair.refreshToken), timeoutMs)

      // A new store on the real server works, and nothing was revoked or consumed by the failures.
      const healthy = new AuthX({ secretKey: SECRET, store: new PostgresStore({ pool: admin(), table }) })
      expect(await statusOf(healthy, pair.accessToken)).toBe(200)
      await expect(healthy.refresh(pair.refreshToken)).resolves.toMatchObject({ tokenType: 'bearer' })
    })

    it('answers 503 within timeoutMs + 400 ms when the server accepts connections and never answers', async () => {
      const timeoutMs = 300
      const proxy = await SwitchableProxy.start('blackhole')
      // The worst configuration: a pool without any timeout of its own.
      const pool = newPool({ host: '127.0.0.1', port: proxy.port, user: 'postgres', database: 'test' })
      const table = tableName('blackhole')
      const auth = new AuthX({
        secretKey: SECRET,
        store: new PostgresStore({ pool, table }),
        revocation: { timeoutMs },
      })
      const pair = await auth.createTokenPair({ uid: 'blackhole-user' })
      try {
        await unavailableWithin(() => auth.verifyToken(pair.accessToken), timeoutMs)
        await unavailableWithin(() => auth.revokeToken(pair.accessToken), timeoutMs)
        await unavailableWithin(() => auth.refresh(pair.refreshToken), timeoutMs)
        // More requests than the pool has connections: every one is still answered in time.
        const started = performance.now()
        const statuses = await Promise.all(Array.from({ length: 25 }, () => statusOf(auth, pair.accessToken)))
        expect(statuses).toEqual(Array.from({ length: 25 }, () => 503))
        expect(performance.now() - started).toBeLessThan(timeoutMs + 400)
      } finally {
        await proxy.close()
      }
      const healthy = new AuthX({ secretKey: SECRET, store: new PostgresStore({ pool: admin(), table }) })
      expect(await statusOf(healthy, pair.accessToken)).toBe(200)
    })

    it('recovers, for the same AuthX instance and store, when a black-holed server comes back', async () => {
      const timeoutMs = 250
      const proxy = await SwitchableProxy.start('blackhole')
      const pool = newPool({
        host: '127.0.0.1',
        port: proxy.port,
        user: 'postgres',
        database: 'test',
        connectionTimeoutMillis: 300,
        query_timeout: 300,
      })
      const auth = new AuthX({
        secretKey: SECRET,
        store: new PostgresStore({ pool, table: tableName('recover') }),
        revocation: { timeoutMs },
      })
      const pair = await auth.createTokenPair({ uid: 'recover-user' })
      const victim = await auth.createAccessToken({ uid: 'recover-victim' })
      try {
        // Down from the start: even the table cannot be created.
        await unavailableWithin(() => auth.verifyToken(pair.accessToken), timeoutMs)
        await unavailableWithin(() => auth.revokeToken(victim), timeoutMs)

        proxy.forward()
        expect(await eventually(() => statusOf(auth, pair.accessToken), 200)).toBe(200)
        await auth.revokeToken(victim)
        expect(await statusOf(auth, victim)).toBe(401)

        // Down again, with the open connections cut: the revoked token is not accepted meanwhile.
        proxy.dark('drop')
        await unavailableWithin(() => auth.verifyToken(victim), timeoutMs)
        await unavailableWithin(() => auth.verifyToken(pair.accessToken), timeoutMs)
        await unavailableWithin(() => auth.refresh(pair.refreshToken), timeoutMs)

        proxy.forward()
        expect(await eventually(() => statusOf(auth, pair.accessToken), 200)).toBe(200)
        await expect(auth.verifyToken(victim)).rejects.toBeInstanceOf(RevokedTokenError)
        // The refresh refused during the outage consumed nothing.
        await expect(auth.refresh(pair.refreshToken)).resolves.toMatchObject({ tokenType: 'bearer' })
      } finally {
        await proxy.close()
      }
    })

    it('recovers with its own pool (connectionString) after connections froze and new ones hung', async () => {
      const timeoutMs = 250
      const proxy = await SwitchableProxy.start('forward')
      const name = `${run}_frozen`
      const store = new PostgresStore({
        connectionString: `postgres://postgres@127.0.0.1:${proxy.port}/test?application_name=${name}`,
        table: tableName('frozen'),
        timeoutMs: 1000,
      })
      const auth = new AuthX({ secretKey: SECRET, store, revocation: { timeoutMs } })
      const pair = await auth.createTokenPair({ uid: 'frozen-user' })
      try {
        // Fill the pool (10 connections by default), then let the network path die silently.
        for (let attempt = 0; attempt < 5 && (await connectionsNamed(name)) < 10; attempt++) {
          await Promise.allSettled(Array.from({ length: 20 }, (_, i) => store.get([`warm${i}`])))
        }
        expect(await connectionsNamed(name)).toBe(10)
        proxy.dark('freeze')
        // Waves of requests during the outage: the first ones wait on the frozen connections, the
        // later ones on new connections that hang.
        for (let wave = 0; wave < 3; wave++) {
          const statuses = await Promise.all(
            Array.from({ length: 12 }, () => statusOf(auth, pair.accessToken)),
          )
          expect(statuses).toEqual(Array.from({ length: 12 }, () => 503))
          await sleep(1100)
        }
        proxy.forward()
        expect(await eventually(() => statusOf(auth, pair.accessToken), 200)).toBe(200)
      } finally {
        await auth.close()
        await proxy.close()
      }
    })

    it('survives the server dropping its idle connections, and keeps working (connectionString)', async () => {
      const name = `${run}_dropped`
      const store = new PostgresStore({
        connectionString: `${PG_URL}?application_name=${name}`,
        table: tableName('dropped'),
      })
      const auth = new AuthX({ secretKey: SECRET, store })
      const pair = await auth.createTokenPair({ uid: 'dropped-user' })
      expect(await statusOf(auth, pair.accessToken)).toBe(200)
      expect(await connectionsNamed(name)).toBeGreaterThan(0)
      // What a server restart or failover does to idle connections.
      await admin().query(
        'SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1',
        [name],
      )
      expect(await eventually(() => connectionsNamed(name), 0, 3000)).toBe(0)
      await sleep(100) // the pool sees the connection end
      expect(await statusOf(auth, pair.accessToken)).toBe(200)
      await auth.revokeToken(pair.accessToken)
      expect(await statusOf(auth, pair.accessToken)).toBe(401)
      await auth.close()
    })
  },
)

/** Wraps a real store and replaces some answers with garbage. */
class GarbageStore implements AuthXStore {
  constructor(
    private readonly inner: AuthXStore,
    private readonly garbage: { get?: (keys: string[]) => unknown; setIfAbsent?: () => unknown },
  ) {}

  get(keys: string[]): Promise<(string | null)[]> {
    const bad = this.garbage.get
    return bad === undefined
      ? this.inner.get(keys)
      : (Promise.resolve(bad(keys)) as Promise<(string | null)[]>)
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
}

describe.skipIf(missing !== undefined)(
  'security: a Postgres store answering garbage gives 503 through AuthX',
  () => {
    const table = tableName('garbage')
    const real = () => new PostgresStore({ pool: admin(), table })

    it('authenticates through the wrapper when the real store answers (control)', async () => {
      const auth = new AuthX({ secretKey: SECRET, store: new GarbageStore(real(), {}) })
      expect(await statusOf(auth, await auth.createAccessToken({ uid: 'g' }))).toBe(200)
    })

    for (const [label, get] of [
      ['numbers instead of strings', (keys: string[]) => keys.map(() => 1)],
      ['too few values', () => [null]],
      ['too many values', (keys: string[]) => [...keys.map(() => null), null]],
      ['a number instead of a list', () => 0],
      ['undefined', () => undefined],
    ] as const) {
      it(`answers 503 when get returns ${label}`, async () => {
        const auth = new AuthX({ secretKey: SECRET, store: new GarbageStore(real(), { get }) })
        const pair = await auth.createTokenPair({ uid: 'garbage-user' })
        expect(await statusOf(auth, pair.accessToken)).toBe(503)
        await expect(auth.refresh(pair.refreshToken)).rejects.toBeInstanceOf(StoreUnavailableError)
      })
    }

    it('refuses to rotate when setIfAbsent returns something other than a boolean', async () => {
      for (const answer of [1, 'true', null, undefined]) {
        const auth = new AuthX({
          secretKey: SECRET,
          store: new GarbageStore(real(), { setIfAbsent: () => answer }),
        })
        const { refreshToken } = await auth.createTokenPair({ uid: 'garbage-user' })
        await expect(auth.refresh(refreshToken)).rejects.toBeInstanceOf(StoreUnavailableError)
      }
    })
  },
)

describe.skipIf(missing !== undefined)('PostgresStore across processes (same table)', () => {
  const table = tableName('proc')
  const spec = { kind: 'postgres' as const, connectionString: PG_URL, table }

  it('lets a child process verify a token, after building the child once', async () => {
    const auth = new AuthX({ secretKey: SECRET })
    const token = await auth.createAccessToken({ uid: 'warm-up' })
    expect(await runChild({ store: spec, secret: SECRET, action: 'verify', token })).toEqual({
      ok: true,
      sub: 'warm-up',
    })
  }, 60_000)

  it('of 50 simultaneous refreshes of one token, 4 in child processes and 46 here, exactly one succeeds', async () => {
    const store = new PostgresStore({ pool: newPool(), table })
    const auth = new AuthX({ secretKey: SECRET, store, revocation: { timeoutMs: 5000 } })
    const { refreshToken } = await auth.createTokenPair({ uid: 'cross-rotation' })
    // The pool's 10 connections are open before the race.
    await Promise.all(Array.from({ length: 20 }, (_, i) => store.get([`warm${i}`])))
    await expectOneRefreshWins(spec, auth, refreshToken, SECRET)
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
