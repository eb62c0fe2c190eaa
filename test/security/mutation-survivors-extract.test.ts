/**
 * Token extraction behaviours pinned down by mutation testing (docs/security.md, "Mutation
 * testing"): header values of unusual shape from hand-written request views, the spacing of
 * `Bearer <token>`, a raw header scheme, the refresh CSRF form field, form and JSON readers
 * that fail or answer null, and requests without a method.
 */
import { describe, expect, it } from 'vitest'
import { type AuthXRequest, InvalidTokenError, MissingTokenError } from '../../src/index.js'
import { view } from '../support/requests.js'
import { hsAuth, rejection } from './forge.js'

const TOKEN = 'aaa.bbb.ccc'

/** A request view whose `Authorization` header answers `value`, whatever its type. */
function withAuthorization(value: unknown): AuthXRequest {
  return {
    ...view({}),
    header: (name) => (name.toLowerCase() === 'authorization' ? value : undefined) as never,
  }
}

describe('security: header values of unusual shape', () => {
  const auth = hsAuth({ tokenLocation: ['headers', 'query'] })

  it('treats a header answered as null like an absent one and goes on to the next location', async () => {
    expect(await auth.getTokenFromRequest(withAuthorization(null), { optional: true })).toBeNull()
    const err = await rejection(auth.getTokenFromRequest(withAuthorization(null)))
    expect(err).toBeInstanceOf(MissingTokenError)
  })

  it('refuses a header that is not a string (an array of values) as malformed, never with a TypeError', async () => {
    for (const value of [[`Bearer ${TOKEN}`], 42, { value: TOKEN }]) {
      const err = (await rejection(auth.getTokenFromRequest(withAuthorization(value)))) as InvalidTokenError
      expect(err).toBeInstanceOf(InvalidTokenError)
      expect(err.reason).toBe('malformed')
    }
  })

  it('accepts several spaces between the scheme and the token, and spaces around both', async () => {
    for (const value of [
      `Bearer  ${TOKEN}`,
      `Bearer   ${TOKEN}`,
      `  Bearer ${TOKEN}  `,
      `\tBearer ${TOKEN}\t`,
    ]) {
      const found = await auth.getTokenFromRequest(withAuthorization(value))
      expect(found?.token).toBe(TOKEN)
    }
  })

  it('with a raw header (type empty), refuses an empty value as malformed instead of returning no token', async () => {
    const raw = hsAuth({ header: { type: '' } })
    for (const value of ['', ' ', '\t']) {
      const err = (await rejection(raw.getTokenFromRequest(withAuthorization(value)))) as InvalidTokenError
      expect(err).toBeInstanceOf(InvalidTokenError)
      expect(err.reason).toBe('malformed')
    }
    expect((await raw.getTokenFromRequest(withAuthorization(TOKEN)))?.token).toBe(TOKEN)
  })
})

describe('security: the CSRF value of a cookie token', () => {
  const cookieAuth = (csrf: Record<string, unknown> = {}) =>
    hsAuth({
      tokenLocation: ['cookies'],
      csrf: { checkForm: true, accessFieldName: 'csrf_access', refreshFieldName: 'csrf_refresh', ...csrf },
    })
  const post = (cookie: string, form: (() => Promise<unknown>) | undefined): AuthXRequest => {
    const base = view({ method: 'POST', headers: { cookie } })
    return form === undefined ? base : { ...base, form: form as AuthXRequest['form'] }
  }

  it('reads a refresh token’s CSRF value from the refresh form field, not the access one', async () => {
    const auth = cookieAuth()
    const request = post('refresh_token_cookie=r.r.r', async () => ({ csrf_refresh: 'R', csrf_access: 'A' }))
    const found = await auth.getTokenFromRequest(request, { type: 'refresh' })
    expect(found?.csrf).toBe('R')
    const access = post('access_token_cookie=a.a.a', async () => ({ csrf_refresh: 'R', csrf_access: 'A' }))
    expect((await auth.getTokenFromRequest(access))?.csrf).toBe('A')
  })

  it('treats a form reader answering null or failing as no CSRF value, never crashing', async () => {
    const auth = cookieAuth()
    for (const form of [
      async () => null,
      async () => undefined,
      () => Promise.reject(new Error('bad body')),
    ]) {
      const found = await auth.getTokenFromRequest(post('access_token_cookie=a.a.a', form))
      expect(found?.token).toBe('a.a.a')
      expect(found?.csrfRequired).toBe(true)
      expect(found?.csrf).toBeUndefined()
    }
  })

  it('does not require CSRF for a request view without a method, and does not crash on it', async () => {
    const auth = cookieAuth()
    const request = {
      ...view({ headers: { cookie: 'access_token_cookie=a.a.a' } }),
      method: undefined as never,
    }
    const found = await auth.getTokenFromRequest(request)
    expect(found?.token).toBe('a.a.a')
    expect(found?.csrfRequired).toBe(false)
  })
})

describe('security: JSON body readers that fail', () => {
  it('treats a JSON reader that throws as a body without a token', async () => {
    const auth = hsAuth({ tokenLocation: ['json'] })
    const request = { ...view({ method: 'POST' }), json: () => Promise.reject(new Error('bad json')) }
    expect(await auth.getTokenFromRequest(request, { optional: true })).toBeNull()
    expect(await rejection(auth.getTokenFromRequest(request))).toBeInstanceOf(MissingTokenError)
  })
})
