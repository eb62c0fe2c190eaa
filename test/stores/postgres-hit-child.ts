/**
 * A child process for the cross-process rate-limit test of PostgresStore: it opens its own store
 * (its own pool) on the shared table, waits for the common start time, sends `hits` concurrent
 * hits on one key and prints one JSON line with how many were allowed, or the error it met.
 */
import { PostgresStore } from '../../src/stores/postgres.js'
import { childMain, type HitPlan, waitUntil } from './child-main.js'

export interface HitTask extends HitPlan {
  connectionString: string
  table: string
}

childMain<HitTask>(
  async (task) => {
    const store = new PostgresStore({ connectionString: task.connectionString, table: task.table })
    try {
      // Connect and create nothing late: the pool's connections open before the start time.
      await Promise.all(Array.from({ length: 5 }, () => store.get(['warm'])))
      await waitUntil(task.startAt)
      const results = await Promise.all(
        Array.from({ length: task.hits }, () => store.hit(task.key, task.windowSeconds, task.max)),
      )
      return {
        ok: true,
        allowed: results.filter((r) => r.allowed).length,
        counts: results.map((r) => r.count),
      }
    } finally {
      await store.close()
    }
  },
  (err) => ({ ok: false, error: String(err) }),
)
