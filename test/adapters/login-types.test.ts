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
import { AuthManager, AuthX, ConfigError, MemoryStore } from '../../src/index.js'
import { segment } from '../support/keys.js'
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

const USER_SECRET = 'user-secret-0123456789abcdef-0123456789'
const ADMIN_SECRET = 'admin-secret-0123456789abcdef-012345678'

type Auth = AuthX | AuthManager

/** What every adapter offers, as far as these tests read it. */
interface AnyAdapter {
  loginType(type: string): AnyAdapter
  readonly accessRequired: unknown
}

interface App {
  send: Send
  close(): Promise<void>
}

interface Framework {
  name: string
  /** The adapter made for `auth` (Fastify: `app.authx` of a new app). */
  adapter(auth: Auth): Promise<AnyAdapter>
  /** The login-types app of this file's header. */
  serve(auth: Auth): Promise<App>
  /** Members of a managed adapter that work without a login type, besides payload and loginType. */
  shared: string[]
}

// ---------------------------------------------------------------- Node servers (Express, Koa)

afterEach(closeServers)

// ---------------------------------------------------------------- Fetch requests (Hono, Web)

// ---------------------------------------------------------------- the five apps

const TYPES = ['user', 'admin'] as const

const express5: Framework = {
  name: 'express',
  shared: ['errorHandler'],
  adapter: async (auth) => expressAuthX(auth),
  async serve(auth) {
    const app = express()
    const authx = expressAuthX(auth)
    for (const type of TYPES) {
      app.get(`/${type}`, authx.loginType(type).accessRequired, (req, res) => {
        const payload = authx.payload(req)
        res.json({ sub: payload.sub, loginType: payload.loginType })
      })
      app.post(`/${type}/refresh`, authx.loginType(type).refreshRoute)
    }
    app.use(authx.errorHandler)
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
  shared: [],
  async adapter(auth) {
    const app = await fastifyApp(auth)
    await app.ready()
    const adapter = app.authx
    await app.close()
    return adapter
  },
  async serve(auth) {
    const app = await fastifyApp(auth)
    const { authx } = app
    for (const type of TYPES) {
      app.get(`/${type}`, { preHandler: authx.loginType(type).accessRequired }, async (req) => {
        const payload = authx.payload(req)
        return { sub: payload.sub, loginType: payload.loginType }
      })
      app.post(`/${type}/refresh`, authx.loginType(type).refreshRoute)
    }
    await app.ready()
    return { send: injectSender(app), close: () => app.close() }
  },
}

const hono: Framework = {
  name: 'hono',
  shared: ['onError'],
  adapter: async (auth) => honoAuthX(auth),
  async serve(auth) {
    const app = new Hono()
    const authx = honoAuthX(auth)
    for (const type of TYPES) {
      app.get(`/${type}`, authx.loginType(type).accessRequired, (c) => {
        const payload = authx.payload(c)
        return c.json({ sub: payload.sub, loginType: payload.loginType })
      })
      app.post(`/${type}/refresh`, authx.loginType(type).refreshRoute)
    }
    app.onError(authx.onError)
    const send: Send = async (req) => fromResponse(await app.request(webRequest(req)))
    return { send, close: async () => {} }
  },
}

const koa: Framework = {
  name: 'koa',
  shared: ['errorHandler'],
  adapter: async (auth) => koaAuthX(auth),
  async serve(auth) {
    const app = new Koa()
    app.on('error', () => {})
    const authx = koaAuthX(auth)
    const router = new Router()
    app.use(authx.errorHandler)
    app.use(bodyParser())
    for (const type of TYPES) {
      router.get(`/${type}`, authx.loginType(type).accessRequired, (ctx) => {
        const payload = authx.payload(ctx)
        ctx.body = { sub: payload.sub, loginType: payload.loginType }
      })
      router.post(`/${type}/refresh`, authx.loginType(type).refreshRoute)
    }
    app.use(router.routes())
    return { send: supertestSender(await listen(app.callback())), close: async () => {} }
  },
}

const web: Framework = {
  name: 'web',
  shared: [],
  adapter: async (auth) => webAuthX(auth),
  async serve(auth) {
    const authx = webAuthX(auth)
    const routes = new Map<string, (req: Request) => Promise<Response>>()
    for (const type of TYPES) {
      routes.set(
        `GET /${type}`,
        authx.loginType(type).accessRequired(async (req) => {
          const payload = authx.payload(req)
          return Response.json({ sub: payload.sub, loginType: payload.loginType })
        }),
      )
      routes.set(`POST /${type}/refresh`, authx.loginType(type).refreshRoute)
    }
    const send: Send = async (req) => {
      const route = routes.get(`${req.method} ${req.path}`)
      if (route === undefined) throw new Error(`no route ${req.method} ${req.path}`)
      return fromResponse(await route(webRequest(req)))
    }
    return { send, close: async () => {} }
  },
}

const FRAMEWORKS: Framework[] = [express5, fastify, hono, koa, web]

// ---------------------------------------------------------------- instances

function instances(shared: boolean) {
  const store = new MemoryStore()
  const users = new AuthX({ secretKey: USER_SECRET, loginType: 'user', store })
  const admins = new AuthX({ secretKey: shared ? USER_SECRET : ADMIN_SECRET, loginType: 'admin', store })
  return { users, admins, manager: new AuthManager([users, admins]) }
}

/** The members every adapter has that need a login type on a managed adapter. */
const GUARDED = [
  'policyRequired',
  'websocketRequired',
  'accessRequired',
  'refreshRequired',
  'freshRequired',
  'accessOptional',
  'currentSubject',
  'implicitRefresh',
  'scopesRequired',
  'anyScopeRequired',
  'tokenRequired',
  'refreshRoute',
  'logoutRoute',
  'setAccessCookies',
  'setRefreshCookies',
  'unsetCookies',
  'unsetAccessCookies',
  'unsetRefreshCookies',
]

function mismatchAnswer(res: TestResponse): void {
  expectError(res, 401, 'ERR_LOGIN_TYPE_MISMATCH', 'Bearer error="invalid_token"')
  // The body names neither login type.
  expect(JSON.stringify(res.body)).not.toMatch(/user|admin/)
}

// ---------------------------------------------------------------- the scenarios

for (const framework of FRAMEWORKS) {
  describe(`${framework.name}: login types`, () => {
    for (const shared of [false, true]) {
      const secrets = shared ? 'one shared secret' : 'different secrets'

      const withApp = async (fn: (app: App, auth: ReturnType<typeof instances>) => Promise<void>) => {
        const auth = instances(shared)
        const app = await framework.serve(auth.manager)
        try {
          await fn(app, auth)
        } finally {
          await app.close()
        }
      }

      it(`${secrets}: each type's accessRequired admits its own tokens and refuses the other type's`, () =>
        withApp(async ({ send }, { users, admins }) => {
          const userToken = await users.createAccessToken({ uid: '42' })
          const adminToken = await admins.createAccessToken({ uid: '7' })
          const admin = await send({ method: 'GET', path: '/admin', headers: bearer(adminToken) })
          expect(admin.status, JSON.stringify(admin.body)).toBe(200)
          expect(admin.body).toEqual({ sub: '7', loginType: 'admin' })
          const user = await send({ method: 'GET', path: '/user', headers: bearer(userToken) })
          expect(user.status, JSON.stringify(user.body)).toBe(200)
          expect(user.body).toEqual({ sub: '42', loginType: 'user' })
          mismatchAnswer(await send({ method: 'GET', path: '/admin', headers: bearer(userToken) }))
          mismatchAnswer(await send({ method: 'GET', path: '/user', headers: bearer(adminToken) }))
        }))

      it(`${secrets}: a token without login_type is refused by both types`, () =>
        withApp(async ({ send }) => {
          const plain = new AuthX({ secretKey: USER_SECRET })
          const token = await plain.createAccessToken({ uid: '42' })
          for (const path of ['/user', '/admin']) {
            const res = await send({ method: 'GET', path, headers: bearer(token) })
            expect(res.status).toBe(401)
            expect((res.body as { code: string }).code).toMatch(/^ERR_(LOGIN_TYPE_MISMATCH|INVALID_TOKEN)$/)
          }
          // Signed with the user secret: the user route says precisely why.
          mismatchAnswer(await send({ method: 'GET', path: '/user', headers: bearer(token) }))
        }))

      it(`${secrets}: each type's refreshRoute rotates within the type and refuses the other`, () =>
        withApp(async ({ send }, { users, admins }) => {
          const user = await users.createTokenPair({ uid: '42' })
          // Refused first: the refused attempt must not consume the token.
          mismatchAnswer(
            await send({ method: 'POST', path: '/admin/refresh', headers: bearer(user.refreshToken) }),
          )
          const rotated = await send({
            method: 'POST',
            path: '/user/refresh',
            headers: bearer(user.refreshToken),
          })
          expect(rotated.status, JSON.stringify(rotated.body)).toBe(200)
          const body = rotated.body as { access_token: string; refresh_token: string }
          expect(segment(body.access_token, 1).login_type).toBe('user')
          expect(segment(body.refresh_token, 1).login_type).toBe('user')
          expect((await users.verifyToken(body.access_token)).sub).toBe('42')
          const admin = await admins.createTokenPair({ uid: '7' })
          mismatchAnswer(
            await send({ method: 'POST', path: '/user/refresh', headers: bearer(admin.refreshToken) }),
          )
          const adminRotated = await send({
            method: 'POST',
            path: '/admin/refresh',
            headers: bearer(admin.refreshToken),
          })
          expect(adminRotated.status).toBe(200)
          const adminAccess = (adminRotated.body as { access_token: string }).access_token
          expect(segment(adminAccess, 1).login_type).toBe('admin')
          const res = await send({ method: 'GET', path: '/admin', headers: bearer(adminAccess) })
          expect(res.body).toEqual({ sub: '7', loginType: 'admin' })
        }))
    }

    it('a managed adapter refuses every guard, route and cookie helper read without a login type', async () => {
      const { manager } = instances(false)
      const authx = (await framework.adapter(manager)) as unknown as Record<string, unknown>
      for (const name of GUARDED) {
        expect(() => authx[name], name).toThrow(ConfigError)
      }
      for (const name of framework.shared) expect(typeof authx[name], name).toBe('function')
      expect(typeof authx.payload).toBe('function')
    })

    it('a managed adapter can be spread, listed and logged without throwing', async () => {
      const { manager } = instances(false)
      const authx = (await framework.adapter(manager)) as unknown as Record<string, unknown>
      const copy = { ...authx }
      expect(Object.keys(copy).sort()).toEqual(['loginType', 'payload', ...framework.shared].sort())
      expect(() => JSON.stringify(authx)).not.toThrow()
    })

    it("a managed adapter's loginType gives the same adapter per type; an unknown type is ConfigError", async () => {
      const { manager } = instances(false)
      const authx = await framework.adapter(manager)
      const admin = authx.loginType('admin')
      expect(authx.loginType('admin')).toBe(admin)
      expect(authx.loginType('user')).not.toBe(admin)
      expect(typeof admin.accessRequired).not.toBe('undefined')
      // A type's adapter serves that type only.
      expect(admin.loginType('admin')).toBe(admin)
      expect(() => admin.loginType('user')).toThrow(ConfigError)
      expect(() => authx.loginType('nope')).toThrow(ConfigError)
    })

    it('a managed adapter of an empty manager is ConfigError', async () => {
      await expect(framework.adapter(new AuthManager())).rejects.toThrow(ConfigError)
    })

    it('a single-instance adapter: loginType(own type) is itself, any other type ConfigError', async () => {
      const users = new AuthX({ secretKey: USER_SECRET, loginType: 'user' })
      const authx = await framework.adapter(users)
      expect(authx.loginType('user')).toBe(authx)
      expect(() => authx.loginType('admin')).toThrow(ConfigError)
      const plain = await framework.adapter(new AuthX({ secretKey: USER_SECRET }))
      expect(() => plain.loginType('user')).toThrow(ConfigError)
      expect(typeof plain.accessRequired).not.toBe('undefined')
    })
  })
}
