/**
 * The node:crypto engine: synchronous, and several times faster than Web Crypto on Node.
 * @module
 */
import { ALGORITHMS, type Algorithm } from '../algorithms.js'
import { encodeBase64urlString } from '../base64url.js'
import type { NodeCrypto } from '../runtime.js'
import type { Engine, EngineKey, JwsParts } from './types.js'

type KeyObject = import('node:crypto').KeyObject

/**
 * Builds the node:crypto engine around the given module.
 *
 * @example
 * ```ts
 * const engine = createNodeEngine(nodeCrypto()!)
 * ```
 */
export function createNodeEngine(crypto: NodeCrypto): Engine {
  const { constants } = crypto

  function signBytes(alg: Algorithm, key: KeyObject, signingInput: string): Buffer {
    const info = ALGORITHMS.get(alg)!
    if (info.family === 'HS')
      return crypto.createHmac(info.hash!, key).update(signingInput, 'latin1').digest()
    const data = Buffer.from(signingInput, 'latin1')
    switch (info.family) {
      case 'RS':
        return crypto.sign(info.hash!, data, key)
      case 'PS':
        return crypto.sign(info.hash!, data, {
          key,
          padding: constants.RSA_PKCS1_PSS_PADDING,
          saltLength: constants.RSA_PSS_SALTLEN_DIGEST,
        })
      case 'ES':
        return crypto.sign(info.hash!, data, { key, dsaEncoding: 'ieee-p1363' })
      case 'EdDSA':
        return crypto.sign(null, data, key)
    }
  }

  // Encoded headers by header object: a caller that signs with one frozen header object per key
  // (AuthX does) has it encoded once.
  const encodedHeaders = new WeakMap<object, string>()
  const encodedHeader = (header: Record<string, unknown>): string => {
    let encoded = encodedHeaders.get(header)
    if (encoded === undefined) {
      encoded = encodeBase64urlString(JSON.stringify(header))
      if (Object.isFrozen(header)) encodedHeaders.set(header, encoded)
    }
    return encoded
  }

  return {
    name: 'node',
    sign(alg, key, header, payloadJson) {
      const signingInput = `${encodedHeader(header)}.${encodeBase64urlString(payloadJson)}`
      const signature = signBytes(alg, key as KeyObject, signingInput)
      return `${signingInput}.${signature.toString('base64url')}`
    },
    verify(alg: Algorithm, key: EngineKey, parts: JwsParts): boolean {
      const info = ALGORITHMS.get(alg)!
      const signature = parts.signature
      try {
        if (info.family === 'HS') {
          // The signing input is ASCII (checked base64url), so latin1 gives its exact bytes.
          const expected = crypto
            .createHmac(info.hash!, key as KeyObject)
            .update(parts.signingInput, 'latin1')
            .digest()
          // timingSafeEqual throws on a length mismatch; the length is not secret.
          return expected.length === signature.length && crypto.timingSafeEqual(expected, signature)
        }
        const data = Buffer.from(parts.signingInput, 'latin1')
        switch (info.family) {
          case 'RS':
            return crypto.verify(info.hash!, data, key as KeyObject, signature)
          case 'PS':
            return crypto.verify(
              info.hash!,
              data,
              {
                key: key as KeyObject,
                padding: constants.RSA_PKCS1_PSS_PADDING,
                saltLength: constants.RSA_PSS_SALTLEN_DIGEST,
              },
              signature,
            )
          case 'ES':
            // JOSE ECDSA signatures are raw R||S of a fixed size (RFC 7518 section 3.4).
            return (
              signature.length === info.signatureBytes &&
              crypto.verify(info.hash!, data, { key: key as KeyObject, dsaEncoding: 'ieee-p1363' }, signature)
            )
          case 'EdDSA':
            return (
              signature.length === info.signatureBytes &&
              crypto.verify(null, data, key as KeyObject, signature)
            )
        }
      } catch {
        return false
      }
    },
  }
}
