/**
 * The `htu` comparison of DPoP (RFC 9449 section 4.3, check 9): both URIs without query and
 * fragment, normalised per RFC 3986 sections 6.2.2 (case, percent-encoding, dot segments) and
 * 6.2.3 (default port, empty path).
 * @module
 */

/** Visible ASCII only: the WHATWG parser silently drops tabs and newlines, RFC 3986 has none. */
const URI_CHARACTERS = /^[\x21-\x5b\x5d-\x7e]+$/
const PERCENT = /%([0-9A-Fa-f]{2})/g
/** RFC 3986 section 2.3. */
const UNRESERVED = /^[A-Za-z0-9\-._~]$/

/**
 * The normal form `scheme://host[:port]/path` of an `http` or `https` URI as a proof states it,
 * or `undefined` when it is not one (another scheme, userinfo, characters outside visible ASCII
 * or a backslash, which the WHATWG parser would quietly repair). The WHATWG URL parser does the
 * scheme and host case, the default port, the empty path and the dot segments (including
 * `%2E` ones); {@link normalPath} does the percent-encoding.
 *
 * @example
 * ```ts
 * normalHttpUri('HTTPS://API.example.com:443/a/../b%7e?q=1') // 'https://api.example.com/b~'
 * ```
 */
export function normalHttpUri(uri: string): string | undefined {
  if (!URI_CHARACTERS.test(uri)) return undefined
  return normalUrl(uri)
}

/**
 * {@link normalHttpUri} of the URL a request addressed (built by an adapter, so not held to the
 * character rule), or of `origin` plus the request URL's path when a public origin is configured
 * (behind a TLS-terminating proxy the server cannot know its public scheme and host). A relative
 * URL is resolved against `origin`; without an origin it cannot be checked (`undefined`).
 *
 * @example
 * ```ts
 * requestHtu('http://10.0.0.5:3000/api/me?x=1', 'https://api.example.com') // 'https://api.example.com/api/me'
 * ```
 */
export function requestHtu(url: string | undefined, origin: string | undefined): string | undefined {
  if (url === undefined) return undefined
  if (origin === undefined) return normalUrl(url)
  let parsed: URL
  try {
    parsed = new URL(url, origin)
  } catch {
    return undefined
  }
  return `${origin}${normalPath(parsed.pathname)}`
}

function normalUrl(uri: string): string | undefined {
  let url: URL
  try {
    url = new URL(uri)
  } catch {
    return undefined
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return undefined
  if (url.username !== '' || url.password !== '') return undefined
  return `${url.protocol}//${url.host}${normalPath(url.pathname)}`
}

/**
 * A WHATWG-parsed path with RFC 3986 section 6.2.2.2 percent-encoding normalisation: escapes of
 * unreserved characters decoded, every other escape in upper case. The parser has already removed
 * dot segments, `%2E` ones included, so decoding `%2E` here cannot make a new one.
 *
 * @example
 * ```ts
 * normalPath('/a%7e/%2f') // '/a~/%2F'
 * ```
 */
export function normalPath(path: string): string {
  return path.replace(PERCENT, (_escape, hex: string) => {
    const char = String.fromCharCode(Number.parseInt(hex, 16))
    return UNRESERVED.test(char) ? char : `%${hex.toUpperCase()}`
  })
}
