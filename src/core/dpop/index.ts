/**
 * DPoP (RFC 9449): sender-constrained tokens (docs/dpop.md). A pair made from a login request
 * that carries a DPoP proof is bound to the proof's key (`cnf.jkt`); every later use of a bound
 * token needs a fresh proof made with that key. `AuthX` resolves the option with
 * {@link resolveDpop} and hands each request over to a {@link DPoP} instance.
 * @module
 */
import { type Duration, parseDuration } from '../duration.js'
import type { AuthXError } from '../errors.js'
import {
  ConfigError,
  DPoPNonceError,
  DPoPProofError,
  InsufficientScopeError,
  InvalidTokenError,
  StoreUnavailableError,
  setChallenge,
} from '../errors.js'
import type { TokenPayload } from '../payload.js'
import type { AuthXRequest } from '../request.js'
import { bounded } from '../revocation.js'
import type { NodeCrypto } from '../runtime.js'
import type { AuthXStore } from '../store.js'
import { normalHttpUri, requestHtu } from './htu.js'
import { DPoPNonces } from './nonce.js'
import { PROOF_ALGORITHMS, type VerifiedProof, verifyProof } from './proof.js'

export { accessTokenHash } from './proof.js'

/** The JWS algorithms a DPoP proof may be signed with (asymmetric only). */
export type DPoPAlgorithm =
  | 'ES256'
  | 'ES384'
  | 'ES512'
  | 'EdDSA'
  | 'Ed25519'
  | 'PS256'
  | 'PS384'
  | 'PS512'
  | 'RS256'
  | 'RS384'
  | 'RS512'

/** Server nonces (RFC 9449 sections 8 and 9), stateless: see {@link DPoPOptions.nonce}. */
export interface DPoPNonceOptions {
  /**
   * The HMAC key nonces are made with: at least 32 bytes (a string counts its UTF-8 bytes). Every
   * instance with the same secret (and lifetime) accepts the others' nonces.
   */
  secret: string | Uint8Array
  /**
   * The length of a nonce step: the current step's nonce is issued, and the current and previous
   * steps' are accepted, so a nonce lives from `lifetime` to twice that. Default `'5m'`, at most
   * a day.
   */
  lifetime?: Duration | undefined
}

/** The `dpop` option (docs/dpop.md). */
export interface DPoPOptions {
  /**
   * Refuse tokens that are not DPoP-bound (whatever the scheme), and logins without a proof.
   * Default `false`: a login with a proof gets a bound pair, one without an unbound pair.
   */
  required?: boolean | undefined
  /**
   * The algorithms a proof may use, also announced in `WWW-Authenticate: DPoP algs="..."`.
   * Default `['ES256', 'ES384', 'EdDSA', 'PS256', 'RS256']`. Symmetric algorithms and `none` are
   * a `ConfigError`.
   */
  algorithms?: readonly DPoPAlgorithm[] | undefined
  /** How old a proof's `iat` may be. Default `60` seconds, at most `'1h'`. */
  maxAge?: Duration | undefined
  /** How far in the future a proof's `iat` may be (client clock skew), in whole seconds. Default `5`, at most `60`. */
  leeway?: number | undefined
  /**
   * The public origin clients address, such as `'https://api.example.com'`: the `htu` of proofs
   * is compared with it plus the request's path, instead of the scheme and host the server sees
   * (behind a TLS-terminating proxy it sees `http` and an internal host). Default: the request's
   * own URL.
   */
  origin?: string | undefined
  /** Server nonces every proof must carry (`DPoP-Nonce`, `use_dpop_nonce`). Default `false`. */
  nonce?: false | DPoPNonceOptions | undefined
}

/** The resolved `dpop` option. */
export interface ResolvedDPoP {
  readonly required: boolean
  readonly algorithms: readonly DPoPAlgorithm[]
  /** Seconds. */
  readonly maxAge: number
  /** Seconds. */
  readonly leeway: number
  /** The origin in normal form (`https://api.example.com`), or `undefined`. */
  readonly origin: string | undefined
  readonly nonce: { readonly secret: Uint8Array; readonly lifetime: number } | undefined
}

/** How the token reached the server: the `Authorization` scheme, or `undefined` elsewhere. */
export type TokenScheme = 'bearer' | 'dpop' | undefined

/** The default `algorithms`: what browsers' Web Crypto and common SDKs sign with. */
export const DEFAULT_DPOP_ALGORITHMS: readonly DPoPAlgorithm[] = Object.freeze([
  'ES256',
  'ES384',
  'EdDSA',
  'PS256',
  'RS256',
])
const DPOP_KEYS = ['required', 'algorithms', 'maxAge', 'leeway', 'origin', 'nonce']
const NONCE_KEYS = ['secret', 'lifetime']
const MAX_MAX_AGE = 3600
const MAX_LEEWAY = 60
const MAX_NONCE_LIFETIME = 86_400
const MIN_NONCE_SECRET_BYTES = 32

function fail(path: string, message: string): never {
  throw new ConfigError(`dpop${path}: ${message}`)
}

/** Own keys of a plain object, each one known, into a prototype-less copy. */
function section(value: unknown, path: string, known: readonly string[]): Record<string, unknown> {
  const proto = typeof value === 'object' && value !== null ? Object.getPrototypeOf(value) : undefined
  if (proto !== Object.prototype && proto !== null) fail(path, 'expected an object')
  const own: Record<string, unknown> = Object.create(null)
  for (const key of Object.keys(value as object)) {
    if (!known.includes(key)) fail(`${path}.${key}`, `unknown option (known: ${known.join(', ')})`)
    own[key] = (value as Record<string, unknown>)[key]
  }
  return own
}

/**
 * Checks the `dpop` option once, at construction: `undefined` when DPoP is off (`undefined` or
 * `false`), else the resolved option; `ConfigError` for anything else.
 *
 * @example
 * ```ts
 * resolveDpop({ required: true })?.required // true
 * resolveDpop(false) // undefined
 * ```
 */
export function resolveDpop(value: unknown): ResolvedDPoP | undefined {
  if (value === undefined || value === false) return undefined
  const options = section(value, '', DPOP_KEYS)
  const required = options.required ?? false
  if (typeof required !== 'boolean') fail('.required', 'expected true or false')
  return Object.freeze({
    required,
    algorithms: resolveAlgorithms(options.algorithms),
    maxAge: resolveDuration(options.maxAge, '.maxAge', 60, MAX_MAX_AGE),
    leeway: resolveLeeway(options.leeway),
    origin: resolveOrigin(options.origin),
    nonce: resolveNonce(options.nonce),
  })
}

function resolveAlgorithms(value: unknown): readonly DPoPAlgorithm[] {
  if (value === undefined) return DEFAULT_DPOP_ALGORITHMS
  if (!Array.isArray(value) || value.length === 0) fail('.algorithms', 'expected a non-empty array')
  for (const alg of value) {
    if (typeof alg === 'string' && (/^HS/.test(alg) || alg.toLowerCase() === 'none')) {
      // A proof is checked with the key it carries: a symmetric key would have to travel with it.
      fail('.algorithms', `${alg} is not asymmetric; DPoP proofs need a public-key algorithm`)
    }
    if (typeof alg !== 'string' || !PROOF_ALGORITHMS.has(alg)) {
      fail(
        '.algorithms',
        `unsupported algorithm ${JSON.stringify(alg)} (known: ${[...PROOF_ALGORITHMS.keys()].join(', ')})`,
      )
    }
  }
  return Object.freeze([...new Set(value as DPoPAlgorithm[])])
}

function resolveDuration(value: unknown, path: string, fallback: number, max: number): number {
  if (value === undefined) return fallback
  const seconds = parseDuration(value)
  if (seconds === undefined || seconds > max) {
    fail(path, `expected a Duration (positive whole seconds or '<n>s|m|h') of at most ${max} seconds`)
  }
  return seconds
}

function resolveLeeway(value: unknown): number {
  if (value === undefined) return 5
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > MAX_LEEWAY) {
    fail('.leeway', `expected whole seconds from 0 to ${MAX_LEEWAY}`)
  }
  return value
}

function resolveOrigin(value: unknown): string | undefined {
  if (value === undefined) return undefined
  const normal = typeof value === 'string' ? normalHttpUri(value) : undefined
  let url: URL | undefined
  try {
    url = normal === undefined ? undefined : new URL(value as string)
  } catch {
    url = undefined
  }
  // Only an origin: a path, query or fragment would be silently dropped from every comparison.
  if (url === undefined || url.pathname !== '/' || url.search !== '' || url.hash !== '') {
    fail('.origin', "expected an http or https origin such as 'https://api.example.com'")
  }
  return url.origin
}

function resolveNonce(value: unknown): ResolvedDPoP['nonce'] {
  if (value === undefined || value === false) return undefined
  const options = section(value, '.nonce', NONCE_KEYS)
  const secret =
    typeof options.secret === 'string'
      ? new TextEncoder().encode(options.secret)
      : options.secret instanceof Uint8Array
        ? options.secret.slice()
        : undefined
  if (secret === undefined || secret.length < MIN_NONCE_SECRET_BYTES) {
    fail('.nonce.secret', `expected a string or Uint8Array of at least ${MIN_NONCE_SECRET_BYTES} bytes`)
  }
  return Object.freeze({
    secret,
    lifetime: resolveDuration(options.lifetime, '.nonce.lifetime', 300, MAX_NONCE_LIFETIME),
  })
}

/** What a DPoP instance needs from its AuthX. */
export interface DPoPContext {
  readonly store: AuthXStore
  /** Milliseconds since the epoch. */
  readonly clock: () => number
  /** Store call timeout, in milliseconds. */
  readonly timeoutMs: number
  /** node:crypto where the instance uses it (SPEC section 11), else jose verifies proofs. */
  readonly crypto?: NodeCrypto | undefined
}

/**
 * The DPoP checks of one AuthX instance. Each accepted proof's `jti` is recorded on the store with
 * an atomic `hit`, so every instance sharing the store accepts a proof once.
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
  readonly #algorithms: ReadonlySet<string>
  readonly #nonces: DPoPNonces | undefined
  /**
   * How long a `jti` is remembered: a proof is accepted from `iat - leeway` to `iat + maxAge`; one
   * more `leeway` covers instances (and the store) whose clocks differ by that much.
   */
  readonly #replayWindow: number

  constructor(config: ResolvedDPoP, context: DPoPContext) {
    if (typeof context.store?.hit !== 'function') {
      // Without an atomic hit, two instances could each accept the same proof once.
      throw new ConfigError(
        'dpop: the store must have hit() (every built-in store has) for the proof replay check',
      )
    }
    this.config = config
    this.#context = context
    this.#algorithms = new Set(config.algorithms)
    this.#replayWindow = config.maxAge + 2 * config.leeway
    this.#nonces =
      config.nonce === undefined
        ? undefined
        : new DPoPNonces(config.nonce.secret, config.nonce.lifetime, context.clock)
  }

  /**
   * At login (or any token creation from a request): verifies the request's `DPoP` proof (an
   * `ath` in it is ignored: there is no access token yet) and returns the RFC 7638 thumbprint of
   * its key; `undefined` when the request carries no proof and DPoP is not required.
   *
   * @example
   * ```ts
   * const jkt = await dpop.thumbprint(request) // undefined without a DPoP header
   * ```
   */
  async thumbprint(request: AuthXRequest): Promise<string | undefined> {
    const proof = request.header('dpop')
    if (proof === undefined && !this.config.required) return undefined
    return (await this.#accept(request, proof, undefined, undefined)).jkt
  }

  /**
   * A token verified from this request: a bound token (`cnf.jkt`) may not come as `Bearer`, and
   * needs a proof made with its key (with `ath` when it is an access token, unless it came in a
   * cookie, whose HttpOnly token the page cannot hash: then `ath` is checked only when present);
   * an unbound token
   * may not come as `DPoP`, nor at all when DPoP is required. Binding errors throw at once
   * (`InvalidTokenError`, reason `'binding'`); a proof is checked in the returned promise. An
   * unbound `Bearer` token where DPoP is optional passes without a look at any `DPoP` header.
   *
   * @example
   * ```ts
   * await dpop.check(request, token, payload, 'dpop')
   * ```
   */
  check(
    request: AuthXRequest,
    token: string,
    payload: TokenPayload,
    scheme: TokenScheme,
    location?: string,
  ): void | Promise<void> {
    const jkt = payload.jkt
    if (jkt === undefined) {
      if (this.config.required)
        throw new InvalidTokenError('binding', 'DPoP is required: the token is not DPoP-bound')
      if (scheme === 'dpop')
        throw new InvalidTokenError('binding', 'Only a DPoP-bound token may be sent with the DPoP scheme')
      return
    }
    if (scheme === 'bearer') {
      // A stolen bound token must not be usable by skipping the proof.
      throw new InvalidTokenError(
        'binding',
        'A DPoP-bound token must be sent with the DPoP scheme, not Bearer',
      )
    }
    // Refresh tokens go to the token endpoint, whose proofs carry no ath (RFC 9449 section 5).
    const accessToken = payload.type === 'access' ? token : undefined
    // An HttpOnly cookie's token is out of the page's reach: its proof cannot carry ath.
    const athOptional = location === 'cookies'
    return this.#accept(request, request.header('dpop'), accessToken, jkt, athOptional).then(() => undefined)
  }

  /**
   * Sets the RFC 9449 section 7.1 challenge on a 401 or 403 error of this instance (others are
   * left alone): `DPoP error="...", algs="..."`, preceded by a `Bearer` challenge when DPoP is
   * optional (`Bearer error="invalid_token", DPoP error="invalid_token", algs="..."`; a DPoP-only
   * error such as `invalid_dpop_proof` goes on the `DPoP` challenge alone). A `DPoPNonceError`
   * also gets its `DPoP-Nonce` header.
   *
   * @example
   * ```ts
   * dpop.challenge(err)
   * err.wwwAuthenticate // 'Bearer, DPoP error="invalid_dpop_proof", algs="ES256 ES384 EdDSA PS256 RS256"'
   * ```
   */
  challenge(error: AuthXError): void {
    const challenge = dpopChallenge(this.config, error)
    if (challenge !== undefined) setChallenge(error, challenge.www, challenge.headers)
  }

  /**
   * The nonce to hand clients now (a `DPoP-Nonce` response header), or `undefined` when nonces
   * are off. Proofs are checked against it without it being asked for.
   *
   * @example
   * ```ts
   * const nonce = await dpop.currentNonce()
   * if (nonce !== undefined) response.headers.set('DPoP-Nonce', nonce)
   * ```
   */
  currentNonce(): Promise<string | undefined> {
    return this.#nonces === undefined ? Promise.resolve(undefined) : this.#nonces.current()
  }

  /** Every check of one proof, the replay check last so a refused proof writes nothing. */
  async #accept(
    request: AuthXRequest,
    proof: string | undefined,
    accessToken: string | undefined,
    jkt: string | undefined,
    athOptional = false,
  ): Promise<VerifiedProof> {
    const { config } = this
    const verified = await verifyProof(proof, {
      algorithms: this.#algorithms,
      method: request.method,
      htu: requestHtu(request.url ?? originPath(request, config.origin), config.origin),
      accessToken,
      athOptional,
      crypto: this.#context.crypto,
      now: this.#context.clock() / 1000,
      maxAge: config.maxAge,
      leeway: config.leeway,
    })
    if (jkt !== undefined && verified.jkt !== jkt) {
      throw new DPoPProofError('key', 'The DPoP proof is made with another key than the token is bound to')
    }
    if (this.#nonces !== undefined && !(await this.#nonces.accepts(verified.nonce))) {
      throw new DPoPNonceError(await this.#nonces.current())
    }
    await this.#once(verified)
    return verified
  }

  /** Records the proof's `jti` (per key), or refuses it as a replay; fails closed. */
  async #once(proof: VerifiedProof): Promise<void> {
    const { store, timeoutMs } = this.#context
    const id = `${proof.jkt}.${proof.jti}`
    const crypto = this.#context.crypto
    const key = `dpop:${crypto === undefined ? await sha256Hex(id) : crypto.createHash('sha256').update(id).digest('hex')}`
    let allowed: unknown
    try {
      const answer = await bounded(() => store.hit!(key, this.#replayWindow, 1), timeoutMs)
      allowed = (answer as { allowed?: unknown } | null)?.allowed
    } catch (err) {
      const retryAfter = err instanceof StoreUnavailableError ? err.retryAfter : 1
      throw new StoreUnavailableError('DPoP replay store unavailable', { cause: err, retryAfter })
    }
    if (allowed === false) throw new DPoPProofError('replay', 'The DPoP proof was already used')
    if (allowed !== true)
      throw new StoreUnavailableError('DPoP replay store gave an answer of the wrong shape')
  }
}

/**
 * The RFC 9449 section 7.1 challenge of a 401 or 403 error (`undefined` for other statuses), as
 * `DPoP.challenge` sets it: `WWW-Authenticate` with `DPoP algs="..."` and the error's `error`
 * (and `scope` for `insufficient_scope`), after a `Bearer` challenge when DPoP is optional (which
 * carries the error too, unless it is a DPoP-only one: `invalid_dpop_proof`, `use_dpop_nonce`);
 * plus `dpop-nonce` for a `DPoPNonceError`.
 *
 * @example
 * ```ts
 * dpopChallenge(resolveDpop({ required: true })!, new DPoPNonceError('n'))
 * // { www: 'DPoP error="use_dpop_nonce", algs="ES256 ES384 EdDSA PS256 RS256"', headers: { 'dpop-nonce': 'n' } }
 * ```
 */
export function dpopChallenge(
  config: ResolvedDPoP,
  error: AuthXError,
): { www: string; headers: Record<string, string> } | undefined {
  if (error.status !== 401 && error.status !== 403) return undefined
  const code = error.challengeError
  // RFC 6750 section 3: an insufficient_scope answer lists the scopes the resource needs.
  const scope =
    error instanceof InsufficientScopeError
      ? `, scope="${error.required.join(' ').replace(/["\\]/g, '')}"`
      : ''
  const params = code === undefined ? '' : `error="${code}"${scope}`
  const algs = `algs="${config.algorithms.join(' ')}"`
  const dpop = params === '' ? `DPoP ${algs}` : `DPoP ${params}, ${algs}`
  let www = dpop
  if (!config.required) {
    const dpopOnly = error instanceof DPoPProofError || error instanceof DPoPNonceError
    www = params === '' || dpopOnly ? `Bearer, ${dpop}` : `Bearer ${params}, ${dpop}`
  }
  return { www, headers: error instanceof DPoPNonceError ? { 'dpop-nonce': error.nonce } : {} }
}

/** Without an adapter-built URL, the public origin plus the path still makes the `htu`. */
function originPath(request: AuthXRequest, origin: string | undefined): string | undefined {
  return origin === undefined ? undefined : request.path
}

async function sha256Hex(text: string): Promise<string> {
  const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(text))
  let hex = ''
  for (const byte of new Uint8Array(digest)) hex += byte.toString(16).padStart(2, '0')
  return hex
}
