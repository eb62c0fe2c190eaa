/**
 * The DPoP replay check across processes (RFC 9449 section 11.1): Node processes sharing one
 * Redis, each its own DPoP instance, checking the same proof at the same moment accept it
 * exactly once in total, since each check records the proof's jti with one atomic `hit`.
 */
import { randomBytes } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { dpopClient } from '../support/dpop-client.js'
import { deleteRedisPrefixes, REDIS_URL, redisMissing } from '../support/redis.js'
import { storesRequired } from './conformance.js'
import type { DPoPResult, DPoPTask } from './dpop-child.js'
import { bundleChild, runScript } from './processes.js'

let missing: string | undefined
beforeAll(async () => {
  missing = await redisMissing()
})

const prefix = `authx-test:dpop:${randomBytes(8).toString('hex')}:`
afterAll(() => (missing === undefined ? deleteRedisPrefixes([prefix]) : undefined))

const runDPoPChild = (task: DPoPTask) => runScript<DPoPResult>('dpop-child.ts', task)

describe('DPoP replay check across processes (shared Redis)', () => {
  it('the same proof sent to two processes at once is accepted exactly once', async (ctx) => {
    if (missing !== undefined) {
      if (storesRequired()) throw new Error(`Redis is required in CI but unavailable: ${missing}`)
      ctx.skip(missing)
    }
    const client = await dpopClient('ES256')
    const accessToken = 'header.claims.signature-of-a-bound-access-token'
    const htu = 'https://api.example.com/me'
    // The bundle is built first, so the children start within the lead time.
    await bundleChild('dpop-child.ts')
    // iat a little ahead (within the 5 s leeway), so the proof is still young when the children start.
    const proof = await client.proof({ htm: 'GET', htu, accessToken, iat: Math.floor(Date.now() / 1000) + 4 })
    const startAt = Date.now() + 1500
    const task: DPoPTask = {
      url: REDIS_URL,
      prefix,
      proof,
      accessToken,
      jkt: client.jkt,
      method: 'GET',
      htu,
      attempts: 10,
      startAt,
    }
    const results = await Promise.all([runDPoPChild(task), runDPoPChild(task)])
    expect(results.map((r) => r.error)).toEqual([undefined, undefined])
    const outcomes = results.flatMap((r) => r.outcomes)
    expect(outcomes).toHaveLength(20)
    expect(outcomes.filter((o) => o === 'ok')).toHaveLength(1)
    expect(outcomes.filter((o) => o === 'replay')).toHaveLength(19)
  }, 60_000)
})
