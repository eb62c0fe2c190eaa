/**
 * A child process for the cross-process rate-limit test of RedisStore: it opens a store on the
 * Redis URL of argv's JSON task, waits for `startAt`, sends `hits` hits on one key at once, and
 * prints one JSON line with how many were allowed.
 */
import { RedisStore } from '../../src/stores/redis.js'
import { childMain, type HitPlan, waitUntil } from './child-main.js'

export interface HitTask extends HitPlan {
  url: string
  prefix: string
}

export interface HitResult {
  allowed: number
  denied: number
  /** The `count` of every denied hit. */
  deniedCounts: number[]
  error?: string
}

childMain<HitTask>(
  async (task) => {
    const store = new RedisStore({ url: task.url, prefix: task.prefix, commandTimeoutMs: 5000 })
    // Connected before the start, so the hits leave together.
    await store.get(['warm-up'])
    await waitUntil(task.startAt)
    const results = await Promise.all(
      Array.from({ length: task.hits }, () => store.hit(task.key, task.windowSeconds, task.max)),
    )
    await store.close()
    const denied = results.filter((r) => !r.allowed)
    const result: HitResult = {
      allowed: results.length - denied.length,
      denied: denied.length,
      deniedCounts: denied.map((r) => r.count),
    }
    return result
  },
  (err): HitResult => ({ allowed: 0, denied: 0, deniedCounts: [], error: String(err) }),
)
