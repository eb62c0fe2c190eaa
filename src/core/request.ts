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
   * The absolute URL the client addressed (scheme, host, path, maybe a query), as sent: DPoP
   * proofs are checked against it (docs/dpop.md). Absent when the adapter cannot tell.
   */
  readonly url?: string | undefined
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
 * leaves the path as sent (routers do not route it to a named path either). A query string or
 * fragment is cut off first.
 *
 * @example
 * ```ts
 * decodedPath('/pro%66ile?x=1') // '/profile'
 * ```
 */
export function decodedPath(raw: string | undefined): string | undefined {
  if (raw === undefined) return undefined
  const end = raw.search(/[?#]/)
  if (end >= 0) raw = raw.slice(0, end)
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
  return new WebView(request)
}

/** `fromWebRequest` as a class: nothing is parsed (URL, cookies, body) until asked for. */
class WebView implements AuthXRequest {
  readonly #request: Request
  #url: URL | null | undefined
  #cookies: Map<string, string> | undefined
  #body: Promise<unknown> | undefined

  constructor(request: Request) {
    this.#request = request
  }

  get method(): string {
    return this.#request.method
  }

  get path(): string | undefined {
    return decodedPath(this.#parsedUrl()?.pathname)
  }

  get url(): string {
    return this.#request.url
  }

  header(name: string): string | undefined {
    return this.#request.headers.get(name) ?? undefined
  }

  cookie(name: string): string | undefined {
    this.#cookies ??= parseCookieHeader(this.#request.headers.get('cookie'))
    return this.#cookies.get(name)
  }

  query(name: string): string | undefined {
    return this.#parsedUrl()?.searchParams.get(name) ?? undefined
  }

  async json(): Promise<unknown> {
    return isJsonContentType(this.#request.headers.get('content-type')) ? this.#readBody() : undefined
  }

  async form(): Promise<Record<string, unknown> | undefined> {
    return isFormContentType(this.#request.headers.get('content-type'))
      ? (this.#readBody() as Promise<Record<string, unknown> | undefined>)
      : undefined
  }

  #parsedUrl(): URL | undefined {
    if (this.#url === undefined) {
      try {
        this.#url = new URL(this.#request.url)
      } catch {
        this.#url = null
      }
    }
    return this.#url ?? undefined
  }

  #readBody(): Promise<unknown> {
    this.#body ??= readWebBody(this.#request)
    return this.#body
  }
}

/** The JSON or form body of a Web request, read from a clone so the handler can still read it. */
async function readWebBody(request: Request): Promise<unknown> {
  if (request.body === null || request.bodyUsed) return undefined
  const contentType = request.headers.get('content-type')
  try {
    if (isJsonContentType(contentType)) return await request.clone().json()
    if (isFormContentType(contentType)) {
      const form = await request.clone().formData()
      const out: Record<string, unknown> = Object.create(null)
      for (const [key, value] of form) if (!(key in out)) out[key] = value
      return out
    }
  } catch {
    // A broken body is not a token: treat as absent.
  }
  return undefined
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
  /** The absolute URL the client addressed (see `AuthXRequest.url`); may throw. */
  url?(): string | undefined
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
  return parts.routing === undefined
    ? new ReaderView(parts, PARTS_READER)
    : new RoutedView(parts, PARTS_READER)
}

/**
 * How to read a framework's request, as functions of the request shared by every request (so a
 * view costs one small object, not a closure per part). The adapters use it with their request
 * objects; `parsedRequestView` uses it with the parts a caller hands over.
 */
export interface RequestReader<Source> {
  method(source: Source): string
  /** The path without the query string; may throw (treated as unknown). */
  path(source: Source): string | undefined
  /** Node's lower-case header object. */
  headers(source: Source): Readonly<Record<string, string | string[] | undefined>>
  /** The parsed query object; may throw (treated as absent). */
  query(source: Source): unknown
  /** The body a body parser left; may throw (treated as absent). */
  body(source: Source): unknown
  /** How the framework's router compares paths (see `ParsedRequestParts.routing`). */
  routing?(source: Source): RouteMatching | undefined
  /** The absolute URL the client addressed (see `AuthXRequest.url`); may throw (treated as unknown). */
  url?(source: Source): string | undefined
}

const PARTS_READER: RequestReader<ParsedRequestParts> = {
  method: (parts) => parts.method,
  path: (parts) => parts.path(),
  headers: (parts) => parts.headers,
  query: (parts) => parts.query(),
  body: (parts) => parts.body(),
  routing: (parts) => parts.routing,
  url: (parts) => parts.url?.(),
}

/**
 * The view of `parsedRequestView` over any request object and a reader of it: lower-case
 * headers (the first of repeated ones), cookies from the `Cookie` header, a query parameter only
 * when it is one string, the parsed body for JSON or form content types. Nothing throws, and
 * nothing is read until asked for.
 *
 * @example
 * ```ts
 * const view = readerView(req, { method: (r) => r.method, path: (r) => r.path, headers: (r) => r.headers, query: (r) => r.query, body: (r) => r.body })
 * ```
 */
export function readerView<Source>(source: Source, reader: RequestReader<Source>): AuthXRequest {
  return reader.routing === undefined ? new ReaderView(source, reader) : new RoutedView(source, reader)
}

class ReaderView<Source> implements AuthXRequest {
  readonly #source: Source
  readonly #reader: RequestReader<Source>
  #cookies: Map<string, string> | undefined

  constructor(source: Source, reader: RequestReader<Source>) {
    this.#source = source
    this.#reader = reader
  }

  get method(): string {
    return this.#reader.method(this.#source)
  }

  get path(): string | undefined {
    return attempt(() => this.#reader.path(this.#source))
  }

  get url(): string | undefined {
    return attempt(() => this.#reader.url?.(this.#source))
  }

  header(name: string): string | undefined {
    const value = this.#reader.headers(this.#source)[name.toLowerCase()]
    return typeof value === 'string' ? value : Array.isArray(value) ? value[0] : undefined
  }

  cookie(name: string): string | undefined {
    this.#cookies ??= parseCookieHeader(this.header('cookie'))
    return this.#cookies.get(name)
  }

  query(name: string): string | undefined {
    return ownString(
      attempt(() => this.#reader.query(this.#source)),
      name,
    )
  }

  async json(): Promise<unknown> {
    return isJsonContentType(this.header('content-type')) ? this.#body() : undefined
  }

  async form(): Promise<Record<string, unknown> | undefined> {
    const fields = isFormContentType(this.header('content-type')) ? this.#body() : undefined
    if (fields === undefined) return undefined
    const out: Record<string, unknown> = Object.create(null)
    for (const [key, value] of Object.entries(fields)) out[key] = Array.isArray(value) ? value[0] : value
    return out
  }

  /** How the router compares paths, when the reader knows. */
  protected routing(): RouteMatching | undefined {
    return attempt(() => this.#reader.routing?.(this.#source))
  }

  #body(): Record<string, unknown> | undefined {
    const value = attempt(() => this.#reader.body(this.#source))
    return typeof value === 'object' && value !== null && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : undefined
  }
}

/** A view whose reader knows how the framework's router compares paths. */
class RoutedView<Source> extends ReaderView<Source> {
  routeMatches(route: string): boolean {
    const path = this.path
    const routing = this.routing()
    return path !== undefined && sameRoute(route, path, routing ?? EXACT)
  }
}

/** Paths compared exactly. */
const EXACT: RouteMatching = { caseSensitive: true, strict: true }

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
