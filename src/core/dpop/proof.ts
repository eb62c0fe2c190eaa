/**
 * The checks of one DPoP proof that need nothing but the proof, the request and the clock (RFC
 * 9449 section 4.3): structure, header, key, signature and claims. The nonce, the bound key and
 * the replay check are the instance's (index.ts).
 * @module
 */
import { calculateJwkThumbprint, compactVerify, importJWK, type JWK } from 'jose'
import type { Algorithm } from '../algorithms.js'
import { decodeBase64url, encodeBase64url } from '../base64url.js'
import { createNodeEngine } from '../engine/node.js'
import type { Engine } from '../engine/types.js'
import { DPoPProofError } from '../errors.js'
import type { NodeCrypto } from '../runtime.js'

type JsonWebKeyInput = Extract<Parameters<NodeCrypto['createPublicKey']>[0], { format: 'jwk' }>

import { normalHttpUri } from './htu.js'

/** Longest `DPoP` header accepted: a proof with an RSA 4096 key is about 2 KB. */
export const MAX_PROOF_LENGTH = 8192
/** Longest `jti` accepted: a client's random id, not a document. */
export const MAX_JTI_LENGTH = 256

/** The key type (and curve) each proof algorithm needs. */
interface KeyRule {
  readonly kty: 'RSA' | 'EC' | 'OKP'
  readonly crv?: string
}

const RSA: KeyRule = { kty: 'RSA' }
/** Every algorithm a proof may use: asymmetric JWS algorithms only (RFC 9449 section 4.3, check 5). */
export const PROOF_ALGORITHMS: ReadonlyMap<string, KeyRule> = new Map([
  ['ES256', { kty: 'EC', crv: 'P-256' }],
  ['ES384', { kty: 'EC', crv: 'P-384' }],
  ['ES512', { kty: 'EC', crv: 'P-521' }],
  ['EdDSA', { kty: 'OKP', crv: 'Ed25519' }],
  ['Ed25519', { kty: 'OKP', crv: 'Ed25519' }],
  ['PS256', RSA],
  ['PS384', RSA],
  ['PS512', RSA],
  ['RS256', RSA],
  ['RS384', RSA],
  ['RS512', RSA],
])

/** The public members of each key type: only these are imported and hashed. */
const PUBLIC_MEMBERS: Readonly<Record<KeyRule['kty'], readonly string[]>> = {
  RSA: ['n', 'e'],
  EC: ['crv', 'x', 'y'],
  OKP: ['crv', 'x'],
}
/** Members only a private or symmetric key has (RFC 7518 sections 6.2.2, 6.3.2, 6.4.1; RFC 8037). */
const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k', 'priv']
const MIN_RSA_BITS = 2048
/** An RSA verification costs the square of the modulus: bigger keys are a denial of service. */
const MAX_RSA_BITS = 8192
const COMPACT = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/

/** What the request says a proof must state. */
export interface ProofExpectations {
  /** The allowed algorithms. */
  readonly algorithms: ReadonlySet<string>
  /** The request method (`htm`, compared case-sensitively). */
  readonly method: string
  /** The request URL in normal form (`htu`), `undefined` when the request's URL is unknown. */
  readonly htu: string | undefined
  /** The access token the proof comes with (`ath` required), or `undefined` (`ath` ignored). */
  readonly accessToken: string | undefined
  /**
   * `ath` may be left out (and is checked when present): the access token came in an HttpOnly
   * cookie, which the page that makes the proof cannot read (docs/dpop.md, "Cookies").
   */
  readonly athOptional?: boolean | undefined
  /** Now, in seconds since the epoch. */
  readonly now: number
  /** How old `iat` may be, in seconds. */
  readonly maxAge: number
  /** How far ahead of now `iat` may be, in seconds. */
  readonly leeway: number
  /**
   * node:crypto, on Node (SPEC section 11): keys are imported once per client key and proofs
   * verified synchronously, about ten times faster than Web Crypto through jose. `undefined`:
   * jose.
   */
  readonly crypto?: NodeCrypto | undefined
}

/** A proof that passed {@link verifyProof}. */
export interface VerifiedProof {
  /** The RFC 7638 SHA-256 thumbprint of the proof's key. */
  readonly jkt: string
  readonly jti: string
  /** The `nonce` claim as sent (any type), `undefined` when absent. */
  readonly nonce: unknown
}

function refuse(reason: DPoPProofError['reason'], message: string, cause?: unknown): never {
  throw new DPoPProofError(reason, message, cause === undefined ? undefined : { cause })
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

/** A canonical base64url JSON object, or `undefined`. */
function decodeJson(part: string): Record<string, unknown> | undefined {
  const bytes = decodeBase64url(part)
  if (bytes === undefined) return undefined
  try {
    const value: unknown = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes))
    return isObject(value) ? value : undefined
  } catch {
    return undefined
  }
}

/**
 * Verifies a proof (the `DPoP` header's value) against the request and the clock: one compact
 * JWS of canonical base64url within {@link MAX_PROOF_LENGTH}; header `typ` exactly `dpop+jwt`,
 * an allowed `alg`, no `crit`, a public `jwk` of the algorithm's key type; a valid signature; and
 * claims `jti`, `htm`, `htu`, `iat` (and `ath` with an access token). Throws `DPoPProofError`.
 *
 * @example
 * ```ts
 * const { jkt, jti } = await verifyProof(request.header('dpop'), expectations)
 * ```
 */
export async function verifyProof(
  proof: string | undefined,
  expect: ProofExpectations,
): Promise<VerifiedProof> {
  if (proof === undefined) refuse('missing', 'A DPoP proof is required (DPoP header)')
  // One value only: repeated headers arrive joined with commas, and a JWS has neither commas
  // nor whitespace (RFC 9449 section 4.3, checks 1 and 2).
  if (proof.length > MAX_PROOF_LENGTH || !COMPACT.test(proof)) {
    refuse('malformed', 'The DPoP header is not one compact JWS')
  }
  const [headerPart, payloadPart, signaturePart] = proof.split('.') as [string, string, string]
  const header = decodeJson(headerPart)
  const claims = decodeJson(payloadPart)
  if (header === undefined || claims === undefined || decodeBase64url(signaturePart) === undefined) {
    refuse('malformed', 'The DPoP proof is not a JWS of JSON objects in canonical base64url')
  }
  if (header.typ !== 'dpop+jwt') refuse('typ', 'The DPoP proof header typ must be dpop+jwt')
  const alg = header.alg
  const rule = typeof alg === 'string' && expect.algorithms.has(alg) ? PROOF_ALGORITHMS.get(alg) : undefined
  if (rule === undefined) refuse('algorithm', 'The DPoP proof alg is not an allowed asymmetric algorithm')
  // An extension (such as unencoded payloads, b64) would change what the signature covers.
  if (header.crit !== undefined) refuse('malformed', 'The DPoP proof header may not have crit')
  const jwk = publicJwk(header.jwk, alg as string, rule)
  const jkt =
    expect.crypto === undefined
      ? await joseVerified(proof, jwk, alg as string)
      : nodeVerified(expect.crypto, jwk, alg as string, proof, signaturePart)
  await checkClaims(claims, expect)
  return { jkt, jti: claims.jti as string, nonce: claims.nonce }
}

/** Verifies the signature with jose (off Node); the key's thumbprint. */
async function joseVerified(proof: string, jwk: JWK, alg: string): Promise<string> {
  let key: Awaited<ReturnType<typeof importJWK>>
  try {
    key = await importJWK(jwk, alg)
  } catch (err) {
    refuse('jwk', 'The DPoP proof jwk is not a valid public key', err)
  }
  try {
    await compactVerify(proof, key, { algorithms: [alg] })
  } catch (err) {
    refuse('signature', 'The DPoP proof signature is invalid', err)
  }
  return calculateJwkThumbprint(jwk, 'sha256')
}

/** A client key imported by node:crypto, and its thumbprint. */
interface NodeKey {
  readonly key: object
  readonly jkt: string
}

/** The keys of recent clients by their RFC 7638 input: a client signs every proof with one key. */
const nodeKeys = new Map<string, NodeKey>()
/** At most this many keys are kept (public keys only; the oldest goes first). */
const MAX_NODE_KEYS = 1024
const engines = new WeakMap<NodeCrypto, Engine>()

/** Verifies the signature with node:crypto; the key's thumbprint. Synchronous. */
function nodeVerified(crypto: NodeCrypto, jwk: JWK, alg: string, proof: string, signature64: string): string {
  // RFC 7638: the required members in lexicographic order, no whitespace; `jwk` holds just them.
  const input = JSON.stringify(Object.fromEntries(Object.entries(jwk).sort(([a], [b]) => (a < b ? -1 : 1))))
  let entry = nodeKeys.get(input)
  if (entry === undefined) {
    let key: object
    try {
      key = crypto.createPublicKey({ key: jwk as JsonWebKeyInput['key'], format: 'jwk' })
    } catch (err) {
      refuse('jwk', 'The DPoP proof jwk is not a valid public key', err)
    }
    entry = { key, jkt: crypto.createHash('sha256').update(input).digest('base64url') }
    if (nodeKeys.size >= MAX_NODE_KEYS) nodeKeys.delete(nodeKeys.keys().next().value as string)
    nodeKeys.set(input, entry)
  }
  let engine = engines.get(crypto)
  if (engine === undefined) {
    engine = createNodeEngine(crypto)
    engines.set(crypto, engine)
  }
  const end = proof.length - signature64.length - 1
  const parts = {
    signingInput: proof.slice(0, end),
    header64: '',
    payload64: '',
    signature64,
    signature: decodeBase64url(signature64) as Uint8Array,
  }
  // The engine knows Ed25519 as EdDSA, the name authx tokens use.
  const engineAlg = (alg === 'Ed25519' ? 'EdDSA' : alg) as Algorithm
  if (engine.verify(engineAlg, entry.key, parts) !== true) {
    refuse('signature', 'The DPoP proof signature is invalid')
  }
  return entry.jkt
}

/**
 * The header's `jwk` reduced to its public members, after checking that it is a public key
 * (RFC 9449 section 4.3, check 7) of the key type (and curve, and size) `alg` needs.
 */
function publicJwk(value: unknown, alg: string, rule: KeyRule): JWK {
  if (!isObject(value)) refuse('jwk', 'The DPoP proof header needs a jwk')
  for (const member of PRIVATE_MEMBERS) {
    if (Object.hasOwn(value, member)) refuse('jwk', 'The DPoP proof jwk must be a public key')
  }
  if (value.kty !== rule.kty || (rule.crv !== undefined && value.crv !== rule.crv)) {
    refuse('jwk', 'The DPoP proof jwk does not fit its alg')
  }
  // A key that names another algorithm or use was not meant for this (RFC 7517 section 4).
  if ((value.alg !== undefined && value.alg !== alg) || (value.use !== undefined && value.use !== 'sig')) {
    refuse('jwk', 'The DPoP proof jwk is meant for another algorithm or use')
  }
  const jwk: JWK = { kty: rule.kty }
  for (const member of PUBLIC_MEMBERS[rule.kty]) {
    const part = value[member]
    if (typeof part !== 'string' || (member !== 'crv' && decodeBase64url(part) === undefined)) {
      refuse('jwk', 'The DPoP proof jwk is incomplete')
    }
    ;(jwk as Record<string, string>)[member] = part
  }
  if (rule.kty === 'RSA') {
    const bits = bitLength(decodeBase64url(jwk.n as string) as Uint8Array)
    if (bits < MIN_RSA_BITS || bits > MAX_RSA_BITS)
      refuse('jwk', 'The DPoP proof RSA key size is not allowed')
  }
  return jwk
}

function bitLength(bytes: Uint8Array): number {
  let start = 0
  while (start < bytes.length && bytes[start] === 0) start++
  if (start === bytes.length) return 0
  return (bytes.length - start - 1) * 8 + (32 - Math.clz32(bytes[start] as number))
}

/** The claims of RFC 9449 section 4.2, checked against the request (section 4.3, checks 8 to 12). */
async function checkClaims(claims: Record<string, unknown>, expect: ProofExpectations): Promise<void> {
  const { jti, htm, htu, iat } = claims
  if (typeof jti !== 'string' || jti.length === 0 || jti.length > MAX_JTI_LENGTH) {
    refuse('jti', `The DPoP proof needs a jti of 1 to ${MAX_JTI_LENGTH} characters`)
  }
  if (typeof htm !== 'string' || htm !== expect.method) {
    refuse('htm', 'The DPoP proof htm does not match the request method')
  }
  if (expect.htu === undefined)
    refuse('htu', 'The request URL is unknown, so the DPoP proof htu cannot be checked')
  if (typeof htu !== 'string' || normalHttpUri(htu) !== expect.htu) {
    refuse('htu', 'The DPoP proof htu does not match the request URL')
  }
  if (typeof iat !== 'number') refuse('iat', 'The DPoP proof needs a numeric iat')
  if (iat < expect.now - expect.maxAge || iat > expect.now + expect.leeway) {
    refuse('iat', 'The DPoP proof iat is outside the accepted window')
  }
  if (
    expect.accessToken !== undefined &&
    !(expect.athOptional === true && claims.ath === undefined) &&
    claims.ath !==
      (expect.crypto === undefined
        ? await accessTokenHash(expect.accessToken)
        : expect.crypto.createHash('sha256').update(expect.accessToken).digest('base64url'))
  ) {
    refuse('ath', 'The DPoP proof ath does not match the access token')
  }
}

/**
 * `ath`: base64url of the SHA-256 of the access token's ASCII (RFC 9449 section 4.2).
 *
 * @example
 * ```ts
 * await accessTokenHash('Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU') // 'fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo'
 * ```
 */
export async function accessTokenHash(token: string): Promise<string> {
  const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(token))
  return encodeBase64url(new Uint8Array(digest))
}
