/**
 * `authx jwks`: the public JWK set of the configured key(s), for `/.well-known/jwks.json`. It is
 * `auth.jwks()`, so it never holds private or secret material: an HMAC key gives an empty set
 * (and a note on stderr saying why).
 * @module
 */
import type { AuthX } from 'authx'
import { type Io, print } from './io.js'

/**
 * Prints the set.
 *
 * @example
 * ```ts
 * await jwks(io, auth, { json: false })
 * ```
 */
export async function jwks(io: Io, auth: AuthX, options: { json: boolean }): Promise<void> {
  const set = await auth.jwks()
  if (set.keys.length === 0 && !options.json) {
    io.err('note: HMAC secrets are never published; the set is empty\n')
  }
  print(io, options.json, JSON.stringify(set, null, 2), set)
}
