/**
 * Unit tests of the stores' circuit breaker (src/stores/breaker.ts; issue 10 item 3, catalogue
 * K04) on fake timers: `setTimeout` and `performance.now` are faked, so a cool-down or a call's
 * deadline passes exactly when the test says, and nothing here depends on the machine's speed.
 * The same behaviour against real Redis and PostgreSQL is in circuit-breaker.test.ts.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { StoreUnavailableError } from '../../src/index.js'
import { CircuitBreaker, type CircuitBreakerOptions, StoreEventHub } from '../../src/stores/breaker.js'

type Recorded = [event: string, data: unknown]

/** A breaker whose events are recorded in order. */
function breakerOf(options?: CircuitBreakerOptions | false) {
  const events: Recorded[] = []
  const breaker = new CircuitBreaker('TestStore', options, (event, data) => {
    events.push([event, data])
  })
  return { breaker, events, names: () => events.map(([event]) => event) }
}

/** A call the test settles by hand, and whether the breaker ran it. */
function manual<T = string>() {
  let resolve!: (value: T) => void
  let reject!: (err: unknown) => void
  const promise = new Promise<T>((res, rej) => {
    resolve = res
    reject = rej
  })
  const call = vi.fn(() => promise)
  return { call, resolve, reject }
}

const boom = () => Promise.reject(new Error('boom'))
const ok = () => Promise.resolve('ok')

/** Whether `promise` rejects with a StoreUnavailableError before any timer runs (at once). */
async function rejectsAtOnce(promise: Promise<unknown>): Promise<StoreUnavailableError> {
  let outcome: { err: unknown } | undefined
  promise.then(
    () => {
      outcome = { err: 'resolved' }
    },
    (err: unknown) => {
      outcome = { err }
    },
  )
  // Microtasks only: no fake time passes, so this settled without waiting for any deadline.
  for (let i = 0; i < 10 && outcome === undefined; i++) await Promise.resolve()
  expect(outcome, 'the call was still pending: it waited instead of failing at once').toBeDefined()
  expect(outcome!.err).toBeInstanceOf(StoreUnavailableError)
  return outcome!.err as StoreUnavailableError
}

/** Runs `count` failing calls, one after the other. */
async function fail(breaker: CircuitBreaker, count: number): Promise<void> {
  for (let i = 0; i < count; i++) await expect(breaker.run(boom, 100)).rejects.toThrow('boom')
}

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] })
})

afterEach(() => {
  vi.useRealTimers()
  vi.restoreAllMocks()
})

describe('CircuitBreaker: opening', () => {
  it('opens on the 5th failure in a row by default, with failures and coolDownMs in the event', async () => {
    const { breaker, events } = breakerOf(undefined)
    await fail(breaker, 4)
    expect(breaker.state).toBe('closed')
    expect(events).toEqual([])
    // Still closed after 4: the 5th call reaches the server.
    const fifth = vi.fn(boom)
    await expect(breaker.run(fifth, 100)).rejects.toThrow('boom')
    expect(fifth).toHaveBeenCalledOnce()
    expect(breaker.state).toBe('open')
    expect(events).toEqual([['store.circuit_open', { store: 'TestStore', failures: 5, coolDownMs: 5000 }]])

    const call = vi.fn(ok)
    const err = await rejectsAtOnce(breaker.run(call, 100))
    expect(call).not.toHaveBeenCalled()
    expect(err).toMatchObject({ status: 503, code: 'ERR_STORE_UNAVAILABLE', retryAfter: 5 })
    expect(err.message).toContain('TestStore')
  })

  it('honours failures and coolDownMs', async () => {
    const { breaker, events } = breakerOf({ failures: 2, coolDownMs: 1500 })
    await fail(breaker, 1)
    expect(breaker.state).toBe('closed')
    await fail(breaker, 1)
    expect(breaker.state).toBe('open')
    expect(events).toEqual([['store.circuit_open', { store: 'TestStore', failures: 2, coolDownMs: 1500 }]])
    // Retry-After is the cool-down left, rounded up to whole seconds.
    expect(await rejectsAtOnce(breaker.run(ok, 100))).toMatchObject({ retryAfter: 2 })
    vi.advanceTimersByTime(1000)
    expect(await rejectsAtOnce(breaker.run(ok, 100))).toMatchObject({ retryAfter: 1 })
    vi.advanceTimersByTime(499)
    expect(breaker.state).toBe('open')
    expect(await rejectsAtOnce(breaker.run(ok, 100))).toMatchObject({ retryAfter: 1 })
    vi.advanceTimersByTime(1)
    expect(breaker.state).toBe('half-open')
    await expect(breaker.run(ok, 100)).resolves.toBe('ok')
  })

  it('opens after a single failure with failures: 1', async () => {
    const { breaker } = breakerOf({ failures: 1 })
    await fail(breaker, 1)
    await rejectsAtOnce(breaker.run(ok, 100))
  })

  it('counts failures in a row only: a success resets the count', async () => {
    const { breaker, events } = breakerOf({ failures: 3 })
    for (let round = 0; round < 5; round++) {
      await fail(breaker, 2)
      await expect(breaker.run(ok, 100)).resolves.toBe('ok')
    }
    expect(breaker.state).toBe('closed')
    expect(events).toEqual([])
    await fail(breaker, 3)
    expect(breaker.state).toBe('open')
  })

  it('counts a call that does not settle within timeoutMs as a failure, and fails it then', async () => {
    const { breaker, events } = breakerOf({ failures: 2 })
    const hung = manual()
    const first = breaker.run(hung.call, 300)
    let settled = false
    first.catch(() => {}).finally(() => (settled = true))
    vi.advanceTimersByTime(299)
    await Promise.resolve()
    expect(settled).toBe(false)
    vi.advanceTimersByTime(1)
    await expect(first).rejects.toThrow('TestStore: no answer within 300 ms')
    expect(breaker.state).toBe('closed')
    const second = breaker.run(manual().call, 300)
    vi.advanceTimersByTime(300)
    await expect(second).rejects.toThrow('no answer within 300 ms')
    expect(breaker.state).toBe('open')
    expect(events.map(([event]) => event)).toEqual(['store.circuit_open'])
  })

  it('counts a call that throws synchronously as a failure, and rejects with what it threw', async () => {
    const { breaker } = breakerOf({ failures: 2 })
    const thrown = new Error('sync')
    const call = () => {
      throw thrown
    }
    await expect(breaker.run(call, 100)).rejects.toBe(thrown)
    expect(breaker.state).toBe('closed')
    await expect(breaker.run(call, 100)).rejects.toBe(thrown)
    expect(breaker.state).toBe('open')
  })

  it('ignores a success that comes after the call timed out: it does not reset the count', async () => {
    const { breaker } = breakerOf({ failures: 2 })
    const late = manual()
    const first = breaker.run(late.call, 100)
    vi.advanceTimersByTime(100)
    await expect(first).rejects.toThrow('no answer')
    // The server answers at last: the caller was already failed, and the run is not broken.
    late.resolve('too late')
    await Promise.resolve()
    await fail(breaker, 1)
    expect(breaker.state).toBe('open')
  })

  it('ignores a failure that comes after the call timed out: it is not counted twice', async () => {
    const { breaker } = breakerOf({ failures: 2 })
    const late = manual()
    const first = breaker.run(late.call, 100)
    vi.advanceTimersByTime(100)
    await expect(first).rejects.toThrow('no answer')
    late.reject(new Error('late'))
    for (let i = 0; i < 5; i++) await Promise.resolve()
    expect(breaker.state).toBe('closed')
    await expect(breaker.run(ok, 100)).resolves.toBe('ok')
  })

  it('clears the deadline of a call that answers: no timeout fires after its success', async () => {
    const { breaker } = breakerOf({ failures: 1 })
    await expect(breaker.run(ok, 100)).resolves.toBe('ok')
    vi.advanceTimersByTime(1000)
    expect(breaker.state).toBe('closed')
    expect(vi.getTimerCount()).toBe(0)
  })

  it('answers the failure of the call itself, not a generic one, while closed', async () => {
    const { breaker } = breakerOf(undefined)
    const err = new Error('ECONNREFUSED')
    await expect(breaker.run(() => Promise.reject(err), 100)).rejects.toBe(err)
  })
})

describe('CircuitBreaker: cool-down and the probe', () => {
  it('lets exactly one probe through after the cool-down; its success closes the circuit', async () => {
    const { breaker, names } = breakerOf({ failures: 2, coolDownMs: 1000 })
    await fail(breaker, 2)
    vi.advanceTimersByTime(999)
    const early = vi.fn(ok)
    await rejectsAtOnce(breaker.run(early, 100))
    expect(early).not.toHaveBeenCalled()
    vi.advanceTimersByTime(1)

    const probe = manual()
    const pending = breaker.run(probe.call, 5000)
    expect(probe.call).toHaveBeenCalledOnce()
    expect(names()).toEqual(['store.circuit_open', 'store.circuit_half_open'])
    // While the probe is out every other call fails at once, without reaching the server.
    const others = Array.from({ length: 20 }, () => vi.fn(ok))
    for (const other of others) {
      const err = await rejectsAtOnce(breaker.run(other, 100))
      expect(err.retryAfter).toBe(1)
    }
    for (const other of others) expect(other).not.toHaveBeenCalled()
    expect(breaker.state).toBe('half-open')

    probe.resolve('pong')
    await expect(pending).resolves.toBe('pong')
    expect(breaker.state).toBe('closed')
    expect(names()).toEqual(['store.circuit_open', 'store.circuit_half_open', 'store.circuit_closed'])
    const after = vi.fn(ok)
    await expect(breaker.run(after, 100)).resolves.toBe('ok')
    expect(after).toHaveBeenCalledOnce()
    // Closed again from zero: one failure does not reopen it.
    await fail(breaker, 1)
    expect(breaker.state).toBe('closed')
  })

  it('opens again at once when the probe fails, for a whole new cool-down', async () => {
    const { breaker, events, names } = breakerOf({ failures: 3, coolDownMs: 2000 })
    await fail(breaker, 3)
    vi.advanceTimersByTime(2000)
    await expect(breaker.run(boom, 100)).rejects.toThrow('boom')
    expect(names()).toEqual(['store.circuit_open', 'store.circuit_half_open', 'store.circuit_open'])
    expect(events[2]![1]).toMatchObject({ store: 'TestStore', coolDownMs: 2000 })
    expect((events[2]![1] as { failures: number }).failures).toBeGreaterThanOrEqual(3)
    // The new cool-down counts from the failed probe.
    vi.advanceTimersByTime(1999)
    const call = vi.fn(ok)
    await rejectsAtOnce(breaker.run(call, 100))
    expect(call).not.toHaveBeenCalled()
    vi.advanceTimersByTime(1)
    await expect(breaker.run(ok, 100)).resolves.toBe('ok')
    expect(names().at(-1)).toBe('store.circuit_closed')
  })

  it('opens again when the probe times out, and fails the probe at its deadline', async () => {
    const { breaker, names } = breakerOf({ failures: 1, coolDownMs: 1000 })
    await fail(breaker, 1)
    vi.advanceTimersByTime(1000)
    const probe = breaker.run(manual().call, 250)
    vi.advanceTimersByTime(250)
    await expect(probe).rejects.toThrow('no answer within 250 ms')
    expect(names()).toEqual(['store.circuit_open', 'store.circuit_half_open', 'store.circuit_open'])
    await rejectsAtOnce(breaker.run(ok, 100))
  })

  it('opens again when the probe throws synchronously', async () => {
    const { breaker, names } = breakerOf({ failures: 1, coolDownMs: 1000 })
    await fail(breaker, 1)
    vi.advanceTimersByTime(1000)
    await expect(
      breaker.run(() => {
        throw new Error('sync')
      }, 100),
    ).rejects.toThrow('sync')
    expect(names()).toEqual(['store.circuit_open', 'store.circuit_half_open', 'store.circuit_open'])
    await rejectsAtOnce(breaker.run(ok, 100))
  })

  it('measures the cool-down on the monotonic clock: a wall-clock jump neither ends nor extends it', async () => {
    const { breaker } = breakerOf({ failures: 1, coolDownMs: 1000 })
    await fail(breaker, 1)
    vi.spyOn(Date, 'now').mockReturnValue(Date.now() + 3_600_000)
    await rejectsAtOnce(breaker.run(ok, 100))
    expect(breaker.state).toBe('open')
    vi.advanceTimersByTime(1000)
    await expect(breaker.run(ok, 100)).resolves.toBe('ok')
  })
})

describe('CircuitBreaker: options', () => {
  it('false: never opens, every call runs', async () => {
    const { breaker, events } = breakerOf(false)
    for (let i = 0; i < 50; i++) {
      const call = vi.fn(boom)
      await expect(breaker.run(call, 100)).rejects.toThrow('boom')
      expect(call).toHaveBeenCalledOnce()
    }
    const hung = breaker.run(manual().call, 100)
    vi.advanceTimersByTime(100)
    await expect(hung).rejects.toThrow('no answer within 100 ms')
    expect(breaker.state).toBe('closed')
    expect(events).toEqual([])
    await expect(breaker.run(ok, 100)).resolves.toBe('ok')
  })

  it('{} and undefined are the defaults', async () => {
    // Explicit undefined values too, as a JavaScript caller may spread them in.
    const explicit = { failures: undefined, coolDownMs: undefined } as unknown as CircuitBreakerOptions
    for (const options of [{}, undefined, explicit]) {
      const { breaker, events } = breakerOf(options)
      await fail(breaker, 5)
      expect(events).toEqual([['store.circuit_open', { store: 'TestStore', failures: 5, coolDownMs: 5000 }]])
    }
  })

  it.each([
    ['failures 0', { failures: 0 }, 'circuitBreaker.failures'],
    ['failures -1', { failures: -1 }, 'circuitBreaker.failures'],
    ['failures 1.5', { failures: 1.5 }, 'circuitBreaker.failures'],
    ['failures NaN', { failures: Number.NaN }, 'circuitBreaker.failures'],
    ['failures Infinity', { failures: Number.POSITIVE_INFINITY }, 'circuitBreaker.failures'],
    ['failures "5"', { failures: '5' }, 'circuitBreaker.failures'],
    ['coolDownMs 0', { coolDownMs: 0 }, 'circuitBreaker.coolDownMs'],
    ['coolDownMs -5', { coolDownMs: -5 }, 'circuitBreaker.coolDownMs'],
    ['coolDownMs NaN', { coolDownMs: Number.NaN }, 'circuitBreaker.coolDownMs'],
    ['coolDownMs Infinity', { coolDownMs: Number.POSITIVE_INFINITY }, 'circuitBreaker.coolDownMs'],
    ['coolDownMs "5000"', { coolDownMs: '5000' }, 'circuitBreaker.coolDownMs'],
    ['true', true, 'circuitBreaker'],
    ['null', null, 'circuitBreaker'],
    ['a number', 5, 'circuitBreaker'],
    ['a string', 'on', 'circuitBreaker'],
  ])('%s: TypeError naming the option', (_name, options, names) => {
    expect(() => new CircuitBreaker('S', options as never, () => {})).toThrow(TypeError)
    expect(() => new CircuitBreaker('S', options as never, () => {})).toThrow(names)
  })

  it.each(['failure', 'cooldownMs', 'timeoutMs', 'enabled'])(
    'unknown option %s: TypeError naming it',
    (name) => {
      expect(() => new CircuitBreaker('S', { [name]: 1 } as never, () => {})).toThrow(TypeError)
      expect(() => new CircuitBreaker('S', { [name]: 1 } as never, () => {})).toThrow(
        `circuitBreaker.${name}: unknown option`,
      )
    },
  )
})

describe('StoreEventHub', () => {
  it('calls every listener in order, ignores one that throws, and stops one that unsubscribed', () => {
    const hub = new StoreEventHub()
    const seen: string[] = []
    hub.on(() => {
      throw new Error('listener fault')
    })
    const stop = hub.on((event) => seen.push(`a:${event}`))
    hub.on((event) => seen.push(`b:${event}`))
    hub.emit('store.circuit_closed', { store: 'S' })
    stop()
    hub.emit('store.circuit_half_open', { store: 'S' })
    expect(seen).toEqual(['a:store.circuit_closed', 'b:store.circuit_closed', 'b:store.circuit_half_open'])
  })

  it('a listener that throws changes no outcome of the breaker', async () => {
    const hub = new StoreEventHub()
    hub.on(() => {
      throw new Error('listener fault')
    })
    const breaker = new CircuitBreaker('S', { failures: 1, coolDownMs: 100 }, hub.emit)
    await expect(breaker.run(boom, 100)).rejects.toThrow('boom')
    await rejectsAtOnce(breaker.run(ok, 100))
    vi.advanceTimersByTime(100)
    await expect(breaker.run(ok, 100)).resolves.toBe('ok')
  })

  it('refuses a listener that is not a function', () => {
    expect(() => new StoreEventHub().on('x' as never)).toThrow(TypeError)
  })
})
