/**
 * The Redis of this machine for store tests: whether it answers, and the deletion of the keys a
 * test file wrote under its own prefixes.
 */
import net from 'node:net'
import { Redis } from 'ioredis'

export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'

/**
 * `undefined` when the Redis at `url` answers PING within `timeoutMs`, else why it does not
 * (a raw socket, so a missing server costs no client retries).
 *
 * @example
 * const missing = await redisMissing()
 * if (missing !== undefined) ctx.skip(missing)
 */
export function redisMissing(url = REDIS_URL, timeoutMs = 1000): Promise<string | undefined> {
  const { hostname, port } = new URL(url)
  return new Promise((resolve) => {
    const socket = net.connect({ host: hostname, port: Number(port || 6379) })
    let reply = ''
    const done = (reason: string | undefined) => {
      clearTimeout(timer)
      socket.destroy()
      resolve(reason)
    }
    const timer = setTimeout(() => done(`no answer to PING from ${url} within ${timeoutMs} ms`), timeoutMs)
    socket.on('connect', () => socket.write('PING\r\n'))
    socket.on('data', (chunk) => {
      reply += chunk.toString('latin1')
      if (reply.includes('\r\n'))
        done(reply.startsWith('+PONG') ? undefined : `PING answered ${reply.trim()}`)
    })
    socket.on('error', (err) => done(`cannot reach ${url}: ${err.message}`))
  })
}

/**
 * Deletes every key under each of `prefixes` on the Redis at `url` (SCAN, never KEYS: the server
 * is shared with other runs).
 *
 * @example
 * afterAll(() => deleteRedisPrefixes(prefixes))
 */
export async function deleteRedisPrefixes(prefixes: readonly string[], url = REDIS_URL): Promise<void> {
  if (prefixes.length === 0) return
  const admin = new Redis(url, { maxRetriesPerRequest: 1 })
  // A connection error rejects the commands below; the 'error' event must not crash the run.
  admin.on('error', () => {})
  try {
    for (const prefix of prefixes) {
      let cursor = '0'
      do {
        const [next, keys] = await admin.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000)
        if (keys.length > 0) await admin.del(...keys)
        cursor = next
      } while (cursor !== '0')
    }
  } finally {
    await admin.quit()
  }
}
