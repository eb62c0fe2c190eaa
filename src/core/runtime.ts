/**
 * Run-time detection of Node's crypto module without importing a Node-only module at top level,
 * so the core still loads on Web-standard runtimes (docs/getting-started.md).
 * @module
 */
import type * as NodeCryptoModule from 'node:crypto'

/** Node's `node:crypto` module type. */
export type NodeCrypto = typeof NodeCryptoModule

interface ProcessLike {
  getBuiltinModule?: (id: string) => unknown
  env?: Record<string, string | undefined>
  emitWarning?: (warning: string, options?: { code?: string; type?: string }) => void
}

/** `globalThis.process` when the runtime has one. */
export function processLike(): ProcessLike | undefined {
  return (globalThis as { process?: ProcessLike }).process
}

let cached: NodeCrypto | null | undefined

/**
 * `node:crypto` when running on Node (or a runtime that offers `process.getBuiltinModule`),
 * otherwise `undefined`.
 *
 * @example
 * ```ts
 * const crypto = nodeCrypto()
 * if (crypto) crypto.createHmac('sha256', key)
 * ```
 */
export function nodeCrypto(): NodeCrypto | undefined {
  if (cached === undefined) {
    try {
      cached = (processLike()?.getBuiltinModule?.('node:crypto') as NodeCrypto | undefined) ?? null
    } catch {
      cached = null
    }
  }
  return cached ?? undefined
}

/**
 * Emits a process warning where the runtime supports it; a no-op elsewhere.
 *
 * @example
 * ```ts
 * emitWarning('MemoryStore loses revocations on restart', 'AUTHX_MEMORY_STORE')
 * ```
 */
export function emitWarning(message: string, code: string): void {
  const proc = processLike()
  if (typeof proc?.emitWarning === 'function') proc.emitWarning(message, { code, type: 'AuthXWarning' })
  else console.warn(`[${code}] ${message}`)
}
