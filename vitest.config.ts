import { fileURLToPath } from 'node:url'
import { defineConfig } from 'vitest/config'

export default defineConfig({
  resolve: {
    // Adapters import the core as 'authx' (the package's own name), so every subpath shares one
    // copy of the core classes once built; in tests that name points at the source.
    alias: [{ find: /^authx$/, replacement: fileURLToPath(new URL('./src/index.ts', import.meta.url)) }],
  },
  test: {
    include: ['test/**/*.test.ts'],
    // The engine and cache variant of the whole suite (AUTHX_TEST_ENGINE, AUTHX_TEST_CACHE).
    setupFiles: ['test/support/variant-setup.ts'],
    testTimeout: 20_000,
    typecheck: { enabled: true, include: ['test/**/*.test-d.ts'], tsconfig: './tsconfig.json' },
  },
})
