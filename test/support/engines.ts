/**
 * Running AuthX on either engine in one test file. Each test file that uses this must also hide
 * node:crypto while FORCE_JOSE is set (vi.mock is hoisted per file, so it cannot live here):
 *
 *   vi.mock('../src/core/runtime.js', async (orig) => {
 *     const mod = await orig<typeof import('../src/core/runtime.js')>()
 *     return { ...mod, nodeCrypto: () => (process.env.FORCE_JOSE ? undefined : mod.nodeCrypto()) }
 *   })
 */
import { expect } from 'vitest'
import { AuthX, type AuthXOptions } from '../../src/index.js'

export const ENGINES = ['node', 'jose'] as const
export type EngineName = (typeof ENGINES)[number]

/** An instance on the given engine; the engine is chosen in the constructor. */
export function onEngine(engine: EngineName, options: Record<string, unknown>): AuthX {
  if (engine === 'jose') process.env.FORCE_JOSE = '1'
  try {
    const auth = new AuthX(options as AuthXOptions)
    expect(auth.engine).toBe(engine)
    return auth
  } finally {
    delete process.env.FORCE_JOSE
  }
}

/** The rejection reason of a promise, or an Error saying it resolved. */
export async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => new Error('expected a rejection, got a result'),
    (err: unknown) => err,
  )
}
