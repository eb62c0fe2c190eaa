import { generateKeyPairSync } from 'node:crypto'
import { afterEach, beforeEach, describe, expect, it, type MockInstance, vi } from 'vitest'
import { AuthX, ConfigError, ENV_NAMES, optionsFromEnv, type ResolvedConfig } from '../src/index.js'

const SECRET = 'e'.repeat(64)

type Env = Record<string, string | undefined>

let warn: MockInstance<typeof process.emitWarning>

beforeEach(() => {
  warn = vi.spyOn(process, 'emitWarning').mockImplementation(() => {})
})

afterEach(() => {
  vi.restoreAllMocks()
  vi.unstubAllEnvs()
})

/** The warning code of one `process.emitWarning` call, whichever signature was used. */
function warningCode(args: unknown[]): unknown {
  const second = args[1]
  if (typeof second === 'object' && second !== null) return (second as { code?: unknown }).code
  return args[2]
}

/** The messages of the AUTHX_UNUSED_ENV warnings emitted so far. */
function unusedEnvWarnings(): string[] {
  return warn.mock.calls
    .filter((args) => warningCode(args) === 'AUTHX_UNUSED_ENV')
    .map((args) => String(args[0] instanceof Error ? args[0].message : args[0]))
}

function configError(fn: () => unknown): ConfigError {
  try {
    fn()
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError)
    expect((err as ConfigError).code).toBe('ERR_CONFIG')
    return err as ConfigError
  }
  throw new Error('expected a ConfigError, but nothing was thrown')
}

function rsaPem(): { privateKey: string; publicKey: string } {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 })
  return {
    privateKey: privateKey.export({ format: 'pem', type: 'pkcs8' }) as string,
    publicKey: publicKey.export({ format: 'pem', type: 'spki' }) as string,
  }
}

/** Every name SPEC section 2 lists (JWT_IMPLICIT_REFRESH_* spelled out as Python AuthX does). */
const SPEC_NAMES = [
  'JWT_SECRET_KEY',
  'JWT_ALGORITHM',
  'JWT_PRIVATE_KEY',
  'JWT_PUBLIC_KEY',
  'JWT_ACCESS_TOKEN_EXPIRES',
  'JWT_REFRESH_TOKEN_EXPIRES',
  'JWT_TOKEN_LOCATION',
  'JWT_ENCODE_ISSUER',
  'JWT_ENCODE_AUDIENCE',
  'JWT_DECODE_ISSUER',
  'JWT_DECODE_AUDIENCE',
  'JWT_DECODE_LEEWAY',
  'JWT_DECODE_ALGORITHMS',
  'JWT_HEADER_NAME',
  'JWT_HEADER_TYPE',
  'JWT_ACCESS_COOKIE_NAME',
  'JWT_REFRESH_COOKIE_NAME',
  'JWT_ACCESS_COOKIE_PATH',
  'JWT_REFRESH_COOKIE_PATH',
  'JWT_COOKIE_DOMAIN',
  'JWT_COOKIE_SECURE',
  'JWT_COOKIE_SAMESITE',
  'JWT_COOKIE_HTTP_ONLY',
  'JWT_COOKIE_MAX_AGE',
  'JWT_COOKIE_CSRF_PROTECT',
  'JWT_CSRF_IN_COOKIES',
  'JWT_CSRF_METHODS',
  'JWT_ACCESS_CSRF_COOKIE_NAME',
  'JWT_REFRESH_CSRF_COOKIE_NAME',
  'JWT_ACCESS_CSRF_HEADER_NAME',
  'JWT_REFRESH_CSRF_HEADER_NAME',
  'JWT_CSRF_CHECK_FORM',
  'JWT_ACCESS_CSRF_FIELD_NAME',
  'JWT_REFRESH_CSRF_FIELD_NAME',
  'JWT_QUERY_STRING_NAME',
  'JWT_JSON_KEY',
  'JWT_REFRESH_JSON_KEY',
  'JWT_IMPLICIT_REFRESH_DELTATIME',
  'JWT_IMPLICIT_REFRESH_ROUTE_INCLUDE',
  'JWT_IMPLICIT_REFRESH_ROUTE_EXCLUDE',
  'JWT_IMPLICIT_REFRESH_METHOD_INCLUDE',
  'JWT_IMPLICIT_REFRESH_METHOD_EXCLUDE',
]

/** [variable, value, extra env, read the option from the config, expected value] */
const MAPPINGS: [string, string, Env, (c: ResolvedConfig) => unknown, unknown][] = [
  ['JWT_ALGORITHM', 'HS384', {}, (c) => c.algorithms, ['HS384']],
  ['JWT_ACCESS_TOKEN_EXPIRES', '600', {}, (c) => c.accessTtl, 600],
  ['JWT_REFRESH_TOKEN_EXPIRES', '86400', {}, (c) => c.refreshTtl, 86_400],
  ['JWT_TOKEN_LOCATION', 'cookies,headers', {}, (c) => c.locations, ['cookies', 'headers']],
  [
    'JWT_ENCODE_ISSUER',
    'https://py.example',
    {},
    (c) => [c.issuer, c.verifyIssuer],
    ['https://py.example', 'https://py.example'],
  ],
  ['JWT_ENCODE_AUDIENCE', 'api', {}, (c) => [c.audience, c.verifyAudience], ['api', ['api']]],
  [
    'JWT_DECODE_ISSUER',
    'https://py.example',
    {},
    (c) => [c.issuer, c.verifyIssuer],
    [undefined, 'https://py.example'],
  ],
  ['JWT_DECODE_AUDIENCE', 'api', {}, (c) => [c.audience, c.verifyAudience], [undefined, ['api']]],
  ['JWT_DECODE_LEEWAY', '10', {}, (c) => c.leeway, 10],
  ['JWT_DECODE_ALGORITHMS', 'HS384', { JWT_ALGORITHM: 'HS384' }, (c) => c.algorithms, ['HS384']],
  ['JWT_HEADER_NAME', 'X-Token', {}, (c) => c.header.name, 'X-Token'],
  ['JWT_HEADER_TYPE', 'JWT', {}, (c) => c.header.type, 'JWT'],
  ['JWT_ACCESS_COOKIE_NAME', 'acc', {}, (c) => c.cookies.accessName, 'acc'],
  ['JWT_REFRESH_COOKIE_NAME', 'ref', {}, (c) => c.cookies.refreshName, 'ref'],
  ['JWT_ACCESS_COOKIE_PATH', '/api', {}, (c) => c.cookies.accessPath, '/api'],
  ['JWT_REFRESH_COOKIE_PATH', '/auth/refresh', {}, (c) => c.cookies.refreshPath, '/auth/refresh'],
  ['JWT_COOKIE_DOMAIN', 'example.com', {}, (c) => c.cookies.domain, 'example.com'],
  ['JWT_COOKIE_SECURE', 'false', {}, (c) => c.cookies.secure, false],
  ['JWT_COOKIE_SAMESITE', 'strict', {}, (c) => c.cookies.sameSite, 'strict'],
  ['JWT_COOKIE_HTTP_ONLY', 'false', {}, (c) => c.cookies.httpOnly, false],
  ['JWT_COOKIE_MAX_AGE', '3600', {}, (c) => c.cookies.maxAge, 3600],
  ['JWT_COOKIE_CSRF_PROTECT', 'false', {}, (c) => c.csrf.protect, false],
  ['JWT_CSRF_IN_COOKIES', 'false', {}, (c) => c.csrf.inCookies, false],
  ['JWT_CSRF_METHODS', 'POST,DELETE', {}, (c) => c.csrf.methods, ['POST', 'DELETE']],
  ['JWT_ACCESS_CSRF_COOKIE_NAME', 'ca', {}, (c) => c.csrf.accessCookieName, 'ca'],
  ['JWT_REFRESH_CSRF_COOKIE_NAME', 'cr', {}, (c) => c.csrf.refreshCookieName, 'cr'],
  ['JWT_ACCESS_CSRF_HEADER_NAME', 'X-CA', {}, (c) => c.csrf.accessHeaderName, 'X-CA'],
  ['JWT_REFRESH_CSRF_HEADER_NAME', 'X-CR', {}, (c) => c.csrf.refreshHeaderName, 'X-CR'],
  ['JWT_CSRF_CHECK_FORM', 'true', {}, (c) => c.csrf.checkForm, true],
  ['JWT_ACCESS_CSRF_FIELD_NAME', 'fa', {}, (c) => c.csrf.accessFieldName, 'fa'],
  ['JWT_REFRESH_CSRF_FIELD_NAME', 'fr', {}, (c) => c.csrf.refreshFieldName, 'fr'],
  ['JWT_QUERY_STRING_NAME', 'jwt', {}, (c) => c.query.name, 'jwt'],
  ['JWT_JSON_KEY', 'at', {}, (c) => c.json.accessKey, 'at'],
  ['JWT_REFRESH_JSON_KEY', 'rt', {}, (c) => c.json.refreshKey, 'rt'],
  ['JWT_IMPLICIT_REFRESH_ENABLED', 'true', {}, (c) => c.implicitRefresh.enabled, true],
  ['JWT_IMPLICIT_REFRESH_DELTATIME', '120', {}, (c) => c.implicitRefresh.within, 120],
  [
    'JWT_IMPLICIT_REFRESH_ROUTE_INCLUDE',
    '/app,/api',
    {},
    (c) => c.implicitRefresh.includeRoutes,
    ['/app', '/api'],
  ],
  ['JWT_IMPLICIT_REFRESH_ROUTE_EXCLUDE', '/logout', {}, (c) => c.implicitRefresh.excludeRoutes, ['/logout']],
  [
    'JWT_IMPLICIT_REFRESH_METHOD_INCLUDE',
    'GET,HEAD',
    {},
    (c) => c.implicitRefresh.includeMethods,
    ['GET', 'HEAD'],
  ],
  ['JWT_IMPLICIT_REFRESH_METHOD_EXCLUDE', 'post', {}, (c) => c.implicitRefresh.excludeMethods, ['POST']],
  // authx's own: Python AuthX has no explicit token types.
  ['JWT_TOKEN_TYPES', ' Explicit ', {}, (c) => c.tokenTypes.mode, 'explicit'],
]

describe('JWT_* names', () => {
  it('reads every name SPEC section 2 lists', () => {
    for (const name of SPEC_NAMES) expect(ENV_NAMES).toContain(name)
  })

  it.each(MAPPINGS)('maps %s=%j to its option', (name, value, extra, read, expected) => {
    const auth = AuthX.fromEnv({ JWT_SECRET_KEY: SECRET, ...extra, [name]: value })
    expect(read(auth.config)).toEqual(expected)
    expect(unusedEnvWarnings()).toEqual([])
  })

  it('maps JWT_SECRET_KEY to secretKey (tokens signed with it verify elsewhere)', async () => {
    const fromEnv = AuthX.fromEnv({ JWT_SECRET_KEY: SECRET })
    expect(optionsFromEnv({ JWT_SECRET_KEY: SECRET }).secretKey).toBe(SECRET)
    const direct = new AuthX({ secretKey: SECRET })
    const token = await fromEnv.createAccessToken({ uid: 'u' })
    expect((await direct.verifyToken(token)).sub).toBe('u')
  })

  it('covers every SPEC name in the mapping table or a dedicated test', () => {
    const tested = new Set([
      ...MAPPINGS.map((m) => m[0]),
      'JWT_SECRET_KEY',
      'JWT_PRIVATE_KEY',
      'JWT_PUBLIC_KEY',
    ])
    for (const name of SPEC_NAMES) expect(tested.has(name)).toBe(true)
  })

  it('reads every name at once without any unused-variable warning', () => {
    const env: Env = { JWT_SECRET_KEY: SECRET }
    for (const [name, value, extra] of MAPPINGS) Object.assign(env, extra, { [name]: value })
    env.JWT_ALGORITHM = 'HS384'
    const auth = AuthX.fromEnv(env)
    expect(auth.config.algorithms).toEqual(['HS384'])
    expect(auth.config.cookies.secure).toBe(false)
    expect(auth.config.implicitRefresh.within).toBe(120)
    expect(unusedEnvWarnings()).toEqual([])
  })

  it('ignores a JWT_* variable set to the empty string', () => {
    const auth = AuthX.fromEnv({ JWT_SECRET_KEY: SECRET, JWT_COOKIE_DOMAIN: '', JWT_DECODE_LEEWAY: '' })
    expect(auth.config.cookies.domain).toBeUndefined()
    expect(auth.config.leeway).toBe(0)
  })

  it('reads process.env when no env is given', () => {
    vi.stubEnv('JWT_SECRET_KEY', SECRET)
    vi.stubEnv('JWT_ACCESS_TOKEN_EXPIRES', '120')
    expect(AuthX.fromEnv().config.accessTtl).toBe(120)
    expect(AuthX.fromEnv(undefined, { refreshTokenExpires: '1d' }).config.refreshTtl).toBe(86_400)
  })

  it('is a ConfigError (naming secretKey) when JWT_SECRET_KEY is missing', () => {
    expect(configError(() => AuthX.fromEnv({})).message.startsWith('secretKey:')).toBe(true)
  })
})

describe('booleans', () => {
  const BOOLEANS: [string, (c: ResolvedConfig) => boolean][] = [
    ['JWT_COOKIE_SECURE', (c) => c.cookies.secure],
    ['JWT_COOKIE_HTTP_ONLY', (c) => c.cookies.httpOnly],
    ['JWT_COOKIE_CSRF_PROTECT', (c) => c.csrf.protect],
    ['JWT_CSRF_IN_COOKIES', (c) => c.csrf.inCookies],
    ['JWT_CSRF_CHECK_FORM', (c) => c.csrf.checkForm],
    ['JWT_IMPLICIT_REFRESH_ENABLED', (c) => c.implicitRefresh.enabled],
  ]
  const CASES: [string, boolean][] = [
    ['true', true],
    ['TRUE', true],
    ['True', true],
    ['1', true],
    ['false', false],
    ['FALSE', false],
    ['False', false],
    ['0', false],
  ]

  describe.each(BOOLEANS)('%s', (name, read) => {
    it.each(CASES)('reads %j as %s', (value, expected) => {
      expect(read(AuthX.fromEnv({ JWT_SECRET_KEY: SECRET, [name]: value }).config)).toBe(expected)
    })

    it.each(['maybe', 'yes', 'on', '2', 'truee'])(
      'rejects %j with a ConfigError naming the variable',
      (value) => {
        const err = configError(() => AuthX.fromEnv({ JWT_SECRET_KEY: SECRET, [name]: value }))
        expect(err.message).toContain(name)
      },
    )
  })
})

describe('lists', () => {
  it.each([
    ['headers,cookies', ['headers', 'cookies']],
    [' cookies , headers ', ['cookies', 'headers']],
    ['["cookies","json"]', ['cookies', 'json']],
    [' ["query", "headers"] ', ['query', 'headers']],
    ['json', ['json']],
  ])('reads JWT_TOKEN_LOCATION %j', (value, expected) => {
    expect(AuthX.fromEnv({ JWT_SECRET_KEY: SECRET, JWT_TOKEN_LOCATION: value }).config.locations).toEqual(
      expected,
    )
  })

  it('reads JWT_CSRF_METHODS as a JSON array and upper-cases it', () => {
    const auth = AuthX.fromEnv({ JWT_SECRET_KEY: SECRET, JWT_CSRF_METHODS: '["post","put"]' })
    expect(auth.config.csrf.methods).toEqual(['POST', 'PUT'])
  })

  it('reads JWT_DECODE_ALGORITHMS as a JSON array', () => {
    const auth = AuthX.fromEnv({
      JWT_SECRET_KEY: SECRET,
      JWT_ALGORITHM: 'HS512',
      JWT_DECODE_ALGORITHMS: '["HS512"]',
    })
    expect(auth.config.algorithms).toEqual(['HS512'])
  })

  it('reads audiences as a list, comma-separated or JSON', () => {
    const comma = AuthX.fromEnv({ JWT_SECRET_KEY: SECRET, JWT_ENCODE_AUDIENCE: 'api,web' })
    expect(comma.config.audience).toEqual(['api', 'web'])
    const json = AuthX.fromEnv({ JWT_SECRET_KEY: SECRET, JWT_DECODE_AUDIENCE: '["api","web"]' })
    expect(json.config.verifyAudience).toEqual(['api', 'web'])
  })

  it.each(['["headers"', '[1,2]', '["headers",null]'])(
    'rejects JWT_TOKEN_LOCATION %j with a ConfigError naming the variable',
    (value) => {
      const err = configError(() => AuthX.fromEnv({ JWT_SECRET_KEY: SECRET, JWT_TOKEN_LOCATION: value }))
      expect(err.message).toContain('JWT_TOKEN_LOCATION')
    },
  )

  it('rejects a bad JWT_CSRF_METHODS JSON array with a ConfigError naming the variable', () => {
    const err = configError(() => AuthX.fromEnv({ JWT_SECRET_KEY: SECRET, JWT_CSRF_METHODS: '[1]' }))
    expect(err.message).toContain('JWT_CSRF_METHODS')
  })
})

describe('lifetimes', () => {
  it('reads JWT_ACCESS_TOKEN_EXPIRES and JWT_REFRESH_TOKEN_EXPIRES as seconds', async () => {
    const now = 1_700_000_000_000
    const auth = AuthX.fromEnv(
      { JWT_SECRET_KEY: SECRET, JWT_ACCESS_TOKEN_EXPIRES: '600', JWT_REFRESH_TOKEN_EXPIRES: '7200' },
      { clock: () => now },
    )
    const access = auth.decodeUnverified(await auth.createAccessToken({ uid: 'u' })).payload
    const refresh = auth.decodeUnverified(await auth.createRefreshToken({ uid: 'u' })).payload
    expect(access.exp).toBe(now / 1000 + 600)
    expect(refresh.exp).toBe(now / 1000 + 7200)
  })

  it('reads JWT_COOKIE_MAX_AGE and JWT_IMPLICIT_REFRESH_DELTATIME as seconds', () => {
    const auth = AuthX.fromEnv({
      JWT_SECRET_KEY: SECRET,
      JWT_COOKIE_MAX_AGE: '86400',
      JWT_IMPLICIT_REFRESH_DELTATIME: '300',
    })
    expect(auth.config.cookies.maxAge).toBe(86_400)
    expect(auth.config.implicitRefresh.within).toBe(300)
  })

  it.each(['1.5', 'abc', '-5', '15 minutes', '1e3'])(
    'rejects JWT_ACCESS_TOKEN_EXPIRES %j with a ConfigError naming the variable',
    (value) => {
      const err = configError(() =>
        AuthX.fromEnv({ JWT_SECRET_KEY: SECRET, JWT_ACCESS_TOKEN_EXPIRES: value }),
      )
      expect(err.message).toContain('JWT_ACCESS_TOKEN_EXPIRES')
    },
  )

  it.each([
    ['JWT_DECODE_LEEWAY', 'abc'],
    ['JWT_COOKIE_MAX_AGE', 'one hour'],
    ['JWT_IMPLICIT_REFRESH_DELTATIME', 'soon'],
  ])('rejects %s %j with a ConfigError naming the variable', (name, value) => {
    const err = configError(() => AuthX.fromEnv({ JWT_SECRET_KEY: SECRET, [name]: value }))
    expect(err.message).toContain(name)
  })
})

describe('values that parse but are not valid options', () => {
  it.each([
    ['JWT_COOKIE_SAMESITE', 'bogus'],
    ['JWT_DECODE_LEEWAY', '-1'],
    ['JWT_DECODE_LEEWAY', '301'],
    ['JWT_ACCESS_TOKEN_EXPIRES', '0'],
    ['JWT_COOKIE_MAX_AGE', '1.5'],
    ['JWT_TOKEN_LOCATION', 'headers,body'],
    ['JWT_TOKEN_LOCATION', '{"a":1}'],
    ['JWT_HEADER_NAME', 'X Token'],
    ['JWT_ALGORITHM', 'none'],
    ['JWT_TOKEN_TYPES', 'at+jwt'],
  ])('rejects %s=%j with a ConfigError naming the variable', (name, value) => {
    const err = configError(() => AuthX.fromEnv({ JWT_SECRET_KEY: SECRET, [name]: value }))
    expect(err.message).toContain(name)
  })
})

describe('which name an error gives', () => {
  it('names the variable when the bad value comes from process.env', () => {
    vi.stubEnv('JWT_SECRET_KEY', SECRET)
    vi.stubEnv('JWT_COOKIE_SAMESITE', 'bogus')
    expect(configError(() => AuthX.fromEnv()).message).toContain('JWT_COOKIE_SAMESITE')
  })

  it('names the option, not the variable, when an override supplied the bad value', () => {
    const err = configError(() =>
      AuthX.fromEnv({ JWT_SECRET_KEY: SECRET, JWT_COOKIE_SAMESITE: 'strict' }, {
        cookies: { sameSite: 'bogus' },
      } as never),
    )
    expect(err.message.startsWith('cookies.sameSite:')).toBe(true)
    expect(err.message).not.toContain('JWT_COOKIE_SAMESITE')
  })

  it('keeps the original ConfigError as the cause when it renames one', () => {
    const err = configError(() => AuthX.fromEnv({ JWT_SECRET_KEY: SECRET, JWT_DECODE_LEEWAY: '-1' }))
    expect(err.cause).toBeInstanceOf(ConfigError)
  })
})

describe('PEM keys', () => {
  it('reads JWT_PRIVATE_KEY and JWT_PUBLIC_KEY with literal \\n sequences', async () => {
    const { privateKey, publicKey } = rsaPem()
    const escapeNewlines = (pem: string) => pem.replace(/\n/g, '\\n')
    expect(escapeNewlines(privateKey)).not.toContain('\n')
    const env = {
      JWT_ALGORITHM: 'RS256',
      JWT_PRIVATE_KEY: escapeNewlines(privateKey),
      JWT_PUBLIC_KEY: escapeNewlines(publicKey),
    }
    const options = optionsFromEnv(env)
    expect(options.privateKey).toBe(privateKey)
    expect(options.publicKey).toBe(publicKey)

    const signer = AuthX.fromEnv(env)
    const token = await signer.createAccessToken({ uid: 'u' })
    expect((await signer.verifyToken(token)).sub).toBe('u')

    const verifier = AuthX.fromEnv({ JWT_ALGORITHM: 'RS256', JWT_PUBLIC_KEY: escapeNewlines(publicKey) })
    expect((await verifier.verifyToken(token)).sub).toBe('u')
  })

  it('reads a PEM with real newlines unchanged', async () => {
    const { privateKey } = rsaPem()
    const auth = AuthX.fromEnv({ JWT_ALGORITHM: 'RS256', JWT_PRIVATE_KEY: privateKey })
    const token = await auth.createAccessToken({ uid: 'u' })
    expect((await auth.verifyToken(token)).sub).toBe('u')
  })
})

describe('overrides', () => {
  it('merges overrides over the environment section by section', () => {
    const auth = AuthX.fromEnv(
      {
        JWT_SECRET_KEY: SECRET,
        JWT_COOKIE_DOMAIN: 'example.com',
        JWT_COOKIE_SAMESITE: 'strict',
        JWT_COOKIE_HTTP_ONLY: 'false',
        JWT_DECODE_LEEWAY: '10',
      },
      { cookies: { sameSite: 'lax', secure: false }, verify: { maxTokenBytes: 4096 } },
    )
    expect(auth.config.cookies.domain).toBe('example.com')
    expect(auth.config.cookies.httpOnly).toBe(false)
    expect(auth.config.cookies.sameSite).toBe('lax')
    expect(auth.config.cookies.secure).toBe(false)
    expect(auth.config.leeway).toBe(10)
    expect(auth.config.maxTokenBytes).toBe(4096)
  })

  it('lets a top-level override replace the environment value', () => {
    const auth = AuthX.fromEnv(
      { JWT_SECRET_KEY: SECRET, JWT_ACCESS_TOKEN_EXPIRES: '600', JWT_TOKEN_LOCATION: 'headers,cookies' },
      { accessTokenExpires: '1h', tokenLocation: ['json'] },
    )
    expect(auth.config.accessTtl).toBe(3600)
    expect(auth.config.locations).toEqual(['json'])
  })

  it('adds sections the environment does not set', () => {
    const auth = AuthX.fromEnv({ JWT_SECRET_KEY: SECRET }, { refreshRotation: { reuseGraceSeconds: 5 } })
    expect(auth.config.refreshRotation).toEqual({ enabled: true, reuseGraceSeconds: 5 })
  })

  it('does not modify the env or the overrides it is given', () => {
    const env = { JWT_SECRET_KEY: SECRET, JWT_COOKIE_DOMAIN: 'example.com' }
    const overrides = { cookies: { secure: false } }
    AuthX.fromEnv(env, overrides)
    expect(env).toEqual({ JWT_SECRET_KEY: SECRET, JWT_COOKIE_DOMAIN: 'example.com' })
    expect(overrides).toEqual({ cookies: { secure: false } })
  })

  it('validates the merged options: an unknown option in overrides is a ConfigError', () => {
    const err = configError(() =>
      AuthX.fromEnv({ JWT_SECRET_KEY: SECRET }, { cookies: { sameSit: 'lax' } } as never),
    )
    expect(err.message.startsWith('cookies.sameSit')).toBe(true)
  })
})

describe('unused variables', () => {
  it.each(['JWT_PREVIOUS_SECRET_KEY', 'JWT_FOO', 'JWT_SESSION_COOKIE'])(
    'reports %s with process.emitWarning code AUTHX_UNUSED_ENV',
    (name) => {
      const auth = AuthX.fromEnv({ JWT_SECRET_KEY: SECRET, [name]: 'x' })
      expect(auth).toBeInstanceOf(AuthX)
      const warnings = unusedEnvWarnings()
      expect(warnings).toHaveLength(1)
      expect(warnings[0]).toContain(name)
    },
  )

  it('reports unused variables from optionsFromEnv too', () => {
    optionsFromEnv({ JWT_SECRET_KEY: SECRET, JWT_FOO: '1', JWT_BAR: '2' })
    const warnings = unusedEnvWarnings()
    expect(warnings.join('\n')).toContain('JWT_FOO')
    expect(warnings.join('\n')).toContain('JWT_BAR')
  })

  it('ignores non-JWT variables without any warning', () => {
    const auth = AuthX.fromEnv({
      JWT_SECRET_KEY: SECRET,
      PATH: '/usr/bin',
      HOME: '/home/app',
      NODE_ENV: 'test',
      DATABASE_URL: 'postgres://localhost/db',
      AUTHX_SECRET_KEY: 'x',
      MY_JWT_SECRET: 'x',
    })
    expect(auth.config.algorithms).toEqual(['HS256'])
    expect(auth.config.accessTtl).toBe(900)
    expect(unusedEnvWarnings()).toEqual([])
  })

  it('does not warn when every JWT_* variable is used', () => {
    AuthX.fromEnv({ JWT_SECRET_KEY: SECRET, JWT_ACCESS_TOKEN_EXPIRES: '60' })
    expect(unusedEnvWarnings()).toEqual([])
  })
})

describe('security: environment values', () => {
  it('does not put a too-short JWT_SECRET_KEY into the ConfigError', () => {
    const secret = 'short-env-secret-Xy7'
    const err = configError(() => AuthX.fromEnv({ JWT_SECRET_KEY: secret }))
    expect(err.message).not.toContain(secret)
  })

  it('rejects a JWT_COOKIE_SAMESITE that tries to inject cookie attributes', () => {
    configError(() =>
      AuthX.fromEnv({ JWT_SECRET_KEY: SECRET, JWT_COOKIE_SAMESITE: 'Lax; Domain=evil.example' }),
    )
  })

  it('rejects JWT_COOKIE_SAMESITE=none together with JWT_COOKIE_SECURE=false', () => {
    configError(() =>
      AuthX.fromEnv({ JWT_SECRET_KEY: SECRET, JWT_COOKIE_SAMESITE: 'none', JWT_COOKIE_SECURE: 'false' }),
    )
  })

  it('never pollutes Object.prototype through a __proto__ key in overrides', () => {
    const overrides = JSON.parse('{"__proto__":{"polluted":true},"cookies":{"__proto__":{"secure":false}}}')
    try {
      AuthX.fromEnv({ JWT_SECRET_KEY: SECRET, JWT_COOKIE_DOMAIN: 'example.com' }, overrides)
    } catch {
      // Rejecting the overrides is fine; polluting the global prototype is not.
    }
    expect(({} as Record<string, unknown>).polluted).toBeUndefined()
    expect(({} as Record<string, unknown>).secure).toBeUndefined()
  })

  it('never turns Secure off through a __proto__ key in overrides', () => {
    const overrides = JSON.parse('{"cookies":{"__proto__":{"secure":false}}}')
    let secure: boolean | undefined
    try {
      secure = AuthX.fromEnv({ JWT_SECRET_KEY: SECRET, JWT_COOKIE_DOMAIN: 'example.com' }, overrides).config
        .cookies.secure
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError)
      return
    }
    expect(secure).toBe(true)
  })
})
