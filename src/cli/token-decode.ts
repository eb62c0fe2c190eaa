/**
 * `authx token decode`: a token's header and claims WITHOUT checking anything (and it says so),
 * with `iat`, `nbf` and `exp` also as ISO dates, and "expires in ..." / "expired ... ago". It
 * needs no key. It reads with the core's strict parser, so a token the library would call
 * malformed is refused here too (exit 1).
 * @module
 */
import { randomBytes } from 'node:crypto'
import { AuthX } from 'authx'
import { type Io, print } from './io.js'

/**
 * Decodes and prints the token; `now` is the moment "expires in" counts from.
 *
 * @example
 * ```ts
 * tokenDecode(io, token, { json: false, now: Date.now() })
 * ```
 */
export function tokenDecode(io: Io, token: string, options: { json: boolean; now: number }): void {
  // decodeUnverified checks nothing a key is needed for; the instance exists only to call it.
  const { header, payload } = new AuthX({ secretKey: randomBytes(32) }).decodeUnverified(token)
  const { now } = options
  const dates = {
    issuedAt: isoDate(payload.iat),
    notBefore: isoDate(payload.nbf),
    expiresAt: isoDate(payload.exp),
  }
  const exp = typeof payload.exp === 'number' && dates.expiresAt !== null ? payload.exp * 1000 : undefined
  const expired = exp !== undefined && exp <= now
  const lines = [
    'NOT VERIFIED: decoded without checking the signature or any claim (authx token verify checks them).',
    'Header:',
    JSON.stringify(header, null, 2),
    'Claims:',
    JSON.stringify(payload, null, 2),
  ]
  if (dates.issuedAt !== null)
    lines.push(`Issued at:  ${dates.issuedAt} (${relative(payload.iat as number, now)})`)
  if (dates.notBefore !== null)
    lines.push(`Not before: ${dates.notBefore} (${relative(payload.nbf as number, now)})`)
  if (exp === undefined) lines.push('Expires:    never (no exp claim)')
  else {
    const span = humanDuration(exp - now)
    lines.push(`Expires at: ${dates.expiresAt} (${expired ? `expired ${span} ago` : `expires in ${span}`})`)
  }
  print(io, options.json, lines.join('\n'), { verified: false, header, payload, ...dates, expired })
}

/** A NumericDate claim as an ISO date; `null` when absent, not a number or out of Date's range. */
function isoDate(seconds: unknown): string | null {
  if (typeof seconds !== 'number' || !Number.isFinite(seconds) || Math.abs(seconds) > 8.64e12) return null
  return new Date(seconds * 1000).toISOString()
}

function relative(seconds: number, now: number): string {
  const ms = seconds * 1000 - now
  return ms > 0 ? `in ${humanDuration(ms)}` : `${humanDuration(ms)} ago`
}

/**
 * A span of time in the largest unit that keeps it readable: "45 seconds", "15 minutes",
 * "3 hours", "20 days".
 *
 * @example
 * ```ts
 * humanDuration(900_000) // '15 minutes'
 * ```
 */
export function humanDuration(ms: number): string {
  const seconds = Math.round(Math.abs(ms) / 1000)
  const [amount, unit] =
    seconds < 90
      ? [seconds, 'second']
      : seconds < 90 * 60
        ? [Math.round(seconds / 60), 'minute']
        : seconds < 48 * 3600
          ? [Math.round(seconds / 3600), 'hour']
          : [Math.round(seconds / 86_400), 'day']
  return `${amount} ${unit}${amount === 1 ? '' : 's'}`
}
