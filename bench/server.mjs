// One HTTP server of part 2, in its own process: `node bench/server.mjs <framework> <variant>`.
// GET /me answers { sub } from the verified token (or a constant, without auth). The parent drives
// it over IPC: 'cpu-start' and 'cpu-stop' bracket a measured run (process.cpuUsage() of this
// process), 'exit' closes the server and the store and exits (which writes a --cpu-prof profile).

import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import { exitWithParent, importAuthx } from './lib/common.mjs'

exitWithParent()

const [framework, variant] = process.argv.slice(2)
const secret = process.env.AUTHX_BENCH_SECRET
if (!secret) throw new Error('bench/server.mjs: AUTHX_BENCH_SECRET is not set')
const SUB_OF_NO_AUTH = 'user123'

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
  if (variant === 'authx-redis') {
    const { RedisStore } = await importAuthx('stores/redis')
    const url = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'
    const prefix = `authx-bench:${process.pid}-${randomBytes(4).toString('hex')}:`
    return new AuthX({ secretKey: secret, store: new RedisStore({ url, prefix }) })
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
const auth = variant.startsWith('authx') ? await authxInstance() : undefined
const server = await makers[framework](auth)

let cpuAtStart
process.on('message', async (message) => {
  if (message === 'cpu-start') {
    cpuAtStart = process.cpuUsage()
    process.send({ type: 'cpu-started' })
  } else if (message === 'cpu-stop') {
    const { user, system } = process.cpuUsage(cpuAtStart)
    process.send({ type: 'cpu', micros: user + system })
  } else if (message === 'exit') {
    await server.close()
    await auth?.close()
    process.exit(0)
  }
})
process.send({ type: 'ready', port: server.port })
