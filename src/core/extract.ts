/**
 * Finding the token in a request (docs/locations-and-csrf.md): locations in order, the first that holds a
 * token wins, and a bad token never falls back to a later location.
 * @module
 */
import type { ResolvedConfig } from './config.js'
import { InvalidTokenError, MissingTokenError } from './errors.js'
import type { TokenLocation } from './options.js'
import type { TokenType } from './payload.js'
import type { AuthXRequest } from './request.js'

/** A token found in a request, not yet verified. */
export interface RequestToken {
  /** The token string. */
  readonly token: string
  /** The type the caller asked for. */
  readonly type: TokenType
  /** Where it was found. */
  readonly location: TokenLocation
  /** The CSRF value the client sent, when the token came from a cookie and one was sent. */
  readonly csrf?: string
  /** Whether the double-submit check applies (cookie token, protected method, protection on). */
  readonly csrfRequired: boolean
  /** Header or form field the CSRF value is expected in (for error messages). */
  readonly csrfSource?: string
}

/** Options of `getTokenFromRequest`. */
export interface GetTokenOptions {
  /** Default `'access'`. */
  type?: TokenType
  /** Locations to try, in order. Default: the `tokenLocation` option. */
  locations?: TokenLocation[]
  /** Return `null` instead of throwing `MissingTokenError` when no token is present. Default `false`. */
  optional?: boolean
  /** Apply the CSRF check to cookie tokens on protected methods. Default `true`. */
  csrf?: boolean
}

const LOCATIONS: ReadonlySet<string> = new Set(['headers', 'cookies', 'json', 'query'])
/** Where a token that failed before it was returned was found (for the audit trail). */
const refusedAt = new WeakMap<object, TokenLocation>()

/**
 * The location of a token that `extractToken` refused (a malformed header), if any.
 *
 * @example
 * ```ts
 * failedLocation(err) // 'headers'
 * ```
 */
export function failedLocation(error: unknown): TokenLocation | undefined {
  return typeof error === 'object' && error !== null ? refusedAt.get(error) : undefined
}
const SCHEME_RE = /^([^\s]+) +([^\s]+)$/

function malformedHeader(name: string, type: string): InvalidTokenError {
  const expected = type === '' ? 'the token alone' : `'${type} <token>'`
  return new InvalidTokenError('malformed', `${name} header must be ${expected}`)
}

/** Reads the header location: `undefined` when the header is absent. */
function fromHeader(config: ResolvedConfig, req: AuthXRequest): string | undefined {
  const { name, type } = config.header
  const value = req.header(name)
  if (value === undefined || value === null) return undefined
  if (typeof value !== 'string') throw malformedHeader(name, type)
  if (type === '') {
    if (value.trim() === '' || /\s/.test(value)) throw malformedHeader(name, type)
    return value
  }
  const match = SCHEME_RE.exec(value.trim())
  // Scheme names are case-insensitive (RFC 7235); exactly one token after it.
  if (match === null || match[1]!.toLowerCase() !== type.toLowerCase()) throw malformedHeader(name, type)
  return match[2]!
}

function nonEmpty(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined
}

async function csrfValue(
  config: ResolvedConfig,
  req: AuthXRequest,
  type: TokenType,
): Promise<{ value: string | undefined; source: string }> {
  const { csrf } = config
  const headerName = type === 'access' ? csrf.accessHeaderName : csrf.refreshHeaderName
  const fromHeader = nonEmpty(req.header(headerName))
  if (fromHeader !== undefined || !csrf.checkForm)
    return { value: fromHeader, source: `the ${headerName} header` }
  const field = type === 'access' ? csrf.accessFieldName : csrf.refreshFieldName
  let form: Record<string, unknown> | undefined
  try {
    form = await req.form()
  } catch {
    form = undefined
  }
  const value =
    form !== undefined && form !== null && Object.hasOwn(form, field) ? nonEmpty(form[field]) : undefined
  return { value, source: `the ${headerName} header or the ${field} form field` }
}

/**
 * Finds the request's token, or `null` when `optional` and there is none.
 *
 * @example
 * ```ts
 * const found = await extractToken(config, view, { type: 'refresh' })
 * ```
 */
export async function extractToken(
  config: ResolvedConfig,
  req: AuthXRequest,
  options: GetTokenOptions = {},
): Promise<RequestToken | null> {
  const type = options.type ?? 'access'
  if (type !== 'access' && type !== 'refresh') throw new TypeError("type: expected 'access' or 'refresh'")
  const locations = options.locations ?? config.locations
  const tried: string[] = []
  for (const location of locations) {
    if (!LOCATIONS.has(location))
      throw new TypeError(`locations: unknown location ${JSON.stringify(location)}`)
    switch (location) {
      case 'headers': {
        tried.push(`${config.header.name} header`)
        let token: string | undefined
        try {
          token = fromHeader(config, req)
        } catch (err) {
          refusedAt.set(err as object, location)
          throw err
        }
        if (token !== undefined) return { token, type, location, csrfRequired: false }
        break
      }
      case 'cookies': {
        const name = type === 'access' ? config.cookies.accessName : config.cookies.refreshName
        tried.push(`${name} cookie`)
        const token = nonEmpty(req.cookie(name))
        if (token === undefined) break
        const method = typeof req.method === 'string' ? req.method.toUpperCase() : ''
        const csrfRequired =
          options.csrf !== false && config.csrf.protect && config.csrf.methods.includes(method)
        if (!csrfRequired) return { token, type, location, csrfRequired }
        const sent = await csrfValue(config, req, type)
        return sent.value === undefined
          ? { token, type, location, csrfRequired, csrfSource: sent.source }
          : { token, type, location, csrfRequired, csrf: sent.value, csrfSource: sent.source }
      }
      case 'json': {
        const key = type === 'access' ? config.json.accessKey : config.json.refreshKey
        tried.push(`JSON body key ${key}`)
        let body: unknown
        try {
          body = await req.json()
        } catch {
          body = undefined
        }
        if (typeof body === 'object' && body !== null && !Array.isArray(body) && Object.hasOwn(body, key)) {
          const token = nonEmpty((body as Record<string, unknown>)[key])
          if (token !== undefined) return { token, type, location, csrfRequired: false }
        }
        break
      }
      case 'query': {
        // Query strings leak into logs and Referer headers: access tokens only (RFC 9700 4.3.2).
        if (type !== 'access') break
        tried.push(`${config.query.name} query parameter`)
        const token = nonEmpty(req.query(config.query.name))
        if (token !== undefined) return { token, type, location, csrfRequired: false }
        break
      }
    }
  }
  if (options.optional) return null
  throw new MissingTokenError(tried)
}
