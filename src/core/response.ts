/**
 * How an error becomes an HTTP answer (SPEC section 5): the same for every adapter.
 * @module
 */
import { AuthXError, type AuthXErrorJSON, RateLimitError, StoreUnavailableError } from './errors.js'

/** Status, headers and JSON body of an error answer. */
export interface ErrorResponseParts {
  status: number
  headers: Record<string, string>
  body: AuthXErrorJSON
}

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
export function errorResponse(error: AuthXError): ErrorResponseParts {
  const headers: Record<string, string> = {
    'content-type': 'application/json; charset=utf-8',
    'cache-control': 'no-store',
  }
  const www = error.wwwAuthenticate
  if (www !== undefined) headers['www-authenticate'] = www
  if (error instanceof StoreUnavailableError || error instanceof RateLimitError) {
    headers['retry-after'] = String(error.retryAfter)
  }
  return { status: error.status, headers, body: error.toJSON() }
}

/**
 * A Web `Response` for an `AuthXError`.
 *
 * @example
 * ```ts
 * return errorToResponse(err)
 * ```
 */
export function errorToResponse(error: AuthXError): Response {
  const { status, headers, body } = errorResponse(error)
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
  return value instanceof AuthXError
}
