import { randomBytes } from 'node:crypto'
import { type Cluster, Redis } from 'ioredis'
import { createClient } from 'redis'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { StoreUnavailableError } from '../../src/index.js'
import { type IoRedisLike, type NodeRedisLike, RedisStore } from '../../src/stores/redis.js'
import {
  clusterMissing,
  ioredisCluster,
  nodeRedisCluster,
  ownRedis,
  REDIS_URL,
  redisMissing,
  scanKeys,
} from '../support/redis.js'
import { storesRequired } from './conformance.js'
import { bundleChild, runScript } from './processes.js'
import type { HitResult, HitTask } from './redis-hit-child.js'

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))
const noop = () => {}

let missing: string | undefined
let clusterAbsent: string | undefined
beforeAll(async () => {
  missing = await redisMissing()
  clusterAbsent = await clusterMissing()
})

/** Skips the test when Redis is missing (fails it in CI, as the conformance suite does). */
function needRedis(ctx: { skip: (note?: string) => void }): void {
  if (missing === undefined) return
  if (storesRequired()) throw new Error(`Redis is required in CI but unavailable: ${missing}`)
  ctx.skip(missing)
}

function needCluster(ctx: { skip: (note?: string) => void }): void {
  if (clusterAbsent === undefined) return
  if (storesRequired())
    throw new Error(
      `Redis Cluster is required in CI but unavailable (scripts/ci/redis-cluster.sh): ${clusterAbsent}`,
    )
  ctx.skip(clusterAbsent)
}

const prefixes: string[] = []
/** A key prefix no other run uses; its keys are deleted after the tests. */
function uniquePrefix(): string {
  const prefix = `authx-test:rl:${randomBytes(8).toString('hex')}:`
  prefixes.push(prefix)
  return prefix
}

/** Things to undo after each test, last first. */
const undo: (() => Promise<unknown> | unknown)[] = []
afterEach(async () => {
  while (undo.length > 0) await undo.pop()!()
})

let adminClient: Redis | undefined
function admin(): Redis {
  adminClient ??= new Redis(REDIS_URL, { maxRetriesPerRequest: 1 })
  return adminClient
}

let adminCluster: Promise<Cluster> | undefined
function clusterAdmin(): Promise<Cluster> {
  adminCluster ??= ioredisCluster()
  return adminCluster
}

afterAll(async () => {
  if (adminClient !== undefined) {
    for (const prefix of prefixes) {
      const keys = await scanKeys(adminClient, prefix)
      if (keys.length > 0) await adminClient.del(...keys)
    }
    await adminClient.quit()
  }
  if (adminCluster !== undefined) {
    const cluster = await adminCluster
    for (const node of cluster.nodes('master'))
      for (const prefix of prefixes) for (const key of await scanKeys(node, prefix)) await cluster.del(key)
    await cluster.quit()
  }
})

/** An ioredis client closed after the test. */
function ioredis(url = REDIS_URL, options: Record<string, unknown> = {}): Redis {
  const client = new Redis(url, { maxRetriesPerRequest: 1, ...options })
  client.on('error', noop)
  undo.push(() => client.disconnect())
  return client
}

/** A connected node-redis client closed after the test. */
async function nodeRedis() {
  const client = createClient({ url: REDIS_URL })
  client.on('error', noop)
  await client.connect()
  undo.push(() => client.close())
  return client
}

/** A store closed after the test. */
function storeOf(options: ConstructorParameters<typeof RedisStore>[0]): RedisStore {
  const store = new RedisStore(options)
  undo.push(() => store.close())
  return store
}

/** The ways of giving RedisStore a single server: each makes a store under `prefix`. */
const singleKinds: Record<string, (prefix: string) => Promise<RedisStore>> = {
  'an ioredis client': async (prefix) => storeOf({ client: ioredis(), prefix }),
  'a node-redis client': async (prefix) => storeOf({ client: await nodeRedis(), prefix }),
  'a url': async (prefix) => storeOf({ url: REDIS_URL, prefix }),
}

/** The two cluster clients: each makes a store under `prefix`. */
const clusterKinds: Record<string, (prefix: string) => Promise<RedisStore>> = {
  'an ioredis Cluster': async (prefix) => {
    const cluster = await ioredisCluster()
    undo.push(() => cluster.disconnect())
    return storeOf({ client: cluster, prefix, commandTimeoutMs: 2000 })
  },
  'a node-redis cluster': async (prefix) => {
    const cluster = await nodeRedisCluster()
    undo.push(() => cluster.close())
    return storeOf({ client: cluster, prefix, commandTimeoutMs: 2000 })
  },
}

/** What `hit` leaves in Redis under `key`: the hit times (ms), oldest first, and the key's PTTL. */
async function windowOf(node: Redis | Cluster, key: string): Promise<{ times: number[]; pttl: number }> {
  const flat = await node.zrange(key, 0, -1, 'WITHSCORES')
  const times = flat.filter((_, i) => i % 2 === 1).map(Number)
  return { times, pttl: await node.pttl(key) }
}

/** Hits `key` `n` times at once. */
function hits(store: RedisStore, key: string, n: number, windowSeconds: number, max: number) {
  return Promise.all(Array.from({ length: n }, () => store.hit(key, windowSeconds, max)))
}

describe.each(Object.keys(singleKinds))('RedisStore hit with %s', (kind) => {
  const make = singleKinds[kind]!

  it('allows max hits then denies without recording; the window is a sorted set under the prefixed key, expiring with it', async (ctx) => {
    needRedis(ctx)
    const prefix = uniquePrefix()
    const store = await make(prefix)
    const answers = []
    for (let i = 0; i < 5; i++) answers.push(await store.hit('rl:login:alice', 60, 3))
    expect(answers.map((a) => [a.allowed, a.count])).toEqual([
      [true, 1],
      [true, 2],
      [true, 3],
      [false, 3],
      [false, 3],
    ])
    const { times, pttl } = await windowOf(admin(), `${prefix}rl:login:alice`)
    // Denied hits are not recorded; the log holds only the allowed ones, bounded by max.
    expect(times).toHaveLength(3)
    expect(await admin().type(`${prefix}rl:login:alice`)).toBe('zset')
    expect(pttl).toBeGreaterThan(0)
    expect(pttl).toBeLessThanOrEqual(60_000)
    // resetAt: the oldest hit still in the window, plus the window, in epoch milliseconds.
    for (const answer of answers) expect(answer.resetAt).toBe(times[0]! + 60_000)
    // On the server's clock, which here is this machine's.
    expect(Math.abs(times[0]! - Date.now())).toBeLessThan(60_000)
    expect(await scanKeys(admin(), prefix)).toEqual([`${prefix}rl:login:alice`])
  })

  it('delete(key) forgets the window; another key has its own', async (ctx) => {
    needRedis(ctx)
    const store = await make(uniquePrefix())
    await hits(store, 'rl:a', 2, 60, 2)
    expect((await store.hit('rl:a', 60, 2)).allowed).toBe(false)
    expect(await store.hit('rl:b', 60, 2)).toMatchObject({ allowed: true, count: 1 })
    await store.delete('rl:a')
    expect(await store.hit('rl:a', 60, 2)).toMatchObject({ allowed: true, count: 1 })
  })

  it('keeps at most max hits: a smaller max trims the oldest, and resetAt is when a slot frees under it', async (ctx) => {
    needRedis(ctx)
    const prefix = uniquePrefix()
    const store = await make(prefix)
    for (let i = 0; i < 5; i++) await store.hit('rl:shrink', 60, 10)
    const before = (await windowOf(admin(), `${prefix}rl:shrink`)).times
    const denied = await store.hit('rl:shrink', 60, 2)
    expect(denied).toMatchObject({ allowed: false, count: 2 })
    const after = (await windowOf(admin(), `${prefix}rl:shrink`)).times
    expect(after).toEqual(before.slice(3))
    expect(denied.resetAt).toBe(after[0]! + 60_000)
  })

  it('two hits in one millisecond are two hits (unique members)', async (ctx) => {
    needRedis(ctx)
    const prefix = uniquePrefix()
    const store = await make(prefix)
    const answers = await hits(store, 'rl:burst', 40, 60, 100)
    expect(answers.every((a) => a.allowed)).toBe(true)
    expect(answers.map((a) => a.count).sort((a, b) => a - b)).toEqual(
      Array.from({ length: 40 }, (_, i) => i + 1),
    )
    const { times } = await windowOf(admin(), `${prefix}rl:burst`)
    expect(times).toHaveLength(40)
    // Pipelined hits share milliseconds: the log must still hold each.
    expect(new Set(times).size).toBeLessThan(40)
  })

  it('refuses a windowSeconds that is not a positive number and a max that is not a positive safe integer', async (ctx) => {
    needRedis(ctx)
    const store = await make(uniquePrefix())
    for (const windowSeconds of [0, -1, Number.NaN, Number.POSITIVE_INFINITY, '1'])
      await expect(store.hit('rl:x', windowSeconds as number, 1)).rejects.toThrow(TypeError)
    for (const max of [0, -1, 1.5, Number.NaN, 2 ** 53, '3'])
      await expect(store.hit('rl:x', 1, max as number)).rejects.toThrow(TypeError)
    // A fractional window is fine.
    expect(await store.hit('rl:x', 0.5, 1)).toMatchObject({ allowed: true, count: 1 })
  })
})

describe('RedisStore hit: atomic and sliding', () => {
  it('of 60 concurrent hits from two ioredis clients and a node-redis client on one key with max 25, exactly 25 are allowed', async (ctx) => {
    needRedis(ctx)
    const prefix = uniquePrefix()
    const stores = [
      storeOf({ client: ioredis(), prefix }),
      storeOf({ client: ioredis(), prefix }),
      storeOf({ client: await nodeRedis(), prefix }),
    ]
    // Connected first, so the hits race each other and not the connections.
    await Promise.all(stores.map((s) => s.get(['warm-up'])))
    const answers = (await Promise.all(stores.map((s) => hits(s, 'rl:race', 20, 60, 25)))).flat()
    expect(answers).toHaveLength(60)
    const allowed = answers.filter((a) => a.allowed)
    expect(allowed).toHaveLength(25)
    expect(allowed.map((a) => a.count).sort((a, b) => a - b)).toEqual(
      Array.from({ length: 25 }, (_, i) => i + 1),
    )
    for (const a of answers.filter((a) => !a.allowed)) expect(a.count).toBe(25)
    expect((await windowOf(admin(), `${prefix}rl:race`)).times).toHaveLength(25)
  })

  it('slides: a hit is denied until the oldest allowed hit leaves the window, then one more is allowed, not a new full window', async (ctx) => {
    needRedis(ctx)
    const store = storeOf({ url: REDIS_URL, prefix: uniquePrefix() })
    // Each attempt is valid only if this process was not stalled past the margins the window
    // leaves (a loaded machine); the assertions are about the store, never about durations.
    for (let attempt = 1; ; attempt++) {
      const key = `rl:slide:${attempt}`
      const first = await store.hit(key, 1, 2)
      await sleep(700)
      const second = await store.hit(key, 1, 2)
      const early = await store.hit(key, 1, 2)
      const earlyValid = Date.now() < first.resetAt - 50
      await sleep(Math.max(0, first.resetAt - Date.now()) + 30)
      const later = await store.hit(key, 1, 2)
      const again = await store.hit(key, 1, 2)
      // The second hit leaves the window no sooner than 700 ms after the first.
      const lateValid = Date.now() < first.resetAt + 600
      if ((!earlyValid || !lateValid) && attempt < 3) continue
      expect(first).toMatchObject({ allowed: true, count: 1 })
      expect(second).toMatchObject({ allowed: true, count: 2, resetAt: first.resetAt })
      expect(early).toMatchObject({ allowed: false, count: 2, resetAt: first.resetAt })
      // The first hit has left: one slot, while the second still counts (a fixed window or a
      // reset would allow two).
      expect(later).toMatchObject({ allowed: true, count: 2 })
      expect(later.resetAt).toBeGreaterThan(first.resetAt)
      expect(again).toMatchObject({ allowed: false, count: 2, resetAt: later.resetAt })
      break
    }
  }, 20_000)
})

describe('RedisStore hit across processes', () => {
  it('two Node processes hitting one key at the same moment get exactly max allowed in total', async (ctx) => {
    needRedis(ctx)
    const prefix = uniquePrefix()
    // The bundle is built first, so both children start within the lead time.
    await bundleChild('redis-hit-child.ts')
    const startAt = Date.now() + 3000
    const task: HitTask = {
      url: REDIS_URL,
      prefix,
      key: 'rl:procs',
      windowSeconds: 60,
      max: 17,
      hits: 30,
      startAt,
    }
    const run = () => runScript<HitResult>('redis-hit-child.ts', task)
    const results = await Promise.all([run(), run()])
    for (const r of results) {
      expect(r.error).toBeUndefined()
      expect(r.allowed + r.denied).toBe(30)
      for (const count of r.deniedCounts) expect(count).toBe(17)
    }
    expect(results[0]!.allowed + results[1]!.allowed).toBe(17)
    expect((await windowOf(admin(), `${prefix}rl:procs`)).times).toHaveLength(17)
  }, 60_000)
})

describe('RedisStore indexed records', () => {
  describe.each(Object.keys(singleKinds))('with %s', (kind) => {
    const make = singleKinds[kind]!

    it('a record is a plain prefixed key that get reads, the index a sorted set of keys by expiry that expires with its latest member', async (ctx) => {
      needRedis(ctx)
      const prefix = uniquePrefix()
      const store = await make(prefix)
      await store.putIndexed('sesx:iss:alice', 'ses:iss:s1', 'one', 60)
      await store.putIndexed('sesx:iss:alice', 'ses:iss:s2', 'two', 600)
      expect(await store.get(['ses:iss:s1', 'ses:iss:s2'])).toEqual(['one', 'two'])
      expect(await admin().type(`${prefix}ses:iss:s1`)).toBe('string')
      const recordTtl = await admin().pttl(`${prefix}ses:iss:s1`)
      expect(recordTtl).toBeGreaterThan(50_000)
      expect(recordTtl).toBeLessThanOrEqual(60_000)
      const index = `${prefix}sesx:iss:alice`
      const scored = await admin().zrange(index, 0, -1, 'WITHSCORES')
      expect(scored.filter((_, i) => i % 2 === 0)).toEqual(['ses:iss:s1', 'ses:iss:s2'])
      const [s1, s2] = [Number(scored[1]), Number(scored[3])]
      expect(s2 - s1).toBeGreaterThanOrEqual(540_000 - 5_000)
      expect(s2 - s1).toBeLessThanOrEqual(540_000 + 5_000)
      const indexTtl = await admin().pttl(index)
      expect(indexTtl).toBeGreaterThan(590_000)
      expect(indexTtl).toBeLessThanOrEqual(600_000)
      expect((await store.listIndexed('sesx:iss:alice')).sort()).toEqual([
        ['ses:iss:s1', 'one'],
        ['ses:iss:s2', 'two'],
      ])
      expect((await scanKeys(admin(), prefix)).sort()).toEqual(
        [index, `${prefix}ses:iss:s1`, `${prefix}ses:iss:s2`].sort(),
      )
    })

    it('update replaces a live record and its time to live, and writes nothing for an absent one', async (ctx) => {
      needRedis(ctx)
      const prefix = uniquePrefix()
      const store = await make(prefix)
      await store.putIndexed('sesx:i:bob', 'ses:i:a', 'v1', 60)
      expect(await store.updateIndexed('sesx:i:bob', 'ses:i:a', 'v2', 3153600000)).toBe(true)
      expect(await store.get(['ses:i:a'])).toEqual(['v2'])
      // 100 years: the value authx gives for "no expiry".
      expect(await admin().pttl(`${prefix}ses:i:a`)).toBeGreaterThan(3153600000 * 1000 - 60_000)
      expect(await admin().pttl(`${prefix}sesx:i:bob`)).toBeGreaterThan(3153600000 * 1000 - 60_000)
      expect(await store.updateIndexed('sesx:i:bob', 'ses:i:never', 'x', 60)).toBe(false)
      expect(await admin().exists(`${prefix}ses:i:never`)).toBe(0)
      expect(await admin().zscore(`${prefix}sesx:i:bob`, 'ses:i:never')).toBeNull()
      expect(await store.updateIndexed('sesx:i:nobody', 'ses:i:never', 'x', 60)).toBe(false)
      expect(await admin().exists(`${prefix}sesx:i:nobody`)).toBe(0)
      await store.deleteIndexed('sesx:i:bob', 'ses:i:a')
      expect(await store.updateIndexed('sesx:i:bob', 'ses:i:a', 'v3', 60)).toBe(false)
      expect(await store.get(['ses:i:a'])).toEqual([null])
      expect(await scanKeys(admin(), prefix)).toEqual([])
    })

    it('list leaves out records that expired, and a member whose record is gone', async (ctx) => {
      needRedis(ctx)
      const prefix = uniquePrefix()
      const store = await make(prefix)
      await store.putIndexed('sesx:i:carol', 'ses:i:short', 's', 1)
      await store.putIndexed('sesx:i:carol', 'ses:i:long', 'l', 60)
      await admin().zadd(`${prefix}sesx:i:carol`, Date.now() + 60_000, 'ses:i:orphan')
      expect((await store.listIndexed('sesx:i:carol')).sort()).toEqual([
        ['ses:i:long', 'l'],
        ['ses:i:short', 's'],
      ])
      await sleep(1100)
      expect(await store.listIndexed('sesx:i:carol')).toEqual([['ses:i:long', 'l']])
      // One server: every write is one script, so a member without its record is garbage.
      expect(await admin().zrange(`${prefix}sesx:i:carol`, 0, -1)).toEqual(['ses:i:long'])
      expect(await store.listIndexed('sesx:i:nobody')).toEqual([])
    })

    it('delete removes the record and its index entry; deleting what is absent is fine', async (ctx) => {
      needRedis(ctx)
      const prefix = uniquePrefix()
      const store = await make(prefix)
      await store.putIndexed('sesx:i:dan', 'ses:i:1', 'a', 60)
      await store.putIndexed('sesx:i:dan', 'ses:i:2', 'b', 60)
      await store.deleteIndexed('sesx:i:dan', 'ses:i:1')
      expect(await store.get(['ses:i:1'])).toEqual([null])
      expect(await admin().zrange(`${prefix}sesx:i:dan`, 0, -1)).toEqual(['ses:i:2'])
      await store.deleteIndexed('sesx:i:dan', 'ses:i:1')
      await store.deleteIndexed('sesx:i:nobody', 'ses:i:none')
      await store.deleteIndexed('sesx:i:dan', 'ses:i:2')
      expect(await scanKeys(admin(), prefix)).toEqual([])
    })
  })

  it('an update racing a delete never brings the record back', async (ctx) => {
    needRedis(ctx)
    const prefix = uniquePrefix()
    const a = storeOf({ client: ioredis(), prefix })
    const b = storeOf({ client: await nodeRedis(), prefix })
    for (let round = 0; round < 30; round++) {
      const key = `ses:i:${round}`
      await a.putIndexed('sesx:i:race', key, 'v0', 60)
      await Promise.all([
        a.updateIndexed('sesx:i:race', key, 'v1', 60),
        b.deleteIndexed('sesx:i:race', key),
        b.updateIndexed('sesx:i:race', key, 'v2', 60),
      ])
      expect(await a.get([key])).toEqual([null])
    }
    expect(await a.listIndexed('sesx:i:race')).toEqual([])
  })

  it("with an ioredis client's keyPrefix, list finds the records the script reads by name", async (ctx) => {
    needRedis(ctx)
    const prefix = uniquePrefix()
    const store = storeOf({ client: ioredis(REDIS_URL, { keyPrefix: `${prefix}kp:` }), prefix: 'p:' })
    await store.putIndexed('sesx:i:erin', 'ses:i:1', 'x', 60)
    expect(await admin().get(`${prefix}kp:p:ses:i:1`)).toBe('x')
    expect(await store.listIndexed('sesx:i:erin')).toEqual([['ses:i:1', 'x']])
  })
})

describe.each(Object.keys(clusterKinds))('RedisStore on a Redis Cluster with %s', (kind) => {
  const make = clusterKinds[kind]!

  it('hit: 60 concurrent hits from this client and another cluster client allow exactly 25', async (ctx) => {
    needCluster(ctx)
    const prefix = uniquePrefix()
    const store = await make(prefix)
    const other =
      await clusterKinds[kind === 'an ioredis Cluster' ? 'a node-redis cluster' : 'an ioredis Cluster']!(
        prefix,
      )
    const answers = (
      await Promise.all([hits(store, 'rl:c', 30, 60, 25), hits(other, 'rl:c', 30, 60, 25)])
    ).flat()
    expect(answers.filter((a) => a.allowed)).toHaveLength(25)
    for (const a of answers.filter((a) => !a.allowed)) expect(a.count).toBe(25)
    const { times, pttl } = await windowOf(await clusterAdmin(), `${prefix}rl:c`)
    expect(times).toHaveLength(25)
    expect(pttl).toBeGreaterThan(0)
    expect(answers[0]!.resetAt).toBe(times[0]! + 60_000)
  })

  it('indexed: record and index in different slots; put, list, update, delete', async (ctx) => {
    needCluster(ctx)
    const prefix = uniquePrefix()
    const store = await make(prefix)
    const cluster = await clusterAdmin()
    const index = 'sesx:iss:alice'
    const [k1, k2] = ['ses:iss:one', 'ses:iss:two']
    const slots = await Promise.all([index, k1, k2].map((k) => cluster.cluster('KEYSLOT', `${prefix}${k}`)))
    expect(new Set(slots).size).toBe(3)
    await store.putIndexed(index, k1, 'a', 60)
    await store.putIndexed(index, k2, 'b', 1)
    expect(await store.get([k1, k2])).toEqual(['a', 'b'])
    expect((await store.listIndexed(index)).sort()).toEqual([
      [k1, 'a'],
      [k2, 'b'],
    ])
    expect(await cluster.pttl(`${prefix}${index}`)).toBeGreaterThan(50_000)
    expect(await store.updateIndexed(index, k1, 'a2', 120)).toBe(true)
    expect(await cluster.pttl(`${prefix}${k1}`)).toBeGreaterThan(110_000)
    expect(await cluster.pttl(`${prefix}${index}`)).toBeGreaterThan(110_000)
    await sleep(1100)
    expect(await store.listIndexed(index)).toEqual([[k1, 'a2']])
    expect(await store.updateIndexed(index, k2, 'b2', 60)).toBe(false)
    expect(await cluster.exists(`${prefix}${k2}`)).toBe(0)
    await store.deleteIndexed(index, k1)
    expect(await store.get([k1])).toEqual([null])
    expect(await store.listIndexed(index)).toEqual([])
    expect(await store.updateIndexed(index, k1, 'back', 60)).toBe(false)
    expect(await cluster.exists(`${prefix}${k1}`)).toBe(0)
    expect(await cluster.exists(`${prefix}${index}`)).toBe(0)
    await store.deleteIndexed(index, k1)
  })

  it('indexed: list leaves out a member whose record is missing (a write cut half-way), and an update does not list it again', async (ctx) => {
    needCluster(ctx)
    const prefix = uniquePrefix()
    const store = await make(prefix)
    const cluster = await clusterAdmin()
    await store.putIndexed('sesx:i:x', 'ses:i:live', 'v', 60)
    // The index half of a put whose record was never written.
    await cluster.zadd(`${prefix}sesx:i:x`, Date.now() + 60_000, 'ses:i:half')
    expect(await store.listIndexed('sesx:i:x')).toEqual([['ses:i:live', 'v']])
    // The record half of a delete whose index half was lost: an update stays refused.
    await cluster.del(`${prefix}ses:i:live`)
    expect(await store.updateIndexed('sesx:i:x', 'ses:i:live', 'back', 60)).toBe(false)
    expect(await store.listIndexed('sesx:i:x')).toEqual([])
    expect(await cluster.exists(`${prefix}ses:i:live`)).toBe(0)
  })

  it('indexed: an update racing a delete never brings the record back', async (ctx) => {
    needCluster(ctx)
    const prefix = uniquePrefix()
    const store = await make(prefix)
    for (let round = 0; round < 20; round++) {
      const key = `ses:i:${round}`
      await store.putIndexed('sesx:i:race', key, 'v0', 60)
      await Promise.all([
        store.updateIndexed('sesx:i:race', key, 'v1', 60),
        store.deleteIndexed('sesx:i:race', key),
        store.updateIndexed('sesx:i:race', key, 'v2', 60),
      ])
      expect(await store.get([key])).toEqual([null])
    }
    expect(await store.listIndexed('sesx:i:race')).toEqual([])
    expect(await (await clusterAdmin()).exists(`${prefix}sesx:i:race`)).toBe(0)
  })
})

/** `calls` of a command in INFO commandstats (0 when never called). */
async function callsOf(client: Redis, command: string): Promise<number> {
  const info = await client.info('commandstats')
  const match = info.match(new RegExp(`cmdstat_${command}:calls=(\\d+)`))
  return match ? Number(match[1]) : 0
}

describe('RedisStore scripts', () => {
  it.for<[string, boolean]>([
    ['ioredis', false],
    ['node-redis', true],
  ])(
    'with %s: sends EVALSHA, and the script itself only when the server has not cached it',
    async ([, useNodeRedis], ctx) => {
      needRedis(ctx)
      const own = await ownRedis(undo)
      const watcher = ioredis(own.url)
      let client: IoRedisLike | NodeRedisLike = ioredis(own.url)
      if (useNodeRedis) {
        const c = createClient({ url: own.url })
        c.on('error', noop)
        await c.connect()
        undo.push(() => c.close())
        client = c
      }
      const store = storeOf({ client, prefix: 'p:' })
      await store.hit('rl:s', 60, 5)
      expect(await callsOf(watcher, 'eval')).toBe(1)
      await store.hit('rl:s', 60, 5)
      await store.putIndexed('i', 'k', 'v', 60)
      await store.listIndexed('i')
      await store.hit('rl:s', 60, 5)
      // Two new scripts (put, list); the hit's was cached.
      expect(await callsOf(watcher, 'eval')).toBe(3)
      expect(await callsOf(watcher, 'evalsha')).toBe(5)
      await watcher.script('FLUSH')
      expect(await store.hit('rl:s', 60, 5)).toMatchObject({ allowed: true, count: 4 })
      expect(await callsOf(watcher, 'eval')).toBe(4)
    },
  )
})

/** An ioredis-like client (no server) whose every script is answered with `reply`. */
function ioredisAnswering(reply: unknown): IoRedisLike {
  return {
    mget: async () => [],
    set: async () => 'OK',
    del: async () => 1,
    quit: async () => 'OK',
    call: async () => reply,
  }
}

/** A node-redis-like client (no server) whose every script is answered with `reply`. */
function nodeRedisAnswering(reply: unknown): NodeRedisLike {
  return {
    mGet: async () => [],
    set: async () => 'OK',
    del: async () => 1,
    evalSha: async () => reply,
    eval: async () => reply,
  }
}

describe('RedisStore: replies of the wrong shape reject (a real server cannot be made to send them)', () => {
  const clients = { ioredis: ioredisAnswering, 'node-redis': nodeRedisAnswering }

  it.each(Object.keys(clients))('hit with %s', async (name) => {
    const answering = clients[name as keyof typeof clients]
    const good = new RedisStore({ client: answering([1, 2, 1_700_000_000_000]), prefix: 'p:' })
    expect(await good.hit('k', 60, 3)).toEqual({ allowed: true, count: 2, resetAt: 1_700_000_000_000 })
    const denied = new RedisStore({ client: answering([0, 3, 1_700_000_000_000]), prefix: 'p:' })
    expect(await denied.hit('k', 60, 3)).toEqual({ allowed: false, count: 3, resetAt: 1_700_000_000_000 })
    for (const reply of [
      null,
      'OK',
      1,
      [],
      [1, 2],
      [1, 2, 3, 4],
      [1, 2, '1700000000000'],
      [1, 2, 1.5],
      [2, 1, 1_700_000_000_000],
      [true, 1, 1_700_000_000_000],
      // Allowed past max, denied below max, no hit in the window.
      [1, 4, 1_700_000_000_000],
      [0, 2, 1_700_000_000_000],
      [1, 0, 1_700_000_000_000],
    ]) {
      const store = new RedisStore({ client: answering(reply), prefix: 'p:', circuitBreaker: false })
      await expect(store.hit('k', 60, 3), JSON.stringify(reply)).rejects.toThrow(Error)
    }
  })

  it.each(Object.keys(clients))('indexed records with %s', async (name) => {
    const answering = clients[name as keyof typeof clients]
    const store = (reply: unknown) =>
      new RedisStore({ client: answering(reply), prefix: 'p:', circuitBreaker: false })
    await expect(store(1).putIndexed('i', 'k', 'v', 60)).resolves.toBeUndefined()
    expect(await store(['a', '1', 'b', '2']).listIndexed('i')).toEqual([
      ['a', '1'],
      ['b', '2'],
    ])
    expect(await store(0).updateIndexed('i', 'k', 'v', 60)).toBe(false)
    for (const reply of [null, 'OK', 0, 2, '1', [1]]) {
      await expect(store(reply).putIndexed('i', 'k', 'v', 60)).rejects.toThrow(Error)
      await expect(store(reply).deleteIndexed('i', 'k')).rejects.toThrow(Error)
    }
    for (const reply of [null, 'OK', 2, '1', true, [1]])
      await expect(store(reply).updateIndexed('i', 'k', 'v', 60)).rejects.toThrow(Error)
    for (const reply of [null, 'OK', 1, ['a'], ['a', 1], ['a', null], [['a', 'b']], { a: 'b' }])
      await expect(store(reply).listIndexed('i')).rejects.toThrow(Error)
  })

  it('refuses a time to live that is not a positive number before sending anything', async () => {
    let sent = 0
    const client = { ...ioredisAnswering(1), call: async () => ++sent }
    const store = new RedisStore({ client, prefix: 'p:' })
    for (const ttl of [0, -1, Number.NaN, Number.POSITIVE_INFINITY, '60']) {
      await expect(store.putIndexed('i', 'k', 'v', ttl as number)).rejects.toThrow(TypeError)
      await expect(store.updateIndexed('i', 'k', 'v', ttl as number)).rejects.toThrow(TypeError)
    }
    expect(sent).toBe(0)
  })

  it('a client that cannot run scripts makes each call reject, not the store', async () => {
    const { call: _, ...noCall } = ioredisAnswering(1)
    const store = new RedisStore({ client: noCall, prefix: 'p:', circuitBreaker: false })
    await expect(store.hit('k', 60, 1)).rejects.toThrow(Error)
    await expect(store.listIndexed('i')).rejects.toThrow(Error)
    const { evalSha: __, ...noEval } = nodeRedisAnswering(1)
    await expect(
      new RedisStore({ client: noEval, prefix: 'p:', circuitBreaker: false }).putIndexed('i', 'k', 'v', 1),
    ).rejects.toThrow(Error)
  })
})

describe('RedisStore: circuit breaker and commandTimeoutMs on hit and indexed records', () => {
  it('a server that stops answering fails each call within commandTimeoutMs, then the circuit opens and calls fail at once', async (ctx) => {
    needRedis(ctx)
    const own = await ownRedis(undo)
    // A client of your own without a command timeout: only the store's bounds the wait.
    const client = ioredis(own.url, { maxRetriesPerRequest: 0 })
    const store = storeOf({
      client,
      prefix: 'p:',
      commandTimeoutMs: 300,
      circuitBreaker: { failures: 4, coolDownMs: 60_000 },
    })
    const events: string[] = []
    store.onEvent((event) => events.push(event))
    expect((await store.hit('rl:k', 60, 2)).allowed).toBe(true)
    await store.putIndexed('i', 'ses:1', 'v', 60)
    own.process.kill('SIGSTOP')
    const calls = [
      () => store.hit('rl:k', 60, 2),
      () => store.putIndexed('i', 'ses:2', 'v', 60),
      () => store.updateIndexed('i', 'ses:1', 'v', 60),
      () => store.listIndexed('i'),
    ]
    for (const call of calls) {
      const error = await call().then(
        () => undefined,
        (err: unknown) => err,
      )
      expect(error).toBeInstanceOf(Error)
      expect(error).not.toBeInstanceOf(StoreUnavailableError)
    }
    expect(events).toEqual(['store.circuit_open'])
    for (const call of [...calls, () => store.deleteIndexed('i', 'ses:1')])
      await expect(call()).rejects.toMatchObject({ code: 'ERR_STORE_UNAVAILABLE', status: 503 })
    own.process.kill('SIGCONT')
  }, 20_000)
})

describe('RedisStore mirror: sid: entries', () => {
  it('a sid: entry already there is loaded, and one written by another instance is seen, by a mirrored instance', async (ctx) => {
    needRedis(ctx)
    const prefix = uniquePrefix()
    const writer = storeOf({ url: REDIS_URL, prefix })
    await writer.set('sid:iss:before', '1', 600)
    const mirrored = storeOf({ url: REDIS_URL, prefix, mirror: true })
    const live: unknown[] = []
    mirrored.onEvent((event, data) => {
      if (event === 'store.mirror_live') live.push(data)
    })
    await expect.poll(() => live.length, { timeout: 10_000 }).toBeGreaterThan(0)
    expect(live[0]).toEqual({ store: 'RedisStore', entries: 1 })
    expect(mirrored.getLocal(['sid:iss:before', 'sid:iss:after'])).toEqual(['1', null])
    await writer.set('sid:iss:after', '1', 600)
    await expect.poll(() => mirrored.getLocal(['sid:iss:after'])?.[0], { timeout: 5000 }).toBe('1')
    await writer.delete('sid:iss:before')
    await expect.poll(() => mirrored.getLocal(['sid:iss:before'])?.[0], { timeout: 5000 }).toBeNull()
    // Session records are not revocation entries: never answered from memory.
    await writer.putIndexed('sesx:iss:a', 'ses:iss:s', 'v', 600)
    expect(mirrored.getLocal(['ses:iss:s'])).toBeUndefined()
  }, 20_000)
})
