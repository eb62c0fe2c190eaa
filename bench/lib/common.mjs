// What every part of the benchmark shares: where the built authx is, the keys, the options of the
// run, and the little statistics used to report it.

import { generateKeyPairSync, randomBytes } from 'node:crypto'
import { existsSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'

export const benchDir = dirname(dirname(fileURLToPath(import.meta.url)))
export const repoRoot = dirname(benchDir)

/**
 * The built package the benchmark measures: `dist/` of this repository, or the folder named by
 * AUTHX_BENCH_DIST (for instance the dist/ of a worktree at another commit, to compare). The
 * adapters in it import the core as 'authx', which Node resolves through the package.json next to
 * that folder, so it must be the dist/ of an authx checkout.
 */
export const distDir = resolve(process.env.AUTHX_BENCH_DIST ?? join(repoRoot, 'dist'))

/** Imports one entry of the built package: 'index', 'fastify', 'stores/redis', ... */
export async function importAuthx(entry) {
  const file = join(distDir, `${entry}.js`)
  if (!existsSync(file)) {
    throw new Error(
      `bench: ${file} does not exist: run \`npm run build\` (or set AUTHX_BENCH_DIST to a built dist/)`,
    )
  }
  return import(pathToFileURL(file).href)
}

/** The options run.mjs hands to each part (through the environment, as JSON). */
export function partOptions() {
  return JSON.parse(process.env.AUTHX_BENCH_OPTIONS ?? '{}')
}

let reported = false

/**
 * A part or server whose parent went away (failed, interrupted) exits at once, so no server is
 * left listening behind a bench that stopped; `cleanup` (optional, async) runs first, so it
 * leaves no table or keys behind either.
 */
export function exitWithParent(cleanup) {
  if (!process.connected) return
  process.on('disconnect', async () => {
    if (reported) return
    await cleanup?.().catch(() => {})
    process.exit(1)
  })
}

/** Sends a part's result to run.mjs, or prints it when the part was started on its own. */
export function report(result) {
  if (!process.send) {
    console.log(JSON.stringify(result, null, 2))
    return
  }
  reported = true
  process.send({ type: 'result', result }, () => process.disconnect())
}

/** A progress line on stderr, so stdout keeps only the tables. */
export function progress(message) {
  process.stderr.write(`  ${message}\n`)
}

export const ALGORITHMS = ['HS256', 'RS256', 'ES256', 'EdDSA']

/**
 * Fresh keys for one algorithm, as each library takes them: the HS256 secret as a string (43
 * characters, 32 random bytes) and as a KeyObject; the asymmetric pairs as KeyObjects and PEM.
 */
export function makeKeys(alg) {
  if (alg === 'HS256') {
    const secret = randomBytes(32).toString('base64url')
    return { alg, secret }
  }
  const pair =
    alg === 'RS256'
      ? generateKeyPairSync('rsa', { modulusLength: 2048 })
      : alg === 'ES256'
        ? generateKeyPairSync('ec', { namedCurve: 'P-256' })
        : generateKeyPairSync('ed25519')
  return {
    alg,
    privateKey: pair.privateKey,
    publicKey: pair.publicKey,
    privatePem: pair.privateKey.export({ format: 'pem', type: 'pkcs8' }),
    publicPem: pair.publicKey.export({ format: 'pem', type: 'spki' }),
  }
}

export function median(values) {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
}

/** Rotates a list by `by` places. */
function rotate(list, by) {
  const k = ((by % list.length) + list.length) % list.length
  return [...list.slice(k), ...list.slice(0, k)]
}

/**
 * The order in which one round runs its tasks (given their groups, by index): each group's tasks
 * one after the other, so a row and its reference are measured seconds apart, with the groups and
 * the tasks within each group starting one place later every round.
 */
export function roundOrder(groupOfTask, round) {
  const groups = [...new Set(groupOfTask)]
  return rotate(groups, round).flatMap((group) =>
    rotate(
      groupOfTask.flatMap((g, i) => (g === group ? [i] : [])),
      round,
    ),
  )
}

/**
 * A row's ratio to another: the median over the rounds of the ratio within each round, which a
 * machine whose load changes between rounds disturbs less than a ratio of medians.
 */
export function pairedRatio(values, referenceValues) {
  return median(values.map((v, i) => v / referenceValues[i]))
}
