/**
 * RedisStore on a real Redis Cluster (issue 8, item 7): the keys of one verification (`jti:`,
 * `sub:`, `fid:`) live in different hash slots, so one MGET of them is refused (`CROSSSLOT`) and
 * every request would answer 503. Runs the store conformance suite with an ioredis `Cluster` and
 * a node-redis `createCluster` client, then verification, revocation and refresh rotation
 * through AuthX. Start the cluster with `bash scripts/ci/redis-cluster.sh` (CI does); the tests
 * fail instead of skipping when it is missing and `CI` or `AUTHX_REQUIRE_STORES` is set.
 */
import { randomBytes } from 'node:crypto'
import type { Cluster } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  AuthX,
  type AuthXStore,
  RefreshTokenReusedError,
  RevokedTokenError,
  StoreUnavailableError,
} from '../../src/index.js'
import { RedisStore } from '../../src/stores/redis.js'
import { clusterMissing, ioredisCluster, nodeRedisCluster, scanKeys } from '../support/redis.js'
import { runStoreConformance, SECRET, storesRequired } from './conformance.js'

const prefixes: string[] = []
/** A key prefix no other run uses; its keys are deleted after the tests. */
function uniquePrefix(): string {
  const prefix = `authx-test:${randomBytes(8).toString('hex')}:`
  prefixes.push(prefix)
  return prefix
}

let adminCluster: Cluster | undefined
/** A raw client for checks and cleanup, made only once the cluster is known to be up. */
async function admin(): Promise<Cluster> {
  adminCluster ??= await ioredisCluster()
  return adminCluster
}

/** Every key under `prefix`, on every master (SCAN, never KEYS). */
async function keysUnder(prefix: string): Promise<string[]> {
  const keys: string[] = []
  for (const node of (await admin()).nodes('master')) keys.push(...(await scanKeys(node, prefix)))
  return keys
}

async function deleteKeysUnder(prefix: string): Promise<void> {
  const cluster = await admin()
  // One DEL per key: a DEL of several keys would cross slots too.
  for (const key of await keysUnder(prefix)) await cluster.del(key)
}

let missing: string | undefined
beforeAll(async () => {
  missing = await clusterMissing()
})

afterAll(async () => {
  if (missing !== undefined) return
  for (const prefix of prefixes) await deleteKeysUnder(prefix)
  await adminCluster?.quit()
})

/** Skips the test when the cluster is missing (fails it in CI, as the conformance suite does). */
function needCluster(ctx: { skip: (note?: string) => void }): void {
  if (missing === undefined) return
  if (storesRequired()) throw new Error(`Redis Cluster is required in CI but unavailable: ${missing}`)
  ctx.skip(missing)
}

runStoreConformance('RedisStore (ioredis Cluster)', clusterMissing, async () => {
  const cluster = await ioredisCluster()
  const prefix = uniquePrefix()
  let n = 0
  return {
    make: async () => new RedisStore({ client: cluster, prefix: `${prefix}${n++}:` }),
    cleanup: async () => {
      await deleteKeysUnder(prefix)
      // The stores were closed before this runs: the client they were given stays usable.
      expect(cluster.status).toBe('ready')
      await cluster.quit()
    },
  }
})

runStoreConformance('RedisStore (node-redis cluster)', clusterMissing, async () => {
  const cluster = await nodeRedisCluster()
  const prefix = uniquePrefix()
  let n = 0
  return {
    make: async () => new RedisStore({ client: cluster, prefix: `${prefix}${n++}:` }),
    cleanup: async () => {
      await deleteKeysUnder(prefix)
      expect(cluster.isReady).toBe(true)
      await cluster.close()
    },
  }
})

/** The two cluster clients, each as a store with its own prefix. */
const kinds: Record<string, () => Promise<{ store: AuthXStore; prefix: string; dispose(): Promise<void> }>> =
  {
    'an ioredis Cluster': async () => {
      // The settings docs/stores.md advises for a client of your own.
      const cluster = await ioredisCluster({
        commandTimeout: 2000,
        socketTimeout: 4000,
        maxRetriesPerRequest: 0,
        autoResendUnfulfilledCommands: false,
      })
      const prefix = uniquePrefix()
      return {
        store: new RedisStore({ client: cluster, prefix, commandTimeoutMs: 2000 }),
        prefix,
        dispose: async () => {
          await cluster.quit()
        },
      }
    },
    'a node-redis cluster': async () => {
      const cluster = await nodeRedisCluster()
      const prefix = uniquePrefix()
      return {
        store: new RedisStore({ client: cluster, prefix, commandTimeoutMs: 2000 }),
        prefix,
        dispose: () => cluster.close(),
      }
    },
  }

/** The HTTP status AuthX gives a bearer request: 200 when authenticated, else the error's status. */
async function statusOf(auth: AuthX, token: string): Promise<number> {
  const request = new Request('http://localhost/me', { headers: { authorization: `Bearer ${token}` } })
  try {
    await auth.authenticate(request)
    return 200
  } catch (err) {
    return (err as { status?: number }).status ?? 500
  }
}

describe.each(Object.keys(kinds))('RedisStore on a Redis Cluster through %s, end to end', (kind) => {
  const disposers: (() => Promise<void>)[] = []
  afterAll(async () => {
    for (const dispose of disposers) await dispose()
  })
  async function setup() {
    const subject = await kinds[kind]!()
    disposers.push(subject.dispose)
    let now = Date.now()
    const auth = new AuthX({
      secretKey: SECRET,
      store: subject.store,
      revocation: { timeoutMs: 2000 },
      clock: () => now,
    })
    return { ...subject, auth, advance: (ms: number) => (now += ms) }
  }

  it('verifies a token (its revocation keys span hash slots), revokes it, its family and its subject', async (ctx) => {
    needCluster(ctx)
    const { auth, prefix, advance } = await setup()
    const alice = await auth.createTokenPair({ uid: 'alice' })
    expect(await statusOf(auth, alice.accessToken)).toBe(200)

    await auth.revokeToken(alice.accessToken)
    const { fid } = await auth.decodeToken(alice.refreshToken)
    await auth.revokeFamily(fid!)
    advance(2000)
    await auth.revokeAllForSubject('alice')
    // The three keys one verification reads are in different slots: one MGET of them is refused.
    const written = await keysUnder(prefix)
    expect(written.map((k) => k.slice(prefix.length).split(':')[0]).sort()).toEqual(['fid', 'jti', 'sub'])
    const cluster = await admin()
    const slots = new Set(await Promise.all(written.map((k) => cluster.cluster('KEYSLOT', k))))
    expect(slots.size).toBeGreaterThan(1)
    await expect(cluster.mget(...written)).rejects.toThrow(/CROSSSLOT/)

    expect(await statusOf(auth, alice.accessToken)).toBe(401)
    await expect(auth.verifyToken(alice.accessToken)).rejects.toBeInstanceOf(RevokedTokenError)
    await expect(auth.verifyToken(alice.refreshToken, { type: 'refresh' })).rejects.toBeInstanceOf(
      RevokedTokenError,
    )
    // The subject cut-off covers tokens issued before it, not one issued after.
    const bob = await auth.createTokenPair({ uid: 'bob' })
    const before = await auth.createAccessToken({ uid: 'carol' })
    advance(2000)
    await auth.revokeAllForSubject('carol')
    const after = await auth.createAccessToken({ uid: 'carol' })
    expect(await statusOf(auth, before)).toBe(401)
    expect(await statusOf(auth, after)).toBe(200)
    expect(await statusOf(auth, bob.accessToken)).toBe(200)
  })

  it('rotates refresh tokens: a reuse revokes the family, and of 20 concurrent refreshes one wins', async (ctx) => {
    needCluster(ctx)
    const { auth } = await setup()
    const first = await auth.createTokenPair({ uid: 'dave' })
    const second = await auth.refresh(first.refreshToken)
    expect(await statusOf(auth, second.accessToken)).toBe(200)
    const third = await auth.refresh(second.refreshToken)
    await expect(auth.refresh(second.refreshToken)).rejects.toBeInstanceOf(RefreshTokenReusedError)
    // The family is revoked: the newest pair too.
    await expect(auth.refresh(third.refreshToken)).rejects.toBeInstanceOf(RevokedTokenError)
    expect(await statusOf(auth, third.accessToken)).toBe(401)

    const { refreshToken } = await auth.createTokenPair({ uid: 'erin' })
    const results = await Promise.allSettled(Array.from({ length: 20 }, () => auth.refresh(refreshToken)))
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1)
    for (const r of results) {
      if (r.status === 'rejected') expect(r.reason).not.toBeInstanceOf(StoreUnavailableError)
    }
  })
})
