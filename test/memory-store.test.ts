import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { AuthX, ConfigError, MemoryStore, RevokedTokenError, StoreUnavailableError } from '../src/index.js'
import { runStoreConformance } from './stores/conformance.js'

function fakeClock(start = 5_000_000) {
  let now = start
  return {
    clock: () => now,
    advance(ms: number) {
      now += ms
    },
  }
}

runStoreConformance(
  'MemoryStore',
  async () => undefined,
  async () => ({ make: async () => new MemoryStore() }),
)

describe('MemoryStore basics', () => {
  it('returns what was set, and null for absent keys, in the order asked', async () => {
    const store = new MemoryStore()
    await store.set('a', '1', 60)
    await store.set('c', '3', 60)
    expect(await store.get(['a', 'b', 'c', 'a', 'missing'])).toEqual(['1', null, '3', '1', null])
    expect(await store.get([])).toEqual([])
  })

  it('returns nulls in order for many keys', async () => {
    const store = new MemoryStore()
    const keys = Array.from({ length: 500 }, (_, i) => `k${i}`)
    for (let i = 0; i < keys.length; i += 7) await store.set(keys[i]!, `v${i}`, 60)
    const values = await store.get(keys)
    expect(values).toHaveLength(500)
    values.forEach((value, i) => {
      expect(value).toBe(i % 7 === 0 ? `v${i}` : null)
    })
  })

  it('overwrites with set', async () => {
    const store = new MemoryStore()
    await store.set('k', 'old', 60)
    await store.set('k', 'new', 60)
    expect(await store.get(['k'])).toEqual(['new'])
    expect(store.size).toBe(1)
  })

  it('sets only absent keys with setIfAbsent', async () => {
    const store = new MemoryStore()
    expect(await store.setIfAbsent('k', 'first', 60)).toBe(true)
    expect(await store.setIfAbsent('k', 'second', 60)).toBe(false)
    expect(await store.get(['k'])).toEqual(['first'])
  })

  it('deletes a key, and deleting an absent key is fine', async () => {
    const store = new MemoryStore()
    await store.set('k', 'v', 60)
    await store.delete('k')
    await store.delete('never-set')
    expect(await store.get(['k'])).toEqual([null])
    expect(await store.setIfAbsent('k', 'again', 60)).toBe(true)
  })

  it('empties on close, and close may be called twice', async () => {
    const store = new MemoryStore()
    await store.set('k', 'v', 60)
    await store.close()
    await store.close()
    expect(await store.get(['k'])).toEqual([null])
    expect(store.size).toBe(0)
  })

  it('rejects a TTL that is not a positive number', async () => {
    const store = new MemoryStore()
    for (const ttl of [0, -1, Number.NaN, Number.POSITIVE_INFINITY]) {
      await expect(store.set('k', 'v', ttl)).rejects.toBeInstanceOf(TypeError)
      await expect(store.setIfAbsent('k', 'v', ttl)).rejects.toBeInstanceOf(TypeError)
    }
    expect(store.size).toBe(0)
  })

  it('rejects a maxEntries that is not a positive whole number', () => {
    for (const maxEntries of [0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) {
      expect(() => new MemoryStore({ maxEntries })).toThrow(TypeError)
    }
  })
})

describe('MemoryStore expiry on the injected clock', () => {
  it('expires an entry exactly when its TTL has passed', async () => {
    const { clock, advance } = fakeClock()
    const store = new MemoryStore({ clock })
    await store.set('k', 'v', 10)
    advance(9_999)
    expect(await store.get(['k'])).toEqual(['v'])
    advance(1)
    expect(await store.get(['k'])).toEqual([null])
  })

  it('does not use the real time: an entry lives as long as the injected clock says', async () => {
    const { clock, advance } = fakeClock(0)
    const store = new MemoryStore({ clock })
    await store.set('k', 'v', 1)
    expect(await store.get(['k'])).toEqual(['v'])
    advance(1_000)
    expect(await store.get(['k'])).toEqual([null])
  })

  it('lets setIfAbsent take a key whose entry has expired', async () => {
    const { clock, advance } = fakeClock()
    const store = new MemoryStore({ clock })
    expect(await store.setIfAbsent('k', 'a', 5)).toBe(true)
    advance(4_000)
    expect(await store.setIfAbsent('k', 'b', 5)).toBe(false)
    advance(1_000)
    expect(await store.setIfAbsent('k', 'c', 5)).toBe(true)
    expect(await store.get(['k'])).toEqual(['c'])
  })

  it('restarts the TTL when set overwrites a key', async () => {
    const { clock, advance } = fakeClock()
    const store = new MemoryStore({ clock })
    await store.set('k', 'a', 10)
    advance(8_000)
    await store.set('k', 'b', 10)
    advance(8_000)
    expect(await store.get(['k'])).toEqual(['b'])
  })

  it('accepts fractional TTLs in seconds', async () => {
    const { clock, advance } = fakeClock()
    const store = new MemoryStore({ clock })
    await store.set('k', 'v', 1.5)
    advance(1_499)
    expect(await store.get(['k'])).toEqual(['v'])
    advance(1)
    expect(await store.get(['k'])).toEqual([null])
  })
})

describe('MemoryStore atomicity', () => {
  it('lets exactly one of 100 concurrent setIfAbsent calls on one key win', async () => {
    const store = new MemoryStore()
    const results = await Promise.all(
      Array.from({ length: 100 }, (_, i) => store.setIfAbsent('refresh:jti', `caller-${i}`, 60)),
    )
    expect(results.filter((r) => r === true)).toHaveLength(1)
    const winner = results.indexOf(true)
    expect(await store.get(['refresh:jti'])).toEqual([`caller-${winner}`])
  })

  it('lets one caller win per key when many keys are raced at once', async () => {
    const store = new MemoryStore()
    const calls = Array.from({ length: 200 }, (_, i) => store.setIfAbsent(`k${i % 10}`, String(i), 60))
    const results = await Promise.all(calls)
    expect(results.filter(Boolean)).toHaveLength(10)
  })
})

describe('MemoryStore bounds', () => {
  it('never holds more than maxEntries: a new key in a full store is refused', async () => {
    const store = new MemoryStore({ maxEntries: 10 })
    for (let i = 0; i < 10; i++) await store.set(`k${i}`, 'v', 3600)
    for (let i = 10; i < 100; i++) {
      await expect(store.set(`k${i}`, 'v', 3600 + i)).rejects.toThrow(/full/)
      await expect(store.setIfAbsent(`n${i}`, 'v', 3600 + i)).rejects.toThrow(/full/)
      expect(store.size).toBe(10)
    }
    expect(await store.get(['k0', 'k9', 'k10'])).toEqual(['v', 'v', null])
  })

  it('keeps every live entry when full, the soonest-expiring too: nothing is evicted', async () => {
    const store = new MemoryStore({ maxEntries: 10 })
    for (let i = 0; i < 5; i++) await store.set(`long${i}`, 'L', 86_400)
    for (let i = 0; i < 5; i++) await store.set(`short${i}`, 'S', 10 + i)
    await expect(store.set('newest', 'N', 86_400)).rejects.toThrow()
    await expect(store.setIfAbsent('newest', 'N', 86_400)).rejects.toThrow()
    expect(store.size).toBe(10)
    expect(await store.get(Array.from({ length: 5 }, (_, i) => `long${i}`))).toEqual([
      'L',
      'L',
      'L',
      'L',
      'L',
    ])
    expect(await store.get(Array.from({ length: 5 }, (_, i) => `short${i}`))).toEqual([
      'S',
      'S',
      'S',
      'S',
      'S',
    ])
    expect(await store.get(['newest'])).toEqual([null])
  })

  it('still overwrites a key it holds when full, and setIfAbsent still answers false for one', async () => {
    const { clock, advance } = fakeClock()
    const store = new MemoryStore({ maxEntries: 3, clock })
    await store.set('a', '1', 60)
    await store.set('b', '1', 60)
    await store.set('c', '1', 5)
    await store.set('a', '2', 120)
    expect(await store.setIfAbsent('b', '2', 60)).toBe(false)
    advance(5_000)
    // `c` expired: taking its key again does not grow the store.
    expect(await store.setIfAbsent('c', '2', 60)).toBe(true)
    expect(await store.get(['a', 'b', 'c'])).toEqual(['2', '1', '2'])
    expect(store.size).toBe(3)
  })

  it('sweeps expired entries before refusing when full', async () => {
    const { clock, advance } = fakeClock()
    const store = new MemoryStore({ maxEntries: 10, clock })
    await store.set('live', 'v', 3600)
    for (let i = 0; i < 9; i++) await store.set(`gone${i}`, 'v', 1)
    expect(store.size).toBe(10)
    await expect(store.set('early', 'v', 3600)).rejects.toThrow()
    advance(1_000)
    await store.set('next', 'v', 3600)
    expect(store.size).toBe(2)
    expect(await store.get(['live', 'next'])).toEqual(['v', 'v'])
  })

  it('takes new keys again once entries expire or are deleted', async () => {
    const { clock, advance } = fakeClock()
    const store = new MemoryStore({ maxEntries: 2, clock })
    await store.set('a', 'v', 10)
    await store.set('b', 'v', 20)
    await expect(store.set('c', 'v', 60)).rejects.toThrow()
    await store.delete('b')
    await store.set('c', 'v', 60)
    await expect(store.set('d', 'v', 60)).rejects.toThrow()
    advance(10_000)
    expect(await store.setIfAbsent('d', 'v', 60)).toBe(true)
    expect(await store.get(['a', 'b', 'c', 'd'])).toEqual([null, null, 'v', 'v'])
  })

  it('sweeps expired entries over time even when never full', async () => {
    const { clock, advance } = fakeClock()
    const store = new MemoryStore({ clock })
    for (let i = 0; i < 500; i++) await store.set(`gone${i}`, 'v', 1)
    advance(2_000)
    for (let i = 0; i < 10_000; i++) await store.set('busy', String(i), 60)
    expect(store.size).toBeLessThan(500)
  })

  it('drops an expired entry when it is read', async () => {
    const { clock, advance } = fakeClock()
    const store = new MemoryStore({ clock })
    await store.set('k', 'v', 1)
    advance(1_000)
    expect(await store.get(['k'])).toEqual([null])
    expect(store.size).toBe(0)
  })

  it('refuses writes to a full store of 100000 live entries cheaply, without scanning it each time', async () => {
    const store = new MemoryStore({ maxEntries: 100_000 })
    for (let i = 0; i < 100_000; i++) await store.set(`k${i}`, 'v', 3600 + (i % 1000))
    const started = performance.now()
    let refused = 0
    for (let i = 0; i < 20_000; i++) await store.set(`flood${i}`, 'v', 1_728_000).catch(() => refused++)
    expect(refused).toBe(20_000)
    // A scan of 100000 entries per write would take minutes; refusing is constant time.
    expect(performance.now() - started).toBeLessThan(2_000)
    expect(store.size).toBe(100_000)
  })

  it('stays bounded and correct while one key is overwritten many times and others expire', async () => {
    const { clock, advance } = fakeClock()
    const store = new MemoryStore({ maxEntries: 50, clock })
    for (let round = 0; round < 200; round++) {
      for (let i = 0; i < 500; i++) await store.set('hot', String(i), 1 + (i % 7))
      await store.set(`r${round}`, 'v', 2)
      advance(1_000)
      expect(store.size).toBeLessThanOrEqual(50)
    }
    expect(await store.get(['hot', 'r199', 'r197'])).toEqual(['499', 'v', null])
  })
})

describe('security: a full MemoryStore never forgets a revocation', () => {
  it('a client refreshing in a loop fills the store and gets 503s; a revoked token stays revoked', async () => {
    const store = new MemoryStore({ maxEntries: 20 })
    const auth = new AuthX({ secretKey: 'memory-store-secret-0123456789abcdef', store })
    // A short-lived token revoked first: the soonest-expiring entry, the first an evicting store drops.
    const victim = await auth.createAccessToken({ uid: 'victim', expiry: '1m' })
    await auth.revokeToken(victim)
    let { refreshToken } = await auth.createTokenPair({ uid: 'looper' })
    let refused: unknown
    for (let i = 0; i < 100 && refused === undefined; i++) {
      try {
        refreshToken = (await auth.refresh(refreshToken)).refreshToken
      } catch (err) {
        refused = err
      }
    }
    expect(refused).toBeInstanceOf(StoreUnavailableError)
    expect(refused).toMatchObject({ code: 'ERR_STORE_UNAVAILABLE', status: 503 })
    expect(store.size).toBe(20)
    await expect(auth.verifyToken(victim)).rejects.toBeInstanceOf(RevokedTokenError)
    // The refused refresh did not consume its token: it works once there is room again.
    await expect(auth.verifyToken(refreshToken, { type: 'refresh' })).resolves.toBeDefined()
  })

  it('a revocation of a full store answers 503 (unknown, retry) rather than dropping another', async () => {
    const store = new MemoryStore({ maxEntries: 3 })
    const auth = new AuthX({ secretKey: 'memory-store-secret-0123456789abcdef', store })
    const tokens = await Promise.all(
      ['a', 'b', 'c', 'd'].map((uid) => auth.createAccessToken({ uid, expiry: '1m' })),
    )
    for (const token of tokens.slice(0, 3)) await auth.revokeToken(token)
    await expect(auth.revokeToken(tokens[3]!)).rejects.toMatchObject({ code: 'ERR_STORE_UNAVAILABLE' })
    for (const token of tokens.slice(0, 3))
      await expect(auth.verifyToken(token)).rejects.toBeInstanceOf(RevokedTokenError)
  })
})

describe('MemoryStore options', () => {
  it('refuses an unknown option name with a ConfigError naming it', () => {
    for (const options of [{ maxEntires: 10 }, { maxEntries: 10, clok: Date.now }, { evict: false }]) {
      const name = Object.keys(options).find((k) => k !== 'maxEntries')!
      let error: unknown
      try {
        new MemoryStore(options as never)
      } catch (err) {
        error = err
      }
      expect(error).toBeInstanceOf(ConfigError)
      expect(error).toMatchObject({ code: 'ERR_CONFIG', status: 500 })
      expect((error as Error).message).toContain(name)
    }
  })

  it('takes its known options, and no options at all', () => {
    expect(() => new MemoryStore({ maxEntries: 5, clock: Date.now })).not.toThrow()
    expect(() => new MemoryStore({})).not.toThrow()
    expect(() => new MemoryStore()).not.toThrow()
    expect(() => new MemoryStore(undefined)).not.toThrow()
  })
})

describe('MemoryStore production warning', () => {
  let savedEnv: string | undefined

  beforeEach(() => {
    savedEnv = process.env.NODE_ENV
    // The "warned once" flag is module state: load a fresh copy of the module for each test.
    vi.resetModules()
  })

  afterEach(() => {
    if (savedEnv === undefined) delete process.env.NODE_ENV
    else process.env.NODE_ENV = savedEnv
    vi.restoreAllMocks()
  })

  function memoryWarnings(spy: { mock: { calls: unknown[][] } }): unknown[][] {
    return spy.mock.calls.filter(
      (call) => (call[1] as { code?: string } | undefined)?.code === 'AUTHX_MEMORY_STORE',
    )
  }

  it('emits exactly one AUTHX_MEMORY_STORE process warning per process in production', async () => {
    process.env.NODE_ENV = 'production'
    const spy = vi.spyOn(process, 'emitWarning').mockImplementation(() => {})
    const fresh = await import('../src/stores/memory.js')
    new fresh.MemoryStore()
    expect(memoryWarnings(spy)).toHaveLength(1)
    new fresh.MemoryStore()
    new fresh.MemoryStore({ maxEntries: 5 })
    expect(memoryWarnings(spy)).toHaveLength(1)
    expect(typeof spy.mock.calls[0]?.[0]).toBe('string')
  })

  it('warns once for the default store of AuthX instances too', async () => {
    process.env.NODE_ENV = 'production'
    const spy = vi.spyOn(process, 'emitWarning').mockImplementation(() => {})
    const { AuthX } = await import('../src/index.js')
    new AuthX({ secretKey: 'x'.repeat(32) })
    new AuthX({ secretKey: 'y'.repeat(32) })
    expect(memoryWarnings(spy)).toHaveLength(1)
  })

  it('does not warn outside production', async () => {
    process.env.NODE_ENV = 'development'
    const spy = vi.spyOn(process, 'emitWarning').mockImplementation(() => {})
    const fresh = await import('../src/stores/memory.js')
    new fresh.MemoryStore()
    delete process.env.NODE_ENV
    new fresh.MemoryStore()
    expect(memoryWarnings(spy)).toHaveLength(0)
  })

  it('warns on the first production construction even after earlier ones outside production', async () => {
    process.env.NODE_ENV = 'test'
    const spy = vi.spyOn(process, 'emitWarning').mockImplementation(() => {})
    const fresh = await import('../src/stores/memory.js')
    new fresh.MemoryStore()
    process.env.NODE_ENV = 'production'
    new fresh.MemoryStore()
    new fresh.MemoryStore()
    expect(memoryWarnings(spy)).toHaveLength(1)
  })
})

describe('MemoryStore hit: a sliding log on the injected clock', () => {
  it('frees one slot exactly when the oldest hit leaves the window, never the whole window', async () => {
    const { clock, advance } = fakeClock(1_000_000)
    const store = new MemoryStore({ clock })
    expect(await store.hit('rl:k', 10, 3)).toEqual({ allowed: true, count: 1, resetAt: 1_010_000 })
    advance(2_000)
    expect(await store.hit('rl:k', 10, 3)).toEqual({ allowed: true, count: 2, resetAt: 1_010_000 })
    advance(2_000)
    expect(await store.hit('rl:k', 10, 3)).toEqual({ allowed: true, count: 3, resetAt: 1_010_000 })
    advance(5_999)
    // t = 9.999 s: every hit is still in the window.
    expect(await store.hit('rl:k', 10, 3)).toEqual({ allowed: false, count: 3, resetAt: 1_010_000 })
    advance(1)
    // t = 10 s: the first hit has left (a hit exactly one window old is out); the others stay.
    expect(await store.hit('rl:k', 10, 3)).toEqual({ allowed: true, count: 3, resetAt: 1_012_000 })
    expect(await store.hit('rl:k', 10, 3)).toEqual({ allowed: false, count: 3, resetAt: 1_012_000 })
    advance(20_000)
    expect(await store.hit('rl:k', 10, 3)).toEqual({ allowed: true, count: 1, resetAt: 1_040_000 })
  })

  it('takes fractional windows to the millisecond', async () => {
    const { clock, advance } = fakeClock(0)
    const store = new MemoryStore({ clock })
    expect(await store.hit('rl:f', 0.25, 1)).toEqual({ allowed: true, count: 1, resetAt: 250 })
    advance(249)
    expect(await store.hit('rl:f', 0.25, 1)).toMatchObject({ allowed: false, count: 1 })
    advance(1)
    expect(await store.hit('rl:f', 0.25, 1)).toEqual({ allowed: true, count: 1, resetAt: 500 })
  })

  it('is answered synchronously: 200 concurrent hits with max 7 let exactly 7 through', async () => {
    const store = new MemoryStore()
    const results = await Promise.all(Array.from({ length: 200 }, () => store.hit('rl:c', 60, 7)))
    expect(results.filter((r) => r.allowed)).toHaveLength(7)
  })
})

describe('security: MemoryStore rate-limit windows are bounded and never crowd out revocations', () => {
  it('hits on new keys still work in a store full of revocations, and evict none of them', async () => {
    const store = new MemoryStore({ maxEntries: 5 })
    for (let i = 0; i < 5; i++) await store.set(`jti:${i}`, 'revoked', 3600)
    await expect(store.set('jti:new', 'revoked', 3600)).rejects.toThrow()
    for (let i = 0; i < 100; i++)
      expect(await store.hit(`rl:flood:${i}`, 60, 1)).toMatchObject({ allowed: true })
    expect(store.size).toBe(5)
    expect(await store.get(['jti:0', 'jti:1', 'jti:2', 'jti:3', 'jti:4'])).toEqual(Array(5).fill('revoked'))
    expect(store.getLocal(['jti:0', 'jti:4'])).toEqual(['revoked', 'revoked'])
  })

  it('a full set of windows takes no room from entries: revocations are still written', async () => {
    const store = new MemoryStore({ maxEntries: 3 })
    for (let i = 0; i < 3; i++) await store.hit(`rl:w:${i}`, 60, 5)
    for (let i = 0; i < 3; i++) await store.set(`jti:${i}`, 'revoked', 3600)
    expect(await store.get(['jti:0', 'jti:1', 'jti:2'])).toEqual(['revoked', 'revoked', 'revoked'])
  })

  it('keeps at most maxEntries windows, evicting the key hit least recently (which resets its count)', async () => {
    const store = new MemoryStore({ maxEntries: 3 })
    for (const key of ['rl:a', 'rl:b', 'rl:c']) await store.hit(key, 60, 1)
    // A denied hit counts as use: `a` is now the most recently hit, `b` the least.
    expect(await store.hit('rl:a', 60, 1)).toMatchObject({ allowed: false })
    expect(await store.hit('rl:d', 60, 1)).toMatchObject({ allowed: true })
    expect(await store.hit('rl:c', 60, 1)).toMatchObject({ allowed: false })
    expect(await store.hit('rl:a', 60, 1)).toMatchObject({ allowed: false })
    expect(await store.hit('rl:d', 60, 1)).toMatchObject({ allowed: false })
    // `b` was evicted: its window starts again.
    expect(await store.hit('rl:b', 60, 1)).toMatchObject({ allowed: true, count: 1 })
  })

  it('delete forgets a window without touching the entry of another key', async () => {
    const store = new MemoryStore()
    await store.set('jti:x', 'revoked', 60)
    await store.hit('rl:x', 60, 1)
    await store.delete('rl:x')
    expect(await store.hit('rl:x', 60, 1)).toMatchObject({ allowed: true, count: 1 })
    expect(store.getLocal(['jti:x'])).toEqual(['revoked'])
  })
})

describe('MemoryStore indexed records', () => {
  it('count toward maxEntries: a new record in a full store is refused, an update of one held is not', async () => {
    const store = new MemoryStore({ maxEntries: 2 })
    await store.putIndexed('sesx:a', 'ses:1', 'v1', 60)
    await store.set('jti:1', 'revoked', 60)
    await expect(store.putIndexed('sesx:a', 'ses:2', 'v2', 60)).rejects.toThrow(/full/)
    expect(await store.updateIndexed('sesx:a', 'ses:1', 'v1b', 60)).toBe(true)
    await store.putIndexed('sesx:a', 'ses:1', 'v1c', 60)
    expect(await store.listIndexed('sesx:a')).toEqual([['ses:1', 'v1c']])
    expect(store.getLocal(['ses:1', 'ses:2', 'jti:1'])).toEqual(['v1c', null, 'revoked'])
  })

  it('expire on the injected clock: gone from get and from the list, and an update does not revive them', async () => {
    const { clock, advance } = fakeClock()
    const store = new MemoryStore({ clock })
    await store.putIndexed('sesx:a', 'ses:1', 'v', 10)
    await store.putIndexed('sesx:a', 'ses:2', 'v', 20)
    advance(9_999)
    expect(await store.updateIndexed('sesx:a', 'ses:1', 'w', 10)).toBe(true)
    advance(10_001)
    expect(await store.listIndexed('sesx:a')).toEqual([])
    expect(await store.updateIndexed('sesx:a', 'ses:2', 'back', 60)).toBe(false)
    expect(await store.get(['ses:1', 'ses:2'])).toEqual([null, null])
    expect(store.size).toBe(0)
  })

  it('an expired record swept, then written again under another index, is listed only there', async () => {
    const { clock, advance } = fakeClock()
    const store = new MemoryStore({ clock })
    await store.putIndexed('sesx:old', 'ses:1', 'v', 1)
    advance(1_000)
    // A write sweeps the expired record.
    await store.set('other', 'v', 60)
    expect(store.size).toBe(1)
    await store.putIndexed('sesx:new', 'ses:1', 'w', 60)
    expect(await store.listIndexed('sesx:old')).toEqual([])
    expect(await store.listIndexed('sesx:new')).toEqual([['ses:1', 'w']])
  })

  it('a record moved to another index leaves the first one', async () => {
    const store = new MemoryStore()
    await store.putIndexed('sesx:a', 'ses:1', 'v', 60)
    await store.updateIndexed('sesx:b', 'ses:1', 'w', 60)
    expect(await store.listIndexed('sesx:a')).toEqual([])
    expect(await store.listIndexed('sesx:b')).toEqual([['ses:1', 'w']])
  })

  it('set over a live record keeps it listed; set or setIfAbsent over an expired one does not list it again', async () => {
    const { clock, advance } = fakeClock()
    const store = new MemoryStore({ clock })
    await store.putIndexed('sesx:a', 'ses:1', 'v', 10)
    await store.putIndexed('sesx:a', 'ses:2', 'v', 10)
    await store.set('ses:1', 'plain', 10)
    expect((await store.listIndexed('sesx:a')).sort()).toEqual([
      ['ses:1', 'plain'],
      ['ses:2', 'v'],
    ])
    advance(10_000)
    await store.set('ses:2', 'again', 60)
    expect(await store.setIfAbsent('ses:1', 'again', 60)).toBe(true)
    expect(await store.listIndexed('sesx:a')).toEqual([])
  })

  it('close forgets records, lists and windows', async () => {
    const store = new MemoryStore()
    await store.putIndexed('sesx:a', 'ses:1', 'v', 60)
    await store.hit('rl:k', 60, 1)
    await store.close()
    expect(await store.listIndexed('sesx:a')).toEqual([])
    expect(await store.hit('rl:k', 60, 1)).toMatchObject({ allowed: true, count: 1 })
  })
})
