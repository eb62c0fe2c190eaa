/**
 * The shared deadline timer of store calls (src/core/revocation.ts `bounded`): calls that wait
 * fail at their own deadline, calls that answer are not failed, and a wall-clock jump changes
 * neither.
 */
import { afterEach, describe, expect, it, vi } from 'vitest'
import { bounded } from '../src/core/revocation.js'
import { StoreUnavailableError } from '../src/index.js'

const never = () => new Promise<never>(() => {})
const answerAfter = <T>(ms: number, value: T) =>
  new Promise<T>((resolve) => setTimeout(() => resolve(value), ms))

afterEach(() => {
  vi.restoreAllMocks()
})

describe('store call deadlines', () => {
  it('fails each waiting call at its own deadline, and none that answered in time', async () => {
    const started = performance.now()
    const results = await Promise.allSettled([
      bounded(never, 40),
      bounded(() => answerAfter(10, 'fast'), 40),
      bounded(never, 80),
      bounded(() => answerAfter(20, 'also fast'), 80),
    ])
    const elapsed = performance.now() - started
    expect(results.map((r) => r.status)).toEqual(['rejected', 'fulfilled', 'rejected', 'fulfilled'])
    expect((results[0] as PromiseRejectedResult).reason).toBeInstanceOf(StoreUnavailableError)
    expect(((results[0] as PromiseRejectedResult).reason.cause as Error).message).toBe(
      'timed out after 40 ms',
    )
    expect(((results[2] as PromiseRejectedResult).reason.cause as Error).message).toBe(
      'timed out after 80 ms',
    )
    expect(elapsed).toBeGreaterThanOrEqual(79)
  })

  it('is not fooled by the wall clock jumping forward or back', async () => {
    const realNow = Date.now.bind(Date)
    let shift = 0
    vi.spyOn(Date, 'now').mockImplementation(() => realNow() + shift)
    // A jump of an hour forward while a call waits does not fail it early.
    const waiting = bounded(() => answerAfter(30, 'answered'), 200)
    shift = 3_600_000
    await expect(waiting).resolves.toBe('answered')
    // A jump back does not keep a call that never answers waiting past its deadline (on the wall
    // clock it would wait an hour, far past this test's timeout).
    const stuck = bounded(never, 50)
    shift = -3_600_000
    await expect(stuck).rejects.toBeInstanceOf(StoreUnavailableError)
  })
})
