/**
 * Helpers of the cross-process mirror tests (mirror-processes.test.ts): the long-lived child
 * (mirror-child.ts, bundled by processes.ts's bundleChild, since Node 20 cannot run
 * TypeScript), a redis-server of the test's own, a forwarder that can hold off new connections
 * and names the ports it connects from, and the polling that records what verifications answer.
 */
import { type ChildProcess, fork, type SpawnOptions, spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import net from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { AuthX } from '../../src/index.js'
import { freePort } from '../support/ports.js'
import type { ChildReply, ChildRequest, ChildStoreSpec, RevocationKind } from './mirror-child.js'
import { bundleChild } from './processes.js'

export const root = fileURLToPath(new URL('../..', import.meta.url))

/** Epoch milliseconds with sub-millisecond resolution; the child uses the same clock. */
export function epochNow(): number {
  return performance.timeOrigin + performance.now()
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))
/** Lets timers and I/O run (a resolved promise alone would not). */
export const yieldToLoop = () => new Promise((resolve) => setImmediate(resolve))

/** A request before it is numbered (Omit over each member of the union). */
type WithoutId<T> = T extends unknown ? Omit<T, 'id'> : never

const bundle = () => bundleChild('mirror-child.ts')

/** The child process, one request at a time or several at once, matched by id. */
export class MirrorChild {
  readonly #process: ChildProcess
  readonly #waiting = new Map<number, (reply: ChildReply) => void>()
  #next = 0
  #exited: Promise<void>

  private constructor(child: ChildProcess) {
    this.#process = child
    child.on('message', (message) => {
      const reply = message as ChildReply
      this.#waiting.get(reply.id)?.(reply)
      this.#waiting.delete(reply.id)
    })
    this.#exited = new Promise((resolve) => child.once('exit', () => resolve()))
  }

  static async start(): Promise<MirrorChild> {
    const script = await bundle()
    // No execArgv of the test worker: the child is plain Node running a bundle.
    const child = fork(script, [], { cwd: root, execArgv: [], serialization: 'json', stdio: 'inherit' })
    return new MirrorChild(child)
  }

  #ask(request: WithoutId<ChildRequest>, timeoutMs = 15_000): Promise<ChildReply> {
    const id = ++this.#next
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiting.delete(id)
        reject(new Error(`child gave no answer to ${request.op} within ${timeoutMs} ms`))
      }, timeoutMs)
      this.#waiting.set(id, (reply) => {
        clearTimeout(timer)
        resolve(reply)
      })
      this.#process.send({ ...request, id } as ChildRequest)
    })
  }

  /** Opens a named AuthX instance in the child; a mirrored one answers once its mirror is live. */
  async open(name: string, store: ChildStoreSpec, secret: string): Promise<void> {
    const reply = await this.#ask({ op: 'open', name, store, secret })
    if (!reply.ok) throw new Error(`child could not open ${name}: ${reply.code}`)
  }

  /** Revokes in the child; the reply says when the write was acknowledged (or failed). */
  revoke(name: string, kind: RevocationKind, value: string): Promise<ChildReply> {
    return this.#ask({ op: 'revoke', name, kind, value })
  }

  async close(): Promise<void> {
    if (this.#process.exitCode === null && this.#process.connected) {
      await this.#ask({ op: 'close' }).catch(() => {})
    }
    const killer = setTimeout(() => this.#process.kill('SIGKILL'), 5000)
    await this.#exited
    clearTimeout(killer)
  }
}

/** Sends one inline command to a Redis port and returns the first reply line, or the error. */
export function redisLine(port: number, command: string, timeoutMs = 1000): Promise<string> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port })
    let reply = ''
    const done = (line: string) => {
      clearTimeout(timer)
      socket.destroy()
      resolve(line)
    }
    const timer = setTimeout(() => done(`no answer within ${timeoutMs} ms`), timeoutMs)
    socket.on('connect', () => socket.write(`${command}\r\n`))
    socket.on('data', (chunk) => {
      reply += chunk.toString('latin1')
      if (reply.includes('\r\n')) done(reply.slice(0, reply.indexOf('\r\n')))
    })
    socket.on('error', (err) => done(`error: ${err.message}`))
  })
}

/** A redis-server of the test's own, so it can be stopped, hung and restarted without harm. */
export interface OwnRedis {
  readonly port: number
  readonly url: string
  /** Starts it (again, on the same port and directory). */
  start(): Promise<void>
  /** SIGTERM, waits for the exit. */
  stop(): Promise<void>
  /** SIGSTOP / SIGCONT: a server that hangs with its connections open. */
  pause(): void
  resume(): void
  /** Stops it and removes its directory. */
  dispose(): Promise<void>
}

/**
 * `persistent`: an append-only file in a directory of its own, so a restart keeps the revocations
 * (a stopped server that came back empty would accept revoked tokens, whatever the mirror does).
 */
export async function ownRedis(persistent: boolean): Promise<OwnRedis> {
  const port = await freePort()
  const dir = mkdtempSync(join(tmpdir(), 'authx-mirror-redis-'))
  let child: ChildProcess | undefined
  let exited: Promise<void> = Promise.resolve()
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '']
  args.push('--appendonly', persistent ? 'yes' : 'no')
  const handle: OwnRedis = {
    port,
    url: `redis://127.0.0.1:${port}`,
    async start() {
      const options: SpawnOptions = { stdio: 'ignore' }
      const started = spawn('redis-server', args, options)
      child = started
      exited = new Promise((resolve) => started.once('exit', () => resolve()))
      let spawnError: string | undefined
      started.once('error', (err) => {
        spawnError = err.message
      })
      // Until it answers PONG (a restarted server answers LOADING while it reads its file).
      for (let i = 0; i < 100; i++) {
        const line = await redisLine(port, 'PING', 200)
        if (line === '+PONG') return
        if (spawnError !== undefined || started.exitCode !== null)
          throw new Error(
            `redis-server on ${port} did not start: ${spawnError ?? `exit ${started.exitCode}`}`,
          )
        await sleep(50)
      }
      throw new Error(`redis-server on ${port} did not answer PING`)
    },
    async stop() {
      if (child === undefined || child.exitCode !== null) return
      child.kill('SIGCONT')
      child.kill('SIGTERM')
      await exited
    },
    pause() {
      child?.kill('SIGSTOP')
    },
    resume() {
      child?.kill('SIGCONT')
    },
    async dispose() {
      await handle.stop()
      rmSync(dir, { recursive: true, force: true })
    },
  }
  return handle
}

/** Whether `redis-server` can be run here: `undefined`, or the reason it cannot. */
export function redisServerMissing(): Promise<string | undefined> {
  return new Promise((resolve) => {
    const probe = spawn('redis-server', ['--version'], { stdio: 'ignore' })
    probe.once('error', (err) => resolve(`redis-server cannot be run: ${err.message}`))
    probe.once('exit', (code) => resolve(code === 0 ? undefined : `redis-server --version exited ${code}`))
  })
}

/**
 * A TCP forwarder to `host:port` that records the local port of each connection it opens to the
 * server (so the server's list of clients tells which are ours) and, while `hold` is set,
 * closes new connections at once while the open ones go on working: a reconnection that cannot
 * happen yet, on an otherwise healthy link.
 */
export interface Forwarder {
  readonly port: number
  /** Local ports of the connections to the server opened so far. */
  readonly upstreamPorts: Set<number>
  hold: boolean
  close(): Promise<void>
}

export async function forwarder(host: string, port: number): Promise<Forwarder> {
  const sockets = new Set<net.Socket>()
  const upstreamPorts = new Set<number>()
  const state = { hold: false }
  const server = net.createServer((client) => {
    client.on('error', () => {})
    if (state.hold) {
      client.destroy()
      return
    }
    const upstream = net.connect({ host, port })
    upstream.on('error', () => {})
    upstream.on('connect', () => {
      if (upstream.localPort !== undefined) upstreamPorts.add(upstream.localPort)
    })
    sockets.add(client)
    sockets.add(upstream)
    client.pipe(upstream)
    upstream.pipe(client)
    const close = () => {
      client.destroy()
      upstream.destroy()
      sockets.delete(client)
      sockets.delete(upstream)
    }
    client.on('close', close)
    upstream.on('close', close)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    port: (server.address() as net.AddressInfo).port,
    upstreamPorts,
    get hold() {
      return state.hold
    },
    set hold(value: boolean) {
      state.hold = value
    },
    close() {
      for (const socket of sockets) socket.destroy()
      return new Promise((resolve) => server.close(() => resolve()))
    },
  }
}

export type Outcome = 'accepted' | 'revoked' | 'unavailable' | `other:${string}`

/** What `verifyToken` answered, as a word. */
export async function outcomeOf(auth: AuthX, token: string): Promise<Outcome> {
  try {
    await auth.verifyToken(token)
    return 'accepted'
  } catch (err) {
    const code = (err as { code?: unknown }).code
    if (code === 'ERR_TOKEN_REVOKED') return 'revoked'
    if (code === 'ERR_STORE_UNAVAILABLE') return 'unavailable'
    return `other:${typeof code === 'string' ? code : String(err)}`
  }
}

export interface Verification {
  label: string
  /** When the verification started (epoch ms). */
  start: number
  outcome: Outcome
}

/**
 * Verifies the tokens one after the other, over and over, until stopped, recording every
 * outcome with the moment the verification started; a short pause between rounds leaves the CPU
 * to the servers and the child.
 */
export function poll(
  auth: AuthX,
  tokens: Record<string, string>,
): { log: Verification[]; stop(): Promise<void> } {
  const log: Verification[] = []
  let running = true
  const loop = (async () => {
    while (running) {
      for (const [label, token] of Object.entries(tokens)) {
        const start = epochNow()
        log.push({ label, start, outcome: await outcomeOf(auth, token) })
      }
      await sleep(2)
    }
  })()
  return {
    log,
    async stop() {
      running = false
      await loop
    },
  }
}

/** p-th percentile (nearest rank) of sorted values. */
export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length)))
  return sorted[rank - 1]!
}

export function rounded(ms: number): number {
  return Math.round(ms * 100) / 100
}
