/**
 * `authx token verify`: everything `auth.verifyToken` checks (signature, algorithm, structure,
 * `exp`/`nbf`/`iat`, issuer, audience, token type), with the configured key. Valid: the claims on
 * stdout, exit 0. Invalid: one line on stderr starting with the error code, exit 1. Revocation
 * is not checked: the command line has no store to share with a service.
 * @module
 */
import type { AuthX } from 'authx'
import { type Io, print } from './io.js'

/**
 * Verifies the token and prints its claims; throws the core's error otherwise.
 *
 * @example
 * ```ts
 * await tokenVerify(io, auth, token, { type: 'access', json: false })
 * ```
 */
export async function tokenVerify(
  io: Io,
  auth: AuthX,
  token: string,
  options: { type: 'access' | 'refresh'; json: boolean },
): Promise<void> {
  const payload = await auth.verifyToken(token, { type: options.type })
  print(io, options.json, JSON.stringify(payload.claims, null, 2), payload.claims)
}
