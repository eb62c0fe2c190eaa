/**
 * WebSocket authentication in the frameworks (SPEC 9.2), on real sockets with real `ws` clients:
 * - Fastify with `@fastify/websocket`: the Fastify guards as `preValidation` (or `preHandler`) of a
 *   `websocket: true` route answer 401 over HTTP before the upgrade;
 * - Hono with `@hono/node-ws` on `@hono/node-server`: the Hono guard before `upgradeWebSocket`;
 * - a Web `(Request) => Response` handler calling `auth.authenticateWebSocket(request)` before it
 *   upgrades (Deno, Bun and workers upgrade with their own calls; here the handler answers what it
 *   would upgrade with), given Web Requests carrying the upgrade headers.
 */
import type { AddressInfo } from 'node:net'
import fastifyWebsocket from '@fastify/websocket'
import { serve } from '@hono/node-server'
import { createNodeWebSocket } from '@hono/node-ws'
import Fastify from 'fastify'
import { Hono } from 'hono'
import { afterEach, describe, expect, it } from 'vitest'
import { fastifyAuthX } from '../../src/adapters/fastify.js'
import { honoAuthX } from '../../src/adapters/hono.js'
import { wsAuthX } from '../../src/adapters/ws.js'
import { type AuthX, BEARER_PROTOCOL_PREFIX, errorToResponse, isAuthXError } from '../../src/index.js'
import { connect, type Outcome } from '../support/ws-client.js'
import { makeAuth } from './scenarios.js'

const ORIGIN = 'https://app.example.com'
const FOREIGN = 'https://evil.example.net'

const closers: (() => Promise<void>)[] = []
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close()
})

/** The verified subject, or a marker the tests can never expect: a socket opened unverified. */
function subOf(payload: () => { sub: string }): string {
  try {
    return payload().sub
  } catch {
    return '<opened without a verified payload>'
  }
}

function expectOpened(outcome: Outcome, sub: string) {
  expect(outcome.kind, JSON.stringify(outcome)).toBe('open')
  if (outcome.kind === 'open') expect(outcome.message).toBe(sub)
}

function expectRefusedWithBody(outcome: Outcome, status: number, code: string, www?: string) {
  expect(outcome.kind, JSON.stringify(outcome)).toBe('refused')
  if (outcome.kind !== 'refused') return
  expect(outcome.status).toBe(status)
  expect(outcome.headers['content-type']).toMatch(/^application\/json/)
  expect((JSON.parse(outcome.raw) as { code: string }).code).toBe(code)
  if (www !== undefined) expect(outcome.headers['www-authenticate']).toBe(www)
}

type GuardName = 'accessRequired' | 'websocketRequired'
const GUARDS: GuardName[] = ['accessRequired', 'websocketRequired']

describe('Fastify with @fastify/websocket', () => {
  type Hook = 'preValidation' | 'preHandler'

  async function fastifyServer(
    auth: AuthX,
    hook: Hook = 'preValidation',
    guard: GuardName = 'accessRequired',
  ) {
    const app = Fastify()
    let opened = 0
    await app.register(fastifyWebsocket, { options: { handleProtocols: wsAuthX(auth).handleProtocols } })
    await app.register(fastifyAuthX, { auth })
    await app.register(async (child) => {
      child.get('/ws', { websocket: true, [hook]: child.authx[guard] }, (socket, request) => {
        opened++
        socket.send(subOf(() => child.authx.payload(request)))
      })
    })
    await app.listen({ port: 0, host: '127.0.0.1' })
    closers.push(() => app.close())
    const { port } = app.server.address() as AddressInfo
    return { url: `ws://127.0.0.1:${port}/ws`, opened: () => opened }
  }

  it.each<Hook>(['preValidation', 'preHandler'])(
    'the guard as %s answers 401 over HTTP before the upgrade; the socket never opens',
    async (hook) => {
      const served = await fastifyServer(makeAuth(), hook)
      const outcome = await connect(served.url)
      expectRefusedWithBody(outcome, 401, 'ERR_MISSING_TOKEN', 'Bearer')
      if (outcome.kind === 'refused') expect(outcome.headers['cache-control']).toBe('no-store')
      expect(served.opened()).toBe(0)
    },
  )

  it.each<Hook>(['preValidation', 'preHandler'])(
    'the guard as %s lets a valid header token open the socket, and the handler sends sub',
    async (hook) => {
      const auth = makeAuth()
      const served = await fastifyServer(auth, hook)
      const token = await auth.createAccessToken({ uid: 'fastify-user' })
      expectOpened(
        await connect(served.url, { headers: { authorization: `Bearer ${token}` } }),
        'fastify-user',
      )
      expect(served.opened()).toBe(1)
    },
  )

  it('with the query location a ?token= upgrade opens; a bad one is 401 ERR_INVALID_TOKEN', async () => {
    const auth = makeAuth({ tokenLocation: ['headers', 'query'] })
    const served = await fastifyServer(auth)
    const token = await auth.createAccessToken({ uid: 'query-user' })
    expectOpened(await connect(`${served.url}?token=${token}`), 'query-user')
    expectRefusedWithBody(await connect(`${served.url}?token=${token}x`), 401, 'ERR_INVALID_TOKEN')
    expect(served.opened()).toBe(1)
  })

  it('websocketRequired finds the token in a Sec-WebSocket-Protocol entry; chat is selected', async () => {
    const auth = makeAuth({ tokenLocation: ['headers'] })
    const served = await fastifyServer(auth, 'preValidation', 'websocketRequired')
    const token = await auth.createAccessToken({ uid: 'protocol-user' })
    const outcome = await connect(served.url, { protocols: [`${BEARER_PROTOCOL_PREFIX}${token}`, 'chat'] })
    expectOpened(outcome, 'protocol-user')
    if (outcome.kind === 'open') {
      expect(outcome.protocol).toBe('chat')
      expect(JSON.stringify(outcome.upgrade)).not.toContain(token)
    }
    expectOpened(await connect(`${served.url}?token=${token}`), 'protocol-user')
    expectRefusedWithBody(await connect(served.url), 401, 'ERR_MISSING_TOKEN', 'Bearer')
    expect(served.opened()).toBe(2)
  })

  describe('security: cross-site WebSocket hijacking', () => {
    it.each(GUARDS)('%s reads the access cookie of an upgrade from an allowed Origin only', async (guard) => {
      const auth = makeAuth({ websocket: { allowedOrigins: [ORIGIN] } })
      const served = await fastifyServer(auth, 'preValidation', guard)
      const token = await auth.createAccessToken({ uid: 'victim' })
      const cookie = { cookie: `access_token_cookie=${token}` }
      for (const origin of [FOREIGN, undefined]) {
        expectRefusedWithBody(
          await connect(served.url, { headers: cookie, ...(origin === undefined ? {} : { origin }) }),
          401,
          'ERR_MISSING_TOKEN',
        )
      }
      expect(served.opened()).toBe(0)
      expectOpened(await connect(served.url, { headers: cookie, origin: ORIGIN }), 'victim')
    })

    it('accessRequired never reads the cookie of an upgrade without websocket.allowedOrigins', async () => {
      const auth = makeAuth()
      const served = await fastifyServer(auth)
      const token = await auth.createAccessToken({ uid: 'victim' })
      expectRefusedWithBody(
        await connect(served.url, { headers: { cookie: `access_token_cookie=${token}` }, origin: ORIGIN }),
        401,
        'ERR_MISSING_TOKEN',
      )
      expect(served.opened()).toBe(0)
    })
  })

  it('a refresh token is 401 ERR_WRONG_TOKEN_TYPE, never opened', async () => {
    const auth = makeAuth()
    const served = await fastifyServer(auth)
    const token = await auth.createRefreshToken({ uid: 'u1' })
    expectRefusedWithBody(
      await connect(served.url, { headers: { authorization: `Bearer ${token}` } }),
      401,
      'ERR_WRONG_TOKEN_TYPE',
    )
    expect(served.opened()).toBe(0)
  })
})

describe('Hono with @hono/node-ws on @hono/node-server', () => {
  async function honoServer(
    auth: AuthX,
    { selectProtocol = false, guard = 'accessRequired' as GuardName } = {},
  ) {
    const app = new Hono()
    const authx = honoAuthX(auth)
    const { injectWebSocket, upgradeWebSocket, wss } = createNodeWebSocket({ app })
    // @hono/node-ws makes its WebSocketServer without options: ws would answer with the first
    // offered protocol, the token entry when the client lists it first.
    if (selectProtocol) wss.options.handleProtocols = wsAuthX(auth).handleProtocols
    let opened = 0
    app.get(
      '/ws',
      authx[guard],
      upgradeWebSocket((c) => {
        const sub = subOf(() => authx.payload(c))
        return {
          onOpen(_event, ws) {
            opened++
            ws.send(sub)
          },
        }
      }),
    )
    const server = await new Promise<ReturnType<typeof serve>>((resolve) => {
      const s = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, () => resolve(s))
    })
    injectWebSocket(server)
    closers.push(async () => {
      for (const client of wss.clients) client.terminate()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    })
    const { port } = server.address() as AddressInfo
    return { url: `ws://127.0.0.1:${port}/ws`, opened: () => opened }
  }

  it('no token is 401 before the upgrade; the socket never opens', async () => {
    const served = await honoServer(makeAuth())
    const outcome = await connect(served.url)
    expect(outcome.kind).toBe('refused')
    // @hono/node-ws writes only the status line of the guard's answer (Content-Length: 0): the
    // JSON body and WWW-Authenticate do not reach the client. authx/ws's handleUpgrade keeps them.
    if (outcome.kind === 'refused') expect(outcome.status).toBe(401)
    expect(served.opened()).toBe(0)
  })

  it('a valid header token opens the socket and onOpen sends sub', async () => {
    const auth = makeAuth()
    const served = await honoServer(auth)
    const token = await auth.createAccessToken({ uid: 'hono-user' })
    expectOpened(await connect(served.url, { headers: { authorization: `Bearer ${token}` } }), 'hono-user')
    expect(served.opened()).toBe(1)
  })

  it('a token signed with another key is 401, never opened', async () => {
    const auth = makeAuth()
    const served = await honoServer(auth)
    const token = await auth.createAccessToken({ uid: 'u1' })
    const outcome = await connect(served.url, {
      headers: { authorization: `Bearer ${token.slice(0, -2)}xx` },
    })
    expect(outcome.kind === 'refused' && outcome.status).toBe(401)
    expect(served.opened()).toBe(0)
  })

  describe('security: cross-site WebSocket hijacking', () => {
    it.each(GUARDS)('%s reads the access cookie of an upgrade from an allowed Origin only', async (guard) => {
      const auth = makeAuth({ websocket: { allowedOrigins: [ORIGIN] } })
      const served = await honoServer(auth, { guard })
      const token = await auth.createAccessToken({ uid: 'victim' })
      const cookie = { cookie: `access_token_cookie=${token}` }
      for (const origin of [FOREIGN, undefined]) {
        const outcome = await connect(served.url, {
          headers: cookie,
          ...(origin === undefined ? {} : { origin }),
        })
        expect(outcome.kind === 'refused' && outcome.status).toBe(401)
      }
      expect(served.opened()).toBe(0)
      expectOpened(await connect(served.url, { headers: cookie, origin: ORIGIN }), 'victim')
    })
  })

  it("websocketRequired reads a protocol entry; with authx's handleProtocols it is never echoed", async () => {
    const auth = makeAuth({ tokenLocation: ['headers'] })
    const served = await honoServer(auth, { selectProtocol: true, guard: 'websocketRequired' })
    const token = await auth.createAccessToken({ uid: 'hono-protocol' })
    const outcome = await connect(served.url, { protocols: [`${BEARER_PROTOCOL_PREFIX}${token}`, 'chat'] })
    expectOpened(outcome, 'hono-protocol')
    if (outcome.kind === 'open') {
      expect(outcome.protocol).toBe('chat')
      expect(JSON.stringify(outcome.upgrade)).not.toContain(token)
    }
  })
})

describe('a Web (Request) => Response handler with auth.authenticateWebSocket', () => {
  /**
   * What a Deno, Bun or workers handler does: authenticate, then upgrade (here: answer what the
   * upgrade would carry, since Node's Response cannot be a 101).
   */
  const handler =
    (auth: AuthX) =>
    async (request: Request): Promise<Response> => {
      try {
        const payload = await auth.authenticateWebSocket(request)
        return Response.json({ upgraded: true, sub: payload.sub })
      } catch (err) {
        if (isAuthXError(err)) return errorToResponse(err)
        throw err
      }
    }

  const upgradeRequest = (path: string, headers: Record<string, string> = {}) =>
    new Request(`https://api.example.com${path}`, {
      headers: {
        upgrade: 'websocket',
        connection: 'Upgrade',
        'sec-websocket-version': '13',
        'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==',
        ...headers,
      },
    })

  async function answer(res: Response) {
    return { status: res.status, headers: res.headers, body: (await res.json()) as Record<string, unknown> }
  }

  it('accepts the token in the query, the header, a protocol entry and the cookie from an allowed origin', async () => {
    const auth = makeAuth({ websocket: { allowedOrigins: [ORIGIN] } })
    const token = await auth.createAccessToken({ uid: 'web-user' })
    const serveWeb = handler(auth)
    for (const request of [
      upgradeRequest(`/ws?token=${token}`),
      upgradeRequest('/ws', { authorization: `Bearer ${token}` }),
      upgradeRequest('/ws', { 'sec-websocket-protocol': `chat, ${BEARER_PROTOCOL_PREFIX}${token}` }),
      upgradeRequest('/ws', { cookie: `access_token_cookie=${token}`, origin: ORIGIN }),
    ]) {
      const res = await answer(await serveWeb(request))
      expect(res.status, JSON.stringify(res.body)).toBe(200)
      expect(res.body).toEqual({ upgraded: true, sub: 'web-user' })
    }
  })

  it('security: the cookie from a foreign origin, or with no origin, is never read', async () => {
    const auth = makeAuth({ websocket: { allowedOrigins: [ORIGIN] } })
    const token = await auth.createAccessToken({ uid: 'victim' })
    const serveWeb = handler(auth)
    for (const origin of [FOREIGN, undefined]) {
      const res = await answer(
        await serveWeb(
          upgradeRequest('/ws', {
            cookie: `access_token_cookie=${token}`,
            ...(origin === undefined ? {} : { origin }),
          }),
        ),
      )
      expect(res.status).toBe(401)
      expect(res.body.code).toBe('ERR_MISSING_TOKEN')
      expect(res.headers.get('www-authenticate')).toBe('Bearer')
    }
    // An explicit token is not a hijacking risk: it works from any origin.
    const explicit = await serveWeb(upgradeRequest(`/ws?token=${token}`, { origin: FOREIGN }))
    expect(explicit.status).toBe(200)
  })

  it('refusals carry the usual status, code and WWW-Authenticate', async () => {
    const auth = makeAuth()
    const serveWeb = handler(auth)
    const refresh = await auth.createRefreshToken({ uid: 'u1' })
    const wrongType = await answer(await serveWeb(upgradeRequest(`/ws?token=${refresh}`)))
    expect(wrongType.status).toBe(401)
    expect(wrongType.body.code).toBe('ERR_WRONG_TOKEN_TYPE')
    const missing = await answer(await serveWeb(upgradeRequest('/ws')))
    expect(missing.status).toBe(401)
    expect(missing.body.code).toBe('ERR_MISSING_TOKEN')
  })
})
