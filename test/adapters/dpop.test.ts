/**
 * DPoP (RFC 9449) end to end through the five adapters, each in its real framework (issue 14,
 * item 1): a login bound to the client's key, guarded requests with proofs of a real jose client
 * (and every kind of bad proof), the challenges, the ready-made refresh route, required mode,
 * server nonces, the public origin behind a proxy, bound access tokens in cookies, and a property
 * that random `Authorization` and `DPoP` headers never make a 500.
 */

import { bodyParser } from '@koa/bodyparser'
import Router from '@koa/router'
import express from 'express'
import fc from 'fast-check'
import Fastify from 'fastify'
import { Hono } from 'hono'
import Koa from 'koa'
import { afterEach, beforeAll, describe, expect, it } from 'vitest'
import { expressAuthX } from '../../src/adapters/express.js'
import { fastifyAuthX } from '../../src/adapters/fastify.js'
import { honoAuthX } from '../../src/adapters/hono.js'
import { koaAuthX } from '../../src/adapters/koa.js'
import { webAuthX, withAuthXErrors } from '../../src/adapters/web.js'
import { AuthX } from '../../src/index.js'
import { type DPoPClient, dpopClient, type ProofOptions } from '../support/dpop-client.js'
import {
  closeServers,
  cookieHeader,
  expectError,
  fromResponse,
  injectSender,
  listen,
  type Send,
  setCookies,
  supertestSender,
  type TestResponse,
  webRequest,
} from './scenarios.js'

const SECRET = 'dpop-adapters-secret-0123456789abcdef-0123'
const NONCE_SECRET = 'dpop-adapters-nonce-secret-0123456789abcdef'
const START = 1_700_000_000_000
const ALGS = 'algs="ES256 ES384 EdDSA PS256 RS256"'
const PUBLIC_ORIGIN = 'https://api.example.com'

interface ServeOptions {
  /** Express only: `app.set('trust proxy', true)`. */
  trustProxy?: boolean
}

interface App {
  send: Send
  /** The scheme and host a client addresses this app with (the `htu` of its proofs). */
  base: string
}

/**
 * Routes of every app (JSON answers):
 *   POST /login         body {uid}: jkt = the adapter's dpopThumbprint; createTokenPair({uid, jkt});
 *                       sets the cookies; answers {access_token, refresh_token, token_type}
 *   GET  /me            accessRequired -> {sub, jkt}
 *   POST /auth/refresh  refreshRoute (the ready-made route)
 */
interface Framework {
  name: string
  serve(auth: AuthX, options?: ServeOptions): Promise<App>
}

afterEach(closeServers)

// ---------------------------------------------------------------- the five apps

interface LoginAnswer {
  access_token: string
  refresh_token: string
  token_type: string
}

async function login(auth: AuthX, uid: string, jkt: string | undefined): Promise<LoginAnswer> {
  const pair = await auth.createTokenPair({ uid, ...(jkt === undefined ? {} : { jkt }) })
  return { access_token: pair.accessToken, refresh_token: pair.refreshToken, token_type: pair.tokenType }
}

function me(payload: { sub: string; jkt?: string | undefined }) {
  return { sub: payload.sub, jkt: payload.jkt ?? null }
}

const express5: Framework = {
  name: 'express',
  async serve(auth, options = {}) {
    const app = express()
    if (options.trustProxy) app.set('trust proxy', true)
    app.use(express.json())
    const authx = expressAuthX(auth)
    app.post('/login', async (req, res) => {
      const body = await login(auth, (req.body as { uid: string }).uid, await authx.dpopThumbprint(req))
      authx.setAccessCookies(res, body.access_token)
      authx.setRefreshCookies(res, body.refresh_token)
      res.json(body)
    })
    app.get('/me', authx.accessRequired, (req, res) => {
      res.json(me(req.authx!))
    })
    app.post('/auth/refresh', authx.refreshRoute)
    app.use(authx.errorHandler)
    const server = await listen(app)
    const { port } = server.address() as { port: number }
    return { send: supertestSender(server), base: `http://127.0.0.1:${port}` }
  },
}

/** Through `inject`: `request.host` is `localhost:80`, the default port of `http`. */
const fastify: Framework = {
  name: 'fastify',
  async serve(auth) {
    const app = Fastify()
    await app.register(fastifyAuthX, { auth })
    const { authx } = app
    app.post('/login', async (request, reply) => {
      const body = await login(
        auth,
        (request.body as { uid: string }).uid,
        await authx.dpopThumbprint(request),
      )
      authx.setAccessCookies(reply, body.access_token)
      authx.setRefreshCookies(reply, body.refresh_token)
      return body
    })
    app.get('/me', { preHandler: authx.accessRequired }, async (request) => me(authx.payload(request)))
    app.post('/auth/refresh', authx.refreshRoute)
    await app.ready()
    return { send: injectSender(app), base: 'http://localhost' }
  },
}

/** Through `app.request`: `c.req.url` is the Request's URL. */
const hono: Framework = {
  name: 'hono',
  async serve(auth) {
    const app = new Hono()
    const authx = honoAuthX(auth)
    app.post('/login', async (c) => {
      const { uid } = await c.req.json<{ uid: string }>()
      const body = await login(auth, uid, await authx.dpopThumbprint(c))
      authx.setAccessCookies(c, body.access_token)
      authx.setRefreshCookies(c, body.refresh_token)
      return c.json(body)
    })
    app.get('/me', authx.accessRequired, (c) => c.json(me(c.get('authx'))))
    app.post('/auth/refresh', authx.refreshRoute)
    app.onError(authx.onError)
    return {
      send: async (req) => fromResponse(await app.request(webRequest(req))),
      base: 'http://localhost',
    }
  },
}

const koa: Framework = {
  name: 'koa',
  async serve(auth) {
    const app = new Koa()
    app.on('error', () => {})
    const authx = koaAuthX(auth)
    const router = new Router()
    app.use(authx.errorHandler)
    app.use(bodyParser())
    router.post('/login', async (ctx) => {
      const body = await login(
        auth,
        (ctx.request.body as { uid: string }).uid,
        await authx.dpopThumbprint(ctx),
      )
      authx.setAccessCookies(ctx, body.access_token)
      authx.setRefreshCookies(ctx, body.refresh_token)
      ctx.body = body
    })
    router.get('/me', authx.accessRequired, (ctx) => {
      ctx.body = me(ctx.state.authx)
    })
    router.post('/auth/refresh', authx.refreshRoute)
    app.use(router.routes())
    const server = await listen(app.callback())
    const { port } = server.address() as { port: number }
    return { send: supertestSender(server), base: `http://127.0.0.1:${port}` }
  },
}

/** Plain handlers on a Map, as Next.js, Bun or Workers route them; a thrown error is a 500. */
const web: Framework = {
  name: 'web',
  async serve(auth) {
    const authx = webAuthX(auth)
    const routes = new Map<string, (req: Request) => Promise<Response>>([
      [
        'POST /login',
        withAuthXErrors(async (req: Request) => {
          const { uid } = (await req.json()) as { uid: string }
          const body = await login(auth, uid, await auth.dpopThumbprint(req))
          const res = Response.json(body)
          return authx.setRefreshCookies(authx.setAccessCookies(res, body.access_token), body.refresh_token)
        }),
      ],
      ['GET /me', authx.accessRequired(async (_req, payload) => Response.json(me(payload)))],
      ['POST /auth/refresh', authx.refreshRoute],
    ])
    const send: Send = async (req) => {
      const request = webRequest(req)
      const route = routes.get(`${request.method} ${new URL(request.url).pathname}`)
      if (route === undefined) return fromResponse(new Response('not found', { status: 404 }))
      try {
        return await fromResponse(await route(request))
      } catch {
        return fromResponse(new Response('internal error', { status: 500 }))
      }
    }
    return { send, base: 'http://localhost' }
  },
}

const FRAMEWORKS: Framework[] = [express5, fastify, hono, koa, web]

// ---------------------------------------------------------------- helpers

const clock = { now: START }
let alice: DPoPClient
let mallory: DPoPClient

beforeAll(async () => {
  alice = await dpopClient('ES256', () => clock.now)
  mallory = await dpopClient('EdDSA', () => clock.now)
})

function makeAuth(dpop: Record<string, unknown> = {}): AuthX {
  clock.now = START
  return new AuthX({
    secretKey: SECRET,
    tokenLocation: ['headers', 'cookies'],
    clock: () => clock.now,
    dpop,
  })
}

function header(res: TestResponse, name: string): string | undefined {
  const value = res.headers[name]
  return Array.isArray(value) ? value.join(', ') : value
}

/** A 401 of a refused proof, with its reason and the optional-DPoP challenge. */
function expectProofError(
  res: TestResponse,
  reason: string,
  www = `Bearer, DPoP error="invalid_dpop_proof", ${ALGS}`,
) {
  expectError(res, 401, 'ERR_INVALID_DPOP_PROOF', www)
  expect((res.body as { reason?: string }).reason).toBe(reason)
}

function expectBindingError(res: TestResponse, www: string) {
  expectError(res, 401, 'ERR_INVALID_TOKEN', www)
  expect((res.body as { reason?: string }).reason).toBe('binding')
}

function jktOf(auth: AuthX, token: string): unknown {
  return (auth.decodeUnverified(token).payload.cnf as { jkt?: unknown } | undefined)?.jkt
}

/** Logs in, with a proof of `client` when given (and `nonce` in it). */
async function loginAt(app: App, client?: DPoPClient, proof: Partial<ProofOptions> = {}) {
  const headers: Record<string, string> = { 'content-type': 'application/json' }
  if (client !== undefined) {
    headers.dpop = await client.proof({ htm: 'POST', htu: `${app.base}/login`, ...proof })
  }
  return app.send({ method: 'POST', path: '/login', headers, body: JSON.stringify({ uid: 'user1' }) })
}

async function boundLogin(app: App, client: DPoPClient = alice) {
  const res = await loginAt(app, client)
  expect(res.status, JSON.stringify(res.body)).toBe(200)
  const body = res.body as LoginAnswer
  return { access: body.access_token, refresh: body.refresh_token, cookies: setCookies(res) }
}

/** GET /me with `Authorization: DPoP <access>` and the given `DPoP` header (none when undefined). */
function getMe(app: App, access: string, proof: string | undefined, scheme = 'DPoP') {
  const headers: Record<string, string> = { authorization: `${scheme} ${access}` }
  if (proof !== undefined) headers.dpop = proof
  return app.send({ method: 'GET', path: '/me', headers })
}

function meProof(app: App, access: string | undefined, overrides: Partial<ProofOptions> = {}) {
  return alice.proof({
    htm: 'GET',
    htu: `${app.base}/me`,
    accessToken: access,
    ...overrides,
  })
}

function refreshWith(app: App, refresh: string, proof: string | undefined) {
  const headers: Record<string, string> = { authorization: `DPoP ${refresh}` }
  if (proof !== undefined) headers.dpop = proof
  return app.send({ method: 'POST', path: '/auth/refresh', headers })
}

// ---------------------------------------------------------------- the scenarios

for (const framework of FRAMEWORKS) {
  describe(`${framework.name}: DPoP`, () => {
    it('a login with a proof binds the pair to the client key; one without gets a Bearer pair', async () => {
      const auth = makeAuth()
      const app = await framework.serve(auth)
      const res = await loginAt(app, alice)
      expect(res.status, JSON.stringify(res.body)).toBe(200)
      const body = res.body as LoginAnswer
      expect(body.token_type).toBe('DPoP')
      expect(jktOf(auth, body.access_token)).toBe(alice.jkt)
      expect(jktOf(auth, body.refresh_token)).toBe(alice.jkt)
      const plain = await loginAt(app)
      expect(plain.status).toBe(200)
      expect((plain.body as LoginAnswer).token_type).toBe('bearer')
      expect(jktOf(auth, (plain.body as LoginAnswer).access_token)).toBeUndefined()
    })

    it('a login with a bad proof is 401, not an unbound pair', async () => {
      const app = await framework.serve(makeAuth())
      expectProofError(await loginAt(app, alice, { htm: 'GET' }), 'htm')
      expectProofError(await loginAt(app, alice, { htu: `${app.base}/elsewhere` }), 'htu')
    })

    it('a guarded GET with a valid proof is 200; the same proof again is a replay', async () => {
      const app = await framework.serve(makeAuth())
      const { access } = await boundLogin(app)
      const proof = await meProof(app, access)
      const ok = await getMe(app, access, proof)
      expect(ok.status, JSON.stringify(ok.body)).toBe(200)
      expect(ok.body).toEqual({ sub: 'user1', jkt: alice.jkt })
      expectProofError(await getMe(app, access, proof), 'replay')
      // A fresh proof passes again.
      expect((await getMe(app, access, await meProof(app, access))).status).toBe(200)
    })

    it('refuses an expired proof, and one from too far ahead', async () => {
      const app = await framework.serve(makeAuth())
      const { access } = await boundLogin(app)
      const now = Math.floor(START / 1000)
      expectProofError(await getMe(app, access, await meProof(app, access, { iat: now - 61 })), 'iat')
      expectProofError(await getMe(app, access, await meProof(app, access, { iat: now + 6 })), 'iat')
      expect((await getMe(app, access, await meProof(app, access, { iat: now - 60 }))).status).toBe(200)
    })

    it('refuses a proof for another method or another URL', async () => {
      const app = await framework.serve(makeAuth())
      const { access } = await boundLogin(app)
      expectProofError(await getMe(app, access, await meProof(app, access, { htm: 'POST' })), 'htm')
      expectProofError(await getMe(app, access, await meProof(app, access, { htm: 'get' })), 'htm')
      expectProofError(
        await getMe(app, access, await meProof(app, access, { htu: `${app.base}/other` })),
        'htu',
      )
      expectProofError(
        await getMe(app, access, await meProof(app, access, { htu: 'https://evil.example/me' })),
        'htu',
      )
    })

    it('refuses a proof made with another key, and one for another access token', async () => {
      const app = await framework.serve(makeAuth())
      const { access, refresh } = await boundLogin(app)
      const stolen = await mallory.proof({ htm: 'GET', htu: `${app.base}/me`, accessToken: access })
      expectProofError(await getMe(app, access, stolen), 'key')
      expectProofError(await getMe(app, access, await meProof(app, refresh)), 'ath')
      expectProofError(await getMe(app, access, await meProof(app, undefined)), 'ath')
      expectProofError(await getMe(app, access, undefined), 'missing')
    })

    it('refuses a bound token sent as Bearer, even with a valid proof', async () => {
      const app = await framework.serve(makeAuth())
      const { access } = await boundLogin(app)
      expectBindingError(
        await getMe(app, access, await meProof(app, access), 'Bearer'),
        `Bearer error="invalid_token", DPoP error="invalid_token", ${ALGS}`,
      )
      expectBindingError(
        await getMe(app, access, undefined, 'Bearer'),
        `Bearer error="invalid_token", DPoP error="invalid_token", ${ALGS}`,
      )
    })

    it('refuses an unbound token sent as DPoP; passes it as Bearer where DPoP is optional', async () => {
      const app = await framework.serve(makeAuth())
      const access = ((await loginAt(app)).body as LoginAnswer).access_token
      expectBindingError(
        await getMe(app, access, await meProof(app, access)),
        `Bearer error="invalid_token", DPoP error="invalid_token", ${ALGS}`,
      )
      const ok = await getMe(app, access, undefined, 'Bearer')
      expect(ok.status).toBe(200)
      expect(ok.body).toEqual({ sub: 'user1', jkt: null })
    })

    it('answers a request without a token with a Bearer and a DPoP challenge', async () => {
      const app = await framework.serve(makeAuth())
      const res = await app.send({ method: 'GET', path: '/me' })
      expectError(res, 401, 'ERR_MISSING_TOKEN', `Bearer, DPoP ${ALGS}`)
    })

    it('refreshRoute: needs a proof of the same key (no ath), and the new pair stays bound', async () => {
      const auth = makeAuth()
      const app = await framework.serve(auth)
      const { refresh } = await boundLogin(app)
      const htu = `${app.base}/auth/refresh`
      expectProofError(await refreshWith(app, refresh, undefined), 'missing')
      expectProofError(await refreshWith(app, refresh, await mallory.proof({ htm: 'POST', htu })), 'key')
      expectProofError(await refreshWith(app, refresh, await alice.proof({ htm: 'GET', htu })), 'htm')
      expectBindingError(
        await app.send({
          method: 'POST',
          path: '/auth/refresh',
          headers: { authorization: `Bearer ${refresh}`, dpop: await alice.proof({ htm: 'POST', htu }) },
        }),
        `Bearer error="invalid_token", DPoP error="invalid_token", ${ALGS}`,
      )
      // The refused attempts did not spend the refresh token.
      const res = await refreshWith(app, refresh, await alice.proof({ htm: 'POST', htu }))
      expect(res.status, JSON.stringify(res.body)).toBe(200)
      const body = res.body as LoginAnswer
      expect(body.token_type).toBe('DPoP')
      expect(jktOf(auth, body.access_token)).toBe(alice.jkt)
      expect(jktOf(auth, body.refresh_token)).toBe(alice.jkt)
      const ok = await getMe(app, body.access_token, await meProof(app, body.access_token))
      expect(ok.status).toBe(200)
      // The next rotation needs a proof of the same key too.
      expectProofError(
        await refreshWith(app, body.refresh_token, await mallory.proof({ htm: 'POST', htu })),
        'key',
      )
    })

    it('required mode: an unbound token and a login without a proof are 401', async () => {
      const auth = makeAuth({ required: true })
      const app = await framework.serve(auth)
      // Made by an instance with the same key and no DPoP: a required instance binds every pair.
      const unbound = await new AuthX({ secretKey: SECRET, clock: () => clock.now }).createAccessToken({
        uid: 'user1',
      })
      const www = `DPoP error="invalid_token", ${ALGS}`
      expectBindingError(await getMe(app, unbound, undefined, 'Bearer'), www)
      expectBindingError(await getMe(app, unbound, await meProof(app, unbound)), www)
      expectProofError(await loginAt(app), 'missing', `DPoP error="invalid_dpop_proof", ${ALGS}`)
      expectError(await app.send({ method: 'GET', path: '/me' }), 401, 'ERR_MISSING_TOKEN', `DPoP ${ALGS}`)
      const { access } = await boundLogin(app)
      expect((await getMe(app, access, await meProof(app, access))).status).toBe(200)
    })

    it('nonces: a proof without one is 401 with a DPoP-Nonce, the retry with it is 200', async () => {
      const app = await framework.serve(makeAuth({ nonce: { secret: NONCE_SECRET } }))
      const www = `Bearer, DPoP error="use_dpop_nonce", ${ALGS}`
      const first = await loginAt(app, alice)
      expectError(first, 401, 'ERR_USE_DPOP_NONCE', www)
      const nonce = header(first, 'dpop-nonce')
      expect(nonce).toMatch(/^[A-Za-z0-9_-]{43}$/)
      const res = await loginAt(app, alice, { nonce: nonce! })
      expect(res.status, JSON.stringify(res.body)).toBe(200)
      const access = (res.body as LoginAnswer).access_token
      const without = await getMe(app, access, await meProof(app, access))
      expectError(without, 401, 'ERR_USE_DPOP_NONCE', www)
      expect(header(without, 'dpop-nonce')).toBe(nonce)
      const wrong = await getMe(app, access, await meProof(app, access, { nonce: 'not-the-nonce' }))
      expectError(wrong, 401, 'ERR_USE_DPOP_NONCE', www)
      const ok = await getMe(app, access, await meProof(app, access, { nonce: nonce! }))
      expect(ok.status, JSON.stringify(ok.body)).toBe(200)
    })

    it('dpop.origin: proofs name the public origin, not the address the server sees', async () => {
      const app = await framework.serve(makeAuth({ origin: PUBLIC_ORIGIN }))
      const res = await loginAt(app, alice, { htu: `${PUBLIC_ORIGIN}/login` })
      expect(res.status, JSON.stringify(res.body)).toBe(200)
      const access = (res.body as LoginAnswer).access_token
      expect(
        (await getMe(app, access, await meProof(app, access, { htu: `${PUBLIC_ORIGIN}/me` }))).status,
      ).toBe(200)
      expectProofError(await getMe(app, access, await meProof(app, access)), 'htu')
      expectProofError(
        await getMe(app, access, await meProof(app, access, { htu: 'https://other.example.com/me' })),
        'htu',
      )
    })

    it('a bound access token in a cookie: a proof without ath passes, none or a wrong ath is 401', async () => {
      const app = await framework.serve(makeAuth())
      const { access, refresh, cookies } = await boundLogin(app)
      const cookie = cookieHeader(cookies)
      expect(cookie).toContain(`access_token_cookie=${access}`)
      const get = (proof: string | undefined) =>
        app.send({
          method: 'GET',
          path: '/me',
          headers: { cookie, ...(proof === undefined ? {} : { dpop: proof }) },
        })
      const ok = await get(await meProof(app, undefined))
      expect(ok.status, JSON.stringify(ok.body)).toBe(200)
      expect(ok.body).toEqual({ sub: 'user1', jkt: alice.jkt })
      expect((await get(await meProof(app, access))).status).toBe(200)
      expectProofError(await get(undefined), 'missing')
      expectProofError(await get(await meProof(app, refresh)), 'ath')
      expectProofError(await get(await mallory.proof({ htm: 'GET', htu: `${app.base}/me` })), 'key')
      const replayed = await meProof(app, undefined)
      expect((await get(replayed)).status).toBe(200)
      expectProofError(await get(replayed), 'replay')
    })

    it('a bound refresh token in a cookie: refreshRoute needs the CSRF value and a proof of the same key', async () => {
      const auth = makeAuth()
      const app = await framework.serve(auth)
      const { cookies } = await boundLogin(app)
      const cookie = cookieHeader(cookies)
      const csrf = /csrf_refresh_token=([^;]+)/.exec(cookie)?.[1]
      expect(csrf).toBeDefined()
      const htu = `${app.base}/auth/refresh`
      const post = (proof: string | undefined) =>
        app.send({
          method: 'POST',
          path: '/auth/refresh',
          headers: { cookie, 'x-csrf-token': csrf!, ...(proof === undefined ? {} : { dpop: proof }) },
        })
      expectProofError(await post(undefined), 'missing')
      expectProofError(await post(await mallory.proof({ htm: 'POST', htu })), 'key')
      const res = await post(await alice.proof({ htm: 'POST', htu }))
      expect(res.status, JSON.stringify(res.body)).toBe(200)
      expect((res.body as LoginAnswer).token_type).toBe('DPoP')
      expect(jktOf(auth, (res.body as LoginAnswer).access_token)).toBe(alice.jkt)
      const renewed = setCookies(res).find((c) => c.startsWith('access_token_cookie='))
      expect(jktOf(auth, renewed!.split(';')[0]!.slice('access_token_cookie='.length))).toBe(alice.jkt)
    })

    it('compares the htu without the query string', async () => {
      const app = await framework.serve(makeAuth())
      const { access } = await boundLogin(app)
      const proof = await meProof(app, access)
      const res = await app.send({
        method: 'GET',
        path: '/me?page=2&sort=name',
        headers: { authorization: `DPoP ${access}`, dpop: proof },
      })
      expect(res.status, JSON.stringify(res.body)).toBe(200)
    })
  })
}

// ---------------------------------------------------------------- per framework

describe('express: DPoP behind a proxy', () => {
  it("with trust proxy, X-Forwarded-Proto makes the htu's scheme; a proof for another origin fails", async () => {
    const app = await express5.serve(makeAuth(), { trustProxy: true })
    const https = { 'x-forwarded-proto': 'https', host: 'api.example.com' }
    const login = await app.send({
      method: 'POST',
      path: '/login',
      headers: {
        ...https,
        'content-type': 'application/json',
        dpop: await alice.proof({ htm: 'POST', htu: 'https://api.example.com/login' }),
      },
      body: JSON.stringify({ uid: 'user1' }),
    })
    expect(login.status, JSON.stringify(login.body)).toBe(200)
    const access = (login.body as LoginAnswer).access_token
    const get = async (htu: string) =>
      app.send({
        method: 'GET',
        path: '/me?page=2',
        headers: {
          ...https,
          authorization: `DPoP ${access}`,
          dpop: await alice.proof({ htm: 'GET', htu, accessToken: access }),
        },
      })
    // The query is not part of the comparison (RFC 9449 section 4.3).
    expect((await get('https://api.example.com/me')).status).toBe(200)
    expectProofError(await get('http://api.example.com/me'), 'htu')
    expectProofError(await get('https://other.example.com/me'), 'htu')
  })

  it('without trust proxy, a spoofed X-Forwarded-Proto is ignored', async () => {
    const app = await express5.serve(makeAuth())
    const { access } = await boundLogin(app)
    const get = async (htu: string) =>
      app.send({
        method: 'GET',
        path: '/me',
        headers: {
          'x-forwarded-proto': 'https',
          authorization: `DPoP ${access}`,
          dpop: await alice.proof({ htm: 'GET', htu, accessToken: access }),
        },
      })
    expectProofError(await get(`${app.base.replace('http:', 'https:')}/me`), 'htu')
    expect((await get(`${app.base}/me`)).status).toBe(200)
  })
})

describe.each(FRAMEWORKS)('$name: no 500 from client input', (framework) => {
  it('random Authorization and DPoP headers never make a 500 (property)', async () => {
    const auth = makeAuth()
    const app = await framework.serve(auth)
    const { access, refresh } = await boundLogin(app)
    const plain = ((await loginAt(app)).body as LoginAnswer).access_token
    const printable = fc.string({ unit: 'grapheme-ascii', maxLength: 80 })
    const segment = fc.string({
      unit: fc.constantFrom(...'ABCabc012-_=+/.'.split('')),
      maxLength: 40,
    })
    const valid = await meProof(app, access)
    const routes = fc.constantFrom(
      { method: 'GET', path: '/me' },
      { method: 'POST', path: '/auth/refresh' },
      { method: 'POST', path: '/login' },
    )
    const authorization = fc.option(
      fc.oneof(
        printable,
        fc.constantFrom(
          `DPoP ${access}`,
          `Bearer ${access}`,
          `DPoP ${refresh}`,
          `DPoP ${plain}`,
          `dpop ${access}`,
        ),
        printable.map((s) => `DPoP ${s}`),
        fc.tuple(segment, segment, segment).map((parts) => `DPoP ${parts.join('.')}`),
      ),
      { nil: undefined },
    )
    const dpop = fc.option(
      fc.oneof(
        printable,
        fc.tuple(segment, segment, segment).map((parts) => parts.join('.')),
        fc
          .nat({ max: valid.length - 1 })
          .map((i) => `${valid.slice(0, i)}${valid[i] === 'A' ? 'B' : 'A'}${valid.slice(i + 1)}`),
        fc.constant(`${valid}, ${valid}`),
        fc
          .record({
            typ: fc.constantFrom('dpop+jwt', 'JWT'),
            alg: fc.constantFrom('ES256', 'none', 'HS256', 'RS256'),
          })
          .map((h) => `${Buffer.from(JSON.stringify(h)).toString('base64url')}.e30.AAAA`),
      ),
      { nil: undefined },
    )
    await fc.assert(
      fc.asyncProperty(routes, authorization, dpop, async (route, auth, proof) => {
        const headers: Record<string, string> = { 'content-type': 'application/json' }
        if (auth !== undefined) headers.authorization = auth
        if (proof !== undefined) headers.dpop = proof
        const body = route.method === 'POST' ? JSON.stringify({ uid: 'user1' }) : undefined
        const res = await app.send({ ...route, headers, ...(body === undefined ? {} : { body }) })
        expect(res.status, JSON.stringify(res.body)).toBeLessThan(500)
      }),
      { numRuns: 100 },
    )
  })
})
