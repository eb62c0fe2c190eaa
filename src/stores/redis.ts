/**
 * `RedisStore`: a store shared by every instance of a service, on Redis (ioredis or node-redis).
 * @module
 */
import type { AuthXStore } from 'authx'

/** The ioredis commands the store uses. */
export interface IoRedisLike {
  mget(...keys: string[]): Promise<(string | null)[]>
  set(key: string, value: string, ...args: (string | number)[]): Promise<unknown>
  del(key: string): Promise<unknown>
  quit(): Promise<unknown>
}

/** The node-redis (v4+) commands the store uses. */
export interface NodeRedisLike {
  mGet(keys: string[]): Promise<(string | null)[]>
  set(key: string, value: string, options: { EX: number; NX?: true }): Promise<unknown>
  del(key: string): Promise<unknown>
  quit?(): Promise<unknown>
  close?(): Promise<unknown>
}

/** Options of `new RedisStore()`: an ioredis or node-redis `client`, or a `url`. */
export interface RedisStoreOptions {
  /** An ioredis or node-redis client (left open by `close()`). */
  client?: IoRedisLike | NodeRedisLike
  /** A Redis URL; the store creates (and closes) its own ioredis client. */
  url?: string
  /** Prefix of every key. Default `'authx:'`. */
  prefix?: string
  /**
   * With `url`: how long a command may wait, queued while disconnected, before it fails.
   * Keep it at or below `revocation.timeoutMs`. Default `500`.
   */
  commandTimeoutMs?: number
}

interface Commands {
  mget(keys: string[]): Promise<unknown>
  set(key: string, value: string, ttl: number, onlyIfAbsent: boolean): Promise<unknown>
  del(key: string): Promise<unknown>
  close(): Promise<unknown>
}

function commandsOf(client: IoRedisLike | NodeRedisLike): Commands {
  if (typeof (client as NodeRedisLike).mGet === 'function') {
    const c = client as NodeRedisLike
    return {
      mget: (keys) => c.mGet(keys),
      set: (key, value, ttl, nx) => c.set(key, value, nx ? { EX: ttl, NX: true } : { EX: ttl }),
      del: (key) => c.del(key),
      close: async () => (typeof c.close === 'function' ? c.close() : c.quit?.()),
    }
  }
  if (typeof (client as IoRedisLike).mget === 'function') {
    const c = client as IoRedisLike
    return {
      mget: (keys) => c.mget(...keys),
      set: (key, value, ttl, nx) => (nx ? c.set(key, value, 'EX', ttl, 'NX') : c.set(key, value, 'EX', ttl)),
      del: (key) => c.del(key),
      close: () => c.quit(),
    }
  }
  throw new TypeError('client: expected an ioredis or node-redis client')
}

function ttlOf(ttlSeconds: number): number {
  if (!Number.isFinite(ttlSeconds) || ttlSeconds <= 0)
    throw new TypeError('ttlSeconds: expected a positive number')
  return Math.max(1, Math.ceil(ttlSeconds))
}

/**
 * A store on Redis: `get` is one `MGET`, `setIfAbsent` is `SET NX EX`, every key is prefixed
 * and expires.
 *
 * @example
 * ```ts
 * import Redis from 'ioredis'
 * import { RedisStore } from 'authx/stores/redis'
 * const auth = new AuthX({ secretKey, store: new RedisStore({ client: new Redis() }) })
 * ```
 */
export class RedisStore implements AuthXStore {
  readonly #prefix: string
  readonly #owned: boolean
  #commands: Commands | Promise<Commands>
  #closed = false

  constructor(options: RedisStoreOptions) {
    const { client, url } = options ?? {}
    if ((client === undefined) === (url === undefined))
      throw new TypeError('RedisStore: give exactly one of client or url')
    const prefix = options.prefix ?? 'authx:'
    if (typeof prefix !== 'string') throw new TypeError('prefix: expected a string')
    this.#prefix = prefix
    this.#owned = client === undefined
    if (client !== undefined) {
      this.#commands = commandsOf(client)
    } else {
      const timeout = options.commandTimeoutMs ?? 500
      // ioredis is an optional peer dependency, loaded only for `url`.
      const pending = import('ioredis').then(({ Redis }) =>
        commandsOf(
          new Redis(url as string, {
            commandTimeout: timeout,
            maxRetriesPerRequest: 1,
            connectTimeout: Math.max(timeout, 1000),
          }) as unknown as IoRedisLike,
        ),
      )
      pending.catch(() => {})
      this.#commands = pending
    }
  }

  async get(keys: string[]): Promise<(string | null)[]> {
    if (keys.length === 0) return []
    const values = await (await this.#client()).mget(keys.map((k) => this.#prefix + k))
    if (!Array.isArray(values) || values.length !== keys.length)
      throw new Error('Redis MGET gave an answer of the wrong shape')
    return values as (string | null)[]
  }

  async set(key: string, value: string, ttlSeconds: number): Promise<void> {
    await (await this.#client()).set(this.#prefix + key, value, ttlOf(ttlSeconds), false)
  }

  async setIfAbsent(key: string, value: string, ttlSeconds: number): Promise<boolean> {
    const reply = await (await this.#client()).set(this.#prefix + key, value, ttlOf(ttlSeconds), true)
    return reply === 'OK'
  }

  async delete(key: string): Promise<void> {
    await (await this.#client()).del(this.#prefix + key)
  }

  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    if (this.#owned) await (await this.#commands).close()
  }

  async #client(): Promise<Commands> {
    if (this.#closed) throw new Error('RedisStore is closed')
    return this.#commands
  }
}
