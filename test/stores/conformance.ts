/**
 * The store conformance suite (issue 4, item 1): every store runs the same behaviour tests,
 * on the real server of this machine. Where a server is missing the tests FAIL when
 * `CI` or `AUTHX_REQUIRE_STORES` is set, and skip with a printed reason otherwise.
 */
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { AuthX, type AuthXStore, RefreshTokenReusedError, RevokedTokenError } from '../../src/index.js'

export const SECRET = 'store-conformance-secret-0123456789abcdef'

/**
 * `undefined` when the PostgreSQL server at `url` answers `SELECT 1` within a second, else why
 * it does not.
 */
export async function postgresMissing(url: string): Promise<string | undefined> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 1000 })
  client.on('error', () => {})
  try {
    await client.connect()
    await client.query('SELECT 1')
    return undefined
  } catch (err) {
    return `PostgreSQL at ${new URL(url).host} is unreachable (${String(err)})`
  } finally {
    await client.end().catch(() => {})
  }
}

/** Whether missing servers must fail the run instead of skipping. */
export function storesRequired(): boolean {
  return Boolean(process.env.CI || process.env.AUTHX_REQUIRE_STORES)
}

export interface StoreFixture {
  /** A new store over the shared server/file, with keys isolated from other tests. */
  make(): Promise<AuthXStore>
  /** Drops everything the fixture created. */
  cleanup?(): Promise<void>
}

/**
 * Registers the conformance tests. `available` resolves to `undefined` when the server is up,
 * or to the reason it is not.
 */
export function runStoreConformance(
  name: string,
  available: () => Promise<string | undefined>,
  fixture: () => Promise<StoreFixture>,
): void {
  describe(`${name}: store conformance`, () => {
    let fx: StoreFixture | undefined
    let missing: string | undefined

    beforeAll(async () => {
      missing = await available()
      if (missing !== undefined) {
        if (storesRequired()) throw new Error(`${name} is required in CI but unavailable: ${missing}`)
        console.warn(`[skip] ${name} store tests: ${missing}`)
        return
      }
      fx = await fixture()
    })

    afterAll(async () => {
      await fx?.cleanup?.()
    })

    const withStore =
      (fn: (store: AuthXStore) => Promise<void>) => async (ctx: { skip: (note?: string) => void }) => {
        if (fx === undefined) {
          ctx.skip(missing)
          return
        }
        const store = await fx.make()
        try {
          await fn(store)
        } finally {
          // Close now, not after the suite: a store that owns a pool holds its connections.
          await store.close?.()
        }
      }

    it(
      'get returns the values in key order, null for absent keys, in one call',
      withStore(async (store) => {
        await store.set('a', '1', 60)
        await store.set('c', '3', 60)
        expect(await store.get(['a', 'b', 'c'])).toEqual(['1', null, '3'])
        expect(await store.get([])).toEqual([])
      }),
    )

    it(
      'set overwrites a value and delete removes it',
      withStore(async (store) => {
        await store.set('k', 'one', 60)
        await store.set('k', 'two', 60)
        expect(await store.get(['k'])).toEqual(['two'])
        await store.delete('k')
        expect(await store.get(['k'])).toEqual([null])
        await store.delete('never-set')
      }),
    )

    it(
      'values expire after their time to live',
      withStore(async (store) => {
        await store.set('short', 'v', 1)
        await store.set('long', 'v', 60)
        await new Promise((r) => setTimeout(r, 2100))
        expect(await store.get(['short', 'long'])).toEqual([null, 'v'])
      }),
    )

    it(
      'setIfAbsent sets only when absent and returns whether it did',
      withStore(async (store) => {
        expect(await store.setIfAbsent('once', 'first', 60)).toBe(true)
        expect(await store.setIfAbsent('once', 'second', 60)).toBe(false)
        expect(await store.get(['once'])).toEqual(['first'])
      }),
    )

    it(
      'setIfAbsent succeeds again once the previous value expired',
      withStore(async (store) => {
        expect(await store.setIfAbsent('exp', 'a', 1)).toBe(true)
        await new Promise((r) => setTimeout(r, 2100))
        expect(await store.setIfAbsent('exp', 'b', 60)).toBe(true)
        expect(await store.get(['exp'])).toEqual(['b'])
      }),
    )

    it(
      'of 50 concurrent setIfAbsent calls on one key exactly one wins',
      withStore(async (store) => {
        const results = await Promise.all(
          Array.from({ length: 50 }, (_, i) => store.setIfAbsent('race', String(i), 60)),
        )
        expect(results.filter(Boolean)).toHaveLength(1)
      }),
    )

    it(
      'keys and values with unusual characters round-trip',
      withStore(async (store) => {
        const key = 'jti:https%3A%2F%2Fiss:%27%3B DROP TABLE x;--\u00e9'
        await store.set(key, 'v\u00e9\'"', 60)
        expect(await store.get([key])).toEqual(['v\u00e9\'"'])
      }),
    )

    it(
      'close may be called twice',
      withStore(async (store) => {
        await store.close?.()
        await store.close?.()
      }),
    )

    it(
      'revocation through AuthX: a revoked token, family and subject stay revoked',
      withStore(async (store) => {
        const auth = new AuthX({ secretKey: SECRET, store, revocation: { timeoutMs: 5000 } })
        const pair = await auth.createTokenPair({ uid: 'conformance-user' })
        const access = await auth.verifyToken(pair.accessToken)
        await auth.revokeToken(access)
        await expect(auth.verifyToken(pair.accessToken)).rejects.toBeInstanceOf(RevokedTokenError)
        const other = await auth.createTokenPair({ uid: 'conformance-user-2' })
        await auth.revokeFamily((await auth.decodeToken(other.refreshToken)).fid!)
        await expect(auth.verifyToken(other.refreshToken, { type: 'refresh' })).rejects.toBeInstanceOf(
          RevokedTokenError,
        )
        await expect(auth.verifyToken(other.accessToken)).rejects.toBeInstanceOf(RevokedTokenError)
      }),
    )

    it(
      'rotation through AuthX: of 50 concurrent refreshes of one token exactly one succeeds',
      withStore(async (store) => {
        const auth = new AuthX({ secretKey: SECRET, store, revocation: { timeoutMs: 5000 } })
        const { refreshToken } = await auth.createTokenPair({ uid: 'rotation-user' })
        const results = await Promise.allSettled(Array.from({ length: 50 }, () => auth.refresh(refreshToken)))
        expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1)
        // Losers see reuse, or, once another loser revoked the family, a revoked token.
        for (const r of results) {
          if (r.status === 'rejected') {
            expect(r.reason instanceof RefreshTokenReusedError || r.reason instanceof RevokedTokenError).toBe(
              true,
            )
          }
        }
        expect(
          results.some((r) => r.status === 'rejected' && r.reason instanceof RefreshTokenReusedError),
        ).toBe(true)
      }),
    )

    // Run alone with `-t "hit and indexed records"`.
    describe('hit and indexed records (SPEC 9.3, 9.4)', () => {
      hitAndIndexedConformance(withStore)
    })
  })
}

type WithStore = (
  fn: (store: AuthXStore) => Promise<void>,
) => (ctx: { skip: (note?: string) => void }) => Promise<void>

/** The store's optional methods, required here: every built-in store has them. */
function full(
  store: AuthXStore,
): Required<Pick<AuthXStore, 'hit' | 'putIndexed' | 'updateIndexed' | 'listIndexed' | 'deleteIndexed'>> {
  for (const method of ['hit', 'putIndexed', 'updateIndexed', 'listIndexed', 'deleteIndexed'] as const)
    expect(typeof store[method], `store.${method}`).toBe('function')
  return store as never
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** Pairs sorted by key: `listIndexed` answers in any order. */
const sorted = (pairs: [string, string][]) => [...pairs].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))

/**
 * The tests of `hit` (a sliding window) and of indexed records, on real time: servers keep their
 * own clocks (Redis TIME, Postgres clock_timestamp()), so nothing here injects one. Every test uses
 * keys of its own, since some fixtures share one table between the tests of a suite.
 */
function hitAndIndexedConformance(withStore: WithStore): void {
  it(
    'hit allows exactly max hits, then denies without counting the denied ones',
    withStore(async (store) => {
      const s = full(store)
      const before = Date.now()
      const first = await s.hit('rl:t:max', 60, 3)
      const after = Date.now()
      expect(first.allowed).toBe(true)
      expect(first.count).toBe(1)
      // The server's clock may differ a little from this process's, so a margin.
      expect(first.resetAt).toBeGreaterThanOrEqual(before + 60_000 - 1000)
      expect(first.resetAt).toBeLessThanOrEqual(after + 60_000 + 1000)
      expect(await s.hit('rl:t:max', 60, 3)).toEqual({ allowed: true, count: 2, resetAt: first.resetAt })
      expect(await s.hit('rl:t:max', 60, 3)).toEqual({ allowed: true, count: 3, resetAt: first.resetAt })
      for (let i = 0; i < 5; i++) {
        // Denied hits are not recorded: the count stays at max, and the oldest hit still frees the slot.
        expect(await s.hit('rl:t:max', 60, 3)).toEqual({ allowed: false, count: 3, resetAt: first.resetAt })
      }
      // A larger max on the same window: the denied hits above left no trace.
      expect(await s.hit('rl:t:max', 60, 5)).toMatchObject({ allowed: true, count: 4 })
    }),
  )

  it(
    'hit slides: the oldest hit leaves the window at resetAt, the later ones stay',
    withStore(async (store) => {
      const s = full(store)
      const key = 'rl:t:slide'
      const first = await s.hit(key, 1, 2)
      await sleep(600)
      const second = await s.hit(key, 1, 2)
      expect(second).toEqual({ allowed: true, count: 2, resetAt: first.resetAt })
      const denied = await s.hit(key, 1, 2)
      expect(denied.allowed).toBe(false)
      // Past the first hit's exit, well before the second's: one slot is free again, not two (a
      // fixed window would have reset both).
      await sleep(Math.max(0, denied.resetAt - Date.now()) + 150)
      const third = await s.hit(key, 1, 2)
      expect(third.allowed).toBe(true)
      expect(third.count).toBe(2)
      expect(third.resetAt).toBeGreaterThan(first.resetAt)
      const fourth = await s.hit(key, 1, 2)
      expect(fourth).toEqual({ allowed: false, count: 2, resetAt: third.resetAt })
      // The second hit leaves about 600 ms after the first.
      expect(third.resetAt - first.resetAt).toBeGreaterThan(300)
    }),
  )

  it(
    'of 50 concurrent hits with max 10 exactly 10 are allowed',
    withStore(async (store) => {
      const s = full(store)
      const results = await Promise.all(Array.from({ length: 50 }, () => s.hit('rl:t:race', 60, 10)))
      expect(results.filter((r) => r.allowed)).toHaveLength(10)
      expect(
        results
          .filter((r) => r.allowed)
          .map((r) => r.count)
          .sort((a, b) => a - b),
      ).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10])
      for (const r of results.filter((r) => !r.allowed)) expect(r.count).toBeGreaterThanOrEqual(10)
    }),
  )

  it(
    'hit counts each key apart, and delete(key) resets a window',
    withStore(async (store) => {
      const s = full(store)
      expect(await s.hit('rl:t:one', 60, 1)).toMatchObject({ allowed: true, count: 1 })
      expect(await s.hit('rl:t:one', 60, 1)).toMatchObject({ allowed: false, count: 1 })
      expect(await s.hit('rl:t:two', 60, 1)).toMatchObject({ allowed: true, count: 1 })
      await store.delete('rl:t:one')
      expect(await s.hit('rl:t:one', 60, 1)).toMatchObject({ allowed: true, count: 1 })
      expect(await s.hit('rl:t:two', 60, 1)).toMatchObject({ allowed: false, count: 1 })
    }),
  )

  it(
    'hit takes a fractional window',
    withStore(async (store) => {
      const s = full(store)
      const a = await s.hit('rl:t:frac', 0.5, 1)
      expect(a.allowed).toBe(true)
      expect(await s.hit('rl:t:frac', 0.5, 1)).toMatchObject({ allowed: false, count: 1 })
      await sleep(Math.max(0, a.resetAt - Date.now()) + 150)
      expect(await s.hit('rl:t:frac', 0.5, 1)).toMatchObject({ allowed: true, count: 1 })
    }),
  )

  it(
    'hit rejects a window or max that is not a positive number with a TypeError, counting nothing',
    withStore(async (store) => {
      const s = full(store)
      for (const windowSeconds of [0, -1, Number.NaN, Number.POSITIVE_INFINITY, '60' as never]) {
        await expect(s.hit('rl:t:args', windowSeconds, 5)).rejects.toBeInstanceOf(TypeError)
      }
      for (const max of [0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 53, '5' as never]) {
        await expect(s.hit('rl:t:args', 60, max)).rejects.toBeInstanceOf(TypeError)
      }
      expect(await s.hit('rl:t:args', 60, 5)).toMatchObject({ allowed: true, count: 1 })
    }),
  )

  it(
    'putIndexed writes a value get reads and listIndexed lists; it replaces a value',
    withStore(async (store) => {
      const s = full(store)
      expect(await s.listIndexed('sesx:t:put')).toEqual([])
      await s.putIndexed('sesx:t:put', 'ses:t:p1', 'one', 60)
      await s.putIndexed('sesx:t:put', 'ses:t:p2', 'two', 60)
      await s.putIndexed('sesx:t:put-other', 'ses:t:p3', 'three', 60)
      expect(await store.get(['ses:t:p1', 'ses:t:p2', 'ses:t:p3'])).toEqual(['one', 'two', 'three'])
      expect(sorted(await s.listIndexed('sesx:t:put'))).toEqual([
        ['ses:t:p1', 'one'],
        ['ses:t:p2', 'two'],
      ])
      await s.putIndexed('sesx:t:put', 'ses:t:p1', 'one again', 60)
      expect(sorted(await s.listIndexed('sesx:t:put'))).toEqual([
        ['ses:t:p1', 'one again'],
        ['ses:t:p2', 'two'],
      ])
      expect(await s.listIndexed('sesx:t:put-other')).toEqual([['ses:t:p3', 'three']])
      expect(await s.listIndexed('sesx:t:never')).toEqual([])
    }),
  )

  it(
    'updateIndexed replaces a live record, and writes nothing for an absent or deleted one',
    withStore(async (store) => {
      const s = full(store)
      await s.putIndexed('sesx:t:upd', 'ses:t:u1', 'v1', 60)
      expect(await s.updateIndexed('sesx:t:upd', 'ses:t:u1', 'v2', 60)).toBe(true)
      expect(await store.get(['ses:t:u1'])).toEqual(['v2'])
      expect(await s.listIndexed('sesx:t:upd')).toEqual([['ses:t:u1', 'v2']])

      expect(await s.updateIndexed('sesx:t:upd', 'ses:t:absent', 'v', 60)).toBe(false)
      expect(await store.get(['ses:t:absent'])).toEqual([null])

      await s.deleteIndexed('sesx:t:upd', 'ses:t:u1')
      expect(await s.updateIndexed('sesx:t:upd', 'ses:t:u1', 'v3', 60)).toBe(false)
      expect(await store.get(['ses:t:u1'])).toEqual([null])
      expect(await s.listIndexed('sesx:t:upd')).toEqual([])
    }),
  )

  it(
    'deleteIndexed removes the value and its listing, and deleting what is absent is fine',
    withStore(async (store) => {
      const s = full(store)
      await s.putIndexed('sesx:t:del', 'ses:t:d1', 'a', 60)
      await s.putIndexed('sesx:t:del', 'ses:t:d2', 'b', 60)
      await s.deleteIndexed('sesx:t:del', 'ses:t:d1')
      expect(await store.get(['ses:t:d1', 'ses:t:d2'])).toEqual([null, 'b'])
      expect(await s.listIndexed('sesx:t:del')).toEqual([['ses:t:d2', 'b']])
      await s.deleteIndexed('sesx:t:del', 'ses:t:d1')
      await s.deleteIndexed('sesx:t:del-never', 'ses:t:never')
      // A plain delete of the record takes it off the list too.
      await store.delete('ses:t:d2')
      expect(await s.listIndexed('sesx:t:del')).toEqual([])
    }),
  )

  it(
    'listIndexed drops expired records; updateIndexed does not bring one back, and extends a live one',
    withStore(async (store) => {
      const s = full(store)
      await s.putIndexed('sesx:t:exp', 'ses:t:e-short', 'short', 1)
      await s.putIndexed('sesx:t:exp', 'ses:t:e-long', 'long', 60)
      await s.putIndexed('sesx:t:exp', 'ses:t:e-extended', 'extended', 1)
      expect(await s.updateIndexed('sesx:t:exp', 'ses:t:e-extended', 'extended', 60)).toBe(true)
      await sleep(1600)
      expect(sorted(await s.listIndexed('sesx:t:exp'))).toEqual([
        ['ses:t:e-extended', 'extended'],
        ['ses:t:e-long', 'long'],
      ])
      expect(await store.get(['ses:t:e-short'])).toEqual([null])
      expect(await s.updateIndexed('sesx:t:exp', 'ses:t:e-short', 'back', 60)).toBe(false)
      expect(await store.get(['ses:t:e-short'])).toEqual([null])
      expect(sorted(await s.listIndexed('sesx:t:exp')).map(([key]) => key)).toEqual([
        'ses:t:e-extended',
        'ses:t:e-long',
      ])
    }),
  )

  it(
    'indexed records take the 100-year time to live authx gives records that do not expire',
    withStore(async (store) => {
      const s = full(store)
      await s.putIndexed('sesx:t:forever', 'ses:t:f1', 'v', 3_153_600_000)
      expect(await s.updateIndexed('sesx:t:forever', 'ses:t:f1', 'w', 3_153_600_000)).toBe(true)
      expect(await s.listIndexed('sesx:t:forever')).toEqual([['ses:t:f1', 'w']])
    }),
  )
}
