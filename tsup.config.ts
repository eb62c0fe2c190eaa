import { defineConfig } from 'tsup'

/** Subpaths: each adapter and store imports the core as 'authx', so all share one copy of it. */
export const entries = {
  index: 'src/index.ts',
  express: 'src/adapters/express.ts',
  fastify: 'src/adapters/fastify.ts',
  hono: 'src/adapters/hono.ts',
  koa: 'src/adapters/koa.ts',
  web: 'src/adapters/web.ts',
  'stores/sqlite': 'src/stores/sqlite.ts',
  'stores/redis': 'src/stores/redis.ts',
  'stores/postgres': 'src/stores/postgres.ts',
}

export default defineConfig({
  entry: entries,
  format: ['esm', 'cjs'],
  dts: true,
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
