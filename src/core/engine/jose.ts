/**
 * The jose engine, for runtimes without node:crypto (Workers, Deno, Bun, browsers).
 * @module
 */
import { FlattenedSign, flattenedVerify, type KeyObject } from 'jose'
import type { Algorithm } from '../algorithms.js'
import type { Engine, EngineKey, JwsParts } from './types.js'

const encoder = new TextEncoder()

type JoseKey = CryptoKey | KeyObject | Uint8Array

/**
 * Builds the jose engine. Keys are `CryptoKey`s or HMAC secret bytes (and `KeyObject`s on Node).
 *
 * @example
 * ```ts
 * const engine = createJoseEngine()
 * ```
 */
export function createJoseEngine(): Engine {
  return {
    name: 'jose',
    async sign(_alg, key, header, payloadJson) {
      const jws = await new FlattenedSign(encoder.encode(payloadJson))
        .setProtectedHeader(header as { alg: Algorithm })
        .sign(key as JoseKey)
      return `${jws.protected}.${jws.payload}.${jws.signature}`
    },
    async verify(alg: Algorithm, key: EngineKey, parts: JwsParts): Promise<boolean> {
      try {
        await flattenedVerify(
          { protected: parts.header64, payload: parts.payload64, signature: parts.signature64 },
          key as JoseKey,
          { algorithms: [alg] },
        )
        return true
      } catch {
        return false
      }
    },
  }
}
