/**
 * What one AuthX instance writes and reads to revoke (docs/revocation.md): one token by its
 * `jti`, a refresh family, every token of a subject before a cut-off, and the check of every
 * verification path. `AuthX` hands its public revocation methods over to this.
 * @module
 */
import type { ResolvedConfig } from './config.js'
import type { Emitter } from './events.js'
import type { TokenPayload } from './payload.js'
import { bounded, checkRevoked, familyKey, jtiKey, subjectKey } from './revocation.js'
import type { Sessions } from './sessions.js'
import type { AuthXStore } from './store.js'

/**
 * The TTL of an entry that must never expire (it covers tokens without `exp`): 100 years, the
 * longest Duration authx accepts, which every store keeps as a plain number.
 */
export const NO_EXPIRY = 100 * 365 * 86_400

/** What a `Revoker` needs from its instance. */
export interface RevokerContext {
  readonly config: ResolvedConfig
  readonly store: AuthXStore
  readonly events: Emitter
  /** Ends the sessions a subject cut-off ended (made after the revoker, so read lazily). */
  readonly sessions: () => Sessions
}

/**
 * The revocation entries of one instance, keyed by the issuer of the tokens it accepts and its
 * login type.
 *
 * @example
 * ```ts
 * const revoker = new Revoker({ config, store, events, sessions: () => auth.sessions })
 * await revoker.family(payload.fid!)
 * ```
 */
export class Revoker {
  readonly #context: RevokerContext
  /** The `iss` of the tokens this instance accepts, which family and subject entries are keyed by. */
  readonly issuer: string | undefined
  /**
   * How long a family or subject entry lives: as long as the longest token it can cover
   * (`maxLifetime`, which every creation enforces), or for good when tokens without `exp` exist.
   */
  readonly coveringLifetime: number

  constructor(context: RevokerContext) {
    this.#context = context
    const { config } = context
    this.issuer = config.verifyIssuer ?? config.issuer
    this.coveringLifetime = config.maxLifetime === false ? NO_EXPIRY : config.maxLifetime
  }

  /** The revocation check of every path: jti, subject (of this login type), family and session. */
  check(payload: TokenPayload): void | Promise<void> {
    const { store, config } = this.#context
    return checkRevoked(store, payload, config.revocation, this.issuer, config.loginType)
  }

  /** Revokes one verified token by issuer and `jti`, for as long as it could be used. */
  async token(payload: TokenPayload): Promise<void> {
    const now = this.#context.config.clock() / 1000
    const ttl = payload.exp === undefined ? NO_EXPIRY : Math.ceil(payload.exp - now)
    await this.#write(jtiKey(payload.iss, payload.jti), '1', ttl)
    this.#context.events.emit('token.revoked', { sub: payload.sub, jti: payload.jti })
  }

  /** Revokes every token of a refresh family. */
  async family(fid: string): Promise<void> {
    if (typeof fid !== 'string' || fid.length === 0) throw new TypeError('fid: expected a non-empty string')
    const key = familyKey(this.issuer, fid, this.#context.config.loginType)
    await this.#write(key, '1', this.coveringLifetime)
    this.#context.events.emit('family.revoked', { fid })
  }

  /** Revokes every token of the subject issued before the current second, and ends its sessions. */
  async subject(sub: string): Promise<void> {
    if (typeof sub !== 'string' || sub.length === 0) throw new TypeError('sub: expected a non-empty string')
    const { config, events } = this.#context
    const cutoff = Math.floor(config.clock() / 1000)
    await this.#write(subjectKey(this.issuer, sub, config.loginType), String(cutoff), this.coveringLifetime)
    // Sessions whose tokens the cut-off ended leave the user's list (those of this second stay).
    await this.#context.sessions().endBefore(sub, cutoff * 1000)
    events.emit('subject.revoked', { sub })
  }

  /** Writes a revocation entry living its TTL plus leeway; failures are `StoreUnavailableError`. */
  async #write(key: string, value: string, ttlSeconds: number): Promise<void> {
    const { config, store } = this.#context
    const ttl = Math.max(1, Math.ceil(ttlSeconds + config.leeway))
    await bounded(() => store.set(key, value, ttl), config.revocation.timeoutMs)
  }
}
