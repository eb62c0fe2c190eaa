/**
 * Refresh-token rotation with reuse detection (docs/rotation.md; RFC 9700 section 4.14).
 * @module
 */
import { buildClaims, type TokenPair, type TokenSpec } from './claims.js'
import type { ResolvedConfig } from './config.js'
import { InvalidTokenError, RefreshTokenReusedError, StoreUnavailableError } from './errors.js'
import type { Emitter } from './events.js'
import type { TokenPayload } from './payload.js'
import { bounded, usedKey } from './revocation.js'
import type { AuthXStore } from './store.js'

/** Options of `auth.refresh`. */
export interface RefreshOptions<Data extends Record<string, unknown> = Record<string, unknown>> {
  /** Custom data of both new tokens. Default: the refresh token's. */
  data?: Data | undefined
  /** Scopes of both new tokens. Default: the refresh token's. */
  scopes?: string[] | undefined
}

/** What rotation needs of its `AuthX` instance. */
export interface RotationContext {
  readonly config: ResolvedConfig
  readonly store: AuthXStore
  readonly events: Emitter
  /** Lifetime of a consumption entry for a token without `exp`, in seconds (no expiry). */
  readonly longestLifetime: number
  /**
   * Consumptions whose store call failed or timed out (key -> when, seconds): the write may still
   * have committed, so this instance's retry of the same token within {@link RETRY_WINDOW_SECONDS}
   * is the first use, not reuse. Bounded; filled only while the store misbehaves.
   */
  readonly unconfirmed: Map<string, number>
  create(spec: TokenSpec): Promise<string>
  revokeFamily(fid: string): Promise<void>
  jtiOf(token: string): string
}

/**
 * The family of a refresh token. Tokens minted without `fid` (by Python AuthX sharing the
 * secret) get one derived from their issuer and `jti`, so a reuse revokes exactly the tokens the
 * first use minted (RFC 9700 section 4.14.2), never a new random family.
 *
 * @example
 * ```ts
 * familyOf(payload) // payload.fid, or 'jti:<iss>:<jti>'
 * ```
 */
export function familyOf(payload: TokenPayload): string {
  return payload.fid ?? `jti:${encodeURIComponent(payload.iss ?? '')}:${payload.jti}`
}

/**
 * A token's audience, copied, so new tokens minted from it stay as narrow (never widened to the
 * instance's audience).
 *
 * @example
 * ```ts
 * audienceOf(payload) // 'api2'
 * ```
 */
export function audienceOf(payload: TokenPayload): string | string[] | undefined {
  return typeof payload.aud === 'string' || payload.aud === undefined ? payload.aud : [...payload.aud]
}

/**
 * Exchanges a verified refresh token for new tokens: check what will be minted, consume the
 * token atomically (`setIfAbsent`), then mint. A consumed token presented again revokes its
 * family.
 *
 * @example
 * ```ts
 * const pair = await rotate(context, payload, refreshToken, {})
 * ```
 */
export async function rotate(
  ctx: RotationContext,
  payload: TokenPayload,
  refreshToken: string,
  options: RefreshOptions,
): Promise<TokenPair> {
  const { config, store, events } = ctx
  const fid = familyOf(payload)
  const spec = {
    uid: payload.sub,
    data: options.data ?? { ...payload.extra },
    scopes: options.scopes ?? (payload.scopes && [...payload.scopes]),
    audience: audienceOf(payload),
    fid,
    sid: payload.sid,
    // A DPoP-bound family stays bound to its key (docs/dpop.md).
    jkt: payload.jkt,
  }
  // Check everything before the token is consumed. Values the caller gave are a programming
  // error (TypeError); values inherited from a verified token, perhaps minted elsewhere, that
  // authx would not mint are the token's fault (401).
  buildClaims(config, { type: 'access', uid: payload.sub, data: options.data, scopes: options.scopes })
  try {
    buildClaims(config, { ...spec, type: 'access' })
  } catch (err) {
    if (!(err instanceof TypeError)) throw err
    throw new InvalidTokenError('claims', 'Refresh token data cannot be carried into new tokens', {
      cause: err,
    })
  }

  const { enabled, reuseGraceSeconds } = config.refreshRotation
  if (!enabled) {
    const accessToken = await ctx.create({ ...spec, type: 'access', fresh: false })
    return { accessToken, refreshToken, tokenType: 'bearer' }
  }
  const now = Math.floor(config.clock() / 1000)
  const key = usedKey(payload.iss, payload.jti)
  const expiry = payload.exp === undefined ? now + ctx.longestLifetime : Math.ceil(payload.exp)
  const ttl = Math.max(1, expiry - now) + config.leeway
  const timeoutMs = config.revocation.timeoutMs
  let first: unknown
  try {
    first = await bounded(() => store.setIfAbsent(key, String(now), ttl), timeoutMs)
  } catch (err) {
    remember(ctx.unconfirmed, key, now)
    throw err
  }
  if (typeof first !== 'boolean') throw new StoreUnavailableError('Store gave an answer of the wrong shape')
  // A retry after a failed consumption: if our write did commit, `false` is our own entry.
  // Either way the pending entry is settled now, so a later replay is reuse again.
  if (first) ctx.unconfirmed.delete(key)
  else if (confirmOwnWrite(ctx.unconfirmed, key, now)) first = true
  if (!first && !(await withinGrace(ctx, key, now, reuseGraceSeconds))) {
    events.emit('token.reused', { sub: payload.sub, fid, jti: payload.jti })
    await ctx.revokeFamily(fid)
    throw new RefreshTokenReusedError()
  }
  const [accessToken, newRefresh] = await Promise.all([
    ctx.create({ ...spec, type: 'access', fresh: false }),
    ctx.create({ ...spec, type: 'refresh' }),
  ])
  if (events.has('token.refreshed')) {
    events.emit('token.refreshed', {
      sub: payload.sub,
      fid,
      oldJti: payload.jti,
      newJti: ctx.jtiOf(newRefresh),
    })
  }
  return { accessToken, refreshToken: newRefresh, tokenType: 'bearer' }
}

/** Whether a replay falls within the grace window of the token's first use. */
async function withinGrace(
  ctx: RotationContext,
  key: string,
  now: number,
  graceSeconds: number,
): Promise<boolean> {
  if (graceSeconds <= 0) return false
  const answer = await bounded(() => ctx.store.get([key]), ctx.config.revocation.timeoutMs)
  const usedAt = Array.isArray(answer) && answer.length === 1 ? answer[0] : undefined
  if (usedAt !== null && typeof usedAt !== 'string') {
    throw new StoreUnavailableError('Store gave an answer of the wrong shape')
  }
  return usedAt !== null && now - Number(usedAt) <= graceSeconds
}

/**
 * How long after a failed or timed-out consumption this instance treats the token's next
 * presentation as its first use (the client retrying after a 503), in seconds.
 */
export const RETRY_WINDOW_SECONDS = 30
const MAX_UNCONFIRMED = 10_000

function remember(unconfirmed: Map<string, number>, key: string, now: number): void {
  for (const [k, at] of unconfirmed) {
    if (now - at <= RETRY_WINDOW_SECONDS && unconfirmed.size < MAX_UNCONFIRMED) break
    unconfirmed.delete(k) // oldest first (insertion order): expired ones, or room for this one
  }
  unconfirmed.set(key, now)
}

/** Whether a consumed key is this instance's own unconfirmed write, answered once. */
function confirmOwnWrite(unconfirmed: Map<string, number>, key: string, now: number): boolean {
  const at = unconfirmed.get(key)
  if (at === undefined) return false
  unconfirmed.delete(key)
  return now - at <= RETRY_WINDOW_SECONDS
}
