/**
 * Rate limiting (docs/rate-limiting.md, SPEC 9.3): a true sliding window per key on the
 * instance's store, atomic per hit (the store's `hit`). `AuthX.rateLimiter` hands over here; the
 * adapters' `rateLimited` guards call {@link limitRequest}.
 * @module
 */
import { parseDuration } from './duration.js'
import { ConfigError, RateLimitError, StoreUnavailableError } from './errors.js'
import type { Emitter } from './events.js'
import type { TokenPayload } from './payload.js'
import { bounded } from './revocation.js'
import type { AuthXStore, RateLimitHit } from './store.js'

/**
 * What a limiter counts by: the token's subject (after authentication), the client's address,
 * or a function of the framework's request and the payload an earlier guard attached.
 */
export type RateLimitBy<R = unknown> =
  | 'subject'
  | 'ip'
  | ((request: R, payload: TokenPayload | undefined) => string | Promise<string>)

/** Options of `auth.rateLimiter(...)` and the adapters' `rateLimited(...)`. */
export interface RateLimiterOptions<R = unknown> {
  /** Requests allowed within any `window` (a positive whole number). */
  max: number
  /** The window's length: seconds, or a Duration string such as `'1m'`. */
  window: number | `${number}${'s' | 'm' | 'h' | 'd' | 'w'}`
  /** What is counted (guards only; `limiter.hit(key)` takes the key). Default `'subject'`. */
  by?: RateLimitBy<R> | undefined
  /**
   * Namespaces the keys, so two limiters on one store never share counts; also the policy's
   * name in the `RateLimit-Policy` and `RateLimit` headers. Default `'default'`.
   */
  name?: string | undefined
  /**
   * When the store cannot answer: `'closed'` (503 `StoreUnavailableError`) or `'open'` (the
   * request passes and `ratelimit.store_error` fires). Default `'closed'`.
   */
  onStoreError?: 'closed' | 'open' | undefined
  /**
   * Which `X-Forwarded-For` entries to believe for `by: 'ip'`: the number of proxies in front of
   * the app, or their addresses. Default: none (the socket's address; the header is ignored).
   */
  trustProxy?: number | readonly string[] | undefined
}

/** What a hit answers. */
export interface RateLimitResult {
  readonly allowed: boolean
  /** The limiter's `max`. */
  readonly limit: number
  /** Requests left in the window after this one. */
  readonly remaining: number
  /** When the oldest request in the window leaves it (a request is allowed again). */
  readonly resetAt: Date
  /** Seconds to wait: 0 when allowed; when denied, at least 1 and never more than the window. */
  readonly retryAfter: number
}

/** What a limiter needs of its instance. */
export interface RateLimiterHost {
  readonly store: AuthXStore
  readonly timeoutMs: number
  readonly clock: () => number
  readonly events: Emitter
}

const KNOWN_OPTIONS = ['max', 'window', 'by', 'name', 'onStoreError', 'trustProxy']
/** Longest key kept as it is; longer ones (a `by` function's) are hashed. */
const MAX_KEY_LENGTH = 200
/** Longest name: it is sent in headers. */
const NAME_RE = /^[A-Za-z0-9_.:-]{1,64}$/
/** Longest address believed from a header. */
const MAX_ADDRESS_LENGTH = 64

/**
 * A sliding-window rate limiter on a store (docs/rate-limiting.md). Made by `auth.rateLimiter()`.
 *
 * @example
 * ```ts
 * const limiter = auth.rateLimiter({ max: 5, window: '1m', name: 'login' })
 * const result = await limiter.hit('alice@example.com')
 * if (!result.allowed) console.log(`retry in ${result.retryAfter} s`)
 * ```
 */
export class RateLimiter<R = unknown> {
  readonly max: number
  /** The window in seconds. */
  readonly window: number
  readonly name: string
  readonly by: RateLimitBy<R>
  readonly onStoreError: 'closed' | 'open'
  readonly trustProxy: number | readonly string[] | undefined
  /** `RateLimit-Policy` header value, the same on every answer. */
  readonly policyHeader: string
  readonly #host: RateLimiterHost

  constructor(options: RateLimiterOptions<R>, host: RateLimiterHost) {
    if (typeof options !== 'object' || options === null || Array.isArray(options))
      throw new ConfigError('rateLimiter: expected an options object')
    for (const name of Object.keys(options)) {
      if (!KNOWN_OPTIONS.includes(name))
        throw new ConfigError(`rateLimiter: unknown option '${name}' (known: ${KNOWN_OPTIONS.join(', ')})`)
    }
    const { max, window, by = 'subject', name = 'default', onStoreError = 'closed', trustProxy } = options
    if (!Number.isSafeInteger(max) || max < 1)
      throw new ConfigError('rateLimiter: max must be a positive whole number')
    const seconds = parseDuration(window)
    if (seconds === undefined)
      throw new ConfigError(
        "rateLimiter: window must be a Duration (positive whole seconds or '<n>s|m|h|d|w')",
      )
    if (by !== 'subject' && by !== 'ip' && typeof by !== 'function')
      throw new ConfigError("rateLimiter: by must be 'subject', 'ip' or a function")
    if (typeof name !== 'string' || !NAME_RE.test(name))
      throw new ConfigError('rateLimiter: name must be 1 to 64 letters, digits or _ . : -')
    if (onStoreError !== 'closed' && onStoreError !== 'open')
      throw new ConfigError("rateLimiter: onStoreError must be 'closed' or 'open'")
    this.trustProxy = checkTrustProxy(trustProxy)
    if (typeof host.store.hit !== 'function') {
      throw new ConfigError(
        'rateLimiter: the store has no hit() method (the built-in stores all have it; a custom store must implement it)',
      )
    }
    this.max = max
    this.window = seconds
    this.name = name
    this.by = by
    this.onStoreError = onStoreError
    this.policyHeader = `"${name}";q=${max};w=${seconds}`
    this.#host = host
  }

  /**
   * Counts one request of `key`: allowed while fewer than `max` were allowed within the window.
   * Rejects with `StoreUnavailableError` when the store cannot answer and `onStoreError` is
   * `'closed'`.
   *
   * @example
   * ```ts
   * const { allowed, remaining } = await limiter.hit('user123')
   * ```
   */
  async hit(key: string): Promise<RateLimitResult> {
    const storeKey = await this.#storeKey(key)
    const host = this.#host
    let answer: RateLimitHit
    try {
      answer = checkHit(await bounded(() => host.store.hit!(storeKey, this.window, this.max), host.timeoutMs))
    } catch (err) {
      const failure =
        err instanceof StoreUnavailableError
          ? err
          : new StoreUnavailableError('Rate limit store unavailable', { cause: err })
      if (this.onStoreError === 'closed') throw failure
      host.events.emit('ratelimit.store_error', {
        name: this.name,
        error: messageOf(failure.cause ?? failure),
      })
      // Unknown counts: the request passes as if it were the window's first.
      const now = host.clock()
      return {
        allowed: true,
        limit: this.max,
        remaining: this.max - 1,
        resetAt: new Date(now + this.window * 1000),
        retryAfter: 0,
      }
    }
    return this.#result(answer)
  }

  /**
   * Forgets `key`'s window (after a successful login, say).
   *
   * @example
   * ```ts
   * await limiter.reset('alice@example.com')
   * ```
   */
  async reset(key: string): Promise<void> {
    const storeKey = await this.#storeKey(key)
    const host = this.#host
    await bounded(() => host.store.delete(storeKey), host.timeoutMs)
  }

  /**
   * The `RateLimit` header value of a result (draft-ietf-httpapi-ratelimit-headers): remaining
   * requests and seconds until the window frees a slot.
   *
   * @example
   * ```ts
   * limiter.rateLimitHeader(result) // '"default";r=4;t=60'
   * ```
   */
  rateLimitHeader(result: RateLimitResult): string {
    const seconds = Math.max(0, Math.ceil((result.resetAt.getTime() - this.#host.clock()) / 1000))
    return `"${this.name}";r=${result.remaining};t=${Math.min(seconds, this.window)}`
  }

  #result(answer: RateLimitHit): RateLimitResult {
    const now = this.#host.clock()
    const windowMs = this.window * 1000
    // A store's clock (Redis, Postgres) may differ from ours: never report a reset beyond one window.
    const resetAt = Math.min(Math.max(answer.resetAt, now), now + windowMs)
    const remaining = answer.allowed ? Math.max(0, this.max - answer.count) : 0
    const retryAfter = answer.allowed
      ? 0
      : Math.min(this.window, Math.max(1, Math.ceil((resetAt - now) / 1000)))
    return { allowed: answer.allowed, limit: this.max, remaining, resetAt: new Date(resetAt), retryAfter }
  }

  async #storeKey(key: string): Promise<string> {
    if (typeof key !== 'string' || key.length === 0) throw new TypeError('key: expected a non-empty string')
    const encoded = key.length <= MAX_KEY_LENGTH ? escapeKey(key) : undefined
    // Long keys (a `by` function's, an attacker's header) are hashed: store keys stay short.
    const part = encoded !== undefined && encoded.length <= MAX_KEY_LENGTH ? encoded : `#${await sha256(key)}`
    return `rl:${this.name}:${part}`
  }
}

function escapeKey(key: string): string | undefined {
  try {
    return encodeURIComponent(key)
  } catch {
    return undefined // a lone surrogate: hashed instead
  }
}

async function sha256(text: string): Promise<string> {
  // Lone surrogates become U+FFFD here, so two such keys may share a window: never a bypass.
  const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(text))
  let hex = ''
  for (const byte of new Uint8Array(digest)) hex += byte.toString(16).padStart(2, '0')
  return hex
}

function checkHit(answer: unknown): RateLimitHit {
  const hit = answer as Partial<RateLimitHit> | null
  if (
    typeof hit !== 'object' ||
    hit === null ||
    typeof hit.allowed !== 'boolean' ||
    typeof hit.count !== 'number' ||
    !Number.isSafeInteger(hit.count) ||
    hit.count < 0 ||
    typeof hit.resetAt !== 'number' ||
    !Number.isFinite(hit.resetAt)
  ) {
    throw new StoreUnavailableError('Rate limit store gave an answer of the wrong shape')
  }
  return hit as RateLimitHit
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}

function checkTrustProxy(value: unknown): number | readonly string[] | undefined {
  if (value === undefined) return undefined
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value) || value < 0 || value > 32)
      throw new ConfigError('rateLimiter: trustProxy must be a hop count from 0 to 32 or a list of addresses')
    return value
  }
  if (Array.isArray(value) && value.every((a) => typeof a === 'string' && a.length > 0)) {
    return Object.freeze(value.map((a: string) => normalizeAddress(a)))
  }
  throw new ConfigError('rateLimiter: trustProxy must be a hop count from 0 to 32 or a list of addresses')
}

/**
 * An address as keys hold it: trimmed, lower-case, an IPv4-mapped IPv6 address as IPv4.
 *
 * @example
 * ```ts
 * normalizeAddress('::ffff:10.0.0.1') // '10.0.0.1'
 * ```
 */
export function normalizeAddress(address: string): string {
  const trimmed = address.trim().toLowerCase()
  return trimmed.startsWith('::ffff:') && trimmed.includes('.') ? trimmed.slice(7) : trimmed
}

/**
 * The client's address for `by: 'ip'`: the socket's, unless `trustProxy` says which
 * `X-Forwarded-For` entry to believe. With a hop count `n`, the entry `n` places from the
 * right of `[...forwarded, socket]`; with a list of proxy addresses, the right-most address that
 * is not one of them. An entry that is no address falls back to the nearest trusted hop, never
 * to something the client chose.
 *
 * @example
 * ```ts
 * clientAddress('10.0.0.1', '203.0.113.7', 1) // '203.0.113.7'
 * clientAddress('10.0.0.1', '203.0.113.7', undefined) // '10.0.0.1'
 * ```
 */
export function clientAddress(
  socket: string | undefined,
  forwardedFor: string | undefined,
  trustProxy: number | readonly string[] | undefined,
): string | undefined {
  const direct = socket === undefined || socket === '' ? undefined : normalizeAddress(socket)
  if (trustProxy === undefined || trustProxy === 0 || forwardedFor === undefined) return direct
  if (direct === undefined) return undefined
  const hops = forwardedFor.length > 4096 ? [] : forwardedFor.split(',').map(normalizeAddress)
  const chain = [...hops, direct]
  let index: number
  if (typeof trustProxy === 'number') {
    index = Math.max(0, chain.length - 1 - trustProxy)
  } else {
    index = chain.length - 1
    while (index > 0 && trustProxy.includes(chain[index]!)) index--
  }
  // Walk back toward the socket past entries that are no address (written by the client).
  while (index < chain.length - 1 && !looksLikeAddress(chain[index]!)) index++
  return chain[index]
}

function looksLikeAddress(value: string): boolean {
  return value.length > 0 && value.length <= MAX_ADDRESS_LENGTH && /^[0-9a-f.:]+$/.test(value)
}

/** What a request's limit check needs from an adapter. */
export interface LimitedRequest<R> {
  /** The framework's request (given to a `by` function). */
  readonly request: R
  /** The socket's address, where the framework knows it. */
  readonly ip: string | undefined
  /** The `X-Forwarded-For` header. */
  readonly forwardedFor: string | undefined
  /** The verified payload (`by: 'subject'`) or the one an earlier guard attached. */
  readonly payload: TokenPayload | undefined
}

/**
 * One request through a limiter, for the adapters' `rateLimited` guards: the headers to send
 * on every answer, or a `RateLimitError` (429, carrying the same headers) over the limit. A
 * request whose address is unknown is counted under one shared `ip:unknown` key: it can be
 * limited, never let through unlimited.
 *
 * @example
 * ```ts
 * const { headers } = await limitRequest(limiter, { request: req, ip: req.ip, forwardedFor, payload })
 * ```
 */
export async function limitRequest<R>(
  limiter: RateLimiter<R>,
  input: LimitedRequest<R>,
): Promise<{ headers: Record<string, string> }> {
  const key = await requestKey(limiter, input)
  const result = await limiter.hit(key)
  const headers = {
    'ratelimit-policy': limiter.policyHeader,
    ratelimit: limiter.rateLimitHeader(result),
  }
  if (!result.allowed) throw new RateLimitError(result.retryAfter, { headers })
  return { headers }
}

async function requestKey<R>(limiter: RateLimiter<R>, input: LimitedRequest<R>): Promise<string> {
  const by = limiter.by
  if (by === 'subject') return `sub:${input.payload?.sub ?? ''}`
  if (by === 'ip') return `ip:${clientAddress(input.ip, input.forwardedFor, limiter.trustProxy) ?? 'unknown'}`
  const key = await by(input.request, input.payload)
  if (typeof key !== 'string' || key.length === 0)
    throw new TypeError('rateLimited: the by function must return a non-empty string')
  return `fn:${key}`
}
