/**
 * RedisStore's mirror (issue 10, item 1 and 2) in one process, on the real Redis of this machine:
 * it goes live with what was there before, answers revocation keys from memory (a verification
 * reads nothing from Redis), sees its own writes at once and the writes of any other client
 * through CLIENT TRACKING, expires entries with their TTL, stops answering past its bound,
 * reloads after a FLUSHDB, stops answering within maxLagMs of a server that stops answering, and
 * close() leaves nothing open. Cases that must flush, stop or reconfigure a server run on a
 * redis-server of their own: the shared one is used by other tests at the same time.
 */
import { execFile } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdirSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { build } from 'esbuild'
import { Cluster, Redis } from 'ioredis'
import { createClient } from 'redis'
import { afterAll, afterEach, describe, expect, it } from 'vitest'
import { familyKey, jtiKey } from '../../src/core/revocation.js'
import {
  AuthX,
  ConfigError,
  RevokedTokenError,
  StoreUnavailableError,
  type TokenPayload,
} from '../../src/index.js'
import { RedisStore, type RedisStoreOptions } from '../../src/stores/redis.js'
import { deleteRedisPrefixes, ownRedis, REDIS_URL, redisMissing } from '../support/redis.js'
import { SECRET, storesRequired } from './conformance.js'

const root = fileURLToPath(new URL('../..', import.meta.url))
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))
const noop = () => {}

const missing = await redisMissing(REDIS_URL, 500)
if (missing !== undefined) {
  if (storesRequired()) throw new Error(`Redis is required in CI but unavailable: ${missing}`)
  console.warn(`[skip] RedisStore mirror tests: ${missing}`)
}

/** Skips the test when Redis is missing (fails it in CI, as the conformance suite does). */
function needRedis(ctx: { skip: (note?: string) => void }): void {
  if (missing !== undefined) ctx.skip(missing)
}

const prefixes: string[] = []
function uniquePrefix(): string {
  const prefix = `authx-test:mirror:${randomBytes(8).toString('hex')}:`
  prefixes.push(prefix)
  return prefix
}

/** Things to undo after each test, last first. */
const undo: (() => Promise<unknown> | unknown)[] = []
afterEach(async () => {
  while (undo.length > 0) await undo.pop()!()
})

afterAll(async () => {
  if (missing === undefined) await deleteRedisPrefixes(prefixes)
})

/** An ioredis client closed after the test. */
function redis(url = REDIS_URL): Redis {
  const client = new Redis(url, { maxRetriesPerRequest: 1 })
  client.on('error', noop)
  undo.push(() => client.disconnect())
  return client
}

type Event = [string, Record<string, unknown>]

/** A store closed after the test, with the events it emitted. */
function makeStore(options: RedisStoreOptions): { store: RedisStore; events: Event[] } {
  const store = new RedisStore(options)
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

async function liveStore(options: RedisStoreOptions, lives = 1) {
  const made = makeStore(options)
  await waitFor(() => named(made.events, 'store.mirror_live').length >= lives, 'store.mirror_live', 10_000)
  return made
}

/** Counts the calls of `store.get`: a verification answered from memory makes none. */
function countGets(store: RedisStore): () => number {
  const get = store.get.bind(store)
  let calls = 0
  store.get = (keys) => {
    calls++
    return get(keys)
  }
  return () => calls
}

function authOf(store: RedisStore): AuthX {
  return new AuthX({ secretKey: SECRET, store })
}

const keyOf = (payload: TokenPayload) => jtiKey(payload.iss, payload.jti)

type OwnRedis = Awaited<ReturnType<typeof ownRedis>>

/** A redis-server of this test alone (stopped after it): one it may flush, pause or reconfigure. */
const ownDebugRedis = (): Promise<OwnRedis> => ownRedis(undo, ['--enable-debug-command', 'yes'])

/** The lines of CLIENT LIST naming the mirror's connection. */
async function mirrorConnections(admin: Redis): Promise<string[]> {
  const list = (await admin.call('CLIENT', 'LIST')) as string
  return list.split('\n').filter((line) => line.includes('name=authx-mirror'))
}

describe('RedisStore mirror', () => {
  it('goes live with the entries already there, answers revocation keys from memory, and a verification reads nothing', async (ctx) => {
    needRedis(ctx)
    const prefix = uniquePrefix()
    const admin = redis()
    await admin.set(`${prefix}jti:pre`, '1', 'EX', 600)
    await admin.set(`${prefix}sub:pre`, '123', 'EX', 600)
    await admin.set(`${prefix}fid:pre`, '1', 'EX', 600)
    // Not revocation keys: not held.
    await admin.set(`${prefix}used:pre`, '1', 'EX', 600)
    await admin.set(`${prefix}other`, '1', 'EX', 600)
    // A token revoked through a store without a mirror, before the mirror starts.
    const plain = makeStore({ url: REDIS_URL, prefix }).store
    const issuer = authOf(plain)
    const revoked = await issuer.createTokenPair({ uid: 'revoked' })
    const good = await issuer.createTokenPair({ uid: 'good' })
    await issuer.revokeToken(revoked.accessToken)

    const { store, events } = makeStore({ url: REDIS_URL, prefix, mirror: true })
    // Before it is live it does not answer.
    expect(store.getLocal(['jti:pre'])).toBeUndefined()
    await waitFor(() => named(events, 'store.mirror_live').length > 0, 'store.mirror_live')
    expect(named(events, 'store.mirror_live')).toEqual([
      ['store.mirror_live', { store: 'RedisStore', entries: 4 }],
    ])
    expect(store.getLocal(['jti:pre', 'sub:pre', 'fid:pre', 'jti:absent'])).toEqual(['1', '123', '1', null])
    expect(store.getLocal(['used:pre'])).toBeUndefined()
    expect(store.getLocal(['jti:pre', 'used:pre'])).toBeUndefined()
    expect(await mirrorConnections(admin)).not.toEqual([])

    const auth = authOf(store)
    const gets = countGets(store)
    expect((await auth.verifyToken(good.accessToken)).sub).toBe('good')
    await auth.verifyToken(good.refreshToken, { type: 'refresh' })
    await expect(auth.verifyToken(revoked.accessToken)).rejects.toBeInstanceOf(RevokedTokenError)
    expect(await auth.isRevoked(await auth.decodeToken(revoked.accessToken))).toBe(true)
    expect(gets()).toBe(0)
  })

  it('own writes: a token or family revoked on this instance is rejected at once, then from memory', async (ctx) => {
    needRedis(ctx)
    const { store } = await liveStore({ url: REDIS_URL, prefix: uniquePrefix(), mirror: true })
    const auth = authOf(store)
    const pair = await auth.createTokenPair({ uid: 'alice' })
    const family = await auth.createTokenPair({ uid: 'bob' })
    const payload = await auth.decodeToken(pair.accessToken)
    await auth.verifyToken(pair.accessToken)
    await auth.revokeToken(pair.accessToken)
    // No wait: the key is pending until read back, so this reads Redis.
    await expect(auth.verifyToken(pair.accessToken)).rejects.toBeInstanceOf(RevokedTokenError)
    const fid = (await auth.decodeToken(family.refreshToken)).fid!
    await auth.revokeFamily(fid)
    await expect(auth.verifyToken(family.accessToken)).rejects.toBeInstanceOf(RevokedTokenError)
    await expect(auth.verifyToken(family.refreshToken, { type: 'refresh' })).rejects.toBeInstanceOf(
      RevokedTokenError,
    )
    // Once read back, memory says the same, without a read.
    await waitFor(() => store.getLocal([keyOf(payload)]) !== undefined, 'the read-back')
    expect(store.getLocal([keyOf(payload), familyKey(payload.iss, fid)])).toEqual(['1', '1'])
    const gets = countGets(store)
    await expect(auth.verifyToken(pair.accessToken)).rejects.toBeInstanceOf(RevokedTokenError)
    await expect(auth.verifyToken(family.accessToken)).rejects.toBeInstanceOf(RevokedTokenError)
    expect(gets()).toBe(0)
  })

  it('sees a SET and a DEL made by another Redis client', async (ctx) => {
    needRedis(ctx)
    const prefix = uniquePrefix()
    const { store } = await liveStore({ url: REDIS_URL, prefix, mirror: true })
    const auth = authOf(store)
    const pair = await auth.createTokenPair({ uid: 'carol' })
    const key = keyOf(await auth.decodeToken(pair.accessToken))
    const other = redis()
    const delays: number[] = []
    for (let round = 0; round < 5; round++) {
      await other.set(`${prefix}${key}`, '1', 'EX', 600)
      delays.push(await waitFor(() => store.getLocal([key])?.[0] === '1', 'the SET to reach the mirror'))
      const gets = countGets(store)
      await expect(auth.verifyToken(pair.accessToken)).rejects.toBeInstanceOf(RevokedTokenError)
      await other.del(`${prefix}${key}`)
      delays.push(await waitFor(() => store.getLocal([key])?.[0] === null, 'the DEL to reach the mirror'))
      expect((await auth.verifyToken(pair.accessToken)).sub).toBe('carol')
      expect(gets()).toBe(0)
    }
    // A write of a key the mirror does not hold changes nothing it answers.
    await other.set(`${prefix}used:x`, '1', 'EX', 600)
    expect(store.getLocal([key])).toEqual([null])
    delays.sort((a, b) => a - b)
    console.log(
      `[redis mirror] another client's SET/DEL seen by the mirror after (ms, one process, 2 ms polling): median ${delays[5]!.toFixed(1)}, max ${delays.at(-1)!.toFixed(1)}`,
    )
  })

  it('expires entries locally with their TTL (own server, active expiry off)', async (ctx) => {
    needRedis(ctx)
    const server = await ownDebugRedis()
    const admin = redis(server.url)
    // Redis then deletes no expired key by itself, so no invalidation says it expired: the
    // mirror must drop it on its own clock.
    await admin.call('DEBUG', 'SET-ACTIVE-EXPIRE', '0')
    const prefix = uniquePrefix()
    const { store } = await liveStore({ url: server.url, prefix, mirror: true })
    await admin.set(`${prefix}jti:short`, '1', 'PX', 700)
    await admin.set(`${prefix}jti:long`, '1', 'EX', 600)
    await waitFor(
      () => store.getLocal(['jti:short', 'jti:long'])?.join() === '1,1',
      'the SETs to reach the mirror',
    )
    await sleep(900)
    expect(store.getLocal(['jti:short', 'jti:long'])).toEqual([null, '1'])
    // The expired key is still in Redis's memory: nothing told the mirror.
    expect(await admin.dbsize()).toBe(2)
  })

  it('past maxEntries at start: never live, says "full", and verification reads Redis, still correct', async (ctx) => {
    needRedis(ctx)
    const prefix = uniquePrefix()
    const issuer = authOf(makeStore({ url: REDIS_URL, prefix }).store)
    const revoked = await issuer.createTokenPair({ uid: 'revoked' })
    const good = await issuer.createTokenPair({ uid: 'good' })
    await issuer.revokeToken(revoked.accessToken)
    await issuer.revokeToken(revoked.refreshToken)
    await issuer.revokeFamily('some-family')

    const { store, events } = makeStore({ url: REDIS_URL, prefix, mirror: { maxEntries: 2 } })
    await waitFor(() => downReasons(events).some(isFull), 'store.mirror_down (full)')
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
    needRedis(ctx)
    const prefix = uniquePrefix()
    const { store, events } = await liveStore({ url: REDIS_URL, prefix, mirror: { maxEntries: 3 } })
    const auth = authOf(store)
    const revoked = await auth.createTokenPair({ uid: 'revoked' })
    const good = await auth.createTokenPair({ uid: 'good' })
    await auth.revokeToken(revoked.accessToken)
    const other = redis()
    for (const id of ['a', 'b', 'c']) await other.set(`${prefix}jti:${id}`, '1', 'EX', 600)
    await waitFor(() => downReasons(events).some(isFull), 'store.mirror_down (full)')
    expect(store.getLocal(['jti:a'])).toBeUndefined()
    const gets = countGets(store)
    await expect(auth.verifyToken(revoked.accessToken)).rejects.toBeInstanceOf(RevokedTokenError)
    expect((await auth.verifyToken(good.accessToken)).sub).toBe('good')
    expect(gets()).toBe(2)
  })

  it('reloads after a FLUSHDB (unknown keys changed), and holds the right state (own server)', async (ctx) => {
    needRedis(ctx)
    const server = await ownDebugRedis()
    const admin = redis(server.url)
    const prefix = uniquePrefix()
    const { store, events } = await liveStore({ url: server.url, prefix, mirror: true })
    const auth = authOf(store)
    const pair = await auth.createTokenPair({ uid: 'dave' })
    const key = keyOf(await auth.decodeToken(pair.accessToken))
    await auth.revokeToken(pair.accessToken)
    await waitFor(() => store.getLocal([key])?.[0] === '1', 'the read-back')
    // Only the events from here on (a first sync that failed on a busy machine said so before).
    const later = events.length
    await admin.flushdb()
    await waitFor(
      () => named(events.slice(later), 'store.mirror_live').length === 1,
      'the mirror to be live again',
    )
    expect(downReasons(events.slice(later))).toEqual(['the server said unknown keys changed'])
    expect(named(events.slice(later), 'store.mirror_live')[0]![1].entries).toBe(0)
    // The flush removed the revocation: the mirror must not hold it any more.
    expect(store.getLocal([key])).toEqual([null])
    expect((await auth.verifyToken(pair.accessToken)).sub).toBe('dave')
    // And it follows changes again.
    await admin.set(`${prefix}${key}`, '1', 'EX', 600)
    await waitFor(() => store.getLocal([key])?.[0] === '1', 'the SET after the reload')
  })

  it('stops answering within maxLagMs of a server that stops (SIGSTOP), and is live again after SIGCONT', async (ctx) => {
    needRedis(ctx)
    const server = await ownDebugRedis()
    const prefix = uniquePrefix()
    const maxLagMs = 500
    const { store, events } = await liveStore({
      url: server.url,
      prefix,
      commandTimeoutMs: 300,
      mirror: { maxLagMs },
      circuitBreaker: false,
    })
    const auth = authOf(store)
    const pair = await auth.createTokenPair({ uid: 'erin' })
    const key = keyOf(await auth.decodeToken(pair.accessToken))
    // Warm: heartbeats have been answered.
    await sleep(300)
    expect(store.getLocal([key])).toEqual([null])
    const later = events.length
    server.process.kill('SIGSTOP')
    const stoppedAt = performance.now()
    let answeredUntil = 0
    while (performance.now() - stoppedAt < maxLagMs + 50) {
      if (store.getLocal([key]) !== undefined) answeredUntil = performance.now() - stoppedAt
      await sleep(2)
    }
    // Every heartbeat answered was sent before the stop: past maxLagMs nothing is answered.
    expect(store.getLocal([key])).toBeUndefined()
    expect(answeredUntil).toBeLessThanOrEqual(maxLagMs)
    await waitFor(() => named(events.slice(later), 'store.mirror_down').length > 0, 'store.mirror_down', 5000)
    const downAfter = performance.now() - stoppedAt
    // Meanwhile a verification cannot be answered: 503, never acceptance.
    await expect(auth.verifyToken(pair.accessToken)).rejects.toBeInstanceOf(StoreUnavailableError)
    console.log(
      `[redis mirror] after SIGSTOP: last answer from memory at ${answeredUntil.toFixed(0)} ms, store.mirror_down at ${downAfter.toFixed(0)} ms (maxLagMs ${maxLagMs}; reason: ${downReasons(events.slice(later))[0]})`,
    )
    server.process.kill('SIGCONT')
    // A revocation made by another client as soon as the server is back is part of the reload.
    const other = redis(server.url)
    await other.set(`${prefix}${key}`, '1', 'EX', 600)
    await waitFor(
      () => named(events.slice(later), 'store.mirror_live').length === 1,
      'the mirror to be live again',
      15_000,
    )
    await waitFor(() => store.getLocal([key]) !== undefined, 'an answer from memory')
    expect(store.getLocal([key])).toEqual(['1'])
    await expect(auth.verifyToken(pair.accessToken)).rejects.toBeInstanceOf(RevokedTokenError)
  })

  it('refuses clients and options the mirror cannot use, before opening anything', async () => {
    const nodeRedis = createClient({ url: REDIS_URL })
    expect(() => new RedisStore({ client: nodeRedis, mirror: true })).toThrow(ConfigError)
    const cluster = new Cluster([{ host: '127.0.0.1', port: 7000 }], { lazyConnect: true })
    try {
      expect(() => new RedisStore({ client: cluster, mirror: true })).toThrow(/Cluster/)
      expect(() => new RedisStore({ client: cluster, mirror: true })).toThrow(ConfigError)
    } finally {
      cluster.disconnect()
    }
    const prefixed = new Redis(REDIS_URL, { lazyConnect: true, keyPrefix: 'app:' })
    try {
      expect(() => new RedisStore({ client: prefixed, mirror: true })).toThrow(/keyPrefix/)
      // Without a mirror that client is accepted as before.
      expect(new RedisStore({ client: prefixed })).toBeInstanceOf(RedisStore)
    } finally {
      prefixed.disconnect()
    }
    for (const mirror of [{ bogus: 1 }, { maxEntries: 0 }, { maxLagMs: 5 }, 'yes'])
      expect(
        () => new RedisStore({ url: REDIS_URL, mirror: mirror as never }),
        JSON.stringify(mirror),
      ).toThrow(TypeError)
  })

  it('close() closes the mirror connection and the store connection; a passed client stays open', async (ctx) => {
    needRedis(ctx)
    const server = await ownDebugRedis()
    const admin = redis(server.url)
    const { store } = await liveStore({ url: server.url, prefix: uniquePrefix(), mirror: true })
    expect(await mirrorConnections(admin)).toHaveLength(1)
    await store.close()
    await expect
      .poll(async () => ((await admin.call('CLIENT', 'LIST')) as string).trim().split('\n').length, {
        timeout: 3000,
      })
      .toBe(1)

    const client = redis(server.url)
    const passed = await liveStore({ client, prefix: uniquePrefix(), mirror: true })
    expect(await mirrorConnections(admin)).toHaveLength(1)
    await passed.store.close()
    await expect.poll(() => mirrorConnections(admin), { timeout: 3000 }).toEqual([])
    expect(await client.ping()).toBe('PONG')
  })

  it('a process whose mirrored store was closed exits by itself', async (ctx) => {
    needRedis(ctx)
    const exit = await runScript(`
      import { RedisStore } from './src/stores/redis.ts'
      const store = new RedisStore({ url: ${JSON.stringify(REDIS_URL)}, prefix: ${JSON.stringify(uniquePrefix())}, mirror: { maxLagMs: 100 } })
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
 * Node process, which must end by itself within 10 s: a timer or connection left open keeps it.
 */
async function runScript(
  source: string,
): Promise<{ code: number | null; stdout: string; timedOut: boolean }> {
  const outdir = join(root, '.tmp')
  mkdirSync(outdir, { recursive: true })
  const outfile = join(outdir, `redis-mirror-${process.pid}-${randomBytes(4).toString('hex')}.mjs`)
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
    execFile(process.execPath, [outfile], { cwd: root, timeout: 10_000 }, (err, stdout) => {
      const killed = (err as { killed?: boolean } | null)?.killed === true
      resolve({
        code: err ? ((err as { code?: number }).code ?? null) : 0,
        stdout: stdout.trim(),
        timedOut: killed,
      })
    })
  })
}
