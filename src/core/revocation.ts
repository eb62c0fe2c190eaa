/**
 * Revocation checks on top of any {@link AuthXStore} (docs/revocation.md). Keys are built from the
 * verified issuer and ids, never from the raw token, so malleated copies share one entry.
 * @module
 */
import { RevokedTokenError, StoreUnavailableError } from './errors.js'
import type { TokenPayload } from './payload.js'
import type { AuthXStore } from './store.js'

function part(value: string | undefined): string {
  return encodeURIComponent(value ?? '')
}

/** Store key of a revoked `jti`. */
export function jtiKey(iss: string | undefined, jti: string): string {
  return `jti:${part(iss)}:${part(jti)}`
}

/** Store key of a revoked refresh family. */
export function familyKey(iss: string | undefined, fid: string): string {
  return `fid:${part(iss)}:${part(fid)}`
}

/** Store key of a subject's revocation cut-off (seconds). */
export function subjectKey(iss: string | undefined, sub: string): string {
  return `sub:${part(iss)}:${part(sub)}`
}

/** Store key marking a refresh token's `jti` as consumed (value: first use, seconds). */
export function usedKey(iss: string | undefined, jti: string): string {
  return `used:${part(iss)}:${part(jti)}`
}

/**
 * Runs a store call or the callback within `timeoutMs`; any failure, timeout or throw becomes
 * `StoreUnavailableError` (fail closed).
 *
 * @example
 * ```ts
 * const values = await bounded(() => store.get(keys), 500)
 * ```
 */
export async function bounded<T>(call: () => T | Promise<T>, timeoutMs: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined
  try {
    return await Promise.race([
      Promise.resolve().then(call),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs} ms`)), timeoutMs)
      }),
    ])
  } catch (err) {
    throw new StoreUnavailableError('Revocation store unavailable', { cause: err })
  } finally {
    clearTimeout(timer)
  }
}

/**
 * Throws `RevokedTokenError` when the payload is revoked by jti, family or subject cut-off, or
 * when the callback says so; `StoreUnavailableError` when that cannot be known.
 *
 * @example
 * ```ts
 * await checkRevoked(store, payload, { timeoutMs: 500, isRevoked: undefined })
 * ```
 */
export async function checkRevoked(
  store: AuthXStore,
  payload: TokenPayload,
  options: { timeoutMs: number; isRevoked: ((payload: TokenPayload) => unknown) | undefined },
  issuer: string | undefined,
): Promise<void> {
  // A jti is unique per token issuer; family and subject entries are written by this
  // instance's revokeFamily/revokeAllForSubject, so they are keyed by the instance's issuer.
  const keys = [jtiKey(payload.iss, payload.jti), subjectKey(issuer, payload.sub)]
  if (payload.fid !== undefined) keys.push(familyKey(issuer, payload.fid))
  const values = await bounded(() => store.get(keys), options.timeoutMs)
  if (
    !Array.isArray(values) ||
    values.length !== keys.length ||
    !values.every((v) => v === null || typeof v === 'string')
  ) {
    throw new StoreUnavailableError('Revocation store gave an answer of the wrong shape')
  }
  const [jti, subject, family] = values as (string | null)[]
  if (jti != null) throw new RevokedTokenError()
  if (family != null) throw new RevokedTokenError('Token family has been revoked')
  if (subject != null) {
    const cutoff = Number(subject)
    if (!Number.isFinite(cutoff))
      throw new StoreUnavailableError('Revocation store gave an answer of the wrong shape')
    if (payload.iat < cutoff) throw new RevokedTokenError("Subject's tokens have been revoked")
  }
  if (options.isRevoked !== undefined) {
    const callback = options.isRevoked
    const revoked = await bounded(() => callback(payload), options.timeoutMs)
    if (typeof revoked !== 'boolean') {
      throw new StoreUnavailableError('revocation.isRevoked must return a boolean')
    }
    if (revoked) throw new RevokedTokenError()
  }
}
