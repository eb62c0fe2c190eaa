/**
 * Command-line options through `node:util` `parseArgs` in strict mode: an unknown option, a
 * missing value or a stray argument is a usage error, never silently ignored (a typo such as
 * `--exipres` must not mint a token with the default lifetime).
 * @module
 */
import { parseArgs } from 'node:util'
import { UsageError } from './io.js'

/** The options one command accepts: `--name` and whether it takes a value. */
export type OptionSpec = Record<string, { type: 'string' | 'boolean'; short?: string }>

/** Options every command accepts. */
export const COMMON: OptionSpec = {
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
}

/** What a command line holds once parsed. */
export interface Parsed {
  values: Record<string, string | boolean | undefined>
  positionals: string[]
}

/** An option name safe to repeat in a message: it is a flag, not a value that could be a token. */
const FLAG = /^--?[A-Za-z][A-Za-z0-9-]{0,40}$/

/**
 * Parses `args` against `options` (plus {@link COMMON}), allowing at most `maxPositionals`
 * arguments. Errors are `UsageError`s whose message names the command and never repeats what
 * the user typed unless it is an option name.
 *
 * @example
 * ```ts
 * const { values } = parse(['--alg', 'ES256'], { alg: { type: 'string' } }, 'keygen', 0)
 * ```
 */
export function parse(args: string[], options: OptionSpec, command: string, maxPositionals: number): Parsed {
  let parsed: Parsed
  try {
    parsed = parseArgs({
      args,
      options: { ...COMMON, ...options },
      strict: true,
      allowPositionals: maxPositionals > 0,
    }) as Parsed
  } catch (error) {
    throw new UsageError(
      `${command}: ${describeParseError(error, maxPositionals)} (see authx ${command} --help)`,
    )
  }
  if (parsed.positionals.length > maxPositionals) {
    throw new UsageError(`${command}: too many arguments (see authx ${command} --help)`)
  }
  return parsed
}

function describeParseError(error: unknown, maxPositionals: number): string {
  const code = (error as { code?: unknown }).code
  const message = error instanceof Error ? error.message : ''
  // Node quotes the option in its message: keep it only when it looks like a flag.
  const quoted = /'([^']*)'/
    .exec(message)?.[1]
    ?.split(/[ <=,]/)
    .find((part) => FLAG.test(part))
  const option = quoted ?? 'an option'
  switch (code) {
    case 'ERR_PARSE_ARGS_UNKNOWN_OPTION':
      return `unknown option ${option}`
    case 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL':
      return maxPositionals === 0 ? 'takes no arguments' : 'too many arguments'
    case 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE':
      if (message.includes('argument missing')) return `${option} needs a value`
      if (message.includes('does not take an argument')) return `${option} takes no value`
      if (message.includes('ambiguous'))
        return `${option} needs a value (write ${option}=<value> for one starting with '-')`
      return `bad value for ${option}`
    default:
      return 'could not read the options'
  }
}

/**
 * A string option's value, `undefined` when absent.
 *
 * @example
 * ```ts
 * const sub = text(values, 'sub')
 * ```
 */
export function text(values: Parsed['values'], name: string): string | undefined {
  const value = values[name]
  return typeof value === 'string' ? value : undefined
}

/**
 * A comma-separated option as a list (`--scopes a,b`), blanks dropped; `undefined` when absent.
 *
 * @example
 * ```ts
 * list(values, 'scopes') // ['a', 'b']
 * ```
 */
export function list(values: Parsed['values'], name: string): string[] | undefined {
  const value = text(values, name)
  return value === undefined
    ? undefined
    : value
        .split(',')
        .map((s) => s.trim())
        .filter((s) => s !== '')
}

/**
 * The token a command reads: its argument, or stdin for `-` (surrounding whitespace removed, so
 * `echo $TOKEN | authx token verify -` works).
 *
 * @example
 * ```ts
 * const token = await tokenArgument(io, positionals, 'token verify')
 * ```
 */
export async function tokenArgument(
  readStdin: () => Promise<string>,
  positionals: string[],
  command: string,
): Promise<string> {
  const given = positionals[0]
  if (given === undefined) throw new UsageError(`${command}: give the token, or - to read it from stdin`)
  const token = given === '-' ? (await readStdin()).trim() : given
  if (token === '') throw new UsageError(`${command}: the token is empty`)
  return token
}
