/**
 * Helpers for the security suite: hand-built (forged) compact JWS tokens, fixed keys and clock,
 * and the assertions every rejection goes through. Nothing here uses authx to sign a forged
 * token: segments are encoded and signed with node:crypto directly, so the suite does not
 * trust the code it tests.
 * @module
 */
import {
  constants,
  createHmac,
  createPrivateKey,
  generateKeyPairSync,
  type KeyObject,
  sign as nodeSign,
} from 'node:crypto'
import { expect } from 'vitest'
import {
  AuthX,
  type AuthXOptions,
  InvalidTokenError,
  type InvalidTokenReason,
  TokenExpiredError,
} from '../../src/index.js'
import { variant } from '../support/variant-setup.js'

/** The fixed instant every test runs at (2023-11-14T22:13:20Z), in milliseconds. */
export const NOW_MS = 1_700_000_000_000
/** {@link NOW_MS} in seconds, as claims carry it. */
export const NOW = NOW_MS / 1000
/** The injected clock: tests never depend on real time. */
export const clock = (): number => NOW_MS

/** A 64-byte HMAC secret, long enough for HS256, HS384 and HS512. */
export const SECRET = 'authx-security-suite-secret-0123456789-abcdefghijklmnopqrstuvwxyz'
/** A second, different secret (key rotation, wrong-key cases). */
export const OTHER_SECRET = 'another-secret-for-the-authx-security-suite-0123456789-ABCDEFGHIJ'

export type Engine = 'node' | 'jose'
export const ENGINES: readonly Engine[] = ['node', 'jose']

/**
 * Builds an instance on the chosen engine, by default the suite variant's
 * (test/support/variant-setup.ts: `AUTHX_TEST_ENGINE`). An explicit engine sets FORCE_JOSE or
 * FORCE_NODE around the constructor, which the runtime mock of test/support/engines.ts reads
 * (the test file registers it). The fixed clock is used unless the options give another.
 */
export function makeAuth(options: AuthXOptions, engine: Engine = variant().engine): AuthX {
  process.env[engine === 'jose' ? 'FORCE_JOSE' : 'FORCE_NODE'] = '1'
  try {
    const auth = new AuthX({ clock, ...options })
    expect(auth.engine).toBe(engine)
    return auth
  } finally {
    delete process.env.FORCE_JOSE
    delete process.env.FORCE_NODE
  }
}

/** An HS256 instance with {@link SECRET} and the fixed clock, on the variant's engine by default. */
export function hsAuth(options: AuthXOptions = {}, engine: Engine = variant().engine): AuthX {
  return makeAuth({ secretKey: SECRET, ...options }, engine)
}

// ---------------------------------------------------------------------------------------------
// Encoding

/** Canonical base64url (no padding) of a string's UTF-8 bytes or of raw bytes. */
export function b64u(input: string | Uint8Array): string {
  return Buffer.from(input as Uint8Array).toString('base64url')
}

/** A JSON literal written verbatim into {@link jsonText} (e.g. `lit('1e400')`). */
export class Literal {
  constructor(readonly text: string) {}
}
export const lit = (text: string): Literal => new Literal(text)

/** A segment given as raw bytes or raw text instead of an object to serialise. */
export class Raw {
  readonly bytes: Uint8Array
  constructor(input: string | Uint8Array) {
    this.bytes = typeof input === 'string' ? new TextEncoder().encode(input) : input
  }
}
export const raw = (input: string | Uint8Array): Raw => new Raw(input)

/** Removes a key from {@link accessClaims}. */
export const OMIT: unique symbol = Symbol('omit')

/** JSON text of an object whose values may be {@link Literal}s, written as they are. */
export function jsonText(value: Record<string, unknown>): string {
  const parts = Object.entries(value).map(
    ([k, v]) => `${JSON.stringify(k)}:${v instanceof Literal ? v.text : JSON.stringify(v)}`,
  )
  return `{${parts.join(',')}}`
}

function segmentOf(value: unknown): string {
  if (value instanceof Raw) return b64u(value.bytes)
  return b64u(jsonText(value as Record<string, unknown>))
}

/** Valid access-token claims at {@link NOW}; `OMIT` removes a claim, other values replace it. */
export function accessClaims(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  const claims: Record<string, unknown> = {
    sub: 'user-1',
    jti: 'b0a5c1f2-7d4e-4c3a-9e8f-1a2b3c4d5e6f',
    iat: NOW,
    nbf: NOW,
    exp: NOW + 900,
    type: 'access',
    fresh: false,
  }
  for (const [key, value] of Object.entries(overrides)) {
    if (value === OMIT) delete claims[key]
    else claims[key] = value
  }
  return claims
}

/** Valid refresh-token claims at {@link NOW}. */
export function refreshClaims(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return accessClaims({ type: 'refresh', fresh: OMIT, fid: 'family-1', exp: NOW + 86_400, ...overrides })
}

// ---------------------------------------------------------------------------------------------
// Signing

/** Signs a signing input (`header64.payload64`) and returns the signature bytes. */
export type Signer = (signingInput: string) => Uint8Array

const HASH: Record<string, string> = { '256': 'sha256', '384': 'sha384', '512': 'sha512' }

/** HMAC signer: the secret may be any bytes at all (a PEM, DER, JWK JSON, ''). */
export function hmac(alg: 'HS256' | 'HS384' | 'HS512', secret: string | Uint8Array | KeyObject): Signer {
  const hash = HASH[alg.slice(2)]!
  return (input) =>
    createHmac(hash, secret as string)
      .update(input, 'latin1')
      .digest()
}

/** Signer for an asymmetric algorithm; ECDSA signatures are raw R||S unless `der` is set. */
export function signer(alg: string, privateKey: KeyObject | string, options: { der?: boolean } = {}): Signer {
  const key = typeof privateKey === 'string' ? createPrivateKey(privateKey) : privateKey
  if (alg.startsWith('HS')) return hmac(alg as 'HS256', key)
  const hash = alg === 'EdDSA' ? null : HASH[alg.slice(2)]!
  return (input) => {
    const data = Buffer.from(input, 'latin1')
    if (alg.startsWith('PS')) {
      return nodeSign(hash, data, {
        key,
        padding: constants.RSA_PKCS1_PSS_PADDING,
        saltLength: constants.RSA_PSS_SALTLEN_DIGEST,
      })
    }
    if (alg.startsWith('ES'))
      return nodeSign(hash, data, { key, dsaEncoding: options.der ? 'der' : 'ieee-p1363' })
    return nodeSign(hash, data, key)
  }
}

/**
 * A compact JWS built by hand: header and payload are objects (serialised with
 * {@link jsonText}) or {@link Raw} bytes; `sign` is a {@link Signer}, or a ready-made
 * signature segment string.
 */
export function forge(header: unknown, payload: unknown, sign: Signer | string): string {
  const signingInput = `${segmentOf(header)}.${segmentOf(payload)}`
  const signature = typeof sign === 'string' ? sign : b64u(sign(signingInput))
  return `${signingInput}.${signature}`
}

/** An HS256 token over `payload` with {@link SECRET}: only the part under test is wrong. */
export function forgeHs256(payload: unknown, header: unknown = { alg: 'HS256', typ: 'JWT' }): string {
  return forge(header, payload, hmac('HS256', SECRET))
}

/** Re-signs the header and payload of a token string with another signer. */
export function resign(token: string, sign: Signer): string {
  const [h, p] = token.split('.')
  return `${h}.${p}.${b64u(sign(`${h}.${p}`))}`
}

/** The three segments of a compact token. */
export function segments(token: string): [string, string, string] {
  const parts = token.split('.')
  expect(parts).toHaveLength(3)
  return parts as [string, string, string]
}

// ---------------------------------------------------------------------------------------------
// Non-canonical base64url

export const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'

/**
 * The same bytes spelt differently: the unused low bits of the segment's last character set
 * (`...Q` -> `...R`). `undefined` when the segment has no unused bits (length divisible by 4).
 * Lenient decoders (Node's `Buffer.from(s, 'base64url')`) decode both spellings alike.
 */
export function nonCanonical(segment: string, allBits = false): string | undefined {
  const tail = segment.length % 4
  if (tail !== 2 && tail !== 3) return undefined
  const unused = tail === 2 ? 0b1111 : 0b11
  const value = ALPHABET.indexOf(segment.at(-1)!)
  expect(value & unused).toBe(0)
  return segment.slice(0, -1) + ALPHABET[value | (allBits ? unused : 1)]
}

// ---------------------------------------------------------------------------------------------
// Keys

let rsaPair: { privateKey: KeyObject; publicKey: KeyObject } | undefined
let ecPair: { privateKey: KeyObject; publicKey: KeyObject } | undefined
let edPair: { privateKey: KeyObject; publicKey: KeyObject } | undefined

/** The verifier's RSA-2048 key pair (generated once per test file). */
export function rsaKeys(): { privateKey: KeyObject; publicKey: KeyObject } {
  rsaPair ??= generateKeyPairSync('rsa', { modulusLength: 2048 })
  return rsaPair
}

/** The verifier's P-256 key pair. */
export function ecKeys(): { privateKey: KeyObject; publicKey: KeyObject } {
  ecPair ??= generateKeyPairSync('ec', { namedCurve: 'P-256' })
  return ecPair
}

/** The verifier's Ed25519 key pair. */
export function edKeys(): { privateKey: KeyObject; publicKey: KeyObject } {
  edPair ??= generateKeyPairSync('ed25519')
  return edPair
}

/** SPKI PEM of a public key. */
export function spkiPem(key: KeyObject): string {
  return key.export({ format: 'pem', type: 'spki' }) as string
}

/** PKCS#8 PEM of a private key. */
export function pkcs8Pem(key: KeyObject): string {
  return key.export({ format: 'pem', type: 'pkcs8' }) as string
}

function sshString(bytes: Uint8Array): Buffer {
  const length = Buffer.alloc(4)
  length.writeUInt32BE(bytes.length)
  return Buffer.concat([length, bytes])
}

function sshMpint(bytes: Buffer): Buffer {
  return sshString((bytes[0]! & 0x80) !== 0 ? Buffer.concat([Buffer.from([0]), bytes]) : bytes)
}

/** OpenSSH public-key line of an RSA or P-256 key (`ssh-rsa AAAA...`), built by hand. */
export function sshPublicKey(key: KeyObject): string {
  const jwk = key.export({ format: 'jwk' })
  if (jwk.kty === 'RSA') {
    const body = Buffer.concat([
      sshString(Buffer.from('ssh-rsa')),
      sshMpint(Buffer.from(jwk.e!, 'base64url')),
      sshMpint(Buffer.from(jwk.n!, 'base64url')),
    ])
    return `ssh-rsa ${body.toString('base64')}`
  }
  const body = Buffer.concat([
    sshString(Buffer.from('ecdsa-sha2-nistp256')),
    sshString(Buffer.from('nistp256')),
    sshString(ecPoint(key)),
  ])
  return `ecdsa-sha2-nistp256 ${body.toString('base64')}`
}

/** Uncompressed EC point bytes (0x04 || X || Y) of a public key. */
export function ecPoint(key: KeyObject): Buffer {
  const jwk = key.export({ format: 'jwk' })
  return Buffer.concat([Buffer.from([4]), Buffer.from(jwk.x!, 'base64url'), Buffer.from(jwk.y!, 'base64url')])
}

// ---------------------------------------------------------------------------------------------
// Assertions

/** The error a promise rejects with; fails the test when it resolves. */
export async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise
  } catch (err) {
    return err
  }
  expect.fail('expected a rejection, but the token was accepted')
}

/** The error a function throws; fails the test when it returns. */
export function thrown(fn: () => unknown): unknown {
  try {
    fn()
  } catch (err) {
    return err
  }
  expect.fail('expected a throw, but the call returned')
}

/** Fails when the error's message, JSON or stack contains the token or one of its long segments. */
export function expectNoLeak(err: unknown, token: string): void {
  const error = err as Error & { toJSON?: () => unknown }
  const texts = [String(error.message), String(error.stack), JSON.stringify(error.toJSON?.() ?? null)]
  const secrets = [token, ...token.split('.')].filter((piece) => piece.length >= 12)
  for (const text of texts) for (const piece of secrets) expect(text).not.toContain(piece)
}

/**
 * Awaits a rejection and checks it is an `InvalidTokenError` (401, `ERR_INVALID_TOKEN`) with
 * one of the given reasons, whose message does not contain the token.
 */
export async function expectInvalid(
  promise: Promise<unknown>,
  reason: InvalidTokenReason | readonly InvalidTokenReason[],
  token?: unknown,
): Promise<InvalidTokenError> {
  const err = await rejection(promise)
  expect(err).toBeInstanceOf(InvalidTokenError)
  const invalid = err as InvalidTokenError
  expect(invalid.status).toBe(401)
  const reasons: readonly string[] = typeof reason === 'string' ? [reason] : reason
  expect(reasons).toContain(invalid.reason)
  if (invalid.reason === 'expired') {
    expect(invalid).toBeInstanceOf(TokenExpiredError)
    expect(invalid.code).toBe('ERR_TOKEN_EXPIRED')
  } else {
    expect(invalid.code).toBe('ERR_INVALID_TOKEN')
    expect(invalid.constructor).toBe(InvalidTokenError)
  }
  expect(invalid.wwwAuthenticate).toBe('Bearer error="invalid_token"')
  if (typeof token === 'string') expectNoLeak(invalid, token)
  return invalid
}

/** Awaits a rejection and checks it is a `TokenExpiredError` (401, `ERR_TOKEN_EXPIRED`). */
export async function expectExpired(promise: Promise<unknown>, token?: string): Promise<TokenExpiredError> {
  return (await expectInvalid(promise, 'expired', token)) as TokenExpiredError
}

// ---------------------------------------------------------------------------------------------
// Fixtures: two self-signed certificates and their keys, made once with openssl (Node cannot
// issue certificates). They play the attacker's key in the embedded-key tests (x5c, x5u) and a
// verifier's certificate in the algorithm-confusion tests.

/** Self-signed RSA-2048 certificate; its key is {@link RSA_CERT_KEY}. */
export const RSA_CERT = `-----BEGIN CERTIFICATE-----
MIIDFTCCAf2gAwIBAgIUR09idXWHCVoI/izq7N/Pl7y18NowDQYJKoZIhvcNAQEL
BQAwGTEXMBUGA1UEAwwOYXV0aHgtdGVzdC1yc2EwIBcNMjYxMTI1MjMzMDQ4WhgP
MjEyNjExMDEyMzMwNDhaMBkxFzAVBgNVBAMMDmF1dGh4LXRlc3QtcnNhMIIBIjAN
BgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEApycxCsksInRY+UvtxKrG0fFDrOYM
tvb9BlnsVV282vZ5dr1RzrQV94SmzgX0OrwAVN4IbdoUsEjyawb+u1R2nBwK9jit
PG6t2Lg8ivfW1Vdj2x2Vp4C1c5DEmTHlX88L9Ox4dnyQTYL91vV2lSrxyW76ZA58
AbJa0pT99/Wm8Rr+4XdmV4SDWO4gtT99srzuWQAr7qbQPsqUlJAap+bGmiQp+Y5P
1dD7/q7A6DjY8FO9fMNKZ4OiNG8gJNTjezyFyh7Ii0X+TjJ3KzdUFlZKmq98qIaf
6AgYIrHn3m8of8cCTc9mQ0LCG5Ikg1WHTQdb0Wrqs9Z2IGwpt6lfBDPSSwIDAQAB
o1MwUTAdBgNVHQ4EFgQUV9NWBq3YtMbhwOVK8oj9r3B54yYwHwYDVR0jBBgwFoAU
V9NWBq3YtMbhwOVK8oj9r3B54yYwDwYDVR0TAQH/BAUwAwEB/zANBgkqhkiG9w0B
AQsFAAOCAQEAV6FXQN6E1oJiqf8GPezxP9JJILS5KKcvNTcvy9kM6dKb6ZuZuWhY
6HJG1HBWWBLOjFPidJF0pJpncikPNOHbh2AP7ZsUynJwKU+pI1ZnW2Vqwru6ceo8
SWzLMc++5YtEMOPnRKB5d7OLvIX31v5xvHHJqNLIElmJoeJ7nUNbsb+bEwxMmzoY
7m08nhO+31zC876W+A2xBv1PhX6ifINc2ue9rPK+M43c4q8qvFLeKWs6Vjvce30N
sCedIvidua+DRXCTpLbGnAkC5EEIcD0VIPs16182Nk3YiJT4KrRTtDM2u3MK0OIq
QDmvCQHakn2tMfnxxXGB/pBN479ExgbyLQ==
-----END CERTIFICATE-----
`

/** Private key of {@link RSA_CERT}. */
export const RSA_CERT_KEY = `-----BEGIN PRIVATE KEY-----
MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQCnJzEKySwidFj5
S+3EqsbR8UOs5gy29v0GWexVXbza9nl2vVHOtBX3hKbOBfQ6vABU3ght2hSwSPJr
Bv67VHacHAr2OK08bq3YuDyK99bVV2PbHZWngLVzkMSZMeVfzwv07Hh2fJBNgv3W
9XaVKvHJbvpkDnwBslrSlP339abxGv7hd2ZXhINY7iC1P32yvO5ZACvuptA+ypSU
kBqn5saaJCn5jk/V0Pv+rsDoONjwU718w0png6I0byAk1ON7PIXKHsiLRf5OMncr
N1QWVkqar3yohp/oCBgisefebyh/xwJNz2ZDQsIbkiSDVYdNB1vRauqz1nYgbCm3
qV8EM9JLAgMBAAECggEABWgJj8SQtD2tI2gsqToNMvFYUO3FYSU9PJSI6M3wLejf
fWpU6a9yuys4NfRtWHlZe/DeiGE+MBAHloJvrvi3N/DaE7topwSOhDKZUIZ1Q/KD
YsRLkA1M3MmWMNR5IuD/DTCB69srX1ITOQl+iNjIpodY2EyNFsrHMz/pheda9ZcF
qGbPC/dQ294zB0rNTImj8DN/LyxTn3g0U7rnon0a39lzL7UTg0GAouKQmKYcwIFL
PELQOT3PJN4/27xCIIEZJH4SIwDanK5gQKGGxBfjDFzMvJIpu2f5MJHWdsOyqrn0
hlVA1epPSIN62Qhm0LCsPiKZ7V5VNzDjJ6VEnvmXQQKBgQDm82ZFmKfkPv/HP5DY
5pL0z+0iCTYVPNGwwpYKMBO5zXdYsY8MvXEPgBMtPY6zJ9NN85U+kNwfIZPopN16
u9lUxipyrtRXeVwbMoUyUoPnKv79QW34KmnFzmjdOrCYrFg2NLTujDVZYNBp3u+i
iWludEVK3jcD4MOXrgH9y7TW4QKBgQC5SGEwOGllFmC1nSlfrQjWUpZeQXXh4yy5
lJvGisXaaS/kkENLh+6AKSeqxhqMGZDhfKhk1B09CG78Gs1BSM7L50BPzXsE97KN
rE7SYIC1a47E0qNLu5yljRwiB332qPIC4cjUGxwFMTeRc9cYfJP3XfegFGRXTvvf
A4gDX/OKqwKBgQDjUUum0PzfwcqMWVq+wyR+ZnIngB2Fhdl3O+/mky+3QC9qU0pT
5dr0wMEfVGmymU54eXq6nGatFaW55RxCg8cElBCP1NkYSFGKS42i3GkMDdvxdodB
Lq3xjprUtcHAZFJm+DXmXobcNFiu/EmuF8Z4e2UArfxEiuS51QIMxoZ2wQKBgA+X
eq4/IQdjsbG2zwOBISw/+O1nns7qehoH2nADv5CYp3IZfcA+aSCZ1f+1+gfuItYG
0njhrLA1JHnMm5cx1E0uYagVh5OscHchl+R2QH6D1ZjUjO9Tk2QPEt3+OWhnYS5C
586JlXsOYDm6QNCLszvuyWbMMIF0YResSWbXTTxPAoGAJba1Th7jFzGoS2YL2Odj
/vc9z789WF+axW7OsTTQ4oI4f+X7F/gY3yVg1RH3lP9ailvPqpCRhqWNWe8XevdI
J9wY/1kod0no/7uKUVpc2/M9r0N58O3ag/h5s9bCa8odZp97TjN7Mngh0ChDcqYY
pTKryVzYCN10f4iGeTasHWU=
-----END PRIVATE KEY-----
`

/** Self-signed P-256 certificate; its key is {@link EC_CERT_KEY}. */
export const EC_CERT = `-----BEGIN CERTIFICATE-----
MIIBfDCCASOgAwIBAgIUJPZiY/Ct9w2jhDUqidoLD8R5T+swCgYIKoZIzj0EAwIw
EzERMA8GA1UEAwwIYXR0YWNrZXIwIBcNMjYxMTI1MjMzMDQ4WhgPMjEyNjExMDEy
MzMwNDhaMBMxETAPBgNVBAMMCGF0dGFja2VyMFkwEwYHKoZIzj0CAQYIKoZIzj0D
AQcDQgAEBlAH52iH/GTTgw4iXaJkPBsmQ9P29757TfCYd9tWt4dMizpZYkYTsXSM
NOfqQv8J69zsxi5HKwmk4d5773716aNTMFEwHQYDVR0OBBYEFFp4hjm1bc7vLLfy
Gx6BSRx7LIXJMB8GA1UdIwQYMBaAFFp4hjm1bc7vLLfyGx6BSRx7LIXJMA8GA1Ud
EwEB/wQFMAMBAf8wCgYIKoZIzj0EAwIDRwAwRAIgLzZSAWPcqGbrI6/T/UxCtl1B
ASXY5apdUFpjdPeqKU0CIFvfAQoC+QIWAweHH7djGun1XnfWxGyTwWcjjZTtjUYz
-----END CERTIFICATE-----
`

/** Private key of {@link EC_CERT}. */
export const EC_CERT_KEY = `-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg19NI4x0U2OaB25Sj
rj47s0qzz3yCqTdKNn/w8TcI6+ihRANCAAQGUAfnaIf8ZNODDiJdomQ8GyZD0/b3
vntN8Jh321a3h0yLOlliRhOxdIw05+pC/wnr3OzGLkcrCaTh3nvvfvXp
-----END PRIVATE KEY-----
`
