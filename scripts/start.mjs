#!/usr/bin/env node
// `npm start`: bundles the demo (examples/demo/, TypeScript) with esbuild, `authx` and its
// subpaths pointing at src/ as in the tests, then runs it. The bundle is rebuilt at every start
// (well under a second), so it is never older than the source, and a fresh clone needs no
// `npm run build` first. Frameworks and other packages stay external, loaded from node_modules.
import { mkdirSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'

const root = fileURLToPath(new URL('..', import.meta.url))

const usage = `Usage: npm start   (node scripts/start.mjs)

Starts the authx demo on http://localhost:3000 (guide: docs/demo.md).

Environment:
  PORT                port to listen on [3000]; 0 picks a free one
  HOST                address to listen on [127.0.0.1]
  DEMO_DATA_DIR       folder of the SQLite file and the generated secret [./data]
  DEMO_COOKIE_SECURE  false to reach the demo over plain HTTP from another machine [true]
  JWT_SECRET_KEY      the HMAC secret [generated once into the data folder]
  DEMO_LOGIN_LIMIT    login attempts allowed per address and minute [10]
`

const command = process.argv[2]
if (command === '--help' || command === '-h') {
  console.log(usage)
} else if (command !== undefined) {
  console.error(`scripts/start.mjs: unknown argument '${command}' (try --help)`)
  process.exitCode = 2
} else {
  const bundle = await buildDemo()
  const { run } = await import(pathToFileURL(bundle).href)
  await run({ root, env: process.env })
}

/** `authx/<subpath>` of package.json `exports`, as in tsup.config.ts: adapters, then stores. */
function sourceOf(specifier) {
  if (specifier === 'authx') return join(root, 'src', 'index.ts')
  const sub = specifier.slice('authx/'.length)
  return join(root, 'src', sub.startsWith('stores/') ? `${sub}.ts` : `adapters/${sub}.ts`)
}

async function buildDemo() {
  const { build } = await import('esbuild')
  // Under node_modules, so Node finds hono, jose, better-sqlite3... from the bundle's folder.
  const outfile = join(root, 'node_modules', '.cache', 'authx-demo', 'main.mjs')
  mkdirSync(dirname(outfile), { recursive: true })
  await build({
    entryPoints: [join(root, 'examples', 'demo', 'main.ts')],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    logLevel: 'warning',
    plugins: [
      {
        name: 'authx-from-source',
        setup(b) {
          // Every adapter and store imports the core as 'authx': all of them get the one copy.
          b.onResolve({ filter: /^authx(\/.*)?$/ }, (args) => ({ path: sourceOf(args.path) }))
          // Any other package is loaded from node_modules at run time.
          b.onResolve({ filter: /^[^./]/ }, (args) => ({ path: args.path, external: true }))
        },
      },
    ],
  })
  return outfile
}
