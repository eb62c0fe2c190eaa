import { defineConfig } from 'vitest/config'

/**
 * The browser end-to-end test of the demo (`npm run test:e2e`): apart from `npm test`, whose
 * include (`test/**\/*.test.ts`) does not match `*.e2e.ts`. It drives Debian's Chromium
 * (/usr/bin/chromium, or CHROMIUM_PATH) through playwright-core and starts the demo itself.
 */
export default defineConfig({
  test: {
    include: ['test/e2e/**/*.e2e.ts'],
    // One browser, one demo process: the steps of the walk run in order.
    fileParallelism: false,
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
})
