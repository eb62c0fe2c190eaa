#!/usr/bin/env node
// `npm run bench`: builds authx, then measures, in one run on this machine, micro (sign and verify
// per algorithm against node:crypto, fast-jwt, jose and jsonwebtoken), HTTP (each framework's
// guards under autocannon), memory (cache and MemoryStore) and mirror (the RedisStore and
// PostgresStore mirror: heap of 100,000 entries, delay of a revocation; alone, it also runs the
// HTTP rows of the shared stores). Prints the tables and writes them with the machine to
// bench/results.json. See bench/README.md.
//
//   node bench/run.mjs [--quick] [--only micro|http|memory|mirror]... [--build|--no-build] [--out FILE]
//   node bench/run.mjs --table [FILE]     print a results file as Markdown tables, run nothing

import { execFileSync, fork, spawnSync } from 'node:child_process'
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { arch, cpus, loadavg, release, totalmem, type } from 'node:os'
import { dirname, join, relative, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { benchDir, distDir, repoRoot } from './lib/common.mjs'
import { markdownTables, targetLines, textTables } from './lib/format.mjs'
import { checkTargets } from './lib/targets.mjs'

const PARTS = ['micro', 'http', 'memory', 'mirror']
const SETTINGS = {
  full: {
    micro: { rounds: 7, timeMs: 250, warmupMs: 25, firstWarmupMs: 250 },
    http: { rounds: 5, durationMs: 3000, warmupMs: 1500 },
    memory: { count: 100_000 },
    mirror: { count: 100_000, samples: 500 },
  },
  quick: {
    micro: { rounds: 2, timeMs: 25, warmupMs: 5, firstWarmupMs: 15 },
    http: { rounds: 2, durationMs: 250, warmupMs: 150 },
    memory: { count: 100_000 },
    mirror: { count: 100_000, samples: 500 },
  },
}
// The HTTP rows `--only mirror` runs when the http part does not: the stores, and the two rows
// they are compared with.
const MIRROR_HTTP_VARIANTS = [
  'none',
  'authx-cache-on',
  'authx-redis',
  'authx-redis-mirror',
  'authx-postgres',
  'authx-postgres-mirror',
]

const { values, positionals } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    only: { type: 'string', multiple: true },
    build: { type: 'boolean', default: false },
    'no-build': { type: 'boolean', default: false },
    out: { type: 'string' },
    table: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
  allowPositionals: true,
})

if (values.help) {
  const header = readFileSync(new URL(import.meta.url), 'utf8')
    .split('\n')
    .slice(1, 11)
  console.log(header.map((line) => line.replace(/^\/\/ ?/, '')).join('\n'))
  process.exit(0)
}
if (values.table) {
  const file = resolve(positionals[0] ?? join(benchDir, 'results.json'))
  console.log(markdownTables(JSON.parse(readFileSync(file, 'utf8'))))
  process.exit(0)
}

const only = (values.only ?? []).flatMap((o) => o.split(','))
for (const part of only) {
  if (!PARTS.includes(part)) {
    console.error(`bench: unknown part '${part}' (expected ${PARTS.join(', ')})`)
    process.exit(2)
  }
}
const parts = only.length > 0 ? PARTS.filter((p) => only.includes(p)) : PARTS
const mode = values.quick ? 'quick' : 'full'
const complete = mode === 'full' && parts.length === PARTS.length
// Only a full run of every part replaces the committed bench/results.json; the others go to .tmp/.
const out = resolve(
  values.out ??
    (complete ? join(benchDir, 'results.json') : join(repoRoot, '.tmp', 'bench', `results-${mode}.json`)),
)
const started = Date.now()
const loadBefore = loadavg()

/** Newest modification time under a path (files and folders: a deleted file changes its folder). */
function newest(path) {
  const stat = statSync(path, { throwIfNoEntry: false })
  if (!stat) return 0
  if (!stat.isDirectory()) return stat.mtimeMs
  return Math.max(stat.mtimeMs, ...readdirSync(path).map((name) => newest(join(path, name))))
}

/** Oldest file of dist/ (0 when there is none): what a stale build is judged by. */
function oldestBuilt(path) {
  const stat = statSync(path, { throwIfNoEntry: false })
  if (!stat) return 0
  if (!stat.isDirectory()) return stat.mtimeMs
  const times = readdirSync(path).map((name) => oldestBuilt(join(path, name)))
  return times.length === 0 ? 0 : Math.min(...times)
}

/** dist/ was built after the last change to src/ and to the build's configuration. */
function distIsCurrent() {
  const sources = ['src', 'tsup.config.ts', 'tsconfig.json', 'package.json'].map((p) =>
    newest(join(repoRoot, p)),
  )
  const built = oldestBuilt(join(repoRoot, 'dist'))
  return built > 0 && built > Math.max(...sources)
}

// Build first, unless dist/ is already current, or told not to, or measuring another dist/
// (AUTHX_BENCH_DIST).
const mayBuild = process.env.AUTHX_BENCH_DIST === undefined && !values['no-build']
if (mayBuild && !values.build && distIsCurrent()) {
  process.stderr.write('bench: dist/ is newer than every source: not rebuilt (--build forces it)\n')
} else if (mayBuild) {
  process.stderr.write('bench: npm run build\n')
  const built = spawnSync('npm', ['run', 'build', '--silent'], {
    cwd: repoRoot,
    stdio: ['ignore', 'ignore', 'inherit'],
  })
  if (built.status !== 0) {
    console.error('bench: the build failed (see above); nothing was measured')
    process.exit(1)
  }
  process.stderr.write(`bench: built in ${((Date.now() - started) / 1000).toFixed(1)} s\n`)
}

/**
 * Starts one part in its own process. `done` resolves with what it reports; `prepared` resolves
 * when an HTTP part told to wait has its servers up and warm, and `go()` lets it measure.
 */
function startPart(part, extra = {}) {
  const options = { ...SETTINGS[mode], [part]: { ...SETTINGS[mode][part], ...extra } }
  const child = fork(join(benchDir, `${part}.mjs`), [], {
    execArgv: part === 'memory' || part === 'mirror' ? ['--expose-gc'] : [],
    env: { ...process.env, AUTHX_BENCH_OPTIONS: JSON.stringify(options) },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  })
  let result
  let onPrepared
  const prepared = new Promise((resolvePrepared) => {
    onPrepared = resolvePrepared
  })
  child.on('message', (message) => {
    if (message.type === 'result') result = message.result
    if (message.type === 'prepared') onPrepared()
  })
  const done = new Promise((resolvePart, reject) => {
    child.on('exit', (code) => {
      onPrepared()
      if (code === 0 && result) resolvePart(result)
      else reject(new Error(`bench: the ${part} part failed (exit code ${code})`))
    })
  })
  return { done, prepared, go: () => child.connected && child.send('go') }
}

/** The commit of the checkout the measured dist/ belongs to, and whether its src/ has changes. */
function authxVersion() {
  const root = dirname(distDir)
  const git = (...args) => execFileSync('git', ['-C', root, ...args], { encoding: 'utf8' }).trim()
  try {
    return {
      dist: distDir.startsWith(`${repoRoot}/`) ? relative(repoRoot, distDir) : distDir,
      commit: git('rev-parse', '--short', 'HEAD'),
      dirty: git('status', '--porcelain', '--', 'src').length > 0,
    }
  } catch {
    return { dist: distDir, commit: 'unknown', dirty: false }
  }
}

const rows = []
const settings = {}
const collect = (part, result) => {
  settings[part] = result.settings
  rows.push(...result.rows.map((row) => ({ part, ...row })))
}
const seconds = (since) => `${((Date.now() - since) / 1000).toFixed(1)} s`
if (parts.includes('micro')) {
  const since = Date.now()
  process.stderr.write('bench: micro\n')
  collect('micro', await startPart('micro').done)
  process.stderr.write(`bench: micro done in ${seconds(since)}\n`)
}
// Memory measures heap, not time: it runs while the HTTP servers start and warm up, never while
// anything is timed.
const since = Date.now()
const httpExtra = parts.includes('http') ? {} : { variants: MIRROR_HTTP_VARIANTS }
const http =
  parts.includes('http') || parts.includes('mirror')
    ? startPart('http', { waitForGo: parts.includes('memory'), ...httpExtra })
    : undefined
http?.done.catch(() => {}) // awaited below; a failure while memory runs must not go unhandled
if (http) process.stderr.write('bench: http\n')
if (parts.includes('memory')) {
  process.stderr.write('bench: memory\n')
  const memory = startPart('memory').done
  await Promise.all([memory, http?.prepared]) // a failed part rejects here
  collect('memory', await memory)
  process.stderr.write(`bench: memory done${http ? ', HTTP servers up,' : ''} in ${seconds(since)}\n`)
  http?.go()
}
if (http) {
  collect('http', await http.done)
  process.stderr.write(`bench: http done in ${seconds(since)}\n`)
}
// The mirror part times revocations through Redis and PostgreSQL: after the HTTP rounds, alone.
if (parts.includes('mirror')) {
  const mirrorSince = Date.now()
  process.stderr.write('bench: mirror\n')
  collect('mirror', await startPart('mirror').done)
  process.stderr.write(`bench: mirror done in ${seconds(mirrorSince)}\n`)
}
rows.sort((a, b) => PARTS.indexOf(a.part) - PARTS.indexOf(b.part))

const results = {
  date: new Date(started).toISOString(),
  mode,
  parts,
  node: process.version,
  machine: {
    cpu: cpus()[0]?.model.trim() ?? 'unknown',
    cores: cpus().length,
    os: `${type()} ${release()} ${arch()}`,
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    loadAverage: { before: loadBefore.map((l) => +l.toFixed(2)), after: loadavg().map((l) => +l.toFixed(2)) },
  },
  authx: authxVersion(),
  settings,
  seconds: Math.round((Date.now() - started) / 100) / 10,
  rows,
}
results.targets = checkTargets(rows)

mkdirSync(dirname(out), { recursive: true })
writeFileSync(out, `${JSON.stringify(results, null, 2)}\n`)
console.log(textTables(results))
if (results.targets.length > 0)
  console.log(
    ['', 'figures of issue 9 (section 5) and issue 10 (items 2 and 4):', ...targetLines(results)].join('\n'),
  )
console.log(`\n${results.seconds} s in all; written to ${relative(process.cwd(), out)}`)
