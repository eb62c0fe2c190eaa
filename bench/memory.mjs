// Part 3, memory, run with --expose-gc: the heap that 100,000 cached verified tokens and 100,000
// MemoryStore revocations keep alive. Each figure is heapUsed after a full GC, minus the same
// measure taken just before the tokens were verified (or revoked). The tokens are made one at a
// time and dropped by this script, so what stays is what authx keeps (token strings included,
// when its cache keeps them as keys).

import { createSecretKey, randomBytes } from 'node:crypto'
import { exitWithParent, importAuthx, partOptions, progress, report } from './lib/common.mjs'
import { accessClaims, minimalSigner } from './lib/minimal-jwt.mjs'

exitWithParent()

if (typeof globalThis.gc !== 'function') throw new Error('bench/memory.mjs: run it with node --expose-gc')

const COUNT = partOptions().memory?.count ?? 100_000
const MiB = 1024 * 1024

const { AuthX, MemoryStore } = await importAuthx('index')
const secret = randomBytes(32).toString('base64url')
// Tokens with the claims of createAccessToken({ uid }), signed on node:crypto because it is quicker
// to make 100,000 of them so; authx verifies them like its own.
const sign = minimalSigner('HS256', createSecretKey(Buffer.from(secret)))

function heapUsed() {
  for (let i = 0; i < 4; i++) globalThis.gc()
  return process.memoryUsage().heapUsed
}

/** Heap kept after `use` ran on COUNT distinct tokens, in MiB. */
async function retained(use) {
  await use(sign(accessClaims('warm-up'))) // first-call allocations (lazy imports, pools) are not the figure
  const before = heapUsed()
  // In batches of 100 at a time, as concurrent requests would: quicker, and the same entries.
  for (let i = 0; i < COUNT; i += 100) {
    const batch = []
    for (let j = i; j < Math.min(i + 100, COUNT); j++) batch.push(use(sign(accessClaims(`user${j}`))))
    await Promise.all(batch)
  }
  const after = heapUsed()
  return (after - before) / MiB
}

const rows = []
{
  // The cache drops its older half when its newer half fills (docs/performance.md): a cache of
  // 2 x COUNT holds all COUNT tokens (plus the warm-up one), so the figure is COUNT tokens held.
  progress(`memory: ${COUNT} verified tokens, cache of ${2 * COUNT}`)
  const auth = new AuthX({ secretKey: secret, cache: { verifiedTokens: 2 * COUNT + 2 } })
  const mib = await retained((token) => auth.verifyToken(token))
  rows.push({ group: 'memory', name: `${COUNT.toLocaleString('en')} cached verified tokens`, heapMiB: mib })
  await auth.close()
}
{
  progress(`memory: ${COUNT} revocations in the MemoryStore`)
  // Cache off, so only the store's entries are counted. One entry more than the default
  // maxEntries (100,000), for the warm-up revocation made before the baseline.
  const store = new MemoryStore({ maxEntries: COUNT + 1 })
  const auth = new AuthX({ secretKey: secret, store, cache: { verifiedTokens: 0 } })
  const mib = await retained((token) => auth.revokeToken(token))
  rows.push({
    group: 'memory',
    name: `${COUNT.toLocaleString('en')} MemoryStore revocations`,
    heapMiB: mib,
    entries: store.size,
  })
  await auth.close()
}
report({ part: 'memory', settings: { count: COUNT }, rows })
