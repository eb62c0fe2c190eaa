import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { MemoryStore } from '../src/index.js'

function fakeClock(start = 5_000_000) {
  let now = start
  return {
    clock: () => now,
    advance(ms: number) {
      now += ms
    },
  }
}

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
  it('never holds more than maxEntries', async () => {
    const store = new MemoryStore({ maxEntries: 10 })
    for (let i = 0; i < 11; i++) await store.set(`k${i}`, 'v', 3600)
    expect(store.size).toBeLessThanOrEqual(10)
    for (let i = 11; i < 1000; i++) {
      await store.set(`k${i}`, 'v', 3600 + i)
      expect(store.size).toBeLessThanOrEqual(10)
    }
    expect(await store.get(['k999'])).toEqual(['v'])
  })

  it('evicts the soonest-expiring entries first, keeping the long-lived ones', async () => {
    const store = new MemoryStore({ maxEntries: 10 })
    // Long-lived entries first, so an oldest-first policy would wrongly evict them.
    for (let i = 0; i < 5; i++) await store.set(`long${i}`, 'L', 86_400)
    for (let i = 0; i < 5; i++) await store.set(`short${i}`, 'S', 10 + i)
    await store.set('newest', 'N', 86_400)
    expect(store.size).toBeLessThanOrEqual(10)
    const longs = await store.get(Array.from({ length: 5 }, (_, i) => `long${i}`))
    expect(longs).toEqual(['L', 'L', 'L', 'L', 'L'])
    expect(await store.get(['newest'])).toEqual(['N'])
    // short0 expires soonest: it goes first.
    expect(await store.get(['short0'])).toEqual([null])
    // Whatever else was evicted, it was evicted in expiry order: the survivors are the latest-expiring shorts.
    const shorts = await store.get(Array.from({ length: 5 }, (_, i) => `short${i}`))
    const firstKept = shorts.findIndex((v) => v !== null)
    if (firstKept >= 0) expect(shorts.slice(firstKept).every((v) => v === 'S')).toBe(true)
  })

  it('evicts by expiry also through setIfAbsent', async () => {
    const store = new MemoryStore({ maxEntries: 4 })
    await store.setIfAbsent('long', 'L', 86_400)
    await store.setIfAbsent('s1', 'S', 5)
    await store.setIfAbsent('s2', 'S', 50)
    await store.setIfAbsent('s3', 'S', 500)
    expect(await store.setIfAbsent('new', 'N', 86_400)).toBe(true)
    expect(store.size).toBeLessThanOrEqual(4)
    expect(await store.get(['long', 'new', 's1'])).toEqual(['L', 'N', null])
  })

  it('sweeps expired entries before evicting live ones when full', async () => {
    const { clock, advance } = fakeClock()
    const store = new MemoryStore({ maxEntries: 10, clock })
    await store.set('live', 'v', 3600)
    for (let i = 0; i < 9; i++) await store.set(`gone${i}`, 'v', 1)
    expect(store.size).toBe(10)
    advance(2_000)
    await store.set('next', 'v', 3600)
    expect(store.size).toBe(2)
    expect(await store.get(['live', 'next'])).toEqual(['v', 'v'])
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
