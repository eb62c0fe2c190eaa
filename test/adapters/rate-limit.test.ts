/**
 * `rateLimited` in the five adapters, each in its real framework: the headers of every answer,
 * the 429, counting by subject (401 first, never counted) and by address (the socket's, a spoofed
 * `X-Forwarded-For` believed only with `trustProxy`), a function of the payload an earlier guard
 * attached, concurrent requests through a listening server, a store that cannot answer, and the
 * managed adapter. The limiters run on the instance's MemoryStore on an injected clock, or on a
 * custom store whose `hit` fails.
 */

import { getRequestListener } from '@hono/node-server'
import { bodyParser } from '@koa/bodyparser'
import Router from '@koa/router'
import express from 'express'
import Fastify, { type FastifyInstance } from 'fastify'
import { Hono } from 'hono'
import Koa from 'koa'
import { afterEach, describe, expect, it } from 'vitest'
import { expressAuthX } from '../../src/adapters/express.js'
import { fastifyAuthX } from '../../src/adapters/fastify.js'
import { honoAuthX } from '../../src/adapters/hono.js'
import { koaAuthX } from '../../src/adapters/koa.js'
import { webAuthX } from '../../src/adapters/web.js'
import {
  AuthManager,
  AuthX,
  ConfigError,
  MemoryStore,
  type RateLimiter,
  type RateLimiterOptions,
  type RateLimitHit,
  type TokenPayload,
} from '../../src/index.js'
import {
  bearer,
  closeServers,
  expectError,
  fromResponse,
  injectSender,
  listen,
  type Send,
  supertestSender,
  type TestResponse,
  webRequest,
} from './scenarios.js'

const SECRET = 'rate-limit-adapters-secret-0123456789abcdef'
const ADMIN_SECRET = 'rate-limit-adapters-admin-0123456789abcdef-0'
const START = 1_700_000_000_000
const SPOOFED = '203.0.113.7'
const OTHER = '198.51.100.9'

type Auth = AuthX | AuthManager
// biome-ignore lint/suspicious/noExplicitAny: each framework's own request type
type Limiter = RateLimiter<any> | RateLimiterOptions<any>

/** What every adapter offers, as far as these tests read it. */
interface AnyAdapter {
  loginType(type: string): AnyAdapter
  rateLimited(limiter: Limiter): unknown
}

interface App {
  send: Send
  close(): Promise<void>
}

/**
 * Routes of every app, each answering `{ sub }` (the payload its guards stored, or `null`):
 *   GET /limited      rateLimited(limiter)
 *   GET /after-auth   accessRequired, then rateLimited(limiter)
 *   GET /raw          rateLimited(limiter), the handler answering plain text its own way
 */
interface Framework {
  name: string
  /** Whether the guard learns the client's socket address (a Web `Request` carries none). */
  socket: boolean
  adapter(auth: Auth): Promise<AnyAdapter>
  serve(auth: Auth, limiter: Limiter, type?: string): Promise<App>
}

afterEach(closeServers)

// ---------------------------------------------------------------- the five apps

const express5: Framework = {
  name: 'express',
  socket: true,
  adapter: async (auth) => expressAuthX(auth),
  async serve(auth, limiter, type) {
    const app = express()
    // Express's own proxy trust must not leak into the limiter (req.ip would follow the header).
    app.set('trust proxy', true)
    const root = expressAuthX(auth)
    const authx = type === undefined ? root : root.loginType(type)
    const answer = (req: express.Request, res: express.Response) => {
      res.json({ sub: req.authx?.sub ?? null })
    }
    app.get('/limited', authx.rateLimited(limiter), answer)
    app.get('/after-auth', authx.accessRequired, authx.rateLimited(limiter), answer)
    app.get('/raw', authx.rateLimited(limiter), (_req, res) => {
      res.type('text/plain').send('raw')
    })
    app.use(root.errorHandler)
    return { send: supertestSender(await listen(app)), close: async () => {} }
  },
}

async function fastifyApp(auth: Auth): Promise<FastifyInstance> {
  // Fastify's own proxy trust must not leak into the limiter (request.ip would follow the header).
  const app = Fastify({ trustProxy: true })
  await app.register(fastifyAuthX, { auth })
  return app
}

/** Fastify listening on a real port (the concurrency test), or answering through `inject`. */
const fastify: Framework = {
  name: 'fastify',
  socket: true,
  async adapter(auth) {
    const app = await fastifyApp(auth)
    await app.ready()
    const adapter = app.authx
    await app.close()
    return adapter
  },
  async serve(auth, limiter, type) {
    const app = await fastifyApp(auth)
    const root = app.authx
    const authx = type === undefined ? root : root.loginType(type)
    const answer = async (request: { authx: TokenPayload | null }) => ({ sub: request.authx?.sub ?? null })
    app.get('/limited', { preHandler: authx.rateLimited(limiter) }, answer)
    app.get('/after-auth', { preHandler: [authx.accessRequired, authx.rateLimited(limiter)] }, answer)
    app.get('/raw', { preHandler: authx.rateLimited(limiter) }, async (_request, reply) =>
      reply.type('text/plain').send('raw'),
    )
    await app.ready()
    return { send: injectSender(app), close: () => app.close() }
  },
}

/** Hono on `@hono/node-server`, which gives the socket (`c.env.incoming`). */
const hono: Framework = {
  name: 'hono',
  socket: true,
  adapter: async (auth) => honoAuthX(auth),
  async serve(auth, limiter, type) {
    const app = honoApp(auth, limiter, type)
    const server = await listen(getRequestListener(app.fetch))
    return { send: supertestSender(server), close: async () => {} }
  },
}

/** Without `onError` the guard's answers are its own (`HTTPException`s carrying authx's answer). */
function honoApp(auth: Auth, limiter: Limiter, type?: string, onError = true): Hono {
  const app = new Hono()
  const root = honoAuthX(auth)
  const authx = type === undefined ? root : root.loginType(type)
  app.get('/limited', authx.rateLimited(limiter), (c) => c.json({ sub: c.get('authx')?.sub ?? null }))
  app.get('/after-auth', authx.accessRequired, authx.rateLimited(limiter), (c) =>
    c.json({ sub: c.get('authx')?.sub ?? null }),
  )
  // A Response of its own, not one of the context's helpers.
  app.get(
    '/raw',
    authx.rateLimited(limiter),
    () => new Response('raw', { headers: { 'content-type': 'text/plain' } }),
  )
  if (onError) app.onError(root.onError)
  return app
}

const koa: Framework = {
  name: 'koa',
  socket: true,
  adapter: async (auth) => koaAuthX(auth),
  async serve(auth, limiter, type) {
    // Koa's own proxy trust must not leak into the limiter (ctx.ip would follow the header).
    const app = new Koa({ proxy: true })
    app.on('error', () => {})
    const root = koaAuthX(auth)
    const authx = type === undefined ? root : root.loginType(type)
    const router = new Router()
    app.use(root.errorHandler)
    app.use(bodyParser())
    const answer = (ctx: Koa.ParameterizedContext) => {
      ctx.body = { sub: ctx.state.authx?.sub ?? null }
    }
    router.get('/limited', authx.rateLimited(limiter), answer)
    router.get('/after-auth', authx.accessRequired, authx.rateLimited(limiter), answer)
    router.get('/raw', authx.rateLimited(limiter), (ctx) => {
      ctx.type = 'text/plain'
      ctx.body = 'raw'
    })
    app.use(router.routes())
    return { send: supertestSender(await listen(app.callback())), close: async () => {} }
  },
}

const web: Framework = {
  name: 'web',
  socket: false,
  adapter: async (auth) => webAuthX(auth),
  async serve(auth, limiter, type) {
    const root = webAuthX(auth)
    const authx = type === undefined ? root : root.loginType(type)
    // The payload of the guards, as the handler of a Web guard reads it.
    const answer = async (req: Request) => {
      let sub: string | null = null
      try {
        sub = root.payload(req).sub
      } catch {}
      return Response.json({ sub })
    }
    const routes: Record<string, (req: Request) => Promise<Response>> = {
      '/limited': authx.rateLimited(limiter)(answer),
      '/after-auth': authx.accessRequired(authx.rateLimited(limiter)(answer)),
      // An immutable Response (a redirect's headers cannot be changed).
      '/raw': authx.rateLimited(limiter)(async () => Response.redirect('http://localhost/raw-target', 302)),
    }
    const send: Send = async (req) => {
      const route = routes[req.path]
      if (route === undefined) throw new Error(`no route ${req.path}`)
      return fromResponse(await route(webRequest(req)))
    }
    return { send, close: async () => {} }
  },
}

const FRAMEWORKS: Framework[] = [express5, fastify, hono, koa, web]

// ---------------------------------------------------------------- helpers

/** A MemoryStore whose `hit` cannot answer (a store that is down), everything else working. */
class DownStore extends MemoryStore {
  hits = 0
  override async hit(): Promise<RateLimitHit> {
    this.hits++
    throw new Error('connection refused')
  }
}

function header(res: TestResponse, name: string): string | undefined {
  const value = res.headers[name]
  return Array.isArray(value) ? value.join(', ') : value
}

function expectAllowed(res: TestResponse, sub: string | null, policy: string, remaining: number) {
  expect(res.status, JSON.stringify(res.body)).toBe(200)
  expect(res.body).toEqual({ sub })
  expect(header(res, 'ratelimit-policy')).toBe(policy)
  expect(header(res, 'ratelimit')).toMatch(new RegExp(`^"[^"]+";r=${remaining};t=\\d+$`))
}

function expectLimited(res: TestResponse, policy: string, retryAfter: number) {
  expectError(res, 429, 'ERR_RATE_LIMITED')
  expect((res.body as { retryAfter?: number }).retryAfter).toBe(retryAfter)
  expect(header(res, 'retry-after')).toBe(String(retryAfter))
  expect(header(res, 'ratelimit-policy')).toBe(policy)
  expect(header(res, 'ratelimit')).toBe(`${policy.split(';')[0]};r=0;t=${retryAfter}`)
}

// ---------------------------------------------------------------- the scenarios

for (const framework of FRAMEWORKS) {
  describe(`${framework.name}: rateLimited`, () => {
    const clocked = (overrides: Record<string, unknown> = {}) => {
      const clock = { now: START }
      const auth = new AuthX({ secretKey: SECRET, clock: () => clock.now, ...overrides })
      return { auth, clock }
    }
    const withApp = async (
      limiter: Limiter,
      fn: (send: Send, auth: AuthX, clock: { now: number }) => Promise<void>,
    ) => {
      const { auth, clock } = clocked()
      const app = await framework.serve(auth, limiter)
      try {
        await fn(app.send, auth, clock)
      } finally {
        await app.close()
      }
    }

    it('lets max requests through with RateLimit-Policy and RateLimit, then answers 429 with Retry-After', () =>
      withApp({ max: 3, window: '1m', by: 'ip', name: 'api' }, async (send, _auth, clock) => {
        const policy = '"api";q=3;w=60'
        for (const remaining of [2, 1, 0]) {
          const res = await send({ method: 'GET', path: '/limited' })
          expectAllowed(res, null, policy, remaining)
          // t: seconds until the first request leaves the window.
          expect(header(res, 'ratelimit')).toBe(`"api";r=${remaining};t=${60 - (2 - remaining) * 10}`)
          clock.now += 10_000
        }
        // The first request leaves the window 60 s after it was made: 30 s from now.
        expectLimited(await send({ method: 'GET', path: '/limited' }), policy, 30)
        expectLimited(await send({ method: 'GET', path: '/limited' }), policy, 30)
        // The window slides: once the first request left it, one more passes.
        clock.now += 30_000
        expectAllowed(await send({ method: 'GET', path: '/limited' }), null, policy, 0)
        expectLimited(await send({ method: 'GET', path: '/limited' }), policy, 10)
      }))

    it("sends the headers with the handler's own answer too", () =>
      withApp({ max: 1, window: 30, by: 'ip' }, async (send) => {
        const res = await send({ method: 'GET', path: '/raw' })
        expect(res.status).toBe(framework.name === 'web' ? 302 : 200)
        expect(header(res, 'ratelimit-policy')).toBe('"default";q=1;w=30')
        expect(header(res, 'ratelimit')).toBe('"default";r=0;t=30')
        expectLimited(await send({ method: 'GET', path: '/raw' }), '"default";q=1;w=30', 30)
      }))

    it("by 'subject': 401 without a token (not counted), each subject counted on its own, payload stored", () =>
      withApp({ max: 2, window: '1m', by: 'subject' }, async (send, auth) => {
        const policy = '"default";q=2;w=60'
        for (let i = 0; i < 3; i++) {
          const none = await send({ method: 'GET', path: '/limited' })
          expectError(none, 401, 'ERR_MISSING_TOKEN')
          expect(header(none, 'ratelimit')).toBeUndefined()
        }
        const forged = await new AuthX({ secretKey: ADMIN_SECRET }).createAccessToken({ uid: 'alice' })
        expectError(
          await send({ method: 'GET', path: '/limited', headers: bearer(forged) }),
          401,
          'ERR_INVALID_TOKEN',
        )
        const alice = bearer(await auth.createAccessToken({ uid: 'alice' }))
        const bob = bearer(await auth.createAccessToken({ uid: 'bob' }))
        expectAllowed(await send({ method: 'GET', path: '/limited', headers: alice }), 'alice', policy, 1)
        expectAllowed(await send({ method: 'GET', path: '/limited', headers: alice }), 'alice', policy, 0)
        expectLimited(await send({ method: 'GET', path: '/limited', headers: alice }), policy, 60)
        expectAllowed(await send({ method: 'GET', path: '/limited', headers: bob }), 'bob', policy, 1)
        expectAllowed(await send({ method: 'GET', path: '/limited', headers: bob }), 'bob', policy, 0)
        expectLimited(await send({ method: 'GET', path: '/limited', headers: bob }), policy, 60)
      }))

    it('a by function gets the payload an earlier guard attached', () => {
      const seen: unknown[] = []
      const by = (request: unknown, payload: TokenPayload | undefined) => {
        seen.push(request)
        return payload?.sub ?? 'nobody'
      }
      return withApp({ max: 1, window: '1m', by }, async (send, auth) => {
        const alice = bearer(await auth.createAccessToken({ uid: 'alice' }))
        const bob = bearer(await auth.createAccessToken({ uid: 'bob' }))
        const policy = '"default";q=1;w=60'
        expectAllowed(await send({ method: 'GET', path: '/after-auth', headers: alice }), 'alice', policy, 0)
        expectLimited(await send({ method: 'GET', path: '/after-auth', headers: alice }), policy, 60)
        expectAllowed(await send({ method: 'GET', path: '/after-auth', headers: bob }), 'bob', policy, 0)
        // Without an earlier guard there is no payload: one shared count.
        expectAllowed(await send({ method: 'GET', path: '/limited' }), null, policy, 0)
        expectLimited(await send({ method: 'GET', path: '/limited', headers: alice }), policy, 60)
        expect(seen).toHaveLength(5)
        for (const request of seen) expect(request).toBeTypeOf('object')
      })
    })

    it("by 'ip': a spoofed X-Forwarded-For is ignored by default", () =>
      withApp({ max: 2, window: '1m', by: 'ip' }, async (send) => {
        const policy = '"default";q=2;w=60'
        const from = (address: string) => ({
          method: 'GET',
          path: '/limited',
          headers: { 'x-forwarded-for': address },
        })
        expectAllowed(await send(from(SPOOFED)), null, policy, 1)
        expectAllowed(await send(from(OTHER)), null, policy, 0)
        expectLimited(await send(from('192.0.2.1')), policy, 60)
        expectLimited(await send({ method: 'GET', path: '/limited' }), policy, 60)
      }))

    it("by 'ip' with trustProxy: 1 counts the address the proxy saw", () =>
      withApp({ max: 1, window: '1m', by: 'ip', trustProxy: 1 }, async (send) => {
        const policy = '"default";q=1;w=60'
        const from = (address: string) => ({
          method: 'GET',
          path: '/limited',
          headers: { 'x-forwarded-for': address },
        })
        expectAllowed(await send(from(SPOOFED)), null, policy, 0)
        expectLimited(await send(from(SPOOFED)), policy, 60)
        // The client's own entries come first; the proxy appends the address it saw.
        expectLimited(await send(from(`${OTHER}, ${SPOOFED}`)), policy, 60)
        if (framework.socket) {
          expectAllowed(await send(from(OTHER)), null, policy, 0)
          // No header: the socket's address (the proxy's), counted on its own.
          expectAllowed(await send({ method: 'GET', path: '/limited' }), null, policy, 0)
        } else {
          // No socket address: no hop to count from, every request shares one count.
          expectLimited(await send(from(OTHER)), policy, 60)
        }
      }))

    it('lets exactly max of 30 concurrent requests through', async () => {
      const auth = new AuthX({ secretKey: SECRET })
      const limiter = auth.rateLimiter({ max: 10, window: '1h', by: 'ip' })
      let send: Send
      let close: () => Promise<void>
      if (framework.name === 'fastify') {
        // On a listening port, as the Node servers of the other frameworks.
        const app = await fastifyApp(auth)
        app.get('/limited', { preHandler: app.authx.rateLimited(limiter) }, async () => ({ sub: null }))
        await app.listen({ port: 0, host: '127.0.0.1' })
        send = supertestSender(app.server)
        close = () => app.close()
      } else {
        ;({ send, close } = await framework.serve(auth, limiter))
      }
      try {
        const answers = await Promise.all(
          Array.from({ length: 30 }, () => send({ method: 'GET', path: '/limited' })),
        )
        expect(answers.filter((res) => res.status === 200)).toHaveLength(10)
        const refused = answers.filter((res) => res.status === 429)
        expect(refused).toHaveLength(20)
        for (const res of refused) expect((res.body as { code: string }).code).toBe('ERR_RATE_LIMITED')
      } finally {
        await close()
      }
    })

    it("a store that cannot answer: 503 with onStoreError 'closed', the request passes with 'open'", async () => {
      const store = new DownStore()
      const auth = new AuthX({ secretKey: SECRET, store })
      const events: unknown[] = []
      auth.on('ratelimit.store_error', (event) => events.push(event))
      const closed = await framework.serve(auth, { max: 1, window: '1m', by: 'ip' })
      try {
        for (let i = 0; i < 2; i++)
          expectError(await closed.send({ method: 'GET', path: '/limited' }), 503, 'ERR_STORE_UNAVAILABLE')
        expect(events).toEqual([])
      } finally {
        await closed.close()
      }
      const open = await framework.serve(auth, {
        max: 1,
        window: '1m',
        by: 'ip',
        name: 'open',
        onStoreError: 'open',
      })
      try {
        for (let i = 0; i < 2; i++) {
          const res = await open.send({ method: 'GET', path: '/limited' })
          expectAllowed(res, null, '"open";q=1;w=60', 0)
        }
        expect(events).toEqual([
          { name: 'open', error: 'connection refused' },
          { name: 'open', error: 'connection refused' },
        ])
      } finally {
        await open.close()
      }
      expect(store.hits).toBe(4)
    })

    it('refuses bad limiters where the route is defined', async () => {
      const auth = new AuthX({ secretKey: SECRET })
      const authx = await framework.adapter(auth)
      expect(() => authx.rateLimited(undefined as never)).toThrow(TypeError)
      expect(() => authx.rateLimited(null as never)).toThrow(TypeError)
      expect(() => authx.rateLimited({ max: 0, window: '1m' })).toThrow(ConfigError)
      expect(() => authx.rateLimited({ max: 1, window: '1m', by: 'everyone' } as never)).toThrow(ConfigError)
      expect(() => authx.rateLimited({ max: 1, window: '1m', maximum: 2 } as never)).toThrow(ConfigError)
      expect(() => authx.rateLimited({ max: 1, window: '1m' })).not.toThrow()
      expect(() => authx.rateLimited(auth.rateLimiter({ max: 1, window: '1m' }))).not.toThrow()
    })

    it('a managed adapter offers rateLimited per login type only', async () => {
      const users = new AuthX({ secretKey: SECRET, loginType: 'user' })
      const admins = new AuthX({ secretKey: ADMIN_SECRET, loginType: 'admin' })
      const manager = new AuthManager([users, admins])
      const managed = (await framework.adapter(manager)) as unknown as Record<string, unknown>
      expect(() => managed.rateLimited).toThrow(ConfigError)
      const app = await framework.serve(manager, { max: 1, window: '1m', by: 'subject' }, 'admin')
      try {
        const user = bearer(await users.createAccessToken({ uid: 'alice' }))
        expectError(
          await app.send({ method: 'GET', path: '/limited', headers: user }),
          401,
          'ERR_LOGIN_TYPE_MISMATCH',
        )
        const admin = bearer(await admins.createAccessToken({ uid: 'alice' }))
        expectAllowed(
          await app.send({ method: 'GET', path: '/limited', headers: admin }),
          'alice',
          '"default";q=1;w=60',
          0,
        )
        expectLimited(
          await app.send({ method: 'GET', path: '/limited', headers: admin }),
          '"default";q=1;w=60',
          60,
        )
      } finally {
        await app.close()
      }
    })
  })
}

// ---------------------------------------------------------------- per framework

describe('hono: rateLimited without @hono/node-server', () => {
  it("by 'ip' knows no address: one shared count, X-Forwarded-For ignored even with trustProxy; no app.onError needed", async () => {
    const auth = new AuthX({ secretKey: SECRET })
    const app = honoApp(auth, { max: 1, window: '1m', by: 'ip', trustProxy: 1 }, undefined, false)
    const send: Send = async (req) => fromResponse(await app.request(webRequest(req)))
    const from = (address: string) => ({
      method: 'GET',
      path: '/limited',
      headers: { 'x-forwarded-for': address },
    })
    expect((await send(from(SPOOFED))).status).toBe(200)
    expectLimited(await send(from(OTHER)), '"default";q=1;w=60', 60)
  })
})

describe('web: rateLimited', () => {
  it('wraps a ready-made route and passes the arguments after the request through', async () => {
    const auth = new AuthX({ secretKey: SECRET, clock: () => START })
    const authx = webAuthX(auth)
    const limit = authx.rateLimited({ max: 1, window: '1m', by: 'ip', name: 'refresh' })
    const refresh = limit(authx.refreshRoute)
    const { refreshToken } = await auth.createTokenPair({ uid: 'alice' })
    const ok = await refresh(
      new Request('http://localhost/auth/refresh', { method: 'POST', headers: bearer(refreshToken) }),
    )
    expect(ok.status).toBe(200)
    expect(ok.headers.get('ratelimit')).toBe('"refresh";r=0;t=60')
    const limited = await refresh(
      new Request('http://localhost/auth/refresh', { method: 'POST', headers: bearer(refreshToken) }),
    )
    expectLimited(await fromResponse(limited), '"refresh";q=1;w=60', 60)
    const rest: unknown[] = []
    const handler = authx.rateLimited({ max: 5, window: '1m', by: 'ip', name: 'rest' })(
      async (_req: Request, ...args: [string, number]) => {
        rest.push(...args)
        throw await authxError(auth)
      },
    )
    // The handler's authx error becomes its answer, which carries the headers too.
    const answer = await handler(new Request('http://localhost/x'), 'ctx', 7)
    expect(rest).toEqual(['ctx', 7])
    expect(answer.status).toBe(401)
    expect(answer.headers.get('ratelimit')).toBe('"rest";r=4;t=60')
    expect(() => authx.rateLimited({ max: 1, window: '1m' })(undefined as never)).toThrow(TypeError)
  })
})

/** An authx error, as a handler calling the core would meet it. */
async function authxError(auth: AuthX): Promise<unknown> {
  try {
    await auth.verifyToken('not-a-token')
  } catch (err) {
    return err
  }
  throw new Error('expected an error')
}
