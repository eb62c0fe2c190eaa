/**
 * Strict compact-JWS decoding and claim validation (docs/security.md, "Strict decoding"). Every
 * failure is an `InvalidTokenError` (or `TokenExpiredError`) with its reason; nothing else is
 * ever thrown for a bad token, and the message never contains the token.
 * @module
 */
import { type Algorithm, algorithmInfo } from './algorithms.js'
import { decodeBase64url } from './base64url.js'
import type { Engine, JwsParts } from './engine/types.js'
import { InvalidTokenError, type InvalidTokenReason, TokenExpiredError } from './errors.js'
import type { KeyEntry } from './keys.js'
import { TokenPayload } from './payload.js'

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

function invalid(reason: InvalidTokenReason, message: string): InvalidTokenError {
  return new InvalidTokenError(reason, message)
}

function isJsonObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

/** Walks parsed JSON without recursion: no `__proto__` key anywhere, bounded depth. */
function isSafeTree(root: Record<string, unknown>): boolean {
  const stack: [unknown, number][] = [[root, 1]]
  while (stack.length > 0) {
    const [node, depth] = stack.pop()!
    if (typeof node !== 'object' || node === null) continue
    if (depth > MAX_JSON_DEPTH) return false
    if (!Array.isArray(node) && Object.hasOwn(node, '__proto__')) return false
    for (const child of Object.values(node)) {
      if (typeof child === 'object' && child !== null) stack.push([child, depth + 1])
    }
  }
  return true
}

/**
 * Decodes one base64url JSON-object segment strictly, or returns `undefined`: non-canonical
 * base64url, invalid UTF-8, invalid JSON, a non-object, a `__proto__` key or deep nesting.
 */
export function parseSegment(
  segment: string,
  bytes = decodeBase64url(segment),
): Record<string, unknown> | undefined {
  if (bytes === undefined) return undefined
  let value: unknown
  try {
    value = JSON.parse(utf8.decode(bytes))
  } catch {
    return undefined
  }
  return isJsonObject(value) && isSafeTree(value) ? value : undefined
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
  if (typeof token !== 'string') throw invalid('malformed', 'Token must be a string')
  // Size first, before any decoding work (valid tokens are ASCII, so length equals bytes).
  if (token.length > maxTokenBytes) throw invalid('too_large', `Token exceeds ${maxTokenBytes} bytes`)
  const first = token.indexOf('.')
  const second = first < 0 ? -1 : token.indexOf('.', first + 1)
  if (first <= 0 || second < 0 || second === first + 1 || token.indexOf('.', second + 1) >= 0) {
    throw invalid('malformed', 'Token must have three non-empty segments')
  }
  const header64 = token.slice(0, first)
  const payload64 = token.slice(first + 1, second)
  const signature64 = token.slice(second + 1)
  const signature = signature64.length === 0 ? undefined : decodeBase64url(signature64)
  if (signature === undefined) throw invalid('malformed', 'Token signature is not canonical base64url')
  const header = parseSegment(header64)
  if (header === undefined) throw invalid('malformed', 'Token header is not a base64url JSON object')
  return {
    header,
    parts: { signingInput: token.slice(0, second), header64, payload64, signature64, signature },
  }
}

function finite(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value)
}

function nonEmptyString(value: unknown): value is string {
  return typeof value === 'string' && value.length > 0
}

/**
 * Builds the decoder: the function behind `auth.decodeToken`.
 *
 * @example
 * ```ts
 * const decode = createDecoder(settings, resolveKey, engine)
 * const payload = await decode(token)
 * ```
 */
export function createDecoder(
  settings: DecodeSettings,
  resolveKey: KeyResolver,
  engine: Engine,
): (token: unknown) => Promise<TokenPayload> {
  const { algorithms, maxTokenBytes, leeway, issuer, audience, requireExp, clock } = settings

  function checkClaims(claims: Record<string, unknown>): void {
    const type = claims.type
    if (type !== 'access' && type !== 'refresh')
      throw invalid('claims', "Claim 'type' must be 'access' or 'refresh'")
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
    for (const name of ['csrf', 'fid', 'iss'] as const) {
      if (claims[name] !== undefined && typeof claims[name] !== 'string') {
        throw invalid('claims', `Claim '${name}' must be a string`)
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

  return async function decode(token: unknown): Promise<TokenPayload> {
    const { header, parts } = parseToken(token, maxTokenBytes)
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
    const entry = await resolveKey(alg as Algorithm, kid)
    if (entry === undefined) throw invalid('signature', 'No key matches the token')
    if (entry.alg !== alg) throw invalid('algorithm', 'Token algorithm does not match its key')
    if (entry.retireAt !== undefined && clock() >= entry.retireAt)
      throw invalid('signature', 'Token key is retired')
    const payloadBytes = decodeBase64url(parts.payload64)
    if (payloadBytes === undefined) throw invalid('malformed', 'Token payload is not canonical base64url')
    if (!(await engine.verify(entry.alg, entry.verifyKey, parts))) {
      throw invalid('signature', 'Token signature is invalid')
    }
    const claims = parseSegment(parts.payload64, payloadBytes)
    if (claims === undefined) throw invalid('malformed', 'Token payload is not a JSON object')
    checkClaims(claims)
    return new TokenPayload(claims, clock)
  }
}
