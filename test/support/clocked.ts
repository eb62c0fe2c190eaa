/**
 * An instance on a clock the test moves, with its own MemoryStore on the same clock.
 */
import { AuthX, type AuthXOptions, MemoryStore } from '../../src/index.js'

/** 2023-11-14T22:13:20Z: a fixed start, so expiries are exact. */
export const START = 1_700_000_000_000

export function clockedAuth(secretKey: string, options: AuthXOptions = {}) {
  let now = START
  const clock = () => now
  const store = new MemoryStore({ clock })
  const auth = new AuthX({ secretKey, clock, store, ...options })
  return {
    auth,
    store,
    advance(ms: number) {
      now += ms
    },
  }
}
