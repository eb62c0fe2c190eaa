/**
 * Double-submit CSRF comparison. The expected value is the `csrf` claim inside the signed
 * token, so a cookie tossed in by a sibling subdomain cannot supply it.
 * @module
 */

/**
 * Compares two strings in time that depends only on their lengths; never throws, whatever the
 * lengths (unlike `timingSafeEqual`).
 *
 * @example
 * ```ts
 * constantTimeEqual('abc', 'abc') // true
 * constantTimeEqual('abc', 'abcd') // false
 * ```
 */
export function constantTimeEqual(a: string, b: string): boolean {
  // Compare against `a` itself when lengths differ so the loop still runs over `a`.
  const other = a.length === b.length ? b : a
  let diff = a.length === b.length ? 0 : 1
  for (let i = 0; i < a.length; i++) diff |= a.charCodeAt(i) ^ other.charCodeAt(i)
  return diff === 0
}
