/**
 * The Redis of this machine for store tests: whether it answers, the deletion of the keys a test
 * file wrote under its own prefixes, clients of the Redis Cluster, and a redis-server of a test's own.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import net from 'node:net'
import { Cluster, Redis } from 'ioredis'
import { createCluster } from 'redis'
import { freePort } from './ports.js'

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

/**
 * Every key under `prefix` on one server or cluster node (SCAN, never KEYS: the server is shared).
 *
 * @example
 * for (const node of cluster.nodes('master')) keys.push(...(await scanKeys(node, prefix)))
 */
export async function scanKeys(node: Redis, prefix: string): Promise<string[]> {
  const keys: string[] = []
  let cursor = '0'
  do {
    const [next, batch] = await node.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000)
    keys.push(...batch)
    cursor = next
  } while (cursor !== '0')
  return keys
}

/** The nodes of the Redis Cluster of scripts/ci/redis-cluster.sh (or REDIS_CLUSTER_NODES). */
export const CLUSTER_NODES = (
  process.env.REDIS_CLUSTER_NODES ?? '127.0.0.1:7000,127.0.0.1:7001,127.0.0.1:7002'
)
  .split(',')
  .map((address) => {
    const [host, port] = address.trim().split(':')
    return { host: host!, port: Number(port) }
  })

/**
 * `undefined` when the first node answers `CLUSTER INFO` with `cluster_state:ok`, else why not.
 *
 * @example
 * const absent = await clusterMissing()
 */
export function clusterMissing(timeoutMs = 1000): Promise<string | undefined> {
  const { host, port } = CLUSTER_NODES[0]!
  const where = `the Redis Cluster at ${host}:${port} (start it with scripts/ci/redis-cluster.sh)`
  return new Promise((resolve) => {
    const socket = net.connect({ host, port })
    let reply = ''
    const done = (reason: string | undefined) => {
      clearTimeout(timer)
      socket.destroy()
      resolve(reason)
    }
    const timer = setTimeout(() => done(`no answer from ${where} within ${timeoutMs} ms`), timeoutMs)
    socket.on('connect', () => socket.write('CLUSTER INFO\r\n'))
    socket.on('data', (chunk) => {
      reply += chunk.toString('latin1')
      if (reply.startsWith('-')) done(`${where} answered ${reply.trim()}`)
      else if (reply.includes('cluster_state:ok')) done(undefined)
      else if (/cluster_state:\w+\r\n/.test(reply))
        done(`${where} is not ok: ${reply.match(/cluster_state:\w+/)![0]}`)
    })
    socket.on('error', (err) => done(`cannot reach ${where}: ${err.message}`))
  })
}

/** The ioredis options a test gives each node of a Cluster. */
export interface ClusterNodeOptions {
  commandTimeout?: number
  socketTimeout?: number
  maxRetriesPerRequest?: number
  autoResendUnfulfilledCommands?: boolean
}

/**
 * An ioredis Cluster client (with these options for each node), once every slot is known to it.
 *
 * @example
 * const cluster = await ioredisCluster({ maxRetriesPerRequest: 1, commandTimeout: 200 })
 */
export async function ioredisCluster(
  redisOptions: ClusterNodeOptions = { maxRetriesPerRequest: 1 },
): Promise<Cluster> {
  const cluster = new Cluster(CLUSTER_NODES, { redisOptions })
  cluster.on('error', () => {})
  if (cluster.status !== 'ready') {
    await new Promise<void>((resolve, reject) => {
      cluster.once('ready', resolve)
      cluster.once('end', () => reject(new Error('ioredis Cluster ended before it was ready')))
    })
  }
  return cluster
}

/**
 * A connected node-redis Cluster client over the same nodes.
 *
 * @example
 * const cluster = await nodeRedisCluster()
 */
export async function nodeRedisCluster() {
  const cluster = createCluster({
    rootNodes: CLUSTER_NODES.map(({ host, port }) => ({ url: `redis://${host}:${port}` })),
  })
  cluster.on('error', () => {})
  await cluster.connect()
  return cluster
}

/**
 * Starts a redis-server of one test alone (one it may flush, pause or reconfigure), with `args`
 * added to its command line, and pushes its stop onto `undo`; resolves once it answers PING.
 *
 * @example
 * const { url, process } = await ownRedis(undo, ['--enable-debug-command', 'yes'])
 */
export async function ownRedis(
  undo: (() => Promise<unknown> | unknown)[],
  args: string[] = [],
): Promise<{ url: string; process: ChildProcess }> {
  const port = await freePort()
  const child = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', ...args],
    { stdio: 'ignore' },
  )
  const exited = new Promise((resolve) => child.once('exit', resolve))
  undo.push(async () => {
    // Resumed first: a stopped process does not act on SIGTERM.
    child.kill('SIGCONT')
    child.kill('SIGTERM')
    await exited
  })
  const url = `redis://127.0.0.1:${port}`
  for (let i = 0; (await redisMissing(url, 500)) !== undefined; i++) {
    if (i > 100) throw new Error(`redis-server on port ${port} did not start`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  return { url, process: child }
}
