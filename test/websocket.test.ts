/**
 * WebSocket authentication in the core (SPEC 9.2, docs/websocket.md): `auth.authenticateWebSocket`
 * over real upgrade requests on a real http server (Node `IncomingMessage`), plain `{ url,
 * headers }` objects and Web `Request`s; where the token is looked for and in which order; the
 * `Sec-WebSocket-Protocol` entry and `selectProtocol`; the access cookie for the configured
 * origins only (cross-site WebSocket hijacking); access tokens only, revocation, store outage,
 * freshness and scopes; the `websocket` config section; a fuzz of the request parts.
 */
import { randomBytes } from 'node:crypto'
import http from 'node:http'
import net from 'node:net'
import fc from 'fast-check'
import { afterEach, describe, expect, it } from 'vitest'
import { WebSocket, WebSocketServer } from 'ws'
import {
  AccessTokenRequiredError,
  AuthX,
  AuthXError,
  type AuthXOptions,
  type AuthXStore,
  BEARER_PROTOCOL_PREFIX,
  ConfigError,
  FreshTokenRequiredError,
  InsufficientScopeError,
  InvalidTokenError,
  MemoryStore,
  MissingTokenError,
  RevokedTokenError,
  StoreUnavailableError,
  selectProtocol,
  type UpgradeRequest,
  type WebSocketAuthOptions,
  websocketToken,
} from '../src/index.js'
import { RedisStore } from '../src/stores/redis.js'
import { flipSignatureBit } from './support/keys.js'
import { rejection } from './support/rejection.js'

const SECRET = 'websocket-secret-0123456789abcdef-0123456'
const ORIGIN = 'https://app.example'
const DEV_ORIGIN = 'http://localhost:5173'

/** An instance reading cookies for `ORIGIN` and `DEV_ORIGIN`, CSRF on every method (GET too). */
function cookieAuth(options: Partial<AuthXOptions> = {}): AuthX {
  return new AuthX({
    secretKey: SECRET,
    tokenLocation: ['headers', 'cookies'],
    csrf: { methods: ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'] },
    websocket: { allowedOrigins: [ORIGIN, DEV_ORIGIN] },
    ...options,
  })
}

function plainAuth(options: Partial<AuthXOptions> = {}): AuthX {
  return new AuthX({ secretKey: SECRET, ...options })
}

/** A Node-style upgrade request: header names in lower case, as `IncomingMessage.headers` has them. */
function plain(url: string, headers: Record<string, string | string[]> = {}): UpgradeRequest {
  return { url, headers }
}

/** A Web `Request` as Hono, Bun or Deno hand it over for an upgrade. */
function webRequest(url: string, headers: Record<string, string> = {}): Request {
  return new Request(`http://api.example${url}`, {
    headers: { connection: 'Upgrade', upgrade: 'websocket', ...headers },
  })
}

/** The subject the call authenticates, or the code (or class name) of what it rejects with. */
async function outcome(promise: Promise<{ sub: string | undefined } | null>): Promise<string> {
  try {
    return `sub:${(await promise)?.sub}`
  } catch (err) {
    if (err instanceof AuthXError) return err.code
    return (err as Error).name
  }
}

const undo: (() => unknown)[] = []
afterEach(async () => {
  for (const step of undo.splice(0).reverse()) await step()
})

// -------------------------------------------------------------------------------------------------
// A real http server answering upgrades: 101 through `ws` (with `selectProtocol`) when
// authenticateWebSocket resolves, else the error's status and a JSON body, written on the socket.
// -------------------------------------------------------------------------------------------------

interface UpgradeAnswer {
  readonly status: number
  /** The authenticated subject, from the `X-Authx-Sub` header of the 101 answer. */
  readonly sub?: string | undefined
  /** `Sec-WebSocket-Protocol` of the 101 answer (`undefined` when none was chosen). */
  readonly protocol?: string | undefined
  readonly code?: string | undefined
}

async function upgradeServer(auth: AuthX, options?: WebSocketAuthOptions): Promise<number> {
  const wss = new WebSocketServer({ noServer: true, handleProtocols: (offered) => selectProtocol(offered) })
  const subjects = new WeakMap<http.IncomingMessage, string>()
  wss.on('headers', (headers, req) => headers.push(`X-Authx-Sub: ${subjects.get(req)}`))
  wss.on('connection', (socket) => socket.close())
  const server = http.createServer((_req, res) => res.writeHead(426).end())
  server.on('upgrade', (req: http.IncomingMessage, socket: net.Socket, head: Buffer) => {
    socket.on('error', () => {})
    const call =
      options === undefined ? auth.authenticateWebSocket(req) : auth.authenticateWebSocket(req, options)
    call.then(
      (payload) => {
        subjects.set(req, String(payload.sub))
        wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req))
      },
      (err: unknown) => {
        const status = err instanceof AuthXError ? err.status : 500
        const body = JSON.stringify({ code: err instanceof AuthXError ? err.code : 'crash' })
        socket.end(
          `HTTP/1.1 ${status} Refused\r\nContent-Type: application/json\r\n` +
            `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
        )
      },
    )
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  undo.push(
    () =>
      new Promise((resolve) => {
        wss.close()
        server.closeAllConnections()
        server.close(resolve)
      }),
  )
  return (server.address() as net.AddressInfo).port
}

function readBody(res: http.IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let body = ''
    res.setEncoding('utf8')
    res.on('data', (chunk: string) => {
      body += chunk
    })
    res.on('end', () => resolve(body))
    res.on('error', reject)
  })
}

/** A hand-written upgrade request (http.request); header values given as arrays go out as repeated lines. */
function rawUpgrade(port: number, path: string, headers: Record<string, string | string[]> = {}) {
  return new Promise<UpgradeAnswer>((resolve, reject) => {
    const req = http.request({
      host: '127.0.0.1',
      port,
      path,
      headers: {
        Connection: 'Upgrade',
        Upgrade: 'websocket',
        'Sec-WebSocket-Version': '13',
        'Sec-WebSocket-Key': randomBytes(16).toString('base64'),
        ...headers,
      },
    })
    req.on('upgrade', (res, socket) => {
      socket.destroy()
      const protocol = res.headers['sec-websocket-protocol']
      resolve({ status: res.statusCode ?? 0, sub: res.headers['x-authx-sub'] as string, protocol })
    })
    req.on('response', (res) => {
      readBody(res).then(
        (body) => resolve({ status: res.statusCode ?? 0, code: JSON.parse(body).code }),
        reject,
      )
    })
    req.on('error', reject)
    req.end()
  })
}

/** A `ws` client: what its handshake check accepts, or the refusal it met. */
function wsConnect(
  port: number,
  path: string,
  protocols: string[] = [],
  options: { origin?: string; headers?: Record<string, string> } = {},
) {
  return new Promise<UpgradeAnswer & { clientError?: string }>((resolve) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}${path}`, protocols, options)
    let sub: string | undefined
    ws.on('upgrade', (res) => {
      sub = res.headers['x-authx-sub'] as string | undefined
    })
    ws.on('open', () => {
      resolve({ status: 101, sub, protocol: ws.protocol })
      ws.close()
    })
    ws.on('unexpected-response', (_req, res) => {
      readBody(res).then((body) => resolve({ status: res.statusCode ?? 0, code: JSON.parse(body).code }))
    })
    ws.on('error', (err) => resolve({ status: 0, clientError: err.message }))
  })
}

describe('authenticateWebSocket on real upgrade requests (Node IncomingMessage)', () => {
  it('authenticates the token of the query string, the Authorization header and the protocol entry', async () => {
    const auth = plainAuth()
    const port = await upgradeServer(auth)
    const query = await auth.createAccessToken({ uid: 'by-query' })
    const header = await auth.createAccessToken({ uid: 'by-header' })
    const protocol = await auth.createAccessToken({ uid: 'by-protocol' })
    expect(await rawUpgrade(port, `/ws?token=${query}`)).toMatchObject({ status: 101, sub: 'by-query' })
    expect(await rawUpgrade(port, '/ws', { Authorization: `Bearer ${header}` })).toMatchObject({
      status: 101,
      sub: 'by-header',
    })
    expect(await wsConnect(port, '/ws', ['chat', `${BEARER_PROTOCOL_PREFIX}${protocol}`])).toMatchObject({
      status: 101,
      sub: 'by-protocol',
      protocol: 'chat',
    })
  })

  it('refuses an upgrade without a token with 401 and never opens the socket', async () => {
    const port = await upgradeServer(plainAuth())
    expect(await rawUpgrade(port, '/ws')).toEqual({ status: 401, code: 'ERR_MISSING_TOKEN' })
    expect(await wsConnect(port, '/ws', ['chat'])).toEqual({ status: 401, code: 'ERR_MISSING_TOKEN' })
  })

  it('answers the ws client with the non-token protocol, never the token entry', async () => {
    const auth = plainAuth()
    const port = await upgradeServer(auth)
    const token = await auth.createAccessToken({ uid: 'u' })
    const entry = `${BEARER_PROTOCOL_PREFIX}${token}`
    const first = await wsConnect(port, '/ws', [entry, 'graphql-ws'])
    expect(first).toMatchObject({ status: 101, sub: 'u', protocol: 'graphql-ws' })
    // Offered alone, the token entry is not echoed: the 101 carries no Sec-WebSocket-Protocol.
    const alone = await rawUpgrade(port, '/ws', { 'Sec-WebSocket-Protocol': entry })
    expect(alone).toEqual({ status: 101, sub: 'u', protocol: undefined })
  })

  it('finds the protocol entry when the client sends Sec-WebSocket-Protocol on several lines', async () => {
    const auth = plainAuth()
    const port = await upgradeServer(auth)
    const token = await auth.createAccessToken({ uid: 'lines' })
    const answer = await rawUpgrade(port, '/ws', {
      'Sec-WebSocket-Protocol': ['chat', `${BEARER_PROTOCOL_PREFIX}${token}`],
    })
    expect(answer).toEqual({ status: 101, sub: 'lines', protocol: 'chat' })
  })

  it('takes the access cookie only from an allowed Origin, without a CSRF header', async () => {
    const auth = cookieAuth()
    const port = await upgradeServer(auth)
    const token = await auth.createAccessToken({ uid: 'cookie-user' })
    const headers = { Cookie: `access_token_cookie=${token}` }
    expect(await wsConnect(port, '/ws', [], { origin: ORIGIN, headers })).toMatchObject({
      status: 101,
      sub: 'cookie-user',
    })
    expect(await wsConnect(port, '/ws', [], { origin: 'https://evil.example', headers })).toEqual({
      status: 401,
      code: 'ERR_MISSING_TOKEN',
    })
    expect(await rawUpgrade(port, '/ws', headers)).toEqual({ status: 401, code: 'ERR_MISSING_TOKEN' })
  })

  it('answers 403 for missing scopes and 401 for a refresh token, with the options given', async () => {
    const auth = plainAuth()
    const port = await upgradeServer(auth, { scopes: ['chat:write'] })
    const reader = await auth.createAccessToken({ uid: 'r', scopes: ['chat:read'] })
    const writer = await auth.createAccessToken({ uid: 'w', scopes: ['chat:write'] })
    const refresh = await auth.createRefreshToken({ uid: 'w' })
    expect(await rawUpgrade(port, `/ws?token=${reader}`)).toEqual({
      status: 403,
      code: 'ERR_INSUFFICIENT_SCOPE',
    })
    expect(await rawUpgrade(port, `/ws?token=${writer}`)).toMatchObject({ status: 101, sub: 'w' })
    expect(await rawUpgrade(port, `/ws?token=${refresh}`)).toEqual({
      status: 401,
      code: 'ERR_WRONG_TOKEN_TYPE',
    })
  })
})

describe('where the token is looked for, in order', () => {
  it('reads the query parameter first: a valid query token wins over a bad or malformed header', async () => {
    const auth = plainAuth()
    const query = await auth.createAccessToken({ uid: 'query' })
    const header = await auth.createAccessToken({ uid: 'header' })
    for (const authorization of [
      `Bearer ${flipSignatureBit(header)}`,
      'Basic dXNlcjpwdw==',
      `Bearer ${header}`,
    ]) {
      const request = plain(`/ws?token=${query}`, { authorization })
      expect(await outcome(auth.authenticateWebSocket(request))).toBe('sub:query')
      expect(websocketToken(auth.config, request)).toEqual({ token: query, location: 'query' })
    }
  })

  it('reads the header before the protocol entry, and the protocol entry before the cookie', async () => {
    const auth = cookieAuth()
    const [header, protocol, cookie] = await Promise.all(
      ['header', 'protocol', 'cookie'].map((uid) => auth.createAccessToken({ uid })),
    )
    const all = {
      authorization: `Bearer ${header}`,
      'sec-websocket-protocol': `chat, ${BEARER_PROTOCOL_PREFIX}${protocol}`,
      cookie: `access_token_cookie=${cookie}`,
      origin: ORIGIN,
    }
    const { authorization: _, ...noHeader } = all
    const { 'sec-websocket-protocol': __, ...cookieOnly } = noHeader
    expect(await outcome(auth.authenticateWebSocket(plain('/ws', all)))).toBe('sub:header')
    expect(await outcome(auth.authenticateWebSocket(plain('/ws', noHeader)))).toBe('sub:protocol')
    expect(await outcome(auth.authenticateWebSocket(plain('/ws', cookieOnly)))).toBe('sub:cookie')
    expect(websocketToken(auth.config, plain('/ws', all)).location).toBe('headers')
    expect(websocketToken(auth.config, plain('/ws', noHeader)).location).toBe('protocol')
    expect(websocketToken(auth.config, plain('/ws', cookieOnly)).location).toBe('cookies')
  })

  it('does not fall through to a later place when the one found holds a bad token', async () => {
    const auth = cookieAuth()
    const good = await auth.createAccessToken({ uid: 'good' })
    const request = plain(`/ws?token=${flipSignatureBit(good)}`, {
      authorization: `Bearer ${good}`,
      'sec-websocket-protocol': `${BEARER_PROTOCOL_PREFIX}${good}`,
      cookie: `access_token_cookie=${good}`,
      origin: ORIGIN,
    })
    const err = await rejection(auth.authenticateWebSocket(request))
    expect(err).toBeInstanceOf(InvalidTokenError)
    expect(err).toMatchObject({ code: 'ERR_INVALID_TOKEN', status: 401 })
  })

  it('reads the query parameter named by websocket.queryName, and only that one', async () => {
    const auth = plainAuth({ websocket: { queryName: 'access' } })
    const token = await auth.createAccessToken({ uid: 'named' })
    expect(await outcome(auth.authenticateWebSocket(plain(`/ws?access=${token}`)))).toBe('sub:named')
    const err = await rejection(auth.authenticateWebSocket(plain(`/ws?token=${token}`)))
    expect(err).toBeInstanceOf(MissingTokenError)
    expect((err as MissingTokenError).locations[0]).toBe('access query parameter')
  })

  it('takes the first of a repeated query parameter', async () => {
    const auth = plainAuth()
    const good = await auth.createAccessToken({ uid: 'first' })
    const bad = flipSignatureBit(good)
    expect(await outcome(auth.authenticateWebSocket(plain(`/ws?token=${good}&token=${bad}`)))).toBe(
      'sub:first',
    )
    expect(await outcome(auth.authenticateWebSocket(plain(`/ws?token=${bad}&token=${good}`)))).toBe(
      'ERR_INVALID_TOKEN',
    )
  })

  it('skips empty values: an empty query parameter, a bare protocol prefix, an empty cookie', async () => {
    const auth = cookieAuth()
    const token = await auth.createAccessToken({ uid: 'later' })
    const viaHeader = plain('/ws?token=', { authorization: `Bearer ${token}` })
    expect(await outcome(auth.authenticateWebSocket(viaHeader))).toBe('sub:later')
    const viaCookie = plain('/ws?token=&x=1', {
      'sec-websocket-protocol': `${BEARER_PROTOCOL_PREFIX}, chat`,
      cookie: `access_token_cookie=${token}`,
      origin: ORIGIN,
    })
    expect(await outcome(auth.authenticateWebSocket(viaCookie))).toBe('sub:later')
    const nothing = plain('/ws?token=', {
      'sec-websocket-protocol': BEARER_PROTOCOL_PREFIX,
      cookie: 'access_token_cookie=; other=1',
      origin: ORIGIN,
    })
    expect(await rejection(auth.authenticateWebSocket(nothing))).toBeInstanceOf(MissingTokenError)
  })

  it('reads a Web Request the same way: query, header, protocol entry, cookie', async () => {
    const auth = cookieAuth()
    const tokens = await Promise.all(
      ['query', 'header', 'protocol', 'cookie'].map((uid) => auth.createAccessToken({ uid })),
    )
    const [query, header, protocol, cookie] = tokens as [string, string, string, string]
    const requests: [Request, string][] = [
      [
        webRequest(`/ws?token=${query}`, { authorization: `Bearer ${flipSignatureBit(header)}` }),
        'sub:query',
      ],
      [webRequest('/ws', { authorization: `Bearer ${header}` }), 'sub:header'],
      [
        webRequest('/ws', { 'sec-websocket-protocol': `chat,${BEARER_PROTOCOL_PREFIX}${protocol}` }),
        'sub:protocol',
      ],
      [webRequest('/ws', { cookie: `access_token_cookie=${cookie}`, origin: ORIGIN }), 'sub:cookie'],
      [
        webRequest('/ws', { cookie: `access_token_cookie=${cookie}`, origin: 'https://evil.example' }),
        'ERR_MISSING_TOKEN',
      ],
    ]
    for (const [request, expected] of requests) {
      expect(await outcome(auth.authenticateWebSocket(request))).toBe(expected)
    }
  })
})

describe('the header location', () => {
  it('reads a custom header name with no type: the token alone', async () => {
    const auth = plainAuth({ header: { name: 'X-Api-Token', type: '' } })
    const token = await auth.createAccessToken({ uid: 'raw' })
    expect(await outcome(auth.authenticateWebSocket(plain('/ws', { 'x-api-token': token })))).toBe('sub:raw')
    expect(await outcome(auth.authenticateWebSocket(webRequest('/ws', { 'X-Api-Token': token })))).toBe(
      'sub:raw',
    )
    // The default header is not read when another is configured.
    const err = await rejection(
      auth.authenticateWebSocket(plain('/ws', { authorization: `Bearer ${token}` })),
    )
    expect(err).toBeInstanceOf(MissingTokenError)
    expect((err as MissingTokenError).locations).toContain('X-Api-Token header')
    // With no type, a value with a scheme is malformed, never split.
    const malformed = await rejection(
      auth.authenticateWebSocket(plain('/ws', { 'x-api-token': `Bearer ${token}` })),
    )
    expect(malformed).toBeInstanceOf(InvalidTokenError)
    expect(malformed).toMatchObject({ code: 'ERR_INVALID_TOKEN', reason: 'malformed', status: 401 })
  })

  it('reads a custom type, case-insensitively as RFC 7235 has scheme names', async () => {
    const auth = plainAuth({ header: { name: 'Authorization', type: 'Token' } })
    const token = await auth.createAccessToken({ uid: 't' })
    expect(await outcome(auth.authenticateWebSocket(plain('/ws', { authorization: `Token ${token}` })))).toBe(
      'sub:t',
    )
    expect(await outcome(auth.authenticateWebSocket(plain('/ws', { authorization: `token ${token}` })))).toBe(
      'sub:t',
    )
    const err = await rejection(
      auth.authenticateWebSocket(plain('/ws', { authorization: `Bearer ${token}` })),
    )
    expect(err).toMatchObject({ code: 'ERR_INVALID_TOKEN', reason: 'malformed' })
  })

  it('refuses a malformed header with InvalidTokenError (malformed) instead of looking further', async () => {
    const auth = plainAuth()
    const token = await auth.createAccessToken({ uid: 'p' })
    for (const authorization of [
      'Basic dXNlcjpwdw==',
      'Bearer',
      `Bearer ${token} extra`,
      `Bearer${token}`,
      '',
    ]) {
      const request = plain('/ws', {
        authorization,
        'sec-websocket-protocol': `${BEARER_PROTOCOL_PREFIX}${token}`,
      })
      const err = await rejection(auth.authenticateWebSocket(request))
      expect(err, authorization).toBeInstanceOf(InvalidTokenError)
      expect(err).toMatchObject({ code: 'ERR_INVALID_TOKEN', reason: 'malformed', status: 401 })
      expect((err as Error).message).not.toContain(token)
    }
  })

  it('reads a one-value array header, and refuses two values instead of choosing one', async () => {
    const auth = plainAuth()
    const a = await auth.createAccessToken({ uid: 'a' })
    const b = await auth.createAccessToken({ uid: 'b' })
    expect(await outcome(auth.authenticateWebSocket(plain('/ws', { authorization: [`Bearer ${a}`] })))).toBe(
      'sub:a',
    )
    const two = plain('/ws', { authorization: [`Bearer ${a}`, `Bearer ${b}`] })
    expect(await rejection(auth.authenticateWebSocket(two))).toMatchObject({ reason: 'malformed' })
    const headers = new Headers({ authorization: `Bearer ${a}` })
    headers.append('authorization', `Bearer ${b}`)
    const web = new Request('http://api.example/ws', { headers })
    expect(await rejection(auth.authenticateWebSocket(web))).toMatchObject({ reason: 'malformed' })
  })
})

describe('the Sec-WebSocket-Protocol entry', () => {
  it("finds 'authx.bearer.<token>' among other protocols, with or without spaces", async () => {
    const auth = plainAuth()
    const token = await auth.createAccessToken({ uid: 'proto' })
    const entry = `${BEARER_PROTOCOL_PREFIX}${token}`
    for (const header of [
      `chat, ${entry}`,
      `${entry}`,
      `  chat ,${entry} , graphql-ws `,
      `chat,${entry},v2`,
    ]) {
      const request = plain('/ws', { 'sec-websocket-protocol': header })
      expect(websocketToken(auth.config, request), header).toEqual({ token, location: 'protocol' })
      expect(await outcome(auth.authenticateWebSocket(request))).toBe('sub:proto')
    }
    const lines = plain('/ws', { 'sec-websocket-protocol': ['chat', entry] })
    expect(await outcome(auth.authenticateWebSocket(lines))).toBe('sub:proto')
  })

  it('skips a bare prefix and takes the first entry that carries a token', async () => {
    const auth = plainAuth()
    const first = await auth.createAccessToken({ uid: 'first' })
    const second = await auth.createAccessToken({ uid: 'second' })
    const header = `${BEARER_PROTOCOL_PREFIX}, ${BEARER_PROTOCOL_PREFIX}${first}, ${BEARER_PROTOCOL_PREFIX}${second}`
    expect(websocketToken(auth.config, plain('/ws', { 'sec-websocket-protocol': header })).token).toBe(first)
  })

  it('ignores entries that only resemble the prefix', async () => {
    const auth = plainAuth()
    const token = await auth.createAccessToken({ uid: 'x' })
    for (const header of [
      BEARER_PROTOCOL_PREFIX,
      `chat, ${BEARER_PROTOCOL_PREFIX}`,
      `x${BEARER_PROTOCOL_PREFIX}${token}`,
      `authx.bearer${token}`,
      `bearer.${token}`,
      token,
    ]) {
      const err = await rejection(
        auth.authenticateWebSocket(plain('/ws', { 'sec-websocket-protocol': header })),
      )
      expect(err, header).toBeInstanceOf(MissingTokenError)
    }
  })

  it('selectProtocol picks the first non-token protocol, or false; never the token entry', () => {
    const entry = `${BEARER_PROTOCOL_PREFIX}eyJhbGciOiJIUzI1NiJ9.e30.c2ln`
    expect(selectProtocol(['chat', entry])).toBe('chat')
    expect(selectProtocol([entry, 'chat', 'v2'])).toBe('chat')
    expect(selectProtocol(new Set([entry, 'graphql-ws']))).toBe('graphql-ws')
    expect(selectProtocol([entry])).toBe(false)
    expect(selectProtocol([entry, `${BEARER_PROTOCOL_PREFIX}other`])).toBe(false)
    expect(selectProtocol([])).toBe(false)
    expect(selectProtocol(new Set<string>())).toBe(false)
  })

  it('selectProtocol never returns an entry starting with the token prefix (property)', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.oneof(
            fc.string(),
            fc.string().map((s) => BEARER_PROTOCOL_PREFIX + s),
          ),
        ),
        (offered) => {
          const chosen = selectProtocol(offered)
          const expected = offered.find((p) => !p.startsWith(BEARER_PROTOCOL_PREFIX)) ?? false
          expect(chosen).toBe(expected)
        },
      ),
    )
  })
})

describe('security: cross-site WebSocket hijacking (the access cookie)', () => {
  it('reads the cookie for an allowed Origin, with no CSRF value even when GET is a CSRF method', async () => {
    const auth = cookieAuth()
    const token = await auth.createAccessToken({ uid: 'browser' })
    expect((await auth.decodeToken(token)).csrf).toBeTypeOf('string')
    for (const origin of [ORIGIN, DEV_ORIGIN]) {
      const request = plain('/ws', { cookie: `theme=dark; access_token_cookie=${token}`, origin })
      expect(await outcome(auth.authenticateWebSocket(request))).toBe('sub:browser')
    }
    // The same cookie on a plain GET needs the CSRF header there, which a WebSocket cannot send.
    const get = new Request('http://api.example/ws', { headers: { cookie: `access_token_cookie=${token}` } })
    expect(await outcome(auth.authenticate(get))).toBe('ERR_CSRF')
  })

  it('refuses every Origin that is not exactly an allowed one, and an absent Origin', async () => {
    const auth = cookieAuth()
    const token = await auth.createAccessToken({ uid: 'victim' })
    const refused = [
      'https://APP.example',
      'HTTPS://app.example',
      'https://app.example/',
      'https://app.example:443',
      'https://app.example:8443',
      'http://app.example',
      'https://app.example.evil.example',
      'https://evil.app.example',
      'https://evil.example',
      'http://localhost:5174',
      'http://localhost',
      ' https://app.example',
      'https://app.example ',
      'null',
      '',
      '*',
    ]
    for (const origin of refused) {
      const err = await rejection(
        auth.authenticateWebSocket(plain('/ws', { cookie: `access_token_cookie=${token}`, origin })),
      )
      expect(err, JSON.stringify(origin)).toBeInstanceOf(MissingTokenError)
    }
    const absent = await rejection(
      auth.authenticateWebSocket(plain('/ws', { cookie: `access_token_cookie=${token}` })),
    )
    expect(absent).toBeInstanceOf(MissingTokenError)
    // Two Origin values (a plain object with an array) are not one allowed origin.
    const two = plain('/ws', {
      cookie: `access_token_cookie=${token}`,
      origin: [ORIGIN, 'https://evil.example'],
    })
    expect(await rejection(auth.authenticateWebSocket(two))).toBeInstanceOf(MissingTokenError)
  })

  it('lists the cookie among the places tried only when it could have been read', async () => {
    const withCookies = await rejection(cookieAuth().authenticateWebSocket(plain('/ws', { origin: ORIGIN })))
    expect((withCookies as MissingTokenError).locations).toEqual([
      'token query parameter',
      'Authorization header',
      'Sec-WebSocket-Protocol',
      'access_token_cookie cookie (allowed origins only)',
    ])
  })

  it('never reads the cookie without websocket.allowedOrigins, whatever the Origin', async () => {
    const auth = cookieAuth({ websocket: {} })
    const token = await auth.createAccessToken({ uid: 'u' })
    for (const origin of [ORIGIN, 'https://evil.example']) {
      const err = await rejection(
        auth.authenticateWebSocket(plain('/ws', { cookie: `access_token_cookie=${token}`, origin })),
      )
      expect(err).toBeInstanceOf(MissingTokenError)
      expect((err as MissingTokenError).locations.join(' ')).not.toContain('cookie')
    }
  })

  it("never reads the cookie without 'cookies' in tokenLocation, even for an allowed Origin", async () => {
    const issuer = cookieAuth()
    const token = await issuer.createAccessToken({ uid: 'u' })
    const auth = plainAuth({ tokenLocation: ['headers'], websocket: { allowedOrigins: [ORIGIN] } })
    const err = await rejection(
      auth.authenticateWebSocket(plain('/ws', { cookie: `access_token_cookie=${token}`, origin: ORIGIN })),
    )
    expect(err).toBeInstanceOf(MissingTokenError)
    expect((err as MissingTokenError).locations).toEqual([
      'token query parameter',
      'Authorization header',
      'Sec-WebSocket-Protocol',
    ])
  })

  it('reads the configured access cookie name only', async () => {
    const auth = cookieAuth({ cookies: { accessName: 'sid_access' } })
    const token = await auth.createAccessToken({ uid: 'named-cookie' })
    const right = plain('/ws', { cookie: `sid_access=${token}`, origin: ORIGIN })
    expect(await outcome(auth.authenticateWebSocket(right))).toBe('sub:named-cookie')
    const wrong = plain('/ws', { cookie: `access_token_cookie=${token}`, origin: ORIGIN })
    expect(await rejection(auth.authenticateWebSocket(wrong))).toBeInstanceOf(MissingTokenError)
  })
})

describe('access tokens only, with verifyToken checks and options', () => {
  it('refuses a refresh token with AccessTokenRequiredError wherever it is found', async () => {
    const auth = cookieAuth()
    const refresh = await auth.createRefreshToken({ uid: 'u' })
    const requests = [
      plain(`/ws?token=${refresh}`),
      plain('/ws', { authorization: `Bearer ${refresh}` }),
      plain('/ws', { 'sec-websocket-protocol': `chat, ${BEARER_PROTOCOL_PREFIX}${refresh}` }),
      plain('/ws', { cookie: `access_token_cookie=${refresh}`, origin: ORIGIN }),
    ]
    for (const request of requests) {
      const err = await rejection(auth.authenticateWebSocket(request))
      expect(err).toBeInstanceOf(AccessTokenRequiredError)
      expect(err).toMatchObject({ code: 'ERR_WRONG_TOKEN_TYPE', status: 401 })
    }
  })

  it('applies fresh, scopes and anyScope', async () => {
    const auth = plainAuth()
    const stale = await auth.createAccessToken({ uid: 'stale', scopes: ['chat:read'] })
    const fresh = await auth.createAccessToken({
      uid: 'fresh',
      fresh: true,
      scopes: ['chat:read', 'chat:write'],
    })
    const at = (token: string) => plain(`/ws?token=${token}`)
    expect(await rejection(auth.authenticateWebSocket(at(stale), { fresh: true }))).toBeInstanceOf(
      FreshTokenRequiredError,
    )
    expect(await outcome(auth.authenticateWebSocket(at(fresh), { fresh: true }))).toBe('sub:fresh')
    const scoped = await rejection(
      auth.authenticateWebSocket(at(stale), { scopes: ['chat:read', 'chat:write'] }),
    )
    expect(scoped).toBeInstanceOf(InsufficientScopeError)
    expect(scoped).toMatchObject({ code: 'ERR_INSUFFICIENT_SCOPE', status: 403 })
    expect(
      await outcome(
        auth.authenticateWebSocket(at(stale), { scopes: ['chat:read', 'chat:write'], anyScope: true }),
      ),
    ).toBe('sub:stale')
    const wildcard = await auth.createAccessToken({ uid: 'wildcard', scopes: ['chat:*'] })
    expect(await outcome(auth.authenticateWebSocket(at(wildcard), { scopes: ['chat:write'] }))).toBe(
      'sub:wildcard',
    )
  })

  it('rejects unknown or ill-typed options, type included, with a TypeError (a rejection, never a throw)', async () => {
    const auth = plainAuth()
    const refresh = await auth.createRefreshToken({ uid: 'u' })
    const bad: unknown[] = [
      { type: 'refresh' },
      { type: 'access' },
      { optional: true },
      { fresh: 'yes' },
      { scopes: 'chat:read' },
      { anyScope: 1 },
      null,
      'fresh',
    ]
    for (const options of bad) {
      let call: Promise<unknown> | undefined
      expect(() => {
        call = auth.authenticateWebSocket(plain(`/ws?token=${refresh}`), options as WebSocketAuthOptions)
      }).not.toThrow()
      expect(await rejection(call as Promise<unknown>), JSON.stringify(options)).toBeInstanceOf(TypeError)
    }
  })

  it('refuses a revoked token, and the tokens of a revoked subject, with RevokedTokenError', async () => {
    let now = 1_700_000_000_000
    const auth = plainAuth({ clock: () => now })
    const token = await auth.createAccessToken({ uid: 'revoked' })
    const other = await auth.createAccessToken({ uid: 'everyone' })
    expect(await outcome(auth.authenticateWebSocket(plain(`/ws?token=${token}`)))).toBe('sub:revoked')
    await auth.revokeToken(token)
    const err = await rejection(
      auth.authenticateWebSocket(plain('/ws', { authorization: `Bearer ${token}` })),
    )
    expect(err).toBeInstanceOf(RevokedTokenError)
    expect(err).toMatchObject({ code: 'ERR_TOKEN_REVOKED', status: 401 })
    expect(await outcome(auth.authenticateWebSocket(plain(`/ws?token=${other}`)))).toBe('sub:everyone')
    now += 2000
    await auth.revokeAllForSubject('everyone')
    expect(await outcome(auth.authenticateWebSocket(plain(`/ws?token=${other}`)))).toBe('ERR_TOKEN_REVOKED')
  })

  it('fails closed with StoreUnavailableError (503) when the store cannot answer', async () => {
    const port = await closedPort()
    const store = new RedisStore({ url: `redis://127.0.0.1:${port}`, commandTimeoutMs: 200 })
    undo.push(() => store.close())
    const auth = plainAuth({ store, revocation: { timeoutMs: 200 } })
    const token = await auth.createAccessToken({ uid: 'down' })
    const err = await rejection(auth.authenticateWebSocket(plain(`/ws?token=${token}`)))
    expect(err).toBeInstanceOf(StoreUnavailableError)
    expect(err).toMatchObject({ code: 'ERR_STORE_UNAVAILABLE', status: 503 })
    expect((err as Error).message).not.toContain(token)
  })

  it('emits verify.failed with the code (and reason) of every refusal', async () => {
    const auth = plainAuth()
    const events: { code: string; reason?: string }[] = []
    auth.on('verify.failed', (event) => events.push(event))
    const token = await auth.createAccessToken({ uid: 'e' })
    const refresh = await auth.createRefreshToken({ uid: 'e' })
    await rejection(auth.authenticateWebSocket(plain('/ws')))
    await rejection(auth.authenticateWebSocket(plain('/ws', { authorization: 'Basic abc' })))
    await rejection(auth.authenticateWebSocket(plain(`/ws?token=${flipSignatureBit(token)}`)))
    await rejection(auth.authenticateWebSocket(plain(`/ws?token=${refresh}`)))
    await auth.revokeToken(token)
    await rejection(auth.authenticateWebSocket(plain(`/ws?token=${token}`)))
    expect(events.map((e) => e.code)).toEqual([
      'ERR_MISSING_TOKEN',
      'ERR_INVALID_TOKEN',
      'ERR_INVALID_TOKEN',
      'ERR_WRONG_TOKEN_TYPE',
      'ERR_TOKEN_REVOKED',
    ])
    expect(events[1]).toMatchObject({ reason: 'malformed' })
    expect(events[2]).toMatchObject({ reason: 'signature' })
  })

  it('names where the refused token was found in verify.failed', async () => {
    const auth = cookieAuth()
    const events: { code: string; location?: string }[] = []
    auth.on('verify.failed', (event) => events.push(event))
    const refresh = await auth.createRefreshToken({ uid: 'e' })
    await rejection(auth.authenticateWebSocket(plain(`/ws?token=${refresh}`)))
    await rejection(auth.authenticateWebSocket(plain('/ws', { authorization: `Bearer ${refresh}` })))
    await rejection(
      auth.authenticateWebSocket(plain('/ws', { 'sec-websocket-protocol': `chat, authx.bearer.${refresh}` })),
    )
    await rejection(
      auth.authenticateWebSocket(plain('/ws', { origin: ORIGIN, cookie: `access_token_cookie=${refresh}` })),
    )
    expect(events.map((e) => e.location)).toEqual(['query', 'headers', 'protocol', 'cookies'])
  })

  it('emits verify.failed for scope and freshness refusals when the store answers later too', async () => {
    // A store answering asynchronously: the grants are checked after the wait.
    const memory = new MemoryStore()
    const store: AuthXStore = {
      get: async (keys) => memory.get(keys),
      set: (key, value, ttl) => memory.set(key, value, ttl),
      setIfAbsent: (key, value, ttl) => memory.setIfAbsent(key, value, ttl),
      delete: (key) => memory.delete(key),
    }
    const auth = plainAuth({ store })
    const events: string[] = []
    auth.on('verify.failed', (event) => events.push(event.code))
    const token = await auth.createAccessToken({ uid: 'e', scopes: ['chat:read'] })
    await rejection(auth.authenticateWebSocket(plain(`/ws?token=${token}`), { scopes: ['chat:write'] }))
    await rejection(auth.authenticateWebSocket(plain(`/ws?token=${token}`), { fresh: true }))
    await rejection(auth.verifyToken(token, { scopes: ['chat:write'] }))
    expect(events).toEqual(['ERR_INSUFFICIENT_SCOPE', 'ERR_FRESH_TOKEN_REQUIRED', 'ERR_INSUFFICIENT_SCOPE'])
  })
})

describe('request objects made by hand', () => {
  it('finds headers whatever the case of their names, and joins repeated cookies as Node does', async () => {
    const auth = cookieAuth()
    const token = await auth.createAccessToken({ uid: 'hand' })
    const byHeader = await auth.authenticateWebSocket({
      url: '/ws',
      headers: { Authorization: `Bearer ${token}` },
    })
    expect(byHeader.sub).toBe('hand')
    const byCookie = await auth.authenticateWebSocket({
      url: '/ws',
      headers: { Origin: ORIGIN, cookie: ['theme=dark', `access_token_cookie=${token}`] },
    })
    expect(byCookie.sub).toBe('hand')
  })
})

/** A port nothing listens on: the store's server is down (connection refused). */
async function closedPort(): Promise<number> {
  const server = net.createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as net.AddressInfo
  await new Promise((resolve) => server.close(resolve))
  return port
}

describe('no token and bad arguments', () => {
  it('rejects with MissingTokenError listing the places tried, in order', async () => {
    const auth = plainAuth({ websocket: { queryName: 'jwt' }, header: { name: 'X-Auth', type: 'Bearer' } })
    for (const request of [
      plain('/ws?other=1', { 'sec-websocket-protocol': 'chat' }),
      plain('/ws'),
      webRequest('/'),
    ]) {
      const err = await rejection(auth.authenticateWebSocket(request))
      expect(err).toBeInstanceOf(MissingTokenError)
      expect(err).toMatchObject({ code: 'ERR_MISSING_TOKEN', status: 401 })
      expect((err as MissingTokenError).locations).toEqual([
        'jwt query parameter',
        'X-Auth header',
        'Sec-WebSocket-Protocol',
      ])
    }
    // A request without a url (a hand-made object) has no query, and is not an error for that.
    expect(await rejection(auth.authenticateWebSocket({ headers: {} }))).toBeInstanceOf(MissingTokenError)
  })

  it('rejects a request that is not one with a TypeError, never throwing synchronously', async () => {
    const auth = plainAuth()
    for (const request of [
      null,
      undefined,
      'GET /ws?token=x',
      42,
      {},
      { url: '/ws?token=x' },
      { headers: null },
      { headers: 'authorization: Bearer x' },
      { url: '/ws?token=x', headers: 'x' },
    ]) {
      let call: Promise<unknown> | undefined
      expect(() => {
        call = auth.authenticateWebSocket(request as unknown as UpgradeRequest)
      }).not.toThrow()
      const err = await rejection(call as Promise<unknown>)
      expect(err, String(request)).toBeInstanceOf(TypeError)
      expect(err).not.toBeInstanceOf(AuthXError)
    }
  })
})

describe('the websocket config section', () => {
  it('defaults queryName to token and allowedOrigins to none', () => {
    expect(plainAuth().config.websocket).toEqual({ queryName: 'token', allowedOrigins: undefined })
  })

  it('accepts origins exactly as a browser sends them', () => {
    const allowed = [
      'https://app.example',
      'http://localhost:5173',
      'http://127.0.0.1:8080',
      'https://[::1]:8443',
    ]
    expect(plainAuth({ websocket: { allowedOrigins: allowed } }).config.websocket.allowedOrigins).toEqual(
      allowed,
    )
    expect(plainAuth({ websocket: { allowedOrigins: [] } }).config.websocket.allowedOrigins).toEqual([])
  })

  it('refuses anything else in allowedOrigins with ConfigError', () => {
    const refused: unknown[] = [
      'https://app.example',
      { 0: 'https://app.example' },
      ['https://app.example/'],
      ['https://app.example/ws'],
      ['https://app.example?x=1'],
      ['https://app.example#x'],
      ['https://user@app.example'],
      ['ftp://app.example'],
      ['ws://app.example'],
      ['wss://app.example'],
      ['file:///tmp'],
      ['not a url'],
      ['app.example'],
      ['//app.example'],
      ['https://APP.example'],
      ['https://app.example:443'],
      ['http://app.example:80'],
      ['null'],
      ['*'],
      [''],
      [42],
      [null],
      ['https://app.example', 'https://app.example/'],
    ]
    for (const allowedOrigins of refused) {
      expect(
        () => plainAuth({ websocket: { allowedOrigins: allowedOrigins as string[] } }),
        JSON.stringify(allowedOrigins),
      ).toThrow(ConfigError)
    }
  })

  it('refuses an unknown key, a non-object section and an invalid queryName with ConfigError', () => {
    const refused: unknown[] = [
      { origins: ['https://app.example'] },
      { queryName: 'token', allowedOrigin: [] },
      'token',
      ['token'],
      { queryName: '' },
      { queryName: 42 },
      { queryName: 'to\nken' },
      { queryName: 'my token' },
      { queryName: 'a&b' },
      { queryName: 'a=b' },
      { queryName: null },
    ]
    for (const websocket of refused) {
      expect(
        () => plainAuth({ websocket: websocket as AuthXOptions['websocket'] }),
        JSON.stringify(websocket),
      ).toThrow(ConfigError)
    }
  })
})

describe('security: fuzzed upgrade requests', () => {
  /** Strings near what the parsers look for, plus arbitrary ones. */
  function pieces(token: string) {
    return fc.oneof(
      fc.string(),
      fc.string({ unit: 'binary' }),
      fc.constantFrom(
        token,
        flipSignatureBit(token),
        `Bearer ${token}`,
        `${BEARER_PROTOCOL_PREFIX}${token}`,
        `access_token_cookie=${token}`,
        BEARER_PROTOCOL_PREFIX,
        'Bearer',
        ORIGIN,
        '%',
        '%E0%A4%A',
        '?token=',
        '&',
        ',',
        ';',
        '"',
        '=',
        ' ',
        '\t',
        '\u0000',
        'http://[',
        '//',
        '#',
      ),
    )
  }

  it('plain requests: nothing but an AuthXError, and no message holds a token sent', async () => {
    const auth = cookieAuth()
    const token = await auth.createAccessToken({ uid: 'fuzz' })
    const part = fc.array(pieces(token), { maxLength: 5 }).map((list) => list.join(''))
    await fc.assert(
      fc.asyncProperty(
        fc.record(
          {
            url: fc.oneof(
              part,
              part.map((s) => `/ws?${s}`),
            ),
            authorization: fc.oneof(part, fc.array(part, { maxLength: 3 })),
            'sec-websocket-protocol': fc.oneof(part, fc.array(part, { maxLength: 3 })),
            cookie: part,
            origin: fc.oneof(part, fc.constant(ORIGIN)),
          },
          { requiredKeys: [] },
        ),
        async ({ url, ...headers }) => {
          const request = url === undefined ? { headers } : { url, headers }
          const sent = JSON.stringify(request)
          try {
            const payload = await auth.authenticateWebSocket(request)
            expect(payload.sub).toBe('fuzz')
          } catch (err) {
            expect(err).toBeInstanceOf(AuthXError)
            const text = `${(err as Error).message} ${JSON.stringify((err as AuthXError).toJSON())}`
            expect(text).not.toContain(token)
            expect(text).not.toContain(flipSignatureBit(token))
            for (const found of sent.match(/[\w-]{12,}\.[\w-]{12,}\.[\w-]{12,}/g) ?? []) {
              expect(text).not.toContain(found)
            }
          }
        },
      ),
      { numRuns: 400 },
    )
  })

  it('Web Requests: nothing but an AuthXError', async () => {
    const auth = cookieAuth()
    const token = await auth.createAccessToken({ uid: 'fuzz' })
    const part = fc.array(pieces(token), { maxLength: 5 }).map((list) => list.join(''))
    await fc.assert(
      fc.asyncProperty(
        part,
        part,
        part,
        part,
        part,
        async (query, authorization, protocol, cookie, origin) => {
          let request: Request
          try {
            request = new Request(`http://api.example/ws?${query}`, {
              headers: { authorization, 'sec-websocket-protocol': protocol, cookie, origin },
            })
          } catch {
            return // not a request undici builds (a header value it refuses): nothing for authx
          }
          try {
            expect((await auth.authenticateWebSocket(request)).sub).toBe('fuzz')
          } catch (err) {
            expect(err).toBeInstanceOf(AuthXError)
            expect((err as Error).message).not.toContain(token)
          }
        },
      ),
      { numRuns: 300 },
    )
  })
})
