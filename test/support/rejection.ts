/**
 * The error a promise rejects with, for tests that assert on it; a promise that resolves fails the
 * test.
 */

/**
 * Awaits `promise` and returns what it rejects with; throws when it resolves.
 * @example
 * const err = await rejection(auth.verifyToken(token))
 * expect(err).toBeInstanceOf(InvalidTokenError)
 */
export async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise
  } catch (err) {
    return err
  }
  throw new Error('expected a rejection')
}
