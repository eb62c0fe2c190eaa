// Part 2, HTTP: GET /me behind each guard, on loopback. Every server runs in its own child
// process (bench/server.mjs) and stays up for the whole part; autocannon runs here, in this
// process, 10 connections, the same valid token on every request. Rounds alternate: each round
// loads every server once, briefly; a row's figures are the medians of its rounds. The server's
// CPU per request is process.cpuUsage() of the child over a run, divided by the requests served.

import { fork } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import autocannon from 'autocannon'
import {
  benchDir,
  exitWithParent,
  importAuthx,
  median,
  pairedRatio,
  partOptions,
  progress,
  report,
  roundOrder,
} from './lib/common.mjs'

exitWithParent()

const options = partOptions()
const rounds = options.http?.rounds ?? 5
const durationMs = options.http?.durationMs ?? 3000
const warmupMs = options.http?.warmupMs ?? 1000
const frameworks = options.http?.frameworks ?? ['fastify', 'express', 'hono']
const connections = 10
const SUB = 'user123'

const PEERS = { fastify: '@fastify/jwt', express: 'express-jwt', hono: 'hono/jwt' }
const VARIANTS = [
  { id: 'none', name: () => 'no auth', reference: true },
  { id: 'peer', name: (framework) => `${PEERS[framework]} guard` },
  { id: 'authx-cache-off', name: () => 'authx guard, cache off, MemoryStore' },
  { id: 'authx-cache-on', name: () => 'authx guard, cache on, MemoryStore' },
  { id: 'authx-sqlite', name: () => 'authx guard, cache on, SqliteStore' },
  { id: 'authx-redis', name: () => 'authx guard, cache on, RedisStore, mirror off' },
  { id: 'authx-redis-mirror', name: () => 'authx guard, cache on, RedisStore, mirror on' },
  { id: 'authx-postgres', name: () => 'authx guard, cache on, PostgresStore, mirror off' },
  { id: 'authx-postgres-mirror', name: () => 'authx guard, cache on, PostgresStore, mirror on' },
]
// `--only mirror` without the http part measures only the rows it compares: the reference, the
// MemoryStore guard the mirror's goal is stated against, and the shared stores.
const variantIds = options.http?.variants
const variants = variantIds ? VARIANTS.filter((v) => variantIds.includes(v.id)) : VARIANTS

const secret = randomBytes(32).toString('base64url')
const { AuthX } = await importAuthx('index')
const token = await new AuthX({ secretKey: secret }).createAccessToken({ uid: SUB, expiry: '2h' })
const authorization = `Bearer ${token}`
// Revoked in each authx server before timing, to show that its guard consults its store.
const revokedToken = await new AuthX({ secretKey: secret }).createAccessToken({ uid: SUB, expiry: '2h' })
const tmp = mkdtempSync(join(tmpdir(), 'authx-bench-'))
const profileDir = process.env.AUTHX_BENCH_PROFILE ? resolve(process.env.AUTHX_BENCH_PROFILE) : undefined
if (profileDir) mkdirSync(profileDir, { recursive: true })

/** Starts one server child and waits for its port. */
function startServer(framework, variant) {
  const execArgv = profileDir
    ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`, `--cpu-prof-name=${framework}-${variant.id}.cpuprofile`]
    : []
  const child = fork(join(benchDir, 'server.mjs'), [framework, variant.id], {
    execArgv,
    env: { ...process.env, AUTHX_BENCH_SECRET: secret, AUTHX_BENCH_TMP: tmp },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  })
  return new Promise((resolvePort, reject) => {
    child.once('exit', (code) =>
      reject(new Error(`${framework} ${variant.id}: server exited (${code}) before it listened`)),
    )
    child.once('message', (message) => {
      child.removeAllListeners('exit')
      resolvePort({ framework, variant, child, url: `http://127.0.0.1:${message.port}/me` })
    })
  })
}

/** Sends a message to a server and waits for its answer of the given type. */
function ask(server, message, type) {
  return new Promise((resolveAnswer) => {
    const onMessage = (answer) => {
      if (answer.type !== type) return
      server.child.off('message', onMessage)
      resolveAnswer(answer)
    }
    server.child.on('message', onMessage)
    server.child.send(message)
  })
}

/** The server answers the token with its subject, and (behind a guard) refuses a request without it. */
async function check(server) {
  const answer = await fetch(server.url, { headers: { authorization } })
  const body = await answer.json()
  if (answer.status !== 200 || body.sub !== SUB) {
    throw new Error(
      `${server.framework} ${server.variant.id}: GET /me answered ${answer.status} ${JSON.stringify(body)}`,
    )
  }
  if (server.variant.id !== 'none') {
    const anonymous = await fetch(server.url)
    await anonymous.arrayBuffer()
    if (anonymous.status !== 401) {
      throw new Error(
        `${server.framework} ${server.variant.id}: GET /me without a token answered ${anonymous.status}`,
      )
    }
  }
  if (server.variant.id.startsWith('authx')) {
    await ask(server, { type: 'revoke', token: revokedToken }, 'revoked')
    const revoked = await fetch(server.url, { headers: { authorization: `Bearer ${revokedToken}` } })
    await revoked.arrayBuffer()
    if (revoked.status !== 401) {
      throw new Error(
        `${server.framework} ${server.variant.id}: GET /me with a revoked token answered ${revoked.status}`,
      )
    }
  }
}

function load(url, ms) {
  return autocannon({
    url,
    connections,
    duration: ms / 1000,
    sampleInt: 50, // the run is stopped at the first sample after `duration`
    headers: { authorization },
  })
}

/** One measured run: requests per second, server CPU per request, latency. */
async function measure(server) {
  await ask(server, 'cpu-start', 'cpu-started')
  const result = await load(server.url, durationMs)
  const { micros, mirror } = await ask(server, 'cpu-stop', 'cpu')
  const requests = result.requests.total ?? result.totalCompletedRequests
  if (result.errors > 0 || result.non2xx > 0 || requests === 0) {
    throw new Error(
      `${server.framework} ${server.variant.id}: ${result.errors} errors, ${result.non2xx} non-2xx answers of ${requests}`,
    )
  }
  return {
    requestsPerSecond: requests / result.duration,
    cpuMicrosPerRequest: micros / requests,
    latencyP99Ms: result.latency.p99,
    // A mirrored store: went down (count), and the share of the run it did not answer from
    // memory (reads went to the server then).
    ...(mirror ? { mirrorDown: mirror.down, mirrorNotAnswering: mirror.notAnswering } : {}),
  }
}

const servers = []
try {
  progress(`http: starting ${frameworks.length * variants.length} servers`)
  const pending = []
  for (const framework of frameworks) for (const variant of variants) pending.push([framework, variant])
  // Three at a time: starting two dozen Node processes at once only makes each start slower.
  while (pending.length > 0) {
    const batch = pending.splice(0, 3)
    servers.push(...(await Promise.all(batch.map(([framework, variant]) => startServer(framework, variant)))))
  }
  for (const server of servers) await check(server)
  progress(`http: warming up each server for ${warmupMs} ms`)
  for (const server of servers) await load(server.url, warmupMs)
  if (options.http?.waitForGo) {
    // run.mjs runs the memory part (which measures heap, not time) while the servers start and
    // warm up, and says 'go' when it is done, so the measured rounds have the machine to themselves.
    process.send({ type: 'prepared' })
    await new Promise((resolveGo) => process.once('message', resolveGo))
  }

  const samples = servers.map(() => [])
  for (let round = 0; round < rounds; round++) {
    progress(`http: round ${round + 1}/${rounds} (${servers.length} servers, ${durationMs} ms each)`)
    const order = roundOrder(
      servers.map((server) => server.framework),
      round,
    )
    for (const i of order) samples[i].push(await measure(servers[i]))
  }

  const rows = servers.map((server, i) => ({
    group: `HTTP ${server.framework}`,
    name: server.variant.name(server.framework),
    variant: server.variant.id,
    reference: server.variant.reference === true,
    requestsPerSecond: median(samples[i].map((s) => s.requestsPerSecond)),
    cpuMicrosPerRequest: median(samples[i].map((s) => s.cpuMicrosPerRequest)),
    latencyP99Ms: median(samples[i].map((s) => s.latencyP99Ms)),
    rounds: samples[i],
  }))
  for (const row of rows) {
    const watched = row.rounds.filter((s) => s.mirrorNotAnswering !== undefined)
    if (watched.length === 0) continue
    // The worst round: a mirror that stopped answering measured server reads, not memory.
    row.mirrorNotAnswering = Math.max(...watched.map((s) => s.mirrorNotAnswering))
    row.mirrorDown = watched.reduce((sum, s) => sum + s.mirrorDown, 0)
  }
  for (const row of rows) {
    const reference = rows.find((r) => r.group === row.group && r.reference)
    row.ratio = pairedRatio(
      row.rounds.map((s) => s.requestsPerSecond),
      reference.rounds.map((s) => s.requestsPerSecond),
    )
    row.referenceName = reference.name
  }
  report({ part: 'http', settings: { rounds, durationMs, warmupMs, connections }, rows })
} finally {
  await Promise.all(
    servers.map(
      (server) =>
        new Promise((resolveExit) => {
          server.child.once('exit', resolveExit)
          server.child.send('exit')
        }),
    ),
  )
  rmSync(tmp, { recursive: true, force: true })
}
