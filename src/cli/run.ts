/**
 * The `authx` command line (docs/command-line.md): finds the command, parses its
 * options strictly, runs it, and turns any error into one line on stderr and an exit code.
 * @module
 */
import type { AuthXOptions } from 'authx'
import { list, type OptionSpec, type Parsed, parse, text, tokenArgument } from './args.js'
import { dpopProof, dpopThumbprint } from './dpop.js'
import { HELP } from './help.js'
import { algorithmOption, createInstance } from './instance.js'
import { EXIT, failureOf, type Io, print, report, UsageError } from './io.js'
import { jwks } from './jwks.js'
import { keygen } from './keygen.js'
import { tokenCreate } from './token-create.js'
import { tokenDecode } from './token-decode.js'
import { tokenVerify } from './token-verify.js'

const KEY: OptionSpec = { 'key-file': { type: 'string' }, alg: { type: 'string' } }
const CLAIMS: OptionSpec = {
  iss: { type: 'string' },
  aud: { type: 'string' },
  'token-types': { type: 'string' },
}

/** Each command: its options, how many arguments it takes, and what it does. */
const COMMANDS: Record<
  string,
  { options: OptionSpec; positionals: number; run: (io: Io, p: Parsed) => Promise<void> }
> = {
  keygen: {
    options: {
      alg: { type: 'string' },
      kid: { type: 'string' },
      format: { type: 'string' },
      out: { type: 'string' },
    },
    positionals: 0,
    run: (io, { values }) =>
      keygen(io, {
        alg:
          algorithmOption(text(values, 'alg'), '--alg') ??
          algorithmOption(io.env.JWT_ALGORITHM || undefined, 'JWT_ALGORITHM') ??
          'HS256',
        kid: text(values, 'kid'),
        format: choice(values, 'format', ['pem', 'jwk'], 'keygen') ?? 'pem',
        out: text(values, 'out'),
        json: values.json === true,
      }),
  },
  'token create': {
    options: {
      ...KEY,
      ...CLAIMS,
      sub: { type: 'string' },
      type: { type: 'string' },
      fresh: { type: 'boolean' },
      scopes: { type: 'string' },
      data: { type: 'string' },
      expires: { type: 'string' },
    },
    positionals: 0,
    run: async (io, { values }) => {
      const sub = text(values, 'sub')
      if (sub === undefined || sub === '') throw new UsageError('token create: --sub <uid> is required')
      const auth = await instance(io, values, claimOptions(values, false))
      await tokenCreate(io, auth, {
        sub,
        type: choice(values, 'type', ['access', 'refresh'], 'token create') ?? 'access',
        fresh: values.fresh === true,
        scopes: list(values, 'scopes'),
        data: text(values, 'data'),
        expires: text(values, 'expires'),
        json: values.json === true,
      })
    },
  },
  'token decode': {
    options: {},
    positionals: 1,
    run: async (io, { values, positionals }) =>
      tokenDecode(io, await tokenArgument(io.readStdin, positionals, 'token decode'), {
        json: values.json === true,
        now: Date.now(),
      }),
  },
  'token verify': {
    options: { ...KEY, ...CLAIMS, type: { type: 'string' } },
    positionals: 1,
    run: async (io, { values, positionals }) => {
      const type = choice(values, 'type', ['access', 'refresh'], 'token verify') ?? 'access'
      const token = await tokenArgument(io.readStdin, positionals, 'token verify')
      const auth = await instance(io, values, claimOptions(values, true))
      await tokenVerify(io, auth, token, { type, json: values.json === true })
    },
  },
  'dpop proof': {
    options: {
      ...KEY,
      htm: { type: 'string' },
      htu: { type: 'string' },
      token: { type: 'string' },
      nonce: { type: 'string' },
    },
    positionals: 0,
    run: (io, { values }) =>
      dpopProof(io, {
        keyFile: text(values, 'key-file'),
        alg: algorithmOption(text(values, 'alg'), '--alg'),
        htm: text(values, 'htm'),
        htu: text(values, 'htu'),
        token: text(values, 'token'),
        nonce: text(values, 'nonce'),
        json: values.json === true,
      }),
  },
  'dpop thumbprint': {
    options: { 'key-file': { type: 'string' } },
    positionals: 0,
    run: (io, { values }) =>
      dpopThumbprint(io, { keyFile: text(values, 'key-file'), json: values.json === true }),
  },
  jwks: {
    options: KEY,
    positionals: 0,
    run: async (io, { values }) => jwks(io, await instance(io, values, {}), { json: values.json === true }),
  },
}

/**
 * Runs one command line and resolves with its exit code; never rejects.
 *
 * @example
 * ```ts
 * process.exitCode = await run(process.argv.slice(2), io)
 * ```
 */
export async function run(argv: string[], io: Io): Promise<number> {
  let json = argv.includes('--json')
  try {
    const [first, second] = argv
    const name =
      (first === 'token' || first === 'dpop') && second !== undefined && !second.startsWith('-')
        ? `${first} ${second}`
        : first
    const command = name !== undefined && Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined
    // An unknown command of a group (`authx token sign`) is the group's to report.
    if (command === undefined || name === undefined) return top(io, argv, first)
    const args = argv.slice(name.split(' ').length)
    const parsed = parse(args, command.options, name, command.positionals)
    json = parsed.values.json === true
    if (parsed.values.help === true) {
      io.out(`${HELP[name]}\n`)
      return EXIT.ok
    }
    await command.run(io, parsed)
    return EXIT.ok
  } catch (error) {
    const failure = failureOf(error)
    report(io, json, failure)
    return failure.exit
  }
}

/** The commands of each group (`authx token create`, ...), as their help and errors list them. */
const GROUPS: Record<string, string> = { token: 'create, decode or verify', dpop: 'proof or thumbprint' }

/** `authx`, `authx --help`, `authx --version`, `authx token`, or an unknown command. */
function top(io: Io, argv: string[], name: string | undefined): number {
  const group = name !== undefined && Object.hasOwn(GROUPS, name) ? GROUPS[name] : undefined
  if (name !== undefined && group !== undefined) {
    const { values, positionals } = parse(argv.slice(1), {}, name, 1)
    if (values.help === true) {
      io.out(`${HELP[name]}\n`)
      return EXIT.ok
    }
    // Only a known word is repeated: the argument could be a token.
    throw new UsageError(
      positionals.length === 0
        ? `${name}: give a command: ${group}`
        : `${name}: unknown command; expected ${group}`,
    )
  }
  if (name !== undefined && !name.startsWith('-')) {
    throw new UsageError(
      `unknown command${/^[a-z][a-z-]{0,20}$/.test(name) ? ` '${name}'` : ''}; expected keygen, token, dpop or jwks (see authx --help)`,
    )
  }
  const { values } = parse(argv, { version: { type: 'boolean' } }, 'authx', 0)
  if (values.version === true) {
    print(io, values.json === true, io.version, { version: io.version })
    return EXIT.ok
  }
  if (values.help === true) {
    io.out(`${HELP.authx}\n`)
    return EXIT.ok
  }
  throw new UsageError('give a command: keygen, token, dpop or jwks (see authx --help)')
}

/** The value of an option that takes one of a few words. */
function choice<T extends string>(
  values: Parsed['values'],
  name: string,
  allowed: readonly T[],
  command: string,
): T | undefined {
  const value = text(values, name)
  if (value === undefined) return undefined
  const found = allowed.find((a) => a === value)
  if (found === undefined) throw new UsageError(`${command}: --${name} must be one of ${allowed.join(', ')}`)
  return found
}

/**
 * `--iss` and `--aud`: what a token gets (`create`) or what verification expects (`verify`);
 * `--token-types`: the `typ` headers written or required (docs/token-types.md).
 */
function claimOptions(values: Parsed['values'], verify: boolean): AuthXOptions {
  const command = verify ? 'token verify' : 'token create'
  const iss = text(values, 'iss')
  const aud = list(values, 'aud')
  const audience = aud === undefined ? undefined : aud.length === 1 ? aud[0] : aud
  const tokenTypes = choice(values, 'token-types', ['jwt', 'explicit', 'rfc9068'], command)
  const claims = {
    ...(iss === undefined ? {} : { issuer: iss }),
    ...(audience === undefined ? {} : { audience }),
  }
  const types = tokenTypes === undefined ? {} : { tokenTypes }
  if (!verify) return { ...claims, ...types }
  return Object.keys(claims).length > 0 ? { verify: claims, ...types } : types
}

function instance(io: Io, values: Parsed['values'], overrides: AuthXOptions) {
  return createInstance(io.env, {
    keyFile: text(values, 'key-file'),
    alg: algorithmOption(text(values, 'alg'), '--alg'),
    overrides,
  })
}
