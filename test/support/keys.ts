/**
 * Key fixtures for tests, generated at test time (no key files in the repository) and cached per
 * process, plus an independent node:crypto JWS signer for hand-built tokens.
 */
import {
  createHmac,
  generateKeyPairSync,
  type KeyObject,
  constants as nodeConstants,
  randomBytes,
  sign,
} from 'node:crypto'
import type { JWK } from 'jose'

export const HMAC_ALGORITHMS = ['HS256', 'HS384', 'HS512'] as const
export const ASYMMETRIC_ALGORITHMS = [
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
  'ES256',
  'ES384',
  'ES512',
  'EdDSA',
] as const
export const ALGORITHMS = [...HMAC_ALGORITHMS, ...ASYMMETRIC_ALGORITHMS] as const

export type HmacAlg = (typeof HMAC_ALGORITHMS)[number]
export type AsymmetricAlg = (typeof ASYMMETRIC_ALGORITHMS)[number]
export type Alg = (typeof ALGORITHMS)[number]

/** The ways a user can hand over an asymmetric key. */
export const KEY_FORMS = ['pem', 'jwk', 'keyobject', 'cryptokey'] as const
export type KeyForm = (typeof KEY_FORMS)[number]

export type KeyKind = 'rsa2048' | 'rsa1024' | 'p256' | 'p384' | 'p521' | 'ed25519'

export interface KeyPair {
  readonly privateKey: KeyObject
  readonly publicKey: KeyObject
}

/** Minimum HMAC secret length in bytes (RFC 7518 section 3.2). */
export const MIN_SECRET_BYTES: Record<HmacAlg, number> = { HS256: 32, HS384: 48, HS512: 64 }

const HASH: Record<Alg, 'sha256' | 'sha384' | 'sha512' | null> = {
  HS256: 'sha256',
  HS384: 'sha384',
  HS512: 'sha512',
  RS256: 'sha256',
  RS384: 'sha384',
  RS512: 'sha512',
  PS256: 'sha256',
  PS384: 'sha384',
  PS512: 'sha512',
  ES256: 'sha256',
  ES384: 'sha384',
  ES512: 'sha512',
  EdDSA: null,
}

const pairs = new Map<string, KeyPair>()

/**
 * A key pair of the given kind. `slot` picks one of several distinct pairs of the same kind
 * (slot 0 is the default, other slots are "some other key").
 */
export function keyPair(kind: KeyKind, slot = 0): KeyPair {
  const id = `${kind}#${slot}`
  let pair = pairs.get(id)
  if (pair === undefined) {
    switch (kind) {
      case 'rsa2048':
        pair = generateKeyPairSync('rsa', { modulusLength: 2048 })
        break
      case 'rsa1024':
        pair = generateKeyPairSync('rsa', { modulusLength: 1024 })
        break
      case 'p256':
        pair = generateKeyPairSync('ec', { namedCurve: 'P-256' })
        break
      case 'p384':
        pair = generateKeyPairSync('ec', { namedCurve: 'P-384' })
        break
      case 'p521':
        pair = generateKeyPairSync('ec', { namedCurve: 'P-521' })
        break
      case 'ed25519':
        pair = generateKeyPairSync('ed25519')
        break
    }
    pairs.set(id, pair)
  }
  return pair
}

/** The kind of key an asymmetric algorithm needs. */
export function kindFor(alg: AsymmetricAlg): KeyKind {
  if (alg.startsWith('RS') || alg.startsWith('PS')) return 'rsa2048'
  if (alg === 'ES256') return 'p256'
  if (alg === 'ES384') return 'p384'
  if (alg === 'ES512') return 'p521'
  return 'ed25519'
}

/** A key pair that fits `alg`. */
export function keyPairFor(alg: AsymmetricAlg, slot = 0): KeyPair {
  return keyPair(kindFor(alg), slot)
}

export function isHmacAlg(alg: Alg): alg is HmacAlg {
  return alg.startsWith('HS')
}

const secrets = new Map<string, string>()

/** A random ASCII secret of exactly the minimum length for `alg` (one per slot, cached). */
export function secretFor(alg: HmacAlg, slot = 0): string {
  const id = `${alg}#${slot}`
  let secret = secrets.get(id)
  if (secret === undefined) {
    secret = randomBytes(MIN_SECRET_BYTES[alg]).toString('base64url').slice(0, MIN_SECRET_BYTES[alg])
    secrets.set(id, secret)
  }
  return secret
}

export function pemOf(pair: KeyPair): { privateKey: string; publicKey: string } {
  return {
    privateKey: pair.privateKey.export({ format: 'pem', type: 'pkcs8' }) as string,
    publicKey: pair.publicKey.export({ format: 'pem', type: 'spki' }) as string,
  }
}

export function jwkOf(pair: KeyPair): { privateKey: JWK; publicKey: JWK } {
  return {
    privateKey: pair.privateKey.export({ format: 'jwk' }) as JWK,
    publicKey: pair.publicKey.export({ format: 'jwk' }) as JWK,
  }
}

/** Web Crypto import parameters that bind a key to `alg`. */
export function webCryptoParams(alg: AsymmetricAlg): RsaHashedImportParams | EcKeyImportParams | Algorithm {
  const hash = `SHA-${alg.slice(2)}`
  if (alg.startsWith('RS')) return { name: 'RSASSA-PKCS1-v1_5', hash }
  if (alg.startsWith('PS')) return { name: 'RSA-PSS', hash }
  if (alg === 'EdDSA') return { name: 'Ed25519' }
  return { name: 'ECDSA', namedCurve: `P-${alg === 'ES512' ? '521' : alg.slice(2)}` }
}

/** The pair as Web `CryptoKey`s made with `crypto.subtle.importKey` (Node 20 has no `toCryptoKey`). */
export async function cryptoKeysOf(
  alg: AsymmetricAlg,
  pair: KeyPair,
  { extractable = true }: { extractable?: boolean } = {},
): Promise<{ privateKey: CryptoKey; publicKey: CryptoKey }> {
  const params = webCryptoParams(alg)
  const pkcs8 = Uint8Array.from(pair.privateKey.export({ format: 'der', type: 'pkcs8' }))
  const spki = Uint8Array.from(pair.publicKey.export({ format: 'der', type: 'spki' }))
  return {
    privateKey: await globalThis.crypto.subtle.importKey('pkcs8', pkcs8, params, extractable, ['sign']),
    publicKey: await globalThis.crypto.subtle.importKey('spki', spki, params, true, ['verify']),
  }
}

export type KeyInputPair = { privateKey: unknown; publicKey: unknown }

/** The pair in one of the forms users give keys in. */
export async function keysIn(
  form: KeyForm,
  alg: AsymmetricAlg,
  pair = keyPairFor(alg),
): Promise<KeyInputPair> {
  switch (form) {
    case 'pem':
      return pemOf(pair)
    case 'jwk':
      return jwkOf(pair)
    case 'keyobject':
      return { privateKey: pair.privateKey, publicKey: pair.publicKey }
    case 'cryptokey':
      return cryptoKeysOf(alg, pair)
  }
}

/** `new AuthX` key options for `alg` with the default key of its kind (PEM for asymmetric keys). */
export function keyOptions(alg: Alg, slot = 0): Record<string, unknown> {
  if (isHmacAlg(alg)) return { algorithm: alg, secretKey: secretFor(alg, slot) }
  return { algorithm: alg, ...pemOf(keyPairFor(alg, slot)) }
}

export function base64urlJson(value: unknown): string {
  return Buffer.from(JSON.stringify(value), 'utf8').toString('base64url')
}

/**
 * Signs a compact JWS with node:crypto directly, independent of authx's engines: an oracle for
 * hand-built tokens (other issuers, missing `kid`, odd claims).
 */
export function signToken(
  alg: Alg,
  key: string | Uint8Array | KeyObject,
  header: Record<string, unknown>,
  payload: Record<string, unknown>,
): string {
  const input = `${base64urlJson(header)}.${base64urlJson(payload)}`
  const data = Buffer.from(input, 'latin1')
  const hash = HASH[alg]
  let signature: Buffer
  if (isHmacAlg(alg)) {
    signature = createHmac(hash!, key as string | Uint8Array)
      .update(data)
      .digest()
  } else if (alg.startsWith('RS')) {
    signature = sign(hash, data, key as KeyObject)
  } else if (alg.startsWith('PS')) {
    signature = sign(hash, data, {
      key: key as KeyObject,
      padding: nodeConstants.RSA_PKCS1_PSS_PADDING,
      saltLength: nodeConstants.RSA_PSS_SALTLEN_DIGEST,
    })
  } else if (alg.startsWith('ES')) {
    signature = sign(hash, data, { key: key as KeyObject, dsaEncoding: 'ieee-p1363' })
  } else {
    signature = sign(null, data, key as KeyObject)
  }
  return `${input}.${signature.toString('base64url')}`
}

/** The token with one bit of its signature flipped (still canonical base64url). */
export function flipSignatureBit(token: string): string {
  const dot = token.lastIndexOf('.')
  const signature = Buffer.from(token.slice(dot + 1), 'base64url')
  signature[0] = (signature[0] ?? 0) ^ 0x01
  return `${token.slice(0, dot)}.${signature.toString('base64url')}`
}

/** The token with its payload replaced by `payload`, keeping the original header and signature. */
export function replacePayload(token: string, payload: Record<string, unknown>): string {
  const [header, , signature] = token.split('.')
  return `${header}.${base64urlJson(payload)}.${signature}`
}

/** Decodes a token segment without any check (tests only). */
export function segment(token: string, index: 0 | 1): Record<string, unknown> {
  return JSON.parse(Buffer.from(token.split('.')[index]!, 'base64url').toString('utf8'))
}
