/**
 * Sessions linked to tokens (docs/sessions.md, SPEC 9.4): a record per login, its id in both
 * tokens as `sid`, and revocation of a session's every token through one revocation entry read
 * with the others. `AuthX.sessions` is an instance of {@link Sessions}.
 * @module
 */
import { checkCallOptions, isAny, isPlainObject } from './call-options.js'
import type { TokenPair } from './claims.js'
import { assertJsonValue } from './claims.js'
import { MAX_DURATION_SECONDS } from './duration.js'
import { ConfigError, RefreshTokenReusedError, RevokedTokenError, StoreUnavailableError } from './errors.js'
import type { Emitter } from './events.js'
import type { TokenPayload } from './payload.js'
import { bounded, keyPart, sidKey } from './revocation.js'
import type { AuthXStore } from './store.js'

/** What `createTokenPair({ session })` records about a login. */
export interface SessionInput {
  /** The client's `User-Agent` (cut to 512 characters). */
  userAgent?: string | undefined
  /** The client's address (cut to 512 characters). */
  ip?: string | undefined
  /** A name for the device ("Alice's phone"; cut to 512 characters). */
  device?: string | undefined
  /** Anything else, as a plain JSON object of at most 4096 bytes. */
  data?: Record<string, unknown> | undefined
}

/** A live session, as `auth.sessions.list` and `get` return it. */
export interface Session {
  readonly sid: string
  readonly sub: string
  readonly createdAt: Date
  /** The login, or the latest refresh of its tokens. */
  readonly lastSeenAt: Date
  readonly userAgent: string | null
  readonly ip: string | null
  readonly device: string | null
  readonly data: Readonly<Record<string, unknown>> | null
}

/** What sessions need of their instance. */
export interface SessionHost {
  readonly store: AuthXStore
  readonly timeoutMs: number
  readonly clock: () => number
  readonly leeway: number
  readonly events: Emitter
  /** The issuer session keys are written under (the instance's revocation issuer). */
  readonly issuer: string | undefined
  readonly loginType: string | undefined
  /** How long a session's revocation entry lives: the longest a token can live, in seconds. */
  readonly coveringLifetime: number
  /** A token's `exp` claim, read without verifying (tokens the instance just made). */
  expiryOf(token: string): unknown
}

/** What a record holds in the store (JSON). */
interface SessionRecord {
  sid: string
  sub: string
  createdAt: number
  lastSeenAt: number
  userAgent: string | null
  ip: string | null
  device: string | null
  data: Record<string, unknown> | null
  /** The login type of the instance that made it (absent without one). */
  loginType?: string
}

const TEXT_LIMIT = 512
const DATA_LIMIT = 4096
const SESSION_CHECKS = { userAgent: isOptionalText, ip: isOptionalText, device: isOptionalText, data: isAny }
const REVOKE_CHECKS = { sub: isOptionalText }
const REVOKE_ALL_CHECKS = { except: isOptionalText }
const METHODS = ['putIndexed', 'updateIndexed', 'listIndexed', 'deleteIndexed'] as const

function isOptionalText(value: unknown, path: string): void {
  if (typeof value !== 'string') throw new TypeError(`${path} must be a string`)
}

/**
 * A user's sessions (docs/sessions.md): one per `createTokenPair({ uid, session })`.
 *
 * @example
 * ```ts
 * const devices = await auth.sessions.list('user123')
 * await auth.sessions.revokeAll('user123', { except: req.authx.sid })
 * ```
 */
export class Sessions {
  readonly #host: SessionHost

  constructor(host: SessionHost) {
    this.#host = host
  }

  /**
   * The subject's live sessions, newest first; one store round trip.
   *
   * @example
   * ```ts
   * for (const s of await auth.sessions.list('user123')) console.log(s.device, s.lastSeenAt)
   * ```
   */
  async list(sub: string): Promise<Session[]> {
    checkText(sub, 'sub')
    const store = this.#store()
    const entries = await this.#bounded(() => store.listIndexed!(this.#indexKey(sub)))
    if (!Array.isArray(entries)) throw wrongShape()
    const sessions: Session[] = []
    for (const entry of entries) {
      if (!Array.isArray(entry) || entry.length !== 2 || typeof entry[1] !== 'string') throw wrongShape()
      const record = parseRecord(entry[1])
      // Only this subject's: a record is listed under its own subject's index alone.
      if (record.sub === sub) sessions.push(toSession(record))
    }
    return sessions.sort(
      (a, b) => b.createdAt.getTime() - a.createdAt.getTime() || (a.sid < b.sid ? -1 : a.sid > b.sid ? 1 : 0),
    )
  }

  /**
   * One live session, or `null`.
   *
   * @example
   * ```ts
   * const session = await auth.sessions.get(req.authx.sid!)
   * ```
   */
  async get(sid: string): Promise<Session | null> {
    checkText(sid, 'sid')
    const record = await this.#record(sid)
    return record === null ? null : toSession(record)
  }

  /**
   * Ends a session: every token carrying its `sid` fails with `RevokedTokenError` from now on.
   * With `sub`, only a session of that subject is touched (so an API cannot end another user's
   * session): `false` and nothing written otherwise. Answers whether a live session was ended.
   *
   * @example
   * ```ts
   * await auth.sessions.revoke(sid, { sub: req.authx.sub }) // "log out this device"
   * ```
   */
  async revoke(sid: string, options: { sub?: string } = {}): Promise<boolean> {
    checkText(sid, 'sid')
    const { sub } = checkCallOptions(options, 'sessions.revoke', REVOKE_CHECKS) as { sub?: string }
    this.#store()
    const record = await this.#record(sid)
    if (sub !== undefined && (record === null || record.sub !== sub)) return false
    await this.#end(sid, record)
    return record !== null
  }

  /**
   * Ends every session of the subject but `except` ("log out other devices"); answers how many.
   *
   * @example
   * ```ts
   * await auth.sessions.revokeAll('user123', { except: req.authx.sid })
   * ```
   */
  async revokeAll(sub: string, options: { except?: string } = {}): Promise<number> {
    checkText(sub, 'sub')
    const { except } = checkCallOptions(options, 'sessions.revokeAll', REVOKE_ALL_CHECKS) as {
      except?: string
    }
    return this.#endListed(sub, (s) => s.sid !== except)
  }

  /** Whether the store keeps sessions (has the indexed-record methods). */
  get supported(): boolean {
    return METHODS.every((method) => typeof this.#host.store[method] === 'function')
  }

  /**
   * After `revokeAllForSubject`: ends the subject's sessions created before `cutoffMs`, whose
   * tokens the cut-off revoked. Nothing to do on a store without indexed records. Internal to
   * authx.
   */
  async endBefore(sub: string, cutoffMs: number): Promise<void> {
    if (this.supported) await this.#endListed(sub, (s) => s.createdAt.getTime() < cutoffMs)
  }

  /** Ends the subject's listed sessions that `which` picks; answers how many. */
  async #endListed(sub: string, which: (session: Session) => boolean): Promise<number> {
    const ending = (await this.list(sub)).filter(which)
    await Promise.all(ending.map((s) => this.#end(s.sid, { sub: s.sub })))
    return ending.length
  }

  /**
   * Checks a `session` option and makes a new session id, before any token is signed.
   * Internal to authx (`createTokenPair`).
   */
  prepare(input: unknown): { sid: string; input: SessionInput } {
    this.#store()
    const checked = checkCallOptions(input, 'createTokenPair: option session', SESSION_CHECKS) as SessionInput
    if (checked.data !== undefined) {
      if (!isPlainObject(checked.data)) throw new TypeError('session.data: expected a plain object')
      assertJsonValue(checked.data, 'session.data')
      const json = JSON.stringify(checked.data)
      if (new TextEncoder().encode(json).length > DATA_LIMIT)
        throw new TypeError(`session.data: at most ${DATA_LIMIT} bytes of JSON`)
    }
    return { sid: crypto.randomUUID(), input: checked }
  }

  /**
   * Writes the record of a new session, living as long as the later of its `tokens`. Internal to
   * authx (`createTokenPair`).
   */
  async create(session: { sid: string; input: SessionInput }, sub: string, tokens: string[]): Promise<void> {
    const { sid, input } = session
    const ttlSeconds = this.#livingSeconds(tokens)
    const now = this.#host.clock()
    const record: SessionRecord = {
      sid,
      sub,
      createdAt: now,
      lastSeenAt: now,
      userAgent: cut(input.userAgent),
      ip: cut(input.ip),
      device: cut(input.device),
      data:
        input.data === undefined ? null : (JSON.parse(JSON.stringify(input.data)) as Record<string, unknown>),
    }
    if (this.#host.loginType !== undefined) record.loginType = this.#host.loginType
    const store = this.#store()
    const ttl = this.#ttl(ttlSeconds)
    await this.#bounded(() =>
      store.putIndexed!(this.#indexKey(sub), this.#recordKey(sid), JSON.stringify(record), ttl),
    )
  }

  /**
   * A refresh of a session's token (`rotate` mints the new pair). The session must still exist:
   * a record gone means the session ended, so its tokens are not renewed. A replayed token
   * (reuse) ends its session with its family. After the refresh, `lastSeenAt` is now and the
   * record lives as long as the new tokens; a session ended meanwhile stays ended (the update
   * writes nothing). Internal to authx (`refresh`).
   */
  async renew(payload: TokenPayload, rotate: () => Promise<TokenPair>): Promise<TokenPair> {
    const sid = payload.sid!
    const before = await this.#record(sid)
    if (before === null || before.sub !== payload.sub) throw new RevokedTokenError('Session has ended')
    let pair: TokenPair
    try {
      pair = await rotate()
    } catch (err) {
      // The family's revocation already ended every token of it: a store failure here changes
      // no outcome, and the reuse error is what the caller must see.
      if (err instanceof RefreshTokenReusedError) await this.revoke(sid).catch(() => false)
      throw err
    }
    const store = this.#store()
    const updated: SessionRecord = { ...before, lastSeenAt: this.#host.clock() }
    const ttl = this.#ttl(this.#livingSeconds([pair.accessToken, pair.refreshToken]))
    await this.#bounded(() =>
      store.updateIndexed!(this.#indexKey(before.sub), this.#recordKey(sid), JSON.stringify(updated), ttl),
    )
    return pair
  }

  async #end(sid: string, record: Pick<SessionRecord, 'sub'> | null): Promise<void> {
    const host = this.#host
    const store = this.#store()
    // The revocation entry first: once it is written every token of the session fails.
    const ttl = Math.max(1, Math.ceil(host.coveringLifetime + host.leeway))
    await this.#bounded(() => store.set(sidKey(host.issuer, sid, host.loginType), '1', ttl))
    if (record !== null) {
      await this.#bounded(() => store.deleteIndexed!(this.#indexKey(record.sub), this.#recordKey(sid)))
    }
    host.events.emit('session.revoked', { sid, sub: record?.sub ?? null })
  }

  async #record(sid: string): Promise<SessionRecord | null> {
    const store = this.#host.store
    const values = await this.#bounded(() => store.get([this.#recordKey(sid)]))
    if (!Array.isArray(values) || values.length !== 1) throw wrongShape()
    const value = values[0]
    if (value === null) return null
    if (typeof value !== 'string') throw wrongShape()
    const record = parseRecord(value)
    if (record.sid !== sid) throw wrongShape()
    // Another login type's session is not this instance's to show or end (user 42 is not admin 42).
    return record.loginType === this.#host.loginType ? record : null
  }

  #store(): AuthXStore {
    const store = this.#host.store
    for (const method of METHODS) {
      if (typeof store[method] !== 'function') {
        throw new ConfigError(
          `sessions: the store has no ${method}() method (the built-in stores all have it; a custom store must implement putIndexed, updateIndexed, listIndexed and deleteIndexed)`,
        )
      }
    }
    return store
  }

  #bounded<T>(call: () => Promise<T>): Promise<T> {
    return bounded(call, this.#host.timeoutMs)
  }

  /** Seconds until the later of the tokens expires; "no expiry" when one has no `exp`. */
  #livingSeconds(tokens: string[]): number {
    const now = this.#host.clock() / 1000
    let longest = 0
    for (const token of tokens) {
      const exp = this.#host.expiryOf(token)
      if (typeof exp !== 'number') return MAX_DURATION_SECONDS
      longest = Math.max(longest, exp - now)
    }
    return longest
  }

  #ttl(ttlSeconds: number): number {
    return Math.max(1, Math.ceil(ttlSeconds + this.#host.leeway))
  }

  #recordKey(sid: string): string {
    return `ses:${keyPart(this.#host.issuer)}:${keyPart(sid)}`
  }

  /** Keyed by the login type too: user 42 and admin 42 are different people. */
  #indexKey(sub: string): string {
    const key = `sesx:${keyPart(this.#host.issuer)}:${keyPart(sub)}`
    const loginType = this.#host.loginType
    return loginType === undefined ? key : `${key}:${keyPart(loginType)}`
  }
}

function checkText(value: unknown, what: string): asserts value is string {
  if (typeof value !== 'string' || value.length === 0)
    throw new TypeError(`${what}: expected a non-empty string`)
}

function cut(value: string | undefined): string | null {
  return value === undefined ? null : value.slice(0, TEXT_LIMIT)
}

function wrongShape(): StoreUnavailableError {
  return new StoreUnavailableError('Session store gave an answer of the wrong shape')
}

function parseRecord(value: string): SessionRecord {
  let record: unknown
  try {
    record = JSON.parse(value)
  } catch {
    throw wrongShape()
  }
  const r = record as Partial<SessionRecord> | null
  if (
    typeof r !== 'object' ||
    r === null ||
    typeof r.sid !== 'string' ||
    typeof r.sub !== 'string' ||
    !Number.isFinite(r.createdAt) ||
    !Number.isFinite(r.lastSeenAt)
  ) {
    throw wrongShape()
  }
  return r as SessionRecord
}

function toSession(record: SessionRecord): Session {
  const text = (value: unknown): string | null => (typeof value === 'string' ? value : null)
  return Object.freeze({
    sid: record.sid,
    sub: record.sub,
    createdAt: new Date(record.createdAt),
    lastSeenAt: new Date(record.lastSeenAt),
    userAgent: text(record.userAgent),
    ip: text(record.ip),
    device: text(record.device),
    data: isPlainObject(record.data) ? Object.freeze(record.data) : null,
  })
}
