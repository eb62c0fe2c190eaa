/**
 * A DPoP client made with jose, as a browser or an SDK would be (RFC 9449 section 4): a key pair
 * and proofs signed with it. Tests of the DPoP module and of the adapters use it.
 *
 * @example
 * const client = await dpopClient('ES256')
 * const proof = await client.proof({ htm: 'GET', htu: 'https://api.test/me', accessToken })
 * // headers: { authorization: `DPoP ${accessToken}`, dpop: proof }
 */
import { randomUUID } from 'node:crypto'
import { type CryptoKey, calculateJwkThumbprint, exportJWK, generateKeyPair, type JWK, SignJWT } from 'jose'
import { accessTokenHash } from '../../src/core/dpop/index.js'

/** The algorithms a test client can sign with. */
export type DPoPClientAlg = 'ES256' | 'ES384' | 'ES512' | 'EdDSA' | 'PS256' | 'RS256' | 'RS512'

export interface ProofOptions {
  /** The request method (`htm`). */
  htm: string
  /** The request URL (`htu`). */
  htu: string
  /** Adds `ath`, the hash of this access token. */
  accessToken?: string | undefined
  /** Adds `nonce`. */
  nonce?: string | undefined
  /** `iat`, seconds since the epoch. Default: the client's clock. */
  iat?: number | undefined
  /** `jti`. Default: a fresh UUID. */
  jti?: string | undefined
  /** Header parameters set over the default `{ typ, alg, jwk }`; an `undefined` value removes one. */
  header?: Record<string, unknown> | undefined
  /** Claims set over the default ones; an `undefined` value removes one. */
  claims?: Record<string, unknown> | undefined
}

export interface DPoPClient {
  readonly alg: DPoPClientAlg
  /** The public key, as proofs carry it. */
  readonly jwk: JWK
  /** The private key, as a JWK (for the "private key in the proof" attack). */
  readonly privateJwk: JWK
  /** The RFC 7638 SHA-256 thumbprint of the public key (what `cnf.jkt` holds). */
  readonly jkt: string
  /** A proof for one request. */
  proof(options: ProofOptions): Promise<string>
}

function withoutUndefined(record: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(record).filter(([, value]) => value !== undefined))
}

/**
 * A client with a fresh key pair of `alg`. `clock` (milliseconds) sets the default `iat`.
 */
export async function dpopClient(
  alg: DPoPClientAlg = 'ES256',
  clock: () => number = Date.now,
): Promise<DPoPClient> {
  const { publicKey, privateKey } = await generateKeyPair(alg, {
    extractable: true,
    ...(alg === 'EdDSA' ? { crv: 'Ed25519' } : {}),
  })
  const jwk = await exportJWK(publicKey)
  const privateJwk = await exportJWK(privateKey)
  const jkt = await calculateJwkThumbprint(jwk, 'sha256')
  return {
    alg,
    jwk,
    privateJwk,
    jkt,
    async proof(options) {
      const claims = withoutUndefined({
        jti: options.jti ?? randomUUID(),
        htm: options.htm,
        htu: options.htu,
        iat: options.iat ?? Math.floor(clock() / 1000),
        ath: options.accessToken === undefined ? undefined : await accessTokenHash(options.accessToken),
        nonce: options.nonce,
        ...options.claims,
      })
      const header = withoutUndefined({ typ: 'dpop+jwt', alg, jwk, ...options.header })
      return new SignJWT(claims).setProtectedHeader(header as { alg: string }).sign(privateKey as CryptoKey)
    },
  }
}
