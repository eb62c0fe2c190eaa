/**
 * Double-submit CSRF for cookie tokens (SPEC section 5; catalogue section H). The expected value
 * is the `csrf` claim inside the signed token; the client echoes it in a header (or a form field
 * with `checkForm`).
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { constantTimeEqual } from '../src/core/csrf.js'
import { AuthX, type AuthXOptions, CSRFError, MissingTokenError } from '../src/index.js'
import { anyUtf16, KINDS, type Spec, view, web } from './support/requests.js'

const SECRET = 'csrf-test-secret-0123456789abcdef-xyz'

function makeAuth(options: AuthXOptions = {}): AuthX {
  return new AuthX({ secretKey: SECRET, tokenLocation: ['headers', 'cookies', 'json', 'query'], ...options })
}

function csrfOf(auth: AuthX, token: string): string {
  return auth.decodeUnverified(token).payload.csrf as string
}

function cookieHeader(cookies: Record<string, string>): string {
  return Object.entries(cookies)
    .map(([k, v]) => `${k}=${v}`)
    .join('; ')
}

async function login(auth: AuthX, uid = 'victim') {
  const pair = await auth.createTokenPair({ uid })
  return {
    access: pair.accessToken,
    refresh: pair.refreshToken,
    accessCsrf: csrfOf(auth, pair.accessToken),
    refreshCsrf: csrfOf(auth, pair.refreshToken),
  }
}

const missing = { code: 'ERR_CSRF', status: 403, reason: 'missing' }
const mismatch = { code: 'ERR_CSRF', status: 403, reason: 'mismatch' }

describe.each(KINDS)('double-submit on cookie tokens (%s)', (_kind, make) => {
  const withCookie = (method: string, access: string, headers: Record<string, string> = {}) =>
    make({ method, headers: { cookie: `access_token_cookie=${access}`, ...headers } })

  it.each(['POST', 'PUT', 'PATCH', 'DELETE'])(
    'rejects %s without the CSRF header as missing, naming the header',
    async (method) => {
      const auth = makeAuth()
      const { access } = await login(auth)
      const err = await auth.authenticate(withCookie(method, access)).catch((e: unknown) => e)
      expect(err).toBeInstanceOf(CSRFError)
      expect(err).toMatchObject(missing)
      expect((err as CSRFError).message).toContain('X-CSRF-TOKEN')
    },
  )

  it.each(['POST', 'PUT', 'PATCH', 'DELETE'])('accepts %s with the matching CSRF header', async (method) => {
    const auth = makeAuth()
    const { access, accessCsrf } = await login(auth)
    const payload = await auth.authenticate(withCookie(method, access, { 'X-CSRF-TOKEN': accessCsrf }))
    expect(payload?.sub).toBe('victim')
    // Header names are case-insensitive.
    expect((await auth.authenticate(withCookie(method, access, { 'x-csrf-token': accessCsrf })))?.sub).toBe(
      'victim',
    )
  })

  it.each(['GET', 'HEAD', 'OPTIONS'])('lets %s through without the CSRF header (H03)', async (method) => {
    const auth = makeAuth()
    const { access } = await login(auth)
    expect((await auth.authenticate(withCookie(method, access)))?.sub).toBe('victim')
    expect(await auth.getTokenFromRequest(withCookie(method, access))).toMatchObject({ csrfRequired: false })
  })

  it('checks a method given in lower case', async () => {
    const auth = makeAuth()
    const { access } = await login(auth)
    const req = view({ method: 'post', headers: { cookie: `access_token_cookie=${access}` } })
    await expect(auth.authenticate(req)).rejects.toMatchObject(missing)
  })

  it('checks exactly the methods in csrf.methods', async () => {
    const auth = makeAuth({ csrf: { methods: ['post', 'GET'] } })
    const { access } = await login(auth)
    await expect(auth.authenticate(withCookie('GET', access))).rejects.toMatchObject(missing)
    await expect(auth.authenticate(withCookie('POST', access))).rejects.toMatchObject(missing)
    expect((await auth.authenticate(withCookie('DELETE', access)))?.sub).toBe('victim')
    expect((await auth.authenticate(withCookie('PUT', access)))?.sub).toBe('victim')
  })

  it('names a custom header in the missing error and reads only that header', async () => {
    const auth = makeAuth({ csrf: { accessHeaderName: 'X-XSRF' } })
    const { access, accessCsrf } = await login(auth)
    const err = await auth
      .authenticate(withCookie('POST', access, { 'X-CSRF-TOKEN': accessCsrf }))
      .catch((e: unknown) => e)
    expect(err).toMatchObject(missing)
    expect((err as CSRFError).message).toContain('X-XSRF')
    expect((await auth.authenticate(withCookie('POST', access, { 'x-xsrf': accessCsrf })))?.sub).toBe(
      'victim',
    )
  })

  it('rejects a mismatched header as mismatch (H02)', async () => {
    const auth = makeAuth()
    const { access, accessCsrf } = await login(auth)
    const other = await login(auth, 'victim')
    const values = [
      other.accessCsrf, // another session of the same user
      `${accessCsrf.slice(0, -1)}${accessCsrf.endsWith('0') ? '1' : '0'}`, // last character changed
      accessCsrf.slice(0, -1), // shorter
      `${accessCsrf}0`, // longer
      'x', // much shorter
      'x'.repeat(1000), // much longer
      accessCsrf.toUpperCase(),
    ]
    for (const value of values) {
      if (value === accessCsrf) continue
      await expect(
        auth.authenticate(withCookie('POST', access, { 'X-CSRF-TOKEN': value })),
      ).rejects.toMatchObject(mismatch)
    }
  })

  it('treats an empty header as missing, never as a crash', async () => {
    const auth = makeAuth()
    const { access } = await login(auth)
    await expect(auth.authenticate(withCookie('POST', access, { 'X-CSRF-TOKEN': '' }))).rejects.toMatchObject(
      missing,
    )
  })

  it('rejects a cookie token that carries no csrf claim, whatever header is sent', async () => {
    // Minted by an instance that does not use cookies: no csrf claim (same secret).
    const headerOnly = new AuthX({ secretKey: SECRET })
    const token = await headerOnly.createAccessToken({ uid: 'u1' })
    expect(headerOnly.decodeUnverified(token).payload.csrf).toBeUndefined()
    const auth = makeAuth()
    for (const value of ['x', 'undefined', 'null']) {
      await expect(
        auth.authenticate(withCookie('POST', token, { 'X-CSRF-TOKEN': value })),
      ).rejects.toMatchObject(mismatch)
    }
  })

  it('never applies to header, JSON or query tokens (H05)', async () => {
    const auth = makeAuth()
    const { access } = await login(auth)
    const header = make({ method: 'POST', headers: { authorization: `Bearer ${access}` } })
    expect((await auth.authenticate(header))?.sub).toBe('victim')
    expect(
      await auth.getTokenFromRequest(
        make({ method: 'DELETE', headers: { authorization: `Bearer ${access}` } }),
      ),
    ).toMatchObject({ location: 'headers', csrfRequired: false })
    const json = make({
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ access_token: access }),
    })
    expect((await auth.authenticate(json))?.sub).toBe('victim')
    const query = make({ method: 'PUT', url: `/api?token=${access}` })
    expect((await auth.authenticate(query))?.sub).toBe('victim')
  })

  it('applies exactly when the cookie is the location used, with both header and cookie present', async () => {
    const headerFirst = makeAuth({ tokenLocation: ['headers', 'cookies'] })
    const cookieFirst = makeAuth({ tokenLocation: ['cookies', 'headers'] })
    const { access } = await login(headerFirst)
    const spec = {
      method: 'POST',
      headers: { authorization: `Bearer ${access}`, cookie: `access_token_cookie=${access}` },
    }
    expect((await headerFirst.authenticate(make(spec)))?.sub).toBe('victim')
    await expect(cookieFirst.authenticate(make(spec))).rejects.toMatchObject(missing)
  })

  it('does not accept the access CSRF value for the refresh cookie', async () => {
    const auth = makeAuth()
    const { refresh, accessCsrf, refreshCsrf } = await login(auth)
    expect(accessCsrf).not.toBe(refreshCsrf)
    const post = (value: string) =>
      make({ method: 'POST', headers: { cookie: `refresh_token_cookie=${refresh}`, 'X-CSRF-TOKEN': value } })
    await expect(auth.authenticate(post(accessCsrf), { type: 'refresh' })).rejects.toMatchObject(mismatch)
    await expect(auth.refreshRequired(post(accessCsrf))).rejects.toMatchObject(mismatch)
    expect((await auth.refreshRequired(post(refreshCsrf))).type).toBe('refresh')
  })

  it('reads the refresh CSRF value from csrf.refreshHeaderName', async () => {
    const auth = makeAuth({ csrf: { refreshHeaderName: 'X-CSRF-REFRESH' } })
    const { refresh, refreshCsrf } = await login(auth)
    const post = (headers: Record<string, string>) =>
      make({ method: 'POST', headers: { cookie: `refresh_token_cookie=${refresh}`, ...headers } })
    const err = await auth.refreshRequired(post({ 'X-CSRF-TOKEN': refreshCsrf })).catch((e: unknown) => e)
    expect(err).toMatchObject(missing)
    expect((err as CSRFError).message).toContain('X-CSRF-REFRESH')
    expect((await auth.refreshRequired(post({ 'X-CSRF-REFRESH': refreshCsrf }))).sub).toBe('victim')
  })

  it('does not check anything with csrf.protect off', async () => {
    const auth = makeAuth({ csrf: { protect: false } })
    const { access } = await login(auth)
    expect(auth.decodeUnverified(access).payload.csrf).toBeUndefined()
    for (const method of ['POST', 'PUT', 'PATCH', 'DELETE']) {
      expect((await auth.authenticate(withCookie(method, access)))?.sub).toBe('victim')
    }
    expect(await auth.getTokenFromRequest(withCookie('POST', access))).toMatchObject({ csrfRequired: false })
  })

  it('does not check anything with the csrf: false authenticate option', async () => {
    const auth = makeAuth()
    const { access } = await login(auth)
    expect((await auth.authenticate(withCookie('POST', access), { csrf: false }))?.sub).toBe('victim')
    expect((await auth.tokenRequired({ csrf: false })(withCookie('DELETE', access))).sub).toBe('victim')
    expect(await auth.getTokenFromRequest(withCookie('POST', access), { csrf: false })).toMatchObject({
      csrfRequired: false,
    })
    // Without the option, the same request is refused.
    await expect(auth.authenticate(withCookie('POST', access))).rejects.toMatchObject(missing)
  })
})

describe('the checkForm option', () => {
  const urlencoded = (access: string, body: string, headers: Record<string, string> = {}): Spec => ({
    method: 'POST',
    headers: {
      cookie: `access_token_cookie=${access}`,
      'content-type': 'application/x-www-form-urlencoded',
      ...headers,
    },
    body,
  })

  it.each(KINDS)(
    'reads the form field of a urlencoded body when the header is absent (%s)',
    async (_k, make) => {
      const auth = makeAuth({ csrf: { checkForm: true } })
      const { access, accessCsrf } = await login(auth)
      expect((await auth.authenticate(make(urlencoded(access, `a=1&csrf_token=${accessCsrf}`))))?.sub).toBe(
        'victim',
      )
      await expect(auth.authenticate(make(urlencoded(access, 'csrf_token=wrong')))).rejects.toMatchObject(
        mismatch,
      )
      const err = await auth.authenticate(make(urlencoded(access, 'a=1'))).catch((e: unknown) => e)
      expect(err).toMatchObject(missing)
      // The message names both places the value may come from.
      expect((err as CSRFError).message).toContain('X-CSRF-TOKEN')
      expect((err as CSRFError).message).toContain('csrf_token')
    },
  )

  it.each(KINDS)('reads the form field of a multipart body (%s)', async (_k, make) => {
    const auth = makeAuth({ csrf: { checkForm: true } })
    const { access, accessCsrf } = await login(auth)
    const form = new FormData()
    form.set('csrf_token', accessCsrf)
    form.set('file', new Blob(['hello']), 'a.txt')
    const req = make({ method: 'POST', headers: { cookie: `access_token_cookie=${access}` }, body: form })
    expect((await auth.authenticate(req))?.sub).toBe('victim')
  })

  it('leaves a multipart body readable for the handler of a Web Request', async () => {
    const auth = makeAuth({ csrf: { checkForm: true } })
    const { access, accessCsrf } = await login(auth)
    const form = new FormData()
    form.set('csrf_token', accessCsrf)
    form.set('name', 'x')
    const req = web({ method: 'POST', headers: { cookie: `access_token_cookie=${access}` }, body: form })
    expect((await auth.authenticate(req))?.sub).toBe('victim')
    expect((await req.formData()).get('name')).toBe('x')
  })

  it('treats a file in the form field as no value', async () => {
    const auth = makeAuth({ csrf: { checkForm: true } })
    const { access, accessCsrf } = await login(auth)
    const form = new FormData()
    form.set('csrf_token', new Blob([accessCsrf]), 'csrf.txt')
    const req = web({ method: 'POST', headers: { cookie: `access_token_cookie=${access}` }, body: form })
    await expect(auth.authenticate(req)).rejects.toMatchObject(missing)
  })

  it('uses the header when present and does not read the form then', async () => {
    const auth = makeAuth({ csrf: { checkForm: true } })
    const { access, accessCsrf } = await login(auth)
    const good = view(urlencoded(access, 'csrf_token=wrong', { 'X-CSRF-TOKEN': accessCsrf }))
    expect((await auth.authenticate(good))?.sub).toBe('victim')
    expect(good.form).not.toHaveBeenCalled()
    const bad = view(urlencoded(access, `csrf_token=${accessCsrf}`, { 'X-CSRF-TOKEN': 'wrong' }))
    await expect(auth.authenticate(bad)).rejects.toMatchObject(mismatch)
    expect(bad.form).not.toHaveBeenCalled()
  })

  it('is off by default: the form field is ignored and never read', async () => {
    const auth = makeAuth()
    const { access, accessCsrf } = await login(auth)
    const req = view(urlencoded(access, `csrf_token=${accessCsrf}`))
    await expect(auth.authenticate(req)).rejects.toMatchObject(missing)
    expect(req.form).not.toHaveBeenCalled()
    await expect(
      auth.authenticate(web(urlencoded(access, `csrf_token=${accessCsrf}`))),
    ).rejects.toMatchObject(missing)
  })

  it('reads custom field names, per token type', async () => {
    const auth = makeAuth({ csrf: { checkForm: true, accessFieldName: '_csrf', refreshFieldName: '_rcsrf' } })
    const { access, refresh, accessCsrf, refreshCsrf } = await login(auth)
    expect((await auth.authenticate(web(urlencoded(access, `_csrf=${accessCsrf}`))))?.sub).toBe('victim')
    await expect(
      auth.authenticate(web(urlencoded(access, `csrf_token=${accessCsrf}`))),
    ).rejects.toMatchObject(missing)
    const refreshReq = web({
      method: 'POST',
      headers: {
        cookie: `refresh_token_cookie=${refresh}`,
        'content-type': 'application/x-www-form-urlencoded',
      },
      body: `_csrf=${refreshCsrf}&_rcsrf=${refreshCsrf}`,
    })
    expect((await auth.refreshRequired(refreshReq)).type).toBe('refresh')
  })

  it('does not take the CSRF value from a JSON body', async () => {
    const auth = makeAuth({ csrf: { checkForm: true } })
    const { access, accessCsrf } = await login(auth)
    const req = web({
      method: 'POST',
      headers: { cookie: `access_token_cookie=${access}`, 'content-type': 'application/json' },
      body: JSON.stringify({ csrf_token: accessCsrf }),
    })
    await expect(auth.authenticate(req)).rejects.toMatchObject(missing)
  })

  it('does not read the form of a GET request', async () => {
    const auth = makeAuth({ csrf: { checkForm: true } })
    const { access } = await login(auth)
    const req = view({ method: 'GET', headers: { cookie: `access_token_cookie=${access}` } })
    expect((await auth.authenticate(req))?.sub).toBe('victim')
    expect(req.form).not.toHaveBeenCalled()
  })

  it('treats a form() that throws as no value', async () => {
    const auth = makeAuth({ csrf: { checkForm: true } })
    const { access } = await login(auth)
    const req = view({ method: 'POST', headers: { cookie: `access_token_cookie=${access}` } })
    req.form.mockRejectedValue(new Error('broken body'))
    await expect(auth.authenticate(req)).rejects.toMatchObject(missing)
  })
})

describe('security: method override (H04)', () => {
  it.each(KINDS)('X-HTTP-Method-Override and _method cannot turn POST into GET (%s)', async (_k, make) => {
    const auth = makeAuth({ csrf: { checkForm: true } })
    const { access } = await login(auth)
    const overrides: Spec[] = [
      { headers: { 'X-HTTP-Method-Override': 'GET' } },
      { headers: { 'X-HTTP-Method': 'GET' } },
      { headers: { 'X-Method-Override': 'GET' } },
      { url: '/api?_method=GET' },
      { headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: '_method=GET' },
    ]
    for (const override of overrides) {
      const req = make({
        method: 'POST',
        ...override,
        headers: { cookie: `access_token_cookie=${access}`, ...override.headers },
      })
      await expect(auth.authenticate(req)).rejects.toMatchObject(missing)
    }
  })
})

describe('security: cookie tossing and forged CSRF cookies (H06)', () => {
  it.each(KINDS)(
    "rejects the attacker's own csrf cookie and header with the victim's access cookie (%s)",
    async (_k, make) => {
      const auth = makeAuth()
      const victim = await login(auth, 'victim')
      const attacker = await login(auth, 'attacker')
      const req = make({
        method: 'POST',
        headers: {
          cookie: cookieHeader({
            access_token_cookie: victim.access,
            csrf_access_token: attacker.accessCsrf,
          }),
          'X-CSRF-TOKEN': attacker.accessCsrf,
        },
      })
      await expect(auth.authenticate(req)).rejects.toMatchObject(mismatch)
    },
  )

  it.each(KINDS)('rejects a made-up csrf cookie echoed in the header (%s)', async (_k, make) => {
    const auth = makeAuth()
    const victim = await login(auth)
    const req = make({
      method: 'POST',
      headers: {
        cookie: cookieHeader({ access_token_cookie: victim.access, csrf_access_token: 'chosen' }),
        'X-CSRF-TOKEN': 'chosen',
      },
    })
    await expect(auth.authenticate(req)).rejects.toMatchObject(mismatch)
  })

  it.each(KINDS)('never takes the value from the csrf cookie itself (%s)', async (_k, make) => {
    const auth = makeAuth()
    const victim = await login(auth)
    const req = make({
      method: 'POST',
      headers: {
        cookie: cookieHeader({ access_token_cookie: victim.access, csrf_access_token: victim.accessCsrf }),
      },
    })
    await expect(auth.authenticate(req)).rejects.toMatchObject(missing)
  })

  it('rejects every header value that differs from the claim, never with another error', async () => {
    const auth = makeAuth()
    const { access, accessCsrf } = await login(auth)
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.string({ minLength: 1 }),
          fc.string({ minLength: 1 }).map((s) => accessCsrf + s),
          fc.nat({ max: accessCsrf.length - 1 }).map((n) => accessCsrf.slice(0, n) || 'x'),
        ),
        async (value) => {
          fc.pre(value !== accessCsrf)
          const req = view({
            method: 'POST',
            headers: { cookie: `access_token_cookie=${access}`, 'X-CSRF-TOKEN': value },
          })
          const err = await auth.authenticate(req).catch((e: unknown) => e)
          expect(err).toBeInstanceOf(CSRFError)
          expect(err).toMatchObject(mismatch)
        },
      ),
      { numRuns: 200 },
    )
  })
})

describe('constantTimeEqual', () => {
  it('equals a === b for any two strings', () => {
    fc.assert(
      fc.property(
        anyUtf16(64).chain((a) => fc.tuple(fc.constant(a), fc.oneof(fc.constant(a), anyUtf16(64)))),
        ([a, b]) => constantTimeEqual(a, b) === (a === b),
      ),
      { numRuns: 500 },
    )
  })

  it('is true for a string and its copy, false after any one change', () => {
    fc.assert(
      fc.property(
        fc.string({ minLength: 1 }),
        fc.nat(),
        fc.integer({ min: 1, max: 0xffff }),
        (a, index, delta) => {
          expect(constantTimeEqual(a, `${a}`)).toBe(true)
          const i = index % a.length
          const changed =
            a.slice(0, i) + String.fromCharCode((a.charCodeAt(i) + delta) % 0x10000) + a.slice(i + 1)
          expect(constantTimeEqual(a, changed)).toBe(false)
          expect(constantTimeEqual(changed, a)).toBe(false)
        },
      ),
    )
  })

  it('is false for a prefix or an extension, in either order, and never throws', () => {
    fc.assert(
      fc.property(fc.string(), fc.string({ minLength: 1 }), (a, extra) => {
        expect(constantTimeEqual(a, a + extra)).toBe(false)
        expect(constantTimeEqual(a + extra, a)).toBe(false)
      }),
    )
    expect(constantTimeEqual('', '')).toBe(true)
    expect(constantTimeEqual('', 'a')).toBe(false)
    expect(constantTimeEqual('a', '')).toBe(false)
  })
})

describe('a missing cookie is not a CSRF failure', () => {
  it('answers MissingTokenError for a POST without any token', async () => {
    const auth = makeAuth({ tokenLocation: ['cookies'] })
    await expect(
      auth.authenticate(view({ method: 'POST', headers: { 'X-CSRF-TOKEN': 'x' } })),
    ).rejects.toBeInstanceOf(MissingTokenError)
  })
})
