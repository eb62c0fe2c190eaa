/**
 * Login types (SPEC 9.1, docs/login-types.md): the `loginType` option, the reserved `login_type`
 * claim, `LoginTypeMismatchError`, `AuthManager` and its trial verification, and revocation,
 * rotation and implicit refresh kept within one login type.
 */
import { describe, expect, it } from 'vitest'
import {
  AuthManager,
  AuthX,
  type AuthXOptions,
  type AuthXStore,
  ConfigError,
  InvalidTokenError,
  isAuthManager,
  LoginTypeMismatchError,
  MemoryStore,
  RefreshTokenReusedError,
  RevokedTokenError,
  StoreUnavailableError,
  TokenExpiredError,
  TokenPayload,
  TokenTypeError,
} from '../src/index.js'
import { flipSignatureBit, keyOptions, segment, signToken } from './support/keys.js'
import { rejection } from './support/rejection.js'

const USER_SECRET = 'user-secret-0123456789abcdef-0123456789'
const ADMIN_SECRET = 'admin-secret-0123456789abcdef-012345678'
const START = 1_700_000_000_000
const ISSUER = 'https://auth.example'

/**
 * A user and an admin instance on one clock the test moves, with one MemoryStore and one issuer:
 * whatever keeps the two types apart is authx's doing, not separate storage. `shared` gives both
 * the same secret.
 */
function pair(
  options: {
    shared?: boolean
    user?: AuthXOptions
    admin?: AuthXOptions
    store?: AuthXStore
    manager?: boolean
  } = {},
) {
  let now = START
  const clock = () => now
  const store = options.store ?? new MemoryStore({ clock })
  const users = new AuthX({
    secretKey: USER_SECRET,
    issuer: ISSUER,
    clock,
    store,
    loginType: 'user',
    ...options.user,
  })
  const admins = new AuthX({
    secretKey: options.shared ? USER_SECRET : ADMIN_SECRET,
    issuer: ISSUER,
    clock,
    store,
    loginType: 'admin',
    ...options.admin,
  })
  const manager = options.manager === false ? undefined : new AuthManager([users, admins])
  return {
    users,
    admins,
    manager: manager as AuthManager,
    store,
    advance(ms: number) {
      now += ms
    },
  }
}

async function mismatch(promise: Promise<unknown>, expected: string, actual: string | null): Promise<void> {
  const err = await rejection(promise)
  expect(err).toBeInstanceOf(LoginTypeMismatchError)
  const e = err as LoginTypeMismatchError
  expect(e.code).toBe('ERR_LOGIN_TYPE_MISMATCH')
  expect(e.status).toBe(401)
  expect(e.expected).toBe(expected)
  expect(e.actual).toBe(actual)
}

async function invalid(promise: Promise<unknown>, reason: string): Promise<InvalidTokenError> {
  const err = await rejection(promise)
  expect(err).toBeInstanceOf(InvalidTokenError)
  expect(err).not.toBeInstanceOf(LoginTypeMismatchError)
  expect((err as InvalidTokenError).reason).toBe(reason)
  return err as InvalidTokenError
}

const bearerRequest = (token: string) =>
  new Request('https://app.test/api', { headers: { authorization: `Bearer ${token}` } })

describe('loginType option', () => {
  it('accepts a non-empty printable string and exposes it on the config', () => {
    expect(new AuthX({ secretKey: USER_SECRET, loginType: 'admin' }).config.loginType).toBe('admin')
    expect(new AuthX({ secretKey: USER_SECRET }).config.loginType).toBeUndefined()
  })

  it.each([
    ['an empty string', ''],
    ['a number', 42],
    ['an object', { type: 'admin' }],
    ['null', null],
    ['a string with a control character', 'ad\nmin'],
    ['a string outside printable ASCII', 'ädmin'],
  ])('refuses %s with ConfigError', (_label, value) => {
    expect(() => new AuthX({ secretKey: USER_SECRET, loginType: value as string })).toThrow(ConfigError)
  })
})

describe('the login_type claim', () => {
  it('every token of an instance with a loginType carries it, and payload.loginType reads it', async () => {
    const { users } = pair({ manager: false })
    const { accessToken, refreshToken } = await users.createTokenPair({ uid: '42', data: { plan: 'pro' } })
    const single = await users.createAccessToken({ uid: '42' })
    const refresh = await users.createRefreshToken({ uid: '42' })
    for (const token of [accessToken, refreshToken, single, refresh]) {
      expect(segment(token, 1).login_type).toBe('user')
    }
    const payload = await users.verifyToken(accessToken)
    expect(payload.loginType).toBe('user')
    expect(payload.extra).toEqual({ plan: 'pro' })
    expect('login_type' in payload.extra).toBe(false)
    // Written last among the registered claims, before custom data.
    expect(Object.keys(segment(accessToken, 1)).slice(-2)).toEqual(['login_type', 'plan'])
  })

  it('a token of an instance without loginType has none, and payload.loginType is undefined', async () => {
    const plain = new AuthX({ secretKey: USER_SECRET })
    const token = await plain.createAccessToken({ uid: '42' })
    expect('login_type' in segment(token, 1)).toBe(false)
    expect((await plain.verifyToken(token)).loginType).toBeUndefined()
  })

  it.each([
    ['an instance with a loginType', { loginType: 'user' }],
    ['an instance without one', {}],
  ])('data cannot set login_type on %s: every creation throws TypeError', async (_label, extra) => {
    const auth = new AuthX({ secretKey: USER_SECRET, ...extra })
    const data = { login_type: 'admin' }
    await expect(auth.createAccessToken({ uid: '42', data })).rejects.toThrow(TypeError)
    await expect(auth.createRefreshToken({ uid: '42', data })).rejects.toThrow(TypeError)
    await expect(auth.createTokenPair({ uid: '42', data })).rejects.toThrow(TypeError)
    const { refreshToken } = await auth.createTokenPair({ uid: '42' })
    await expect(auth.refresh(refreshToken, { data })).rejects.toThrow(TypeError)
    // The refused call consumed nothing: the refresh token still rotates.
    await expect(auth.refresh(refreshToken)).resolves.toMatchObject({ tokenType: 'bearer' })
  })

  it('a login_type that is not a string is an invalid token (claims)', async () => {
    const { users } = pair({ manager: false })
    const now = Math.floor(START / 1000)
    for (const value of [5, null, ['user'], { type: 'user' }, true]) {
      const token = signToken(
        'HS256',
        USER_SECRET,
        { alg: 'HS256', typ: 'JWT' },
        {
          sub: '42',
          jti: `j-${String(value)}`,
          iat: now,
          exp: now + 60,
          type: 'access',
          iss: ISSUER,
          login_type: value,
        },
      )
      await invalid(users.verifyToken(token), 'claims')
      await invalid(users.decodeToken(token), 'claims')
    }
  })
})

describe('security: tokens of another login type', () => {
  it('refuses a token of another type signed with the same secret: LoginTypeMismatchError', async () => {
    const { users, admins } = pair({ shared: true, manager: false })
    const userToken = await users.createAccessToken({ uid: '42' })
    const err = await rejection(admins.verifyToken(userToken))
    await mismatch(Promise.reject(err), 'admin', 'user')
    expect(err).toBeInstanceOf(TokenTypeError)
    const e = err as LoginTypeMismatchError
    expect(e.wwwAuthenticate).toBe('Bearer error="invalid_token"')
    // The answer's body names neither login type.
    const body = JSON.stringify(e.toJSON())
    expect(body).not.toContain('user')
    expect(body).not.toContain('admin')
    expect(e.toJSON().code).toBe('ERR_LOGIN_TYPE_MISMATCH')
    await mismatch(users.verifyToken(await admins.createAccessToken({ uid: '42' })), 'user', 'admin')
  })

  it('refuses a token without login_type (a plain instance, same secret): actual is null', async () => {
    const { admins } = pair({ shared: true, manager: false })
    const plain = new AuthX({ secretKey: USER_SECRET, issuer: ISSUER, clock: () => START })
    await mismatch(admins.verifyToken(await plain.createAccessToken({ uid: '42' })), 'admin', null)
    const { refreshToken } = await plain.createTokenPair({ uid: '42' })
    await mismatch(admins.verifyToken(refreshToken, { type: 'refresh' }), 'admin', null)
  })

  it('a plain instance (no loginType) accepts tokens of any login type, as documented', async () => {
    const { users, admins } = pair({ shared: true, manager: false })
    const plain = new AuthX({ secretKey: USER_SECRET, issuer: ISSUER, clock: () => START })
    const fromUsers = await plain.verifyToken(await users.createAccessToken({ uid: '42' }))
    const fromAdmins = await plain.verifyToken(await admins.createAccessToken({ uid: '42' }))
    expect([fromUsers.loginType, fromAdmins.loginType]).toEqual(['user', 'admin'])
  })

  it('a login_type forged into a token signed with the user key is never accepted by admins', async () => {
    for (const withManager of [true, false]) {
      const { users, admins } = pair({ manager: withManager })
      const genuine = segment(await users.createAccessToken({ uid: '42' }), 1)
      const forged = signToken(
        'HS256',
        USER_SECRET,
        { alg: 'HS256', typ: 'JWT' },
        {
          ...genuine,
          jti: 'forged',
          login_type: 'admin',
        },
      )
      const err = await rejection(admins.verifyToken(forged))
      expect(err).toBeInstanceOf(InvalidTokenError)
      expect((err as InvalidTokenError).reason).toBe('signature')
      // And the user instance, whose key signed it, refuses it as an admin token.
      await mismatch(users.verifyToken(forged), 'user', 'admin')
    }
  })

  it('verify.failed carries ERR_LOGIN_TYPE_MISMATCH', async () => {
    const { users, admins } = pair({ shared: true, manager: false })
    const events: { code: string }[] = []
    admins.on('verify.failed', (event) => events.push(event))
    await rejection(admins.verifyToken(await users.createAccessToken({ uid: '42' })))
    expect(events.map((e) => e.code)).toEqual(['ERR_LOGIN_TYPE_MISMATCH'])
  })

  it('revokeToken(string) refuses a token of another type and revokes nothing', async () => {
    const { users, admins } = pair({ shared: true, manager: false })
    const userToken = await users.createAccessToken({ uid: '42' })
    await mismatch(admins.revokeToken(userToken), 'admin', 'user')
    await expect(users.verifyToken(userToken)).resolves.toBeInstanceOf(TokenPayload)
  })

  it('the logout route of one type revokes nothing of another type', async () => {
    const { users, admins } = pair({ shared: true, manager: false })
    const { accessToken, refreshToken } = await users.createTokenPair({ uid: '42' })
    for (const token of [accessToken, refreshToken]) {
      const answer = await admins.logoutFromRequest(bearerRequest(token))
      expect(answer.error).toBeUndefined()
      expect(answer.revoked).toEqual({ families: [], tokens: [], sessions: [] })
    }
    await expect(users.verifyToken(accessToken)).resolves.toBeInstanceOf(TokenPayload)
    await expect(users.verifyToken(refreshToken, { type: 'refresh' })).resolves.toBeInstanceOf(TokenPayload)
    // The same request at the user logout route does revoke.
    const own = await users.logoutFromRequest(bearerRequest(accessToken))
    expect(own.revoked.families).toHaveLength(1)
    await expect(users.verifyToken(accessToken)).rejects.toThrow(RevokedTokenError)
  })
})

describe('order: the login type is checked after decoding, before the token type and revocation', () => {
  it('a revoked token of the wrong type is a mismatch, not a revocation', async () => {
    const { users, admins } = pair({ shared: true, manager: false })
    const userToken = await users.createAccessToken({ uid: '42' })
    await users.revokeToken(userToken)
    await expect(users.verifyToken(userToken)).rejects.toThrow(RevokedTokenError)
    await mismatch(admins.verifyToken(userToken), 'admin', 'user')
  })

  it('a store that is down is not even asked about a token of the wrong type', async () => {
    let asked = 0
    const down = () => {
      asked++
      throw new Error('connection refused')
    }
    const store: AuthXStore = { get: down, set: down, setIfAbsent: down, delete: down }
    const { users, admins } = pair({ shared: true, manager: false, store })
    const userToken = await users.createAccessToken({ uid: '42' })
    const err = await rejection(admins.verifyToken(userToken))
    expect(err).not.toBeInstanceOf(StoreUnavailableError)
    await mismatch(Promise.reject(err), 'admin', 'user')
    expect(asked).toBe(0)
    // The same store answers 503 for a token of the right type: it is really down.
    const adminErr = await rejection(admins.verifyToken(await admins.createAccessToken({ uid: '42' })))
    expect(adminErr).toBeInstanceOf(StoreUnavailableError)
    expect((adminErr as StoreUnavailableError).status).toBe(503)
  })

  it('a refresh token of the wrong type on an access check is a mismatch, not a token type error', async () => {
    const { users, admins } = pair({ shared: true, manager: false })
    const { refreshToken } = await users.createTokenPair({ uid: '42' })
    await mismatch(admins.verifyToken(refreshToken), 'admin', 'user')
  })
})

describe('AuthManager', () => {
  it('is recognised by isAuthManager; an AuthX is not', () => {
    const { users, manager } = pair()
    expect(isAuthManager(manager)).toBe(true)
    expect(isAuthManager(users)).toBe(false)
    expect(isAuthManager({})).toBe(false)
    expect(isAuthManager(null)).toBe(false)
  })

  it('register requires a loginType (ConfigError)', () => {
    expect(() => new AuthManager([new AuthX({ secretKey: USER_SECRET })])).toThrow(ConfigError)
    expect(() => new AuthManager().register(new AuthX({ secretKey: USER_SECRET }))).toThrow(ConfigError)
  })

  it('refuses a login type registered twice (ConfigError)', () => {
    const one = new AuthX({ secretKey: USER_SECRET, loginType: 'user' })
    const two = new AuthX({ secretKey: ADMIN_SECRET, loginType: 'user' })
    expect(() => new AuthManager([one, two])).toThrow(ConfigError)
  })

  it('refuses an instance already registered with another manager (ConfigError)', () => {
    const users = new AuthX({ secretKey: USER_SECRET, loginType: 'user' })
    const first = new AuthManager([users])
    expect(() => new AuthManager([users])).toThrow(ConfigError)
    expect(() => new AuthManager().register(users)).toThrow(ConfigError)
    expect(first.get('user')).toBe(users)
  })

  it.each([
    ['undefined', undefined],
    ['null', null],
    ['a plain object', { config: { loginType: 'user' } }],
    ['a string', 'user'],
  ])('register refuses %s with TypeError', (_label, value) => {
    expect(() => new AuthManager().register(value as unknown as AuthX)).toThrow(TypeError)
  })

  it('get returns the instance of a type; an unknown type is ConfigError naming the known types', () => {
    const { users, admins, manager } = pair()
    expect(manager.get('user')).toBe(users)
    expect(manager.get('admin')).toBe(admins)
    const err = (() => {
      try {
        manager.get('staff')
      } catch (e) {
        return e
      }
    })()
    expect(err).toBeInstanceOf(ConfigError)
    expect((err as ConfigError).message).toContain("'user'")
    expect((err as ConfigError).message).toContain("'admin'")
    expect(() => new AuthManager().get('user')).toThrow(ConfigError)
  })

  it('instances lists them in registration order, frozen', () => {
    const { users, admins } = pair({ manager: false })
    const staff = new AuthX({ secretKey: USER_SECRET, loginType: 'staff' })
    const manager = new AuthManager([admins]).register(users).register(staff)
    const list = manager.instances
    expect(list).toEqual([admins, users, staff])
    expect(Object.isFrozen(list)).toBe(true)
    expect(() => (list as AuthX[]).push(users)).toThrow(TypeError)
    expect(manager.instances).toEqual([admins, users, staff])
  })

  it('verifyToken and authenticate need options with a loginType (TypeError)', async () => {
    const { users, manager } = pair()
    const token = await users.createAccessToken({ uid: '42' })
    for (const options of [undefined, null, {}, { loginType: '' }, { loginType: 1 }]) {
      await expect(manager.verifyToken(token, options as never)).rejects.toThrow(TypeError)
      await expect(manager.authenticate(bearerRequest(token), options as never)).rejects.toThrow(TypeError)
    }
    await expect(manager.verifyToken(token, { loginType: 'staff' })).rejects.toThrow(ConfigError)
  })

  it('verifyToken and authenticate verify with the instance of the type', async () => {
    const { users, admins, manager } = pair()
    const userToken = await users.createAccessToken({ uid: '42' })
    const adminToken = await admins.createAccessToken({ uid: '7' })
    expect((await manager.verifyToken(userToken, { loginType: 'user' })).loginType).toBe('user')
    expect((await manager.verifyToken(adminToken, { loginType: 'admin' })).sub).toBe('7')
    expect((await manager.authenticate(bearerRequest(adminToken), { loginType: 'admin' }))?.sub).toBe('7')
    await mismatch(manager.authenticate(bearerRequest(userToken), { loginType: 'admin' }), 'admin', 'user')
    expect(
      await manager.authenticate(new Request('https://app.test/'), { loginType: 'admin', optional: true }),
    ).toBeNull()
  })

  it('passes the other options through: fresh, scopes, type', async () => {
    const { admins, manager } = pair()
    const stale = await admins.createAccessToken({ uid: '7', scopes: ['read'] })
    const fresh = await admins.createAccessToken({ uid: '7', fresh: true, scopes: ['read'] })
    const { refreshToken } = await admins.createTokenPair({ uid: '7' })
    await expect(manager.verifyToken(stale, { loginType: 'admin', fresh: true })).rejects.toMatchObject({
      code: 'ERR_FRESH_TOKEN_REQUIRED',
    })
    await expect(manager.verifyToken(fresh, { loginType: 'admin', fresh: true })).resolves.toBeInstanceOf(
      TokenPayload,
    )
    await expect(manager.verifyToken(fresh, { loginType: 'admin', scopes: ['write'] })).rejects.toMatchObject(
      {
        code: 'ERR_INSUFFICIENT_SCOPE',
        status: 403,
      },
    )
    await expect(manager.verifyToken(refreshToken, { loginType: 'admin' })).rejects.toMatchObject({
      code: 'ERR_WRONG_TOKEN_TYPE',
    })
    const payload = await manager.verifyToken(refreshToken, { loginType: 'admin', type: 'refresh' })
    expect(payload.type).toBe('refresh')
    await expect(
      manager.authenticate(bearerRequest(stale), { loginType: 'admin', scopes: ['write'] }),
    ).rejects.toMatchObject({ code: 'ERR_INSUFFICIENT_SCOPE' })
  })

  it('an unknown option is TypeError', async () => {
    const { admins, manager } = pair()
    const token = await admins.createAccessToken({ uid: '7' })
    await expect(manager.verifyToken(token, { loginType: 'admin', frsh: true } as never)).rejects.toThrow(
      TypeError,
    )
    await expect(
      manager.authenticate(bearerRequest(token), { loginType: 'admin', frsh: true } as never),
    ).rejects.toThrow(TypeError)
  })
})

describe('security: trial verification by the other login types', () => {
  it('different secrets: a user token at the admin type is a mismatch naming the user type', async () => {
    const { users, admins, manager } = pair()
    const userToken = await users.createAccessToken({ uid: '42' })
    await mismatch(manager.verifyToken(userToken, { loginType: 'admin' }), 'admin', 'user')
    // The registered instance itself does the same.
    await mismatch(admins.verifyToken(userToken), 'admin', 'user')
    await mismatch(users.verifyToken(await admins.createAccessToken({ uid: '7' })), 'user', 'admin')
    const { refreshToken } = await users.createTokenPair({ uid: '42' })
    await mismatch(admins.verifyToken(refreshToken, { type: 'refresh' }), 'admin', 'user')
  })

  it('without a manager, the admin instance reports what its own key says (signature)', async () => {
    const { users, admins } = pair({ manager: false })
    await invalid(admins.verifyToken(await users.createAccessToken({ uid: '42' })), 'signature')
  })

  it('a token with a bad signature stays InvalidTokenError signature', async () => {
    const { users, admins, manager } = pair()
    const bad = flipSignatureBit(await users.createAccessToken({ uid: '42' }))
    await invalid(admins.verifyToken(bad), 'signature')
    await invalid(manager.verifyToken(bad, { loginType: 'admin' }), 'signature')
    await invalid(users.verifyToken(bad), 'signature')
  })

  it('a token signed with a key no instance has stays InvalidTokenError signature', async () => {
    const { users, admins } = pair()
    const outsider = new AuthX({
      secretKey: 'outsider-secret-0123456789abcdef-01234',
      issuer: ISSUER,
      loginType: 'user',
    })
    const token = await outsider.createAccessToken({ uid: '42' })
    expect(segment(token, 1).login_type).toBe('user')
    await invalid(admins.verifyToken(token), 'signature')
    await invalid(users.verifyToken(token), 'signature')
  })

  it('an expired user token at the admin type stays what the admin decoder says', async () => {
    // Shared secret: the admin decoder says expired. The user instance allows more leeway and
    // would still accept the token, but expiry is not a failure a token of another type explains.
    // Different secrets: the admin decoder says signature, and no instance accepts the token.
    for (const [shared, leeway] of [
      [true, 300],
      [false, 0],
    ] as const) {
      const { users, admins, manager, advance } = pair({ shared, user: { verify: { leeway } } })
      const userToken = await users.createAccessToken({ uid: '42', expiry: 60 })
      advance(120_000)
      expect(
        await users.verifyToken(userToken).then(
          () => true,
          () => false,
        ),
      ).toBe(shared)
      const direct = await rejection(admins.decodeToken(userToken))
      expect(direct).toBeInstanceOf(shared ? TokenExpiredError : InvalidTokenError)
      const err = await rejection(manager.verifyToken(userToken, { loginType: 'admin' }))
      expect(err).not.toBeInstanceOf(LoginTypeMismatchError)
      expect((err as Error).constructor).toBe((direct as Error).constructor)
      expect((err as InvalidTokenError).reason).toBe((direct as InvalidTokenError).reason)
      expect((err as InvalidTokenError).reason).toBe(shared ? 'expired' : 'signature')
    }
  })

  it('a malformed token stays malformed', async () => {
    const { admins, manager } = pair()
    for (const token of ['abc', 'a.b.c', '']) {
      const err = await rejection(manager.verifyToken(token, { loginType: 'admin' }))
      expect(err).not.toBeInstanceOf(LoginTypeMismatchError)
      expect(err).toBeInstanceOf(InvalidTokenError)
      expect(err).toEqual(await rejection(admins.decodeToken(token)))
    }
  })

  it('different algorithms (admin RS256, user HS256): a mismatch both ways', async () => {
    const { users, admins, manager } = pair({ admin: { secretKey: undefined, ...keyOptions('RS256') } })
    expect(admins.config.loginType).toBe('admin')
    const userToken = await users.createAccessToken({ uid: '42' })
    const adminToken = await admins.createAccessToken({ uid: '7' })
    expect(segment(adminToken, 0).alg).toBe('RS256')
    await mismatch(manager.verifyToken(userToken, { loginType: 'admin' }), 'admin', 'user')
    await mismatch(manager.verifyToken(adminToken, { loginType: 'user' }), 'user', 'admin')
    expect((await manager.verifyToken(adminToken, { loginType: 'admin' })).loginType).toBe('admin')
  })

  it('different issuers or audiences with one secret: a mismatch', async () => {
    for (const [user, admin] of [
      [{ issuer: 'https://users.example' }, { issuer: 'https://admins.example' }],
      [{ audience: 'users' }, { audience: 'admins' }],
    ] as [AuthXOptions, AuthXOptions][]) {
      const { users, admins } = pair({ shared: true, user, admin })
      await mismatch(admins.verifyToken(await users.createAccessToken({ uid: '42' })), 'admin', 'user')
      await mismatch(users.verifyToken(await admins.createAccessToken({ uid: '7' })), 'user', 'admin')
    }
  })
})

describe('revocation per login type (shared store and issuer)', () => {
  for (const shared of [true, false]) {
    it(`${shared ? 'shared' : 'different'} secrets: revokeAllForSubject on users does not revoke admin tokens of the same sub`, async () => {
      const { users, admins, advance } = pair({ shared })
      const user = await users.createTokenPair({ uid: '42' })
      const admin = await admins.createTokenPair({ uid: '42' })
      advance(2000)
      await users.revokeAllForSubject('42')
      await expect(users.verifyToken(user.accessToken)).rejects.toThrow(RevokedTokenError)
      await expect(users.verifyToken(user.refreshToken, { type: 'refresh' })).rejects.toThrow(
        RevokedTokenError,
      )
      await expect(admins.verifyToken(admin.accessToken)).resolves.toBeInstanceOf(TokenPayload)
      await expect(admins.verifyToken(admin.refreshToken, { type: 'refresh' })).resolves.toBeInstanceOf(
        TokenPayload,
      )
      // And the other way round.
      await admins.revokeAllForSubject('42')
      await expect(admins.verifyToken(admin.accessToken)).rejects.toThrow(RevokedTokenError)
      // Tokens issued after the cut-off still verify.
      advance(1000)
      const later = await users.createAccessToken({ uid: '42' })
      await expect(users.verifyToken(later)).resolves.toBeInstanceOf(TokenPayload)
    })
  }

  it('revokeFamily revokes the family of its type and leaves the other type alone', async () => {
    const { users, admins } = pair({ shared: true })
    const user = await users.createTokenPair({ uid: '42' })
    const admin = await admins.createTokenPair({ uid: '42' })
    const fid = (await users.verifyToken(user.refreshToken, { type: 'refresh' })).fid!
    await users.revokeFamily(fid)
    await expect(users.verifyToken(user.accessToken)).rejects.toThrow(RevokedTokenError)
    await expect(users.verifyToken(user.refreshToken, { type: 'refresh' })).rejects.toThrow(RevokedTokenError)
    await expect(admins.verifyToken(admin.accessToken)).resolves.toBeInstanceOf(TokenPayload)
    await expect(admins.refresh(admin.refreshToken)).resolves.toMatchObject({ tokenType: 'bearer' })
  })

  it("revokeFamily on one type cannot revoke another type's family, even given its id", async () => {
    const { users, admins } = pair({ shared: true })
    const user = await users.createTokenPair({ uid: '42' })
    const fid = (await users.verifyToken(user.refreshToken, { type: 'refresh' })).fid!
    await admins.revokeFamily(fid)
    await expect(users.verifyToken(user.accessToken)).resolves.toBeInstanceOf(TokenPayload)
    await expect(users.refresh(user.refreshToken)).resolves.toMatchObject({ tokenType: 'bearer' })
  })
})

describe('rotation per login type', () => {
  for (const shared of [true, false]) {
    it(`${shared ? 'shared' : 'different'} secrets: refresh rotates within the type and refuses the other`, async () => {
      const { users, admins } = pair({ shared })
      const first = await users.createTokenPair({ uid: '42', scopes: ['orders:read'] })
      // The admin attempt fails before anything is consumed or minted.
      await mismatch(admins.refresh(first.refreshToken), 'admin', 'user')
      const second = await users.refresh(first.refreshToken)
      for (const token of [second.accessToken, second.refreshToken]) {
        expect(segment(token, 1).login_type).toBe('user')
      }
      expect((await users.verifyToken(second.accessToken)).loginType).toBe('user')
      await mismatch(admins.verifyToken(second.accessToken), 'admin', 'user')
      // A payload verified by users is no passport at admins either.
      const verified = await users.verifyToken(second.refreshToken, { type: 'refresh' })
      await expect(admins.refresh(verified)).rejects.toThrow(TypeError)
    })
  }

  it('reuse detection revokes the family within its type only', async () => {
    const { users, admins } = pair({ shared: true })
    const first = await users.createTokenPair({ uid: '42' })
    const admin = await admins.createTokenPair({ uid: '42' })
    const second = await users.refresh(first.refreshToken)
    await expect(users.refresh(first.refreshToken)).rejects.toThrow(RefreshTokenReusedError)
    await expect(users.verifyToken(second.accessToken)).rejects.toThrow(RevokedTokenError)
    await expect(users.refresh(second.refreshToken)).rejects.toThrow(RevokedTokenError)
    await expect(admins.verifyToken(admin.accessToken)).resolves.toBeInstanceOf(TokenPayload)
    await expect(admins.refresh(admin.refreshToken)).resolves.toMatchObject({ tokenType: 'bearer' })
  })
})

describe('implicit refresh per login type', () => {
  it('an admin instance with implicit refresh does not renew a user cookie (shared secret)', async () => {
    const { users, admins, advance } = pair({
      shared: true,
      admin: { tokenLocation: ['cookies'], implicitRefresh: { enabled: true, within: '10m' } },
      user: { tokenLocation: ['cookies'] },
    })
    const userToken = await users.createAccessToken({ uid: '42', expiry: '15m' })
    const adminToken = await admins.createAccessToken({ uid: '7', expiry: '15m' })
    advance(9 * 60_000)
    const cookieRequest = (token: string) =>
      new Request('https://app.test/api', { headers: { cookie: `access_token_cookie=${token}` } })
    expect(await admins.implicitRefreshCookies(cookieRequest(userToken))).toEqual([])
    // The admin's own cookie, as close to expiry, is renewed: the feature is on.
    const renewed = await admins.implicitRefreshCookies(cookieRequest(adminToken))
    expect(renewed.some((c) => c.startsWith('access_token_cookie='))).toBe(true)
    const token = renewed
      .find((c) => c.startsWith('access_token_cookie='))!
      .split(';')[0]!
      .split('=')[1]!
    expect(segment(token, 1).login_type).toBe('admin')
  })
})
