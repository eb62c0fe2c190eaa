/**
 * Durations: a number of seconds, or `'<n>s' | '<n>m' | '<n>h' | '<n>d' | '<n>w'`.
 * @module
 */

/** A number of seconds, or a string such as `'15m'`, `'20d'`. */
export type Duration = number | `${number}${'s' | 'm' | 'h' | 'd' | 'w'}`

const UNIT_SECONDS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86_400, w: 604_800 }
const DURATION_RE = /^([1-9][0-9]{0,9})([smhdw])$/
/** 100 years: longer lifetimes are mistakes, and would overflow dates (`exp * 1000`). */
export const MAX_DURATION_SECONDS = 100 * 365 * 86_400

/**
 * Parses a Duration to whole seconds, or returns `undefined` when it is not one.
 * Numbers must be positive whole seconds; strings a positive integer and one unit; at most 100 years.
 *
 * @example
 * ```ts
 * parseDuration('15m') // 900
 * parseDuration(60) // 60
 * parseDuration('1.5h') // undefined
 * ```
 */
export function parseDuration(value: unknown): number | undefined {
  if (typeof value === 'number') {
    return Number.isSafeInteger(value) && value > 0 && value <= MAX_DURATION_SECONDS ? value : undefined
  }
  if (typeof value !== 'string') return undefined
  const match = DURATION_RE.exec(value)
  if (match === null) return undefined
  const seconds = Number(match[1]) * (UNIT_SECONDS[match[2] as string] as number)
  return seconds <= MAX_DURATION_SECONDS ? seconds : undefined
}

/**
 * Parses a Duration or throws a `TypeError` naming `what`.
 *
 * @example
 * ```ts
 * durationSeconds('2h', 'expiry') // 7200
 * ```
 */
export function durationSeconds(value: unknown, what: string): number {
  const seconds = parseDuration(value)
  if (seconds === undefined) {
    throw new TypeError(`${what}: expected a Duration (positive whole seconds or '<n>s|m|h|d|w')`)
  }
  return seconds
}
