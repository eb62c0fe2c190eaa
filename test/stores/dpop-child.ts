/**
 * A child process for the cross-process DPoP replay test: it opens a RedisStore on the URL of
 * argv's JSON task, waits for `startAt`, checks one proof `attempts` times at once as a DPoP
 * instance of its own, and prints one JSON line with the outcome of each check.
 */
import { DPoP, resolveDpop } from '../../src/core/dpop/index.js'
import { TokenPayload } from '../../src/core/payload.js'
import type { AuthXRequest } from '../../src/core/request.js'
import { RedisStore } from '../../src/stores/redis.js'
import { childMain, waitUntil } from './child-main.js'

export interface DPoPTask {
  url: string
  prefix: string
  /** The proof (`DPoP` header), the access token and its key's thumbprint. */
  proof: string
  accessToken: string
  jkt: string
  /** The request the proof was made for. */
  method: string
  htu: string
  attempts: number
  /** Epoch millisecond to start at, so the processes check together. */
  startAt: number
}

export interface DPoPResult {
  /** `'ok'` or the error code of each check. */
  outcomes: string[]
  error?: string
}

childMain<DPoPTask>(
  async (task) => {
    const store = new RedisStore({ url: task.url, prefix: task.prefix, commandTimeoutMs: 5000 })
    // Connected before the start, so the checks leave together.
    await store.get(['warm-up'])
    const dpop = new DPoP(resolveDpop({})!, { store, clock: Date.now, timeoutMs: 5000 })
    const payload = new TokenPayload({
      sub: 'user',
      jti: 'token',
      iat: 0,
      type: 'access',
      cnf: { jkt: task.jkt },
    })
    const request: AuthXRequest = {
      method: task.method,
      url: task.htu,
      header: (name) => (name.toLowerCase() === 'dpop' ? task.proof : undefined),
      cookie: () => undefined,
      query: () => undefined,
      json: async () => undefined,
      form: async () => undefined,
    }
    await waitUntil(task.startAt)
    const outcomes = await Promise.all(
      Array.from({ length: task.attempts }, async () => {
        try {
          await dpop.check(request, task.accessToken, payload, 'dpop')
          return 'ok'
        } catch (err) {
          return (
            (err as { code?: string; reason?: string }).reason ??
            (err as { code?: string }).code ??
            String(err)
          )
        }
      }),
    )
    await store.close()
    const result: DPoPResult = { outcomes }
    return result
  },
  (err): DPoPResult => ({ outcomes: [], error: String(err) }),
)
