/**
 * Options of a remote key set (`jwksUrl`): fetch timeout, cool-down, cache age and a persisted
 * copy across serverless invocations. STUB: filled in by the remote-keys work.
 * @module
 */
import { ConfigError } from './errors.js'

/** The `jwks` option. */
export interface RemoteKeySetOptions {
  /** Timeout of one fetch, in milliseconds. Default `5000` (or `verify.jwksTimeoutMs`). */
  timeoutMs?: number | undefined
}

/** The resolved `jwks` option. */
export interface ResolvedRemoteKeys {
  readonly timeoutMs: number
}

/**
 * Checks the `jwks` option once, at construction.
 *
 * @example
 * ```ts
 * resolveRemoteKeys(undefined, undefined, true).timeoutMs // 5000
 * ```
 */
export function resolveRemoteKeys(
  value: unknown,
  legacyTimeoutMs: number,
  remote: boolean,
): ResolvedRemoteKeys {
  if (value !== undefined) {
    if (!remote) throw new ConfigError('jwks: only with jwksUrl')
    throw new ConfigError('jwks: not supported yet')
  }
  return Object.freeze({ timeoutMs: legacyTimeoutMs })
}
