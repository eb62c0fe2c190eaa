/**
 * What a command reads and writes, and how it reports: stdout for results, one line on stderr
 * for an error, `--json` for both. Commands get an {@link Io} instead of `process`, so the text
 * they print is built in one place.
 * @module
 */
import { AuthXError, ConfigError } from 'authx'

/** Where a command reads its input and writes its output. */
export interface Io {
  /** Writes text to stdout as is. */
  out(text: string): void
  /** Writes text to stderr as is. */
  err(text: string): void
  /** The whole of stdin, as text. */
  readStdin(): Promise<string>
  /** The environment `JWT_*` settings come from. */
  env: Record<string, string | undefined>
  /** The package's version, for `--version`. */
  version: string
}

/** Exit codes (docs/command-line.md): success, an invalid or expired token, a usage or configuration error. */
export const EXIT = { ok: 0, invalidToken: 1, usage: 2 } as const

/**
 * A mistake in the command line itself (unknown command or option, a missing or bad value): exit
 * 2, code `ERR_USAGE`. Its message never repeats a value the user typed, which could be a token
 * or a secret; it names the option instead.
 *
 * @example
 * ```ts
 * throw new UsageError('token create: --sub <uid> is required')
 * ```
 */
export class UsageError extends Error {
  readonly code = 'ERR_USAGE'
}

/**
 * Prints a result: `value` as one line of JSON with `--json`, else `text` (a newline added when
 * it lacks one).
 *
 * @example
 * ```ts
 * print(io, json, token, { token })
 * ```
 */
export function print(io: Io, json: boolean, text: string, value: unknown): void {
  if (json) io.out(`${JSON.stringify(value)}\n`)
  else io.out(text.endsWith('\n') ? text : `${text}\n`)
}

/** An error as the command line reports it: its code, one line of message, and an exit code. */
export interface Failure {
  code: string
  message: string
  reason?: string
  exit: number
}

/**
 * Maps anything a command throws to a {@link Failure}. Token errors (every `AuthXError` but
 * `ConfigError`) exit 1; configuration and usage errors, and the `TypeError`s the core throws
 * for bad call arguments (`--data`, `--expires`), exit 2. A `ConfigError` keeps its message here
 * (its `toJSON()` hides it from HTTP clients; on the command line the user is the operator).
 * Core messages never contain a token or key material.
 *
 * @example
 * ```ts
 * const failure = failureOf(new UsageError('no command'))
 * ```
 */
export function failureOf(error: unknown): Failure {
  if (error instanceof ConfigError)
    return { code: error.code, message: oneLine(error.message), exit: EXIT.usage }
  if (error instanceof AuthXError) {
    const { code, message, reason } = error.toJSON()
    return { code, message: oneLine(message), ...(reason ? { reason } : {}), exit: EXIT.invalidToken }
  }
  if (error instanceof UsageError)
    return { code: error.code, message: oneLine(error.message), exit: EXIT.usage }
  if (error instanceof TypeError || error instanceof RangeError) {
    return { code: 'ERR_USAGE', message: oneLine(error.message), exit: EXIT.usage }
  }
  const name = error instanceof Error ? error.name : typeof error
  const message = error instanceof Error ? oneLine(error.message) : 'unexpected error'
  return { code: 'ERR_INTERNAL', message: `${name}: ${message}`, exit: EXIT.usage }
}

/**
 * Writes a failure to stderr: `CODE: message` or, with `--json`, `{ "code", "message" }`.
 *
 * @example
 * ```ts
 * report(io, json, failureOf(err))
 * ```
 */
export function report(io: Io, json: boolean, failure: Failure): void {
  const { exit: _exit, ...body } = failure
  io.err(json ? `${JSON.stringify(body)}\n` : `${failure.code}: ${failure.message}\n`)
}

function oneLine(text: string): string {
  return text.replace(/\s*\n\s*/g, ' ').trim()
}
