/**
 * Reading Python AuthX's `JWT_*` environment variables into `AuthXOptions`, so a Node service
 * can share its settings with a Python AuthX service.
 * @module
 */
import { ConfigError } from './errors.js'
import type { AuthXOptions } from './options.js'
import { emitWarning, processLike } from './runtime.js'

type Options = Record<string, unknown>

function parseBool(name: string, value: string): boolean {
  const v = value.trim().toLowerCase()
  if (v === 'true' || v === '1') return true
  if (v === 'false' || v === '0') return false
  throw new ConfigError(`${name}: expected true/false/1/0`)
}

function parseList(name: string, value: string): string[] {
  const v = value.trim()
  if (v.startsWith('[')) {
    let parsed: unknown
    try {
      parsed = JSON.parse(v)
    } catch {
      throw new ConfigError(`${name}: invalid JSON array`)
    }
    if (!Array.isArray(parsed) || !parsed.every((x) => typeof x === 'string')) {
      throw new ConfigError(`${name}: expected a JSON array of strings`)
    }
    return parsed
  }
  return v === '' ? [] : v.split(',').map((s) => s.trim())
}

/** Seconds (Python AuthX's unit), or an authx Duration string; `none`/`false` for no expiry. */
function parseLifetime(name: string, value: string): number | string | false {
  const v = value.trim()
  if (/^(none|false)$/i.test(v)) return false
  if (/^[0-9]+$/.test(v)) return Number(v)
  if (/^[0-9]+[smhdw]$/.test(v)) return v
  throw new ConfigError(`${name}: expected whole seconds`)
}

function parseNumber(name: string, value: string): number {
  const n = Number(value.trim())
  if (value.trim() === '' || !Number.isFinite(n)) throw new ConfigError(`${name}: expected a number`)
  return n
}

/** A PEM in an environment variable often has its newlines written as `\n`. */
function pem(value: string): string {
  return value.includes('\\n') ? value.replace(/\\n/g, '\n') : value
}

function oneOrMany(name: string, value: string): string | string[] {
  const list = parseList(name, value)
  return list.length === 1 ? (list[0] as string) : list
}

/** Writes `value` at an option path such as `'cookies.sameSite'`. */
function put(options: Options, path: string, value: unknown): void {
  const [section, field] = path.includes('.') ? path.split('.') : [undefined, path]
  if (section !== undefined && options[section] === undefined) options[section] = {}
  const target = section === undefined ? options : (options[section] as Options)
  target[field as string] = value
}

const asText = (_: string, value: string): string => value
const asBool = parseBool
const asList = parseList

/** Every variable authx reads, and where it goes. */
const READERS: Record<string, readonly [path: string, convert: (name: string, value: string) => unknown]> = {
  JWT_SECRET_KEY: ['secretKey', asText],
  JWT_ALGORITHM: ['algorithm', asText],
  JWT_PRIVATE_KEY: ['privateKey', (_, v) => pem(v)],
  JWT_PUBLIC_KEY: ['publicKey', (_, v) => pem(v)],
  JWT_ACCESS_TOKEN_EXPIRES: ['accessTokenExpires', parseLifetime],
  JWT_REFRESH_TOKEN_EXPIRES: ['refreshTokenExpires', parseLifetime],
  JWT_TOKEN_LOCATION: ['tokenLocation', asList],
  JWT_ENCODE_ISSUER: ['issuer', asText],
  JWT_ENCODE_AUDIENCE: ['audience', oneOrMany],
  JWT_DECODE_ISSUER: ['verify.issuer', asText],
  JWT_DECODE_AUDIENCE: ['verify.audience', oneOrMany],
  JWT_DECODE_LEEWAY: ['verify.leeway', parseNumber],
  JWT_DECODE_ALGORITHMS: ['verify.algorithms', asList],
  JWT_HEADER_NAME: ['header.name', asText],
  JWT_HEADER_TYPE: ['header.type', asText],
  JWT_ACCESS_COOKIE_NAME: ['cookies.accessName', asText],
  JWT_REFRESH_COOKIE_NAME: ['cookies.refreshName', asText],
  JWT_ACCESS_COOKIE_PATH: ['cookies.accessPath', asText],
  JWT_REFRESH_COOKIE_PATH: ['cookies.refreshPath', asText],
  JWT_COOKIE_DOMAIN: ['cookies.domain', asText],
  JWT_COOKIE_SECURE: ['cookies.secure', asBool],
  JWT_COOKIE_SAMESITE: ['cookies.sameSite', (_, v) => v.trim().toLowerCase()],
  JWT_COOKIE_HTTP_ONLY: ['cookies.httpOnly', asBool],
  JWT_COOKIE_MAX_AGE: ['cookies.maxAge', parseNumber],
  JWT_COOKIE_CSRF_PROTECT: ['csrf.protect', asBool],
  JWT_CSRF_IN_COOKIES: ['csrf.inCookies', asBool],
  JWT_CSRF_METHODS: ['csrf.methods', asList],
  JWT_ACCESS_CSRF_COOKIE_NAME: ['csrf.accessCookieName', asText],
  JWT_REFRESH_CSRF_COOKIE_NAME: ['csrf.refreshCookieName', asText],
  JWT_ACCESS_CSRF_COOKIE_PATH: ['csrf.accessCookiePath', asText],
  JWT_REFRESH_CSRF_COOKIE_PATH: ['csrf.refreshCookiePath', asText],
  JWT_ACCESS_CSRF_HEADER_NAME: ['csrf.accessHeaderName', asText],
  JWT_REFRESH_CSRF_HEADER_NAME: ['csrf.refreshHeaderName', asText],
  JWT_CSRF_CHECK_FORM: ['csrf.checkForm', asBool],
  JWT_ACCESS_CSRF_FIELD_NAME: ['csrf.accessFieldName', asText],
  JWT_REFRESH_CSRF_FIELD_NAME: ['csrf.refreshFieldName', asText],
  JWT_QUERY_STRING_NAME: ['query.name', asText],
  JWT_JSON_KEY: ['json.accessKey', asText],
  JWT_REFRESH_JSON_KEY: ['json.refreshKey', asText],
  JWT_IMPLICIT_REFRESH_ENABLED: ['implicitRefresh.enabled', asBool],
  JWT_IMPLICIT_REFRESH_DELTATIME: ['implicitRefresh.within', parseNumber],
  JWT_IMPLICIT_REFRESH_ROUTE_INCLUDE: ['implicitRefresh.includeRoutes', asList],
  JWT_IMPLICIT_REFRESH_ROUTE_EXCLUDE: ['implicitRefresh.excludeRoutes', asList],
  JWT_IMPLICIT_REFRESH_METHOD_INCLUDE: ['implicitRefresh.includeMethods', asList],
  JWT_IMPLICIT_REFRESH_METHOD_EXCLUDE: ['implicitRefresh.excludeMethods', asList],
  // authx's own (Python AuthX has no such setting): `jwt`, `explicit` or `rfc9068`.
  JWT_TOKEN_TYPES: ['tokenTypes', (_, v) => v.trim().toLowerCase()],
}

/** The `JWT_*` names `AuthX.fromEnv` reads. */
export const ENV_NAMES: readonly string[] = Object.freeze(Object.keys(READERS))

function isPlainObject(value: unknown): value is Options {
  return typeof value === 'object' && value !== null && Object.getPrototypeOf(value) === Object.prototype
}

function merge(base: Options, over: Options): Options {
  const out: Options = { ...base }
  for (const [key, value] of Object.entries(over)) {
    out[key] = isPlainObject(value) && isPlainObject(out[key]) ? merge(out[key] as Options, value) : value
  }
  return out
}

/**
 * Options from `JWT_*` variables, with `overrides` merged over them (section by section).
 * Empty variables are ignored; a `JWT_*` variable authx does not use is reported with
 * `process.emitWarning` (code `AUTHX_UNUSED_ENV`).
 *
 * @example
 * ```ts
 * optionsFromEnv({ JWT_SECRET_KEY: secret, JWT_TOKEN_LOCATION: 'headers,cookies' })
 * ```
 */
export function optionsFromEnv(
  env: Record<string, string | undefined> | undefined = processLike()?.env,
  overrides: AuthXOptions = {},
): AuthXOptions {
  const options: Options = {}
  const unused: string[] = []
  for (const [name, value] of Object.entries(env ?? {})) {
    if (!name.startsWith('JWT_') || value === undefined) continue
    const reader = READERS[name]
    if (reader === undefined) unused.push(name)
    // Empty variables are unset, except JWT_HEADER_TYPE: empty means raw tokens in Python AuthX.
    else if (value !== '' || name === 'JWT_HEADER_TYPE') put(options, reader[0], reader[1](name, value))
  }
  if (unused.length > 0) {
    emitWarning(
      `authx does not use these environment variables: ${unused.sort().join(', ')}`,
      'AUTHX_UNUSED_ENV',
    )
  }
  return merge(options, overrides as Options) as AuthXOptions
}

function hasPath(options: unknown, path: string): boolean {
  let node = options
  for (const part of path.split('.')) {
    if (typeof node !== 'object' || node === null || !Object.hasOwn(node, part)) return false
    node = (node as Options)[part]
  }
  return node !== undefined
}

/**
 * A `ConfigError` from options built by `optionsFromEnv`, renamed after the variable that set
 * the bad option (unless `overrides` set it).
 *
 * @example
 * ```ts
 * renameEnvError(err, process.env, overrides)
 * ```
 */
export function renameEnvError(
  error: ConfigError,
  env: Record<string, string | undefined> | undefined = processLike()?.env,
  overrides: AuthXOptions = {},
): ConfigError {
  for (const [name, value] of Object.entries(env ?? {})) {
    const path = READERS[name]?.[0]
    if (path === undefined || value === undefined || hasPath(overrides, path)) continue
    if (value === '' && name !== 'JWT_HEADER_TYPE') continue
    if (
      error.message.startsWith(`${path}:`) ||
      error.message.startsWith(`${path}.`) ||
      error.message.startsWith(`${path}[`)
    ) {
      return new ConfigError(`${name}: ${error.message}`, { cause: error })
    }
  }
  return error
}
