import { defineConfig } from 'tsup'

/** Subpaths: each adapter and store imports the core as 'authx', so all share one copy of it. */
export const entries = {
  index: 'src/index.ts',
  express: 'src/adapters/express.ts',
  fastify: 'src/adapters/fastify.ts',
  hono: 'src/adapters/hono.ts',
  koa: 'src/adapters/koa.ts',
  web: 'src/adapters/web.ts',
  ws: 'src/adapters/ws.ts',
  'stores/sqlite': 'src/stores/sqlite.ts',
  'stores/redis': 'src/stores/redis.ts',
  'stores/postgres': 'src/stores/postgres.ts',
}

/**
 * The `authx` program (package.json `bin`: dist/cli.js, ESM, with the `#!/usr/bin/env node` line
 * of its entry; tsup marks it executable). It imports the core as 'authx' too. It is no subpath,
 * so it gets no type declarations; its CommonJS copy is built with the rest and unused.
 */
export const programs = {
  cli: 'src/cli/main.ts',
}

export default defineConfig({
  entry: { ...entries, ...programs },
  format: ['esm', 'cjs'],
  dts: { entry: entries },
  clean: true,
  target: 'node20',
  platform: 'neutral',
  sourcemap: false,
  splitting: false,
  treeshake: true,
  external: [
    'authx',
    'jose',
    'express',
    'fastify',
    'hono',
    /^hono\//,
    'koa',
    'better-sqlite3',
    'ioredis',
    'pg',
    'redis',
  ],
})
