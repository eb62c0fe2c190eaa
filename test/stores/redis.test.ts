/**
 * RedisStore (issue 4) on the Redis of this machine: the conformance suite with an ioredis
 * client, a node-redis client and a `url`; then what the SPEC asks of Redis in particular, read
 * off the wire with MONITOR (every key prefixed and expiring, one MGET per verification,
 * SET NX EX), closing, and rotation and durability across processes.
 * Faults (Redis down, slow, black-holed, answering garbage) are in redis-faults.test.ts.
 */
import { randomBytes } from 'node:crypto'
import { Redis } from 'ioredis'
import { createClient } from 'redis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { AuthX, ConfigError, RevokedTokenError } from '../../src/index.js'
import { RedisStore } from '../../src/stores/redis.js'
import { REDIS_URL, redisMissing } from '../support/redis.js'
import { runStoreConformance, SECRET, storesRequired } from './conformance.js'
import { expectOneRefreshWins, runChild } from './processes.js'

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

const prefixes: string[] = []
/** A key prefix no other run uses; its keys are deleted after the tests. */
function uniquePrefix(): string {
  const prefix = `authx-test:${randomBytes(8).toString('hex')}:`
  prefixes.push(prefix)
  return prefix
}

let adminClient: Redis | undefined
/** A raw client for checks and cleanup, made only once Redis is known to be up. */
function admin(): Redis {
  adminClient ??= new Redis(REDIS_URL, { maxRetriesPerRequest: 1 })
  return adminClient
}

/** Every key under `prefix` (SCAN, never KEYS: the server is shared). */
async function keysUnder(prefix: string): Promise<string[]> {
  const keys: string[] = []
  let cursor = '0'
  do {
    const [next, batch] = await admin().scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000)
    keys.push(...batch)
    cursor = next
  } while (cursor !== '0')
  return keys
}

async function deleteKeysUnder(prefix: string): Promise<void> {
  const keys = await keysUnder(prefix)
  if (keys.length > 0) await admin().del(...keys)
}

afterAll(async () => {
  if (adminClient === undefined) return
  for (const prefix of prefixes) await deleteKeysUnder(prefix)
  await adminClient.quit()
})

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

runStoreConformance('RedisStore (ioredis client)', redisMissing, async () => {
  const client = new Redis(REDIS_URL)
  const prefix = uniquePrefix()
  let n = 0
  return {
    make: async () => new RedisStore({ client, prefix: `${prefix}${n++}:` }),
    cleanup: async () => {
      await deleteKeysUnder(prefix)
      // The stores were closed before this runs: the client they were given stays usable.
      expect(await client.ping()).toBe('PONG')
      await client.quit()
    },
  }
})

runStoreConformance('RedisStore (node-redis client)', redisMissing, async () => {
  const client = createClient({ url: REDIS_URL })
  client.on('error', () => {})
  await client.connect()
  const prefix = uniquePrefix()
  let n = 0
  return {
    make: async () => new RedisStore({ client, prefix: `${prefix}${n++}:` }),
    cleanup: async () => {
      await deleteKeysUnder(prefix)
      expect(await client.ping()).toBe('PONG')
      await client.close()
    },
  }
})

runStoreConformance('RedisStore (url)', redisMissing, async () => {
  const prefix = uniquePrefix()
  let n = 0
  return {
    make: async () => new RedisStore({ url: REDIS_URL, prefix: `${prefix}${n++}:` }),
    cleanup: () => deleteKeysUnder(prefix),
  }
})

interface Subject {
  store: RedisStore
  /** The connection name, to find the store's connection in CLIENT LIST and MONITOR. */
  name: string
  /** Whether the store opened the connection itself (and so must close it). */
  owned: boolean
  /** Whether the client the store was given still answers. */
  clientAnswers(): Promise<boolean>
  dispose(): Promise<void>
}

/** The three ways of giving RedisStore its connection, each with a named connection. */
const kinds: Record<string, (prefix: string) => Promise<Subject>> = {
  'an ioredis client': async (prefix) => {
    const name = `authx-test-io-${randomBytes(6).toString('hex')}`
    const client = new Redis(REDIS_URL, { connectionName: name })
    return {
      store: new RedisStore({ client, prefix }),
      name,
      owned: false,
      clientAnswers: async () => client.status === 'ready' && (await client.ping()) === 'PONG',
      dispose: async () => {
        await client.quit()
      },
    }
  },
  'a node-redis client': async (prefix) => {
    const name = `authx-test-nr-${randomBytes(6).toString('hex')}`
    const client = createClient({ url: REDIS_URL, name })
    client.on('error', () => {})
    await client.connect()
    return {
      store: new RedisStore({ client, prefix }),
      name,
      owned: false,
      clientAnswers: async () => client.isReady && (await client.ping()) === 'PONG',
      dispose: async () => {
        await client.close()
      },
    }
  },
  'a url': async (prefix) => {
    const name = `authx-test-url-${randomBytes(6).toString('hex')}`
    const url = new URL(REDIS_URL)
    url.searchParams.set('connectionName', name)
    const store = new RedisStore({ url: url.href, prefix })
    return {
      store,
      name,
      owned: true,
      clientAnswers: async () => false,
      dispose: () => store.close(),
    }
  },
}

/** The address (`host:port`) Redis sees for the connection called `name`, or undefined. */
async function addressOf(name: string): Promise<string | undefined> {
  const list = (await admin().client('LIST')) as string
  for (const line of list.split('\n')) {
    const fields = new Map(line.split(' ').map((f) => f.split('=', 2) as [string, string]))
    if (fields.get('name') === name) return fields.get('addr')
  }
  return undefined
}

/**
 * Records, with MONITOR, every command Redis receives on the store's connection between
 * `start` and `stop`. `stop` reads one sentinel key through the store and waits for it, so
 * every command sent before has been seen.
 */
async function watch(subject: Subject): Promise<{ stop(): Promise<string[][]> }> {
  // The connection is named during its handshake: make sure it exists.
  await subject.store.get(['warm-up'])
  const address = await addressOf(subject.name)
  if (address === undefined) throw new Error(`no connection named ${subject.name}`)
  const monitor = await admin().monitor()
  const seen: string[][] = []
  monitor.on('monitor', (_time: string, args: string[], source: string) => {
    if (source === address) seen.push(args)
  })
  return {
    async stop() {
      const sentinel = `sentinel-${randomBytes(4).toString('hex')}`
      await subject.store.get([sentinel])
      const isSentinel = (args: string[]) => args.some((a) => a.endsWith(sentinel))
      for (let i = 0; i < 200 && !seen.some(isSentinel); i++) await sleep(10)
      monitor.disconnect()
      if (!seen.some(isSentinel)) throw new Error('MONITOR did not show the sentinel')
      return seen.filter((args) => !isSentinel(args))
    },
  }
}

const ACCESS_TTL = 15 * 60
const REFRESH_TTL = 20 * 24 * 3600

describe.each(Object.keys(kinds))('RedisStore with %s: what Redis sees', (kind) => {
  const make = kinds[kind]!
  const subjects: Subject[] = []
  afterAll(async () => {
    for (const s of subjects) await s.dispose()
  })
  async function setup() {
    const prefix = uniquePrefix()
    const subject = await make(prefix)
    subjects.push(subject)
    const auth = new AuthX({ secretKey: SECRET, store: subject.store })
    return { prefix, subject, auth }
  }

  it('writes only keys under its prefix, each with an expiry, for every revocation and a refresh', async (ctx) => {
    needRedis(ctx)
    const { prefix, subject, auth } = await setup()
    const watching = await watch(subject)
    const alice = await auth.createTokenPair({ uid: 'alice' })
    await auth.revokeToken(alice.accessToken)
    await auth.revokeFamily((await auth.decodeToken(alice.refreshToken)).fid!)
    await auth.revokeAllForSubject('bob')
    const carol = await auth.createTokenPair({ uid: 'carol' })
    await auth.refresh(carol.refreshToken)
    const commands = await watching.stop()

    const written: string[] = []
    for (const [name, ...args] of commands) {
      const command = name!.toLowerCase()
      if (command === 'mget') {
        expect(args.length).toBeGreaterThan(0)
        for (const key of args) expect(key.startsWith(prefix)).toBe(true)
      } else if (command === 'set') {
        const [key, , ex, seconds] = args
        expect(key!.startsWith(prefix)).toBe(true)
        expect(ex!.toUpperCase()).toBe('EX')
        expect(Number(seconds)).toBeGreaterThan(0)
        written.push(key!)
      } else if (command === 'evalsha' || command === 'eval') {
        // revokeAllForSubject reads the subject's session list (docs/sessions.md): a read only.
        const [, count, ...rest] = args
        const keys = rest.slice(0, Number(count))
        expect(keys.length).toBeGreaterThan(0)
        for (const key of keys) expect(key.startsWith(`${prefix}sesx:`)).toBe(true)
      } else {
        throw new Error(`unexpected command ${name}`)
      }
    }
    // revokeToken, revokeFamily, revokeAllForSubject, and the refresh's consumption.
    const kindsWritten = written.map((k) => k.slice(prefix.length).split(':')[0]).sort()
    expect(kindsWritten).toEqual(['fid', 'jti', 'sub', 'used'])

    const stored = await keysUnder(prefix)
    expect(stored.sort()).toEqual([...written].sort())
    for (const key of stored) {
      const ttl = await admin().ttl(key)
      const kindOfKey = key.slice(prefix.length).split(':')[0]
      // An entry lives as long as what it revokes (plus leeway 0), not forever and not less.
      const lifetime = kindOfKey === 'jti' ? ACCESS_TTL : REFRESH_TTL
      expect(ttl).toBeGreaterThan(lifetime - 30)
      expect(ttl).toBeLessThanOrEqual(lifetime + 1)
    }
  })

  it('checks revocation with one MGET of the jti, subject and family keys per verification', async (ctx) => {
    needRedis(ctx)
    const { prefix, subject, auth } = await setup()
    const pair = await auth.createTokenPair({ uid: 'dave' })
    const payload = await auth.decodeToken(pair.accessToken)
    const forged = `${pair.accessToken.slice(0, -2)}${pair.accessToken.endsWith('AA') ? 'BB' : 'AA'}`
    const watching = await watch(subject)
    await auth.verifyToken(pair.accessToken)
    // A token failing its signature check never reaches the store (F05).
    await expect(auth.verifyToken(forged)).rejects.toMatchObject({ code: 'ERR_INVALID_TOKEN' })
    const commands = await watching.stop()
    expect(commands).toHaveLength(1)
    const [name, ...keys] = commands[0]!
    expect(name!.toLowerCase()).toBe('mget')
    expect(keys.map((k) => k.slice(prefix.length).split(':')[0]).sort()).toEqual(['fid', 'jti', 'sub'])
    expect(keys.some((k) => k.endsWith(encodeURIComponent(payload.jti)))).toBe(true)
  })

  it('consumes a refresh token with one SET NX EX', async (ctx) => {
    needRedis(ctx)
    const { prefix, subject, auth } = await setup()
    const pair = await auth.createTokenPair({ uid: 'erin' })
    const { jti, exp } = await auth.decodeToken(pair.refreshToken)
    const watching = await watch(subject)
    await auth.refresh(pair.refreshToken)
    const commands = await watching.stop()
    const sets = commands.filter(([name]) => name!.toLowerCase() === 'set')
    expect(sets).toHaveLength(1)
    const [, key, , ex, seconds, nx, ...rest] = sets[0]!
    expect(key).toBe(`${prefix}used::${encodeURIComponent(jti)}`)
    expect(ex!.toUpperCase()).toBe('EX')
    expect(Number(seconds)).toBeGreaterThanOrEqual(exp! - Math.floor(Date.now() / 1000) - 5)
    expect(nx!.toUpperCase()).toBe('NX')
    expect(rest).toEqual([])
  })

  it('closes only a connection it opened, and may be closed twice', async (ctx) => {
    needRedis(ctx)
    const { subject, auth } = await setup()
    await subject.store.get(['warm-up'])
    expect(await addressOf(subject.name)).toBeDefined()
    await auth.close()
    await subject.store.close()
    await expect(subject.store.get(['k'])).rejects.toThrow()
    if (subject.owned) {
      let address = await addressOf(subject.name)
      for (let i = 0; i < 100 && address !== undefined; i++) {
        await sleep(20)
        address = await addressOf(subject.name)
      }
      expect(address).toBeUndefined()
    } else {
      expect(await subject.clientAnswers()).toBe(true)
      expect(await addressOf(subject.name)).toBeDefined()
    }
  })
})

describe('RedisStore options', () => {
  const client = { mget: async () => [], set: async () => 'OK', del: async () => 1, quit: async () => 'OK' }

  it('takes exactly one of client and url', () => {
    expect(() => new RedisStore({})).toThrow(TypeError)
    expect(() => new RedisStore({ client, url: REDIS_URL })).toThrow(TypeError)
  })

  it('refuses a client that is neither ioredis nor node-redis', () => {
    expect(() => new RedisStore({ client: {} as never })).toThrow(TypeError)
  })

  it.each([0, -1, Number.NaN, Number.POSITIVE_INFINITY, '500'])('refuses commandTimeoutMs %s', (value) => {
    expect(() => new RedisStore({ client, commandTimeoutMs: value as number })).toThrow(TypeError)
  })

  it.each([0, -1, 1.5, Number.NaN])('refuses maxPendingCommands %s', (value) => {
    expect(() => new RedisStore({ client, maxPendingCommands: value })).toThrow(TypeError)
  })

  it('refuses an unknown option name with a ConfigError naming it', () => {
    for (const [name, options] of [
      ['mirorr', { client, mirorr: true }],
      ['prefx', { client, prefx: 'app:' }],
      ['commandTimeout', { url: REDIS_URL, commandTimeout: 100 }],
    ] as const) {
      let error: unknown
      try {
        new RedisStore(options as never)
      } catch (err) {
        error = err
      }
      expect(error).toBeInstanceOf(ConfigError)
      expect(error).toMatchObject({ code: 'ERR_CONFIG', status: 500 })
      expect((error as Error).message).toContain(name)
    }
    expect(
      () => new RedisStore({ client, prefix: 'p:', commandTimeoutMs: 100, maxPendingCommands: 10 }),
    ).not.toThrow()
  })

  it('reads with one GET per key, never one MGET, from a cluster client; and needs its get()', async () => {
    const calls: string[][] = []
    const cluster = {
      isCluster: true,
      mget: async (...keys: string[]) => {
        calls.push(['mget', ...keys])
        throw new Error("CROSSSLOT Keys in request don't hash to the same slot")
      },
      get: async (key: string) => {
        calls.push(['get', key])
        return key.endsWith('b') ? 'B' : null
      },
      set: async () => 'OK',
      del: async () => 1,
      quit: async () => 'OK',
    }
    const store = new RedisStore({ client: cluster, prefix: 'p:' })
    expect(await store.get(['a', 'b', 'c'])).toEqual([null, 'B', null])
    expect(calls).toEqual([
      ['get', 'p:a'],
      ['get', 'p:b'],
      ['get', 'p:c'],
    ])
    const { get: _, ...withoutGet } = cluster
    expect(() => new RedisStore({ client: withoutGet })).toThrow(TypeError)
    // A node-redis cluster (createCluster) is told apart by its nodeClient().
    const nodeCluster = {
      nodeClient: async () => ({}),
      mGet: async () => {
        throw new Error('CROSSSLOT')
      },
      get: async (key: string) => `v-${key}`,
      set: async () => 'OK',
      del: async () => 1,
    }
    expect(await new RedisStore({ client: nodeCluster, prefix: 'p:' }).get(['x', 'y'])).toEqual([
      'v-p:x',
      'v-p:y',
    ])
  })

  it('refuses a time to live that is not a positive number', async () => {
    const store = new RedisStore({ client })
    await expect(store.set('k', 'v', 0)).rejects.toThrow(TypeError)
    await expect(store.setIfAbsent('k', 'v', Number.NaN)).rejects.toThrow(TypeError)
  })
})

describe('RedisStore across processes', () => {
  const stores: RedisStore[] = []
  afterAll(async () => {
    for (const store of stores) await store.close()
  })
  function setup() {
    const prefix = uniquePrefix()
    const store = new RedisStore({ url: REDIS_URL, prefix, commandTimeoutMs: 2000 })
    stores.push(store)
    const auth = new AuthX({ secretKey: SECRET, store, revocation: { timeoutMs: 5000 } })
    return { auth, spec: { kind: 'redis' as const, url: REDIS_URL, prefix } }
  }

  it('of 4 child processes and 46 in-process refreshes of one token at the same moment, exactly one succeeds', async (ctx) => {
    needRedis(ctx)
    const { auth, spec } = setup()
    const pair = await auth.createTokenPair({ uid: 'rotation' })
    // Bundles the child script and warms the cache, so the four start within the lead time.
    expect(
      await runChild({ store: spec, secret: SECRET, action: 'verify', token: pair.accessToken }),
    ).toEqual({
      ok: true,
      sub: 'rotation',
    })
    await expectOneRefreshWins(spec, auth, pair.refreshToken, SECRET)
  }, 60_000)

  it('a token revoked in one process stays revoked for a new process; another token still verifies', async (ctx) => {
    needRedis(ctx)
    const { auth, spec } = setup()
    const revoked = await auth.createTokenPair({ uid: 'durable' })
    const control = await auth.createTokenPair({ uid: 'control' })
    expect(
      await runChild({ store: spec, secret: SECRET, action: 'revoke', token: revoked.accessToken }),
    ).toEqual({
      ok: true,
    })
    const [again, other] = await Promise.all([
      runChild({ store: spec, secret: SECRET, action: 'verify', token: revoked.accessToken }),
      runChild({ store: spec, secret: SECRET, action: 'verify', token: control.accessToken }),
    ])
    expect(again).toEqual({ ok: false, code: 'ERR_TOKEN_REVOKED' })
    expect(other).toEqual({ ok: true, sub: 'control' })
    await expect(auth.verifyToken(revoked.accessToken)).rejects.toBeInstanceOf(RevokedTokenError)
  }, 60_000)
})
