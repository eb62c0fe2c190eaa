/**
 * WebSocket upgrade requests through the ordinary guards and `websocketRequired`, in all five
 * adapters (docs/websocket.md): a cookie authenticates an upgrade request only from an origin in
 * `websocket.allowedOrigins` (cross-site WebSocket hijacking), and `websocketRequired` finds the
 * token where `authenticateWebSocket` does, whatever `tokenLocation` says.
 *
 * These are plain HTTP requests carrying `Upgrade: websocket` without `Connection: Upgrade`, so
 * Node hands them to the framework as ordinary requests and the guard's answer is visible; the
 * real upgrades on real sockets are in ws.test.ts and websocket-frameworks.test.ts.
 */
import Router from '@koa/router'
import express from 'express'
import Fastify from 'fastify'
import { Hono } from 'hono'
import Koa from 'koa'
import request from 'supertest'
import { describe, expect, it } from 'vitest'
import { expressAuthX } from '../../src/adapters/express.js'
import { fastifyAuthX } from '../../src/adapters/fastify.js'
import { honoAuthX } from '../../src/adapters/hono.js'
import { koaAuthX } from '../../src/adapters/koa.js'
import { webAuthX } from '../../src/adapters/web.js'
import { AuthX } from '../../src/index.js'

const SECRET = 'websocket-guards-secret-0123456789abcdef'
const ALLOWED = 'https://app.example'

interface Answer {
  status: number
  body: Record<string, unknown>
}
type Send = (path: string, headers: Record<string, string>) => Promise<Answer>

function makeAuth(): AuthX {
  return new AuthX({
    secretKey: SECRET,
    tokenLocation: ['headers', 'cookies'],
    websocket: { allowedOrigins: [ALLOWED] },
  })
}

/** Each app: GET /guarded behind accessRequired, GET /ws behind websocketRequired; both answer { sub }. */
const APPS: Record<string, (auth: AuthX) => Promise<Send>> = {
  async express(auth) {
    const authx = expressAuthX(auth)
    const app = express()
    app.get('/guarded', authx.accessRequired, (req, res) => res.json({ sub: authx.payload(req).sub }))
    app.get('/ws', authx.websocketRequired, (req, res) => res.json({ sub: authx.payload(req).sub }))
    app.use(authx.errorHandler)
    return async (path, headers) => {
      const res = await request(app).get(path).set(headers)
      return { status: res.status, body: res.body }
    }
  },
  async fastify(auth) {
    const app = Fastify()
    await app.register(fastifyAuthX, { auth })
    app.get('/guarded', { preHandler: app.authx.accessRequired }, async (req) => ({
      sub: app.authx.payload(req).sub,
    }))
    app.get('/ws', { preValidation: app.authx.websocketRequired }, async (req) => ({
      sub: app.authx.payload(req).sub,
    }))
    return async (path, headers) => {
      const res = await app.inject({ method: 'GET', url: path, headers })
      return { status: res.statusCode, body: res.json() }
    }
  },
  async hono(auth) {
    const authx = honoAuthX(auth)
    const app = new Hono()
    app.get('/guarded', authx.accessRequired, (c) => c.json({ sub: c.get('authx').sub }))
    app.get('/ws', authx.websocketRequired, (c) => c.json({ sub: c.get('authx').sub }))
    app.onError(authx.onError)
    return async (path, headers) => {
      const res = await app.request(`http://localhost${path}`, { headers })
      return { status: res.status, body: (await res.json()) as Record<string, unknown> }
    }
  },
  async koa(auth) {
    const authx = koaAuthX(auth)
    const app = new Koa()
    const router = new Router()
    app.use(authx.errorHandler)
    router.get('/guarded', authx.accessRequired, (ctx) => {
      ctx.body = { sub: ctx.state.authx.sub }
    })
    router.get('/ws', authx.websocketRequired, (ctx) => {
      ctx.body = { sub: ctx.state.authx.sub }
    })
    app.use(router.routes())
    const server = app.callback()
    return async (path, headers) => {
      const res = await request(server).get(path).set(headers)
      return { status: res.status, body: res.body }
    }
  },
  async web(auth) {
    const authx = webAuthX(auth)
    const guarded = authx.accessRequired(async (_req, payload) => Response.json({ sub: payload.sub }))
    const ws = authx.websocketRequired(async (_req, payload) => Response.json({ sub: payload.sub }))
    return async (path, headers) => {
      const req = new Request(`http://localhost${path}`, { headers })
      const res = await (new URL(req.url).pathname === '/ws' ? ws : guarded)(req)
      return { status: res.status, body: (await res.json()) as Record<string, unknown> }
    }
  },
}

const UPGRADE = { upgrade: 'websocket' }

describe.each(Object.keys(APPS))('%s', (name) => {
  const setup = async () => {
    const auth = makeAuth()
    const send = await APPS[name]!(auth)
    const token = await auth.createAccessToken({ uid: 'ws-user' })
    return { auth, send, token, cookie: { cookie: `access_token_cookie=${token}` } }
  }

  it('an ordinary guard reads the cookie of an upgrade request only from an allowed origin', async () => {
    const { send, cookie } = await setup()
    const foreign = await send('/guarded', { ...cookie, ...UPGRADE, origin: 'https://evil.example' })
    expect(foreign.status).toBe(401)
    expect(foreign.body.code).toBe('ERR_MISSING_TOKEN')
    const noOrigin = await send('/guarded', { ...cookie, ...UPGRADE })
    expect(noOrigin.status).toBe(401)
    // Any spelling of the Upgrade header is an upgrade.
    const mixed = await send('/guarded', { ...cookie, upgrade: 'WebSocket', origin: 'null' })
    expect(mixed.status).toBe(401)
    const allowed = await send('/guarded', { ...cookie, ...UPGRADE, origin: ALLOWED })
    expect(allowed).toEqual({ status: 200, body: { sub: 'ws-user' } })
  })

  it('an ordinary request keeps reading the cookie from any origin (CSRF rules apply as before)', async () => {
    const { send, cookie } = await setup()
    const plain = await send('/guarded', { ...cookie, origin: 'https://elsewhere.example' })
    expect(plain).toEqual({ status: 200, body: { sub: 'ws-user' } })
  })

  it('an explicit header token on an upgrade request works from any origin', async () => {
    const { send, token } = await setup()
    const res = await send('/guarded', {
      authorization: `Bearer ${token}`,
      ...UPGRADE,
      origin: 'https://evil.example',
    })
    expect(res).toEqual({ status: 200, body: { sub: 'ws-user' } })
  })

  it('websocketRequired finds the token in the query, the header and the Sec-WebSocket-Protocol entry', async () => {
    const { send, token } = await setup()
    // tokenLocation has no 'query': websocketRequired reads it all the same.
    expect(await send(`/ws?token=${token}`, UPGRADE)).toEqual({ status: 200, body: { sub: 'ws-user' } })
    expect(await send(`/guarded?token=${token}`, UPGRADE)).toMatchObject({ status: 401 })
    expect(await send('/ws', { ...UPGRADE, authorization: `Bearer ${token}` })).toMatchObject({ status: 200 })
    expect(
      await send('/ws', { ...UPGRADE, 'sec-websocket-protocol': `chat, authx.bearer.${token}` }),
    ).toEqual({ status: 200, body: { sub: 'ws-user' } })
  })

  it('websocketRequired reads the cookie from the allowed origins only', async () => {
    const { send, cookie } = await setup()
    expect(await send('/ws', { ...cookie, ...UPGRADE, origin: ALLOWED })).toMatchObject({ status: 200 })
    const foreign = await send('/ws', { ...cookie, ...UPGRADE, origin: 'https://evil.example' })
    expect(foreign.status).toBe(401)
    expect(foreign.body.code).toBe('ERR_MISSING_TOKEN')
  })

  it('websocketRequired refuses a refresh token, a bad signature and no token, without a token in the body', async () => {
    const { auth, send } = await setup()
    const refresh = await auth.createRefreshToken({ uid: 'ws-user' })
    const wrongType = await send(`/ws?token=${refresh}`, UPGRADE)
    expect(wrongType.status).toBe(401)
    expect(wrongType.body.code).toBe('ERR_WRONG_TOKEN_TYPE')
    const other = await new AuthX({ secretKey: `other-${SECRET}` }).createAccessToken({ uid: 'x' })
    const forged = await send(`/ws?token=${other}`, UPGRADE)
    expect(forged.status).toBe(401)
    expect(forged.body.code).toBe('ERR_INVALID_TOKEN')
    expect(JSON.stringify(forged.body)).not.toContain(other)
    const none = await send('/ws', UPGRADE)
    expect(none.status).toBe(401)
    expect(none.body.code).toBe('ERR_MISSING_TOKEN')
  })
})
