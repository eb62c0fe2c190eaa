/**
 * The small internal signing and verification engine (docs/keys.md). Two implementations:
 * node:crypto on Node, jose everywhere else. Both take keys imported once at construction.
 * @module
 */
import type { Algorithm } from '../algorithms.js'

/** A key ready for an engine: a Node `KeyObject`, a Web `CryptoKey` or HMAC secret bytes. */
export type EngineKey = object

/** The three segments of a compact JWS, already checked to be canonical base64url. */
export interface JwsParts {
  /** `header64 + '.' + payload64`, the bytes the signature covers. */
  readonly signingInput: string
  readonly header64: string
  readonly payload64: string
  readonly signature64: string
  readonly signature: Uint8Array
}

/** Signs and verifies compact JWS. */
export interface Engine {
  readonly name: 'node' | 'jose'
  /** Returns the compact token for this protected header and payload (at once where it can). */
  sign(
    alg: Algorithm,
    key: EngineKey,
    header: Record<string, unknown>,
    payloadJson: string,
  ): string | Promise<string>
  /** Whether the signature is valid for the key; never throws. */
  verify(alg: Algorithm, key: EngineKey, parts: JwsParts): boolean | Promise<boolean>
}
