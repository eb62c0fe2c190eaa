/**
 * Validation of `new AuthX(options)`: every option is checked once, here, and resolved into a
 * frozen {@link ResolvedConfig} with every default filled in. Nothing on the per-request path
 * parses options again.
 * @module
 */
import { ALGORITHMS, type Algorithm, isHmac } from './algorithms.js'
import { type ResolvedDPoP, resolveDpop } from './dpop/index.js'
import { parseDuration } from './duration.js'
import { ConfigError } from './errors.js'
import type { KeyInput, KeySpec } from './keys.js'
import type { AuthXOptions, TokenLocation } from './options.js'
import type { TokenPayload } from './payload.js'
import { type ResolvedRemoteKeys, resolveRemoteKeys } from './remote-keys.js'
import { type AuthXStore, isStore } from './store.js'
import { type ResolvedTelemetry, resolveTelemetry } from './telemetry.js'
import { type ResolvedTokenTypes, resolveTokenTypes } from './token-types.js'

/** Options after validation, with defaults applied. */
export interface ResolvedConfig {
  readonly jwksUrl: URL | undefined
  readonly algorithms: readonly Algorithm[]
  readonly accessTtl: number | false
  readonly refreshTtl: number | false
  /**
   * The longest a token of this instance may live, in seconds, or `false` when tokens without
   * `exp` exist (a lifetime of `false`): family and subject revocations live this long (plus
   * leeway), or never expire.
   */
  readonly maxLifetime: number | false
  /** The remote key set's fetch, cool-down, cache age and persisted copy (`jwks`). */
  readonly remoteKeys: ResolvedRemoteKeys
  /** Which `typ` header each token type is written with and must carry (`tokenTypes`). */
  readonly tokenTypes: ResolvedTokenTypes
  /** DPoP (RFC 9449), or `undefined` when off (`dpop`). */
  readonly dpop: ResolvedDPoP | undefined
  /** OpenTelemetry, or `undefined` when off (`telemetry`). */
  readonly telemetry: ResolvedTelemetry
  readonly issuer: string | undefined
  readonly audience: string | readonly string[] | undefined
  readonly verifyIssuer: string | undefined
  readonly verifyAudience: readonly string[] | undefined
  readonly leeway: number
  readonly maxTokenBytes: number
  readonly clock: () => number
  readonly locations: readonly TokenLocation[]
  readonly header: { readonly name: string; readonly type: string }
  readonly query: { readonly name: string }
  readonly json: { readonly accessKey: string; readonly refreshKey: string }
  readonly cookies: {
    readonly accessName: string
    readonly refreshName: string
    readonly accessPath: string
    readonly refreshPath: string
    readonly domain: string | undefined
    readonly secure: boolean
    readonly sameSite: 'lax' | 'strict' | 'none'
    readonly httpOnly: boolean
    readonly maxAge: number | undefined
  }
  readonly csrf: {
    readonly protect: boolean
    readonly methods: readonly string[]
    readonly inCookies: boolean
    readonly accessCookieName: string
    readonly refreshCookieName: string
    readonly accessHeaderName: string
    readonly refreshHeaderName: string
    readonly checkForm: boolean
    readonly accessFieldName: string
    readonly refreshFieldName: string
    readonly accessCookiePath: string
    readonly refreshCookiePath: string
  }
  readonly implicitRefresh: {
    readonly enabled: boolean
    readonly within: number
    readonly includeRoutes: readonly string[] | undefined
    readonly excludeRoutes: readonly string[]
    readonly includeMethods: readonly string[] | undefined
    readonly excludeMethods: readonly string[]
  }
  readonly store: AuthXStore | undefined
  readonly revocation: {
    readonly isRevoked: ((payload: TokenPayload) => unknown) | undefined
    readonly timeoutMs: number
    readonly onStoreError: 'closed'
  }
  readonly refreshRotation: { readonly enabled: boolean; readonly reuseGraceSeconds: number }
  readonly cacheSize: number
  /** The instance's login type (`login_type` claim), or `undefined`. */
  readonly loginType: string | undefined
  readonly websocket: {
    readonly queryName: string
    /** Origins allowed to authenticate a WebSocket upgrade with cookies; `undefined`: none. */
    readonly allowedOrigins: readonly string[] | undefined
  }
  /** Whether access tokens get a `csrf` claim: cookies are a location and CSRF protect is on. */
  readonly csrfClaim: boolean
}

const TOP_LEVEL = [
  'algorithm',
  'secretKey',
  'privateKey',
  'publicKey',
  'kid',
  'keys',
  'jwksUrl',
  'accessTokenExpires',
  'refreshTokenExpires',
  'maxLifetime',
  'issuer',
  'audience',
  'verify',
  'clock',
  'tokenLocation',
  'header',
  'query',
  'json',
  'cookies',
  'csrf',
  'implicitRefresh',
  'store',
  'revocation',
  'refreshRotation',
  'cache',
  'loginType',
  'websocket',
  'tokenTypes',
  'jwks',
  'dpop',
  'telemetry',
] as const

/** RFC 7230 token: header names, cookie names, methods. */
const TOKEN_RE = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/
/** A cookie Path: starts with '/', no ';', no control characters or spaces. */
const PATH_RE = /^\/[\x21-\x3a\x3c-\x7e]*$/
const DOMAIN_RE =
  /^\.?[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/
const PRINTABLE_RE = /^[\x20-\x7e]+$/

type Obj = Record<string, unknown>

function fail(path: string, message: string): never {
  throw new ConfigError(`${path}: ${message}`)
}

function isPlainObject(value: unknown): value is Obj {
  if (typeof value !== 'object' || value === null) return false
  const proto = Object.getPrototypeOf(value)
  return proto === Object.prototype || proto === null
}

/** Checks that `value` is a plain object (or absent) whose keys are all known. */
function section(value: unknown, path: string, known: readonly string[]): Obj {
  if (value === undefined) return {}
  if (!isPlainObject(value)) fail(path, 'expected an object')
  // Own properties only, into a prototype-less copy: a polluted Object.prototype (say
  // `secure: false`) must never fill in an option the user did not give.
  const own: Obj = Object.create(null)
  for (const key of Object.keys(value)) {
    if (!known.includes(key))
      fail(path ? `${path}.${key}` : key, `unknown option (known: ${known.join(', ')})`)
    own[key] = value[key]
  }
  return own
}

function bool(value: unknown, path: string, fallback: boolean): boolean {
  if (value === undefined) return fallback
  if (typeof value !== 'boolean') fail(path, 'expected true or false')
  return value
}

function text(value: unknown, path: string, fallback: string, pattern: RegExp = PRINTABLE_RE): string {
  if (value === undefined) return fallback
  if (typeof value !== 'string' || !pattern.test(value)) fail(path, 'expected a valid non-empty string')
  return value
}

function optionalText(value: unknown, path: string, pattern: RegExp = PRINTABLE_RE): string | undefined {
  return value === undefined ? undefined : text(value, path, '', pattern)
}

function integer(value: unknown, path: string, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    fail(path, `expected a whole number from ${min} to ${max}`)
  }
  return value
}

function list(value: unknown, path: string, pattern: RegExp): string[] | undefined {
  if (value === undefined) return undefined
  if (!Array.isArray(value)) fail(path, 'expected an array of strings')
  for (const item of value) {
    if (typeof item !== 'string' || !pattern.test(item)) fail(path, `invalid entry ${JSON.stringify(item)}`)
  }
  return [...value]
}

/** Web origins, each exactly as a browser sends it in `Origin` (`https://host[:port]`). */
function origins(value: unknown, path: string): readonly string[] | undefined {
  const entries = list(value, path, PRINTABLE_RE)
  if (entries === undefined) return undefined
  for (const entry of entries) {
    let origin: string | undefined
    try {
      origin = new URL(entry).origin
    } catch {}
    if (origin !== entry || !/^https?:$/.test(new URL(entry).protocol)) {
      fail(
        path,
        `${JSON.stringify(entry)} is not an origin (expected 'https://host' or 'http://host:port', no path)`,
      )
    }
  }
  return Object.freeze(entries)
}

function methods(value: unknown, path: string): string[] | undefined {
  return list(value, path, TOKEN_RE)?.map((m) => m.toUpperCase())
}

function duration(value: unknown, path: string, fallback: number): number {
  if (value === undefined) return fallback
  const seconds = parseDuration(value)
  if (seconds === undefined) fail(path, "expected a Duration (positive whole seconds or '<n>s|m|h|d|w')")
  return seconds
}

function lifetime(value: unknown, path: string, fallback: number): number | false {
  if (value === false) return false
  return duration(value, path, fallback)
}

function audienceList(value: unknown, path: string): string | readonly string[] | undefined {
  if (value === undefined) return undefined
  if (typeof value === 'string' && value.length > 0) return value
  if (Array.isArray(value) && value.length > 0 && value.every((a) => typeof a === 'string' && a.length > 0)) {
    return Object.freeze([...value])
  }
  fail(path, 'expected a non-empty string or a non-empty array of non-empty strings')
}

function algorithm(value: unknown, path: string): Algorithm {
  if (typeof value !== 'string' || !ALGORITHMS.has(value)) {
    fail(path, `expected one of ${[...ALGORITHMS.keys()].join(' ')}`)
  }
  return value as Algorithm
}

function secret(value: unknown, path: string): string | Uint8Array | undefined {
  if (value === undefined || typeof value === 'string' || value instanceof Uint8Array) return value
  fail(path, 'expected a string or a Uint8Array')
}

function keyInput(value: unknown): KeyInput | undefined {
  return value as KeyInput | undefined
}

function kidText(value: unknown, path: string): string | undefined {
  if (value === undefined) return undefined
  if (typeof value !== 'string' || value.length === 0 || value.length > 256 || !PRINTABLE_RE.test(value)) {
    fail(path, 'expected a printable string of 1 to 256 characters')
  }
  return value
}

function keySpecs(options: Obj): KeySpec[] {
  if (options.keys === undefined) {
    if (options.jwksUrl !== undefined) return []
    return [
      {
        path: '',
        alg: algorithm(options.algorithm ?? 'HS256', 'algorithm'),
        kid: kidText(options.kid, 'kid'),
        secretKey: secret(options.secretKey, 'secretKey'),
        privateKey: keyInput(options.privateKey),
        publicKey: keyInput(options.publicKey),
        retireAt: undefined,
      },
    ]
  }
  for (const name of ['algorithm', 'secretKey', 'privateKey', 'publicKey', 'kid', 'jwksUrl']) {
    if (options[name] !== undefined) fail(name, 'cannot be combined with keys; set it on each key')
  }
  if (!Array.isArray(options.keys) || options.keys.length === 0) fail('keys', 'expected a non-empty array')
  const seen = new Set<string>()
  const specs = options.keys.map((raw: unknown, i: number): KeySpec => {
    const path = `keys[${i}]`
    const entry = section(raw, path, ['kid', 'algorithm', 'secretKey', 'privateKey', 'publicKey', 'retireAt'])
    if (raw === undefined) fail(path, 'expected an object')
    const kid = kidText(entry.kid, `${path}.kid`)
    if (kid === undefined) fail(`${path}.kid`, 'required in a key set')
    if (seen.has(kid)) fail(`${path}.kid`, `duplicate kid ${JSON.stringify(kid)}`)
    seen.add(kid)
    let retireAt: number | undefined
    if (entry.retireAt !== undefined) {
      if (!(entry.retireAt instanceof Date) || Number.isNaN(entry.retireAt.getTime())) {
        fail(`${path}.retireAt`, 'expected a valid Date')
      }
      retireAt = entry.retireAt.getTime()
    }
    return {
      path: `${path}.`,
      alg: algorithm(entry.algorithm, `${path}.algorithm`),
      kid,
      secretKey: secret(entry.secretKey, `${path}.secretKey`),
      privateKey: keyInput(entry.privateKey),
      publicKey: keyInput(entry.publicKey),
      retireAt,
    }
  })
  return specs
}

function allowedAlgorithms(
  value: unknown,
  specs: readonly KeySpec[],
  jwks: boolean,
  options: Obj,
): Algorithm[] {
  const keyAlgs = [...new Set(specs.map((s) => s.alg))]
  let algs: Algorithm[]
  if (value === undefined) {
    if (jwks) {
      const alg = algorithm(options.algorithm ?? 'HS256', 'algorithm')
      if (isHmac(alg)) fail('algorithm', 'jwksUrl needs an asymmetric algorithm (or verify.algorithms)')
      algs = [alg]
    } else {
      algs = keyAlgs
    }
  } else {
    if (!Array.isArray(value) || value.length === 0) fail('verify.algorithms', 'expected a non-empty array')
    algs = value.map((a: unknown) => algorithm(a, 'verify.algorithms'))
    for (const alg of algs) {
      if (!jwks && !keyAlgs.includes(alg)) fail('verify.algorithms', `${alg} is not the algorithm of any key`)
    }
  }
  // RFC 8725 section 3.1: never mix MAC and signature algorithms in one verifier.
  const hmac = algs.filter(isHmac)
  if (hmac.length > 0 && hmac.length < algs.length) {
    fail(value === undefined ? 'keys' : 'verify.algorithms', 'must not mix HMAC and asymmetric algorithms')
  }
  if (jwks && hmac.length > 0) fail('verify.algorithms', 'jwksUrl verifies asymmetric algorithms only')
  return [...new Set(algs)]
}

/**
 * Validates options and applies defaults. Throws `ConfigError` naming the first bad option.
 *
 * @example
 * ```ts
 * const { config } = resolveConfig({ secretKey: 'a'.repeat(32) })
 * config.accessTtl // 900
 * ```
 */
export function resolveConfig(input: AuthXOptions | undefined): {
  config: ResolvedConfig
  keySpecs: readonly KeySpec[]
} {
  if (input !== undefined && !isPlainObject(input)) fail('options', 'expected an object')
  const options = section(input ?? {}, '', TOP_LEVEL)

  let jwksUrl: URL | undefined
  if (options.jwksUrl !== undefined) {
    for (const name of ['secretKey', 'privateKey', 'publicKey', 'kid', 'keys']) {
      // The key set's own kids select its keys: a kid here would be ignored, so it is refused.
      if (options[name] !== undefined) fail(name, 'cannot be combined with jwksUrl (verify-only)')
    }
    try {
      jwksUrl = new URL(String(options.jwksUrl))
    } catch {
      fail('jwksUrl', 'expected an absolute URL')
    }
    if (jwksUrl.protocol !== 'https:' && jwksUrl.protocol !== 'http:')
      fail('jwksUrl', 'expected an http(s) URL')
  }
  const specs = keySpecs(options)

  const verify = section(options.verify, 'verify', [
    'issuer',
    'audience',
    'leeway',
    'algorithms',
    'maxTokenBytes',
    'jwksTimeoutMs',
  ])
  const algorithms = allowedAlgorithms(verify.algorithms, specs, jwksUrl !== undefined, options)
  if (
    verify.leeway !== undefined &&
    (typeof verify.leeway !== 'number' ||
      !Number.isFinite(verify.leeway) ||
      verify.leeway < 0 ||
      verify.leeway > 300)
  ) {
    fail('verify.leeway', 'expected a number of seconds from 0 to 300')
  }
  const issuer = optionalText(options.issuer, 'issuer')
  const audience = audienceList(options.audience, 'audience')
  const verifyAudience = audienceList(verify.audience, 'verify.audience') ?? audience

  const clock = checkedClock(options.clock)

  const locations = list(options.tokenLocation, 'tokenLocation', /^(headers|cookies|json|query)$/) ?? [
    'headers',
  ]
  if (locations.length === 0) fail('tokenLocation', 'expected at least one location')
  if (new Set(locations).size !== locations.length) fail('tokenLocation', 'lists a location twice')

  const header = section(options.header, 'header', ['name', 'type'])
  if (
    header.type !== undefined &&
    (typeof header.type !== 'string' || !/^[!#$%&'*+\-.^_`|~0-9A-Za-z]*$/.test(header.type))
  ) {
    fail('header.type', "expected an auth scheme such as 'Bearer', or '' for the raw value")
  }
  const query = section(options.query, 'query', ['name'])
  const json = section(options.json, 'json', ['accessKey', 'refreshKey'])

  const cookies = section(options.cookies, 'cookies', [
    'accessName',
    'refreshName',
    'accessPath',
    'refreshPath',
    'domain',
    'secure',
    'sameSite',
    'httpOnly',
    'maxAge',
  ])
  const sameSite = cookies.sameSite ?? 'lax'
  // Validated against a fixed list: a free string would let a value inject cookie attributes.
  if (sameSite !== 'lax' && sameSite !== 'strict' && sameSite !== 'none') {
    fail('cookies.sameSite', "expected 'lax', 'strict' or 'none'")
  }
  const secure = bool(cookies.secure, 'cookies.secure', true)
  if (sameSite === 'none' && !secure) fail('cookies.sameSite', "'none' requires cookies.secure: true")

  const csrf = section(options.csrf, 'csrf', [
    'protect',
    'methods',
    'inCookies',
    'accessCookieName',
    'refreshCookieName',
    'accessHeaderName',
    'refreshHeaderName',
    'checkForm',
    'accessFieldName',
    'refreshFieldName',
    'accessCookiePath',
    'refreshCookiePath',
  ])
  const implicit = section(options.implicitRefresh, 'implicitRefresh', [
    'enabled',
    'within',
    'includeRoutes',
    'excludeRoutes',
    'includeMethods',
    'excludeMethods',
  ])

  if (options.store !== undefined && !isStore(options.store)) {
    fail('store', 'expected an AuthXStore (get, set, setIfAbsent, delete)')
  }
  const revocation = section(options.revocation, 'revocation', ['isRevoked', 'timeoutMs', 'onStoreError'])
  if (revocation.isRevoked !== undefined && typeof revocation.isRevoked !== 'function') {
    fail('revocation.isRevoked', 'expected a function')
  }
  if (revocation.onStoreError !== undefined && revocation.onStoreError !== 'closed') {
    fail('revocation.onStoreError', "only 'closed' is supported: an unreachable store rejects the request")
  }
  const rotation = section(options.refreshRotation, 'refreshRotation', ['enabled', 'reuseGraceSeconds'])
  const cache = section(options.cache, 'cache', ['verifiedTokens'])
  const websocket = section(options.websocket, 'websocket', ['queryName', 'allowedOrigins'])

  const protect = bool(csrf.protect, 'csrf.protect', true)
  const accessTtl = lifetime(options.accessTokenExpires, 'accessTokenExpires', 900)
  const refreshTtl = lifetime(options.refreshTokenExpires, 'refreshTokenExpires', 1_728_000)
  const config: ResolvedConfig = {
    jwksUrl,
    algorithms: Object.freeze(algorithms),
    accessTtl,
    refreshTtl,
    maxLifetime: maxLifetime(options.maxLifetime, accessTtl, refreshTtl),
    remoteKeys: resolveRemoteKeys(
      options.jwks,
      integer(verify.jwksTimeoutMs, 'verify.jwksTimeoutMs', 5000, 1, 60_000),
      jwksUrl !== undefined,
    ),
    tokenTypes: resolveTokenTypes(options.tokenTypes),
    dpop: resolveDpop(options.dpop),
    telemetry: resolveTelemetry(options.telemetry),
    issuer,
    audience,
    verifyIssuer: optionalText(verify.issuer, 'verify.issuer') ?? issuer,
    verifyAudience: verifyAudience === undefined ? undefined : Object.freeze([verifyAudience].flat()),
    leeway: (verify.leeway as number | undefined) ?? 0,
    maxTokenBytes: integer(verify.maxTokenBytes, 'verify.maxTokenBytes', 8192, 256, 1_048_576),
    clock,
    locations: Object.freeze(locations as TokenLocation[]),
    header: {
      name: text(header.name, 'header.name', 'Authorization', TOKEN_RE),
      type: (header.type as string) ?? 'Bearer',
    },
    query: { name: text(query.name, 'query.name', 'token') },
    json: {
      accessKey: text(json.accessKey, 'json.accessKey', 'access_token'),
      refreshKey: text(json.refreshKey, 'json.refreshKey', 'refresh_token'),
    },
    cookies: {
      accessName: text(cookies.accessName, 'cookies.accessName', 'access_token_cookie', TOKEN_RE),
      refreshName: text(cookies.refreshName, 'cookies.refreshName', 'refresh_token_cookie', TOKEN_RE),
      accessPath: text(cookies.accessPath, 'cookies.accessPath', '/', PATH_RE),
      refreshPath: text(cookies.refreshPath, 'cookies.refreshPath', '/', PATH_RE),
      domain: optionalText(cookies.domain, 'cookies.domain', DOMAIN_RE),
      secure,
      sameSite,
      httpOnly: bool(cookies.httpOnly, 'cookies.httpOnly', true),
      maxAge: cookies.maxAge === undefined ? undefined : duration(cookies.maxAge, 'cookies.maxAge', 0),
    },
    csrf: {
      protect,
      methods: Object.freeze(methods(csrf.methods, 'csrf.methods') ?? ['POST', 'PUT', 'PATCH', 'DELETE']),
      inCookies: bool(csrf.inCookies, 'csrf.inCookies', true),
      accessCookieName: text(csrf.accessCookieName, 'csrf.accessCookieName', 'csrf_access_token', TOKEN_RE),
      refreshCookieName: text(
        csrf.refreshCookieName,
        'csrf.refreshCookieName',
        'csrf_refresh_token',
        TOKEN_RE,
      ),
      accessHeaderName: text(csrf.accessHeaderName, 'csrf.accessHeaderName', 'X-CSRF-TOKEN', TOKEN_RE),
      refreshHeaderName: text(csrf.refreshHeaderName, 'csrf.refreshHeaderName', 'X-CSRF-TOKEN', TOKEN_RE),
      checkForm: bool(csrf.checkForm, 'csrf.checkForm', false),
      accessFieldName: text(csrf.accessFieldName, 'csrf.accessFieldName', 'csrf_token'),
      refreshFieldName: text(csrf.refreshFieldName, 'csrf.refreshFieldName', 'csrf_token'),
      accessCookiePath: text(csrf.accessCookiePath, 'csrf.accessCookiePath', '/', PATH_RE),
      refreshCookiePath: text(csrf.refreshCookiePath, 'csrf.refreshCookiePath', '/', PATH_RE),
    },
    implicitRefresh: {
      enabled: bool(implicit.enabled, 'implicitRefresh.enabled', false),
      within: duration(implicit.within, 'implicitRefresh.within', 600),
      includeRoutes: list(implicit.includeRoutes, 'implicitRefresh.includeRoutes', PATH_RE),
      excludeRoutes: list(implicit.excludeRoutes, 'implicitRefresh.excludeRoutes', PATH_RE) ?? [],
      includeMethods: methods(implicit.includeMethods, 'implicitRefresh.includeMethods'),
      excludeMethods: methods(implicit.excludeMethods, 'implicitRefresh.excludeMethods') ?? [],
    },
    store: options.store as AuthXStore | undefined,
    revocation: {
      isRevoked: revocation.isRevoked as ResolvedConfig['revocation']['isRevoked'],
      timeoutMs: integer(revocation.timeoutMs, 'revocation.timeoutMs', 500, 1, 60_000),
      onStoreError: 'closed',
    },
    refreshRotation: {
      enabled: bool(rotation.enabled, 'refreshRotation.enabled', true),
      reuseGraceSeconds: integer(rotation.reuseGraceSeconds, 'refreshRotation.reuseGraceSeconds', 0, 0, 60),
    },
    cacheSize: integer(cache.verifiedTokens, 'cache.verifiedTokens', 10_000, 0, 10_000_000),
    csrfClaim: locations.includes('cookies') && protect,
    loginType: optionalText(options.loginType, 'loginType'),
    websocket: {
      queryName: text(websocket.queryName, 'websocket.queryName', 'token', /^[A-Za-z0-9_.~-]+$/),
      allowedOrigins: origins(websocket.allowedOrigins, 'websocket.allowedOrigins'),
    },
  }
  checkCookiePrefixes(config)
  // Key material stays out of the config object, so logging `auth.config` reveals no secret.
  return { config: Object.freeze(config), keySpecs: Object.freeze(specs) }
}

/**
 * Browsers silently drop a `__Host-` cookie that is not Secure, has a Domain or a Path other than
 * '/', and a `__Secure-` cookie that is not Secure (RFC 6265bis): refuse such settings up front.
 */
function checkCookiePrefixes(config: ResolvedConfig): void {
  const { cookies, csrf } = config
  const named: [string, string, string][] = [
    ['cookies.accessName', cookies.accessName, cookies.accessPath],
    ['csrf.accessCookieName', csrf.accessCookieName, csrf.accessCookiePath],
    ['cookies.refreshName', cookies.refreshName, cookies.refreshPath],
    ['csrf.refreshCookieName', csrf.refreshCookieName, csrf.refreshCookiePath],
  ]
  for (const [option, name, path] of named) {
    if (name.startsWith('__Host-') && (!cookies.secure || cookies.domain !== undefined || path !== '/')) {
      fail(option, "a __Host- cookie needs cookies.secure, no cookies.domain and path '/'")
    }
    if (name.startsWith('__Secure-') && !cookies.secure)
      fail(option, 'a __Secure- cookie needs cookies.secure')
  }
}

/**
 * The instance's clock, checked once at construction and at every reading: a clock that answers
 * `undefined` or `NaN` would make every expiry check pass and mint `exp: null`, so a non-finite
 * time is an error (fail closed), never a time.
 */
function checkedClock(value: unknown): () => number {
  if (value === undefined || value === Date.now) return Date.now
  if (typeof value !== 'function') fail('clock', 'expected a function')
  const clock = value as () => unknown
  const read = (): number => {
    const now = clock()
    if (typeof now !== 'number' || !Number.isFinite(now)) {
      throw new ConfigError('clock: returned a non-finite time (expected milliseconds since the epoch)')
    }
    return now
  }
  try {
    read()
  } catch (err) {
    if (err instanceof ConfigError) throw err
    fail('clock', 'threw when called')
  }
  return read
}

/** `maxLifetime`: at least both lifetimes; `false` when either lifetime is `false`. */
function maxLifetime(value: unknown, access: number | false, refresh: number | false): number | false {
  if (access === false || refresh === false) {
    if (value !== undefined)
      fail('maxLifetime', 'has no meaning when a lifetime is false (tokens without exp)')
    return false
  }
  const longest = Math.max(access, refresh)
  const max = duration(value, 'maxLifetime', longest)
  if (max < longest) fail('maxLifetime', `must be at least the longest lifetime (${longest} seconds)`)
  return max
}
