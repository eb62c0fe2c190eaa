/**
 * The local mirror of a shared store's revocation entries (docs/stores.md, "The mirror"): reads
 * of revocation keys are answered from memory, kept current by the server's own notifications.
 * @module
 */
import type { StoreEventListener } from 'authx'

/** Options of a store's `mirror`. */
export interface MirrorOptions {
  /**
   * Most revocation entries held. Past it the mirror stops answering (every read goes to the
   * server, as without a mirror) and tries a full reload once a minute. Default `1000000`.
   */
  maxEntries?: number
  /**
   * The mirror answers only while it heard from the server within this many milliseconds (a
   * heartbeat runs four times as often): a connection that silently stops delivering
   * notifications can make it stale for at most this long. Default `1000`.
   */
  maxLagMs?: number
}

/** A key's state on the server: its value and when it expires (ms on the store's clock). */
export interface MirrorEntry {
  readonly value: string
  /** `Infinity` when the key does not expire. */
  readonly expiresAt: number
}

/**
 * What a store gives its mirror: a subscription to changes of the revocation keys, a full load
 * and a read of given keys. Keys are the store's keys, without any prefix.
 */
export interface MirrorFeed {
  /**
   * Opens a new subscription. `onChange` receives changed keys (`null`: unknown keys changed, so
   * reload everything); `onLost` is called when the subscription is lost. Changes made after this
   * resolves are all delivered.
   */
  subscribe(onChange: (keys: string[] | null) => void, onLost: (reason: string) => void): Promise<void>
  /** Every live revocation entry, or `null` when there are more than `limit`. */
  load(limit: number): Promise<Map<string, MirrorEntry> | null>
  /** The current state of `keys` (`null`: absent), in order. */
  fetch(keys: string[]): Promise<(MirrorEntry | null)[]>
  /** A round trip on the subscription: every change made before it was sent has been delivered. */
  ping(): Promise<void>
  /** Closes the subscription; its callbacks are not called again. */
  drop(): void
}

const KNOWN_OPTIONS = ['maxEntries', 'maxLagMs'] as const
const DEFAULT_MAX_ENTRIES = 1_000_000
const DEFAULT_MAX_LAG_MS = 1000
/** After a reload found more entries than `maxEntries`, the next try waits this long. */
const FULL_RETRY_MS = 60_000
/** Expired entries are swept this often (and when the mirror reaches its bound). */
const SWEEP_EVERY_MS = 60_000
/** Keys one fetch reads at most. */
const FETCH_BATCH = 500

/**
 * Whether a store key is a revocation key, the kind the mirror holds (docs/revocation.md): a
 * revoked `jti`, a revoked family, a subject's cut-off, a revoked session. Rotation's `used:` entries are not held.
 */
export function isMirrored(key: string): boolean {
  return key.startsWith('jti:') || key.startsWith('sub:') || key.startsWith('fid:') || key.startsWith('sid:')
}

/** The prefixes of {@link isMirrored}. */
export const MIRRORED_PREFIXES = ['jti:', 'sub:', 'fid:', 'sid:'] as const

/** Monotonic milliseconds, for the heartbeat: a wall-clock jump must not fake freshness. */
function monotonicNow(): number {
  return performance.now()
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms)
    ;(timer as { unref?: () => void }).unref?.()
  })
}

/**
 * `promise`, or a rejection naming `what` when it does not settle within `ms` (the mirror's calls
 * to a server that stopped answering must not wait forever).
 */
export function timed<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined
  return Promise.race([
    promise,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms)
      ;(timer as { unref?: () => void }).unref?.()
    }),
  ]).finally(() => clearTimeout(timer))
}

/** Reads `options.mirror` of a store constructor: `true`, `false`, `undefined` or an object. */
export function mirrorOptionsOf(value: unknown): Required<MirrorOptions> | undefined {
  if (value === undefined || value === false) return undefined
  if (value !== true && (typeof value !== 'object' || value === null))
    throw new TypeError('mirror: expected true, false or an object')
  const options = (value === true ? {} : value) as Record<string, unknown>
  for (const name of Object.keys(options)) {
    if (!(KNOWN_OPTIONS as readonly string[]).includes(name))
      throw new TypeError(`mirror.${name}: unknown option (known: ${KNOWN_OPTIONS.join(', ')})`)
  }
  const maxEntries = options.maxEntries ?? DEFAULT_MAX_ENTRIES
  if (!Number.isInteger(maxEntries) || (maxEntries as number) < 1)
    throw new TypeError('mirror.maxEntries: expected a positive integer')
  const maxLagMs = options.maxLagMs ?? DEFAULT_MAX_LAG_MS
  if (typeof maxLagMs !== 'number' || !Number.isFinite(maxLagMs) || maxLagMs < 20)
    throw new TypeError('mirror.maxLagMs: expected a number of milliseconds, at least 20')
  return { maxEntries: maxEntries as number, maxLagMs }
}

/**
 * Every revocation entry of a shared store, in memory. It answers only while it is complete and
 * current: loaded after its subscription opened, no change notified but not yet read back, and a
 * heartbeat answered within `maxLagMs`. Otherwise `answer` returns `undefined` and the store's
 * caller reads from the server.
 *
 * @example
 * ```ts
 * const mirror = new Mirror('RedisStore', { maxEntries: 1e6, maxLagMs: 1000 }, Date.now, emit, feed)
 * mirror.answer(['jti::abc']) // [null] once live, undefined before
 * ```
 */
export class Mirror {
  readonly #store: string
  readonly #maxEntries: number
  readonly #maxLagMs: number
  readonly #clock: () => number
  readonly #emit: StoreEventListener
  readonly #feed: MirrorFeed
  #entries = new Map<string, MirrorEntry>()
  /** Keys notified as changed whose new state is not read yet, with a change counter. */
  readonly #pending = new Map<string, number>()
  #changes = 0
  #live = false
  #syncing = false
  #fetching = false
  #pinging = false
  #closed = false
  /** The reason of the last `store.mirror_down`, until the mirror is live again. */
  #downReason: string | undefined
  /** Bumped by every new subscription: callbacks of an older one are ignored. */
  #generation = 0
  /** Monotonic time of the latest moment up to which every change is known. */
  #heardAt = Number.NEGATIVE_INFINITY
  readonly #heartbeat: ReturnType<typeof setInterval>
  readonly #sweeper: ReturnType<typeof setInterval>

  constructor(
    store: string,
    options: Required<MirrorOptions>,
    clock: () => number,
    emit: StoreEventListener,
    feed: MirrorFeed,
  ) {
    this.#store = store
    this.#maxEntries = options.maxEntries
    this.#maxLagMs = options.maxLagMs
    this.#clock = clock
    this.#emit = emit
    this.#feed = feed
    this.#heartbeat = setInterval(() => this.#beat(), Math.max(5, Math.floor(options.maxLagMs / 4)))
    this.#sweeper = setInterval(() => this.#sweep(), SWEEP_EVERY_MS)
    ;(this.#heartbeat as { unref?: () => void }).unref?.()
    ;(this.#sweeper as { unref?: () => void }).unref?.()
    void this.#sync()
  }

  /** Whether the mirror answers reads now. */
  get live(): boolean {
    return this.#live && monotonicNow() - this.#heardAt <= this.#maxLagMs
  }

  /** Entries held (expired ones not yet swept included). */
  get size(): number {
    return this.#entries.size
  }

  /**
   * The values of `keys` from memory, or `undefined` when the mirror cannot answer for all of
   * them: not live, a key that is not a revocation key, or a key whose change is being read.
   */
  answer(keys: string[]): (string | null)[] | undefined {
    if (!this.#live || monotonicNow() - this.#heardAt > this.#maxLagMs) return undefined
    const now = this.#clock()
    const values: (string | null)[] = new Array(keys.length)
    for (let i = 0; i < keys.length; i++) {
      const key = keys[i]!
      if (!isMirrored(key) || this.#pending.has(key)) return undefined
      const entry = this.#entries.get(key)
      values[i] = entry !== undefined && entry.expiresAt > now ? entry.value : null
    }
    return values
  }

  /**
   * Marks keys as changed by this process (a write it made): they are read from the server until
   * the mirror has read them back, so a revocation holds here at once.
   */
  changed(keys: string[]): void {
    this.#onChange(this.#generation, keys)
  }

  close(): void {
    this.#closed = true
    this.#live = false
    clearInterval(this.#heartbeat)
    clearInterval(this.#sweeper)
    this.#entries = new Map()
    this.#pending.clear()
    this.#feed.drop()
  }

  /** Subscribes, loads everything, reads back what changed meanwhile, then answers. */
  async #sync(): Promise<void> {
    if (this.#syncing || this.#closed) return
    this.#syncing = true
    try {
      for (let attempt = 0; !this.#closed; attempt++) {
        const generation = ++this.#generation
        this.#pending.clear()
        try {
          await this.#feed.subscribe(
            (keys) => this.#onChange(generation, keys),
            (reason) => this.#onLost(generation, reason),
          )
          if (this.#closed) return
          // Every change from here on is notified; the load below sees everything before.
          const loaded = await this.#feed.load(this.#maxEntries)
          if (generation !== this.#generation || this.#closed) continue
          if (loaded === null) {
            this.#down('full: more revocation entries than mirror.maxEntries')
            this.#feed.drop()
            await delay(FULL_RETRY_MS)
            continue
          }
          this.#entries = loaded
          // A load can take longer than maxLagMs: a round trip now vouches for everything
          // notified up to this moment, so the mirror answers as soon as it says it is live.
          const pingedAt = monotonicNow()
          await this.#ping()
          if (generation !== this.#generation || this.#closed) continue
          // Changes notified during the load: read them back before answering.
          while (this.#pending.size > 0 && generation === this.#generation) await this.#fetchPending()
          if (generation !== this.#generation || this.#closed) continue
          if (this.#pending.size > 0) throw new Error('changes could not be read back')
          this.#heardAt = pingedAt
          this.#live = true
          this.#downReason = undefined
          this.#emit('store.mirror_live', { store: this.#store, entries: this.#entries.size })
          return
        } catch (err) {
          if (this.#closed) return
          this.#down(`sync failed: ${err instanceof Error ? err.message : String(err)}`)
          this.#feed.drop()
          await delay(Math.min(100 * 2 ** Math.min(attempt, 5), 2000))
        }
      }
    } finally {
      this.#syncing = false
      // Closed while subscribing or loading: what was opened meanwhile is closed too.
      if (this.#closed) this.#feed.drop()
    }
  }

  #onChange(generation: number, keys: string[] | null): void {
    if (generation !== this.#generation || this.#closed) return
    if (keys === null) {
      this.#onLost(generation, 'the server said unknown keys changed')
      return
    }
    for (const key of keys) if (isMirrored(key)) this.#pending.set(key, ++this.#changes)
    if (this.#live && !this.#fetching) void this.#fetchPending().catch(() => {})
  }

  #onLost(generation: number, reason: string): void {
    if (generation !== this.#generation || this.#closed) return
    // Callbacks of this subscription are ignored from now on.
    this.#generation++
    this.#down(reason)
    this.#feed.drop()
    void this.#sync()
  }

  /** Reads back the pending keys; a key notified again meanwhile stays pending. */
  async #fetchPending(): Promise<void> {
    if (this.#fetching) return
    this.#fetching = true
    try {
      while (this.#pending.size > 0 && !this.#closed) {
        const generation = this.#generation
        const batch = [...this.#pending].slice(0, FETCH_BATCH)
        const states = await this.#feed.fetch(batch.map(([key]) => key))
        if (generation !== this.#generation) return
        for (let i = 0; i < batch.length; i++) {
          const [key, change] = batch[i]!
          const state = states[i]
          if (state === undefined) throw new Error('the store read back the wrong number of keys')
          if (state === null) this.#entries.delete(key)
          else this.#entries.set(key, state)
          if (this.#pending.get(key) === change) this.#pending.delete(key)
        }
        if (this.#entries.size > this.#maxEntries) this.#overflow()
      }
    } finally {
      this.#fetching = false
    }
  }

  /** Past the bound: sweep; still past it, stop answering and reload later. */
  #overflow(): void {
    this.#sweep()
    if (this.#entries.size <= this.#maxEntries) return
    const generation = ++this.#generation
    this.#down('full: more revocation entries than mirror.maxEntries')
    this.#feed.drop()
    void delay(FULL_RETRY_MS).then(() => {
      if (generation === this.#generation) void this.#sync()
    })
  }

  #down(reason: string): void {
    const wasLive = this.#live
    this.#live = false
    this.#heardAt = Number.NEGATIVE_INFINITY
    this.#entries = new Map()
    this.#pending.clear()
    // Said when it stops answering, and when a mirror that is not live fails for a new reason (a
    // mirror that never goes live, say without the right to create its trigger, is not silent);
    // the same failure at every retry is said once.
    if (wasLive || reason !== this.#downReason)
      this.#emit('store.mirror_down', { store: this.#store, reason })
    this.#downReason = reason
  }

  /** The heartbeat: a round trip on the subscription proves every earlier change was delivered. */
  #beat(): void {
    if (!this.#live || this.#pinging || this.#closed) return
    const generation = this.#generation
    const sentAt = monotonicNow()
    this.#pinging = true
    this.#ping()
      .then(
        () => {
          if (generation === this.#generation && sentAt > this.#heardAt) this.#heardAt = sentAt
          // Keys whose read-back failed earlier are tried again.
          if (this.#pending.size > 0 && !this.#fetching) void this.#fetchPending().catch(() => {})
        },
        (err: unknown) => this.#onLost(generation, err instanceof Error ? err.message : String(err)),
      )
      .finally(() => {
        this.#pinging = false
      })
  }

  /** A round trip on the subscription, failed when not answered within `maxLagMs`. */
  #ping(): Promise<void> {
    let timer: ReturnType<typeof setTimeout> | undefined
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error('heartbeat not answered')), this.#maxLagMs)
      ;(timer as { unref?: () => void }).unref?.()
    })
    return Promise.race([this.#feed.ping(), timeout]).finally(() => clearTimeout(timer))
  }

  #sweep(): void {
    const now = this.#clock()
    for (const [key, entry] of this.#entries) if (entry.expiresAt <= now) this.#entries.delete(key)
  }
}
