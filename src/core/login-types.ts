/**
 * Login types (docs/login-types.md, SPEC 9.1): the `login_type` check of an instance with a
 * `loginType`, and the error of a token another instance of the same `AuthManager` would accept.
 * `AuthX` hands over here; the manager itself is in `manager.ts`.
 * @module
 */
import type { AuthX } from './authx.js'
import { InvalidTokenError, LoginTypeMismatchError } from './errors.js'
import type { TokenPayload } from './payload.js'

/** What an instance knows of the manager it is registered with. */
export interface LoginTypeRegistry {
  readonly instances: readonly AuthX[]
}

const registries = new WeakMap<object, LoginTypeRegistry>()

/**
 * Records that `auth` belongs to `registry` (an instance belongs to one manager at most).
 * Returns the registry it already belongs to, if another.
 */
export function joinRegistry(auth: AuthX, registry: LoginTypeRegistry): LoginTypeRegistry | undefined {
  const current = registries.get(auth)
  if (current !== undefined && current !== registry) return current
  registries.set(auth, registry)
  return undefined
}

/**
 * Throws `LoginTypeMismatchError` when the instance has a login type and the token carries
 * another one, or none. An instance without a login type accepts any.
 */
export function checkLoginType(expected: string | undefined, payload: TokenPayload): void {
  if (expected !== undefined && payload.loginType !== expected) {
    throw new LoginTypeMismatchError(expected, payload.loginType ?? null)
  }
}

/**
 * Failures of the instance's own keys and claim expectations: the ones a token of another login
 * type (its own keys, issuer or audience) meets. A malformed, expired or oversized token is that
 * whatever its type, and is reported as it is.
 */
const FOREIGN_REASONS: ReadonlySet<string> = new Set(['signature', 'algorithm', 'issuer', 'audience'])

/**
 * Decodes with the instance's own decoder; when that fails for a reason a token of another login
 * type meets, and another instance of the same manager verifies the token (signature and claims,
 * `login_type` its own), the failure becomes `LoginTypeMismatchError` with `actual` that type.
 * Without a manager this is the decoder, untouched.
 */
export function decodeForLoginType(
  auth: AuthX,
  expected: string,
  token: string,
  decode: (token: string) => TokenPayload | Promise<TokenPayload>,
): TokenPayload | Promise<TokenPayload> {
  const registry = registries.get(auth)
  if (registry === undefined) return decode(token)
  try {
    const decoded = decode(token)
    return decoded instanceof Promise
      ? decoded.catch((err: unknown) => foreign(registry, auth, expected, token, err))
      : decoded
  } catch (err) {
    return foreign(registry, auth, expected, token, err)
  }
}

async function foreign(
  registry: LoginTypeRegistry,
  auth: AuthX,
  expected: string,
  token: string,
  err: unknown,
): Promise<never> {
  if (!(err instanceof InvalidTokenError) || !FOREIGN_REASONS.has(err.reason)) throw err
  for (const other of registry.instances) {
    if (other === auth) continue
    const payload = await other.decodeToken(token).catch(() => undefined)
    const type = other.config.loginType
    if (payload !== undefined && type !== undefined && payload.loginType === type) {
      throw new LoginTypeMismatchError(expected, type)
    }
  }
  throw err
}
