/**
 * SqliteStore `hit` across processes (SPEC 9.3): Node processes hitting one key of one SQLite
 * file at the same moment let exactly `max` hits through in total, since each hit reads and writes
 * its window in one BEGIN IMMEDIATE transaction.
 */
import { randomUUID } from 'node:crypto'
import { rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { SqliteStore } from '../../src/stores/sqlite.js'
import type { HitResult, HitTask } from './hit-child.js'
import { bundleChild, runScript } from './processes.js'

const path = join(tmpdir(), `authx-hit-${process.pid}-${randomUUID()}.db`)

afterAll(() => {
  for (const suffix of ['', '-wal', '-shm', '-journal']) rmSync(path + suffix, { force: true })
})

/** Runs one hit task in a new Node process and returns its printed result. */
const runHitChild = (task: HitTask) => runScript<HitResult>('hit-child.ts', task)

describe('SqliteStore hit across processes (same file)', () => {
  it('two processes hitting one key 300 times each with max 250 let exactly 250 through in total', async () => {
    const table = 'hit_processes'
    // The table exists before the children start, so they do not race to create it.
    await new SqliteStore({ path, table }).close()
    // The bundle is built first, so the children start within the lead time.
    await bundleChild('hit-child.ts')
    const startAt = Date.now() + 1500
    const task = { path, table, key: 'rl:shared', windowSeconds: 600, max: 250, hits: 300, startAt }
    const results = await Promise.all([runHitChild(task), runHitChild(task)])
    expect(results.flatMap((r) => r.errors)).toEqual([])
    expect(results.reduce((sum, r) => sum + r.allowed, 0)).toBe(250)
    expect(results.reduce((sum, r) => sum + r.denied, 0)).toBe(350)
    // The window agrees: one more hit here is denied, with the full count.
    const store = new SqliteStore({ path, table })
    expect(await store.hit('rl:shared', 600, 250)).toMatchObject({ allowed: false, count: 250 })
    await store.close()
  }, 60_000)
})
