/**
 * A child process for the cross-process `hit` test: it opens a SqliteStore on the file named in
 * the JSON task on argv, waits for the shared start time, hits one key `hits` times, and prints
 * one JSON line with how many hits were allowed.
 */
import { SqliteStore } from '../../src/stores/sqlite.js'
import { childMain, type HitPlan, waitUntil } from './child-main.js'

export interface HitTask extends HitPlan {
  path: string
  table: string
}

export interface HitResult {
  allowed: number
  denied: number
  /** Messages of hits that rejected (none expected). */
  errors: string[]
}

childMain<HitTask>(
  async (task) => {
    // A long busy timeout: every hit waits for the other process's transaction rather than failing.
    const store = new SqliteStore({ path: task.path, table: task.table, busyTimeoutMs: 10_000 })
    await waitUntil(task.startAt)
    const result: HitResult = { allowed: 0, denied: 0, errors: [] }
    for (let i = 0; i < task.hits; i++) {
      try {
        if ((await store.hit(task.key, task.windowSeconds, task.max)).allowed) result.allowed++
        else result.denied++
      } catch (err) {
        result.errors.push(String(err))
      }
    }
    await store.close()
    return result
  },
  (err): HitResult => ({ allowed: 0, denied: 0, errors: [`crash: ${String(err)}`] }),
)
