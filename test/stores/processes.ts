/**
 * Runs `child.ts` in separate Node processes (bundled once with esbuild, since Node 20 cannot
 * run TypeScript), for cross-process store tests: concurrency and durability.
 */
import { execFile } from 'node:child_process'
import { mkdirSync } from 'node:fs'
import { basename, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { build } from 'esbuild'
import { expect } from 'vitest'
import type { AuthX } from '../../src/index.js'
import type { ChildTask } from './child.js'

const root = fileURLToPath(new URL('../..', import.meta.url))
const bundles = new Map<string, Promise<string>>()

/**
 * Bundles a child script of this folder (or a path relative to it, once per process) into .tmp,
 * with `authx` pointing at the source and the store clients and OpenTelemetry left to
 * node_modules; returns the bundle's path.
 */
export function bundleChild(script: string): Promise<string> {
  let bundled = bundles.get(script)
  if (bundled === undefined) {
    bundled = (async () => {
      const outdir = join(root, '.tmp')
      mkdirSync(outdir, { recursive: true })
      const outfile = join(outdir, `${basename(script).replace(/\.ts$/, '')}-${process.pid}.mjs`)
      await build({
        entryPoints: [join(root, 'test/stores', script)],
        bundle: true,
        platform: 'node',
        format: 'esm',
        target: 'node20',
        outfile,
        alias: { authx: join(root, 'src/index.ts') },
        external: ['better-sqlite3', 'ioredis', 'pg', 'redis', '@opentelemetry/*'],
        logLevel: 'silent',
      })
      return outfile
    })()
    bundles.set(script, bundled)
  }
  return bundled
}

export interface ChildResult {
  ok: boolean
  code?: string
  refreshToken?: string
  sub?: string
}

/**
 * Runs a child script of this folder (bundled by `bundleChild`) once in a new Node process with
 * `task` as its JSON argument, and returns the last line it printed, parsed as JSON.
 */
export async function runScript<Result>(script: string, task: unknown): Promise<Result> {
  const bundled = await bundleChild(script)
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [bundled, JSON.stringify(task)],
      { cwd: root, timeout: 60_000 },
      (err, stdout, stderr) => {
        const line = stdout.trim().split('\n').pop()
        if (!line) {
          reject(new Error(`child printed nothing: ${err?.message ?? ''} ${stderr}`))
          return
        }
        resolve(JSON.parse(line) as Result)
      },
    )
  })
}

/** Runs one task of `child.ts` in a new Node process and returns its printed result. */
export function runChild(task: ChildTask): Promise<ChildResult> {
  return runScript<ChildResult>('child.ts', task)
}

/**
 * Refreshes one token 50 times at the same moment, 4 times in child processes and 46 times in
 * this one, and checks that exactly one succeeds and every other call lost to the rotation (reuse,
 * or a family already revoked by another loser), not to a crash. The lead time lets the children
 * start first; 1.5 s proved too short on a loaded 2-CPU machine.
 */
export async function expectOneRefreshWins(
  store: ChildTask['store'],
  auth: AuthX,
  refreshToken: string,
  secret: string,
): Promise<void> {
  const startAt = Date.now() + 3000
  const children = Array.from({ length: 4 }, () =>
    runChild({ store, secret, action: 'refresh', token: refreshToken, startAt }),
  )
  await new Promise((resolve) => setTimeout(resolve, Math.max(0, startAt - Date.now())))
  const local = Array.from({ length: 46 }, () =>
    auth.refresh(refreshToken).then(
      (): ChildResult => ({ ok: true }),
      (err: { code?: string }): ChildResult => ({ ok: false, code: err.code ?? String(err) }),
    ),
  )
  const results = [...(await Promise.all(children)), ...(await Promise.all(local))]
  expect(results).toHaveLength(50)
  expect(results.filter((r) => r.ok)).toHaveLength(1)
  for (const r of results.filter((r) => !r.ok)) {
    expect(['ERR_REFRESH_TOKEN_REUSED', 'ERR_TOKEN_REVOKED']).toContain(r.code)
  }
  expect(results.some((r) => r.code === 'ERR_REFRESH_TOKEN_REUSED')).toBe(true)
}
