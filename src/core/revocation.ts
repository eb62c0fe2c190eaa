/**
 * Revocation checks on top of any {@link AuthXStore} (docs/revocation.md). Keys are built from the
 * verified issuer and ids, never from the raw token, so malleated copies share one entry.
 * @module
 */
import { RevokedTokenError, StoreUnavailableError } from './errors.js'
import type { TokenPayload } from './payload.js'
import type { AuthXStore } from './store.js'

/** Exactly the characters `encodeURIComponent` leaves as they are. */
const UNESCAPED = /^[A-Za-z0-9\-_.!~*'()]*$/

/** A key part: most ids as they are, anything else escaped so keys stay distinct. */
export function keyPart(value: string | undefined): string {
  if (value === undefined) return ''
  // Most ids (UUIDs, user ids) need no escaping: skip the call that would return them unchanged.
  if (UNESCAPED.test(value)) return value
  try {
    return encodeURIComponent(value)
  } catch {
    // A lone surrogate (a claim may carry one through a JSON escape): every UTF-16 unit as %uXXXX,
    // which no encodeURIComponent output contains, so keys stay distinct.
    let out = ''
    for (let i = 0; i < value.length; i++) out += `%u${value.charCodeAt(i).toString(16).padStart(4, '0')}`
    return out
  }
}

/** Store key of a revoked `jti`. */
export function jtiKey(iss: string | undefined, jti: string): string {
  return `jti:${keyPart(iss)}:${keyPart(jti)}`
}

/** Store key of a revoked refresh family; keyed by the login type too, as `subjectKey`. */
export function familyKey(iss: string | undefined, fid: string, loginType?: string): string {
  const key = `fid:${keyPart(iss)}:${keyPart(fid)}`
  return loginType === undefined ? key : `${key}:${keyPart(loginType)}`
}

/**
 * Store key of a subject's revocation cut-off (seconds). An instance with a login type keys it by
 * that type too: user 42 and admin 42 are different people, and logging one out everywhere must
 * not log out the other.
 */
export function subjectKey(iss: string | undefined, sub: string, loginType?: string): string {
  const key = `sub:${keyPart(iss)}:${keyPart(sub)}`
  return loginType === undefined ? key : `${key}:${keyPart(loginType)}`
}

/**
 * Store key of an ended session (SPEC 9.4): every token carrying that `sid` is revoked. Keyed by
 * the login type too, as `subjectKey`: an instance of one type never ends another type's session.
 */
export function sidKey(iss: string | undefined, sid: string, loginType?: string): string {
  const key = `sid:${keyPart(iss)}:${keyPart(sid)}`
  return loginType === undefined ? key : `${key}:${keyPart(loginType)}`
}

/** Store key marking a refresh token's `jti` as consumed (value: first use, seconds). */
export function usedKey(iss: string | undefined, jti: string): string {
  return `used:${keyPart(iss)}:${keyPart(jti)}`
}

/** A store call waiting on the shared deadline timer. */
interface Waiter {
  readonly deadline: number
  readonly timeoutMs: number
  readonly reject: (err: Error) => void
  settled: boolean
}

/**
 * One timer for every store call in flight, instead of a timer armed and cleared per call. Calls
 * with the same timeout reach their deadlines in the order they started, so each timeout keeps a
 * queue; settled calls leave the front of their queue as they settle, and the timer, when it
 * fires, fails the calls past their deadline and is armed again for the next one.
 */
class Deadlines {
  readonly #queues = new Map<number, Waiter[]>()
  #timer: ReturnType<typeof setTimeout> | undefined
  #firesAt = Number.POSITIVE_INFINITY

  watch(timeoutMs: number, reject: (err: Error) => void): Waiter {
    const waiter: Waiter = { deadline: monotonicNow() + timeoutMs, timeoutMs, reject, settled: false }
    const queue = this.#queues.get(timeoutMs)
    if (queue === undefined) this.#queues.set(timeoutMs, [waiter])
    else queue.push(waiter)
    if (waiter.deadline < this.#firesAt) this.#arm(waiter.deadline)
    return waiter
  }

  settle(waiter: Waiter): void {
    waiter.settled = true
    const queue = this.#queues.get(waiter.timeoutMs)
    if (queue === undefined || queue[0] !== waiter) return
    let settled = 1
    while (settled < queue.length && queue[settled]!.settled) settled++
    queue.splice(0, settled)
  }

  #arm(at: number): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer)
    this.#firesAt = at
    this.#timer = setTimeout(() => this.#fire(at), Math.max(0, at - monotonicNow()))
    // A store call still waiting does not keep the process alive by itself.
    ;(this.#timer as { unref?: () => void }).unref?.()
  }

  #fire(armedFor: number): void {
    this.#timer = undefined
    this.#firesAt = Number.POSITIVE_INFINITY
    // The timer ran, so its moment has come even where the clock moves only between events
    // (Workers): counting it as now guarantees the calls due are failed, never re-armed forever.
    const now = Math.max(monotonicNow(), armedFor)
    let next = Number.POSITIVE_INFINITY
    for (const [timeoutMs, queue] of this.#queues) {
      let due = 0
      while (due < queue.length && (queue[due]!.settled || queue[due]!.deadline <= now)) due++
      for (const waiter of queue.splice(0, due)) {
        if (!waiter.settled) {
          waiter.settled = true
          waiter.reject(new Error(`timed out after ${timeoutMs} ms`))
        }
      }
      if (queue.length === 0) this.#queues.delete(timeoutMs)
      else next = Math.min(next, queue[0]!.deadline)
    }
    if (next !== Number.POSITIVE_INFINITY) this.#arm(next)
  }
}

const deadlines = new Deadlines()

/** Monotonic milliseconds: a wall-clock jump must not fail or prolong store calls. */
function monotonicNow(): number {
  return performance.now()
}

function unavailable(err: unknown): StoreUnavailableError {
  // A store's own answer (an open circuit) keeps its Retry-After: the time its cool-down has left.
  const retryAfter = err instanceof StoreUnavailableError ? err.retryAfter : 1
  return new StoreUnavailableError('Revocation store unavailable', { cause: err, retryAfter })
}

/**
 * Runs a store call or the callback within `timeoutMs`; any failure, timeout or throw becomes
 * `StoreUnavailableError` (fail closed). A call that answers at once arms no timer; one that
 * waits joins the shared deadline timer.
 *
 * @example
 * ```ts
 * const values = await bounded(() => store.get(keys), 500)
 * ```
 */
export function bounded<T>(call: () => T | Promise<T>, timeoutMs: number): Promise<T> {
  let result: T | Promise<T>
  try {
    result = call()
  } catch (err) {
    return Promise.reject(unavailable(err))
  }
  if (!isThenable(result)) return Promise.resolve(result)
  const pending = result
  return new Promise<T>((resolve, reject) => {
    const waiter = deadlines.watch(timeoutMs, (err) => reject(unavailable(err)))
    pending.then(
      (value) => {
        deadlines.settle(waiter)
        resolve(value)
      },
      (err: unknown) => {
        deadlines.settle(waiter)
        reject(unavailable(err))
      },
    )
  })
}

function isThenable<T>(value: T | Promise<T>): value is Promise<T> {
  return (
    (typeof value === 'object' || typeof value === 'function') &&
    value !== null &&
    typeof (value as { then?: unknown }).then === 'function'
  )
}

/**
 * The store keys that say whether a payload is revoked, in the order `checkRevoked` reads them.
 *
 * @example
 * ```ts
 * revocationKeys(payload, 'https://issuer.example') // ['jti:...', 'sub:...', 'fid:...', 'sid:...']
 * ```
 */
export function revocationKeys(
  payload: TokenPayload,
  issuer: string | undefined,
  loginType?: string,
): string[] {
  // A jti is unique per token issuer; family and subject entries are written by this
  // instance's revokeFamily/revokeAllForSubject, so they are keyed by the instance's issuer.
  const keys = [jtiKey(payload.iss, payload.jti), subjectKey(issuer, payload.sub, loginType)]
  if (payload.fid !== undefined) keys.push(familyKey(issuer, payload.fid, loginType))
  if (payload.sid !== undefined) keys.push(sidKey(issuer, payload.sid, loginType))
  return keys
}

/** Revocation settings of `checkRevoked`. */
export interface RevocationCheck {
  readonly timeoutMs: number
  readonly isRevoked: ((payload: TokenPayload) => unknown) | undefined
}

/**
 * Throws `RevokedTokenError` when the payload is revoked by jti, family, session or subject cut-off, or
 * when the callback says so; `StoreUnavailableError` when that cannot be known. Returns at once
 * (no promise) when the store answers from memory (`getLocal`) and there is no callback.
 *
 * @example
 * ```ts
 * await checkRevoked(store, payload, { timeoutMs: 500, isRevoked: undefined }, undefined)
 * ```
 */
export function checkRevoked(
  store: AuthXStore,
  payload: TokenPayload,
  options: RevocationCheck,
  issuer: string | undefined,
  loginType?: string,
): void | Promise<void> {
  const keys = revocationKeys(payload, issuer, loginType)
  let local: unknown
  if (typeof store.getLocal === 'function') {
    try {
      local = store.getLocal(keys)
    } catch (err) {
      throw unavailable(err)
    }
  }
  if (local !== undefined) {
    judge(payload, keys, local)
    return options.isRevoked === undefined ? undefined : askCallback(payload, options)
  }
  return bounded(() => store.get(keys), options.timeoutMs).then((values) => {
    judge(payload, keys, values)
    return options.isRevoked === undefined ? undefined : askCallback(payload, options)
  })
}

function judge(payload: TokenPayload, keys: readonly string[], values: unknown): void {
  if (!Array.isArray(values) || values.length !== keys.length) {
    throw new StoreUnavailableError('Revocation store gave an answer of the wrong shape')
  }
  for (const value of values) {
    if (value !== null && typeof value !== 'string')
      throw new StoreUnavailableError('Revocation store gave an answer of the wrong shape')
  }
  const [jti, subject] = values as (string | null)[]
  const family = payload.fid === undefined ? null : (values as (string | null)[])[2]
  const session = payload.sid === undefined ? null : (values as (string | null)[])[keys.length - 1]
  if (jti != null) throw new RevokedTokenError()
  if (family != null) throw new RevokedTokenError('Token family has been revoked')
  if (session != null) throw new RevokedTokenError('Session has ended')
  if (subject != null) {
    const cutoff = Number(subject)
    if (!Number.isFinite(cutoff))
      throw new StoreUnavailableError('Revocation store gave an answer of the wrong shape')
    if (payload.iat < cutoff) throw new RevokedTokenError("Subject's tokens have been revoked")
  }
}

async function askCallback(payload: TokenPayload, options: RevocationCheck): Promise<void> {
  const callback = options.isRevoked!
  const revoked = await bounded(() => callback(payload), options.timeoutMs)
  if (typeof revoked !== 'boolean') {
    throw new StoreUnavailableError('revocation.isRevoked must return a boolean')
  }
  if (revoked) throw new RevokedTokenError()
}
