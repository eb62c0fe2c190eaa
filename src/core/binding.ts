/**
 * What every instance, DPoP or not, enforces about DPoP-bound tokens (docs/dpop.md): a bound token
 * (`cnf.jkt`) is worthless without a proof of its key, so the paths that have no request to take a
 * proof from refuse it, and only an instance with the `dpop` option makes bound tokens.
 * @module
 */
import type { ResolvedDPoP } from './dpop/index.js'
import { InvalidTokenError } from './errors.js'
import type { TokenPayload } from './payload.js'

/**
 * The payload, when it is not DPoP-bound; a bound one is `InvalidTokenError` reason `'binding'`:
 * without a request there is no proof (`verifyToken`, WebSocket upgrades, instances without
 * `dpop`).
 *
 * @example
 * ```ts
 * unbound(payload) // payload, or throws for a bound token
 * ```
 */
export function unbound(payload: TokenPayload): TokenPayload {
  if (payload.jkt !== undefined) {
    throw new InvalidTokenError('binding', 'DPoP-bound token needs a DPoP proof of its key')
  }
  return payload
}

/**
 * Checks a new token's binding at creation: `jkt` only on an instance with `dpop` (another could
 * never verify the token), and always when `dpop.required` (an unbound token would be refused).
 *
 * @example
 * ```ts
 * checkBinding(config.dpop, spec.jkt)
 * ```
 */
export function checkBinding(dpop: ResolvedDPoP | undefined, jkt: unknown): void {
  if (dpop === undefined) {
    if (jkt !== undefined) throw new TypeError('jkt: DPoP binding needs the dpop option')
  } else if (dpop.required && jkt === undefined) {
    throw new TypeError(
      'jkt: dpop.required is set, so every token must be bound (jkt from auth.dpopThumbprint)',
    )
  }
}
