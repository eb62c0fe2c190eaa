/**
 * A child process for the cross-process `hit` test: it opens a SqliteStore on the file named in
 * the JSON task on argv, waits for the shared start time, hits one key `hits` times, and prints
 * one JSON line with how many hits were allowed.
 */
import { SqliteStore } from '../../src/stores/sqlite.js'

export interface HitTask {
  path: string
  table: string
  key: string
  windowSeconds: number
  max: number
  hits: number
  /** Wait until this epoch millisecond before hitting, so processes start together. */
  startAt: number
}

export interface HitResult {
  allowed: number
  denied: number
  /** Messages of hits that rejected (none expected). */
  errors: string[]
}

async function main(): Promise<void> {
  const task = JSON.parse(process.argv[2] as string) as HitTask
  // A long busy timeout: every hit waits for the other process's transaction rather than failing.
  const store = new SqliteStore({ path: task.path, table: task.table, busyTimeoutMs: 10_000 })
  await new Promise((r) => setTimeout(r, Math.max(0, task.startAt - Date.now())))
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
  process.stdout.write(`${JSON.stringify(result)}\n`)
}

main().catch((err) => {
  process.stdout.write(`${JSON.stringify({ allowed: 0, denied: 0, errors: [`crash: ${String(err)}`] })}\n`)
  process.exitCode = 1
})
