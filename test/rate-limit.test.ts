/**
 * The rate limiter of the core (SPEC 9.3, src/core/rate-limit.ts): option checks, hits on the
 * instance's MemoryStore on an injected clock (the sliding window against a model of it, the
 * answer's bounds, the headers), keys (namespaced by name, long ones hashed), stores that fail or
 * answer nonsense, and the client address behind proxies.
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { normalizeAddress } from '../src/core/rate-limit.js'
import {
  AuthX,
  type AuthXStore,
  ConfigError,
  clientAddress,
  limitRequest,
  MemoryStore,
  RateLimitError,
  RateLimiter,
  type RateLimiterOptions,
  type RateLimitHit,
  type RateLimitResult,
  StoreUnavailableError,
} from '../src/index.js'

const SECRET = 'rate-limit-core-secret-0123456789abcdef-0123'
const START = 1_700_000_000_000

/** An instance on a MemoryStore that runs on the same injected clock. */
function clocked() {
  const clock = { now: START }
  const now = () => clock.now
  const auth = new AuthX({ secretKey: SECRET, clock: now, store: new MemoryStore({ clock: now }) })
  return { auth, clock }
}

/** A custom store: MemoryStore for everything, `hit` answered by `answer` (keys recorded). */
function customStore(answer?: (key: string, windowSeconds: number, max: number) => Promise<unknown>) {
  const memory = new MemoryStore()
  const keys: string[] = []
  const store: AuthXStore = {
    get: (k) => memory.get(k),
    set: (k, v, ttl) => memory.set(k, v, ttl),
    setIfAbsent: (k, v, ttl) => memory.setIfAbsent(k, v, ttl),
    delete: (k) => memory.delete(k),
    hit: async (key, windowSeconds, max) => {
      keys.push(key)
      return (
        answer ? await answer(key, windowSeconds, max) : await memory.hit(key, windowSeconds, max)
      ) as RateLimitHit
    },
  }
  return { store, keys }
}

function expectAllowed(result: RateLimitResult, remaining: number) {
  expect(result.allowed).toBe(true)
  expect(result.remaining).toBe(remaining)
  expect(result.retryAfter).toBe(0)
}

function expectDenied(result: RateLimitResult, retryAfter: number) {
  expect(result.allowed).toBe(false)
  expect(result.remaining).toBe(0)
  expect(result.retryAfter).toBe(retryAfter)
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise
  } catch (err) {
    return err
  }
  throw new Error('expected a rejection')
}

describe('rateLimiter options', () => {
  const auth = new AuthX({ secretKey: SECRET })
  const BAD: [string, unknown][] = [
    ['no options', undefined],
    ['null', null],
    ['an array', [5, 60]],
    ['an unknown option', { max: 1, window: 60, maximum: 2 }],
    ['no max', { window: 60 }],
    ['max 0', { max: 0, window: 60 }],
    ['max -1', { max: -1, window: 60 }],
    ['max 1.5', { max: 1.5, window: 60 }],
    ['max NaN', { max: Number.NaN, window: 60 }],
    ['max as text', { max: '5', window: 60 }],
    ['max too large', { max: 2 ** 53, window: 60 }],
    ['no window', { max: 1 }],
    ['window 0', { max: 1, window: 0 }],
    ['window -1', { max: 1, window: -1 }],
    ['window 1.5', { max: 1, window: 1.5 }],
    ['window in years', { max: 1, window: '1y' }],
    ['window empty', { max: 1, window: '' }],
    ['by an unknown word', { max: 1, window: 60, by: 'user' }],
    ['by null', { max: 1, window: 60, by: null }],
    ['name empty', { max: 1, window: 60, name: '' }],
    ['name with a space', { max: 1, window: 60, name: 'a b' }],
    ['name with a quote', { max: 1, window: 60, name: 'a"b' }],
    ['name with a semicolon', { max: 1, window: 60, name: 'a;q=9' }],
    ['name too long', { max: 1, window: 60, name: 'n'.repeat(65) }],
    ['name not text', { max: 1, window: 60, name: 5 }],
    ['onStoreError unknown', { max: 1, window: 60, onStoreError: 'ignore' }],
    ['trustProxy -1', { max: 1, window: 60, trustProxy: -1 }],
    ['trustProxy 33', { max: 1, window: 60, trustProxy: 33 }],
    ['trustProxy 1.5', { max: 1, window: 60, trustProxy: 1.5 }],
    ['trustProxy true', { max: 1, window: 60, trustProxy: true }],
    ['trustProxy text', { max: 1, window: 60, trustProxy: '10.0.0.1' }],
    ['trustProxy with an empty address', { max: 1, window: 60, trustProxy: ['10.0.0.1', ''] }],
    ['trustProxy with a number', { max: 1, window: 60, trustProxy: [1] }],
  ]
  for (const [name, options] of BAD) {
    it(`refuses ${name} (ConfigError)`, () => {
      expect(() => auth.rateLimiter(options as RateLimiterOptions)).toThrow(ConfigError)
    })
  }

  it('takes windows as seconds or Durations, and has its defaults', () => {
    expect(auth.rateLimiter({ max: 1, window: 30 }).window).toBe(30)
    expect(auth.rateLimiter({ max: 1, window: '1m' }).window).toBe(60)
    expect(auth.rateLimiter({ max: 1, window: '2h' }).window).toBe(7200)
    const limiter = auth.rateLimiter({ max: 5, window: '1d' })
    expect(limiter).toBeInstanceOf(RateLimiter)
    expect(limiter.by).toBe('subject')
    expect(limiter.name).toBe('default')
    expect(limiter.onStoreError).toBe('closed')
    expect(limiter.trustProxy).toBeUndefined()
    expect(limiter.policyHeader).toBe('"default";q=5;w=86400')
    expect(auth.rateLimiter({ max: 1, window: 1, name: 'a-Z_0.9:x' }).name).toBe('a-Z_0.9:x')
    expect(auth.rateLimiter({ max: 1, window: 1, trustProxy: 32 }).trustProxy).toBe(32)
    expect(auth.rateLimiter({ max: 1, window: 1, trustProxy: [' ::FFFF:10.0.0.1 '] }).trustProxy).toEqual([
      '10.0.0.1',
    ])
  })

  it('a custom store without hit makes rateLimiter a ConfigError', () => {
    const { store } = customStore()
    delete store.hit
    const custom = new AuthX({ secretKey: SECRET, store })
    expect(() => custom.rateLimiter({ max: 1, window: 60 })).toThrow(ConfigError)
  })

  it('refuses an empty or non-text key (TypeError)', async () => {
    const limiter = auth.rateLimiter({ max: 1, window: 60 })
    expect(await rejection(limiter.hit(''))).toBeInstanceOf(TypeError)
    expect(await rejection(limiter.hit(5 as never))).toBeInstanceOf(TypeError)
    expect(await rejection(limiter.reset(''))).toBeInstanceOf(TypeError)
  })
})

describe('hit and reset on the MemoryStore', () => {
  it('allows max hits in the window, then denies until the oldest leaves it', async () => {
    const { auth, clock } = clocked()
    const limiter = auth.rateLimiter({ max: 3, window: '1m', name: 'login' })
    const first = await limiter.hit('alice')
    expectAllowed(first, 2)
    expect(first.limit).toBe(3)
    expect(first.resetAt.getTime()).toBe(START + 60_000)
    clock.now += 20_000
    expectAllowed(await limiter.hit('alice'), 1)
    clock.now += 20_000
    const third = await limiter.hit('alice')
    expectAllowed(third, 0)
    expect(third.resetAt.getTime()).toBe(START + 60_000)
    // Denied hits are not counted: they never push the window further out.
    for (let i = 0; i < 3; i++) {
      const denied = await limiter.hit('alice')
      expectDenied(denied, 20)
      expect(denied.resetAt.getTime()).toBe(START + 60_000)
    }
    // Another key has its own window.
    expectAllowed(await limiter.hit('bob'), 2)
    clock.now += 19_999
    expectDenied(await limiter.hit('alice'), 1)
    // The first hit leaves the window 60 s after it was made: one slot, then the second's.
    clock.now += 1
    expectAllowed(await limiter.hit('alice'), 0)
    expectDenied(await limiter.hit('alice'), 20)
    clock.now += 20_000
    const slid = await limiter.hit('alice')
    expectAllowed(slid, 0)
    expect(slid.resetAt.getTime()).toBe(START + 40_000 + 60_000)
  })

  it('a fixed-window limiter would let 2 * max through around a boundary; this one never does', async () => {
    const { auth, clock } = clocked()
    const limiter = auth.rateLimiter({ max: 5, window: 10 })
    clock.now += 9_000
    for (let i = 0; i < 5; i++) expect((await limiter.hit('k')).allowed).toBe(true)
    clock.now += 2_000
    for (let i = 0; i < 5; i++) expect((await limiter.hit('k')).allowed).toBe(false)
    clock.now += 8_000
    expect((await limiter.hit('k')).allowed).toBe(true)
  })

  it('reset forgets one key of one limiter', async () => {
    const { auth } = clocked()
    const limiter = auth.rateLimiter({ max: 1, window: 60, name: 'login' })
    const other = auth.rateLimiter({ max: 1, window: 60, name: 'api' })
    await limiter.hit('alice')
    await limiter.hit('bob')
    await other.hit('alice')
    expectDenied(await limiter.hit('alice'), 60)
    await limiter.reset('alice')
    expectAllowed(await limiter.hit('alice'), 0)
    expectDenied(await limiter.hit('bob'), 60)
    expectDenied(await other.hit('alice'), 60)
  })

  it('two limiters on one store never share counts, whatever their names and keys', async () => {
    const { auth } = clocked()
    const a = auth.rateLimiter({ max: 1, window: 60, name: 'a' })
    const ab = auth.rateLimiter({ max: 1, window: 60, name: 'a:b' })
    // 'rl:a:' + 'b:c' would be 'rl:a:b:c' = 'rl:a:b:' + 'c' without escaping.
    expectAllowed(await a.hit('b:c'), 0)
    expectAllowed(await ab.hit('c'), 0)
    expectDenied(await a.hit('b:c'), 60)
    expectDenied(await ab.hit('c'), 60)
    const sameName = auth.rateLimiter({ max: 2, window: 60, name: 'a' })
    // The same name is the same namespace, on purpose (one limit over several routes).
    expectAllowed(await sameName.hit('b:c'), 0)
  })

  it('writes the RateLimit-Policy and RateLimit headers of the draft', async () => {
    const { auth, clock } = clocked()
    const limiter = auth.rateLimiter({ max: 2, window: '1m', name: 'api' })
    expect(limiter.policyHeader).toBe('"api";q=2;w=60')
    expect(limiter.rateLimitHeader(await limiter.hit('k'))).toBe('"api";r=1;t=60')
    clock.now += 15_500
    const second = await limiter.hit('k')
    // t: whole seconds (rounded up) until the first hit leaves the window.
    expect(limiter.rateLimitHeader(second)).toBe('"api";r=0;t=45')
    const denied = await limiter.hit('k')
    expect(limiter.rateLimitHeader(denied)).toBe('"api";r=0;t=45')
    expect(denied.retryAfter).toBe(45)
  })

  it('matches a sliding-window log for any sequence of hits (retryAfter and remaining within bounds)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 4 }),
        fc.integer({ min: 1, max: 5 }),
        fc.array(fc.tuple(fc.integer({ min: 0, max: 3_000 }), fc.constantFrom('a', 'b')), { maxLength: 40 }),
        async (max, window, steps) => {
          const { auth, clock } = clocked()
          const limiter = auth.rateLimiter({ max, window })
          const logs: Record<string, number[]> = { a: [], b: [] }
          for (const [wait, key] of steps) {
            clock.now += wait
            const log = logs[key]!.filter((t) => t > clock.now - window * 1000)
            logs[key] = log
            const allowed = log.length < max
            if (allowed) log.push(clock.now)
            const result = await limiter.hit(key)
            expect(result.allowed).toBe(allowed)
            expect(result.limit).toBe(max)
            expect(result.remaining).toBe(allowed ? max - log.length : 0)
            expect(result.resetAt.getTime()).toBe(log[0]! + window * 1000)
            if (allowed) expect(result.retryAfter).toBe(0)
            else {
              expect(result.retryAfter).toBeGreaterThan(0)
              expect(result.retryAfter).toBeLessThanOrEqual(window)
              expect(result.retryAfter).toBe(Math.ceil((log[0]! + window * 1000 - clock.now) / 1000))
            }
          }
        },
      ),
      { numRuns: 200 },
    )
  })
})

describe('keys', () => {
  it('namespaces keys by name and escapes them; long keys are hashed', async () => {
    const { store, keys } = customStore()
    const auth = new AuthX({ secretKey: SECRET, store })
    const limiter = auth.rateLimiter({ max: 1, window: 60, name: 'login' })
    await limiter.hit('alice@example.com')
    await limiter.hit('a:b c')
    await limiter.hit('k'.repeat(200))
    await limiter.hit('k'.repeat(201))
    await limiter.hit('k'.repeat(201))
    await limiter.hit('j'.repeat(201))
    // Short, but longer than 200 once escaped.
    await limiter.hit('é'.repeat(40))
    // A lone surrogate cannot be escaped.
    await limiter.hit('\uD800')
    expect(keys.slice(0, 3)).toEqual([
      'rl:login:alice%40example.com',
      'rl:login:a%3Ab%20c',
      `rl:login:${'k'.repeat(200)}`,
    ])
    const hashed = keys.slice(3)
    for (const key of hashed) expect(key).toMatch(/^rl:login:#[0-9a-f]{64}$/)
    expect(hashed[0]).toBe(hashed[1])
    expect(new Set(hashed).size).toBe(hashed.length - 1)
  })

  it('limitRequest counts by subject, by address (ip:unknown without one) and by a function', async () => {
    const { store, keys } = customStore()
    const auth = new AuthX({ secretKey: SECRET, store })
    const payload = await auth.verifyToken(await auth.createAccessToken({ uid: 'alice' }))
    const request = { name: 'the request' }
    const input = { request, ip: '::ffff:127.0.0.1', forwardedFor: '203.0.113.7', payload }
    await limitRequest(auth.rateLimiter({ max: 5, window: 60, name: 's' }), input)
    await limitRequest(auth.rateLimiter({ max: 5, window: 60, name: 'i', by: 'ip' }), input)
    await limitRequest(auth.rateLimiter({ max: 5, window: 60, name: 'u', by: 'ip' }), {
      ...input,
      ip: undefined,
    })
    const seen: unknown[] = []
    const by = (req: typeof request, p: typeof payload | undefined) => {
      seen.push(req, p)
      return `${req.name}/${p?.sub}`
    }
    await limitRequest(auth.rateLimiter({ max: 5, window: 60, name: 'f', by }), input)
    expect(keys).toEqual([
      'rl:s:sub%3Aalice',
      'rl:i:ip%3A127.0.0.1',
      'rl:u:ip%3Aunknown',
      'rl:f:fn%3Athe%20request%2Falice',
    ])
    expect(seen).toEqual([request, payload])
    const empty = auth.rateLimiter({ max: 5, window: 60, by: () => '' })
    expect(await rejection(limitRequest(empty, input))).toBeInstanceOf(TypeError)
  })

  it('limitRequest answers the headers, and a RateLimitError carrying them over the limit', async () => {
    const { auth } = clocked()
    const limiter = auth.rateLimiter({ max: 1, window: 60, by: 'ip', name: 'api' })
    const input = { request: {}, ip: '10.0.0.1', forwardedFor: undefined, payload: undefined }
    expect(await limitRequest(limiter, input)).toEqual({
      headers: { 'ratelimit-policy': '"api";q=1;w=60', ratelimit: '"api";r=0;t=60' },
    })
    const err = await rejection(limitRequest(limiter, input))
    expect(err).toBeInstanceOf(RateLimitError)
    const limited = err as RateLimitError
    expect(limited.code).toBe('ERR_RATE_LIMITED')
    expect(limited.status).toBe(429)
    expect(limited.retryAfter).toBe(60)
    expect(limited.headers).toEqual({ 'ratelimit-policy': '"api";q=1;w=60', ratelimit: '"api";r=0;t=60' })
  })
})

describe('a store that cannot answer', () => {
  const failing = (answer: () => Promise<unknown>, options: Partial<RateLimiterOptions> = {}) => {
    const { store } = customStore(answer)
    const auth = new AuthX({ secretKey: SECRET, store, revocation: { timeoutMs: 20 } })
    const events: unknown[] = []
    auth.on('ratelimit.store_error', (event) => events.push(event))
    return { limiter: auth.rateLimiter({ max: 3, window: 60, name: 'api', ...options }), events }
  }

  it("'closed' (the default): StoreUnavailableError, 503, no event", async () => {
    const { limiter, events } = failing(() => Promise.reject(new Error('connection refused')))
    const err = await rejection(limiter.hit('k'))
    expect(err).toBeInstanceOf(StoreUnavailableError)
    expect((err as StoreUnavailableError).status).toBe(503)
    expect((err as StoreUnavailableError).code).toBe('ERR_STORE_UNAVAILABLE')
    expect(events).toEqual([])
  })

  it('a hit that never answers fails within the time limit', async () => {
    const { limiter } = failing(() => new Promise(() => {}))
    expect(await rejection(limiter.hit('k'))).toBeInstanceOf(StoreUnavailableError)
  })

  it("'open': the request passes as the window's first, and ratelimit.store_error fires", async () => {
    const { limiter, events } = failing(() => Promise.reject(new Error('connection refused')), {
      onStoreError: 'open',
    })
    const before = Date.now()
    const result = await limiter.hit('k')
    expectAllowed(result, 2)
    expect(result.resetAt.getTime()).toBeGreaterThanOrEqual(before + 60_000)
    expect(events).toEqual([{ name: 'api', error: 'connection refused' }])
  })

  const WRONG: [string, unknown][] = [
    ['nothing', undefined],
    ['null', null],
    ['a number', 1],
    ['no allowed', { count: 1, resetAt: START }],
    ['allowed as text', { allowed: 'true', count: 1, resetAt: START }],
    ['no count', { allowed: true, resetAt: START }],
    ['a negative count', { allowed: true, count: -1, resetAt: START }],
    ['a fractional count', { allowed: true, count: 1.5, resetAt: START }],
    ['count as text', { allowed: true, count: '1', resetAt: START }],
    ['no resetAt', { allowed: true, count: 1 }],
    ['resetAt NaN', { allowed: true, count: 1, resetAt: Number.NaN }],
    ['resetAt Infinity', { allowed: false, count: 3, resetAt: Number.POSITIVE_INFINITY }],
    ['resetAt as a Date', { allowed: true, count: 1, resetAt: new Date(START) }],
  ]
  for (const [name, answer] of WRONG) {
    it(`an answer of the wrong shape (${name}) is a store failure`, async () => {
      const closed = failing(async () => answer)
      expect(await rejection(closed.limiter.hit('k'))).toBeInstanceOf(StoreUnavailableError)
      const open = failing(async () => answer, { onStoreError: 'open' })
      expectAllowed(await open.limiter.hit('k'), 2)
      expect(open.events).toHaveLength(1)
    })
  }

  it("a store's reset time from another clock stays within one window", async () => {
    const now = Date.now()
    const far = failing(async () => ({ allowed: false, count: 3, resetAt: now + 10 * 3_600_000 }))
    const denied = await far.limiter.hit('k')
    expect(denied.retryAfter).toBeLessThanOrEqual(60)
    expect(denied.resetAt.getTime()).toBeLessThanOrEqual(Date.now() + 60_000)
    const past = failing(async () => ({ allowed: false, count: 3, resetAt: now - 3_600_000 }))
    expect((await past.limiter.hit('k')).retryAfter).toBe(1)
    const allowed = failing(async () => ({ allowed: true, count: 5, resetAt: now }))
    expectAllowed(await allowed.limiter.hit('k'), 0)
    // A denied hit leaves nothing, whatever count the store gives.
    const short = failing(async () => ({ allowed: false, count: 1, resetAt: now + 30_000 }))
    expectDenied(await short.limiter.hit('k'), 30)
    // The header never says more than one window, even of a result made elsewhere.
    const result = {
      allowed: true,
      limit: 3,
      remaining: 2,
      resetAt: new Date(now + 3_600_000),
      retryAfter: 0,
    }
    expect(short.limiter.rateLimitHeader(result)).toBe('"api";r=2;t=60')
    expect(short.limiter.rateLimitHeader({ ...result, resetAt: new Date(0) })).toBe('"api";r=2;t=0')
  })
})

describe('clientAddress', () => {
  const SOCKET = '10.0.0.1'
  it("is the socket's address unless trustProxy says otherwise: a spoofed header is ignored", () => {
    expect(clientAddress(SOCKET, '203.0.113.7', undefined)).toBe(SOCKET)
    expect(clientAddress(SOCKET, '203.0.113.7', 0)).toBe(SOCKET)
    expect(clientAddress(SOCKET, '203.0.113.7', [])).toBe(SOCKET)
    expect(clientAddress(SOCKET, undefined, 1)).toBe(SOCKET)
    expect(clientAddress(undefined, '203.0.113.7', undefined)).toBeUndefined()
    expect(clientAddress('', '203.0.113.7', 1)).toBeUndefined()
    expect(clientAddress(undefined, '203.0.113.7', 1)).toBeUndefined()
  })

  it('with a hop count, believes the entry that many places from the right', () => {
    expect(clientAddress(SOCKET, '203.0.113.7', 1)).toBe('203.0.113.7')
    // The client's own entries come first: only the last one was written by the proxy.
    expect(clientAddress(SOCKET, '198.51.100.1, 203.0.113.7', 1)).toBe('203.0.113.7')
    expect(clientAddress(SOCKET, '198.51.100.1, 203.0.113.7, 10.0.0.2', 2)).toBe('203.0.113.7')
    expect(clientAddress(SOCKET, '198.51.100.1,203.0.113.7', 2)).toBe('198.51.100.1')
    // More hops than entries: the left-most.
    expect(clientAddress(SOCKET, '203.0.113.7', 5)).toBe('203.0.113.7')
  })

  it('with a list of proxies, believes the right-most address that is not one of them', () => {
    const proxies = ['10.0.0.1', '10.0.0.2']
    expect(clientAddress(SOCKET, '198.51.100.1, 203.0.113.7, 10.0.0.2', proxies)).toBe('203.0.113.7')
    expect(clientAddress(SOCKET, '203.0.113.7', proxies)).toBe('203.0.113.7')
    // A socket that is no trusted proxy is the client itself, whatever it claims.
    expect(clientAddress('192.0.2.9', '203.0.113.7', proxies)).toBe('192.0.2.9')
    // Every entry a proxy: the left-most.
    expect(clientAddress(SOCKET, '10.0.0.2', proxies)).toBe('10.0.0.2')
    expect(clientAddress('::ffff:10.0.0.1', '203.0.113.7', ['10.0.0.1'])).toBe('203.0.113.7')
  })

  it('never chooses an entry that is no address: it falls back toward the socket', () => {
    expect(clientAddress(SOCKET, 'unknown', 1)).toBe(SOCKET)
    expect(clientAddress(SOCKET, '203.0.113.7, <script>', 1)).toBe(SOCKET)
    expect(clientAddress(SOCKET, 'evil, 203.0.113.7', 2)).toBe('203.0.113.7')
    expect(clientAddress(SOCKET, '203.0.113.7,,', 1)).toBe(SOCKET)
    expect(clientAddress(SOCKET, '203.0.113.7, ', 1)).toBe(SOCKET)
    expect(clientAddress(SOCKET, `${'1'.repeat(65)}`, 1)).toBe(SOCKET)
    expect(clientAddress(SOCKET, 'garbage, 10.0.0.2', ['10.0.0.1', '10.0.0.2'])).toBe('10.0.0.2')
    // A header too long to be real is not read at all.
    expect(clientAddress(SOCKET, `${'203.0.113.7,'.repeat(400)}198.51.100.1`, 1)).toBe(SOCKET)
  })

  it('normalizes addresses: trimmed, lower case, IPv4-mapped IPv6 as IPv4', () => {
    expect(normalizeAddress(' ::FFFF:127.0.0.1 ')).toBe('127.0.0.1')
    expect(normalizeAddress('2001:DB8::1')).toBe('2001:db8::1')
    expect(normalizeAddress('::ffff:abcd')).toBe('::ffff:abcd')
    expect(clientAddress('::ffff:127.0.0.1', undefined, undefined)).toBe('127.0.0.1')
    expect(clientAddress(SOCKET, ' 2001:DB8::1 ', 1)).toBe('2001:db8::1')
  })
})
