/**
 * The vitest configuration Stryker runs (stryker.config.mjs): the suites that exercise the
 * modules deciding acceptance (the core tests and test/security), without the type tests, which
 * Stryker's runner cannot use, and without the suites that only slow each mutant down
 * (adapters, stores, docs samples, the built package, peers, Python interop).
 */
import { defineConfig } from 'vitest/config'
import base from './vitest.config.js'

export default defineConfig({
  ...(base.resolve === undefined ? {} : { resolve: base.resolve }),
  test: {
    include: ['test/*.test.ts', 'test/security/**/*.test.ts'],
    exclude: [
      'test/docs.test.ts',
      'test/package.test.ts',
      'test/peers.test.ts',
      'test/interop.test.ts',
      '**/node_modules/**',
    ],
    testTimeout: base.test?.testTimeout ?? 20_000,
  },
})
