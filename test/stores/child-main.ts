/**
 * The common start and end of the child scripts of this folder (child.ts, hit-child.ts, …): the
 * task is the JSON on argv, and the one JSON line printed last is the result, or what the child
 * says when it crashed (the parent reads that line, so a crash still answers).
 */

/** What a hit child is told: `hits` hits on one key, together with the other processes. */
export interface HitPlan {
  key: string
  windowSeconds: number
  max: number
  hits: number
  /** Epoch millisecond to start at, so the processes hit together. */
  startAt: number
}

/** Resolves at the epoch millisecond `at` (at once if it has passed). */
export function waitUntil(at: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, Math.max(0, at - Date.now())))
}

/**
 * Runs `body` on the task of argv and prints its result as one JSON line; if it throws, prints
 * `crashed(err)` instead and exits with code 1.
 *
 * @example
 * childMain<HitTask>(async (task) => ({ allowed: await hits(task) }), (err) => ({ error: String(err) }))
 */
export function childMain<Task>(
  body: (task: Task) => Promise<unknown>,
  crashed: (err: unknown) => unknown,
): void {
  const print = (result: unknown) => process.stdout.write(`${JSON.stringify(result)}\n`)
  Promise.resolve()
    .then(() => body(JSON.parse(process.argv[2] as string) as Task))
    .then(print, (err: unknown) => {
      print(crashed(err))
      process.exitCode = 1
    })
}

/** The result of an AuthX call that rejected: its error code (or the error itself, if it has none). */
export function failure(err: unknown): { ok: false; code: string } {
  return { ok: false, code: (err as { code?: string }).code ?? String(err) }
}

/** What an AuthX child prints when it crashed (`ok: false`, the code says `crash:`). */
export function crash(err: unknown): { ok: false; code: string } {
  return { ok: false, code: `crash: ${String(err)}` }
}
