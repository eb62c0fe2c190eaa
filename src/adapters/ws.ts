/**
 * `ws` adapter (`authx/ws`, docs/websocket.md): authenticates the upgrade request of a WebSocket
 * before the socket opens. `verifyClient` plugs into a `WebSocketServer` that owns its HTTP
 * server; `handleUpgrade` serves the `noServer: true` setup where the HTTP server's `'upgrade'`
 * event is yours. A refused upgrade gets the usual JSON error answer (401, 403, 503) with
 * `WWW-Authenticate`, and no WebSocket is ever opened for it.
 *
 * The token is found as `auth.authenticateWebSocket` finds it: the `websocket.queryName` query
 * parameter, the configured header, a `Sec-WebSocket-Protocol` entry `authx.bearer.<token>`, or
 * the access cookie for the `websocket.allowedOrigins` only. Use `handleProtocols` so the server
 * never answers with (and so echoes) the token entry, and have clients offer a real protocol
 * beside it: a client that offered protocols fails the handshake when the server selects none.
 *
 * Nothing here imports `ws`: its server and sockets are typed by the few members used, so the
 * package needs neither `ws` nor `@types/ws`.
 * @module
 */
import {
  type AdapterOptions,
  type AuthX,
  adapterOptions,
  type ErrorBodyFormatter,
  errorResponse,
  isAuthXError,
  selectProtocol,
  type TokenPayload,
  type WebSocketAuthOptions,
  websocketAuthOptions,
} from 'authx'

/**
 * An upgrade request as Node gives it (`IncomingMessage`): its URL and its headers.
 *
 * @example
 * ```ts
 * server.on('upgrade', (req: WsUpgradeRequest, socket, head) => {})
 * ```
 */
export interface WsUpgradeRequest {
  readonly url?: string | undefined
  readonly headers: Readonly<Record<string, string | string[] | undefined>>
}

/**
 * What `ws` passes to `verifyClient` (its `info` argument).
 *
 * @example
 * ```ts
 * const verifyClient = (info: WsVerifyInfo, done: WsVerifyCallback) => done(info.secure)
 * ```
 */
export interface WsVerifyInfo<Req extends WsUpgradeRequest = WsUpgradeRequest> {
  readonly origin?: string | undefined
  readonly secure?: boolean
  readonly req: Req
}

/**
 * `ws`'s `verifyClient` callback: accept, or refuse with a status, a body and headers.
 *
 * @example
 * ```ts
 * const refuse = (done: WsVerifyCallback) => done(false, 401, '{}', { 'Content-Type': 'application/json' })
 * ```
 */
export type WsVerifyCallback = (
  result: boolean,
  code?: number,
  message?: string,
  headers?: Record<string, string>,
) => void

/**
 * The socket of an `'upgrade'` event (a `net.Socket` or any `Duplex`), by the members used.
 *
 * @example
 * ```ts
 * server.on('upgrade', (req, socket: UpgradeSocket, head) => {})
 * ```
 */
export interface UpgradeSocket {
  readonly destroyed: boolean
  readonly writable: boolean
  on(event: 'error', listener: (err: Error) => void): unknown
  removeListener(event: 'error', listener: (err: Error) => void): unknown
  end(chunk: string, callback?: () => void): unknown
  destroy(): unknown
}

/**
 * A `ws` `WebSocketServer` (made with `noServer: true`), by the members used.
 *
 * @example
 * ```ts
 * const wss: WebSocketServerLike<IncomingMessage, Duplex, Buffer, WebSocket> = new WebSocketServer({ noServer: true })
 * ```
 */
export interface WebSocketServerLike<Req, Sock, Head, Client> {
  handleUpgrade(
    request: Req,
    socket: Sock,
    head: Head,
    callback: (client: Client, request: Req) => void,
  ): void
  emit(event: 'connection', client: Client, request: Req): unknown
}

/**
 * Options of `wsAuthX`: the adapter's `errorBody`, and the checks of every upgrade (those of
 * `authenticateWebSocket`: `fresh`, `scopes`, `anyScope`).
 *
 * @example
 * ```ts
 * const options: WsAuthXOptions = { scopes: ['chat:join'] }
 * ```
 */
export interface WsAuthXOptions extends AdapterOptions, WebSocketAuthOptions {}

/**
 * What `wsAuthX(auth)` returns (docs/websocket.md).
 *
 * @example
 * ```ts
 * const authx: WsAuthX = wsAuthX(auth)
 * const wss = new WebSocketServer({ server, verifyClient: authx.verifyClient, handleProtocols: authx.handleProtocols })
 * ```
 */
export interface WsAuthX {
  /**
   * `ws`'s asynchronous `verifyClient`: accepts an upgrade with a valid access token (its payload
   * then is `payload(req)`), refuses any other with the JSON error answer, before the socket opens.
   */
  readonly verifyClient: (info: WsVerifyInfo, callback: WsVerifyCallback) => void
  /**
   * For `noServer: true`: authenticates, then hands the socket to `wss.handleUpgrade` and calls
   * `callback(client, request, payload)` (default: `wss.emit('connection', client, request)`), or
   * writes the JSON error answer and closes the socket. Resolves to the payload, or `undefined`
   * when refused; rejects only with what `wss.handleUpgrade` or `callback` throws.
   */
  handleUpgrade<Req extends WsUpgradeRequest, Sock extends UpgradeSocket, Head, Client>(
    wss: WebSocketServerLike<Req, Sock, Head, Client>,
    request: Req,
    socket: Sock,
    head: Head,
    callback?: (client: Client, request: Req, payload: TokenPayload) => void,
  ): Promise<TokenPayload | undefined>
  /** `ws`'s `handleProtocols`: the first offered protocol that is not a token entry, else `false`. */
  readonly handleProtocols: (protocols: ReadonlySet<string>, request?: WsUpgradeRequest) => string | false
  /** The payload verified for this upgrade request; throws `Error` when none was. */
  payload(request: object): TokenPayload
}

/** Reason phrases of the statuses an authx error can have. */
const REASONS: Readonly<Record<number, string>> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
}

/** What a non-authx failure answers: nothing about it (no message, stack or token) leaves. */
const INTERNAL_BODY = JSON.stringify({ message: 'Internal Server Error' })

interface Refusal {
  readonly status: number
  readonly headers: Record<string, string>
  readonly body: string
}

/** `www-authenticate` -> `WWW-Authenticate`: `ws` writes its own defaults under these names. */
function headerName(name: string): string {
  return name
    .split('-')
    .map((part) => (part === 'www' ? 'WWW' : part.charAt(0).toUpperCase() + part.slice(1)))
    .join('-')
}

function refusal(err: unknown, errorBody: ErrorBodyFormatter | undefined): Refusal {
  if (!isAuthXError(err)) {
    // A bug, not the client's doing: the client learns nothing; the operator gets a warning.
    const what = err instanceof Error ? `${err.name}: ${err.message}` : typeof err
    globalThis.process?.emitWarning?.(`authx/ws: answered 500 to an upgrade (${what})`, {
      code: 'AUTHX_WS_INTERNAL',
      type: 'AuthXWarning',
    })
    return {
      status: 500,
      headers: { 'Content-Type': 'application/json; charset=utf-8', 'Cache-Control': 'no-store' },
      body: INTERNAL_BODY,
    }
  }
  const answer = errorResponse(err, errorBody)
  const headers: Record<string, string> = {}
  // Values are authx's own (configured scopes at most); CR/LF is stripped all the same, since they
  // go into a raw HTTP head.
  for (const [name, value] of Object.entries(answer.headers)) {
    headers[headerName(name)] = value.replace(/[\r\n]/g, ' ')
  }
  let body: string | undefined
  try {
    body = JSON.stringify(answer.body)
  } catch {
    body = undefined
  }
  // An errorBody result JSON cannot carry (a BigInt, a cycle, a function) gets the standard body.
  return {
    status: answer.status,
    headers,
    body: typeof body === 'string' ? body : JSON.stringify(err.toJSON()),
  }
}

/** Writes a whole HTTP/1.1 answer on an upgrade socket and closes it; a dead socket is just destroyed. */
function refuse(socket: UpgradeSocket, { status, headers, body }: Refusal): void {
  if (socket.destroyed || !socket.writable) {
    socket.destroy()
    return
  }
  const head = [
    `HTTP/1.1 ${status} ${REASONS[status] ?? 'Error'}`,
    ...Object.entries(headers).map(([name, value]) => `${name}: ${value}`),
    'Connection: close',
    `Content-Length: ${Buffer.byteLength(body)}`,
  ]
  socket.end(`${head.join('\r\n')}\r\n\r\n${body}`, () => socket.destroy())
}

/** Checks the options once, where the adapter is made. */
function wsOptions(options: unknown): {
  errorBody: ErrorBodyFormatter | undefined
  checks: WebSocketAuthOptions | undefined
} {
  if (options !== undefined && (typeof options !== 'object' || options === null || Array.isArray(options))) {
    throw new TypeError('wsAuthX: options must be a plain object')
  }
  const { errorBody, ...checks } = (options ?? {}) as Record<string, unknown>
  return {
    errorBody: adapterOptions(errorBody === undefined ? undefined : { errorBody }, 'wsAuthX').errorBody,
    checks: websocketAuthOptions(checks, 'wsAuthX'),
  }
}

/**
 * Authentication of `ws` upgrades for an authx instance (docs/websocket.md).
 *
 * @example
 * ```ts
 * import { WebSocketServer } from 'ws'
 * import { wsAuthX } from 'authx/ws'
 *
 * const authx = wsAuthX(auth)
 * // ws owns the upgrade: refused upgrades never reach 'connection'.
 * const wss = new WebSocketServer({
 *   server,
 *   verifyClient: authx.verifyClient,
 *   handleProtocols: authx.handleProtocols,
 * })
 * wss.on('connection', (socket, req) => socket.send(`hello ${authx.payload(req).sub}`))
 *
 * // Or noServer: true, with the HTTP server's 'upgrade' event yours.
 * const chat = new WebSocketServer({ noServer: true, handleProtocols: authx.handleProtocols })
 * server.on('upgrade', (req, socket, head) => {
 *   authx.handleUpgrade(chat, req, socket, head, (client, request, payload) => {
 *     client.send(`hello ${payload.sub}`)
 *   })
 * })
 * ```
 */
export function wsAuthX(auth: AuthX, options?: WsAuthXOptions): WsAuthX {
  if (typeof (auth as { authenticateWebSocket?: unknown } | null)?.authenticateWebSocket !== 'function') {
    throw new TypeError(
      'wsAuthX: expected an AuthX instance (with an AuthManager, pass manager.get(loginType))',
    )
  }
  const { errorBody, checks } = wsOptions(options)
  const payloads = new WeakMap<object, TokenPayload>()
  const authenticate = async (request: WsUpgradeRequest): Promise<TokenPayload> => {
    const payload = await (checks === undefined
      ? auth.authenticateWebSocket(request)
      : auth.authenticateWebSocket(request, checks))
    payloads.set(request, payload)
    return payload
  }
  return {
    // Two declared parameters: ws takes the asynchronous form only when `length === 2`.
    verifyClient: (info, callback) => {
      authenticate(info.req).then(
        () => callback(true),
        (err: unknown) => {
          const { status, body, headers } = refusal(err, errorBody)
          callback(false, status, body, headers)
        },
      )
    },
    handleUpgrade: (wss, request, socket, head, callback) => {
      // Node leaves an upgrade socket without an 'error' listener: a client resetting the
      // connection while the token is checked would otherwise crash the process.
      const onError = () => socket.destroy()
      socket.on('error', onError)
      return authenticate(request).then(
        (payload) => {
          // ws installs its own listener at once in handleUpgrade.
          socket.removeListener('error', onError)
          wss.handleUpgrade(request, socket, head, (client, req) => {
            if (callback === undefined) wss.emit('connection', client, req)
            else callback(client, req, payload)
          })
          return payload
        },
        (err: unknown) => {
          refuse(socket, refusal(err, errorBody))
          return undefined
        },
      )
    },
    handleProtocols: (protocols) => selectProtocol(protocols),
    payload: (request) => {
      const payload = payloads.get(request)
      if (payload === undefined) {
        throw new Error('authx.payload(req): no authx verification stored a payload for this upgrade request')
      }
      return payload
    },
  }
}
