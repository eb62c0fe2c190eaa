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
  /**
   * The `Authorization` scheme on a DPoP instance (docs/dpop.md): `'dpop'` for
   * `DPoP <token>`, `'bearer'` for the configured scheme; absent elsewhere.
   */
  readonly scheme?: 'bearer' | 'dpop'
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
const WHITESPACE = /\s/

function malformedHeader(name: string, type: string): InvalidTokenError {
  const expected = type === '' ? 'the token alone' : `'${type} <token>'`
  return new InvalidTokenError('malformed', `${name} header must be ${expected}`)
}

/** Reads the header location: `undefined` when the header is absent; `InvalidTokenError` when malformed. */
export function fromHeader(config: ResolvedConfig, req: AuthXRequest): string | undefined {
  const { name, type } = config.header
  const value = req.header(name)
  if (value === undefined || value === null) return undefined
  if (typeof value !== 'string') throw malformedHeader(name, type)
  if (type === '') {
    if (value.trim() === '' || /\s/.test(value)) throw malformedHeader(name, type)
    return value
  }
  // The common spelling, exactly '<type> <token>' with no other whitespace, is what the pattern
  // below accepts too; taking it without the pattern saves its work on every request.
  const start = type.length + 1
  if (
    value.length > start &&
    value.charCodeAt(type.length) === 32 &&
    value.startsWith(type) &&
    !WHITESPACE.test(value.slice(start))
  ) {
    return value.slice(start)
  }
  const match = SCHEME_RE.exec(value.trim())
  // Scheme names are case-insensitive (RFC 7235); exactly one token after it.
  if (match === null || match[1]!.toLowerCase() !== type.toLowerCase()) throw malformedHeader(name, type)
  return match[2]!
}

/**
 * The token of an `Authorization: DPoP <token>` header on a DPoP instance (RFC 9449 section 7.1),
 * `undefined` for any other scheme; `InvalidTokenError` when the DPoP scheme is malformed.
 */
function fromDpopHeader(config: ResolvedConfig, req: AuthXRequest): string | undefined {
  const value = req.header(config.header.name)
  if (typeof value !== 'string') return undefined
  const trimmed = value.trim()
  if (trimmed.length < 5 || trimmed.slice(0, 5).toLowerCase() !== 'dpop ') return undefined
  const match = SCHEME_RE.exec(trimmed)
  if (match === null) throw malformedHeader(config.header.name, 'DPoP')
  return match[2]!
}

/**
 * Whether a cookie may authenticate this request: always, unless it is a WebSocket upgrade
 * (`Upgrade: websocket`), which a browser sends with the site's cookies from any page and which
 * carries no CSRF header. Then only when `Origin` is exactly one of `websocket.allowedOrigins`
 * (cross-site WebSocket hijacking, docs/websocket.md). Every guard applies this rule, so a
 * WebSocket route behind an ordinary guard is as safe as one behind `authenticateWebSocket`.
 */
export function cookieAllowedOnUpgrade(config: ResolvedConfig, req: Pick<AuthXRequest, 'header'>): boolean {
  const upgrade = req.header('upgrade')
  if (typeof upgrade !== 'string' || !/(?:^|,)\s*websocket\s*(?:,|$)/i.test(upgrade)) return true
  const origin = req.header('origin')
  const allowed = config.websocket.allowedOrigins
  return allowed !== undefined && typeof origin === 'string' && allowed.includes(origin)
}

function nonEmpty(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined
}

/** The CSRF value the client sent and where it was looked for. */
interface SentCsrf {
  readonly value: string | undefined
  readonly source: string
}

/** The CSRF header value, or a promise when the form body must be read for it. */
function csrfValue(config: ResolvedConfig, req: AuthXRequest, type: TokenType): SentCsrf | Promise<SentCsrf> {
  const { csrf } = config
  const headerName = type === 'access' ? csrf.accessHeaderName : csrf.refreshHeaderName
  const fromHeader = nonEmpty(req.header(headerName))
  if (fromHeader !== undefined || !csrf.checkForm)
    return { value: fromHeader, source: `the ${headerName} header` }
  return csrfFromForm(req, type === 'access' ? csrf.accessFieldName : csrf.refreshFieldName, headerName)
}

async function csrfFromForm(req: AuthXRequest, field: string, headerName: string): Promise<SentCsrf> {
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

/** What `extractToken` gives: the token at once when no body had to be read, else a promise. */
export type Found = RequestToken | null | Promise<RequestToken | null>

/**
 * Finds the request's token, or `null` when `optional` and there is none. Answers at once (no
 * promise) unless a body must be read (the `json` location, a CSRF value from a form); throws
 * synchronously then.
 *
 * @example
 * ```ts
 * const found = await extractToken(config, view, { type: 'refresh' })
 * ```
 */
export function extractToken(
  config: ResolvedConfig,
  req: AuthXRequest,
  options: GetTokenOptions = {},
): Found {
  const type = options.type ?? 'access'
  if (type !== 'access' && type !== 'refresh') throw new TypeError("type: expected 'access' or 'refresh'")
  const locations = options.locations ?? config.locations
  // The configured locations were checked with the configuration; a call's own list is checked here.
  if (options.locations !== undefined) {
    for (const location of locations) {
      if (!LOCATIONS.has(location))
        throw new TypeError(`locations: unknown location ${JSON.stringify(location)}`)
    }
  }
  return search(config, req, options, type, locations, 0)
}

/** Tries `locations` from index `from` on. */
function search(
  config: ResolvedConfig,
  req: AuthXRequest,
  options: GetTokenOptions,
  type: TokenType,
  locations: readonly TokenLocation[],
  from: number,
): Found {
  for (let i = from; i < locations.length; i++) {
    const location = locations[i]!
    switch (location) {
      case 'headers': {
        let token: string | undefined
        try {
          if (config.dpop !== undefined) {
            token = fromDpopHeader(config, req)
            if (token !== undefined) return { token, type, location, csrfRequired: false, scheme: 'dpop' }
          }
          token = fromHeader(config, req)
        } catch (err) {
          refusedAt.set(err as object, location)
          throw err
        }
        if (token === undefined) break
        return config.dpop === undefined
          ? { token, type, location, csrfRequired: false }
          : { token, type, location, csrfRequired: false, scheme: 'bearer' }
      }
      case 'cookies': {
        const name = type === 'access' ? config.cookies.accessName : config.cookies.refreshName
        const token = nonEmpty(req.cookie(name))
        if (token === undefined || !cookieAllowedOnUpgrade(config, req)) break
        const method = typeof req.method === 'string' ? req.method.toUpperCase() : ''
        const csrfRequired =
          options.csrf !== false && config.csrf.protect && config.csrf.methods.includes(method)
        if (!csrfRequired) return { token, type, location, csrfRequired }
        const sent = csrfValue(config, req, type)
        return sent instanceof Promise
          ? sent.then((value) => withCsrf(token, type, value))
          : withCsrf(token, type, sent)
      }
      case 'json': {
        const key = type === 'access' ? config.json.accessKey : config.json.refreshKey
        return fromJson(req, key).then((token) =>
          token === undefined
            ? search(config, req, options, type, locations, i + 1)
            : { token, type, location, csrfRequired: false },
        )
      }
      case 'query': {
        // Query strings leak into logs and Referer headers: access tokens only (RFC 9700 4.3.2).
        if (type !== 'access') break
        const token = nonEmpty(req.query(config.query.name))
        if (token !== undefined) return { token, type, location, csrfRequired: false }
        break
      }
    }
  }
  if (options.optional) return null
  throw new MissingTokenError(tried(config, type, locations))
}

function withCsrf(token: string, type: TokenType, sent: SentCsrf): RequestToken {
  const found = { token, type, location: 'cookies' as const, csrfRequired: true, csrfSource: sent.source }
  return sent.value === undefined ? found : { ...found, csrf: sent.value }
}

async function fromJson(req: AuthXRequest, key: string): Promise<string | undefined> {
  let body: unknown
  try {
    body = await req.json()
  } catch {
    body = undefined
  }
  if (typeof body === 'object' && body !== null && !Array.isArray(body) && Object.hasOwn(body, key)) {
    return nonEmpty((body as Record<string, unknown>)[key])
  }
  return undefined
}

/** The places searched, for `MissingTokenError`: every location tried, in order. */
function tried(config: ResolvedConfig, type: TokenType, locations: readonly TokenLocation[]): string[] {
  const places: string[] = []
  for (const location of locations) {
    if (location === 'headers') places.push(`${config.header.name} header`)
    else if (location === 'cookies')
      places.push(`${type === 'access' ? config.cookies.accessName : config.cookies.refreshName} cookie`)
    else if (location === 'json')
      places.push(`JSON body key ${type === 'access' ? config.json.accessKey : config.json.refreshKey}`)
    else if (type === 'access') places.push(`${config.query.name} query parameter`)
  }
  return places
}
