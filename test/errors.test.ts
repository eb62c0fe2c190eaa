import { inspect } from 'node:util'
import { describe, expect, it } from 'vitest'
import {
  AccessTokenRequiredError,
  AuthX,
  AuthXError,
  type AuthXStore,
  ConfigError,
  CSRFError,
  FreshTokenRequiredError,
  InsufficientScopeError,
  InvalidTokenError,
  MissingTokenError,
  RateLimitError,
  RefreshTokenRequiredError,
  RefreshTokenReusedError,
  RevokedTokenError,
  StoreUnavailableError,
  TokenExpiredError,
  TokenTypeError,
} from '../src/index.js'

const SECRET = 'r'.repeat(32)
const INVALID = 'Bearer error="invalid_token"'

interface Row {
  name: string
  Class: abstract new (...args: never[]) => AuthXError
  make: (cause?: unknown) => AuthXError
  code: string
  status: number
  /** `toJSON()` minus `code` and `message`. */
  extra: Record<string, unknown>
  www: string | undefined
}

const ROWS: Row[] = [
  {
    name: 'MissingTokenError',
    Class: MissingTokenError,
    make: (cause) => new MissingTokenError(['headers', 'cookies'], { cause }),
    code: 'ERR_MISSING_TOKEN',
    status: 401,
    extra: {},
    www: 'Bearer',
  },
  {
    name: 'InvalidTokenError',
    Class: InvalidTokenError,
    make: (cause) => new InvalidTokenError('signature', 'Token signature is invalid', { cause }),
    code: 'ERR_INVALID_TOKEN',
    status: 401,
    extra: { reason: 'signature' },
    www: INVALID,
  },
  {
    name: 'TokenExpiredError',
    Class: TokenExpiredError,
    make: (cause) => new TokenExpiredError(new Date(0), { cause }),
    code: 'ERR_TOKEN_EXPIRED',
    status: 401,
    extra: { reason: 'expired' },
    www: INVALID,
  },
  {
    name: 'RevokedTokenError',
    Class: RevokedTokenError,
    make: (cause) => new RevokedTokenError(undefined, { cause }),
    code: 'ERR_TOKEN_REVOKED',
    status: 401,
    extra: {},
    www: INVALID,
  },
  {
    name: 'TokenTypeError',
    Class: TokenTypeError,
    make: (cause) => new TokenTypeError('access', 'refresh', { cause }),
    code: 'ERR_WRONG_TOKEN_TYPE',
    status: 401,
    extra: {},
    www: INVALID,
  },
  {
    name: 'AccessTokenRequiredError',
    Class: AccessTokenRequiredError,
    make: (cause) => new AccessTokenRequiredError('refresh', { cause }),
    code: 'ERR_WRONG_TOKEN_TYPE',
    status: 401,
    extra: {},
    www: INVALID,
  },
  {
    name: 'RefreshTokenRequiredError',
    Class: RefreshTokenRequiredError,
    make: (cause) => new RefreshTokenRequiredError('access', { cause }),
    code: 'ERR_WRONG_TOKEN_TYPE',
    status: 401,
    extra: {},
    www: INVALID,
  },
  {
    name: 'FreshTokenRequiredError',
    Class: FreshTokenRequiredError,
    make: (cause) => new FreshTokenRequiredError(undefined, { cause }),
    code: 'ERR_FRESH_TOKEN_REQUIRED',
    status: 401,
    extra: {},
    www: 'Bearer error="insufficient_user_authentication"',
  },
  {
    name: 'RefreshTokenReusedError',
    Class: RefreshTokenReusedError,
    make: (cause) => new RefreshTokenReusedError(undefined, { cause }),
    code: 'ERR_REFRESH_TOKEN_REUSED',
    status: 401,
    extra: {},
    www: INVALID,
  },
  {
    name: 'CSRFError',
    Class: CSRFError,
    make: (cause) => new CSRFError('mismatch', 'X-CSRF-TOKEN', { cause }),
    code: 'ERR_CSRF',
    status: 403,
    extra: { reason: 'mismatch' },
    www: 'Bearer',
  },
  {
    name: 'InsufficientScopeError',
    Class: InsufficientScopeError,
    make: (cause) => new InsufficientScopeError(['admin', 'users:write'], ['users:read'], { cause }),
    code: 'ERR_INSUFFICIENT_SCOPE',
    status: 403,
    extra: { required: ['admin', 'users:write'], provided: ['users:read'] },
    www: 'Bearer error="insufficient_scope", scope="admin users:write"',
  },
  {
    name: 'StoreUnavailableError',
    Class: StoreUnavailableError,
    make: (cause) => new StoreUnavailableError(undefined, { cause, retryAfter: 5 }),
    code: 'ERR_STORE_UNAVAILABLE',
    status: 503,
    extra: { retryAfter: 5 },
    www: undefined,
  },
  {
    name: 'RateLimitError',
    Class: RateLimitError,
    make: (cause) => new RateLimitError(30, { cause }),
    code: 'ERR_RATE_LIMITED',
    status: 429,
    extra: { retryAfter: 30 },
    www: undefined,
  },
  {
    name: 'ConfigError',
    Class: ConfigError,
    make: (cause) => new ConfigError('secretKey: HS256 needs at least 32 bytes', { cause }),
    code: 'ERR_CONFIG',
    status: 500,
    extra: {},
    www: undefined,
  },
]

describe.each(ROWS)('$name', (row) => {
  it(`has code ${row.code} and status ${row.status}`, () => {
    const err = row.make()
    expect(err.code).toBe(row.code)
    expect(err.status).toBe(row.status)
  })

  it('is named after its class', () => {
    const err = row.make()
    expect(err.name).toBe(row.name)
    expect(row.Class.name).toBe(row.name)
    expect(String(err).startsWith(`${row.name}:`)).toBe(true)
  })

  it('is an instance of its class, AuthXError and Error', () => {
    const err = row.make()
    expect(err).toBeInstanceOf(row.Class)
    expect(err).toBeInstanceOf(AuthXError)
    expect(err).toBeInstanceOf(Error)
  })

  it('serialises with toJSON() to exactly { code, message } plus its own fields', () => {
    const err = row.make()
    expect(err.toJSON()).toStrictEqual({ code: row.code, message: expect.any(String), ...row.extra })
    expect(JSON.parse(JSON.stringify(err))).toStrictEqual({
      code: row.code,
      message: expect.any(String),
      ...row.extra,
    })
  })

  it(`has wwwAuthenticate ${JSON.stringify(row.www)}`, () => {
    expect(row.make().wwwAuthenticate).toBe(row.www)
  })

  it('keeps { cause }', () => {
    const cause = new Error('underlying')
    expect(row.make(cause).cause).toBe(cause)
    expect(row.make().cause).toBeUndefined()
  })
})

describe('class hierarchy', () => {
  it('makes TokenExpiredError an InvalidTokenError with reason expired', () => {
    const err = new TokenExpiredError(new Date(1000))
    expect(err).toBeInstanceOf(InvalidTokenError)
    expect(err.reason).toBe('expired')
    expect(err.expiredAt.getTime()).toBe(1000)
  })

  it('makes AccessTokenRequiredError and RefreshTokenRequiredError TokenTypeErrors', () => {
    const access = new AccessTokenRequiredError('refresh')
    const refresh = new RefreshTokenRequiredError('access')
    expect(access).toBeInstanceOf(TokenTypeError)
    expect(refresh).toBeInstanceOf(TokenTypeError)
    expect([access.expected, access.received]).toEqual(['access', 'refresh'])
    expect([refresh.expected, refresh.received]).toEqual(['refresh', 'access'])
    expect(access).not.toBeInstanceOf(RefreshTokenRequiredError)
  })

  it('keeps the classes distinct where the SPEC does not relate them', () => {
    expect(new RevokedTokenError()).not.toBeInstanceOf(InvalidTokenError)
    expect(new TokenTypeError('access', 'refresh')).not.toBeInstanceOf(InvalidTokenError)
    expect(new RefreshTokenReusedError()).not.toBeInstanceOf(RevokedTokenError)
    expect(new ConfigError('x')).not.toBeInstanceOf(InvalidTokenError)
  })
})

describe('error details', () => {
  it('lists the locations tried on MissingTokenError', () => {
    expect(new MissingTokenError(['headers', 'cookies']).locations).toEqual(['headers', 'cookies'])
  })

  it("has reason 'missing' or 'mismatch' on CSRFError", () => {
    expect(new CSRFError('missing', 'X-CSRF-TOKEN').toJSON().reason).toBe('missing')
    expect(new CSRFError('mismatch', 'csrf_token').reason).toBe('mismatch')
  })

  it('defaults StoreUnavailableError.retryAfter to 1 second', () => {
    const err = new StoreUnavailableError()
    expect(err.retryAfter).toBe(1)
    expect(err.toJSON().retryAfter).toBe(1)
  })

  it('keeps provided [] in InsufficientScopeError.toJSON() when the token has no scopes', () => {
    expect(new InsufficientScopeError(['admin'], []).toJSON()).toStrictEqual({
      code: 'ERR_INSUFFICIENT_SCOPE',
      message: expect.any(String),
      required: ['admin'],
      provided: [],
    })
  })

  it('hides ConfigError details from toJSON()', () => {
    const err = new ConfigError('secretKey: HS256 needs at least 32 bytes, got 5')
    const json = err.toJSON()
    expect(json.message).not.toBe(err.message)
    expect(JSON.stringify(json)).not.toContain('secretKey')
    expect(JSON.stringify(json)).not.toContain('32 bytes')
  })

  it('does not let toJSON() results alias the error state', () => {
    const err = new InsufficientScopeError(['admin'], ['users:read'])
    const json = err.toJSON()
    json.required?.push('injected')
    expect(err.required).toEqual(['admin'])
  })
})

describe('security: WWW-Authenticate header injection', () => {
  it('never lets a required scope break out of the quoted scope parameter', () => {
    const err = new InsufficientScopeError(['a"b', 'c\\", error="x'], [])
    expect(err.wwwAuthenticate).toMatch(/^Bearer error="insufficient_scope", scope="[^"\\]*"$/)
  })
})

/** Collects the error of a rejected promise. */
async function rejection(promise: Promise<unknown>): Promise<AuthXError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  )
  expect(err).toBeInstanceOf(AuthXError)
  return err as AuthXError
}

/** The error must not carry the token (nor its signature or payload) anywhere a client or a log sees. */
function expectNoToken(err: AuthXError, token: string): void {
  const pieces = [token, ...token.split('.').filter((p) => p.length >= 16)]
  const surfaces = [
    err.message,
    JSON.stringify(err.toJSON()),
    JSON.stringify(err),
    inspect(err, { depth: 5 }),
  ]
  for (const surface of surfaces) {
    for (const piece of pieces) expect(surface).not.toContain(piece)
  }
}

describe('errors from auth.verifyToken', () => {
  const T0 = 1_700_000_000_000

  function setup(options: { store?: AuthXStore } = {}) {
    const time = { now: T0 }
    const auth = new AuthX({ secretKey: SECRET, clock: () => time.now, ...options })
    return { auth, time }
  }

  it('rejects a garbage token with InvalidTokenError (malformed, 401)', async () => {
    const { auth } = setup()
    const token = 'garbage-token-value-Zx81kQ-not-a-jwt'
    const err = await rejection(auth.verifyToken(token))
    expect(err).toBeInstanceOf(InvalidTokenError)
    expect(err.code).toBe('ERR_INVALID_TOKEN')
    expect(err.status).toBe(401)
    expect((err as InvalidTokenError).reason).toBe('malformed')
    expect(err.wwwAuthenticate).toBe(INVALID)
    expectNoToken(err, token)
  })

  it('rejects a three-segment garbage token without echoing it', async () => {
    const { auth } = setup()
    const token =
      'eyJnYXJiYWdlIjoiaGVhZGVyLXZhbHVlIn0.eyJnYXJiYWdlIjoicGF5bG9hZC12YWx1ZSJ9.c2lnbmF0dXJlLXZhbHVlLWdhcmJhZ2U'
    const err = await rejection(auth.verifyToken(token))
    expect(err).toBeInstanceOf(InvalidTokenError)
    expect(err.status).toBe(401)
    expectNoToken(err, token)
  })

  it('rejects a token signed with another key with InvalidTokenError (signature)', async () => {
    const { auth } = setup()
    const other = new AuthX({ secretKey: 'o'.repeat(32), clock: () => T0 })
    const token = await other.createAccessToken({ uid: 'u' })
    const err = await rejection(auth.verifyToken(token))
    expect(err).toBeInstanceOf(InvalidTokenError)
    expect(err.code).toBe('ERR_INVALID_TOKEN')
    expect((err as InvalidTokenError).reason).toBe('signature')
    expectNoToken(err, token)
  })

  it('rejects an expired token with TokenExpiredError (ERR_TOKEN_EXPIRED, 401, reason expired)', async () => {
    const { auth, time } = setup()
    const token = await auth.createAccessToken({ uid: 'u' })
    time.now += 901_000
    const err = await rejection(auth.verifyToken(token))
    expect(err).toBeInstanceOf(TokenExpiredError)
    expect(err).toBeInstanceOf(InvalidTokenError)
    expect(err.code).toBe('ERR_TOKEN_EXPIRED')
    expect(err.status).toBe(401)
    expect((err as TokenExpiredError).reason).toBe('expired')
    expect(err.toJSON()).toStrictEqual({
      code: 'ERR_TOKEN_EXPIRED',
      message: expect.any(String),
      reason: 'expired',
    })
    expect(err.wwwAuthenticate).toBe(INVALID)
    expectNoToken(err, token)
  })

  it('rejects a refresh token where an access token is required (AccessTokenRequiredError)', async () => {
    const { auth } = setup()
    const token = await auth.createRefreshToken({ uid: 'u' })
    const err = await rejection(auth.verifyToken(token))
    expect(err).toBeInstanceOf(AccessTokenRequiredError)
    expect(err).toBeInstanceOf(TokenTypeError)
    expect(err.code).toBe('ERR_WRONG_TOKEN_TYPE')
    expect(err.status).toBe(401)
    expect(err.wwwAuthenticate).toBe(INVALID)
    expectNoToken(err, token)
  })

  it('rejects an access token where a refresh token is required (RefreshTokenRequiredError)', async () => {
    const { auth } = setup()
    const token = await auth.createAccessToken({ uid: 'u' })
    const err = await rejection(auth.verifyToken(token, { type: 'refresh' }))
    expect(err).toBeInstanceOf(RefreshTokenRequiredError)
    expect(err.code).toBe('ERR_WRONG_TOKEN_TYPE')
    expect(err.status).toBe(401)
    expectNoToken(err, token)
  })

  it('rejects a non-fresh token on fresh: true with FreshTokenRequiredError', async () => {
    const { auth } = setup()
    const token = await auth.createAccessToken({ uid: 'u' })
    const err = await rejection(auth.verifyToken(token, { fresh: true }))
    expect(err).toBeInstanceOf(FreshTokenRequiredError)
    expect(err.code).toBe('ERR_FRESH_TOKEN_REQUIRED')
    expect(err.status).toBe(401)
    expect(err.wwwAuthenticate).toBe('Bearer error="insufficient_user_authentication"')
    expectNoToken(err, token)
    // The same token passes when freshness is not required: the error came from freshness alone.
    await expect(auth.verifyToken(token)).resolves.toBeDefined()
  })

  it('rejects missing scopes with InsufficientScopeError listing required and provided', async () => {
    const { auth } = setup()
    const token = await auth.createAccessToken({ uid: 'u', scopes: ['users:read'] })
    const err = await rejection(auth.verifyToken(token, { scopes: ['admin', 'users:read'] }))
    expect(err).toBeInstanceOf(InsufficientScopeError)
    expect(err.code).toBe('ERR_INSUFFICIENT_SCOPE')
    expect(err.status).toBe(403)
    const scopeErr = err as InsufficientScopeError
    expect(scopeErr.required).toEqual(['admin', 'users:read'])
    expect(scopeErr.provided).toEqual(['users:read'])
    expect(err.toJSON()).toStrictEqual({
      code: 'ERR_INSUFFICIENT_SCOPE',
      message: expect.any(String),
      required: ['admin', 'users:read'],
      provided: ['users:read'],
    })
    expect(err.wwwAuthenticate).toBe('Bearer error="insufficient_scope", scope="admin users:read"')
    expectNoToken(err, token)
  })

  it('reports provided [] when the token has no scopes', async () => {
    const { auth } = setup()
    const token = await auth.createAccessToken({ uid: 'u' })
    const err = await rejection(auth.verifyToken(token, { scopes: ['admin'] }))
    expect(err).toBeInstanceOf(InsufficientScopeError)
    expect((err as InsufficientScopeError).provided).toEqual([])
    expect(err.toJSON().provided).toEqual([])
    expectNoToken(err, token)
  })

  it('lists every required scope when anyScope finds none', async () => {
    const { auth } = setup()
    const token = await auth.createAccessToken({ uid: 'u', scopes: ['users:read'] })
    const err = await rejection(auth.verifyToken(token, { scopes: ['admin', 'billing'], anyScope: true }))
    expect(err).toBeInstanceOf(InsufficientScopeError)
    expect((err as InsufficientScopeError).required).toEqual(['admin', 'billing'])
    expect((err as InsufficientScopeError).provided).toEqual(['users:read'])
  })

  it('rejects a revoked token with RevokedTokenError', async () => {
    const { auth } = setup()
    const token = await auth.createAccessToken({ uid: 'u' })
    await auth.revokeToken(token)
    const err = await rejection(auth.verifyToken(token))
    expect(err).toBeInstanceOf(RevokedTokenError)
    expect(err.code).toBe('ERR_TOKEN_REVOKED')
    expect(err.status).toBe(401)
    expect(err.wwwAuthenticate).toBe(INVALID)
    expectNoToken(err, token)
  })

  it('rejects with StoreUnavailableError (503, retryAfter, no WWW-Authenticate) when the store fails', async () => {
    const store: AuthXStore = {
      get: async () => {
        throw new Error('connection refused')
      },
      set: async () => {},
      setIfAbsent: async () => true,
      delete: async () => {},
    }
    const { auth } = setup({ store })
    const token = await auth.createAccessToken({ uid: 'u' })
    const err = await rejection(auth.verifyToken(token))
    expect(err).toBeInstanceOf(StoreUnavailableError)
    expect(err.code).toBe('ERR_STORE_UNAVAILABLE')
    expect(err.status).toBe(503)
    expect((err as StoreUnavailableError).retryAfter).toBe(1)
    expect(err.wwwAuthenticate).toBeUndefined()
    expectNoToken(err, token)
  })

  it('checks authentication before authorisation: an invalid token on a scoped call is 401', async () => {
    const { auth } = setup()
    const token = 'not-a-token-at-all-QQ9'
    const err = await rejection(auth.verifyToken(token, { scopes: ['admin'], fresh: true }))
    expect(err).toBeInstanceOf(InvalidTokenError)
    expect(err.status).toBe(401)
  })
})
