// Mutation testing of the modules that decide whether a token or request is accepted:
// `npm run mutation` (not part of .ci/run: it takes a long time). One module group at a time:
// `npm run mutation -- --mutate src/core/scopes.ts`. Results and survivors: docs/security.md,
// "Mutation testing".
/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  testRunner: 'vitest',
  vitest: { configFile: 'vitest.stryker.config.ts' },
  coverageAnalysis: 'perTest',
  mutate: [
    'src/core/decode.ts',
    'src/core/claims.ts',
    'src/core/base64url.ts',
    'src/core/keys.ts',
    'src/core/algorithms.ts',
    'src/core/resolvers.ts',
    'src/core/scopes.ts',
    'src/core/csrf.ts',
    'src/core/extract.ts',
    'src/core/revocation.ts',
    'src/core/rotation.ts',
  ],
  // The machine is shared: one test process by default (`--concurrency 2` when it is idle).
  concurrency: 1,
  timeoutMS: 10_000,
  reporters: ['clear-text', 'progress-append-only', 'html', 'json'],
  htmlReporter: { fileName: 'reports/mutation/index.html' },
  jsonReporter: { fileName: 'reports/mutation/mutation.json' },
  ignorePatterns: ['dist', 'coverage', '.tmp', 'reports'],
  tempDirName: '.stryker-tmp',
  cleanTempDir: true,
}
