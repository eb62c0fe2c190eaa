/**
 * Telemetry (docs/telemetry.md): real AuthX instances over real stores (MemoryStore, SQLite,
 * Redis), seen through the OpenTelemetry SDK's in-memory span exporter and a metric reader
 * collected on demand.
 *
 * - spans of verification, refresh and revocation, with the store calls as children;
 * - metrics: errors by code, store latency by method and outcome, store failures, reuse;
 * - the store seen through `instrumentStore` keeps its methods, results and errors;
 * - no token in any attribute; `@opentelemetry/api` never loaded when telemetry is off.
 */
import { execFile } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { context, metrics, trace } from '@opentelemetry/api'
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks'
import { type DataPoint, type Histogram, MeterProvider, MetricReader } from '@opentelemetry/sdk-metrics'
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  type ReadableSpan,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-base'
import { Redis } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { AuthX, type AuthXStore, MemoryStore } from '../src/index.js'
import { RedisStore } from '../src/stores/redis.js'
import { SqliteStore } from '../src/stores/sqlite.js'
import { storesRequired } from './stores/conformance.js'
import { bundleChild } from './stores/processes.js'
import { REDIS_URL, redisMissing } from './support/redis.js'

const SECRET = 'telemetry-test-secret-0123456789abcdefghij'
const root = fileURLToPath(new URL('..', import.meta.url))

/** Collects on demand (`collect()`), so a test reads exactly what was recorded so far. */
class TestReader extends MetricReader {
  protected override async onForceFlush(): Promise<void> {}
  protected override async onShutdown(): Promise<void> {}
}

/** A tracer and a meter of their own for one test, and what they recorded. */
function otel() {
  const exporter = new InMemorySpanExporter()
  const tracer = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] }).getTracer(
    'test',
  )
  const reader = new TestReader()
  const meter = new MeterProvider({ readers: [reader] }).getMeter('test')
  return {
    tracer,
    meter,
    spans: (): ReadableSpan[] => exporter.getFinishedSpans(),
    named: (name: string): ReadableSpan[] => exporter.getFinishedSpans().filter((s) => s.name === name),
    /** The data points of one metric, or `[]` when it recorded nothing. */
    points: async (name: string): Promise<DataPoint<unknown>[]> => {
      const { resourceMetrics } = await reader.collect()
      const metric = resourceMetrics.scopeMetrics
        .flatMap((s) => s.metrics)
        .find((m) => m.descriptor.name === name)
      return (metric?.dataPoints ?? []) as DataPoint<unknown>[]
    },
    /** Every data point of every metric. */
    allPoints: async (): Promise<DataPoint<unknown>[]> => {
      const { resourceMetrics } = await reader.collect()
      return resourceMetrics.scopeMetrics
        .flatMap((s) => s.metrics)
        .flatMap((m) => m.dataPoints as DataPoint<unknown>[])
    },
    /** The sum of a counter's points whose attributes include `where`. */
    count: async (name: string, where: Record<string, string> = {}): Promise<number> => {
      const { resourceMetrics } = await reader.collect()
      const metric = resourceMetrics.scopeMetrics
        .flatMap((s) => s.metrics)
        .find((m) => m.descriptor.name === name)
      return ((metric?.dataPoints ?? []) as DataPoint<number>[])
        .filter((p) => Object.entries(where).every(([k, v]) => p.attributes[k] === v))
        .reduce((sum, p) => sum + p.value, 0)
    },
  }
}

function isChildOf(child: ReadableSpan, parent: ReadableSpan): boolean {
  return (
    child.parentSpanContext?.spanId === parent.spanContext().spanId &&
    child.spanContext().traceId === parent.spanContext().traceId
  )
}

const contextManager = new AsyncLocalStorageContextManager()
beforeAll(() => {
  // As NodeSDK does: without a context manager no span is ever "active", so none has children.
  context.setGlobalContextManager(contextManager.enable())
})
afterAll(() => {
  context.disable()
})

describe('telemetry: verification spans', () => {
  it('a verification that succeeds is an authx.verify span with the token type, and its revocation check a child store span with a latency', async () => {
    const o = otel()
    const auth = new AuthX({ secretKey: SECRET, telemetry: { tracer: o.tracer, meter: o.meter } })
    const token = await auth.createAccessToken({ uid: 'alice' })
    await auth.verifyToken(token)
    const [verify] = o.named('authx.verify')
    expect(verify?.attributes).toMatchObject({ 'authx.operation': 'verify', 'authx.token.type': 'access' })
    expect(verify?.status.code).toBe(0) // UNSET: not an error
    // MemoryStore answers the revocation check from memory: one getLocal, no get.
    const [getLocal] = o.named('authx.store.getLocal')
    expect(getLocal && verify && isChildOf(getLocal, verify)).toBe(true)
    expect(getLocal?.attributes).toMatchObject({
      'authx.store.name': 'MemoryStore',
      'authx.store.method': 'getLocal',
      'authx.store.outcome': 'ok',
    })
    expect(typeof getLocal?.attributes['authx.store.duration_ms']).toBe('number')
    expect(o.named('authx.store.get')).toEqual([])
  })

  it('a verification that fails is an ERROR span with its error code, and authx.errors counts each code', async () => {
    const o = otel()
    const auth = new AuthX({ secretKey: SECRET, telemetry: { tracer: o.tracer, meter: o.meter } })
    const forger = new AuthX({ secretKey: `${SECRET}-forged` })
    await expect(auth.verifyToken(await forger.createAccessToken({ uid: 'alice' }))).rejects.toMatchObject({
      code: 'ERR_INVALID_TOKEN',
      status: 401,
    })
    const revoked = await auth.createAccessToken({ uid: 'alice' })
    await auth.revokeToken(revoked)
    await expect(auth.verifyToken(revoked)).rejects.toMatchObject({ code: 'ERR_TOKEN_REVOKED', status: 401 })
    await expect(auth.verifyToken(revoked)).rejects.toMatchObject({ code: 'ERR_TOKEN_REVOKED' })

    const [invalid, ...revokedSpans] = o.named('authx.verify')
    expect(invalid?.status).toEqual({ code: 2, message: 'ERR_INVALID_TOKEN' })
    expect(invalid?.attributes).toMatchObject({
      'authx.error.code': 'ERR_INVALID_TOKEN',
      'authx.error.reason': 'signature',
      'error.type': 'ERR_INVALID_TOKEN',
    })
    expect(revokedSpans.map((s) => s.attributes['authx.error.code'])).toEqual([
      'ERR_TOKEN_REVOKED',
      'ERR_TOKEN_REVOKED',
    ])
    expect(await o.count('authx.errors', { 'authx.error.code': 'ERR_INVALID_TOKEN' })).toBe(1)
    expect(
      await o.count('authx.errors', { 'authx.error.code': 'ERR_TOKEN_REVOKED', 'authx.operation': 'verify' }),
    ).toBe(2)
  })

  it('authenticate records where the token was found, on success and on failure', async () => {
    const o = otel()
    const auth = new AuthX({
      secretKey: SECRET,
      tokenLocation: ['headers', 'cookies'],
      telemetry: { tracer: o.tracer },
    })
    const token = await auth.createAccessToken({ uid: 'alice' })
    const request = (headers: Record<string, string>) => new Request('https://app.test/api', { headers })
    await auth.authenticate(request({ authorization: `Bearer ${token}` }))
    const refresh = await auth.createRefreshToken({ uid: 'alice' })
    await expect(auth.authenticate(request({ authorization: `Bearer ${refresh}` }))).rejects.toMatchObject({
      code: 'ERR_WRONG_TOKEN_TYPE',
    })
    const [ok, failed] = o.named('authx.verify')
    expect(ok?.attributes).toMatchObject({ 'authx.token.location': 'headers', 'authx.token.type': 'access' })
    expect(failed?.attributes).toMatchObject({
      'authx.token.location': 'headers',
      'authx.error.code': 'ERR_WRONG_TOKEN_TYPE',
    })
  })
})

describe('telemetry: refresh and revocation', () => {
  it('a reused refresh token: authx.refresh spans, the reuse counted in authx.refresh.reused and its code in authx.errors', async () => {
    const o = otel()
    const auth = new AuthX({ secretKey: SECRET, telemetry: { tracer: o.tracer, meter: o.meter } })
    const { refreshToken } = await auth.createTokenPair({ uid: 'alice' })
    await auth.refresh(refreshToken)
    await expect(auth.refresh(refreshToken)).rejects.toMatchObject({
      code: 'ERR_REFRESH_TOKEN_REUSED',
      status: 401,
    })

    const [first, second] = o.named('authx.refresh')
    expect(first?.attributes).toMatchObject({ 'authx.operation': 'refresh', 'authx.token.type': 'refresh' })
    expect(first?.status.code).toBe(0)
    expect(second?.status).toEqual({ code: 2, message: 'ERR_REFRESH_TOKEN_REUSED' })
    // The consumption of the refresh token is a store call inside each refresh.
    const consumed = o.named('authx.store.setIfAbsent')
    expect(consumed).toHaveLength(2)
    expect(first && consumed[0] && isChildOf(consumed[0], first)).toBe(true)
    expect(second && consumed[1] && isChildOf(consumed[1], second)).toBe(true)
    expect(await o.count('authx.refresh.reused')).toBe(1)
    expect(
      await o.count('authx.errors', {
        'authx.error.code': 'ERR_REFRESH_TOKEN_REUSED',
        'authx.operation': 'refresh',
      }),
    ).toBe(1)
  })

  it('revokeToken, revokeFamily and revokeAllForSubject are authx.revoke spans whose store writes are their children', async () => {
    const o = otel()
    const auth = new AuthX({ secretKey: SECRET, telemetry: { tracer: o.tracer, meter: o.meter } })
    const { accessToken } = await auth.createTokenPair({ uid: 'alice' })
    const payload = await auth.verifyToken(accessToken)
    await auth.revokeToken(accessToken)
    await auth.revokeFamily(payload.fid as string)
    await auth.revokeAllForSubject('alice')
    const revokes = o.named('authx.revoke')
    expect(revokes).toHaveLength(3)
    const writes = o.named('authx.store.set')
    expect(writes).toHaveLength(3)
    revokes.forEach((revoke, i) => {
      expect(isChildOf(writes[i] as ReadableSpan, revoke)).toBe(true)
    })
    await expect(auth.revokeFamily('')).rejects.toBeInstanceOf(TypeError)
    const failed = o.named('authx.revoke')[3]
    // Not an AuthXError: the span says what it was, authx.errors counts only error codes.
    expect(failed?.status).toEqual({ code: 2, message: 'TypeError' })
    expect(failed?.attributes['authx.error.code']).toBeUndefined()
    expect(await o.count('authx.errors')).toBe(0)
  })
})

describe('telemetry: stores', () => {
  it('with SqliteStore, the latency histogram counts every store call by method and outcome, and spans name the store', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'authx-telemetry-'))
    const store = new SqliteStore({ path: join(dir, 'store.db') })
    try {
      const o = otel()
      const auth = new AuthX({ secretKey: SECRET, store, telemetry: { tracer: o.tracer, meter: o.meter } })
      const { accessToken, refreshToken } = await auth.createTokenPair({ uid: 'alice' })
      await auth.verifyToken(accessToken)
      await auth.refresh(refreshToken)
      await auth.revokeToken(accessToken)

      const points = (await o.points('authx.store.duration')) as DataPoint<Histogram>[]
      const count = (method: string, outcome: string) =>
        points
          .filter(
            (p) =>
              p.attributes['authx.store.method'] === method &&
              p.attributes['authx.store.outcome'] === outcome &&
              p.attributes['authx.store.name'] === 'SqliteStore',
          )
          .reduce((sum, p) => sum + p.value.count, 0)
      const storeSpans = o.spans().filter((s) => s.name.startsWith('authx.store.'))
      expect(storeSpans.length).toBeGreaterThan(0)
      for (const method of new Set(storeSpans.map((s) => s.attributes['authx.store.method'] as string))) {
        const spans = storeSpans.filter((s) => s.attributes['authx.store.method'] === method)
        const ok = spans.filter((s) => s.attributes['authx.store.outcome'] === 'ok').length
        expect(count(method, 'ok'), method).toBe(ok)
      }
      expect(count('setIfAbsent', 'ok')).toBe(1)
      expect(count('set', 'ok')).toBe(1)
      for (const span of storeSpans) expect(span.attributes['authx.store.name']).toBe('SqliteStore')
      expect(await o.count('authx.store.failures')).toBe(0)
    } finally {
      await store.close()
      rmSync(dir, { recursive: true, force: true })
    }
  })

  it('a Redis store whose connection is closed: ERROR store spans, each failure counted, and the circuit opening counted too', async (ctx) => {
    const missing = await redisMissing()
    if (missing !== undefined) {
      if (storesRequired()) throw new Error(`Redis is required in CI but unavailable: ${missing}`)
      ctx.skip(missing)
    }
    const client = new Redis(REDIS_URL, { maxRetriesPerRequest: 0 })
    client.on('error', () => {})
    await client.ping()
    client.disconnect()
    const store = new RedisStore({
      client,
      prefix: `authx-telemetry-${process.pid}:`,
      circuitBreaker: { failures: 2, coolDownMs: 60_000 },
    })
    try {
      const o = otel()
      const auth = new AuthX({ secretKey: SECRET, store, telemetry: { tracer: o.tracer, meter: o.meter } })
      const token = await auth.createAccessToken({ uid: 'alice' })
      for (let i = 0; i < 3; i++) {
        await expect(auth.verifyToken(token)).rejects.toMatchObject({
          code: 'ERR_STORE_UNAVAILABLE',
          status: 503,
        })
      }
      // Without a mirror RedisStore cannot answer from memory: each getLocal is a miss, then a get.
      expect(o.named('authx.store.getLocal').map((s) => s.attributes['authx.store.outcome'])).toEqual([
        'miss',
        'miss',
        'miss',
      ])
      const gets = o.named('authx.store.get')
      expect(gets).toHaveLength(3)
      for (const get of gets) {
        expect(get.status.code).toBe(2)
        expect(get.attributes).toMatchObject({
          'authx.store.name': 'RedisStore',
          'authx.store.outcome': 'error',
        })
      }
      // The third call was refused by the open circuit, at once.
      expect(gets[2]?.attributes['error.type']).toBe('ERR_STORE_UNAVAILABLE')
      expect(
        await o.count('authx.store.failures', { 'authx.store.failure': 'call', 'authx.store.method': 'get' }),
      ).toBe(3)
      expect(await o.count('authx.store.failures', { 'authx.store.failure': 'circuit_open' })).toBe(1)
      const errorPoints = ((await o.points('authx.store.duration')) as DataPoint<Histogram>[]).filter(
        (p) => p.attributes['authx.store.outcome'] === 'error',
      )
      expect(errorPoints.reduce((sum, p) => sum + p.value.count, 0)).toBe(3)
      expect(await o.count('authx.errors', { 'authx.error.code': 'ERR_STORE_UNAVAILABLE' })).toBe(3)
    } finally {
      await store.close()
    }
  })
})

describe('telemetry: instrumentStore keeps the store as it is', () => {
  it('every optional method of the store is there (and no other), getLocal still answers at once, and the store is still its class', async () => {
    const o = otel()
    const memory = new MemoryStore()
    const auth = new AuthX({
      secretKey: SECRET,
      store: memory,
      telemetry: { tracer: o.tracer, meter: o.meter },
    })
    const seen = auth.store as MemoryStore
    expect(seen).not.toBe(memory)
    expect(seen).toBeInstanceOf(MemoryStore)
    for (const method of [
      'getLocal',
      'hit',
      'putIndexed',
      'updateIndexed',
      'listIndexed',
      'deleteIndexed',
      'close',
    ]) {
      expect(typeof (seen as unknown as Record<string, unknown>)[method], method).toBe('function')
    }
    expect(seen.get).toBe(seen.get)
    await seen.set('k', 'v', 60)
    const local = seen.getLocal(['k', 'absent'])
    expect(local).toEqual(['v', null]) // not a promise
    expect(await seen.hit('rl', 60, 1)).toMatchObject({ allowed: true, count: 1 })
    expect(await seen.hit('rl', 60, 1)).toMatchObject({ allowed: false })
    await seen.putIndexed('idx', 'a', 'record', 60)
    expect(await seen.listIndexed('idx')).toEqual([['a', 'record']])

    const plain: AuthXStore = {
      get: async () => [],
      set: async () => {},
      setIfAbsent: async () => true,
      delete: async () => {},
    }
    const bare = new AuthX({ secretKey: SECRET, store: plain, telemetry: { tracer: o.tracer } }).store
    for (const method of ['getLocal', 'hit', 'putIndexed', 'onEvent', 'close']) {
      expect(method in bare, method).toBe(false)
    }
    expect(o.named('authx.store.set')[0]?.attributes['authx.store.name']).toBe('MemoryStore')
  })

  it("a store's getters, private fields and events work through it (a getter of its own, SqliteStore, RedisStore's mirror)", async (ctx) => {
    class CountingStore extends MemoryStore {
      #reads = 0
      override get(keys: string[]): Promise<(string | null)[]> {
        this.#reads++
        return super.get(keys)
      }
      get reads(): number {
        return this.#reads
      }
    }
    const o = otel()
    const counting = new AuthX({
      secretKey: SECRET,
      store: new CountingStore(),
      telemetry: { tracer: o.tracer },
    }).store as CountingStore
    await counting.get(['k'])
    expect(counting.reads).toBe(1)

    const dir = mkdtempSync(join(tmpdir(), 'authx-telemetry-'))
    const sqlite = new SqliteStore({ path: join(dir, 'store.db') })
    try {
      const seen = new AuthX({ secretKey: SECRET, store: sqlite, telemetry: { tracer: o.tracer } })
        .store as SqliteStore
      expect(seen.driver).toBe(sqlite.driver)
      await seen.set('k', 'v', 60)
      expect(await seen.get(['k'])).toEqual(['v'])
    } finally {
      await sqlite.close()
      rmSync(dir, { recursive: true, force: true })
    }

    const missing = await redisMissing()
    if (missing !== undefined) {
      if (storesRequired()) throw new Error(`Redis is required in CI but unavailable: ${missing}`)
      ctx.skip(missing)
    }
    const redis = new RedisStore({ url: REDIS_URL, prefix: `authx-telemetry-m${process.pid}:`, mirror: true })
    try {
      const auth = new AuthX({
        secretKey: SECRET,
        store: redis,
        telemetry: { tracer: o.tracer, meter: o.meter },
      })
      const live: unknown[] = []
      auth.on('store.mirror_live', (data) => live.push(data))
      await expect.poll(() => live.length, { timeout: 10_000 }).toBeGreaterThan(0)
      const token = await auth.createAccessToken({ uid: 'alice' })
      await auth.verifyToken(token)
      const [local] = o
        .named('authx.store.getLocal')
        .filter((s) => s.attributes['authx.store.name'] === 'RedisStore')
      expect(local?.attributes['authx.store.outcome']).toBe('ok')
      expect(
        o.named('authx.store.get').filter((s) => s.attributes['authx.store.name'] === 'RedisStore'),
      ).toEqual([])
    } finally {
      await redis.close()
    }
  })

  it('a store call that answers synchronously, throws or rejects gives the same value or the very same error', async () => {
    const thrown = new Error('thrown')
    const rejected = new Error('rejected')
    const answer = [null]
    let mode: 'sync' | 'throw' | 'reject' = 'sync'
    const store = {
      get(_keys: string[]) {
        if (mode === 'throw') throw thrown
        if (mode === 'reject') return Promise.reject(rejected)
        return answer
      },
      set: async () => {},
      setIfAbsent: async () => true,
      delete: async () => {},
    } as unknown as AuthXStore
    const o = otel()
    const seen = new AuthX({ secretKey: SECRET, store, telemetry: { tracer: o.tracer, meter: o.meter } })
      .store
    expect(seen.get(['k'])).toBe(answer)
    mode = 'throw'
    expect(() => seen.get(['k'])).toThrow(thrown)
    mode = 'reject'
    await expect(seen.get(['k'])).rejects.toBe(rejected)
    expect(o.named('authx.store.get').map((s) => s.attributes['authx.store.outcome'])).toEqual([
      'ok',
      'error',
      'error',
    ])
    expect(o.named('authx.store.get')[1]?.attributes['error.type']).toBe('Error')
    expect(await o.count('authx.store.failures', { 'authx.store.name': 'custom' })).toBe(2)
  })

  it('a verification over a store that answers synchronously still verifies, and is traced', async () => {
    const o = otel()
    const values = new Map<string, string>()
    const store: AuthXStore = {
      get: ((keys: string[]) => keys.map((k) => values.get(k) ?? null)) as unknown as AuthXStore['get'],
      set: async (key, value) => {
        values.set(key, value)
      },
      setIfAbsent: async () => true,
      delete: async () => {},
    }
    const auth = new AuthX({ secretKey: SECRET, store, telemetry: { tracer: o.tracer } })
    const token = await auth.createAccessToken({ uid: 'alice' })
    await expect(auth.verifyToken(token)).resolves.toMatchObject({ sub: 'alice' })
    await auth.revokeToken(token)
    await expect(auth.verifyToken(token)).rejects.toMatchObject({ code: 'ERR_TOKEN_REVOKED' })
    expect(o.named('authx.store.get')).toHaveLength(2)
  })
})

describe('telemetry: what it is given', () => {
  it('with only a meter there are metrics and no spans; with only a tracer, spans and no metrics', async () => {
    const o = otel()
    const metered = new AuthX({ secretKey: SECRET, telemetry: { meter: o.meter } })
    await expect(metered.verifyToken('not-a-token')).rejects.toMatchObject({ code: 'ERR_INVALID_TOKEN' })
    expect(await o.count('authx.errors', { 'authx.error.code': 'ERR_INVALID_TOKEN' })).toBe(1)
    expect(o.spans()).toEqual([])

    const t = otel()
    const traced = new AuthX({ secretKey: SECRET, telemetry: { tracer: t.tracer } })
    await expect(traced.verifyToken('not-a-token')).rejects.toMatchObject({ code: 'ERR_INVALID_TOKEN' })
    expect(t.named('authx.verify')).toHaveLength(1)
    expect(await t.points('authx.errors')).toEqual([])
  })

  it('telemetry: true takes the global tracer and meter of @opentelemetry/api', async () => {
    const exporter = new InMemorySpanExporter()
    const globalTracerProvider = new BasicTracerProvider({
      spanProcessors: [new SimpleSpanProcessor(exporter)],
    })
    const reader = new TestReader()
    expect(trace.setGlobalTracerProvider(globalTracerProvider)).toBe(true)
    expect(metrics.setGlobalMeterProvider(new MeterProvider({ readers: [reader] }))).toBe(true)
    try {
      const auth = new AuthX({ secretKey: SECRET, telemetry: true })
      await expect(auth.verifyToken('not-a-token')).rejects.toMatchObject({ code: 'ERR_INVALID_TOKEN' })
      const [span] = exporter.getFinishedSpans()
      expect(span?.name).toBe('authx.verify')
      expect(span?.instrumentationScope.name).toBe('authx')
      const { resourceMetrics } = await reader.collect()
      const errors = resourceMetrics.scopeMetrics.find((s) => s.scope.name === 'authx')?.metrics
      expect(errors?.find((m) => m.descriptor.name === 'authx.errors')?.dataPoints[0]?.value).toBe(1)
    } finally {
      trace.disable()
      metrics.disable()
    }
  })

  it('a telemetry option that cannot work is a ConfigError at construction', () => {
    const { tracer, meter } = otel()
    const cases: [string, unknown][] = [
      ['{}', {}],
      ['a tracer without methods', { tracer: {} }],
      ['a number as meter', { meter: 1 }],
      ['an unknown key', { tracer, meter, logger: {} }],
      ['a string', 'yes'],
      ['a number', 1],
      ['null', null],
      ['an array', []],
    ]
    for (const [label, telemetry] of cases) {
      expect(() => new AuthX({ secretKey: SECRET, telemetry: telemetry as never }), label).toThrow(
        expect.objectContaining({ code: 'ERR_CONFIG' }),
      )
    }
    expect(() => new AuthX({ secretKey: SECRET, telemetry: { tracer, meter: undefined } })).not.toThrow()
    expect(() => new AuthX({ secretKey: SECRET, telemetry: false })).not.toThrow()
  })

  it('a tracer or meter that throws changes no outcome of authx', async () => {
    // A broken exporter pipeline is out of authx's hands; the answer to the request must not depend on it.
    const span = {
      setAttribute() {
        throw new Error('span broken')
      },
      setStatus() {
        throw new Error('span broken')
      },
      end() {},
    }
    const tracer = {
      startSpan: () => span,
      startActiveSpan: (_name: string, _options: unknown, fn: (s: typeof span) => unknown) => fn(span),
    }
    const counter = {
      add() {
        throw new Error('meter broken')
      },
      record() {
        throw new Error('meter broken')
      },
    }
    const meter = { createCounter: () => counter, createHistogram: () => counter }
    const auth = new AuthX({ secretKey: SECRET, telemetry: { tracer: tracer as never, meter } })
    const token = await auth.createAccessToken({ uid: 'alice' })
    await expect(auth.verifyToken(token)).resolves.toMatchObject({ sub: 'alice' })
    await auth.revokeToken(token)
    await expect(auth.verifyToken(token)).rejects.toMatchObject({ code: 'ERR_TOKEN_REVOKED' })
    await auth.store.set('k', 'v', 60)
    expect(await auth.store.get(['k'])).toEqual(['v'])
  })
})

describe('security: telemetry never exports a token', () => {
  it('no span attribute, status or event and no metric attribute holds a token or a part of one', async () => {
    const o = otel()
    const auth = new AuthX({
      secretKey: SECRET,
      tokenLocation: ['headers', 'cookies', 'query'],
      telemetry: { tracer: o.tracer, meter: o.meter },
    })
    const tokens: string[] = []
    const pair = await auth.createTokenPair({ uid: 'alice' })
    tokens.push(pair.accessToken, pair.refreshToken)
    await auth.verifyToken(pair.accessToken)
    await auth.authenticate(new Request(`https://app.test/api?token=${pair.accessToken}`))
    const rotated = await auth.refresh(pair.refreshToken)
    tokens.push(rotated.accessToken, rotated.refreshToken)
    await expect(auth.refresh(pair.refreshToken)).rejects.toMatchObject({ code: 'ERR_REFRESH_TOKEN_REUSED' })
    const tampered = `${pair.accessToken.slice(0, -4)}AAAA`
    tokens.push(tampered)
    await expect(auth.verifyToken(tampered)).rejects.toMatchObject({ code: 'ERR_INVALID_TOKEN' })
    await expect(
      auth.authenticate(
        new Request('https://app.test/api', { headers: { authorization: `Bearer ${tampered}` } }),
      ),
    ).rejects.toMatchObject({ code: 'ERR_INVALID_TOKEN' })
    await auth.revokeToken(rotated.accessToken)
    await expect(auth.verifyToken(rotated.accessToken)).rejects.toMatchObject({ code: 'ERR_TOKEN_REVOKED' })

    // Any one of a token's three parts is enough to be worried about.
    const parts = tokens.flatMap((t) => t.split('.')).filter((p) => p.length >= 8)
    const exported = JSON.stringify([
      o.spans().map((s) => ({ name: s.name, attributes: s.attributes, status: s.status, events: s.events })),
      (await o.allPoints()).map((p) => p.attributes),
    ])
    expect(o.spans().length).toBeGreaterThan(10)
    for (const part of parts) expect(exported.includes(part)).toBe(false)
  })
})

describe('telemetry off', () => {
  it('@opentelemetry/api is never loaded without the option, and is with telemetry: true', async () => {
    // A process of its own: this one loaded the API for the SDK. The child records every module
    // loaded through require (how authx would load the API) and checks the import cache too.
    const outfile = await bundleChild('../support/telemetry-child.ts')
    const run = (mode: string) =>
      new Promise<{ loaded: string[]; verified: boolean }>((resolve, reject) => {
        execFile(process.execPath, [outfile, mode], { cwd: root, timeout: 60_000 }, (err, stdout, stderr) => {
          const line = stdout.trim().split('\n').pop()
          if (!line) reject(new Error(`child printed nothing: ${err?.message ?? ''} ${stderr}`))
          else resolve(JSON.parse(line) as { loaded: string[]; verified: boolean })
        })
      })
    const off = await run('off')
    expect(off).toEqual({ loaded: [], verified: true })
    const on = await run('on')
    expect(on.verified).toBe(true)
    expect(on.loaded).toContain('@opentelemetry/api')
  }, 60_000)
})
