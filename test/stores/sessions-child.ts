/**
 * A child process for the cross-process session tests: it builds a store and an AuthX instance
 * from the JSON task on argv, performs one session action, and prints one JSON line with the
 * outcome.
 */
import { AuthX, type AuthXStore } from '../../src/index.js'
import { PostgresStore } from '../../src/stores/postgres.js'
import { RedisStore } from '../../src/stores/redis.js'
import { SqliteStore } from '../../src/stores/sqlite.js'
import { childMain, crash, failure } from './child-main.js'

export interface SessionTask {
  store:
    | { kind: 'sqlite'; path: string; table: string }
    | { kind: 'redis'; url: string; prefix: string }
    | { kind: 'postgres'; connectionString: string; table: string }
  secret: string
  /**
   * `login`: a pair with a session for `sub`; `revoke`: ends `sid` (as `sub`'s), listing `sub`'s
   * sessions before and after; `verify`: verifies `token` as `type`; `refresh`: refreshes `token`.
   */
  action: 'login' | 'revoke' | 'verify' | 'refresh'
  sub?: string
  sid?: string
  token?: string
  type?: 'access' | 'refresh'
}

export interface SessionResult {
  ok: boolean
  code?: string
  accessToken?: string
  refreshToken?: string
  sid?: string
  revoked?: boolean
  /** Session ids `list(sub)` gave before and after the revocation. */
  before?: string[]
  after?: string[]
}

function makeStore(spec: SessionTask['store']): AuthXStore {
  switch (spec.kind) {
    case 'sqlite':
      return new SqliteStore({ path: spec.path, table: spec.table, busyTimeoutMs: 5000 })
    case 'redis':
      return new RedisStore({ url: spec.url, prefix: spec.prefix, commandTimeoutMs: 5000 })
    case 'postgres':
      return new PostgresStore({ connectionString: spec.connectionString, table: spec.table })
  }
}

async function act(auth: AuthX, task: SessionTask): Promise<SessionResult> {
  switch (task.action) {
    case 'login': {
      const pair = await auth.createTokenPair({ uid: task.sub!, session: { device: `pid ${process.pid}` } })
      const sid = auth.decodeUnverified(pair.accessToken).payload.sid as string
      return { ok: true, accessToken: pair.accessToken, refreshToken: pair.refreshToken, sid }
    }
    case 'revoke': {
      const sids = async () => (await auth.sessions.list(task.sub!)).map((s) => s.sid)
      const before = await sids()
      const revoked = await auth.sessions.revoke(task.sid!, { sub: task.sub! })
      return { ok: true, revoked, before, after: await sids() }
    }
    case 'verify': {
      const payload = await auth.verifyToken(task.token!, { type: task.type ?? 'access' })
      return payload.sid === undefined ? { ok: true } : { ok: true, sid: payload.sid }
    }
    case 'refresh': {
      const pair = await auth.refresh(task.token!)
      return { ok: true, accessToken: pair.accessToken, refreshToken: pair.refreshToken }
    }
  }
}

childMain<SessionTask>(async (task) => {
  const auth = new AuthX({
    secretKey: task.secret,
    store: makeStore(task.store),
    revocation: { timeoutMs: 5000 },
  })
  let result: SessionResult
  try {
    result = await act(auth, task)
  } catch (err) {
    result = failure(err)
  }
  await auth.close()
  return result
}, crash)
