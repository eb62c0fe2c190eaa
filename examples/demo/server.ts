/**
 * The authx demo: a Hono application with cookie tokens bound to the browser's key (DPoP), CSRF
 * (double submit), a durable SQLite store, the ready-made refresh and logout routes, sessions
 * ("Your devices"), a rate-limited login, and a page that walks through them. Read it
 * with docs/demo.md at hand; `npm start` runs it (scripts/start.mjs bundles this folder with
 * `authx` pointing at the source, then calls `run` in ./main.ts).
 */
import { randomBytes } from 'node:crypto'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import { createAdaptorServer } from '@hono/node-server'
import { AuthX, type Session, type TokenPayload } from 'authx'
import { honoAuthX } from 'authx/hono'
import { SqliteStore } from 'authx/stores/sqlite'
import { type Context, Hono, type MiddlewareHandler } from 'hono'
import { getCookie } from 'hono/cookie'
import { secureHeaders } from 'hono/secure-headers'
import { deviceName } from './device-name.js'
import { checkPassword, DEMO_USERS, type DemoUser, userById } from './users.js'

/** How the demo is set up. */
export interface DemoOptions {
  /** Folder of the SQLite file and of the generated secret; created when missing. */
  dataDir: string
  /** Folder of index.html, app.js, dpop.js and style.css. */
  publicDir: string
  /** HMAC secret. Default: one generated on first start and kept in `<dataDir>/demo-secret.key`. */
  secretKey?: string | undefined
  /**
   * `Secure` cookies with `__Host-` / `__Secure-` names, and DPoP required. Default `true`:
   * browsers accept them on http://localhost. Turn it off only to reach the demo over plain HTTP
   * from another machine, where the page has no Web Crypto to make DPoP proofs with.
   */
  secureCookies?: boolean | undefined
  /** Access-token lifetime in seconds. Default 60, so the countdown and refresh are visible. */
  accessTokenSeconds?: number | undefined
  /** Login attempts allowed per minute from one address. Default 10. */
  loginLimit?: number | undefined
}

/** A demo application, not yet listening. */
export interface Demo {
  readonly app: Hono
  readonly auth: AuthX
  /** Closes the SQLite store. */
  close(): Promise<void>
}

/** The answer of a demo route that refuses a request: the same `{ code, message }` shape as authx's. */
const refuse = (c: Context, status: 400 | 401 | 404 | 409, code: string, message: string) =>
  c.json({ code, message }, status)

/**
 * The client's address: the socket's, as `@hono/node-server` gives it (`c.env.incoming`), the
 * same one `rateLimited({ by: 'ip' })` counts. No `X-Forwarded-For`: the demo is reached
 * directly, and a header any client can set must not be shown as the device's address.
 */
function socketAddress(c: Context): string | undefined {
  const env = c.env as { incoming?: { socket?: { remoteAddress?: unknown } } } | undefined
  const address = env?.incoming?.socket?.remoteAddress
  if (typeof address !== 'string') return undefined
  return address.startsWith('::ffff:') ? address.slice('::ffff:'.length) : address // IPv4 as IPv4
}

/** A session as the "Your devices" list shows it. */
const deviceOf = (session: Session, current: string | undefined) => ({
  sid: session.sid,
  device: session.device,
  userAgent: session.userAgent,
  ip: session.ip,
  createdAt: session.createdAt.getTime(),
  lastSeenAt: session.lastSeenAt.getTime(),
  current: session.sid === current,
})

/** What the page may know about a user: never the password. */
const publicUser = (user: DemoUser | undefined, sub: string) =>
  user === undefined
    ? { id: sub, username: sub, name: sub, scopes: [] }
    : { id: user.id, username: user.username, name: user.name, scopes: user.scopes }

/**
 * The HMAC secret: `secretKey` when given, else the one in `<dataDir>/demo-secret.key`, made on
 * first start. It must survive restarts: a new secret would make every issued token fail its
 * signature check, and the demo could not show that revocations outlive a restart.
 */
function demoSecret(dataDir: string, given: string | undefined): string {
  if (given !== undefined && given !== '') return given
  const file = join(dataDir, 'demo-secret.key')
  try {
    return readFileSync(file, 'utf8').trim()
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
  }
  const secret = randomBytes(48).toString('base64url')
  try {
    writeFileSync(file, `${secret}\n`, { mode: 0o600, flag: 'wx' }) // owner-only, never overwritten
    return secret
  } catch (err) {
    // Another process started at the same moment and wrote it first: use that one.
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return readFileSync(file, 'utf8').trim()
    throw err
  }
}

/**
 * The refresh tokens this server rotated away, one per login (family), kept only so the page can
 * ask "replay my previous refresh token" (docs/demo.md, step 7). The browser cannot do it
 * itself: its refresh cookie is HttpOnly and already holds the new token. A real application
 * keeps no such thing.
 */
class PreviousRefreshTokens {
  readonly #byFamily = new Map<string, { token: string; jti: string; usedAt: number }>()

  remember(fid: string, jti: string, token: string): void {
    this.#byFamily.delete(fid) // re-inserted last: the map stays in age order
    this.#byFamily.set(fid, { token, jti, usedAt: Date.now() })
    // A demo runs for a while on one machine; a bound keeps a long run from growing without end.
    if (this.#byFamily.size > 1000) this.#byFamily.delete(this.#byFamily.keys().next().value as string)
  }

  get(fid: string) {
    return this.#byFamily.get(fid)
  }

  forget(fid: string): void {
    this.#byFamily.delete(fid)
  }
}

/**
 * Builds the demo application.
 *
 * @example
 * ```ts
 * const demo = createDemo({ dataDir: './data', publicDir: './examples/demo/public' })
 * const res = await demo.app.request('/api/demo')
 * ```
 */
export function createDemo(options: DemoOptions): Demo {
  mkdirSync(options.dataDir, { recursive: true, mode: 0o700 })
  const secure = options.secureCookies ?? true

  // --- The authx instance: cookies only, CSRF on (the default), DPoP, a durable store. ---
  const auth = new AuthX({
    secretKey: demoSecret(options.dataDir, options.secretKey),
    issuer: 'authx-demo',
    accessTokenExpires: options.accessTokenSeconds ?? 60,
    refreshTokenExpires: '1d',
    tokenLocation: ['cookies'],
    cookies: {
      // The refresh cookie goes only to /auth/* (refresh, logout), never to the API.
      refreshPath: '/auth',
      sameSite: 'strict',
      secure,
      ...(secure ? { accessName: '__Host-access', refreshName: '__Secure-refresh' } : {}),
    },
    csrf: secure ? { accessCookieName: '__Host-csrf-access', refreshCookieName: '__Host-csrf-refresh' } : {},
    // Every token is bound to a key the browser holds and cannot export (public/dpop.js), and
    // every request with one needs a fresh proof made with that key: copied cookies are useless.
    // Over plain HTTP from another machine (secure off) the page has no Web Crypto, so there a
    // login without a proof gets unbound tokens.
    dpop: { required: secure },
    // Proofs' jti (the replay check), like revocations, in SQLite: a restart forgets none.
    store: new SqliteStore({ path: join(options.dataDir, 'authx-demo.db') }),
  })
  const cookieNames = secure
    ? {
        access: '__Host-access',
        refresh: '__Secure-refresh',
        csrfAccess: '__Host-csrf-access',
        csrfRefresh: '__Host-csrf-refresh',
      }
    : {
        access: 'access_token_cookie',
        refresh: 'refresh_token_cookie',
        csrfAccess: 'csrf_access_token',
        csrfRefresh: 'csrf_refresh_token',
      }
  const authx = honoAuthX(auth)
  const previous = new PreviousRefreshTokens()
  const loginLimit = options.loginLimit ?? 10

  const app = new Hono()
  // The page loads nothing from elsewhere: everything is 'self', no inline script or style.
  app.use(
    secureHeaders({
      // The demo is served over plain HTTP on localhost; behind HTTPS, keep hono's default HSTS.
      strictTransportSecurity: false,
      contentSecurityPolicy: {
        defaultSrc: ["'self'"],
        scriptSrc: ["'self'"],
        styleSrc: ["'self'"],
        imgSrc: ["'self'", 'data:'],
        connectSrc: ["'self'"],
        objectSrc: ["'none'"],
        baseUri: ["'none'"],
        formAction: ["'self'"],
        frameAncestors: ["'none'"],
      },
    }),
  )
  // No API answer is cached: they carry personal data, and some set cookies.
  const noStore: MiddlewareHandler = async (c, next) => {
    await next()
    c.header('Cache-Control', 'no-store')
  }
  app.use('/api/*', noStore)
  app.use('/auth/*', noStore)

  // --- The page. ---
  const page: Record<string, [file: string, type: string]> = {
    '/': ['index.html', 'text/html; charset=utf-8'],
    '/app.js': ['app.js', 'text/javascript; charset=utf-8'],
    '/dpop.js': ['dpop.js', 'text/javascript; charset=utf-8'],
    '/style.css': ['style.css', 'text/css; charset=utf-8'],
  }
  for (const [path, [file, type]] of Object.entries(page)) {
    const body = readFileSync(join(options.publicDir, file))
    app.get(path, (c) => c.body(body, 200, { 'Content-Type': type, 'Cache-Control': 'no-cache' }))
  }

  // What the page needs to know: the demo users (passwords included: it is a demo) and the names
  // of the CSRF cookies it reads to fill the X-CSRF-TOKEN header.
  app.get('/api/demo', (c) =>
    c.json({
      users: DEMO_USERS,
      csrfCookies: { access: cookieNames.csrfAccess, refresh: cookieNames.csrfRefresh },
      accessTokenSeconds: options.accessTokenSeconds ?? 60,
      loginLimit,
      dpopRequired: secure,
    }),
  )

  // --- Login: the only route that makes a fresh token. ---
  // Password guessing is slowed down per address: every attempt counts, failed or not, and over
  // the limit the answer is 429 with Retry-After before any password is checked. The windows are
  // in the SQLite store, so a restart does not reset them.
  const loginAttempts = authx.rateLimited({ max: loginLimit, window: '1m', by: 'ip', name: 'login' })
  app.post('/auth/login', loginAttempts, async (c) => {
    // JSON only: a cross-site HTML form cannot send it, so another site cannot log a visitor in
    // to an account of its choosing (login CSRF).
    const body = await readJson(c)
    const { username, password } = (body ?? {}) as Record<string, unknown>
    if (typeof username !== 'string' || typeof password !== 'string' || password.length > 256)
      return refuse(c, 400, 'ERR_DEMO_BAD_REQUEST', 'Send JSON: { "username": "...", "password": "..." }')
    // The proof first (401 ERR_INVALID_DPOP_PROOF without a valid one): the answer then never
    // tells whether the password was right to a request that could not use the tokens anyway.
    const jkt = await authx.dpopThumbprint(c)
    const user = checkPassword(username, password)
    if (user === undefined) return refuse(c, 401, 'ERR_DEMO_LOGIN_FAILED', 'Wrong username or password')
    // A session: its id (`sid`) goes into both tokens, and "Your devices" lists it. `jkt` binds
    // both tokens to the proof's key (`cnf.jkt`); refreshes keep the binding.
    const userAgent = c.req.header('user-agent')
    const pair = await auth.createTokenPair({
      uid: user.id,
      fresh: true,
      scopes: [...user.scopes],
      session: { userAgent, ip: socketAddress(c), device: deviceName(userAgent) },
      jkt,
    })
    authx.setAccessCookies(c, pair.accessToken) // HttpOnly token cookie + readable CSRF cookie
    authx.setRefreshCookies(c, pair.refreshToken)
    return c.json({ user: publicUser(user, user.id) })
  })

  // --- The API, behind guards. ---
  app.get('/api/profile', authx.accessRequired, (c) => {
    const payload = c.get('authx')
    return c.json({
      user: publicUser(userById(payload.sub), payload.sub),
      claims: payload.claims, // decoded and verified by the guard; the token itself stays HttpOnly
      serverTime: Date.now(),
    })
  })

  // 'admin:*' in Ada's token covers 'admin:users'; Bob's token has no admin scope: 403.
  app.get('/api/admin/users', authx.scopesRequired('admin:users'), (c) =>
    c.json({
      message: "Allowed: your token holds a scope that covers 'admin:users'",
      users: DEMO_USERS.map((user) => publicUser(user, user.id)),
    }),
  )

  // Only a token made by a login is fresh; a refreshed one is not: 401 ERR_FRESH_TOKEN_REQUIRED.
  app.post('/api/sensitive', authx.freshRequired, (c) => {
    const payload = c.get('authx')
    return c.json({
      message: `Allowed: this access token is fresh (made by your login at ${payload.issuedAt.toISOString()})`,
    })
  })

  // Every token of this user, on every device, issued before this second.
  app.post('/api/logout-everywhere', authx.accessRequired, async (c) => {
    const payload = c.get('authx')
    await auth.revokeAllForSubject(payload.sub)
    await auth.sessions.revokeAll(payload.sub) // and "Your devices" is empty
    if (payload.fid !== undefined) previous.forget(payload.fid)
    authx.unsetCookies(c)
    return c.json({ message: 'Every token of this user issued until now is revoked, on every device' })
  })

  // --- Sessions: "Your devices". ---
  app.get('/api/sessions', authx.accessRequired, async (c) => {
    const payload = c.get('authx')
    const sessions = await auth.sessions.list(payload.sub)
    return c.json({ sessions: sessions.map((s) => deviceOf(s, payload.sid)), serverTime: Date.now() })
  })

  // Every session of this user but this one: their tokens fail at once, refresh included.
  app.post('/api/sessions/revoke-others', authx.accessRequired, async (c) => {
    const payload = c.get('authx')
    const ended = await auth.sessions.revokeAll(
      payload.sub,
      payload.sid === undefined ? {} : { except: payload.sid },
    )
    return c.json({ ended, message: `Logged out ${ended} other device${ended === 1 ? '' : 's'}` })
  })

  // One session, by its id: only one of this user's (`sub`), so nobody can end another user's.
  app.post('/api/sessions/:sid/revoke', authx.accessRequired, async (c) => {
    const payload = c.get('authx')
    const sid = c.req.param('sid')
    if (!(await auth.sessions.revoke(sid, { sub: payload.sub })))
      return refuse(c, 404, 'ERR_DEMO_NO_SUCH_SESSION', 'None of your live sessions has this id')
    const current = sid === payload.sid
    if (current) authx.unsetCookies(c) // this device's own session: its cookies are dead now
    return c.json({ current, message: current ? 'Logged out this device' : 'Logged out that device' })
  })

  // --- The ready-made routes (under the refresh cookie's path, so they receive it). ---
  // Before the refresh route: note the refresh token it is about to use up (see PreviousRefreshTokens).
  const rememberPresented: MiddlewareHandler = async (c, next) => {
    const presented = getCookie(c, cookieNames.refresh)
    await next()
    if (presented === undefined || c.res.status !== 200) return
    try {
      const used = await auth.decodeToken(presented) // verified by the route a moment ago
      if (used.fid !== undefined) previous.remember(used.fid, used.jti, presented)
    } catch {
      // Not the token the route used (a request with two refresh cookies): nothing to remember.
    }
  }
  // The ready-made routes end a login's session with its family, on logout and on reuse, so
  // "Your devices" lists only live logins (docs/sessions.md).
  // tokensInBody: false keeps the new tokens out of the page's reach: they go only in cookies.
  app.post('/auth/refresh', rememberPresented, authx.refreshRoute({ tokensInBody: false }))
  app.post('/auth/logout', authx.logoutRoute)

  // The refresh token the browser holds, as claims (it cannot read the HttpOnly cookie itself).
  app.get('/auth/session', authx.refreshRequired, (c) => {
    const payload = c.get('authx')
    const used = payload.fid === undefined ? undefined : previous.get(payload.fid)
    return c.json({
      refresh: refreshInfo(payload),
      previous: used === undefined ? null : { jti: used.jti, fid: payload.fid, usedAt: used.usedAt },
      serverTime: Date.now(),
    })
  })

  // The demo's stand-in for a thief: sends this login's previous refresh token to the real
  // refresh route, as someone who had copied the cookie would: without a DPoP proof, since the
  // key never leaves the browser. A bound token is refused then, and nothing is used up. Then
  // again with the proof the page made for it (`X-Demo-Replay-DPoP`), as a script injected into
  // the page could make (it can use the key, not export it): that replay is reuse. Guarded like
  // the refresh route (refresh cookie + CSRF header + proof), so only the page of this login can
  // ask for it.
  app.post('/auth/demo/replay-previous', authx.tokenRequired({ type: 'refresh' }), async (c) => {
    const payload = c.get('authx')
    const used = payload.fid === undefined ? undefined : previous.get(payload.fid)
    if (used === undefined || payload.fid === undefined)
      return refuse(
        c,
        409,
        'ERR_DEMO_NOTHING_TO_REPLAY',
        'This login has no previous refresh token yet: refresh once, then replay',
      )
    // The absolute URL: the proof's htu names the demo's origin, as the browser addressed it.
    const replay = async (dpop: string | undefined) => {
      const res = await app.request(new URL('/auth/refresh', c.req.url).href, {
        method: 'POST',
        headers: {
          cookie: `${cookieNames.refresh}=${used.token}`,
          'x-csrf-token': auth.getCsrfToken(used.token) ?? '',
          ...(dpop === undefined ? {} : { dpop }),
        },
      })
      return { status: res.status, answer: (await res.json()) as { code?: string } }
    }
    const copied = await replay(undefined)
    const proof = c.req.header('x-demo-replay-dpop')
    const withKey =
      copied.answer.code === 'ERR_INVALID_DPOP_PROOF' && proof !== undefined ? await replay(proof) : copied
    previous.forget(payload.fid)
    return c.json({
      replayed: { jti: used.jti, fid: payload.fid },
      withoutKey: copied === withKey ? null : copied,
      status: withKey.status,
      answer: withKey.answer,
    })
  })

  app.notFound((c) => refuse(c, 404, 'ERR_DEMO_NOT_FOUND', 'No such page or route'))
  // authx errors thrown outside a guard get their JSON answer; anything else a plain 500 (and
  // the error in the server's log), never a stack trace to the client.
  app.onError(authx.onError)

  return { app, auth, close: () => auth.close() }
}

/** The request's JSON body, or `undefined` when it has none or it is not JSON. */
async function readJson(c: Context): Promise<unknown> {
  if (!/^application\/json\s*(;|$)/i.test(c.req.header('content-type') ?? '')) return undefined
  try {
    return await c.req.json()
  } catch {
    return undefined
  }
}

/** The claims of a refresh token the page shows. */
function refreshInfo(payload: TokenPayload) {
  return {
    sub: payload.sub,
    jti: payload.jti,
    fid: payload.fid,
    iat: payload.iat,
    exp: payload.exp,
    jkt: payload.jkt, // the key it is bound to (DPoP), as the access token's cnf.jkt
  }
}

/** A demo listening for requests. */
export interface RunningDemo {
  /** `http://localhost:<port>` (or the host it was given). */
  readonly url: string
  readonly port: number
  readonly auth: AuthX
  /** Stops listening, ends open connections, closes the store. */
  close(): Promise<void>
}

/**
 * Starts the demo on `port` (0: any free port) and `hostname`.
 *
 * @example
 * ```ts
 * const demo = await startDemo({ dataDir: './data', publicDir: './public', port: 3000, hostname: '127.0.0.1' })
 * console.log(demo.url)
 * ```
 */
export async function startDemo(
  options: DemoOptions & { port: number; hostname: string },
): Promise<RunningDemo> {
  const demo = createDemo(options)
  const server = createAdaptorServer({ fetch: demo.app.fetch }) as Server
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(options.port, options.hostname, () => {
        server.off('error', reject)
        resolve()
      })
    })
  } catch (err) {
    await demo.close()
    throw err
  }
  const { port } = server.address() as AddressInfo
  const host = ['127.0.0.1', '::1', 'localhost', '::', '0.0.0.0'].includes(options.hostname)
    ? 'localhost'
    : options.hostname
  return {
    url: `http://${host}:${port}`,
    port,
    auth: demo.auth,
    close: async () => {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()))
      server.closeAllConnections()
      await closed
      await demo.close()
    },
  }
}
