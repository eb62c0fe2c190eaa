/**
 * `authx dpop proof` and `authx dpop thumbprint`: a DPoP client at the command line
 * (docs/command-line.md), to call a DPoP-protected service with curl. The key is the client's own
 * private key (`--key-file`: a PEM key or a private JWK, as `authx keygen` writes them), never the
 * service's signing key.
 * @module
 */
import {
  createHash,
  createPrivateKey,
  createPublicKey,
  type JsonWebKey,
  type KeyObject,
  randomUUID,
} from 'node:crypto'
import { type Algorithm, ConfigError } from 'authx'
import { calculateJwkThumbprint, type JWK, SignJWT } from 'jose'
import { keyFileOptions, publicPart } from './instance.js'
import { type Io, print, UsageError } from './io.js'

/** The client's key pair, read from `--key-file`, and the algorithm its proofs are signed with. */
interface ClientKey {
  privateKey: KeyObject
  /** The public JWK a proof carries in its header: the RFC 7638 members only. */
  jwk: JWK
  alg: Algorithm
}

/** An HTTP method: a token of RFC 9110 section 5.6.2. */
const HTTP_METHOD = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/

async function clientKey(
  path: string | undefined,
  alg: Algorithm | undefined,
  command: string,
): Promise<ClientKey> {
  if (path === undefined)
    throw new UsageError(`${command}: --key-file <file> (the client's private key) is required`)
  const options = await keyFileOptions(path, alg)
  const where = `--key-file ${path}`
  if ('keys' in options) throw new ConfigError(`${where}: one private key, not a JWK set`)
  if (options.secretKey !== undefined || options.algorithm?.startsWith('HS')) {
    throw new ConfigError(
      `${where}: DPoP needs an asymmetric private key (authx keygen --alg ES256), not a secret`,
    )
  }
  if (options.privateKey === undefined)
    throw new ConfigError(`${where}: a public key; DPoP proofs need the private key`)
  let privateKey: KeyObject
  try {
    privateKey =
      typeof options.privateKey === 'string'
        ? createPrivateKey(options.privateKey)
        : createPrivateKey({ key: options.privateKey as JsonWebKey, format: 'jwk' })
  } catch {
    throw new ConfigError(`${where}: not a private key Node can read`)
  }
  const jwk = publicPart(createPublicKey(privateKey).export({ format: 'jwk' }))
  return { privateKey, jwk, alg: options.algorithm as Algorithm }
}

/**
 * Prints a DPoP proof (RFC 9449 section 4.2) for one request: `htm`, `htu` without its query and
 * fragment, a random `jti`, `iat` now, `ath` when the access token is given, `nonce` when given.
 *
 * @example
 * ```ts
 * await dpopProof(io, { keyFile: 'client.pem', htm: 'GET', htu: 'https://api.example.com/me', json: false })
 * ```
 */
export async function dpopProof(
  io: Io,
  options: {
    keyFile: string | undefined
    alg: Algorithm | undefined
    htm: string | undefined
    htu: string | undefined
    token: string | undefined
    nonce: string | undefined
    json: boolean
  },
): Promise<void> {
  const command = 'dpop proof'
  if (options.htm === undefined || !HTTP_METHOD.test(options.htm)) {
    throw new UsageError(`${command}: --htm <method> (the request's HTTP method, such as GET) is required`)
  }
  let url: URL
  try {
    url = new URL(options.htu ?? '')
  } catch {
    throw new UsageError(`${command}: --htu <url> (the request's absolute http(s) URL) is required`)
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new UsageError(`${command}: --htu must be an http or https URL`)
  }
  url.search = ''
  url.hash = ''
  let token = options.token
  if (token === '-') token = (await io.readStdin()).trim()
  if (token === '') throw new UsageError(`${command}: --token is empty`)
  const key = await clientKey(options.keyFile, options.alg, command)
  const claims: Record<string, string> = { htm: options.htm, htu: url.href, jti: randomUUID() }
  if (token !== undefined) claims.ath = createHash('sha256').update(token).digest('base64url')
  if (options.nonce !== undefined) claims.nonce = options.nonce
  let proof: string
  try {
    proof = await new SignJWT(claims)
      .setProtectedHeader({ typ: 'dpop+jwt', alg: key.alg, jwk: key.jwk })
      .setIssuedAt()
      .sign(key.privateKey)
  } catch {
    throw new ConfigError(`--key-file ${options.keyFile}: cannot sign ${key.alg} with this key; check --alg`)
  }
  print(io, options.json, proof, { proof })
}

/**
 * Prints the RFC 7638 thumbprint of the client's key: the `jkt` a login binds tokens to
 * (`createTokenPair({ uid, jkt })`).
 *
 * @example
 * ```ts
 * await dpopThumbprint(io, { keyFile: 'client.pem', json: false })
 * ```
 */
export async function dpopThumbprint(
  io: Io,
  options: { keyFile: string | undefined; json: boolean },
): Promise<void> {
  const { jwk } = await clientKey(options.keyFile, undefined, 'dpop thumbprint')
  const jkt = await calculateJwkThumbprint(jwk, 'sha256')
  print(io, options.json, jkt, { jkt })
}
