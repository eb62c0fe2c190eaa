/**
 * Stateless DPoP server nonces (RFC 9449 sections 8 and 9): the nonce of a time step is the HMAC
 * of the step under a secret, so every instance holding the secret issues and accepts the same
 * nonces without sharing any state.
 * @module
 */
import { encodeBase64url } from '../base64url.js'

/**
 * Issues and checks the nonces of one secret. Time is cut into steps of `lifetime` seconds; the
 * nonce of the current step is issued, and the nonces of the current and the previous step are
 * accepted, so a nonce stays valid for at least `lifetime` and at most twice that.
 *
 * @example
 * ```ts
 * const nonces = new DPoPNonces(secretBytes, 300, Date.now)
 * const nonce = await nonces.current()
 * await nonces.accepts(nonce) // true
 * ```
 */
export class DPoPNonces {
  readonly #secret: Uint8Array
  readonly #stepMs: number
  readonly #clock: () => number
  #key: Promise<CryptoKey> | undefined
  /** The nonces of the last steps asked for: at most a few HMACs per step, not one per request. */
  readonly #byStep = new Map<number, Promise<string>>()

  constructor(secret: Uint8Array, lifetimeSeconds: number, clock: () => number) {
    this.#secret = secret
    this.#stepMs = lifetimeSeconds * 1000
    this.#clock = clock
  }

  /** The nonce to hand out now (`DPoP-Nonce`). */
  current(): Promise<string> {
    return this.#nonce(this.#step())
  }

  /** Whether a proof's `nonce` claim is the nonce of the current or the previous step. */
  async accepts(nonce: unknown): Promise<boolean> {
    if (typeof nonce !== 'string') return false
    const step = this.#step()
    return nonce === (await this.#nonce(step)) || nonce === (await this.#nonce(step - 1))
  }

  #step(): number {
    return Math.floor(this.#clock() / this.#stepMs)
  }

  #nonce(step: number): Promise<string> {
    let nonce = this.#byStep.get(step)
    if (nonce === undefined) {
      nonce = this.#sign(step)
      // A failed HMAC is not remembered: the next request tries again.
      nonce.catch(() => this.#byStep.delete(step))
      this.#byStep.set(step, nonce)
      if (this.#byStep.size > 3) this.#byStep.delete(Math.min(...this.#byStep.keys()))
    }
    return nonce
  }

  async #sign(step: number): Promise<string> {
    this.#key ??= crypto.subtle.importKey(
      'raw',
      this.#secret as Uint8Array<ArrayBuffer>,
      { name: 'HMAC', hash: 'SHA-256' },
      false,
      ['sign'],
    )
    const mac = await crypto.subtle.sign(
      'HMAC',
      await this.#key,
      new TextEncoder().encode(`authx-dpop-nonce:${step}`),
    )
    return encodeBase64url(new Uint8Array(mac))
  }
}
