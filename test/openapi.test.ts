/**
 * `auth.openapi()` (docs/openapi.md): OpenAPI 3.1 security schemes and requirements from the
 * instance's configuration. Besides the shapes, every requirement is turned back into a real
 * request that the instance's own `authenticate` must accept, so the document cannot describe
 * a location the guards do not read; and the documents of the worked examples are checked by an
 * OpenAPI 3.1 validator (shown to reject a broken one).
 */
import swagger from '@fastify/swagger'
import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi'
import { Validator } from '@seriousme/openapi-schema-validator'
import Fastify from 'fastify'
import { describe, expect, it } from 'vitest'
import { fastifyAuthX } from '../src/adapters/fastify.js'
import { honoAuthX } from '../src/adapters/hono.js'
import {
  AuthX,
  type AuthXOptions,
  type OpenAPIOptions,
  type OpenAPISecurity,
  type OpenAPISecurityRequirement,
  type OpenAPISecurityScheme,
  type TokenType,
} from '../src/index.js'

const SECRET = 'openapi-test-secret-0123456789abcdef-xyz'
const STABLE_NAMES = [
  'authxBearer',
  'authxHeader',
  'authxAccessCookie',
  'authxRefreshCookie',
  'authxCsrf',
  'authxRefreshCsrf',
  'authxQuery',
]

function makeAuth(options: AuthXOptions = {}): AuthX {
  return new AuthX({ secretKey: SECRET, ...options })
}

/** The configurations the tests walk through: every location, alone and together, and renamed. */
const CONFIGS: Record<string, AuthXOptions> = {
  'headers only (default)': {},
  'custom header name': { header: { name: 'X-Access-Token', type: 'Bearer' } },
  'raw header (type empty)': { header: { name: 'X-Access-Token', type: '' } },
  'Authorization with another type': { header: { type: 'JWT' } },
  'cookies with CSRF': { tokenLocation: ['cookies'] },
  'cookies without CSRF': { tokenLocation: ['cookies'], csrf: { protect: false } },
  'cookies, CSRF on no method': { tokenLocation: ['cookies'], csrf: { methods: [] } },
  'custom cookie and CSRF names': {
    tokenLocation: ['cookies'],
    cookies: { accessName: 'at', refreshName: 'rt', refreshPath: '/auth/refresh' },
    csrf: { accessHeaderName: 'X-XSRF', refreshHeaderName: 'X-XSRF-REFRESH', inCookies: false },
  },
  query: { tokenLocation: ['query'], query: { name: 'jwt' } },
  'json only': { tokenLocation: ['json'] },
  'all four, mixed order': { tokenLocation: ['query', 'cookies', 'json', 'headers'] },
}

/** A request that carries `token` the way `requirement` says, for `method`. */
function requestFor(
  requirement: OpenAPISecurityRequirement,
  schemes: OpenAPISecurity['securitySchemes'],
  token: string,
  csrf: string | undefined,
  method: string,
): Request {
  const url = new URL('https://api.test/api/things')
  const headers = new Headers()
  for (const name of Object.keys(requirement)) {
    const scheme = (schemes as Record<string, OpenAPISecurityScheme | undefined>)[name]
    if (scheme === undefined) throw new Error(`requirement names ${name}, which is not in securitySchemes`)
    if (scheme.type === 'http') {
      headers.set('authorization', `Bearer ${token}`)
    } else if (name === 'authxCsrf' || name === 'authxRefreshCsrf') {
      headers.set(scheme.name, csrf ?? '')
    } else if (scheme.in === 'header') {
      // The description says what goes in the header: `<type> <token>`, or the token alone.
      const prefix = /: `[^`:]+: (\S+) <token>`/.exec(scheme.description)?.[1]
      headers.set(scheme.name, prefix === undefined ? token : `${prefix} ${token}`)
    } else if (scheme.in === 'cookie') {
      headers.append('cookie', `${scheme.name}=${token}`)
    } else {
      url.searchParams.set(scheme.name, token)
    }
  }
  return new Request(url, { method, headers })
}

describe('auth.openapi(): the schemes of each configuration', () => {
  it('the default instance (Authorization: Bearer) is the http bearer scheme with bearerFormat JWT', () => {
    const { securitySchemes, security } = makeAuth().openapi()
    expect(securitySchemes).toEqual({
      authxBearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT', description: expect.any(String) },
    })
    expect(security).toEqual([{ authxBearer: [] }])
  })

  it('the bearer scheme is recognised without regard to case, as authx reads the header', () => {
    const auth = makeAuth({ header: { name: 'authorization', type: 'bearer' } })
    expect(Object.keys(auth.openapi().securitySchemes)).toEqual(['authxBearer'])
  })

  it('another header name is an apiKey header scheme named authxHeader with that name', () => {
    const { securitySchemes, security } = makeAuth(CONFIGS['custom header name']).openapi()
    expect(securitySchemes).toEqual({
      authxHeader: { type: 'apiKey', in: 'header', name: 'X-Access-Token', description: expect.any(String) },
    })
    expect(securitySchemes.authxHeader?.description).toContain('X-Access-Token: Bearer <token>')
    expect(security).toEqual([{ authxHeader: [] }])
  })

  it('a header without a type says the value is the token alone', () => {
    const scheme = makeAuth(CONFIGS['raw header (type empty)']).openapi().securitySchemes.authxHeader
    expect(scheme).toMatchObject({ type: 'apiKey', in: 'header', name: 'X-Access-Token' })
    expect(scheme?.description).toContain('X-Access-Token: <token>')
  })

  it('Authorization with another type than Bearer is not http bearer (that would tell clients to send Bearer)', () => {
    const { securitySchemes } = makeAuth(CONFIGS['Authorization with another type']).openapi()
    expect(securitySchemes.authxBearer).toBeUndefined()
    expect(securitySchemes.authxHeader).toMatchObject({ type: 'apiKey', in: 'header', name: 'Authorization' })
    expect(securitySchemes.authxHeader?.description).toContain('Authorization: JWT <token>')
  })

  it('cookies give the access and refresh cookie schemes and, with CSRF on, the CSRF header scheme', () => {
    const { securitySchemes, security } = makeAuth(CONFIGS['cookies with CSRF']).openapi()
    expect(securitySchemes).toEqual({
      authxAccessCookie: {
        type: 'apiKey',
        in: 'cookie',
        name: 'access_token_cookie',
        description: expect.any(String),
      },
      authxRefreshCookie: {
        type: 'apiKey',
        in: 'cookie',
        name: 'refresh_token_cookie',
        description: expect.any(String),
      },
      authxCsrf: { type: 'apiKey', in: 'header', name: 'X-CSRF-TOKEN', description: expect.any(String) },
    })
    expect(securitySchemes.authxCsrf?.description).toContain('csrf_access_token')
    // Cookie AND CSRF header: one requirement object.
    expect(security).toEqual([{ authxAccessCookie: [], authxCsrf: [] }])
  })

  it('cookies without CSRF protection have no CSRF scheme and a cookie requirement alone', () => {
    const { securitySchemes, security } = makeAuth(CONFIGS['cookies without CSRF']).openapi()
    expect(Object.keys(securitySchemes)).toEqual(['authxAccessCookie', 'authxRefreshCookie'])
    expect(security).toEqual([{ authxAccessCookie: [] }])
  })

  it('CSRF protection on no method at all lists no CSRF scheme', () => {
    const { securitySchemes, security } = makeAuth(CONFIGS['cookies, CSRF on no method']).openapi()
    expect(securitySchemes.authxCsrf).toBeUndefined()
    expect(security).toEqual([{ authxAccessCookie: [] }])
  })

  it('custom cookie names and CSRF header names are the ones in the schemes; a separate refresh CSRF header is authxRefreshCsrf', () => {
    const auth = makeAuth(CONFIGS['custom cookie and CSRF names'])
    const { securitySchemes } = auth.openapi()
    expect(securitySchemes.authxAccessCookie?.name).toBe('at')
    expect(securitySchemes.authxRefreshCookie?.name).toBe('rt')
    expect(securitySchemes.authxRefreshCookie?.description).toContain('/auth/refresh')
    expect(securitySchemes.authxCsrf?.name).toBe('X-XSRF')
    expect(securitySchemes.authxRefreshCsrf?.name).toBe('X-XSRF-REFRESH')
    // No CSRF cookie (inCookies: false): the description does not send the page looking for one.
    expect(securitySchemes.authxCsrf?.description).not.toContain('csrf_access_token')
    expect(auth.openapi().security).toEqual([{ authxAccessCookie: [], authxCsrf: [] }])
    expect(auth.openapi({ type: 'refresh' }).security).toEqual([
      { authxRefreshCookie: [], authxRefreshCsrf: [] },
    ])
  })

  it('one CSRF header for both types is one authxCsrf scheme, used by both cookies', () => {
    const auth = makeAuth({ tokenLocation: ['cookies'], csrf: { refreshHeaderName: 'x-csrf-token' } })
    expect(auth.openapi().securitySchemes.authxRefreshCsrf).toBeUndefined()
    expect(auth.openapi({ type: 'refresh' }).security).toEqual([{ authxRefreshCookie: [], authxCsrf: [] }])
  })

  it('the query location is an apiKey query scheme with the configured name, for access tokens only', () => {
    const auth = makeAuth(CONFIGS.query)
    expect(auth.openapi().securitySchemes).toEqual({
      authxQuery: { type: 'apiKey', in: 'query', name: 'jwt', description: expect.any(String) },
    })
    expect(auth.openapi().security).toEqual([{ authxQuery: [] }])
    expect(auth.openapi({ type: 'refresh' }).security).toEqual([])
  })

  it('the JSON body has no scheme: a json-only instance has none and no requirement', () => {
    expect(makeAuth(CONFIGS['json only']).openapi()).toEqual({ securitySchemes: {}, security: [] })
  })

  it('requirements follow tokenLocation order, json left out', () => {
    const auth = makeAuth(CONFIGS['all four, mixed order'])
    expect(auth.openapi().security).toEqual([
      { authxQuery: [] },
      { authxAccessCookie: [], authxCsrf: [] },
      { authxBearer: [] },
    ])
    expect(Object.keys(auth.openapi().securitySchemes)).toEqual([
      'authxQuery',
      'authxAccessCookie',
      'authxRefreshCookie',
      'authxCsrf',
      'authxBearer',
    ])
  })

  it('every configuration uses stable names only, and every requirement names a listed scheme', () => {
    for (const [label, options] of Object.entries(CONFIGS)) {
      const auth = makeAuth(options)
      for (const call of [{}, { type: 'refresh' }, { optional: true }] as OpenAPIOptions[]) {
        const { securitySchemes, security } = auth.openapi(call)
        for (const name of Object.keys(securitySchemes)) expect(STABLE_NAMES, label).toContain(name)
        for (const requirement of security) {
          for (const name of Object.keys(requirement))
            expect(Object.keys(securitySchemes), label).toContain(name)
        }
      }
    }
  })

  it('securitySchemes do not depend on the options, so one registration serves every route', () => {
    const auth = makeAuth(CONFIGS['all four, mixed order'])
    const base = auth.openapi().securitySchemes
    for (const call of [
      { scopes: ['a'] },
      { type: 'refresh' },
      { locations: ['headers'] },
      { method: 'GET' },
      { csrf: false },
      { optional: true },
    ] as OpenAPIOptions[]) {
      expect(auth.openapi(call).securitySchemes).toEqual(base)
    }
  })

  it('every scheme has a description, and nothing in the result is secret', async () => {
    for (const options of Object.values(CONFIGS)) {
      const auth = makeAuth(options)
      const token = await auth.createAccessToken({ uid: 'user123' })
      const text = JSON.stringify(auth.openapi({ scopes: ['admin:*'] }))
      expect(text).not.toContain(SECRET)
      expect(text).not.toContain(token)
      for (const scheme of Object.values(auth.openapi().securitySchemes)) {
        expect(scheme.description.length).toBeGreaterThan(20)
      }
    }
  })

  it('each call returns fresh objects: changing one result does not change the next', () => {
    const auth = makeAuth({ tokenLocation: ['headers', 'cookies'] })
    const first = auth.openapi({ scopes: ['a'] })
    first.security[0]?.authxBearer?.push('admin:*')
    ;(first.securitySchemes.authxAccessCookie as { name: string }).name = 'changed'
    const second = auth.openapi({ scopes: ['a'] })
    expect(second.security[0]).toEqual({ authxBearer: ['a'] })
    expect(second.securitySchemes.authxAccessCookie?.name).toBe('access_token_cookie')
    // Nor the caller's scopes, nor the other requirements of the same result.
    const scopes = ['users:read']
    const third = auth.openapi({ scopes })
    third.security[0]?.authxBearer?.push('admin:*')
    expect(scopes).toEqual(['users:read'])
    expect(third.security[1]).toEqual({ authxAccessCookie: ['users:read'], authxCsrf: [] })
  })
})

describe('auth.openapi(options): the requirements of a route', () => {
  const auth = makeAuth({ tokenLocation: ['headers', 'cookies', 'query'] })

  it('scopes go into the array of every token scheme; the CSRF scheme holds none', () => {
    expect(auth.openapi({ scopes: ['admin:*', 'users:write'] }).security).toEqual([
      { authxBearer: ['admin:*', 'users:write'] },
      { authxAccessCookie: ['admin:*', 'users:write'], authxCsrf: [] },
      { authxQuery: ['admin:*', 'users:write'] },
    ])
  })

  it('the CSRF header goes with the cookie only on methods in csrf.methods, in any case', () => {
    expect(auth.openapi({ method: 'GET' }).security[1]).toEqual({ authxAccessCookie: [] })
    expect(auth.openapi({ method: 'delete' }).security[1]).toEqual({ authxAccessCookie: [], authxCsrf: [] })
    const custom = makeAuth({ tokenLocation: ['cookies'], csrf: { methods: ['GET'] } })
    expect(custom.openapi({ method: 'GET' }).security).toEqual([{ authxAccessCookie: [], authxCsrf: [] }])
    expect(custom.openapi({ method: 'POST' }).security).toEqual([{ authxAccessCookie: [] }])
  })

  it('csrf: false (a guard that turns the check off) leaves the cookie alone', () => {
    expect(auth.openapi({ csrf: false }).security[1]).toEqual({ authxAccessCookie: [] })
  })

  it("type 'refresh' names the refresh cookie and never the query string", () => {
    expect(auth.openapi({ type: 'refresh', scopes: ['s'] }).security).toEqual([
      { authxBearer: ['s'] },
      { authxRefreshCookie: ['s'], authxCsrf: [] },
    ])
  })

  it('locations narrow the requirements to what the guard reads, in the given order', () => {
    expect(auth.openapi({ locations: ['query', 'headers'] }).security).toEqual([
      { authxQuery: [] },
      { authxBearer: [] },
    ])
  })

  it('optional adds the empty requirement (no credentials) last', () => {
    expect(auth.openapi({ locations: ['headers'], optional: true }).security).toEqual([
      { authxBearer: [] },
      {},
    ])
    expect(auth.openapi({ optional: false }).security).toHaveLength(3)
  })
})

describe('auth.openapi(): wrong options are TypeErrors', () => {
  const auth = makeAuth({ tokenLocation: ['headers', 'cookies'] })

  it.each([
    ['an unknown option', { scope: ['admin'] }],
    ['an unknown option (fresh is not a location matter)', { fresh: true }],
    ['scopes that are not an array', { scopes: 'admin' }],
    ['an empty scope', { scopes: [''] }],
    ['an unknown type', { type: 'id' }],
    ['an unknown location', { locations: ['body'] }],
    ['a location the instance does not read', { locations: ['query'] }],
    ['a method that is not a method name', { method: 'GET /x' }],
    ['an empty method', { method: '' }],
    ['csrf that is not a boolean', { csrf: 'no' }],
    ['optional that is not a boolean', { optional: 1 }],
    ['options that are not an object', 'admin'],
    ['options that are an array', [['admin']]],
  ])('%s', (_label, options) => {
    expect(() => auth.openapi(options as OpenAPIOptions)).toThrow(TypeError)
  })

  it('the message names the option and the call', () => {
    expect(() => auth.openapi({ scope: ['admin'] } as OpenAPIOptions)).toThrow(
      /openapi: unknown option 'scope'/,
    )
  })
})

describe('the requirements describe what the guards accept', () => {
  for (const [label, options] of Object.entries(CONFIGS)) {
    it(`${label}: a request built from each requirement authenticates, for both token types`, async () => {
      const auth = makeAuth(options)
      const pair = await auth.createTokenPair({ uid: 'user123', scopes: ['admin:*'] })
      for (const type of ['access', 'refresh'] as TokenType[]) {
        const token = type === 'access' ? pair.accessToken : pair.refreshToken
        const csrf = auth.getCsrfToken(token)
        for (const method of ['GET', 'POST']) {
          const { securitySchemes, security } = auth.openapi({ type, method, scopes: ['admin'] })
          for (const requirement of security) {
            const request = requestFor(requirement, securitySchemes, token, csrf, method)
            const payload = await auth.authenticate(request, { type, scopes: ['admin'] })
            expect(payload?.sub, `${type} ${method} ${JSON.stringify(requirement)}`).toBe('user123')
          }
        }
      }
    })
  }

  it('the CSRF scheme is needed with the cookie: the cookie alone on a POST is refused (403)', async () => {
    const auth = makeAuth({ tokenLocation: ['cookies'] })
    const token = await auth.createAccessToken({ uid: 'user123' })
    const { securitySchemes, security } = auth.openapi({ method: 'POST' })
    const [requirement] = security
    expect(Object.keys(requirement ?? {})).toEqual(['authxAccessCookie', 'authxCsrf'])
    const cookieOnly = requestFor({ authxAccessCookie: [] }, securitySchemes, token, undefined, 'POST')
    await expect(auth.authenticate(cookieOnly)).rejects.toMatchObject({ code: 'ERR_CSRF', status: 403 })
  })

  it('a refresh token in the query string is refused, which is why no refresh requirement names authxQuery', async () => {
    const auth = makeAuth({ tokenLocation: ['query'] })
    const refresh = await auth.createRefreshToken({ uid: 'user123' })
    const request = new Request(`https://api.test/x?token=${refresh}`)
    await expect(auth.authenticate(request, { type: 'refresh' })).rejects.toMatchObject({ status: 401 })
  })
})

async function validate(document: unknown): Promise<{ valid: boolean; errors?: unknown }> {
  // As served: the JSON a browser or client generator receives.
  return new Validator().validate(JSON.parse(JSON.stringify(document)))
}

function handWritten(auth: AuthX): Record<string, unknown> {
  const ok = { '200': { description: 'OK' } }
  return {
    openapi: '3.1.0',
    info: { title: 'Test API', version: '1.0.0' },
    components: { securitySchemes: auth.openapi().securitySchemes },
    paths: {
      '/api/profile': { get: { security: auth.openapi({ method: 'GET' }).security, responses: ok } },
      '/api/feed': {
        get: { security: auth.openapi({ method: 'GET', optional: true }).security, responses: ok },
      },
      '/api/admin': {
        post: { security: auth.openapi({ method: 'POST', scopes: ['admin:*'] }).security, responses: ok },
      },
      '/auth/refresh': {
        post: { security: auth.openapi({ type: 'refresh', method: 'POST' }).security, responses: ok },
      },
    },
  }
}

describe('the documents pass an OpenAPI 3.1 validator', () => {
  it('the validator rejects a broken document (it runs, and it checks security schemes)', async () => {
    const auth = makeAuth({ tokenLocation: ['headers', 'cookies'] })
    expect((await validate(handWritten(auth))).valid).toBe(true)
    const wrongPlace = handWritten(auth)
    const schemes = (wrongPlace.components as { securitySchemes: Record<string, Record<string, unknown>> })
      .securitySchemes
    schemes.authxAccessCookie = { ...schemes.authxAccessCookie, in: 'body' }
    expect((await validate(wrongPlace)).valid).toBe(false)
    const noName = handWritten(auth)
    delete (noName.components as { securitySchemes: Record<string, Record<string, unknown>> }).securitySchemes
      .authxCsrf?.name
    expect((await validate(noName)).valid).toBe(false)
    const badRequirement = { ...handWritten(auth), security: [{ authxBearer: 'admin' }] }
    expect((await validate(badRequirement)).valid).toBe(false)
  })

  it('a hand-written document is valid for every configuration', async () => {
    for (const [label, options] of Object.entries(CONFIGS)) {
      const result = await validate(handWritten(makeAuth(options)))
      expect(result.valid, `${label}: ${JSON.stringify(result.errors)}`).toBe(true)
    }
  })

  it('@fastify/swagger: the generated document is valid and carries the schemes and requirements', async () => {
    const auth = makeAuth({
      tokenLocation: ['headers', 'cookies', 'query'],
      csrf: { refreshHeaderName: 'X-CSRF-REFRESH' },
    })
    const app = Fastify()
    await app.register(swagger, {
      openapi: {
        openapi: '3.1.0',
        info: { title: 'Test API', version: '1.0.0' },
        components: { securitySchemes: auth.openapi().securitySchemes },
      },
    })
    await app.register(fastifyAuthX, { auth })
    app.get(
      '/api/profile',
      {
        preHandler: app.authx.accessRequired,
        schema: { security: auth.openapi({ method: 'GET' }).security },
      },
      async (request) => ({ sub: app.authx.payload(request).sub }),
    )
    app.delete(
      '/api/users/:id',
      {
        preHandler: app.authx.scopesRequired('admin:*'),
        schema: { security: auth.openapi({ method: 'DELETE', scopes: ['admin:*'] }).security },
      },
      async (_request, reply) => reply.code(204).send(),
    )
    app.post(
      '/auth/refresh',
      { schema: { security: auth.openapi({ type: 'refresh', method: 'POST' }).security } },
      app.authx.refreshRoute,
    )
    try {
      await app.ready()
      const document = app.swagger()
      const result = await validate(document)
      expect(result.valid, JSON.stringify(result.errors)).toBe(true)
      expect('openapi' in document && document.openapi).toBe('3.1.0')
      const served = JSON.parse(JSON.stringify(document))
      expect(served.components.securitySchemes).toEqual(auth.openapi().securitySchemes)
      expect(served.paths['/api/users/{id}'].delete.security).toEqual([
        { authxBearer: ['admin:*'] },
        { authxAccessCookie: ['admin:*'], authxCsrf: [] },
        { authxQuery: ['admin:*'] },
      ])
      expect(served.paths['/auth/refresh'].post.security).toEqual([
        { authxBearer: [] },
        { authxRefreshCookie: [], authxRefreshCsrf: [] },
      ])
      // The route behind the document takes the token as the document says.
      const token = await auth.createAccessToken({ uid: 'user123' })
      const answer = await app.inject({ method: 'GET', url: `/api/profile?token=${token}` })
      expect(answer.json()).toEqual({ sub: 'user123' })
    } finally {
      await app.close()
    }
  })

  it('@hono/zod-openapi: the generated document is valid and carries the schemes and requirements', async () => {
    const auth = makeAuth({
      tokenLocation: ['cookies', 'headers'],
      header: { name: 'X-Access-Token', type: '' },
    })
    const authx = honoAuthX(auth)
    const app = new OpenAPIHono()
    for (const [name, scheme] of Object.entries(auth.openapi().securitySchemes)) {
      app.openAPIRegistry.registerComponent('securitySchemes', name, scheme)
    }
    const profile = createRoute({
      method: 'get',
      path: '/api/profile',
      middleware: [authx.accessRequired] as const,
      security: auth.openapi({ method: 'GET' }).security,
      responses: {
        200: {
          description: 'The caller',
          content: { 'application/json': { schema: z.object({ sub: z.string() }) } },
        },
      },
    })
    const remove = createRoute({
      method: 'delete',
      path: '/api/users/{id}',
      middleware: [authx.scopesRequired('admin:*')] as const,
      security: auth.openapi({ method: 'DELETE', scopes: ['admin:*'] }).security,
      request: { params: z.object({ id: z.string() }) },
      responses: { 204: { description: 'Deleted' } },
    })
    app.openapi(profile, (c) => c.json({ sub: c.get('authx').sub }, 200))
    app.openapi(remove, (c) => c.body(null, 204))

    const document = app.getOpenAPI31Document({
      openapi: '3.1.0',
      info: { title: 'Test API', version: '1.0.0' },
    })
    const result = await validate(document)
    expect(result.valid, JSON.stringify(result.errors)).toBe(true)
    expect(document.components?.securitySchemes).toEqual(auth.openapi().securitySchemes)
    expect(document.paths?.['/api/users/{id}']?.delete?.security).toEqual([
      { authxAccessCookie: ['admin:*'], authxCsrf: [] },
      { authxHeader: ['admin:*'] },
    ])
    const token = await auth.createAccessToken({ uid: 'user123' })
    const answer = await app.request('/api/profile', { headers: { 'x-access-token': token } })
    expect(await answer.json()).toEqual({ sub: 'user123' })
    expect((await app.request('/api/profile')).status).toBe(401)
  })
})
