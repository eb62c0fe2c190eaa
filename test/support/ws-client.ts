/**
 * A real `ws` client for WebSocket tests: connects, and resolves with the first message after the
 * socket opens, or the refused handshake's answer (status, headers, raw body), or the client error.
 */
import type { IncomingHttpHeaders } from 'node:http'
import WebSocket from 'ws'

export type Outcome =
  | { kind: 'open'; message: string; protocol: string; upgrade: IncomingHttpHeaders }
  /** `body` is the parsed JSON body, `undefined` when the body is empty or not JSON. */
  | { kind: 'refused'; status: number; headers: IncomingHttpHeaders; body: unknown; raw: string }
  | { kind: 'error'; error: Error; upgrade: IncomingHttpHeaders | undefined }

export interface ConnectOptions {
  /** Appended to `url` (for example `/?token=...`); default none. */
  path?: string
  protocols?: string[]
  headers?: Record<string, string>
  origin?: string
}

function parseJson(raw: string): unknown {
  try {
    return JSON.parse(raw) as unknown
  } catch {
    return undefined
  }
}

/**
 * A real ws client: the first message after opening, or the refusal with its body.
 * @example
 * const outcome = await connect('ws://127.0.0.1:8080', { path: `/?token=${token}` })
 */
export function connect(url: string, { path = '', protocols = [], headers, origin }: ConnectOptions = {}) {
  return new Promise<Outcome>((resolve) => {
    const client = new WebSocket(`${url}${path}`, protocols, {
      ...(headers === undefined ? {} : { headers }),
      ...(origin === undefined ? {} : { origin }),
    })
    let upgrade: IncomingHttpHeaders | undefined
    client.on('upgrade', (res) => {
      upgrade = res.headers
    })
    client.on('unexpected-response', (req, res) => {
      const chunks: Buffer[] = []
      res.on('data', (chunk: Buffer) => chunks.push(chunk))
      res.on('end', () => {
        const raw = Buffer.concat(chunks).toString('utf8')
        resolve({
          kind: 'refused',
          status: res.statusCode ?? 0,
          headers: res.headers,
          body: parseJson(raw),
          raw,
        })
        req.destroy()
      })
    })
    client.on('message', (data) => {
      resolve({ kind: 'open', message: String(data), protocol: client.protocol, upgrade: upgrade ?? {} })
      client.close()
    })
    client.on('error', (error) => resolve({ kind: 'error', error, upgrade }))
  })
}
