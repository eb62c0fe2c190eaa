/**
 * The `AuthX` instance a command works with: key material from `--key-file`, else the `JWT_*`
 * environment exactly as `AuthX.fromEnv` reads it. The other `JWT_*` settings (issuer,
 * audience, lifetimes, leeway, ...) apply in both cases, so tokens made here look like the
 * service's own.
 * @module
 */
import { createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto'
import { readFileSync } from 'node:fs'
import {
  type Algorithm,
  AuthX,
  type AuthXOptions,
  type AuthXStore,
  ConfigError,
  type KeySetEntry,
} from 'authx'
import { calculateJwkThumbprint, type JWK } from 'jose'
import { UsageError } from './io.js'

/** The algorithms `--alg` accepts, in the order help lists them. */
export const ALGORITHMS: readonly Algorithm[] = [
  'HS256',
  'HS384',
  'HS512',
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
]

/**
 * The algorithm named by `--alg` (a `UsageError` otherwise) or by a setting such as
 * `JWT_ALGORITHM` (a `ConfigError`); the message names where it came from, not the value.
 *
 * @example
 * ```ts
 * algorithmOption('ES256', '--alg') // 'ES256'
 * ```
 */
export function algorithmOption(value: string | undefined, from: string): Algorithm | undefined {
  if (value === undefined) return undefined
  const alg = ALGORITHMS.find((a) => a === value)
  if (alg !== undefined) return alg
  const message = `${from}: expected one of ${ALGORITHMS.join(', ')}`
  throw from.startsWith('--') ? new UsageError(message) : new ConfigError(message)
}

/**
 * The command line keeps no revocations: it has no store to share with a service, so it checks
 * signature and claims only. An empty store says so without a `MemoryStore` (which would warn
 * under `NODE_ENV=production`).
 */
const NO_STORE: AuthXStore = {
  get: async (keys) => keys.map(() => null),
  set: async () => {},
  setIfAbsent: async () => true,
  delete: async () => {},
}

/** The environment variables that carry key material; `--key-file` replaces all of them. */
const KEY_VARIABLES = ['JWT_SECRET_KEY', 'JWT_PRIVATE_KEY', 'JWT_PUBLIC_KEY', 'JWT_ALGORITHM']

/** A core message about the options a key file set (so it is named after the file). */
const KEY_OPTION = /^(algorithm|secretKey|privateKey|publicKey|kid|keys|verify\.algorithms)\b/

/** What a command adds to the configuration: `--alg`, and options such as `--iss`. */
export interface InstanceOptions {
  keyFile?: string | undefined
  alg?: Algorithm | undefined
  overrides?: AuthXOptions
}

/**
 * Builds the instance: `ConfigError` (exit 2) for a missing key, an unreadable key file or a key
 * `new AuthX` refuses, named after `--key-file` or the `JWT_*` variable.
 *
 * @example
 * ```ts
 * const auth = await createInstance(process.env, { keyFile: 'key.pem' })
 * ```
 */
export async function createInstance(
  env: Record<string, string | undefined>,
  options: InstanceOptions,
): Promise<AuthX> {
  const overrides: AuthXOptions = { ...options.overrides, store: NO_STORE }
  if (options.keyFile !== undefined) {
    const keyEnv = { ...env }
    for (const name of KEY_VARIABLES) delete keyEnv[name]
    const keys = await keyFileOptions(options.keyFile, options.alg)
    try {
      return AuthX.fromEnv(keyEnv, { ...overrides, ...keys })
    } catch (error) {
      if (error instanceof ConfigError && KEY_OPTION.test(error.message)) {
        throw new ConfigError(`--key-file ${options.keyFile}: ${error.message}`, { cause: error })
      }
      throw error
    }
  }
  if (!env.JWT_SECRET_KEY && !env.JWT_PRIVATE_KEY && !env.JWT_PUBLIC_KEY) {
    throw new ConfigError(
      'no key: pass --key-file <file>, or set JWT_SECRET_KEY, JWT_PRIVATE_KEY or JWT_PUBLIC_KEY',
    )
  }
  // Python AuthX needs JWT_ALGORITHM beside a PEM key; here a PEM key alone is enough.
  const pem = env.JWT_PRIVATE_KEY || env.JWT_PUBLIC_KEY
  const inferred =
    env.JWT_ALGORITHM || env.JWT_SECRET_KEY || !pem ? undefined : algorithmOfPem(pem.replace(/\\n/g, '\n'))
  const algorithm = options.alg ?? inferred
  return AuthX.fromEnv(env, algorithm === undefined ? overrides : { ...overrides, algorithm })
}

/**
 * The key options of a key file: a PEM key, a JWK, a JWK set, or else an HMAC secret (the
 * file's bytes, trailing line breaks removed, as `authx keygen` writes them).
 *
 * @example
 * ```ts
 * await keyFileOptions('private.pem', undefined) // { algorithm: 'ES256', privateKey: '-----BEGIN ...' }
 * ```
 */
export async function keyFileOptions(path: string, alg: Algorithm | undefined): Promise<AuthXOptions> {
  let bytes: Buffer
  try {
    bytes = readFileSync(path)
  } catch (error) {
    const why = (error as { code?: unknown }).code
    throw new ConfigError(`--key-file ${path}: cannot be read${typeof why === 'string' ? ` (${why})` : ''}`)
  }
  const text = bytes.toString('utf8').trim()
  if (text.startsWith('-----BEGIN')) {
    const algorithm = alg ?? algorithmOfPem(text)
    if (algorithm === undefined) {
      throw new ConfigError(
        `--key-file ${path}: not a PEM key Node can read (encrypted keys are not supported)`,
      )
    }
    return /-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(text)
      ? { algorithm, privateKey: text }
      : { algorithm, publicKey: text }
  }
  if (text.startsWith('{')) {
    let json: unknown
    try {
      json = JSON.parse(text)
    } catch {
      // JSON.parse quotes the text it stopped at, which here is key material.
      throw new ConfigError(`--key-file ${path}: not valid JSON`)
    }
    if (!isObject(json)) throw new ConfigError(`--key-file ${path}: not a JWK or a JWK set`)
    if (Array.isArray(json.keys)) return { keys: await keySet(json.keys, alg, path) }
    if (typeof json.kty !== 'string') throw new ConfigError(`--key-file ${path}: not a JWK or a JWK set`)
    const algorithm = alg ?? jwkAlgorithm(json, `--key-file ${path}`)
    const kid = typeof json.kid === 'string' ? { kid: json.kid } : {}
    return { algorithm, ...kid, ...jwkMaterial(json, `--key-file ${path}`) }
  }
  let end = bytes.length
  while (end > 0 && (bytes[end - 1] === 0x0a || bytes[end - 1] === 0x0d)) end--
  return { algorithm: alg ?? 'HS256', secretKey: new Uint8Array(bytes.subarray(0, end)) }
}

async function keySet(keys: unknown[], alg: Algorithm | undefined, path: string): Promise<KeySetEntry[]> {
  return Promise.all(
    keys.map(async (jwk, i) => {
      const where = `--key-file ${path}: keys[${i}]`
      if (!isObject(jwk) || typeof jwk.kty !== 'string') throw new ConfigError(`${where}: not a JWK`)
      let kid = typeof jwk.kid === 'string' ? jwk.kid : undefined
      if (kid === undefined && jwk.kty !== 'oct') kid = await calculateJwkThumbprint(publicPart(jwk))
      if (kid === undefined) throw new ConfigError(`${where}: a secret (oct) key in a set needs a kid`)
      return { kid, algorithm: alg ?? jwkAlgorithm(jwk, where), ...jwkMaterial(jwk, where) }
    }),
  )
}

/**
 * The members RFC 7638 hashes (and no private ones).
 *
 * @example
 * ```ts
 * publicPart({ kty: 'EC', crv: 'P-256', x, y, d }) // { kty: 'EC', crv: 'P-256', x, y }
 * ```
 */
export function publicPart(jwk: Record<string, unknown>): JWK {
  const { kty, crv, x, y, n, e } = jwk as Record<string, string | undefined>
  return Object.fromEntries(
    Object.entries({ kty, crv, x, y, n, e }).filter(([, v]) => v !== undefined),
  ) as JWK
}

function jwkMaterial(
  jwk: Record<string, unknown>,
  where: string,
): Pick<KeySetEntry, 'secretKey' | 'privateKey' | 'publicKey'> {
  if (jwk.kty === 'oct') {
    if (typeof jwk.k !== 'string') throw new ConfigError(`${where}: an oct JWK needs k`)
    return { secretKey: new Uint8Array(Buffer.from(jwk.k, 'base64url')) }
  }
  return typeof jwk.d === 'string' ? { privateKey: jwk as JWK } : { publicKey: jwk as JWK }
}

/** A JWK's `alg`, else the usual algorithm for its key type. */
function jwkAlgorithm(jwk: Record<string, unknown>, where: string): Algorithm {
  if (jwk.alg !== undefined) {
    const named = ALGORITHMS.find((a) => a === jwk.alg)
    if (named === undefined) throw new ConfigError(`${where}: alg is not one of ${ALGORITHMS.join(', ')}`)
    return named
  }
  const alg = defaultAlgorithm(String(jwk.kty), typeof jwk.crv === 'string' ? jwk.crv : undefined)
  if (alg === undefined)
    throw new ConfigError(`${where}: no alg, and no algorithm fits its key type; pass --alg`)
  return alg
}

/** The usual algorithm for a PEM key, or `undefined` when Node cannot read it. */
function algorithmOfPem(pem: string): Algorithm | undefined {
  let key: KeyObject
  try {
    key = /PRIVATE KEY-----/.test(pem) ? createPrivateKey(pem) : createPublicKey(pem)
  } catch {
    return undefined
  }
  const type = key.asymmetricKeyType
  if (type === 'rsa') return 'RS256'
  if (type === 'rsa-pss') return 'PS256'
  if (type === 'ed25519') return 'EdDSA'
  if (type === 'ec') {
    const curve = key.asymmetricKeyDetails?.namedCurve
    return defaultAlgorithm('EC', CURVES[curve ?? ''])
  }
  return undefined
}

/** Node's curve names to JOSE's. */
const CURVES: Record<string, string> = { prime256v1: 'P-256', secp384r1: 'P-384', secp521r1: 'P-521' }
const EC_ALGORITHMS: Record<string, Algorithm> = { 'P-256': 'ES256', 'P-384': 'ES384', 'P-521': 'ES512' }

function defaultAlgorithm(kty: string, crv: string | undefined): Algorithm | undefined {
  if (kty === 'oct') return 'HS256'
  if (kty === 'RSA') return 'RS256'
  if (kty === 'OKP' && crv === 'Ed25519') return 'EdDSA'
  if (kty === 'EC') return EC_ALGORITHMS[crv ?? '']
  return undefined
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}
