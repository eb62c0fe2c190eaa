/**
 * A local JWKS endpoint on 127.0.0.1 whose behaviour a test changes as it goes: a key set, any
 * raw answer, a slow or silent answer, or no server at all (closed, then started again on the
 * same port). It counts the requests it receives and the connections that were closed on it.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo, Socket } from 'node:net'

/** How the server answers one request. */
export type JwksHandler = (req: IncomingMessage, res: ServerResponse) => void

export interface JwksServer {
  readonly url: string
  /** Requests received since the server was made (across restarts). */
  readonly requests: number
  /** Connections closed on the server (by either side). */
  readonly closedConnections: number
  /** Answers every later request with `handler`. */
  answer(handler: JwksHandler): void
  /** Answers every later request with this value as JSON (200). */
  serve(body: unknown): void
  /** Stops listening and drops every connection: the port refuses connections. */
  stop(): Promise<void>
  /** Listens again on the same port. */
  restart(): Promise<void>
}

const running = new Set<Server>()

/**
 * A JSON answer, 200 unless told.
 *
 * @example
 * server.answer(json({ keys: [] }))
 */
export function json(body: unknown, status = 200): JwksHandler {
  const text = JSON.stringify(body)
  return (_req, res) => {
    res.writeHead(status, { 'content-type': 'application/json' }).end(text)
  }
}

/**
 * Starts a server answering `body` as JSON.
 *
 * @example
 * const server = await startJwksServer(await issuer.jwks())
 */
export async function startJwksServer(body: unknown): Promise<JwksServer> {
  let handler: JwksHandler = json(body)
  let requests = 0
  let closedConnections = 0
  const sockets = new Set<Socket>()
  const server = createServer((req, res) => {
    requests++
    handler(req, res)
  })
  server.on('connection', (socket) => {
    sockets.add(socket)
    socket.on('close', () => {
      sockets.delete(socket)
      closedConnections++
    })
  })
  const listen = (port: number) =>
    new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(port, '127.0.0.1', () => {
        server.off('error', reject)
        resolve()
      })
    })
  await listen(0)
  running.add(server)
  const { port } = server.address() as AddressInfo
  const stop = () => stopServer(server, sockets)
  return {
    url: `http://127.0.0.1:${port}/.well-known/jwks.json`,
    get requests() {
      return requests
    },
    get closedConnections() {
      return closedConnections
    },
    answer(next) {
      handler = next
    },
    serve(next) {
      handler = json(next)
    },
    stop,
    async restart() {
      await listen(port)
    },
  }
}

function stopServer(server: Server, sockets: Set<Socket>): Promise<void> {
  return new Promise((resolve) => {
    for (const socket of sockets) socket.destroy()
    if (!server.listening) resolve()
    else server.close(() => resolve())
  })
}

/**
 * Stops every server started in this process (for `afterAll`).
 *
 * @example
 * afterAll(stopJwksServers)
 */
export async function stopJwksServers(): Promise<void> {
  await Promise.all(
    [...running].map(
      (server) =>
        new Promise<void>((resolve) => {
          server.closeAllConnections()
          if (!server.listening) resolve()
          else server.close(() => resolve())
        }),
    ),
  )
  running.clear()
}
