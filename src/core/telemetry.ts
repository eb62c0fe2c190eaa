/**
 * Optional OpenTelemetry spans and metrics (docs/telemetry.md). Nothing here loads
 * `@opentelemetry/api` unless the `telemetry` option asks for it. STUB: filled in by the
 * telemetry work.
 * @module
 */
import { ConfigError } from './errors.js'
import type { Emitter } from './events.js'
import type { AuthXStore } from './store.js'

/** The `telemetry` option. */
export type TelemetryOptions = false

/** The resolved `telemetry` option: `undefined` when off. */
export type ResolvedTelemetry = undefined

/** The operations authx traces. */
export type TelemetryOperation = 'verify' | 'refresh' | 'revoke'

/** What the instance calls; absent when telemetry is off, so the off path costs one check. */
export interface Telemetry {
  /** The store seen through spans and a latency histogram per call. */
  instrumentStore<S extends AuthXStore>(store: S): S
  /**
   * Runs one operation in its span. `attributes` is read when the operation ends (the token's
   * location is known only then); a rejection counts its error code.
   */
  run<T>(
    operation: TelemetryOperation,
    fn: () => Promise<T>,
    attributes?: () => Readonly<Record<string, string | undefined>>,
  ): Promise<T>
}

/**
 * Checks the `telemetry` option once, at construction.
 *
 * @example
 * ```ts
 * resolveTelemetry(undefined) // undefined
 * ```
 */
export function resolveTelemetry(value: unknown): ResolvedTelemetry {
  if (value === undefined || value === false) return undefined
  throw new ConfigError('telemetry: not supported yet')
}

/**
 * The instance's telemetry, or `undefined` when off.
 *
 * @example
 * ```ts
 * const telemetry = createTelemetry(config.telemetry, events)
 * ```
 */
export function createTelemetry(_resolved: ResolvedTelemetry, _events: Emitter): Telemetry | undefined {
  return undefined
}
