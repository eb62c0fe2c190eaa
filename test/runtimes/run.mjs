/**
 * Runs the end-to-end cases of cases.mjs against the BUILT package (run `npm run build` first) on
 * Web-standard runtimes, each from its own binary:
 *
 *   node test/runtimes/run.mjs [node] [bun] [deno] [workerd]       (default: all four)
 *
 * with the binaries in AUTHX_BUN, AUTHX_DENO and AUTHX_WORKERD (scripts/ci/runtimes.sh installs
 * them from the npm registry and sets these). `node` is this Node, as a control for the cases.
 *
 * The package is laid out as users install it: a temporary project whose node_modules holds
 * authx (package.json and dist/) and jose. Node, Bun and Deno import it through the exports map;
 * for workerd, esbuild bundles worker.mjs from that project (with the workerd/worker/browser
 * conditions), workerd serves it on a loopback port, with and without nodejs_compat, and this
 * script talks to it with fetch, then stops it.
 *
 * Prints each runtime's output and a summary; exits non-zero when any case or runtime failed.
 */
import { spawn } from 'node:child_process'
import { cpSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { build } from 'esbuild'

const here = dirname(fileURLToPath(import.meta.url))
const root = join(here, '..', '..')
/** The build to test: dist/ of the work tree, or AUTHX_DIST (a `tsup --out-dir` elsewhere). */
const dist = process.env.AUTHX_DIST || join(root, 'dist')
const RUNTIMES = ['node', 'bun', 'deno', 'workerd']
const TIMEOUT_MS = 120_000

const asked = process.argv.slice(2)
for (const name of asked) {
  if (!RUNTIMES.includes(name)) {
    console.error(`unknown runtime ${name} (known: ${RUNTIMES.join(', ')})`)
    process.exit(2)
  }
}
const runtimes = asked.length > 0 ? asked : RUNTIMES

/** Runs a program; resolves with its exit code and output, never rejects on a failure. */
function run(file, args, options = {}) {
  return new Promise((resolve) => {
    const child = spawn(file, args, { ...options, stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d) => (stdout += d))
    child.stderr.on('data', (d) => (stderr += d))
    const timer = setTimeout(() => child.kill('SIGKILL'), TIMEOUT_MS)
    child.on('error', (err) => {
      clearTimeout(timer)
      resolve({ code: -1, stdout, stderr: `${stderr}${err.message}\n` })
    })
    child.on('close', (code, signal) => {
      clearTimeout(timer)
      resolve({ code: code ?? -1, signal, stdout, stderr })
    })
  })
}

/** The temporary project: the built package and jose in node_modules, the case files beside. */
function makeProject() {
  for (const file of ['index.js', 'web.js', 'index.cjs', 'web.cjs']) {
    if (!existsSync(join(dist, file))) {
      throw new Error(`${join(dist, file)} is missing: run npm run build first`)
    }
  }
  const dir = mkdtempSync(join(tmpdir(), 'authx-runtimes-'))
  const modules = join(dir, 'node_modules')
  mkdirSync(join(modules, 'authx'), { recursive: true })
  cpSync(join(root, 'package.json'), join(modules, 'authx', 'package.json'))
  cpSync(dist, join(modules, 'authx', 'dist'), { recursive: true })
  cpSync(join(root, 'node_modules', 'jose'), join(modules, 'jose'), { recursive: true, dereference: true })
  for (const file of ['cases.mjs', 'main.mjs', 'worker.mjs', 'workerd.capnp']) {
    cpSync(join(here, file), join(dir, file))
  }
  const pkg = {
    name: 'authx-runtime-cases',
    private: true,
    type: 'module',
    dependencies: { authx: '*', jose: '*' },
  }
  writeFileSync(join(dir, 'package.json'), `${JSON.stringify(pkg, null, 2)}\n`)
  // Deno: use this node_modules as it is; never install into it.
  writeFileSync(join(dir, 'deno.json'), `${JSON.stringify({ nodeModulesDir: 'manual' }, null, 2)}\n`)
  return dir
}

function binary(env) {
  const path = process.env[env]
  if (!path) throw new Error(`${env} is not set (scripts/ci/runtimes.sh installs the runtimes and sets it)`)
  if (!existsSync(path)) throw new Error(`${env}=${path} does not exist`)
  return path
}

/** The summary line main.mjs prints: `... (engine X): P/T passed`. */
function parseSummary(stdout) {
  const m = /authx runtime cases on (.+) \(engine (\w+)\): (\d+)\/(\d+) passed/.exec(stdout)
  return m ? { runtime: m[1], engine: m[2], passed: Number(m[3]), total: Number(m[4]) } : undefined
}

/** Node, Bun or Deno: main.mjs in the project, through the runtime's own module resolution. */
async function runMain(name, project) {
  const env = { ...process.env, NO_COLOR: '1', NODE_OPTIONS: '' }
  let file
  let args
  if (name === 'node') {
    file = process.execPath
    args = ['main.mjs']
  } else if (name === 'bun') {
    file = binary('AUTHX_BUN')
    args = ['main.mjs']
    env.DO_NOT_TRACK = '1'
  } else {
    file = binary('AUTHX_DENO')
    // Only what the cases need; nothing is fetched (--cached-only), and there is nothing to fetch.
    args = ['run', '--cached-only', '--no-prompt', '--allow-env', '--allow-read', 'main.mjs']
    env.DENO_DIR = join(project, '.deno')
    env.DENO_NO_UPDATE_CHECK = '1'
  }
  const result = await run(file, args, { cwd: project, env })
  process.stdout.write(result.stdout)
  if (result.stderr.trim())
    process.stdout.write(`[stderr] ${result.stderr.trim().replaceAll('\n', '\n[stderr] ')}\n`)
  const summary = parseSummary(result.stdout)
  const ok = result.code === 0 && summary !== undefined && summary.passed === summary.total
  return {
    name,
    ok,
    line: summary
      ? `${summary.runtime} (engine ${summary.engine}): ${summary.passed}/${summary.total} cases passed${result.code === 0 ? '' : `, exit ${result.code}`}`
      : `${name}: no summary printed (exit ${result.code}${result.signal ? `, ${result.signal}` : ''})`,
  }
}

/** A free loopback port (taken by the OS, then released for workerd). */
function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address()
      server.close(() => resolve(port))
    })
  })
}

async function waitForServer(url, child, deadline) {
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`workerd exited with ${child.exitCode} before answering`)
    try {
      await fetch(url, { signal: AbortSignal.timeout(1000) })
      return
    } catch {
      await new Promise((r) => setTimeout(r, 100))
    }
  }
  throw new Error(`workerd did not answer ${url} in time`)
}

/** HTTP cases from outside the worker: login, the guarded route, a rotation. */
async function httpCases(base) {
  const results = []
  const step = async (name, body) => {
    try {
      await body()
      results.push({ name, ok: true })
    } catch (err) {
      results.push({ name, ok: false, error: err.message })
    }
  }
  const post = (path, body) =>
    fetch(`${base}${path}`, {
      method: 'POST',
      body: JSON.stringify(body),
      headers: { 'content-type': 'application/json' },
    })
  const expectStatus = (res, status, what) => {
    if (res.status !== status) throw new Error(`${what}: expected ${status}, got ${res.status}`)
  }
  let pair
  await step('HTTP: POST /login answers a token pair', async () => {
    const res = await post('/login', { uid: 'http-user' })
    expectStatus(res, 200, 'login')
    pair = await res.json()
    if (typeof pair.accessToken !== 'string' || typeof pair.refreshToken !== 'string')
      throw new Error('login: no tokens in the answer')
  })
  await step('HTTP: GET /me answers 200 with a valid bearer token', async () => {
    const res = await fetch(`${base}/me`, { headers: { authorization: `Bearer ${pair.accessToken}` } })
    expectStatus(res, 200, 'valid token')
    const body = await res.json()
    if (body.sub !== 'http-user')
      throw new Error(`valid token: expected sub http-user, got ${JSON.stringify(body)}`)
  })
  await step('HTTP: GET /me answers 401 with a bad bearer token and without one', async () => {
    const bad = await fetch(`${base}/me`, {
      headers: { authorization: `Bearer ${pair.accessToken.slice(0, -4)}AAAA` },
    })
    expectStatus(bad, 401, 'bad token')
    expectStatus(await fetch(`${base}/me`), 401, 'no token')
  })
  await step('HTTP: POST /refresh rotates once, then refuses the used token as reuse', async () => {
    const first = await post('/refresh', { refreshToken: pair.refreshToken })
    expectStatus(first, 200, 'first refresh')
    const next = await first.json()
    if (next.refreshToken === pair.refreshToken) throw new Error('first refresh: same refresh token')
    const again = await post('/refresh', { refreshToken: pair.refreshToken })
    expectStatus(again, 401, 'reuse')
    const { code } = await again.json()
    if (code !== 'ERR_REFRESH_TOKEN_REUSED')
      throw new Error(`reuse: expected ERR_REFRESH_TOKEN_REUSED, got ${code}`)
  })
  return results
}

/** workerd: bundle the worker, serve it on two loopback ports (plain and nodejs_compat), test, stop. */
async function runWorkerd(project) {
  const workerd = binary('AUTHX_WORKERD')
  const version = (await run(workerd, ['--version'])).stdout.trim()
  await build({
    absWorkingDir: project,
    entryPoints: [join(project, 'worker.mjs')],
    outfile: join(project, 'worker.bundle.mjs'),
    bundle: true,
    format: 'esm',
    platform: 'neutral',
    conditions: ['workerd', 'worker', 'browser'],
    mainFields: ['module', 'main'],
    target: 'es2022',
    logLevel: 'warning',
  })
  const ports = { web: await freePort(), 'web-node': await freePort() }
  const child = spawn(
    workerd,
    [
      'serve',
      join(project, 'workerd.capnp'),
      ...Object.entries(ports).flatMap(([name, port]) => ['--socket-addr', `${name}=127.0.0.1:${port}`]),
    ],
    { cwd: project, stdio: ['ignore', 'pipe', 'pipe'] },
  )
  let log = ''
  child.stdout.on('data', (d) => (log += d))
  child.stderr.on('data', (d) => (log += d))
  const exited = new Promise((resolve) => child.on('close', resolve))
  const lines = []
  let ok = true
  try {
    const deadline = Date.now() + 30_000
    for (const [name, port] of Object.entries(ports)) {
      const base = `http://127.0.0.1:${port}`
      await waitForServer(`${base}/ping`, child, deadline)
      const res = await fetch(`${base}/cases`)
      if (res.status !== 200) throw new Error(`GET /cases on ${name}: ${res.status} ${await res.text()}`)
      const { engine, results } = await res.json()
      results.push(...(await httpCases(base)))
      const label = `${version} ${name === 'web' ? '(no compatibility flags)' : '(nodejs_compat)'}`
      for (const r of results)
        console.log(`${r.ok ? 'ok  ' : 'FAIL'} ${r.name}${r.ok ? '' : `\n     ${r.error}`}`)
      const passed = results.filter((r) => r.ok).length
      console.log(`authx runtime cases on ${label} (engine ${engine}): ${passed}/${results.length} passed`)
      lines.push(`${label} (engine ${engine}): ${passed}/${results.length} cases passed`)
      if (passed !== results.length) ok = false
    }
  } catch (err) {
    ok = false
    lines.push(`${version}: ${err.message}`)
    if (log.trim()) console.log(`[workerd] ${log.trim().replaceAll('\n', '\n[workerd] ')}`)
  } finally {
    child.kill('SIGTERM')
    const stopped = await Promise.race([exited, new Promise((r) => setTimeout(() => r('timeout'), 5000))])
    if (stopped === 'timeout') {
      child.kill('SIGKILL')
      await exited
    }
  }
  return { name: 'workerd', ok, line: lines.join('\n  ') }
}

const project = makeProject()
const outcomes = []
try {
  for (const name of runtimes) {
    console.log(`\n---- ${name} ----`)
    const started = Date.now()
    let outcome
    try {
      outcome = name === 'workerd' ? await runWorkerd(project) : await runMain(name, project)
    } catch (err) {
      outcome = { name, ok: false, line: `${name}: ${err.message}` }
    }
    outcome.seconds = ((Date.now() - started) / 1000).toFixed(1)
    outcomes.push(outcome)
  }
} finally {
  rmSync(project, { recursive: true, force: true })
}

console.log('\n==== authx runtime cases (built package) ====')
for (const o of outcomes) console.log(`${o.ok ? 'passed' : 'FAILED'}  ${o.line}  [${o.seconds} s]`)
const failed = outcomes.filter((o) => !o.ok).length
console.log(
  failed === 0
    ? `all ${outcomes.length} runtimes passed`
    : `${failed} of ${outcomes.length} runtimes FAILED: ${outcomes
        .filter((o) => !o.ok)
        .map((o) => o.name)
        .join(', ')}`,
)
process.exitCode = failed === 0 ? 0 : 1
