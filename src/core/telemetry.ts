/**
 * Optional OpenTelemetry spans and metrics (docs/telemetry.md). Nothing here loads
 * `@opentelemetry/api` unless the `telemetry` option is `true`: a tracer and a meter handed over
 * by the user are used through the few methods declared below, so the package (an optional peer
 * dependency) is needed neither to build nor to run authx without telemetry.
 * @module
 */
import { AuthXError, ConfigError } from './errors.js'
import type { Emitter } from './events.js'
import { TokenPayload } from './payload.js'
import { processLike } from './runtime.js'
import type { AuthXStore } from './store.js'

/**
 * Span and metric attributes as OpenTelemetry takes them.
 *
 * @example
 * ```ts
 * const attributes: TelemetryAttributes = { 'authx.error.code': 'ERR_TOKEN_EXPIRED' }
 * ```
 */
export type TelemetryAttributes = Record<string, string | number | boolean>

/**
 * The part of `@opentelemetry/api`'s `Span` that authx calls. Declared here so authx's types do
 * not depend on the package; a real `Span` fits.
 *
 * @example
 * ```ts
 * const span: TelemetrySpan = trace.getTracer('authx').startSpan('authx.verify')
 * ```
 */
export interface TelemetrySpan {
  setAttribute(key: string, value: string | number | boolean): unknown
  setStatus(status: { code: number; message?: string }): unknown
  end(): void
}

/**
 * Options of a span authx starts: its attributes.
 *
 * @example
 * ```ts
 * const options: TelemetrySpanOptions = { attributes: { 'authx.operation': 'verify' } }
 * ```
 */
export interface TelemetrySpanOptions {
  attributes?: TelemetryAttributes
}

/**
 * The part of `@opentelemetry/api`'s `Tracer` that authx calls: a tracer from
 * `trace.getTracer('authx')` or from a provider fits.
 *
 * @example
 * ```ts
 * import { trace } from '@opentelemetry/api'
 * const tracer: TelemetryTracer = trace.getTracer('authx')
 * ```
 */
export interface TelemetryTracer {
  startSpan(name: string, options?: TelemetrySpanOptions): TelemetrySpan
  startActiveSpan<F extends (span: TelemetrySpan) => unknown>(
    name: string,
    options: TelemetrySpanOptions,
    fn: F,
  ): ReturnType<F>
}

/**
 * The part of `@opentelemetry/api`'s `Counter` that authx calls.
 *
 * @example
 * ```ts
 * const counter: TelemetryCounter = metrics.getMeter('authx').createCounter('authx.errors')
 * ```
 */
export interface TelemetryCounter {
  add(value: number, attributes?: TelemetryAttributes): void
}

/**
 * The part of `@opentelemetry/api`'s `Histogram` that authx calls.
 *
 * @example
 * ```ts
 * const histogram: TelemetryHistogram = metrics.getMeter('authx').createHistogram('authx.store.duration')
 * ```
 */
export interface TelemetryHistogram {
  record(value: number, attributes?: TelemetryAttributes): void
}

/**
 * The part of `@opentelemetry/api`'s `Meter` that authx calls: a meter from
 * `metrics.getMeter('authx')` or from a `MeterProvider` fits.
 *
 * @example
 * ```ts
 * import { metrics } from '@opentelemetry/api'
 * const meter: TelemetryMeter = metrics.getMeter('authx')
 * ```
 */
export interface TelemetryMeter {
  createCounter(name: string, options?: { description?: string; unit?: string }): TelemetryCounter
  createHistogram(
    name: string,
    options?: { description?: string; unit?: string; advice?: { explicitBucketBoundaries?: number[] } },
  ): TelemetryHistogram
}

/**
 * The `telemetry` option (docs/telemetry.md). Default off.
 *
 * - `true`: the global OpenTelemetry API (`trace.getTracer('authx')`, `metrics.getMeter('authx')`),
 *   loaded from `@opentelemetry/api` with Node's module loader when the instance is created.
 *   Start the OpenTelemetry SDK first: a meter taken before a global meter provider is set
 *   records nothing.
 * - `{ tracer, meter }`: the tracer and/or meter to use (at least one); authx loads nothing. The
 *   way on runtimes without Node's module loader (Workers, browsers).
 * - `false` or absent: off; the `@opentelemetry/api` package is never loaded.
 *
 * @example
 * ```ts
 * new AuthX({ secretKey, telemetry: true })
 * new AuthX({ secretKey, telemetry: { tracer: trace.getTracer('authx'), meter: metrics.getMeter('authx') } })
 * ```
 */
export type TelemetryOptions =
  | boolean
  | {
      /** Spans of verification, refresh, revocation and store calls. Default: no spans. */
      tracer?: TelemetryTracer | undefined
      /** Error, store latency, store failure and reuse metrics. Default: no metrics. */
      meter?: TelemetryMeter | undefined
    }

/**
 * The resolved `telemetry` option: `undefined` when off.
 *
 * @example
 * ```ts
 * auth.config.telemetry?.tracer // the tracer in use, if any
 * ```
 */
export type ResolvedTelemetry =
  | Readonly<{ tracer: TelemetryTracer | undefined; meter: TelemetryMeter | undefined }>
  | undefined

/**
 * The operations authx traces; the span of each is `authx.<operation>`.
 *
 * @example
 * ```ts
 * const operation: TelemetryOperation = 'verify'
 * ```
 */
export type TelemetryOperation = 'verify' | 'refresh' | 'revoke'

/**
 * What the instance calls; absent when telemetry is off, so the off path costs one check.
 *
 * @example
 * ```ts
 * const store = telemetry.instrumentStore(new MemoryStore())
 * await telemetry.run('verify', () => verify(token), () => ({ location: 'headers' }))
 * ```
 */
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

/** The subset of `@opentelemetry/api` that `telemetry: true` uses. */
interface OpenTelemetryApi {
  trace: { getTracer(name: string): TelemetryTracer }
  metrics: { getMeter(name: string): TelemetryMeter }
}

/** The instrumentation scope name of authx's tracer and meter. */
const SCOPE = 'authx'

/** `SpanStatusCode.ERROR` of `@opentelemetry/api` (a stable numeric enum). */
const STATUS_ERROR = 2

/**
 * The store methods traced, one span each: the data calls. Others (`close`, `onEvent`, a
 * store's own extras) pass through, bound to the store.
 */
const TRACED_METHODS: ReadonlySet<PropertyKey> = new Set([
  'get',
  'getLocal',
  'set',
  'setIfAbsent',
  'delete',
  'hit',
  'putIndexed',
  'updateIndexed',
  'listIndexed',
  'deleteIndexed',
])

/**
 * Bucket bounds of the store latency histogram, in milliseconds: a memory read takes microseconds
 * and a network store a millisecond or more, which the SDK's default bounds (0, 5, 10, ...)
 * would put in one bucket.
 */
const LATENCY_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000]

let api: OpenTelemetryApi | undefined

/**
 * `@opentelemetry/api`, loaded on first use without a static import, so that authx without
 * telemetry never needs or loads it. Resolved from this file as an import would be (the CommonJS
 * build gets `import.meta.url` from tsup's shim).
 */
function loadApi(): OpenTelemetryApi {
  if (api === undefined) {
    const nodeModule = processLike()?.getBuiltinModule?.('node:module') as
      | typeof import('node:module')
      | undefined
    if (typeof nodeModule?.createRequire !== 'function') {
      throw new ConfigError(
        "telemetry: true loads @opentelemetry/api with Node's module loader, which this runtime does not have; pass { tracer, meter } from your own import of @opentelemetry/api instead",
      )
    }
    let loaded: Partial<OpenTelemetryApi>
    try {
      loaded = nodeModule.createRequire(import.meta.url)('@opentelemetry/api') as Partial<OpenTelemetryApi>
    } catch (cause) {
      throw new ConfigError(
        'telemetry: true needs @opentelemetry/api, which could not be loaded (npm install @opentelemetry/api)',
        { cause },
      )
    }
    if (typeof loaded.trace?.getTracer !== 'function' || typeof loaded.metrics?.getMeter !== 'function') {
      throw new ConfigError(
        'telemetry: @opentelemetry/api has no trace and metrics API (version 1.3 or later needed)',
      )
    }
    api = loaded as OpenTelemetryApi
  }
  return api
}

function hasMethods(value: unknown, names: readonly string[]): boolean {
  return (
    typeof value === 'object' &&
    value !== null &&
    names.every((name) => typeof (value as Record<string, unknown>)[name] === 'function')
  )
}

/**
 * Checks the `telemetry` option once, at construction; with `true`, loads `@opentelemetry/api`
 * and takes the global tracer and meter.
 *
 * @example
 * ```ts
 * resolveTelemetry(undefined) // undefined
 * resolveTelemetry({ tracer }) // { tracer, meter: undefined }
 * ```
 */
export function resolveTelemetry(value: unknown): ResolvedTelemetry {
  if (value === undefined || value === false) return undefined
  if (value === true) {
    const otel = loadApi()
    return Object.freeze({ tracer: otel.trace.getTracer(SCOPE), meter: otel.metrics.getMeter(SCOPE) })
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new ConfigError('telemetry: expected true, false or { tracer, meter }')
  }
  const options = value as Record<string, unknown>
  for (const key of Object.keys(options)) {
    if (key !== 'tracer' && key !== 'meter') {
      throw new ConfigError(`telemetry.${key}: unknown option (expected tracer or meter)`)
    }
  }
  const { tracer, meter } = options
  if (tracer !== undefined && !hasMethods(tracer, ['startSpan', 'startActiveSpan'])) {
    throw new ConfigError('telemetry.tracer: expected an OpenTelemetry Tracer (trace.getTracer(...))')
  }
  if (meter !== undefined && !hasMethods(meter, ['createCounter', 'createHistogram'])) {
    throw new ConfigError('telemetry.meter: expected an OpenTelemetry Meter (metrics.getMeter(...))')
  }
  if (tracer === undefined && meter === undefined) {
    // `{}` would look like telemetry and record nothing.
    throw new ConfigError('telemetry: give a tracer, a meter or both (or true for the global API)')
  }
  return Object.freeze({
    tracer: tracer as TelemetryTracer | undefined,
    meter: meter as TelemetryMeter | undefined,
  })
}

/**
 * The instance's telemetry, or `undefined` when off. Subscribes to the instance's events for
 * the reuse and circuit-breaker counters.
 *
 * @example
 * ```ts
 * const telemetry = createTelemetry(config.telemetry, events)
 * ```
 */
export function createTelemetry(resolved: ResolvedTelemetry, events: Emitter): Telemetry | undefined {
  if (resolved === undefined) return undefined
  return new OpenTelemetry(resolved.tracer, resolved.meter, events)
}

/** The metric instruments, when there is a meter. */
interface Instruments {
  readonly errors: TelemetryCounter
  readonly storeDuration: TelemetryHistogram
  readonly storeFailures: TelemetryCounter
  readonly reused: TelemetryCounter
}

function instruments(meter: TelemetryMeter): Instruments {
  return {
    errors: meter.createCounter('authx.errors', {
      description: 'Operations of authx that failed, by error code',
      unit: '{error}',
    }),
    storeDuration: meter.createHistogram('authx.store.duration', {
      description: 'Duration of store calls',
      unit: 'ms',
      advice: { explicitBucketBoundaries: LATENCY_BUCKETS },
    }),
    storeFailures: meter.createCounter('authx.store.failures', {
      description: 'Store calls that threw or rejected, and circuit breakers that opened',
      unit: '{failure}',
    }),
    reused: meter.createCounter('authx.refresh.reused', {
      description: 'Refresh tokens presented again after use (reuse detections)',
      unit: '{detection}',
    }),
  }
}

/** The attribute names of what `authenticate` reports (`location`) and the like. */
function attributeName(key: string): string {
  return key === 'location' || key === 'type' ? `authx.token.${key}` : `authx.${key}`
}

/**
 * The store's name for attributes: its class (`RedisStore`, `MemoryStore`, ...), `custom` for a
 * plain object.
 */
function storeName(store: object): string {
  const name = (store.constructor as { name?: unknown } | undefined)?.name
  return typeof name === 'string' && name !== '' && name !== 'Object' ? name : 'custom'
}

/**
 * What the error is, for attributes: the `code` of an AuthXError, the class name otherwise.
 * Never the message: a store's or a library's message is not ours to vouch for.
 */
function errorType(err: unknown): string {
  if (err instanceof AuthXError) return err.code
  const name = (err as { constructor?: { name?: unknown } } | null)?.constructor?.name
  return typeof name === 'string' && name !== '' ? name : typeof err
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return (
    (typeof value === 'object' || typeof value === 'function') &&
    value !== null &&
    typeof (value as { then?: unknown }).then === 'function'
  )
}

class OpenTelemetry implements Telemetry {
  readonly #tracer: TelemetryTracer | undefined
  readonly #metrics: Instruments | undefined

  constructor(tracer: TelemetryTracer | undefined, meter: TelemetryMeter | undefined, events: Emitter) {
    this.#tracer = tracer
    const metrics = meter === undefined ? undefined : instruments(meter)
    this.#metrics = metrics
    if (metrics !== undefined) {
      // Only the count: sub, fid and jti would make a series per user and token.
      events.on('token.reused', () => metrics.reused.add(1))
      events.on('store.circuit_open', ({ store }) =>
        metrics.storeFailures.add(1, { 'authx.store.name': store, 'authx.store.failure': 'circuit_open' }),
      )
    }
  }

  run<T>(
    operation: TelemetryOperation,
    fn: () => Promise<T>,
    attributes?: () => Readonly<Record<string, string | undefined>>,
  ): Promise<T> {
    const tracer = this.#tracer
    if (tracer === undefined) return this.#settle(operation, undefined, fn, attributes)
    // The active span while `fn` runs, so the store calls it makes are its children.
    return tracer.startActiveSpan(
      `authx.${operation}`,
      { attributes: { 'authx.operation': operation } },
      (span) => this.#settle(operation, span, fn, attributes),
    )
  }

  /** Runs `fn` and ends the span (if any) when it settles; the result and error pass unchanged. */
  #settle<T>(
    operation: TelemetryOperation,
    span: TelemetrySpan | undefined,
    fn: () => Promise<T>,
    attributes: (() => Readonly<Record<string, string | undefined>>) | undefined,
  ): Promise<T> {
    let pending: Promise<T>
    try {
      pending = fn()
    } catch (err) {
      this.#ended(operation, span, attributes, undefined, err, true)
      throw err
    }
    return pending.then(
      (value) => {
        this.#ended(operation, span, attributes, value, undefined, false)
        return value
      },
      (err: unknown) => {
        this.#ended(operation, span, attributes, undefined, err, true)
        throw err
      },
    )
  }

  #ended(
    operation: TelemetryOperation,
    span: TelemetrySpan | undefined,
    attributes: (() => Readonly<Record<string, string | undefined>>) | undefined,
    value: unknown,
    err: unknown,
    failed: boolean,
  ): void {
    // Telemetry must not change an outcome: a throwing attribute getter, span or meter is ignored.
    try {
      if (failed && err instanceof AuthXError) {
        this.#metrics?.errors.add(1, { 'authx.operation': operation, 'authx.error.code': err.code })
      }
      if (span === undefined) return
      if (attributes !== undefined) {
        for (const [key, attribute] of Object.entries(attributes())) {
          if (attribute !== undefined) span.setAttribute(attributeName(key), attribute)
        }
      }
      if (operation === 'refresh') span.setAttribute('authx.token.type', 'refresh')
      else if (value instanceof TokenPayload) span.setAttribute('authx.token.type', value.type)
      if (failed) {
        const type = errorType(err)
        span.setAttribute('error.type', type)
        if (err instanceof AuthXError) {
          span.setAttribute('authx.error.code', err.code)
          // A reason is one of a fixed set of words ('expired', 'signature', ...), never input.
          const reason = (err as { reason?: unknown }).reason
          if (typeof reason === 'string') span.setAttribute('authx.error.reason', reason)
        }
        span.setStatus({ code: STATUS_ERROR, message: type })
      }
    } catch {
      // Ignored, as above.
    } finally {
      span?.end()
    }
  }

  instrumentStore<S extends AuthXStore>(store: S): S {
    const name = storeName(store)
    // One wrapper per method, so `store.get === store.get` still holds.
    const wrappers = new Map<PropertyKey, { original: unknown; wrapper: unknown }>()
    return new Proxy(store, {
      // The store itself as receiver: its getters and methods may read private fields (#x),
      // which a call through the proxy could not.
      get: (target, property) => {
        const value: unknown = Reflect.get(target, property, target)
        if (typeof value !== 'function' || property === 'constructor') return value
        let entry = wrappers.get(property)
        if (entry === undefined || entry.original !== value) {
          const method = value as (...args: unknown[]) => unknown
          const wrapper =
            typeof property === 'string' && TRACED_METHODS.has(property)
              ? this.#storeMethod(target, name, property, method)
              : method.bind(target)
          entry = { original: value, wrapper }
          wrappers.set(property, entry)
        }
        return entry.wrapper
      },
      set: (target, property, value) => Reflect.set(target, property, value, target),
    })
  }

  /**
   * One store method seen through a span and the latency histogram. A value returned at once
   * (`getLocal`, a store that answers synchronously) is returned at once, a promise as a promise
   * settling with the same value or error.
   */
  #storeMethod(
    store: AuthXStore,
    name: string,
    method: string,
    original: (...args: unknown[]) => unknown,
  ): (...args: unknown[]) => unknown {
    const base = { 'authx.store.name': name, 'authx.store.method': method }
    return (...args: unknown[]) => {
      // Keys and values are never attributes: keys name subjects and sessions, values hold records.
      const span = this.#tracer?.startSpan(`authx.store.${method}`, { attributes: base })
      const start = performance.now()
      let result: unknown
      try {
        result = original.apply(store, args)
      } catch (err) {
        this.#storeEnded(span, base, start, 'error', err)
        throw err
      }
      if (!isThenable(result)) {
        // `getLocal` answers `undefined` when it cannot answer now; authx then calls `get`.
        this.#storeEnded(
          span,
          base,
          start,
          result === undefined && method === 'getLocal' ? 'miss' : 'ok',
          undefined,
        )
        return result
      }
      return result.then(
        (value) => {
          this.#storeEnded(span, base, start, 'ok', undefined)
          return value
        },
        (err: unknown) => {
          this.#storeEnded(span, base, start, 'error', err)
          throw err
        },
      )
    }
  }

  #storeEnded(
    span: TelemetrySpan | undefined,
    base: Readonly<Record<string, string>>,
    start: number,
    outcome: 'ok' | 'miss' | 'error',
    err: unknown,
  ): void {
    const duration = performance.now() - start
    // As in `#ended`: nothing here may change the store's answer.
    try {
      const metrics = this.#metrics
      if (metrics !== undefined) {
        metrics.storeDuration.record(duration, { ...base, 'authx.store.outcome': outcome })
        if (outcome === 'error') metrics.storeFailures.add(1, { ...base, 'authx.store.failure': 'call' })
      }
      if (span === undefined) return
      span.setAttribute('authx.store.duration_ms', duration)
      span.setAttribute('authx.store.outcome', outcome)
      if (outcome === 'error') {
        const type = errorType(err)
        span.setAttribute('error.type', type)
        span.setStatus({ code: STATUS_ERROR, message: type })
      }
    } catch {
      // Ignored: telemetry never changes an outcome.
    } finally {
      span?.end()
    }
  }
}
