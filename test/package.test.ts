/**
 * The package as users get it: built with `npm run build`, packed with `npm pack`, installed from
 * the tarball into a fresh project, then loaded through `import` and `require` and type-checked
 * with the TypeScript module resolutions users run.
 *
 * The build goes to a temporary staging folder (`npm run build -- --out-dir`) next to copies of
 * package.json, LICENSE, README.md and docs/, and the tarball is packed from there, so this test
 * never rewrites the working tree's dist/ while other test runs read it.
 *
 * The consumer also installs fastify (and nothing else from the peers), so `authx/fastify` is
 * loaded where fastify-plugin is not installed.
 */
import { execFile } from 'node:child_process'
import { access, copyFile, cp, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, posix, resolve } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { relativeLinks } from './support/markdown.js'

const root = resolve(import.meta.dirname, '..')
const tsc = join(root, 'node_modules', '.bin', 'tsc')

interface RunResult {
  code: number
  stdout: string
  stderr: string
}

/** Runs a program without a shell and resolves with its exit code and output (never rejects on exit code). */
function run(file: string, args: string[], cwd: string, timeout = 120_000): Promise<RunResult> {
  // NODE_OPTIONS from the test runner must not leak loaders or conditions into the consumer.
  const env = { ...process.env, NODE_OPTIONS: '' }
  return new Promise((done, fail) => {
    execFile(file, args, { cwd, env, timeout, maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
      if (error && typeof error.code !== 'number') fail(error)
      else done({ code: error ? Number(error.code) : 0, stdout, stderr })
    })
  })
}

/** Like `run`, but a non-zero exit is an error that carries the output. */
async function mustRun(file: string, args: string[], cwd: string): Promise<string> {
  const result = await run(file, args, cwd)
  if (result.code !== 0) {
    throw new Error(`${file} ${args.join(' ')} exited ${result.code}\n${result.stdout}\n${result.stderr}`)
  }
  return result.stdout
}

async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  )
}

let work: string
let stage: string
let consumer: string
let packedFiles: string[]

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'authx-package-'))
  stage = join(work, 'stage')
  consumer = join(work, 'consumer')
  await mkdir(stage)
  await mkdir(consumer)

  await mustRun('npm', ['run', 'build', '--', '--out-dir', join(stage, 'dist')], root)
  for (const file of ['package.json', 'LICENSE', 'README.md']) {
    if (await exists(join(root, file))) await copyFile(join(root, file), join(stage, file))
  }
  await cp(join(root, 'docs'), join(stage, 'docs'), { recursive: true })
  const packed = JSON.parse(await mustRun('npm', ['pack', '--json', '--pack-destination', work], stage)) as {
    filename: string
    files: { path: string }[]
  }[]
  const tarball = join(work, packed[0]!.filename)
  packedFiles = packed[0]!.files.map((f) => f.path).sort()

  await writeFile(
    join(consumer, 'package.json'),
    `${JSON.stringify({ name: 'authx-consumer', version: '0.0.0', private: true }, null, 2)}\n`,
  )
  // jose and fastify have to come from the registry (or the npm cache), as they do for users.
  // The fastify the tests run against, so the npm cache usually has it.
  const fastify = JSON.parse(
    await readFile(join(root, 'node_modules', 'fastify', 'package.json'), 'utf8'),
  ) as {
    version: string
  }
  const install = ['install', '--no-audit', '--no-fund', tarball, `fastify@${fastify.version}`]
  const offline = await run('npm', [...install, '--offline'], consumer)
  if (offline.code !== 0) await mustRun('npm', install, consumer)
}, 240_000)

afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true })
})

describe('the packed tarball', () => {
  it('contains only the built files, the guides, the licence, the readme and package.json', () => {
    for (const path of packedFiles) {
      expect(path).toMatch(
        /^(dist\/[\w./-]+\.(js|cjs|d\.ts|d\.cts)|docs\/[\w.-]+\.md|package\.json|LICENSE|README\.md)$/,
      )
    }
    expect(packedFiles).toEqual(
      expect.arrayContaining([
        'LICENSE',
        'dist/index.cjs',
        'dist/index.d.cts',
        'dist/index.d.ts',
        'dist/index.js',
        'package.json',
        'README.md',
      ]),
    )
  })

  it('contains every guide of docs/', async () => {
    const guides = (await readdir(join(root, 'docs')))
      .filter((f) => f.endsWith('.md'))
      .map((f) => `docs/${f}`)
    expect(guides.length).toBeGreaterThan(0)
    expect(packedFiles).toEqual(expect.arrayContaining(guides))
  })

  it('every relative link of the packed README and guides points at a file in the tarball', async () => {
    const installed = join(consumer, 'node_modules', 'authx')
    const broken: string[] = []
    for (const file of packedFiles.filter((f) => f.endsWith('.md'))) {
      for (const target of relativeLinks(await readFile(join(installed, file), 'utf8'))) {
        const path = posix.normalize(posix.join(posix.dirname(file), decodeURI(target)))
        if (!packedFiles.includes(path)) broken.push(`${file} -> ${target}`)
      }
    }
    expect(broken).toEqual([])
    const readme = await readFile(join(installed, 'README.md'), 'utf8')
    expect(relativeLinks(readme)).toContain('./docs/getting-started.md')
  })

  it('has the fields a registry page shows', async () => {
    const pkg = JSON.parse(await readFile(join(consumer, 'node_modules', 'authx', 'package.json'), 'utf8'))
    expect(pkg.description).toEqual(expect.any(String))
    expect(pkg.license).toBe('MIT')
    expect(pkg.author).toEqual(expect.anything())
    expect(pkg.repository).toEqual({ type: 'git', url: expect.stringMatching(/^git\+https:\/\/.+\.git$/) })
    expect(pkg.homepage).toMatch(/^https:\/\//)
    expect(pkg.bugs).toEqual({ url: expect.stringMatching(/^https:\/\//) })
    expect(pkg.keywords).toEqual(expect.arrayContaining(['jwt', 'authentication']))
    expect(pkg.engines).toEqual({ node: '>=20.19' })
  })

  it('declares types first in every export condition, no side effects and Node 20.19 or later', async () => {
    const pkg = JSON.parse(await readFile(join(consumer, 'node_modules', 'authx', 'package.json'), 'utf8'))
    expect(pkg.sideEffects).toBe(false)
    expect(pkg.engines).toEqual({ node: '>=20.19' })
    expect(pkg.type).toBe('module')
    const conditionObjects: Record<string, unknown>[] = []
    const walk = (value: unknown): void => {
      if (value === null || typeof value !== 'object') return
      const entries = Object.entries(value)
      if (entries.some(([key]) => key === 'default' || key === 'types')) {
        conditionObjects.push(value as Record<string, unknown>)
      }
      for (const [, child] of entries) walk(child)
    }
    walk(pkg.exports)
    expect(conditionObjects.length).toBeGreaterThan(0)
    for (const conditions of conditionObjects) expect(Object.keys(conditions)[0]).toBe('types')
    expect(pkg.exports['.'].import).toEqual({ types: './dist/index.d.ts', default: './dist/index.js' })
    expect(pkg.exports['.'].require).toEqual({ types: './dist/index.d.cts', default: './dist/index.cjs' })
  })

  it('imports nothing but jose at the top level of either build, so the core loads off Node', async () => {
    const dist = join(consumer, 'node_modules', 'authx', 'dist')
    const esm = await readFile(join(dist, 'index.js'), 'utf8')
    const cjs = await readFile(join(dist, 'index.cjs'), 'utf8')
    const esmSpecifiers = [
      ...esm.matchAll(
        /^\s*(?:import|export)\b[^'"]*?\bfrom\s*['"]([^'"]+)['"]|^\s*import\s*['"]([^'"]+)['"]/gm,
      ),
    ].map((m) => m[1] ?? m[2])
    const cjsSpecifiers = [...cjs.matchAll(/\brequire\(\s*['"]([^'"]+)['"]\s*\)/g)].map((m) => m[1])
    expect(new Set(esmSpecifiers)).toEqual(new Set(['jose']))
    expect(new Set(cjsSpecifiers)).toEqual(new Set(['jose']))
  })
})

/** Creates and verifies a token, then verifies it with the wrong key, and prints what it saw. */
const scriptBody = `
const auth = new AuthX({ secretKey: 'consumer-secret-'.repeat(2) })
const token = await auth.createAccessToken({ uid: 'user-1', fresh: true, data: { role: 'admin' } })
const payload = await auth.verifyToken(token, { fresh: true })
let rejected = { thrown: false }
try {
  await new AuthX({ secretKey: 'another-secret-'.repeat(3) }).verifyToken(token)
} catch (err) {
  rejected = { thrown: true, invalidToken: err instanceof InvalidTokenError, code: err.code, status: err.status, reason: err.reason }
}
const out = {
  resolved: RESOLVED,
  engine: auth.engine,
  isTokenPayload: payload instanceof TokenPayload,
  sub: payload.sub,
  type: payload.type,
  fresh: payload.fresh,
  extra: payload.extra,
  rejected,
}
console.log(JSON.stringify(out))
`

const expectedRoundTrip = {
  isTokenPayload: true,
  sub: 'user-1',
  type: 'access',
  fresh: true,
  extra: { role: 'admin' },
  rejected: { thrown: true, invalidToken: true, code: 'ERR_INVALID_TOKEN', status: 401, reason: 'signature' },
}

async function runScript(name: string, source: string): Promise<Record<string, unknown>> {
  await writeFile(join(consumer, name), source)
  const result = await run(process.execPath, [name], consumer, 60_000)
  expect(result.stderr).toBe('')
  expect(result.code).toBe(0)
  return JSON.parse(result.stdout)
}

describe('the installed package at run time', { timeout: 60_000 }, () => {
  it('loads through import in an ES module and round-trips a token on the node engine', async () => {
    const out = await runScript(
      'use-esm.mjs',
      `import { AuthX, TokenPayload, InvalidTokenError } from 'authx'\n${scriptBody.replace(
        'RESOLVED',
        "import.meta.resolve('authx')",
      )}`,
    )
    expect(out).toEqual({ ...expectedRoundTrip, engine: 'node', resolved: expect.any(String) })
    expect(out.resolved).toMatch(/\/node_modules\/authx\/dist\/index\.js$/)
  })

  it('loads through require in a CommonJS script and round-trips a token on the node engine', async () => {
    // Node 20.19+ can require() the ESM-only jose; that is why engines says >=20.19.
    const out = await runScript(
      'use-cjs.cjs',
      `const { AuthX, TokenPayload, InvalidTokenError } = require('authx')\n;(async () => {\n${scriptBody.replace(
        'RESOLVED',
        "require.resolve('authx')",
      )}\n})().catch((err) => { console.error(err); process.exitCode = 1 })\n`,
    )
    expect(out).toEqual({ ...expectedRoundTrip, engine: 'node', resolved: expect.any(String) })
    expect(out.resolved).toMatch(/\/node_modules\/authx\/dist\/index\.cjs$/)
  })

  /** Guards a request with the web adapter and reports whether its payload is the root's class. */
  const subpathBody = `
const auth = new AuthX({ secretKey: 'consumer-secret-'.repeat(2) })
const token = await auth.createAccessToken({ uid: 'user-1' })
let seen
const handler = webAuthX(auth).accessRequired(async (_req, payload) => {
  seen = payload
  return new Response('ok')
})
const ok = await handler(new Request('http://x.test/', { headers: { authorization: 'Bearer ' + token } }))
const denied = await handler(new Request('http://x.test/'))
console.log(JSON.stringify({
  ok: ok.status,
  denied: denied.status,
  shared: seen instanceof TokenPayload,
  stores: [typeof RedisStore, typeof PostgresStore],
  resolved: RESOLVED,
}))
`

  it('loads the subpaths through import and shares one core with the root export', async () => {
    const out = await runScript(
      'use-subpath.mjs',
      `import { AuthX, TokenPayload } from 'authx'\nimport { webAuthX } from 'authx/web'\nimport { RedisStore } from 'authx/stores/redis'\nimport { PostgresStore } from 'authx/stores/postgres'\n${subpathBody.replace(
        'RESOLVED',
        "import.meta.resolve('authx/web')",
      )}`,
    )
    expect(out).toEqual({
      ok: 200,
      denied: 401,
      shared: true,
      stores: ['function', 'function'],
      resolved: expect.any(String),
    })
    expect(out.resolved).toMatch(/\/node_modules\/authx\/dist\/web\.js$/)
  })

  it('loads the subpaths through require and shares one core with the root export', async () => {
    const out = await runScript(
      'use-subpath.cjs',
      `const { AuthX, TokenPayload } = require('authx')\nconst { webAuthX } = require('authx/web')\nconst { RedisStore } = require('authx/stores/redis')\nconst { PostgresStore } = require('authx/stores/postgres')\n;(async () => {\n${subpathBody.replace(
        'RESOLVED',
        "require.resolve('authx/web')",
      )}\n})().catch((err) => { console.error(err); process.exitCode = 1 })\n`,
    )
    expect(out).toEqual({
      ok: 200,
      denied: 401,
      shared: true,
      stores: ['function', 'function'],
      resolved: expect.any(String),
    })
    expect(out.resolved).toMatch(/\/node_modules\/authx\/dist\/web\.cjs$/)
  })

  it('falls back to the jose engine when the runtime offers no process.getBuiltinModule', async () => {
    // The nearest a Node process gets to a Web-standard runtime: no way to reach node:crypto.
    const out = await runScript(
      'use-web.mjs',
      `delete process.getBuiltinModule\nconst { AuthX, TokenPayload, InvalidTokenError } = await import('authx')\n${scriptBody.replace(
        'RESOLVED',
        "import.meta.resolve('authx')",
      )}`,
    )
    expect(out).toEqual({ ...expectedRoundTrip, engine: 'jose', resolved: expect.any(String) })
  })

  /**
   * Registers the Fastify plugin in the root scope and reports what the app sees: the decorator
   * (so the plugin was not encapsulated in a child scope), its name, a guarded route, and
   * whether fastify-plugin could be found at all from the consumer.
   */
  const fastifyBody = `
const auth = new AuthX({ secretKey: 'consumer-secret-'.repeat(2) })
const app = Fastify()
await app.register(fastifyAuthX, { auth })
const decorated = typeof app.authx?.accessRequired === 'function'
app.get('/profile', { preHandler: app.authx.accessRequired }, async (request) => ({ sub: request.authx.sub }))
const token = await auth.createAccessToken({ uid: 'user-1' })
const ok = await app.inject({ url: '/profile', headers: { authorization: 'Bearer ' + token } })
const denied = await app.inject({ url: '/profile' })
let fastifyPlugin = 'installed'
try {
  REQUIRE.resolve('fastify-plugin')
} catch (err) {
  fastifyPlugin = err.code
}
await app.close()
console.log(JSON.stringify({
  decorated,
  named: app.hasPlugin('authx'),
  ok: [ok.statusCode, ok.json()],
  denied: [denied.statusCode, denied.json().code],
  fastifyPlugin,
  resolved: RESOLVED,
}))
`

  const expectedFastify = {
    decorated: true,
    named: true,
    ok: [200, { sub: 'user-1' }],
    denied: [401, 'ERR_MISSING_TOKEN'],
    fastifyPlugin: 'MODULE_NOT_FOUND',
    resolved: expect.any(String),
  }

  it('loads authx/fastify through import with fastify alone installed, and its plugin decorates the root scope', async () => {
    const out = await runScript(
      'use-fastify.mjs',
      `import { createRequire } from 'node:module'\nimport Fastify from 'fastify'\nimport { AuthX } from 'authx'\nimport { fastifyAuthX } from 'authx/fastify'\n${fastifyBody
        .replace('REQUIRE', 'createRequire(import.meta.url)')
        .replace('RESOLVED', "import.meta.resolve('authx/fastify')")}`,
    )
    expect(out).toEqual(expectedFastify)
    expect(out.resolved).toMatch(/\/node_modules\/authx\/dist\/fastify\.js$/)
  })

  it('loads authx/fastify through require with fastify alone installed, and its plugin decorates the root scope', async () => {
    const out = await runScript(
      'use-fastify.cjs',
      `const Fastify = require('fastify')\nconst { AuthX } = require('authx')\nconst { fastifyAuthX } = require('authx/fastify')\n;(async () => {\n${fastifyBody
        .replace('REQUIRE', 'require')
        .replace(
          'RESOLVED',
          "require.resolve('authx/fastify')",
        )}\n})().catch((err) => { console.error(err); process.exitCode = 1 })\n`,
    )
    expect(out).toEqual(expectedFastify)
    expect(out.resolved).toMatch(/\/node_modules\/authx\/dist\/fastify\.cjs$/)
  })
})

/** Uses the public types in ways that fail to compile if they resolve to `any` or go missing. */
const consumerSource = `import { AuthX, type AuthXOptions, InvalidTokenError, TokenPayload } from 'authx'

const options: AuthXOptions = { secretKey: 'x'.repeat(32), accessTokenExpires: '15m' }
const auth = new AuthX(options)

// @ts-expect-error 'HS257' is not an algorithm, so the options type is real
new AuthX({ algorithm: 'HS257', secretKey: 'x'.repeat(32) })

export async function check(token: string): Promise<string> {
  try {
    const payload = await auth.verifyToken<{ role: string }>(token)
    const role: string = payload.extra.role
    // @ts-expect-error sub is a string, so the payload type is not any
    const wrong: number = payload.sub
    return payload instanceof TokenPayload ? \`\${payload.sub}:\${role}:\${wrong}\` : ''
  } catch (err) {
    if (err instanceof InvalidTokenError) return err.reason
    throw err
  }
}
`

/**
 * `module: 'node20'` (with node16 resolution) is what TypeScript offers for Node >= 20.19, where
 * `require()` may load ES modules: the CommonJS build requires jose, which is ESM-only. Under
 * `module: 'node16'` a CommonJS consumer file gets TS1479 from the jose import in index.d.cts.
 */
interface TypeSetup {
  name: string
  module: string
  moduleResolution: string
  lib: string[]
  nodeTypes: boolean
  files: string[]
}

const typeSetups: TypeSetup[] = [
  {
    name: 'node16 resolution from ESM and CommonJS files, with @types/node and the DOM lib',
    module: 'node20',
    moduleResolution: 'node16',
    lib: ['es2023', 'dom'],
    nodeTypes: true,
    files: ['consumer.mts', 'consumer.cts'],
  },
  {
    name: 'bundler resolution, with @types/node and the DOM lib',
    module: 'esnext',
    moduleResolution: 'bundler',
    lib: ['es2023', 'dom'],
    nodeTypes: true,
    files: ['consumer.ts'],
  },
  {
    name: 'node16 resolution, with @types/node and no DOM lib (as @tsconfig/node20 sets up)',
    module: 'node20',
    moduleResolution: 'node16',
    lib: ['es2023'],
    nodeTypes: true,
    files: ['consumer.mts', 'consumer.cts'],
  },
  {
    name: 'bundler resolution, with the DOM lib and no @types/node (a Web-runtime project)',
    module: 'esnext',
    moduleResolution: 'bundler',
    lib: ['es2023', 'dom'],
    nodeTypes: false,
    files: ['consumer.ts'],
  },
]

describe('the published types', () => {
  it.each(typeSetups)(
    'type-check a strict consumer under $name',
    async (setup) => {
      for (const file of setup.files) await writeFile(join(consumer, file), consumerSource)
      const config = `tsconfig.${setup.name.replace(/\W+/g, '-')}.json`
      await writeFile(
        join(consumer, config),
        JSON.stringify({
          compilerOptions: {
            strict: true,
            noEmit: true,
            // Check our .d.ts files too: most projects skip them, which would hide broken declarations.
            // TypeScript's own lib files need no checking and are most of the time this takes.
            skipLibCheck: false,
            skipDefaultLibCheck: true,
            target: 'es2022',
            module: setup.module,
            moduleResolution: setup.moduleResolution,
            lib: setup.lib,
            types: setup.nodeTypes ? ['node'] : [],
            typeRoots: [join(root, 'node_modules', '@types')],
          },
          files: setup.files,
        }),
      )
      const result = await run(tsc, ['-p', config], consumer, 170_000)
      expect(result.stdout + result.stderr).toBe('')
      expect(result.code).toBe(0)
    },
    180_000,
  )
})
