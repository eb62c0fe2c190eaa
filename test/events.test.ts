/**
 * The audit trail (SPEC section 8): `auth.on(event, listener)` / `auth.off(event, listener)`.
 */
import { afterEach, describe, expect, it, vi } from 'vitest'
import {
  AuthX,
  type AuthXEventName,
  type AuthXEvents,
  type AuthXOptions,
  type AuthXRequest,
  MemoryStore,
  RefreshTokenReusedError,
} from '../src/index.js'

const SECRET = 'events-test-secret-0123456789abcdef-xyz'
const START = 1_700_000_000_000
const EVENTS: AuthXEventName[] = [
  'token.created',
  'token.refreshed',
  'token.reused',
  'token.revoked',
  'family.revoked',
  'subject.revoked',
  'verify.failed',
]

interface Recorded {
  event: AuthXEventName
  data: AuthXEvents[AuthXEventName]
}

function setup(options: AuthXOptions = {}) {
  let now = START
  const clock = () => now
  const auth = new AuthX({
    secretKey: SECRET,
    clock,
    store: new MemoryStore({ clock }),
    tokenLocation: ['headers', 'cookies'],
    ...options,
  })
  const log: Recorded[] = []
  for (const event of EVENTS) auth.on(event, (data) => log.push({ event, data }))
  const of = <E extends AuthXEventName>(event: E) =>
    log.filter((r) => r.event === event).map((r) => r.data as AuthXEvents[E])
  return {
    auth,
    log,
    of,
    advance(ms: number) {
      now += ms
    },
  }
}

function claims(auth: AuthX, token: string): Record<string, unknown> {
  return auth.decodeUnverified(token).payload
}

function view(spec: { method?: string; headers?: Record<string, string>; cookies?: Record<string, string> }) {
  const headers = new Map(Object.entries(spec.headers ?? {}).map(([k, v]) => [k.toLowerCase(), v]))
  const cookies = new Map(Object.entries(spec.cookies ?? {}))
  const req: AuthXRequest = {
    method: spec.method ?? 'GET',
    header: (name) => headers.get(name.toLowerCase()),
    cookie: (name) => cookies.get(name),
    query: () => undefined,
    json: async () => undefined,
    form: async () => undefined,
  }
  return req
}

afterEach(() => {
  vi.restoreAllMocks()
})

describe('token.created', () => {
  it('reports an access token with type, sub and jti, without fid', async () => {
    const { auth, of } = setup()
    const token = await auth.createAccessToken({ uid: 'u1' })
    expect(of('token.created')).toEqual([{ type: 'access', sub: 'u1', jti: claims(auth, token).jti }])
  })

  it('reports a refresh token with its fid', async () => {
    const { auth, of } = setup()
    const token = await auth.createRefreshToken({ uid: 'u1' })
    const c = claims(auth, token)
    expect(of('token.created')).toEqual([{ type: 'refresh', sub: 'u1', jti: c.jti, fid: c.fid }])
  })

  it('reports each token of a pair, both with the family id', async () => {
    const { auth, of } = setup()
    const pair = await auth.createTokenPair({ uid: 'u1' })
    const access = claims(auth, pair.accessToken)
    const refresh = claims(auth, pair.refreshToken)
    const created = of('token.created')
    expect(created).toHaveLength(2)
    expect(created).toContainEqual({ type: 'access', sub: 'u1', jti: access.jti, fid: refresh.fid })
    expect(created).toContainEqual({ type: 'refresh', sub: 'u1', jti: refresh.jti, fid: refresh.fid })
  })

  it('reports the access token of an implicit refresh', async () => {
    const { auth, of, advance } = setup({ implicitRefresh: { enabled: true } })
    const token = await auth.createAccessToken({ uid: 'u1' })
    advance(10 * 60_000)
    const cookies = await auth.implicitRefreshCookies(view({ cookies: { access_token_cookie: token } }))
    const fresh = cookies[0]!.split(';')[0]!.split('=')[1]!
    expect(of('token.created').at(-1)).toEqual({ type: 'access', sub: 'u1', jti: claims(auth, fresh).jti })
  })
})

describe('token.refreshed and token.reused', () => {
  it('reports a rotation with sub, fid, the old and the new refresh jti', async () => {
    const { auth, of } = setup()
    const pair = await auth.createTokenPair({ uid: 'u1' })
    const old = claims(auth, pair.refreshToken)
    const next = await auth.refresh(pair.refreshToken)
    const access = claims(auth, next.accessToken)
    const refresh = claims(auth, next.refreshToken)
    expect(of('token.refreshed')).toEqual([{ sub: 'u1', fid: old.fid, oldJti: old.jti, newJti: refresh.jti }])
    expect(of('token.created').slice(2)).toEqual(
      expect.arrayContaining([
        { type: 'access', sub: 'u1', jti: access.jti, fid: old.fid },
        { type: 'refresh', sub: 'u1', jti: refresh.jti, fid: old.fid },
      ]),
    )
  })

  it('reports no token.refreshed with rotation off, and the new access token as created', async () => {
    const { auth, of } = setup({ refreshRotation: { enabled: false } })
    const refresh = await auth.createRefreshToken({ uid: 'u1' })
    const next = await auth.refresh(refresh)
    expect(of('token.refreshed')).toEqual([])
    expect(of('token.created').at(-1)).toMatchObject({
      type: 'access',
      jti: claims(auth, next.accessToken).jti,
    })
  })

  it('reports a reuse with sub, fid and the replayed jti, then the family revocation', async () => {
    const { auth, of, log } = setup()
    const pair = await auth.createTokenPair({ uid: 'u1' })
    const old = claims(auth, pair.refreshToken)
    await auth.refresh(pair.refreshToken)
    await expect(auth.refresh(pair.refreshToken)).rejects.toBeInstanceOf(RefreshTokenReusedError)
    expect(of('token.reused')).toEqual([{ sub: 'u1', fid: old.fid, jti: old.jti }])
    expect(of('family.revoked')).toEqual([{ fid: old.fid }])
    const order = log.map((r) => r.event).filter((e) => e === 'token.reused' || e === 'family.revoked')
    expect(order).toEqual(['token.reused', 'family.revoked'])
  })

  it('reports no reuse for a replay inside the grace window', async () => {
    const { auth, of } = setup({ refreshRotation: { reuseGraceSeconds: 5 } })
    const refresh = await auth.createRefreshToken({ uid: 'u1' })
    await auth.refresh(refresh)
    await auth.refresh(refresh)
    expect(of('token.reused')).toEqual([])
    expect(of('token.refreshed')).toHaveLength(2)
  })
})

describe('revocation events', () => {
  it('token.revoked carries sub and jti', async () => {
    const { auth, of } = setup()
    const token = await auth.createAccessToken({ uid: 'u1' })
    await auth.revokeToken(token)
    const payload = await auth.decodeToken(await auth.createAccessToken({ uid: 'u2' }))
    await auth.revokeToken(payload)
    expect(of('token.revoked')).toEqual([
      { sub: 'u1', jti: claims(auth, token).jti },
      { sub: 'u2', jti: payload.jti },
    ])
  })

  it('family.revoked carries fid and subject.revoked carries sub', async () => {
    const { auth, of } = setup()
    await auth.revokeFamily('family-1')
    await auth.revokeAllForSubject('u1')
    expect(of('family.revoked')).toEqual([{ fid: 'family-1' }])
    expect(of('subject.revoked')).toEqual([{ sub: 'u1' }])
  })

  it('reports nothing when the revocation could not be written', async () => {
    const { auth, log } = setup({
      store: {
        get: async () => [null, null, null],
        set: async () => {
          throw new Error('down')
        },
        setIfAbsent: async () => true,
        delete: async () => {},
      },
    })
    const token = await auth.createAccessToken({ uid: 'u1' })
    log.length = 0
    await expect(auth.revokeToken(token)).rejects.toMatchObject({ code: 'ERR_STORE_UNAVAILABLE' })
    await expect(auth.revokeFamily('f')).rejects.toMatchObject({ code: 'ERR_STORE_UNAVAILABLE' })
    await expect(auth.revokeAllForSubject('u1')).rejects.toMatchObject({ code: 'ERR_STORE_UNAVAILABLE' })
    expect(log).toEqual([])
  })
})

describe('verify.failed', () => {
  it('reports code, reason and location of an authenticate failure', async () => {
    const { auth, of } = setup()
    const other = new AuthX({ secretKey: 'another-secret-0123456789abcdef-xyz', tokenLocation: ['cookies'] })
    const forged = await other.createAccessToken({ uid: 'u1' })
    await expect(auth.authenticate(view({ cookies: { access_token_cookie: forged } }))).rejects.toThrow()
    expect(of('verify.failed')).toEqual([
      { code: 'ERR_INVALID_TOKEN', reason: 'signature', location: 'cookies' },
    ])
  })

  it('reports every kind of failure with its own code', async () => {
    const { auth, of, advance } = setup()
    const expired = await auth.createAccessToken({ uid: 'u1', expiry: 1 })
    const refresh = await auth.createRefreshToken({ uid: 'u1' })
    const revoked = await auth.createAccessToken({ uid: 'u1' })
    const cookie = await auth.createAccessToken({ uid: 'u1' })
    const plain = await auth.createAccessToken({ uid: 'u1' })
    await auth.revokeToken(revoked)
    advance(2000)
    const bearer = (t: string) => view({ headers: { authorization: `Bearer ${t}` } })
    const attempts: [AuthXRequest, Parameters<AuthX['authenticate']>[1]][] = [
      [view({}), {}],
      [bearer(expired), {}],
      [bearer(refresh), {}],
      [bearer(revoked), {}],
      [view({ method: 'POST', cookies: { access_token_cookie: cookie } }), {}],
      [
        view({ method: 'POST', cookies: { access_token_cookie: cookie }, headers: { 'x-csrf-token': 'no' } }),
        {},
      ],
      [bearer(plain), { fresh: true }],
      [bearer(plain), { scopes: ['admin'] }],
    ]
    for (const [req, options] of attempts) await expect(auth.authenticate(req, options)).rejects.toThrow()
    expect(of('verify.failed')).toEqual([
      { code: 'ERR_MISSING_TOKEN' },
      { code: 'ERR_TOKEN_EXPIRED', reason: 'expired', location: 'headers' },
      { code: 'ERR_WRONG_TOKEN_TYPE', location: 'headers' },
      { code: 'ERR_TOKEN_REVOKED', location: 'headers' },
      { code: 'ERR_CSRF', reason: 'missing', location: 'cookies' },
      { code: 'ERR_CSRF', reason: 'mismatch', location: 'cookies' },
      { code: 'ERR_FRESH_TOKEN_REQUIRED', location: 'headers' },
      { code: 'ERR_INSUFFICIENT_SCOPE', location: 'headers' },
    ])
  })

  it('reports a malformed header with reason malformed and the location it was found in', async () => {
    const { auth, of } = setup()
    await expect(auth.authenticate(view({ headers: { authorization: 'Basic x' } }))).rejects.toThrow()
    expect(of('verify.failed')).toEqual([
      { code: 'ERR_INVALID_TOKEN', reason: 'malformed', location: 'headers' },
    ])
  })

  it('reports verifyToken failures without a location', async () => {
    const { auth, of } = setup()
    await expect(auth.verifyToken('a.b.c')).rejects.toThrow()
    expect(of('verify.failed')).toEqual([{ code: 'ERR_INVALID_TOKEN', reason: 'malformed' }])
  })

  it('reports nothing for a success or an optional request without a token', async () => {
    const { auth, of } = setup()
    const token = await auth.createAccessToken({ uid: 'u1' })
    await auth.authenticate(view({ headers: { authorization: `Bearer ${token}` } }))
    expect(await auth.authenticate(view({}), { optional: true })).toBeNull()
    expect(of('verify.failed')).toEqual([])
  })
})

describe('security: events never carry a token', () => {
  it('no event data contains any part of any token', async () => {
    const { auth, log, advance } = setup({ refreshRotation: { reuseGraceSeconds: 1 } })
    const tokens: string[] = []
    const keep = <T extends string>(t: T) => {
      tokens.push(t)
      return t
    }
    const login = await auth.createTokenPair({ uid: 'u1', fresh: true, scopes: ['a'] })
    keep(login.accessToken)
    keep(login.refreshToken)
    const next = await auth.refresh(login.refreshToken)
    keep(next.accessToken)
    keep(next.refreshToken)
    keep((await auth.refresh(login.refreshToken)).refreshToken) // within grace
    advance(2000)
    await auth.refresh(login.refreshToken).catch(() => {}) // reuse
    const other = keep(await auth.createAccessToken({ uid: 'u2' }))
    await auth.revokeToken(other)
    await auth.revokeAllForSubject('u2')
    await auth.authenticate(view({ headers: { authorization: `Bearer ${other}` } })).catch(() => {})
    await auth.authenticate(view({ headers: { authorization: `Basic ${other}` } })).catch(() => {})
    await auth.verifyToken(`${other}x`).catch(() => {})
    await auth.verifyToken(other.replace(/\.[^.]+$/, '.AAAA')).catch(() => {})
    const cookieToken = keep(await auth.createAccessToken({ uid: 'u3' }))
    await auth
      .authenticate(
        view({
          method: 'POST',
          cookies: { access_token_cookie: cookieToken },
          headers: { 'x-csrf-token': 'x' },
        }),
      )
      .catch(() => {})

    expect(new Set(log.map((r) => r.event))).toEqual(new Set(EVENTS))
    for (const { data } of log) {
      const text = JSON.stringify(data)
      for (const token of tokens) {
        const [, payload, signature] = token.split('.')
        expect(text).not.toContain(payload)
        expect(text).not.toContain(signature)
        // No CSRF value either: it is a secret of the session.
        const csrf = claims(auth, token).csrf
        if (typeof csrf === 'string') expect(text).not.toContain(csrf)
      }
    }
  })
})

describe('listeners', () => {
  it('a throwing listener is reported with AUTHX_LISTENER_ERROR and changes no outcome', async () => {
    const warn = vi.spyOn(process, 'emitWarning').mockImplementation(() => {})
    const auth = new AuthX({ secretKey: SECRET })
    const after: AuthXEventName[] = []
    for (const event of EVENTS) {
      auth.on(event, () => {
        throw new Error(`listener for ${event} broke`)
      })
      auth.on(event, () => after.push(event))
    }
    const pair = await auth.createTokenPair({ uid: 'u1' })
    expect((await auth.verifyToken(pair.accessToken)).sub).toBe('u1')
    const next = await auth.refresh(pair.refreshToken)
    expect(next.tokenType).toBe('bearer')
    // Reuse still throws the reuse error (not the listener's), and the family is still revoked.
    await expect(auth.refresh(pair.refreshToken)).rejects.toBeInstanceOf(RefreshTokenReusedError)
    await expect(auth.verifyToken(next.accessToken)).rejects.toMatchObject({ code: 'ERR_TOKEN_REVOKED' })
    // A failed request still fails with its own error.
    await expect(auth.authenticate(view({}))).rejects.toMatchObject({ code: 'ERR_MISSING_TOKEN' })
    const token = await auth.createAccessToken({ uid: 'u2' })
    await auth.revokeToken(token)
    await expect(auth.verifyToken(token)).rejects.toMatchObject({ code: 'ERR_TOKEN_REVOKED' })
    await auth.revokeAllForSubject('u3')

    expect(new Set(after)).toEqual(new Set(EVENTS))
    expect(warn).toHaveBeenCalled()
    for (const call of warn.mock.calls) {
      expect(call[1]).toMatchObject({ code: 'AUTHX_LISTENER_ERROR' })
    }
    // One warning per throwing call.
    expect(warn).toHaveBeenCalledTimes(after.length)
  })

  it('a listener throwing a non-Error is reported too', async () => {
    const warn = vi.spyOn(process, 'emitWarning').mockImplementation(() => {})
    const auth = new AuthX({ secretKey: SECRET })
    auth.on('token.created', () => {
      throw 'plain string'
    })
    expect(typeof (await auth.createAccessToken({ uid: 'u1' }))).toBe('string')
    expect(warn).toHaveBeenCalledTimes(1)
    expect(warn.mock.calls[0]![1]).toMatchObject({ code: 'AUTHX_LISTENER_ERROR' })
  })

  it('off removes a listener, and leaves the others', async () => {
    const auth = new AuthX({ secretKey: SECRET })
    const removed = vi.fn()
    const kept = vi.fn()
    expect(auth.on('token.created', removed)).toBe(auth)
    auth.on('token.created', kept)
    await auth.createAccessToken({ uid: 'u1' })
    expect(auth.off('token.created', removed)).toBe(auth)
    await auth.createAccessToken({ uid: 'u1' })
    expect(removed).toHaveBeenCalledTimes(1)
    expect(kept).toHaveBeenCalledTimes(2)
  })

  it('off of a listener that was never added, or of another event, changes nothing', async () => {
    const auth = new AuthX({ secretKey: SECRET })
    const listener = vi.fn()
    auth.on('token.created', listener)
    auth.off('token.revoked', listener as never)
    auth.off('token.created', () => {})
    auth.off('verify.failed', () => {})
    await auth.createAccessToken({ uid: 'u1' })
    expect(listener).toHaveBeenCalledTimes(1)
  })

  it('on rejects a listener that is not a function', () => {
    const auth = new AuthX({ secretKey: SECRET })
    expect(() => auth.on('token.created', 'nope' as never)).toThrow(TypeError)
  })

  it('instances do not share listeners', async () => {
    const a = new AuthX({ secretKey: SECRET })
    const b = new AuthX({ secretKey: SECRET })
    const listener = vi.fn()
    a.on('token.created', listener)
    await b.createAccessToken({ uid: 'u1' })
    expect(listener).not.toHaveBeenCalled()
  })
})
