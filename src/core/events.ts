/**
 * The audit trail (docs/rotation.md): `auth.on(event, listener)`. Events never carry a token
 * string; a listener that throws is reported and changes no outcome.
 * @module
 */
import { emitWarning } from './runtime.js'
import type { StoreEvents } from './store.js'

/** Every event and its data; the store's own events (circuit breaker, mirror) included. */
export interface AuthXEvents extends StoreEvents {
  'token.created': { type: 'access' | 'refresh'; sub: string; jti: string; fid?: string }
  'token.refreshed': { sub: string; fid: string; oldJti: string; newJti: string }
  'token.reused': { sub: string; fid: string; jti: string }
  'token.revoked': { sub: string; jti: string }
  'family.revoked': { fid: string }
  'subject.revoked': { sub: string }
  'verify.failed': { code: string; reason?: string; location?: string }
  /** A policy condition threw or timed out; the request was denied (docs/policies.md). */
  'policy.error': { action: string; resource: string; sub: string; error: string }
  /** A session ended (docs/sessions.md); `sub` is `null` when its record was already gone. */
  'session.revoked': { sid: string; sub: string | null }
  /** A rate limiter's store could not answer and the limiter lets requests through (`onStoreError: 'open'`). */
  'ratelimit.store_error': { name: string; error: string }
}

/** An event name. */
export type AuthXEventName = keyof AuthXEvents

/** A listener of one event. */
export type AuthXListener<E extends AuthXEventName> = (data: AuthXEvents[E]) => void

/**
 * A minimal typed emitter; `emit` is a no-op check when nobody listens.
 *
 * @example
 * ```ts
 * const events = new Emitter()
 * events.on('token.created', (e) => console.log(e.jti))
 * ```
 */
export class Emitter {
  readonly #listeners = new Map<string, Set<(data: never) => void>>()

  on<E extends AuthXEventName>(event: E, listener: AuthXListener<E>): void {
    if (typeof listener !== 'function') throw new TypeError('listener: expected a function')
    let set = this.#listeners.get(event)
    if (set === undefined) {
      set = new Set()
      this.#listeners.set(event, set)
    }
    set.add(listener as (data: never) => void)
  }

  off<E extends AuthXEventName>(event: E, listener: AuthXListener<E>): void {
    this.#listeners.get(event)?.delete(listener as (data: never) => void)
  }

  has(event: AuthXEventName): boolean {
    return (this.#listeners.get(event)?.size ?? 0) > 0
  }

  emit<E extends AuthXEventName>(event: E, data: AuthXEvents[E]): void {
    const set = this.#listeners.get(event)
    if (set === undefined) return
    for (const listener of set) {
      try {
        const result: unknown = (listener as AuthXListener<E>)(data)
        // An async listener (an audit write while the database is down) rejects later: report
        // it the same way, never as an unhandled rejection that would end the process.
        if (typeof (result as Promise<unknown> | undefined)?.then === 'function') {
          ;(result as Promise<unknown>).then(undefined, (err: unknown) => report(event, err))
        }
      } catch (err) {
        report(event, err)
      }
    }
  }
}

function report(event: string, err: unknown): void {
  emitWarning(
    `authx: a '${event}' listener threw: ${err instanceof Error ? err.message : String(err)}`,
    'AUTHX_LISTENER_ERROR',
  )
}
