/**
 * Loopback ports for servers a test starts itself.
 */
import net from 'node:net'

/**
 * A free loopback port (closed again; another process could take it first, rarely).
 *
 * @example
 * const port = await freePort()
 */
export async function freePort(): Promise<number> {
  const server = net.createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as net.AddressInfo
  await new Promise((resolve) => server.close(resolve))
  return port
}
