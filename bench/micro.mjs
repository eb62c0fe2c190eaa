// Part 1, micro: sign and verify per algorithm, every library in the same process, in rounds.
// Each round runs every task briefly (tinybench, one task at a time, each table's tasks together;
// see roundOrder); a row's figure is the median of its rounds, its ratio the median of its
// per-round ratios to the table's reference. Uncached verify rows rotate through 4,096 distinct
// tokens; cached rows verify one token again and again.

import { createSecretKey, webcrypto } from 'node:crypto'
import { createSigner, createVerifier } from 'fast-jwt'
import { exportJWK, generateKeyPair, importPKCS8, importSPKI, jwtVerify, SignJWT } from 'jose'
import jsonwebtoken from 'jsonwebtoken'
import { Bench } from 'tinybench'
import {
  ALGORITHMS,
  exitWithParent,
  importAuthx,
  makeKeys,
  median,
  pairedRatio,
  partOptions,
  progress,
  report,
  roundOrder,
} from './lib/common.mjs'
import { accessClaims, minimalSigner, minimalVerifier } from './lib/minimal-jwt.mjs'

exitWithParent()

const DISTINCT_TOKENS = 4096
const MASK = DISTINCT_TOKENS - 1
const SUB = 'user123'

const options = partOptions()
const rounds = options.micro?.rounds ?? 5
const time = options.micro?.timeMs ?? 200
const warmupTime = options.micro?.warmupMs ?? 50
const firstWarmup = options.micro?.firstWarmupMs ?? 200
const algorithms = options.micro?.algorithms ?? ALGORITHMS

const { AuthX } = await importAuthx('index')

/** jsonwebtoken 9 has no EdDSA ("Unknown key type ed25519"): those rows are left out. */
const supported = (alg, task) => !(alg === 'EdDSA' && task.name.startsWith('jsonwebtoken'))

/** Everything one algorithm's rows need: keys in each library's form, instances, tokens. */
async function setUp(alg) {
  const keys = makeKeys(alg)
  const hmac = alg === 'HS256'
  const authxKeys = hmac
    ? { secretKey: keys.secret }
    : { algorithm: alg, privateKey: keys.privateKey, publicKey: keys.publicKey }
  const authxOn = new AuthX(authxKeys) // the default: cache on
  const authxOff = new AuthX({ ...authxKeys, cache: { verifiedTokens: 0 } })

  const secretObject = hmac ? createSecretKey(Buffer.from(keys.secret)) : undefined
  const verifyKeyObject = hmac ? secretObject : keys.publicKey
  const signKeyObject = hmac ? secretObject : keys.privateKey
  // jose gets CryptoKeys, imported once (given bytes or a KeyObject, it imports the key on every
  // call); jsonwebtoken gets KeyObjects (given a string secret, it first tries the string as a
  // public key and pays for the failed parse on every call).
  const hmacParams = { name: 'HMAC', hash: 'SHA-256' }
  const joseVerifyKey = hmac
    ? await webcrypto.subtle.importKey('raw', Buffer.from(keys.secret), hmacParams, false, ['verify'])
    : await importSPKI(keys.publicPem, alg)
  const joseSignKey = hmac
    ? await webcrypto.subtle.importKey('raw', Buffer.from(keys.secret), hmacParams, false, ['sign'])
    : await importPKCS8(keys.privatePem, alg)
  const jwtVerifyKey = verifyKeyObject
  const jwtSignKey = signKeyObject
  const fastJwtVerifyKey = hmac ? keys.secret : keys.publicPem
  const fastJwtSignKey = hmac ? keys.secret : keys.privatePem

  // The tokens every verifier reads: made by authx, so its type check and revocation check pass.
  const tokens = []
  for (let start = 0; start < DISTINCT_TOKENS; start += 256) {
    const batch = []
    for (let i = start; i < start + 256; i++) batch.push(authxOn.createAccessToken({ uid: `user${i}` }))
    tokens.push(...(await Promise.all(batch)))
  }
  const repeated = await authxOn.createAccessToken({ uid: SUB })

  const minimalVerify = minimalVerifier(alg, verifyKeyObject)
  const minimalSign = minimalSigner(alg, signKeyObject)
  const fastVerify = createVerifier({ key: fastJwtVerifyKey, algorithms: [alg] })
  const fastVerifyCached = createVerifier({ key: fastJwtVerifyKey, algorithms: [alg], cache: true })
  const fastSign = createSigner({ key: fastJwtSignKey, algorithm: alg })
  const joseOptions = { algorithms: [alg] }
  const jwtOptions = { algorithms: [alg] }
  const jwtSignOptions = { algorithm: alg }

  /** Each uncached task gets its own cursor, so each one sees every token in turn. */
  const rotating = (verify) => {
    let i = 0
    return () => verify(tokens[i++ & MASK])
  }
  const verifyTasks = [
    { name: 'node:crypto minimal JWT', reference: true, fn: rotating(minimalVerify), check: minimalVerify },
    {
      name: 'authx verifyToken, cache off',
      fn: rotating((t) => authxOff.verifyToken(t)),
      check: (t) => authxOff.verifyToken(t),
    },
    {
      name: 'authx verifyToken, cache on, repeated token',
      repeated: true,
      fn: () => authxOn.verifyToken(repeated),
      check: (t) => authxOn.verifyToken(t),
    },
    { name: 'fast-jwt createVerifier', fn: rotating(fastVerify), check: fastVerify },
    {
      name: 'fast-jwt createVerifier cache, repeated token',
      repeated: true,
      fn: () => fastVerifyCached(repeated),
      check: fastVerifyCached,
    },
    {
      name: 'jose jwtVerify',
      fn: rotating(async (t) => (await jwtVerify(t, joseVerifyKey, joseOptions)).payload),
      check: async (t) => (await jwtVerify(t, joseVerifyKey, joseOptions)).payload,
    },
    {
      name: 'jsonwebtoken verify',
      fn: rotating((t) => jsonwebtoken.verify(t, jwtVerifyKey, jwtOptions)),
      check: (t) => jsonwebtoken.verify(t, jwtVerifyKey, jwtOptions),
    },
  ].filter((task) => supported(alg, task))
  const signTasks = [
    { name: 'fast-jwt createSigner', reference: true, fn: () => fastSign(accessClaims(SUB)) },
    { name: 'authx createAccessToken', fn: () => authxOn.createAccessToken({ uid: SUB }) },
    { name: 'node:crypto minimal JWT', fn: () => minimalSign(accessClaims(SUB)) },
    {
      name: 'jose SignJWT',
      fn: () => new SignJWT(accessClaims(SUB)).setProtectedHeader({ alg, typ: 'JWT' }).sign(joseSignKey),
    },
    { name: 'jsonwebtoken sign', fn: () => jsonwebtoken.sign(accessClaims(SUB), jwtSignKey, jwtSignOptions) },
  ].filter((task) => supported(alg, task))

  // Before timing anything: every verifier accepts a good token and refuses a tampered one, and
  // every signer's token verifies, so no row measures a function that does nothing or fails.
  const tampered = `${repeated.slice(0, -6)}${repeated.slice(-6) === 'AAAAAA' ? 'BBBBBB' : 'AAAAAA'}`
  for (const task of verifyTasks) {
    const payload = await task.check(repeated)
    if (payload?.sub !== SUB) throw new Error(`${alg} ${task.name}: a valid token did not verify`)
    let refused = false
    try {
      await task.check(tampered)
    } catch {
      refused = true
    }
    if (!refused) throw new Error(`${alg} ${task.name}: a tampered token verified`)
  }
  for (const task of signTasks) {
    const token = await task.fn()
    if (minimalVerify(token).sub !== SUB) throw new Error(`${alg} ${task.name}: its token does not verify`)
  }

  return [
    ...verifyTasks.map((task) => ({ ...task, group: `${alg} verify` })),
    ...signTasks.map((task) => ({ ...task, group: `${alg} sign` })),
    ...(hmac ? (await dpopTasks(authxKeys)).map((task) => ({ ...task, group: `${alg} request, DPoP` })) : []),
  ]
}

/** Proofs a client made ahead of time; each is accepted once, so a task cycles through them. */
const PROOFS = 8192

/** A request view as the adapters build one. */
function requestView(headers) {
  return {
    method: 'GET',
    url: 'https://api.example.com/me',
    path: '/me',
    header: (name) => headers[name.toLowerCase()],
    cookie: () => undefined,
    query: () => undefined,
    json: async () => undefined,
    form: async () => undefined,
  }
}

/**
 * What DPoP adds to a guarded request (docs/dpop.md): `authenticate` of one bound access token
 * with a fresh ES256 proof each time (signature, claims, ath, the replay record in a MemoryStore),
 * against the same token sent as Bearer to an instance without DPoP. The proofs are made before
 * timing: a client's signing is not the server's cost. When a task has used every proof, it moves
 * to a new instance (a new store), so no proof is ever a replay.
 */
async function dpopTasks(authxKeys) {
  const options = { ...authxKeys, cache: { verifiedTokens: 0 }, dpop: { maxAge: '1h' } }
  const { publicKey, privateKey } = await generateKeyPair('ES256')
  const jwk = await exportJWK(publicKey)
  const proofFor = async (htm, htu, accessToken) => {
    const claims = { jti: crypto.randomUUID(), htm, htu }
    if (accessToken !== undefined) {
      const hash = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(accessToken))
      claims.ath = Buffer.from(hash).toString('base64url')
    }
    return new SignJWT(claims)
      .setProtectedHeader({ typ: 'dpop+jwt', alg: 'ES256', jwk })
      .setIssuedAt()
      .sign(privateKey)
  }
  let bound = new AuthX(options)
  const login = requestView({ dpop: await proofFor('POST', 'https://api.example.com/me') })
  login.method = 'POST'
  const jkt = await bound.dpopThumbprint(login)
  const token = await bound.createAccessToken({ uid: SUB, jkt })
  const proofs = []
  for (let i = 0; i < PROOFS; i++) proofs.push(await proofFor('GET', 'https://api.example.com/me', token))
  let next = 0
  const dpopRequest = () => {
    if (next === PROOFS) {
      next = 0
      bound = new AuthX(options)
    }
    return bound.authenticate(requestView({ authorization: `DPoP ${token}`, dpop: proofs[next++] }))
  }
  const plain = new AuthX({ ...authxKeys, cache: { verifiedTokens: 0 } })
  const bearer = await plain.createAccessToken({ uid: SUB })
  const bearerView = requestView({ authorization: `Bearer ${bearer}` })
  // Before timing: a proof is accepted once and refused the second time.
  const once = requestView({ authorization: `DPoP ${token}`, dpop: proofs[0] })
  if ((await bound.authenticate(once)).sub !== SUB) throw new Error('DPoP: a valid proof was refused')
  if (
    (await bound.authenticate(once).then(
      () => 'accepted',
      (err) => err.code,
    )) !== 'ERR_INVALID_DPOP_PROOF'
  ) {
    throw new Error('DPoP: a replayed proof was not refused')
  }
  bound = new AuthX(options)
  return [
    {
      name: 'authx authenticate, Bearer, no dpop option',
      reference: true,
      fn: () => plain.authenticate(bearerView),
    },
    { name: 'authx authenticate, DPoP proof (ES256)', fn: dpopRequest },
  ]
}

/** Mean time of one call in ms over a short tinybench run. */
async function measure(fn, ms = time) {
  const bench = new Bench({ time: ms, warmupTime, warmupIterations: 8, iterations: 8, throws: true })
  bench.add('task', fn)
  await bench.run()
  const task = bench.tasks[0]
  if (task.result.state !== 'completed') throw new Error(`tinybench: task ended as ${task.result.state}`)
  return task.result.period
}

const tasks = []
for (const alg of algorithms) {
  progress(`micro: keys and ${DISTINCT_TOKENS} tokens for ${alg}`)
  tasks.push(...(await setUp(alg)))
}
// One pass that is not recorded, so the first round does not measure code the JIT has not met yet.
progress('micro: warm-up pass')
for (const task of tasks) await measure(task.fn, firstWarmup)
const samples = tasks.map(() => [])
for (let round = 0; round < rounds; round++) {
  progress(`micro: round ${round + 1}/${rounds} (${tasks.length} tasks)`)
  const order = roundOrder(
    tasks.map((task) => task.group),
    round,
  )
  for (const i of order) samples[i].push(1000 / (await measure(tasks[i].fn)))
}

const rows = tasks.map((task, i) => ({
  group: task.group,
  name: task.name,
  reference: task.reference === true,
  opsPerSecond: median(samples[i]),
  rounds: samples[i],
}))
for (const row of rows) {
  const reference = rows.find((r) => r.group === row.group && r.reference)
  row.ratio = pairedRatio(row.rounds, reference.rounds)
  row.referenceName = reference.name
}
report({
  part: 'micro',
  settings: { rounds, timeMs: time, warmupMs: warmupTime, distinctTokens: DISTINCT_TOKENS },
  rows,
})
