/**
 * RedisStore faults (SPEC section 7; catalogue K01-K03, K06), with an ioredis client, a
 * node-redis client (both with their default settings) and a `url`:
 * - Redis down (a closed port) and Redis slow (a TCP server that accepts and never answers):
 *   503 with Retry-After within `revocation.timeoutMs` + 400 ms, never acceptance, and nothing
 *   queued in the client;
 * - a proxy switched between black hole and forwarding to the real Redis: failed commands are
 *   not sent once Redis is back, a hung connection holds a bounded number of commands, and the
 *   same instance works again without a restart;
 * - a client answering garbage: 503, never "not revoked".
 */
import { randomBytes } from 'node:crypto'
import net from 'node:net'
import { Redis } from 'ioredis'
import { createClient } from 'redis'
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest'
import {
  AuthX,
  errorToResponse,
  RefreshTokenReusedError,
  RevokedTokenError,
  StoreUnavailableError,
} from '../../src/index.js'
import { type IoRedisLike, type NodeRedisLike, RedisStore } from '../../src/stores/redis.js'
import { deleteRedisPrefixes, REDIS_URL, redisMissing } from '../support/redis.js'
import { SECRET, storesRequired } from './conformance.js'

const TIMEOUT_MS = 200
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

let missing: string | undefined
beforeAll(async () => {
  missing = await redisMissing(REDIS_URL, 500)
})

/** Skips the test when Redis is missing (fails it in CI, as the conformance suite does). */
function needRedis(ctx: { skip: (note?: string) => void }): void {
  if (missing === undefined) return
  if (storesRequired()) throw new Error(`Redis is required in CI but unavailable: ${missing}`)
  ctx.skip(missing)
}

const prefixes: string[] = []
function uniquePrefix(): string {
  const prefix = `authx-test:${randomBytes(8).toString('hex')}:`
  prefixes.push(prefix)
  return prefix
}

afterAll(async () => {
  if (missing === undefined) await deleteRedisPrefixes(prefixes)
})

/** Things to undo after each test, last first. */
const undo: (() => Promise<unknown> | unknown)[] = []
afterEach(async () => {
  while (undo.length > 0) await undo.pop()!()
})

function listen(server: net.Server): Promise<number> {
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => resolve((server.address() as net.AddressInfo).port)),
  )
}

/** A port nothing listens on: Redis is down (connection refused). */
async function closedPort(): Promise<number> {
  const server = net.createServer()
  const port = await listen(server)
  await new Promise((resolve) => server.close(resolve))
  return port
}

/** A server that accepts connections and never answers: Redis hangs. */
async function silentServer(): Promise<number> {
  const sockets = new Set<net.Socket>()
  const server = net.createServer((socket) => {
    sockets.add(socket)
    socket.resume()
    socket.on('error', () => {})
    socket.on('close', () => sockets.delete(socket))
  })
  const port = await listen(server)
  undo.push(() => {
    for (const socket of sockets) socket.destroy()
    return new Promise((resolve) => server.close(resolve))
  })
  return port
}

/**
 * A TCP proxy to the real Redis that can black-hole: while black-holed it accepts connections
 * and holds what either side sends (a network partition: TCP keeps the bytes and delivers
 * them when it heals), and forwarding flushes what it held. It counts the MGET commands it
 * delivered to Redis.
 */
async function blackHoleProxy(initial: 'forward' | 'black-hole') {
  const { hostname, port } = new URL(REDIS_URL)
  interface Link {
    client: net.Socket
    upstream: net.Socket
    toRedis: Buffer[]
    toClient: Buffer[]
    /** Black-holed for good: its peer is gone and only a new connection gets through. */
    dead: boolean
  }
  // `hold-writes`: replies and reads pass, a SET and all after it on its connection are held.
  let mode: 'forward' | 'black-hole' | 'hold-writes' = initial
  const links = new Set<Link>()
  let delivered = ''
  const toRedis = (link: Link, data: Buffer) => {
    delivered += data.toString('latin1')
    link.upstream.write(data)
  }
  const holds = (link: Link, data: Buffer) =>
    link.dead ||
    mode === 'black-hole' ||
    link.toRedis.length > 0 ||
    (mode === 'hold-writes' && /\r\nset\r\n/i.test(data.toString('latin1')))
  const server = net.createServer((client) => {
    const upstream = net.connect({ host: hostname, port: Number(port || 6379) })
    const link: Link = { client, upstream, toRedis: [], toClient: [], dead: false }
    links.add(link)
    client.on('data', (data) => (holds(link, data) ? link.toRedis.push(data) : toRedis(link, data)))
    upstream.on('data', (data) =>
      link.dead || mode === 'black-hole' ? link.toClient.push(data) : client.write(data),
    )
    const close = () => {
      links.delete(link)
      client.destroy()
      upstream.destroy()
    }
    for (const socket of [client, upstream]) {
      socket.on('error', () => {})
      socket.on('close', close)
    }
  })
  const proxyPort = await listen(server)
  const reset = () => {
    for (const link of links) {
      link.client.destroy()
      link.upstream.destroy()
    }
  }
  undo.push(() => {
    reset()
    return new Promise((resolve) => server.close(resolve))
  })
  return {
    url: `redis://127.0.0.1:${proxyPort}`,
    blackHole() {
      mode = 'black-hole'
    },
    holdWrites() {
      mode = 'hold-writes'
    },
    /**
     * Forwards again. `heal: false`: the connections black-holed so far stay so forever (a
     * zombie TCP connection), only new ones get through.
     */
    forward({ heal = true } = {}) {
      mode = 'forward'
      for (const link of links) {
        if (!heal) link.dead = true
        if (link.dead) continue
        for (const data of link.toRedis.splice(0)) toRedis(link, data)
        for (const data of link.toClient.splice(0)) link.client.write(data)
      }
    },
    /** Drops every connection, with what it held. */
    reset,
    /** MGET commands delivered to Redis so far. */
    mgets: () => delivered.match(/\r\nmget\r\n/gi)?.length ?? 0,
  }
}

interface Subject {
  store: RedisStore
  /** MGET commands the store handed to the client (undefined: the store's own client). */
  mgetCalls(): number | undefined
  /** Commands the client holds in its offline and reply queues (ioredis only). */
  queued(): { offline: number; awaitingReply: number } | undefined
}

/**
 * The three ways of giving RedisStore its connection. The clients keep their default
 * settings (offline queue on, no command timeout): the store must bound them itself. The
 * store's `commandTimeoutMs` is the revocation timeout, as its documentation asks.
 */
const kinds: Record<string, (url: string, options?: { maxPendingCommands?: number }) => Subject> = {
  'an ioredis client': (url, options) => {
    const client = new Redis(url)
    client.on('error', () => {})
    undo.push(() => client.disconnect())
    const mget = vi.spyOn(client, 'mget')
    const store = new RedisStore({ client, prefix: uniquePrefix(), commandTimeoutMs: TIMEOUT_MS, ...options })
    const internals = client as unknown as {
      offlineQueue: { length: number }
      commandQueue: { length: number }
    }
    return {
      store,
      mgetCalls: () => mget.mock.calls.length,
      queued: () => ({
        offline: internals.offlineQueue.length,
        awaitingReply: internals.commandQueue.length,
      }),
    }
  },
  'a node-redis client': (url, options) => {
    const client = createClient({ url })
    client.on('error', () => {})
    client.connect().catch(() => {})
    undo.push(() => (client.isOpen ? client.destroy() : undefined))
    const mget = vi.spyOn(client, 'mGet')
    const store = new RedisStore({ client, prefix: uniquePrefix(), commandTimeoutMs: TIMEOUT_MS, ...options })
    return { store, mgetCalls: () => mget.mock.calls.length, queued: () => undefined }
  },
  'a url': (url, options) => {
    const store = new RedisStore({ url, prefix: uniquePrefix(), commandTimeoutMs: TIMEOUT_MS, ...options })
    undo.push(() => store.close())
    return { store, mgetCalls: () => undefined, queued: () => undefined }
  },
}

function authOn(store: RedisStore): AuthX {
  return new AuthX({ secretKey: SECRET, store, revocation: { timeoutMs: TIMEOUT_MS } })
}

/** Whether the store's circuit breaker answered (the call never reached the server). */
function circuitOpen(err: unknown): boolean {
  for (let e = err; e instanceof Error; e = e.cause) if (/circuit open/.test(e.message)) return true
  return false
}

/**
 * Runs `call` and expects StoreUnavailableError (503, Retry-After 1, or the cool-down left once
 * the circuit breaker is open) within the revocation
 * timeout plus a generous margin.
 */
async function expectUnavailable(call: () => Promise<unknown>): Promise<void> {
  const started = performance.now()
  const outcome = await call().then(
    (value) => ({ failed: false as const, value }),
    (error: unknown) => ({ failed: true as const, error }),
  )
  const elapsed = performance.now() - started
  expect(outcome.failed).toBe(true)
  if (!outcome.failed) return
  const err = outcome.error
  expect(err).toBeInstanceOf(StoreUnavailableError)
  expect(err).toMatchObject({ code: 'ERR_STORE_UNAVAILABLE', status: 503 })
  // 1 s, or, once the circuit breaker has opened, the time its cool-down has left (default 5 s).
  const { retryAfter } = err as StoreUnavailableError
  if (circuitOpen(err)) expect([1, 2, 3, 4, 5]).toContain(retryAfter)
  else expect(retryAfter).toBe(1)
  expect(errorToResponse(err as StoreUnavailableError).headers.get('retry-after')).toBe(String(retryAfter))
  expect(elapsed).toBeLessThanOrEqual(TIMEOUT_MS + 400)
}

/** Retries `call` until it resolves, for at most `ms`; returns its value. */
async function eventually<T>(call: () => Promise<T>, ms = 15_000): Promise<T> {
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

describe.each(Object.keys(kinds))('RedisStore with %s: faults', (kind) => {
  const make = kinds[kind]!

  it('fails verification, revocation and refresh with 503 within the timeout while Redis is down', async () => {
    const { store } = make(`redis://127.0.0.1:${await closedPort()}`)
    const auth = authOn(store)
    const pair = await auth.createTokenPair({ uid: 'down' })
    const { fid } = await auth.decodeToken(pair.refreshToken)
    // Spaced out, so the client is met connecting, failing and waiting to reconnect.
    for (let i = 0; i < 5; i++) {
      await expectUnavailable(() => auth.verifyToken(pair.accessToken))
      await expectUnavailable(() => auth.verifyToken(pair.refreshToken, { type: 'refresh' }))
      await sleep(60)
    }
    await expectUnavailable(() => auth.revokeToken(pair.accessToken))
    await expectUnavailable(() => auth.revokeFamily(fid!))
    await expectUnavailable(() => auth.revokeAllForSubject('down'))
    const issued = vi.fn()
    auth.on('token.refreshed', issued)
    await expectUnavailable(() => auth.refresh(pair.refreshToken))
    expect(issued).not.toHaveBeenCalled()
  })

  it('fails with 503 within the timeout when Redis accepts connections and never answers, queueing nothing', async () => {
    const subject = make(`redis://127.0.0.1:${await silentServer()}`)
    const auth = authOn(subject.store)
    const pair = await auth.createTokenPair({ uid: 'slow' })
    for (let i = 0; i < 3; i++) await expectUnavailable(() => auth.verifyToken(pair.accessToken))
    await expectUnavailable(() => auth.revokeToken(pair.accessToken))
    await expectUnavailable(() => auth.refresh(pair.refreshToken))

    const results = await Promise.allSettled(
      Array.from({ length: 200 }, () => auth.verifyToken(pair.accessToken)),
    )
    for (const r of results) {
      expect(r.status).toBe('rejected')
      if (r.status === 'rejected') expect(r.reason).toBeInstanceOf(StoreUnavailableError)
    }
    // The client never became ready, so the store handed it none of the 200: nothing waits
    // in its offline queue to be sent later. (With `url`, see the proxy test below.)
    const calls = subject.mgetCalls()
    if (calls !== undefined) expect(calls).toBe(0)
    const queued = subject.queued()
    if (queued !== undefined) expect(queued.offline).toBe(0)
  })

  it('does not send the commands that failed while Redis was unreachable once it is back', async (ctx) => {
    needRedis(ctx)
    const proxy = await blackHoleProxy('black-hole')
    const { store } = make(proxy.url)
    const auth = authOn(store)
    const pair = await auth.createTokenPair({ uid: 'partition' })
    const other = await auth.createTokenPair({ uid: 'other' })
    const results = await Promise.allSettled(
      Array.from({ length: 200 }, () => auth.verifyToken(pair.accessToken)),
    )
    expect(results.every((r) => r.status === 'rejected' && r.reason instanceof StoreUnavailableError)).toBe(
      true,
    )
    // Nothing may stay queued beyond the timeout; the margin covers the store's own timers.
    await sleep(TIMEOUT_MS)

    proxy.forward()
    // A SET, not an MGET: once it succeeds, any queued MGET would have been sent before it.
    await eventually(() => auth.revokeToken(other.accessToken))
    expect(proxy.mgets()).toBe(0)
    expect((await auth.verifyToken(pair.accessToken)).sub).toBe('partition')
    await expect(auth.verifyToken(other.accessToken)).rejects.toBeInstanceOf(RevokedTokenError)
  })

  it('holds at most maxPendingCommands commands while Redis hangs on an open connection', async (ctx) => {
    needRedis(ctx)
    const proxy = await blackHoleProxy('forward')
    const subject = make(proxy.url, { maxPendingCommands: 20 })
    const auth = authOn(subject.store)
    const pair = await auth.createTokenPair({ uid: 'hung' })
    await eventually(() => auth.verifyToken(pair.accessToken))
    const callsBefore = subject.mgetCalls() ?? 0
    const deliveredBefore = proxy.mgets()

    proxy.blackHole()
    const results = await Promise.allSettled(
      Array.from({ length: 100 }, () => auth.verifyToken(pair.accessToken)),
    )
    expect(results.every((r) => r.status === 'rejected' && r.reason instanceof StoreUnavailableError)).toBe(
      true,
    )
    const calls = subject.mgetCalls()
    if (calls !== undefined) expect(calls - callsBefore).toBeLessThanOrEqual(20)
    const queued = subject.queued()
    if (queued !== undefined) expect(queued.offline + queued.awaitingReply).toBeLessThanOrEqual(20)

    // What the hung connection held reaches Redis when the network heals: at most 20 of 100.
    proxy.forward()
    expect(proxy.mgets() - deliveredBefore).toBeLessThanOrEqual(20)
    expect((await eventually(() => auth.verifyToken(pair.accessToken))).sub).toBe('hung')
  })

  it('works again without a restart once the network heals, with the same instance and store', async (ctx) => {
    needRedis(ctx)
    const proxy = await blackHoleProxy('forward')
    const { store } = make(proxy.url)
    const auth = authOn(store)
    const pair = await auth.createTokenPair({ uid: 'recover' })
    const during = await auth.createTokenPair({ uid: 'during' })
    const after = await auth.createTokenPair({ uid: 'after' })
    await eventually(() => auth.verifyToken(pair.accessToken))

    proxy.blackHole()
    for (let i = 0; i < 3; i++) await expectUnavailable(() => auth.verifyToken(pair.accessToken))
    // A logout during the outage reports failure, never a fake success (K03).
    await expectUnavailable(() => auth.revokeToken(during.accessToken))

    proxy.forward()
    expect((await eventually(() => auth.verifyToken(pair.accessToken))).sub).toBe('recover')
    await auth.revokeToken(after.accessToken)
    await expect(auth.verifyToken(after.accessToken)).rejects.toBeInstanceOf(RevokedTokenError)
    expect(auth.store).toBe(store)
  })
})

describe('RedisStore with a url: its own connection', () => {
  function ownStore(url: string): RedisStore {
    const store = new RedisStore({ url, prefix: uniquePrefix(), commandTimeoutMs: TIMEOUT_MS })
    undo.push(() => store.close())
    return store
  }

  it('drops a connection that stopped answering and recovers on a new one', async (ctx) => {
    needRedis(ctx)
    const proxy = await blackHoleProxy('forward')
    const auth = authOn(ownStore(proxy.url))
    const pair = await auth.createTokenPair({ uid: 'zombie' })
    await eventually(() => auth.verifyToken(pair.accessToken))
    proxy.blackHole()
    await expectUnavailable(() => auth.verifyToken(pair.accessToken))
    // The old connection never answers again (TCP would keep it open for minutes).
    proxy.forward({ heal: false })
    expect((await eventually(() => auth.verifyToken(pair.accessToken))).sub).toBe('zombie')
  })

  it('does not send a refresh token consumption again after answering 503 for it', async (ctx) => {
    needRedis(ctx)
    const proxy = await blackHoleProxy('forward')
    const auth = authOn(ownStore(proxy.url))
    const pair = await auth.createTokenPair({ uid: 'retry' })
    await eventually(() => auth.verifyToken(pair.accessToken))
    // The verification passes, the SET NX that consumes the token is held: 503.
    proxy.holdWrites()
    await expectUnavailable(() => auth.refresh(pair.refreshToken))
    // The connection drops with the SET; the client reconnects (and, with ioredis defaults,
    // would send it again, consuming the token after its caller was told 503).
    proxy.reset()
    proxy.forward()
    await eventually(() => auth.verifyToken(pair.accessToken))
    // The client retries its refresh: still its first use, not reuse.
    const next = await auth.refresh(pair.refreshToken)
    expect((await auth.verifyToken(next.accessToken)).sub).toBe('retry')
  })
})

describe('RedisStore with a url: closing', () => {
  it('closes its connection while Redis hangs, after commands failed on it', async () => {
    const sockets = new Set<net.Socket>()
    const server = net.createServer((socket) => {
      sockets.add(socket)
      // Reads (and drops) what it is sent, so it sees the client close.
      socket.resume()
      socket.on('error', () => {})
      socket.on('close', () => sockets.delete(socket))
    })
    const port = await listen(server)
    undo.push(() => new Promise((resolve) => server.close(resolve)))
    const store = new RedisStore({
      url: `redis://127.0.0.1:${port}`,
      prefix: uniquePrefix(),
      commandTimeoutMs: 100,
    })
    for (let i = 0; i < 100 && sockets.size === 0; i++) await sleep(20)
    const results = await Promise.allSettled(Array.from({ length: 20 }, () => store.get(['k'])))
    expect(results.every((r) => r.status === 'rejected')).toBe(true)
    // ioredis 6 drops a connection whose handshake (HELLO) times out and opens a new one, so
    // wait for the connection that is open now.
    for (let i = 0; i < 100 && sockets.size === 0; i++) await sleep(20)
    expect(sockets.size).toBeGreaterThan(0)
    await store.close()
    for (let i = 0; i < 100 && sockets.size > 0; i++) await sleep(20)
    expect(sockets.size).toBe(0)
  })

  it('stops reconnecting when closed before it ever connected', async () => {
    const port = await closedPort()
    const store = new RedisStore({ url: `redis://127.0.0.1:${port}`, prefix: uniquePrefix() })
    await expect(store.get(['k'])).rejects.toThrow()
    await store.close()
    await store.close()
    // Were the client still retrying (every second at most), it would connect here.
    let connections = 0
    const server = net.createServer((socket) => {
      connections++
      socket.destroy()
    })
    await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve))
    await sleep(1500)
    await new Promise((resolve) => server.close(resolve))
    expect(connections).toBe(0)
  })
})

type Garbage = (keys: string[]) => unknown

/** A client of either shape whose MGET and SET answer what the test says. */
function fakeClient(
  shape: 'ioredis' | 'node-redis',
  mget: Garbage,
  set: (args: unknown[]) => unknown = () => 'OK',
) {
  const writes: string[] = []
  const client =
    shape === 'ioredis'
      ? ({
          mget: async (...keys: string[]) => mget(keys),
          set: async (key: string, ...args: unknown[]) => {
            writes.push(key)
            return set(args)
          },
          del: async () => 1,
          quit: async () => 'OK',
        } as unknown as IoRedisLike)
      : ({
          mGet: async (keys: string[]) => mget(keys),
          set: async (key: string, ...args: unknown[]) => {
            writes.push(key)
            return set(args)
          },
          del: async () => 1,
        } as unknown as NodeRedisLike)
  return { client, writes }
}

const garbage: [string, Garbage][] = [
  ['a number', () => 42],
  ['null', () => null],
  ['a string', () => 'OK'],
  ['one value too few', (keys) => keys.slice(1).map(() => null)],
  ['one value too many', (keys) => [...keys.map(() => null), null]],
  ['an object per key', (keys) => keys.map(() => ({}))],
  ['a number per key', (keys) => keys.map(() => 0)],
  ['an array per key', (keys) => keys.map(() => [])],
]

describe.each(['ioredis', 'node-redis'] as const)(
  'security: a %s client answering garbage is a failure, never "not revoked" (K06)',
  (shape) => {
    it.each(garbage)('MGET answering %s: verification fails with 503', async (_name, answer) => {
      const { client } = fakeClient(shape, answer)
      const store = new RedisStore({ client, prefix: 'p:' })
      const auth = authOn(store)
      const pair = await auth.createTokenPair({ uid: 'garbage' })
      await expectUnavailable(() => auth.verifyToken(pair.accessToken))
      await expectUnavailable(() => auth.verifyToken(pair.refreshToken, { type: 'refresh' }))
      await expectUnavailable(() => auth.refresh(pair.refreshToken))
    })

    it('the store itself rejects an MGET answer of the wrong shape', async () => {
      for (const [, answer] of garbage) {
        const store = new RedisStore({ client: fakeClient(shape, answer).client })
        await expect(store.get(['a', 'b'])).rejects.toThrow()
      }
    })

    it.each([1, 0, undefined, 'QUEUED', { ok: 'OK' }])(
      'SET answering %j: a revocation fails with 503, not a silent success',
      async (reply) => {
        const { client } = fakeClient(
          shape,
          (keys) => keys.map(() => null),
          () => reply,
        )
        const auth = authOn(new RedisStore({ client }))
        const pair = await auth.createTokenPair({ uid: 'garbage' })
        await expectUnavailable(() => auth.revokeToken(pair.accessToken))
        await expectUnavailable(() => auth.revokeAllForSubject('garbage'))
      },
    )

    it.each([1, 0, undefined, 'QUEUED', true])(
      'SET NX answering %j: a refresh fails with 503 and revokes no family',
      async (reply) => {
        const { client, writes } = fakeClient(
          shape,
          (keys) => keys.map(() => null),
          () => reply,
        )
        const auth = authOn(new RedisStore({ client }))
        const pair = await auth.createTokenPair({ uid: 'garbage' })
        const reused = vi.fn()
        auth.on('token.reused', reused)
        await expectUnavailable(() => auth.refresh(pair.refreshToken))
        expect(reused).not.toHaveBeenCalled()
        expect(writes.some((key) => key.includes('fid:'))).toBe(false)
      },
    )

    it('SET NX answering null is "already used": reuse is detected', async () => {
      const { client } = fakeClient(
        shape,
        (keys) => keys.map((k) => (k.includes('used:') ? '1' : null)),
        (args) => (JSON.stringify(args).includes('NX') ? null : 'OK'),
      )
      const auth = authOn(new RedisStore({ client }))
      const pair = await auth.createTokenPair({ uid: 'reuse' })
      await expect(auth.refresh(pair.refreshToken)).rejects.toBeInstanceOf(RefreshTokenReusedError)
    })
  },
)
