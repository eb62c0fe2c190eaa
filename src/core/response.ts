/**
 * How an error becomes an HTTP answer (docs/locations-and-csrf.md): the same for every adapter.
 * @module
 */
import { AUTHX_ERROR_BRAND, type AuthXError, type AuthXErrorJSON, challengeHeaders } from './errors.js'
import { emitWarning } from './runtime.js'

/** Status, headers and JSON body of an error answer. */
export interface ErrorResponseParts<Body = AuthXErrorJSON> {
  status: number
  headers: Record<string, string>
  body: Body
}

/**
 * Reshapes the JSON body of error answers (an adapter's `errorBody` option), as flask-jwt-extended's
 * loaders and Python AuthX's `handle_errors` do. Status and headers stay authx's.
 *
 * @example
 * ```ts
 * const errorBody: ErrorBodyFormatter = (err) => ({ error: { code: err.code, detail: err.message } })
 * ```
 */
export type ErrorBodyFormatter = (error: AuthXError) => unknown

/**
 * The response for an `AuthXError`: status, `{ code, message, ... }`, `Cache-Control: no-store`,
 * `WWW-Authenticate` for 401/403 and `Retry-After` for 429/503.
 *
 * @example
 * ```ts
 * const { status, headers, body } = errorResponse(err)
 * res.status(status).set(headers).json(body)
 * ```
 */
export function errorResponse(error: AuthXError): ErrorResponseParts
export function errorResponse(
  error: AuthXError,
  errorBody: ErrorBodyFormatter | undefined,
): ErrorResponseParts<unknown>
export function errorResponse(
  error: AuthXError,
  errorBody?: ErrorBodyFormatter,
): ErrorResponseParts<unknown> {
  const headers: Record<string, string> = {
    'content-type': 'application/json; charset=utf-8',
    'cache-control': 'no-store',
  }
  const www = error.wwwAuthenticate
  if (www !== undefined) headers['www-authenticate'] = www
  const retryAfter = (error as { retryAfter?: unknown }).retryAfter
  if ((error.status === 503 || error.status === 429) && typeof retryAfter === 'number') {
    headers['retry-after'] = String(retryAfter)
  }
  // A limiter's RateLimit-Policy and RateLimit headers go with its 429 (RateLimitError.headers).
  if (error.status === 429) {
    const extra = (error as { headers?: unknown }).headers
    if (typeof extra === 'object' && extra !== null) {
      for (const [name, value] of Object.entries(extra)) if (typeof value === 'string') headers[name] = value
    }
  }
  // A DPoP instance's challenge headers (DPoP-Nonce) go with its 401.
  const challenge = challengeHeaders(error)
  if (challenge !== undefined) Object.assign(headers, challenge)
  return { status: error.status, headers, body: formatBody(error, errorBody) }
}

function formatBody(error: AuthXError, errorBody: ErrorBodyFormatter | undefined): unknown {
  const standard: AuthXErrorJSON = error.toJSON()
  if (errorBody === undefined) return standard
  try {
    const body = errorBody(error)
    if (body !== undefined) return body
  } catch (err) {
    // A formatter bug must not turn a 401 into a 500, nor hide the answer: the standard body goes.
    emitWarning(
      `authx: errorBody threw (${err instanceof Error ? err.message : String(err)}); sent the standard body`,
      'AUTHX_ERROR_BODY',
    )
  }
  return standard
}

/**
 * A Web `Response` for an `AuthXError`.
 *
 * @example
 * ```ts
 * return errorToResponse(err)
 * ```
 */
export function errorToResponse(error: AuthXError, errorBody?: ErrorBodyFormatter): Response {
  const { status, headers, body } = errorResponse(error, errorBody)
  return new Response(JSON.stringify(body), { status, headers })
}

/**
 * Whether a thrown value is an authx error (adapters map these and pass everything else on).
 *
 * @example
 * ```ts
 * if (isAuthXError(err)) return errorToResponse(err)
 * ```
 */
export function isAuthXError(value: unknown): value is AuthXError {
  return (
    typeof value === 'object' &&
    value !== null &&
    (value as Record<symbol, unknown>)[AUTHX_ERROR_BRAND] === true
  )
}
