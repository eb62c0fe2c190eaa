/**
 * Security catalogue A (algorithm, header, keys) at the token level: alg none and the exact
 * allow-list, public keys used as HMAC secrets, one key for one algorithm, crit, b64, embedded
 * keys and key URLs, duplicate names, empty keys and ECDSA signature encodings. Every case runs
 * on both engines (node:crypto and jose).
 */

import {
  createHmac,
  createPrivateKey,
  createPublicKey,
  ECDH,
  generateKeyPairSync,
  X509Certificate,
} from 'node:crypto'
import http from 'node:http'
import https from 'node:https'
import { afterEach, beforeEach, describe, expect, it, type MockInstance, vi } from 'vitest'
import { type AuthX, ConfigError } from '../../src/index.js'
import {
  accessClaims,
  b64u,
  EC_CERT,
  EC_CERT_KEY,
  ENGINES,
  type Engine,
  ecKeys,
  ecPoint,
  edKeys,
  expectInvalid,
  forge,
  forgeHs256,
  hmac,
  hsAuth,
  makeAuth,
  NOW,
  OMIT,
  pkcs8Pem,
  RSA_CERT,
  RSA_CERT_KEY,
  raw,
  rsaKeys,
  SECRET,
  segments,
  signer,
  spkiPem,
  sshPublicKey,
  thrown,
} from './forge.js'

vi.mock('../../src/core/runtime.js', async (orig) => {
  const mod = await orig<typeof import('../../src/core/runtime.js')>()
  const { engineNow } = await import('../support/variant-setup.js')
  return { ...mod, nodeCrypto: () => (engineNow() === 'jose' ? undefined : mod.nodeCrypto()) }
})

const HS256 = { alg: 'HS256', typ: 'JWT' }

async function kidOf(auth: AuthX): Promise<string> {
  const kid = (await auth.jwks()).keys[0]?.kid
  expect(kid).toBeTypeOf('string')
  return kid!
}

describe.each(ENGINES)('security: alg none (%s engine)', (engine) => {
  const auth = hsAuth({}, engine)

  for (const alg of ['none', 'None', 'NONE', 'nOnE']) {
    it(`rejects alg '${alg}' with an empty signature`, async () => {
      const token = forge({ alg, typ: 'JWT' }, accessClaims(), '')
      await expectInvalid(auth.decodeToken(token), ['malformed', 'algorithm'], token)
      await expectInvalid(auth.verifyToken(token), ['malformed', 'algorithm'], token)
    })

    it(`rejects alg '${alg}' even when it carries a valid HS256 MAC of the real secret`, async () => {
      const token = forge({ alg, typ: 'JWT' }, accessClaims(), hmac('HS256', SECRET))
      await expectInvalid(auth.decodeToken(token), 'algorithm', token)
      await expectInvalid(auth.verifyToken(token), 'algorithm', token)
    })

    it(`rejects alg '${alg}' with a junk signature`, async () => {
      const token = forge({ alg, typ: 'JWT' }, accessClaims(), b64u('junk-signature'))
      await expectInvalid(auth.decodeToken(token), 'algorithm', token)
    })
  }
})

describe.each(ENGINES)('security: algorithm allow-list (%s engine)', (engine) => {
  const auth = hsAuth({}, engine)

  it('accepts the control token: HS256 MACed with the configured secret', async () => {
    const payload = await auth.decodeToken(forgeHs256(accessClaims()))
    expect(payload.sub).toBe('user-1')
  })

  const variants: [string, unknown][] = [
    ["'hs256'", 'hs256'],
    ["' HS256'", ' HS256'],
    ["'HS256 '", 'HS256 '],
    ["'HS256\\u0000'", 'HS256\u0000'],
    ['missing', OMIT],
    ['null', null],
    ['123', 123],
    ["['HS256']", ['HS256']],
    ["{ name: 'HS256' }", { name: 'HS256' }],
    ['true', true],
    ["'' (empty)", ''],
  ]
  for (const [name, alg] of variants) {
    it(`rejects alg ${name} even when MACed with the right secret`, async () => {
      const header: Record<string, unknown> = { typ: 'JWT' }
      if (alg !== OMIT) header.alg = alg
      const token = forge(header, accessClaims(), hmac('HS256', SECRET))
      await expectInvalid(auth.decodeToken(token), 'algorithm', token)
    })
  }

  it('rejects an algorithm that is supported but not allowed for this instance (RS256 on an HS256 key)', async () => {
    const token = forge({ alg: 'RS256', typ: 'JWT' }, accessClaims(), signer('RS256', rsaKeys().privateKey))
    await expectInvalid(auth.decodeToken(token), 'algorithm', token)
  })

  it("refuses 'none' in verify.algorithms, an empty list, and lists mixing HMAC with asymmetric algorithms", () => {
    const bad: unknown[] = [['none'], ['HS256', 'none'], [], ['HS256', 'RS256'], ['NONE'], 'HS256']
    for (const algorithms of bad) {
      expect(thrown(() => hsAuth({ verify: { algorithms } as never }, engine))).toBeInstanceOf(ConfigError)
    }
    const rsaPem = spkiPem(rsaKeys().publicKey)
    for (const algorithms of [
      ['RS256', 'HS256'],
      ['RS256', 'none'],
    ]) {
      expect(
        thrown(() =>
          makeAuth({ algorithm: 'RS256', publicKey: rsaPem, verify: { algorithms } as never }, engine),
        ),
      ).toBeInstanceOf(ConfigError)
    }
  })

  it("refuses an 'algorithm' option of 'none' or a wrong casing", () => {
    for (const algorithm of ['none', 'hs256', 'HS256 ']) {
      expect(thrown(() => hsAuth({ algorithm: algorithm as never }, engine))).toBeInstanceOf(ConfigError)
    }
  })
})

/**
 * The classic confusion (CVE-2015-9235, CVE-2022-23541, CVE-2023-48223, GHSA-ww5h-9m49-7xx4):
 * an attacker MACs a token with the verifier's *public* key as the HMAC secret and sets
 * alg HS256. Each forged token is checked against a control: an HS256 verifier whose secret is
 * those same bytes accepts it, so only the algorithm rule can be what rejects it.
 */
describe.each(ENGINES)('security: algorithm confusion, public key as HMAC secret (%s engine)', (engine) => {
  type Secret = string | Uint8Array
  const rsa = rsaKeys()
  const ec = ecKeys()
  const ed = edKeys()

  function publicForms(key: ReturnType<typeof createPublicKey>): [string, Secret][] {
    const pem = spkiPem(key)
    return [
      ['SPKI PEM', pem],
      ['SPKI PEM with a leading newline', `\n${pem}`],
      ['SPKI PEM with a leading space', ` ${pem}`],
      ['SPKI PEM with a leading CRLF', `\r\n${pem}`],
      ['SPKI PEM with CRLF line endings', pem.replace(/\n/g, '\r\n')],
      ['SPKI PEM without its final newline', pem.trimEnd()],
      ['SPKI DER bytes', key.export({ format: 'der', type: 'spki' })],
      ['JWK JSON string', JSON.stringify(key.export({ format: 'jwk' }))],
    ]
  }

  const verifiers: {
    name: string
    options: Parameters<typeof makeAuth>[0]
    secrets: [string, Secret][]
  }[] = [
    {
      name: 'RS256',
      options: { algorithm: 'RS256', publicKey: spkiPem(rsa.publicKey) },
      secrets: [
        ...publicForms(rsa.publicKey),
        [
          'PKCS#1 PEM (BEGIN RSA PUBLIC KEY)',
          rsa.publicKey.export({ format: 'pem', type: 'pkcs1' }) as string,
        ],
        [
          'PKCS#1 PEM with a leading newline',
          `\n${rsa.publicKey.export({ format: 'pem', type: 'pkcs1' }) as string}`,
        ],
        ['PKCS#1 DER bytes', rsa.publicKey.export({ format: 'der', type: 'pkcs1' })],
        ['OpenSSH ssh-rsa line', sshPublicKey(rsa.publicKey)],
      ],
    },
    {
      name: 'RS256 configured with a certificate',
      options: { algorithm: 'RS256', publicKey: RSA_CERT },
      secrets: [
        ['certificate PEM', RSA_CERT],
        ['certificate PEM with a leading newline', `\n${RSA_CERT}`],
        ['the certificate public key as SPKI PEM', spkiPem(new X509Certificate(RSA_CERT).publicKey)],
      ],
    },
    {
      name: 'ES256',
      options: { algorithm: 'ES256', publicKey: spkiPem(ec.publicKey) },
      secrets: [
        ...publicForms(ec.publicKey),
        ['uncompressed EC point bytes (Wycheproof tcId 31)', ecPoint(ec.publicKey)],
        [
          'compressed EC point bytes',
          ECDH.convertKey(ecPoint(ec.publicKey), 'prime256v1', undefined, undefined, 'compressed') as Buffer,
        ],
        ['OpenSSH ecdsa-sha2-nistp256 line', sshPublicKey(ec.publicKey)],
      ],
    },
    {
      name: 'ES256 configured with a certificate',
      options: { algorithm: 'ES256', publicKey: EC_CERT },
      secrets: [['certificate PEM', EC_CERT]],
    },
    {
      name: 'EdDSA',
      options: { algorithm: 'EdDSA', publicKey: spkiPem(ed.publicKey) },
      secrets: [
        ...publicForms(ed.publicKey),
        ['raw Ed25519 public key bytes', Buffer.from(ed.publicKey.export({ format: 'jwk' }).x!, 'base64url')],
      ],
    },
  ]

  for (const verifier of verifiers) {
    const auth = makeAuth(verifier.options, engine)
    for (const [name, secret] of verifier.secrets) {
      it(`rejects an HS256 token MACed with the ${verifier.name} public key as ${name}`, async () => {
        const kid = await kidOf(auth)
        // The control: the forged token is a perfectly good HS256 token for these bytes.
        const control = makeAuth({ secretKey: secret }, engine)
        for (const header of [HS256, { ...HS256, kid }]) {
          const token = forge(header, accessClaims(), hmac('HS256', secret))
          if (!('kid' in header)) expect((await control.decodeToken(token)).sub).toBe('user-1')
          await expectInvalid(auth.decodeToken(token), 'algorithm', token)
          await expectInvalid(auth.verifyToken(token), 'algorithm', token)
          for (const alg of ['HS384', 'HS512'] as const) {
            const other = forge({ ...header, alg }, accessClaims(), hmac(alg, secret))
            await expectInvalid(auth.decodeToken(other), 'algorithm', other)
          }
        }
      })
    }
  }

  it('cannot be configured to accept HS256 next to RS256 on the same verifier', () => {
    const err = thrown(() =>
      makeAuth(
        { algorithm: 'RS256', publicKey: spkiPem(rsa.publicKey), verify: { algorithms: ['RS256', 'HS256'] } },
        engine,
      ),
    )
    expect(err).toBeInstanceOf(ConfigError)
  })
})

describe.each(ENGINES)('security: one key, one algorithm (%s engine)', (engine) => {
  it('rejects an HS512 (or HS384) token MACed with the secret of an HS256 instance', async () => {
    const auth = hsAuth({}, engine)
    for (const alg of ['HS384', 'HS512'] as const) {
      const token = forge({ alg, typ: 'JWT' }, accessClaims(), hmac(alg, SECRET))
      await expectInvalid(auth.decodeToken(token), 'algorithm', token)
    }
  })

  it('rejects an HS256 token MACed with the secret of an HS512 instance', async () => {
    const auth = makeAuth({ algorithm: 'HS512', secretKey: SECRET }, engine)
    const token = forgeHs256(accessClaims())
    await expectInvalid(auth.decodeToken(token), 'algorithm', token)
  })

  it('rejects PS256 and RS512 tokens signed by the private key of an RS256 instance', async () => {
    const { privateKey, publicKey } = rsaKeys()
    const auth = makeAuth({ algorithm: 'RS256', publicKey: spkiPem(publicKey) }, engine)
    for (const alg of ['PS256', 'RS512', 'RS384']) {
      const token = forge({ alg, typ: 'JWT' }, accessClaims(), signer(alg, privateKey))
      await expectInvalid(auth.decodeToken(token), 'algorithm', token)
    }
    const good = forge({ alg: 'RS256', typ: 'JWT' }, accessClaims(), signer('RS256', privateKey))
    expect((await auth.decodeToken(good)).sub).toBe('user-1')
  })

  it('refuses verify.algorithms naming an algorithm the key was not configured for', () => {
    const err = thrown(() =>
      makeAuth(
        {
          algorithm: 'RS256',
          publicKey: spkiPem(rsaKeys().publicKey),
          verify: { algorithms: ['RS256', 'PS256'] },
        },
        engine,
      ),
    )
    expect(err).toBeInstanceOf(ConfigError)
  })
})

describe.each(ENGINES)('security: crit and b64 headers (%s engine)', (engine) => {
  const auth = hsAuth({}, engine)
  const crits: [string, Record<string, unknown>][] = [
    ["crit ['x-custom'] with the parameter present", { crit: ['x-custom'], 'x-custom': 1 }],
    ["crit ['x-custom'] naming a parameter absent from the header", { crit: ['x-custom'] }],
    ['crit [] (empty)', { crit: [] }],
    ["crit ['alg'] (a registered parameter)", { crit: ['alg'] }],
    ["crit ['exp'] naming a claim, absent from the header", { crit: ['exp'] }],
    ["crit 'x-custom' (not an array)", { crit: 'x-custom', 'x-custom': 1 }],
    ['crit {} (an object)', { crit: {} }],
    ['crit null', { crit: null }],
    ['crit with duplicates', { crit: ['x-custom', 'x-custom'], 'x-custom': 1 }],
    ["crit ['b64'] with b64 true", { crit: ['b64'], b64: true }],
  ]
  for (const [name, extra] of crits) {
    it(`rejects ${name}, MACed with the right secret`, async () => {
      const token = forge({ ...HS256, ...extra }, accessClaims(), hmac('HS256', SECRET))
      await expectInvalid(auth.decodeToken(token), 'algorithm', token)
      await expectInvalid(auth.verifyToken(token), 'algorithm', token)
    })
  }

  it("rejects b64:false with crit ['b64'] and an unencoded payload (RFC 7797 is not supported)", async () => {
    const header = b64u(JSON.stringify({ ...HS256, b64: false, crit: ['b64'] }))
    const payload = JSON.stringify(accessClaims())
    const mac = createHmac('sha256', SECRET).update(`${header}.${payload}`).digest('base64url')
    const token = `${header}.${payload}.${mac}`
    await expectInvalid(auth.decodeToken(token), ['algorithm', 'malformed'], token)
  })

  it("rejects b64:false with crit ['b64'] even over a base64url payload", async () => {
    const token = forge({ ...HS256, b64: false, crit: ['b64'] }, accessClaims(), hmac('HS256', SECRET))
    await expectInvalid(auth.decodeToken(token), 'algorithm', token)
  })

  it('decodes a b64:false header without crit as an ordinary token, never as a raw payload', async () => {
    const token = forge({ ...HS256, b64: false }, accessClaims(), hmac('HS256', SECRET))
    expect((await auth.decodeToken(token)).sub).toBe('user-1')
    const header = b64u(JSON.stringify({ ...HS256, b64: false }))
    const payload = JSON.stringify(accessClaims())
    const mac = createHmac('sha256', SECRET).update(`${header}.${payload}`).digest('base64url')
    const unencoded = `${header}.${payload}.${mac}`
    await expectInvalid(auth.decodeToken(unencoded), 'malformed', unencoded)
  })
})

/**
 * Wycheproof tcId 32 and RFC 8725 section 3.10: `jwk`, `jku`, `x5u` and `x5c` carry the
 * attacker's own key, which really signed the token. authx takes keys only from its
 * configuration, so these fail, and no request is ever made for them (fetch is mocked to serve
 * the attacker's key set, so following a URL would make the token pass).
 */
describe.each(ENGINES)('security: embedded keys and key URLs (%s engine)', (engine) => {
  const ATTACKER = 'https://attacker.example'
  let fetchSpy: MockInstance<typeof fetch>
  const netSpies: MockInstance[] = []

  const attackers = {
    RS256: { key: createPrivateKey(RSA_CERT_KEY), cert: RSA_CERT },
    ES256: { key: createPrivateKey(EC_CERT_KEY), cert: EC_CERT },
    EdDSA: { key: generateKeyPairSync('ed25519').privateKey, cert: undefined },
  } as const
  const verifiers = {
    RS256: makeAuth({ algorithm: 'RS256', publicKey: spkiPem(rsaKeys().publicKey) }, engine),
    ES256: makeAuth({ algorithm: 'ES256', publicKey: spkiPem(ecKeys().publicKey) }, engine),
    EdDSA: makeAuth({ algorithm: 'EdDSA', publicKey: spkiPem(edKeys().publicKey) }, engine),
  }

  function attackerJwk(alg: keyof typeof attackers): Record<string, unknown> {
    return {
      ...createPublicKey(attackers[alg].key).export({ format: 'jwk' }),
      alg,
      use: 'sig',
      kid: 'attacker',
    }
  }

  beforeEach(() => {
    fetchSpy = vi.spyOn(globalThis, 'fetch').mockImplementation(async (input) => {
      const url = String(input instanceof Request ? input.url : input)
      if (url.endsWith('.pem')) return new Response(attackers.RS256.cert)
      return Response.json({ keys: Object.keys(attackers).map((alg) => attackerJwk(alg as never)) })
    })
    for (const mod of [http, https]) {
      netSpies.push(vi.spyOn(mod, 'request'), vi.spyOn(mod, 'get'))
    }
  })

  afterEach(() => {
    fetchSpy.mockRestore()
    for (const spy of netSpies.splice(0)) spy.mockRestore()
  })

  function expectNoOutboundRequest(): void {
    expect(fetchSpy).not.toHaveBeenCalled()
    for (const spy of netSpies) expect(spy).not.toHaveBeenCalled()
  }

  for (const alg of ['RS256', 'ES256', 'EdDSA'] as const) {
    const attacker = attackers[alg]
    const x5c = attacker.cert && [new X509Certificate(attacker.cert).raw.toString('base64')]
    const headers: [string, Record<string, unknown>][] = [
      ['jwk', { jwk: attackerJwk(alg) }],
      ['jku', { jku: `${ATTACKER}/jwks.json`, kid: 'attacker' }],
      ['jku without kid', { jku: `${ATTACKER}/jwks.json` }],
      ['x5u', { x5u: `${ATTACKER}/cert.pem` }],
      [
        'jwk, jku, x5u together',
        { jwk: attackerJwk(alg), jku: `${ATTACKER}/jwks.json`, x5u: `${ATTACKER}/c.pem` },
      ],
    ]
    if (x5c) headers.push(['x5c', { x5c }], ['x5c and jwk together', { x5c, jwk: attackerJwk(alg) }])

    for (const [name, extra] of headers) {
      it(`rejects a ${alg} token signed by an attacker key carried in ${name}, with no outbound request`, async () => {
        const token = forge({ alg, typ: 'JWT', ...extra }, accessClaims(), signer(alg, attacker.key))
        // Control: the token is valid for a verifier configured with the attacker's key.
        const control = makeAuth(
          { algorithm: alg, publicKey: spkiPem(createPublicKey(attacker.key)) },
          engine,
        )
        if (!('kid' in extra)) expect((await control.decodeToken(token)).sub).toBe('user-1')
        await expectInvalid(verifiers[alg].decodeToken(token), 'signature', token)
        await expectInvalid(verifiers[alg].verifyToken(token), 'signature', token)
        expectNoOutboundRequest()
      })
    }

    it(`rejects a ${alg} token carrying an attacker jwk and the verifier's own kid`, async () => {
      const kid = await kidOf(verifiers[alg])
      const token = forge(
        { alg, typ: 'JWT', kid, jwk: attackerJwk(alg) },
        accessClaims(),
        signer(alg, attacker.key),
      )
      await expectInvalid(verifiers[alg].decodeToken(token), 'signature', token)
      expectNoOutboundRequest()
    })
  }

  it('fetches keys only from the configured jwksUrl, never from a jku/x5u in the token', async () => {
    const legit = generateKeyPairSync('ec', { namedCurve: 'P-256' })
    const issuer = makeAuth(
      { keys: [{ kid: 'legit', algorithm: 'ES256', privateKey: pkcs8Pem(legit.privateKey) }] },
      engine,
    )
    const jwks = await issuer.jwks()
    fetchSpy.mockImplementation(async (input) => {
      const url = String(input instanceof Request ? input.url : input)
      if (url.startsWith(ATTACKER)) return Response.json({ keys: [attackerJwk('ES256')] })
      return Response.json(jwks)
    })
    const auth = makeAuth({ algorithm: 'ES256', jwksUrl: 'https://issuer.example/jwks.json' }, engine)
    expect((await auth.decodeToken(await issuer.createAccessToken({ uid: 'u' }))).sub).toBe('u')

    for (const kid of ['attacker', 'legit']) {
      const token = forge(
        {
          alg: 'ES256',
          typ: 'JWT',
          kid,
          jku: `${ATTACKER}/jwks.json`,
          x5u: `${ATTACKER}/c.pem`,
          jwk: attackerJwk('ES256'),
        },
        accessClaims(),
        signer('ES256', attackers.ES256.key),
      )
      await expectInvalid(auth.decodeToken(token), 'signature', token)
    }
    const hs = forge(
      { alg: 'HS256', typ: 'JWT', kid: 'legit' },
      accessClaims(),
      hmac('HS256', JSON.stringify(jwks)),
    )
    await expectInvalid(auth.decodeToken(hs), 'algorithm', hs)

    expect(fetchSpy).toHaveBeenCalled()
    for (const [input] of fetchSpy.mock.calls) {
      const url = String(input instanceof Request ? input.url : input)
      expect(url).toBe('https://issuer.example/jwks.json')
    }
  })
})

describe.each(ENGINES)('security: duplicate header and claim names (%s engine)', (engine) => {
  const auth = hsAuth({}, engine)

  it("takes the last 'alg' consistently: {alg:HS256, alg:none} is rejected", async () => {
    const token = forge(
      raw('{"alg":"HS256","typ":"JWT","alg":"none"}'),
      accessClaims(),
      hmac('HS256', SECRET),
    )
    await expectInvalid(auth.decodeToken(token), 'algorithm', token)
  })

  it("takes the last 'alg' consistently: {alg:none, alg:HS256} verifies as HS256", async () => {
    const token = forge(
      raw('{"alg":"none","typ":"JWT","alg":"HS256"}'),
      accessClaims(),
      hmac('HS256', SECRET),
    )
    expect((await auth.decodeToken(token)).sub).toBe('user-1')
  })

  it('hands the application exactly the claims it verified when a claim name repeats', async () => {
    const body = JSON.stringify(accessClaims({ sub: 'alice' })).replace(/}$/, ',"sub":"admin"}')
    const token = forgeHs256(raw(body))
    const payload = await auth.decodeToken(token)
    expect(payload.sub).toBe('admin')
    expect(payload.claims.sub).toBe('admin')
  })
})

describe.each(ENGINES)('security: empty keys and signature encodings (%s engine)', (engine: Engine) => {
  it('rejects HS256 tokens MACed with an empty string or an empty buffer (CVE-2026-44351)', async () => {
    const auth = hsAuth({}, engine)
    for (const secret of ['', new Uint8Array(0)]) {
      const token = forge(HS256, accessClaims(), hmac('HS256', secret))
      await expectInvalid(auth.decodeToken(token), 'signature', token)
      const rs = makeAuth({ algorithm: 'RS256', publicKey: spkiPem(rsaKeys().publicKey) }, engine)
      await expectInvalid(rs.decodeToken(token), 'algorithm', token)
    }
  })

  describe('ES256 signatures must be raw R||S of exactly 64 bytes (RFC 7518 section 3.4)', () => {
    const { privateKey, publicKey } = ecKeys()
    const auth = makeAuth({ algorithm: 'ES256', publicKey: spkiPem(publicKey) }, engine)
    const header = { alg: 'ES256', typ: 'JWT' }
    const good = forge(header, accessClaims(), signer('ES256', privateKey))
    const [h, p, s] = segments(good)
    const sig = Buffer.from(s, 'base64url')

    it('accepts the control token', async () => {
      expect(sig).toHaveLength(64)
      expect((await auth.decodeToken(good)).sub).toBe('user-1')
    })

    const cases: [string, () => string][] = [
      ['an all-zero signature', () => b64u(new Uint8Array(64))],
      [
        'a valid signature in DER encoding',
        () => b64u(signer('ES256', privateKey, { der: true })(`${h}.${p}`)),
      ],
      ['a 63-byte signature (last byte dropped)', () => b64u(sig.subarray(0, 63))],
      ['a 65-byte signature (zero byte appended)', () => b64u(Buffer.concat([sig, Buffer.from([0])]))],
      ['a 65-byte signature (zero byte prepended)', () => b64u(Buffer.concat([Buffer.from([0]), sig]))],
      ['r and s swapped', () => b64u(Buffer.concat([sig.subarray(32), sig.subarray(0, 32)]))],
      ['a DER-encoded r = s = 0', () => b64u(Buffer.from('3006020100020100', 'hex'))],
    ]
    for (const [name, make] of cases) {
      it(`rejects ${name}`, async () => {
        const token = `${h}.${p}.${make()}`
        await expectInvalid(auth.decodeToken(token), 'signature', token)
      })
    }
  })

  it('rejects EdDSA signatures of 63 or 65 bytes and RS256 signatures truncated or extended', async () => {
    const ed = edKeys()
    const edAuth = makeAuth({ algorithm: 'EdDSA', publicKey: spkiPem(ed.publicKey) }, engine)
    const edGood = forge({ alg: 'EdDSA', typ: 'JWT' }, accessClaims(), signer('EdDSA', ed.privateKey))
    const rsa = rsaKeys()
    const rsAuth = makeAuth({ algorithm: 'RS256', publicKey: spkiPem(rsa.publicKey) }, engine)
    const rsGood = forge({ alg: 'RS256', typ: 'JWT' }, accessClaims(), signer('RS256', rsa.privateKey))
    for (const [auth, good] of [
      [edAuth, edGood],
      [rsAuth, rsGood],
    ] as const) {
      expect((await auth.decodeToken(good)).sub).toBe('user-1')
      const [h, p, s] = segments(good)
      const sig = Buffer.from(s, 'base64url')
      for (const bad of [
        sig.subarray(0, sig.length - 1),
        Buffer.concat([sig, Buffer.from([0])]),
        sig.subarray(1),
      ]) {
        const token = `${h}.${p}.${b64u(bad)}`
        await expectInvalid(auth.decodeToken(token), 'signature', token)
      }
    }
  })

  it('checks the signature before the claims: a forged expired token reports signature, not expiry', async () => {
    const auth = hsAuth({}, engine)
    const token = forge(HS256, accessClaims({ exp: NOW - 3600 }), hmac('HS256', 'x'.repeat(32)))
    await expectInvalid(auth.decodeToken(token), 'signature', token)
  })
})
