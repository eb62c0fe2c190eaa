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
  })
}
