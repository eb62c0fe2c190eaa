// Part 4, mirror, run with --expose-gc: the local mirror of RedisStore and PostgresStore
// (docs/stores.md). Two figures per store:
//   - heap: the heap a mirrored store keeps for 100,000 revocation entries written beforehand by
//     someone else (jti: keys of two shapes, some sub: and fid:), measured as the memory part
//     does (heapUsed after a full GC, minus the same measure just before the store was made);
//   - delay: a writer store and a mirrored reader store on connections of their own, the reader's
//     getLocal polled on setImmediate from the moment the writer's set() is acknowledged until it
//     shows the new value, over 500 revocations one after the other.
// Redis at REDIS_URL (default redis://127.0.0.1:6379), under a prefix of its own; PostgreSQL at
// DATABASE_URL (default postgres://postgres@127.0.0.1:5432/test), in tables of its own. Both are
// removed afterwards.

import { randomBytes, randomUUID } from 'node:crypto'
import { performance } from 'node:perf_hooks'
import { setImmediate as nextTurn } from 'node:timers/promises'
import { exitWithParent, importAuthx, partOptions, progress, report } from './lib/common.mjs'

// A part stopped by a failed bench still removes its keys and tables.
exitWithParent(() => Promise.all([removeRedisKeys(), removePostgresTables()]))

if (typeof globalThis.gc !== 'function') throw new Error('bench/mirror.mjs: run it with node --expose-gc')

const options = partOptions().mirror ?? {}
const COUNT = options.count ?? 100_000
const SAMPLES = options.samples ?? 500
const TTL_SECONDS = 900
const MiB = 1024 * 1024
const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'
const postgresUrl = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test'
const run = `${process.pid}_${randomBytes(4).toString('hex')}`
const ISSUER = encodeURIComponent('https://auth.example.com')
// Everything this run writes: under these prefixes, in these tables.
const prefix = `authx-bench-mirror:${run}:`
const emptyPrefix = `authx-bench-mirror:${run}-empty:`
const delayPrefix = `authx-bench-mirror:${run}-delay:`
const table = `authx_bench_mirror_${run}`
const emptyTable = `${table}_empty`
const delayTable = `${table}_delay`

const { RedisStore } = await importAuthx('stores/redis')
const { PostgresStore } = await importAuthx('stores/postgres')
const { default: Redis } = await import('ioredis')
const { default: pg } = await import('pg')

function heapUsed() {
  for (let i = 0; i < 4; i++) globalThis.gc()
  return process.memoryUsage().heapUsed
}

/**
 * The i-th of COUNT revocation entries, in the shapes authx writes: mostly revoked jtis (UUIDs,
 * from an issuer that is set or not), 5% subject cut-offs (seconds), 5% revoked families.
 */
function entry(i) {
  if (i % 20 === 0) return [`sub::user${i}`, String(Math.floor(Date.now() / 1000))]
  if (i % 20 === 1) return [`fid::${randomUUID()}`, '1']
  return [`jti:${i % 2 === 0 ? ISSUER : ''}:${randomUUID()}`, '1']
}

/**
 * Resolves when the store's mirror is live and answers (`getLocal` gives values), with its entry
 * count. After a load longer than maxLagMs the mirror says it is live before its first heartbeat
 * has made it answer; that gap is reported (`answersAfterMs`).
 */
async function mirrorLive(store, what) {
  const entries = await new Promise((resolveLive, reject) => {
    const timer = setTimeout(() => reject(new Error(`${what}: the mirror was not live within 60 s`)), 60_000)
    const stop = store.onEvent((event, data) => {
      if (event !== 'store.mirror_live') return
      clearTimeout(timer)
      stop()
      resolveLive(data.entries)
    })
  })
  const liveAt = performance.now()
  while (store.getLocal(['jti::bench-probe']) === undefined) {
    if (performance.now() - liveAt > 5000) throw new Error(`${what}: live, but no answer within 5 s`)
    await new Promise((resolveLater) => setTimeout(resolveLater, 1))
  }
  return { entries, answersAfterMs: performance.now() - liveAt }
}

/**
 * Heap kept by a mirrored store over `count` entries already on the server. A first mirrored
 * store, on an empty prefix or table, is made and closed before the baseline, so what was loaded
 * once (modules, scripts, pools) is not counted.
 */
async function mirroredHeap(makeStore, makeEmptyStore, knownKey, what) {
  const warm = makeEmptyStore()
  await mirrorLive(warm, `${what} (warm-up)`)
  await warm.close()
  const before = heapUsed()
  const store = makeStore()
  const { entries, answersAfterMs } = await mirrorLive(store, what)
  // The figure must be of a loaded mirror: it answers a key written before it started.
  const [value] = store.getLocal([knownKey]) ?? []
  if (value !== '1') throw new Error(`${what}: the live mirror answers ${value} for a key written before`)
  const mib = (heapUsed() - before) / MiB
  await store.close()
  return { mib, entries, answersAfterMs }
}

/** Milliseconds from each acknowledged write by `writer` until `reader.getLocal` shows it. */
async function propagation(writer, reader, what) {
  const delays = []
  for (let i = 0; i < SAMPLES; i++) {
    const key = `jti::${randomUUID()}`
    await writer.set(key, '1', TTL_SECONDS)
    const acknowledged = performance.now()
    for (;;) {
      const values = reader.getLocal([key])
      if (values !== undefined && values[0] === '1') break
      if (performance.now() - acknowledged > 5000)
        throw new Error(`${what}: a revocation did not reach the mirror within 5 s`)
      await nextTurn()
    }
    delays.push(performance.now() - acknowledged)
  }
  return delays
}

/** Nearest-rank percentile of sorted values. */
function percentile(sorted, p) {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]
}

function delayRow(store, delays) {
  const sorted = [...delays].sort((a, b) => a - b)
  return {
    group: 'mirror delay',
    name: store,
    samples: sorted.length,
    p50Ms: percentile(sorted, 50),
    p99Ms: percentile(sorted, 99),
    maxMs: sorted[sorted.length - 1],
  }
}

const rows = []

/** Deletes every key of this run (SCAN, then UNLINK): no FLUSH on a shared server. */
async function removeRedisKeys() {
  const redis = new Redis(redisUrl)
  try {
    for (const p of [prefix, emptyPrefix, delayPrefix]) {
      let cursor = '0'
      do {
        const [next, keys] = await redis.scan(cursor, 'MATCH', `${p}*`, 'COUNT', 1000)
        cursor = next
        if (keys.length > 0) await redis.unlink(...keys)
      } while (cursor !== '0')
    }
  } finally {
    redis.disconnect()
  }
}

/** Drops the tables of this run, and the functions their mirror triggers call (named after them). */
async function removePostgresTables() {
  const client = new pg.Client({ connectionString: postgresUrl })
  await client.connect()
  try {
    for (const t of [table, emptyTable, delayTable]) {
      await client.query(`DROP TABLE IF EXISTS "${t}"`)
      await client.query(`DROP FUNCTION IF EXISTS "${t}_authx_notify"()`)
    }
  } finally {
    await client.end()
  }
}

async function redisPart() {
  const redis = new Redis(redisUrl, { lazyConnect: true })
  await redis.connect()
  try {
    progress(`mirror: writing ${COUNT} revocation entries to Redis`)
    let knownKey
    for (let i = 0; i < COUNT; i += 1000) {
      const pipeline = redis.pipeline()
      for (let j = i; j < Math.min(i + 1000, COUNT); j++) {
        const [key, value] = entry(j)
        if (j === 2) knownKey = key
        pipeline.set(prefix + key, value, 'EX', TTL_SECONDS)
      }
      await pipeline.exec()
    }
    progress('mirror: RedisStore heap')
    const heap = await mirroredHeap(
      () => new RedisStore({ url: redisUrl, prefix, mirror: true }),
      () => new RedisStore({ url: redisUrl, prefix: emptyPrefix, mirror: true }),
      knownKey,
      'RedisStore',
    )
    rows.push({
      group: 'mirror memory',
      name: `${COUNT.toLocaleString('en')} mirrored revocations, RedisStore`,
      heapMiB: heap.mib,
      entries: heap.entries,
      answersAfterMs: heap.answersAfterMs,
    })

    progress(`mirror: RedisStore delay, ${SAMPLES} revocations`)
    const writer = new RedisStore({ url: redisUrl, prefix: delayPrefix })
    const reader = new RedisStore({ url: redisUrl, prefix: delayPrefix, mirror: true })
    try {
      await mirrorLive(reader, 'RedisStore reader')
      rows.push(delayRow('RedisStore', await propagation(writer, reader, 'RedisStore')))
    } finally {
      await reader.close()
      await writer.close()
    }
  } finally {
    redis.disconnect()
    await removeRedisKeys()
  }
}

async function postgresPart() {
  const client = new pg.Client({ connectionString: postgresUrl })
  await client.connect()
  try {
    progress(`mirror: writing ${COUNT} revocation entries to PostgreSQL`)
    // The store creates its table as it would for a user; the rows go in by the thousand.
    const maker = new PostgresStore({ connectionString: postgresUrl, table })
    await maker.set('jti::table-made', '1', TTL_SECONDS)
    await maker.close()
    let knownKey
    for (let i = 0; i < COUNT; i += 5000) {
      const keys = []
      const values = []
      for (let j = i; j < Math.min(i + 5000, COUNT); j++) {
        const [key, value] = entry(j)
        if (j === 2) knownKey = key
        keys.push(key)
        values.push(value)
      }
      // expires_at is in milliseconds since the epoch, as the store writes it.
      await client.query(
        `INSERT INTO "${table}" (key, value, expires_at) SELECT k, v, $3 FROM unnest($1::text[], $2::text[]) AS t(k, v)`,
        [keys, values, Date.now() + TTL_SECONDS * 1000],
      )
    }
    await client.query(`DELETE FROM "${table}" WHERE key = 'jti::table-made'`)
    progress('mirror: PostgresStore heap')
    const heap = await mirroredHeap(
      () => new PostgresStore({ connectionString: postgresUrl, table, mirror: true }),
      () => new PostgresStore({ connectionString: postgresUrl, table: emptyTable, mirror: true }),
      knownKey,
      'PostgresStore',
    )
    rows.push({
      group: 'mirror memory',
      name: `${COUNT.toLocaleString('en')} mirrored revocations, PostgresStore`,
      heapMiB: heap.mib,
      entries: heap.entries,
      answersAfterMs: heap.answersAfterMs,
    })

    progress(`mirror: PostgresStore delay, ${SAMPLES} revocations`)
    const reader = new PostgresStore({ connectionString: postgresUrl, table: delayTable, mirror: true })
    const writer = new PostgresStore({ connectionString: postgresUrl, table: delayTable })
    try {
      await mirrorLive(reader, 'PostgresStore reader')
      rows.push(delayRow('PostgresStore', await propagation(writer, reader, 'PostgresStore')))
    } finally {
      await reader.close()
      await writer.close()
    }
  } finally {
    await client.end()
    await removePostgresTables()
  }
}

await redisPart()
await postgresPart()
report({ part: 'mirror', settings: { count: COUNT, samples: SAMPLES, ttlSeconds: TTL_SECONDS }, rows })
