/**
 * `Set-Cookie` strings for token and CSRF cookies (docs/cookies.md). Plain string code; adapters
 * only write the strings.
 * @module
 */
import type { ResolvedConfig } from './config.js'

/** Attributes shared by a token cookie and its CSRF cookie. */
export interface CookieAttributes {
  readonly path: string
  readonly domain: string | undefined
  readonly secure: boolean
  readonly sameSite: 'lax' | 'strict' | 'none'
  readonly maxAge: number | undefined
}

/** Browsers guarantee only about 4096 bytes per cookie; larger ones are dropped silently. */
export const MAX_COOKIE_BYTES = 4096
const COOKIE_VALUE_RE = /^[\x21\x23-\x2b\x2d-\x3a\x3c-\x5b\x5d-\x7e]*$/
const SAME_SITE = { lax: 'Lax', strict: 'Strict', none: 'None' } as const

/**
 * Serialises one `Set-Cookie` value. Throws `TypeError` for a value that is not a valid cookie
 * value or a cookie over 4096 bytes (it would be dropped by the browser without a word).
 *
 * @example
 * ```ts
 * serializeCookie('a', 'b', { path: '/', domain: undefined, secure: true, sameSite: 'lax', maxAge: 60 }, true)
 * // 'a=b; Path=/; Max-Age=60; Secure; HttpOnly; SameSite=Lax'
 * ```
 */
export function serializeCookie(
  name: string,
  value: string,
  attrs: CookieAttributes,
  httpOnly: boolean,
): string {
  if (!COOKIE_VALUE_RE.test(value))
    throw new TypeError(`cookie ${name}: value has characters not allowed in a cookie`)
  if (name.length + value.length + 1 > MAX_COOKIE_BYTES) {
    throw new TypeError(`cookie ${name}: larger than ${MAX_COOKIE_BYTES} bytes; browsers would drop it`)
  }
  let cookie = `${name}=${value}; Path=${attrs.path}`
  if (attrs.domain !== undefined) cookie += `; Domain=${attrs.domain}`
  if (attrs.maxAge !== undefined) {
    cookie += `; Max-Age=${attrs.maxAge}`
    if (attrs.maxAge === 0) cookie += '; Expires=Thu, 01 Jan 1970 00:00:00 GMT'
  }
  if (attrs.secure) cookie += '; Secure'
  if (httpOnly) cookie += '; HttpOnly'
  return `${cookie}; SameSite=${SAME_SITE[attrs.sameSite]}`
}

/** The names and paths of one token kind's cookies. */
export function cookieNames(
  config: ResolvedConfig,
  type: 'access' | 'refresh',
): { token: string; csrf: string; path: string; csrfPath: string } {
  const { cookies, csrf } = config
  return type === 'access'
    ? {
        token: cookies.accessName,
        csrf: csrf.accessCookieName,
        path: cookies.accessPath,
        csrfPath: csrf.accessCookiePath,
      }
    : {
        token: cookies.refreshName,
        csrf: csrf.refreshCookieName,
        path: cookies.refreshPath,
        csrfPath: csrf.refreshCookiePath,
      }
}

/**
 * The `Set-Cookie` strings that store a token (and its CSRF value) in cookies.
 *
 * @example
 * ```ts
 * tokenCookies(config, 'access', token, payloadCsrf, undefined)
 * ```
 */
export function tokenCookies(
  config: ResolvedConfig,
  type: 'access' | 'refresh',
  token: string,
  csrfValue: string | undefined,
  maxAge: number | undefined,
): string[] {
  const names = cookieNames(config, type)
  const attrs: CookieAttributes = {
    path: names.path,
    domain: config.cookies.domain,
    secure: config.cookies.secure,
    sameSite: config.cookies.sameSite,
    maxAge: maxAge ?? config.cookies.maxAge,
  }
  const out = [serializeCookie(names.token, token, attrs, config.cookies.httpOnly)]
  if (config.csrf.inCookies && csrfValue !== undefined && csrfValue !== '') {
    // Never HttpOnly: the page reads it to send the X-CSRF-TOKEN header. Its own path, so the
    // page can read the refresh value while the refresh cookie goes only to the refresh route.
    out.push(serializeCookie(names.csrf, csrfValue, { ...attrs, path: names.csrfPath }, false))
  }
  return out
}

/**
 * The `Set-Cookie` strings that delete one token kind's cookies (same names, path and domain,
 * `Max-Age=0`).
 *
 * @example
 * ```ts
 * clearCookies(config, 'refresh')
 * ```
 */
export function clearCookies(config: ResolvedConfig, type: 'access' | 'refresh'): string[] {
  const names = cookieNames(config, type)
  const attrs: CookieAttributes = {
    path: names.path,
    domain: config.cookies.domain,
    secure: config.cookies.secure,
    sameSite: config.cookies.sameSite,
    maxAge: 0,
  }
  const out = [serializeCookie(names.token, '', attrs, config.cookies.httpOnly)]
  if (config.csrf.inCookies)
    out.push(serializeCookie(names.csrf, '', { ...attrs, path: names.csrfPath }, false))
  return out
}

/**
 * The renewed cookies of implicit refresh, unless the response already sets a cookie of the same
 * name: a handler that set or deleted it (a logout) decides, and a renewal appended after a
 * deletion would keep the user signed in.
 *
 * @example
 * ```ts
 * const add = renewedCookiesFor(renewed, response.headers.getSetCookie())
 * ```
 */
export function renewedCookiesFor(renewed: readonly string[], alreadySet: readonly string[]): string[] {
  const nameOf = (cookie: string) => cookie.slice(0, Math.max(0, cookie.indexOf('='))).trim()
  const taken = new Set(alreadySet.map(nameOf))
  return renewed.some((cookie) => taken.has(nameOf(cookie))) ? [] : [...renewed]
}
