/**
 * The small request view the core reads (docs/locations-and-csrf.md), and its construction from a Web
 * `Request`. Adapters build a view from their framework's request; nothing here knows one.
 * @module
 */

/**
 * What the core needs of a request. Every method returns `undefined` for absent values and
 * must never throw for any client input.
 *
 * @example
 * ```ts
 * const view: AuthXRequest = {
 *   method: 'GET',
 *   header: (name) => req.headers[name.toLowerCase()],
 *   cookie: (name) => req.cookies[name],
 *   query: (name) => req.query[name],
 *   json: async () => req.body,
 *   form: async () => undefined,
 * }
 * ```
 */
export interface AuthXRequest {
  /** The HTTP method, any case. */
  readonly method: string
  /** The path without the query string (used by implicit refresh include/exclude lists). */
  readonly path?: string | undefined
  /**
   * Whether a configured route (`implicitRefresh.includeRoutes`/`excludeRoutes`) names this
   * request's path the way the framework's router matches it (case, trailing slash). Without it,
   * paths are compared exactly.
   */
  routeMatches?(route: string): boolean
  /** A header value by case-insensitive name. */
  header(name: string): string | undefined
  /** A cookie value by exact name. */
  cookie(name: string): string | undefined
  /** A query-string parameter by exact name (the first when repeated). */
  query(name: string): string | undefined
  /** The parsed JSON body, or `undefined` when the body is not JSON. */
  json(): Promise<unknown>
  /** The parsed form body (urlencoded or multipart), or `undefined`. */
  form(): Promise<Record<string, unknown> | undefined>
}

/** A request view or a Web `Request`: every core request method takes either. */
export type RequestLike = AuthXRequest | Request

/**
 * Parses a `Cookie` header into its first value per name. Malformed pairs are skipped, and a
 * value that fails percent-decoding is kept as sent; nothing here throws.
 *
 * @example
 * ```ts
 * parseCookieHeader('a=1; b=2').get('b') // '2'
 * ```
 */
export function parseCookieHeader(header: string | null | undefined): Map<string, string> {
  const cookies = new Map<string, string>()
  if (!header) return cookies
  for (const pair of header.split(';')) {
    const eq = pair.indexOf('=')
    if (eq < 0) continue
    const name = pair.slice(0, eq).trim()
    if (name === '' || cookies.has(name)) continue
    let value = pair.slice(eq + 1).trim()
    if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) value = value.slice(1, -1)
    if (value.includes('%')) {
      try {
        value = decodeURIComponent(value)
      } catch {
        // keep the raw value: a token with a stray '%' is simply invalid later
      }
    }
    cookies.set(name, value)
  }
  return cookies
}

/**
 * Whether a `Content-Type` is JSON (`application/json`, with or without parameters).
 *
 * @example
 * ```ts
 * isJsonContentType('application/json; charset=utf-8') // true
 * isJsonContentType('text/plain') // false
 * ```
 */
export function isJsonContentType(contentType: string | null | undefined): boolean {
  if (!contentType) return false
  const semi = contentType.indexOf(';')
  return (semi < 0 ? contentType : contentType.slice(0, semi)).trim().toLowerCase() === 'application/json'
}

/**
 * Whether a `Content-Type` is a form (`application/x-www-form-urlencoded` or `multipart/form-data`).
 *
 * @example
 * ```ts
 * isFormContentType('application/x-www-form-urlencoded') // true
 * ```
 */
export function isFormContentType(contentType: string | null | undefined): boolean {
  if (!contentType) return false
  const type = contentType.split(';')[0]!.trim().toLowerCase()
  return type === 'application/x-www-form-urlencoded' || type === 'multipart/form-data'
}

/**
 * A URL path percent-decoded as routers decode it, so `/pro%66ile` cannot slip past an excluded
 * `/profile`. `decodeURI` keeps `%2F` (an encoded slash is not a separator); a malformed escape
 * leaves the path as sent (routers do not route it to a named path either).
 */
function decodedPath(raw: string | undefined): string | undefined {
  if (raw === undefined) return undefined
  try {
    return decodeURI(raw)
  } catch {
    return raw
  }
}

/**
 * A request view over a Web `Request`. The body is read from a clone, at most once, so the
 * handler can still read it.
 *
 * @example
 * ```ts
 * const view = fromWebRequest(new Request('https://x.test/api?token=t'))
 * view.query('token') // 't'
 * ```
 */
export function fromWebRequest(request: Request): AuthXRequest {
  let url: URL | undefined
  let cookies: Map<string, string> | undefined
  let body: Promise<unknown> | undefined
  const contentType = () => request.headers.get('content-type')
  const readBody = (): Promise<unknown> => {
    body ??= (async () => {
      if (request.body === null || request.bodyUsed) return undefined
      try {
        if (isJsonContentType(contentType())) return await request.clone().json()
        if (isFormContentType(contentType())) {
          const form = await request.clone().formData()
          const out: Record<string, unknown> = Object.create(null)
          for (const [key, value] of form) if (!(key in out)) out[key] = value
          return out
        }
      } catch {
        // A broken body is not a token: treat as absent.
      }
      return undefined
    })()
    return body
  }
  const parsedUrl = (): URL | undefined => {
    if (url === undefined) {
      try {
        url = new URL(request.url)
      } catch {
        return undefined
      }
    }
    return url
  }
  return {
    method: request.method,
    get path() {
      return decodedPath(parsedUrl()?.pathname)
    },
    header: (name) => request.headers.get(name) ?? undefined,
    cookie: (name) => {
      cookies ??= parseCookieHeader(request.headers.get('cookie'))
      return cookies.get(name)
    },
    query: (name) => parsedUrl()?.searchParams.get(name) ?? undefined,
    json: async () => (isJsonContentType(contentType()) ? readBody() : undefined),
    form: async () =>
      isFormContentType(contentType())
        ? (readBody() as Promise<Record<string, unknown> | undefined>)
        : undefined,
  }
}

/** What frameworks with parsed requests (Express, Fastify, Koa) give a request view. */
export interface ParsedRequestParts {
  readonly method: string
  /** The path without the query string, read lazily; may throw (treated as unknown). */
  path(): string | undefined
  /** Node's lower-case header object. */
  readonly headers: Readonly<Record<string, string | string[] | undefined>>
  /** The parsed query object, read lazily; may throw (treated as absent). */
  query(): unknown
  /** The body a body parser left, read lazily. */
  body(): unknown
  /**
   * How the framework's router compares paths, so route lists match what it routes: Express's
   * `case sensitive routing` and `strict routing` settings, `@koa/router`'s defaults. Default:
   * exact comparison.
   */
  readonly routing?: RouteMatching | undefined
}

/** How a router compares paths. */
export interface RouteMatching {
  /** `/Auth/Logout` is a different route from `/auth/logout`. */
  readonly caseSensitive: boolean
  /** `/auth/logout/` is a different route from `/auth/logout`. */
  readonly strict: boolean
}

/**
 * Whether `route` names `path` for a router that compares paths as `routing` says.
 *
 * @example
 * ```ts
 * sameRoute('/auth/logout', '/Auth/Logout/', { caseSensitive: false, strict: false }) // true
 * ```
 */
export function sameRoute(route: string, path: string, routing: RouteMatching): boolean {
  const normal = (p: string) => {
    const cased = routing.caseSensitive ? p : p.toLowerCase()
    return !routing.strict && cased.length > 1 && cased.endsWith('/') ? cased.slice(0, -1) : cased
  }
  return normal(route) === normal(path)
}

function ownString(container: unknown, name: string): string | undefined {
  if (typeof container !== 'object' || container === null || !Object.hasOwn(container, name)) return undefined
  const value: unknown = (container as Record<string, unknown>)[name]
  return typeof value === 'string' ? value : undefined
}

function attempt<T>(read: () => T): T | undefined {
  try {
    return read()
  } catch {
    return undefined
  }
}

/**
 * A request view over a framework's parsed request: lower-case headers (the first of repeated
 * ones), cookies from the `Cookie` header, a query parameter only when it is one string (a
 * repeated `?token=a&token=b` or nested `?token[a]=b` parameter is not a token), and the parsed
 * body for JSON or form content types (the first of repeated form fields). Nothing throws.
 *
 * @example
 * ```ts
 * const view = parsedRequestView({
 *   method: req.method,
 *   path: () => req.path,
 *   headers: req.headers,
 *   query: () => req.query,
 *   body: () => req.body,
 * })
 * ```
 */
export function parsedRequestView(parts: ParsedRequestParts): AuthXRequest {
  let cookies: Map<string, string> | undefined
  const header = (name: string): string | undefined => {
    const value = parts.headers[name.toLowerCase()]
    return typeof value === 'string' ? value : Array.isArray(value) ? value[0] : undefined
  }
  const body = (): Record<string, unknown> | undefined => {
    const value = attempt(parts.body)
    return typeof value === 'object' && value !== null && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : undefined
  }
  const routing = parts.routing
  return {
    method: parts.method,
    get path() {
      return attempt(parts.path)
    },
    ...(routing === undefined
      ? {}
      : {
          routeMatches(route: string) {
            const path = attempt(parts.path)
            return path !== undefined && sameRoute(route, path, routing)
          },
        }),
    header,
    cookie: (name) => {
      cookies ??= parseCookieHeader(header('cookie'))
      return cookies.get(name)
    },
    query: (name) => ownString(attempt(parts.query), name),
    json: async () => (isJsonContentType(header('content-type')) ? body() : undefined),
    form: async () => {
      const fields = isFormContentType(header('content-type')) ? body() : undefined
      if (fields === undefined) return undefined
      const out: Record<string, unknown> = Object.create(null)
      for (const [key, value] of Object.entries(fields)) out[key] = Array.isArray(value) ? value[0] : value
      return out
    },
  }
}

/**
 * The request view of a view or a Web `Request`.
 *
 * @example
 * ```ts
 * const view = toRequestView(req)
 * ```
 */
export function toRequestView(request: RequestLike): AuthXRequest {
  return typeof Request !== 'undefined' && request instanceof Request
    ? fromWebRequest(request)
    : (request as AuthXRequest)
}
