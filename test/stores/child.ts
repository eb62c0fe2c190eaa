/**
 * A child process for cross-process store tests: it builds a store and an AuthX instance from
 * JSON on argv, performs one action, and prints one JSON line with the outcome.
 */
import { AuthX, type AuthXStore } from '../../src/index.js'
import { PostgresStore } from '../../src/stores/postgres.js'
import { RedisStore } from '../../src/stores/redis.js'
import { SqliteStore } from '../../src/stores/sqlite.js'
import { childMain, crash, failure, waitUntil } from './child-main.js'

export interface ChildTask {
  store:
    | { kind: 'sqlite'; path: string }
    | { kind: 'redis'; url: string; prefix: string }
    | { kind: 'postgres'; connectionString: string; table: string }
  secret: string
  action: 'refresh' | 'revoke' | 'verify'
  token: string
  type?: 'access' | 'refresh'
  /** Wait until this epoch millisecond before acting, so processes start together. */
  startAt?: number
}

function makeStore(spec: ChildTask['store']): AuthXStore {
  switch (spec.kind) {
    case 'sqlite':
      return new SqliteStore({ path: spec.path, busyTimeoutMs: 2000 })
    case 'redis':
      return new RedisStore({ url: spec.url, prefix: spec.prefix, commandTimeoutMs: 2000 })
    case 'postgres':
      return new PostgresStore({ connectionString: spec.connectionString, table: spec.table })
  }
}

childMain<ChildTask>(async (task) => {
  const store = makeStore(task.store)
  const auth = new AuthX({ secretKey: task.secret, store, revocation: { timeoutMs: 5000 } })
  if (task.startAt !== undefined) await waitUntil(task.startAt)
  let result: Record<string, unknown>
  try {
    if (task.action === 'refresh') {
      const pair = await auth.refresh(task.token)
      result = { ok: true, refreshToken: pair.refreshToken }
    } else if (task.action === 'revoke') {
      await auth.revokeToken(task.token)
      result = { ok: true }
    } else {
      const payload = await auth.verifyToken(task.token, { type: task.type ?? 'access' })
      result = { ok: true, sub: payload.sub }
    }
  } catch (err) {
    result = failure(err)
  }
  await auth.close()
  return result
}, crash)
