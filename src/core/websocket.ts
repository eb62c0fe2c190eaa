/**
 * WebSocket authentication (docs/websocket.md, SPEC 9.2): where the access token of an upgrade
 * request is found. Browsers cannot set headers on a WebSocket, so besides the configured header
 * the token may come in the query string, in a `Sec-WebSocket-Protocol` entry, or (for the
 * configured origins only) in the access cookie. `AuthX.authenticateWebSocket` hands over here.
 * @module
 */
import { checkCallOptions, isBoolean, isScopeList, type OptionCheck } from './call-options.js'
import type { ResolvedConfig } from './config.js'
import { MissingTokenError } from './errors.js'
import { fromHeader } from './extract.js'
import { type AuthXRequest, parseCookieHeader } from './request.js'

/** The prefix of the `Sec-WebSocket-Protocol` entry carrying the token: `authx.bearer.<token>`. */
export const BEARER_PROTOCOL_PREFIX = 'authx.bearer.'

/**
 * An upgrade request: a Node `IncomingMessage` (what `http`'s `upgrade` event, `ws` and
 * `@fastify/websocket` give) or a Web `Request` (Hono, Bun, Deno, workers).
 */
export type UpgradeRequest =
  | Request
  | {
      readonly url?: string | undefined
      readonly headers: Readonly<Record<string, string | string[] | undefined>>
    }

/** Options of `authenticateWebSocket`: those of `verifyToken` for an access token. */
export interface WebSocketAuthOptions {
  /** Require a fresh token. Default `false`. */
  fresh?: boolean
  /** Required scopes (all of them, or any one with `anyScope`). */
  scopes?: string[]
  /** Default `false`. */
  anyScope?: boolean
}

/** The checks of `authenticateWebSocket`'s options (access tokens only: no `type`). */
export const WEBSOCKET_CHECKS: Readonly<Record<string, OptionCheck>> = {
  fresh: isBoolean,
  scopes: isScopeList,
  anyScope: isBoolean,
}

/**
 * Checks `authenticateWebSocket`'s options once, for a helper that fixes them for every upgrade
 * (`authx/ws`): a `TypeError` naming an unknown or ill-typed option. Returns a frozen copy, or
 * `undefined` for none.
 *
 * @example
 * ```ts
 * const fixed = websocketAuthOptions({ scopes: ['chat:join'] }, 'wsAuthX')
 * ```
 */
export function websocketAuthOptions(options: unknown, call: string): WebSocketAuthOptions | undefined {
  const checked = checkCallOptions(options, call, WEBSOCKET_CHECKS) as WebSocketAuthOptions
  const fixed: WebSocketAuthOptions = {}
  if (checked.fresh !== undefined) fixed.fresh = checked.fresh
  if (checked.scopes !== undefined) fixed.scopes = [...checked.scopes]
  if (checked.anyScope !== undefined) fixed.anyScope = checked.anyScope
  return Object.keys(fixed).length === 0 ? undefined : Object.freeze(fixed)
}

/** A found token and where: `'query'`, `'headers'`, `'protocol'` or `'cookies'`. */
export interface WebSocketToken {
  readonly token: string
  readonly location: 'query' | 'headers' | 'protocol' | 'cookies'
}

/** Header reading over both request kinds; nothing here throws for client input. */
function headerReader(request: UpgradeRequest): (name: string) => string | undefined {
  const headers = request.headers
  if (typeof (headers as Headers).get === 'function') {
    return (name) => (headers as Headers).get(name) ?? undefined
  }
  const plain = headers as Readonly<Record<string, string | string[] | undefined>>
  return (name) => {
    const lower = name.toLowerCase()
    // Node gives lower-case names; an object made by hand may not.
    let value = Object.hasOwn(plain, lower) ? plain[lower] : undefined
    if (value === undefined) {
      const key = Object.keys(plain).find((k) => k.toLowerCase() === lower)
      value = key === undefined ? undefined : plain[key]
    }
    if (typeof value === 'string') return value
    // Repeated headers as Node joins them: cookies with '; ', the others with ', '.
    return Array.isArray(value) ? value.join(lower === 'cookie' ? '; ' : ', ') : undefined
  }
}

function queryValue(url: unknown, name: string): string | undefined {
  if (typeof url !== 'string') return undefined
  try {
    const value = new URL(url, 'http://localhost').searchParams.get(name)
    return value === null || value === '' ? undefined : value
  } catch {
    return undefined
  }
}

/** The first `authx.bearer.<token>` entry of `Sec-WebSocket-Protocol`. */
function protocolToken(header: string | undefined): string | undefined {
  if (header === undefined) return undefined
  for (const entry of header.split(',')) {
    const protocol = entry.trim()
    if (protocol.startsWith(BEARER_PROTOCOL_PREFIX) && protocol.length > BEARER_PROTOCOL_PREFIX.length) {
      return protocol.slice(BEARER_PROTOCOL_PREFIX.length)
    }
  }
  return undefined
}

/**
 * Finds the access token of an upgrade request, in order: the `websocket.queryName` query
 * parameter, the configured header, a `Sec-WebSocket-Protocol` entry `authx.bearer.<token>`, and
 * (with `'cookies'` in `tokenLocation`) the access cookie when the `Origin` header is exactly one
 * of `websocket.allowedOrigins` (no CSRF value: a browser sends none on a WebSocket, and the
 * origin check is what stops cross-site WebSocket hijacking). Throws `MissingTokenError` when
 * there is none, `InvalidTokenError` for a malformed header.
 *
 * @example
 * ```ts
 * const { token, location } = websocketToken(auth.config, request)
 * ```
 */
export function websocketToken(config: ResolvedConfig, request: UpgradeRequest): WebSocketToken {
  if (typeof request !== 'object' || request === null || typeof request.headers !== 'object') {
    throw new TypeError('authenticateWebSocket: expected a Node IncomingMessage or a Web Request')
  }
  const header = headerReader(request)
  const { queryName, allowedOrigins } = config.websocket
  const fromQuery = queryValue(request.url, queryName)
  if (fromQuery !== undefined) return { token: fromQuery, location: 'query' }
  const view: Pick<AuthXRequest, 'header'> = { header }
  const fromHeaders = fromHeader(config, view as AuthXRequest)
  if (fromHeaders !== undefined) return { token: fromHeaders, location: 'headers' }
  const fromProtocol = protocolToken(header('sec-websocket-protocol'))
  if (fromProtocol !== undefined) return { token: fromProtocol, location: 'protocol' }
  const tried = [`${queryName} query parameter`, `${config.header.name} header`, 'Sec-WebSocket-Protocol']
  if (config.locations.includes('cookies') && allowedOrigins !== undefined) {
    tried.push(`${config.cookies.accessName} cookie (allowed origins only)`)
    const origin = header('origin')
    if (origin !== undefined && allowedOrigins.includes(origin)) {
      const cookie = parseCookieHeader(header('cookie')).get(config.cookies.accessName)
      if (cookie !== undefined && cookie !== '') return { token: cookie, location: 'cookies' }
    }
  }
  throw new MissingTokenError(tried)
}

/**
 * The `Sec-WebSocket-Protocol` a server should answer with: the first offered protocol that is
 * not a token entry, or `false` for none. Never the token entry, which would echo the token.
 *
 * @example
 * ```ts
 * selectProtocol(['chat', 'authx.bearer.eyJ...']) // 'chat'
 * ```
 */
export function selectProtocol(offered: Iterable<string>): string | false {
  for (const protocol of offered) if (!protocol.startsWith(BEARER_PROTOCOL_PREFIX)) return protocol
  return false
}
