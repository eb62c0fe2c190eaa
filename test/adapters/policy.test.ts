import { bodyParser } from '@koa/bodyparser'
import Router from '@koa/router'
import express from 'express'
import Fastify, { type FastifyInstance, type FastifyRequest } from 'fastify'
import { type Context, Hono } from 'hono'
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
  type Policy,
  type PolicyContext,
  type PolicyGuardOptions,
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

const SECRET = 'policy-adapters-secret-0123456789abcdef-01'
const ADMIN_SECRET = 'policy-adapters-admin-0123456789abcdef-012'
const OWNERS: Record<string, string> = { '1': 'alice', '2': 'bob', secret: 'alice' }
const SECRET_POSTS = 'Secret posts are hidden'
const DENIED = 'Bearer error="insufficient_scope"'

type Auth = AuthX | AuthManager

/** What every adapter offers, as far as these tests read it. */
interface AnyAdapter {
  loginType(type: string): AnyAdapter
  policyRequired(policy: Policy, options: PolicyGuardOptions<never>): unknown
}

interface App {
  send: Send
  close(): Promise<void>
}

interface Framework {
  name: string
  /** What `env.ip` holds in a condition (Hono and Web have no client address to give). */
  ip: RegExp | undefined
  /** The adapter made for `auth` (Fastify: `app.authx` of a new app). */
  adapter(auth: Auth): Promise<AnyAdapter>
  /** The app of this file's header; with `type`, guards from `authx.loginType(type)`. */
  serve(auth: Auth, policy: Policy, type?: string): Promise<App>
}

const idOf = (path: string): string => path.split('/')[2] ?? ''
const ownerOf = async (id: string) => ({ owner: OWNERS[id] })

// ---------------------------------------------------------------- Node servers (Express, Koa)

afterEach(closeServers)

// ---------------------------------------------------------------- the five apps

const express5: Framework = {
  name: 'express',
  ip: /^(::ffff:)?127\.0\.0\.1$/,
  adapter: async (auth) => expressAuthX(auth),
  async serve(auth, policy, type) {
    const app = express()
    const root = expressAuthX(auth)
    const authx = type === undefined ? root : root.loginType(type)
    const resource = (req: express.Request) => `posts:${req.params.id}`
    const answer = (req: express.Request, res: express.Response) => {
      res.json({ sub: root.payload(req).sub, ...(req.params.id && { id: req.params.id }) })
    }
    app.get(
      '/posts/:id',
      authx.policyRequired(policy, {
        action: 'posts:read',
        resource,
        resourceAttrs: (req: express.Request) => ownerOf(req.params.id as string),
      }),
      answer,
    )
    app.delete('/posts/:id', authx.policyRequired(policy, { action: 'posts:delete', resource }), answer)
    app.get('/reports', authx.policyRequired(policy, { action: 'reports:read', resource: 'reports' }), answer)
    app.use(root.errorHandler)
    return { send: supertestSender(await listen(app)), close: async () => {} }
  },
}

async function fastifyApp(auth: Auth): Promise<FastifyInstance> {
  const app = Fastify()
  await app.register(fastifyAuthX, { auth })
  return app
}

const fastify: Framework = {
  name: 'fastify',
  ip: /^127\.0\.0\.1$/,
  async adapter(auth) {
    const app = await fastifyApp(auth)
    await app.ready()
    const adapter = app.authx
    await app.close()
    return adapter
  },
  async serve(auth, policy, type) {
    const app = await fastifyApp(auth)
    const root = app.authx
    const authx = type === undefined ? root : root.loginType(type)
    const id = (request: FastifyRequest) => (request.params as { id?: string }).id
    const resource = (request: FastifyRequest) => `posts:${id(request)}`
    const answer = async (request: FastifyRequest) => ({
      sub: root.payload(request).sub,
      ...(id(request) && { id: id(request) }),
    })
    const read = authx.policyRequired(policy, {
      action: 'posts:read',
      resource,
      resourceAttrs: (request: FastifyRequest) => ownerOf(id(request) as string),
    })
    app.get('/posts/:id', { preHandler: read }, answer)
    const remove = authx.policyRequired(policy, { action: 'posts:delete', resource })
    app.delete('/posts/:id', { preHandler: remove }, answer)
    const reports = authx.policyRequired(policy, { action: 'reports:read', resource: 'reports' })
    app.get('/reports', { preHandler: reports }, answer)
    await app.ready()
    return { send: injectSender(app), close: () => app.close() }
  },
}

const hono: Framework = {
  name: 'hono',
  ip: undefined,
  adapter: async (auth) => honoAuthX(auth),
  async serve(auth, policy, type) {
    const app = new Hono()
    const root = honoAuthX(auth)
    const authx = type === undefined ? root : root.loginType(type)
    const resource = (c: Context) => `posts:${c.req.param('id')}`
    const answer = (c: Context) => {
      const id = c.req.param('id')
      return c.json({ sub: c.get('authx')?.sub, ...(id && { id }) })
    }
    app.get(
      '/posts/:id',
      authx.policyRequired(policy, {
        action: 'posts:read',
        resource,
        resourceAttrs: (c: Context) => ownerOf(c.req.param('id') ?? ''),
      }),
      answer,
    )
    app.delete('/posts/:id', authx.policyRequired(policy, { action: 'posts:delete', resource }), answer)
    app.get('/reports', authx.policyRequired(policy, { action: 'reports:read', resource: 'reports' }), answer)
    app.onError(root.onError)
    const send: Send = async (req) => fromResponse(await app.request(webRequest(req)))
    return { send, close: async () => {} }
  },
}

const koa: Framework = {
  name: 'koa',
  ip: /^(::ffff:)?127\.0\.0\.1$/,
  adapter: async (auth) => koaAuthX(auth),
  async serve(auth, policy, type) {
    const app = new Koa()
    app.on('error', () => {})
    const root = koaAuthX(auth)
    const authx = type === undefined ? root : root.loginType(type)
    const router = new Router()
    app.use(root.errorHandler)
    app.use(bodyParser())
    const resource = (ctx: Koa.ParameterizedContext) => `posts:${ctx.params.id}`
    const answer = (ctx: Koa.ParameterizedContext) => {
      ctx.body = { sub: ctx.state.authx?.sub, ...(ctx.params.id && { id: ctx.params.id }) }
    }
    router.get(
      '/posts/:id',
      authx.policyRequired(policy, {
        action: 'posts:read',
        resource,
        resourceAttrs: (ctx: Koa.ParameterizedContext) => ownerOf(ctx.params.id),
      }),
      answer,
    )
    router.delete('/posts/:id', authx.policyRequired(policy, { action: 'posts:delete', resource }), answer)
    router.get(
      '/reports',
      authx.policyRequired(policy, { action: 'reports:read', resource: 'reports' }),
      answer,
    )
    app.use(router.routes())
    return { send: supertestSender(await listen(app.callback())), close: async () => {} }
  },
}

const web: Framework = {
  name: 'web',
  ip: undefined,
  adapter: async (auth) => webAuthX(auth),
  async serve(auth, policy, type) {
    const root = webAuthX(auth)
    const authx = type === undefined ? root : root.loginType(type)
    const resource = (req: Request) => `posts:${idOf(new URL(req.url).pathname)}`
    const answer = async (req: Request, payload: { sub: string }) => {
      const id = idOf(new URL(req.url).pathname)
      return Response.json({ sub: payload.sub, ...(id && { id }) })
    }
    const read = authx.policyRequired(policy, {
      action: 'posts:read',
      resource,
      resourceAttrs: (req: Request) => ownerOf(idOf(new URL(req.url).pathname)),
    })(answer)
    const remove = authx.policyRequired(policy, { action: 'posts:delete', resource })(answer)
    const reports = authx.policyRequired(policy, { action: 'reports:read', resource: 'reports' })(answer)
    const send: Send = async (req) => {
      const route =
        req.path === '/reports' && req.method === 'GET'
          ? reports
          : req.path.startsWith('/posts/')
            ? { GET: read, DELETE: remove }[req.method]
            : undefined
      if (route === undefined) throw new Error(`no route ${req.method} ${req.path}`)
      return fromResponse(await route(webRequest(req)))
    }
    return { send, close: async () => {} }
  },
}

const FRAMEWORKS: Framework[] = [express5, fastify, hono, koa, web]

// ---------------------------------------------------------------- the policy

/**
 * Owners read their posts; nobody reads the secret post (deny wins over the owner's allow);
 * deleting needs the DELETE method in `env`; reports need a `reports:*` scope. `asked` counts
 * every consultation (a deny condition on everything that answers false), `seen` keeps the
 * contexts of the owner condition.
 */
function postsPolicy(auth: AuthX) {
  const seen: PolicyContext[] = []
  let asked = 0
  const policy = auth.policy({
    rules: [
      {
        effect: 'deny',
        actions: ['*'],
        resources: ['*'],
        when: () => {
          asked++
          return false
        },
      },
      {
        effect: 'allow',
        actions: ['posts:read'],
        resources: ['posts:*'],
        when: (ctx) => {
          seen.push(ctx)
          return ctx.resourceAttrs.owner === ctx.payload.sub
        },
      },
      { effect: 'deny', actions: ['*'], resources: ['posts:secret'], reason: SECRET_POSTS },
      {
        effect: 'allow',
        actions: ['posts:delete'],
        resources: ['posts:*'],
        when: ({ env }) => env.method === 'DELETE' && env.path?.startsWith('/posts/') === true,
      },
      { effect: 'allow', actions: ['reports:read'], resources: ['reports'], scopes: ['reports:*'] },
    ],
  })
  return { policy, seen, asked: () => asked }
}

function deniedAnswer(res: TestResponse, reason: string): void {
  expectError(res, 403, 'ERR_POLICY_DENIED', DENIED)
  expect(res.body).toEqual({ code: 'ERR_POLICY_DENIED', message: expect.any(String), reason })
}

// ---------------------------------------------------------------- the scenarios

for (const framework of FRAMEWORKS) {
  describe(`${framework.name}: policyRequired`, () => {
    const withApp = async (
      fn: (send: Send, auth: AuthX, policy: ReturnType<typeof postsPolicy>) => Promise<void>,
    ) => {
      const auth = new AuthX({ secretKey: SECRET })
      const policy = postsPolicy(auth)
      const app = await framework.serve(auth, policy.policy)
      try {
        await fn(app.send, auth, policy)
      } finally {
        await app.close()
      }
    }

    it('answers 401 without a token or with a bad one, before the policy is asked', () =>
      withApp(async (send, auth, { asked }) => {
        const none = await send({ method: 'GET', path: '/posts/1' })
        expect(none.status, JSON.stringify(none.body)).toBe(401)
        expect((none.body as { code: string }).code).toBe('ERR_MISSING_TOKEN')
        const other = new AuthX({ secretKey: ADMIN_SECRET })
        const forged = await other.createAccessToken({ uid: 'alice' })
        const bad = await send({ method: 'GET', path: '/posts/1', headers: bearer(forged) })
        expect(bad.status).toBe(401)
        expect((bad.body as { code: string }).code).toBe('ERR_INVALID_TOKEN')
        const refresh = await auth.createRefreshToken({ uid: 'alice' })
        const wrongType = await send({ method: 'GET', path: '/reports', headers: bearer(refresh) })
        expect(wrongType.status).toBe(401)
        expect(asked()).toBe(0)
      }))

    it('answers 403 ERR_POLICY_DENIED with the reason and WWW-Authenticate for a denied token', () =>
      withApp(async (send, auth, { asked }) => {
        const bob = await auth.createAccessToken({ uid: 'bob' })
        deniedAnswer(
          await send({ method: 'GET', path: '/posts/1', headers: bearer(bob) }),
          'Denied by policy',
        )
        // The owner's allow rule applies, the deny rule on the secret post wins.
        const alice = await auth.createAccessToken({ uid: 'alice', scopes: ['admin:*'] })
        deniedAnswer(
          await send({ method: 'GET', path: '/posts/secret', headers: bearer(alice) }),
          SECRET_POSTS,
        )
        deniedAnswer(
          await send({ method: 'GET', path: '/reports', headers: bearer(alice) }),
          'Denied by policy',
        )
        expect(asked()).toBe(3)
      }))

    it('lets an allowed token through with its payload stored, the resource and attributes read from the request', () =>
      withApp(async (send, auth, { seen }) => {
        const alice = await auth.createAccessToken({ uid: 'alice' })
        const res = await send({ method: 'GET', path: '/posts/1', headers: bearer(alice) })
        expect(res.status, JSON.stringify(res.body)).toBe(200)
        expect(res.body).toEqual({ sub: 'alice', id: '1' })
        expect(seen).toHaveLength(1)
        const ctx = seen[0]!
        expect(ctx.payload.sub).toBe('alice')
        expect(ctx.action).toBe('posts:read')
        expect(ctx.resource).toBe('posts:1')
        expect(ctx.resourceAttrs).toEqual({ owner: 'alice' })
        expect(ctx.env.method).toBe('GET')
        expect(ctx.env.path).toBe('/posts/1')
        if (framework.ip === undefined) expect(ctx.env.ip).toBeUndefined()
        else expect(ctx.env.ip).toMatch(framework.ip)
        // The resource follows the route parameter: post 2 is bob's.
        deniedAnswer(
          await send({ method: 'GET', path: '/posts/2', headers: bearer(alice) }),
          'Denied by policy',
        )
        expect(seen[1]?.resource).toBe('posts:2')
        expect(seen[1]?.resourceAttrs).toEqual({ owner: 'bob' })
        const reporter = await auth.createAccessToken({ uid: 'carol', scopes: ['reports:*'] })
        const report = await send({ method: 'GET', path: '/reports', headers: bearer(reporter) })
        expect(report.status, JSON.stringify(report.body)).toBe(200)
        expect(report.body).toEqual({ sub: 'carol' })
        // An encoded path reaches conditions decoded, the query string cut off, in every adapter.
        const asked = seen.length
        await send({ method: 'GET', path: '/posts/%31?x=1', headers: bearer(alice) })
        expect(seen).toHaveLength(asked + 1)
        expect(seen.at(-1)?.env.path).toBe('/posts/1')
      }))

    it("gives the request's method and path to conditions in env", () =>
      withApp(async (send, auth) => {
        const bob = await auth.createAccessToken({ uid: 'bob' })
        const res = await send({ method: 'DELETE', path: '/posts/1', headers: bearer(bob) })
        expect(res.status, JSON.stringify(res.body)).toBe(200)
        expect(res.body).toEqual({ sub: 'bob', id: '1' })
      }))

    it('refuses bad options where the route is defined (TypeError)', async () => {
      const auth = new AuthX({ secretKey: SECRET })
      const { policy } = postsPolicy(auth)
      const authx = await framework.adapter(auth)
      const BAD: [string, unknown, unknown][] = [
        ['no action', policy, { resource: 'posts' }],
        ['an empty action', policy, { action: '', resource: 'posts' }],
        ['no resource', policy, { action: 'posts:read' }],
        ['a number as resource', policy, { action: 'posts:read', resource: 5 }],
        [
          'resourceAttrs not a function',
          policy,
          { action: 'a', resource: 'r', resourceAttrs: { owner: 'x' } },
        ],
        ['an unknown option', policy, { action: 'a', resource: 'r', resourceattrs: () => ({}) }],
        ['no options', policy, undefined],
        ['a policy not made by auth.policy', { rules: [] }, { action: 'a', resource: 'r' }],
        ['no policy', undefined, { action: 'a', resource: 'r' }],
      ]
      for (const [name, badPolicy, options] of BAD) {
        expect(
          () => authx.policyRequired(badPolicy as Policy, options as PolicyGuardOptions<never>),
          name,
        ).toThrow(TypeError)
      }
      expect(() => authx.policyRequired(policy, { action: 'a', resource: 'r' })).not.toThrow()
    })

    it('a managed adapter offers policyRequired per login type only', async () => {
      const users = new AuthX({ secretKey: SECRET, loginType: 'user' })
      const admins = new AuthX({ secretKey: ADMIN_SECRET, loginType: 'admin' })
      const manager = new AuthManager([users, admins])
      const managed = (await framework.adapter(manager)) as unknown as Record<string, unknown>
      expect(() => managed.policyRequired).toThrow(ConfigError)
      const { policy, asked } = postsPolicy(admins)
      const app = await framework.serve(manager, policy, 'admin')
      try {
        const admin = await admins.createAccessToken({ uid: 'alice' })
        const ok = await app.send({ method: 'GET', path: '/posts/1', headers: bearer(admin) })
        expect(ok.status, JSON.stringify(ok.body)).toBe(200)
        expect(ok.body).toEqual({ sub: 'alice', id: '1' })
        const user = await users.createAccessToken({ uid: 'alice' })
        const mismatch = await app.send({ method: 'GET', path: '/posts/1', headers: bearer(user) })
        expectError(mismatch, 401, 'ERR_LOGIN_TYPE_MISMATCH')
        expect(asked()).toBe(1)
      } finally {
        await app.close()
      }
    })
  })
}
