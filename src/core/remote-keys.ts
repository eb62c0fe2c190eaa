/**
 * Remote key sets (`jwksUrl`): jose's remote JWK set with a fetch timeout, a cool-down on unknown
 * `kid`s, a maximum cache age, a cap on the response size and a hook to persist the fetched set
 * across serverless invocations (docs/keys.md, "Remote key sets").
 * @module
 */
import {
  createRemoteJWKSet,
  customFetch,
  type ExportedJWKSCache,
  type FetchImplementation,
  jwksCache,
} from 'jose'
import type { Algorithm } from './algorithms.js'
import { type Duration, parseDuration } from './duration.js'
import { ConfigError } from './errors.js'

/**
 * A fetched key set as it is persisted: jose's `ExportedJWKSCache` shape, so a copy saved by
 * `createRemoteJWKSet`'s own `jwksCache` can be loaded too.
 *
 * @example
 * ```ts
 * const entry: RemoteKeySetEntry = { uat: Date.now(), jwks: { keys: [] } }
 * ```
 */
export interface RemoteKeySetEntry {
  /** When the set was fetched, in milliseconds since the Unix epoch. */
  uat: number
  /** The JWK set as the server sent it (public keys only). */
  jwks: { keys: Record<string, unknown>[] }
}

/**
 * Where a fetched key set is kept between invocations (a KV store, a file, a Redis key). Only
 * trusted code may write there: the keys it holds are trusted for verification.
 *
 * @example
 * ```ts
 * let stored: string | undefined
 * const cache: RemoteKeySetCache = {
 *   load: () => (stored === undefined ? undefined : JSON.parse(stored)),
 *   save: (entry) => {
 *     stored = JSON.stringify(entry)
 *   },
 * }
 * ```
 */
export interface RemoteKeySetCache {
  /**
   * The last saved entry, or `undefined`. Called once per instance, before the first fetch. An
   * entry that throws, rejects, takes longer than `timeoutMs`, is not a {@link RemoteKeySetEntry},
   * is dated in the future or is older than `maxAge` is ignored: the set is fetched instead.
   */
  load(): unknown | Promise<unknown>
  /**
   * Called after each successful fetch, and awaited for at most `timeoutMs` so a serverless
   * function does not freeze before it finishes. Its failure never fails a request.
   */
  save(entry: RemoteKeySetEntry): void | Promise<void>
}

/**
 * The `jwks` option: how the key set of `jwksUrl` is fetched and cached. Allowed only with
 * `jwksUrl`.
 *
 * @example
 * ```ts
 * const jwks: RemoteKeySetOptions = { timeoutMs: 2000, cooldown: '1m', maxAge: '1h' }
 * ```
 */
export interface RemoteKeySetOptions {
  /**
   * Timeout of one fetch (connection, headers and body), in milliseconds, from 1 to 60000.
   * Default `verify.jwksTimeoutMs`, else `5000`. Over it, the verification is a 503.
   */
  timeoutMs?: number | undefined
  /**
   * A token whose `kid` is not in the cached set makes authx fetch the set again only when the
   * last successful fetch is older than this. Default `'30s'` (jose's `cooldownDuration`).
   */
  cooldown?: Duration | undefined
  /**
   * A set older than this is fetched again before it is used; if that fetch fails, the
   * verification is a 503 (the stale set is not used). Default `'10m'` (jose's `cacheMaxAge`).
   */
  maxAge?: Duration | undefined
  /** Persists the fetched set across invocations (serverless). Default: none. */
  cache?: RemoteKeySetCache | undefined
}

/**
 * The resolved `jwks` option, in milliseconds.
 *
 * @example
 * ```ts
 * const resolved: ResolvedRemoteKeys = resolveRemoteKeys({ maxAge: '1h' }, 5000, true)
 * ```
 */
export interface ResolvedRemoteKeys {
  readonly timeoutMs: number
  readonly cooldownMs: number
  readonly maxAgeMs: number
  readonly cache: RemoteKeySetCache | undefined
}

/** Defaults of jose's remote key set. */
const DEFAULT_COOLDOWN_MS = 30_000
const DEFAULT_MAX_AGE_MS = 600_000
/**
 * The largest key set response read. Real sets are a few kilobytes (a 4096-bit RSA key is under
 * 1 KiB); the cap stops a misconfigured or hostile URL from filling memory on every refetch.
 */
const MAX_JWKS_BYTES = 256 * 1024

const KNOWN = ['timeoutMs', 'cooldown', 'maxAge', 'cache']

function fail(path: string, message: string): never {
  throw new ConfigError(`jwks.${path}: ${message}`)
}

function milliseconds(value: unknown, path: string, fallback: number): number {
  if (value === undefined) return fallback
  const seconds = parseDuration(value)
  if (seconds === undefined) fail(path, "expected a Duration (positive whole seconds or '<n>s|m|h|d|w')")
  return seconds * 1000
}

function cacheHooks(value: unknown): RemoteKeySetCache | undefined {
  if (value === undefined) return undefined
  const hooks = value as Partial<RemoteKeySetCache> | null
  if (typeof hooks !== 'object' || hooks === null) fail('cache', 'expected an object with load() and save()')
  if (typeof hooks.load !== 'function') fail('cache.load', 'expected a function')
  if (typeof hooks.save !== 'function') fail('cache.save', 'expected a function')
  // Bound now: a class instance keeps its `this`, and a later change to the object changes nothing.
  return Object.freeze({ load: hooks.load.bind(hooks), save: hooks.save.bind(hooks) })
}

/**
 * Checks the `jwks` option once, at construction. `legacyTimeoutMs` is `verify.jwksTimeoutMs`
 * (already defaulted); `remote` says whether `jwksUrl` is set.
 *
 * @example
 * ```ts
 * resolveRemoteKeys(undefined, 5000, true).timeoutMs // 5000
 * resolveRemoteKeys({ cooldown: '1m' }, 5000, true).cooldownMs // 60000
 * ```
 */
export function resolveRemoteKeys(
  value: unknown,
  legacyTimeoutMs: number,
  remote: boolean,
): ResolvedRemoteKeys {
  if (value === undefined) {
    return Object.freeze({
      timeoutMs: legacyTimeoutMs,
      cooldownMs: DEFAULT_COOLDOWN_MS,
      maxAgeMs: DEFAULT_MAX_AGE_MS,
      cache: undefined,
    })
  }
  // Options for a key set that is never fetched are a mistake worth saying.
  if (!remote) throw new ConfigError('jwks: only with jwksUrl')
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new ConfigError('jwks: expected an object')
  }
  const options = value as Record<string, unknown>
  for (const key of Object.keys(options)) {
    if (!KNOWN.includes(key)) fail(key, `unknown option (known: ${KNOWN.join(', ')})`)
  }
  const timeoutMs = options.timeoutMs
  if (
    timeoutMs !== undefined &&
    (typeof timeoutMs !== 'number' || !Number.isInteger(timeoutMs) || timeoutMs < 1 || timeoutMs > 60_000)
  ) {
    fail('timeoutMs', 'expected a whole number from 1 to 60000')
  }
  return Object.freeze({
    timeoutMs: (timeoutMs as number | undefined) ?? legacyTimeoutMs,
    cooldownMs: milliseconds(options.cooldown, 'cooldown', DEFAULT_COOLDOWN_MS),
    maxAgeMs: milliseconds(options.maxAge, 'maxAge', DEFAULT_MAX_AGE_MS),
    cache: cacheHooks(options.cache),
  })
}

/**
 * Finds the key of a token in a remote set; rejects with jose's errors (`JWKSNoMatchingKey`, ...)
 * as jose throws them, for the resolver to map.
 *
 * @example
 * ```ts
 * const lookup: RemoteKeyLookup = remoteKeySet(url, resolved)
 * ```
 */
export type RemoteKeyLookup = (alg: Algorithm, kid: string | undefined) => Promise<CryptoKey>

/**
 * The remote key set of `url`: jose's `createRemoteJWKSet`, created after the persisted copy (if
 * any) is loaded, with a body cap and a bound on every step.
 *
 * @example
 * ```ts
 * const lookup = remoteKeySet(new URL('https://issuer.example/.well-known/jwks.json'), resolveRemoteKeys(undefined, 5000, true))
 * const key = await lookup('RS256', 'key-1')
 * ```
 */
export function remoteKeySet(url: URL, options: ResolvedRemoteKeys): RemoteKeyLookup {
  const { timeoutMs, cache } = options
  // jose writes each fetched set into this object; a change of `uat` is a fetch to save.
  let exported: Partial<ExportedJWKSCache> | undefined
  let savedUat: number | undefined
  let remote: Promise<ReturnType<typeof createRemoteJWKSet>> | undefined

  async function create(): Promise<ReturnType<typeof createRemoteJWKSet>> {
    if (cache !== undefined) {
      const seed = validEntry(await bounded(() => cache.load(), timeoutMs).catch(() => undefined))
      exported = seed === undefined ? {} : { uat: seed.uat, jwks: seed.jwks as ExportedJWKSCache['jwks'] }
      savedUat = seed?.uat
    }
    return createRemoteJWKSet(url, {
      timeoutDuration: timeoutMs,
      cooldownDuration: options.cooldownMs,
      cacheMaxAge: options.maxAgeMs,
      [customFetch]: cappedFetch,
      ...(exported === undefined ? {} : { [jwksCache]: exported as ExportedJWKSCache }),
    })
  }

  async function persist(): Promise<void> {
    if (cache === undefined || exported?.uat === undefined || exported.uat === savedUat) return
    // Marked first: concurrent lookups that saw the same fetch save it once.
    savedUat = exported.uat
    const entry: RemoteKeySetEntry = { uat: exported.uat, jwks: exported.jwks as RemoteKeySetEntry['jwks'] }
    await bounded(() => cache.save(entry), timeoutMs).catch(() => {})
  }

  return async (alg, kid) => {
    // Loaded once, lazily: an instance that never verifies never reads the store.
    remote ??= create()
    const keys = await remote
    try {
      // jose's timeout aborts its fetch; this one bounds the whole lookup whatever fetch does.
      return await bounded(() => keys(kid === undefined ? { alg } : { alg, kid }), timeoutMs)
    } finally {
      await persist()
    }
  }
}

/** A loaded entry jose can use, or `undefined`: anything else means "fetch instead". */
function validEntry(value: unknown): RemoteKeySetEntry | undefined {
  if (typeof value !== 'object' || value === null) return undefined
  const { uat, jwks } = value as Partial<RemoteKeySetEntry>
  // A date in the future would keep the set "fresh" past maxAge; jose checks the age and the
  // JWK set shape itself.
  if (typeof uat !== 'number' || !Number.isFinite(uat) || uat > Date.now()) return undefined
  if (typeof jwks !== 'object' || jwks === null || !Array.isArray(jwks.keys)) return undefined
  return { uat, jwks }
}

/**
 * jose's fetch with the body read up to {@link MAX_JWKS_BYTES}. jose reads `response.json()`
 * whole; a URL that streams megabytes would be read whole on every refetch.
 */
const cappedFetch: FetchImplementation = async (url, init) => {
  const response = await fetch(url, init)
  if (response.status !== 200 || response.body === null) {
    await response.body?.cancel().catch(() => {})
    return response // jose refuses anything but 200
  }
  const chunks: Uint8Array[] = []
  let size = 0
  const reader = response.body.getReader()
  for (;;) {
    const { done, value } = await reader.read()
    if (done) break
    size += value.byteLength
    if (size > MAX_JWKS_BYTES) {
      await reader.cancel().catch(() => {})
      throw new Error(`JWKS response over ${MAX_JWKS_BYTES} bytes`)
    }
    chunks.push(value)
  }
  const body = new Uint8Array(size)
  let offset = 0
  for (const chunk of chunks) {
    body.set(chunk, offset)
    offset += chunk.byteLength
  }
  return new Response(body, { status: 200, headers: { 'content-type': 'application/json' } })
}

/** `run()` (sync or async, throwing or not) as a promise that settles within `ms`. */
function bounded<T>(run: () => T | Promise<T>, ms: number): Promise<T> {
  // `run` starts first, so jose's own fetch timeout (as long as this one) is set first and fires
  // first: the fetch is aborted and forgotten before this bound gives up, and the next lookup
  // fetches again instead of waiting on a fetch that is about to fail.
  let started: Promise<T>
  try {
    started = Promise.resolve(run())
  } catch (err) {
    started = Promise.reject(err)
  }
  let timer: ReturnType<typeof setTimeout> | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`remote key set did not answer within ${ms} ms`)), ms)
  })
  return Promise.race([started, timeout]).finally(() => clearTimeout(timer))
}
