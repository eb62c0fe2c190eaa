/**
 * A long-lived child process for the cross-process mirror tests (mirror-processes.test.ts). The
 * parent drives it over IPC: it opens AuthX instances on stores of its own (with or without a
 * mirror) and revokes on request, answering each request with the moment the write was
 * acknowledged, on the clock the parent uses too (`performance.timeOrigin + performance.now()`).
 */
import { AuthX } from '../../src/index.js'
import { PostgresStore } from '../../src/stores/postgres.js'
import { RedisStore } from '../../src/stores/redis.js'

export type ChildStoreSpec =
  | { kind: 'redis'; url: string; prefix: string; mirror: boolean }
  | { kind: 'postgres'; connectionString: string; table: string; mirror: boolean }

export type RevocationKind = 'token' | 'family' | 'subject'

export type ChildRequest =
  | { id: number; op: 'open'; name: string; store: ChildStoreSpec; secret: string }
  | { id: number; op: 'revoke'; name: string; kind: RevocationKind; value: string }
  | { id: number; op: 'close' }

export interface ChildReply {
  id: number
  ok: boolean
  /** When the call settled, epoch milliseconds with sub-millisecond resolution. */
  at: number
  /** The error's code (or text) when `ok` is false. */
  code?: string
}

/** The epoch-based clock both processes use, so their timestamps can be compared. */
function epochNow(): number {
  return performance.timeOrigin + performance.now()
}

const instances = new Map<string, AuthX>()

function storeOf(spec: ChildStoreSpec): RedisStore | PostgresStore {
  if (spec.kind === 'redis')
    return new RedisStore({ url: spec.url, prefix: spec.prefix, commandTimeoutMs: 1000, mirror: spec.mirror })
  return new PostgresStore({
    connectionString: spec.connectionString,
    table: spec.table,
    timeoutMs: 2000,
    mirror: spec.mirror,
  })
}

async function open(name: string, spec: ChildStoreSpec, secret: string): Promise<void> {
  const store = storeOf(spec)
  // A mirrored instance is handed over only once its mirror answers, so the parent measures a
  // live mirror on both sides.
  const live = spec.mirror
    ? new Promise<void>((resolve) => {
        const stop = store.onEvent((event) => {
          if (event === 'store.mirror_live') {
            stop()
            resolve()
          }
        })
      })
    : Promise.resolve()
  const auth = new AuthX({ secretKey: secret, store, revocation: { timeoutMs: 2000 } })
  instances.set(name, auth)
  // A first read opens the connection (and creates the PostgreSQL table if needed).
  await store.get(['warm'])
  await live
}

async function revoke(name: string, kind: RevocationKind, value: string): Promise<void> {
  const auth = instances.get(name)
  if (auth === undefined) throw new Error(`no instance named ${name}`)
  if (kind === 'token') await auth.revokeToken(value)
  else if (kind === 'family') await auth.revokeFamily(value)
  else await auth.revokeAllForSubject(value)
}

async function handle(request: ChildRequest): Promise<ChildReply> {
  try {
    if (request.op === 'open') await open(request.name, request.store, request.secret)
    else if (request.op === 'revoke') await revoke(request.name, request.kind, request.value)
    else {
      for (const auth of instances.values()) await auth.close()
      instances.clear()
    }
    return { id: request.id, ok: true, at: epochNow() }
  } catch (err) {
    const code = (err as { code?: unknown }).code
    return { id: request.id, ok: false, at: epochNow(), code: typeof code === 'string' ? code : String(err) }
  }
}

process.on('message', (message) => {
  const request = message as ChildRequest
  void handle(request).then((reply) => {
    process.send?.(reply)
    if (request.op === 'close') process.disconnect()
  })
})
// The parent went away (a crashed test run): nothing is left running.
process.on('disconnect', () => process.exit(0))
