/**
 * The mirror across processes (issue 10, item 2), on RedisStore and PostgresStore: this process
 * verifies with a mirrored store while a child process (mirror-child.ts) revokes on the same
 * server, with a store of its own (mirrored or not).
 * 1. Every revocation made in the child is rejected here, within `maxLagMs` + 2 s; the delay from
 *    the child's acknowledged write to the first rejection here is measured (printed, and written
 *    to .tmp/mirror-delay.json), and verifications made no store read except of keys just
 *    notified as changed.
 * 2. The mirror's connection is killed from the server side (CLIENT KILL, pg_terminate_backend)
 *    and the child revokes at once, while the mirror cannot reconnect: the loss is seen at once
 *    (not by the heartbeat), no verification here accepts the token after the child's write once the mirror
 *    said it was down (before that, the same delivery race as in 1), and once the mirror is live
 *    again it holds the revocation.
 * 3. The server hangs, stops and restarts (Redis, a server of the test's own), or the link to it
 *    refuses or black-holes connections (PostgreSQL, through a proxy): tokens revoked before stay
 *    rejected throughout, revocations attempted here fail with StoreUnavailableError, and what
 *    the child revoked meanwhile holds once the mirror is live again.
 *
 * Redis runs on a redis-server this file starts (so it may be killed, paused and restarted);
 * PostgreSQL is the shared server, with tables of this file only.
 */
import { randomBytes, randomUUID } from 'node:crypto'
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { Redis } from 'ioredis'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { AuthX, type StoreEventListener, type StoreEvents } from '../../src/index.js'
import { PostgresStore } from '../../src/stores/postgres.js'
import { RedisStore } from '../../src/stores/redis.js'
import { tcpProxy } from '../support/tcp-proxy.js'
import { SECRET, storesRequired } from './conformance.js'
import type { ChildStoreSpec, RevocationKind } from './mirror-child.js'
import {
  epochNow,
  forwarder,
  MirrorChild,
  type OwnRedis,
  outcomeOf,
  ownRedis,
  percentile,
  poll,
  redisServerMissing,
  root,
  rounded,
  sleep,
  type Verification,
  yieldToLoop,
} from './mirror-processes.js'

const PG_URL = 'postgres://postgres@127.0.0.1:5432/test'
const MAX_LAG_MS = 1000
/** How late a revocation may be seen here and still pass: the mirror's bound plus slack for a busy machine. */
const BOUND_MS = MAX_LAG_MS + 2000
/** Revocations measured per store (half from a mirrored child store, half from a plain one). */
const MEASURED = 240
const KINDS: RevocationKind[] = ['token', 'family', 'subject']
/**
 * `maxLagMs` of the stores whose connection is killed: long, so the heartbeat (every quarter of
 * it) cannot be what notices the loss, which the closing connection itself must tell at once.
 */
const KILL_MAX_LAG_MS = 30_000
/** "At once", on a busy machine: from the kill to `store.mirror_down`. */
const NOTICED_MS = 1000
const noop = () => {}

type MirroredStore = RedisStore | PostgresStore
interface Figures {
  p50: number
  p99: number
  max: number
  n: number
}
const figures: { redis?: Figures; postgres?: Figures } = {}

afterAll(() => {
  if (figures.redis === undefined && figures.postgres === undefined) return
  mkdirSync(join(root, '.tmp'), { recursive: true })
  writeFileSync(join(root, '.tmp/mirror-delay.json'), `${JSON.stringify(figures, null, 2)}\n`)
})

/** The store's events as they come, with the moment each came, and a way to wait for one. */
function watch(store: MirroredStore) {
  const events: { event: keyof StoreEvents; at: number; data: unknown }[] = []
  let wake = noop
  const listener: StoreEventListener = (event, data) => {
    events.push({ event, at: epochNow(), data })
    wake()
  }
  store.onEvent(listener)
  return {
    events,
    /** How many of `event` came from index `from` on. */
    count(event: keyof StoreEvents, from = 0): number {
      return events.slice(from).filter((e) => e.event === event).length
    },
    /** The moment of the first `event` at index `from` or later, waiting for it if need be. */
    async next(event: keyof StoreEvents, from: number, timeoutMs = 15_000): Promise<number> {
      const deadline = Date.now() + timeoutMs
      for (;;) {
        const found = events.slice(from).find((e) => e.event === event)
        if (found !== undefined) return found.at
        const left = deadline - Date.now()
        if (left <= 0) {
          const seen = events.slice(from).map((e) => `${e.event} ${JSON.stringify(e.data)}`)
          throw new Error(`no ${event} within ${timeoutMs} ms (events since: ${seen.join('; ') || 'none'})`)
        }
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, Math.min(left, 100))
          wake = () => {
            clearTimeout(timer)
            resolve()
          }
        })
      }
    },
  }
}

/** Counts the store's reads from the server (`get`): with a live mirror, verifications make none. */
function countReads(store: MirroredStore): string[][] {
  const reads: string[][] = []
  const get = store.get.bind(store)
  store.get = (keys: string[]) => {
    reads.push([...keys])
    return get(keys)
  }
  return reads
}

/** Waits until the next whole second: a subject's cut-off revokes tokens issued before it. */
async function nextSecond(): Promise<void> {
  await sleep(1000 - (Date.now() % 1000) + 20)
}

/** Polls until `token` is rejected as revoked (the mirror heard of a revocation), or fails. */
async function untilRevoked(auth: AuthX, token: string, timeoutMs = BOUND_MS): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const outcome = await outcomeOf(auth, token)
    if (outcome === 'revoked') return
    if (outcome !== 'accepted' || Date.now() > deadline)
      throw new Error(`token not rejected as revoked within ${timeoutMs} ms (last: ${outcome})`)
    await sleep(5)
  }
}

/** The value a revocation of `kind` takes for the token: itself, its family or its subject. */
async function revocationValue(auth: AuthX, token: string, kind: RevocationKind): Promise<string> {
  if (kind === 'token') return token
  const payload = await auth.decodeToken(token)
  return kind === 'family' ? payload.fid! : payload.sub
}

/**
 * Checks a poll log: nothing but accepted, revoked or 503; and no acceptance of a label that
 * started after the moment `revokedAt` gives for it (`undefined`: may be accepted).
 */
function expectNeverAcceptedAfter(log: Verification[], revokedAt: Record<string, number>): void {
  const odd = log.filter((v) => !['accepted', 'revoked', 'unavailable'].includes(v.outcome))
  expect(odd, 'verifications ended in something else than accepted, revoked or 503').toEqual([])
  const late = log.filter(
    (v) => v.outcome === 'accepted' && revokedAt[v.label] !== undefined && v.start > revokedAt[v.label]!,
  )
  const described = late.map((v) => `${v.label} accepted ${rounded(v.start - revokedAt[v.label]!)} ms after`)
  expect(described, 'a revoked token was accepted').toEqual([])
}

function tally(log: Verification[]): Record<string, number> {
  const counts: Record<string, number> = {}
  for (const v of log) counts[v.outcome] = (counts[v.outcome] ?? 0) + 1
  return counts
}

/**
 * Judges the verifications of `target`, revoked in the child right after this process's mirror
 * connection was killed from the server side, with `control` never revoked. The child's write can
 * be acknowledged before this process has read the close of its connection (the race every
 * revocation's delivery has, measured in item 1), so until the mirror says it is down it may
 * still answer from its copy; from then on, or from the write if later, every verification of
 * the token reads the server and must reject it. The loss must be seen at once (`NOTICED_MS`).
 */
function judgeKill(log: Verification[], killAt: number, ackAt: number, downAt: number): string {
  expect(downAt - killAt, 'ms from the kill to store.mirror_down').toBeLessThanOrEqual(NOTICED_MS)
  expectNeverAcceptedAfter(log, { target: Math.max(ackAt, downAt) })
  expect(log.filter((v) => v.label === 'control' && v.outcome !== 'accepted')).toEqual([])
  const after = log.filter((v) => v.label === 'target' && v.start > ackAt)
  expect(after.length, 'verifications after the write').toBeGreaterThan(0)
  const early = after.filter((v) => v.outcome === 'accepted')
  return (
    `store.mirror_down ${rounded(downAt - killAt)} ms after the kill was sent, the child's write ` +
    `acknowledged ${rounded(ackAt - killAt)} ms after it; verifications of the revoked token after the ` +
    `write: ${JSON.stringify(tally(after))}` +
    (early.length > 0
      ? ` (accepted ones all before store.mirror_down, the last ${rounded(early.at(-1)!.start - ackAt)} ms after the write)`
      : '')
  )
}

/**
 * Item 1: `MEASURED` revocations made in the child (token, family, subject; from a plain and a
 * mirrored store of the child, in turn), each polled for here until rejected. Returns the delays.
 */
async function measureCrossProcess(
  name: 'redis' | 'postgres',
  store: MirroredStore,
  child: MirrorChild,
  childStore: (mirror: boolean) => ChildStoreSpec,
): Promise<void> {
  const watcher = watch(store)
  const auth = new AuthX({ secretKey: SECRET, store, revocation: { timeoutMs: 2000 } })
  try {
    await watcher.next('store.mirror_live', 0)
    await child.open(`${name}-plain`, childStore(false), SECRET)
    await child.open(`${name}-mirrored`, childStore(true), SECRET)
    const control = (await auth.createTokenPair({ uid: `control-${randomUUID()}` })).accessToken
    const controlPayload = await auth.decodeToken(control)
    const tokens = await Promise.all(
      Array.from(
        { length: MEASURED },
        async () => (await auth.createTokenPair({ uid: randomUUID() })).accessToken,
      ),
    )
    await nextSecond()

    const reads = countReads(store)
    const eventsBefore = watcher.events.length
    const delays: number[] = []
    let polls = 0
    for (let i = 0; i < MEASURED; i++) {
      const token = tokens[i]!
      const kind = KINDS[i % KINDS.length]!
      const instance = i % 2 === 0 ? `${name}-plain` : `${name}-mirrored`
      const sentAt = epochNow()
      const reply = child.revoke(instance, kind, await revocationValue(auth, token, kind))
      let ackAt: number | undefined
      reply.then((r) => {
        ackAt = r.at
      }, noop)
      let rejectedAt: number
      for (;;) {
        const outcome = await outcomeOf(auth, token)
        const now = epochNow()
        polls++
        if (outcome !== 'accepted') {
          expect(outcome, `revocation ${i} (${kind} from ${instance})`).toBe('revoked')
          rejectedAt = now
          break
        }
        // A token nobody revoked: accepted, and (checked below) never read from the server.
        expect(await outcomeOf(auth, control)).toBe('accepted')
        if (ackAt !== undefined && now - ackAt > BOUND_MS)
          throw new Error(
            `revocation ${i} (${kind} from ${instance}) still accepted ${BOUND_MS} ms after its write`,
          )
        if (now - sentAt > 30_000) throw new Error(`revocation ${i}: the child did not answer`)
        await yieldToLoop()
      }
      const answered = await reply
      expect(answered.ok, `revocation ${i} in the child: ${answered.code}`).toBe(true)
      delays.push(rejectedAt - answered.at)
    }
    const loopReads = reads.length
    // The read-back of the last notified keys is done within a round trip.
    await sleep(200)
    for (const token of tokens) expect(await outcomeOf(auth, token)).toBe('revoked')
    expect(reads.length - loopReads, 'reads once every revocation was mirrored').toBe(0)

    const controlReads = reads.filter((keys) =>
      keys.some((k) => k.includes(controlPayload.jti) || k.includes(controlPayload.sub)),
    )
    expect(controlReads, 'a key never revoked was read from the server').toEqual([])
    expect(watcher.count('store.mirror_down', eventsBefore), 'the mirror went down during the run').toBe(0)

    const sorted = [...delays].sort((a, b) => a - b)
    const result = {
      p50: rounded(percentile(sorted, 50)),
      p99: rounded(percentile(sorted, 99)),
      max: rounded(sorted.at(-1)!),
      n: sorted.length,
    }
    figures[name] = result
    console.log(
      `[mirror-processes] ${name}: delay from the child's acknowledged write to the first rejection here, ` +
        `ms: p50 ${result.p50}, p99 ${result.p99}, max ${result.max}, min ${rounded(sorted[0]!)}, n ${result.n}; ` +
        `${polls} verifications of the revoked tokens while polling, ${loopReads} of them read from the ` +
        'server (keys notified and not yet read back), 0 reads for the never-revoked token',
    )
  } finally {
    await auth.close()
  }
}

describe('RedisStore: the mirror across processes', () => {
  let missing: string | undefined
  let server: OwnRedis | undefined
  let child: MirrorChild | undefined
  const servers: OwnRedis[] = []
  const prefix = () => `authx-mirror-proc:${randomBytes(6).toString('hex')}:`

  beforeAll(async () => {
    missing = await redisServerMissing()
    if (missing !== undefined) {
      if (storesRequired()) throw new Error(`Redis is required in CI but unavailable: ${missing}`)
      console.warn(`[skip] RedisStore mirror process tests: ${missing}`)
      return
    }
    server = await ownRedis(false)
    servers.push(server)
    await server.start()
    child = await MirrorChild.start()
  })

  afterAll(async () => {
    await child?.close()
    for (const s of servers) await s.dispose()
  })

  const needRedis = (ctx: { skip: (note?: string) => void }) => {
    if (missing !== undefined) ctx.skip(missing)
    return { server: server!, child: child! }
  }

  it('a revocation made in another process is rejected here, reading nothing from Redis', async (ctx) => {
    const { server, child } = needRedis(ctx)
    const p = prefix()
    const store = new RedisStore({ url: server.url, prefix: p, mirror: { maxLagMs: MAX_LAG_MS } })
    await measureCrossProcess('redis', store, child, (mirror) => ({
      kind: 'redis',
      url: server.url,
      prefix: p,
      mirror,
    }))
  }, 60_000)

  it('mirror connection killed by CLIENT KILL, a revocation meanwhile: never accepted once the loss is seen, and it holds after the reconnect', async (ctx) => {
    const { server, child } = needRedis(ctx)
    const p = prefix()
    const admin = new Redis(server.url, { maxRetriesPerRequest: 1 })
    const mirrorIds = async (): Promise<string[]> =>
      String(await admin.call('CLIENT', 'LIST'))
        .split('\n')
        .filter((line) => / name=authx-mirror /.test(line))
        .map((line) => /^id=(\d+) /.exec(line)![1]!)
    // The server is this file's own, so the mirror connection that appears with the store is ours.
    const before = await mirrorIds()
    const store = new RedisStore({ url: server.url, prefix: p, mirror: { maxLagMs: KILL_MAX_LAG_MS } })
    const watcher = watch(store)
    const auth = new AuthX({ secretKey: SECRET, store, revocation: { timeoutMs: 2000 } })
    try {
      await child.open('redis-kill', { kind: 'redis', url: server.url, prefix: p, mirror: false }, SECRET)
      await watcher.next('store.mirror_live', 0)
      const target = (await auth.createTokenPair({ uid: 'kill-target' })).accessToken
      const control = (await auth.createTokenPair({ uid: 'kill-control' })).accessToken
      const ours = (await mirrorIds()).filter((id) => !before.includes(id))
      expect(ours, 'our mirror connection in CLIENT LIST').toHaveLength(1)

      const from = watcher.events.length
      const poller = poll(auth, { target, control })
      // New connections are refused while the open ones work: the mirror cannot reconnect until
      // the limit is lifted, so the revocation surely falls in the gap.
      const clients = Number(/connected_clients:(\d+)/.exec(await admin.info('clients'))?.[1])
      await admin.config('SET', 'maxclients', String(clients - 1))
      const killAt = epochNow()
      expect(await admin.call('CLIENT', 'KILL', 'ID', ours[0]!)).toBe(1)
      const revoked = await child.revoke('redis-kill', 'token', target)
      expect(revoked.ok, revoked.code).toBe(true)
      const downAt = await watcher.next('store.mirror_down', from)
      await sleep(400)
      expect(watcher.count('store.mirror_live', from), 'live again while reconnection was held off').toBe(0)
      await admin.config('SET', 'maxclients', '10000')
      await watcher.next('store.mirror_live', from)
      await sleep(100)
      await poller.stop()

      const summary = judgeKill(poller.log, killAt, revoked.at, downAt)
      // Live again on a new connection, and the revocation made in the gap is in the mirror.
      const now = (await mirrorIds()).filter((id) => !before.includes(id))
      expect(now).toHaveLength(1)
      expect(now[0]).not.toBe(ours[0])
      const reads = countReads(store)
      expect(await outcomeOf(auth, target)).toBe('revoked')
      expect(await outcomeOf(auth, control)).toBe('accepted')
      expect(reads, 'answered from the mirror').toEqual([])
      console.log(`[mirror-processes] redis CLIENT KILL: ${summary}`)
    } finally {
      await admin.config('SET', 'maxclients', '10000').catch(noop)
      admin.disconnect()
      await auth.close()
    }
  }, 60_000)

  it('Redis hung, then stopped and restarted: revoked tokens never accepted, revocations meanwhile fail with 503', async (ctx) => {
    const { child } = needRedis(ctx)
    // A server of this test only, with an append-only file: it comes back with its revocations.
    const own = await ownRedis(true)
    servers.push(own)
    await own.start()
    const p = prefix()
    const store = new RedisStore({
      url: own.url,
      prefix: p,
      commandTimeoutMs: 300,
      mirror: { maxLagMs: MAX_LAG_MS },
      circuitBreaker: { failures: 5, coolDownMs: 1000 },
    })
    const watcher = watch(store)
    const auth = new AuthX({ secretKey: SECRET, store, revocation: { timeoutMs: 1000 } })
    try {
      await child.open('redis-outage', { kind: 'redis', url: own.url, prefix: p, mirror: false }, SECRET)
      await watcher.next('store.mirror_live', 0)
      const make = async () => (await auth.createTokenPair({ uid: randomUUID() })).accessToken
      const pre = { preToken: await make(), preFamily: await make(), preSubject: await make() }
      const attempted = {
        hungHere: await make(),
        hungChild: await make(),
        downHere: await make(),
        downChild: await make(),
      }
      await nextSecond()
      const revokedAt: Record<string, number> = {}
      for (const [label, token] of Object.entries(pre)) {
        const kind: RevocationKind =
          label === 'preToken' ? 'token' : label === 'preFamily' ? 'family' : 'subject'
        const reply = await child.revoke('redis-outage', kind, await revocationValue(auth, token, kind))
        expect(reply.ok, reply.code).toBe(true)
        revokedAt[label] = reply.at
        await untilRevoked(auth, token)
      }

      const poller = poll(auth, pre)
      // Hung: connections stay open and nothing answers.
      let from = watcher.events.length
      own.pause()
      await expect(auth.revokeToken(attempted.hungHere)).rejects.toMatchObject({
        code: 'ERR_STORE_UNAVAILABLE',
      })
      const hungChild = await child.revoke('redis-outage', 'token', attempted.hungChild)
      expect(hungChild).toMatchObject({ ok: false, code: 'ERR_STORE_UNAVAILABLE' })
      await watcher.next('store.mirror_down', from)
      await sleep(300)
      own.resume()
      await watcher.next('store.mirror_live', from)

      // Stopped: every connection closed, new ones refused; then started again.
      from = watcher.events.length
      await own.stop()
      await watcher.next('store.mirror_down', from)
      await expect(auth.revokeToken(attempted.downHere)).rejects.toMatchObject({
        code: 'ERR_STORE_UNAVAILABLE',
      })
      const downChild = await child.revoke('redis-outage', 'token', attempted.downChild)
      expect(downChild).toMatchObject({ ok: false, code: 'ERR_STORE_UNAVAILABLE' })
      await sleep(500)
      await own.start()
      await watcher.next('store.mirror_live', from)
      await sleep(100)
      await poller.stop()

      expectNeverAcceptedAfter(poller.log, revokedAt)
      const reads = countReads(store)
      for (const token of Object.values(pre)) expect(await outcomeOf(auth, token)).toBe('revoked')
      expect(reads, 'answered from the reloaded mirror').toEqual([])
      // Refused by a stopped server, so not written: the 503s told the truth.
      expect(await outcomeOf(auth, attempted.downHere)).toBe('accepted')
      expect(await outcomeOf(auth, attempted.downChild)).toBe('accepted')
      console.log(
        `[mirror-processes] redis hung + stopped: verifications of tokens revoked before: ${JSON.stringify(tally(poller.log))}`,
      )
    } finally {
      await auth.close()
    }
  }, 60_000)
})

describe('PostgresStore: the mirror across processes', () => {
  let missing: string | undefined
  let child: MirrorChild | undefined
  let admin: pg.Pool | undefined
  const run = `authx_mp${process.pid}_${randomBytes(3).toString('hex')}`
  const tables: string[] = []
  const table = (label: string) => {
    const name = `${run}_${label}`
    tables.push(name)
    return name
  }

  beforeAll(async () => {
    admin = new pg.Pool({ connectionString: PG_URL, max: 2, connectionTimeoutMillis: 2000 })
    admin.on('error', noop)
    try {
      await admin.query('SELECT 1')
    } catch (err) {
      missing = `PostgreSQL at 127.0.0.1:5432 is unreachable (${String(err)})`
      if (storesRequired()) throw new Error(`PostgreSQL is required in CI but unavailable: ${missing}`)
      console.warn(`[skip] PostgresStore mirror process tests: ${missing}`)
      return
    }
    child = await MirrorChild.start()
  })

  afterAll(async () => {
    await child?.close()
    if (missing === undefined && admin !== undefined) {
      for (const name of tables) {
        await admin.query(`DROP TABLE IF EXISTS "${name}"`)
        await admin.query(`DROP FUNCTION IF EXISTS "${name}_authx_notify"()`)
      }
    }
    await admin?.end()
  })

  const needPostgres = (ctx: { skip: (note?: string) => void }) => {
    if (missing !== undefined) ctx.skip(missing)
    return { child: child!, admin: admin! }
  }

  it('a revocation made in another process is rejected here, reading nothing from PostgreSQL', async (ctx) => {
    const { child } = needPostgres(ctx)
    const t = table('delay')
    const store = new PostgresStore({ connectionString: PG_URL, table: t, mirror: { maxLagMs: MAX_LAG_MS } })
    await measureCrossProcess('postgres', store, child, (mirror) => ({
      kind: 'postgres',
      connectionString: PG_URL,
      table: t,
      mirror,
    }))
  }, 60_000)

  it('LISTEN connection killed by pg_terminate_backend, a revocation meanwhile: never accepted once the loss is seen, and it holds after the reconnect', async (ctx) => {
    const { child, admin } = needPostgres(ctx)
    const t = table('kill')
    // Through a forwarder: pg_stat_activity shows our connections by the ports it opened (other
    // test files hold mirror connections on this server too), and it can hold off reconnection.
    const link = await forwarder('127.0.0.1', 5432)
    const store = new PostgresStore({
      connectionString: `postgres://postgres@127.0.0.1:${link.port}/test`,
      table: t,
      timeoutMs: 2000,
      mirror: { maxLagMs: KILL_MAX_LAG_MS },
    })
    const watcher = watch(store)
    const auth = new AuthX({ secretKey: SECRET, store, revocation: { timeoutMs: 2000 } })
    try {
      await child.open(
        'pg-kill',
        { kind: 'postgres', connectionString: PG_URL, table: t, mirror: false },
        SECRET,
      )
      await watcher.next('store.mirror_live', 0)
      const target = (await auth.createTokenPair({ uid: 'kill-target' })).accessToken
      const control = (await auth.createTokenPair({ uid: 'kill-control' })).accessToken
      // The pool's connections are open before the gap, so reads can fall back to the server.
      await Promise.all([store.get(['warm1']), store.get(['warm2'])])

      const listeners = async (): Promise<number[]> => {
        const { rows } = await admin.query(
          `SELECT pid FROM pg_stat_activity WHERE application_name = 'authx-mirror'
           AND client_addr = '127.0.0.1' AND client_port = ANY($1::int[])`,
          [[...link.upstreamPorts]],
        )
        return rows.map((row) => row.pid as number)
      }
      const pids = await listeners()
      expect(pids, 'our LISTEN connection in pg_stat_activity').toHaveLength(1)

      const from = watcher.events.length
      const poller = poll(auth, { target, control })
      link.hold = true
      const killAt = epochNow()
      const { rows } = await admin.query('SELECT pg_terminate_backend($1) AS done', [pids[0]])
      expect(rows[0].done).toBe(true)
      const revoked = await child.revoke('pg-kill', 'token', target)
      expect(revoked.ok, revoked.code).toBe(true)
      const downAt = await watcher.next('store.mirror_down', from)
      await sleep(400)
      expect(watcher.count('store.mirror_live', from), 'live again while reconnection was held off').toBe(0)
      link.hold = false
      await watcher.next('store.mirror_live', from)
      await sleep(100)
      await poller.stop()

      const summary = judgeKill(poller.log, killAt, revoked.at, downAt)
      const newPids = await listeners()
      expect(newPids).toHaveLength(1)
      expect(newPids[0]).not.toBe(pids[0])
      const reads = countReads(store)
      expect(await outcomeOf(auth, target)).toBe('revoked')
      expect(await outcomeOf(auth, control)).toBe('accepted')
      expect(reads, 'answered from the mirror').toEqual([])
      console.log(`[mirror-processes] postgres pg_terminate_backend: ${summary}`)
    } finally {
      await auth.close()
      await link.close()
    }
  }, 60_000)

  it('link refused, then black-holed: revoked tokens never accepted, 503 on revocations here, what the other process revoked meanwhile holds', async (ctx) => {
    const { child } = needPostgres(ctx)
    const t = table('outage')
    const proxy = await tcpProxy('127.0.0.1', 5432)
    const store = new PostgresStore({
      connectionString: `postgres://postgres@127.0.0.1:${proxy.port}/test`,
      table: t,
      timeoutMs: 500,
      mirror: { maxLagMs: MAX_LAG_MS },
      circuitBreaker: { failures: 5, coolDownMs: 1000 },
    })
    const watcher = watch(store)
    const auth = new AuthX({ secretKey: SECRET, store, revocation: { timeoutMs: 1000 } })
    try {
      await child.open(
        'pg-outage',
        { kind: 'postgres', connectionString: PG_URL, table: t, mirror: false },
        SECRET,
      )
      await watcher.next('store.mirror_live', 0)
      const make = async () => (await auth.createTokenPair({ uid: randomUUID() })).accessToken
      const pre = { preToken: await make(), preFamily: await make(), preSubject: await make() }
      const during = { refused: await make(), stale: await make(), holed: await make() }
      const attempted = { refusedHere: await make(), holedHere: await make() }
      await nextSecond()
      const revokedAt: Record<string, number> = {}
      for (const [label, token] of Object.entries(pre)) {
        const kind: RevocationKind =
          label === 'preToken' ? 'token' : label === 'preFamily' ? 'family' : 'subject'
        const reply = await child.revoke('pg-outage', kind, await revocationValue(auth, token, kind))
        expect(reply.ok, reply.code).toBe(true)
        revokedAt[label] = reply.at
        await untilRevoked(auth, token)
      }
      const childRevokes = async (label: keyof typeof during) => {
        const reply = await child.revoke('pg-outage', 'token', during[label])
        expect(reply.ok, reply.code).toBe(true)
        return reply.at
      }

      const poller = poll(auth, { ...pre, ...during })
      // Refused: every connection is closed and new ones are refused, as by a stopped server.
      let from = watcher.events.length
      proxy.set('refuse')
      await watcher.next('store.mirror_down', from)
      await expect(auth.revokeToken(attempted.refusedHere)).rejects.toMatchObject({
        code: 'ERR_STORE_UNAVAILABLE',
      })
      revokedAt.refused = await childRevokes('refused')
      await sleep(500)
      proxy.set('forward')
      await watcher.next('store.mirror_live', from, 20_000)
      // Reloaded on reconnecting: what the child revoked while the link was refused holds at once.
      expect(await outcomeOf(auth, during.refused)).toBe('revoked')

      // Black-holed while the mirror is live: nothing tells it, so it may answer from its copy
      // for at most maxLagMs after the link went dark, then its heartbeat finds the link dead.
      from = watcher.events.length
      const darkAt = epochNow()
      proxy.set('black-hole')
      const staleAck = await childRevokes('stale')
      revokedAt.stale = darkAt + MAX_LAG_MS
      const downAt = await watcher.next('store.mirror_down', from)
      revokedAt.holed = await childRevokes('holed')
      await expect(auth.revokeToken(attempted.holedHere)).rejects.toMatchObject({
        code: 'ERR_STORE_UNAVAILABLE',
      })
      await sleep(500)
      proxy.set('forward')
      await watcher.next('store.mirror_live', from, 20_000)
      await sleep(100)
      await poller.stop()

      expectNeverAcceptedAfter(poller.log, revokedAt)
      const reads = countReads(store)
      for (const token of [...Object.values(pre), ...Object.values(during)])
        expect(await outcomeOf(auth, token)).toBe('revoked')
      expect(reads, 'answered from the reloaded mirror').toEqual([])
      const staleAccepted = poller.log.filter(
        (v) => v.label === 'stale' && v.outcome === 'accepted' && v.start > staleAck,
      )
      console.log(
        `[mirror-processes] postgres refused + black-holed: outcomes ${JSON.stringify(tally(poller.log))}; ` +
          `mirror down ${rounded(downAt - darkAt)} ms after the link went dark (maxLagMs ${MAX_LAG_MS}); ` +
          `token revoked in the dark accepted ${staleAccepted.length} times after its write, the last ` +
          `${staleAccepted.length > 0 ? rounded(staleAccepted.at(-1)!.start - darkAt) : '-'} ms after the link went dark`,
      )
    } finally {
      await auth.close()
      await proxy.close()
    }
  }, 60_000)
})
