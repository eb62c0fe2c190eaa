// The figures issue 9 (section 5) and issue 10 (items 2 and 4) ask for, checked against a run's rows. Each one is reported
// with the measured value, met or not; figures whose rows were not run are left out. Comparisons
// between two rows use the median of their per-round ratios, as the rows' own ratios do.

import { median } from './common.mjs'

const find = (rows, group, name) => rows.find((r) => r.group === group && r.name === name)
const rates = (row) => (row.part === 'http' ? row.rounds.map((s) => s.requestsPerSecond) : row.rounds)
/** How many times faster `a` is than `b`. */
const speed = (a, b) => {
  const bRates = rates(b)
  return median(rates(a).map((v, i) => v / bRates[i]))
}
const x = (n) => `${n.toFixed(2)}x`

export function checkTargets(rows) {
  const targets = []
  const add = (figure, met, measured) => targets.push({ figure, met, measured })

  const verify = (alg, name) => find(rows, `${alg} verify`, name)
  for (const [alg, most] of [
    ['HS256', 1.25],
    ['RS256', 1.15],
    ['ES256', 1.15],
    ['EdDSA', 1.15],
  ]) {
    const minimal = verify(alg, 'node:crypto minimal JWT')
    const off = verify(alg, 'authx verifyToken, cache off')
    if (!minimal || !off) continue
    const time = speed(minimal, off)
    add(
      `${alg} verifyToken uncached at most ${most}x the minimal node:crypto time`,
      time <= most,
      `${x(time)}`,
    )
  }
  const hsOff = verify('HS256', 'authx verifyToken, cache off')
  const hsFast = verify('HS256', 'fast-jwt createVerifier')
  if (hsOff && hsFast) {
    const s = speed(hsOff, hsFast)
    add('HS256 verifyToken uncached faster than fast-jwt without its cache', s > 1, `${x(s)} its ops/s`)
  }
  const hsOn = verify('HS256', 'authx verifyToken, cache on, repeated token')
  const hsFastCached = verify('HS256', 'fast-jwt createVerifier cache, repeated token')
  if (hsOn && hsFastCached) {
    const s = speed(hsOn, hsFastCached)
    add(
      'HS256 verifyToken, cache on, repeated token: at least 2x fast-jwt with its cache',
      s >= 2,
      `${x(s)} its ops/s`,
    )
  }
  const hsSign = find(rows, 'HS256 sign', 'authx createAccessToken')
  const hsFastSign = find(rows, 'HS256 sign', 'fast-jwt createSigner')
  if (hsSign && hsFastSign) {
    const s = speed(hsSign, hsFastSign)
    add("HS256 createAccessToken faster than fast-jwt's signer", s > 1, `${x(s)} its ops/s`)
  }

  for (const [framework, share] of [
    ['fastify', 0.8],
    ['express', 0.9],
    ['hono', 0.8],
  ]) {
    const group = rows.filter((r) => r.group === `HTTP ${framework}`)
    const on = group.find((r) => r.variant === 'authx-cache-on')
    const off = group.find((r) => r.variant === 'authx-cache-off')
    const peer = group.find((r) => r.variant === 'peer')
    if (on) {
      add(
        `HTTP ${framework}, cache on: at least ${share} of no-auth req/s`,
        on.ratio >= share,
        on.ratio.toFixed(2),
      )
    }
    for (const [label, row] of [
      ['cache on', on],
      ['cache off', off],
    ]) {
      if (!row || !peer) continue
      const s = speed(row, peer)
      add(`HTTP ${framework}, ${label}: beats ${peer.name}`, s > 1, `${x(s)} its req/s`)
    }
  }

  // Issue 10, item 4: the guard on a mirrored store within 10% of the MemoryStore guard's req/s.
  for (const framework of ['fastify', 'express', 'hono']) {
    const group = rows.filter((r) => r.group === `HTTP ${framework}`)
    const memoryStore = group.find((r) => r.variant === 'authx-cache-on')
    for (const [store, variant] of [
      ['RedisStore', 'authx-redis-mirror'],
      ['PostgresStore', 'authx-postgres-mirror'],
    ]) {
      const row = group.find((r) => r.variant === variant)
      if (!row || !memoryStore) continue
      const s = speed(row, memoryStore)
      // A round in which the mirror did not answer measured server reads: not the figure asked.
      const missed = row.mirrorNotAnswering ?? 0
      add(
        `HTTP ${framework}, ${store} mirror on: within 10% of the MemoryStore guard's req/s`,
        s >= 0.9 && missed <= 0.01,
        `${x(s)} its req/s${missed > 0.01 ? `, mirror not answering ${Math.round(missed * 100)}% of a round` : ''}`,
      )
    }
  }

  for (const row of rows.filter((r) => r.part === 'memory' || r.group === 'mirror memory')) {
    add(`memory: ${row.name} under 64 MiB of heap`, row.heapMiB < 64, `${row.heapMiB.toFixed(1)} MiB`)
  }
  // Issue 10, item 2: a revocation in one process rejected by another within p99 50 ms on loopback.
  for (const row of rows.filter((r) => r.group === 'mirror delay')) {
    add(
      `mirror delay, ${row.name}: p99 under 50 ms`,
      row.p99Ms < 50,
      `p99 ${row.p99Ms.toFixed(2)} ms, max ${row.maxMs.toFixed(2)} ms`,
    )
  }
  return targets
}
