/**
 * Runs `child.ts` in separate Node processes (bundled once with esbuild, since Node 20 cannot
 * run TypeScript), for cross-process store tests: concurrency and durability.
 */
import { execFile } from 'node:child_process'
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { build } from 'esbuild'
import type { ChildTask } from './child.js'

const root = fileURLToPath(new URL('../..', import.meta.url))
let bundled: Promise<string> | undefined

function bundle(): Promise<string> {
  bundled ??= (async () => {
    const outdir = join(root, '.tmp')
    mkdirSync(outdir, { recursive: true })
    const outfile = join(outdir, `store-child-${process.pid}.mjs`)
    await build({
      entryPoints: [join(root, 'test/stores/child.ts')],
      bundle: true,
      platform: 'node',
      format: 'esm',
      target: 'node20',
      outfile,
      alias: { authx: join(root, 'src/index.ts') },
      external: ['better-sqlite3', 'ioredis', 'pg', 'redis'],
      logLevel: 'silent',
    })
    return outfile
  })()
  return bundled
}

export interface ChildResult {
  ok: boolean
  code?: string
  refreshToken?: string
  sub?: string
}

/** Runs one task in a new Node process and returns its printed result. */
export async function runChild(task: ChildTask): Promise<ChildResult> {
  const script = await bundle()
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [script, JSON.stringify(task)],
      { cwd: root, timeout: 60_000 },
      (err, stdout, stderr) => {
        const line = stdout.trim().split('\n').pop()
        if (!line) {
          reject(new Error(`child printed nothing: ${err?.message ?? ''} ${stderr}`))
          return
        }
        resolve(JSON.parse(line) as ChildResult)
      },
    )
  })
}
