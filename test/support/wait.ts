/**
 * Waiting in tests for something another connection or process does: bounded, never a fixed
 * sleep standing in for "long enough".
 */

/**
 * Resolves once `check` is true, polling every `stepMs`; rejects after `timeoutMs`, naming `what`.
 *
 * @example
 * await waitFor(() => events.length > 0, 'the first event')
 */
export async function waitFor(
  check: () => boolean | Promise<boolean>,
  what: string,
  timeoutMs = 10_000,
  stepMs = 10,
): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, stepMs))
  }
}
