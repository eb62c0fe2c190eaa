/**
 * Key import and validation. Every key is imported once, at construction: synchronously through
 * node:crypto on Node (so a bad key is a `ConfigError` from `new AuthX()`), through jose
 * elsewhere (then a bad PEM surfaces as a `ConfigError` from the first call that needs it).
 * @module
 */
import {
  exportJWK,
  importJWK,
  importPKCS8,
  importSPKI,
  importX509,
  type CryptoKey as JoseCryptoKey,
  type KeyObject as JoseKeyObject,
  type JWK,
} from 'jose'
import { ALGORITHMS, type Algorithm, type AlgorithmInfo } from './algorithms.js'
import { encodeBase64url } from './base64url.js'
import type { EngineKey } from './engine/types.js'
import { ConfigError } from './errors.js'
import type { NodeCrypto } from './runtime.js'

type KeyObject = import('node:crypto').KeyObject

/** A key as users give it: PEM string, JWK object, Node `KeyObject` or Web `CryptoKey`. */
// jose's runtime-neutral key types: the published .d.ts needs neither the DOM lib nor @types/node.
export type KeyInput = string | JWK | JoseCryptoKey | JoseKeyObject

/** One key's settings, already checked for shape by the config module. */
export interface KeySpec {
  /** Option path used in error messages, e.g. `''` or `'keys[1].'`. */
  readonly path: string
  readonly alg: Algorithm
  readonly kid: string | undefined
  readonly secretKey: string | Uint8Array | undefined
  readonly privateKey: KeyInput | undefined
  readonly publicKey: KeyInput | undefined
  /** Milliseconds since the epoch after which the key no longer verifies nor signs. */
  readonly retireAt: number | undefined
}

/** An imported key. */
export interface KeyEntry {
  readonly kid: string | undefined
  readonly alg: Algorithm
  readonly signKey: EngineKey | undefined
  readonly verifyKey: EngineKey
  /** The public JWK (with `kid`, `alg`, `use`) for `auth.jwks()`; none for HMAC keys. */
  readonly publicJwk: Readonly<JWK> | undefined
  readonly retireAt: number | undefined
}

const PRIVATE_JWK_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'] as const
const PRIVATE_PEM = /-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----/

/**
 * Imports one key spec with node:crypto, synchronously.
 *
 * @example
 * ```ts
 * const entry = importKeyNode(spec, nodeCrypto()!)
 * ```
 */
export function importKeyNode(spec: KeySpec, crypto: NodeCrypto): KeyEntry {
  const info = ALGORITHMS.get(spec.alg)!
  if (info.family === 'HS') {
    const secret = crypto.createSecretKey(secretBytes(spec, info))
    return {
      kid: spec.kid,
      alg: spec.alg,
      signKey: secret,
      verifyKey: secret,
      publicJwk: undefined,
      retireAt: spec.retireAt,
    }
  }
  rejectSecretForAsymmetric(spec)
  const privateKey =
    spec.privateKey === undefined
      ? undefined
      : nodeKey(crypto, spec.privateKey, 'private', `${spec.path}privateKey`)
  const publicKey =
    spec.publicKey === undefined
      ? privateKey && crypto.createPublicKey(privateKey)
      : nodeKey(crypto, spec.publicKey, 'public', `${spec.path}publicKey`)
  if (publicKey === undefined) {
    throw new ConfigError(`${spec.path}publicKey: ${spec.alg} needs a publicKey or a privateKey`)
  }
  if (privateKey) checkNodeAsymmetric(privateKey, spec, info, `${spec.path}privateKey`)
  checkNodeAsymmetric(
    publicKey,
    spec,
    info,
    spec.publicKey === undefined ? `${spec.path}privateKey` : `${spec.path}publicKey`,
  )
  const jwk = publicJwkNode(publicKey, crypto)
  if (privateKey && spec.publicKey !== undefined) {
    const derived = publicJwkNode(crypto.createPublicKey(privateKey), crypto)
    if (thumbprintNode(derived, crypto) !== thumbprintNode(jwk, crypto)) {
      throw new ConfigError(`${spec.path}publicKey: does not belong to ${spec.path}privateKey`)
    }
  }
  const kid = spec.kid ?? thumbprintNode(jwk, crypto)
  return {
    kid,
    alg: spec.alg,
    signKey: privateKey,
    verifyKey: publicKey,
    publicJwk: publicJwkOf(jwk, kid, spec.alg),
    retireAt: spec.retireAt,
  }
}

/**
 * Imports one key spec with jose (Web Crypto), for runtimes without node:crypto.
 *
 * @example
 * ```ts
 * const entry = await importKeyWeb(spec)
 * ```
 */
export async function importKeyWeb(spec: KeySpec): Promise<KeyEntry> {
  const info = ALGORITHMS.get(spec.alg)!
  if (info.family === 'HS') {
    const secret = secretBytes(spec, info)
    return {
      kid: spec.kid,
      alg: spec.alg,
      signKey: secret,
      verifyKey: secret,
      publicJwk: undefined,
      retireAt: spec.retireAt,
    }
  }
  rejectSecretForAsymmetric(spec)
  const privateKey =
    spec.privateKey === undefined
      ? undefined
      : await webKey(spec.privateKey, 'private', spec, `${spec.path}privateKey`)
  let publicKey: CryptoKey
  if (spec.publicKey !== undefined) {
    publicKey = await webKey(spec.publicKey, 'public', spec, `${spec.path}publicKey`)
  } else if (privateKey !== undefined) {
    if (!privateKey.extractable) {
      throw new ConfigError(`${spec.path}publicKey: required with a non-extractable privateKey`)
    }
    const full = await exportJWK(privateKey)
    for (const member of PRIVATE_JWK_MEMBERS) delete full[member]
    publicKey = (await importJWK({ ...full, alg: spec.alg }, spec.alg, { extractable: true })) as CryptoKey
  } else {
    throw new ConfigError(`${spec.path}publicKey: ${spec.alg} needs a publicKey or a privateKey`)
  }
  const jwk = publicKey.extractable ? await exportJWK(publicKey) : undefined
  if (privateKey?.extractable && spec.publicKey !== undefined && jwk !== undefined) {
    const derived = await exportJWK(privateKey)
    if ((await thumbprintWeb(derived)) !== (await thumbprintWeb(jwk))) {
      throw new ConfigError(`${spec.path}publicKey: does not belong to ${spec.path}privateKey`)
    }
  }
  const kid = spec.kid ?? (jwk ? await thumbprintWeb(jwk) : undefined)
  return {
    kid,
    alg: spec.alg,
    signKey: privateKey,
    verifyKey: publicKey,
    publicJwk: jwk && publicJwkOf(jwk, kid, spec.alg),
    retireAt: spec.retireAt,
  }
}

/**
 * The checks that need no key parsing, run synchronously at construction on every runtime:
 * secret presence and length, key options that do not fit the algorithm, and JWK/PEM/CryptoKey
 * material of the wrong kind (private where public is needed and the reverse).
 *
 * @example
 * ```ts
 * checkKeySpec(spec) // throws ConfigError naming the option
 * ```
 */
export function checkKeySpec(spec: KeySpec): void {
  const info = ALGORITHMS.get(spec.alg)!
  if (info.family === 'HS') {
    secretBytes(spec, info)
    return
  }
  rejectSecretForAsymmetric(spec)
  // As the node:crypto import does, so both engines refuse a missing key in the constructor.
  if (spec.privateKey === undefined && spec.publicKey === undefined)
    throw new ConfigError(`${spec.path}publicKey: ${spec.alg} needs a publicKey or a privateKey`)
  for (const [input, want] of [
    [spec.privateKey, 'private'],
    [spec.publicKey, 'public'],
  ] as const) {
    if (input === undefined) continue
    const path = `${spec.path}${want}Key`
    if (isPlainObject(input)) checkJwkKind(input, want, path)
    else if (typeof input === 'string' && want === 'public' && PRIVATE_PEM.test(input)) {
      throw new ConfigError(`${path}: holds a private key; give the public key`)
    } else if (isCryptoKey(input) && input.type !== want) {
      throw new ConfigError(`${path}: expected a ${want} key, got a ${input.type} key`)
    }
  }
}

function secretBytes(spec: KeySpec, info: AlgorithmInfo): Uint8Array {
  if (spec.privateKey !== undefined || spec.publicKey !== undefined) {
    const given = spec.privateKey !== undefined ? 'privateKey' : 'publicKey'
    throw new ConfigError(`${spec.path}${given}: ${spec.alg} uses secretKey, not privateKey/publicKey`)
  }
  const secret = spec.secretKey
  if (secret === undefined) throw new ConfigError(`${spec.path}secretKey: required for ${spec.alg}`)
  const bytes = typeof secret === 'string' ? new TextEncoder().encode(secret) : secret
  if (typeof secret === 'string' && secret.trim() === '') {
    throw new ConfigError(`${spec.path}secretKey: must not be empty or blank`)
  }
  // RFC 7518 section 3.2: the key must be at least as long as the hash output. No opt-out.
  if (bytes.length < info.minSecretBytes) {
    throw new ConfigError(
      `${spec.path}secretKey: ${spec.alg} needs at least ${info.minSecretBytes} bytes, got ${bytes.length}`,
    )
  }
  return Uint8Array.from(bytes)
}

function rejectSecretForAsymmetric(spec: KeySpec): void {
  if (spec.secretKey !== undefined) {
    throw new ConfigError(
      `${spec.path}secretKey: ${spec.alg} is asymmetric; give privateKey/publicKey instead`,
    )
  }
}

/** A Node `KeyObject` seen from code that must not import node:crypto (the jose path). */
function isKeyObjectLike(value: unknown): value is { export(options: { format: 'jwk' }): unknown } {
  return (
    typeof value === 'object' &&
    value !== null &&
    !isPlainObject(value) &&
    typeof (value as { export?: unknown }).export === 'function' &&
    ['private', 'public'].includes((value as { type?: unknown }).type as string)
  )
}

function isCryptoKey(value: unknown): value is CryptoKey {
  return typeof CryptoKey !== 'undefined' && value instanceof CryptoKey
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null) return false
  const proto = Object.getPrototypeOf(value)
  return proto === Object.prototype || proto === null
}

function checkJwkKind(jwk: Record<string, unknown>, want: 'private' | 'public', path: string): void {
  const isPrivate = PRIVATE_JWK_MEMBERS.some((m) => m in jwk)
  if (jwk.kty === 'oct') throw new ConfigError(`${path}: a symmetric (oct) JWK is not an asymmetric key`)
  if (want === 'public' && isPrivate)
    throw new ConfigError(`${path}: holds private key material; give the public key`)
  if (want === 'private' && !isPrivate)
    throw new ConfigError(`${path}: expected a private key, got a public key`)
}

function nodeKey(crypto: NodeCrypto, input: KeyInput, want: 'private' | 'public', path: string): KeyObject {
  let key: KeyObject
  try {
    if (input instanceof crypto.KeyObject) key = input
    else if (isCryptoKey(input)) key = crypto.KeyObject.from(input)
    else if (typeof input === 'string') {
      if (want === 'public' && PRIVATE_PEM.test(input)) {
        throw new ConfigError(`${path}: holds a private key; give the public key`)
      }
      key = want === 'public' ? crypto.createPublicKey(input) : crypto.createPrivateKey(input)
    } else if (isPlainObject(input)) {
      checkJwkKind(input, want, path)
      const jwk = input as import('node:crypto').JsonWebKey
      key =
        want === 'public'
          ? crypto.createPublicKey({ key: jwk, format: 'jwk' })
          : crypto.createPrivateKey({ key: jwk, format: 'jwk' })
    } else {
      throw new ConfigError(`${path}: expected a PEM string, JWK object, KeyObject or CryptoKey`)
    }
  } catch (err) {
    if (err instanceof ConfigError) throw err
    // Node's import errors describe the format problem, never the key bytes.
    throw new ConfigError(`${path}: could not be imported as a ${want} key`, { cause: err })
  }
  if (key.type !== want) throw new ConfigError(`${path}: expected a ${want} key, got a ${key.type} key`)
  return key
}

function checkNodeAsymmetric(key: KeyObject, spec: KeySpec, info: AlgorithmInfo, path: string): void {
  const type = key.asymmetricKeyType
  const details = key.asymmetricKeyDetails ?? {}
  checkKeyShape(
    spec.alg,
    info,
    path,
    type === 'rsa'
      ? 'RSA'
      : type === 'rsa-pss'
        ? 'RSA-PSS'
        : type === 'ec'
          ? 'EC'
          : type === 'ed25519'
            ? 'Ed25519'
            : String(type),
    details.modulusLength,
    type === 'ec' ? nodeCurveToCrv(details.namedCurve) : undefined,
  )
  // An RSA-PSS key may be bound to one hash: it must be the algorithm's, or signing fails later.
  if (type === 'rsa-pss' && details.hashAlgorithm !== undefined) {
    const want = `sha${spec.alg.slice(2)}`
    if (details.hashAlgorithm !== want || (details.mgf1HashAlgorithm ?? want) !== want) {
      throw new ConfigError(
        `${path}: this RSA-PSS key is restricted to ${details.hashAlgorithm}; ${spec.alg} needs ${want}`,
      )
    }
  }
}

function nodeCurveToCrv(curve: string | undefined): string | undefined {
  for (const info of ALGORITHMS.values()) if (info.curve === curve) return info.crv
  return curve
}

/** One rule for both engines: the key's kind, RSA size and EC curve must fit the algorithm. */
function checkKeyShape(
  alg: Algorithm,
  info: AlgorithmInfo,
  path: string,
  kind: string,
  modulusLength: number | undefined,
  crv: string | undefined,
): void {
  if (info.family === 'RS' || info.family === 'PS') {
    // An RSA-PSS key (OID id-RSASSA-PSS) can only make PSS signatures: PS* yes, RS* no.
    const fits = kind === 'RSA' || (kind === 'RSA-PSS' && info.family === 'PS')
    if (!fits) throw new ConfigError(`${path}: ${alg} needs an RSA key, got ${kind}`)
    // RFC 7518 section 3.3: 2048 bits or more.
    if (modulusLength === undefined || modulusLength < 2048) {
      throw new ConfigError(`${path}: RSA keys must be at least 2048 bits, got ${modulusLength ?? 'unknown'}`)
    }
  } else if (info.family === 'ES') {
    if (kind !== 'EC') throw new ConfigError(`${path}: ${alg} needs an EC key, got ${kind}`)
    if (crv !== info.crv)
      throw new ConfigError(`${path}: ${alg} needs curve ${info.crv}, got ${crv ?? 'unknown'}`)
  } else if (info.family === 'EdDSA' && kind !== 'Ed25519') {
    throw new ConfigError(`${path}: EdDSA needs an Ed25519 key, got ${kind}`)
  }
}

async function webKey(
  input: KeyInput,
  want: 'private' | 'public',
  spec: KeySpec,
  path: string,
): Promise<CryptoKey> {
  let key: CryptoKey
  try {
    if (isKeyObjectLike(input)) input = input.export({ format: 'jwk' }) as JWK
    if (isCryptoKey(input)) key = input
    else if (typeof input === 'string') {
      const pem = input.trim()
      if (want === 'public' && PRIVATE_PEM.test(pem)) {
        throw new ConfigError(`${path}: holds a private key; give the public key`)
      }
      if (want === 'private') key = await importPKCS8(pem, spec.alg, { extractable: true })
      else if (pem.startsWith('-----BEGIN CERTIFICATE-----'))
        key = await importX509(pem, spec.alg, { extractable: true })
      else key = await importSPKI(pem, spec.alg, { extractable: true })
    } else if (isPlainObject(input)) {
      checkJwkKind(input, want, path)
      key = (await importJWK({ ...(input as JWK), alg: spec.alg }, spec.alg, {
        extractable: true,
      })) as CryptoKey
    } else {
      throw new ConfigError(`${path}: expected a PEM string, JWK object or CryptoKey`)
    }
  } catch (err) {
    if (err instanceof ConfigError) throw err
    throw new ConfigError(`${path}: could not be imported as a ${want} key for ${spec.alg}`, { cause: err })
  }
  if (key.type !== want) throw new ConfigError(`${path}: expected a ${want} key, got a ${key.type} key`)
  const algorithm = key.algorithm as { name: string; modulusLength?: number; namedCurve?: string }
  const kind = algorithm.name.startsWith('RS') ? 'RSA' : algorithm.name === 'ECDSA' ? 'EC' : algorithm.name
  checkKeyShape(
    spec.alg,
    ALGORITHMS.get(spec.alg)!,
    path,
    kind,
    algorithm.modulusLength,
    algorithm.namedCurve,
  )
  return key
}

const THUMBPRINT_MEMBERS: Record<string, readonly string[]> = {
  RSA: ['e', 'kty', 'n'],
  EC: ['crv', 'kty', 'x', 'y'],
  OKP: ['crv', 'kty', 'x'],
}

function thumbprintInput(jwk: JWK): string {
  const members = THUMBPRINT_MEMBERS[jwk.kty ?? ''] ?? []
  // RFC 7638: required members only, lexicographic order, no whitespace.
  return JSON.stringify(Object.fromEntries(members.map((m) => [m, (jwk as Record<string, unknown>)[m]])))
}

function thumbprintNode(jwk: JWK, crypto: NodeCrypto): string {
  return crypto.createHash('sha256').update(thumbprintInput(jwk)).digest('base64url')
}

async function thumbprintWeb(jwk: JWK): Promise<string> {
  const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(thumbprintInput(jwk)))
  return encodeBase64url(new Uint8Array(digest))
}

function publicJwkOf(jwk: JWK, kid: string | undefined, alg: Algorithm): Readonly<JWK> {
  const members = THUMBPRINT_MEMBERS[jwk.kty ?? ''] ?? []
  const out: JWK = {}
  for (const m of members) (out as Record<string, unknown>)[m] = (jwk as Record<string, unknown>)[m]
  if (kid !== undefined) out.kid = kid
  out.alg = alg
  out.use = 'sig'
  return Object.freeze(out)
}

/**
 * The public JWK of a key. Node cannot export an RSA-PSS key (OID id-RSASSA-PSS) as a JWK, but
 * its subjectPublicKey is the same PKCS#1 RSAPublicKey as a plain RSA key's: that is read out of
 * the SPKI and exported as `kty: 'RSA'` (what JWK has for PS* keys, RFC 7518 section 6.3).
 */
function publicJwkNode(key: KeyObject, crypto: NodeCrypto): JWK {
  if (key.asymmetricKeyType !== 'rsa-pss') return key.export({ format: 'jwk' }) as JWK
  const spki = key.export({ format: 'der', type: 'spki' })
  const pkcs1 = derBitStringOfSpki(spki)
  return crypto
    .createPublicKey({ key: Buffer.from(pkcs1), format: 'der', type: 'pkcs1' })
    .export({ format: 'jwk' }) as JWK
}

/** The contents of the subjectPublicKey BIT STRING of a DER SubjectPublicKeyInfo. */
function derBitStringOfSpki(der: Uint8Array): Uint8Array {
  let at = 0
  const header = (tag: number): number => {
    if (der[at] !== tag) throw new ConfigError('publicKey: unexpected SPKI structure')
    at++
    let length = der[at++]!
    if (length & 0x80) {
      const bytes = length & 0x7f
      length = 0
      for (let i = 0; i < bytes; i++) length = length * 256 + der[at++]!
    }
    return length
  }
  header(0x30) // SubjectPublicKeyInfo
  const algorithmLength = header(0x30) // AlgorithmIdentifier: skipped
  at += algorithmLength
  const length = header(0x03) // subjectPublicKey
  return der.subarray(at + 1, at + length) // after the unused-bits byte
}
