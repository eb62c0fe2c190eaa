/**
 * Checks the options of method calls (`verifyToken(t, { fresh: true })`, `tokenRequired(...)`):
 * an unknown name or a wrong type is a `TypeError` naming it, so a typo in a security option
 * (`freshh`, `scope`) can never let a token through silently. The constructor's options are
 * checked in `config.ts` (a `ConfigError`); these are the per-call ones.
 * @module
 */
import { type Duration, parseDuration } from './duration.js'
import type { GetTokenOptions } from './extract.js'
import type { TokenType } from './payload.js'

type Obj = Record<string, unknown>

/** A check of one option's value; throws a `TypeError` naming `path`. */
export type OptionCheck = (value: unknown, path: string) => void

/** Whether a value is a plain object (its prototype `Object.prototype` or `null`). */
export function isPlainObject(value: unknown): value is Obj {
  if (typeof value !== 'object' || value === null) return false
  const proto = Object.getPrototypeOf(value)
  return proto === Object.prototype || proto === null
}

/**
 * Checks a call's options object against the checks of its known names. `undefined` stands for
 * no options. Values that are `undefined` are not checked (an option left out).
 *
 * @example
 * ```ts
 * checkCallOptions(options, 'verifyToken', VERIFY_CHECKS)
 * ```
 */
export function checkCallOptions(
  value: unknown,
  call: string,
  checks: Readonly<Record<string, OptionCheck>>,
): Obj {
  if (value === undefined) return {}
  if (!isPlainObject(value)) throw new TypeError(`${call}: options must be a plain object`)
  for (const key of Object.keys(value)) {
    const check = Object.hasOwn(checks, key) ? checks[key] : undefined
    if (check === undefined) {
      throw new TypeError(`${call}: unknown option '${key}' (known: ${Object.keys(checks).join(', ')})`)
    }
    const item = value[key]
    if (item !== undefined) check(item, `${call}: option '${key}'`)
  }
  return value
}

/** `true` or `false`. */
export const isBoolean: OptionCheck = (value, path) => {
  if (typeof value !== 'boolean') throw new TypeError(`${path} must be true or false`)
}

/** `'access'` or `'refresh'`. */
export const isTokenType: OptionCheck = (value, path) => {
  if (value !== 'access' && value !== 'refresh') throw new TypeError(`${path} must be 'access' or 'refresh'`)
}

/** An array of non-empty strings. */
export const isScopeList: OptionCheck = (value, path) => {
  if (!Array.isArray(value) || !value.every((s) => typeof s === 'string' && s.length > 0)) {
    throw new TypeError(`${path} must be an array of non-empty strings (for example ['admin:*'])`)
  }
}

const LOCATIONS: ReadonlySet<string> = new Set(['headers', 'cookies', 'json', 'query'])

/** An array of token locations. */
export const isLocationList: OptionCheck = (value, path) => {
  if (!Array.isArray(value) || !value.every((l) => typeof l === 'string' && LOCATIONS.has(l))) {
    throw new TypeError(`${path} must be an array of 'headers', 'cookies', 'json' or 'query'`)
  }
}

/** A Duration or a `Date`. */
export const isExpiry: OptionCheck = (value, path) => {
  if (value instanceof Date) {
    if (Number.isNaN(value.getTime())) throw new TypeError(`${path} is an invalid Date`)
    return
  }
  if (parseDuration(value) === undefined) {
    throw new TypeError(`${path} must be a Duration (seconds or '<n>s|m|h|d|w') or a Date`)
  }
}

/** A Duration. */
export const isDuration: OptionCheck = (value, path) => {
  if (parseDuration(value) === undefined) {
    throw new TypeError(`${path} must be a Duration (seconds or '<n>s|m|h|d|w')`)
  }
}

/** Anything: the value is checked later, where it is used (with a message of its own). */
export const isAny: OptionCheck = () => {}

/** The checks of `verifyToken`'s options. */
export const VERIFY_CHECKS: Readonly<Record<string, OptionCheck>> = Object.freeze({
  type: isTokenType,
  fresh: isBoolean,
  scopes: isScopeList,
  anyScope: isBoolean,
})

/** The checks of `getTokenFromRequest`'s options. */
export const GET_TOKEN_CHECKS: Readonly<Record<string, OptionCheck>> = Object.freeze({
  type: isTokenType,
  locations: isLocationList,
  optional: isBoolean,
  csrf: isBoolean,
})

/** The checks of `authenticate`'s options. */
export const AUTHENTICATE_CHECKS: Readonly<Record<string, OptionCheck>> = Object.freeze({
  ...VERIFY_CHECKS,
  ...GET_TOKEN_CHECKS,
})

/**
 * Scope names given as rest arguments (`scopesRequired('a', 'b')`): an array passed as one
 * argument would otherwise be a scope named `a,b` that nobody holds.
 *
 * @example
 * ```ts
 * scopeArguments(['admin:*'], 'scopesRequired') // ['admin:*']
 * ```
 */
export function scopeArguments(scopes: readonly unknown[], call: string): string[] {
  if (scopes.length === 0) throw new TypeError(`${call}: give at least one scope`)
  for (const scope of scopes) {
    if (Array.isArray(scope)) {
      throw new TypeError(`${call}: pass scopes as separate arguments (${call}('a', 'b')), not an array`)
    }
    if (typeof scope !== 'string' || scope.length === 0) {
      throw new TypeError(`${call}: every scope must be a non-empty string`)
    }
  }
  return scopes as string[]
}

/** Options of `verifyToken`. */
export interface VerifyTokenOptions {
  /** Required token type. Default `'access'`. */
  type?: TokenType
  /** Require a fresh token. Default `false`. */
  fresh?: boolean
  /** Required scopes (all of them, or any one with `anyScope`). */
  scopes?: string[]
  /** Default `false`. */
  anyScope?: boolean
}

/** Options of `authenticate` and `tokenRequired`. */
export interface AuthenticateOptions extends VerifyTokenOptions, GetTokenOptions {}

/** Options of the cookie helpers. */
export interface CookieCallOptions {
  /** `Max-Age` for these cookies, instead of `cookies.maxAge`. */
  maxAge?: Duration
}

/** The options of `createAccessToken`. */
export const CREATE_CHECKS = {
  uid: isAny,
  fresh: isBoolean,
  expiry: isExpiry,
  data: isAny,
  scopes: isScopeList,
  audience: isAny,
  headers: isAny,
  jkt: isAny,
}
/** The options of `createRefreshToken`: those of access tokens but `fresh`. */
export const { fresh: _fresh, ...CREATE_REFRESH_CHECKS } = CREATE_CHECKS
/** The options of `createTokenPair`. */
export const PAIR_CHECKS = {
  uid: isAny,
  fresh: isBoolean,
  data: isAny,
  scopes: isScopeList,
  accessExpiry: isExpiry,
  refreshExpiry: isExpiry,
  session: isAny,
  jkt: isAny,
}
/** The options of `refresh`. */
export const REFRESH_CHECKS = { data: isAny, scopes: isScopeList }
/** The options of the cookie helpers. */
export const COOKIE_CHECKS = { maxAge: isDuration }
