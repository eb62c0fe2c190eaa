// One HTTP server of part 2, in its own process: `node bench/server.mjs <framework> <variant>`.
// GET /me answers { sub } from the verified token (or a constant, without auth). The parent drives
// it over IPC: 'cpu-start' and 'cpu-stop' bracket a measured run (process.cpuUsage() of this
// process), 'exit' closes the server and the store and exits (which writes a --cpu-prof profile).

import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import { exitWithParent, importAuthx } from './lib/common.mjs'

// A server left behind by a failed bench still drops its table and keys.
exitWithParent(() => runCleanups())

const [framework, variant] = process.argv.slice(2)
const secret = process.env.AUTHX_BENCH_SECRET
if (!secret) throw new Error('bench/server.mjs: AUTHX_BENCH_SECRET is not set')
const SUB_OF_NO_AUTH = 'user123'

const postgresUrl = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test'
/** Run after the store is closed, when the server exits. */
const cleanups = []
async function runCleanups() {
  for (const cleanup of cleanups.splice(0)) await cleanup().catch(() => {})
}
/**
 * During a measured run of a mirrored store: how often it went down, and how many of the probes
 * (every 10 ms) found it not answering (a late heartbeat); both mean reads went to the server.
 */
const mirrorWatch = { store: undefined, down: 0, probes: 0, misses: 0, timer: undefined }

/**
 * An AuthX on `store`. A mirrored store is waited for until its mirror answers (the
 * `store.mirror_live` event), so no measured request reads from the server while it loads.
 */
async function withStore(store, mirror) {
  const { AuthX } = await importAuthx('index')
  const live = mirror
    ? new Promise((resolveLive, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`${variant}: the mirror was not live within 30 s`)),
          30_000,
        )
        store.onEvent((event) => {
          if (event === 'store.mirror_down') mirrorWatch.down++
          if (event !== 'store.mirror_live') return
          clearTimeout(timer)
          resolveLive()
        })
      })
    : undefined
  const auth = new AuthX({ secretKey: secret, store })
  try {
    await live
    // The mirror answers from memory once its heartbeat is current: getLocal gives values.
    const liveAt = Date.now()
    while (mirror && store.getLocal(['jti::bench-probe']) === undefined) {
      if (Date.now() - liveAt > 5000)
        throw new Error(`${variant}: live, but getLocal did not answer within 5 s`)
      await new Promise((resolveLater) => setTimeout(resolveLater, 1))
    }
  } catch (err) {
    await auth.close()
    throw err
  }
  if (mirror) mirrorWatch.store = store
  return auth
}

/** Deletes the keys under a bench prefix (the revocation made by the check). */
async function deletePrefix(url, prefix) {
  const { default: Redis } = await import('ioredis')
  const redis = new Redis(url)
  try {
    let cursor = '0'
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000)
      cursor = next
      if (keys.length > 0) await redis.unlink(...keys)
    } while (cursor !== '0')
  } finally {
    redis.disconnect()
  }
}

/** Drops a bench table and the function the mirror's trigger calls (named after the table). */
async function dropTable(table) {
  const { default: pg } = await import('pg')
  const client = new pg.Client({ connectionString: postgresUrl })
  await client.connect()
  try {
    await client.query(`DROP TABLE IF EXISTS "${table}"`)
    await client.query(`DROP FUNCTION IF EXISTS "${table}_authx_notify"()`)
  } finally {
    await client.end()
  }
}

/** The authx instance of an authx variant, as a user would make it. */
async function authxInstance() {
  const { AuthX } = await importAuthx('index')
  if (variant === 'authx-cache-off') return new AuthX({ secretKey: secret, cache: { verifiedTokens: 0 } })
  if (variant === 'authx-cache-on') return new AuthX({ secretKey: secret })
  if (variant === 'authx-sqlite') {
    const { SqliteStore } = await importAuthx('stores/sqlite')
    const path = join(process.env.AUTHX_BENCH_TMP, `${framework}-${randomBytes(4).toString('hex')}.db`)
    return new AuthX({ secretKey: secret, store: new SqliteStore({ path }) })
  }
  if (variant === 'authx-redis' || variant === 'authx-redis-mirror') {
    const { RedisStore } = await importAuthx('stores/redis')
    const url = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'
    const prefix = `authx-bench:${process.pid}-${randomBytes(4).toString('hex')}:`
    const mirror = variant === 'authx-redis-mirror'
    cleanups.push(() => deletePrefix(url, prefix))
    return withStore(new RedisStore({ url, prefix, mirror }), mirror)
  }
  if (variant === 'authx-postgres' || variant === 'authx-postgres-mirror') {
    const { PostgresStore } = await importAuthx('stores/postgres')
    // A table of its own, dropped (with the mirror's trigger function) when the server exits.
    const table = `authx_bench_${process.pid}_${randomBytes(4).toString('hex')}`
    const mirror = variant === 'authx-postgres-mirror'
    cleanups.push(() => dropTable(table))
    return withStore(new PostgresStore({ connectionString: postgresUrl, table, mirror }), mirror)
  }
  throw new Error(`bench/server.mjs: unknown variant ${variant}`)
}

async function fastifyServer(auth) {
  const { default: Fastify } = await import('fastify')
  const app = Fastify({ logger: false })
  if (variant === 'none') {
    app.get('/me', async () => ({ sub: SUB_OF_NO_AUTH }))
  } else if (variant === 'peer') {
    const { default: fastifyJwt } = await import('@fastify/jwt')
    await app.register(fastifyJwt, { secret, verify: { algorithms: ['HS256'] } })
    app.get(
      '/me',
      {
        preHandler: async (request) => {
          await request.jwtVerify()
        },
      },
      async (request) => ({ sub: request.user.sub }),
    )
  } else {
    const { fastifyAuthX } = await importAuthx('fastify')
    await app.register(fastifyAuthX, { auth })
    app.get('/me', { preHandler: app.authx.accessRequired }, async (request) => ({ sub: request.authx.sub }))
  }
  await app.listen({ host: '127.0.0.1', port: 0 })
  return { port: app.server.address().port, close: () => app.close() }
}

async function expressServer(auth) {
  const { default: express } = await import('express')
  const app = express()
  if (variant === 'none') {
    app.get('/me', (_req, res) => res.json({ sub: SUB_OF_NO_AUTH }))
  } else if (variant === 'peer') {
    const { expressjwt } = await import('express-jwt')
    app.get('/me', expressjwt({ secret, algorithms: ['HS256'] }), (req, res) =>
      res.json({ sub: req.auth.sub }),
    )
    // express-jwt passes its UnauthorizedError to next(): answer it as its README does.
    app.use((err, _req, res, next) => {
      if (err.name !== 'UnauthorizedError') return next(err)
      res.status(err.status).json({ message: err.message })
    })
  } else {
    const { expressAuthX } = await importAuthx('express')
    const authx = expressAuthX(auth)
    app.get('/me', authx.accessRequired, (req, res) => res.json({ sub: req.authx.sub }))
    app.use(authx.errorHandler)
  }
  const server = await new Promise((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s))
  })
  return { port: server.address().port, close: () => new Promise((resolve) => server.close(resolve)) }
}

async function honoServer(auth) {
  const { Hono } = await import('hono')
  const { serve } = await import('@hono/node-server')
  const app = new Hono()
  if (variant === 'none') {
    app.get('/me', (c) => c.json({ sub: SUB_OF_NO_AUTH }))
  } else if (variant === 'peer') {
    const { jwt } = await import('hono/jwt')
    app.get('/me', jwt({ secret, alg: 'HS256' }), (c) => c.json({ sub: c.get('jwtPayload').sub }))
  } else {
    const { honoAuthX } = await importAuthx('hono')
    const authx = honoAuthX(auth)
    app.get('/me', authx.accessRequired, (c) => c.json({ sub: c.get('authx').sub }))
  }
  const server = await new Promise((resolve) => {
    const s = serve({ fetch: app.fetch, hostname: '127.0.0.1', port: 0 }, () => resolve(s))
  })
  return { port: server.address().port, close: () => new Promise((resolve) => server.close(resolve)) }
}

const makers = { fastify: fastifyServer, express: expressServer, hono: honoServer }
if (!makers[framework]) throw new Error(`bench/server.mjs: unknown framework ${framework}`)
let auth
let server
try {
  auth = variant.startsWith('authx') ? await authxInstance() : undefined
  server = await makers[framework](auth)
} catch (err) {
  // A server that fails to start leaves no table or keys behind either.
  await auth?.close()
  await runCleanups()
  throw err
}

let cpuAtStart
process.on('message', async (message) => {
  if (message === 'cpu-start') {
    cpuAtStart = process.cpuUsage()
    Object.assign(mirrorWatch, { down: 0, probes: 0, misses: 0 })
    if (mirrorWatch.store) {
      mirrorWatch.timer = setInterval(() => {
        mirrorWatch.probes++
        if (mirrorWatch.store.getLocal(['jti::bench-probe']) === undefined) mirrorWatch.misses++
      }, 10)
    }
    process.send({ type: 'cpu-started' })
  } else if (message === 'cpu-stop') {
    const { user, system } = process.cpuUsage(cpuAtStart)
    clearInterval(mirrorWatch.timer)
    const mirrorRun = mirrorWatch.store
      ? { down: mirrorWatch.down, notAnswering: mirrorWatch.misses / Math.max(1, mirrorWatch.probes) }
      : undefined
    process.send({ type: 'cpu', micros: user + system, mirror: mirrorRun })
  } else if (message?.type === 'revoke') {
    await auth.revokeToken(message.token)
    process.send({ type: 'revoked' })
  } else if (message === 'exit') {
    await server.close()
    await auth?.close()
    await runCleanups()
    process.exit(0)
  }
})
process.send({ type: 'ready', port: server.port })
