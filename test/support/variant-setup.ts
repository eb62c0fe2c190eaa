/**
 * Setup file of the whole suite (vitest.config.ts `setupFiles`): runs every test file on the
 * engine and verified-token cache setting chosen by the environment (scripts/ci/variants.sh).
 *
 *   AUTHX_TEST_ENGINE  `node` (default): instances use node:crypto, as on Node without mocks.
 *                      `jose`: `nodeCrypto()` answers `undefined` to the AuthX constructor, so
 *                      every instance signs, verifies and imports keys with jose (Web Crypto).
 *   AUTHX_TEST_CACHE   `on` (default): the configuration is left alone.
 *                      `off`: `resolveConfig` gives `cacheSize: 0` unless the caller set
 *                      `cache.verifiedTokens` itself.
 *
 * A test that needs one engine whatever the variant sets `FORCE_JOSE` or `FORCE_NODE` around the
 * constructor (test/support/engines.ts `onEngine`, test/security/forge.ts `makeAuth`); both
 * variables are read at call time, so they win over the variant.
 *
 * `nodeCrypto()` is only read by the AuthX constructor: stores, cookies and the rest of the code
 * keep their node APIs on either engine. vi.mock is hoisted and registered before any test file
 * imports the source, so these mocks apply to every test file (test/engines-differential.test.ts
 * checks that they do). Nothing from src/ is imported here at top level: a module imported by a
 * setup file would be cached before the mocks apply.
 * @module
 */
import { vi } from 'vitest'

export type VariantEngine = 'node' | 'jose'
export type VariantCache = 'on' | 'off'

// vi.hoisted: the mock factories below are hoisted above everything else and call these.
const read = vi.hoisted(() => {
  /** The variant the environment asks for; anything but the listed values is an error. */
  function variant(): { engine: 'node' | 'jose'; cache: 'on' | 'off' } {
    const engine = process.env.AUTHX_TEST_ENGINE || 'node'
    const cache = process.env.AUTHX_TEST_CACHE || 'on'
    if (engine !== 'node' && engine !== 'jose') {
      throw new Error(`AUTHX_TEST_ENGINE must be node or jose, got ${JSON.stringify(engine)}`)
    }
    if (cache !== 'on' && cache !== 'off') {
      throw new Error(`AUTHX_TEST_CACHE must be on or off, got ${JSON.stringify(cache)}`)
    }
    return { engine, cache }
  }
  /** The engine a `new AuthX()` made now gets: FORCE_JOSE / FORCE_NODE first, then the variant. */
  function engineNow(): 'node' | 'jose' {
    if (process.env.FORCE_JOSE) return 'jose'
    if (process.env.FORCE_NODE) return 'node'
    return variant().engine
  }
  return { variant, engineNow }
})

/** The variant this run uses (`AUTHX_TEST_ENGINE`, `AUTHX_TEST_CACHE`). */
export function variant(): { engine: VariantEngine; cache: VariantCache } {
  return read.variant()
}

/** The engine a `new AuthX()` made now gets, FORCE_JOSE / FORCE_NODE included. */
export function engineNow(): VariantEngine {
  return read.engineNow()
}

/** The `config.cacheSize` an instance gets when its options leave `cache.verifiedTokens` out. */
export function defaultCacheSize(): number {
  return read.variant().cache === 'off' ? 0 : 10_000
}

// Fail the whole run at once on a misspelt variant, not test by test.
read.variant()

vi.mock('../../src/core/runtime.js', async (importOriginal) => {
  const mod = await importOriginal<typeof import('../../src/core/runtime.js')>()
  return { ...mod, nodeCrypto: () => (read.engineNow() === 'jose' ? undefined : mod.nodeCrypto()) }
})

vi.mock('../../src/core/config.js', async (importOriginal) => {
  const mod = await importOriginal<typeof import('../../src/core/config.js')>()
  if (read.variant().cache === 'on') return mod
  const resolveConfig: typeof mod.resolveConfig = (input) => {
    const resolved = mod.resolveConfig(input)
    const cache = (input as { cache?: { verifiedTokens?: unknown } } | undefined)?.cache
    if (cache?.verifiedTokens !== undefined) return resolved
    return { ...resolved, config: Object.freeze({ ...resolved.config, cacheSize: 0 }) }
  }
  return { ...mod, resolveConfig }
})
