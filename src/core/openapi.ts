/**
 * OpenAPI 3.1 security schemes and requirements for the token locations of an instance
 * (docs/openapi.md). A pure function of the resolved configuration: it reads no key and no
 * secret, so nothing secret can reach a published document.
 * @module
 */
import { checkCallOptions, isBoolean, isLocationList, isScopeList, isTokenType } from './call-options.js'
import type { ResolvedConfig } from './config.js'
import type { TokenLocation } from './options.js'
import type { TokenType } from './payload.js'

/** The stable names of the schemes `auth.openapi()` describes. */
export type OpenAPISchemeName = keyof OpenAPISecuritySchemes

/** The OpenAPI 3.1 Security Scheme Object of `Authorization: Bearer <token>`. */
export type OpenAPIBearerScheme = { type: 'http'; scheme: 'bearer'; bearerFormat: 'JWT'; description: string }

/** An OpenAPI 3.1 Security Scheme Object for a named header, cookie or query parameter. */
export type OpenAPIApiKeyScheme = {
  type: 'apiKey'
  in: 'header' | 'cookie' | 'query'
  name: string
  description: string
}

/** A Security Scheme Object of either kind authx uses. */
export type OpenAPISecurityScheme = OpenAPIBearerScheme | OpenAPIApiKeyScheme

/**
 * The schemes of an instance by their stable names (a type alias, not an interface, so that it
 * fits the `Record<string, SecurityScheme>` of OpenAPI tools).
 */
export type OpenAPISecuritySchemes = {
  /** `headers` with the default `Authorization: Bearer`. */
  authxBearer?: OpenAPIBearerScheme
  /** `headers` with another header name or type. */
  authxHeader?: OpenAPIApiKeyScheme
  /** `cookies`: the access token cookie. */
  authxAccessCookie?: OpenAPIApiKeyScheme
  /** `cookies`: the refresh token cookie. */
  authxRefreshCookie?: OpenAPIApiKeyScheme
  /** `cookies` with CSRF protection: the CSRF header (of both types when they share it). */
  authxCsrf?: OpenAPIApiKeyScheme
  /** The refresh CSRF header, when it differs from the access one. */
  authxRefreshCsrf?: OpenAPIApiKeyScheme
  /** `query`: access tokens only. */
  authxQuery?: OpenAPIApiKeyScheme
}

/**
 * An OpenAPI Security Requirement Object: every scheme named in one object is needed together
 * (AND); the objects of a `security` array are alternatives (OR). The arrays hold the scopes,
 * which OpenAPI 3.1 calls roles for schemes other than OAuth2 and OpenID Connect.
 */
export type OpenAPISecurityRequirement = Record<string, string[]>

/** What `auth.openapi()` returns: fresh objects on every call, yours to change. */
export interface OpenAPISecurity {
  /** For `components.securitySchemes`: every location of the instance, whatever the options. */
  securitySchemes: OpenAPISecuritySchemes
  /**
   * For an operation's (or the document's) `security`: one requirement per location the route
   * reads, in `tokenLocation` order. Empty when no location can be described (the JSON body only).
   */
  security: OpenAPISecurityRequirement[]
}

/** Options of `auth.openapi()`: the same names as the guard options they describe. */
export interface OpenAPIOptions {
  /** Scopes the route requires; they go on every token scheme of `security`. Default none. */
  scopes?: string[]
  /** The token the route takes. Default `'access'`. */
  type?: TokenType
  /** The locations the route reads, a subset of `tokenLocation`. Default: `tokenLocation`. */
  locations?: TokenLocation[]
  /**
   * The route's HTTP method. A cookie requirement carries the CSRF header only when the method
   * is in `csrf.methods`. Default: none given, so the CSRF header is listed whenever the
   * instance checks CSRF on some method (the safe reading for an unsafe route).
   */
  method?: string
  /** `false` when the route's guard turns the CSRF check off (`csrf: false`). Default `true`. */
  csrf?: boolean
  /** The route also answers without a token (`accessOptional`): adds the empty requirement `{}`. Default `false`. */
  optional?: boolean
}

const OPENAPI_CHECKS = Object.freeze({
  scopes: isScopeList,
  type: isTokenType,
  locations: isLocationList,
  method: (value: unknown, path: string) => {
    if (typeof value !== 'string' || !/^[A-Za-z]+$/.test(value)) {
      throw new TypeError(`${path} must be an HTTP method name (for example 'POST')`)
    }
  },
  csrf: isBoolean,
  optional: isBoolean,
})

/** The scheme that describes the header location. */
function headerScheme(
  config: ResolvedConfig,
): ['authxBearer', OpenAPIBearerScheme] | ['authxHeader', OpenAPIApiKeyScheme] {
  const { name, type } = config.header
  // `http`/`bearer` means exactly `Authorization: Bearer <token>` (scheme names are
  // case-insensitive, RFC 7235, and so is authx's check); any other pair is an API key header.
  if (name.toLowerCase() === 'authorization' && type.toLowerCase() === 'bearer') {
    return [
      'authxBearer',
      {
        type: 'http',
        scheme: 'bearer',
        bearerFormat: 'JWT',
        description:
          'A JWT in the Authorization header: `Authorization: Bearer <token>`. The access token, or the refresh token on the refresh route.',
      },
    ]
  }
  const value = type === '' ? '<token>' : `${type} <token>`
  return [
    'authxHeader',
    {
      type: 'apiKey',
      in: 'header',
      name,
      description: `A JWT in the ${name} header: \`${name}: ${value}\`${type === '' ? ' (the token alone, no scheme)' : ''}. The access token, or the refresh token on the refresh route.`,
    },
  ]
}

function cookieScheme(config: ResolvedConfig, type: TokenType): OpenAPIApiKeyScheme {
  const { cookies, csrf } = config
  const name = type === 'access' ? cookies.accessName : cookies.refreshName
  const path = type === 'access' ? cookies.accessPath : cookies.refreshPath
  const partner =
    type === 'access' || csrfSchemes(config).refresh === 'authxCsrf' ? 'authxCsrf' : 'authxRefreshCsrf'
  const sent = path === '/' ? '' : ` The browser sends it only to paths under ${path}.`
  const withCsrf = csrfChecked(config)
    ? ` On ${csrf.methods.join(', ')} requests it goes with the ${partner} header.`
    : ''
  return {
    type: 'apiKey',
    in: 'cookie',
    name,
    description: `The ${type} token (a JWT) in the ${name} cookie, set by the server at login${cookies.httpOnly ? ' (HttpOnly: the page cannot read it)' : ''}.${sent}${withCsrf}`,
  }
}

/** Whether cookie tokens are ever CSRF-checked: protection on and at least one method. */
function csrfChecked(config: ResolvedConfig): boolean {
  return config.locations.includes('cookies') && config.csrf.protect && config.csrf.methods.length > 0
}

/** The CSRF scheme of each token type: one scheme when both use the same header. */
function csrfSchemes(config: ResolvedConfig): { access: OpenAPISchemeName; refresh: OpenAPISchemeName } {
  const same = config.csrf.accessHeaderName.toLowerCase() === config.csrf.refreshHeaderName.toLowerCase()
  return { access: 'authxCsrf', refresh: same ? 'authxCsrf' : 'authxRefreshCsrf' }
}

function csrfScheme(config: ResolvedConfig, types: readonly TokenType[]): OpenAPIApiKeyScheme {
  const { csrf, cookies } = config
  const name = types[0] === 'access' ? csrf.accessHeaderName : csrf.refreshHeaderName
  const tokenCookies = types
    .map((t) => (t === 'access' ? cookies.accessName : cookies.refreshName))
    .join(' or ')
  const source = csrf.inCookies
    ? `the value of the readable ${types.map((t) => (t === 'access' ? csrf.accessCookieName : csrf.refreshCookieName)).join(' or ')} cookie`
    : "the token's csrf claim, given to the page at login"
  const form = csrf.checkForm ? ' A form post may send it in a form field instead.' : ''
  return {
    type: 'apiKey',
    in: 'header',
    name,
    description: `The CSRF value that goes with a token in the ${tokenCookies} cookie on ${csrf.methods.join(', ')} requests: ${source}.${form} Not a credential on its own.`,
  }
}

function schemes(config: ResolvedConfig): OpenAPISecuritySchemes {
  const out: OpenAPISecuritySchemes = {}
  for (const location of config.locations) {
    if (location === 'headers') {
      const header = headerScheme(config)
      if (header[0] === 'authxBearer') out.authxBearer = header[1]
      else out.authxHeader = header[1]
    } else if (location === 'cookies') {
      out.authxAccessCookie = cookieScheme(config, 'access')
      out.authxRefreshCookie = cookieScheme(config, 'refresh')
      if (csrfChecked(config)) {
        const names = csrfSchemes(config)
        out.authxCsrf = csrfScheme(config, names.refresh === 'authxCsrf' ? ['access', 'refresh'] : ['access'])
        if (names.refresh === 'authxRefreshCsrf') out.authxRefreshCsrf = csrfScheme(config, ['refresh'])
      }
    } else if (location === 'query') {
      out.authxQuery = {
        type: 'apiKey',
        in: 'query',
        name: config.query.name,
        description: `An access token (a JWT) in the ${config.query.name} query parameter (never a refresh token). Query strings end up in logs and Referer headers: prefer a header or a cookie.`,
      }
    }
    // 'json': OpenAPI has no security scheme for a request body field; see docs/openapi.md.
  }
  return out
}

/**
 * The OpenAPI security schemes of an instance and the security requirements of one route.
 * Throws a `TypeError` for an unknown option or a wrong value.
 *
 * @example
 * ```ts
 * const { securitySchemes, security } = openapiSecurity(auth.config, { scopes: ['admin:*'] })
 * ```
 */
export function openapiSecurity(config: ResolvedConfig, options?: OpenAPIOptions): OpenAPISecurity {
  const opts = checkCallOptions(options, 'openapi', OPENAPI_CHECKS) as OpenAPIOptions
  const type = opts.type ?? 'access'
  const locations = opts.locations ?? config.locations
  for (const location of locations) {
    if (!config.locations.includes(location)) {
      throw new TypeError(
        `openapi: option 'locations' names '${location}', which is not in tokenLocation (${config.locations.join(', ')})`,
      )
    }
  }
  const scopes = opts.scopes ?? []
  const method = opts.method?.toUpperCase()
  const csrfOn =
    opts.csrf !== false &&
    csrfChecked(config) &&
    (method === undefined || config.csrf.methods.includes(method))

  const securitySchemes = schemes(config)
  const security: OpenAPISecurityRequirement[] = []
  for (const location of new Set(locations)) {
    if (location === 'headers') {
      security.push({ [headerScheme(config)[0]]: [...scopes] })
    } else if (location === 'cookies') {
      // A cookie is sent by the browser on its own, so on a checked method it proves nothing
      // without the CSRF header: both in one requirement (AND), not two alternatives.
      const requirement: OpenAPISecurityRequirement = {
        [type === 'access' ? 'authxAccessCookie' : 'authxRefreshCookie']: [...scopes],
      }
      if (csrfOn) requirement[csrfSchemes(config)[type]] = []
      security.push(requirement)
    } else if (location === 'query' && type === 'access') {
      security.push({ authxQuery: [...scopes] })
    }
  }
  if (opts.optional === true) security.push({})
  return { securitySchemes, security }
}
