/**
 * The circuit breaker of the stores that talk to a server (docs/stores.md, "When the server is
 * down"): after a run of failures the store answers at once instead of waiting for timeouts.
 * @module
 */
import { type StoreEventListener, StoreUnavailableError } from 'authx'

/** Options of a store's `circuitBreaker`. */
export interface CircuitBreakerOptions {
  /** Failures or timeouts in a row that open the circuit. Default `5`. */
  failures?: number
  /** How long an open circuit answers at once before it lets one probe through, ms. Default `5000`. */
  coolDownMs?: number
}

const KNOWN_OPTIONS = ['failures', 'coolDownMs'] as const
const DEFAULT_FAILURES = 5
const DEFAULT_COOL_DOWN_MS = 5000

type State = 'closed' | 'open' | 'half-open'

/** Monotonic milliseconds: a wall-clock jump must not shorten or prolong a cool-down. */
function monotonicNow(): number {
  return performance.now()
}

/**
 * Counts failures in a row of a store's calls. Closed: calls run. Open: calls fail at once with
 * `StoreUnavailableError` until the cool-down ends. Half-open: one call (the probe) runs while
 * the others fail at once; its success closes the circuit, its failure opens it again.
 *
 * @example
 * ```ts
 * const breaker = new CircuitBreaker('RedisStore', {}, emit)
 * const values = await breaker.run(() => redis.mget(keys), 500)
 * ```
 */
export class CircuitBreaker {
  readonly #store: string
  readonly #threshold: number
  readonly #coolDownMs: number
  readonly #emit: StoreEventListener
  #state: State = 'closed'
  #failures = 0
  #openedAt = 0

  /** `options` `false` turns the breaker off: every call runs, only the deadline applies. */
  constructor(store: string, options: CircuitBreakerOptions | false | undefined, emit: StoreEventListener) {
    this.#store = store
    this.#emit = emit
    if (options === false) {
      this.#threshold = Number.POSITIVE_INFINITY
      this.#coolDownMs = 0
      return
    }
    if (options !== undefined && (typeof options !== 'object' || options === null))
      throw new TypeError('circuitBreaker: expected an object or false')
    for (const name of Object.keys(options ?? {})) {
      if (!(KNOWN_OPTIONS as readonly string[]).includes(name))
        throw new TypeError(`circuitBreaker.${name}: unknown option (known: ${KNOWN_OPTIONS.join(', ')})`)
    }
    const failures = options?.failures ?? DEFAULT_FAILURES
    if (!Number.isInteger(failures) || failures < 1)
      throw new TypeError('circuitBreaker.failures: expected a positive integer')
    const coolDownMs = options?.coolDownMs ?? DEFAULT_COOL_DOWN_MS
    if (typeof coolDownMs !== 'number' || !Number.isFinite(coolDownMs) || coolDownMs <= 0)
      throw new TypeError('circuitBreaker.coolDownMs: expected a positive number')
    this.#threshold = failures
    this.#coolDownMs = coolDownMs
  }

  /** `'closed'`, `'open'` or `'half-open'` (an open circuit whose cool-down is over reads `'half-open'`). */
  get state(): State {
    if (this.#state === 'open' && monotonicNow() - this.#openedAt >= this.#coolDownMs) return 'half-open'
    return this.#state
  }

  /**
   * Runs `call` unless the circuit is open. A call that fails, or does not settle within
   * `timeoutMs` (it is then failed), counts as a failure; one that answers resets the count.
   */
  run<T>(call: () => Promise<T>, timeoutMs: number): Promise<T> {
    if (this.#state !== 'closed') {
      const waited = monotonicNow() - this.#openedAt
      if (this.#state === 'half-open' || waited < this.#coolDownMs) {
        // Open, or a probe is already out: answer at once, with the time left as Retry-After.
        const left = this.#state === 'open' ? this.#coolDownMs - waited : this.#coolDownMs
        return Promise.reject(
          new StoreUnavailableError(`${this.#store} circuit open after ${this.#failures} failures in a row`, {
            retryAfter: Math.max(1, Math.ceil(left / 1000)),
          }),
        )
      }
      this.#state = 'half-open'
      this.#emit('store.circuit_half_open', { store: this.#store })
    }
    let pending: Promise<T>
    try {
      pending = call()
    } catch (err) {
      this.#failed()
      return Promise.reject(err)
    }
    return new Promise<T>((resolve, reject) => {
      let settled = false
      const timer = setTimeout(() => {
        if (settled) return
        settled = true
        this.#failed()
        reject(new Error(`${this.#store}: no answer within ${timeoutMs} ms`))
      }, timeoutMs)
      ;(timer as { unref?: () => void }).unref?.()
      pending.then(
        (value) => {
          if (settled) return
          settled = true
          clearTimeout(timer)
          this.#succeeded()
          resolve(value)
        },
        (err: unknown) => {
          if (settled) return
          settled = true
          clearTimeout(timer)
          this.#failed()
          reject(err)
        },
      )
    })
  }

  #succeeded(): void {
    this.#failures = 0
    if (this.#state !== 'closed') {
      this.#state = 'closed'
      this.#emit('store.circuit_closed', { store: this.#store })
    }
  }

  #failed(): void {
    this.#failures++
    // A failed probe opens the circuit again at once; otherwise the run must reach the threshold.
    if (this.#state === 'half-open' || (this.#state === 'closed' && this.#failures >= this.#threshold)) {
      this.#state = 'open'
      this.#openedAt = monotonicNow()
      this.#emit('store.circuit_open', {
        store: this.#store,
        failures: this.#failures,
        coolDownMs: this.#coolDownMs,
      })
    }
  }
}

/**
 * The listeners of one store's events (`store.onEvent`); a listener that throws is ignored, so
 * it changes no outcome of the store.
 *
 * @example
 * ```ts
 * const events = new StoreEventHub()
 * const stop = events.on((event, data) => console.log(event, data))
 * ```
 */
export class StoreEventHub {
  readonly #listeners = new Set<StoreEventListener>()

  on(listener: StoreEventListener): () => void {
    if (typeof listener !== 'function') throw new TypeError('listener: expected a function')
    this.#listeners.add(listener)
    return () => {
      this.#listeners.delete(listener)
    }
  }

  readonly emit: StoreEventListener = (event, data) => {
    for (const listener of this.#listeners) {
      try {
        listener(event, data)
      } catch {
        // A listener's fault is its own; AuthX's forwarding listener reports its own listeners'.
      }
    }
  }
}
