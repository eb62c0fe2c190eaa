/**
 * `RedisStore`: a store shared by every instance of a service, on Redis (ioredis or node-redis),
 * a single server or a Redis Cluster.
 * @module
 */
import { createHash, randomBytes } from 'node:crypto'
import { type AuthXStore, ConfigError, type RateLimitHit, type StoreEventListener } from 'authx'
import { CircuitBreaker, type CircuitBreakerOptions, StoreEventHub } from './breaker.js'
import {
  isMirrored,
  MIRRORED_PREFIXES,
  Mirror,
  type MirrorEntry,
  type MirrorFeed,
  type MirrorOptions,
  mirrorOptionsOf,
  timed,
} from './mirror.js'

export type { CircuitBreakerOptions } from './breaker.js'
export type { MirrorOptions } from './mirror.js'

/** The ioredis commands the store uses (a `Redis` or a `Cluster`). */
export interface IoRedisLike {
  mget(...keys: string[]): Promise<(string | null)[]>
  /** Used instead of `mget` on a `Cluster`, whose keys of one read live in different slots. */
  get?(key: string): Promise<string | null>
  set(key: string, value: string, secondsToken: 'EX', seconds: number): Promise<unknown>
  set(key: string, value: string, secondsToken: 'EX', seconds: number, nx: 'NX'): Promise<unknown>
  del(key: string): Promise<unknown>
  quit(): Promise<unknown>
  /**
   * Any command: the mirror uses it (SCAN, EVAL), and so do rate limiting and indexed records
   * (EVALSHA, EVAL), which a client without it cannot run.
   */
  call?(command: string, ...args: (string | number)[]): Promise<unknown>
  /** A new connection with the same settings; the mirror's subscription uses one. */
  duplicate?(...args: never[]): unknown
}

/** The node-redis (v4+) commands the store uses (a client or a cluster). */
export interface NodeRedisLike {
  mGet(keys: string[]): Promise<(string | null)[]>
  /** Used instead of `mGet` on a cluster (`createCluster`). */
  get?(key: string): Promise<string | null>
  set(key: string, value: string, options: { EX: number; NX?: true }): Promise<unknown>
  del(key: string): Promise<unknown>
  /** Rate limiting and indexed records run scripts; a client without these cannot. */
  evalSha?(sha: string, options: { keys: string[]; arguments: string[] }): Promise<unknown>
  /** Runs the script when the server has not cached it yet (`NOSCRIPT`). */
  eval?(script: string, options: { keys: string[]; arguments: string[] }): Promise<unknown>
  quit?(): Promise<unknown>
  close?(): Promise<unknown>
}

/** Options of `new RedisStore()`: an ioredis or node-redis `client`, or a `url`. */
export interface RedisStoreOptions {
  /**
   * An ioredis or node-redis client (left open by `close()`): a client of one server, or a
   * cluster client (an ioredis `Cluster`, a node-redis `createCluster()`), on which the keys of
   * one read are read with one `GET` each, sent together, since they live in different hash
   * slots and one `MGET` of them would be refused (`CROSSSLOT`). While it is not connected, the
   * store hands it no command (so nothing piles up in its offline queue) and waits at most
   * `commandTimeoutMs` for it to connect. Give an ioredis client `socketTimeout` (so a
   * connection that stops answering is replaced) and `autoResendUnfulfilledCommands: false`
   * with `maxRetriesPerRequest: 0` (so a command that already failed, such as a refresh
   * answered 503, is not sent again after a reconnect); give node-redis `socket.socketTimeout`
   * with a shorter `pingInterval` (it is an idle timeout).
   */
  client?: IoRedisLike | NodeRedisLike
  /**
   * A Redis URL; the store creates (and closes) its own ioredis client, which queues nothing
   * while disconnected, fails a command that gets no reply within `commandTimeoutMs`, drops a
   * connection that stops answering and reconnects.
   */
  url?: string
  /** Prefix of every key. Default `'authx:'`. */
  prefix?: string
  /**
   * How long a command may wait for the client to be connected (and, with `url`, for its
   * reply) before it fails, in milliseconds. Keep it at or below `revocation.timeoutMs`.
   * Default `500`.
   */
  commandTimeoutMs?: number
  /**
   * Most commands awaiting a reply at once. When Redis stops answering on an open connection,
   * further commands fail at once instead of piling up in memory. Default `1000`.
   */
  maxPendingCommands?: number
  /**
   * Keep every revocation entry in memory, current through Redis's own invalidation messages
   * (`CLIENT TRACKING ... BCAST PREFIX`), so the revocation check of a verification costs no
   * round trip (docs/stores.md, "The mirror"). Needs ioredis (a `url`, or an ioredis client of
   * one server) and Redis 6+. `true`, or options. Default off.
   */
  mirror?: boolean | MirrorOptions
  /**
   * After `failures` failures or timeouts in a row, every call fails at once with
   * `StoreUnavailableError` for `coolDownMs`, then one probe goes through (docs/stores.md).
   * `false` turns it off. Default `{ failures: 5, coolDownMs: 5000 }`.
   */
  circuitBreaker?: CircuitBreakerOptions | false
}

interface Commands {
  /** The values of `keys`, in order: one MGET on a single server, one GET per key on a cluster. */
  read(keys: string[]): Promise<unknown>
  set(key: string, value: string, ttl: number, onlyIfAbsent: boolean): Promise<unknown>
  del(key: string): Promise<unknown>
  /**
   * Runs `script` (EVALSHA, then EVAL when the server has not cached it): on a cluster the
   * client routes it to the slot of its first key.
   */
  script(script: Script, keys: string[], args: string[]): Promise<unknown>
  /** Whether the client talks to a Redis Cluster, where one script cannot span hash slots. */
  cluster: boolean
  /** The client's own key prefix (ioredis `keyPrefix`), for keys a script builds itself. */
  keyPrefix: string
  close(): Promise<unknown>
  /** Any command (ioredis only). */
  call?: ((command: string, ...args: (string | number)[]) => Promise<unknown>) | undefined
}

/** `unknown`: a client that does not say (a custom one): commands are sent as they come. */
type State = 'ready' | 'connecting' | 'closed' | 'unknown'

interface Connection extends Commands {
  state(): State
  /** Calls `listener` each time the client becomes ready; returns the unsubscribe function. */
  onReady(listener: () => void): () => void
}

/** What ioredis and node-redis clients say about their connection; both are EventEmitters. */
interface ClientState {
  status?: unknown
  isReady?: unknown
  isOpen?: unknown
  on?: (event: string, listener: () => void) => unknown
  off?: (event: string, listener: () => void) => unknown
  removeListener?: (event: string, listener: () => void) => unknown
}

const KNOWN_OPTIONS = [
  'client',
  'url',
  'prefix',
  'commandTimeoutMs',
  'maxPendingCommands',
  'mirror',
  'circuitBreaker',
] as const
const DEFAULT_TIMEOUT_MS = 500
const DEFAULT_MAX_PENDING = 1000

function stateOf(client: ClientState): State {
  if (typeof client.status === 'string') {
    // ioredis. `wait` (lazyConnect): the first command is what makes it connect.
    if (client.status === 'ready' || client.status === 'wait') return 'ready'
    return client.status === 'end' ? 'closed' : 'connecting'
  }
  if (typeof client.isReady === 'boolean') {
    // node-redis: not open means never connected or closed; commands would be refused.
    if (client.isReady) return 'ready'
    return client.isOpen === false ? 'closed' : 'connecting'
  }
  return 'unknown'
}

/** Whether `client` is a cluster client: an ioredis `Cluster` or a node-redis `createCluster()`. */
function isCluster(client: object): boolean {
  const c = client as { isCluster?: unknown; nodeClient?: unknown; getMasters?: unknown }
  return c.isCluster === true || typeof c.nodeClient === 'function' || typeof c.getMasters === 'function'
}

/**
 * One GET per key, sent together (the client routes each to its slot's node), for a cluster:
 * the keys of one verification hash to different slots, and a multi-key command across slots is
 * refused. Not one snapshot as MGET is, which revocation does not need: entries are only added
 * and expire, and a read racing a revocation may see it or not either way.
 */
function readEach(get: (key: string) => Promise<unknown>, keys: string[]): Promise<unknown[]> {
  return Promise.all(keys.map((key) => get(key)))
}

/** The client's `get`, bound, which a cluster client must have. */
function getOf(client: { get?: (key: string) => Promise<string | null> }): (key: string) => Promise<unknown> {
  if (typeof client.get !== 'function') throw new TypeError('client: a cluster client must have get()')
  return client.get.bind(client)
}

/** The `keyPrefix` an ioredis client adds to every key it is given, or ''. */
function keyPrefixOf(client: object): string {
  const prefix = (client as { options?: { keyPrefix?: unknown } }).options?.keyPrefix
  return typeof prefix === 'string' ? prefix : ''
}

/** A Lua script and its SHA1, which EVALSHA names it by. */
interface Script {
  source: string
  sha: string
}

function script(body: string): Script {
  const source = `${LUA_PRELUDE}\n${body}`
  return { source, sha: createHash('sha1').update(source).digest('hex') }
}

/**
 * EVALSHA, then EVAL only when the server answers `NOSCRIPT` (a restart, a failover, SCRIPT
 * FLUSH, a cluster node seeing the script for the first time): most calls send the 40-byte
 * hash, not the script.
 */
async function withScriptFallback(
  bySha: () => Promise<unknown>,
  bySource: () => Promise<unknown>,
): Promise<unknown> {
  try {
    return await bySha()
  } catch (err) {
    if (!String((err as { message?: unknown } | undefined)?.message).startsWith('NOSCRIPT')) throw err
    return bySource()
  }
}

function connectionOf(client: IoRedisLike | NodeRedisLike, close?: () => Promise<unknown>): Connection {
  const events = client as ClientState
  const cluster = isCluster(client)
  const state = (): State => (typeof events.on === 'function' ? stateOf(events) : 'unknown')
  const onReady = (listener: () => void) => {
    // A node-redis cluster says `connect` once it is ready; it has no `ready` event.
    const event = cluster && typeof (client as NodeRedisLike).mGet === 'function' ? 'connect' : 'ready'
    events.on?.(event, listener)
    return () => {
      if (typeof events.off === 'function') events.off(event, listener)
      else events.removeListener?.(event, listener)
    }
  }
  if (typeof (client as NodeRedisLike).mGet === 'function') {
    const c = client as NodeRedisLike
    const get = cluster ? getOf(c) : undefined
    return {
      state,
      onReady,
      read: get ? (keys) => readEach(get, keys) : (keys) => c.mGet(keys),
      set: (key, value, ttl, nx) => c.set(key, value, nx ? { EX: ttl, NX: true } : { EX: ttl }),
      del: (key) => c.del(key),
      script: (script, keys, args) => {
        const { evalSha, eval: evalScript } = c
        if (typeof evalSha !== 'function' || typeof evalScript !== 'function')
          return Promise.reject(new Error('client: this node-redis client has no evalSha() and eval()'))
        return withScriptFallback(
          () => evalSha.call(c, script.sha, { keys, arguments: args }),
          () => evalScript.call(c, script.source, { keys, arguments: args }),
        )
      },
      cluster,
      keyPrefix: '',
      close: close ?? (async () => (typeof c.close === 'function' ? c.close() : c.quit?.())),
    }
  }
  if (typeof (client as IoRedisLike).mget === 'function') {
    const c = client as IoRedisLike
    const get = cluster ? getOf(c) : undefined
    return {
      state,
      onReady,
      read: get ? (keys) => readEach(get, keys) : (keys) => c.mget(...keys),
      set: (key, value, ttl, nx) => (nx ? c.set(key, value, 'EX', ttl, 'NX') : c.set(key, value, 'EX', ttl)),
      del: (key) => c.del(key),
      script: (script, keys, args) => {
        const { call } = c
        if (typeof call !== 'function')
          return Promise.reject(new Error('client: this ioredis client has no call()'))
        // ioredis adds its `keyPrefix` to the KEYS of EVAL and EVALSHA as it does to MGET's.
        return withScriptFallback(
          () => call.call(c, 'EVALSHA', script.sha, keys.length, ...keys, ...args),
          () => call.call(c, 'EVAL', script.source, keys.length, ...keys, ...args),
        )
      },
      cluster,
      keyPrefix: keyPrefixOf(c),
      close: close ?? (() => c.quit()),
      call: typeof c.call === 'function' ? c.call.bind(c) : undefined,
    }
  }
  throw new TypeError('client: expected an ioredis or node-redis client')
}

/** The part of an ioredis client the store's own connection uses beyond {@link IoRedisLike}. */
interface OwnedIoRedis extends IoRedisLike {
  status: string
  disconnect(): void
  on(event: string, listener: (...args: unknown[]) => void): unknown
}

async function ownedConnection(url: string, timeoutMs: number): Promise<Connection> {
  // ioredis is an optional peer dependency, loaded only for `url`.
  const { Redis } = await import('ioredis')
  const client = new Redis(url, {
    // Never queue while disconnected (docs/stores.md): the store waits for `ready` itself, for
    // at most `timeoutMs`, so a command cannot run long after its caller gave up.
    enableOfflineQueue: false,
    // A reply that does not come in time fails the command...
    commandTimeout: timeoutMs,
    // ...and a connection that stops answering (a network black hole keeps TCP open for
    // minutes) is dropped, which fails what it still holds and starts a reconnect.
    socketTimeout: Math.max(2 * timeoutMs, 1000),
    connectTimeout: Math.max(timeoutMs, 1000),
    // A closed connection fails its pending commands at once, and they are not sent again
    // after a reconnect: a refresh answered 503 must not consume its token minutes later.
    maxRetriesPerRequest: 0,
    autoResendUnfulfilledCommands: false,
    retryStrategy: (attempt: number) => Math.min(attempt * 50, 1000),
  }) as unknown as OwnedIoRedis
  // Errors reach callers as failed commands; without a listener ioredis logs each reconnect.
  client.on('error', () => {})
  return connectionOf(client, async () => {
    try {
      if (client.status === 'ready') await client.quit()
    } catch {
      // Closing anyway below.
    } finally {
      client.disconnect()
    }
  })
}

/** The part of an ioredis client the mirror's subscription uses. */
interface IoRedisSubscriber {
  client(subcommand: 'ID'): Promise<unknown>
  call(command: string, ...args: string[]): Promise<unknown>
  subscribe(channel: string): Promise<unknown>
  ping(): Promise<unknown>
  on(event: string, listener: (...args: unknown[]) => void): unknown
  removeAllListeners(event?: string): unknown
  disconnect(): void
}

/**
 * Settings of the subscription connection: RESP2 (invalidations then arrive as Pub/Sub messages
 * on `__redis__:invalidate`, which ioredis 5 and 6 both deliver), and no reconnection of its own:
 * tracking is lost with the connection, so the mirror opens a new one and reloads.
 */
const SUBSCRIBER_OPTIONS = {
  protocol: 2,
  // Named, so an operator (or a test) can find it in CLIENT LIST.
  connectionName: 'authx-mirror',
  lazyConnect: false,
  enableOfflineQueue: true,
  autoResubscribe: false,
  autoResendUnfulfilledCommands: false,
  maxRetriesPerRequest: 0,
  retryStrategy: () => null,
}

const INVALIDATE_CHANNEL = '__redis__:invalidate'

/** Values and remaining lifetimes (ms) of the keys, read at one moment. */
const READ_STATES = `local out = {}
for i, key in ipairs(KEYS) do
  out[2 * i - 1] = redis.call('GET', key)
  out[2 * i] = redis.call('PTTL', key)
end
return out`

/**
 * What every script of the store starts with. The clock is the server's TIME, one clock for
 * every instance of the service; scripts that read it and then write replicate their effects
 * (the default since Redis 7, asked for explicitly on Redis 5 and 6). Numbers become strings
 * with `%.17g`, since Lua's own conversion keeps 14 digits and milliseconds since 1970 need 13,
 * a 100-year lifetime 14.
 */
const LUA_PRELUDE = `if redis.replicate_commands then redis.replicate_commands() end
local function nowMs()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function num(x) return string.format('%.17g', x) end
local function extend(index)
  local top = redis.call('ZRANGE', index, -1, -1, 'WITHSCORES')
  if top[2] then redis.call('PEXPIREAT', index, top[2]) end
end`

/**
 * One hit on a sliding log (KEYS[1]): a sorted set of the allowed hits' times (ms), each member
 * unique through a random suffix from the client (two hits in one millisecond are two hits; a
 * script cannot draw a random number itself). ARGV: window (ms), max, suffix. Answers
 * `{allowed (1|0), count, resetAt}`. A denied hit writes nothing but the trimming of hits that
 * left the window, and of the oldest ones when `max` shrank since (so at most `max` are kept).
 */
const HIT = script(`local key = KEYS[1]
local window = tonumber(ARGV[1])
local max = tonumber(ARGV[2])
local now = nowMs()
redis.call('ZREMRANGEBYSCORE', key, '-inf', num(now - window))
local count = redis.call('ZCARD', key)
local allowed = 0
if count < max then
  redis.call('ZADD', key, num(now), num(now) .. ':' .. ARGV[3])
  redis.call('PEXPIRE', key, num(math.ceil(window)))
  count = count + 1
  allowed = 1
elseif count > max then
  redis.call('ZREMRANGEBYRANK', key, 0, count - max - 1)
  count = max
end
local oldest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
local resetAt = now + window
if oldest[2] then resetAt = tonumber(oldest[2]) + window end
return {allowed, count, math.ceil(resetAt)}`)

/**
 * Indexed records on one server, one script per operation (atomic, one round trip). The record
 * is a plain string key (so `get` reads it), the index a sorted set of the records' keys scored
 * by their expiry (ms), expiring with its latest member. KEYS: index, record.
 */
const PUT_INDEXED = script(`local ttl = tonumber(ARGV[2])
local now = nowMs()
redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', num(now))
redis.call('ZADD', KEYS[1], num(now + ttl), ARGV[3])
extend(KEYS[1])
return 1`)

/** As {@link PUT_INDEXED}, only while the record is live: 0 and nothing written otherwise. */
const UPDATE_INDEXED = script(`if redis.call('EXISTS', KEYS[2]) == 0 then return 0 end
local ttl = tonumber(ARGV[2])
local now = nowMs()
redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', num(now))
redis.call('ZADD', KEYS[1], num(now + ttl), ARGV[3])
extend(KEYS[1])
return 1`)

/**
 * The live members of the index (KEYS[1]) and their values, flat: key, value, key, value...
 * ARGV[1]: the prefix of the record keys. Drops expired members, and members whose record is
 * gone (on one server every write is one script, so such a member is no write in progress).
 */
const LIST_INDEXED = script(`local now = nowMs()
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', num(now))
local out = {}
for _, member in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  local value = redis.call('GET', ARGV[1] .. member)
  if value then
    out[#out + 1] = member
    out[#out + 1] = value
  else
    redis.call('ZREM', KEYS[1], member)
  end
end
return out`)

/** Removes the record (KEYS[2]) and its member (ARGV[1]) of the index (KEYS[1]). */
const DELETE_INDEXED = script(`redis.call('DEL', KEYS[2])
redis.call('ZREM', KEYS[1], ARGV[1])
extend(KEYS[1])
return 1`)

/**
 * On a cluster, the index's half of a put (ARGV[3] = '') or an update (ARGV[3] = 'XX': only a
 * member already there, so an update racing a delete never lists a deleted record again).
 * KEYS[1]: index; ARGV: ttl (ms), member, mode.
 */
const CLUSTER_INDEX_ADD = script(`local now = nowMs()
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', num(now))
if ARGV[3] == 'XX' then
  redis.call('ZADD', KEYS[1], 'XX', num(now + tonumber(ARGV[1])), ARGV[2])
else
  redis.call('ZADD', KEYS[1], num(now + tonumber(ARGV[1])), ARGV[2])
end
extend(KEYS[1])
return 1`)

/** On a cluster, the record's half: SET PX, with ARGV[3] = 'XX' only when it is live. 1 when set. */
const CLUSTER_RECORD_SET = script(`local set
if ARGV[3] == 'XX' then
  set = redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2], 'XX')
else
  set = redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
end
if set then return 1 end
return 0`)

/** On a cluster, the live members of the index (KEYS[1]); their values are read apart. */
const CLUSTER_INDEX_MEMBERS = script(`redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', num(nowMs()))
return redis.call('ZRANGE', KEYS[1], 0, -1)`)

/** On a cluster, removes the member ARGV[1] of the index KEYS[1]. */
const CLUSTER_INDEX_REMOVE = script(`redis.call('ZREM', KEYS[1], ARGV[1])
extend(KEYS[1])
return 1`)

/** Keys one SCAN step or one state read covers. */
const LOAD_BATCH = 500

/** A glob pattern matching exactly the keys that start with `text`. */
function globPrefix(text: string): string {
  return `${text.replace(/[*?[\]\\]/g, '\\$&')}*`
}

/** The Redis side of the mirror: a tracking subscription, SCAN loads, scripted reads. */
class RedisFeed implements MirrorFeed {
  readonly #prefix: string
  readonly #timeoutMs: number
  readonly #clock: () => number
  readonly #subscriber: () => Promise<IoRedisSubscriber>
  readonly #call: (command: string, ...args: (string | number)[]) => Promise<unknown>
  #sub: IoRedisSubscriber | undefined

  constructor(
    prefix: string,
    timeoutMs: number,
    clock: () => number,
    subscriber: () => Promise<IoRedisSubscriber>,
    call: (command: string, ...args: (string | number)[]) => Promise<unknown>,
  ) {
    this.#prefix = prefix
    this.#timeoutMs = timeoutMs
    this.#clock = clock
    this.#subscriber = subscriber
    this.#call = call
  }

  async subscribe(
    onChange: (keys: string[] | null) => void,
    onLost: (reason: string) => void,
  ): Promise<void> {
    this.drop()
    const sub = await this.#subscriber()
    this.#sub = sub
    sub.on('error', () => {})
    const lost = () => {
      if (this.#sub === sub) onLost('subscription connection closed')
    }
    sub.on('close', lost)
    sub.on('end', lost)
    sub.on('messageBuffer', (channel: unknown, message: unknown) => {
      if (this.#sub !== sub || String(channel) !== INVALIDATE_CHANNEL) return
      // `null`: the whole keyspace was flushed; anything but a list of keys is as unknown.
      if (!Array.isArray(message)) {
        onChange(null)
        return
      }
      const keys: string[] = []
      for (const raw of message) {
        const key = String(raw)
        if (key.startsWith(this.#prefix)) keys.push(key.slice(this.#prefix.length))
      }
      onChange(keys)
    })
    await timed(
      (async () => {
        const id = await sub.client('ID')
        // Broadcast mode over the revocation keys only: every change of one is notified, to
        // this same connection, so losing the connection loses the notifications with it.
        const prefixes = MIRRORED_PREFIXES.flatMap((kind) => ['PREFIX', this.#prefix + kind])
        await sub.call('CLIENT', 'TRACKING', 'ON', 'REDIRECT', String(id), 'BCAST', ...prefixes)
        await sub.subscribe(INVALIDATE_CHANNEL)
      })(),
      this.#timeoutMs,
      'Redis mirror subscription',
    )
  }

  async load(limit: number): Promise<Map<string, MirrorEntry> | null> {
    const keys: string[] = []
    for (const kind of MIRRORED_PREFIXES) {
      let cursor = '0'
      do {
        const reply = await timed(
          this.#call('SCAN', cursor, 'MATCH', globPrefix(this.#prefix + kind), 'COUNT', LOAD_BATCH),
          this.#timeoutMs,
          'Redis SCAN',
        )
        if (!Array.isArray(reply) || reply.length !== 2 || !Array.isArray(reply[1]))
          throw new Error('Redis SCAN gave an answer of the wrong shape')
        cursor = String(reply[0])
        for (const key of reply[1] as unknown[]) keys.push(String(key).slice(this.#prefix.length))
        if (keys.length > limit) return null
      } while (cursor !== '0')
    }
    // SCAN may return a key twice.
    const unique = [...new Set(keys)]
    const entries = new Map<string, MirrorEntry>()
    for (let i = 0; i < unique.length; i += LOAD_BATCH) {
      const batch = unique.slice(i, i + LOAD_BATCH)
      const states = await this.fetch(batch)
      for (let j = 0; j < batch.length; j++) {
        const state = states[j]
        if (state) entries.set(batch[j]!, state)
      }
    }
    return entries
  }

  async fetch(keys: string[]): Promise<(MirrorEntry | null)[]> {
    if (keys.length === 0) return []
    const reply = await timed(
      this.#call('EVAL', READ_STATES, keys.length, ...keys.map((k) => this.#prefix + k)),
      this.#timeoutMs,
      'Redis mirror read',
    )
    if (!Array.isArray(reply) || reply.length !== 2 * keys.length)
      throw new Error('Redis mirror read gave an answer of the wrong shape')
    const now = this.#clock()
    return keys.map((_, i) => {
      const value: unknown = reply[2 * i]
      const ttl = Number(reply[2 * i + 1])
      // A missing key: nil, which a RESP3 client may read as `false`.
      if (value === null || value === undefined || value === false || ttl === -2) return null
      if (typeof value !== 'string' || !Number.isInteger(ttl) || ttl < -1)
        throw new Error('Redis mirror read gave an answer of the wrong shape')
      return { value, expiresAt: ttl === -1 ? Number.POSITIVE_INFINITY : now + ttl }
    })
  }

  async ping(): Promise<void> {
    const sub = this.#sub
    if (sub === undefined) throw new Error('no subscription')
    await sub.ping()
  }

  drop(): void {
    const sub = this.#sub
    this.#sub = undefined
    if (sub === undefined) return
    sub.removeAllListeners('messageBuffer')
    sub.removeAllListeners('close')
    sub.removeAllListeners('end')
    sub.disconnect()
  }
}

function ttlOf(ttlSeconds: number): number {
  if (!Number.isFinite(ttlSeconds) || ttlSeconds <= 0)
    throw new TypeError('ttlSeconds: expected a positive number')
  return Math.max(1, Math.ceil(ttlSeconds))
}

/** A time to live in whole milliseconds (at least 1), for PX and index scores. */
function ttlMsOf(ttlSeconds: number): number {
  if (typeof ttlSeconds !== 'number' || !Number.isFinite(ttlSeconds) || ttlSeconds <= 0)
    throw new TypeError('ttlSeconds: expected a positive number')
  return Math.max(1, Math.ceil(ttlSeconds * 1000))
}

/** A script that answers 1 when done; anything else leaves the write unknown, an error. */
function expectOne(reply: unknown, what: string): void {
  if (reply !== 1) throw new Error(`Redis ${what} script gave an answer of the wrong shape`)
}

function positive(value: unknown, name: string, integer: boolean): number {
  if (
    typeof value !== 'number' ||
    !Number.isFinite(value) ||
    value <= 0 ||
    (integer && !Number.isInteger(value))
  )
    throw new TypeError(`${name}: expected a positive ${integer ? 'integer' : 'number'}`)
  return value
}

/** Refuses a client the mirror cannot use, when the store is made rather than later. */
function checkMirrorClient(client: IoRedisLike | NodeRedisLike): void {
  const c = client as IoRedisLike & { options?: { keyPrefix?: unknown } }
  if (typeof c.duplicate !== 'function' || typeof c.call !== 'function' || typeof c.mget !== 'function')
    throw new ConfigError('mirror: needs an ioredis client (or a url); a node-redis client has no mirror')
  if (isCluster(client)) throw new ConfigError('mirror: not available on a Redis Cluster client')
  if (typeof c.options?.keyPrefix === 'string' && c.options.keyPrefix !== '')
    throw new ConfigError("mirror: the client's keyPrefix is not supported; use the store's prefix")
}

/**
 * A store on Redis: `get` is one `MGET` (one `GET` per key, sent together, on a cluster),
 * `setIfAbsent` is `SET NX EX`, every key is prefixed and expires. Replies of the wrong shape
 * are errors, never "absent". `hit` (rate limiting) is one Lua script on the server's clock;
 * indexed records (sessions) are one script per operation on one server and two commands on a
 * cluster, where a record and its index live in different hash slots (see each method). The
 * scripts go by EVALSHA (EVAL when the server lacks them), through ioredis's `call` or
 * node-redis's `evalSha`/`eval`, within `commandTimeoutMs` and the circuit breaker.
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
  readonly #timeoutMs: number
  readonly #maxPending: number
  readonly #connection: Connection | Promise<Connection>
  readonly #waiters = new Set<() => void>()
  readonly #events = new StoreEventHub()
  readonly #breaker: CircuitBreaker
  readonly #mirror: Mirror | undefined
  #unsubscribe: (() => void) | undefined
  #pending = 0
  #closed = false

  constructor(options: RedisStoreOptions) {
    for (const name of Object.keys(options ?? {})) {
      // A misspelt option must not pass silently (docs/stores.md), as in `new AuthX()`.
      if (!(KNOWN_OPTIONS as readonly string[]).includes(name))
        throw new ConfigError(`${name}: unknown option of RedisStore (known: ${KNOWN_OPTIONS.join(', ')})`)
    }
    const { client, url } = options ?? {}
    if ((client === undefined) === (url === undefined))
      throw new TypeError('RedisStore: give exactly one of client or url')
    const prefix = options.prefix ?? 'authx:'
    if (typeof prefix !== 'string') throw new TypeError('prefix: expected a string')
    this.#prefix = prefix
    this.#timeoutMs = positive(options.commandTimeoutMs ?? DEFAULT_TIMEOUT_MS, 'commandTimeoutMs', false)
    this.#maxPending = positive(options.maxPendingCommands ?? DEFAULT_MAX_PENDING, 'maxPendingCommands', true)
    this.#owned = client === undefined
    const mirror = mirrorOptionsOf(options.mirror)
    if (mirror !== undefined && client !== undefined) checkMirrorClient(client)
    this.#breaker = new CircuitBreaker('RedisStore', options.circuitBreaker, this.#events.emit)
    if (client !== undefined) {
      this.#connection = connectionOf(client)
    } else {
      if (typeof url !== 'string') throw new TypeError('url: expected a string')
      const pending = ownedConnection(url, this.#timeoutMs)
      pending.catch(() => {})
      this.#connection = pending
    }
    if (mirror !== undefined) {
      const subscriber = async (): Promise<IoRedisSubscriber> => {
        const settings = { ...SUBSCRIBER_OPTIONS, connectTimeout: Math.max(this.#timeoutMs, 1000) }
        if (client !== undefined) {
          const duplicate = (client as IoRedisLike).duplicate as (options: object) => unknown
          return duplicate.call(client, settings) as IoRedisSubscriber
        }
        const { Redis } = await import('ioredis')
        return new Redis(url as string, settings as never) as unknown as IoRedisSubscriber
      }
      const feed = new RedisFeed(this.#prefix, this.#timeoutMs, Date.now, subscriber, (command, ...args) =>
        this.#call(command, ...args),
      )
      this.#mirror = new Mirror('RedisStore', mirror, Date.now, this.#events.emit, feed)
    }
  }

  /**
   * With `mirror`, the values from memory while the mirror is live and holds every key asked
   * (revocation keys only); otherwise `undefined`, and authx calls `get`.
   */
  getLocal(keys: string[]): (string | null)[] | undefined {
    return this.#mirror?.answer(keys)
  }

  /** Calls `listener` with the store's events (circuit breaker, mirror); returns the stop function. */
  onEvent(listener: StoreEventListener): () => void {
    return this.#events.on(listener)
  }

  async get(keys: string[]): Promise<(string | null)[]> {
    if (keys.length === 0) return []
    const values = await this.#run((c) => c.read(keys.map((k) => this.#prefix + k)))
    if (
      !Array.isArray(values) ||
      values.length !== keys.length ||
      !values.every((v) => v === null || typeof v === 'string')
    )
      throw new Error('Redis MGET or GET gave an answer of the wrong shape')
    return values as (string | null)[]
  }

  async set(key: string, value: string, ttlSeconds: number): Promise<void> {
    const ttl = ttlOf(ttlSeconds)
    let reply: unknown
    try {
      reply = await this.#run((c) => c.set(this.#prefix + key, value, ttl, false))
    } finally {
      // Applied or maybe applied: read from the server here until the mirror has read it back.
      if (this.#mirror !== undefined && isMirrored(key)) this.#mirror.changed([key])
    }
    // Anything but OK leaves the write unknown: a revocation must not report success.
    if (reply !== 'OK') throw new Error('Redis SET gave an answer of the wrong shape')
  }

  async setIfAbsent(key: string, value: string, ttlSeconds: number): Promise<boolean> {
    const ttl = ttlOf(ttlSeconds)
    const reply = await this.#run((c) => c.set(this.#prefix + key, value, ttl, true))
    if (reply === 'OK') return true
    if (reply === null) return false
    // Not "already set": that would turn a store fault into refresh-token reuse.
    throw new Error('Redis SET NX gave an answer of the wrong shape')
  }

  async delete(key: string): Promise<void> {
    try {
      await this.#run((c) => c.del(this.#prefix + key))
    } finally {
      if (this.#mirror !== undefined && isMirrored(key)) this.#mirror.changed([key])
    }
  }

  /**
   * One hit on the sliding window of `key` (SPEC 9.3): one Lua script (EVALSHA, EVAL when the
   * server has not cached it), so every instance of the service counts in one place, atomically,
   * on the server's clock. The window is a sorted set of the allowed hits' times under `key`
   * itself (`delete(key)` resets it), at most `max` of them, expiring with the window. On a
   * cluster the script has one key and runs on its slot's node.
   *
   * @example
   * ```ts
   * const { allowed, count, resetAt } = await store.hit('rl:login:203.0.113.7', 60, 5)
   * ```
   */
  async hit(key: string, windowSeconds: number, max: number): Promise<RateLimitHit> {
    positive(windowSeconds, 'windowSeconds', false)
    if (!Number.isSafeInteger(max) || max <= 0) throw new TypeError('max: expected a positive safe integer')
    const windowMs = windowSeconds * 1000
    // The member's suffix: two hits in one millisecond must be two members of the set.
    const suffix = randomBytes(9).toString('base64url')
    const reply = await this.#run((c) =>
      c.script(HIT, [this.#prefix + key], [String(windowMs), String(max), suffix]),
    )
    if (!Array.isArray(reply) || reply.length !== 3 || !reply.every((n) => Number.isSafeInteger(n)))
      throw new Error('Redis rate-limit script gave an answer of the wrong shape')
    const [allowed, count, resetAt] = reply as [number, number, number]
    // Counts the store cannot have made: garbage, never a verdict.
    if (
      (allowed !== 0 && allowed !== 1) ||
      count < 1 ||
      (allowed === 1 && count > max) ||
      (allowed === 0 && count < max)
    )
      throw new Error('Redis rate-limit script gave an answer of the wrong shape')
    return { allowed: allowed === 1, count, resetAt }
  }

  /**
   * Stores `value` under `key` (read by `get`) for `ttlSeconds`, listed in `index` (a sorted set
   * of keys scored by expiry, which expires with its latest member) for as long. One script on
   * one server. On a cluster the index and the record live in different hash slots: two
   * commands, the index first, so a put cut half-way leaves at worst an index entry without its
   * record, which {@link listIndexed} skips; not atomic across the two.
   *
   * @example
   * ```ts
   * await store.putIndexed('sesx:iss:alice', 'ses:iss:s1', JSON.stringify(session), 3600)
   * ```
   */
  async putIndexed(index: string, key: string, value: string, ttlSeconds: number): Promise<void> {
    expectOne(await this.#writeIndexed(PUT_INDEXED, '', index, key, value, ttlSeconds), 'record')
  }

  /**
   * Replaces the value and the time to live of `key` only while it is live, keeping it listed in
   * `index` as long; `false`, and nothing written, when it is absent or expired (a session
   * deleted meanwhile never comes back). One script on one server; on a cluster two commands
   * (the index entry is extended only if still there, then the record replaced only if live).
   *
   * @example
   * ```ts
   * const live = await store.updateIndexed('sesx:iss:alice', 'ses:iss:s1', updated, 3600)
   * ```
   */
  async updateIndexed(index: string, key: string, value: string, ttlSeconds: number): Promise<boolean> {
    const reply = await this.#writeIndexed(UPDATE_INDEXED, 'XX', index, key, value, ttlSeconds)
    if (reply === 1) return true
    if (reply === 0) return false
    throw new Error('Redis indexed-record script gave an answer of the wrong shape')
  }

  /**
   * The write of `putIndexed` (`onlyIfLive` '') and `updateIndexed` ('XX'): `script` on one
   * server; on a cluster the index entry first, then the record, each with that condition.
   */
  #writeIndexed(
    script: Script,
    onlyIfLive: '' | 'XX',
    index: string,
    key: string,
    value: string,
    ttlSeconds: number,
  ): Promise<unknown> {
    const ttl = String(ttlMsOf(ttlSeconds))
    const record = this.#prefix + key
    return this.#write(key, (c) => {
      if (!c.cluster) return c.script(script, [this.#prefix + index, record], [value, ttl, key])
      return (async () => {
        expectOne(await c.script(CLUSTER_INDEX_ADD, [this.#prefix + index], [ttl, key, onlyIfLive]), 'index')
        return c.script(CLUSTER_RECORD_SET, [record], [value, ttl, onlyIfLive])
      })()
    })
  }

  /**
   * Every live `[key, value]` listed in `index`, in any order. One script (one round trip) on
   * one server. On a cluster two round trips: the index's members, then one GET per record sent
   * together; a member whose record is gone (expired, deleted, or a write cut half-way) is left
   * out, so a half-done write never shows as a live record.
   *
   * @example
   * ```ts
   * for (const [key, value] of await store.listIndexed('sesx:iss:alice')) console.log(key, value)
   * ```
   */
  async listIndexed(index: string): Promise<[string, string][]> {
    const reply = await this.#run(async (c): Promise<unknown> => {
      if (!c.cluster) return c.script(LIST_INDEXED, [this.#prefix + index], [c.keyPrefix + this.#prefix])
      const members = await c.script(CLUSTER_INDEX_MEMBERS, [this.#prefix + index], [])
      if (!Array.isArray(members) || !members.every((m) => typeof m === 'string'))
        throw new Error('Redis index read gave an answer of the wrong shape')
      if (members.length === 0) return []
      const values = await c.read(members.map((m: string) => this.#prefix + m))
      if (
        !Array.isArray(values) ||
        values.length !== members.length ||
        !values.every((v) => v === null || typeof v === 'string')
      )
        throw new Error('Redis GET gave an answer of the wrong shape')
      return members.flatMap((m: string, i) => (values[i] === null ? [] : [m, values[i] as string]))
    })
    if (!Array.isArray(reply) || reply.length % 2 !== 0 || !reply.every((v) => typeof v === 'string'))
      throw new Error('Redis indexed-record script gave an answer of the wrong shape')
    const entries: [string, string][] = []
    for (let i = 0; i < reply.length; i += 2) entries.push([reply[i] as string, reply[i + 1] as string])
    return entries
  }

  /**
   * Removes `key`'s value and its entry in `index`; nothing there is fine. One script on one
   * server; on a cluster the record first, then the index entry (cut half-way, the entry is
   * left without its record, which {@link listIndexed} skips).
   *
   * @example
   * ```ts
   * await store.deleteIndexed('sesx:iss:alice', 'ses:iss:s1')
   * ```
   */
  async deleteIndexed(index: string, key: string): Promise<void> {
    const record = this.#prefix + key
    const reply = await this.#write(key, async (c) => {
      if (!c.cluster) return c.script(DELETE_INDEXED, [this.#prefix + index, record], [key])
      await c.del(record)
      return c.script(CLUSTER_INDEX_REMOVE, [this.#prefix + index], [key])
    })
    expectOne(reply, 'index')
  }

  /** A write of `key` through {@link #run}, which the mirror reads back if it holds such keys. */
  async #write(key: string, command: (c: Connection) => Promise<unknown>): Promise<unknown> {
    try {
      return await this.#run(command)
    } finally {
      if (this.#mirror !== undefined && isMirrored(key)) this.#mirror.changed([key])
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    this.#mirror?.close()
    this.#unsubscribe?.()
    this.#wakeAll()
    if (this.#owned) await (await this.#connection).close()
  }

  /** Runs a command through the circuit breaker, within `commandTimeoutMs` in all. */
  #run<T>(command: (c: Connection) => Promise<T>): Promise<T> {
    if (this.#closed) return Promise.reject(new Error('RedisStore is closed'))
    return this.#breaker.run(() => this.#send(command), this.#timeoutMs)
  }

  /** A command of the mirror (loads, reads back): not counted by the breaker. */
  async #call(command: string, ...args: (string | number)[]): Promise<unknown> {
    if (this.#closed) throw new Error('RedisStore is closed')
    const connection = await this.#connection
    if (connection.call === undefined) throw new Error('the mirror needs an ioredis client')
    if (connection.state() !== 'ready' && connection.state() !== 'unknown')
      throw new Error('Redis not connected')
    return connection.call(command, ...args)
  }

  async #send<T>(command: (c: Connection) => Promise<T>): Promise<T> {
    if (this.#closed) throw new Error('RedisStore is closed')
    const connection = await this.#connection
    const state = connection.state()
    if (state === 'closed') throw new Error('Redis client is closed')
    if (state === 'connecting') await this.#whenReady(connection)
    if (this.#closed) throw new Error('RedisStore is closed')
    // Bounds what a hung server can make us hold, whatever the client's own settings.
    if (this.#pending >= this.#maxPending) throw new Error('Too many Redis commands awaiting a reply')
    this.#pending++
    try {
      return await command(connection)
    } finally {
      this.#pending--
    }
  }

  /** Waits at most `commandTimeoutMs` for the client to connect, without queueing anything in it. */
  #whenReady(connection: Connection): Promise<void> {
    this.#unsubscribe ??= connection.onReady(() => this.#wakeAll())
    return new Promise((resolve, reject) => {
      const wake = () => {
        clearTimeout(timer)
        resolve()
      }
      const timer = setTimeout(() => {
        this.#waiters.delete(wake)
        reject(new Error(`Redis not connected within ${this.#timeoutMs} ms`))
      }, this.#timeoutMs)
      this.#waiters.add(wake)
    })
  }

  #wakeAll(): void {
    const waiters = [...this.#waiters]
    this.#waiters.clear()
    for (const wake of waiters) wake()
  }
}
