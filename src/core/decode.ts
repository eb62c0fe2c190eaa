/**
 * Strict compact-JWS decoding and claim validation (docs/security.md, "Strict decoding"). Every
 * failure is an `InvalidTokenError` (or `TokenExpiredError`) with its reason; nothing else is
 * ever thrown for a bad token, and the message never contains the token.
 * @module
 */
import { type Algorithm, algorithmInfo } from './algorithms.js'
import { decodeBase64url } from './base64url.js'
import type { Engine, JwsParts } from './engine/types.js'
import { ConfigError, InvalidTokenError, type InvalidTokenReason, TokenExpiredError } from './errors.js'
import type { KeyEntry } from './keys.js'
import { type ClaimsProfile, TokenPayload, type TokenType } from './payload.js'
import { processLike } from './runtime.js'
import { ExpiringClaims, type FrozenClaims, type TokenCache } from './token-cache.js'
import { type ResolvedTokenTypes, resolveTokenTypes, typType } from './token-types.js'

/** Deepest nesting accepted in a header or payload; deeper JSON is `malformed`. */
export const MAX_JSON_DEPTH = 32

/** What the decoder needs, fixed at construction. */
export interface DecodeSettings {
  readonly algorithms: ReadonlySet<string>
  readonly maxTokenBytes: number
  readonly leeway: number
  readonly issuer: string | undefined
  readonly audience: readonly string[] | undefined
  /** Whether `exp` is required, per token type (`false` lifetimes make it optional). */
  readonly requireExp: { readonly access: boolean; readonly refresh: boolean }
  readonly clock: () => number
  /** Which `typ` each token type must carry (docs/token-types.md). Default: the `'jwt'` mode. */
  readonly tokenTypes?: ResolvedTokenTypes | undefined
}

/** Finds the key for a token's `alg` and `kid`; `undefined` when there is none. */
export type KeyResolver = (
  alg: Algorithm,
  kid: string | undefined,
) => KeyEntry | undefined | Promise<KeyEntry | undefined>

/** A token split into its parts and parsed, before any check beyond structure. */
export interface ParsedToken {
  readonly header: Record<string, unknown>
  readonly parts: JwsParts
}

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true })

/** Node's `buffer.isAscii` where the runtime has it (Node 18.15+, Bun, Deno). */
const isAscii = (
  processLike()?.getBuiltinModule?.('node:buffer') as { isAscii?: (bytes: Uint8Array) => boolean } | undefined
)?.isAscii

/**
 * The bytes as strict UTF-8 text. Most segments are ASCII: where the runtime checks that natively
 * and the bytes are a Buffer, they are read as latin1, which for ASCII is the same text, without
 * the decoder's work. Anything else goes through the fatal UTF-8 decoder (a BOM is kept, so JSON
 * refuses it).
 */
function utf8Text(bytes: Uint8Array & { latin1Slice?: (start: number, end: number) => string }): string {
  if (isAscii !== undefined && bytes.latin1Slice !== undefined && isAscii(bytes)) {
    return bytes.latin1Slice(0, bytes.length)
  }
  return utf8.decode(bytes)
}

function invalid(reason: InvalidTokenReason, message: string): InvalidTokenError {
  return new InvalidTokenError(reason, message)
}

function isJsonObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

/**
 * Walks parsed JSON: no `__proto__` key anywhere, nesting at most {@link MAX_JSON_DEPTH}; freezes
 * every object on the way when asked, so a payload is checked and frozen in one pass. Recursion
 * is bounded by the depth limit, which is checked before going deeper.
 */
function isSafeTree(node: object, depth: number, freeze: boolean): boolean {
  if (depth > MAX_JSON_DEPTH) return false
  if (Array.isArray(node)) {
    for (const child of node) {
      if (typeof child === 'object' && child !== null && !isSafeTree(child, depth + 1, freeze)) return false
    }
  } else {
    if (Object.hasOwn(node, '__proto__')) return false
    // Parsed JSON objects are plain: for...in sees exactly their own keys.
    for (const key in node) {
      const child = (node as Record<string, unknown>)[key]
      if (typeof child === 'object' && child !== null && !isSafeTree(child, depth + 1, freeze)) return false
    }
  }
  if (freeze) Object.freeze(node)
  return true
}

/**
 * Decodes one base64url JSON-object segment strictly, or returns `undefined`: non-canonical
 * base64url, invalid UTF-8, invalid JSON, a non-object, a `__proto__` key or deep nesting.
 */
export function parseSegment(
  segment: string,
  bytes = decodeBase64url(segment),
  freeze = false,
): Record<string, unknown> | undefined {
  if (bytes === undefined) return undefined
  let value: unknown
  try {
    value = JSON.parse(utf8Text(bytes))
  } catch {
    return undefined
  }
  return isJsonObject(value) && isSafeTree(value, 1, freeze) ? value : undefined
}

/** The three segments of a token, checked for size, count and a canonical signature. */
function splitToken(token: unknown, maxTokenBytes: number): JwsParts {
  if (typeof token !== 'string') throw invalid('malformed', 'Token must be a string')
  // Size first, before any decoding work (valid tokens are ASCII, so length equals bytes).
  if (token.length > maxTokenBytes) throw invalid('too_large', `Token exceeds ${maxTokenBytes} bytes`)
  const first = token.indexOf('.')
  const second = first < 0 ? -1 : token.indexOf('.', first + 1)
  if (first <= 0 || second < 0 || second === first + 1 || token.indexOf('.', second + 1) >= 0) {
    throw invalid('malformed', 'Token must have three non-empty segments')
  }
  const signature64 = token.slice(second + 1)
  const signature = signature64.length === 0 ? undefined : decodeBase64url(signature64)
  if (signature === undefined) throw invalid('malformed', 'Token signature is not canonical base64url')
  return {
    signingInput: token.slice(0, second),
    header64: token.slice(0, first),
    payload64: token.slice(first + 1, second),
    signature64,
    signature,
  }
}

/**
 * Splits a compact JWS and parses its header; checks size, segment count and encoding.
 *
 * @example
 * ```ts
 * const { header, parts } = parseToken(token, 8192)
 * ```
 */
export function parseToken(token: unknown, maxTokenBytes: number): ParsedToken {
  const parts = splitToken(token, maxTokenBytes)
  const header = parseSegment(parts.header64)
  if (header === undefined) throw invalid('malformed', 'Token header is not a base64url JSON object')
  return { header, parts }
}

function finite(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value)
}

function nonEmptyString(value: unknown): value is string {
  return typeof value === 'string' && value.length > 0
}

/** What the decoder keeps between calls; both are off when absent. */
export interface DecoderCaches {
  /** Decoded tokens (`cache.verifiedTokens`). */
  readonly tokens?: TokenCache | undefined
  /** Keys come from a remote JWKS: cached tokens are decoded again after {@link REMOTE_KEY_CACHE_MS}. */
  readonly remoteKeys?: boolean
}

/** How long a token verified with a key from a remote JWKS stays cached (the key set may change). */
export const REMOTE_KEY_CACHE_MS = 60_000

/** Headers seen most (one per key and algorithm in practice); the map is emptied when full. */
const HEADER_CACHE_SIZE = 64

/** A header that passed every check, reduced to what key resolution needs. */
interface CheckedHeader {
  readonly alg: Algorithm
  readonly kid: string | undefined
  /**
   * The token type the `typ` header names in the explicit modes; `undefined` in the `'jwt'` mode,
   * where `typ` is not read. Part of the cached entry, whose key is the whole header segment, so
   * a header with another `typ` is another entry.
   */
  readonly type: TokenType | undefined
}

/** The decoder: a payload at once when nothing had to wait (cache hit, node:crypto), else a promise. */
export type Decoder = (token: unknown) => TokenPayload | Promise<TokenPayload>

/**
 * Builds the decoder: the function behind `auth.decodeToken`. It throws (or rejects) an
 * `InvalidTokenError` or `TokenExpiredError` for a bad token.
 *
 * @example
 * ```ts
 * const decode = createDecoder(settings, resolveKey, engine, { tokens: new TokenCache(10_000) })
 * const payload = await decode(token)
 * ```
 */
export function createDecoder(
  settings: DecodeSettings,
  resolveKey: KeyResolver,
  engine: Engine,
  caches: DecoderCaches = {},
): Decoder {
  const { algorithms, maxTokenBytes, leeway, issuer, audience, requireExp, clock } = settings
  const { tokens, remoteKeys = false } = caches
  const headers = new Map<string, CheckedHeader>()
  const explicit = (settings.tokenTypes ?? resolveTokenTypes(undefined)).mode !== 'jwt'
  const rfc9068 = settings.tokenTypes?.mode === 'rfc9068'
  // RFC 9068 section 4: a resource server MUST check `iss` and `aud`. Without both, any token of
  // the key set's issuer meant for another service would pass (and every RFC 9068 token carries
  // `aud`, which a decoder expecting none refuses: the mode would accept nothing).
  if (rfc9068 && (issuer === undefined || audience === undefined)) {
    throw new ConfigError(
      "tokenTypes: 'rfc9068' requires verify.issuer and verify.audience (RFC 9068 section 4)",
    )
  }

  /**
   * How a payload reads these (valid) claims: an RFC 9068 access token is the only token without
   * a `type` claim that passes {@link checkClaims}, so the cache needs no other record of it.
   */
  function profileOf(claims: Readonly<Record<string, unknown>>): ClaimsProfile {
    return rfc9068 && claims.type === undefined ? 'rfc9068' : 'authx'
  }

  /** RFC 9068 section 2.2: the claims an RFC 9068 access token must carry, before the common checks. */
  function checkRfc9068(claims: Record<string, unknown>): void {
    for (const name of ['iss', 'sub', 'client_id', 'jti'] as const) {
      if (!nonEmptyString(claims[name])) throw invalid('claims', `Claim '${name}' must be a non-empty string`)
    }
    if (!finite(claims.exp)) throw invalid('claims', "Claim 'exp' must be a finite number")
    if (claims.aud === undefined) throw invalid('claims', "Claim 'aud' is required")
    if (claims.scope !== undefined && typeof claims.scope !== 'string') {
      throw invalid('claims', "Claim 'scope' must be a space-separated string")
    }
  }

  /**
   * The token's type: the `type` claim, which in the explicit modes must agree with the type the
   * `typ` header names (`typed`), so a token of one type never passes as the other.
   */
  function typeOf(claims: Record<string, unknown>, typed: TokenType | undefined): TokenType {
    const type = claims.type
    if (type === undefined && rfc9068 && typed === 'access') {
      checkRfc9068(claims)
      return 'access'
    }
    if (type !== 'access' && type !== 'refresh')
      throw invalid('claims', "Claim 'type' must be 'access' or 'refresh'")
    if (explicit && type !== typed) throw invalid('typ', "Token header 'typ' does not match its type")
    return type
  }

  function checkClaims(claims: Record<string, unknown>, typed: TokenType | undefined): void {
    const type = typeOf(claims, typed)
    if (!nonEmptyString(claims.sub)) throw invalid('claims', "Claim 'sub' must be a non-empty string")
    if (!nonEmptyString(claims.jti)) throw invalid('claims', "Claim 'jti' must be a non-empty string")
    if (!finite(claims.iat)) throw invalid('claims', "Claim 'iat' must be a finite number")
    if (claims.exp === undefined ? requireExp[type] : !finite(claims.exp)) {
      throw invalid('claims', "Claim 'exp' must be a finite number")
    }
    if (claims.nbf !== undefined && !finite(claims.nbf))
      throw invalid('claims', "Claim 'nbf' must be a finite number")
    if (claims.fresh !== undefined && typeof claims.fresh !== 'boolean') {
      throw invalid('claims', "Claim 'fresh' must be a boolean")
    }
    for (const name of ['csrf', 'fid', 'sid', 'iss', 'login_type'] as const) {
      if (claims[name] !== undefined && typeof claims[name] !== 'string') {
        throw invalid('claims', `Claim '${name}' must be a string`)
      }
    }
    // A DPoP binding (docs/dpop.md): an object with a thumbprint, or no binding at all.
    if (claims.cnf !== undefined) {
      const jkt = (claims.cnf as { jkt?: unknown } | null)?.jkt
      if (typeof claims.cnf !== 'object' || claims.cnf === null || !nonEmptyString(jkt)) {
        throw invalid('claims', "Claim 'cnf' must be an object with a string 'jkt'")
      }
    }

    if (issuer !== undefined && claims.iss !== issuer) throw invalid('issuer', 'Token issuer is not accepted')
    const aud = claims.aud
    if (aud !== undefined || audience !== undefined) {
      // RFC 7519 section 4.1.3: a token with `aud` is rejected when no audience is expected.
      if (audience === undefined) throw invalid('audience', 'Token has an audience but none is expected')
      const values = typeof aud === 'string' ? [aud] : aud
      if (
        !Array.isArray(values) ||
        !values.every((a) => typeof a === 'string') ||
        !values.some((a) => audience.includes(a))
      ) {
        throw invalid('audience', 'Token audience is not accepted')
      }
    }

    const now = clock() / 1000
    if (claims.iat > now + leeway) throw invalid('claims', 'Token was issued in the future')
    if (claims.nbf !== undefined && (claims.nbf as number) > now + leeway) {
      throw invalid('not_before', 'Token is not valid yet')
    }
    if (claims.exp !== undefined && (claims.exp as number) <= now - leeway) {
      throw new TokenExpiredError(new Date((claims.exp as number) * 1000))
    }
  }

  /** The header's algorithm and key id, checked; from the header cache when seen before. */
  function checkedHeader(header64: string): CheckedHeader {
    const known = headers.get(header64)
    if (known !== undefined) return known
    const header = parseSegment(header64)
    if (header === undefined) throw invalid('malformed', 'Token header is not a base64url JSON object')
    const alg = header.alg
    // Exact, case-sensitive allow-list: `none`, `None`, `hs256`, non-strings all fail here.
    if (typeof alg !== 'string' || !algorithms.has(alg) || algorithmInfo(alg) === undefined) {
      throw invalid('algorithm', 'Token algorithm is not accepted')
    }
    // authx understands no JOSE extension, so any `crit` header is rejected (RFC 7515 4.1.11).
    if (Object.hasOwn(header, 'crit')) throw invalid('algorithm', "Token header 'crit' is not supported")
    const kid = header.kid
    if (kid !== undefined && typeof kid !== 'string')
      throw invalid('malformed', "Token header 'kid' must be a string")
    // jku, jwk, x5u and x5c are never read: keys come only from the configuration.
    // RFC 8725 section 3.11: in the explicit modes the `typ` names the token type, so a JWT of
    // another kind signed with the same key (an ID token, Python AuthX's `JWT`) is refused here.
    let type: TokenType | undefined
    if (explicit) {
      type = typType(header.typ)
      if (type === undefined) throw invalid('typ', "Token header 'typ' is not a token type of this instance")
    }
    const checked: CheckedHeader = { alg: alg as Algorithm, kid, type }
    if (headers.size >= HEADER_CACHE_SIZE) headers.clear()
    headers.set(header64, checked)
    return checked
  }

  /** A cached decode of the token that is still valid now, else `undefined` (and it is dropped). */
  function cached(cache: TokenCache, token: string): TokenPayload | undefined {
    const entry = cache.get(token)
    if (entry === undefined) return undefined
    const ms = clock()
    let claims: FrozenClaims
    if (entry instanceof ExpiringClaims) {
      if (ms >= entry.dropAt) {
        cache.delete(token)
        return undefined
      }
      claims = entry.claims
    } else claims = entry
    const now = ms / 1000
    const { iat, nbf, exp } = claims as { iat: number; nbf?: number; exp?: number }
    // The comparisons of checkClaims, so a hit never accepts what a full decode would refuse.
    if (
      iat > now + leeway ||
      (nbf !== undefined && nbf > now + leeway) ||
      (exp !== undefined && exp <= now - leeway)
    ) {
      cache.delete(token)
      return undefined
    }
    // A new payload per use around the shared, deeply frozen claims.
    return new TokenPayload(claims as Record<string, unknown>, clock, profileOf(claims))
  }

  function withKey(token: string, parts: JwsParts, header: CheckedHeader, entry: KeyEntry | undefined) {
    const { alg, type } = header
    if (entry === undefined) throw invalid('signature', 'No key matches the token')
    if (entry.alg !== alg) throw invalid('algorithm', 'Token algorithm does not match its key')
    if (entry.retireAt !== undefined && clock() >= entry.retireAt)
      throw invalid('signature', 'Token key is retired')
    const payloadBytes = decodeBase64url(parts.payload64)
    if (payloadBytes === undefined) throw invalid('malformed', 'Token payload is not canonical base64url')
    const valid = engine.verify(entry.alg, entry.verifyKey, parts)
    return typeof valid === 'boolean'
      ? verified(token, parts, entry, payloadBytes, type, valid)
      : valid.then((ok) => verified(token, parts, entry, payloadBytes, type, ok))
  }

  function verified(
    token: string,
    parts: JwsParts,
    entry: KeyEntry,
    payloadBytes: Uint8Array,
    typed: TokenType | undefined,
    valid: boolean,
  ): TokenPayload {
    if (!valid) throw invalid('signature', 'Token signature is invalid')
    // Checked and frozen in one walk: the payload may be handed to many callers from the cache.
    const claims = parseSegment(parts.payload64, payloadBytes, true)
    if (claims === undefined) throw invalid('malformed', 'Token payload is not a JSON object')
    checkClaims(claims, typed)
    const payload = new TokenPayload(claims, clock, profileOf(claims))
    if (tokens !== undefined) {
      let dropAt = entry.retireAt ?? Number.POSITIVE_INFINITY
      if (remoteKeys) dropAt = Math.min(dropAt, clock() + REMOTE_KEY_CACHE_MS)
      tokens.set(token, dropAt === Number.POSITIVE_INFINITY ? claims : new ExpiringClaims(claims, dropAt))
    }
    return payload
  }

  return function decode(token: unknown): TokenPayload | Promise<TokenPayload> {
    if (tokens !== undefined && typeof token === 'string') {
      const hit = cached(tokens, token)
      if (hit !== undefined) return hit
    }
    const parts = splitToken(token, maxTokenBytes)
    const header = checkedHeader(parts.header64)
    const key = resolveKey(header.alg, header.kid)
    const text = token as string
    return key instanceof Promise
      ? key.then((entry) => withKey(text, parts, header, entry))
      : withKey(text, parts, header, key)
  }
}
