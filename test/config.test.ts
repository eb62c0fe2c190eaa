import { generateKeyPairSync } from 'node:crypto'
import { inspect } from 'node:util'
import { afterEach, describe, expect, it } from 'vitest'
import {
  AuthX,
  type AuthXOptions,
  type AuthXStore,
  ConfigError,
  InvalidTokenError,
  MemoryStore,
} from '../src/index.js'
import { defaultCacheSize } from './support/variant-setup.js'

const SECRET = 's'.repeat(32)

/** Runs `fn`, expects a ConfigError and returns it. */
function configError(fn: () => unknown): ConfigError {
  try {
    fn()
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError)
    const e = err as ConfigError
    expect(e.code).toBe('ERR_CONFIG')
    expect(e.status).toBe(500)
    return e
  }
  throw new Error('expected a ConfigError, but nothing was thrown')
}

/** Options with a valid secret plus `value` at the dotted `path` (e.g. `cookies.maxAge`). */
function withOption(path: string, value: unknown): AuthXOptions {
  const options: Record<string, unknown> = { secretKey: SECRET }
  const parts = path.split('.')
  let target = options
  for (const part of parts.slice(0, -1)) {
    target[part] ??= {}
    target = target[part] as Record<string, unknown>
  }
  target[parts.at(-1) as string] = value
  return options as AuthXOptions
}

/** Expects `new AuthX(options)` to throw a ConfigError whose message starts with `path`. */
function expectRejected(options: unknown, path: string | RegExp): void {
  const err = configError(() => new AuthX(options as AuthXOptions))
  if (typeof path === 'string') expect(err.message.startsWith(`${path}:`)).toBe(true)
  else expect(err.message).toMatch(path)
}

function rsaPair(): { privateKey: string; publicKey: string } {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 })
  return {
    privateKey: privateKey.export({ format: 'pem', type: 'pkcs8' }) as string,
    publicKey: publicKey.export({ format: 'pem', type: 'spki' }) as string,
  }
}

describe('resolved defaults', () => {
  it('fills in every default of SPEC section 2 on auth.config', () => {
    const auth = new AuthX({ secretKey: SECRET })
    // The options of issue 14 are checked in their own files (token-types, remote keys, DPoP, telemetry).
    const { clock, store, remoteKeys, tokenTypes, dpop, telemetry, ...rest } = auth.config
    expect(clock).toBe(Date.now)
    expect(store).toBeUndefined()
    expect(remoteKeys.timeoutMs).toBe(5000)
    expect(tokenTypes.mode).toBe('jwt')
    expect(dpop).toBeUndefined()
    expect(telemetry).toBeUndefined()
    expect(rest).toStrictEqual({
      jwksUrl: undefined,
      algorithms: ['HS256'],
      accessTtl: 900,
      refreshTtl: 1_728_000,
      maxLifetime: 1_728_000,
      issuer: undefined,
      audience: undefined,
      verifyIssuer: undefined,
      verifyAudience: undefined,
      leeway: 0,
      maxTokenBytes: 8192,
      locations: ['headers'],
      header: { name: 'Authorization', type: 'Bearer' },
      query: { name: 'token' },
      json: { accessKey: 'access_token', refreshKey: 'refresh_token' },
      cookies: {
        accessName: 'access_token_cookie',
        refreshName: 'refresh_token_cookie',
        accessPath: '/',
        refreshPath: '/',
        domain: undefined,
        secure: true,
        sameSite: 'lax',
        httpOnly: true,
        maxAge: undefined,
      },
      csrf: {
        protect: true,
        methods: ['POST', 'PUT', 'PATCH', 'DELETE'],
        inCookies: true,
        accessCookieName: 'csrf_access_token',
        refreshCookieName: 'csrf_refresh_token',
        accessHeaderName: 'X-CSRF-TOKEN',
        refreshHeaderName: 'X-CSRF-TOKEN',
        checkForm: false,
        accessFieldName: 'csrf_token',
        refreshFieldName: 'csrf_token',
        accessCookiePath: '/',
        refreshCookiePath: '/',
      },
      implicitRefresh: {
        enabled: false,
        within: 600,
        includeRoutes: undefined,
        excludeRoutes: [],
        includeMethods: undefined,
        excludeMethods: [],
      },
      revocation: { isRevoked: undefined, timeoutMs: 500, onStoreError: 'closed' },
      refreshRotation: { enabled: true, reuseGraceSeconds: 0 },
      // 10_000, or 0 when the suite runs with AUTHX_TEST_CACHE=off (test/support/variant-setup.ts;
      // test/engines-differential.test.ts checks the unmocked default there).
      cacheSize: defaultCacheSize(),
      csrfClaim: false,
      loginType: undefined,
      websocket: { queryName: 'token', allowedOrigins: undefined },
    })
  })

  it('uses a MemoryStore when no store is given', () => {
    expect(new AuthX({ secretKey: SECRET }).store).toBeInstanceOf(MemoryStore)
  })

  it('gives default tokens a 15 minute access lifetime and a 20 day refresh lifetime', async () => {
    const now = 1_700_000_000_000
    const auth = new AuthX({ secretKey: SECRET, clock: () => now })
    const access = auth.decodeUnverified(await auth.createAccessToken({ uid: 'u' })).payload
    const refresh = auth.decodeUnverified(await auth.createRefreshToken({ uid: 'u' })).payload
    expect(access.exp).toBe(now / 1000 + 900)
    expect(refresh.exp).toBe(now / 1000 + 1_728_000)
  })

  it('freezes the resolved configuration', () => {
    const auth = new AuthX({ secretKey: SECRET })
    expect(Object.isFrozen(auth.config)).toBe(true)
    expect(Object.isFrozen(auth.config.locations)).toBe(true)
    expect(Object.isFrozen(auth.config.csrf.methods)).toBe(true)
  })
})

describe('accepted options', () => {
  it('accepts every option of section 2 with a valid value and resolves each one', async () => {
    const store = new MemoryStore()
    const clock = () => 1_700_000_000_000
    const isRevoked = () => false
    const auth = new AuthX({
      algorithm: 'HS512',
      secretKey: 'k'.repeat(64),
      kid: 'key-1',
      accessTokenExpires: '30m',
      refreshTokenExpires: 86_400,
      issuer: 'https://issuer.example',
      audience: ['api', 'web'],
      verify: {
        issuer: 'https://issuer.example',
        audience: 'api',
        leeway: 30,
        algorithms: ['HS512'],
        maxTokenBytes: 4096,
        jwksTimeoutMs: 2000,
      },
      maxLifetime: '2d',
      clock,
      tokenLocation: ['cookies', 'headers', 'json', 'query'],
      header: { name: 'X-Auth', type: 'Token' },
      query: { name: 'jwt' },
      json: { accessKey: 'at', refreshKey: 'rt' },
      cookies: {
        accessName: 'at_cookie',
        refreshName: 'rt_cookie',
        accessPath: '/api',
        refreshPath: '/auth/refresh',
        domain: 'example.com',
        secure: true,
        sameSite: 'strict',
        httpOnly: false,
        maxAge: '1h',
      },
      csrf: {
        protect: true,
        methods: ['POST', 'DELETE'],
        inCookies: false,
        accessCookieName: 'xa',
        refreshCookieName: 'xr',
        accessHeaderName: 'X-A',
        refreshHeaderName: 'X-R',
        checkForm: true,
        accessFieldName: 'fa',
        refreshFieldName: 'fr',
        accessCookiePath: '/app',
        refreshCookiePath: '/auth',
      },
      implicitRefresh: {
        enabled: true,
        within: '5m',
        includeRoutes: ['/app'],
        excludeRoutes: ['/app/logout'],
        includeMethods: ['GET'],
        excludeMethods: ['POST'],
      },
      store,
      revocation: { isRevoked, timeoutMs: 250, onStoreError: 'closed' },
      refreshRotation: { enabled: false, reuseGraceSeconds: 10 },
      cache: { verifiedTokens: 0 },
    })
    const c = auth.config
    expect(c.algorithms).toEqual(['HS512'])
    expect(auth.decodeUnverified(await auth.createAccessToken({ uid: 'u' })).header.kid).toBe('key-1')
    expect(c.accessTtl).toBe(1800)
    expect(c.refreshTtl).toBe(86_400)
    expect(c.issuer).toBe('https://issuer.example')
    expect(c.audience).toEqual(['api', 'web'])
    expect(c.verifyIssuer).toBe('https://issuer.example')
    expect(c.verifyAudience).toEqual(['api'])
    expect(c.leeway).toBe(30)
    expect(c.maxTokenBytes).toBe(4096)
    expect(c.remoteKeys.timeoutMs).toBe(2000)
    expect(c.maxLifetime).toBe(2 * 86_400)
    expect(c.clock()).toBe(clock())
    expect(c.locations).toEqual(['cookies', 'headers', 'json', 'query'])
    expect(c.header).toEqual({ name: 'X-Auth', type: 'Token' })
    expect(c.query).toEqual({ name: 'jwt' })
    expect(c.json).toEqual({ accessKey: 'at', refreshKey: 'rt' })
    expect(c.cookies).toEqual({
      accessName: 'at_cookie',
      refreshName: 'rt_cookie',
      accessPath: '/api',
      refreshPath: '/auth/refresh',
      domain: 'example.com',
      secure: true,
      sameSite: 'strict',
      httpOnly: false,
      maxAge: 3600,
    })
    expect(c.csrf).toEqual({
      protect: true,
      methods: ['POST', 'DELETE'],
      inCookies: false,
      accessCookieName: 'xa',
      refreshCookieName: 'xr',
      accessHeaderName: 'X-A',
      refreshHeaderName: 'X-R',
      checkForm: true,
      accessFieldName: 'fa',
      refreshFieldName: 'fr',
      accessCookiePath: '/app',
      refreshCookiePath: '/auth',
    })
    expect(c.implicitRefresh).toEqual({
      enabled: true,
      within: 300,
      includeRoutes: ['/app'],
      excludeRoutes: ['/app/logout'],
      includeMethods: ['GET'],
      excludeMethods: ['POST'],
    })
    expect(auth.store).toBe(store)
    expect(c.store).toBe(store)
    expect(c.revocation).toEqual({ isRevoked, timeoutMs: 250, onStoreError: 'closed' })
    expect(c.refreshRotation).toEqual({ enabled: false, reuseGraceSeconds: 10 })
    expect(c.cacheSize).toBe(0)
    expect(c.csrfClaim).toBe(true)
  })

  it('accepts an asymmetric key pair (privateKey and publicKey)', async () => {
    const auth = new AuthX({ algorithm: 'RS256', ...rsaPair() })
    expect(auth.config.algorithms).toEqual(['RS256'])
    const token = await auth.createAccessToken({ uid: 'u' })
    expect((await auth.verifyToken(token)).sub).toBe('u')
  })

  it('accepts a verify-only instance with just a publicKey', () => {
    const auth = new AuthX({ algorithm: 'RS256', publicKey: rsaPair().publicKey })
    expect(auth.config.algorithms).toEqual(['RS256'])
  })

  it('accepts a key set (keys) with kid, algorithm, secretKey and retireAt', async () => {
    const auth = new AuthX({
      keys: [
        { kid: 'new', algorithm: 'HS256', secretKey: 'n'.repeat(32) },
        {
          kid: 'old',
          algorithm: 'HS256',
          secretKey: 'o'.repeat(32),
          retireAt: new Date(Date.now() + 60_000),
        },
      ],
    })
    const token = await auth.createAccessToken({ uid: 'u' })
    expect(auth.decodeUnverified(token).header.kid).toBe('new')
    expect((await auth.verifyToken(token)).sub).toBe('u')
  })

  it('accepts jwksUrl for a verify-only instance', () => {
    const auth = new AuthX({ jwksUrl: 'https://issuer.example/.well-known/jwks.json', algorithm: 'RS256' })
    expect(auth.config.jwksUrl?.href).toBe('https://issuer.example/.well-known/jwks.json')
    expect(auth.config.algorithms).toEqual(['RS256'])
  })

  it('accepts a Uint8Array secretKey', () => {
    expect(() => new AuthX({ secretKey: new Uint8Array(32).fill(7) })).not.toThrow()
  })

  it('accepts accessTokenExpires: false and then writes access tokens without exp', async () => {
    const auth = new AuthX({ secretKey: SECRET, accessTokenExpires: false })
    expect(auth.config.accessTtl).toBe(false)
    const token = await auth.createAccessToken({ uid: 'u' })
    expect(auth.decodeUnverified(token).payload).not.toHaveProperty('exp')
    expect((await auth.verifyToken(token)).exp).toBeUndefined()
  })

  it('accepts refreshTokenExpires: false', () => {
    expect(new AuthX({ secretKey: SECRET, refreshTokenExpires: false }).config.refreshTtl).toBe(false)
  })

  it.each([
    [60, 60],
    ['1s', 1],
    ['15m', 900],
    ['2h', 7200],
    ['20d', 1_728_000],
    ['2w', 1_209_600],
  ])('resolves the Duration %j to %i seconds', (value, seconds) => {
    expect(new AuthX(withOption('accessTokenExpires', value)).config.accessTtl).toBe(seconds)
  })

  it('treats an option given as undefined as not given (its default applies)', () => {
    const auth = new AuthX({
      secretKey: SECRET,
      issuer: undefined,
      audience: undefined,
      verify: { leeway: undefined, maxTokenBytes: undefined },
      cookies: { secure: undefined, sameSite: undefined },
      csrf: undefined,
    })
    expect(auth.config.issuer).toBeUndefined()
    expect(auth.config.leeway).toBe(0)
    expect(auth.config.maxTokenBytes).toBe(8192)
    expect(auth.config.cookies.secure).toBe(true)
    expect(auth.config.cookies.sameSite).toBe('lax')
    expect(auth.config.csrf.protect).toBe(true)
  })

  it('normalises csrf.methods to upper case', () => {
    const auth = new AuthX({ secretKey: SECRET, csrf: { methods: ['post', 'Put'] } })
    expect(auth.config.csrf.methods).toEqual(['POST', 'PUT'])
  })

  it("accepts sameSite 'none' when secure is true (its default)", () => {
    expect(new AuthX(withOption('cookies.sameSite', 'none')).config.cookies.sameSite).toBe('none')
  })

  it("accepts header.type '' (the raw header value is the token)", () => {
    expect(new AuthX(withOption('header.type', '')).config.header.type).toBe('')
  })

  it('accepts the boundary values leeway 0 and 300, reuseGraceSeconds 60, cache 0', () => {
    expect(new AuthX(withOption('verify.leeway', 0)).config.leeway).toBe(0)
    expect(new AuthX(withOption('verify.leeway', 300)).config.leeway).toBe(300)
    expect(
      new AuthX(withOption('refreshRotation.reuseGraceSeconds', 60)).config.refreshRotation.reuseGraceSeconds,
    ).toBe(60)
    expect(new AuthX(withOption('cache.verifiedTokens', 0)).config.cacheSize).toBe(0)
  })

  it('accepts any object with get, set, setIfAbsent and delete as a store', () => {
    const store: AuthXStore = {
      get: async (keys) => keys.map(() => null),
      set: async () => {},
      setIfAbsent: async () => true,
      delete: async () => {},
    }
    expect(new AuthX({ secretKey: SECRET, store }).store).toBe(store)
  })

  it('sets csrfClaim only when cookies are a location and CSRF protection is on', () => {
    expect(new AuthX({ secretKey: SECRET, tokenLocation: ['cookies'] }).config.csrfClaim).toBe(true)
    expect(
      new AuthX({ secretKey: SECRET, tokenLocation: ['cookies'], csrf: { protect: false } }).config.csrfClaim,
    ).toBe(false)
    expect(new AuthX({ secretKey: SECRET, tokenLocation: ['headers'] }).config.csrfClaim).toBe(false)
  })
})

describe('unknown option names', () => {
  it('rejects an unknown top-level option, naming it', () => {
    expectRejected({ secretKey: SECRET, secretKy: 'x' }, /^(options\.)?secretKy:/)
    expectRejected({ secretKey: SECRET, tokenLocations: ['headers'] }, /^(options\.)?tokenLocations:/)
  })

  it.each([
    ['verify', 'leway'],
    ['header', 'nmae'],
    ['query', 'key'],
    ['json', 'access_key'],
    ['cookies', 'sameSit'],
    ['csrf', 'protec'],
    ['implicitRefresh', 'enable'],
    ['revocation', 'onError'],
    ['refreshRotation', 'reuseGrace'],
    ['cache', 'size'],
  ])('rejects the unknown option %s.%s, naming its path', (section, name) => {
    expectRejected({ secretKey: SECRET, [section]: { [name]: 1 } }, `${section}.${name}`)
  })

  it('rejects an unknown option inside a keys entry, naming keys[0].<name>', () => {
    expectRejected(
      { keys: [{ kid: 'a', algorithm: 'HS256', secretKey: SECRET, retire: new Date() }] },
      'keys[0].retire',
    )
  })
})

describe('invalid values', () => {
  it.each(['Lax; Domain=evil', 'LAX', '', 'lax ', 'None', 'off'])('rejects cookies.sameSite %j', (value) => {
    expectRejected(withOption('cookies.sameSite', value), 'cookies.sameSite')
  })

  it("rejects sameSite 'none' with secure false", () => {
    expectRejected(
      { secretKey: SECRET, cookies: { sameSite: 'none', secure: false } },
      /^cookies\.(sameSite|secure):/,
    )
  })

  it.each([-1, 301, Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, '5', null])(
    'rejects verify.leeway %s',
    (value) => {
      expectRejected(withOption('verify.leeway', value), 'verify.leeway')
    },
  )

  describe.each(['accessTokenExpires', 'refreshTokenExpires', 'cookies.maxAge', 'implicitRefresh.within'])(
    'Duration option %s',
    (path) => {
      it.each(['1.5h', '10', 0, -5, 'abc', 1e30, 1.5, '15 m', '-5m', '0s', '15M', true, null, {}])(
        'rejects %j',
        (value) => {
          expectRejected(withOption(path, value), path)
        },
      )
    },
  )

  it.each(['cookies.maxAge', 'implicitRefresh.within'])(
    'rejects false for %s (only lifetimes may be false)',
    (path) => {
      expectRejected(withOption(path, false), path)
    },
  )

  it.each([
    ['an unknown location', ['headers', 'body']],
    ['a duplicate location', ['headers', 'headers']],
    ['an empty list', []],
    ['a bare string', 'headers'],
    ['a wrongly cased location', ['Headers']],
  ])('rejects tokenLocation with %s', (_what, value) => {
    expectRejected(withOption('tokenLocation', value), 'tokenLocation')
  })

  it.each([
    ['cookies.accessName', 'a;b'],
    ['cookies.accessName', 'a b'],
    ['cookies.accessName', ''],
    ['cookies.refreshName', 'r=1'],
    ['cookies.refreshName', 'r;Domain=evil'],
    ['csrf.accessCookieName', 'c c'],
    ['csrf.refreshCookieName', 'c;d'],
    ['cookies.accessPath', '/a;b'],
    ['cookies.accessPath', '/a b'],
    ['cookies.accessPath', 'relative'],
    ['cookies.accessPath', ''],
    ['cookies.refreshPath', '/r; Domain=evil'],
    ['cookies.domain', 'evil.com; Secure'],
    ['cookies.domain', 'a b.com'],
    ['cookies.domain', ''],
    ['header.name', 'Author ization'],
    ['header.name', 'X:Auth'],
    ['header.name', ''],
    ['header.name', 'X-Auth\r\nSet-Cookie'],
    ['header.type', 'Bearer x'],
    ['csrf.accessHeaderName', 'X CSRF'],
    ['csrf.refreshHeaderName', 'X:CSRF'],
    ['query.name', ''],
    ['json.accessKey', ''],
    ['json.refreshKey', 7],
    ['csrf.accessFieldName', ''],
  ])('rejects %s %j', (path, value) => {
    expectRejected(withOption(path, value), path)
  })

  it.each([
    ['cookies.secure', 'false'],
    ['cookies.httpOnly', 1],
    ['csrf.protect', 'yes'],
    ['csrf.inCookies', 0],
    ['csrf.checkForm', 'true'],
    ['csrf.methods', 'POST'],
    ['csrf.methods', ['PO ST']],
    ['implicitRefresh.enabled', 'true'],
    ['implicitRefresh.includeRoutes', ['no-slash']],
    ['implicitRefresh.excludeRoutes', '/a'],
    ['implicitRefresh.includeMethods', ['G ET']],
    ['refreshRotation.enabled', 0],
  ])('rejects %s %j (wrong type or shape)', (path, value) => {
    expectRejected(withOption(path, value), path)
  })

  it.each(['open', 'OPEN', 'closed ', ''])('rejects revocation.onStoreError %j', (value) => {
    expectRejected(withOption('revocation.onStoreError', value), 'revocation.onStoreError')
  })

  it.each([0, -1, 1.5, '500', 60_001])('rejects revocation.timeoutMs %j', (value) => {
    expectRejected(withOption('revocation.timeoutMs', value), 'revocation.timeoutMs')
  })

  it.each([true, 'yes', {}])('rejects revocation.isRevoked that is not a function (%j)', (value) => {
    expectRejected(withOption('revocation.isRevoked', value), 'revocation.isRevoked')
  })

  it.each([
    ['an empty object', {}],
    ['an object without setIfAbsent', { get: async () => [], set: async () => {}, delete: async () => {} }],
    [
      'an object whose get is not a function',
      { get: 1, set: async () => {}, setIfAbsent: async () => true, delete: async () => {} },
    ],
    ['a string', 'redis://localhost'],
    ['null', null],
  ])('rejects store: %s', (_what, value) => {
    expectRejected(withOption('store', value), 'store')
  })

  it.each([123, 'Date.now', new Date()])('rejects clock %j (not a function)', (value) => {
    expectRejected(withOption('clock', value), 'clock')
  })

  it.each([
    ['undefined', () => undefined],
    ['NaN', () => Number.NaN],
    ['Infinity', () => Number.POSITIVE_INFINITY],
    ['a string', () => '1700000000000'],
    [
      'a throwing function',
      () => {
        throw new Error('no time')
      },
    ],
  ])('rejects a clock returning %s, at construction', (_what, clock) => {
    expectRejected(withOption('clock', clock), 'clock')
  })

  it('fails closed when a clock turns non-finite later: no token minted, none accepted', async () => {
    let now: number | undefined = Date.now()
    const auth = new AuthX({ secretKey: 'k'.repeat(32), clock: () => now as number })
    const token = await auth.createAccessToken({ uid: 'u1' })
    now = undefined
    await expect(auth.createAccessToken({ uid: 'u1' })).rejects.toBeInstanceOf(ConfigError)
    await expect(auth.verifyToken(token)).rejects.toBeInstanceOf(ConfigError)
  })

  it('rejects maxLifetime shorter than a lifetime, or given with a lifetime of false', () => {
    expectRejected(withOption('maxLifetime', '1d'), 'maxLifetime')
    expectRejected(
      { secretKey: 'k'.repeat(32), refreshTokenExpires: false, maxLifetime: '30d' },
      'maxLifetime',
    )
  })

  it("rejects kid together with jwksUrl (the key set's own kids select keys)", () => {
    expectRejected({ jwksUrl: 'https://issuer.example/jwks.json', algorithm: 'RS256', kid: 'k1' }, 'kid')
  })

  it.each([-1, 1.5, '100'])('rejects cache.verifiedTokens %j', (value) => {
    expectRejected(withOption('cache.verifiedTokens', value), 'cache.verifiedTokens')
  })

  it.each([61, -1, 1.5])('rejects refreshRotation.reuseGraceSeconds %j', (value) => {
    expectRejected(
      withOption('refreshRotation.reuseGraceSeconds', value),
      'refreshRotation.reuseGraceSeconds',
    )
  })

  it.each([
    ['algorithm', 'none'],
    ['algorithm', 'hs256'],
    ['algorithm', 'HS1024'],
    ['verify.algorithms', ['none']],
    ['verify.algorithms', []],
    ['verify.algorithms', ['HS512']],
    ['issuer', ''],
    ['audience', ''],
    ['audience', []],
    ['audience', ['api', '']],
    ['verify.audience', 42],
    ['verify.issuer', ''],
    ['verify.maxTokenBytes', 1.5],
    ['verify.maxTokenBytes', -1],
  ])('rejects %s %j', (path, value) => {
    expectRejected(withOption(path, value), path)
  })

  it.each([
    ['a string', 'secret'],
    ['a number', 42],
    ['an array', [SECRET]],
    ['null', null],
    ['a Map', new Map([['secretKey', SECRET]])],
  ])('rejects options that are not a plain object (%s)', (_what, value) => {
    configError(() => new AuthX(value as AuthXOptions))
  })

  it('rejects a section that is not an object, naming it', () => {
    expectRejected({ secretKey: SECRET, cookies: 'secure' }, 'cookies')
    expectRejected({ secretKey: SECRET, verify: [] }, 'verify')
  })
})

describe('key material', () => {
  it('rejects an instance with no key at all, naming secretKey', () => {
    expect(configError(() => new AuthX()).message.startsWith('secretKey:')).toBe(true)
    expect(configError(() => new AuthX({})).message.startsWith('secretKey:')).toBe(true)
    expect(configError(() => new AuthX({ cookies: { secure: true } })).message.startsWith('secretKey:')).toBe(
      true,
    )
  })

  it('rejects a secretKey shorter than 32 bytes for HS256, naming secretKey', () => {
    expectRejected(withOption('secretKey', 's'.repeat(31)), 'secretKey')
  })
})

describe('issuer and audience flow into verification', () => {
  it('accepts its own tokens when issuer and audience are set (verify defaults to them)', async () => {
    const auth = new AuthX({ secretKey: SECRET, issuer: 'https://issuer.example', audience: 'api' })
    expect(auth.config.verifyIssuer).toBe('https://issuer.example')
    expect(auth.config.verifyAudience).toEqual(['api'])
    const token = await auth.createAccessToken({ uid: 'u' })
    const payload = await auth.verifyToken(token)
    expect(payload.iss).toBe('https://issuer.example')
    expect(payload.aud).toBe('api')
  })

  it('accepts its own tokens when audience is a list', async () => {
    const auth = new AuthX({ secretKey: SECRET, audience: ['api', 'web'] })
    const token = await auth.createAccessToken({ uid: 'u' })
    expect((await auth.verifyToken(token)).aud).toEqual(['api', 'web'])
  })

  it("rejects the token with reason 'audience' in an instance whose verify.audience differs", async () => {
    const issuer = new AuthX({ secretKey: SECRET, issuer: 'https://issuer.example', audience: 'api' })
    const other = new AuthX({
      secretKey: SECRET,
      issuer: 'https://issuer.example',
      audience: 'api',
      verify: { audience: 'billing' },
    })
    const token = await issuer.createAccessToken({ uid: 'u' })
    const err = await other.verifyToken(token).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(InvalidTokenError)
    expect((err as InvalidTokenError).code).toBe('ERR_INVALID_TOKEN')
    expect((err as InvalidTokenError).reason).toBe('audience')
  })

  it("rejects the token with reason 'issuer' in an instance whose verify.issuer differs", async () => {
    const issuer = new AuthX({ secretKey: SECRET, issuer: 'https://issuer.example' })
    const other = new AuthX({ secretKey: SECRET, verify: { issuer: 'https://other.example' } })
    const token = await issuer.createAccessToken({ uid: 'u' })
    const err = await other.verifyToken(token).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(InvalidTokenError)
    expect((err as InvalidTokenError).reason).toBe('issuer')
  })

  it("rejects a token with aud in an instance that expects no audience (reason 'audience')", async () => {
    const issuer = new AuthX({ secretKey: SECRET, audience: 'api' })
    const plain = new AuthX({ secretKey: SECRET })
    const token = await issuer.createAccessToken({ uid: 'u' })
    const err = await plain.verifyToken(token).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(InvalidTokenError)
    expect((err as InvalidTokenError).reason).toBe('audience')
  })

  it('applies verify.audience instead of audience when both are set', async () => {
    const auth = new AuthX({ secretKey: SECRET, audience: 'api', verify: { audience: ['api', 'web'] } })
    expect(auth.config.verifyAudience).toEqual(['api', 'web'])
    const web = new AuthX({ secretKey: SECRET, audience: 'web' })
    const token = await web.createAccessToken({ uid: 'u' })
    expect((await auth.verifyToken(token)).aud).toBe('web')
  })
})

describe('security: secrets never leak from configuration', () => {
  it('does not put a too-short secret into the ConfigError', () => {
    const secret = 'short-but-secret-Zq9'
    const err = configError(() => new AuthX({ secretKey: secret }))
    expect(err.message).not.toContain(secret)
    expect(inspect(err)).not.toContain(secret)
  })

  it('does not reveal the secretKey when auth.config is serialised or logged', () => {
    const secret = 'top-secret-hmac-key-0123456789-abcdef'
    const auth = new AuthX({ secretKey: secret })
    expect(JSON.stringify(auth.config)).not.toContain(secret)
    expect(inspect(auth.config, { depth: 10 })).not.toContain(secret)
  })

  it('does not reveal a PEM privateKey when auth.config is serialised or logged', () => {
    const { privateKey, publicKey } = rsaPair()
    const auth = new AuthX({ algorithm: 'RS256', privateKey, publicKey })
    const body = privateKey.split('\n')[2] as string
    expect(JSON.stringify(auth.config)).not.toContain(body)
    expect(inspect(auth.config, { depth: 10 })).not.toContain(body)
  })
})

describe('security: option smuggling and prototype pollution', () => {
  const polluted = Object.prototype as unknown as Record<string, unknown>
  afterEach(() => {
    for (const name of ['secure', 'sameSite', 'leeway', 'cookies', 'verify', 'protect']) delete polluted[name]
  })

  it('rejects an own __proto__ key in the options (as parsed from JSON) as an unknown option', () => {
    const options = JSON.parse(`{"secretKey":"${SECRET}","__proto__":{"cookies":{"secure":false}}}`)
    expectRejected(options, /__proto__/)
  })

  it('rejects an own __proto__ key inside a section', () => {
    const cookies = JSON.parse('{"__proto__":{"secure":false}}')
    expectRejected({ secretKey: SECRET, cookies }, /^cookies\.__proto__:/)
  })

  it('ignores a polluted Object.prototype.secure / sameSite when cookies are given', () => {
    polluted.secure = false
    polluted.sameSite = 'none'
    const auth = new AuthX({ secretKey: SECRET, cookies: {} })
    expect(auth.config.cookies.secure).toBe(true)
    expect(auth.config.cookies.sameSite).toBe('lax')
  })

  it('ignores a polluted Object.prototype.leeway when verify is given', () => {
    polluted.leeway = 300
    expect(new AuthX({ secretKey: SECRET, verify: {} }).config.leeway).toBe(0)
  })

  it('ignores a polluted Object.prototype.csrf section flag (protect)', () => {
    polluted.protect = false
    expect(new AuthX({ secretKey: SECRET, csrf: {} }).config.csrf.protect).toBe(true)
  })
})
