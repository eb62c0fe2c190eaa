/**
 * A TCP proxy in front of a real server (Redis, PostgreSQL), for outage tests: it forwards, or
 * black-holes (accepts and holds every byte, as a network that drops packets), or refuses (every
 * connection is closed at once, as a stopped server).
 */
import net from 'node:net'

export type ProxyMode = 'forward' | 'black-hole' | 'refuse'

export interface TcpProxy {
  readonly port: number
  /** Every connection from now on, and those open, follow `mode`. */
  set(mode: ProxyMode): void
  /** Closes every open connection (both sides). */
  cut(): void
  close(): Promise<void>
}

/**
 * Starts a proxy on a free loopback port to `host:port`. In `black-hole` mode bytes are held,
 * not delivered; switching back to `forward` delivers nothing held (what a dead network lost
 * stays lost), so clients must open new connections.
 */
export async function tcpProxy(
  host: string,
  port: number,
  initial: ProxyMode = 'forward',
): Promise<TcpProxy> {
  let mode = initial
  const links = new Set<{ client: net.Socket; upstream: net.Socket | undefined; dead: boolean }>()
  const server = net.createServer((client) => {
    client.on('error', () => {})
    if (mode === 'refuse') {
      client.destroy()
      return
    }
    const link = { client, upstream: undefined as net.Socket | undefined, dead: mode === 'black-hole' }
    links.add(link)
    const close = () => {
      links.delete(link)
      client.destroy()
      link.upstream?.destroy()
    }
    client.on('close', close)
    if (link.dead) return
    const upstream = net.connect({ host, port })
    link.upstream = upstream
    upstream.on('error', () => {})
    upstream.on('close', close)
    client.on('data', (data) => {
      if (!link.dead) upstream.write(data)
    })
    upstream.on('data', (data) => {
      if (!link.dead) client.write(data)
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const address = server.address() as net.AddressInfo
  const cut = () => {
    for (const link of [...links]) {
      link.client.destroy()
      link.upstream?.destroy()
    }
  }
  return {
    port: address.port,
    set(next) {
      mode = next
      if (next === 'refuse') cut()
      // A black hole swallows what open connections send from now on.
      for (const link of links) link.dead = next === 'black-hole' || link.dead
    },
    cut,
    close() {
      cut()
      return new Promise((resolve) => server.close(() => resolve()))
    },
  }
}
