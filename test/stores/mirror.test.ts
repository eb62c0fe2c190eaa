/**
 * Unit tests of `Mirror` (src/stores/mirror.ts) over a fake in-memory `MirrorFeed`: when it
 * answers and when it must not (before it is live, for keys whose change is being read back,
 * after its subscription is lost, past its bound, when the heartbeat is not answered, after
 * close), and that callbacks of an old subscription change nothing. The real feeds (Redis,
 * PostgreSQL) are tested in redis-mirror.test.ts and postgres-mirror.test.ts.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import type { StoreEventListener } from '../../src/index.js'
import {
  isMirrored,
  Mirror,
  type MirrorEntry,
  type MirrorFeed,
  type MirrorOptions,
  mirrorOptionsOf,
} from '../../src/stores/mirror.js'

const FOREVER = Number.POSITIVE_INFINITY

interface Subscription {
  onChange: (keys: string[] | null) => void
  onLost: (reason: string) => void
}

/** A promise with its resolve function outside. */
function gate(): { promise: Promise<void>; open: () => void } {
  let open!: () => void
  const promise = new Promise<void>((resolve) => {
    open = resolve
  })
  return { promise, open }
}

/**
 * A feed over a map standing for the server. Writes through `write`/`remove` notify the current
 * subscription, as a server does; `server` can also be changed silently (a change made while
 * no subscription was open). Each step can be held, made to fail or made to hang.
 */
class FakeFeed implements MirrorFeed {
  readonly server = new Map<string, MirrorEntry>()
  /** Every subscription opened, oldest first. */
  readonly subs: Subscription[] = []
  current: Subscription | undefined
  subscribeCalls = 0
  /** While set, a subscription waits for it before it opens. */
  subscribeGate: { promise: Promise<void>; open: () => void } | undefined
  loads = 0
  readonly fetches: string[][] = []
  pings = 0
  drops = 0
  subscribeFails = false
  fetchFails = false
  pingMode: 'answer' | 'hang' | 'fail' = 'answer'
  /** While set, a load takes its snapshot and then waits for it. */
  loadGate: { promise: Promise<void>; open: () => void } | undefined
  /** While true, each fetch takes its snapshot and then waits for one `releaseFetch()`. */
  holdFetches = false
  readonly #held: (() => void)[] = []

  async subscribe(onChange: Subscription['onChange'], onLost: Subscription['onLost']): Promise<void> {
    this.subscribeCalls++
    if (this.subscribeGate !== undefined) await this.subscribeGate.promise
    if (this.subscribeFails) throw new Error('connection refused')
    const sub = { onChange, onLost }
    this.subs.push(sub)
    this.current = sub
  }

  async load(limit: number): Promise<Map<string, MirrorEntry> | null> {
    this.loads++
    const snapshot = new Map(this.server)
    if (this.loadGate !== undefined) await this.loadGate.promise
    return snapshot.size > limit ? null : snapshot
  }

  async fetch(keys: string[]): Promise<(MirrorEntry | null)[]> {
    this.fetches.push(keys)
    const states = keys.map((key) => this.server.get(key) ?? null)
    if (this.holdFetches) await new Promise<void>((resolve) => this.#held.push(resolve))
    if (this.fetchFails) throw new Error('read failed')
    return states
  }

  releaseFetch(): void {
    this.#held.shift()?.()
  }

  get heldFetches(): number {
    return this.#held.length
  }

  ping(): Promise<void> {
    this.pings++
    if (this.pingMode === 'hang') return new Promise(() => {})
    if (this.pingMode === 'fail') return Promise.reject(new Error('ping refused'))
    return Promise.resolve()
  }

  drop(): void {
    this.drops++
    this.current = undefined
  }

  write(key: string, value: string, expiresAt = FOREVER): void {
    this.server.set(key, { value, expiresAt })
    this.current?.onChange([key])
  }

  remove(key: string): void {
    this.server.delete(key)
    this.current?.onChange([key])
  }
}

let now = 1_000_000
const clock = () => now
const mirrors: Mirror[] = []

afterEach(() => {
  for (const mirror of mirrors.splice(0)) mirror.close()
  vi.useRealTimers()
})

type Event = [string, Record<string, unknown>]

function start(feed: FakeFeed, options: MirrorOptions = {}, onEvent?: (event: Event) => void) {
  const events: Event[] = []
  const emit: StoreEventListener = (event, data) => {
    events.push([event, data as unknown as Record<string, unknown>])
    onEvent?.([event, data as unknown as Record<string, unknown>])
  }
  const mirror = new Mirror('FakeStore', { maxEntries: 100, maxLagMs: 1000, ...options }, clock, emit, feed)
  mirrors.push(mirror)
  return { mirror, events }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** Waits until `check` is true (advancing fake time when it is faked). */
async function until(check: () => boolean, what: string, timeoutMs = 3000): Promise<void> {
  for (let waited = 0; !check(); waited += 5) {
    if (waited > timeoutMs) throw new Error(`timed out waiting for ${what}`)
    if (vi.isFakeTimers()) await vi.advanceTimersByTimeAsync(5)
    else await sleep(5)
  }
}

const named = (events: Event[], name: string) => events.filter(([event]) => event === name)

async function live(feed: FakeFeed, options: MirrorOptions = {}, onEvent?: (event: Event) => void) {
  const started = start(feed, options, onEvent)
  await until(() => named(started.events, 'store.mirror_live').length > 0, 'store.mirror_live')
  return started
}

describe('mirrorOptionsOf and isMirrored', () => {
  it('reads true, false, undefined and objects, and refuses anything else', () => {
    expect(mirrorOptionsOf(undefined)).toBeUndefined()
    expect(mirrorOptionsOf(false)).toBeUndefined()
    expect(mirrorOptionsOf(true)).toEqual({ maxEntries: 1_000_000, maxLagMs: 1000 })
    expect(mirrorOptionsOf({ maxEntries: 5, maxLagMs: 20 })).toEqual({ maxEntries: 5, maxLagMs: 20 })
    for (const bad of ['yes', 1, null, { bogus: 1 }, { maxEntries: 0 }, { maxEntries: 1.5 }])
      expect(() => mirrorOptionsOf(bad), JSON.stringify(bad)).toThrow(TypeError)
    for (const bad of [{ maxLagMs: 5 }, { maxLagMs: Number.NaN }, { maxLagMs: '1000' }])
      expect(() => mirrorOptionsOf(bad), JSON.stringify(bad)).toThrow(TypeError)
  })

  it('holds the jti:, sub: and fid: keys only', () => {
    expect(['jti:a', 'sub:a', 'fid:a'].every(isMirrored)).toBe(true)
    expect(['used:a', 'jti', 'xjti:a', 'JTI:a', ''].some(isMirrored)).toBe(false)
  })
})

describe('Mirror', () => {
  it('answers nothing before it is live, then every revocation key from memory, expired ones as absent', async () => {
    const feed = new FakeFeed()
    feed.server.set('jti:a', { value: '1', expiresAt: FOREVER })
    feed.server.set('sub:b', { value: '123', expiresAt: FOREVER })
    feed.server.set('fid:c', { value: '1', expiresAt: now + 1000 })
    feed.loadGate = gate()
    const { mirror, events } = start(feed)
    await until(() => feed.loads === 1, 'the load')
    expect(mirror.answer(['jti:a'])).toBeUndefined()
    expect(mirror.live).toBe(false)
    feed.loadGate.open()
    await until(() => mirror.live, 'live')
    expect(named(events, 'store.mirror_live')).toEqual([
      ['store.mirror_live', { store: 'FakeStore', entries: 3 }],
    ])
    expect(mirror.answer(['jti:a', 'sub:b', 'fid:c', 'jti:none'])).toEqual(['1', '123', '1', null])
    expect(mirror.answer([])).toEqual([])
    // One key the mirror does not hold makes the whole read go to the server.
    expect(mirror.answer(['jti:a', 'used:x'])).toBeUndefined()
    now += 1000
    expect(mirror.answer(['fid:c', 'jti:a'])).toEqual([null, '1'])
  })

  it('reads a notified or own change back before answering for that key', async () => {
    const feed = new FakeFeed()
    feed.server.set('jti:a', { value: '1', expiresAt: FOREVER })
    const { mirror } = await live(feed)
    feed.holdFetches = true
    feed.write('jti:x', '1')
    expect(mirror.answer(['jti:x'])).toBeUndefined()
    // Other keys are still answered.
    expect(mirror.answer(['jti:a', 'sub:u'])).toEqual(['1', null])
    mirror.changed(['sub:y'])
    expect(mirror.answer(['sub:y'])).toBeUndefined()
    // A key the mirror does not hold is not made pending.
    mirror.changed(['used:z'])
    await until(() => feed.heldFetches === 1, 'the read-back')
    feed.holdFetches = false
    feed.releaseFetch()
    await until(() => mirror.answer(['jti:x', 'sub:y']) !== undefined, 'the read-back of both keys')
    expect(mirror.answer(['jti:x', 'sub:y'])).toEqual(['1', null])
    expect(feed.fetches.flat()).not.toContain('used:z')
    // A deletion is read back too.
    feed.remove('jti:x')
    await until(() => mirror.answer(['jti:x']) !== undefined, 'the read-back of the deletion')
    expect(mirror.answer(['jti:x'])).toEqual([null])
  })

  it('keeps a key notified again during its read-back pending, never answering the older value', async () => {
    const feed = new FakeFeed()
    const { mirror } = await live(feed)
    feed.holdFetches = true
    feed.write('jti:x', 'old')
    await until(() => feed.heldFetches === 1, 'the first read-back')
    feed.write('jti:x', 'new')
    feed.releaseFetch()
    await until(() => feed.heldFetches === 1 && feed.fetches.length === 2, 'the second read-back')
    // The first read-back's value is already superseded.
    expect(mirror.answer(['jti:x'])).toBeUndefined()
    feed.releaseFetch()
    await until(() => mirror.answer(['jti:x']) !== undefined, 'the second read-back')
    expect(mirror.answer(['jti:x'])).toEqual(['new'])
  })

  it('reads back changes notified during the load before it goes live', async () => {
    const feed = new FakeFeed()
    feed.server.set('jti:old', { value: '1', expiresAt: FOREVER })
    feed.loadGate = gate()
    let atLive: unknown
    const { mirror } = start(feed, {}, ([event]) => {
      // What the mirror answers the moment it says it is live.
      if (event === 'store.mirror_live') atLive = mirrors.at(-1)!.answer(['jti:new', 'jti:old'])
    })
    await until(() => feed.loads === 1, 'the load')
    // The load's snapshot was taken before these changes.
    feed.write('jti:new', '1')
    feed.remove('jti:old')
    feed.loadGate.open()
    await until(() => mirror.live, 'live')
    expect(atLive).toEqual(['1', null])
    expect(feed.fetches.flat()).toEqual(expect.arrayContaining(['jti:new', 'jti:old']))
  })

  it('goes down when the subscription is lost, then resubscribes and reloads what changed meanwhile', async () => {
    const feed = new FakeFeed()
    feed.server.set('jti:a', { value: '1', expiresAt: FOREVER })
    const { mirror, events } = await live(feed)
    const dropsBefore = feed.drops
    feed.loadGate = gate()
    feed.current!.onLost('connection reset')
    expect(mirror.answer(['jti:a'])).toBeUndefined()
    expect(named(events, 'store.mirror_down')).toEqual([
      ['store.mirror_down', { store: 'FakeStore', reason: 'connection reset' }],
    ])
    expect(feed.drops).toBeGreaterThan(dropsBefore)
    // Changed while no subscription was open: nobody is notified.
    feed.server.set('jti:away', { value: '1', expiresAt: FOREVER })
    feed.server.delete('jti:a')
    await until(() => feed.loads === 2, 'the reload')
    expect(mirror.answer(['jti:a'])).toBeUndefined()
    feed.loadGate.open()
    await until(() => mirror.live, 'live again')
    expect(feed.subs).toHaveLength(2)
    expect(mirror.answer(['jti:away', 'jti:a'])).toEqual(['1', null])
    expect(named(events, 'store.mirror_live')).toHaveLength(2)
  })

  it('ignores callbacks of an older subscription', async () => {
    const feed = new FakeFeed()
    feed.server.set('jti:a', { value: '1', expiresAt: FOREVER })
    const { mirror, events } = await live(feed)
    const old = feed.current!
    old.onLost('first loss')
    await until(() => mirror.live, 'live again')
    const fetches = feed.fetches.length
    const subscriptions = feed.subs.length
    old.onChange(['jti:a'])
    old.onChange(null)
    old.onLost('late loss')
    expect(mirror.answer(['jti:a'])).toEqual(['1'])
    await sleep(50)
    expect(feed.fetches.length).toBe(fetches)
    expect(feed.subs.length).toBe(subscriptions)
    expect(named(events, 'store.mirror_down')).toHaveLength(1)
    expect(mirror.live).toBe(true)
  })

  it('reloads everything on a change of unknown keys', async () => {
    const feed = new FakeFeed()
    feed.server.set('jti:a', { value: '1', expiresAt: FOREVER })
    const { mirror, events } = await live(feed)
    // A flush: the server changed without naming keys.
    feed.server.clear()
    feed.server.set('fid:b', { value: '1', expiresAt: FOREVER })
    feed.current!.onChange(null)
    expect(mirror.answer(['jti:a'])).toBeUndefined()
    expect(named(events, 'store.mirror_down').at(-1)?.[1].reason).toMatch(/unknown keys/)
    await until(() => mirror.live, 'live again')
    expect(feed.loads).toBe(2)
    expect(mirror.answer(['jti:a', 'fid:b'])).toEqual([null, '1'])
  })

  it('does not answer while a read-back fails, and retries it on the heartbeat', async () => {
    const feed = new FakeFeed()
    feed.server.set('jti:a', { value: '1', expiresAt: FOREVER })
    const { mirror } = await live(feed, { maxLagMs: 100 })
    feed.fetchFails = true
    feed.write('jti:x', '1')
    await until(() => feed.fetches.length >= 2, 'a retry of the read-back')
    expect(mirror.answer(['jti:x'])).toBeUndefined()
    expect(mirror.answer(['jti:a'])).toEqual(['1'])
    feed.fetchFails = false
    await until(() => mirror.answer(['jti:x']) !== undefined, 'the read-back')
    expect(mirror.answer(['jti:x'])).toEqual(['1'])
  })

  it('retries a subscription that fails, answering nothing meanwhile and saying so once', async () => {
    const feed = new FakeFeed()
    feed.subscribeFails = true
    const { mirror, events } = start(feed)
    await sleep(400)
    expect(feed.subscribeCalls).toBeGreaterThan(2)
    expect(mirror.answer(['jti:a'])).toBeUndefined()
    // A mirror that never goes live is not silent, but the same failure is said once.
    expect(events).toEqual([
      ['store.mirror_down', { store: 'FakeStore', reason: 'sync failed: connection refused' }],
    ])
    feed.subscribeFails = false
    await until(() => mirror.live, 'live', 5000)
  })

  it('close() drops the subscription, stops the heartbeat and answers nothing', async () => {
    const feed = new FakeFeed()
    const { mirror, events } = await live(feed, { maxLagMs: 40 })
    await until(() => feed.pings > 2, 'heartbeats')
    const old = feed.current!
    const drops = feed.drops
    mirror.close()
    expect(feed.drops).toBe(drops + 1)
    expect(mirror.answer(['jti:a'])).toBeUndefined()
    expect(mirror.live).toBe(false)
    const pings = feed.pings
    old.onChange(['jti:a'])
    old.onLost('after close')
    await sleep(150)
    expect(feed.pings).toBe(pings)
    expect(feed.fetches).toEqual([])
    expect(feed.subs).toHaveLength(1)
    expect(named(events, 'store.mirror_down')).toEqual([])
  })

  it('close() during the first load: it never goes live', async () => {
    const feed = new FakeFeed()
    feed.loadGate = gate()
    const { mirror, events } = start(feed)
    await until(() => feed.loads === 1, 'the load')
    mirror.close()
    feed.loadGate.open()
    await sleep(100)
    expect(mirror.live).toBe(false)
    expect(events).toEqual([])
    expect(feed.subs).toHaveLength(1)
  })

  it('close() while subscribing: the subscription opened after it is dropped', async () => {
    const feed = new FakeFeed()
    feed.subscribeGate = gate()
    const { mirror, events } = start(feed)
    await until(() => feed.subscribeCalls === 1, 'the subscription')
    mirror.close()
    feed.subscribeGate.open()
    await until(() => feed.subs.length === 1, 'the subscription to open')
    await sleep(50)
    expect(feed.current).toBeUndefined()
    expect(events).toEqual([])
  })
})

describe('Mirror heartbeat (fake time)', () => {
  beforeEach(() => {
    vi.useFakeTimers({
      toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'performance'],
    })
  })

  it('stops answering once maxLagMs passed since the last answered heartbeat, before the heartbeat times out', async () => {
    const feed = new FakeFeed()
    feed.server.set('jti:a', { value: '1', expiresAt: FOREVER })
    // Heartbeat every 25 ms; a heartbeat fails after 100 ms.
    const { mirror, events } = await live(feed, { maxLagMs: 100 })
    // Right after a heartbeat is answered, the next ones hang.
    const pings = feed.pings
    while (feed.pings === pings) await vi.advanceTimersByTimeAsync(1)
    feed.pingMode = 'hang'
    const lastAnswered = performance.now()
    // The next heartbeat goes 25 ms later and fails 100 ms after that; until then no event...
    await vi.advanceTimersByTimeAsync(102)
    expect(named(events, 'store.mirror_down')).toEqual([])
    // ...yet past maxLagMs since the last answered heartbeat the mirror no longer answers:
    // nothing it holds is known current.
    expect(performance.now() - lastAnswered).toBeGreaterThan(100)
    expect(mirror.answer(['jti:a'])).toBeUndefined()
    expect(mirror.live).toBe(false)
    await vi.advanceTimersByTimeAsync(30)
    expect(named(events, 'store.mirror_down')).toEqual([
      ['store.mirror_down', { store: 'FakeStore', reason: 'heartbeat not answered' }],
    ])
    // It resubscribes at once; with heartbeats answered it stays live.
    // (A resync that started while pings still hung fails on its own round trip first, and
    // says so once more.)
    feed.pingMode = 'answer'
    await until(() => mirror.live, 'live again')
    const downs = named(events, 'store.mirror_down').length
    await vi.advanceTimersByTimeAsync(500)
    expect(mirror.answer(['jti:a'])).toEqual(['1'])
    expect(named(events, 'store.mirror_down')).toHaveLength(downs)
  })

  it('goes down when a heartbeat is refused', async () => {
    const feed = new FakeFeed()
    const { events } = await live(feed, { maxLagMs: 100 })
    feed.pingMode = 'fail'
    await vi.advanceTimersByTimeAsync(30)
    expect(named(events, 'store.mirror_down')[0]?.[1]).toEqual({ store: 'FakeStore', reason: 'ping refused' })
  })

  it('past maxEntries at the first load: never live, the subscription dropped, a reload a minute later', async () => {
    const feed = new FakeFeed()
    for (const key of ['jti:a', 'jti:b', 'jti:c']) feed.server.set(key, { value: '1', expiresAt: FOREVER })
    const { mirror, events } = start(feed, { maxEntries: 2 })
    await until(() => feed.loads === 1, 'the load')
    await vi.advanceTimersByTimeAsync(100)
    expect(mirror.answer(['jti:x'])).toBeUndefined()
    expect(events).toHaveLength(1)
    expect(events[0]?.[0]).toBe('store.mirror_down')
    expect(String(events[0]?.[1].reason)).toMatch(/^full/)
    expect(feed.current).toBeUndefined()
    await vi.advanceTimersByTimeAsync(55_000)
    expect(feed.loads).toBe(1)
    feed.server.delete('jti:c')
    await vi.advanceTimersByTimeAsync(6000)
    expect(feed.loads).toBe(2)
    expect(mirror.answer(['jti:a', 'jti:c'])).toEqual(['1', null])
  })

  it('past maxEntries while live: down with a reason starting "full", a reload a minute later', async () => {
    const feed = new FakeFeed()
    for (const key of ['jti:a', 'jti:b']) feed.server.set(key, { value: '1', expiresAt: FOREVER })
    const { mirror, events } = await live(feed, { maxEntries: 2, maxLagMs: 60_000 })
    feed.write('jti:c', '1')
    await until(() => named(events, 'store.mirror_down').length > 0, 'store.mirror_down')
    expect(String(named(events, 'store.mirror_down')[0]?.[1].reason)).toMatch(/^full/)
    expect(mirror.answer(['jti:a'])).toBeUndefined()
    expect(feed.current).toBeUndefined()
    feed.server.delete('jti:a')
    await vi.advanceTimersByTimeAsync(59_000)
    expect(mirror.answer(['jti:a'])).toBeUndefined()
    await vi.advanceTimersByTimeAsync(2000)
    expect(mirror.answer(['jti:a', 'jti:c'])).toEqual([null, '1'])
  })

  it('at the bound, expired entries are swept before the mirror gives up', async () => {
    const feed = new FakeFeed()
    feed.server.set('jti:a', { value: '1', expiresAt: now + 100 })
    feed.server.set('jti:b', { value: '1', expiresAt: FOREVER })
    const { mirror, events } = await live(feed, { maxEntries: 2, maxLagMs: 60_000 })
    now += 200
    feed.write('jti:c', '1')
    await until(() => mirror.answer(['jti:c']) !== undefined, 'the read-back')
    expect(mirror.answer(['jti:a', 'jti:b', 'jti:c'])).toEqual([null, '1', '1'])
    expect(mirror.size).toBe(2)
    expect(named(events, 'store.mirror_down')).toEqual([])
  })
})
