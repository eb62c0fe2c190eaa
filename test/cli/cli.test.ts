/**
 * The `authx` program as a user runs it: built once with tsup (the project's own tsup.config.ts,
 * the core and the cli entries, ESM, no declarations) into a temporary package next to a copy of
 * package.json, so `import ... from 'authx'` in dist/cli.js resolves to that package's
 * dist/index.js exactly as it does once installed. Every command then runs as a child process
 * (`node dist/cli.js ...`) with an environment that holds only what each test gives it.
 *
 * The sh blocks of docs/command-line.md run too, in a shell where `npx authx` is this build, so
 * the guide cannot drift from the program (see "the guide").
 */
import { spawn } from 'node:child_process'
import { generateKeyPairSync } from 'node:crypto'
import { mkdir, mkdtemp, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { calculateJwkThumbprint, type JWK } from 'jose'
import { build, type Options } from 'tsup'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { AuthX } from '../../src/index.js'
import tsupConfig, { entries, programs } from '../../tsup.config.js'
import { codeBlocks } from '../support/markdown.js'

const root = resolve(import.meta.dirname, '..', '..')
const pkg = JSON.parse(await readFile(join(root, 'package.json'), 'utf8')) as {
  version: string
  bin?: Record<string, string>
}

let work: string
let pkgDir: string
let cli: string
/** A folder per test that needs files. */
let n = 0
async function folder(): Promise<string> {
  const dir = join(work, `t${n++}`)
  await mkdir(dir)
  return dir
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'authx-cli-'))
  pkgDir = join(work, 'package')
  await mkdir(pkgDir)
  await build({
    ...(tsupConfig as Options),
    config: false,
    entry: { index: entries.index, ...programs },
    format: ['esm'],
    dts: false,
    outDir: join(pkgDir, 'dist'),
    silent: true,
  })
  await writeFile(join(pkgDir, 'package.json'), JSON.stringify({ ...pkg, bin: { authx: './dist/cli.js' } }))
  // jose, the one dependency, from this project's node_modules.
  await symlink(join(root, 'node_modules'), join(pkgDir, 'node_modules'), 'dir')
  cli = join(pkgDir, 'dist', 'cli.js')
}, 120_000)

afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true })
})

interface Result {
  code: number
  stdout: string
  stderr: string
}

/** Runs `authx <args>`: stdin is `input` (closed empty otherwise), env only `env` (and PATH). */
function authx(
  args: string[],
  options: { env?: Record<string, string>; input?: string; cwd?: string } = {},
): Promise<Result> {
  return runProcess(process.execPath, [cli, ...args], options)
}

function runProcess(
  file: string,
  args: string[],
  options: { env?: Record<string, string>; input?: string; cwd?: string },
): Promise<Result> {
  return new Promise((done, fail) => {
    const child = spawn(file, args, {
      cwd: options.cwd ?? work,
      env: { PATH: process.env.PATH ?? '', NODE_OPTIONS: '', ...options.env },
    })
    let stdout = ''
    let stderr = ''
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      stdout += d
    })
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      stderr += d
    })
    child.on('error', fail)
    child.on('close', (code) => done({ code: code ?? -1, stdout, stderr }))
    child.stdin.end(options.input ?? '')
  })
}

/** A run that must succeed; its stdout. */
async function ok(args: string[], options: Parameters<typeof authx>[1] = {}): Promise<string> {
  const result = await authx(args, options)
  if (result.code !== 0 || result.stderr !== '') {
    throw new Error(`authx ${args.join(' ')} exited ${result.code}\n${result.stderr}`)
  }
  return result.stdout
}

/** The one line a failure writes, and its exit code. */
function failure(result: Result): { code: number; line: string } {
  expect(result.stderr.endsWith('\n')).toBe(true)
  expect(result.stderr.trimEnd().split('\n')).toHaveLength(1)
  return { code: result.code, line: result.stderr.trimEnd() }
}

const SECRET = 'cli-test-secret-0123456789abcdefghijklmnopqrstuvwxyz'
const ENV = { JWT_SECRET_KEY: SECRET }

const ASYMMETRIC = ['RS256', 'PS384', 'ES256', 'ES384', 'ES512', 'EdDSA'] as const

describe('authx: help, version, usage errors', () => {
  it('--version prints the version of package.json, as text or JSON', async () => {
    expect(await ok(['--version'])).toBe(`${pkg.version}\n`)
    expect(JSON.parse(await ok(['--version', '--json']))).toEqual({ version: pkg.version })
  })

  it('--help and -h on every command print its usage on stdout and exit 0', async () => {
    const commands = [
      [],
      ['keygen'],
      ['token'],
      ['token', 'create'],
      ['token', 'decode'],
      ['token', 'verify'],
      ['jwks'],
    ]
    const results = await Promise.all(commands.flatMap((c) => [authx([...c, '--help']), authx([...c, '-h'])]))
    for (const [i, result] of results.entries()) {
      const command = commands[Math.floor(i / 2)]!.join(' ')
      expect(result.code, command).toBe(0)
      expect(result.stderr).toBe('')
      expect(result.stdout, command).toMatch(new RegExp(`^Usage: authx ${command}`.replace(/ $/, '')))
    }
  })

  it('exits 2 with one ERR_USAGE line without a command, or with an unknown one', async () => {
    for (const args of [[], ['sign'], ['token'], ['token', 'sign']]) {
      const { code, line } = failure(await authx(args))
      expect(code, args.join(' ')).toBe(2)
      expect(line).toMatch(/^ERR_USAGE: /)
    }
    expect(failure(await authx(['sign'])).line).toContain("unknown command 'sign'")
    expect(failure(await authx(['token', 'sign'])).line).toBe(
      'ERR_USAGE: token: unknown command; expected create, decode or verify',
    )
    const json = await authx(['--json'])
    expect(json.code).toBe(2)
    expect(JSON.parse(json.stderr)).toEqual({
      code: 'ERR_USAGE',
      message: expect.stringContaining('give a command'),
    })
  })

  it('refuses an unknown option on every command (strict parsing: a typo never passes)', async () => {
    const lines = [
      ['--verbose'],
      ['keygen', '--algo', 'ES256'],
      ['token', 'create', '--sub', 'u1', '--exipres', '1h'],
      ['token', 'decode', 'x', '--key-file', 'k'],
      ['token', 'verify', 'x', '--fresh'],
      ['jwks', '--out', 'x'],
    ]
    const results = await Promise.all(lines.map((args) => authx(args, { env: ENV })))
    for (const [i, result] of results.entries()) {
      const { code, line } = failure(result)
      expect(code, lines[i]!.join(' ')).toBe(2)
      expect(line).toMatch(/^ERR_USAGE: .*unknown option --/)
    }
  })

  it('refuses a missing value, a value for a flag, a stray argument and a bad choice', async () => {
    const lines = [
      ['token', 'create', '--sub'],
      ['token', 'create', '--sub', 'u1', '--fresh=yes'],
      ['keygen', 'extra'],
      ['keygen', '--format', 'der'],
      ['keygen', '--alg', 'HS257'],
      ['token', 'create', '--sub', 'u1', '--type', 'id'],
      ['token', 'verify', 'a', 'b'],
      ['token', 'verify'],
      ['token', 'create'],
    ]
    const results = await Promise.all(lines.map((args) => authx(args, { env: ENV })))
    for (const [i, result] of results.entries()) {
      expect(failure(result), lines[i]!.join(' ')).toEqual({
        code: 2,
        line: expect.stringMatching(/^ERR_USAGE: /),
      })
    }
  })

  it('never repeats a value typed where an option or command was expected (it may be a token or a secret)', async () => {
    const token = await ok(['token', 'create', '--sub', 'u1'], { env: ENV })
    const results = await Promise.all([
      authx([token.trim()]),
      authx(['token', token.trim()]),
      authx(['keygen', token.trim()]),
      authx(['token', 'verify', token.trim(), SECRET], { env: ENV }),
      authx(['token', 'create', '--sub', 'u1', `--${SECRET}`], { env: ENV }),
      authx(['keygen', '--alg', SECRET]),
    ])
    for (const result of results) {
      expect(result.code).toBe(2)
      expect(result.stderr).not.toContain(token.trim())
      expect(result.stderr).not.toContain(SECRET)
    }
  })

  it('with --json, an error is {"code","message"} on stderr and nothing on stdout', async () => {
    const result = await authx(['token', 'create', '--sub', 'u1', '--bogus', '--json'])
    expect(result.code).toBe(2)
    expect(result.stdout).toBe('')
    expect(JSON.parse(result.stderr)).toEqual({
      code: 'ERR_USAGE',
      message: expect.stringContaining('--bogus'),
    })
  })
})

describe('authx keygen', () => {
  it('HS256, HS384, HS512: a fresh base64url secret of 32, 48, 64 random bytes that the library accepts', async () => {
    for (const [alg, bytes] of [
      ['HS256', 32],
      ['HS384', 48],
      ['HS512', 64],
    ] as const) {
      const [a, b] = await Promise.all([ok(['keygen', '--alg', alg]), ok(['keygen', '--alg', alg])])
      expect(a).toMatch(/^[A-Za-z0-9_-]+\n$/)
      expect(Buffer.from(a.trim(), 'base64url')).toHaveLength(bytes)
      expect(a).not.toBe(b)
      expect(() => new AuthX({ algorithm: alg, secretKey: a.trim() })).not.toThrow()
    }
    expect(await ok(['keygen'])).toMatch(/^[A-Za-z0-9_-]{43}\n$/)
  })

  it('takes its default algorithm from JWT_ALGORITHM, and --alg over it', async () => {
    expect(await ok(['keygen'], { env: { JWT_ALGORITHM: 'EdDSA' } })).toMatch(/^-----BEGIN PRIVATE KEY-----/)
    expect(await ok(['keygen', '--alg', 'HS384'], { env: { JWT_ALGORITHM: 'EdDSA' } })).toMatch(
      /^[\w-]{64}\n$/,
    )
    expect(failure(await authx(['keygen'], { env: { JWT_ALGORITHM: 'none' } }))).toEqual({
      code: 2,
      line: expect.stringMatching(/^ERR_CONFIG: JWT_ALGORITHM: /),
    })
  })

  it('asymmetric: a PKCS#8 PEM private key by default; a private JWK with the thumbprint kid and alg with --format jwk', async () => {
    for (const alg of ASYMMETRIC) {
      const [pem, jwkText] = await Promise.all([
        ok(['keygen', '--alg', alg]),
        ok(['keygen', '--alg', alg, '--format', 'jwk']),
      ])
      expect(pem).toMatch(/^-----BEGIN PRIVATE KEY-----\n[\s\S]+-----END PRIVATE KEY-----\n$/)
      const jwk = JSON.parse(jwkText) as JWK
      expect(jwk).toMatchObject({ alg, d: expect.any(String) })
      const { d: _d, p: _p, q: _q, dp: _dp, dq: _dq, qi: _qi, kid, alg: _alg, ...publicMembers } = jwk
      expect(kid).toBe(await calculateJwkThumbprint(publicMembers))
      // The library takes both, and gives the PEM the same kind of kid.
      const auth = new AuthX({ algorithm: alg, privateKey: pem })
      expect((await auth.jwks()).keys[0]?.kid).toMatch(/^[\w-]{43}$/)
    }
  })

  it('--kid names a JWK key; without --format jwk it is a usage error', async () => {
    expect(
      JSON.parse(await ok(['keygen', '--alg', 'ES256', '--format', 'jwk', '--kid', 'k-2024'])),
    ).toMatchObject({
      kid: 'k-2024',
    })
    expect(JSON.parse(await ok(['keygen', '--format', 'jwk', '--kid', 'h1']))).toMatchObject({
      kty: 'oct',
      alg: 'HS256',
      kid: 'h1',
    })
    expect(failure(await authx(['keygen', '--alg', 'ES256', '--kid', 'k']))).toEqual({
      code: 2,
      line: expect.stringMatching(/^ERR_USAGE: keygen: --kid .*--format jwk/),
    })
  })

  it('--json: the key and its public half in one object', async () => {
    const pem = JSON.parse(await ok(['keygen', '--alg', 'ES256', '--json']))
    expect(pem).toEqual({
      alg: 'ES256',
      kid: expect.any(String),
      privateKey: expect.stringMatching(/^-----BEGIN PRIVATE KEY-----/),
      publicKey: expect.stringMatching(/^-----BEGIN PUBLIC KEY-----/),
    })
    const jwk = JSON.parse(await ok(['keygen', '--alg', 'EdDSA', '--format', 'jwk', '--json']))
    expect(jwk.publicJwk).toEqual({
      kty: 'OKP',
      crv: 'Ed25519',
      x: jwk.privateJwk.x,
      kid: jwk.kid,
      alg: 'EdDSA',
      use: 'sig',
    })
    expect(JSON.parse(await ok(['keygen', '--json']))).toEqual({
      alg: 'HS256',
      secret: expect.stringMatching(/^[\w-]{43}$/),
    })
  })

  it('--out writes the private key to a new file of mode 0600 and the public key to stdout', async () => {
    const dir = await folder()
    const file = join(dir, 'private.pem')
    const stdout = await ok(['keygen', '--alg', 'ES256', '--out', file])
    expect(stdout).toMatch(/^-----BEGIN PUBLIC KEY-----\n[\s\S]+-----END PUBLIC KEY-----\n$/)
    expect(stdout).not.toContain('PRIVATE')
    expect((await stat(file)).mode & 0o777).toBe(0o600)
    const saved = await readFile(file, 'utf8')
    expect(saved).toMatch(/^-----BEGIN PRIVATE KEY-----/)
    // The two halves belong together.
    const auth = new AuthX({ algorithm: 'ES256', privateKey: saved, publicKey: stdout })
    expect((await auth.jwks()).keys).toHaveLength(1)
  })

  it('--out never overwrites a file (nor follows a symlink): exit 2, the file unchanged', async () => {
    const dir = await folder()
    const file = join(dir, 'key')
    await writeFile(file, 'precious')
    const link = join(dir, 'link')
    await symlink(join(dir, 'missing-target'), link)
    for (const target of [file, link]) {
      const { code, line } = failure(await authx(['keygen', '--alg', 'ES256', '--out', target]))
      expect(code).toBe(2)
      expect(line).toMatch(/^ERR_USAGE: keygen: --out .* already exists/)
    }
    expect(await readFile(file, 'utf8')).toBe('precious')
    await expect(stat(join(dir, 'missing-target'))).rejects.toThrow()
    expect(failure(await authx(['keygen', '--out', join(dir, 'no', 'such', 'dir')])).code).toBe(2)
  })

  it('--out with a secret or a JWK: nothing secret on stdout, with or without --json', async () => {
    const dir = await folder()
    const secretFile = join(dir, 'secret')
    expect(await ok(['keygen', '--out', secretFile])).toBe('')
    expect((await stat(secretFile)).mode & 0o777).toBe(0o600)
    expect(await readFile(secretFile, 'utf8')).toMatch(/^[\w-]{43}\n$/)

    const jwkFile = join(dir, 'key.json')
    const out = JSON.parse(
      await ok(['keygen', '--alg', 'RS256', '--format', 'jwk', '--out', jwkFile, '--json']),
    )
    const saved = JSON.parse(await readFile(jwkFile, 'utf8'))
    expect(saved.d).toEqual(expect.any(String))
    expect(out).toEqual({
      alg: 'RS256',
      kid: saved.kid,
      file: jwkFile,
      publicJwk: expect.objectContaining({ n: saved.n }),
    })
    expect(JSON.stringify(out)).not.toContain(saved.d)
    const hs = JSON.parse(await ok(['keygen', '--out', join(dir, 's2'), '--json']))
    expect(hs).toEqual({ alg: 'HS256', file: join(dir, 's2') })
  })
})

describe('authx token create', () => {
  it('prints the token and nothing else: one line, three segments', async () => {
    const stdout = await ok(['token', 'create', '--sub', 'user123'], { env: ENV })
    expect(stdout).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+\n$/)
    const payload = await new AuthX({ secretKey: SECRET }).verifyToken(stdout.trim())
    expect(payload).toMatchObject({ sub: 'user123', type: 'access', fresh: false })
    expect(JSON.parse(await ok(['token', 'create', '--sub', 'u', '--json'], { env: ENV }))).toEqual({
      token: expect.stringMatching(/^[\w-]+\.[\w-]+\.[\w-]+$/),
    })
  })

  it('writes --type, --fresh, --scopes, --data, --expires, --iss and --aud into the token', async () => {
    const auth = new AuthX({ secretKey: SECRET, issuer: 'https://issuer.test', audience: ['api', 'web'] })
    const access = await ok(
      [
        'token',
        'create',
        '--sub',
        'u1',
        '--fresh',
        '--scopes',
        'a:read, admin:*',
        '--data',
        '{"tenant":"acme"}',
      ].concat(['--expires', '30s', '--iss', 'https://issuer.test', '--aud', 'api,web']),
      { env: ENV },
    )
    const payload = await auth.verifyToken(access.trim(), { fresh: true, scopes: ['admin:users'] })
    expect(payload.claims).toMatchObject({
      fresh: true,
      scopes: ['a:read', 'admin:*'],
      tenant: 'acme',
      iss: 'https://issuer.test',
      aud: ['api', 'web'],
    })
    expect(payload.exp! - payload.iat).toBe(30)

    const refresh = await ok(['token', 'create', '--sub', 'u1', '--type', 'refresh', '--expires', '7200'], {
      env: ENV,
    })
    const r = await new AuthX({ secretKey: SECRET }).verifyToken(refresh.trim(), { type: 'refresh' })
    expect(r.fid).toEqual(expect.any(String))
    expect(r.exp! - r.iat).toBe(7200)
  })

  it('takes lifetimes, issuer and audience from the JWT_* environment', async () => {
    const token = await ok(['token', 'create', '--sub', 'u1'], {
      env: { ...ENV, JWT_ACCESS_TOKEN_EXPIRES: '120', JWT_ENCODE_ISSUER: 'env-issuer' },
    })
    const { payload } = new AuthX({ secretKey: SECRET }).decodeUnverified(token.trim())
    expect(payload).toMatchObject({ iss: 'env-issuer' })
    expect((payload.exp as number) - (payload.iat as number)).toBe(120)
  })

  it('refuses what the library refuses: exit 2, one line, the token never made', async () => {
    const cases: [string[], RegExp][] = [
      [['--type', 'refresh', '--fresh'], /^ERR_USAGE: token create: --fresh/],
      [['--data', '{"sub":"admin"}'], /^ERR_USAGE: .*sub/],
      [['--data', '[1]'], /^ERR_USAGE: token create: --data must be a JSON object/],
      [['--data', '{not json'], /^ERR_USAGE: token create: --data must be a JSON object/],
      [['--expires', '1 hour'], /^ERR_USAGE: token create: --expires must be whole seconds/],
      [['--expires', '0'], /^ERR_USAGE: token create: --expires/],
      [['--sub', ''], /^ERR_USAGE: token create: --sub/],
    ]
    const results = await Promise.all(
      cases.map(([args]) => authx(['token', 'create', '--sub', 'u1', ...args], { env: ENV })),
    )
    for (const [i, result] of results.entries()) {
      expect(result.stdout).toBe('')
      expect(failure(result)).toEqual({ code: 2, line: expect.stringMatching(cases[i]![1]) })
    }
  })
})

describe('authx token decode', () => {
  it('shows header and claims, says they are not verified, and needs no key', async () => {
    const token = await new AuthX({ secretKey: SECRET }).createAccessToken({ uid: 'u1', expiry: '15m' })
    const stdout = await ok(['token', 'decode', token])
    const [first] = stdout.split('\n')
    expect(first).toMatch(/^NOT VERIFIED/)
    expect(stdout).toContain('"alg": "HS256"')
    expect(stdout).toContain('"sub": "u1"')
    expect(stdout).toMatch(/Expires at: \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.000Z \(expires in 1[45] minutes\)/)
    expect(stdout).toMatch(/Issued at: {2}\d{4}-.*Z \(\d+ seconds? ago\)/)
  })

  it('says how long ago an expired token expired; --json gives dates and expired: true', async () => {
    const past = new AuthX({ secretKey: SECRET, clock: () => Date.now() - 5 * 3600_000 })
    const token = await past.createAccessToken({ uid: 'u1', expiry: '1h' })
    expect(await ok(['token', 'decode', token])).toMatch(/\(expired 4 hours ago\)/)
    const json = JSON.parse(await ok(['token', 'decode', token, '--json']))
    const { payload } = past.decodeUnverified(token)
    expect(json).toEqual({
      verified: false,
      header: { alg: 'HS256', typ: 'JWT' },
      payload,
      issuedAt: new Date((payload.iat as number) * 1000).toISOString(),
      notBefore: new Date((payload.nbf as number) * 1000).toISOString(),
      expiresAt: new Date((payload.exp as number) * 1000).toISOString(),
      expired: true,
    })
  })

  it('a token without exp: "never"; reads the token from stdin with -', async () => {
    const auth = new AuthX({ secretKey: SECRET, accessTokenExpires: false })
    const token = await auth.createAccessToken({ uid: 'u1' })
    expect(await ok(['token', 'decode', '-'], { input: `${token}\n` })).toMatch(/Expires: {4}never/)
    expect(JSON.parse(await ok(['token', 'decode', '-', '--json'], { input: token }))).toMatchObject({
      expiresAt: null,
      expired: false,
    })
  })

  it('a token it cannot parse is exit 1 (ERR_INVALID_TOKEN), and an empty stdin a usage error', async () => {
    expect(failure(await authx(['token', 'decode', 'not.a.token']))).toEqual({
      code: 1,
      line: expect.stringMatching(/^ERR_INVALID_TOKEN: /),
    })
    const json = await authx(['token', 'decode', 'abc', '--json'])
    expect(JSON.parse(json.stderr)).toEqual({
      code: 'ERR_INVALID_TOKEN',
      message: expect.any(String),
      reason: 'malformed',
    })
    expect(failure(await authx(['token', 'decode', '-'], { input: '  \n' })).code).toBe(2)
  })
})

describe('authx token verify', () => {
  it('valid: exit 0 and the claims on stdout (as JSON with --json); stdin with -', async () => {
    const token = await new AuthX({ secretKey: SECRET }).createAccessToken({ uid: 'u1', scopes: ['a'] })
    const claims = JSON.parse(await ok(['token', 'verify', token], { env: ENV }))
    expect(claims).toMatchObject({ sub: 'u1', scopes: ['a'], type: 'access' })
    expect(
      JSON.parse(await ok(['token', 'verify', '-', '--json'], { env: ENV, input: `${token}\n` })),
    ).toEqual(claims)
  })

  it('invalid: exit 1, one stderr line that starts with the code, nothing on stdout, never the token', async () => {
    const auth = new AuthX({ secretKey: SECRET, issuer: 'iss-a', audience: 'aud-a' })
    const expired = await new AuthX({
      secretKey: SECRET,
      clock: () => Date.now() - 3600_000,
    }).createAccessToken({
      uid: 'u1',
      expiry: '10m',
    })
    const refresh = await new AuthX({ secretKey: SECRET }).createRefreshToken({ uid: 'u1' })
    const withAud = await auth.createAccessToken({ uid: 'u1' })
    const other = await new AuthX({ secretKey: `${SECRET}-other` }).createAccessToken({ uid: 'u1' })
    const cases: [string[], string, RegExp][] = [
      [[expired], 'ERR_TOKEN_EXPIRED', /^ERR_TOKEN_EXPIRED: /],
      [[refresh], 'ERR_WRONG_TOKEN_TYPE', /^ERR_WRONG_TOKEN_TYPE: /],
      [[other], 'ERR_INVALID_TOKEN', /^ERR_INVALID_TOKEN: /],
      [[withAud], 'ERR_INVALID_TOKEN', /^ERR_INVALID_TOKEN: /],
      [[withAud, '--aud', 'aud-a', '--iss', 'iss-b'], 'ERR_INVALID_TOKEN', /^ERR_INVALID_TOKEN: /],
      [[`${refresh.slice(0, -2)}AA`, '--type', 'refresh'], 'ERR_INVALID_TOKEN', /^ERR_INVALID_TOKEN: /],
    ]
    const results = await Promise.all(
      cases.map(([args]) => authx(['token', 'verify', ...args], { env: ENV })),
    )
    for (const [i, result] of results.entries()) {
      const [args, , line] = cases[i]!
      expect(result.stdout).toBe('')
      expect(failure(result)).toEqual({ code: 1, line: expect.stringMatching(line) })
      expect(result.stderr).not.toContain(args[0]!)
      expect(result.stderr).not.toContain(SECRET)
    }
    const json = await authx(['token', 'verify', expired, '--json'], { env: ENV })
    expect(JSON.parse(json.stderr)).toEqual({
      code: 'ERR_TOKEN_EXPIRED',
      message: expect.any(String),
      reason: 'expired',
    })
  })

  it('--type refresh, --iss and --aud set what is expected', async () => {
    const refresh = await new AuthX({ secretKey: SECRET }).createRefreshToken({ uid: 'u1' })
    expect(JSON.parse(await ok(['token', 'verify', refresh, '--type', 'refresh'], { env: ENV })).type).toBe(
      'refresh',
    )
    const token = await new AuthX({
      secretKey: SECRET,
      issuer: 'iss-a',
      audience: ['aud-a'],
    }).createAccessToken({ uid: 'u1' })
    expect(
      JSON.parse(await ok(['token', 'verify', token, '--aud', 'aud-b,aud-a', '--iss', 'iss-a'], { env: ENV }))
        .sub,
    ).toBe('u1')
    // From the environment too, as AuthX.fromEnv reads it.
    expect(
      JSON.parse(
        await ok(['token', 'verify', token], {
          env: { ...ENV, JWT_DECODE_AUDIENCE: 'aud-a', JWT_DECODE_ISSUER: 'iss-a' },
        }),
      ).sub,
    ).toBe('u1')
  })
})

describe('authx token create and verify: --token-types', () => {
  /** The protected header of a compact JWS, decoded. */
  const headerOf = (token: string) =>
    JSON.parse(Buffer.from(token.split('.')[0]!, 'base64url').toString()) as Record<string, unknown>

  it('create writes typ at+jwt or refresh+jwt, from the option or JWT_TOKEN_TYPES; jwt (the default) writes JWT', async () => {
    const access = (
      await ok(['token', 'create', '--sub', 'u1', '--token-types', 'explicit'], { env: ENV })
    ).trim()
    const refresh = (
      await ok(['token', 'create', '--sub', 'u1', '--type', 'refresh'], {
        env: { ...ENV, JWT_TOKEN_TYPES: 'explicit' },
      })
    ).trim()
    const plain = (await ok(['token', 'create', '--sub', 'u1'], { env: ENV })).trim()
    expect(headerOf(access).typ).toBe('at+jwt')
    expect(headerOf(refresh).typ).toBe('refresh+jwt')
    expect(headerOf(plain).typ).toBe('JWT')
    // An instance in the explicit mode takes them; one in the default mode still takes both kinds.
    const explicit = new AuthX({ secretKey: SECRET, tokenTypes: 'explicit' })
    expect((await explicit.verifyToken(access)).sub).toBe('u1')
    expect((await explicit.verifyToken(refresh, { type: 'refresh' })).sub).toBe('u1')
    expect((await new AuthX({ secretKey: SECRET }).verifyToken(access)).sub).toBe('u1')
  })

  it('verify --token-types explicit refuses a token without its typ (exit 1) and takes one with it', async () => {
    const plain = await new AuthX({ secretKey: SECRET }).createAccessToken({ uid: 'u1' })
    const typed = await new AuthX({ secretKey: SECRET, tokenTypes: 'explicit' }).createAccessToken({
      uid: 'u1',
    })
    const refused = await authx(['token', 'verify', plain, '--token-types', 'explicit'], { env: ENV })
    expect(refused.stdout).toBe('')
    expect(failure(refused)).toEqual({ code: 1, line: expect.stringMatching(/^ERR_INVALID_TOKEN: /) })
    const fromEnv = await authx(['token', 'verify', plain, '--json'], {
      env: { ...ENV, JWT_TOKEN_TYPES: 'Explicit' },
    })
    expect(JSON.parse(fromEnv.stderr)).toMatchObject({ code: 'ERR_INVALID_TOKEN', reason: 'typ' })
    expect(
      JSON.parse(await ok(['token', 'verify', typed, '--token-types', 'explicit'], { env: ENV })).sub,
    ).toBe('u1')
    // The option wins over the environment.
    expect(
      JSON.parse(
        await ok(['token', 'verify', plain, '--token-types', 'jwt'], {
          env: { ...ENV, JWT_TOKEN_TYPES: 'explicit' },
        }),
      ).sub,
    ).toBe('u1')
  })

  it('verify --token-types rfc9068 takes an RFC 9068 access token of another issuer, with --iss and --aud', async () => {
    const dir = await folder()
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' })
    const keyFile = join(dir, 'issuer.pub.pem')
    await writeFile(keyFile, publicKey.export({ type: 'spki', format: 'pem' }))
    const now = Math.floor(Date.now() / 1000)
    const { SignJWT } = await import('jose')
    const token = await new SignJWT({ client_id: 'app', scope: 'read:items admin:users', jti: 'j1' })
      .setProtectedHeader({ alg: 'ES256', typ: 'at+jwt' })
      .setIssuer('https://as.example')
      .setAudience('https://api.example')
      .setSubject('u1')
      .setIssuedAt(now)
      .setExpirationTime(now + 300)
      .sign(privateKey)
    const args = ['token', 'verify', token, '--key-file', keyFile, '--token-types', 'rfc9068']
    const claims = JSON.parse(
      await ok([...args, '--iss', 'https://as.example', '--aud', 'https://api.example']),
    )
    expect(claims).toMatchObject({ sub: 'u1', client_id: 'app', scope: 'read:items admin:users' })
    // Without the issuer and audience the mode cannot be used (RFC 9068 section 4): exit 2.
    const missing = await authx(args)
    expect(failure(missing)).toEqual({ code: 2, line: expect.stringMatching(/^ERR_CONFIG: .*rfc9068/) })
  })

  it('an unknown mode is exit 2: ERR_USAGE for the option, ERR_CONFIG naming JWT_TOKEN_TYPES for the variable', async () => {
    const usage = await authx(['token', 'create', '--sub', 'u1', '--token-types', 'JWT-strict'], { env: ENV })
    expect(failure(usage)).toEqual({
      code: 2,
      line: expect.stringMatching(
        /^ERR_USAGE: token create: --token-types must be one of jwt, explicit, rfc9068/,
      ),
    })
    const config = await authx(['token', 'create', '--sub', 'u1'], {
      env: { ...ENV, JWT_TOKEN_TYPES: 'typed' },
    })
    expect(failure(config)).toEqual({
      code: 2,
      line: expect.stringMatching(/^ERR_CONFIG: JWT_TOKEN_TYPES: tokenTypes: /),
    })
    expect(config.stdout).toBe('')
  })
})

describe('authx dpop proof and thumbprint: a DPoP client for curl', () => {
  const ORIGIN = 'https://api.test'
  const SERVICE = 'a-service-secret-of-at-least-thirty-two-bytes'
  /** The claims and header of a compact JWS, decoded. */
  const partsOf = (jws: string) => {
    const [header, claims] = jws
      .split('.')
      .slice(0, 2)
      .map((p) => JSON.parse(Buffer.from(p, 'base64url').toString()))
    return { header: header as Record<string, unknown>, claims: claims as Record<string, unknown> }
  }
  const login = (proof: string) =>
    new Request(`${ORIGIN}/login`, { method: 'POST', headers: { dpop: proof } })
  const me = (token: string, proof: string, path = '/me') =>
    new Request(`${ORIGIN}${path}`, { headers: { authorization: `DPoP ${token}`, dpop: proof } })

  it('binds a login to the key and makes proofs a real DPoP instance accepts, once each', async () => {
    const dir = await folder()
    await ok(['keygen', '--alg', 'ES256', '--out', 'client.pem'], { cwd: dir })
    const jkt = (await ok(['dpop', 'thumbprint', '--key-file', 'client.pem'], { cwd: dir })).trim()
    const key = ['--key-file', 'client.pem']
    const loginProof = (
      await ok(['dpop', 'proof', ...key, '--htm', 'POST', '--htu', `${ORIGIN}/login`], { cwd: dir })
    ).trim()
    const { header, claims } = partsOf(loginProof)
    expect(header).toMatchObject({ typ: 'dpop+jwt', alg: 'ES256', jwk: { kty: 'EC', crv: 'P-256' } })
    expect(header.jwk).not.toHaveProperty('d')
    expect(claims).toEqual({
      htm: 'POST',
      htu: `${ORIGIN}/login`,
      jti: expect.any(String),
      iat: expect.any(Number),
    })

    const auth = new AuthX({ secretKey: SERVICE, dpop: { required: true } })
    expect(await auth.dpopThumbprint(login(loginProof))).toBe(jkt)
    const pair = await auth.createTokenPair({ uid: 'u1', jkt })

    // ath from --token (or stdin); the query and fragment are left out of htu.
    const proof = (
      await ok(
        ['dpop', 'proof', ...key, '--htm', 'GET', '--htu', `${ORIGIN}/me?page=2#top`, '--token', '-'],
        {
          cwd: dir,
          input: `${pair.accessToken}\n`,
        },
      )
    ).trim()
    expect(partsOf(proof).claims.htu).toBe(`${ORIGIN}/me`)
    expect((await auth.authenticate(me(pair.accessToken, proof, '/me?page=2')))?.jkt).toBe(jkt)
    // Single use, as every proof.
    await expect(auth.authenticate(me(pair.accessToken, proof, '/me?page=2'))).rejects.toMatchObject({
      code: 'ERR_INVALID_DPOP_PROOF',
      reason: 'replay',
    })
    // A proof without --token has no ath, which a header token requires.
    const noAth = (
      await ok(['dpop', 'proof', ...key, '--htm', 'GET', '--htu', `${ORIGIN}/me`], { cwd: dir })
    ).trim()
    await expect(auth.authenticate(me(pair.accessToken, noAth))).rejects.toMatchObject({ reason: 'ath' })
  })

  it('takes a private JWK (EdDSA here), --nonce and --json', async () => {
    const dir = await folder()
    await ok(['keygen', '--alg', 'EdDSA', '--format', 'jwk', '--out', 'client.jwk.json'], { cwd: dir })
    const key = ['--key-file', 'client.jwk.json']
    const { jkt } = JSON.parse(await ok(['dpop', 'thumbprint', ...key, '--json'], { cwd: dir }))
    const auth = new AuthX({ secretKey: SERVICE, dpop: { nonce: { secret: `${SERVICE}-nonce` } } })
    const args = ['dpop', 'proof', ...key, '--htm', 'POST', '--htu', `${ORIGIN}/login`, '--json']
    const first = JSON.parse(await ok(args, { cwd: dir })).proof as string
    const refused = await auth
      .dpopThumbprint(login(first))
      .catch((err: { code: string; nonce: string }) => err)
    expect(refused).toMatchObject({ code: 'ERR_USE_DPOP_NONCE' })
    const nonce = (refused as { nonce: string }).nonce
    const { proof } = JSON.parse(await ok([...args, '--nonce', nonce], { cwd: dir }))
    expect(partsOf(proof).header).toMatchObject({ alg: 'EdDSA', jwk: { kty: 'OKP', crv: 'Ed25519' } })
    expect(await auth.dpopThumbprint(login(proof))).toBe(jkt)
  })

  it('refuses what cannot make a proof: exit 2 with one line, never the key', async () => {
    const dir = await folder()
    await writeFile(join(dir, 'secret.txt'), SECRET)
    await ok(['keygen', '--alg', 'ES256', '--out', 'client.pem'], { cwd: dir })
    const publicPem = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({
      type: 'spki',
      format: 'pem',
    })
    await writeFile(join(dir, 'public.pem'), publicPem)
    const jwk = JSON.parse(await ok(['keygen', '--alg', 'ES256', '--format', 'jwk'], { cwd: dir }))
    await writeFile(join(dir, 'set.json'), JSON.stringify({ keys: [jwk] }))
    await writeFile(join(dir, 'broken.jwk.json'), JSON.stringify({ ...jwk, x: 'AAAA' }))
    const proof = ['dpop', 'proof', '--htm', 'GET', '--htu', `${ORIGIN}/me`]
    const cases: [string[], RegExp][] = [
      [
        [...proof, '--key-file', 'secret.txt'],
        /^ERR_CONFIG: --key-file secret\.txt: DPoP needs an asymmetric private key/,
      ],
      [[...proof, '--key-file', 'public.pem'], /^ERR_CONFIG: --key-file public\.pem: a public key/],
      [
        [...proof, '--key-file', 'set.json'],
        /^ERR_CONFIG: --key-file set\.json: one private key, not a JWK set/,
      ],
      [
        [...proof, '--key-file', 'broken.jwk.json'],
        /^ERR_CONFIG: --key-file broken\.jwk\.json: not a private key Node can read/,
      ],
      [
        [...proof, '--key-file', 'client.pem', '--alg', 'ES384'],
        /^ERR_CONFIG: --key-file client\.pem: cannot sign ES384/,
      ],
      [[...proof, '--key-file', 'client.pem', '--alg', 'HS256'], /^ERR_CONFIG: .*asymmetric/],
      [[...proof], /^ERR_USAGE: dpop proof: --key-file <file>/],
      [
        ['dpop', 'proof', '--key-file', 'client.pem', '--htu', `${ORIGIN}/me`],
        /^ERR_USAGE: dpop proof: --htm/,
      ],
      [
        ['dpop', 'proof', '--key-file', 'client.pem', '--htm', 'G ET', '--htu', `${ORIGIN}/me`],
        /^ERR_USAGE: dpop proof: --htm/,
      ],
      [['dpop', 'proof', '--key-file', 'client.pem', '--htm', 'GET'], /^ERR_USAGE: dpop proof: --htu/],
      [
        ['dpop', 'proof', '--key-file', 'client.pem', '--htm', 'GET', '--htu', 'ftp://api.test/me'],
        /^ERR_USAGE: dpop proof: --htu must be/,
      ],
      [[...proof, '--key-file', 'client.pem', '--token', ''], /^ERR_USAGE: dpop proof: --token is empty/],
      [['dpop', 'thumbprint'], /^ERR_USAGE: dpop thumbprint: --key-file/],
      [['dpop', 'thumbprint', '--key-file', 'secret.txt'], /^ERR_CONFIG: .*asymmetric/],
      [['dpop'], /^ERR_USAGE: dpop: give a command: proof or thumbprint/],
      [['dpop', 'sign'], /^ERR_USAGE: dpop: unknown command; expected proof or thumbprint/],
      [['constructor'], /^ERR_USAGE: unknown command 'constructor'; expected keygen, token, dpop or jwks/],
      [['token', 'constructor'], /^ERR_USAGE: token: unknown command/],
    ]
    const results = await Promise.all(cases.map(([args]) => authx(args, { cwd: dir })))
    for (const [i, result] of results.entries()) {
      expect(result.stdout, cases[i]![0].join(' ')).toBe('')
      expect(failure(result)).toEqual({ code: 2, line: expect.stringMatching(cases[i]![1]) })
      expect(result.stderr).not.toContain(SECRET)
      expect(result.stderr).not.toContain('PRIVATE KEY')
    }
  })

  it('--help for the group and each command', async () => {
    expect(await ok(['dpop', '--help'])).toContain('dpop proof')
    expect(await ok(['dpop', 'proof', '--help'])).toContain('--htu <url>')
    expect(await ok(['dpop', 'thumbprint', '--help'])).toContain('RFC 7638')
    expect(await ok(['--help'])).toContain('dpop thumbprint')
  })
})

describe('authx: keys from --key-file or the environment', () => {
  it('round trip for every key kind: keygen --out, token create and verify with the same file, verify with the public half', async () => {
    const dir = await folder()
    await Promise.all(
      ASYMMETRIC.flatMap((alg) =>
        (['pem', 'jwk'] as const).map(async (format) => {
          const key = join(dir, `${alg}.${format}`)
          const pub = join(dir, `${alg}.pub.${format}`)
          await writeFile(pub, await ok(['keygen', '--alg', alg, '--format', format, '--out', key]))
          // A PEM holds no algorithm: an RSA key is RS256 unless --alg says otherwise.
          const algOption = format === 'pem' && alg.startsWith('PS') ? ['--alg', alg] : []
          const token = (await ok(['token', 'create', '--sub', 'u1', '--key-file', key, ...algOption])).trim()
          expect(new AuthX({ secretKey: SECRET }).decodeUnverified(token).header.alg).toBe(alg)
          const [withKey, withPublic] = await Promise.all([
            ok(['token', 'verify', token, '--key-file', key, ...algOption]),
            ok(['token', 'verify', '-', '--key-file', pub, ...algOption], { input: token }),
          ])
          expect(JSON.parse(withKey).sub).toBe('u1')
          expect(JSON.parse(withPublic).sub).toBe('u1')
        }),
      ),
    )
  })

  it('a token from one key fails verification with another key of the same algorithm: exit 1, ERR_INVALID_TOKEN', async () => {
    const dir = await folder()
    const [a, b] = [join(dir, 'a.pem'), join(dir, 'b.pem')]
    await Promise.all([
      ok(['keygen', '--alg', 'ES256', '--out', a]),
      ok(['keygen', '--alg', 'ES256', '--out', b]),
    ])
    const token = (await ok(['token', 'create', '--sub', 'u1', '--key-file', a])).trim()
    const { code, line } = failure(await authx(['token', 'verify', token, '--key-file', b]))
    expect(code).toBe(1)
    // The kid (each key's thumbprint) already tells them apart.
    expect(line).toMatch(/^ERR_INVALID_TOKEN: /)
    const json = JSON.parse((await authx(['token', 'verify', token, '--key-file', b, '--json'])).stderr)
    expect(json).toMatchObject({ code: 'ERR_INVALID_TOKEN', reason: 'signature' })
  })

  it('an HMAC secret file (as keygen --out writes it) signs tokens that JWT_SECRET_KEY verifies, and the reverse', async () => {
    const dir = await folder()
    const file = join(dir, 'secret')
    await ok(['keygen', '--alg', 'HS384', '--out', file])
    const secret = (await readFile(file, 'utf8')).trim()
    const env = { JWT_SECRET_KEY: secret, JWT_ALGORITHM: 'HS384' }
    const fromFile = (
      await ok(['token', 'create', '--sub', 'u1', '--key-file', file, '--alg', 'HS384'])
    ).trim()
    expect(JSON.parse(await ok(['token', 'verify', fromFile], { env })).sub).toBe('u1')
    const fromEnv = (await ok(['token', 'create', '--sub', 'u2'], { env })).trim()
    expect(JSON.parse(await ok(['token', 'verify', fromEnv, '--key-file', file, '--alg', 'HS384'])).sub).toBe(
      'u2',
    )
    // Without --alg the file is HS256, so the HS384 token is refused (its alg is not allowed).
    expect(failure(await authx(['token', 'verify', fromEnv, '--key-file', file])).code).toBe(1)
  })

  it('a JWK set file: signs with its first private key, verifies by kid; an oct JWK from keygen works', async () => {
    const dir = await folder()
    const one = JSON.parse(await ok(['keygen', '--alg', 'ES384', '--format', 'jwk', '--kid', 'one']))
    const two = JSON.parse(await ok(['keygen', '--alg', 'EdDSA', '--format', 'jwk', '--kid', 'two']))
    const set = join(dir, 'set.json')
    await writeFile(set, JSON.stringify({ keys: [two, one] }))
    const token = (await ok(['token', 'create', '--sub', 'u1', '--key-file', set])).trim()
    expect(new AuthX({ secretKey: SECRET }).decodeUnverified(token).header).toMatchObject({
      alg: 'EdDSA',
      kid: 'two',
    })
    expect(JSON.parse(await ok(['token', 'verify', token, '--key-file', set])).sub).toBe('u1')

    const oct = join(dir, 'oct.json')
    await ok(['keygen', '--alg', 'HS512', '--format', 'jwk', '--out', oct])
    const hs = (await ok(['token', 'create', '--sub', 'u1', '--key-file', oct])).trim()
    expect(new AuthX({ secretKey: SECRET }).decodeUnverified(hs).header.alg).toBe('HS512')
    expect(JSON.parse(await ok(['token', 'verify', hs, '--key-file', oct])).sub).toBe('u1')
  })

  it('JWT_PRIVATE_KEY / JWT_PUBLIC_KEY (with \\n escapes) with or without JWT_ALGORITHM', async () => {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-384' })
    const priv = (privateKey.export({ type: 'pkcs8', format: 'pem' }) as string).replaceAll('\n', '\\n')
    const pub = publicKey.export({ type: 'spki', format: 'pem' }) as string
    const token = (await ok(['token', 'create', '--sub', 'u1'], { env: { JWT_PRIVATE_KEY: priv } })).trim()
    expect(new AuthX({ secretKey: SECRET }).decodeUnverified(token).header.alg).toBe('ES384')
    expect(
      JSON.parse(
        await ok(['token', 'verify', token], { env: { JWT_PUBLIC_KEY: pub, JWT_ALGORITHM: 'ES384' } }),
      ).sub,
    ).toBe('u1')
  })

  it('--key-file replaces the key variables of the environment', async () => {
    const dir = await folder()
    const key = join(dir, 'k.pem')
    await ok(['keygen', '--alg', 'EdDSA', '--out', key])
    const env = { JWT_SECRET_KEY: SECRET, JWT_ALGORITHM: 'HS256' }
    const token = (await ok(['token', 'create', '--sub', 'u1', '--key-file', key], { env })).trim()
    expect(JSON.parse(await ok(['token', 'verify', token, '--key-file', key], { env })).sub).toBe('u1')
  })

  it('no key, an unreadable file, or a key new AuthX refuses: exit 2, one line naming it, never the secret', async () => {
    const dir = await folder()
    const short = join(dir, 'short')
    const shortSecret = 'sixteen-byte-key'
    await writeFile(short, `${shortSecret}\n`)
    const rsa = join(dir, 'rsa.pem')
    await ok(['keygen', '--alg', 'RS256', '--out', rsa])
    const weak = join(dir, 'weak.pem')
    await writeFile(
      weak,
      generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey.export({
        type: 'pkcs8',
        format: 'pem',
      }) as string,
    )
    const badJson = join(dir, 'bad.json')
    await writeFile(badJson, `{"kty":"oct","k":"${SECRET}"`)
    const notJwk = join(dir, 'notjwk.json')
    await writeFile(notJwk, '{"hello":"world"}')
    const garbledPem = join(dir, 'garbled.pem')
    await writeFile(garbledPem, '-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n')
    const cases: [string[], Record<string, string>, RegExp][] = [
      [[], {}, /^ERR_CONFIG: no key: pass --key-file/],
      [
        ['--key-file', join(dir, 'missing')],
        {},
        /^ERR_CONFIG: --key-file .*missing: cannot be read \(ENOENT\)/,
      ],
      [['--key-file', short], {}, /^ERR_CONFIG: --key-file .*short: secretKey: /],
      [['--key-file', rsa, '--alg', 'ES256'], {}, /^ERR_CONFIG: --key-file .*rsa.pem: privateKey: /],
      [['--key-file', weak], {}, /^ERR_CONFIG: --key-file .*weak.pem: privateKey: .*2048/],
      [['--key-file', badJson], {}, /^ERR_CONFIG: --key-file .*bad.json: not valid JSON$/],
      [['--key-file', notJwk], {}, /^ERR_CONFIG: --key-file .*notjwk.json: not a JWK or a JWK set$/],
      [['--key-file', garbledPem], {}, /^ERR_CONFIG: --key-file .*garbled.pem: not a PEM key/],
      [[], { JWT_SECRET_KEY: shortSecret }, /^ERR_CONFIG: JWT_SECRET_KEY: /],
      [[], { JWT_SECRET_KEY: SECRET, JWT_ALGORITHM: 'RS256' }, /^ERR_CONFIG: JWT_/],
      [['--alg', 'nope'], ENV, /^ERR_USAGE: --alg: expected one of HS256/],
    ]
    const results = await Promise.all(
      cases.flatMap(([args, env]) => [
        authx(['token', 'create', '--sub', 'u1', ...args], { env }),
        authx(['jwks', ...args], { env }),
      ]),
    )
    for (const [i, result] of results.entries()) {
      const [args, env, line] = cases[Math.floor(i / 2)]!
      expect(failure(result), `${args.join(' ')} ${JSON.stringify(env)}`).toEqual({
        code: 2,
        line: expect.stringMatching(line),
      })
      expect(result.stdout).toBe('')
      expect(result.stderr).not.toContain(shortSecret)
      expect(result.stderr).not.toContain(SECRET)
    }
  })
})

describe('authx jwks', () => {
  it('the public JWK set of a private key file, PEM or JWK: kid, alg, use, and no private member', async () => {
    const dir = await folder()
    const pem = join(dir, 'k.pem')
    const jwkFile = join(dir, 'k.json')
    await Promise.all([
      ok(['keygen', '--alg', 'RS256', '--out', pem]),
      ok(['keygen', '--alg', 'ES256', '--format', 'jwk', '--kid', 'e1', '--out', jwkFile]),
    ])
    const fromPem = JSON.parse(await ok(['jwks', '--key-file', pem]))
    expect(fromPem.keys).toHaveLength(1)
    expect(fromPem.keys[0]).toMatchObject({ kty: 'RSA', alg: 'RS256', use: 'sig', kid: expect.any(String) })
    const saved = JSON.parse(await readFile(jwkFile, 'utf8'))
    const fromJwk = JSON.parse(await ok(['jwks', '--key-file', jwkFile, '--json']))
    expect(fromJwk).toEqual({
      keys: [{ kty: 'EC', crv: 'P-256', x: saved.x, y: saved.y, kid: 'e1', alg: 'ES256', use: 'sig' }],
    })
    for (const set of [fromPem, fromJwk]) {
      for (const member of ['d', 'p', 'q', 'dp', 'dq', 'qi', 'k'])
        expect(set.keys[0]).not.toHaveProperty(member)
    }
    expect(JSON.stringify(fromJwk)).not.toContain(saved.d)
  })

  it('an HMAC secret publishes nothing: an empty set, and the secret appears nowhere', async () => {
    const result = await authx(['jwks'], { env: ENV })
    expect(result.code).toBe(0)
    expect(JSON.parse(result.stdout)).toEqual({ keys: [] })
    expect(result.stderr).toMatch(/^note: HMAC secrets are never published/)
    expect(result.stdout + result.stderr).not.toContain(SECRET)
    const json = await authx(['jwks', '--json'], { env: ENV })
    expect(json).toEqual({ code: 0, stdout: '{"keys":[]}\n', stderr: '' })
  })

  it('a JWK set of private keys gives the public set, which itself verifies tokens', async () => {
    const dir = await folder()
    const keys = await Promise.all(
      ['ES512', 'PS256'].map(async (alg) =>
        JSON.parse(await ok(['keygen', '--alg', alg, '--format', 'jwk'])),
      ),
    )
    const set = join(dir, 'private-set.json')
    await writeFile(set, JSON.stringify({ keys }))
    const published = join(dir, 'jwks.json')
    await writeFile(published, await ok(['jwks', '--key-file', set]))
    const text = await readFile(published, 'utf8')
    for (const key of keys) expect(text).not.toContain(key.d)
    const token = (await ok(['token', 'create', '--sub', 'u1', '--key-file', set])).trim()
    expect(JSON.parse(await ok(['token', 'verify', token, '--key-file', published])).sub).toBe('u1')
  })
})

describe('the built program', () => {
  it('dist/cli.js starts with the node shebang, is executable, and runs as a program', async () => {
    expect((await readFile(cli, 'utf8')).split('\n')[0]).toBe('#!/usr/bin/env node')
    expect((await stat(cli)).mode & 0o111).toBe(0o111)
    const dir = await folder()
    const bin = join(dir, 'authx')
    await symlink(cli, bin)
    const result = await runProcess(bin, ['--version'], {
      env: { PATH: `${resolve(process.execPath, '..')}:${process.env.PATH ?? ''}` },
    })
    expect(result).toEqual({ code: 0, stdout: `${pkg.version}\n`, stderr: '' })
  })

  it('package.json installs it as the authx command', () => {
    expect(pkg.bin).toEqual({ authx: './dist/cli.js' })
    expect(programs.cli).toBe('src/cli/main.ts')
  })
})

describe('the guide: every sh block of docs/command-line.md runs', () => {
  const guide = 'docs/command-line.md'

  /**
   * The blocks run in order in one shell script, in an empty folder, with `npx authx` being this
   * build. Every command must exit 0, except a line that ends in `# exit N`, which must exit N.
   * A failure names the line of the guide.
   */
  it('with the exit codes it states', async () => {
    const markdown = await readFile(join(root, guide), 'utf8')
    const blocks = codeBlocks(markdown).filter((b) => b.lang === 'sh')
    expect(blocks.length).toBeGreaterThan(4)
    const script = [
      'set -eEuo pipefail',
      `npx() { if [ "$1" = authx ]; then shift; "${process.execPath}" "${cli}" "$@"; else command npx "$@"; fi; }`,
    ]
    script.push(`trap 'echo "${guide}:$DOC_LINE failed" >&2' ERR`)
    for (const block of blocks) {
      block.code
        .split('\n')
        .filter((line) => line.trim() !== '')
        .forEach((line, i) => {
          const where = block.line + 1 + i
          script.push(`DOC_LINE=${where}`)
          const expected = /#\s*exit (\d)\s*$/.exec(line)
          if (expected === null) script.push(line)
          else {
            // In an `if` condition a failure neither stops the script nor fires the ERR trap.
            script.push(`if ${line.replace(/#.*$/, '')}; then rc=0; else rc=$?; fi`)
            script.push(
              `[ "$rc" -eq ${expected[1]} ] || { echo "${guide}:${where} exited $rc, not ${expected[1]}" >&2; exit 99; }`,
            )
          }
        })
    }
    const dir = await folder()
    const result = await runProcess('bash', ['--norc', '--noprofile', '-c', script.join('\n')], { cwd: dir })
    expect(result.stderr.match(/^docs\/command-line\.md:\d+.*$/m)?.[0] ?? '', result.stderr).toBe('')
    expect(result.code).toBe(0)
    // What the guide promises its reader ends up on disk.
    expect((await stat(join(dir, 'private.pem'))).mode & 0o777).toBe(0o600)
    expect(JSON.parse(await readFile(join(dir, 'jwks.json'), 'utf8')).keys).toHaveLength(1)
  })

  it('documents every command and option the program accepts', async () => {
    const markdown = await readFile(join(root, guide), 'utf8')
    for (const word of [
      'keygen',
      'token create',
      'token decode',
      'token verify',
      'dpop proof',
      'dpop thumbprint',
      'jwks',
    ]) {
      expect(markdown).toContain(`authx ${word}`)
    }
    const options = [
      '--alg',
      '--kid',
      '--format',
      '--out',
      '--key-file',
      '--sub',
      '--type',
      '--fresh',
      '--scopes',
      '--data',
      '--expires',
      '--iss',
      '--aud',
      '--token-types',
      '--htm',
      '--htu',
      '--token',
      '--nonce',
      '--json',
      '--help',
      '--version',
    ]
    for (const option of options) expect(markdown).toContain(option)
  })
})
