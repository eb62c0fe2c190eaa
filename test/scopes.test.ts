import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  AuthX,
  hasAllScopes,
  hasSomeScope,
  InsufficientScopeError,
  scopeGrants,
  TokenPayload,
} from '../src/index.js'

const SECRET = 'x'.repeat(32)

function payloadWith(scopes: unknown): TokenPayload {
  return new TokenPayload({ sub: 'u1', jti: 'j1', iat: 1, type: 'access', scopes })
}

describe('scopeGrants', () => {
  it.each([
    ['users:read', 'users:read'],
    ['admin', 'admin'],
    ['admin:*', 'admin'],
    ['admin:*', 'admin:users'],
    ['admin:*', 'admin:users:edit'],
    ['admin:*', 'admin:*'],
    ['admin:users:*', 'admin:users'],
    ['admin:users:*', 'admin:users:edit'],
    ['a:*', 'a:'],
    ['*', '*'],
  ])('held %j grants required %j', (held, required) => {
    expect(scopeGrants(held, required)).toBe(true)
  })

  it.each([
    ['admin:*', 'administrator'],
    ['admin:*', 'adminx'],
    ['admin:*', 'ADMIN'],
    ['admin:*', 'Admin:users'],
    ['admin:*', 'admin*'],
    ['admin:*', 'xadmin:users'],
    ['admin:*', ''],
    ['admin:users:*', 'admin'],
    ['admin:users:*', 'admin:usersx'],
    ['admin:users:*', 'admin:other'],
    ['*', 'admin'],
    ['*', ''],
    ['*', 'anything:at:all'],
    [':*', ''],
    [':*', ':x'],
    [':*', 'x'],
    [':*', ':'],
    ['admin:*:x', 'admin:y:x'],
    ['admin:*:x', 'admin:users:x'],
    ['admin:*:x', 'admin'],
    ['admin:*:x', 'admin:*'],
    ['admin:users', 'admin:*'],
    ['admin', 'admin:*'],
    ['admin', 'admin:users'],
    ['users:read', 'USERS:READ'],
    ['Users:Read', 'users:read'],
    ['admin*', 'admin:users'],
    ['admin:', 'admin:users'],
    ['', 'x'],
  ])('held %j does not grant required %j', (held, required) => {
    expect(scopeGrants(held, required)).toBe(false)
  })

  it('lets admin:*:x grant itself, by equality only', () => {
    expect(scopeGrants('admin:*:x', 'admin:*:x')).toBe(true)
  })

  it('never treats the required scope as a pattern', () => {
    expect(scopeGrants('admin:users', 'admin:*')).toBe(false)
    expect(scopeGrants('admin', 'admin:*')).toBe(false)
    expect(scopeGrants('anything', '*')).toBe(false)
    expect(scopeGrants('admin:*', 'admin:*')).toBe(true)
  })

  it('is exactly equality for any held scope that does not end in :*', () => {
    const unit = fc.constantFrom('a', 'b', 'A', ':', '*', '.', ' ')
    const scope = fc.string({ unit, maxLength: 8 })
    const pairs = fc.oneof(
      fc.tuple(scope, scope),
      scope.map((s) => [s, s] as [string, string]),
      fc.tuple(scope, scope).map(([h, suffix]) => [h, `${h}:${suffix}`] as [string, string]),
      fc.tuple(scope, scope).map(([h, suffix]) => [h, `${h}${suffix}`] as [string, string]),
      fc.tuple(scope, scope).map(([r, suffix]) => [`${r}:${suffix}`, r] as [string, string]),
    )
    fc.assert(
      fc.property(pairs, ([held, required]) => {
        fc.pre(!held.endsWith(':*'))
        expect(scopeGrants(held, required)).toBe(held === required)
      }),
      { numRuns: 2000 },
    )
    fc.assert(
      fc.property(fc.string(), fc.string(), (held, required) => {
        fc.pre(!held.endsWith(':*'))
        expect(scopeGrants(held, required)).toBe(held === required)
      }),
      { numRuns: 1000 },
    )
  })

  it('for a held p:* with a non-empty prefix, grants exactly p and everything under p:', () => {
    const unit = fc.constantFrom('a', 'b', 'A', ':', '*')
    const scope = fc.string({ unit, maxLength: 6 })
    const pairs = fc.oneof(
      fc.tuple(scope, scope),
      fc.tuple(scope, scope).map(([p, s]) => [p, `${p}:${s}`] as [string, string]),
      fc.tuple(scope, scope).map(([p, s]) => [p, `${p}${s}`] as [string, string]),
      scope.map((p) => [p, p] as [string, string]),
    )
    fc.assert(
      fc.property(pairs, ([prefix, required]) => {
        fc.pre(prefix.length > 0)
        expect(scopeGrants(`${prefix}:*`, required)).toBe(
          required === prefix || required.startsWith(`${prefix}:`),
        )
      }),
      { numRuns: 2000 },
    )
  })
})

describe('hasAllScopes and hasSomeScope', () => {
  it('requires every scope for hasAllScopes', () => {
    expect(hasAllScopes(['users:read', 'admin:*'], ['users:read', 'admin:users'])).toBe(true)
    expect(hasAllScopes(['users:read'], ['users:read', 'users:write'])).toBe(false)
    expect(hasAllScopes(['admin:*'], ['admin', 'admin:a:b'])).toBe(true)
    expect(hasAllScopes(['admin:*'], ['admin', 'administrator'])).toBe(false)
  })

  it('is true for no required scope, whatever is held', () => {
    expect(hasAllScopes([], [])).toBe(true)
    expect(hasAllScopes(undefined, [])).toBe(true)
  })

  it('grants nothing from undefined or empty held scopes', () => {
    expect(hasAllScopes(undefined, ['a'])).toBe(false)
    expect(hasAllScopes([], ['a'])).toBe(false)
    expect(hasSomeScope(undefined, ['a'])).toBe(false)
    expect(hasSomeScope([], ['a'])).toBe(false)
  })

  it('requires at least one scope for hasSomeScope', () => {
    expect(hasSomeScope(['users:read'], ['admin', 'users:read'])).toBe(true)
    expect(hasSomeScope(['admin:*'], ['nope', 'admin:x'])).toBe(true)
    expect(hasSomeScope(['users:read'], ['admin', 'users:write'])).toBe(false)
  })

  it('is false for no required scope with hasSomeScope', () => {
    expect(hasSomeScope(['a'], [])).toBe(false)
    expect(hasSomeScope(undefined, [])).toBe(false)
  })
})

describe('payload.hasScopes and payload.hasAnyScope', () => {
  const p = payloadWith(['users:read', 'admin:*'])

  it('apply the same matching rule', () => {
    expect(p.hasScopes('users:read')).toBe(true)
    expect(p.hasScopes('admin', 'admin:users', 'admin:users:edit')).toBe(true)
    expect(p.hasScopes('users:read', 'administrator')).toBe(false)
    expect(p.hasScopes('ADMIN')).toBe(false)
    expect(p.hasScopes('users:*')).toBe(false)
    expect(p.hasAnyScope('nope', 'admin:x')).toBe(true)
    expect(p.hasAnyScope('nope', 'adminx')).toBe(false)
  })

  it('return true from hasScopes() and false from hasAnyScope() with no argument', () => {
    expect(p.hasScopes()).toBe(true)
    expect(p.hasAnyScope()).toBe(false)
    expect(payloadWith(undefined).hasScopes()).toBe(true)
    expect(payloadWith(undefined).hasAnyScope()).toBe(false)
  })

  it('grant nothing when the token has no scopes claim', () => {
    const none = payloadWith(undefined)
    expect(none.hasScopes('a')).toBe(false)
    expect(none.hasAnyScope('a')).toBe(false)
  })
})

describe('verifyToken with scopes', () => {
  const auth = new AuthX({ secretKey: SECRET })

  it('accepts a token holding every required scope', async () => {
    const token = await auth.createAccessToken({ uid: 'u1', scopes: ['users:read', 'admin:*'] })
    const p = await auth.verifyToken(token, { scopes: ['users:read', 'admin:users:edit'] })
    expect(p.sub).toBe('u1')
  })

  it('refuses a token missing one required scope with InsufficientScopeError 403, required and provided', async () => {
    const token = await auth.createAccessToken({ uid: 'u1', scopes: ['users:read', 'admin:*'] })
    const err = await auth.verifyToken(token, { scopes: ['users:read', 'billing'] }).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(InsufficientScopeError)
    expect(err).toMatchObject({ code: 'ERR_INSUFFICIENT_SCOPE', status: 403 })
    const scopeErr = err as InsufficientScopeError
    expect(scopeErr.required).toEqual(['users:read', 'billing'])
    expect(scopeErr.provided).toEqual(['users:read', 'admin:*'])
    expect(scopeErr.toJSON()).toMatchObject({
      code: 'ERR_INSUFFICIENT_SCOPE',
      required: ['users:read', 'billing'],
      provided: ['users:read', 'admin:*'],
    })
  })

  it('reports provided as [] for a token without scopes', async () => {
    const token = await auth.createAccessToken({ uid: 'u1' })
    await expect(auth.verifyToken(token, { scopes: ['a'] })).rejects.toMatchObject({
      code: 'ERR_INSUFFICIENT_SCOPE',
      status: 403,
      required: ['a'],
      provided: [],
    })
  })

  it('accepts any one scope with anyScope', async () => {
    const token = await auth.createAccessToken({ uid: 'u1', scopes: ['users:read'] })
    expect((await auth.verifyToken(token, { scopes: ['admin', 'users:read'], anyScope: true })).sub).toBe(
      'u1',
    )
    await expect(auth.verifyToken(token, { scopes: ['admin', 'users:read'] })).rejects.toBeInstanceOf(
      InsufficientScopeError,
    )
    await expect(
      auth.verifyToken(token, { scopes: ['admin', 'billing'], anyScope: true }),
    ).rejects.toMatchObject({ code: 'ERR_INSUFFICIENT_SCOPE', status: 403, provided: ['users:read'] })
  })

  it('requires nothing for an empty scopes list', async () => {
    const token = await auth.createAccessToken({ uid: 'u1' })
    expect((await auth.verifyToken(token, { scopes: [] })).sub).toBe('u1')
  })

  it('checks scopes on refresh tokens too', async () => {
    const token = await auth.createRefreshToken({ uid: 'u1', scopes: ['a'] })
    await expect(auth.verifyToken(token, { type: 'refresh', scopes: ['b'] })).rejects.toBeInstanceOf(
      InsufficientScopeError,
    )
  })
})

describe('security: scope escalation', () => {
  const auth = new AuthX({ secretKey: SECRET })

  it.each([
    [['admin:*'], 'administrator'],
    [['admin:*'], 'adminx'],
    [['admin:*'], 'ADMIN'],
    [['*'], 'admin'],
    [[':*'], ':x'],
    [['admin:users'], 'admin:*'],
    [['admin:*:x'], 'admin:y:x'],
  ])('a token holding %j is refused the scope %j', async (held, required) => {
    const token = await auth.createAccessToken({ uid: 'u1', scopes: held })
    await expect(auth.verifyToken(token, { scopes: [required] })).rejects.toMatchObject({
      code: 'ERR_INSUFFICIENT_SCOPE',
      status: 403,
    })
    await expect(auth.verifyToken(token, { scopes: [required], anyScope: true })).rejects.toBeInstanceOf(
      InsufficientScopeError,
    )
  })

  it('a scopes claim that is not an array of strings grants nothing', () => {
    expect(payloadWith('admin:*').hasScopes('admin')).toBe(false)
    expect(payloadWith(['admin:*', 5]).hasAnyScope('admin')).toBe(false)
    expect(payloadWith({ 0: 'admin' }).hasAnyScope('admin')).toBe(false)
  })
})
