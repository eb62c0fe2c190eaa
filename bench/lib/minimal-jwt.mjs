// The reference row of the micro benchmark: the least a correct JWT verifier on node:crypto has
// to do. Keys are imported once as KeyObjects; per token it splits, parses the header and checks
// `alg`, checks the signature (HMAC compared in constant time; RSA PKCS#1 v1.5; ECDSA with raw
// R||S; Ed25519), parses the payload and checks `exp`. No other claim, no type, no revocation:
// every library in the table does at least this much, so it is the floor they are measured from.

import {
  createHmac,
  sign as cryptoSign,
  verify as cryptoVerify,
  randomUUID,
  timingSafeEqual,
} from 'node:crypto'

/** How each algorithm signs and verifies on node:crypto. */
const ALGORITHMS = {
  HS256: { kind: 'hmac', hash: 'sha256' },
  RS256: { kind: 'asymmetric', hash: 'sha256', dsaEncoding: undefined },
  ES256: { kind: 'asymmetric', hash: 'sha256', dsaEncoding: 'ieee-p1363' },
  EdDSA: { kind: 'asymmetric', hash: null, dsaEncoding: undefined },
}

const encodeJson = (value) => Buffer.from(JSON.stringify(value)).toString('base64url')

/**
 * A verifier bound to one algorithm and one key (a secret KeyObject for HS256, a public
 * KeyObject otherwise). Returns the payload, or throws.
 */
export function minimalVerifier(alg, key) {
  const spec = ALGORITHMS[alg]
  if (spec === undefined) throw new Error(`minimal JWT: unknown algorithm ${alg}`)
  const verifyKey = spec.dsaEncoding === undefined ? key : { key, dsaEncoding: spec.dsaEncoding }
  return (token) => {
    const first = token.indexOf('.')
    const second = token.indexOf('.', first + 1)
    if (first <= 0 || second <= first || token.indexOf('.', second + 1) !== -1) throw new Error('malformed')
    const header = JSON.parse(Buffer.from(token.slice(0, first), 'base64url').toString())
    if (header.alg !== alg) throw new Error('unexpected alg')
    const signingInput = token.slice(0, second)
    const signature = Buffer.from(token.slice(second + 1), 'base64url')
    let valid
    if (spec.kind === 'hmac') {
      const expected = createHmac(spec.hash, key).update(signingInput).digest()
      valid = expected.length === signature.length && timingSafeEqual(expected, signature)
    } else {
      valid = cryptoVerify(spec.hash, Buffer.from(signingInput), verifyKey, signature)
    }
    if (!valid) throw new Error('bad signature')
    const payload = JSON.parse(Buffer.from(token.slice(first + 1, second), 'base64url').toString())
    if (typeof payload.exp !== 'number' || payload.exp * 1000 <= Date.now()) throw new Error('expired')
    return payload
  }
}

/**
 * A signer bound to one algorithm and one key (a secret KeyObject for HS256, a private KeyObject
 * otherwise), for making the benchmark's tokens.
 */
export function minimalSigner(alg, key) {
  const spec = ALGORITHMS[alg]
  if (spec === undefined) throw new Error(`minimal JWT: unknown algorithm ${alg}`)
  const signKey = spec.dsaEncoding === undefined ? key : { key, dsaEncoding: spec.dsaEncoding }
  const header = encodeJson({ alg, typ: 'JWT' })
  return (payload) => {
    const signingInput = `${header}.${encodeJson(payload)}`
    const signature =
      spec.kind === 'hmac'
        ? createHmac(spec.hash, key).update(signingInput).digest()
        : cryptoSign(spec.hash, Buffer.from(signingInput), signKey)
    return `${signingInput}.${signature.toString('base64url')}`
  }
}

/** The claims authx puts in an access token made with `createAccessToken({ uid })`. */
export function accessClaims(sub, lifetimeSeconds = 900) {
  const now = Math.floor(Date.now() / 1000)
  return {
    sub,
    jti: randomUUID(),
    iat: now,
    nbf: now,
    exp: now + lifetimeSeconds,
    type: 'access',
    fresh: false,
  }
}
