/**
 * Running AuthX on either engine in one test file, whatever the suite variant
 * (test/support/variant-setup.ts). `onEngine` sets FORCE_JOSE or FORCE_NODE around the
 * constructor; the runtime mock of the suite's setup file reads them. Each test file that uses
 * this also registers that mock itself, so the file still works under a vitest configuration
 * without the setup file (vitest.stryker.config.ts); vi.mock is hoisted per file, so it cannot
 * live here:
 *
 *   vi.mock('../src/core/runtime.js', async (orig) => {
 *     const mod = await orig<typeof import('../src/core/runtime.js')>()
 *     const { engineNow } = await import('./support/variant-setup.js')
 *     return { ...mod, nodeCrypto: () => (engineNow() === 'jose' ? undefined : mod.nodeCrypto()) }
 *   })
 */
import { expect } from 'vitest'
import { AuthX, type AuthXOptions } from '../../src/index.js'

export const ENGINES = ['node', 'jose'] as const
export type EngineName = (typeof ENGINES)[number]

/** An instance on the given engine; the engine is chosen in the constructor. */
export function onEngine(engine: EngineName, options: Record<string, unknown>): AuthX {
  process.env[engine === 'jose' ? 'FORCE_JOSE' : 'FORCE_NODE'] = '1'
  try {
    const auth = new AuthX(options as AuthXOptions)
    expect(auth.engine).toBe(engine)
    return auth
  } finally {
    delete process.env.FORCE_JOSE
    delete process.env.FORCE_NODE
  }
}

/** The rejection reason of a promise, or an Error saying it resolved. */
export async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => new Error('expected a rejection, got a result'),
    (err: unknown) => err,
  )
}
