/**
 * `authx keygen`: a new key for an algorithm. HMAC: a random secret as base64url text, at least
 * the algorithm's minimum length (its bytes, as text, are the key: what `JWT_SECRET_KEY` and
 * `--key-file` use). Asymmetric: a private key as PKCS#8 PEM or as a private JWK with `kid` and
 * `alg`; with `--out` the private half goes to a new file (mode 0600, never overwriting one) and
 * the public half to stdout.
 * @module
 */
import { generateKeyPairSync, type KeyObject, randomBytes } from 'node:crypto'
import { closeSync, fchmodSync, openSync, writeSync } from 'node:fs'
import type { Algorithm } from 'authx'
import { calculateJwkThumbprint, type JWK } from 'jose'
import { type Io, print, UsageError } from './io.js'

/** Random bytes of an HMAC secret: RFC 7518 section 3.2's minimum, the hash's output size. */
const SECRET_BYTES: Partial<Record<Algorithm, number>> = { HS256: 32, HS384: 48, HS512: 64 }

/** What `keygen` was asked for. */
export interface KeygenOptions {
  alg: Algorithm
  kid: string | undefined
  format: 'pem' | 'jwk'
  out: string | undefined
  json: boolean
}

/**
 * Generates the key and prints it (or writes it to `out`).
 *
 * @example
 * ```ts
 * await keygen(io, { alg: 'ES256', kid: undefined, format: 'jwk', out: undefined, json: false })
 * ```
 */
export async function keygen(io: Io, options: KeygenOptions): Promise<void> {
  const { alg, format } = options
  if (options.kid !== undefined && format !== 'jwk') {
    throw new UsageError('keygen: --kid is written into a JWK only: add --format jwk')
  }
  const bytes = SECRET_BYTES[alg]
  if (bytes !== undefined) {
    secret(io, options, randomBytes(bytes))
    return
  }

  const { privateKey, publicKey } = keyPair(alg)
  const publicJwk = publicKey.export({ format: 'jwk' }) as JWK
  const kid = options.kid ?? (await calculateJwkThumbprint(publicJwk))
  if (format === 'jwk') {
    const privateJwk = { ...(privateKey.export({ format: 'jwk' }) as JWK), kid, alg }
    const publicOut = { ...publicJwk, kid, alg, use: 'sig' }
    return emit(io, options, {
      privateText: `${JSON.stringify(privateJwk, null, 2)}\n`,
      publicText: `${JSON.stringify(publicOut, null, 2)}\n`,
      privateJson: { privateJwk },
      publicJson: { publicJwk: publicOut },
      kid,
    })
  }
  const privatePem = privateKey.export({ type: 'pkcs8', format: 'pem' }) as string
  const publicPem = publicKey.export({ type: 'spki', format: 'pem' }) as string
  return emit(io, options, {
    privateText: privatePem,
    publicText: publicPem,
    privateJson: { privateKey: privatePem },
    publicJson: { publicKey: publicPem },
    kid,
  })
}

function secret(io: Io, options: KeygenOptions, key: Buffer): void {
  if (options.format === 'jwk') {
    // An oct JWK's `k` is the key's bytes; --key-file reads it back as the same key.
    const jwk = { kty: 'oct', k: key.toString('base64url'), alg: options.alg, ...kidOf(options.kid) }
    emit(io, options, {
      privateText: `${JSON.stringify(jwk, null, 2)}\n`,
      publicText: undefined,
      privateJson: { secretJwk: jwk },
      publicJson: {},
      kid: options.kid,
    })
    return
  }
  const text = key.toString('base64url')
  emit(io, options, {
    privateText: `${text}\n`,
    publicText: undefined,
    privateJson: { secret: text },
    publicJson: {},
    kid: undefined,
  })
}

function kidOf(kid: string | undefined): { kid?: string } {
  return kid === undefined ? {} : { kid }
}

interface Material {
  privateText: string
  /** `undefined` for a secret: there is no public half. */
  publicText: string | undefined
  privateJson: Record<string, unknown>
  publicJson: Record<string, unknown>
  kid: string | undefined
}

function emit(io: Io, options: KeygenOptions, material: Material): void {
  const head = { alg: options.alg, ...kidOf(material.kid) }
  if (options.out === undefined) {
    print(io, options.json, material.privateText, {
      ...head,
      ...material.privateJson,
      ...material.publicJson,
    })
    return
  }
  writeNewFile(options.out, material.privateText)
  if (options.json) print(io, true, '', { ...head, file: options.out, ...material.publicJson })
  else if (material.publicText !== undefined) io.out(material.publicText)
}

/**
 * Writes a new file readable by its owner only. `wx` (O_CREAT | O_EXCL) fails when anything,
 * even a dangling symlink, is at the path, so an existing key is never replaced. The mode is
 * set again after opening, whatever the umask.
 */
function writeNewFile(path: string, text: string): void {
  let fd: number
  try {
    fd = openSync(path, 'wx', 0o600)
  } catch (error) {
    const code = (error as { code?: unknown }).code
    if (code === 'EEXIST')
      throw new UsageError(`keygen: --out ${path} already exists; authx never overwrites a key file`)
    throw new UsageError(
      `keygen: --out ${path} cannot be created${typeof code === 'string' ? ` (${code})` : ''}`,
    )
  }
  try {
    fchmodSync(fd, 0o600)
    writeSync(fd, text)
  } finally {
    closeSync(fd)
  }
}

function keyPair(alg: Algorithm): { privateKey: KeyObject; publicKey: KeyObject } {
  if (alg === 'EdDSA') return generateKeyPairSync('ed25519')
  if (alg.startsWith('ES')) {
    const namedCurve = { ES256: 'P-256', ES384: 'P-384', ES512: 'P-521' }[alg as 'ES256' | 'ES384' | 'ES512']
    return generateKeyPairSync('ec', { namedCurve })
  }
  // RS* and PS*: a plain RSA key signs both (an rsa-pss key would work on node:crypto only).
  return generateKeyPairSync('rsa', { modulusLength: 2048 })
}
