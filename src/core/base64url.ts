/**
 * Strict base64url (RFC 4648 section 5, no padding) as JWS requires (RFC 7515 section 2).
 * The platform decoders are lenient: Node's `Buffer.from(s, 'base64url')` skips foreign
 * characters and ignores the unused low bits of the last character, so several strings decode to
 * one token (malleability). So the input is checked here first (alphabet, length, last
 * character); then Node's native decoder does the work where it exists, and a hand-written one
 * everywhere else. Both give the same answer for every string (test/base64url-engines.test.ts).
 * @module
 */

interface BufferLike {
  from(
    input: string,
    encoding: 'base64url' | 'utf8',
  ): Uint8Array & { toString(encoding: 'base64url'): string }
}
/** Node's (and Bun's, Deno's) `Buffer`, when the runtime has one. */
const NativeBuffer = (globalThis as { Buffer?: BufferLike }).Buffer
const CANONICAL_CHARACTERS = /^[A-Za-z0-9_-]*$/

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'
const DECODE = new Int16Array(128).fill(-1)
for (let i = 0; i < ALPHABET.length; i++) DECODE[ALPHABET.charCodeAt(i)] = i

/**
 * Decodes canonical base64url, or returns `undefined` for anything else: padding, characters
 * outside the alphabet, an impossible length, or unused low bits set in the last character.
 *
 * @example
 * ```ts
 * decodeBase64url('eyJhIjoxfQ') // bytes of '{"a":1}'
 * decodeBase64url('eyJhIjoxfR') // undefined (non-canonical)
 * ```
 */
export function decodeBase64url(input: string): Uint8Array | undefined {
  return NativeBuffer === undefined
    ? decodeBase64urlPortable(input)
    : decodeBase64urlNative(input, NativeBuffer)
}

/**
 * `decodeBase64url` on a native decoder: the checks of the portable decoder, then `Buffer`.
 *
 * @example
 * ```ts
 * decodeBase64urlNative('eyJhIjoxfQ', Buffer) // bytes of '{"a":1}'
 * ```
 */
export function decodeBase64urlNative(input: string, buffer: BufferLike): Uint8Array | undefined {
  const tail = input.length % 4
  if (tail === 1 || !CANONICAL_CHARACTERS.test(input)) return undefined
  // The unused low bits of the last character must be zero (RFC 4648 section 3.5).
  if (tail !== 0) {
    const last = DECODE[input.charCodeAt(input.length - 1)] as number
    if ((last & (tail === 2 ? 0x0f : 0x03)) !== 0) return undefined
  }
  return buffer.from(input, 'base64url')
}

/**
 * `decodeBase64url` written out in JavaScript, for runtimes without `Buffer`.
 *
 * @example
 * ```ts
 * decodeBase64urlPortable('eyJhIjoxfQ') // bytes of '{"a":1}'
 * ```
 */
export function decodeBase64urlPortable(input: string): Uint8Array | undefined {
  const length = input.length
  const tail = length % 4
  if (tail === 1) return undefined
  const out = new Uint8Array(((length * 3) >> 2) | 0)
  let o = 0
  let i = 0
  const full = length - tail
  for (; i < full; i += 4) {
    const a = sextet(input, i)
    const b = sextet(input, i + 1)
    const c = sextet(input, i + 2)
    const d = sextet(input, i + 3)
    if ((a | b | c | d) < 0) return undefined
    const n = (a << 18) | (b << 12) | (c << 6) | d
    out[o++] = n >> 16
    out[o++] = (n >> 8) & 0xff
    out[o++] = n & 0xff
  }
  if (tail === 2) {
    const a = sextet(input, i)
    const b = sextet(input, i + 1)
    if ((a | b) < 0 || (b & 0x0f) !== 0) return undefined
    out[o++] = (a << 2) | (b >> 4)
  } else if (tail === 3) {
    const a = sextet(input, i)
    const b = sextet(input, i + 1)
    const c = sextet(input, i + 2)
    if ((a | b | c) < 0 || (c & 0x03) !== 0) return undefined
    const n = (a << 10) | (b << 4) | (c >> 2)
    out[o++] = n >> 8
    out[o++] = n & 0xff
  }
  return out
}

function sextet(input: string, index: number): number {
  const code = input.charCodeAt(index)
  return code < 128 ? (DECODE[code] as number) : -1
}

/**
 * Encodes bytes as base64url without padding.
 *
 * @example
 * ```ts
 * encodeBase64url(new TextEncoder().encode('{"a":1}')) // 'eyJhIjoxfQ'
 * ```
 */
export function encodeBase64url(bytes: Uint8Array): string {
  let out = ''
  const length = bytes.length
  const full = length - (length % 3)
  let i = 0
  for (; i < full; i += 3) {
    const n = ((bytes[i] as number) << 16) | ((bytes[i + 1] as number) << 8) | (bytes[i + 2] as number)
    out += ALPHABET[n >> 18]! + ALPHABET[(n >> 12) & 63]! + ALPHABET[(n >> 6) & 63]! + ALPHABET[n & 63]!
  }
  if (length - full === 1) {
    const n = (bytes[i] as number) << 16
    out += ALPHABET[n >> 18]! + ALPHABET[(n >> 12) & 63]!
  } else if (length - full === 2) {
    const n = ((bytes[i] as number) << 16) | ((bytes[i + 1] as number) << 8)
    out += ALPHABET[n >> 18]! + ALPHABET[(n >> 12) & 63]! + ALPHABET[(n >> 6) & 63]!
  }
  return out
}

const encoder = new TextEncoder()

/**
 * Encodes a string's UTF-8 bytes as base64url.
 *
 * @example
 * ```ts
 * encodeBase64urlString('{"alg":"HS256"}')
 * ```
 */
export function encodeBase64urlString(text: string): string {
  // Node's encoder writes exactly RFC 4648 section 5 without padding, as the portable one does.
  return NativeBuffer === undefined
    ? encodeBase64url(encoder.encode(text))
    : NativeBuffer.from(text, 'utf8').toString('base64url')
}
