/**
 * `authx/ws` (SPEC 9.2) on real sockets: a real HTTP server on port 0, a real `ws`
 * `WebSocketServer` (owning the server with `verifyClient`, or `noServer: true` behind
 * `handleUpgrade`) and real `ws` clients or raw TCP clients. A refused upgrade is the JSON error
 * answer before any socket opens; an accepted one opens and the server sends `payload.sub`.
 */
import http, { type IncomingMessage } from 'node:http'
import net, { type AddressInfo } from 'node:net'
import type { Duplex } from 'node:stream'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import type WebSocket from 'ws'
import { WebSocketServer } from 'ws'
import { type WsAuthXOptions, wsAuthX } from '../../src/adapters/ws.js'
import { AuthManager, AuthX, BEARER_PROTOCOL_PREFIX, type TokenPayload } from '../../src/index.js'
import { RedisStore } from '../../src/stores/redis.js'
import { type TcpProxy, tcpProxy } from '../support/tcp-proxy.js'
import { connect, type Outcome } from '../support/ws-client.js'
import { makeAuth, SECRET } from './scenarios.js'

const ORIGIN = 'https://app.example.com'
const FOREIGN = 'https://evil.example.net'
const noop = () => {}

type Mode = 'verifyClient' | 'handleUpgrade'
const MODES: Mode[] = ['verifyClient', 'handleUpgrade']

interface Served {
  /** `ws://127.0.0.1:<port>` */
  readonly url: string
  readonly port: number
  /** How many times the server's 'connection' fired. */
  connections(): number
  /** Payloads handed to handleUpgrade's callback (noServer mode with `withCallback`). */
  readonly handed: TokenPayload[]
  /** What each handleUpgrade call resolved to. */
  readonly settled: (TokenPayload | undefined)[]
  /** The server-side socket of every upgrade request, in order. */
  readonly sockets: Duplex[]
}

const closers: (() => Promise<void>)[] = []
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close()
})

/** A real server: ws owns the upgrade (`verifyClient`) or the 'upgrade' event calls `handleUpgrade`. */
async function serve(
  auth: AuthX,
  mode: Mode,
  options?: WsAuthXOptions,
  { withCallback = false } = {},
): Promise<Served> {
  const authx = wsAuthX(auth, options)
  const server = http.createServer((_req, res) => res.writeHead(426).end())
  let count = 0
  const handed: TokenPayload[] = []
  const settled: (TokenPayload | undefined)[] = []
  const sockets: Duplex[] = []
  server.on('upgrade', (_req, socket: Duplex) => sockets.push(socket))
  const greet = (client: WebSocket, req: IncomingMessage) => {
    count++
    let sub: string
    try {
      sub = authx.payload(req).sub
    } catch {
      sub = '<opened without a verified payload>'
    }
    client.send(sub)
  }
  let wss: WebSocketServer
  if (mode === 'verifyClient') {
    wss = new WebSocketServer({
      server,
      verifyClient: authx.verifyClient,
      handleProtocols: authx.handleProtocols,
    })
    wss.on('connection', greet)
  } else {
    wss = new WebSocketServer({ noServer: true, handleProtocols: authx.handleProtocols })
    wss.on('connection', greet)
    server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      const done = withCallback
        ? authx.handleUpgrade(wss, req, socket, head, (client, request, payload) => {
            handed.push(payload)
            greet(client, request)
          })
        : authx.handleUpgrade(wss, req, socket, head)
      done.then((payload) => settled.push(payload))
    })
  }
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  closers.push(async () => {
    for (const client of wss.clients) client.terminate()
    await new Promise<void>((resolve) => wss.close(() => resolve()))
    server.closeAllConnections()
    await new Promise<void>((resolve) => server.close(() => resolve()))
  })
  return { url: `ws://127.0.0.1:${port}`, port, connections: () => count, handed, settled, sockets }
}

function expectRefused(outcome: Outcome, status: number, code: string, www?: string) {
  expect(outcome.kind, JSON.stringify(outcome)).toBe('refused')
  if (outcome.kind !== 'refused') return
  expect(outcome.status).toBe(status)
  expect((outcome.body as { code?: string }).code).toBe(code)
  expect(outcome.headers['content-type']).toBe('application/json; charset=utf-8')
  expect(outcome.headers['cache-control']).toBe('no-store')
  expect(outcome.headers.connection).toBe('close')
  expect(Number(outcome.headers['content-length'])).toBe(Buffer.byteLength(outcome.raw))
  if (www !== undefined) expect(outcome.headers['www-authenticate']).toBe(www)
}

function expectOpened(outcome: Outcome, sub: string) {
  expect(outcome.kind, JSON.stringify(outcome)).toBe('open')
  if (outcome.kind === 'open') expect(outcome.message).toBe(sub)
}

/** The whole answer of a raw handshake, read until the server closes the connection. */
function rawHandshake(port: number, path = '/', extra: Record<string, string> = {}) {
  return new Promise<{ text: string; closedByServer: boolean }>((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1')
    const chunks: Buffer[] = []
    socket.on('data', (chunk) => chunks.push(chunk))
    socket.on('error', reject)
    socket.on('end', () => {
      socket.end()
      resolve({ text: Buffer.concat(chunks).toString('utf8'), closedByServer: true })
    })
    const lines = [
      `GET ${path} HTTP/1.1`,
      `Host: 127.0.0.1:${port}`,
      'Upgrade: websocket',
      'Connection: Upgrade',
      'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==',
      'Sec-WebSocket-Version: 13',
      ...Object.entries(extra).map(([name, value]) => `${name}: ${value}`),
    ]
    socket.write(`${lines.join('\r\n')}\r\n\r\n`)
  })
}

/** Splits a raw HTTP answer into status line, header lines and body. */
function parseRaw(text: string) {
  const end = text.indexOf('\r\n\r\n')
  const [statusLine = '', ...headerLines] = text.slice(0, end).split('\r\n')
  return { statusLine, headerLines, body: text.slice(end + 4) }
}

const withCookie = (token: string) => ({ cookie: `access_token_cookie=${token}` })

describe.each(MODES)('authx/ws with %s', (mode) => {
  describe('refused upgrades never open', () => {
    it('no token is 401 ERR_MISSING_TOKEN with WWW-Authenticate, before any socket opens', async () => {
      const served = await serve(makeAuth(), mode)
      const outcome = await connect(served.url)
      expectRefused(outcome, 401, 'ERR_MISSING_TOKEN', 'Bearer')
      expect(served.connections()).toBe(0)
      if (mode === 'handleUpgrade') expect(served.settled).toEqual([undefined])
    })

    it('a token signed with another key is 401 ERR_INVALID_TOKEN', async () => {
      const served = await serve(makeAuth(), mode)
      const other = new AuthX({ secretKey: `${SECRET}-other` })
      const token = await other.createAccessToken({ uid: 'u1' })
      expectRefused(
        await connect(served.url, { path: `/?token=${token}` }),
        401,
        'ERR_INVALID_TOKEN',
        'Bearer error="invalid_token"',
      )
      expect(served.connections()).toBe(0)
    })

    it('a refresh token is 401 ERR_WRONG_TOKEN_TYPE', async () => {
      const auth = makeAuth()
      const served = await serve(auth, mode)
      const token = await auth.createRefreshToken({ uid: 'u1' })
      expectRefused(
        await connect(served.url, { headers: { authorization: `Bearer ${token}` } }),
        401,
        'ERR_WRONG_TOKEN_TYPE',
      )
      expect(served.connections()).toBe(0)
    })

    it('a token without the required scope is 403 ERR_INSUFFICIENT_SCOPE; one with it opens', async () => {
      const auth = makeAuth()
      const served = await serve(auth, mode, { scopes: ['chat:join'] })
      const plain = await auth.createAccessToken({ uid: 'u1', scopes: ['chat:read'] })
      expectRefused(
        await connect(served.url, { path: `/?token=${plain}` }),
        403,
        'ERR_INSUFFICIENT_SCOPE',
        'Bearer error="insufficient_scope", scope="chat:join"',
      )
      const granted = await auth.createAccessToken({ uid: 'u2', scopes: ['chat:join'] })
      expectOpened(await connect(served.url, { path: `/?token=${granted}` }), 'u2')
      expect(served.connections()).toBe(1)
    })

    it('fresh: true refuses a non-fresh token with 401 ERR_FRESH_TOKEN_REQUIRED', async () => {
      const auth = makeAuth()
      const served = await serve(auth, mode, { fresh: true })
      const stale = await auth.createAccessToken({ uid: 'u1', fresh: false })
      expectRefused(await connect(served.url, { path: `/?token=${stale}` }), 401, 'ERR_FRESH_TOKEN_REQUIRED')
      const fresh = await auth.createAccessToken({ uid: 'u2', fresh: true })
      expectOpened(await connect(served.url, { path: `/?token=${fresh}` }), 'u2')
    })

    it('errorBody reshapes the body; one JSON cannot carry falls back to the standard body', async () => {
      const served = await serve(makeAuth(), mode, { errorBody: (err) => ({ error: err.code }) })
      const outcome = await connect(served.url)
      expect(outcome.kind === 'refused' && outcome.status).toBe(401)
      expect(outcome.kind === 'refused' && outcome.body).toEqual({ error: 'ERR_MISSING_TOKEN' })
      expect(outcome.kind === 'refused' && outcome.headers['www-authenticate']).toBe('Bearer')
      const bigint = await serve(makeAuth(), mode, { errorBody: () => ({ n: 1n }) })
      expectRefused(await connect(bigint.url), 401, 'ERR_MISSING_TOKEN')
    })

    it('the answer on the wire is one complete HTTP/1.1 response: no 101, no duplicate headers', async () => {
      const served = await serve(makeAuth(), mode)
      const { text, closedByServer } = await rawHandshake(served.port)
      expect(closedByServer).toBe(true)
      const { statusLine, headerLines, body } = parseRaw(text)
      expect(statusLine).toBe('HTTP/1.1 401 Unauthorized')
      expect(text).not.toContain('101 Switching Protocols')
      const names = headerLines.map((line) => line.slice(0, line.indexOf(':')).toLowerCase())
      expect(new Set(names).size).toBe(names.length)
      expect(headerLines).toEqual(
        expect.arrayContaining([
          'Content-Type: application/json; charset=utf-8',
          'WWW-Authenticate: Bearer',
          'Connection: close',
          `Content-Length: ${Buffer.byteLength(body)}`,
        ]),
      )
      expect(JSON.parse(body)).toMatchObject({ code: 'ERR_MISSING_TOKEN' })
      expect(served.connections()).toBe(0)
    })
  })

  describe('valid tokens open the socket from every place', () => {
    it('in the token query parameter', async () => {
      const auth = makeAuth()
      const served = await serve(auth, mode)
      const token = await auth.createAccessToken({ uid: 'query-user' })
      expectOpened(await connect(served.url, { path: `/chat?token=${token}` }), 'query-user')
      expect(served.connections()).toBe(1)
    })

    it('in the websocket.queryName parameter', async () => {
      const auth = makeAuth({ websocket: { queryName: 'access' } })
      const served = await serve(auth, mode)
      const token = await auth.createAccessToken({ uid: 'named' })
      expectOpened(await connect(served.url, { path: `/?access=${token}` }), 'named')
      expectRefused(await connect(served.url, { path: `/?token=${token}` }), 401, 'ERR_MISSING_TOKEN')
    })

    it('in the Authorization header', async () => {
      const auth = makeAuth()
      const served = await serve(auth, mode)
      const token = await auth.createAccessToken({ uid: 'header-user' })
      expectOpened(
        await connect(served.url, { headers: { authorization: `Bearer ${token}` } }),
        'header-user',
      )
    })

    it('in Sec-WebSocket-Protocol: the server selects chat and never echoes the token', async () => {
      const auth = makeAuth()
      const served = await serve(auth, mode)
      const token = await auth.createAccessToken({ uid: 'protocol-user' })
      for (const protocols of [
        ['chat', `${BEARER_PROTOCOL_PREFIX}${token}`],
        // Token first: ws's default (the first offered) would answer with the token.
        [`${BEARER_PROTOCOL_PREFIX}${token}`, 'chat'],
      ]) {
        const outcome = await connect(served.url, { protocols })
        expectOpened(outcome, 'protocol-user')
        if (outcome.kind !== 'open') continue
        expect(outcome.protocol).toBe('chat')
        expect(outcome.upgrade['sec-websocket-protocol']).toBe('chat')
        expect(JSON.stringify(outcome.upgrade)).not.toContain(token)
      }
    })

    it('a token as the only offered protocol is verified but never echoed (the client then fails)', async () => {
      const auth = makeAuth()
      const served = await serve(auth, mode)
      const token = await auth.createAccessToken({ uid: 'alone' })
      const outcome = await connect(served.url, { protocols: [`${BEARER_PROTOCOL_PREFIX}${token}`] })
      expect(outcome.kind).toBe('error')
      if (outcome.kind !== 'error') return
      expect(outcome.error.message).toBe('Server sent no subprotocol')
      expect(outcome.upgrade?.['sec-websocket-protocol']).toBeUndefined()
      expect(JSON.stringify(outcome.upgrade)).not.toContain(token)
    })

    it('in the access cookie with an allowed Origin', async () => {
      const auth = makeAuth({ websocket: { allowedOrigins: [ORIGIN] } })
      const served = await serve(auth, mode)
      const token = await auth.createAccessToken({ uid: 'cookie-user' })
      expectOpened(await connect(served.url, { headers: withCookie(token), origin: ORIGIN }), 'cookie-user')
    })

    it('hands the payload to the handleUpgrade callback and resolves to it', async () => {
      if (mode !== 'handleUpgrade') return
      const auth = makeAuth()
      const served = await serve(auth, mode, undefined, { withCallback: true })
      const token = await auth.createAccessToken({ uid: 'cb-user' })
      expectOpened(await connect(served.url, { path: `/?token=${token}` }), 'cb-user')
      expect(served.handed.map((p) => p.sub)).toEqual(['cb-user'])
      expect(served.settled.map((p) => p?.sub)).toEqual(['cb-user'])
    })
  })

  describe('security: cross-site WebSocket hijacking', () => {
    it('a cookie from an origin not allowed is never read: 401, never opened', async () => {
      const auth = makeAuth({ websocket: { allowedOrigins: [ORIGIN] } })
      const served = await serve(auth, mode)
      const token = await auth.createAccessToken({ uid: 'victim' })
      for (const origin of [FOREIGN, `${ORIGIN}.evil.net`, 'null', ORIGIN.toUpperCase()]) {
        expectRefused(
          await connect(served.url, { headers: withCookie(token), origin }),
          401,
          'ERR_MISSING_TOKEN',
        )
      }
      expect(served.connections()).toBe(0)
    })

    it('a cookie without an Origin is never read', async () => {
      const auth = makeAuth({ websocket: { allowedOrigins: [ORIGIN] } })
      const served = await serve(auth, mode)
      const token = await auth.createAccessToken({ uid: 'victim' })
      expectRefused(await connect(served.url, { headers: withCookie(token) }), 401, 'ERR_MISSING_TOKEN')
      expect(served.connections()).toBe(0)
    })

    it('without websocket.allowedOrigins the cookie is never read, whatever the Origin', async () => {
      const auth = makeAuth()
      const served = await serve(auth, mode)
      const token = await auth.createAccessToken({ uid: 'victim' })
      expectRefused(
        await connect(served.url, { headers: withCookie(token), origin: ORIGIN }),
        401,
        'ERR_MISSING_TOKEN',
      )
      expect(served.connections()).toBe(0)
    })

    it('an explicit token in the query works from a foreign origin', async () => {
      const auth = makeAuth({ websocket: { allowedOrigins: [ORIGIN] } })
      const served = await serve(auth, mode)
      const token = await auth.createAccessToken({ uid: 'explicit' })
      expectOpened(await connect(served.url, { path: `/?token=${token}`, origin: FOREIGN }), 'explicit')
    })
  })
})

describe('authx/ws with a real Redis store', () => {
  let proxy: TcpProxy
  let store: RedisStore
  let auth: AuthX
  beforeAll(async () => {
    proxy = await tcpProxy('127.0.0.1', 6379)
    store = new RedisStore({
      url: `redis://127.0.0.1:${proxy.port}`,
      prefix: `authx-ws-test-${process.pid}-`,
      commandTimeoutMs: 500,
      circuitBreaker: false,
    })
    auth = makeAuth({ store, revocation: { timeoutMs: 2000 } })
  })
  afterAll(async () => {
    await store.close()
    await proxy.close()
  })

  it.each(MODES)('%s: a revoked token is 401 ERR_TOKEN_REVOKED, never opened', async (mode) => {
    proxy.set('forward')
    const served = await serve(auth, mode)
    const token = await auth.createAccessToken({ uid: 'revoked' })
    expectOpened(await connect(served.url, { path: `/?token=${token}` }), 'revoked')
    await auth.revokeToken(await auth.verifyToken(token))
    expectRefused(await connect(served.url, { path: `/?token=${token}` }), 401, 'ERR_TOKEN_REVOKED')
    expect(served.connections()).toBe(1)
  })

  it.each(MODES)('%s: a store that cannot be reached is 503 with Retry-After, never opened', async (mode) => {
    const served = await serve(auth, mode)
    const token = await auth.createAccessToken({ uid: 'down' })
    proxy.set('refuse')
    try {
      const outcome = await connect(served.url, { path: `/?token=${token}` })
      expectRefused(outcome, 503, 'ERR_STORE_UNAVAILABLE')
      expect(outcome.kind === 'refused' && outcome.headers['retry-after']).toMatch(/^\d+$/)
      expect(served.connections()).toBe(0)
    } finally {
      proxy.set('forward')
    }
  })
})

describe('authx/ws: failures that are not the client token', () => {
  class FailingAuth extends AuthX {
    override authenticateWebSocket(): Promise<never> {
      return Promise.reject(new Error(`database password hunter2 at ${__filename}`))
    }
  }

  it.each(MODES)(
    '%s: a non-authx error is a bare 500 with no message or stack, and a warning',
    async (mode) => {
      const warnings: Error[] = []
      const onWarning = (warning: Error) => warnings.push(warning)
      process.on('warning', onWarning)
      try {
        const served = await serve(new FailingAuth({ secretKey: SECRET }), mode)
        const outcome = await connect(served.url, { path: '/?token=x' })
        expect(outcome.kind).toBe('refused')
        if (outcome.kind !== 'refused') return
        expect(outcome.status).toBe(500)
        expect(outcome.body).toEqual({ message: 'Internal Server Error' })
        expect(outcome.raw).not.toContain('hunter2')
        expect(outcome.raw).not.toContain('at ')
        expect(served.connections()).toBe(0)
        await new Promise((resolve) => setImmediate(resolve))
        expect(warnings.some((w) => (w as { code?: string }).code === 'AUTHX_WS_INTERNAL')).toBe(true)
      } finally {
        process.off('warning', onWarning)
      }
    },
  )

  it.each([
    ['refused (revoked)', true],
    ['accepted', false],
  ])(
    'a client that resets the connection while the token is checked crashes nothing: %s',
    async (_label, revoked) => {
      let release: (revoked: boolean) => void = noop
      const gate = new Promise<boolean>((resolve) => {
        release = resolve
      })
      let checking: () => void = noop
      const checked = new Promise<void>((resolve) => {
        checking = resolve
      })
      const auth = makeAuth({
        revocation: {
          isRevoked: () => {
            checking()
            return gate
          },
        },
      })
      const served = await serve(auth, 'handleUpgrade')
      const token = await auth.createAccessToken({ uid: 'gone' })
      const client = net.connect(served.port, '127.0.0.1')
      client.on('error', noop)
      await new Promise<void>((resolve) => client.on('connect', () => resolve()))
      client.write(
        [
          `GET /?token=${token} HTTP/1.1`,
          'Host: localhost',
          'Upgrade: websocket',
          'Connection: Upgrade',
          'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==',
          'Sec-WebSocket-Version: 13',
          '',
          '',
        ].join('\r\n'),
      )
      await checked
      const serverSocket = served.sockets[0] as Duplex
      const closed = new Promise<void>((resolve) => serverSocket.on('close', () => resolve()))
      client.resetAndDestroy()
      // Answered after the reset: the 401 or the 101 goes to a connection the client tore down.
      release(revoked)
      await closed
      expect(serverSocket.destroyed).toBe(true)
      expect(served.settled.length).toBe(1)
      expect(served.settled[0]?.sub).toBe(revoked ? undefined : 'gone')
      // Accepted, ws may still open the socket it has not yet seen reset; it closes at once.
      if (revoked) expect(served.connections()).toBe(0)
    },
  )
})

describe('authx/ws: the helpers themselves', () => {
  const auth = makeAuth()
  const authx = wsAuthX(auth)

  it('handleProtocols picks the first offered protocol that is not a token entry', () => {
    expect(authx.handleProtocols(new Set([`${BEARER_PROTOCOL_PREFIX}abc`, 'chat', 'v2']))).toBe('chat')
    expect(authx.handleProtocols(new Set(['v2', `${BEARER_PROTOCOL_PREFIX}abc`]))).toBe('v2')
    expect(authx.handleProtocols(new Set([`${BEARER_PROTOCOL_PREFIX}abc`]))).toBe(false)
    expect(authx.handleProtocols(new Set())).toBe(false)
  })

  it('verifyClient declares two parameters, so ws calls it in its asynchronous form', () => {
    expect(authx.verifyClient.length).toBe(2)
  })

  it('payload(request) throws for a request no verification accepted', () => {
    expect(() => authx.payload({})).toThrow(Error)
  })

  it('bad options, and an AuthManager, are refused where the adapter is made', () => {
    expect(() => wsAuthX(auth, { nope: true } as never)).toThrow(TypeError)
    expect(() => wsAuthX(auth, { fresh: 'yes' } as never)).toThrow(TypeError)
    expect(() => wsAuthX(auth, { scopes: 'admin' } as never)).toThrow(TypeError)
    expect(() => wsAuthX(auth, { scopes: [''] })).toThrow(TypeError)
    expect(() => wsAuthX(auth, { errorBody: 'x' } as never)).toThrow(TypeError)
    expect(() => wsAuthX(auth, [] as never)).toThrow(TypeError)
    const manager = new AuthManager([new AuthX({ secretKey: SECRET, loginType: 'user' })])
    expect(() => wsAuthX(manager as never)).toThrow(TypeError)
  })
})
