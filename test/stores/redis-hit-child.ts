/**
 * A child process for the cross-process rate-limit test of RedisStore: it opens a store on the
 * Redis URL of argv's JSON task, waits for `startAt`, sends `hits` hits on one key at once, and
 * prints one JSON line with how many were allowed.
 */
import { RedisStore } from '../../src/stores/redis.js'

export interface HitTask {
  url: string
  prefix: string
  key: string
  windowSeconds: number
  max: number
  hits: number
  /** Epoch millisecond to start at, so the processes hit together. */
  startAt: number
}

export interface HitResult {
  allowed: number
  denied: number
  /** The `count` of every denied hit. */
  deniedCounts: number[]
  error?: string
}

async function main(): Promise<void> {
  const task = JSON.parse(process.argv[2] as string) as HitTask
  const store = new RedisStore({ url: task.url, prefix: task.prefix, commandTimeoutMs: 5000 })
  // Connected before the start, so the hits leave together.
  await store.get(['warm-up'])
  await new Promise((r) => setTimeout(r, Math.max(0, task.startAt - Date.now())))
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
  process.stdout.write(`${JSON.stringify(result)}\n`)
}

main().catch((err) => {
  process.stdout.write(`${JSON.stringify({ allowed: 0, denied: 0, deniedCounts: [], error: String(err) })}\n`)
  process.exitCode = 1
})
