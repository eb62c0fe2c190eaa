/**
 * `npm start`: reads the environment, starts the demo, prints its address and users, and stops
 * cleanly on Ctrl-C (SIGINT) or SIGTERM.
 *
 * Environment: PORT [3000] (0: any free port), HOST [127.0.0.1], DEMO_DATA_DIR [<repo>/data],
 * DEMO_COOKIE_SECURE [true], JWT_SECRET_KEY [generated once into the data folder], DEMO_LOGIN_LIMIT
 * [10 login attempts a minute from one address].
 */
import { join, resolve } from 'node:path'
import { startDemo } from './server.js'
import { DEMO_USERS } from './users.js'

/** A setting the demo cannot start with: one line, exit code 2. */
class UsageError extends Error {}

function portFrom(value: string | undefined): number {
  if (value === undefined || value === '') return 3000
  const port = Number(value)
  if (!/^\d+$/.test(value) || port > 65535) throw new UsageError(`PORT must be a number from 0 to 65535`)
  return port
}

function limitFrom(value: string | undefined): number | undefined {
  if (value === undefined || value === '') return undefined
  const limit = Number(value)
  if (!/^\d+$/.test(value) || limit < 1 || limit > 1_000_000)
    throw new UsageError('DEMO_LOGIN_LIMIT must be a whole number from 1 to 1000000')
  return limit
}

function booleanFrom(name: string, value: string | undefined): boolean | undefined {
  if (value === undefined || value === '') return undefined
  if (/^(true|1)$/i.test(value)) return true
  if (/^(false|0)$/i.test(value)) return false
  throw new UsageError(`${name} must be true or false`)
}

/**
 * Starts the demo for `npm start`. `root` is the repository's root folder.
 *
 * @example
 * ```ts
 * await run({ root: process.cwd(), env: process.env })
 * ```
 */
export async function run({ root, env }: { root: string; env: NodeJS.ProcessEnv }): Promise<void> {
  let demo: Awaited<ReturnType<typeof startDemo>>
  let loginLimit: number | undefined
  try {
    loginLimit = limitFrom(env.DEMO_LOGIN_LIMIT)
    demo = await startDemo({
      // A relative DEMO_DATA_DIR is taken from the current folder, as a shell user expects.
      dataDir: env.DEMO_DATA_DIR ? resolve(env.DEMO_DATA_DIR) : join(root, 'data'),
      publicDir: join(root, 'examples', 'demo', 'public'),
      secretKey: env.JWT_SECRET_KEY,
      secureCookies: booleanFrom('DEMO_COOKIE_SECURE', env.DEMO_COOKIE_SECURE),
      loginLimit,
      port: portFrom(env.PORT),
      hostname: env.HOST || '127.0.0.1',
    })
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    if (err instanceof UsageError) console.error(`authx demo: ${err.message}`)
    else if (code === 'EADDRINUSE')
      console.error(
        `authx demo: port ${env.PORT || 3000} is in use; try PORT=${portFrom(env.PORT) + 1} npm start`,
      )
    else if (code === 'ERR_CONFIG' || code === 'EACCES')
      console.error(`authx demo: ${(err as Error).message}`)
    else throw err
    process.exitCode = 2
    return
  }

  const width = Math.max(...DEMO_USERS.map((user) => user.username.length))
  console.log(`authx demo: ${demo.url}

Demo users (also listed on the page):
${DEMO_USERS.map((u) => `  ${u.username.padEnd(width)}  password ${u.password}  scopes ${u.scopes.join(' ')}`).join('\n')}

Access tokens live 60 s, so that the countdown and the refresh are visible. Logins: at most
${loginLimit ?? 10} attempts a minute from one address (DEMO_LOGIN_LIMIT). Guide: docs/demo.md
Stop with Ctrl-C.`)

  let stopping = false
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) return
    stopping = true
    demo.close().then(
      () => console.log(`authx demo: stopped (${signal})`),
      (err: unknown) => {
        console.error('authx demo: error while stopping:', err)
        process.exitCode = 1
      },
    )
  }
  process.once('SIGINT', stop)
  process.once('SIGTERM', stop)
}
