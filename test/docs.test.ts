/**
 * Every ` ```ts ` block of README.md and docs/*.md is run here, one test per block, so the docs
 * cannot drift from the code. A block is written to `.tmp/docs/` with `from 'authx'` (and
 * `'authx/express'`, `'authx/stores/sqlite'`, ...) pointing at the source, then imported; a block
 * that throws (including a failed `node:assert`) fails its test. Blocks are also type-checked
 * against the public API with the project's compiler options.
 *
 * - Blocks that import `express` run a second time on Express 4 (`express4`), untyped: the
 *   adapter guide promises both majors.
 * - Blocks that import `ioredis`, `redis` or `pg` run against the servers on 127.0.0.1 (or
 *   `REDIS_URL` / `DATABASE_URL`). Where one is missing they skip with the reason, and fail when
 *   `CI` or `AUTHX_REQUIRE_STORES` is set, like the store tests. Each run is isolated: the
 *   Redis prefix `'myapp:authx:'` written in the guides becomes a prefix unique to the run (its
 *   keys are deleted afterwards), and `DATABASE_URL` points at a schema of its own (dropped
 *   afterwards).
 */
import { randomUUID } from 'node:crypto'
import { mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { connect } from 'node:net'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Redis } from 'ioredis'
import pg from 'pg'
import ts from 'typescript'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ENV_NAMES } from '../src/index.js'
import { codeBlocks, importedModules, isRunnable, relativeLinks } from './support/markdown.js'

const root = fileURLToPath(new URL('..', import.meta.url))
const outDir = join(root, '.tmp', 'docs')
// `.js` as everywhere in src/: vitest and tsc both map it to src/index.ts.
const entry = join(root, 'src', 'index.js')

const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
  exports: Record<string, unknown>
  dependencies?: Record<string, string>
  peerDependencies?: Record<string, string>
  devDependencies?: Record<string, string>
}

/** `authx/<subpath>` of package.json `exports` -> its source: adapters in src/adapters, stores in src/stores. */
const SUBPATHS = new Map<string, string>(
  Object.keys(pkg.exports)
    .filter((key) => key !== '.' && key !== './package.json')
    .map((key) => {
      const sub = key.slice(2)
      return [`authx/${sub}`, join(root, 'src', sub.startsWith('stores/') ? sub : `adapters/${sub}`)] as const
    }),
)

/** Packages a sample may import besides authx and node: built-ins: those this project declares. */
const DECLARED = new Set(
  [pkg.dependencies, pkg.peerDependencies, pkg.devDependencies].flatMap((deps) => Object.keys(deps ?? {})),
)

/** The package a module specifier belongs to (`@koa/router`, `hono/http-exception` -> `hono`). */
function packageOf(specifier: string): string {
  const parts = specifier.split('/')
  return specifier.startsWith('@') ? parts.slice(0, 2).join('/') : (parts[0] as string)
}

/** `from 'authx'` and `from 'authx/<subpath>'` pointing at the source; unknown subpaths are left alone. */
function pointAtSource(code: string): string {
  return code.replace(
    /(\bfrom\s*)(['"])(authx(?:\/[\w/-]+)?)\2/g,
    (whole, from: string, _q, specifier: string) => {
      if (specifier === 'authx') return `${from}'${entry}'`
      const source = SUBPATHS.get(specifier)
      return source === undefined ? whole : `${from}'${source}.js'`
    },
  )
}

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'
const DATABASE_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test'
const REDIS_PREFIX_IN_DOCS = 'myapp:authx:'
const runId = randomUUID().replaceAll('-', '').slice(0, 12)
const redisPrefix = `authx-docs-${runId}:`
const pgSchema = `authx_docs_${runId}`

type Server = 'redis' | 'postgres'

/** The servers a sample talks to, from what it imports. */
function serversOf(source: string): Server[] {
  const modules = importedModules(source).map(packageOf)
  const servers: Server[] = []
  if (modules.includes('ioredis') || modules.includes('redis')) servers.push('redis')
  if (modules.includes('pg')) servers.push('postgres')
  return servers
}

/** The guides, in reading order (README links them in this order). */
const GUIDES = [
  'docs/getting-started.md',
  'docs/demo.md',
  'docs/token-types.md',
  'docs/configuration.md',
  'docs/errors.md',
  'docs/locations-and-csrf.md',
  'docs/cookies.md',
  'docs/revocation.md',
  'docs/stores.md',
  'docs/rotation.md',
  'docs/adapters.md',
  'docs/openapi.md',
  'docs/login-types.md',
  'docs/websocket.md',
  'docs/policies.md',
  'docs/rate-limiting.md',
  'docs/sessions.md',
  'docs/dpop.md',
  'docs/keys.md',
  'docs/command-line.md',
  'docs/telemetry.md',
  'docs/security.md',
  'docs/migrating-from-python-authx.md',
]

const docFiles = [
  'README.md',
  ...readdirSync(join(root, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .sort()
    .map((f) => `docs/${f}`),
]

interface Sample {
  /** `docs/keys.md:42`: file and line of the opening fence. */
  where: string
  file: string
  line: number
  /** The block as written in the doc. */
  source: string
  /** The block as run: `from 'authx'` points at src/index, subpaths at their source. */
  code: string
  path: string
  /** The servers it needs. */
  servers: Server[]
  /** The same block on Express 4, run but not type-checked; only for blocks importing express. */
  express4?: { code: string; path: string }
}

const samples: Sample[] = docFiles.flatMap((file) =>
  codeBlocks(readFileSync(join(root, file), 'utf8'))
    .filter(isRunnable)
    .map((block) => {
      const base = join(outDir, `${file.replace(/[^A-Za-z0-9]+/g, '-')}-L${block.line}`)
      // Same number of lines as the block, so line n of the file is line `block.line + n` of the doc.
      const code = pointAtSource(block.code).replaceAll(`'${REDIS_PREFIX_IN_DOCS}'`, `'${redisPrefix}'`)
      const sample: Sample = {
        where: `${file}:${block.line}`,
        file,
        line: block.line,
        source: block.code,
        code,
        path: `${base}.ts`,
        servers: serversOf(block.code),
      }
      if (importedModules(block.code).includes('express')) {
        sample.express4 = {
          code: code.replace(/(\bfrom\s*)(['"])express\2/g, (_, from: string) => `${from}'express4'`),
          path: `${base}-express4.ts`,
        }
      }
      return sample
    }),
)

/** Whether a TCP server answers on the URL's host and port within a second. */
function reachable(url: string, defaultPort: number): Promise<boolean> {
  const { hostname, port } = new URL(url)
  return new Promise((done) => {
    const socket = connect({ host: hostname || '127.0.0.1', port: Number(port || defaultPort) })
    const finish = (up: boolean) => {
      socket.destroy()
      done(up)
    }
    socket.setTimeout(1000, () => finish(false))
    socket.once('connect', () => finish(true))
    socket.once('error', () => finish(false))
  })
}

const serverUp = new Map<Server, Promise<boolean>>()
function isUp(server: Server): Promise<boolean> {
  let up = serverUp.get(server)
  if (up === undefined) {
    up = server === 'redis' ? reachable(REDIS_URL, 6379) : reachable(DATABASE_URL, 5432)
    serverUp.set(server, up)
  }
  return up
}

let schemaCreated: Promise<void> | undefined
/** Points `DATABASE_URL` at a schema of this run, so samples can use the default table name. */
function isolatePostgres(): Promise<void> {
  schemaCreated ??= (async () => {
    const client = new pg.Client({ connectionString: DATABASE_URL })
    await client.connect()
    try {
      await client.query(`CREATE SCHEMA IF NOT EXISTS ${pgSchema}`)
    } finally {
      await client.end()
    }
    const url = new URL(DATABASE_URL)
    url.searchParams.set('options', `-c search_path=${pgSchema}`)
    process.env.DATABASE_URL = url.toString()
  })()
  return schemaCreated
}

async function cleanUpServers(): Promise<void> {
  if (serverUp.has('redis') && (await isUp('redis'))) {
    const redis = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1 })
    try {
      await redis.connect()
      let cursor = '0'
      do {
        const [next, keys] = await redis.scan(cursor, 'MATCH', `${redisPrefix}*`, 'COUNT', 1000)
        if (keys.length > 0) await redis.del(...keys)
        cursor = next
      } while (cursor !== '0')
    } finally {
      redis.disconnect()
    }
  }
  if (schemaCreated !== undefined) {
    const client = new pg.Client({ connectionString: DATABASE_URL })
    await client.connect()
    try {
      await client.query(`DROP SCHEMA IF EXISTS ${pgSchema} CASCADE`)
    } finally {
      await client.end()
    }
  }
}

const SECRET = 'docs-test-secret-0123456789abcdefghijklmnop'
const savedEnv: Record<string, string | undefined> = {}

beforeAll(() => {
  rmSync(outDir, { recursive: true, force: true })
  mkdirSync(outDir, { recursive: true })
  for (const sample of samples) {
    writeFileSync(sample.path, sample.code)
    if (sample.express4) writeFileSync(sample.express4.path, sample.express4.code)
  }
  for (const name of ['JWT_SECRET_KEY', 'ADMIN_SECRET_KEY', 'DATABASE_URL'])
    savedEnv[name] = process.env[name]
  process.env.JWT_SECRET_KEY = SECRET
  // The second secret of the login-types guide (an admin instance with keys of its own).
  process.env.ADMIN_SECRET_KEY = `admin-${SECRET}`
})

afterAll(async () => {
  try {
    await cleanUpServers()
  } finally {
    for (const [name, value] of Object.entries(savedEnv)) {
      if (value === undefined) delete process.env[name]
      else process.env[name] = value
    }
  }
})

/** TypeScript's diagnostics that exist only because of `exactOptionalPropertyTypes`. */
const EXACT_OPTIONAL_CODES = new Set([2375, 2379, 2412])

let diagnostics: { text: string; exactOptional: boolean }[] | undefined

/** Type errors of the samples, compiled once with the project's tsconfig; `file:line: message`. */
function typeErrors(): { text: string; exactOptional: boolean }[] {
  if (diagnostics !== undefined) return diagnostics
  const configFile = ts.readConfigFile(join(root, 'tsconfig.json'), ts.sys.readFile)
  const parsed = ts.parseJsonConfigFileContent(configFile.config, ts.sys, root)
  const program = ts.createProgram(
    samples.map((s) => s.path),
    { ...parsed.options, noEmit: true },
  )
  const byPath = new Map(samples.map((s) => [resolve(s.path), s]))
  diagnostics = ts
    .getPreEmitDiagnostics(program)
    .filter((d) => d.file !== undefined && byPath.has(resolve(d.file.fileName)))
    .map((d) => {
      const sample = byPath.get(resolve(d.file!.fileName))!
      const { line } = d.file!.getLineAndCharacterOfPosition(d.start ?? 0)
      const message = ts.flattenDiagnosticMessageText(d.messageText, '\n')
      return {
        text: `${sample.file}:${sample.line + 1 + line}: ${message}`,
        exactOptional: EXACT_OPTIONAL_CODES.has(d.code),
      }
    })
  return diagnostics
}

describe('docs: the guides', () => {
  it('README opens with the two set-up commands', () => {
    const first = codeBlocks(readFileSync(join(root, 'README.md'), 'utf8'))[0]
    expect(first?.code).toBe(
      'npm ci && npm start   # builds and starts the demo on http://localhost:3000\n' +
        'npm test              # the whole test suite\n',
    )
  })

  it('every guide exists and README links them in reading order', () => {
    for (const guide of GUIDES) expect(docFiles).toContain(guide)
    // The list under "## Guides": other sections may link a guide earlier.
    const readme = readFileSync(join(root, 'README.md'), 'utf8').split(/^## Guides$/m)[1] ?? ''
    const positions = GUIDES.map((guide) => readme.indexOf(`](./${guide})`))
    expect(positions.every((p) => p >= 0)).toBe(true)
    expect([...positions].sort((a, b) => a - b)).toEqual(positions)
  })

  it('every relative link in the docs points at an existing file', () => {
    const broken: string[] = []
    for (const file of docFiles) {
      for (const target of relativeLinks(readFileSync(join(root, file), 'utf8'))) {
        const path = resolve(dirname(join(root, file)), target)
        try {
          statSync(path)
        } catch {
          broken.push(`${file} -> ${target}`)
        }
      }
    }
    expect(broken).toEqual([])
  })

  it('the environment table of configuration.md lists exactly the names fromEnv reads', () => {
    const text = readFileSync(join(root, 'docs/configuration.md'), 'utf8')
    const rows = [...text.matchAll(/^\|\s*`(JWT_[A-Z_]+)`\s*\|/gm)].map((m) => m[1])
    expect([...rows].sort()).toEqual([...ENV_NAMES].sort())
  })

  it('every TypeScript sample imports only authx and its exported subpaths, node: built-ins and declared packages', () => {
    const foreign = samples.flatMap((s) =>
      importedModules(s.source)
        .filter((m) =>
          m === 'authx' || m.startsWith('authx/')
            ? !SUBPATHS.has(m) && m !== 'authx'
            : !m.startsWith('node:') && !DECLARED.has(packageOf(m)),
        )
        .map((m) => `${s.where}: ${m}`),
    )
    expect(foreign).toEqual([])
  })

  it('every Redis sample keys its data under the prefix the docs test isolates', () => {
    const unprefixed = samples
      .filter((s) => s.servers.includes('redis') && !s.source.includes(`'${REDIS_PREFIX_IN_DOCS}'`))
      .map((s) => s.where)
    expect(unprefixed).toEqual([])
  })

  it('every TypeScript sample type-checks against the public API', { timeout: 120_000 }, () => {
    expect(
      typeErrors()
        .filter((e) => !e.exactOptional)
        .map((e) => e.text),
    ).toEqual([])
  })

  it('every TypeScript sample type-checks with exactOptionalPropertyTypes, as the project compiles', {
    timeout: 120_000,
  }, () => {
    // `secretKey: process.env.JWT_SECRET_KEY` (SPEC section 2) must compile for users who turn
    // this flag on, as this project does.
    expect(
      typeErrors()
        .filter((e) => e.exactOptional)
        .map((e) => e.text),
    ).toEqual([])
  })
})

describe('docs: every TypeScript sample runs', () => {
  it('finds samples in the README and in every guide', () => {
    for (const file of ['README.md', ...GUIDES]) {
      expect(
        samples.some((s) => s.file === file),
        `${file} has no runnable sample`,
      ).toBe(true)
    }
  })

  for (const sample of samples) {
    const run = async (ctx: { skip: (note?: string) => void }, path: string) => {
      for (const server of sample.servers) {
        if (await isUp(server)) continue
        const reason = `${server} is not reachable`
        if (process.env.CI || process.env.AUTHX_REQUIRE_STORES) throw new Error(`${reason}; required in CI`)
        console.warn(`[skip] ${sample.where}: ${reason}`)
        ctx.skip(reason)
        return
      }
      if (sample.servers.includes('postgres')) await isolatePostgres()
      await import(/* @vite-ignore */ path)
    }
    it(`${sample.where} runs without throwing`, (ctx) => run(ctx, sample.path))
    const express4 = sample.express4
    if (express4) it(`${sample.where} runs without throwing on Express 4`, (ctx) => run(ctx, express4.path))
  }
})
