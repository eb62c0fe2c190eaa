// Part 1, micro: sign and verify per algorithm, every library in the same process, in rounds.
// Each round runs every task briefly (tinybench, one task at a time, each table's tasks together;
// see roundOrder); a row's figure is the median of its rounds, its ratio the median of its
// per-round ratios to the table's reference. Uncached verify rows rotate through 4,096 distinct
// tokens; cached rows verify one token again and again.

import { createSecretKey, webcrypto } from 'node:crypto'
import { createSigner, createVerifier } from 'fast-jwt'
import { importPKCS8, importSPKI, jwtVerify, SignJWT } from 'jose'
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
