/**
 * DPoP (RFC 9449): sender-constrained tokens (docs/dpop.md). A pair made from a login request
 * that carries a DPoP proof is bound to the proof's key (`cnf.jkt`); every later use of a bound
 * token needs a fresh proof made with that key. STUB: filled in by the DPoP work.
 * @module
 */
import type { AuthXError } from '../errors.js'
import { ConfigError } from '../errors.js'
import type { TokenPayload } from '../payload.js'
import type { AuthXRequest } from '../request.js'
import type { AuthXStore } from '../store.js'

/** The `dpop` option. */
export interface DPoPOptions {
  /** Refuse tokens that are not DPoP-bound, and logins without a proof. Default `false`. */
  required?: boolean | undefined
}

/** The resolved `dpop` option. */
export interface ResolvedDPoP {
  readonly required: boolean
}

/** How the token reached the server: the `Authorization` scheme, or `undefined` elsewhere. */
export type TokenScheme = 'bearer' | 'dpop' | undefined

/**
 * Checks the `dpop` option once, at construction: `undefined` when DPoP is off.
 *
 * @example
 * ```ts
 * resolveDpop({ required: true })?.required // true
 * ```
 */
export function resolveDpop(value: unknown): ResolvedDPoP | undefined {
  if (value === undefined || value === false) return undefined
  throw new ConfigError('dpop: not supported yet')
}

/** What a DPoP instance needs from its AuthX. */
export interface DPoPContext {
  readonly store: AuthXStore
  readonly clock: () => number
  /** Store call timeout, in milliseconds. */
  readonly timeoutMs: number
}

/**
 * The DPoP checks of one AuthX instance.
 *
 * @example
 * ```ts
 * const dpop = new DPoP(resolveDpop({ required: true })!, { store, clock: Date.now, timeoutMs: 1000 })
 * const jkt = await dpop.thumbprint(request) // at login
 * ```
 */
export class DPoP {
  readonly config: ResolvedDPoP
  readonly #context: DPoPContext

  constructor(config: ResolvedDPoP, context: DPoPContext) {
    this.config = config
    this.#context = context
  }

  /**
   * At login (or any token creation from a request): verifies the request's `DPoP` proof, made
   * without `ath`, and returns the RFC 7638 thumbprint of its key; `undefined` when the request
   * carries no proof and DPoP is not required.
   */
  async thumbprint(_request: AuthXRequest): Promise<string | undefined> {
    void this.#context
    return undefined
  }

  /**
   * A token verified from this request: a bound token (`cnf.jkt`) needs a proof made with its
   * key (with `ath` when the token is an access token), and may not come as `Bearer`; an
   * unbound token may not come as `DPoP`, nor at all when DPoP is required.
   */
  check(
    _request: AuthXRequest,
    _token: string,
    _payload: TokenPayload,
    _scheme: TokenScheme,
  ): void | Promise<void> {}

  /**
   * Sets the RFC 9449 section 7 challenge (`WWW-Authenticate: DPoP ...`, and `DPoP-Nonce` when
   * nonces are on) on an error of this instance.
   */
  challenge(_error: AuthXError): void {}
}
