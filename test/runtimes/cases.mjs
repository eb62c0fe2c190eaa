/**
 * End-to-end cases for the built package on Web-standard runtimes (Bun, Deno, workerd) and Node:
 * the core and the Web adapter, imported as users import them. Plain JavaScript, so every runtime
 * and bundler takes the file as it is.
 */
import { AuthX, MemoryStore } from 'authx'
import { webAuthX } from 'authx/web'

const SECRET = 'runtime-cases-secret-0123456789abcdef'

/** Fails a case with a message saying what was expected. */
function check(condition, message) {
  if (!condition) throw new Error(message)
}

/** Resolves with the error a promise rejected with, or fails when it resolved. */
async function rejection(promise, what) {
  try {
    await promise
  } catch (err) {
    return err
  }
  throw new Error(`${what}: expected a rejection`)
}

/** A new instance with its own MemoryStore, as a service would make it. */
export function makeAuth() {
  return new AuthX({ secretKey: SECRET, store: new MemoryStore() })
}

/** A Web handler guarded by the adapter: 200 with the subject for a valid access token. */
export function makeHandler(auth) {
  const web = webAuthX(auth)
  return web.accessRequired(async (_req, payload) => Response.json({ sub: payload.sub }))
}

function bearer(token) {
  return new Request('http://runtime.test/me', { headers: { authorization: `Bearer ${token}` } })
}

/** The cases: name and body. Each body throws on failure. */
export const cases = [
  [
    'creates a token pair and verifies both tokens',
    async () => {
      const auth = makeAuth()
      const pair = await auth.createTokenPair({ uid: 'user-1', fresh: true, data: { role: 'admin' } })
      check(pair.tokenType === 'bearer', `tokenType: expected bearer, got ${pair.tokenType}`)
      const access = await auth.verifyToken(pair.accessToken, { fresh: true })
      check(access.sub === 'user-1' && access.type === 'access', 'access token: wrong sub or type')
      check(access.extra.role === 'admin', 'access token: extra data lost')
      const refresh = await auth.verifyToken(pair.refreshToken, { type: 'refresh' })
      check(refresh.sub === 'user-1' && refresh.type === 'refresh', 'refresh token: wrong sub or type')
    },
  ],
  [
    'refuses a token signed with another key and a tampered token',
    async () => {
      const auth = makeAuth()
      const token = await auth.createAccessToken({ uid: 'user-1' })
      const other = new AuthX({ secretKey: `${SECRET}-other` })
      const wrongKey = await rejection(other.verifyToken(token), 'wrong key')
      check(
        wrongKey.code === 'ERR_INVALID_TOKEN',
        `wrong key: expected ERR_INVALID_TOKEN, got ${wrongKey.code}`,
      )
      const [header, payload, signature] = token.split('.')
      const flipped = `${signature.slice(0, -2)}${signature.endsWith('AA') ? 'BB' : 'AA'}`
      const tampered = await rejection(auth.verifyToken(`${header}.${payload}.${flipped}`), 'tampered')
      check(
        tampered.code === 'ERR_INVALID_TOKEN',
        `tampered: expected ERR_INVALID_TOKEN, got ${tampered.code}`,
      )
    },
  ],
  [
    'Web adapter route: 200 with a valid bearer token, 401 with a bad one or none',
    async () => {
      const auth = makeAuth()
      const handler = makeHandler(auth)
      const token = await auth.createAccessToken({ uid: 'user-1' })
      const ok = await handler(bearer(token))
      check(ok.status === 200, `valid token: expected 200, got ${ok.status}`)
      const body = await ok.json()
      check(body.sub === 'user-1', `valid token: expected sub user-1, got ${JSON.stringify(body)}`)
      const bad = await handler(bearer(`${token.slice(0, -4)}AAAA`))
      check(bad.status === 401, `bad token: expected 401, got ${bad.status}`)
      const none = await handler(new Request('http://runtime.test/me'))
      check(none.status === 401, `no token: expected 401, got ${none.status}`)
      const refresh = (await auth.createTokenPair({ uid: 'user-1' })).refreshToken
      const wrongType = await handler(bearer(refresh))
      check(
        wrongType.status === 401,
        `refresh token on an access route: expected 401, got ${wrongType.status}`,
      )
    },
  ],
  [
    'refresh rotation with the MemoryStore: new pair once, reuse refused, family revoked',
    async () => {
      const auth = makeAuth()
      const first = await auth.createTokenPair({ uid: 'user-1' })
      const second = await auth.refresh(first.refreshToken)
      check(second.refreshToken !== first.refreshToken, 'rotation: the refresh token did not change')
      check(
        (await auth.verifyToken(second.accessToken)).sub === 'user-1',
        'rotation: new access token invalid',
      )
      const reuse = await rejection(auth.refresh(first.refreshToken), 'reuse')
      check(
        reuse.code === 'ERR_REFRESH_TOKEN_REUSED',
        `reuse: expected ERR_REFRESH_TOKEN_REUSED, got ${reuse.code}`,
      )
      // Reuse revokes the family: the pair issued by the rotation is refused too.
      const revoked = await rejection(auth.refresh(second.refreshToken), 'after reuse')
      check(
        revoked.code === 'ERR_TOKEN_REVOKED',
        `after reuse: expected ERR_TOKEN_REVOKED, got ${revoked.code}`,
      )
    },
  ],
  [
    'revokes an access token through the MemoryStore',
    async () => {
      const auth = makeAuth()
      const token = await auth.createAccessToken({ uid: 'user-1' })
      await auth.revokeToken(token)
      const err = await rejection(auth.verifyToken(token), 'revoked')
      check(err.code === 'ERR_TOKEN_REVOKED', `revoked: expected ERR_TOKEN_REVOKED, got ${err.code}`)
    },
  ],
]

/**
 * Runs every case and reports each: `{ engine, results: [{ name, ok, error? }] }`. `engine` is the
 * signing engine the core chose on this runtime (`node` where node:crypto is reachable, else
 * `jose`).
 */
export async function runCases() {
  const results = []
  for (const [name, body] of cases) {
    try {
      await body()
      results.push({ name, ok: true })
    } catch (err) {
      results.push({
        name,
        ok: false,
        error: err instanceof Error ? `${err.name}: ${err.message}` : String(err),
      })
    }
  }
  return { engine: makeAuth().engine, results }
}
