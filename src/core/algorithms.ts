/**
 * The 13 JWS algorithms authx supports and what each needs of a key.
 * @module
 */

/** A JWS algorithm authx signs and verifies with. */
export type Algorithm =
  | 'HS256'
  | 'HS384'
  | 'HS512'
  | 'RS256'
  | 'RS384'
  | 'RS512'
  | 'PS256'
  | 'PS384'
  | 'PS512'
  | 'ES256'
  | 'ES384'
  | 'ES512'
  | 'EdDSA'

/** Properties of one algorithm. */
export interface AlgorithmInfo {
  readonly family: 'HS' | 'RS' | 'PS' | 'ES' | 'EdDSA'
  /** Node digest name; `undefined` for EdDSA (the curve fixes the hash). */
  readonly hash: 'sha256' | 'sha384' | 'sha512' | undefined
  /** HMAC: minimum secret length in bytes (RFC 7518 section 3.2). */
  readonly minSecretBytes: number
  /** ECDSA: the Node curve name and the JOSE `crv`; signature length in bytes. */
  readonly curve: string | undefined
  readonly crv: string | undefined
  readonly signatureBytes: number | undefined
}

function info(
  family: AlgorithmInfo['family'],
  hash: AlgorithmInfo['hash'],
  extra: Partial<AlgorithmInfo> = {},
): AlgorithmInfo {
  return Object.freeze({
    family,
    hash,
    minSecretBytes: 0,
    curve: undefined,
    crv: undefined,
    signatureBytes: undefined,
    ...extra,
  })
}

/** Every supported algorithm, keyed by its JOSE name. */
export const ALGORITHMS: ReadonlyMap<string, AlgorithmInfo> = new Map<Algorithm, AlgorithmInfo>([
  ['HS256', info('HS', 'sha256', { minSecretBytes: 32 })],
  ['HS384', info('HS', 'sha384', { minSecretBytes: 48 })],
  ['HS512', info('HS', 'sha512', { minSecretBytes: 64 })],
  ['RS256', info('RS', 'sha256')],
  ['RS384', info('RS', 'sha384')],
  ['RS512', info('RS', 'sha512')],
  ['PS256', info('PS', 'sha256')],
  ['PS384', info('PS', 'sha384')],
  ['PS512', info('PS', 'sha512')],
  ['ES256', info('ES', 'sha256', { curve: 'prime256v1', crv: 'P-256', signatureBytes: 64 })],
  ['ES384', info('ES', 'sha384', { curve: 'secp384r1', crv: 'P-384', signatureBytes: 96 })],
  ['ES512', info('ES', 'sha512', { curve: 'secp521r1', crv: 'P-521', signatureBytes: 132 })],
  ['EdDSA', info('EdDSA', undefined, { crv: 'Ed25519', signatureBytes: 64 })],
])

/**
 * Looks up an algorithm by exact (case-sensitive) name.
 *
 * @example
 * ```ts
 * algorithmInfo('HS256')?.family // 'HS'
 * algorithmInfo('hs256') // undefined
 * ```
 */
export function algorithmInfo(name: unknown): AlgorithmInfo | undefined {
  return typeof name === 'string' ? ALGORITHMS.get(name) : undefined
}

/** Whether the algorithm is an HMAC one. */
export function isHmac(alg: Algorithm): boolean {
  return alg.startsWith('HS')
}
