/**
 * The circuit breaker of RedisStore and PostgresStore against the real servers (issue 10 item 3,
 * security catalogue K04), each store given its connection both ways (Redis: a `url` and an
 * ioredis client; PostgreSQL: a `connectionString` and a pg Pool), each behind a TCP proxy
 * (test/support/tcp-proxy.ts) that either black-holes (a network that drops packets: calls wait
 * for their timeout) or refuses (a stopped server: calls fail at once):
 * - the 503 latency of verifications before the breaker opens and after (printed, and written to
 *   .tmp/breaker-latency.json); after opening, calls fail without waiting for the timeout, and
 *   nothing is accepted while open: no verification, no revoked token, no refresh;
 * - through the Web adapter, the HTTP answer is 503 with Retry-After;
 * - events in order through `store.onEvent` and `auth.on`: circuit_open, then after the
 *   cool-down circuit_half_open and either circuit_open again (still down) or circuit_closed;
 * - while half-open, one call only reaches the server;
 * - `circuitBreaker: false` never opens; bad or unknown options are refused.
 * The breaker's logic on fake timers is in breaker-unit.test.ts.
 */
import { randomBytes, randomUUID } from 'node:crypto'
import { mkdir, writeFile } from 'node:fs/promises'
import { Redis } from 'ioredis'
import pg from 'pg'
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest'
import { webAuthX, withAuthXErrors } from '../../src/adapters/web.js'
import { AuthX, ConfigError, RevokedTokenError, StoreUnavailableError } from '../../src/index.js'
import { PostgresStore } from '../../src/stores/postgres.js'
import { RedisStore } from '../../src/stores/redis.js'
import { dropPostgresTables } from '../support/postgres.js'
import { deleteRedisPrefixes } from '../support/redis.js'
import { type ProxyMode, type TcpProxy, tcpProxy } from '../support/tcp-proxy.js'
import { postgresMissing, SECRET, storesRequired } from './conformance.js'

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'
const PG_URL = 'postgres://postgres@127.0.0.1:5432/test'
/** The store's own per-call deadline (RedisStore `commandTimeoutMs`, PostgresStore `timeoutMs`). */
const STORE_TIMEOUT_MS = 600
/** Longer than the store's, so the latency before opening is the store's deadline. */
const REVOCATION_TIMEOUT_MS = 2000
/**
 * A call that fails "at once" while the circuit is open fails well before the deadline it
 * would otherwise wait for: half of it. A behaviour bound, not a speed figure (an immediate
 * rejection takes well under a millisecond; the margin is for a busy machine).
 */
const AT_ONCE_BOUND_MS = STORE_TIMEOUT_MS / 2
const noop = () => {}
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

type Server = 'redis' | 'postgres'
type Store = RedisStore | PostgresStore

/** Why the server does not answer, or `undefined` when it does. */
async function redisMissing(): Promise<string | undefined> {
  const client = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 0, connectTimeout: 1000 })
  client.on('error', noop)
  try {
    await client.connect()
    await client.ping()
    return undefined
  } catch (err) {
    return `Redis at ${REDIS_URL} is unreachable (${String(err)})`
  } finally {
    client.disconnect()
  }
}

const missing: Record<Server, string | undefined> = { redis: undefined, postgres: undefined }
beforeAll(async () => {
  ;[missing.redis, missing.postgres] = await Promise.all([redisMissing(), postgresMissing(PG_URL)])
})

/** Skips when the server is missing; fails instead in CI (the pattern of conformance.ts). */
function need(server: Server, ctx: { skip: (note?: string) => void }): void {
  const reason = missing[server]
  if (reason === undefined) return
  if (storesRequired()) throw new Error(`${server} is required in CI but unavailable: ${reason}`)
  ctx.skip(reason)
}

const prefixes: string[] = []
const tables: string[] = []
const run = `authx_cb${process.pid}_${randomUUID().slice(0, 8)}`

/** Proxies of the current test, cut before anything else is closed (a hung close waits for nothing). */
const proxies: TcpProxy[] = []
/** Things to undo after each test, last first. */
const undo: (() => Promise<unknown> | unknown)[] = []
afterEach(async () => {
  for (const proxy of proxies) proxy.set('refuse')
  while (undo.length > 0) await Promise.resolve(undo.pop()!()).catch(noop)
  for (const proxy of proxies.splice(0)) await proxy.close()
})

afterAll(async () => {
  if (missing.redis === undefined) await deleteRedisPrefixes(prefixes, REDIS_URL)
  if (missing.postgres === undefined) await dropPostgresTables(tables, PG_URL)
})

interface Subject {
  store: Store
  /** Calls the store handed to its client (an ioredis client or a pg Pool); `undefined` when it owns it. */
  reached(): number | undefined
}

interface Kind {
  server: Server
  /** A store whose connection goes through the proxy on `port`. */
  make(port: number, circuitBreaker?: { failures?: number; coolDownMs?: number } | false): Subject
}

function breakerOption(circuitBreaker: { failures?: number; coolDownMs?: number } | false | undefined) {
  return circuitBreaker === undefined ? {} : { circuitBreaker }
}

function uniquePrefix(): string {
  const prefix = `authx-cb:${randomBytes(6).toString('hex')}:`
  prefixes.push(prefix)
  return prefix
}

function uniqueTable(): string {
  const table = `${run}_${tables.length}`
  tables.push(table)
  return table
}

const kinds: Record<string, Kind> = {
  'RedisStore with a url': {
    server: 'redis',
    make(port, circuitBreaker) {
      const store = new RedisStore({
        url: `redis://127.0.0.1:${port}`,
        prefix: uniquePrefix(),
        commandTimeoutMs: STORE_TIMEOUT_MS,
        ...breakerOption(circuitBreaker),
      })
      undo.push(() => store.close())
      return { store, reached: () => undefined }
    },
  },
  'RedisStore with an ioredis client': {
    server: 'redis',
    make(port, circuitBreaker) {
      // Configured as docs/stores.md asks: a dead connection is replaced, nothing is resent.
      const client = new Redis(`redis://127.0.0.1:${port}`, {
        socketTimeout: 2 * STORE_TIMEOUT_MS,
        connectTimeout: 1000,
        maxRetriesPerRequest: 0,
        autoResendUnfulfilledCommands: false,
        retryStrategy: (attempt: number) => Math.min(attempt * 50, 500),
      })
      client.on('error', noop)
      undo.push(() => client.disconnect())
      const mget = vi.spyOn(client, 'mget')
      const set = vi.spyOn(client, 'set')
      const store = new RedisStore({
        client,
        prefix: uniquePrefix(),
        commandTimeoutMs: STORE_TIMEOUT_MS,
        ...breakerOption(circuitBreaker),
      })
      undo.push(() => store.close())
      return { store, reached: () => mget.mock.calls.length + set.mock.calls.length }
    },
  },
  'PostgresStore with a connectionString': {
    server: 'postgres',
    make(port, circuitBreaker) {
      const store = new PostgresStore({
        connectionString: `postgres://postgres@127.0.0.1:${port}/test`,
        table: uniqueTable(),
        timeoutMs: STORE_TIMEOUT_MS,
        ...breakerOption(circuitBreaker),
      })
      undo.push(() => store.close())
      return { store, reached: () => undefined }
    },
  },
  'PostgresStore with a pg Pool': {
    server: 'postgres',
    make(port, circuitBreaker) {
      // Configured as the PostgresStore documentation asks: connections that hang are freed.
      const pool = new pg.Pool({
        connectionString: `postgres://postgres@127.0.0.1:${port}/test`,
        connectionTimeoutMillis: STORE_TIMEOUT_MS,
        query_timeout: STORE_TIMEOUT_MS,
        max: 4,
      })
      pool.on('error', noop)
      undo.push(() => pool.end())
      const query = vi.spyOn(pool, 'query')
      const store = new PostgresStore({
        pool,
        table: uniqueTable(),
        timeoutMs: STORE_TIMEOUT_MS,
        ...breakerOption(circuitBreaker),
      })
      undo.push(() => store.close())
      return { store, reached: () => query.mock.calls.length }
    },
  },
}

async function proxyTo(server: Server): Promise<TcpProxy> {
  const proxy =
    server === 'redis'
      ? await tcpProxy(new URL(REDIS_URL).hostname, Number(new URL(REDIS_URL).port || 6379))
      : await tcpProxy('127.0.0.1', 5432)
  proxies.push(proxy)
  return proxy
}

const CIRCUIT_EVENTS = ['store.circuit_open', 'store.circuit_half_open', 'store.circuit_closed'] as const
type Seen = [event: string, data: unknown]

/** An AuthX on `store`, recording the circuit events seen by `store.onEvent` and by `auth.on`. */
function authOn(store: Store) {
  const fromStore: Seen[] = []
  const fromAuth: Seen[] = []
  const stop = store.onEvent((event, data) => {
    if ((CIRCUIT_EVENTS as readonly string[]).includes(event)) fromStore.push([event, data])
  })
  undo.push(stop)
  const auth = new AuthX({ secretKey: SECRET, store, revocation: { timeoutMs: REVOCATION_TIMEOUT_MS } })
  for (const event of CIRCUIT_EVENTS) auth.on(event, (data) => fromAuth.push([event, data]))
  const refreshed = vi.fn()
  auth.on('token.refreshed', refreshed)
  return { auth, fromStore, fromAuth, names: () => fromStore.map(([event]) => event), refreshed }
}

/** Retries `call` until it resolves, for at most `ms`. */
async function eventually<T>(call: () => Promise<T>, ms = 20_000): Promise<T> {
  const deadline = Date.now() + ms
  for (;;) {
    try {
      return await call()
    } catch (err) {
      if (Date.now() > deadline) throw err
      await sleep(50)
    }
  }
}

/** Runs `call`, expects StoreUnavailableError, and returns how long it took and the error. */
async function unavailable(
  call: () => Promise<unknown>,
): Promise<{ ms: number; err: StoreUnavailableError }> {
  const started = performance.now()
  const outcome = await call().then(
    (value) => ({ failed: false as const, value }),
    (err: unknown) => ({ failed: true as const, err }),
  )
  const ms = performance.now() - started
  // Never accepted: not a payload, not a new token pair, not RevokedTokenError passed off as an answer.
  expect(outcome.failed, 'a call was accepted while the store was down').toBe(true)
  if (!outcome.failed) throw new Error('unreachable')
  expect(outcome.err).toBeInstanceOf(StoreUnavailableError)
  expect(outcome.err).toMatchObject({ status: 503, code: 'ERR_STORE_UNAVAILABLE' })
  return { ms, err: outcome.err as StoreUnavailableError }
}

/** Whether the error is the breaker's immediate answer (the call never reached the server). */
function fromOpenCircuit(err: unknown): boolean {
  for (let e = err; e instanceof Error; e = e.cause) if (/circuit open/.test(e.message)) return true
  return false
}

/** Tokens for a test: one good pair, and an access token revoked while the server was up. */
async function tokensOn(auth: AuthX) {
  const good = await auth.createTokenPair({ uid: 'good' })
  const revoked = await auth.createAccessToken({ uid: 'revoked' })
  // The pool's or client's first connection, and PostgreSQL's table, are made here.
  await eventually(() => auth.verifyToken(good.accessToken))
  await auth.revokeToken(revoked)
  await expect(auth.verifyToken(revoked)).rejects.toBeInstanceOf(RevokedTokenError)
  return { good, revoked }
}

const summary = (samples: number[]) => {
  const sorted = [...samples].sort((a, b) => a - b)
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!
  const round = (ms: number) => Math.round(ms * 100) / 100
  return { n: sorted.length, medianMs: round(at(0.5)), p99Ms: round(at(0.99)), maxMs: round(sorted.at(-1)!) }
}
const latencies: Record<string, unknown> = {}

afterAll(async () => {
  if (Object.keys(latencies).length === 0) return
  await mkdir('.tmp', { recursive: true })
  const report = {
    measured: new Date().toISOString(),
    command: 'AUTHX_REQUIRE_STORES=1 npx vitest run test/stores/circuit-breaker.test.ts',
    storeTimeoutMs: STORE_TIMEOUT_MS,
    revocationTimeoutMs: REVOCATION_TIMEOUT_MS,
    breaker: { failures: 5 },
    results: latencies,
  }
  await writeFile('.tmp/breaker-latency.json', `${JSON.stringify(report, null, 2)}\n`)
  console.log('[breaker latency] written to .tmp/breaker-latency.json')
})

const modes: ProxyMode[] = ['black-hole', 'refuse']

describe.each(Object.keys(kinds))('%s: circuit breaker', (name) => {
  const kind = kinds[name]!

  describe.each(modes)('server %s', (mode) => {
    it('answers 503 at once once open, and accepts nothing while open (latency measured)', async (ctx) => {
      need(kind.server, ctx)
      const proxy = await proxyTo(kind.server)
      // Default threshold (5); a cool-down longer than the test, so the circuit stays open.
      const { store } = kind.make(proxy.port, { coolDownMs: 60_000 })
      const { auth, fromStore, fromAuth, names, refreshed } = authOn(store)
      const { good, revoked } = await tokensOn(auth)

      proxy.set(mode)
      // Before: each verification waits for the store (its deadline, or the refusal).
      const before: number[] = []
      for (let i = 0; i < 5; i++) {
        expect(names(), `open after ${i} failures`).toEqual([])
        const { ms, err } = await unavailable(() =>
          auth.verifyToken(i % 2 === 0 ? revoked : good.accessToken),
        )
        expect(fromOpenCircuit(err)).toBe(false)
        before.push(ms)
      }
      const opened = { store: store instanceof RedisStore ? 'RedisStore' : 'PostgresStore' }
      expect(fromStore).toEqual([['store.circuit_open', { ...opened, failures: 5, coolDownMs: 60_000 }]])
      expect(fromAuth).toEqual(fromStore)

      // After: every call is answered at once, and none is accepted.
      const after: number[] = []
      for (let i = 0; i < 25; i++) {
        for (const call of [
          () => auth.verifyToken(good.accessToken),
          () => auth.verifyToken(revoked),
          () => auth.verifyToken(good.refreshToken, { type: 'refresh' }),
          () => auth.refresh(good.refreshToken),
          () => auth.revokeToken(good.accessToken),
        ]) {
          const { ms, err } = await unavailable(call)
          expect(fromOpenCircuit(err)).toBe(true)
          after.push(ms)
        }
      }
      expect(refreshed).not.toHaveBeenCalled()
      expect(Math.max(...after)).toBeLessThan(AT_ONCE_BOUND_MS)
      expect(names()).toEqual(['store.circuit_open'])

      // Before opening, each sample too: a refused or dropped connection fails some calls at once.
      const figures = {
        before: { ...summary(before), samplesMs: before.map((ms) => Math.round(ms * 100) / 100) },
        after: summary(after),
      }
      latencies[`${name} / ${mode}`] = figures
      console.log(
        `[breaker latency] ${name}, server ${mode}: before opening ${JSON.stringify(figures.before)}; ` +
          `after ${JSON.stringify(figures.after)} (store timeout ${STORE_TIMEOUT_MS} ms)`,
      )
    })

    it('events in order: open, half-open after the cool-down, open again while down, closed once back', async (ctx) => {
      need(kind.server, ctx)
      const proxy = await proxyTo(kind.server)
      const coolDownMs = 1000
      const { store } = kind.make(proxy.port, { failures: 3, coolDownMs })
      const { auth, fromStore, fromAuth, names } = authOn(store)
      const { good, revoked } = await tokensOn(auth)

      proxy.set(mode)
      for (let i = 0; i < 3; i++) await unavailable(() => auth.verifyToken(good.accessToken))
      const storeName = store instanceof RedisStore ? 'RedisStore' : 'PostgresStore'
      expect(fromStore).toEqual([['store.circuit_open', { store: storeName, failures: 3, coolDownMs }]])

      // Cool-down over, server still down: the probe goes through, fails, and the circuit opens again.
      await sleep(coolDownMs + 100)
      const probe = await unavailable(() => auth.verifyToken(good.accessToken))
      expect(fromOpenCircuit(probe.err)).toBe(false)
      expect(names()).toEqual(['store.circuit_open', 'store.circuit_half_open', 'store.circuit_open'])
      expect(fromStore[1]![1]).toEqual({ store: storeName })
      expect(fromStore[2]![1]).toMatchObject({ store: storeName, coolDownMs })
      // And it is open again for a whole cool-down.
      expect(fromOpenCircuit((await unavailable(() => auth.verifyToken(good.accessToken))).err)).toBe(true)

      // Server back: probes go on failing until the client has a working connection again
      // (a black-holed one must first be dropped), then one succeeds and closes the circuit.
      proxy.set('forward')
      const payload = await eventually(async () => {
        try {
          return await auth.verifyToken(good.accessToken)
        } catch (err) {
          await sleep(fromOpenCircuit(err) ? 100 : 0)
          throw err
        }
      }, 30_000)
      expect(payload.sub).toBe('good')
      const sequence = names().join(' ')
      expect(sequence).toMatch(
        /^store\.circuit_open( store\.circuit_half_open store\.circuit_open)+ store\.circuit_half_open store\.circuit_closed$/,
      )
      expect(fromStore.at(-1)).toEqual(['store.circuit_closed', { store: storeName }])
      expect(fromAuth).toEqual(fromStore)
      // Closed: the revocation made before the outage still holds, and calls run again.
      await expect(auth.verifyToken(revoked)).rejects.toBeInstanceOf(RevokedTokenError)
      const next = await auth.refresh(good.refreshToken)
      expect((await auth.verifyToken(next.accessToken)).sub).toBe('good')
    })

    it('while half-open, one call only reaches the server; the others fail at once', async (ctx) => {
      need(kind.server, ctx)
      const proxy = await proxyTo(kind.server)
      const coolDownMs = 1000
      const subject = kind.make(proxy.port, { failures: 2, coolDownMs })
      const { auth, names } = authOn(subject.store)
      const { good } = await tokensOn(auth)

      proxy.set(mode)
      for (let i = 0; i < 2; i++) await unavailable(() => auth.verifyToken(good.accessToken))
      expect(names()).toEqual(['store.circuit_open'])
      await sleep(coolDownMs + 100)

      const reachedBefore = subject.reached()
      const results = await Promise.allSettled(
        Array.from({ length: 20 }, (_, i) =>
          i % 4 === 3 ? auth.refresh(good.refreshToken) : auth.verifyToken(good.accessToken),
        ),
      )
      const errors = results.map((r) => (r.status === 'rejected' ? r.reason : r.value))
      for (const err of errors) expect(err).toBeInstanceOf(StoreUnavailableError)
      // Exactly one went through the breaker (the probe); the others were answered by it.
      expect(errors.filter((err) => !fromOpenCircuit(err))).toHaveLength(1)
      const reachedAfter = subject.reached()
      if (reachedBefore !== undefined && reachedAfter !== undefined)
        expect(reachedAfter - reachedBefore).toBeLessThanOrEqual(1)
      expect(names()).toEqual(['store.circuit_open', 'store.circuit_half_open', 'store.circuit_open'])
    })

    it('circuitBreaker: false never opens: every call waits for the server', async (ctx) => {
      need(kind.server, ctx)
      const proxy = await proxyTo(kind.server)
      const subject = kind.make(proxy.port, false)
      const { auth, names } = authOn(subject.store)
      const { good, revoked } = await tokensOn(auth)

      proxy.set(mode)
      // More failures in a row than the default threshold.
      for (let i = 0; i < 7; i++) {
        const { err } = await unavailable(() => auth.verifyToken(i % 2 === 0 ? revoked : good.accessToken))
        expect(fromOpenCircuit(err)).toBe(false)
      }
      expect(names()).toEqual([])
      proxy.set('forward')
      expect((await eventually(() => auth.verifyToken(good.accessToken))).sub).toBe('good')
      await expect(auth.verifyToken(revoked)).rejects.toBeInstanceOf(RevokedTokenError)
      expect(names()).toEqual([])
    })
  })

  it('refuses bad circuitBreaker options with a TypeError, and unknown names', () => {
    const port = 1 // never connected: the options are checked first
    const bad: unknown[] = [
      { failures: 0 },
      { failures: 2.5 },
      { failures: '5' },
      { coolDownMs: 0 },
      { coolDownMs: -1 },
      { coolDownMs: Number.NaN },
      true,
      null,
      'off',
    ]
    for (const circuitBreaker of bad) {
      expect(() => kind.make(port, circuitBreaker as never), JSON.stringify(circuitBreaker)).toThrow(
        TypeError,
      )
    }
    expect(() => kind.make(port, { failure: 3 } as never)).toThrow(/circuitBreaker\.failure: unknown option/)
    expect(() => kind.make(port, { coolDown: 1000 } as never)).toThrow(TypeError)
  })
})

describe('circuit breaker options at the store level', () => {
  it.each([
    ['RedisStore', () => new RedisStore({ url: 'redis://127.0.0.1:1', circuitbreaker: false } as never)],
    ['RedisStore', () => new RedisStore({ url: 'redis://127.0.0.1:1', breaker: {} } as never)],
    ['PostgresStore', () => new PostgresStore({ connectionString: PG_URL, circuitbreaker: false } as never)],
    ['PostgresStore', () => new PostgresStore({ connectionString: PG_URL, breaker: {} } as never)],
  ])('%s refuses a misspelt option name with ConfigError', (_store, make) => {
    expect(make).toThrow(ConfigError)
    expect(make).toThrow(/unknown option/)
  })
})

describe('through the Web adapter', () => {
  it('an open circuit answers HTTP 503 with Retry-After, for a guarded route and a refresh', async (ctx) => {
    need('redis', ctx)
    const proxy = await proxyTo('redis')
    const coolDownMs = 60_000
    const { store } = kinds['RedisStore with a url']!.make(proxy.port, { failures: 2, coolDownMs })
    const { auth, names } = authOn(store)
    const { good } = await tokensOn(auth)
    const authx = webAuthX(auth)
    const profile = authx.accessRequired(async (_req, payload) => Response.json({ sub: payload.sub }))
    const refresh = withAuthXErrors(async (req: Request) =>
      Response.json(await auth.refresh(await req.text())),
    )
    const get = () =>
      profile(new Request('http://l/profile', { headers: { authorization: `Bearer ${good.accessToken}` } }))
    expect((await get()).status).toBe(200)

    proxy.set('black-hole')
    for (let i = 0; i < 2; i++) expect((await get()).status).toBe(503)
    expect(names()).toEqual(['store.circuit_open'])

    for (const res of [
      await get(),
      await refresh(new Request('http://l/refresh', { method: 'POST', body: good.refreshToken })),
    ]) {
      expect(res.status).toBe(503)
      expect(((await res.json()) as { code: string }).code).toBe('ERR_STORE_UNAVAILABLE')
      const retryAfter = res.headers.get('retry-after')
      expect(retryAfter).toMatch(/^\d+$/)
      // The cool-down left (60 s less the few ms since it opened), not a generic 1 s.
      expect(Number(retryAfter)).toBe(Math.ceil(coolDownMs / 1000))
      expect(res.headers.get('cache-control')).toBe('no-store')
    }
  })
})
