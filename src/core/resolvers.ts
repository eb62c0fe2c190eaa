/**
 * Finding the verification key of a token: by `kid` only, never by trying every key.
 * @module
 */
import { errors as joseErrors } from 'jose'
import type { Algorithm } from './algorithms.js'
import type { KeyResolver } from './decode.js'
import type { EngineKey } from './engine/types.js'
import { StoreUnavailableError } from './errors.js'
import type { KeyEntry } from './keys.js'
import { type ResolvedRemoteKeys, remoteKeySet } from './remote-keys.js'
import type { NodeCrypto } from './runtime.js'

function pick(keys: readonly KeyEntry[], kid: string | undefined): KeyEntry | undefined {
  if (keys.length === 1) {
    const only = keys[0]!
    // A single key accepts tokens without kid; with a configured kid, another kid is refused.
    return kid === undefined || only.kid === undefined || only.kid === kid ? only : undefined
  }
  return kid === undefined ? undefined : keys.find((k) => k.kid === kid)
}

/**
 * The resolver of configured keys (imported already, or still importing off Node).
 *
 * @example
 * ```ts
 * const resolve = localResolver(keys)
 * resolve('HS256', undefined) // the only key
 * ```
 */
export function localResolver(keys: readonly KeyEntry[] | Promise<readonly KeyEntry[]>): KeyResolver {
  if (!Array.isArray(keys)) return async (_alg, kid) => pick(await keys, kid)
  const list = keys as readonly KeyEntry[]
  if (list.length === 1) return (_alg, kid) => pick(list, kid)
  const byKid = new Map(list.map((k) => [k.kid, k]))
  return (_alg, kid) => (kid === undefined ? undefined : byKid.get(kid))
}

/**
 * The resolver of a remote JWKS (src/core/remote-keys.ts: jose's remote set, cached, bounded,
 * optionally persisted). A set that cannot be fetched or read is `StoreUnavailableError` (503):
 * the key set could not be consulted, which says nothing about the token. A `kid` the set does not
 * hold (or holds twice) finds no key, so the token is refused (401).
 *
 * @example
 * ```ts
 * const url = new URL('https://issuer.example/.well-known/jwks.json')
 * const resolve = remoteResolver(url, nodeCrypto(), resolveRemoteKeys(undefined, 5000, true))
 * ```
 */
export function remoteResolver(
  url: URL,
  crypto: NodeCrypto | undefined,
  options: ResolvedRemoteKeys,
): KeyResolver {
  const lookup = remoteKeySet(url, options)
  const converted = new WeakMap<object, EngineKey>()
  return async (alg: Algorithm, kid) => {
    let key: EngineKey
    try {
      key = (await lookup(alg, kid)) as EngineKey
    } catch (err) {
      if (err instanceof joseErrors.JWKSNoMatchingKey || err instanceof joseErrors.JWKSMultipleMatchingKeys) {
        return undefined
      }
      throw new StoreUnavailableError('Remote key set unavailable', { cause: err })
    }
    // The node engine verifies with KeyObjects; convert each remote CryptoKey once.
    if (crypto && !(key instanceof crypto.KeyObject)) {
      let keyObject = converted.get(key)
      if (keyObject === undefined) {
        keyObject = crypto.KeyObject.from(key as CryptoKey)
        converted.set(key, keyObject)
      }
      key = keyObject
    }
    // RFC 7518 section 3.3: RSA keys of 2048 bits or more, as configured keys; jose refuses
    // smaller ones on its own path, and the node engine must too.
    if (rsaBits(key) !== undefined && (rsaBits(key) as number) < 2048) return undefined
    return { kid, alg, signKey: undefined, verifyKey: key, publicJwk: undefined, retireAt: undefined }
  }
}

function rsaBits(key: EngineKey): number | undefined {
  const object = key as { asymmetricKeyType?: string; asymmetricKeyDetails?: { modulusLength?: number } }
  if (object.asymmetricKeyType === 'rsa' || object.asymmetricKeyType === 'rsa-pss') {
    return object.asymmetricKeyDetails?.modulusLength ?? 0
  }
  const algorithm = (key as { algorithm?: { name?: string; modulusLength?: number } }).algorithm
  if (algorithm?.name?.startsWith('RS') || algorithm?.name === 'RSA-PSS') return algorithm.modulusLength ?? 0
  return undefined
}
