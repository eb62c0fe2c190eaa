/**
 * A child process for the cross-process rate-limit test of PostgresStore: it opens its own store
 * (its own pool) on the shared table, waits for the common start time, sends `hits` concurrent
 * hits on one key and prints one JSON line with how many were allowed, or the error it met.
 */
import { PostgresStore } from '../../src/stores/postgres.js'

export interface HitTask {
  connectionString: string
  table: string
  key: string
  windowSeconds: number
  max: number
  hits: number
  /** Epoch millisecond at which to start, so the processes hit together. */
  startAt: number
}

async function main(): Promise<void> {
  const task = JSON.parse(process.argv[2] as string) as HitTask
  const store = new PostgresStore({ connectionString: task.connectionString, table: task.table })
  try {
    // Connect and create nothing late: the pool's connections open before the start time.
    await Promise.all(Array.from({ length: 5 }, () => store.get(['warm'])))
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, task.startAt - Date.now())))
    const results = await Promise.all(
      Array.from({ length: task.hits }, () => store.hit(task.key, task.windowSeconds, task.max)),
    )
    process.stdout.write(
      `${JSON.stringify({ ok: true, allowed: results.filter((r) => r.allowed).length, counts: results.map((r) => r.count) })}\n`,
    )
  } finally {
    await store.close()
  }
}

main().catch((err) => {
  process.stdout.write(`${JSON.stringify({ ok: false, error: String(err) })}\n`)
  process.exitCode = 1
})
